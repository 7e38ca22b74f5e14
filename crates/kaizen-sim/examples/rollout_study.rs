//! The simulation study of the rollout regression detector with the default configuration.
//!
//! Without arguments: four [`StudyReport`](kaizen_sim::study::StudyReport)s as JSON (null
//! before/after, null A/B, −10 % quality before/after, −10 % quality A/B; 1000 runs each, 20
//! agents, the baseline data model). With `--matrix [RUNS]`: the full default matrix of
//! `kaizen bench rollouts` (design × departure × size × effect, `RUNS` per row, default 500), a
//! line per row on stderr and the rows as JSON on stdout.
//!
//! `cargo run --release -p kaizen-sim --example rollout_study [-- --matrix 500]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example, not product code

use std::time::Instant;

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{Design, Detection};
use kaizen_sim::study::matrix::{MatrixSpec, run_matrix};
use kaizen_sim::study::{Effect, StudyConfig, run_study};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let si = KaizenConfig::default().self_improvement;
    let detection = Detection::from_config(&si.regression, &si.rollout.ab_test);
    let t0 = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--matrix") {
        let runs = match args.get(1) {
            Some(r) => r.parse()?,
            None => 500,
        };
        let spec = MatrixSpec {
            runs,
            ..MatrixSpec::default()
        };
        let rows = run_matrix(&spec, &detection, |done, total, row| {
            let r = &row.report;
            eprintln!(
                "[{done}/{total}] {:.0} s  {} {} {} {}: rolled back {:.1} % ({:.1}–{:.1}), applied {:.1} %, hold {:.1} %, inconclusive {:.1} %, median detection {:?} h",
                t0.elapsed().as_secs_f64(),
                row.design,
                row.departure,
                row.agents,
                row.effect,
                r.rollback_rate * 100.0,
                r.rollback_rate_ci95.0 * 100.0,
                r.rollback_rate_ci95.1 * 100.0,
                r.applied_rate * 100.0,
                r.hold_rate * 100.0,
                r.inconclusive_rate * 100.0,
                r.median_detection_hours,
            );
        });
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut reports = Vec::new();
        for (design, quality) in [
            (Design::BeforeAfter, 0.0),
            (Design::AbTest, 0.0),
            (Design::BeforeAfter, -0.10),
            (Design::AbTest, -0.10),
        ] {
            let cfg = StudyConfig {
                design,
                effect: Effect {
                    quality,
                    ..Effect::default()
                },
                ..StudyConfig::default()
            };
            reports.push(run_study(&cfg, &detection));
        }
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    eprintln!("wall time: {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}
