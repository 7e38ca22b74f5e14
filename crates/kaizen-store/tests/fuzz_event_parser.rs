//! Bounded, proptest-based fuzz target of the event parser (issue 21), run with the normal
//! suite: `kaizen_store::parse::parse_event` on arbitrary bytes and on arbitrary JSON objects
//! built from the event vocabulary never panics; what it accepts validates, stays within the
//! per-event bounds, and survives a serialise → parse round trip unchanged; what it rejects
//! comes with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_core::event::EVENT_TYPES;
use kaizen_store::parse::parse_event;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names of every event type, plus strangers.
const KEYS: &[&str] = &[
    "type",
    "ts",
    "id",
    "agent_id",
    "department",
    "role",
    "task_id",
    "success",
    "quality_score",
    "collaboration_score",
    "duration_seconds",
    "turns",
    "multi_agent",
    "category",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "model",
    "provider",
    "monthly_limit_usd",
    "remaining_usd",
    "turns_sas",
    "turns_mas",
    "error_rate_sas",
    "error_rate_mas",
    "messages",
    "reasoning_turns",
    "redundancy",
    "straggler_gap_ratio",
    "decision_id",
    "action",
    "source_strategy",
    "signal",
    "rationale",
    "outcome",
    "severity",
    "count",
    "axis",
    "applied",
    "proposed_at",
    "event_type",
    "error",
    "suite",
    "total_score",
    "",
    "__proto__",
    "TYPE",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1e6),
            Just(1e6 + 1.0),
            Just(1.7e308),
            Just(5e-324),
            Just(1e9),
            Just(2592000.0),
        ]
        .prop_map(Value::from),
        proptest::sample::select(EVENT_TYPES.to_vec()).prop_map(Value::from),
        proptest::sample::select(vec![
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+14:00",
            "2026-11-01T10:00:00",
            "+262143-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "productive",
            "coordination",
            "low",
            "high",
            "hire",
            "executed",
            "",
            " ",
        ])
        .prop_map(Value::from),
        "\\PC{0,300}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(proptest::sample::select(KEYS), inner, 0..4).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

/// An object with a valid `type` and `ts` most of the time and arbitrary other fields.
fn event_like() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(proptest::sample::select(EVENT_TYPES.to_vec())),
        proptest::bool::weighted(0.8),
        proptest::collection::btree_map(proptest::sample::select(KEYS), value(), 0..12),
    )
        .prop_map(|(ty, with_ts, fields)| {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.to_owned(), v);
            }
            if let Some(ty) = ty {
                m.insert("type".into(), ty.into());
            }
            if with_ts {
                m.insert("ts".into(), "2026-11-01T10:00:00Z".into());
            }
            Value::Object(m)
        })
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match parse_event(text) {
        Ok(event) => {
            prop_assert!(event.validate().is_ok(), "{:?}", event.validate());
            let again = serde_json::to_string(&event).expect("serialise");
            let reparsed = parse_event(&again);
            prop_assert_eq!(reparsed.as_ref(), Ok(&event), "{}", again);
        }
        Err(e) => prop_assert!(!e.message.trim().is_empty(), "empty message for {text:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_json_values_never_panic(v in value()) {
        check(&v.to_string())?;
    }

    #[test]
    fn event_like_objects_parse_or_fail_cleanly(v in event_like()) {
        check(&v.to_string())?;
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_stack_overflow() {
    for depth in [64, 10_000] {
        let text = format!(
            r#"{{"type":"telemetry.event","ts":"2026-11-01T10:00:00Z","event_type":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let Err(e) = parse_event(&text) else {
            panic!("nested array accepted as an event_type");
        };
        assert!(!e.message.is_empty());
    }
}
