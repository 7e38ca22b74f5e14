//! One encoder for the simulators' events: `kaizen sim generate` (kaizen-sim) and the lab's
//! organisation write byte-identical lines for the same event, and every event type they write
//! parses back with the store's parser to the same event and is accepted by a real store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use kaizen_core::event::{EVENT_TYPES, Event as CoreEvent, Name};
use kaizen_lab::emit::{Emitter, Event};
use kaizen_sim::{Fault, SimSpec, generate, wire};
use kaizen_store::{IngestOptions, Store};

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad date"))
}

/// A small dataset with every fault, so every record kind and optional field shows up.
fn dataset(seed: u64) -> Vec<u8> {
    let faults: Vec<Fault> = Fault::NAMES
        .iter()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let spec = SimSpec {
        faults,
        ..SimSpec::new(8, 4, seed, end())
    };
    let mut out = Vec::new();
    generate(&spec, &mut out).unwrap();
    out
}

fn s(n: &Name) -> &str {
    n.as_str()
}

/// The lab's description of `e` (its id and `ts` are set by the lab's emitter).
fn lab_event(e: &CoreEvent) -> Event<'_> {
    match e {
        CoreEvent::TaskCompleted(t) => Event::Task {
            agent_id: s(&t.agent_id),
            department: s(&t.department),
            role: s(&t.role),
            task_id: s(&t.task_id),
            success: t.success,
            quality_score: t.quality_score.map(|v| v.get()),
            collaboration_score: t.collaboration_score.map(|v| v.get()),
            duration_seconds: t.duration_seconds.unwrap().get(),
            turns: t.turns.unwrap(),
            multi_agent: t.multi_agent,
        },
        CoreEvent::CostRecorded(c) => Event::Cost {
            agent_id: s(&c.agent_id),
            task_id: s(c.task_id.as_ref().unwrap()),
            category: c.category,
            cost_usd: c.cost_usd.get(),
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            model: s(c.model.as_ref().unwrap()),
            provider: s(c.provider.as_ref().unwrap()),
        },
        CoreEvent::BudgetStatus(b) => Event::Budget {
            monthly_limit_usd: b.monthly_limit_usd.get(),
            remaining_usd: b.remaining_usd.get(),
        },
        CoreEvent::CoordinationMeasured(c) => Event::Coordination {
            task_id: s(&c.task_id),
            department: s(c.department.as_ref().unwrap()),
            turns_sas: c.turns_sas.unwrap().get(),
            turns_mas: c.turns_mas.unwrap().get(),
            success: c.success.unwrap(),
            error_rate_sas: c.error_rate_sas.unwrap().get(),
            error_rate_mas: c.error_rate_mas.unwrap().get(),
            messages: c.messages.unwrap(),
            reasoning_turns: c.reasoning_turns.unwrap(),
            redundancy: c.redundancy.unwrap().get(),
            straggler_gap_ratio: c.straggler_gap_ratio.unwrap().get(),
        },
        CoreEvent::ScalingDecision(d) => Event::ScalingDecision {
            decision_id: s(&d.decision_id),
            action: d.action,
            source_strategy: s(&d.source_strategy),
            signal: s(&d.signal),
            rationale: d.rationale.as_deref(),
        },
        CoreEvent::ScalingOutcome(o) => Event::ScalingOutcome {
            decision_id: s(&o.decision_id),
            outcome: o.outcome,
        },
        CoreEvent::ErrorFinding(f) => Event::ErrorFinding {
            category: s(&f.category),
            severity: f.severity,
            count: f.count,
            agent_id: f.agent_id.as_ref().map(s),
            task_id: f.task_id.as_ref().map(s),
        },
        CoreEvent::EvolutionOutcome(v) => Event::Evolution {
            agent_id: s(&v.agent_id),
            axis: s(&v.axis),
            applied: v.applied,
            proposed_at: v.proposed_at.0,
        },
        CoreEvent::TelemetryEvent(t) => Event::Telemetry {
            event_type: s(&t.event_type),
            error: t.error,
            agent_id: s(t.agent_id.as_ref().unwrap()),
        },
        CoreEvent::BenchmarkRun(b) => Event::Benchmark {
            suite: s(&b.suite),
            total_score: b.total_score.get(),
        },
    }
}

#[test]
fn every_event_type_parses_back_to_the_same_event_and_re_encodes_to_the_same_line() {
    let bytes = dataset(11);
    let text = std::str::from_utf8(&bytes).unwrap();
    let mut types = BTreeSet::new();
    for line in text.lines() {
        let event = kaizen_store::parse::parse_event(line)
            .unwrap_or_else(|e| panic!("the store's parser rejects {line}: {e:?}"));
        types.insert(event.type_name());
        let again = wire::line(&event).unwrap();
        assert_eq!(
            std::str::from_utf8(&again).unwrap(),
            format!("{line}\n"),
            "the encoder is not the inverse of the parser"
        );
    }
    assert_eq!(types, EVENT_TYPES.into_iter().collect::<BTreeSet<_>>());

    // And a real store accepts all of them.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
    let report = store.ingest(&bytes[..], IngestOptions::new(end())).unwrap();
    assert_eq!(report.rejected, 0, "{:?}", report.rejections.first());
    assert_eq!(report.accepted, text.lines().count() as u64);
    assert_eq!(report.accepted_by_type.len(), EVENT_TYPES.len());
}

#[test]
fn the_sim_and_the_lab_write_byte_identical_lines_for_the_same_event() {
    let seed = 5;
    let bytes = dataset(seed);
    let text = std::str::from_utf8(&bytes).unwrap();
    // The generator's ids are `s{seed}-{n}`; the lab's `{prefix}-{n}`.
    let mut lab = Emitter::new(format!("s{seed}"), true);
    let events: Vec<CoreEvent> = text
        .lines()
        .map(|l| kaizen_store::parse::parse_event(l).unwrap())
        .collect();
    let mut types = BTreeSet::new();
    for e in &events {
        types.insert(e.type_name());
        lab.push(e.ts().0, &lab_event(e));
    }
    assert_eq!(types.len(), EVENT_TYPES.len());
    let lab_bytes = lab.take().unwrap();
    let lab_text = std::str::from_utf8(&lab_bytes).unwrap();
    assert_eq!(lab_text.lines().count(), text.lines().count());
    for (sim, lab) in text.lines().zip(lab_text.lines()) {
        assert_eq!(sim, lab);
    }
    assert_eq!(lab_bytes, bytes);
}

#[test]
fn the_encoder_refuses_an_event_the_store_would_reject_and_writes_nothing() {
    let line = r#"{"type":"budget.status","id":"b-1","ts":"2026-03-01T00:00:00Z","monthly_limit_usd":100,"remaining_usd":50}"#;
    let CoreEvent::BudgetStatus(mut b) = kaizen_store::parse::parse_event(line).unwrap() else {
        panic!("not a budget.status");
    };
    b.remaining_usd = kaizen_core::event::NonNegative::new(150.0).unwrap();
    let mut buf = b"before\n".to_vec();
    let err = wire::write_line(&mut buf, &CoreEvent::BudgetStatus(b))
        .unwrap_err()
        .to_string();
    assert!(err.contains("budget.status"), "{err}");
    assert!(err.contains("remaining_usd"), "{err}");
    assert_eq!(buf, b"before\n");
}
