//! `kaizen serve` in-process: the real `kaizen_server` router on a loopback port, on its own
//! tokio runtime in a background thread, sharing the simulation's clock.
//!
//! A deterministic run ([`crate::run`]) starts the router **without** the background loop: it
//! drives cycles and rollout checks itself, in step with its manual clock, and only the
//! reviewer's decisions travel over HTTP. `kaizen demo` starts the full server
//! ([`kaizen_server::serve`]), background loop included, on an accelerated clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use kaizen_core::auth::Grant;
use kaizen_core::clock::Clock;
use kaizen_server::AppState;
use kaizen_server::settings::Settings;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::Store;
use kaizen_store::auth::NewToken;
use kaizen_store::proposals::ActorKind;

use crate::error::LabError;

/// Capabilities of the simulated reviewer's (human) token.
pub const REVIEWER_CAPS: [&str; 3] = ["proposals:*", "rollouts:*", "*:read"];
/// Capabilities of the simulated agent runtimes' token.
pub const AGENT_CAPS: [&str; 2] = ["events:write", "agents:read"];

/// Creates a token for `principal` in `store`; returns its secret.
pub fn create_token(
    store: &mut Store,
    principal: &str,
    kind: ActorKind,
    capabilities: &[&str],
    now: DateTime<Utc>,
) -> Result<String, LabError> {
    let patterns: Vec<String> = capabilities.iter().map(|c| (*c).to_owned()).collect();
    let grant = Grant::parse(&patterns).map_err(LabError::store)?;
    let issued = store
        .token_create(
            &NewToken {
                principal,
                kind,
                grant: &grant,
                expires_at: None,
                created_by: "kaizen-lab",
            },
            now,
        )
        .map_err(LabError::store)?;
    Ok(issued.secret)
}

/// A running in-process server.
pub struct LabServer {
    /// The server's state (its own connection to the store).
    pub state: Arc<AppState>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for LabServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabServer")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LabServer {
    /// Serves `store` with `settings` on `bind` (port 0: any free port). `background`: run the
    /// server's own loop (scheduled cycles, rollout checks) too.
    pub fn start(
        store: Store,
        settings: Settings,
        clock: Arc<dyn Clock>,
        bind: SocketAddr,
        background: bool,
    ) -> Result<LabServer, LabError> {
        let listener = std::net::TcpListener::bind(bind)
            .map_err(|e| LabError::Invalid(format!("cannot listen on {bind}: {e} (is another server running there? choose another address)")))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::new(
            store,
            settings,
            clock,
            RollbackExecutor::default(),
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kaizen-lab-server")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("kaizen-lab-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "kaizen-lab: the listener failed");
                            return;
                        }
                    };
                    let shutdown = async move {
                        let _ = rx.await;
                    };
                    let result = if background {
                        kaizen_server::serve(st, listener, shutdown).await
                    } else {
                        let app = kaizen_server::router(st);
                        // TCP_NODELAY as in `kaizen_server::serve`.
                        axum::serve(
                            axum::serve::ListenerExt::tap_io(listener, |tcp| {
                                let _ = tcp.set_nodelay(true);
                            }),
                            app.into_make_service_with_connect_info::<SocketAddr>(),
                        )
                        .with_graceful_shutdown(shutdown)
                        .await
                    };
                    if let Err(e) = result {
                        tracing::error!(error = %e, "kaizen-lab: the server stopped");
                    }
                });
            })?;
        Ok(LabServer {
            state,
            base: format!("http://{addr}"),
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
            handle,
        })
    }

    /// A flag that turns true when the process receives Ctrl-C (the handler runs on the
    /// server's runtime; the server keeps serving until [`LabServer::stop`]).
    pub fn ctrl_c_flag(&self) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&flag);
        self.handle.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                f.store(true, Ordering::SeqCst);
            }
        });
        flag
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
