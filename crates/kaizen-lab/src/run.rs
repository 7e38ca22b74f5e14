//! `kaizen sim run`: one scenario to its end, twice with the same seed — with kaizen's loop
//! and without it (the counterfactual) — and the report that compares them.
//!
//! The run with the loop is deterministic for a seed: one thread drives a
//! [`ManualClock`] step by step (an hour by default). At each step every agent reads its
//! effective configuration ([`EffectiveConfigs`], so rollout overlays reach exactly their
//! treatment group), the organisation works the step's tasks, the events are ingested into a
//! real SQLite store, the clock moves to the step's end, a scheduled cycle runs when due
//! (`Service::run_due_cycle`), due rollout checks run (`Service::tick_rollouts`, as
//! `kaizen rollouts tick` does), and the simulated reviewer acts over the REST API of an
//! in-process `kaizen_server` (without its background loop, which this driver replaces).
//!
//! The counterfactual runs the same organisation on the same random numbers with the initial
//! configuration throughout and no kaizen at all; it needs no store.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::inflection::InflectionMetric;
use kaizen_core::rollout::check::{Metric, MetricDecision};
use kaizen_service::Service;
use kaizen_service::cycle::LAST_CYCLE_KEY;
use kaizen_service::effective::EffectiveConfigs;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::proposals::{ActorKind, ProposalStatus};
use kaizen_store::rollouts::RolloutState;
use kaizen_store::{IngestOptions, Store};

use crate::client::Client;
use crate::error::LabError;
use crate::kpi::Kpis;
use crate::model::Knobs;
use crate::report::{
    BudgetReport, Check, FaultReport, HarmSummary, OnsetReport, OracleReport, ProposalCounts,
    ProposalReport, RolloutReport, RuleFiring, ScenarioReport,
};
use crate::reviewer::{REVIEWER, ReviewAction, Reviewer};
use crate::scenario::{FaultKind, Scenario};
use crate::server::{LabServer, REVIEWER_CAPS, create_token};
use crate::world::World;

/// Tasks the oracle simulates per configuration to judge a change.
const ORACLE_TASKS: u64 = 40_000;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The run without kaizen.
    Counterfactual,
    /// The run with kaizen's loop.
    Loop,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress<'a> {
    /// The scenario.
    pub scenario: &'a str,
    /// Which run.
    pub phase: Phase,
    /// Steps done.
    pub done: u64,
    /// Steps in the run.
    pub total: u64,
    /// Simulated time.
    pub now: DateTime<Utc>,
    /// Proposals queued so far (the run with the loop).
    pub proposals: u32,
}

/// How to run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Called as the run advances (about once per simulated day).
    pub progress: Option<&'a dyn Fn(&Progress<'_>)>,
    /// Keep the store of the run with the loop here (a fresh directory) instead of a temporary
    /// one, to look at it afterwards with `kaizen --store DIR/kaizen.db …`.
    pub keep_dir: Option<PathBuf>,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("keep_dir", &self.keep_dir)
            .finish_non_exhaustive()
    }
}

/// The simulated step.
pub const STEP: Duration = Duration::hours(1);

/// Runs `scenario` with and without the loop and reports.
pub fn run_scenario(
    scenario: &Scenario,
    opts: &RunOptions<'_>,
) -> Result<ScenarioReport, LabError> {
    let started = Instant::now();
    let without = counterfactual(scenario, opts);
    let with = closed_loop(scenario, opts)?;
    let mut report = report(scenario, &with, &without);
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn steps(s: &Scenario) -> u64 {
    u64::from(s.days) * 24
}

/// The organisation without kaizen: the initial configuration throughout.
pub fn counterfactual(s: &Scenario, opts: &RunOptions<'_>) -> World {
    let mut world = World::new(s, false);
    let knobs = vec![world.initial_knobs(); world.agents().len()];
    let total = steps(s);
    for i in 0..total {
        let t0 = s.start + STEP * i as i32;
        world.step(i, t0, t0 + STEP, &knobs);
        if let Some(p) = opts.progress
            && (i + 1) % 24 == 0
        {
            p(&Progress {
                scenario: &s.name,
                phase: Phase::Counterfactual,
                done: i + 1,
                total,
                now: t0 + STEP,
                proposals: 0,
            });
        }
    }
    world
}

/// A cycle's findings, as the report needs them.
#[derive(Debug, Clone)]
pub(crate) struct CycleSeen {
    pub(crate) at: DateTime<Utc>,
    pub(crate) rules: Vec<String>,
    /// `schedule`, `inflection` or `manual`.
    pub(crate) trigger: String,
}

/// An inflection alert, as the report needs it.
#[derive(Debug, Clone)]
pub(crate) struct InflectionSeen {
    pub(crate) at: DateTime<Utc>,
    /// The metric (`None` when the alert's text names none the lab knows).
    pub(crate) metric: Option<InflectionMetric>,
}

/// What the run with the loop leaves behind.
pub(crate) struct LoopRun {
    pub(crate) world: World,
    pub(crate) cycles: Vec<CycleSeen>,
    pub(crate) reviewer: Vec<ReviewAction>,
    pub(crate) proposals: Vec<ProposalReport>,
    pub(crate) inflections: Vec<InflectionSeen>,
}

/// Reads every agent's knobs through the effective-config read path.
pub(crate) struct AgentConfigs {
    effective: EffectiveConfigs,
    cache: HashMap<String, (String, Knobs)>,
}

impl AgentConfigs {
    pub(crate) fn new() -> Self {
        Self {
            // Re-read the store's generation once per step (`invalidate`), not on every read.
            effective: EffectiveConfigs::with_recheck(std::time::Duration::from_secs(
                365 * 24 * 3600,
            )),
            cache: HashMap::new(),
        }
    }

    pub(crate) fn read(
        &mut self,
        store: &mut Store,
        ids: &[String],
    ) -> Result<Vec<Knobs>, LabError> {
        self.effective.invalidate();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let c = self
                .effective
                .get(store, id)
                .map_err(|e| LabError::Config {
                    agent: id.clone(),
                    message: e.to_string(),
                })?;
            match self.cache.get(id) {
                Some((etag, k)) if *etag == c.config.etag => out.push(k.clone()),
                _ => {
                    let k = Knobs::from_config(&c.config.settings, &c.config.principles).map_err(
                        |message| LabError::Config {
                            agent: id.clone(),
                            message,
                        },
                    )?;
                    self.cache
                        .insert(id.clone(), (c.config.etag.clone(), k.clone()));
                    out.push(k);
                }
            }
        }
        Ok(out)
    }
}

fn closed_loop(s: &Scenario, opts: &RunOptions<'_>) -> Result<LoopRun, LabError> {
    let temp;
    let dir = match &opts.keep_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("kaizen-lab-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let db = dir.join("kaizen.db");
    if db.exists() {
        return Err(LabError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists; a run needs a fresh store", db.display()),
        )));
    }
    let mut world = World::new(s, true);
    let mut store = Store::open(&db).map_err(LabError::store)?;
    store
        .org_import(
            world.org_document(),
            "kaizen-lab",
            s.start - Duration::days(1),
        )
        .map_err(LabError::store)?;
    // The first scheduled cycle runs one interval after the start, not at once on no data.
    store
        .meta_set(LAST_CYCLE_KEY, &s.start.to_rfc3339())
        .map_err(LabError::store)?;
    let token = create_token(
        &mut store,
        REVIEWER,
        ActorKind::Human,
        &REVIEWER_CAPS,
        s.start,
    )?;
    let config = s.loop_config();
    let clock = Arc::new(ManualClock::new(s.start));
    let server = LabServer::start(
        Store::open(&db).map_err(LabError::store)?,
        kaizen_server::settings::Settings {
            kaizen: config.clone(),
            ..Default::default()
        },
        Arc::clone(&clock) as Arc<dyn Clock>,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        false,
    )?;
    let mut reviewer = Reviewer::new(
        Client::new(&server.base, &token),
        s.reviewer.clone(),
        s.settle_hours(),
    );
    let executor = RollbackExecutor::default();
    let ids: Vec<String> = world.agents().iter().map(|a| a.id.clone()).collect();
    let mut configs = AgentConfigs::new();
    let mut cycles = Vec::new();
    let total = steps(s);
    for i in 0..total {
        let t0 = s.start + STEP * i as i32;
        let t1 = t0 + STEP;
        let knobs = configs.read(&mut store, &ids)?;
        world.step(i, t0, t1, &knobs);
        let bytes = world.emitter().take()?;
        if !bytes.is_empty() {
            let r = store
                .ingest(&bytes[..], IngestOptions::new(t1))
                .map_err(LabError::store)?;
            if r.rejected > 0 {
                let first = r
                    .rejections
                    .first()
                    .map_or_else(String::new, ToString::to_string);
                return Err(LabError::Store(format!(
                    "the store rejected {} simulated events (a bug in the simulator); first: {first}",
                    r.rejected
                )));
            }
        }
        clock.set(t1);
        let mut svc = Service {
            store: &mut store,
            config: &config,
            clock: clock.as_ref(),
        };
        if let Some(c) = svc.run_due_cycle().map_err(LabError::service)? {
            cycles.push(CycleSeen {
                at: c.started_at,
                rules: c.matches.iter().map(|m| m.rule_name.clone()).collect(),
                trigger: c.trigger.as_str().to_owned(),
            });
        }
        // The inflection monitor, as the server's background loop runs it after the schedule.
        if let (_, Some(c)) = svc.inflection_tick().map_err(LabError::service)? {
            cycles.push(CycleSeen {
                at: c.started_at,
                rules: c.matches.iter().map(|m| m.rule_name.clone()).collect(),
                trigger: c.trigger.as_str().to_owned(),
            });
        }
        svc.tick_rollouts(&executor).map_err(LabError::service)?;
        if needs_review(&store)? {
            reviewer.act(t1)?;
        }
        if let Some(p) = opts.progress
            && ((i + 1) % 24 == 0 || i + 1 == total)
        {
            let proposals = store
                .proposal_counts()
                .map_err(LabError::store)?
                .iter()
                .map(|(_, n)| *n as u32)
                .sum();
            p(&Progress {
                scenario: &s.name,
                phase: Phase::Loop,
                done: i + 1,
                total,
                now: t1,
                proposals,
            });
        }
    }
    server.stop();
    let proposals = proposal_reports(&mut store, &world)?;
    let inflections = inflections_from_store(&store)?;
    Ok(LoopRun {
        world,
        cycles,
        reviewer: reviewer.log().to_vec(),
        proposals,
        inflections,
    })
}

/// The inflection alerts recorded in `store`, oldest first. The metric is the first word of
/// the alert's text (the detector's description starts with it).
pub(crate) fn inflections_from_store(store: &Store) -> Result<Vec<InflectionSeen>, LabError> {
    let mut out: Vec<InflectionSeen> = store
        .alerts(true)
        .map_err(LabError::store)?
        .into_iter()
        .filter(|a| a.kind == kaizen_service::inflection::ALERT_KIND)
        .map(|a| InflectionSeen {
            at: a.at,
            metric: InflectionMetric::ALL
                .into_iter()
                .find(|m| a.message.split_whitespace().next() == Some(m.as_str())),
        })
        .collect();
    out.sort_by_key(|i| i.at);
    Ok(out)
}

/// The inflection metric a fault moves, when the detector watches one.
pub fn fault_metric(kind: FaultKind) -> Option<InflectionMetric> {
    match kind {
        FaultKind::ErrorFlood => Some(InflectionMetric::ErrorRate),
        FaultKind::SilentFailures => Some(InflectionMetric::FailureRate),
        FaultKind::SpendSurge | FaultKind::HandoffBloat => Some(InflectionMetric::SpendPerTask),
        FaultKind::QualityDrop => Some(InflectionMetric::Quality),
        _ => None,
    }
}

/// The cycles recorded in `store`, oldest first, with the rules that fired in each.
pub(crate) fn cycles_from_store(store: &Store) -> Result<Vec<CycleSeen>, LabError> {
    let mut out = Vec::new();
    for summary in store.cycles(100_000).map_err(LabError::store)? {
        let Some(record) = store.cycle(&summary.id).map_err(LabError::store)? else {
            continue;
        };
        let report: kaizen_service::CycleReport = serde_json::from_str(&record.report)
            .map_err(|e| LabError::Store(format!("cycle {}: {e}", summary.id)))?;
        if !report.dry_run {
            out.push(CycleSeen {
                at: report.started_at,
                rules: report.matches.iter().map(|m| m.rule_name.clone()).collect(),
                trigger: report.trigger.as_str().to_owned(),
            });
        }
    }
    out.sort_by_key(|c| c.at);
    Ok(out)
}

/// Whether the reviewer has anything to look at: a pending or approved proposal, or a paused
/// rollout (read in-process, so quiet steps cost no HTTP round trip).
fn needs_review(store: &Store) -> Result<bool, LabError> {
    let proposals = store.proposal_counts().map_err(LabError::store)?;
    let waiting = proposals
        .iter()
        .any(|(st, n)| *n > 0 && matches!(st, ProposalStatus::Pending | ProposalStatus::Approved));
    if waiting {
        return Ok(true);
    }
    let rollouts = store.rollout_counts().map_err(LabError::store)?;
    Ok(rollouts
        .iter()
        .any(|(st, n)| *n > 0 && *st == RolloutState::Paused))
}

fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

pub(crate) fn proposal_reports(
    store: &mut Store,
    world: &World,
) -> Result<Vec<ProposalReport>, LabError> {
    let (mut list, _) = store.proposals(None, 100_000, 0).map_err(LabError::store)?;
    list.reverse();
    let mut out = Vec::with_capacity(list.len());
    for summary in list {
        let p = store
            .proposal(&summary.id)
            .map_err(LabError::store)?
            .ok_or_else(|| LabError::Store(format!("proposal {} vanished", summary.id)))?;
        let approved_at = p
            .transitions
            .iter()
            .find(|t| t.to_status == ProposalStatus::Approved)
            .map(|t| t.at);
        let rollout = store.rollout(&summary.id).map_err(LabError::store)?;
        let (rollout_report, oracle) = match rollout {
            None => (None, None),
            Some(r) => {
                let checks = store
                    .rollout_checks(&r.proposal_id)
                    .map_err(LabError::store)?;
                let first_testable = checks
                    .iter()
                    .find(|c| {
                        c.outcome.metrics.iter().any(|m| {
                            matches!(m.metric, Metric::Quality | Metric::SuccessRate)
                                && !matches!(
                                    m.decision,
                                    MetricDecision::NotReported | MetricDecision::InsufficientData
                                )
                        })
                    })
                    .map(|c| c.seq);
                let verdict = r.verdict.as_ref();
                let report = RolloutReport {
                    strategy: r.strategy.as_str().to_owned(),
                    started_at: r.started_at,
                    treatment_agents: r.assignment.treatment.len(),
                    verdict: verdict.map(|v| v.outcome.clone()),
                    verdict_at: verdict.map(|v| v.at),
                    reason: verdict.map(|v| v.reason.clone()),
                    approval_to_verdict_hours: match (approved_at, verdict) {
                        (Some(a), Some(v)) => Some(hours_between(a, v.at)),
                        _ => None,
                    },
                    checks: r.checks_done,
                    interval_hours: r.interval_hours,
                    first_testable_check: first_testable,
                    verdict_check: verdict.and_then(|v| v.check_seq),
                };
                let base = store
                    .org_version(r.base_version)
                    .map_err(LabError::store)?
                    .ok_or_else(|| {
                        LabError::Store(format!("org version {} is missing", r.base_version))
                    })?
                    .document;
                let oracle = base.apply(&r.changes).ok().and_then(|after| {
                    let before_k = Knobs::from_config(&base.settings, &base.principles).ok()?;
                    let after_k = Knobs::from_config(&after.settings, &after.principles).ok()?;
                    let at = Some(r.started_at);
                    let b = world.expected_kpis(&before_k, at, ORACLE_TASKS);
                    let a = world.expected_kpis(&after_k, at, ORACLE_TASKS);
                    Some(OracleReport::judge(&b, &a))
                });
                (Some(report), oracle)
            }
        };
        out.push(ProposalReport {
            id: summary.id.clone(),
            rule: summary.rule_name.clone(),
            altitude: summary.altitude,
            title: summary.title.clone(),
            changes: p.proposal.changes.iter().map(ToString::to_string).collect(),
            queued_at: p.created_at,
            status: p.status.as_str().to_owned(),
            approved_at,
            rollout: rollout_report,
            oracle,
            confidence: p.proposal.confidence,
            proposed_again_because: p
                .guards
                .iter()
                .find(|g| g.guard == "memory" && g.reason.starts_with("proposed again"))
                .map(|g| g.reason.clone()),
        });
    }
    Ok(out)
}

pub(crate) fn report(s: &Scenario, with: &LoopRun, without: &World) -> ScenarioReport {
    let kpi_days = s.kpi_days() as usize;
    let days = s.days as usize;
    let from = days - kpi_days;
    let with_kpis = with.world.ledger().kpis(from, days);
    let without_kpis = without.ledger().kpis(from, days);

    let mut rules: BTreeMap<String, RuleFiring> = BTreeMap::new();
    for c in &with.cycles {
        for r in &c.rules {
            let e = rules.entry(r.clone()).or_insert(RuleFiring {
                rule: r.clone(),
                first_at: c.at,
                last_at: c.at,
                cycles: 0,
            });
            e.last_at = c.at;
            e.cycles += 1;
        }
    }
    let mut rules: Vec<RuleFiring> = rules.into_values().collect();
    rules.sort_by(|a, b| a.first_at.cmp(&b.first_at).then(a.rule.cmp(&b.rule)));

    let faults: Vec<FaultReport> = s
        .faults
        .iter()
        .map(|f| {
            let starts = f.starts(s.start);
            let rule = f.kind.rule();
            let detected = with
                .cycles
                .iter()
                .find(|c| c.at >= starts && c.rules.iter().any(|r| r == rule))
                .map(|c| c.at);
            let end = s.start + Duration::days(i64::from(s.days));
            let onsets = f.onsets(s.start, end);
            let metric = fault_metric(f.kind);
            let onsets = onsets
                .iter()
                .enumerate()
                .map(|(k, &at)| {
                    let next = onsets.get(k + 1).copied().unwrap_or(end);
                    let by_cycle = with
                        .cycles
                        .iter()
                        .find(|c| c.at >= at && c.at < next && c.rules.iter().any(|r| r == rule))
                        .map(|c| (c.at, "cycle"));
                    let by_alert = with
                        .inflections
                        .iter()
                        .find(|i| {
                            i.at >= at && i.at < next && metric.is_some() && i.metric == metric
                        })
                        .map(|i| (i.at, "inflection"));
                    let first = match (by_cycle, by_alert) {
                        (Some(c), Some(a)) => Some(if a.0 <= c.0 { a } else { c }),
                        (c, a) => c.or(a),
                    };
                    OnsetReport {
                        starts_at: at,
                        detected_at: first.map(|(t, _)| t),
                        detection_hours: first.map(|(t, _)| hours_between(at, t)),
                        detected_by: first.map(|(_, by)| by.to_owned()),
                    }
                })
                .collect();
            FaultReport {
                kind: f.kind,
                department: f.department.clone(),
                starts_at: starts,
                rule: rule.to_owned(),
                detected_at: detected,
                detection_hours: detected.map(|d| hours_between(starts, d)),
                onsets,
            }
        })
        .collect();

    let mut counts = ProposalCounts::default();
    let mut harm = HarmSummary::default();
    for p in &with.proposals {
        counts.made += 1;
        counts.approved += u32::from(p.approved_at.is_some());
        match p.status.as_str() {
            "rejected" => counts.rejected += 1,
            "applied" => counts.applied += 1,
            "rolled_back" => counts.rolled_back += 1,
            "inconclusive" => counts.inconclusive += 1,
            "pending" | "approved" | "rolling_out" => counts.open += 1,
            _ => {}
        }
        if p.oracle.is_some_and(|o| o.harmful) {
            harm.harmful += 1;
            if p.status == "rolled_back" {
                harm.rolled_back += 1;
                if let Some(r) = &p.rollout
                    && let (Some(first), Some(at)) = (r.first_testable_check, r.verdict_check)
                {
                    let n = at.saturating_sub(first);
                    harm.max_checks_to_rollback =
                        Some(harm.max_checks_to_rollback.map_or(n, |m| m.max(n)));
                }
            }
        }
    }

    let mut checks = expectations(
        s,
        &rules,
        &faults,
        &counts,
        &harm,
        &with_kpis,
        &without_kpis,
    );
    checks.push(no_repeats(s, &with.proposals));
    let passed = checks.iter().all(|c| c.passed);
    ScenarioReport {
        scenario: s.name.clone(),
        description: s.description.trim().to_owned(),
        seed: s.seed,
        agents: s.org.agents,
        days: s.days,
        start: s.start,
        kpi_window_days: s.kpi_days(),
        events: with.world.events(),
        tasks: (0..days).map(|d| with.world.ledger().day(d).tasks).sum(),
        cycles: with.cycles.len() as u32,
        rules,
        faults,
        proposals: with.proposals.clone(),
        counts,
        reviewer: with.reviewer.clone(),
        with_loop: with_kpis,
        without_loop: without_kpis,
        budget: BudgetReport {
            monthly_limit_usd: with.world.monthly_limit(),
            exhausted_with_loop: with.world.exhausted_at(),
            exhausted_without_loop: without.exhausted_at(),
        },
        harm,
        checks,
        passed,
        wall_seconds: 0.0,
        inflection_alerts: with.inflections.len() as u32,
        inflection_cycles: with
            .cycles
            .iter()
            .filter(|c| c.trigger == "inflection")
            .count() as u32,
    }
}

/// The loop's memory, checked in every scenario: no change that was rejected or rolled back is
/// queued again, identical (rule, altitude, changes), within the memory's cooldown of the
/// earlier proposal's queueing, unless the memory let it through because the rule's evidence
/// got materially worse (listed in the detail, not counted).
fn no_repeats(s: &Scenario, proposals: &[ProposalReport]) -> Check {
    let cooldown =
        chrono::Duration::days(i64::from(s.kaizen.self_improvement.memory.cooldown_days));
    let (mut repeats, mut justified) = (Vec::new(), Vec::new());
    for (i, p) in proposals.iter().enumerate() {
        let earlier = proposals[..i].iter().find(|q| {
            matches!(
                q.status.as_str(),
                "rejected" | "rolled_back" | "rollback_failed"
            ) && q.rule == p.rule
                && q.altitude == p.altitude
                && q.changes == p.changes
                && p.queued_at - q.queued_at < cooldown
        });
        if let Some(q) = earlier {
            let line = format!("{} repeats {} ({})", p.id, q.id, q.status);
            match &p.proposed_again_because {
                Some(why) => justified.push(format!("{line}: {why}")),
                None => repeats.push(line),
            }
        }
    }
    let mut detail = if repeats.is_empty() {
        format!("{} proposals, no repeats", proposals.len())
    } else {
        repeats.join("; ")
    };
    if !justified.is_empty() {
        detail.push_str(&format!(
            "; proposed again on materially worse evidence: {}",
            justified.join("; ")
        ));
    }
    Check {
        name: format!(
            "no turned-down change proposed again within {} days",
            s.kaizen.self_improvement.memory.cooldown_days
        ),
        passed: repeats.is_empty(),
        detail,
    }
}

fn expectations(
    s: &Scenario,
    rules: &[RuleFiring],
    faults: &[FaultReport],
    counts: &ProposalCounts,
    harm: &HarmSummary,
    with: &Kpis,
    without: &Kpis,
) -> Vec<Check> {
    let mut out = Vec::new();
    for f in faults {
        out.push(Check {
            name: format!("{} detected by {}", f.kind, f.rule),
            passed: f.detected_at.is_some(),
            detail: match f.detection_hours {
                Some(h) => format!("after {h:.0} h"),
                None => "not detected".to_owned(),
            },
        });
    }
    for rule in &s.expect.rules {
        let fired = rules.iter().find(|r| r.rule == *rule);
        out.push(Check {
            name: format!("rule {rule} fires"),
            passed: fired.is_some(),
            detail: fired.map_or_else(
                || "never fired".to_owned(),
                |r| {
                    format!(
                        "first at {}, in {} cycles",
                        r.first_at.to_rfc3339(),
                        r.cycles
                    )
                },
            ),
        });
    }
    for rule in &s.expect.rules_silent {
        let fired = rules.iter().find(|r| r.rule == *rule);
        out.push(Check {
            name: format!("rule {rule} stays silent"),
            passed: fired.is_none(),
            detail: fired.map_or_else(
                || "never fired".to_owned(),
                |r| {
                    format!(
                        "fired first at {}, in {} cycles",
                        r.first_at.to_rfc3339(),
                        r.cycles
                    )
                },
            ),
        });
    }
    if s.expect.no_proposals {
        out.push(Check {
            name: "no proposals".to_owned(),
            passed: counts.made == 0,
            detail: format!("{} made", counts.made),
        });
    }
    for kpi in &s.expect.improves {
        let imp = with.improvement_over(without, *kpi);
        out.push(Check {
            name: format!("{} better with the loop", kpi.as_str()),
            passed: imp.is_some_and(|x| x > 0.0),
            detail: match (with.get(*kpi), without.get(*kpi), imp) {
                (Some(a), Some(b), Some(i)) => {
                    format!("{a:.4} with vs {b:.4} without ({:+.1} %)", i * 100.0)
                }
                _ => "no data".to_owned(),
            },
        });
    }
    out.push(Check {
        name: "every harmful change rolled back".to_owned(),
        passed: harm.rolled_back == harm.harmful,
        detail: format!("{} of {} harmful", harm.rolled_back, harm.harmful),
    });
    if let Some(limit) = s.expect.detect_within_hours {
        let end = s.start + Duration::days(i64::from(s.days));
        for f in faults {
            for o in &f.onsets {
                let in_time = o.detection_hours.is_some_and(|h| h <= limit);
                // An onset too close to the end to be judged counts only when detected.
                let judged = in_time || hours_between(o.starts_at, end) >= limit;
                if !judged {
                    continue;
                }
                out.push(Check {
                    name: format!(
                        "{} from {} detected within {limit} h",
                        f.kind,
                        o.starts_at.format("%Y-%m-%d %H:%M")
                    ),
                    passed: in_time,
                    detail: match (o.detection_hours, &o.detected_by) {
                        (Some(h), Some(by)) => format!("after {h:.0} h ({by})"),
                        _ => "not detected before the next onset".to_owned(),
                    },
                });
            }
        }
    }
    if s.expect.min_harmful > 0 {
        out.push(Check {
            name: format!(
                "at least {} harmful change(s) rolled out",
                s.expect.min_harmful
            ),
            passed: harm.harmful >= s.expect.min_harmful,
            detail: format!("{} harmful", harm.harmful),
        });
    }
    out
}
