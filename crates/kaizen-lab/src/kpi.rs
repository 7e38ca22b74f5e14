//! The simulation's ground truth: what every task really did, summed per simulated day, and the
//! organisation's KPIs over a range of days. Independent of kaizen's own measurements, so the
//! report can judge the loop by what happened rather than by what kaizen saw.

use serde::{Deserialize, Serialize};

use crate::model::TaskOutcome;
use crate::scenario::Kpi;

/// Sums over one simulated day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DayTotals {
    /// Tasks completed.
    pub tasks: u64,
    /// Of which successful.
    pub successes: u64,
    /// Tasks with a quality score.
    pub scored: u64,
    /// Sum of their scores.
    pub quality_sum: f64,
    /// Spend, USD.
    pub cost_usd: f64,
    /// Tasks with an escaped error.
    pub errors: u64,
}

impl DayTotals {
    fn add(&mut self, o: &DayTotals) {
        self.tasks += o.tasks;
        self.successes += o.successes;
        self.scored += o.scored;
        self.quality_sum += o.quality_sum;
        self.cost_usd += o.cost_usd;
        self.errors += o.errors;
    }
}

/// The per-day ground truth of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    days: Vec<DayTotals>,
}

impl Ledger {
    /// Records one task on day `day` (0-based from the scenario's start).
    pub fn record(&mut self, day: usize, o: &TaskOutcome) {
        if self.days.len() <= day {
            self.days.resize(day + 1, DayTotals::default());
        }
        let d = &mut self.days[day];
        d.tasks += 1;
        d.successes += u64::from(o.success);
        if let Some(q) = o.quality {
            d.scored += 1;
            d.quality_sum += q;
        }
        d.cost_usd += o.cost();
        d.errors += u64::from(o.error.is_some());
    }

    /// The totals of day `day` (zero when nothing happened).
    pub fn day(&self, day: usize) -> DayTotals {
        self.days.get(day).copied().unwrap_or_default()
    }

    /// Days recorded.
    pub fn len(&self) -> usize {
        self.days.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The KPIs over days `[from, to)`.
    pub fn kpis(&self, from: usize, to: usize) -> Kpis {
        let mut t = DayTotals::default();
        for d in from..to {
            t.add(&self.day(d));
        }
        Kpis::from_totals(&t)
    }
}

/// The organisation's KPIs over a period; `None` where there is no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// Mean quality of scored tasks.
    pub quality: Option<f64>,
    /// Successes per task.
    pub success_rate: Option<f64>,
    /// USD per task.
    pub cost_per_task: Option<f64>,
    /// Tasks with an escaped error per task.
    pub error_rate: Option<f64>,
    /// Tasks.
    pub tasks: u64,
    /// Spend, USD.
    pub spend_usd: f64,
}

impl Kpis {
    /// From summed totals.
    pub fn from_totals(t: &DayTotals) -> Kpis {
        let per_task = |x: f64| (t.tasks > 0).then(|| x / t.tasks as f64);
        Kpis {
            quality: (t.scored > 0).then(|| t.quality_sum / t.scored as f64),
            success_rate: per_task(t.successes as f64),
            cost_per_task: per_task(t.cost_usd),
            error_rate: per_task(t.errors as f64),
            tasks: t.tasks,
            spend_usd: t.cost_usd,
        }
    }

    /// The value of `kpi`.
    pub fn get(&self, kpi: Kpi) -> Option<f64> {
        match kpi {
            Kpi::Quality => self.quality,
            Kpi::SuccessRate => self.success_rate,
            Kpi::CostPerTask => self.cost_per_task,
            Kpi::ErrorRate => self.error_rate,
        }
    }

    /// The relative change of `kpi` from `base` to `self`, signed so that positive is better;
    /// `None` without data or with a zero base.
    pub fn improvement_over(&self, base: &Kpis, kpi: Kpi) -> Option<f64> {
        let (new, old) = (self.get(kpi)?, base.get(kpi)?);
        if old == 0.0 {
            return None;
        }
        let rel = (new - old) / old.abs();
        Some(if kpi.higher_is_better() { rel } else { -rel })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(success: bool, quality: Option<f64>, cost: f64, error: bool) -> TaskOutcome {
        TaskOutcome {
            success,
            quality,
            collaboration: None,
            duration_s: 1.0,
            turns: 1,
            team: 1,
            productive_usd: cost,
            coordination_usd: 0.0,
            system_usd: 0.0,
            coordination: None,
            error: error.then_some(0),
        }
    }

    #[test]
    fn kpis_are_ratios_of_sums_and_improvement_is_signed() {
        let mut l = Ledger::default();
        l.record(0, &task(true, Some(8.0), 1.0, false));
        l.record(0, &task(false, None, 3.0, true));
        l.record(2, &task(true, Some(6.0), 2.0, false));
        let k = l.kpis(0, 3);
        assert_eq!(k.tasks, 3);
        assert_eq!(k.quality, Some(7.0));
        assert_eq!(k.cost_per_task, Some(2.0));
        assert_eq!(k.error_rate, Some(1.0 / 3.0));
        assert_eq!(l.kpis(1, 2).quality, None);
        let cheaper = Kpis {
            cost_per_task: Some(1.0),
            ..k
        };
        assert_eq!(cheaper.improvement_over(&k, Kpi::CostPerTask), Some(0.5));
        assert_eq!(k.improvement_over(&cheaper, Kpi::CostPerTask), Some(-1.0));
    }
}
