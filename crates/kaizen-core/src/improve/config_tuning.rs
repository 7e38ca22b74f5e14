//! [`ConfigTuningStrategy`]: answers a rule with the first adjustment of its playbook that
//! changes something, computed from the current org document and clamped to the knob.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::knobs::KnobRegistry;
use super::memory::Recall;
use super::playbooks::{AdjustOp, Adjustment, Computed, Playbooks};
use super::strategy::{
    Draft, ImprovementStrategy, LlmSynthesizer, StrategyContext, StrategyError, StrategyNote,
    StrategyOutput, finish,
};
use crate::altitude::Altitude;
use crate::org::OrgChange;

/// The config-tuning strategy: knobs and playbooks, no templates with fixed values.
///
/// For each match with a playbook it tries the alternatives in order and proposes the first
/// that yields a change; the others, with their computed change or the reason they yield
/// none, go into the proposal's `alternatives`. Within one run a knob is changed by at most
/// one proposal (matches come most severe first): a later match whose adjustment targets an
/// already claimed knob moves on to its next alternative, so two proposals of one cycle never
/// contradict each other (`budget_overrun` lowering the tier while `quality_declining` raises
/// it) or go stale against each other.
///
/// With a memory in the context ([`StrategyContext::memory`]), an alternative it rules out (a
/// failed fix of the same knob for the rule, the same change rejected or rolled back within
/// its cooldown, an undo of a recently applied change) is skipped with the reason, and the
/// next one is proposed.
#[derive(Clone)]
pub struct ConfigTuningStrategy {
    registry: KnobRegistry,
    playbooks: Playbooks,
    synthesizer: Option<Arc<dyn LlmSynthesizer>>,
}

impl std::fmt::Debug for ConfigTuningStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigTuningStrategy")
            .field("registry", &self.registry)
            .field("playbooks", &self.playbooks)
            .field("synthesizer", &self.synthesizer.is_some())
            .finish()
    }
}

impl ConfigTuningStrategy {
    /// A strategy over `registry` and `playbooks` (check them first with
    /// [`Playbooks::validate`]; an adjustment that does not fit at run time becomes a
    /// failed note, not a proposal).
    pub fn new(registry: KnobRegistry, playbooks: Playbooks) -> Self {
        Self {
            registry,
            playbooks,
            synthesizer: None,
        }
    }

    /// [`KnobRegistry::standard`] with [`Playbooks::standard`].
    pub fn standard() -> Self {
        Self::new(KnobRegistry::standard(), Playbooks::standard())
    }

    /// Lets `synthesizer` refine each proposal.
    #[must_use]
    pub fn with_synthesizer(mut self, synthesizer: Option<Arc<dyn LlmSynthesizer>>) -> Self {
        self.synthesizer = synthesizer;
        self
    }

    /// The knob registry.
    pub fn registry(&self) -> &KnobRegistry {
        &self.registry
    }

    /// The playbooks.
    pub fn playbooks(&self) -> &Playbooks {
        &self.playbooks
    }
}

/// Why the memory rules out proposing `change` (an adjustment of `knob`) for `m`: a failed
/// fix of the same knob for the same rule, the same change turned down within its cooldown,
/// or an undo of a recently applied change. The memory guard would refuse the last two; here
/// the next alternative gets its chance instead.
fn remembered(
    ctx: &StrategyContext<'_>,
    m: &crate::rules::RuleMatch,
    knob: &str,
    change: &OrgChange,
) -> Option<String> {
    let memory = ctx.memory?;
    if let Some(why) = memory.failed_fix(&m.rule_name, knob) {
        return Some(why);
    }
    let changes = std::slice::from_ref(change);
    if let Some(why) = memory.undoes(changes) {
        return Some(why);
    }
    let evidence = crate::improve::proposal::Rationale::from_match(m);
    match memory.recall(Altitude::ConfigTuning, &evidence, changes) {
        Recall::Blocked(why) => Some(why),
        Recall::Fresh | Recall::Changed(_) => None,
    }
}

/// `Lower`, `Raise`, `Enable`, `Disable` or `Set`, for titles.
fn verb(op: &AdjustOp) -> &'static str {
    match op {
        AdjustOp::StepDown(_) => "Lower",
        AdjustOp::StepUp(_) => "Raise",
        AdjustOp::ScaleBy(x) if *x < 1.0 => "Lower",
        AdjustOp::ScaleBy(_) => "Raise",
        AdjustOp::Add(x) if *x < 0.0 => "Lower",
        AdjustOp::Add(_) => "Raise",
        AdjustOp::Set(_) => "Set",
        AdjustOp::Enable => "Enable",
        AdjustOp::Disable => "Disable",
    }
}

impl ImprovementStrategy for ConfigTuningStrategy {
    fn name(&self) -> &'static str {
        "config_tuning"
    }

    fn altitude(&self) -> Altitude {
        Altitude::ConfigTuning
    }

    fn propose(&self, ctx: &StrategyContext<'_>) -> Result<StrategyOutput, StrategyError> {
        let mut out = StrategyOutput::default();
        // Knob path → the rule whose proposal of this run changes it.
        let mut claimed: BTreeMap<String, String> = BTreeMap::new();
        for m in ctx.matches_for(Altitude::ConfigTuning) {
            let rule = m.rule_name.as_str();
            let Some(playbook) = self.playbooks.for_rule(rule) else {
                out.notes
                    .push(StrategyNote::skipped(rule, "no playbook for this rule"));
                continue;
            };
            let mut chosen: Option<(&Adjustment, OrgChange)> = None;
            let mut alternatives = Vec::new();
            for adj in &playbook.alternatives {
                if let Some(other) = claimed.get(&adj.knob) {
                    alternatives.push(format!(
                        "{adj}: not proposed, the `{other}` proposal of this run already changes {}",
                        adj.knob
                    ));
                    continue;
                }
                match adj.compute_in(&ctx.org.settings, &self.registry) {
                    Ok(Computed::Change(change)) => {
                        if let Some(why) = remembered(ctx, m, &adj.knob, &change) {
                            alternatives.push(format!("{adj} ({change}): not proposed, {why}"));
                        } else if chosen.is_some() {
                            alternatives.push(format!(
                                "{adj} ({change}): not proposed, a preferred alternative applies"
                            ));
                        } else {
                            chosen = Some((adj, change));
                        }
                    }
                    Ok(Computed::AtBound { reason } | Computed::NoOp { reason }) => {
                        alternatives.push(format!("{adj}: not applicable, {reason}"));
                    }
                    Err(e) => {
                        out.notes
                            .push(StrategyNote::failed(rule, format!("{adj}: {e}")));
                        alternatives.push(format!("{adj}: not applicable, {e}"));
                    }
                }
            }
            let Some((adj, change)) = chosen else {
                out.notes.push(StrategyNote::skipped(
                    rule,
                    format!(
                        "no adjustment of the playbook changes anything: {}",
                        alternatives.join("; ")
                    ),
                ));
                continue;
            };
            let (from, to) = match &change {
                OrgChange::SetSetting { from, to, .. } => (
                    from.as_ref()
                        .map_or_else(|| "absent".to_owned(), ToString::to_string),
                    to.as_ref()
                        .map_or_else(|| "absent".to_owned(), ToString::to_string),
                ),
                other => (String::new(), other.to_string()),
            };
            let knob_text = self
                .registry
                .get(&adj.knob)
                .map(|k| format!(" ({}; {})", k.description.trim_end_matches('.'), k.kind))
                .unwrap_or_default();
            let draft = Draft {
                title: format!("{} {}: {from} → {to}", verb(&adj.op), adj.knob),
                description: format!(
                    "{}. The `{rule}` playbook answers with `{}` on {}{knob_text}: from the current value {from} to {to}.",
                    m.description.trim_end_matches('.'),
                    adj.op,
                    adj.knob,
                ),
                changes: vec![change],
                alternatives,
            };
            claimed.insert(adj.knob.clone(), rule.to_owned());
            finish(
                Altitude::ConfigTuning,
                m,
                draft,
                ctx,
                self.synthesizer.as_ref(),
                &mut out,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::improve::knobs::{Knob, KnobKind};
    use crate::improve::playbooks::Playbook;
    use crate::improve::strategy::NoteKind;
    use crate::improve::strategy::tests::{FakeSynth, check_output, context, rule_match};
    use crate::org::standard::{
        CENTRALIZED_VERIFICATION, DEFAULT_TIER, MAX_TEAM_SIZE, PER_TASK_LIMIT_USD,
        STRAGGLER_TIMEOUT_SECONDS, WORK_STEALING,
    };
    use crate::org::{OrgDocument, SettingValue};
    use crate::rules::tests::empty_snapshot;
    use crate::rules::{BUILTIN_RULE_NAMES, ContextValue};

    fn budget_match() -> crate::rules::RuleMatch {
        rule_match(
            "budget_overrun",
            &[Altitude::ConfigTuning],
            &[
                ("days_until_exhausted", ContextValue::Int(7)),
                ("threshold", ContextValue::Int(14)),
            ],
        )
    }

    fn with(org: &mut OrgDocument, path: &str, v: SettingValue) {
        if let Err(e) = org.settings.set(path, Some(v)) {
            panic!("{e}");
        }
    }

    fn run(org: &OrgDocument, matches: &[crate::rules::RuleMatch]) -> StrategyOutput {
        let snapshot = empty_snapshot();
        let ctx = context(&snapshot, matches, org);
        let out = match ConfigTuningStrategy::standard().propose(&ctx) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        };
        check_output(Altitude::ConfigTuning, &out, org);
        out
    }

    fn set(path: &str, from: SettingValue, to: SettingValue) -> OrgChange {
        OrgChange::SetSetting {
            path: path.into(),
            from: Some(from),
            to: Some(to),
        }
    }

    #[test]
    fn budget_overrun_steps_the_tier_down_from_the_current_value() {
        let org = OrgDocument::standard();
        let out = run(&org, &[budget_match()]);
        assert_eq!(out.proposals.len(), 1, "{:?}", out.notes);
        let p = &out.proposals[0];
        assert_eq!(
            p.changes,
            vec![set(DEFAULT_TIER, "large".into(), "medium".into())]
        );
        assert_eq!(p.title, "Lower models.default_tier: \"large\" → \"medium\"");
        assert_eq!(p.rationale.rule_name, "budget_overrun");
        assert_eq!(p.rationale.threshold, Some(ContextValue::Int(14)));
        assert_eq!(p.confidence, 0.75);
        assert_eq!(p.source_cycle.as_deref(), Some("c1"));
        assert_eq!(
            p.alternatives,
            vec![
                "budget.per_task_limit_usd: scale by 0.8 (set budget.per_task_limit_usd: 2.0 → 1.6): not proposed, a preferred alternative applies"
            ]
        );
        assert!(out.notes.is_empty());
    }

    #[test]
    fn budget_overrun_at_small_falls_back_to_the_per_task_limit() {
        let mut org = OrgDocument::standard();
        with(&mut org, DEFAULT_TIER, "small".into());
        let out = run(&org, &[budget_match()]);
        assert_eq!(out.proposals.len(), 1);
        let p = &out.proposals[0];
        assert_eq!(
            p.changes,
            vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 1.6.into())]
        );
        assert_eq!(
            p.alternatives,
            vec![
                "models.default_tier: step down 1: not applicable, models.default_tier is already \"small\", the lowest of small < medium < large"
            ]
        );
    }

    #[test]
    fn budget_overrun_with_both_knobs_at_bound_proposes_nothing_and_says_why() {
        let mut org = OrgDocument::standard();
        with(&mut org, DEFAULT_TIER, "small".into());
        with(&mut org, PER_TASK_LIMIT_USD, 0.1.into());
        let out = run(&org, &[budget_match()]);
        assert!(out.proposals.is_empty());
        assert_eq!(out.notes.len(), 1);
        let note = &out.notes[0];
        assert_eq!(note.kind, NoteKind::Skipped);
        assert!(note.message.contains("already \"small\""), "{note}");
        assert!(note.message.contains("minimum 0.1"), "{note}");
    }

    #[test]
    fn a_knob_is_claimed_by_one_proposal_per_run() {
        let org = OrgDocument::standard();
        let matches = [
            budget_match(),
            rule_match("quality_declining", &[Altitude::ConfigTuning], &[]),
            rule_match("coordination_overhead", &[Altitude::ConfigTuning], &[]),
            rule_match("coordination_cost_ratio", &[Altitude::ConfigTuning], &[]),
        ];
        let out = run(&org, &matches);
        let changes: Vec<&OrgChange> = out.proposals.iter().flat_map(|p| &p.changes).collect();
        assert_eq!(
            changes,
            vec![
                &set(DEFAULT_TIER, "large".into(), "medium".into()),
                &set(CENTRALIZED_VERIFICATION, false.into(), true.into()),
                &set(MAX_TEAM_SIZE, 5i64.into(), 4i64.into()),
                &set(
                    crate::org::standard::DEDUPLICATION,
                    false.into(),
                    true.into()
                ),
            ]
        );
        assert!(
            out.proposals[1].alternatives[0].contains("the `budget_overrun` proposal"),
            "{:?}",
            out.proposals[1].alternatives
        );
        // Every proposal applies on top of the others: none is stale.
        let all: Vec<OrgChange> = changes.into_iter().cloned().collect();
        assert!(org.apply(&all).is_ok());
    }

    #[test]
    fn straggler_falls_back_to_the_timeout_and_rules_without_playbook_are_noted() {
        let mut org = OrgDocument::standard();
        with(&mut org, WORK_STEALING, true.into());
        let matches = [
            rule_match("straggler_bottleneck", &[Altitude::ConfigTuning], &[]),
            rule_match("scaling_failure", &[Altitude::ConfigTuning], &[]),
            // Not for this altitude: ignored.
            rule_match("redundancy", &[Altitude::PromptTuning], &[]),
        ];
        let out = run(&org, &matches);
        assert_eq!(out.proposals.len(), 1);
        assert_eq!(
            out.proposals[0].changes,
            vec![set(STRAGGLER_TIMEOUT_SECONDS, 900i64.into(), 675i64.into())]
        );
        assert_eq!(
            out.notes,
            vec![StrategyNote::skipped(
                "scaling_failure",
                "no playbook for this rule"
            )]
        );
    }

    #[test]
    fn knob_errors_are_failed_notes_and_later_alternatives_still_apply() {
        let mut org = OrgDocument::standard();
        with(&mut org, DEFAULT_TIER, 3i64.into());
        let out = run(&org, &[budget_match()]);
        assert_eq!(out.proposals.len(), 1);
        assert_eq!(out.notes.len(), 1);
        assert_eq!(out.notes[0].kind, NoteKind::Failed);
        assert!(
            out.notes[0].message.contains("expects one of"),
            "{}",
            out.notes[0]
        );
        // A missing setting too.
        let mut org = OrgDocument::standard();
        if let Err(e) = org.settings.set(DEFAULT_TIER, None) {
            panic!("{e}");
        }
        let out = run(&org, &[budget_match()]);
        assert!(out.notes[0].message.contains("missing"));
    }

    #[test]
    fn operator_playbooks_and_knobs_are_used() {
        let mut registry = KnobRegistry::standard();
        let knob = Knob::new(
            "review.min_reviewers",
            KnobKind::Int { min: 1, max: 3 },
            "Reviewers per change.",
        );
        if let Err(e) = registry.insert(knob) {
            panic!("{e}");
        }
        let playbooks = Playbooks(vec![Playbook {
            rule: "my_rule".into(),
            alternatives: vec![Adjustment::new("review.min_reviewers", AdjustOp::StepUp(1))],
        }]);
        assert_eq!(playbooks.validate(&registry, &["my_rule".into()]), Ok(()));
        let mut org = OrgDocument::standard();
        with(&mut org, "review.min_reviewers", 1i64.into());
        let snapshot = empty_snapshot();
        let matches = [rule_match("my_rule", &[Altitude::ConfigTuning], &[])];
        let ctx = context(&snapshot, &matches, &org);
        let out = ConfigTuningStrategy::new(registry, playbooks).propose(&ctx);
        let Ok(out) = out else { panic!("{out:?}") };
        check_output(Altitude::ConfigTuning, &out, &org);
        assert_eq!(
            out.proposals[0].changes,
            vec![set("review.min_reviewers", 1i64.into(), 2i64.into())]
        );
    }

    #[test]
    fn every_builtin_rule_on_the_standard_org_gives_valid_proposals_with_stable_ids() {
        let org = OrgDocument::standard();
        let matches: Vec<_> = BUILTIN_RULE_NAMES
            .iter()
            .map(|r| rule_match(r, &[Altitude::ConfigTuning], &[]))
            .collect();
        let a = run(&org, &matches);
        let b = run(&org, &matches);
        assert_eq!(a, b);
        // Two rules have no playbook; three find their knobs claimed or at bound.
        let rules = |ps: &[crate::improve::ImprovementProposal]| -> Vec<String> {
            ps.iter().map(|p| p.rationale.rule_name.clone()).collect()
        };
        assert_eq!(
            rules(&a.proposals),
            [
                "quality_declining",
                "budget_overrun",
                "coordination_cost_ratio",
                "straggler_bottleneck",
                "redundancy"
            ]
        );
        let noted: Vec<&str> = a.notes.iter().map(|n| n.rule_name.as_str()).collect();
        assert_eq!(
            noted,
            [
                "success_rate_drop",
                "coordination_overhead",
                "scaling_failure",
                "error_spike",
                "benchmark_regression"
            ]
        );
    }

    #[test]
    fn the_synthesizer_refines_and_its_failures_keep_the_original() {
        let org = OrgDocument::standard();
        let snapshot = empty_snapshot();
        let matches = [budget_match()];
        let ctx = context(&snapshot, &matches, &org);
        let with_synth = |s: FakeSynth| {
            let synth: Arc<dyn LlmSynthesizer> = Arc::new(s);
            match ConfigTuningStrategy::standard()
                .with_synthesizer(Some(synth))
                .propose(&ctx)
            {
                Ok(out) => out,
                Err(e) => panic!("{e}"),
            }
        };
        let out = with_synth(FakeSynth::Retitle);
        assert!(out.proposals[0].title.starts_with("refined: "));
        assert!(out.notes.is_empty());
        for s in [FakeSynth::Fail, FakeSynth::BreakChanges] {
            let out = with_synth(s);
            assert_eq!(out.proposals.len(), 1);
            assert!(!out.proposals[0].title.starts_with("refined"));
            assert_eq!(out.notes[0].kind, NoteKind::Failed);
            check_output(Altitude::ConfigTuning, &out, &org);
        }
    }
}
