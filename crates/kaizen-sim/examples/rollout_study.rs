//! The full-size simulation study of the rollout regression detector: prints four
//! [`StudyReport`](kaizen_sim::study::StudyReport)s as JSON (null before/after, null A/B,
//! −10 % quality before/after, −10 % quality A/B; 1000 runs each, default configuration).
//!
//! `cargo run --release -p kaizen-sim --example rollout_study`
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example, not product code

use std::time::Instant;

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{Design, Detection};
use kaizen_sim::study::{StudyConfig, run_study};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let si = KaizenConfig::default().self_improvement;
    let detection = Detection::from_config(&si.regression, &si.rollout.ab_test);
    let t0 = Instant::now();
    let mut reports = Vec::new();
    for (design, effect) in [
        (Design::BeforeAfter, 0.0),
        (Design::AbTest, 0.0),
        (Design::BeforeAfter, -0.10),
        (Design::AbTest, -0.10),
    ] {
        let cfg = StudyConfig {
            design,
            quality_effect: effect,
            ..StudyConfig::default()
        };
        reports.push(run_study(&cfg, &detection));
    }
    println!("{}", serde_json::to_string_pretty(&reports)?);
    eprintln!("wall time: {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}
