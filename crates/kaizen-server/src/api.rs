//! The REST routes, generated from the operation registry (`kaizen_service::ops`): one route
//! per operation, at its method and path under `/api/v1`. A handler only translates: it
//! authenticates the bearer token, gathers the arguments (path parameters, the query string of
//! a GET, the JSON object body of a POST) into one JSON object and hands it to the gate,
//! `Kaizen::execute`, which authorises, rate-limits, runs and audits. Two operations have a
//! handler of their own (`Rest::Custom`): `events.ingest` (an NDJSON or JSON-array body, 207/422
//! for partial or total rejection) and `agents.config` (served from the cache with an `ETag`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use kaizen_service::catalog::{AgentConfig, IngestBody, IngestEvents};
use kaizen_service::op::{Op, Rest};
use kaizen_service::ops::{self, Method, Operation};
use kaizen_service::{Principal, Via};
use serde::Serialize;
use serde_json::Value;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::{ApiError, through_gate};
use crate::{AppState, blocking, openapi, telemetry};

type St = State<Arc<AppState>>;

/// The operations with a REST handler of their own.
pub const CUSTOM_ROUTES: &[&str] = &[IngestEvents::SPEC.name, AgentConfig::SPEC.name];

/// The route of `op`.
fn route(op: &'static Operation) -> MethodRouter<Arc<AppState>> {
    match (op.rest, op.name, op.method) {
        (Rest::Custom, n, _) if n == IngestEvents::SPEC.name => post(events_ingest),
        (Rest::Custom, n, _) if n == AgentConfig::SPEC.name => get(agents_config),
        (_, _, Method::Get) => get(
            move |State(state): St,
                  headers: HeaderMap,
                  params: RawPathParams,
                  RawQuery(query): RawQuery| async move {
                let args = (|| {
                    let mut args = query_object(op, query.as_deref())?;
                    add_path_params(op, &mut args, &params)?;
                    Ok(args)
                })();
                run_json(state, headers, op, args).await
            },
        ),
        (_, _, Method::Post) => post(
            move |State(state): St,
                  headers: HeaderMap,
                  params: RawPathParams,
                  gzipped: Option<Extension<Gzipped>>,
                  bytes: Result<Bytes, BytesRejection>| async move {
                let ct = content_type(&headers);
                let args = (|| {
                    let mut args = body_value(&ct, bytes_of(bytes, gzipped.is_some()))?;
                    add_path_params(op, &mut args, &params)?;
                    Ok(args)
                })();
                run_json(state, headers, op, args).await
            },
        ),
    }
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = usize::try_from(state.server().max_body_bytes).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(u64::from(state.server().request_timeout_seconds));
    let mut routes: BTreeMap<&str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for op in ops::operations() {
        let r = route(op);
        let merged = match routes.remove(op.path) {
            Some(existing) => existing.merge(r),
            None => r,
        };
        routes.insert(op.path, merged);
    }
    let mut api = Router::new();
    for (path, r) in routes {
        api = api.route(path, r);
    }
    let api = api
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
        // Before the decompression: names the encoding the way it expects, or refuses it.
        .layer(axum::middleware::map_request(content_encoding))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(Arc::clone(&state));
    let mut app = rest.merge(crate::ui::routes(Arc::clone(&state)));
    if state.mcp().http {
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
    if state.server().public_https() {
        app = app.layer(axum::middleware::map_response(
            crate::ui::session::secure_cookies,
        ));
    }
    app.layer(axum::middleware::from_fn(telemetry::track))
        .layer(axum::middleware::map_response(crate::error::envelope))
}

/// Marks a request whose body was sent gzip-compressed (the decompression layer removes the
/// `Content-Encoding` header), so that a body that does not decompress is named as such.
#[derive(Debug, Clone, Copy)]
pub struct Gzipped;

/// Middleware before the gzip decompression: `Content-Encoding` values are case-insensitive
/// tokens, so `GZIP`, ` gzip ` and the legacy alias `x-gzip` are `gzip`, and `identity` is no
/// encoding. Anything else (another coding, several codings, the header twice) is refused
/// with 415 `unsupported_media_type` and `Accept-Encoding: gzip`.
async fn content_encoding(
    mut req: axum::extract::Request,
) -> Result<axum::extract::Request, Response> {
    let values: Vec<&HeaderValue> = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .collect();
    let refuse = |found: String| {
        let mut r = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Encoding: gzip (or none), found {found}"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        r
    };
    match values.as_slice() {
        [] => {}
        [value] => {
            let token = value
                .to_str()
                .map(|v| v.trim().to_ascii_lowercase())
                .unwrap_or_default();
            match token.as_str() {
                "gzip" | "x-gzip" => {
                    req.headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    req.extensions_mut().insert(Gzipped);
                }
                "identity" => {
                    req.headers_mut().remove(header::CONTENT_ENCODING);
                }
                _ => {
                    let shown: String = String::from_utf8_lossy(value.as_bytes())
                        .chars()
                        .take(100)
                        .collect();
                    return Err(refuse(format!("{shown:?}")));
                }
            }
        }
        _ => {
            return Err(refuse(format!(
                "{} Content-Encoding headers (send one)",
                values.len()
            )));
        }
    }
    Ok(req)
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

/// Authenticates the caller of `headers` and runs `f` with it on the blocking pool.
async fn with_principal<T, F>(state: Arc<AppState>, headers: HeaderMap, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &Principal) -> Result<T, ApiError> + Send + 'static,
{
    blocking(move || {
        let who = state.authenticate(&headers, Via::Rest)?;
        f(&state, &who)
    })
    .await
}

/// Runs `op` with the arguments gathered from the request (an error gathering them is
/// reported only after authentication: a caller without a valid token learns nothing about
/// the arguments).
async fn run_json(
    state: Arc<AppState>,
    headers: HeaderMap,
    op: &'static Operation,
    args: Result<Value, ApiError>,
) -> Response {
    let result = with_principal(state, headers, move |state, who| match args {
        Ok(args) => Ok(state.kaizen.execute(who, op.name, args)?),
        // The request itself is malformed: refuse it through the gate (after the capability
        // check, and audited like any refused write), answering with the HTTP error.
        Err(e) => through_gate(&state.kaizen, who, op, None, |_| Err::<Value, _>(e)),
    })
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The JSON type of each property of `op`'s input (`integer`, `boolean`, `string` …), from its
/// input schema: query strings and paths carry text, converted by it before validation.
fn input_types(op: &Operation) -> HashMap<String, String> {
    let mut g = schemars::SchemaGenerator::default();
    let root = (op.input)(&mut g).to_value();
    let def = root
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|n| g.definitions().get(n).cloned())
        .unwrap_or(root);
    let Some(props) = def.get("properties").and_then(Value::as_object) else {
        return HashMap::new();
    };
    props
        .iter()
        .filter_map(|(name, prop)| {
            let prop = prop
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .and_then(|n| g.definitions().get(n))
                .unwrap_or(prop);
            let ty = match prop.get("type")? {
                Value::String(t) => t.clone(),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")?
                    .to_owned(),
                _ => return None,
            };
            Some((name.clone(), ty))
        })
        .collect()
}

/// The type of parameter `name` of `op` (computed once per operation).
fn param_type(op: &Operation, name: &str) -> Option<String> {
    static TYPES: OnceLock<HashMap<&'static str, HashMap<String, String>>> = OnceLock::new();
    TYPES
        .get_or_init(|| {
            ops::operations()
                .iter()
                .map(|o| (o.name, input_types(o)))
                .collect()
        })
        .get(op.name)?
        .get(name)
        .cloned()
}

/// `text` as the JSON value a parameter of type `ty` expects; left as a string when it is not
/// one (validation then names the field).
fn typed(ty: Option<&str>, text: &str) -> Value {
    match ty {
        Some("integer") => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(text)),
        Some("number") => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(text)),
        Some("boolean") => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::from(other),
        },
        _ => Value::from(text),
    }
}

/// A query string as a JSON object of `op`'s input (a parameter given twice is refused).
fn query_object(op: &Operation, query: Option<&str>) -> Result<Value, ApiError> {
    let mut args = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let ty = param_type(op, &k);
        if args
            .insert(k.to_string(), typed(ty.as_deref(), &v))
            .is_some()
        {
            return Err(ApiError::field(k.to_string(), "given more than once"));
        }
    }
    Ok(Value::Object(args))
}

/// Adds the path's parameters (`{id}`) to `args`; a body or query naming one is refused.
fn add_path_params(
    op: &Operation,
    args: &mut Value,
    params: &RawPathParams,
) -> Result<(), ApiError> {
    let obj = args
        .as_object_mut()
        .ok_or_else(|| ApiError::field("body", "expected a JSON object"))?;
    for (name, value) in params {
        if obj.contains_key(name) {
            return Err(ApiError::field(
                name,
                format!("the {name} comes from the path; leave it out of the body and query"),
            ));
        }
        let ty = param_type(op, name);
        obj.insert(name.to_owned(), typed(ty.as_deref(), value));
    }
    Ok(())
}

/// The media type of the request's `Content-Type` (`type/subtype`, its parameters dropped),
/// lower-cased, as media types compare case-insensitively; "" without one.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The body bytes, or the error envelope for a body that could not be read: 413
/// `payload_too_large` over `server.max_body_bytes`, 400 `bad_encoding` for a body sent as
/// gzip (`gzipped`) that is not a valid gzip stream, 400 `bad_body` when reading it failed
/// otherwise.
fn bytes_of(bytes: Result<Bytes, BytesRejection>, gzipped: bool) -> Result<Bytes, ApiError> {
    bytes.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                "the request body is over server.max_body_bytes (after decompression)",
            )
        } else if gzipped {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_encoding",
                format!(
                    "the request body is labelled Content-Encoding: gzip but does not decompress: {}",
                    e.body_text()
                ),
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

/// A JSON body as an object. An empty body is `{}`.
fn body_value(
    content_type: &str,
    bytes: Result<Bytes, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let bytes = bytes?;
    let value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        if content_type != "application/json" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: application/json, found {content_type:?}"),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::field("body", format!("not valid JSON: {e}")))?
    };
    if !value.is_object() {
        return Err(ApiError::field("body", "expected a JSON object"));
    }
    Ok(value)
}

// ---- the two operations with handlers of their own ----

#[derive(Serialize)]
struct IngestResponse {
    #[serde(flatten)]
    report: kaizen_store::IngestReport,
}

/// The media types `POST /events` takes (compared after lower-casing, parameters dropped).
/// The framing is read from the body whichever of them is sent (`docs/events.md`).
pub const EVENT_MEDIA_TYPES: [&str; 3] = [
    "application/x-ndjson",
    "application/json",
    "application/jsonl",
];

async fn events_ingest(
    State(state): St,
    headers: HeaderMap,
    gzipped: Option<Extension<Gzipped>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let ct = content_type(&headers);
    let gzipped = gzipped.is_some();
    let result = with_principal(state, headers, move |state, who| {
        let op = ops::operation(IngestEvents::SPEC.name)
            .ok_or_else(|| ApiError::internal("events.ingest is not registered"))?;
        through_gate(&state.kaizen, who, op, None, |cx| {
            if !EVENT_MEDIA_TYPES.contains(&ct.as_str()) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "expected Content-Type: application/x-ndjson (one event per line) or application/json (an array), found {ct:?}"
                    ),
                ));
            }
            let bytes = bytes_of(bytes, gzipped)?;
            // NDJSON may be empty (nothing to store); a JSON body is one document, an array.
            if ct == "application/json" && bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "an application/json body must be a JSON array of events; this one is empty \
                     (send [] for none, or application/x-ndjson)",
                ));
            }
            Ok(IngestEvents::run(cx, IngestBody::Ndjson(bytes.to_vec()))?)
        })
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
    let op = ops::operation(AgentConfig::SPEC.name)?;
    let who = match state.cached_principal(headers, Via::Rest) {
        Ok(who) => who?,
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = kaizen_service::gate::authorize(&who, op) {
        return Some(Err(ApiError::from(e)));
    }
    state.kaizen.effective_config_fresh(id).map(Ok)
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
            with_principal(state, headers, move |state, who| {
                Ok(state.kaizen.call::<AgentConfig>(who, ops::IdInput { id })?)
            })
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
