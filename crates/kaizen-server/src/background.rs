//! The background loop of `kaizen serve`: runs the scheduled cycle when it is due and every due
//! rollout check, then sleeps until the next rollout check or `server.loop_interval_seconds`,
//! whichever comes first. State lives in the store, so a restart resumes where it stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kaizen_store::auth::{AuditEntry, AuditOutcome};
use kaizen_store::proposals::ActorKind;

use crate::AppState;

/// Runs until `stop` turns true.
pub async fn run(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let max_sleep = Duration::from_secs(u64::from(state.config.server.loop_interval_seconds));
    loop {
        let st = Arc::clone(&state);
        let next = tokio::task::spawn_blocking(move || once(&st)).await;
        let sleep = match next {
            Ok(Some(due)) => {
                let wait = (due - state.clock.now()).to_std().unwrap_or(Duration::ZERO);
                // A simulated clock may run faster than real time; never sleep past the cap.
                wait.clamp(Duration::from_millis(200), max_sleep)
            }
            Ok(None) => max_sleep,
            Err(e) => {
                tracing::error!(error = %e, "background loop iteration panicked");
                max_sleep
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// One iteration; returns when the next rollout check is due.
pub fn once(state: &AppState) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut store = state.store();
    let mut service = kaizen_service::Service {
        store: &mut store,
        config: &state.config,
        clock: state.clock.as_ref(),
    };
    if state.config.self_improvement.enabled {
        let start = Instant::now();
        match service.run_due_cycle() {
            Ok(Some(report)) => {
                crate::telemetry::cycle(start.elapsed().as_secs_f64());
                tracing::info!(cycle = %report.id, "scheduled cycle ran");
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "scheduled cycle failed"),
        }
    }
    let progress = match service.tick_rollouts(&state.executor) {
        Ok(progress) => progress,
        Err(e) => {
            tracing::error!(error = %e, "rollout tick failed");
            Vec::new()
        }
    };
    let next = service.next_rollout_check().ok().flatten();
    if !progress.is_empty() {
        state.invalidate_caches();
    }
    let now = state.clock.now();
    for p in progress
        .iter()
        .filter(|p| p.checks_run > 0 || p.verdict.is_some())
    {
        tracing::info!(proposal = %p.proposal_id, checks = p.checks_run, state = %p.state, "rollout progressed");
        // The engine's verdicts are state changes too: audit them under its name.
        if let Some(v) = &p.verdict {
            let entry = AuditEntry {
                at: now,
                actor: kaizen_service::rollout::ENGINE,
                actor_kind: ActorKind::System,
                operation: "rollouts.verdict",
                target: Some(&p.proposal_id),
                outcome: if p.error.is_some() {
                    AuditOutcome::Error
                } else {
                    AuditOutcome::Ok
                },
                before: None,
                after: Some(p.state.as_str()),
                detail: Some(serde_json::json!({
                    "outcome": v.outcome,
                    "reason": v.reason,
                    "checks_run": p.checks_run,
                })),
            };
            if let Err(e) = store.audit_append(&entry) {
                tracing::error!(error = %e, "auditing a rollout verdict failed");
            }
        }
    }
    next
}
