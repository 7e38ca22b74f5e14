//! The metric registry: every numeric snapshot field a declarative rule may test, by dotted
//! path (`performance.avg_quality_score`), with its label, domain, type, range and unit.
//!
//! [`resolve`] reads a path from an [`OrgSignalSnapshot`] with a plain `match`, so the
//! registry and the snapshot can only drift apart in ways the tests below catch: every
//! registered path must resolve, and nullable paths (and only those) are `None` on the empty
//! snapshot. `None` means "no data", never zero.

use serde::Serialize;

use crate::snapshot::{Domain, OrgSignalSnapshot};

use Domain::{Benchmark, Budget, Coordination, Errors, Evolution, Performance, Scaling, Telemetry};
use ValueType::{Float, Int};

/// Whether a metric holds a real number or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A real number.
    Float,
    /// A whole number (a count or a number of days).
    Int,
}

/// One registered metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricDescriptor {
    /// Dotted path into the snapshot, e.g. `budget.total_spend`.
    pub path: &'static str,
    /// Human-readable name.
    pub label: &'static str,
    /// Snapshot domain the metric belongs to.
    pub domain: Domain,
    /// Real number or count.
    pub value_type: ValueType,
    /// Smallest possible value, when bounded.
    pub min: Option<f64>,
    /// Largest possible value, when bounded.
    pub max: Option<f64>,
    /// Unit, when there is one (`USD`, `days`, `%`).
    pub unit: Option<&'static str>,
    /// Whether the metric can be `None` ("no data").
    pub nullable: bool,
}

const fn m(
    path: &'static str,
    label: &'static str,
    domain: Domain,
    value_type: ValueType,
    range: (Option<f64>, Option<f64>),
    unit: Option<&'static str>,
    nullable: bool,
) -> MetricDescriptor {
    MetricDescriptor {
        path,
        label,
        domain,
        value_type,
        min: range.0,
        max: range.1,
        unit,
        nullable,
    }
}

const ANY: (Option<f64>, Option<f64>) = (None, None);
const NON_NEG: (Option<f64>, Option<f64>) = (Some(0.0), None);
const UNIT: (Option<f64>, Option<f64>) = (Some(0.0), Some(1.0));
const SCORE: (Option<f64>, Option<f64>) = (Some(0.0), Some(10.0));
const USD: Option<&str> = Some("USD");

/// Every metric a declarative rule may test: the original implementation's 25 paths (in its
/// order, per domain) plus kaizen's extra numeric snapshot fields. Benchmark metrics are
/// included.
#[rustfmt::skip]
pub static METRICS: &[MetricDescriptor] = &[
    // performance
    m("performance.avg_quality_score", "Average Quality Score", Performance, Float, SCORE, None, true),
    m("performance.avg_success_rate", "Average Success Rate", Performance, Float, UNIT, None, true),
    m("performance.avg_collaboration_score", "Average Collaboration Score", Performance, Float, SCORE, None, true),
    m("performance.agent_count", "Active Agent Count", Performance, Int, NON_NEG, None, false),
    m("performance.task_count", "Completed Task Count", Performance, Int, NON_NEG, None, false),
    m("performance.scored_task_count", "Scored Task Count", Performance, Int, NON_NEG, None, false),
    // budget
    m("budget.total_spend", "Total Spend", Budget, Float, NON_NEG, USD, false),
    m("budget.productive_ratio", "Productive Ratio", Budget, Float, UNIT, None, false),
    m("budget.coordination_ratio", "Coordination Ratio", Budget, Float, UNIT, None, false),
    m("budget.system_ratio", "System Overhead Ratio", Budget, Float, UNIT, None, false),
    m("budget.days_until_exhausted", "Days Until Budget Exhausted", Budget, Int, NON_NEG, Some("days"), true),
    m("budget.forecast_confidence", "Forecast Confidence", Budget, Float, UNIT, None, false),
    m("budget.orchestration_overhead", "Orchestration Overhead", Budget, Float, NON_NEG, None, false),
    m("budget.daily_burn_usd", "Daily Burn", Budget, Float, NON_NEG, USD, true),
    m("budget.remaining_usd", "Remaining Budget", Budget, Float, NON_NEG, USD, true),
    m("budget.monthly_limit_usd", "Monthly Budget Limit", Budget, Float, NON_NEG, USD, true),
    m("budget.days_with_spend", "Days With Spend", Budget, Int, NON_NEG, Some("days"), false),
    // coordination
    m("coordination.coordination_efficiency", "Coordination Efficiency", Coordination, Float, ANY, None, true),
    m("coordination.coordination_overhead_pct", "Coordination Overhead %", Coordination, Float, ANY, Some("%"), true),
    m("coordination.error_amplification", "Error Amplification", Coordination, Float, ANY, None, true),
    m("coordination.message_density", "Message Density", Coordination, Float, ANY, None, true),
    m("coordination.redundancy_rate", "Redundancy Rate", Coordination, Float, UNIT, None, true),
    m("coordination.straggler_gap_ratio", "Straggler Gap Ratio", Coordination, Float, ANY, None, true),
    m("coordination.sample_count", "Coordination Sample Count", Coordination, Int, NON_NEG, None, false),
    // scaling
    m("scaling.total_decisions", "Total Scaling Decisions", Scaling, Int, NON_NEG, None, false),
    m("scaling.decided_decisions", "Decided Scaling Decisions", Scaling, Int, NON_NEG, None, false),
    m("scaling.success_rate", "Scaling Success Rate", Scaling, Float, UNIT, None, true),
    // errors
    m("errors.total_findings", "Total Error Findings", Errors, Int, NON_NEG, None, false),
    // evolution
    m("evolution.total_proposals", "Total Evolution Proposals", Evolution, Int, NON_NEG, None, false),
    m("evolution.approval_rate", "Evolution Approval Rate", Evolution, Float, UNIT, None, true),
    // telemetry
    m("telemetry.event_count", "Total Event Count", Telemetry, Int, NON_NEG, None, false),
    m("telemetry.error_event_count", "Error Event Count", Telemetry, Int, NON_NEG, None, false),
    // benchmark
    m("benchmark.run_count", "Benchmark Run Count", Benchmark, Int, NON_NEG, None, false),
    m("benchmark.latest_total", "Latest Benchmark Total", Benchmark, Float, ANY, None, true),
    m("benchmark.max_total", "Best Benchmark Total", Benchmark, Float, ANY, None, true),
    m("benchmark.delta", "Benchmark Delta", Benchmark, Float, ANY, Some("points"), true),
];

/// A metric path that is not in the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric '{path}'; valid paths: {valid}", valid = valid_paths().join(", "))]
pub struct UnknownMetric {
    /// The path that was asked for.
    pub path: String,
}

/// The descriptor of `path`, if it is registered.
pub fn descriptor(path: &str) -> Option<&'static MetricDescriptor> {
    METRICS.iter().find(|d| d.path == path)
}

/// Every registered path, sorted.
pub fn valid_paths() -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = METRICS.iter().map(|d| d.path).collect();
    paths.sort_unstable();
    paths
}

/// Reads the metric at `path` from `snapshot`. `Ok(None)` means the snapshot has no data for
/// it; counts are returned as `f64`.
pub fn resolve(snapshot: &OrgSignalSnapshot, path: &str) -> Result<Option<f64>, UnknownMetric> {
    fn count(n: u64) -> Option<f64> {
        Some(n as f64)
    }
    let p = &snapshot.performance;
    let b = &snapshot.budget;
    let c = &snapshot.coordination;
    let s = &snapshot.scaling;
    let bench = &snapshot.benchmark;
    let value = match path {
        "performance.avg_quality_score" => p.avg_quality_score,
        "performance.avg_success_rate" => p.avg_success_rate,
        "performance.avg_collaboration_score" => p.avg_collaboration_score,
        "performance.agent_count" => count(p.agent_count),
        "performance.task_count" => count(p.task_count),
        "performance.scored_task_count" => count(p.scored_task_count),
        "budget.total_spend" => Some(b.total_spend),
        "budget.productive_ratio" => Some(b.productive_ratio),
        "budget.coordination_ratio" => Some(b.coordination_ratio),
        "budget.system_ratio" => Some(b.system_ratio),
        "budget.days_until_exhausted" => b.days_until_exhausted.map(f64::from),
        "budget.forecast_confidence" => Some(b.forecast_confidence),
        "budget.orchestration_overhead" => Some(b.orchestration_overhead),
        "budget.daily_burn_usd" => b.daily_burn_usd,
        "budget.remaining_usd" => b.remaining_usd,
        "budget.monthly_limit_usd" => b.monthly_limit_usd,
        "budget.days_with_spend" => Some(f64::from(b.days_with_spend)),
        "coordination.coordination_efficiency" => c.coordination_efficiency,
        "coordination.coordination_overhead_pct" => c.coordination_overhead_pct,
        "coordination.error_amplification" => c.error_amplification,
        "coordination.message_density" => c.message_density,
        "coordination.redundancy_rate" => c.redundancy_rate,
        "coordination.straggler_gap_ratio" => c.straggler_gap_ratio,
        "coordination.sample_count" => count(c.sample_count),
        "scaling.total_decisions" => count(s.total_decisions),
        "scaling.decided_decisions" => count(s.decided_decisions),
        "scaling.success_rate" => s.success_rate,
        "errors.total_findings" => count(snapshot.errors.total_findings),
        "evolution.total_proposals" => count(snapshot.evolution.total_proposals),
        "evolution.approval_rate" => snapshot.evolution.approval_rate,
        "telemetry.event_count" => count(snapshot.telemetry.event_count),
        "telemetry.error_event_count" => count(snapshot.telemetry.error_event_count),
        "benchmark.run_count" => count(bench.run_count),
        "benchmark.latest_total" => bench.latest_total,
        "benchmark.max_total" => bench.max_total,
        "benchmark.delta" => bench.delta,
        _ => {
            return Err(UnknownMetric {
                path: path.to_owned(),
            });
        }
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::snapshot::SnapshotWindow;

    fn empty() -> OrgSignalSnapshot {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        OrgSignalSnapshot::empty(SnapshotWindow {
            since: t,
            until: t,
            effective_since: t,
            effective_until: t,
        })
    }

    #[test]
    fn registry_has_the_reference_paths_plus_ours_without_duplicates() {
        let paths: BTreeSet<&str> = METRICS.iter().map(|d| d.path).collect();
        assert_eq!(paths.len(), METRICS.len(), "duplicate path in METRICS");
        assert_eq!(METRICS.len(), 36);
        for reference in [
            "performance.avg_quality_score",
            "performance.avg_success_rate",
            "performance.avg_collaboration_score",
            "performance.agent_count",
            "budget.total_spend",
            "budget.productive_ratio",
            "budget.coordination_ratio",
            "budget.system_ratio",
            "budget.days_until_exhausted",
            "budget.forecast_confidence",
            "budget.orchestration_overhead",
            "coordination.coordination_efficiency",
            "coordination.coordination_overhead_pct",
            "coordination.error_amplification",
            "coordination.message_density",
            "coordination.redundancy_rate",
            "coordination.straggler_gap_ratio",
            "coordination.sample_count",
            "scaling.total_decisions",
            "scaling.success_rate",
            "errors.total_findings",
            "evolution.total_proposals",
            "evolution.approval_rate",
            "telemetry.event_count",
            "telemetry.error_event_count",
        ] {
            assert!(paths.contains(reference), "{reference} missing");
        }
    }

    #[test]
    fn every_path_resolves_on_the_empty_snapshot() {
        let s = empty();
        for d in METRICS {
            assert!(resolve(&s, d.path).is_ok(), "{} does not resolve", d.path);
        }
    }

    #[test]
    fn nullable_flags_agree_with_the_empty_snapshot() -> Result<(), UnknownMetric> {
        let s = empty();
        for d in METRICS {
            let v = resolve(&s, d.path)?;
            if d.nullable {
                assert_eq!(v, None, "{} is nullable but resolved to {v:?}", d.path);
            } else {
                assert_eq!(v, Some(0.0), "{} is not nullable", d.path);
            }
        }
        Ok(())
    }

    #[test]
    fn descriptors_are_consistent() {
        for d in METRICS {
            assert!(
                d.path.starts_with(&format!("{}.", d.domain.as_str())),
                "{}",
                d.path
            );
            assert!(!d.label.trim().is_empty(), "{}", d.path);
            if let (Some(lo), Some(hi)) = (d.min, d.max) {
                assert!(lo < hi, "{}", d.path);
            }
            assert!(descriptor(d.path).is_some_and(|found| found.path == d.path));
        }
        assert!(descriptor("performance.nope").is_none());
    }

    #[test]
    fn resolve_reads_the_named_field() -> Result<(), UnknownMetric> {
        let mut s = empty();
        s.performance.avg_quality_score = Some(7.5);
        s.performance.agent_count = 4;
        s.budget.days_until_exhausted = Some(9);
        s.scaling.decided_decisions = 3;
        s.benchmark.delta = Some(-6.0);
        assert_eq!(resolve(&s, "performance.avg_quality_score")?, Some(7.5));
        assert_eq!(resolve(&s, "performance.agent_count")?, Some(4.0));
        assert_eq!(resolve(&s, "budget.days_until_exhausted")?, Some(9.0));
        assert_eq!(resolve(&s, "scaling.decided_decisions")?, Some(3.0));
        assert_eq!(resolve(&s, "benchmark.delta")?, Some(-6.0));
        Ok(())
    }

    #[test]
    fn unknown_path_is_an_error_listing_sorted_valid_paths() {
        let Err(e) = resolve(&empty(), "performance.vibes") else {
            panic!("unknown path resolved");
        };
        let msg = e.to_string();
        assert!(msg.starts_with("unknown metric 'performance.vibes'; valid paths: "));
        let listed = msg.split("valid paths: ").nth(1).unwrap_or_default();
        let listed: Vec<&str> = listed.split(", ").collect();
        assert_eq!(listed, valid_paths());
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
        assert!(resolve(&empty(), "").is_err());
        assert!(resolve(&empty(), "performance").is_err());
    }
}
