//! Numeric sanity end to end (issue 21): numbers that could sum to infinity are refused at
//! ingest with the field named, extreme in-bounds events give a snapshot of finite numbers
//! and no rule failure, and a finding on an org-wide total names the agent driving it.
//! Real SQLite files, the real ingest pipeline, the real snapshot builder and rule engine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_core::rules::{ContextValue, RuleEngine, RulesConfig};
use kaizen_core::signals::{SignalsConfig, SnapshotBuilder};
use kaizen_core::snapshot::OrgSignalSnapshot;
use kaizen_store::{IngestOptions, IngestReport, Store};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn ingest_and_snapshot(data: &str) -> (IngestReport, OrgSignalSnapshot) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("numbers.db")).expect("open store");
    let report = store
        .ingest(
            data.as_bytes(),
            IngestOptions::new(t("2026-11-05T00:00:00Z")),
        )
        .expect("ingest");
    let snapshot = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        t("2026-11-01T00:00:00Z"),
        t("2026-11-04T00:00:00Z"),
    );
    (report, snapshot)
}

fn rejected_fields(report: &IngestReport) -> Vec<String> {
    report
        .rejections
        .iter()
        .map(|r| {
            r.field
                .clone()
                .unwrap_or_else(|| format!("<none: {}>", r.message))
        })
        .collect()
}

#[test]
fn issue_21_costs_that_sum_to_infinity_are_refused_naming_the_field() {
    // The issue's attack (3 × 1.7e308 USD), and values below the old 1e12 cap that are still
    // absurd for one event: 2 million USD, 2 billion tokens, 31 days, 2 million findings.
    let data = r#"
{"type":"budget.status","ts":"2026-11-01T00:00:00Z","monthly_limit_usd":10000,"remaining_usd":9000}
{"type":"cost.recorded","ts":"2026-11-01T10:00:00Z","agent_id":"a1","category":"productive","cost_usd":1.7e308}
{"type":"cost.recorded","ts":"2026-11-01T10:00:00Z","agent_id":"a1","category":"productive","cost_usd":1.7e308}
{"type":"cost.recorded","ts":"2026-11-01T10:00:00Z","agent_id":"a1","category":"productive","cost_usd":1.7e308}
{"type":"cost.recorded","ts":"2026-11-01T11:00:00Z","agent_id":"a1","category":"productive","cost_usd":2000000}
{"type":"cost.recorded","ts":"2026-11-01T11:00:00Z","agent_id":"a1","category":"productive","cost_usd":1,"input_tokens":2000000000}
{"type":"task.completed","ts":"2026-11-01T12:00:00Z","agent_id":"a1","department":"d","role":"r","task_id":"k","success":true,"duration_seconds":2678400}
{"type":"error.finding","ts":"2026-11-01T12:00:00Z","category":"c","severity":"low","count":2000000}
{"type":"coordination.measured","ts":"2026-11-01T12:00:00Z","task_id":"k","turns_sas":1e-300,"turns_mas":10}
{"type":"cost.recorded","ts":"2026-11-01T12:00:00Z","agent_id":"a1","category":"productive","cost_usd":1000000,"input_tokens":1000000000}
"#;
    let (report, snapshot) = ingest_and_snapshot(data);
    assert_eq!(
        rejected_fields(&report),
        [
            "cost_usd",
            "cost_usd",
            "cost_usd",
            "cost_usd",
            "input_tokens",
            "duration_seconds",
            "count",
            "turns_sas"
        ],
        "{:#?}",
        report.rejections
    );
    assert!(
        report.rejections[3]
            .message
            .contains("at most 1000000 USD per event"),
        "{}",
        report.rejections[3].message
    );
    // The events at the bounds are accepted.
    assert_eq!(report.accepted, 2);
    assert_eq!(snapshot.budget.total_spend, 1e6);
    assert!(
        snapshot.non_finite().is_empty(),
        "{:?}",
        snapshot.non_finite()
    );
    assert!(
        snapshot.failed_domains.is_empty(),
        "{:?}",
        snapshot.failed_domains
    );
}

#[test]
fn extreme_in_bounds_events_give_finite_numbers_and_no_rule_failure() {
    // Every value at its bound or at the smallest positive float: before, an error rate of
    // 5e-324 made error amplification infinite, and the rule engine failed on it.
    let mut data = String::from(
        r#"{"type":"budget.status","ts":"2026-11-01T00:00:00Z","monthly_limit_usd":1000000000,"remaining_usd":1000000000}
{"type":"coordination.measured","ts":"2026-11-01T12:00:00Z","task_id":"k","turns_sas":0.001,"turns_mas":1000000,"success":true,"error_rate_sas":5e-324,"error_rate_mas":1,"messages":1000000000,"reasoning_turns":0,"redundancy":1,"straggler_gap_ratio":1000000}
{"type":"benchmark.run","ts":"2026-11-01T00:00:00Z","suite":"s","total_score":1000000000}
{"type":"benchmark.run","ts":"2026-11-02T00:00:00Z","suite":"s","total_score":0}
"#,
    );
    for i in 0..200 {
        data.push_str(&format!(
            r#"{{"type":"cost.recorded","ts":"2026-11-0{}T0{}:00:00Z","agent_id":"a{}","category":"coordination","cost_usd":1000000,"input_tokens":1000000000,"output_tokens":1000000000}}
{{"type":"task.completed","ts":"2026-11-02T10:00:00Z","agent_id":"a{}","department":"d","role":"r","task_id":"k{i}","success":false,"quality_score":0,"duration_seconds":2592000,"turns":1000000}}
{{"type":"error.finding","ts":"2026-11-02T10:00:00Z","category":"c","severity":"high","count":1000000,"agent_id":"a{}"}}
"#,
            1 + i % 3,
            i % 10,
            i % 7,
            i % 7,
            i % 7
        ));
    }
    let (report, snapshot) = ingest_and_snapshot(&data);
    assert_eq!(report.rejected, 0, "{:#?}", report.rejections);
    assert!(
        snapshot.non_finite().is_empty(),
        "{:?}",
        snapshot.non_finite()
    );
    assert!(
        snapshot.failed_domains.is_empty(),
        "{:?}",
        snapshot.failed_domains
    );
    assert_eq!(snapshot.coordination.error_amplification, None);
    assert_eq!(snapshot.budget.total_spend, 200.0 * 1e6);
    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&snapshot);
    assert!(evaluation.failures.is_empty(), "{:?}", evaluation.failures);
    assert!(evaluation.notes.is_empty(), "{:?}", evaluation.notes);
    for m in &evaluation.matches {
        for (key, value) in &m.signal_context {
            if let ContextValue::Number(x) = value {
                assert!(x.is_finite(), "{}: {key} = {x}", m.rule_name);
            }
        }
    }
}

#[test]
fn one_agent_with_extreme_values_among_twenty_is_named_in_the_finding() {
    let mut data = String::from(
        r#"{"type":"budget.status","ts":"2026-11-01T00:00:00Z","monthly_limit_usd":100000,"remaining_usd":60000}
"#,
    );
    for day in 1..=3 {
        for agent in 0..20 {
            data.push_str(&format!(
                r#"{{"type":"cost.recorded","ts":"2026-11-0{day}T10:00:00Z","agent_id":"agent-{agent:02}","category":"productive","cost_usd":10}}
{{"type":"error.finding","ts":"2026-11-0{day}T10:00:00Z","category":"timeout","severity":"low","agent_id":"agent-{agent:02}"}}
"#
            ));
        }
        data.push_str(&format!(
            r#"{{"type":"cost.recorded","ts":"2026-11-0{day}T11:00:00Z","agent_id":"rogue","category":"productive","cost_usd":10000}}
{{"type":"error.finding","ts":"2026-11-0{day}T11:00:00Z","category":"timeout","severity":"low","agent_id":"rogue","count":100}}
"#
        ));
    }
    let (report, snapshot) = ingest_and_snapshot(&data);
    assert_eq!(report.rejected, 0, "{:#?}", report.rejections);
    let top = snapshot.budget.top_agent.clone().expect("top spender");
    assert_eq!(top.agent_id, "rogue");
    assert_eq!(top.agent_count, 21);
    assert!(
        (top.share - 30_000.0 / 30_600.0).abs() < 1e-12,
        "{}",
        top.share
    );

    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&snapshot);
    let find = |name: &str| {
        evaluation
            .matches
            .iter()
            .find(|m| m.rule_name == name)
            .unwrap_or_else(|| panic!("{name} did not fire: {:?}", evaluation.matches))
    };
    let budget = find("budget_overrun");
    assert!(
        budget
            .description
            .contains("driven by one agent: rogue accounts for 98.0% of the spend"),
        "{}",
        budget.description
    );
    assert_eq!(
        budget.signal_context["top_agent_id"],
        ContextValue::Text("rogue".into())
    );
    assert_eq!(
        budget.signal_context["agents_contributing"],
        ContextValue::Int(21)
    );
    // Without the rogue agent the org burns 200 USD a day: the budget lasts for months.
    let Some(ContextValue::Int(without)) = budget
        .signal_context
        .get("days_until_exhausted_without_top_agent")
    else {
        panic!("{:?}", budget.signal_context);
    };
    assert!(*without > 100, "{without}");

    let errors = find("error_spike");
    assert!(
        errors
            .description
            .contains("rogue accounts for 83.3% of the findings"),
        "{}",
        errors.description
    );
    assert_eq!(
        errors.signal_context["top_agent_share"],
        ContextValue::Number(300.0 / 360.0)
    );
}
