//! Alerts that reach people, end to end with the real binary and a real HTTP sink on loopback
//! (a `std::net::TcpListener` that answers 500 while "down" and 200 once it "recovers").
//!
//! * `kaizen alerts deliver` (the cron path): every delivery fails while the sink is down and
//!   is retried with backoff; once the sink recovers, every alert reaches every HTTP sink
//!   exactly once (by id), with the `kaizen.alert.v1` body and the Slack `text` body; the
//!   sink URL's secret path is never printed or logged.
//! * `kaizen serve` killed with SIGKILL (`Child::kill`) again and again while the sink is down
//!   (so mid-attempt too: the sink answers slowly), then restarted after it recovers: every
//!   alert arrives, each id at most twice (at least once delivery).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, kaizen};
use kaizen_core::clock::SystemClock;
use kaizen_core::config::{AlertKind, AlertSeverity, KaizenConfig};
use kaizen_service::Kaizen;
use kaizen_service::alerts::AlertDraft;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::Store;
use serde_json::{Value, json};

/// The secret part of the sink URLs: must never show up in output or logs.
const SECRET: &str = "T0SECRET/B0SECRET/xoxSECRET";

/// A loopback HTTP sink: 500 (after `delay`) while down, 200 once up; records what it accepted.
struct Sink {
    addr: String,
    up: Arc<AtomicBool>,
    /// Requests answered, accepted or not.
    requests: Arc<AtomicUsize>,
    /// (path, body) of every accepted request.
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Sink {
    fn start(delay_when_down: Duration) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (u, r, a) = (
            Arc::clone(&up),
            Arc::clone(&requests),
            Arc::clone(&accepted),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (u, r, a) = (Arc::clone(&u), Arc::clone(&r), Arc::clone(&a));
                std::thread::spawn(move || serve(stream, &u, &r, &a, delay_when_down));
            }
        });
        Sink {
            addr,
            up,
            requests,
            accepted,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}/{SECRET}", self.addr)
    }

    /// Accepted bodies per path, with how often each alert id was accepted.
    fn ids(&self, path: &str) -> BTreeMap<i64, u32> {
        let mut out = BTreeMap::new();
        for (p, body) in self.accepted.lock().unwrap().iter() {
            if p.starts_with(path) {
                let id = body["id"].as_i64().unwrap_or_else(|| {
                    // Slack bodies carry the id in the text: "(alert N)".
                    let text = body["text"].as_str().unwrap();
                    let n = text.rsplit("(alert ").next().unwrap().trim_end_matches(')');
                    n.parse().unwrap()
                });
                *out.entry(id).or_insert(0) += 1;
            }
        }
        out
    }
}

fn serve(
    stream: TcpStream,
    up: &AtomicBool,
    requests: &AtomicUsize,
    accepted: &Mutex<Vec<(String, Value)>>,
    delay: Duration,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let status = if up.load(Ordering::SeqCst) {
        let value: Value = serde_json::from_slice(&body).unwrap();
        accepted.lock().unwrap().push((path, value));
        "200 OK"
    } else {
        std::thread::sleep(delay);
        "500 Internal Server Error"
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// The alerts section: a webhook, a Slack-compatible sink and the log, with fast retries.
fn config_json(sink: &Sink) -> Value {
    json!({"self_improvement": {"alerts": {
        "delivery_timeout_seconds": 2,
        "retry_initial_seconds": 1,
        "retry_max_seconds": 1,
        "sinks": [
            {"name": "hook", "kind": "webhook", "url": sink.url("/hook")},
            {"name": "chat", "kind": "slack", "url": sink.url("/slack"), "min_severity": "warning"},
            {"name": "journal", "kind": "log"}
        ]
    }}})
}

/// Writes `kaizen.yaml` (JSON is YAML) and raises `n` alerts (plus one repeat of the first)
/// through the service, as the rollout engine would; returns their ids.
fn setup(dir: &Path, sink: &Sink, n: usize) -> Vec<i64> {
    let cfg = config_json(sink);
    std::fs::write(dir.join("kaizen.yaml"), cfg.to_string()).unwrap();
    let config: KaizenConfig = serde_json::from_value(cfg).unwrap();
    let store = Store::open(dir.join("kaizen.db")).unwrap();
    let k = Kaizen::new(
        store,
        config,
        Arc::new(SystemClock),
        RollbackExecutor::default(),
    );
    let draft = |i: usize| AlertDraft {
        kind: if i.is_multiple_of(2) {
            AlertKind::Rollback
        } else {
            AlertKind::StuckRollout
        },
        severity: AlertSeverity::Warning,
        proposal_id: Some(format!("p{i}")),
        dedup_key: None,
        message: format!("alert number {i}"),
    };
    let mut ids = Vec::new();
    for i in 0..n {
        let raised = k.raise_alert(draft(i)).unwrap();
        assert!(raised.new);
        assert_eq!(raised.deliveries, 3);
        ids.push(raised.id);
    }
    // A repeat while unacknowledged: counted, not delivered again.
    let again = k.raise_alert(draft(0)).unwrap();
    assert_eq!((again.id, again.new, again.deliveries), (ids[0], false, 0));
    ids
}

fn outbox(dir: &Path) -> Vec<Value> {
    let v = kaizen(dir, &["alerts", "outbox", "--limit", "1000", "--json"], &[])
        .ok()
        .json();
    v.as_array().unwrap().clone()
}

fn states(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(r["state"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    out
}

#[test]
fn a_sink_that_fails_then_recovers_receives_every_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Duration::ZERO);
    let ids = setup(dir.path(), &sink, 5);

    // Down: one delivery per HTTP sink is attempted and fails; that sink's others wait
    // unattempted for the same retry; the log sink takes its own.
    let run = kaizen(dir.path(), &["alerts", "deliver", "--json"], &[]).ok();
    let report = run.json();
    assert_eq!(report["delivery"]["attempted"], 7, "{report}");
    assert_eq!(report["delivery"]["delivered"], 5, "{report}");
    assert_eq!(report["delivery"]["retrying"], 2, "{report}");
    assert_eq!(report["delivery"]["deferred"], 8, "{report}");
    assert!(report["delivery"]["next_due"].is_string(), "{report}");
    assert!(
        run.stderr().contains("alert delivery failed; will retry"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("alert number 3"),
        "the log sink's line"
    );
    assert!(!run.stderr().contains("SECRET"), "{}", run.stderr());
    assert!(!run.stdout().contains("SECRET"));
    let rows = outbox(dir.path());
    assert_eq!(
        states(&rows),
        BTreeMap::from([("delivered".to_owned(), 5), ("pending".to_owned(), 10)])
    );
    let pending: Vec<&Value> = rows.iter().filter(|r| r["state"] == "pending").collect();
    let probes: Vec<&&Value> = pending.iter().filter(|r| r["attempts"] == 1).collect();
    assert_eq!(probes.len(), 2, "{pending:?}");
    for r in probes {
        assert!(r["last_error"].as_str().unwrap().contains("500"), "{r}");
    }
    assert!(
        pending
            .iter()
            .all(|r| r["attempts"] == 1 || (r["attempts"] == 0 && r["last_error"].is_null())),
        "{pending:?}"
    );
    assert_eq!(sink.requests.load(Ordering::SeqCst), 2);
    // `kaizen alerts` says what is waiting; the configuration shown hides the URLs' secrets.
    kaizen(dir.path(), &["alerts", "list"], &[])
        .ok()
        .stdout_has(&["count", "rollback", "stuck_rollout", "10 pending, 0 failed"]);
    let shown = kaizen(dir.path(), &["config", "show"], &[]).ok().stdout();
    assert!(
        !shown.contains("SECRET") && shown.contains("redacted"),
        "{shown}"
    );

    // Still down at the first retry: retried again (attempt 2), nothing accepted.
    std::thread::sleep(Duration::from_millis(1100));
    let report = kaizen(dir.path(), &["alerts", "deliver", "--json"], &[])
        .ok()
        .json();
    assert_eq!(report["delivery"]["retrying"], 2, "{report}");
    assert_eq!(report["delivery"]["deferred"], 8, "{report}");
    assert_eq!(sink.requests.load(Ordering::SeqCst), 4);

    // Recovered: every pending delivery goes through on its next attempt.
    sink.up.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(1100));
        kaizen(dir.path(), &["alerts", "deliver"], &[]).ok();
        if !states(&outbox(dir.path())).contains_key("pending") {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", outbox(dir.path()));
    }
    let expected: BTreeMap<i64, u32> = ids.iter().map(|id| (*id, 1)).collect();
    assert_eq!(sink.ids("/hook"), expected);
    assert_eq!(sink.ids("/slack"), expected);
    let rows = outbox(dir.path());
    assert_eq!(
        states(&rows),
        BTreeMap::from([("delivered".to_owned(), 15)])
    );
    // The webhook body: the alert, versioned, with its count.
    let accepted = sink.accepted.lock().unwrap().clone();
    let first = accepted
        .iter()
        .find(|(p, b)| p.starts_with("/hook") && b["id"] == ids[0])
        .map(|(_, b)| b.clone())
        .unwrap();
    assert_eq!(first["schema"], "kaizen.alert.v1");
    assert_eq!(
        (
            &first["kind"],
            &first["severity"],
            &first["proposal_id"],
            &first["count"]
        ),
        (
            &json!("rollback"),
            &json!("warning"),
            &json!("p0"),
            &json!(2)
        )
    );
    assert_eq!(first["message"], "alert number 0");
    let slack = accepted
        .iter()
        .find(|(p, _)| p.starts_with("/slack"))
        .map(|(_, b)| b.clone())
        .unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("[kaizen] WARNING"),
        "{slack}"
    );
    // Nothing more to send: another run attempts nothing.
    let report = kaizen(dir.path(), &["alerts", "deliver", "--json"], &[])
        .ok()
        .json();
    assert_eq!(report["delivery"]["attempted"], 0, "{report}");
}

#[test]
fn kaizen_serve_killed_while_the_sink_is_down_delivers_every_alert_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A slow failure, so that some kills land in the middle of an attempt.
    let sink = Sink::start(Duration::from_millis(300));
    let ids = setup(dir.path(), &sink, 6);
    let env = [("KAIZEN__SERVER__LOOP_INTERVAL_SECONDS", "1")];
    for kill_after in [900u64, 1300, 700, 1600] {
        let server = Server::start(dir.path(), &env);
        std::thread::sleep(Duration::from_millis(kill_after));
        drop(server); // SIGKILL, then reaped
    }
    assert!(
        sink.requests.load(Ordering::SeqCst) > 0,
        "the server attempted deliveries while the sink was down"
    );
    assert!(sink.accepted.lock().unwrap().is_empty());
    let before = outbox(dir.path());
    assert!(
        before
            .iter()
            .filter(|r| r["sink"] != "journal")
            .all(|r| r["state"] == "pending"),
        "{before:?}"
    );

    sink.up.store(true, Ordering::SeqCst);
    let server = Server::start(dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(40);
    while states(&outbox(dir.path())).contains_key("pending") {
        assert!(Instant::now() < deadline, "{:?}", outbox(dir.path()));
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(server);
    for path in ["/hook", "/slack"] {
        let got = sink.ids(path);
        assert_eq!(
            got.keys().copied().collect::<Vec<_>>(),
            ids,
            "every alert reached {path}"
        );
        assert!(got.values().all(|n| *n <= 2), "{path}: {got:?}");
    }
    assert_eq!(
        states(&outbox(dir.path())),
        BTreeMap::from([("delivered".to_owned(), 18)])
    );
}
