//! Recovering admin access (docs/server.md): the last human admin token cannot be revoked,
//! over the API or with `kaizen token revoke` (the same operation through the same gate), and
//! `kaizen token create` run on the server's machine needs no token and issues a working admin
//! token while `kaizen serve` runs, after which the old one can go.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use common::{Server, issue_token, kaizen};
use serde_json::{Value, json};

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

fn call(agent: &ureq::Agent, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let r = match body {
        Some(b) => agent.post(url).header("Authorization", &auth).send_json(&b),
        None => agent.get(url).header("Authorization", &auth).call(),
    };
    let mut r = r.expect("request");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn admin_access_is_recovered_locally_without_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let (admin_id, admin) = issue_token(dir, "admin", "human", "*");
    let (_, agent) = issue_token(dir, "rt-1", "agent", "*:read");
    let server = Server::start(dir, &[]);
    let http = client();
    let revoke = server.url(&format!("/api/v1/tokens/{admin_id}/revoke"));
    let body = json!({"confirm": true, "reason": "leaving"});

    // Over the API the last human admin token cannot be revoked.
    let (status, v) = call(&http, &revoke, &admin, Some(body.clone()));
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict", "{v}");
    assert_eq!(
        call(&http, &server.url("/api/v1/tokens"), &admin, None).0,
        200
    );

    // Nor on the command line: the same rule, the same answer (exit 2, the conflict named).
    let refused = kaizen(dir, &["token", "revoke", &admin_id, "--as", "root"], &[]);
    let refused = refused.code_is(2);
    assert!(
        refused.stderr().contains("last active human token"),
        "{}",
        refused.stderr()
    );

    // The documented recovery: `kaizen token create` on the server's machine, no token needed,
    // works at once against the running server; then the old admin token can be revoked.
    let (_, recovered) = issue_token(dir, "admin", "human", "*");
    let (status, v) = call(&http, &server.url("/api/v1/tokens"), &recovered, None);
    assert_eq!(status, 200, "{v}");
    kaizen(dir, &["token", "revoke", &admin_id, "--as", "root"], &[]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // the token cache's second
    assert_eq!(
        call(&http, &server.url("/api/v1/tokens"), &admin, None).0,
        401
    );
    assert_eq!(
        call(&http, &server.url("/api/v1/tokens"), &agent, None).0,
        200
    );
    let issued = call(
        &http,
        &server.url("/api/v1/tokens"),
        &recovered,
        Some(
            json!({"principal": "ana", "kind": "human", "capabilities": ["*"],
                    "confirm": true, "reason": "new admin"}),
        ),
    );
    assert_eq!(issued.0, 200, "{}", issued.1);
}
