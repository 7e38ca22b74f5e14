//! Budget domain: spend by category, orchestration overhead and a spend forecast.
//!
//! Forecast method (documented in `docs/snapshot.md`): the burn rate is the mean daily spend of
//! the window's last whole weeks (the whole window's when it is shorter than a week; days
//! without spend count as zero). The budget period (`signals.budget_period`: calendar month by
//! default, ISO week, or fixed days from an anchor) is the one containing the window's last
//! instant. The remaining budget is the latest `budget.status` before the window's end minus
//! what was spent after that report when the report is from this period; a report from an
//! earlier period means the budget has reset since (its limit minus this period's spend);
//! without any report, `signals.monthly_budget_usd` minus this period's spend.
//! `days_until_exhausted = floor(remaining / burn)`; `days_until_reset` and the projected spend
//! at the reset let `budget_overrun` fire only when the budget runs out before the reset.
//! Confidence is coverage × stability:
//! coverage = min(1, days with spend / 7), stability = 1 / (1 + coefficient of variation of
//! the daily spends); it is 0 when there is no forecast.
//!
//! Sums are compensated ([`fsum`], [`Stat`]). `top_agent` names the agent with the largest
//! spend in the window and its share of the total, so that a finding on the total can say how
//! much of it one agent accounts for.

use chrono::{DateTime, Utc};

use super::period::days_between;

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
    // The burn rate's basis: the window's last whole weeks (each weekday as often as the
    // others), or the whole window when it is shorter than a week.
    let weeks = (w.hours.end - w.hours.start) / HOURS_PER_WEEK;
    let burn_from = w.hours.end - weeks * HOURS_PER_WEEK;
    let mut weeks_spend = Stat::EMPTY;
    for h in &hourly {
        let day = ((h.hour - w.hours.start) / 24) as usize;
        if let (Some(slot), Some(usd)) = (daily.get_mut(day), h.stats.get(cost::USD)) {
            slot.merge(usd);
            if h.hour >= burn_from {
                weeks_spend.merge(usd);
            }
        }
    }
    let daily: Vec<f64> = daily.iter().map(|d| d.sum).collect();

    let end = AggregationWindow::time_of(w.hours.end);
    // The period the window's last instant falls in (a window ending at 1 Dec 00:00 is
    // November's).
    let last_instant = end - chrono::Duration::microseconds(1);
    let (period_start, period_end) = w.config.budget_period().containing(last_instant);
    let period_start_hour = period_start.timestamp_micros().div_euclid(MICROS_PER_HOUR);
    let spent_in_period = || -> Result<f64, SourceError> {
        Ok(total(
            &source.rollups(
                Stream::Cost,
                Dim::Category,
                period_start_hour.min(w.hours.end)..w.hours.end,
            )?,
            cost::SIGNALS.len(),
        )[cost::USD]
            .sum)
    };
    let remaining = match source.budget_state(end)? {
        Some(state) if state.ts >= period_start => {
            Some(remaining_after(source, state, w.hours.end)?)
        }
        // Reported in an earlier period: the budget has reset since; the same limit applies
        // to this period.
        Some(state) => Some((
            (state.monthly_limit_usd - spent_in_period()?).max(0.0),
            Some(state.monthly_limit_usd),
        )),
        None => match w.config.monthly_budget_usd {
            Some(limit) => Some(((limit - spent_in_period()?).max(0.0), Some(limit))),
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
        whole_weeks: (weeks > 0).then(|| (weeks_spend.sum, (weeks * 7) as f64)),
        period: Some((period_start, period_end)),
        days_until_reset: Some(days_between(end, period_end)),
    };
    Ok(summarize(&inputs))
}

/// Hours in a week.
const HOURS_PER_WEEK: i64 = 7 * 24;

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
    /// Spend of the window's last whole weeks and their length in days (the burn rate's
    /// basis); `None` when the window is shorter than a week (then the whole window is).
    pub whole_weeks: Option<(f64, f64)>,
    /// The budget period `[start, end)` the window's end falls in.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Days from the window's end to the period's end (the reset).
    pub days_until_reset: Option<f64>,
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
    let (burn_spend, burn_days) = inputs.whole_weeks.unwrap_or((spent, inputs.window_days));
    let burn = (burn_days > 0.0)
        .then(|| burn_spend / burn_days)
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
        period_start: inputs.period.map(|p| p.0),
        period_end: inputs.period.map(|p| p.1),
        days_until_reset: inputs.days_until_reset,
        projected_period_spend_usd: match (
            inputs.monthly_limit_usd,
            inputs.remaining_usd,
            inputs.days_until_reset,
        ) {
            (Some(limit), Some(remaining), Some(reset)) => {
                Some((limit - remaining).max(0.0) + burn.unwrap_or(0.0) * reset.max(0.0))
            }
            _ => None,
        },
        burn_window_days: burn_days.max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(usd: f64, tokens_in: f64, tokens_out: f64) -> Vec<Stat> {
        vec![Stat::of(usd), Stat::of(tokens_in), Stat::of(tokens_out)]
    }

    fn no_period() -> BudgetInputs<'static> {
        BudgetInputs {
            by_category: vec![],
            daily_spend: vec![],
            window_days: 0.0,
            remaining_usd: None,
            monthly_limit_usd: None,
            by_agent: vec![],
            whole_weeks: None,
            period: None,
            days_until_reset: None,
        }
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
            ..no_period()
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
            ..no_period()
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
            ..no_period()
        });
        assert_eq!(s.total_spend, 0.0);
        assert_eq!(s.productive_ratio, 0.0);
        assert_eq!(s.days_until_exhausted, None);
        assert_eq!(s.daily_burn_usd, None);
    }

    #[test]
    fn burn_is_the_mean_of_whole_weeks_and_the_projection_reaches_the_reset() {
        // Ten days: three days of 50 (outside the last week), then a week of four weekdays at
        // 20 and a weekend at 5 (seven days, 90 USD).
        let spends = [50.0, 50.0, 50.0, 20.0, 20.0, 5.0, 5.0, 20.0, 10.0, 10.0];
        let total: f64 = spends.iter().sum();
        let productive = cost(total, 0.0, 0.0);
        let start = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}"));
        let end = start + chrono::Duration::days(31);
        let s = summarize(&BudgetInputs {
            by_category: vec![("productive", &productive)],
            daily_spend: spends.to_vec(),
            window_days: 10.0,
            remaining_usd: Some(300.0),
            monthly_limit_usd: Some(1000.0),
            by_agent: vec![],
            whole_weeks: Some((90.0, 7.0)),
            period: Some((start, end)),
            days_until_reset: Some(7.5),
        });
        // 90 / 7 per day, not 240 / 10: the older, dearer days do not count.
        assert_eq!(s.daily_burn_usd, Some(90.0 / 7.0));
        assert_eq!(s.burn_window_days, 7.0);
        assert_eq!(s.days_until_exhausted, Some(23)); // ⌊300 / 12.857⌋
        assert_eq!((s.period_start, s.period_end), (Some(start), Some(end)));
        assert_eq!(s.days_until_reset, Some(7.5));
        // 700 spent + 7.5 days at 90/7.
        let projected = s.projected_period_spend_usd.unwrap_or_default();
        assert!(
            (projected - (700.0 + 7.5 * 90.0 / 7.0)).abs() < 1e-9,
            "{projected}"
        );

        // A period that has just started with nothing spent yet and no burn in the window.
        let s = summarize(&BudgetInputs {
            daily_spend: vec![0.0; 7],
            window_days: 7.0,
            remaining_usd: Some(1000.0),
            monthly_limit_usd: Some(1000.0),
            whole_weeks: Some((0.0, 7.0)),
            period: Some((start, end)),
            days_until_reset: Some(31.0),
            ..no_period()
        });
        assert_eq!((s.daily_burn_usd, s.days_until_exhausted), (None, None));
        assert_eq!(s.projected_period_spend_usd, Some(0.0));
    }

    /// A store of cost per hour and one budget report, for the aggregator.
    struct Costs {
        /// (hour, USD).
        hourly: Vec<(i64, f64)>,
        status: Option<BudgetState>,
    }

    impl SignalSource for Costs {
        fn rollups(
            &self,
            _: Stream,
            _: Dim,
            hours: std::ops::Range<i64>,
        ) -> Result<Vec<super::super::KeyedStats>, SourceError> {
            let usd: f64 = self
                .hourly
                .iter()
                .filter(|(h, _)| hours.contains(h))
                .map(|(_, u)| u)
                .sum();
            Ok(vec![super::super::KeyedStats {
                key: "productive".into(),
                stats: vec![Stat::of(usd), Stat::EMPTY, Stat::EMPTY],
            }])
        }
        fn hourly_rollups(
            &self,
            _: Stream,
            _: Dim,
            hours: std::ops::Range<i64>,
        ) -> Result<Vec<super::super::HourlyStats>, SourceError> {
            Ok(self
                .hourly
                .iter()
                .filter(|(h, _)| hours.contains(h))
                .map(|(h, u)| super::super::HourlyStats {
                    hour: *h,
                    key: "productive".into(),
                    stats: vec![Stat::of(*u), Stat::EMPTY, Stat::EMPTY],
                })
                .collect())
        }
        fn agents(&self) -> Result<Vec<super::super::AgentInfo>, SourceError> {
            Ok(vec![])
        }
        fn scaling_decisions(
            &self,
            _: std::ops::Range<DateTime<Utc>>,
        ) -> Result<Vec<super::super::ScalingDecisionRecord>, SourceError> {
            Ok(vec![])
        }
        fn recent_evolution_outcomes(
            &self,
            _: std::ops::Range<DateTime<Utc>>,
            _: usize,
        ) -> Result<Vec<crate::snapshot::EvolutionOutcomeSummary>, SourceError> {
            Ok(vec![])
        }
        fn budget_state(&self, before: DateTime<Utc>) -> Result<Option<BudgetState>, SourceError> {
            Ok(self.status.filter(|s| s.ts < before))
        }
        fn benchmark_runs(
            &self,
            _: std::ops::Range<DateTime<Utc>>,
        ) -> Result<Vec<super::super::BenchmarkRunRecord>, SourceError> {
            Ok(vec![])
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn hour(s: &str) -> i64 {
        at(s).timestamp() / 3600
    }

    /// 10 USD every hour from `from` to `to`.
    fn steady(from: &str, to: &str) -> Vec<(i64, f64)> {
        (hour(from)..hour(to)).map(|h| (h, 10.0)).collect()
    }

    #[test]
    fn a_status_from_the_previous_period_means_the_budget_has_reset() {
        // The last report, on 31 March at 23:00, left 500 of 6000. Two days into April the
        // budget has reset: 6000 minus April's 480, not 500 minus everything since the report.
        let source = Costs {
            hourly: steady("2026-03-25T00:00:00Z", "2026-04-03T00:00:00Z"),
            status: Some(BudgetState {
                ts: at("2026-03-31T23:00:00Z"),
                monthly_limit_usd: 6000.0,
                remaining_usd: 500.0,
            }),
        };
        let w = AggregationWindow::new(
            at("2026-03-27T00:00:00Z"),
            at("2026-04-03T00:00:00Z"),
            super::super::SignalsConfig::default(),
        );
        let s = aggregate(&source, &w).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.remaining_usd, Some(6000.0 - 480.0));
        assert_eq!(s.period_start, Some(at("2026-04-01T00:00:00Z")));
        assert_eq!(s.period_end, Some(at("2026-05-01T00:00:00Z")));
        assert_eq!(s.days_until_reset, Some(28.0));
        assert_eq!(s.daily_burn_usd, Some(240.0));
        assert_eq!(s.burn_window_days, 7.0);

        // Within the same period the report and the spend after it are used, as before.
        let w = AggregationWindow::new(
            at("2026-03-24T01:00:00Z"),
            at("2026-03-31T23:00:00Z"),
            super::super::SignalsConfig::default(),
        );
        let before = Costs {
            status: Some(BudgetState {
                ts: at("2026-03-31T12:00:00Z"),
                monthly_limit_usd: 6000.0,
                remaining_usd: 500.0,
            }),
            ..source
        };
        let s = aggregate(&before, &w).unwrap_or_else(|e| panic!("{e}"));
        // Hours 13:00–22:00 after the report's hour: 10 × 10.
        assert_eq!(s.remaining_usd, Some(400.0));
        assert_eq!(s.days_until_reset, Some(1.0 / 24.0));
    }

    #[test]
    fn weekly_and_fixed_periods_reset_the_fallback_limit() {
        let source = Costs {
            hourly: steady("2026-03-10T00:00:00Z", "2026-03-19T00:00:00Z"),
            status: None,
        };
        let config = super::super::SignalsConfig {
            monthly_budget_usd: Some(2000.0),
            budget_period: super::super::BudgetPeriodKind::Weekly,
            ..Default::default()
        };
        // Ends Wednesday 18 March 00:00: the week began Monday 16 March, 48 hours ago.
        let w = AggregationWindow::new(
            at("2026-03-11T00:00:00Z"),
            at("2026-03-18T00:00:00Z"),
            config.clone(),
        );
        let s = aggregate(&source, &w).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.remaining_usd, Some(2000.0 - 480.0));
        assert_eq!(s.days_until_reset, Some(5.0));
        assert_eq!(s.period_end, Some(at("2026-03-23T00:00:00Z")));
        // 480 spent + 5 days at 240.
        assert_eq!(s.projected_period_spend_usd, Some(480.0 + 1200.0));

        let fixed = super::super::SignalsConfig {
            budget_period: super::super::BudgetPeriodKind::Days,
            budget_period_days: Some(10),
            budget_period_anchor: Some(at("2026-03-17T12:00:00Z")),
            ..config
        };
        let w = AggregationWindow::new(
            at("2026-03-11T00:00:00Z"),
            at("2026-03-18T00:00:00Z"),
            fixed,
        );
        let s = aggregate(&source, &w).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.remaining_usd, Some(2000.0 - 120.0));
        assert_eq!(s.days_until_reset, Some(9.5));
    }
}
