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
use chrono::{DateTime, Utc};
use kaizen_core::auth::Action;
use kaizen_core::rules::RuleEngine;
use kaizen_service::ops::{self, Operation};
use kaizen_service::rollout::Decision;
use kaizen_service::{CycleOptions, CycleTrigger, Service};
use kaizen_store::IngestOptions;
use kaizen_store::auth::{AuditEntry, AuditOutcome, AuditQuery};
use kaizen_store::proposals::ProposalStatus;
use kaizen_store::rollouts::RolloutState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::{AppState, blocking, openapi, telemetry};

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
        .route("/proposals", get(proposals_list))
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
    rest.merge(crate::ui::routes(state))
        .layer(axum::middleware::from_fn(telemetry::track))
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
    let caller = auth::authenticate(store, headers, state.clock.now())?;
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
    state.invalidate_effective();
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
        let field = named_field(&text).unwrap_or("query").to_owned();
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

/// The field a serde message names (`missing field `reason``, `unknown field `x``), if any.
fn named_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Parses a JSON body into `T` after adding the path's `id`. An empty body is `{}`.
fn body<T: DeserializeOwned>(
    content_type: &str,
    bytes: Result<Bytes, BytesRejection>,
    id: Option<serde_json::Value>,
) -> Result<T, ApiError> {
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
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    T::deserialize(de).map_err(|e| {
        let message = e.to_string();
        let path = track.path().to_string();
        let field = match (path.as_str(), named_field(&message)) {
            ("." | "", Some(name)) => name.to_owned(),
            ("." | "", None) => "body".to_owned(),
            (p, Some(name)) if message.starts_with("missing field") => format!("{p}.{name}"),
            (p, _) => p.to_owned(),
        };
        ApiError::field(field, message)
    })
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ApiError::field(field, format!("expected an RFC 3339 time with a zone: {e}")))
}

fn window(
    svc: &Service<'_>,
    input: &ops::SnapshotInput,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let until = match &input.until {
        Some(s) => parse_time("until", s)?,
        None => svc.clock.now(),
    };
    let since = match &input.since {
        Some(s) => parse_time("since", s)?,
        None => svc.default_since(until),
    };
    Ok((since, until))
}

#[derive(Serialize)]
struct Paged<T: Serialize> {
    items: Vec<T>,
    total: u64,
    limit: usize,
    offset: usize,
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
        let mut opts = IngestOptions::new(svc.clock.now());
        opts.max_reported_rejections = 1000;
        let report = svc
            .store
            .ingest(bytes.as_ref(), opts)
            .map_err(|e| match e {
                kaizen_store::StoreError::Refused(m) => ApiError::field("body", m),
                other => ApiError::internal(other.to_string()),
            })?;
        telemetry::events(report.accepted, report.rejected);
        Ok(report)
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

// ---- agents ----

async fn agents_config(State(state): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let st = Arc::clone(&state);
    let result = call(
        state,
        headers,
        "agents.config",
        Some(id.clone()),
        move |_c, svc| {
            let mut cache = st.effective();
            cache.get(svc.store, &id).map_err(ApiError::from)
        },
    )
    .await;
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
                    cached.json.to_string(),
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

// ---- signals and rules ----

async fn signals_snapshot(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::SnapshotInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "signals.snapshot", None, move |_c, svc| {
        let input = query(q)?;
        let (since, until) = window(svc, &input)?;
        Ok(json(svc.snapshot(since, until)?))
    })
    .await
}

async fn rules_evaluate(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::SnapshotInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "rules.evaluate", None, move |_c, svc| {
        let input = query(q)?;
        let (since, until) = window(svc, &input)?;
        let snapshot = svc.snapshot(since, until)?;
        let evaluation = RuleEngine::from_config(&svc.config.rules).evaluate(&snapshot);
        Ok(json(evaluation))
    })
    .await
}

// ---- cycles ----

async fn cycles_list(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "cycles.list", None, move |_c, svc| {
        let page = query(q)?;
        let all = svc
            .store
            .cycles(page.offset() + page.limit())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let total = all.len() as u64;
        let items: Vec<_> = all.into_iter().skip(page.offset()).collect();
        Ok(json(Paged {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    })
    .await
}

async fn cycles_get(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "cycles.get",
        Some(id.clone()),
        move |_c, svc| {
            let cycle = svc
                .store
                .cycle(&id)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("no cycle with id {id}"),
                    )
                })?;
            Ok(json(cycle))
        },
    )
    .await
}

async fn cycles_run(
    State(state): St,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg: Option<serde_json::Value> = None;
    call(state, headers, "cycles.run", None, move |_c, svc| {
        let input: ops::RunCycleInput = body(&ct, bytes, arg)?;
        let report = svc.run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: input.dry_run,
        })?;
        Ok(json(report))
    })
    .await
}

// ---- proposals ----

async fn proposals_list(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::ListProposalsInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "proposals.list", None, move |_c, svc| {
        let input = query(q)?;
        let status = input
            .status
            .as_deref()
            .map(|s| {
                s.parse::<ProposalStatus>()
                    .map_err(|e| ApiError::field("status", e))
            })
            .transpose()?;
        let page = ops::Page {
            limit: input.limit,
            offset: input.offset,
        };
        let (items, total) = svc
            .store
            .proposals(status, page.limit(), page.offset())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(json(Paged {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    })
    .await
}

async fn proposals_get(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "proposals.get",
        Some(id.clone()),
        move |_c, svc| Ok(json(svc.proposal(&id)?)),
    )
    .await
}

async fn proposals_preview(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "proposals.preview",
        Some(id.clone()),
        move |_c, svc| Ok(json(svc.preview(&id)?)),
    )
    .await
}

async fn proposals_approve(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg: Option<serde_json::Value> = Some(serde_json::Value::from(id.clone()));
    let st = Arc::clone(&state);
    call(
        state,
        headers,
        "proposals.approve",
        Some(id),
        move |caller, svc| {
            let input: ops::ApproveInput = body(&ct, bytes, arg)?;
            let approved = svc.approve(
                &input.id,
                &caller.actor(),
                input.reason.as_deref(),
                &st.executor,
            )?;
            Ok(json(approved))
        },
    )
    .await
}

async fn proposals_reject(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg: Option<serde_json::Value> = Some(serde_json::Value::from(id.clone()));
    call(
        state,
        headers,
        "proposals.reject",
        Some(id),
        move |caller, svc| {
            let input: ops::ReasonInput = body(&ct, bytes, arg)?;
            svc.reject(&input.id, &caller.actor(), &input.reason)?;
            Ok(json(svc.proposal(&input.id)?))
        },
    )
    .await
}

async fn proposals_rollback(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg: Option<serde_json::Value> = Some(serde_json::Value::from(id.clone()));
    call(
        state,
        headers,
        "proposals.rollback",
        Some(id),
        move |caller, svc| {
            let input: ops::ReasonInput = body(&ct, bytes, arg)?;
            Ok(json(svc.rollback(
                &input.id,
                &caller.actor(),
                &input.reason,
                &[],
            )?))
        },
    )
    .await
}

// ---- rollouts ----

async fn rollouts_list(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::ListRolloutsInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "rollouts.list", None, move |_c, svc| {
        let input = query(q)?;
        let filter = input
            .state
            .as_deref()
            .map(|s| {
                s.parse::<RolloutState>()
                    .map_err(|e| ApiError::field("state", e))
            })
            .transpose()?;
        let items = svc
            .store
            .rollouts(filter)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let total = items.len() as u64;
        Ok(json(Paged {
            limit: items.len(),
            items,
            total,
            offset: 0,
        }))
    })
    .await
}

#[derive(Serialize)]
struct RolloutDetail {
    rollout: kaizen_store::rollouts::Rollout,
    checks: Vec<kaizen_store::rollouts::StoredCheck>,
}

async fn rollouts_get(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "rollouts.get",
        Some(id.clone()),
        move |_c, svc| {
            let rollout = svc.rollout(&id)?;
            let checks = svc
                .store
                .rollout_checks(&id)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(json(RolloutDetail { rollout, checks }))
        },
    )
    .await
}

async fn rollouts_start(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg: Option<serde_json::Value> = Some(serde_json::Value::from(id.clone()));
    let st = Arc::clone(&state);
    call(
        state,
        headers,
        "rollouts.start",
        Some(id),
        move |caller, svc| {
            let input: ops::StartRolloutInput = body(&ct, bytes, arg)?;
            Ok(json(svc.start_rollout(
                &input.id,
                &caller.actor(),
                input.strategy,
                &st.executor,
            )?))
        },
    )
    .await
}

async fn rollouts_decide(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ct = content_type(&headers);
    let arg = Some(serde_json::Value::from(id.clone()));
    let st = Arc::clone(&state);
    call(
        state,
        headers,
        "rollouts.decide",
        Some(id),
        move |caller, svc| {
            let input: ops::DecideInput = body(&ct, bytes, arg)?;
            let decision = match (input.decision, input.hours) {
                (ops::DecisionKind::Extend, hours) => Decision::Extend {
                    hours: hours.unwrap_or(24),
                },
                (ops::DecisionKind::Apply, None) => Decision::Apply,
                (ops::DecisionKind::Rollback, None) => Decision::Rollback,
                (_, Some(_)) => {
                    return Err(ApiError::field("hours", "only an extension takes hours"));
                }
            };
            Ok(json(svc.decide_rollout(
                &input.id,
                decision,
                &caller.actor(),
                &input.reason,
                &st.executor,
            )?))
        },
    )
    .await
}

// ---- org ----

fn org_err(e: kaizen_store::org::OrgStoreError) -> ApiError {
    if e.is_user_error() {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    } else {
        ApiError::internal(e.to_string())
    }
}

async fn org_current(State(state): St, headers: HeaderMap) -> Result<Response, ApiError> {
    call(state, headers, "org.current", None, move |_c, svc| {
        let v = svc
            .store
            .org_current()
            .map_err(org_err)?
            .ok_or(kaizen_service::ServiceError::NoOrg)?;
        Ok(json(v))
    })
    .await
}

async fn org_versions(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "org.versions", None, move |_c, svc| {
        let page = query(q)?;
        let all = svc
            .store
            .org_history(page.offset() + page.limit())
            .map_err(org_err)?;
        let total = all.len() as u64;
        let items: Vec<_> = all.into_iter().skip(page.offset()).collect();
        Ok(json(Paged {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    })
    .await
}

async fn org_version(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "org.version",
        Some(id.clone()),
        move |_c, svc| {
            let n: i64 = id.parse().map_err(|_| {
                ApiError::field("id", format!("expected a version number, found {id:?}"))
            })?;
            let v = svc.store.org_version(n).map_err(org_err)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no org version {n}"),
                )
            })?;
            Ok(json(v))
        },
    )
    .await
}

async fn org_diff(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::DiffInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "org.diff", None, move |_c, svc| {
        let input = query(q)?;
        let get = |svc: &Service<'_>, n: i64| {
            svc.store.org_version(n).map_err(org_err)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no org version {n}"),
                )
            })
        };
        let from = get(svc, input.from)?;
        let to = get(svc, input.to)?;
        let changes = kaizen_core::org::OrgDocument::diff(&from.document, &to.document);
        Ok(json(serde_json::json!({
            "from": input.from,
            "to": input.to,
            "changes": changes,
            "summary": changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })))
    })
    .await
}

// ---- alerts and audit ----

async fn alerts_list(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::AlertsInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "alerts.list", None, move |_c, svc| {
        let input = query(q)?;
        Ok(json(
            svc.store
                .alerts(input.all)
                .map_err(|e| ApiError::internal(e.to_string()))?,
        ))
    })
    .await
}

async fn alerts_ack(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call(
        state,
        headers,
        "alerts.ack",
        Some(id.clone()),
        move |caller, svc| {
            let n: i64 = id.parse().map_err(|_| {
                ApiError::field("id", format!("expected an alert number, found {id:?}"))
            })?;
            let now = svc.clock.now();
            svc.store
                .alert_acknowledge(n, &caller.auth.principal, now)
                .map_err(|e| match e {
                    kaizen_store::StoreError::Refused(m) => {
                        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
                    }
                    other => ApiError::internal(other.to_string()),
                })?;
            Ok(json(serde_json::json!({"acknowledged": n})))
        },
    )
    .await
}

async fn audit_list(
    State(state): St,
    headers: HeaderMap,
    q: Result<Query<ops::AuditInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    call(state, headers, "audit.list", None, move |_c, svc| {
        let input = query(q)?;
        let since = input
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?;
        let page = ops::Page {
            limit: input.limit,
            offset: input.offset,
        };
        let (items, total) = svc
            .store
            .audit(&AuditQuery {
                actor: input.actor.as_deref(),
                operation: input.operation.as_deref(),
                target: input.target.as_deref(),
                since,
                until: None,
                limit: page.limit(),
                offset: page.offset(),
            })
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(json(Paged {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    })
    .await
}
