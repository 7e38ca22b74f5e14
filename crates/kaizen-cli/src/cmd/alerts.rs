//! `kaizen alerts …`: alerts for a human (failed rollbacks, apply conflicts).

use anyhow::Result;
use comfy_table::Cell;
use kaizen_service::catalog;
use kaizen_service::ops::AckInput;

use super::{Ctx, service_error};
use crate::cli::AlertsCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: AlertsCommand) -> Result<u8> {
    let store = ctx.open_store()?;
    match cmd {
        AlertsCommand::List { all, json } => {
            let alerts = store.alerts(all)?;
            if json {
                output::print_json(&alerts)?;
            } else if alerts.is_empty() {
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
        }
        AlertsCommand::Ack { id, actor } => {
            drop(store);
            let who = ctx.local(actor)?;
            ctx.kaizen(None)?
                .call::<catalog::AlertsAck>(&who, AckInput { id })
                .map_err(service_error)?;
            println!("acknowledged alert {id} as {}", who.auth.principal);
        }
    }
    Ok(0)
}
