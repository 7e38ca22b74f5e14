//! [`ImprovementProposal`]: one concrete, reversible change to the org document, with the
//! evidence behind it, its validated [`RollbackPlan`], a stable id and a confidence.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::altitude::Altitude;
use crate::config::RolloutStrategyKind;
use crate::org::{OrgChange, OrgDocument};
use crate::rollout::check::Metric;
use crate::rules::{ContextValue, RuleMatch, RuleSeverity};

/// How risky a proposal's altitude is to apply (shown to the reviewer).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Config tuning: one bounded value.
    Low,
    /// Prompt tuning and architecture: behaviour and structure.
    Medium,
    /// Code modification.
    High,
}

impl Risk {
    /// Config low, prompt and architecture medium, code high.
    pub fn for_altitude(altitude: Altitude) -> Risk {
        match altitude {
            Altitude::ConfigTuning => Risk::Low,
            Altitude::Architecture | Altitude::PromptTuning => Risk::Medium,
            Altitude::CodeModification => Risk::High,
        }
    }
}

/// The evidence behind a proposal: the rule match that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rationale {
    /// The rule that fired.
    pub rule_name: String,
    /// Its severity.
    pub severity: RuleSeverity,
    /// What the rule found, with the numbers.
    pub description: String,
    /// The signal values that made it fire.
    pub signal_context: BTreeMap<String, ContextValue>,
    /// The threshold it crossed (the context's `threshold`), when it has one.
    pub threshold: Option<ContextValue>,
}

impl Rationale {
    /// The rationale of a proposal answering `m`.
    pub fn from_match(m: &RuleMatch) -> Self {
        Self {
            rule_name: m.rule_name.clone(),
            severity: m.severity,
            description: m.description.clone(),
            signal_context: m.signal_context.clone(),
            threshold: m.signal_context.get("threshold").cloned(),
        }
    }
}

/// The operations that undo a proposal's changes: each change inverted, in reverse order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackPlan {
    /// Applied in order after the proposal's changes, they restore the document.
    pub operations: Vec<OrgChange>,
}

impl RollbackPlan {
    /// The plan that undoes `changes` ([`OrgChange::inverse_all`]).
    pub fn for_changes(changes: &[OrgChange]) -> Self {
        Self {
            operations: OrgChange::inverse_all(changes),
        }
    }

    /// Checks the plan against the document the changes are meant for: it is non-empty, the
    /// changes apply to `before`, the plan applies to the result, and the outcome is exactly
    /// `before` (in canonical order). The error says which step failed.
    pub fn validate(&self, before: &OrgDocument, changes: &[OrgChange]) -> Result<(), String> {
        if self.operations.is_empty() {
            return Err("the rollback plan is empty".to_owned());
        }
        if changes.is_empty() {
            return Err("the proposal has no changes to roll back".to_owned());
        }
        let after = before
            .apply(changes)
            .map_err(|e| format!("the changes do not apply: {e}"))?;
        let restored = after
            .apply(&self.operations)
            .map_err(|e| format!("the rollback plan does not apply after the changes: {e}"))?;
        if restored != before.clone().canonical() {
            return Err(
                "applying the changes and then the rollback plan does not restore the document"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// A concrete, evidence-backed, reversible improvement, waiting for a human decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImprovementProposal {
    /// Stable id ([`proposal_id`]): the same altitude, rule and changes give the same id in
    /// every cycle, which is what de-duplication keys on.
    pub id: String,
    /// The altitude of the changes.
    pub altitude: Altitude,
    /// One line for a person.
    pub title: String,
    /// What changes and why, for a person.
    pub description: String,
    /// The rule match behind it.
    pub rationale: Rationale,
    /// The changes to the org document, applied atomically in order.
    pub changes: Vec<OrgChange>,
    /// How to undo them.
    pub rollback: RollbackPlan,
    /// Other answers the strategy considered, and why they were not chosen.
    pub alternatives: Vec<String>,
    /// How likely the change is to help, 0–1 ([`confidence`]).
    pub confidence: f64,
    /// [`Risk::for_altitude`].
    pub risk: Risk,
    /// Suggested rollout strategy.
    pub rollout: RolloutStrategyKind,
    /// The metric the change is meant to improve (the one its rule fired on; its direction is
    /// the metric's: quality and success up, cost and errors down). The rollout's verdict
    /// wins on it; the other metrics are guardrails. Proposals stored before it existed read
    /// as quality.
    #[serde(default)]
    pub primary_metric: Metric,
    /// Suggested observation window, hours.
    pub observation_window_hours: u32,
    /// The cycle that produced it, when run from one.
    pub source_cycle: Option<String>,
    /// When it was proposed (the strategy context's `now`).
    pub created_at: DateTime<Utc>,
}

impl ImprovementProposal {
    /// Recomputes what derives from the altitude, rule and changes: the id, the rollback plan
    /// and the risk (after a synthesizer rewrote the changes, say).
    pub fn refresh_derived(&mut self) {
        self.id = proposal_id(self.altitude, &self.rationale.rule_name, &self.changes);
        self.rollback = RollbackPlan::for_changes(&self.changes);
        self.risk = Risk::for_altitude(self.altitude);
    }
}

/// FNV-1a, 64 bits: a tiny hash whose output never changes between Rust releases (unlike
/// `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// A proposal's id: 16 lowercase hex digits of [`fnv1a64`] over the altitude's wire name, the
/// rule name and each change's full `Debug` form, separated by NUL bytes. Deterministic: the
/// same proposal gets the same id in every run and every cycle.
pub fn proposal_id(altitude: Altitude, rule: &str, changes: &[OrgChange]) -> String {
    let mut canonical = String::new();
    canonical.push_str(altitude.as_str());
    canonical.push('\0');
    canonical.push_str(rule);
    for c in changes {
        canonical.push('\0');
        canonical.push_str(&format!("{c:?}"));
    }
    format!("{:016x}", fnv1a64(canonical.as_bytes()))
}

/// Which way a rule's value is bad.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Worse {
    Lower,
    Higher,
}

/// The context key of the value each built-in rule compares, and which way it fires.
fn rule_value(m: &RuleMatch) -> Option<(&'static str, Worse)> {
    rule_value_of(&m.rule_name, &m.signal_context)
}

/// The value a rule compares with its threshold, from its evidence (`rule`'s signal context):
/// `(context key, value, whether a higher value is worse)`; `None` for a rule whose value is
/// not known (a custom rule without a comparator) or evidence without it.
pub fn primary_value(
    rule: &str,
    ctx: &BTreeMap<String, ContextValue>,
) -> Option<(&'static str, f64, bool)> {
    if rule == "benchmark_regression" {
        return number(ctx.get("delta")).map(|d| ("delta", d, false));
    }
    let (key, worse) = rule_value_of(rule, ctx)?;
    Some((key, number(ctx.get(key))?, worse == Worse::Higher))
}

fn rule_value_of(
    rule: &str,
    ctx: &BTreeMap<String, ContextValue>,
) -> Option<(&'static str, Worse)> {
    Some(match rule {
        "quality_declining" => ("avg_quality", Worse::Lower),
        "success_rate_drop" => ("avg_success_rate", Worse::Lower),
        "budget_overrun" => ("days_until_exhausted", Worse::Lower),
        "coordination_cost_ratio" => ("coordination_ratio", Worse::Higher),
        "coordination_overhead" => ("overhead_pct", Worse::Higher),
        "straggler_bottleneck" => ("straggler_gap_ratio", Worse::Higher),
        "redundancy" => ("redundancy_rate", Worse::Higher),
        "scaling_failure" => ("failure_rate", Worse::Higher),
        "error_spike" => ("total_findings", Worse::Higher),
        _ => {
            // A declarative custom rule: `metric_value` against `threshold`.
            let dir = match ctx.get("comparator") {
                Some(ContextValue::Text(c)) if c == "lt" || c == "le" => Worse::Lower,
                Some(ContextValue::Text(c)) if c == "gt" || c == "ge" => Worse::Higher,
                _ => return None,
            };
            ("metric_value", dir)
        }
    })
}

/// A context value as a finite number (`None` for text, null, NaN or infinity).
pub(crate) fn number(v: Option<&ContextValue>) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    match v? {
        ContextValue::Int(i) => Some(*i as f64),
        ContextValue::Number(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

/// How far past its threshold the rule's value is, relative to the threshold, in `[0, 1]`;
/// `None` when the match does not carry both numbers. `benchmark_regression` has no
/// threshold: its excess is the drop relative to the best total.
pub fn relative_excess(m: &RuleMatch) -> Option<f64> {
    let ctx = &m.signal_context;
    if m.rule_name == "benchmark_regression" {
        let delta = number(ctx.get("delta"))?;
        let max = number(ctx.get("max_total"))?;
        return Some((delta.abs() / max.abs().max(1.0)).clamp(0.0, 1.0));
    }
    let (key, worse) = rule_value(m)?;
    let value = number(ctx.get(key))?;
    let threshold = number(ctx.get("threshold"))?;
    let past = match worse {
        Worse::Lower => threshold - value,
        Worse::Higher => value - threshold,
    };
    let excess = if threshold == 0.0 {
        if past > 0.0 { 1.0 } else { 0.0 }
    } else {
        past / threshold.abs()
    };
    Some(excess.clamp(0.0, 1.0))
}

/// Highest confidence a deterministic strategy claims.
pub const MAX_CONFIDENCE: f64 = 0.95;

/// The confidence heuristic: `0.5 + 0.5 · min(1, relative excess)` ([`relative_excess`]; 0
/// when unknown), times the altitude's factor (config 1.0, prompt 0.9, architecture 0.8, code
/// 0.7: the further from a single bounded knob, the less certain the effect), capped at
/// [`MAX_CONFIDENCE`] and rounded to 3 decimals.
pub fn confidence(m: &RuleMatch, altitude: Altitude) -> f64 {
    let base = 0.5 + 0.5 * relative_excess(m).unwrap_or(0.0);
    let factor = match altitude {
        Altitude::ConfigTuning => 1.0,
        Altitude::PromptTuning => 0.9,
        Altitude::Architecture => 0.8,
        Altitude::CodeModification => 0.7,
    };
    ((base * factor).min(MAX_CONFIDENCE) * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::SettingValue;
    use crate::org::standard::DEFAULT_TIER;
    use crate::rules::tests::empty_snapshot;

    fn tier_change(from: &str, to: &str) -> OrgChange {
        OrgChange::SetSetting {
            path: DEFAULT_TIER.into(),
            from: Some(SettingValue::String(from.into())),
            to: Some(SettingValue::String(to.into())),
        }
    }

    fn rule_match(rule: &str, ctx: &[(&str, ContextValue)]) -> RuleMatch {
        RuleMatch {
            rule_name: rule.into(),
            severity: RuleSeverity::Warning,
            description: "d".into(),
            signal_context: ctx
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            suggested_altitudes: vec![Altitude::ConfigTuning],
            matched_at: empty_snapshot().collected_at,
        }
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn ids_are_stable_and_depend_on_altitude_rule_and_changes() {
        let c = [tier_change("large", "medium")];
        let id = proposal_id(Altitude::ConfigTuning, "budget_overrun", &c);
        assert_eq!(
            id,
            proposal_id(Altitude::ConfigTuning, "budget_overrun", &c)
        );
        assert_eq!(id.len(), 16);
        // Pinned: a change here breaks de-duplication against stored proposals.
        assert_eq!(id, "659951f1037bc28e");
        assert_ne!(id, proposal_id(Altitude::ConfigTuning, "error_spike", &c));
        assert_ne!(
            id,
            proposal_id(Altitude::Architecture, "budget_overrun", &c)
        );
        assert_ne!(
            id,
            proposal_id(
                Altitude::ConfigTuning,
                "budget_overrun",
                &[tier_change("medium", "small")]
            )
        );
    }

    #[test]
    fn rollback_plan_validation() {
        let before = OrgDocument::standard();
        let changes = vec![tier_change("large", "medium")];
        assert_eq!(
            RollbackPlan::for_changes(&changes).validate(&before, &changes),
            Ok(())
        );
        let empty = RollbackPlan { operations: vec![] };
        assert!(empty.validate(&before, &changes).is_err());
        // A stale change does not apply.
        let stale = vec![tier_change("small", "medium")];
        let e = RollbackPlan::for_changes(&stale).validate(&before, &stale);
        assert!(e.is_err_and(|e| e.contains("do not apply")));
        // A plan that does not undo the changes.
        let wrong = RollbackPlan {
            operations: vec![tier_change("medium", "small")],
        };
        let e = wrong.validate(&before, &changes);
        assert!(e.is_err_and(|e| e.contains("does not restore")));
    }

    #[test]
    fn risk_per_altitude() {
        assert_eq!(Risk::for_altitude(Altitude::ConfigTuning), Risk::Low);
        assert_eq!(Risk::for_altitude(Altitude::PromptTuning), Risk::Medium);
        assert_eq!(Risk::for_altitude(Altitude::Architecture), Risk::Medium);
        assert_eq!(Risk::for_altitude(Altitude::CodeModification), Risk::High);
    }

    #[test]
    fn confidence_grows_with_the_excess_and_is_capped() {
        let budget = |days: i64| {
            rule_match(
                "budget_overrun",
                &[
                    ("days_until_exhausted", days.into()),
                    ("threshold", 14i64.into()),
                ],
            )
        };
        assert_eq!(confidence(&budget(14), Altitude::ConfigTuning), 0.5);
        assert_eq!(confidence(&budget(7), Altitude::ConfigTuning), 0.75);
        assert_eq!(confidence(&budget(0), Altitude::ConfigTuning), 0.95);
        let errors = rule_match(
            "error_spike",
            &[
                ("total_findings", 15i64.into()),
                ("threshold", 10i64.into()),
            ],
        );
        assert_eq!(confidence(&errors, Altitude::ConfigTuning), 0.75);
        assert_eq!(confidence(&errors, Altitude::PromptTuning), 0.675);
        let custom = rule_match(
            "my_rule",
            &[
                ("metric_value", 2.0.into()),
                ("threshold", 4.0.into()),
                ("comparator", "lt".into()),
            ],
        );
        assert_eq!(confidence(&custom, Altitude::ConfigTuning), 0.75);
        assert_eq!(
            confidence(&rule_match("x", &[]), Altitude::Architecture),
            0.4
        );
    }
}
