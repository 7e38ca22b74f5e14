//! `kaizen store backup` with the real binary while a real `kaizen serve` ingests over HTTP:
//! the backup is taken in the middle of concurrent ingest, restored to a new path, and compared
//! table by table with the store the server went on writing, and with a copy whose rollups and
//! entity tables were rebuilt from the raw events (`kaizen store rebuild-rollups`): it must be a
//! consistent prefix (append-only tables a prefix of the final ones, derived tables exactly
//! what its own raw events give, `PRAGMA integrity_check` ok).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use common::{Server, kaizen};
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use serde_json::{Value, json};

fn token(dir: &Path) -> String {
    let created = kaizen(
        dir,
        &[
            "token",
            "create",
            "--principal",
            "runtime",
            "--kind",
            "agent",
            "--cap",
            "events:write",
            "--as",
            "setup",
            "--json",
        ],
        &[],
    )
    .ok()
    .json();
    created["secret"].as_str().unwrap().to_owned()
}

/// Batch `b` of client `c`: 25 events over 5 agents and the last 30 hours, a mix of task
/// completions and costs.
fn batch(c: usize, b: u32) -> String {
    let now = Utc::now();
    (0..25)
        .map(|k| {
            let id = format!("c{c}-b{b}-e{k}");
            let agent = format!("agent-{:04}", (b as usize + k) % 5);
            let ts = (now - chrono::Duration::minutes(i64::from(b % 30) * 60 + k as i64))
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            let line = if k % 3 == 0 {
                format!(
                    r#"{{"type":"cost.recorded","id":"{id}","ts":"{ts}","agent_id":"{agent}","category":"productive","cost_usd":0.{k:02}1,"model":"large","input_tokens":1000,"output_tokens":200}}"#
                )
            } else {
                format!(
                    r#"{{"type":"task.completed","id":"{id}","ts":"{ts}","agent_id":"{agent}","department":"engineering","role":"sre","task_id":"task-{id}","success":{},"quality_score":{}.5,"duration_seconds":{}}}"#,
                    k % 4 != 1,
                    5 + k % 4,
                    30 + k
                )
            };
            line + "\n"
        })
        .collect()
}

/// Every row of `table`, as text, sorted.
fn rows(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut out: Vec<String> = stmt
        .query_map([], |r| {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(r.get::<_, Sql>(i)?);
            }
            Ok(format!("{row:?}"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort();
    out
}

fn tables(conn: &Connection) -> Vec<String> {
    conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The rows of `table`, with rollup keys spelled out instead of their interned ids.
fn content(conn: &Connection, table: &str) -> Vec<String> {
    match table {
        "rollups" => rows(
            conn,
            "SELECT r.res, r.stream, r.dim, r.bucket, k.dim, k.key, r.stats
             FROM rollups r JOIN rollup_keys k ON k.id = r.key_id",
        ),
        "rollup_keys" => rows(conn, "SELECT dim, key FROM rollup_keys"),
        t => rows(conn, &format!("SELECT * FROM \"{t}\"")),
    }
}

/// The rollup rows by (resolution, stream, dimension, bucket, key), their statistics decoded.
fn rollups(conn: &Connection) -> std::collections::BTreeMap<String, Vec<f64>> {
    let mut stmt = conn
        .prepare(
            "SELECT r.res, r.stream, r.dim, r.bucket, k.key, r.stats
             FROM rollups r JOIN rollup_keys k ON k.id = r.key_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let key = format!(
            "{}/{}/{}/{}/{}",
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?
        );
        let stats: Vec<u8> = r.get(5)?;
        let values = stats
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok((key, values))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn ids_in_segments(conn: &Connection) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stmt = conn.prepare("SELECT body FROM event_segments").unwrap();
    for body in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        for line in body.unwrap().lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(
                out.insert(v["id"].as_str().unwrap().to_owned()),
                "an event stored twice"
            );
        }
    }
    out
}

#[test]
fn a_backup_during_ingest_is_a_consistent_prefix_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let secret = token(dir.path());
    let server = Server::start(
        dir.path(),
        &[("KAIZEN__SERVER__WRITES_PER_MINUTE", "1000000")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|c| {
            let url = server.url("/api/v1/events");
            let auth = format!("Bearer {secret}");
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .proxy(None)
                    .build()
                    .into();
                let mut b = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let mut r = agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/x-ndjson")
                        .send(batch(c, b).as_bytes())
                        .unwrap();
                    assert_eq!(
                        r.status(),
                        200,
                        "{}",
                        r.body_mut().read_to_string().unwrap()
                    );
                    b += 1;
                }
                b
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let report = kaizen(dir.path(), &["store", "backup", "snap.db", "--json"], &[])
        .ok()
        .json();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let sent: u32 = writers.into_iter().map(|h| h.join().unwrap()).sum();
    drop(server);

    // What the backup says about itself.
    let snap = dir.path().join("snap.db");
    assert_eq!(report["integrity"], json!("ok"), "{report:#}");
    assert_eq!(
        report["bytes"],
        json!(std::fs::metadata(&snap).unwrap().len())
    );
    let names: Vec<&str> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for t in [
        "event_segments",
        "event_ids",
        "rollups",
        "audit_log",
        "tokens",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    let backed_up = report["events"].as_u64().unwrap();
    let final_events = u64::from(sent) * 25;
    // In the middle of the ingest: some but not all of it.
    assert!(
        backed_up > 0 && backed_up < final_events,
        "{backed_up} of {final_events}"
    );
    // Nothing partial is left next to it.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    // Restore to a new path: it is a working store with the events the backup reported.
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&snap, restored_dir.path().join("kaizen.db")).unwrap();
    let stats = kaizen(restored_dir.path(), &["store", "stats", "--json"], &[])
        .ok()
        .json();
    assert_eq!(stats["events"], json!(backed_up));
    assert_eq!(stats["event_ids"], json!(backed_up));
    let restored = Connection::open(restored_dir.path().join("kaizen.db")).unwrap();
    let check: String = restored
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        rows(&restored, "PRAGMA foreign_key_check"),
        Vec::<String>::new()
    );
    // Every stored event once, and the id index is exactly the events stored.
    let ids = ids_in_segments(&restored);
    assert_eq!(ids.len() as u64, backed_up);
    let indexed: BTreeSet<String> = restored
        .prepare("SELECT event_id FROM event_ids")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(indexed, ids);
    // Whole batches only: a batch is one transaction.
    let mut per_batch = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        *per_batch
            .entry(id.rsplit_once("-e").unwrap().0.to_owned())
            .or_insert(0) += 1;
    }
    assert!(per_batch.values().all(|n| *n == 25), "{per_batch:?}");

    // A prefix of the store the server went on writing: the same tables, and the append-only
    // ones (raw events, their ids, the audit log, tokens) a subset of the final rows.
    let live = Connection::open(dir.path().join("kaizen.db")).unwrap();
    assert_eq!(tables(&restored), tables(&live));
    for t in [
        "event_segments",
        "event_ids",
        "audit_log",
        "tokens",
        "org_versions",
    ] {
        let (a, b) = (content(&restored, t), content(&live, t));
        let b: BTreeSet<&String> = b.iter().collect();
        for row in &a {
            assert!(
                b.contains(row),
                "{t}: a backed-up row is not in the store: {row}"
            );
        }
    }
    let segments: Vec<i64> = restored
        .prepare("SELECT id FROM event_segments ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let live_segments: Vec<i64> = live
        .prepare("SELECT id FROM event_segments ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        segments[..],
        live_segments[..segments.len()],
        "not a prefix"
    );

    // The derived tables are exactly what the backup's own raw events give: rebuild them in a
    // copy and compare every table.
    let rebuilt_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&snap, rebuilt_dir.path().join("kaizen.db")).unwrap();
    kaizen(rebuilt_dir.path(), &["store", "rebuild-rollups"], &[]).ok();
    let rebuilt = Connection::open(rebuilt_dir.path().join("kaizen.db")).unwrap();
    // Rollup statistics are sums of floats: added in another order (the rebuild reads segment
    // by segment) they may differ in the last bits, so they are compared with a relative
    // tolerance; everything else exactly.
    let (a, b) = (rollups(&restored), rollups(&rebuilt));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the rollup rows of the backup differ from its rebuild"
    );
    for (key, x) in &a {
        let y = &b[key];
        assert_eq!(x.len(), y.len());
        for (u, v) in x.iter().zip(y) {
            let close = u == v || (u - v).abs() <= 1e-9 * u.abs().max(v.abs());
            assert!(close, "rollup {key}: {x:?} vs rebuilt {y:?}");
        }
    }
    for t in tables(&restored) {
        if t == "meta" || t == "rollups" {
            continue;
        }
        let (a, b) = (content(&restored, &t), content(&rebuilt, &t));
        let only_a: Vec<&String> = a.iter().filter(|r| !b.contains(r)).take(3).collect();
        let only_b: Vec<&String> = b.iter().filter(|r| !a.contains(r)).take(3).collect();
        assert!(
            only_a.is_empty() && only_b.is_empty(),
            "table {t} of the backup differs from its rebuild from raw events ({} vs {} rows):\nbackup only: {only_a:?}\nrebuild only: {only_b:?}",
            a.len(),
            b.len()
        );
    }

    // An existing file is never replaced without --force.
    std::fs::write(dir.path().join("taken.db"), b"mine").unwrap();
    kaizen(dir.path(), &["store", "backup", "taken.db"], &[])
        .refused(&["already exists", "--force"]);
    assert_eq!(std::fs::read(dir.path().join("taken.db")).unwrap(), b"mine");
    kaizen(dir.path(), &["store", "backup", "taken.db", "--force"], &[])
        .ok()
        .stdout_has(&["backed up", "integrity ok", "event_segments"]);
    let copy = Connection::open(dir.path().join("taken.db")).unwrap();
    assert_eq!(
        content(&copy, "event_ids").len() as u64,
        final_events,
        "a backup of the stopped store has every event"
    );
}
