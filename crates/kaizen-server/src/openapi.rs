//! The OpenAPI 3.1 document and the browsable docs page, generated from the operation registry
//! (`kaizen_service::ops`), the same table the MCP tool list is made from.

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
                parameters.push(json!({
                    "name": name, "in": "query",
                    "required": required.contains(name),
                    "schema": schema,
                }));
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
                json!({
                    "application/x-ndjson": {"schema": {"type": "string", "description": "One kaizen.event.v1 event per line (docs/events.md)."}},
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
                })
            } else {
                json!({"application/json": {"schema": body}})
            };
            o.insert(
                "requestBody".into(),
                json!({"required": false, "content": content}),
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
            "429".into(),
            error_response("Write rate limit (server.writes_per_minute); see Retry-After."),
        );
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
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
    json!({
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
    })
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
