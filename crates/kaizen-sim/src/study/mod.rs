//! Monte-Carlo study of the rollout regression detector ([`kaizen_core::rollout::check`]).
//!
//! [`run_study`] simulates many independent rollouts of a change to an organisation of agents,
//! feeds each one to the detector exactly as the rollout engine (`kaizen-service`, `rollout.rs`)
//! does — the hours of every check from [`kaizen_core::rollout::window`] — and counts what the
//! detector decided: rolled back (by layer, after how many hours), applied (improved or not),
//! inconclusive or held for a human, with Wilson 95 % intervals of the rates.
//! [`matrix`] runs it for every design × departure × org size × effect scenario
//! (`kaizen bench rollouts`).
//!
//! # Data model
//!
//! Everything is drawn from one `Pcg64` per run, seeded with `seed + run index`, so a study is
//! deterministic (also when its runs are spread over threads). The data are per-agent
//! **hourly** sums ([`model::Panel`]), so any window a check reads is a sum over hours. The
//! baseline model ([`DataModel::default`]): per run, each agent `i` gets latent traits
//!
//! | trait | distribution |
//! |---|---|
//! | quality mean `q_i` | `N(7.0, 0.6²)` clipped to `[1, 9.5]` |
//! | success probability `s_i` | `N(0.9, 0.04²)` clipped to `[0.5, 0.99]` |
//! | cost per task `c_i` (USD) | log-normal with mean 0.05 and σ = 0.3 |
//! | runtime errors per task `e_i` | `0.05 × LogNormal(0, 0.3)` |
//! | activity `a_i` | `LogNormal(0, 0.3)` |
//!
//! Hour by hour, agent `i` completes `Poisson(2 × a_i)` tasks. Each task is scored with
//! probability 0.8, with quality `clamp(N(q_i, 1.5²), 0, 10)`; succeeds with probability
//! `s_i`; costs `c_i × LogNormal(−0.125, 0.5)` (a multiplier of mean 1); and has
//! `Poisson(e_i)` runtime errors.
//!
//! Departures ([`Departure`], each a field of [`DataModel`], combinable):
//!
//! | departure | what changes |
//! |---|---|
//! | `heavy_tails` | per-agent cost σ = 1, per-task σ = 1.5, 1 % of tasks cost 50×, 5 % of scored tasks score 0 |
//! | `autocorrelation` | a per-agent AR(1) state `z` over hours (ρ = 0.8, stationary sd 0.3): activity × `exp(z − 0.045)`, cost × `exp(z / 2)`, quality × `exp(−z / 6)`, success × `exp(−z / 10)` |
//! | `daily` | × `1 + A sin(2π · hour of day / 24)`: A = 15 % on activity and cost, 5 % on quality and success; the start's hour of day random per run |
//! | `daily_fixed` | the same, the rollout always starting at 09:00 |
//! | `weekly` | Saturdays and Sundays: activity −40 %, cost −10 %, quality +5 %, success +3 %; the start's weekday random per run |
//! | `drift_fixed` | × `1 + slope × days since the start`: cost +2 %/day, quality −0.5 %/day |
//! | `drift_random` | per run, slopes uniform in ±2 %/day (cost) and ±0.5 %/day (quality, success) |
//! | `intermittent` | each agent works on a given day (midnight to midnight) with p = 0.5, else no tasks |
//! | `low_volume` | 0.25 tasks per agent-hour |
//! | `all` | all of the above (the daily cycle's phase random) |
//!
//! The multipliers of quality and success apply to `q_i` and `s_i` (the success probability
//! clipped to `[0, 1]`); the errors are not affected by the departures.
//!
//! The change's effect ([`Effect`]) applies to the treated agents from the start on: relative
//! changes of quality, success and cost, and a multiplier of the error rate; its `primary`
//! metric is the check's primary metric.
//!
//! # The rollout, as the engine runs it
//!
//! The start is on the hour (hour 0). Checks `k = 1..=ceil(window / interval)` read the hours
//! up to `min(interval × k, window)`, the detector state threaded from check to check,
//! stopping at the first roll-back; the last check is final.
//!
//! * Before/after (every agent treated): the windows of
//!   [`window::before_after`]`(0, 0, end)`: the
//!   treatment is the hours since the start, the control the same hours one week earlier, the
//!   prior two weeks earlier; the pre-rollout shift reads the 24 h before the start and the
//!   same hours one and two weeks earlier. The simulated timeline is
//!   `before_after_history_hours(window) + 24` hours before the start and the window after it.
//! * Canary (20 % treated) and A/B (50 %): exactly `round(fraction × agents)` agents (at least
//!   one, and one fewer than all) of a random permutation are treated; the windows of
//!   [`window::concurrent`]`(0, 0, end,
//!   baseline_hours)`: both groups over the hours since the start, and each group over the
//!   `baseline_hours` before it. The sample-ratio check gets the assigned sizes.
//!
//! An agent with no task in a window is left out of that window's sums, as the rollups would
//! return it.

pub mod matrix;
pub mod model;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use kaizen_core::rollout::check::{
    AgentSums, CheckDecision, CheckInput, Design, Detection, DetectorState, Layer, Metric,
    PreShift, SampleRatio, check,
};
use kaizen_core::rollout::window;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use model::{DataModel, Departure, Effect, Panel, Sums, World};

/// The 97.5 % quantile of the standard normal distribution.
const Z_975: f64 = 1.959_963_984_540_054;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyConfig {
    /// Independent rollouts to simulate.
    pub runs: u32,
    /// Agents in the organisation.
    pub agents: u32,
    /// Observation window, hours.
    pub window_hours: u32,
    /// Hours between checks.
    pub interval_hours: u32,
    /// Canary/A/B: the pre-rollout hours each group is compared against.
    pub baseline_hours: u32,
    /// The comparison's design.
    pub design: Design,
    /// The data model.
    pub model: DataModel,
    /// The change's true effect on the treated agents.
    pub effect: Effect,
    /// Seed; run `k` uses `seed + k`.
    pub seed: u64,
    /// Threads to spread the runs over (0: the machine's available parallelism). The report
    /// does not depend on it.
    #[serde(skip)]
    pub threads: usize,
}

impl Default for StudyConfig {
    /// 1000 before/after runs of 20 agents under the baseline model, a 48 h window checked
    /// every 4 h (48 h pre-rollout baseline for canary/A/B), no effect, seed 1.
    fn default() -> Self {
        Self {
            runs: 1000,
            agents: 20,
            window_hours: 48,
            interval_hours: 4,
            baseline_hours: 48,
            design: Design::BeforeAfter,
            model: DataModel::default(),
            effect: Effect::default(),
            seed: 1,
            threads: 0,
        }
    }
}

/// The share of the agents a design treats: all (before/after), 20 % (canary), 50 % (A/B).
pub fn treatment_fraction(design: Design) -> f64 {
    match design {
        Design::BeforeAfter => 1.0,
        Design::Canary => 0.2,
        Design::AbTest => 0.5,
    }
}

/// The treated agents of `agents` under `design`: all for before/after, else
/// `round(fraction × agents)` clamped to `1..=agents − 1`.
pub fn treated_count(design: Design, agents: usize) -> usize {
    if design == Design::BeforeAfter || agents < 2 {
        return agents;
    }
    ((agents as f64 * treatment_fraction(design)).round() as usize).clamp(1, agents - 1)
}

/// The wire name of a design (`before_after`, `canary`, `ab_test`).
pub fn design_name(design: Design) -> &'static str {
    match design {
        Design::BeforeAfter => "before_after",
        Design::Canary => "canary",
        Design::AbTest => "ab_test",
    }
}

/// The design named `name` (its wire name).
pub fn parse_design(name: &str) -> Option<Design> {
    [Design::BeforeAfter, Design::Canary, Design::AbTest]
        .into_iter()
        .find(|d| design_name(*d) == name)
}

/// What a study found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyReport {
    /// The study's settings.
    pub config: StudyConfig,
    /// The detector's settings.
    pub detection: Detection,
    /// Runs simulated.
    pub runs: u32,
    /// Runs the detector rolled back.
    pub rolled_back: u32,
    /// `rolled_back / runs`.
    pub rollback_rate: f64,
    /// Wilson 95 % interval of `rollback_rate`.
    pub rollback_rate_ci95: (f64, f64),
    /// Roll-backs by the threshold circuit breaker (layer 1).
    pub by_threshold: u32,
    /// Roll-backs by the statistical layer (layer 2).
    pub by_statistics: u32,
    /// Roll-backs by the A/B comparison ([`Layer::Comparison`], no longer produced: always 0).
    pub by_comparison: u32,
    /// Per metric, the threshold roll-backs it took part in.
    pub threshold_metrics: BTreeMap<Metric, u32>,
    /// Per metric, the statistical roll-backs it took part in.
    pub statistics_metrics: BTreeMap<Metric, u32>,
    /// Runs applied at the final check.
    pub applied: u32,
    /// Of which marked improved (the primary metric won).
    pub applied_improved: u32,
    /// `applied / runs`.
    pub applied_rate: f64,
    /// Wilson 95 % interval of `applied_rate`.
    pub applied_rate_ci95: (f64, f64),
    /// Runs inconclusive at the final check.
    pub inconclusive: u32,
    /// `inconclusive / runs`.
    pub inconclusive_rate: f64,
    /// Runs held for a human at the final check.
    pub hold: u32,
    /// `hold / runs`.
    pub hold_rate: f64,
    /// Runs where a sample-ratio mismatch was flagged at some check.
    pub sample_ratio_mismatch: u32,
    /// Median hours from the start to the roll-back (nearest rank), over the runs rolled back.
    pub median_detection_hours: Option<f64>,
    /// 90th percentile of the same (nearest rank).
    pub p90_detection_hours: Option<f64>,
}

/// What the detector did in one run.
#[derive(Debug, Clone)]
enum Verdict {
    RolledBack {
        layer: Layer,
        metrics: Vec<Metric>,
        hours: f64,
    },
    Applied {
        improved: bool,
    },
    Inconclusive,
    Hold,
}

/// One run's outcome.
#[derive(Debug, Clone)]
struct RunOutcome {
    verdict: Verdict,
    sample_ratio_mismatch: bool,
}

/// One check of a traced run ([`trace_run`]): the hours each side read (relative to the
/// start), the sums fed to the detector and its decision.
#[derive(Debug, Clone)]
pub struct TracedCheck {
    /// The check's number, from 1.
    pub seq: u32,
    /// Hours since the start the check read up to.
    pub hours: u32,
    /// Each input's name (`treatment`, `control`, `prior`, `recent`, `recent_week1`,
    /// `recent_week2`, `control_before`, `treatment_before`) and its hours.
    pub windows: Vec<(&'static str, Range<i64>)>,
    /// The control side as fed to the detector.
    pub control: Vec<AgentSums>,
    /// The treatment side.
    pub treatment: Vec<AgentSums>,
    /// Before/after: the prior (two weeks earlier).
    pub prior: Vec<AgentSums>,
    /// The decision.
    pub decision: CheckDecision,
}

/// A thread's reusable buffers.
#[derive(Default)]
struct Workspace {
    ids: Vec<String>,
    panel: Panel,
    sides: [Vec<AgentSums>; 8],
}

/// Fills `out` with the sums over `hours` of the agents `include` selects that had a task.
fn side(
    panel: &Panel,
    ids: &[String],
    hours: &Range<i64>,
    include: impl Fn(usize) -> bool,
    out: &mut Vec<AgentSums>,
) {
    out.clear();
    for (a, id) in ids.iter().enumerate().take(panel.agents()) {
        if !include(a) {
            continue;
        }
        let s = panel.sums(a, hours);
        if s.tasks > 0.0 {
            out.push(s.to_agent(id));
        }
    }
}

fn simulate_run(
    cfg: &StudyConfig,
    detection: &Detection,
    run: u32,
    ws: &mut Workspace,
    mut trace: Option<&mut Vec<TracedCheck>>,
) -> RunOutcome {
    let mut rng = Pcg64::seed_from_u64(cfg.seed.wrapping_add(u64::from(run)));
    let n = cfg.agents as usize;
    while ws.ids.len() < n {
        let id = format!("agent-{}", ws.ids.len());
        ws.ids.push(id);
    }
    let world = World::draw(&cfg.model, n, &mut rng);
    let concurrent = cfg.design != Design::BeforeAfter;
    let k = treated_count(cfg.design, n);
    let mut treated = vec![!concurrent; n];
    if concurrent {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        for &i in order.iter().take(k) {
            treated[i] = true;
        }
    }

    let w = i64::from(cfg.window_hours.max(1));
    let interval = i64::from(cfg.interval_hours.max(1));
    let total_checks = ((w + interval - 1) / interval).max(1);
    let (timeline, read): (Range<i64>, Vec<Range<i64>>) = if concurrent {
        let cw = window::concurrent(0, 0, w, i64::from(cfg.baseline_hours));
        (cw.before.start..w, vec![cw.before, cw.after])
    } else {
        let bw = window::before_after(0, 0, w);
        let history = window::before_after_history_hours(w) + window::PRE_SHIFT_HOURS;
        (
            -history..w,
            vec![
                bw.after,
                bw.week1,
                bw.week2,
                bw.recent,
                bw.recent_week1,
                bw.recent_week2,
            ],
        )
    };
    world.simulate(
        &mut rng,
        timeline,
        &read,
        &treated,
        &cfg.effect,
        &mut ws.panel,
    );

    let Workspace { ids, panel, sides } = ws;
    let [
        s_treatment,
        s_control,
        s_prior,
        s_recent,
        s_recent_w1,
        s_recent_w2,
        s_control_before,
        s_treatment_before,
    ] = sides;
    let is_t = |a: usize| treated.get(a).copied().unwrap_or(false);
    // The windows that do not grow with the checks.
    let fixed_windows: Vec<(&'static str, Range<i64>)> = if concurrent {
        let cw = window::concurrent(0, 0, w, i64::from(cfg.baseline_hours));
        side(panel, ids, &cw.before, |a| !is_t(a), s_control_before);
        side(panel, ids, &cw.before, is_t, s_treatment_before);
        for s in [
            &mut *s_prior,
            &mut *s_recent,
            &mut *s_recent_w1,
            &mut *s_recent_w2,
        ] {
            s.clear();
        }
        vec![
            ("control_before", cw.before.clone()),
            ("treatment_before", cw.before),
        ]
    } else {
        let bw = window::before_after(0, 0, w);
        side(panel, ids, &bw.recent, |_| true, s_recent);
        side(panel, ids, &bw.recent_week1, |_| true, s_recent_w1);
        side(panel, ids, &bw.recent_week2, |_| true, s_recent_w2);
        s_control_before.clear();
        s_treatment_before.clear();
        vec![
            ("recent", bw.recent),
            ("recent_week1", bw.recent_week1),
            ("recent_week2", bw.recent_week2),
        ]
    };
    let sample_ratio = concurrent.then_some(SampleRatio {
        control_agents: n - k,
        treatment_agents: k,
    });

    let mut state = DetectorState::default();
    let mut verdict: Option<Verdict> = None;
    for seq in 1..=total_checks {
        let end = (seq * interval).min(w);
        let mut windows: Vec<(&'static str, Range<i64>)> = Vec::new();
        if concurrent {
            let cw = window::concurrent(0, 0, end, i64::from(cfg.baseline_hours));
            side(panel, ids, &cw.after, |a| !is_t(a), s_control);
            side(panel, ids, &cw.after, is_t, s_treatment);
            if trace.is_some() {
                windows.push(("treatment", cw.after.clone()));
                windows.push(("control", cw.after));
            }
        } else {
            let bw = window::before_after(0, 0, end);
            side(panel, ids, &bw.after, |_| true, s_treatment);
            side(panel, ids, &bw.week1, |_| true, s_control);
            side(panel, ids, &bw.week2, |_| true, s_prior);
            if trace.is_some() {
                windows.push(("treatment", bw.after));
                windows.push(("control", bw.week1));
                windows.push(("prior", bw.week2));
            }
        }
        let input = CheckInput {
            design: cfg.design,
            control: s_control,
            treatment: s_treatment,
            control_before: s_control_before,
            treatment_before: s_treatment_before,
            prior: s_prior,
            pre_shift: (!concurrent).then_some(PreShift {
                recent: s_recent,
                week1: s_recent_w1,
                week2: s_recent_w2,
            }),
            primary: cfg.effect.primary,
            final_check: seq == total_checks,
            sample_ratio,
        };
        let (outcome, next) = check(&input, detection, &state);
        state = next;
        if let Some(t) = trace.as_deref_mut() {
            windows.extend(fixed_windows.iter().cloned());
            t.push(TracedCheck {
                seq: seq as u32,
                hours: end as u32,
                windows,
                control: s_control.clone(),
                treatment: s_treatment.clone(),
                prior: s_prior.clone(),
                decision: outcome.decision.clone(),
            });
        }
        verdict = match outcome.decision {
            CheckDecision::Continue => None,
            CheckDecision::RollBack { layer, metrics, .. } => Some(Verdict::RolledBack {
                layer,
                metrics,
                hours: end as f64,
            }),
            CheckDecision::Apply { improved, .. } => Some(Verdict::Applied { improved }),
            CheckDecision::Inconclusive { .. } => Some(Verdict::Inconclusive),
            CheckDecision::Hold { .. } => Some(Verdict::Hold),
        };
        if verdict.is_some() {
            break;
        }
    }
    RunOutcome {
        // The final check always decides; `Inconclusive` only guards against a detector that
        // would not.
        verdict: verdict.unwrap_or(Verdict::Inconclusive),
        sample_ratio_mismatch: state.sample_ratio_mismatch,
    }
}

/// Simulates run `run` of `cfg` (as [`run_study`] does) and returns every check it made, with
/// the hours and sums fed to the detector.
pub fn trace_run(cfg: &StudyConfig, detection: &Detection, run: u32) -> Vec<TracedCheck> {
    let mut out = Vec::new();
    simulate_run(
        cfg,
        detection,
        run,
        &mut Workspace::default(),
        Some(&mut out),
    );
    out
}

/// The nearest-rank `q` quantile (0 < q ≤ 1) of `xs`, `None` when empty.
fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied()
}

/// Wilson score interval (95 %) of `k` successes in `n` trials; `(0, 1)` for `n = 0`.
pub fn wilson_ci95(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = f64::from(n);
    let p = f64::from(k) / n;
    let z2 = Z_975 * Z_975;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z_975 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At k = 0 and k = n the bound is exactly 0 or 1 (the arithmetic can miss it by an ulp).
    let lo = if k == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if f64::from(k) >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

fn rate(k: u32, n: u32) -> f64 {
    if n == 0 {
        0.0
    } else {
        f64::from(k) / f64::from(n)
    }
}

/// The threads to use for `runs` runs.
fn thread_count(requested: usize, runs: u32) -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = if requested == 0 { available } else { requested };
    t.clamp(1, (runs as usize).max(1))
}

/// Runs every run of `cfg` over threads; the outcomes in run order.
fn simulate_runs(cfg: &StudyConfig, detection: &Detection) -> Vec<RunOutcome> {
    let threads = thread_count(cfg.threads, cfg.runs);
    if threads <= 1 {
        let mut ws = Workspace::default();
        return (0..cfg.runs)
            .map(|run| simulate_run(cfg, detection, run, &mut ws, None))
            .collect();
    }
    let next = AtomicU32::new(0);
    let done: Mutex<Vec<(u32, RunOutcome)>> = Mutex::new(Vec::with_capacity(cfg.runs as usize));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut ws = Workspace::default();
                let mut mine = Vec::new();
                loop {
                    let run = next.fetch_add(1, Ordering::Relaxed);
                    if run >= cfg.runs {
                        break;
                    }
                    mine.push((run, simulate_run(cfg, detection, run, &mut ws, None)));
                }
                if let Ok(mut d) = done.lock() {
                    d.extend(mine);
                }
            });
        }
    });
    let mut all = done.into_inner().unwrap_or_else(|e| e.into_inner());
    all.sort_by_key(|(run, _)| *run);
    all.into_iter().map(|(_, o)| o).collect()
}

/// Runs the study: `cfg.runs` simulated rollouts judged by the detector configured by
/// `detection`, spread over `cfg.threads` threads.
pub fn run_study(cfg: &StudyConfig, detection: &Detection) -> StudyReport {
    let outcomes = simulate_runs(cfg, detection);
    let runs = outcomes.len() as u32;
    let mut r = StudyReport {
        config: cfg.clone(),
        detection: detection.clone(),
        runs,
        rolled_back: 0,
        rollback_rate: 0.0,
        rollback_rate_ci95: (0.0, 1.0),
        by_threshold: 0,
        by_statistics: 0,
        by_comparison: 0,
        threshold_metrics: BTreeMap::new(),
        statistics_metrics: BTreeMap::new(),
        applied: 0,
        applied_improved: 0,
        applied_rate: 0.0,
        applied_rate_ci95: (0.0, 1.0),
        inconclusive: 0,
        inconclusive_rate: 0.0,
        hold: 0,
        hold_rate: 0.0,
        sample_ratio_mismatch: 0,
        median_detection_hours: None,
        p90_detection_hours: None,
    };
    let mut detection_hours = Vec::new();
    for o in outcomes {
        if o.sample_ratio_mismatch {
            r.sample_ratio_mismatch += 1;
        }
        match o.verdict {
            Verdict::RolledBack {
                layer,
                metrics,
                hours,
            } => {
                r.rolled_back += 1;
                detection_hours.push(hours);
                let per_metric = match layer {
                    Layer::Threshold => {
                        r.by_threshold += 1;
                        Some(&mut r.threshold_metrics)
                    }
                    Layer::Statistical => {
                        r.by_statistics += 1;
                        Some(&mut r.statistics_metrics)
                    }
                    Layer::Comparison => {
                        r.by_comparison += 1;
                        None
                    }
                };
                if let Some(map) = per_metric {
                    for m in metrics {
                        *map.entry(m).or_insert(0) += 1;
                    }
                }
            }
            Verdict::Applied { improved } => {
                r.applied += 1;
                if improved {
                    r.applied_improved += 1;
                }
            }
            Verdict::Inconclusive => r.inconclusive += 1,
            Verdict::Hold => r.hold += 1,
        }
    }
    r.rollback_rate = rate(r.rolled_back, runs);
    r.rollback_rate_ci95 = wilson_ci95(r.rolled_back, runs);
    r.applied_rate = rate(r.applied, runs);
    r.applied_rate_ci95 = wilson_ci95(r.applied, runs);
    r.inconclusive_rate = rate(r.inconclusive, runs);
    r.hold_rate = rate(r.hold, runs);
    r.median_detection_hours = quantile(&detection_hours, 0.5);
    r.p90_detection_hours = quantile(&detection_hours, 0.9);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        let (lo, hi) = wilson_ci95(50, 1000);
        assert!(
            (lo - 0.0381).abs() < 1e-3 && (hi - 0.0653).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson_ci95(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson_ci95(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        let (lo, hi) = wilson_ci95(10, 10);
        assert!((lo - 0.7225).abs() < 1e-3, "{lo}");
        assert_eq!(hi, 1.0);
    }

    #[test]
    fn quantile_is_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[8.0, 4.0, 12.0, 4.0], 0.5), Some(4.0));
        assert_eq!(quantile(&[8.0, 4.0, 12.0], 0.5), Some(8.0));
        assert_eq!(quantile(&[8.0, 4.0, 12.0], 0.9), Some(12.0));
    }

    #[test]
    fn treated_counts_are_exact() {
        assert_eq!(treated_count(Design::BeforeAfter, 12), 12);
        assert_eq!(treated_count(Design::Canary, 12), 2);
        assert_eq!(treated_count(Design::Canary, 200), 40);
        assert_eq!(treated_count(Design::AbTest, 20), 10);
        assert_eq!(treated_count(Design::Canary, 3), 1);
        assert_eq!(treated_count(Design::AbTest, 2), 1);
        for d in [Design::BeforeAfter, Design::Canary, Design::AbTest] {
            assert_eq!(parse_design(design_name(d)), Some(d));
        }
        assert_eq!(parse_design("beforeafter"), None);
    }
}
