//! `kaizen rollouts …`: staged rollouts of approved proposals (list, show, start, tick,
//! decide). The engine is `kaizen_service::rollout`; this only translates.

use anyhow::Result;
use kaizen_core::config::RolloutStrategyKind;
use kaizen_service::ops::{DecideInput, DecisionKind, StartRolloutInput};
use kaizen_service::review::RolloutStarted;
use kaizen_service::{Service, catalog};
use kaizen_store::rollouts::RolloutState;

use super::{Ctx, service_error, usage};
use crate::cli::{DecisionArg, RolloutsCommand, StrategyArg};
use crate::output;

/// Hours an extension adds unless `--hours` says otherwise.
const DEFAULT_EXTEND_HOURS: u32 = 24;

fn strategy(s: StrategyArg) -> RolloutStrategyKind {
    match s {
        StrategyArg::Auto => RolloutStrategyKind::Auto,
        StrategyArg::BeforeAfter => RolloutStrategyKind::BeforeAfter,
        StrategyArg::Canary => RolloutStrategyKind::Canary,
        StrategyArg::AbTest => RolloutStrategyKind::AbTest,
    }
}

pub fn run(ctx: &Ctx, cmd: RolloutsCommand) -> Result<u8> {
    if matches!(
        cmd,
        RolloutsCommand::Start { .. } | RolloutsCommand::Decide { .. }
    ) {
        return human(ctx, cmd);
    }
    let mut store = ctx.open_store()?;
    let service = Service {
        store: &mut store,
        config: &ctx.config,
        clock: &ctx.clock,
    };
    match cmd {
        RolloutsCommand::List { state, json } => {
            let filter = state
                .map(|s| {
                    s.parse::<RolloutState>()
                        .map_err(|e| usage(format!("--state {s:?}: {e}")))
                })
                .transpose()?;
            let rows = service.store.rollouts(filter)?;
            if json {
                output::print_json(&rows)?;
            } else if rows.is_empty() {
                println!(
                    "no rollouts{}",
                    filter.map_or(String::new(), |f| format!(" in state {f}"))
                );
            } else {
                output::print_rollouts(&rows);
            }
        }
        RolloutsCommand::Show { id, json } => {
            let r = service.rollout(&id).map_err(service_error)?;
            let checks = service.store.rollout_checks(&id)?;
            if json {
                output::print_json(&serde_json::json!({ "rollout": r, "checks": checks }))?;
            } else {
                output::print_rollout(&r, &checks);
            }
        }
        RolloutsCommand::Tick { notify_dir, json } => {
            // The rollout engine's turn, as the server's background loop takes it: verdicts
            // audited under the engine's name.
            let (progress, next) = ctx
                .kaizen(notify_dir.as_deref())?
                .tick_rollouts()
                .map_err(service_error)?;
            let failed = progress.iter().any(|p| p.error.is_some());
            if json {
                output::print_json(&serde_json::json!({
                    "progress": progress,
                    "next_check": next,
                }))?;
            } else {
                if progress.is_empty() {
                    println!("no rollout check is due");
                }
                for p in &progress {
                    println!(
                        "{}: {} check(s) run, now {}",
                        p.proposal_id, p.checks_run, p.state
                    );
                    if let Some(v) = &p.verdict {
                        println!("  verdict {}: {}", v.outcome, v.reason);
                    }
                    if let Some(e) = &p.error {
                        println!("  error: {e}");
                    }
                }
                match next {
                    Some(t) => println!("next check due at {}", output::when(Some(t))),
                    None => println!("no rollout is observing"),
                }
            }
            if failed {
                return Ok(1);
            }
        }
        RolloutsCommand::Start { .. } | RolloutsCommand::Decide { .. } => return human(ctx, cmd),
    }
    Ok(0)
}

/// The human decisions: through the gate, as the person at the keyboard (authorised, audited
/// with `via: "cli"`, exactly as over REST, MCP or the web UI).
fn human(ctx: &Ctx, cmd: RolloutsCommand) -> Result<u8> {
    match cmd {
        RolloutsCommand::Start {
            id,
            strategy: s,
            actor,
        } => {
            let who = ctx.local(actor)?;
            let r = ctx
                .kaizen(None)?
                .call::<catalog::RolloutsStart>(
                    &who,
                    StartRolloutInput {
                        id: id.clone(),
                        strategy: s.map(strategy),
                    },
                )
                .map_err(service_error)?;
            let s = RolloutStarted::of(&r);
            println!(
                "started the {} rollout of {id} as {}: {} agent(s) in treatment, {} in control, {} h observation window, first check at {}",
                s.strategy,
                who.auth.principal,
                s.treatment,
                s.control,
                s.window_hours,
                output::when(s.first_check_at)
            );
            if !s.plan.is_empty() {
                println!(
                    "{}: {}",
                    if s.can_conclude { "plan" } else { "WARNING" },
                    s.plan
                );
            }
        }
        RolloutsCommand::Decide {
            id,
            decision,
            reason,
            hours,
            notify_dir,
            actor,
            json,
        } => {
            let decision = match (decision, hours) {
                (DecisionArg::Extend, h) => (
                    DecisionKind::Extend,
                    Some(h.unwrap_or(DEFAULT_EXTEND_HOURS)),
                ),
                (DecisionArg::Apply, None) => (DecisionKind::Apply, None),
                (DecisionArg::Rollback, None) => (DecisionKind::Rollback, None),
                (_, Some(_)) => return Err(usage("--hours goes only with `extend`")),
            };
            let who = ctx.local(actor)?;
            let actor = who.actor();
            let r = ctx
                .kaizen(notify_dir.as_deref())?
                .call::<catalog::RolloutsDecide>(
                    &who,
                    DecideInput {
                        id: id.clone(),
                        decision: decision.0,
                        hours: decision.1,
                        reason,
                    },
                )
                .map_err(service_error)?;
            if json {
                output::print_json(&r)?;
            } else {
                println!(
                    "rollout of {id} is now {} (decided by {})",
                    r.state, actor.name
                );
                if let Some(v) = &r.verdict {
                    println!("  verdict {}: {}", v.outcome, v.reason);
                }
                if let Some(v) = r.applied_version {
                    println!("  applied as org version {v}");
                }
                if r.state == RolloutState::Observing {
                    println!(
                        "  window now {} h; next check at {}",
                        r.window_hours,
                        output::when(r.next_check_at())
                    );
                }
            }
        }
        RolloutsCommand::List { .. }
        | RolloutsCommand::Show { .. }
        | RolloutsCommand::Tick { .. } => return run(ctx, cmd),
    }
    Ok(0)
}
