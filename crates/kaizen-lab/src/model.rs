//! The response model: how one task turns out, given what its agent reads from its effective
//! configuration ([`Knobs`]), the agent's own skill ([`AgentTraits`]) and the faults active in
//! its department ([`Conditions`]). Every number is a parameter of [`ModelParams`] with a
//! default; `docs/simulator.md` documents the model and every parameter, and scenarios may
//! override any of them under `model:`.
//!
//! The shape follows the literature the standard playbooks rely on (Kim et al., *Towards a
//! Science of Scaling Agent Systems*, 2025): model tier raises quality and cost; coordination
//! overhead grows super-linearly with team size; teams below three essential members or above
//! the 3–4-agent sweet spot succeed less; centralised verification cuts error amplification
//! from 17.2× to 4.4× for a small cost; work stealing narrows straggler gaps; de-duplication
//! removes duplicated work; a per-task spend limit caps cost and slightly lowers quality; a
//! principle that names an error category lowers that category's rate.
//!
//! Pure: no clock, no IO. Randomness comes from the [`Rng`] the caller passes.

use kaizen_core::org::standard::{
    CENTRALIZED_VERIFICATION, DEDUPLICATION, DEFAULT_TIER, MAX_TEAM_SIZE, MODEL_TIERS,
    PER_TASK_LIMIT_USD, STRAGGLER_TIMEOUT_SECONDS, WORK_STEALING,
};
use kaizen_core::org::{Principle, SettingValue, Settings};
use serde::{Deserialize, Serialize};

use kaizen_sim::rng::Rng;

/// Error categories of the simulated classifier (the same six as `kaizen sim generate`).
pub const ERROR_CATEGORIES: [&str; 6] = [
    "hallucination",
    "tool_misuse",
    "context_overflow",
    "instruction_drift",
    "coordination_failure",
    "timeout",
];

/// The effect of one model tier, relative to the large tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierEffect {
    /// Added to the quality score (0–10 scale).
    pub quality: f64,
    /// Added to the success probability.
    pub success: f64,
    /// Multiplies the spend of a task.
    pub cost: f64,
    /// Multiplies the error rate.
    pub errors: f64,
}

/// The three tiers of `models.default_tier`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// `small`.
    pub small: TierEffect,
    /// `medium`.
    pub medium: TierEffect,
    /// `large`.
    pub large: TierEffect,
}

impl Default for Tiers {
    fn default() -> Self {
        Self {
            small: TierEffect {
                quality: -1.0,
                success: -0.04,
                cost: 0.15,
                errors: 1.6,
            },
            medium: TierEffect {
                quality: -0.1,
                success: -0.005,
                cost: 0.45,
                errors: 1.1,
            },
            large: TierEffect {
                quality: 0.0,
                success: 0.0,
                cost: 1.0,
                errors: 1.0,
            },
        }
    }
}

/// Every parameter of the response model. `docs/simulator.md` explains each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelParams {
    /// Mean quality score of a successful, scored task at the large tier.
    pub base_quality: f64,
    /// Per-task quality noise (standard deviation).
    pub quality_noise: f64,
    /// Spread of the agents' own quality offsets (standard deviation).
    pub agent_quality_sd: f64,
    /// Quality lost by a failed task.
    pub failed_quality_penalty: f64,
    /// Share of tasks that get a quality score.
    pub scored_share: f64,
    /// Success probability of a task at the large tier.
    pub base_success: f64,
    /// Spread of the agents' own success offsets (standard deviation).
    pub agent_success_sd: f64,
    /// Mean productive spend of a task at the large tier, USD.
    pub base_task_cost_usd: f64,
    /// Log-normal σ of the per-task spend.
    pub cost_sigma: f64,
    /// Coordination spend of a single-agent task, as a share of its productive spend.
    pub coordination_single: f64,
    /// Coordination spend of a multi-agent task without overhead, as a share of its productive
    /// spend.
    pub coordination_multi: f64,
    /// How strongly coordination overhead (O%) adds to coordination spend.
    pub coordination_overhead_weight: f64,
    /// System (framework) spend as a share of productive spend.
    pub system_share: f64,
    /// The model tiers.
    pub tiers: Tiers,
    /// Weights of the team sizes a multi-agent task needs: 2, 3, 4, 5 and 6 agents.
    pub team_need_weights: [f64; 5],
    /// Coordination overhead O% of a team of n agents: `k × (n − 1)^exponent` (this is k).
    pub overhead_per_agent: f64,
    /// The exponent of the overhead curve (super-linear above 1).
    pub overhead_exponent: f64,
    /// Members a task cannot do without: a team smaller than `min(need, essential_team)` is
    /// understaffed.
    pub essential_team: u32,
    /// Success probability lost per missing essential member.
    pub understaffed_success: f64,
    /// Quality lost per missing essential member.
    pub understaffed_quality: f64,
    /// The upper end of the sweet spot: members beyond it cost success.
    pub sweet_spot_max: u32,
    /// Success probability lost per member beyond the sweet spot.
    pub overstaffed_success: f64,
    /// Base error rate of a single-agent task at the large tier (probability that an error
    /// escapes into the result).
    pub base_error_rate: f64,
    /// Error amplification of a multi-agent task without central verification (Kim et al.:
    /// 17.2× for independent agents).
    pub amplification_independent: f64,
    /// Error amplification of a multi-agent task with central verification (Kim et al.:
    /// 4.4×).
    pub amplification_centralized: f64,
    /// Share of a single-agent task's errors the central verifier catches.
    pub verification_catch_single: f64,
    /// Share of silent failures the central verifier catches and sends back for a fix.
    pub verification_recovery: f64,
    /// Extra spend of central verification, as a share of productive spend.
    pub verification_cost: f64,
    /// Extra duration of central verification (relative).
    pub verification_duration: f64,
    /// Verified results below this quality are sent back for revision.
    pub verification_quality_floor: f64,
    /// Share of the gap to the floor a revision closes.
    pub verification_quality_lift: f64,
    /// Probability that an escaped error fails the task.
    pub error_fail_probability: f64,
    /// Quality lost by a task with an escaped error.
    pub error_quality_penalty: f64,
    /// How much a principle that names an error category lowers that category's rate (0–1).
    pub principle_error_reduction: f64,
    /// Tasks the error classifier audits per day (it reports the escaped errors it finds).
    pub classifier_sample_per_day: f64,
    /// Straggler gap ratio of a healthy team: uniform between these two.
    pub straggler_gap: (f64, f64),
    /// Work stealing keeps this share of the gap above 1.
    pub work_stealing_factor: f64,
    /// Extra coordination spend of work stealing (relative).
    pub work_stealing_cost: f64,
    /// The straggler timeout the healthy gap is measured at, seconds.
    pub straggler_timeout_reference_s: f64,
    /// The gap above 1 scales with `(timeout / reference)^exponent`.
    pub straggler_timeout_exponent: f64,
    /// Success probability lost to timeouts at a gap of 4 or more (linear from a gap of 2).
    pub straggler_fail: f64,
    /// Redundancy (share of duplicated work) of a healthy team: uniform between these two.
    pub redundancy: (f64, f64),
    /// De-duplication keeps this share of the redundancy.
    pub deduplication_factor: f64,
    /// Extra system spend of de-duplication (relative to productive spend).
    pub deduplication_cost: f64,
    /// Quality lost when the per-task limit cuts a task short, per share of its spend cut.
    pub limit_quality_penalty: f64,
    /// Failure probability of a scaling action in a healthy organisation.
    pub scaling_failure_base: f64,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self {
            base_quality: 7.3,
            quality_noise: 0.9,
            agent_quality_sd: 0.4,
            failed_quality_penalty: 0.8,
            scored_share: 0.9,
            base_success: 0.88,
            agent_success_sd: 0.03,
            base_task_cost_usd: 0.25,
            cost_sigma: 0.5,
            coordination_single: 0.12,
            coordination_multi: 0.3,
            coordination_overhead_weight: 4.0,
            system_share: 0.1,
            tiers: Tiers::default(),
            team_need_weights: [0.15, 0.25, 0.30, 0.20, 0.10],
            overhead_per_agent: 0.046,
            overhead_exponent: 1.5,
            essential_team: 3,
            understaffed_success: 0.15,
            understaffed_quality: 1.0,
            sweet_spot_max: 4,
            overstaffed_success: 0.03,
            base_error_rate: 0.0006,
            amplification_independent: 17.2,
            amplification_centralized: 4.4,
            verification_catch_single: 0.75,
            verification_recovery: 0.7,
            verification_cost: 0.02,
            verification_duration: 0.15,
            verification_quality_floor: 7.0,
            verification_quality_lift: 0.6,
            error_fail_probability: 0.8,
            error_quality_penalty: 2.0,
            principle_error_reduction: 0.7,
            classifier_sample_per_day: 100.0,
            straggler_gap: (1.3, 1.6),
            work_stealing_factor: 0.25,
            work_stealing_cost: 0.02,
            straggler_timeout_reference_s: 900.0,
            straggler_timeout_exponent: 0.5,
            straggler_fail: 0.10,
            redundancy: (0.10, 0.15),
            deduplication_factor: 0.3,
            deduplication_cost: 0.01,
            limit_quality_penalty: 1.0,
            scaling_failure_base: 0.1,
        }
    }
}

impl ModelParams {
    /// Every problem with the parameters, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut check = |name: &str, v: f64, lo: f64, hi: f64| range(&mut out, name, v, lo, hi);
        check("base_quality", self.base_quality, 0.0, 10.0);
        check("quality_noise", self.quality_noise, 0.0, 5.0);
        check("agent_quality_sd", self.agent_quality_sd, 0.0, 5.0);
        check(
            "failed_quality_penalty",
            self.failed_quality_penalty,
            0.0,
            10.0,
        );
        check("scored_share", self.scored_share, 0.0, 1.0);
        check("base_success", self.base_success, 0.0, 1.0);
        check("agent_success_sd", self.agent_success_sd, 0.0, 0.5);
        check("base_task_cost_usd", self.base_task_cost_usd, 1e-6, 1000.0);
        check("cost_sigma", self.cost_sigma, 0.0, 3.0);
        check("coordination_single", self.coordination_single, 0.0, 10.0);
        check("coordination_multi", self.coordination_multi, 0.0, 10.0);
        check(
            "coordination_overhead_weight",
            self.coordination_overhead_weight,
            0.0,
            100.0,
        );
        check("system_share", self.system_share, 0.0, 10.0);
        for (name, t) in [
            ("small", self.tiers.small),
            ("medium", self.tiers.medium),
            ("large", self.tiers.large),
        ] {
            check(&format!("tiers.{name}.quality"), t.quality, -10.0, 10.0);
            check(&format!("tiers.{name}.success"), t.success, -1.0, 1.0);
            check(&format!("tiers.{name}.cost"), t.cost, 1e-6, 1000.0);
            check(&format!("tiers.{name}.errors"), t.errors, 0.0, 1000.0);
        }
        for (i, w) in self.team_need_weights.iter().enumerate() {
            check(&format!("team_need_weights[{i}]"), *w, 0.0, 1e6);
        }
        let mut other = Vec::new();
        if self.team_need_weights.iter().sum::<f64>() <= 0.0 {
            other.push((
                "team_need_weights".to_owned(),
                "at least one weight must be positive".to_owned(),
            ));
        }
        check("overhead_per_agent", self.overhead_per_agent, 0.0, 10.0);
        check("overhead_exponent", self.overhead_exponent, 0.0, 5.0);
        if !(1..=20).contains(&self.essential_team) {
            other.push((
                "essential_team".to_owned(),
                format!("expected 1 to 20, found {}", self.essential_team),
            ));
        }
        if !(1..=20).contains(&self.sweet_spot_max) {
            other.push((
                "sweet_spot_max".to_owned(),
                format!("expected 1 to 20, found {}", self.sweet_spot_max),
            ));
        }
        check("understaffed_success", self.understaffed_success, 0.0, 1.0);
        check("understaffed_quality", self.understaffed_quality, 0.0, 10.0);
        check("overstaffed_success", self.overstaffed_success, 0.0, 1.0);
        check("base_error_rate", self.base_error_rate, 0.0, 1.0);
        check(
            "amplification_independent",
            self.amplification_independent,
            0.0,
            1000.0,
        );
        check(
            "amplification_centralized",
            self.amplification_centralized,
            0.0,
            1000.0,
        );
        check(
            "verification_catch_single",
            self.verification_catch_single,
            0.0,
            1.0,
        );
        check(
            "verification_recovery",
            self.verification_recovery,
            0.0,
            1.0,
        );
        check("verification_cost", self.verification_cost, 0.0, 10.0);
        check(
            "verification_duration",
            self.verification_duration,
            0.0,
            10.0,
        );
        check(
            "verification_quality_floor",
            self.verification_quality_floor,
            0.0,
            10.0,
        );
        check(
            "verification_quality_lift",
            self.verification_quality_lift,
            0.0,
            1.0,
        );
        check(
            "error_fail_probability",
            self.error_fail_probability,
            0.0,
            1.0,
        );
        check(
            "error_quality_penalty",
            self.error_quality_penalty,
            0.0,
            10.0,
        );
        check(
            "principle_error_reduction",
            self.principle_error_reduction,
            0.0,
            1.0,
        );
        check(
            "classifier_sample_per_day",
            self.classifier_sample_per_day,
            0.0,
            1e9,
        );
        check("straggler_gap[0]", self.straggler_gap.0, 1.0, 100.0);
        check(
            "straggler_gap[1]",
            self.straggler_gap.1,
            self.straggler_gap.0,
            100.0,
        );
        check("work_stealing_factor", self.work_stealing_factor, 0.0, 1.0);
        check("work_stealing_cost", self.work_stealing_cost, 0.0, 10.0);
        check(
            "straggler_timeout_reference_s",
            self.straggler_timeout_reference_s,
            1.0,
            1e6,
        );
        check(
            "straggler_timeout_exponent",
            self.straggler_timeout_exponent,
            0.0,
            5.0,
        );
        check("straggler_fail", self.straggler_fail, 0.0, 1.0);
        check("redundancy[0]", self.redundancy.0, 0.0, 1.0);
        check("redundancy[1]", self.redundancy.1, self.redundancy.0, 1.0);
        check("deduplication_factor", self.deduplication_factor, 0.0, 1.0);
        check("deduplication_cost", self.deduplication_cost, 0.0, 10.0);
        check(
            "limit_quality_penalty",
            self.limit_quality_penalty,
            0.0,
            10.0,
        );
        check("scaling_failure_base", self.scaling_failure_base, 0.0, 1.0);
        out.extend(other);
        out
    }

    /// The effect of `tier`.
    pub fn tier(&self, tier: Tier) -> TierEffect {
        match tier {
            Tier::Small => self.tiers.small,
            Tier::Medium => self.tiers.medium,
            Tier::Large => self.tiers.large,
        }
    }

    /// Coordination overhead (O%, as a fraction) of a team of `n` agents before faults.
    pub fn overhead(&self, n: u32) -> f64 {
        if n < 2 {
            return 0.0;
        }
        self.overhead_per_agent * f64::from(n - 1).powf(self.overhead_exponent)
    }
}

/// A model tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The cheapest.
    Small,
    /// The middle one.
    Medium,
    /// The best and most expensive.
    Large,
}

impl Tier {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Small => MODEL_TIERS[0],
            Tier::Medium => MODEL_TIERS[1],
            Tier::Large => MODEL_TIERS[2],
        }
    }

    /// The simulated model behind the tier, its provider and its price per million input and
    /// output tokens (USD).
    pub fn model(self) -> (&'static str, &'static str, f64, f64) {
        match self {
            Tier::Small => ("gpt-4.1-mini", "openai", 0.4, 1.6),
            Tier::Medium => ("claude-haiku-4", "anthropic", 1.0, 5.0),
            Tier::Large => ("claude-sonnet-4", "anthropic", 3.0, 15.0),
        }
    }
}

/// What an agent runs with, read from its effective configuration: the standard knobs
/// (`docs/knobs.md`) and the error categories its principles name.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// `models.default_tier`.
    pub tier: Tier,
    /// `budget.per_task_limit_usd`.
    pub per_task_limit_usd: f64,
    /// `coordination.max_team_size`.
    pub max_team_size: u32,
    /// `coordination.work_stealing`.
    pub work_stealing: bool,
    /// `coordination.straggler_timeout_seconds`.
    pub straggler_timeout_s: f64,
    /// `coordination.deduplication`.
    pub deduplication: bool,
    /// `verification.centralized`.
    pub centralized_verification: bool,
    /// Bit `i` set: a principle that applies to the agent names [`ERROR_CATEGORIES`]`[i]`.
    pub principle_categories: u8,
}

impl Default for Knobs {
    /// The standard org's values.
    fn default() -> Self {
        Self {
            tier: Tier::Large,
            per_task_limit_usd: 2.0,
            max_team_size: 5,
            work_stealing: false,
            straggler_timeout_s: 900.0,
            deduplication: false,
            centralized_verification: false,
            principle_categories: 0,
        }
    }
}

impl Knobs {
    /// Reads the knobs from an effective configuration's settings and principles. A knob the
    /// settings do not contain keeps the standard org's value (an org without the knob does not
    /// tune it); a knob of the wrong type or out of its range is an error naming it.
    pub fn from_config(settings: &Settings, principles: &[Principle]) -> Result<Knobs, String> {
        let mut k = Knobs::default();
        if let Some(v) = settings.get(DEFAULT_TIER) {
            k.tier = match v {
                SettingValue::String(s) if s == "small" => Tier::Small,
                SettingValue::String(s) if s == "medium" => Tier::Medium,
                SettingValue::String(s) if s == "large" => Tier::Large,
                other => {
                    return Err(format!(
                        "{DEFAULT_TIER}: expected one of small, medium, large, found {other}"
                    ));
                }
            };
        }
        if let Some(v) = settings.get(PER_TASK_LIMIT_USD) {
            k.per_task_limit_usd = match v {
                SettingValue::Float(x) if *x > 0.0 => *x,
                SettingValue::Integer(i) if *i > 0 => *i as f64,
                other => {
                    return Err(format!(
                        "{PER_TASK_LIMIT_USD}: expected a positive number, found {other}"
                    ));
                }
            };
        }
        if let Some(v) = settings.get(MAX_TEAM_SIZE) {
            k.max_team_size = match v {
                SettingValue::Integer(i) if (1..=1000).contains(i) => *i as u32,
                other => {
                    return Err(format!(
                        "{MAX_TEAM_SIZE}: expected an integer from 1 to 1000, found {other}"
                    ));
                }
            };
        }
        if let Some(v) = settings.get(STRAGGLER_TIMEOUT_SECONDS) {
            k.straggler_timeout_s = match v {
                SettingValue::Integer(i) if *i > 0 => *i as f64,
                other => {
                    return Err(format!(
                        "{STRAGGLER_TIMEOUT_SECONDS}: expected a positive integer, found {other}"
                    ));
                }
            };
        }
        let flag = |path: &str, default: bool| -> Result<bool, String> {
            match settings.get(path) {
                None => Ok(default),
                Some(SettingValue::Bool(b)) => Ok(*b),
                Some(other) => Err(format!("{path}: expected true or false, found {other}")),
            }
        };
        k.work_stealing = flag(WORK_STEALING, k.work_stealing)?;
        k.deduplication = flag(DEDUPLICATION, k.deduplication)?;
        k.centralized_verification = flag(CENTRALIZED_VERIFICATION, k.centralized_verification)?;
        for p in principles {
            let text = p.text.to_lowercase();
            for (i, c) in ERROR_CATEGORIES.iter().enumerate() {
                if text.contains(c) || text.contains(&c.replace('_', " ")) {
                    k.principle_categories |= 1 << i;
                }
            }
        }
        Ok(k)
    }
}

/// What the active faults do to one department at one time. The neutral value is
/// [`Conditions::default`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// Added to quality.
    pub quality_delta: f64,
    /// Multiplies all spend.
    pub cost_factor: f64,
    /// Multiplies coordination overhead (a topology change).
    pub overhead_factor: f64,
    /// Multiplies coordination spend (bloated hand-offs).
    pub handoff_factor: f64,
    /// Multiplies the error rate (of one category when `error_category` is set).
    pub error_factor: f64,
    /// The category an error flood concentrates on.
    pub error_category: Option<usize>,
    /// Extra probability that a task fails silently (no error finding).
    pub silent_failure: f64,
    /// Replaces the healthy straggler gap.
    pub straggler_gap: Option<f64>,
    /// Replaces the healthy redundancy.
    pub redundancy: Option<f64>,
}

impl Default for Conditions {
    fn default() -> Self {
        Self {
            quality_delta: 0.0,
            cost_factor: 1.0,
            overhead_factor: 1.0,
            handoff_factor: 1.0,
            error_factor: 1.0,
            error_category: None,
            silent_failure: 0.0,
            straggler_gap: None,
            redundancy: None,
        }
    }
}

/// An agent's own skill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentTraits {
    /// Added to quality.
    pub quality_offset: f64,
    /// Added to the success probability.
    pub success_offset: f64,
    /// Multiplies durations.
    pub speed: f64,
}

/// Coordination measurements of a multi-agent task (`coordination.measured`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordination {
    /// Turns a single agent would have needed.
    pub turns_sas: f64,
    /// Turns the team took.
    pub turns_mas: f64,
    /// Error rate of the single-agent baseline.
    pub error_rate_sas: f64,
    /// Error rate of the team.
    pub error_rate_mas: f64,
    /// Messages exchanged.
    pub messages: u64,
    /// Reasoning turns across agents.
    pub reasoning_turns: u64,
    /// Share of duplicated work.
    pub redundancy: f64,
    /// Slowest agent's time over the median agent's.
    pub straggler_gap_ratio: f64,
}

/// How one task turned out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskOutcome {
    /// Whether it met its acceptance criteria.
    pub success: bool,
    /// Reviewed quality, when scored.
    pub quality: Option<f64>,
    /// Collaboration score, when scored.
    pub collaboration: Option<f64>,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// Turns.
    pub turns: u32,
    /// Agents that worked on it.
    pub team: u32,
    /// Productive spend, USD.
    pub productive_usd: f64,
    /// Coordination spend, USD.
    pub coordination_usd: f64,
    /// System spend, USD.
    pub system_usd: f64,
    /// Coordination measurements (teams of two or more).
    pub coordination: Option<Coordination>,
    /// The category of an error that escaped into the result.
    pub error: Option<usize>,
}

impl TaskOutcome {
    /// Total spend, USD.
    pub fn cost(&self) -> f64 {
        self.productive_usd + self.coordination_usd + self.system_usd
    }
}

/// Simulates one task of an agent with `traits` that reads `knobs`, under `cond`.
pub fn simulate_task(
    p: &ModelParams,
    knobs: &Knobs,
    cond: &Conditions,
    traits: &AgentTraits,
    multi_agent_share: f64,
    rng: &mut Rng,
) -> TaskOutcome {
    let tier = p.tier(knobs.tier);
    let verified = knobs.centralized_verification;

    // Team: how many agents the task needs, how many it gets.
    let multi = rng.chance(multi_agent_share);
    let need = if multi {
        2 + rng.weighted(&p.team_need_weights) as u32
    } else {
        1
    };
    let team = need.min(knobs.max_team_size.max(1));
    let missing = need.min(p.essential_team).saturating_sub(team);
    let overstaffed = team.saturating_sub(p.sweet_spot_max);
    let overhead = p.overhead(team) * cond.overhead_factor;

    // Errors: per-category rates, amplified in teams, caught by verification.
    let mut rates = [0.0f64; ERROR_CATEGORIES.len()];
    for (i, r) in rates.iter_mut().enumerate() {
        let boosted = match cond.error_category {
            Some(c) => c == i,
            None => true,
        };
        let mut rate = p.base_error_rate / ERROR_CATEGORIES.len() as f64 * tier.errors;
        if boosted {
            rate *= cond.error_factor;
        }
        if knobs.principle_categories & (1 << i) != 0 {
            rate *= 1.0 - p.principle_error_reduction;
        }
        *r = rate;
    }
    let p_sas: f64 = rates.iter().sum();
    let amplification = if team >= 2 {
        if verified {
            p.amplification_centralized
        } else {
            p.amplification_independent
        }
    } else if verified {
        1.0 - p.verification_catch_single
    } else {
        1.0
    };
    let p_err = (p_sas * amplification).min(0.95);
    let error = rng.chance(p_err).then(|| rng.weighted(&rates));

    // Stragglers and redundancy (teams only).
    let (gap, redundancy) = if team >= 2 {
        let healthy = rng.uniform(p.straggler_gap.0, p.straggler_gap.1);
        let raw = cond
            .straggler_gap
            .map_or(healthy, |g| g * rng.uniform(0.9, 1.1));
        let gap = if knobs.work_stealing {
            1.0 + (raw - 1.0) * p.work_stealing_factor
        } else {
            let scale = (knobs.straggler_timeout_s / p.straggler_timeout_reference_s)
                .powf(p.straggler_timeout_exponent)
                .clamp(0.3, 2.0);
            1.0 + (raw - 1.0) * scale
        };
        let healthy_r = rng.uniform(p.redundancy.0, p.redundancy.1);
        let raw_r = cond
            .redundancy
            .map_or(healthy_r, |r| (r * rng.uniform(0.9, 1.1)).min(0.99));
        let r = if knobs.deduplication {
            raw_r * p.deduplication_factor
        } else {
            raw_r
        };
        (gap, r)
    } else {
        (1.0, 0.0)
    };
    let timeout_fail = p.straggler_fail * ((gap - 2.0) / 2.0).clamp(0.0, 1.0);

    // Success.
    let silent = cond.silent_failure
        * if verified {
            1.0 - p.verification_recovery
        } else {
            1.0
        };
    let p_success = (p.base_success + traits.success_offset + tier.success
        - p.understaffed_success * f64::from(missing)
        - p.overstaffed_success * f64::from(overstaffed)
        - timeout_fail
        - silent)
        .clamp(0.02, 0.995);
    let mut success = rng.chance(p_success);
    if error.is_some() && rng.chance(p.error_fail_probability) {
        success = false;
    }

    // Spend.
    let productive_raw =
        p.base_task_cost_usd * tier.cost * cond.cost_factor * rng.jitter(p.cost_sigma);
    // Duplicated work is paid for.
    let productive = if team >= 2 {
        let healthy_mid = (p.redundancy.0 + p.redundancy.1) / 2.0;
        productive_raw * (1.0 + (redundancy - healthy_mid).max(0.0))
    } else {
        productive_raw
    };
    let coordination_share = if team >= 2 {
        p.coordination_multi * (1.0 + p.coordination_overhead_weight * overhead)
    } else {
        p.coordination_single
    };
    let mut coordination = productive * coordination_share * cond.handoff_factor * rng.jitter(0.3);
    if knobs.work_stealing {
        coordination *= 1.0 + p.work_stealing_cost;
    }
    let mut system = productive * p.system_share;
    if verified {
        system += productive * p.verification_cost;
    }
    if knobs.deduplication {
        system += productive * p.deduplication_cost;
    }
    let raw_total = productive + coordination + system;
    let (scale, cut) = if raw_total > knobs.per_task_limit_usd {
        let s = knobs.per_task_limit_usd / raw_total;
        (s, 1.0 - s)
    } else {
        (1.0, 0.0)
    };

    // Quality.
    let scored = rng.chance(p.scored_share);
    let noise = rng.normal() * p.quality_noise;
    let quality = scored.then(|| {
        let mut q = p.base_quality + traits.quality_offset + tier.quality + cond.quality_delta
            - p.understaffed_quality * f64::from(missing)
            + noise;
        if !success {
            q -= p.failed_quality_penalty;
        }
        if error.is_some() {
            q -= p.error_quality_penalty;
        }
        if verified && q < p.verification_quality_floor {
            q += p.verification_quality_lift * (p.verification_quality_floor - q);
        }
        q -= p.limit_quality_penalty * cut;
        round2(q.clamp(0.0, 10.0))
    });
    let collaboration = scored.then(|| {
        let c = rng.gauss(6.8, 0.9) + if team >= 2 { 0.4 } else { 0.0 };
        round2(c.clamp(0.0, 10.0))
    });

    // Time and turns.
    let mut duration = 420.0 * traits.speed * rng.jitter(0.8);
    if team >= 2 {
        duration *= 1.4 * gap / ((p.straggler_gap.0 + p.straggler_gap.1) / 2.0);
    }
    if verified {
        duration *= 1.0 + p.verification_duration;
    }
    let coordination_measure = (team >= 2).then(|| {
        let turns_sas = (9.0 * rng.jitter(0.45)).round().max(2.0);
        let turns_mas = (turns_sas * (1.0 + overhead) * rng.jitter(0.06) * 10.0).round() / 10.0;
        let error_rate_sas = (p_sas * rng.jitter(0.3)).clamp(0.0, 1.0);
        let error_rate_mas = (error_rate_sas * amplification).clamp(0.0, 1.0);
        Coordination {
            turns_sas,
            turns_mas,
            error_rate_sas: round4(error_rate_sas),
            error_rate_mas: round4(error_rate_mas),
            messages: (turns_mas * rng.uniform(1.5, 3.0) * cond.handoff_factor.sqrt()).round()
                as u64,
            reasoning_turns: (turns_mas * rng.uniform(2.0, 3.0)).round() as u64,
            redundancy: round4(redundancy.clamp(0.0, 1.0)),
            straggler_gap_ratio: round4(gap),
        }
    });
    let turns = match &coordination_measure {
        Some(c) => c.turns_mas.round().max(1.0) as u32,
        None => (7.0 * rng.jitter(0.5)).round().max(1.0) as u32,
    };

    TaskOutcome {
        success,
        quality,
        collaboration,
        duration_s: (duration * 10.0).round() / 10.0,
        turns,
        team,
        productive_usd: productive * scale,
        coordination_usd: coordination * scale,
        system_usd: system * scale,
        coordination: coordination_measure,
        error,
    }
}

fn range(out: &mut Vec<(String, String)>, name: &str, v: f64, lo: f64, hi: f64) {
    if !(v.is_finite() && v >= lo && v <= hi) {
        out.push((
            name.to_owned(),
            format!("expected a number in [{lo}, {hi}], found {v}"),
        ));
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits() -> AgentTraits {
        AgentTraits {
            quality_offset: 0.0,
            success_offset: 0.0,
            speed: 1.0,
        }
    }

    /// Mean quality, success rate, cost per task and error rate over `n` tasks.
    fn kpis(knobs: &Knobs, cond: &Conditions, share: f64, n: u64) -> (f64, f64, f64, f64) {
        let p = ModelParams::default();
        let mut rng = Rng::new(99);
        let (mut q, mut scored, mut ok, mut cost, mut errors) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let t = simulate_task(&p, knobs, cond, &traits(), share, &mut rng);
            if let Some(x) = t.quality {
                q += x;
                scored += 1.0;
            }
            ok += f64::from(u8::from(t.success));
            cost += t.cost();
            errors += f64::from(u8::from(t.error.is_some()));
        }
        let n = n as f64;
        (q / scored, ok / n, cost / n, errors / n)
    }

    #[test]
    fn healthy_baseline_is_where_the_docs_say() {
        let (q, s, c, e) = kpis(&Knobs::default(), &Conditions::default(), 0.3, 100_000);
        assert!((7.0..7.4).contains(&q), "quality {q}");
        assert!((0.84..0.89).contains(&s), "success {s}");
        assert!((0.28..0.38).contains(&c), "cost {c}");
        assert!((0.002..0.006).contains(&e), "errors {e}");
    }

    #[test]
    fn each_knob_moves_its_outcome_the_documented_way() {
        let base = Knobs::default();
        let healthy = Conditions::default();
        let (q0, _, c0, _) = kpis(&base, &healthy, 0.3, 50_000);
        // A cheaper tier: much cheaper, a little worse.
        let medium = Knobs {
            tier: Tier::Medium,
            ..base.clone()
        };
        let (q1, _, c1, _) = kpis(&medium, &healthy, 0.3, 50_000);
        assert!(
            c1 < 0.5 * c0 && q1 < q0 && q1 > q0 - 0.3,
            "{q0} {q1} {c0} {c1}"
        );
        // Cutting a team below three essential members hurts a team-heavy org.
        let two = Knobs {
            max_team_size: 2,
            ..base.clone()
        };
        let three = Knobs {
            max_team_size: 3,
            ..base.clone()
        };
        let (_, s2, _, _) = kpis(&two, &healthy, 0.6, 50_000);
        let (_, s3, _, _) = kpis(&three, &healthy, 0.6, 50_000);
        assert!(s2 < s3 - 0.05, "{s2} {s3}");
        // Verification cuts an error flood.
        let flood = Conditions {
            error_factor: 8.0,
            ..healthy
        };
        let verified = Knobs {
            centralized_verification: true,
            ..base.clone()
        };
        let (_, _, _, e_flood) = kpis(&base, &flood, 0.3, 50_000);
        let (_, _, _, e_verified) = kpis(&verified, &flood, 0.3, 50_000);
        assert!(e_verified < 0.4 * e_flood, "{e_flood} {e_verified}");
        // A per-task limit below the typical spend caps cost and costs a little quality.
        let capped = Knobs {
            per_task_limit_usd: 0.2,
            ..base
        };
        let (q2, _, c2, _) = kpis(&capped, &healthy, 0.3, 50_000);
        assert!(c2 <= 0.2 + 1e-9 && q2 < q0, "{c2} {q2}");
    }

    #[test]
    fn knobs_are_read_from_settings_and_principles() {
        let mut doc = kaizen_core::org::OrgDocument::standard();
        let mut settings = doc.settings.clone();
        let set = |s: &mut Settings, path: &str, v: SettingValue| {
            s.set(path, Some(v)).unwrap_or_else(|e| panic!("{e}"));
        };
        set(&mut settings, DEFAULT_TIER, "medium".into());
        set(&mut settings, MAX_TEAM_SIZE, 3i64.into());
        set(&mut settings, CENTRALIZED_VERIFICATION, true.into());
        doc.principles[0].text = "Double-check every tool call to avoid tool misuse.".to_owned();
        let k = Knobs::from_config(&settings, &doc.principles).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.tier, Tier::Medium);
        assert_eq!(k.max_team_size, 3);
        assert!(k.centralized_verification);
        assert_eq!(k.principle_categories, 1 << 1);
        set(&mut settings, DEFAULT_TIER, "huge".into());
        let err = Knobs::from_config(&settings, &[]).err().unwrap_or_default();
        assert!(err.contains(DEFAULT_TIER), "{err}");
    }

    #[test]
    fn default_parameters_are_valid() {
        assert!(ModelParams::default().problems().is_empty());
        let bad = ModelParams {
            base_success: 1.5,
            ..ModelParams::default()
        };
        assert_eq!(bad.problems()[0].0, "base_success");
    }
}
