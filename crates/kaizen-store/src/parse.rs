//! Bytes → validated [`Event`]s, with errors that say where and what.
//!
//! Parsing is two-pass: a first pass checks the syntax and reads only `type`; the second
//! deserialises the concrete event struct (which rejects unknown and duplicate fields) straight
//! from the text through `serde_path_to_error`, hiding the `type` key, so a bad value is
//! reported with its field name and what was expected.

use kaizen_core::event::{
    BenchmarkRun, BudgetStatus, CoordinationMeasured, CostRecorded, EVENT_TYPES, ErrorFinding,
    Event, EvolutionOutcome, ScalingDecision, ScalingOutcomeRecorded, TaskCompleted,
    TelemetryEvent,
};
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::value::CowStrDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The offending field, when one can be named (`quality_score`, `type`).
    pub field: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// serde_json appends " at line L column C" to messages; inside one record the position is
/// noise for everything but syntax errors.
pub(crate) fn strip_position(msg: String) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg,
    }
}

fn concrete<'a, T: Deserialize<'a>>(
    text: &'a str,
    wrap: fn(T) -> Event,
) -> Result<Event, RecordError> {
    // Fast path without path tracking; only a failing record pays for a second, tracked pass.
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(value) = T::deserialize(SkipType(&mut de))
        && de.end().is_ok()
    {
        return Ok(wrap(value));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, T>(SkipType(&mut de)) {
        Ok(_) => match de.end() {
            Ok(()) => {
                return Err(RecordError {
                    field: None,
                    message: "record could not be read".into(),
                });
            }
            Err(e) => {
                return Err(RecordError {
                    field: None,
                    message: format!(
                        "invalid JSON at column {}: {}",
                        e.column(),
                        strip_position(e.to_string())
                    ),
                });
            }
        },
        Err(e) => e,
    };
    let path = err.path().to_string();
    let message = strip_position(err.into_inner().to_string());
    // Missing and unknown fields are reported by their parent (`.`): name them.
    let field = if path == "." {
        ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    } else {
        Some(path)
    };
    Err(RecordError { field, message })
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TsOnly<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
}

/// The `ts` of a stored (already validated) record, in microseconds.
pub(crate) fn record_ts(line: &str) -> Option<i64> {
    let head: TsOnly<'_> = serde_json::from_str(line).ok()?;
    Some(
        kaizen_core::event::Timestamp::parse(&head.ts)
            .ok()?
            .micros(),
    )
}

/// Parses and validates one JSON object as an event.
pub fn parse_event(text: &str) -> Result<Event, RecordError> {
    // First pass: syntax, shape and `type` only.
    let head: Head<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            RecordError {
                field: None,
                message: format!(
                    "invalid JSON at column {}: {}",
                    e.column(),
                    strip_position(e.to_string())
                ),
            }
        } else if text.trim_start().starts_with('{') {
            RecordError {
                field: Some("type".into()),
                message: strip_position(e.to_string()),
            }
        } else {
            RecordError {
                field: None,
                message: format!("expected a JSON object, got {}", first_kind(text)),
            }
        }
    })?;
    let Some(kind) = head.kind else {
        return Err(RecordError {
            field: Some("type".into()),
            message: format!("missing; expected one of {}", EVENT_TYPES.join(", ")),
        });
    };
    // Second pass: the concrete type, which rejects unknown fields.
    let event = match kind.as_ref() {
        "task.completed" => concrete::<TaskCompleted>(text, Event::TaskCompleted),
        "cost.recorded" => concrete::<CostRecorded>(text, Event::CostRecorded),
        "budget.status" => concrete::<BudgetStatus>(text, Event::BudgetStatus),
        "coordination.measured" => {
            concrete::<CoordinationMeasured>(text, Event::CoordinationMeasured)
        }
        "scaling.decision" => concrete::<ScalingDecision>(text, Event::ScalingDecision),
        "scaling.outcome" => concrete::<ScalingOutcomeRecorded>(text, Event::ScalingOutcome),
        "error.finding" => concrete::<ErrorFinding>(text, Event::ErrorFinding),
        "evolution.outcome" => concrete::<EvolutionOutcome>(text, Event::EvolutionOutcome),
        "telemetry.event" => concrete::<TelemetryEvent>(text, Event::TelemetryEvent),
        "benchmark.run" => concrete::<BenchmarkRun>(text, Event::BenchmarkRun),
        other => Err(RecordError {
            field: Some("type".into()),
            message: format!(
                "unknown event type {other:?}; expected one of {}",
                EVENT_TYPES.join(", ")
            ),
        }),
    }?;
    event.validate().map_err(|e| RecordError {
        field: Some(e.field),
        message: e.message,
    })?;
    Ok(event)
}

fn first_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A deserializer that hides the `type` key of the top-level object, so the concrete event
/// structs (which reject unknown fields) can be read straight from the text in one pass.
struct SkipType<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for SkipType<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, SkipTypeVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

struct SkipTypeVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipTypeVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(SkipTypeMap(map))
    }
}

struct SkipTypeMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipTypeMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.0.next_key::<Cow<'de, str>>()? else {
                return Ok(None);
            };
            if key == "type" {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            return seed
                .deserialize(CowStrDeserializer::<A::Error>::new(key))
                .map(Some);
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"type":"task.completed","ts":"2026-11-01T10:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"t1","success":true,"quality_score":7.5}"#;

    fn err(text: &str) -> RecordError {
        match parse_event(text) {
            Ok(e) => panic!("expected an error for {text}, got {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_valid_event() {
        let Ok(Event::TaskCompleted(t)) = parse_event(OK) else {
            panic!("valid event rejected");
        };
        assert_eq!(t.quality_score.map(|q| q.get()), Some(7.5));
        assert!(!t.multi_agent);
    }

    #[test]
    fn names_the_field_and_expectation() {
        let e = err(&OK.replace("7.5", "11"));
        assert_eq!(e.field.as_deref(), Some("quality_score"));
        assert!(e.message.contains("between 0 and 10"), "{}", e.message);

        let e = err(&OK.replace("\"success\":true", "\"success\":\"yes\""));
        assert_eq!(e.field.as_deref(), Some("success"));
        assert!(e.message.contains("expected a boolean"), "{}", e.message);

        let e = err(&OK.replace("2026-11-01T10:00:00Z", "2026-11-01T10:00:00"));
        assert_eq!(e.field.as_deref(), Some("ts"));
        assert!(e.message.contains("with a zone"), "{}", e.message);

        let e = err(&OK.replace("\"role\":\"dev\",", ""));
        assert!(e.message.contains("missing field `role`"), "{}", e.message);

        let e = err(&OK.replace("\"success\":true", "\"success\":true,\"bogus\":1"));
        assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);
    }

    #[test]
    fn rejects_bad_types_and_syntax() {
        assert_eq!(
            err(r#"{"ts":"2026-11-01T10:00:00Z"}"#).field.as_deref(),
            Some("type")
        );
        let e = err(r#"{"type":"task.exploded","ts":"2026-11-01T10:00:00Z"}"#);
        assert!(e.message.contains("unknown event type"), "{}", e.message);
        assert!(err("{not json").message.contains("invalid JSON"));
        assert!(err("[1,2]").message.contains("expected a JSON object"));
        assert!(
            err("42")
                .message
                .contains("expected a JSON object, got a number")
        );
        assert_eq!(
            err(r#"{"type":5,"ts":"2026-11-01T10:00:00Z"}"#)
                .field
                .as_deref(),
            Some("type")
        );
        let dup = err(&OK.replace("\"success\":true", "\"success\":true,\"success\":false"));
        assert_eq!(dup.field.as_deref(), Some("success"));
        assert!(dup.message.contains("duplicate field"), "{}", dup.message);
        let e = err(
            r#"{"type":"cost.recorded","ts":"2026-11-01T10:00:00Z","agent_id":"a","category":"productive","cost_usd":-1}"#,
        );
        assert_eq!(e.field.as_deref(), Some("cost_usd"));
        let e = err(
            r#"{"type":"error.finding","ts":"2026-11-01T10:00:00Z","category":"x","severity":"catastrophic"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("severity"));
        let e = err(
            r#"{"type":"budget.status","ts":"2026-11-01T10:00:00Z","monthly_limit_usd":10,"remaining_usd":20}"#,
        );
        assert_eq!(e.field.as_deref(), Some("remaining_usd"));
    }
}
