//! [`RuleEngine`]: runs every enabled rule on a snapshot, isolates the ones that fail (by
//! error or by panic) and returns the matches most urgent first.
//!
//! A NaN or an infinity never makes a rule fire: the engine evaluates a snapshot whose
//! non-finite domains are replaced by their empty summaries
//! ([`OrgSignalSnapshot::quarantine_non_finite`]), a rule that reports a non-finite input
//! ([`RuleError::NonFinite`]) is treated as having no data, and a match whose evidence holds a
//! non-finite number is dropped. Each case leaves a note in [`Evaluation::notes`].

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::altitude::Altitude;
use crate::rules::{
    ContextValue, CustomRuleDefinition, CustomRuleError, DeclarativeRule, Rule, RuleError,
    RuleMatch, RuleSeverity, RulesConfig, builtin_rules,
};
use crate::snapshot::OrgSignalSnapshot;

/// A rule that could not be evaluated; the others were still evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleFailure {
    /// The rule's name.
    pub rule: String,
    /// What went wrong (an error message or a panic message).
    pub error: String,
}

/// The outcome of one engine run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    /// Matches, critical first, then warning, then info; registration order within a severity.
    pub matches: Vec<RuleMatch>,
    /// Rules that failed, in registration order.
    pub failures: Vec<RuleFailure>,
    /// Inputs treated as "no data" because they were NaN or infinite (a quarantined domain, a
    /// rule that skipped a non-finite input, a match dropped for non-finite evidence). Such an
    /// input never makes a rule fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the engine knows about one registered rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleInfo {
    /// Name.
    pub name: String,
    /// Severity of its matches.
    pub severity: RuleSeverity,
    /// Altitudes its matches suggest.
    pub altitudes: Vec<Altitude>,
    /// What it detects.
    pub description: String,
    /// Whether [`RuleEngine::evaluate`] runs it.
    pub enabled: bool,
}

/// Why a rule could not be added to the engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AddRuleError {
    /// Another registered rule has the same name; matches would be ambiguous.
    #[error("a rule named '{0}' is already registered")]
    Duplicate(String),
    /// The custom rule definition is invalid.
    #[error("invalid custom rule: {0}")]
    Invalid(#[from] CustomRuleError),
}

struct Entry {
    rule: Box<dyn Rule>,
    enabled: bool,
}

/// Runs rules on snapshots. Holds every registered rule, enabled or not, in registration
/// order.
pub struct RuleEngine {
    entries: Vec<Entry>,
}

impl fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| {
                (
                    e.rule.name(),
                    if e.enabled { "enabled" } else { "disabled" },
                )
            }))
            .finish()
    }
}

impl RuleEngine {
    /// An engine running `rules`, all enabled, in this order. Names must be unique.
    pub fn new(rules: Vec<Box<dyn Rule>>) -> Result<Self, AddRuleError> {
        let mut engine = Self {
            entries: Vec::with_capacity(rules.len()),
        };
        for rule in rules {
            engine.add(rule)?;
        }
        Ok(engine)
    }

    /// The built-in rules with the configured thresholds; those named in `disabled` are
    /// registered but switched off (so [`rules`](Self::rules) still lists them). Unknown names
    /// in `disabled` are ignored here: reject them first with [`RulesConfig::validate`].
    pub fn from_config(config: &RulesConfig) -> Self {
        let entries = builtin_rules(&config.thresholds)
            .into_iter()
            .map(|rule| {
                let enabled = !config.disabled.iter().any(|d| d == rule.name());
                Entry { rule, enabled }
            })
            .collect();
        Self { entries }
    }

    /// Registers `rule` (enabled) after the existing ones.
    pub fn add(&mut self, rule: Box<dyn Rule>) -> Result<(), AddRuleError> {
        if self.entries.iter().any(|e| e.rule.name() == rule.name()) {
            return Err(AddRuleError::Duplicate(rule.name().to_owned()));
        }
        self.entries.push(Entry {
            rule,
            enabled: true,
        });
        Ok(())
    }

    /// Validates `definition` and registers it as a [`DeclarativeRule`], enabled or not as
    /// the definition says.
    pub fn add_custom(&mut self, definition: CustomRuleDefinition) -> Result<(), AddRuleError> {
        let enabled = definition.enabled;
        let rule = DeclarativeRule::new(definition)?;
        let name = rule.name().to_owned();
        self.add(Box::new(rule))?;
        self.set_enabled(&name, enabled);
        Ok(())
    }

    /// Switches the rule called `name` on or off. Returns whether such a rule exists.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> bool {
        match self.entries.iter_mut().find(|e| e.rule.name() == name) {
            Some(entry) => {
                entry.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Every registered rule, in registration order.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.entries
            .iter()
            .map(|e| RuleInfo {
                name: e.rule.name().to_owned(),
                severity: e.rule.severity(),
                altitudes: e.rule.target_altitudes().to_vec(),
                description: e.rule.description().to_owned(),
                enabled: e.enabled,
            })
            .collect()
    }

    /// Evaluates every enabled rule on `snapshot`. A rule that returns an error, panics or
    /// produces a malformed match is reported in [`Evaluation::failures`] (and logged) and
    /// does not stop the others.
    pub fn evaluate(&self, snapshot: &OrgSignalSnapshot) -> Evaluation {
        let mut out = Evaluation::default();
        let quarantined;
        let snapshot = if snapshot.non_finite().is_empty() {
            snapshot
        } else {
            let mut copy = snapshot.clone();
            for f in copy.quarantine_non_finite() {
                tracing::warn!(domain = f.domain.as_str(), error = %f.error, "non-finite snapshot value; its domain is treated as no data");
                out.notes
                    .push(format!("{}: {}", f.domain.as_str(), f.error));
            }
            quarantined = copy;
            &quarantined
        };
        for entry in self.entries.iter().filter(|e| e.enabled) {
            let rule = entry.rule.as_ref();
            let outcome = catch_unwind(AssertUnwindSafe(|| rule.evaluate(snapshot)));
            let result = match outcome {
                Ok(Ok(Some(m))) => match non_finite_evidence(&m) {
                    Some(key) => {
                        out.notes.push(format!(
                            "rule {}: evidence `{key}` is not a finite number; treated as no data (the match was dropped)",
                            rule.name()
                        ));
                        Ok(None)
                    }
                    None => check_match(rule, m).map(Some),
                },
                Ok(Ok(None)) => Ok(None),
                Ok(Err(e @ RuleError::NonFinite { .. })) => {
                    out.notes.push(format!(
                        "rule {}: {e}; treated as no data (the rule did not fire)",
                        rule.name()
                    ));
                    Ok(None)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(payload) => Err(format!("rule panicked: {}", panic_message(&*payload))),
            };
            match result {
                Ok(Some(m)) => {
                    tracing::debug!(rule = rule.name(), severity = %m.severity, "rule matched");
                    out.matches.push(m);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(rule = rule.name(), %error, "rule evaluation failed; skipping it");
                    out.failures.push(RuleFailure {
                        rule: rule.name().to_owned(),
                        error,
                    });
                }
            }
        }
        // `sort_by_key` is stable: registration order is kept within a severity.
        out.matches.sort_by_key(|m| m.severity.rank());
        out
    }
}

/// Rejects matches that break the [`RuleMatch`] contract: reported under the rule's own name,
/// with a non-blank description and at least one suggested altitude.
fn check_match(rule: &dyn Rule, m: RuleMatch) -> Result<RuleMatch, String> {
    if m.rule_name != rule.name() {
        return Err(format!(
            "invalid match: reported under the name '{}'",
            m.rule_name
        ));
    }
    if m.description.trim().is_empty() {
        return Err("invalid match: blank description".to_owned());
    }
    if m.suggested_altitudes.is_empty() {
        return Err("invalid match: no suggested altitude".to_owned());
    }
    Ok(m)
}

/// The first evidence key of `m` holding a NaN or an infinity.
fn non_finite_evidence(m: &RuleMatch) -> Option<&str> {
    m.signal_context
        .iter()
        .find(|(_, v)| matches!(v, ContextValue::Number(x) if !x.is_finite()))
        .map(|(k, _)| k.as_str())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::empty_snapshot;
    use crate::rules::{BUILTIN_RULE_NAMES, Comparator, RuleError, context};

    /// A test rule with a fixed behaviour.
    struct Fixed {
        name: &'static str,
        severity: RuleSeverity,
        behaviour: Behaviour,
    }

    enum Behaviour {
        Match,
        NoMatch,
        Fail,
        Panic,
        NoAltitudes,
    }

    impl Rule for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn severity(&self) -> RuleSeverity {
            self.severity
        }
        fn target_altitudes(&self) -> &[Altitude] {
            match self.behaviour {
                Behaviour::NoAltitudes => &[],
                _ => &[Altitude::ConfigTuning],
            }
        }
        fn description(&self) -> &str {
            "test rule"
        }
        fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
            match self.behaviour {
                Behaviour::Match | Behaviour::NoAltitudes => Ok(Some(RuleMatch::for_rule(
                    self,
                    s,
                    format!("{} matched", self.name),
                    context([]),
                ))),
                Behaviour::NoMatch => Ok(None),
                Behaviour::Fail => Err(RuleError::Failed("store unavailable".into())),
                Behaviour::Panic => panic!("index out of bounds in {}", self.name),
            }
        }
    }

    fn fixed(name: &'static str, severity: RuleSeverity, behaviour: Behaviour) -> Box<dyn Rule> {
        Box::new(Fixed {
            name,
            severity,
            behaviour,
        })
    }

    fn names(e: &Evaluation) -> Vec<&str> {
        e.matches.iter().map(|m| m.rule_name.as_str()).collect()
    }

    #[test]
    fn matches_are_stable_sorted_by_severity() -> Result<(), AddRuleError> {
        use RuleSeverity::{Critical, Info, Warning};
        let engine = RuleEngine::new(vec![
            fixed("info_a", Info, Behaviour::Match),
            fixed("warn_a", Warning, Behaviour::Match),
            fixed("crit_a", Critical, Behaviour::Match),
            fixed("info_b", Info, Behaviour::Match),
            fixed("quiet", Critical, Behaviour::NoMatch),
            fixed("warn_b", Warning, Behaviour::Match),
            fixed("crit_b", Critical, Behaviour::Match),
        ])?;
        let e = engine.evaluate(&empty_snapshot());
        assert_eq!(
            names(&e),
            ["crit_a", "crit_b", "warn_a", "warn_b", "info_a", "info_b"]
        );
        assert!(e.failures.is_empty());
        Ok(())
    }

    #[test]
    fn failing_and_panicking_rules_are_isolated_and_reported() -> Result<(), AddRuleError> {
        use RuleSeverity::Warning;
        let engine = RuleEngine::new(vec![
            fixed("before", Warning, Behaviour::Match),
            fixed("errs", Warning, Behaviour::Fail),
            fixed("panics", Warning, Behaviour::Panic),
            fixed("malformed", Warning, Behaviour::NoAltitudes),
            fixed("after", Warning, Behaviour::Match),
        ])?;
        let e = engine.evaluate(&empty_snapshot());
        assert_eq!(names(&e), ["before", "after"]);
        assert_eq!(
            e.failures,
            [
                RuleFailure {
                    rule: "errs".into(),
                    error: "store unavailable".into()
                },
                RuleFailure {
                    rule: "panics".into(),
                    error: "rule panicked: index out of bounds in panics".into()
                },
                RuleFailure {
                    rule: "malformed".into(),
                    error: "invalid match: no suggested altitude".into()
                },
            ]
        );
        Ok(())
    }

    #[test]
    fn disabled_rules_are_listed_but_skipped() {
        let config = RulesConfig {
            disabled: vec!["error_spike".into(), "budget_overrun".into()],
            ..RulesConfig::default()
        };
        let engine = RuleEngine::from_config(&config);
        let infos = engine.rules();
        let listed: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(listed, BUILTIN_RULE_NAMES);
        let disabled: Vec<&str> = infos
            .iter()
            .filter(|i| !i.enabled)
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(disabled, ["budget_overrun", "error_spike"]);

        let mut s = empty_snapshot();
        s.errors.total_findings = 50;
        s.budget.days_until_exhausted = Some(1);
        s.coordination.redundancy_rate = Some(0.9);
        let e = engine.evaluate(&s);
        assert_eq!(names(&e), ["redundancy"]);

        let all_on = RuleEngine::from_config(&RulesConfig::default()).evaluate(&s);
        assert_eq!(
            names(&all_on),
            ["budget_overrun", "error_spike", "redundancy"]
        );
    }

    #[test]
    fn rule_info_describes_each_rule() {
        let engine = RuleEngine::from_config(&RulesConfig::default());
        let infos = engine.rules();
        let Some(budget) = infos.iter().find(|i| i.name == "budget_overrun") else {
            panic!("budget_overrun missing");
        };
        assert_eq!(budget.severity, RuleSeverity::Critical);
        assert_eq!(budget.altitudes, [Altitude::ConfigTuning]);
        assert!(
            budget.description.contains("14 days"),
            "{}",
            budget.description
        );
        assert!(budget.enabled);
    }

    #[test]
    fn custom_rules_join_the_builtins_and_names_stay_unique() -> Result<(), AddRuleError> {
        let mut engine = RuleEngine::from_config(&RulesConfig::default());
        let def = CustomRuleDefinition {
            name: "many_events".into(),
            description: "Telemetry volume is high".into(),
            metric_path: "telemetry.event_count".into(),
            comparator: Comparator::Ge,
            threshold: 100.0,
            severity: RuleSeverity::Critical,
            target_altitudes: vec![Altitude::Architecture],
            enabled: true,
        };
        engine.add_custom(def.clone())?;
        let disabled = CustomRuleDefinition {
            name: "also_many_events".into(),
            enabled: false,
            ..def.clone()
        };
        engine.add_custom(disabled)?;
        assert_eq!(
            engine.add_custom(def.clone()),
            Err(AddRuleError::Duplicate("many_events".into()))
        );
        assert!(matches!(
            engine.add_custom(CustomRuleDefinition {
                name: "bad".into(),
                metric_path: "telemetry.nope".into(),
                ..def
            }),
            Err(AddRuleError::Invalid(_))
        ));
        assert_eq!(engine.rules().len(), 12);

        let mut s = empty_snapshot();
        s.telemetry.event_count = 100;
        s.errors.total_findings = 11;
        let e = engine.evaluate(&s);
        assert_eq!(names(&e), ["many_events", "error_spike"]);

        assert!(engine.set_enabled("also_many_events", true));
        assert!(!engine.set_enabled("no_such_rule", true));
        let e = engine.evaluate(&s);
        assert_eq!(
            names(&e),
            ["many_events", "also_many_events", "error_spike"]
        );
        Ok(())
    }

    #[test]
    fn new_rejects_duplicate_names() {
        use RuleSeverity::Info;
        let result = RuleEngine::new(vec![
            fixed("same", Info, Behaviour::Match),
            fixed("same", Info, Behaviour::NoMatch),
        ]);
        assert!(matches!(result, Err(AddRuleError::Duplicate(n)) if n == "same"));
    }

    #[test]
    fn non_finite_inputs_never_fire_and_leave_notes() {
        // The snapshot: total spend infinite, so the forecast said "0 days".
        let mut s = empty_snapshot();
        s.budget.total_spend = f64::INFINITY;
        s.budget.daily_burn_usd = Some(f64::INFINITY);
        s.budget.remaining_usd = Some(100.0);
        s.budget.days_until_exhausted = Some(0);
        s.coordination.coordination_overhead_pct = Some(f64::NAN);
        let engine = RuleEngine::from_config(&RulesConfig::default());
        let e = engine.evaluate(&s);
        assert!(
            e.matches.is_empty(),
            "fired on non-finite input: {:?}",
            names(&e)
        );
        assert!(e.failures.is_empty(), "{:?}", e.failures);
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
        assert!(e.notes[0].starts_with("budget: non-finite number at budget.total_spend (inf)"));
        assert!(e.notes[1].contains("coordination.coordination_overhead_pct"));
    }

    /// A rule that reports a non-finite input, or puts one in its evidence.
    struct NonFiniteRule(bool);

    impl Rule for NonFiniteRule {
        fn name(&self) -> &str {
            "non_finite"
        }
        fn severity(&self) -> RuleSeverity {
            RuleSeverity::Critical
        }
        fn target_altitudes(&self) -> &[Altitude] {
            &[Altitude::ConfigTuning]
        }
        fn description(&self) -> &str {
            "test rule"
        }
        fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
            if self.0 {
                return Err(RuleError::NonFinite {
                    path: "x.y".into(),
                    value: f64::NAN,
                });
            }
            Ok(Some(RuleMatch::for_rule(
                self,
                s,
                "fires".into(),
                context([("value", f64::INFINITY.into())]),
            )))
        }
    }

    #[test]
    fn a_rule_reporting_or_citing_a_non_finite_number_does_not_fire() -> Result<(), AddRuleError> {
        for reports in [true, false] {
            let engine = RuleEngine::new(vec![Box::new(NonFiniteRule(reports))])?;
            let e = engine.evaluate(&empty_snapshot());
            assert!(e.matches.is_empty());
            assert!(e.failures.is_empty());
            assert_eq!(e.notes.len(), 1);
            assert!(
                e.notes[0].starts_with("rule non_finite: "),
                "{}",
                e.notes[0]
            );
            assert!(e.notes[0].contains("treated as no data"), "{}", e.notes[0]);
        }
        Ok(())
    }

    #[test]
    fn evaluation_serialises() -> Result<(), serde_json::Error> {
        let mut s = empty_snapshot();
        s.errors.total_findings = 11;
        let e = RuleEngine::from_config(&RulesConfig::default()).evaluate(&s);
        let json = serde_json::to_value(&e)?;
        assert_eq!(json["matches"][0]["rule_name"], "error_spike");
        assert_eq!(json["matches"][0]["signal_context"]["total_findings"], 11);
        assert_eq!(serde_json::from_value::<Evaluation>(json)?, e);
        Ok(())
    }
}
