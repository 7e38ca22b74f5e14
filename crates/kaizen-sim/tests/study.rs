//! The simulation study of the rollout regression detector (`kaizen_sim::study`): the data
//! model does what each departure claims, the study feeds the detector the hours
//! `kaizen_core::rollout::window` gives, and it is deterministic. Small run counts: the
//! heavy studies are benchmarks (`kaizen bench rollouts`), not tests; the few statistical
//! assertions here are loose sanity bounds, not the detector's targets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::ops::Range;

use kaizen_core::config::KaizenConfig;
use kaizen_core::rollout::check::{CheckDecision, Design, Detection, Metric};
use kaizen_core::rollout::window;
use kaizen_sim::study::matrix::{EffectScenario, MatrixSpec, run_matrix};
use kaizen_sim::study::model::{DailyCycle, Phase};
use kaizen_sim::study::{
    DataModel, Departure, Effect, Panel, StudyConfig, Sums, World, run_study, trace_run,
    treated_count,
};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn detection() -> Detection {
    let si = KaizenConfig::default().self_improvement;
    Detection::from_config(&si.regression, &si.rollout.ab_test)
}

/// One run's world and its panel over `hours` (every hour read), nobody treated.
fn simulate(model: &DataModel, agents: usize, hours: Range<i64>, seed: u64) -> (World, Panel) {
    simulate_with(model, agents, hours, seed, &[], &Effect::default())
}

fn simulate_with(
    model: &DataModel,
    agents: usize,
    hours: Range<i64>,
    seed: u64,
    treated: &[bool],
    effect: &Effect,
) -> (World, Panel) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let world = World::draw(model, agents, &mut rng);
    let mut panel = Panel::default();
    world.simulate(
        &mut rng,
        hours.clone(),
        &[hours],
        treated,
        effect,
        &mut panel,
    );
    (world, panel)
}

/// The sums over every agent of the hours `select` picks.
fn total(panel: &Panel, select: impl Fn(i64) -> bool) -> Sums {
    let mut t = Sums::default();
    for h in panel.hours().filter(|h| select(*h)) {
        for a in 0..panel.agents() {
            let s = panel.sums(a, &(h..h + 1));
            t.tasks += s.tasks;
            t.successes += s.successes;
            t.scored += s.scored;
            t.quality_sum += s.quality_sum;
            t.cost_usd += s.cost_usd;
            t.errors += s.errors;
        }
    }
    t
}

fn cost_per_task(s: &Sums) -> f64 {
    s.cost_usd / s.tasks
}

fn quality(s: &Sums) -> f64 {
    s.quality_sum / s.scored
}

#[test]
fn baseline_model_has_the_documented_means() {
    let (_, p) = simulate(&DataModel::default(), 50, 0..200, 3);
    let t = total(&p, |_| true);
    let per_agent_hour = t.tasks / (50.0 * 200.0);
    // 2 × E[LogNormal(0, 0.3)] ≈ 2.09 over 50 agents' activity draws.
    assert!((1.6..2.6).contains(&per_agent_hour), "{per_agent_hour}");
    assert!((t.scored / t.tasks - 0.8).abs() < 0.02);
    assert!((quality(&t) - 7.0).abs() < 0.4, "{}", quality(&t));
    assert!((t.successes / t.tasks - 0.9).abs() < 0.03);
    assert!((cost_per_task(&t) - 0.05).abs() < 0.01);
    let errors = t.errors / t.tasks;
    assert!((0.035..0.07).contains(&errors), "{errors}");
}

#[test]
fn daily_cycle_moves_hour_of_day_means_and_its_phase_is_random_per_run() {
    let fixed = DataModel {
        daily: Some(DailyCycle {
            phase: Phase::Fixed(0),
            ..Departure::Daily.model().daily.unwrap()
        }),
        ..DataModel::default()
    };
    for (model, lo, hi) in [(&fixed, 1.25, 1.5), (&DataModel::default(), 0.9, 1.1)] {
        let (w, p) = simulate(model, 40, 0..24 * 14, 5);
        // sin peaks at 06:00 (+15 %) and bottoms at 18:00 (−15 %): 1.15 / 0.85 ≈ 1.35.
        let peak = total(&p, |h| (5..=7).contains(&w.hour_of_day(h)));
        let trough = total(&p, |h| (17..=19).contains(&w.hour_of_day(h)));
        let cost = cost_per_task(&peak) / cost_per_task(&trough);
        let volume = peak.tasks / trough.tasks;
        assert!((lo..hi).contains(&cost), "cost ratio {cost}");
        assert!((lo..hi).contains(&volume), "volume ratio {volume}");
    }
    let phases: std::collections::BTreeSet<i64> = (0..12)
        .map(|seed| {
            let mut rng = Pcg64::seed_from_u64(seed);
            World::draw(&Departure::Daily.model(), 3, &mut rng).hour_of_day(0)
        })
        .collect();
    assert!(phases.len() >= 4, "{phases:?}");
    let mut rng = Pcg64::seed_from_u64(1);
    assert_eq!(
        World::draw(&Departure::DailyFixed.model(), 3, &mut rng).hour_of_day(0),
        9
    );
}

#[test]
fn weekends_are_easier_and_the_start_weekday_is_random_per_run() {
    let (w, p) = simulate(&Departure::Weekly.model(), 40, -24 * 14..0, 6);
    let weekend = total(&p, |h| w.weekday(h) >= 5);
    let weekday = total(&p, |h| w.weekday(h) < 5);
    // Per agent-hour: 0.6 of the weekdays' volume.
    let volume = (weekend.tasks / 4.0) / (weekday.tasks / 10.0);
    assert!((0.52..0.68).contains(&volume), "{volume}");
    let cost = cost_per_task(&weekend) / cost_per_task(&weekday);
    assert!((0.85..0.95).contains(&cost), "{cost}");
    let q = quality(&weekend) / quality(&weekday);
    assert!((1.02..1.07).contains(&q), "{q}");
    let starts: std::collections::BTreeSet<i64> = (0..12)
        .map(|seed| {
            let mut rng = Pcg64::seed_from_u64(seed);
            World::draw(&Departure::Weekly.model(), 3, &mut rng).weekday(0)
        })
        .collect();
    assert!(starts.len() >= 3, "{starts:?}");
}

#[test]
fn intermittent_agents_skip_about_half_of_their_days() {
    let empty_share = |model: &DataModel| {
        let (w, p) = simulate(model, 50, -24 * 14..24 * 2, 7);
        let (mut days, mut empty) = (0, 0);
        let first = w.day(p.hours().start) + 1; // whole days only
        let last = w.day(p.hours().end - 1) - 1;
        for a in 0..p.agents() {
            for d in first..=last {
                let hours: Vec<i64> = p.hours().filter(|h| w.day(*h) == d).collect();
                let s = p.sums(a, &(hours[0]..hours[hours.len() - 1] + 1));
                days += 1;
                if s.tasks == 0.0 {
                    empty += 1;
                }
            }
        }
        f64::from(empty) / f64::from(days)
    };
    let share = empty_share(&Departure::Intermittent.model());
    assert!((0.42..0.58).contains(&share), "{share}");
    assert!(empty_share(&DataModel::default()) < 0.01);
}

#[test]
fn heavy_tails_give_outlier_costs_failed_scores_and_spread_agents() {
    // One task per busy hour at most, so an hour's sums are one task's: without the per-task
    // log-normal spread a task costs its agent's cost, or 50× that.
    let model = DataModel {
        tasks_per_agent_hour: 0.02,
        cost_task_sigma: 0.0,
        quality_task_sd: 0.0,
        quality_agent_sd: 0.0,
        ..Departure::HeavyTails.model()
    };
    let (_, p) = simulate(&model, 1, 0..400_000, 8);
    let (mut single, mut outliers, mut scored, mut failed) = (0u32, 0u32, 0u32, 0u32);
    let mut base = f64::INFINITY;
    let mut costs = Vec::new();
    for h in p.hours() {
        let s = p.sums(0, &(h..h + 1));
        if s.tasks == 1.0 {
            single += 1;
            costs.push(s.cost_usd);
            base = base.min(s.cost_usd);
            if s.scored == 1.0 {
                scored += 1;
                if s.quality_sum == 0.0 {
                    failed += 1;
                }
            }
        }
    }
    for c in &costs {
        if *c > 10.0 * base {
            outliers += 1;
        }
    }
    let outlier_share = f64::from(outliers) / f64::from(single);
    let failed_share = f64::from(failed) / f64::from(scored);
    assert!(single > 5000, "{single}");
    assert!((0.006..0.015).contains(&outlier_share), "{outlier_share}");
    assert!((0.04..0.06).contains(&failed_share), "{failed_share}");

    // Per-agent cost: log-scale spread ≈ 1 (against 0.3 in the baseline model).
    let spread = |model: &DataModel| {
        let (_, p) = simulate(model, 300, 0..100, 9);
        let logs: Vec<f64> = (0..300)
            .map(|a| {
                let s = p.sums(a, &(0..100));
                (s.cost_usd / s.tasks).ln()
            })
            .collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt()
    };
    let heavy = spread(&Departure::HeavyTails.model());
    let light = spread(&DataModel::default());
    assert!((0.85..1.3).contains(&heavy), "{heavy}");
    assert!((0.2..0.4).contains(&light), "{light}");
}

/// Lag-1 autocorrelation of the agents' hourly task counts, pooled.
fn lag1(p: &Panel) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for a in 0..p.agents() {
        let xs: Vec<f64> = p.hours().map(|h| p.sums(a, &(h..h + 1)).tasks).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        for w in xs.windows(2) {
            num += (w[0] - mean) * (w[1] - mean);
        }
        den += xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    }
    num / den
}

#[test]
fn autocorrelation_carries_an_agents_state_from_hour_to_hour() {
    // Many tasks per hour, so the hourly count shows the latent state more than Poisson noise.
    let busy = |m: DataModel| DataModel {
        tasks_per_agent_hour: 50.0,
        ..m
    };
    let (_, p) = simulate(&busy(Departure::Autocorrelation.model()), 6, 0..300, 10);
    let r = lag1(&p);
    assert!(r > 0.45, "{r}");
    let (_, p) = simulate(&busy(DataModel::default()), 6, 0..300, 10);
    let r = lag1(&p);
    assert!(r.abs() < 0.1, "{r}");
}

#[test]
fn drift_is_linear_in_time_and_random_drift_varies_per_run() {
    let (_, p) = simulate(&Departure::DriftFixed.model(), 40, -24 * 10..24 * 2, 11);
    let late = total(&p, |h| (24..48).contains(&h)); // ≈ day 1.5: cost × 1.03
    let early = total(&p, |h| (-240..-216).contains(&h)); // ≈ day −9.5: cost × 0.81
    let cost = cost_per_task(&late) / cost_per_task(&early);
    assert!((1.18..1.36).contains(&cost), "{cost}");
    let q = quality(&late) / quality(&early);
    assert!((0.92..0.97).contains(&q), "{q}");

    let slopes: Vec<f64> = (0..20)
        .map(|seed| {
            let mut rng = Pcg64::seed_from_u64(seed);
            let d = World::draw(&Departure::DriftRandom.model(), 2, &mut rng).drift();
            assert!(d.cost_per_day.abs() <= 0.02 && d.quality_per_day.abs() <= 0.005);
            assert!(d.success_per_day.abs() <= 0.005);
            d.cost_per_day
        })
        .collect();
    assert!(slopes.iter().any(|s| *s > 0.005) && slopes.iter().any(|s| *s < -0.005));
}

#[test]
fn low_volume_has_a_quarter_task_per_agent_hour() {
    let (_, p) = simulate(&Departure::LowVolume.model(), 100, 0..200, 12);
    let per_agent_hour = total(&p, |_| true).tasks / (100.0 * 200.0);
    assert!((0.2..0.32).contains(&per_agent_hour), "{per_agent_hour}");
    let m = Departure::All.model();
    assert_eq!(m.tasks_per_agent_hour, 0.25);
    assert!(m.autocorrelation.is_some() && m.daily.is_some() && m.weekly.is_some());
    assert!(m.random_drift.is_some() && m.work_day_p == 0.5 && m.cost_outlier_p > 0.0);
    assert_eq!(
        "heavy_tails".parse::<Departure>().ok(),
        Some(Departure::HeavyTails)
    );
    assert_eq!(Departure::DailyFixed.as_str(), "daily_fixed");
}

#[test]
fn the_effect_changes_treated_agents_after_the_start_only() {
    let treated: Vec<bool> = (0..60).map(|a| a % 2 == 0).collect();
    let effect = Effect {
        quality: -0.10,
        success: 0.0,
        cost: 0.15,
        errors: 3.0,
        primary: Metric::Quality,
    };
    let (_, p) = simulate_with(&DataModel::default(), 60, -100..100, 13, &treated, &effect);
    let group = |t: bool, r: Range<i64>| {
        let mut s = Sums::default();
        for a in (0..60).filter(|a| treated[*a] == t) {
            let x = p.sums(a, &r);
            s.tasks += x.tasks;
            s.scored += x.scored;
            s.quality_sum += x.quality_sum;
            s.cost_usd += x.cost_usd;
            s.errors += x.errors;
        }
        s
    };
    // Each group against its own past: the treatment moved, the control did not.
    let (t0, t1) = (group(true, -100..0), group(true, 0..100));
    let (c0, c1) = (group(false, -100..0), group(false, 0..100));
    let q = quality(&t1) / quality(&t0);
    assert!((0.87..0.93).contains(&q), "{q}");
    assert!((quality(&c1) / quality(&c0) - 1.0).abs() < 0.02);
    let c = cost_per_task(&t1) / cost_per_task(&t0);
    assert!((1.1..1.2).contains(&c), "{c}");
    let e = (t1.errors / t1.tasks) / (t0.errors / t0.tasks);
    assert!((2.5..3.5).contains(&e), "{e}");
    let e = (c1.errors / c1.tasks) / (c0.errors / c0.tasks);
    assert!((0.8..1.2).contains(&e), "{e}");
}

#[test]
fn only_the_hours_read_are_simulated() {
    let mut rng = Pcg64::seed_from_u64(14);
    let world = World::draw(&DataModel::default(), 5, &mut rng);
    let mut panel = Panel::default();
    world.simulate(
        &mut rng,
        -50..10,
        &[-50..-40, 0..10],
        &[],
        &Effect::default(),
        &mut panel,
    );
    for a in 0..5 {
        assert_eq!(panel.sums(a, &(-40..0)).tasks, 0.0);
        assert!(panel.sums(a, &(-50..-40)).tasks > 0.0);
        assert!(panel.sums(a, &(0..10)).tasks > 0.0);
    }
}

/// A pure, strong daily cycle with little noise: a window misplaced by a few hours shows.
fn pure_daily() -> DataModel {
    DataModel {
        quality_agent_sd: 0.0,
        quality_task_sd: 0.05,
        cost_agent_sigma: 0.0,
        cost_task_sigma: 0.0,
        activity_sigma: 0.0,
        tasks_per_agent_hour: 20.0,
        daily: Some(DailyCycle {
            activity: 0.3,
            cost: 0.3,
            quality: 0.2,
            success: 0.0,
            phase: Phase::Fixed(0),
        }),
        ..DataModel::default()
    }
}

fn pooled_quality(sides: &[kaizen_core::rollout::check::AgentSums]) -> f64 {
    let (y, x) = sides
        .iter()
        .fold((0.0, 0.0), |(y, x), a| (y + a.quality_sum, x + a.scored));
    y / x
}

#[test]
fn before_after_checks_read_the_time_matched_windows() {
    let cfg = StudyConfig {
        runs: 1,
        agents: 12,
        model: pure_daily(),
        ..StudyConfig::default()
    };
    let trace = trace_run(&cfg, &detection(), 0);
    assert!(!trace.is_empty());
    for (i, t) in trace.iter().enumerate() {
        let end = 4 * (i as i64 + 1);
        assert_eq!(t.hours as i64, end);
        let w = window::before_after(0, 0, end);
        let get = |name: &str| {
            t.windows
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| r.clone())
        };
        assert_eq!(get("treatment"), Some(w.after.clone()));
        assert_eq!(get("control"), Some(w.week1.clone()));
        assert_eq!(get("prior"), Some(w.week2.clone()));
        assert_eq!(get("recent"), Some(w.recent.clone()));
        assert_eq!(get("recent_week1"), Some(w.recent_week1.clone()));
        assert_eq!(get("recent_week2"), Some(w.recent_week2.clone()));
        // The same hours of the day: the daily cycle cancels out.
        let (c, tr) = (pooled_quality(&t.control), pooled_quality(&t.treatment));
        assert!((tr / c - 1.0).abs() < 0.01, "check {}: {tr} vs {c}", t.seq);
        assert!((pooled_quality(&t.prior) / c - 1.0).abs() < 0.01);
    }
    // The first check reads 00:00–04:00, quality × ~1.14; the 4 hours before the start
    // (20:00–24:00) × ~0.86: a baseline not matched on the hour would see a 30 % change.
    let (w, p) = simulate(&pure_daily(), 12, -4..4, 1);
    assert_eq!(w.hour_of_day(0), 0);
    let before = total(&p, |h| h < 0);
    let after = total(&p, |h| h >= 0);
    assert!(quality(&after) / quality(&before) > 1.2);
    let first = &trace[0];
    assert!(pooled_quality(&first.treatment) / quality(&before) > 1.2);
}

#[test]
fn concurrent_checks_read_both_groups_over_the_same_hours_and_omit_idle_agents() {
    for design in [Design::Canary, Design::AbTest] {
        let cfg = StudyConfig {
            runs: 1,
            agents: 20,
            design,
            model: Departure::Intermittent.model(),
            ..StudyConfig::default()
        };
        let trace = trace_run(&cfg, &detection(), 2);
        let first = &trace[0];
        let w = window::concurrent(0, 0, 4, 48);
        let names: Vec<(&str, Range<i64>)> = first.windows.clone();
        assert!(names.contains(&("treatment", w.after.clone())));
        assert!(names.contains(&("control", w.after.clone())));
        assert!(names.contains(&("control_before", w.before.clone())));
        assert!(names.contains(&("treatment_before", w.before.clone())));
        assert!(first.prior.is_empty());
        // Idle agents (about half: intermittent) are left out, the others have tasks.
        let present = first.control.len() + first.treatment.len();
        assert!(present < 20, "{design:?}: {present}");
        assert!(
            first
                .control
                .iter()
                .chain(&first.treatment)
                .all(|a| a.tasks > 0.0)
        );
        // The treatment side never holds more agents than the design treats.
        assert!(first.treatment.len() <= treated_count(design, 20));
    }
}

#[test]
fn same_seed_same_report_whatever_the_threads() {
    for design in [Design::BeforeAfter, Design::Canary, Design::AbTest] {
        let cfg = StudyConfig {
            runs: 6,
            agents: 12,
            design,
            model: Departure::All.model(),
            effect: EffectScenario::QualityMinus10.effect(),
            seed: 7,
            threads: 1,
            ..StudyConfig::default()
        };
        let a = run_study(&cfg, &detection());
        let mut b = run_study(
            &StudyConfig {
                threads: 2,
                ..cfg.clone()
            },
            &detection(),
        );
        b.config.threads = 1;
        assert_eq!(a, b, "{design:?}");
        assert_eq!(a.runs, 6);
        assert_eq!(
            a.rolled_back + a.applied + a.inconclusive + a.hold,
            a.runs,
            "{design:?}"
        );
    }
    // A different seed draws different data.
    let cfg = StudyConfig {
        runs: 1,
        agents: 12,
        ..StudyConfig::default()
    };
    let a = trace_run(&cfg, &detection(), 0);
    let b = trace_run(&StudyConfig { seed: 2, ..cfg }, &detection(), 0);
    assert_ne!(a[0].treatment, b[0].treatment);
}

#[test]
fn matrix_has_a_row_per_combination_with_rates_and_intervals() {
    let spec = MatrixSpec {
        runs: 3,
        sizes: vec![12, 50],
        designs: vec![Design::BeforeAfter, Design::Canary],
        departures: vec![Departure::None, Departure::LowVolume],
        effects: vec![EffectScenario::Null, EffectScenario::QualityPlus30],
        ..MatrixSpec::default()
    };
    let mut seen = 0;
    let rows = run_matrix(&spec, &detection(), |done, total, _| {
        seen = done;
        assert_eq!(total, 12);
    });
    // 2 designs × 2 departures × (2 sizes for null + 1 small size for quality+30).
    assert_eq!(rows.len(), 12);
    assert_eq!(seen, 12);
    assert!(
        rows.iter()
            .all(|r| r.effect != EffectScenario::QualityPlus30 || r.agents <= 20)
    );
    for r in &rows {
        let p = &r.report;
        assert_eq!(p.runs, 3);
        assert_eq!(p.config.agents, r.agents);
        assert!(
            p.rollback_rate_ci95.0 <= p.rollback_rate && p.rollback_rate <= p.rollback_rate_ci95.1
        );
        assert!(p.applied_rate_ci95.0 <= p.applied_rate && p.applied_rate <= p.applied_rate_ci95.1);
    }
    assert_eq!(
        "cost+15".parse::<EffectScenario>().ok(),
        Some(EffectScenario::CostPlus15)
    );
    assert_eq!(EffectScenario::Errors3x.effect().errors, 3.0);
}

/// Loose sanity bounds at a few runs (the detector's targets are benchmarks): no effect is
/// rarely rolled back, a 30 % quality collapse nearly always, in the baseline model.
#[test]
fn null_is_rarely_and_a_collapse_nearly_always_rolled_back() {
    let d = detection();
    for design in [Design::BeforeAfter, Design::AbTest] {
        let base = StudyConfig {
            runs: 30,
            agents: 20,
            design,
            ..StudyConfig::default()
        };
        let null = run_study(&base, &d);
        assert!(
            null.rollback_rate <= 0.25,
            "{design:?}: {}",
            null.rollback_rate
        );
        let collapse = run_study(
            &StudyConfig {
                effect: Effect {
                    quality: -0.30,
                    ..Effect::default()
                },
                ..base
            },
            &d,
        );
        assert!(
            collapse.rollback_rate >= 0.7,
            "{design:?}: {}",
            collapse.rollback_rate
        );
        assert!(collapse.median_detection_hours.is_some_and(|h| h <= 48.0));
    }
}

/// A final check of a run that is never rolled back decides something.
#[test]
fn every_run_ends_in_a_verdict() {
    let cfg = StudyConfig {
        runs: 1,
        agents: 12,
        ..StudyConfig::default()
    };
    let trace = trace_run(&cfg, &detection(), 3);
    let last = trace.last().unwrap();
    if !matches!(last.decision, CheckDecision::RollBack { .. }) {
        assert_eq!(last.hours, 48);
        assert!(!matches!(last.decision, CheckDecision::Continue));
    }
}
