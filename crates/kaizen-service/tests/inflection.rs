//! The inflection monitor in the background loop: a sharp change raises an alert and triggers
//! exactly one extra cycle (trigger `inflection`, audited as the scheduler's), rate-limited;
//! with the trigger off it only alerts; quiet data raises nothing; the last check survives a
//! restart; an inflection cycle does not move the schedule. Real SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{Behaviour, agents, at, enabled, ingest, ndjson_with, org_with};
use kaizen_core::clock::ManualClock;
use kaizen_core::config::KaizenConfig;
use kaizen_service::Kaizen;
use kaizen_service::cycle::{LAST_CYCLE_KEY, SCHEDULER};
use kaizen_service::inflection::{ALERT_KIND, LAST_CHECK_KEY};
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::Store;
use kaizen_store::auth::{AuditQuery, AuditRecord};

fn t0() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

/// Two weeks of 20 agents up to `t0`; in the last `surge_hours` every agent's cost per task is
/// `cost`.
fn store_with(path: &Path, surge_hours: i64, cost: f64) -> Store {
    let mut store = Store::open(path).expect("open");
    let agents = agents(20);
    store
        .org_import(org_with(&agents), "test", t0() - Duration::days(15))
        .expect("org");
    let hours = 14 * 24;
    let data = ndjson_with(&agents, t0() - Duration::hours(hours), hours, 3, |_, h| {
        if h >= hours - surge_hours {
            Behaviour {
                cost,
                ..Behaviour::NORMAL
            }
        } else {
            Behaviour::NORMAL
        }
    });
    ingest(&mut store, &data, t0());
    store
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

fn triggers(kaizen: &Kaizen) -> Vec<String> {
    let mut cycles = kaizen.store().cycles(100).expect("cycles");
    cycles.reverse();
    cycles.into_iter().map(|c| c.trigger).collect()
}

fn inflection_alerts(kaizen: &Kaizen) -> Vec<kaizen_store::rollouts::Alert> {
    kaizen
        .store()
        .alerts(true)
        .expect("alerts")
        .into_iter()
        .filter(|a| a.kind == ALERT_KIND)
        .collect()
}

fn kaizen_on(store: Store, config: KaizenConfig, clock: &Arc<ManualClock>) -> Kaizen {
    Kaizen::new(store, config, clock.clone(), RollbackExecutor::default())
}

#[test]
fn an_inflection_alerts_and_triggers_exactly_one_rate_limited_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.db");
    let clock = Arc::new(ManualClock::new(t0()));
    let kaizen = kaizen_on(store_with(&path, 6, 3.0), enabled(), &clock);

    kaizen.background_once();
    // The scheduled cycle (none ran yet) and the inflection cycle.
    assert_eq!(triggers(&kaizen), ["schedule", "inflection"]);
    let alerts = inflection_alerts(&kaizen);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0].message.starts_with("spend_per_task ×"),
        "{}",
        alerts[0].message
    );
    assert_eq!(alerts[0].severity, "critical");
    let runs = audit(&kaizen, "cycles.run");
    let inflection = runs
        .iter()
        .find(|e| e.detail.as_ref().unwrap()["trigger"] == "inflection")
        .expect("the inflection cycle is audited");
    assert_eq!(inflection.actor, SCHEDULER);
    let detail = inflection.detail.as_ref().unwrap();
    assert_eq!(detail["inflections"], serde_json::json!(["spend_per_task"]));
    assert_eq!(detail["via"], "loop");
    assert!(inflection.target.as_deref().unwrap().starts_with('c'));

    // The schedule still counts from the scheduled cycle, not from the inflection cycle.
    let scheduled_at = kaizen
        .store()
        .cycles(100)
        .unwrap()
        .last()
        .unwrap()
        .started_at;
    let last = kaizen.store().meta_get(LAST_CYCLE_KEY).unwrap().unwrap();
    assert_eq!(
        DateTime::parse_from_rfc3339(&last).unwrap(),
        scheduled_at.fixed_offset()
    );

    // Within the check interval nothing runs again.
    clock.advance(Duration::minutes(30));
    kaizen.background_once();
    assert_eq!(inflection_alerts(&kaizen).len(), 1);

    // An hour later the surge is still in the recent hours: alerted again — the open alert of
    // that metric counts it (de-duplicated) — but the cycle is rate-limited (one per 24 h by
    // default).
    clock.advance(Duration::minutes(31));
    kaizen.background_once();
    let alerts = inflection_alerts(&kaizen);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].count, 2, "{alerts:?}");
    assert_eq!(triggers(&kaizen), ["schedule", "inflection"]);
}

#[test]
fn with_the_trigger_off_an_inflection_only_alerts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(t0()));
    let mut config = enabled();
    config.self_improvement.schedule.inflection_trigger_enabled = false;
    let kaizen = kaizen_on(store_with(&dir.path().join("k.db"), 6, 3.0), config, &clock);
    kaizen.background_once();
    assert_eq!(triggers(&kaizen), ["schedule"]);
    assert_eq!(inflection_alerts(&kaizen).len(), 1);
}

#[test]
fn quiet_data_raises_nothing_and_the_last_check_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.db");
    let clock = Arc::new(ManualClock::new(t0()));
    let kaizen = kaizen_on(store_with(&path, 0, 1.0), enabled(), &clock);
    kaizen.background_once();
    assert_eq!(triggers(&kaizen), ["schedule"]);
    assert!(inflection_alerts(&kaizen).is_empty());
    let checked = kaizen.store().meta_get(LAST_CHECK_KEY).unwrap();
    assert_eq!(checked, Some(t0().to_rfc3339()));
    drop(kaizen);

    // A restart 30 minutes later does not check again (not due); 61 minutes later it does.
    clock.advance(Duration::minutes(30));
    let kaizen = kaizen_on(Store::open(&path).unwrap(), enabled(), &clock);
    kaizen.background_once();
    assert_eq!(
        kaizen.store().meta_get(LAST_CHECK_KEY).unwrap(),
        Some(t0().to_rfc3339())
    );
    clock.advance(Duration::minutes(31));
    kaizen.background_once();
    assert_eq!(
        kaizen.store().meta_get(LAST_CHECK_KEY).unwrap(),
        Some((t0() + Duration::minutes(61)).to_rfc3339())
    );
    assert!(inflection_alerts(&kaizen).is_empty());
}

#[test]
fn the_loop_disabled_checks_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(t0()));
    let kaizen = kaizen_on(
        store_with(&dir.path().join("k.db"), 6, 3.0),
        KaizenConfig::default(),
        &clock,
    );
    kaizen.background_once();
    assert!(triggers(&kaizen).is_empty());
    assert!(inflection_alerts(&kaizen).is_empty());
    assert_eq!(kaizen.store().meta_get(LAST_CHECK_KEY).unwrap(), None);
}
