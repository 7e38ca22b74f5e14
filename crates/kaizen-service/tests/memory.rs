//! The loop's memory and outcomes on a real SQLite store: a rejected change is not proposed
//! again (the playbook's next alternative is), a rejection can say "never again", a fix that
//! is still settling gets no second fix on top, the scope guard is re-checked at approval, and
//! an applied proposal's effect is measured once at its horizon.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::improve::proposal_fingerprint;
use kaizen_core::org::OrgChange;
use kaizen_service::outcomes::OutcomeKind;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{CycleOptions, CycleReport, CycleTrigger, ProposalOutcome, Service};
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

/// 9 days of a 30-agent org whose budget runs out, and the standard org with 20 agents.
fn setup(dir: &std::path::Path) -> Store {
    let mut spec = SimSpec::new(30, 9, 5, end());
    spec.faults = vec![Fault::BudgetOverrun];
    let mut data = Vec::new();
    kaizen_sim::generate(&spec, &mut data).expect("generate");
    let mut store = Store::open(dir.join("k.db")).expect("open");
    store
        .ingest(data.as_slice(), IngestOptions::new(end()))
        .expect("ingest");
    store
        .org_import(common::org_with(&common::agents(20)), "test", end())
        .expect("import org");
    store
}

fn cycle(service: &mut Service<'_>) -> CycleReport {
    service
        .run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: false,
        })
        .expect("cycle")
}

fn budget_proposals(report: &CycleReport) -> Vec<&kaizen_service::cycle::CycleProposal> {
    report
        .proposals
        .iter()
        .filter(|p| p.rule_name == "budget_overrun")
        .collect()
}

#[test]
fn a_rejected_change_cools_down_and_the_next_alternative_is_proposed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path());
    let config = common::enabled();
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let first = cycle(&mut service);
    let queued: Vec<_> = first.queued().collect();
    assert_eq!(queued.len(), 1, "{:?}", first.proposals);
    let p1 = service.proposal(&queued[0].id).expect("stored");
    service
        .reject(&p1.proposal.id, &human("ana"), "not the tier", false)
        .expect("reject");

    // The rule still fires. Without memory the same change would be queued again (the
    // rejected proposal is closed, so it is no duplicate); with it, the playbook's next
    // alternative is proposed and says why the first was skipped.
    for hour in 1..=3 {
        clock.advance(Duration::hours(1));
        let again = cycle(&mut service);
        assert!(
            again
                .matches
                .iter()
                .any(|m| m.rule_name == "budget_overrun"),
            "the rule must still fire"
        );
        for p in budget_proposals(&again) {
            let stored = service.proposal(&p.id).expect("stored");
            assert_ne!(
                proposal_fingerprint(&stored.proposal),
                p1.fingerprint,
                "hour {hour}: the rejected change came back: {:?}",
                again.proposals
            );
        }
        if hour == 1 {
            let queued: Vec<_> = again.queued().collect();
            assert_eq!(queued.len(), 1, "{:?}", again.proposals);
            let p2 = service.proposal(&queued[0].id).expect("stored");
            assert_ne!(p2.proposal.changes, p1.proposal.changes);
            assert!(
                p2.proposal
                    .alternatives
                    .iter()
                    .any(|a| a.contains("turned down within the cooldown")
                        && a.contains(&p1.proposal.id)),
                "{:?}",
                p2.proposal.alternatives
            );
            let memory_guard = p2
                .guards
                .iter()
                .find(|g| g.guard == "memory")
                .expect("memory guard");
            assert!(memory_guard.passed(), "{memory_guard:?}");
        }
    }
    // The overrun reached people too: one budget alert, counted at each of the four cycles.
    let budget: Vec<_> = service
        .store
        .alerts(true)
        .expect("alerts")
        .into_iter()
        .filter(|a| a.kind == "budget")
        .collect();
    assert_eq!(budget.len(), 1, "{budget:?}");
    assert_eq!(budget[0].count, 4, "{budget:?}");
    // The outcome says who rejected it and why.
    let outcome = service.outcome(&p1.proposal.id).expect("outcome");
    assert_eq!(outcome.kind, OutcomeKind::Rejected);
    assert_eq!(outcome.by, "ana");
    assert_eq!(outcome.reason.as_deref(), Some("not the tier"));
    assert!(!outcome.never_again);
}

#[test]
fn never_again_is_recorded_with_the_rejection_and_blocks_every_alternative_it_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path());
    let config = common::enabled();
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    // Reject every budget proposal as "never again" until the playbook has nothing left.
    let mut rejected = Vec::new();
    for _ in 0..8 {
        let report = cycle(&mut service);
        let queued: Vec<String> = report
            .queued()
            .filter(|p| p.rule_name == "budget_overrun")
            .map(|p| p.id.clone())
            .collect();
        let Some(id) = queued.first() else {
            break;
        };
        service
            .reject(id, &human("ana"), "never like this", true)
            .expect("reject");
        assert!(service.outcome(id).expect("outcome").never_again);
        rejected.push(service.proposal(id).expect("stored").fingerprint);
        clock.advance(Duration::hours(1));
    }
    assert!(rejected.len() >= 2, "the playbook has several alternatives");
    let mut unique = rejected.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        rejected.len(),
        "a never-again change came back"
    );
    // Nothing left to propose; the note says why.
    let last = cycle(&mut service);
    assert!(
        budget_proposals(&last)
            .iter()
            .all(|p| p.outcome != ProposalOutcome::Queued)
    );
    assert!(
        last.notes
            .iter()
            .any(|n| n.rule_name == "budget_overrun"
                && n.message.contains("never propose this again")),
        "{:?}",
        last.notes
    );
    // A pending proposal cannot be marked never again on its own.
    let err = service
        .store
        .mark_never_again("no-such-proposal")
        .expect_err("unknown");
    assert!(err.to_string().contains("no-such-proposal"), "{err}");
}

#[test]
fn approval_rechecks_the_scope_against_the_configuration_of_now() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path());
    let config = common::enabled();
    let clock = ManualClock::new(end());
    let id = {
        let mut service = Service {
            store: &mut store,
            config: &config,
            clock: &clock,
        };
        cycle(&mut service)
            .queued()
            .next()
            .expect("queued")
            .id
            .clone()
    };
    // Config tuning switched off after the proposal was queued.
    let mut later = config.clone();
    later.self_improvement.config_tuning_enabled = false;
    let mut service = Service {
        store: &mut store,
        config: &later,
        clock: &clock,
    };
    let err = service
        .approve(&id, &human("ana"), None, &RollbackExecutor::default())
        .expect_err("out of scope now");
    assert!(
        err.to_string().contains("can no longer be approved")
            && err.to_string().contains("config_tuning_enabled"),
        "{err}"
    );
    assert_eq!(
        service.proposal(&id).expect("stored").status,
        ProposalStatus::Pending
    );
    assert!(service.proposal(&id).expect("stored").approvals.is_empty());
}

#[test]
fn an_applied_fix_settles_then_its_outcome_is_measured_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path());
    let mut config = common::enabled();
    config.self_improvement.rollout.default_strategy = RolloutStrategyKind::BeforeAfter;
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let id = cycle(&mut service)
        .queued()
        .next()
        .expect("queued")
        .id
        .clone();
    // Clean data over the comparison windows, the observation window and the horizon.
    let start = end() + Duration::hours(49);
    let agents = common::agents(20);
    let data = common::ndjson(
        &agents,
        start - Duration::hours(408),
        408 + 48 + 24 * 8,
        common::Behaviour::NORMAL,
        11,
    );
    common::ingest(service.store, &data, start + Duration::days(9));
    clock.set(start);
    let approved = service
        .approve(&id, &human("ana"), None, &RollbackExecutor::default())
        .expect("approve");
    assert!(approved.rollout.is_some(), "{approved:?}");
    for _ in 0..12 {
        clock.advance(Duration::hours(4));
        service
            .tick_rollouts(&RollbackExecutor::default())
            .expect("tick");
    }
    assert_eq!(
        service.rollout(&id).expect("rollout").state,
        RolloutState::Applied
    );
    let applied_at = clock.now();

    // A cycle right after: the budget rule gets no second fix on top of the first.
    let report = cycle(&mut service);
    assert!(
        report
            .matches
            .iter()
            .any(|m| m.rule_name == "budget_overrun"),
        "the window still holds the overrun from before the fix"
    );
    assert!(
        budget_proposals(&report).is_empty(),
        "{:?}",
        report.proposals
    );
    assert!(
        report.notes.iter().any(|n| n.rule_name == "budget_overrun"
            && n.message
                .contains("applied less than the signal window ago")),
        "{:?}",
        report.notes
    );

    let outcome = service.outcome(&id).expect("outcome");
    assert_eq!(outcome.kind, OutcomeKind::Applied);
    assert!(outcome.measurement.is_none());
    assert_eq!(
        outcome.measurement_due_at,
        Some(applied_at + Duration::days(7))
    );
    // Not due yet: nothing measured.
    assert!(service.measure_due_outcomes().expect("measure").is_empty());
    clock.advance(Duration::days(7));
    assert_eq!(
        service.measure_due_outcomes().expect("measure"),
        vec![id.clone()]
    );
    // Once.
    assert!(service.measure_due_outcomes().expect("measure").is_empty());
    let m = service
        .outcome(&id)
        .expect("outcome")
        .measurement
        .expect("measured");
    assert_eq!(m.metric.as_str(), "cost_per_task");
    assert_eq!(m.agents, 20, "{m:?}");
    let (lo, hi) = m.interval.expect("an interval");
    assert!(lo <= hi && m.before.is_some() && m.after.is_some(), "{m:?}");
    assert!(m.rule_still_fires.is_some(), "{m:?}");
    assert!(m.summary.contains("cost_per_task"), "{}", m.summary);
    assert_eq!(m.after_since, applied_at);
    // The change it measured is the proposal's own.
    assert!(matches!(
        &service.proposal(&id).expect("stored").proposal.changes[..],
        [OrgChange::SetSetting { .. }]
    ));
}

/// The second budget proposal (after the first was rejected), with `adjuster`.
fn second_proposal_after_a_rejection(
    adjuster: kaizen_core::config::AdjusterKind,
) -> kaizen_core::improve::ImprovementProposal {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path());
    let mut config = common::enabled();
    config.self_improvement.learning.adjuster = adjuster;
    config.self_improvement.learning.min_outcomes = 1;
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let first = cycle(&mut service)
        .queued()
        .next()
        .expect("queued")
        .id
        .clone();
    service
        .reject(&first, &human("ana"), "no", false)
        .expect("reject");
    clock.advance(Duration::hours(1));
    let second = cycle(&mut service)
        .queued()
        .next()
        .expect("queued")
        .id
        .clone();
    service.proposal(&second).expect("stored").proposal
}

#[test]
fn confidence_learns_from_the_outcomes_of_similar_proposals() {
    use kaizen_core::config::AdjusterKind;
    let plain = second_proposal_after_a_rejection(AdjusterKind::None);
    let learned = second_proposal_after_a_rejection(AdjusterKind::Bayesian);
    assert_eq!(plain.changes, learned.changes);
    assert!(
        !plain.description.contains("Learned:"),
        "{}",
        plain.description
    );
    // One earlier budget_overrun proposal, rejected: (4 c + 0) / 5.
    let expected = ((4.0 * plain.confidence / 5.0) * 1000.0_f64).round() / 1000.0;
    assert!(
        (learned.confidence - expected).abs() < 1e-9,
        "{} vs {expected} (heuristic {})",
        learned.confidence,
        plain.confidence
    );
    assert!(
        learned.description.contains("Learned:") && learned.description.contains("0 of 1"),
        "{}",
        learned.description
    );
}
