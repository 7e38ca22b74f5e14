//! The improvement pipeline end to end on a real SQLite store: a synthetic org with a budget
//! overrun → cycle → a config proposal computed from the current org → human approval, which
//! starts its rollout → clean data over the observation window → applied as exactly one new
//! org version → rollback; plus the safety refusals and the scheduler.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::KaizenConfig;
use kaizen_core::org::{OrgChange, SettingValue};
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{CycleOptions, CycleTrigger, ProposalOutcome, Service, ServiceError};
use kaizen_sim::{Fault, SimSpec};
use kaizen_store::proposals::{Actor, ActorKind, ProposalStatus};
use kaizen_store::rollouts::RolloutState;
use kaizen_store::{IngestOptions, Store};

fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn human(name: &str) -> Actor {
    Actor {
        name: name.into(),
        kind: ActorKind::Human,
    }
}

fn enabled() -> KaizenConfig {
    common::enabled()
}

fn exec() -> RollbackExecutor {
    RollbackExecutor::default()
}

/// A store with 9 days of a 30-agent org whose budget runs out, and the standard org with the
/// 20 agents of `common::agents` (which the rollouts observe).
fn setup(dir: &std::path::Path, faults: Vec<Fault>) -> Store {
    let mut spec = SimSpec::new(30, 9, 5, end());
    spec.faults = faults;
    let mut data = Vec::new();
    kaizen_sim::generate(&spec, &mut data).expect("generate");
    let mut store = Store::open(dir.join("k.db")).expect("open");
    let report = store
        .ingest(data.as_slice(), IngestOptions::new(end()))
        .expect("ingest");
    assert_eq!(report.rejected, 0);
    store
        .org_import(common::org_with(&common::agents(20)), "test", end())
        .expect("import org");
    store
}

fn cycle(service: &mut Service<'_>) -> kaizen_service::CycleReport {
    service
        .run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: false,
        })
        .expect("cycle")
}

fn tier(store: &mut Store) -> Option<SettingValue> {
    store
        .org_current()
        .expect("org")
        .and_then(|v| v.document.settings.get("models.default_tier").cloned())
}

#[test]
fn budget_overrun_to_applied_version_and_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), vec![Fault::BudgetOverrun]);
    let mut config = enabled();
    // A before/after rollout (`auto` would run an A/B test in 20 agents, which cannot be
    // applied without a winner).
    config.self_improvement.rollout.default_strategy =
        kaizen_core::config::RolloutStrategyKind::BeforeAfter;
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };

    let report = cycle(&mut service);
    assert!(
        report
            .matches
            .iter()
            .any(|m| m.rule_name == "budget_overrun"),
        "{:?}",
        report.matches
    );
    let queued: Vec<_> = report.queued().collect();
    assert_eq!(queued.len(), 1, "{:?}", report.proposals);
    let id = queued[0].id.clone();
    let stored = service.proposal(&id).expect("stored");
    assert_eq!(stored.status, ProposalStatus::Pending);
    // Computed from the current value: large → medium.
    assert!(
        matches!(&stored.proposal.changes[..], [OrgChange::SetSetting { path, from: Some(SettingValue::String(f)), to: Some(SettingValue::String(t)) }]
            if path == "models.default_tier" && f == "large" && t == "medium"),
        "{:?}",
        stored.proposal.changes
    );

    // The condition persists: the next cycle does not queue it again.
    clock.advance(Duration::hours(1));
    let again = cycle(&mut service);
    assert!(again.proposals.iter().any(|p| p.outcome
        == ProposalOutcome::Duplicate {
            existing_id: id.clone()
        }));
    assert_eq!(service.proposal(&id).expect("stored").occurrences, 2);

    // Nothing rolls out without a human's approval.
    let err = service
        .start_rollout(&id, &human("ops"), None, &exec())
        .expect_err("pending cannot roll out");
    assert!(
        err.to_string().contains("only an approved proposal"),
        "{err}"
    );
    let agent = Actor {
        name: "bot".into(),
        kind: ActorKind::Agent,
    };
    let err = service
        .approve(&id, &agent, None, &exec())
        .expect_err("agents cannot approve");
    assert!(
        matches!(
            err,
            ServiceError::Forbidden {
                code: "human_only",
                ..
            }
        ),
        "{err}"
    );

    // Dry run = the applier's checks, nothing written.
    let base = service
        .store
        .org_current()
        .expect("org")
        .expect("an org")
        .id;
    let dry = service.preview(&id).expect("dry run");
    assert!(dry.dry_run);
    assert_eq!((dry.base_version, dry.new_version), (base, None));
    assert_eq!(dry.changes, stored.proposal.changes);
    assert_eq!(
        dry.rollback,
        OrgChange::inverse_all(&stored.proposal.changes)
    );
    assert_eq!(
        tier(service.store),
        Some(SettingValue::String("large".into()))
    );
    assert_eq!(service.store.rollout(&id).expect("read"), None);
    assert_eq!(
        service.proposal(&id).expect("stored").status,
        ProposalStatus::Pending
    );

    // Clean data for the org's agents: the two weeks and two days a before/after comparison
    // reads before the approval and the whole observation window after it, the same
    // behaviour throughout.
    let start = end() + Duration::hours(49);
    let agents = common::agents(20);
    let data = common::ndjson(
        &agents,
        start - Duration::hours(408),
        456,
        common::Behaviour::NORMAL,
        11,
    );
    common::ingest(service.store, &data, start);
    clock.set(start);
    let versions = service.store.org_history(100).expect("history").len();

    // The approval starts the rollout; the org version does not change yet.
    let approved = service
        .approve(&id, &human("ana"), Some("looks right"), &exec())
        .expect("approve");
    let started = approved.rollout.expect("the rollout started");
    assert_eq!(
        (
            started.strategy.as_str(),
            started.treatment,
            started.window_hours
        ),
        ("before_after", 20, 48)
    );
    assert_eq!(
        service.proposal(&id).expect("stored").status,
        ProposalStatus::RollingOut
    );
    assert_eq!(
        tier(service.store),
        Some(SettingValue::String("large".into()))
    );

    // No regression over the window: after the 12th check it is applied, as one new version
    // made from the version it was checked against.
    for _ in 0..12 {
        clock.advance(Duration::hours(4));
        let progress = service.tick_rollouts(&exec()).expect("tick");
        assert_eq!(progress.len(), 1, "{progress:?}");
        assert_eq!(progress[0].error, None);
    }
    let rollout = service.rollout(&id).expect("rollout");
    assert_eq!(
        rollout.state,
        RolloutState::Applied,
        "{:?}",
        rollout.verdict
    );
    assert_eq!(rollout.base_version, base);
    let v = rollout.applied_version.expect("a new version");
    assert_eq!(
        service.store.org_history(100).expect("history").len(),
        versions + 1
    );
    assert_eq!(
        tier(service.store),
        Some(SettingValue::String("medium".into()))
    );
    let version = service.store.org_version(v).expect("read").expect("exists");
    assert_eq!(version.parent, Some(base));
    assert_eq!(version.proposal_id.as_deref(), Some(id.as_str()));
    assert_eq!(version.changes, stored.proposal.changes);
    let p = service.proposal(&id).expect("stored");
    assert_eq!(
        (p.status, p.applied_version),
        (ProposalStatus::Applied, Some(v))
    );

    let err = service
        .rollback(&id, &human("ana"), "  ", &[])
        .expect_err("reason required");
    assert!(err.to_string().contains("reason"), "{err}");
    let rolled = service
        .rollback(&id, &human("ana"), "cost is fine after all", &[])
        .expect("rollback");
    assert_eq!(rolled.new_version, v + 1);
    assert_eq!(
        tier(service.store),
        Some(SettingValue::String("large".into()))
    );
    let p = service.proposal(&id).expect("stored");
    assert_eq!(p.status, ProposalStatus::RolledBack);
    let statuses: Vec<&str> = p.transitions.iter().map(|t| t.to_status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "pending",
            "approved",
            "rolling_out",
            "applied",
            "rolled_back"
        ]
    );
}

#[test]
fn refusals_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), vec![Fault::BudgetOverrun]);
    let clock = ManualClock::new(end());

    // Disabled by default.
    let defaults = KaizenConfig::default();
    let mut service = Service {
        store: &mut store,
        config: &defaults,
        clock: &clock,
    };
    let err = service
        .run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: false,
        })
        .expect_err("disabled");
    assert!(matches!(err, ServiceError::Disabled));

    let config = enabled();
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let dry = service
        .run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: true,
        })
        .expect("dry cycle");
    assert!(
        dry.proposals
            .iter()
            .all(|p| p.outcome == ProposalOutcome::WouldQueue)
    );
    assert_eq!(service.store.proposals(None, 10, 0).expect("list").1, 0);

    let report = cycle(&mut service);
    let id = report.queued().next().expect("a proposal").id.clone();
    for bad in ["nope", ""] {
        assert!(service.approve(bad, &human("ana"), None, &exec()).is_err());
    }
    let err = service
        .reject(&id, &human("ana"), "", false)
        .expect_err("reason required");
    assert!(err.to_string().contains("reason"), "{err}");
    service
        .reject(&id, &human("ana"), "not now", false)
        .expect("reject");
    let err = service
        .approve(&id, &human("ana"), None, &exec())
        .expect_err("rejected is final");
    assert!(err.to_string().contains("rejected"), "{err}");
    assert_eq!(
        tier(service.store),
        Some(SettingValue::String("large".into()))
    );
}

#[test]
fn rate_limit_is_persisted_and_uses_the_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = enabled();
    config.self_improvement.guards.proposal_rate_limit = 1;
    let clock = ManualClock::new(end());
    {
        let mut store = setup(
            dir.path(),
            vec![Fault::BudgetOverrun, Fault::Redundancy, Fault::ErrorSpike],
        );
        let mut service = Service {
            store: &mut store,
            config: &config,
            clock: &clock,
        };
        let report = cycle(&mut service);
        assert_eq!(report.queued().count(), 1, "{:?}", report.proposals);
        assert!(report.proposals.iter().any(|p| matches!(&p.outcome, ProposalOutcome::RejectedByGuard { guard, .. } if guard == "rate_limit")));
    } // the store is closed here

    // After a restart the limit still holds within the window…
    let mut store = Store::open(dir.path().join("k.db")).expect("reopen");
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    clock.advance(Duration::hours(2));
    let report = cycle(&mut service);
    assert_eq!(report.queued().count(), 0, "{:?}", report.proposals);
    // …and lifts when the window has passed on the injected clock.
    clock.advance(Duration::hours(24));
    let report = cycle(&mut service);
    assert_eq!(report.queued().count(), 1, "{:?}", report.proposals);
}

#[test]
fn scheduler_runs_once_per_interval_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), vec![]);
    let config = enabled();
    let clock = ManualClock::new(end());
    {
        let mut service = Service {
            store: &mut store,
            config: &config,
            clock: &clock,
        };
        assert!(
            service.run_due_cycle().expect("tick").is_some(),
            "first tick runs"
        );
        clock.advance(Duration::hours(1));
        assert!(
            service.run_due_cycle().expect("tick").is_none(),
            "not due yet"
        );
    }
    drop(store);
    let mut store = Store::open(dir.path().join("k.db")).expect("reopen");
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    assert!(
        service.run_due_cycle().expect("tick").is_none(),
        "a restart does not re-run"
    );
    clock.advance(Duration::hours(167));
    assert!(
        service.run_due_cycle().expect("tick").is_some(),
        "due after 168 h"
    );
    let due = service.next_cycle_due().expect("due").expect("enabled");
    assert_eq!(due, clock.now() + Duration::hours(168));
}

struct Failing;

impl kaizen_core::improve::ImprovementStrategy for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn altitude(&self) -> kaizen_core::altitude::Altitude {
        kaizen_core::altitude::Altitude::ConfigTuning
    }
    fn propose(
        &self,
        _: &kaizen_core::improve::StrategyContext<'_>,
    ) -> Result<kaizen_core::improve::StrategyOutput, kaizen_core::improve::StrategyError> {
        Err(kaizen_core::improve::StrategyError::Failed(
            "provider timed out".into(),
        ))
    }
}

struct Panicking;

impl kaizen_core::improve::ImprovementStrategy for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn altitude(&self) -> kaizen_core::altitude::Altitude {
        kaizen_core::altitude::Altitude::ConfigTuning
    }
    fn propose(
        &self,
        _: &kaizen_core::improve::StrategyContext<'_>,
    ) -> Result<kaizen_core::improve::StrategyOutput, kaizen_core::improve::StrategyError> {
        panic!("bug in a strategy")
    }
}

struct Halve;

impl kaizen_service::ConfidenceAdjuster for Halve {
    fn adjust(&self, proposal: &mut kaizen_core::improve::ImprovementProposal) {
        proposal.confidence /= 2.0;
    }
}

#[test]
fn a_failing_strategy_does_not_abort_the_cycle_and_the_adjuster_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), vec![Fault::BudgetOverrun]);
    let config = enabled();
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let mut plan = kaizen_service::CyclePlan::from_config(&config).expect("plan");
    plan.strategies.insert(0, Box::new(Failing));
    plan.strategies.push(Box::new(Panicking));
    plan.adjuster = Some(Box::new(Halve));
    let report = service
        .run_cycle_with(
            CycleOptions {
                trigger: CycleTrigger::Manual,
                dry_run: false,
            },
            plan,
        )
        .expect("the cycle survives");
    let failed: Vec<(&str, &str)> = report
        .strategy_failures
        .iter()
        .map(|f| (f.strategy.as_str(), f.error.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("failing", "provider timed out"),
            ("panicking", "the strategy panicked")
        ]
    );
    let id = report
        .queued()
        .next()
        .expect("the real strategy's proposal")
        .id
        .clone();
    let stored = service.proposal(&id).expect("stored");
    assert!(
        stored.proposal.confidence <= 0.5,
        "{}",
        stored.proposal.confidence
    );
    // The failures are part of the persisted record.
    let recorded = service.cycle(&report.id).expect("read").expect("recorded");
    assert_eq!(recorded.strategy_failures.len(), 2);
}

#[test]
fn a_risk_level_can_require_several_distinct_approvers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), vec![Fault::BudgetOverrun]);
    let mut config = enabled();
    config.self_improvement.guards.approvals.low = 2;
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let report = cycle(&mut service);
    let id = report.queued().next().expect("a proposal").id.clone();

    let first = service
        .approve(&id, &human("ana"), Some("ok"), &exec())
        .expect("first approval");
    assert_eq!(
        (first.approvals, first.required, first.approved),
        (1, 2, false)
    );
    assert_eq!(
        service.proposal(&id).expect("p").status,
        ProposalStatus::Pending
    );
    assert_eq!(first.rollout, None);
    let err = service
        .start_rollout(&id, &human("ana"), None, &exec())
        .expect_err("not yet approved");
    assert!(err.to_string().contains("approved"), "{err}");
    let err = service
        .approve(&id, &human("ana"), None, &exec())
        .expect_err("same person twice");
    assert!(err.to_string().contains("another person"), "{err}");

    let second = service
        .approve(&id, &human("bo"), None, &exec())
        .expect("second approval");
    assert!(second.approved);
    assert!(second.rollout.is_some(), "{second:?}");
    let p = service.proposal(&id).expect("p");
    // Approved by both, and its rollout started at once.
    assert_eq!(p.status, ProposalStatus::RollingOut);
    let who: Vec<&str> = p.approvals.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(who, ["ana", "bo"]);
    let approval = p
        .transitions
        .iter()
        .find(|t| t.to_status == ProposalStatus::Approved)
        .expect("an approval transition");
    assert_eq!(approval.reason.as_deref(), Some("approved by ana, bo"));
    assert_eq!(
        p.transitions.last().map(|t| t.to_status),
        Some(ProposalStatus::RollingOut)
    );
}
