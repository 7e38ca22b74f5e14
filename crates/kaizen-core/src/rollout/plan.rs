//! Before a rollout starts: which design the org's size can conclude with, and what the chosen
//! design can detect within its window (the minimum detectable effects), so that a rollout that
//! cannot reach a verdict says so at the start instead of ending silently inconclusive.
//!
//! The plan is a **placebo check**: the detector's own estimator ([`check::effect_variance`])
//! run on the history just before the start, as if the rollout had started one window earlier
//! (the engine passes those windows). Its variances give each metric's minimum detectable
//! worsening at 80 % power and level α, relative to the metric's level, and the primary
//! metric's detectable improvement.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::RolloutStrategyKind;
use crate::rollout::check::{self, CheckInput, Design, Detection, Metric};

/// The concrete design `auto` stands for in an org of `agents` agents: a canary when its
/// treatment and control groups both reach `min_agents` (layer 2's minimum per side), else an
/// A/B test when both of its groups do, else before/after (the only design a small org can
/// conclude with: every agent is compared with itself a week earlier).
pub fn resolve_auto(
    agents: usize,
    canary_fraction: f64,
    treatment_fraction: f64,
    min_agents: usize,
) -> RolloutStrategyKind {
    let sizes = |f: f64| {
        let t = ((agents as f64) * f).round() as usize;
        (t, agents.saturating_sub(t))
    };
    let fits = |(t, c): (usize, usize)| t >= min_agents.max(1) && c >= min_agents.max(1);
    if fits(sizes(canary_fraction)) {
        RolloutStrategyKind::Canary
    } else if fits(sizes(treatment_fraction)) {
        RolloutStrategyKind::AbTest
    } else {
        RolloutStrategyKind::BeforeAfter
    }
}

/// What a design can detect for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricPower {
    /// The metric.
    pub metric: Metric,
    /// Whether it is the primary metric.
    pub primary: bool,
    /// Agents per side the placebo comparison had (control, treatment).
    pub agents: (f64, f64),
    /// The metric's level in the placebo's counterfactual.
    pub level: Option<f64>,
    /// The worsening detectable with 80 % power at level α, relative to the level; `None`
    /// when the metric could not be estimated.
    pub detectable: Option<f64>,
    /// The layer-1 threshold (relative).
    pub threshold: f64,
    /// Whether `detectable` is within the threshold (the verdict can judge it).
    pub measurable: bool,
}

/// What a rollout can conclude, computed when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PowerPlan {
    /// Per metric.
    pub metrics: Vec<MetricPower>,
    /// Whether the primary metric can be tested at all (enough agents in every window).
    pub can_conclude: bool,
    /// The primary metric's improvement detectable with 80 % power (relative).
    pub primary_detectable: Option<f64>,
    /// What the plan means, in words.
    pub summary: String,
}

/// The plan of a rollout whose placebo input is `placebo` (the detector's windows, one window
/// before the start).
pub fn power_plan(placebo: &CheckInput<'_>, detection: &Detection, window_hours: u32) -> PowerPlan {
    let min_units = f64::from(detection.min_data_points);
    let mut metrics = Vec::new();
    let mut primary_detectable = None;
    let mut can_conclude = false;
    let mut undrifted = false;
    for m in Metric::ALL {
        let threshold = detection.thresholds.get(&m).copied().unwrap_or(0.0);
        let est = check::effect_variance(placebo, m, min_units);
        let (agents, level, detectable) = match est {
            Some(e) => {
                if m == placebo.primary && placebo.design == Design::BeforeAfter {
                    undrifted = !e.drift_adjusted;
                }
                let detectable = (e.variance.is_finite() && e.level != 0.0)
                    .then(|| check::detectable_effect(e.variance, detection.alpha) / e.level.abs());
                (
                    (e.control_units, e.treatment_units),
                    Some(e.level),
                    detectable,
                )
            }
            None => ((0.0, 0.0), None, None),
        };
        let testable = agents.0 >= min_units && agents.1 >= min_units && detectable.is_some();
        if m == placebo.primary {
            can_conclude = testable;
            primary_detectable = detectable.filter(|_| testable);
        }
        metrics.push(MetricPower {
            metric: m,
            primary: m == placebo.primary,
            agents,
            level,
            detectable,
            threshold,
            measurable: testable && detectable.is_some_and(|d| d <= threshold),
        });
    }
    let mut summary = summary(
        &metrics,
        can_conclude,
        primary_detectable,
        window_hours,
        detection,
    );
    if can_conclude && undrifted {
        summary.push_str(
            "; before/after NOT adjusted for drift: the history has no data two weeks back, so any trend is attributed to the change",
        );
    }
    PowerPlan {
        metrics,
        can_conclude,
        primary_detectable,
        summary,
    }
}

fn summary(
    metrics: &[MetricPower],
    can_conclude: bool,
    primary_detectable: Option<f64>,
    window_hours: u32,
    detection: &Detection,
) -> String {
    let Some(primary) = metrics.iter().find(|m| m.primary) else {
        return "no primary metric".to_owned();
    };
    if !can_conclude {
        return format!(
            "this rollout cannot conclude by design: the primary metric {} needs {} agents per side observed in every window compared, the history before the start has {} and {}; it will end inconclusive unless the data change (choose another design, a longer window or more agents)",
            primary.metric, detection.min_data_points, primary.agents.0, primary.agents.1
        );
    }
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let blind: Vec<String> = metrics
        .iter()
        .filter(|m| !m.measurable)
        .map(|m| match m.detectable {
            Some(d) => format!(
                "{} (detectable {} > threshold {})",
                m.metric,
                pct(d),
                pct(m.threshold)
            ),
            None => format!("{} (no data)", m.metric),
        })
        .collect();
    let detectable: Vec<String> = metrics
        .iter()
        .filter(|m| m.measurable)
        .filter_map(|m| Some(format!("{} {}", m.metric, pct(m.detectable?))))
        .collect();
    let mut s = format!(
        "over {window_hours} h it can detect (80 % power) a worsening of {}; an improvement of the primary metric {} of about {}",
        if detectable.is_empty() {
            "none of the metrics".to_owned()
        } else {
            detectable.join(", ")
        },
        primary.metric,
        primary_detectable
            .map(|d| pct(d + detection.improvement_threshold))
            .unwrap_or_else(|| "—".to_owned())
    );
    if !blind.is_empty() {
        s.push_str(&format!(
            "; not judged at this size: {} (only a worsening beyond {}× its threshold would roll back by the circuit breaker, or a large one by the test)",
            blind.join(", "),
            detection.catastrophic_factor
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_the_design_the_org_can_conclude_with() {
        use RolloutStrategyKind::*;
        // 20 % canary needs 10 treatment agents: 50 agents.
        assert_eq!(resolve_auto(50, 0.2, 0.5, 10), Canary);
        assert_eq!(resolve_auto(200, 0.2, 0.5, 10), Canary);
        assert_eq!(resolve_auto(48, 0.2, 0.5, 10), Canary); // 9.6 → 10 treated
        // 20 to 47: an A/B test of two halves.
        assert_eq!(resolve_auto(47, 0.2, 0.5, 10), AbTest);
        assert_eq!(resolve_auto(20, 0.2, 0.5, 10), AbTest);
        // Smaller: every agent against itself a week earlier.
        assert_eq!(resolve_auto(19, 0.2, 0.5, 10), BeforeAfter);
        assert_eq!(resolve_auto(12, 0.2, 0.5, 10), BeforeAfter);
        assert_eq!(resolve_auto(0, 0.2, 0.5, 10), BeforeAfter);
    }
}
