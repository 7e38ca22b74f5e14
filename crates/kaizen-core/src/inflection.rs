//! The inflection detector: has a rate of the organisation changed sharply in the last hours?
//!
//! The scheduled cycle looks at a whole window (a week by default) every
//! `cycle_interval_hours`; a burst that starts the day after a cycle waits for the next one. The
//! detector looks at the **recent** hours only (`recent_hours`, default 6) and compares them
//! with a baseline that has the same time of day: **the same hours on each of the previous
//! `baseline_days` days** (default 14). A daily rhythm cancels out exactly (night hours are
//! compared with night hours); a weekly rhythm shows as day-to-day spread in the baseline,
//! which the test below counts as noise, so a weekend does not look like an inflection.
//!
//! Metrics (organisation-wide totals of the hourly rollups, [`InflectionMetric`]):
//!
//! * `error_rate`: error findings per task (a count over an exposure);
//! * `failure_rate`: failed tasks per task (the success rate falling);
//! * `spend_per_task`: USD per task;
//! * `quality`: the mean quality score of scored tasks.
//!
//! Only the adverse direction is reported (errors, failures, spend up; quality down). A change
//! is an inflection when it is both
//!
//! * **material**: the recent value is at least `1 + min_increase` times the baseline's
//!   (default ×1.5) for the rising metrics, at most `1 − min_decrease` times it (default −20 %)
//!   for quality; and
//! * **statistically clear**: a one-sided p-value at most `max_p_value` (default 10⁻⁵:
//!   checked every hour on four metrics, a looser level raises a false alert every few
//!   weeks). For the counts (errors, failures) the test is exact and conditional: given the
//!   recent and the baseline counts together, the recent count is binomial with the recent
//!   share of the tasks as its probability, after dividing the counts by the baseline days'
//!   dispersion (Pearson's χ² over the days, at least 1), so day-to-day spread beyond Poisson
//!   noise widens the test. For the means (spend per task, quality) the variance per task is
//!   the larger of the spread between the baseline days and (for quality) the spread within
//!   them, and the statistic is referred to Student's t with one degree of freedom fewer than
//!   the baseline days, so a short baseline asks for a clearer change.
//!
//! Baseline days that were themselves a clear excursion of a count (more than `1 +
//! min_increase` times the median day's rate and more than three Poisson standard deviations
//! above it: an earlier burst) are left out of that count's baseline, so periodic bursts do not
//! raise the baseline of the next one.
//!
//! Slots with fewer than `min_tasks` tasks (a quiet night) are not tested, and a baseline needs
//! at least `min_baseline_days` days with tasks at those hours.
//!
//! [`read_slots`] reads the slots through a [`SignalSource`]; [`detect`] is pure.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::beta::checked_beta_reg;

use crate::rollup::{Dim, Stream, cost, task};
use crate::signals::{SignalSource, SourceError};
use crate::snapshot::Domain;
use crate::stats::Stat;

/// Hours in a day: the lag between a slot and the baseline's slots.
pub const DAY_HOURS: i64 = 24;

/// `self_improvement.inflection`: the detector's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InflectionConfig {
    /// Hours the recent window covers (1–72).
    pub recent_hours: u32,
    /// Previous days whose same hours form the baseline (2–56).
    pub baseline_days: u32,
    /// Baseline days with tasks at those hours needed for a test (2 – `baseline_days`).
    pub min_baseline_days: u32,
    /// Tasks the recent window needs for a test.
    pub min_tasks: u32,
    /// A rising metric must be at least `1 + min_increase` times its baseline (> 0).
    pub min_increase: f64,
    /// Quality must fall by at least this fraction of its baseline (0–1, exclusive).
    pub min_decrease: f64,
    /// The one-sided p-value a change must reach (0–0.5].
    pub max_p_value: f64,
}

impl Default for InflectionConfig {
    fn default() -> Self {
        Self {
            recent_hours: 6,
            baseline_days: 14,
            min_baseline_days: 3,
            min_tasks: 30,
            min_increase: 0.5,
            min_decrease: 0.2,
            max_p_value: 1e-5,
        }
    }
}

impl InflectionConfig {
    /// Range checks, as `(key, message)` pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=72).contains(&self.recent_hours) {
            out.push((
                "recent_hours",
                format!("expected 1 to 72 hours, found {}", self.recent_hours),
            ));
        }
        if !(2..=56).contains(&self.baseline_days) {
            out.push((
                "baseline_days",
                format!("expected 2 to 56 days, found {}", self.baseline_days),
            ));
        }
        if self.min_baseline_days < 2 || self.min_baseline_days > self.baseline_days {
            out.push((
                "min_baseline_days",
                format!(
                    "expected 2 to baseline_days ({}), found {}",
                    self.baseline_days, self.min_baseline_days
                ),
            ));
        }
        if !(self.min_increase.is_finite() && self.min_increase > 0.0) {
            out.push((
                "min_increase",
                format!("expected a number > 0, found {}", self.min_increase),
            ));
        }
        if !(self.min_decrease > 0.0 && self.min_decrease < 1.0) {
            out.push((
                "min_decrease",
                format!(
                    "expected a fraction between 0 and 1 (exclusive), found {}",
                    self.min_decrease
                ),
            ));
        }
        if !(self.max_p_value > 0.0 && self.max_p_value <= 0.5) {
            out.push((
                "max_p_value",
                format!("expected a number in (0, 0.5], found {}", self.max_p_value),
            ));
        }
        out
    }
}

/// What the detector watches.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InflectionMetric {
    /// Error findings per task (higher is worse).
    ErrorRate,
    /// Failed tasks per task (higher is worse).
    FailureRate,
    /// USD per task (higher is worse).
    SpendPerTask,
    /// Mean quality score (lower is worse).
    Quality,
}

impl InflectionMetric {
    /// Every metric, in report order.
    pub const ALL: [InflectionMetric; 4] = [
        InflectionMetric::ErrorRate,
        InflectionMetric::FailureRate,
        InflectionMetric::SpendPerTask,
        InflectionMetric::Quality,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The snapshot domain the metric belongs to.
    pub fn domain(self) -> Domain {
        match self {
            InflectionMetric::ErrorRate => Domain::Errors,
            InflectionMetric::FailureRate | InflectionMetric::Quality => Domain::Performance,
            InflectionMetric::SpendPerTask => Domain::Budget,
        }
    }

    /// The built-in rules whose findings concern the same thing (for latency accounting and
    /// for people reading an alert).
    pub fn related_rules(self) -> &'static [&'static str] {
        match self {
            InflectionMetric::ErrorRate => &["error_spike"],
            InflectionMetric::FailureRate => &["success_rate_drop"],
            InflectionMetric::SpendPerTask => &["budget_overrun"],
            InflectionMetric::Quality => &["quality_declining"],
        }
    }
}

/// Organisation-wide totals of one slot (a range of hours).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SlotTotals {
    /// Tasks completed.
    pub tasks: f64,
    /// Tasks that succeeded.
    pub successes: f64,
    /// Quality scores of scored tasks.
    pub quality: Stat,
    /// Error findings (weighted by their count).
    pub errors: f64,
    /// Spend, USD.
    pub spend: f64,
}

/// The recent slot and the baseline's slots (the same hours 1, 2, … days earlier; index 0 is
/// one day earlier).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slots {
    /// The recent hours.
    pub recent_hours: Range<i64>,
    /// Their totals.
    pub recent: SlotTotals,
    /// The same hours on each previous day, most recent first.
    pub baseline: Vec<SlotTotals>,
}

/// Reads the slots ending at `end_hour` (exclusive, hours since the epoch).
pub fn read_slots(
    source: &dyn SignalSource,
    end_hour: i64,
    config: &InflectionConfig,
) -> Result<Slots, SourceError> {
    let len = i64::from(config.recent_hours);
    let recent_hours = (end_hour - len)..end_hour;
    let recent = read_slot(source, recent_hours.clone())?;
    let mut baseline = Vec::with_capacity(config.baseline_days as usize);
    for d in 1..=i64::from(config.baseline_days) {
        let lag = d * DAY_HOURS;
        baseline.push(read_slot(
            source,
            (recent_hours.start - lag)..(recent_hours.end - lag),
        )?);
    }
    Ok(Slots {
        recent_hours,
        recent,
        baseline,
    })
}

fn read_slot(source: &dyn SignalSource, hours: Range<i64>) -> Result<SlotTotals, SourceError> {
    let mut t = SlotTotals::default();
    for row in source.rollups(Stream::Task, Dim::Agent, hours.clone())? {
        if let Some(s) = row.stats.get(task::SUCCESS) {
            t.tasks += s.n;
            t.successes += s.sum;
        }
        if let Some(q) = row.stats.get(task::QUALITY) {
            t.quality.merge(q);
        }
    }
    // Every finding carries a severity, so the severity rows hold each finding once.
    for row in source.rollups(Stream::Error, Dim::Severity, hours.clone())? {
        if let Some(s) = row.stats.first() {
            t.errors += s.n;
        }
    }
    for row in source.rollups(Stream::Cost, Dim::Category, hours)? {
        if let Some(s) = row.stats.get(cost::USD) {
            t.spend += s.sum;
        }
    }
    Ok(t)
}

/// How bad an inflection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InflectionSeverity {
    /// Material and clear.
    Warning,
    /// At least twice the material change (e.g. ×2 with the default ×1.5).
    Critical,
}

impl InflectionSeverity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            InflectionSeverity::Warning => "warning",
            InflectionSeverity::Critical => "critical",
        }
    }
}

/// A sharp adverse change of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inflection {
    /// What changed.
    pub metric: InflectionMetric,
    /// The snapshot domain it belongs to.
    pub domain: Domain,
    /// The baseline value (the same hours of the previous days, pooled).
    pub baseline: f64,
    /// The recent value.
    pub current: f64,
    /// `current / baseline`.
    pub ratio: f64,
    /// How bad.
    pub severity: InflectionSeverity,
    /// The test statistic (in standard errors, adverse direction positive).
    pub z: f64,
    /// One-sided p-value (see the module docs for the tests).
    pub p_value: f64,
    /// The recent hours, `[start, end)` in hours since the epoch.
    pub recent_hours: Range<i64>,
    /// Baseline days that had tasks at those hours.
    pub baseline_days: u32,
    /// Tasks in the recent hours.
    pub tasks: u64,
    /// One sentence for people.
    pub description: String,
}

/// The inflections in `slots`, in [`InflectionMetric::ALL`] order.
pub fn detect(slots: &Slots, config: &InflectionConfig) -> Vec<Inflection> {
    let r = &slots.recent;
    if r.tasks < f64::from(config.min_tasks) {
        return Vec::new();
    }
    let base: Vec<&SlotTotals> = slots.baseline.iter().filter(|s| s.tasks > 0.0).collect();
    if base.len() < config.min_baseline_days as usize || base.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for metric in InflectionMetric::ALL {
        let test = match metric {
            InflectionMetric::ErrorRate => count_test(
                (r.errors, r.tasks),
                base.iter().map(|s| (s.errors, s.tasks)),
                config.min_increase,
            ),
            InflectionMetric::FailureRate => count_test(
                (r.tasks - r.successes, r.tasks),
                base.iter().map(|s| (s.tasks - s.successes, s.tasks)),
                config.min_increase,
            ),
            InflectionMetric::SpendPerTask => mean_test(
                (r.spend / r.tasks, r.tasks, None),
                base.iter().map(|s| (s.spend / s.tasks, s.tasks, None)),
                true,
            ),
            InflectionMetric::Quality => {
                let point = |q: &Stat| q.mean().map(|m| (m, q.n, Some(within_variance(q))));
                let Some(recent) = point(&r.quality) else {
                    continue;
                };
                let rows: Vec<_> = base.iter().filter_map(|s| point(&s.quality)).collect();
                if rows.len() < config.min_baseline_days as usize || rows.len() < 2 {
                    continue;
                }
                mean_test(recent, rows.into_iter(), false)
            }
        };
        let Some(t) = test else { continue };
        let higher_is_worse = metric != InflectionMetric::Quality;
        let (material, critical) = if higher_is_worse {
            (
                t.ratio >= 1.0 + config.min_increase,
                t.ratio >= 1.0 + 2.0 * config.min_increase,
            )
        } else {
            (
                t.ratio <= 1.0 - config.min_decrease,
                t.ratio <= 1.0 - 2.0 * config.min_decrease,
            )
        };
        let p = t.p;
        if !(material && p <= config.max_p_value) {
            continue;
        }
        let hours = config.recent_hours;
        let days = t.df + 1;
        let change = if higher_is_worse {
            format!("×{:.2}", t.ratio)
        } else {
            format!("{:+.1}%", (t.ratio - 1.0) * 100.0)
        };
        out.push(Inflection {
            metric,
            domain: metric.domain(),
            baseline: t.baseline,
            current: t.current,
            ratio: t.ratio,
            severity: if critical {
                InflectionSeverity::Critical
            } else {
                InflectionSeverity::Warning
            },
            z: t.z,
            p_value: p,
            recent_hours: slots.recent_hours.clone(),
            baseline_days: days,
            tasks: r.tasks.round() as u64,
            description: format!(
                "{} {change} in the last {hours} h: {} against {} at the same hours of the \
                 previous {days} days ({} tasks, z = {:.1}, p = {:.1e})",
                metric.as_str(),
                show(metric, t.current),
                show(metric, t.baseline),
                r.tasks.round() as u64,
                t.z,
                p
            ),
        });
    }
    out
}

fn show(metric: InflectionMetric, v: f64) -> String {
    match metric {
        InflectionMetric::ErrorRate | InflectionMetric::FailureRate => {
            format!("{:.2}%", v * 100.0)
        }
        InflectionMetric::SpendPerTask => format!("${v:.4}"),
        InflectionMetric::Quality => format!("{v:.2}"),
    }
}

/// The outcome of one test: values, ratio and the adverse-direction statistic.
struct Test {
    baseline: f64,
    current: f64,
    ratio: f64,
    z: f64,
    /// One-sided p-value.
    p: f64,
    df: u32,
}

/// Baseline days whose count is itself a clear excursion above the median day's rate (more
/// than `1 + min_increase` times it, and more than three Poisson standard deviations) are left
/// out, so that an earlier burst does not raise the baseline of the next one.
fn trim_excursions(rows: Vec<(f64, f64)>, min_increase: f64) -> Vec<(f64, f64)> {
    let mut rates: Vec<f64> = rows.iter().map(|(c, x)| c / x).collect();
    rates.sort_by(f64::total_cmp);
    let median = match rates.len() {
        0 => return rows,
        n if n % 2 == 1 => rates[n / 2],
        n => (rates[n / 2 - 1] + rates[n / 2]) / 2.0,
    };
    rows.into_iter()
        .filter(|(c, x)| {
            let e = median * x;
            !(*c > e * (1.0 + min_increase) && *c > e + 3.0 * e.max(1.0).sqrt())
        })
        .collect()
}

/// A count over an exposure against the pooled baseline rate: conditionally on the total
/// count, the recent share is binomial with probability `exposure / (exposure + baseline
/// exposure)` (exact for Poisson counts, and it carries the baseline's own uncertainty);
/// counts are divided by the baseline days' dispersion (Pearson's χ² per degree of freedom,
/// at least 1) first, so day-to-day spread beyond Poisson noise widens the test.
fn count_test(
    (count, exposure): (f64, f64),
    baseline: impl Iterator<Item = (f64, f64)>,
    min_increase: f64,
) -> Option<Test> {
    let rows = trim_excursions(baseline.filter(|(_, x)| *x > 0.0).collect(), min_increase);
    let k = rows.len();
    if k < 2 || exposure <= 0.0 {
        return None;
    }
    let total_count: f64 = rows.iter().map(|(c, _)| c).sum();
    let total_exposure: f64 = rows.iter().map(|(_, x)| x).sum();
    // No event in the baseline: half an event, so that a first handful is not infinite.
    let rate = total_count.max(0.5) / total_exposure;
    let pearson: f64 = rows
        .iter()
        .map(|(c, x)| {
            let e = rate * x;
            (c - e).powi(2) / e
        })
        .sum();
    let dispersion = (pearson / (k - 1) as f64).max(1.0);
    let expected = rate * exposure;
    let var = dispersion * expected * (1.0 + exposure / total_exposure);
    let current = count / exposure;
    let share = exposure / (exposure + total_exposure);
    let n = count + total_count;
    let p = if count <= share * n {
        1.0
    } else {
        // P(X ≥ c) for X ~ Binomial(n, share) is I_share(c, n − c + 1).
        checked_beta_reg(count / dispersion, (n - count) / dispersion + 1.0, share).unwrap_or(1.0)
    };
    Some(Test {
        baseline: total_count / total_exposure,
        current,
        ratio: current / rate,
        z: (count - expected) / var.sqrt(),
        p,
        df: (k - 1) as u32,
    })
}

/// The variance of one observation within a quality stat.
fn within_variance(q: &Stat) -> f64 {
    match q.mean() {
        Some(m) if q.n > 1.0 => ((q.sumsq - q.n * m * m) / (q.n - 1.0)).max(0.0),
        _ => 0.0,
    }
}

/// A test of a mean (value, weight, variance of one observation when known) against the
/// weighted baseline mean. `higher_is_worse` orients the statistic.
fn mean_test(
    (value, weight, within): (f64, f64, Option<f64>),
    baseline: impl Iterator<Item = (f64, f64, Option<f64>)>,
    higher_is_worse: bool,
) -> Option<Test> {
    let rows: Vec<(f64, f64, Option<f64>)> = baseline
        .filter(|(v, w, _)| *w > 0.0 && v.is_finite())
        .collect();
    let k = rows.len();
    if k < 2 || weight <= 0.0 || !value.is_finite() {
        return None;
    }
    let total_weight: f64 = rows.iter().map(|(_, w, _)| w).sum();
    let mean = rows.iter().map(|(v, w, _)| v * w).sum::<f64>() / total_weight;
    if mean <= 0.0 {
        return None;
    }
    let between = rows
        .iter()
        .map(|(v, w, _)| w * (v - mean).powi(2))
        .sum::<f64>()
        / (k - 1) as f64;
    let within_pooled = rows
        .iter()
        .filter_map(|(_, w, s)| s.map(|s| s * w))
        .sum::<f64>()
        / total_weight;
    let per_unit = between
        .max(within_pooled)
        .max(within.unwrap_or(0.0))
        // Never exactly zero: a constant baseline still has rounding.
        .max((mean * 1e-6).powi(2));
    let var = per_unit / weight * (1.0 + weight / total_weight);
    let diff = if higher_is_worse {
        value - mean
    } else {
        mean - value
    };
    Some(Test {
        baseline: mean,
        current: value,
        ratio: value / mean,
        z: diff / var.sqrt(),
        p: p_value(diff / var.sqrt(), (k - 1) as u32),
        df: (k - 1) as u32,
    })
}

/// One-sided upper-tail p-value of `z` under Student's t with `df` degrees of freedom.
fn p_value(z: f64, df: u32) -> f64 {
    if !z.is_finite() {
        return if z > 0.0 { 0.0 } else { 1.0 };
    }
    StudentsT::new(0.0, 1.0, f64::from(df.max(1))).map_or(1.0, |d| d.sf(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (xorshift), so the tests need no dependency.
    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.unit().max(1e-12), self.unit());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }

        /// Poisson by inversion (small means) or a normal approximation.
        fn poisson(&mut self, mean: f64) -> f64 {
            if mean > 50.0 {
                return (mean + mean.sqrt() * self.normal()).round().max(0.0);
            }
            let (l, mut k, mut p) = ((-mean).exp(), 0.0, 1.0);
            loop {
                p *= self.unit();
                if p <= l {
                    return k;
                }
                k += 1.0;
            }
        }

        fn binomial(&mut self, n: f64, p: f64) -> f64 {
            let mean = n * p;
            let sd = (n * p * (1.0 - p)).sqrt();
            (mean + sd * self.normal()).round().clamp(0.0, n)
        }
    }

    /// An hour of an organisation with a daily rhythm (busy afternoons, quiet nights, busier
    /// failures at night), a weekly one (weekends at a third of the volume, with worse
    /// quality and more spend per task) and day-to-day wobble. `error_factor` multiplies the
    /// error rate.
    fn hour(rng: &mut Rng, h: i64, day_wobble: f64, error_factor: f64) -> SlotTotals {
        let hod = h.rem_euclid(24) as f64;
        let weekday = (h.div_euclid(24) + 3).rem_euclid(7); // 1970-01-01 was a Thursday
        let weekend = weekday >= 5;
        let daily = 0.15 + (std::f64::consts::PI * (hod - 4.0) / 20.0).sin().max(0.0);
        let volume = 150.0 * daily * if weekend { 0.35 } else { 1.0 };
        let tasks = rng.poisson(volume);
        let fail_p = if hod < 6.0 { 0.16 } else { 0.1 } * day_wobble;
        let successes = tasks - rng.binomial(tasks, fail_p.min(0.9));
        let err_rate = 0.05 * day_wobble * error_factor * if weekend { 1.2 } else { 1.0 };
        let errors = rng.poisson(tasks * err_rate);
        let mut quality = Stat::EMPTY;
        let q_mean = 7.2 - if weekend { 0.4 } else { 0.0 } - (day_wobble - 1.0) * 2.0;
        for _ in 0..(tasks * 0.8) as usize {
            quality.add((q_mean + 1.2 * rng.normal()).clamp(0.0, 10.0));
        }
        let spend = tasks * 0.02 * if weekend { 1.15 } else { 1.0 } * day_wobble;
        SlotTotals {
            tasks,
            successes,
            quality,
            errors,
            spend: spend * (1.0 + 0.05 * rng.normal()),
        }
    }

    fn add(into: &mut SlotTotals, x: &SlotTotals) {
        into.tasks += x.tasks;
        into.successes += x.successes;
        into.quality.merge(&x.quality);
        into.errors += x.errors;
        into.spend += x.spend;
    }

    /// Simulates `days` days of hours (error factor per hour from `factor`) and returns every
    /// hourly total.
    fn simulate(seed: u64, days: i64, factor: impl Fn(i64) -> f64) -> Vec<SlotTotals> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut out = Vec::new();
        let mut wobble = 1.0;
        for h in 0..days * 24 {
            if h % 24 == 0 {
                wobble = 1.0 + 0.06 * rng.normal();
            }
            out.push(hour(&mut rng, h, wobble, factor(h)));
        }
        out
    }

    fn slots_at(hours: &[SlotTotals], end: i64, c: &InflectionConfig) -> Slots {
        let len = i64::from(c.recent_hours);
        let sum = |r: Range<i64>| {
            let mut t = SlotTotals::default();
            for h in r {
                if let Some(x) = usize::try_from(h).ok().and_then(|i| hours.get(i)) {
                    add(&mut t, x);
                }
            }
            t
        };
        Slots {
            recent_hours: (end - len)..end,
            recent: sum((end - len)..end),
            baseline: (1..=i64::from(c.baseline_days))
                .map(|d| sum((end - len - 24 * d)..(end - 24 * d)))
                .collect(),
        }
    }

    #[test]
    fn pure_noise_with_daily_and_weekly_rhythms_never_fires() {
        let c = InflectionConfig::default();
        let mut checks = 0;
        let mut fired = Vec::new();
        // 40 seeds × 14 days checked hourly (after two weeks of history) = 13,440 checks of 4
        // metrics each.
        for seed in 0..40 {
            let hours = simulate(seed, 28, |_| 1.0);
            for end in (14 * 24)..(28 * 24) {
                checks += 1;
                let found = detect(&slots_at(&hours, end, &c), &c);
                fired.extend(found.into_iter().map(|i| (seed, end, i.description)));
            }
        }
        assert_eq!(checks, 40 * 14 * 24);
        assert!(fired.is_empty(), "false inflections: {fired:#?}");
    }

    #[test]
    fn a_doubling_of_the_error_rate_fires_and_names_the_metric() {
        let c = InflectionConfig::default();
        let onset = 20 * 24 + 9; // 09:00 of day 20, a weekday (day 0 is a Thursday)
        let mut latencies = Vec::new();
        for seed in 0..20 {
            let hours = simulate(seed, 24, |h| if h >= onset { 2.0 } else { 1.0 });
            let first = ((onset + 1)..(onset + 24)).find_map(|end| {
                let found = detect(&slots_at(&hours, end, &c), &c);
                found
                    .iter()
                    .find(|i| i.metric == InflectionMetric::ErrorRate)
                    .map(|i| (end - onset, i.clone()))
            });
            let Some((latency, inflection)) = first else {
                continue;
            };
            assert_eq!(inflection.domain, Domain::Errors);
            assert!(inflection.ratio > 1.5, "{inflection:?}");
            assert!(inflection.p_value <= c.max_p_value);
            assert!(inflection.description.starts_with("error_rate ×"));
            latencies.push(latency);
        }
        // Nearly every seed within a day of the onset, most within a working day (a seed whose
        // first burst hours happen to be quiet waits for the next busy hours).
        latencies.sort_unstable();
        assert!(latencies.len() >= 16, "{latencies:?}");
        assert!(latencies[latencies.len() / 2] <= 8, "{latencies:?}");
    }

    #[test]
    fn an_earlier_burst_does_not_hide_the_next_one() {
        let c = InflectionConfig::default();
        // Bursts ×2.5 of three days every 6.5 days, from day 8.25 on.
        let burst = |h: i64| {
            let d = h as f64 / 24.0 - 8.25;
            if d >= 0.0 && d.rem_euclid(6.5) < 3.0 {
                2.5
            } else {
                1.0
            }
        };
        let onset = (27.75 * 24.0) as i64; // the fourth burst
        let mut detected = 0;
        for seed in 0..10 {
            let hours = simulate(seed, 30, burst);
            detected += usize::from(((onset + 1)..(onset + 24)).any(|end| {
                detect(&slots_at(&hours, end, &c), &c)
                    .iter()
                    .any(|i| i.metric == InflectionMetric::ErrorRate)
            }));
        }
        assert!(detected >= 9, "{detected} of 10");
    }

    #[test]
    fn a_quality_collapse_and_a_spend_surge_fire_in_their_direction_only() {
        let c = InflectionConfig::default();
        let hours = simulate(7, 20, |_| 1.0);
        let end = 19 * 24 + 15;
        let mut slots = slots_at(&hours, end, &c);
        // Quality halved, spend ×3: both adverse.
        let q = slots.recent.quality;
        let m = q.mean().unwrap_or(0.0);
        let mut worse = Stat::EMPTY;
        let mut rng = Rng(99);
        for _ in 0..q.n as usize {
            worse.add(m * 0.5 + 1.2 * rng.normal());
        }
        slots.recent.quality = worse;
        slots.recent.spend *= 3.0;
        let found = detect(&slots, &c);
        let metrics: Vec<_> = found.iter().map(|i| i.metric).collect();
        assert_eq!(
            metrics,
            [InflectionMetric::SpendPerTask, InflectionMetric::Quality]
        );
        assert!(
            found
                .iter()
                .all(|i| i.severity == InflectionSeverity::Critical)
        );
        // Improvements (spend a third, errors gone) are not inflections.
        let mut better = slots_at(&hours, end, &c);
        better.recent.spend /= 3.0;
        better.recent.errors = 0.0;
        assert!(detect(&better, &c).is_empty());
    }

    #[test]
    fn a_change_that_is_clear_but_not_material_does_not_fire() {
        let c = InflectionConfig::default();
        // ×1.3 errors on a large volume: statistically clear, below ×1.5.
        let base = SlotTotals {
            tasks: 10_000.0,
            successes: 9_000.0,
            quality: Stat::EMPTY,
            errors: 500.0,
            spend: 200.0,
        };
        let slots = Slots {
            recent_hours: 0..6,
            recent: SlotTotals {
                errors: 650.0,
                ..base
            },
            baseline: vec![base; 14],
        };
        assert!(detect(&slots, &c).is_empty());
        // ×1.6 fires.
        let slots = Slots {
            recent: SlotTotals {
                errors: 800.0,
                ..base
            },
            ..slots
        };
        let found = detect(&slots, &c);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].metric, InflectionMetric::ErrorRate);
        assert_eq!(found[0].severity, InflectionSeverity::Warning);
    }

    #[test]
    fn too_little_data_is_not_tested() {
        let c = InflectionConfig::default();
        let base = SlotTotals {
            tasks: 100.0,
            successes: 90.0,
            quality: Stat::EMPTY,
            errors: 5.0,
            spend: 2.0,
        };
        // Few recent tasks.
        let slots = Slots {
            recent_hours: 0..6,
            recent: SlotTotals {
                tasks: 10.0,
                successes: 0.0,
                errors: 10.0,
                ..base
            },
            baseline: vec![base; 14],
        };
        assert!(detect(&slots, &c).is_empty());
        // A baseline of two days when three are needed.
        let slots = Slots {
            recent: SlotTotals {
                errors: 50.0,
                ..base
            },
            baseline: vec![base, base, SlotTotals::default()],
            ..slots
        };
        assert!(detect(&slots, &c).is_empty());
    }

    #[test]
    fn config_problems_name_the_key() {
        assert!(InflectionConfig::default().problems().is_empty());
        let bad = InflectionConfig {
            recent_hours: 0,
            baseline_days: 1,
            min_baseline_days: 5,
            min_tasks: 0,
            min_increase: 0.0,
            min_decrease: 1.0,
            max_p_value: 0.9,
        };
        let keys: Vec<&str> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "recent_hours",
                "baseline_days",
                "min_baseline_days",
                "min_increase",
                "min_decrease",
                "max_p_value"
            ]
        );
    }
}
