//! `kaizen alerts …`: alerts for a human (failed rollbacks, apply conflicts).

use anyhow::{Result, anyhow};
use comfy_table::Cell;
use kaizen_store::StoreError;

use super::{Ctx, audit, human_actor, usage};
use crate::cli::AlertsCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: AlertsCommand) -> Result<u8> {
    let mut store = ctx.open_store()?;
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
            let actor = human_actor(actor);
            let result = store
                .alert_acknowledge(id, &actor.name, ctx.now())
                .map_err(|e| match e {
                    StoreError::Refused(m) => usage(m),
                    e => anyhow!(e),
                });
            let target = id.to_string();
            audit(
                &mut store,
                ctx.now(),
                &actor,
                "alerts.ack",
                Some(&target),
                None,
                result.is_ok().then_some("acknowledged"),
                result.as_ref().map(|_| ()),
                None,
            )?;
            result?;
            println!("acknowledged alert {id} as {}", actor.name);
        }
    }
    Ok(0)
}
