//! The approval queue, cycles and meta state on real SQLite files: queueing, de-duplication,
//! the transition rules (human approval, reasons, illegal and stale transitions), persistence
//! across re-opening, the persisted rate-limit count, cycle records and the triggers that keep
//! history append-only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::{RolloutStrategyKind, SelfImprovementConfig};
use kaizen_core::improve::guards::{
    GuardChain, GuardContext, GuardResult, GuardVerdict, proposal_fingerprint,
};
use kaizen_core::improve::{ImprovementProposal, Rationale, Risk, RollbackPlan};
use kaizen_core::org::standard::{DEFAULT_TIER, PER_TASK_LIMIT_USD};
use kaizen_core::org::{OrgChange, OrgDocument, SettingValue};
use kaizen_core::rules::RuleSeverity;
use kaizen_store::Store;
use kaizen_store::proposals::{
    Actor, ActorKind, CycleRecord, CycleSummary, ProposalError, ProposalStatus, QueueOutcome,
};

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
}

fn set(path: &str, from: SettingValue, to: SettingValue) -> OrgChange {
    OrgChange::SetSetting {
        path: path.into(),
        from: Some(from),
        to: Some(to),
    }
}

fn tier(from: &str, to: &str) -> OrgChange {
    set(DEFAULT_TIER, from.into(), to.into())
}

fn proposal(rule: &str, changes: Vec<OrgChange>, cycle: &str) -> ImprovementProposal {
    let mut p = ImprovementProposal {
        id: String::new(),
        altitude: Altitude::ConfigTuning,
        title: format!("{rule}: {}", changes[0]),
        description: "lower the cost per task".into(),
        rationale: Rationale {
            rule_name: rule.into(),
            severity: RuleSeverity::Warning,
            description: "budget runs out in 7 days".into(),
            signal_context: BTreeMap::new(),
            threshold: None,
        },
        changes,
        rollback: RollbackPlan { operations: vec![] },
        alternatives: vec![],
        confidence: 0.75,
        risk: Risk::Low,
        rollout: RolloutStrategyKind::BeforeAfter,
        primary_metric: Default::default(),
        observation_window_hours: 48,
        source_cycle: Some(cycle.into()),
        created_at: t(0),
    };
    p.refresh_derived();
    p
}

/// The guard verdicts of the standard chain, as the cycle service would pass them.
fn guards(p: &ImprovementProposal) -> Vec<GuardResult> {
    let config = SelfImprovementConfig {
        enabled: true,
        ..SelfImprovementConfig::default()
    };
    let org = OrgDocument::standard();
    let outcome = GuardChain::standard().evaluate(
        p,
        &GuardContext {
            config: &config,
            org: &org,
            submissions_in_window: 0,
            memory: None,
        },
    );
    assert!(outcome.passed, "{outcome:?}");
    outcome.results
}

fn queue(store: &mut Store, p: &ImprovementProposal, now: DateTime<Utc>) -> QueueOutcome {
    store
        .queue_proposal(p, &guards(p), &proposal_fingerprint(p), now)
        .unwrap()
}

fn message(e: ProposalError) -> String {
    e.to_string()
}

#[test]
fn queue_dedup_review_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let id = p.id.clone();
    let ana = Actor::human("ana");
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(
            store.stats().unwrap().schema_version as usize,
            kaizen_store::schema::MIGRATIONS.len()
        );
        assert!(matches!(
            queue(&mut store, &p, t(0)),
            QueueOutcome::Queued { .. }
        ));
        let stored = store.proposal(&id).unwrap().unwrap();
        assert_eq!(stored.proposal, p);
        assert_eq!(stored.status, ProposalStatus::Pending);
        assert_eq!(stored.risk, Risk::Low);
        assert_eq!(stored.guards, guards(&p));
        assert_eq!(stored.guards.len(), 5);
        assert_eq!(stored.fingerprint, proposal_fingerprint(&p));
        assert_eq!(stored.occurrences, 1);
        assert_eq!(
            (stored.created_at, stored.updated_at, stored.last_seen_at),
            (t(0), t(0), t(0))
        );
        assert_eq!(stored.applied_version, None);
        assert_eq!(stored.transitions.len(), 1);
        let q = &stored.transitions[0];
        assert_eq!(
            (
                q.at,
                q.actor.as_str(),
                q.actor_kind,
                q.from_status,
                q.to_status
            ),
            (
                t(0),
                "meta-loop",
                ActorKind::System,
                None,
                ProposalStatus::Pending
            )
        );
        assert_eq!(q.reason.as_deref(), Some("queued by cycle c1"));

        // The next cycle proposes the same target again, after the current value drifted: the
        // id differs, the fingerprint does not. Only the open proposal's counters move.
        let again = proposal("budget_overrun", vec![tier("small", "medium")], "c2");
        assert_ne!(again.id, id);
        let again_guards = vec![GuardResult::pass("scope_check", "ok")];
        assert_eq!(
            store
                .queue_proposal(
                    &again,
                    &again_guards,
                    &proposal_fingerprint(&again),
                    t(3600)
                )
                .unwrap(),
            QueueOutcome::Duplicate {
                existing_id: id.clone()
            }
        );
        assert_eq!(store.proposal(&again.id).unwrap(), None);
        let stored = store.proposal(&id).unwrap().unwrap();
        assert_eq!(stored.occurrences, 2);
        assert_eq!(stored.last_seen_at, t(3600));
        assert_eq!(stored.updated_at, t(0));
        assert_eq!(stored.transitions.len(), 1);
        assert_eq!(store.proposals(None, 10, 0).unwrap().1, 1);
        assert_eq!(store.proposals_submitted_since(t(0)).unwrap(), 1);
        assert_eq!(
            store
                .open_proposal_with_fingerprint(&proposal_fingerprint(&p))
                .unwrap(),
            Some(id.clone())
        );

        // Approving needs a human.
        for actor in [Actor::agent("bot-7"), Actor::system("scheduler")] {
            let e = store
                .transition_proposal(
                    &id,
                    ProposalStatus::Pending,
                    ProposalStatus::Approved,
                    &actor,
                    None,
                    None,
                    t(4000),
                )
                .unwrap_err();
            assert!(matches!(e, ProposalError::NotHuman { .. }));
            let kind = if actor.kind == ActorKind::Agent {
                "an agent"
            } else {
                "a system"
            };
            assert_eq!(
                message(e),
                format!(
                    "only a human may approve a proposal; {} is {kind} actor (mandatory human approval)",
                    actor.name
                )
            );
        }
        store
            .transition_proposal(
                &id,
                ProposalStatus::Pending,
                ProposalStatus::Approved,
                &ana,
                Some("cheaper and good enough"),
                None,
                t(5000),
            )
            .unwrap();
        // Approving again: the caller saw a stale status.
        let e = store
            .transition_proposal(
                &id,
                ProposalStatus::Pending,
                ProposalStatus::Approved,
                &ana,
                None,
                None,
                t(5001),
            )
            .unwrap_err();
        assert_eq!(
            message(e),
            format!(
                "proposal {id} is approved, not pending: it changed meanwhile; look at it again (`kaizen proposals show {id}`)"
            )
        );
        // Rejecting needs a human and a reason.
        let e = store
            .transition_proposal(
                &id,
                ProposalStatus::Approved,
                ProposalStatus::Rejected,
                &Actor::agent("bot-7"),
                Some("no"),
                None,
                t(5002),
            )
            .unwrap_err();
        assert_eq!(
            message(e),
            "only a human may reject a proposal; bot-7 is an agent actor (mandatory human approval)"
        );
        for reason in [None, Some("  ")] {
            let e = store
                .transition_proposal(
                    &id,
                    ProposalStatus::Approved,
                    ProposalStatus::Rejected,
                    &ana,
                    reason,
                    None,
                    t(5002),
                )
                .unwrap_err();
            assert_eq!(
                message(e),
                format!(
                    "a reason is required to mark proposal {id} rejected; give one (--reason TEXT)"
                )
            );
        }
        // Illegal transitions.
        let e = store
            .transition_proposal(
                &id,
                ProposalStatus::Approved,
                ProposalStatus::RolledBack,
                &ana,
                Some("x"),
                None,
                t(5003),
            )
            .unwrap_err();
        assert_eq!(
            message(e),
            format!(
                "proposal {id} cannot go from approved to rolled_back: from approved it can only go to rolling_out, rejected"
            )
        );
        let e = store
            .transition_proposal(
                &id,
                ProposalStatus::Approved,
                ProposalStatus::Pending,
                &ana,
                None,
                None,
                t(5003),
            )
            .unwrap_err();
        assert!(matches!(
            e,
            ProposalError::IllegalTransition {
                from: ProposalStatus::Approved,
                to: ProposalStatus::Pending,
                ..
            }
        ));
        // Unknown id.
        let e = store
            .transition_proposal(
                "nope",
                ProposalStatus::Pending,
                ProposalStatus::Approved,
                &ana,
                None,
                None,
                t(5003),
            )
            .unwrap_err();
        assert_eq!(
            message(e),
            "no proposal with id nope; `kaizen proposals list` shows the queue"
        );
        // The rollout starts (the engine, a system actor).
        store
            .transition_proposal(
                &id,
                ProposalStatus::Approved,
                ProposalStatus::RollingOut,
                &Actor::system("rollout"),
                Some("before_after rollout started"),
                None,
                t(5500),
            )
            .unwrap();
        // Applying records the org version it created, and needs it.
        let e = store
            .transition_proposal(
                &id,
                ProposalStatus::RollingOut,
                ProposalStatus::Applied,
                &ana,
                None,
                None,
                t(6000),
            )
            .unwrap_err();
        assert_eq!(
            message(e),
            format!("marking proposal {id} applied needs the org version the application created")
        );
        store
            .transition_proposal(
                &id,
                ProposalStatus::RollingOut,
                ProposalStatus::Applied,
                &ana,
                None,
                Some(2),
                t(6000),
            )
            .unwrap();
    }
    // Re-open: the queue and its history survived.
    let mut store = Store::open(&path).unwrap();
    let stored = store.proposal(&id).unwrap().unwrap();
    assert_eq!(stored.status, ProposalStatus::Applied);
    assert_eq!(stored.applied_version, Some(2));
    assert_eq!(stored.occurrences, 2);
    assert_eq!(stored.updated_at, t(6000));
    let e = store
        .transition_proposal(
            &id,
            ProposalStatus::Applied,
            ProposalStatus::RolledBack,
            &Actor::system("rollout"),
            None,
            None,
            t(7000),
        )
        .unwrap_err();
    assert!(matches!(e, ProposalError::ReasonRequired { .. }));
    // A rollback may come from the system (regression detection), with a reason.
    store
        .transition_proposal(
            &id,
            ProposalStatus::Applied,
            ProposalStatus::RolledBack,
            &Actor::system("rollout"),
            Some("quality regressed 12 %"),
            None,
            t(7000),
        )
        .unwrap();
    let e = store
        .transition_proposal(
            &id,
            ProposalStatus::RolledBack,
            ProposalStatus::Pending,
            &ana,
            None,
            None,
            t(7001),
        )
        .unwrap_err();
    assert_eq!(
        message(e),
        format!("proposal {id} cannot go from rolled_back to pending: rolled_back is final")
    );
    let stored = store.proposal(&id).unwrap().unwrap();
    assert_eq!(stored.status, ProposalStatus::RolledBack);
    assert_eq!(stored.applied_version, Some(2));
    let history: Vec<_> = stored
        .transitions
        .iter()
        .map(|t| {
            (
                t.from_status,
                t.to_status,
                t.actor.as_str(),
                t.actor_kind,
                t.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (
                None,
                ProposalStatus::Pending,
                "meta-loop",
                ActorKind::System,
                Some("queued by cycle c1")
            ),
            (
                Some(ProposalStatus::Pending),
                ProposalStatus::Approved,
                "ana",
                ActorKind::Human,
                Some("cheaper and good enough")
            ),
            (
                Some(ProposalStatus::Approved),
                ProposalStatus::RollingOut,
                "rollout",
                ActorKind::System,
                Some("before_after rollout started")
            ),
            (
                Some(ProposalStatus::RollingOut),
                ProposalStatus::Applied,
                "ana",
                ActorKind::Human,
                None
            ),
            (
                Some(ProposalStatus::Applied),
                ProposalStatus::RolledBack,
                "rollout",
                ActorKind::System,
                Some("quality regressed 12 %")
            ),
        ]
    );
    let at: Vec<_> = stored.transitions.iter().map(|t| t.at).collect();
    assert_eq!(at, [t(0), t(5000), t(5500), t(6000), t(7000)]);

    // The proposal is closed: the same proposal again is queued anew, under a fresh row id.
    assert_eq!(
        store
            .open_proposal_with_fingerprint(&stored.fingerprint)
            .unwrap(),
        None
    );
    assert!(matches!(
        queue(&mut store, &p, t(8000)),
        QueueOutcome::Queued { .. }
    ));
    let second = store.proposal(&format!("{id}-2")).unwrap().unwrap();
    assert_eq!(second.proposal.id, format!("{id}-2"));
    assert_eq!(second.status, ProposalStatus::Pending);
    assert_eq!(store.proposals(None, 10, 0).unwrap().1, 2);
}

#[test]
fn pending_can_be_rejected_or_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let a = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let b = proposal(
        "budget_overrun",
        vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 1.6.into())],
        "c1",
    );
    queue(&mut store, &a, t(0));
    queue(&mut store, &b, t(0));
    store
        .transition_proposal(
            &a.id,
            ProposalStatus::Pending,
            ProposalStatus::Rejected,
            &Actor::human("ana"),
            Some("  tier too small for our tasks "),
            None,
            t(10),
        )
        .unwrap();
    let stored = store.proposal(&a.id).unwrap().unwrap();
    assert_eq!(stored.status, ProposalStatus::Rejected);
    assert_eq!(
        stored.transitions[1].reason.as_deref(),
        Some("tier too small for our tasks")
    );
    // Superseding is kaizen's own bookkeeping: no human needed.
    store
        .transition_proposal(
            &b.id,
            ProposalStatus::Pending,
            ProposalStatus::Superseded,
            &Actor::system("meta-loop"),
            Some("replaced by a newer proposal"),
            None,
            t(20),
        )
        .unwrap();
    // A rejected (closed) proposal does not absorb duplicates.
    assert!(matches!(
        queue(&mut store, &a, t(30)),
        QueueOutcome::Queued { .. }
    ));
    // Bad input.
    let e = store
        .transition_proposal(
            &b.id,
            ProposalStatus::Superseded,
            ProposalStatus::Approved,
            &Actor::human(" "),
            None,
            None,
            t(40),
        )
        .unwrap_err();
    assert_eq!(message(e), "the actor name must not be blank");
    let e = store
        .transition_proposal(
            &format!("{}-2", a.id),
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            &Actor::human("ana"),
            None,
            Some(3),
            t(40),
        )
        .unwrap_err();
    assert_eq!(
        message(e),
        "an applied version (org version 3) is only recorded when a proposal is applied, not when it becomes approved"
    );
}

#[test]
fn guard_rejected_and_blank_input_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let verdicts = vec![
        GuardResult::pass("scope_check", "ok"),
        GuardResult::reject("rate_limit", "too many"),
    ];
    let e = store
        .queue_proposal(&p, &verdicts, &proposal_fingerprint(&p), t(0))
        .unwrap_err();
    assert_eq!(
        message(e),
        format!(
            "proposal {} was rejected by guard rate_limit (too many); only proposals that pass every guard are queued",
            p.id
        )
    );
    let e = store.queue_proposal(&p, &[], " ", t(0)).unwrap_err();
    assert_eq!(message(e), "the fingerprint must not be blank");
    assert_eq!(store.proposals(None, 10, 0).unwrap(), (vec![], 0));
    assert_eq!(store.proposal(&p.id).unwrap(), None);
}

#[test]
fn listing_is_newest_first_filtered_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let ps = [
        proposal("budget_overrun", vec![tier("large", "medium")], "c1"),
        proposal(
            "budget_overrun",
            vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 1.6.into())],
            "c1",
        ),
        proposal("error_spike", vec![tier("large", "small")], "c2"),
    ];
    for (i, p) in ps.iter().enumerate() {
        assert!(matches!(
            queue(&mut store, p, t(i as i64 * 60)),
            QueueOutcome::Queued { .. }
        ));
    }
    store
        .transition_proposal(
            &ps[1].id,
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            &Actor::human("ana"),
            None,
            None,
            t(500),
        )
        .unwrap();
    let (all, total) = store.proposals(None, 10, 0).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [&ps[2].id, &ps[1].id, &ps[0].id]);
    let top = &all[0];
    assert_eq!(top.title, ps[2].title);
    assert_eq!(top.altitude, Altitude::ConfigTuning);
    assert_eq!(top.rule_name, "error_spike");
    assert_eq!(top.risk, Risk::Low);
    assert_eq!(top.confidence, 0.75);
    assert_eq!(top.cycle_id.as_deref(), Some("c2"));
    assert_eq!(top.status, ProposalStatus::Pending);
    assert_eq!((top.created_at, top.occurrences), (t(120), 1));

    let (page, total) = store.proposals(None, 1, 1).unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ps[1].id);

    let (pending, total) = store
        .proposals(Some(ProposalStatus::Pending), 10, 0)
        .unwrap();
    assert_eq!(total, 2);
    assert!(pending.iter().all(|s| s.status == ProposalStatus::Pending));
    let (approved, total) = store
        .proposals(Some(ProposalStatus::Approved), 10, 0)
        .unwrap();
    assert_eq!((approved.len(), total), (1, 1));
    assert_eq!(approved[0].updated_at, t(500));
    assert_eq!(
        store
            .proposals(Some(ProposalStatus::Applied), 10, 0)
            .unwrap(),
        (vec![], 0)
    );
}

#[test]
fn rate_limit_count_is_persisted_and_uses_the_callers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let base = t(0);
    let ps = [
        proposal("budget_overrun", vec![tier("large", "medium")], "c1"),
        proposal(
            "budget_overrun",
            vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 1.6.into())],
            "c2",
        ),
        proposal("error_spike", vec![tier("large", "small")], "c3"),
    ];
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.proposals_submitted_since(base).unwrap(), 0);
        for (p, h) in ps.iter().zip([0, 2, 5]) {
            queue(&mut store, p, base + Duration::hours(h));
        }
        // A duplicate does not consume a slot.
        let dup = proposal("budget_overrun", vec![tier("small", "medium")], "c4");
        assert!(matches!(
            store
                .queue_proposal(
                    &dup,
                    &[],
                    &proposal_fingerprint(&dup),
                    base + Duration::hours(6)
                )
                .unwrap(),
            QueueOutcome::Duplicate { .. }
        ));
    }
    let store = Store::open(&path).unwrap();
    let since = |h: i64| {
        store
            .proposals_submitted_since(base + Duration::hours(h))
            .unwrap()
    };
    assert_eq!(since(-24), 3);
    assert_eq!(since(0), 3);
    assert_eq!(since(1), 2);
    assert_eq!(since(2), 2);
    assert_eq!(since(3), 1);
    assert_eq!(since(6), 0);
}

#[test]
fn cycles_and_meta_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let cycle = |id: &str, start: i64, dry: bool| CycleRecord {
        summary: CycleSummary {
            id: id.into(),
            started_at: t(start),
            completed_at: t(start + 2),
            trigger: "manual".into(),
            dry_run: dry,
            window_since: t(start - 7 * 86_400),
            window_until: t(start),
        },
        report: format!(r#"{{"id":"{id}","proposals":[]}}"#),
    };
    {
        let mut store = Store::open(&path).unwrap();
        assert!(store.cycles(10).unwrap().is_empty());
        store.record_cycle(&cycle("c1", 0, false)).unwrap();
        store.record_cycle(&cycle("c2", 100, true)).unwrap();
        let e = store.record_cycle(&cycle("c1", 200, false)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cycle c1 is already recorded; cycle ids must be unique"
        );
        assert_eq!(store.meta_get("last_cycle_at").unwrap(), None);
        store.meta_set("last_cycle_at", "a").unwrap();
        store
            .meta_set("last_cycle_at", "2026-05-28T00:00:00+00:00")
            .unwrap();
        let e = store.meta_set("pruned_before", "0").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"meta key "pruned_before" belongs to the store; choose another key"#
        );
    }
    let store = Store::open(&path).unwrap();
    let list = store.cycles(10).unwrap();
    let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c2", "c1"]);
    assert!(list[0].dry_run);
    assert_eq!(list[1].completed_at, t(2));
    assert_eq!(list[1].window_since, t(-7 * 86_400));
    assert_eq!(store.cycles(1).unwrap().len(), 1);
    assert_eq!(store.cycle("c1").unwrap(), Some(cycle("c1", 0, false)));
    assert_eq!(store.cycle("c9").unwrap(), None);
    assert_eq!(
        store.meta_get("last_cycle_at").unwrap().as_deref(),
        Some("2026-05-28T00:00:00+00:00")
    );
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn history_is_append_only_and_proposals_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    {
        let mut store = Store::open(&path).unwrap();
        queue(&mut store, &p, t(0));
        store
            .transition_proposal(
                &p.id,
                ProposalStatus::Pending,
                ProposalStatus::Approved,
                &Actor::human("ana"),
                None,
                None,
                t(1),
            )
            .unwrap();
    }
    let conn = raw(&path);
    let refused = [
        (
            "UPDATE proposal_transitions SET actor = 'mallory'",
            "proposal transitions are append-only",
        ),
        (
            "UPDATE proposal_transitions SET actor_kind = 'human' WHERE actor_kind = 'system'",
            "proposal transitions are append-only",
        ),
        (
            "DELETE FROM proposal_transitions",
            "proposal transitions are append-only",
        ),
        (
            "UPDATE proposals SET body = '{}'",
            "a queued proposal and its guard verdicts are immutable",
        ),
        (
            "UPDATE proposals SET guards = '[]'",
            "a queued proposal and its guard verdicts are immutable",
        ),
        (
            "UPDATE proposals SET fingerprint = 'x'",
            "a queued proposal and its guard verdicts are immutable",
        ),
        (
            "DELETE FROM proposals",
            "proposals are kept for audit and cannot be deleted",
        ),
    ];
    for (sql, expected) in refused {
        let e = conn.execute(sql, []).unwrap_err();
        assert!(e.to_string().contains(expected), "{sql}: {e}");
    }
    drop(conn);
    let store = Store::open(&path).unwrap();
    let stored = store.proposal(&p.id).unwrap().unwrap();
    assert_eq!(stored.proposal, p);
    assert_eq!(stored.transitions.len(), 2);
    assert_eq!(stored.transitions[1].actor, "ana");
    assert_eq!(stored.guards[4].verdict, GuardVerdict::Passed);
    assert_eq!(
        stored.guards[4].reason,
        "queued for human approval (risk low)"
    );
}

/// What a unit of work left: the status, the approvers and the number of transitions.
fn state_of(store: &Store, id: &str) -> (ProposalStatus, Vec<String>, usize) {
    let p = store.proposal(id).unwrap().unwrap();
    (
        p.status,
        p.approvals.into_iter().map(|a| a.actor).collect(),
        p.transitions.len(),
    )
}

#[test]
fn a_unit_of_work_commits_everything_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let mut store = Store::open(&path).unwrap();
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let id = p.id.clone();
    queue(&mut store, &p, t(0));
    let ana = Actor::human("ana");
    let approve = |store: &mut Store| -> Result<(), ProposalError> {
        store.record_approval(&id, &ana, Some("ok"), t(10))?;
        store.transition_proposal(
            &id,
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            &ana,
            None,
            None,
            t(10),
        )
    };

    // Both writes, then a failure: neither is kept.
    let e = store
        .in_tx(|s| {
            approve(s)?;
            Err::<(), _>(ProposalError::BadInput("a later step failed".into()))
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "a later step failed");
    assert_eq!(state_of(&store, &id), (ProposalStatus::Pending, vec![], 1));

    // A refused operation inside the unit undoes only itself; the unit goes on and commits.
    store
        .in_tx(|s| {
            approve(s)?;
            let refused = s.record_approval(&id, &Actor::human("bo"), None, t(11));
            assert!(
                matches!(refused, Err(ProposalError::NotPending { .. })),
                "{refused:?}"
            );
            Ok::<(), ProposalError>(())
        })
        .unwrap();
    assert_eq!(
        state_of(&store, &id),
        (ProposalStatus::Approved, vec!["ana".to_owned()], 2)
    );

    // Committed for good: another connection sees it after re-opening.
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        state_of(&store, &id),
        (ProposalStatus::Approved, vec!["ana".to_owned()], 2)
    );
}

#[test]
fn a_nested_unit_is_a_savepoint_and_a_panic_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let id = p.id.clone();
    queue(&mut store, &p, t(0));
    let ana = Actor::human("ana");

    // The inner unit fails and is undone; the outer one keeps its own write.
    store
        .in_tx(|s| {
            s.record_approval(&id, &ana, None, t(10))?;
            let inner = s.in_tx(|s| {
                s.transition_proposal(
                    &id,
                    ProposalStatus::Pending,
                    ProposalStatus::Approved,
                    &ana,
                    None,
                    None,
                    t(10),
                )?;
                Err::<(), _>(ProposalError::BadInput("inner".into()))
            });
            assert!(inner.is_err());
            assert_eq!(s.proposal_status(&id)?, Some(ProposalStatus::Pending));
            Ok::<(), ProposalError>(())
        })
        .unwrap();
    assert_eq!(
        state_of(&store, &id),
        (ProposalStatus::Pending, vec!["ana".to_owned()], 1)
    );

    // A panic inside a unit rolls it back, and the store stays usable.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.in_tx(|s| {
            s.record_approval(&id, &Actor::human("bo"), None, t(11))?;
            if s.proposal_status(&id)?.is_some() {
                panic!("a bug");
            }
            Ok::<(), ProposalError>(())
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(
        state_of(&store, &id),
        (ProposalStatus::Pending, vec!["ana".to_owned()], 1)
    );
    store
        .record_approval(&id, &Actor::human("cy"), None, t(12))
        .unwrap();
    assert_eq!(state_of(&store, &id).1, ["ana", "cy"]);
}

#[test]
fn state_conflicts_are_told_apart_from_invalid_input() {
    use kaizen_core::error::ErrorKind;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let p = proposal("budget_overrun", vec![tier("large", "medium")], "c1");
    let id = p.id.clone();
    queue(&mut store, &p, t(0));
    let ana = Actor::human("ana");
    store.record_approval(&id, &ana, None, t(1)).unwrap();
    let twice = store.record_approval(&id, &ana, None, t(2)).unwrap_err();
    assert!(
        matches!(twice, ProposalError::AlreadyApproved { .. }),
        "{twice}"
    );
    assert_eq!(twice.kind(), ErrorKind::Conflict);
    assert_eq!(
        twice.to_string(),
        format!("ana has already approved proposal {id}; another person must approve it")
    );
    let agent = store
        .record_approval(&id, &Actor::agent("bot-7"), None, t(2))
        .unwrap_err();
    assert_eq!(agent.kind(), ErrorKind::Forbidden);
    store
        .transition_proposal(
            &id,
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            &ana,
            None,
            None,
            t(3),
        )
        .unwrap();
    let late = store
        .record_approval(&id, &Actor::human("bo"), None, t(4))
        .unwrap_err();
    assert!(matches!(late, ProposalError::NotPending { .. }), "{late}");
    assert_eq!(late.kind(), ErrorKind::Conflict);
    let stale = store
        .transition_proposal(
            &id,
            ProposalStatus::Pending,
            ProposalStatus::Rejected,
            &ana,
            Some("no"),
            None,
            t(5),
        )
        .unwrap_err();
    assert!(
        matches!(stale, ProposalError::StaleStatus { .. }),
        "{stale}"
    );
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    let blank = store
        .transition_proposal(
            &id,
            ProposalStatus::Approved,
            ProposalStatus::Rejected,
            &Actor::human(" "),
            Some("no"),
            None,
            t(5),
        )
        .unwrap_err();
    assert_eq!(blank.kind(), ErrorKind::Invalid);
    // The org's optimistic concurrency is a conflict too.
    store
        .org_import(OrgDocument::standard(), "test", t(6))
        .unwrap();
    let stale_org = store
        .org_commit(Some(0), &[tier("large", "medium")], "ana", None, None, t(7))
        .unwrap_err();
    assert!(
        matches!(
            stale_org,
            kaizen_store::org::OrgStoreError::StaleParent { .. }
        ),
        "{stale_org}"
    );
    assert_eq!(stale_org.kind(), ErrorKind::Conflict);
}
