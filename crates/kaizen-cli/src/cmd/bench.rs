//! `kaizen bench`: the numbers in BENCHMARKS.md.
//!
//! * `ingest` times `kaizen ingest` (a child process, so its peak RSS can be read) of an NDJSON
//!   file into a fresh store, alternating with a bare SQLite insert loop of the same rows into
//!   the same table, and reports medians and their ratio.
//! * `snapshot` builds a large store once (reused on later runs) and times snapshot builds.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use kaizen_core::signals::SnapshotBuilder;
use kaizen_sim::SimSpec;
use kaizen_store::{IngestOptions, Store, baseline};
use serde::Serialize;

use super::{Ctx, open_store};
use crate::cli::BenchCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: BenchCommand) -> Result<u8> {
    match cmd {
        BenchCommand::Ingest {
            events,
            runs,
            dir,
            json,
        } => ingest(ctx, events, runs.max(1), dir, json),
        BenchCommand::Cycle {
            agents,
            events,
            iterations,
            dir,
            json,
        } => cycle(ctx, agents, events, iterations.max(2), dir, json),
        BenchCommand::Snapshot {
            agents,
            events,
            days,
            iterations,
            dir,
            json,
        } => snapshot(
            ctx,
            agents,
            events,
            days.max(7),
            iterations.max(2),
            dir,
            json,
        ),
    }
}

fn work_dir(dir: Option<PathBuf>, ctx: &Ctx) -> Result<PathBuf> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "kaizen-bench-{}-{}",
            std::process::id(),
            ctx.now().timestamp()
        ))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Writes only the first `limit` lines it is given.
struct LineLimit<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for LineLimit<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(buf.len());
        }
        let mut end = buf.len();
        for (i, b) in buf.iter().enumerate() {
            if *b == b'\n' {
                self.left -= 1;
                if self.left == 0 {
                    end = i + 1;
                    break;
                }
            }
        }
        self.inner.write_all(&buf[..end])?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A spec whose output has at least `events` events (calibrated on a small run).
fn spec_for(agents: u32, days: u32, events: u64, end: DateTime<Utc>) -> Result<SimSpec> {
    let mut probe = SimSpec::new(agents.min(100), 7, 1, end);
    let probe_stats = kaizen_sim::generate(&probe, &mut std::io::sink())?;
    let per_task =
        probe_stats.events as f64 / (f64::from(probe.agents) * 7.0 * probe.tasks_per_agent_day);
    probe.agents = agents;
    probe.days = days;
    probe.tasks_per_agent_day =
        (events as f64 * 1.03 / (f64::from(agents) * f64::from(days) * per_task)).max(0.1);
    probe.validate()?;
    Ok(probe)
}

/// Median, 90th percentile and minimum of timing samples, in milliseconds.
#[derive(Serialize)]
struct Spread {
    median_ms: f64,
    p90_ms: f64,
    min_ms: f64,
}

impl Spread {
    fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
            sorted
                .get(i.min(sorted.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        Self {
            median_ms: median(sorted.clone()),
            p90_ms: at(0.9),
            min_ms: sorted.first().copied().unwrap_or(f64::NAN),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[derive(Serialize)]
struct IngestBench {
    events: u64,
    file_mib: f64,
    runs: u32,
    kaizen_ingest_seconds: Vec<f64>,
    bare_insert_seconds: Vec<f64>,
    kaizen_events_per_second: f64,
    bare_events_per_second: f64,
    ratio: f64,
    /// The largest peak RSS (VmHWM) `kaizen ingest` reported over the runs.
    peak_rss_mib: f64,
}

fn ingest(ctx: &Ctx, events: u64, runs: u32, dir: Option<PathBuf>, json: bool) -> Result<u8> {
    let dir = work_dir(dir, ctx)?;
    let file = dir.join(format!("bench-{events}.ndjson"));
    let end = kaizen_sim::current_hour(ctx.now());
    let spec = spec_for(200, 14, events, end)?;
    {
        let mut out = LineLimit {
            inner: BufWriter::with_capacity(1 << 20, File::create(&file)?),
            left: events,
        };
        kaizen_sim::generate(&spec, &mut out)?;
        out.flush()?;
    }
    let text = std::fs::read_to_string(&file)?;
    let rows = baseline::prepare_rows(&text);
    drop(text);
    if rows.len() as u64 != events {
        bail!("generated {} rows, wanted {events}", rows.len());
    }
    let exe = std::env::current_exe().context("locating the kaizen binary")?;
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    let mut peak_rss_mib = 0.0f64;
    for run in 0..runs {
        let db = dir.join(format!("bare-{run}.db"));
        remove_db(&db);
        bare.push(baseline::bare_insert(&db, &rows)?.as_secs_f64());
        remove_db(&db);

        let db = dir.join(format!("ingest-{run}.db"));
        remove_db(&db);
        let start = Instant::now();
        let out = Command::new(&exe)
            .args(["--quiet", "--store"])
            .arg(&db)
            .args(["ingest", "--json"])
            .arg(&file)
            .env_remove("KAIZEN_CONFIG")
            .output()
            .context("running kaizen ingest")?;
        let secs = start.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "kaizen ingest failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        if report["accepted"].as_u64() != Some(events) {
            bail!(
                "kaizen ingest accepted {} of {events} events",
                report["accepted"]
            );
        }
        ours.push(secs);
        peak_rss_mib = peak_rss_mib.max(report["peak_rss_mib"].as_f64().unwrap_or(f64::NAN));
        remove_db(&db);
        if !ctx.quiet && !json {
            eprintln!(
                "run {}: kaizen ingest {secs:.2}s, bare insert {:.2}s",
                run + 1,
                bare[bare.len() - 1]
            );
        }
    }
    let result = IngestBench {
        events,
        file_mib: std::fs::metadata(&file)
            .map(|m| m.len() as f64 / 1_048_576.0)
            .unwrap_or(f64::NAN),
        runs,
        kaizen_events_per_second: events as f64 / median(ours.clone()),
        bare_events_per_second: events as f64 / median(bare.clone()),
        ratio: median(bare.clone()) / median(ours.clone()),
        kaizen_ingest_seconds: ours,
        bare_insert_seconds: bare,
        peak_rss_mib,
    };
    let _ = std::fs::remove_file(&file);
    if json {
        output::print_json(&result)?;
    } else {
        println!(
            "ingest of {} events ({:.0} MiB NDJSON), median of {} runs",
            result.events, result.file_mib, runs
        );
        println!(
            "  kaizen ingest     {:>10.0} events/s",
            result.kaizen_events_per_second
        );
        println!(
            "  bare insert loop  {:>10.0} events/s",
            result.bare_events_per_second
        );
        println!("  ratio             {:>10.1} %", result.ratio * 100.0);
        println!("  peak RSS (ingest) {:>10.1} MiB", result.peak_rss_mib);
    }
    Ok(0)
}

/// A benchmark store at `db` built once by `build` (given the data's end, the current hour)
/// and reused on later runs; returns the data's end. A `.end` file next to it marks a
/// complete build.
fn cached_store(
    ctx: &Ctx,
    db: &Path,
    build: impl FnOnce(DateTime<Utc>) -> Result<()>,
) -> Result<DateTime<Utc>> {
    let marker = db.with_extension("end");
    let cached = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok());
    if let Some(end) = cached.filter(|_| db.exists()) {
        return Ok(end.with_timezone(&Utc));
    }
    remove_db(db);
    let end = kaizen_sim::current_hour(ctx.now());
    build(end)?;
    std::fs::write(&marker, end.to_rfc3339())?;
    Ok(end)
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[derive(Serialize)]
struct SnapshotBench {
    agents: u32,
    events: u64,
    rollup_rows: u64,
    window: String,
    first_build_ms: f64,
    #[serde(flatten)]
    spread: Spread,
    iterations: u32,
}

fn snapshot(
    ctx: &Ctx,
    agents: u32,
    events: u64,
    days: u32,
    iterations: u32,
    dir: Option<PathBuf>,
    json: bool,
) -> Result<u8> {
    let dir = work_dir(dir, ctx)?;
    let db = dir.join(format!("snapshot-{agents}a-{events}e-{days}d.db"));
    let end = cached_store(ctx, &db, |end| {
        let spec = StoreSpec {
            agents,
            days,
            events,
            end,
            faults: &[],
        };
        build_store(ctx, &db, &spec, json)
    })?;
    let store = open_store(&db)?;
    let stats = store.stats()?;
    let builder = SnapshotBuilder::new(ctx.config.signals.clone());
    let (since, until) = (end - ChronoDuration::days(7), end);
    let time = |store: &Store| {
        let start = Instant::now();
        let s = builder.build(store.signal_source(), since, until);
        (start.elapsed(), s)
    };
    let (first, snap) = time(&store);
    if !snap.failed_domains.is_empty() || snap.performance.agent_count == 0 {
        bail!("benchmark snapshot is broken: {:?}", snap.failed_domains);
    }
    let samples: Vec<f64> = (0..iterations).map(|_| ms(time(&store).0)).collect();
    let result = SnapshotBench {
        agents,
        events: stats.events,
        rollup_rows: stats.rollup_rows,
        window: format!("{} → {}", since.to_rfc3339(), until.to_rfc3339()),
        first_build_ms: ms(first),
        spread: Spread::of(&samples),
        iterations,
    };
    if json {
        output::print_json(&result)?;
    } else {
        println!(
            "snapshot of {} agents, {} stored events ({} rollup rows), window {}",
            agents, result.events, result.rollup_rows, result.window
        );
        println!(
            "  first build (cold connections) {:>8.2} ms",
            result.first_build_ms
        );
        println!(
            "  median of {:<4}                  {:>8.2} ms",
            iterations, result.spread.median_ms
        );
        println!(
            "  p90                            {:>8.2} ms",
            result.spread.p90_ms
        );
        println!(
            "  min                            {:>8.2} ms",
            result.spread.min_ms
        );
    }
    Ok(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Generates straight into the store through a pipe (no intermediate file).
/// What a benchmark store holds.
#[derive(Clone, Copy)]
struct StoreSpec<'a> {
    agents: u32,
    days: u32,
    events: u64,
    end: DateTime<Utc>,
    faults: &'a [kaizen_sim::Fault],
}

fn build_store(ctx: &Ctx, db: &Path, spec: &StoreSpec<'_>, json: bool) -> Result<()> {
    let StoreSpec {
        agents,
        days,
        events,
        end,
        faults,
    } = *spec;
    let mut spec = spec_for(agents, days, events, end)?;
    spec.faults = faults.to_vec();
    if !ctx.quiet && !json {
        eprintln!(
            "building a store of ~{events} events for {agents} agents over {days} days at {} (once; reused later)…",
            db.display()
        );
    }
    let (reader, writer) = std::io::pipe()?;
    let generator = std::thread::spawn(move || -> Result<()> {
        let mut out = LineLimit {
            inner: BufWriter::with_capacity(1 << 20, writer),
            left: events,
        };
        kaizen_sim::generate(&spec, &mut out)?;
        out.flush()?;
        Ok(())
    });
    let mut store = open_store(db)?;
    let bar = output::byte_progress(ctx.progress() && !json, None, "ingest");
    let progress = |b: u64| bar.set_position(b);
    let mut opts = IngestOptions::new(ctx.now());
    opts.progress = Some(&progress);
    let report = store.ingest(BufReader::with_capacity(1 << 20, reader), opts)?;
    bar.finish_and_clear();
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
    if report.rejected > 0 {
        bail!("{} generated events were rejected", report.rejected);
    }
    Ok(())
}

#[derive(Serialize)]
struct CycleBench {
    agents: u32,
    events: u64,
    matches: usize,
    proposals: usize,
    first_cycle_ms: f64,
    #[serde(flatten)]
    spread: Spread,
    iterations: u32,
}

/// Full improvement cycles (snapshot → rules → strategies → guards → queue → cycle record) on a
/// large store of an org with three faults, so that rules fire and strategies work.
fn cycle(
    ctx: &Ctx,
    agents: u32,
    events: u64,
    iterations: u32,
    dir: Option<PathBuf>,
    json: bool,
) -> Result<u8> {
    use kaizen_core::clock::ManualClock;
    use kaizen_service::{CycleOptions, CycleTrigger, Service};
    use kaizen_sim::Fault;

    let dir = work_dir(dir, ctx)?;
    let db = dir.join(format!("cycle-{agents}a-{events}e.db"));
    let end = cached_store(ctx, &db, |end| {
        let faults = [
            Fault::BudgetOverrun,
            Fault::CoordinationOverhead,
            Fault::ErrorSpike,
        ];
        let spec = StoreSpec {
            agents,
            days: 7,
            events,
            end,
            faults: &faults,
        };
        build_store(ctx, &db, &spec, json)?;
        open_store(&db)?.org_import(kaizen_core::org::OrgDocument::standard(), "bench", end)?;
        Ok(())
    })?;
    let mut store = open_store(&db)?;
    let mut config = ctx.config.clone();
    config.self_improvement.enabled = true;
    config.self_improvement.guards.proposal_rate_limit = u32::MAX / 2;
    let clock = ManualClock::new(end);
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };
    let mut run = || -> Result<(f64, usize, usize)> {
        clock.advance(ChronoDuration::milliseconds(1));
        let start = Instant::now();
        let report = service
            .run_cycle(CycleOptions {
                trigger: CycleTrigger::Manual,
                dry_run: false,
            })
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok((
            ms(start.elapsed()),
            report.matches.len(),
            report.proposals.len(),
        ))
    };
    let (first, matches, proposals) = run()?;
    if matches == 0 || proposals == 0 {
        bail!(
            "benchmark cycle fired {matches} rules and made {proposals} proposals; expected some"
        );
    }
    let samples: Vec<f64> = (0..iterations)
        .map(|_| run().map(|r| r.0))
        .collect::<Result<_>>()?;
    let result = CycleBench {
        agents,
        events: store.stats()?.events,
        matches,
        proposals,
        first_cycle_ms: first,
        spread: Spread::of(&samples),
        iterations,
    };
    if json {
        output::print_json(&result)?;
    } else {
        println!(
            "improvement cycle, {} agents, {} stored events: {} rules fired, {} proposals",
            agents, result.events, matches, proposals
        );
        println!(
            "  first cycle (opens connections)    {:>8.2} ms",
            result.first_cycle_ms
        );
        println!(
            "  median of {:<4} (duplicates)      {:>8.2} ms",
            iterations, result.spread.median_ms
        );
        println!(
            "  p90                               {:>8.2} ms",
            result.spread.p90_ms
        );
        println!(
            "  min                               {:>8.2} ms",
            result.spread.min_ms
        );
    }
    Ok(0)
}
