//! Tests that the enums whose wire names strum derives (`as_str`, `Display`, `FromStr`) name
//! every variant exactly as serde does, and that those names are the ones the stored data and
//! the APIs already use.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;
use strum::IntoEnumIterator;

use crate::altitude::Altitude;
use crate::auth::Action;
use crate::config::{OnInconclusive, RegressionMethod, RolloutStrategyKind};
use crate::event::{CostCategory, Severity};
use crate::improve::guards::GuardVerdict;
use crate::lifecycle::{ActorKind, ProposalStatus, RolloutState};
use crate::org::PrincipleMode;
use crate::rollout::check::Metric;
use crate::rollup::Stream;
use crate::rules::RuleSeverity;
use crate::rules::declarative::Comparator;
use crate::snapshot::Domain;

/// For every variant of `T`: serde writes it as `name(v)` and reads that back to it. Returns
/// the names in declaration order.
fn serde_names<T>(name: impl Fn(T) -> &'static str) -> Vec<&'static str>
where
    T: IntoEnumIterator + Serialize + DeserializeOwned + PartialEq + Debug + Copy,
{
    T::iter()
        .map(|v| {
            let n = name(v);
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{n}\""), "serde name of {v:?}");
            assert_eq!(
                serde_json::from_str::<T>(&json).unwrap(),
                v,
                "{json} read back"
            );
            n
        })
        .collect()
}

/// For every variant of `T`: `Display` writes its serde name.
fn display_is_serde<T: IntoEnumIterator + Serialize + Display + Debug>() {
    for v in T::iter() {
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::Value::String(v.to_string()),
            "Display of {v:?}"
        );
    }
}

/// For every variant of `T`: `FromStr` parses its serde name back to it.
fn parse_is_serde<T>()
where
    T: IntoEnumIterator + Serialize + FromStr + PartialEq + Debug,
    T::Err: Debug,
{
    for v in T::iter() {
        let serde_json::Value::String(n) = serde_json::to_value(&v).unwrap() else {
            panic!("{v:?} is not a string in JSON");
        };
        assert_eq!(n.parse::<T>().unwrap(), v, "parse of {n:?}");
    }
}

/// `ALL` lists every variant (in `ALL`'s order, which need not be declaration order).
fn all_is_complete<T: IntoEnumIterator + PartialEq + Debug + Copy>(all: &[T]) {
    let iter: Vec<T> = T::iter().collect();
    assert_eq!(all.len(), iter.len(), "ALL has {all:?}, the enum {iter:?}");
    for v in iter {
        assert!(all.contains(&v), "ALL misses {v:?}");
    }
}

#[test]
fn lifecycle_names() {
    assert_eq!(
        serde_names(ProposalStatus::as_str),
        [
            "pending",
            "approved",
            "rejected",
            "rolling_out",
            "inconclusive",
            "applied",
            "rolled_back",
            "rollback_failed",
            "superseded"
        ]
    );
    assert_eq!(serde_names(ActorKind::as_str), ["human", "agent", "system"]);
    assert_eq!(
        serde_names(RolloutState::as_str),
        [
            "observing",
            "paused",
            "rolling_back",
            "applied",
            "rolled_back",
            "rollback_failed"
        ]
    );
    display_is_serde::<ProposalStatus>();
    display_is_serde::<ActorKind>();
    display_is_serde::<RolloutState>();
    parse_is_serde::<ProposalStatus>();
    parse_is_serde::<ActorKind>();
    parse_is_serde::<RolloutState>();
    all_is_complete(&ProposalStatus::ALL);
    all_is_complete(&ActorKind::ALL);
    all_is_complete(&RolloutState::ALL);
    // The parse errors still name the valid values.
    assert_eq!(
        "robot".parse::<ActorKind>(),
        Err(r#"unknown actor kind "robot"; expected one of human, agent, system"#.to_owned())
    );
    assert_eq!(
        "stopped".parse::<RolloutState>(),
        Err(r#"unknown rollout state "stopped"; expected one of observing, paused, rolling_back, applied, rolled_back, rollback_failed"#.to_owned())
    );
    // Exact names only, as before: no case folding, no blanks.
    assert!("Pending".parse::<ProposalStatus>().is_err());
    assert!(" pending".parse::<ProposalStatus>().is_err());
}

#[test]
fn auth_and_config_names() {
    assert_eq!(
        serde_names(Action::as_str),
        ["read", "write", "approve", "admin"]
    );
    display_is_serde::<Action>();
    parse_is_serde::<Action>();
    all_is_complete(&Action::ALL);
    assert_eq!(
        "delete".parse::<Action>(),
        Err(r#"unknown action "delete"; expected read, write, approve or admin"#.to_owned())
    );

    assert_eq!(
        serde_names(RolloutStrategyKind::as_str),
        ["auto", "before_after", "canary", "ab_test"]
    );
    display_is_serde::<RolloutStrategyKind>();
    parse_is_serde::<RolloutStrategyKind>();
    all_is_complete(&RolloutStrategyKind::ALL);
    assert_eq!(
        "big_bang".parse::<RolloutStrategyKind>(),
        Err(
            r#"unknown rollout strategy "big_bang"; expected auto, before_after, canary or ab_test"#
                .to_owned()
        )
    );
    assert_eq!(
        serde_names(OnInconclusive::as_str),
        ["pause", "rollback", "apply"]
    );
    assert_eq!(
        serde_names(RegressionMethod::as_str),
        ["sequential", "fixed_horizon"]
    );
}

#[test]
fn signal_and_rule_names() {
    assert_eq!(
        serde_names(Altitude::as_str),
        [
            "config_tuning",
            "architecture",
            "prompt_tuning",
            "code_modification"
        ]
    );
    display_is_serde::<Altitude>();
    all_is_complete(&Altitude::ALL);
    assert_eq!(serde_names(Severity::as_str), ["low", "medium", "high"]);
    all_is_complete(&Severity::ALL);
    assert_eq!(
        serde_names(CostCategory::as_str),
        ["productive", "coordination", "system"]
    );
    all_is_complete(&CostCategory::ALL);
    assert_eq!(
        serde_names(Domain::as_str),
        [
            "performance",
            "budget",
            "coordination",
            "scaling",
            "errors",
            "evolution",
            "telemetry",
            "benchmark"
        ]
    );
    all_is_complete(&Domain::ALL);
    // `lowercase`, not `snake_case`, for these two (the same for their one-word variants).
    assert_eq!(
        serde_names(RuleSeverity::as_str),
        ["info", "warning", "critical"]
    );
    display_is_serde::<RuleSeverity>();
    all_is_complete(&RuleSeverity::ALL);
    assert_eq!(
        serde_names(Comparator::as_str),
        ["lt", "le", "gt", "ge", "eq", "ne"]
    );
    display_is_serde::<Comparator>();
    all_is_complete(&Comparator::ALL);
    assert_eq!(serde_names(GuardVerdict::as_str), ["passed", "rejected"]);
    display_is_serde::<GuardVerdict>();
    assert_eq!(
        serde_names(Metric::as_str),
        ["quality", "success_rate", "cost_per_task", "error_rate"]
    );
    display_is_serde::<Metric>();
    all_is_complete(&Metric::ALL);
    display_is_serde::<PrincipleMode>();
    assert_eq!(PrincipleMode::Override.to_string(), "override");
}

#[test]
fn rollup_stream_names() {
    let names: Vec<&str> = Stream::iter().map(Stream::name).collect();
    assert_eq!(
        names,
        [
            "task",
            "cost",
            "coordination",
            "error",
            "evolution",
            "telemetry"
        ]
    );
    all_is_complete(&Stream::ALL);
}
