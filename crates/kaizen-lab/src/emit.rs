//! The simulated organisation's events, written as `kaizen.event.v1` NDJSON (`docs/events.md`):
//! the same bytes go to the store in-process and to `POST /api/v1/events` over HTTP.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One event of `kaizen.event.v1`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Event<'a> {
    /// `task.completed`.
    #[serde(rename = "task.completed")]
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
        #[serde(skip_serializing_if = "Option::is_none")]
        quality_score: Option<f64>,
        /// Collaboration, when scored.
        #[serde(skip_serializing_if = "Option::is_none")]
        collaboration_score: Option<f64>,
        /// Seconds.
        duration_seconds: f64,
        /// Turns.
        turns: u32,
        /// Several agents.
        multi_agent: bool,
    },
    /// `cost.recorded`.
    #[serde(rename = "cost.recorded")]
    Cost {
        /// Agent that spent it.
        agent_id: &'a str,
        /// Task.
        task_id: &'a str,
        /// `productive`, `coordination` or `system`.
        category: &'static str,
        /// USD.
        cost_usd: f64,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Model.
        model: &'static str,
        /// Provider.
        provider: &'static str,
    },
    /// `coordination.measured`.
    #[serde(rename = "coordination.measured")]
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
    #[serde(rename = "telemetry.event")]
    Telemetry {
        /// Runtime event type.
        event_type: &'static str,
        /// Error.
        error: bool,
        /// Agent.
        agent_id: &'a str,
    },
    /// `error.finding`.
    #[serde(rename = "error.finding")]
    ErrorFinding {
        /// Category.
        category: &'static str,
        /// `low`, `medium`, `high`.
        severity: &'static str,
        /// Findings.
        count: u32,
        /// Agent.
        agent_id: &'a str,
        /// Task.
        task_id: &'a str,
    },
    /// `budget.status`.
    #[serde(rename = "budget.status")]
    Budget {
        /// Monthly limit.
        monthly_limit_usd: f64,
        /// Remaining.
        remaining_usd: f64,
    },
    /// `scaling.decision`.
    #[serde(rename = "scaling.decision")]
    ScalingDecision {
        /// Decision id.
        decision_id: &'a str,
        /// `hire`, `prune`, `hold`.
        action: &'static str,
        /// Strategy.
        source_strategy: &'static str,
        /// Signal.
        signal: &'static str,
    },
    /// `scaling.outcome`.
    #[serde(rename = "scaling.outcome")]
    ScalingOutcome {
        /// Decision id.
        decision_id: &'a str,
        /// `executed`, `failed`, `deferred`, `rejected`.
        outcome: &'static str,
    },
    /// `evolution.outcome`.
    #[serde(rename = "evolution.outcome")]
    Evolution {
        /// Agent.
        agent_id: &'a str,
        /// Axis.
        axis: &'static str,
        /// Applied.
        applied: bool,
        /// When it was proposed.
        proposed_at: &'a str,
    },
    /// `benchmark.run`.
    #[serde(rename = "benchmark.run")]
    Benchmark {
        /// Suite.
        suite: &'static str,
        /// Score.
        total_score: f64,
    },
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    ts: &'a str,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

/// RFC 3339 with milliseconds and `Z`, as the events carry it.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Collects events as NDJSON, numbering their ids.
#[derive(Debug)]
pub struct Emitter {
    prefix: String,
    next: u64,
    buf: Vec<u8>,
    events: u64,
    enabled: bool,
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
        }
    }

    /// Whether events are written.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Appends `event` at `ts`.
    pub fn push(&mut self, ts: DateTime<Utc>, event: &Event<'_>) {
        if !self.enabled {
            return;
        }
        let id = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        let ts = timestamp(ts);
        let env = Envelope {
            id: &id,
            ts: &ts,
            event,
        };
        // Serialising these plain structs into a Vec cannot fail; should it ever, the event is
        // dropped and the ingest count check of the caller notices the gap.
        if serde_json::to_writer(&mut self.buf, &env).is_ok() {
            self.buf.push(b'\n');
            self.events += 1;
        }
    }

    /// The NDJSON collected since the last call, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
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

    #[test]
    fn events_are_valid_kaizen_events() {
        let t = DateTime::<Utc>::from_timestamp(1_772_323_200, 250_000_000).unwrap_or_default();
        let mut e = Emitter::new("lab1", true);
        e.push(
            t,
            &Event::Task {
                agent_id: "agent-0000",
                department: "engineering",
                role: "sre",
                task_id: "task-1",
                success: true,
                quality_score: Some(7.25),
                collaboration_score: None,
                duration_seconds: 301.5,
                turns: 7,
                multi_agent: false,
            },
        );
        e.push(
            t,
            &Event::Budget {
                monthly_limit_usd: 100.0,
                remaining_usd: 50.0,
            },
        );
        let text = String::from_utf8(e.take()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(
            r#"{"id":"lab1-0","ts":"2026-03-01T00:00:00.250Z","type":"task.completed","#
        ));
        for line in lines {
            if let Err(err) = kaizen_store::parse::parse_event(line) {
                panic!("{line}: {err:?}");
            }
        }
        assert!(e.take().is_empty());
        assert_eq!(e.events(), 2);
    }
}
