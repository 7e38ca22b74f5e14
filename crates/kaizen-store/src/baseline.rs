//! The baseline for the ingest benchmark: a bare SQLite insert loop of the same rows, one row
//! per event, into the table a straightforward event log would use (`event_id` unique for
//! idempotency, `ts` indexed for retention), with the store's pragmas and no parsing,
//! validation or rollups in the timed part.

use std::time::{Duration, Instant};

use kaizen_core::event::Timestamp;
use rusqlite::params;
use serde::Deserialize;

use crate::Result;

/// One pre-extracted raw event row.
#[derive(Debug, Clone)]
pub struct RawRow {
    event_id: Option<String>,
    kind: String,
    ts: i64,
    body: String,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    ts: String,
}

/// Extracts the rows of valid NDJSON lines (lines that do not parse are skipped). Not timed.
pub fn prepare_rows(ndjson: &str) -> Vec<RawRow> {
    ndjson
        .lines()
        .filter_map(|line| {
            let head: Head = serde_json::from_str(line).ok()?;
            Some(RawRow {
                event_id: head.id,
                kind: head.kind,
                ts: Timestamp::parse(&head.ts).ok()?.micros(),
                body: line.to_owned(),
            })
        })
        .collect()
}

/// The row-per-event table the baseline inserts into.
const BASELINE_SCHEMA: &str = "
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY,
        event_id    TEXT UNIQUE,
        type        TEXT NOT NULL,
        ts          INTEGER NOT NULL,
        body        TEXT NOT NULL,
        ingested_at INTEGER NOT NULL
    );
    CREATE INDEX events_ts ON events (ts);";

/// Creates a database at `path` with the store's pragmas and inserts `rows` into a
/// row-per-event table in one transaction with one prepared statement. Returns the time of the
/// insert loop and the commit.
pub fn bare_insert(path: &std::path::Path, rows: &[RawRow]) -> Result<Duration> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(crate::WRITER_PRAGMAS)?;
    conn.execute_batch(BASELINE_SCHEMA)?;
    let start = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO events (event_id, type, ts, body, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (event_id) DO NOTHING",
        )?;
        for r in rows {
            stmt.execute(params![r.event_id, r.kind, r.ts, r.body, 0i64])?;
        }
    }
    tx.commit()?;
    Ok(start.elapsed())
}
