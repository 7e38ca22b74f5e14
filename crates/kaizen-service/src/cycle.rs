//! The improvement cycle: snapshot → rules → memory → strategies (per enabled altitude) → guard
//! chain → approval queue, persisted as a cycle record; and the scheduler's "is a cycle due?"
//! check. The memory ([`kaizen_core::improve::memory`]) skips rules whose fix is still settling
//! and altitudes a reviewer keeps rejecting (each with a note), lets the config-tuning strategy
//! move past alternatives that failed or were turned down, and arms the `memory` guard.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Duration, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::KaizenConfig;
use kaizen_core::improve::guards::{GuardChain, GuardContext, GuardResult, proposal_fingerprint};
use kaizen_core::improve::{
    ArchitectureStrategy, ConfigTuningStrategy, ImprovementProposal, ImprovementStrategy, Memory,
    PromptTuningStrategy, RolloutDefaults, StrategyContext, StrategyNote,
};
use kaizen_core::rules::{RuleEngine, RuleMatch};
use kaizen_core::signals::SnapshotBuilder;
use kaizen_core::snapshot::{DomainFailure, SnapshotWindow};
use kaizen_store::proposals::{CycleRecord, CycleSummary, QueueOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Result, Service, ServiceError, store_err};

/// The actor the audit log names for scheduled cycles run by the background loop.
pub const SCHEDULER: &str = "scheduler";

/// Meta key holding the start of the last scheduled or manual (non-dry-run) cycle. Inflection
/// cycles leave it alone: they do not move the schedule.
pub const LAST_CYCLE_KEY: &str = "last_cycle_at";

/// Why a cycle ran.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CycleTrigger {
    /// A person asked for it.
    Manual,
    /// `schedule.cycle_interval_hours` elapsed.
    Schedule,
    /// The inflection monitor saw a sharp change (`inflection.rs`).
    Inflection,
}

impl CycleTrigger {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How to run a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleOptions {
    /// Why.
    pub trigger: CycleTrigger,
    /// Run everything but queue nothing.
    pub dry_run: bool,
}

/// What became of one proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProposalOutcome {
    /// Passed every guard and waits for a human.
    Queued,
    /// Passed every guard; not queued because this is a dry run.
    WouldQueue,
    /// An equivalent proposal is already open; it recorded that the condition persists.
    Duplicate {
        /// The open proposal.
        existing_id: String,
    },
    /// A guard rejected it.
    RejectedByGuard {
        /// The guard.
        guard: String,
        /// Why.
        reason: String,
    },
}

/// One proposal of a cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CycleProposal {
    /// Proposal id.
    pub id: String,
    /// Altitude.
    pub altitude: Altitude,
    /// Title.
    pub title: String,
    /// The rule that led to it.
    pub rule_name: String,
    /// Guard verdicts, in chain order.
    pub guards: Vec<GuardResult>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ProposalOutcome,
}

/// A strategy that could not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyFailure {
    /// The strategy.
    pub strategy: String,
    /// What went wrong.
    pub error: String,
}

/// The persisted record of one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CycleReport {
    /// Cycle id.
    pub id: String,
    /// Why it ran.
    pub trigger: CycleTrigger,
    /// Whether nothing was queued on purpose.
    pub dry_run: bool,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub completed_at: DateTime<Utc>,
    /// The snapshot window.
    pub window: SnapshotWindow,
    /// The org version the proposals were made against.
    pub org_version: i64,
    /// Agents and tasks in the snapshot (a summary; the snapshot is rebuilt from rollups).
    pub agents: u64,
    /// Tasks in the window.
    pub tasks: u64,
    /// Domains whose aggregator failed.
    pub failed_domains: Vec<DomainFailure>,
    /// Rules that fired.
    pub matches: Vec<RuleMatch>,
    /// Rules that failed.
    pub rule_failures: Vec<String>,
    /// Proposals and their fate.
    pub proposals: Vec<CycleProposal>,
    /// Matches that produced no proposal, and why.
    pub notes: Vec<StrategyNote>,
    /// Strategies that failed (the others' proposals survive).
    pub strategy_failures: Vec<StrategyFailure>,
}

impl CycleReport {
    /// Proposals that were queued.
    pub fn queued(&self) -> impl Iterator<Item = &CycleProposal> {
        self.proposals
            .iter()
            .filter(|p| p.outcome == ProposalOutcome::Queued)
    }
}

/// Adjusts a proposal's confidence before the guards see it, e.g. from the outcomes of
/// similar past proposals ([`crate::outcomes::LearnedAdjuster`], which `run_cycle` uses).
pub trait ConfidenceAdjuster: Send + Sync {
    /// Changes `proposal.confidence` (kept within 0..=1 by the cycle).
    fn adjust(&self, proposal: &mut ImprovementProposal);
}

/// What a cycle runs: the strategies of the enabled altitudes and an optional confidence
/// adjuster. [`CyclePlan::from_config`] is what `run_cycle` uses.
pub struct CyclePlan {
    /// Strategies, run in order; each sees only the matches that suggest its altitude.
    pub strategies: Vec<Box<dyn ImprovementStrategy>>,
    /// The confidence adjustment hook.
    pub adjuster: Option<Box<dyn ConfidenceAdjuster>>,
}

impl CyclePlan {
    /// The standard strategies for the altitudes `config` enables, with its knobs and
    /// playbooks; no confidence adjustment.
    pub fn from_config(config: &KaizenConfig) -> Result<Self> {
        Ok(Self {
            strategies: strategies(config)?,
            adjuster: None,
        })
    }
}

fn strategies(config: &KaizenConfig) -> Result<Vec<Box<dyn ImprovementStrategy>>> {
    let si = &config.self_improvement;
    let mut out: Vec<Box<dyn ImprovementStrategy>> = Vec::new();
    if si.altitude_enabled(Altitude::ConfigTuning) {
        let improvement = &config.improvement;
        let registry = improvement
            .registry()
            .map_err(|e| ServiceError::Invalid(format!("improvement.knobs: {e}")))?;
        out.push(Box::new(ConfigTuningStrategy::new(
            registry,
            improvement.playbooks(),
        )));
    }
    if si.altitude_enabled(Altitude::Architecture) {
        out.push(Box::new(ArchitectureStrategy::new()));
    }
    if si.altitude_enabled(Altitude::PromptTuning) {
        out.push(Box::new(PromptTuningStrategy::new()));
    }
    Ok(out)
}

impl Service<'_> {
    /// Runs one improvement cycle with the standard plan (and the learned confidence adjuster of
    /// `self_improvement.learning`) and records it. Refuses when the loop
    /// is disabled or there is no org document. Nothing is ever applied here: proposals wait
    /// for a human.
    pub fn run_cycle(&mut self, options: CycleOptions) -> Result<CycleReport> {
        let mut plan = CyclePlan::from_config(self.config)?;
        if let Some(learned) = self.learned_adjuster()? {
            plan.adjuster = Some(Box::new(learned));
        }
        self.run_cycle_with(options, plan)
    }

    /// [`Service::run_cycle`] with an explicit plan (custom strategies, a confidence adjuster).
    pub fn run_cycle_with(
        &mut self,
        options: CycleOptions,
        plan: CyclePlan,
    ) -> Result<CycleReport> {
        if !self.config.self_improvement.enabled {
            return Err(ServiceError::Disabled);
        }
        let org = self
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        // Microsecond precision, as the store keeps it.
        let now = self.clock.now();
        let started_at =
            DateTime::<Utc>::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let id = self.unique_cycle_id(started_at)?;
        let until = started_at;
        let since = until - Duration::days(i64::from(self.config.signals.default_window_days));
        let snapshot = SnapshotBuilder::new(self.config.signals.clone()).build(
            self.store.signal_source(),
            since,
            until,
        );
        let evaluation = RuleEngine::from_config(&self.config.rules).evaluate(&snapshot);

        // A budget that runs out before its period resets reaches people, not only the queue
        // (de-duplicated while the alert is open).
        if !options.dry_run
            && let Some(m) = evaluation
                .matches
                .iter()
                .find(|m| m.rule_name == "budget_overrun")
        {
            self.raise_alert(kaizen_store::alerts::AlertDraft {
                kind: kaizen_core::config::AlertKind::Budget,
                severity: kaizen_core::config::AlertSeverity::Critical,
                proposal_id: None,
                dedup_key: Some("budget_overrun".to_owned()),
                message: m.description.clone(),
            })?;
        }
        let rollout = RolloutDefaults::from(&self.config.self_improvement.rollout);
        let memory = self.memory(started_at)?;
        let mut proposals = Vec::new();
        let mut notes = Vec::new();
        let mut strategy_failures = Vec::new();
        // A rule whose fix is being rolled out or was applied within the signal window gets
        // no new proposal (the snapshot cannot show the fix's effect yet).
        let mut settled = std::collections::BTreeSet::new();
        for m in &evaluation.matches {
            if let Some(why) = memory.settling(&m.rule_name) {
                notes.push(StrategyNote::skipped(&m.rule_name, why));
                settled.insert(m.rule_name.clone());
            }
        }
        for strategy in &plan.strategies {
            let matches: Vec<RuleMatch> = evaluation
                .matches
                .iter()
                .filter(|m| m.suggested_altitudes.contains(&strategy.altitude()))
                .filter(|m| !settled.contains(&m.rule_name))
                .cloned()
                .collect();
            if matches.is_empty() {
                continue;
            }
            if let Some(why) = memory.altitude_paused(strategy.altitude()) {
                for m in &matches {
                    notes.push(StrategyNote::skipped(&m.rule_name, why.clone()));
                }
                continue;
            }
            let ctx = StrategyContext {
                snapshot: &snapshot,
                matches: &matches,
                org: &org.document,
                now: started_at,
                cycle_id: Some(&id),
                rollout,
                memory: Some(&memory),
            };
            // One strategy failing (or panicking) never aborts the cycle.
            match catch_unwind(AssertUnwindSafe(|| strategy.propose(&ctx))) {
                Ok(Ok(output)) => {
                    proposals.extend(output.proposals);
                    notes.extend(output.notes);
                }
                Ok(Err(e)) => strategy_failures.push(StrategyFailure {
                    strategy: strategy.name().to_owned(),
                    error: e.to_string(),
                }),
                Err(_) => strategy_failures.push(StrategyFailure {
                    strategy: strategy.name().to_owned(),
                    error: "the strategy panicked".to_owned(),
                }),
            }
        }

        let window_hours = i64::from(self.config.self_improvement.guards.rate_limit_window_hours);
        let mut submitted = self
            .store
            .proposals_submitted_since(started_at - Duration::hours(window_hours))
            .map_err(store_err)?;
        if let Some(adjuster) = &plan.adjuster {
            for proposal in &mut proposals {
                adjuster.adjust(proposal);
                proposal.confidence = proposal.confidence.clamp(0.0, 1.0);
            }
        }
        let chain = GuardChain::standard();
        let mut outcomes = Vec::new();
        for proposal in proposals {
            let ctx = GuardContext {
                config: &self.config.self_improvement,
                org: &org.document,
                submissions_in_window: submitted,
                memory: Some(&memory),
            };
            let verdict = chain.evaluate(&proposal, &ctx);
            let mut stored_id = proposal.id.clone();
            let outcome = if let Some(rejection) = verdict.results.iter().find(|r| !r.passed()) {
                ProposalOutcome::RejectedByGuard {
                    guard: rejection.guard.clone(),
                    reason: rejection.reason.clone(),
                }
            } else if options.dry_run {
                // Predict what a real run would do, without writing.
                match self
                    .store
                    .open_proposal_with_fingerprint(&proposal_fingerprint(&proposal))
                    .map_err(store_err)?
                {
                    Some(existing_id) => ProposalOutcome::Duplicate { existing_id },
                    None => {
                        submitted += 1;
                        ProposalOutcome::WouldQueue
                    }
                }
            } else {
                let fingerprint = proposal_fingerprint(&proposal);
                match self
                    .store
                    .queue_proposal(&proposal, &verdict.results, &fingerprint, started_at)
                    .map_err(store_err)?
                {
                    QueueOutcome::Queued { id } => {
                        submitted += 1;
                        stored_id = id;
                        ProposalOutcome::Queued
                    }
                    QueueOutcome::Duplicate { existing_id } => {
                        ProposalOutcome::Duplicate { existing_id }
                    }
                }
            };
            outcomes.push(CycleProposal {
                id: stored_id,
                altitude: proposal.altitude,
                title: proposal.title.clone(),
                rule_name: proposal.rationale.rule_name.clone(),
                guards: verdict.results,
                outcome,
            });
        }

        let report = CycleReport {
            id,
            trigger: options.trigger,
            dry_run: options.dry_run,
            started_at,
            completed_at: self.clock.now(),
            window: snapshot.window,
            org_version: org.id,
            agents: snapshot.performance.agent_count,
            tasks: snapshot.performance.task_count,
            failed_domains: snapshot.failed_domains.clone(),
            matches: evaluation.matches,
            rule_failures: evaluation
                .failures
                .iter()
                .map(|f| format!("{}: {}", f.rule, f.error))
                .collect(),
            proposals: outcomes,
            notes,
            strategy_failures,
        };
        self.record(&report)?;
        Ok(report)
    }

    /// The loop's memory at `now` ([`kaizen_core::improve::memory`]): the proposals closed
    /// within the cooldown, the ones being rolled out and the "never again" ones; an empty
    /// memory when `self_improvement.memory.enabled` is off.
    pub fn memory(&self, now: DateTime<Utc>) -> Result<Memory> {
        let config = &self.config.self_improvement.memory;
        if !config.enabled {
            return Ok(Memory::empty(now));
        }
        let cooldown = Duration::days(i64::from(config.cooldown_days));
        let past = self
            .store
            .past_proposals(now - cooldown)
            .map_err(store_err)?;
        let settle = Duration::days(i64::from(self.config.signals.default_window_days));
        Ok(Memory::new(past, now, config.clone(), settle))
    }

    /// `c<start time>`, with a `-N` suffix when a cycle already has that id (two cycles within
    /// a millisecond, or a manual clock that did not move).
    fn unique_cycle_id(&self, started_at: DateTime<Utc>) -> Result<String> {
        let base = format!("c{}", started_at.format("%Y%m%dT%H%M%S%.3fZ"));
        let mut id = base.clone();
        let mut n = 1;
        while self.store.cycle(&id).map_err(store_err)?.is_some() {
            n += 1;
            id = format!("{base}-{n}");
        }
        Ok(id)
    }

    fn record(&mut self, report: &CycleReport) -> Result<()> {
        let json = serde_json::to_string(report).map_err(store_err)?;
        self.store
            .record_cycle(&CycleRecord {
                summary: CycleSummary {
                    id: report.id.clone(),
                    started_at: report.started_at,
                    completed_at: report.completed_at,
                    trigger: report.trigger.as_str().to_owned(),
                    dry_run: report.dry_run,
                    window_since: report.window.since,
                    window_until: report.window.until,
                },
                report: json,
            })
            .map_err(store_err)?;
        if !report.dry_run && report.trigger != CycleTrigger::Inflection {
            self.store
                .meta_set(LAST_CYCLE_KEY, &report.started_at.to_rfc3339())
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// When the next scheduled cycle is due (`None`: the loop is disabled).
    pub fn next_cycle_due(&self) -> Result<Option<DateTime<Utc>>> {
        if !self.config.self_improvement.enabled {
            return Ok(None);
        }
        let last = self
            .store
            .meta_get(LAST_CYCLE_KEY)
            .map_err(store_err)?
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        let interval = Duration::hours(i64::from(
            self.config.self_improvement.schedule.cycle_interval_hours,
        ));
        Ok(Some(match last {
            Some(last) => last + interval,
            None => self.clock.now(),
        }))
    }

    /// Runs a scheduled cycle if one is due. The last run is persisted, so a restart neither
    /// skips nor repeats a cycle.
    pub fn run_due_cycle(&mut self) -> Result<Option<CycleReport>> {
        match self.next_cycle_due()? {
            Some(due) if due <= self.clock.now() => self
                .run_cycle(CycleOptions {
                    trigger: CycleTrigger::Schedule,
                    dry_run: false,
                })
                .map(Some),
            _ => Ok(None),
        }
    }

    /// A recorded cycle.
    pub fn cycle(&self, id: &str) -> Result<Option<CycleReport>> {
        let Some(record) = self.store.cycle(id).map_err(store_err)? else {
            return Ok(None);
        };
        serde_json::from_str(&record.report)
            .map(Some)
            .map_err(|e| ServiceError::Store(format!("cycle {id} has an unreadable report: {e}")))
    }
}

#[cfg(test)]
mod wire_name_tests {
    use strum::IntoEnumIterator;

    use super::CycleTrigger;

    #[test]
    fn cycle_trigger_names_are_the_serde_names() {
        let names: Vec<&str> = CycleTrigger::iter().map(CycleTrigger::as_str).collect();
        assert_eq!(names, ["manual", "schedule", "inflection"]);
        for t in CycleTrigger::iter() {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<CycleTrigger>(&json).unwrap(), t);
        }
    }
}
