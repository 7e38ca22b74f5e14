//! The REST routes: one per operation of the registry (`kaizen_service::ops`), each a thin
//! translation between HTTP and one `kaizen_service` call.
//!
//! Every `/api/v1` handler goes through [`call`]: authenticate the bearer token, check the
//! operation's capability (and the human-only rule), count a write against the token's rate
//! limit, run the service call on the blocking pool, and append an audit entry for every write
//! (done, refused or failed) with the proposal's status before and after where there is one.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kaizen_core::auth::Action;
use kaizen_service::Service;
use kaizen_service::ops::{self, Operation};
use kaizen_store::auth::{AuditEntry, AuditOutcome};
use kaizen_store::proposals::ProposalStatus;
use serde::Serialize;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::{AppState, blocking, dispatch, openapi, telemetry};

type St = State<Arc<AppState>>;

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = usize::try_from(state.config.server.max_body_bytes).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(u64::from(state.config.server.request_timeout_seconds));
    let api = Router::new()
        .route("/events", post(events_ingest))
        .route("/agents/{id}/config", get(agents_config))
        .route("/snapshot", get(signals_snapshot))
        .route("/rules/evaluate", get(rules_evaluate))
        .route("/cycles", get(cycles_list).post(cycles_run))
        .route("/cycles/{id}", get(cycles_get))
        .route("/proposals", get(proposals_list).post(proposals_submit))
        .route("/proposals/{id}", get(proposals_get))
        .route("/proposals/{id}/preview", get(proposals_preview))
        .route("/proposals/{id}/approve", post(proposals_approve))
        .route("/proposals/{id}/reject", post(proposals_reject))
        .route("/proposals/{id}/rollback", post(proposals_rollback))
        .route("/rollouts", get(rollouts_list))
        .route("/rollouts/{id}", get(rollouts_get))
        .route("/rollouts/{id}/start", post(rollouts_start))
        .route("/rollouts/{id}/decide", post(rollouts_decide))
        .route("/org", get(org_current))
        .route("/org/versions", get(org_versions))
        .route("/org/versions/{id}", get(org_version))
        .route("/org/diff", get(org_diff))
        .route("/alerts", get(alerts_list))
        .route("/alerts/{id}/ack", post(alerts_ack))
        .route("/audit", get(audit_list))
        .route("/tokens", get(tokens_list).post(tokens_create))
        .route("/tokens/{id}/revoke", post(tokens_revoke))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .fallback(api_not_found);
    let rest = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(telemetry::metrics_endpoint))
        .route("/", get(|| async { axum::response::Redirect::to("/ui") }))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(Arc::clone(&state));
    let mut app = rest.merge(crate::ui::routes(Arc::clone(&state)));
    if state.config.mcp.http {
        // Outside the request timeout: an MCP client may hold an SSE stream open.
        let mcp = Router::new()
            .nest_service(
                "/mcp",
                crate::mcp::http_service(Arc::clone(&state), state.shutdown.child_token()),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                crate::mcp::require_token,
            ));
        app = app.merge(mcp);
    }
    app.layer(axum::middleware::from_fn(telemetry::track))
}

async fn api_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the operations are listed at /api/v1/docs",
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): St) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let store = state.store();
        let generation = store.config_generation().map_err(|e| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string())
        })?;
        Ok(Json(
            serde_json::json!({"status": "ready", "config_generation": generation}),
        ))
    })
    .await
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

async fn docs_page() -> Html<String> {
    Html(openapi::docs_html())
}

fn op(name: &str) -> Result<&'static Operation, ApiError> {
    ops::operation(name).ok_or_else(|| ApiError::internal(format!("unknown operation {name}")))
}

/// Authenticates, authorises, rate-limits, runs `f` and audits writes.
///
/// The effective-config read (microseconds, polled by every agent runtime) takes the store inline
/// when it is free; everything else, and that read when a write holds the store, runs through
/// [`blocking`] so that a long snapshot or ingest never occupies an async worker.
async fn call<T, F>(
    state: Arc<AppState>,
    headers: HeaderMap,
    name: &'static str,
    target: Option<String>,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Caller, &mut Service<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let op = op(name)?;
    if op.name == "agents.config"
        && let Ok(mut store) = state.store.try_lock()
    {
        return run_locked(&state, &mut store, &headers, op, target, f);
    }
    blocking(move || {
        let mut store = state.store();
        run_locked(&state, &mut store, &headers, op, target, f)
    })
    .await
}

fn run_locked<T, F>(
    state: &AppState,
    store: &mut kaizen_store::Store,
    headers: &HeaderMap,
    op: &'static Operation,
    target: Option<String>,
    f: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&Caller, &mut Service<'_>) -> Result<T, ApiError>,
{
    let caller = state.authenticate(store, headers)?;
    run_as(state, store, &caller, op, target.as_deref(), None, f)
}

/// Runs `op` for an authenticated `caller`, the one path every adapter (REST, web UI) takes:
/// authorise (capability and the human-only rule), count a write against the token's rate
/// limit, run `f` with a service, and audit every write — done, refused or failed — with the
/// proposal's status before and after where `target` names one. `via` is added to the audit
/// detail (`"ui"` for the web UI).
pub(crate) fn run_as<T, F>(
    state: &AppState,
    store: &mut kaizen_store::Store,
    caller: &Caller,
    op: &'static Operation,
    target: Option<&str>,
    via: Option<&'static str>,
    f: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&Caller, &mut Service<'_>) -> Result<T, ApiError>,
{
    let now = state.clock.now();
    let audited = op.action != Action::Read;
    let status = |store: &kaizen_store::Store| {
        target
            .filter(|_| audited && matches!(op.domain, "proposals" | "rollouts"))
            .and_then(|id| store.proposal_status(id).ok().flatten())
            .map(ProposalStatus::as_str)
    };
    let before = status(store);
    let result = auth::authorize(caller, op)
        .and_then(|()| state.limiter.check(&caller.auth.token_id, op))
        .and_then(|()| {
            let mut service = Service {
                store,
                config: &state.config,
                clock: state.clock.as_ref(),
            };
            f(caller, &mut service)
        });
    if !audited {
        return result;
    }
    state.invalidate_caches();
    let after = status(store);
    let (outcome, mut detail) = match &result {
        Ok(_) => (AuditOutcome::Ok, None),
        Err(e) if e.status.is_server_error() => (
            AuditOutcome::Error,
            Some(serde_json::json!({"code": e.code, "status": e.status.as_u16()})),
        ),
        Err(e) => (
            AuditOutcome::Refused,
            Some(
                serde_json::json!({"code": e.code, "status": e.status.as_u16(), "message": e.message}),
            ),
        ),
    };
    if let Some(via) = via {
        let d = detail.get_or_insert_with(|| serde_json::json!({}));
        if let Some(obj) = d.as_object_mut() {
            obj.insert("via".to_owned(), serde_json::json!(via));
        }
    }
    let entry = AuditEntry {
        at: now,
        actor: &caller.auth.principal,
        actor_kind: caller.auth.kind,
        operation: op.name,
        target,
        outcome,
        before,
        after,
        detail,
    };
    append_audit(store, &entry, result.is_ok())?;
    result
}

/// Appends `entry`. When that fails after the change was made, the request fails too (500),
/// naming what was done; after a refusal it is only logged.
pub(crate) fn append_audit(
    store: &mut kaizen_store::Store,
    entry: &AuditEntry<'_>,
    change_made: bool,
) -> Result<(), ApiError> {
    if let Err(e) = store.audit_append(entry) {
        tracing::error!(operation = entry.operation, error = %e, "audit append failed");
        if change_made {
            return Err(ApiError::internal(format!(
                "{} was done but could not be audited: {e}",
                entry.operation
            )));
        }
    }
    Ok(())
}

fn json<T: Serialize>(v: T) -> Response {
    Json(v).into_response()
}

/// Parses a query string into `T`, naming the field at fault.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        let text = e.body_text();
        let field = dispatch::named_field(&text).unwrap_or("query").to_owned();
        ApiError::field(field, text)
    })
}

/// The request's `Content-Type`, or "".
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The body bytes, or the error envelope for a body that could not be read (413 over
/// `server.max_body_bytes`, a broken gzip stream …).
fn bytes_of(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    bytes.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                "the request body is over server.max_body_bytes (after decompression)",
            )
        } else {
            ApiError::new(
                status,
                "bad_body",
                format!("the request body could not be read: {}", e.body_text()),
            )
        }
    })
}

/// A JSON body as an object, with the path's `id` added. An empty body is `{}`.
fn body_value(
    content_type: &str,
    bytes: Result<Bytes, BytesRejection>,
    id: Option<serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    let bytes = bytes_of(bytes)?;
    let mut value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        if !content_type.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: application/json, found {content_type:?}"),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::field("body", format!("not valid JSON: {e}")))?
    };
    let obj = value
        .as_object_mut()
        .ok_or_else(|| ApiError::field("body", "expected a JSON object"))?;
    if let Some(id) = id {
        if obj.contains_key("id") {
            return Err(ApiError::field(
                "id",
                "the id comes from the path; leave it out of the body",
            ));
        }
        obj.insert("id".to_owned(), id);
    }
    Ok(value)
}

// ---- events ----

#[derive(Serialize)]
struct IngestResponse {
    #[serde(flatten)]
    report: kaizen_store::IngestReport,
}

async fn events_ingest(
    State(state): St,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let result = call(state, headers, "events.ingest", None, move |_caller, svc| {
        let ok = ["application/x-ndjson", "application/json", "application/jsonl"]
            .iter()
            .any(|t| ct.starts_with(t));
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "expected Content-Type: application/x-ndjson (one event per line) or application/json (an array), found {ct:?}"
                ),
            ));
        }
        let bytes = bytes_of(bytes)?;
        dispatch::events_ingest(svc, &bytes)
    })
    .await;
    match result {
        Ok(report) => {
            let status = if report.rejected == 0 {
                StatusCode::OK
            } else if report.accepted + report.duplicates > 0 {
                StatusCode::MULTI_STATUS
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (status, Json(IngestResponse { report })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

// ---- the other operations: arguments from the path, query and body, then `dispatch` ----

/// Runs operation `name` through [`call`] and [`dispatch::execute`], the path the MCP server
/// takes too. `args` reads the arguments from the request; it runs after authentication, so
/// a caller without a valid token learns nothing about the arguments.
async fn rest<A>(
    state: Arc<AppState>,
    headers: HeaderMap,
    name: &'static str,
    target: Option<String>,
    args: A,
) -> Result<Response, ApiError>
where
    A: FnOnce() -> Result<serde_json::Value, ApiError> + Send + 'static,
{
    let st = Arc::clone(&state);
    call(state, headers, name, target, move |caller, svc| {
        let args = args()?;
        dispatch::execute(&st, caller, svc, op(name)?, args).map(json)
    })
    .await
}

/// A query string's arguments, checked against the operation's input type `T`.
fn query_args<T: Serialize>(
    q: Result<Query<T>, QueryRejection>,
) -> Result<serde_json::Value, ApiError> {
    let input = query(q)?;
    serde_json::to_value(input).map_err(|e| ApiError::internal(format!("serialising: {e}")))
}

/// `{"id": <the path's id>}`.
fn id_args(id: String) -> serde_json::Value {
    serde_json::json!({ "id": id })
}

/// A numeric path id, or 400 naming `id`.
fn number_id(id: &str, what: &str) -> Result<serde_json::Value, ApiError> {
    id.parse::<i64>()
        .map(|n| serde_json::json!({ "id": n }))
        .map_err(|_| ApiError::field("id", format!("expected {what} number, found {id:?}")))
}

macro_rules! get_query {
    ($handler:ident, $name:literal, $input:ty) => {
        async fn $handler(
            State(state): St,
            headers: HeaderMap,
            q: Result<Query<$input>, QueryRejection>,
        ) -> Result<Response, ApiError> {
            rest(state, headers, $name, None, move || query_args(q)).await
        }
    };
}

macro_rules! get_id {
    ($handler:ident, $name:literal) => {
        async fn $handler(
            State(state): St,
            headers: HeaderMap,
            Path(id): Path<String>,
        ) -> Result<Response, ApiError> {
            rest(state, headers, $name, Some(id.clone()), move || {
                Ok(id_args(id))
            })
            .await
        }
    };
}

macro_rules! post_id {
    ($handler:ident, $name:literal) => {
        async fn $handler(
            State(state): St,
            headers: HeaderMap,
            Path(id): Path<String>,
            bytes: Result<Bytes, BytesRejection>,
        ) -> Result<Response, ApiError> {
            let ct = content_type(&headers);
            let arg = Some(serde_json::Value::from(id.clone()));
            rest(state, headers, $name, Some(id), move || {
                body_value(&ct, bytes, arg)
            })
            .await
        }
    };
}

macro_rules! post_body {
    ($handler:ident, $name:literal) => {
        async fn $handler(
            State(state): St,
            headers: HeaderMap,
            bytes: Result<Bytes, BytesRejection>,
        ) -> Result<Response, ApiError> {
            let ct = content_type(&headers);
            rest(state, headers, $name, None, move || {
                body_value(&ct, bytes, None)
            })
            .await
        }
    };
}

/// A cached JSON document as a response body, without a copy.
struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The effective-config read without the store: the token was authenticated within the token
/// cache's lifetime and the agent's config is cached and current (see `AppState`). `None` when
/// either is not known, and the read takes the ordinary path. The same authorisation applies.
fn config_fast_lane(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Option<Result<Arc<kaizen_service::effective::CachedConfig>, ApiError>> {
    let op = ops::operation("agents.config")?;
    let secret = match auth::bearer(headers) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let caller = Caller {
        auth: state.tokens.get(secret, state.clock.now())?,
    };
    if let Err(e) = auth::authorize(&caller, op) {
        return Some(Err(e));
    }
    state.effective().fresh(id).map(Ok)
}

// agents.config answers with the cached JSON bytes and an ETag: it is the one read every agent
// runtime polls.
async fn agents_config(State(state): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result = match config_fast_lane(&state, &headers, &id) {
        Some(result) => result,
        None => {
            let st = Arc::clone(&state);
            call(
                state,
                headers,
                "agents.config",
                Some(id.clone()),
                move |_c, svc| dispatch::agents_config(&st, svc, &id),
            )
            .await
        }
    };
    match result {
        Ok(cached) => {
            let tag = format!("\"{}\"", cached.config.etag);
            let etag = HeaderValue::from_str(&tag).ok();
            let matches = inm.is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == tag || t.trim() == "*" || t.trim() == format!("W/{tag}"))
            });
            let mut response = if matches {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    // Shares the cached JSON instead of copying it.
                    Bytes::from_owner(SharedJson(Arc::clone(&cached.json))),
                )
                    .into_response()
            };
            if let Some(etag) = etag {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

get_query!(signals_snapshot, "signals.snapshot", ops::SnapshotInput);
get_query!(rules_evaluate, "rules.evaluate", ops::SnapshotInput);
get_query!(cycles_list, "cycles.list", ops::Page);
get_id!(cycles_get, "cycles.get");
post_body!(cycles_run, "cycles.run");
get_query!(proposals_list, "proposals.list", ops::ListProposalsInput);
get_id!(proposals_get, "proposals.get");
get_id!(proposals_preview, "proposals.preview");
post_body!(proposals_submit, "proposals.submit");
post_id!(proposals_approve, "proposals.approve");
post_id!(proposals_reject, "proposals.reject");
post_id!(proposals_rollback, "proposals.rollback");
get_query!(rollouts_list, "rollouts.list", ops::ListRolloutsInput);
get_id!(rollouts_get, "rollouts.get");
post_id!(rollouts_start, "rollouts.start");
post_id!(rollouts_decide, "rollouts.decide");
get_query!(org_current, "org.current", ops::NoInput);
get_query!(org_versions, "org.versions", ops::Page);
get_query!(org_diff, "org.diff", ops::DiffInput);
get_query!(alerts_list, "alerts.list", ops::AlertsInput);
get_query!(audit_list, "audit.list", ops::AuditInput);
get_query!(tokens_list, "tokens.list", ops::TokensListInput);
post_body!(tokens_create, "tokens.create");
post_id!(tokens_revoke, "tokens.revoke");

async fn org_version(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    rest(state, headers, "org.version", Some(id.clone()), move || {
        number_id(&id, "a version")
    })
    .await
}

async fn alerts_ack(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    rest(state, headers, "alerts.ack", Some(id.clone()), move || {
        number_id(&id, "an alert")
    })
    .await
}
