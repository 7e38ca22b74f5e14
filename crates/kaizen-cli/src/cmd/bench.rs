//! `kaizen bench`: the numbers in BENCHMARKS.md.
//!
//! * `ingest` times `kaizen ingest` (a child process, so its peak RSS can be read) of an NDJSON
//!   file into a fresh store, alternating with a bare SQLite insert loop of the same rows into
//!   the same table, and reports medians and their ratio.
//! * `snapshot` builds a large store once (reused on later runs) and times snapshot builds.
//! * `cycle` times full improvement cycles on such a store.
//! * `rollouts` runs the Monte-Carlo study of the rollout regression detector
//!   (`kaizen_sim::study::matrix`: design × departure × org size × effect) with the configured
//!   detection settings, window and check interval.
//! * `effective-config` times effective-config reads on a temporary store with a live canary
//!   rollout: cached (the read path runtimes poll) and uncached.
//! * `soak` runs a real `kaizen serve` under steady mixed reads and writes for minutes and
//!   reports, per minute, latency percentiles, errors, RSS and open file descriptors
//!   ([`soak`]).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use comfy_table::Cell;
use kaizen_core::signals::SnapshotBuilder;
use kaizen_sim::SimSpec;
use kaizen_store::{IngestOptions, Store, baseline};
use serde::Serialize;

use super::{Ctx, open_store};
use crate::cli::BenchCommand;
use crate::output;

mod soak;

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
        BenchCommand::Rollouts {
            runs,
            sizes,
            designs,
            departures,
            effects,
            seed,
            json,
        } => rollout_study(
            ctx,
            kaizen_sim::study::matrix::MatrixSpec {
                runs: runs.max(1),
                sizes,
                designs,
                departures,
                effects,
                seed,
                ..Default::default()
            },
            json,
        ),
        BenchCommand::EffectiveConfig {
            agents,
            reads,
            json,
        } => effective_config(ctx, agents.max(5), reads.max(1), json),
        BenchCommand::Soak {
            minutes,
            agents,
            reads_per_second,
            batches_per_second,
            dir,
            json,
        } => soak::run(
            ctx,
            &soak::SoakSpec {
                minutes: minutes.max(1),
                agents: agents.max(1),
                reads_per_second: reads_per_second.max(1),
                batches_per_second: batches_per_second.max(1),
            },
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

/// The rollout study's matrix (`kaizen_sim::study::matrix`) with the configured detection
/// settings, window and check interval: a row per design × departure × size × effect, progress
/// on stderr.
fn rollout_study(ctx: &Ctx, spec: kaizen_sim::study::matrix::MatrixSpec, json: bool) -> Result<u8> {
    use kaizen_core::rollout::check::Detection;
    use kaizen_sim::study::matrix::run_matrix;

    let si = &ctx.config.self_improvement;
    let detection = Detection::from_config(&si.regression, &si.rollout.ab_test);
    let window = si.rollout.observation_window_hours.max(1);
    let spec = kaizen_sim::study::matrix::MatrixSpec {
        window_hours: window,
        interval_hours: si.rollout.regression_check_interval_hours.clamp(1, window),
        baseline_hours: window,
        ..spec
    };
    let total = spec.rows().len();
    if total == 0 {
        bail!(
            "no rows: --sizes, --designs, --departures and --effects each need a value (quality+30 runs for orgs of at most 20 agents only)"
        );
    }
    if !ctx.quiet {
        eprintln!(
            "simulating {total} rows × {} rollouts ({} h window, a check every {} h)…",
            spec.runs, spec.window_hours, spec.interval_hours
        );
    }
    let start = Instant::now();
    let rows = run_matrix(&spec, &detection, |done, total, row| {
        if !ctx.quiet {
            let r = &row.report;
            eprintln!(
                "[{done}/{total}] {:>6.1} s  {} {} {} {}: rolled back {:.1} %",
                start.elapsed().as_secs_f64(),
                row.design,
                row.departure,
                row.agents,
                row.effect,
                r.rollback_rate * 100.0
            );
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    if json {
        output::print_json(&serde_json::json!({
            "seconds": seconds,
            "spec": spec,
            "detection": detection,
            "rows": rows,
        }))?;
        return Ok(0);
    }
    let pct = |x: f64| format!("{:.1}", x * 100.0);
    let mut t = output::table();
    t.set_header(vec![
        "design",
        "departure",
        "agents",
        "effect",
        "runs",
        "rolled back % [95 % CI]",
        "applied %",
        "hold %",
        "inconclusive %",
        "median detection h",
    ]);
    for row in &rows {
        let r = &row.report;
        t.add_row(vec![
            Cell::new(row.design),
            Cell::new(row.departure),
            Cell::new(row.agents),
            Cell::new(row.effect),
            Cell::new(r.runs),
            Cell::new(format!(
                "{} [{}–{}]",
                pct(r.rollback_rate),
                pct(r.rollback_rate_ci95.0),
                pct(r.rollback_rate_ci95.1)
            )),
            Cell::new(pct(r.applied_rate)),
            Cell::new(pct(r.hold_rate)),
            Cell::new(pct(r.inconclusive_rate)),
            Cell::new(
                r.median_detection_hours
                    .map_or_else(|| "—".to_owned(), |h| format!("{h:.0}")),
            ),
        ]);
    }
    println!(
        "rollout regression detector: {} simulated rollouts per row, {} h window, a check every {} h, alpha {} ({}), seed {}",
        spec.runs,
        spec.window_hours,
        spec.interval_hours,
        detection.alpha,
        detection.method.as_str(),
        spec.seed
    );
    println!("{t}");
    println!(
        "null rows: false rollbacks; quality-10, cost+15, errors3x rows: power; quality+30 rows: \
         should be applied. {:.1} s.",
        seconds
    );
    Ok(0)
}

#[derive(Serialize)]
struct EffectiveConfigBench {
    agents: u32,
    /// Agents that see the canary overlay.
    treatment_agents: usize,
    /// Cached reads timed.
    reads: u64,
    reads_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    /// Uncached reads timed (each loads the org version and the rollouts and computes).
    uncached_reads: u64,
    uncached_reads_per_sec: f64,
    uncached_p50_us: f64,
    /// Cached over uncached reads per second.
    speedup: f64,
    /// Size of a treatment agent's served JSON.
    json_bytes: usize,
}

/// The org of the benchmark: the standard org plus five departments, `agents` agents spread
/// round-robin over the ten departments and their roles.
fn bench_org(agents: u32) -> kaizen_core::org::OrgDocument {
    use kaizen_core::org::{Agent, Department, OrgDocument, Role};

    let mut doc = OrgDocument::standard();
    for (dept, role) in [
        ("platform", "platform-engineer"),
        ("legal", "counsel"),
        ("finance", "accountant"),
        ("marketing", "marketer"),
        ("design", "designer"),
    ] {
        doc.departments.push(Department {
            id: dept.into(),
            description: None,
        });
        doc.roles.push(Role {
            id: role.into(),
            description: None,
            department: Some(dept.into()),
        });
    }
    let departments: Vec<(String, Vec<String>)> = doc
        .departments
        .iter()
        .map(|d| {
            let roles = doc
                .roles
                .iter()
                .filter(|r| r.department.as_deref().is_none_or(|x| x == d.id))
                .map(|r| r.id.clone())
                .collect();
            (d.id.clone(), roles)
        })
        .collect();
    for i in 0..agents as usize {
        let (dept, roles) = &departments[i % departments.len()];
        let role = roles
            .get((i / departments.len()) % roles.len().max(1))
            .cloned()
            .unwrap_or_default();
        doc.agents.push(Agent {
            id: format!("agent-{i:05}"),
            role,
            department: dept.clone(),
        });
    }
    doc
}

/// Effective-config reads on a temporary store: an org of `agents` agents and one live canary
/// rollout of a settings change.
fn effective_config(ctx: &Ctx, agents: u32, reads: u64, json: bool) -> Result<u8> {
    use std::hint::black_box;

    use kaizen_core::altitude::Altitude;
    use kaizen_core::config::RolloutStrategyKind;
    use kaizen_core::improve::guards::proposal_fingerprint;
    use kaizen_core::improve::{ImprovementProposal, Rationale, Risk, RollbackPlan};
    use kaizen_core::org::OrgChange;
    use kaizen_core::org::standard::DEFAULT_TIER;
    use kaizen_core::rules::RuleSeverity;
    use kaizen_service::Service;
    use kaizen_service::effective::EffectiveConfigs;
    use kaizen_service::rollback::RollbackExecutor;
    use kaizen_store::proposals::{Actor, ActorKind, QueueOutcome};

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let mut store = open_store(&dir.path().join("bench.db"))?;
    let now = ctx.now();
    let doc = bench_org(agents);
    let ids: Vec<String> = doc.agents.iter().map(|a| a.id.clone()).collect();
    store.org_import(doc, "bench", now)?;

    let mut proposal = ImprovementProposal {
        id: String::new(),
        altitude: Altitude::ConfigTuning,
        title: "Lower models.default_tier: \"large\" → \"medium\"".into(),
        description: "effective-config benchmark".into(),
        rationale: Rationale {
            rule_name: "budget_overrun".into(),
            severity: RuleSeverity::Warning,
            description: "benchmark".into(),
            signal_context: Default::default(),
            threshold: None,
        },
        changes: vec![OrgChange::SetSetting {
            path: DEFAULT_TIER.into(),
            from: Some("large".into()),
            to: Some("medium".into()),
        }],
        rollback: RollbackPlan { operations: vec![] },
        alternatives: vec![],
        confidence: 0.9,
        risk: Risk::Low,
        rollout: RolloutStrategyKind::Canary,
        primary_metric: Default::default(),
        observation_window_hours: 48,
        source_cycle: None,
        created_at: now,
    };
    proposal.refresh_derived();
    let pid = match store.queue_proposal(&proposal, &[], &proposal_fingerprint(&proposal), now)? {
        QueueOutcome::Queued { id } => id,
        other => bail!("the benchmark proposal was not queued: {other:?}"),
    };
    let mut config = ctx.config.clone();
    config.self_improvement.rollout.default_strategy = RolloutStrategyKind::Canary;
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &ctx.clock,
    };
    let executor = RollbackExecutor::default();
    let mut started = None;
    for k in 1..=10 {
        let reviewer = Actor {
            name: format!("bench-reviewer-{k}"),
            kind: ActorKind::Human,
        };
        let a = service
            .approve(&pid, &reviewer, None, &executor)
            .map_err(|e| anyhow::anyhow!(e))?;
        if a.approved {
            started = Some(a.rollout.ok_or_else(|| {
                anyhow::anyhow!(
                    "the benchmark rollout did not start: {}",
                    a.rollout_error.unwrap_or_default()
                )
            })?);
            break;
        }
    }
    if started.is_none() {
        bail!("the benchmark proposal needs more than 10 approvals");
    }
    let rollout = service.rollout(&pid).map_err(|e| anyhow::anyhow!(e))?;
    let treatment = rollout.assignment.treatment.clone();
    let control = rollout.assignment.control.clone();

    // The overlay is live for the treatment group only, and the cache agrees with a fresh
    // computation.
    let mut cache = EffectiveConfigs::new();
    let (Some(t_id), Some(c_id)) = (treatment.first(), control.first()) else {
        bail!("the canary has no treatment or no control group");
    };
    let t_cfg = cache
        .get(&mut store, t_id)
        .map_err(|e| anyhow::anyhow!(e))?;
    let c_cfg = cache
        .get(&mut store, c_id)
        .map_err(|e| anyhow::anyhow!(e))?;
    if t_cfg.config.overlays != [pid.clone()]
        || !c_cfg.config.overlays.is_empty()
        || t_cfg.config.settings.get(DEFAULT_TIER) == c_cfg.config.settings.get(DEFAULT_TIER)
    {
        bail!("the canary overlay is not served as expected");
    }
    for id in [t_id, c_id] {
        let fresh =
            EffectiveConfigs::compute_uncached(&mut store, id).map_err(|e| anyhow::anyhow!(e))?;
        if fresh
            != cache
                .get(&mut store, id)
                .map_err(|e| anyhow::anyhow!(e))?
                .config
        {
            bail!("the cached config of {id} differs from a fresh computation");
        }
    }
    let json_bytes = t_cfg.json.len();

    // Warm-up: every agent once.
    for id in &ids {
        black_box(cache.get(&mut store, id).map_err(|e| anyhow::anyhow!(e))?);
    }
    let n = ids.len();
    let mut latencies =
        Vec::with_capacity(usize::try_from(reads).unwrap_or(usize::MAX).min(1 << 26));
    let start = Instant::now();
    for i in 0..reads {
        let id = &ids[(i % n as u64) as usize];
        let t0 = Instant::now();
        let c = cache.get(&mut store, id).map_err(|e| anyhow::anyhow!(e))?;
        latencies.push(t0.elapsed().as_nanos() as u64);
        black_box(c);
    }
    let cached_secs = start.elapsed().as_secs_f64();

    let uncached_reads = (reads / 1000).clamp(50, 1000).min(reads);
    let mut uncached = Vec::with_capacity(uncached_reads as usize);
    let start = Instant::now();
    for i in 0..uncached_reads {
        let id = &ids[(i % n as u64) as usize];
        let t0 = Instant::now();
        black_box(
            EffectiveConfigs::compute_uncached(&mut store, id).map_err(|e| anyhow::anyhow!(e))?,
        );
        uncached.push(t0.elapsed().as_nanos() as u64);
    }
    let uncached_secs = start.elapsed().as_secs_f64();

    let quantile_us = |v: &mut Vec<u64>, q: f64| {
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1)) - 1;
        v.get(i).map_or(f64::NAN, |ns| *ns as f64 / 1000.0)
    };
    let reads_per_sec = reads as f64 / cached_secs;
    let uncached_reads_per_sec = uncached_reads as f64 / uncached_secs;
    let result = EffectiveConfigBench {
        agents,
        treatment_agents: treatment.len(),
        reads,
        reads_per_sec,
        p50_us: quantile_us(&mut latencies, 0.5),
        p99_us: quantile_us(&mut latencies, 0.99),
        max_us: quantile_us(&mut latencies, 1.0),
        uncached_reads,
        uncached_reads_per_sec,
        uncached_p50_us: quantile_us(&mut uncached, 0.5),
        speedup: reads_per_sec / uncached_reads_per_sec,
        json_bytes,
    };
    if json {
        output::print_json(&result)?;
    } else {
        println!(
            "effective-config reads, {} agents ({} in a live canary), round-robin",
            agents, result.treatment_agents
        );
        println!(
            "  cached    {:>12.0} reads/s   p50 {:>8.2} µs   p99 {:>8.2} µs   max {:>8.1} µs   ({} reads)",
            result.reads_per_sec, result.p50_us, result.p99_us, result.max_us, reads
        );
        println!(
            "  uncached  {:>12.0} reads/s   p50 {:>8.2} µs   ({} reads)",
            result.uncached_reads_per_sec, result.uncached_p50_us, uncached_reads
        );
        println!(
            "  speedup   {:>12.0}×   served JSON {} bytes",
            result.speedup, result.json_bytes
        );
    }
    Ok(0)
}
