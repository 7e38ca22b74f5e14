//! Budget domain: spend by category, orchestration overhead and a spend forecast.
//!
//! Forecast method (documented in `docs/snapshot.md`): the burn rate is the window's spend
//! divided by its length in days (days without spend count as zero). The remaining budget is the
//! latest `budget.status` before the window's end minus what was spent after that report, or,
//! without any report, `signals.monthly_budget_usd` minus the spend of the calendar month so
//! far. `days_until_exhausted = floor(remaining / burn)`. Confidence is coverage × stability:
//! coverage = min(1, days with spend / 7), stability = 1 / (1 + coefficient of variation of
//! the daily spends); it is 0 when there is no forecast.
//!
//! Sums are compensated ([`fsum`], [`Stat`]). `top_agent` names the agent with the largest
//! spend in the window and its share of the total, so that a finding on the total can say how
//! much of it one agent accounts for.

use chrono::{Datelike, TimeZone, Utc};

use super::{AggregationWindow, BudgetState, SignalSource, SourceError, total};
use crate::rollup::{Dim, MICROS_PER_HOUR, Stream, cost};
use crate::snapshot::AgentShare;
use crate::snapshot::OrgBudgetSummary;
use crate::stats::{Stat, fsum};

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgBudgetSummary, SourceError> {
    let by_category = source.rollups(Stream::Cost, Dim::Category, w.hours.clone())?;
    let hourly = source.hourly_rollups(Stream::Cost, Dim::Category, w.hours.clone())?;
    let by_agent = source.rollups(Stream::Cost, Dim::Agent, w.hours.clone())?;
    let day_slots = ((w.hours.end - w.hours.start) as usize).div_ceil(24);
    let mut daily = vec![Stat::EMPTY; day_slots];
    for h in &hourly {
        let day = ((h.hour - w.hours.start) / 24) as usize;
        if let (Some(slot), Some(usd)) = (daily.get_mut(day), h.stats.get(cost::USD)) {
            slot.merge(usd);
        }
    }
    let daily: Vec<f64> = daily.iter().map(|d| d.sum).collect();

    let end = AggregationWindow::time_of(w.hours.end);
    // The month the window's last instant falls in (a window ending at 1 Dec 00:00 is November's).
    let last_instant = end - chrono::Duration::microseconds(1);
    let remaining = match source.budget_state(end)? {
        Some(state) => Some(remaining_after(source, state, w.hours.end)?),
        None => match w.config.monthly_budget_usd {
            Some(limit) => {
                let month_start = Utc
                    .with_ymd_and_hms(last_instant.year(), last_instant.month(), 1, 0, 0, 0)
                    .single()
                    .map(|t| t.timestamp_micros().div_euclid(MICROS_PER_HOUR))
                    .unwrap_or(w.hours.start);
                let spent = total(
                    &source.rollups(Stream::Cost, Dim::Category, month_start..w.hours.end)?,
                    cost::SIGNALS.len(),
                )[cost::USD]
                    .sum;
                Some(((limit - spent).max(0.0), Some(limit)))
            }
            None => None,
        },
    };
    let inputs = BudgetInputs {
        by_category: by_category
            .iter()
            .map(|r| (r.key.as_str(), r.stats.as_slice()))
            .collect(),
        daily_spend: daily,
        window_days: w.days(),
        remaining_usd: remaining.map(|r| r.0),
        monthly_limit_usd: remaining.and_then(|r| r.1),
        by_agent: by_agent
            .iter()
            .map(|r| {
                let usd = r.stats.get(cost::USD).map_or(0.0, |s| s.sum);
                (r.key.as_str(), usd)
            })
            .collect(),
    };
    Ok(summarize(&inputs))
}

/// The remaining budget at the window's end: the reported remainder minus the spend in the
/// hours after the report.
fn remaining_after(
    source: &dyn SignalSource,
    state: BudgetState,
    end_hour: i64,
) -> Result<(f64, Option<f64>), SourceError> {
    let report_hour = state.ts.timestamp_micros().div_euclid(MICROS_PER_HOUR);
    let after = total(
        &source.rollups(Stream::Cost, Dim::Category, (report_hour + 1)..end_hour)?,
        cost::SIGNALS.len(),
    );
    Ok((
        (state.remaining_usd - after[cost::USD].sum).max(0.0),
        Some(state.monthly_limit_usd),
    ))
}

/// What the budget summary is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetInputs<'a> {
    /// Cost signals per category (`productive`, `coordination`, `system`).
    pub by_category: Vec<(&'a str, &'a [Stat])>,
    /// Spend per day of the window, USD (the last day may be partial).
    pub daily_spend: Vec<f64>,
    /// The window's length in days (the divisor of the burn rate).
    pub window_days: f64,
    /// Remaining budget, when known.
    pub remaining_usd: Option<f64>,
    /// Monthly limit, when known.
    pub monthly_limit_usd: Option<f64>,
    /// Spend per agent in the window, USD.
    pub by_agent: Vec<(&'a str, f64)>,
}

/// Computes the budget summary. Pure.
pub fn summarize(inputs: &BudgetInputs<'_>) -> OrgBudgetSummary {
    let usd = |cat: &str| -> f64 {
        fsum(
            inputs
                .by_category
                .iter()
                .filter(|(k, _)| *k == cat)
                .filter_map(|(_, s)| s.get(cost::USD))
                .map(|s| s.sum),
        )
    };
    let tokens = |cat: &str| -> f64 {
        fsum(
            inputs
                .by_category
                .iter()
                .filter(|(k, _)| *k == cat)
                .flat_map(|(_, s)| {
                    [
                        s.get(cost::INPUT_TOKENS).map_or(0.0, |t| t.sum),
                        s.get(cost::OUTPUT_TOKENS).map_or(0.0, |t| t.sum),
                    ]
                }),
        )
    };
    let total_spend = fsum(
        inputs
            .by_category
            .iter()
            .filter_map(|(_, s)| s.get(cost::USD))
            .map(|s| s.sum),
    );
    let ratio = |part: f64| {
        if total_spend > 0.0 {
            (part / total_spend).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let productive_tokens = tokens("productive");
    let orchestration_overhead = if productive_tokens > 0.0 {
        tokens("coordination") / productive_tokens
    } else {
        0.0
    };
    let orchestration_overhead = if orchestration_overhead.is_finite() {
        orchestration_overhead
    } else {
        f64::MAX
    };

    let days = inputs.daily_spend.len();
    let days_with_spend = inputs.daily_spend.iter().filter(|d| **d > 0.0).count();
    let mut daily = Stat::EMPTY;
    inputs.daily_spend.iter().for_each(|d| daily.add(*d));
    let spent = fsum(inputs.daily_spend.iter().copied());
    let burn = (inputs.window_days > 0.0)
        .then(|| spent / inputs.window_days)
        .filter(|b| *b > 0.0 && b.is_finite());
    let days_until_exhausted = match (inputs.remaining_usd, burn) {
        (Some(remaining), Some(burn)) => {
            Some((remaining / burn).floor().min(f64::from(u32::MAX)) as u32)
        }
        _ => None,
    };
    let forecast_confidence = match (days_until_exhausted, burn) {
        (Some(_), Some(burn)) => {
            let coverage = (days_with_spend as f64 / 7.0).min(1.0);
            let stability = match daily.variance() {
                Some(var) if days >= 2 => 1.0 / (1.0 + var.sqrt() / burn),
                _ => 0.5,
            };
            (coverage * stability).clamp(0.0, 1.0)
        }
        _ => 0.0,
    };

    OrgBudgetSummary {
        total_spend,
        productive_ratio: ratio(usd("productive")),
        coordination_ratio: ratio(usd("coordination")),
        system_ratio: ratio(usd("system")),
        days_until_exhausted,
        forecast_confidence,
        orchestration_overhead,
        daily_burn_usd: burn,
        remaining_usd: inputs.remaining_usd,
        monthly_limit_usd: inputs.monthly_limit_usd,
        days_with_spend: days_with_spend as u32,
        top_agent: AgentShare::top(inputs.by_agent.iter().copied(), total_spend),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(usd: f64, tokens_in: f64, tokens_out: f64) -> Vec<Stat> {
        vec![Stat::of(usd), Stat::of(tokens_in), Stat::of(tokens_out)]
    }

    #[test]
    fn golden_ratios_and_forecast() {
        let productive = cost(60.0, 1000.0, 1000.0);
        let coordination = cost(30.0, 500.0, 300.0);
        let system = cost(10.0, 0.0, 0.0);
        let inputs = BudgetInputs {
            by_category: vec![
                ("productive", &productive),
                ("coordination", &coordination),
                ("system", &system),
            ],
            // 7 days, 100 USD in total: burn 100/7 per day.
            daily_spend: vec![10.0, 20.0, 10.0, 20.0, 10.0, 20.0, 10.0],
            window_days: 7.0,
            remaining_usd: Some(150.0),
            monthly_limit_usd: Some(1000.0),
            by_agent: vec![("a1", 70.0), ("a2", 30.0)],
        };
        let s = summarize(&inputs);
        assert_eq!(s.total_spend, 100.0);
        assert_eq!(
            (s.productive_ratio, s.coordination_ratio, s.system_ratio),
            (0.6, 0.3, 0.1)
        );
        assert_eq!(s.orchestration_overhead, 800.0 / 2000.0);
        // 150 / (100 / 7) = 10.5 → 10 whole days.
        assert_eq!(s.days_until_exhausted, Some(10));
        assert_eq!(s.days_with_spend, 7);
        // Daily spends: mean 100/7, sample sd = sqrt(2/7 · 50·... ) — check via the formula.
        let mean: f64 = 100.0 / 7.0;
        let var = [10.0f64, 20.0, 10.0, 20.0, 10.0, 20.0, 10.0]
            .iter()
            .map(|d| (d - mean).powi(2))
            .sum::<f64>()
            / 6.0;
        let expected = 1.0 / (1.0 + var.sqrt() / mean);
        assert!((s.forecast_confidence - expected).abs() < 1e-9);
        let top = s.top_agent.unwrap_or_else(|| panic!("no top agent"));
        assert_eq!(
            (top.agent_id.as_str(), top.share, top.agent_count),
            ("a1", 0.7, 2)
        );
    }

    #[test]
    fn no_remaining_means_no_forecast() {
        let productive = cost(5.0, 10.0, 10.0);
        let s = summarize(&BudgetInputs {
            by_category: vec![("productive", &productive)],
            daily_spend: vec![5.0],
            window_days: 1.0,
            remaining_usd: None,
            monthly_limit_usd: None,
            by_agent: vec![],
        });
        assert_eq!(s.days_until_exhausted, None);
        assert_eq!(s.forecast_confidence, 0.0);
        assert_eq!(s.productive_ratio, 1.0);
    }

    #[test]
    fn nothing_spent_is_all_zero() {
        let s = summarize(&BudgetInputs {
            by_category: vec![],
            daily_spend: vec![0.0; 7],
            window_days: 7.0,
            remaining_usd: Some(100.0),
            monthly_limit_usd: None,
            by_agent: vec![],
        });
        assert_eq!(s.total_spend, 0.0);
        assert_eq!(s.productive_ratio, 0.0);
        assert_eq!(s.days_until_exhausted, None);
        assert_eq!(s.daily_burn_usd, None);
    }
}
