//! The simulation study of the rollout regression detector (`kaizen_sim::study`), at reduced
//! run counts; `cargo run --release -p kaizen-sim --example rollout_study` runs the full size.
//!
//! Requirement: with no true effect, a 48 h rollout checked every 4 h falsely rolls back at
//! most `statistical_significance_level` of the time (and the naive repeated Welch test does
//! worse); with a true 10 % quality drop, 20 agents and 48 h of realistic volume, it rolls back
//! in at least 80 % of runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{Design, Detection};
use kaizen_sim::study::{StudyConfig, StudyReport, run_study};

fn detection() -> Detection {
    let si = KaizenConfig::default().self_improvement;
    Detection::from_config(&si.regression, &si.rollout.ab_test)
}

/// The default detector with the threshold circuit breaker (layer 1) switched off, leaving the
/// statistical layer alone. The thresholds stay as configured because the sequential test's
/// mixing scale is derived from them.
fn statistics_only() -> Detection {
    Detection {
        consecutive_breaches: u32::MAX,
        catastrophic_factor: f64::MAX,
        ..detection()
    }
}

fn study(design: Design, effect: f64, runs: u32) -> StudyConfig {
    StudyConfig {
        runs,
        design,
        quality_effect: effect,
        ..StudyConfig::default()
    }
}

/// `alpha` plus three binomial standard errors at `runs` runs.
fn null_bound(alpha: f64, runs: u32) -> f64 {
    alpha + 3.0 * (alpha * (1.0 - alpha) / f64::from(runs)).sqrt()
}

fn summary(name: &str, r: &StudyReport) {
    println!(
        "{name}: rolled back {}/{} = {:.3} (95 % CI {:.3}–{:.3}); threshold {} {:?}, \
         statistics {} {:?}, comparison {}; applied {}, inconclusive {}, sample-ratio mismatch {}; \
         naive Welch {:.3}; detection median {:?} h, p90 {:?} h",
        r.rolled_back,
        r.runs,
        r.rollback_rate,
        r.rollback_rate_ci95.0,
        r.rollback_rate_ci95.1,
        r.by_threshold,
        r.threshold_metrics,
        r.by_statistics,
        r.statistics_metrics,
        r.by_comparison,
        r.applied,
        r.inconclusive,
        r.sample_ratio_mismatch,
        r.naive_welch_rate,
        r.median_detection_hours,
        r.p90_detection_hours,
    );
}

/// The null requirement, for the detector as configured, in both designs: at most α plus three
/// binomial standard errors. The naive repeated Welch test (four metrics, twelve looks, no
/// correction) rolls back more often than the detector in both, and more often than α in the
/// A/B design (in before/after it compares the same agents as if they were independent, which
/// makes it conservative).
#[test]
fn null_rollouts_roll_back_at_most_alpha() {
    let d = detection();
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = run_study(&study(design, 0.0, 1000), &d);
        summary(&format!("null {design:?}"), &r);
        assert!(
            r.rollback_rate <= null_bound(d.alpha, r.runs),
            "{design:?}: false roll-back rate {:.3} > {:.3}",
            r.rollback_rate,
            null_bound(d.alpha, r.runs)
        );
        assert!(
            r.naive_welch_rate > r.rollback_rate,
            "{design:?}: naive {:.3} vs detector {:.3}",
            r.naive_welch_rate,
            r.rollback_rate
        );
        if design == Design::AbTest {
            assert!(
                r.naive_welch_rate > d.alpha,
                "naive {:.3}",
                r.naive_welch_rate
            );
        }
    }
}

/// The statistical layer on its own keeps its level too (the threshold layer is not what
/// keeps the false-rollback rate down).
#[test]
fn null_statistical_layer_rolls_back_at_most_alpha() {
    let d = statistics_only();
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = run_study(&study(design, 0.0, 1000), &d);
        summary(&format!("null {design:?}, statistical layer only"), &r);
        assert_eq!(r.by_threshold, 0);
        assert!(
            r.rollback_rate <= null_bound(d.alpha, r.runs),
            "{design:?}: false roll-back rate {:.3} > {:.3}",
            r.rollback_rate,
            null_bound(d.alpha, r.runs)
        );
    }
}

/// Power: a true 10 % quality drop, 20 agents, 48 h, rolled back in at least 80 % of runs.
#[test]
fn ten_percent_quality_drop_rolls_back_in_80_percent() {
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = run_study(&study(design, -0.10, 1000), &detection());
        summary(&format!("-10 % {design:?}"), &r);
        assert!(
            r.rollback_rate >= 0.8,
            "{design:?}: power {:.3}",
            r.rollback_rate
        );
        assert!(r.median_detection_hours.is_some_and(|h| h <= 48.0));
    }
}

#[test]
fn same_seed_same_report() {
    for design in [Design::BeforeAfter, Design::AbTest] {
        let cfg = StudyConfig {
            seed: 7,
            ..study(design, -0.05, 25)
        };
        let a = run_study(&cfg, &detection());
        let b = run_study(&cfg, &detection());
        assert_eq!(a, b);
        let c = run_study(&StudyConfig { seed: 8, ..cfg }, &detection());
        assert_eq!(c.runs, a.runs);
    }
}
