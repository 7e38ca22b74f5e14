//! One regression check of a rollout: the two-layer detector and the verdict at the end of the
//! window. Pure: the service gathers each side's per-agent sums from the rollups, calls
//! [`check`] with the state the previous check left, and persists what comes back.
//!
//! # The metrics
//!
//! Four ratio metrics, each a pooled ratio over the agents of a side (the agent is the
//! randomisation unit): quality per scored task, success rate (successes per task), cost per
//! task and error rate (error findings per task). Their variances come from the delta method
//! over the agents' sums ([`RatioSums`]).
//!
//! # Layer 1: threshold circuit breaker
//!
//! The relative change of each metric against the baseline (`regression.*_threshold`: quality
//! drop, success-rate drop, cost increase, error-rate increase). It needs `min_data_points`
//! observations on each side; a zero baseline makes a relative change undefined, so that metric
//! is left to layer 2 (and said so). A breach counts only after `consecutive_breaches` checks in
//! a row; a breach of `catastrophic_factor` × the threshold acts at once.
//!
//! # Layer 2: statistics
//!
//! * `sequential` (default): at every check, a normal-mixture mSPRT per metric on the
//!   difference treatment − control, with its always-valid p-value (the running minimum over
//!   the checks so far) — valid however often one looks. The mixing scale τ is the metric's
//!   threshold times the baseline estimate at the first testable check, then kept.
//! * `fixed_horizon`: Welch's t-test on the agents' ratios, once, at the final check.
//!
//! Either way it needs `min_data_points` agents per side, the p-values of the metrics tested
//! together are Holm-adjusted, and a metric regresses when its adjusted p-value is below
//! `statistical_significance_level` and its estimate moved the bad way.
//!
//! # Verdict
//!
//! Any regression rolls back. At the final check: a sample-ratio mismatch, or neither quality
//! nor success rate testable by layer 2, is **inconclusive** (never "no regression"); an A/B
//! test is applied and marked improved when the treatment's quality is better by more than
//! `improvement_threshold` with significance, and is otherwise inconclusive; before/after and
//! canary rollouts are applied.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{AbTestConfig, RegressionConfig, RegressionMethod};
use crate::rollout::stats::{
    RatioEstimate, RatioSums, TestError, WelchResult, chi_square_2x2, chi_square_gof, holm, msprt,
    welch_t_test,
};

/// A metric the detector watches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean quality score per scored task (0–10); lower is worse.
    Quality,
    /// Successful tasks per task; lower is worse.
    SuccessRate,
    /// USD per task; higher is worse.
    CostPerTask,
    /// Error findings per task; higher is worse.
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
        match self {
            Metric::Quality => "quality",
            Metric::SuccessRate => "success_rate",
            Metric::CostPerTask => "cost_per_task",
            Metric::ErrorRate => "error_rate",
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
            Metric::ErrorRate => (a.findings, a.tasks),
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

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// Error findings attributed to the agent.
    pub findings: f64,
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
    /// The always-valid p-value: the smallest seen so far.
    pub min_p: Option<f64>,
    /// The mSPRT mixing variance, fixed at the first testable check.
    pub tau2: Option<f64>,
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

/// What the sample-ratio-mismatch check compares the groups' task volumes with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleRatio {
    /// The treatment's expected share of the tasks (0–1): its share of the agents, or of the
    /// pre-rollout tasks.
    pub expected_treatment_share: f64,
    /// The groups' (control, treatment) tasks before the rollout, when there are enough: the
    /// check is then a 2×2 homogeneity test (did the shares change?), which accounts for the
    /// noise of the pre-rollout estimate.
    pub pre_tasks: Option<(f64, f64)>,
}

/// Inputs of one check.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The comparison's design.
    pub design: Design,
    /// Control agents (concurrent) or the baseline window (before/after).
    pub control: &'a [AgentSums],
    /// Treatment agents, from the rollout's start to this check.
    pub treatment: &'a [AgentSums],
    /// Canary/A/B: the control agents over the pre-rollout window (empty when unknown). With
    /// both groups' pre-rollout data, each group's change from its own past is compared
    /// (difference in differences), so the groups' standing differences cancel out.
    pub control_before: &'a [AgentSums],
    /// Canary/A/B: the treatment agents over the pre-rollout window (empty when unknown).
    pub treatment_before: &'a [AgentSums],
    /// Whether this is the last check of the window.
    pub final_check: bool,
    /// For concurrent designs, the expected split of task volume.
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
    /// Control / baseline estimate.
    pub control: Option<RatioEstimate>,
    /// Treatment estimate.
    pub treatment: Option<RatioEstimate>,
    /// The estimated effect, treatment − control (adjusted for the pre-rollout period when
    /// `pre_period_adjusted`).
    pub difference: Option<f64>,
    /// Whether the effect is a difference in differences against the pre-rollout window.
    pub pre_period_adjusted: bool,
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
    /// This check's p-value (sequential: of this look; fixed horizon: Welch's).
    pub p_value: Option<f64>,
    /// The always-valid p-value (running minimum), sequential only.
    pub p_running: Option<f64>,
    /// Holm-adjusted p-value among the metrics tested at this check.
    pub p_adjusted: Option<f64>,
    /// This check's mSPRT p-value, which a threshold breach needs below α to count (so the
    /// circuit breaker does not trip on noise).
    pub breach_p: Option<f64>,
    /// Welch's statistics (fixed horizon).
    pub welch: Option<WelchResult>,
    /// The decision.
    pub decision: MetricDecision,
    /// Why, in words.
    pub why: String,
}

/// Which layer found a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The threshold circuit breaker.
    Threshold,
    /// The statistical test.
    Statistical,
    /// The A/B comparison at the end (control significantly better).
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
}

/// The sample-ratio-mismatch test of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SampleRatioCheck {
    /// Tasks observed in control and treatment.
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

fn ratios(agents: &[AgentSums], m: Metric) -> Vec<f64> {
    agents
        .iter()
        .filter_map(|a| {
            let (y, x) = m.unit(a);
            (x > 0.0 && y.is_finite()).then(|| y / x)
        })
        .collect()
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
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
    let invalid = next.sample_ratio_mismatch;

    // Layer 1 and the per-metric estimates.
    let mut checks: Vec<MetricCheck> = Vec::with_capacity(Metric::ALL.len());
    let mut testable: Vec<usize> = Vec::new();
    let mut variances: BTreeMap<Metric, f64> = BTreeMap::new();
    for m in Metric::ALL {
        let ms = next.metrics.entry(m).or_default();
        let cs = sums(input.control, m);
        let ts = sums(input.treatment, m);
        let c = cs.estimate();
        let t = ts.estimate();
        let threshold = detection.threshold(m);
        let mut mc = MetricCheck {
            metric: m,
            control: c,
            treatment: t,
            difference: None,
            pre_period_adjusted: false,
            worsening: None,
            threshold,
            consecutive: 0,
            interval: None,
            p_value: None,
            p_running: ms.min_p,
            p_adjusted: None,
            breach_p: None,
            welch: None,
            decision: MetricDecision::InsufficientData,
            why: String::new(),
        };
        let (Some(c), Some(t)) = (c, t) else {
            ms.consecutive = 0;
            if cs.sum_x <= 0.0 && ts.sum_x <= 0.0 {
                mc.decision = MetricDecision::NotReported;
                mc.why = "no observations on either side".to_owned();
            } else {
                mc.why = format!(
                    "no observations on the {} side",
                    if c.is_none() { "control" } else { "treatment" }
                );
            }
            checks.push(mc);
            continue;
        };
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
        let (diff, variance, adjusted) = difference(input, m, &c, &t);
        mc.difference = Some(diff);
        mc.pre_period_adjusted = adjusted;
        mc.worsening = m.worsening(c.ratio, c.ratio + diff);
        variances.insert(m, variance);
        let tau2 = ms
            .tau2
            .or_else(|| mixing_variance(detection, m, c.ratio, t.ratio));
        mc.breach_p = credible(diff, variance, tau2, detection.alpha);
        match mc.worsening {
            None => {
                ms.consecutive = 0;
                mc.why =
                    "zero baseline: a relative change is undefined; left to the statistical test"
                        .to_owned();
            }
            Some(w) if w > threshold && !mc.breach_p.is_some_and(|p| p < detection.alpha) => {
                ms.consecutive = 0;
                mc.why = format!(
                    "{} {} → {}: {:+.1} % worse, over the {:.1} % threshold but not distinguishable from noise yet ({})",
                    m,
                    fmt_num(c.ratio),
                    fmt_num(t.ratio),
                    w * 100.0,
                    threshold * 100.0,
                    match mc.breach_p {
                        Some(p) => format!("p = {p:.3} in this check"),
                        None => "too few agents to estimate the variance".to_owned(),
                    }
                );
            }
            Some(w) if w > threshold => {
                ms.consecutive += 1;
                let catastrophic = w > threshold * detection.catastrophic_factor;
                mc.decision = if catastrophic || ms.consecutive >= detection.consecutive_breaches {
                    MetricDecision::ThresholdRegression
                } else {
                    MetricDecision::Breaching
                };
                mc.why = format!(
                    "{} {} → {}: {:+.1} % worse, threshold {:.1} %{}; breached {} check(s) in a row",
                    m,
                    fmt_num(c.ratio),
                    fmt_num(t.ratio),
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
                );
            }
            Some(w) => {
                ms.consecutive = 0;
                mc.why = format!(
                    "{} {} → {}: {:+.1} % worse, within the {:.1} % threshold",
                    m,
                    fmt_num(c.ratio),
                    fmt_num(t.ratio),
                    w * 100.0,
                    threshold * 100.0
                );
            }
        }
        mc.consecutive = ms.consecutive;
        if c.units >= min_units && t.units >= min_units {
            testable.push(checks.len());
        } else {
            mc.why.push_str(&format!(
                "; statistical test needs {min_units} agents per side, has {} and {}",
                c.units, t.units
            ));
        }
        checks.push(mc);
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
            let (Some(c), Some(t)) = (mc.control, mc.treatment) else {
                continue;
            };
            let diff = mc.difference.unwrap_or(t.ratio - c.ratio);
            let p = match detection.method {
                RegressionMethod::Sequential => {
                    let ms = next.metrics.entry(mc.metric).or_default();
                    let variance = variances
                        .get(&mc.metric)
                        .copied()
                        .unwrap_or(c.variance + t.variance);
                    sequential_p(mc, ms, c, t, diff, variance, detection)
                }
                RegressionMethod::FixedHorizon => {
                    match welch_t_test(
                        &ratios(input.treatment, mc.metric),
                        &ratios(input.control, mc.metric),
                    ) {
                        Ok(w) => {
                            mc.welch = Some(w);
                            mc.p_value = Some(w.p_two_sided);
                            Some(w.p_two_sided)
                        }
                        Err(TestError::ZeroVariance) => {
                            mc.p_value = Some(1.0);
                            Some(1.0)
                        }
                        Err(e) => {
                            mc.why.push_str(&format!("; Welch: {e}"));
                            None
                        }
                    }
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
            let worse = match (mc.control, mc.treatment) {
                (Some(c), Some(t)) => {
                    if mc.metric.higher_is_worse() {
                        t.ratio > c.ratio
                    } else {
                        t.ratio < c.ratio
                    }
                }
                _ => false,
            };
            if adj < detection.alpha && worse {
                if mc.decision != MetricDecision::ThresholdRegression {
                    mc.decision = MetricDecision::StatisticalRegression;
                }
                mc.why.push_str(&format!(
                    "; significantly worse (adjusted p = {adj:.2e} < {})",
                    detection.alpha
                ));
            } else {
                mc.why.push_str(&format!(
                    "; adjusted p = {adj:.3} ({} tested)",
                    tested.len()
                ));
            }
        }
    }

    let decision = decide(input, detection, &checks, &tested, invalid, &sample_ratio);
    (
        CheckOutcome {
            metrics: checks,
            sample_ratio,
            decision,
        },
        next,
    )
}

/// The mSPRT look for one metric; updates the running minimum and fixes τ² on first use.
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
                return Some(1.0);
            }
        },
    };
    let p = if variance <= 0.0 {
        // Every agent on both sides has the same ratio: the difference is exact.
        if diff == 0.0 { 1.0 } else { 0.0 }
    } else {
        match msprt(diff, variance, tau2, detection.alpha) {
            Ok(r) => {
                mc.interval = Some(r.interval);
                r.p_value
            }
            Err(e) => {
                mc.why.push_str(&format!("; sequential test: {e}"));
                return None;
            }
        }
    };
    mc.p_value = Some(p);
    let running = ms.min_p.map_or(p, |m| m.min(p));
    ms.min_p = Some(running);
    mc.p_running = Some(running);
    Some(running)
}

fn sample_ratio_check(input: &CheckInput<'_>, detection: &Detection) -> Option<SampleRatioCheck> {
    let sr = input.sample_ratio?;
    let c: f64 = input.control.iter().map(|a| a.tasks).sum();
    let t: f64 = input.treatment.iter().map(|a| a.tasks).sum();
    let share = sr.expected_treatment_share;
    if c + t <= 0.0 {
        return None;
    }
    let (basis, (chi, p)) = match sr.pre_tasks {
        Some((pc, pt)) => (
            "pre-rollout task volume",
            chi_square_2x2([pc, pt], [c, t]).ok()?,
        ),
        None if share > 0.0 && share < 1.0 => (
            "group sizes",
            chi_square_gof(&[c, t], &[1.0 - share, share]).ok()?,
        ),
        None => return None,
    };
    Some(SampleRatioCheck {
        observed: (c, t),
        expected_treatment_share: share,
        basis: basis.to_owned(),
        chi_square: chi,
        p_value: p,
        mismatch: p < detection.sample_ratio_p_value,
    })
}

/// The change of metric `m` from `before` to `after` over the agents seen in both windows
/// (each ratio pooled over those agents), and its variance by the delta method: each agent's
/// linearised contribution to the two ratios is differenced, so the agent's own level cancels
/// out. `None` with fewer than two such agents.
fn paired_change(before: &[AgentSums], after: &[AgentSums], m: Metric) -> Option<(f64, f64)> {
    let past: HashMap<&str, (f64, f64)> = before
        .iter()
        .map(|a| (a.agent_id.as_str(), m.unit(a)))
        .filter(|(_, (_, x))| *x > 0.0)
        .collect();
    let pairs: Vec<((f64, f64), (f64, f64))> = after
        .iter()
        .filter_map(|a| {
            let now = m.unit(a);
            let then = past.get(a.agent_id.as_str())?;
            (now.1 > 0.0).then_some((*then, now))
        })
        .collect();
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mut yb, mut xb, mut ya, mut xa) = (0.0, 0.0, 0.0, 0.0);
    for ((y0, x0), (y1, x1)) in &pairs {
        yb += y0;
        xb += x0;
        ya += y1;
        xa += x1;
    }
    let (rb, ra) = (yb / xb, ya / xa);
    let (mxb, mxa) = (xb / n, xa / n);
    let d: Vec<f64> = pairs
        .iter()
        .map(|((y0, x0), (y1, x1))| (y1 - ra * x1) / mxa - (y0 - rb * x0) / mxb)
        .collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    Some((ra - rb, (var / n).max(0.0)))
}

/// The effect treatment − control of metric `m`, its variance, and whether it is adjusted for
/// the pre-rollout period.
///
/// * Before/after compares the same agents in two windows: the effect is the difference of
///   the pooled ratios, its variance that of the agents' paired change ([`paired_change`]).
/// * Canary and A/B with both groups' pre-rollout data: a difference in differences, each
///   group's paired change from its own past (the groups' standing differences, which random
///   assignment of a few agents leaves, cancel out); the groups are independent.
/// * Otherwise: the difference of the groups' ratios, variances added.
fn difference(
    input: &CheckInput<'_>,
    m: Metric,
    c: &RatioEstimate,
    t: &RatioEstimate,
) -> (f64, f64, bool) {
    let plain = t.ratio - c.ratio;
    if input.design == Design::BeforeAfter {
        let variance = paired_change(input.control, input.treatment, m)
            .map_or(c.variance + t.variance, |(_, v)| v);
        return (plain, variance, false);
    }
    match (
        paired_change(input.control_before, input.control, m),
        paired_change(input.treatment_before, input.treatment, m),
    ) {
        (Some((dc, vc)), Some((dt, vt))) => (dt - dc, vc + vt, true),
        _ => (plain, c.variance + t.variance, false),
    }
}

/// The mSPRT mixing variance for metric `m`: the threshold × the baseline (or, for a zero
/// baseline, the treatment) estimate, squared; `None` when both are zero.
fn mixing_variance(detection: &Detection, m: Metric, c: f64, t: f64) -> Option<f64> {
    let scale = if c != 0.0 { c } else { t };
    let tau = detection.threshold(m).max(0.01) * scale.abs();
    (tau > 0.0).then_some(tau * tau)
}

/// Whether a difference is credible at level α in this look alone (the mSPRT p-value of the
/// look), so that the threshold layer does not act on noise.
fn credible(diff: f64, variance: f64, tau2: Option<f64>, alpha: f64) -> Option<f64> {
    if !variance.is_finite() {
        return None;
    }
    if variance <= 0.0 {
        return Some(if diff == 0.0 { 1.0 } else { 0.0 });
    }
    let tau2 = tau2?;
    msprt(diff, variance, tau2, alpha).ok().map(|r| r.p_value)
}

fn decide(
    input: &CheckInput<'_>,
    detection: &Detection,
    checks: &[MetricCheck],
    tested: &[usize],
    invalid: bool,
    sample_ratio: &Option<SampleRatioCheck>,
) -> CheckDecision {
    let catastrophic = |mc: &MetricCheck| {
        mc.decision == MetricDecision::ThresholdRegression
            && mc
                .worsening
                .is_some_and(|w| w > mc.threshold * detection.catastrophic_factor)
    };
    let threshold: Vec<&MetricCheck> = checks
        .iter()
        .filter(|mc| {
            mc.decision == MetricDecision::ThresholdRegression && (!invalid || catastrophic(mc))
        })
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
        .filter(|mc| mc.decision == MetricDecision::StatisticalRegression)
        .collect();
    if !statistical.is_empty() && !invalid {
        return CheckDecision::RollBack {
            layer: Layer::Statistical,
            metrics: statistical.iter().map(|mc| mc.metric).collect(),
            reason: join_why(&statistical),
        };
    }
    if !input.final_check {
        return CheckDecision::Continue;
    }
    if invalid {
        let detail = sample_ratio
            .as_ref()
            .map(|s| {
                format!(
                    " (tasks control {} / treatment {}, expected treatment share {:.3}, p = {:.2e})",
                    s.observed.0, s.observed.1, s.expected_treatment_share, s.p_value
                )
            })
            .unwrap_or_default();
        return CheckDecision::Inconclusive {
            reason: format!(
                "sample ratio mismatch{detail}: the groups' task volumes do not match their assignment, so the comparison is not trusted"
            ),
        };
    }
    let primary_tested = tested
        .iter()
        .any(|&i| matches!(checks[i].metric, Metric::Quality | Metric::SuccessRate));
    if !primary_tested {
        let why: Vec<String> = checks
            .iter()
            .filter(|mc| matches!(mc.metric, Metric::Quality | Metric::SuccessRate))
            .map(|mc| format!("{}: {}", mc.metric, mc.why))
            .collect();
        return CheckDecision::Inconclusive {
            reason: format!(
                "not enough data to test quality or success rate ({})",
                why.join("; ")
            ),
        };
    }
    match input.design {
        Design::AbTest => ab_verdict(detection, checks),
        Design::BeforeAfter | Design::Canary => CheckDecision::Apply {
            improved: false,
            reason: format!(
                "no regression over the window ({} metric(s) tested: {})",
                tested.len(),
                tested
                    .iter()
                    .map(|&i| checks[i].metric.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

fn ab_verdict(detection: &Detection, checks: &[MetricCheck]) -> CheckDecision {
    let Some(q) = checks.iter().find(|mc| mc.metric == Metric::Quality) else {
        return CheckDecision::Inconclusive {
            reason: "quality was not measured".to_owned(),
        };
    };
    let (Some(c), Some(t), Some(p)) = (q.control, q.treatment, q.p_adjusted) else {
        return CheckDecision::Inconclusive {
            reason: format!("quality could not be compared ({})", q.why),
        };
    };
    let lift = if c.ratio > 0.0 {
        q.difference.unwrap_or(t.ratio - c.ratio) / c.ratio
    } else {
        0.0
    };
    if p < detection.alpha && lift > detection.improvement_threshold {
        CheckDecision::Apply {
            improved: true,
            reason: format!(
                "treatment quality {} vs control {}: {:+.1} % (> {:.1} %), p = {p:.2e}",
                fmt_num(t.ratio),
                fmt_num(c.ratio),
                lift * 100.0,
                detection.improvement_threshold * 100.0
            ),
        }
    } else if p < detection.alpha && lift < 0.0 {
        CheckDecision::RollBack {
            layer: Layer::Comparison,
            metrics: vec![Metric::Quality],
            reason: format!(
                "control better: treatment quality {} vs control {} ({:+.1} %), p = {p:.2e}",
                fmt_num(t.ratio),
                fmt_num(c.ratio),
                lift * 100.0
            ),
        }
    } else {
        CheckDecision::Inconclusive {
            reason: format!(
                "no clear winner: treatment quality {} vs control {} ({:+.1} %, needs > {:.1} % with p < {}), p = {p:.3}",
                fmt_num(t.ratio),
                fmt_num(c.ratio),
                lift * 100.0,
                detection.improvement_threshold * 100.0,
                detection.alpha
            ),
        }
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
                    findings: 0.05 * tasks,
                }
            })
            .collect()
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
            a.findings = 0.0;
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
        assert!(metric(&mid, Metric::Quality).welch.is_none());
        let (end, _) = run(
            Design::BeforeAfter,
            &c,
            &t,
            true,
            &d,
            &DetectorState::default(),
        );
        let q = metric(&end, Metric::Quality);
        assert!(q.welch.is_some_and(|w| w.t < 0.0));
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

    #[test]
    fn a_sample_ratio_mismatch_makes_the_comparison_untrusted() {
        let d = detection();
        let c = group("c", 10, 100.0, 7.0, 0.2);
        let t = group("t", 10, 50.0, 7.0 * 0.93, 0.2); // half the volume, and a drop
        let input = CheckInput {
            design: Design::AbTest,
            control: &c,
            treatment: &t,
            control_before: &[],
            treatment_before: &[],
            final_check: true,
            sample_ratio: Some(SampleRatio {
                expected_treatment_share: 0.5,
                pre_tasks: None,
            }),
        };
        let (o, state) = check(&input, &d, &DetectorState::default());
        let sr = o
            .sample_ratio
            .as_ref()
            .unwrap_or_else(|| panic!("no SRM check"));
        assert!(sr.mismatch && sr.p_value < 0.001);
        assert!(state.sample_ratio_mismatch);
        match &o.decision {
            CheckDecision::Inconclusive { reason } => {
                assert!(reason.contains("sample ratio mismatch"), "{reason}")
            }
            other => panic!("expected inconclusive, got {other:?}"),
        }
        // A catastrophic breach still rolls back.
        let t = group("t", 10, 50.0, 2.0, 0.2);
        let input = CheckInput {
            treatment: &t,
            ..input
        };
        let (o, _) = check(&input, &d, &state);
        assert!(matches!(
            o.decision,
            CheckDecision::RollBack {
                layer: Layer::Threshold,
                ..
            }
        ));
    }
}
