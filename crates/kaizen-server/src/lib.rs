//! `kaizen serve`: the long-running process an operator deploys.
//!
//! * [`router`] is the REST API under `/api/v1` (one route per operation of the registry,
//!   `kaizen_service::ops`), plus `/healthz`, `/readyz`, `/metrics`, `/api/v1/openapi.json` and
//!   `/api/v1/docs`.
//! * Every `/api/v1` request carries a bearer token ([`auth`]); the operation's capability is
//!   checked against the token's grant (deny beats allow), human-only operations refuse agent
//!   tokens whatever their patterns say, writes are rate-limited per token and audited.
//! * [`ui`] is the web UI under `/ui` (server-rendered, sessions with CSRF, the same operations
//!   and permissions as the REST API).
//! * [`background`] runs the scheduler (due cycles) and the rollout engine (due checks).
//! * [`conn`] accepts and drives the HTTP/1.1 connections of [`serve`]: header-read and
//!   keep-alive idle timeouts, a connection cap and a per-IP cap (`docs/server.md`, "Limits and
//!   timeouts").
//!
//! Architecture invariant: this crate translates HTTP to `kaizen_service` calls and back; it
//! holds no business rule: every operation runs through `kaizen_service::Kaizen`'s gate. The
//! store sits behind one mutex (SQLite has one writer anyway); blocking work runs on tokio's
//! blocking pool.

pub mod api;
pub mod auth;
pub mod background;
pub mod conn;
pub mod error;
pub mod mcp;
pub mod openapi;
pub mod settings;
pub mod telemetry;
pub mod ui;

use std::sync::{Arc, MutexGuard};

use kaizen_core::clock::Clock;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{Kaizen, Principal, Service, Via};
use kaizen_store::Store;

pub use api::router;

use crate::error::ApiError;
use crate::settings::{McpConfig, ServerConfig, Settings};

/// Everything a request needs: kaizen itself (the store, the ports and the gate every
/// operation runs through) and what only HTTP needs (the token cache, the shutdown signal).
pub struct AppState {
    /// The runtime and its gate (it holds the configuration and the clock).
    pub kaizen: Kaizen,
    server: ServerConfig,
    mcp: McpConfig,
    tokens: auth::TokenCache,
    /// Cancelled when the server stops (ends MCP sessions).
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server on `store` configured by `settings`, with its ports.
    pub fn new(
        store: Store,
        settings: Settings,
        clock: Arc<dyn Clock>,
        executor: RollbackExecutor,
    ) -> Self {
        let shown = settings.adapter_sections();
        let Settings {
            kaizen: config,
            server,
            mcp,
        } = settings;
        // This process invalidates the effective-config cache after its own writes; changes
        // made by other processes (a CLI approval) show within a second.
        let kaizen = Kaizen::new(store, config, clock, executor)
            .recheck_every(std::time::Duration::from_secs(1))
            .write_limit(server.writes_per_minute)
            .show_settings(shown);
        Self {
            kaizen,
            server,
            mcp,
            tokens: auth::TokenCache::new(std::time::Duration::from_secs(1)),
            shutdown: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// The meta-loop's configuration the server started with.
    pub fn config(&self) -> &kaizen_core::config::KaizenConfig {
        self.kaizen.config()
    }

    /// The `server` settings.
    pub fn server(&self) -> &ServerConfig {
        &self.server
    }

    /// The `mcp` settings.
    pub fn mcp(&self) -> &McpConfig {
        &self.mcp
    }

    /// The clock (the system clock in production; a manual or accelerated one in tests and
    /// simulations).
    pub fn clock(&self) -> &dyn Clock {
        self.kaizen.clock().as_ref()
    }

    /// The store, locked.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.kaizen.store()
    }

    /// The rollback executor and notifiers.
    pub fn executor(&self) -> &RollbackExecutor {
        self.kaizen.executor()
    }

    /// Authenticates the bearer token of `headers` as a principal calling through `via`: from
    /// the token cache when it knows the token (without taking the store), else from the store.
    pub fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
        via: Via,
    ) -> Result<Principal, ApiError> {
        if let Some(who) = self.cached_principal(headers, via)? {
            return Ok(who);
        }
        let store = self.store();
        auth::authenticate(
            &store,
            &self.tokens,
            self.kaizen.writes(),
            headers,
            self.clock().now(),
        )
        .map(|auth| Principal::new(auth, via))
    }

    /// The principal of `headers` if the token cache knows its token (`None` when it does not:
    /// then [`AppState::authenticate`] asks the store); a malformed header is an error.
    pub fn cached_principal(
        &self,
        headers: &axum::http::HeaderMap,
        via: Via,
    ) -> Result<Option<Principal>, ApiError> {
        let secret = auth::bearer(headers)?;
        Ok(self
            .tokens
            .get(secret, self.kaizen.writes(), self.clock().now())
            .map(|auth| Principal::new(auth, via)))
    }

    /// Runs `f` with a service on the locked store (tests and tools; operations go through
    /// the gate, `kaizen.execute`/`kaizen.call`).
    pub fn with_service<T>(
        &self,
        f: impl FnOnce(&mut Service<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut store = self.store();
        let mut service = Service {
            store: &mut store,
            config: self.config(),
            clock: self.clock(),
        };
        f(&mut service)
    }
}

/// Runs blocking SQLite work `f`: in place on a multi-threaded runtime (the runtime moves its
/// other tasks off this worker meanwhile, which is much cheaper than a hand-off to the blocking
/// pool for the microsecond-long reads agent runtimes make), else on the blocking pool. A panic
/// becomes a 500.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        return match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::task::block_in_place(f)
        })) {
            Ok(r) => r,
            Err(_) => Err(ApiError::internal("a request handler panicked")),
        };
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a request handler failed: {e}")))?
}

/// Creates an admin token when the store has no active token (first start), returning its
/// secret to print once.
pub fn first_start_token(state: &AppState) -> Result<Option<String>, ApiError> {
    use kaizen_core::auth::Grant;
    use kaizen_store::auth::NewToken;
    use kaizen_store::proposals::ActorKind;
    let mut store = state.store();
    let active = store
        .token_count_active(state.clock().now())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if active > 0 {
        return Ok(None);
    }
    let grant = Grant::parse(&["*".to_owned()]).map_err(ApiError::internal)?;
    let issued = store
        .token_create(
            &NewToken {
                principal: "admin",
                kind: ActorKind::Human,
                grant: &grant,
                expires_at: None,
                created_by: "kaizen serve (first start)",
            },
            state.clock().now(),
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Some(issued.secret))
}

/// Serves `state` on `listener` until `shutdown` resolves, with the background loop, under the
/// connection limits and timeouts of `server` in its configuration ([`conn`]: header-read and
/// keep-alive idle timeouts, a connection cap and a per-IP cap; `TCP_NODELAY` on every socket).
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    telemetry::init();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loop_task = tokio::spawn(background::run(Arc::clone(&state), stop_rx));
    let app = router(Arc::clone(&state));
    let limits = conn::ConnLimits::from_config(state.server());
    let result = conn::serve_router(app, listener, limits, {
        let state = Arc::clone(&state);
        async move {
            shutdown.await;
            state.shutdown.cancel();
        }
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = loop_task.await;
    result
}
