//! Fuzz targets for the REST ingest handler's body paths (`POST /api/v1/events`: media types,
//! gzip or not, NDJSON or an array), as bounded property tests against a real server on
//! loopback: arbitrary bodies never get a 5xx and always get a JSON answer (the report or the
//! error envelope); N valid events sent with any framing, whitespace and compression are
//! exactly N stored; a body labelled gzip that is not gzip stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Server, t0, task_line};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn stored(s: &Server) -> u64 {
    s.state.store().stats().expect("stats").events
}

fn arb_media_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "application/x-ndjson",
        "application/json",
        "application/jsonl",
        "APPLICATION/X-NDJSON; charset=utf-8",
    ])
}

#[test]
fn arbitrary_bodies_get_a_json_answer_and_never_a_5xx() {
    let s = Server::start();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(
            prop::sample::select(b"[]{}\",:\n\r \\0123456789.eE-truefalsn\x1f\x8b".to_vec()),
            0..200
        ),
    ];
    let input = (body, arb_media_type(), 0u8..3);
    runner
        .run(&input, |(body, ct, encoding)| {
            let before = stored(&s);
            let (ce, bytes) = match encoding {
                0 => (None, body.clone()),
                1 => (Some("gzip"), gzip(&body)),
                // Labelled gzip, not gzip (unless the bytes happen to be a gzip stream).
                _ => (Some("gzip"), body.clone()),
            };
            let mut headers = vec![("Content-Type", ct)];
            if let Some(ce) = ce {
                headers.push(("Content-Encoding", ce));
            }
            let r = s.post_raw("/api/v1/events", Some(&s.tokens.agent), &headers, &bytes);
            prop_assert!(r.status < 500, "{} {}", r.status, r.body);
            let v: serde_json::Value = serde_json::from_str(&r.body)
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {}", r.body)))?;
            match r.status {
                200 | 207 | 422 => {
                    let accepted = v["accepted"].as_u64().unwrap_or(0);
                    prop_assert_eq!(stored(&s), before + accepted);
                }
                400 => {
                    prop_assert_eq!(encoding, 2, "{}", r.body);
                    prop_assert_eq!(&v["error"]["code"], "bad_encoding");
                    prop_assert_eq!(stored(&s), before);
                }
                other => prop_assert!(false, "unexpected status {other}: {}", r.body),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn valid_events_sent_any_way_are_stored_exactly_once_each() {
    let s = Server::start();
    let next_id = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 32,
        ..Config::default()
    });
    let sep = prop::sample::select(vec!["\n", "\r\n", "\n\n", "\r\n \r\n", "\n\t\n"]);
    let input = (
        0usize..25,
        prop::collection::vec(sep, 25),
        any::<bool>(),
        any::<bool>(),
        arb_media_type(),
    );
    runner
        .run(&input, |(n, seps, array, compress, ct)| {
            let before = stored(&s);
            let base = next_id.fetch_add(n, Ordering::SeqCst);
            let events: Vec<String> = (0..n)
                .map(|i| task_line(&format!("fz-{}", base + i), &s.agents[i % 5], t0()))
                .collect();
            let body = if array {
                let mut b = String::from("[");
                for (i, e) in events.iter().enumerate() {
                    if i > 0 {
                        b.push(',');
                    }
                    b.push_str(seps[i]);
                    b.push_str(e);
                }
                b.push_str("]\n");
                b
            } else {
                events
                    .iter()
                    .zip(&seps)
                    .map(|(e, sep)| format!("{e}{sep}"))
                    .collect()
            };
            let (ce, bytes) = if compress {
                (Some("x-gzip"), gzip(body.as_bytes()))
            } else {
                (None, body.into_bytes())
            };
            let mut headers = vec![("Content-Type", ct)];
            if let Some(ce) = ce {
                headers.push(("Content-Encoding", ce));
            }
            let r = s.post_raw("/api/v1/events", Some(&s.tokens.agent), &headers, &bytes);
            prop_assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            prop_assert_eq!(v["accepted"].as_u64(), Some(n as u64), "{}", r.body);
            prop_assert_eq!(v["rejected"].as_u64(), Some(0));
            prop_assert_eq!(stored(&s), before + n as u64);
            Ok(())
        })
        .unwrap();
}
