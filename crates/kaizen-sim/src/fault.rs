//! Injectable faults.

use std::fmt;
use std::str::FromStr;

use strum::IntoEnumIterator;

use crate::SimError;
use crate::org::DEPARTMENTS;

/// A degradation injected into the last [`crate::FAULT_DAYS`] days of the dataset, sized so
/// that a 7-day snapshot window ending at [`crate::SimSpec::end`] trips one built-in rule (and
/// only that one) at its default threshold, and the first-half/second-half trend of the
/// affected metric shows a decline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum Fault {
    /// `budget-overrun` → `budget_overrun` (days until exhausted ≤ 14). The monthly limit is
    /// cut: the `budget.status` events of the fault days report a remaining budget of 9, 7 and
    /// finally 5 days of baseline spend (the limit is lowered to spend-so-far + remaining).
    BudgetOverrun,
    /// `coordination-overhead` → `coordination_overhead` (overhead > 35 %). Multi-agent tasks
    /// take 1.9–2.3× the single-agent turns (overhead ≈ 110 % instead of ≈ 25 %), and their
    /// coordination spend grows by half (not enough to trip `coordination_cost_ratio`).
    CoordinationOverhead,
    /// `coordination-cost` → `coordination_cost_ratio` (coordination share of spend > 0.4).
    /// Coordination spend per task is multiplied by 10 (share ≈ 71 % during the fault).
    CoordinationCost,
    /// `stragglers` → `straggler_bottleneck` (straggler gap ratio > 2.0). Multi-agent tasks
    /// report a straggler gap ratio of 4.5–5.5 instead of 1.3–1.6.
    Stragglers,
    /// `redundancy` → `redundancy` (redundancy rate > 0.3). Multi-agent tasks report
    /// 90–98 % duplicated work instead of 10–15 %.
    Redundancy,
    /// `error-spike` → `error_spike` (more than 10 findings). The error classifier runs three
    /// times a day and reports 2–4 findings of count 1–3 per run (≥ 6 findings a day instead
    /// of at most one).
    ErrorSpike,
    /// `quality-decline[:DEPARTMENT]` → `quality_declining` (mean quality < 5.0). Scored
    /// quality collapses to ≈ 0.35 ± 0.4 and half of the affected tasks are re-done (rework
    /// raises the task volume by 50 %). With a department only that department's agents are
    /// affected: its department summary and the org trend decline, but the org-wide mean
    /// stays above 5 unless the department holds most agents.
    QualityDecline(Option<String>),
    /// `success-drop` → `success_rate_drop` (success rate < 0.7). Tasks succeed with
    /// probability 0.12 instead of ≈ 0.85.
    SuccessDrop,
    /// `scaling-failure` → `scaling_failure` (failure rate of decided decisions > 0.5 with at
    /// least 3 decisions). 7–9 decisions a day, all of which fail or are rejected within
    /// 20 minutes.
    ScalingFailure,
    /// `benchmark-regression` → `benchmark_regression` (latest run of a suite more than 5
    /// points below the previous one). The first suite loses 12 points per fault day.
    BenchmarkRegression,
}

impl Fault {
    /// Every fault name accepted by [`FromStr`] (`quality-decline` also takes `:DEPARTMENT`).
    pub const NAMES: [&'static str; 10] = [
        "budget-overrun",
        "coordination-overhead",
        "coordination-cost",
        "stragglers",
        "redundancy",
        "error-spike",
        "quality-decline",
        "success-drop",
        "scaling-failure",
        "benchmark-regression",
    ];

    /// The fault's name, without the department of `quality-decline`.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// The built-in rule the fault is meant to trip.
    pub fn rule(&self) -> &'static str {
        match self {
            Fault::BudgetOverrun => "budget_overrun",
            Fault::CoordinationOverhead => "coordination_overhead",
            Fault::CoordinationCost => "coordination_cost_ratio",
            Fault::Stragglers => "straggler_bottleneck",
            Fault::Redundancy => "redundancy",
            Fault::ErrorSpike => "error_spike",
            Fault::QualityDecline(_) => "quality_declining",
            Fault::SuccessDrop => "success_rate_drop",
            Fault::ScalingFailure => "scaling_failure",
            Fault::BenchmarkRegression => "benchmark_regression",
        }
    }

    /// Checks the department of `quality-decline`.
    pub fn validate(&self) -> Result<(), SimError> {
        if let Fault::QualityDecline(Some(d)) = self
            && !DEPARTMENTS.iter().any(|x| x.name == d)
        {
            return Err(SimError::InvalidFault(format!(
                "unknown department {d:?} in fault quality-decline:{d}; valid departments: {}",
                department_list()
            )));
        }
        Ok(())
    }
}

fn department_list() -> String {
    DEPARTMENTS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::QualityDecline(Some(d)) => write!(f, "quality-decline:{d}"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Fault {
    type Err = SimError;

    /// Parses a fault name (case-insensitive, surrounding blanks ignored; `_` is accepted for
    /// `-`). Only `quality-decline` takes an argument: `quality-decline:engineering`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s, None),
        };
        let norm = name.to_ascii_lowercase().replace('_', "-");
        let fault = Fault::iter().find(|f| f.name() == norm).ok_or_else(|| {
            SimError::InvalidFault(format!(
                "unknown fault {s:?}; valid faults: {}, quality-decline:DEPARTMENT",
                Fault::NAMES.join(", ")
            ))
        })?;
        if matches!(fault, Fault::QualityDecline(_)) {
            let dept = match arg {
                None => None,
                Some("") => {
                    return Err(SimError::InvalidFault(format!(
                        "fault {s:?}: expected a department after ':' (one of {})",
                        department_list()
                    )));
                }
                Some(a) => Some(a.to_ascii_lowercase()),
            };
            let f = Fault::QualityDecline(dept);
            f.validate()?;
            return Ok(f);
        }
        if arg.is_some() {
            return Err(SimError::InvalidFault(format!(
                "fault {name:?} takes no argument, got {s:?} (only quality-decline takes :DEPARTMENT)"
            )));
        }
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Fault, String> {
        s.parse::<Fault>().map_err(|e| e.to_string())
    }

    #[test]
    fn names_lists_every_fault_in_order() {
        let names: Vec<&str> = Fault::iter().map(|f| f.name()).collect();
        assert_eq!(names, Fault::NAMES);
    }

    #[test]
    fn every_name_round_trips() {
        for name in Fault::NAMES {
            let f = parse(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.name(), name);
            assert_eq!(f.to_string(), name);
            assert!(!f.rule().is_empty());
        }
    }

    #[test]
    fn department_argument() {
        assert_eq!(
            parse("quality-decline:Support"),
            Ok(Fault::QualityDecline(Some("support".to_owned())))
        );
        assert_eq!(
            parse(" Quality_Decline ").map(|f| f.to_string()),
            Ok("quality-decline".to_owned())
        );
        assert_eq!(
            parse("quality-decline:support").map(|f| f.to_string()),
            Ok("quality-decline:support".to_owned())
        );
        let err = parse("quality-decline:marketing").err().unwrap_or_default();
        assert!(
            err.contains("marketing") && err.contains("engineering"),
            "{err}"
        );
        let err = parse("quality-decline:").err().unwrap_or_default();
        assert!(err.contains("department"), "{err}");
    }

    #[test]
    fn unknown_and_misused_names() {
        let err = parse("meltdown").err().unwrap_or_default();
        assert!(err.contains("meltdown"), "{err}");
        for name in Fault::NAMES {
            assert!(err.contains(name), "{err} should list {name}");
        }
        let err = parse("stragglers:engineering").err().unwrap_or_default();
        assert!(err.contains("no argument"), "{err}");
        assert!(parse("").is_err());
    }
}
