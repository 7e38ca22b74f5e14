//! Monte-Carlo study of the rollout regression detector ([`kaizen_core::rollout::check`]).
//!
//! [`run_study`] simulates many independent rollouts of a change to a team of agents, feeds each
//! one to the detector exactly as the rollout engine (`kaizen-service`, `rollout.rs`) does, and
//! counts what the detector decided: how often it rolled back (a false alarm when the change
//! has no effect, the power when it has one), through which layer, and after how many hours.
//! The same runs also drive a *naive* detector — Welch's t-test repeated at every check without
//! any correction — to show what the sequential design protects against.
//!
//! # Data model
//!
//! Everything is drawn from one `Pcg64` per run, seeded with `seed + run index`, so a study is
//! deterministic. Per run, each agent `i` gets latent traits:
//!
//! | trait | distribution |
//! |---|---|
//! | quality mean `q_i` | `N(7.0, 0.6²)` clipped to `[1, 9.5]` |
//! | success probability `s_i` | `N(0.9, 0.04²)` clipped to `[0.5, 0.99]` |
//! | cost per task `c_i` (USD) | log-normal with mean 0.05 and σ = 0.3 |
//! | error findings per task `e_i` | `0.05 × LogNormal(0, 0.3)` |
//! | activity `a_i` | `LogNormal(0, 0.3)` |
//!
//! Hour by hour, agent `i` completes `Poisson(tasks_per_agent_hour × a_i)` tasks. Each task:
//! is scored with probability 0.8, with quality `clamp(N(μ, 1.5²), 0, 10)` where `μ = q_i`, or
//! `q_i × (1 + quality_effect)` for a treated agent after the start; succeeds with probability
//! `s_i`; costs `c_i × LogNormal(−0.125, 0.5)` (a multiplier of mean 1); and has
//! `Poisson(e_i)` error findings. Only quality is affected by the change.
//!
//! Each run covers `window_hours` before the start (the baseline, never affected) and
//! `window_hours` after it. Sums accumulate hour by hour, so the sums at a check are exact
//! prefix sums of the hours since the start, as the rollups would answer them.
//!
//! # The rollout, as the engine runs it
//!
//! Checks happen every `interval_hours` (`ceil(window / interval)` checks, the last one final),
//! the detector state threaded from check to check, stopping at the first roll-back.
//!
//! * Before/after: every agent is treated; control is the agents' sums over the baseline
//!   window (fixed), treatment their sums from the start to the check.
//! * A/B (and canary): the first `round(N / 2)` agents of a random permutation are treated; both
//!   groups are compared over the same hours since the start. The sample-ratio check expects
//!   the treatment's share of the baseline window's tasks when there were at least 100, else
//!   its share of the agents, as the engine does.
//!
//! # The naive detector
//!
//! At every check, Welch's t-test on the agents' per-agent ratios of each of the four metrics
//! the detector watches (treatment side against control side); it rolls back at the first check
//! where, for any metric, the two-sided p-value is below the significance level and the
//! treatment is worse — repeated significance testing over several metrics with no correction,
//! which is what the original implementation's statistical layer would have done had it been
//! wired.

use std::collections::BTreeMap;

use kaizen_core::rollout::check::{
    AgentSums, CheckDecision, CheckInput, Design, Detection, DetectorState, Layer, Metric,
    SampleRatio, check,
};
use kaizen_core::rollout::stats::welch_t_test;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Poisson, StandardNormal};
use rand_pcg::Pcg64;
use serde::Serialize;

/// Mean of the agents' latent quality.
const QUALITY_MEAN: f64 = 7.0;
/// Between-agent standard deviation of the latent quality.
const QUALITY_AGENT_SD: f64 = 0.6;
/// Per-task standard deviation of the quality score around the agent's mean.
const QUALITY_TASK_SD: f64 = 1.5;
/// Probability that a task carries a quality score.
const SCORED_P: f64 = 0.8;
/// Mean success probability.
const SUCCESS_MEAN: f64 = 0.9;
/// Between-agent standard deviation of the success probability.
const SUCCESS_AGENT_SD: f64 = 0.04;
/// Mean cost per task, USD.
const COST_MEAN: f64 = 0.05;
/// Log-scale standard deviation of the agents' cost per task.
const COST_AGENT_SIGMA: f64 = 0.3;
/// Log-scale standard deviation of a task's cost around its agent's.
const COST_TASK_SIGMA: f64 = 0.5;
/// Median error findings per task.
const ERROR_RATE: f64 = 0.05;
/// Log-scale standard deviation of the agents' error rate.
const ERROR_AGENT_SIGMA: f64 = 0.3;
/// Log-scale standard deviation of the agents' activity.
const ACTIVITY_SIGMA: f64 = 0.3;
/// Share of the agents treated in an A/B test.
const TREATMENT_FRACTION: f64 = 0.5;
/// The 97.5 % quantile of the standard normal distribution.
const Z_975: f64 = 1.959_963_984_540_054;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyConfig {
    /// Independent rollouts to simulate.
    pub runs: u32,
    /// Agents in the team.
    pub agents: u32,
    /// Observation window, hours (also the length of the before/after baseline).
    pub window_hours: u32,
    /// Hours between checks.
    pub interval_hours: u32,
    /// The comparison's design: [`Design::BeforeAfter`] or [`Design::AbTest`] (a canary is
    /// simulated like an A/B test).
    pub design: Design,
    /// Relative change of the treated agents' mean quality, e.g. `-0.10`; `0` is the null.
    pub quality_effect: f64,
    /// Mean tasks per agent per hour (before the agent's activity multiplier).
    pub tasks_per_agent_hour: f64,
    /// Seed; run `k` uses `seed + k`.
    pub seed: u64,
}

impl Default for StudyConfig {
    /// 1000 before/after runs of 20 agents, a 48 h window checked every 4 h, no effect,
    /// 2 tasks per agent-hour, seed 1.
    fn default() -> Self {
        Self {
            runs: 1000,
            agents: 20,
            window_hours: 48,
            interval_hours: 4,
            design: Design::BeforeAfter,
            quality_effect: 0.0,
            tasks_per_agent_hour: 2.0,
            seed: 1,
        }
    }
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
    /// Roll-backs by the threshold circuit breaker (layer 1).
    pub by_threshold: u32,
    /// Roll-backs by the statistical layer (layer 2).
    pub by_statistics: u32,
    /// Roll-backs by the A/B comparison at the final check.
    pub by_comparison: u32,
    /// Per metric, the threshold roll-backs it took part in.
    pub threshold_metrics: BTreeMap<Metric, u32>,
    /// Per metric, the statistical roll-backs it took part in.
    pub statistics_metrics: BTreeMap<Metric, u32>,
    /// Runs applied at the final check.
    pub applied: u32,
    /// Of which A/B wins (`improved`).
    pub applied_improved: u32,
    /// Runs inconclusive at the final check.
    pub inconclusive: u32,
    /// Runs where a sample-ratio mismatch was flagged at some check.
    pub sample_ratio_mismatch: u32,
    /// Runs the naive repeated Welch test rolled back.
    pub naive_welch_rollbacks: u32,
    /// `naive_welch_rollbacks / runs`.
    pub naive_welch_rate: f64,
    /// Median hours from the start to the naive test's roll-back (nearest rank).
    pub naive_median_detection_hours: Option<f64>,
    /// Median hours from the start to the detector's roll-back (nearest rank), over the runs
    /// rolled back.
    pub median_detection_hours: Option<f64>,
    /// 90th percentile of the same (nearest rank).
    pub p90_detection_hours: Option<f64>,
    /// Wilson 95 % interval of `rollback_rate`.
    pub rollback_rate_ci95: (f64, f64),
}

/// An agent's latent traits for one run.
struct Agent {
    quality: f64,
    success: f64,
    cost: f64,
    findings: Option<Poisson<f64>>,
    volume: Option<Poisson<f64>>,
}

/// A Poisson distribution, or `None` when the mean is not positive and finite (nothing happens).
fn poisson(mean: f64) -> Option<Poisson<f64>> {
    (mean.is_finite() && mean > 0.0)
        .then(|| Poisson::new(mean).ok())
        .flatten()
}

fn normal(rng: &mut Pcg64) -> f64 {
    rng.sample(StandardNormal)
}

fn count(rng: &mut Pcg64, dist: Option<&Poisson<f64>>) -> f64 {
    dist.map_or(0.0, |d| rng.sample(d))
}

impl Agent {
    fn draw(rng: &mut Pcg64, tasks_per_hour: f64) -> Self {
        let quality = (QUALITY_MEAN + QUALITY_AGENT_SD * normal(rng)).clamp(1.0, 9.5);
        let success = (SUCCESS_MEAN + SUCCESS_AGENT_SD * normal(rng)).clamp(0.5, 0.99);
        let cost_mu = COST_MEAN.ln() - 0.5 * COST_AGENT_SIGMA * COST_AGENT_SIGMA;
        let cost = (cost_mu + COST_AGENT_SIGMA * normal(rng)).exp();
        let errors = ERROR_RATE * (ERROR_AGENT_SIGMA * normal(rng)).exp();
        let activity = (ACTIVITY_SIGMA * normal(rng)).exp();
        Self {
            quality,
            success,
            cost,
            findings: poisson(errors),
            volume: poisson(tasks_per_hour * activity),
        }
    }

    /// Simulates one hour of the agent's tasks with quality mean `mean` into `s`.
    fn hour(&self, rng: &mut Pcg64, mean: f64, s: &mut AgentSums) {
        let n = count(rng, self.volume.as_ref()) as u64;
        for _ in 0..n {
            s.tasks += 1.0;
            if rng.random_bool(SCORED_P) {
                s.scored += 1.0;
                s.quality_sum += (mean + QUALITY_TASK_SD * normal(rng)).clamp(0.0, 10.0);
            }
            if rng.random_bool(self.success) {
                s.successes += 1.0;
            }
            let mult =
                (COST_TASK_SIGMA * normal(rng) - 0.5 * COST_TASK_SIGMA * COST_TASK_SIGMA).exp();
            s.cost_usd += self.cost * mult;
            s.errors += count(rng, self.findings.as_ref());
        }
    }
}

/// What the detector did in one run.
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
}

/// One run's outcome.
struct RunOutcome {
    verdict: Verdict,
    sample_ratio_mismatch: bool,
    naive_hours: Option<f64>,
}

fn agent_sums(n: usize) -> Vec<AgentSums> {
    (0..n)
        .map(|i| AgentSums {
            agent_id: format!("agent-{i}"),
            ..AgentSums::default()
        })
        .collect()
}

/// Each agent's value of metric `m` (agents with a denominator only).
fn agent_ratios(agents: &[AgentSums], m: Metric) -> Vec<f64> {
    agents
        .iter()
        .map(|a| m.unit(a))
        .filter(|(_, x)| *x > 0.0)
        .map(|(y, x)| y / x)
        .collect()
}

/// Whether the naive test rolls back: for any of the four metrics, Welch's p below `alpha`
/// with the treatment worse — no correction for the metrics or for looking again.
fn naive_rolls_back(control: &[AgentSums], treatment: &[AgentSums], alpha: f64) -> bool {
    Metric::ALL.into_iter().any(|m| {
        welch_t_test(&agent_ratios(treatment, m), &agent_ratios(control, m)).is_ok_and(|w| {
            w.p_two_sided < alpha
                && if m.higher_is_worse() {
                    w.t > 0.0
                } else {
                    w.t < 0.0
                }
        })
    })
}

fn simulate_run(cfg: &StudyConfig, detection: &Detection, run: u32) -> RunOutcome {
    let mut rng = Pcg64::seed_from_u64(cfg.seed.wrapping_add(u64::from(run)));
    let n = cfg.agents as usize;
    let agents: Vec<Agent> = (0..n)
        .map(|_| Agent::draw(&mut rng, cfg.tasks_per_agent_hour))
        .collect();
    let concurrent = cfg.design != Design::BeforeAfter;
    let mut treated = vec![!concurrent; n];
    if concurrent {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let k = ((n as f64) * TREATMENT_FRACTION).round() as usize;
        for &i in order.iter().take(k) {
            treated[i] = true;
        }
    }

    // The baseline window: no effect.
    let mut before = agent_sums(n);
    for _ in 0..cfg.window_hours {
        for (a, s) in agents.iter().zip(before.iter_mut()) {
            a.hour(&mut rng, a.quality, s);
        }
    }
    let sample_ratio = concurrent.then(|| {
        let k = treated.iter().filter(|&&t| t).count();
        SampleRatio {
            control_agents: n - k,
            treatment_agents: k,
        }
    });

    // The groups' pre-rollout sums (canary/A/B adjust for them, as the engine does).
    let (mut control_before, mut treatment_before) = (Vec::new(), Vec::new());
    if concurrent {
        for (s, &is_t) in before.iter().zip(&treated) {
            if is_t {
                treatment_before.push(s.clone());
            } else {
                control_before.push(s.clone());
            }
        }
    }

    let interval = cfg.interval_hours.max(1);
    let total_checks = cfg.window_hours.div_ceil(interval).max(1);
    let mut after = agent_sums(n);
    let mut hours_done = 0u32;
    let mut state = DetectorState::default();
    let mut verdict: Option<Verdict> = None;
    let mut naive_hours: Option<f64> = None;
    for seq in 1..=total_checks {
        let elapsed = seq.saturating_mul(interval).min(cfg.window_hours);
        while hours_done < elapsed {
            for ((a, s), &t) in agents.iter().zip(after.iter_mut()).zip(&treated) {
                let mean = if t {
                    a.quality * (1.0 + cfg.quality_effect)
                } else {
                    a.quality
                };
                a.hour(&mut rng, mean, s);
            }
            hours_done += 1;
        }
        let (control, treatment): (Vec<AgentSums>, Vec<AgentSums>) = if concurrent {
            let mut c = Vec::with_capacity(n);
            let mut t = Vec::with_capacity(n);
            for (s, &is_t) in after.iter().zip(&treated) {
                if is_t {
                    t.push(s.clone());
                } else {
                    c.push(s.clone());
                }
            }
            (c, t)
        } else {
            (before.clone(), after.clone())
        };
        let hours = f64::from(elapsed);
        if naive_hours.is_none() && naive_rolls_back(&control, &treatment, detection.alpha) {
            naive_hours = Some(hours);
        }
        if verdict.is_none() {
            let input = CheckInput {
                design: cfg.design,
                control: &control,
                treatment: &treatment,
                control_before: &control_before,
                treatment_before: &treatment_before,
                prior: &[],
                pre_shift: None,
                primary: Metric::Quality,
                final_check: seq == total_checks,
                sample_ratio,
            };
            let (outcome, next) = check(&input, detection, &state);
            state = next;
            verdict = match outcome.decision {
                CheckDecision::Continue => None,
                CheckDecision::RollBack { layer, metrics, .. } => Some(Verdict::RolledBack {
                    layer,
                    metrics,
                    hours,
                }),
                CheckDecision::Apply { improved, .. } => Some(Verdict::Applied { improved }),
                CheckDecision::Inconclusive { .. } | CheckDecision::Hold { .. } => {
                    Some(Verdict::Inconclusive)
                }
            };
        }
        if verdict.is_some() && naive_hours.is_some() {
            break;
        }
    }
    RunOutcome {
        // The final check always decides; `Inconclusive` only guards against a detector that
        // would not.
        verdict: verdict.unwrap_or(Verdict::Inconclusive),
        sample_ratio_mismatch: state.sample_ratio_mismatch,
        naive_hours,
    }
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
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn rate(k: u32, n: u32) -> f64 {
    if n == 0 {
        0.0
    } else {
        f64::from(k) / f64::from(n)
    }
}

/// Runs the study: `cfg.runs` simulated rollouts judged by the detector configured by
/// `detection` (and by the naive repeated Welch test at `detection.alpha`).
pub fn run_study(cfg: &StudyConfig, detection: &Detection) -> StudyReport {
    let mut r = StudyReport {
        config: cfg.clone(),
        detection: detection.clone(),
        runs: cfg.runs,
        rolled_back: 0,
        rollback_rate: 0.0,
        by_threshold: 0,
        by_statistics: 0,
        by_comparison: 0,
        threshold_metrics: BTreeMap::new(),
        statistics_metrics: BTreeMap::new(),
        applied: 0,
        applied_improved: 0,
        inconclusive: 0,
        sample_ratio_mismatch: 0,
        naive_welch_rollbacks: 0,
        naive_welch_rate: 0.0,
        naive_median_detection_hours: None,
        median_detection_hours: None,
        p90_detection_hours: None,
        rollback_rate_ci95: (0.0, 1.0),
    };
    let mut detection_hours = Vec::new();
    let mut naive_hours = Vec::new();
    for run in 0..cfg.runs {
        let o = simulate_run(cfg, detection, run);
        if o.sample_ratio_mismatch {
            r.sample_ratio_mismatch += 1;
        }
        if let Some(h) = o.naive_hours {
            r.naive_welch_rollbacks += 1;
            naive_hours.push(h);
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
        }
    }
    r.rollback_rate = rate(r.rolled_back, cfg.runs);
    r.naive_welch_rate = rate(r.naive_welch_rollbacks, cfg.runs);
    r.rollback_rate_ci95 = wilson_ci95(r.rolled_back, cfg.runs);
    r.median_detection_hours = quantile(&detection_hours, 0.5);
    r.p90_detection_hours = quantile(&detection_hours, 0.9);
    r.naive_median_detection_hours = quantile(&naive_hours, 0.5);
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
        let (lo, _) = wilson_ci95(0, 10);
        assert_eq!(lo, 0.0);
    }

    #[test]
    fn quantile_is_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[8.0, 4.0, 12.0, 4.0], 0.5), Some(4.0));
        assert_eq!(quantile(&[8.0, 4.0, 12.0], 0.5), Some(8.0));
        assert_eq!(quantile(&[8.0, 4.0, 12.0], 0.9), Some(12.0));
    }
}
