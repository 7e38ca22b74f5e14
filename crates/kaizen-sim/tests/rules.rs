//! The healthy baseline trips no built-in rule over the last 7 days; each fault trips its rule
//! and only its rule, and the affected metric declines from the first to the second half.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use common::{day, run, spec, window_stats};
use kaizen_sim::Fault;

/// Window ends: Monday 00:00 (the fault days are Fri–Sun, the quietest possible), Thursday
/// 00:00 (all weekdays) and a Wednesday afternoon.
fn ends() -> Vec<DateTime<Utc>> {
    vec![day(2026, 3, 2, 0), day(2026, 3, 5, 0), day(2026, 3, 11, 15)]
}

fn all_faults() -> Vec<Fault> {
    Fault::NAMES
        .iter()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn baseline_trips_no_rule() {
    for (agents, seeds) in [(5u32, 0..6u64), (50, 0..3), (300, 0..1)] {
        for seed in seeds {
            for end in ends() {
                let data = run(&spec(agents, 10, seed, end, vec![]));
                let s = window_stats(&data, end, 7);
                assert!(
                    s.tripped().is_empty(),
                    "agents {agents} seed {seed} end {end}: {:?}\n{s:#?}",
                    s.tripped()
                );
                // Sanity of the baseline levels.
                let q = s.avg_quality.unwrap_or_default();
                assert!((6.6..7.8).contains(&q), "quality {q}");
                let r = s.avg_success.unwrap_or_default();
                assert!((0.78..0.92).contains(&r), "success {r}");
                assert!(
                    (0.15..0.25).contains(&s.coordination_ratio),
                    "{}",
                    s.coordination_ratio
                );
                assert!(s.days_until_exhausted.is_some_and(|d| d > 30.0), "{s:#?}");
            }
        }
    }
}

#[test]
fn baseline_thousand_agents_trips_no_rule() {
    let end = day(2026, 3, 2, 0);
    let data = run(&spec(1000, 7, 7, end, vec![]));
    let s = window_stats(&data, end, 7);
    assert!(s.tripped().is_empty(), "{:?}\n{s:#?}", s.tripped());
    assert_eq!(s.agent_count, 1000);
    assert!(s.findings <= 7, "{}", s.findings);
}

#[test]
fn each_fault_trips_only_its_rule() {
    for fault in all_faults() {
        for (agents, seed) in [(5u32, 11u64), (5, 12), (40, 13)] {
            for end in ends() {
                let data = run(&spec(agents, 10, seed, end, vec![fault.clone()]));
                let s = window_stats(&data, end, 7);
                let expected: BTreeSet<&str> = [fault.rule()].into();
                assert_eq!(
                    s.tripped(),
                    expected,
                    "fault {fault} agents {agents} seed {seed} end {end}\n{s:#?}"
                );
            }
        }
    }
}

#[test]
fn faults_show_a_declining_trend() {
    let end = day(2026, 3, 5, 0);
    let stats = |f: Fault| window_stats(&run(&spec(40, 10, 3, end, vec![f])), end, 7);
    let worse_lower = |(a, b): (Option<f64>, Option<f64>)| {
        assert!(
            b.unwrap_or(f64::MAX) < a.unwrap_or(f64::MIN),
            "{a:?} -> {b:?}"
        );
    };
    worse_lower(stats(Fault::QualityDecline(None)).quality_halves);
    worse_lower(stats(Fault::SuccessDrop).success_halves);
    let s = stats(Fault::CoordinationOverhead);
    let (a, b) = s.overhead_halves;
    assert!(
        b.unwrap_or_default() > a.unwrap_or(f64::MAX),
        "{a:?} -> {b:?}"
    );
    let s = stats(Fault::ErrorSpike);
    assert!(
        s.findings_halves.1 > s.findings_halves.0,
        "{:?}",
        s.findings_halves
    );
}

#[test]
fn department_quality_decline_hits_only_that_department() {
    let end = day(2026, 3, 2, 0);
    let data = run(&spec(
        40,
        10,
        5,
        end,
        vec![Fault::QualityDecline(Some("support".to_owned()))],
    ));
    let s = window_stats(&data, end, 7);
    for (dept, q) in &s.dept_quality {
        let q = q.unwrap_or_default();
        if dept == "support" {
            assert!(q < 5.0, "{dept}: {q}");
        } else {
            assert!(q > 6.5, "{dept}: {q}");
        }
    }
    let (a, b) = s.quality_halves;
    assert!(b < a, "{a:?} -> {b:?}");
}

#[test]
fn faults_combine() {
    let end = day(2026, 3, 2, 0);
    let data = run(&spec(20, 8, 9, end, all_faults()));
    let s = window_stats(&data, end, 7);
    let expected: BTreeSet<&str> = all_faults().iter().map(Fault::rule).collect();
    assert_eq!(s.tripped(), expected, "{s:#?}");
}

#[test]
fn faults_do_not_touch_data_before_the_fault_days() {
    // Faults act on the last 3 days only; a window ending 3 days before the end is healthy.
    let end = day(2026, 3, 12, 0);
    let early = day(2026, 3, 9, 0);
    let data = run(&spec(20, 14, 4, end, all_faults()));
    let s = window_stats(&data, early, 7);
    assert!(s.tripped().is_empty(), "{:?}\n{s:#?}", s.tripped());
}

/// A wider sweep (≈ 4,000 datasets): small orgs, many seeds, five window alignments. Slow in a
/// debug build; run with `cargo test --release -p kaizen-sim -- --ignored`.
#[test]
#[ignore]
fn sweep_small_orgs() {
    let ends = [
        day(2026, 3, 1, 0),
        day(2026, 3, 2, 0),
        day(2026, 3, 3, 0),
        day(2026, 3, 5, 0),
        day(2026, 3, 11, 15),
    ];
    let mut cases: Vec<Vec<Fault>> = vec![vec![]];
    cases.extend(all_faults().into_iter().map(|f| vec![f]));
    let mut failures = Vec::new();
    for faults in &cases {
        let expected: BTreeSet<&str> = faults.iter().map(Fault::rule).collect();
        for agents in [5u32, 6, 9, 25] {
            for seed in 0..20u64 {
                for end in ends {
                    let s = window_stats(&run(&spec(agents, 8, seed, end, faults.clone())), end, 7);
                    if s.tripped() != expected {
                        failures.push(format!(
                            "{faults:?} agents {agents} seed {seed} end {end}: {:?}",
                            s.tripped()
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
