//! Protocol edges and token administration, end to end on loopback (issue 21, parts 1, 4, 5):
//! bounded metric labels, ambiguous credentials, case-insensitive media types and codings, the
//! error envelope on every error status, the documented ingest limits, the token revocation
//! rules and `server.public_url`. Requests the ordinary client cannot send (two
//! `Authorization` headers, invented methods, a body that never arrives) go over a raw socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Resp, Server, t0, task_line};
use kaizen_core::clock::Clock;
use kaizen_server::settings::Settings;
use kaizen_store::proposals::ActorKind;
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn events_stored(s: &Server) -> u64 {
    s.state.store().stats().expect("stats").events
}

fn lines(s: &Server, prefix: &str, n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&task_line(&format!("{prefix}-{i}"), &s.agents[0], t0()));
        out.push('\n');
    }
    out.into_bytes()
}

/// Sends `request` as is on a new connection and reads the response until the server closes
/// it (the request should say `Connection: close`). Chunked bodies are decoded.
fn raw(s: &Server, request: &[u8]) -> Resp {
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    tcp.write_all(request).expect("send");
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let mut head_lines = head.lines();
    let status: u16 = head_lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers: Vec<(String, String)> = head_lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n.min(after.len())]);
            rest = after.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        body.to_owned()
    };
    Resp {
        status,
        headers,
        body,
    }
}

// ---- part 1: bounded metric labels ----

/// The values of label `label` in the `kaizen_http_requests_total` series of `/metrics`.
fn request_label_values(s: &Server, label: &str) -> BTreeSet<String> {
    let r = s.get_with("/metrics", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let needle = format!("{label}=\"");
    r.body
        .lines()
        .filter(|l| l.starts_with("kaizen_http_requests_total{"))
        .filter_map(|l| {
            let start = l.find(&needle)? + needle.len();
            let end = l[start..].find('"')? + start;
            Some(l[start..end].to_owned())
        })
        .collect()
}

#[test]
fn invented_methods_do_not_grow_the_metric_labels() {
    let s = Server::start();
    for i in 0..150 {
        for path in ["/healthz", "/api/v1/proposals", "/no/such/path"] {
            let r = raw(
                &s,
                format!("KZM{i} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert!(r.status >= 400, "{} {}", r.status, r.body);
        }
    }
    let methods = request_label_values(&s, "method");
    let standard: BTreeSet<String> = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other",
    ]
    .iter()
    .map(|m| (*m).to_owned())
    .collect();
    assert!(
        methods.is_subset(&standard),
        "methods outside the bounded set: {:?}",
        methods.difference(&standard).collect::<Vec<_>>()
    );
    assert!(methods.contains("other"), "{methods:?}");
    // Unknown paths are one `unmatched` route, not one series each.
    let routes = request_label_values(&s, "route");
    assert!(!routes.iter().any(|r| r.contains("no/such")), "{routes:?}");
}

// ---- part 4: protocol edges ----

#[test]
fn two_authorization_headers_are_refused_as_ambiguous() {
    let s = Server::start();
    let request = |a: &str, b: &str| {
        format!(
            "GET /api/v1/proposals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nAuthorization: Bearer {b}\r\nConnection: close\r\n\r\n"
        )
    };
    // Valid + valid, valid + invalid, invalid + valid: refused whichever comes first.
    let admin = &s.tokens.admin;
    for (a, b) in [
        (admin.as_str(), admin.as_str()),
        (admin.as_str(), "kz_nope"),
        ("kz_nope", admin.as_str()),
        (s.tokens.reader.as_str(), admin.as_str()),
    ] {
        let r = raw(&s, request(a, b).as_bytes());
        r.assert_error(401, "unauthorized");
        assert!(r.message().contains("more than one"), "{}", r.body);
        assert!(r.header("www-authenticate").is_some(), "{:?}", r.headers);
    }
    // One header still works.
    let r = raw(
        &s,
        format!(
            "GET /api/v1/proposals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn media_types_and_codings_are_case_insensitive_tokens() {
    let s = Server::start();
    let agent = &s.tokens.agent;
    let cases: [(&str, Option<&str>, bool); 6] = [
        ("APPLICATION/X-NDJSON", None, false),
        ("Application/X-Ndjson; charset=UTF-8", None, false),
        (NDJSON, Some("GZIP"), true),
        (NDJSON, Some("x-gzip"), true),
        ("application/JSON", Some(" Gzip "), true),
        (NDJSON, Some("identity"), false),
    ];
    let mut expected = 0;
    for (i, (ct, ce, compress)) in cases.iter().enumerate() {
        let body = lines(&s, &format!("case{i}"), 3);
        let body = if *compress { gzip(&body) } else { body };
        let mut headers = vec![("Content-Type", *ct)];
        if let Some(ce) = ce {
            headers.push(("Content-Encoding", *ce));
        }
        let r = s.post_raw("/api/v1/events", Some(agent), &headers, &body);
        assert_eq!(r.status, 200, "{ct} {ce:?}: {}", r.body);
        assert_eq!(r.json()["accepted"], 3, "{ct} {ce:?}: {}", r.body);
        expected += 3;
    }
    assert_eq!(events_stored(&s), expected);

    // The JSON body of an ordinary operation too.
    let r = s.post_raw(
        "/api/v1/tokens",
        Some(&s.tokens.admin),
        &[("Content-Type", "Application/Json; Charset=utf-8")],
        br#"{"principal":"ci","kind":"agent","capabilities":["signals:read"],"confirm":true,"reason":"ci"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn unsupported_codings_are_415_with_the_envelope_and_accept_encoding() {
    let s = Server::start();
    let agent = &s.tokens.agent;
    let body = lines(&s, "br", 2);
    for ce in ["br", "deflate", "gzip, gzip", ""] {
        let r = s.post_raw(
            "/api/v1/events",
            Some(agent),
            &[("Content-Type", NDJSON), ("Content-Encoding", ce)],
            &body,
        );
        r.assert_error(415, "unsupported_media_type");
        assert_eq!(r.header("accept-encoding"), Some("gzip"), "{:?}", r.headers);
    }
    // The header twice.
    let r = raw(
        &s,
        format!(
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent}\r\nContent-Type: {NDJSON}\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    r.assert_error(415, "unsupported_media_type");
    assert_eq!(events_stored(&s), 0);
}

#[test]
fn a_body_labelled_gzip_that_is_not_is_400_bad_encoding() {
    let s = Server::start();
    let body = lines(&s, "plain", 2);
    let r = s.post_raw(
        "/api/v1/events",
        Some(&s.tokens.agent),
        &[("Content-Type", NDJSON), ("Content-Encoding", "gzip")],
        &body,
    );
    r.assert_error(400, "bad_encoding");
    assert!(r.message().contains("gzip"), "{}", r.body);
    // Audited as the refusal it is, with its own code.
    let audit = s.last_audit().expect("audited");
    assert_eq!(audit.operation, "events.ingest");
    assert_eq!(audit.detail.unwrap_or(Value::Null)["code"], "bad_encoding");
    // A truncated gzip stream too.
    let mut cut = gzip(&body);
    cut.truncate(cut.len() / 2);
    let r = s.post_raw(
        "/api/v1/events",
        Some(&s.tokens.agent),
        &[("Content-Type", NDJSON), ("Content-Encoding", "x-gzip")],
        &cut,
    );
    r.assert_error(400, "bad_encoding");
    assert_eq!(events_stored(&s), 0);
    // And the JSON body of an ordinary operation.
    let r = s.post_raw(
        "/api/v1/tokens",
        Some(&s.tokens.admin),
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        br#"{"principal":"ci"}"#,
    );
    r.assert_error(400, "bad_encoding");
}

#[test]
fn errors_from_the_router_and_the_layers_carry_the_envelope() {
    let mut config = Settings::default();
    config.server.request_timeout_seconds = 1;
    let s = Server::with_config(config);

    // 405 from the router, with its Allow header kept.
    let r = raw(
        &s,
        b"DELETE /api/v1/proposals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    r.assert_error(405, "method_not_allowed");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{:?}",
        r.headers
    );

    // 408 from the request timeout: the body never arrives.
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        tcp,
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: {NDJSON}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"type\"",
        s.tokens.agent
    )
    .expect("send");
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    let r = parse_response(&bytes);
    r.assert_error(408, "request_timeout");
    assert!(
        r.message().contains("request_timeout_seconds"),
        "{}",
        r.body
    );
}

#[test]
fn event_framing_and_per_element_limits_are_as_documented() {
    let s = Server::start();
    let agent = &s.tokens.agent;
    // application/json with NDJSON in it: read as NDJSON (the framing comes from the body).
    let r = s.events(agent, "application/json", &lines(&s, "json-nd", 2));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["accepted"], 2);
    // application/x-ndjson with an array in it: read as an array.
    let a = task_line("nd-arr-0", &s.agents[0], t0());
    let b = task_line("nd-arr-1", &s.agents[0], t0());
    let r = s.events(agent, NDJSON, format!("[{a},\r\n{b}]").as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["accepted"], 2);
    // An array element over 1 MiB is rejected on its own; the others are stored.
    let big = format!(
        r#"{{"type":"telemetry.event","ts":"2026-11-20T00:00:00Z","event_type":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let c = task_line("big-0", &s.agents[0], t0());
    let d = task_line("big-1", &s.agents[0], t0());
    let r = s.events(
        agent,
        "application/json",
        format!("[{c},\n{big},\n{d}]").as_bytes(),
    );
    assert_eq!(r.status, 207, "{}", &r.body[..r.body.len().min(500)]);
    let v = r.json();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["rejections"][0]["line"], 2);
    assert_eq!(
        v["rejections"][0]["message"],
        "record longer than 1048576 bytes"
    );
    // The same limit on an NDJSON line.
    let r = s.events(agent, NDJSON, format!("{big}\n").as_bytes());
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["rejections"][0]["message"],
        "record longer than 1048576 bytes"
    );
    assert_eq!(events_stored(&s), 6);
}

// ---- part 5: token administration ----

fn revoke(s: &Server, token: &str, id: &str) -> Resp {
    s.post_json(
        &format!("/api/v1/tokens/{id}/revoke"),
        token,
        &json!({"confirm": true, "reason": "test"}),
    )
}

fn token_id(s: &Server, principal: &str) -> String {
    let list = s.get("/api/v1/tokens", &s.tokens.admin).json();
    list.as_array()
        .expect("a list")
        .iter()
        .find(|t| t["principal"] == principal)
        .and_then(|t| t["id"].as_str())
        .unwrap_or_else(|| panic!("no token for {principal}: {list}"))
        .to_owned()
}

#[test]
fn revoking_a_token_needs_at_least_its_rights() {
    let s = Server::start();
    let admin_id = token_id(&s, "admin");
    let reader_id = token_id(&s, "reader");
    let reviewer_id = token_id(&s, "reviewer");
    // The operator (`*` minus proposals:approve) cannot revoke the admin (`*`) or the reviewer
    // (`proposals:*`), whose rights it does not have.
    for id in [&admin_id, &reviewer_id] {
        let r = revoke(&s, &s.tokens.operator, id);
        r.assert_error(403, "forbidden");
        assert!(r.message().contains("proposals:approve"), "{}", r.body);
        assert!(r.message().contains(id.as_str()), "{}", r.body);
    }
    assert_eq!(s.get("/api/v1/proposals", &s.tokens.admin).status, 200);
    let audit = s.last_audit().expect("audited");
    assert_eq!(audit.operation, "tokens.revoke");
    assert_eq!(audit.outcome, kaizen_store::auth::AuditOutcome::Refused);
    // It can revoke a token whose rights it has.
    let r = revoke(&s, &s.tokens.operator, &reader_id);
    assert_eq!(r.status, 200, "{}", r.body);
    s.get("/api/v1/proposals", &s.tokens.reader)
        .assert_error(401, "unauthorized");
    // An agent token with `*` allows proposals:approve by its grant: the operator cannot
    // revoke it either (the same comparison as issuing one).
    let wide = s.issue("rt-wide", ActorKind::Agent, &["*"], None);
    revoke(&s, &s.tokens.operator, &wide.id).assert_error(403, "forbidden");
    assert_eq!(revoke(&s, &s.tokens.admin, &wide.id).status, 200);
}

#[test]
fn the_last_human_admin_token_cannot_be_revoked() {
    let s = Server::start();
    let admin_id = token_id(&s, "admin");
    let operator_id = token_id(&s, "operator");
    // Two human tokens can administer tokens: the admin may revoke the operator.
    assert_eq!(revoke(&s, &s.tokens.admin, &operator_id).status, 200);
    // Now the admin is the last human token with tokens:admin (agent tokens remain): refused.
    let before = s.get("/api/v1/tokens", &s.tokens.admin).json();
    let r = revoke(&s, &s.tokens.admin, &admin_id);
    r.assert_error(409, "conflict");
    assert!(
        r.message().contains("last active human token"),
        "{}",
        r.body
    );
    assert!(r.message().contains(&admin_id), "{}", r.body);
    assert_eq!(s.get("/api/v1/tokens", &s.tokens.admin).json(), before);
    // An expired human admin does not count as a replacement.
    let expired = s.issue(
        "old-admin",
        ActorKind::Human,
        &["*"],
        Some(s.clock.now() + chrono::Duration::hours(1)),
    );
    s.clock.advance(chrono::Duration::hours(2));
    revoke(&s, &s.tokens.admin, &admin_id).assert_error(409, "conflict");
    let _ = expired;
    // With a replacement issued first, the old one goes.
    let r = s.post_json(
        "/api/v1/tokens",
        &s.tokens.admin,
        &json!({"principal": "admin2", "kind": "human", "capabilities": ["*"],
                "confirm": true, "reason": "rotation"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.json()["secret"].as_str().expect("secret").to_owned();
    let r = revoke(&s, &secret, &admin_id);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["revoked_at"].is_string());
    // A narrower human token may still be revoked while a `*` one remains.
    let reviewer_id = token_id_with(&s, &secret, "reviewer");
    assert_eq!(revoke(&s, &secret, &reviewer_id).status, 200);
}

fn token_id_with(s: &Server, token: &str, principal: &str) -> String {
    let list = s.get("/api/v1/tokens", token).json();
    list.as_array()
        .expect("a list")
        .iter()
        .find(|t| t["principal"] == principal)
        .and_then(|t| t["id"].as_str())
        .unwrap_or_else(|| panic!("no token for {principal}: {list}"))
        .to_owned()
}

// ---- server.public_url ----

fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn an_https_public_url_makes_the_ui_cookies_secure() {
    let plain = Server::start();
    let r = plain.get_with("/ui/login", None, &[]);
    let cookies = set_cookies(&r);
    assert!(!cookies.is_empty(), "{:?}", r.headers);
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
    drop(plain);

    let mut config = Settings::default();
    config.server.public_url = Some("https://kaizen.example.com".to_owned());
    let s = Server::with_config(config);
    let r = s.get_with("/ui/login", None, &[]);
    let cookies = set_cookies(&r);
    assert!(!cookies.is_empty(), "{:?}", r.headers);
    for c in &cookies {
        assert!(c.contains("Secure"), "{c}");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(c.contains("Path=/ui"), "{c}");
    }
}

#[test]
fn public_url_must_be_an_http_or_https_url() {
    let check = |url: &str| {
        let mut c = Settings::default();
        c.server.public_url = Some(url.to_owned());
        c.validate()
    };
    for good in [
        "https://kaizen.example.com",
        "HTTPS://kaizen.example.com:8443/base/",
        "http://127.0.0.1:7878",
        "https://[::1]:443",
    ] {
        assert_eq!(check(good), Ok(()), "{good}");
    }
    for bad in [
        "kaizen.example.com",
        "ftp://kaizen.example.com",
        "https://",
        "https://user@host",
        "https://host:0",
        "https://host:99999",
        "https://ho st",
        "",
    ] {
        let err = check(bad).expect_err(bad);
        assert!(
            format!("{err:?}").contains("server.public_url"),
            "{bad}: {err:?}"
        );
    }
    let mut c = Settings::default();
    assert!(!c.server.public_https());
    c.server.public_url = Some("HTTPS://x".to_owned());
    assert!(c.server.public_https());
    c.server.public_url = Some("http://x".to_owned());
    assert!(!c.server.public_https());
}
