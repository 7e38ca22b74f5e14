//! `kaizen store …`.

use anyhow::Result;
use chrono::Duration;

use super::{Ctx, parse_time, usage};
use crate::cli::StoreCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: StoreCommand) -> Result<u8> {
    let mut store = ctx.open_store()?;
    match cmd {
        StoreCommand::Stats { json } => {
            let stats = store.stats()?;
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
            let n = store.rebuild_rollups(force, Some(&progress))?;
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
            let n = store.prune_raw_events(cutoff)?;
            println!(
                "pruned {n} raw events before {} (rollups kept)",
                cutoff.to_rfc3339()
            );
        }
    }
    Ok(0)
}
