//! Format and invariants of generated datasets: determinism, order, ids, schema round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::HashSet;

use common::{day, run, spec};
use kaizen_core::event::{
    BenchmarkRun, BudgetStatus, CoordinationMeasured, CostRecorded, ErrorFinding, Event,
    EvolutionOutcome, ScalingDecision, ScalingOutcomeRecorded, TaskCompleted, TelemetryEvent,
    Timestamp,
};
use kaizen_sim::{Fault, SimSpec, generate};
use serde_json::Value;

fn all_faults() -> Vec<Fault> {
    Fault::NAMES
        .iter()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Deserialises a line into the concrete struct of its type (which denies unknown fields).
fn parse_event(line: &str) -> Event {
    let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let obj = v
        .as_object_mut()
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let kind = obj
        .remove("type")
        .and_then(|t| t.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no type: {line}"));
    fn de<T: serde::de::DeserializeOwned>(v: Value, line: &str) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
    match kind.as_str() {
        "task.completed" => Event::TaskCompleted(de::<TaskCompleted>(v, line)),
        "cost.recorded" => Event::CostRecorded(de::<CostRecorded>(v, line)),
        "budget.status" => Event::BudgetStatus(de::<BudgetStatus>(v, line)),
        "coordination.measured" => Event::CoordinationMeasured(de::<CoordinationMeasured>(v, line)),
        "scaling.decision" => Event::ScalingDecision(de::<ScalingDecision>(v, line)),
        "scaling.outcome" => Event::ScalingOutcome(de::<ScalingOutcomeRecorded>(v, line)),
        "error.finding" => Event::ErrorFinding(de::<ErrorFinding>(v, line)),
        "evolution.outcome" => Event::EvolutionOutcome(de::<EvolutionOutcome>(v, line)),
        "telemetry.event" => Event::TelemetryEvent(de::<TelemetryEvent>(v, line)),
        "benchmark.run" => Event::BenchmarkRun(de::<BenchmarkRun>(v, line)),
        other => panic!("unknown type {other}: {line}"),
    }
}

fn check_dataset(spec: &SimSpec) {
    let mut out = Vec::new();
    let stats = generate(spec, &mut out).unwrap_or_else(|e| panic!("{e}"));
    let text = std::str::from_utf8(&out).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.ends_with('\n'));
    let start = spec.start().unwrap_or_else(|e| panic!("{e}"));
    let mut ids = HashSet::new();
    let mut last: Option<Timestamp> = None;
    let mut lines = 0u64;
    let mut by_type = std::collections::BTreeMap::new();
    for line in text.lines() {
        let event = parse_event(line);
        event.validate().unwrap_or_else(|e| panic!("{e}: {line}"));
        // Byte-identical to serde_json's serialisation of the event.
        assert_eq!(serde_json::to_string(&event).unwrap_or_default(), line);
        let ts = event.ts();
        assert!(ts.0 >= start && ts.0 < spec.end, "{line}");
        if let Some(prev) = last {
            assert!(prev <= ts, "out of order: {line}");
        }
        last = Some(ts);
        let id = event
            .id()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default();
        assert_eq!(id, format!("s{}-{lines}", spec.seed));
        assert!(ids.insert(id));
        *by_type.entry(event.type_name()).or_insert(0u64) += 1;
        lines += 1;
    }
    assert_eq!(stats.events, lines);
    assert_eq!(stats.by_type, by_type);
}

#[test]
fn datasets_round_trip_are_ordered_and_uniquely_identified() {
    check_dataset(&spec(12, 9, 1, day(2026, 3, 2, 0), vec![]));
    check_dataset(&spec(7, 5, 2, day(2026, 1, 2, 17), all_faults()));
    // Odd end (not on an hour) and a dataset shorter than the fault period.
    let end = day(2026, 6, 30, 23) + chrono::TimeDelta::milliseconds(1234);
    check_dataset(&spec(3, 2, 3, end, vec![Fault::ErrorSpike]));
    check_dataset(&SimSpec {
        tasks_per_agent_day: 0.5,
        ..spec(1, 3, 4, day(2026, 2, 1, 0), vec![])
    });
}

#[test]
fn same_spec_same_bytes_other_seed_other_bytes() {
    let a = spec(20, 4, 99, day(2026, 3, 2, 0), vec![Fault::SuccessDrop]);
    let first = run(&a);
    assert_eq!(first, run(&a));
    assert_ne!(first, run(&SimSpec { seed: 100, ..a }));
}

#[test]
fn faults_leave_the_days_before_them_untouched() {
    let end = day(2026, 3, 10, 0);
    let healthy = run(&spec(10, 6, 5, end, vec![]));
    let faulty = run(&spec(10, 6, 5, end, all_faults()));
    // The first three days are identical up to the last event before the fault period.
    let cutoff = end - chrono::TimeDelta::days(3);
    let prefix = |data: &[u8]| -> Vec<String> {
        std::str::from_utf8(data)
            .unwrap_or_default()
            .lines()
            .map(parse_event)
            .take_while(|e| e.ts().0 < cutoff - chrono::TimeDelta::hours(1))
            .map(|e| serde_json::to_string(&e).unwrap_or_default())
            .collect()
    };
    let (h, f) = (prefix(&healthy), prefix(&faulty));
    assert!(!h.is_empty());
    assert_eq!(h, f);
}

#[test]
fn thousand_agents_one_day_volume() {
    // A Tuesday: 1000 agents × 12 tasks × 1.09 (weekday) ≈ 13k tasks, ≈ 5.8 events per task.
    let stats = {
        let mut sink = std::io::sink();
        generate(&spec(1000, 1, 8, day(2026, 3, 4, 0), vec![]), &mut sink)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let tasks = stats
        .by_type
        .get("task.completed")
        .copied()
        .unwrap_or_default();
    assert!((12_000..14_500).contains(&tasks), "{tasks}");
    assert_eq!(stats.by_type.get("cost.recorded").copied(), Some(3 * tasks));
    assert!((60_000..90_000).contains(&stats.events), "{stats:?}");
    assert_eq!(stats.by_type.get("budget.status").copied(), Some(1));
    assert_eq!(stats.by_type.get("benchmark.run").copied(), Some(2));
}

#[test]
fn invalid_specs_are_rejected_before_writing() {
    let ok = spec(5, 7, 1, day(2026, 3, 2, 0), vec![]);
    for bad in [
        SimSpec {
            agents: 0,
            ..ok.clone()
        },
        SimSpec {
            days: 0,
            ..ok.clone()
        },
        SimSpec {
            days: 100_000,
            ..ok.clone()
        },
        SimSpec {
            tasks_per_agent_day: f64::INFINITY,
            ..ok.clone()
        },
        SimSpec {
            faults: vec![Fault::QualityDecline(Some("legal".into()))],
            ..ok.clone()
        },
    ] {
        let mut out = Vec::new();
        let err = generate(&bad, &mut out)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.is_empty(), "{bad:?} accepted");
        assert!(out.is_empty());
    }
}

#[test]
fn fault_names_parse_and_list_the_valid_ones() {
    for name in Fault::NAMES {
        let f: Fault = name.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.to_string(), name);
    }
    let err = "nope"
        .parse::<Fault>()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("budget-overrun") && err.contains("quality-decline:DEPARTMENT"),
        "{err}"
    );
}

#[test]
fn docs_list_every_fault_and_their_samples_parse() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sim-generate.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for f in all_faults() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}", f.name())))
            .unwrap_or_else(|| panic!("docs/sim-generate.md has no fault row for {f}"));
        assert!(row.contains(&format!("`{}`", f.rule())), "{row}");
    }
    let generated = String::from_utf8(run(&spec(5, 2, 42, day(2026, 3, 2, 0), vec![])))
        .unwrap_or_else(|e| panic!("{e}"));
    let generated: HashSet<&str> = generated.lines().collect();
    let mut in_block = false;
    let mut samples = 0;
    for line in doc.lines() {
        match line {
            "```ndjson" => in_block = true,
            "```" => in_block = false,
            l if in_block => {
                parse_event(l)
                    .validate()
                    .unwrap_or_else(|e| panic!("{e}: {l}"));
                assert!(generated.contains(l), "the generator no longer writes {l}");
                samples += 1;
            }
            _ => {}
        }
    }
    assert!(samples > 0);
}
