//! What a scenario run shows: the rules that fired and when, the proposals and their fate, the
//! time from each fault to its detection and from each approval to its verdict, the KPIs at the
//! end with and without kaizen's loop, whether every harmful change was rolled back, and the
//! scenario's expectations checked against all that.

use chrono::{DateTime, Utc};
use kaizen_core::altitude::Altitude;
use serde::{Deserialize, Serialize};

use crate::kpi::Kpis;
use crate::reviewer::ReviewAction;
use crate::scenario::{FaultKind, Kpi};

/// A change is **harmful** in an organisation when, under the conditions at its rollout, the
/// response model expects it to make a KPI worse than these relative tolerances: quality or
/// success rate down by more than 3 %, cost per task up by more than 10 %, or the error rate up
/// by more than 25 % (and by at least 0.2 percentage points).
pub const HARM_QUALITY: f64 = 0.03;
/// See [`HARM_QUALITY`].
pub const HARM_SUCCESS: f64 = 0.03;
/// See [`HARM_QUALITY`].
pub const HARM_COST: f64 = 0.10;
/// See [`HARM_QUALITY`].
pub const HARM_ERRORS: f64 = 0.25;
/// See [`HARM_QUALITY`].
pub const HARM_ERRORS_ABS: f64 = 0.002;

/// One rule's firings over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFiring {
    /// The rule.
    pub rule: String,
    /// The first cycle it fired in.
    pub first_at: DateTime<Utc>,
    /// The last.
    pub last_at: DateTime<Utc>,
    /// In how many cycles.
    pub cycles: u32,
}

/// One injected fault and its detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    /// What it did.
    pub kind: FaultKind,
    /// Where (all departments when `None`).
    pub department: Option<String>,
    /// When it began.
    pub starts_at: DateTime<Utc>,
    /// The rule meant to detect it.
    pub rule: String,
    /// The first cycle at or after its start in which that rule fired.
    pub detected_at: Option<DateTime<Utc>>,
    /// Hours from its start to its detection.
    pub detection_hours: Option<f64>,
    /// Each onset (each burst of a periodic fault; one for a continuous fault) and how soon it
    /// was detected.
    #[serde(default)]
    pub onsets: Vec<OnsetReport>,
}

/// One onset of a fault and its detection: the first inflection alert of the fault's metric
/// or the first cycle whose matches include the fault's rule, at or after the onset and before
/// the next onset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnsetReport {
    /// When the burst began.
    pub starts_at: DateTime<Utc>,
    /// When it was first detected.
    pub detected_at: Option<DateTime<Utc>>,
    /// Hours from the onset to the detection (the detection latency).
    pub detection_hours: Option<f64>,
    /// `inflection` (an alert) or `cycle` (a rule match), whichever came first.
    pub detected_by: Option<String>,
}

/// What the response model expects a change to do (relative change of each KPI, positive =
/// better), and whether that makes it harmful.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OracleReport {
    /// Quality.
    pub quality: Option<f64>,
    /// Success rate.
    pub success_rate: Option<f64>,
    /// Cost per task (positive = cheaper).
    pub cost_per_task: Option<f64>,
    /// Error rate (positive = fewer errors).
    pub error_rate: Option<f64>,
    /// Whether the change is harmful ([`HARM_QUALITY`]).
    pub harmful: bool,
}

impl OracleReport {
    /// Judges `after` against `before` (expected KPIs of the same tasks).
    pub fn judge(before: &Kpis, after: &Kpis) -> OracleReport {
        let imp = |k: Kpi| after.improvement_over(before, k);
        let (q, s, c, e) = (
            imp(Kpi::Quality),
            imp(Kpi::SuccessRate),
            imp(Kpi::CostPerTask),
            imp(Kpi::ErrorRate),
        );
        let error_up = match (before.error_rate, after.error_rate, e) {
            (Some(b), Some(a), Some(rel)) => rel < -HARM_ERRORS && a - b > HARM_ERRORS_ABS,
            (Some(b), Some(a), None) => a - b > HARM_ERRORS_ABS,
            _ => false,
        };
        let harmful = q.is_some_and(|x| x < -HARM_QUALITY)
            || s.is_some_and(|x| x < -HARM_SUCCESS)
            || c.is_some_and(|x| x < -HARM_COST)
            || error_up;
        OracleReport {
            quality: q,
            success_rate: s,
            cost_per_task: c,
            error_rate: e,
            harmful,
        }
    }
}

/// A proposal's rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutReport {
    /// Strategy.
    pub strategy: String,
    /// When the overlay went live.
    pub started_at: DateTime<Utc>,
    /// Agents that saw the change.
    pub treatment_agents: usize,
    /// `applied`, `improved`, `rolled_back`, `inconclusive`, `rollback_failed`, or `None`
    /// while still observing at the end.
    pub verdict: Option<String>,
    /// When.
    pub verdict_at: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
    /// Hours from the approval to the verdict.
    pub approval_to_verdict_hours: Option<f64>,
    /// Checks run.
    pub checks: u32,
    /// Hours between checks.
    pub interval_hours: u32,
    /// The first check at which quality or success rate had enough data to be tested.
    pub first_testable_check: Option<u32>,
    /// The check the verdict is based on.
    pub verdict_check: Option<u32>,
}

/// One proposal of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalReport {
    /// Id.
    pub id: String,
    /// The rule behind it.
    pub rule: String,
    /// Altitude.
    pub altitude: Altitude,
    /// Title.
    pub title: String,
    /// The changes, one line each.
    pub changes: Vec<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Status at the end.
    pub status: String,
    /// When a human approved it.
    pub approved_at: Option<DateTime<Utc>>,
    /// Its rollout, if it had one.
    pub rollout: Option<RolloutReport>,
    /// What the response model expects the change to do (rolled-out proposals).
    pub oracle: Option<OracleReport>,
    /// Its confidence as queued (after learning).
    pub confidence: f64,
    /// Why the memory let it through although the same change was turned down before (the
    /// `memory` guard's reason, when the evidence changed materially).
    pub proposed_again_because: Option<String>,
}

/// Proposals by fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalCounts {
    /// Queued by a cycle.
    pub made: u32,
    /// Approved by the reviewer.
    pub approved: u32,
    /// Rejected by the reviewer.
    pub rejected: u32,
    /// Applied (a new org version).
    pub applied: u32,
    /// Rolled back.
    pub rolled_back: u32,
    /// Paused as inconclusive and still so at the end.
    pub inconclusive: u32,
    /// Still pending, approved or rolling out at the end.
    pub open: u32,
}

/// The harmful changes and their rollback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HarmSummary {
    /// Rolled-out changes the response model judges harmful.
    pub harmful: u32,
    /// Of which rolled back.
    pub rolled_back: u32,
    /// The most checks any of them took from the first check with enough data to the
    /// rollback (the target: at most 2).
    pub max_checks_to_rollback: Option<u32>,
}

/// The monthly budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// The monthly limit, USD.
    pub monthly_limit_usd: f64,
    /// When the month's budget ran out with the loop.
    pub exhausted_with_loop: Option<DateTime<Utc>>,
    /// And without.
    pub exhausted_without_loop: Option<DateTime<Utc>>,
}

/// One expectation checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What.
    pub name: String,
    /// Whether it holds.
    pub passed: bool,
    /// The numbers.
    pub detail: String,
}

/// The report of one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// What it shows.
    pub description: String,
    /// Seed.
    pub seed: u64,
    /// Agents.
    pub agents: u32,
    /// Simulated days.
    pub days: u32,
    /// Start.
    pub start: DateTime<Utc>,
    /// Days at the end the KPIs cover.
    pub kpi_window_days: u32,
    /// Events sent to kaizen (run with the loop).
    pub events: u64,
    /// Tasks worked (run with the loop).
    pub tasks: u64,
    /// Improvement cycles run.
    pub cycles: u32,
    /// Rules that fired, by first firing.
    pub rules: Vec<RuleFiring>,
    /// Injected faults and their detection.
    pub faults: Vec<FaultReport>,
    /// Proposals, in queueing order.
    pub proposals: Vec<ProposalReport>,
    /// Proposals by fate.
    pub counts: ProposalCounts,
    /// What the simulated reviewer did.
    pub reviewer: Vec<ReviewAction>,
    /// KPIs over the last `kpi_window_days` with the loop.
    pub with_loop: Kpis,
    /// The same without the loop (the counterfactual: same seed, same faults, no kaizen).
    pub without_loop: Kpis,
    /// The budget.
    pub budget: BudgetReport,
    /// Harmful changes.
    pub harm: HarmSummary,
    /// The scenario's expectations.
    pub checks: Vec<Check>,
    /// Whether every check passed.
    pub passed: bool,
    /// Wall-clock seconds of the whole run (both runs); not deterministic.
    pub wall_seconds: f64,
    /// Inflection alerts raised by the monitor over the run.
    #[serde(default)]
    pub inflection_alerts: u32,
    /// Of the cycles, those the inflection trigger ran.
    #[serde(default)]
    pub inflection_cycles: u32,
}

impl ScenarioReport {
    /// The report without its wall-clock time (what determinism is judged on).
    pub fn without_timing(&self) -> ScenarioReport {
        ScenarioReport {
            wall_seconds: 0.0,
            ..self.clone()
        }
    }

    /// Hours from each fault's start to its detection; `None` for an undetected one.
    pub fn detection_hours(&self) -> Vec<Option<f64>> {
        self.faults.iter().map(|f| f.detection_hours).collect()
    }

    /// Whether `rule` fired.
    pub fn fired(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r.rule == rule)
    }
}

/// Calibration of the proposals' confidences over `reports`
/// ([`kaizen_core::improve::learning::calibration`], 10 bins): a proposal that ended applied
/// counts as kept, one rejected or rolled back as not; open ones are left out.
pub fn calibration(
    reports: &[ScenarioReport],
) -> Option<kaizen_core::improve::learning::Calibration> {
    let pairs: Vec<(f64, bool)> = reports
        .iter()
        .flat_map(|r| &r.proposals)
        .filter_map(|p| match p.status.as_str() {
            "applied" => Some((p.confidence, true)),
            "rejected" | "rolled_back" | "rollback_failed" => Some((p.confidence, false)),
            _ => None,
        })
        .collect();
    kaizen_core::improve::learning::calibration(&pairs, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kpis(q: f64, s: f64, c: f64, e: f64) -> Kpis {
        Kpis {
            quality: Some(q),
            success_rate: Some(s),
            cost_per_task: Some(c),
            error_rate: Some(e),
            tasks: 100,
            spend_usd: c * 100.0,
        }
    }

    #[test]
    fn harm_is_judged_by_the_documented_tolerances() {
        let base = kpis(7.0, 0.85, 0.3, 0.004);
        assert!(!OracleReport::judge(&base, &kpis(6.9, 0.85, 0.15, 0.004)).harmful);
        assert!(OracleReport::judge(&base, &kpis(6.7, 0.85, 0.3, 0.004)).harmful);
        assert!(OracleReport::judge(&base, &kpis(7.0, 0.80, 0.3, 0.004)).harmful);
        assert!(OracleReport::judge(&base, &kpis(7.0, 0.85, 0.34, 0.004)).harmful);
        assert!(!OracleReport::judge(&base, &kpis(7.0, 0.85, 0.3, 0.0055)).harmful);
        assert!(OracleReport::judge(&base, &kpis(7.0, 0.85, 0.3, 0.0075)).harmful);
        let o = OracleReport::judge(&base, &kpis(7.7, 0.85, 0.3, 0.004));
        assert!(o.quality.is_some_and(|q| (q - 0.1).abs() < 1e-9));
    }
}
