//! `OrgSignalSnapshot`: the seven domain summaries (plus the optional benchmark summary) for
//! one time window. Field names follow the original design and its implementation
//! (`docs/design.md`); where that implementation reported a misleading zero for "no data",
//! kaizen reports `null` (`None`).
//!
//! Every number in a snapshot the [`SnapshotBuilder`](crate::signals::SnapshotBuilder) returns
//! is finite: [`OrgSignalSnapshot::quarantine_non_finite`] replaces a domain holding a NaN or an
//! infinity by its empty summary and lists it in `failed_domains` with the path at fault.

pub mod finite;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A signal domain.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Domain {
    /// Task outcomes and quality.
    Performance,
    /// Spend and forecast.
    Budget,
    /// Multi-agent coordination metrics.
    Coordination,
    /// Scaling decisions.
    Scaling,
    /// Classified errors.
    Errors,
    /// Per-agent evolution outcomes.
    Evolution,
    /// Runtime telemetry.
    Telemetry,
    /// Benchmark runs (optional domain).
    Benchmark,
}

impl Domain {
    /// All domains, in snapshot order.
    pub const ALL: [Domain; 8] = [
        Domain::Performance,
        Domain::Budget,
        Domain::Coordination,
        Domain::Scaling,
        Domain::Errors,
        Domain::Evolution,
        Domain::Telemetry,
        Domain::Benchmark,
    ];

    /// The wire name (`performance`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Direction of a metric between the first and second half of the window, judged by whether
/// the change is good or bad for that metric (more errors is `declining`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrendDirection {
    /// Better in the second half.
    Improving,
    /// Worse in the second half.
    Declining,
    /// Within the trend tolerance, or not enough data in one of the halves.
    #[default]
    Stable,
}

/// A named metric with its trend over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricSummary {
    /// Metric name (`quality_score`, …).
    pub name: String,
    /// Value over the whole window.
    pub value: f64,
    /// The second half vs `baseline` when there is one, else vs the first half.
    pub trend: TrendDirection,
    /// Value over the first half, when it had data.
    pub first_half: Option<f64>,
    /// Value over the second half, when it had data.
    pub second_half: Option<f64>,
    /// Window length in days.
    pub window_days: f64,
    /// With `signals.seasonality: weekly`: the value over the second half's hours one or more
    /// whole weeks earlier (the same weekdays and hours), when they had data.
    #[serde(default)]
    pub baseline: Option<f64>,
}

/// Per-department performance (means over the department's agents).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DepartmentSummary {
    /// Agents of the department with at least one task in the window.
    pub agent_count: u64,
    /// Tasks completed.
    pub task_count: u64,
    /// Mean over agents of their mean quality; `None` without scored tasks.
    pub avg_quality_score: Option<f64>,
    /// Mean over agents of their success rate; `None` without tasks.
    pub avg_success_rate: Option<f64>,
    /// Mean over agents of their mean collaboration score; `None` without scored tasks.
    pub avg_collaboration_score: Option<f64>,
}

/// Performance domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgPerformanceSummary {
    /// Mean over agents of each agent's mean quality (0–10); `None` without scored tasks.
    pub avg_quality_score: Option<f64>,
    /// Mean over agents of each agent's success rate (0–1); `None` without tasks.
    pub avg_success_rate: Option<f64>,
    /// Mean over agents of each agent's mean collaboration score; `None` without scored tasks.
    pub avg_collaboration_score: Option<f64>,
    /// Metrics with trends.
    pub metrics: Vec<MetricSummary>,
    /// Agents with at least one task in the window.
    pub agent_count: u64,
    /// Tasks completed in the window.
    pub task_count: u64,
    /// Tasks that carried a quality score.
    pub scored_task_count: u64,
    /// Per department.
    pub department_summaries: BTreeMap<String, DepartmentSummary>,
    /// The organisation's level per day of the window, oldest first: whole 24-hour blocks
    /// counted back from the window's end, at most the last 28 (a partial block at the start is
    /// left out). The
    /// baseline of the relative forms of `quality_declining` and `success_rate_drop`.
    #[serde(default)]
    pub daily: Vec<DailyLevel>,
    /// With `signals.seasonality: weekly`, the level of the same 24 hours as `daily`'s last
    /// block one week earlier (its task count is 0 without data then): the baseline of the
    /// relative forms, so that a weekly rhythm (a quieter, weaker weekend) is compared with
    /// itself. `None` with `seasonality: none`.
    #[serde(default)]
    pub daily_week_before: Option<DailyLevel>,
}

/// The organisation's performance over one 24-hour block of the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DailyLevel {
    /// The block's end (exclusive); it starts 24 hours earlier.
    pub until: DateTime<Utc>,
    /// Tasks completed in the block.
    pub task_count: u64,
    /// Mean over agents of their mean quality in the block; `None` without scored tasks.
    pub avg_quality_score: Option<f64>,
    /// Mean over agents of their success rate in the block; `None` without tasks.
    pub avg_success_rate: Option<f64>,
}

/// How much of an org-wide total comes from its largest contributor (see `docs/snapshot.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentShare {
    /// The agent contributing the most.
    pub agent_id: String,
    /// Its part of the total (USD for spend, findings for errors).
    pub value: f64,
    /// Its part ÷ the org-wide total, 0–1.
    pub share: f64,
    /// Agents that contributed to the total.
    pub agent_count: u64,
}

impl AgentShare {
    /// The largest of `(agent, value)` contributions (ties: alphabetical) and its share of
    /// `total`; `None` without positive contributions or a positive, finite total.
    pub fn top<'a>(
        contributions: impl IntoIterator<Item = (&'a str, f64)>,
        total: f64,
    ) -> Option<Self> {
        let mut best: Option<(&str, f64)> = None;
        let mut agent_count = 0u64;
        for (agent, value) in contributions {
            if !(value.is_finite() && value > 0.0) {
                continue;
            }
            agent_count += 1;
            let better = match best {
                None => true,
                Some((b_agent, b_value)) => {
                    value > b_value || (value == b_value && agent < b_agent)
                }
            };
            if better {
                best = Some((agent, value));
            }
        }
        let (agent, value) = best?;
        (total.is_finite() && total > 0.0).then(|| AgentShare {
            agent_id: agent.to_owned(),
            value,
            share: (value / total).clamp(0.0, 1.0),
            agent_count,
        })
    }
}

/// Budget domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgBudgetSummary {
    /// USD spent in the window.
    pub total_spend: f64,
    /// Productive spend ÷ total (0 when nothing was spent).
    pub productive_ratio: f64,
    /// Coordination spend ÷ total.
    pub coordination_ratio: f64,
    /// System spend ÷ total.
    pub system_ratio: f64,
    /// Whole days until the remaining budget is spent at the forecast burn rate; `None` when
    /// the remaining budget is unknown or nothing is being spent.
    pub days_until_exhausted: Option<u32>,
    /// Confidence in the forecast, 0–1 (see `docs/snapshot.md`).
    pub forecast_confidence: f64,
    /// Coordination tokens ÷ productive tokens (0 without productive tokens).
    pub orchestration_overhead: f64,
    /// Forecast spend per day, USD.
    pub daily_burn_usd: Option<f64>,
    /// Remaining budget used by the forecast, USD.
    pub remaining_usd: Option<f64>,
    /// Monthly limit, USD, when known.
    pub monthly_limit_usd: Option<f64>,
    /// Days of the window that had any spend.
    pub days_with_spend: u32,
    /// The agent with the largest spend in the window and its share of `total_spend`; `None`
    /// without spend attributed to agents.
    #[serde(default)]
    pub top_agent: Option<AgentShare>,
    /// Start of the budget period the window's end falls in (`signals.budget_period`).
    #[serde(default)]
    pub period_start: Option<DateTime<Utc>>,
    /// End of that period: when the budget resets.
    #[serde(default)]
    pub period_end: Option<DateTime<Utc>>,
    /// Days (fractional) from the window's end to `period_end`.
    #[serde(default)]
    pub days_until_reset: Option<f64>,
    /// The period's spend at `period_end` if the forecast burn continues: spent so far
    /// (`monthly_limit_usd − remaining_usd`) + `daily_burn_usd × days_until_reset`; `null`
    /// without a limit.
    #[serde(default)]
    pub projected_period_spend_usd: Option<f64>,
    /// Days of spend `daily_burn_usd` is the mean of: the window's last whole weeks, or the
    /// whole window when it is shorter than a week.
    #[serde(default)]
    pub burn_window_days: f64,
}

/// Coordination domain (Kim et al. 2025 metrics). `None` when no event carried the inputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgCoordinationSummary {
    /// Ec = success rate ÷ (turns_mas ÷ turns_sas).
    pub coordination_efficiency: Option<f64>,
    /// O% = (turns_mas − turns_sas) ÷ turns_sas × 100.
    pub coordination_overhead_pct: Option<f64>,
    /// Ae = error_rate_mas ÷ error_rate_sas.
    pub error_amplification: Option<f64>,
    /// c = messages ÷ reasoning turns.
    pub message_density: Option<f64>,
    /// R = mean redundancy (0–1).
    pub redundancy_rate: Option<f64>,
    /// Mean straggler gap ratio.
    pub straggler_gap_ratio: Option<f64>,
    /// Coordination measurements in the window.
    pub sample_count: u64,
}

/// One scaling decision and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingDecisionSummary {
    /// Decision id.
    pub decision_id: String,
    /// hire / prune / hold.
    pub action_type: String,
    /// executed / failed / deferred / rejected / pending.
    pub outcome: String,
    /// The strategy that decided.
    pub source_strategy: String,
    /// The signal that triggered it.
    pub signal: String,
    /// Why.
    pub rationale: Option<String>,
    /// When it was decided.
    pub created_at: DateTime<Utc>,
}

/// Scaling domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgScalingSummary {
    /// The newest decisions of the window (at most 50), newest first.
    pub recent_decisions: Vec<ScalingDecisionSummary>,
    /// Decisions made in the window.
    pub total_decisions: u64,
    /// Decisions with a final outcome (not pending).
    pub decided_decisions: u64,
    /// Executed ÷ decided; pending decisions are not failures. `None` when none is decided.
    pub success_rate: Option<f64>,
    /// The most frequent triggering signal (ties: alphabetical).
    pub most_common_signal: Option<String>,
}

/// One error category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorCategorySummary {
    /// Category.
    pub category: String,
    /// Findings.
    pub count: u64,
    /// Mean severity weight (low 1, medium 2, high 3).
    pub avg_severity: f64,
    /// More findings per hour in the second half than in the baseline (the same hours of an
    /// earlier week, `signals.seasonality: weekly`) or else the first half is `declining`.
    pub trend: TrendDirection,
}

/// Errors domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgErrorSummary {
    /// Findings in the window.
    pub total_findings: u64,
    /// Categories by count (descending), then name.
    pub categories: Vec<ErrorCategorySummary>,
    /// Highest mean severity, then higher count, then name.
    pub most_severe_category: Option<String>,
    /// Findings per severity.
    pub severity_histogram: BTreeMap<String, u64>,
    /// Trend of the total.
    pub trend: TrendDirection,
    /// The agent with the most findings in the window and its share of `total_findings`;
    /// `None` when no finding names an agent.
    #[serde(default)]
    pub top_agent: Option<AgentShare>,
}

/// One evolution outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvolutionOutcomeSummary {
    /// Agent.
    pub agent_id: String,
    /// Axis.
    pub axis: String,
    /// Applied or not.
    pub applied: bool,
    /// When proposed.
    pub proposed_at: DateTime<Utc>,
}

/// Evolution domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgEvolutionSummary {
    /// Newest outcomes (at most 20), newest first.
    pub recent_outcomes: Vec<EvolutionOutcomeSummary>,
    /// Outcomes in the window.
    pub total_proposals: u64,
    /// Applied ÷ total; `None` without outcomes.
    pub approval_rate: Option<f64>,
    /// Axis with the most outcomes (ties: alphabetical).
    pub most_adapted_axis: Option<String>,
}

/// Telemetry domain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgTelemetrySummary {
    /// Telemetry events in the window.
    pub event_count: u64,
    /// The five most frequent event types (ties: alphabetical).
    pub top_event_types: Vec<String>,
    /// Events that report an error.
    pub error_event_count: u64,
}

/// Benchmark domain (optional).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgBenchmarkSummary {
    /// Runs in the window (all suites).
    pub run_count: u64,
    /// The suite the fields below describe: the one with the worst latest change.
    pub suite: Option<String>,
    /// That suite's latest total.
    pub latest_total: Option<f64>,
    /// That suite's best total in the window.
    pub max_total: Option<f64>,
    /// Latest total − previous total of that suite.
    pub delta: Option<f64>,
    /// Whether that suite's latest run dropped by more than the regression threshold.
    pub is_regression: bool,
    /// Whether any run of any suite in the window dropped by more than the threshold.
    pub has_regression: bool,
    /// When the run `delta` compares the latest with ran: the previous run, or with
    /// `signals.seasonality: weekly` the run of the same weekday and hours 1–4 weeks earlier.
    #[serde(default)]
    pub baseline_at: Option<DateTime<Utc>>,
    /// That run's total.
    #[serde(default)]
    pub baseline_total: Option<f64>,
}

/// A domain whose aggregator failed; its summary is the empty one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainFailure {
    /// Domain.
    pub domain: Domain,
    /// What went wrong.
    pub error: String,
}

/// The window a snapshot covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotWindow {
    /// Requested start (inclusive).
    pub since: DateTime<Utc>,
    /// Requested end (exclusive).
    pub until: DateTime<Utc>,
    /// Start of the first hourly bucket read.
    pub effective_since: DateTime<Utc>,
    /// End of the last hourly bucket read.
    pub effective_until: DateTime<Utc>,
}

/// The company-wide signal snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrgSignalSnapshot {
    /// Window covered.
    pub window: SnapshotWindow,
    /// The window's end (not the wall time of the build, so snapshots are reproducible).
    pub collected_at: DateTime<Utc>,
    /// Performance.
    pub performance: OrgPerformanceSummary,
    /// Budget.
    pub budget: OrgBudgetSummary,
    /// Coordination.
    pub coordination: OrgCoordinationSummary,
    /// Scaling.
    pub scaling: OrgScalingSummary,
    /// Errors.
    pub errors: OrgErrorSummary,
    /// Evolution.
    pub evolution: OrgEvolutionSummary,
    /// Telemetry.
    pub telemetry: OrgTelemetrySummary,
    /// Benchmark.
    pub benchmark: OrgBenchmarkSummary,
    /// Domains whose aggregator failed (their summaries are empty).
    pub failed_domains: Vec<DomainFailure>,
}

impl OrgSignalSnapshot {
    /// A snapshot with every domain empty.
    pub fn empty(window: SnapshotWindow) -> Self {
        Self {
            window,
            collected_at: window.until,
            performance: Default::default(),
            budget: Default::default(),
            coordination: Default::default(),
            scaling: Default::default(),
            errors: Default::default(),
            evolution: Default::default(),
            telemetry: Default::default(),
            benchmark: Default::default(),
            failed_domains: Vec::new(),
        }
    }

    /// Every NaN or infinite number in the snapshot, with its path (`budget.total_spend`).
    pub fn non_finite(&self) -> Vec<(String, f64)> {
        finite::non_finite("", self)
    }

    /// Makes every number of the snapshot finite: each domain holding a NaN or an infinity is
    /// replaced by its empty summary ("no data") and listed in `failed_domains` with the first
    /// offending path. Returns the failures it added.
    pub fn quarantine_non_finite(&mut self) -> Vec<DomainFailure> {
        fn check<T: Serialize + Default>(
            domain: Domain,
            summary: &mut T,
            added: &mut Vec<DomainFailure>,
        ) {
            let found = finite::non_finite(domain.as_str(), summary);
            if let Some((path, value)) = found.first() {
                let more = match found.len() - 1 {
                    0 => String::new(),
                    n => format!(" (and {n} more)"),
                };
                added.push(DomainFailure {
                    domain,
                    error: format!(
                        "non-finite number at {path} ({value}){more}; the domain is treated as no data"
                    ),
                });
                *summary = T::default();
            }
        }
        let mut added = Vec::new();
        check(Domain::Performance, &mut self.performance, &mut added);
        check(Domain::Budget, &mut self.budget, &mut added);
        check(Domain::Coordination, &mut self.coordination, &mut added);
        check(Domain::Scaling, &mut self.scaling, &mut added);
        check(Domain::Errors, &mut self.errors, &mut added);
        check(Domain::Evolution, &mut self.evolution, &mut added);
        check(Domain::Telemetry, &mut self.telemetry, &mut added);
        check(Domain::Benchmark, &mut self.benchmark, &mut added);
        self.failed_domains.extend(added.iter().cloned());
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> OrgSignalSnapshot {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        OrgSignalSnapshot::empty(SnapshotWindow {
            since: t,
            until: t,
            effective_since: t,
            effective_until: t,
        })
    }

    #[test]
    fn quarantine_empties_domains_with_non_finite_numbers_and_names_the_path() {
        let mut s = snapshot();
        s.budget.total_spend = f64::INFINITY;
        s.budget.days_until_exhausted = Some(0);
        s.budget.daily_burn_usd = Some(f64::INFINITY);
        s.coordination.coordination_overhead_pct = Some(f64::NAN);
        s.performance.avg_quality_score = Some(7.0);
        assert_eq!(s.non_finite().len(), 3);
        let added = s.quarantine_non_finite();
        assert_eq!(added.len(), 2);
        assert_eq!(added[0].domain, Domain::Budget);
        assert!(
            added[0]
                .error
                .contains("budget.total_spend (inf) (and 1 more)"),
            "{}",
            added[0].error
        );
        assert!(
            added[1]
                .error
                .contains("coordination.coordination_overhead_pct (NaN)")
        );
        assert_eq!(s.budget, OrgBudgetSummary::default());
        assert_eq!(s.coordination, OrgCoordinationSummary::default());
        assert_eq!(
            s.performance.avg_quality_score,
            Some(7.0),
            "finite domains are kept"
        );
        assert_eq!(s.failed_domains, added);
        assert!(s.non_finite().is_empty());
        assert!(s.quarantine_non_finite().is_empty());
    }

    #[test]
    fn top_agent_share_picks_the_largest_contributor() {
        let top = AgentShare::top([("b", 2.0), ("a", 6.0), ("c", 0.0), ("d", 2.0)], 10.0);
        assert_eq!(
            top,
            Some(AgentShare {
                agent_id: "a".into(),
                value: 6.0,
                share: 0.6,
                agent_count: 3,
            })
        );
        assert_eq!(AgentShare::top([("a", 1.0)], 0.0), None);
        assert_eq!(AgentShare::top([("a", 0.0)], 1.0), None);
        let tie = AgentShare::top([("b", 1.0), ("a", 1.0)], 2.0);
        assert_eq!(tie.map(|t| t.agent_id), Some("a".to_owned()));
    }
}
