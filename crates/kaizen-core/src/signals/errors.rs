//! Errors domain: findings per category and severity, with trends between the window halves,
//! and the agent with the most findings (`top_agent`, from findings that name an agent).

use std::collections::BTreeMap;

use super::{AggregationWindow, KeyedStats, SignalSource, SourceError, sig, trend};
use crate::rollup::{Dim, Stream, error};
use crate::snapshot::{AgentShare, ErrorCategorySummary, OrgErrorSummary, TrendDirection};
use crate::stats::Stat;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgErrorSummary, SourceError> {
    let first = source.rollups(Stream::Error, Dim::Category, w.first_half())?;
    let second = source.rollups(Stream::Error, Dim::Category, w.second_half())?;
    let baseline = match w.baseline_half() {
        Some(hours) => Some(source.rollups(Stream::Error, Dim::Category, hours)?),
        None => None,
    };
    let severities = source.rollups(Stream::Error, Dim::Severity, w.hours.clone())?;
    let by_agent = source.rollups(Stream::Error, Dim::Agent, w.hours.clone())?;
    let mut summary = summarize(
        &first,
        &second,
        &severities,
        (w.first_hours(), w.second_hours()),
        w.config.trend_tolerance,
    );
    // Like with like: with findings in the same hours of an earlier week, the trends compare
    // the second half with those (equally long, so the rates are the counts' ratio).
    if let Some(baseline) =
        baseline.filter(|b| b.iter().any(|r| sig(&r.stats, error::SEVERITY).n > 0.0))
    {
        let seasonal = summarize(
            &baseline,
            &second,
            &severities,
            (w.second_hours(), w.second_hours()),
            w.config.trend_tolerance,
        );
        summary.trend = seasonal.trend;
        for c in &mut summary.categories {
            if let Some(s) = seasonal
                .categories
                .iter()
                .find(|s| s.category == c.category)
            {
                c.trend = s.trend;
            }
        }
    }
    summary.top_agent = AgentShare::top(
        by_agent
            .iter()
            .map(|r| (r.key.as_str(), sig(&r.stats, error::SEVERITY).n)),
        summary.total_findings as f64,
    );
    Ok(summary)
}

/// Fewer findings than this in the whole window make no trend (one finding in the second
/// half is not a "declining" category).
pub const MIN_FINDINGS_FOR_TREND: f64 = 5.0;

/// Summarises error rollups. Pure. Severity stats carry the weight (low 1, medium 2, high 3)
/// with `n` = findings. Trends compare findings per hour of each half (`half_hours`), since
/// the halves need not be equally long.
pub fn summarize(
    first: &[KeyedStats],
    second: &[KeyedStats],
    severities: &[KeyedStats],
    half_hours: (f64, f64),
    tolerance: f64,
) -> OrgErrorSummary {
    let rate = |n: f64, hours: f64| (hours > 0.0).then(|| n / hours);
    let count_trend = |a: f64, b: f64| {
        if a + b < MIN_FINDINGS_FOR_TREND {
            return TrendDirection::Stable;
        }
        trend(
            rate(a, half_hours.0),
            rate(b, half_hours.1),
            false,
            tolerance,
        )
    };
    let mut halves: BTreeMap<&str, (Stat, Stat)> = BTreeMap::new();
    for r in first {
        halves
            .entry(&r.key)
            .or_insert((Stat::EMPTY, Stat::EMPTY))
            .0
            .merge(&sig(&r.stats, error::SEVERITY));
    }
    for r in second {
        halves
            .entry(&r.key)
            .or_insert((Stat::EMPTY, Stat::EMPTY))
            .1
            .merge(&sig(&r.stats, error::SEVERITY));
    }
    let mut categories: Vec<ErrorCategorySummary> = halves
        .iter()
        .filter_map(|(cat, (a, b))| {
            let mut whole = *a;
            whole.merge(b);
            Some(ErrorCategorySummary {
                category: (*cat).to_owned(),
                count: whole.n as u64,
                avg_severity: whole.mean()?,
                trend: count_trend(a.n, b.n),
            })
        })
        .collect();
    categories.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.category.cmp(&b.category))
    });
    let most_severe_category = categories
        .iter()
        .min_by(|a, b| {
            b.avg_severity
                .total_cmp(&a.avg_severity)
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| a.category.cmp(&b.category))
        })
        .map(|c| c.category.clone());
    let first_total: f64 = halves.values().map(|(a, _)| a.n).sum();
    let second_total: f64 = halves.values().map(|(_, b)| b.n).sum();
    let severity_histogram = severities
        .iter()
        .map(|r| (r.key.clone(), sig(&r.stats, error::SEVERITY).n as u64))
        .filter(|(_, n)| *n > 0)
        .collect();
    OrgErrorSummary {
        total_findings: categories.iter().map(|c| c.count).sum(),
        categories,
        most_severe_category,
        severity_histogram,
        trend: count_trend(first_total, second_total),
        top_agent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, findings: &[(f64, f64)]) -> KeyedStats {
        let mut s = Stat::EMPTY;
        for (weight, count) in findings {
            s.merge(&Stat::weighted(*weight, *count));
        }
        KeyedStats {
            key: key.into(),
            stats: vec![s],
        }
    }

    #[test]
    fn golden_categories() {
        // timeout: 2 low + 1 high in the first half, 4 medium in the second.
        // hallucination: 1 high in each half.
        let first = [
            row("timeout", &[(1.0, 2.0), (3.0, 1.0)]),
            row("hallucination", &[(3.0, 1.0)]),
        ];
        let second = [
            row("timeout", &[(2.0, 4.0)]),
            row("hallucination", &[(3.0, 1.0)]),
        ];
        let sev = [
            row("low", &[(1.0, 2.0)]),
            row("medium", &[(2.0, 4.0)]),
            row("high", &[(3.0, 3.0)]),
        ];
        let s = summarize(&first, &second, &sev, (24.0, 24.0), 0.05);
        assert_eq!(s.total_findings, 9);
        assert_eq!(s.categories[0].category, "timeout");
        assert_eq!(s.categories[0].count, 7);
        // (2·1 + 1·3 + 4·2) / 7 = 13/7
        assert!((s.categories[0].avg_severity - 13.0 / 7.0).abs() < 1e-12);
        assert_eq!(s.categories[0].trend, TrendDirection::Declining);
        // hallucination: 1 + 1 findings, too few for a trend.
        assert_eq!(s.categories[1].trend, TrendDirection::Stable);
        assert_eq!(s.most_severe_category.as_deref(), Some("hallucination"));
        assert_eq!(s.severity_histogram.get("high"), Some(&3));
        // 4 findings then 5: +25 % → declining.
        assert_eq!(s.trend, TrendDirection::Declining);
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(
            summarize(&[], &[], &[], (24.0, 24.0), 0.05),
            OrgErrorSummary::default()
        );
    }

    #[test]
    fn count_trends_are_rates_per_hour() {
        // 3 findings in 24 h then 4 in 32 h: 0.125/h both → stable, not "more errors".
        let few = summarize(&[], &[row("x", &[(1.0, 4.0)])], &[], (24.0, 24.0), 0.05);
        assert_eq!(
            few.trend,
            TrendDirection::Stable,
            "4 findings are too few for a trend"
        );
        let first = [row("timeout", &[(1.0, 3.0)])];
        let second = [row("timeout", &[(1.0, 4.0)])];
        let s = summarize(&first, &second, &[], (24.0, 32.0), 0.05);
        assert_eq!(s.trend, TrendDirection::Stable);
        assert_eq!(s.categories[0].trend, TrendDirection::Stable);
    }
}
