//! `kaizen alerts …`: alerts for a human (automatic and failed rollbacks, apply conflicts,
//! stuck rollouts, …), their acknowledgement, and their delivery to the configured sinks.

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::catalog;
use kaizen_service::ops::AckInput;
use kaizen_store::alerts::DeliveryState;

use super::{Ctx, service_error};
use crate::cli::{AlertsCommand, DeliveryStateArg};
use crate::output;

pub fn run(ctx: &Ctx, cmd: AlertsCommand) -> Result<u8> {
    match cmd {
        AlertsCommand::List { all, json } => {
            let store = ctx.open_store()?;
            let alerts = store.alerts(all)?;
            if json {
                output::print_json(&alerts)?;
                return Ok(0);
            }
            if alerts.is_empty() {
                println!(
                    "{}",
                    if all {
                        "no alerts"
                    } else {
                        "no unacknowledged alerts"
                    }
                );
            } else {
                let mut t = output::table();
                t.set_header(vec![
                    "id",
                    "raised",
                    "last",
                    "count",
                    "severity",
                    "kind",
                    "proposal",
                    "message",
                    "acknowledged",
                ]);
                for a in &alerts {
                    t.add_row(vec![
                        Cell::new(a.id),
                        Cell::new(output::when(Some(a.at))),
                        Cell::new(output::when(Some(a.last_at))),
                        Cell::new(a.count),
                        Cell::new(&a.severity),
                        Cell::new(&a.kind),
                        Cell::new(a.proposal_id.as_deref().unwrap_or("—")),
                        Cell::new(&a.message),
                        Cell::new(match (&a.acknowledged_by, a.acknowledged_at) {
                            (Some(by), at) => format!("{by}, {}", output::when(at)),
                            (None, _) => "—".to_owned(),
                        }),
                    ]);
                }
                println!("{t}");
            }
            let counts = store.alert_outbox_counts()?;
            if counts.pending > 0 || counts.failed > 0 {
                println!(
                    "notifications: {} pending, {} failed (kaizen alerts outbox)",
                    counts.pending, counts.failed
                );
            }
        }
        AlertsCommand::Ack { id, actor } => {
            let who = ctx.local(actor)?;
            ctx.kaizen(None)?
                .call::<catalog::AlertsAck>(&who, AckInput { id })
                .map_err(service_error)?;
            println!("acknowledged alert {id} as {}", who.auth.principal);
        }
        AlertsCommand::Deliver { json } => {
            let kaizen = ctx.kaizen(None)?;
            let stuck = kaizen.raise_stuck_rollouts().map_err(service_error)?;
            let report = kaizen.deliver_alerts().map_err(service_error)?;
            if json {
                output::print_json(&serde_json::json!({
                    "stuck_rollout_alerts": stuck,
                    "delivery": report,
                }))?;
            } else {
                if stuck > 0 {
                    println!("raised {stuck} stuck-rollout alert(s)");
                }
                println!(
                    "{} delivery attempt(s): {} delivered, {} to retry, {} given up; {} waiting for a sink that failed",
                    report.attempted,
                    report.delivered,
                    report.retrying,
                    report.failed,
                    report.deferred
                );
                if let Some(next) = report.next_due {
                    println!("next delivery due {}", output::when(Some(next)));
                }
            }
        }
        AlertsCommand::Outbox { state, limit, json } => {
            let state = state.map(|s| match s {
                DeliveryStateArg::Pending => DeliveryState::Pending,
                DeliveryStateArg::Delivered => DeliveryState::Delivered,
                DeliveryStateArg::Failed => DeliveryState::Failed,
            });
            let rows = ctx.open_store()?.alert_outbox(state, limit)?;
            if json {
                output::print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no alert deliveries");
            } else {
                let mut t = output::table();
                t.set_header(vec![
                    "id",
                    "alert",
                    "sink",
                    "state",
                    "attempts",
                    "next",
                    "done",
                    "last error",
                ]);
                for r in &rows {
                    t.add_row(vec![
                        Cell::new(r.id),
                        Cell::new(r.alert_id),
                        Cell::new(&r.sink),
                        Cell::new(r.state.as_str()),
                        Cell::new(r.attempts),
                        Cell::new(if r.state == DeliveryState::Pending {
                            output::when(Some(r.next_at))
                        } else {
                            "—".to_owned()
                        }),
                        Cell::new(output::when(r.done_at)),
                        Cell::new(r.last_error.as_deref().unwrap_or("—")),
                    ]);
                }
                println!("{t}");
            }
        }
    }
    Ok(0)
}
