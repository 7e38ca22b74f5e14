//! Declarative custom rules: "fire when `<metric> <comparator> <threshold>`",
//! over any path of the [metric registry](crate::metrics). A [`CustomRuleDefinition`] is plain
//! data (for configuration, storage and the UI); [`DeclarativeRule`] is its [`Rule`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::altitude::Altitude;
use crate::metrics::{self, MetricDescriptor, ValueType};
use crate::rules::{
    BUILTIN_RULE_NAMES, ContextValue, Rule, RuleError, RuleMatch, RuleSeverity, context,
    format_float,
};
use crate::snapshot::OrgSignalSnapshot;

/// How a declarative rule compares the metric (left) with the threshold (right).
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
pub enum Comparator {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (exact)
    Eq,
    /// `!=` (exact)
    Ne,
}

impl Comparator {
    /// All comparators.
    pub const ALL: [Comparator; 6] = [
        Comparator::Lt,
        Comparator::Le,
        Comparator::Gt,
        Comparator::Ge,
        Comparator::Eq,
        Comparator::Ne,
    ];

    /// The wire name (`lt`, `le`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The display symbol (`<`, `<=`, `>`, `>=`, `==`, `!=`).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Eq => "==",
            Comparator::Ne => "!=",
        }
    }

    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Lt => value < threshold,
            Comparator::Le => value <= threshold,
            Comparator::Gt => value > threshold,
            Comparator::Ge => value >= threshold,
            Comparator::Eq => value == threshold,
            Comparator::Ne => value != threshold,
        }
    }
}

fn default_enabled() -> bool {
    true
}

/// A custom rule as data: fire with `severity` when the metric at `metric_path` compares to
/// `threshold` as `comparator` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRuleDefinition {
    /// Unique rule name (must not clash with a built-in rule).
    pub name: String,
    /// One line: what the rule detects.
    pub description: String,
    /// A path of the metric registry, e.g. `budget.total_spend`.
    pub metric_path: String,
    /// How the metric is compared with the threshold.
    pub comparator: Comparator,
    /// The value the metric is compared with.
    pub threshold: f64,
    /// Severity of the matches.
    pub severity: RuleSeverity,
    /// Altitudes the matches suggest (at least one).
    pub target_altitudes: Vec<Altitude>,
    /// Whether the engine runs the rule (default true).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

/// Why a [`CustomRuleDefinition`] is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CustomRuleError {
    /// The name is empty or whitespace.
    #[error("name must not be blank")]
    BlankName,
    /// The name is a built-in rule's.
    #[error("name '{0}' is taken by a built-in rule")]
    BuiltinName(String),
    /// The description is empty or whitespace.
    #[error("description must not be blank")]
    BlankDescription,
    /// The metric path is not registered.
    #[error(
        "metric_path '{0}' is not a valid snapshot metric. Valid paths: {valid}",
        valid = metrics::valid_paths().join(", ")
    )]
    UnknownMetricPath(String),
    /// The threshold is NaN or infinite.
    #[error("threshold must be a finite number, got {0}")]
    NonFiniteThreshold(f64),
    /// No target altitude.
    #[error("target_altitudes must list at least one altitude")]
    NoAltitudes,
}

impl CustomRuleError {
    /// The field of the definition the error is about (for forms and config key paths).
    pub fn field(&self) -> &'static str {
        match self {
            CustomRuleError::BlankName | CustomRuleError::BuiltinName(_) => "name",
            CustomRuleError::BlankDescription => "description",
            CustomRuleError::UnknownMetricPath(_) => "metric_path",
            CustomRuleError::NonFiniteThreshold(_) => "threshold",
            CustomRuleError::NoAltitudes => "target_altitudes",
        }
    }
}

impl CustomRuleDefinition {
    /// Checks the definition; returns the first problem found, in field order.
    pub fn validate(&self) -> Result<(), CustomRuleError> {
        self.descriptor().map(|_| ())
    }

    /// Validates and returns the descriptor of the metric.
    fn descriptor(&self) -> Result<&'static MetricDescriptor, CustomRuleError> {
        if self.name.trim().is_empty() {
            return Err(CustomRuleError::BlankName);
        }
        if BUILTIN_RULE_NAMES.contains(&self.name.as_str()) {
            return Err(CustomRuleError::BuiltinName(self.name.clone()));
        }
        if self.description.trim().is_empty() {
            return Err(CustomRuleError::BlankDescription);
        }
        let descriptor = metrics::descriptor(&self.metric_path)
            .ok_or_else(|| CustomRuleError::UnknownMetricPath(self.metric_path.clone()))?;
        if !self.threshold.is_finite() {
            return Err(CustomRuleError::NonFiniteThreshold(self.threshold));
        }
        if self.target_altitudes.is_empty() {
            return Err(CustomRuleError::NoAltitudes);
        }
        Ok(descriptor)
    }
}

/// The [`Rule`] of a validated [`CustomRuleDefinition`].
#[derive(Debug, Clone)]
pub struct DeclarativeRule {
    definition: CustomRuleDefinition,
    metric: &'static MetricDescriptor,
}

impl DeclarativeRule {
    /// Validates `definition` and wraps it.
    pub fn new(definition: CustomRuleDefinition) -> Result<Self, CustomRuleError> {
        let metric = definition.descriptor()?;
        Ok(Self { definition, metric })
    }

    /// The definition.
    pub fn definition(&self) -> &CustomRuleDefinition {
        &self.definition
    }
}

impl Rule for DeclarativeRule {
    fn name(&self) -> &str {
        &self.definition.name
    }

    fn severity(&self) -> RuleSeverity {
        self.definition.severity
    }

    fn target_altitudes(&self) -> &[Altitude] {
        &self.definition.target_altitudes
    }

    fn description(&self) -> &str {
        &self.definition.description
    }

    fn evaluate(&self, snapshot: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let d = &self.definition;
        let Some(value) = metrics::resolve(snapshot, &d.metric_path)? else {
            return Ok(None);
        };
        if !value.is_finite() {
            return Err(RuleError::NonFinite {
                path: d.metric_path.clone(),
                value,
            });
        }
        if !d.comparator.holds(value, d.threshold) {
            return Ok(None);
        }
        // Counts show and serialise as integers (they are whole `f64`s, well within i64).
        let (shown, metric_value) = match self.metric.value_type {
            ValueType::Int => (format!("{value}"), ContextValue::Int(value as i64)),
            ValueType::Float => (format_float(value), ContextValue::Number(value)),
        };
        Ok(Some(RuleMatch::for_rule(
            self,
            snapshot,
            format!(
                "{} {} {} (current: {shown})",
                d.metric_path,
                d.comparator.symbol(),
                format_float(d.threshold)
            ),
            context([
                ("metric_path", d.metric_path.as_str().into()),
                ("metric_value", metric_value),
                ("threshold", d.threshold.into()),
                ("comparator", d.comparator.as_str().into()),
            ]),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::empty_snapshot;

    fn definition(path: &str, comparator: Comparator, threshold: f64) -> CustomRuleDefinition {
        CustomRuleDefinition {
            name: "custom".into(),
            description: "A custom check".into(),
            metric_path: path.into(),
            comparator,
            threshold,
            severity: RuleSeverity::Warning,
            target_altitudes: vec![Altitude::PromptTuning],
            enabled: true,
        }
    }

    fn rule(path: &str, comparator: Comparator, threshold: f64) -> DeclarativeRule {
        match DeclarativeRule::new(definition(path, comparator, threshold)) {
            Ok(r) => r,
            Err(e) => panic!("invalid test definition: {e}"),
        }
    }

    fn fires(r: &DeclarativeRule, s: &OrgSignalSnapshot) -> bool {
        match r.evaluate(s) {
            Ok(m) => m.is_some(),
            Err(e) => panic!("evaluation failed: {e}"),
        }
    }

    #[test]
    fn comparator_wire_names_and_symbols() -> Result<(), serde_json::Error> {
        let wire: Vec<&str> = Comparator::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(wire, ["lt", "le", "gt", "ge", "eq", "ne"]);
        let symbols: Vec<&str> = Comparator::ALL.iter().map(|c| c.symbol()).collect();
        assert_eq!(symbols, ["<", "<=", ">", ">=", "==", "!="]);
        for c in Comparator::ALL {
            assert_eq!(serde_json::to_string(&c)?, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Comparator>(&format!("\"{c}\""))?, c);
        }
        Ok(())
    }

    #[test]
    fn each_comparator_below_at_and_above_the_threshold() {
        let mut s = empty_snapshot();
        // (comparator, fires below, fires at, fires above)
        let table = [
            (Comparator::Lt, true, false, false),
            (Comparator::Le, true, true, false),
            (Comparator::Gt, false, false, true),
            (Comparator::Ge, false, true, true),
            (Comparator::Eq, false, true, false),
            (Comparator::Ne, true, false, true),
        ];
        for (c, below, at, above) in table {
            let r = rule("budget.total_spend", c, 100.0);
            for (spend, expected) in [(99.5, below), (100.0, at), (100.5, above)] {
                s.budget.total_spend = spend;
                assert_eq!(fires(&r, &s), expected, "{spend} {} 100", c.symbol());
            }
        }
    }

    #[test]
    fn match_carries_description_context_and_definition_fields() {
        let mut s = empty_snapshot();
        s.performance.avg_quality_score = Some(6.25);
        let r = rule("performance.avg_quality_score", Comparator::Lt, 7.0);
        let Ok(Some(m)) = r.evaluate(&s) else {
            panic!("did not fire");
        };
        assert_eq!(m.rule_name, "custom");
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(m.suggested_altitudes, [Altitude::PromptTuning]);
        assert_eq!(m.matched_at, s.collected_at);
        assert_eq!(
            m.description,
            "performance.avg_quality_score < 7.0 (current: 6.25)"
        );
        assert_eq!(
            m.signal_context,
            context([
                ("metric_path", "performance.avg_quality_score".into()),
                ("metric_value", 6.25.into()),
                ("threshold", 7.0.into()),
                ("comparator", "lt".into()),
            ])
        );
    }

    #[test]
    fn integer_metrics_show_as_integers() {
        let mut s = empty_snapshot();
        s.errors.total_findings = 12;
        let r = rule("errors.total_findings", Comparator::Ge, 12.0);
        let Ok(Some(m)) = r.evaluate(&s) else {
            panic!("did not fire");
        };
        assert_eq!(m.description, "errors.total_findings >= 12.0 (current: 12)");
        assert_eq!(m.signal_context["metric_value"], ContextValue::Int(12));
    }

    #[test]
    fn null_metric_never_matches() {
        let s = empty_snapshot();
        for c in Comparator::ALL {
            // `!=` would hold for a zero read as "no data"; None must not match at all.
            let r = rule("performance.avg_success_rate", c, 0.5);
            assert!(!fires(&r, &s), "{} fired on no data", c.symbol());
        }
    }

    #[test]
    fn invalid_definitions_are_rejected() {
        let ok = definition("scaling.success_rate", Comparator::Lt, 0.5);
        assert_eq!(ok.validate(), Ok(()));

        let bad_path = definition("scaling.sucess_rate", Comparator::Lt, 0.5);
        let Err(e) = bad_path.validate() else {
            panic!("typo accepted");
        };
        assert_eq!(e.field(), "metric_path");
        let msg = e.to_string();
        assert!(msg.starts_with(
            "metric_path 'scaling.sucess_rate' is not a valid snapshot metric. Valid paths: "
        ));
        assert!(msg.ends_with(&metrics::valid_paths().join(", ")), "{msg}");

        let cases = [
            (
                CustomRuleDefinition {
                    name: "  ".into(),
                    ..ok.clone()
                },
                "name",
            ),
            (
                CustomRuleDefinition {
                    name: "redundancy".into(),
                    ..ok.clone()
                },
                "name",
            ),
            (
                CustomRuleDefinition {
                    description: "".into(),
                    ..ok.clone()
                },
                "description",
            ),
            (
                CustomRuleDefinition {
                    threshold: f64::NAN,
                    ..ok.clone()
                },
                "threshold",
            ),
            (
                CustomRuleDefinition {
                    threshold: f64::INFINITY,
                    ..ok.clone()
                },
                "threshold",
            ),
            (
                CustomRuleDefinition {
                    target_altitudes: vec![],
                    ..ok.clone()
                },
                "target_altitudes",
            ),
        ];
        for (def, field) in cases {
            let Err(e) = DeclarativeRule::new(def) else {
                panic!("invalid {field} accepted");
            };
            assert_eq!(e.field(), field, "{e}");
        }
    }

    #[test]
    fn definition_wire_format() -> Result<(), serde_json::Error> {
        let json = serde_json::json!({
            "name": "slow_burn",
            "description": "Daily burn is high",
            "metric_path": "budget.daily_burn_usd",
            "comparator": "gt",
            "threshold": 50,
            "severity": "critical",
            "target_altitudes": ["config_tuning", "architecture"]
        });
        let def: CustomRuleDefinition = serde_json::from_value(json.clone())?;
        assert!(def.enabled, "enabled defaults to true");
        assert_eq!(def.comparator, Comparator::Gt);
        assert_eq!(def.severity, RuleSeverity::Critical);
        let mut extra = json;
        extra["id"] = "x".into();
        assert!(serde_json::from_value::<CustomRuleDefinition>(extra).is_err());
        Ok(())
    }
}
