//! `kaizen proposals …`: the human side of the approval queue. Approving starts the rollout
//! (`kaizen rollouts …`); `preview` is the applier's check, writing nothing.

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::ops::{ApproveInput, ReasonInput, RejectInput};
use kaizen_service::{Service, catalog};
use kaizen_store::proposals::ProposalStatus;

use super::{Ctx, service_error, usage};
use crate::cli::ProposalsCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: ProposalsCommand) -> Result<u8> {
    if matches!(
        cmd,
        ProposalsCommand::Approve { .. }
            | ProposalsCommand::Reject { .. }
            | ProposalsCommand::Rollback { .. }
    ) {
        return decide(ctx, cmd);
    }
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
            let outcome = service.outcome(&id).map_err(service_error)?;
            if json {
                output::print_json(&serde_json::json!({
                    "proposal": p,
                    "applies_cleanly": check.as_ref().map(Option::is_none),
                    "apply_check": check.clone().flatten(),
                    "outcome": outcome,
                }))?;
            } else {
                output::print_proposal(&p, check);
                if let Some(r) = service.store.rollout(&id)? {
                    println!(
                        "\nRollout: {}, {} (started {}; `kaizen rollouts show {id}`)",
                        r.strategy,
                        r.state,
                        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                output::print_outcome(&outcome);
            }
        }
        ProposalsCommand::Preview { id, json } => {
            let report = service.preview(&id).map_err(service_error)?;
            if json {
                output::print_json(&report)?;
            } else {
                println!(
                    "preview of {id} against org version {}: these changes would be made",
                    report.base_version
                );
                for c in &report.changes {
                    println!("  {c}");
                }
                println!("undone by:");
                for c in &report.rollback {
                    println!("  {c}");
                }
            }
        }
        ProposalsCommand::Approve { .. }
        | ProposalsCommand::Reject { .. }
        | ProposalsCommand::Rollback { .. } => return decide(ctx, cmd),
    }
    Ok(0)
}

/// The human decisions: through the gate, as the person at the keyboard (authorised, audited
/// with `via: "cli"`, exactly as over REST, MCP or the web UI).
fn decide(ctx: &Ctx, cmd: ProposalsCommand) -> Result<u8> {
    match cmd {
        ProposalsCommand::Approve {
            id,
            reason,
            reviewer: who,
            json,
        } => {
            let who = ctx.local(who)?;
            let approved = ctx
                .kaizen(None)?
                .call::<catalog::ProposalsApprove>(
                    &who,
                    ApproveInput {
                        id: id.clone(),
                        reason,
                    },
                )
                .map_err(service_error)?;
            let name = &who.auth.principal;
            if json {
                let mut v = serde_json::to_value(&approved)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("proposal_id".into(), id.clone().into());
                    o.insert("actor".into(), name.clone().into());
                }
                output::print_json(&v)?;
            } else {
                output::print_approved(&id, name, &approved);
            }
        }
        ProposalsCommand::Reject {
            id,
            reason,
            never_again,
            reviewer: who,
        } => {
            let who = ctx.local(who)?;
            ctx.kaizen(None)?
                .call::<catalog::ProposalsReject>(
                    &who,
                    RejectInput {
                        id: id.clone(),
                        reason,
                        never_again,
                    },
                )
                .map_err(service_error)?;
            if never_again {
                println!(
                    "rejected {id} as {}; its change will never be proposed again",
                    who.auth.principal
                );
            } else {
                println!("rejected {id} as {}", who.auth.principal);
            }
        }
        ProposalsCommand::Rollback {
            id,
            reason,
            notify_dir,
            reviewer: who,
            json,
        } => {
            let who = ctx.local(who)?;
            let report = ctx
                .kaizen(notify_dir.as_deref())?
                .call::<catalog::ProposalsRollback>(
                    &who,
                    ReasonInput {
                        id: id.clone(),
                        reason,
                    },
                )
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
        ProposalsCommand::List { .. }
        | ProposalsCommand::Show { .. }
        | ProposalsCommand::Preview { .. } => return run(ctx, cmd),
    }
    Ok(0)
}
