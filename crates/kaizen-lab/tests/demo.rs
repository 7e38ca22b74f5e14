//! `kaizen demo` and `--target` against real servers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::Mutex;

use kaizen_lab::demo::{DemoOptions, DemoStarted, Observer, PacedProgress, run_demo, run_feed};
use kaizen_lab::scenario::Scenario;
use kaizen_lab::server::{AGENT_CAPS, LabServer, create_token};
use kaizen_store::Store;
use kaizen_store::proposals::ActorKind;

#[derive(Default)]
struct Recorder {
    started: Mutex<Option<DemoStarted>>,
    steps: Mutex<u64>,
    notices: Mutex<Vec<String>>,
}

impl Observer for Recorder {
    fn started(&self, info: &DemoStarted) {
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
    }
    fn progress(&self, p: &PacedProgress) {
        *self.steps.lock().unwrap_or_else(|p| p.into_inner()) = p.done;
    }
    fn notice(&self, line: &str) {
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.to_owned());
    }
}

/// The demo end to end, unattended, on a fast clock: a warm-up straight into the store, then
/// the organisation over HTTP against `kaizen serve` with its background loop.
#[test]
fn the_demo_runs_unattended_against_a_real_server() {
    let scenario = kaizen_lab::demo::demo_scenario()
        .and_then(|s| Ok(s.with_overrides(Some(12), Some(9), None)?))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rec = Recorder::default();
    let opts = DemoOptions {
        dir: Some(dir.path().join("demo")),
        speed: 36_000.0,
        warmup_days: 7,
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        unattended: true,
    };
    let (report, finished) = run_demo(&scenario, &opts, &rec).unwrap_or_else(|e| panic!("{e}"));
    assert!(finished);
    let started = rec
        .started
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| panic!("never started"));
    assert!(started.ui.starts_with("http://127.0.0.1:") && started.ui.ends_with("/ui"));
    assert!(started.admin_token.starts_with("kz_"));
    assert_eq!(*rec.steps.lock().unwrap_or_else(|p| p.into_inner()), 9 * 24);
    assert!(report.cycles >= 1, "{report:#?}");
    // Every simulated day's events reached the store: the warm-up in-process, the rest over HTTP.
    let store = Store::open(&started.store).unwrap_or_else(|e| panic!("{e}"));
    let stats = store.stats().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.events, report.events);
    let newest = stats.newest_event.unwrap_or_else(|| panic!("no events"));
    assert!(
        newest >= scenario.start + chrono::Duration::days(8),
        "{newest}"
    );
}

/// `--target` needs the organisation on the server: without it, it fails at once and says so.
#[test]
fn feeding_a_server_without_the_org_fails_clearly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("kaizen.db");
    let mut store = Store::open(&db).unwrap_or_else(|e| panic!("{e}"));
    let now = chrono::Utc::now();
    let token = create_token(&mut store, "rt", ActorKind::Agent, &AGENT_CAPS, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let server = LabServer::start(
        store,
        kaizen_server::settings::Settings::default(),
        std::sync::Arc::new(kaizen_core::clock::SystemClock),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = Scenario::parse("name: t\ndays: 2\norg:\n  agents: 3\n", "t.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    let err = run_feed(
        &s,
        &server.base,
        &token,
        chrono::Duration::minutes(5),
        &Recorder::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("fed a server without the org"))
    .to_string();
    assert!(err.contains("kaizen org import"), "{err}");
    server.stop();
}
