//! Properties: the snapshot does not depend on the order or batching of ingestion, rollups
//! equal a recomputation from the events, and a rebuild from raw events changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::signals::{SignalsConfig, SnapshotBuilder};
use kaizen_core::snapshot::OrgSignalSnapshot;
use kaizen_store::{IngestOptions, Store};
use proptest::prelude::*;

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// (agent, minute offset within 3 days, success, quality in halves or none, cost in quarters)
type Ev = (u8, u32, bool, Option<u8>, u8);

fn lines(events: &[Ev]) -> Vec<String> {
    events
        .iter()
        .enumerate()
        .flat_map(|(i, (agent, minute, success, quality, cost))| {
            let ts = (base() + Duration::minutes(i64::from(*minute))).to_rfc3339();
            let q = quality.map_or(String::new(), |q| format!(",\"quality_score\":{}", f64::from(q) / 2.0));
            [
                format!(
                    r#"{{"type":"task.completed","id":"t{i}","ts":"{ts}","agent_id":"a{agent}","department":"d{}","role":"r","task_id":"k{i}","success":{success}{q}}}"#,
                    agent % 3
                ),
                format!(
                    r#"{{"type":"cost.recorded","id":"c{i}","ts":"{ts}","agent_id":"a{agent}","category":"{}","cost_usd":{}}}"#,
                    ["productive", "coordination", "system"][usize::from(*cost) % 3],
                    f64::from(*cost) / 4.0
                ),
            ]
        })
        .collect()
}

fn ingest_and_snapshot(
    store: &mut Store,
    batches: &[Vec<String>],
    batch_size: usize,
) -> OrgSignalSnapshot {
    for batch in batches {
        let mut opts = IngestOptions::new(base());
        opts.batch_size = batch_size;
        let report = store
            .ingest(batch.join("\n").as_bytes(), opts)
            .expect("ingest");
        assert_eq!(report.rejected, 0);
    }
    snapshot(store)
}

fn snapshot(store: &Store) -> OrgSignalSnapshot {
    SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        base() + Duration::hours(5),
        base() + Duration::hours(60),
    )
}

fn arb_events() -> impl Strategy<Value = Vec<Ev>> {
    proptest::collection::vec(
        (
            0u8..6,
            0u32..(3 * 24 * 60),
            any::<bool>(),
            proptest::option::of(0u8..=20),
            0u8..40,
        ),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn order_and_batching_do_not_matter(events in arb_events(), seed in any::<u64>(), split in 1usize..5, batch in 1usize..7) {
        let in_order = lines(&events);
        // A deterministic shuffle from the seed.
        let mut shuffled = in_order.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let chunk = shuffled.len().div_ceil(split).max(1);
        let batches: Vec<Vec<String>> = shuffled.chunks(chunk).map(<[String]>::to_vec).collect();

        let dir = tempfile::tempdir().expect("temp dir");
        let mut a = Store::open(dir.path().join("a.db")).expect("open");
        let mut b = Store::open(dir.path().join("b.db")).expect("open");
        let sa = ingest_and_snapshot(&mut a, std::slice::from_ref(&in_order), 100_000);
        let sb = ingest_and_snapshot(&mut b, &batches, batch);
        prop_assert_eq!(&sa, &sb);

        // Every record sent twice (same ids): duplicates add nothing.
        let doubled: Vec<String> = in_order.iter().flat_map(|l| [l.clone(), l.clone()]).collect();
        let mut c = Store::open(dir.path().join("c.db")).expect("open");
        let sc = ingest_and_snapshot(&mut c, &[doubled], 100_000);
        prop_assert_eq!(&sa, &sc);

        // A rebuild from the raw events reproduces the snapshot.
        b.rebuild_rollups(false, None).expect("rebuild");
        prop_assert_eq!(&sa, &snapshot(&b));
    }

    #[test]
    fn rollups_equal_recomputation(events in arb_events()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path().join("k.db")).expect("open");
        let s = ingest_and_snapshot(&mut store, &[lines(&events)], 100_000);
        // Recompute from the events: hours [5, 60) after base.
        let in_window = |m: u32| (5 * 60..60 * 60).contains(&m);
        let mut per_agent: BTreeMap<u8, (f64, f64, f64, f64)> = BTreeMap::new();
        let mut spend = 0.0;
        for (agent, minute, success, quality, cost) in &events {
            if !in_window(*minute) { continue; }
            let e = per_agent.entry(*agent).or_default();
            e.0 += 1.0;
            e.1 += if *success { 1.0 } else { 0.0 };
            if let Some(q) = quality { e.2 += 1.0; e.3 += f64::from(*q) / 2.0; }
            spend += f64::from(*cost) / 4.0;
        }
        let success: Vec<f64> = per_agent.values().map(|e| e.1 / e.0).collect();
        let quality: Vec<f64> = per_agent.values().filter(|e| e.2 > 0.0).map(|e| e.3 / e.2).collect();
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        prop_assert_eq!(s.performance.agent_count, per_agent.len() as u64);
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        };
        prop_assert!(close(s.performance.avg_success_rate, mean(&success)));
        prop_assert!(close(s.performance.avg_quality_score, mean(&quality)));
        prop_assert!((s.budget.total_spend - spend).abs() < 1e-9);
    }
}
