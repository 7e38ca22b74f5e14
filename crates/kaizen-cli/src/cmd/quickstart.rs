//! `kaizen quickstart`: the main job on the embedded default, end to end: generate a
//! synthetic org, ingest it into a fresh SQLite store, build the snapshot, run the rules.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Duration;
use kaizen_core::rules::RuleEngine;
use kaizen_core::signals::SnapshotBuilder;
use kaizen_sim::{Fault, SimSpec};
use kaizen_store::IngestOptions;

use super::{Ctx, open_store, sim::parse_faults, usage};
use crate::cli::QuickstartArgs;
use crate::output;

pub fn run(ctx: &Ctx, args: &QuickstartArgs) -> Result<u8> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "kaizen-quickstart-{}-{}",
            std::process::id(),
            ctx.now().timestamp()
        )),
    };
    let end = kaizen_sim::current_hour(ctx.now());
    let mut spec = SimSpec::new(args.agents, args.days, args.seed, end);
    spec.faults = if args.inject.is_empty() {
        vec![Fault::BudgetOverrun, Fault::CoordinationOverhead]
    } else {
        parse_faults(&args.inject)?
    };
    spec.validate().map_err(|e| usage(e.to_string()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let data = dir.join("events.ndjson");
    let db: PathBuf = dir.join("kaizen.db");
    if db.exists() {
        return Err(usage(format!(
            "{} already exists; quickstart wants a fresh store (remove it or pick another --dir)",
            db.display()
        )));
    }

    let say = |msg: String| {
        if !ctx.quiet && !args.json {
            eprintln!("{msg}");
        }
    };
    let faults: Vec<&str> = spec.faults.iter().map(Fault::name).collect();
    say(format!(
        "[1/3] generating {} agents × {} days (seed {}, faults: {}) → {}",
        spec.agents,
        spec.days,
        spec.seed,
        if faults.is_empty() {
            "none".to_owned()
        } else {
            faults.join(", ")
        },
        data.display()
    ));
    let stats = {
        let mut out = BufWriter::new(
            File::create(&data).with_context(|| format!("creating {}", data.display()))?,
        );
        let stats = kaizen_sim::generate(&spec, &mut out)?;
        out.flush()?;
        stats
    };

    say(format!(
        "[2/3] ingesting {} events into {}",
        stats.events,
        db.display()
    ));
    let mut store = open_store(&db)?;
    let size = std::fs::metadata(&data).ok().map(|m| m.len());
    let bar = output::byte_progress(ctx.progress() && !args.json, size, "ingest");
    let progress = |b: u64| bar.set_position(b);
    let mut opts = IngestOptions::new(ctx.now());
    opts.progress = Some(&progress);
    let report = store.ingest(BufReader::new(File::open(&data)?), opts)?;
    bar.finish_and_clear();
    if report.rejected > 0 {
        anyhow::bail!(
            "the generator produced {} invalid events; this is a bug",
            report.rejected
        );
    }

    let window_days = i64::from(ctx.config.signals.default_window_days);
    say(format!(
        "[3/3] snapshot of the last {window_days} days and rule evaluation\n"
    ));
    let snapshot = SnapshotBuilder::new(ctx.config.signals.clone()).build(
        store.signal_source(),
        end - Duration::days(window_days),
        end,
    );
    let evaluation = RuleEngine::from_config(&ctx.config.rules).evaluate(&snapshot);
    if args.json {
        output::print_json(&serde_json::json!({
            "store": db.display().to_string(),
            "ingest": report,
            "snapshot": snapshot,
            "matches": evaluation.matches,
            "failures": evaluation.failures,
        }))?;
    } else {
        output::print_snapshot(&snapshot);
        println!();
        output::print_evaluation(&snapshot, &evaluation);
        println!(
            "\nThe data is kept in {}. Explore it with, e.g.:\n  kaizen --store {} snapshot --until {} --json\n  kaizen --store {} rules eval --until {}",
            dir.display(),
            db.display(),
            end.to_rfc3339(),
            db.display(),
            end.to_rfc3339()
        );
    }
    Ok(0)
}
