//! The MCP server, spoken to with rmcp's client: over stdio (`kaizen mcp --token-file F`, the
//! real binary as a child process) and over streamable HTTP (`/mcp` of a real `kaizen serve`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;

use chrono::{DurationRound, TimeDelta, Utc};
use common::{KAIZEN, Server, issue_token, kaizen};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

const ENABLED: (&str, &str) = ("KAIZEN__SELF_IMPROVEMENT__ENABLED", "true");

/// A store with a week of signals (a budget overrun) and the standard org, and three tokens.
struct Sandbox {
    dir: tempfile::TempDir,
    /// Human, `*`.
    human: String,
    /// Agent, `*` (can never approve).
    agent: String,
    /// Human, `*:read`.
    reader: String,
}

impl Sandbox {
    fn new() -> Self {
        Self::build(true)
    }

    /// The standard org and the tokens, without signals.
    fn bare() -> Self {
        Self::build(false)
    }

    fn build(signals: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let end = Utc::now()
            .duration_trunc(TimeDelta::hours(1))
            .expect("truncating now")
            .to_rfc3339();
        let run = |args: &[&str]| kaizen(dir.path(), args, &[ENABLED]).ok();
        if signals {
            run(&[
                "sim",
                "generate",
                "--agents",
                "20",
                "--days",
                "8",
                "--seed",
                "3",
                "--inject",
                "budget-overrun",
                "--end",
                &end,
                "--output",
                "data.ndjson",
            ]);
            run(&["ingest", "data.ndjson"]);
        }
        run(&["org", "init"]);
        let token = |principal: &str, kind: &str, cap: &str| {
            let (_, secret) = issue_token(dir.path(), principal, kind, cap);
            std::fs::write(dir.path().join(format!("{principal}.token")), &secret)
                .expect("writing the token file");
            secret
        };
        let human = token("ana", "human", "*");
        let agent = token("bot", "agent", "*");
        let reader = token("viewer", "human", "*:read");
        Self {
            dir,
            human,
            agent,
            reader,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kaizen mcp --token-file <principal>.token` as an rmcp client's child process.
    async fn stdio(&self, principal: &str) -> RunningService<RoleClient, ()> {
        self.stdio_with(principal, &[]).await
    }

    /// [`Sandbox::stdio`] with extra environment (configuration overrides).
    async fn stdio_with(
        &self,
        principal: &str,
        env: &[(&str, &str)],
    ) -> RunningService<RoleClient, ()> {
        let mut cmd = tokio::process::Command::new(KAIZEN);
        cmd.arg("mcp")
            .arg("--token-file")
            .arg(self.path(&format!("{principal}.token")))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env(ENABLED.0, ENABLED.1);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let transport = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .map(|(t, _)| t)
            .expect("spawning kaizen mcp");
        ().serve(transport).await.expect("initialising over stdio")
    }
}

impl Server {
    async fn mcp(&self, token: &str) -> RunningService<RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url("/mcp")).auth_header(token),
        );
        ().serve(transport).await.expect("initialising over HTTP")
    }

    /// `GET path` with `token`, as JSON.
    fn rest(&self, path: &str, token: &str) -> Value {
        let mut response = ureq::get(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        response
            .body_mut()
            .read_json()
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }
}

async fn names(client: &RunningService<RoleClient, ()>) -> BTreeSet<String> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect()
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let args = match args {
        Value::Object(o) => o,
        other => panic!("arguments must be an object, found {other}"),
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool}: {e}"))
}

fn ok(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{result:?}");
    result
        .structured_content
        .clone()
        .expect("structured content")
}

/// The error body of a failed call: asserts `isError`, no structured content (a strict client
/// validates it against the tool's output schema), and the code of the envelope in the text.
fn error(result: &CallToolResult, code: &str) -> Value {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert_eq!(result.structured_content, None, "{result:?}");
    let text = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_else(|| panic!("no text content: {result:?}"));
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the error text is not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], json!(code), "{body:#}");
    body["error"].clone()
}

fn fields(e: &Value) -> Vec<String> {
    e["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const HUMAN_ONLY: &[&str] = &[
    "kaizen_proposals_approve",
    "kaizen_proposals_reject",
    "kaizen_proposals_rollback",
    "kaizen_rollouts_start",
    "kaizen_rollouts_decide",
    "kaizen_org_import",
    "kaizen_org_restore",
    "kaizen_tokens_create",
    "kaizen_tokens_revoke",
];

const LEGACY: &[&str] = &[
    "kaizen_signals_get_org_snapshot",
    "kaizen_signals_get_performance",
    "kaizen_signals_get_budget",
    "kaizen_signals_get_coordination",
    "kaizen_signals_get_scaling_history",
    "kaizen_signals_get_error_patterns",
    "kaizen_signals_get_evolution_outcomes",
    "kaizen_signals_get_proposals",
    "kaizen_signals_submit_proposal",
];

fn tier_change() -> Value {
    json!([{"set_setting": {"path": "models.default_tier", "from": "large", "to": "medium"}}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_scopes_tools_by_token_and_runs_them_through_the_same_path_as_rest() {
    let sb = Sandbox::new();
    let server = Server::start(sb.dir.path(), &[ENABLED]);

    // The list differs by capabilities: a human with `*` sees every tool (registry + legacy),
    // an agent with `*` never sees a human-only one, a reader sees read tools only.
    let human = sb.stdio("ana").await;
    let all = names(&human).await;
    for t in HUMAN_ONLY.iter().chain(LEGACY) {
        assert!(all.contains(*t), "{t} missing from {all:?}");
    }
    let agent = sb.stdio("bot").await;
    let agent_tools = names(&agent).await;
    for t in HUMAN_ONLY {
        assert!(!agent_tools.contains(*t), "an agent sees {t}");
    }
    assert!(agent_tools.contains("kaizen_proposals_submit"));
    assert_eq!(
        all.difference(&agent_tools)
            .cloned()
            .collect::<BTreeSet<_>>(),
        HUMAN_ONLY.iter().map(|s| (*s).to_owned()).collect()
    );
    let reader = sb.stdio("viewer").await;
    let read_tools = reader.list_all_tools().await.expect("tools/list");
    assert!(!read_tools.is_empty());
    for t in &read_tools {
        let a = t.annotations.as_ref().expect("annotations");
        assert_eq!(a.read_only_hint, Some(true), "{} is not read-only", t.name);
    }

    // A read tool returns exactly what REST returns.
    let org = ok(&call(&reader, "kaizen_org_current", json!({})).await);
    assert_eq!(org, server.rest("/api/v1/org", &sb.reader));
    let budget = ok(&call(&reader, "kaizen_signals_get_budget", json!({})).await);
    assert!(
        budget["budget"].is_object() && budget["window"].is_object(),
        "{budget:#}"
    );

    // An agent cannot approve: hidden, and refused when called anyway.
    let refused = call(
        &agent,
        "kaizen_proposals_approve",
        json!({"id": "p1", "reason": "trust me"}),
    )
    .await;
    let e = error(&refused, "human_only");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("bot")),
        "{e}"
    );

    // submit_proposal goes through the guard chain and into the queue.
    let submitted = ok(&call(
        &agent,
        "kaizen_signals_submit_proposal",
        json!({
            "altitude": "config_tuning",
            "title": "Cap the per-task spend",
            "description": "Spend per task is over budget; cap it.",
            "evidence": "budget overrun for 3 days",
            "changes": tier_change(),
            "confidence": 0.7
        }),
    )
    .await);
    assert_eq!(submitted["outcome"], "queued", "{submitted:#}");
    assert!(
        submitted["guards"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{submitted:#}"
    );
    let id = submitted["id"].as_str().expect("an id").to_owned();
    let pending = server.rest("/api/v1/proposals?status=pending", &sb.human);
    let queued: Vec<&str> = pending["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(queued.contains(&id.as_str()), "{pending:#}");
    // The same tool through the registry name is a duplicate of the open proposal.
    let again = ok(&call(
        &agent,
        "kaizen_proposals_submit",
        json!({
            "altitude": "config_tuning",
            "title": "Cap the per-task spend",
            "description": "Spend per task is over budget; cap it.",
            "evidence": "budget overrun for 3 days",
            "changes": tier_change(),
            "confidence": 0.7
        }),
    )
    .await);
    assert_eq!(again["outcome"], "duplicate", "{again:#}");
    assert_eq!(again["existing_id"], json!(id));

    // The audit log has the call, with its principal and the adapter.
    let audit = server.rest("/api/v1/audit?operation=proposals.submit", &sb.human);
    let entry = &audit["items"][0];
    assert_eq!(entry["actor"], "bot", "{audit:#}");
    assert_eq!(entry["detail"]["via"], "mcp", "{audit:#}");

    // Malformed arguments: isError with the field named; nothing queued.
    let e = error(
        &call(&human, "kaizen_proposals_get", json!({})).await,
        "invalid",
    );
    assert_eq!(fields(&e), vec!["id"]);
    let e = error(
        &call(
            &human,
            "kaizen_rollouts_decide",
            json!({"id": id, "decision": "maybe", "reason": "x"}),
        )
        .await,
        "invalid",
    );
    assert_eq!(fields(&e), vec!["decision"]);
    let e = error(
        &call(
            &agent,
            "kaizen_proposals_submit",
            json!({"altitude": "config_tuning", "title": "t", "description": "d",
                   "evidence": "e", "changes": tier_change(), "confidence": 2.0}),
        )
        .await,
        "invalid",
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("confidence")),
        "{e}"
    );
    let e = error(
        &call(&human, "kaizen_proposals_list", json!({"limit": "ten"})).await,
        "invalid",
    );
    assert_eq!(fields(&e), vec!["limit"]);

    // Admin tools need confirm and a reason.
    let e = error(
        &call(
            &human,
            "kaizen_tokens_create",
            json!({"principal": "x", "kind": "agent", "capabilities": ["*:read"],
                   "confirm": false, "reason": "r"}),
        )
        .await,
        "invalid",
    );
    assert_eq!(fields(&e), vec!["confirm"]);
    let created = ok(&call(
        &human,
        "kaizen_tokens_create",
        json!({"principal": "ci", "kind": "agent", "capabilities": ["signals:read"],
               "confirm": true, "reason": "CI reads signals"}),
    )
    .await);
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("kz_"))
    );
    // No one hands out more than they hold.
    let e = error(
        &call(
            &reader,
            "kaizen_tokens_create",
            json!({"principal": "y", "kind": "human", "capabilities": ["*"],
                   "confirm": true, "reason": "escalate"}),
        )
        .await,
        "forbidden",
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("tokens:admin")),
        "{e}"
    );

    // A reader calling a write tool is refused with the capability named.
    let e = error(
        &call(&reader, "kaizen_cycles_run", json!({})).await,
        "forbidden",
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("cycles:write")),
        "{e}"
    );

    // An unknown tool is a protocol error.
    let unknown = reader
        .call_tool(CallToolRequestParams::new("kaizen_nope"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");

    for c in [human, agent, reader] {
        let _ = c.cancel().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_needs_a_token_and_scopes_like_stdio() {
    let sb = Sandbox::new();
    let server = Server::start(sb.dir.path(), &[ENABLED]);

    let human = server.mcp(&sb.human).await;
    let agent = server.mcp(&sb.agent).await;
    let h = names(&human).await;
    let a = names(&agent).await;
    assert_eq!(
        h.difference(&a).cloned().collect::<BTreeSet<_>>(),
        HUMAN_ONLY.iter().map(|s| (*s).to_owned()).collect()
    );
    let snapshot = ok(&call(&agent, "kaizen_signals_snapshot", json!({})).await);
    assert!(snapshot["performance"].is_object(), "{snapshot:#}");
    let e = error(
        &call(
            &agent,
            "kaizen_rollouts_decide",
            json!({"id": "x", "decision": "apply", "reason": "r"}),
        )
        .await,
        "human_only",
    );
    assert!(e["message"].is_string());

    // No token, or a wrong one: 401 before MCP, with the error envelope.
    let no_token = ureq::post(&server.url("/mcp"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .config()
        .http_status_as_error(false)
        .build()
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .expect("POST /mcp");
    assert_eq!(no_token.status(), 401);
    let bad = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header("kz_wrong"),
    );
    assert!(().serve(bad).await.is_err());

    // DNS-rebinding protection: a foreign Host is refused even with a valid token.
    let mut stream = std::net::TcpStream::connect(&server.addr).expect("connecting");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sb.human,
        body.len()
    )
    .expect("writing the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading");
    let status = response.split_whitespace().nth(1).unwrap_or("");
    assert!(status.starts_with('4'), "{response}");

    for c in [human, agent] {
        let _ = c.cancel().await;
    }
}

/// One raw `/mcp` request: method, token, extra headers, body; returns the status, the
/// `mcp-session-id` header and the body.
fn raw(
    server: &Server,
    method: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = server.url("/mcp");
    let mut response = match body {
        Some(body) => {
            let mut req = agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body)
        }
        None => {
            assert_eq!(method, "DELETE");
            let mut req = agent
                .delete(&url)
                .header("Authorization", &format!("Bearer {token}"));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
    }
    .unwrap_or_else(|e| panic!("{method} /mcp: {e}"));
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, session, text)
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

fn envelope_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not the error envelope ({e}): {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sessions_belong_to_their_token_delete_answers_204_and_origins_are_checked() {
    let sb = Sandbox::bare();
    let server = Server::start(sb.dir.path(), &[ENABLED]);
    let version = [("MCP-Protocol-Version", "2025-06-18")];

    // The human opens a session and uses it.
    let (status, session, body) = raw(&server, "POST", &sb.human, &[], Some(INITIALIZE));
    assert_eq!(status, 200, "{body}");
    let session = session.expect("an mcp-session-id");
    let mine = [
        ("mcp-session-id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let (status, _, body) = raw(&server, "POST", &sb.human, &mine, Some(INITIALIZED));
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = raw(&server, "POST", &sb.human, &mine, Some(TOOLS_LIST));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kaizen_proposals_approve"), "{body}");

    // Another token (valid, even a human one) cannot use it, nor close it.
    for other in [&sb.agent, &sb.reader] {
        let (status, _, body) = raw(&server, "POST", other, &mine, Some(TOOLS_LIST));
        assert_eq!(status, 403, "{body}");
        assert_eq!(envelope_code(&body), "forbidden", "{body}");
        assert!(body.contains("another token"), "{body}");
        let (status, _, body) = raw(&server, "DELETE", other, &mine, None);
        assert_eq!(status, 403, "{body}");
    }
    // A session id this server never issued: 404 with the envelope.
    let unknown = [
        ("mcp-session-id", "not-a-session"),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let (status, _, body) = raw(&server, "POST", &sb.human, &unknown, Some(TOOLS_LIST));
    assert_eq!(status, 404, "{body}");
    assert_eq!(envelope_code(&body), "not_found", "{body}");

    // Its owner closes it: 204 (not 202); the id is unknown afterwards.
    let (status, _, body) = raw(&server, "DELETE", &sb.human, &mine, None);
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = raw(&server, "POST", &sb.human, &mine, Some(TOOLS_LIST));
    assert_eq!(status, 404, "{body}");

    // Origin: none by default, so any browser origin is refused (403, envelope, key named),
    // even the server's own; requests without Origin pass (above).
    let own = format!("http://{}", server.addr);
    for origin in ["https://evil.example", own.as_str(), "null"] {
        let (status, session, body) = raw(
            &server,
            "POST",
            &sb.human,
            &[("Origin", origin), version[0]],
            Some(INITIALIZE),
        );
        assert_eq!(status, 403, "{origin}: {body}");
        assert_eq!(envelope_code(&body), "forbidden", "{body}");
        assert!(body.contains("mcp.allowed_origins"), "{body}");
        assert!(session.is_none());
    }
    drop(server);

    // With an allow-list: listed origins pass (default port implied), others are refused.
    let server = Server::start(
        sb.dir.path(),
        &[
            ENABLED,
            (
                "KAIZEN__MCP__ALLOWED_ORIGINS",
                "[https://app.example.com, http://localhost:*]",
            ),
        ],
    );
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://APP.example.com:443", true),
        ("http://localhost:5173", true),
        ("https://app.example.com:8443", false),
        ("http://app.example.com", false),
        ("https://evil.example", false),
    ] {
        let (status, _, body) = raw(
            &server,
            "POST",
            &sb.human,
            &[("Origin", origin)],
            Some(INITIALIZE),
        );
        assert_eq!(status, if allowed { 200 } else { 403 }, "{origin}: {body}");
    }
}

#[test]
fn an_invalid_allowed_origin_is_a_configuration_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let run = kaizen(
        dir.path(),
        &["serve", "--bind", "127.0.0.1:0"],
        &[(
            "KAIZEN__MCP__ALLOWED_ORIGINS",
            "[https://ok.example, app.example.com]",
        )],
    )
    .code_is(2);
    assert!(
        run.stderr().contains("mcp.allowed_origins[1]"),
        "{}",
        run.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toolsets_and_read_only_mode_narrow_the_tool_list() {
    let sb = Sandbox::new();
    let narrow = sb
        .stdio_with(
            "ana",
            &[
                ("KAIZEN__MCP__TOOLSETS", "[signals, proposals]"),
                ("KAIZEN__MCP__READ_ONLY", "true"),
                ("KAIZEN__MCP__LEGACY_TOOLS", "false"),
            ],
        )
        .await;
    let tools = names(&narrow).await;
    let expected: BTreeSet<String> = [
        "kaizen_signals_snapshot",
        "kaizen_proposals_list",
        "kaizen_proposals_get",
        "kaizen_proposals_outcome",
        "kaizen_proposals_preview",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(tools, expected);
    // A tool outside the offer is refused even for a human holding `*`.
    let e = error(
        &call(&narrow, "kaizen_proposals_submit", json!({})).await,
        "tool_disabled",
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("read-only")),
        "{e}"
    );
    let e = error(
        &call(&narrow, "kaizen_org_current", json!({})).await,
        "tool_disabled",
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("toolset org")),
        "{e}"
    );
    let e = error(
        &call(&narrow, "kaizen_signals_get_budget", json!({})).await,
        "tool_disabled",
    );
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("legacy")),
        "{e}"
    );
    let _ = narrow.cancel().await;

    // A toolset name that does not exist is a configuration error naming the key.
    let run = kaizen(
        sb.dir.path(),
        &["mcp", "--token-file", "ana.token"],
        &[("KAIZEN__MCP__TOOLSETS", "[signal]")],
    )
    .code_is(2);
    assert!(run.stderr().contains("mcp.toolsets[0]"), "{}", run.stderr());
}

#[test]
fn mcp_refuses_a_missing_empty_or_invalid_token_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    kaizen(dir.path(), &["org", "init"], &[]).ok();
    kaizen(dir.path(), &["mcp", "--token-file", "nope.token"], &[])
        .code_is(2)
        .stderr_has(&["nope.token"]);
    std::fs::write(dir.path().join("empty.token"), "\n").expect("writing");
    kaizen(dir.path(), &["mcp", "--token-file", "empty.token"], &[])
        .code_is(2)
        .stderr_has(&["empty"]);
    std::fs::write(dir.path().join("bad.token"), "kz_not_a_token\n").expect("writing");
    kaizen(dir.path(), &["mcp", "--token-file", "bad.token"], &[])
        .code_is(2)
        .stderr_has(&["bad.token"]);
}
