//! Rollout persistence on real SQLite files: starting moves the proposal in the same
//! transaction, checks are recorded once and in order, the check log is append-only, applying
//! commits the org version with the proposal's transition, alerts, and the config generation
//! that effective-config caches compare.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::{RolloutStrategyKind, SelfImprovementConfig};
use kaizen_core::error::ErrorKind;
use kaizen_core::improve::guards::{GuardChain, GuardContext, proposal_fingerprint};
use kaizen_core::improve::{ImprovementProposal, Rationale, Risk, RollbackPlan};
use kaizen_core::org::standard::DEFAULT_TIER;
use kaizen_core::org::{OrgChange, OrgDocument};
use kaizen_core::rollout::assign::Assignment;
use kaizen_core::rollout::check::{CheckDecision, CheckOutcome, DetectorState};
use kaizen_core::rules::RuleSeverity;
use kaizen_store::Store;
use kaizen_store::proposals::{Actor, ProposalStatus};
use kaizen_store::rollouts::{
    NewRollout, RolloutError, RolloutMove, RolloutState, RolloutVerdict, StoredCheck,
};

fn t(h: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + h * 3600, 0).unwrap()
}

fn approved(store: &mut Store) -> (ImprovementProposal, OrgDocument) {
    let org = OrgDocument::standard();
    store.org_import(org.clone(), "ana", t(0)).unwrap();
    let changes = vec![OrgChange::SetSetting {
        path: DEFAULT_TIER.into(),
        from: Some("large".into()),
        to: Some("medium".into()),
    }];
    let mut p = ImprovementProposal {
        id: String::new(),
        altitude: Altitude::ConfigTuning,
        title: "cheaper tier".into(),
        description: "lower the cost per task".into(),
        rationale: Rationale {
            rule_name: "budget_overrun".into(),
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
        observation_window_hours: 8,
        source_cycle: None,
        created_at: t(0),
    };
    p.refresh_derived();
    let config = SelfImprovementConfig {
        enabled: true,
        ..SelfImprovementConfig::default()
    };
    let outcome = GuardChain::standard().evaluate(
        &p,
        &GuardContext {
            config: &config,
            org: &org,
            submissions_in_window: 0,
            memory: None,
        },
    );
    store
        .queue_proposal(&p, &outcome.results, &proposal_fingerprint(&p), t(0))
        .unwrap();
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
    (p, org)
}

fn check(seq: u32, at: DateTime<Utc>) -> StoredCheck {
    StoredCheck {
        seq,
        at,
        ran_at: at,
        elapsed_hours: seq * 4,
        outcome: CheckOutcome {
            metrics: vec![],
            sample_ratio: None,
            decision: CheckDecision::Continue,
        },
    }
}

#[test]
fn a_rollout_is_durable_recorded_once_and_applied_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let engine = Actor::system("rollout-engine");
    let (p, org) = {
        let mut store = Store::open(&path).unwrap();
        approved(&mut store)
    };
    let id = p.id.clone();
    let rollback = RollbackPlan::for_changes(&p.changes).operations;
    let assignment = Assignment::everyone(&org.agents);
    {
        let mut store = Store::open(&path).unwrap();
        let g0 = store.config_generation().unwrap();
        let new = NewRollout {
            proposal_id: &id,
            strategy: RolloutStrategyKind::BeforeAfter,
            base_version: 1,
            changes: &p.changes,
            rollback: &rollback,
            assignment: &assignment,
            window_hours: 8,
            interval_hours: 4,
            detector: &Default::default(),
        };
        let r = store.rollout_start(&new, &engine, t(2)).unwrap();
        assert_eq!(r.state, RolloutState::Observing);
        assert_eq!(r.total_checks(), 2);
        assert_eq!(r.next_check_at(), Some(t(6)));
        assert_eq!(r.live_overlay(), p.changes);
        assert!(
            store.config_generation().unwrap() > g0,
            "a new overlay invalidates caches"
        );
        assert_eq!(
            store.proposal(&id).unwrap().unwrap().status,
            ProposalStatus::RollingOut
        );
        // A second start is refused and changes nothing.
        assert!(matches!(
            store.rollout_start(&new, &engine, t(2)),
            Err(e @ RolloutError::Conflict(_)) if e.kind() == ErrorKind::Conflict
        ));
        store
            .rollout_record_check(&id, &check(1, t(6)), &DetectorState::default())
            .unwrap();
        // The same check again, or out of order, is refused.
        for seq in [1, 3] {
            let e = store
                .rollout_record_check(&id, &check(seq, t(6)), &DetectorState::default())
                .unwrap_err();
            assert!(e.to_string().contains("cannot be recorded next"), "{e}");
        }
    }
    // Re-open: the schedule continues at check 2.
    let mut store = Store::open(&path).unwrap();
    let r = store.rollout(&id).unwrap().unwrap();
    assert_eq!((r.checks_done, r.next_check_at()), (1, Some(t(10))));
    assert_eq!(store.rollout_checks(&id).unwrap().len(), 1);
    // The check log is append-only.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let e = conn.execute("DELETE FROM rollout_checks", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    drop(conn);

    let verdict = RolloutVerdict {
        outcome: "applied".into(),
        reason: "no regression".into(),
        decided_by: "rollout-engine".into(),
        at: t(10),
        elapsed_hours: 8,
        check_seq: Some(2),
    };
    // Against a stale parent nothing is written.
    assert!(
        store
            .rollout_apply(&id, 7, &engine, &verdict, t(10))
            .is_err()
    );
    assert_eq!(
        store.rollout(&id).unwrap().unwrap().state,
        RolloutState::Observing
    );
    let g1 = store.config_generation().unwrap();
    let v = store
        .rollout_apply(&id, 1, &engine, &verdict, t(10))
        .unwrap();
    assert_eq!(v.id, 2);
    assert!(store.config_generation().unwrap() > g1);
    let r = store.rollout(&id).unwrap().unwrap();
    assert_eq!(r.state, RolloutState::Applied);
    assert_eq!(r.applied_version, Some(2));
    assert!(r.live_overlay().is_empty());
    assert!(store.live_rollouts().unwrap().is_empty());
    let stored = store.proposal(&id).unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.applied_version),
        (ProposalStatus::Applied, Some(2))
    );
    // Applied is final for the rollout.
    let e = store
        .rollout_move(
            &id,
            &RolloutMove {
                from: RolloutState::Observing,
                to: RolloutState::RollingBack,
                proposal: None,
                actor: &engine,
                reason: None,
                verdict: None,
                extend_hours: 0,
            },
            t(11),
        )
        .unwrap_err();
    assert!(matches!(e, RolloutError::StaleState { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // A move the lifecycle does not allow is refused before anything is read or written.
    let e = store
        .rollout_move(
            &id,
            &RolloutMove {
                from: RolloutState::Applied,
                to: RolloutState::RollingBack,
                proposal: None,
                actor: &engine,
                reason: None,
                verdict: None,
                extend_hours: 0,
            },
            t(11),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            RolloutError::IllegalMove {
                from: RolloutState::Applied,
                to: RolloutState::RollingBack,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("rollout {id} cannot go from applied to rolling_back: applied is final")
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        store.rollout(&id).unwrap().unwrap().state,
        RolloutState::Applied
    );
}

#[test]
fn alerts_are_raised_listed_and_acknowledged_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    assert!(store.alerts(true).unwrap().is_empty());
    let draft = kaizen_store::alerts::AlertDraft {
        kind: kaizen_core::config::AlertKind::RollbackFailed,
        severity: kaizen_core::config::AlertSeverity::Critical,
        proposal_id: Some("p1".to_owned()),
        dedup_key: None,
        message: "it broke".to_owned(),
    };
    let id = store.alert_raise(&draft, &[], t(0)).unwrap().id;
    let open = store.alerts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].message, "it broke");
    assert!(store.alert_acknowledge(id, " ", t(1)).is_err());
    store.alert_acknowledge(id, "ana", t(1)).unwrap();
    assert!(store.alert_acknowledge(id, "ana", t(2)).is_err());
    assert!(store.alerts(false).unwrap().is_empty());
    assert_eq!(
        store.alerts(true).unwrap()[0].acknowledged_by.as_deref(),
        Some("ana")
    );
}

#[test]
fn alerts_of_an_older_store_are_migrated_with_their_dedup_key_count_and_last_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kaizen.db");
    let migrations = kaizen_store::schema::MIGRATIONS;
    let before = migrations
        .iter()
        .position(|m| m.contains("CREATE TABLE alert_outbox"))
        .unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for m in &migrations[..before] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        conn.execute(
            "INSERT INTO alerts (at, severity, kind, proposal_id, message)
             VALUES (?1, 'warning', 'apply_conflict', 'p7', 'old')",
            [t(5).timestamp_micros()],
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let old = &store.alerts(false).unwrap()[0];
    assert_eq!(
        (old.dedup_key.as_str(), old.count, old.last_at),
        ("p7", 1, t(5))
    );
    // The migrated alert de-duplicates like a new one.
    let again = kaizen_store::alerts::AlertDraft {
        kind: kaizen_core::config::AlertKind::ApplyConflict,
        severity: kaizen_core::config::AlertSeverity::Warning,
        proposal_id: Some("p7".to_owned()),
        dedup_key: None,
        message: "again".to_owned(),
    };
    let raised = store.alert_raise(&again, &["hook"], t(9)).unwrap();
    assert_eq!((raised.id, raised.new, raised.count), (old.id, false, 2));
}
