//! Bytes → validated [`Event`]s, with errors that say where and what.
//!
//! A record is parsed into a JSON value, its `type` is taken out, and the rest is deserialised
//! into the concrete event struct (which rejects unknown fields) through `serde_path_to_error`,
//! so a bad value is reported with its field name and what was expected.

use kaizen_core::event::{
    BenchmarkRun, BudgetStatus, CoordinationMeasured, CostRecorded, EVENT_TYPES, ErrorFinding,
    Event, EvolutionOutcome, ScalingDecision, ScalingOutcomeRecorded, TaskCompleted,
    TelemetryEvent,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

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

fn concrete<T: DeserializeOwned>(
    object: Value,
    wrap: fn(T) -> Event,
) -> Result<Event, RecordError> {
    let value: T = serde_path_to_error::deserialize(object).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_position(e.into_inner().to_string());
        // A missing or unknown field is named in the message; the path is then the parent.
        RecordError {
            field: (path != ".").then_some(path),
            message,
        }
    })?;
    Ok(wrap(value))
}

/// Parses and validates one JSON object as an event.
pub fn parse_event(text: &str) -> Result<Event, RecordError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RecordError {
        field: None,
        message: format!(
            "invalid JSON at column {}: {}",
            e.column(),
            strip_position(e.to_string())
        ),
    })?;
    let Value::Object(mut object) = value else {
        return Err(RecordError {
            field: None,
            message: format!("expected a JSON object, got {}", kind_of(&value)),
        });
    };
    let kind = match object.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(other) => {
            return Err(RecordError {
                field: Some("type".into()),
                message: format!("expected a string, got {}", kind_of(&other)),
            });
        }
        None => {
            return Err(RecordError {
                field: Some("type".into()),
                message: format!("missing; expected one of {}", EVENT_TYPES.join(", ")),
            });
        }
    };
    let object = Value::Object(object);
    let event = match kind.as_str() {
        "task.completed" => concrete::<TaskCompleted>(object, Event::TaskCompleted),
        "cost.recorded" => concrete::<CostRecorded>(object, Event::CostRecorded),
        "budget.status" => concrete::<BudgetStatus>(object, Event::BudgetStatus),
        "coordination.measured" => {
            concrete::<CoordinationMeasured>(object, Event::CoordinationMeasured)
        }
        "scaling.decision" => concrete::<ScalingDecision>(object, Event::ScalingDecision),
        "scaling.outcome" => concrete::<ScalingOutcomeRecorded>(object, Event::ScalingOutcome),
        "error.finding" => concrete::<ErrorFinding>(object, Event::ErrorFinding),
        "evolution.outcome" => concrete::<EvolutionOutcome>(object, Event::EvolutionOutcome),
        "telemetry.event" => concrete::<TelemetryEvent>(object, Event::TelemetryEvent),
        "benchmark.run" => concrete::<BenchmarkRun>(object, Event::BenchmarkRun),
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

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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
