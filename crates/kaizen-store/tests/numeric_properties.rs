//! Property (issue 21): arbitrary events whose numbers are finite and within the per-event
//! bounds of `docs/events.md` — including the bounds themselves, zero and the smallest
//! positive floats — never produce a non-finite snapshot value, never fail a domain, and
//! never fail a rule. Each case ingests into a real SQLite file and builds the snapshot with
//! the real builder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Utc};
use kaizen_core::event::{
    MAX_BENCHMARK_SCORE, MAX_BUDGET_USD, MAX_COST_USD, MAX_DURATION_SECONDS, MAX_FINDINGS,
    MAX_GAP_RATIO, MAX_MESSAGES, MAX_TOKENS, MAX_TURNS, MIN_TURNS_SAS,
};
use kaizen_core::rules::{ContextValue, RuleEngine, RulesConfig};
use kaizen_core::signals::{SignalsConfig, SnapshotBuilder};
use kaizen_store::{IngestOptions, Store};
use proptest::prelude::*;
use serde_json::{Value, json};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A float in `[lo, hi]`, biased towards the edges (`lo`, `hi`, the tiniest positive values).
fn amount(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => lo..=hi,
        1 => Just(lo),
        1 => Just(hi),
        1 => prop_oneof![Just(5e-324), Just(f64::MIN_POSITIVE), Just(1e-300)]
            .prop_map(move |x| x.clamp(lo, hi)),
    ]
}

fn count(hi: u64) -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..=hi, 1 => Just(0), 1 => Just(hi)]
}

fn ts() -> impl Strategy<Value = String> {
    (1u32..=3, 0u32..24, 0u32..60).prop_map(|(d, h, m)| format!("2026-11-{d:02}T{h:02}:{m:02}:00Z"))
}

fn agent() -> impl Strategy<Value = String> {
    (0u8..5).prop_map(|i| format!("a{i}"))
}

fn event() -> impl Strategy<Value = Value> {
    let turns = f64::from(MAX_TURNS);
    prop_oneof![
        (
            ts(),
            agent(),
            any::<bool>(),
            proptest::option::of(amount(0.0, 10.0)),
            proptest::option::of(amount(0.0, MAX_DURATION_SECONDS)),
            proptest::option::of(count(u64::from(MAX_TURNS))),
        )
            .prop_map(|(ts, agent, success, q, d, turns)| {
                let mut e = json!({"type": "task.completed", "ts": ts, "agent_id": agent,
                    "department": "d", "role": "r", "task_id": "k", "success": success});
                if let Some(q) = q {
                    e["quality_score"] = json!(q);
                    e["collaboration_score"] = json!(q);
                }
                if let Some(d) = d {
                    e["duration_seconds"] = json!(d);
                }
                if let Some(n) = turns {
                    e["turns"] = json!(n);
                }
                e
            }),
        (
            ts(),
            agent(),
            prop_oneof![Just("productive"), Just("coordination"), Just("system")],
            amount(0.0, MAX_COST_USD),
            count(MAX_TOKENS),
            count(MAX_TOKENS),
        )
            .prop_map(
                |(ts, agent, category, usd, i, o)| json!({"type": "cost.recorded",
                "ts": ts, "agent_id": agent, "category": category, "cost_usd": usd,
                "input_tokens": i, "output_tokens": o})
            ),
        (
            ts(),
            amount(f64::MIN_POSITIVE, MAX_BUDGET_USD),
            0.0f64..=1.0
        )
            .prop_map(
                |(ts, limit, left)| json!({"type": "budget.status", "ts": ts,
                "monthly_limit_usd": limit, "remaining_usd": limit * left})
            ),
        (
            ts(),
            proptest::option::of(amount(MIN_TURNS_SAS, turns)),
            proptest::option::of(amount(0.0, turns)),
            proptest::option::of(any::<bool>()),
            (
                proptest::option::of(amount(0.0, 1.0)),
                proptest::option::of(amount(0.0, 1.0)),
            ),
            (
                proptest::option::of(count(MAX_MESSAGES)),
                proptest::option::of(count(MAX_MESSAGES)),
            ),
            proptest::option::of(amount(0.0, 1.0)),
            proptest::option::of(amount(0.0, MAX_GAP_RATIO)),
        )
            .prop_map(|(ts, sas, mas, ok, (es, em), (msg, rt), red, gap)| {
                let mut e = json!({"type": "coordination.measured", "ts": ts, "task_id": "k"});
                let fields = [
                    ("turns_sas", sas.map(|v| json!(v))),
                    ("turns_mas", mas.map(|v| json!(v))),
                    ("success", ok.map(|v| json!(v))),
                    ("error_rate_sas", es.map(|v| json!(v))),
                    ("error_rate_mas", em.map(|v| json!(v))),
                    ("messages", msg.map(|v| json!(v))),
                    ("reasoning_turns", rt.map(|v| json!(v))),
                    ("redundancy", red.map(|v| json!(v))),
                    ("straggler_gap_ratio", gap.map(|v| json!(v))),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        e[k] = v;
                    }
                }
                e
            }),
        (
            ts(),
            prop_oneof![Just("low"), Just("medium"), Just("high")],
            1..=u64::from(MAX_FINDINGS),
            proptest::option::of(agent()),
        )
            .prop_map(|(ts, severity, n, agent)| {
                let mut e = json!({"type": "error.finding", "ts": ts, "category": "c",
                    "severity": severity, "count": n});
                if let Some(a) = agent {
                    e["agent_id"] = json!(a);
                }
                e
            }),
        (ts(), amount(0.0, MAX_BENCHMARK_SCORE)).prop_map(|(ts, score)| json!({
            "type": "benchmark.run", "ts": ts, "suite": "s", "total_score": score})),
        (ts(), agent(), any::<bool>()).prop_map(|(ts, agent, applied)| json!({
            "type": "evolution.outcome", "ts": ts, "agent_id": agent, "axis": "prompt",
            "applied": applied, "proposed_at": "2026-10-01T00:00:00Z"})),
        (ts(), any::<bool>()).prop_map(|(ts, error)| json!({
            "type": "telemetry.event", "ts": ts, "event_type": "x", "error": error})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn in_bounds_events_never_produce_a_non_finite_snapshot(
        events in proptest::collection::vec(event(), 1..40),
        monthly_budget in proptest::option::of(amount(0.0, MAX_BUDGET_USD)),
    ) {
        let mut data = String::new();
        for e in &events {
            data.push_str(&e.to_string());
            data.push('\n');
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path().join("p.db")).expect("open store");
        let report = store
            .ingest(data.as_bytes(), IngestOptions::new(t("2026-11-05T00:00:00Z")))
            .expect("ingest");
        prop_assert_eq!(report.rejected, 0, "{:?}", report.rejections);
        let config = SignalsConfig { monthly_budget_usd: monthly_budget, ..SignalsConfig::default() };
        let snapshot = SnapshotBuilder::new(config).build(
            store.signal_source(),
            t("2026-11-01T00:00:00Z"),
            t("2026-11-04T00:00:00Z"),
        );
        prop_assert!(snapshot.non_finite().is_empty(), "{:?}", snapshot.non_finite());
        prop_assert!(snapshot.failed_domains.is_empty(), "{:?}", snapshot.failed_domains);
        let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&snapshot);
        prop_assert!(evaluation.failures.is_empty(), "{:?}", evaluation.failures);
        prop_assert!(evaluation.notes.is_empty(), "{:?}", evaluation.notes);
        for m in &evaluation.matches {
            for (key, value) in &m.signal_context {
                if let ContextValue::Number(x) = value {
                    prop_assert!(x.is_finite(), "{}: {} = {}", m.rule_name, key, x);
                }
            }
        }
    }
}
