//! A real storage fault in one domain (a corrupt rollup row) degrades only that domain.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_core::signals::{SignalsConfig, SnapshotBuilder};
use kaizen_core::snapshot::Domain;
use kaizen_store::{IngestOptions, Store};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[test]
fn corrupt_telemetry_rollup_fails_only_telemetry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.db");
    let mut store = Store::open(&path).expect("open");
    let input = r#"{"type":"task.completed","ts":"2026-11-01T10:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"k","success":true,"quality_score":6}
{"type":"telemetry.event","ts":"2026-11-01T10:00:00Z","event_type":"llm.request"}
{"type":"error.finding","ts":"2026-11-01T10:00:00Z","category":"timeout","severity":"low"}"#;
    store
        .ingest(
            input.as_bytes(),
            IngestOptions::new(t("2026-11-02T00:00:00Z")),
        )
        .expect("ingest");
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        // Stream 6 is telemetry; truncate its stats blobs.
        let n = conn
            .execute("UPDATE rollups SET stats = x'0102' WHERE stream = 6", [])
            .expect("corrupt");
        assert_eq!(n, 2);
    }
    let s = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        t("2026-11-01T00:00:00Z"),
        t("2026-11-02T00:00:00Z"),
    );
    assert_eq!(s.failed_domains.len(), 1, "{:?}", s.failed_domains);
    assert_eq!(s.failed_domains[0].domain, Domain::Telemetry);
    assert!(
        s.failed_domains[0].error.contains("corrupt rollup row"),
        "{}",
        s.failed_domains[0].error
    );
    assert_eq!(s.telemetry.event_count, 0);
    // The others are intact.
    assert_eq!(s.performance.avg_quality_score, Some(6.0));
    assert_eq!(s.errors.total_findings, 1);
}
