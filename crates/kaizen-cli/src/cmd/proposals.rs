//! `kaizen proposals …`: the human side of the approval queue.

use std::path::Path;

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::Service;
use kaizen_store::mutators::{FileMutator, OrgMutator};
use kaizen_store::proposals::{Actor, ActorKind, ProposalStatus};

use super::{Ctx, service_error, usage};
use crate::cli::ProposalsCommand;
use crate::output;

fn reviewer(name: Option<String>) -> Actor {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| "cli".to_owned());
    Actor {
        name,
        kind: ActorKind::Human,
    }
}

fn mutators(dir: Option<&Path>) -> Vec<FileMutator> {
    dir.map(|d| FileMutator::new(d.to_path_buf()))
        .into_iter()
        .collect()
}

pub fn run(ctx: &Ctx, cmd: ProposalsCommand) -> Result<u8> {
    let mut store = ctx.open_store()?;
    let mut service = Service {
        store: &mut store,
        config: &ctx.config,
        clock: &ctx.clock,
    };
    match cmd {
        ProposalsCommand::List {
            status,
            limit,
            json,
        } => {
            let filter = match status {
                Some(s) => Some(
                    s.parse::<ProposalStatus>()
                        .map_err(|e| usage(format!("--status {s:?}: {e}")))?,
                ),
                None => None,
            };
            let (rows, total) = service.store.proposals(filter, limit, 0)?;
            if json {
                output::print_json(&serde_json::json!({ "total": total, "proposals": rows }))?;
            } else if rows.is_empty() {
                println!(
                    "no proposals{}",
                    filter.map_or(String::new(), |f| format!(" with status {}", f.as_str()))
                );
            } else {
                let mut t = output::table();
                t.set_header(vec![
                    "proposal", "status", "altitude", "risk", "rule", "title", "seen",
                ]);
                for p in &rows {
                    t.add_row(vec![
                        Cell::new(&p.id),
                        Cell::new(p.status.as_str()),
                        Cell::new(p.altitude.as_str()),
                        Cell::new(format!("{:?}", p.risk).to_lowercase()),
                        Cell::new(&p.rule_name),
                        Cell::new(&p.title),
                        Cell::new(format!("{}×", p.occurrences)),
                    ]);
                }
                println!("{t}");
                if total > rows.len() as u64 {
                    println!("{} of {total} shown (--limit)", rows.len());
                }
            }
        }
        ProposalsCommand::Show { id, json } => {
            let p = service.proposal(&id).map_err(service_error)?;
            // Only an open proposal can still be applied; for a closed one the question is moot.
            let check = p
                .status
                .is_open()
                .then(|| service.check(&p).err().map(|e| e.to_string()));
            if json {
                output::print_json(&serde_json::json!({
                    "proposal": p,
                    "applies_cleanly": check.as_ref().map(Option::is_none),
                    "apply_check": check.clone().flatten(),
                }))?;
            } else {
                output::print_proposal(&p, check);
            }
        }
        ProposalsCommand::Approve {
            id,
            reason,
            reviewer: who,
        } => {
            let actor = reviewer(who);
            service
                .approve(&id, &actor, reason.as_deref())
                .map_err(service_error)?;
            println!(
                "approved {id} as {}; apply it with `kaizen proposals apply {id}`",
                actor.name
            );
        }
        ProposalsCommand::Reject {
            id,
            reason,
            reviewer: who,
        } => {
            let actor = reviewer(who);
            service
                .reject(&id, &actor, &reason)
                .map_err(service_error)?;
            println!("rejected {id} as {}", actor.name);
        }
        ProposalsCommand::Apply {
            id,
            dry_run,
            notify_dir,
            reviewer: who,
            json,
        } => {
            let files = mutators(notify_dir.as_deref());
            let refs: Vec<&dyn OrgMutator> = files.iter().map(|m| m as &dyn OrgMutator).collect();
            let report = service
                .apply(&id, &reviewer(who), dry_run, &refs)
                .map_err(service_error)?;
            if json {
                output::print_json(&report)?;
            } else {
                match report.new_version {
                    Some(v) => println!("applied {id}: org version {} → {v}", report.base_version),
                    None => println!(
                        "dry run of {id} against org version {}: these changes would be made",
                        report.base_version
                    ),
                }
                for c in &report.changes {
                    println!("  {c}");
                }
                println!("undone by:");
                for c in &report.rollback {
                    println!("  {c}");
                }
                for n in &report.notifications {
                    if let Some(e) = &n.error {
                        println!("warning: notifying {} failed: {e}", n.mutator);
                    }
                }
            }
        }
        ProposalsCommand::Rollback {
            id,
            reason,
            notify_dir,
            reviewer: who,
            json,
        } => {
            let files = mutators(notify_dir.as_deref());
            let refs: Vec<&dyn OrgMutator> = files.iter().map(|m| m as &dyn OrgMutator).collect();
            let report = service
                .rollback(&id, &reviewer(who), &reason, &refs)
                .map_err(service_error)?;
            if json {
                output::print_json(&report)?;
            } else {
                println!("rolled back {id} as org version {}:", report.new_version);
                for c in &report.changes {
                    println!("  {c}");
                }
            }
        }
    }
    Ok(0)
}
