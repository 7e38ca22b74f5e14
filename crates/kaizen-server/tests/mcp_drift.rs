//! The MCP tool list and the REST OpenAPI document describe the same operations with the same
//! schemas: both are generated from the operation registry, and this test holds them to it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet};

use kaizen_server::mcp::{Shape, all_tools};
use kaizen_server::openapi;
use kaizen_service::ops::{Method, operations};
use serde_json::{Map, Value};

/// `v` with every `$ref` into `defs` replaced by its definition (recursively; a reference
/// already being expanded stays a reference, so recursive types terminate).
fn deref(v: &Value, defs: &Map<String, Value>, seen: &mut Vec<String>) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or(r).to_owned();
                if seen.contains(&name) {
                    return Value::String(format!("recursive:{name}"));
                }
                let def = defs
                    .get(&name)
                    .unwrap_or_else(|| panic!("dangling reference {r}"));
                seen.push(name);
                let mut out = deref(def, defs, seen);
                seen.pop();
                if let Value::Object(out_obj) = &mut out {
                    for (k, x) in o {
                        if k != "$ref" {
                            out_obj.insert(k.clone(), deref(x, defs, seen));
                        }
                    }
                }
                return out;
            }
            Value::Object(
                o.iter()
                    .filter(|(k, _)| k.as_str() != "$defs" && k.as_str() != "$schema")
                    .map(|(k, x)| (k.clone(), deref(x, defs, seen)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| deref(x, defs, seen)).collect()),
        other => other.clone(),
    }
}

/// An MCP schema with its definitions inlined and the OpenAPI document's format rule applied
/// (only `date-time` is kept; integer formats become ranges).
fn mcp_deref(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut v = deref(schema, &defs, &mut Vec::new());
    openapi::standard_formats(&mut v);
    v
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_operation_is_one_tool_and_one_rest_operation_with_the_same_schemas() {
    let doc = openapi::document();
    let components = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .expect("components");
    let rest_deref = |v: &Value| deref(v, &components, &mut Vec::new());

    // operationId → (method, operation object)
    let mut rest: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, o) in item.as_object().expect("a path item") {
            let id = o["operationId"].as_str().expect("operationId").to_owned();
            assert!(
                rest.insert(id.clone(), (method.clone(), o.clone()))
                    .is_none(),
                "{id} twice ({path})"
            );
        }
    }
    let registry: BTreeSet<String> = operations().iter().map(|o| o.name.to_owned()).collect();
    assert_eq!(rest.keys().cloned().collect::<BTreeSet<_>>(), registry);

    let tools: Vec<_> = all_tools().iter().filter(|t| !t.legacy).collect();
    let tool_ops: BTreeSet<String> = tools.iter().map(|t| t.op.name.to_owned()).collect();
    assert_eq!(tool_ops, registry, "one tool per operation");
    assert_eq!(tools.len(), registry.len());

    for tool in tools {
        let op = tool.op;
        assert_eq!(tool.name, format!("kaizen_{}", op.name.replace('.', "_")));
        let (method, o) = &rest[op.name];
        assert_eq!(
            method,
            match op.method {
                Method::Get => "get",
                Method::Post => "post",
            }
        );
        assert_eq!(
            o["x-capability"],
            Value::from(op.capability()),
            "{}",
            op.name
        );
        assert_eq!(o["x-human-only"], Value::from(op.human_only), "{}", op.name);
        let description = tool.tool.description.as_deref().unwrap_or_default();
        assert!(description.contains(op.description), "{}", op.name);

        // Annotations are the registry's flags.
        let a = tool.tool.annotations.as_ref().expect("annotations");
        assert_eq!(a.read_only_hint, Some(op.read_only), "{}", op.name);
        assert_eq!(a.destructive_hint, Some(op.destructive), "{}", op.name);
        assert_eq!(a.idempotent_hint, Some(op.idempotent), "{}", op.name);

        // Input: the tool's properties are the REST path, query and body fields together.
        let input = mcp_deref(&Value::Object((*tool.tool.input_schema).clone()));
        assert_eq!(input["type"], "object", "{}", op.name);
        let tool_props = input["properties"].as_object().cloned().unwrap_or_default();
        let mut rest_props = Map::new();
        let mut rest_required = BTreeSet::new();
        let mut query = BTreeSet::new();
        for p in o["parameters"].as_array().expect("parameters") {
            let name = p["name"].as_str().expect("a name").to_owned();
            if p["required"] == Value::Bool(true) {
                rest_required.insert(name.clone());
            }
            let mut schema = rest_deref(&p["schema"]);
            if p["in"] == "query" {
                query.insert(name.clone());
                // The parameter carries the field's description.
                if let (Some(obj), Some(d)) = (schema.as_object_mut(), p.get("description")) {
                    obj.insert("description".to_owned(), d.clone());
                }
            }
            rest_props.insert(name, schema);
        }
        // A query parameter is optional rather than nullable; the tool's field may be `null`.
        let tool_props: Map<String, Value> = tool_props
            .into_iter()
            .map(|(k, v)| {
                let v = if query.contains(&k) {
                    openapi::without_null(v)
                } else {
                    v
                };
                (k, v)
            })
            .collect();
        if op.name == "events.ingest" {
            // REST takes the events as the body itself (NDJSON or an array); MCP as `events`.
            assert!(o["requestBody"]["content"]["application/json"]["schema"]["type"] == "array");
            assert_eq!(tool_props.keys().collect::<Vec<_>>(), vec!["events"]);
            assert_eq!(tool_props["events"]["type"], "array");
        } else {
            if let Some(body) =
                o["requestBody"]["content"]["application/json"]["schema"].as_object()
            {
                let body = rest_deref(&Value::Object(body.clone()));
                for (k, v) in body["properties"].as_object().cloned().unwrap_or_default() {
                    rest_props.insert(k, v);
                }
                rest_required.extend(required(&body));
            }
            let tool_props: Map<String, Value> = tool_props.into_iter().collect();
            assert_eq!(
                Value::Object(tool_props),
                Value::Object(rest_props),
                "{}: input properties differ",
                op.name
            );
            assert_eq!(
                required(&input),
                rest_required,
                "{}: required differ",
                op.name
            );
        }

        // Output: the tool's output schema is the 200 response's (lists wrapped as `items`).
        let out = mcp_deref(&Value::Object(
            (**tool.tool.output_schema.as_ref().expect("an output schema")).clone(),
        ));
        let out = if tool.wrapped {
            out["properties"]["items"].clone()
        } else {
            out
        };
        let rest_out = rest_deref(&o["responses"]["200"]["content"]["application/json"]["schema"]);
        assert_eq!(out, rest_out, "{}: output schemas differ", op.name);
    }

    // The legacy tools run registry operations, with the same input schema.
    let legacy: Vec<_> = all_tools().iter().filter(|t| t.legacy).collect();
    assert_eq!(legacy.len(), 9);
    for t in legacy {
        let plain = all_tools()
            .iter()
            .find(|p| !p.legacy && p.op.name == t.op.name)
            .expect("the operation's own tool");
        assert_eq!(
            mcp_deref(&Value::Object((*t.tool.input_schema).clone())),
            mcp_deref(&Value::Object((*plain.tool.input_schema).clone())),
            "{}",
            t.name
        );
        if let Shape::Domain(domain) = t.shape {
            let out = mcp_deref(&Value::Object(
                (**t.tool.output_schema.as_ref().expect("an output schema")).clone(),
            ));
            let whole = mcp_deref(&Value::Object(
                (**plain.tool.output_schema.as_ref().expect("an output schema")).clone(),
            ));
            assert_eq!(
                out["properties"][domain], whole["properties"][domain],
                "{}",
                t.name
            );
        }
    }
}

/// Every `format` keyword anywhere in `v` (outside literal values).
fn formats(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(f)) = o.get("format") {
                out.insert(f.clone());
            }
            for (k, x) in o {
                if !matches!(k.as_str(), "const" | "enum" | "default" | "examples") {
                    formats(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| formats(x, out)),
        _ => {}
    }
}

#[test]
fn tool_schemas_use_standard_formats_and_keep_no_unused_root_copy() {
    for tool in all_tools() {
        for (which, schema) in [
            ("input", tool.tool.input_schema.as_ref()),
            (
                "output",
                tool.tool.output_schema.as_deref().unwrap_or(&Map::new()),
            ),
        ] {
            let schema = Value::Object(schema.clone());
            let mut found = BTreeSet::new();
            formats(&schema, &mut found);
            assert!(
                found.iter().all(|f| f == "date-time"),
                "{} {which}: non-standard formats {found:?}",
                tool.name
            );
            let text = schema.to_string();
            for name in schema["$defs"]
                .as_object()
                .map(|d| d.keys())
                .into_iter()
                .flatten()
            {
                assert!(
                    text.contains(&format!("\"#/$defs/{name}\"")),
                    "{} {which}: $defs.{name} is never referred to",
                    tool.name
                );
            }
        }
    }
}
