//! `kaizen agents …`: what agents run with.

use std::io::Write;

use anyhow::{Context, Result};
use kaizen_service::effective::EffectiveConfigs;

use super::{Ctx, service_error};
use crate::cli::AgentsCommand;

pub fn run(ctx: &Ctx, cmd: AgentsCommand) -> Result<u8> {
    match cmd {
        AgentsCommand::Config { agent_id, json } => {
            let mut store = ctx.open_store()?;
            let cached = EffectiveConfigs::new()
                .get(&mut store, &agent_id)
                .map_err(service_error)?;
            if json {
                // Exactly the bytes a runtime is served, then a newline.
                let mut out = std::io::stdout().lock();
                out.write_all(cached.json.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush())
                    .context("writing the effective config")?;
            } else {
                print_config(&cached.config);
            }
            Ok(0)
        }
    }
}

fn print_config(c: &kaizen_core::org::EffectiveConfig) {
    println!(
        "agent {}: role {}, department {}",
        c.agent_id, c.role, c.department
    );
    println!("org version {} · etag {}", c.org_version, c.etag);
    if c.overlays.is_empty() {
        println!("overlays: none");
    } else {
        println!(
            "overlays: {} (rollouts this agent is in the treatment group of; `kaizen rollouts show ID`)",
            c.overlays.join(", ")
        );
    }
    println!("\nsettings");
    let leaves = c.settings.leaves();
    if leaves.is_empty() {
        println!("  (none)");
    }
    let width = leaves.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    for (path, value) in leaves {
        println!("  {path:<width$}  {value}");
    }
    println!("\nprinciples");
    if c.principles.is_empty() {
        println!("  (none)");
    }
    for p in &c.principles {
        println!("  {} [{}, {}]", p.id, p.scope, p.mode);
        println!("    {}", p.text);
    }
}
