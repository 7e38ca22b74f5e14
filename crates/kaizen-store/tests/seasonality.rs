//! Weekly seasonality end to end on a real SQLite store (issue 14): an organisation whose
//! weekends are quieter and weaker must not show a declining trend, a "fewer errors" trend or a
//! benchmark regression just because the window's second half holds a weekend.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use kaizen_core::rules::{RuleEngine, RulesConfig};
use kaizen_core::signals::{Seasonality, SignalsConfig, SnapshotBuilder};
use kaizen_core::snapshot::{OrgSignalSnapshot, TrendDirection};
use kaizen_store::{IngestOptions, Store};

fn day(d: i64) -> DateTime<Utc> {
    // Monday 2 November 2026.
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::days(d)
}

/// Two weeks: two tasks a day (quality 8 on weekdays, 6 at weekends), four error findings on a
/// weekday and one on a weekend day, and a daily benchmark run 8 points lower at weekends.
fn data() -> String {
    let mut out = String::new();
    for d in 0..14 {
        let start = day(d);
        let weekend = matches!(start.weekday(), Weekday::Sat | Weekday::Sun);
        let quality = if weekend { 6 } else { 8 };
        for (i, h) in [10, 14].iter().enumerate() {
            let ts = (start + Duration::hours(*h)).to_rfc3339();
            out.push_str(&format!(
                r#"{{"type":"task.completed","id":"t{d}-{i}","ts":"{ts}","agent_id":"a1","department":"eng","role":"dev","task_id":"k{d}-{i}","success":true,"quality_score":{quality}}}"#
            ));
            out.push('\n');
        }
        for i in 0..(if weekend { 1 } else { 4 }) {
            let ts = (start + Duration::hours(9 + i)).to_rfc3339();
            out.push_str(&format!(
                r#"{{"type":"error.finding","id":"e{d}-{i}","ts":"{ts}","category":"timeout","severity":"low"}}"#
            ));
            out.push('\n');
        }
        let ts = (start + Duration::hours(2)).to_rfc3339();
        let total = if weekend { 772.0 } else { 780.0 } + 0.1 * d as f64;
        out.push_str(&format!(
            r#"{{"type":"benchmark.run","id":"r{d}","ts":"{ts}","suite":"core","total_score":{total}}}"#
        ));
        out.push('\n');
    }
    out
}

/// The week Monday 9 – Monday 16 November: the first half is Monday–Thursday, the second
/// Friday–Sunday.
fn snapshot(seasonality: Seasonality) -> OrgSignalSnapshot {
    snapshot_until(seasonality, day(14))
}

/// The seven days before `until`.
fn snapshot_until(seasonality: Seasonality, until: DateTime<Utc>) -> OrgSignalSnapshot {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("season.db")).expect("open store");
    let report = store
        .ingest(data().as_bytes(), IngestOptions::new(day(15)))
        .expect("ingest");
    assert_eq!(report.rejected, 0, "{:?}", report.rejections);
    SnapshotBuilder::new(SignalsConfig {
        seasonality,
        ..SignalsConfig::default()
    })
    .build(store.signal_source(), until - Duration::days(7), until)
}

fn quality(s: &OrgSignalSnapshot) -> (Option<f64>, TrendDirection) {
    let m = s
        .performance
        .metrics
        .iter()
        .find(|m| m.name == "quality_score")
        .expect("quality metric");
    (m.baseline, m.trend)
}

#[test]
fn a_weekend_in_the_second_half_is_compared_with_the_previous_weekend() {
    let weekly = snapshot(Seasonality::Weekly);
    let halves = snapshot(Seasonality::None);

    // Quality: second half (Fri 8, 8; Sat and Sun 6, 6, 6, 6) = 6.67 against the first half's 8
    // is a decline; against the same days a week earlier (also 6.67) it is the rhythm.
    assert_eq!(quality(&halves), (None, TrendDirection::Declining));
    let (baseline, trend) = quality(&weekly);
    assert!(
        (baseline.unwrap() - 40.0 / 6.0).abs() < 1e-9,
        "{baseline:?}"
    );
    assert_eq!(trend, TrendDirection::Stable);
    // The window's own numbers are the same either way.
    assert_eq!(
        weekly.performance.avg_quality_score,
        halves.performance.avg_quality_score
    );

    // Errors: 6 findings in the 72 hours of the second half against 16 in the first 96 looks
    // like an improvement; the same hours a week earlier also had 6.
    assert_eq!(halves.errors.trend, TrendDirection::Improving);
    assert_eq!(weekly.errors.trend, TrendDirection::Stable);
    assert_eq!(weekly.errors.categories[0].trend, TrendDirection::Stable);
    assert_eq!(weekly.errors.total_findings, halves.errors.total_findings);

    // Benchmark: Sunday's run against Saturday's is flat, but Saturday's against Friday's
    // dropped 7.9 points; against the previous Saturday it rose 0.7.
    assert!(halves.benchmark.has_regression);
    assert!(!weekly.benchmark.has_regression, "{:?}", weekly.benchmark);
    assert_eq!(
        weekly.benchmark.baseline_at,
        Some(day(6) + Duration::hours(2))
    );

    let fired = |s: &OrgSignalSnapshot| -> Vec<String> {
        RuleEngine::from_config(&RulesConfig::default())
            .evaluate(s)
            .matches
            .into_iter()
            .map(|m| m.rule_name)
            .collect()
    };
    // 22 findings trip error_spike either way.
    assert_eq!(fired(&weekly), ["error_spike"]);
    // On Sunday morning Saturday's run is the latest: run to run it is a regression that
    // fires the rule, against the previous Saturday it is not.
    let saturday = |seasonality| snapshot_until(seasonality, day(13));
    let names = |s| {
        fired(&s)
            .into_iter()
            .filter(|n| n != "error_spike")
            .collect::<Vec<_>>()
    };
    assert_eq!(names(saturday(Seasonality::None)), ["benchmark_regression"]);
    assert!(names(saturday(Seasonality::Weekly)).is_empty());
}

#[test]
fn a_real_weekday_drop_still_shows_against_the_same_weekday() {
    // The same data plus a Friday run 20 points down: a regression against the previous
    // Friday.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("drop.db")).expect("open store");
    let mut text = data();
    let ts = (day(11) + Duration::hours(3)).to_rfc3339();
    text.push_str(&format!(
        r#"{{"type":"benchmark.run","id":"drop","ts":"{ts}","suite":"core","total_score":760}}"#
    ));
    text.push('\n');
    store
        .ingest(text.as_bytes(), IngestOptions::new(day(15)))
        .expect("ingest");
    let s = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        day(5),
        day(11) + Duration::hours(4),
    );
    assert_eq!(s.benchmark.latest_total, Some(760.0));
    assert_eq!(s.benchmark.baseline_at, Some(day(4) + Duration::hours(2)));
    assert!(s.benchmark.is_regression, "{:?}", s.benchmark);
}

/// A window of years (a hostile or careless `since`) costs a bounded number of reads: the
/// daily levels are the last four weeks only (a fuzzed request once took 22 s).
#[test]
fn a_window_of_years_holds_at_most_four_weeks_of_daily_levels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("season.db")).expect("open store");
    store
        .ingest(data().as_bytes(), IngestOptions::new(day(15)))
        .expect("ingest");
    let s = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        day(14) - Duration::days(3650),
        day(14),
    );
    assert_eq!(
        s.performance.daily.len(),
        kaizen_core::signals::MAX_DAILY_BLOCKS
    );
    assert_eq!(s.performance.daily.last().map(|d| d.until), Some(day(14)));
    assert_eq!(s.performance.daily.last().map(|d| d.task_count), Some(2));
}
