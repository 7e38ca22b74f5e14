//! A small hand-written dataset whose snapshot values are computed by hand below, ingested
//! into a real SQLite file. Events outside the window are there to prove it is honoured.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_core::rules::{RuleEngine, RulesConfig};
use kaizen_core::signals::{Seasonality, SignalsConfig, SnapshotBuilder};
use kaizen_core::snapshot::{OrgSignalSnapshot, TrendDirection};
use kaizen_store::{IngestOptions, Store};

const DATA: &str = r#"
{"type":"task.completed","id":"t1","ts":"2026-11-01T10:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"k1","success":true,"quality_score":8,"collaboration_score":6}
{"type":"task.completed","id":"t2","ts":"2026-11-02T10:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"k2","success":true,"quality_score":6,"collaboration_score":8}
{"type":"task.completed","id":"t3","ts":"2026-11-01T11:00:00Z","agent_id":"a2","department":"ops","role":"sre","task_id":"k3","success":true,"quality_score":4}
{"type":"task.completed","id":"t4","ts":"2026-11-02T12:00:00Z","agent_id":"a2","department":"ops","role":"sre","task_id":"k4","success":false}
{"type":"task.completed","id":"t5","ts":"2026-11-03T01:00:00Z","agent_id":"a3","department":"eng","role":"dev","task_id":"k5","success":false,"quality_score":1}
{"type":"task.completed","id":"t6","ts":"2026-10-31T23:00:00Z","agent_id":"a1","department":"eng","role":"dev","task_id":"k6","success":false,"quality_score":0}
{"type":"cost.recorded","id":"c1","ts":"2026-11-01T10:00:00Z","agent_id":"a1","category":"productive","cost_usd":6,"input_tokens":1000,"output_tokens":1000}
{"type":"cost.recorded","id":"c2","ts":"2026-11-01T12:00:00Z","agent_id":"a1","category":"coordination","cost_usd":3,"input_tokens":500,"output_tokens":300}
{"type":"cost.recorded","id":"c3","ts":"2026-11-02T13:00:00Z","agent_id":"a2","category":"system","cost_usd":1}
{"type":"cost.recorded","id":"c4","ts":"2026-11-03T05:00:00Z","agent_id":"a1","category":"productive","cost_usd":100}
{"type":"budget.status","id":"b1","ts":"2026-11-01T00:30:00Z","monthly_limit_usd":1000,"remaining_usd":30}
{"type":"coordination.measured","id":"m1","ts":"2026-11-01T10:00:00Z","task_id":"k1","turns_sas":10,"turns_mas":15,"success":true,"error_rate_sas":0.1,"error_rate_mas":0.2,"messages":30,"reasoning_turns":10,"redundancy":0.1,"straggler_gap_ratio":1.5}
{"type":"coordination.measured","id":"m2","ts":"2026-11-02T10:00:00Z","task_id":"k2","turns_sas":20,"turns_mas":24,"success":false,"error_rate_sas":0.1,"error_rate_mas":0.4,"messages":10,"reasoning_turns":10,"redundancy":0.3,"straggler_gap_ratio":2.5}
{"type":"scaling.decision","id":"s1","ts":"2026-11-01T01:00:00Z","decision_id":"d1","action":"hire","source_strategy":"queue","signal":"queue_depth"}
{"type":"scaling.decision","id":"s2","ts":"2026-11-01T02:00:00Z","decision_id":"d2","action":"prune","source_strategy":"cost","signal":"latency"}
{"type":"scaling.decision","id":"s3","ts":"2026-11-02T03:00:00Z","decision_id":"d3","action":"hire","source_strategy":"queue","signal":"latency","rationale":"p95 latency"}
{"type":"scaling.decision","id":"s4","ts":"2026-11-03T02:00:00Z","decision_id":"d4","action":"hold","source_strategy":"queue","signal":"latency"}
{"type":"scaling.outcome","id":"o1","ts":"2026-11-01T02:00:00Z","decision_id":"d1","outcome":"executed"}
{"type":"scaling.outcome","id":"o2","ts":"2026-11-01T03:00:00Z","decision_id":"d2","outcome":"failed"}
{"type":"error.finding","id":"e1","ts":"2026-11-01T05:00:00Z","category":"timeout","severity":"low","count":2}
{"type":"error.finding","id":"e2","ts":"2026-11-01T06:00:00Z","category":"timeout","severity":"high"}
{"type":"error.finding","id":"e3","ts":"2026-11-02T05:00:00Z","category":"hallucination","severity":"high"}
{"type":"error.finding","id":"e4","ts":"2026-11-02T06:00:00Z","category":"timeout","severity":"medium","count":4}
{"type":"evolution.outcome","id":"v1","ts":"2026-11-01T08:00:00Z","agent_id":"a1","axis":"prompt","applied":true,"proposed_at":"2026-10-30T08:00:00Z"}
{"type":"evolution.outcome","id":"v2","ts":"2026-11-02T08:00:00Z","agent_id":"a2","axis":"tools","applied":false,"proposed_at":"2026-11-01T08:00:00Z"}
{"type":"evolution.outcome","id":"v3","ts":"2026-11-02T09:00:00Z","agent_id":"a1","axis":"prompt","applied":true,"proposed_at":"2026-11-02T01:00:00Z"}
{"type":"telemetry.event","id":"l1","ts":"2026-11-01T10:00:00Z","event_type":"llm.request"}
{"type":"telemetry.event","id":"l2","ts":"2026-11-01T10:05:00Z","event_type":"llm.request","error":true}
{"type":"telemetry.event","id":"l3","ts":"2026-11-02T10:00:00Z","event_type":"llm.request"}
{"type":"telemetry.event","id":"l4","ts":"2026-11-02T11:00:00Z","event_type":"tool.call"}
{"type":"benchmark.run","id":"r1","ts":"2026-11-01T00:00:00Z","suite":"core","total_score":80}
{"type":"benchmark.run","id":"r2","ts":"2026-11-02T00:00:00Z","suite":"core","total_score":70}
"#;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-9)
}

/// The golden window has two days of benchmark runs: compared run to run
/// (`seasonality: none`); [`golden_weekly_seasonality`] checks the default.
fn snapshot() -> OrgSignalSnapshot {
    snapshot_with(SignalsConfig {
        seasonality: Seasonality::None,
        ..SignalsConfig::default()
    })
}

fn snapshot_with(config: SignalsConfig) -> OrgSignalSnapshot {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("golden.db")).expect("open store");
    let report = store
        .ingest(
            DATA.as_bytes(),
            IngestOptions::new(t("2026-11-05T00:00:00Z")),
        )
        .expect("ingest");
    assert_eq!(
        (report.accepted, report.rejected, report.duplicates),
        (32, 0, 0)
    );
    SnapshotBuilder::new(config).build(
        store.signal_source(),
        t("2026-11-01T00:00:00Z"),
        t("2026-11-03T00:00:00Z"),
    )
}

#[test]
fn golden_weekly_seasonality() {
    // The default compares a run with the same weekday a week earlier: with two days of
    // history nothing is judged, and nothing else changes (no data a week earlier, so the
    // trends still compare the halves).
    let weekly = snapshot_with(SignalsConfig::default());
    let consecutive = snapshot();
    assert_eq!(weekly.benchmark.run_count, 2);
    assert_eq!(weekly.benchmark.delta, None);
    assert!(!weekly.benchmark.is_regression && !weekly.benchmark.has_regression);
    // The only difference: the relative rules' baseline, the same day a week earlier (empty).
    let week_before = weekly
        .performance
        .daily_week_before
        .clone()
        .expect("weekly baseline");
    assert_eq!(week_before.task_count, 0);
    assert_eq!(consecutive.performance.daily_week_before, None);
    let mut same = weekly.performance.clone();
    same.daily_week_before = None;
    assert_eq!(same, consecutive.performance);
    assert_eq!(weekly.errors, consecutive.errors);
    assert_eq!(weekly.budget, consecutive.budget);
    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&weekly);
    let fired: Vec<&str> = evaluation
        .matches
        .iter()
        .map(|m| m.rule_name.as_str())
        .collect();
    assert_eq!(fired, ["budget_overrun"]);
}

#[test]
fn golden_snapshot() {
    let s = snapshot();
    assert!(s.failed_domains.is_empty(), "{:?}", s.failed_domains);
    assert_eq!(s.collected_at, t("2026-11-03T00:00:00Z"));

    // Performance: a1 quality (8+6)/2 = 7, a2 4 → 5.5; success a1 1, a2 1/2 → 0.75;
    // collaboration only a1: 7. a3 and the 10-31 task are outside the window.
    let p = &s.performance;
    assert_eq!(
        (p.agent_count, p.task_count, p.scored_task_count),
        (2, 4, 3)
    );
    assert!(close(p.avg_quality_score, 5.5));
    assert!(close(p.avg_success_rate, 0.75));
    assert!(close(p.avg_collaboration_score, 7.0));
    assert!(close(p.department_summaries["eng"].avg_quality_score, 7.0));
    assert!(close(p.department_summaries["ops"].avg_success_rate, 0.5));
    let success = p
        .metrics
        .iter()
        .find(|m| m.name == "success_rate")
        .expect("success metric");
    assert_eq!(success.trend, TrendDirection::Declining); // 1.0 → 0.5

    // Budget: 6 + 3 + 1 = 10 in the window; 30 remaining at 00:30 minus 10 spent after → 20;
    // daily spends [9, 1] → burn 5/day → 4 days.
    let b = &s.budget;
    assert!(close(Some(b.total_spend), 10.0));
    assert!(close(Some(b.productive_ratio), 0.6));
    assert!(close(Some(b.coordination_ratio), 0.3));
    assert!(close(Some(b.system_ratio), 0.1));
    assert!(close(Some(b.orchestration_overhead), 800.0 / 2000.0));
    assert!(close(b.remaining_usd, 20.0));
    assert!(close(b.daily_burn_usd, 5.0));
    assert_eq!(b.days_until_exhausted, Some(4));
    // The November period resets on 1 December, 28 days after the window: 980 spent + 28 days
    // at 5.
    assert_eq!(b.period_end, Some(t("2026-12-01T00:00:00Z")));
    assert!(close(b.days_until_reset, 28.0));
    assert!(close(b.projected_period_spend_usd, 980.0 + 28.0 * 5.0));
    assert!(close(Some(b.burn_window_days), 2.0));
    let sd = 32f64.sqrt();
    let expected_confidence = (2.0 / 7.0) * (1.0 / (1.0 + sd / 5.0));
    assert!(close(Some(b.forecast_confidence), expected_confidence));

    // Coordination: mean sas 15, mean mas 19.5 → O% 30, Ec 0.5/1.3, Ae 0.3/0.1.
    let c = &s.coordination;
    assert!(close(c.coordination_overhead_pct, 30.0));
    assert!(close(c.coordination_efficiency, 0.5 / 1.3));
    assert!(close(c.error_amplification, 3.0));
    assert!(close(c.message_density, 2.0));
    assert!(close(c.redundancy_rate, 0.2));
    assert!(close(c.straggler_gap_ratio, 2.0));
    assert_eq!(c.sample_count, 2);

    // Scaling: d1 executed, d2 failed, d3 pending (not a failure), d4 outside.
    let sc = &s.scaling;
    assert_eq!((sc.total_decisions, sc.decided_decisions), (3, 2));
    assert!(close(sc.success_rate, 0.5));
    assert_eq!(sc.most_common_signal.as_deref(), Some("latency"));
    assert_eq!(sc.recent_decisions[0].decision_id, "d3");
    assert_eq!(sc.recent_decisions[0].outcome, "pending");

    // Errors: timeout 2 low + 1 high + 4 medium = 7, severity 13/7; hallucination 1 high.
    let e = &s.errors;
    assert_eq!(e.total_findings, 8);
    assert_eq!(e.categories[0].category, "timeout");
    assert_eq!(e.categories[0].count, 7);
    assert!(close(Some(e.categories[0].avg_severity), 13.0 / 7.0));
    assert_eq!(e.categories[0].trend, TrendDirection::Declining); // 3 → 4
    assert_eq!(e.most_severe_category.as_deref(), Some("hallucination"));
    assert_eq!(e.severity_histogram.get("low"), Some(&2));
    assert_eq!(e.severity_histogram.get("medium"), Some(&4));
    assert_eq!(e.severity_histogram.get("high"), Some(&2));

    // Evolution: 3 outcomes, 2 applied; prompt twice.
    let v = &s.evolution;
    assert_eq!(v.total_proposals, 3);
    assert!(close(v.approval_rate, 2.0 / 3.0));
    assert_eq!(v.most_adapted_axis.as_deref(), Some("prompt"));
    let recent: Vec<&str> = v.recent_outcomes.iter().map(|o| o.axis.as_str()).collect();
    assert_eq!(recent, ["prompt", "tools", "prompt"]);
    assert_eq!(v.recent_outcomes[0].proposed_at, t("2026-11-02T01:00:00Z"));

    // Telemetry.
    let tm = &s.telemetry;
    assert_eq!((tm.event_count, tm.error_event_count), (4, 1));
    assert_eq!(tm.top_event_types, ["llm.request", "tool.call"]);

    // Benchmark: 80 → 70.
    let bm = &s.benchmark;
    assert_eq!(bm.run_count, 2);
    assert_eq!(
        (bm.latest_total, bm.max_total, bm.delta),
        (Some(70.0), Some(80.0), Some(-10.0))
    );
    assert!(bm.is_regression && bm.has_regression);
}

#[test]
fn golden_rules() {
    let s = snapshot();
    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&s);
    assert!(evaluation.failures.is_empty());
    let fired: Vec<&str> = evaluation
        .matches
        .iter()
        .map(|m| m.rule_name.as_str())
        .collect();
    // straggler 2.0 is not > 2.0; scaling has only 2 decided decisions (< 3).
    assert_eq!(fired, ["budget_overrun", "benchmark_regression"]);
}

#[test]
fn empty_store_gives_empty_snapshot_and_no_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("empty.db")).expect("open store");
    let s = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        t("2026-11-01T00:00:00Z"),
        t("2026-11-08T00:00:00Z"),
    );
    assert!(s.failed_domains.is_empty());
    assert_eq!(s.performance.avg_quality_score, None);
    assert_eq!(s.performance.agent_count, 0);
    assert_eq!(s.budget.days_until_exhausted, None);
    assert_eq!(s.scaling.success_rate, None);
    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&s);
    assert!(evaluation.matches.is_empty(), "{:?}", evaluation.matches);
}
