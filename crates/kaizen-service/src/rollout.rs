//! The rollout engine: approved proposal → overlay for a group of agents → checks on the
//! injected clock → applied, rolled back (automatically, on regression) or paused for a human.
//!
//! The engine keeps no state in memory. [`Service::tick_rollouts`] looks at the store, runs
//! every check that is due (each at its *scheduled* time, with data up to that time, so a
//! server that was down for a day catches up check by check instead of re-sleeping from zero)
//! and records each check (with its decision) in one transaction and each transition in
//! another. A check whose decision was recorded but not carried out (the process stopped in
//! between) is carried out by the next tick, so dropping the service at any point and calling
//! `tick_rollouts` again on the same store continues where it stopped.
//!
//! Data windows (whole hours, so the rollups answer them exactly): the "after" side runs from
//! the first full hour after the start to the check time, so nothing from before the start
//! ever counts as after; the before/after baseline is the window of the same length before the
//! hour the rollout started in. Canary and A/B compare the two groups over the same hours.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use kaizen_core::config::{AlertKind, AlertSeverity, OnInconclusive, RolloutStrategyKind};
use kaizen_core::org::OrgChange;
use kaizen_core::rollout::assign::{Assignment, assign};
use kaizen_core::rollout::check::{
    AgentSums, CheckDecision, CheckInput, Design, Detection, DetectorState, Metric, PreShift,
    SampleRatio, check,
};
use kaizen_core::rollout::plan::{self, PowerPlan};
use kaizen_core::rollout::window;
use kaizen_core::rollup::{Dim, MICROS_PER_HOUR, Stream, cost, task, telemetry};
use kaizen_core::rules::RuleSeverity;
use kaizen_core::signals::SignalSource;
use kaizen_store::proposals::{Actor, ProposalStatus};
use kaizen_store::rollouts::{
    NewRollout, Rollout, RolloutMove, RolloutState, RolloutVerdict, StoredCheck,
};
use schemars::JsonSchema;
use serde::Serialize;

use crate::alerts::AlertDraft;
use crate::rollback::{MutationScope, OperationKind, RollbackExecutor, RollbackFailure};
use crate::{Result, Service, ServiceError, store_err};

/// The actor the engine records for its own transitions.
pub const ENGINE: &str = "rollout-engine";

/// What a human decides about a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// Observe for `hours` more (a paused rollout).
    Extend {
        /// Hours to add.
        hours: u32,
    },
    /// Apply org-wide now (a paused rollout).
    Apply,
    /// Roll back (a paused or observing rollout, or retry a failed rollback).
    Rollback,
}

/// What one rollout did during a tick.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RolloutProgress {
    /// The proposal.
    pub proposal_id: String,
    /// Checks run in this tick.
    pub checks_run: u32,
    /// The state after the tick.
    pub state: RolloutState,
    /// The verdict, if reached in this tick.
    pub verdict: Option<RolloutVerdict>,
    /// An error that stopped this rollout's progress (the others went on).
    pub error: Option<String>,
}

fn engine() -> Actor {
    Actor::system(ENGINE)
}

pub(crate) fn rollout_err(e: kaizen_store::rollouts::RolloutError) -> ServiceError {
    if e.is_user_error() {
        let kind = e.kind();
        ServiceError::store(kind, e)
    } else {
        store_err(e)
    }
}

/// What a change touches, for conflict detection between concurrent rollouts.
fn target(op: &OrgChange) -> String {
    match op {
        OrgChange::SetSetting { path, .. } => format!("setting {path}"),
        OrgChange::AddAgent(a) | OrgChange::RemoveAgent(a) => format!("agent {}", a.id),
        OrgChange::MoveAgent { id, .. } => format!("agent {id}"),
        OrgChange::AddDepartment(d) | OrgChange::RemoveDepartment(d) => {
            format!("department {}", d.id)
        }
        OrgChange::AddRole(r) | OrgChange::RemoveRole(r) => format!("role {}", r.id),
        OrgChange::AddWorkflow(w) | OrgChange::RemoveWorkflow(w) => format!("workflow {}", w.id),
        OrgChange::UpdateWorkflow { id, .. } => format!("workflow {id}"),
        OrgChange::AddPrinciple(p) | OrgChange::RemovePrinciple(p) => {
            format!("principle {}", p.id)
        }
        OrgChange::UpdatePrinciple { id, .. } => format!("principle {id}"),
    }
}

pub(crate) fn hour_floor(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros().div_euclid(MICROS_PER_HOUR)
}

pub(crate) fn hour_ceil(t: DateTime<Utc>) -> i64 {
    let us = t.timestamp_micros();
    us.div_euclid(MICROS_PER_HOUR) + i64::from(us.rem_euclid(MICROS_PER_HOUR) != 0)
}

/// Per-agent sums over `hours` for the agents in `agents`.
pub(crate) fn agent_sums(
    source: &dyn SignalSource,
    hours: std::ops::Range<i64>,
    agents: &[String],
) -> Result<Vec<AgentSums>> {
    let wanted: BTreeSet<&str> = agents.iter().map(String::as_str).collect();
    let mut by_agent: HashMap<String, AgentSums> = HashMap::new();
    if hours.start < hours.end {
        let src = |e: kaizen_core::signals::SourceError| ServiceError::Store(e.to_string());
        for row in source
            .rollups(Stream::Task, Dim::Agent, hours.clone())
            .map_err(src)?
        {
            if !wanted.contains(row.key.as_str()) {
                continue;
            }
            let a = by_agent.entry(row.key.clone()).or_default();
            a.tasks += row.stats[task::SUCCESS].n;
            a.successes += row.stats[task::SUCCESS].sum;
            a.scored += row.stats[task::QUALITY].n;
            a.quality_sum += row.stats[task::QUALITY].sum;
        }
        for row in source
            .rollups(Stream::Cost, Dim::Agent, hours.clone())
            .map_err(src)?
        {
            if let Some(a) = by_agent.get_mut(row.key.as_str()) {
                a.cost_usd += row.stats[cost::USD].sum;
            }
        }
        for row in source
            .rollups(Stream::Telemetry, Dim::Agent, hours.clone())
            .map_err(src)?
        {
            if let Some(a) = by_agent.get_mut(row.key.as_str()) {
                a.errors += row.stats[telemetry::ERROR].sum;
            }
        }
    }
    let mut out: Vec<AgentSums> = by_agent
        .into_iter()
        .map(|(id, mut a)| {
            a.agent_id = id;
            a
        })
        .collect();
    out.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    Ok(out)
}

impl Service<'_> {
    /// Starts the rollout of approved proposal `id` (strategy: `strategy`, else the proposal's,
    /// which the configuration's `default_strategy` chose). Checks the changes against the
    /// current org, that every rollback operation has a mutator in `executor`, that no live
    /// rollout touches the same targets, and that the groups are big enough; then stores the
    /// rollout (observing from now) and moves the proposal to rolling_out, atomically.
    ///
    /// One unit of work: the checks read what the write is made on (no concurrent start can
    /// slip in between); inside [`Service::approve`] it is part of the approval's unit.
    pub fn start_rollout(
        &mut self,
        id: &str,
        actor: &Actor,
        strategy: Option<RolloutStrategyKind>,
        executor: &RollbackExecutor,
    ) -> Result<Rollout> {
        crate::review::check_actor(actor)?;
        self.unit(|svc| svc.start_rollout_in_unit(id, actor, strategy, executor))
    }

    fn start_rollout_in_unit(
        &mut self,
        id: &str,
        actor: &Actor,
        strategy: Option<RolloutStrategyKind>,
        executor: &RollbackExecutor,
    ) -> Result<Rollout> {
        let p = self.proposal(id)?;
        if p.status != ProposalStatus::Approved {
            return Err(ServiceError::Conflict(format!(
                "proposal {id} is {}; only an approved proposal can be rolled out",
                p.status.as_str()
            )));
        }
        let (base, plan) = self.check(&p)?;
        executor.validate(&plan.rollback).map_err(|e| {
            ServiceError::Rejected(format!("proposal {id} cannot be rolled out: {e}"))
        })?;
        let live = self.store.live_rollouts().map_err(rollout_err)?;
        let mine: BTreeSet<String> = plan.changes.iter().map(target).collect();
        for other in &live {
            if let Some(t) = other.changes.iter().map(target).find(|t| mine.contains(t)) {
                return Err(ServiceError::Rejected(format!(
                    "proposal {id} changes {t}, which rollout {} is still rolling out ({}); wait for its verdict",
                    other.proposal_id, other.state
                )));
            }
        }
        let org = self
            .store
            .org_version(base)
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        let agents = &org.document.agents;
        let cfg = &self.config.self_improvement.rollout;
        let min_stratum = cfg.min_stratum_size as usize;
        let strategy = match strategy.unwrap_or(p.proposal.rollout) {
            RolloutStrategyKind::Auto => plan::resolve_auto(
                agents.len(),
                cfg.canary_fraction,
                1.0 - cfg.ab_test.control_fraction,
                self.config.self_improvement.regression.min_data_points as usize,
            ),
            s => s,
        };
        // A before/after comparison attributes everything that changed in its windows to its
        // change, so it cannot share the org with another live rollout (either way round) —
        // unless this proposal is critical and the other is less urgent: a critical fix is not
        // queued behind it; both before/after verdicts are then held for a human.
        let severity = p.proposal.rationale.severity;
        let mut beside: Vec<String> = Vec::new();
        for other in &live {
            let exclusive = strategy == RolloutStrategyKind::BeforeAfter
                || other.strategy == RolloutStrategyKind::BeforeAfter;
            if !exclusive {
                beside.push(format!(
                    "runs beside the {} rollout of {}: each is randomised on its own, so the other's change falls evenly on both groups; if the two changes interact, both comparisons see the interaction",
                    other.strategy, other.proposal_id
                ));
                continue;
            }
            // Read only when it matters: the other proposal's urgency.
            let theirs = self
                .proposal(&other.proposal_id)?
                .proposal
                .rationale
                .severity;
            if !(severity == RuleSeverity::Critical && theirs != RuleSeverity::Critical) {
                return Err(ServiceError::Rejected(format!(
                    "proposal {id} cannot start a {strategy} rollout while the {} rollout of {} is {}: a before/after comparison could not tell the two changes apart; wait for its verdict or use canary/ab_test for both (only a critical proposal starts beside a less urgent one)",
                    other.strategy, other.proposal_id, other.state
                )));
            }
            beside.push(format!(
                "starts beside the {} rollout of {} ({theirs}) because this proposal is critical: a before/after comparison cannot tell the two changes apart, so its verdict will be held for a human",
                other.strategy, other.proposal_id
            ));
        }
        let assignment = match strategy {
            RolloutStrategyKind::BeforeAfter | RolloutStrategyKind::Auto => {
                Assignment::everyone(agents)
            }
            RolloutStrategyKind::Canary => assign(agents, id, cfg.canary_fraction, min_stratum)
                .map_err(ServiceError::Invalid)?,
            RolloutStrategyKind::AbTest => {
                assign(agents, id, 1.0 - cfg.ab_test.control_fraction, min_stratum)
                    .map_err(ServiceError::Invalid)?
            }
        };
        let min_group = match strategy {
            RolloutStrategyKind::BeforeAfter | RolloutStrategyKind::Auto => 0,
            RolloutStrategyKind::Canary => 1,
            RolloutStrategyKind::AbTest => cfg.ab_test.min_agents_per_group as usize,
        };
        if agents.is_empty()
            || assignment.treatment.len() < min_group.max(1)
            || assignment.control.len() < min_group
        {
            return Err(ServiceError::Rejected(format!(
                "a {strategy} rollout of proposal {id} needs at least {} agent(s) per group; the org has {} agent(s) (treatment {}, control {})",
                min_group.max(1),
                agents.len(),
                assignment.treatment.len(),
                assignment.control.len()
            )));
        }
        let window = if p.proposal.observation_window_hours > 0 {
            p.proposal.observation_window_hours
        } else {
            cfg.observation_window_hours
        };
        let interval = cfg.regression_check_interval_hours.clamp(1, window.max(1));
        let now = self.clock.now();
        let detection = Detection::from_config(
            &self.config.self_improvement.regression,
            &self.config.self_improvement.rollout.ab_test,
        );
        let mut power = self.power_plan(
            strategy,
            &assignment,
            p.proposal.primary_metric,
            window,
            now,
            &detection,
        )?;
        if !power.can_conclude {
            // Would a longer window do (agents that work on some days only report in more of
            // its hours)? Said at the start, so a human can extend it when it pauses.
            for longer in [2 * window, 3 * window] {
                if longer > 2 * window::WEEK_HOURS as u32 {
                    break;
                }
                let with = self.power_plan(
                    strategy,
                    &assignment,
                    p.proposal.primary_metric,
                    longer,
                    now,
                    &detection,
                )?;
                if with.can_conclude {
                    power.summary.push_str(&format!(
                        "; a {longer} h window could: extend it when it pauses (`kaizen rollouts decide {id} extend --hours {} --reason …`)",
                        longer - window
                    ));
                    break;
                }
            }
        }
        for note in beside {
            power.summary.push_str("; ");
            power.summary.push_str(&note);
        }
        let detector = DetectorState {
            plan: Some(power),
            ..DetectorState::default()
        };
        let new = NewRollout {
            proposal_id: id,
            strategy,
            base_version: base,
            changes: &plan.changes,
            rollback: &plan.rollback,
            assignment: &assignment,
            window_hours: window,
            interval_hours: interval,
            detector: &detector,
        };
        self.store
            .rollout_start(&new, actor, now)
            .map_err(rollout_err)
    }

    /// The rollout of proposal `id`.
    pub fn rollout(&self, id: &str) -> Result<Rollout> {
        self.store
            .rollout(id)
            .map_err(rollout_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("no rollout for proposal {id}")))
    }

    /// Runs every check that is due at the clock's now, for every observing rollout, and
    /// finishes interrupted rollbacks. One rollout's failure does not stop the others.
    pub fn tick_rollouts(&mut self, executor: &RollbackExecutor) -> Result<Vec<RolloutProgress>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        let mut candidates = self
            .store
            .rollouts(Some(RolloutState::RollingBack))
            .map_err(rollout_err)?;
        candidates.extend(
            self.store
                .rollouts(Some(RolloutState::Observing))
                .map_err(rollout_err)?,
        );
        let pending: Vec<Rollout> = candidates
            .into_iter()
            .filter(|r| match r.state {
                RolloutState::RollingBack => true,
                // Due checks, or every check recorded but no verdict yet (a stop in between).
                RolloutState::Observing => r.next_check_at().is_none_or(|due| due <= now),
                _ => false,
            })
            .collect();
        for r in pending {
            let id = r.proposal_id.clone();
            let mut progress = RolloutProgress {
                proposal_id: id.clone(),
                checks_run: 0,
                state: r.state,
                verdict: None,
                error: None,
            };
            let result = if r.state == RolloutState::RollingBack {
                self.execute_rollback(&id, executor, None, &engine())
                    .map(|_| ())
            } else {
                self.run_due_checks(&id, now, executor, &mut progress)
            };
            if let Err(e) = result {
                tracing::error!(proposal = %id, error = %e, "rollout tick failed");
                progress.error = Some(e.to_string());
            }
            if let Ok(after) = self.rollout(&id) {
                progress.state = after.state;
                if after.verdict != r.verdict {
                    progress.verdict = after.verdict;
                }
            }
            out.push(progress);
        }
        Ok(out)
    }

    fn run_due_checks(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        executor: &RollbackExecutor,
        progress: &mut RolloutProgress,
    ) -> Result<()> {
        let detection = Detection::from_config(
            &self.config.self_improvement.regression,
            &self.config.self_improvement.rollout.ab_test,
        );
        loop {
            let r = self.rollout(id)?;
            if r.state != RolloutState::Observing {
                return Ok(());
            }
            // A check whose decision was recorded but not acted on (the process stopped
            // between the two): act on it now, exactly as it was decided.
            if let Some(last) = self.store.rollout_last_check(id).map_err(rollout_err)?
                && last.seq == r.checks_done
                && last.outcome.decision != CheckDecision::Continue
                && r.verdict.as_ref().and_then(|v| v.check_seq) != Some(last.seq)
            {
                return self.act(id, &r, last.seq, last.outcome.decision, now, executor);
            }
            let Some(due) = r.next_check_at() else {
                return Ok(());
            };
            if due > now {
                return Ok(());
            }
            let seq = r.checks_done + 1;
            let final_check = seq >= r.total_checks();
            let (outcome, detector) = self.evaluate(&r, seq, final_check, &detection)?;
            let decision = outcome.decision.clone();
            let stored = StoredCheck {
                seq,
                at: due,
                ran_at: now,
                elapsed_hours: r.elapsed_at(seq),
                outcome,
            };
            self.store
                .rollout_record_check(id, &stored, &detector)
                .map_err(rollout_err)?;
            progress.checks_run += 1;
            if decision != CheckDecision::Continue {
                return self.act(id, &r, seq, decision, now, executor);
            }
        }
    }

    /// Carries out the decision of check `seq`.
    fn act(
        &mut self,
        id: &str,
        r: &Rollout,
        seq: u32,
        decision: CheckDecision,
        now: DateTime<Utc>,
        executor: &RollbackExecutor,
    ) -> Result<()> {
        let verdict = |outcome: &str, reason: String| RolloutVerdict {
            outcome: outcome.to_owned(),
            reason,
            decided_by: ENGINE.to_owned(),
            at: now,
            elapsed_hours: r.elapsed_at(seq),
            check_seq: Some(seq),
        };
        match decision {
            CheckDecision::Continue => Ok(()),
            CheckDecision::RollBack { reason, .. } => {
                let v = verdict(
                    "rolled_back",
                    format!("regression at check {seq}: {reason}"),
                );
                self.begin_rollback(id, RolloutState::Observing, v, executor)
            }
            CheckDecision::Apply { improved, reason } => {
                let v = verdict(if improved { "improved" } else { "applied" }, reason);
                self.finish_apply(id, &engine(), v, executor)
            }
            CheckDecision::Hold { reason } => {
                // Never applied automatically: paused for a human (or rolled back when the
                // configuration says so for an inconclusive rollout).
                let policy = self.config.self_improvement.rollout.on_inconclusive;
                let v = verdict(
                    "inconclusive",
                    format!("held for a human after {} h: {reason}", r.elapsed_at(seq)),
                );
                match policy {
                    OnInconclusive::Rollback => {
                        self.begin_rollback(id, RolloutState::Observing, v, executor)
                    }
                    OnInconclusive::Pause | OnInconclusive::Apply => self.pause(id, &v, now),
                }
            }
            CheckDecision::Inconclusive { reason } => {
                let policy = self.config.self_improvement.rollout.on_inconclusive;
                let reason = format!(
                    "inconclusive after {} h: {reason} (on_inconclusive: {})",
                    r.elapsed_at(seq),
                    policy.as_str()
                );
                let v = verdict("inconclusive", reason);
                match policy {
                    OnInconclusive::Pause => self.pause(id, &v, now),
                    OnInconclusive::Rollback => {
                        self.begin_rollback(id, RolloutState::Observing, v, executor)
                    }
                    OnInconclusive::Apply => self.finish_apply(id, &engine(), v, executor),
                }
            }
        }
    }

    /// What a rollout of `strategy` can detect: the detector's estimator on the history just
    /// before `now`, as if the rollout had started one window earlier (a placebo check).
    fn power_plan(
        &self,
        strategy: RolloutStrategyKind,
        a: &Assignment,
        primary: Metric,
        window: u32,
        now: DateTime<Utc>,
        detection: &Detection,
    ) -> Result<PowerPlan> {
        let source = self.store.signal_source();
        let start = hour_floor(now) - i64::from(window);
        let end = hour_floor(now);
        let input_for = |design| CheckInput {
            design,
            control: &[],
            treatment: &[],
            control_before: &[],
            treatment_before: &[],
            prior: &[],
            pre_shift: None,
            primary,
            final_check: true,
            sample_ratio: None,
        };
        let plan = match strategy {
            RolloutStrategyKind::BeforeAfter | RolloutStrategyKind::Auto => {
                let w = window::before_after(start, start, end);
                let sums = |h: std::ops::Range<i64>| agent_sums(source, h, &a.treatment);
                let (treatment, control, prior) = (sums(w.after)?, sums(w.week1)?, sums(w.week2)?);
                plan::power_plan(
                    &CheckInput {
                        control: &control,
                        treatment: &treatment,
                        prior: &prior,
                        ..input_for(Design::BeforeAfter)
                    },
                    detection,
                    window,
                )
            }
            RolloutStrategyKind::Canary | RolloutStrategyKind::AbTest => {
                let w = window::concurrent(start, start, end, i64::from(window));
                let control = agent_sums(source, w.after.clone(), &a.control)?;
                let treatment = agent_sums(source, w.after, &a.treatment)?;
                let control_before = agent_sums(source, w.before.clone(), &a.control)?;
                let treatment_before = agent_sums(source, w.before, &a.treatment)?;
                plan::power_plan(
                    &CheckInput {
                        control: &control,
                        treatment: &treatment,
                        control_before: &control_before,
                        treatment_before: &treatment_before,
                        ..input_for(if strategy == RolloutStrategyKind::Canary {
                            Design::Canary
                        } else {
                            Design::AbTest
                        })
                    },
                    detection,
                    window,
                )
            }
        };
        Ok(plan)
    }

    /// Gathers the data of check `seq` and runs the detector.
    fn evaluate(
        &self,
        r: &Rollout,
        seq: u32,
        final_check: bool,
        detection: &Detection,
    ) -> Result<(
        kaizen_core::rollout::check::CheckOutcome,
        kaizen_core::rollout::check::DetectorState,
    )> {
        let source = self.store.signal_source();
        let start_floor = hour_floor(r.started_at);
        let start_ceil = hour_ceil(r.started_at);
        let end = hour_floor(r.check_due_at(seq));
        let primary = self.proposal(&r.proposal_id)?.proposal.primary_metric;
        let a = &r.assignment;
        let outcome = match r.strategy {
            RolloutStrategyKind::Auto => {
                return Err(ServiceError::Store(format!(
                    "rollout {} was stored with the unresolved strategy auto",
                    r.proposal_id
                )));
            }
            RolloutStrategyKind::BeforeAfter => {
                let w = window::before_after(start_floor, start_ceil, end);
                let sums = |h: std::ops::Range<i64>| agent_sums(source, h, &a.treatment);
                let (treatment, control, prior) = (sums(w.after)?, sums(w.week1)?, sums(w.week2)?);
                let (recent, recent1, recent2) = (
                    sums(w.recent)?,
                    sums(w.recent_week1)?,
                    sums(w.recent_week2)?,
                );
                check(
                    &CheckInput {
                        design: Design::BeforeAfter,
                        control: &control,
                        treatment: &treatment,
                        control_before: &[],
                        treatment_before: &[],
                        prior: &prior,
                        pre_shift: Some(PreShift {
                            recent: &recent,
                            week1: &recent1,
                            week2: &recent2,
                        }),
                        primary,
                        final_check,
                        sample_ratio: None,
                    },
                    detection,
                    &r.detector,
                )
            }
            RolloutStrategyKind::Canary | RolloutStrategyKind::AbTest => {
                let w =
                    window::concurrent(start_floor, start_ceil, end, i64::from(r.baseline_hours));
                let control_before = agent_sums(source, w.before.clone(), &a.control)?;
                let treatment_before = agent_sums(source, w.before, &a.treatment)?;
                let control = agent_sums(source, w.after.clone(), &a.control)?;
                let treatment = agent_sums(source, w.after, &a.treatment)?;
                check(
                    &CheckInput {
                        design: if r.strategy == RolloutStrategyKind::Canary {
                            Design::Canary
                        } else {
                            Design::AbTest
                        },
                        control: &control,
                        treatment: &treatment,
                        control_before: &control_before,
                        treatment_before: &treatment_before,
                        prior: &[],
                        pre_shift: None,
                        primary,
                        final_check,
                        sample_ratio: Some(SampleRatio {
                            control_agents: a.control.len(),
                            treatment_agents: a.treatment.len(),
                        }),
                    },
                    detection,
                    &r.detector,
                )
            }
        };
        let (mut outcome, state) = outcome;
        if r.strategy == RolloutStrategyKind::BeforeAfter
            && matches!(outcome.decision, CheckDecision::Apply { .. })
        {
            let from = r.started_at
                - chrono::Duration::hours(2 * window::WEEK_HOURS + i64::from(r.window_hours));
            let to = r.check_due_at(seq);
            let within = |t: DateTime<Utc>| t >= from && t <= to;
            let others: Vec<String> = self
                .store
                .rollouts(None)
                .map_err(rollout_err)?
                .into_iter()
                .filter(|o| o.proposal_id != r.proposal_id)
                .filter(|o| {
                    within(o.started_at) || o.verdict.as_ref().is_some_and(|v| within(v.at))
                })
                .map(|o| format!("{} ({})", o.proposal_id, o.strategy))
                .collect();
            if !others.is_empty() {
                outcome.decision = CheckDecision::Hold {
                    reason: format!(
                        "other rollouts started or ended within the hours this before/after comparison reads ({}): their changes cannot be told apart from this one's; a human decides",
                        others.join(", ")
                    ),
                };
            }
        }
        Ok((outcome, state))
    }

    /// Observing → paused (the proposal → inconclusive), waiting for a human.
    fn pause(&mut self, id: &str, verdict: &RolloutVerdict, now: DateTime<Utc>) -> Result<()> {
        self.store
            .rollout_move(
                id,
                &RolloutMove {
                    from: RolloutState::Observing,
                    to: RolloutState::Paused,
                    proposal: Some((ProposalStatus::RollingOut, ProposalStatus::Inconclusive)),
                    actor: &engine(),
                    reason: Some(&verdict.reason),
                    verdict: Some(verdict),
                    extend_hours: 0,
                },
                now,
            )
            .map_err(rollout_err)?;
        Ok(())
    }

    fn finish_apply(
        &mut self,
        id: &str,
        actor: &Actor,
        verdict: RolloutVerdict,
        executor: &RollbackExecutor,
    ) -> Result<()> {
        let current = self
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        match self
            .store
            .rollout_apply(id, current.id, actor, &verdict, self.clock.now())
        {
            Ok(version) => {
                for n in executor.notify(&version) {
                    if let Some(e) = &n.error {
                        tracing::warn!(proposal = %id, notifier = %n.mutator, error = %e, "notifying a new org version failed");
                    }
                }
                Ok(())
            }
            Err(e) if e.is_user_error() => {
                // The org moved so that the changes no longer apply: a human must choose.
                let reason = format!(
                    "{} — but the changes no longer apply to org version {}: {e}; roll it back or re-propose",
                    verdict.reason, current.id
                );
                // The pause and its alert: both or neither.
                self.unit(|svc| {
                    let r = svc.rollout(id)?;
                    let now = svc.clock.now();
                    if r.state == RolloutState::Observing {
                        let v = RolloutVerdict {
                            outcome: "inconclusive".to_owned(),
                            reason: reason.clone(),
                            ..verdict
                        };
                        svc.pause(id, &v, now)?;
                    }
                    svc.raise_alert(AlertDraft {
                        kind: AlertKind::ApplyConflict,
                        severity: AlertSeverity::Warning,
                        proposal_id: Some(id.to_owned()),
                        dedup_key: None,
                        message: reason.clone(),
                    })?;
                    Ok(())
                })?;
                Err(ServiceError::Rejected(reason))
            }
            Err(e) => Err(store_err(e)),
        }
    }

    fn begin_rollback(
        &mut self,
        id: &str,
        from: RolloutState,
        verdict: RolloutVerdict,
        executor: &RollbackExecutor,
    ) -> Result<()> {
        self.store
            .rollout_move(
                id,
                &RolloutMove {
                    from,
                    to: RolloutState::RollingBack,
                    proposal: None,
                    actor: &engine(),
                    reason: None,
                    verdict: Some(&verdict),
                    extend_hours: 0,
                },
                self.clock.now(),
            )
            .map_err(rollout_err)?;
        self.execute_rollback(id, executor, Some(verdict), &engine())
            .map(|_| ())
    }

    /// Runs the rollback executor on a rolling-back rollout from where it stopped.
    fn execute_rollback(
        &mut self,
        id: &str,
        executor: &RollbackExecutor,
        verdict: Option<RolloutVerdict>,
        actor: &Actor,
    ) -> Result<Option<RollbackFailure>> {
        let r = self.rollout(id)?;
        let scope_agents = r.assignment.treatment.clone();
        let scope = MutationScope {
            proposal_id: id,
            agents: &scope_agents,
        };
        let total = r.rollback.len();
        let mut done = r.reverted as usize;
        let mut failure: Option<(usize, OperationKind, String)> = None;
        while done < total {
            let op = &r.rollback[done];
            let kind = OperationKind::of(op);
            let result = match executor.mutator(kind) {
                Some(m) => m.revert(&scope, op),
                None => Err(format!("no rollback mutator for {kind} operations")),
            };
            match result {
                Ok(()) => {
                    self.store
                        .rollout_set_reverted(id, done as u32, done as u32 + 1, self.clock.now())
                        .map_err(rollout_err)?;
                    done += 1;
                }
                Err(e) => {
                    failure = Some((done, kind, e));
                    break;
                }
            }
        }
        let now = self.clock.now();
        let verdict_base = r
            .verdict
            .clone()
            .or(verdict)
            .unwrap_or_else(|| RolloutVerdict {
                outcome: "rolled_back".to_owned(),
                reason: "rolled back".to_owned(),
                decided_by: ENGINE.to_owned(),
                at: now,
                elapsed_hours: r.elapsed_at(r.checks_done),
                check_seq: None,
            });
        let proposal_from = self.proposal(id)?.status;
        let Some((index, kind, error)) = failure else {
            let v = RolloutVerdict {
                outcome: "rolled_back".to_owned(),
                at: now,
                ..verdict_base
            };
            // The rolled-back state and, when the engine rolled back on its own, its alert:
            // both or neither.
            self.unit(|svc| {
                svc.store
                    .rollout_move(
                        id,
                        &RolloutMove {
                            from: RolloutState::RollingBack,
                            to: RolloutState::RolledBack,
                            proposal: Some((proposal_from, ProposalStatus::RolledBack)),
                            actor,
                            reason: Some(&v.reason),
                            verdict: Some(&v),
                            extend_hours: 0,
                        },
                        now,
                    )
                    .map_err(rollout_err)?;
                if v.decided_by == ENGINE {
                    svc.raise_alert(AlertDraft {
                        kind: AlertKind::Rollback,
                        severity: AlertSeverity::Warning,
                        proposal_id: Some(id.to_owned()),
                        dedup_key: None,
                        message: format!(
                            "proposal {id} was rolled back automatically: {}",
                            v.reason
                        ),
                    })?;
                }
                Ok(())
            })?;
            return Ok(None);
        };
        // Compensate: re-apply what this rollback undid, newest first.
        let mut compensated = true;
        while done > 0 {
            let op = &r.rollback[done - 1];
            let k = OperationKind::of(op);
            let ok = executor
                .mutator(k)
                .is_some_and(|m| m.reapply(&scope, op).is_ok());
            if !ok {
                compensated = false;
                break;
            }
            self.store
                .rollout_set_reverted(id, done as u32, done as u32 - 1, self.clock.now())
                .map_err(rollout_err)?;
            done -= 1;
        }
        let failure = RollbackFailure {
            operation: index,
            kind,
            error: error.clone(),
            compensated,
            reverted: done as u32,
        };
        let state_note = if compensated {
            "every operation already undone was re-applied, so the change is fully live again for its group"
                .to_owned()
        } else {
            format!(
                "compensation failed too: {done} of {total} rollback operations remain executed (a mixed state)"
            )
        };
        let message = format!(
            "automatic rollback of proposal {id} failed at operation {} of {total} ({kind}: {}): {error}; {state_note}. Fix the cause, then `kaizen rollouts decide {id} rollback --reason …` to retry",
            index + 1,
            r.rollback[index]
        );
        let v = RolloutVerdict {
            outcome: "rollback_failed".to_owned(),
            reason: format!("{} — {message}", verdict_base.reason),
            at: now,
            ..verdict_base
        };
        // The failed state and its alert: both or neither.
        self.unit(|svc| {
            svc.store
                .rollout_move(
                    id,
                    &RolloutMove {
                        from: RolloutState::RollingBack,
                        to: RolloutState::RollbackFailed,
                        proposal: (proposal_from != ProposalStatus::RollbackFailed)
                            .then_some((proposal_from, ProposalStatus::RollbackFailed)),
                        actor,
                        reason: Some(&message),
                        verdict: Some(&v),
                        extend_hours: 0,
                    },
                    now,
                )
                .map_err(rollout_err)?;
            svc.raise_alert(AlertDraft {
                kind: AlertKind::RollbackFailed,
                severity: AlertSeverity::Critical,
                proposal_id: Some(id.to_owned()),
                dedup_key: None,
                message: message.clone(),
            })?;
            Ok(())
        })?;
        Ok(Some(failure))
    }

    /// A human decides about a rollout: extend or apply a paused one, roll back a paused or
    /// observing one, or retry a failed rollback. The reason is required.
    pub fn decide_rollout(
        &mut self,
        id: &str,
        decision: Decision,
        actor: &Actor,
        reason: &str,
        executor: &RollbackExecutor,
    ) -> Result<Rollout> {
        crate::review::require_human(actor, "decide on the rollout of a proposal")?;
        if reason.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "a rollout decision needs a reason (--reason TEXT)".to_owned(),
            ));
        }
        let r = self.rollout(id)?;
        let now = self.clock.now();
        let verdict = |outcome: &str| RolloutVerdict {
            outcome: outcome.to_owned(),
            reason: format!("decided by {}: {reason}", actor.name),
            decided_by: actor.name.clone(),
            at: now,
            elapsed_hours: r.elapsed_at(r.checks_done),
            check_seq: None,
        };
        match (decision, r.state) {
            (Decision::Extend { hours }, RolloutState::Paused) => {
                if hours == 0 {
                    return Err(ServiceError::Invalid(
                        "an extension needs at least one hour (--hours N)".to_owned(),
                    ));
                }
                // The window grows from its current end; the checks continue on the same grid.
                let extra = hours.max(1);
                let moved = self
                    .store
                    .rollout_move(
                        id,
                        &RolloutMove {
                            from: RolloutState::Paused,
                            to: RolloutState::Observing,
                            proposal: Some((
                                ProposalStatus::Inconclusive,
                                ProposalStatus::RollingOut,
                            )),
                            actor,
                            reason: Some(&format!("extended by {extra} h: {reason}")),
                            verdict: None,
                            extend_hours: extra,
                        },
                        now,
                    )
                    .map_err(rollout_err)?;
                Ok(moved)
            }
            (Decision::Apply, RolloutState::Paused) => {
                self.finish_apply(id, actor, verdict("applied"), executor)?;
                self.rollout(id)
            }
            (
                Decision::Rollback,
                RolloutState::Paused | RolloutState::Observing | RolloutState::RollbackFailed,
            ) => {
                let v = verdict("rolled_back");
                if let Some(f) = {
                    self.store
                        .rollout_move(
                            id,
                            &RolloutMove {
                                from: r.state,
                                to: RolloutState::RollingBack,
                                proposal: None,
                                actor,
                                reason: None,
                                verdict: Some(&v),
                                extend_hours: 0,
                            },
                            now,
                        )
                        .map_err(rollout_err)?;
                    self.execute_rollback(id, executor, Some(v), actor)?
                } {
                    return Err(ServiceError::Rejected(format!(
                        "the rollback of proposal {id} failed at operation {} ({}): {}",
                        f.operation + 1,
                        f.kind,
                        f.error
                    )));
                }
                self.rollout(id)
            }
            (d, state) => Err(ServiceError::Invalid(format!(
                "rollout {id} is {state}; {} is not possible now (extend and apply need a paused rollout; rollback an observing, paused or failed one)",
                match d {
                    Decision::Extend { .. } => "extend",
                    Decision::Apply => "apply",
                    Decision::Rollback => "rollback",
                }
            ))),
        }
    }

    /// When the next rollout check is due, if any rollout is observing.
    pub fn next_rollout_check(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .store
            .rollouts(Some(RolloutState::Observing))
            .map_err(rollout_err)?
            .iter()
            .filter_map(Rollout::next_check_at)
            .min())
    }
}
