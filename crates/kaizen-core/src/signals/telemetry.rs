//! Telemetry domain: event counts by type.

use super::{AggregationWindow, KeyedStats, SignalSource, SourceError, sig};
use crate::rollup::{Dim, Stream, telemetry};
use crate::snapshot::OrgTelemetrySummary;

/// How many event types `top_event_types` lists.
pub const TOP: usize = 5;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgTelemetrySummary, SourceError> {
    Ok(summarize(&source.rollups(
        Stream::Telemetry,
        Dim::EventType,
        w.hours.clone(),
    )?))
}

/// Summarises telemetry rollups. Pure.
pub fn summarize(by_type: &[KeyedStats]) -> OrgTelemetrySummary {
    let mut counts: Vec<(&str, f64, f64)> = by_type
        .iter()
        .map(|r| {
            let s = sig(&r.stats, telemetry::ERROR);
            (r.key.as_str(), s.n, s.sum)
        })
        .filter(|(_, n, _)| *n > 0.0)
        .collect();
    counts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    OrgTelemetrySummary {
        event_count: counts.iter().map(|c| c.1).sum::<f64>() as u64,
        top_event_types: counts.iter().take(TOP).map(|c| c.0.to_owned()).collect(),
        error_event_count: counts.iter().map(|c| c.2).sum::<f64>() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stat;

    fn kind(key: &str, errors: &[bool]) -> KeyedStats {
        let mut s = Stat::EMPTY;
        errors
            .iter()
            .for_each(|e| s.add(if *e { 1.0 } else { 0.0 }));
        KeyedStats {
            key: key.into(),
            stats: vec![s],
        }
    }

    #[test]
    fn golden_counts_and_top_types() {
        let rows: Vec<KeyedStats> = [("a", 1), ("b", 3), ("c", 2), ("d", 2), ("e", 1), ("f", 5)]
            .iter()
            .map(|(k, n)| kind(k, &vec![false; *n]))
            .chain([kind("g", &[true, true, false])])
            .collect();
        let s = summarize(&rows);
        assert_eq!(s.event_count, 17);
        assert_eq!(s.error_event_count, 2);
        assert_eq!(s.top_event_types, vec!["f", "b", "g", "c", "d"]);
    }
}
