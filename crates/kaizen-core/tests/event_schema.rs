//! The committed JSON Schema of `kaizen.event.v1` (`docs/schema/kaizen.event.v1.json`) must be
//! exactly what the Rust types generate, so the file can never drift from the code.
//!
//! To regenerate it after changing `kaizen_core::event`:
//!
//! ```text
//! KAIZEN_BLESS=1 cargo test -p kaizen-core --test event_schema
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::path::PathBuf;

use kaizen_core::event::{EVENT_TYPES, Event, SCHEMA_ID};
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The ten wire types, spelled out so that dropping one from both the enum and
/// [`EVENT_TYPES`] still fails here.
const TEN_TYPES: [&str; 10] = [
    "task.completed",
    "cost.recorded",
    "budget.status",
    "coordination.measured",
    "scaling.decision",
    "scaling.outcome",
    "error.finding",
    "evolution.outcome",
    "telemetry.event",
    "benchmark.run",
];

/// Where the committed schema lives.
fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema")
        .join(format!("{SCHEMA_ID}.json"))
}

/// The schema generated from the Rust types (JSON Schema 2020-12, pinned rather than the
/// generator's default), with kaizen's identity fields added.
fn generated() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Event>();
    schema.insert(
        "$id".into(),
        format!("urn:kaizen:schema:{SCHEMA_ID}").into(),
    );
    schema.insert("title".into(), SCHEMA_ID.into());
    schema.insert(
        "description".into(),
        format!(
            "{SCHEMA_ID}: one event an agent runtime sends to kaizen (one JSON object per NDJSON \
             line, or one element of a JSON array). Rules this schema cannot express are listed \
             in docs/events.md: budget.status needs 0 < monthly_limit_usd and remaining_usd <= \
             monthly_limit_usd; names are limited to 256 bytes (not characters); ts must carry a \
             zone. Every number has a per-event bound (its maximum here; the reasons are in \
             docs/events.md)."
        )
        .into(),
    );
    schema.insert(
        "$comment".into(),
        "Generated from kaizen-core's Rust types by crates/kaizen-core/tests/event_schema.rs; do \
         not edit by hand. Regenerate with: KAIZEN_BLESS=1 cargo test -p kaizen-core --test \
         event_schema"
            .into(),
    );
    schema.to_value()
}

#[test]
fn committed_schema_matches_the_types() {
    let path = schema_path();
    let schema = generated();
    if std::env::var("KAIZEN_BLESS").as_deref() == Ok("1") {
        let mut text = serde_json::to_string_pretty(&schema)
            .unwrap_or_else(|e| panic!("serialising the schema: {e}"));
        text.push('\n');
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e}\nGenerate it with: KAIZEN_BLESS=1 cargo test -p kaizen-core --test event_schema",
            path.display()
        )
    });
    let committed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    assert!(
        committed == schema,
        "{} is out of date with kaizen_core::event.\nRegenerate it with: KAIZEN_BLESS=1 cargo test -p kaizen-core --test event_schema\n\ngenerated:\n{}",
        path.display(),
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
}

/// Follows a local `$ref` (`#/$defs/Name`) from the root.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or_else(|| panic!("unresolvable $ref {r}")),
        None => schema,
    }
}

/// The wire types a variant schema accepts for `type` (`const` or `enum`), following `$ref`
/// and `allOf` in case the generator lays the variant out that way.
fn type_values(root: &Value, variant: &Value, out: &mut BTreeSet<String>) {
    let variant = resolve(root, variant);
    if let Some(ty) = variant.pointer("/properties/type") {
        let ty = resolve(root, ty);
        if let Some(c) = ty.get("const").and_then(Value::as_str) {
            out.insert(c.to_owned());
        }
        for v in ty
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = v.as_str() {
                out.insert(s.to_owned());
            }
        }
    }
    for sub in variant
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        type_values(root, sub, out);
    }
}

/// The required properties of a variant schema, following `$ref` and `allOf`.
fn required(root: &Value, variant: &Value, out: &mut BTreeSet<String>) {
    let variant = resolve(root, variant);
    for r in variant
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = r.as_str() {
            out.insert(s.to_owned());
        }
    }
    for sub in variant
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        required(root, sub, out);
    }
}

/// The variants of the top-level `oneOf`/`anyOf`.
fn variants(root: &Value) -> &Vec<Value> {
    root.get("oneOf")
        .or_else(|| root.get("anyOf"))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("the Event schema has no oneOf/anyOf of variants"))
}

/// The variant whose `type` is `ty`.
fn variant<'a>(root: &'a Value, ty: &str) -> &'a Value {
    variants(root)
        .iter()
        .find(|v| {
            let mut types = BTreeSet::new();
            type_values(root, v, &mut types);
            types.contains(ty)
        })
        .unwrap_or_else(|| panic!("no variant with type {ty:?}"))
}

#[test]
fn every_event_type_is_a_tagged_variant() {
    assert_eq!(EVENT_TYPES, TEN_TYPES);
    let root = generated();
    assert_eq!(variants(&root).len(), TEN_TYPES.len());
    let mut seen = BTreeSet::new();
    for v in variants(&root) {
        let mut types = BTreeSet::new();
        type_values(&root, v, &mut types);
        assert_eq!(types.len(), 1, "each variant fixes one `type`: {v}");
        seen.extend(types);
    }
    let expected: BTreeSet<String> = TEN_TYPES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(seen, expected);
}

#[test]
fn required_fields_follow_the_types() {
    let root = generated();
    let mut task = BTreeSet::new();
    required(&root, variant(&root, "task.completed"), &mut task);
    for field in [
        "type",
        "ts",
        "agent_id",
        "department",
        "role",
        "task_id",
        "success",
    ] {
        assert!(
            task.contains(field),
            "task.completed must require {field}: {task:?}"
        );
    }
    for optional in [
        "id",
        "quality_score",
        "collaboration_score",
        "multi_agent",
        "turns",
    ] {
        assert!(
            !task.contains(optional),
            "task.completed must not require {optional}"
        );
    }
    // Every variant requires the envelope and never the idempotency id.
    for ty in TEN_TYPES {
        let mut req = BTreeSet::new();
        required(&root, variant(&root, ty), &mut req);
        assert!(req.contains("type") && req.contains("ts"), "{ty}: {req:?}");
        assert!(!req.contains("id"), "{ty}: id must be optional");
    }
}

#[test]
fn variants_reject_unknown_fields() {
    // The parser rejects unknown fields (`deny_unknown_fields`); the schema must say so on the
    // variant itself, where `type` is also listed, or no instance would validate.
    let root = generated();
    for ty in TEN_TYPES {
        let v = resolve(&root, variant(&root, ty));
        assert_eq!(
            v.get("additionalProperties"),
            Some(&Value::Bool(false)),
            "{ty}"
        );
        assert!(v.pointer("/properties/type").is_some(), "{ty}");
        assert!(v.pointer("/properties/ts").is_some(), "{ty}");
        assert!(v.pointer("/properties/id").is_some(), "{ty}");
    }
}

#[test]
fn schema_is_identified_as_kaizen_event_v1() {
    let root = generated();
    assert_eq!(
        root.get("$schema").and_then(Value::as_str),
        Some("https://json-schema.org/draft/2020-12/schema")
    );
    for key in ["$id", "title"] {
        let value = root.get(key).and_then(Value::as_str).unwrap_or_default();
        assert!(value.contains("kaizen.event.v1"), "{key} = {value:?}");
    }
    let score = root.pointer("/$defs/Score10").map(|s| resolve(&root, s));
    assert_eq!(
        score.and_then(|s| s.get("maximum")).and_then(Value::as_f64),
        Some(10.0)
    );
}

#[test]
fn every_number_has_a_per_event_maximum() {
    // A field without a finite maximum is one an agent could use to push a sum to infinity.
    let root = generated();
    for ty in TEN_TYPES {
        let v = resolve(&root, variant(&root, ty));
        let props = v
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{ty}: no properties"));
        for (name, prop) in props {
            let target = resolve(&root, prop);
            let numeric = |s: &Value| match s.get("type") {
                Some(Value::String(t)) => t == "number" || t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "number" || t == "integer"),
                _ => false,
            };
            let any_of: Vec<&Value> = prop
                .get("anyOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|s| resolve(&root, s))
                .collect();
            let is_number = numeric(target) || any_of.iter().any(|s| numeric(s));
            if !is_number {
                continue;
            }
            let max = prop
                .get("maximum")
                .or_else(|| target.get("maximum"))
                .or_else(|| any_of.iter().find_map(|s| s.get("maximum")))
                .and_then(Value::as_f64);
            assert!(
                max.is_some_and(|m| m.is_finite() && m <= 1e9),
                "{ty}.{name} has no per-event maximum <= 1e9: {prop}"
            );
        }
    }
    let cost = resolve(&root, variant(&root, "cost.recorded"));
    assert_eq!(
        cost.pointer("/properties/cost_usd/maximum")
            .and_then(Value::as_f64),
        Some(1e6)
    );
}
