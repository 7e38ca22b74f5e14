//! `kaizen cycle …`.

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::catalog::CyclesRun;
use kaizen_service::ops::RunCycleInput;
use kaizen_service::{CycleReport, ProposalOutcome, Service};

use super::{Ctx, service_error};
use crate::cli::CycleCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: CycleCommand) -> Result<u8> {
    match cmd {
        CycleCommand::Run { dry_run, json } => run_now(ctx, dry_run, json),
        CycleCommand::Tick { json } => tick(ctx, json),
        CycleCommand::List { limit, json } => list(ctx, limit, json),
        CycleCommand::Show { id, json } => show(ctx, &id, json),
    }
}

/// `kaizen cycle run`: through the gate, as the person at the keyboard, authorised and
/// audited like `POST /cycles`.
fn run_now(ctx: &Ctx, dry_run: bool, json: bool) -> Result<u8> {
    let report = ctx
        .kaizen(None)?
        .call::<CyclesRun>(&ctx.local(None)?, RunCycleInput { dry_run })
        .map_err(service_error)?;
    print_report(&report, json)?;
    Ok(0)
}

/// `kaizen cycle tick`: the scheduled cycle if it is due, as `cycles.run` (trigger `schedule`)
/// through the gate, like the server's loop (`Kaizen::run_due_cycle`).
fn tick(ctx: &Ctx, json: bool) -> Result<u8> {
    let kaizen = ctx.kaizen(None)?;
    let ran = kaizen
        .run_due_cycle(&ctx.local(None)?)
        .map_err(service_error)?;
    if let Some(report) = ran {
        if json {
            output::print_json(&serde_json::json!({ "ran": true, "cycle": report }))?;
        } else {
            print_report(&report, false)?;
        }
        return Ok(0);
    }
    let due = {
        let mut store = kaizen.store();
        let service = Service {
            store: &mut store,
            config: &ctx.config,
            clock: &ctx.clock,
        };
        service.next_cycle_due().map_err(service_error)?
    };
    match (json, due) {
        (true, _) => output::print_json(&serde_json::json!({ "ran": false, "next_due": due }))?,
        (false, Some(due)) => {
            println!("no cycle due; the next one is due at {}", due.to_rfc3339())
        }
        (false, None) => println!("the self-improvement loop is disabled; no cycle is scheduled"),
    }
    Ok(0)
}

fn list(ctx: &Ctx, limit: usize, json: bool) -> Result<u8> {
    let cycles = ctx.open_store()?.cycles(limit)?;
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
    Ok(0)
}

fn show(ctx: &Ctx, id: &str, json: bool) -> Result<u8> {
    let mut store = ctx.open_store()?;
    let service = Service {
        store: &mut store,
        config: &ctx.config,
        clock: &ctx.clock,
    };
    match service.cycle(id).map_err(service_error)? {
        Some(report) => print_report(&report, json)?,
        None => {
            return Err(super::usage(format!(
                "no cycle with id {id} (see `kaizen cycle list`)"
            )));
        }
    }
    Ok(0)
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
