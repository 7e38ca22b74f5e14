//! `docs/events.md` must not drift from the code:
//!
//! * every ```` ```json ```` block in it is one event that the real parser accepts;
//! * every event type has at least one such example;
//! * each type's field table lists exactly the fields of that type in the committed JSON
//!   Schema (`docs/schema/kaizen.event.v1.json`, itself checked against the Rust types by
//!   `kaizen-core`'s `event_schema` test).
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example, not product code

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kaizen_core::event::EVENT_TYPES;
use kaizen_store::parse::parse_event;
use serde_json::Value;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads a file under the repository root.
fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One fenced code block: its 1-based opening line and its text.
struct Block {
    line: usize,
    text: String,
}

/// Every block fenced with ```` ```json ````, in document order.
fn json_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim();
        match current.as_mut() {
            None if fence == "```json" => {
                current = Some(Block {
                    line: i + 1,
                    text: String::new(),
                });
            }
            None => {}
            Some(_) if fence.starts_with("```") => {
                blocks.extend(current.take());
            }
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
        }
    }
    if let Some(block) = current {
        panic!(
            "the ```json block opened at line {} is never closed",
            block.line
        );
    }
    blocks
}

/// The text of each `### \`type\`` section, keyed by type.
fn type_sections(markdown: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            sections.extend(current.take());
            let heading = line.trim_start_matches('#').trim();
            if let Some(ty) = heading
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .filter(|t| EVENT_TYPES.contains(t))
            {
                current = Some((ty.to_owned(), String::new()));
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// The field names in the first column of a section's markdown table (`` | `name` | ``).
fn table_fields(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[test]
fn every_json_example_parses() {
    let doc = read("docs/events.md");
    let blocks = json_blocks(&doc);
    assert!(!blocks.is_empty(), "docs/events.md has no ```json examples");
    let mut covered = BTreeSet::new();
    for block in &blocks {
        match parse_event(&block.text) {
            Ok(event) => {
                covered.insert(event.type_name());
            }
            Err(e) => panic!(
                "docs/events.md: the ```json block at line {} is rejected: {e}\n{}",
                block.line, block.text
            ),
        }
    }
    let missing: Vec<&str> = EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| !covered.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/events.md has no example of {missing:?}"
    );
}

#[test]
fn every_type_has_a_section_whose_table_matches_the_schema() {
    let doc = read("docs/events.md");
    let schema: Value = serde_json::from_str(&read("docs/schema/kaizen.event.v1.json"))
        .unwrap_or_else(|e| panic!("the committed schema is not JSON: {e}"));
    let variants = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("the committed schema has no oneOf"));
    let sections = type_sections(&doc);
    let envelope: BTreeSet<&str> = ["type", "ts", "id"].into();
    for ty in EVENT_TYPES {
        let section = sections
            .get(ty)
            .unwrap_or_else(|| panic!("docs/events.md has no `### \\`{ty}\\`` section"));
        let variant = variants
            .iter()
            .find(|v| v.pointer("/properties/type/const").and_then(Value::as_str) == Some(ty))
            .unwrap_or_else(|| panic!("the committed schema has no variant {ty}"));
        let schema_fields: BTreeSet<String> = variant
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.keys()
                    .filter(|k| !envelope.contains(k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            table_fields(section),
            schema_fields,
            "docs/events.md: the field table of `{ty}` differs from the schema"
        );
    }
}

#[test]
fn the_envelope_is_documented() {
    let doc = read("docs/events.md");
    let envelope = doc
        .split("## The envelope")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_else(|| panic!("docs/events.md has no `## The envelope` section"));
    let fields = table_fields(envelope);
    for field in ["type", "ts", "id"] {
        assert!(fields.contains(field), "envelope table lacks `{field}`");
    }
}

#[test]
fn block_extraction_handles_fences() {
    let md = "text\n```json\n{\"a\": 1}\n```\n```text\nnot json\n```\n  ```json\n{}\n  ```\n";
    let blocks = json_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].line, blocks[0].text.as_str()),
        (2, "{\"a\": 1}\n")
    );
    assert_eq!(blocks[1].text, "{}\n");
}
