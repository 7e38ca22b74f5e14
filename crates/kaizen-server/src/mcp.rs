//! The MCP server: every operation of the registry (`kaizen_service::ops`) as a tool named
//! `kaizen_{domain}_{action}`, plus the nine legacy signal tools of the original design
//! (`docs/design.md`), over stdio
//! (`kaizen mcp`) and streamable HTTP (`/mcp` in `kaizen serve`).
//!
//! * The tool list is generated from the registry: the input schema is the operation's input
//!   type, the output schema its output type, the description the registry's text, and the
//!   annotations (read-only, destructive, idempotent) its flags. Nothing is written twice, so
//!   the tools and the REST API cannot drift apart (a test compares them).
//! * Scoping: `tools/list` shows a caller only the tools its token's capabilities allow (deny
//!   beats allow), never a human-only tool to an agent, and only the toolsets and the read-only
//!   mode the `mcp` config section allows; calling any other tool is refused.
//! * A call runs through the gate, `kaizen_service::Kaizen` — the path REST, the web UI and the
//!   CLI take — so it is authorised, rate-limited and audited the same way (`via: "mcp"` in the
//!   audit detail).
//! * Every failure of a call (bad arguments, a refused capability, a guard rejection, an
//!   internal error) is a tool result with `isError: true` whose text content is the REST error
//!   envelope `{"error": {"code", "message", "details"}}` as JSON, with no structured content
//!   (strict clients validate structured content against the output schema even on errors);
//!   protocol errors are only for protocol problems (an unknown tool name, a missing token).
//! * Over HTTP ([`http_service`], [`require_token`]): a request with an `Origin` outside
//!   `mcp.allowed_origins` is refused (403), one without a valid token too (401), a session is
//!   bound to the token that opened it, and `DELETE` of a session answers 204.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::http::{HeaderMap, StatusCode};
use kaizen_core::auth::Action;
use kaizen_service::ops::{self, Operation};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use kaizen_service::{Principal, ServiceError, Via};

use crate::error::ApiError;
use crate::{AppState, blocking};

/// The header naming an MCP session.
const SESSION_HEADER: &str = "mcp-session-id";

/// How a legacy signal tool shapes the operation it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The operation's output as it is.
    Whole,
    /// Only the snapshot's `window` and this domain.
    Domain(&'static str),
}

/// One MCP tool: an operation of the registry under a tool name.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// The tool's name.
    pub name: String,
    /// The operation it runs.
    pub op: &'static Operation,
    /// Whether it is one of the nine legacy signal tools.
    pub legacy: bool,
    /// How the output is shaped.
    pub shape: Shape,
    /// Whether the operation's output is not a JSON object and is wrapped as `{"items": …}`
    /// (MCP's structured content is an object).
    pub wrapped: bool,
    /// The MCP description.
    pub tool: Tool,
}

/// The tool name of a registry operation: `kaizen_{domain}_{action}`.
pub fn tool_name(op: &Operation) -> String {
    format!("kaizen_{}", op.name.replace('.', "_"))
}

/// The legacy signal tools: name, operation, shape, description.
const LEGACY: &[(&str, &str, Shape, &str)] = &[
    (
        "kaizen_signals_get_org_snapshot",
        "signals.snapshot",
        Shape::Whole,
        "Legacy signal tool: the whole signal snapshot (performance, budget, coordination, scaling, errors, evolution, telemetry) for a window. Same as kaizen_signals_snapshot.",
    ),
    (
        "kaizen_signals_get_performance",
        "signals.snapshot",
        Shape::Domain("performance"),
        "Legacy signal tool: the performance domain (quality, success rate, throughput per department and agent) for a window. Returns `window` and `performance`.",
    ),
    (
        "kaizen_signals_get_budget",
        "signals.snapshot",
        Shape::Domain("budget"),
        "Legacy signal tool: the budget domain (spend, forecast, cost per task) for a window. Returns `window` and `budget`.",
    ),
    (
        "kaizen_signals_get_coordination",
        "signals.snapshot",
        Shape::Domain("coordination"),
        "Legacy signal tool: the coordination domain (overhead, efficiency, redundancy, straggler gaps) for a window. Returns `window` and `coordination`.",
    ),
    (
        "kaizen_signals_get_scaling_history",
        "signals.snapshot",
        Shape::Domain("scaling"),
        "Legacy signal tool: the scaling domain (scaling decisions and their outcomes) for a window. Returns `window` and `scaling`.",
    ),
    (
        "kaizen_signals_get_error_patterns",
        "signals.snapshot",
        Shape::Domain("errors"),
        "Legacy signal tool: the errors domain (error findings by category and severity) for a window. Returns `window` and `errors`.",
    ),
    (
        "kaizen_signals_get_evolution_outcomes",
        "signals.snapshot",
        Shape::Domain("evolution"),
        "Legacy signal tool: the evolution domain (outcomes of past changes) for a window. Returns `window` and `evolution`.",
    ),
    (
        "kaizen_signals_get_proposals",
        "proposals.list",
        Shape::Whole,
        "Legacy signal tool: the approval queue, newest first, optionally by status. Same as kaizen_proposals_list.",
    ),
    (
        "kaizen_signals_submit_proposal",
        "proposals.submit",
        Shape::Whole,
        "Legacy signal tool: submit a proposal for human review; it goes through the guard chain. Same as kaizen_proposals_submit.",
    ),
];

/// A standalone JSON Schema (draft 2020-12, definitions under `$defs`) of an operation's
/// input or output, with a top-level `$ref` resolved so the root is the object itself. Inputs
/// use the deserialisation contract (what is accepted), outputs the serialisation contract.
fn standalone(
    f: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    settings: SchemaSettings,
) -> Value {
    let mut g = schemars::SchemaGenerator::new(settings);
    let mut root = f(&mut g).to_value();
    let mut defs = g.take_definitions(true);
    if let Some(name) = root
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .map(str::to_owned)
        && let Some(def) = defs.get(&name)
    {
        let mut resolved = def.clone();
        if let (Some(obj), Some(extra)) = (resolved.as_object_mut(), root.as_object()) {
            for (k, v) in extra {
                if k != "$ref" {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        root = resolved;
        // The root is inlined: keep no unused copy of it in `$defs` (a recursive type still
        // refers to it, and keeps it).
        let reference = format!("\"#/$defs/{name}\"");
        let referred = root.to_string().contains(&reference)
            || defs
                .iter()
                .any(|(k, v)| *k != name && v.to_string().contains(&reference));
        if !referred {
            defs.remove(&name);
        }
    }
    if !defs.is_empty()
        && let Some(obj) = root.as_object_mut()
    {
        obj.insert("$defs".to_owned(), Value::Object(defs));
    }
    // Only formats JSON Schema validators know (the OpenAPI document's rule).
    crate::openapi::standard_formats(&mut root);
    root
}

/// `schema` without the `$defs` entries nothing refers to (a legacy tool's projection of the
/// snapshot keeps only one domain's).
fn prune_defs(mut schema: Value) -> Value {
    let Some(defs) = schema
        .as_object_mut()
        .and_then(|o| o.remove("$defs"))
        .and_then(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
    else {
        return schema;
    };
    let refers = |v: &Value, name: &str| v.to_string().contains(&format!("\"#/$defs/{name}\""));
    let mut kept: Vec<String> = Vec::new();
    let mut todo: Vec<&Value> = vec![&schema];
    while let Some(v) = todo.pop() {
        for (name, def) in &defs {
            if !kept.contains(name) && refers(v, name) {
                kept.push(name.clone());
                todo.push(def);
            }
        }
    }
    let kept: serde_json::Map<String, Value> = defs
        .into_iter()
        .filter(|(name, _)| kept.contains(name))
        .collect();
    if !kept.is_empty()
        && let Some(o) = schema.as_object_mut()
    {
        o.insert("$defs".to_owned(), Value::Object(kept));
    }
    schema
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

fn object(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => {
            let mut o = JsonObject::new();
            o.insert("type".to_owned(), json!("object"));
            o.insert("description".to_owned(), other);
            o
        }
    }
}

fn build(name: String, op: &'static Operation, legacy: bool, shape: Shape, text: &str) -> ToolDef {
    let mut input = standalone(op.input, SchemaSettings::draft2020_12());
    if let Some(obj) = input.as_object_mut() {
        obj.entry("type").or_insert(json!("object"));
        obj.entry("properties").or_insert(json!({}));
    }
    let output = standalone(op.output, SchemaSettings::draft2020_12().for_serialize());
    let wrapped = !is_object_schema(&output);
    let output = match shape {
        Shape::Domain(domain) => {
            let mut props = JsonObject::new();
            for key in ["window", domain] {
                if let Some(p) = output.get("properties").and_then(|p| p.get(key)) {
                    props.insert(key.to_owned(), p.clone());
                }
            }
            let mut o = json!({
                "type": "object",
                "properties": props,
                "required": ["window", domain],
            });
            if let (Some(obj), Some(defs)) = (o.as_object_mut(), output.get("$defs")) {
                obj.insert("$defs".to_owned(), defs.clone());
            }
            o
        }
        Shape::Whole if wrapped => {
            let mut items = output;
            let defs = items.as_object_mut().and_then(|o| o.remove("$defs"));
            let mut o = json!({
                "type": "object",
                "properties": {"items": items},
                "required": ["items"],
            });
            if let (Some(obj), Some(defs)) = (o.as_object_mut(), defs) {
                obj.insert("$defs".to_owned(), defs);
            }
            o
        }
        Shape::Whole => output,
    };
    let mut description = format!("{}\n\n{}", op.summary, text);
    description.push_str(&format!(
        "\n\nNeeds the capability `{}`{}.",
        op.capability(),
        if op.human_only {
            "; only a human principal may call it"
        } else {
            ""
        }
    ));
    if op.action == Action::Admin {
        description.push_str(" An admin tool: pass `confirm: true` and a non-blank `reason`.");
    }
    let annotations = ToolAnnotations::with_title(op.summary)
        .read_only(op.read_only)
        .destructive(op.destructive)
        .idempotent(op.idempotent)
        .open_world(false);
    let tool = Tool::new(
        name.clone(),
        description,
        Arc::new(object(prune_defs(input))),
    )
    .with_raw_output_schema(Arc::new(object(prune_defs(output))))
    .with_title(op.summary)
    .with_annotations(annotations);
    ToolDef {
        name,
        op,
        legacy,
        shape,
        wrapped: wrapped && shape == Shape::Whole,
        tool,
    }
}

/// Every tool, registry tools first (in registry order), then the legacy signal tools.
pub fn all_tools() -> &'static [ToolDef] {
    static TOOLS: OnceLock<Vec<ToolDef>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let mut tools: Vec<ToolDef> = ops::operations()
            .iter()
            .map(|op| build(tool_name(op), op, false, Shape::Whole, op.description))
            .collect();
        for (name, op_name, shape, text) in LEGACY {
            if let Some(op) = ops::operation(op_name) {
                tools.push(build((*name).to_owned(), op, true, *shape, text));
            }
        }
        tools
    })
}

/// Why this server's configuration does not offer `tool` (toolsets, read-only mode, legacy
/// tools), or `None` when it does.
fn disabled(state: &AppState, tool: &ToolDef) -> Option<ServiceError> {
    let config = state.mcp();
    let op = tool.op;
    if !config.offers(op.domain) {
        return Some(ServiceError::Forbidden {
            code: "tool_disabled",
            message: format!(
                "the toolset {} is not enabled on this server (mcp.toolsets)",
                op.domain
            ),
        });
    }
    if config.read_only && !op.read_only {
        return Some(ServiceError::Forbidden {
            code: "tool_disabled",
            message: format!(
                "{} changes state and this server is read-only (mcp.read_only)",
                tool.name
            ),
        });
    }
    if tool.legacy && !config.legacy_tools {
        return Some(ServiceError::Forbidden {
            code: "tool_disabled",
            message: "the legacy signal tools are disabled (mcp.legacy_tools)".to_owned(),
        });
    }
    None
}

/// Why a tool is not offered to a caller (configuration, then capabilities), or `None`.
fn hidden(state: &AppState, caller: &Principal, tool: &ToolDef) -> Option<ServiceError> {
    disabled(state, tool).or_else(|| kaizen_service::gate::authorize(caller, tool.op).err())
}

/// The tools `caller` may see and call.
pub fn visible_tools(state: &AppState, caller: &Principal) -> Vec<&'static ToolDef> {
    all_tools()
        .iter()
        .filter(|t| hidden(state, caller, t).is_none())
        .collect()
}

/// The tool result of a failure: `isError` with the REST error envelope as JSON text content
/// and no structured content. Clients validate structured content against the tool's output
/// schema even when `isError` is set (the official TypeScript SDK does), and the envelope is
/// not the tool's output type.
fn error_result(e: &ApiError) -> CallToolResult {
    let details: Vec<Value> = e
        .details
        .iter()
        .map(|d| json!({"field": d.field, "message": d.message}))
        .collect();
    let envelope = json!({
        "error": {"code": e.code, "message": e.message, "details": details}
    });
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(envelope.to_string())])
}

fn shape_output(tool: &ToolDef, value: Value) -> Value {
    match tool.shape {
        Shape::Domain(domain) => json!({
            "window": value.get("window").cloned().unwrap_or(Value::Null),
            domain: value.get(domain).cloned().unwrap_or(Value::Null),
        }),
        Shape::Whole if tool.wrapped => json!({ "items": value }),
        Shape::Whole => value,
    }
}

/// The audit target of a call: the `id` argument, when there is one.
fn target_of(args: &Value) -> Option<String> {
    match args.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Where a call's credentials come from.
#[derive(Clone)]
enum Credential {
    /// The token `kaizen mcp` was started with.
    Fixed(Arc<str>),
    /// Each HTTP request's `Authorization` header.
    PerRequest,
}

/// The MCP server handler.
#[derive(Clone)]
pub struct KaizenMcp {
    state: Arc<AppState>,
    credential: Credential,
}

impl std::fmt::Debug for KaizenMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KaizenMcp").finish_non_exhaustive()
    }
}

impl KaizenMcp {
    /// A server whose every call authenticates with `secret` (stdio).
    pub fn with_token(state: Arc<AppState>, secret: &str) -> Self {
        Self {
            state,
            credential: Credential::Fixed(Arc::from(secret)),
        }
    }

    /// A server that authenticates each request by its `Authorization` header (HTTP).
    pub fn per_request(state: Arc<AppState>) -> Self {
        Self {
            state,
            credential: Credential::PerRequest,
        }
    }

    fn headers(&self, context: &RequestContext<RoleServer>) -> HeaderMap {
        match &self.credential {
            Credential::Fixed(secret) => {
                let mut h = HeaderMap::new();
                if let Ok(v) = format!("Bearer {secret}").parse() {
                    h.insert(axum::http::header::AUTHORIZATION, v);
                }
                h
            }
            Credential::PerRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .map(|p| p.headers.clone())
                .unwrap_or_default(),
        }
    }

    /// Authenticates the caller of a request; a missing or invalid token is a protocol error.
    async fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        let headers = self.headers(context);
        let state = Arc::clone(&self.state);
        blocking(move || state.authenticate(&headers, Via::Mcp))
            .await
            .map_err(|e| ErrorData::invalid_request(format!("unauthorized: {}", e.message), None))
    }

    /// Runs `tool` with `args` for `caller`: the shared authorise → rate-limit → run → audit
    /// path, then the tool's output shape.
    async fn run(&self, caller: Principal, tool: &'static ToolDef, args: Value) -> CallToolResult {
        let state = Arc::clone(&self.state);
        let target = target_of(&args);
        let result = blocking(move || {
            // The gate authorises (capability, human-only), rate-limits and audits; a tool this
            // server's configuration does not offer is refused inside it, so the refusal is
            // audited too.
            let refusal = disabled(&state, tool);
            Ok(state.kaizen.run_as(
                &caller,
                tool.op,
                target.as_deref(),
                move |cx| match refusal {
                    Some(refusal) => Err(refusal),
                    None => tool.op.invoke(cx, args),
                },
            )?)
        })
        .await;
        match result {
            Ok(value) => CallToolResult::structured(shape_output(tool, value)),
            Err(e) => error_result(&e),
        }
    }
}

impl ServerHandler for KaizenMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("kaizen", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "kaizen makes an organisation of AI agents improve itself safely. Read the signals \
                 (kaizen_signals_snapshot, kaizen_rules_evaluate), the approval queue \
                 (kaizen_proposals_list, kaizen_proposals_get) and rollouts; submit a proposal \
                 with kaizen_proposals_submit (it goes through the guard chain and waits for a \
                 human). Approvals and rollout decisions are human-only. Tools you do not see \
                 are outside your token's capabilities.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context).await?;
        let tools = visible_tools(&self.state, &caller)
            .into_iter()
            .map(|t| t.tool.clone())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = all_tools().iter().find(|t| t.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}", request.name),
                None,
            ));
        };
        let caller = self.caller(&context).await?;
        let args = Value::Object(request.arguments.unwrap_or_default());
        Ok(self.run(caller, tool, args).await.into())
    }
}

/// The most MCP sessions whose principal `/mcp` remembers at once; a new session beyond it is
/// refused (503) until sessions end.
pub const MAX_SESSIONS: usize = 4096;

/// Which token opened each live MCP session (`mcp-session-id` → token id).
struct Sessions {
    manager: Arc<LocalSessionManager>,
    owners: Mutex<HashMap<Arc<str>, String>>,
}

impl Sessions {
    fn owners(&self) -> MutexGuard<'_, HashMap<Arc<str>, String>> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the sessions rmcp has closed (idle timeout, shutdown).
    async fn prune(&self) {
        let ids: Vec<Arc<str>> = self.owners().keys().cloned().collect();
        let mut gone = Vec::new();
        for id in ids {
            if !self.manager.has_session(&id).await.unwrap_or(false) {
                gone.push(id);
            }
        }
        let mut owners = self.owners();
        for id in gone {
            owners.remove(&id);
        }
    }
}

/// The streamable HTTP service mounted at `/mcp`, behind [`require_token`]:
///
/// * rmcp's `Host` validation (DNS-rebinding protection) is on with `mcp.allowed_hosts`;
/// * a session is bound to the token that opened it: a request naming a session with another
///   token is refused (403), one naming a session this server does not know is 404;
/// * closing a session (`DELETE` with its `mcp-session-id`) answers 204.
pub fn http_service(
    state: Arc<AppState>,
    shutdown: tokio_util::sync::CancellationToken,
) -> axum::Router {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let limit = usize::try_from(state.server().max_body_bytes).unwrap_or(usize::MAX);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.mcp().allowed_hosts.clone())
        .with_max_request_body_bytes(limit)
        .with_cancellation_token(shutdown);
    let handler = KaizenMcp::per_request(state);
    let manager = Arc::new(LocalSessionManager::default());
    let service =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::clone(&manager), config);
    let sessions = Arc::new(Sessions {
        manager,
        owners: Mutex::new(HashMap::new()),
    });
    axum::Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn_with_state(
            sessions,
            bind_sessions,
        ))
}

/// The session binding of [`http_service`]; runs after [`require_token`], which leaves the
/// authenticated [`Principal`] in the request's extensions.
async fn bind_sessions(
    axum::extract::State(sessions): axum::extract::State<Arc<Sessions>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(token) = request
        .extensions()
        .get::<Principal>()
        .map(|c| c.auth.token_id.clone())
    else {
        return ApiError::unauthorized("missing bearer token (Authorization: Bearer kz_…)")
            .into_response();
    };
    let named: Option<Arc<str>> = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(Arc::from);
    let delete = request.method() == axum::http::Method::DELETE;
    if let Some(id) = &named {
        let owner = sessions.owners().get(id).cloned();
        match owner {
            None => {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such MCP session (mcp-session-id); initialize a new one",
                )
                .into_response();
            }
            Some(owner) if owner != token => {
                return ApiError::forbidden(
                    "forbidden",
                    "this MCP session (mcp-session-id) was opened with another token",
                )
                .into_response();
            }
            Some(_) => {}
        }
    }
    let mut response = next.run(request).await;
    match &named {
        Some(id) if delete && response.status().is_success() => {
            sessions.owners().remove(id);
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
        }
        Some(_) => {}
        None => {
            let opened: Option<Arc<str>> = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(Arc::from);
            if let Some(id) = opened {
                sessions.prune().await;
                let full = {
                    let mut owners = sessions.owners();
                    if owners.len() >= MAX_SESSIONS {
                        true
                    } else {
                        owners.insert(Arc::clone(&id), token);
                        false
                    }
                };
                if full {
                    let _ = sessions.manager.close_session(&id).await;
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        format!(
                            "too many open MCP sessions ({MAX_SESSIONS}); close one (DELETE /mcp) \
                             or retry later"
                        ),
                    )
                    .into_response();
                }
            }
        }
    }
    response
}

/// Refuses an `/mcp` request before rmcp sees it, with the error envelope: 403 when it carries
/// an `Origin` header that is not in `mcp.allowed_origins` (requests without one pass), 401
/// without a valid bearer token. Leaves the authenticated [`Principal`] in the request's
/// extensions for the session binding.
pub async fn require_token(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(origin) = request.headers().get(axum::http::header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.mcp().allows_origin(o));
        if !allowed {
            return ApiError::forbidden(
                "forbidden",
                format!(
                    "the Origin {} is not allowed to use /mcp (mcp.allowed_origins)",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            )
            .into_response();
        }
    }
    let headers = request.headers().clone();
    let st = Arc::clone(&state);
    let checked = blocking(move || st.authenticate(&headers, Via::Mcp)).await;
    match checked {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// A 401 for `kaizen mcp` started with a token that does not authenticate.
pub fn check_token(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    let mut headers = HeaderMap::new();
    let value = format!("Bearer {secret}").parse().map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token is not ASCII",
        )
    })?;
    headers.insert(axum::http::header::AUTHORIZATION, value);
    state.authenticate(&headers, Via::Mcp)
}
