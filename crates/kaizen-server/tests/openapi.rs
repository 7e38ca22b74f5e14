//! The OpenAPI document states what the server enforces: every input object refuses unknown
//! properties, request bodies with required fields are required, no `format` but `date-time`
//! (schemars' `uint32`, `int64`, `double` … are not JSON Schema formats), no component nothing
//! refers to, and the ranges and enums of the inputs. Over HTTP, an out-of-range `limit` is a
//! 400 naming `limit` (it used to be clamped), and so are `confidence` and an unknown status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;

use common::Server;
use kaizen_server::openapi;
use serde_json::{Map, Value, json};

fn components(doc: &Value) -> Map<String, Value> {
    doc["components"]["schemas"]
        .as_object()
        .cloned()
        .expect("components")
}

/// Every schema object reachable from `v`, following `$ref`s into `defs` once each.
fn reachable(
    v: &Value,
    defs: &Map<String, Value>,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<Value>,
) {
    match v {
        Value::Object(o) => {
            if let Some(name) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && seen.insert(name.to_owned())
            {
                let def = defs
                    .get(name)
                    .unwrap_or_else(|| panic!("dangling $ref {name}"));
                reachable(def, defs, seen, out);
            }
            out.push(v.clone());
            for (k, x) in o {
                if !matches!(k.as_str(), "const" | "enum" | "default" | "examples") {
                    reachable(x, defs, seen, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| reachable(x, defs, seen, out)),
        _ => {}
    }
}

fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for o in item.as_object().expect("a path item").values() {
            out.push((
                o["operationId"].as_str().expect("operationId").to_owned(),
                o.clone(),
            ));
        }
    }
    out
}

/// Every schema object an input (parameter or request body) of any operation reaches.
fn input_schemas(doc: &Value) -> Vec<(String, Value)> {
    let defs = components(doc);
    let mut out = Vec::new();
    for (id, o) in operations(doc) {
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for p in o["parameters"].as_array().expect("parameters") {
            reachable(&p["schema"], &defs, &mut seen, &mut found);
        }
        reachable(&o["requestBody"], &defs, &mut seen, &mut found);
        out.extend(found.into_iter().map(|s| (id.clone(), s)));
    }
    out
}

#[test]
fn every_input_object_refuses_unknown_properties() {
    let doc = openapi::document();
    let mut objects = 0;
    for (id, s) in input_schemas(&doc) {
        let is_object = s.get("type") == Some(&json!("object")) || s.get("properties").is_some();
        // A map (settings sections) has data for keys: its values have a schema instead.
        let is_map = s.get("properties").is_none()
            && s.get("additionalProperties").is_some_and(Value::is_object);
        if is_object && !is_map {
            objects += 1;
            assert_eq!(
                s.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "{id}: {s}"
            );
        }
    }
    assert!(objects > 40, "{objects} input objects");
    // The events body is the events themselves, each a closed kaizen.event.v1 object.
    let events = &doc["paths"]["/api/v1/events"]["post"]["requestBody"];
    assert_eq!(events["required"], true);
    assert_eq!(
        events["content"]["application/json"]["schema"]["type"],
        "array"
    );
    assert!(events["content"]["application/x-ndjson"].is_object());
}

#[test]
fn no_format_but_date_time_and_integer_formats_become_ranges() {
    let doc = openapi::document();
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(f)) = o.get("format")
                    && f != "date-time"
                {
                    out.push(format!("{path}: {f}"));
                }
                for (k, x) in o {
                    walk(x, &format!("{path}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&doc, "", &mut found);
    assert_eq!(found, Vec::<String>::new());
    let text = doc.to_string();
    assert!(text.contains("\"format\":\"date-time\""));
    // `offset` was `format: uint32`: its range is stated instead.
    let params = doc["paths"]["/api/v1/proposals"]["get"]["parameters"].clone();
    let offset = params
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "offset"))
        .expect("offset");
    assert_eq!(offset["schema"]["minimum"], 0);
    assert_eq!(offset["schema"]["maximum"], u32::MAX);
}

#[test]
fn request_bodies_are_required_when_they_carry_required_fields() {
    let doc = openapi::document();
    let mut required = 0;
    for (id, o) in operations(&doc) {
        let Some(body) = o.get("requestBody") else {
            continue;
        };
        let schema = &body["content"]["application/json"]["schema"];
        let has_required = schema["required"].as_array().is_some_and(|r| !r.is_empty());
        if has_required || id == "events.ingest" {
            required += 1;
            assert_eq!(body["required"], true, "{id}");
        } else {
            // Every field optional: the server takes an empty body as `{}`.
            assert_eq!(body["required"], false, "{id}");
        }
    }
    assert_eq!(required, 9);
}

#[test]
fn every_component_is_referred_to() {
    let doc = openapi::document();
    let defs = components(&doc);
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    reachable(&doc["paths"], &defs, &mut seen, &mut found);
    let all: BTreeSet<String> = defs.keys().cloned().collect();
    assert_eq!(
        all.difference(&seen).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    // The inputs resolved into parameters and bodies leave no copies behind.
    for name in [
        "Page",
        "ListProposalsInput",
        "ApproveInput",
        "Submission",
        "IdInput",
    ] {
        assert!(!all.contains(name), "{name}");
    }
}

#[test]
fn ranges_and_enums_of_the_inputs_are_stated() {
    let doc = openapi::document();
    let defs = components(&doc);
    let params = |path: &str| -> Vec<Value> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for path in [
        "/api/v1/proposals",
        "/api/v1/rollouts",
        "/api/v1/audit",
        "/api/v1/cycles",
        "/api/v1/org/versions",
    ] {
        let limit = params(path)
            .into_iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path}: limit"));
        assert_eq!(limit["required"], false);
        assert_eq!(limit["schema"]["type"], "integer", "{path}: not nullable");
        assert_eq!(
            (
                limit["schema"]["minimum"].clone(),
                limit["schema"]["maximum"].clone()
            ),
            (json!(1), json!(500)),
            "{path}"
        );
    }
    let status = params("/api/v1/proposals")
        .into_iter()
        .find(|p| p["name"] == "status")
        .expect("status");
    assert_eq!(
        status["schema"]["$ref"],
        "#/components/schemas/ProposalStatus"
    );
    let variants = defs["ProposalStatus"]["oneOf"].as_array().map(Vec::len);
    assert_eq!(variants, Some(9));
    let submit = &doc["paths"]["/api/v1/proposals"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let confidence = &submit["properties"]["confidence"];
    assert_eq!(
        (
            confidence["minimum"].as_f64(),
            confidence["maximum"].as_f64()
        ),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(submit["properties"]["title"]["maxLength"], 200);
    assert_eq!(submit["properties"]["changes"]["minItems"], 1);
    let token = &doc["paths"]["/api/v1/tokens"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(token["properties"]["confirm"]["const"], true);
}

#[test]
fn out_of_range_values_are_refused_over_http_with_the_field_named() {
    let s = Server::start();
    let t = &s.tokens.admin;
    for q in ["limit=0", "limit=501", "limit=-1"] {
        let r = s.get(&format!("/api/v1/proposals?{q}"), t);
        r.assert_error(400, "invalid");
        assert_eq!(
            r.detail_field().as_deref(),
            Some("limit"),
            "{q}: {}",
            r.body
        );
    }
    for path in [
        "/api/v1/cycles",
        "/api/v1/org/versions",
        "/api/v1/rollouts",
        "/api/v1/audit",
    ] {
        let r = s.get(&format!("{path}?limit=1000"), t);
        r.assert_error(400, "invalid");
        assert_eq!(
            r.detail_field().as_deref(),
            Some("limit"),
            "{path}: {}",
            r.body
        );
    }
    let r = s.get("/api/v1/proposals?limit=500", t);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["limit"], 500);
    let r = s.get("/api/v1/rollouts?state=asleep", t);
    r.assert_error(400, "invalid");
    assert_eq!(r.detail_field().as_deref(), Some("state"), "{}", r.body);

    let body = json!({
        "altitude": "config_tuning", "title": "t", "description": "d", "evidence": "e",
        "changes": [], "confidence": 1.5,
    });
    let r = s.post_json("/api/v1/proposals", t, &body);
    r.assert_error(400, "invalid");
    assert_eq!(
        r.detail_field().as_deref(),
        Some("confidence"),
        "{}",
        r.body
    );
    let r = s.post_json(
        "/api/v1/tokens",
        t,
        &json!({"principal": "x", "kind": "human", "capabilities": ["*:read"], "confirm": true, "reason": "r", "expires_in_days": 5_000_000}),
    );
    r.assert_error(400, "invalid");
    assert_eq!(
        r.detail_field().as_deref(),
        Some("expires_in_days"),
        "{}",
        r.body
    );
}
