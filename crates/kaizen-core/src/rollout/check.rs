//! One regression check of a rollout: the two-layer detector and the verdict at the end of the
//! window. Pure: the service gathers each side's per-agent sums from the rollups (over the
//! windows of [`crate::rollout::window`]), calls [`check`] with the state the previous check
//! left, and persists what comes back.
//!
//! # The metrics and the effect
//!
//! Four ratio metrics, each a pooled ratio over agents (the agent is the randomisation unit):
//! quality per scored task, success rate, cost per task and error rate (runtime-reported
//! errors per task). The proposal names its **primary** metric; the others are guardrails.
//! The effect and its variance come from the same agents: a linear contrast of the windows'
//! ratios over the agents present in every window (before/after: `after − (2·week1 − week2)`;
//! canary/A/B: the groups' difference regression-adjusted on their pasts), its delta-method variance
//! from the agents' linearised units; with too few such agents, each window pooled over all of
//! its agents. The variance of success and error rates is floored at the outcomes' own
//! (Bernoulli, Poisson) noise.
//!
//! # Layer 1: threshold circuit breaker
//!
//! The relative worsening of each metric (`regression.*_threshold`). It needs
//! `min_data_points` observations per side; a breach counts only when the difference is
//! credible (this look's mixture mSPRT p-value, never below Student's t with the agents' degrees
//! of freedom, Holm-adjusted over the metrics), acts after `consecutive_breaches` checks in a
//! row, or at once beyond `catastrophic_factor` × the threshold.
//!
//! # Layer 2: statistics
//!
//! A non-inferiority test: a metric regresses only on evidence that it got worse by more than
//! the margin `tolerance × threshold × |baseline|`. `sequential` (default): a one-sided
//! mixture mSPRT at every check (scales τ, 3τ, 10τ; always valid); `fixed_horizon`: Student's
//! t at the final check. Layer 2 needs `min_data_points` agents per side; the metrics' harm
//! p-values are Holm-adjusted.
//!
//! # Verdict
//!
//! Any regression rolls back, except one in the harmful direction of a shift that began
//! before a before/after rollout. At the final check: the primary metric untestable →
//! inconclusive; a shift before the rollout, an agent-level sample-ratio mismatch, data that
//! lean toward harm beyond the margin, or a measurable metric whose interval still reaches its
//! threshold → **hold** for a human (never applied automatically); a canary or A/B whose
//! primary metric improved beyond `improvement_threshold` with significance → applied,
//! improved; otherwise before/after and canary → applied, A/B → inconclusive.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{AbTestConfig, RegressionConfig, RegressionMethod};
use crate::rollout::stats::{self, RatioEstimate, RatioSums, chi_square_2x2, holm, msprt_mixture};

/// A metric the detector watches.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
    Default,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Metric {
    /// Mean quality score per scored task (0–10); lower is worse.
    #[default]
    Quality,
    /// Successful tasks per task; lower is worse.
    SuccessRate,
    /// USD per task; higher is worse.
    CostPerTask,
    /// Runtime-reported errors per task; higher is worse.
    ErrorRate,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 4] = [
        Metric::Quality,
        Metric::SuccessRate,
        Metric::CostPerTask,
        Metric::ErrorRate,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The metric a built-in rule's proposals are meant to improve: the one the rule fired on
    /// (quality for a rule that watches none of the four, and for custom rules).
    pub fn for_rule(rule_name: &str) -> Metric {
        match rule_name {
            "success_rate_drop" | "scaling_failure" | "straggler_bottleneck" => Metric::SuccessRate,
            "budget_overrun"
            | "coordination_cost_ratio"
            | "coordination_overhead"
            | "redundancy" => Metric::CostPerTask,
            "error_spike" => Metric::ErrorRate,
            _ => Metric::Quality,
        }
    }

    /// Whether a higher value is worse (cost, errors) rather than better.
    pub fn higher_is_worse(self) -> bool {
        matches!(self, Metric::CostPerTask | Metric::ErrorRate)
    }

    /// The agent's (numerator, denominator) for this metric.
    pub fn unit(self, a: &AgentSums) -> (f64, f64) {
        match self {
            Metric::Quality => (a.quality_sum, a.scored),
            Metric::SuccessRate => (a.successes, a.tasks),
            Metric::CostPerTask => (a.cost_usd, a.tasks),
            Metric::ErrorRate => (a.errors, a.tasks),
        }
    }

    /// The relative change that is worse, positive when the treatment is worse: a drop for
    /// quality and success, an increase for cost and errors. `None` for a zero baseline.
    fn worsening(self, control: f64, treatment: f64) -> Option<f64> {
        if control == 0.0 {
            return None;
        }
        let rel = (treatment - control) / control.abs();
        Some(if self.higher_is_worse() { rel } else { -rel })
    }
}

/// One agent's sums over a window, as the rollups hold them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentSums {
    /// The agent.
    pub agent_id: String,
    /// Tasks completed.
    pub tasks: f64,
    /// Of which successful.
    pub successes: f64,
    /// Tasks with a quality score.
    pub scored: f64,
    /// Sum of their quality scores.
    pub quality_sum: f64,
    /// Spend, USD.
    pub cost_usd: f64,
    /// Errors the agent's runtime reported (`telemetry.event` with `error: true` and the
    /// agent's id).
    pub errors: f64,
}

/// The detector's settings, from `self_improvement.regression` and `rollout.ab_test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Relative worsening per metric that breaches layer 1.
    pub thresholds: BTreeMap<Metric, f64>,
    /// Significance level.
    pub alpha: f64,
    /// Observations per side for layer 1, agents per side for layer 2.
    pub min_data_points: u32,
    /// Consecutive breaching checks before layer 1 acts.
    pub consecutive_breaches: u32,
    /// Multiple of a threshold that acts at once.
    pub catastrophic_factor: f64,
    /// Layer 2's test.
    pub method: RegressionMethod,
    /// p-value below which a sample-ratio mismatch is flagged.
    pub sample_ratio_p_value: f64,
    /// A/B: relative quality improvement that makes the treatment win.
    pub improvement_threshold: f64,
    /// A/B: observations per group before any verdict.
    pub min_observations_per_group: u32,
    /// Layer 2's tolerance (non-inferiority margin) as a fraction of each metric's threshold:
    /// it rolls back only on evidence of a worsening beyond `tolerance × threshold`.
    #[serde(default)]
    pub tolerance: f64,
}

impl Detection {
    /// The settings the configuration gives.
    pub fn from_config(reg: &RegressionConfig, ab: &AbTestConfig) -> Self {
        Self {
            thresholds: BTreeMap::from([
                (Metric::Quality, reg.quality_drop_threshold),
                (Metric::SuccessRate, reg.success_rate_drop_threshold),
                (Metric::CostPerTask, reg.cost_increase_threshold),
                (Metric::ErrorRate, reg.error_rate_increase_threshold),
            ]),
            alpha: reg.statistical_significance_level,
            min_data_points: reg.min_data_points,
            consecutive_breaches: reg.consecutive_breaches,
            catastrophic_factor: reg.catastrophic_factor,
            method: reg.method,
            sample_ratio_p_value: reg.sample_ratio_p_value,
            improvement_threshold: ab.improvement_threshold,
            min_observations_per_group: ab.min_observations_per_group,
            tolerance: reg.tolerance,
        }
    }

    fn threshold(&self, m: Metric) -> f64 {
        self.thresholds.get(&m).copied().unwrap_or(0.0)
    }
}

/// What one metric carries from check to check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MetricState {
    /// Consecutive checks with a layer-1 breach.
    pub consecutive: u32,
    /// The two-sided always-valid p-value of any difference: the smallest seen so far (used
    /// for the A/B winner, never for a rollback).
    pub min_p: Option<f64>,
    /// The mSPRT mixing variance, fixed at the first testable check.
    pub tau2: Option<f64>,
    /// The one-sided always-valid p-value of harm beyond the margin: the smallest seen so far
    /// (absent in states stored before the margin existed: started afresh).
    #[serde(default)]
    pub harm_min_p: Option<f64>,
    /// The non-inferiority margin in the metric's units (`tolerance × threshold × |baseline|`),
    /// fixed at the first testable check.
    #[serde(default)]
    pub margin: Option<f64>,
    /// The one-sided always-valid p-value of an improvement beyond the minimum effect: the
    /// smallest seen so far.
    #[serde(default)]
    pub gain_min_p: Option<f64>,
}

/// The schema of a map keyed by [`Metric`]: an object whose property names are metric names
/// (schemars would allow any name, as it does not read a documented enum's names).
fn metric_map<V: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": g.subschema_for::<Metric>(),
        "additionalProperties": g.subschema_for::<V>(),
    })
}

/// What the detector carries from check to check (persisted with the rollout).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DetectorState {
    /// Per metric.
    #[schemars(schema_with = "metric_map::<MetricState>")]
    pub metrics: BTreeMap<Metric, MetricState>,
    /// Whether a sample-ratio mismatch was ever flagged (it stays flagged).
    pub sample_ratio_mismatch: bool,
    /// What the rollout could detect, computed when it started (absent for rollouts started
    /// before this version).
    #[serde(default)]
    pub plan: Option<crate::rollout::plan::PowerPlan>,
}

/// The design of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// The same agents before (control = baseline window) and after the change.
    BeforeAfter,
    /// A canary subset against the other agents, concurrently.
    Canary,
    /// Treatment against control, concurrently; the treatment can win.
    AbTest,
}

/// The groups' assigned sizes, which the sample-ratio check compares with the agents that
/// report (canary, A/B). The agent is the randomisation unit and the groups are sized exactly,
/// so the check is of agents: did each group's assigned agents report alike?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRatio {
    /// Agents assigned to the control group.
    pub control_agents: usize,
    /// Agents assigned to the treatment group.
    pub treatment_agents: usize,
}

/// Before/after: the day before the start and the same hours one and two weeks earlier, where
/// a shift that predates the rollout shows.
#[derive(Debug, Clone, Copy)]
pub struct PreShift<'a> {
    /// The hours just before the start.
    pub recent: &'a [AgentSums],
    /// The same hours, one week earlier.
    pub week1: &'a [AgentSums],
    /// The same hours, two weeks earlier.
    pub week2: &'a [AgentSums],
}

/// Inputs of one check ([`crate::rollout::window`] says which hours each side covers).
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The comparison's design.
    pub design: Design,
    /// Canary/A/B: the control agents over the hours since the start. Before/after: the same
    /// agents over the same hours of the week, one week earlier.
    pub control: &'a [AgentSums],
    /// Treatment agents, from the rollout's start to this check.
    pub treatment: &'a [AgentSums],
    /// Canary/A/B: the control agents over the pre-rollout window (empty when unknown). With
    /// both groups' pre-rollout data, each group's change from its own past is compared
    /// (difference in differences), so the groups' standing differences cancel out.
    pub control_before: &'a [AgentSums],
    /// Canary/A/B: the treatment agents over the pre-rollout window (empty when unknown).
    pub treatment_before: &'a [AgentSums],
    /// Before/after: the same agents over the same hours, two weeks earlier; it adjusts the
    /// comparison for a drift (empty: not adjusted, and the check says so).
    pub prior: &'a [AgentSums],
    /// Before/after: the windows in which a shift that predates the rollout would show.
    pub pre_shift: Option<PreShift<'a>>,
    /// The metric the change is meant to improve (the one its rule fired on); the others are
    /// guardrails.
    pub primary: Metric,
    /// Whether this is the last check of the window.
    pub final_check: bool,
    /// Canary/A/B: the groups' assigned sizes, for the sample-ratio check.
    pub sample_ratio: Option<SampleRatio>,
}

/// What a metric's check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricDecision {
    /// No data on either side.
    NotReported,
    /// Too little data to judge.
    InsufficientData,
    /// No regression found.
    Ok,
    /// Layer 1 breached, not (yet) enough consecutive checks to act.
    Breaching,
    /// Layer 1 acts (consecutive or catastrophic breach).
    ThresholdRegression,
    /// Layer 2 found a significant worsening.
    StatisticalRegression,
}

/// Everything one check found about one metric: the numbers behind the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricCheck {
    /// The metric.
    pub metric: Metric,
    /// Whether it is the primary metric (the one the change is meant to improve).
    #[serde(default)]
    pub primary: bool,
    /// The counterfactual estimate: the control group, or (before/after) the same agents' same
    /// hours a week earlier, adjusted for drift when `drift_adjusted`.
    pub control: Option<RatioEstimate>,
    /// Treatment estimate.
    pub treatment: Option<RatioEstimate>,
    /// The estimated effect, treatment − control (adjusted for the pre-rollout period when
    /// `pre_period_adjusted`).
    pub difference: Option<f64>,
    /// Whether the effect is a difference in differences against the pre-rollout window.
    pub pre_period_adjusted: bool,
    /// Before/after: whether the effect is adjusted for the drift from two weeks to one week
    /// before (`after − (2 · week1 − week2)`).
    #[serde(default)]
    pub drift_adjusted: bool,
    /// Whether each window was pooled over all of its agents because too few agents were
    /// observed in every window compared (agents that work on some days only).
    #[serde(default)]
    pub unpaired: bool,
    /// Relative worsening (positive = worse): the effect over the baseline estimate, when the
    /// baseline is not zero.
    pub worsening: Option<f64>,
    /// The layer-1 threshold.
    pub threshold: f64,
    /// Consecutive breaching checks, including this one.
    pub consecutive: u32,
    /// The interval for treatment − control: the confidence sequence (sequential) or the
    /// Welch interval is not computed (fixed horizon reports t and df instead).
    pub interval: Option<(f64, f64)>,
    /// This check's p-value of harm beyond the margin, one-sided (sequential: of this look;
    /// fixed horizon: Welch's).
    pub p_value: Option<f64>,
    /// The always-valid p-value of harm beyond the margin (running minimum), sequential only.
    pub p_running: Option<f64>,
    /// Holm-adjusted harm p-value among the metrics tested at this check.
    pub p_adjusted: Option<f64>,
    /// The non-inferiority margin, in the metric's units: layer 2 acts only on evidence of a
    /// worsening larger than this.
    #[serde(default)]
    pub margin: Option<f64>,
    /// The two-sided p-value of any difference (sequential: always-valid running minimum;
    /// fixed horizon: Welch's), for the A/B winner.
    #[serde(default)]
    pub p_difference: Option<f64>,
    /// The p-value of an improvement beyond the minimum effect (`improvement_threshold` ×
    /// the baseline), one-sided (sequential: always-valid running minimum); a win on the
    /// primary metric needs it below α.
    #[serde(default)]
    pub p_improvement: Option<f64>,
    /// This check's mSPRT p-value, which a threshold breach needs below α (Holm-adjusted over
    /// the metrics) to count (so the circuit breaker does not trip on noise).
    pub breach_p: Option<f64>,
    /// The upper one-sided (1 − α) bound of the worsening, in the metric's units (positive =
    /// worse): the final verdict needs it within the threshold.
    #[serde(default)]
    pub harm_upper: Option<f64>,
    /// The worsening this check could detect with 80 % power at level α (one-sided), in the
    /// metric's units.
    #[serde(default)]
    pub mde: Option<f64>,
    /// Before/after: the shift found in the day before the start.
    #[serde(default)]
    pub pre_shift: Option<ShiftCheck>,
    /// The decision.
    pub decision: MetricDecision,
    /// Why, in words.
    pub why: String,
}

/// A shift of a metric in the day before a before/after rollout started, against the same
/// hours a week earlier (adjusted for drift as the comparison is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShiftCheck {
    /// The shift, in the metric's units.
    pub difference: f64,
    /// Relative to the week-earlier level, when it is not zero.
    pub relative: Option<f64>,
    /// Two-sided p-value, Holm-adjusted over the metrics.
    pub p_adjusted: f64,
    /// Significant and larger than the tolerated margin: the shift predates the rollout.
    pub flagged: bool,
    /// In the metric's harmful direction.
    pub harmful: bool,
}

/// Which layer found a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The threshold circuit breaker.
    Threshold,
    /// The statistical test.
    Statistical,
    /// The A/B comparison at the end (control significantly better). No longer produced (the
    /// statistical layer's harm test covers it); kept so that checks stored before read back.
    Comparison,
}

/// What a check decided for the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum CheckDecision {
    /// Keep observing.
    Continue,
    /// Roll back: a regression.
    RollBack {
        /// The layer that found it.
        layer: Layer,
        /// The metrics that regressed.
        metrics: Vec<Metric>,
        /// Why, with the numbers.
        reason: String,
    },
    /// Apply org-wide (final check).
    Apply {
        /// A/B: the treatment won.
        improved: bool,
        /// Why.
        reason: String,
    },
    /// No verdict (final check): the configured `on_inconclusive` decides.
    Inconclusive {
        /// Why.
        reason: String,
    },
    /// No automatic verdict (final check): the data cannot clear the change (a guardrail's
    /// interval still includes harm beyond its threshold, a shift that predates the rollout,
    /// a sample-ratio mismatch). Paused for a human, never applied automatically.
    Hold {
        /// Why.
        reason: String,
    },
}

/// The sample-ratio-mismatch test of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SampleRatioCheck {
    /// Agents that reported in control and treatment (before this version: tasks).
    pub observed: (f64, f64),
    /// The treatment's expected share.
    pub expected_treatment_share: f64,
    /// Where the expectation comes from (`pre-rollout task volume` or `group sizes`).
    pub basis: String,
    /// χ² statistic (1 df).
    pub chi_square: f64,
    /// Its p-value.
    pub p_value: f64,
    /// Whether it is below `sample_ratio_p_value`.
    pub mismatch: bool,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOutcome {
    /// Per metric.
    pub metrics: Vec<MetricCheck>,
    /// The sample-ratio-mismatch test (concurrent designs with data).
    pub sample_ratio: Option<SampleRatioCheck>,
    /// The decision.
    pub decision: CheckDecision,
}

fn sums(agents: &[AgentSums], m: Metric) -> RatioSums {
    let mut s = RatioSums::default();
    for a in agents {
        let (y, x) = m.unit(a);
        s.add(y, x);
    }
    s
}

/// A number for a person: one decimal from 100 up, three from 1, four below.
pub fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// A signed relative change for a person: `+12.3 %`.
pub fn pct(x: f64) -> String {
    format!("{:+.1} %", x * 100.0)
}

/// The standard normal upper quantile `z` with `P(Z > z) = p`.
fn z_upper(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf((1.0 - p).clamp(1e-15, 1.0 - 1e-15))
}

/// The share of α a shift before a before/after rollout is tested at: the check is a guard
/// against blaming the change for a clear shift, and a hold for every borderline wobble would
/// bury the humans in false alarms.
const PRE_SHIFT_ALPHA_SHARE: f64 = 0.2;

/// The z-quantile of the power the minimum detectable effect is stated at (80 %).
const POWER_Z: f64 = 0.841_621_233_572_914_3;

/// How an effect was estimated (see [`effect`]).
#[derive(Debug, Clone, Copy)]
struct Effect {
    /// The counterfactual: what the treated agents would have shown without the change.
    base: RatioEstimate,
    /// The treated agents' estimate.
    treated: RatioEstimate,
    /// treatment − counterfactual.
    diff: f64,
    /// Its variance.
    variance: f64,
    /// Canary/A/B: a difference in differences against the pre-rollout window.
    pre_period: bool,
    /// Before/after: adjusted for the drift from two weeks to one week earlier.
    drift: bool,
    /// Whether the agents were paired across the windows (else each window is pooled over
    /// all of its agents).
    paired: bool,
    /// The windows and weights of the contrast, for the noise floor.
    floor_windows: [Option<(usize, f64)>; 4],
}

/// A linear contrast `Σ w_k R_k` of one metric's pooled ratios over several windows, over the
/// agents present (with a denominator) in **every** window, and its delta-method variance:
/// each agent's linearised contribution `Σ w_k (y_ik − R_k x_ik) / x̄_k` is the unit, so the
/// estimate and its variance come from the same agents, and anything an agent carries through
/// the windows (its level, its autocorrelation) is in the spread of the units.
struct Contrast {
    /// The pooled ratio of each window over the common agents.
    ratios: Vec<f64>,
    /// Each window's denominator sum over the common agents.
    observations: Vec<f64>,
    /// Σ w_k R_k.
    estimate: f64,
    /// Its variance (`s² / n` of the units).
    variance: f64,
    /// Common agents.
    units: usize,
}

fn contrast(windows: &[(&[AgentSums], f64)], m: Metric) -> Option<Contrast> {
    let first = windows.first()?.0;
    let others: Vec<std::collections::HashMap<&str, &AgentSums>> = windows[1..]
        .iter()
        .map(|(w, _)| w.iter().map(|a| (a.agent_id.as_str(), a)).collect())
        .collect();
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    'agents: for a in first {
        let (y, x) = m.unit(a);
        if !(x > 0.0 && y.is_finite()) {
            continue;
        }
        let mut row = vec![(y, x)];
        for w in &others {
            let Some(b) = w.get(a.agent_id.as_str()) else {
                continue 'agents;
            };
            let (y, x) = m.unit(b);
            if !(x > 0.0 && y.is_finite()) {
                continue 'agents;
            }
            row.push((y, x));
        }
        rows.push(row);
    }
    let n = rows.len();
    if n < 2 {
        return None;
    }
    let k = windows.len();
    let (mut ys, mut xs) = (vec![0.0; k], vec![0.0; k]);
    for row in &rows {
        for (j, (y, x)) in row.iter().enumerate() {
            ys[j] += y;
            xs[j] += x;
        }
    }
    let ratios: Vec<f64> = ys.iter().zip(&xs).map(|(y, x)| y / x).collect();
    let nf = n as f64;
    let units: Vec<f64> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, (y, x))| windows[j].1 * (y - ratios[j] * x) / (xs[j] / nf))
                .sum()
        })
        .collect();
    let mean = units.iter().sum::<f64>() / nf;
    let var = units.iter().map(|u| (u - mean) * (u - mean)).sum::<f64>() / (nf - 1.0);
    Some(Contrast {
        estimate: ratios.iter().zip(windows).map(|(r, (_, w))| w * r).sum(),
        ratios,
        observations: xs,
        variance: (var / nf).max(0.0),
        units: n,
    })
}

/// The indices of the windows in [`noise_floor`]: treatment, control, prior/treatment-before,
/// control-before.
const W_TREATMENT: usize = 0;
const W_CONTROL: usize = 1;
const W_PRIOR: usize = 2;
const W_CONTROL_BEFORE: usize = 3;

/// A contrast `Σ c_w R_w` of the windows' pooled ratios over **all** agents of each window,
/// with variance `Σ c_w² V_w` (each window's delta-method variance from its own agents): the
/// estimator when too few agents appear in every window for the paired one (agents that work
/// on some days only). Each window's estimate and variance come from the same agents; leaving
/// out the covariance of windows that share agents overstates the variance of a before/after
/// contrast (conservative) and is exact for independent groups. `None` without data in a
/// window.
fn unpaired(windows: &[(&[AgentSums], f64)], m: Metric) -> Option<Contrast> {
    let mut ratios = Vec::with_capacity(windows.len());
    let mut observations = Vec::with_capacity(windows.len());
    let (mut estimate, mut variance) = (0.0, 0.0);
    let mut units = usize::MAX;
    for (w, c) in windows {
        let e = sums(w, m).estimate()?;
        ratios.push(e.ratio);
        observations.push(e.observations);
        estimate += c * e.ratio;
        variance += c * c * e.variance;
        units = units.min(e.units as usize);
    }
    Some(Contrast {
        ratios,
        observations,
        estimate,
        variance,
        units,
    })
}

/// Each agent's linearised units `(a_i, b_i)` in two windows (`(y − R x) / x̄` per window,
/// over the agents with a denominator in both), with the windows' pooled ratios.
type PairedUnits = (Vec<(f64, f64)>, f64, f64);

/// The [`PairedUnits`] of `after` and `before` for metric `m`.
fn paired_units(after: &[AgentSums], before: &[AgentSums], m: Metric) -> Option<PairedUnits> {
    let c = contrast(&[(after, 1.0), (before, 0.0)], m)?;
    let past: std::collections::HashMap<&str, (f64, f64)> = before
        .iter()
        .map(|a| (a.agent_id.as_str(), m.unit(a)))
        .filter(|(_, (y, x))| *x > 0.0 && y.is_finite())
        .collect();
    let (ra, rb) = (c.ratios[0], c.ratios[1]);
    let n = c.units as f64;
    let (xa, xb) = (c.observations[0] / n, c.observations[1] / n);
    let units: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|a| {
            let (y, x) = m.unit(a);
            let (y0, x0) = *past.get(a.agent_id.as_str())?;
            (x > 0.0 && y.is_finite()).then(|| ((y - ra * x) / xa, (y0 - rb * x0) / xb))
        })
        .collect();
    Some((units, ra, rb))
}

/// A concurrent comparison adjusted for each group's past by regression (CUPED, Deng et al.
/// 2013, on the delta-method linearisations): `(T_after − C_after) − β (T_before − C_before)`
/// with `β` the pooled within-group regression of the agents' after-units on their
/// before-units. With `β = 1` it is the difference in differences; the fitted `β` never does
/// worse (it minimises the variance), and gains most when an agent's past predicts its
/// present only in part (noisy outcomes). Unbiased whatever `β`: randomisation makes the
/// groups' pasts equal in expectation. The variance is that of the residual units
/// `a_i − β b_i`, per group, added. The slope is fitted only with `min_units` agents a side
/// and kept within [0, 1]; otherwise `β = 1`.
struct Cuped {
    estimate: f64,
    variance: f64,
    units: usize,
    beta: f64,
}

fn cuped(
    control: (&[AgentSums], &[AgentSums]),
    treatment: (&[AgentSums], &[AgentSums]),
    m: Metric,
    min_units: f64,
) -> Option<Cuped> {
    let (cu, rca, rcb) = paired_units(control.0, control.1, m)?;
    let (tu, rta, rtb) = paired_units(treatment.0, treatment.1, m)?;
    if cu.len() < 2 || tu.len() < 2 {
        return None;
    }
    let (mut sab, mut sbb) = (0.0, 0.0);
    for g in [&cu, &tu] {
        let n = g.len() as f64;
        let ma = g.iter().map(|u| u.0).sum::<f64>() / n;
        let mb = g.iter().map(|u| u.1).sum::<f64>() / n;
        for (a, b) in g.iter() {
            sab += (a - ma) * (b - mb);
            sbb += (b - mb) * (b - mb);
        }
    }
    // Kept within [0, 1]: between ignoring the past and the difference in differences. A
    // fitted slope outside it comes from a few extreme agents, not from how agents persist,
    // and would trade bias-free noise for their leverage.
    // With fewer than `min_units` agents a side the slope is itself too noisy to fit: the
    // difference in differences (β = 1) is used.
    let enough = cu.len().min(tu.len()) as f64 >= min_units;
    let beta = if enough && sbb > 0.0 && (sab / sbb).is_finite() {
        (sab / sbb).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let residual_variance = |g: &[(f64, f64)]| {
        let n = g.len() as f64;
        let r: Vec<f64> = g.iter().map(|(a, b)| a - beta * b).collect();
        let mean = r.iter().sum::<f64>() / n;
        r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0) / n
    };
    Some(Cuped {
        estimate: (rta - rca) - beta * (rtb - rcb),
        variance: (residual_variance(&cu) + residual_variance(&tu)).max(0.0),
        units: cu.len().min(tu.len()),
        beta,
    })
}

/// The paired contrast when it has `min_units` agents, else the unpaired one when that has
/// them, else whichever exists (untestable either way). Returns the contrast and whether it
/// is paired.
fn best_contrast(
    windows: &[(&[AgentSums], f64)],
    m: Metric,
    min_units: f64,
) -> Option<(Contrast, bool)> {
    let paired = contrast(windows, m);
    if paired.as_ref().is_some_and(|c| c.units as f64 >= min_units) {
        return paired.map(|c| (c, true));
    }
    match (paired, unpaired(windows, m)) {
        (_, Some(u)) if u.units as f64 >= min_units && u.variance.is_finite() => Some((u, false)),
        (Some(p), _) => Some((p, true)),
        (None, Some(u)) => Some((u, false)),
        (None, None) => None,
    }
}

/// How metric `m` changed from one window to a later one, over the same agents where at least
/// `min_units` appear in both (else each window pooled over its own agents, conservatively):
/// what an applied change achieved, measured after the fact ([`window_change`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowChange {
    /// The metric's pooled value in the earlier window.
    pub before: f64,
    /// In the later window.
    pub after: f64,
    /// `after − before`.
    pub diff: f64,
    /// Its variance (delta method over the agents).
    pub variance: f64,
    /// Agents behind it.
    pub units: usize,
    /// Whether the agents were paired across the windows.
    pub paired: bool,
}

impl WindowChange {
    /// The two-sided `level` (e.g. 0.95) interval of `diff`, Student t with `units − 1`
    /// degrees of freedom; `None` with fewer than two agents or no variance estimate.
    pub fn interval(&self, level: f64) -> Option<(f64, f64)> {
        use statrs::distribution::{ContinuousCDF, StudentsT};
        if self.units < 2 || !self.variance.is_finite() {
            return None;
        }
        let t = StudentsT::new(0.0, 1.0, self.units as f64 - 1.0).ok()?;
        let q = t.inverse_cdf(0.5 + level.clamp(0.0, 0.999_999) / 2.0);
        let half = q * self.variance.max(0.0).sqrt();
        Some((self.diff - half, self.diff + half))
    }
}

/// [`WindowChange`] of metric `m` from `before` to `after`; `None` without data in a window.
pub fn window_change(
    before: &[AgentSums],
    after: &[AgentSums],
    m: Metric,
    min_units: f64,
) -> Option<WindowChange> {
    let (c, paired) = best_contrast(&[(after, 1.0), (before, -1.0)], m, min_units)?;
    Some(WindowChange {
        before: c.ratios[1],
        after: c.ratios[0],
        diff: c.estimate,
        variance: c.variance,
        units: c.units,
        paired,
    })
}

/// The effect treatment − counterfactual of metric `m` and its variance, from the same agents.
///
/// * Before/after: the same agents after the start against the same hours one week earlier,
///   adjusted for the drift from two weeks to one week earlier when `prior` has data:
///   `R_after − (2 R_week1 − R_week2)`, the contrast's variance from the agents' linearised
///   units (estimate and variance from the agents present in all windows).
/// * Canary and A/B with both groups' pre-rollout data: a difference in differences, each
///   group's paired change from its own past (the groups' standing differences cancel out).
/// * Otherwise: the difference of the groups' pooled ratios, variances added.
///
/// When fewer than `min_units` agents appear in every window (agents that work on some days
/// only), the windows' ratios are pooled over all of each window's agents instead
/// ([`unpaired`]), so intermittent agents do not make a rollout untestable.
fn effect(input: &CheckInput<'_>, m: Metric, min_units: f64) -> Option<Effect> {
    let mut e = unfloored_effect(input, m, min_units)?;
    // Discrete outcomes can show no spread at all on a short window (every agent succeeded at
    // its one task): never less variance than the outcomes' own noise.
    e.variance = e.variance.max(noise_floor(input, m, &e));
    Some(e)
}

/// [`effect`] before the noise floor.
fn unfloored_effect(input: &CheckInput<'_>, m: Metric, min_units: f64) -> Option<Effect> {
    let est = |units: usize, ratio: f64, variance: f64, obs: f64| RatioEstimate {
        units: units as f64,
        ratio,
        variance,
        observations: obs,
    };
    if input.design == Design::BeforeAfter {
        let drift = !input.prior.is_empty();
        let (c, paired) = if drift {
            best_contrast(
                &[
                    (input.treatment, 1.0),
                    (input.control, -2.0),
                    (input.prior, 1.0),
                ],
                m,
                min_units,
            )?
        } else {
            best_contrast(
                &[(input.treatment, 1.0), (input.control, -1.0)],
                m,
                min_units,
            )?
        };
        let base_ratio = if drift {
            2.0 * c.ratios[1] - c.ratios[2]
        } else {
            c.ratios[1]
        };
        let week1 = sums(input.control, m).estimate();
        return Some(Effect {
            base: est(
                c.units,
                base_ratio,
                week1.map_or(f64::INFINITY, |e| e.variance),
                c.observations[1],
            ),
            treated: est(
                c.units,
                c.ratios[0],
                sums(input.treatment, m)
                    .estimate()
                    .map_or(f64::INFINITY, |e| e.variance),
                c.observations[0],
            ),
            diff: c.estimate,
            variance: c.variance,
            pre_period: false,
            drift,
            paired,
            floor_windows: [
                Some((W_TREATMENT, 1.0)),
                Some((W_CONTROL, if drift { 2.0 } else { 1.0 })),
                drift.then_some((W_PRIOR, 1.0)),
                None,
            ],
        });
    }
    let cs = sums(input.control, m).estimate()?;
    let ts = sums(input.treatment, m).estimate()?;
    let did = cuped(
        (input.control, input.control_before),
        (input.treatment, input.treatment_before),
        m,
        min_units,
    )
    .map(|c| {
        (
            Effect {
                base: cs,
                treated: ts,
                diff: c.estimate,
                variance: c.variance,
                pre_period: true,
                drift: false,
                paired: true,
                floor_windows: [
                    Some((W_TREATMENT, 1.0)),
                    Some((W_CONTROL, 1.0)),
                    Some((W_PRIOR, c.beta.abs().min(1.0))),
                    Some((W_CONTROL_BEFORE, c.beta.abs().min(1.0))),
                ],
            },
            c.units as f64,
        )
    });
    let plain = Effect {
        base: cs,
        treated: ts,
        diff: ts.ratio - cs.ratio,
        variance: cs.variance + ts.variance,
        pre_period: false,
        drift: false,
        paired: false,
        floor_windows: [Some((W_TREATMENT, 1.0)), Some((W_CONTROL, 1.0)), None, None],
    };
    // The groups' own pasts when enough agents have one; otherwise every agent of each group.
    match did {
        Some((e, units)) if units >= min_units => Some(e),
        Some((e, _)) if cs.units.min(ts.units) < min_units => Some(e),
        _ => Some(plain),
    }
}

/// The smallest variance the effect of metric `m` can have: the noise of the outcomes
/// themselves, which a few agents that all happened to succeed cannot argue away. Success is a
/// Bernoulli outcome per task (variance p̄(1 − p̄)), errors a Poisson count per task (variance
/// λ̄), both at the rate pooled over the windows compared; the effect's variance is at least
/// `σ² Σ w²/N_w` over the windows `w` of the contrast (weights `w`, tasks `N_w`). Quality and
/// cost have no such floor (0).
fn noise_floor(input: &CheckInput<'_>, m: Metric, e: &Effect) -> f64 {
    if !matches!(m, Metric::SuccessRate | Metric::ErrorRate) {
        return 0.0;
    }
    let window = |i: usize| match i {
        W_TREATMENT => input.treatment,
        W_CONTROL => input.control,
        W_PRIOR if input.design == Design::BeforeAfter => input.prior,
        W_PRIOR => input.treatment_before,
        _ => input.control_before,
    };
    let (mut y, mut x, mut inv) = (0.0, 0.0, 0.0);
    for (i, w) in e.floor_windows.iter().flatten() {
        let s = sums(window(*i), m);
        if s.sum_x <= 0.0 {
            return 0.0;
        }
        y += s.sum_y;
        x += s.sum_x;
        inv += w * w / s.sum_x;
    }
    let rate = y / x;
    let per_task = match m {
        Metric::SuccessRate => rate.clamp(0.0, 1.0) * (1.0 - rate.clamp(0.0, 1.0)),
        _ => rate.max(0.0),
    };
    per_task * inv
}

/// What a power calculation needs of the effect estimator for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectVariance {
    /// Agents behind the counterfactual.
    pub control_units: f64,
    /// Agents behind the treatment's estimate.
    pub treatment_units: f64,
    /// The counterfactual level.
    pub level: f64,
    /// The effect's variance, with its noise floor.
    pub variance: f64,
    /// Before/after: whether the comparison is adjusted for drift (data two weeks back).
    pub drift_adjusted: bool,
}

/// The effect estimator's variance for metric `m` (`None` when it cannot estimate).
pub fn effect_variance(
    input: &CheckInput<'_>,
    m: Metric,
    min_units: f64,
) -> Option<EffectVariance> {
    let e = effect(input, m, min_units)?;
    Some(EffectVariance {
        control_units: e.base.units,
        treatment_units: e.treated.units,
        level: e.base.ratio,
        variance: e.variance,
        drift_adjusted: e.drift,
    })
}

/// The effect detectable with 80 % power by a one-sided test at level `alpha` for an
/// estimate of variance `variance`: `(z_{1−α} + z_{0.8}) · sd`.
pub fn detectable_effect(variance: f64, alpha: f64) -> f64 {
    (z_upper(alpha) + POWER_Z) * variance.max(0.0).sqrt()
}

/// Runs one check. `state` is what the previous check returned (default for the first);
/// returns the outcome and the state for the next check.
pub fn check(
    input: &CheckInput<'_>,
    detection: &Detection,
    state: &DetectorState,
) -> (CheckOutcome, DetectorState) {
    let mut next = state.clone();
    let min_obs = match input.design {
        Design::AbTest => detection
            .min_data_points
            .max(detection.min_observations_per_group),
        _ => detection.min_data_points,
    } as f64;
    let min_units = f64::from(detection.min_data_points);

    let sample_ratio = sample_ratio_check(input, detection);
    if sample_ratio.as_ref().is_some_and(|s| s.mismatch) {
        next.sample_ratio_mismatch = true;
    }
    let shifts = pre_shifts(input, detection);

    // The per-metric estimates and layer 1.
    let mut checks: Vec<MetricCheck> = Vec::with_capacity(Metric::ALL.len());
    let mut testable: Vec<usize> = Vec::new();
    let mut variances: BTreeMap<Metric, f64> = BTreeMap::new();
    for m in Metric::ALL {
        let ms = next.metrics.entry(m).or_default();
        let threshold = detection.threshold(m);
        let mut mc = MetricCheck {
            metric: m,
            primary: m == input.primary,
            control: None,
            treatment: None,
            difference: None,
            pre_period_adjusted: false,
            drift_adjusted: false,
            unpaired: false,
            worsening: None,
            threshold,
            consecutive: 0,
            interval: None,
            p_value: None,
            p_running: ms.harm_min_p,
            p_adjusted: None,
            margin: None,
            p_difference: None,
            p_improvement: ms.gain_min_p,
            breach_p: None,
            harm_upper: None,
            mde: None,
            pre_shift: shifts.get(&m).cloned(),
            decision: MetricDecision::InsufficientData,
            why: String::new(),
        };
        let Some(e) = effect(input, m, min_units) else {
            ms.consecutive = 0;
            let (cx, tx) = (sums(input.control, m).sum_x, sums(input.treatment, m).sum_x);
            if cx <= 0.0 && tx <= 0.0 {
                mc.decision = MetricDecision::NotReported;
                mc.why = "no observations on either side".to_owned();
            } else if cx <= 0.0 || tx <= 0.0 {
                mc.why = format!(
                    "no observations on the {} side",
                    if cx <= 0.0 { "control" } else { "treatment" }
                );
            } else {
                mc.why = "fewer than two agents observed in every window compared".to_owned();
            }
            checks.push(mc);
            continue;
        };
        let (c, t) = (e.base, e.treated);
        mc.control = Some(c);
        mc.treatment = Some(t);
        if c.observations < min_obs || t.observations < min_obs {
            ms.consecutive = 0;
            mc.why = format!(
                "{} and {} observations; at least {min_obs} per side are needed",
                c.observations, t.observations
            );
            checks.push(mc);
            continue;
        }
        mc.decision = MetricDecision::Ok;
        // Discrete outcomes can show no spread at all on a short window (every agent succeeded
        // at its one task): never less variance than the outcomes' own noise.
        let variance = e.variance.max(noise_floor(input, m, &e));
        let diff = e.diff;
        mc.difference = Some(diff);
        mc.pre_period_adjusted = e.pre_period;
        mc.drift_adjusted = e.drift;
        mc.unpaired = !e.paired;
        mc.worsening = m.worsening(c.ratio, c.ratio + diff);
        if variance.is_finite() {
            let sd = variance.sqrt();
            mc.harm_upper = Some(harm(m, diff) + z_upper(detection.alpha) * sd);
            mc.mde = Some(detectable_effect(variance, detection.alpha));
        }
        variances.insert(m, variance);
        let tau2 = ms
            .tau2
            .or_else(|| mixing_variance(detection, m, c.ratio, t.ratio));
        mc.breach_p = credible(diff, variance, tau2, detection.alpha, c.units.min(t.units));
        if c.units >= min_units && t.units >= min_units {
            testable.push(checks.len());
        } else {
            mc.why = format!(
                "statistical test needs {min_units} agents per side, has {} and {}",
                c.units, t.units
            );
        }
        checks.push(mc);
    }

    // Layer 1: the breaches whose difference is credible, Holm-adjusted over the metrics (one
    // look's mSPRT p-value is valid whenever one looks; the metrics are several).
    let with_p: Vec<usize> = (0..checks.len())
        .filter(|&i| checks[i].breach_p.is_some())
        .collect();
    let raw: Vec<f64> = with_p
        .iter()
        .map(|&i| checks[i].breach_p.unwrap_or(1.0))
        .collect();
    let mut breach_adjusted: BTreeMap<usize, f64> = BTreeMap::new();
    for (&i, adj) in with_p.iter().zip(holm(&raw)) {
        breach_adjusted.insert(i, adj);
    }
    for (i, mc) in checks.iter_mut().enumerate() {
        if mc.decision != MetricDecision::Ok {
            continue;
        }
        let ms = next.metrics.entry(mc.metric).or_default();
        let (Some(c), Some(diff)) = (mc.control, mc.difference) else {
            continue;
        };
        let m = mc.metric;
        let threshold = mc.threshold;
        let now = format!(
            "{} {} → {} ({}{})",
            m,
            fmt_num(c.ratio),
            fmt_num(c.ratio + diff),
            pct(diff / c.ratio.abs().max(f64::MIN_POSITIVE)),
            match (mc.drift_adjusted, mc.unpaired) {
                (true, false) => ", adjusted for drift",
                (true, true) => ", adjusted for drift, each window over all its agents",
                (false, true) => ", each window over all its agents",
                (false, false) => "",
            }
        );
        let prefix = std::mem::take(&mut mc.why);
        let credible = breach_adjusted
            .get(&i)
            .is_some_and(|p| *p < detection.alpha);
        mc.why = match mc.worsening {
            None => {
                ms.consecutive = 0;
                "zero baseline: a relative change is undefined; left to the statistical test"
                    .to_owned()
            }
            Some(w) if w > threshold && !credible => {
                ms.consecutive = 0;
                format!(
                    "{now}: {:+.1} % worse, over the {:.1} % threshold but not distinguishable from noise yet ({})",
                    w * 100.0,
                    threshold * 100.0,
                    match breach_adjusted.get(&i) {
                        Some(p) => format!("adjusted p = {p:.3} in this check"),
                        None => "too few agents to estimate the variance".to_owned(),
                    }
                )
            }
            Some(w) if w > threshold => {
                ms.consecutive += 1;
                let catastrophic = w > threshold * detection.catastrophic_factor;
                mc.decision = if catastrophic || ms.consecutive >= detection.consecutive_breaches {
                    MetricDecision::ThresholdRegression
                } else {
                    MetricDecision::Breaching
                };
                format!(
                    "{now}: {:+.1} % worse, threshold {:.1} %{}; breached {} check(s) in a row",
                    w * 100.0,
                    threshold * 100.0,
                    if catastrophic {
                        format!(
                            " (catastrophic: over {}× the threshold)",
                            detection.catastrophic_factor
                        )
                    } else {
                        String::new()
                    },
                    ms.consecutive
                )
            }
            Some(w) => {
                ms.consecutive = 0;
                format!(
                    "{now}: {:+.1} % worse, within the {:.1} % threshold",
                    w * 100.0,
                    threshold * 100.0
                )
            }
        };
        if !prefix.is_empty() {
            mc.why.push_str("; ");
            mc.why.push_str(&prefix);
        }
        mc.consecutive = ms.consecutive;
    }

    // Layer 2.
    let run_stats = match detection.method {
        RegressionMethod::Sequential => true,
        RegressionMethod::FixedHorizon => input.final_check,
    };
    let mut tested: Vec<usize> = Vec::new();
    if run_stats {
        for &i in &testable {
            let mc = &mut checks[i];
            let (Some(c), Some(t), Some(diff)) = (mc.control, mc.treatment, mc.difference) else {
                continue;
            };
            let ms = next.metrics.entry(mc.metric).or_default();
            let variance = variances.get(&mc.metric).copied().unwrap_or(f64::INFINITY);
            let p = match detection.method {
                RegressionMethod::Sequential => {
                    sequential_p(mc, ms, c, t, diff, variance, detection)
                }
                RegressionMethod::FixedHorizon => {
                    let margin = margin_for(detection, mc.metric, c.ratio, t.ratio);
                    mc.margin = Some(margin);
                    fixed_horizon_p(mc, c, t, diff, variance, margin, detection)
                }
            };
            if p.is_some() {
                tested.push(i);
            }
        }
        let raw: Vec<f64> = tested
            .iter()
            .map(|&i| {
                let mc = &checks[i];
                mc.p_running.or(mc.p_value).unwrap_or(1.0)
            })
            .collect();
        for (&i, adj) in tested.iter().zip(holm(&raw)) {
            let mc = &mut checks[i];
            mc.p_adjusted = Some(adj);
            let worse = mc
                .difference
                .is_some_and(|d| harm(mc.metric, d) > mc.margin.unwrap_or(0.0));
            let tolerated = mc.margin.map_or_else(String::new, |m| {
                format!(" by more than the tolerated {}", fmt_num(m))
            });
            if adj < detection.alpha && worse {
                if mc.decision != MetricDecision::ThresholdRegression {
                    mc.decision = MetricDecision::StatisticalRegression;
                }
                mc.why.push_str(&format!(
                    "; significantly worse{tolerated} (adjusted p = {adj:.2e} < {})",
                    detection.alpha
                ));
            } else {
                mc.why.push_str(&format!(
                    "; worse{tolerated}: adjusted p = {adj:.3} ({} tested)",
                    tested.len()
                ));
            }
        }
    }
    for mc in &mut checks {
        if let Some(s) = &mc.pre_shift
            && s.flagged
        {
            mc.why.push_str(&format!(
                "; a shift of {} began before the rollout (the day before the start against the same hours a week earlier, adjusted p = {:.2e}): not attributed to the change",
                s.relative.map_or_else(|| fmt_num(s.difference), pct),
                s.p_adjusted
            ));
        }
    }

    let decision = decide(
        input,
        detection,
        &checks,
        &tested,
        next.sample_ratio_mismatch,
        &sample_ratio,
    );
    (
        CheckOutcome {
            metrics: checks,
            sample_ratio,
            decision,
        },
        next,
    )
}

/// Before/after: the shift of each metric in the day before the start, against the same hours
/// one week earlier (and adjusted for the drift from two weeks earlier, as the comparison is),
/// tested two-sided and Holm-adjusted over the metrics. A shift that is significant and larger
/// than the tolerated margin began before the rollout; the change must not be blamed for it.
fn pre_shifts(input: &CheckInput<'_>, detection: &Detection) -> BTreeMap<Metric, ShiftCheck> {
    let mut out = BTreeMap::new();
    let Some(pre) = input
        .pre_shift
        .filter(|_| input.design == Design::BeforeAfter)
    else {
        return out;
    };
    let drift = !input.prior.is_empty() && !pre.week2.is_empty();
    let shifted = CheckInput {
        treatment: pre.recent,
        control: pre.week1,
        prior: if drift { pre.week2 } else { &[] },
        pre_shift: None,
        ..*input
    };
    let mut found: Vec<(Metric, f64, f64, Option<f64>, f64)> = Vec::new();
    for m in Metric::ALL {
        let Some(e) = effect(&shifted, m, f64::from(detection.min_data_points)) else {
            continue;
        };
        if f64::from(detection.min_data_points) > e.base.units {
            continue;
        }
        let v = e.variance;
        if !(v.is_finite() && v > 0.0) {
            continue;
        }
        let p = t_two_sided(e.diff / v.sqrt(), e.base.units);
        let rel = (e.base.ratio != 0.0).then(|| e.diff / e.base.ratio.abs());
        let margin = margin_for(detection, m, e.base.ratio, e.treated.ratio);
        found.push((m, e.diff, p, rel, margin));
    }
    let raw: Vec<f64> = found.iter().map(|f| f.2).collect();
    for ((m, diff, _, rel, margin), adj) in found.into_iter().zip(holm(&raw)) {
        out.insert(
            m,
            ShiftCheck {
                difference: diff,
                relative: rel,
                p_adjusted: adj,
                flagged: adj < detection.alpha * PRE_SHIFT_ALPHA_SHARE && diff.abs() > margin,
                harmful: harm(m, diff) > 0.0,
            },
        );
    }
    out
}

/// The mSPRT look for one metric: the one-sided test of harm beyond the margin (returned, its
/// running minimum kept), the one-sided test of an improvement beyond the minimum effect (its
/// running minimum kept, for the primary metric's win) and the two-sided test of any
/// difference (its running minimum kept, its confidence sequence reported). Fixes τ² and the
/// margin on first use.
fn sequential_p(
    mc: &mut MetricCheck,
    ms: &mut MetricState,
    c: RatioEstimate,
    t: RatioEstimate,
    diff: f64,
    variance: f64,
    detection: &Detection,
) -> Option<f64> {
    if !variance.is_finite() {
        mc.why.push_str("; variance unknown");
        return None;
    }
    let tau2 = match ms.tau2 {
        Some(t2) => t2,
        None => match mixing_variance(detection, mc.metric, c.ratio, t.ratio) {
            Some(t2) => {
                ms.tau2 = Some(t2);
                t2
            }
            None => {
                // Both sides are exactly zero: nothing differs.
                mc.p_value = Some(1.0);
                mc.p_running = Some(ms.harm_min_p.unwrap_or(1.0));
                mc.p_difference = Some(ms.min_p.unwrap_or(1.0));
                return mc.p_running;
            }
        },
    };
    let margin = *ms
        .margin
        .get_or_insert_with(|| margin_for(detection, mc.metric, c.ratio, t.ratio));
    mc.margin = Some(margin);
    let min_gain = detection.improvement_threshold.max(0.0) * c.ratio.abs();
    let excess = harm(mc.metric, diff) - margin;
    let gain_excess = -harm(mc.metric, diff) - min_gain;
    let (p_any, p_harm, p_gain) = if variance <= 0.0 {
        // Every agent on both sides has the same ratio: the difference is exact.
        (
            if diff == 0.0 { 1.0 } else { 0.0 },
            if excess > 0.0 { 0.0 } else { 1.0 },
            if gain_excess > 0.0 { 0.0 } else { 1.0 },
        )
    } else {
        match msprt_mixture(diff, variance, tau2, detection.alpha, &stats::TAU_SCALES) {
            Ok(r) => {
                mc.interval = Some(r.interval);
                (
                    r.p_value,
                    harm_msprt_p(excess, variance, tau2),
                    harm_msprt_p(gain_excess, variance, tau2),
                )
            }
            Err(e) => {
                mc.why.push_str(&format!("; sequential test: {e}"));
                return None;
            }
        }
    };
    let any = ms.min_p.map_or(p_any, |m| m.min(p_any));
    ms.min_p = Some(any);
    mc.p_difference = Some(any);
    let gain = ms.gain_min_p.map_or(p_gain, |m| m.min(p_gain));
    ms.gain_min_p = Some(gain);
    mc.p_improvement = Some(gain);
    mc.p_value = Some(p_harm);
    let running = ms.harm_min_p.map_or(p_harm, |m| m.min(p_harm));
    ms.harm_min_p = Some(running);
    mc.p_running = Some(running);
    Some(running)
}

/// The one-sided always-valid p-value of harm beyond the margin, `min(1, 1/Λ)`, for an
/// estimated excess worsening `z = harm − margin` with variance `V`: the likelihood ratio of
/// "worse by more than the margin" against "worse by exactly the margin", mixed over
/// half-normals on the positive side of scales `τ`, `3τ` and `10τ`
/// ([`stats::one_sided_mixture_p`], [`stats::TAU_SCALES`]); each component
///
/// ```text
/// Λ₊(τ) = 2 sqrt(V / (V + τ²)) · exp(a² / 2) · Φ(a),   a = z τ / sqrt(V (V + τ²))
/// ```
///
/// is a nonnegative supermartingale under every null "worse by at most the margin", so Ville's
/// inequality keeps the running minimum of the mixture's p-value always valid. For `z ≤ 0` (the
/// estimate within the margin, or an improvement) there is no evidence, whatever the earlier
/// looks. The same test on the improvement beyond the minimum effect gives the win's p-value.
fn harm_msprt_p(excess: f64, variance: f64, tau2: f64) -> f64 {
    stats::one_sided_mixture_p(excess, variance, tau2, &stats::TAU_SCALES)
}

/// The fixed-horizon test, once at the final check, on the same estimate and variance as the
/// sequential one: Student's t with `n − 1` degrees of freedom (`n` the smaller side's agents),
/// one-sided for harm beyond the margin (returned) and for an improvement beyond the minimum
/// effect, two-sided for any difference.
fn fixed_horizon_p(
    mc: &mut MetricCheck,
    c: RatioEstimate,
    t: RatioEstimate,
    diff: f64,
    variance: f64,
    margin: f64,
    detection: &Detection,
) -> Option<f64> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if !variance.is_finite() {
        mc.why.push_str("; variance unknown");
        return None;
    }
    let df = (c.units.min(t.units) - 1.0).max(1.0);
    let min_gain = detection.improvement_threshold.max(0.0) * c.ratio.abs();
    let excess = harm(mc.metric, diff) - margin;
    let gain_excess = -harm(mc.metric, diff) - min_gain;
    let (p_any, p_harm, p_gain) = if variance <= 0.0 {
        (
            if diff == 0.0 { 1.0 } else { 0.0 },
            if excess > 0.0 { 0.0 } else { 1.0 },
            if gain_excess > 0.0 { 0.0 } else { 1.0 },
        )
    } else {
        let Ok(dist) = StudentsT::new(0.0, 1.0, df) else {
            mc.why.push_str("; t distribution unavailable");
            return None;
        };
        let sd = variance.sqrt();
        let half = dist.inverse_cdf(1.0 - detection.alpha / 2.0) * sd;
        mc.interval = Some((diff - half, diff + half));
        (
            2.0 * dist.sf(diff.abs() / sd),
            dist.sf(excess / sd),
            dist.sf(gain_excess / sd),
        )
    };
    mc.p_difference = Some(p_any);
    mc.p_improvement = Some(p_gain);
    mc.p_value = Some(p_harm);
    Some(p_harm)
}

/// The worsening of metric `m` in its own units for an effect `diff` (treatment − control):
/// positive when the treatment is worse.
fn harm(m: Metric, diff: f64) -> f64 {
    if m.higher_is_worse() { diff } else { -diff }
}

/// The non-inferiority margin of metric `m`: `tolerance × threshold × |baseline|` (the
/// treatment's estimate for a zero baseline).
fn margin_for(detection: &Detection, m: Metric, c: f64, t: f64) -> f64 {
    let scale = if c != 0.0 { c } else { t };
    (detection.tolerance.max(0.0) * detection.threshold(m) * scale.abs()).max(0.0)
}

/// The sample-ratio check of the agent, the randomisation unit: of each group's assigned
/// agents, how many reported a task in the window? Fisher's exact test of the 2×2 table
/// (reporting / silent × control / treatment), two-sided. The groups are sized exactly, so a
/// mismatch means agents went silent unevenly (a change that stops its agents from working, a
/// broken pipeline for one group): the comparison of the rest may be biased.
fn sample_ratio_check(input: &CheckInput<'_>, detection: &Detection) -> Option<SampleRatioCheck> {
    let sr = input.sample_ratio?;
    let active = |g: &[AgentSums]| g.iter().filter(|a| a.tasks > 0.0).count();
    let (ac, at) = (active(input.control), active(input.treatment));
    let (nc, nt) = (sr.control_agents.max(ac), sr.treatment_agents.max(at));
    if nc + nt == 0 || ac + at == 0 {
        return None;
    }
    let share = nt as f64 / (nc + nt) as f64;
    let p = fisher_exact_two_sided([ac, nc - ac], [at, nt - at]);
    let chi = chi_square_2x2([ac as f64, (nc - ac) as f64], [at as f64, (nt - at) as f64])
        .map_or(0.0, |(c, _)| c);
    Some(SampleRatioCheck {
        observed: (ac as f64, at as f64),
        expected_treatment_share: share,
        basis: format!("agents reporting of {nc} control and {nt} treatment agents assigned"),
        chi_square: chi,
        p_value: p,
        mismatch: p < detection.sample_ratio_p_value,
    })
}

/// Fisher's exact test, two-sided, of the 2×2 table with rows `a` and `b`: the probability,
/// under independence with the margins fixed, of a table at most as likely as the observed.
fn fisher_exact_two_sided(a: [usize; 2], b: [usize; 2]) -> f64 {
    use statrs::function::factorial::ln_binomial;
    let (r1, r2) = ((a[0] + a[1]) as u64, (b[0] + b[1]) as u64);
    let c1 = (a[0] + b[0]) as u64;
    let n = r1 + r2;
    if n == 0 {
        return 1.0;
    }
    let ln_p = |x: u64| ln_binomial(r1, x) + ln_binomial(r2, c1 - x) - ln_binomial(n, c1);
    let lo = c1.saturating_sub(r2);
    let hi = c1.min(r1);
    let observed = ln_p(a[0] as u64);
    let mut p = 0.0;
    for x in lo..=hi {
        let lp = ln_p(x);
        if lp <= observed + 1e-9 {
            p += lp.exp();
        }
    }
    p.min(1.0)
}

/// The mSPRT mixing variance for metric `m`: the threshold × the baseline (or, for a zero
/// baseline, the treatment) estimate, squared; `None` when both are zero.
fn mixing_variance(detection: &Detection, m: Metric, c: f64, t: f64) -> Option<f64> {
    let scale = if c != 0.0 { c } else { t };
    let tau = detection.threshold(m).max(0.01) * scale.abs();
    (tau > 0.0).then_some(tau * tau)
}

/// Whether a difference is credible in this look alone, so that the threshold layer does not
/// act on noise: the mixture mSPRT p-value of the look (valid at every look), and never below
/// Student's t p-value with `units − 1` degrees of freedom (`units` the smaller side's agents):
/// a variance estimated from a handful of agents is itself noisy, and the normal mixture would
/// take it at face value.
fn credible(diff: f64, variance: f64, tau2: Option<f64>, alpha: f64, units: f64) -> Option<f64> {
    if !variance.is_finite() {
        return None;
    }
    if variance <= 0.0 {
        return Some(if diff == 0.0 { 1.0 } else { 0.0 });
    }
    let tau2 = tau2?;
    let p = msprt_mixture(diff, variance, tau2, alpha, &stats::TAU_SCALES)
        .ok()
        .map(|r| r.p_value)?;
    Some(p.max(t_two_sided(diff / variance.sqrt(), units)))
}

/// The two-sided p-value of a t statistic with `units − 1` degrees of freedom (at least one).
fn t_two_sided(t: f64, units: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let df = (units - 1.0).max(1.0);
    StudentsT::new(0.0, 1.0, df).map_or(1.0, |d| (2.0 * d.sf(t.abs())).min(1.0))
}

/// A final check "leans" toward harm when the fixed-horizon one-sided p-value of a worsening
/// beyond the tolerated margin (normal, on the same estimate and variance) is below this:
/// evidence the always-valid test is too cautious to act on, but too much to apply on.
const LEAN_P: f64 = 0.1;

/// The final verdict's gate, over the metrics with an estimate: (not cleared, leaning toward
/// harm, not measurable).
///
/// * Not cleared: the upper one-sided (1 − α) bound of the worsening exceeds the threshold, for
///   every metric the window could measure (minimum detectable effect at 80 % power within
///   the threshold).
/// * Leaning toward harm: the estimate is worse than the tolerated margin with a fixed-horizon
///   one-sided p-value below [`LEAN_P`], Holm-adjusted over the metrics (any metric,
///   measurable or not).
/// * Not measurable: a metric whose detectable effect exceeds its threshold (named in the
///   verdict); an unmeasurable primary metric that does not even look better is not cleared.
fn gate(checks: &[MetricCheck], alpha: f64) -> [Vec<&MetricCheck>; 3] {
    use statrs::distribution::{ContinuousCDF, Normal};
    let z = z_upper(alpha);
    let (mut open, mut leaning, mut blind) = (Vec::new(), Vec::new(), Vec::new());
    for mc in checks {
        let (Some(c), Some(d), Some(upper), Some(mde)) =
            (mc.control, mc.difference, mc.harm_upper, mc.mde)
        else {
            continue;
        };
        let limit = mc.threshold * c.ratio.abs();
        if limit <= 0.0 {
            continue;
        }
        let worse = harm(mc.metric, d);
        let sd = (upper - worse) / z;
        let excess = worse - mc.margin.unwrap_or(0.0);
        let p_lean = if sd > 0.0 {
            Normal::standard().sf(excess / sd)
        } else if excess > 0.0 {
            0.0
        } else {
            1.0
        };
        leaning.push((mc, p_lean));
        if mde > limit {
            // Not measurable at this size and window: named in the verdict. The primary
            // metric must at least point to an improvement: a change is never applied on a
            // primary metric that could not be measured and did not even look better.
            if mc.primary && worse >= 0.0 {
                open.push(mc);
            } else {
                blind.push(mc);
            }
        } else if upper > limit {
            open.push(mc);
        }
    }
    // Holm over the metrics: data that lean toward harm on some metric, family-wise at LEAN_P.
    let raw: Vec<f64> = leaning.iter().map(|(_, p)| *p).collect();
    let lean = leaning
        .iter()
        .zip(holm(&raw))
        .filter(|(_, adj)| *adj < LEAN_P)
        .map(|((mc, _), _)| *mc)
        .collect();
    [open, lean, blind]
}

fn relative(mc: &MetricCheck, x: f64) -> String {
    match mc.control {
        Some(c) if c.ratio != 0.0 => pct(x / c.ratio.abs()),
        _ => fmt_num(x),
    }
}

/// The primary metric's effect with its interval, in words.
fn primary_effect(mc: &MetricCheck) -> String {
    let (Some(c), Some(d)) = (mc.control, mc.difference) else {
        return format!("{}: {}", mc.metric, mc.why);
    };
    let interval = mc.interval.map_or_else(String::new, |(lo, hi)| {
        format!(" (interval {} to {})", relative(mc, lo), relative(mc, hi))
    });
    format!(
        "{} {} → {}: {}{interval}",
        mc.metric,
        fmt_num(c.ratio),
        fmt_num(c.ratio + d),
        relative(mc, d)
    )
}

fn decide(
    input: &CheckInput<'_>,
    detection: &Detection,
    checks: &[MetricCheck],
    tested: &[usize],
    mismatch: bool,
    sample_ratio: &Option<SampleRatioCheck>,
) -> CheckDecision {
    // A shift in the harmful direction that began before the rollout is not the change's doing.
    let attributable = |mc: &MetricCheck| {
        !mc.pre_shift
            .as_ref()
            .is_some_and(|s| s.flagged && s.harmful)
    };
    let threshold: Vec<&MetricCheck> = checks
        .iter()
        .filter(|mc| mc.decision == MetricDecision::ThresholdRegression && attributable(mc))
        .collect();
    if !threshold.is_empty() {
        return CheckDecision::RollBack {
            layer: Layer::Threshold,
            metrics: threshold.iter().map(|mc| mc.metric).collect(),
            reason: join_why(&threshold),
        };
    }
    let statistical: Vec<&MetricCheck> = checks
        .iter()
        .filter(|mc| mc.decision == MetricDecision::StatisticalRegression && attributable(mc))
        .collect();
    if !statistical.is_empty() {
        return CheckDecision::RollBack {
            layer: Layer::Statistical,
            metrics: statistical.iter().map(|mc| mc.metric).collect(),
            reason: join_why(&statistical),
        };
    }
    if !input.final_check {
        return CheckDecision::Continue;
    }
    let Some(primary) = checks.iter().find(|mc| mc.metric == input.primary) else {
        return CheckDecision::Inconclusive {
            reason: format!("the primary metric {} was not measured", input.primary),
        };
    };
    let primary_tested = tested.iter().any(|&i| checks[i].metric == input.primary);
    if !primary_tested {
        return CheckDecision::Inconclusive {
            reason: format!(
                "not enough data to test the primary metric {} ({})",
                primary.metric, primary.why
            ),
        };
    }
    let shifted: Vec<String> = checks
        .iter()
        .filter_map(|mc| {
            let s = mc.pre_shift.as_ref().filter(|s| s.flagged)?;
            Some(format!(
                "{} {}",
                mc.metric,
                s.relative.map_or_else(|| fmt_num(s.difference), pct)
            ))
        })
        .collect();
    if !shifted.is_empty() {
        return CheckDecision::Hold {
            reason: format!(
                "a shift that began before the rollout ({}) makes a before/after verdict unreliable; a human decides",
                shifted.join(", ")
            ),
        };
    }
    if mismatch {
        let detail = sample_ratio
            .as_ref()
            .map(|s| {
                format!(
                    " (agents reporting: control {} / treatment {}, p = {:.2e})",
                    s.observed.0, s.observed.1, s.p_value
                )
            })
            .unwrap_or_default();
        return CheckDecision::Hold {
            reason: format!(
                "sample ratio mismatch{detail}: the groups' agents did not report alike, so no automatic apply; a human decides"
            ),
        };
    }
    let [open, lean, blind] = gate(checks, detection.alpha);
    if !lean.is_empty() {
        return CheckDecision::Hold {
            reason: format!(
                "the data lean toward a worsening beyond the tolerated margin, without the evidence to roll back: {}; extend the window or decide",
                lean.iter()
                    .map(|mc| format!(
                        "{} {} (tolerated {})",
                        mc.metric,
                        relative(mc, harm(mc.metric, mc.difference.unwrap_or(0.0))),
                        relative(mc, mc.margin.unwrap_or(0.0))
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    if !open.is_empty() {
        return CheckDecision::Hold {
            reason: format!(
                "not enough evidence to rule out a worsening beyond the threshold: {}; extend the window or decide",
                open.iter()
                    .map(|mc| format!(
                        "{} up to {} worse (threshold {:.1} %)",
                        mc.metric,
                        relative(mc, mc.harm_upper.unwrap_or(0.0)),
                        mc.threshold * 100.0
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    let caveat = if blind.is_empty() {
        String::new()
    } else {
        format!(
            "; not measurable at this size and window (detectable worsening): {}",
            blind
                .iter()
                .map(|mc| format!("{} {}", mc.metric, relative(mc, mc.mde.unwrap_or(0.0))))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // Before/after cannot tell an improvement from the weeks' other changes: it applies and
    // reports the effect, it never claims a win.
    let won = input.design != Design::BeforeAfter
        && primary.p_improvement.is_some_and(|p| p < detection.alpha);
    let design_note = match input.design {
        Design::BeforeAfter if primary.drift_adjusted => {
            "; before/after: compared with the same hours one week earlier, adjusted for the drift from two weeks earlier — anything else that changed in that time is attributed to the change"
        }
        Design::BeforeAfter => {
            "; before/after: compared with the same hours one week earlier, NOT adjusted for drift (no data two weeks back) — any trend and anything else that changed in that time is attributed to the change"
        }
        _ => "",
    };
    let effect = primary_effect(primary);
    if won {
        return CheckDecision::Apply {
            improved: true,
            reason: format!(
                "{effect}: better by more than {:.1} % (p = {:.2e}), no guardrail harmed{caveat}{design_note}",
                detection.improvement_threshold * 100.0,
                primary.p_improvement.unwrap_or(1.0)
            ),
        };
    }
    match input.design {
        Design::AbTest => CheckDecision::Inconclusive {
            reason: format!(
                "no clear winner: {effect} (needs better by more than {:.1} % with p < {}){caveat}",
                detection.improvement_threshold * 100.0,
                detection.alpha
            ),
        },
        Design::BeforeAfter | Design::Canary => CheckDecision::Apply {
            improved: false,
            reason: format!(
                "no regression over the window ({} metric(s) tested); {effect}{caveat}{design_note}",
                tested.len()
            ),
        },
    }
}

fn join_why(checks: &[&MetricCheck]) -> String {
    checks
        .iter()
        .map(|mc| mc.why.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KaizenConfig;

    fn detection() -> Detection {
        let c = KaizenConfig::default();
        Detection::from_config(
            &c.self_improvement.regression,
            &c.self_improvement.rollout.ab_test,
        )
    }

    /// `n` agents with `tasks` tasks each, quality around `quality` (±`spread`, deterministic),
    /// 90 % success, `cost` USD per task, `errors` findings per task.
    fn group(prefix: &str, n: usize, tasks: f64, quality: f64, spread: f64) -> Vec<AgentSums> {
        (0..n)
            .map(|i| {
                let q = quality + spread * ((i % 5) as f64 - 2.0) / 2.0;
                AgentSums {
                    agent_id: format!("{prefix}-{i}"),
                    tasks,
                    successes: (tasks * 0.9).round(),
                    scored: tasks,
                    quality_sum: q * tasks,
                    cost_usd: 0.05 * tasks,
                    errors: 0.05 * tasks,
                }
            })
            .collect()
    }

    /// `g` with each agent's sums moved to the id `k` places on: the levels shuffled against a
    /// baseline of the same ids, a noisy paired change.
    fn rotated(mut g: Vec<AgentSums>, prefix: &str, k: usize) -> Vec<AgentSums> {
        let n = g.len();
        for (i, a) in g.iter_mut().enumerate() {
            a.agent_id = format!("{prefix}-{}", (i + k) % n);
        }
        g
    }

    fn run(
        design: Design,
        control: &[AgentSums],
        treatment: &[AgentSums],
        final_check: bool,
        d: &Detection,
        state: &DetectorState,
    ) -> (CheckOutcome, DetectorState) {
        check(
            &CheckInput {
                design,
                control,
                treatment,
                control_before: &[],
                treatment_before: &[],
                prior: &[],
                pre_shift: None,
                primary: Metric::Quality,
                final_check,
                sample_ratio: None,
            },
            d,
            state,
        )
    }

    fn metric(o: &CheckOutcome, m: Metric) -> &MetricCheck {
        o.metrics
            .iter()
            .find(|x| x.metric == m)
            .unwrap_or_else(|| panic!("no {m}"))
    }

    #[test]
    fn window_change_pairs_agents_and_states_an_interval() {
        let before = group("a", 12, 40.0, 7.0, 0.4);
        let after = rotated(group("a", 12, 40.0, 6.0, 0.4), "a", 3);
        let c = window_change(&before, &after, Metric::Quality, 10.0).unwrap();
        assert!(c.paired && c.units == 12, "{c:?}");
        assert!((c.diff - (c.after - c.before)).abs() < 1e-12);
        assert!((c.diff + 1.0).abs() < 0.2, "{c:?}");
        let (lo, hi) = c.interval(0.95).unwrap();
        assert!(lo < c.diff && c.diff < hi && hi < 0.0, "{lo} {hi}");
        // Other agents after: each window pooled on its own.
        let others = group("b", 12, 40.0, 6.0, 0.4);
        let u = window_change(&before, &others, Metric::Quality, 10.0).unwrap();
        assert!(!u.paired, "{u:?}");
        assert_eq!(window_change(&before, &[], Metric::Quality, 10.0), None);
    }

    #[test]
    fn no_change_applies_at_the_end_and_continues_before() {
        let d = detection();
        let c = group("a", 20, 40.0, 7.0, 0.6);
        let (mid, s) = run(
            Design::BeforeAfter,
            &c,
            &c,
            false,
            &d,
            &DetectorState::default(),
        );
        assert_eq!(mid.decision, CheckDecision::Continue);
        let (end, _) = run(Design::BeforeAfter, &c, &c, true, &d, &s);
        assert!(
            matches!(
                end.decision,
                CheckDecision::Apply {
                    improved: false,
                    ..
                }
            ),
            "{:?}",
            end.decision
        );
        let q = metric(&end, Metric::Quality);
        assert_eq!(q.decision, MetricDecision::Ok);
        assert_eq!(q.worsening, Some(0.0));
        assert!(q.p_adjusted.is_some_and(|p| p >= 0.05));
    }

    #[test]
    fn a_threshold_breach_needs_two_checks_in_a_row() {
        let d = detection();
        let c = group("a", 20, 40.0, 7.0, 0.6);
        // 15 % worse quality: over the 10 % threshold, under 3 × 10 %.
        let t = group("a", 20, 40.0, 7.0 * 0.85, 0.6);
        let (first, s1) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&first, Metric::Quality);
        assert_eq!(q.consecutive, 1);
        assert!(matches!(
            q.decision,
            MetricDecision::Breaching | MetricDecision::StatisticalRegression
        ));
        // An interval back to normal resets the count.
        let (ok, s2) = run(Design::BeforeAfter, &c, &c, false, &d, &s1);
        assert_eq!(metric(&ok, Metric::Quality).consecutive, 0);
        assert_eq!(s2.metrics[&Metric::Quality].consecutive, 0);
        // Two in a row act, even when layer 2 is switched off (fixed horizon, mid-window).
        let fixed = Detection {
            method: RegressionMethod::FixedHorizon,
            ..detection()
        };
        let (a, s3) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &fixed,
            &DetectorState::default(),
        );
        assert_eq!(a.decision, CheckDecision::Continue);
        let (b, _) = run(Design::BeforeAfter, &c, &t, false, &fixed, &s3);
        match &b.decision {
            CheckDecision::RollBack {
                layer,
                metrics,
                reason,
            } => {
                assert_eq!(*layer, Layer::Threshold);
                assert_eq!(metrics, &vec![Metric::Quality]);
                assert!(reason.contains("quality 7.000 → 5.950"), "{reason}");
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
    }

    #[test]
    fn a_catastrophic_breach_acts_at_once() {
        let d = Detection {
            method: RegressionMethod::FixedHorizon,
            ..detection()
        };
        let c = group("a", 20, 40.0, 7.0, 0.6);
        let t = group("a", 20, 40.0, 3.5, 0.6); // 50 % worse > 3 × 10 %
        let (o, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        assert!(matches!(
            o.decision,
            CheckDecision::RollBack {
                layer: Layer::Threshold,
                ..
            }
        ));
        assert!(metric(&o, Metric::Quality).why.contains("catastrophic"));
    }

    #[test]
    fn a_zero_baseline_is_left_to_the_statistics() {
        let d = detection();
        let mut c = group("a", 20, 40.0, 7.0, 0.6);
        for a in &mut c {
            a.errors = 0.0;
        }
        let t = group("a", 20, 40.0, 7.0, 0.6);
        let (o, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        let e = metric(&o, Metric::ErrorRate);
        assert_eq!(e.worsening, None);
        assert!(e.why.contains("zero baseline"), "{}", e.why);
        assert_ne!(e.decision, MetricDecision::ThresholdRegression);
    }

    #[test]
    fn too_little_data_is_inconclusive_never_a_pass() {
        let d = detection();
        let c = group("a", 20, 0.4, 7.0, 0.6); // 8 tasks per side < 10
        let (o, _) = run(
            Design::BeforeAfter,
            &c,
            &c,
            true,
            &d,
            &DetectorState::default(),
        );
        assert_eq!(
            metric(&o, Metric::Quality).decision,
            MetricDecision::InsufficientData
        );
        match o.decision {
            CheckDecision::Inconclusive { reason } => {
                assert!(reason.contains("not enough data"), "{reason}")
            }
            other => panic!("expected inconclusive, got {other:?}"),
        }
        // Enough tasks but too few agents for the statistical layer: also inconclusive.
        let few = group("a", 4, 40.0, 7.0, 0.6);
        let (o, _) = run(
            Design::Canary,
            &few,
            &few,
            true,
            &d,
            &DetectorState::default(),
        );
        assert!(matches!(o.decision, CheckDecision::Inconclusive { .. }));
    }

    #[test]
    fn the_sequential_layer_catches_a_drop_below_the_threshold() {
        let d = detection();
        // 7 % worse: under the 10 % threshold, but very consistent across 20 agents.
        let c = group("a", 20, 60.0, 7.0, 0.2);
        let t = group("a", 20, 60.0, 7.0 * 0.93, 0.2);
        let (o, state) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&o, Metric::Quality);
        assert_eq!(
            q.decision,
            MetricDecision::StatisticalRegression,
            "{}",
            q.why
        );
        assert!(q.p_adjusted.is_some_and(|p| p < 0.05));
        assert!(q.interval.is_some_and(|(lo, hi)| lo < hi && hi < 0.0));
        assert!(matches!(
            o.decision,
            CheckDecision::RollBack {
                layer: Layer::Statistical,
                ..
            }
        ));
        // τ² is fixed at the first testable check and kept.
        assert!(state.metrics[&Metric::Quality].tau2.is_some());
        assert_eq!(state.metrics[&Metric::Quality].min_p, q.p_running);
    }

    #[test]
    fn the_fixed_horizon_layer_only_tests_at_the_end() {
        let d = Detection {
            method: RegressionMethod::FixedHorizon,
            ..detection()
        };
        let c = group("a", 20, 60.0, 7.0, 0.2);
        let t = group("a", 20, 60.0, 7.0 * 0.93, 0.2);
        let (mid, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        assert_eq!(mid.decision, CheckDecision::Continue);
        assert!(metric(&mid, Metric::Quality).p_value.is_none());
        let (end, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            true,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&end, Metric::Quality);
        assert!(q.p_value.is_some_and(|p| p < 0.05), "{q:?}");
        assert!(
            q.interval.is_some_and(|(lo, hi)| lo < hi && hi < 0.0),
            "{q:?}"
        );
        assert!(matches!(
            end.decision,
            CheckDecision::RollBack {
                layer: Layer::Statistical,
                ..
            }
        ));
    }

    #[test]
    fn holm_adjusted_p_values_are_never_below_the_running_ones() {
        let d = detection();
        let c = group("a", 20, 60.0, 7.0, 0.6);
        let t = group("a", 20, 60.0, 6.9, 0.6);
        let (o, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        for m in &o.metrics {
            if let (Some(raw), Some(adj)) = (m.p_running, m.p_adjusted) {
                assert!(
                    adj >= raw - 1e-15 && adj <= 1.0,
                    "{}: {raw} → {adj}",
                    m.metric
                );
            }
        }
    }

    #[test]
    fn ab_winner_needs_significance_and_the_improvement_threshold() {
        let d = detection();
        let c = group("c", 10, 60.0, 6.0, 0.2);
        let better = group("t", 10, 60.0, 6.0 * 1.25, 0.2);
        let (o, _) = run(
            Design::AbTest,
            &c,
            &better,
            true,
            &d,
            &DetectorState::default(),
        );
        assert!(
            matches!(o.decision, CheckDecision::Apply { improved: true, .. }),
            "{:?}",
            o.decision
        );
        let slightly = group("t", 10, 60.0, 6.0 * 1.05, 0.2);
        let (o, _) = run(
            Design::AbTest,
            &c,
            &slightly,
            true,
            &d,
            &DetectorState::default(),
        );
        assert!(
            matches!(o.decision, CheckDecision::Inconclusive { .. }),
            "{:?}",
            o.decision
        );
    }

    /// Issue 13: the sample-ratio check counted tasks (an outcome of the change) although
    /// whole agents are randomised, and a flag stopped every statistical rollback. Now it
    /// counts the agents that report, and a flag holds an apply for a human but never blocks
    /// or delays a rollback.
    #[test]
    fn a_sample_ratio_mismatch_holds_an_apply_but_never_blocks_a_rollback() {
        let d = detection();
        let c = group("c", 100, 100.0, 7.0, 0.2);
        // The treatment's agents all report, at half the volume: task volume is an outcome
        // of the change, not a broken randomisation.
        let t = group("t", 100, 50.0, 7.0, 0.2);
        let base = CheckInput {
            design: Design::AbTest,
            control: &c,
            treatment: &t,
            control_before: &[],
            treatment_before: &[],
            prior: &[],
            pre_shift: None,
            primary: Metric::Quality,
            final_check: true,
            sample_ratio: Some(SampleRatio {
                control_agents: 100,
                treatment_agents: 100,
            }),
        };
        let (o, state) = check(&base, &d, &DetectorState::default());
        let sr = o
            .sample_ratio
            .as_ref()
            .unwrap_or_else(|| panic!("no SRM check"));
        assert!(!sr.mismatch, "{sr:?}");
        assert!(!state.sample_ratio_mismatch);
        // 40 of the treatment's 100 agents went silent: a mismatch.
        let silent: Vec<AgentSums> = t.iter().take(60).cloned().collect();
        let input = CheckInput {
            treatment: &silent,
            ..base
        };
        let (o, state) = check(&input, &d, &DetectorState::default());
        let sr = o
            .sample_ratio
            .as_ref()
            .unwrap_or_else(|| panic!("no SRM check"));
        assert!(sr.mismatch && sr.p_value < 0.001, "{sr:?}");
        assert_eq!(sr.observed, (100.0, 60.0));
        assert!(state.sample_ratio_mismatch);
        match &o.decision {
            CheckDecision::Hold { reason } => {
                assert!(reason.contains("sample ratio mismatch"), "{reason}")
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        // A significant worsening beyond the tolerance (below the layer-1 threshold) still
        // rolls back with the flag up, at the first check that shows it.
        let worse: Vec<AgentSums> = group("t", 60, 50.0, 7.0 * 0.94, 0.2);
        let input = CheckInput {
            treatment: &worse,
            final_check: false,
            ..base
        };
        let (o, _) = check(&input, &d, &state);
        assert!(
            matches!(
                o.decision,
                CheckDecision::RollBack {
                    layer: Layer::Statistical,
                    ..
                }
            ),
            "{:?}",
            o.decision
        );
    }

    /// Defect 1: layer 2 tested "any significant worsening". A change that cuts cost by 55 %
    /// for 1.4 % of quality, measured precisely on 200 agents, must be kept: the worsening is
    /// within the tolerance (`tolerance × quality_drop_threshold` = 1.5 %).
    #[test]
    fn a_small_certain_worsening_within_the_tolerance_is_kept() {
        let d = detection();
        let c = group("a", 200, 60.0, 7.0, 0.2);
        let mut t = group("a", 200, 60.0, 7.0 * 0.986, 0.25);
        for a in &mut t {
            a.cost_usd *= 0.45;
        }
        let (mid, s) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&mid, Metric::Quality);
        assert_ne!(
            q.decision,
            MetricDecision::StatisticalRegression,
            "{}",
            q.why
        );
        assert_eq!(mid.decision, CheckDecision::Continue, "{}", q.why);
        assert!(q.margin.is_some_and(|m| (m - 0.015 * 7.0).abs() < 1e-9));
        let (end, _) = run(Design::BeforeAfter, &c, &t, true, &d, &s);
        assert!(
            matches!(end.decision, CheckDecision::Apply { .. }),
            "{:?}",
            end.decision
        );
        // Without a tolerance, the same data is a (statistically certain) regression.
        let strict = Detection {
            tolerance: 0.0,
            ..detection()
        };
        let (o, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            false,
            &strict,
            &DetectorState::default(),
        );
        assert_eq!(
            metric(&o, Metric::Quality).decision,
            MetricDecision::StatisticalRegression
        );
    }

    /// Defect 2: every agent succeeded at its one task after the start; the paired variance
    /// then has no after-side noise and reported p ≈ 1e-10 for 25/25 against 0.875. The
    /// binomial floor keeps the confidence sequence honest: it still covers no effect.
    #[test]
    fn a_tiny_window_without_spread_is_not_certain() {
        let d = detection();
        let before: Vec<AgentSums> = (0..25)
            .map(|i| AgentSums {
                agent_id: format!("a-{i}"),
                tasks: 8.0,
                successes: [6.0, 7.0, 8.0, 7.0][i % 4],
                scored: 8.0,
                quality_sum: 56.0 + (i % 3) as f64,
                cost_usd: 0.4,
                errors: 0.0,
            })
            .collect();
        let after: Vec<AgentSums> = (0..25)
            .map(|i| AgentSums {
                agent_id: format!("a-{i}"),
                tasks: 1.0,
                successes: 1.0,
                scored: 1.0,
                quality_sum: 7.0 + (i % 3) as f64 / 8.0,
                cost_usd: 0.05,
                errors: 0.0,
            })
            .collect();
        let (o, _) = run(
            Design::BeforeAfter,
            &before,
            &after,
            false,
            &d,
            &DetectorState::default(),
        );
        let s = metric(&o, Metric::SuccessRate);
        let (lo, hi) = s
            .interval
            .unwrap_or_else(|| panic!("no interval: {}", s.why));
        assert!(lo < 0.0 && 0.0 < hi, "({lo}, {hi}): {}", s.why);
        assert!(s.p_difference.is_some_and(|p| p > 0.05), "{s:?}");
        let successes: f64 = before.iter().chain(&after).map(|a| a.successes).sum();
        let rate = successes / 225.0;
        let floor = rate * (1.0 - rate) * (1.0 / 200.0 + 1.0 / 25.0);
        let input = CheckInput {
            design: Design::BeforeAfter,
            control: &before,
            treatment: &after,
            control_before: &[],
            treatment_before: &[],
            prior: &[],
            pre_shift: None,
            primary: Metric::Quality,
            final_check: false,
            sample_ratio: None,
        };
        let e = effect(&input, Metric::SuccessRate, 10.0).unwrap_or_else(|| panic!("no effect"));
        let got = noise_floor(&input, Metric::SuccessRate, &e);
        assert!((got - floor).abs() < 1e-12, "{got} vs {floor}");
    }

    /// Defect 3: the running minimum of a two-sided p-value keeps a large early improvement's
    /// p ≈ 0; a later, slight and noisy worsening then counted as a significant regression.
    /// Only evidence of harm may count.
    #[test]
    fn an_early_improvement_does_not_make_a_later_dip_a_regression() {
        let d = detection();
        let c = group("a", 20, 40.0, 7.0, 0.6);
        let better = group("a", 20, 40.0, 7.0 * 1.3, 0.2);
        let (first, s1) = run(
            Design::BeforeAfter,
            &c,
            &better,
            false,
            &d,
            &DetectorState::default(),
        );
        assert_eq!(first.decision, CheckDecision::Continue);
        let q1 = metric(&first, Metric::Quality);
        assert!(q1.p_difference.is_some_and(|p| p < 1e-6), "{q1:?}");
        assert_eq!(q1.p_running, Some(1.0));
        // 4 % worse: beyond the 1.5 % tolerance, but well within the noise of this look.
        // The agents' levels shuffled against the baseline's: a noisy paired change.
        let dip = rotated(group("a", 20, 40.0, 7.0 * 0.96, 0.6), "a", 2);
        let (second, s2) = run(Design::BeforeAfter, &c, &dip, false, &d, &s1);
        let q2 = metric(&second, Metric::Quality);
        assert_eq!(second.decision, CheckDecision::Continue, "{}", q2.why);
        assert!(q2.p_running.is_some_and(|p| p > 0.05), "{q2:?}");
        assert!(s2.metrics[&Metric::Quality].min_p.is_some_and(|p| p < 1e-6));
    }

    #[test]
    fn the_harm_p_value_is_one_sided_and_shrinks_with_evidence() {
        // Within the margin or improving: no evidence, whatever the variance.
        assert_eq!(harm_msprt_p(0.0, 1e-6, 1.0), 1.0);
        assert_eq!(harm_msprt_p(-5.0, 1e-6, 1.0), 1.0);
        let ps: Vec<f64> = [0.5, 1.0, 2.0, 4.0]
            .iter()
            .map(|z| harm_msprt_p(*z, 0.25, 1.0))
            .collect();
        assert!(ps.windows(2).all(|w| w[1] < w[0]), "{ps:?}");
        // Λ₊ = 2 sqrt(V/(V+τ²)) e^{a²/2} Φ(a); for a large excess one scale's one-sided ratio
        // is twice the two-sided one's (Φ → 1).
        let two_sided = crate::rollout::stats::msprt(4.0, 0.25, 1.0, 0.05)
            .map(|r| r.p_value)
            .unwrap_or(1.0);
        let one = stats::one_sided_mixture_p(4.0, 0.25, 1.0, &[(1.0, 1.0)]);
        assert!((one * 2.0 / two_sided - 1.0).abs() < 1e-6);
        // The detector mixes three scales: never more than twice one scale's p-value.
        assert!(harm_msprt_p(4.0, 0.25, 1.0) <= 2.0 * one + 1e-15);
    }

    /// Issue 13: "no evidence of harm" was treated as "safe": a change estimated 3 % worse
    /// against a 1.5 % margin, too little for the always-valid test, was applied. A final
    /// check whose data lean toward a worsening beyond the margin is held for a human.
    #[test]
    fn data_that_lean_toward_harm_are_held_not_applied() {
        let d = detection();
        let before = group("a", 20, 60.0, 7.0, 0.15);
        // 3 % worse, the agents' levels shuffled against the baseline's: a noisy paired change.
        let after = rotated(group("a", 20, 60.0, 7.0 * 0.97, 0.15), "a", 2);
        let (o, _) = run(
            Design::BeforeAfter,
            &before,
            &after,
            true,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&o, Metric::Quality);
        // The always-valid test does not act: not a rollback.
        assert!(q.p_adjusted.is_some_and(|p| p > d.alpha), "{q:?}");
        assert_eq!(q.decision, MetricDecision::Ok, "{q:?}");
        match &o.decision {
            CheckDecision::Hold { reason } => {
                assert!(reason.contains("lean toward a worsening"), "{reason}");
                assert!(reason.contains("quality"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        // The same data without the worsening are applied.
        let same = rotated(group("a", 20, 60.0, 7.0, 0.15), "a", 2);
        let (o, _) = run(
            Design::BeforeAfter,
            &before,
            &same,
            true,
            &d,
            &DetectorState::default(),
        );
        assert!(
            matches!(o.decision, CheckDecision::Apply { .. }),
            "{:?}",
            o.decision
        );
    }

    /// The regression-adjusted comparison never has more variance than the difference in
    /// differences, is the difference in differences with too few agents, and is unbiased.
    #[test]
    fn the_regression_adjustment_only_removes_noise() {
        // Agents whose present follows their past only in part (task noise on top).
        let agent = |prefix: &str, i: usize, shift: f64, noise: f64| AgentSums {
            agent_id: format!("{prefix}-{i}"),
            tasks: 50.0,
            successes: 45.0,
            scored: 50.0,
            quality_sum: 50.0 * (6.0 + 0.1 * (i % 7) as f64 + shift + noise),
            cost_usd: 2.5,
            errors: 2.0,
        };
        let wobble = |i: usize| 0.3 * (((i * 37) % 11) as f64 / 10.0 - 0.5);
        let cb: Vec<AgentSums> = (0..20).map(|i| agent("c", i, 0.0, wobble(i))).collect();
        let ca: Vec<AgentSums> = (0..20).map(|i| agent("c", i, 0.0, wobble(i + 3))).collect();
        let tb: Vec<AgentSums> = (0..20).map(|i| agent("t", i, 0.0, wobble(i + 5))).collect();
        let ta: Vec<AgentSums> = (0..20).map(|i| agent("t", i, 0.5, wobble(i + 1))).collect();
        let fitted =
            cuped((&ca, &cb), (&ta, &tb), Metric::Quality, 10.0).unwrap_or_else(|| panic!("fits"));
        let did =
            cuped((&ca, &cb), (&ta, &tb), Metric::Quality, 100.0).unwrap_or_else(|| panic!("fits"));
        assert_eq!(did.beta, 1.0);
        assert!(fitted.beta > 0.0 && fitted.beta < 1.0, "{}", fitted.beta);
        assert!(
            fitted.variance < did.variance,
            "{} {}",
            fitted.variance,
            did.variance
        );
        // Both estimate the true +0.5 (the groups' pasts differ only by noise).
        assert!((fitted.estimate - 0.5).abs() < 0.1, "{}", fitted.estimate);
        assert!((did.estimate - 0.5).abs() < 0.15, "{}", did.estimate);
        // The difference in differences is each group's paired change, differenced.
        let dc =
            contrast(&[(&ca, 1.0), (&cb, -1.0)], Metric::Quality).unwrap_or_else(|| panic!("c"));
        let dt =
            contrast(&[(&ta, 1.0), (&tb, -1.0)], Metric::Quality).unwrap_or_else(|| panic!("t"));
        assert!((did.estimate - (dt.estimate - dc.estimate)).abs() < 1e-9);
        assert!(
            (did.variance - (dt.variance + dc.variance)).abs() < 1e-9 * did.variance.max(1e-12)
        );
    }

    #[test]
    fn a_state_stored_before_the_margin_still_reads() {
        let old = r#"{"metrics":{"quality":{"consecutive":1,"min_p":1e-9,"tau2":0.49}},"sample_ratio_mismatch":false}"#;
        let state: DetectorState =
            serde_json::from_str(old).unwrap_or_else(|e| panic!("old state: {e}"));
        let q = &state.metrics[&Metric::Quality];
        assert_eq!((q.min_p, q.tau2), (Some(1e-9), Some(0.49)));
        // Its two-sided minimum is not evidence of harm: the harm test starts afresh.
        assert_eq!((q.harm_min_p, q.margin), (None, None));
        let c = group("a", 20, 40.0, 7.0, 0.6);
        let t = group("b", 20, 40.0, 7.0 * 0.99, 0.6);
        let (o, _) = run(Design::BeforeAfter, &c, &t, false, &detection(), &state);
        assert_eq!(o.decision, CheckDecision::Continue);
    }
}
