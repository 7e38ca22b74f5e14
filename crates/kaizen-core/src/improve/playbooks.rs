//! Playbooks: which knob adjustments answer which rule, and how an adjustment is computed from
//! the **current** value in the org document, clamped to the knob's bounds.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::knobs::{Knob, KnobError, KnobKind, KnobRegistry};
use crate::org::standard::{
    CENTRALIZED_VERIFICATION, DEDUPLICATION, DEFAULT_TIER, MAX_TEAM_SIZE, PER_TASK_LIMIT_USD,
    STRAGGLER_TIMEOUT_SECONDS, WORK_STEALING,
};
use crate::org::{OrgChange, SettingValue, Settings};
use crate::rules::BUILTIN_RULE_NAMES;

/// How an adjustment changes a knob. Serialised externally tagged: `enable`,
/// `{step_down: 1}`, `{scale_by: 0.8}`, `{set: medium}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustOp {
    /// Int: subtract n. Choice: move n places towards the first choice.
    StepDown(u32),
    /// Int: add n. Choice: move n places towards the last choice.
    StepUp(u32),
    /// Float or int: multiply by a positive factor other than 1 (ints are rounded).
    ScaleBy(f64),
    /// Float or int: add a non-zero amount (ints are rounded).
    Add(f64),
    /// Any kind: set this value (which must be within the knob's bounds or choices).
    Set(SettingValue),
    /// Bool: set to `true`.
    Enable,
    /// Bool: set to `false`.
    Disable,
}

impl fmt::Display for AdjustOp {
    /// `step down 1`, `scale by 0.8`, `add -5.0`, `set to "medium"`, `enable`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdjustOp::StepDown(n) => write!(f, "step down {n}"),
            AdjustOp::StepUp(n) => write!(f, "step up {n}"),
            AdjustOp::ScaleBy(x) => write!(f, "scale by {x:?}"),
            AdjustOp::Add(x) => write!(f, "add {x:?}"),
            AdjustOp::Set(v) => write!(f, "set to {v}"),
            AdjustOp::Enable => f.write_str("enable"),
            AdjustOp::Disable => f.write_str("disable"),
        }
    }
}

/// One knob adjustment of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// The knob's settings path.
    pub knob: String,
    /// What to do to it.
    pub op: AdjustOp,
}

impl fmt::Display for Adjustment {
    /// `models.default_tier: step down 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.knob, self.op)
    }
}

/// The result of computing an adjustment against the current settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    /// The change to make: a [`OrgChange::SetSetting`] whose `from` is the current value.
    Change(OrgChange),
    /// The knob is already at the bound the adjustment moves towards (or beyond it).
    AtBound {
        /// For a person, e.g. `models.default_tier is already "small", the lowest choice`.
        reason: String,
    },
    /// The adjustment would leave the value as it is (a `set` to the current value, an int
    /// scaled by too little to change after rounding).
    NoOp {
        /// For a person.
        reason: String,
    },
}

impl Computed {
    /// The change, if there is one.
    pub fn change(&self) -> Option<&OrgChange> {
        match self {
            Computed::Change(c) => Some(c),
            _ => None,
        }
    }

    /// Why there is no change, if there is none.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Computed::Change(_) => None,
            Computed::AtBound { reason } | Computed::NoOp { reason } => Some(reason),
        }
    }
}

/// Which way a numeric or ordered adjustment moves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    Down,
    Up,
}

/// Float results are rounded to this many decimal places (`2.0 × 0.8` is `1.6`, not
/// `1.6000000000000001`).
const FLOAT_DECIMALS: i32 = 6;

fn round_float(x: f64) -> f64 {
    let scale = 10f64.powi(FLOAT_DECIMALS);
    (x * scale).round() / scale
}

/// Converts a rounded float to an int, saturating (NaN cannot occur: inputs are finite).
#[allow(clippy::cast_possible_truncation)]
fn to_int(x: f64) -> i64 {
    x.round() as i64
}

#[allow(clippy::cast_precision_loss)]
fn to_float(i: i64) -> f64 {
    i as f64
}

impl Adjustment {
    /// An adjustment of `knob`.
    pub fn new(knob: &str, op: AdjustOp) -> Self {
        Self {
            knob: knob.to_owned(),
            op,
        }
    }

    /// Checks that the operation fits `knob` without looking at any current value: the kind
    /// supports it, steps are at least 1, factors are finite, positive and not 1, amounts are
    /// finite and non-zero, a `set` value has the knob's type and lies within its bounds.
    pub fn check(&self, knob: &Knob) -> Result<(), KnobError> {
        let invalid = |reason: String| KnobError::InvalidAdjustment {
            path: self.knob.clone(),
            reason,
        };
        if knob.path != self.knob {
            return Err(invalid(format!(
                "computed against knob {:?} instead of its own",
                knob.path
            )));
        }
        let unsupported = || {
            invalid(format!(
                "`{}` does not apply to a {} knob ({})",
                self.op,
                knob.kind.name(),
                knob.kind
            ))
        };
        match (&knob.kind, &self.op) {
            (
                KnobKind::Int { .. } | KnobKind::Choice { .. },
                AdjustOp::StepDown(n) | AdjustOp::StepUp(n),
            ) => {
                if *n == 0 {
                    return Err(invalid("a step of 0 changes nothing".to_owned()));
                }
            }
            (KnobKind::Float { .. } | KnobKind::Int { .. }, AdjustOp::ScaleBy(x)) => {
                if !x.is_finite() || *x <= 0.0 || *x == 1.0 {
                    return Err(invalid(format!(
                        "the scale factor must be a positive number other than 1, found {x}"
                    )));
                }
            }
            (KnobKind::Float { .. } | KnobKind::Int { .. }, AdjustOp::Add(x)) => {
                if !x.is_finite() || *x == 0.0 {
                    return Err(invalid(format!(
                        "the amount must be a non-zero number, found {x}"
                    )));
                }
            }
            (KnobKind::Float { min, max }, AdjustOp::Set(v)) => {
                let x = match v {
                    SettingValue::Float(x) => *x,
                    SettingValue::Integer(i) => to_float(*i),
                    _ => return Err(unsupported()),
                };
                if !(x.is_finite() && *min <= x && x <= *max) {
                    return Err(invalid(format!("{v} is outside [{min:?}, {max:?}]")));
                }
            }
            (KnobKind::Int { min, max }, AdjustOp::Set(v)) => match v {
                SettingValue::Integer(i) if min <= i && i <= max => {}
                SettingValue::Integer(i) => {
                    return Err(invalid(format!("{i} is outside [{min}, {max}]")));
                }
                _ => return Err(unsupported()),
            },
            (KnobKind::Bool, AdjustOp::Set(SettingValue::Bool(_)))
            | (KnobKind::Bool, AdjustOp::Enable | AdjustOp::Disable) => {}
            (KnobKind::Choice { values }, AdjustOp::Set(v)) => match v {
                SettingValue::String(s) if values.contains(s) => {}
                SettingValue::String(s) => {
                    return Err(invalid(format!(
                        "{s:?} is not one of {}",
                        values.join(", ")
                    )));
                }
                _ => return Err(unsupported()),
            },
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// Like [`Adjustment::compute`], looking the knob up in `registry`
    /// ([`KnobError::UnknownKnob`] when it is not there).
    pub fn compute_in(
        &self,
        settings: &Settings,
        registry: &KnobRegistry,
    ) -> Result<Computed, KnobError> {
        self.compute(settings, registry.require(&self.knob)?)
    }

    /// Computes the change from the **current** value of the knob in `settings`, clamped to
    /// the knob's bounds.
    ///
    /// * [`Computed::Change`]: a `SetSetting` from the current value to the new one.
    /// * [`Computed::AtBound`]: the value is already at (or past) the bound the adjustment
    ///   moves towards, e.g. stepping `small` down, enabling what is enabled. Clamping never
    ///   moves a value the opposite way: scaling down a value already below the minimum is
    ///   `AtBound`, not a raise to the minimum.
    /// * [`Computed::NoOp`]: the new value equals the current one.
    ///
    /// Errors: the adjustment does not fit the knob ([`Adjustment::check`]), the setting is
    /// missing, or its value has another type (a float knob also reads an integer value; a
    /// choice knob's value must be one of its choices).
    pub fn compute(&self, settings: &Settings, knob: &Knob) -> Result<Computed, KnobError> {
        self.check(knob)?;
        let path = &self.knob;
        let current = settings
            .get(path)
            .ok_or_else(|| KnobError::MissingSetting { path: path.clone() })?;
        let mismatch = || KnobError::TypeMismatch {
            path: path.clone(),
            expected: knob.kind.to_string(),
            found: format!("{} {current}", current.kind()),
        };
        let change = |to: SettingValue| {
            Computed::Change(OrgChange::SetSetting {
                path: path.clone(),
                from: Some(current.clone()),
                to: Some(to),
            })
        };
        let no_op = || Computed::NoOp {
            reason: format!("{path} is already {current}; `{}` changes nothing", self.op),
        };
        match &knob.kind {
            KnobKind::Float { min, max } => {
                let cur = match current {
                    SettingValue::Float(x) => *x,
                    SettingValue::Integer(i) => to_float(*i),
                    _ => return Err(mismatch()),
                };
                let (raw, dir) = match &self.op {
                    AdjustOp::ScaleBy(f) => (cur * f, None),
                    AdjustOp::Add(d) => (cur + d, None),
                    AdjustOp::Set(v) => match v {
                        SettingValue::Float(x) => (*x, Some(None)),
                        SettingValue::Integer(i) => (to_float(*i), Some(None)),
                        _ => return Err(mismatch()),
                    },
                    _ => return Err(mismatch()),
                };
                let dir = match dir {
                    Some(d) => d,
                    None if raw < cur => Some(Direction::Down),
                    None if raw > cur => Some(Direction::Up),
                    None => return Ok(no_op()),
                };
                if let Some(r) = at_bound(path, current, dir, cur <= *min, cur >= *max, min, max) {
                    return Ok(r);
                }
                let new = round_float(raw).clamp(*min, *max);
                if new == cur {
                    return Ok(no_op());
                }
                Ok(change(SettingValue::Float(new)))
            }
            KnobKind::Int { min, max } => {
                let SettingValue::Integer(cur) = current else {
                    return Err(mismatch());
                };
                let cur = *cur;
                let (raw, set) = match &self.op {
                    AdjustOp::StepDown(n) => (cur.saturating_sub(i64::from(*n)), false),
                    AdjustOp::StepUp(n) => (cur.saturating_add(i64::from(*n)), false),
                    AdjustOp::ScaleBy(f) => (to_int(to_float(cur) * f), false),
                    AdjustOp::Add(d) => (to_int(to_float(cur) + d), false),
                    AdjustOp::Set(SettingValue::Integer(v)) => (*v, true),
                    _ => return Err(mismatch()),
                };
                let dir = if set {
                    None
                } else if raw < cur
                    || matches!(self.op, AdjustOp::StepDown(_))
                    || matches!(self.op, AdjustOp::ScaleBy(f) if f < 1.0)
                    || matches!(self.op, AdjustOp::Add(d) if d < 0.0)
                {
                    Some(Direction::Down)
                } else {
                    Some(Direction::Up)
                };
                if let Some(r) = at_bound(path, current, dir, cur <= *min, cur >= *max, min, max) {
                    return Ok(r);
                }
                let new = raw.clamp(*min, *max);
                if new == cur {
                    return Ok(no_op());
                }
                Ok(change(SettingValue::Integer(new)))
            }
            KnobKind::Bool => {
                let SettingValue::Bool(cur) = current else {
                    return Err(mismatch());
                };
                let new = match &self.op {
                    AdjustOp::Enable => true,
                    AdjustOp::Disable => false,
                    AdjustOp::Set(SettingValue::Bool(b)) => *b,
                    _ => return Err(mismatch()),
                };
                if new == *cur {
                    if matches!(self.op, AdjustOp::Set(_)) {
                        return Ok(no_op());
                    }
                    let state = if new { "enabled" } else { "disabled" };
                    return Ok(Computed::AtBound {
                        reason: format!("{path} is already {state}"),
                    });
                }
                Ok(change(SettingValue::Bool(new)))
            }
            KnobKind::Choice { values } => {
                let SettingValue::String(cur) = current else {
                    return Err(mismatch());
                };
                let idx = values.iter().position(|v| v == cur).ok_or_else(mismatch)?;
                let last = values.len() - 1;
                let order = values.join(" < ");
                let new = match &self.op {
                    AdjustOp::StepDown(n) => {
                        if idx == 0 {
                            return Ok(Computed::AtBound {
                                reason: format!(
                                    "{path} is already {current}, the lowest of {order}"
                                ),
                            });
                        }
                        idx.saturating_sub(usize::try_from(*n).unwrap_or(usize::MAX))
                    }
                    AdjustOp::StepUp(n) => {
                        if idx == last {
                            return Ok(Computed::AtBound {
                                reason: format!(
                                    "{path} is already {current}, the highest of {order}"
                                ),
                            });
                        }
                        idx.saturating_add(usize::try_from(*n).unwrap_or(usize::MAX))
                            .min(last)
                    }
                    AdjustOp::Set(SettingValue::String(s)) => {
                        values.iter().position(|v| v == s).ok_or_else(mismatch)?
                    }
                    _ => return Err(mismatch()),
                };
                if new == idx {
                    return Ok(no_op());
                }
                let value = values.get(new).cloned().ok_or_else(mismatch)?;
                Ok(change(SettingValue::String(value)))
            }
        }
    }
}

/// `AtBound` when the value already sits at (or beyond) the bound the adjustment moves
/// towards; `None` otherwise (and for `set`, which has no direction).
fn at_bound<T: fmt::Debug>(
    path: &str,
    current: &SettingValue,
    dir: Option<Direction>,
    at_min: bool,
    at_max: bool,
    min: &T,
    max: &T,
) -> Option<Computed> {
    match dir {
        Some(Direction::Down) if at_min => Some(Computed::AtBound {
            reason: format!("{path} is already {current}, at or below its minimum {min:?}"),
        }),
        Some(Direction::Up) if at_max => Some(Computed::AtBound {
            reason: format!("{path} is already {current}, at or above its maximum {max:?}"),
        }),
        _ => None,
    }
}

/// The adjustments that answer one rule, in order of preference: a strategy uses the first
/// that yields a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// The rule's name (built-in or custom).
    pub rule: String,
    /// Adjustments, most preferred first.
    pub alternatives: Vec<Adjustment>,
}

/// A problem of a playbook set, found by [`Playbooks::validate`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaybookError {
    /// The rule is neither built-in nor a declared custom rule.
    #[error("playbook for {rule:?}: no built-in or custom rule has that name")]
    UnknownRule {
        /// The rule name.
        rule: String,
    },
    /// Two playbooks for one rule.
    #[error("playbook for {rule:?} is declared twice")]
    DuplicateRule {
        /// The rule name.
        rule: String,
    },
    /// A playbook without adjustments.
    #[error("playbook for {rule:?} has no adjustments")]
    Empty {
        /// The rule name.
        rule: String,
    },
    /// An adjustment names an unknown knob or does not fit its knob.
    #[error("playbook for {rule:?}: {error}")]
    Adjustment {
        /// The rule name.
        rule: String,
        /// What is wrong.
        error: KnobError,
    },
}

/// The playbooks, one per rule at most, in declaration order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Playbooks(pub Vec<Playbook>);

impl Playbooks {
    /// The playbook for `rule`, if any.
    pub fn for_rule(&self, rule: &str) -> Option<&Playbook> {
        self.0.iter().find(|p| p.rule == rule)
    }

    /// Checks every playbook against `registry` and the rule names (the built-in ones plus
    /// `custom_rules`); reports every problem, in declaration order.
    pub fn validate(
        &self,
        registry: &KnobRegistry,
        custom_rules: &[String],
    ) -> Result<(), Vec<PlaybookError>> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for p in &self.0 {
            let known =
                BUILTIN_RULE_NAMES.contains(&p.rule.as_str()) || custom_rules.contains(&p.rule);
            if !known {
                errors.push(PlaybookError::UnknownRule {
                    rule: p.rule.clone(),
                });
            }
            if !seen.insert(p.rule.as_str()) {
                errors.push(PlaybookError::DuplicateRule {
                    rule: p.rule.clone(),
                });
            }
            if p.alternatives.is_empty() {
                errors.push(PlaybookError::Empty {
                    rule: p.rule.clone(),
                });
            }
            for a in &p.alternatives {
                if let Err(error) = registry.require(&a.knob).and_then(|k| a.check(k)) {
                    errors.push(PlaybookError::Adjustment {
                        rule: p.rule.clone(),
                        error,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The playbooks for [`KnobRegistry::standard`]:
    ///
    /// | rule | alternatives, most preferred first |
    /// |---|---|
    /// | `budget_overrun` | `models.default_tier` step down 1; `budget.per_task_limit_usd` × 0.8 |
    /// | `coordination_overhead` | `coordination.max_team_size` − 1 |
    /// | `coordination_cost_ratio` | `coordination.max_team_size` − 1; enable `coordination.deduplication` |
    /// | `straggler_bottleneck` | enable `coordination.work_stealing`; `coordination.straggler_timeout_seconds` × 0.75 |
    /// | `redundancy` | enable `coordination.deduplication` |
    /// | `error_spike` | enable `verification.centralized` |
    /// | `success_rate_drop` | enable `verification.centralized`; `models.default_tier` step up 1 |
    /// | `quality_declining` | `models.default_tier` step up 1; enable `verification.centralized` |
    ///
    /// `scaling_failure` has none: no standard setting governs scaling decisions, and a
    /// guessed one would repeat the original implementation's defect (fixed old → new values
    /// for settings it assumed existed). `benchmark_regression` does not
    /// suggest config tuning.
    pub fn standard() -> Self {
        let pb = |rule: &str, alternatives: Vec<Adjustment>| Playbook {
            rule: rule.to_owned(),
            alternatives,
        };
        let a = Adjustment::new;
        Playbooks(vec![
            pb(
                "budget_overrun",
                vec![
                    a(DEFAULT_TIER, AdjustOp::StepDown(1)),
                    a(PER_TASK_LIMIT_USD, AdjustOp::ScaleBy(0.8)),
                ],
            ),
            pb(
                "coordination_overhead",
                vec![a(MAX_TEAM_SIZE, AdjustOp::StepDown(1))],
            ),
            pb(
                "coordination_cost_ratio",
                vec![
                    a(MAX_TEAM_SIZE, AdjustOp::StepDown(1)),
                    a(DEDUPLICATION, AdjustOp::Enable),
                ],
            ),
            pb(
                "straggler_bottleneck",
                vec![
                    a(WORK_STEALING, AdjustOp::Enable),
                    a(STRAGGLER_TIMEOUT_SECONDS, AdjustOp::ScaleBy(0.75)),
                ],
            ),
            pb("redundancy", vec![a(DEDUPLICATION, AdjustOp::Enable)]),
            pb(
                "error_spike",
                vec![a(CENTRALIZED_VERIFICATION, AdjustOp::Enable)],
            ),
            pb(
                "success_rate_drop",
                vec![
                    a(CENTRALIZED_VERIFICATION, AdjustOp::Enable),
                    a(DEFAULT_TIER, AdjustOp::StepUp(1)),
                ],
            ),
            pb(
                "quality_declining",
                vec![
                    a(DEFAULT_TIER, AdjustOp::StepUp(1)),
                    a(CENTRALIZED_VERIFICATION, AdjustOp::Enable),
                ],
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::org::OrgDocument;

    fn settings(path: &str, v: SettingValue) -> Settings {
        let mut s = Settings::default();
        if let Err(e) = s.set(path, Some(v)) {
            panic!("{e}");
        }
        s
    }

    fn float_knob() -> Knob {
        Knob::new(
            "f",
            KnobKind::Float {
                min: 0.5,
                max: 10.0,
            },
            "float",
        )
    }

    fn int_knob() -> Knob {
        Knob::new("i", KnobKind::Int { min: 1, max: 10 }, "int")
    }

    fn bool_knob() -> Knob {
        Knob::new("b", KnobKind::Bool, "bool")
    }

    fn choice_knob() -> Knob {
        Knob::new(
            "c",
            KnobKind::Choice {
                values: vec!["small".into(), "medium".into(), "large".into()],
            },
            "choice",
        )
    }

    /// Computes `op` on `knob` with the setting at `value`.
    fn run(knob: &Knob, value: SettingValue, op: AdjustOp) -> Result<Computed, KnobError> {
        Adjustment::new(&knob.path, op).compute(&settings(&knob.path, value), knob)
    }

    /// The new value of a computed change, failing otherwise.
    fn to(r: Result<Computed, KnobError>) -> SettingValue {
        match r {
            Ok(Computed::Change(OrgChange::SetSetting { to: Some(v), .. })) => v,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn at_bound(r: Result<Computed, KnobError>) -> String {
        match r {
            Ok(Computed::AtBound { reason }) => reason,
            other => panic!("expected at bound, got {other:?}"),
        }
    }

    fn no_op(r: Result<Computed, KnobError>) -> String {
        match r {
            Ok(Computed::NoOp { reason }) => reason,
            other => panic!("expected no-op, got {other:?}"),
        }
    }

    #[test]
    fn float_ops_clamp_and_stop_at_bounds() {
        let k = float_knob();
        use SettingValue::{Float, Integer};
        assert_eq!(to(run(&k, Float(2.0), AdjustOp::ScaleBy(0.8))), Float(1.6));
        assert_eq!(to(run(&k, Float(0.6), AdjustOp::ScaleBy(0.5))), Float(0.5));
        assert_eq!(to(run(&k, Float(9.0), AdjustOp::ScaleBy(2.0))), Float(10.0));
        assert_eq!(to(run(&k, Float(2.0), AdjustOp::Add(-1.75))), Float(0.5));
        assert_eq!(to(run(&k, Float(2.0), AdjustOp::Add(0.25))), Float(2.25));
        assert_eq!(
            to(run(&k, Float(2.0), AdjustOp::Set(Float(3.0)))),
            Float(3.0)
        );
        // An integer value is read as a number; the change keeps the exact `from`.
        assert_eq!(
            run(&k, Integer(2), AdjustOp::ScaleBy(0.5)),
            Ok(Computed::Change(OrgChange::SetSetting {
                path: "f".into(),
                from: Some(Integer(2)),
                to: Some(Float(1.0)),
            }))
        );
        let r = at_bound(run(&k, Float(0.5), AdjustOp::ScaleBy(0.8)));
        assert!(r.contains("minimum"), "{r}");
        let r = at_bound(run(&k, Float(10.0), AdjustOp::Add(1.0)));
        assert!(r.contains("maximum"), "{r}");
        // Below the minimum already: scaling down does not raise it to the minimum.
        at_bound(run(&k, Float(0.1), AdjustOp::ScaleBy(0.8)));
        // Above the maximum: scaling down clamps to the maximum (still down).
        assert_eq!(
            to(run(&k, Float(40.0), AdjustOp::ScaleBy(0.5))),
            Float(10.0)
        );
        no_op(run(&k, Float(3.0), AdjustOp::Set(Float(3.0))));
        no_op(run(&k, Float(0.0), AdjustOp::ScaleBy(0.5)));
    }

    #[test]
    fn int_ops_clamp_and_stop_at_bounds() {
        let k = int_knob();
        use SettingValue::Integer;
        assert_eq!(to(run(&k, Integer(5), AdjustOp::StepDown(1))), Integer(4));
        assert_eq!(to(run(&k, Integer(5), AdjustOp::StepUp(2))), Integer(7));
        assert_eq!(to(run(&k, Integer(3), AdjustOp::StepDown(9))), Integer(1));
        assert_eq!(to(run(&k, Integer(9), AdjustOp::StepUp(9))), Integer(10));
        assert_eq!(to(run(&k, Integer(8), AdjustOp::ScaleBy(0.75))), Integer(6));
        assert_eq!(to(run(&k, Integer(8), AdjustOp::Add(-2.4))), Integer(6));
        assert_eq!(
            to(run(&k, Integer(8), AdjustOp::Set(Integer(2)))),
            Integer(2)
        );
        at_bound(run(&k, Integer(1), AdjustOp::StepDown(1)));
        at_bound(run(&k, Integer(10), AdjustOp::StepUp(1)));
        at_bound(run(&k, Integer(1), AdjustOp::ScaleBy(0.5)));
        // 2 × 0.9 rounds back to 2.
        no_op(run(&k, Integer(2), AdjustOp::ScaleBy(0.9)));
        no_op(run(&k, Integer(2), AdjustOp::Set(Integer(2))));
    }

    #[test]
    fn bool_ops_say_when_already_set() {
        let k = bool_knob();
        use SettingValue::Bool;
        assert_eq!(to(run(&k, Bool(false), AdjustOp::Enable)), Bool(true));
        assert_eq!(to(run(&k, Bool(true), AdjustOp::Disable)), Bool(false));
        assert_eq!(
            to(run(&k, Bool(true), AdjustOp::Set(Bool(false)))),
            Bool(false)
        );
        assert_eq!(
            at_bound(run(&k, Bool(true), AdjustOp::Enable)),
            "b is already enabled"
        );
        assert_eq!(
            at_bound(run(&k, Bool(false), AdjustOp::Disable)),
            "b is already disabled"
        );
        no_op(run(&k, Bool(true), AdjustOp::Set(Bool(true))));
    }

    #[test]
    fn choice_ops_move_along_the_order() {
        let k = choice_knob();
        let s = |x: &str| SettingValue::String(x.into());
        assert_eq!(to(run(&k, s("large"), AdjustOp::StepDown(1))), s("medium"));
        assert_eq!(to(run(&k, s("large"), AdjustOp::StepDown(5))), s("small"));
        assert_eq!(to(run(&k, s("small"), AdjustOp::StepUp(1))), s("medium"));
        assert_eq!(to(run(&k, s("small"), AdjustOp::StepUp(7))), s("large"));
        assert_eq!(
            to(run(&k, s("small"), AdjustOp::Set(s("large")))),
            s("large")
        );
        let r = at_bound(run(&k, s("small"), AdjustOp::StepDown(1)));
        assert_eq!(
            r,
            "c is already \"small\", the lowest of small < medium < large"
        );
        at_bound(run(&k, s("large"), AdjustOp::StepUp(1)));
        no_op(run(&k, s("medium"), AdjustOp::Set(s("medium"))));
    }

    #[test]
    fn type_mismatches_are_errors() {
        let cases = [
            (float_knob(), SettingValue::String("x".into())),
            (int_knob(), SettingValue::Float(2.5)),
            (bool_knob(), SettingValue::Integer(1)),
            (choice_knob(), SettingValue::Integer(1)),
            (choice_knob(), SettingValue::String("huge".into())),
        ];
        for (knob, value) in cases {
            let op = match knob.kind {
                KnobKind::Float { .. } => AdjustOp::ScaleBy(0.5),
                KnobKind::Bool => AdjustOp::Enable,
                _ => AdjustOp::StepDown(1),
            };
            let r = run(&knob, value.clone(), op);
            assert!(
                matches!(r, Err(KnobError::TypeMismatch { .. })),
                "{value:?} on {knob:?}: {r:?}"
            );
        }
        let e = run(
            &float_knob(),
            SettingValue::String("x".into()),
            AdjustOp::ScaleBy(0.5),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err(
                "setting f is the string \"x\", but knob \"f\" expects float in [0.5, 10.0]".into()
            )
        );
    }

    #[test]
    fn missing_setting_and_unknown_knob_are_errors() {
        let adj = Adjustment::new("f", AdjustOp::ScaleBy(0.5));
        assert_eq!(
            adj.compute(&Settings::default(), &float_knob()),
            Err(KnobError::MissingSetting { path: "f".into() })
        );
        assert_eq!(
            adj.compute_in(&Settings::default(), &KnobRegistry::standard()),
            Err(KnobError::UnknownKnob { path: "f".into() })
        );
    }

    #[test]
    fn ops_that_do_not_fit_the_knob_are_refused() {
        let bad = [
            (float_knob(), AdjustOp::StepDown(1)),
            (float_knob(), AdjustOp::Enable),
            (float_knob(), AdjustOp::ScaleBy(0.0)),
            (float_knob(), AdjustOp::ScaleBy(1.0)),
            (float_knob(), AdjustOp::ScaleBy(f64::NAN)),
            (float_knob(), AdjustOp::Add(0.0)),
            (float_knob(), AdjustOp::Set(SettingValue::Float(11.0))),
            (int_knob(), AdjustOp::StepUp(0)),
            (int_knob(), AdjustOp::Set(SettingValue::Integer(0))),
            (int_knob(), AdjustOp::Set(SettingValue::Float(2.0))),
            (bool_knob(), AdjustOp::StepUp(1)),
            (bool_knob(), AdjustOp::Set(SettingValue::Integer(1))),
            (choice_knob(), AdjustOp::ScaleBy(0.5)),
            (
                choice_knob(),
                AdjustOp::Set(SettingValue::String("huge".into())),
            ),
        ];
        for (knob, op) in bad {
            let adj = Adjustment::new(&knob.path, op);
            assert!(
                matches!(adj.check(&knob), Err(KnobError::InvalidAdjustment { .. })),
                "{adj} on {} passed",
                knob.kind
            );
        }
        let wrong = Adjustment::new("other", AdjustOp::Enable);
        assert!(wrong.check(&bool_knob()).is_err());
    }

    #[test]
    fn standard_playbooks_are_valid() {
        assert_eq!(
            Playbooks::standard().validate(&KnobRegistry::standard(), &[]),
            Ok(())
        );
        assert!(Playbooks::standard().for_rule("scaling_failure").is_none());
    }

    #[test]
    fn playbook_validation_reports_unknown_knobs_and_rules() {
        let pbs = Playbooks(vec![
            Playbook {
                rule: "budget_overrun".into(),
                alternatives: vec![Adjustment::new("budget.nope", AdjustOp::ScaleBy(0.5))],
            },
            Playbook {
                rule: "my_rule".into(),
                alternatives: vec![Adjustment::new(DEDUPLICATION, AdjustOp::StepUp(1))],
            },
            Playbook {
                rule: "budget_overrun".into(),
                alternatives: vec![],
            },
        ]);
        let Err(errors) = pbs.validate(&KnobRegistry::standard(), &[]) else {
            panic!("invalid playbooks passed");
        };
        assert_eq!(
            errors,
            vec![
                PlaybookError::Adjustment {
                    rule: "budget_overrun".into(),
                    error: KnobError::UnknownKnob {
                        path: "budget.nope".into()
                    },
                },
                PlaybookError::UnknownRule {
                    rule: "my_rule".into()
                },
                PlaybookError::Adjustment {
                    rule: "my_rule".into(),
                    error: KnobError::InvalidAdjustment {
                        path: DEDUPLICATION.into(),
                        reason: "`step up 1` does not apply to a bool knob (bool)".into(),
                    },
                },
                PlaybookError::DuplicateRule {
                    rule: "budget_overrun".into()
                },
                PlaybookError::Empty {
                    rule: "budget_overrun".into()
                },
            ]
        );
        // Declared custom rules are known.
        let custom = Playbooks(vec![Playbook {
            rule: "my_rule".into(),
            alternatives: vec![Adjustment::new(DEDUPLICATION, AdjustOp::Enable)],
        }]);
        assert_eq!(
            custom.validate(&KnobRegistry::standard(), &["my_rule".to_owned()]),
            Ok(())
        );
    }

    #[test]
    fn playbooks_round_trip_through_serde() -> Result<(), serde_json::Error> {
        let pbs = Playbooks::standard();
        let json = serde_json::to_string(&pbs)?;
        assert!(json.contains(r#"{"knob":"models.default_tier","op":{"step_down":1}}"#));
        assert!(json.contains(r#""op":"enable""#));
        assert_eq!(serde_json::from_str::<Playbooks>(&json)?, pbs);
        Ok(())
    }

    /// A random standard-org settings tree with every knob within its bounds.
    fn standard_settings() -> impl Strategy<Value = Settings> {
        (
            0usize..3,
            10u32..=5000,
            1i64..=20,
            any::<bool>(),
            60i64..=7200,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(tier, limit, team, steal, timeout, dedup, central)| {
                let mut s = Settings::default();
                let values: [(&str, SettingValue); 7] = [
                    (DEFAULT_TIER, ["small", "medium", "large"][tier].into()),
                    (PER_TASK_LIMIT_USD, (f64::from(limit) / 100.0).into()),
                    (MAX_TEAM_SIZE, team.into()),
                    (WORK_STEALING, steal.into()),
                    (STRAGGLER_TIMEOUT_SECONDS, timeout.into()),
                    (DEDUPLICATION, dedup.into()),
                    (CENTRALIZED_VERIFICATION, central.into()),
                ];
                for (p, v) in values {
                    if s.set(p, Some(v)).is_err() {
                        unreachable!("standard paths are valid");
                    }
                }
                s
            })
    }

    fn any_op() -> impl Strategy<Value = AdjustOp> {
        prop_oneof![
            (1u32..4).prop_map(AdjustOp::StepDown),
            (1u32..4).prop_map(AdjustOp::StepUp),
            (0.1f64..3.0).prop_map(AdjustOp::ScaleBy),
            (-100.0f64..100.0).prop_map(AdjustOp::Add),
            Just(AdjustOp::Enable),
            Just(AdjustOp::Disable),
        ]
    }

    proptest! {
        /// Every computed change applies to the document, stays within bounds, and its
        /// rollback restores the document exactly.
        #[test]
        fn computed_changes_apply_and_roll_back(
            settings in standard_settings(),
            knob_index in 0usize..7,
            op in any_op(),
        ) {
            let registry = KnobRegistry::standard();
            let Some(knob) = registry.iter().nth(knob_index) else {
                unreachable!("seven knobs");
            };
            let adj = Adjustment::new(&knob.path, op);
            prop_assume!(adj.check(knob).is_ok());
            let mut before = OrgDocument::standard();
            before.settings = settings;
            let computed = adj.compute(&before.settings, knob);
            prop_assert!(computed.is_ok(), "{computed:?}");
            if let Ok(Computed::Change(change)) = computed {
                let after = before.apply(std::slice::from_ref(&change));
                prop_assert!(after.is_ok(), "{after:?}");
                let Ok(after) = after else { unreachable!() };
                if let Some(v) = after.settings.get(&knob.path) {
                    let ok = match (&knob.kind, v) {
                        (KnobKind::Float { min, max }, SettingValue::Float(x)) => min <= x && x <= max,
                        (KnobKind::Int { min, max }, SettingValue::Integer(x)) => min <= x && x <= max,
                        (KnobKind::Bool, SettingValue::Bool(_)) => true,
                        (KnobKind::Choice { values }, SettingValue::String(s)) => values.contains(s),
                        _ => false,
                    };
                    prop_assert!(ok, "{} out of bounds: {v}", knob.path);
                }
                let back = after.apply(&OrgChange::inverse_all(&[change]));
                prop_assert_eq!(back, Ok(before));
            }
        }
    }
}
