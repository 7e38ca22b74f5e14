//! The `kaizen.event.v1` schema: the signals an agent runtime sends to kaizen.
//!
//! Every event is a JSON object with a `type`, an RFC 3339 `ts` *with a zone*, an optional `id`
//! (which makes ingestion idempotent) and the fields of its type. Values are validated while
//! they are deserialised: an out-of-range score, a negative cost, an unknown severity or a
//! timestamp without a zone is an error that names the field; nothing is clamped.
//!
//! Every number has a finite bound per event (the `MAX_*` constants below, listed with their
//! reasons in `docs/events.md`), checked by [`Event::validate`]: one event can carry at most a
//! million USD, a billion tokens or thirty days, so sums over any realistic number of events
//! stay finite and no single event can dwarf the rest of an organisation by orders of magnitude.
//!
//! This module only defines the types. Turning bytes into events (and reporting where they
//! went wrong) is the job of the ingestion adapter in `kaizen-store`.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The schema identifier of this event format.
pub const SCHEMA_ID: &str = "kaizen.event.v1";

/// Longest accepted identifier or name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// An instant with an explicit zone, normalised to UTC.
///
/// Accepts RFC 3339 only (`2026-11-25T10:00:00Z`, `2026-11-25T11:00:00+01:00`); a timestamp
/// without a zone is rejected because its meaning depends on the sender's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses an RFC 3339 timestamp that carries a zone.
    pub fn parse(s: &str) -> Result<Self, String> {
        DateTime::<FixedOffset>::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| {
                format!(
                    "expected an RFC 3339 timestamp with a zone such as \"2026-11-25T10:00:00Z\", got {s:?} ({e})"
                )
            })
    }

    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> i64 {
        self.0.timestamp_micros()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 timestamp with an explicit zone (Z or ±hh:mm)."
        })
    }
}

/// Largest `cost_usd` of one `cost.recorded` event (USD).
pub const MAX_COST_USD: f64 = 1e6;
/// Largest `input_tokens` / `output_tokens` of one `cost.recorded` event.
pub const MAX_TOKENS: u64 = 1_000_000_000;
/// Largest `duration_seconds` of one `task.completed` event: 30 days.
pub const MAX_DURATION_SECONDS: f64 = 2_592_000.0;
/// Largest `turns` of one `task.completed` event, and largest `turns_sas` / `turns_mas` of one
/// `coordination.measured` event.
pub const MAX_TURNS: u32 = 1_000_000;
/// Smallest `turns_sas` of a `coordination.measured` event (it is a divisor).
pub const MIN_TURNS_SAS: f64 = 1e-3;
/// Largest `messages` / `reasoning_turns` of one `coordination.measured` event.
pub const MAX_MESSAGES: u64 = 1_000_000_000;
/// Largest `straggler_gap_ratio` of one `coordination.measured` event.
pub const MAX_GAP_RATIO: f64 = 1e6;
/// Largest `count` of one `error.finding` event.
pub const MAX_FINDINGS: u32 = 1_000_000;
/// Largest `monthly_limit_usd` of a `budget.status` event (USD).
pub const MAX_BUDGET_USD: f64 = 1e9;
/// Largest `total_score` of a `benchmark.run` event.
pub const MAX_BENCHMARK_SCORE: f64 = 1e9;

/// A non-blank identifier or name of at most [`MAX_NAME_LEN`] bytes, without control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Validates `s` as a name.
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err("expected a non-blank string".to_owned());
        }
        if s.len() > MAX_NAME_LEN {
            return Err(format!(
                "expected at most {MAX_NAME_LEN} bytes, got {}",
                s.len()
            ));
        }
        if s.chars().any(char::is_control) {
            return Err("expected a string without control characters".to_owned());
        }
        Ok(Name(s))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::new(s).map_err(de::Error::custom)
    }
}

impl JsonSchema for Name {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Name".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NAME_LEN,
            "pattern": "\\S",
            "description": "Non-blank identifier, at most 256 bytes, no control characters."
        })
    }
}

/// Defines a finite `f64` newtype whose deserialisation rejects values outside `[lo, hi]`.
macro_rules! bounded_f64 {
    ($(#[$doc:meta])* $name:ident, $lo:expr, $hi:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
        #[serde(transparent)]
        pub struct $name(f64);

        impl $name {
            /// Validates `v`.
            pub fn new(v: f64) -> Result<Self, String> {
                if v.is_finite() && ($lo..=$hi).contains(&v) {
                    Ok($name(v))
                } else {
                    Err(format!(concat!("expected ", $what, ", got {}"), show(v)))
                }
            }

            /// The value.
            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = f64::deserialize(d)?;
                $name::new(v).map_err(de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let mut schema = schemars::json_schema!({ "type": "number", "description": $what });
                schema.insert("minimum".into(), ($lo as f64).into());
                if ($hi as f64).is_finite() {
                    schema.insert("maximum".into(), ($hi as f64).into());
                }
                schema
            }
        }
    };
}

bounded_f64!(
    /// A score on the 0–10 scale (quality, collaboration).
    Score10, 0.0, 10.0, "a score between 0 and 10"
);
bounded_f64!(
    /// A fraction in `[0, 1]` (rates, redundancy).
    Fraction, 0.0, 1.0, "a fraction between 0 and 1"
);
bounded_f64!(
    /// A finite, non-negative amount (USD, seconds, turns, ratios), at most 10¹²: sums and
    /// ratios of many such amounts stay finite.
    NonNegative, 0.0, 1e12, "a finite number from 0 to 1e12"
);

/// How bad an error finding is.
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
pub enum Severity {
    /// Weight 1.
    Low,
    /// Weight 2.
    Medium,
    /// Weight 3.
    High,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 3] = [Severity::Low, Severity::Medium, Severity::High];

    /// The numeric weight used for average severity (low 1, medium 2, high 3).
    pub fn weight(self) -> f64 {
        match self {
            Severity::Low => 1.0,
            Severity::Medium => 2.0,
            Severity::High => 3.0,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a unit of spend was for.
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
pub enum CostCategory {
    /// Work that produces the task's result.
    Productive,
    /// Agents talking to each other (delegation, review, consensus).
    Coordination,
    /// Framework overhead (routing, memory, retries).
    System,
}

impl CostCategory {
    /// All categories.
    pub const ALL: [CostCategory; 3] = [
        CostCategory::Productive,
        CostCategory::Coordination,
        CostCategory::System,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a scaling decision wanted to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScalingAction {
    /// Add an agent.
    Hire,
    /// Remove an agent.
    Prune,
    /// Keep the roster as it is.
    Hold,
}

/// How a scaling decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScalingOutcome {
    /// Carried out.
    Executed,
    /// Attempted and failed.
    Failed,
    /// Postponed; neither success nor failure.
    Deferred,
    /// Turned down (by a human or a policy).
    Rejected,
}

/// Common header fields, repeated in every event type so that each type can reject unknown
/// fields on its own.
macro_rules! event_struct {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Optional unique id; an event whose id was already stored is skipped.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<Name>,
            /// When it happened.
            pub ts: Timestamp,
            $($(#[$fdoc])* pub $field: $ty,)*
        }
    };
}

event_struct!(
    /// A task finished (successfully or not). Feeds the performance domain.
    TaskCompleted {
        /// The agent that owned the task.
        agent_id: Name,
        /// The agent's department.
        department: Name,
        /// The agent's role.
        role: Name,
        /// The task.
        task_id: Name,
        /// Whether the task met its acceptance criteria.
        success: bool,
        /// Reviewed quality, 0–10; absent when the task was not scored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quality_score: Option<Score10>,
        /// Collaboration score, 0–10; absent when not scored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collaboration_score: Option<Score10>,
        /// Wall time in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_DURATION_SECONDS))]
        duration_seconds: Option<NonNegative>,
        /// Reasoning/tool turns the task took.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_TURNS))]
        turns: Option<u32>,
        /// Whether several agents worked on it.
        #[serde(default)]
        multi_agent: bool,
    }
);

event_struct!(
    /// Money was spent. Feeds the budget domain.
    CostRecorded {
        /// The agent that spent it.
        agent_id: Name,
        /// The task it was spent on, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<Name>,
        /// What it was spent on.
        category: CostCategory,
        /// Amount in USD.
        #[schemars(extend("maximum" = MAX_COST_USD))]
        cost_usd: NonNegative,
        /// Prompt tokens.
        #[serde(default)]
        #[schemars(extend("maximum" = MAX_TOKENS))]
        input_tokens: u64,
        /// Completion tokens.
        #[serde(default)]
        #[schemars(extend("maximum" = MAX_TOKENS))]
        output_tokens: u64,
        /// Model name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<Name>,
        /// Model provider.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<Name>,
    }
);

event_struct!(
    /// The budget's state at `ts`. The latest status at or before a snapshot's end is used.
    BudgetStatus {
        /// The monthly limit in USD (> 0).
        #[schemars(extend("maximum" = MAX_BUDGET_USD))]
        monthly_limit_usd: NonNegative,
        /// What is left this month, in USD (0 ≤ remaining ≤ limit).
        #[schemars(extend("maximum" = MAX_BUDGET_USD))]
        remaining_usd: NonNegative,
    }
);

event_struct!(
    /// Coordination measurements for one task (Kim et al. 2025). Every measurement is optional;
    /// each domain metric is computed from the events that carry its inputs.
    CoordinationMeasured {
        /// The task measured.
        task_id: Name,
        /// The department, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        department: Option<Name>,
        /// Turns a single-agent system needed (or is estimated to need) for the task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("minimum" = MIN_TURNS_SAS, "maximum" = MAX_TURNS))]
        turns_sas: Option<NonNegative>,
        /// Turns the multi-agent system took.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_TURNS))]
        turns_mas: Option<NonNegative>,
        /// Whether the multi-agent run succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        success: Option<bool>,
        /// Error rate of the single-agent baseline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_rate_sas: Option<Fraction>,
        /// Error rate of the multi-agent system.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_rate_mas: Option<Fraction>,
        /// Messages exchanged between agents.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_MESSAGES))]
        messages: Option<u64>,
        /// Reasoning turns across agents.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_MESSAGES))]
        reasoning_turns: Option<u64>,
        /// Fraction of duplicated work, 0–1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redundancy: Option<Fraction>,
        /// Slowest agent's time over the median agent's time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("maximum" = MAX_GAP_RATIO))]
        straggler_gap_ratio: Option<NonNegative>,
    }
);

event_struct!(
    /// The scaling service decided to change (or keep) the roster.
    ScalingDecision {
        /// Identifies the decision; outcomes refer to it.
        decision_id: Name,
        /// What it decided.
        action: ScalingAction,
        /// The strategy that produced the decision.
        source_strategy: Name,
        /// The signal that triggered it (e.g. `queue_depth`).
        signal: Name,
        /// Why, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rationale: Option<String>,
    }
);

event_struct!(
    /// How a scaling decision ended. A decision without an outcome is pending.
    ScalingOutcomeRecorded {
        /// The decision.
        decision_id: Name,
        /// Its outcome.
        outcome: ScalingOutcome,
    }
);

event_struct!(
    /// The error classifier found errors of one category.
    ErrorFinding {
        /// Error category (e.g. `hallucination`, `tool_misuse`).
        category: Name,
        /// Severity.
        severity: Severity,
        /// Number of findings (≥ 1).
        #[serde(default = "one")]
        #[schemars(extend("minimum" = 1, "maximum" = MAX_FINDINGS))]
        count: u32,
        /// The agent, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<Name>,
        /// The task, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<Name>,
    }
);

fn one() -> u32 {
    1
}

event_struct!(
    /// A per-agent evolution proposal was decided.
    EvolutionOutcome {
        /// The agent.
        agent_id: Name,
        /// The evolution axis (e.g. `prompt`, `tools`).
        axis: Name,
        /// Whether it was applied.
        applied: bool,
        /// When it was proposed.
        proposed_at: Timestamp,
    }
);

event_struct!(
    /// A telemetry event from the runtime.
    TelemetryEvent {
        /// The runtime's event type.
        event_type: Name,
        /// Whether it reports an error.
        #[serde(default)]
        error: bool,
        /// The agent, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<Name>,
    }
);

event_struct!(
    /// A benchmark suite was run against the organisation.
    BenchmarkRun {
        /// The suite.
        suite: Name,
        /// Its total score.
        #[schemars(extend("maximum" = MAX_BENCHMARK_SCORE))]
        total_score: NonNegative,
    }
);

/// One validated event of any type.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum Event {
    /// `task.completed`
    #[serde(rename = "task.completed")]
    TaskCompleted(TaskCompleted),
    /// `cost.recorded`
    #[serde(rename = "cost.recorded")]
    CostRecorded(CostRecorded),
    /// `budget.status`
    #[serde(rename = "budget.status")]
    BudgetStatus(BudgetStatus),
    /// `coordination.measured`
    #[serde(rename = "coordination.measured")]
    CoordinationMeasured(CoordinationMeasured),
    /// `scaling.decision`
    #[serde(rename = "scaling.decision")]
    ScalingDecision(ScalingDecision),
    /// `scaling.outcome`
    #[serde(rename = "scaling.outcome")]
    ScalingOutcome(ScalingOutcomeRecorded),
    /// `error.finding`
    #[serde(rename = "error.finding")]
    ErrorFinding(ErrorFinding),
    /// `evolution.outcome`
    #[serde(rename = "evolution.outcome")]
    EvolutionOutcome(EvolutionOutcome),
    /// `telemetry.event`
    #[serde(rename = "telemetry.event")]
    TelemetryEvent(TelemetryEvent),
    /// `benchmark.run`
    #[serde(rename = "benchmark.run")]
    BenchmarkRun(BenchmarkRun),
}

/// The event type names, in schema order.
pub const EVENT_TYPES: [&str; 10] = [
    "task.completed",
    "cost.recorded",
    "budget.status",
    "coordination.measured",
    "scaling.decision",
    "scaling.outcome",
    "error.finding",
    "evolution.outcome",
    "telemetry.event",
    "benchmark.run",
];

macro_rules! each_event {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            Event::TaskCompleted($e) => $body,
            Event::CostRecorded($e) => $body,
            Event::BudgetStatus($e) => $body,
            Event::CoordinationMeasured($e) => $body,
            Event::ScalingDecision($e) => $body,
            Event::ScalingOutcome($e) => $body,
            Event::ErrorFinding($e) => $body,
            Event::EvolutionOutcome($e) => $body,
            Event::TelemetryEvent($e) => $body,
            Event::BenchmarkRun($e) => $body,
        }
    };
}

impl Event {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TaskCompleted(_) => "task.completed",
            Event::CostRecorded(_) => "cost.recorded",
            Event::BudgetStatus(_) => "budget.status",
            Event::CoordinationMeasured(_) => "coordination.measured",
            Event::ScalingDecision(_) => "scaling.decision",
            Event::ScalingOutcome(_) => "scaling.outcome",
            Event::ErrorFinding(_) => "error.finding",
            Event::EvolutionOutcome(_) => "evolution.outcome",
            Event::TelemetryEvent(_) => "telemetry.event",
            Event::BenchmarkRun(_) => "benchmark.run",
        }
    }

    /// When it happened.
    pub fn ts(&self) -> Timestamp {
        each_event!(self, e => e.ts)
    }

    /// Its idempotency id, if any.
    pub fn id(&self) -> Option<&Name> {
        each_event!(self, e => e.id.as_ref())
    }

    /// Checks what deserialisation alone does not: the per-event bounds (`MAX_*`, see
    /// `docs/events.md`) and the rules that involve more than one field. Returns the offending
    /// field and what was expected.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Event::TaskCompleted(t) => {
                if let Some(d) = t.duration_seconds {
                    at_most(
                        "duration_seconds",
                        d.get(),
                        MAX_DURATION_SECONDS,
                        " seconds (30 days)",
                    )?;
                }
                if let Some(turns) = t.turns {
                    at_most("turns", f64::from(turns), f64::from(MAX_TURNS), "")?;
                }
            }
            Event::CostRecorded(c) => {
                at_most("cost_usd", c.cost_usd.get(), MAX_COST_USD, " USD per event")?;
                at_most_int("input_tokens", c.input_tokens, MAX_TOKENS)?;
                at_most_int("output_tokens", c.output_tokens, MAX_TOKENS)?;
            }
            Event::BudgetStatus(b) => {
                if b.monthly_limit_usd.get() <= 0.0 {
                    return Err(FieldError::new(
                        "monthly_limit_usd",
                        format!("expected a limit > 0, got {}", b.monthly_limit_usd.get()),
                    ));
                }
                at_most(
                    "monthly_limit_usd",
                    b.monthly_limit_usd.get(),
                    MAX_BUDGET_USD,
                    " USD",
                )?;
                if b.remaining_usd.get() > b.monthly_limit_usd.get() {
                    return Err(FieldError::new(
                        "remaining_usd",
                        format!(
                            "expected remaining_usd <= monthly_limit_usd ({}), got {}",
                            b.monthly_limit_usd.get(),
                            b.remaining_usd.get()
                        ),
                    ));
                }
            }
            Event::ErrorFinding(f) => {
                if f.count == 0 {
                    return Err(FieldError::new("count", "expected a count >= 1, got 0"));
                }
                at_most_int("count", u64::from(f.count), u64::from(MAX_FINDINGS))?;
            }
            Event::CoordinationMeasured(c) => {
                if let Some(sas) = c.turns_sas {
                    if sas.get() == 0.0 {
                        return Err(FieldError::new(
                            "turns_sas",
                            "expected single-agent turns > 0 (it is a divisor), got 0",
                        ));
                    }
                    if sas.get() < MIN_TURNS_SAS {
                        return Err(FieldError::new(
                            "turns_sas",
                            format!(
                                "expected single-agent turns >= {MIN_TURNS_SAS} (it is a divisor), got {}",
                                sas.get()
                            ),
                        ));
                    }
                    at_most("turns_sas", sas.get(), f64::from(MAX_TURNS), "")?;
                }
                if let Some(mas) = c.turns_mas {
                    at_most("turns_mas", mas.get(), f64::from(MAX_TURNS), "")?;
                }
                if let Some(m) = c.messages {
                    at_most_int("messages", m, MAX_MESSAGES)?;
                }
                if let Some(r) = c.reasoning_turns {
                    at_most_int("reasoning_turns", r, MAX_MESSAGES)?;
                }
                if let Some(g) = c.straggler_gap_ratio {
                    at_most("straggler_gap_ratio", g.get(), MAX_GAP_RATIO, "")?;
                }
            }
            Event::BenchmarkRun(b) => {
                at_most("total_score", b.total_score.get(), MAX_BENCHMARK_SCORE, "")?;
            }
            Event::ScalingDecision(_)
            | Event::ScalingOutcome(_)
            | Event::EvolutionOutcome(_)
            | Event::TelemetryEvent(_) => {}
        }
        Ok(())
    }
}

/// A number for a message: plain decimals for ordinary magnitudes, scientific notation for
/// huge or tiny ones (`1.7e308`, not 309 digits).
fn show(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-6..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `v <= max`, or an error naming `field` and the bound.
fn at_most(field: &str, v: f64, max: f64, unit: &str) -> Result<(), FieldError> {
    if v <= max {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("expected at most {}{unit}, got {}", show(max), show(v)),
        ))
    }
}

/// `v <= max` for counts, or an error naming `field` and the bound.
fn at_most_int(field: &str, v: u64, max: u64) -> Result<(), FieldError> {
    if v <= max {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("expected at most {max}, got {v}"),
        ))
    }
}

/// A validation failure of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path (`quality_score`).
    pub field: String,
    /// What was expected and what was found.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(usd: f64, tokens: u64) -> Event {
        Event::CostRecorded(CostRecorded {
            id: None,
            ts: Timestamp::parse("2026-11-01T10:00:00Z").unwrap_or_else(|e| panic!("{e}")),
            agent_id: Name::new("a").unwrap_or_else(|e| panic!("{e}")),
            task_id: None,
            category: CostCategory::Productive,
            cost_usd: NonNegative::new(usd).unwrap_or_else(|e| panic!("{e}")),
            input_tokens: tokens,
            output_tokens: 0,
            model: None,
            provider: None,
        })
    }

    #[test]
    fn per_event_bounds_name_the_field() {
        assert_eq!(cost(MAX_COST_USD, MAX_TOKENS).validate(), Ok(()));
        assert_eq!(
            cost(2e6, 0).validate(),
            Err(FieldError::new(
                "cost_usd",
                "expected at most 1000000 USD per event, got 2000000"
            ))
        );
        assert_eq!(
            cost(1.0, MAX_TOKENS + 1).validate().map_err(|e| e.field),
            Err("input_tokens".to_owned())
        );
    }

    #[test]
    fn huge_and_tiny_numbers_show_in_scientific_notation() {
        assert_eq!(
            NonNegative::new(1.7e308),
            Err("expected a finite number from 0 to 1e12, got 1.7e308".to_owned())
        );
        assert_eq!(show(2.5), "2.5");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(5e-324), "5e-324");
        assert_eq!(show(f64::NAN), "NaN");
    }
}
