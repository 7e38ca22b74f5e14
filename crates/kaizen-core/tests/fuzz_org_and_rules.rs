//! Bounded, proptest-based fuzz targets of the core (issue 21), run with the normal suite:
//!
//! * `OrgDocument::apply` of arbitrary change sequences on the standard org never panics; it
//!   either applies (and the result validates, and the inverses restore the original) or
//!   returns an error.
//! * The rule engine never fires on a NaN or an infinity: a snapshot with non-finite values
//!   yields exactly the matches of the same snapshot with those domains emptied, with finite
//!   evidence, no failures, and a note per quarantined domain.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kaizen_core::org::{
    Agent, Department, OrgChange, OrgDocument, Principle, PrincipleMode, PrincipleScope, Role,
    SettingValue, Workflow,
};
use kaizen_core::rules::{ContextValue, RuleEngine, RulesConfig};
use kaizen_core::snapshot::{OrgSignalSnapshot, SnapshotWindow};
use proptest::prelude::*;

/// Ids from the standard org, new ones and hostile ones.
fn id() -> impl Strategy<Value = String> {
    let doc = OrgDocument::standard();
    let mut known: Vec<String> = doc.departments.iter().map(|d| d.id.clone()).collect();
    known.extend(doc.roles.iter().map(|r| r.id.clone()));
    known.extend(doc.workflows.iter().map(|w| w.id.clone()));
    known.extend(doc.principles.iter().map(|p| p.id.clone()));
    prop_oneof![
        4 => proptest::sample::select(known),
        2 => proptest::sample::select(vec!["new", "x", "agent-1", "agent-2"]).prop_map(str::to_owned),
        1 => proptest::sample::select(vec!["", " ", "a:b", "a.b", "\u{7}", "ß∂ƒ", "role:x"])
            .prop_map(str::to_owned),
        1 => "\\PC{0,300}",
    ]
}

fn setting_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "models.default_tier",
            "budget.per_task_limit_usd",
            "coordination.max_team_size",
            "coordination.work_stealing",
            "models",
            "models.default_tier.deeper",
            "a",
            "a.b.c.d.e.f",
        ])
        .prop_map(str::to_owned),
        1 => proptest::sample::select(vec!["", ".", "a..b", "a.", ".a", "\u{0}", "a b"])
            .prop_map(str::to_owned),
        1 => "\\PC{0,40}",
    ]
}

fn setting_value() -> impl Strategy<Value = SettingValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(SettingValue::Bool),
        any::<i64>().prop_map(SettingValue::Integer),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(2.0)
        ]
        .prop_map(SettingValue::Float),
        prop_oneof![Just("large".to_owned()), "\\PC{0,20}"].prop_map(SettingValue::String),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        proptest::collection::btree_map("[a-z_]{0,6}", inner, 0..4).prop_map(SettingValue::Map)
    })
}

fn description() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![Just(String::new()), "\\PC{0,30}"])
}

fn scope() -> impl Strategy<Value = PrincipleScope> {
    prop_oneof![
        Just(PrincipleScope::All),
        id().prop_map(PrincipleScope::Role),
        id().prop_map(PrincipleScope::Department),
    ]
}

fn principle() -> impl Strategy<Value = Principle> {
    (
        id(),
        scope(),
        "\\PC{0,40}",
        prop_oneof![Just(PrincipleMode::Append), Just(PrincipleMode::Override)],
    )
        .prop_map(|(id, scope, text, mode)| Principle {
            id,
            scope,
            text,
            mode,
        })
}

fn workflow() -> impl Strategy<Value = Workflow> {
    (id(), description(), proptest::collection::vec(id(), 0..4)).prop_map(
        |(id, description, steps)| Workflow {
            id,
            description,
            steps,
        },
    )
}

fn agent() -> impl Strategy<Value = Agent> {
    (id(), id(), id()).prop_map(|(id, role, department)| Agent {
        id,
        role,
        department,
    })
}

/// An arbitrary change; a third of them are taken from the document itself (removing or
/// updating an existing item), so that many sequences apply.
fn change() -> impl Strategy<Value = OrgChange> {
    let doc = OrgDocument::standard();
    let existing: Vec<OrgChange> = doc
        .departments
        .iter()
        .cloned()
        .map(OrgChange::RemoveDepartment)
        .chain(doc.roles.iter().cloned().map(OrgChange::RemoveRole))
        .chain(doc.workflows.iter().cloned().map(OrgChange::RemoveWorkflow))
        .chain(
            doc.principles
                .iter()
                .cloned()
                .map(OrgChange::RemovePrinciple),
        )
        .collect();
    prop_oneof![
        2 => proptest::sample::select(existing),
        2 => (
            setting_path(),
            proptest::option::of(setting_value()),
            proptest::option::of(setting_value())
        )
            .prop_map(|(path, from, to)| OrgChange::SetSetting { path, from, to }),
        2 => agent().prop_map(OrgChange::AddAgent),
        1 => agent().prop_map(OrgChange::RemoveAgent),
        1 => (id(), id(), id(), id(), id()).prop_map(|(id, fr, tr, fd, td)| OrgChange::MoveAgent {
            id,
            from_role: fr,
            to_role: tr,
            from_department: fd,
            to_department: td,
        }),
        1 => (id(), description()).prop_map(|(id, description)| {
            OrgChange::AddDepartment(Department { id, description })
        }),
        1 => (id(), description(), proptest::option::of(id())).prop_map(
            |(id, description, department)| OrgChange::AddRole(Role {
                id,
                description,
                department,
            })
        ),
        1 => workflow().prop_map(OrgChange::AddWorkflow),
        1 => (id(), workflow(), workflow())
            .prop_map(|(id, from, to)| OrgChange::UpdateWorkflow { id, from, to }),
        1 => principle().prop_map(OrgChange::AddPrinciple),
        1 => (id(), principle(), principle())
            .prop_map(|(id, from, to)| OrgChange::UpdatePrinciple { id, from, to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn org_change_sequences_apply_cleanly_or_fail(
        changes in proptest::collection::vec(change(), 0..8)
    ) {
        let base = OrgDocument::standard().canonical();
        match base.apply(&changes) {
            Ok(doc) => {
                prop_assert!(doc.validate().is_ok(), "{:?}", doc.validate());
                let back = doc.apply(&OrgChange::inverse_all(&changes));
                prop_assert_eq!(back.as_ref().ok(), Some(&base), "{:?}", back.as_ref().err());
            }
            Err(e) => {
                prop_assert!(!e.to_string().trim().is_empty());
            }
        }
    }
}

fn empty_snapshot() -> OrgSignalSnapshot {
    let until = DateTime::parse_from_rfc3339("2026-01-08T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap();
    let since = until - chrono::Duration::days(7);
    OrgSignalSnapshot::empty(SnapshotWindow {
        since,
        until,
        effective_since: since,
        effective_until: until,
    })
}

/// A number that is finite most of the time, and NaN or ±∞ otherwise.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -1e3f64..1e3,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn snapshot() -> impl Strategy<Value = OrgSignalSnapshot> {
    (
        proptest::collection::vec(proptest::option::of(number()), 12),
        proptest::collection::vec(number(), 5),
        (
            proptest::option::of(0u32..60),
            0u64..50,
            0u64..10,
            proptest::option::of(number()),
        ),
    )
        .prop_map(|(opts, plain, (days, findings, agents, share))| {
            let mut s = empty_snapshot();
            s.performance.agent_count = agents;
            s.performance.avg_quality_score = opts[0];
            s.performance.avg_success_rate = opts[1];
            s.budget.daily_burn_usd = opts[2];
            s.budget.remaining_usd = opts[3];
            s.coordination.coordination_overhead_pct = opts[4];
            s.coordination.straggler_gap_ratio = opts[5];
            s.coordination.redundancy_rate = opts[6];
            s.coordination.error_amplification = opts[7];
            s.scaling.success_rate = opts[8];
            s.scaling.decided_decisions = findings;
            s.benchmark.delta = opts[9];
            s.benchmark.run_count = agents;
            s.evolution.approval_rate = opts[10];
            s.coordination.message_density = opts[11];
            s.budget.total_spend = plain[0];
            s.budget.coordination_ratio = plain[1];
            s.budget.productive_ratio = plain[2];
            s.budget.forecast_confidence = plain[3];
            s.budget.orchestration_overhead = plain[4];
            s.budget.days_until_exhausted = days;
            s.errors.total_findings = findings;
            s.budget.top_agent = share.map(|v| kaizen_core::snapshot::AgentShare {
                agent_id: "a".into(),
                value: v,
                share: v,
                agent_count: agents,
            });
            s
        })
}

fn evidence_is_finite(ctx: &BTreeMap<String, ContextValue>) -> bool {
    ctx.values()
        .all(|v| !matches!(v, ContextValue::Number(x) if !x.is_finite()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rules_never_fire_from_non_finite_input(s in snapshot()) {
        let engine = RuleEngine::from_config(&RulesConfig::default());
        let evaluation = engine.evaluate(&s);
        let mut clean = s.clone();
        let quarantined = clean.quarantine_non_finite();
        prop_assert!(clean.non_finite().is_empty());
        let reference = engine.evaluate(&clean);
        prop_assert!(evaluation.failures.is_empty(), "{:?}", evaluation.failures);
        prop_assert_eq!(&evaluation.matches, &reference.matches);
        prop_assert_eq!(evaluation.notes.len(), quarantined.len(), "{:?}", evaluation.notes);
        for m in &evaluation.matches {
            prop_assert!(evidence_is_finite(&m.signal_context), "{:?}", m);
        }
    }
}
