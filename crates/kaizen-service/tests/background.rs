//! What runs without a caller is audited like what a caller runs: the background loop's
//! scheduled cycle (as `cycles.run` under the scheduler's name) and an org written by an admin
//! operation (its notifiers are told, set once on `Kaizen`, whoever calls). Real SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Behaviour, agents, at, enabled, ingest, ndjson, org_with};
use kaizen_core::clock::ManualClock;
use kaizen_core::org::OrgDocument;
use kaizen_service::catalog::{OrgImportOp, OrgRestoreOp};
use kaizen_service::cycle::SCHEDULER;
use kaizen_service::ops::{OrgImportInput, OrgRestoreInput};
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{Kaizen, Principal};
use kaizen_store::Store;
use kaizen_store::auth::{AuditOutcome, AuditQuery, AuditRecord};
use kaizen_store::mutators::FileMutator;
use kaizen_store::proposals::ActorKind;

fn t0() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

fn audit(kaizen: &Kaizen, operation: &str) -> Vec<AuditRecord> {
    let (entries, _) = kaizen
        .store()
        .audit(&AuditQuery {
            operation: Some(operation),
            ..AuditQuery::default()
        })
        .expect("audit");
    entries
}

#[test]
fn a_scheduled_cycle_is_audited_under_the_schedulers_name_and_only_when_it_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("k.db")).expect("open");
    let agents = agents(20);
    store
        .org_import(org_with(&agents), "test", t0() - chrono::Duration::days(8))
        .expect("org");
    let data = ndjson(
        &agents,
        t0() - chrono::Duration::days(7),
        7 * 24,
        Behaviour::NORMAL,
        3,
    );
    ingest(&mut store, &data, t0());
    let clock = Arc::new(ManualClock::new(t0()));
    let kaizen = Kaizen::new(store, enabled(), clock.clone(), RollbackExecutor::default());

    // No cycle ran yet: one is due now.
    kaizen.background_once();
    let cycles = audit(&kaizen, "cycles.run");
    assert_eq!(cycles.len(), 1, "{cycles:#?}");
    let e = &cycles[0];
    assert_eq!(e.actor, SCHEDULER);
    assert_eq!(e.actor_kind, ActorKind::System);
    assert_eq!(e.outcome, AuditOutcome::Ok);
    let detail = e.detail.as_ref().expect("a detail");
    assert_eq!(detail["trigger"], "schedule");
    assert_eq!(detail["via"], "loop");
    assert!(detail["org_version"].is_i64(), "{detail:#}");
    assert!(detail["queued"].is_u64(), "{detail:#}");

    // The next one is due a schedule interval later: until then nothing runs or is audited.
    clock.advance(chrono::Duration::hours(1));
    kaizen.background_once();
    assert_eq!(audit(&kaizen, "cycles.run").len(), 1);
    clock.advance(chrono::Duration::hours(
        i64::from(enabled().self_improvement.schedule.cycle_interval_hours) + 1,
    ));
    kaizen.background_once();
    assert_eq!(audit(&kaizen, "cycles.run").len(), 2);
}

#[test]
fn org_imports_and_restores_tell_the_notifiers_and_audit_the_versions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notified = dir.path().join("notified");
    std::fs::create_dir(&notified).expect("dir");
    let store = Store::open(dir.path().join("k.db")).expect("open");
    let mut executor = RollbackExecutor::default();
    executor.add_notifier(Box::new(FileMutator::new(notified.clone())));
    let kaizen = Kaizen::new(store, enabled(), Arc::new(ManualClock::new(t0())), executor);
    let ana = Principal::local_human("ana").expect("principal");

    let imported = kaizen
        .call::<OrgImportOp>(
            &ana,
            OrgImportInput {
                document: OrgDocument::standard(),
                confirm: true,
                reason: "first".to_owned(),
            },
        )
        .expect("import");
    assert!(imported.created);
    let second = kaizen
        .call::<OrgImportOp>(
            &ana,
            OrgImportInput {
                document: org_with(&agents(3)),
                confirm: true,
                reason: "agents".to_owned(),
            },
        )
        .expect("import");
    // The same document again makes no version, and says so.
    let again = kaizen
        .call::<OrgImportOp>(
            &ana,
            OrgImportInput {
                document: org_with(&agents(3)),
                confirm: true,
                reason: "again".to_owned(),
            },
        )
        .expect("import");
    assert!(!again.created);
    assert_eq!(
        again.version.as_ref().map(|v| v.id),
        second.version.as_ref().map(|v| v.id)
    );
    let restored = kaizen
        .call::<OrgRestoreOp>(
            &ana,
            OrgRestoreInput {
                id: 1,
                confirm: true,
                reason: "undo".to_owned(),
            },
        )
        .expect("restore");
    assert_eq!(restored.id, 3);
    for v in 1..=3 {
        assert!(
            notified.join(format!("org-v{v}.json")).is_file(),
            "version {v} was not notified"
        );
    }

    let imports = audit(&kaizen, "org.import");
    assert_eq!(imports.len(), 3, "{imports:#?}");
    // Newest first: the unchanged import, then version 2 (parent 1), then version 1.
    assert_eq!(
        imports[0].detail.as_ref().expect("detail")["unchanged"],
        true
    );
    assert_eq!(imports[1].target.as_deref(), Some("2"));
    assert_eq!(imports[1].before.as_deref(), Some("1"));
    assert_eq!(imports[1].after.as_deref(), Some("2"));
    assert_eq!(imports[2].before, None);
    let restores = audit(&kaizen, "org.restore");
    assert_eq!(restores.len(), 1);
    assert_eq!(restores[0].target.as_deref(), Some("3"));
    let detail = restores[0].detail.as_ref().expect("detail");
    assert_eq!(detail["restored"], 1);
    assert_eq!(detail["reason"], "undo");
    assert_eq!(detail["via"], "cli");
    assert_eq!(detail["notified"][0]["ok"], true, "{detail:#}");

    // Agents never write the org document.
    let bot = kaizen
        .store()
        .token_create(
            &kaizen_store::auth::NewToken {
                principal: "bot",
                kind: ActorKind::Agent,
                grant: &kaizen_core::auth::Grant::parse(&["*".to_owned()]).expect("grant"),
                expires_at: None,
                created_by: "test",
            },
            t0(),
        )
        .expect("token");
    let auth = kaizen
        .store()
        .token_authenticate(&bot.secret, t0())
        .expect("authenticate");
    let refused = kaizen
        .call::<OrgRestoreOp>(
            &Principal::new(Arc::new(auth), kaizen_service::Via::Rest),
            OrgRestoreInput {
                id: 2,
                confirm: true,
                reason: "bot".to_owned(),
            },
        )
        .expect_err("agents never write the org");
    assert_eq!(refused.code(), "human_only");
}
