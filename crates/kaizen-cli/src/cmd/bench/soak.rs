//! `kaizen bench soak`: a real `kaizen serve` (this binary, a child process on a loopback port)
//! under steady mixed load for N minutes.
//!
//! * Writers post batches of 100 simulated events (`kaizen_sim`, a new seed whenever a batch
//!   of generated data is used up, so every event is new) at `batches_per_second`.
//! * Readers issue `reads_per_second` reads in a fixed mix: an agent's effective config (60 %),
//!   the same with the last `ETag` (10 %, a 304), the proposal list, the audit log and
//!   `/metrics` (10 % each).
//! * Every second the server's RSS (`VmRSS` of `/proc/PID/status`) and open file descriptors
//!   (`/proc/PID/fd`) are sampled.
//!
//! Load is paced (open loop per thread: a late request is not made up for by a burst), so the
//! numbers show how latency and memory evolve under a constant load, not peak throughput. Per
//! minute it reports request counts, p50/p99/max latency of reads and writes, errors, and the
//! server's RSS and file descriptors at the end of the minute; at the end, the events every
//! writer had acknowledged and the events stored (they must be equal).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kaizen_core::auth::Grant;
use kaizen_lab::client::Client;
use kaizen_sim::SimSpec;
use kaizen_store::auth::NewToken;
use kaizen_store::proposals::ActorKind;
use serde::Serialize;

use super::{bench_org, remove_db};
use crate::cmd::{Ctx, open_store};
use crate::output;

/// The load of a soak run.
#[derive(Debug, Clone, Serialize)]
pub struct SoakSpec {
    pub minutes: u32,
    pub agents: u32,
    pub reads_per_second: u32,
    pub batches_per_second: u32,
}

/// Events per posted batch.
const BATCH: usize = 100;
const READERS: u32 = 4;
const WRITERS: u32 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// One request: when (ms since the start), what, how long (µs), whether it succeeded.
struct Sample {
    at_ms: u64,
    kind: Kind,
    micros: u64,
    ok: bool,
}

/// The server's resources at one moment.
struct Usage {
    at_ms: u64,
    rss_kib: u64,
    fds: u64,
}

#[derive(Debug, Serialize)]
struct SoakMinute {
    minute: u32,
    reads: usize,
    read_p50_ms: f64,
    read_p99_ms: f64,
    read_max_ms: f64,
    writes: usize,
    write_p50_ms: f64,
    write_p99_ms: f64,
    write_max_ms: f64,
    errors: usize,
    rss_mib: f64,
    fds: u64,
}

#[derive(Debug, Serialize)]
struct SoakResult {
    spec: SoakSpec,
    minutes: Vec<SoakMinute>,
    events_acknowledged: u64,
    events_stored: u64,
    peak_rss_mib: f64,
}

/// `kaizen serve` as a child process, stopped (Ctrl-C, then kill) when dropped.
struct ServeChild {
    child: Child,
    base: String,
}

impl ServeChild {
    fn start(db: &std::path::Path) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the kaizen binary")?;
        let mut child = Command::new(exe)
            .arg("--store")
            .arg(db)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("KAIZEN_CONFIG")
            // The load is one token's; the per-token write budget is not what is measured.
            .env("KAIZEN__SERVER__WRITES_PER_MINUTE", "10000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kaizen serve")?;
        let Some(stderr) = child.stderr.take() else {
            bail!("kaizen serve has no stderr pipe");
        };
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                bail!("kaizen serve ended before listening");
            };
            let line = line.context("reading the output of kaizen serve")?;
            if let Some(rest) = line.strip_prefix("kaizen serve: http://") {
                let addr = rest.split('/').next().unwrap_or_default();
                break format!("http://{addr}");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, base })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ctrl-C, then waits up to 30 s for a clean stop (kill after that).
    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: sends SIGINT to our own child process.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn usage_of(pid: u32, at_ms: u64) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Some(Usage {
        at_ms,
        rss_kib,
        fds,
    })
}

fn token(
    store: &mut kaizen_store::Store,
    principal: &str,
    kind: ActorKind,
    caps: &[&str],
) -> Result<String> {
    let caps: Vec<String> = caps.iter().map(|s| (*s).to_owned()).collect();
    let grant = Grant::parse(&caps).map_err(|e| anyhow::anyhow!(e))?;
    Ok(store
        .token_create(
            &NewToken {
                principal,
                kind,
                grant: &grant,
                expires_at: None,
                created_by: "kaizen bench soak",
            },
            chrono::Utc::now(),
        )
        .map_err(|e| anyhow::anyhow!("creating a token: {e}"))?
        .secret)
}

/// Runs `step` every `interval` (skipping missed beats) until `stop`, recording a sample per
/// call.
fn paced(
    start: Instant,
    interval: Duration,
    offset: Duration,
    stop: &AtomicBool,
    mut step: impl FnMut() -> (Kind, bool),
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = start + offset;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let t = Instant::now();
        let (kind, ok) = step();
        samples.push(Sample {
            at_ms: u64::try_from(t.duration_since(start).as_millis()).unwrap_or(u64::MAX),
            kind,
            micros: u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX),
            ok,
        });
        next += interval;
        let now = Instant::now();
        if next < now {
            // Behind: skip the missed beats instead of bursting.
            let behind = (now - next).as_nanos() / interval.as_nanos().max(1);
            next += interval * u32::try_from(behind + 1).unwrap_or(u32::MAX);
        }
    }
    samples
}

/// Batches of 100 new events, generated a simulated day at a time.
struct EventSource {
    seed: u64,
    step: u64,
    lines: Vec<Vec<u8>>,
}

impl EventSource {
    fn next_batch(&mut self) -> Result<Vec<u8>> {
        if self.lines.len() < BATCH {
            let end = kaizen_sim::current_hour(chrono::Utc::now());
            let spec = SimSpec::new(50, 1, self.seed, end);
            self.seed += self.step;
            let mut out = Vec::new();
            kaizen_sim::generate(&spec, &mut out)?;
            let mut lines: Vec<Vec<u8>> = out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            lines.reverse();
            self.lines = lines;
        }
        let mut batch = Vec::with_capacity(BATCH * 300);
        for _ in 0..BATCH {
            if let Some(line) = self.lines.pop() {
                batch.extend_from_slice(&line);
                batch.push(b'\n');
            }
        }
        Ok(batch)
    }
}

fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

pub fn run(ctx: &Ctx, spec: &SoakSpec, dir: Option<PathBuf>, json: bool) -> Result<u8> {
    let (dir, _tmp) = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            (d, None)
        }
        None => {
            let t = tempfile::tempdir().context("creating a temporary directory")?;
            (t.path().to_owned(), Some(t))
        }
    };
    let db = dir.join("soak.db");
    remove_db(&db);
    let (writer_token, reader_token, ids) = {
        let mut store = open_store(&db)?;
        let doc = bench_org(spec.agents);
        let ids: Vec<String> = doc.agents.iter().map(|a| a.id.clone()).collect();
        store.org_import(doc, "bench", ctx.now())?;
        let w = token(
            &mut store,
            "soak-runtime",
            ActorKind::Agent,
            &["events:write"],
        )?;
        let r = token(&mut store, "soak-reader", ActorKind::Human, &["*:read"])?;
        (w, r, Arc::new(ids))
    };
    let mut server = ServeChild::start(&db)?;
    let pid = server.pid();
    if !ctx.quiet && !json {
        eprintln!(
            "soak: kaizen serve (pid {pid}) at {} for {} min: {} reads/s, {} batches of {BATCH} events/s",
            server.base, spec.minutes, spec.reads_per_second, spec.batches_per_second
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let client = Client::new(&server.base, &writer_token);
        let stop = Arc::clone(&stop);
        let acked = Arc::clone(&acknowledged);
        let interval =
            Duration::from_secs_f64(f64::from(WRITERS) / f64::from(spec.batches_per_second));
        threads.push(std::thread::spawn(move || {
            let mut source = EventSource {
                seed: 1_000 + u64::from(w),
                step: u64::from(WRITERS),
                lines: Vec::new(),
            };
            let offset = interval.mul_f64(f64::from(w) / f64::from(WRITERS));
            paced(start, interval, offset, &stop, || {
                let ok = source.next_batch().is_ok_and(|batch| {
                    let n = batch.iter().filter(|b| **b == b'\n').count() as u64;
                    let sent = client.send_events(&batch).is_ok();
                    if sent {
                        acked.fetch_add(n, Ordering::Relaxed);
                    }
                    sent
                });
                (Kind::Write, ok)
            })
        }));
    }
    for r in 0..READERS {
        let client = Client::new(&server.base, &reader_token);
        let stop = Arc::clone(&stop);
        let ids = Arc::clone(&ids);
        let interval =
            Duration::from_secs_f64(f64::from(READERS) / f64::from(spec.reads_per_second));
        threads.push(std::thread::spawn(move || {
            let mut i = r as usize;
            let mut etags: Vec<Option<String>> = vec![None; ids.len()];
            let offset = interval.mul_f64(f64::from(r) / f64::from(READERS));
            paced(start, interval, offset, &stop, || {
                i += 1;
                let agent = (i / 10) % ids.len();
                let ok = match i % 10 {
                    6 => {
                        let tag = etags[agent].clone();
                        client
                            .get(
                                &format!("/api/v1/agents/{}/config", ids[agent]),
                                tag.as_deref(),
                            )
                            .is_ok_and(|rep| rep.ok() || rep.status == 304)
                    }
                    7 => client
                        .get("/api/v1/proposals?limit=50", None)
                        .is_ok_and(|rep| rep.ok()),
                    8 => client
                        .get("/api/v1/audit?limit=20", None)
                        .is_ok_and(|rep| rep.ok()),
                    9 => client.get("/metrics", None).is_ok_and(|rep| rep.ok()),
                    _ => match client.get(&format!("/api/v1/agents/{}/config", ids[agent]), None) {
                        Ok(rep) if rep.ok() => {
                            etags[agent] = rep.etag;
                            true
                        }
                        _ => false,
                    },
                };
                (Kind::Read, ok)
            })
        }));
    }
    let total = Duration::from_secs(u64::from(spec.minutes) * 60);
    let mut usage = Vec::new();
    while start.elapsed() < total {
        std::thread::sleep(Duration::from_secs(1).min(total.saturating_sub(start.elapsed())));
        let at = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match usage_of(pid, at) {
            Some(u) => usage.push(u),
            None => {
                stop.store(true, Ordering::Relaxed);
                bail!("kaizen serve (pid {pid}) is gone");
            }
        }
        if !ctx.quiet && !json && at % 60_000 < 1_000 && at >= 60_000 {
            eprintln!("soak: minute {} done", at / 60_000);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for t in threads {
        match t.join() {
            Ok(s) => samples.extend(s),
            Err(_) => bail!("a load thread panicked"),
        }
    }
    server.stop();
    let events_stored = open_store(&db)?.stats()?.events;

    let mut minutes = Vec::new();
    for m in 0..spec.minutes {
        let (from, to) = (u64::from(m) * 60_000, u64::from(m + 1) * 60_000);
        let in_minute = |s: &&Sample| s.at_ms >= from && s.at_ms < to;
        let lat = |kind: Kind| {
            let mut v: Vec<u64> = samples
                .iter()
                .filter(in_minute)
                .filter(|s| s.kind == kind)
                .map(|s| s.micros)
                .collect();
            v.sort_unstable();
            v
        };
        let (reads, writes) = (lat(Kind::Read), lat(Kind::Write));
        let errors = samples.iter().filter(in_minute).filter(|s| !s.ok).count();
        let last = usage.iter().rev().find(|u| u.at_ms < to && u.at_ms >= from);
        minutes.push(SoakMinute {
            minute: m + 1,
            reads: reads.len(),
            read_p50_ms: quantile_ms(&reads, 0.5),
            read_p99_ms: quantile_ms(&reads, 0.99),
            read_max_ms: quantile_ms(&reads, 1.0),
            writes: writes.len(),
            write_p50_ms: quantile_ms(&writes, 0.5),
            write_p99_ms: quantile_ms(&writes, 0.99),
            write_max_ms: quantile_ms(&writes, 1.0),
            errors,
            rss_mib: last.map_or(f64::NAN, |u| u.rss_kib as f64 / 1024.0),
            fds: last.map_or(0, |u| u.fds),
        });
    }
    let result = SoakResult {
        spec: spec.clone(),
        minutes,
        events_acknowledged: acknowledged.load(Ordering::Relaxed),
        events_stored,
        peak_rss_mib: usage.iter().map(|u| u.rss_kib).max().unwrap_or(0) as f64 / 1024.0,
    };
    if json {
        output::print_json(&result)?;
    } else {
        println!(
            "soak: {} min, {} reads/s, {} batches of {BATCH} events/s against kaizen serve",
            spec.minutes, spec.reads_per_second, spec.batches_per_second
        );
        println!(
            "{:>6} {:>8} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>6} {:>8} {:>5}",
            "minute",
            "reads",
            "p50 ms",
            "p99 ms",
            "max ms",
            "writes",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "RSS MiB",
            "fds"
        );
        for m in &result.minutes {
            println!(
                "{:>6} {:>8} {:>9.2} {:>9.2} {:>9.1} {:>7} {:>9.2} {:>9.2} {:>9.1} {:>6} {:>8.1} {:>5}",
                m.minute,
                m.reads,
                m.read_p50_ms,
                m.read_p99_ms,
                m.read_max_ms,
                m.writes,
                m.write_p50_ms,
                m.write_p99_ms,
                m.write_max_ms,
                m.errors,
                m.rss_mib,
                m.fds
            );
        }
        println!(
            "events acknowledged {} · stored {} · peak RSS {:.1} MiB",
            result.events_acknowledged, result.events_stored, result.peak_rss_mib
        );
    }
    if result.events_acknowledged != result.events_stored {
        bail!(
            "{} events were acknowledged but {} are stored",
            result.events_acknowledged,
            result.events_stored
        );
    }
    Ok(0)
}
