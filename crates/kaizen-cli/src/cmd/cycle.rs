//! `kaizen cycle …`.

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::{
    CycleOptions, CycleReport, CycleTrigger, ProposalOutcome, Service, ServiceError,
};
use kaizen_store::Store;

use super::{Ctx, audit, human_actor, service_error};
use crate::cli::CycleCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: CycleCommand) -> Result<u8> {
    let mut store = ctx.open_store()?;
    let mut service = Service {
        store: &mut store,
        config: &ctx.config,
        clock: &ctx.clock,
    };
    match cmd {
        CycleCommand::Run { dry_run, json } => {
            let result = service.run_cycle(CycleOptions {
                trigger: CycleTrigger::Manual,
                dry_run,
            });
            audit_cycle(
                ctx,
                service.store,
                CycleTrigger::Manual,
                dry_run,
                result.as_ref(),
            )?;
            print_report(&result.map_err(service_error)?, json)?;
        }
        CycleCommand::Tick { json } => match service.run_due_cycle() {
            Err(e) => {
                audit_cycle(ctx, service.store, CycleTrigger::Schedule, false, Err(&e))?;
                return Err(service_error(e));
            }
            Ok(Some(report)) => {
                audit_cycle(
                    ctx,
                    service.store,
                    CycleTrigger::Schedule,
                    false,
                    Ok(&report),
                )?;
                if json {
                    output::print_json(&serde_json::json!({ "ran": true, "cycle": report }))?;
                } else {
                    print_report(&report, false)?;
                }
            }
            Ok(None) => {
                let due = service.next_cycle_due().map_err(service_error)?;
                match (json, due) {
                    (true, _) => {
                        output::print_json(&serde_json::json!({ "ran": false, "next_due": due }))?
                    }
                    (false, Some(due)) => {
                        println!("no cycle due; the next one is due at {}", due.to_rfc3339())
                    }
                    (false, None) => {
                        println!("the self-improvement loop is disabled; no cycle is scheduled")
                    }
                }
            }
        },
        CycleCommand::List { limit, json } => {
            let cycles = service.store.cycles(limit)?;
            if json {
                output::print_json(&cycles)?;
            } else if cycles.is_empty() {
                println!("no cycles yet (run `kaizen cycle run`)");
            } else {
                let mut t = output::table();
                t.set_header(vec!["cycle", "started", "trigger", "dry run"]);
                for c in &cycles {
                    t.add_row(vec![
                        Cell::new(&c.id),
                        Cell::new(c.started_at.format("%Y-%m-%d %H:%M:%S")),
                        Cell::new(&c.trigger),
                        Cell::new(if c.dry_run { "yes" } else { "no" }),
                    ]);
                }
                println!("{t}");
            }
        }
        CycleCommand::Show { id, json } => match service.cycle(&id).map_err(service_error)? {
            Some(report) => print_report(&report, json)?,
            None => {
                return Err(super::usage(format!(
                    "no cycle with id {id} (see `kaizen cycle list`)"
                )));
            }
        },
    }
    Ok(0)
}

/// Records a cycle (or its failure) in the audit log as `cycles.run`, by the human running
/// the command, with the cycle's id as the target.
fn audit_cycle(
    ctx: &Ctx,
    store: &mut Store,
    trigger: CycleTrigger,
    dry_run: bool,
    result: Result<&CycleReport, &ServiceError>,
) -> Result<()> {
    let mut detail = serde_json::json!({
        "trigger": trigger.as_str(),
        "dry_run": dry_run,
    });
    if let (Ok(r), Some(d)) = (result, detail.as_object_mut()) {
        d.insert("org_version".into(), r.org_version.into());
        d.insert("queued".into(), r.queued().count().into());
    }
    audit(
        store,
        ctx.now(),
        &human_actor(None),
        "cycles.run",
        result.ok().map(|r| r.id.as_str()),
        None,
        None,
        result.map(|_| ()),
        Some(detail),
    )
}

fn print_report(report: &CycleReport, json: bool) -> Result<()> {
    if json {
        return output::print_json(report);
    }
    println!(
        "cycle {} ({}{}) on org version {}: window {} → {}, {} agents, {} tasks",
        report.id,
        report.trigger.as_str(),
        if report.dry_run { ", dry run" } else { "" },
        report.org_version,
        report
            .window
            .since
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report
            .window
            .until
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report.agents,
        report.tasks
    );
    println!(
        "{} rule(s) fired: {}",
        report.matches.len(),
        report
            .matches
            .iter()
            .map(|m| m.rule_name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if report.proposals.is_empty() {
        println!("no proposals");
    } else {
        let mut t = output::table();
        t.set_header(vec!["proposal", "altitude", "rule", "title", "outcome"]);
        for p in &report.proposals {
            let outcome = match &p.outcome {
                ProposalOutcome::Queued => "queued for review".to_owned(),
                ProposalOutcome::WouldQueue => "would be queued (dry run)".to_owned(),
                ProposalOutcome::Duplicate { existing_id } => {
                    format!("already open as {existing_id}")
                }
                ProposalOutcome::RejectedByGuard { guard, reason } => {
                    format!("rejected by {guard}: {reason}")
                }
            };
            t.add_row(vec![
                Cell::new(&p.id),
                Cell::new(p.altitude.as_str()),
                Cell::new(&p.rule_name),
                Cell::new(&p.title),
                Cell::new(outcome),
            ]);
        }
        println!("{t}");
    }
    for n in &report.notes {
        println!("note: {}: {}", n.rule_name, n.message);
    }
    for f in &report.strategy_failures {
        println!("warning: strategy {} failed: {}", f.strategy, f.error);
    }
    for f in &report.failed_domains {
        println!(
            "warning: the {} aggregator failed: {}",
            f.domain.as_str(),
            f.error
        );
    }
    if report.queued().next().is_some() {
        println!(
            "review with `kaizen proposals show ID`, then `kaizen proposals approve ID` or `reject ID --reason …`"
        );
    }
    Ok(())
}
