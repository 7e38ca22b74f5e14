//! Evolution domain: per-agent evolution outcomes decided in the window.

use super::{AggregationWindow, KeyedStats, SignalSource, SourceError, sig};
use crate::rollup::{Dim, Stream, evolution};
use crate::snapshot::{EvolutionOutcomeSummary, OrgEvolutionSummary};

/// How many outcomes `recent_outcomes` keeps.
pub const RECENT: usize = 20;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgEvolutionSummary, SourceError> {
    let by_axis = source.rollups(Stream::Evolution, Dim::Axis, w.hours.clone())?;
    if by_axis.is_empty() {
        return Ok(OrgEvolutionSummary::default());
    }
    let recent = source.recent_evolution_outcomes(w.time_range(), RECENT)?;
    Ok(summarize(&by_axis, recent))
}

/// Summarises evolution outcomes per axis. Pure.
pub fn summarize(
    by_axis: &[KeyedStats],
    recent: Vec<EvolutionOutcomeSummary>,
) -> OrgEvolutionSummary {
    let total: f64 = by_axis
        .iter()
        .map(|r| sig(&r.stats, evolution::APPLIED).n)
        .sum();
    let applied: f64 = by_axis
        .iter()
        .map(|r| sig(&r.stats, evolution::APPLIED).sum)
        .sum();
    let most_adapted_axis = by_axis
        .iter()
        .map(|r| (r.key.as_str(), sig(&r.stats, evolution::APPLIED).n))
        .filter(|(_, n)| *n > 0.0)
        .min_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)))
        .map(|(k, _)| k.to_owned());
    OrgEvolutionSummary {
        recent_outcomes: recent,
        total_proposals: total as u64,
        approval_rate: (total > 0.0).then(|| applied / total),
        most_adapted_axis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stat;

    fn axis(key: &str, outcomes: &[bool]) -> KeyedStats {
        let mut s = Stat::EMPTY;
        outcomes
            .iter()
            .for_each(|a| s.add(if *a { 1.0 } else { 0.0 }));
        KeyedStats {
            key: key.into(),
            stats: vec![s],
        }
    }

    #[test]
    fn golden_axes() {
        let s = summarize(
            &[axis("tools", &[true, false]), axis("prompt", &[true, true])],
            vec![],
        );
        assert_eq!(s.total_proposals, 4);
        assert_eq!(s.approval_rate, Some(0.75));
        // Tie at 2 each: alphabetical.
        assert_eq!(s.most_adapted_axis.as_deref(), Some("prompt"));
        assert_eq!(summarize(&[], vec![]).approval_rate, None);
    }
}
