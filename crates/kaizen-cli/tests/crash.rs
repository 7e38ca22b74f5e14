//! Crash tests of the real binary: `kaizen serve` killed with SIGKILL (`Child::kill`) in the
//! middle of its work, restarted on the same store, and the store checked afterwards.
//!
//! * During HTTP ingest: concurrent clients post batches of events with ids; every batch the
//!   server acknowledged (200) is stored, every event exactly once, and a batch that was not
//!   acknowledged is stored whole or not at all (a client resends it after the restart, as a
//!   runtime would).
//! * During rollout checks and the verdict: a rollout whose every check is due is left to the
//!   server's background loop, which is killed again and again while it works; after the last
//!   restart it reaches the same verdict, with the same checks, as an uninterrupted run on a
//!   copy of the store, no org version is applied twice, and the audit has the verdict once.
//! * During a rollback: a human's rollback of an observing rollout is sent over REST while the
//!   server is killed; retried after each restart, it is done exactly once (its operations
//!   executed once, one `rolled_back` transition, no org version, one audit entry of the
//!   decision that succeeded).
//! * A store that cannot be written (a file size limit reached, see
//!   [`a_store_that_cannot_be_written_gives_503_and_loses_nothing_acknowledged`]) answers 503.
//!
//! Kill times are fixed lists (tens to hundreds of milliseconds after start), so each run is a
//! handful of kills and a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use common::{Server, kaizen};
use serde_json::{Value, json};

const ENABLED: (&str, &str) = ("KAIZEN__SELF_IMPROVEMENT__ENABLED", "true");
/// No write budget gets in the way of the load.
const UNLIMITED: (&str, &str) = ("KAIZEN__SERVER__WRITES_PER_MINUTE", "1000000");

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Creates a token with `caps` through the CLI; returns its secret.
fn token(dir: &Path, principal: &str, kind: &str, caps: &[&str]) -> String {
    let mut args = vec!["token", "create", "--principal", principal, "--kind", kind];
    for c in caps {
        args.extend(["--cap", c]);
    }
    args.extend(["--as", "setup", "--json"]);
    let created = kaizen(dir, &args, &[]).ok().json();
    created["secret"].as_str().expect("a secret").to_owned()
}

/// A `task.completed` event with `id`.
fn event(id: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"task.completed","id":"{id}","ts":"{ts}","agent_id":"agent-0001","department":"engineering","role":"sre","task_id":"task-{id}","success":true,"quality_score":7.5}}"#
    )
}

/// Every event id in the raw log, with how often it is stored.
fn stored_ids(db: &Path) -> BTreeMap<String, u32> {
    let conn = rusqlite::Connection::open(db).expect("opening the store");
    let mut stmt = conn
        .prepare("SELECT body FROM event_segments")
        .expect("query");
    let mut out = BTreeMap::new();
    for body in stmt.query_map([], |r| r.get::<_, String>(0)).expect("rows") {
        for line in body.expect("a body").lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line).expect("a stored record");
            let id = v["id"].as_str().expect("an id").to_owned();
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

const BATCH: usize = 40;
const CLIENTS: usize = 4;

#[test]
fn kill_during_http_ingest_loses_no_acknowledged_event_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let secret = token(dir.path(), "runtime", "agent", &["events:write"]);
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    // Per client: batches acknowledged, and the batch in flight when the server died.
    let mut acked: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); CLIENTS];
    let mut pending: Vec<Option<u32>> = vec![None; CLIENTS];
    let mut next_batch: Vec<u32> = vec![0; CLIENTS];
    let mut unacknowledged: BTreeSet<(usize, u32)> = BTreeSet::new();
    for kill_after in [150u64, 400, 250, 600, 300, 500] {
        let server = Server::start(dir.path(), &[UNLIMITED]);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let url = server.url("/api/v1/events");
                let auth = format!("Bearer {secret}");
                let stop = Arc::clone(&stop);
                let ts = ts.clone();
                let mut batch = pending[c].take().unwrap_or(next_batch[c]);
                let mut next = next_batch[c];
                std::thread::spawn(move || {
                    let agent = client();
                    let mut ok = Vec::new();
                    loop {
                        let body: String = (0..BATCH)
                            .map(|k| event(&format!("c{c}-b{batch}-e{k}"), &ts) + "\n")
                            .collect();
                        let sent = agent
                            .post(&url)
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/x-ndjson")
                            .send(body.as_bytes());
                        match sent {
                            Ok(mut r) if r.status() == 200 => {
                                let report: Value = r.body_mut().read_json().expect("a report");
                                // A resent batch may be all duplicates: acknowledged all the same.
                                assert_eq!(
                                    report["accepted"].as_u64().unwrap()
                                        + report["duplicates"].as_u64().unwrap_or(0),
                                    BATCH as u64,
                                    "{report}"
                                );
                                ok.push(batch);
                                if batch == next {
                                    next += 1;
                                }
                                batch = next;
                            }
                            Ok(r) => panic!("batch {batch} of client {c}: status {}", r.status()),
                            // The server died: this batch is unacknowledged.
                            Err(_) => return (ok, Some(batch), next.max(batch + 1)),
                        }
                        if stop.load(Ordering::Relaxed) {
                            return (ok, None, next);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(kill_after));
        drop(server); // SIGKILL, then wait for the process.
        stop.store(true, Ordering::Relaxed);
        for (c, h) in handles.into_iter().enumerate() {
            let (ok, in_flight, next) = h.join().unwrap();
            acked[c].extend(ok);
            if let Some(b) = in_flight {
                unacknowledged.insert((c, b));
            }
            pending[c] = in_flight;
            next_batch[c] = next;
        }
    }
    // Once more, to let every client resend what was in flight at the last kill.
    {
        let server = Server::start(dir.path(), &[UNLIMITED]);
        let agent = client();
        for (c, p) in pending.iter().enumerate() {
            if let Some(batch) = p {
                let body: String = (0..BATCH)
                    .map(|k| event(&format!("c{c}-b{batch}-e{k}"), &ts) + "\n")
                    .collect();
                let r = agent
                    .post(server.url("/api/v1/events"))
                    .header("Authorization", format!("Bearer {secret}"))
                    .header("Content-Type", "application/x-ndjson")
                    .send(body.as_bytes())
                    .unwrap();
                assert_eq!(r.status(), 200);
                acked[c].insert(*batch);
            }
        }
        drop(server);
    }

    let stored = stored_ids(&dir.path().join("kaizen.db"));
    let total_acked: usize = acked.iter().map(BTreeSet::len).sum();
    assert!(
        total_acked >= 20,
        "too few batches to mean anything: {total_acked}"
    );
    assert!(
        !unacknowledged.is_empty(),
        "no kill landed during a request"
    );
    // Every stored event exactly once.
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    // Every acknowledged batch whole; nothing else stored.
    let mut per_batch: BTreeMap<(usize, u32), usize> = BTreeMap::new();
    for id in stored.keys() {
        let (c, rest) = id[1..].split_once("-b").unwrap();
        let (b, _) = rest.split_once("-e").unwrap();
        *per_batch
            .entry((c.parse().unwrap(), b.parse().unwrap()))
            .or_insert(0) += 1;
    }
    for (c, batches) in acked.iter().enumerate() {
        for b in batches {
            assert_eq!(
                per_batch.get(&(c, *b)),
                Some(&BATCH),
                "acknowledged batch {b} of client {c}"
            );
        }
    }
    for ((c, b), n) in &per_batch {
        assert_eq!(*n, BATCH, "batch {b} of client {c} is partly stored");
        assert!(
            acked[*c].contains(b),
            "batch {b} of client {c} was never sent"
        );
    }
    // The store agrees: events counted once, one id row each.
    let stats = kaizen(dir.path(), &["store", "stats", "--json"], &[])
        .ok()
        .json();
    assert_eq!(stats["events"], json!(stored.len()));
    assert_eq!(stats["event_ids"], json!(stored.len()));
}

// ---------------------------------------------------------------------------------------------
// Rollouts

/// The wall clock truncated to the hour, waiting out the last seconds of an hour.
fn current_hour() -> String {
    let mut now = Utc::now();
    if now.minute() == 59 && now.second() >= 45 {
        std::thread::sleep(Duration::from_secs(u64::from(61 - now.second())));
        now = Utc::now();
    }
    let secs = now.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn run(dir: &Path, args: &[&str]) -> Value {
    kaizen(dir, args, &[]).ok().json()
}

/// A store with the budget-overrun dataset (30 agents, 9 days), the standard org plus its
/// agents, and the budget-overrun proposal approved: its before/after rollout is observing;
/// with `due`, moved 49 h into the past, so that every check and the verdict are due. Returns
/// the proposal id.
fn rollout_ready(dir: &Path, due: bool) -> String {
    let end = current_hour();
    kaizen(
        dir,
        &[
            "sim",
            "generate",
            "--agents",
            "30",
            "--days",
            "9",
            "--seed",
            "4",
            "--inject",
            "budget-overrun",
            "--end",
            &end,
            "--output",
            "data.ndjson",
        ],
        &[],
    )
    .ok();
    kaizen(dir, &["ingest", "data.ndjson"], &[]).ok();
    kaizen(dir, &["org", "init"], &[]).ok();
    let text = kaizen(dir, &["org", "export"], &[]).ok().stdout();
    let agents: String = (0..30)
        .map(|i| format!("- id: agent-{i:04}\n  role: sre\n  department: engineering\n"))
        .collect();
    assert!(text.contains("agents: []\n"), "{text}");
    std::fs::write(
        dir.join("org-agents.yaml"),
        text.replace("agents: []\n", &format!("agents:\n{agents}")),
    )
    .unwrap();
    kaizen(dir, &["org", "import", "org-agents.yaml"], &[]).ok();
    let cycle = kaizen(dir, &["cycle", "run", "--json"], &[ENABLED])
        .ok()
        .json();
    let id = cycle["proposals"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no proposal: {cycle:#}"))
        .to_owned();
    kaizen(dir, &["proposals", "approve", &id, "--as", "ana"], &[]).ok();
    if !due {
        return id;
    }
    let db = rusqlite::Connection::open(dir.join("kaizen.db")).unwrap();
    let moved = db
        .execute(
            "UPDATE rollouts SET started_at = started_at - 49 * 3600 * 1000000 WHERE proposal_id = ?1",
            [&id],
        )
        .unwrap();
    assert_eq!(moved, 1);
    id
}

/// What must not depend on crashes: the rollout's state, verdict outcome, checks and rollback
/// progress, the org versions and the proposal's status.
fn outcome(dir: &Path, id: &str) -> Value {
    let show = run(dir, &["rollouts", "show", id, "--json"]);
    let r = &show["rollout"];
    let checks: Vec<Value> = show["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["seq"], c["elapsed_hours"], c["at"], c["outcome"]]))
        .collect();
    let versions = run(dir, &["org", "history", "--json"]);
    let versions: Vec<Value> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].clone())
        .collect();
    let proposal = run(dir, &["proposals", "show", id, "--json"]);
    json!({
        "state": r["state"],
        "verdict": r["verdict"]["outcome"],
        "reverted": r["reverted"],
        "applied_version": r["applied_version"],
        "checks": checks,
        "versions": versions,
        "status": proposal["proposal"]["status"],
        "transitions": proposal["proposal"]["transitions"].as_array().unwrap().len(),
    })
}

fn audit_entries(dir: &Path, operation: &str) -> Vec<Value> {
    let log = run(
        dir,
        &[
            "audit",
            "--operation",
            operation,
            "--json",
            "--limit",
            "500",
        ],
    );
    log["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no audit entries: {log:#}"))
        .clone()
}

fn copy_store(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = from.join(format!("kaizen.db{suffix}"));
        if src.exists() {
            std::fs::copy(&src, to.join(format!("kaizen.db{suffix}"))).unwrap();
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_during_rollout_checks_resumes_to_the_same_verdict_without_applying_twice() {
    let dir = tempfile::tempdir().unwrap();
    let id = rollout_ready(dir.path(), true);
    // The reference: the same store, checked by one uninterrupted `rollouts tick`.
    let reference = tempfile::tempdir().unwrap();
    copy_store(dir.path(), reference.path());
    kaizen(reference.path(), &["rollouts", "tick", "--json"], &[]).ok();
    let want = outcome(reference.path(), &id);
    assert_ne!(want["state"], json!("observing"), "{want:#}");

    let mut progress = Vec::new();
    for kill_after in [5u64, 15, 25, 35, 45, 60] {
        let server = Server::start(dir.path(), &[]);
        std::thread::sleep(Duration::from_millis(kill_after));
        drop(server);
        let r = run(dir.path(), &["rollouts", "show", &id, "--json"]);
        progress.push((
            r["rollout"]["checks_done"].clone(),
            r["rollout"]["state"].clone(),
        ));
    }
    eprintln!("after each kill (checks done, state): {progress:?}");
    // At least one kill interrupted the checks (some done, not all).
    assert!(
        progress
            .iter()
            .any(|(n, state)| *state == json!("observing") && n.as_u64().unwrap() > 0),
        "no kill landed during the checks: {progress:?}"
    );
    let server = Server::start(dir.path(), &[]);
    wait_until("the verdict", Duration::from_secs(60), || {
        run(dir.path(), &["rollouts", "show", &id, "--json"])["rollout"]["state"]
            != json!("observing")
    });
    drop(server);
    let got = outcome(dir.path(), &id);
    assert_eq!(got, want);
    // The verdict is audited once, as in the reference.
    let verdicts = audit_entries(dir.path(), "rollouts.verdict");
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert_eq!(verdicts[0]["actor"], json!("rollout-engine"));
    assert_eq!(verdicts[0]["detail"]["outcome"], want["verdict"]);
}

#[test]
fn kill_during_a_rollback_rolls_back_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let id = rollout_ready(dir.path(), false);
    let versions_before = run(dir.path(), &["org", "history", "--json"]);
    let secret = token(dir.path(), "ana-api", "human", &["*"]);
    let body = json!({"decision": "rollback", "reason": "crash test rollback"});
    let mut statuses = Vec::new();
    let mut refusals = Vec::new();
    for kill_after in [3u64, 10, 25, 60, 0] {
        let server = Server::start(dir.path(), &[]);
        let url = server.url(&format!("/api/v1/rollouts/{id}/decide"));
        let secret = secret.clone();
        let body = body.clone();
        let h = std::thread::spawn(move || {
            client()
                .post(&url)
                .header("Authorization", format!("Bearer {secret}"))
                .send_json(&body)
                .map(|mut r| {
                    let status = r.status().as_u16();
                    (status, r.body_mut().read_to_string().unwrap_or_default())
                })
        });
        if kill_after > 0 {
            std::thread::sleep(Duration::from_millis(kill_after));
            drop(server);
            if let Ok((status, body)) = h.join().unwrap() {
                statuses.push(status);
                refusals.push(body);
            }
        } else {
            let (status, body) = h.join().unwrap().unwrap();
            drop(server);
            statuses.push(status);
            refusals.push(body);
        }
    }
    // At most one attempt rolled it back (200); every later one was refused because it was
    // rolled back already (400, the state refuses the decision).
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 1
            && statuses.iter().all(|s| [200, 400].contains(s)),
        "{statuses:?} {refusals:?}"
    );
    for (status, body) in statuses.iter().zip(&refusals) {
        if *status == 400 {
            assert!(body.contains("is rolled_back"), "{body}");
        }
    }
    let shown = run(dir.path(), &["rollouts", "show", &id, "--json"]);
    let r = &shown["rollout"];
    assert_eq!(r["state"], json!("rolled_back"), "{shown:#}");
    assert_eq!(r["reverted"], json!(1), "the rollback ran once: {shown:#}");
    assert_eq!(r["verdict"]["outcome"], json!("rolled_back"));
    // A rollout's rollback removes the overlay: no org version is made (nor two).
    assert_eq!(
        run(dir.path(), &["org", "history", "--json"]),
        versions_before
    );
    let status = run(dir.path(), &["proposals", "show", &id, "--json"]);
    assert_eq!(status["proposal"]["status"], json!("rolled_back"));
    let rolled_back: Vec<Value> = status["proposal"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to_status"] == json!("rolled_back"))
        .cloned()
        .collect();
    assert_eq!(rolled_back.len(), 1, "{status:#}");
    // The audit has the decision that was done exactly once.
    let done: Vec<Value> = audit_entries(dir.path(), "rollouts.decide")
        .into_iter()
        .filter(|e| e["outcome"] == json!("ok"))
        .collect();
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0]["actor"], json!("ana-api"));
}

// ---------------------------------------------------------------------------------------------
// A store that cannot be written

/// Sets the server's file size limit (`RLIMIT_FSIZE`, what `ulimit -f` sets) to `bytes`
/// (`None`: unlimited) while it runs.
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let v = bytes.unwrap_or(libc::RLIM_INFINITY);
    let limit = libc::rlimit {
        rlim_cur: v,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (null old-limit pointer).
    let rc = unsafe {
        libc::prlimit(
            i32::try_from(pid).unwrap(),
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// A store that cannot be written during ingest: the running server's file size limit is
/// lowered to the current size of the store's write-ahead log, so the operating system refuses
/// the next commit's write (`EFBIG`), SQLite reports an I/O error and rolls the transaction
/// back — the same path as a full disk or quota (`SQLITE_FULL`), exercised on a real file with
/// no test hook in the server. A runtime gets 503 `unavailable` saying the store cannot be
/// written; what was acknowledged before stays stored; once the limit is lifted the failed
/// batches are accepted as new (nothing of them was stored) and nothing is stored twice.
#[test]
fn a_store_that_cannot_be_written_gives_503_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let secret = token(dir.path(), "runtime", "agent", &["events:write"]);
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let server = Server::start(dir.path(), &[UNLIMITED]);
    let agent = client();
    let post = |batch: u32| {
        let body: String = (0..BATCH)
            .map(|k| event(&format!("c0-b{batch}-e{k}"), &ts) + "\n")
            .collect();
        let mut r = agent
            .post(server.url("/api/v1/events"))
            .header("Authorization", format!("Bearer {secret}"))
            .header("Content-Type", "application/x-ndjson")
            .send(body.as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_json::<Value>().unwrap())
    };
    for b in 0..5 {
        let (status, report) = post(b);
        assert_eq!(status, 200, "{report}");
    }
    let wal = dir.path().join("kaizen.db-wal");
    let wal_len = std::fs::metadata(&wal).unwrap().len();
    assert!(wal_len > 0);
    set_file_size_limit(server.pid(), Some(wal_len));
    for b in 5..8 {
        let (status, body) = post(b);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], json!("unavailable"), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("the store cannot be written"), "{message}");
    }
    // Reads still work meanwhile.
    let health = agent.get(server.url("/readyz")).call().unwrap();
    assert_eq!(health.status(), 200);

    set_file_size_limit(server.pid(), None);
    for b in 5..9 {
        let (status, report) = post(b);
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["accepted"], json!(BATCH), "{report}");
        assert_eq!(report["duplicates"], json!(0), "{report}");
    }
    drop(server);
    let stored = stored_ids(&dir.path().join("kaizen.db"));
    assert_eq!(stored.len(), 9 * BATCH);
    assert!(stored.values().all(|n| *n == 1));
}
