//! The rule engine: auditable detectors that turn a snapshot into [`RuleMatch`]es.
//!
//! A [`Rule`] looks at one [`OrgSignalSnapshot`] and either matches (with a description, the
//! numbers that made it match and the altitudes worth trying) or not. The ten built-in rules
//! live in [`builtin`], declarative custom rules ("metric, comparator, threshold") in
//! [`declarative`], and the [`RuleEngine`] in [`engine`] runs them all, isolating failures.
//!
//! Rules are pure functions of the snapshot: `matched_at` is the snapshot's `collected_at`,
//! never the wall clock, and a metric that is `None` ("no data") never makes a rule fire.

pub mod builtin;
pub mod declarative;
pub mod engine;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::altitude::Altitude;
use crate::metrics::UnknownMetric;
use crate::snapshot::OrgSignalSnapshot;

pub use builtin::{BUILTIN_RULE_NAMES, builtin_rules};
pub use declarative::{Comparator, CustomRuleDefinition, CustomRuleError, DeclarativeRule};
pub use engine::{AddRuleError, Evaluation, RuleEngine, RuleFailure, RuleInfo};

/// How urgent a rule match is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RuleSeverity {
    /// Worth knowing.
    Info,
    /// Worth acting on.
    Warning,
    /// Act now.
    Critical,
}

impl RuleSeverity {
    /// All severities, most urgent first.
    pub const ALL: [RuleSeverity; 3] = [
        RuleSeverity::Critical,
        RuleSeverity::Warning,
        RuleSeverity::Info,
    ];

    /// Sort rank: critical 0, warning 1, info 2 (most urgent first).
    pub fn rank(self) -> u8 {
        match self {
            RuleSeverity::Critical => 0,
            RuleSeverity::Warning => 1,
            RuleSeverity::Info => 2,
        }
    }

    /// The wire name (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One value of a match's `signal_context`: the numbers (and names) that made a rule fire.
///
/// Serialised untagged, as a plain JSON number, string or `null`. Whole numbers deserialise
/// as [`ContextValue::Int`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ContextValue {
    /// A whole number (a count, a number of days).
    Int(i64),
    /// A real number (a rate, a score, a threshold).
    Number(f64),
    /// A name (a category, a metric path).
    Text(String),
    /// No value.
    Null,
}

impl From<f64> for ContextValue {
    fn from(v: f64) -> Self {
        ContextValue::Number(v)
    }
}

impl From<i64> for ContextValue {
    fn from(v: i64) -> Self {
        ContextValue::Int(v)
    }
}

impl From<u32> for ContextValue {
    fn from(v: u32) -> Self {
        ContextValue::Int(i64::from(v))
    }
}

impl From<u64> for ContextValue {
    /// Saturates at `i64::MAX` (no count gets near it).
    fn from(v: u64) -> Self {
        ContextValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&str> for ContextValue {
    fn from(v: &str) -> Self {
        ContextValue::Text(v.to_owned())
    }
}

impl From<String> for ContextValue {
    fn from(v: String) -> Self {
        ContextValue::Text(v)
    }
}

impl<T: Into<ContextValue>> From<Option<T>> for ContextValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(ContextValue::Null, Into::into)
    }
}

/// A rule that fired on a snapshot: which rule, what it saw, and the altitudes it suggests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    /// The rule's name.
    pub rule_name: String,
    /// The rule's severity.
    pub severity: RuleSeverity,
    /// One line saying what was found, with the numbers.
    pub description: String,
    /// The values that made the rule fire, by name.
    pub signal_context: BTreeMap<String, ContextValue>,
    /// Altitudes at which a proposal could address the finding (the rule's targets).
    pub suggested_altitudes: Vec<Altitude>,
    /// The snapshot's `collected_at`, so evaluation is deterministic.
    pub matched_at: DateTime<Utc>,
}

impl RuleMatch {
    /// A match of `rule` on `snapshot`: name, severity and altitudes come from the rule,
    /// `matched_at` from the snapshot.
    pub fn for_rule<R: Rule + ?Sized>(
        rule: &R,
        snapshot: &OrgSignalSnapshot,
        description: String,
        signal_context: BTreeMap<String, ContextValue>,
    ) -> Self {
        Self {
            rule_name: rule.name().to_owned(),
            severity: rule.severity(),
            description,
            signal_context,
            suggested_altitudes: rule.target_altitudes().to_vec(),
            matched_at: snapshot.collected_at,
        }
    }
}

/// Why a rule could not be evaluated. The engine reports it and carries on with the others.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// The rule reads a metric path that is not in the registry.
    #[error(transparent)]
    UnknownMetric(#[from] UnknownMetric),
    /// An input metric was NaN or infinite (a bug upstream, not "no data").
    #[error("metric {path} is not a finite number (got {value})")]
    NonFinite {
        /// Metric path.
        path: String,
        /// The offending value.
        value: f64,
    },
    /// Any other failure of a custom rule.
    #[error("{0}")]
    Failed(String),
}

/// A detector evaluated on every snapshot. Built-in and declarative rules implement it, and
/// so can any other custom rule; the [`RuleEngine`] treats them all alike.
pub trait Rule: Send + Sync {
    /// Unique name (`quality_declining`, …).
    fn name(&self) -> &str;
    /// Severity of its matches.
    fn severity(&self) -> RuleSeverity;
    /// Altitudes its matches suggest (at least one).
    fn target_altitudes(&self) -> &[Altitude];
    /// One line: what it detects.
    fn description(&self) -> &str;
    /// `Ok(Some(_))` when the rule fires on `snapshot`, `Ok(None)` when it does not (including
    /// when its inputs are `None`).
    fn evaluate(&self, snapshot: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError>;
}

/// Thresholds of the built-in rules. Defaults are the original design's (`docs/design.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinThresholds {
    /// `quality_declining` fires when avg quality < this (0–10).
    pub quality_declining: f64,
    /// `success_rate_drop` fires when avg success rate < this (0–1).
    pub success_rate_drop: f64,
    /// `budget_overrun` fires when days until exhausted ≤ this.
    pub budget_overrun_days: u32,
    /// `coordination_cost_ratio` fires when the coordination spend ratio > this (0–1).
    pub coordination_cost_ratio: f64,
    /// `coordination_overhead` fires when overhead % > this.
    pub coordination_overhead_pct: f64,
    /// `straggler_bottleneck` fires when the straggler gap ratio > this.
    pub straggler_gap_ratio: f64,
    /// `redundancy` fires when the redundancy rate > this (0–1).
    pub redundancy_rate: f64,
    /// `scaling_failure` fires when the failure rate of decided decisions > this (0–1).
    pub scaling_failure_rate: f64,
    /// `scaling_failure` needs at least this many decided decisions.
    pub scaling_min_decisions: u64,
    /// `error_spike` fires when total findings > this.
    pub error_spike_findings: u64,
    /// `benchmark_regression` needs at least this many runs.
    pub benchmark_min_runs: u64,
    /// `quality_declining` also fires when the last day's quality is at least this fraction
    /// below the best earlier day of the window (0–1, exclusive; `null` switches the relative
    /// form off).
    pub quality_declining_relative: Option<f64>,
    /// `success_rate_drop` also fires when the last day's success rate is at least this
    /// fraction below the best earlier day of the window (0–1, exclusive; `null`: off).
    pub success_rate_drop_relative: Option<f64>,
}

impl Default for BuiltinThresholds {
    fn default() -> Self {
        Self {
            quality_declining: 5.0,
            success_rate_drop: 0.7,
            budget_overrun_days: 14,
            coordination_cost_ratio: 0.4,
            coordination_overhead_pct: 35.0,
            straggler_gap_ratio: 2.0,
            redundancy_rate: 0.3,
            scaling_failure_rate: 0.5,
            scaling_min_decisions: 3,
            error_spike_findings: 10,
            benchmark_min_runs: 2,
            quality_declining_relative: Some(0.2),
            success_rate_drop_relative: Some(0.2),
        }
    }
}

impl BuiltinThresholds {
    /// Range checks, as `(field, message)` pairs.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut real = |field: &'static str, v: f64, lo: f64, hi: Option<f64>, what: &str| {
            let ok = v.is_finite() && v >= lo && hi.is_none_or(|hi| v <= hi);
            if !ok {
                out.push((field, format!("expected {what}, got {v}")));
            }
        };
        const FRACTION: &str = "a fraction between 0 and 1";
        const NON_NEGATIVE: &str = "a finite number >= 0";
        real(
            "quality_declining",
            self.quality_declining,
            0.0,
            Some(10.0),
            "a score between 0 and 10",
        );
        real(
            "success_rate_drop",
            self.success_rate_drop,
            0.0,
            Some(1.0),
            FRACTION,
        );
        real(
            "coordination_cost_ratio",
            self.coordination_cost_ratio,
            0.0,
            Some(1.0),
            FRACTION,
        );
        real(
            "coordination_overhead_pct",
            self.coordination_overhead_pct,
            0.0,
            None,
            NON_NEGATIVE,
        );
        real(
            "straggler_gap_ratio",
            self.straggler_gap_ratio,
            0.0,
            None,
            NON_NEGATIVE,
        );
        real(
            "redundancy_rate",
            self.redundancy_rate,
            0.0,
            Some(1.0),
            FRACTION,
        );
        real(
            "scaling_failure_rate",
            self.scaling_failure_rate,
            0.0,
            Some(1.0),
            FRACTION,
        );
        // A failure rate over zero decisions means nothing; a regression needs runs to compare.
        for (field, v) in [
            ("scaling_min_decisions", self.scaling_min_decisions),
            ("benchmark_min_runs", self.benchmark_min_runs),
        ] {
            if v == 0 {
                out.push((field, "expected an integer >= 1, got 0".to_owned()));
            }
        }
        for (field, v) in [
            (
                "quality_declining_relative",
                self.quality_declining_relative,
            ),
            (
                "success_rate_drop_relative",
                self.success_rate_drop_relative,
            ),
        ] {
            if let Some(v) = v.filter(|v| !(*v > 0.0 && *v < 1.0)) {
                out.push((
                    field,
                    format!("expected a fraction between 0 and 1 (exclusive) or null, got {v}"),
                ));
            }
        }
        out
    }
}

/// The `rules` section of `kaizen.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Names of built-in rules to switch off. Unknown names are a configuration error.
    pub disabled: Vec<String>,
    /// Built-in rule thresholds.
    pub thresholds: BuiltinThresholds,
}

impl RulesConfig {
    /// Checks the section. On error, returns every problem as `(key path, message)`, e.g.
    /// `("rules.disabled[2]", "unknown rule 'x'; built-in rules are: …")` or
    /// `("rules.thresholds.success_rate_drop", "expected a fraction between 0 and 1, got 1.5")`.
    pub fn validate(&self) -> Result<(), Vec<(String, String)>> {
        let mut errors = Vec::new();
        for (i, name) in self.disabled.iter().enumerate() {
            if !BUILTIN_RULE_NAMES.contains(&name.as_str()) {
                errors.push((
                    format!("rules.disabled[{i}]"),
                    format!(
                        "unknown rule '{name}'; built-in rules are: {}",
                        BUILTIN_RULE_NAMES.join(", ")
                    ),
                ));
            }
        }
        for (field, message) in self.thresholds.problems() {
            errors.push((format!("rules.thresholds.{field}"), message));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Formats a float the way the original implementation's messages do (Python `str`): whole
/// numbers keep one decimal (`5.0`), others use the shortest exact form (`0.7`).
pub(crate) fn format_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Builds a `signal_context` map.
pub(crate) fn context<const N: usize>(
    pairs: [(&str, ContextValue); N],
) -> BTreeMap<String, ContextValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::snapshot::SnapshotWindow;

    /// An empty snapshot collected at 2026-01-08T00:00:00Z.
    pub(crate) fn empty_snapshot() -> OrgSignalSnapshot {
        let until = Utc
            .with_ymd_and_hms(2026, 1, 8, 0, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("bad test date"));
        let since = until - chrono::Duration::days(7);
        OrgSignalSnapshot::empty(SnapshotWindow {
            since,
            until,
            effective_since: since,
            effective_until: until,
        })
    }

    #[test]
    fn severity_rank_and_wire_names() -> Result<(), serde_json::Error> {
        assert!(RuleSeverity::Critical.rank() < RuleSeverity::Warning.rank());
        assert!(RuleSeverity::Warning.rank() < RuleSeverity::Info.rank());
        for s in RuleSeverity::ALL {
            assert_eq!(serde_json::to_string(&s)?, format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<RuleSeverity>(&format!("\"{s}\""))?,
                s
            );
        }
        assert_eq!(RuleSeverity::Critical.to_string(), "critical");
        Ok(())
    }

    #[test]
    fn context_values_serialise_untagged_and_round_trip() -> Result<(), serde_json::Error> {
        let ctx = context([
            ("a", 0.5.into()),
            ("b", 3u64.into()),
            ("c", "x".into()),
            ("d", Option::<f64>::None.into()),
        ]);
        let json = serde_json::to_string(&ctx)?;
        assert_eq!(json, r#"{"a":0.5,"b":3,"c":"x","d":null}"#);
        let back: BTreeMap<String, ContextValue> = serde_json::from_str(&json)?;
        assert_eq!(back, ctx);
        assert_eq!(ContextValue::from(u64::MAX), ContextValue::Int(i64::MAX));
        Ok(())
    }

    #[test]
    fn rule_match_round_trips_and_rejects_unknown_fields() -> Result<(), serde_json::Error> {
        let m = RuleMatch {
            rule_name: "r".into(),
            severity: RuleSeverity::Warning,
            description: "d".into(),
            signal_context: context([("threshold", 0.7.into())]),
            suggested_altitudes: vec![Altitude::ConfigTuning],
            matched_at: empty_snapshot().collected_at,
        };
        let json = serde_json::to_value(&m)?;
        assert_eq!(json["matched_at"], "2026-01-08T00:00:00Z");
        assert_eq!(json["suggested_altitudes"][0], "config_tuning");
        assert_eq!(serde_json::from_value::<RuleMatch>(json.clone())?, m);
        let mut extra = json;
        extra["surprise"] = serde_json::Value::Bool(true);
        assert!(serde_json::from_value::<RuleMatch>(extra).is_err());
        Ok(())
    }

    #[test]
    fn format_float_mimics_python_str() {
        assert_eq!(format_float(5.0), "5.0");
        assert_eq!(format_float(0.7), "0.7");
        assert_eq!(format_float(-6.0), "-6.0");
        assert_eq!(format_float(72.25), "72.25");
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(RulesConfig::default().validate(), Ok(()));
        let all_disabled = RulesConfig {
            disabled: BUILTIN_RULE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            ..RulesConfig::default()
        };
        assert_eq!(all_disabled.validate(), Ok(()));
    }

    #[test]
    fn unknown_disabled_names_are_errors_naming_the_valid_rules() {
        let cfg = RulesConfig {
            disabled: vec![
                "redundancy".into(),
                "error_spike".into(),
                "quality_decline".into(),
            ],
            ..RulesConfig::default()
        };
        let Err(errors) = cfg.validate() else {
            panic!("typo in disabled accepted");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "rules.disabled[2]");
        assert!(errors[0].1.contains("'quality_decline'"), "{}", errors[0].1);
        for name in BUILTIN_RULE_NAMES {
            assert!(
                errors[0].1.contains(name),
                "{} missing from {}",
                name,
                errors[0].1
            );
        }
    }

    #[test]
    fn out_of_range_thresholds_are_errors_naming_the_key_and_range() {
        let cfg = RulesConfig {
            disabled: vec![],
            thresholds: BuiltinThresholds {
                quality_declining: 11.0,
                success_rate_drop: 1.5,
                coordination_cost_ratio: -0.1,
                coordination_overhead_pct: f64::NAN,
                straggler_gap_ratio: -1.0,
                redundancy_rate: f64::INFINITY,
                scaling_failure_rate: 2.0,
                scaling_min_decisions: 0,
                benchmark_min_runs: 0,
                ..BuiltinThresholds::default()
            },
        };
        let Err(errors) = cfg.validate() else {
            panic!("bad thresholds accepted");
        };
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rules.thresholds.quality_declining",
                "rules.thresholds.success_rate_drop",
                "rules.thresholds.coordination_cost_ratio",
                "rules.thresholds.coordination_overhead_pct",
                "rules.thresholds.straggler_gap_ratio",
                "rules.thresholds.redundancy_rate",
                "rules.thresholds.scaling_failure_rate",
                "rules.thresholds.scaling_min_decisions",
                "rules.thresholds.benchmark_min_runs",
            ]
        );
        assert_eq!(errors[0].1, "expected a score between 0 and 10, got 11");
        assert_eq!(errors[1].1, "expected a fraction between 0 and 1, got 1.5");
        assert_eq!(errors[4].1, "expected a finite number >= 0, got -1");
        assert_eq!(errors[7].1, "expected an integer >= 1, got 0");
    }

    #[test]
    fn boundary_thresholds_are_valid() {
        let cfg = RulesConfig {
            disabled: vec![],
            thresholds: BuiltinThresholds {
                quality_declining: 10.0,
                success_rate_drop: 0.0,
                coordination_cost_ratio: 1.0,
                coordination_overhead_pct: 0.0,
                budget_overrun_days: 0,
                error_spike_findings: 0,
                scaling_min_decisions: 1,
                benchmark_min_runs: 1,
                ..BuiltinThresholds::default()
            },
        };
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn relative_thresholds_are_fractions_or_null() {
        let ok = RulesConfig {
            thresholds: BuiltinThresholds {
                quality_declining_relative: None,
                ..BuiltinThresholds::default()
            },
            ..RulesConfig::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = RulesConfig {
            thresholds: BuiltinThresholds {
                quality_declining_relative: Some(1.0),
                success_rate_drop_relative: Some(0.0),
                ..BuiltinThresholds::default()
            },
            ..RulesConfig::default()
        };
        let errors = bad.validate().unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "rules.thresholds.quality_declining_relative",
                "rules.thresholds.success_rate_drop_relative"
            ]
        );
    }
}
