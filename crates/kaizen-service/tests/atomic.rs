//! Approve and rollback are each one transaction, on a real SQLite file: a failure injected
//! between their steps (an SQLite trigger that aborts one of the writes, created on the store's
//! file by a second connection, as an outside fault would strike) leaves nothing half done, and
//! the same human's retry succeeds once the failure is gone. A *policy* refusal of the rollout
//! start still leaves the approval standing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use common::{agents, at, enabled, org_with, proposal, queue, set};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::{KaizenConfig, RolloutStrategyKind};
use kaizen_core::org::standard::{DEFAULT_TIER, PER_TASK_LIMIT_USD};
use kaizen_core::org::{OrgChange, SettingValue};
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{ErrorKind, Service};
use kaizen_store::Store;
use kaizen_store::proposals::{Actor, ProposalStatus, StoredProposal};
use kaizen_store::rollouts::{RolloutState, RolloutVerdict};

fn t0() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

fn ana() -> Actor {
    Actor::human("ana")
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Store,
    config: KaizenConfig,
    clock: ManualClock,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("k.db");
        let mut store = Store::open(&path).expect("open");
        store
            .org_import(
                org_with(&agents(20)),
                "test",
                t0() - chrono::Duration::hours(100),
            )
            .expect("import org");
        Fixture {
            _dir: dir,
            path,
            store,
            config: enabled(),
            clock: ManualClock::new(t0()),
        }
    }

    fn service(&mut self) -> Service<'_> {
        Service {
            store: &mut self.store,
            config: &self.config,
            clock: &self.clock,
        }
    }

    fn queue(&mut self, changes: Vec<OrgChange>) -> String {
        let p = proposal(
            "test_rule",
            changes,
            RolloutStrategyKind::BeforeAfter,
            self.clock.now(),
        );
        queue(&mut self.store, &self.config, &p)
    }

    fn proposal(&self, id: &str) -> StoredProposal {
        self.store.proposal(id).expect("read").expect("exists")
    }

    fn tier(&mut self) -> Option<SettingValue> {
        self.store
            .org_current()
            .expect("read org")
            .expect("an org")
            .document
            .settings
            .get(DEFAULT_TIER)
            .cloned()
    }
}

/// A trigger on the store's file that aborts `event` (e.g. `BEFORE INSERT ON rollouts`)
/// with the message `injected`; dropped by [`heal`].
fn inject(path: &Path, event: &str) {
    let conn = rusqlite::Connection::open(path).expect("second connection");
    conn.execute_batch(&format!(
        "CREATE TRIGGER injected_failure {event} BEGIN SELECT RAISE(ABORT, 'injected'); END;"
    ))
    .expect("create the failing trigger");
}

fn heal(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("second connection");
    conn.execute_batch("DROP TRIGGER injected_failure;")
        .expect("drop the failing trigger");
}

#[test]
fn a_failed_rollout_start_undoes_the_approval_and_the_same_human_can_retry() {
    let mut f = Fixture::new();
    let id = f.queue(vec![set(DEFAULT_TIER, "large", "medium")]);
    let generation = f.store.config_generation().expect("generation");

    // The rollout row cannot be written: the last step of the approval fails on storage.
    inject(&f.path, "BEFORE INSERT ON rollouts");
    let err = f
        .service()
        .approve(&id, &ana(), Some("try it"), &RollbackExecutor::default())
        .expect_err("the rollout cannot be stored");
    assert!(
        err.kind() == ErrorKind::Internal && err.to_string().contains("injected"),
        "{err:?}"
    );
    assert!(!err.is_user_error());

    // Nothing of it is left: no approval, still pending, no transition, no rollout.
    let p = f.proposal(&id);
    assert_eq!(p.status, ProposalStatus::Pending);
    assert!(p.approvals.is_empty(), "{:?}", p.approvals);
    assert_eq!(
        p.transitions.len(),
        1,
        "only the queueing: {:?}",
        p.transitions
    );
    assert_eq!(f.store.rollout(&id).expect("read"), None);
    assert_eq!(f.store.config_generation().expect("generation"), generation);

    // The same human retries once the fault is gone, and it all happens.
    heal(&f.path);
    let approved = f
        .service()
        .approve(&id, &ana(), Some("try it"), &RollbackExecutor::default())
        .expect("the retry succeeds");
    assert!(approved.approved, "{approved:?}");
    assert_eq!((approved.approvals, approved.required), (1, 1));
    assert!(approved.rollout.is_some(), "{approved:?}");
    assert_eq!(approved.rollout_error, None);
    let p = f.proposal(&id);
    assert_eq!(p.status, ProposalStatus::RollingOut);
    assert_eq!(
        p.approvals
            .iter()
            .map(|a| a.actor.as_str())
            .collect::<Vec<_>>(),
        ["ana"]
    );
    let statuses: Vec<ProposalStatus> = p.transitions.iter().map(|t| t.to_status).collect();
    assert_eq!(
        statuses,
        [
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            ProposalStatus::RollingOut
        ]
    );
    let r = f.store.rollout(&id).expect("read").expect("a rollout");
    assert_eq!(r.state, RolloutState::Observing);
}

#[test]
fn a_failed_transition_to_approved_undoes_the_recorded_approval() {
    let mut f = Fixture::new();
    let id = f.queue(vec![set(DEFAULT_TIER, "large", "medium")]);
    inject(
        &f.path,
        "BEFORE INSERT ON proposal_transitions WHEN NEW.to_status = 'approved'",
    );
    let err = f
        .service()
        .approve(&id, &ana(), None, &RollbackExecutor::default())
        .expect_err("the transition cannot be stored");
    assert_eq!(err.kind(), ErrorKind::Internal, "{err:?}");
    let p = f.proposal(&id);
    assert_eq!(p.status, ProposalStatus::Pending);
    assert!(p.approvals.is_empty(), "{:?}", p.approvals);

    heal(&f.path);
    let approved = f
        .service()
        .approve(&id, &ana(), None, &RollbackExecutor::default())
        .expect("the retry succeeds");
    assert!(
        approved.approved && approved.rollout.is_some(),
        "{approved:?}"
    );
    assert_eq!(f.proposal(&id).status, ProposalStatus::RollingOut);
}

#[test]
fn a_policy_refusal_of_the_rollout_keeps_the_approval() {
    let mut f = Fixture::new();
    let first = f.queue(vec![set(DEFAULT_TIER, "large", "medium")]);
    f.service()
        .approve(&first, &ana(), None, &RollbackExecutor::default())
        .expect("approve the first");
    // A before/after rollout is live, so the second cannot start: a refusal, not a failure.
    let second = f.queue(vec![set(PER_TASK_LIMIT_USD, 2.0, 1.5)]);
    let approved = f
        .service()
        .approve(&second, &ana(), Some("also"), &RollbackExecutor::default())
        .expect("the approval itself succeeds");
    assert!(approved.approved, "{approved:?}");
    assert_eq!(approved.rollout, None);
    let why = approved.rollout_error.expect("the refusal is reported");
    assert!(why.contains(&first), "{why}");
    let p = f.proposal(&second);
    assert_eq!(p.status, ProposalStatus::Approved);
    assert_eq!(p.approvals.len(), 1);
    assert_eq!(f.store.rollout(&second).expect("read"), None);
}

/// Approves `id` and applies its rollout as the engine would at a verdict; returns the org
/// version the application made.
fn applied(f: &mut Fixture, id: &str) -> i64 {
    f.service()
        .approve(id, &ana(), None, &RollbackExecutor::default())
        .expect("approve");
    let current = f.store.org_current().expect("org").expect("an org").id;
    let verdict = RolloutVerdict {
        outcome: "applied".into(),
        reason: "no regression".into(),
        decided_by: "rollout-engine".into(),
        at: f.clock.now(),
        elapsed_hours: 48,
        check_seq: None,
    };
    let v = f
        .store
        .rollout_apply(
            id,
            current,
            &Actor::system("rollout-engine"),
            &verdict,
            f.clock.now(),
        )
        .expect("apply");
    assert_eq!(f.proposal(id).status, ProposalStatus::Applied);
    v.id
}

#[test]
fn a_failed_transition_undoes_the_rollback_commit_and_the_retry_succeeds() {
    let mut f = Fixture::new();
    let id = f.queue(vec![set(DEFAULT_TIER, "large", "medium")]);
    let version = applied(&mut f, &id);
    assert_eq!(f.tier(), Some("medium".into()));

    // The org version of the inverse is written first; the transition after it fails.
    inject(
        &f.path,
        "BEFORE INSERT ON proposal_transitions WHEN NEW.to_status = 'rolled_back'",
    );
    let err = f
        .service()
        .rollback(&id, &ana(), "undo it", &[])
        .expect_err("the transition cannot be stored");
    assert!(
        err.kind() == ErrorKind::Internal && err.to_string().contains("injected"),
        "{err:?}"
    );
    // The org did not move: no new version, the setting as applied, the proposal applied.
    let current = f.store.org_current().expect("org").expect("an org");
    assert_eq!(current.id, version);
    assert_eq!(f.tier(), Some("medium".into()));
    assert_eq!(f.proposal(&id).status, ProposalStatus::Applied);

    heal(&f.path);
    let report = f
        .service()
        .rollback(&id, &ana(), "undo it", &[])
        .expect("the retry succeeds");
    assert_eq!(report.new_version, version + 1);
    assert_eq!(f.tier(), Some("large".into()));
    let p = f.proposal(&id);
    assert_eq!(p.status, ProposalStatus::RolledBack);
    assert_eq!(
        p.transitions.last().and_then(|t| t.reason.as_deref()),
        Some("undo it")
    );
}

#[test]
fn a_failed_org_commit_leaves_the_proposal_applied() {
    let mut f = Fixture::new();
    let id = f.queue(vec![set(DEFAULT_TIER, "large", "medium")]);
    let version = applied(&mut f, &id);
    inject(&f.path, "BEFORE INSERT ON org_versions");
    let err = f
        .service()
        .rollback(&id, &ana(), "undo it", &[])
        .expect_err("the org version cannot be stored");
    // A storage failure, not a refusal of the proposal.
    assert_eq!(err.kind(), ErrorKind::Internal, "{err:?}");
    assert_eq!(f.proposal(&id).status, ProposalStatus::Applied);
    assert_eq!(
        f.store.org_current().expect("org").expect("an org").id,
        version
    );
    heal(&f.path);
    f.service()
        .rollback(&id, &ana(), "undo it", &[])
        .expect("the retry succeeds");
    assert_eq!(f.proposal(&id).status, ProposalStatus::RolledBack);
}
