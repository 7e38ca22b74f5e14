//! Alert delivery decisions against a real HTTP sink on loopback (a `std::net::TcpListener`
//! answering a chosen status), on a real SQLite store with a manual clock: which answers are
//! retried, which are final, backoff within its bounds, and giving up after the configured age.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use chrono::{Duration, TimeZone, Utc};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::{AlertKind, AlertSeverity, KaizenConfig};
use kaizen_service::Kaizen;
use kaizen_service::alerts::AlertDraft;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::Store;
use kaizen_store::alerts::DeliveryState;
use serde_json::json;

/// A sink answering `status` to every request; counts requests.
fn sink(status: Arc<AtomicU16>, requests: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
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
            let _ = reader.read_exact(&mut body);
            requests.fetch_add(1, Ordering::SeqCst);
            let code = status.load(Ordering::SeqCst);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    addr
}

struct Fixture {
    _dir: tempfile::TempDir,
    kaizen: Kaizen,
    clock: Arc<ManualClock>,
    status: Arc<AtomicU16>,
    requests: Arc<AtomicUsize>,
}

fn fixture() -> Fixture {
    let status = Arc::new(AtomicU16::new(500));
    let requests = Arc::new(AtomicUsize::new(0));
    let addr = sink(Arc::clone(&status), Arc::clone(&requests));
    let config: KaizenConfig = serde_json::from_value(json!({"self_improvement": {"alerts": {
        "retry_initial_seconds": 10,
        "retry_max_seconds": 60,
        "give_up_after_hours": 1,
        "sinks": [{"name": "hook", "kind": "webhook", "url": format!("http://{addr}/in")}]
    }}}))
    .unwrap();
    assert_eq!(config.validate(), Ok(()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("k.db")).unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0).unwrap(),
    ));
    let kaizen = Kaizen::new(
        store,
        config,
        Arc::clone(&clock) as Arc<dyn Clock>,
        RollbackExecutor::default(),
    );
    Fixture {
        _dir: dir,
        kaizen,
        clock,
        status,
        requests,
    }
}

fn raise(f: &Fixture, proposal: &str) -> i64 {
    f.kaizen
        .raise_alert(AlertDraft {
            kind: AlertKind::Rollback,
            severity: AlertSeverity::Warning,
            proposal_id: Some(proposal.to_owned()),
            dedup_key: None,
            message: "rolled back".to_owned(),
        })
        .unwrap()
        .id
}

fn only_row(f: &Fixture) -> kaizen_store::alerts::OutboxEntry {
    let rows = f.kaizen.store().alert_outbox(None, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

#[test]
fn a_4xx_is_final_but_408_and_429_are_retried() {
    for (status, state) in [
        (404, DeliveryState::Failed),
        (400, DeliveryState::Failed),
        (408, DeliveryState::Pending),
        (429, DeliveryState::Pending),
        (503, DeliveryState::Pending),
        (204, DeliveryState::Delivered),
    ] {
        let f = fixture();
        f.status.store(status, Ordering::SeqCst);
        raise(&f, "p1");
        let report = f.kaizen.deliver_alerts().unwrap();
        assert_eq!(report.attempted, 1);
        let row = only_row(&f);
        assert_eq!(row.state, state, "status {status}: {row:?}");
        if state != DeliveryState::Delivered {
            let error = row.last_error.unwrap();
            assert!(error.contains(&status.to_string()), "{error}");
        }
    }
}

#[test]
fn retries_back_off_within_their_bounds_and_give_up_after_the_configured_age() {
    let f = fixture();
    raise(&f, "p1");
    let start = f.clock.now();
    let mut attempt = 0;
    loop {
        let report = f.kaizen.deliver_alerts().unwrap();
        attempt += 1;
        let row = only_row(&f);
        if row.state == DeliveryState::Failed {
            // Given up: the next retry would have fallen past one hour after the alert.
            assert!(f.clock.now() - start > Duration::minutes(59), "{row:?}");
            let error = row.last_error.unwrap();
            assert!(
                error.starts_with(&format!("gave up after {attempt} attempts")),
                "{error}"
            );
            assert_eq!(report.failed, 1);
            break;
        }
        assert_eq!((row.state, row.attempts), (DeliveryState::Pending, attempt));
        // Full jitter under 10 s × 2^(n−1), capped at 60 s (and at least 1 s).
        let delay = row.next_at - f.clock.now();
        let ceiling = Duration::seconds((10i64 << (attempt - 1).min(10)).min(60));
        assert!(
            delay >= Duration::seconds(1) && delay <= ceiling,
            "attempt {attempt}: {delay} > {ceiling}"
        );
        // Not due before its time.
        assert_eq!(f.kaizen.deliver_alerts().unwrap().attempted, 0);
        f.clock.advance(delay);
        assert!(attempt < 1000, "never gave up");
    }
    assert_eq!(f.requests.load(Ordering::SeqCst), attempt as usize);
    // Failed rows are not attempted again.
    f.clock.advance(Duration::hours(2));
    assert_eq!(f.kaizen.deliver_alerts().unwrap().attempted, 0);
}

#[test]
fn a_failing_sink_is_probed_once_and_its_other_deliveries_wait() {
    let f = fixture();
    for p in ["p1", "p2", "p3"] {
        raise(&f, p);
    }
    let report = f.kaizen.deliver_alerts().unwrap();
    assert_eq!(
        (report.attempted, report.retrying, report.deferred),
        (1, 1, 2)
    );
    assert_eq!(f.requests.load(Ordering::SeqCst), 1);
    let rows = f.kaizen.store().alert_outbox(None, 10).unwrap();
    let next = rows.iter().map(|r| r.next_at).max().unwrap();
    assert!(rows.iter().all(|r| r.next_at == next), "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.attempts).sum::<u32>(), 1);
    // Recovered: all three go through at the retry time.
    f.status.store(200, Ordering::SeqCst);
    f.clock.advance(next - f.clock.now());
    let report = f.kaizen.deliver_alerts().unwrap();
    assert_eq!((report.attempted, report.delivered), (3, 3));
    assert_eq!(f.requests.load(Ordering::SeqCst), 4);
}
