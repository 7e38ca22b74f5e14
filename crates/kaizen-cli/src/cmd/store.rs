//! `kaizen store …`.

use anyhow::Result;
use chrono::Duration;

use super::{Ctx, parse_time, usage};
use crate::cli::StoreCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: StoreCommand) -> Result<u8> {
    match cmd {
        StoreCommand::Backup { file, force, json } => return backup(ctx, &file, force, json),
        StoreCommand::Stats { json } => {
            let stats = ctx.open_store()?.stats()?;
            if json {
                output::print_json(&stats)?;
            } else {
                output::print_store_stats(&stats);
            }
        }
        StoreCommand::RebuildRollups { force } => {
            let bar = output::count_progress(ctx.progress(), "rebuilding");
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let n = ctx.open_store()?.rebuild_rollups(force, Some(&progress))?;
            bar.finish_and_clear();
            println!("rebuilt rollups from {n} raw events");
        }
        StoreCommand::Prune { before } => {
            let cutoff = match (before, ctx.config.storage.raw_retention_days) {
                (Some(t), _) => parse_time("before", &t)?,
                (None, Some(days)) => ctx.now() - Duration::days(i64::from(days)),
                (None, None) => {
                    return Err(usage(
                        "storage.raw_retention_days is null (keep forever); pass --before TIME to prune anyway",
                    ));
                }
            };
            let n = ctx.open_store()?.prune_raw_events(cutoff)?;
            println!(
                "pruned {n} raw events before {} (rollups kept)",
                cutoff.to_rfc3339()
            );
        }
    }
    Ok(0)
}

/// `kaizen store backup FILE`: never opens the store for writing (a running server keeps
/// writing meanwhile).
fn backup(ctx: &Ctx, file: &std::path::Path, force: bool, json: bool) -> Result<u8> {
    let report =
        kaizen_store::backup::backup(&ctx.store_path, file, force).map_err(|e| match e {
            kaizen_store::StoreError::Refused(m) => usage(m),
            other => anyhow::anyhow!("backing up {}: {other}", ctx.store_path.display()),
        })?;
    if json {
        output::print_json(&report)?;
        return Ok(0);
    }
    println!(
        "backed up {} to {}: {} bytes, {} events, integrity {}",
        report.source, report.path, report.bytes, report.events, report.integrity
    );
    for t in &report.tables {
        println!("  {:<24} {} rows", t.name, t.rows);
    }
    Ok(0)
}
