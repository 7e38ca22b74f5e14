//! The operation inputs refuse what their schemas exclude, at deserialisation, with the field
//! named in the error path (what the adapters report as `details[0].field`): an out-of-range
//! `limit` (never clamped), `confidence` or `hours`, an unknown status or state, an unknown
//! field, a blank reason, a `confirm` that is not `true`. And the schemas say so: every value
//! refused here is invalid against the input's JSON Schema and every value accepted is valid.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_core::auth::Grant;
use kaizen_service::ops::{
    DecideInput, ListProposalsInput, ListRolloutsInput, Page, ReasonInput, SubmitProposalInput,
    TokenCreateInput,
};
use kaizen_store::proposals::ProposalStatus;
use kaizen_store::rollouts::RolloutState;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `value` as a `T`, or the path and message of the error (as the gate's `op::from_value` sees it).
fn parse<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    T::deserialize(de).map_err(|e| (track.path().to_string(), e.to_string()))
}

/// Whether `value` is valid against `T`'s JSON Schema (draft 2020-12).
fn valid<T: JsonSchema>(value: &Value) -> bool {
    let schema = schemars::schema_for!(T).to_value();
    jsonschema::validator_for(&schema)
        .expect("a valid schema")
        .is_valid(value)
}

/// `value` is refused with the error path `field`, and the schema refuses it too.
#[track_caller]
fn refused<T: DeserializeOwned + JsonSchema>(value: Value, field: &str) -> String {
    let (path, message) = match parse::<T>(value.clone()) {
        Ok(_) => panic!("{value} was accepted"),
        Err(e) => e,
    };
    assert_eq!(path, field, "{value}: {message}");
    assert!(!valid::<T>(&value), "the schema accepts {value}");
    message
}

/// `value` is accepted, and the schema accepts it too.
#[track_caller]
fn accepted<T: DeserializeOwned + JsonSchema>(value: Value) -> T {
    assert!(valid::<T>(&value), "the schema refuses {value}");
    parse::<T>(value.clone()).unwrap_or_else(|e| panic!("{value} was refused: {e:?}"))
}

#[test]
fn an_out_of_range_limit_is_refused_naming_limit_and_never_clamped() {
    for bad in [json!(0), json!(501), json!(-1), json!(100_000), json!(1.5)] {
        let message = refused::<Page>(json!({ "limit": bad }), "limit");
        if bad.is_i64() {
            assert!(
                message.contains("`limit` must be from 1 to 500"),
                "{message}"
            );
        }
        refused::<ListProposalsInput>(json!({ "limit": bad }), "limit");
        refused::<ListRolloutsInput>(json!({ "limit": bad }), "limit");
    }
    let page: Page = accepted(json!({"limit": 500, "offset": 3}));
    assert_eq!((page.limit(), page.offset()), (500, 3));
    let page: Page = accepted(json!({"limit": 1}));
    assert_eq!(page.limit(), 1);
    let page: Page = accepted(json!({}));
    assert_eq!(page.limit(), 50, "the default");
    refused::<Page>(json!({"offset": -1}), "offset");
}

#[test]
fn an_unknown_status_or_state_is_refused_naming_it() {
    let message = refused::<ListProposalsInput>(json!({"status": "maybe"}), "status");
    assert!(message.starts_with("`status`"), "{message}");
    assert!(
        message.contains("maybe") && message.contains("pending"),
        "{message}"
    );
    let message = refused::<ListRolloutsInput>(json!({"state": "asleep"}), "state");
    assert!(message.starts_with("`state`"), "{message}");
    for status in ProposalStatus::ALL {
        let input: ListProposalsInput = accepted(json!({ "status": status.as_str() }));
        assert_eq!(input.status, Some(status));
    }
    for state in RolloutState::ALL {
        let input: ListRolloutsInput = accepted(json!({ "state": state.as_str() }));
        assert_eq!(input.state, Some(state));
    }
    let input: ListProposalsInput = accepted(json!({}));
    assert_eq!(input.status, None);
}

#[test]
fn an_unknown_field_is_refused_naming_it() {
    for value in [
        json!({"colour": "blue"}),
        json!({"limit": 5, "colour": "blue"}),
    ] {
        let (_, message) = parse::<Page>(value.clone()).map(|_| ()).unwrap_err();
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert!(!valid::<Page>(&value));
    }
    let (_, message) = parse::<SubmitProposalInput>(json!({"colour": "blue"}))
        .map(|_| ())
        .unwrap_err();
    assert!(message.contains("unknown field `colour`"), "{message}");
}

fn submission() -> Value {
    json!({
        "altitude": "config_tuning",
        "title": "Raise the retry budget",
        "description": "More retries for flaky tools.",
        "evidence": "error rate 12% over 7 days",
        "changes": [{"set_setting": {"path": "retries.max", "from": 2, "to": 3}}],
        "confidence": 0.7,
    })
}

fn with(mut v: Value, key: &str, x: Value) -> Value {
    v[key] = x;
    v
}

#[test]
fn submission_fields_out_of_range_are_refused_naming_them() {
    let ok: SubmitProposalInput = accepted(submission());
    assert_eq!(ok.confidence, 0.7);
    for bad in [json!(1.5), json!(-0.1), json!(1e300)] {
        let message =
            refused::<SubmitProposalInput>(with(submission(), "confidence", bad), "confidence");
        assert!(message.contains("from 0 to 1"), "{message}");
    }
    accepted::<SubmitProposalInput>(with(submission(), "confidence", json!(1)));
    accepted::<SubmitProposalInput>(with(submission(), "confidence", json!(0)));
    refused::<SubmitProposalInput>(with(submission(), "title", json!(" \t ")), "title");
    refused::<SubmitProposalInput>(with(submission(), "title", json!("x".repeat(201))), "title");
    accepted::<SubmitProposalInput>(with(submission(), "title", json!("é".repeat(200))));
    refused::<SubmitProposalInput>(with(submission(), "evidence", json!("")), "evidence");
    refused::<SubmitProposalInput>(
        with(submission(), "rule_name", json!("\u{3000}")),
        "rule_name",
    );
    refused::<SubmitProposalInput>(
        with(submission(), "alternatives", json!(["ok", " "])),
        "alternatives",
    );
    for bad in [json!(0), json!(2161)] {
        refused::<SubmitProposalInput>(
            with(submission(), "observation_window_hours", bad),
            "observation_window_hours",
        );
    }
    accepted::<SubmitProposalInput>(with(submission(), "observation_window_hours", json!(2160)));
}

#[test]
fn reasons_hours_and_admin_confirmation_are_checked_when_parsed() {
    refused::<ReasonInput>(json!({"id": "p", "reason": "  \n"}), "reason");
    refused::<ReasonInput>(json!({"id": "p", "reason": "x".repeat(10_001)}), "reason");
    // U+0085 is whitespace to Rust's trim and is outside the schema's non-blank pattern too.
    refused::<ReasonInput>(json!({"id": "p", "reason": "\u{85}"}), "reason");
    accepted::<ReasonInput>(json!({"id": "p", "reason": " why "}));
    refused::<DecideInput>(
        json!({"id": "p", "decision": "extend", "hours": 0, "reason": "r"}),
        "hours",
    );
    refused::<DecideInput>(
        json!({"id": "p", "decision": "extend", "hours": 2161, "reason": "r"}),
        "hours",
    );
    let token = json!({
        "principal": "ana", "kind": "human", "capabilities": ["*:read"],
        "confirm": true, "reason": "onboarding",
    });
    accepted::<TokenCreateInput>(token.clone());
    refused::<TokenCreateInput>(with(token.clone(), "confirm", json!(false)), "confirm");
    refused::<TokenCreateInput>(
        with(token.clone(), "principal", json!("a\u{7}b")),
        "principal",
    );
    refused::<TokenCreateInput>(with(token.clone(), "principal", json!(" ")), "principal");
    refused::<TokenCreateInput>(
        with(token.clone(), "expires_in_days", json!(0)),
        "expires_in_days",
    );
    refused::<TokenCreateInput>(
        with(token.clone(), "expires_in_days", json!(4_000_000_000u64)),
        "expires_in_days",
    );
    refused::<TokenCreateInput>(
        with(token, "capabilities", json!(["x".repeat(101)])),
        "capabilities",
    );
}

/// The schema's capability patterns accept exactly what `Grant::parse` accepts, on a sample
/// of each kind of pattern and mistake.
#[test]
fn the_capabilities_schema_agrees_with_the_grant_parser() {
    let samples = [
        "*",
        "*:*",
        "*:read",
        "proposals:*",
        "proposals:approve",
        " Proposals:Read ",
        "!audit:read",
        "x-1_y:admin",
        "\u{2003}*:write\u{3000}",
        "",
        " ",
        "!",
        "!!*",
        "proposals",
        "a:b:c",
        "proposals:read*",
        "pro*:read",
        "proposals:delete",
        ":read",
        "proposals:",
        "! *:read",
        "é:read",
        "\u{85}*",
    ];
    for s in samples {
        let grant_ok = Grant::parse(&[s.to_owned(), "*:read".to_owned()]).is_ok();
        let token = json!({
            "principal": "ana", "kind": "human", "capabilities": [s, "*:read"],
            "confirm": true, "reason": "r",
        });
        assert_eq!(valid::<TokenCreateInput>(&token), grant_ok, "{s:?}");
    }
    // Deny patterns alone grant nothing: the schema needs one allow pattern too.
    let only_denies = json!({
        "principal": "ana", "kind": "human", "capabilities": ["!*:admin"],
        "confirm": true, "reason": "r",
    });
    assert!(Grant::parse(&["!*:admin".to_owned()]).is_err());
    assert!(!valid::<TokenCreateInput>(&only_denies));
}
