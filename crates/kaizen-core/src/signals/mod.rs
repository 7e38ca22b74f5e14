//! Signal aggregation: seven domain aggregators (plus the optional benchmark domain) and the
//! [`SnapshotBuilder`] that runs them concurrently.
//!
//! Aggregators read through a [`SignalSource`] (implemented by storage adapters) and do their
//! arithmetic here, in pure functions that the tests exercise with hand-computed data. A failing
//! aggregator yields its domain's empty summary and is listed in
//! [`OrgSignalSnapshot::failed_domains`]; it never sinks the other domains.
//!
//! Windows are resolved to whole hours: a snapshot for `[since, until)` reads every hourly
//! bucket that overlaps it, from `floor_hour(since)` to `ceil_hour(until)`. Trends compare the
//! first half of those hours with the second half; for windows of two days or more the split
//! is the UTC midnight nearest the midpoint, so both halves can be read mostly from daily
//! rollups (means are compared as they are, counts as rates per hour). With
//! `signals.seasonality: weekly` the second half is compared with the same hours of an earlier
//! week instead when those have data ([`AggregationWindow::baseline_half`]), so a weekly rhythm
//! is not a trend; budget periods and the calendar arithmetic are in [`period`].
//!
//! Every number of a built snapshot is finite: sums are compensated and saturating
//! ([`Stat`]), ratios whose quotient would overflow are `None`, and
//! [`OrgSignalSnapshot::quarantine_non_finite`] turns any domain that still holds a NaN or an
//! infinity into a failed domain with the offending path.

mod benchmark;
mod budget;
mod coordination;
mod errors;
mod evolution;
mod performance;
pub mod period;
mod scaling;
mod telemetry;
mod trend;

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{ScalingAction, ScalingOutcome};
use crate::rollup::{Dim, MICROS_PER_HOUR, Stream};
use crate::snapshot::{
    Domain, DomainFailure, EvolutionOutcomeSummary, OrgSignalSnapshot, SnapshotWindow,
};
use crate::stats::Stat;

pub use performance::MAX_DAILY_BLOCKS;
pub use period::{BudgetPeriod, BudgetPeriodKind, Seasonality};
pub use trend::trend;

/// The `signals` section of `kaizen.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalsConfig {
    /// Default snapshot window, in days.
    pub default_window_days: u32,
    /// Relative change between the window's halves below which a trend is `stable`.
    pub trend_tolerance: f64,
    /// A benchmark run that drops more than this many points below the previous run of its
    /// suite is a regression.
    pub benchmark_regression_points: f64,
    /// Monthly budget in USD, used for the forecast when no `budget.status` event is known.
    pub monthly_budget_usd: Option<f64>,
    /// The period the budget limit applies to and resets after: `monthly` (calendar month,
    /// UTC), `weekly` (Monday 00:00 UTC) or `days` (see the next two keys).
    pub budget_period: BudgetPeriodKind,
    /// With `budget_period: days`: the period's length in days.
    pub budget_period_days: Option<u32>,
    /// With `budget_period: days`: the start of one period (the others follow every
    /// `budget_period_days` days, before and after it).
    pub budget_period_anchor: Option<DateTime<Utc>>,
    /// `weekly`: benchmark runs are compared with the same weekday and hours of earlier weeks;
    /// `none`: with the previous run.
    pub seasonality: Seasonality,
}

impl SignalsConfig {
    /// The budget period rule (`days` without its length or anchor, which validation refuses,
    /// falls back to monthly).
    pub fn budget_period(&self) -> BudgetPeriod {
        match (
            self.budget_period,
            self.budget_period_days,
            self.budget_period_anchor,
        ) {
            (BudgetPeriodKind::Weekly, _, _) => BudgetPeriod::Weekly,
            (BudgetPeriodKind::Days, Some(days), Some(anchor)) if days > 0 => {
                BudgetPeriod::Days { days, anchor }
            }
            _ => BudgetPeriod::Monthly,
        }
    }
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            default_window_days: 7,
            trend_tolerance: 0.05,
            benchmark_regression_points: 5.0,
            monthly_budget_usd: None,
            budget_period: BudgetPeriodKind::Monthly,
            budget_period_days: None,
            budget_period_anchor: None,
            seasonality: Seasonality::Weekly,
        }
    }
}

/// A failure to read signals (a database error, a corrupt row …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Summed statistics of one rollup key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedStats {
    /// The key (agent id, category, …).
    pub key: String,
    /// One [`Stat`] per signal of the stream.
    pub stats: Vec<Stat>,
}

/// Statistics of one rollup key in one hourly bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyStats {
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// The key.
    pub key: String,
    /// One [`Stat`] per signal of the stream.
    pub stats: Vec<Stat>,
}

/// What the store knows about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// Agent id.
    pub agent_id: String,
    /// Department of its most recent task.
    pub department: String,
    /// Role of its most recent task.
    pub role: String,
}

/// A scaling decision joined with its outcome (`None` = pending).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingDecisionRecord {
    /// Decision id.
    pub decision_id: String,
    /// When it was decided.
    pub ts: DateTime<Utc>,
    /// What it decided.
    pub action: ScalingAction,
    /// Deciding strategy.
    pub source_strategy: String,
    /// Triggering signal.
    pub signal: String,
    /// Why.
    pub rationale: Option<String>,
    /// Outcome, when known.
    pub outcome: Option<ScalingOutcome>,
}

/// The latest known budget state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetState {
    /// When it was reported.
    pub ts: DateTime<Utc>,
    /// Monthly limit, USD.
    pub monthly_limit_usd: f64,
    /// Remaining at `ts`, USD.
    pub remaining_usd: f64,
}

/// One benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkRunRecord {
    /// When it ran.
    pub ts: DateTime<Utc>,
    /// Suite.
    pub suite: String,
    /// Total score.
    pub total_score: f64,
}

/// Where aggregators read signals from. Implemented by storage adapters; must be shareable
/// across the builder's threads. Hour ranges are half-open `[start, end)` in hours since the
/// Unix epoch; time ranges are half-open too.
pub trait SignalSource: Sync {
    /// Statistics per key, summed over the hourly buckets in `hours`.
    fn rollups(
        &self,
        stream: Stream,
        dim: Dim,
        hours: Range<i64>,
    ) -> Result<Vec<KeyedStats>, SourceError>;

    /// Statistics per key and hourly bucket in `hours` (for day-by-day series).
    fn hourly_rollups(
        &self,
        stream: Stream,
        dim: Dim,
        hours: Range<i64>,
    ) -> Result<Vec<HourlyStats>, SourceError>;

    /// Every agent seen so far.
    fn agents(&self) -> Result<Vec<AgentInfo>, SourceError>;

    /// Scaling decisions made in `range`, with their outcomes.
    fn scaling_decisions(
        &self,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<ScalingDecisionRecord>, SourceError>;

    /// The newest `limit` evolution outcomes in `range`, newest first.
    fn recent_evolution_outcomes(
        &self,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<EvolutionOutcomeSummary>, SourceError>;

    /// The latest budget state reported before `before`.
    fn budget_state(&self, before: DateTime<Utc>) -> Result<Option<BudgetState>, SourceError>;

    /// Benchmark runs in `range`, oldest first.
    fn benchmark_runs(
        &self,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<BenchmarkRunRecord>, SourceError>;
}

/// The resolved window an aggregation runs over.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationWindow {
    /// Whole hours read, `[start, end)`.
    pub hours: Range<i64>,
    /// The hour that starts the second half.
    pub mid_hour: i64,
    /// Configuration.
    pub config: SignalsConfig,
}

impl AggregationWindow {
    /// Resolves `[since, until)` to whole hours.
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>, config: SignalsConfig) -> Self {
        let start = since.timestamp_micros().div_euclid(MICROS_PER_HOUR);
        let end = (until.timestamp_micros() + MICROS_PER_HOUR - 1)
            .div_euclid(MICROS_PER_HOUR)
            .max(start);
        let mid = start + (end - start) / 2;
        let mid_hour = if end - start >= 48 {
            // The midnight nearest the midpoint; at least 12 hours from either end.
            ((mid + 12).div_euclid(24) * 24).clamp(start + 12, end - 12)
        } else {
            mid
        };
        Self {
            hours: start..end,
            mid_hour,
            config,
        }
    }

    /// Hours in the first half.
    pub fn first_hours(&self) -> f64 {
        (self.mid_hour - self.hours.start) as f64
    }

    /// Hours in the second half.
    pub fn second_hours(&self) -> f64 {
        (self.hours.end - self.mid_hour) as f64
    }

    /// The first half of the hours.
    pub fn first_half(&self) -> Range<i64> {
        self.hours.start..self.mid_hour
    }

    /// The second half of the hours.
    pub fn second_half(&self) -> Range<i64> {
        self.mid_hour..self.hours.end
    }

    /// With `signals.seasonality: weekly`, the hours trends compare the second half with: the
    /// second half's hours shifted back by the whole weeks that cover it (one week for windows
    /// up to two weeks), so both hold the same weekdays and hours. `None` with `none`.
    pub fn baseline_half(&self) -> Option<Range<i64>> {
        let len = self.hours.end - self.mid_hour;
        if self.config.seasonality != Seasonality::Weekly || len <= 0 {
            return None;
        }
        let week = 7 * 24;
        let shift = (len + week - 1) / week * week;
        Some(self.mid_hour - shift..self.hours.end - shift)
    }

    /// Window length in days.
    pub fn days(&self) -> f64 {
        (self.hours.end - self.hours.start) as f64 / 24.0
    }

    /// The start of `hour` as a time.
    pub fn time_of(hour: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(0, 0).single().unwrap_or_default() + Duration::hours(hour)
    }

    /// The window as a time range.
    pub fn time_range(&self) -> Range<DateTime<Utc>> {
        Self::time_of(self.hours.start)..Self::time_of(self.hours.end)
    }
}

/// Builds [`OrgSignalSnapshot`]s by running the domain aggregators concurrently.
#[derive(Debug, Clone, Default)]
pub struct SnapshotBuilder {
    config: SignalsConfig,
}

impl SnapshotBuilder {
    /// A builder with the given configuration.
    pub fn new(config: SignalsConfig) -> Self {
        Self { config }
    }

    /// Builds the snapshot for `[since, until)`. Never fails: a failing domain is reported in
    /// `failed_domains` with its empty summary.
    pub fn build(
        &self,
        source: &dyn SignalSource,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> OrgSignalSnapshot {
        let window = AggregationWindow::new(since, until, self.config.clone());
        let snapshot_window = SnapshotWindow {
            since,
            until,
            effective_since: AggregationWindow::time_of(window.hours.start),
            effective_until: AggregationWindow::time_of(window.hours.end),
        };
        let mut snapshot = OrgSignalSnapshot::empty(snapshot_window);
        let w = &window;
        let mut failures = Vec::new();
        std::thread::scope(|scope| {
            let performance = scope.spawn(|| guarded(|| performance::aggregate(source, w)));
            let budget = scope.spawn(|| guarded(|| budget::aggregate(source, w)));
            let coordination = scope.spawn(|| guarded(|| coordination::aggregate(source, w)));
            let scaling = scope.spawn(|| guarded(|| scaling::aggregate(source, w)));
            let errors = scope.spawn(|| guarded(|| errors::aggregate(source, w)));
            let evolution = scope.spawn(|| guarded(|| evolution::aggregate(source, w)));
            let telemetry = scope.spawn(|| guarded(|| telemetry::aggregate(source, w)));
            let benchmark = scope.spawn(|| guarded(|| benchmark::aggregate(source, w)));
            collect(
                Domain::Performance,
                performance.join(),
                &mut snapshot.performance,
                &mut failures,
            );
            collect(
                Domain::Budget,
                budget.join(),
                &mut snapshot.budget,
                &mut failures,
            );
            collect(
                Domain::Coordination,
                coordination.join(),
                &mut snapshot.coordination,
                &mut failures,
            );
            collect(
                Domain::Scaling,
                scaling.join(),
                &mut snapshot.scaling,
                &mut failures,
            );
            collect(
                Domain::Errors,
                errors.join(),
                &mut snapshot.errors,
                &mut failures,
            );
            collect(
                Domain::Evolution,
                evolution.join(),
                &mut snapshot.evolution,
                &mut failures,
            );
            collect(
                Domain::Telemetry,
                telemetry.join(),
                &mut snapshot.telemetry,
                &mut failures,
            );
            collect(
                Domain::Benchmark,
                benchmark.join(),
                &mut snapshot.benchmark,
                &mut failures,
            );
        });
        snapshot.failed_domains = failures;
        // Defence in depth: the aggregators produce finite numbers from validated events, but
        // no NaN or infinity may ever reach a rule.
        for failure in snapshot.quarantine_non_finite() {
            tracing::warn!(domain = failure.domain.as_str(), error = %failure.error, "non-finite snapshot value; using the empty summary");
        }
        snapshot
    }
}

/// Runs an aggregator, turning a panic into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, SourceError>) -> Result<T, SourceError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "aggregator panicked".to_owned());
        Err(SourceError(format!("aggregator panicked: {msg}")))
    })
}

fn collect<T>(
    domain: Domain,
    joined: std::thread::Result<Result<T, SourceError>>,
    slot: &mut T,
    failures: &mut Vec<DomainFailure>,
) {
    let error = match joined {
        Ok(Ok(summary)) => {
            *slot = summary;
            return;
        }
        Ok(Err(e)) => e.0,
        Err(_) => "aggregator thread panicked".to_owned(),
    };
    tracing::warn!(domain = domain.as_str(), %error, "signal aggregator failed; using the empty summary");
    failures.push(DomainFailure { domain, error });
}

/// Merges `src` into `dst` signal by signal (both must have the stream's length).
pub(crate) fn merge_into(dst: &mut [Stat], src: &[Stat]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.merge(s);
    }
}

/// Looks up a signal, tolerating short vectors (treated as empty).
pub(crate) fn sig(stats: &[Stat], i: usize) -> Stat {
    stats.get(i).copied().unwrap_or(Stat::EMPTY)
}

/// Sums all keys of a rollup result into one vector of `width` signals.
pub(crate) fn total(rows: &[KeyedStats], width: usize) -> Vec<Stat> {
    let mut acc = vec![Stat::EMPTY; width];
    for r in rows {
        merge_into(&mut acc, &r.stats);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn window_resolves_to_overlapping_hours() {
        let w = AggregationWindow::new(
            at("2026-01-01T10:30:00Z"),
            at("2026-01-01T12:15:00Z"),
            SignalsConfig::default(),
        );
        let ten = at("2026-01-01T10:00:00Z").timestamp() / 3600;
        assert_eq!(w.hours, ten..ten + 3);
        assert_eq!(w.mid_hour, ten + 1);
        let exact = AggregationWindow::new(
            at("2026-01-01T10:00:00Z"),
            at("2026-01-01T12:00:00Z"),
            SignalsConfig::default(),
        );
        assert_eq!(exact.hours, ten..ten + 2);
        // Seven days from 23:00: the split moves from 11:00 to the nearest midnight.
        let week = AggregationWindow::new(
            at("2026-01-01T23:00:00Z"),
            at("2026-01-08T23:00:00Z"),
            SignalsConfig::default(),
        );
        assert_eq!(
            AggregationWindow::time_of(week.mid_hour),
            at("2026-01-05T00:00:00Z")
        );
        assert_eq!((week.first_hours(), week.second_hours()), (73.0, 95.0));
        // Two days from 10:00 to 10:00: midnight is 10 hours from the end → clamped to 12.
        let two = AggregationWindow::new(
            at("2026-01-01T10:00:00Z"),
            at("2026-01-03T10:00:00Z"),
            SignalsConfig::default(),
        );
        assert_eq!(
            AggregationWindow::time_of(two.mid_hour),
            at("2026-01-02T00:00:00Z")
        );
        assert_eq!(AggregationWindow::time_of(ten), at("2026-01-01T10:00:00Z"));
    }

    #[test]
    fn inverted_window_is_empty_not_negative() {
        let w = AggregationWindow::new(
            at("2026-01-02T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            SignalsConfig::default(),
        );
        assert!(w.hours.is_empty());
    }
}
