//! Benchmark domain (optional): runs of benchmark suites in the window.
//!
//! Per suite, runs are ordered by time; a run whose total drops more than
//! `signals.benchmark_regression_points` below the suite's previous run in the window is a
//! regression. The summary describes the suite whose latest change is worst.

use std::collections::BTreeMap;

use super::{AggregationWindow, BenchmarkRunRecord, SignalSource, SourceError};
use crate::snapshot::OrgBenchmarkSummary;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgBenchmarkSummary, SourceError> {
    Ok(summarize(
        source.benchmark_runs(w.time_range())?,
        w.config.benchmark_regression_points,
    ))
}

/// Summarises benchmark runs. Pure.
pub fn summarize(mut runs: Vec<BenchmarkRunRecord>, threshold: f64) -> OrgBenchmarkSummary {
    if runs.is_empty() {
        return OrgBenchmarkSummary::default();
    }
    runs.sort_by_key(|r| r.ts);
    let mut by_suite: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &runs {
        by_suite
            .entry(r.suite.as_str())
            .or_default()
            .push(r.total_score);
    }
    let regressed = |prev: f64, next: f64| next - prev < -threshold;
    let has_regression = by_suite
        .values()
        .any(|totals| totals.windows(2).any(|p| regressed(p[0], p[1])));
    // (suite, latest, max, delta) — pick the most negative delta; suites with one run have none.
    let describe = |suite: &str, totals: &[f64]| {
        let latest = totals.last().copied();
        let max = totals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let delta =
            (totals.len() >= 2).then(|| totals[totals.len() - 1] - totals[totals.len() - 2]);
        (suite.to_owned(), latest, max, delta)
    };
    let chosen = by_suite.iter().map(|(s, t)| describe(s, t)).min_by(|a, b| {
        let da = a.3.unwrap_or(f64::INFINITY);
        let db = b.3.unwrap_or(f64::INFINITY);
        da.total_cmp(&db).then_with(|| a.0.cmp(&b.0))
    });
    let Some((suite, latest, max, delta)) = chosen else {
        return OrgBenchmarkSummary::default();
    };
    OrgBenchmarkSummary {
        run_count: runs.len() as u64,
        suite: Some(suite),
        latest_total: latest,
        max_total: Some(max),
        delta,
        is_regression: delta.is_some_and(|d| d < -threshold),
        has_regression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn run(h: i64, suite: &str, total: f64) -> BenchmarkRunRecord {
        BenchmarkRunRecord {
            ts: Utc
                .timestamp_opt(1_700_000_000, 0)
                .single()
                .unwrap_or_default()
                + Duration::hours(h),
            suite: suite.into(),
            total_score: total,
        }
    }

    #[test]
    fn worst_suite_is_reported() {
        let s = summarize(
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
        assert!(s.is_regression && s.has_regression);
    }

    #[test]
    fn drop_of_exactly_threshold_is_not_regression() {
        let s = summarize(vec![run(1, "core", 80.0), run(2, "core", 75.0)], 5.0);
        assert_eq!(s.delta, Some(-5.0));
        assert!(!s.is_regression);
        let single = summarize(vec![run(1, "core", 80.0)], 5.0);
        assert_eq!(
            (single.run_count, single.delta, single.is_regression),
            (1, None, false)
        );
    }
}
