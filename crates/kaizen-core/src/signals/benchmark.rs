//! Benchmark domain (optional): runs of benchmark suites in the window.
//!
//! Per suite, runs are ordered by time, and each run in the window is compared with a
//! baseline run of the same suite. With `signals.seasonality: none` the baseline is the
//! previous run in the window. With `weekly` (the default) it is the run at the same weekday
//! and time of day (± [`SAME_HOURS`]) one week earlier, else two, three or four weeks earlier
//! (read from before the window as needed), so a weekend dip is compared with the previous
//! weekend, not with Friday; a run without such a baseline is not judged. A run whose total
//! drops more than `signals.benchmark_regression_points` below its baseline is a regression.
//! The summary describes the suite whose latest change is worst.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{AggregationWindow, BenchmarkRunRecord, Seasonality, SignalSource, SourceError};
use crate::snapshot::OrgBenchmarkSummary;

/// How far a baseline run may be from the exact same time one or more weeks earlier.
pub const SAME_HOURS: Duration = Duration::hours(3);

/// How many weeks back a same-weekday baseline is looked for.
pub const BASELINE_WEEKS: i64 = 4;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgBenchmarkSummary, SourceError> {
    let range = w.time_range();
    let read = match w.config.seasonality {
        Seasonality::Weekly => {
            (range.start - Duration::weeks(BASELINE_WEEKS) - SAME_HOURS)..range.end
        }
        Seasonality::None => range.clone(),
    };
    Ok(summarize(
        source.benchmark_runs(read)?,
        range.start,
        w.config.benchmark_regression_points,
        w.config.seasonality,
    ))
}

/// One run with the baseline it is compared with.
struct Compared {
    total: f64,
    baseline: Option<(DateTime<Utc>, f64)>,
}

/// The baseline of `runs[i]` among `runs` (one suite, oldest first).
fn baseline(
    runs: &[&BenchmarkRunRecord],
    i: usize,
    seasonality: Seasonality,
) -> Option<(DateTime<Utc>, f64)> {
    let run = runs[i];
    match seasonality {
        Seasonality::None => i.checked_sub(1).map(|p| (runs[p].ts, runs[p].total_score)),
        Seasonality::Weekly => (1..=BASELINE_WEEKS).find_map(|k| {
            let target = run.ts - Duration::weeks(k);
            runs[..i]
                .iter()
                .filter(|r| (r.ts - target).abs() <= SAME_HOURS)
                .min_by_key(|r| ((r.ts - target).abs(), std::cmp::Reverse(r.ts)))
                .map(|r| (r.ts, r.total_score))
        }),
    }
}

/// Summarises benchmark runs. Pure. Runs before `window_start` only serve as baselines.
pub fn summarize(
    mut runs: Vec<BenchmarkRunRecord>,
    window_start: DateTime<Utc>,
    threshold: f64,
    seasonality: Seasonality,
) -> OrgBenchmarkSummary {
    runs.sort_by_key(|r| r.ts);
    let in_window = runs.iter().filter(|r| r.ts >= window_start).count();
    if in_window == 0 {
        return OrgBenchmarkSummary::default();
    }
    let mut by_suite: BTreeMap<&str, Vec<&BenchmarkRunRecord>> = BTreeMap::new();
    for r in &runs {
        by_suite.entry(r.suite.as_str()).or_default().push(r);
    }
    // Per suite, its runs in the window with their baselines.
    let compared: BTreeMap<&str, Vec<Compared>> = by_suite
        .iter()
        .map(|(suite, list)| {
            let c = (0..list.len())
                .filter(|i| list[*i].ts >= window_start)
                .map(|i| Compared {
                    total: list[i].total_score,
                    baseline: baseline(list, i, seasonality),
                })
                .collect();
            (*suite, c)
        })
        .filter(|(_, c): &(&str, Vec<Compared>)| !c.is_empty())
        .collect();
    let delta = |c: &Compared| c.baseline.map(|(_, b)| c.total - b);
    let regressed = |c: &Compared| delta(c).is_some_and(|d| d < -threshold);
    let has_regression = compared.values().flatten().any(regressed);
    // (suite, latest, max, delta, baseline) — pick the most negative delta; suites whose latest
    // run has no baseline come last.
    let chosen = compared
        .iter()
        .filter_map(|(suite, c)| {
            let latest = c.last()?;
            let max = c.iter().map(|r| r.total).fold(f64::NEG_INFINITY, f64::max);
            Some((*suite, latest.total, max, delta(latest), latest.baseline))
        })
        .min_by(|a, b| {
            let da = a.3.unwrap_or(f64::INFINITY);
            let db = b.3.unwrap_or(f64::INFINITY);
            da.total_cmp(&db).then_with(|| a.0.cmp(b.0))
        });
    let Some((suite, latest, max, delta, baseline)) = chosen else {
        return OrgBenchmarkSummary::default();
    };
    OrgBenchmarkSummary {
        run_count: in_window as u64,
        suite: Some(suite.to_owned()),
        latest_total: Some(latest),
        max_total: Some(max),
        delta,
        is_regression: delta.is_some_and(|d| d < -threshold),
        has_regression,
        baseline_at: baseline.map(|b| b.0),
        baseline_total: baseline.map(|b| b.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2023-11-14T22:13:20Z, a Tuesday.
    fn origin() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default()
    }

    fn run(h: i64, suite: &str, total: f64) -> BenchmarkRunRecord {
        BenchmarkRunRecord {
            ts: origin() + Duration::hours(h),
            suite: suite.into(),
            total_score: total,
        }
    }

    fn consecutive(runs: Vec<BenchmarkRunRecord>, threshold: f64) -> OrgBenchmarkSummary {
        summarize(runs, origin(), threshold, Seasonality::None)
    }

    #[test]
    fn worst_suite_is_reported() {
        let s = consecutive(
            vec![
                run(1, "core", 80.0),
                run(2, "core", 82.0),
                run(1, "tools", 70.0),
                run(3, "tools", 60.0),
            ],
            5.0,
        );
        assert_eq!(s.run_count, 4);
        assert_eq!(s.suite.as_deref(), Some("tools"));
        assert_eq!(
            (s.latest_total, s.max_total, s.delta),
            (Some(60.0), Some(70.0), Some(-10.0))
        );
        assert_eq!(s.baseline_at, Some(origin() + Duration::hours(1)));
        assert!(s.is_regression && s.has_regression);
    }

    #[test]
    fn drop_of_exactly_threshold_is_not_regression() {
        let s = consecutive(vec![run(1, "core", 80.0), run(2, "core", 75.0)], 5.0);
        assert_eq!(s.delta, Some(-5.0));
        assert!(!s.is_regression);
        let single = consecutive(vec![run(1, "core", 80.0)], 5.0);
        assert_eq!(
            (single.run_count, single.delta, single.is_regression),
            (1, None, false)
        );
    }

    /// Daily runs at 02:00 for `days` days from `first_day` (days after the origin's day),
    /// scoring `weekday` on weekdays and `weekend` on the two days after every fifth.
    fn weekly_rhythm(days: i64, weekday: f64, weekend: f64) -> Vec<BenchmarkRunRecord> {
        (0..days)
            .map(|d| {
                let total = if d % 7 >= 5 { weekend } else { weekday };
                run(d * 24, "core", total + 0.1 * d as f64)
            })
            .collect()
    }

    #[test]
    fn a_weekend_dip_is_compared_with_the_previous_weekend() {
        // Three weeks of a rhythm that drops 8 points at the weekend; the window is the last
        // week, its first run a weekend one.
        let runs = weekly_rhythm(21, 780.0, 772.0);
        let window_start = origin() + Duration::days(14);
        let weekend_end = |n: usize| runs[..n].to_vec();
        // Latest = day 19 (a weekend day) in the window.
        let s = summarize(weekend_end(20), window_start, 5.0, Seasonality::Weekly);
        assert_eq!(s.run_count, 6);
        // vs day 12, the same weekday a week earlier: +0.7, no regression.
        assert_eq!(s.baseline_at, Some(origin() + Duration::days(12)));
        assert!((s.delta.unwrap_or_default() - 0.7).abs() < 1e-9, "{s:?}");
        assert!(!s.is_regression && !s.has_regression);
        // The old comparison (the previous run, a weekday) calls it a regression.
        let old = summarize(weekend_end(20), window_start, 5.0, Seasonality::None);
        assert!(old.has_regression, "{old:?}");

        // A real drop on a weekday is still caught against the same weekday.
        let mut runs = weekend_end(16);
        runs.push(run(16 * 24, "core", 760.0));
        let s = summarize(runs, window_start, 5.0, Seasonality::Weekly);
        assert_eq!(s.baseline_at, Some(origin() + Duration::days(9)));
        assert!(s.is_regression && s.has_regression, "{s:?}");
    }

    #[test]
    fn without_a_week_of_history_a_run_is_not_judged() {
        // Six days: no run has a predecessor a week earlier.
        let s = summarize(
            weekly_rhythm(7, 780.0, 740.0),
            origin(),
            5.0,
            Seasonality::Weekly,
        );
        assert_eq!((s.run_count, s.delta, s.baseline_at), (7, None, None));
        assert!(!s.is_regression && !s.has_regression);
        // A baseline further back than a week is used when the week before is missing; one
        // more than 3 hours off the time of day is not the same hours.
        let runs = vec![
            run(0, "core", 790.0),
            run(7 * 24 + 4, "core", 700.0),
            run(14 * 24, "core", 780.0),
        ];
        let s = summarize(
            runs,
            origin() + Duration::days(13),
            5.0,
            Seasonality::Weekly,
        );
        assert_eq!(s.baseline_at, Some(origin()));
        assert_eq!(s.delta, Some(-10.0));
        assert!(s.is_regression);
    }
}
