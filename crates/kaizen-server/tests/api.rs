//! The REST API end to end: real HTTP on loopback against `kaizen_server::serve` on a real
//! SQLite file, with a manual clock, tokens issued in the store and a synchronous `ureq`
//! client. Every refused write is checked to have changed nothing in the store and, where the
//! caller was authenticated, to have left a `refused` audit entry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;
use std::io::Write as _;

use common::{Resp, Server, Setup, enabled, hours, set, t0, task_line};
use kaizen_core::clock::Clock;
use kaizen_core::config::{KaizenConfig, RolloutStrategyKind};
use kaizen_core::org::standard::{DEDUPLICATION, DEFAULT_TIER, WORK_STEALING};
use kaizen_core::org::{Agent, OrgChange};
use kaizen_server::settings::Settings;
use kaizen_service::ops::{Method, operations};
use kaizen_store::auth::{AuditOutcome, AuditRecord};
use kaizen_store::proposals::{ActorKind, ProposalStatus};
use kaizen_store::rollouts::RolloutState;
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");
const NDJSON: &str = "application/x-ndjson";

fn tier_change() -> OrgChange {
    set(DEFAULT_TIER, "large", "medium")
}

/// Queues the proposal most tests use: `models.default_tier` large → medium, before/after.
fn queue_tier(s: &Server) -> String {
    s.queue(
        "test_rule",
        vec![tier_change()],
        RolloutStrategyKind::BeforeAfter,
    )
}

fn status(s: &Server, id: &str) -> ProposalStatus {
    s.state
        .store()
        .proposal(id)
        .expect("read")
        .expect("stored")
        .status
}

fn rollout_state(s: &Server, id: &str) -> RolloutState {
    s.state
        .store()
        .rollout(id)
        .expect("read")
        .expect("a rollout")
        .state
}

/// Asserts that the newest audit entry is a refusal of `operation` by `actor` with `code`.
#[track_caller]
fn assert_refused_audit(s: &Server, actor: &str, operation: &str, code: &str) -> AuditRecord {
    let e = s.last_audit().expect("an audit entry");
    assert_eq!(e.actor, actor, "{e:?}");
    assert_eq!(e.operation, operation, "{e:?}");
    assert_eq!(e.outcome, AuditOutcome::Refused, "{e:?}");
    let detail = e.detail.clone().unwrap_or(Value::Null);
    assert_eq!(detail["code"], code, "{e:?}");
    e
}

/// A refused write: the response is `status`/`code`, nothing changed and (when `audited_as`
/// names the caller) one `refused` audit entry was appended for it.
#[track_caller]
fn refused(
    s: &Server,
    send: impl FnOnce() -> Resp,
    status: u16,
    code: &str,
    audited_as: Option<(&str, &str)>,
) -> Resp {
    let before = s.observe();
    let audits = s.audit_len();
    let r = send();
    r.assert_error(status, code);
    assert_eq!(s.observe(), before, "a refused write changed the store");
    match audited_as {
        Some((actor, operation)) => {
            assert_eq!(s.audit_len(), audits + 1, "no audit entry for the refusal");
            assert_refused_audit(s, actor, operation, code);
        }
        None => assert_eq!(
            s.audit_len(),
            audits,
            "an unauthenticated request was audited"
        ),
    }
    r
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn lines(ls: &[String]) -> Vec<u8> {
    let mut out = ls.join("\n");
    out.push('\n');
    out.into_bytes()
}

fn events_stored(s: &Server) -> u64 {
    s.state.store().stats().expect("stats").events
}

// ---- 1. authentication and authorisation ----

#[test]
fn requests_without_a_valid_token_are_401_with_www_authenticate() {
    let s = Server::start();
    let check = |r: &Resp| {
        r.assert_error(401, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"kaizen\""),
            "{r:?}"
        );
    };
    // No token, on a read and on a write (not audited: nobody to name).
    let r = s.get_with("/api/v1/proposals", None, &[]);
    check(&r);
    assert!(r.message().contains("missing bearer token"), "{}", r.body);
    let r = refused(
        &s,
        || s.post_raw("/api/v1/cycles", None, &[JSON], b"{}"),
        401,
        "unauthorized",
        None,
    );
    check(&r);

    // Malformed Authorization headers.
    let unknown = format!("kz_{}", "A".repeat(43));
    for h in [
        "Basic YWRtaW46c2VjcmV0".to_owned(),
        "Bearer".to_owned(),
        "Bearer    ".to_owned(),
        format!("Token {}", s.tokens.admin),
        s.tokens.admin.clone(),
        "Bearer not-a-kaizen-token".to_owned(),
        format!("Bearer {}x", s.tokens.admin),
    ] {
        let r = s.get_with("/api/v1/proposals", None, &[("Authorization", &h)]);
        check(&r);
        assert!(
            !r.body.contains(&s.tokens.admin),
            "a secret was echoed: {}",
            r.body
        );
    }
    // "bearer" is case-insensitive.
    let r = s.get_with(
        "/api/v1/proposals",
        None,
        &[("Authorization", &format!("bearer {}", s.tokens.reader))],
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // A well-formed secret nobody was issued.
    let r = s.get_with("/api/v1/proposals", Some(&unknown), &[]);
    check(&r);
    assert!(r.message().contains("unknown token"), "{}", r.body);

    // Revoked.
    let t = s.issue("temp", ActorKind::Human, &["*:read"], None);
    assert_eq!(s.get("/api/v1/proposals", &t.secret).status, 200);
    // Revoked outside the server's own writes (as `kaizen token revoke` in another process
    // does): the token cache lets it through for at most its one-second lifetime.
    s.state
        .store()
        .token_revoke(&t.id, "admin", s.clock.now())
        .expect("revoke");
    let revoked_at = std::time::Instant::now();
    let r = loop {
        let r = s.get("/api/v1/proposals", &t.secret);
        if r.status != 200 || revoked_at.elapsed() > std::time::Duration::from_secs(3) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        revoked_at.elapsed() < std::time::Duration::from_millis(1500),
        "the revocation took {:?}",
        revoked_at.elapsed()
    );
    check(&r);
    assert!(r.message().contains("revoked"), "{}", r.body);
    let r = refused(
        &s,
        || s.post_json("/api/v1/cycles", &t.secret, &json!({})),
        401,
        "unauthorized",
        None,
    );
    check(&r);

    // Expired (on the server's clock).
    let t = s.issue(
        "short-lived",
        ActorKind::Human,
        &["*"],
        Some(s.clock.now() + hours(1)),
    );
    assert_eq!(s.get("/api/v1/proposals", &t.secret).status, 200);
    s.clock.advance(hours(2));
    let r = s.get("/api/v1/proposals", &t.secret);
    check(&r);
    assert!(r.message().contains("expired"), "{}", r.body);
    refused(
        &s,
        || s.post_json("/api/v1/cycles", &t.secret, &json!({"dry_run": true})),
        401,
        "unauthorized",
        None,
    );
}

#[test]
fn a_read_only_token_cannot_write_and_the_403_names_the_capability() {
    let s = Server::start();
    let id = queue_tier(&s);
    let r = refused(
        &s,
        || {
            s.post_json(
                "/api/v1/cycles",
                &s.tokens.reader,
                &json!({"dry_run": false}),
            )
        },
        403,
        "forbidden",
        Some(("reader", "cycles.run")),
    );
    assert!(r.message().contains("cycles:write"), "{}", r.body);
    let body = lines(&[task_line("r-1", &s.agents[0], t0() - hours(1))]);
    let r = refused(
        &s,
        || {
            s.post_raw(
                "/api/v1/events",
                Some(&s.tokens.reader),
                &[("Content-Type", NDJSON)],
                &body,
            )
        },
        403,
        "forbidden",
        Some(("reader", "events.ingest")),
    );
    assert!(r.message().contains("events:write"), "{}", r.body);
    let r = refused(
        &s,
        || s.post_empty(&format!("/api/v1/proposals/{id}/approve"), &s.tokens.reader),
        403,
        "forbidden",
        Some(("reader", "proposals.approve")),
    );
    assert!(r.message().contains("proposals:approve"), "{}", r.body);
    assert_eq!(status(&s, &id), ProposalStatus::Pending);
    // The agent token has no cycles:write either.
    let r = refused(
        &s,
        || s.post_json("/api/v1/cycles", &s.tokens.agent, &json!({"dry_run": true})),
        403,
        "forbidden",
        Some(("rt-00", "cycles.run")),
    );
    assert!(r.message().contains("cycles:write"), "{}", r.body);
    // Reads work.
    assert_eq!(s.get("/api/v1/proposals", &s.tokens.reader).status, 200);
}

#[test]
fn agents_never_approve_reject_or_decide_whatever_their_grant() {
    let s = Server::start();
    let id = queue_tier(&s);
    let r = refused(
        &s,
        || s.post_empty(&format!("/api/v1/proposals/{id}/approve"), &s.tokens.agent),
        403,
        "human_only",
        Some(("rt-00", "proposals.approve")),
    );
    assert!(r.message().contains("human"), "{}", r.body);
    let e = s.last_audit().expect("audit");
    assert_eq!(e.actor_kind, ActorKind::Agent);
    assert_eq!(e.target.as_deref(), Some(id.as_str()));
    assert_eq!(e.before.as_deref(), Some("pending"));
    assert_eq!(e.after.as_deref(), Some("pending"));

    refused(
        &s,
        || {
            s.post_json(
                &format!("/api/v1/proposals/{id}/reject"),
                &s.tokens.agent,
                &json!({"reason": "no"}),
            )
        },
        403,
        "human_only",
        Some(("rt-00", "proposals.reject")),
    );

    // An agent token with `*` is still not a human.
    let star = s.issue("rt-01", ActorKind::Agent, &["*"], None);
    refused(
        &s,
        || {
            s.post_json(
                &format!("/api/v1/proposals/{id}/approve"),
                &star.secret,
                &json!({"reason": "looks fine"}),
            )
        },
        403,
        "human_only",
        Some(("rt-01", "proposals.approve")),
    );
    assert_eq!(status(&s, &id), ProposalStatus::Pending);

    // A human starts the rollout; agents cannot decide it.
    let r = s.post_json(
        &format!("/api/v1/proposals/{id}/approve"),
        &s.tokens.reviewer,
        &json!({"reason": "try it"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for (token, name) in [(&s.tokens.agent, "rt-00"), (&star.secret, "rt-01")] {
        refused(
            &s,
            || {
                s.post_json(
                    &format!("/api/v1/rollouts/{id}/decide"),
                    token,
                    &json!({"decision": "rollback", "reason": "I do not like it"}),
                )
            },
            403,
            "human_only",
            Some((name, "rollouts.decide")),
        );
    }
    assert_eq!(rollout_state(&s, &id), RolloutState::Observing);
    assert_eq!(status(&s, &id), ProposalStatus::RollingOut);
}

#[test]
fn a_deny_pattern_beats_star() {
    let s = Server::start();
    let id = queue_tier(&s);
    let r = refused(
        &s,
        || {
            s.post_json(
                &format!("/api/v1/proposals/{id}/approve"),
                &s.tokens.operator,
                &json!({"reason": "ship it"}),
            )
        },
        403,
        "forbidden",
        Some(("operator", "proposals.approve")),
    );
    assert!(r.message().contains("proposals:approve"), "{}", r.body);
    assert_eq!(status(&s, &id), ProposalStatus::Pending);
    // Everything else `*` allows still works.
    let r = s.post_json(
        &format!("/api/v1/proposals/{id}/reject"),
        &s.tokens.operator,
        &json!({"reason": "not now"}),
    );
    // proposals.reject needs proposals:approve too, so it is refused as well.
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post_json(
        "/api/v1/cycles",
        &s.tokens.operator,
        &json!({"dry_run": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---- 2. the routes are the registry ----

fn unauthenticated(s: &Server, method: Method, path: &str) -> Resp {
    match method {
        Method::Get => s.get_with(path, None, &[]),
        Method::Post => s.post_raw(path, None, &[], b""),
    }
}

fn registry_path(path: &str) -> String {
    format!("/api/v1{}", path.replace("{id}", "x"))
}

#[test]
fn every_registry_operation_has_a_route() {
    let s = Server::start();
    for op in operations() {
        let path = registry_path(op.path);
        let r = unauthenticated(&s, op.method, &path);
        assert!(
            r.status != 404 && r.status != 405,
            "{} {:?} {path}: {} {}",
            op.name,
            op.method,
            r.status,
            r.body
        );
        assert!(
            r.json()["error"]["code"].is_string(),
            "{}: not the error envelope: {}",
            op.name,
            r.body
        );
    }
    // And what is not in the registry is not served.
    let r = s.get("/api/v1/nothing-here", &s.tokens.admin);
    r.assert_error(404, "not_found");
    let r = s.get("/nothing-here", &s.tokens.admin);
    r.assert_error(404, "not_found");
}

#[test]

fn every_registry_operation_answers_401_without_a_token() {
    let s = Server::start();
    let mut wrong = Vec::new();
    for op in operations() {
        let path = registry_path(op.path);
        let r = unauthenticated(&s, op.method, &path);
        if r.status != 401 || r.header("www-authenticate").is_none() {
            wrong.push(format!(
                "{} {:?} {path}: {} {}",
                op.name, op.method, r.status, r.body
            ));
        }
    }
    assert!(wrong.is_empty(), "not 401:\n{}", wrong.join("\n"));
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_the_registry() {
    let s = Server::start();
    let r = s.get_with("/api/v1/openapi.json", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{r:?}"
    );
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]), "{error}");
    assert!(error["properties"]["error"]["properties"]["details"].is_object());

    // Exactly the registry's operations, each path and method once.
    let paths = doc["paths"].as_object().expect("paths");
    let mut seen = BTreeSet::new();
    for (path, item) in paths {
        for (method, o) in item.as_object().expect("path item") {
            let id = o["operationId"].as_str().expect("operationId").to_owned();
            assert!(seen.insert(id.clone()), "operationId {id} twice");
            let op = operations()
                .iter()
                .find(|op| op.name == id)
                .unwrap_or_else(|| panic!("{id} at {method} {path} is not in the registry"));
            assert_eq!(path, &format!("/api/v1{}", op.path), "{id}");
            let want = match op.method {
                Method::Get => "get",
                Method::Post => "post",
            };
            assert_eq!(method, want, "{id}");
            assert_eq!(o["x-capability"], op.capability(), "{id}");
            assert_eq!(o["x-human-only"], op.human_only, "{id}");
            for code in ["200", "400", "401", "403", "404"] {
                assert!(o["responses"][code].is_object(), "{id} lacks {code}");
            }
            if op.method == Method::Post {
                assert!(o["responses"]["429"].is_object(), "{id} lacks 429");
            }
            // Path parameters are declared.
            if op.path.contains("{id}") {
                let params = o["parameters"].as_array().expect("parameters");
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "id" && p["in"] == "path"),
                    "{id}: {params:?}"
                );
            }
        }
    }
    let registry: BTreeSet<String> = operations().iter().map(|o| o.name.to_owned()).collect();
    assert_eq!(seen, registry);
    let routes: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |m| (p.clone(), m.clone()))
        })
        .collect();
    assert_eq!(routes.len(), operations().len());

    // Every reference resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.iter().any(|r| r == "#/components/schemas/Error"));
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }

    // The docs page lists every operation.
    let r = s.get_with("/api/v1/docs", None, &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{r:?}"
    );
    for op in operations() {
        assert!(r.body.contains(op.name), "docs lack {}", op.name);
        assert!(
            r.body.contains(&format!("/api/v1{}", op.path)),
            "docs lack {}",
            op.path
        );
    }
}

// ---- 3. events ----

fn small_body_config() -> Settings {
    let mut c = Settings::from(enabled());
    c.server.max_body_bytes = 4096;
    c
}

fn event_lines(a: &Agent, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            task_line(
                &format!("{prefix}-{i}"),
                a,
                t0() - hours(1) + chrono::Duration::minutes(i as i64),
            )
        })
        .collect()
}

#[test]
fn events_ndjson_json_arrays_and_gzip_are_stored_with_counts() {
    let s = Server::with_config(small_body_config());
    let a = s.agents[3].clone();

    let r = s.events(&s.tokens.agent, NDJSON, &lines(&event_lines(&a, "nd", 3)));
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["records"], 3);
    assert_eq!(b["accepted"], 3);
    assert_eq!(b["duplicates"], 0);
    assert_eq!(b["rejected"], 0);
    assert_eq!(b["rejections"], json!([]));
    assert_eq!(b["accepted_by_type"]["task.completed"], 3);
    assert_eq!(events_stored(&s), 3);

    // A JSON array.
    let arr = format!("[{}]", event_lines(&a, "arr", 2).join(","));
    let r = s.events(&s.tokens.agent, "application/json", arr.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["accepted"], 2);
    assert_eq!(events_stored(&s), 5);

    // Gzip-compressed NDJSON.
    let body = gzip(&lines(&event_lines(&a, "gz", 4)));
    let r = s.post_raw(
        "/api/v1/events",
        Some(&s.tokens.agent),
        &[("Content-Type", NDJSON), ("Content-Encoding", "gzip")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["accepted"], 4);
    assert_eq!(events_stored(&s), 9);

    // The same ids again: counted as duplicates, not stored twice.
    let r = s.events(&s.tokens.agent, NDJSON, &lines(&event_lines(&a, "nd", 3)));
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["accepted"], 0);
    assert_eq!(b["duplicates"], 3);
    assert_eq!(b["rejected"], 0);
    assert_eq!(events_stored(&s), 9);
    // Duplicates within one batch, too.
    let mut twice = event_lines(&a, "tw", 2);
    twice.push(twice[0].clone());
    let r = s.events(&s.tokens.agent, NDJSON, &lines(&twice));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["accepted"], 2);
    assert_eq!(r.json()["duplicates"], 1);
    assert_eq!(events_stored(&s), 11);

    // Ingestion is audited.
    let e = s.last_audit().expect("audit");
    assert_eq!(e.operation, "events.ingest");
    assert_eq!(e.actor, "rt-00");
    assert_eq!(e.outcome, AuditOutcome::Ok);
}

#[test]
fn events_partial_acceptance_is_207_and_all_bad_is_422() {
    let s = Server::with_config(small_body_config());
    let a = s.agents[0].clone();
    let mut ls = event_lines(&a, "p", 3);
    ls[1] = ls[1].replace(
        &(t0() - hours(1) + chrono::Duration::minutes(1)).to_rfc3339(),
        "yesterday",
    );
    assert!(ls[1].contains("yesterday"));
    let r = s.events(&s.tokens.agent, NDJSON, &lines(&ls));
    assert_eq!(r.status, 207, "{}", r.body);
    let b = r.json();
    assert_eq!(b["accepted"], 2);
    assert_eq!(b["rejected"], 1);
    assert_eq!(b["rejections"][0]["line"], 2, "{b}");
    assert_eq!(b["rejections"][0]["field"], "ts", "{b}");
    assert_eq!(events_stored(&s), 2);

    // Every record bad: 422, nothing stored.
    let before = s.observe();
    let bad = lines(&[
        r#"{"type":"task.completed","id":"b-1"}"#.to_owned(),
        "not json at all".to_owned(),
    ]);
    let r = s.events(&s.tokens.agent, NDJSON, &bad);
    assert_eq!(r.status, 422, "{}", r.body);
    let b = r.json();
    assert_eq!(b["accepted"], 0, "{b}");
    assert_eq!(b["rejected"], 2, "{b}");
    assert_eq!(b["rejections"][1]["line"], 2, "{b}");
    assert_eq!(s.observe(), before);

    // Duplicates plus one bad record is still a partial success (207).
    let mut ls = event_lines(&a, "p", 1);
    ls.push(r#"{"type":"task.completed","id":"b-2"}"#.to_owned());
    let r = s.events(&s.tokens.agent, NDJSON, &lines(&ls));
    assert_eq!(r.status, 207, "{}", r.body);
    assert_eq!(r.json()["duplicates"], 1);
    assert_eq!(events_stored(&s), 2);
}

#[test]
fn events_with_a_wrong_type_or_too_big_a_body_are_refused() {
    let s = Server::with_config(small_body_config());
    let a = s.agents[0].clone();
    let good = lines(&event_lines(&a, "w", 2));

    // Wrong or missing content type: 415, audited (the caller is known).
    for ct in ["text/plain", "application/xml"] {
        let r = refused(
            &s,
            || s.events(&s.tokens.agent, ct, &good),
            415,
            "unsupported_media_type",
            Some(("rt-00", "events.ingest")),
        );
        assert!(r.message().contains("application/x-ndjson"), "{}", r.body);
    }
    refused(
        &s,
        || s.post_raw("/api/v1/events", Some(&s.tokens.agent), &[], &good),
        415,
        "unsupported_media_type",
        Some(("rt-00", "events.ingest")),
    );

    // An empty body stores nothing and says so.
    let before = s.observe();
    let r = s.events(&s.tokens.agent, NDJSON, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["records"], 0);
    assert_eq!(r.json()["accepted"], 0);
    assert_eq!(s.observe(), before);
    // As JSON, a blank body is no document (an empty array is one).
    let r = s.events(&s.tokens.agent, "application/json", b"\r\n");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("JSON array"), "{}", r.body);
    let r = s.events(&s.tokens.agent, "application/json", b"[]");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.observe(), before);

    // Over server.max_body_bytes (4096): 413, nothing stored.
    let big = lines(&event_lines(&a, "big", 40));
    assert!(big.len() > 4096);
    let before = s.observe();
    let r = s.events(&s.tokens.agent, NDJSON, &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(s.observe(), before);
    // The limit applies after decompression: a small gzip body that inflates past it.
    let bomb = gzip(&big);
    assert!(bomb.len() < 4096, "{}", bomb.len());
    let r = s.post_raw(
        "/api/v1/events",
        Some(&s.tokens.agent),
        &[("Content-Type", NDJSON), ("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(s.observe(), before);
    // A body that is not gzip although it says so stores nothing.
    let r = s.post_raw(
        "/api/v1/events",
        Some(&s.tokens.agent),
        &[("Content-Type", NDJSON), ("Content-Encoding", "gzip")],
        &good,
    );
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    assert_eq!(s.observe(), before);
}

#[test]

fn too_big_a_body_gets_the_error_envelope() {
    let s = Server::with_config(small_body_config());
    let big = lines(&event_lines(&s.agents[0], "big", 40));
    let r = s.events(&s.tokens.agent, NDJSON, &big);
    r.assert_error(413, "payload_too_large");
}

#[test]

fn an_all_rejected_batch_is_answered_as_the_openapi_document_says() {
    let s = Server::start();
    let doc = s.get_with("/api/v1/openapi.json", None, &[]).json();
    let declared = &doc["paths"]["/api/v1/events"]["post"]["responses"]["422"]["content"]["application/json"]
        ["schema"]["$ref"];
    let r = s.events(
        &s.tokens.agent,
        NDJSON,
        b"{\"type\":\"task.completed\",\"id\":\"b-1\"}\n",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let is_envelope = r.json()["error"]["code"].is_string();
    assert_eq!(
        is_envelope,
        declared == "#/components/schemas/Error",
        "declared {declared}, got {}",
        r.body
    );
}

// ---- 4. effective config ----

#[test]
fn effective_config_has_an_etag_304_and_shows_a_rollout_overlay() {
    let s = Server::start();
    let path = "/api/v1/agents/rt-05/config";
    let r = s.get(path, &s.tokens.agent);
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").expect("ETag").to_owned();
    let body = r.json();
    assert_eq!(
        etag,
        format!("\"{}\"", body["etag"].as_str().expect("etag"))
    );
    assert_eq!(body["agent_id"], "rt-05");
    assert_eq!(body["org_version"], 1);
    assert_eq!(body["overlays"], json!([]));
    assert!(r.body.contains("\"large\""), "{}", r.body);

    // Unchanged: 304 with the tag and no body.
    let r = s.get_with(path, Some(&s.tokens.agent), &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304, "{}", r.body);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.body.is_empty());
    let r = s.get_with(
        path,
        Some(&s.tokens.agent),
        &[("If-None-Match", "\"v1-0000000000000000\", \"nope\"")],
    );
    assert_eq!(r.status, 200);

    // A rollout starts: the tag changes and the body shows the overlay.
    let id = queue_tier(&s);
    let r = s.post_json(
        &format!("/api/v1/proposals/{id}/approve"),
        &s.tokens.reviewer,
        &json!({"reason": "try the medium tier"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get_with(path, Some(&s.tokens.agent), &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let new_etag = r.header("etag").expect("ETag").to_owned();
    assert_ne!(new_etag, etag);
    let body = r.json();
    assert_eq!(body["overlays"], json!([id]), "{body}");
    assert!(r.body.contains("\"medium\""), "{}", r.body);
    assert!(!r.body.contains("\"large\""), "{}", r.body);
    let r = s.get_with(path, Some(&s.tokens.agent), &[("If-None-Match", &new_etag)]);
    assert_eq!(r.status, 304);

    // Unknown agent.
    let r = s.get("/api/v1/agents/nobody/config", &s.tokens.agent);
    r.assert_error(404, "not_found");
    assert!(r.message().contains("nobody"), "{}", r.body);
}

// ---- 5. proposals ----

fn three_proposals(s: &Server) -> Vec<String> {
    vec![
        queue_tier(s),
        s.queue(
            "test_rule_2",
            vec![set(WORK_STEALING, false, true)],
            RolloutStrategyKind::BeforeAfter,
        ),
        s.queue(
            "test_rule_3",
            vec![set(DEDUPLICATION, false, true)],
            RolloutStrategyKind::BeforeAfter,
        ),
    ]
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn proposals_list_filters_and_paginates() {
    let s = Server::start();
    let all = three_proposals(&s);
    let t = &s.tokens.reader;

    let r = s.get("/api/v1/proposals?status=pending", t);
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 50);
    assert_eq!(page["offset"], 0);
    let listed: BTreeSet<String> = ids(&page).into_iter().collect();
    assert_eq!(listed, all.iter().cloned().collect());
    assert!(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["status"] == "pending")
    );

    let first = s.get("/api/v1/proposals?status=pending&limit=2", t).json();
    assert_eq!(first["total"], 3);
    assert_eq!(first["limit"], 2);
    assert_eq!(ids(&first).len(), 2);
    let second = s
        .get("/api/v1/proposals?status=pending&limit=2&offset=2", t)
        .json();
    assert_eq!(second["total"], 3);
    assert_eq!(second["offset"], 2);
    assert_eq!(ids(&second).len(), 1);
    let mut paged: Vec<String> = ids(&first);
    paged.extend(ids(&second));
    assert_eq!(paged, ids(&page), "pages are the full list in order");
    assert_eq!(
        s.get("/api/v1/proposals?offset=10", t).json()["items"],
        json!([])
    );

    let r = s.get("/api/v1/proposals?status=approved", t);
    assert_eq!(r.json()["total"], 0);

    // Bad query parameters name themselves.
    let r = s.get("/api/v1/proposals?status=maybe", t);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("status"), "{}", r.body);
    assert!(r.message().contains("maybe"), "{}", r.body);
    let r = s.get("/api/v1/proposals?limit=lots", t);
    r.assert_error(400, "invalid");
    assert!(r.body.contains("limit"), "{}", r.body);
    let r = s.get("/api/v1/proposals?colour=blue", t);
    r.assert_error(400, "invalid");
    assert!(r.body.contains("colour"), "{}", r.body);

    // One proposal, its preview; an unknown id.
    let id = &all[0];
    let r = s.get(&format!("/api/v1/proposals/{id}"), t);
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["proposal"]["id"], id.as_str());
    assert_eq!(p["status"], "pending");
    assert_eq!(p["transitions"].as_array().map(Vec::len), Some(1));
    let before = s.observe();
    let r = s.get(&format!("/api/v1/proposals/{id}/preview"), t);
    assert_eq!(r.status, 200, "{}", r.body);
    let pv = r.json();
    assert_eq!(pv["proposal_id"], id.as_str());
    assert_eq!(pv["dry_run"], true);
    assert_eq!(pv["base_version"], 1);
    assert_eq!(pv["changes"].as_array().map(Vec::len), Some(1), "{pv}");
    assert_eq!(pv["rollback"].as_array().map(Vec::len), Some(1), "{pv}");
    assert_eq!(s.observe(), before, "a preview wrote something");
    s.get("/api/v1/proposals/nope", t)
        .assert_error(404, "not_found");
    s.get("/api/v1/proposals/nope/preview", t)
        .assert_error(404, "not_found");
}

#[test]
fn proposals_approve_and_reject_validate_their_bodies() {
    let s = Server::start();
    let all = three_proposals(&s);
    let (p1, p2) = (&all[0], &all[1]);
    let t = &s.tokens.reviewer;
    let approve = format!("/api/v1/proposals/{p1}/approve");
    let reject = format!("/api/v1/proposals/{p2}/reject");

    // Refused bodies change nothing.
    let check = |r: Resp, status: u16, code: &str| {
        r.assert_error(status, code);
        r
    };
    let before = s.observe();
    let r = check(s.post_empty(&reject, t), 400, "invalid");
    assert!(r.message().contains("reason"), "{}", r.body);
    let r = check(
        s.post_json(&reject, t, &json!({"reason": "   "})),
        400,
        "invalid",
    );
    assert!(r.message().contains("reason"), "{}", r.body);
    let r = check(
        s.post_json(&reject, t, &json!({"reason": "no", "colour": "blue"})),
        400,
        "invalid",
    );
    assert!(r.message().contains("colour"), "{}", r.body);
    let r = check(
        s.post_json(&approve, t, &json!({"id": "someone-else"})),
        400,
        "invalid",
    );
    assert_eq!(r.detail_field().as_deref(), Some("id"), "{}", r.body);
    check(
        s.post_raw(&approve, Some(t), &[("Content-Type", "text/plain")], b"yes"),
        415,
        "unsupported_media_type",
    );
    let r = check(
        s.post_raw(&approve, Some(t), &[JSON], b"{yes"),
        400,
        "invalid",
    );
    assert_eq!(r.detail_field().as_deref(), Some("body"), "{}", r.body);
    check(
        s.post_raw(&approve, Some(t), &[JSON], b"[1]"),
        400,
        "invalid",
    );
    let r = check(
        s.post_json(&approve, t, &json!({"reason": 42})),
        400,
        "invalid",
    );
    assert_eq!(r.detail_field().as_deref(), Some("reason"), "{}", r.body);
    assert_eq!(s.observe(), before);

    // Unknown ids are 404 and audited as refused.
    refused(
        &s,
        || s.post_empty("/api/v1/proposals/nope/approve", t),
        404,
        "not_found",
        Some(("reviewer", "proposals.approve")),
    );
    refused(
        &s,
        || s.post_json("/api/v1/proposals/nope/reject", t, &json!({"reason": "x"})),
        404,
        "not_found",
        Some(("reviewer", "proposals.reject")),
    );

    // Reject with a reason.
    let r = s.post_json(&reject, t, &json!({"reason": "not worth it"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "rejected");
    assert_eq!(status(&s, p2), ProposalStatus::Rejected);

    // Approve: the rollout starts.
    let r = s.post_json(&approve, t, &json!({"reason": "try it"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["approved"], true, "{a}");
    assert_eq!(a["approvals"], 1);
    assert_eq!(a["rollout"]["strategy"], "before_after", "{a}");
    assert!(a["rollout_error"].is_null(), "{a}");
    assert_eq!(status(&s, p1), ProposalStatus::RollingOut);
    assert_eq!(rollout_state(&s, p1), RolloutState::Observing);
    let p = s.get(&format!("/api/v1/proposals/{p1}"), t).json();
    assert_eq!(p["approvals"][0]["actor"], "reviewer", "{p}");

    // Approving again, or rejecting a rejected proposal, is a state conflict: refused, 409,
    // nothing changes.
    refused(
        &s,
        || s.post_empty(&approve, t),
        409,
        "conflict",
        Some(("reviewer", "proposals.approve")),
    );
    refused(
        &s,
        || s.post_json(&reject, t, &json!({"reason": "again"})),
        409,
        "conflict",
        Some(("reviewer", "proposals.reject")),
    );
}

#[test]

fn a_missing_reason_is_reported_on_the_reason_field() {
    let s = Server::start();
    let all = three_proposals(&s);
    let r = s.post_empty(
        &format!("/api/v1/proposals/{}/reject", all[1]),
        &s.tokens.reviewer,
    );
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("reason"), "{}", r.body);
}

#[test]

fn refused_writes_with_a_bad_body_are_audited() {
    let s = Server::start();
    let all = three_proposals(&s);
    let t = &s.tokens.reviewer;
    let reject = format!("/api/v1/proposals/{}/reject", all[1]);
    let approve = format!("/api/v1/proposals/{}/approve", all[0]);
    refused(
        &s,
        || s.post_empty(&reject, t),
        400,
        "invalid",
        Some(("reviewer", "proposals.reject")),
    );
    refused(
        &s,
        || s.post_json(&approve, t, &json!({"id": "other"})),
        400,
        "invalid",
        Some(("reviewer", "proposals.approve")),
    );
    refused(
        &s,
        || s.post_raw(&approve, Some(t), &[("Content-Type", "text/plain")], b"yes"),
        415,
        "unsupported_media_type",
        Some(("reviewer", "proposals.approve")),
    );
}

// ---- 6. rollouts ----

#[test]
fn rollouts_list_get_checks_and_a_human_rollback() {
    let s = Server::with(Setup {
        feed_hours: 56,
        feed_until: 8,
        ..Setup::default()
    });
    let id = queue_tier(&s);
    let r = s.post_json(
        &format!("/api/v1/proposals/{id}/approve"),
        &s.tokens.reviewer,
        &json!({"reason": "try it"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let t = &s.tokens.reader;

    let list = s.get("/api/v1/rollouts", t).json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["proposal_id"], id.as_str());
    assert_eq!(list["items"][0]["state"], "observing");
    assert_eq!(
        s.get("/api/v1/rollouts?state=observing", t).json()["total"],
        1
    );
    assert_eq!(
        s.get("/api/v1/rollouts?state=applied", t).json()["total"],
        0
    );
    let r = s.get("/api/v1/rollouts?state=sideways", t);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("state"));

    let d = s.get(&format!("/api/v1/rollouts/{id}"), t).json();
    assert_eq!(d["rollout"]["proposal_id"], id.as_str());
    assert_eq!(d["rollout"]["checks_done"], 0);
    assert_eq!(d["checks"], json!([]));
    s.get("/api/v1/rollouts/nope", t)
        .assert_error(404, "not_found");

    // Four hours later the first check is due; the background loop's iteration runs it.
    s.clock.advance(hours(4));
    let next = kaizen_server::background::once(&s.state);
    assert_eq!(next, Some(t0() + hours(8)));
    let d = s.get(&format!("/api/v1/rollouts/{id}"), t).json();
    assert_eq!(d["rollout"]["checks_done"], 1, "{d}");
    assert_eq!(d["checks"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d["checks"][0]["seq"], 1);
    assert_eq!(d["checks"][0]["elapsed_hours"], 4);
    assert_eq!(d["rollout"]["state"], "observing", "{d}");

    // Refused decisions change nothing.
    let decide = format!("/api/v1/rollouts/{id}/decide");
    refused(
        &s,
        || {
            s.post_json(
                &decide,
                &s.tokens.agent,
                &json!({"decision": "rollback", "reason": "x"}),
            )
        },
        403,
        "human_only",
        Some(("rt-00", "rollouts.decide")),
    );
    refused(
        &s,
        || {
            s.post_json(
                &decide,
                &s.tokens.reader,
                &json!({"decision": "rollback", "reason": "x"}),
            )
        },
        403,
        "forbidden",
        Some(("reader", "rollouts.decide")),
    );
    let before = s.observe();
    let r = s.post_json(
        &decide,
        &s.tokens.reviewer,
        &json!({"decision": "rollback", "hours": 5, "reason": "x"}),
    );
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("hours"), "{}", r.body);
    let r = s.post_json(
        &decide,
        &s.tokens.reviewer,
        &json!({"decision": "sideways", "reason": "x"}),
    );
    r.assert_error(400, "invalid");
    assert!(r.body.contains("decision"), "{}", r.body);
    let r = s.post_json(
        &decide,
        &s.tokens.reviewer,
        &json!({"decision": "rollback"}),
    );
    r.assert_error(400, "invalid");
    assert!(r.message().contains("reason"), "{}", r.body);
    assert_eq!(s.observe(), before);
    refused(
        &s,
        || {
            s.post_json(
                &decide,
                &s.tokens.reviewer,
                &json!({"decision": "rollback", "reason": "  "}),
            )
        },
        400,
        "invalid",
        Some(("reviewer", "rollouts.decide")),
    );
    // Apply is for paused rollouts; this one is observing.
    refused(
        &s,
        || {
            s.post_json(
                &decide,
                &s.tokens.reviewer,
                &json!({"decision": "apply", "reason": "looks fine"}),
            )
        },
        400,
        "invalid",
        Some(("reviewer", "rollouts.decide")),
    );
    refused(
        &s,
        || {
            s.post_json(
                "/api/v1/rollouts/nope/decide",
                &s.tokens.reviewer,
                &json!({"decision": "rollback", "reason": "x"}),
            )
        },
        404,
        "not_found",
        Some(("reviewer", "rollouts.decide")),
    );

    // A human rolls it back.
    let r = s.post_json(
        &decide,
        &s.tokens.reviewer,
        &json!({"decision": "rollback", "reason": "the team prefers large"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["state"], "rolled_back", "{b}");
    assert_eq!(b["verdict"]["decided_by"], "reviewer", "{b}");
    assert_eq!(rollout_state(&s, &id), RolloutState::RolledBack);
    assert_eq!(status(&s, &id), ProposalStatus::RolledBack);
    let c = s.get("/api/v1/agents/rt-00/config", &s.tokens.agent).json();
    assert_eq!(c["overlays"], json!([]), "{c}");
    let e = s.last_audit().expect("audit");
    assert_eq!(e.operation, "rollouts.decide");
    assert_eq!(e.outcome, AuditOutcome::Ok);
    assert_eq!(e.before.as_deref(), Some("rolling_out"));
    assert_eq!(e.after.as_deref(), Some("rolled_back"));
    // The next tick has nothing to do.
    assert_eq!(kaizen_server::background::once(&s.state), None);
}

#[test]
fn deciding_a_proposal_that_is_no_longer_pending_is_a_409_conflict() {
    let s = Server::start();
    let all = three_proposals(&s);
    let p = &all[0];
    let t = &s.tokens.reviewer;
    let r = s.post_json(
        &format!("/api/v1/proposals/{p}/reject"),
        t,
        &json!({"reason": "not now"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    refused(
        &s,
        || s.post_empty(&format!("/api/v1/proposals/{p}/approve"), t),
        409,
        "conflict",
        Some(("reviewer", "proposals.approve")),
    );
    refused(
        &s,
        || {
            s.post_json(
                &format!("/api/v1/proposals/{p}/reject"),
                t,
                &json!({"reason": "again"}),
            )
        },
        409,
        "conflict",
        Some(("reviewer", "proposals.reject")),
    );
    refused(
        &s,
        || {
            s.post_json(
                &format!("/api/v1/proposals/{p}/rollback"),
                t,
                &json!({"reason": "undo"}),
            )
        },
        409,
        "conflict",
        Some(("reviewer", "proposals.rollback")),
    );
}

#[test]
fn a_rollout_start_is_refused_for_a_proposal_that_is_not_approved() {
    let s = Server::start();
    let id = queue_tier(&s);
    // A state conflict, not a malformed request: 409 `conflict`, as docs/server.md says.
    refused(
        &s,
        || s.post_empty(&format!("/api/v1/rollouts/{id}/start"), &s.tokens.reviewer),
        409,
        "conflict",
        Some(("reviewer", "rollouts.start")),
    );
    refused(
        &s,
        || s.post_empty(&format!("/api/v1/rollouts/{id}/start"), &s.tokens.agent),
        403,
        "human_only",
        Some(("rt-00", "rollouts.start")),
    );
    let r = s.post_json(
        &format!("/api/v1/rollouts/{id}/start"),
        &s.tokens.reviewer,
        &json!({"strategy": "sideways"}),
    );
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("strategy"), "{}", r.body);
}

// ---- 7. cycles ----

#[test]
fn cycles_run_dry_and_for_real_list_and_get() {
    let s = Server::with(Setup {
        feed_hours: 48,
        feed_until: 0,
        ..Setup::default()
    });
    let t = &s.tokens.admin;
    let before = s.observe();
    let r = s.post_json("/api/v1/cycles", t, &json!({"dry_run": true}));
    assert_eq!(r.status, 200, "{}", r.body);
    let dry = r.json();
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["trigger"], "manual", "{dry}");
    assert_eq!(
        s.observe().proposals,
        before.proposals,
        "a dry run queued something"
    );

    let r = s.post_empty("/api/v1/cycles", t);
    assert_eq!(r.status, 200, "{}", r.body);
    let real = r.json();
    assert_eq!(real["dry_run"], false);
    let id = real["id"].as_str().expect("cycle id").to_owned();

    let list = s.get("/api/v1/cycles", &s.tokens.reader).json();
    let listed = ids(&list);
    assert!(listed.contains(&id), "{list}");
    assert_eq!(list["total"].as_u64(), Some(listed.len() as u64));
    let one = s.get("/api/v1/cycles?limit=1", &s.tokens.reader).json();
    assert_eq!(ids(&one), vec![id.clone()], "newest first: {one}");

    let r = s.get(&format!("/api/v1/cycles/{id}"), &s.tokens.reader);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], id.as_str());
    s.get("/api/v1/cycles/nope", &s.tokens.reader)
        .assert_error(404, "not_found");

    let r = s.post_json("/api/v1/cycles", t, &json!({"dry_run": "yes"}));
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("dry_run"), "{}", r.body);
    let r = s.post_json("/api/v1/cycles", t, &json!({"force": true}));
    r.assert_error(400, "invalid");
    assert!(r.message().contains("force"), "{}", r.body);
}

#[test]
fn cycles_are_refused_while_the_loop_is_disabled() {
    let s = Server::with_config(KaizenConfig::default());
    for body in [json!({}), json!({"dry_run": true})] {
        let r = refused(
            &s,
            || s.post_json("/api/v1/cycles", &s.tokens.admin, &body),
            409,
            "disabled",
            Some(("admin", "cycles.run")),
        );
        assert!(
            r.message().contains("self_improvement.enabled"),
            "{}",
            r.body
        );
    }
    // Nor does the background loop run one.
    kaizen_server::background::once(&s.state);
    assert_eq!(s.observe().cycles, 0);
}

// ---- 8. org ----

#[test]
fn org_current_versions_one_version_and_diff() {
    let s = Server::start();
    let mut more = s.agents.clone();
    more.push(Agent {
        id: "rt-20".into(),
        role: "sre".into(),
        department: "engineering".into(),
    });
    s.state
        .store()
        .org_import(common::org_with(&more), "admin", t0())
        .expect("import v2");
    let t = &s.tokens.reader;

    let cur = s.get("/api/v1/org", t);
    assert_eq!(cur.status, 200, "{}", cur.body);
    let cur = cur.json();
    assert_eq!(cur["id"], 2);
    assert_eq!(cur["document"]["agents"].as_array().map(Vec::len), Some(21));

    let v = s.get("/api/v1/org/versions", t).json();
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["items"][0]["id"], 2);
    assert_eq!(v["items"][1]["id"], 1);
    let v = s.get("/api/v1/org/versions?limit=1&offset=1", t).json();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["items"][0]["id"], 1);

    let one = s.get("/api/v1/org/versions/1", t).json();
    assert_eq!(one["id"], 1);
    assert_eq!(one["document"]["agents"].as_array().map(Vec::len), Some(20));

    let d = s.get("/api/v1/org/diff?from=1&to=2", t);
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    assert_eq!(d["from"], 1);
    assert_eq!(d["to"], 2);
    assert_eq!(d["changes"].as_array().map(Vec::len), Some(1), "{d}");
    assert!(
        d["summary"][0]
            .as_str()
            .is_some_and(|s| s.contains("rt-20")),
        "{d}"
    );
    let back = s.get("/api/v1/org/diff?from=2&to=1", t).json();
    assert_eq!(back["changes"].as_array().map(Vec::len), Some(1), "{back}");

    // Bad versions.
    let r = s.get("/api/v1/org/versions/abc", t);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("id"));
    s.get("/api/v1/org/versions/99", t)
        .assert_error(404, "not_found");
    s.get("/api/v1/org/diff?from=1&to=99", t)
        .assert_error(404, "not_found");
    let r = s.get("/api/v1/org/diff?from=one&to=2", t);
    r.assert_error(400, "invalid");
    assert!(r.body.contains("from"), "{}", r.body);
    let r = s.get("/api/v1/org/diff?from=1", t);
    r.assert_error(400, "invalid");
    assert!(r.body.contains("to"), "{}", r.body);
}

#[test]
fn signals_rules_and_alerts_answer() {
    let s = Server::with(Setup {
        feed_hours: 24,
        feed_until: 0,
        ..Setup::default()
    });
    let t = &s.tokens.reader;
    let r = s.get("/api/v1/snapshot", t);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().is_object());
    let r = s.get(
        "/api/v1/snapshot?since=2026-11-19T00:00:00Z&until=2026-11-20T00:00:00Z",
        t,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get("/api/v1/snapshot?since=yesterday", t);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("since"));
    let r = s.get(
        "/api/v1/snapshot?since=2026-11-20T00:00:00Z&until=2026-11-19T00:00:00Z",
        t,
    );
    r.assert_error(400, "invalid");
    let r = s.get("/api/v1/rules/evaluate", t);
    assert_eq!(r.status, 200, "{}", r.body);

    let r = s.get("/api/v1/alerts", t);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([]));
    refused(
        &s,
        || s.post_empty("/api/v1/alerts/7/ack", &s.tokens.admin),
        404,
        "not_found",
        Some(("admin", "alerts.ack")),
    );
    refused(
        &s,
        || s.post_empty("/api/v1/alerts/7/ack", &s.tokens.reader),
        403,
        "forbidden",
        Some(("reader", "alerts.ack")),
    );
}

// ---- 9. audit ----

#[test]
fn the_audit_log_shows_approvals_and_refusals_through_the_api() {
    let s = Server::start();
    let id = queue_tier(&s);
    let approve = format!("/api/v1/proposals/{id}/approve");
    assert_eq!(s.post_empty(&approve, &s.tokens.agent).status, 403);
    assert_eq!(s.post_empty(&approve, &s.tokens.operator).status, 403);
    assert_eq!(s.post_empty(&approve, &s.tokens.reader).status, 403);
    let r = s.post_json(&approve, &s.tokens.reviewer, &json!({"reason": "go"}));
    assert_eq!(r.status, 200, "{}", r.body);
    // Unauthenticated attempts name nobody and are not logged.
    assert_eq!(s.post_empty(&approve, "kz_nobody").status, 401);

    let reads_before = s.audit_len();
    let r = s.get("/api/v1/audit?operation=proposals", &s.tokens.reader);
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["total"], 4, "{page}");
    let items = page["items"].as_array().expect("items");
    let ok = &items[0];
    assert_eq!(ok["operation"], "proposals.approve", "{ok}");
    assert_eq!(ok["actor"], "reviewer");
    assert_eq!(ok["actor_kind"], "human");
    assert_eq!(ok["target"], id.as_str());
    assert_eq!(ok["outcome"], "ok");
    assert_eq!(ok["before"], "pending");
    assert_eq!(ok["after"], "rolling_out");
    let refusals: Vec<(&str, &str, &str)> = items[1..]
        .iter()
        .map(|e| {
            assert_eq!(e["outcome"], "refused", "{e}");
            assert_eq!(e["before"], "pending", "{e}");
            assert_eq!(e["after"], "pending", "{e}");
            (
                e["actor"].as_str().unwrap_or(""),
                e["actor_kind"].as_str().unwrap_or(""),
                e["detail"]["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        refusals,
        vec![
            ("reader", "human", "forbidden"),
            ("operator", "human", "forbidden"),
            ("rt-00", "agent", "human_only"),
        ]
    );

    // Filters.
    let by = s.get("/api/v1/audit?actor=rt-00", &s.tokens.reader).json();
    assert_eq!(by["total"], 1, "{by}");
    let on = s
        .get(
            &format!("/api/v1/audit?target={id}&limit=2"),
            &s.tokens.reader,
        )
        .json();
    assert_eq!(on["total"], 4, "{on}");
    assert_eq!(on["items"].as_array().map(Vec::len), Some(2));
    let none = s
        .get("/api/v1/audit?operation=cycles", &s.tokens.reader)
        .json();
    assert_eq!(none["total"], 0, "{none}");
    let since = s
        .get("/api/v1/audit?since=2026-11-21T00:00:00Z", &s.tokens.reader)
        .json();
    assert_eq!(since["total"], 0, "{since}");
    let r = s.get("/api/v1/audit?since=last-week", &s.tokens.reader);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("since"));
    // Reads are not audited.
    assert_eq!(s.audit_len(), reads_before);
}

// ---- 10. health and metrics ----

#[test]
fn health_readiness_and_metrics() {
    let s = Server::start();
    let r = s.get_with("/healthz", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ok");
    let r = s.get_with("/readyz", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");

    queue_tier(&s);
    s.queue(
        "test_rule_2",
        vec![set(WORK_STEALING, false, true)],
        RolloutStrategyKind::BeforeAfter,
    );
    assert_eq!(s.get("/api/v1/proposals", &s.tokens.reader).status, 200);
    let r = s.get_with("/metrics", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    assert!(r.body.contains("kaizen_http_requests_total"), "{}", r.body);
    assert!(
        r.body.contains("kaizen_proposals{status=\"pending\"} 2\n"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("kaizen_proposals{status=\"rolling_out\"} 0\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("kaizen_rollouts{state=\"observing\"} 0\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("kaizen_http_request_duration_seconds"),
        "{}",
        r.body
    );
}

#[test]
fn request_metrics_are_labelled_by_route_template() {
    let s = Server::start();
    let id = queue_tier(&s);
    assert_eq!(
        s.get(&format!("/api/v1/proposals/{id}"), &s.tokens.reader)
            .status,
        200
    );
    let r = s.get_with("/metrics", None, &[]);
    assert!(
        r.body.contains("route=\"/api/v1/proposals/{id}\""),
        "{}",
        r.body
    );
}

// ---- 11. rate limit ----

#[test]
fn writes_are_rate_limited_per_token_and_reads_are_not() {
    let mut config = Settings::from(enabled());
    config.server.writes_per_minute = 3;
    let s = Server::with_config(config);
    let a = s.agents[0].clone();
    for i in 0..3 {
        let r = s.events(
            &s.tokens.agent,
            NDJSON,
            &lines(&event_lines(&a, &format!("rl{i}"), 1)),
        );
        assert_eq!(r.status, 200, "write {i}: {}", r.body);
    }
    let body = lines(&event_lines(&a, "rl3", 1));
    let r = refused(
        &s,
        || s.events(&s.tokens.agent, NDJSON, &body),
        429,
        "rate_limited",
        Some(("rt-00", "events.ingest")),
    );
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(events_stored(&s), 3);

    // Reads are not limited.
    for _ in 0..10 {
        assert_eq!(s.get("/api/v1/proposals", &s.tokens.agent).status, 200);
        assert_eq!(
            s.get("/api/v1/agents/rt-00/config", &s.tokens.agent).status,
            200
        );
    }
    // Another token has its own budget.
    let r = s.events(&s.tokens.admin, NDJSON, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(events_stored(&s), 4);
    // And the limited token stays limited.
    refused(
        &s,
        || s.events(&s.tokens.agent, NDJSON, &lines(&event_lines(&a, "rl4", 1))),
        429,
        "rate_limited",
        Some(("rt-00", "events.ingest")),
    );
}

#[test]
fn tokens_are_issued_and_revoked_through_the_api_by_humans_with_confirmation() {
    let s = Server::start();
    let admin = &s.tokens.admin;
    let create = |token: &str, body: Value| s.post_json("/api/v1/tokens", token, &body);
    let good = json!({"principal": "ci", "kind": "agent", "capabilities": ["signals:read"],
                      "expires_in_days": 30, "confirm": true, "reason": "CI reads signals"});

    // Admin guardrails: confirm true and a non-blank reason, each named; nothing issued.
    let before = s
        .get("/api/v1/tokens", admin)
        .json()
        .as_array()
        .map(Vec::len);
    let mut unconfirmed = good.clone();
    unconfirmed["confirm"] = json!(false);
    let r = create(admin, unconfirmed);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("confirm"));
    let mut blank = good.clone();
    blank["reason"] = json!("  ");
    let r = create(admin, blank);
    assert_eq!(r.detail_field().as_deref(), Some("reason"));
    let mut missing = good.clone();
    missing.as_object_mut().map(|o| o.remove("confirm"));
    let r = create(admin, missing);
    assert_eq!(r.detail_field().as_deref(), Some("confirm"));
    // Agents never issue tokens; nor do humans beyond what they hold.
    create(&s.tokens.agent, good.clone()).assert_error(403, "human_only");
    let mut wide = good.clone();
    wide["capabilities"] = json!(["*"]);
    let r = create(&s.tokens.operator, wide);
    r.assert_error(403, "forbidden");
    assert!(r.message().contains("proposals:approve"), "{}", r.body);
    assert_eq!(
        s.get("/api/v1/tokens", admin)
            .json()
            .as_array()
            .map(Vec::len),
        before
    );

    // Issued: the secret once, then it works for what it grants and nothing else.
    let r = create(admin, good);
    assert_eq!(r.status, 200, "{}", r.body);
    let created = r.json();
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let id = created["token"]["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["token"]["kind"], "agent");
    assert_eq!(s.get("/api/v1/snapshot", &secret).status, 200);
    s.get("/api/v1/proposals", &secret)
        .assert_error(403, "forbidden");
    let listed = s.get("/api/v1/tokens", admin).json();
    assert!(!listed.to_string().contains(&secret), "a secret was listed");
    let audit = s.get("/api/v1/audit?operation=tokens.", admin).json();
    assert_eq!(audit["items"][0]["target"], json!(id), "{audit:#}");
    assert_eq!(audit["items"][0]["outcome"], "ok", "{audit:#}");

    // Revoked through the API: refused at once (this process's write clears the token cache).
    let r = s.post_json(
        &format!("/api/v1/tokens/{id}/revoke"),
        admin,
        &json!({"confirm": true, "reason": "rotated"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["revoked_at"].is_string(), "{}", r.body);
    let r = s.get("/api/v1/snapshot", &secret);
    r.assert_error(401, "unauthorized");
    assert!(r.message().contains("revoked"), "{}", r.body);
    s.post_json(
        &format!("/api/v1/tokens/{id}/revoke"),
        admin,
        &json!({"confirm": true, "reason": "again"}),
    )
    .assert_error(409, "conflict");
    s.post_json(
        "/api/v1/tokens/tok_nope/revoke",
        admin,
        &json!({"confirm": true, "reason": "x"}),
    )
    .assert_error(404, "not_found");
}

#[test]
fn proposals_submitted_over_rest_pass_the_guard_chain_into_the_queue() {
    let s = Server::start();
    let body = json!({
        "altitude": "config_tuning",
        "title": "Use the medium tier",
        "description": "Quality holds on medium; spend is over budget.",
        "evidence": "spend 130 % of budget for 3 days",
        "changes": [serde_json::to_value(tier_change()).expect("a change")],
        "confidence": 0.6
    });
    // Submitting needs proposals:write, which the fixture's agent token lacks.
    let r = s.post_json("/api/v1/proposals", &s.tokens.agent, &body);
    r.assert_error(403, "forbidden");
    let r = s.post_json("/api/v1/proposals", &s.tokens.operator, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let out = r.json();
    assert_eq!(out["outcome"], "queued", "{out:#}");
    let id = out["id"].as_str().expect("an id").to_owned();
    assert_eq!(status(&s, &id), ProposalStatus::Pending);
    let shown = s
        .get(&format!("/api/v1/proposals/{id}"), &s.tokens.reader)
        .json();
    assert_eq!(
        shown["proposal"]["rationale"]["rule_name"], "submitted",
        "{shown:#}"
    );
    assert!(
        shown["proposal"]["rollback"]["operations"]
            .as_array()
            .is_some_and(|o| o.len() == 1),
        "a derived rollback plan: {shown:#}"
    );

    // Bad submissions are refused naming the field; nothing is queued.
    let before = s.observe();
    for (patch, field) in [
        (json!({"changes": []}), "changes"),
        (json!({"confidence": 1.5}), "confidence"),
        (json!({"title": " "}), "title"),
        (json!({"altitude": "architecture"}), "changes[0]"),
        (json!({"altitude": "sideways"}), "altitude"),
        (json!({"extra": 1}), "extra"),
    ] {
        let mut b = body.clone();
        for (k, v) in patch.as_object().expect("an object") {
            b[k] = v.clone();
        }
        let r = s.post_json("/api/v1/proposals", &s.tokens.operator, &b);
        r.assert_error(400, "invalid");
        assert!(
            r.detail_field().as_deref() == Some(field) || r.message().starts_with(field),
            "{field}: {}",
            r.body
        );
    }
    assert_eq!(s.observe(), before);

    // A change outside the rollback guard's reach is rejected by the guard chain, not queued.
    let mut unknown = body.clone();
    unknown["changes"] =
        json!([{"set_setting": {"path": "models.default_tier", "from": "small", "to": "medium"}}]);
    let r = s.post_json("/api/v1/proposals", &s.tokens.operator, &unknown);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "rejected_by_guard", "{}", r.body);
    assert_eq!(s.observe().proposals, before.proposals);
}
