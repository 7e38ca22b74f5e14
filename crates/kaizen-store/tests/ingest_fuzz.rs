//! Fuzz targets for the ingest splitters (NDJSON lines and the JSON-array splitter), run as
//! bounded property tests in the normal suite (explicit case counts; each target takes a
//! couple of seconds in a debug build). What they hold the pipeline to, per the documented
//! semantics of `kaizen_store::ingest`:
//! * arbitrary bytes never panic and never fail the ingestion: every record is counted as
//!   accepted, a duplicate or rejected;
//! * valid events are never lost or changed, whatever the framing (NDJSON with `\n` or `\r\n`,
//!   blank lines, surrounding whitespace, a byte-order mark; an array with any whitespace
//!   between and inside its elements);
//! * a malformed record is rejected on its own, and a malformed array stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_store::{IngestOptions, IngestReport, InputFormat, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-05T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("k.db")).expect("open");
    (dir, store)
}

fn ingest(store: &mut Store, bytes: &[u8], format: InputFormat) -> IngestReport {
    let mut opts = IngestOptions::new(now());
    opts.format = format;
    store
        .ingest(bytes, opts)
        .expect("ingesting in-memory bytes never fails")
}

/// Every stored raw event, in the order stored, as JSON.
fn stored(dir: &tempfile::TempDir) -> Vec<Value> {
    let conn = rusqlite::Connection::open(dir.path().join("k.db")).expect("open");
    let mut stmt = conn
        .prepare("SELECT body FROM event_segments ORDER BY id")
        .expect("prepare");
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    bodies
        .iter()
        .flat_map(|b| b.lines())
        .map(|l| serde_json::from_str(l).expect("a stored event is JSON"))
        .collect()
}

/// A valid event of one of three types, with id `id`.
fn arb_event(id: String) -> impl Strategy<Value = Value> {
    let ts = (0u32..24, 0u32..60).prop_map(|(h, m)| format!("2026-11-01T{h:02}:{m:02}:00Z"));
    let agent = "[a-z][a-z0-9-]{0,11}";
    let task = (ts.clone(), agent, 0u8..=20, any::<bool>()).prop_map({
        let id = id.clone();
        move |(ts, agent, q, ok)| {
            json!({"type": "task.completed", "id": id, "ts": ts, "agent_id": agent,
                   "department": "eng", "role": "dev", "task_id": format!("t-{agent}"),
                   "success": ok, "quality_score": f64::from(q) / 2.0})
        }
    });
    let cost = (ts.clone(), agent, 0u32..100_000, 0u64..5000).prop_map({
        let id = id.clone();
        move |(ts, agent, cents, tokens)| {
            json!({"type": "cost.recorded", "id": id, "ts": ts, "agent_id": agent,
                   "category": "productive", "cost_usd": f64::from(cents) / 100.0,
                   "input_tokens": tokens})
        }
    });
    let telemetry = (ts, "[a-z_]{1,12}", any::<bool>()).prop_map(move |(ts, kind, error)| {
        json!({"type": "telemetry.event", "id": id, "ts": ts, "event_type": kind,
               "error": error, "agent_id": "a\u{e9}\u{1f600}"})
    });
    prop_oneof![task, cost, telemetry]
}

fn arb_events(max: usize) -> impl Strategy<Value = Vec<Value>> {
    (0..=max).prop_flat_map(|n| {
        (0..n)
            .map(|i| arb_event(format!("ev-{i}")).boxed())
            .collect::<Vec<_>>()
    })
}

/// What may end an NDJSON line: a newline or CRLF, possibly followed by blank lines.
fn arb_line_end() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "\n", "\r\n", "\n\n", "\r\n\r\n", "\n \n", "\n\t\r\n", "  \n", "\t\r\n",
    ])
}

/// Whitespace JSON allows between tokens.
fn arb_ws() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec![" ", "\t", "\n", "\r\n"]), 0..3)
        .prop_map(|v| v.concat())
}

#[test]
fn arbitrary_bytes_never_panic_and_every_record_is_counted() {
    let (_dir, store) = store();
    let store = std::cell::RefCell::new(store);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        // Near-JSON input reaches deeper into the parsers than random bytes.
        prop::collection::vec(
            prop::sample::select(
                b"[]{}\",:\n\r \\0123456789.eE-+truefalsn\xef\xbb\xbf\xff".to_vec()
            ),
            0..200
        ),
        (prop::collection::vec(any::<u8>(), 0..200)).prop_map(|mut v| {
            v.insert(0, b'[');
            v
        }),
    ];
    runner
        .run(&bytes, |bytes| {
            for format in [
                InputFormat::Auto,
                InputFormat::Ndjson,
                InputFormat::JsonArray,
            ] {
                let report = ingest(&mut store.borrow_mut(), &bytes, format);
                prop_assert_eq!(
                    report.records,
                    report.accepted + report.duplicates + report.rejected,
                    "{:?}",
                    report
                );
                prop_assert!(report.rejections.len() as u64 <= report.rejected);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn valid_ndjson_round_trips_whatever_the_line_ends_and_blank_lines() {
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let input = (
        arb_events(30),
        prop::collection::vec((arb_line_end(), "[ \t]{0,2}"), 30),
        any::<bool>(),
        any::<bool>(),
    );
    runner
        .run(&input, |(events, seps, bom, explicit)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            for (e, (end, lead)) in events.iter().zip(&seps) {
                text.push_str(lead);
                text.push_str(&e.to_string());
                text.push_str(end);
            }
            let (dir, mut store) = store();
            let format = if explicit {
                InputFormat::Ndjson
            } else {
                InputFormat::Auto
            };
            let report = ingest(&mut store, text.as_bytes(), format);
            check_all_stored(&dir, &report, &events)
        })
        .unwrap();
}

#[test]
fn valid_arrays_round_trip_whatever_the_whitespace() {
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let input = (
        arb_events(30),
        prop::collection::vec((arb_ws(), arb_ws(), any::<bool>()), 31),
        any::<bool>(),
    );
    runner
        .run(&input, |(events, ws, bom)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            text.push_str(&ws[30].0);
            text.push('[');
            for (i, e) in events.iter().enumerate() {
                let (before, after, pretty) = &ws[i];
                if i > 0 {
                    text.push(',');
                }
                text.push_str(before);
                let encoded = if *pretty {
                    serde_json::to_string_pretty(e).expect("encode")
                } else {
                    e.to_string()
                };
                text.push_str(&encoded);
                text.push_str(after);
            }
            text.push(']');
            text.push_str(&ws[30].1);
            let (dir, mut store) = store();
            let report = ingest(&mut store, text.as_bytes(), InputFormat::Auto);
            check_all_stored(&dir, &report, &events)
        })
        .unwrap();
}

fn check_all_stored(
    dir: &tempfile::TempDir,
    report: &IngestReport,
    events: &[Value],
) -> Result<(), TestCaseError> {
    let n = events.len() as u64;
    prop_assert_eq!(
        (report.records, report.accepted, report.rejected),
        (n, n, 0),
        "{:?}",
        report
    );
    let stored = stored(dir);
    prop_assert_eq!(&stored, &events.to_vec());
    Ok(())
}

#[test]
fn malformed_lines_are_rejected_alone_and_valid_ones_kept_unchanged() {
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let garbage = prop_oneof![
        "[^\n]{1,60}",
        prop::collection::vec(any::<u8>(), 1..60)
            .prop_map(|v| { String::from_utf8_lossy(&v).replace('\n', " ") }),
        Just("{\"type\":\"task.completed\"".to_owned()),
        Just("[1,2]".to_owned()),
    ]
    .prop_filter("a record, not a blank line", |g| {
        g.trim_start_matches('\u{feff}')
            .bytes()
            .any(|b| !b.is_ascii_whitespace())
    });
    let input = (
        arb_events(20),
        prop::collection::vec(prop::option::of(garbage), 20),
        arb_line_end(),
    );
    runner
        .run(&input, |(events, garbage, end)| {
            let mut text = String::new();
            let mut bad = 0u64;
            for (e, g) in events.iter().zip(&garbage) {
                if let Some(g) = g {
                    text.push_str(g);
                    text.push_str(end);
                    bad += 1;
                }
                text.push_str(&e.to_string());
                text.push_str(end);
            }
            let (dir, mut store) = store();
            let report = ingest(&mut store, text.as_bytes(), InputFormat::Ndjson);
            let n = events.len() as u64;
            prop_assert_eq!(
                (report.records, report.accepted, report.rejected),
                (n + bad, n, bad),
                "{:?}\n{:?}",
                report,
                text
            );
            prop_assert!(report.rejections.iter().all(|r| !r.message.is_empty()));
            prop_assert_eq!(&stored(&dir), &events);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_malformed_array_stores_nothing() {
    let mut runner = TestRunner::new(Config {
        cases: 60,
        ..Config::default()
    });
    let input = (
        arb_events(10).prop_filter("non-empty", |e| !e.is_empty()),
        any::<prop::sample::Index>(),
        0u8..3,
    );
    runner
        .run(&input, |(events, at, how)| {
            let whole = serde_json::to_string_pretty(&events).expect("encode");
            let broken: Vec<u8> = match how {
                // Cut anywhere before the closing bracket (maybe inside a UTF-8 sequence).
                0 => whole.as_bytes()[..at.index(whole.len() - 1).max(1)].to_vec(),
                // A trailing comma.
                1 => format!("{},]", &whole[..whole.len() - 1]).into_bytes(),
                // A stray token after an element.
                _ => whole
                    .replacen("},", "} x,", 1)
                    .replacen("}\n]", "} x\n]", 1)
                    .into_bytes(),
            };
            let (dir, mut store) = store();
            for format in [InputFormat::Auto, InputFormat::JsonArray] {
                let report = ingest(&mut store, &broken, format);
                prop_assert_eq!(
                    (report.records, report.accepted, report.rejected),
                    (1, 0, 1),
                    "{:?}\n{}",
                    report,
                    String::from_utf8_lossy(&broken)
                );
                prop_assert!(
                    report.rejections[0].message.ends_with("nothing was stored"),
                    "{:?}",
                    report
                );
            }
            prop_assert!(stored(&dir).is_empty());
            Ok(())
        })
        .unwrap();
}
