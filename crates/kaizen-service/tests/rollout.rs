//! Rollouts end to end on real SQLite files: real ingestion of generated `kaizen.event.v1`
//! data (`common::ndjson`), a manual clock, the real detector, no mocks of kaizen's code.
//! Approval starts a rollout; checks run on the clock; the verdict applies the change as an
//! org version, rolls it back automatically on a regression, or pauses for a human. Also:
//! durability across a restart and a crash mid-rollback, A/B isolation of the effective
//! configs, plan validation, conflicts, and a failing rollback mutator (compensation, alert,
//! human retry).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use common::{
    Behaviour, agents, at, enabled, ingest, ndjson, ndjson_with, org_with, proposal, queue, set,
};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::{KaizenConfig, RolloutStrategyKind};
use kaizen_core::improve::ImprovementProposal;
use kaizen_core::org::standard::{DEDUPLICATION, DEFAULT_TIER, PER_TASK_LIMIT_USD, WORK_STEALING};
use kaizen_core::org::{Agent, OrgChange, SettingValue};
use kaizen_core::rollout::assign::{Arm, POOLED_STRATUM, assign};
use kaizen_core::rollout::check::{CheckDecision, Layer, Metric, MetricCheck, MetricDecision};
use kaizen_service::effective::EffectiveConfigs;
use kaizen_service::rollback::{
    MutationScope, OperationKind, PullMutator, RollbackExecutor, RollbackMutator,
};
use kaizen_service::rollout::{Decision, RolloutProgress};
use kaizen_service::{Approved, Service, ServiceError};
use kaizen_store::Store;
use kaizen_store::proposals::{Actor, ProposalStatus};
use kaizen_store::rollouts::{Rollout, RolloutState, StoredCheck};

/// When the rollouts start (on an hour, so the data windows are exact).
fn t0() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

/// Hours of history fed before [`t0`]: what a before/after check reads (the same hours one
/// and two weeks earlier, and the day before the start).
const HISTORY: i64 = 2 * 168 + 48 + 24;

fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

fn ana() -> Actor {
    Actor::human("ana")
}

/// The change most tests roll out: `models.default_tier` large → medium.
fn tier_change() -> OrgChange {
    set(DEFAULT_TIER, "large", "medium")
}

/// A store file with an org of `n` agents, the clock at [`t0`].
struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    config: KaizenConfig,
    clock: ManualClock,
    agents: Vec<Agent>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path().join("k.db")).expect("open");
        let agents = agents(n);
        store
            .org_import(org_with(&agents), "test", t0() - hours(100))
            .expect("import org");
        Fixture {
            dir,
            store,
            config: enabled(),
            clock: ManualClock::new(t0()),
            agents,
        }
    }

    fn service(&mut self) -> Service<'_> {
        Service {
            store: &mut self.store,
            config: &self.config,
            clock: &self.clock,
        }
    }

    /// Ingests `h` hours of `b` starting `from` hours after [`t0`].
    fn feed(&mut self, from: i64, h: i64, b: Behaviour) {
        let data = ndjson(&self.agents, t0() + hours(from), h, b, 7);
        ingest(&mut self.store, &data, t0() + hours(from + h));
    }

    /// Ingests `h` hours starting `from` hours after [`t0`], agent `i` in hour `k` (counted
    /// from [`t0`]) behaving as `b(i, k)`.
    fn feed_with(&mut self, from: i64, h: i64, b: impl Fn(usize, i64) -> Behaviour) {
        let data = ndjson_with(&self.agents, t0() + hours(from), h, 7, |i, k| {
            b(i, from + k)
        });
        ingest(&mut self.store, &data, t0() + hours(from + h));
    }

    /// The indices (in `agents`) of the treatment group of the rollout of `id`.
    fn treated(&self, id: &str) -> Vec<bool> {
        let r = self.rollout(id);
        self.agents
            .iter()
            .map(|a| r.assignment.treatment.contains(&a.id))
            .collect()
    }

    /// Queues a config proposal of `changes` (rule `rule`).
    fn queue(
        &mut self,
        rule: &str,
        changes: Vec<OrgChange>,
        strategy: RolloutStrategyKind,
    ) -> String {
        let p = proposal(rule, changes, strategy, self.clock.now());
        queue(&mut self.store, &self.config, &p)
    }

    /// A human approves `id` with the default executor; the rollout must start.
    fn approve(&mut self, id: &str) -> Approved {
        let a = self
            .service()
            .approve(id, &ana(), Some("try it"), &RollbackExecutor::default())
            .expect("approve");
        assert!(a.approved, "{a:?}");
        assert!(a.rollout.is_some(), "the rollout did not start: {a:?}");
        a
    }

    fn tick(&mut self, executor: &RollbackExecutor) -> Vec<RolloutProgress> {
        self.service().tick_rollouts(executor).expect("tick")
    }

    /// Advances the clock by `step` hours and ticks, until the rollout of `id` is no longer
    /// observing (or `max` ticks); returns the ticks' progress for `id`.
    fn run(&mut self, id: &str, step: i64, max: usize) -> Vec<RolloutProgress> {
        let mut out = Vec::new();
        for _ in 0..max {
            self.clock.advance(hours(step));
            let progress = self.tick(&RollbackExecutor::default());
            out.extend(progress.into_iter().filter(|p| p.proposal_id == id));
            if self.rollout(id).state != RolloutState::Observing {
                break;
            }
        }
        out
    }

    fn rollout(&self, id: &str) -> Rollout {
        self.store.rollout(id).expect("read").expect("a rollout")
    }

    fn checks(&self, id: &str) -> Vec<StoredCheck> {
        self.store.rollout_checks(id).expect("checks")
    }

    fn status(&self, id: &str) -> ProposalStatus {
        self.store
            .proposal(id)
            .expect("read")
            .expect("stored")
            .status
    }

    fn org_version(&mut self) -> i64 {
        self.store.org_current().expect("org").expect("an org").id
    }

    fn versions(&self) -> usize {
        self.store.org_history(1000).expect("history").len()
    }

    /// Every agent's effective config JSON, read through `cache`.
    fn effective_json(&mut self, cache: &mut EffectiveConfigs) -> Vec<(String, String)> {
        let ids: Vec<String> = self.agents.iter().map(|a| a.id.clone()).collect();
        ids.into_iter()
            .map(|id| {
                let c = cache.get(&mut self.store, &id).expect("effective config");
                (id, c.json.to_string())
            })
            .collect()
    }
}

fn metric(check: &StoredCheck, m: Metric) -> &MetricCheck {
    check
        .outcome
        .metrics
        .iter()
        .find(|mc| mc.metric == m)
        .expect("every metric is reported")
}

fn setting(c: &kaizen_core::org::EffectiveConfig, path: &str) -> Option<SettingValue> {
    c.settings.get(path).cloned()
}

fn medium() -> Option<SettingValue> {
    Some(SettingValue::String("medium".into()))
}

fn large() -> Option<SettingValue> {
    Some(SettingValue::String("large".into()))
}

#[test]
fn before_after_without_effect_is_applied_after_twelve_checks() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let base = f.org_version();
    let versions = f.versions();
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    let approved = f.approve(&id);
    let started = approved.rollout.expect("started");
    assert_eq!(
        (
            started.strategy.as_str(),
            started.treatment,
            started.control,
            started.window_hours,
            started.first_check_at
        ),
        ("before_after", 20, 0, 48, Some(t0() + hours(4)))
    );
    assert_eq!(f.status(&id), ProposalStatus::RollingOut);

    // While observing, every agent sees the overlay on top of the unchanged org version.
    let mut cache = EffectiveConfigs::new();
    for a in f.agents.clone() {
        let c = cache.get(&mut f.store, &a.id).expect("effective");
        assert_eq!(c.config.overlays, [id.as_str()]);
        assert_eq!(c.config.org_version, base);
        assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
    }

    // Nothing is due before the first interval has passed.
    f.clock.advance(hours(3));
    assert!(f.tick(&RollbackExecutor::default()).is_empty());
    f.clock.advance(hours(1));

    for k in 1..=12u32 {
        if k > 1 {
            f.clock.advance(hours(4));
        }
        let progress = f.tick(&RollbackExecutor::default());
        assert_eq!(progress.len(), 1, "{progress:?}");
        let p = &progress[0];
        assert_eq!(
            (p.checks_run, p.error.as_deref()),
            (1, None),
            "check {k}: {p:?}"
        );
        if k < 12 {
            assert_eq!(p.state, RolloutState::Observing, "check {k}: {p:?}");
            assert_eq!(p.verdict, None);
        } else {
            assert_eq!(p.state, RolloutState::Applied, "{p:?}");
            assert_eq!(
                p.verdict.as_ref().map(|v| v.outcome.as_str()),
                Some("applied")
            );
        }
    }

    let checks = f.checks(&id);
    assert_eq!(checks.len(), 12);
    for (i, c) in checks.iter().enumerate() {
        let k = i as u32 + 1;
        assert_eq!(c.seq, k);
        assert_eq!(c.at, t0() + hours(4 * i64::from(k)));
        assert_eq!(c.ran_at, c.at);
        assert_eq!(c.elapsed_hours, 4 * k);
        if k < 12 {
            assert_eq!(
                c.outcome.decision,
                CheckDecision::Continue,
                "check {k}: {:?}",
                c.outcome
            );
        }
        // Same distribution before and after: nothing breaches credibly, nothing is
        // significant (a few error events can look like a large relative change early on).
        for mc in &c.outcome.metrics {
            assert_eq!(mc.decision, MetricDecision::Ok, "check {k}: {mc:?}");
            assert!(mc.drift_adjusted, "{mc:?}");
            assert!(mc.p_adjusted.is_some_and(|p| p >= 0.05), "{mc:?}");
        }
    }
    let last = &checks[11];
    assert!(
        matches!(&last.outcome.decision, CheckDecision::Apply { improved: false, reason } if reason.contains("no regression")),
        "{:?}",
        last.outcome.decision
    );
    let q = metric(last, Metric::Quality);
    let (c, t) = (q.control.expect("baseline"), q.treatment.expect("after"));
    // 20 agents × 48 h × 2.5 tasks on each side.
    assert_eq!((c.units, t.units), (20.0, 20.0));
    assert_eq!((c.observations, t.observations), (2400.0, 2400.0));
    assert!((t.ratio / c.ratio - 1.0).abs() < 0.02, "{c:?} {t:?}");

    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::Applied);
    let verdict = r.verdict.expect("verdict");
    assert_eq!(
        (
            verdict.outcome.as_str(),
            verdict.check_seq,
            verdict.elapsed_hours
        ),
        ("applied", Some(12), 48)
    );
    let v = r.applied_version.expect("applied version");
    let p = f.store.proposal(&id).expect("read").expect("stored");
    assert_eq!(
        (p.status, p.applied_version),
        (ProposalStatus::Applied, Some(v))
    );
    let statuses: Vec<&str> = p.transitions.iter().map(|t| t.to_status.as_str()).collect();
    assert_eq!(statuses, ["pending", "approved", "rolling_out", "applied"]);

    let version = f.store.org_version(v).expect("read").expect("exists");
    assert_eq!(version.parent, Some(base));
    assert_eq!(version.proposal_id.as_deref(), Some(id.as_str()));
    assert_eq!(version.changes, vec![tier_change()]);
    assert_eq!(f.org_version(), v);
    assert_eq!(f.versions(), versions + 1);

    // Every agent now runs the new org version, without an overlay.
    for a in f.agents.clone() {
        let c = cache.get(&mut f.store, &a.id).expect("effective");
        assert_eq!(c.config.org_version, v);
        assert!(c.config.overlays.is_empty(), "{:?}", c.config.overlays);
        assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
        assert_eq!(
            c.config,
            EffectiveConfigs::compute_uncached(&mut f.store, &a.id).expect("fresh")
        );
    }
    // Later ticks have nothing to do.
    f.clock.advance(hours(24));
    assert!(f.tick(&RollbackExecutor::default()).is_empty());
}

#[test]
fn before_after_harmful_change_is_rolled_back_automatically() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 48, Behaviour::quality(0.75));
    let base = f.org_version();
    let versions = f.versions();
    let mut cache = EffectiveConfigs::new();
    let before = f.effective_json(&mut cache);
    let before_etags: Vec<String> = f
        .agents
        .clone()
        .iter()
        .map(|a| {
            cache
                .get(&mut f.store, &a.id)
                .expect("effective")
                .config
                .etag
                .clone()
        })
        .collect();

    f.config
        .self_improvement
        .alerts
        .sinks
        .push(serde_json::from_str(r#"{"name": "journal", "kind": "log"}"#).expect("a sink"));
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    assert_ne!(f.effective_json(&mut cache), before, "the overlay is live");

    let progress = f.run(&id, 4, 12);
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::RolledBack, "{progress:?}");
    let checks = f.checks(&id);
    assert!(
        checks.len() < 12,
        "rolled back before the window ended: {}",
        checks.len()
    );
    let last = checks.last().expect("a check");
    let CheckDecision::RollBack {
        layer,
        metrics,
        reason,
    } = &last.outcome.decision
    else {
        panic!("the last check rolls back: {:?}", last.outcome.decision)
    };
    assert!(metrics.contains(&Metric::Quality), "{metrics:?}");
    assert!(reason.contains("quality"), "{reason}");
    let q = metric(last, Metric::Quality);
    let (c, t) = (q.control.expect("baseline"), q.treatment.expect("after"));
    assert!((t.ratio / c.ratio - 0.75).abs() < 0.05, "{c:?} {t:?}");
    let w = q.worsening.expect("worsening");
    assert!(w > q.threshold && (w - 0.25).abs() < 0.05, "{q:?}");
    assert!(
        matches!(
            (layer, q.decision),
            (Layer::Threshold, MetricDecision::ThresholdRegression)
                | (Layer::Statistical, MetricDecision::StatisticalRegression)
        ),
        "{layer:?} {q:?}"
    );
    // Every earlier check kept observing.
    for c in &checks[..checks.len() - 1] {
        assert_eq!(c.outcome.decision, CheckDecision::Continue);
    }
    // Layer 1 needs two breaching checks in a row; layer 2 may act at the first.
    assert!(last.seq <= 2, "rolled back at check {}", last.seq);
    if last.seq == 2 {
        let q1 = metric(&checks[0], Metric::Quality);
        assert_eq!(
            (q1.decision, q1.consecutive),
            (MetricDecision::Breaching, 1),
            "{q1:?}"
        );
        if *layer == Layer::Threshold {
            assert_eq!(q.consecutive, 2, "{q:?}");
        }
    }

    let verdict = r.verdict.expect("verdict");
    assert_eq!(
        (verdict.outcome.as_str(), verdict.check_seq),
        ("rolled_back", Some(last.seq))
    );
    assert!(
        verdict
            .reason
            .contains(&format!("regression at check {}", last.seq)),
        "{}",
        verdict.reason
    );
    assert_eq!(r.reverted, 1);
    assert_eq!(r.applied_version, None);
    assert_eq!(f.status(&id), ProposalStatus::RolledBack);
    // The automatic rollback raised an alert, queued for the configured sink.
    let alerts = f.store.alerts(false).expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (
            alerts[0].kind.as_str(),
            alerts[0].severity.as_str(),
            alerts[0].proposal_id.as_deref()
        ),
        ("rollback", "warning", Some(id.as_str()))
    );
    assert!(
        alerts[0].message.contains("rolled back automatically"),
        "{}",
        alerts[0].message
    );
    let outbox = f.store.alert_outbox(None, 10).expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].alert_id, outbox[0].sink.as_str()),
        (alerts[0].id, "journal")
    );
    let p = f.store.proposal(&id).expect("read").expect("stored");
    let statuses: Vec<&str> = p.transitions.iter().map(|t| t.to_status.as_str()).collect();
    assert_eq!(
        statuses,
        ["pending", "approved", "rolling_out", "rolled_back"]
    );

    // Back to the org version, which never changed.
    assert_eq!(f.org_version(), base);
    assert_eq!(f.versions(), versions);
    assert_eq!(f.effective_json(&mut cache), before);
    for (a, etag) in f.agents.clone().iter().zip(&before_etags) {
        let c = cache.get(&mut f.store, &a.id).expect("effective");
        assert_eq!(&c.config.etag, etag);
        assert!(c.config.overlays.is_empty());
        assert_eq!(setting(&c.config, DEFAULT_TIER), large());
    }
}

#[test]
fn ab_test_leaves_control_agents_byte_identical() {
    let mut f = Fixture::new(20);
    let mut cache = EffectiveConfigs::new();
    let before = f.effective_json(&mut cache);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::AbTest,
    );
    let started = f.approve(&id).rollout.expect("started");
    assert_eq!(
        (
            started.strategy.as_str(),
            started.treatment,
            started.control
        ),
        ("ab_test", 10, 10)
    );

    // The recorded assignment is exactly the documented split, stratified.
    let r = f.rollout(&id);
    assert_eq!(r.strategy, RolloutStrategyKind::AbTest);
    let org = f
        .store
        .org_current()
        .expect("org")
        .expect("an org")
        .document;
    assert_eq!(
        r.assignment,
        assign(&org.agents, &id, 0.5, 10).expect("assign")
    );
    assert_eq!(
        (r.assignment.treatment.len(), r.assignment.control.len()),
        (10, 10)
    );
    let strata: Vec<(&str, usize, usize)> = r
        .assignment
        .strata
        .iter()
        .map(|s| (s.name.as_str(), s.agents, s.treatment))
        .collect();
    assert_eq!(strata, [(POOLED_STRATUM, 10, 5), ("engineering", 10, 5)]);
    let mut all: Vec<&String> = r
        .assignment
        .treatment
        .iter()
        .chain(&r.assignment.control)
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);

    let after = f.effective_json(&mut cache);
    for ((agent, old), (same, new)) in before.iter().zip(&after) {
        assert_eq!(agent, same);
        let fresh = EffectiveConfigs::new()
            .get(&mut f.store, agent)
            .expect("fresh")
            .json
            .to_string();
        assert_eq!(
            new, &fresh,
            "the cache serves what a fresh computation gives"
        );
        match r.assignment.arm(agent) {
            Some(Arm::Control) => {
                assert_eq!(new.as_bytes(), old.as_bytes(), "control agent {agent}")
            }
            Some(Arm::Treatment) => {
                assert_ne!(new, old, "treatment agent {agent}");
                let c = cache.get(&mut f.store, agent).expect("effective");
                assert_eq!(c.config.overlays, [id.as_str()]);
                assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
            }
            None => panic!("{agent} is not assigned"),
        }
    }
}

#[test]
fn ab_test_without_a_winner_compares_the_groups_over_the_same_hours_and_pauses() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::AbTest,
    );
    f.approve(&id);
    let progress = f.run(&id, 4, 12);
    assert_eq!(progress.len(), 12);
    let checks = f.checks(&id);
    assert_eq!(checks.len(), 12);
    for c in &checks {
        // Both groups over the hours since the start: 10 agents × 2.5 tasks × elapsed hours.
        let q = metric(c, Metric::SuccessRate);
        let (ctl, trt) = (q.control.expect("control"), q.treatment.expect("treatment"));
        let expected = 10.0 * 2.5 * f64::from(c.elapsed_hours);
        assert_eq!((ctl.units, trt.units), (10.0, 10.0));
        assert_eq!(
            (ctl.observations, trt.observations),
            (expected, expected),
            "check {}",
            c.seq
        );
        let sr = c
            .outcome
            .sample_ratio
            .as_ref()
            .expect("a sample-ratio test");
        assert_eq!(
            sr.basis,
            "agents reporting of 10 control and 10 treatment agents assigned"
        );
        assert_eq!(sr.observed, (10.0, 10.0));
        assert!((sr.expected_treatment_share - 0.5).abs() < 1e-9, "{sr:?}");
        assert!(!sr.mismatch, "{sr:?}");
        assert!(
            !matches!(c.outcome.decision, CheckDecision::RollBack { .. }),
            "{:?}",
            c.outcome.decision
        );
    }
    // No effect: no clear winner, so a human decides.
    assert!(
        matches!(&checks[11].outcome.decision, CheckDecision::Inconclusive { reason } if reason.contains("no clear winner")),
        "{:?}",
        checks[11].outcome.decision
    );
    assert_eq!(f.rollout(&id).state, RolloutState::Paused);
    assert_eq!(f.status(&id), ProposalStatus::Inconclusive);
}

/// Copies the store file (and its WAL, if any) to `to`.
fn copy_store(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy the store");
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", from.display()));
        if side.exists() {
            std::fs::copy(&side, format!("{}{suffix}", to.display())).expect("copy");
        }
    }
}

#[test]
fn a_restart_catches_up_check_by_check() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    let Fixture {
        dir, store, config, ..
    } = f;
    drop(store);
    let copy = dir.path().join("copy.db");
    copy_store(&dir.path().join("k.db"), &copy);

    // Three checks, then everything is dropped.
    {
        let mut store = Store::open(dir.path().join("k.db")).expect("reopen");
        let clock = ManualClock::new(t0());
        let mut cache = EffectiveConfigs::new();
        let mut service = Service {
            store: &mut store,
            config: &config,
            clock: &clock,
        };
        for _ in 0..3 {
            clock.advance(hours(4));
            let p = service
                .tick_rollouts(&RollbackExecutor::default())
                .expect("tick");
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].checks_run, 1);
        }
        let c = cache.get(&mut store, "rt-00").expect("effective");
        assert_eq!(c.config.overlays, [id.as_str()]);
        assert_eq!(
            store
                .rollout(&id)
                .expect("read")
                .expect("rollout")
                .checks_done,
            3
        );
    }

    // Down for 20 hours: one tick runs the five checks that fell due, each at its time.
    let mut store = Store::open(dir.path().join("k.db")).expect("reopen");
    let now = t0() + hours(12 + 20);
    let clock = ManualClock::new(now);
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let p = service
        .tick_rollouts(&RollbackExecutor::default())
        .expect("tick");
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].checks_run, p[0].state),
        (5, RolloutState::Observing),
        "{p:?}"
    );
    assert!(
        service
            .tick_rollouts(&RollbackExecutor::default())
            .expect("tick")
            .is_empty()
    );
    let checks = service.store.rollout_checks(&id).expect("checks");
    let seqs: Vec<u32> = checks.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    for c in &checks {
        assert_eq!(c.at, t0() + hours(4 * i64::from(c.seq)));
        assert_eq!(c.elapsed_hours, 4 * c.seq);
        let ran = if c.seq <= 3 { c.at } else { now };
        assert_eq!(c.ran_at, ran, "check {}", c.seq);
    }
    for _ in 0..4 {
        clock.advance(hours(4));
        service
            .tick_rollouts(&RollbackExecutor::default())
            .expect("tick");
    }
    let interrupted = service.rollout(&id).expect("rollout");
    let interrupted_checks = service.store.rollout_checks(&id).expect("checks");
    assert_eq!(interrupted.state, RolloutState::Applied);
    assert_eq!(interrupted_checks.len(), 12);

    // The same store, uninterrupted.
    let mut other = Store::open(&copy).expect("open the copy");
    let clock = ManualClock::new(t0());
    let mut service = Service {
        store: &mut other,
        config: &config,
        clock: &clock,
    };
    for _ in 0..12 {
        clock.advance(hours(4));
        service
            .tick_rollouts(&RollbackExecutor::default())
            .expect("tick");
    }
    let straight = service.rollout(&id).expect("rollout");
    let straight_checks = service.store.rollout_checks(&id).expect("checks");
    assert_eq!(straight.state, interrupted.state);
    assert_eq!(
        straight.verdict.as_ref().map(|v| (&v.outcome, v.check_seq)),
        interrupted
            .verdict
            .as_ref()
            .map(|v| (&v.outcome, v.check_seq))
    );
    assert_eq!(straight_checks.len(), interrupted_checks.len());
    // Each check saw exactly the same data: identical outcomes, numbers included.
    for (a, b) in straight_checks.iter().zip(&interrupted_checks) {
        assert_eq!((a.seq, a.at, &a.outcome), (b.seq, b.at, &b.outcome));
    }
    assert_eq!(straight.detector, interrupted.detector);
}

#[test]
fn inconclusive_pauses_for_a_human() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 56, Behaviour::NO_TASKS);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    let progress = f.run(&id, 4, 12);
    assert_eq!(progress.len(), 12);
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::Paused);
    let verdict = r.verdict.clone().expect("verdict");
    assert_eq!(
        (verdict.outcome.as_str(), verdict.check_seq),
        ("inconclusive", Some(12))
    );
    assert!(
        verdict.reason.contains("not enough data"),
        "{}",
        verdict.reason
    );
    let p = f.store.proposal(&id).expect("read").expect("stored");
    assert_eq!(p.status, ProposalStatus::Inconclusive);
    let why = p
        .transitions
        .last()
        .and_then(|t| t.reason.clone())
        .unwrap_or_default();
    assert!(
        why.contains("not enough data to test the primary metric quality"),
        "{why}"
    );
    let checks = f.checks(&id);
    assert_eq!(checks.len(), 12);
    let q = metric(&checks[11], Metric::Quality);
    assert_eq!(q.decision, MetricDecision::InsufficientData);
    assert!(
        q.why.contains("no observations on the treatment side"),
        "{}",
        q.why
    );
    assert!(
        matches!(&checks[11].outcome.decision, CheckDecision::Inconclusive { reason } if reason.contains("not enough data"))
    );
    // The overlay stays live while paused.
    let mut cache = EffectiveConfigs::new();
    let c = cache.get(&mut f.store, "rt-03").expect("effective");
    assert_eq!(c.config.overlays, [id.as_str()]);
    // Nothing is due while paused.
    f.clock.advance(hours(4));
    assert!(f.tick(&RollbackExecutor::default()).is_empty());
    f.clock.advance(hours(-4));
    // Waiting for a human longer than `alerts.stuck_rollout_hours` raises one alert per pause.
    f.config.self_improvement.alerts.stuck_rollout_hours = 24;
    assert_eq!(f.service().raise_stuck_rollouts().expect("stuck"), 0);
    f.clock.advance(hours(24));
    assert_eq!(f.service().raise_stuck_rollouts().expect("stuck"), 1);
    let stuck = f.store.alerts(false).expect("alerts");
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(
        (stuck[0].kind.as_str(), stuck[0].proposal_id.as_deref()),
        ("stuck_rollout", Some(id.as_str()))
    );
    f.store
        .alert_acknowledge(stuck[0].id, "ana", f.clock.now())
        .expect("ack");
    f.clock.advance(hours(24));
    assert_eq!(f.service().raise_stuck_rollouts().expect("stuck"), 0);
    f.clock.advance(hours(-48));

    let exec = RollbackExecutor::default();
    let err = f
        .service()
        .decide_rollout(
            &id,
            Decision::Extend { hours: 8 },
            &Actor::agent("bot"),
            "more",
            &exec,
        )
        .expect_err("agents do not decide");
    assert!(
        matches!(
            err,
            ServiceError::Forbidden {
                code: "human_only",
                ..
            }
        ) && err.to_string().contains("only a human"),
        "{err}"
    );
    let err = f
        .service()
        .decide_rollout(&id, Decision::Extend { hours: 8 }, &ana(), "  ", &exec)
        .expect_err("a reason is needed");
    assert!(err.to_string().contains("reason"), "{err}");
    assert_eq!(f.rollout(&id).state, RolloutState::Paused);

    let r = f
        .service()
        .decide_rollout(
            &id,
            Decision::Extend { hours: 8 },
            &ana(),
            "quiet weekend; wait for data",
            &exec,
        )
        .expect("extend");
    assert_eq!(
        (r.state, r.window_hours, r.total_checks()),
        (RolloutState::Observing, 56, 14)
    );
    assert_eq!(r.next_check_at(), Some(t0() + hours(52)));
    assert_eq!(f.status(&id), ProposalStatus::RollingOut);
    let progress = f.run(&id, 4, 4);
    assert_eq!(
        progress.iter().map(|p| p.checks_run).sum::<u32>(),
        2,
        "{progress:?}"
    );
    let checks = f.checks(&id);
    assert_eq!(checks.len(), 14);
    assert_eq!(
        (checks[12].at, checks[13].at),
        (t0() + hours(52), t0() + hours(56))
    );
    assert_eq!(f.rollout(&id).state, RolloutState::Paused);
    assert_eq!(f.status(&id), ProposalStatus::Inconclusive);

    let err = f
        .service()
        .decide_rollout(&id, Decision::Rollback, &Actor::agent("bot"), "bad", &exec)
        .expect_err("agents do not decide");
    assert!(err.to_string().contains("only a human"), "{err}");
    let r = f
        .service()
        .decide_rollout(&id, Decision::Rollback, &ana(), "no data, no change", &exec)
        .expect("rollback");
    assert_eq!(r.state, RolloutState::RolledBack);
    let v = r.verdict.expect("verdict");
    assert_eq!(
        (v.outcome.as_str(), v.decided_by.as_str()),
        ("rolled_back", "ana")
    );
    assert_eq!(f.status(&id), ProposalStatus::RolledBack);
    // A human's rollback raises no `rollback` alert (only the engine's do).
    assert!(
        f.store
            .alerts(true)
            .expect("alerts")
            .iter()
            .all(|a| a.kind == "stuck_rollout"),
    );
    // The human who decided is the actor of the proposal's transition, not the engine.
    let stored = f.store.proposal(&id).expect("proposal").expect("stored");
    let last = stored.transitions.last().expect("transitions");
    assert_eq!(
        (last.to_status, last.actor.as_str()),
        (ProposalStatus::RolledBack, "ana")
    );
    // The before/after baseline keeps the original window's length after an extension.
    assert_eq!(f.rollout(&id).baseline_hours, 48);
    let c = cache.get(&mut f.store, "rt-03").expect("effective");
    assert!(c.config.overlays.is_empty());
    assert_eq!(setting(&c.config, DEFAULT_TIER), large());
}

/// A config mutator whose `revert` fails for one setting path (the config service refuses
/// it), and which records what it was asked to do.
struct FlakyConfig {
    fail_path: &'static str,
    /// Whether re-applying (compensation) fails too.
    fail_reapply: bool,
    log: Arc<Mutex<Vec<String>>>,
}

const REFUSED: &str = "config service refused the write: 503 Service Unavailable";

fn path_of(op: &OrgChange) -> String {
    match op {
        OrgChange::SetSetting { path, .. } => path.clone(),
        other => other.to_string(),
    }
}

impl RollbackMutator for FlakyConfig {
    fn name(&self) -> &str {
        "flaky-config-service"
    }
    fn revert(&self, scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String> {
        let path = path_of(op);
        let failed = path == self.fail_path;
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!(
                "revert {path} for {} agents{}",
                scope.agents.len(),
                if failed { " (failed)" } else { "" }
            ));
        if failed {
            Err(REFUSED.to_owned())
        } else {
            Ok(())
        }
    }
    fn reapply(&self, _scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("reapply {}", path_of(op)));
        if self.fail_reapply {
            Err("the config service is gone".to_owned())
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_failing_rollback_is_compensated_alerted_and_retried_by_a_human() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 48, Behaviour::quality(0.5));
    let mut cache = EffectiveConfigs::new();
    let before = f.effective_json(&mut cache);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flaky = RollbackExecutor::default();
    flaky.register(
        OperationKind::Config,
        Box::new(FlakyConfig {
            fail_path: DEFAULT_TIER,
            fail_reapply: false,
            log: Arc::clone(&log),
        }),
    );
    // Two changes, so the rollback has two operations: the limit (undone first), then the
    // tier, whose revert fails.
    let changes = vec![tier_change(), set(PER_TASK_LIMIT_USD, 2.0, 1.5)];
    let id = f.queue("test_rule", changes, RolloutStrategyKind::BeforeAfter);
    let a = f
        .service()
        .approve(&id, &ana(), None, &flaky)
        .expect("approve");
    assert!(a.rollout.is_some(), "{a:?}");
    let r = f.rollout(&id);
    assert_eq!(r.rollback.len(), 2);
    assert!(
        matches!(&r.rollback[0], OrgChange::SetSetting { path, .. } if path == PER_TASK_LIMIT_USD)
    );

    f.clock.advance(hours(4));
    let progress = f.tick(&flaky);
    assert_eq!(progress.len(), 1);
    assert_eq!(
        (progress[0].checks_run, progress[0].state),
        (1, RolloutState::RollbackFailed),
        "{progress:?}"
    );
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::RollbackFailed);
    assert_eq!(r.reverted, 0, "the undone operation was re-applied");
    let verdict = r.verdict.clone().expect("verdict");
    assert_eq!(verdict.outcome, "rollback_failed");
    assert!(
        verdict.reason.contains("regression at check 1"),
        "{}",
        verdict.reason
    );
    assert!(verdict.reason.contains(REFUSED), "{}", verdict.reason);
    assert_eq!(f.status(&id), ProposalStatus::RollbackFailed);
    assert_eq!(
        *log.lock().unwrap_or_else(|p| p.into_inner()),
        [
            format!("revert {PER_TASK_LIMIT_USD} for 20 agents"),
            format!("revert {DEFAULT_TIER} for 20 agents (failed)"),
            format!("reapply {PER_TASK_LIMIT_USD}"),
        ]
    );
    let alerts = f.store.alerts(false).expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        (
            alert.severity.as_str(),
            alert.kind.as_str(),
            alert.proposal_id.as_deref()
        ),
        ("critical", "rollback_failed", Some(id.as_str()))
    );
    for needle in [
        "operation 2 of 2",
        "config",
        DEFAULT_TIER,
        REFUSED,
        "re-applied",
    ] {
        assert!(
            alert.message.contains(needle),
            "{needle:?} not in {}",
            alert.message
        );
    }

    // The change is fully live again for the treatment group (here: everyone).
    for a in f.agents.clone() {
        let c = cache.get(&mut f.store, &a.id).expect("effective");
        assert_eq!(c.config.overlays, [id.as_str()]);
        assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
        assert_eq!(
            setting(&c.config, PER_TASK_LIMIT_USD),
            Some(SettingValue::Float(1.5))
        );
    }
    // The engine does not retry on its own.
    f.clock.advance(hours(4));
    assert!(f.tick(&flaky).is_empty());

    // A human retries with the same broken mutator: refused, still failed, alerted again
    // (the open alert is counted again, not repeated).
    let err = f
        .service()
        .decide_rollout(&id, Decision::Rollback, &ana(), "retry", &flaky)
        .expect_err("still failing");
    assert!(
        err.to_string().contains("operation 2") && err.to_string().contains(REFUSED),
        "{err}"
    );
    assert_eq!(f.rollout(&id).state, RolloutState::RollbackFailed);
    assert_eq!(f.status(&id), ProposalStatus::RollbackFailed);
    let alerts = f.store.alerts(false).expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].count, 2);

    // Fixed: the default executor rolls it back.
    let r = f
        .service()
        .decide_rollout(
            &id,
            Decision::Rollback,
            &ana(),
            "config service is back",
            &RollbackExecutor::default(),
        )
        .expect("rollback");
    assert_eq!((r.state, r.reverted), (RolloutState::RolledBack, 2));
    assert_eq!(f.status(&id), ProposalStatus::RolledBack);
    assert_eq!(f.effective_json(&mut cache), before);
}

#[test]
fn a_failed_compensation_is_reported_as_a_mixed_state() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 8, Behaviour::quality(0.5));
    let mut broken = RollbackExecutor::default();
    broken.register(
        OperationKind::Config,
        Box::new(FlakyConfig {
            fail_path: DEFAULT_TIER,
            fail_reapply: true,
            log: Arc::default(),
        }),
    );
    let changes = vec![tier_change(), set(PER_TASK_LIMIT_USD, 2.0, 1.5)];
    let id = f.queue("test_rule", changes, RolloutStrategyKind::BeforeAfter);
    f.service()
        .approve(&id, &ana(), None, &broken)
        .expect("approve");
    f.clock.advance(hours(4));
    f.tick(&broken);
    let r = f.rollout(&id);
    assert_eq!((r.state, r.reverted), (RolloutState::RollbackFailed, 1));
    assert_eq!(f.status(&id), ProposalStatus::RollbackFailed);
    let alerts = f.store.alerts(false).expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].message.contains("compensation failed too")
            && alerts[0]
                .message
                .contains("1 of 2 rollback operations remain executed"),
        "{}",
        alerts[0].message
    );
    // What the agents see is exactly that mixed state: the limit is back, the tier is not.
    let mut cache = EffectiveConfigs::new();
    let c = cache.get(&mut f.store, "rt-11").expect("effective");
    assert_eq!(c.config.overlays, [id.as_str()]);
    assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
    assert_eq!(
        setting(&c.config, PER_TASK_LIMIT_USD),
        Some(SettingValue::Float(2.0))
    );
    // A human retry continues from operation 2.
    let r = f
        .service()
        .decide_rollout(
            &id,
            Decision::Rollback,
            &ana(),
            "fixed",
            &RollbackExecutor::default(),
        )
        .expect("rollback");
    assert_eq!((r.state, r.reverted), (RolloutState::RolledBack, 2));
    let c = cache.get(&mut f.store, "rt-11").expect("effective");
    assert!(c.config.overlays.is_empty());
    assert_eq!(setting(&c.config, DEFAULT_TIER), large());
}

/// The outcome the tick reports for a rollout whose automatic rollback failed is the stored
/// one.
#[test]

fn the_tick_reports_a_failed_rollback_as_failed() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 8, Behaviour::quality(0.5));
    let mut flaky = RollbackExecutor::default();
    flaky.register(
        OperationKind::Config,
        Box::new(FlakyConfig {
            fail_path: DEFAULT_TIER,
            fail_reapply: false,
            log: Arc::default(),
        }),
    );
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.service()
        .approve(&id, &ana(), None, &flaky)
        .expect("approve");
    f.clock.advance(hours(4));
    let progress = f.tick(&flaky);
    let stored = f.rollout(&id).verdict.expect("verdict");
    assert_eq!(stored.outcome, "rollback_failed");
    assert_eq!(progress[0].state, RolloutState::RollbackFailed);
    assert_eq!(
        progress[0].verdict.as_ref().map(|v| v.outcome.as_str()),
        Some("rollback_failed"),
        "{progress:?}"
    );
}

#[test]
fn a_plan_without_a_mutator_is_refused_at_the_start() {
    let mut f = Fixture::new(20);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    let mut no_config = RollbackExecutor::empty();
    no_config.register(OperationKind::Architecture, Box::new(PullMutator));
    no_config.register(OperationKind::Prompt, Box::new(PullMutator));
    let a = f
        .service()
        .approve(&id, &ana(), Some("ok"), &no_config)
        .expect("the approval itself succeeds");
    assert!(a.approved && a.rollout.is_none(), "{a:?}");
    let why = a.rollout_error.expect("the rollout was refused");
    assert!(
        why.contains("no rollback mutator") && why.contains("config"),
        "{why}"
    );
    assert_eq!(f.status(&id), ProposalStatus::Approved);
    assert_eq!(f.store.rollout(&id).expect("read"), None);
    let err = f
        .service()
        .start_rollout(&id, &ana(), None, &no_config)
        .expect_err("refused");
    assert!(
        matches!(&err, ServiceError::Rejected(m) if m.contains("no rollback mutator")),
        "{err}"
    );
    assert_eq!(f.store.rollout(&id).expect("read"), None);
    assert!(f.store.live_rollouts().expect("live").is_empty());

    // With a config mutator it starts.
    let r = f
        .service()
        .start_rollout(&id, &ana(), None, &RollbackExecutor::default())
        .expect("start");
    assert_eq!(r.state, RolloutState::Observing);
    assert_eq!(f.status(&id), ProposalStatus::RollingOut);

    // An unknown rollback operation never gets that far: the plan does not parse.
    let p: ImprovementProposal = f
        .store
        .proposal(&id)
        .expect("read")
        .expect("stored")
        .proposal;
    let mut json = serde_json::to_value(&p).expect("serialise");
    json["rollback"]["operations"][0] = serde_json::json!({
        "drop_table": { "path": DEFAULT_TIER }
    });
    let err = serde_json::from_value::<ImprovementProposal>(json).expect_err("unknown op");
    let msg = err.to_string();
    assert!(
        msg.contains("unknown variant `drop_table`") && msg.contains("set_setting"),
        "{msg}"
    );
}

#[test]
fn a_second_rollout_of_the_same_setting_waits() {
    let mut f = Fixture::new(20);
    let first = f.queue(
        "rule_a",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    let second = f.queue(
        "rule_b",
        vec![set(DEFAULT_TIER, "large", "small")],
        RolloutStrategyKind::BeforeAfter,
    );
    let third = f.queue(
        "rule_c",
        vec![set(WORK_STEALING, false, true)],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&first);
    let a = f
        .service()
        .approve(&second, &ana(), None, &RollbackExecutor::default())
        .expect("approve");
    assert!(a.approved && a.rollout.is_none(), "{a:?}");
    let why = a.rollout_error.expect("refused");
    for needle in [
        DEFAULT_TIER,
        first.as_str(),
        "observing",
        "wait for its verdict",
    ] {
        assert!(why.contains(needle), "{needle:?} not in {why}");
    }
    assert_eq!(f.status(&second), ProposalStatus::Approved);
    assert_eq!(f.store.rollout(&second).expect("read"), None);
    let err = f
        .service()
        .start_rollout(&second, &ana(), None, &RollbackExecutor::default())
        .expect_err("conflict");
    assert!(
        matches!(&err, ServiceError::Rejected(m) if m.contains(DEFAULT_TIER)),
        "{err}"
    );

    // Another setting is no target conflict, but a before/after rollout needs the org to
    // itself: its comparison could not tell two changes apart.
    f.clock.advance(hours(1));
    let a = f
        .service()
        .approve(&third, &ana(), None, &RollbackExecutor::default())
        .expect("approve");
    let why = a.rollout_error.expect("a second before/after is refused");
    assert!(
        why.contains("before/after") && why.contains(&first),
        "{why}"
    );
    assert_eq!(f.status(&third), ProposalStatus::Approved);

    // Once the first has its verdict, the others may start; as A/B tests they can run side by
    // side (each randomised on its own), both overlays live, in start order.
    f.service()
        .decide_rollout(
            &first,
            Decision::Rollback,
            &ana(),
            "make way",
            &RollbackExecutor::default(),
        )
        .expect("rollback");
    f.clock.advance(hours(1));
    let ab = Some(RolloutStrategyKind::AbTest);
    let r2 = f
        .service()
        .start_rollout(&second, &ana(), ab, &RollbackExecutor::default())
        .expect("start after the first ended");
    assert_eq!(r2.state, RolloutState::Observing);
    f.clock.advance(hours(1));
    let r3 = f
        .service()
        .start_rollout(&third, &ana(), ab, &RollbackExecutor::default())
        .expect("a second A/B test alongside");
    let both = r2
        .assignment
        .treatment
        .iter()
        .find(|a| r3.assignment.treatment.contains(a))
        .expect("an agent in both treatment groups")
        .clone();
    let mut cache = EffectiveConfigs::new();
    let c = cache.get(&mut f.store, &both).expect("effective");
    assert_eq!(c.config.overlays, [second.clone(), third.clone()]);
    assert_eq!(
        setting(&c.config, DEFAULT_TIER),
        Some(SettingValue::String("small".into()))
    );
    assert_eq!(
        setting(&c.config, WORK_STEALING),
        Some(SettingValue::Bool(true))
    );
    // And a before/after cannot join them.
    let fourth = f.queue(
        "rule_d",
        vec![set(DEDUPLICATION, false, true)],
        RolloutStrategyKind::BeforeAfter,
    );
    let a = f
        .service()
        .approve(&fourth, &ana(), None, &RollbackExecutor::default())
        .expect("approve");
    assert!(
        a.rollout_error
            .is_some_and(|why| why.contains("before/after")),
        "a before/after cannot join live A/B tests"
    );
    assert_eq!(f.status(&fourth), ProposalStatus::Approved);
}

#[test]
fn one_bad_interval_is_not_a_regression() {
    let mut f = Fixture::new(20);
    // Layer 2 needs `min_data_points` agents per side; asking for more than the org has keeps
    // it out, so that only the threshold layer (which needs that many *tasks* per side) acts.
    f.config.self_improvement.regression.min_data_points = 21;
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 4, Behaviour::quality(0.85));
    f.feed(4, 44, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 12);
    let checks = f.checks(&id);
    assert_eq!(checks.len(), 12, "{:?}", checks.last().map(|c| &c.outcome));
    // Check 1 (hours 0–4, all bad): quality breaches, once.
    let q1 = metric(&checks[0], Metric::Quality);
    let w1 = q1.worsening.expect("worsening");
    assert_eq!(
        (q1.decision, q1.consecutive),
        (MetricDecision::Breaching, 1),
        "{q1:?}"
    );
    assert!(w1 > q1.threshold && w1 < q1.threshold * 3.0, "{q1:?}");
    assert_eq!(q1.p_adjusted, None, "layer 2 did not test: {q1:?}");
    assert_eq!(checks[0].outcome.decision, CheckDecision::Continue);
    // Check 2 (hours 0–8, half bad): within the threshold, the streak is broken.
    let q2 = metric(&checks[1], Metric::Quality);
    assert_eq!(
        (q2.decision, q2.consecutive),
        (MetricDecision::Ok, 0),
        "{q2:?}"
    );
    assert!(q2.worsening.is_some_and(|w| w < q2.threshold), "{q2:?}");
    for c in &checks {
        assert!(
            !matches!(c.outcome.decision, CheckDecision::RollBack { .. }),
            "check {}: {:?}",
            c.seq,
            c.outcome.decision
        );
        let q = metric(c, Metric::Quality);
        assert!(
            c.seq == 1 || q.decision == MetricDecision::Ok,
            "check {}: {q:?}",
            c.seq
        );
    }
    // Not rolled back; without layer 2 the window ends inconclusive, for a human.
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::Paused);
    assert!(r.verdict.is_some_and(|v| {
        v.reason
            .contains("not enough data to test the primary metric")
    }),);
}

#[test]
fn a_catastrophic_drop_rolls_back_at_the_first_check() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 8, Behaviour::quality(0.5));
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 12);
    let checks = f.checks(&id);
    assert_eq!(checks.len(), 1);
    let q = metric(&checks[0], Metric::Quality);
    assert_eq!(
        (q.decision, q.consecutive),
        (MetricDecision::ThresholdRegression, 1),
        "{q:?}"
    );
    assert!(q.worsening.is_some_and(|w| w > 3.0 * q.threshold), "{q:?}");
    assert!(q.why.contains("catastrophic"), "{}", q.why);
    assert!(
        matches!(&checks[0].outcome.decision, CheckDecision::RollBack { layer: Layer::Threshold, metrics, .. } if metrics == &[Metric::Quality]),
        "{:?}",
        checks[0].outcome.decision
    );
    assert_eq!(f.rollout(&id).state, RolloutState::RolledBack);
    assert_eq!(f.status(&id), ProposalStatus::RolledBack);
}

/// A config mutator that dies (panics, as a crashing process would) when asked to revert one
/// setting path.
struct Crashing {
    path: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl RollbackMutator for Crashing {
    fn name(&self) -> &str {
        "crashing"
    }
    fn revert(&self, _scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String> {
        let path = path_of(op);
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("revert {path}"));
        assert!(path != self.path, "the process died while reverting {path}");
        Ok(())
    }
    fn reapply(&self, _scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String> {
        Err(format!("not expected: reapply {op}"))
    }
}

#[test]
fn an_interrupted_rollback_resumes_where_it_stopped() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    f.feed(0, 8, Behaviour::quality(0.5));
    let mut cache = EffectiveConfigs::new();
    let before = f.effective_json(&mut cache);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut crashing = RollbackExecutor::default();
    crashing.register(
        OperationKind::Config,
        Box::new(Crashing {
            path: DEFAULT_TIER,
            log: Arc::clone(&log),
        }),
    );
    let changes = vec![tier_change(), set(PER_TASK_LIMIT_USD, 2.0, 1.5)];
    let id = f.queue("test_rule", changes, RolloutStrategyKind::BeforeAfter);
    f.approve(&id);
    f.clock.advance(hours(4));
    let crash = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.tick(&crashing)));
    assert!(crash.is_err(), "the tick died");

    // What the store says after the crash: rolling back, one of two operations done, and the
    // treatment agents see exactly that (the limit is back, the tier is not yet).
    let Fixture {
        dir,
        store,
        config,
        agents,
        ..
    } = f;
    drop(store);
    let mut f = Fixture {
        store: Store::open(dir.path().join("k.db")).expect("reopen"),
        dir,
        config,
        clock: ManualClock::new(t0() + hours(5)),
        agents,
    };
    let r = f.rollout(&id);
    assert_eq!((r.state, r.reverted), (RolloutState::RollingBack, 1));
    assert_eq!(f.checks(&id).len(), 1);
    let mut cache = EffectiveConfigs::new();
    let c = cache.get(&mut f.store, "rt-05").expect("effective");
    assert_eq!(setting(&c.config, DEFAULT_TIER), medium());
    assert_eq!(
        setting(&c.config, PER_TASK_LIMIT_USD),
        Some(SettingValue::Float(2.0))
    );

    // The next tick finishes the rollback from operation 2; no check runs again.
    let progress = f.tick(&RollbackExecutor::default());
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert_eq!(
        (progress[0].checks_run, progress[0].state),
        (0, RolloutState::RolledBack)
    );
    let r = f.rollout(&id);
    assert_eq!((r.state, r.reverted), (RolloutState::RolledBack, 2));
    let verdict = r.verdict.expect("verdict");
    assert_eq!(verdict.outcome, "rolled_back");
    assert!(
        verdict.reason.contains("regression at check 1"),
        "{}",
        verdict.reason
    );
    assert_eq!(f.checks(&id).len(), 1);
    assert_eq!(f.status(&id), ProposalStatus::RolledBack);
    assert_eq!(
        *log.lock().unwrap_or_else(|p| p.into_inner()),
        [
            format!("revert {PER_TASK_LIMIT_USD}"),
            format!("revert {DEFAULT_TIER}")
        ]
    );
    assert_eq!(f.effective_json(&mut cache), before);
}

#[test]
fn a_paused_rollout_applied_by_a_human_becomes_an_org_version() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    let base = f.org_version();
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 12);
    assert_eq!(f.rollout(&id).state, RolloutState::Paused);
    let exec = RollbackExecutor::default();
    let err = f
        .service()
        .decide_rollout(&id, Decision::Apply, &Actor::agent("bot"), "ship it", &exec)
        .expect_err("agents do not decide");
    assert!(err.to_string().contains("only a human"), "{err}");
    let r = f
        .service()
        .decide_rollout(
            &id,
            Decision::Apply,
            &ana(),
            "the change is harmless",
            &exec,
        )
        .expect("apply");
    assert_eq!(r.state, RolloutState::Applied);
    let v = r.applied_version.expect("version");
    let version = f.store.org_version(v).expect("read").expect("exists");
    assert_eq!(
        (
            version.parent,
            version.actor.as_str(),
            version.changes.clone()
        ),
        (Some(base), "ana", vec![tier_change()])
    );
    let p = f.store.proposal(&id).expect("read").expect("stored");
    assert_eq!(
        (p.status, p.applied_version),
        (ProposalStatus::Applied, Some(v))
    );
    assert_eq!(
        r.verdict.map(|v| (v.outcome, v.decided_by)),
        Some(("applied".to_owned(), "ana".to_owned()))
    );
    // Deciding again is refused: the rollout is final.
    let err = f
        .service()
        .decide_rollout(&id, Decision::Rollback, &ana(), "again", &exec)
        .expect_err("final");
    assert!(err.to_string().contains("applied"), "{err}");
}

/// An org change made while a rollout is live that touches the rollout's setting (an import,
/// as `kaizen org import` makes) is refused, so the treatment agents never lose their
/// effective config.
#[test]

fn an_org_change_under_a_live_rollout_keeps_configs_readable() {
    let mut f = Fixture::new(20);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    let doc = f
        .store
        .org_current()
        .expect("org")
        .expect("an org")
        .document
        .apply(&[set(DEFAULT_TIER, "large", "small")])
        .expect("apply");
    let imported = f.store.org_import(doc, "someone", t0() + hours(1));
    let err = imported.expect_err("an import under a live overlay of the same setting");
    let msg = err.to_string();
    assert!(
        msg.contains(&id) && msg.contains("decide that rollout first"),
        "{msg}"
    );
    // Nothing changed: every agent still reads its config, the overlay included.
    let mut cache = EffectiveConfigs::new();
    for a in f.agents.clone() {
        let c = cache.get(&mut f.store, &a.id).expect("readable");
        assert_eq!(c.config.overlays, [id.as_str()]);
    }
}

/// The engine records a check and the transition it decides in two transactions
/// (`rollout_record_check`, then `rollout_move`/`rollout_apply`). A process that dies between
/// the two after the *final* check leaves an observing rollout with every check done; the next
/// tick must still reach the verdict. The state is reproduced exactly: the final check (and
/// the detector state after it) of an identical, uninterrupted run on a copy of the store,
/// recorded through the same store call the engine makes.
#[test]

fn a_crash_after_the_final_check_still_reaches_a_verdict() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 11);
    assert_eq!(f.rollout(&id).checks_done, 11);
    let Fixture {
        dir,
        store,
        config,
        agents,
        clock,
    } = f;
    drop(store);
    let copy = dir.path().join("copy.db");
    copy_store(&dir.path().join("k.db"), &copy);

    // The uninterrupted run: check 12 applies.
    let mut other = Store::open(&copy).expect("open the copy");
    let later = clock.now() + hours(4);
    let clock2 = ManualClock::new(later);
    Service {
        store: &mut other,
        config: &config,
        clock: &clock2,
    }
    .tick_rollouts(&RollbackExecutor::default())
    .expect("tick");
    let done = other.rollout(&id).expect("read").expect("rollout");
    assert_eq!(done.state, RolloutState::Applied);
    let last = other
        .rollout_checks(&id)
        .expect("checks")
        .pop()
        .expect("check 12");
    assert_eq!(last.seq, 12);

    // The interrupted one: check 12 recorded, then the process died.
    let mut f = Fixture {
        store: Store::open(dir.path().join("k.db")).expect("reopen"),
        dir,
        config,
        clock: ManualClock::new(later),
        agents,
    };
    f.store
        .rollout_record_check(&id, &last, &done.detector)
        .expect("record check 12");
    assert_eq!(f.rollout(&id).state, RolloutState::Observing);

    // After the restart, the engine must finish what it started.
    f.clock.advance(hours(1));
    f.tick(&RollbackExecutor::default());
    let r = f.rollout(&id);
    assert_eq!(
        r.state,
        RolloutState::Applied,
        "checks done {} of {}, next check {:?}, next_rollout_check {:?}",
        r.checks_done,
        r.total_checks(),
        r.next_check_at(),
        f.service().next_rollout_check().expect("next")
    );
}

/// A verdict commits before its `rollouts.verdict` audit entry is appended; a stop in between
/// (here: the verdict reached by the engine alone, as a process killed right after it) leaves
/// it unaudited. The next process audits it once, before its first tick, and never again.
#[test]
fn a_verdict_a_stop_left_unaudited_is_audited_once_by_the_next_process() {
    use kaizen_store::auth::{AuditOutcome, AuditQuery};
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 20);
    let verdict = f.rollout(&id).verdict.expect("a verdict");
    let entries = |store: &Store| {
        store
            .audit(&AuditQuery {
                operation: Some("rollouts.verdict"),
                target: Some(&id),
                ..AuditQuery::default()
            })
            .expect("audit")
            .0
    };
    assert!(
        entries(&f.store).is_empty(),
        "the engine alone audits nothing"
    );

    let path = f.dir.path().join("k.db");
    for _ in 0..2 {
        let kaizen = kaizen_service::Kaizen::new(
            Store::open(&path).expect("open"),
            f.config.clone(),
            Arc::new(ManualClock::new(f.clock.now())),
            RollbackExecutor::default(),
        );
        kaizen.tick_rollouts().expect("tick");
        let found = entries(&kaizen.store());
        assert_eq!(found.len(), 1, "{found:#?}");
        let e = &found[0];
        assert_eq!(e.actor, kaizen_service::rollout::ENGINE);
        assert_eq!(e.outcome, AuditOutcome::Ok);
        assert_eq!(e.at, verdict.at);
        let detail = e.detail.as_ref().expect("detail");
        assert_eq!(detail["outcome"], verdict.outcome.as_str());
        assert_eq!(detail["recovered"], true);
    }
}

/// Issue 13: before/after compared the hours since the start with the 48 h before it, so a
/// daily cycle (and a drift) was blamed on the change: at check 1 the after-window held the
/// expensive first hours of the day, against a baseline of whole days. It now compares the
/// same hours of the week one and two weeks earlier. A no-op change in an org whose cost swings
/// ±60 % over the day and drifts up 2 % a day is applied, never rolled back.
#[test]
fn before_after_is_not_fooled_by_a_daily_cycle_or_a_drift() {
    let mut f = Fixture::new(20);
    let cost = |k: i64| {
        let day = std::f64::consts::TAU * (k.rem_euclid(24) as f64 + 0.5) / 24.0;
        (1.0 + 0.6 * day.cos()) * (1.0 + 0.02 * (k as f64 + HISTORY as f64) / 24.0)
    };
    f.feed_with(-HISTORY, HISTORY + 48, |_, k| Behaviour {
        cost: cost(k),
        ..Behaviour::NORMAL
    });
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 12);
    let checks = f.checks(&id);
    assert_eq!(
        checks.len(),
        12,
        "{:?}",
        checks.last().map(|c| &c.outcome.decision)
    );
    for c in &checks {
        let m = metric(c, Metric::CostPerTask);
        assert!(m.drift_adjusted, "{m:?}");
        // The same hours a week earlier cost the same, up to the drift's correction.
        assert!(
            m.worsening.is_some_and(|w| w.abs() < 0.05),
            "check {}: {}",
            c.seq,
            m.why
        );
    }
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::Applied, "{:?}", r.verdict);
}

/// Issue 13: silent failures that began 9 h before a before/after rollout got the change
/// rolled back at check 1. The shift shows in the day before the start (against the same
/// hours a week earlier): it is not attributed to the change, which is held for a human.
#[test]
fn a_shift_that_began_before_the_rollout_is_not_blamed_on_it() {
    let mut f = Fixture::new(20);
    f.feed_with(-HISTORY, HISTORY + 48, |_, k| {
        if k >= -9 {
            Behaviour {
                success: 0.7,
                ..Behaviour::NORMAL
            }
        } else {
            Behaviour::NORMAL
        }
    });
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&id);
    f.run(&id, 4, 12);
    let checks = f.checks(&id);
    assert_eq!(
        checks.len(),
        12,
        "{:?}",
        checks.last().map(|c| &c.outcome.decision)
    );
    let s = metric(&checks[0], Metric::SuccessRate);
    let shift = s.pre_shift.as_ref().expect("the day before was searched");
    assert!(shift.flagged && shift.harmful, "{shift:?}");
    assert!(s.why.contains("began before the rollout"), "{}", s.why);
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::Paused);
    let v = r.verdict.expect("a verdict");
    assert!(
        v.reason.contains("held for a human") && v.reason.contains("began before the rollout"),
        "{}",
        v.reason
    );
}

/// Issue 13: the error metric counted sampled classifier findings, so a change that tripled
/// the runtime's errors went unseen. It now counts the errors agents' runtimes report per task
/// (`telemetry.event` with `error: true`).
#[test]
fn a_threefold_error_rate_is_rolled_back() {
    let mut f = Fixture::new(40);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    let id = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::AbTest,
    );
    f.approve(&id);
    let treated = f.treated(&id);
    f.feed_with(0, 48, |i, _| {
        if treated[i] {
            Behaviour::errors(3.0)
        } else {
            Behaviour::NORMAL
        }
    });
    f.run(&id, 4, 12);
    let r = f.rollout(&id);
    assert_eq!(r.state, RolloutState::RolledBack, "{:?}", r.verdict);
    let last = f.checks(&id).pop().expect("a check");
    let CheckDecision::RollBack { metrics, .. } = &last.outcome.decision else {
        panic!("{:?}", last.outcome.decision)
    };
    assert!(metrics.contains(&Metric::ErrorRate), "{metrics:?}");
    let e = metric(&last, Metric::ErrorRate);
    assert!(e.worsening.is_some_and(|w| w > 1.0), "{e:?}");
}

/// Issue 13: an A/B test could only win on quality, by more than 15 %. It now wins on the
/// proposal's primary metric (here cost, the metric of the rule that fired), significantly
/// better by more than `improvement_threshold` (5 %), with no guardrail harmed.
#[test]
fn an_ab_test_wins_on_the_primary_metric() {
    let mut f = Fixture::new(20);
    f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
    let id = f.queue(
        "budget_overrun",
        vec![tier_change()],
        RolloutStrategyKind::AbTest,
    );
    f.approve(&id);
    let treated = f.treated(&id);
    f.feed_with(0, 48, |i, _| {
        if treated[i] {
            Behaviour {
                cost: 0.8,
                ..Behaviour::NORMAL
            }
        } else {
            Behaviour::NORMAL
        }
    });
    f.run(&id, 4, 12);
    let r = f.rollout(&id);
    let v = r.verdict.expect("a verdict");
    assert_eq!(
        (r.state, v.outcome.as_str()),
        (RolloutState::Applied, "improved"),
        "{}",
        v.reason
    );
    assert!(v.reason.contains("cost_per_task"), "{}", v.reason);
    let last = f.checks(&id).pop().expect("a check");
    let c = metric(&last, Metric::CostPerTask);
    assert!(
        c.primary && c.p_improvement.is_some_and(|p| p < 0.05),
        "{c:?}"
    );
}

/// Issue 13: small orgs never concluded (layer 2 needs 10 agents a side) and nothing said so.
/// `auto` picks the design the org's size can conclude with, and the start says what it can
/// detect — or that it cannot conclude at all.
#[test]
fn auto_picks_a_design_the_org_can_conclude_with_and_says_what_it_can_detect() {
    for (n, design) in [(12, "before_after"), (20, "ab_test"), (50, "canary")] {
        let mut f = Fixture::new(n);
        f.feed(-HISTORY, HISTORY, Behaviour::NORMAL);
        let id = f.queue("test_rule", vec![tier_change()], RolloutStrategyKind::Auto);
        let started = f.approve(&id).rollout.expect("started");
        assert_eq!(started.strategy, design, "{n} agents");
        assert!(started.can_conclude, "{n} agents: {}", started.plan);
        assert!(started.plan.contains("can detect"), "{}", started.plan);
        let plan = f.rollout(&id).detector.plan.expect("a plan");
        let q = plan
            .metrics
            .iter()
            .find(|m| m.metric == Metric::Quality)
            .expect("quality");
        assert!(q.primary && q.measurable, "{q:?}");
        assert!(q.detectable.is_some_and(|d| d > 0.0 && d < 0.10), "{q:?}");
    }
    // Without two weeks of history a before/after rollout cannot conclude, and says so.
    let mut f = Fixture::new(12);
    f.feed(-48, 48, Behaviour::NORMAL);
    let id = f.queue("test_rule", vec![tier_change()], RolloutStrategyKind::Auto);
    let started = f.approve(&id).rollout.expect("started");
    assert_eq!(started.strategy, "before_after");
    assert!(!started.can_conclude);
    assert!(
        started.plan.contains("cannot conclude by design"),
        "{}",
        started.plan
    );
}

/// Issue 13: one rollout blocked the next — a before/after rollout of a change with no
/// measurable effect held a needed fix back for its whole window. A critical proposal now
/// starts beside a less urgent live rollout (saying so); a before/after comparison that another
/// change overlaps is held for a human instead of applied. A proposal that is not critical
/// still waits.
#[test]
fn a_critical_fix_is_not_queued_behind_a_less_urgent_rollout() {
    let mut f = Fixture::new(12);
    f.feed(-HISTORY, HISTORY + 48, Behaviour::NORMAL);
    let low = f.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    );
    f.approve(&low);
    // A warning-level proposal waits, and is told why.
    let waits = f.queue(
        "other_rule",
        vec![set(WORK_STEALING, false, true)],
        RolloutStrategyKind::BeforeAfter,
    );
    let a = f
        .service()
        .approve(&waits, &ana(), Some("go"), &RollbackExecutor::default())
        .expect("approve");
    let e = a.rollout_error.expect("refused");
    assert!(e.contains("only a critical proposal starts beside"), "{e}");
    // A critical one starts beside it, and says what that means.
    let mut p = proposal(
        "critical_rule",
        vec![set(DEDUPLICATION, false, true)],
        RolloutStrategyKind::BeforeAfter,
        f.clock.now(),
    );
    p.rationale.severity = kaizen_core::rules::RuleSeverity::Critical;
    let critical = queue(&mut f.store, &f.config, &p);
    let started = f.approve(&critical).rollout.expect("started");
    assert!(
        started
            .plan
            .contains(&format!("starts beside the before_after rollout of {low}")),
        "{}",
        started.plan
    );
    f.run(&critical, 4, 12);
    for id in [&low, &critical] {
        let r = f.rollout(id);
        assert_eq!(r.state, RolloutState::Paused, "{id}: {:?}", r.verdict);
        let v = r.verdict.expect("a verdict");
        assert!(
            v.reason.contains("held for a human") && v.reason.contains("other rollouts"),
            "{}",
            v.reason
        );
    }
}

/// Issue 13 (small orgs): a design that cannot conclude says so at the start, and says what
/// would. Agents here work one day in three, so a 48 h window sees 8 of the 12 (too few for the
/// statistics); 96 h would see them all.
#[test]
fn a_rollout_that_cannot_conclude_says_which_window_could() {
    let mut f = Fixture::new(12);
    f.feed_with(-HISTORY, HISTORY, |i, k| {
        if (k.div_euclid(24) - i as i64).rem_euclid(3) == 0 {
            Behaviour::NORMAL
        } else {
            Behaviour::NO_TASKS
        }
    });
    let id = f.queue("test_rule", vec![tier_change()], RolloutStrategyKind::Auto);
    let started = f.approve(&id).rollout.expect("started");
    assert_eq!(started.strategy, "before_after");
    assert!(!started.can_conclude, "{}", started.plan);
    assert!(
        started.plan.contains("cannot conclude by design")
            && started.plan.contains("a 96 h window could")
            && started
                .plan
                .contains(&format!("kaizen rollouts decide {id} extend --hours 48")),
        "{}",
        started.plan
    );
}
