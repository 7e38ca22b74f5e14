//! The background loop of `kaizen serve`: runs the scheduled cycle when it is due and every due
//! rollout check, then sleeps until the next rollout check or `server.loop_interval_seconds`,
//! whichever comes first. State lives in the store, so a restart resumes where it stopped.

use std::sync::Arc;
use std::time::Duration;

use crate::AppState;

/// Runs until `stop` turns true.
pub async fn run(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let max_sleep = Duration::from_secs(u64::from(state.server().loop_interval_seconds));
    loop {
        let st = Arc::clone(&state);
        let next = tokio::task::spawn_blocking(move || once(&st)).await;
        let sleep = match next {
            Ok(Some(due)) => {
                let wait = (due - state.clock().now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
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

/// One iteration (`Kaizen::background_once`); returns when the next rollout check is due.
pub fn once(state: &AppState) -> Option<chrono::DateTime<chrono::Utc>> {
    state.kaizen.background_once()
}
