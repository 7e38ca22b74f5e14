//! The statistical layer is a non-inferiority test: with a true worsening exactly at its
//! margin (`regression.tolerance × quality_drop_threshold`), the least favourable null, it
//! rolls back at most about α of the time however often it looks; with larger effects it
//! keeps its power.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{Design, Detection, Metric};
use kaizen_sim::study::{StudyConfig, run_study};

/// The default detector with the threshold layer switched off: the statistical layer alone.
fn statistics_only() -> Detection {
    let si = KaizenConfig::default().self_improvement;
    Detection {
        consecutive_breaches: u32::MAX,
        catastrophic_factor: f64::MAX,
        ..Detection::from_config(&si.regression, &si.rollout.ab_test)
    }
}

#[test]
fn a_worsening_at_the_margin_rolls_back_at_most_alpha() {
    let d = statistics_only();
    let margin = d.tolerance * d.thresholds[&Metric::Quality];
    assert!(margin > 0.0, "the default tolerance is positive");
    let runs = 600;
    for design in [Design::BeforeAfter, Design::AbTest] {
        let r = run_study(
            &StudyConfig {
                runs,
                design,
                quality_effect: -margin,
                ..StudyConfig::default()
            },
            &d,
        );
        let bound = d.alpha + 3.0 * (d.alpha * (1.0 - d.alpha) / f64::from(runs)).sqrt();
        println!(
            "{design:?}, quality −{:.1} %: rolled back {:.3} (statistics {})",
            margin * 100.0,
            r.rollback_rate,
            r.by_statistics
        );
        assert!(
            r.rollback_rate <= bound,
            "{design:?}: {:.3} > {bound:.3}",
            r.rollback_rate
        );
    }
}
