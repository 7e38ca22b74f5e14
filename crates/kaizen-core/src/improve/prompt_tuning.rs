//! [`PromptTuningStrategy`]: a constitutional principle (mode `append`) whose text names the
//! evidence. Templates by rule:
//!
//! * `error_spike` → org-wide: re-check the most frequent error category before finishing,
//!   naming it and its count.
//! * `quality_declining` → scoped to the department with the lowest quality score when the
//!   snapshot has per-department scores (org-wide otherwise): prefer correct over fast, naming
//!   the department's score and the threshold.
//! * `benchmark_regression` → org-wide: name the suite, the latest score and the drop.
//! * any other rule → the rule's own description, as a reminder.
//!
//! A match whose context names a `department` of the org scopes the principle to it. The
//! principle's id is `kaizen-<rule>[-<department>]`: when it exists already with another text
//! the proposal updates it (fresh numbers), with the same text the match is skipped. A text
//! equal to any other principle's (ignoring case) is never proposed.

use std::sync::Arc;

use super::strategy::{
    Draft, ImprovementStrategy, LlmSynthesizer, StrategyContext, StrategyError, StrategyNote,
    StrategyOutput, finish,
};
use crate::altitude::Altitude;
use crate::org::{
    MAX_PRINCIPLE_CHARS, MIN_PRINCIPLE_CHARS, OrgChange, OrgDocument, Principle, PrincipleMode,
    PrincipleScope, normalize_text,
};
use crate::rules::{ContextValue, RuleMatch};
use crate::snapshot::OrgSignalSnapshot;

/// The prompt-tuning strategy (deterministic templates; an optional synthesizer refines).
#[derive(Clone, Default)]
pub struct PromptTuningStrategy {
    synthesizer: Option<Arc<dyn LlmSynthesizer>>,
}

impl std::fmt::Debug for PromptTuningStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTuningStrategy")
            .field("synthesizer", &self.synthesizer.is_some())
            .finish()
    }
}

impl PromptTuningStrategy {
    /// The strategy without a synthesizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `synthesizer` refine each proposal.
    #[must_use]
    pub fn with_synthesizer(mut self, synthesizer: Option<Arc<dyn LlmSynthesizer>>) -> Self {
        self.synthesizer = synthesizer;
        self
    }
}

impl ImprovementStrategy for PromptTuningStrategy {
    fn name(&self) -> &'static str {
        "prompt_tuning"
    }

    fn altitude(&self) -> Altitude {
        Altitude::PromptTuning
    }

    fn propose(&self, ctx: &StrategyContext<'_>) -> Result<StrategyOutput, StrategyError> {
        let mut out = StrategyOutput::default();
        for m in ctx.matches_for(Altitude::PromptTuning) {
            let (scope, text) = template(m, ctx.org, ctx.snapshot);
            match principle_change(m, ctx.org, scope, &text) {
                Ok(draft) => finish(
                    Altitude::PromptTuning,
                    m,
                    draft,
                    ctx,
                    self.synthesizer.as_ref(),
                    &mut out,
                ),
                Err(reason) => out.notes.push(StrategyNote::skipped(&m.rule_name, reason)),
            }
        }
        Ok(out)
    }
}

fn text_of(v: Option<&ContextValue>) -> Option<String> {
    match v? {
        ContextValue::Text(s) => Some(s.clone()),
        ContextValue::Int(i) => Some(i.to_string()),
        ContextValue::Number(x) => Some(format!("{x:.2}")),
        ContextValue::Null => None,
    }
}

/// The window's length in whole days (at least 1), for texts.
fn window_days(s: &OrgSignalSnapshot) -> i64 {
    (s.window.until - s.window.since).num_days().max(1)
}

/// The scope and raw text of the principle answering `m`.
fn template(m: &RuleMatch, org: &OrgDocument, s: &OrgSignalSnapshot) -> (PrincipleScope, String) {
    let ctx = &m.signal_context;
    let days = window_days(s);
    let named_department = text_of(ctx.get("department")).filter(|d| org.department(d).is_some());
    let mut scope = named_department.map_or(PrincipleScope::All, PrincipleScope::Department);
    let text = match m.rule_name.as_str() {
        "error_spike" => {
            let total = s.errors.total_findings;
            match s.errors.categories.first() {
                Some(top) => format!(
                    "Before you report a task as done, re-check your output for `{}` errors: they are the most frequent kind of error in this organisation ({} of {total} findings in the last {days} days). Look for contradictions, missing steps and results that do not match what was asked, and fix them before finishing.",
                    top.category, top.count
                ),
                None => format!(
                    "Before you report a task as done, re-check your output: this organisation recorded {total} error findings in the last {days} days. Look for contradictions, missing steps and results that do not match what was asked, and fix them before finishing."
                ),
            }
        }
        "quality_declining" => {
            let threshold = text_of(ctx.get("threshold")).unwrap_or_else(|| "target".into());
            let worst = s
                .performance
                .department_summaries
                .iter()
                .filter(|(id, _)| org.department(id).is_some())
                .filter_map(|(id, d)| {
                    d.avg_quality_score
                        .filter(|q| q.is_finite())
                        .map(|q| (id, q))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
            let lead = match (worst, &scope) {
                (Some((dept, q)), PrincipleScope::All) => {
                    scope = PrincipleScope::Department(dept.clone());
                    format!(
                        "Work in the {dept} department averaged a quality score of {q:.1}/10 over the last {days} days, below the {threshold} the organisation aims for."
                    )
                }
                _ => format!(
                    "The average quality score of this organisation's work ({}) fell below {threshold}/10 over the last {days} days.",
                    text_of(ctx.get("avg_quality")).unwrap_or_else(|| "n/a".into())
                ),
            };
            format!(
                "{lead} Prefer a correct, complete result over a fast one: check your work against every requirement of the task before submitting it, and ask when a requirement is unclear."
            )
        }
        "benchmark_regression" => {
            let suite = text_of(ctx.get("suite")).unwrap_or_else(|| "benchmark".into());
            let latest = text_of(ctx.get("latest_total")).unwrap_or_else(|| "n/a".into());
            let best = text_of(ctx.get("max_total")).unwrap_or_else(|| "n/a".into());
            format!(
                "The latest run of the `{suite}` benchmark scored {latest}, below the best run's {best}. Until it recovers, follow the established procedure for each task step by step and verify each result against what the task asked for before you report it."
            )
        }
        rule => format!(
            "The `{rule}` check reports: {}. Keep this in mind in your work, and say in your report what you did about it.",
            m.description.trim_end_matches('.')
        ),
    };
    (scope, text)
}

/// `kaizen-<rule>[-<department>]`, lower case, other characters as `-`.
fn principle_id(rule: &str, scope: &PrincipleScope) -> String {
    let mut id = format!("kaizen-{rule}");
    if let PrincipleScope::Department(d) | PrincipleScope::Role(d) = scope {
        id.push('-');
        id.push_str(d);
    }
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(200)
        .collect()
}

/// Cuts `text` to at most `max` characters, on a word boundary when there is one.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

fn principle_change(
    m: &RuleMatch,
    org: &OrgDocument,
    scope: PrincipleScope,
    raw: &str,
) -> Result<Draft, String> {
    let text = truncate_chars(&normalize_text(raw), MAX_PRINCIPLE_CHARS);
    if text.chars().count() < MIN_PRINCIPLE_CHARS {
        return Err(format!(
            "the principle text would have fewer than {MIN_PRINCIPLE_CHARS} characters"
        ));
    }
    let id = principle_id(&m.rule_name, &scope);
    let key = text.to_lowercase();
    if let Some(dup) = org
        .principles
        .iter()
        .find(|p| p.id != id && normalize_text(&p.text).to_lowercase() == key)
    {
        return Err(format!("principle {} already says this", dup.id));
    }
    let principle = Principle {
        id: id.clone(),
        scope: scope.clone(),
        text: text.clone(),
        mode: PrincipleMode::Append,
    };
    let description = format!(
        "{}. Add to the prompts of {}: \"{text}\"",
        m.description.trim_end_matches('.'),
        match &scope {
            PrincipleScope::All => "every agent".to_owned(),
            PrincipleScope::Department(d) => format!("the agents of department {d}"),
            PrincipleScope::Role(r) => format!("the agents with role {r}"),
        }
    );
    match org.principle(&id) {
        Some(existing) if normalize_text(&existing.text).to_lowercase() == key => {
            Err(format!("principle {id} is already in place with this text"))
        }
        Some(existing) => Ok(Draft {
            title: format!("Update principle {id} ({scope}) with current evidence"),
            description,
            changes: vec![OrgChange::UpdatePrinciple {
                id,
                from: existing.clone(),
                to: principle,
            }],
            alternatives: Vec::new(),
        }),
        None => Ok(Draft {
            title: format!("Add principle {id} ({scope})"),
            description,
            changes: vec![OrgChange::AddPrinciple(principle)],
            alternatives: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::improve::strategy::tests::{check_output, context, rule_match};
    use crate::rules::tests::empty_snapshot;
    use crate::snapshot::{DepartmentSummary, ErrorCategorySummary, TrendDirection};

    fn run(org: &OrgDocument, s: &OrgSignalSnapshot, m: RuleMatch) -> StrategyOutput {
        let matches = [m];
        let ctx = context(s, &matches, org);
        let out = match PromptTuningStrategy::new().propose(&ctx) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        };
        check_output(Altitude::PromptTuning, &out, org);
        out
    }

    fn added(out: &StrategyOutput) -> &Principle {
        match out.proposals.first().and_then(|p| p.changes.first()) {
            Some(OrgChange::AddPrinciple(p)) => p,
            other => panic!(
                "expected an added principle, got {other:?} ({:?})",
                out.notes
            ),
        }
    }

    fn error_snapshot() -> OrgSignalSnapshot {
        let mut s = empty_snapshot();
        s.errors.total_findings = 23;
        s.errors.categories = vec![ErrorCategorySummary {
            category: "logical_contradiction".into(),
            count: 14,
            avg_severity: 2.0,
            trend: TrendDirection::Declining,
        }];
        s
    }

    fn spike() -> RuleMatch {
        rule_match(
            "error_spike",
            &[Altitude::PromptTuning],
            &[
                ("total_findings", ContextValue::Int(23)),
                ("threshold", ContextValue::Int(10)),
            ],
        )
    }

    #[test]
    fn error_spike_names_the_top_category() {
        let org = OrgDocument::standard();
        let out = run(&org, &error_snapshot(), spike());
        let p = added(&out);
        assert_eq!(p.id, "kaizen-error-spike");
        assert_eq!(p.scope, PrincipleScope::All);
        assert_eq!(p.mode, PrincipleMode::Append);
        assert!(
            p.text.contains("`logical_contradiction` errors")
                && p.text.contains("(14 of 23 findings in the last 7 days)"),
            "{}",
            p.text
        );
        assert_eq!(out.proposals[0].confidence, 0.9);
    }

    #[test]
    fn an_existing_principle_is_updated_or_left_alone() {
        let org = OrgDocument::standard();
        let out = run(&org, &error_snapshot(), spike());
        let Ok(after) = org.apply(&out.proposals[0].changes) else {
            panic!("does not apply");
        };
        // Same evidence: nothing new to say.
        let again = run(&after, &error_snapshot(), spike());
        assert!(again.proposals.is_empty());
        assert!(again.notes[0].message.contains("already in place"));
        // New numbers: the principle is updated, not duplicated.
        let mut s = error_snapshot();
        s.errors.total_findings = 40;
        let fresh = run(&after, &s, spike());
        assert!(matches!(
            fresh.proposals[0].changes[..],
            [OrgChange::UpdatePrinciple { .. }]
        ));
    }

    #[test]
    fn a_text_equal_to_another_principle_is_never_proposed() {
        let org = OrgDocument::standard();
        let out = run(&org, &error_snapshot(), spike());
        let mut other = added(&out).clone();
        other.id = "hand-written".into();
        other.text = other.text.to_uppercase();
        let mut org = OrgDocument::standard();
        org.principles.push(other);
        let out = run(&org.canonical(), &error_snapshot(), spike());
        assert!(out.proposals.is_empty());
        assert!(out.notes[0].message.contains("hand-written"));
    }

    #[test]
    fn quality_declining_is_scoped_to_the_weakest_department() {
        let mut s = empty_snapshot();
        for (d, q) in [("engineering", 7.5), ("support", 3.2)] {
            s.performance.department_summaries.insert(
                d.into(),
                DepartmentSummary {
                    avg_quality_score: Some(q),
                    ..DepartmentSummary::default()
                },
            );
        }
        let m = rule_match(
            "quality_declining",
            &[Altitude::PromptTuning],
            &[("avg_quality", 4.1.into()), ("threshold", 5.0.into())],
        );
        let out = run(&OrgDocument::standard(), &s, m.clone());
        let p = added(&out);
        assert_eq!(p.id, "kaizen-quality-declining-support");
        assert_eq!(p.scope, PrincipleScope::Department("support".into()));
        assert!(
            p.text
                .contains("support department averaged a quality score of 3.2/10")
        );
        // Without department data: org-wide, with the org's number.
        let out = run(&OrgDocument::standard(), &empty_snapshot(), m);
        let p = added(&out);
        assert_eq!(p.scope, PrincipleScope::All);
        assert!(p.text.contains("(4.10) fell below 5.00/10"), "{}", p.text);
    }

    #[test]
    fn a_named_department_scopes_other_rules_and_long_texts_are_cut() {
        let long = "x ".repeat(3000);
        let mut m = rule_match(
            "my_rule",
            &[Altitude::PromptTuning],
            &[("department", "sales".into())],
        );
        m.description = long;
        let out = run(&OrgDocument::standard(), &empty_snapshot(), m);
        let p = added(&out);
        assert_eq!(p.scope, PrincipleScope::Department("sales".into()));
        assert!(p.text.chars().count() <= MAX_PRINCIPLE_CHARS);
        assert!(p.text.ends_with('…'));
    }

    #[test]
    fn benchmark_regression_names_the_suite() {
        let m = rule_match(
            "benchmark_regression",
            &[Altitude::PromptTuning],
            &[
                ("suite", "core".into()),
                ("latest_total", 71.0.into()),
                ("max_total", 80.0.into()),
                ("delta", (-9.0).into()),
            ],
        );
        let out = run(&OrgDocument::standard(), &empty_snapshot(), m);
        assert!(
            added(&out)
                .text
                .contains("`core` benchmark scored 71.00, below the best run's 80.00")
        );
    }
}
