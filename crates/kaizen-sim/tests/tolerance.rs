//! The statistical layer is a non-inferiority test: with a true worsening exactly at its
//! margin (`regression.tolerance × quality_drop_threshold`), the least favourable null, it
//! rolls back at most about α of the time however often it looks.
//!
//! A test can afford few runs: the bound here is loose (a sanity check that the margin is
//! honoured at all); the ignored test is the full-size study (`cargo test --release -p
//! kaizen-sim --test tolerance -- --ignored`), a benchmark rather than a CI test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{Design, Detection, Metric};
use kaizen_sim::study::{Effect, StudyConfig, StudyReport, run_study};

/// The default detector with the threshold layer switched off: the statistical layer alone.
fn statistics_only() -> Detection {
    let si = KaizenConfig::default().self_improvement;
    Detection {
        consecutive_breaches: u32::MAX,
        catastrophic_factor: f64::MAX,
        ..Detection::from_config(&si.regression, &si.rollout.ab_test)
    }
}

fn at_the_margin(design: Design, runs: u32, d: &Detection) -> StudyReport {
    let margin = d.tolerance * d.thresholds[&Metric::Quality];
    assert!(margin > 0.0, "the default tolerance is positive");
    let r = run_study(
        &StudyConfig {
            runs,
            design,
            effect: Effect {
                quality: -margin,
                ..Effect::default()
            },
            ..StudyConfig::default()
        },
        d,
    );
    println!(
        "{design:?}, quality −{:.1} %: rolled back {:.3} (statistics {}, threshold {})",
        margin * 100.0,
        r.rollback_rate,
        r.by_statistics,
        r.by_threshold
    );
    r
}

#[test]
fn a_worsening_at_the_margin_is_rarely_rolled_back() {
    let d = statistics_only();
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = at_the_margin(design, 40, &d);
        assert_eq!(r.by_threshold, 0);
        assert!(r.rollback_rate <= 0.2, "{design:?}: {:.3}", r.rollback_rate);
    }
}

#[test]
#[ignore = "a benchmark-sized study (600 runs per design); run in release"]
fn a_worsening_at_the_margin_rolls_back_at_most_alpha() {
    let d = statistics_only();
    let runs = 600;
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = at_the_margin(design, runs, &d);
        let bound = d.alpha + 3.0 * (d.alpha * (1.0 - d.alpha) / f64::from(runs)).sqrt();
        assert!(
            r.rollback_rate <= bound,
            "{design:?}: {:.3} > {bound:.3}",
            r.rollback_rate
        );
    }
}
