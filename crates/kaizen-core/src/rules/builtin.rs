//! The ten built-in rules (the design's nine plus `benchmark_regression`, `docs/design.md`),
//! with thresholds from [`BuiltinThresholds`].
//!
//! Comparisons are the original implementation's (strict `<`/`>` everywhere except
//! `budget_overrun`, which fires at `<=`). Unlike it, a rule whose input is `None` ("no data")
//! never fires, `scaling_failure` counts only decided decisions (pending ones are not
//! failures), and a non-finite input is reported as a [`RuleError::NonFinite`], which the
//! engine records as a note and treats as "no data".
//!
//! Rules on org-wide totals (`budget_overrun`, `coordination_cost_ratio`, `error_spike`) say how
//! much of the total comes from the top agent (`top_agent_id`, `top_agent_share` in their
//! evidence, from the snapshot's `top_agent`), and when that agent accounts for more than
//! [`DOMINANT_SHARE`] of it the description says so. `budget_overrun` also reports the forecast
//! without that agent (`days_until_exhausted_without_top_agent`).

use crate::altitude::Altitude;
use crate::rules::{
    BuiltinThresholds, Rule, RuleError, RuleMatch, RuleSeverity, context, format_float,
};
use std::collections::BTreeMap;

use crate::rules::ContextValue;
use crate::snapshot::{AgentShare, OrgSignalSnapshot};

/// Names of the built-in rules, in evaluation (registration) order.
pub const BUILTIN_RULE_NAMES: [&str; 10] = [
    QualityDeclining::NAME,
    SuccessRateDrop::NAME,
    BudgetOverrun::NAME,
    CoordinationCostRatio::NAME,
    CoordinationOverhead::NAME,
    StragglerBottleneck::NAME,
    Redundancy::NAME,
    ScalingFailure::NAME,
    ErrorSpike::NAME,
    BenchmarkRegression::NAME,
];

/// The built-in rules with `thresholds`, in [`BUILTIN_RULE_NAMES`] order.
pub fn builtin_rules(thresholds: &BuiltinThresholds) -> Vec<Box<dyn Rule>> {
    let t = thresholds;
    vec![
        Box::new(
            QualityDeclining::new(t.quality_declining).with_relative(t.quality_declining_relative),
        ),
        Box::new(
            SuccessRateDrop::new(t.success_rate_drop).with_relative(t.success_rate_drop_relative),
        ),
        Box::new(BudgetOverrun::new(t.budget_overrun_days)),
        Box::new(CoordinationCostRatio::new(t.coordination_cost_ratio)),
        Box::new(CoordinationOverhead::new(t.coordination_overhead_pct)),
        Box::new(StragglerBottleneck::new(t.straggler_gap_ratio)),
        Box::new(Redundancy::new(t.redundancy_rate)),
        Box::new(ScalingFailure::new(
            t.scaling_failure_rate,
            t.scaling_min_decisions,
        )),
        Box::new(ErrorSpike::new(t.error_spike_findings)),
        Box::new(BenchmarkRegression::new(t.benchmark_min_runs)),
    ]
}

/// Above this share of an org-wide total, a finding says it is driven by one agent.
pub const DOMINANT_SHARE: f64 = 0.5;

/// Adds the top agent's evidence to `ctx`, and returns the sentence to append to the
/// description when that agent dominates the total (`what`: "spend", "findings").
fn top_agent_evidence(
    top: Option<&AgentShare>,
    what: &str,
    ctx: &mut BTreeMap<String, ContextValue>,
) -> String {
    let Some(top) = top.filter(|t| t.share.is_finite() && t.value.is_finite()) else {
        return String::new();
    };
    ctx.insert("top_agent_id".into(), top.agent_id.as_str().into());
    ctx.insert("top_agent_share".into(), top.share.into());
    ctx.insert("top_agent_value".into(), top.value.into());
    ctx.insert("agents_contributing".into(), top.agent_count.into());
    if top.share > DOMINANT_SHARE {
        format!(
            "; driven by one agent: {} accounts for {:.1}% of the {what}",
            top.agent_id,
            top.share * 100.0
        )
    } else {
        String::new()
    }
}

/// `Ok(None)` for no data, an error for NaN or ±∞.
fn finite(path: &str, v: Option<f64>) -> Result<Option<f64>, RuleError> {
    match v {
        Some(x) if !x.is_finite() => Err(RuleError::NonFinite {
            path: path.to_owned(),
            value: x,
        }),
        other => Ok(other),
    }
}

/// The [`Rule`] methods that only restate the rule's constants.
macro_rules! rule_identity {
    ($severity:ident, [$($altitude:ident),+ $(,)?]) => {
        fn name(&self) -> &str {
            Self::NAME
        }

        fn severity(&self) -> RuleSeverity {
            RuleSeverity::$severity
        }

        fn target_altitudes(&self) -> &[Altitude] {
            &[$(Altitude::$altitude),+]
        }

        fn description(&self) -> &str {
            &self.summary
        }
    };
}

/// `quality_declining` (warning): the average agent quality score is below the threshold,
/// or (the relative form) the last day's is a set fraction below the best earlier day of the
/// window.
#[derive(Debug, Clone)]
pub struct QualityDeclining {
    threshold: f64,
    relative: Option<f64>,
    summary: String,
}

impl QualityDeclining {
    /// The rule's name.
    pub const NAME: &'static str = "quality_declining";

    /// Fires when `performance.avg_quality_score < threshold` (0–10).
    pub fn new(threshold: f64) -> Self {
        let summary = format!("Average agent quality score (0-10) is below {threshold:.2}");
        Self {
            threshold,
            relative: None,
            summary,
        }
    }

    /// Also fires when the last day's quality is at least `relative` (a fraction) below its
    /// baseline ([`relative_drop`]).
    pub fn with_relative(mut self, relative: Option<f64>) -> Self {
        self.relative = relative;
        self.summary = with_relative_summary(&self.summary, relative);
        self
    }
}

impl Rule for QualityDeclining {
    rule_identity!(Warning, [ConfigTuning, PromptTuning, CodeModification]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let p = &s.performance;
        let q = finite("performance.avg_quality_score", p.avg_quality_score)?;
        let (Some(q), true) = (q, p.agent_count > 0) else {
            return Ok(None);
        };
        let t = self.threshold;
        if q < t {
            return Ok(Some(RuleMatch::for_rule(
                self,
                s,
                format!("Org quality {q:.2} below threshold {t:.2}"),
                context([
                    ("avg_quality", q.into()),
                    ("threshold", t.into()),
                    ("agent_count", p.agent_count.into()),
                ]),
            )));
        }
        let Some(d) = self
            .relative
            .and_then(|r| relative_drop(s, r, |l| l.avg_quality_score))
        else {
            return Ok(None);
        };
        let mut ctx = d.context();
        ctx.insert("avg_quality".into(), q.into());
        ctx.insert("threshold".into(), t.into());
        ctx.insert("agent_count".into(), p.agent_count.into());
        Ok(Some(RuleMatch::for_rule(
            self,
            s,
            format!(
                "Org quality {:.2} over the last day is {:.1}% below its recent level {:.2} \
                 (the day to {}), relative threshold {:.0}%; the window's average {q:.2} is \
                 above the threshold {t:.2}",
                d.current,
                d.drop * 100.0,
                d.baseline,
                d.baseline_until.format("%Y-%m-%d %H:%M"),
                d.relative * 100.0
            ),
            ctx,
        )))
    }
}

/// A level rule's summary with its relative form, when it has one.
fn with_relative_summary(summary: &str, relative: Option<f64>) -> String {
    match relative {
        Some(r) => format!(
            "{summary}, or has fallen {:.0}% or more from its recent level",
            r * 100.0
        ),
        None => summary.to_owned(),
    }
}

/// Days of the window need at least this many tasks to count for a relative level.
pub const MIN_DAILY_TASKS: u64 = 20;

/// A fall from the recent baseline: the last day of the window against the same day a week
/// earlier (weekly seasonality) or its best earlier day.
#[derive(Debug, Clone, PartialEq)]
pub struct RelativeDrop {
    /// The baseline day's level.
    pub baseline: f64,
    /// When that day ended.
    pub baseline_until: chrono::DateTime<chrono::Utc>,
    /// The last day's level.
    pub current: f64,
    /// `1 − current / baseline`.
    pub drop: f64,
    /// The threshold it reached.
    pub relative: f64,
}

impl RelativeDrop {
    fn context(&self) -> BTreeMap<String, ContextValue> {
        context([
            ("form", "relative".into()),
            ("baseline", self.baseline.into()),
            ("baseline_until", self.baseline_until.to_rfc3339().into()),
            ("current", self.current.into()),
            ("relative_drop", self.drop.into()),
            ("relative_threshold", self.relative.into()),
        ])
    }
}

/// The relative form of a level rule: the level of `performance.daily`'s last block against
/// the highest level of the earlier blocks (each with at least [`MIN_DAILY_TASKS`] tasks and
/// a finite level) — or, with weekly seasonality (`performance.daily_week_before` set), against
/// the same block one week earlier, not judged without it; `Some` when it is at least
/// `relative` (a fraction) lower.
pub fn relative_drop(
    s: &OrgSignalSnapshot,
    relative: f64,
    level: impl Fn(&crate::snapshot::DailyLevel) -> Option<f64>,
) -> Option<RelativeDrop> {
    let days: Vec<(&crate::snapshot::DailyLevel, f64)> = s
        .performance
        .daily
        .iter()
        .filter(|d| d.task_count >= MIN_DAILY_TASKS)
        .filter_map(|d| level(d).filter(|v| v.is_finite()).map(|v| (d, v)))
        .collect();
    let ((last_day, current), earlier) = days.split_last()?;
    // The last block must be the window's last day, not an older one.
    if s.performance.daily.last().map(|d| d.until) != Some(last_day.until) {
        return None;
    }
    let (best_day, baseline) = match &s.performance.daily_week_before {
        // Weekly seasonality: the same day a week earlier, or no judgement without it (a
        // weekend compared with the week's best weekday is the rhythm, not a fall).
        Some(week_before) => {
            let v = level(week_before).filter(|v| v.is_finite())?;
            (week_before.task_count >= MIN_DAILY_TASKS).then_some((week_before, v))?
        }
        None => earlier
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(d, v)| (*d, *v))?,
    };
    if baseline <= 0.0 {
        return None;
    }
    let drop = 1.0 - current / baseline;
    (drop >= relative).then_some(RelativeDrop {
        baseline,
        baseline_until: best_day.until,
        current: *current,
        drop,
        relative,
    })
}

/// `success_rate_drop` (warning): the average agent success rate is below the threshold, or
/// (the relative form) the last day's is a set fraction below the best earlier day of the
/// window.
#[derive(Debug, Clone)]
pub struct SuccessRateDrop {
    threshold: f64,
    relative: Option<f64>,
    summary: String,
}

impl SuccessRateDrop {
    /// The rule's name.
    pub const NAME: &'static str = "success_rate_drop";

    /// Fires when `performance.avg_success_rate < threshold` (0–1).
    pub fn new(threshold: f64) -> Self {
        let summary = format!(
            "Average agent success rate is below {:.2}%",
            threshold * 100.0
        );
        Self {
            threshold,
            relative: None,
            summary,
        }
    }

    /// Also fires when the last day's success rate is at least `relative` (a fraction) below
    /// its baseline ([`relative_drop`]).
    pub fn with_relative(mut self, relative: Option<f64>) -> Self {
        self.relative = relative;
        self.summary = with_relative_summary(&self.summary, relative);
        self
    }
}

impl Rule for SuccessRateDrop {
    rule_identity!(Warning, [ConfigTuning]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let p = &s.performance;
        let r = finite("performance.avg_success_rate", p.avg_success_rate)?;
        let (Some(r), true) = (r, p.agent_count > 0) else {
            return Ok(None);
        };
        let t = self.threshold;
        if r < t {
            return Ok(Some(RuleMatch::for_rule(
                self,
                s,
                format!(
                    "Success rate {:.2}% below threshold {:.2}%",
                    r * 100.0,
                    t * 100.0
                ),
                context([("avg_success_rate", r.into()), ("threshold", t.into())]),
            )));
        }
        let Some(d) = self
            .relative
            .and_then(|rel| relative_drop(s, rel, |l| l.avg_success_rate))
        else {
            return Ok(None);
        };
        let mut ctx = d.context();
        ctx.insert("avg_success_rate".into(), r.into());
        ctx.insert("threshold".into(), t.into());
        Ok(Some(RuleMatch::for_rule(
            self,
            s,
            format!(
                "Success rate {:.2}% over the last day is {:.1}% below its recent level {:.2}% \
                 (the day to {}), relative threshold {:.0}%; the window's {:.2}% is above the \
                 threshold {:.2}%",
                d.current * 100.0,
                d.drop * 100.0,
                d.baseline * 100.0,
                d.baseline_until.format("%Y-%m-%d %H:%M"),
                d.relative * 100.0,
                r * 100.0,
                t * 100.0
            ),
            ctx,
        )))
    }
}

/// `budget_overrun` (critical): the budget runs out within the threshold's number of days.
#[derive(Debug, Clone)]
pub struct BudgetOverrun {
    threshold_days: u32,
    summary: String,
}

impl BudgetOverrun {
    /// The rule's name.
    pub const NAME: &'static str = "budget_overrun";

    /// Fires when `budget.days_until_exhausted <= threshold_days` (inclusive) and, when the
    /// budget period is known, the budget runs out before the period resets
    /// (`remaining_usd ÷ daily_burn_usd < days_until_reset`).
    pub fn new(threshold_days: u32) -> Self {
        let summary = format!(
            "Budget runs out within {threshold_days} days at the forecast burn rate, before the period resets"
        );
        Self {
            threshold_days,
            summary,
        }
    }
}

impl Rule for BudgetOverrun {
    rule_identity!(Critical, [ConfigTuning]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let b = &s.budget;
        // The forecast is derived from these; a non-finite one makes it meaningless.
        finite("budget.total_spend", Some(b.total_spend))?;
        let burn = finite("budget.daily_burn_usd", b.daily_burn_usd)?;
        let remaining = finite("budget.remaining_usd", b.remaining_usd)?;
        let Some(d) = b.days_until_exhausted else {
            return Ok(None);
        };
        let t = self.threshold_days;
        if d > t {
            return Ok(None);
        }
        let reset = finite("budget.days_until_reset", b.days_until_reset)?;
        let projected = finite(
            "budget.projected_period_spend_usd",
            b.projected_period_spend_usd,
        )?;
        // The budget resets before it would run out: nothing to fix in this period.
        if let (Some(reset), Some(burn), Some(remaining)) = (reset, burn, remaining)
            && remaining / burn >= reset
        {
            return Ok(None);
        }
        let mut ctx = context([
            ("days_until_exhausted", d.into()),
            ("threshold", t.into()),
            ("total_spend", b.total_spend.into()),
        ]);
        let mut period = String::new();
        if let Some(reset) = reset {
            ctx.insert("days_until_reset".into(), reset.into());
            period = format!(", before the budget resets in {reset:.1} days");
            if let Some(end) = b.period_end {
                ctx.insert(
                    "period_end".into(),
                    end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                        .into(),
                );
            }
        }
        if let (Some(p), Some(limit)) = (projected, b.monthly_limit_usd) {
            ctx.insert("projected_period_spend_usd".into(), p.into());
            ctx.insert("limit_usd".into(), limit.into());
            period.push_str(&format!(
                "; projected spend at the reset {p:.2} USD vs the limit {limit:.2} USD"
            ));
        }
        let driven = top_agent_evidence(b.top_agent.as_ref(), "spend", &mut ctx);
        if let (Some(top), Some(burn), Some(remaining)) = (&b.top_agent, burn, remaining) {
            // The same forecast with the top agent's spend taken out of the burn rate.
            let rest = burn * (1.0 - top.share);
            let without =
                (rest > 0.0).then(|| (remaining / rest).floor().min(f64::from(u32::MAX)) as u32);
            ctx.insert(
                "days_until_exhausted_without_top_agent".into(),
                without.into(),
            );
        }
        Ok(Some(RuleMatch::for_rule(
            self,
            s,
            format!("Budget exhaustion in {d} days (threshold: {t}){period}{driven}"),
            ctx,
        )))
    }
}

/// `coordination_cost_ratio` (warning): coordination takes too large a share of spend.
#[derive(Debug, Clone)]
pub struct CoordinationCostRatio {
    threshold: f64,
    summary: String,
}

impl CoordinationCostRatio {
    /// The rule's name.
    pub const NAME: &'static str = "coordination_cost_ratio";

    /// Fires when `budget.coordination_ratio > threshold` (0–1).
    pub fn new(threshold: f64) -> Self {
        let summary = format!(
            "Coordination's share of spend exceeds {:.1}%",
            threshold * 100.0
        );
        Self { threshold, summary }
    }
}

impl Rule for CoordinationCostRatio {
    rule_identity!(Warning, [ConfigTuning, Architecture]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let Some(r) = finite(
            "budget.coordination_ratio",
            Some(s.budget.coordination_ratio),
        )?
        else {
            return Ok(None);
        };
        let t = self.threshold;
        if r <= t {
            return Ok(None);
        }
        let mut ctx = context([("coordination_ratio", r.into()), ("threshold", t.into())]);
        let driven = top_agent_evidence(s.budget.top_agent.as_ref(), "spend", &mut ctx);
        Ok(Some(RuleMatch::for_rule(
            self,
            s,
            format!(
                "Coordination cost ratio {:.1}% exceeds threshold {:.1}%{driven}",
                r * 100.0,
                t * 100.0
            ),
            ctx,
        )))
    }
}

/// `coordination_overhead` (warning): multi-agent turns exceed single-agent turns by too much.
#[derive(Debug, Clone)]
pub struct CoordinationOverhead {
    threshold_pct: f64,
    summary: String,
}

impl CoordinationOverhead {
    /// The rule's name.
    pub const NAME: &'static str = "coordination_overhead";

    /// Fires when `coordination.coordination_overhead_pct > threshold_pct` (a percentage).
    pub fn new(threshold_pct: f64) -> Self {
        let summary = format!("Coordination overhead exceeds {threshold_pct:.1}%");
        Self {
            threshold_pct,
            summary,
        }
    }
}

impl Rule for CoordinationOverhead {
    rule_identity!(Warning, [ConfigTuning]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let v = finite(
            "coordination.coordination_overhead_pct",
            s.coordination.coordination_overhead_pct,
        )?;
        let Some(v) = v else {
            return Ok(None);
        };
        let t = self.threshold_pct;
        Ok((v > t).then(|| {
            RuleMatch::for_rule(
                self,
                s,
                format!("Coordination overhead {v:.1}% exceeds threshold {t:.1}%"),
                context([("overhead_pct", v.into()), ("threshold", t.into())]),
            )
        }))
    }
}

/// `straggler_bottleneck` (info): the slowest agents lag far behind the typical one.
#[derive(Debug, Clone)]
pub struct StragglerBottleneck {
    threshold: f64,
    summary: String,
}

impl StragglerBottleneck {
    /// The rule's name.
    pub const NAME: &'static str = "straggler_bottleneck";

    /// Fires when `coordination.straggler_gap_ratio > threshold`.
    pub fn new(threshold: f64) -> Self {
        let summary = format!("Straggler gap ratio exceeds {threshold:.2}");
        Self { threshold, summary }
    }
}

impl Rule for StragglerBottleneck {
    rule_identity!(Info, [ConfigTuning, Architecture]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let v = finite(
            "coordination.straggler_gap_ratio",
            s.coordination.straggler_gap_ratio,
        )?;
        let Some(v) = v else {
            return Ok(None);
        };
        let t = self.threshold;
        Ok((v > t).then(|| {
            RuleMatch::for_rule(
                self,
                s,
                format!("Straggler gap ratio {v:.2} exceeds threshold {t:.2}"),
                context([("straggler_gap_ratio", v.into()), ("threshold", t.into())]),
            )
        }))
    }
}

/// `redundancy` (info): agents duplicate too much of each other's work.
#[derive(Debug, Clone)]
pub struct Redundancy {
    threshold: f64,
    summary: String,
}

impl Redundancy {
    /// The rule's name.
    pub const NAME: &'static str = "redundancy";

    /// Fires when `coordination.redundancy_rate > threshold` (0–1).
    pub fn new(threshold: f64) -> Self {
        let summary = format!("Redundancy rate exceeds {threshold:.2}");
        Self { threshold, summary }
    }
}

impl Rule for Redundancy {
    rule_identity!(Info, [ConfigTuning]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let v = finite(
            "coordination.redundancy_rate",
            s.coordination.redundancy_rate,
        )?;
        let Some(v) = v else {
            return Ok(None);
        };
        let t = self.threshold;
        Ok((v > t).then(|| {
            RuleMatch::for_rule(
                self,
                s,
                format!("Redundancy rate {v:.2} exceeds threshold {t:.2}"),
                context([("redundancy_rate", v.into()), ("threshold", t.into())]),
            )
        }))
    }
}

/// `scaling_failure` (warning): too many decided scaling decisions failed.
#[derive(Debug, Clone)]
pub struct ScalingFailure {
    threshold: f64,
    min_decisions: u64,
    summary: String,
}

impl ScalingFailure {
    /// The rule's name.
    pub const NAME: &'static str = "scaling_failure";

    /// Fires when `1 − scaling.success_rate > threshold` and at least `min_decisions`
    /// decisions are decided. Pending decisions count neither way.
    pub fn new(threshold: f64, min_decisions: u64) -> Self {
        let summary = format!(
            "Failure rate of decided scaling decisions exceeds {:.1}% (at least {min_decisions} decided)",
            threshold * 100.0
        );
        Self {
            threshold,
            min_decisions,
            summary,
        }
    }
}

impl Rule for ScalingFailure {
    rule_identity!(Warning, [ConfigTuning]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let sc = &s.scaling;
        if sc.decided_decisions < self.min_decisions {
            return Ok(None);
        }
        let Some(success) = finite("scaling.success_rate", sc.success_rate)? else {
            return Ok(None);
        };
        let failure = 1.0 - success;
        let t = self.threshold;
        let n = sc.decided_decisions;
        Ok((failure > t).then(|| {
            RuleMatch::for_rule(
                self,
                s,
                format!(
                    "Scaling failure rate {:.1}% exceeds threshold {:.1}% ({n} decisions)",
                    failure * 100.0,
                    t * 100.0
                ),
                context([
                    ("failure_rate", failure.into()),
                    ("success_rate", success.into()),
                    ("total_decisions", sc.total_decisions.into()),
                    ("decided_decisions", n.into()),
                    ("threshold", t.into()),
                ]),
            )
        }))
    }
}

/// `error_spike` (warning): too many classified error findings in the window.
#[derive(Debug, Clone)]
pub struct ErrorSpike {
    threshold: u64,
    summary: String,
}

impl ErrorSpike {
    /// The rule's name.
    pub const NAME: &'static str = "error_spike";

    /// Fires when `errors.total_findings > threshold`.
    pub fn new(threshold: u64) -> Self {
        let summary = format!("More than {threshold} error findings in the window");
        Self { threshold, summary }
    }
}

impl Rule for ErrorSpike {
    rule_identity!(Warning, [ConfigTuning, PromptTuning, CodeModification]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let n = s.errors.total_findings;
        let t = self.threshold;
        if n <= t {
            return Ok(None);
        }
        let mut ctx = context([
            ("total_findings", n.into()),
            ("threshold", t.into()),
            ("most_severe", s.errors.most_severe_category.clone().into()),
        ]);
        let driven = top_agent_evidence(s.errors.top_agent.as_ref(), "findings", &mut ctx);
        Ok(Some(RuleMatch::for_rule(
            self,
            s,
            format!("Error findings ({n}) exceed threshold ({t}){driven}"),
            ctx,
        )))
    }
}

/// `benchmark_regression` (critical): the latest benchmark run dropped below the previous one
/// by more than the configured number of points.
#[derive(Debug, Clone)]
pub struct BenchmarkRegression {
    min_runs: u64,
    summary: String,
}

impl BenchmarkRegression {
    /// The rule's name.
    pub const NAME: &'static str = "benchmark_regression";

    /// Fires when `benchmark.run_count >= min_runs` and `benchmark.is_regression` (the latest
    /// run against its baseline: the same weekday and hours of an earlier week with
    /// `signals.seasonality: weekly`, the previous run with `none`).
    pub fn new(min_runs: u64) -> Self {
        let summary =
            format!("The latest benchmark run regressed (needs at least {min_runs} runs)");
        Self { min_runs, summary }
    }
}

impl Rule for BenchmarkRegression {
    rule_identity!(Critical, [PromptTuning, CodeModification]);

    fn evaluate(&self, s: &OrgSignalSnapshot) -> Result<Option<RuleMatch>, RuleError> {
        let b = &s.benchmark;
        if b.run_count < self.min_runs || !b.is_regression {
            return Ok(None);
        }
        let latest = finite("benchmark.latest_total", b.latest_total)?;
        let max = finite("benchmark.max_total", b.max_total)?;
        let delta = finite("benchmark.delta", b.delta)?;
        let baseline = finite("benchmark.baseline_total", b.baseline_total)?;
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), format_float);
        let mut description = format!(
            "Benchmark score dropped {} points (latest {}/{})",
            show(delta.map(f64::abs)),
            show(latest),
            show(max)
        );
        let mut ctx = context([
            ("latest_total", latest.into()),
            ("max_total", max.into()),
            ("delta", delta.into()),
            ("run_count", b.run_count.into()),
            ("suite", b.suite.clone().into()),
        ]);
        if let (Some(at), Some(total)) = (b.baseline_at, baseline) {
            ctx.insert(
                "baseline_at".into(),
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .into(),
            );
            ctx.insert("baseline_total".into(), total.into());
            description.push_str(&format!(
                " compared with the run of {} ({})",
                at.format("%a %Y-%m-%d %H:%M UTC"),
                format_float(total)
            ));
        }
        Ok(Some(RuleMatch::for_rule(self, s, description, ctx)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::rules::ContextValue;
    use crate::rules::tests::empty_snapshot;

    /// Evaluates `rule`, failing the test on an error.
    fn eval(rule: &dyn Rule, s: &OrgSignalSnapshot) -> Option<RuleMatch> {
        match rule.evaluate(s) {
            Ok(m) => m,
            Err(e) => panic!("{} failed: {e}", rule.name()),
        }
    }

    fn fired(rule: &dyn Rule, s: &OrgSignalSnapshot) -> RuleMatch {
        let Some(m) = eval(rule, s) else {
            panic!("{} did not fire", rule.name());
        };
        assert_eq!(m.rule_name, rule.name());
        assert_eq!(m.severity, rule.severity());
        assert_eq!(m.suggested_altitudes, rule.target_altitudes());
        assert_eq!(m.matched_at, s.collected_at);
        m
    }

    fn keys(m: &RuleMatch) -> Vec<&str> {
        m.signal_context.keys().map(String::as_str).collect()
    }

    fn defaults() -> BuiltinThresholds {
        BuiltinThresholds::default()
    }

    #[test]
    fn names_order_and_count_match_the_reference() {
        let rules = builtin_rules(&defaults());
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(names, BUILTIN_RULE_NAMES);
        assert_eq!(
            BUILTIN_RULE_NAMES,
            [
                "quality_declining",
                "success_rate_drop",
                "budget_overrun",
                "coordination_cost_ratio",
                "coordination_overhead",
                "straggler_bottleneck",
                "redundancy",
                "scaling_failure",
                "error_spike",
                "benchmark_regression",
            ]
        );
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), 10);
        for r in &rules {
            assert!(!r.description().trim().is_empty());
            assert!(!r.target_altitudes().is_empty());
        }
    }

    #[test]
    fn nothing_fires_on_the_empty_snapshot() {
        let s = empty_snapshot();
        for r in builtin_rules(&defaults()) {
            assert_eq!(eval(r.as_ref(), &s), None, "{} fired on no data", r.name());
        }
    }

    #[test]
    fn agents_without_scores_or_tasks_trip_no_performance_rule() {
        // The original implementation read "no data" as 0, which fired both rules.
        let mut s = empty_snapshot();
        s.performance.agent_count = 3;
        assert_eq!(eval(&QualityDeclining::new(5.0), &s), None);
        assert_eq!(eval(&SuccessRateDrop::new(0.7), &s), None);
    }

    #[test]
    fn quality_declining() {
        let rule = QualityDeclining::new(5.0);
        let mut s = empty_snapshot();
        s.performance.agent_count = 4;
        s.performance.avg_quality_score = Some(5.0);
        assert_eq!(
            eval(&rule, &s),
            None,
            "strict: does not fire at the threshold"
        );
        s.performance.avg_quality_score = Some(4.99);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(m.description, "Org quality 4.99 below threshold 5.00");
        assert_eq!(keys(&m), ["agent_count", "avg_quality", "threshold"]);
        assert_eq!(m.signal_context["agent_count"], ContextValue::Int(4));
        assert_eq!(m.signal_context["avg_quality"], ContextValue::Number(4.99));
        assert_eq!(
            m.suggested_altitudes,
            [
                Altitude::ConfigTuning,
                Altitude::PromptTuning,
                Altitude::CodeModification
            ]
        );
        s.performance.agent_count = 0;
        assert_eq!(eval(&rule, &s), None, "skips without agents");
    }

    /// Daily levels ending at `end`, oldest first, 100 tasks each.
    fn daily(levels: &[(Option<f64>, Option<f64>)]) -> Vec<crate::snapshot::DailyLevel> {
        let end = chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let n = levels.len() as i64;
        levels
            .iter()
            .enumerate()
            .map(|(i, (q, s))| crate::snapshot::DailyLevel {
                until: end - chrono::Duration::days(n - 1 - i as i64),
                task_count: 100,
                avg_quality_score: *q,
                avg_success_rate: *s,
            })
            .collect()
    }

    #[test]
    fn with_weekly_seasonality_the_relative_form_compares_the_same_day_a_week_earlier() {
        let rule = QualityDeclining::new(5.0).with_relative(Some(0.2));
        let mut s = empty_snapshot();
        s.performance.agent_count = 40;
        s.performance.avg_quality_score = Some(6.8);
        // A weekend 22 % below the week's best weekday: the org's rhythm when last Sunday
        // looked the same.
        let week = [7.2, 7.2, 7.1, 7.2, 7.2, 5.7, 5.6];
        s.performance.daily = daily(&week.map(|q| (Some(q), None)));
        assert!(eval(&rule, &s).is_some(), "without seasonality it fires");
        let mut last_sunday = daily(&[(Some(5.7), None)]).remove(0);
        last_sunday.until -= chrono::Duration::days(7);
        s.performance.daily_week_before = Some(last_sunday.clone());
        assert_eq!(eval(&rule, &s), None);
        // No data a week earlier: not judged.
        let mut empty = last_sunday.clone();
        empty.task_count = 0;
        s.performance.daily_week_before = Some(empty);
        assert_eq!(eval(&rule, &s), None);
        // A real fall against the same day a week earlier still fires.
        last_sunday.avg_quality_score = Some(7.4);
        s.performance.daily_week_before = Some(last_sunday);
        let m = fired(&rule, &s);
        assert_eq!(m.signal_context["baseline"], ContextValue::Number(7.4));
    }

    #[test]
    fn a_quality_staircase_above_the_threshold_fires_the_relative_form() {
        let rule = QualityDeclining::new(5.0).with_relative(Some(0.2));
        let mut s = empty_snapshot();
        s.performance.agent_count = 40;
        // 7.2 → 5.4 over five days: the window's average stays above 5.0.
        s.performance.avg_quality_score = Some(6.3);
        let steps = [7.2, 7.2, 6.75, 6.3, 5.85, 5.6, 5.4];
        s.performance.daily = daily(&steps.map(|q| (Some(q), Some(0.9))));
        let m = fired(&rule, &s);
        assert_eq!(m.rule_name, "quality_declining");
        assert_eq!(m.signal_context["form"], ContextValue::from("relative"));
        assert_eq!(m.signal_context["baseline"], ContextValue::Number(7.2));
        assert_eq!(m.signal_context["current"], ContextValue::Number(5.4));
        assert_eq!(
            m.signal_context["relative_threshold"],
            ContextValue::Number(0.2)
        );
        assert!(
            m.description.starts_with(
                "Org quality 5.40 over the last day is 25.0% below its recent level 7.20 (the \
                 day to 2026-03-05 12:00), relative threshold 20%"
            ),
            "{}",
            m.description
        );
        // The old rule (no relative form) fires nothing on the same staircase.
        assert_eq!(eval(&QualityDeclining::new(5.0), &s), None);
        // A 15 % fall is below the relative threshold.
        s.performance.daily = daily(&[7.2, 7.0, 6.6, 6.12].map(|q| (Some(q), None)));
        assert_eq!(eval(&rule, &s), None);
        // A thin last day does not count.
        let mut thin = daily(&steps.map(|q| (Some(q), None)));
        if let Some(last) = thin.last_mut() {
            last.task_count = MIN_DAILY_TASKS - 1;
        }
        s.performance.daily = thin;
        assert_eq!(eval(&rule, &s), None);
        // One day is no baseline.
        s.performance.daily = daily(&[(Some(5.4), None)]);
        assert_eq!(eval(&rule, &s), None);
    }

    #[test]
    fn a_success_rate_fall_above_the_threshold_fires_the_relative_form() {
        let rule = SuccessRateDrop::new(0.7).with_relative(Some(0.2));
        let mut s = empty_snapshot();
        s.performance.agent_count = 40;
        s.performance.avg_success_rate = Some(0.85);
        s.performance.daily = daily(&[0.95, 0.96, 0.94, 0.9, 0.74].map(|r| (None, Some(r))));
        let m = fired(&rule, &s);
        assert_eq!(m.signal_context["baseline"], ContextValue::Number(0.96));
        assert!(
            m.description.contains("below its recent level 96.00%"),
            "{}",
            m.description
        );
        s.performance.daily = daily(&[0.95, 0.96, 0.94, 0.9, 0.8].map(|r| (None, Some(r))));
        assert_eq!(eval(&rule, &s), None);
        // The relative form is part of the defaults.
        assert!(
            builtin_rules(&defaults()).iter().any(
                |r| r.name() == "success_rate_drop" && r.description().contains("recent level")
            )
        );
    }

    #[test]
    fn success_rate_drop() {
        let rule = SuccessRateDrop::new(0.7);
        let mut s = empty_snapshot();
        s.performance.agent_count = 2;
        s.performance.avg_success_rate = Some(0.7);
        assert_eq!(eval(&rule, &s), None);
        s.performance.avg_success_rate = Some(0.654);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(m.description, "Success rate 65.40% below threshold 70.00%");
        assert_eq!(keys(&m), ["avg_success_rate", "threshold"]);
        assert_eq!(m.suggested_altitudes, [Altitude::ConfigTuning]);
        s.performance.avg_success_rate = Some(0.6999);
        assert!(eval(&rule, &s).is_some(), "fires just below");
    }

    #[test]
    fn budget_overrun_is_inclusive() {
        let rule = BudgetOverrun::new(14);
        let mut s = empty_snapshot();
        s.budget.total_spend = 120.5;
        s.budget.days_until_exhausted = Some(15);
        assert_eq!(eval(&rule, &s), None);
        s.budget.days_until_exhausted = Some(14);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Critical);
        assert_eq!(
            m.description,
            "Budget exhaustion in 14 days (threshold: 14)"
        );
        assert_eq!(
            keys(&m),
            ["days_until_exhausted", "threshold", "total_spend"]
        );
        assert_eq!(
            m.signal_context["days_until_exhausted"],
            ContextValue::Int(14)
        );
        assert_eq!(m.signal_context["total_spend"], ContextValue::Number(120.5));
        assert_eq!(m.suggested_altitudes, [Altitude::ConfigTuning]);
        s.budget.days_until_exhausted = Some(0);
        assert!(eval(&rule, &s).is_some());
    }

    /// A forecast of `remaining ÷ burn` days with the reset `reset` days away.
    fn forecast(s: &mut OrgSignalSnapshot, remaining: f64, burn: f64, reset: f64, limit: f64) {
        s.budget.total_spend = burn * 7.0;
        s.budget.daily_burn_usd = Some(burn);
        s.budget.remaining_usd = Some(remaining);
        s.budget.monthly_limit_usd = Some(limit);
        s.budget.days_until_exhausted = Some((remaining / burn).floor() as u32);
        s.budget.days_until_reset = Some(reset);
        s.budget.projected_period_spend_usd = Some(limit - remaining + burn * reset);
    }

    #[test]
    fn budget_overrun_waits_for_exhaustion_before_the_reset() {
        let rule = BudgetOverrun::new(14);
        let mut s = empty_snapshot();
        // 7 days left in the month, 10 days of budget left at the burn rate: the budget resets
        // first (the old rule fired: 10 <= 14).
        forecast(&mut s, 1000.0, 100.0, 7.0, 3750.0);
        assert_eq!(s.budget.days_until_exhausted, Some(10));
        assert_eq!(eval(&rule, &s), None);
        // Exactly at the reset is not before it.
        forecast(&mut s, 700.0, 100.0, 7.0, 3750.0);
        assert_eq!(eval(&rule, &s), None);
        // Four days of budget, seven to the reset: runs out three days early.
        forecast(&mut s, 400.0, 100.0, 7.0, 3000.0);
        let m = fired(&rule, &s);
        assert_eq!(
            m.description,
            "Budget exhaustion in 4 days (threshold: 14), before the budget resets in 7.0 days; \
             projected spend at the reset 3300.00 USD vs the limit 3000.00 USD"
        );
        assert_eq!(
            m.signal_context["days_until_reset"],
            ContextValue::Number(7.0)
        );
        assert_eq!(
            m.signal_context["projected_period_spend_usd"],
            ContextValue::Number(3300.0)
        );
        assert_eq!(m.signal_context["limit_usd"], ContextValue::Number(3000.0));
        // Early in a long period the threshold still bounds it: 20 days of budget, 25 to go.
        forecast(&mut s, 2000.0, 100.0, 25.0, 3000.0);
        assert_eq!(eval(&rule, &s), None);
        forecast(&mut s, 1400.0, 100.0, 25.0, 3000.0);
        assert!(eval(&rule, &s).is_some());
        // A non-finite reset is an error, not a silent skip.
        s.budget.days_until_reset = Some(f64::NAN);
        assert!(rule.evaluate(&s).is_err());
    }

    #[test]
    fn coordination_cost_ratio() {
        let rule = CoordinationCostRatio::new(0.4);
        let mut s = empty_snapshot();
        s.budget.coordination_ratio = 0.4;
        assert_eq!(eval(&rule, &s), None);
        s.budget.coordination_ratio = 0.41;
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(
            m.description,
            "Coordination cost ratio 41.0% exceeds threshold 40.0%"
        );
        assert_eq!(keys(&m), ["coordination_ratio", "threshold"]);
        assert_eq!(
            m.suggested_altitudes,
            [Altitude::ConfigTuning, Altitude::Architecture]
        );
    }

    #[test]
    fn coordination_overhead() {
        let rule = CoordinationOverhead::new(35.0);
        let mut s = empty_snapshot();
        s.coordination.coordination_overhead_pct = Some(35.0);
        assert_eq!(eval(&rule, &s), None);
        s.coordination.coordination_overhead_pct = Some(35.01);
        assert!(eval(&rule, &s).is_some(), "fires just past the threshold");
        s.coordination.coordination_overhead_pct = Some(36.0);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(
            m.description,
            "Coordination overhead 36.0% exceeds threshold 35.0%"
        );
        assert_eq!(keys(&m), ["overhead_pct", "threshold"]);
        assert_eq!(m.suggested_altitudes, [Altitude::ConfigTuning]);
    }

    #[test]
    fn straggler_bottleneck() {
        let rule = StragglerBottleneck::new(2.0);
        let mut s = empty_snapshot();
        s.coordination.straggler_gap_ratio = Some(2.0);
        assert_eq!(eval(&rule, &s), None);
        s.coordination.straggler_gap_ratio = Some(2.5);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Info);
        assert_eq!(
            m.description,
            "Straggler gap ratio 2.50 exceeds threshold 2.00"
        );
        assert_eq!(keys(&m), ["straggler_gap_ratio", "threshold"]);
        assert_eq!(
            m.suggested_altitudes,
            [Altitude::ConfigTuning, Altitude::Architecture]
        );
    }

    #[test]
    fn redundancy() {
        let rule = Redundancy::new(0.3);
        let mut s = empty_snapshot();
        s.coordination.redundancy_rate = Some(0.3);
        assert_eq!(eval(&rule, &s), None);
        s.coordination.redundancy_rate = Some(0.31);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Info);
        assert_eq!(m.description, "Redundancy rate 0.31 exceeds threshold 0.30");
        assert_eq!(keys(&m), ["redundancy_rate", "threshold"]);
        assert_eq!(m.suggested_altitudes, [Altitude::ConfigTuning]);
    }

    #[test]
    fn scaling_failure_counts_only_decided_decisions() {
        let rule = ScalingFailure::new(0.5, 3);
        let mut s = empty_snapshot();
        // Two decided (both failed) and eight pending: too few decided to judge.
        s.scaling.total_decisions = 10;
        s.scaling.decided_decisions = 2;
        s.scaling.success_rate = Some(0.0);
        assert_eq!(eval(&rule, &s), None);
        // Four decided, two executed: failure rate exactly 0.5 is not above it.
        s.scaling.decided_decisions = 4;
        s.scaling.success_rate = Some(0.5);
        assert_eq!(eval(&rule, &s), None);
        s.scaling.success_rate = Some(0.25);
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(
            m.description,
            "Scaling failure rate 75.0% exceeds threshold 50.0% (4 decisions)"
        );
        assert_eq!(
            keys(&m),
            [
                "decided_decisions",
                "failure_rate",
                "success_rate",
                "threshold",
                "total_decisions"
            ]
        );
        assert_eq!(m.signal_context["total_decisions"], ContextValue::Int(10));
        assert_eq!(m.signal_context["decided_decisions"], ContextValue::Int(4));
        assert_eq!(m.suggested_altitudes, [Altitude::ConfigTuning]);
        s.scaling.success_rate = None;
        assert_eq!(eval(&rule, &s), None, "no decided outcome, no data");
    }

    #[test]
    fn scaling_failure_fires_at_exactly_the_minimum_decided() {
        let rule = ScalingFailure::new(0.5, 3);
        let mut s = empty_snapshot();
        s.scaling.total_decisions = 3;
        s.scaling.decided_decisions = 3;
        s.scaling.success_rate = Some(0.0);
        assert!(eval(&rule, &s).is_some());
    }

    #[test]
    fn error_spike() {
        let rule = ErrorSpike::new(10);
        let mut s = empty_snapshot();
        s.errors.total_findings = 10;
        assert_eq!(eval(&rule, &s), None);
        s.errors.total_findings = 11;
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Warning);
        assert_eq!(m.description, "Error findings (11) exceed threshold (10)");
        assert_eq!(keys(&m), ["most_severe", "threshold", "total_findings"]);
        assert_eq!(m.signal_context["most_severe"], ContextValue::Null);
        assert_eq!(
            m.suggested_altitudes,
            [
                Altitude::ConfigTuning,
                Altitude::PromptTuning,
                Altitude::CodeModification
            ]
        );
        s.errors.most_severe_category = Some("tool_misuse".into());
        let m = fired(&rule, &s);
        assert_eq!(
            m.signal_context["most_severe"],
            ContextValue::Text("tool_misuse".into())
        );
    }

    #[test]
    fn benchmark_regression() {
        let rule = BenchmarkRegression::new(2);
        let mut s = empty_snapshot();
        s.benchmark.run_count = 1;
        s.benchmark.is_regression = true;
        s.benchmark.suite = Some("swe".into());
        s.benchmark.latest_total = Some(72.5);
        s.benchmark.max_total = Some(80.0);
        s.benchmark.delta = Some(-7.5);
        assert_eq!(eval(&rule, &s), None, "one run is below the minimum");
        s.benchmark.run_count = 2;
        let m = fired(&rule, &s);
        assert_eq!(m.severity, RuleSeverity::Critical);
        assert_eq!(
            m.description,
            "Benchmark score dropped 7.5 points (latest 72.5/80.0)"
        );
        assert_eq!(
            keys(&m),
            ["delta", "latest_total", "max_total", "run_count", "suite"]
        );
        assert_eq!(m.signal_context["run_count"], ContextValue::Int(2));
        assert_eq!(m.signal_context["delta"], ContextValue::Number(-7.5));
        assert_eq!(
            m.suggested_altitudes,
            [Altitude::PromptTuning, Altitude::CodeModification]
        );
        // The baseline, when the snapshot names one, is evidence and in the description.
        s.benchmark.baseline_at = chrono::DateTime::from_timestamp(1_773_626_400, 0);
        s.benchmark.baseline_total = Some(80.0);
        let m = fired(&rule, &s);
        assert_eq!(
            m.description,
            "Benchmark score dropped 7.5 points (latest 72.5/80.0) compared with the run of Mon 2026-03-16 02:00 UTC (80.0)"
        );
        assert_eq!(
            m.signal_context["baseline_total"],
            ContextValue::Number(80.0)
        );
        s.benchmark.is_regression = false;
        assert_eq!(eval(&rule, &s), None, "no regression flagged");
    }

    #[test]
    fn thresholds_come_from_the_config() {
        let t = BuiltinThresholds {
            quality_declining: 8.0,
            error_spike_findings: 0,
            budget_overrun_days: 30,
            ..defaults()
        };
        let mut s = empty_snapshot();
        s.performance.agent_count = 1;
        s.performance.avg_quality_score = Some(7.0);
        s.errors.total_findings = 1;
        s.budget.days_until_exhausted = Some(30);
        let fired: Vec<String> = builtin_rules(&t)
            .iter()
            .filter_map(|r| eval(r.as_ref(), &s))
            .map(|m| m.rule_name)
            .collect();
        assert_eq!(
            fired,
            ["quality_declining", "budget_overrun", "error_spike"]
        );
    }

    #[test]
    fn budget_overrun_on_non_finite_inputs_is_no_data() {
        // The issue: infinite spend made the forecast "0 days" and the rule fire as critical.
        let mut s = empty_snapshot();
        s.budget.total_spend = f64::INFINITY;
        s.budget.daily_burn_usd = Some(f64::INFINITY);
        s.budget.remaining_usd = Some(100.0);
        s.budget.days_until_exhausted = Some(0);
        let Err(e) = BudgetOverrun::new(14).evaluate(&s) else {
            panic!("fired (or skipped silently) on infinite spend");
        };
        assert!(e.to_string().contains("budget.total_spend"), "{e}");
    }

    fn share(agent: &str, value: f64, share: f64, agents: u64) -> Option<AgentShare> {
        Some(AgentShare {
            agent_id: agent.into(),
            value,
            share,
            agent_count: agents,
        })
    }

    #[test]
    fn totals_name_the_top_agent_and_say_when_it_dominates() {
        let mut s = empty_snapshot();
        s.budget.total_spend = 1000.0;
        s.budget.daily_burn_usd = Some(100.0);
        s.budget.remaining_usd = Some(500.0);
        s.budget.days_until_exhausted = Some(5);
        s.budget.top_agent = share("rogue", 900.0, 0.9, 21);
        let m = fired(&BudgetOverrun::new(14), &s);
        assert_eq!(
            m.description,
            "Budget exhaustion in 5 days (threshold: 14); driven by one agent: rogue accounts for 90.0% of the spend"
        );
        assert_eq!(
            m.signal_context["top_agent_id"],
            ContextValue::Text("rogue".into())
        );
        assert_eq!(
            m.signal_context["top_agent_share"],
            ContextValue::Number(0.9)
        );
        assert_eq!(
            m.signal_context["agents_contributing"],
            ContextValue::Int(21)
        );
        // Without rogue the burn is 10/day: 50 days.
        assert_eq!(
            m.signal_context["days_until_exhausted_without_top_agent"],
            ContextValue::Int(50)
        );
        // A top agent with a modest share is evidence, not a headline.
        s.budget.top_agent = share("a1", 100.0, 0.1, 21);
        let m = fired(&BudgetOverrun::new(14), &s);
        assert_eq!(m.description, "Budget exhaustion in 5 days (threshold: 14)");
        assert_eq!(
            m.signal_context["top_agent_share"],
            ContextValue::Number(0.1)
        );

        s.errors.total_findings = 40;
        s.errors.top_agent = share("rogue", 30.0, 0.75, 3);
        let m = fired(&ErrorSpike::new(10), &s);
        assert!(
            m.description
                .ends_with("rogue accounts for 75.0% of the findings"),
            "{}",
            m.description
        );
        s.budget.coordination_ratio = 0.6;
        s.budget.top_agent = share("rogue", 900.0, 0.9, 21);
        let m = fired(&CoordinationCostRatio::new(0.4), &s);
        assert!(
            m.description
                .contains("rogue accounts for 90.0% of the spend"),
            "{}",
            m.description
        );
    }

    #[test]
    fn non_finite_input_is_an_error_not_a_silent_miss() {
        let mut s = empty_snapshot();
        s.coordination.redundancy_rate = Some(f64::NAN);
        let Err(e) = Redundancy::new(0.3).evaluate(&s) else {
            panic!("NaN input accepted");
        };
        assert!(
            e.to_string().contains("coordination.redundancy_rate"),
            "{e}"
        );
    }
}
