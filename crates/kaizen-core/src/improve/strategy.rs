//! The [`ImprovementStrategy`] family: one strategy per altitude turns the rule matches that
//! suggest its altitude into [`ImprovementProposal`]s. Members, one file each:
//! [`super::config_tuning`], [`super::architecture`], [`super::prompt_tuning`].
//!
//! A strategy returns its proposals together with [`StrategyNote`]s: why a match produced no
//! proposal (no playbook, knob at its bound, no template), or what went wrong with one match
//! (a knob error, a synthesizer error). A problem with one match never loses the others.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::memory::Memory;
use super::proposal::{
    ImprovementProposal, Rationale, Risk, RollbackPlan, confidence, proposal_id,
};
use crate::altitude::Altitude;
use crate::config::{RolloutConfig, RolloutStrategyKind};
use crate::org::{OrgChange, OrgDocument};
use crate::rollout::check::Metric;
use crate::rules::RuleMatch;
use crate::snapshot::OrgSignalSnapshot;

/// The rollout a proposal suggests unless its strategy knows better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDefaults {
    /// Suggested rollout strategy.
    pub strategy: RolloutStrategyKind,
    /// Suggested observation window, hours.
    pub observation_window_hours: u32,
}

impl From<&RolloutConfig> for RolloutDefaults {
    fn from(c: &RolloutConfig) -> Self {
        Self {
            strategy: c.default_strategy,
            observation_window_hours: c.observation_window_hours,
        }
    }
}

impl Default for RolloutDefaults {
    /// `self_improvement.rollout`'s defaults.
    fn default() -> Self {
        Self::from(&RolloutConfig::default())
    }
}

/// Everything a strategy reads. Borrowed: a strategy never changes the org document.
#[derive(Debug, Clone, Copy)]
pub struct StrategyContext<'a> {
    /// The snapshot the rules fired on.
    pub snapshot: &'a OrgSignalSnapshot,
    /// The matches that suggest this strategy's altitude (strategies skip any other).
    pub matches: &'a [RuleMatch],
    /// The current org document: adjustments start from its values.
    pub org: &'a OrgDocument,
    /// When the proposals are made (from the injected clock).
    pub now: DateTime<Utc>,
    /// The cycle that runs the strategy, if any.
    pub cycle_id: Option<&'a str>,
    /// Suggested rollout for the proposals.
    pub rollout: RolloutDefaults,
    /// What the loop remembers of past proposals: strategies with alternatives skip the ones
    /// it blocks (`None`: no memory).
    pub memory: Option<&'a Memory>,
}

impl<'a> StrategyContext<'a> {
    /// The matches that suggest `altitude`, in order.
    pub fn matches_for(&self, altitude: Altitude) -> impl Iterator<Item = &'a RuleMatch> {
        self.matches
            .iter()
            .filter(move |m| m.suggested_altitudes.contains(&altitude))
    }
}

/// Whether a note explains a normal outcome or reports a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// No proposal, for a good reason (no playbook, at bound, already in place).
    Skipped,
    /// Something is wrong (a knob declaration, a setting's type, the synthesizer); the
    /// operator should look.
    Failed,
}

/// Why a match did not become a proposal, or what went wrong while making one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyNote {
    /// The match's rule.
    pub rule_name: String,
    /// Skipped or failed.
    pub kind: NoteKind,
    /// For a person.
    pub message: String,
}

impl StrategyNote {
    /// A [`NoteKind::Skipped`] note.
    pub fn skipped(rule_name: &str, message: impl Into<String>) -> Self {
        Self {
            rule_name: rule_name.to_owned(),
            kind: NoteKind::Skipped,
            message: message.into(),
        }
    }

    /// A [`NoteKind::Failed`] note.
    pub fn failed(rule_name: &str, message: impl Into<String>) -> Self {
        Self {
            rule_name: rule_name.to_owned(),
            kind: NoteKind::Failed,
            message: message.into(),
        }
    }
}

impl fmt::Display for StrategyNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NoteKind::Skipped => "skipped",
            NoteKind::Failed => "failed",
        };
        write!(f, "{} ({kind}): {}", self.rule_name, self.message)
    }
}

/// What a strategy produced: proposals, and notes on the matches that produced none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StrategyOutput {
    /// At most one per match, in match order.
    pub proposals: Vec<ImprovementProposal>,
    /// Skipped matches and problems, in match order.
    pub notes: Vec<StrategyNote>,
}

/// Why a strategy could not run at all. (A problem with one match is a [`StrategyNote`].)
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    /// The strategy's own configuration is unusable.
    #[error("strategy configuration: {0}")]
    Config(String),
    /// The LLM synthesizer failed.
    #[error("LLM synthesizer: {0}")]
    Synthesizer(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// A producer of proposals at one altitude.
pub trait ImprovementStrategy: Send + Sync {
    /// A short name for logs and cycle records (`config_tuning`, …).
    fn name(&self) -> &'static str;
    /// The altitude of every proposal it makes.
    fn altitude(&self) -> Altitude;
    /// Proposals for the matches of `ctx` that suggest [`ImprovementStrategy::altitude`]; at
    /// most one per match. Every proposal's rollback plan has been validated against
    /// `ctx.org`.
    fn propose(&self, ctx: &StrategyContext<'_>) -> Result<StrategyOutput, StrategyError>;
}

/// The port through which an LLM may refine a deterministic proposal (better wording, a
/// better-fitting change). No provider is part of the core; every strategy works without one.
pub trait LlmSynthesizer: Send + Sync {
    /// A refined proposal, or `None` to keep `proposal` as it is. The strategy re-derives the
    /// id, risk and rollback plan of the result and validates it against `ctx.org`; a refined
    /// proposal that fails validation is dropped in favour of the original (with a note).
    fn refine(
        &self,
        proposal: &ImprovementProposal,
        ctx: &StrategyContext<'_>,
    ) -> Result<Option<ImprovementProposal>, StrategyError>;
}

/// What a strategy decided for one match, before the common fields are filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub title: String,
    pub description: String,
    pub changes: Vec<OrgChange>,
    pub alternatives: Vec<String>,
}

/// Turns `draft` into a proposal for match `m` (id, rationale, rollback, confidence, risk,
/// rollout, cycle, time), validates its rollback plan against `ctx.org`, lets the synthesizer
/// refine it, and pushes it, or a note saying why not, onto `out`.
pub(crate) fn finish(
    altitude: Altitude,
    m: &RuleMatch,
    draft: Draft,
    ctx: &StrategyContext<'_>,
    synthesizer: Option<&Arc<dyn LlmSynthesizer>>,
    out: &mut StrategyOutput,
) {
    let proposal = ImprovementProposal {
        id: proposal_id(altitude, &m.rule_name, &draft.changes),
        altitude,
        title: draft.title,
        description: draft.description,
        rationale: Rationale::from_match(m),
        rollback: RollbackPlan::for_changes(&draft.changes),
        changes: draft.changes,
        alternatives: draft.alternatives,
        confidence: confidence(m, altitude),
        risk: Risk::for_altitude(altitude),
        rollout: ctx.rollout.strategy,
        primary_metric: Metric::for_rule(&m.rule_name),
        observation_window_hours: ctx.rollout.observation_window_hours,
        source_cycle: ctx.cycle_id.map(str::to_owned),
        created_at: ctx.now,
    };
    if let Err(e) = proposal.rollback.validate(ctx.org, &proposal.changes) {
        out.notes.push(StrategyNote::failed(
            &m.rule_name,
            format!("proposal {:?} dropped: {e}", proposal.title),
        ));
        return;
    }
    let proposal = match synthesizer.map(|s| s.refine(&proposal, ctx)) {
        None | Some(Ok(None)) => proposal,
        Some(Ok(Some(mut refined))) => {
            refined.refresh_derived();
            refined.confidence = refined.confidence.clamp(0.0, 1.0);
            let valid =
                if refined.altitude == altitude && refined.rationale.rule_name == m.rule_name {
                    refined.rollback.validate(ctx.org, &refined.changes)
                } else {
                    Err("it changed the altitude or the rule".to_owned())
                };
            match valid {
                Ok(()) => refined,
                Err(e) => {
                    out.notes.push(StrategyNote::failed(
                        &m.rule_name,
                        format!("the synthesizer's refinement was dropped: {e}"),
                    ));
                    proposal
                }
            }
        }
        Some(Err(e)) => {
            out.notes.push(StrategyNote::failed(
                &m.rule_name,
                format!("the synthesizer failed, the proposal is kept unrefined: {e}"),
            ));
            proposal
        }
    };
    out.proposals.push(proposal);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rules::{ContextValue, RuleSeverity};

    /// A match of `rule` suggesting `altitudes`, with `ctx` as its signal context.
    pub(crate) fn rule_match(
        rule: &str,
        altitudes: &[Altitude],
        ctx: &[(&str, ContextValue)],
    ) -> RuleMatch {
        RuleMatch {
            rule_name: rule.into(),
            severity: RuleSeverity::Warning,
            description: format!("{rule} fired"),
            signal_context: ctx
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            suggested_altitudes: altitudes.to_vec(),
            matched_at: crate::rules::tests::empty_snapshot().collected_at,
        }
    }

    /// A context over `snapshot`, `matches` and `org`, at the snapshot's end, in cycle `c1`.
    pub(crate) fn context<'a>(
        snapshot: &'a OrgSignalSnapshot,
        matches: &'a [RuleMatch],
        org: &'a OrgDocument,
    ) -> StrategyContext<'a> {
        StrategyContext {
            snapshot,
            matches,
            org,
            now: snapshot.collected_at,
            cycle_id: Some("c1"),
            rollout: RolloutDefaults::default(),
            memory: None,
        }
    }

    /// Checks the invariants every strategy output keeps: one altitude, valid rollback plans,
    /// ids derived from the content, confidence within 0–1.
    pub(crate) fn check_output(altitude: Altitude, out: &StrategyOutput, org: &OrgDocument) {
        for p in &out.proposals {
            assert_eq!(p.altitude, altitude);
            assert_eq!(p.rollback.validate(org, &p.changes), Ok(()), "{}", p.title);
            assert_eq!(
                p.id,
                proposal_id(altitude, &p.rationale.rule_name, &p.changes)
            );
            assert!((0.0..=1.0).contains(&p.confidence));
            assert_eq!(p.risk, Risk::for_altitude(altitude));
        }
    }

    /// A synthesizer that rewrites titles, or fails, or breaks the changes.
    pub(crate) enum FakeSynth {
        Retitle,
        Fail,
        BreakChanges,
    }

    impl LlmSynthesizer for FakeSynth {
        fn refine(
            &self,
            proposal: &ImprovementProposal,
            _ctx: &StrategyContext<'_>,
        ) -> Result<Option<ImprovementProposal>, StrategyError> {
            let mut p = proposal.clone();
            match self {
                FakeSynth::Retitle => {
                    p.title = format!("refined: {}", p.title);
                    Ok(Some(p))
                }
                FakeSynth::Fail => Err(StrategyError::Synthesizer("offline".into())),
                FakeSynth::BreakChanges => {
                    p.changes = p.changes.iter().map(OrgChange::inverse).collect();
                    Ok(Some(p))
                }
            }
        }
    }
}
