//! Every operation of the registry is reachable from the CLI (`kaizen call`), REST and MCP,
//! answers the same there, is authorised the same way (an agent and a read-only token are
//! refused alike over REST and MCP), and every write is audited the same way whichever adapter
//! it came through — the property the one gate (`kaizen_service::Kaizen`) exists for. Real binary, real
//! `kaizen serve` on loopback, rmcp's client over streamable HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Server, issue_token, kaizen};
use kaizen_service::ops::{Method, operations};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const ENABLED: (&str, &str) = ("KAIZEN__SELF_IMPROVEMENT__ENABLED", "true");

/// For each operation, arguments whose outcome is the same wherever they are sent: reads that
/// succeed, and writes that succeed without changing what the next call sees or that are
/// refused for a reason the caller can fix (an unknown id, a missing confirmation).
fn probes() -> BTreeMap<&'static str, (Value, &'static str)> {
    BTreeMap::from([
        ("events.ingest", (json!({"events": []}), "ok")),
        ("agents.config", (json!({"id": "nobody"}), "not_found")),
        ("signals.snapshot", (json!({}), "ok")),
        ("rules.evaluate", (json!({}), "ok")),
        ("cycles.list", (json!({}), "ok")),
        ("cycles.get", (json!({"id": "c-nope"}), "not_found")),
        ("cycles.run", (json!({"dry_run": true}), "ok")),
        ("proposals.list", (json!({}), "ok")),
        ("proposals.get", (json!({"id": "p-nope"}), "not_found")),
        ("proposals.outcome", (json!({"id": "p-nope"}), "not_found")),
        ("proposals.preview", (json!({"id": "p-nope"}), "not_found")),
        ("proposals.submit", (json!({}), "invalid")),
        ("proposals.approve", (json!({"id": "p-nope"}), "not_found")),
        (
            "proposals.reject",
            (json!({"id": "p-nope", "reason": "r"}), "not_found"),
        ),
        (
            "proposals.rollback",
            (json!({"id": "p-nope", "reason": "r"}), "not_found"),
        ),
        ("rollouts.list", (json!({}), "ok")),
        ("rollouts.get", (json!({"id": "p-nope"}), "not_found")),
        ("rollouts.start", (json!({"id": "p-nope"}), "not_found")),
        (
            "rollouts.decide",
            (
                json!({"id": "p-nope", "decision": "apply", "reason": "r"}),
                "not_found",
            ),
        ),
        ("org.current", (json!({}), "ok")),
        ("org.versions", (json!({}), "ok")),
        ("org.version", (json!({"id": 999}), "not_found")),
        ("org.diff", (json!({"from": 1, "to": 1}), "ok")),
        (
            "org.import",
            (
                json!({"document": {"agents": [{"id": ""}]}, "confirm": true, "reason": "r"}),
                "invalid",
            ),
        ),
        (
            "org.restore",
            (
                json!({"id": 999, "confirm": true, "reason": "r"}),
                "not_found",
            ),
        ),
        ("alerts.list", (json!({}), "ok")),
        ("alerts.ack", (json!({"id": 999}), "not_found")),
        ("tokens.list", (json!({}), "ok")),
        (
            "tokens.create",
            (
                json!({"principal": "x", "kind": "agent", "capabilities": ["*:read"], "confirm": false, "reason": "r"}),
                "invalid",
            ),
        ),
        (
            "tokens.revoke",
            (
                json!({"id": "tok_nope", "confirm": true, "reason": "r"}),
                "not_found",
            ),
        ),
        ("audit.list", (json!({}), "ok")),
        ("config.show", (json!({}), "ok")),
    ])
}

/// The outcome code of a REST call of `op` with `args`: `ok` or the envelope's code.
fn rest(server: &Server, token: &str, op: &kaizen_service::ops::Operation, args: &Value) -> String {
    let mut args = args.as_object().cloned().expect("an object");
    let mut path = format!("/api/v1{}", op.path);
    if path.contains("{id}") {
        let id = args.remove("id").expect("an id argument");
        let id = id
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| id.to_string());
        path = path.replace("{id}", &id);
    }
    let auth = format!("Bearer {token}");
    let result = match (op.name, op.method) {
        // NDJSON or a JSON array, not an object.
        ("events.ingest", _) => ureq::post(&server.url(&path))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .config()
            .http_status_as_error(false)
            .build()
            .send(serde_json::to_string(&args["events"]).expect("json")),
        (_, Method::Get) => {
            let mut req = ureq::get(&server.url(&path))
                .header("Authorization", &auth)
                .config()
                .http_status_as_error(false)
                .build();
            for (k, v) in &args {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                req = req.query(k, &v);
            }
            req.call()
        }
        (_, Method::Post) => ureq::post(&server.url(&path))
            .header("Authorization", &auth)
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(Value::Object(args)),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{} {path}: {e}", op.name));
    let status = response.status();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if status.is_success() {
        "ok".to_owned()
    } else {
        body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{} {path}: {status} without an envelope: {body}", op.name))
            .to_owned()
    }
}

/// The error envelope of a failed tool call, wherever the result carries it (structured
/// content, else the JSON text content).
fn mcp_error(result: &CallToolResult) -> Value {
    if let Some(body) = &result.structured_content
        && body.get("error").is_some()
    {
        return body["error"].clone();
    }
    for c in &result.content {
        if let Some(text) = c.as_text()
            && let Ok(v) = serde_json::from_str::<Value>(&text.text)
            && v.get("error").is_some()
        {
            return v["error"].clone();
        }
    }
    panic!("an error result without an envelope: {result:?}")
}

async fn mcp(client: &RunningService<RoleClient, ()>, name: &str, args: &Value) -> String {
    let tool = format!("kaizen_{}", name.replace('.', "_"));
    let result = client
        .call_tool(
            CallToolRequestParams::new(tool.clone())
                .with_arguments(args.as_object().cloned().expect("an object")),
        )
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool}: {e}"));
    if result.is_error == Some(true) {
        mcp_error(&result)["code"]
            .as_str()
            .expect("a code")
            .to_owned()
    } else {
        "ok".to_owned()
    }
}

fn cli(dir: &Path, name: &str, args: &Value) -> String {
    let run = kaizen(
        dir,
        &["call", name, &args.to_string(), "--as", "ana"],
        &[ENABLED],
    );
    let out = run.json();
    match out.get("error") {
        Some(e) => {
            // The exit code follows the kind: 2 for what the caller can fix.
            assert_eq!(run.out.status.code(), Some(2), "{name}: {out}");
            e["code"].as_str().expect("a code").to_owned()
        }
        None => {
            assert_eq!(run.out.status.code(), Some(0), "{name}: {}", run.stderr());
            "ok".to_owned()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_and_is_audited_alike_from_the_cli_rest_and_mcp() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let run = |args: &[&str]| kaizen(dir.path(), args, &[ENABLED]).ok();
    run(&["org", "init"]);
    let created = run(&[
        "token",
        "create",
        "--principal",
        "ana",
        "--kind",
        "human",
        "--cap",
        "*",
        "--as",
        "setup",
        "--json",
    ])
    .json();
    let token = created["secret"].as_str().expect("a secret").to_owned();

    let probes = probes();
    let registered: Vec<&str> = operations().iter().map(|o| o.name).collect();
    let probed: Vec<&str> = probes.keys().copied().collect();
    let mut sorted = registered.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, probed,
        "every operation needs a probe here (and every probe an operation)"
    );

    let server = Server::start(dir.path(), &[ENABLED]);
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
                .auth_header(token.clone()),
        ))
        .await
        .expect("initialising MCP over HTTP");

    for op in operations() {
        let (args, expected) = &probes[op.name];
        let by_cli = cli(dir.path(), op.name, args);
        let by_rest = rest(&server, &token, op, args);
        let by_mcp = mcp(&client, op.name, args).await;
        assert_eq!(
            (by_cli.as_str(), by_rest.as_str(), by_mcp.as_str()),
            (*expected, *expected, *expected),
            "{} (cli, rest, mcp)",
            op.name
        );
    }
    let _ = client.cancel().await;

    // Authorisation is the gate's, so an agent token (`*`, which can never make a human
    // decision) and a read-only human token are refused alike over REST and MCP (the CLI always
    // acts as the local human).
    for (principal, kind, cap) in [("bot", "agent", "*"), ("viewer", "human", "*:read")] {
        let (_, secret) = issue_token(dir.path(), principal, kind, cap);
        let client = ()
            .serve(StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
                    .auth_header(secret.clone()),
            ))
            .await
            .expect("initialising MCP over HTTP");
        let mut refused = 0;
        for op in operations() {
            let (args, _) = &probes[op.name];
            let by_rest = rest(&server, &secret, op, args);
            let by_mcp = mcp(&client, op.name, args).await;
            assert_eq!(by_rest, by_mcp, "{} as {principal} (rest, mcp)", op.name);
            let expected = if op.human_only && kind == "agent" {
                Some("human_only")
            } else if !op.read_only && cap == "*:read" {
                Some("forbidden")
            } else {
                None
            };
            if let Some(code) = expected {
                assert_eq!(by_rest, code, "{} as {principal}", op.name);
                refused += 1;
            }
        }
        assert!(refused > 0, "{principal} was refused nothing");
        let _ = client.cancel().await;
    }

    // Every write: one audit entry per adapter, same actor, outcome and target.
    let audit = kaizen(
        dir.path(),
        &["call", "audit.list", r#"{"limit": 500}"#],
        &[ENABLED],
    )
    .ok()
    .json();
    let items = audit["items"].as_array().expect("audit items");
    for op in operations().iter().filter(|o| !o.read_only) {
        let entries: Vec<&Value> = items
            .iter()
            .filter(|e| e["operation"] == json!(op.name) && e["actor"] == json!("ana"))
            .collect();
        let mut via: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["detail"]["via"].as_str())
            .collect();
        via.sort_unstable();
        assert_eq!(via, ["cli", "mcp", "rest"], "{}: {entries:#?}", op.name);
        let outcomes: Vec<&Value> = entries.iter().map(|e| &e["outcome"]).collect();
        assert!(
            outcomes.windows(2).all(|w| w[0] == w[1]),
            "{}: {outcomes:?}",
            op.name
        );
        // The same target from every adapter, or, for an operation that names what it made (a
        // cycle, a token, an org version), a different one each time.
        let targets: Vec<&Value> = entries.iter().map(|e| &e["target"]).collect();
        let same = targets.windows(2).all(|w| w[0] == w[1]);
        let made = targets
            .iter()
            .filter_map(|t| t.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == targets.len();
        assert!(same || made, "{}: {targets:?}", op.name);
    }
}
