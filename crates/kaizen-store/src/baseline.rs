//! The honest baseline for the ingest benchmark: a bare SQLite insert loop of the same rows
//! into the same `events` table, with no parsing, validation or rollups in the timed part.

use std::time::{Duration, Instant};

use kaizen_core::event::Timestamp;
use rusqlite::params;
use serde::Deserialize;

use crate::{Result, Store};

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

/// Creates a store at `path` and inserts `rows` into its `events` table in one transaction
/// with one prepared statement. Returns the time of the insert loop and the commit.
pub fn bare_insert(path: &std::path::Path, rows: &[RawRow]) -> Result<Duration> {
    let mut store = Store::open(path)?;
    let start = Instant::now();
    let tx = store.conn.transaction()?;
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
