//! Scenarios: a YAML file that describes a simulated organisation, the faults injected into it,
//! the simulated reviewer, the kaizen configuration the loop runs with, the response model's
//! parameters and what the run is expected to show (`scenarios/*.yaml`, `docs/simulator.md`).
//!
//! Parsing is strict: an unknown key, a value of the wrong type and a value out of range are
//! errors that name the key path (and the line and column when the parser knows them). Nothing
//! falls back to a default silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::KaizenConfig;
use kaizen_core::org::standard::STANDARD_DEPARTMENTS;
use kaizen_core::org::{OrgDocument, SettingValue};
use kaizen_core::rules::builtin::BUILTIN_RULE_NAMES;
use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{ERROR_CATEGORIES, ModelParams};

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (used in tables and ids).
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Seed: the same scenario and seed give the same report.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// When the simulation starts (UTC, on the hour).
    #[serde(default = "default_start")]
    pub start: DateTime<Utc>,
    /// Simulated days.
    pub days: u32,
    /// Days at the end over which the KPIs are compared (default: 7, at most `days`).
    #[serde(default)]
    pub kpi_window_days: Option<u32>,
    /// The organisation's size and shape.
    #[serde(default, deserialize_with = "null_as_default")]
    pub org: OrgSpec,
    /// Initial settings of the org document, by dotted path (on top of the standard org's).
    #[serde(default, deserialize_with = "null_as_default")]
    pub settings: BTreeMap<String, SettingValue>,
    /// The monthly budget.
    #[serde(default, deserialize_with = "null_as_default")]
    pub budget: BudgetSpec,
    /// Faults, each from a simulated time on.
    #[serde(default, deserialize_with = "null_as_default")]
    pub faults: Vec<FaultSpec>,
    /// How the simulated reviewer behaves.
    #[serde(default, deserialize_with = "null_as_default")]
    pub reviewer: ReviewerPolicy,
    /// The kaizen configuration (the contents of a `kaizen.yaml`) the loop runs with.
    /// `self_improvement.enabled` is forced to true for the run with the loop.
    #[serde(default, deserialize_with = "null_as_default")]
    pub kaizen: KaizenConfig,
    /// Response-model parameters (defaults in `docs/simulator.md`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: ModelParams,
    /// What the run must show (checked by `kaizen sim run` / `suite`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub expect: Expectations,
}

fn default_seed() -> u64 {
    1
}

fn default_start() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap_or_default() // 2026-03-01T00:00:00Z
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The organisation's size and shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgSpec {
    /// Agents.
    pub agents: u32,
    /// Share of agents per department (standard department names; normalised). Default: the
    /// synthetic organisation's shares (engineering 35 %, support 25 %, research 15 %, sales
    /// 15 %, operations 10 %).
    pub departments: Option<BTreeMap<String, f64>>,
    /// Mean tasks per agent per day.
    pub tasks_per_agent_day: f64,
    /// Share of tasks that need a team.
    pub multi_agent_share: f64,
    /// Weekly and daily rhythms of the organisation's work (not faults).
    #[serde(deserialize_with = "null_as_default")]
    pub seasonality: SeasonalitySpec,
}

impl Default for OrgSpec {
    fn default() -> Self {
        Self {
            agents: 60,
            departments: None,
            tasks_per_agent_day: 12.0,
            multi_agent_share: 0.3,
            seasonality: SeasonalitySpec::default(),
        }
    }
}

/// The organisation's weekly and daily rhythms. The defaults are today's organisation: the
/// same volume and quality every day of the week, and the built-in day curve (a night trough
/// and a working-day plateau).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalitySpec {
    /// Task volume on Saturdays and Sundays (UTC) relative to a weekday's. The week's mean
    /// stays `tasks_per_agent_day` (weekdays get correspondingly more).
    pub weekend_volume: f64,
    /// Quality points added to every task on Saturdays and Sundays (negative: a dip).
    pub weekend_quality_delta: f64,
    /// How pronounced the day curve is: 1 is the built-in curve, 0 a flat day, up to 1.3.
    pub daily_amplitude: f64,
}

impl Default for SeasonalitySpec {
    fn default() -> Self {
        Self {
            weekend_volume: 1.0,
            weekend_quality_delta: 0.0,
            daily_amplitude: 1.0,
        }
    }
}

impl SeasonalitySpec {
    /// Problems with the values: (key under `org.seasonality`, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let checks = [
            ("weekend_volume", self.weekend_volume, 0.05, 3.0),
            (
                "weekend_quality_delta",
                self.weekend_quality_delta,
                -5.0,
                5.0,
            ),
            ("daily_amplitude", self.daily_amplitude, 0.0, 1.3),
        ];
        for (key, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                out.push((key, format!("expected a number in [{lo}, {hi}], found {v}")));
            }
        }
        out
    }
}

/// The default department shares (those of `kaizen sim generate`).
pub const DEFAULT_SHARES: [(&str, f64); 5] = [
    ("engineering", 0.35),
    ("research", 0.15),
    ("support", 0.25),
    ("sales", 0.15),
    ("operations", 0.10),
];

impl OrgSpec {
    /// `(department, share)` with the shares summing to 1, in the standard order.
    pub fn shares(&self) -> Vec<(&'static str, f64)> {
        let raw: Vec<(&'static str, f64)> = match &self.departments {
            None => DEFAULT_SHARES.to_vec(),
            Some(map) => STANDARD_DEPARTMENTS
                .iter()
                .filter_map(|(d, _, _)| map.get(*d).map(|s| (*d, *s)))
                .filter(|(_, s)| *s > 0.0)
                .collect(),
        };
        let total: f64 = raw.iter().map(|(_, s)| s).sum();
        raw.into_iter().map(|(d, s)| (d, s / total)).collect()
    }
}

/// The monthly budget (`budget.status` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSpec {
    /// The monthly limit as a multiple of the month's expected spend at the initial settings.
    pub monthly_limit_factor: f64,
    /// A fixed monthly limit in USD instead.
    pub monthly_limit_usd: Option<f64>,
}

impl Default for BudgetSpec {
    fn default() -> Self {
        Self {
            monthly_limit_factor: 1.6,
            monthly_limit_usd: None,
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A department's quality degrades (e.g. a stale knowledge base): `strength` quality
    /// points lost.
    QualityDrop,
    /// Spend per task multiplies by `strength` (e.g. a prompt change that reads far more
    /// context).
    SpendSurge,
    /// The coordination topology changes (e.g. to all-to-all broadcast): coordination overhead
    /// multiplies by `strength`.
    TopologyChange,
    /// Hand-offs carry far more context: coordination spend multiplies by `strength`.
    HandoffBloat,
    /// A flood of errors (e.g. a broken tool integration): the error rate multiplies by
    /// `strength`, of `category` only when given.
    ErrorFlood,
    /// Tasks fail silently (wrong results the classifier does not flag): `strength` extra
    /// failure probability.
    SilentFailures,
    /// A slow dependency: the straggler gap ratio of teams becomes `strength`.
    Stragglers,
    /// Teams pick up the same work twice: redundancy becomes `strength`.
    DuplicateWork,
    /// The infrastructure quota is exhausted: scaling actions fail with probability
    /// `strength` (organisation-wide).
    ScalingQuota,
}

impl FaultKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::QualityDrop => "quality_drop",
            FaultKind::SpendSurge => "spend_surge",
            FaultKind::TopologyChange => "topology_change",
            FaultKind::HandoffBloat => "handoff_bloat",
            FaultKind::ErrorFlood => "error_flood",
            FaultKind::SilentFailures => "silent_failures",
            FaultKind::Stragglers => "stragglers",
            FaultKind::DuplicateWork => "duplicate_work",
            FaultKind::ScalingQuota => "scaling_quota",
        }
    }

    /// The built-in rule the fault is meant to trip.
    pub fn rule(self) -> &'static str {
        match self {
            FaultKind::QualityDrop => "quality_declining",
            FaultKind::SpendSurge => "budget_overrun",
            FaultKind::TopologyChange => "coordination_overhead",
            FaultKind::HandoffBloat => "coordination_cost_ratio",
            FaultKind::ErrorFlood => "error_spike",
            FaultKind::SilentFailures => "success_rate_drop",
            FaultKind::Stragglers => "straggler_bottleneck",
            FaultKind::DuplicateWork => "redundancy",
            FaultKind::ScalingQuota => "scaling_failure",
        }
    }

    /// `strength` when the scenario does not give one.
    pub fn default_strength(self) -> f64 {
        match self {
            FaultKind::QualityDrop => 5.5,
            FaultKind::SpendSurge => 2.2,
            FaultKind::TopologyChange => 2.0,
            FaultKind::HandoffBloat => 5.0,
            FaultKind::ErrorFlood => 8.0,
            FaultKind::SilentFailures => 0.3,
            FaultKind::Stragglers => 4.25,
            FaultKind::DuplicateWork => 0.7,
            FaultKind::ScalingQuota => 0.8,
        }
    }

    /// The range `strength` must lie in (inclusive), and what it means.
    pub fn strength_range(self) -> (f64, f64, &'static str) {
        match self {
            FaultKind::QualityDrop => (0.0, 10.0, "quality points lost"),
            FaultKind::SpendSurge => (1.0, 100.0, "a spend multiplier"),
            FaultKind::TopologyChange => (1.0, 50.0, "an overhead multiplier"),
            FaultKind::HandoffBloat => (1.0, 100.0, "a coordination-spend multiplier"),
            FaultKind::ErrorFlood => (1.0, 10_000.0, "an error-rate multiplier"),
            FaultKind::SilentFailures => (0.0, 1.0, "an extra failure probability"),
            FaultKind::Stragglers => (1.0, 100.0, "a straggler gap ratio"),
            FaultKind::DuplicateWork => (0.0, 0.99, "a redundancy share"),
            FaultKind::ScalingQuota => (0.0, 1.0, "a failure probability"),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What it does.
    pub kind: FaultKind,
    /// Simulated days after the start when it begins (fractions allowed: 8.5 is noon of day 8).
    pub at_day: f64,
    /// When it ends (default: it lasts to the end).
    #[serde(default)]
    pub until_day: Option<f64>,
    /// The department it hits (default: every department).
    #[serde(default)]
    pub department: Option<String>,
    /// How strong it is; its meaning depends on `kind` (see `docs/simulator.md`).
    #[serde(default)]
    pub strength: Option<f64>,
    /// `error_flood`: the error category it concentrates on.
    #[serde(default)]
    pub category: Option<String>,
    /// Periodic faults: a burst starts every this many days from `at_day` (with
    /// `duration_days`); each burst lasts `duration_days`. Default: one continuous fault.
    #[serde(default)]
    pub every_days: Option<f64>,
    /// Periodic faults: how long each burst lasts, in days (at most `every_days`).
    #[serde(default)]
    pub duration_days: Option<f64>,
}

impl FaultSpec {
    /// `strength`, or the kind's default.
    pub fn strength(&self) -> f64 {
        self.strength
            .unwrap_or_else(|| self.kind.default_strength())
    }

    /// When it starts.
    pub fn starts(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        start + days(self.at_day)
    }

    /// When it ends, if it does.
    pub fn ends(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.until_day.map(|d| start + days(d))
    }

    /// Whether it is active at `t`.
    pub fn active(&self, start: DateTime<Utc>, t: DateTime<Utc>) -> bool {
        let from = self.starts(start);
        if t < from || self.ends(start).is_some_and(|e| t >= e) {
            return false;
        }
        match (self.every_days, self.duration_days) {
            (Some(every), Some(duration)) => {
                let every = days(every).num_milliseconds().max(1);
                (t - from).num_milliseconds().rem_euclid(every) < days(duration).num_milliseconds()
            }
            _ => true,
        }
    }

    /// When each burst begins before `end` (one onset for a continuous fault).
    pub fn onsets(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let first = self.starts(start);
        let stop = self.ends(start).map_or(end, |e| e.min(end));
        let Some(every) = self.every_days.filter(|e| *e > 0.0) else {
            return if first < stop {
                vec![first]
            } else {
                Vec::new()
            };
        };
        let mut out = Vec::new();
        let mut at = first;
        while at < stop {
            out.push(at);
            at += days(every);
        }
        out
    }
}

/// Fractional days as a duration (to the millisecond).
pub fn days(d: f64) -> Duration {
    Duration::milliseconds((d * 86_400_000.0).round() as i64)
}

/// Which proposals the reviewer approves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproveMode {
    /// Every proposal (subject to the other rules).
    #[default]
    All,
    /// None: every proposal is rejected.
    None,
    /// Only proposals at the altitudes in `altitudes`; the others are rejected.
    Altitudes,
}

/// What the reviewer does with a rollout paused as inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveAction {
    /// Roll it back ("when in doubt, leave it out").
    Rollback,
    /// Apply it.
    Apply,
    /// Observe 24 hours more (once; then roll back): what a held verdict asks a human to do.
    #[default]
    Extend,
    /// Do nothing (it stays paused).
    Leave,
}

/// How the simulated reviewer, a human principal acting through the REST API, decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewerPolicy {
    /// Which proposals to approve.
    pub approve: ApproveMode,
    /// With `approve: altitudes`, the altitudes approved.
    pub altitudes: Vec<Altitude>,
    /// Hours between a proposal being queued and the reviewer deciding on it.
    pub delay_hours: f64,
    /// The UTC hours `[from, to)` in which the reviewer works; `[0, 24]` for around the clock.
    pub working_hours: (u32, u32),
    /// Proposals of these rules are rejected.
    pub reject_rules: Vec<String>,
    /// Reject a proposal whose exact change was rolled back before.
    pub reject_repeats: bool,
    /// Before approving, re-evaluate the rules (`GET /api/v1/rules/evaluate`) and reject the
    /// proposal when its rule no longer fires.
    pub recheck: bool,
    /// After a proposal of a rule was applied, wait this many hours before deciding on the
    /// next proposal of the same rule (the signal window still holds the data from before the
    /// fix). Default: the snapshot window (`signals.default_window_days` × 24).
    pub settle_hours: Option<f64>,
    /// What to do with a rollout paused as inconclusive.
    pub on_inconclusive: InconclusiveAction,
}

impl Default for ReviewerPolicy {
    fn default() -> Self {
        Self {
            approve: ApproveMode::All,
            altitudes: Vec::new(),
            delay_hours: 4.0,
            working_hours: (9, 17),
            reject_rules: Vec::new(),
            reject_repeats: true,
            recheck: true,
            settle_hours: None,
            on_inconclusive: InconclusiveAction::default(),
        }
    }
}

/// A KPI of the organisation, measured from the simulation's ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// Mean quality of scored tasks (higher is better).
    Quality,
    /// Successful tasks per task (higher is better).
    SuccessRate,
    /// Spend per task, USD (lower is better).
    CostPerTask,
    /// Tasks with an escaped error per task (lower is better).
    ErrorRate,
}

impl Kpi {
    /// Every KPI.
    pub const ALL: [Kpi; 4] = [
        Kpi::Quality,
        Kpi::SuccessRate,
        Kpi::CostPerTask,
        Kpi::ErrorRate,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kpi::Quality => "quality",
            Kpi::SuccessRate => "success_rate",
            Kpi::CostPerTask => "cost_per_task",
            Kpi::ErrorRate => "error_rate",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Kpi::Quality | Kpi::SuccessRate)
    }
}

/// What a run must show.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expectations {
    /// Rules that must fire in the run with the loop.
    pub rules: Vec<String>,
    /// The loop must queue no proposal at all (the control).
    pub no_proposals: bool,
    /// KPIs that must be better at the end with the loop than without it.
    pub improves: Vec<Kpi>,
    /// At least this many changes harmful in this organisation (per the response model) must
    /// have been rolled out, so that rolling them back is shown. (That every harmful change is
    /// rolled back is always checked.)
    pub min_harmful: u32,
    /// Rules that must never fire in the run with the loop (e.g. a healthy organisation's
    /// budget or a weekly rhythm must not look like a fault).
    pub rules_silent: Vec<String>,
    /// Every onset of every fault (each burst of a periodic one) must be detected within this
    /// many hours: by an inflection alert of the fault's metric or by a cycle whose matches
    /// include the fault's rule. Onsets closer to the end than this are checked only when
    /// detected.
    pub detect_within_hours: Option<f64>,
}

/// A scenario file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    /// The file (or `<text>`).
    pub origin: String,
    /// Line and column, when known.
    pub location: Option<(u64, u64)>,
    /// The key path at fault (`faults[1].strength`), when known.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(p) = &self.path {
            write!(f, ": {p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Scenario {
    /// Reads and validates the scenario file at `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            origin: origin.clone(),
            location: None,
            path: None,
            message: format!("cannot read the scenario: {e}"),
        })?;
        Scenario::parse(&text, &origin)
    }

    /// Parses and validates scenario `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let mut key_path = None;
        let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize::<_, Scenario>(de).map_err(|e| {
                key_path = Some(e.path().to_string());
                e.into_inner()
            })
        });
        let scenario = parsed.map_err(|err| {
            let bare = err.without_snippet();
            let location = bare.location().map(|l| (l.line(), l.column()));
            let mut message = bare.to_string();
            if let Some((line, col)) = location {
                let suffix = format!(" at line {line}, column {col}");
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
            }
            ScenarioError {
                origin: origin.to_owned(),
                location,
                path: key_path.filter(|p| !p.is_empty() && p != "." && p != "?"),
                message,
            }
        })?;
        let problems = scenario.problems();
        if let Some((path, message)) = problems.into_iter().next() {
            return Err(ScenarioError {
                origin: origin.to_owned(),
                location: None,
                path: Some(path),
                message,
            });
        }
        Ok(scenario)
    }

    /// The scenario with its organisation resized, its duration changed and its seed replaced
    /// (the command-line overrides); validated again.
    pub fn with_overrides(
        mut self,
        agents: Option<u32>,
        days: Option<u32>,
        seed: Option<u64>,
    ) -> Result<Scenario, ScenarioError> {
        if let Some(a) = agents {
            self.org.agents = a;
        }
        if let Some(d) = days {
            self.days = d;
            self.kpi_window_days = self.kpi_window_days.map(|w| w.min(d));
            // Faults that would start after the end are dropped; those that would end after it
            // are cut.
            self.faults.retain(|f| f.at_day < f64::from(d));
        }
        if let Some(s) = seed {
            self.seed = s;
        }
        match self.problems().into_iter().next() {
            Some((path, message)) => Err(ScenarioError {
                origin: format!("scenario {}", self.name),
                location: None,
                path: Some(path),
                message,
            }),
            None => Ok(self),
        }
    }

    /// Every problem beyond the shape: ranges, names and links between keys.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |p: &str, m: String| out.push((p.to_owned(), m));
        if self.name.trim().is_empty() || self.name.len() > 64 {
            push("name", "expected 1 to 64 characters".to_owned());
        }
        if !(1..=366).contains(&self.days) {
            push("days", format!("expected 1 to 366, found {}", self.days));
        }
        if let Some(w) = self.kpi_window_days
            && (w == 0 || w > self.days)
        {
            push(
                "kpi_window_days",
                format!("expected 1 to `days` ({}), found {w}", self.days),
            );
        }
        if self.start.timestamp() % 3600 != 0 || self.start.timestamp_subsec_nanos() != 0 {
            push(
                "start",
                format!(
                    "expected a time on the hour, found {}",
                    self.start.to_rfc3339()
                ),
            );
        }
        let o = &self.org;
        if !(1..=100_000).contains(&o.agents) {
            push(
                "org.agents",
                format!("expected 1 to 100000, found {}", o.agents),
            );
        }
        if !(o.tasks_per_agent_day.is_finite()
            && o.tasks_per_agent_day > 0.0
            && o.tasks_per_agent_day <= 1000.0)
        {
            push(
                "org.tasks_per_agent_day",
                format!(
                    "expected a number in (0, 1000], found {}",
                    o.tasks_per_agent_day
                ),
            );
        }
        if !(0.0..=1.0).contains(&o.multi_agent_share) {
            push(
                "org.multi_agent_share",
                format!("expected a number in [0, 1], found {}", o.multi_agent_share),
            );
        }
        for (key, message) in o.seasonality.problems() {
            push(&format!("org.seasonality.{key}"), message);
        }
        let known: Vec<&str> = STANDARD_DEPARTMENTS.iter().map(|(d, _, _)| *d).collect();
        if let Some(map) = &o.departments {
            for (d, share) in map {
                if !known.contains(&d.as_str()) {
                    push(
                        &format!("org.departments.{d}"),
                        format!("unknown department; expected one of {}", known.join(", ")),
                    );
                } else if !(share.is_finite() && *share >= 0.0) {
                    push(
                        &format!("org.departments.{d}"),
                        format!("expected a share >= 0, found {share}"),
                    );
                }
            }
            if map.values().filter(|s| s.is_finite()).sum::<f64>() <= 0.0 {
                push(
                    "org.departments",
                    "at least one department needs a positive share".to_owned(),
                );
            }
        }
        let mut doc = OrgDocument::standard();
        for (path, value) in &self.settings {
            if let Err(e) = doc.settings.set(path, Some(value.clone())) {
                push(&format!("settings.{path}"), e);
            }
        }
        if let Err(errors) = doc.validate() {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            push("settings", lines.join("; "));
        } else if let Err(e) = crate::model::Knobs::from_config(&doc.settings, &[]) {
            push("settings", e);
        }
        let b = &self.budget;
        if !(b.monthly_limit_factor.is_finite()
            && b.monthly_limit_factor > 0.0
            && b.monthly_limit_factor <= 1000.0)
        {
            push(
                "budget.monthly_limit_factor",
                format!(
                    "expected a number in (0, 1000], found {}",
                    b.monthly_limit_factor
                ),
            );
        }
        if let Some(l) = b.monthly_limit_usd
            && !(l.is_finite() && l > 0.0)
        {
            push(
                "budget.monthly_limit_usd",
                format!("expected a positive number, found {l}"),
            );
        }
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}]");
            if !(f.at_day.is_finite() && f.at_day >= 0.0 && f.at_day < f64::from(self.days)) {
                push(
                    &format!("{at}.at_day"),
                    format!("expected a day in [0, {}), found {}", self.days, f.at_day),
                );
            }
            if let Some(u) = f.until_day
                && !(u.is_finite() && u > f.at_day)
            {
                push(
                    &format!("{at}.until_day"),
                    format!("expected a day after at_day ({}), found {u}", f.at_day),
                );
            }
            match (f.every_days, f.duration_days) {
                (None, None) => {}
                (Some(e), Some(d)) => {
                    if !(e.is_finite() && e > 0.0) {
                        push(
                            &format!("{at}.every_days"),
                            format!("expected a positive number of days, found {e}"),
                        );
                    } else if !(d.is_finite() && d > 0.0 && d <= e) {
                        push(
                            &format!("{at}.duration_days"),
                            format!(
                                "expected a number of days in (0, every_days ({e})], found {d}"
                            ),
                        );
                    }
                }
                (Some(_), None) => push(
                    &format!("{at}.duration_days"),
                    "a periodic fault needs duration_days with every_days".to_owned(),
                ),
                (None, Some(_)) => push(
                    &format!("{at}.every_days"),
                    "duration_days needs every_days (how often a burst starts)".to_owned(),
                ),
            }
            if let Some(d) = &f.department {
                if f.kind == FaultKind::ScalingQuota {
                    push(
                        &format!("{at}.department"),
                        "scaling_quota is organisation-wide; remove `department`".to_owned(),
                    );
                } else if !known.contains(&d.as_str()) {
                    push(
                        &format!("{at}.department"),
                        format!(
                            "unknown department {d:?}; expected one of {}",
                            known.join(", ")
                        ),
                    );
                }
            }
            let (lo, hi, what) = f.kind.strength_range();
            let s = f.strength();
            if !(s.is_finite() && s > lo && s <= hi) {
                push(
                    &format!("{at}.strength"),
                    format!("{} takes {what} in ({lo}, {hi}], found {s}", f.kind),
                );
            }
            match (&f.category, f.kind) {
                (Some(c), FaultKind::ErrorFlood) => {
                    if !ERROR_CATEGORIES.contains(&c.as_str()) {
                        push(
                            &format!("{at}.category"),
                            format!(
                                "unknown error category {c:?}; expected one of {}",
                                ERROR_CATEGORIES.join(", ")
                            ),
                        );
                    }
                }
                (Some(_), kind) => push(
                    &format!("{at}.category"),
                    format!("only error_flood takes a category, not {kind}"),
                ),
                (None, _) => {}
            }
        }
        if let Some(h) = self.expect.detect_within_hours
            && !(h.is_finite() && h > 0.0)
        {
            push(
                "expect.detect_within_hours",
                format!("expected a positive number of hours, found {h}"),
            );
        }
        let r = &self.reviewer;
        if !(r.delay_hours.is_finite() && (0.0..=24.0 * 366.0).contains(&r.delay_hours)) {
            push(
                "reviewer.delay_hours",
                format!("expected 0 to 8784 hours, found {}", r.delay_hours),
            );
        }
        let (from, to) = r.working_hours;
        if from >= to || to > 24 {
            push(
                "reviewer.working_hours",
                format!("expected [from, to] with 0 <= from < to <= 24, found [{from}, {to}]"),
            );
        }
        if let Some(s) = r.settle_hours
            && !(s.is_finite() && (0.0..=24.0 * 366.0).contains(&s))
        {
            push(
                "reviewer.settle_hours",
                format!("expected 0 to 8784 hours, found {s}"),
            );
        }
        if r.approve == ApproveMode::Altitudes && r.altitudes.is_empty() {
            push(
                "reviewer.altitudes",
                "approve: altitudes needs at least one altitude".to_owned(),
            );
        }
        let rule_known = |name: &str| BUILTIN_RULE_NAMES.contains(&name);
        for (i, rule) in r.reject_rules.iter().enumerate() {
            if !rule_known(rule) {
                push(
                    &format!("reviewer.reject_rules[{i}]"),
                    format!(
                        "unknown rule {rule:?}; expected one of {}",
                        BUILTIN_RULE_NAMES.join(", ")
                    ),
                );
            }
        }
        for (i, rule) in self.expect.rules.iter().enumerate() {
            if !rule_known(rule) {
                push(
                    &format!("expect.rules[{i}]"),
                    format!(
                        "unknown rule {rule:?}; expected one of {}",
                        BUILTIN_RULE_NAMES.join(", ")
                    ),
                );
            }
        }
        for (i, rule) in self.expect.rules_silent.iter().enumerate() {
            if !rule_known(rule) {
                push(
                    &format!("expect.rules_silent[{i}]"),
                    format!(
                        "unknown rule {rule:?}; expected one of {}",
                        BUILTIN_RULE_NAMES.join(", ")
                    ),
                );
            } else if self.expect.rules.contains(rule) {
                push(
                    &format!("expect.rules_silent[{i}]"),
                    format!(
                        "{rule} is also in expect.rules; a rule cannot both fire and stay silent"
                    ),
                );
            }
        }
        if self.expect.no_proposals && self.expect.min_harmful > 0 {
            push(
                "expect.min_harmful",
                "cannot expect harmful changes together with no_proposals".to_owned(),
            );
        }
        if let Err(errors) = self.kaizen.validate() {
            for e in errors.0 {
                push(&format!("kaizen.{}", e.path), e.message);
            }
        }
        for (path, message) in self.model.problems() {
            push(&format!("model.{path}"), message);
        }
        out
    }

    /// Days at the end over which the KPIs are compared.
    pub fn kpi_days(&self) -> u32 {
        self.kpi_window_days.unwrap_or(7).min(self.days)
    }

    /// The organisation's end.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(self.days))
    }

    /// The kaizen configuration the loop runs with: the scenario's, with the loop enabled.
    pub fn loop_config(&self) -> KaizenConfig {
        let mut c = self.kaizen.clone();
        c.self_improvement.enabled = true;
        c
    }

    /// How long the reviewer lets a rule settle after one of its fixes was applied.
    pub fn settle_hours(&self) -> f64 {
        self.reviewer
            .settle_hours
            .unwrap_or_else(|| f64::from(self.kaizen.signals.default_window_days) * 24.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: t\ndays: 10\n";

    #[test]
    fn a_minimal_scenario_gets_the_defaults() {
        let s = Scenario::parse(MINIMAL, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.org, OrgSpec::default());
        assert_eq!(s.seed, 1);
        assert_eq!(s.start.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert!(s.loop_config().self_improvement.enabled);
        assert!(!s.kaizen.self_improvement.enabled);
    }

    #[test]
    fn unknown_and_bad_fields_are_named() {
        let cases = [
            ("name: t\ndays: 10\nfautls: []\n", "fautls"),
            ("name: t\ndays: 10\norg:\n  agnets: 5\n", "agnets"),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: error_flood\n    at_day: 2\n    strenght: 3\n",
                "strenght",
            ),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: eror_flood\n    at_day: 2\n",
                "eror_flood",
            ),
            (
                "name: t\ndays: 10\nkaizen:\n  signals:\n    window: 3\n",
                "window",
            ),
            (
                "name: t\ndays: 10\nmodel:\n  base_qualty: 3\n",
                "base_qualty",
            ),
            ("name: t\ndays: 10\nreviewer:\n  delay: 3\n", "delay"),
        ];
        for (text, field) in cases {
            let e = Scenario::parse(text, "t.yaml")
                .err()
                .unwrap_or_else(|| panic!("{text}"));
            assert!(e.to_string().contains(field), "{text}: {e}");
            assert!(e.location.is_some(), "{e}");
        }
    }

    #[test]
    fn values_out_of_range_name_their_key_path() {
        let cases = [
            ("name: t\ndays: 0\n", "days"),
            ("name: t\ndays: 10\norg:\n  agents: 0\n", "org.agents"),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: spend_surge\n    at_day: 12\n",
                "faults[0].at_day",
            ),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: spend_surge\n    at_day: 2\n    strength: 0.5\n",
                "faults[0].strength",
            ),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: quality_drop\n    at_day: 2\n    department: legal\n",
                "faults[0].department",
            ),
            (
                "name: t\ndays: 10\nfaults:\n  - kind: quality_drop\n    at_day: 2\n    category: timeout\n",
                "faults[0].category",
            ),
            (
                "name: t\ndays: 10\nsettings:\n  models.default_tier: huge\n",
                "settings",
            ),
            (
                "name: t\ndays: 10\nexpect:\n  rules: [nope]\n",
                "expect.rules[0]",
            ),
            (
                "name: t\ndays: 10\nkaizen:\n  signals:\n    default_window_days: 0\n",
                "kaizen.signals.default_window_days",
            ),
            (
                "name: t\ndays: 10\nmodel:\n  base_success: 2\n",
                "model.base_success",
            ),
            (
                "name: t\ndays: 10\norg:\n  seasonality:\n    weekend_volume: 0\n",
                "org.seasonality.weekend_volume",
            ),
            (
                "name: t\ndays: 10\norg:\n  seasonality:\n    daily_amplitude: 2\n",
                "org.seasonality.daily_amplitude",
            ),
            (
                "name: t\ndays: 10\nexpect:\n  rules_silent: [nope]\n",
                "expect.rules_silent[0]",
            ),
            (
                "name: t\ndays: 10\nexpect:\n  rules: [error_spike]\n  rules_silent: [error_spike]\n",
                "expect.rules_silent[0]",
            ),
        ];
        for (text, path) in cases {
            let e = Scenario::parse(text, "t.yaml")
                .err()
                .unwrap_or_else(|| panic!("{text}"));
            assert_eq!(e.path.as_deref(), Some(path), "{text}: {e}");
        }
    }

    #[test]
    fn periodic_faults_come_in_bursts_and_are_validated() {
        let text = "name: t\ndays: 20\nfaults:\n  - kind: error_flood\n    at_day: 2\n    \
                    every_days: 7\n    duration_days: 3\n    until_day: 16\n";
        let s = Scenario::parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let f = &s.faults[0];
        let at = |d: f64| s.start + days(d);
        for (d, active) in [
            (1.9, false),
            (2.0, true),
            (4.9, true),
            (5.0, false),
            (8.9, false),
            (9.0, true),
            (11.9, true),
            (12.0, false),
            (16.5, false),
        ] {
            assert_eq!(f.active(s.start, at(d)), active, "day {d}");
        }
        assert_eq!(f.onsets(s.start, at(20.0)), [at(2.0), at(9.0)]);
        // A continuous fault has one onset.
        let mut continuous = f.clone();
        (continuous.every_days, continuous.duration_days) = (None, None);
        assert_eq!(continuous.onsets(s.start, at(20.0)), [at(2.0)]);
        assert!(continuous.active(s.start, at(6.0)));

        for (extra, path) in [
            ("    every_days: 7\n", "faults[0].duration_days"),
            ("    duration_days: 3\n", "faults[0].every_days"),
            (
                "    every_days: 2\n    duration_days: 3\n",
                "faults[0].duration_days",
            ),
            (
                "    every_days: 0\n    duration_days: 0\n",
                "faults[0].every_days",
            ),
        ] {
            let text = format!(
                "name: t\ndays: 20\nfaults:\n  - kind: error_flood\n    at_day: 2\n{extra}"
            );
            let e = Scenario::parse(&text, "t.yaml")
                .err()
                .unwrap_or_else(|| panic!("{text}"));
            assert_eq!(e.path.as_deref(), Some(path), "{text}: {e}");
        }
        let e = Scenario::parse(
            "name: t\ndays: 5\nexpect:\n  detect_within_hours: 0\n",
            "t.yaml",
        )
        .err()
        .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.path.as_deref(), Some("expect.detect_within_hours"));
    }

    #[test]
    fn overrides_resize_and_revalidate() {
        let text = "name: t\ndays: 20\nfaults:\n  - kind: spend_surge\n    at_day: 15\n";
        let s = Scenario::parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let small = s
            .clone()
            .with_overrides(Some(8), Some(10), Some(3))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((small.org.agents, small.days, small.seed), (8, 10, 3));
        assert!(small.faults.is_empty());
        assert!(s.with_overrides(Some(0), None, None).is_err());
    }
}
