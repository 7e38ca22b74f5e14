//! The configuration model: what `kaizen.yaml` may contain, its defaults and its validation.
//!
//! [`KaizenConfig`] is the meta-loop's part of the file: every top-level section except `server`
//! and `mcp`, which belong to the crate that uses them (`kaizen_server::settings`, where the
//! whole file is composed, strictly: an unknown top-level key is still an error). Every section rejects unknown keys and fills missing keys
//! with their defaults; a section written as an empty key (`storage:` with nothing under it) is
//! its defaults too. Deserialising checks only the shape (key names and value types);
//! [`KaizenConfig::validate`] checks the ranges and the rules that link keys, and reports every
//! problem at once with the key path it concerns.
//!
//! Keys of features kaizen does not have yet (the chief of staff,
//! code-modification proposals, cross-deployment analytics) stay in the model so that files
//! written for them keep their shape, but they accept only their default ("off") value: any
//! other value is a validation error that names the key and says the feature is not available
//! yet. So no key is accepted and then silently ignored (`docs/configuration.md`).
//!
//! Architecture invariant: no IO here. Reading the file and the environment is the CLI's job
//! (`kaizen-cli/src/config_file.rs`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::altitude::Altitude;
use crate::improve::{Knob, KnobRegistry, Playbook, Playbooks};
use crate::inflection::InflectionConfig;
use crate::rules::RulesConfig;
use crate::signals::SignalsConfig;

/// The text that replaces a secret in [`KaizenConfig::redacted`].
pub const REDACTED: &str = "***redacted***";

/// Dotted key paths of the secrets that [`KaizenConfig::redacted`] hides; messages about these
/// keys must not repeat their values.
pub const SECRET_PATHS: &[&str] = &[
    "self_improvement.cross_deployment_analytics.deployment_id_salt",
    // Sink URLs (a Slack incoming-webhook URL is a credential).
    "self_improvement.alerts.sinks",
];

/// The whole of `kaizen.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KaizenConfig {
    /// The meta-loop itself: switches, schedule, rollout, regression and guards.
    #[serde(deserialize_with = "null_as_default")]
    pub self_improvement: SelfImprovementConfig,
    /// Where kaizen keeps its data.
    #[serde(deserialize_with = "null_as_default")]
    pub storage: StorageConfig,
    /// Signal aggregation (snapshot window, trends, budget).
    #[serde(deserialize_with = "null_as_default")]
    pub signals: SignalsConfig,
    /// The rule engine (disabled rules, thresholds).
    #[serde(deserialize_with = "null_as_default")]
    pub rules: RulesConfig,
    /// What config tuning may change and how: knobs and playbooks.
    #[serde(deserialize_with = "null_as_default")]
    pub improvement: ImprovementConfig,
}

/// The `improvement` section: the knobs config tuning may change and the playbooks that say
/// how (`docs/knobs.md`). Operators extend or replace the standard ones here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImprovementConfig {
    /// Start from kaizen's standard knob registry and playbooks.
    pub standard: bool,
    /// Knobs to add; one with the path of a standard knob replaces it.
    pub knobs: Vec<Knob>,
    /// Playbooks to add; one for a rule that has a standard playbook replaces it.
    pub playbooks: Vec<Playbook>,
}

impl Default for ImprovementConfig {
    fn default() -> Self {
        Self {
            standard: true,
            knobs: Vec::new(),
            playbooks: Vec::new(),
        }
    }
}

impl ImprovementConfig {
    /// The knob registry in force: the standard one (if `standard`) with `knobs` added or
    /// replacing.
    pub fn registry(&self) -> Result<KnobRegistry, String> {
        let base: Vec<Knob> = if self.standard {
            KnobRegistry::standard()
                .iter()
                .filter(|k| self.knobs.iter().all(|o| o.path != k.path))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        KnobRegistry::new(base.into_iter().chain(self.knobs.iter().cloned()))
            .map_err(|e| e.to_string())
    }

    /// The playbooks in force: the standard ones (if `standard`) with `playbooks` added or
    /// replacing by rule.
    pub fn playbooks(&self) -> Playbooks {
        let mut all: Vec<Playbook> = if self.standard {
            Playbooks::standard()
                .0
                .into_iter()
                .filter(|p| self.playbooks.iter().all(|o| o.rule != p.rule))
                .collect()
        } else {
            Vec::new()
        };
        all.extend(self.playbooks.iter().cloned());
        Playbooks(all)
    }

    fn validate(&self, v: &mut Validator, path: &str) {
        let registry = match self.registry() {
            Ok(r) => r,
            Err(e) => {
                v.push(format!("{path}.knobs"), e);
                return;
            }
        };
        if let Err(errors) = registry.validate() {
            for e in errors {
                v.push(format!("{path}.knobs"), e.to_string());
            }
        }
        if let Err(errors) = self.playbooks().validate(&registry, &[]) {
            for e in errors {
                v.push(format!("{path}.playbooks"), e.to_string());
            }
        }
    }
}

/// The `self_improvement` section: the meta-loop's switches and its parameters
/// (`docs/configuration.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelfImprovementConfig {
    /// Master switch. The whole meta-loop is opt-in.
    pub enabled: bool,
    /// The chief-of-staff agent persona. Not available yet: only `false` is accepted.
    pub chief_of_staff_enabled: bool,
    /// Proposals that change configuration values (on once the loop is enabled).
    pub config_tuning_enabled: bool,
    /// Proposals that change the organisation's structure (opt-in).
    pub architecture_proposals_enabled: bool,
    /// Proposals that change prompts and prompt policies (opt-in).
    pub prompt_tuning_enabled: bool,
    /// Proposals that change framework code. Not available yet (no strategy makes them and no
    /// applier applies them): only `false` is accepted.
    pub code_modification_enabled: bool,
    /// When improvement cycles run.
    #[serde(deserialize_with = "null_as_default")]
    pub schedule: ScheduleConfig,
    /// How approved changes are rolled out and observed.
    #[serde(deserialize_with = "null_as_default")]
    pub rollout: RolloutConfig,
    /// What counts as a regression during observation.
    #[serde(deserialize_with = "null_as_default")]
    pub regression: RegressionConfig,
    /// Limits enforced by the guard chain.
    #[serde(deserialize_with = "null_as_default")]
    pub guards: GuardChainConfig,
    /// Anonymised telemetry shared across deployments. Not available yet: every key accepts
    /// only its default.
    #[serde(deserialize_with = "null_as_default")]
    pub cross_deployment_analytics: CrossDeploymentAnalyticsConfig,
    /// What the loop remembers of past proposals (cooldowns, failed fixes, undo checks).
    #[serde(deserialize_with = "null_as_default")]
    pub memory: MemoryConfig,
    /// How a proposal's confidence learns from the outcomes of earlier, similar proposals.
    #[serde(deserialize_with = "null_as_default")]
    pub learning: LearningConfig,
    /// Who is told about alerts, and how their delivery is retried (`docs/alerts.md`).
    #[serde(deserialize_with = "null_as_default")]
    pub alerts: AlertsConfig,
    /// The inflection detector's parameters (`kaizen_core::inflection`).
    #[serde(deserialize_with = "null_as_default")]
    pub inflection: InflectionConfig,
}

impl Default for SelfImprovementConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            chief_of_staff_enabled: false,
            config_tuning_enabled: true,
            architecture_proposals_enabled: false,
            prompt_tuning_enabled: false,
            code_modification_enabled: false,
            schedule: ScheduleConfig::default(),
            rollout: RolloutConfig::default(),
            regression: RegressionConfig::default(),
            guards: GuardChainConfig::default(),
            cross_deployment_analytics: CrossDeploymentAnalyticsConfig::default(),
            memory: MemoryConfig::default(),
            learning: LearningConfig::default(),
            alerts: AlertsConfig::default(),
            inflection: InflectionConfig::default(),
        }
    }
}

impl SelfImprovementConfig {
    /// Whether proposals at `altitude` are switched on (ignores the master switch).
    pub fn altitude_enabled(&self, altitude: Altitude) -> bool {
        match altitude {
            Altitude::ConfigTuning => self.config_tuning_enabled,
            Altitude::Architecture => self.architecture_proposals_enabled,
            Altitude::PromptTuning => self.prompt_tuning_enabled,
            Altitude::CodeModification => self.code_modification_enabled,
        }
    }

    /// The altitudes whose switch is on, in [`Altitude::ALL`] order; empty when the master
    /// switch is off.
    pub fn enabled_altitudes(&self) -> Vec<Altitude> {
        if !self.enabled {
            return Vec::new();
        }
        Altitude::ALL
            .into_iter()
            .filter(|a| self.altitude_enabled(*a))
            .collect()
    }
}

/// `self_improvement.schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Hours between scheduled improvement cycles (≥ 1; default weekly).
    pub cycle_interval_hours: u32,
    /// Whether an inflection the monitor detects triggers an extra cycle (trigger
    /// `inflection`), at most one per `inflection_cycle_min_interval_hours`. Off: the
    /// inflection is only alerted.
    pub inflection_trigger_enabled: bool,
    /// Minutes between two runs of the inflection monitor while the loop is enabled (≥ 1).
    pub inflection_check_interval_minutes: u32,
    /// Hours that must pass after an inflection cycle before the next one (≥ 1).
    pub inflection_cycle_min_interval_hours: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            cycle_interval_hours: 168,
            inflection_trigger_enabled: true,
            inflection_check_interval_minutes: 60,
            inflection_cycle_min_interval_hours: 24,
        }
    }
}

/// How an approved change reaches the organisation.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_rollout_strategy)]
pub enum RolloutStrategyKind {
    /// The design the org's size can conclude with, chosen when the rollout starts: a canary
    /// when both of its groups reach `regression.min_data_points` agents, else an A/B test
    /// when both halves do, else before/after (`kaizen_core::rollout::plan::resolve_auto`).
    #[default]
    Auto,
    /// Apply org-wide, then compare the window with the same hours one and two weeks earlier.
    BeforeAfter,
    /// Apply to a fraction of agents first.
    Canary,
    /// Split agents into a control and a treatment group and compare them.
    AbTest,
}

impl RolloutStrategyKind {
    /// The wire name (`auto`, `before_after`, `canary`, `ab_test`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl RolloutStrategyKind {
    /// Every strategy.
    pub const ALL: [RolloutStrategyKind; 4] = [
        RolloutStrategyKind::Auto,
        RolloutStrategyKind::BeforeAfter,
        RolloutStrategyKind::Canary,
        RolloutStrategyKind::AbTest,
    ];
}

/// The parse error of [`RolloutStrategyKind`]: names the valid values.
fn unknown_rollout_strategy(s: &str) -> String {
    format!("unknown rollout strategy {s:?}; expected auto, before_after, canary or ab_test")
}

/// `self_improvement.rollout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    /// Strategy used when a proposal does not name one (`auto`: the design the org's size can
    /// conclude with, chosen at the start).
    pub default_strategy: RolloutStrategyKind,
    /// How long a rollout is observed before its verdict (hours, ≥ 1).
    pub observation_window_hours: u32,
    /// How often regression is checked during observation (hours, 1..=window).
    pub regression_check_interval_hours: u32,
    /// Fraction of agents in a canary rollout, in (0, 1].
    pub canary_fraction: f64,
    /// A/B test parameters.
    #[serde(deserialize_with = "null_as_default")]
    pub ab_test: AbTestConfig,
    /// What happens when a rollout's window ends without a verdict.
    pub on_inconclusive: OnInconclusive,
    /// Departments with at least this many agents are their own stratum when canary and A/B
    /// groups are assigned (≥ 2); smaller ones are pooled.
    pub min_stratum_size: u32,
}

/// `self_improvement.rollout.on_inconclusive`: what an inconclusive rollout does.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OnInconclusive {
    /// Keep the change where it is and wait for a human to extend, apply or roll back.
    #[default]
    Pause,
    /// Roll the change back.
    Rollback,
    /// Apply the change org-wide.
    Apply,
}

impl OnInconclusive {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `self_improvement.regression.method`: the statistical layer's test.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RegressionMethod {
    /// An always-valid mixture SPRT at every check (looking often does not inflate errors).
    #[default]
    Sequential,
    /// Welch's t-test, once, at the end of the window.
    FixedHorizon,
}

impl RegressionMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            default_strategy: RolloutStrategyKind::Auto,
            observation_window_hours: 48,
            regression_check_interval_hours: 4,
            canary_fraction: 0.2,
            ab_test: AbTestConfig::default(),
            on_inconclusive: OnInconclusive::Pause,
            min_stratum_size: 10,
        }
    }
}

/// `self_improvement.rollout.ab_test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbTestConfig {
    /// Fraction of agents in the control group, in (0, 1).
    pub control_fraction: f64,
    /// Minimum agents in each group (≥ 2).
    pub min_agents_per_group: u32,
    /// Minimum observations in each group before a verdict (≥ 2).
    pub min_observations_per_group: u32,
    /// The minimum relative improvement of the proposal's primary metric a rollout wins with
    /// (A/B, canary and before/after alike: significantly better by more than this), in (0, 1].
    pub improvement_threshold: f64,
}

impl Default for AbTestConfig {
    fn default() -> Self {
        Self {
            control_fraction: 0.5,
            min_agents_per_group: 5,
            min_observations_per_group: 10,
            improvement_threshold: 0.05,
        }
    }
}

/// `self_improvement.regression`: thresholds of the regression detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegressionConfig {
    /// Relative quality drop that counts as a regression, in [0, 1].
    pub quality_drop_threshold: f64,
    /// Relative cost increase that counts as a regression, in [0, 1].
    pub cost_increase_threshold: f64,
    /// Relative error-rate increase that counts as a regression, in [0, 1].
    pub error_rate_increase_threshold: f64,
    /// Relative success-rate drop that counts as a regression, in [0, 1].
    pub success_rate_drop_threshold: f64,
    /// The statistical layer's tolerance (non-inferiority margin), as a fraction of each
    /// metric's threshold, in [0, 1]: it rolls back only when the data show a worsening of
    /// more than `tolerance × threshold` (0: any significant worsening).
    pub tolerance: f64,
    /// Significance level of the statistical test, in [0.001, 0.5].
    pub statistical_significance_level: f64,
    /// Data needed per side before a metric is judged (≥ 2): observations (tasks) for the
    /// threshold layer, agents for the statistical layer.
    pub min_data_points: u32,
    /// Consecutive checks a threshold must be breached before it rolls back (≥ 1).
    pub consecutive_breaches: u32,
    /// A breach this many times its threshold rolls back at once (≥ 1).
    pub catastrophic_factor: f64,
    /// The statistical layer's test.
    pub method: RegressionMethod,
    /// A sample-ratio-mismatch p-value below this marks a canary/A/B comparison invalid, in
    /// (0, 0.5].
    pub sample_ratio_p_value: f64,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        Self {
            quality_drop_threshold: 0.10,
            cost_increase_threshold: 0.20,
            error_rate_increase_threshold: 0.15,
            success_rate_drop_threshold: 0.10,
            tolerance: 0.15,
            statistical_significance_level: 0.05,
            min_data_points: 10,
            consecutive_breaches: 2,
            catastrophic_factor: 3.0,
            method: RegressionMethod::Sequential,
            sample_ratio_p_value: 0.001,
        }
    }
}

/// `self_improvement.guards`: limits enforced by the guard chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardChainConfig {
    /// Proposals allowed per rate-limit window (≥ 1).
    pub proposal_rate_limit: u32,
    /// Length of the rate-limit window in hours (≥ 1).
    pub rate_limit_window_hours: u32,
    /// Distinct human approvals a proposal needs, by risk.
    #[serde(deserialize_with = "null_as_default")]
    pub approvals: ApprovalsConfig,
}

impl Default for GuardChainConfig {
    fn default() -> Self {
        Self {
            proposal_rate_limit: 10,
            rate_limit_window_hours: 24,
            approvals: ApprovalsConfig::default(),
        }
    }
}

/// `self_improvement.memory`: what the loop remembers of past proposals
/// (`kaizen_core::improve::memory`, `docs/pipeline.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Whether the loop consults its memory at all (cooldowns, failed fixes, undo checks,
    /// paused altitudes). Off: every cycle proposes as if nothing had happened before.
    pub enabled: bool,
    /// Days a rejected or rolled-back change is not proposed again, an applied change may not
    /// be undone by another proposal, and a fix that did not work is not repeated (≥ 1).
    pub cooldown_days: u32,
    /// How much worse (relative, > 0) the value a rule compares with its threshold must have
    /// got since a rejected or rolled-back proposal for the same change to be proposed again
    /// within its cooldown.
    pub material_change: f64,
    /// After this many consecutive human rejections at one altitude (with no approval in
    /// between, within the cooldown), proposals at that altitude pause until the cooldown of
    /// the last rejection ends (≥ 1).
    pub rejections_to_pause_altitude: u32,
    /// Days after an apply at which the proposal's outcome is measured: its metric over this
    /// many days after the apply against as many days before its rollout began, and whether
    /// its rule still fires (≥ 1).
    pub outcome_horizon_days: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cooldown_days: 14,
            material_change: 0.5,
            rejections_to_pause_altitude: 3,
            outcome_horizon_days: 7,
        }
    }
}

/// Which confidence adjuster learns from outcomes (`self_improvement.learning.adjuster`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjusterKind {
    /// The heuristic confidence as the strategy computed it.
    None,
    /// An exponential moving average of the outcomes (1 kept, 0 not), started at the
    /// heuristic, used once `min_outcomes` are known.
    Ema,
    /// The mean of a Beta posterior: the heuristic as a prior worth `prior_strength`
    /// outcomes, updated with the kept/not-kept counts (shrinks towards the heuristic while
    /// there are few).
    Bayesian,
}

/// `self_improvement.learning`: confidence learned from outcomes
/// (`kaizen_core::improve::learning`, `docs/pipeline.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningConfig {
    /// The adjuster.
    pub adjuster: AdjusterKind,
    /// EMA weight of the newest outcome (0 < α ≤ 1).
    pub ema_alpha: f64,
    /// Outcomes of similar proposals needed before the confidence is adjusted (≥ 1).
    pub min_outcomes: u32,
    /// Bayesian: how many outcomes the heuristic confidence is worth as a prior (> 0).
    pub prior_strength: f64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            adjuster: AdjusterKind::Bayesian,
            ema_alpha: 0.5,
            min_outcomes: 3,
            prior_strength: 4.0,
        }
    }
}

/// `self_improvement.guards.approvals`: how many distinct humans must approve a proposal of
/// each risk level before it counts as approved (each ≥ 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Config tuning.
    pub low: u32,
    /// Prompt tuning and architecture.
    pub medium: u32,
    /// Code modification.
    pub high: u32,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            low: 1,
            medium: 1,
            high: 2,
        }
    }
}

impl ApprovalsConfig {
    /// Approvals needed for `risk`.
    pub fn required(&self, risk: crate::improve::Risk) -> u32 {
        match risk {
            crate::improve::Risk::Low => self.low,
            crate::improve::Risk::Medium => self.medium,
            crate::improve::Risk::High => self.high,
        }
    }
}

/// `self_improvement.cross_deployment_analytics`: anonymised telemetry shared across
/// deployments. Not available yet: every key accepts only its default, so the section can be
/// written but does nothing.
///
/// `Debug` hides [`deployment_id_salt`](Self::deployment_id_salt) so logs never carry it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrossDeploymentAnalyticsConfig {
    /// Master switch for sending anonymised events.
    pub enabled: bool,
    /// HTTPS endpoint that would receive events.
    pub collector_url: Option<String>,
    /// Secret salt for the anonymous deployment id.
    pub deployment_id_salt: Option<String>,
    /// Whether this deployment would also act as a collector.
    pub collector_enabled: bool,
    /// Optional industry category attached to events.
    pub industry_tag: Option<String>,
    /// Events buffered before a flush.
    pub batch_size: u32,
    /// Seconds between periodic flushes.
    pub flush_interval_seconds: f64,
    /// Timeout of one HTTP POST in seconds.
    pub http_timeout_seconds: f64,
    /// Unique deployments needed before a pattern is reported.
    pub min_deployments_for_pattern: u32,
    /// Events needed before a threshold recommendation is made.
    pub recommendation_min_observations: u32,
}

impl Default for CrossDeploymentAnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            collector_url: None,
            deployment_id_salt: None,
            collector_enabled: false,
            industry_tag: None,
            batch_size: 50,
            flush_interval_seconds: 30.0,
            http_timeout_seconds: 10.0,
            min_deployments_for_pattern: 3,
            recommendation_min_observations: 10,
        }
    }
}

impl fmt::Debug for CrossDeploymentAnalyticsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossDeploymentAnalyticsConfig")
            .field("enabled", &self.enabled)
            .field("collector_url", &self.collector_url)
            .field(
                "deployment_id_salt",
                &self.deployment_id_salt.as_ref().map(|_| REDACTED),
            )
            .field("collector_enabled", &self.collector_enabled)
            .field("industry_tag", &self.industry_tag)
            .field("batch_size", &self.batch_size)
            .field("flush_interval_seconds", &self.flush_interval_seconds)
            .field("http_timeout_seconds", &self.http_timeout_seconds)
            .field(
                "min_deployments_for_pattern",
                &self.min_deployments_for_pattern,
            )
            .field(
                "recommendation_min_observations",
                &self.recommendation_min_observations,
            )
            .finish()
    }
}

/// The `storage` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Path of the SQLite database file (relative paths are relative to the working directory).
    pub path: String,
    /// Days raw events are kept (≥ 1); `null` keeps them forever. Rollups are always kept.
    pub raw_retention_days: Option<u32>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: "kaizen.db".to_owned(),
            raw_retention_days: Some(90),
        }
    }
}

/// One validation problem: the key it concerns and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `self_improvement.rollout.ab_test.control_fraction`.
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem [`KaizenConfig::validate`] found, in key order. Displays one line per error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The individual errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Whether some error concerns exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl KaizenConfig {
    /// Checks ranges and cross-key rules, collecting every problem rather than stopping at the
    /// first.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut v = Validator::default();
        self.validate_into(&mut v);
        v.finish()
    }

    /// [`KaizenConfig::validate`] into `v`, for a file that composes this model with the
    /// sections of other crates (`kaizen serve`'s settings).
    pub fn validate_into(&self, v: &mut Validator) {
        self.self_improvement.validate(v, "self_improvement");
        self.storage.validate(v, "storage");
        self.improvement.validate(v, "improvement");
        validate_signals(&self.signals, v, "signals");
        if let Err(problems) = self.rules.validate() {
            for (path, message) in problems {
                let path = if path == "rules" || path.starts_with("rules.") {
                    path
                } else {
                    format!("rules.{path}")
                };
                v.push(path, message);
            }
        }
    }

    /// The top-level keys of `kaizen.yaml` this model owns; other crates own the rest
    /// (`server` and `mcp` belong to `kaizen-server`).
    pub const SECTIONS: &'static [&'static str] = &[
        "self_improvement",
        "storage",
        "signals",
        "rules",
        "improvement",
    ];

    /// Reads the value of the top-level key `key` from `map` into this model, for a file type
    /// that composes it with other sections while staying strict about unknown keys (serde's
    /// `flatten` cannot deny unknown fields). An empty or `null` section is its defaults.
    /// Returns `false`, consuming nothing, when `key` is not one of [`KaizenConfig::SECTIONS`].
    pub fn read_section<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        fn section<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de> + Default>(
            map: &mut A,
        ) -> Result<T, A::Error> {
            Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
        }
        match key {
            "self_improvement" => self.self_improvement = section(map)?,
            "storage" => self.storage = section(map)?,
            "signals" => self.signals = section(map)?,
            "rules" => self.rules = section(map)?,
            "improvement" => self.improvement = section(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A copy with every secret that is set replaced by [`REDACTED`], for display.
    pub fn redacted(&self) -> KaizenConfig {
        let mut copy = self.clone();
        let analytics = &mut copy.self_improvement.cross_deployment_analytics;
        if analytics.deployment_id_salt.is_some() {
            analytics.deployment_id_salt = Some(REDACTED.to_owned());
        }
        for sink in &mut copy.self_improvement.alerts.sinks {
            sink.url = sink.url.as_deref().map(redact_url);
        }
        copy
    }
}

impl SelfImprovementConfig {
    fn validate(&self, v: &mut Validator, at: &str) {
        let schedule = format!("{at}.schedule");
        v.at_least(
            &schedule,
            "cycle_interval_hours",
            self.schedule.cycle_interval_hours,
            1,
        );
        v.at_least(
            &schedule,
            "inflection_check_interval_minutes",
            self.schedule.inflection_check_interval_minutes,
            1,
        );
        v.at_least(
            &schedule,
            "inflection_cycle_min_interval_hours",
            self.schedule.inflection_cycle_min_interval_hours,
            1,
        );
        for (key, message) in self.inflection.problems() {
            v.push(format!("{at}.inflection.{key}"), message);
        }

        let rollout = &self.rollout;
        let r = format!("{at}.rollout");
        v.at_least(
            &r,
            "observation_window_hours",
            rollout.observation_window_hours,
            1,
        );
        v.at_least(
            &r,
            "regression_check_interval_hours",
            rollout.regression_check_interval_hours,
            1,
        );
        if rollout.regression_check_interval_hours > rollout.observation_window_hours {
            v.push(
                format!("{r}.regression_check_interval_hours"),
                format!(
                    "expected at most observation_window_hours ({}), found {}",
                    rollout.observation_window_hours, rollout.regression_check_interval_hours
                ),
            );
        }
        v.number(
            &r,
            "canary_fraction",
            rollout.canary_fraction,
            Bound::Exclusive(0.0),
            Bound::Inclusive(1.0),
        );

        let ab = &rollout.ab_test;
        let a = format!("{r}.ab_test");
        v.number(
            &a,
            "control_fraction",
            ab.control_fraction,
            Bound::Exclusive(0.0),
            Bound::Exclusive(1.0),
        );
        v.at_least(&a, "min_agents_per_group", ab.min_agents_per_group, 2);
        v.at_least(
            &a,
            "min_observations_per_group",
            ab.min_observations_per_group,
            2,
        );
        v.number(
            &a,
            "improvement_threshold",
            ab.improvement_threshold,
            Bound::Exclusive(0.0),
            Bound::Inclusive(1.0),
        );

        let reg = &self.regression;
        let g = format!("{at}.regression");
        for (key, value) in [
            ("quality_drop_threshold", reg.quality_drop_threshold),
            ("cost_increase_threshold", reg.cost_increase_threshold),
            (
                "error_rate_increase_threshold",
                reg.error_rate_increase_threshold,
            ),
            (
                "success_rate_drop_threshold",
                reg.success_rate_drop_threshold,
            ),
            ("tolerance", reg.tolerance),
        ] {
            v.number(&g, key, value, Bound::Inclusive(0.0), Bound::Inclusive(1.0));
        }
        v.number(
            &g,
            "statistical_significance_level",
            reg.statistical_significance_level,
            Bound::Inclusive(0.001),
            Bound::Inclusive(0.5),
        );
        v.at_least(&g, "min_data_points", reg.min_data_points, 2);
        v.at_least(&g, "consecutive_breaches", reg.consecutive_breaches, 1);
        v.number(
            &g,
            "catastrophic_factor",
            reg.catastrophic_factor,
            Bound::Inclusive(1.0),
            Bound::Inclusive(1000.0),
        );
        v.number(
            &g,
            "sample_ratio_p_value",
            reg.sample_ratio_p_value,
            Bound::Exclusive(0.0),
            Bound::Inclusive(0.5),
        );
        v.at_least(&r, "min_stratum_size", rollout.min_stratum_size, 2);

        let guards = format!("{at}.guards");
        v.at_least(
            &guards,
            "proposal_rate_limit",
            self.guards.proposal_rate_limit,
            1,
        );
        v.at_least(
            &guards,
            "rate_limit_window_hours",
            self.guards.rate_limit_window_hours,
            1,
        );
        let approvals = format!("{guards}.approvals");
        let a = &self.guards.approvals;
        v.at_least(&approvals, "low", a.low, 1);
        v.at_least(&approvals, "medium", a.medium, 1);
        v.at_least(&approvals, "high", a.high, 1);

        // Switches of features that do not exist yet: only "off" is accepted.
        if self.chief_of_staff_enabled {
            v.not_available(
                at,
                "chief_of_staff_enabled",
                "the chief of staff is not available yet",
                "false",
            );
        }
        if self.code_modification_enabled {
            v.not_available(
                at,
                "code_modification_enabled",
                "code-modification proposals are not available yet (no strategy makes them \
                 and no applier applies them)",
                "false",
            );
        }
        self.cross_deployment_analytics
            .validate(v, &format!("{at}.cross_deployment_analytics"));

        let memory = format!("{at}.memory");
        v.at_least(&memory, "cooldown_days", self.memory.cooldown_days, 1);
        v.number(
            &memory,
            "material_change",
            self.memory.material_change,
            Bound::Exclusive(0.0),
            Bound::Inclusive(100.0),
        );
        v.at_least(
            &memory,
            "rejections_to_pause_altitude",
            self.memory.rejections_to_pause_altitude,
            1,
        );
        v.at_least(
            &memory,
            "outcome_horizon_days",
            self.memory.outcome_horizon_days,
            1,
        );

        let learning = format!("{at}.learning");
        v.number(
            &learning,
            "ema_alpha",
            self.learning.ema_alpha,
            Bound::Exclusive(0.0),
            Bound::Inclusive(1.0),
        );
        v.at_least(&learning, "min_outcomes", self.learning.min_outcomes, 1);
        v.number(
            &learning,
            "prior_strength",
            self.learning.prior_strength,
            Bound::Exclusive(0.0),
            Bound::Inclusive(1000.0),
        );
        self.alerts.validate(v, &format!("{at}.alerts"));
    }
}

impl CrossDeploymentAnalyticsConfig {
    /// Refuses every key set to something other than its default: none of them does anything
    /// yet. Only the default is named, so the salt's value is never repeated.
    fn validate(&self, v: &mut Validator, at: &str) {
        // Key by key, as serde names them: a key added to the struct is covered too.
        let (Ok(serde_json::Value::Object(set)), Ok(serde_json::Value::Object(defaults))) = (
            serde_json::to_value(self),
            serde_json::to_value(Self::default()),
        ) else {
            v.push(at, "cannot represent this section to check it");
            return;
        };
        for (key, default) in &defaults {
            if set.get(key) != Some(default) {
                // Numbers as the YAML would have them (`30`, not JSON's `30.0`).
                let shown = default
                    .as_f64()
                    .filter(|_| default.is_f64())
                    .map_or_else(|| default.to_string(), |f| f.to_string());
                v.not_available(
                    at,
                    key,
                    "cross-deployment analytics is not available yet",
                    &shown,
                );
            }
        }
    }
}

impl StorageConfig {
    fn validate(&self, v: &mut Validator, at: &str) {
        if self.path.trim().is_empty() {
            v.push(
                format!("{at}.path"),
                "expected a database file path, found an empty string",
            );
        }
        if let Some(days) = self.raw_retention_days {
            v.at_least(at, "raw_retention_days", days, 1);
        }
    }
}

fn validate_signals(signals: &SignalsConfig, v: &mut Validator, at: &str) {
    v.at_least(at, "default_window_days", signals.default_window_days, 1);
    v.number(
        at,
        "trend_tolerance",
        signals.trend_tolerance,
        Bound::Inclusive(0.0),
        Bound::Exclusive(1.0),
    );
    v.number(
        at,
        "benchmark_regression_points",
        signals.benchmark_regression_points,
        Bound::Inclusive(0.0),
        Bound::Unbounded,
    );
    if let Some(budget) = signals.monthly_budget_usd {
        v.number(
            at,
            "monthly_budget_usd",
            budget,
            Bound::Exclusive(0.0),
            Bound::Unbounded,
        );
    }
    validate_budget_period(signals, v, at);
}

/// `budget_period: days` needs its length and anchor; the other periods take neither.
fn validate_budget_period(signals: &SignalsConfig, v: &mut Validator, at: &str) {
    let kind = signals.budget_period;
    if kind == crate::signals::BudgetPeriodKind::Days {
        match signals.budget_period_days {
            None => v.push(
                format!("{at}.budget_period_days"),
                "required with budget_period: days (the period's length in days, 1 to 366)",
            ),
            Some(days) if !(1..=366).contains(&days) => v.push(
                format!("{at}.budget_period_days"),
                format!("expected 1 to 366 days, found {days}"),
            ),
            Some(_) => {}
        }
        match signals.budget_period_anchor {
            None => v.push(
                format!("{at}.budget_period_anchor"),
                "required with budget_period: days (a UTC time at which one period starts, e.g. 2026-01-05T00:00:00Z)",
            ),
            Some(anchor)
                if anchor.timestamp().rem_euclid(3600) != 0
                    || anchor.timestamp_subsec_nanos() != 0 =>
            {
                v.push(
                    format!("{at}.budget_period_anchor"),
                    format!("expected a time on the hour, found {}", anchor.to_rfc3339()),
                )
            }
            Some(_) => {}
        }
    } else {
        for (key, set) in [
            ("budget_period_days", signals.budget_period_days.is_some()),
            (
                "budget_period_anchor",
                signals.budget_period_anchor.is_some(),
            ),
        ] {
            if set {
                v.push(
                    format!("{at}.{key}"),
                    format!(
                        "only used with budget_period: days, but budget_period is {}; remove it",
                        kind.as_str()
                    ),
                );
            }
        }
    }
}

/// One end of an allowed range of numbers.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// The value may equal the bound.
    Inclusive(f64),
    /// The value must differ from the bound.
    Exclusive(f64),
    /// No bound on this side.
    Unbounded,
}

/// Collects configuration problems with their key paths, so that every problem of a file is
/// reported at once. Other crates validate their sections with it too.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<ConfigError>,
}

impl Validator {
    /// Every problem collected, or `Ok` when there is none.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// A problem with the key at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// A key of a feature that does not exist yet, set to something other than `default`.
    pub fn not_available(&mut self, at: &str, key: &str, what: &str, default: &str) {
        self.push(
            format!("{at}.{key}"),
            format!("{what}; remove the key or set it to {default}"),
        );
    }

    /// An integer that must be at least `min`.
    pub fn at_least(&mut self, at: &str, key: &str, value: u32, min: u32) {
        if value < min {
            self.push(
                format!("{at}.{key}"),
                format!("expected an integer >= {min}, found {value}"),
            );
        }
    }

    /// A finite number between `lo` and `hi`.
    pub fn number(&mut self, at: &str, key: &str, value: f64, lo: Bound, hi: Bound) {
        let above = match lo {
            Bound::Inclusive(b) => value >= b,
            Bound::Exclusive(b) => value > b,
            Bound::Unbounded => true,
        };
        let below = match hi {
            Bound::Inclusive(b) => value <= b,
            Bound::Exclusive(b) => value < b,
            Bound::Unbounded => true,
        };
        if value.is_finite() && above && below {
            return;
        }
        let expected = match (lo, hi) {
            (Bound::Inclusive(b), Bound::Unbounded) => format!("a number >= {b}"),
            (Bound::Exclusive(b), Bound::Unbounded) => format!("a number > {b}"),
            _ => {
                let open = match lo {
                    Bound::Inclusive(b) => format!("[{b}"),
                    Bound::Exclusive(b) => format!("({b}"),
                    Bound::Unbounded => "(-inf".to_owned(),
                };
                let close = match hi {
                    Bound::Inclusive(b) => format!("{b}]"),
                    Bound::Exclusive(b) => format!("{b})"),
                    Bound::Unbounded => "inf)".to_owned(),
                };
                format!("a number in {open}, {close}")
            }
        };
        self.push(
            format!("{at}.{key}"),
            format!("expected {expected}, found {value}"),
        );
    }
}

/// What an alert is about. The wire names are stored and delivered (`docs/alerts.md`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AlertKind {
    /// A signal changed abruptly (raised by the inflection monitor).
    Inflection,
    /// The rollout engine rolled a change back automatically.
    Rollback,
    /// An automatic or requested rollback failed: the change may be partly live.
    RollbackFailed,
    /// A rollout's changes no longer apply to the current org version.
    ApplyConflict,
    /// The budget (raised by the budget forecast).
    Budget,
    /// A rollout has waited for a human longer than `alerts.stuck_rollout_hours`.
    StuckRollout,
}

impl AlertKind {
    /// The wire name (`rollback_failed`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How urgent an alert is; ordered `info` < `warning` < `critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AlertSeverity {
    /// For the record.
    #[default]
    Info,
    /// Someone should look.
    Warning,
    /// Someone must act.
    Critical,
}

impl AlertSeverity {
    /// The wire name (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a sink is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSinkKind {
    /// POST of the alert as JSON (`kaizen.alert.v1`) to `url`.
    Webhook,
    /// POST of a Slack incoming-webhook message (`{"text": …}`) to `url`.
    Slack,
    /// A line in kaizen's own log (`tracing`, target `kaizen::alert`).
    Log,
}

impl AlertSinkKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSinkKind::Webhook => "webhook",
            AlertSinkKind::Slack => "slack",
            AlertSinkKind::Log => "log",
        }
    }
}

/// One entry of `self_improvement.alerts.sinks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSink {
    /// Unique name; outbox rows and logs name the sink by it (never by its URL).
    pub name: String,
    /// `webhook`, `slack` or `log`.
    pub kind: AlertSinkKind,
    /// Where to POST (`webhook` and `slack`; refused for `log`). A secret: redacted when shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Alerts below this severity are not sent to this sink.
    #[serde(default)]
    pub min_severity: AlertSeverity,
    /// Only these kinds (absent: every kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<AlertKind>>,
}

impl AlertSink {
    /// Whether an alert of `kind` and `severity` goes to this sink.
    pub fn accepts(&self, kind: AlertKind, severity: AlertSeverity) -> bool {
        severity >= self.min_severity && self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }
}

/// `self_improvement.alerts`: the sinks alerts are delivered to and the delivery's retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts go. None by default: alerts are then only listed (`kaizen alerts`).
    pub sinks: Vec<AlertSink>,
    /// A rollout paused for a human longer than this raises a `stuck_rollout` alert (hours, ≥ 1).
    pub stuck_rollout_hours: u32,
    /// Timeout of one delivery attempt (seconds, 1..=300).
    pub delivery_timeout_seconds: u32,
    /// Upper bound of the first retry's delay; it doubles per attempt (seconds, ≥ 1).
    pub retry_initial_seconds: u32,
    /// Cap of the retry delay (seconds, ≥ `retry_initial_seconds`).
    pub retry_max_seconds: u32,
    /// A delivery still failing this long after the alert was raised is given up and marked
    /// failed (hours, ≥ 1).
    pub give_up_after_hours: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            sinks: Vec::new(),
            stuck_rollout_hours: 48,
            delivery_timeout_seconds: 10,
            retry_initial_seconds: 10,
            retry_max_seconds: 3600,
            give_up_after_hours: 72,
        }
    }
}

impl AlertsConfig {
    /// The sinks that take an alert of `kind` and `severity`, in configuration order.
    pub fn sinks_for(&self, kind: AlertKind, severity: AlertSeverity) -> Vec<&AlertSink> {
        self.sinks
            .iter()
            .filter(|s| s.accepts(kind, severity))
            .collect()
    }

    /// The sink named `name`.
    pub fn sink(&self, name: &str) -> Option<&AlertSink> {
        self.sinks.iter().find(|s| s.name == name)
    }

    fn validate(&self, v: &mut Validator, at: &str) {
        v.at_least(at, "stuck_rollout_hours", self.stuck_rollout_hours, 1);
        v.at_least(
            at,
            "delivery_timeout_seconds",
            self.delivery_timeout_seconds,
            1,
        );
        if self.delivery_timeout_seconds > 300 {
            v.push(
                format!("{at}.delivery_timeout_seconds"),
                format!(
                    "expected an integer <= 300, found {}",
                    self.delivery_timeout_seconds
                ),
            );
        }
        v.at_least(at, "retry_initial_seconds", self.retry_initial_seconds, 1);
        if self.retry_max_seconds < self.retry_initial_seconds {
            v.push(
                format!("{at}.retry_max_seconds"),
                format!(
                    "expected at least retry_initial_seconds ({}), found {}",
                    self.retry_initial_seconds, self.retry_max_seconds
                ),
            );
        }
        v.at_least(at, "give_up_after_hours", self.give_up_after_hours, 1);
        for (i, sink) in self.sinks.iter().enumerate() {
            let s = format!("{at}.sinks[{i}]");
            let name = sink.name.trim();
            if name.is_empty() {
                v.push(
                    format!("{s}.name"),
                    "expected a name, found an empty string",
                );
            } else if self.sinks[..i].iter().any(|o| o.name.trim() == name) {
                v.push(
                    format!("{s}.name"),
                    format!("duplicate sink name {name:?}; sink names must be unique"),
                );
            }
            if sink.kinds.as_ref().is_some_and(Vec::is_empty) {
                v.push(
                    format!("{s}.kinds"),
                    "expected at least one alert kind (remove the key to accept every kind)",
                );
            }
            // Messages about the URL never repeat it: it is a secret.
            match (sink.kind, sink.url.as_deref()) {
                (AlertSinkKind::Log, Some(_)) => v.push(
                    format!("{s}.url"),
                    "a log sink takes no url; remove the key",
                ),
                (AlertSinkKind::Log, None) => {}
                (kind, None) => v.push(
                    format!("{s}.url"),
                    format!("a {} sink needs a url", kind.as_str()),
                ),
                (_, Some(url)) => {
                    if let Err(problem) = check_sink_url(url) {
                        v.push(format!("{s}.url"), problem);
                    }
                }
            }
        }
    }
}

/// The scheme (lower-cased), the host (with port) and the rest of an absolute URL.
fn split_url(url: &str) -> Option<(String, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // Credentials in the authority are dropped: only the host (and port) is kept.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some((scheme.to_ascii_lowercase(), host, tail))
}

/// Checks a sink URL: absolute, `http`, with a host, no whitespace. `https` is refused:
/// kaizen's HTTP client is built without TLS. The message never repeats the URL.
fn check_sink_url(url: &str) -> Result<(), String> {
    if url.chars().any(char::is_whitespace) {
        return Err("expected a URL without whitespace".to_owned());
    }
    let Some((scheme, host, _)) = split_url(url) else {
        return Err("expected an absolute http:// URL".to_owned());
    };
    match scheme.as_str() {
        "http" => {}
        "https" => {
            return Err(
                "https is not available: kaizen's HTTP client is built without TLS; \
                 use an http:// URL (for example a relay on a trusted network)"
                    .to_owned(),
            );
        }
        _ => return Err("expected an http:// URL (scheme http)".to_owned()),
    }
    if host.is_empty() || host.starts_with(':') {
        return Err("expected a host after http://".to_owned());
    }
    Ok(())
}

/// A URL as it may be shown or logged: scheme and host (without credentials), the path and
/// query replaced by [`REDACTED`] (they hold the secret of a Slack URL).
pub fn redact_url(url: &str) -> String {
    match split_url(url) {
        Some((scheme, host, tail)) if !tail.is_empty() && tail != "/" => {
            format!("{scheme}://{host}/{REDACTED}")
        }
        Some((scheme, host, _)) if !url.contains('@') => format!("{scheme}://{host}"),
        Some((scheme, host, _)) => format!("{scheme}://{host}/{REDACTED}"),
        None => REDACTED.to_owned(),
    }
}

/// Reads an absent-valued key (`section:` with nothing under it, or `null`) as the default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(config: &KaizenConfig) -> ConfigErrors {
        match config.validate() {
            Ok(()) => ConfigErrors(Vec::new()),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_validate() {
        let c = KaizenConfig::default();
        assert_eq!(c.validate(), Ok(()));
        let si = &c.self_improvement;
        assert!(!si.enabled && !si.chief_of_staff_enabled && si.config_tuning_enabled);
        assert!(!si.architecture_proposals_enabled);
        assert!(!si.prompt_tuning_enabled && !si.code_modification_enabled);
        assert_eq!(si.schedule.cycle_interval_hours, 168);
        assert_eq!(si.rollout.default_strategy, RolloutStrategyKind::Auto);
        assert_eq!(si.rollout.observation_window_hours, 48);
        assert_eq!(si.rollout.regression_check_interval_hours, 4);
        assert_eq!(si.rollout.ab_test.min_agents_per_group, 5);
        assert_eq!(si.regression.statistical_significance_level, 0.05);
        assert_eq!(si.guards.proposal_rate_limit, 10);
        assert!(!si.cross_deployment_analytics.enabled);
        assert_eq!(si.cross_deployment_analytics.batch_size, 50);
        assert_eq!(c.storage.path, "kaizen.db");
        assert_eq!(c.storage.raw_retention_days, Some(90));
        assert!(si.enabled_altitudes().is_empty());
    }

    #[test]
    fn enabled_altitudes_follow_the_switches() {
        let mut si = SelfImprovementConfig {
            enabled: true,
            prompt_tuning_enabled: true,
            ..SelfImprovementConfig::default()
        };
        assert_eq!(
            si.enabled_altitudes(),
            vec![Altitude::ConfigTuning, Altitude::PromptTuning]
        );
        si.config_tuning_enabled = false;
        assert_eq!(si.enabled_altitudes(), vec![Altitude::PromptTuning]);
    }

    #[test]
    fn out_of_range_values_name_path_and_expectation() {
        let mut c = KaizenConfig::default();
        c.self_improvement.rollout.ab_test.control_fraction = 1.0;
        c.self_improvement.regression.statistical_significance_level = 0.9;
        c.self_improvement.regression.min_data_points = 1;
        c.self_improvement.regression.quality_drop_threshold = f64::NAN;
        c.self_improvement.rollout.canary_fraction = 0.0;
        c.storage.path = "  ".to_owned();
        c.storage.raw_retention_days = Some(0);
        c.signals.trend_tolerance = 1.0;
        c.signals.default_window_days = 0;
        c.signals.monthly_budget_usd = Some(0.0);
        let errs = errors_of(&c);
        let expect = [
            (
                "self_improvement.rollout.ab_test.control_fraction",
                "expected a number in (0, 1), found 1",
            ),
            (
                "self_improvement.regression.statistical_significance_level",
                "expected a number in [0.001, 0.5], found 0.9",
            ),
            (
                "self_improvement.regression.min_data_points",
                "expected an integer >= 2, found 1",
            ),
            (
                "self_improvement.regression.quality_drop_threshold",
                "expected a number in [0, 1], found NaN",
            ),
            (
                "self_improvement.rollout.canary_fraction",
                "expected a number in (0, 1], found 0",
            ),
            (
                "storage.path",
                "expected a database file path, found an empty string",
            ),
            (
                "storage.raw_retention_days",
                "expected an integer >= 1, found 0",
            ),
            (
                "signals.trend_tolerance",
                "expected a number in [0, 1), found 1",
            ),
            (
                "signals.default_window_days",
                "expected an integer >= 1, found 0",
            ),
            (
                "signals.monthly_budget_usd",
                "expected a number > 0, found 0",
            ),
        ];
        for (path, message) in expect {
            assert!(
                errs.errors()
                    .iter()
                    .any(|e| e.path == path && e.message == message),
                "missing {path}: {message} in\n{errs}"
            );
        }
        assert_eq!(errs.errors().len(), expect.len(), "{errs}");
        assert_eq!(errs.to_string().lines().count(), expect.len());
    }

    #[test]
    fn interval_longer_than_window_is_an_error() {
        let mut c = KaizenConfig::default();
        c.self_improvement.rollout.observation_window_hours = 2;
        c.self_improvement.rollout.regression_check_interval_hours = 3;
        let errs = errors_of(&c);
        assert_eq!(
            errs.to_string(),
            "self_improvement.rollout.regression_check_interval_hours: expected at most \
             observation_window_hours (2), found 3"
        );
    }

    #[test]
    fn switches_of_unavailable_features_refuse_true_naming_the_key() {
        let c = KaizenConfig::default();
        let si = &c.self_improvement;
        // Off by default, so the defaults load without a complaint.
        assert!(!si.chief_of_staff_enabled && !si.code_modification_enabled);
        assert!(!si.cross_deployment_analytics.enabled);

        let mut c = KaizenConfig::default();
        c.self_improvement.chief_of_staff_enabled = true;
        c.self_improvement.code_modification_enabled = true;
        let errs = errors_of(&c);
        let expect = [
            (
                "self_improvement.chief_of_staff_enabled",
                "the chief of staff is not available yet; remove the key or set it to false",
            ),
            (
                "self_improvement.code_modification_enabled",
                "code-modification proposals are not available yet (no strategy makes them and \
                 no applier applies them); remove the key or set it to false",
            ),
        ];
        for (path, message) in expect {
            assert!(
                errs.errors()
                    .iter()
                    .any(|e| e.path == path && e.message == message),
                "missing {path}: {message} in\n{errs}"
            );
        }
        assert_eq!(errs.errors().len(), expect.len(), "{errs}");
    }

    #[test]
    fn every_cross_deployment_analytics_key_accepts_only_its_default() {
        let at = "self_improvement.cross_deployment_analytics";
        let mut c = KaizenConfig::default();
        let a = &mut c.self_improvement.cross_deployment_analytics;
        a.enabled = true;
        a.collector_url = Some("https://collector.example/events".to_owned());
        a.deployment_id_salt = Some("pepper".to_owned());
        a.collector_enabled = true;
        a.industry_tag = Some("retail".to_owned());
        a.batch_size = 10;
        a.flush_interval_seconds = 5.0;
        a.http_timeout_seconds = f64::NAN;
        a.min_deployments_for_pattern = 4;
        a.recommendation_min_observations = 20;
        let errs = errors_of(&c);
        let expect = [
            ("enabled", "false"),
            ("collector_url", "null"),
            ("deployment_id_salt", "null"),
            ("collector_enabled", "false"),
            ("industry_tag", "null"),
            ("batch_size", "50"),
            ("flush_interval_seconds", "30"),
            ("http_timeout_seconds", "10"),
            ("min_deployments_for_pattern", "3"),
            ("recommendation_min_observations", "10"),
        ];
        for (key, default) in expect {
            let path = format!("{at}.{key}");
            let message = format!(
                "cross-deployment analytics is not available yet; remove the key or set it to \
                 {default}"
            );
            assert!(
                errs.errors()
                    .iter()
                    .any(|e| e.path == path && e.message == message),
                "missing {path}: {message} in\n{errs}"
            );
        }
        assert_eq!(errs.errors().len(), expect.len(), "{errs}");
        assert!(!errs.to_string().contains("pepper"), "{errs}");

        // One key alone is refused too, and writing a default explicitly is fine.
        let mut c = KaizenConfig::default();
        c.self_improvement.cross_deployment_analytics.batch_size = 51;
        assert_eq!(
            errors_of(&c).to_string(),
            format!(
                "{at}.batch_size: cross-deployment analytics is not available yet; remove the \
                 key or set it to 50"
            )
        );
        c.self_improvement.cross_deployment_analytics.batch_size = 50;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn redaction_hides_the_salt_only_when_set() {
        let mut c = KaizenConfig::default();
        assert_eq!(c.redacted(), c);
        c.self_improvement
            .cross_deployment_analytics
            .deployment_id_salt = Some("pepper".into());
        let r = c.redacted();
        assert_eq!(
            r.self_improvement
                .cross_deployment_analytics
                .deployment_id_salt
                .as_deref(),
            Some(REDACTED)
        );
        assert!(!format!("{c:?}").contains("pepper"));
        assert_eq!(
            c.self_improvement
                .cross_deployment_analytics
                .deployment_id_salt
                .as_deref(),
            Some("pepper")
        );
    }

    #[test]
    fn empty_sections_and_unknown_keys_deserialize_as_expected() {
        let c: KaizenConfig =
            serde_json::from_str(r#"{"storage": null, "self_improvement": {"rollout": null}}"#)
                .unwrap();
        assert_eq!(c, KaizenConfig::default());
        let err = serde_json::from_str::<KaizenConfig>(r#"{"storage": {"pth": "x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `pth`"), "{err}");
        let strategy: RolloutStrategyKind = serde_json::from_str(r#""ab_test""#).unwrap();
        assert_eq!(strategy, RolloutStrategyKind::AbTest);
        assert_eq!(strategy.to_string(), "ab_test");
    }

    #[test]
    fn operator_knobs_and_playbooks_extend_and_replace_the_standard_ones() {
        use crate::improve::{AdjustOp, Adjustment, KnobKind};
        let mut c = KaizenConfig::default();
        assert_eq!(c.improvement.registry().map(|r| r.iter().count()), Ok(7));
        c.improvement.knobs.push(Knob::new(
            "coordination.max_retries",
            KnobKind::Int { min: 0, max: 5 },
            "Retries before escalation",
        ));
        c.improvement.playbooks.push(Playbook {
            rule: "error_spike".into(),
            alternatives: vec![Adjustment::new(
                "coordination.max_retries",
                AdjustOp::StepDown(1),
            )],
        });
        assert!(c.validate().is_ok());
        assert_eq!(c.improvement.registry().map(|r| r.iter().count()), Ok(8));
        let playbooks = c.improvement.playbooks();
        let error_spike = playbooks
            .for_rule("error_spike")
            .map(|p| p.alternatives.len());
        assert_eq!(
            error_spike,
            Some(1),
            "the operator's playbook replaces the standard one"
        );

        c.improvement.playbooks[0].alternatives[0].knob = "coordination.nope".into();
        let errors = c.validate().err().map(|e| e.0).unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "improvement.playbooks");
        assert!(
            errors[0].message.contains("coordination.nope"),
            "{}",
            errors[0].message
        );
    }

    fn alerts_from(json: &str) -> KaizenConfig {
        serde_json::from_str(&format!(r#"{{"self_improvement": {{"alerts": {json}}}}}"#)).unwrap()
    }

    #[test]
    fn alert_sinks_are_read_and_filter_by_severity_and_kind() {
        let c = alerts_from(
            r#"{"sinks": [
                {"name": "ops", "kind": "webhook", "url": "http://hooks.example:8080/in"},
                {"name": "chat", "kind": "slack", "url": "http://relay.example/T/B/secret",
                 "min_severity": "critical"},
                {"name": "journal", "kind": "log", "kinds": ["rollback", "stuck_rollout"]}
            ]}"#,
        );
        assert_eq!(c.validate(), Ok(()));
        let a = &c.self_improvement.alerts;
        let names = |k, s| {
            a.sinks_for(k, s)
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(AlertKind::Rollback, AlertSeverity::Warning),
            ["ops", "journal"]
        );
        assert_eq!(
            names(AlertKind::RollbackFailed, AlertSeverity::Critical),
            ["ops", "chat"]
        );
        assert_eq!(names(AlertKind::Budget, AlertSeverity::Info), ["ops"]);
        assert!(
            serde_json::from_str::<KaizenConfig>(
                r#"{"self_improvement": {"alerts": {"sinks": [{"name": "x", "kind": "pager"}]}}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn alert_sink_validation_names_the_key_and_never_repeats_the_url() {
        let c = alerts_from(
            r#"{"retry_initial_seconds": 60, "retry_max_seconds": 30,
                "delivery_timeout_seconds": 0, "stuck_rollout_hours": 0,
                "sinks": [
                {"name": "a", "kind": "webhook", "url": "ftp://h/secret-one"},
                {"name": "a", "kind": "slack", "url": "https://hooks.slack.com/services/secret-two"},
                {"name": " ", "kind": "webhook"},
                {"name": "b", "kind": "log", "url": "http://h/secret-three"},
                {"name": "c", "kind": "webhook", "url": "http://h/x", "kinds": []},
                {"name": "d", "kind": "webhook", "url": "http:///nohost"}
            ]}"#,
        );
        let errors = errors_of(&c);
        let at = "self_improvement.alerts";
        for path in [
            "retry_max_seconds",
            "delivery_timeout_seconds",
            "stuck_rollout_hours",
            "sinks[0].url",
            "sinks[1].name",
            "sinks[1].url",
            "sinks[2].name",
            "sinks[2].url",
            "sinks[3].url",
            "sinks[4].kinds",
            "sinks[5].url",
        ] {
            assert!(errors.has_path(&format!("{at}.{path}")), "{path}: {errors}");
        }
        assert_eq!(errors.errors().len(), 11, "{errors}");
        let text = errors.to_string();
        assert!(text.contains("duplicate sink name \"a\""), "{text}");
        assert!(text.contains("https is not available"), "{text}");
        assert!(text.contains("a webhook sink needs a url"), "{text}");
        assert!(text.contains("a log sink takes no url"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn redaction_hides_sink_urls_but_keeps_the_host() {
        let c = alerts_from(
            r#"{"sinks": [
                {"name": "chat", "kind": "slack", "url": "http://user:pw@relay.example:81/T0/B0/xyz?k=v"},
                {"name": "bare", "kind": "webhook", "url": "http://hooks.example"},
                {"name": "journal", "kind": "log"}
            ]}"#,
        );
        let r = c.redacted();
        let urls: Vec<Option<&str>> = r
            .self_improvement
            .alerts
            .sinks
            .iter()
            .map(|s| s.url.as_deref())
            .collect();
        let hidden = format!("http://relay.example:81/{REDACTED}");
        assert_eq!(
            urls,
            [Some(hidden.as_str()), Some("http://hooks.example"), None]
        );
        let shown = serde_json::to_string(&r).unwrap();
        assert!(!shown.contains("xyz") && !shown.contains("pw"), "{shown}");
        assert!(SECRET_PATHS.contains(&"self_improvement.alerts.sinks"));
    }

    #[test]
    fn budget_periods_parse_and_days_needs_its_length_and_anchor() {
        use crate::signals::{BudgetPeriod, BudgetPeriodKind};
        let c: KaizenConfig =
            serde_json::from_str(r#"{"signals": {"budget_period": "weekly"}}"#).unwrap();
        assert_eq!(c.signals.budget_period, BudgetPeriodKind::Weekly);
        assert_eq!(c.signals.budget_period(), BudgetPeriod::Weekly);
        assert_eq!(
            KaizenConfig::default().signals.budget_period(),
            BudgetPeriod::Monthly
        );
        let c: KaizenConfig = serde_json::from_str(
            r#"{"signals": {"budget_period": "days", "budget_period_days": 14,
                "budget_period_anchor": "2026-01-05T00:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(matches!(
            c.signals.budget_period(),
            BudgetPeriod::Days { days: 14, .. }
        ));
        assert!(
            serde_json::from_str::<KaizenConfig>(r#"{"signals": {"budget_period": "yearly"}}"#)
                .is_err()
        );

        let mut c = KaizenConfig::default();
        c.signals.budget_period = BudgetPeriodKind::Days;
        let errs = errors_of(&c);
        assert!(
            errs.0
                .iter()
                .any(|e| e.path == "signals.budget_period_days"),
            "{errs}"
        );
        assert!(
            errs.0
                .iter()
                .any(|e| e.path == "signals.budget_period_anchor"),
            "{errs}"
        );
        c.signals.budget_period_days = Some(0);
        assert!(
            errors_of(&c)
                .to_string()
                .contains("expected 1 to 366 days, found 0")
        );
        c.signals.budget_period_days = Some(10);
        c.signals.budget_period_anchor = chrono::DateTime::from_timestamp(1_767_571_230, 0);
        let errs = errors_of(&c);
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert!(
            errs.0[0].message.starts_with("expected a time on the hour"),
            "{errs}"
        );

        let mut c = KaizenConfig::default();
        c.signals.budget_period_days = Some(7);
        let errs = errors_of(&c);
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert_eq!(errs.0[0].path, "signals.budget_period_days");
        assert!(
            errs.0[0]
                .message
                .contains("only used with budget_period: days")
        );
    }

    #[test]
    fn the_inflection_keys_work_and_are_range_checked() {
        let c = KaizenConfig::default();
        let s = &c.self_improvement.schedule;
        // The trigger is on by default (the loop itself is off); checks hourly, at most one
        // inflection cycle a day.
        assert!(s.inflection_trigger_enabled);
        assert_eq!(s.inflection_check_interval_minutes, 60);
        assert_eq!(s.inflection_cycle_min_interval_hours, 24);
        assert_eq!(c.self_improvement.inflection, InflectionConfig::default());

        let parsed: KaizenConfig = serde_json::from_value(serde_json::json!({
            "self_improvement": {
                "schedule": {
                    "inflection_trigger_enabled": false,
                    "inflection_check_interval_minutes": 15
                },
                "inflection": {"recent_hours": 12, "min_increase": 1.0}
            }
        }))
        .unwrap();
        assert_eq!(parsed.validate(), Ok(()));
        let si = &parsed.self_improvement;
        assert!(!si.schedule.inflection_trigger_enabled);
        assert_eq!(si.schedule.inflection_check_interval_minutes, 15);
        assert_eq!(si.inflection.recent_hours, 12);
        assert_eq!(si.inflection.baseline_days, 14);

        let unknown = serde_json::from_value::<KaizenConfig>(serde_json::json!({
            "self_improvement": {"inflection": {"recent_hour": 3}}
        }));
        assert!(unknown.unwrap_err().to_string().contains("recent_hour"));

        let mut bad = KaizenConfig::default();
        bad.self_improvement
            .schedule
            .inflection_check_interval_minutes = 0;
        bad.self_improvement
            .schedule
            .inflection_cycle_min_interval_hours = 0;
        bad.self_improvement.inflection.max_p_value = 0.0;
        let errs = errors_of(&bad);
        let paths: Vec<&str> = errs.errors().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "self_improvement.schedule.inflection_check_interval_minutes",
                "self_improvement.schedule.inflection_cycle_min_interval_hours",
                "self_improvement.inflection.max_p_value",
            ],
            "{errs}"
        );
    }
}
