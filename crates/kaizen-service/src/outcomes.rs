//! What became of each proposal ("did the fix work?"): its outcome as the lifecycle recorded it
//! (rejected with reason and by whom, rolled back with the verdict, applied, superseded, …),
//! and for an applied one the **measured effect** on the metric it was meant to improve,
//! `self_improvement.memory.outcome_horizon_days` after the apply:
//!
//! * the metric over the horizon after the apply against the same number of days before its
//!   rollout began (whole days, so a weekly rhythm falls equally on both sides), per agent
//!   ([`kaizen_core::rollout::check::window_change`]), with a 95 % interval;
//! * whether the rule that led to it still fires on a snapshot of the signal window ending at
//!   the horizon.
//!
//! The measurement is written once ([`Service::measure_due_outcomes`], run by the background
//! loop) and shown on the proposal (`proposals.outcome`: REST, MCP, CLI, web UI). It is a
//! before/after comparison: anything else that changed over those weeks is in it too, which
//! the summary says.

use chrono::{DateTime, Duration, Utc};
use kaizen_core::config::AdjusterKind;
use kaizen_core::improve::learning::{Learner, Observation, knob_of};
use kaizen_core::lifecycle::ProposalStatus;
use kaizen_core::rollout::check::{Metric, fmt_num as num, pct, window_change};
use kaizen_core::rules::RuleEngine;
use kaizen_core::signals::SnapshotBuilder;
use kaizen_store::proposals::StoredProposal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rollout::{agent_sums, hour_ceil, hour_floor};
use crate::{Result, Service, ServiceError, store_err};

/// Where a proposal ended up, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Waiting for a human.
    Pending,
    /// Approved, being rolled out, or held for a human after its rollout.
    InProgress,
    /// A human rejected it.
    Rejected,
    /// Its changes are live for everyone.
    Applied,
    /// It was undone (by a rollout's verdict or a human).
    RolledBack,
    /// Undoing it failed part-way.
    RollbackFailed,
    /// A newer proposal replaced it.
    Superseded,
}

/// How the metric moved, judged by its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectVerdict {
    /// Better, beyond the noise.
    Improved,
    /// Worse, beyond the noise.
    Worse,
    /// Neither clearly better nor clearly worse.
    NoClearChange,
    /// Too little data in one of the windows.
    Unmeasurable,
}

/// The measured effect of an applied proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Measurement {
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The metric the proposal was meant to improve.
    pub metric: Metric,
    /// Days on each side.
    pub horizon_days: u32,
    /// The window before the rollout began.
    pub before_since: DateTime<Utc>,
    /// Its end (the rollout's start).
    pub before_until: DateTime<Utc>,
    /// The window after the apply begins.
    pub after_since: DateTime<Utc>,
    /// And ends (the horizon).
    pub after_until: DateTime<Utc>,
    /// The metric before (`None`: no data).
    pub before: Option<f64>,
    /// The metric after.
    pub after: Option<f64>,
    /// after − before, relative to before.
    pub relative_change: Option<f64>,
    /// 95 % interval of after − before (absolute).
    pub interval: Option<(f64, f64)>,
    /// Agents behind the comparison.
    pub agents: usize,
    /// The judgement.
    pub verdict: EffectVerdict,
    /// Whether the rule that led to the proposal fires on the signal window ending at the
    /// horizon (`None`: it could not be evaluated).
    pub rule_still_fires: Option<bool>,
    /// The rule's finding at the horizon, when it fires.
    pub rule_finding: Option<String>,
    /// One sentence for a person.
    pub summary: String,
}

/// What became of a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Outcome {
    /// The proposal.
    pub proposal_id: String,
    /// The rule that led to it.
    pub rule_name: String,
    /// Where it ended up.
    pub kind: OutcomeKind,
    /// When it got there.
    pub since: DateTime<Utc>,
    /// Who made the last move (a reviewer, `rollout-engine`, …).
    pub by: String,
    /// The reason recorded with it (a rejection's reason, a rollback's verdict).
    pub reason: Option<String>,
    /// A reviewer rejected it as "never propose this again".
    pub never_again: bool,
    /// The measured effect, once measured (applied proposals).
    pub measurement: Option<Measurement>,
    /// When the measurement is due (applied, not measured yet).
    pub measurement_due_at: Option<DateTime<Utc>>,
}

fn kind_of(status: ProposalStatus) -> OutcomeKind {
    match status {
        ProposalStatus::Pending => OutcomeKind::Pending,
        ProposalStatus::Approved | ProposalStatus::RollingOut | ProposalStatus::Inconclusive => {
            OutcomeKind::InProgress
        }
        ProposalStatus::Rejected => OutcomeKind::Rejected,
        ProposalStatus::Applied => OutcomeKind::Applied,
        ProposalStatus::RolledBack => OutcomeKind::RolledBack,
        ProposalStatus::RollbackFailed => OutcomeKind::RollbackFailed,
        ProposalStatus::Superseded => OutcomeKind::Superseded,
    }
}

impl Service<'_> {
    fn horizon(&self) -> Duration {
        Duration::days(i64::from(
            self.config.self_improvement.memory.outcome_horizon_days,
        ))
    }

    /// What became of proposal `id`.
    pub fn outcome(&self, id: &str) -> Result<Outcome> {
        let p = self.proposal(id)?;
        let last = p.transitions.last();
        let measurement = match self.store.outcome(id).map_err(store_err)? {
            Some(body) => Some(serde_json::from_str::<Measurement>(&body).map_err(|e| {
                ServiceError::Store(format!("proposal {id} has an unreadable outcome: {e}"))
            })?),
            None => None,
        };
        let due = (p.status == ProposalStatus::Applied && measurement.is_none())
            .then(|| last.map(|t| t.at + self.horizon()))
            .flatten();
        Ok(Outcome {
            proposal_id: p.proposal.id.clone(),
            rule_name: p.proposal.rationale.rule_name.clone(),
            kind: kind_of(p.status),
            since: p.updated_at,
            by: last.map_or_else(String::new, |t| t.actor.clone()),
            reason: last.and_then(|t| t.reason.clone()),
            never_again: self.store.never_again(id).map_err(store_err)?,
            measurement,
            measurement_due_at: due,
        })
    }

    /// Measures every applied proposal whose horizon has passed and that has no measurement
    /// yet, and records it (once). Returns the ids measured.
    pub fn measure_due_outcomes(&mut self) -> Result<Vec<String>> {
        let now = self.clock.now();
        let horizon = self.horizon();
        let due: Vec<_> = self
            .store
            .unmeasured_applied()
            .map_err(store_err)?
            .into_iter()
            .filter(|(_, _, applied)| *applied + horizon <= now)
            .collect();
        let mut measured = Vec::with_capacity(due.len());
        for (id, started, applied) in due {
            let p = self.proposal(&id)?;
            let m = self.measure(&p, started, applied, now)?;
            let body = serde_json::to_string(&m).map_err(store_err)?;
            self.store
                .record_outcome(&id, &body, now)
                .map_err(store_err)?;
            measured.push(id);
        }
        Ok(measured)
    }

    fn measure(
        &mut self,
        p: &StoredProposal,
        started: DateTime<Utc>,
        applied: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Measurement> {
        let horizon = self.horizon();
        let days = self.config.self_improvement.memory.outcome_horizon_days;
        let metric = p.proposal.primary_metric;
        let (before_since, before_until) = (started - horizon, started);
        let (after_since, after_until) = (applied, applied + horizon);
        let agents: Vec<String> = self
            .store
            .org_current()
            .map_err(store_err)?
            .map(|o| o.document.agents.iter().map(|a| a.id.clone()).collect())
            .unwrap_or_default();
        let source = self.store.signal_source();
        let before = agent_sums(
            source,
            hour_ceil(before_since)..hour_floor(before_until),
            &agents,
        )?;
        let after = agent_sums(
            source,
            hour_ceil(after_since)..hour_floor(after_until),
            &agents,
        )?;
        let min_units = f64::from(self.config.self_improvement.regression.min_data_points);
        let change = window_change(&before, &after, metric, min_units);
        let interval = change.and_then(|c| c.interval(0.95));
        let verdict = match (change, interval) {
            (Some(c), Some((lo, hi))) if c.units >= 2 => {
                let better_up = !metric.higher_is_worse();
                if (lo > 0.0 && better_up) || (hi < 0.0 && !better_up) {
                    EffectVerdict::Improved
                } else if (hi < 0.0 && better_up) || (lo > 0.0 && !better_up) {
                    EffectVerdict::Worse
                } else {
                    EffectVerdict::NoClearChange
                }
            }
            _ => EffectVerdict::Unmeasurable,
        };
        let relative = change.and_then(|c| (c.before != 0.0).then(|| c.diff / c.before.abs()));

        // Does the rule still fire on the signal window that ends at the horizon?
        let window = Duration::days(i64::from(self.config.signals.default_window_days));
        let snapshot = SnapshotBuilder::new(self.config.signals.clone()).build(
            self.store.signal_source(),
            after_until - window,
            after_until,
        );
        let evaluation = RuleEngine::from_config(&self.config.rules).evaluate(&snapshot);
        let rule = &p.proposal.rationale.rule_name;
        let failed = evaluation.failures.iter().any(|f| &f.rule == rule);
        let finding = evaluation
            .matches
            .iter()
            .find(|m| &m.rule_name == rule)
            .map(|m| m.description.clone());
        let still_fires = (!failed).then_some(finding.is_some());

        let mut summary = match change {
            None => format!("{metric} could not be measured (no data in a window)"),
            Some(c) if verdict == EffectVerdict::Unmeasurable => format!(
                "{metric} could not be measured ({} agent(s) with data)",
                c.units
            ),
            Some(c) => {
                let (lo, hi) = interval.unwrap_or((f64::NAN, f64::NAN));
                let word = match verdict {
                    EffectVerdict::Improved => "improved",
                    EffectVerdict::Worse => "got worse",
                    _ => "showed no clear change",
                };
                format!(
                    "{metric} {word}: {} → {} ({}; 95 % interval of the change {} to {}, {} \
                     agents, {days} days after the apply against {days} days before its rollout)",
                    num(c.before),
                    num(c.after),
                    relative.map_or_else(|| "n/a".to_owned(), pct),
                    num(lo),
                    num(hi),
                    c.units
                )
            }
        };
        summary.push_str(match still_fires {
            Some(true) => "; the rule still fires",
            Some(false) => "; the rule no longer fires",
            None => "; the rule could not be evaluated",
        });
        summary.push_str(
            ". A before/after comparison: anything else that changed meanwhile is in it too.",
        );
        Ok(Measurement {
            measured_at: now,
            metric,
            horizon_days: days,
            before_since,
            before_until,
            after_since,
            after_until,
            before: change.map(|c| c.before),
            after: change.map(|c| c.after),
            relative_change: relative,
            interval,
            agents: change.map_or(0, |c| c.units),
            verdict,
            rule_still_fires: still_fires,
            rule_finding: finding,
            summary,
        })
    }
}

/// Whether a closed proposal was kept, for confidence learning: applied and, once measured,
/// neither worse nor with its rule still firing.
fn kept(status: ProposalStatus, outcome: Option<&str>) -> bool {
    if status != ProposalStatus::Applied {
        return false;
    }
    match outcome.and_then(|o| serde_json::from_str::<Measurement>(o).ok()) {
        Some(m) => m.verdict != EffectVerdict::Worse && m.rule_still_fires != Some(true),
        None => true,
    }
}

/// The [`crate::ConfidenceAdjuster`] of `self_improvement.learning`: the outcomes of earlier
/// similar proposals ([`kaizen_core::improve::learning`]); it appends its reason to the
/// proposal's description.
pub struct LearnedAdjuster(Learner);

impl crate::ConfidenceAdjuster for LearnedAdjuster {
    fn adjust(&self, p: &mut kaizen_core::improve::ImprovementProposal) {
        let knob = knob_of(&p.changes);
        if let Some(a) = self.0.adjust(
            &p.rationale.rule_name,
            p.altitude,
            knob.as_deref(),
            p.confidence,
        ) {
            p.confidence = a.confidence;
            if !p.description.is_empty() {
                p.description.push(' ');
            }
            p.description.push_str(&format!("Learned: {}.", a.why));
        }
    }
}

impl Service<'_> {
    /// The learned confidence adjuster, or `None` when `self_improvement.learning.adjuster`
    /// is `none`.
    pub fn learned_adjuster(&self) -> Result<Option<LearnedAdjuster>> {
        let config = &self.config.self_improvement.learning;
        if config.adjuster == AdjusterKind::None {
            return Ok(None);
        }
        let observations: Vec<Observation> = self
            .store
            .closed_proposals()
            .map_err(store_err)?
            .into_iter()
            .map(|c| Observation {
                rule: c.proposal.rationale.rule_name.clone(),
                altitude: c.proposal.altitude,
                knob: knob_of(&c.proposal.changes),
                at: c.closed_at,
                kept: kept(c.status, c.outcome.as_deref()),
            })
            .collect();
        Ok(Some(LearnedAdjuster(Learner::new(
            &observations,
            config.clone(),
        ))))
    }
}
