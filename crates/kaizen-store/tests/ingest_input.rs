//! Bad and hostile input at the library level: what is stored, what is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_store::{IngestOptions, InputFormat, Store};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-05T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn task(id: &str, quality: &str) -> String {
    format!(
        r#"{{"type":"task.completed","id":"{id}","ts":"2026-11-01T10:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"k","success":true,"quality_score":{quality}}}"#
    )
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("k.db")).expect("open");
    (dir, store)
}

#[test]
fn mixed_input_keeps_every_valid_record() {
    let (_dir, mut store) = store();
    let lines = [
        task("ok1", "7"),                                        // 1 ok
        "{\"type\": \"task.completed\", broken".to_owned(),      // 2 malformed JSON
        task("bad-q", "11"),                                     // 3 out of range
        String::new(),                                           // 4 blank: ignored
        task("ok2", "0"),                                        // 5 ok (0 is in range)
        task("ok1", "9"),                                        // 6 duplicate id
        r#"{"type":"cost.recorded","ts":"2026-11-01T10:00:00Z","agent_id":"a","category":"productive","cost_usd":-0.5}"#.to_owned(), // 7 negative
        r#"{"type":"error.finding","ts":"2026-11-01T10:00:00","category":"x","severity":"low"}"#.to_owned(), // 8 no zone
        r#"{"type":"error.finding","ts":"2026-11-01T10:00:00Z","category":"x","severity":"urgent"}"#.to_owned(), // 9 bad enum
        "   ".to_owned(),                                        // 10 blank
        r#"{"type":"telemetry.event","ts":"2026-11-01T10:00:00Z","event_type":"x","extra":1}"#.to_owned(), // 11 unknown field
    ];
    let input = lines.join("\n");
    let mut rejects = Vec::new();
    let mut opts = IngestOptions::new(now());
    opts.rejects = Some(&mut rejects);
    let report = store.ingest(input.as_bytes(), opts).expect("ingest");
    assert_eq!(
        (
            report.records,
            report.accepted,
            report.duplicates,
            report.rejected
        ),
        (9, 2, 1, 6)
    );
    let located: Vec<(u64, Option<&str>)> = report
        .rejections
        .iter()
        .map(|r| (r.line, r.field.as_deref()))
        .collect();
    assert_eq!(
        located,
        [
            (2, None),
            (3, Some("quality_score")),
            (7, Some("cost_usd")),
            (8, Some("ts")),
            (9, Some("severity")),
            (11, Some("extra")),
        ]
    );
    assert!(
        report.rejections[5]
            .message
            .contains("unknown field `extra`")
    );
    let rejected_text = String::from_utf8(rejects).expect("utf8");
    let expected: Vec<&str> = [2, 3, 7, 8, 9, 11]
        .iter()
        .map(|i| lines[i - 1].as_str())
        .collect();
    assert_eq!(rejected_text.lines().collect::<Vec<_>>(), expected);
    let stats = store.stats().expect("stats");
    assert_eq!(stats.events, 2);
    assert_eq!(stats.agents, 1);
}

#[test]
fn reingest_is_idempotent_for_ids() {
    let (_dir, mut store) = store();
    let input = format!("{}\n{}\n", task("x1", "5"), task("x2", "6"));
    let first = store
        .ingest(input.as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    let second = store
        .ingest(input.as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!(
        (first.accepted, second.accepted, second.duplicates),
        (2, 0, 2)
    );
    assert_eq!(store.stats().expect("stats").events, 2);
    let rollups = store.stats().expect("stats").rollup_rows;
    assert_eq!(rollups, 2, "one hourly and one daily row, not doubled");
}

#[test]
fn json_array_with_a_bad_element_keeps_the_others() {
    let (_dir, mut store) = store();
    let input = format!(
        "[\n{},\n{},\n{}\n]",
        task("a", "5"),
        task("b", "-1"),
        task("c", "6")
    );
    let report = store
        .ingest(input.as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!((report.accepted, report.rejected), (2, 1));
    assert_eq!(report.rejections[0].line, 3);
    assert_eq!(report.rejections[0].record, 2);
    assert_eq!(store.stats().expect("stats").events, 2);
}

#[test]
fn malformed_json_array_stores_nothing() {
    let (_dir, mut store) = store();
    let input = format!("[{}, {}", task("a", "5"), task("b", "6"));
    let report = store
        .ingest(input.as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!((report.accepted, report.rejected), (0, 1));
    assert!(report.rejections[0].message.contains("nothing was stored"));
    assert_eq!(store.stats().expect("stats").events, 0);
}

#[test]
fn forced_ndjson_reads_an_array_line_as_one_bad_record() {
    let (_dir, mut store) = store();
    let input = format!("[{}]\n{}", task("a", "5"), task("b", "6"));
    let mut opts = IngestOptions::new(now());
    opts.format = InputFormat::Ndjson;
    let report = store.ingest(input.as_bytes(), opts).expect("ingest");
    assert_eq!((report.accepted, report.rejected), (1, 1));
    assert!(
        report.rejections[0]
            .message
            .contains("expected a JSON object")
    );
}

#[test]
fn hostile_lines_are_rejected_without_harm() {
    let (_dir, mut store) = store();
    let huge = format!(
        "{{\"type\":\"telemetry.event\",\"pad\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let mut input = Vec::new();
    input.extend_from_slice(&[0xEF, 0xBB, 0xBF]); // a BOM before the first record is fine
    input.extend_from_slice(task("ok", "5").as_bytes());
    input.extend_from_slice(b"\n");
    input.extend_from_slice(huge.as_bytes());
    input.extend_from_slice(b"\n\xff\xfe{not utf8}\n");
    input.extend_from_slice(task("ok2", "5").as_bytes());
    input.extend_from_slice(b"\r\n");
    let long_name = format!(
        r#"{{"type":"telemetry.event","ts":"2026-11-01T10:00:00Z","event_type":"{}"}}"#,
        "n".repeat(300)
    );
    input.extend_from_slice(long_name.as_bytes());
    let report = store
        .ingest(input.as_slice(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!((report.accepted, report.rejected), (2, 3));
    assert!(report.rejections[0].message.contains("longer than"));
    assert!(report.rejections[1].message.contains("UTF-8"));
    assert_eq!(report.rejections[2].field.as_deref(), Some("event_type"));
    assert_eq!(store.stats().expect("stats").events, 2);
}

#[test]
fn opening_a_foreign_database_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .expect("create");
    drop(conn);
    let err = Store::open(&path).expect_err("should refuse");
    assert!(err.to_string().contains("not a kaizen store"), "{err}");
}

#[test]
fn ids_outlive_retention_so_resent_events_stay_duplicates() {
    let (_dir, mut store) = store();
    let input = task("old", "5");
    assert_eq!(
        store
            .ingest(input.as_bytes(), IngestOptions::new(now()))
            .expect("ingest")
            .accepted,
        1
    );
    let cutoff = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    assert_eq!(store.prune_raw_events(cutoff).expect("prune"), 1);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.events, stats.event_ids), (0, 1));
    let again = store
        .ingest(input.as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!(
        (again.accepted, again.duplicates, again.rejected),
        (0, 1, 0)
    );
    assert_eq!(
        store.stats().expect("stats").rollup_rows,
        2,
        "rollups not doubled"
    );
}

#[test]
fn raw_events_are_kept_verbatim_in_segments() {
    let (dir, mut store) = store();
    let lines: Vec<String> = (0..1100).map(|i| task(&format!("e{i}"), "5")).collect();
    let report = store
        .ingest(lines.join("\n").as_bytes(), IngestOptions::new(now()))
        .expect("ingest");
    assert_eq!(report.accepted, 1100);
    let stats = store.stats().expect("stats");
    // 512 + 512 + 76 records.
    assert_eq!((stats.events, stats.segments), (1100, 3));
    let conn = rusqlite::Connection::open(dir.path().join("k.db")).expect("open raw");
    let bodies: Vec<String> = conn
        .prepare("SELECT body FROM event_segments ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("segments");
    let stored: Vec<&str> = bodies.iter().flat_map(|b| b.lines()).collect();
    assert_eq!(stored, lines.iter().map(String::as_str).collect::<Vec<_>>());
}
