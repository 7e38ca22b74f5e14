//! The simulated organisation's events, written as `kaizen.event.v1` NDJSON (`docs/events.md`):
//! the same bytes go to the store in-process and to `POST /api/v1/events` over HTTP.
//!
//! The world describes each event with an [`Event`] (borrowed names, plain numbers); the
//! [`Emitter`] turns it into a [`kaizen_core::event::Event`] and writes it with the simulators'
//! one encoder, [`kaizen_sim::wire::write_line`], so the lab's lines are byte for byte the lines
//! `kaizen sim generate` writes for the same event.

use chrono::{DateTime, Utc};
use kaizen_core::event::{
    self as core, CostCategory, Fraction, Name, NonNegative, ScalingAction, ScalingOutcome,
    Score10, Severity, Timestamp,
};

use crate::LabError;

/// One event of `kaizen.event.v1`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// `task.completed`.
    Task {
        /// Agent.
        agent_id: &'a str,
        /// Department.
        department: &'a str,
        /// Role.
        role: &'a str,
        /// Task.
        task_id: &'a str,
        /// Success.
        success: bool,
        /// Quality, when scored.
        quality_score: Option<f64>,
        /// Collaboration, when scored.
        collaboration_score: Option<f64>,
        /// Seconds.
        duration_seconds: f64,
        /// Turns.
        turns: u32,
        /// Several agents.
        multi_agent: bool,
    },
    /// `cost.recorded`.
    Cost {
        /// Agent that spent it.
        agent_id: &'a str,
        /// Task.
        task_id: &'a str,
        /// What it was spent on.
        category: CostCategory,
        /// USD.
        cost_usd: f64,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Model.
        model: &'a str,
        /// Provider.
        provider: &'a str,
    },
    /// `coordination.measured`.
    Coordination {
        /// Task.
        task_id: &'a str,
        /// Department.
        department: &'a str,
        /// Single-agent turns.
        turns_sas: f64,
        /// Multi-agent turns.
        turns_mas: f64,
        /// Success.
        success: bool,
        /// Single-agent error rate.
        error_rate_sas: f64,
        /// Multi-agent error rate.
        error_rate_mas: f64,
        /// Messages.
        messages: u64,
        /// Reasoning turns.
        reasoning_turns: u64,
        /// Duplicated work.
        redundancy: f64,
        /// Straggler gap.
        straggler_gap_ratio: f64,
    },
    /// `telemetry.event`.
    Telemetry {
        /// Runtime event type.
        event_type: &'a str,
        /// Error.
        error: bool,
        /// Agent.
        agent_id: &'a str,
    },
    /// `error.finding`.
    ErrorFinding {
        /// Category.
        category: &'a str,
        /// How bad.
        severity: Severity,
        /// Findings.
        count: u32,
        /// Agent, when known.
        agent_id: Option<&'a str>,
        /// Task, when known.
        task_id: Option<&'a str>,
    },
    /// `budget.status`.
    Budget {
        /// Monthly limit.
        monthly_limit_usd: f64,
        /// Remaining.
        remaining_usd: f64,
    },
    /// `scaling.decision`.
    ScalingDecision {
        /// Decision id.
        decision_id: &'a str,
        /// What was decided.
        action: ScalingAction,
        /// Strategy.
        source_strategy: &'a str,
        /// Signal.
        signal: &'a str,
        /// Why, when given.
        rationale: Option<&'a str>,
    },
    /// `scaling.outcome`.
    ScalingOutcome {
        /// Decision id.
        decision_id: &'a str,
        /// How it ended.
        outcome: ScalingOutcome,
    },
    /// `evolution.outcome`.
    Evolution {
        /// Agent.
        agent_id: &'a str,
        /// Axis.
        axis: &'a str,
        /// Applied.
        applied: bool,
        /// When it was proposed.
        proposed_at: DateTime<Utc>,
    },
    /// `benchmark.run`.
    Benchmark {
        /// Suite.
        suite: &'a str,
        /// Score.
        total_score: f64,
    },
}

fn name(field: &str, s: &str) -> Result<Name, String> {
    Name::new(s).map_err(|e| format!("field `{field}`: {e}"))
}

fn score(field: &str, v: f64) -> Result<Score10, String> {
    Score10::new(v).map_err(|e| format!("field `{field}`: {e}"))
}

fn amount(field: &str, v: f64) -> Result<NonNegative, String> {
    NonNegative::new(v).map_err(|e| format!("field `{field}`: {e}"))
}

fn fraction(field: &str, v: f64) -> Result<Fraction, String> {
    Fraction::new(v).map_err(|e| format!("field `{field}`: {e}"))
}

impl Event<'_> {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Task { .. } => "task.completed",
            Event::Cost { .. } => "cost.recorded",
            Event::Coordination { .. } => "coordination.measured",
            Event::Telemetry { .. } => "telemetry.event",
            Event::ErrorFinding { .. } => "error.finding",
            Event::Budget { .. } => "budget.status",
            Event::ScalingDecision { .. } => "scaling.decision",
            Event::ScalingOutcome { .. } => "scaling.outcome",
            Event::Evolution { .. } => "evolution.outcome",
            Event::Benchmark { .. } => "benchmark.run",
        }
    }

    /// The validated [`kaizen_core::event::Event`] with `id` and `ts`; the error names the
    /// field whose value the schema rejects.
    pub fn to_core(&self, id: &str, ts: DateTime<Utc>) -> Result<core::Event, String> {
        let id = Some(name("id", id)?);
        let ts = Timestamp(ts);
        Ok(match *self {
            Event::Task {
                agent_id,
                department,
                role,
                task_id,
                success,
                quality_score,
                collaboration_score,
                duration_seconds,
                turns,
                multi_agent,
            } => core::Event::TaskCompleted(core::TaskCompleted {
                id,
                ts,
                agent_id: name("agent_id", agent_id)?,
                department: name("department", department)?,
                role: name("role", role)?,
                task_id: name("task_id", task_id)?,
                success,
                quality_score: quality_score
                    .map(|v| score("quality_score", v))
                    .transpose()?,
                collaboration_score: collaboration_score
                    .map(|v| score("collaboration_score", v))
                    .transpose()?,
                duration_seconds: Some(amount("duration_seconds", duration_seconds)?),
                turns: Some(turns),
                multi_agent,
            }),
            Event::Cost {
                agent_id,
                task_id,
                category,
                cost_usd,
                input_tokens,
                output_tokens,
                model,
                provider,
            } => core::Event::CostRecorded(core::CostRecorded {
                id,
                ts,
                agent_id: name("agent_id", agent_id)?,
                task_id: Some(name("task_id", task_id)?),
                category,
                cost_usd: amount("cost_usd", cost_usd)?,
                input_tokens,
                output_tokens,
                model: Some(name("model", model)?),
                provider: Some(name("provider", provider)?),
            }),
            Event::Coordination {
                task_id,
                department,
                turns_sas,
                turns_mas,
                success,
                error_rate_sas,
                error_rate_mas,
                messages,
                reasoning_turns,
                redundancy,
                straggler_gap_ratio,
            } => core::Event::CoordinationMeasured(core::CoordinationMeasured {
                id,
                ts,
                task_id: name("task_id", task_id)?,
                department: Some(name("department", department)?),
                turns_sas: Some(amount("turns_sas", turns_sas)?),
                turns_mas: Some(amount("turns_mas", turns_mas)?),
                success: Some(success),
                error_rate_sas: Some(fraction("error_rate_sas", error_rate_sas)?),
                error_rate_mas: Some(fraction("error_rate_mas", error_rate_mas)?),
                messages: Some(messages),
                reasoning_turns: Some(reasoning_turns),
                redundancy: Some(fraction("redundancy", redundancy)?),
                straggler_gap_ratio: Some(amount("straggler_gap_ratio", straggler_gap_ratio)?),
            }),
            Event::Telemetry {
                event_type,
                error,
                agent_id,
            } => core::Event::TelemetryEvent(core::TelemetryEvent {
                id,
                ts,
                event_type: name("event_type", event_type)?,
                error,
                agent_id: Some(name("agent_id", agent_id)?),
            }),
            Event::ErrorFinding {
                category,
                severity,
                count,
                agent_id,
                task_id,
            } => core::Event::ErrorFinding(core::ErrorFinding {
                id,
                ts,
                category: name("category", category)?,
                severity,
                count,
                agent_id: agent_id.map(|a| name("agent_id", a)).transpose()?,
                task_id: task_id.map(|t| name("task_id", t)).transpose()?,
            }),
            Event::Budget {
                monthly_limit_usd,
                remaining_usd,
            } => core::Event::BudgetStatus(core::BudgetStatus {
                id,
                ts,
                monthly_limit_usd: amount("monthly_limit_usd", monthly_limit_usd)?,
                remaining_usd: amount("remaining_usd", remaining_usd)?,
            }),
            Event::ScalingDecision {
                decision_id,
                action,
                source_strategy,
                signal,
                rationale,
            } => core::Event::ScalingDecision(core::ScalingDecision {
                id,
                ts,
                decision_id: name("decision_id", decision_id)?,
                action,
                source_strategy: name("source_strategy", source_strategy)?,
                signal: name("signal", signal)?,
                rationale: rationale.map(str::to_owned),
            }),
            Event::ScalingOutcome {
                decision_id,
                outcome,
            } => core::Event::ScalingOutcome(core::ScalingOutcomeRecorded {
                id,
                ts,
                decision_id: name("decision_id", decision_id)?,
                outcome,
            }),
            Event::Evolution {
                agent_id,
                axis,
                applied,
                proposed_at,
            } => core::Event::EvolutionOutcome(core::EvolutionOutcome {
                id,
                ts,
                agent_id: name("agent_id", agent_id)?,
                axis: name("axis", axis)?,
                applied,
                proposed_at: Timestamp(proposed_at),
            }),
            Event::Benchmark { suite, total_score } => {
                core::Event::BenchmarkRun(core::BenchmarkRun {
                    id,
                    ts,
                    suite: name("suite", suite)?,
                    total_score: amount("total_score", total_score)?,
                })
            }
        })
    }
}

/// Collects events as NDJSON, numbering their ids.
#[derive(Debug)]
pub struct Emitter {
    prefix: String,
    next: u64,
    buf: Vec<u8>,
    events: u64,
    enabled: bool,
    /// Events that could not be encoded since the last [`Emitter::take`], and the first error.
    failed: u64,
    first_failure: Option<String>,
}

impl Emitter {
    /// An emitter whose event ids are `{prefix}-{n}`. A disabled emitter writes nothing (the
    /// counterfactual run only needs the ground truth).
    pub fn new(prefix: impl Into<String>, enabled: bool) -> Self {
        Self {
            prefix: prefix.into(),
            next: 0,
            buf: Vec::with_capacity(1 << 16),
            events: 0,
            enabled,
            failed: 0,
            first_failure: None,
        }
    }

    /// Whether events are written.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Appends `event` at `ts`. An event the schema rejects (a bug in the simulation) is not
    /// written; the next [`Emitter::take`] reports it.
    pub fn push(&mut self, ts: DateTime<Utc>, event: &Event<'_>) {
        if !self.enabled {
            return;
        }
        let id = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        let written = event.to_core(&id, ts).and_then(|e| {
            kaizen_sim::wire::write_line(&mut self.buf, &e).map_err(|e| e.to_string())
        });
        match written {
            Ok(()) => self.events += 1,
            Err(e) => {
                self.failed += 1;
                if self.first_failure.is_none() {
                    self.first_failure = Some(format!("{} event {id}: {e}", event.type_name()));
                }
            }
        }
    }

    /// The NDJSON collected since the last call, leaving the buffer empty; an error if an
    /// event since the last call could not be encoded (naming the first one and its field).
    pub fn take(&mut self) -> Result<Vec<u8>, LabError> {
        if let Some(first) = self.first_failure.take() {
            let failed = std::mem::take(&mut self.failed);
            self.buf.clear();
            return Err(LabError::Simulator(format!(
                "{failed} simulated events could not be encoded; first: {first}"
            )));
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// The NDJSON collected so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Clears the buffer (after it was sent).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Events written so far (all calls).
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(quality: f64) -> Event<'static> {
        Event::Task {
            agent_id: "agent-0000",
            department: "engineering",
            role: "sre",
            task_id: "task-1",
            success: true,
            quality_score: Some(quality),
            collaboration_score: None,
            duration_seconds: 301.5,
            turns: 7,
            multi_agent: false,
        }
    }

    #[test]
    fn events_are_valid_kaizen_events() {
        let t = DateTime::<Utc>::from_timestamp(1_772_323_200, 250_000_000).unwrap_or_default();
        let mut e = Emitter::new("lab1", true);
        e.push(t, &task(7.25));
        e.push(
            t,
            &Event::Budget {
                monthly_limit_usd: 100.0,
                remaining_usd: 50.0,
            },
        );
        let text = String::from_utf8(e.take().unwrap()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        // The shared encoder's shape: `type` first, then `id` and `ts`.
        assert!(lines[0].starts_with(
            r#"{"type":"task.completed","id":"lab1-0","ts":"2026-03-01T00:00:00.250Z","#
        ));
        for line in lines {
            if let Err(err) = kaizen_store::parse::parse_event(line) {
                panic!("{line}: {err:?}");
            }
        }
        assert!(e.take().unwrap().is_empty());
        assert_eq!(e.events(), 2);
    }

    #[test]
    fn an_event_the_schema_rejects_is_reported_by_take_naming_the_field() {
        let t = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap_or_default();
        let mut e = Emitter::new("lab1", true);
        e.push(t, &task(11.0));
        e.push(
            t,
            &Event::Budget {
                monthly_limit_usd: 100.0,
                remaining_usd: 150.0,
            },
        );
        e.push(t, &task(5.0));
        let err = e.take().unwrap_err().to_string();
        assert!(err.contains("2 simulated events"), "{err}");
        assert!(err.contains("task.completed event lab1-0"), "{err}");
        assert!(err.contains("field `quality_score`"), "{err}");
        assert_eq!(e.events(), 1);
        // Reported once; what follows is clean.
        assert!(e.take().unwrap().is_empty());
    }
}
