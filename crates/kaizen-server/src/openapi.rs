//! The OpenAPI 3.1 document and the browsable docs page, generated from the operation registry
//! (`kaizen_service::ops`), the same table the MCP tool list is made from.
//!
//! The document states what the server enforces: every input object has
//! `additionalProperties: false` (the input types refuse unknown fields), ranges, lengths,
//! patterns and enums come from the input types, request bodies are required, query parameters
//! are optional rather than nullable (a query string has no `null`), and the only `format` kept
//! is `date-time`: the integer formats schemars writes (`uint32`, `int64`, …) are not JSON
//! Schema formats, so they become the `minimum`/`maximum` they stand for. Components that
//! nothing refers to are left out.

use kaizen_service::ops::{Method, Operation, operations};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn operation_object(
    op: &Operation,
    generator: &mut schemars::SchemaGenerator,
    outputs: &mut schemars::SchemaGenerator,
) -> Value {
    let input = (op.input)(generator).to_value();
    let output = (op.output)(outputs).to_value();
    let params = path_params(op.path);
    // Resolve the input's properties (it is a `$ref` into components for named structs).
    let resolved = input
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| generator.definitions().get(name).cloned())
        .unwrap_or(input.clone());
    let props = resolved
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<String> = resolved
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| {
            json!({
                "name": p, "in": "path", "required": true,
                "schema": props.get(*p).cloned().unwrap_or(json!({"type": "string"})),
            })
        })
        .collect();
    let mut o = Map::new();
    o.insert("operationId".into(), json!(op.name));
    o.insert("summary".into(), json!(op.summary));
    o.insert("description".into(), json!(op.description));
    o.insert("tags".into(), json!([op.domain]));
    o.insert("x-capability".into(), json!(op.capability()));
    o.insert("x-human-only".into(), json!(op.human_only));
    match op.method {
        Method::Get => {
            for (name, schema) in &props {
                if params.contains(&name.as_str()) {
                    continue;
                }
                let mut schema = schema.clone();
                let description = schema.as_object_mut().and_then(|o| o.remove("description"));
                let mut param = json!({
                    "name": name, "in": "query",
                    "required": required.contains(name),
                    "schema": without_null(schema),
                });
                if let (Some(d), Some(p)) = (description, param.as_object_mut()) {
                    p.insert("description".into(), d);
                }
                parameters.push(param);
            }
        }
        Method::Post => {
            let mut body = resolved.clone();
            if let Some(obj) = body.as_object_mut() {
                if let Some(p) = obj.get_mut("properties").and_then(Value::as_object_mut) {
                    for name in &params {
                        p.remove(*name);
                    }
                }
                if let Some(r) = obj.get_mut("required").and_then(Value::as_array_mut) {
                    r.retain(|v| v.as_str().is_none_or(|s| !params.contains(&s)));
                }
            }
            let content = if op.name == "events.ingest" {
                // The body is not the input object (that is the MCP tool's shape): it is the
                // events themselves, as NDJSON or as a JSON array, each a `kaizen.event.v1`.
                // Records that break the schema are reported one by one (207, or 422 when
                // none was stored), not refused as a whole.
                let event = generator
                    .subschema_for::<kaizen_core::event::Event>()
                    .to_value();
                json!({
                    "application/json": {"schema": {
                        "type": "array",
                        "items": event,
                        "description": "kaizen.event.v1 events (docs/events.md).",
                    }},
                    "application/x-ndjson": {"schema": {
                        "type": "string",
                        "description": "One kaizen.event.v1 event (a JSON object, docs/events.md) per line.",
                    }},
                })
            } else {
                json!({"application/json": {"schema": body}})
            };
            // A body is required when it has a required field; an operation whose fields are
            // all optional also takes an empty body (as `{}`).
            let needed = op.name == "events.ingest"
                || body
                    .get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| !r.is_empty());
            o.insert(
                "requestBody".into(),
                json!({"required": needed, "content": content}),
            );
        }
    }
    o.insert("parameters".into(), Value::Array(parameters));
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": output}}}),
    );
    if op.name == "agents.config" {
        responses.insert(
            "304".into(),
            json!({"description": "Not modified (If-None-Match matched the ETag)."}),
        );
    }
    if op.name == "events.ingest" {
        responses.insert("207".into(), json!({"description": "Some records were rejected; the valid ones were stored. Same body as 200."}));
        responses.insert("422".into(), json!({"description": "Every record was rejected; nothing was stored. Same body as 200 (the rejections with their lines and fields).", "content": {"application/json": {"schema": output}}}));
    }
    responses.insert(
        "400".into(),
        error_response("Invalid input; `details` names the field."),
    );
    responses.insert(
        "401".into(),
        error_response("Missing, unknown, revoked or expired token."),
    );
    responses.insert(
        "403".into(),
        error_response("The token lacks the capability, or an agent asked for a human decision."),
    );
    responses.insert("404".into(), error_response("Not found."));
    responses.insert(
        "409".into(),
        error_response("Refused in the current state (disabled, no org, a conflict)."),
    );
    if op.method == Method::Post {
        responses.insert(
            "413".into(),
            error_response("The body is over server.max_body_bytes (after decompression)."),
        );
        responses.insert(
            "415".into(),
            error_response("The Content-Type is not one the operation reads."),
        );
        responses.insert(
            "429".into(),
            error_response("Write rate limit (server.writes_per_minute); see Retry-After."),
        );
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

/// A query parameter's schema without its `null` alternative: an absent parameter is the
/// `None` of an optional input field, and a query string cannot say `null`.
pub fn without_null(mut schema: Value) -> Value {
    let Some(o) = schema.as_object_mut() else {
        return schema;
    };
    if o.get("default") == Some(&Value::Null) {
        o.remove("default");
    }
    if let Some(Value::Array(types)) = o.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            o.insert("type".into(), only);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = o.get_mut(key) {
            alts.retain(|a| a.get("type").and_then(Value::as_str) != Some("null"));
            if alts.len() == 1 {
                let only = alts.remove(0);
                o.remove(key);
                if let Value::Object(inner) = only {
                    for (k, v) in inner {
                        o.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
    schema
}

/// The formats of JSON Schema 2020-12 that are kept; schemars' integer and float formats are
/// not among them.
const STANDARD_FORMATS: [&str; 1] = ["date-time"];

/// The range an integer format of schemars stands for.
fn format_range(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (json!(i8::MIN), json!(i8::MAX)),
        "int16" => (json!(i16::MIN), json!(i16::MAX)),
        "int32" => (json!(i32::MIN), json!(i32::MAX)),
        "int64" | "int" => (json!(i64::MIN), json!(i64::MAX)),
        "uint8" => (json!(0), json!(u8::MAX)),
        "uint16" => (json!(0), json!(u16::MAX)),
        "uint32" => (json!(0), json!(u32::MAX)),
        "uint64" | "uint" => (json!(0), json!(u64::MAX)),
        _ => return None,
    })
}

/// Removes every non-standard `format`, replacing an integer format by the `minimum` and
/// `maximum` it stands for where the schema states none. Literal values (`const`, `enum`,
/// `default`, `examples`) are left alone.
pub fn standard_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(f)) = o.get("format")
                && !STANDARD_FORMATS.contains(&f.as_str())
            {
                let f = f.clone();
                o.remove("format");
                if let Some((min, max)) = format_range(&f) {
                    o.entry("minimum").or_insert(min);
                    o.entry("maximum").or_insert(max);
                }
            }
            for (k, x) in o.iter_mut() {
                if !matches!(
                    k.as_str(),
                    "const" | "enum" | "default" | "examples" | "example"
                ) {
                    standard_formats(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(standard_formats),
        _ => {}
    }
}

/// The component names `v` refers to with `$ref`.
fn refs_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(name) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            o.values().for_each(|x| refs_in(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

/// `schemas` without the components that `paths` does not reach (inputs resolved into
/// parameters and bodies would otherwise stay behind as unused copies).
fn reachable(paths: &Map<String, Value>, schemas: Map<String, Value>) -> Map<String, Value> {
    let mut todo = Vec::new();
    for item in paths.values() {
        refs_in(item, &mut todo);
    }
    let mut keep = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if keep.insert(name.clone())
            && let Some(def) = schemas.get(&name)
        {
            refs_in(def, &mut todo);
        }
    }
    schemas
        .into_iter()
        .filter(|(name, _)| keep.contains(name))
        .collect()
}

/// Points every `$ref` to a definition in `renamed` at its new name.
fn rewrite_refs(v: &mut Value, renamed: &Map<String, Value>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
                && let Some(new) = renamed.get(name).and_then(Value::as_str)
            {
                *r = format!("#/components/schemas/{new}");
            }
            for x in o.values_mut() {
                rewrite_refs(x, renamed);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, renamed)),
        _ => {}
    }
}

/// The OpenAPI document.
pub fn document() -> Value {
    // JSON Schema 2020-12 (what OpenAPI 3.1 uses), with definitions in the components: the
    // settings the MCP tool schemas are made with, so both describe each operation alike.
    // Inputs use the deserialisation contract (what is accepted: optional fields may be left
    // out), outputs the serialisation contract (what is sent).
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator = settings.clone().into_generator();
    let mut outputs = settings.for_serialize().into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for op in operations() {
        let path = format!("/api/v1{}", op.path);
        let method = match op.method {
            Method::Get => "get",
            Method::Post => "post",
        };
        let obj = operation_object(op, &mut generator, &mut outputs);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            m.insert(method.into(), obj);
        }
    }
    let mut schemas: Map<String, Value> = generator
        .definitions()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // An output definition that differs from the input one of the same name (a type both
    // accepted and returned, whose optional fields are always sent) is `<Name>Output`.
    let mut renamed: Map<String, Value> = Map::new();
    for (name, def) in outputs.definitions() {
        if schemas.get(name).is_some_and(|d| d != def) {
            renamed.insert(name.clone(), Value::String(format!("{name}Output")));
        }
    }
    for (name, def) in outputs.definitions() {
        let mut def = def.clone();
        rewrite_refs(&mut def, &renamed);
        let key = renamed
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        schemas.insert(key, def);
    }
    for item in paths.values_mut() {
        for o in item
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(responses) = o.get_mut("responses") {
                rewrite_refs(responses, &renamed);
            }
        }
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                    }}
                }
            }}
        }),
    );
    let schemas = reachable(&paths, schemas);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kaizen",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The self-improvement meta-loop for organisations of AI agents. Every operation needs a bearer token whose capabilities (domain:read|write|approve|admin, wildcards, !deny) allow the operation's `x-capability`; `x-human-only` operations refuse agent tokens."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    });
    standard_formats(&mut doc);
    doc
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The browsable docs page: every operation by domain, with its method, path, capability and
/// description, and a link to the OpenAPI document.
pub fn docs_html() -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kaizen API</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1f24}\
         code{background:#f0f2f4;padding:.1rem .3rem;border-radius:3px}h2{margin-top:2rem;border-bottom:1px solid #ddd}\
         .op{margin:1rem 0}.m{font-weight:600;display:inline-block;min-width:3.5rem}.cap{color:#555;font-size:.9rem}</style></head><body>\
         <h1>kaizen API <small>v1</small></h1><p>Machine-readable: <a href=\"/api/v1/openapi.json\">openapi.json</a>. \
         Send <code>Authorization: Bearer kz_…</code> with every request (<code>kaizen token create</code>).</p>",
    );
    let mut domain = "";
    for op in operations() {
        if op.domain != domain {
            domain = op.domain;
            html.push_str(&format!("<h2>{}</h2>", esc(domain)));
        }
        html.push_str(&format!(
            "<div class=\"op\" id=\"{name}\"><span class=\"m\">{method}</span><code>/api/v1{path}</code> — {summary}\
             <div class=\"cap\">operation <code>{name}</code> · needs <code>{cap}</code>{human}</div><div>{desc}</div></div>",
            name = esc(op.name),
            method = match op.method { Method::Get => "GET", Method::Post => "POST" },
            path = esc(op.path),
            summary = esc(op.summary),
            cap = esc(&op.capability()),
            human = if op.human_only { " · humans only" } else { "" },
            desc = esc(op.description),
        ));
    }
    html.push_str("</body></html>");
    html
}
