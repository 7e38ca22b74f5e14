//! Coordination domain: the metrics of Kim et al., "Towards a Science of Scaling Agent
//! Systems" (2025), computed from window means of the per-task measurements:
//!
//! * efficiency Ec = success rate ÷ (mean turns_mas ÷ mean turns_sas)
//! * overhead O% = (mean turns_mas − mean turns_sas) ÷ mean turns_sas × 100
//! * error amplification Ae = mean error_rate_mas ÷ mean error_rate_sas
//! * message density c = Σ messages ÷ Σ reasoning turns
//! * redundancy R = mean redundancy, and the mean straggler gap ratio.
//!
//! Each metric is `None` when no event in the window carried its inputs, when its divisor is 0,
//! or when the quotient would not be a finite number (a divisor so small that it overflows).

use super::{AggregationWindow, SignalSource, SourceError, sig, total};
use crate::rollup::{Dim, Stream, coordination as c};
use crate::snapshot::OrgCoordinationSummary;
use crate::stats::Stat;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgCoordinationSummary, SourceError> {
    let rows = source.rollups(Stream::Coordination, Dim::Org, w.hours.clone())?;
    Ok(summarize(&total(&rows, c::SIGNALS.len())))
}

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d).filter(|r| r.is_finite()),
        _ => None,
    }
}

/// Computes the coordination summary from the window's summed measurements. Pure.
pub fn summarize(stats: &[Stat]) -> OrgCoordinationSummary {
    let mean = |i: usize| sig(stats, i).mean();
    let sum = |i: usize| {
        let s = sig(stats, i);
        (!s.is_empty()).then_some(s.sum)
    };
    let turn_ratio = ratio(mean(c::TURNS_MAS), mean(c::TURNS_SAS));
    OrgCoordinationSummary {
        coordination_efficiency: ratio(mean(c::SUCCESS), turn_ratio),
        coordination_overhead_pct: turn_ratio
            .map(|r| (r - 1.0) * 100.0)
            .filter(|p| p.is_finite()),
        error_amplification: ratio(mean(c::ERROR_RATE_MAS), mean(c::ERROR_RATE_SAS)),
        message_density: ratio(sum(c::MESSAGES), sum(c::REASONING_TURNS)),
        redundancy_rate: mean(c::REDUNDANCY),
        straggler_gap_ratio: mean(c::STRAGGLER_GAP_RATIO),
        sample_count: sig(stats, c::SAMPLES).n as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_kim_metrics() {
        let mut s = vec![Stat::EMPTY; c::SIGNALS.len()];
        // Two tasks: sas turns 10 and 20 (mean 15), mas turns 15 and 24 (mean 19.5).
        for (sas, mas, ok, es, em, msg, rt, red, gap) in [
            (10.0, 15.0, 1.0, 0.1, 0.2, 30.0, 10.0, 0.1, 1.5),
            (20.0, 24.0, 0.0, 0.1, 0.4, 10.0, 10.0, 0.3, 2.5),
        ] {
            for (i, v) in [sas, mas, ok, es, em, msg, rt, red, gap, 1.0]
                .into_iter()
                .enumerate()
            {
                s[i].add(v);
            }
        }
        let r = summarize(&s);
        let overhead = r.coordination_overhead_pct.unwrap_or(f64::NAN);
        assert!((overhead - 30.0).abs() < 1e-9, "{overhead}");
        // Ec = 0.5 / 1.3
        let ec = r.coordination_efficiency.unwrap_or(f64::NAN);
        assert!((ec - 0.5 / 1.3).abs() < 1e-9);
        let ae = r.error_amplification.unwrap_or(f64::NAN);
        assert!((ae - 3.0).abs() < 1e-9);
        assert_eq!(r.message_density, Some(2.0));
        assert_eq!(r.redundancy_rate, Some(0.2));
        assert_eq!(r.straggler_gap_ratio, Some(2.0));
        assert_eq!(r.sample_count, 2);
    }

    #[test]
    fn missing_inputs_are_none() {
        let mut s = vec![Stat::EMPTY; c::SIGNALS.len()];
        s[c::SAMPLES].add(1.0);
        s[c::REDUNDANCY].add(0.4);
        let r = summarize(&s);
        assert_eq!(r.coordination_overhead_pct, None);
        assert_eq!(r.coordination_efficiency, None);
        assert_eq!(r.error_amplification, None);
        assert_eq!(r.message_density, None);
        assert_eq!(r.redundancy_rate, Some(0.4));
        assert_eq!(r.sample_count, 1);
        assert_eq!(summarize(&[]), OrgCoordinationSummary::default());
    }

    #[test]
    fn overflowing_ratios_are_none_not_infinite() {
        let mut s = vec![Stat::EMPTY; c::SIGNALS.len()];
        s[c::ERROR_RATE_SAS].add(5e-324);
        s[c::ERROR_RATE_MAS].add(0.5);
        s[c::TURNS_SAS].add(1e-300);
        s[c::TURNS_MAS].add(1e12);
        let r = summarize(&s);
        assert_eq!(r.error_amplification, None);
        assert_eq!(r.coordination_overhead_pct, None);
        assert_eq!(r.coordination_efficiency, None);
    }
}
