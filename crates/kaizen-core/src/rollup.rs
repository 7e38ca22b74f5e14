//! What each event contributes to the hourly rollups.
//!
//! A rollup row is keyed by (resolution, bucket, [`Stream`], [`Dim`], key) and holds one
//! [`Stat`] per signal of its stream. This module is the single definition of which numbers an
//! event adds to which rows; the store only persists and sums them. Snapshot queries read
//! these rows, so their cost grows with keys × buckets, not with events.

use crate::event::{Event, Timestamp};
use crate::stats::Stat;

/// Microseconds per hour.
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The hourly bucket (hours since the Unix epoch) an instant falls in.
pub fn hour_of(ts: Timestamp) -> i64 {
    ts.micros().div_euclid(MICROS_PER_HOUR)
}

/// A family of rollups fed by one event type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum Stream {
    /// `task.completed`: see [`task`].
    Task,
    /// `cost.recorded`: see [`cost`].
    Cost,
    /// `coordination.measured`: see [`coordination`].
    Coordination,
    /// `error.finding`: see [`error`].
    Error,
    /// `evolution.outcome`: see [`evolution`].
    Evolution,
    /// `telemetry.event`: see [`telemetry`].
    Telemetry,
}

impl Stream {
    /// Every stream.
    pub const ALL: [Stream; 6] = [
        Stream::Task,
        Stream::Cost,
        Stream::Coordination,
        Stream::Error,
        Stream::Evolution,
        Stream::Telemetry,
    ];

    /// Stable storage code. Never renumber.
    pub fn code(self) -> i64 {
        match self {
            Stream::Task => 1,
            Stream::Cost => 2,
            Stream::Coordination => 3,
            Stream::Error => 4,
            Stream::Evolution => 5,
            Stream::Telemetry => 6,
        }
    }

    /// Names of the stream's signals, in storage order.
    pub fn signals(self) -> &'static [&'static str] {
        match self {
            Stream::Task => &task::SIGNALS,
            Stream::Cost => &cost::SIGNALS,
            Stream::Coordination => &coordination::SIGNALS,
            Stream::Error => &error::SIGNALS,
            Stream::Evolution => &evolution::SIGNALS,
            Stream::Telemetry => &telemetry::SIGNALS,
        }
    }

    /// The stream's name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// What a rollup row's key identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// The whole organisation; the key is `org`.
    Org,
    /// An agent id.
    Agent,
    /// A cost or error category.
    Category,
    /// An error severity.
    Severity,
    /// An evolution axis.
    Axis,
    /// A telemetry event type.
    EventType,
}

impl Dim {
    /// Stable storage code. Never renumber.
    pub fn code(self) -> i64 {
        match self {
            Dim::Org => 1,
            Dim::Agent => 2,
            Dim::Category => 3,
            Dim::Severity => 4,
            Dim::Axis => 5,
            Dim::EventType => 6,
        }
    }
}

/// The key used with [`Dim::Org`].
pub const ORG_KEY: &str = "org";

/// Signals of [`Stream::Task`].
pub mod task {
    /// 1 for success, 0 for failure; n = tasks.
    pub const SUCCESS: usize = 0;
    /// Quality score, scored tasks only.
    pub const QUALITY: usize = 1;
    /// Collaboration score, scored tasks only.
    pub const COLLABORATION: usize = 2;
    /// Duration in seconds.
    pub const DURATION: usize = 3;
    /// Turns.
    pub const TURNS: usize = 4;
    /// 1 when multi-agent.
    pub const MULTI_AGENT: usize = 5;
    /// Signal names.
    pub const SIGNALS: [&str; 6] = [
        "success",
        "quality_score",
        "collaboration_score",
        "duration_seconds",
        "turns",
        "multi_agent",
    ];
}

/// Signals of [`Stream::Cost`].
pub mod cost {
    /// USD.
    pub const USD: usize = 0;
    /// Input tokens.
    pub const INPUT_TOKENS: usize = 1;
    /// Output tokens.
    pub const OUTPUT_TOKENS: usize = 2;
    /// Signal names.
    pub const SIGNALS: [&str; 3] = ["cost_usd", "input_tokens", "output_tokens"];
}

/// Signals of [`Stream::Coordination`].
pub mod coordination {
    /// Single-agent turns.
    pub const TURNS_SAS: usize = 0;
    /// Multi-agent turns.
    pub const TURNS_MAS: usize = 1;
    /// 1 for a successful multi-agent run.
    pub const SUCCESS: usize = 2;
    /// Single-agent error rate.
    pub const ERROR_RATE_SAS: usize = 3;
    /// Multi-agent error rate.
    pub const ERROR_RATE_MAS: usize = 4;
    /// Inter-agent messages.
    pub const MESSAGES: usize = 5;
    /// Reasoning turns.
    pub const REASONING_TURNS: usize = 6;
    /// Redundancy 0–1.
    pub const REDUNDANCY: usize = 7;
    /// Straggler gap ratio.
    pub const STRAGGLER_GAP_RATIO: usize = 8;
    /// 1 per event (the sample count).
    pub const SAMPLES: usize = 9;
    /// Signal names.
    pub const SIGNALS: [&str; 10] = [
        "turns_sas",
        "turns_mas",
        "success",
        "error_rate_sas",
        "error_rate_mas",
        "messages",
        "reasoning_turns",
        "redundancy",
        "straggler_gap_ratio",
        "samples",
    ];
}

/// Signals of [`Stream::Error`].
pub mod error {
    /// Severity weight (1–3), weighted by the finding count: n = findings.
    pub const SEVERITY: usize = 0;
    /// Signal names.
    pub const SIGNALS: [&str; 1] = ["severity"];
}

/// Signals of [`Stream::Evolution`].
pub mod evolution {
    /// 1 when applied; n = outcomes.
    pub const APPLIED: usize = 0;
    /// Signal names.
    pub const SIGNALS: [&str; 1] = ["applied"];
}

/// Signals of [`Stream::Telemetry`].
pub mod telemetry {
    /// 1 when the event reports an error; n = events.
    pub const ERROR: usize = 0;
    /// Signal names.
    pub const SIGNALS: [&str; 1] = ["error"];
}

/// The most signals any stream has.
pub const MAX_SIGNALS: usize = 10;

fn opt(x: Option<f64>) -> Stat {
    x.map_or(Stat::EMPTY, Stat::of)
}

fn flag(b: bool) -> Stat {
    Stat::of(if b { 1.0 } else { 0.0 })
}

/// Calls `emit(stream, dim, key, stats)` for every rollup row `event` adds to. `stats` has one
/// entry per signal of the stream; absent measurements are [`Stat::EMPTY`]. Events that are not
/// rolled up (budget status, scaling, benchmark runs: low-volume entities) emit nothing.
pub fn contributions(event: &Event, mut emit: impl FnMut(Stream, Dim, &str, &[Stat])) {
    match event {
        Event::TaskCompleted(t) => {
            let stats = [
                flag(t.success),
                opt(t.quality_score.map(|q| q.get())),
                opt(t.collaboration_score.map(|q| q.get())),
                opt(t.duration_seconds.map(|d| d.get())),
                opt(t.turns.map(f64::from)),
                flag(t.multi_agent),
            ];
            emit(Stream::Task, Dim::Agent, t.agent_id.as_str(), &stats);
        }
        Event::CostRecorded(c) => {
            let stats = [
                Stat::of(c.cost_usd.get()),
                Stat::of(c.input_tokens as f64),
                Stat::of(c.output_tokens as f64),
            ];
            emit(Stream::Cost, Dim::Category, c.category.as_str(), &stats);
            emit(Stream::Cost, Dim::Agent, c.agent_id.as_str(), &stats);
        }
        Event::CoordinationMeasured(c) => {
            let stats = [
                opt(c.turns_sas.map(|v| v.get())),
                opt(c.turns_mas.map(|v| v.get())),
                c.success.map_or(Stat::EMPTY, flag),
                opt(c.error_rate_sas.map(|v| v.get())),
                opt(c.error_rate_mas.map(|v| v.get())),
                opt(c.messages.map(|v| v as f64)),
                opt(c.reasoning_turns.map(|v| v as f64)),
                opt(c.redundancy.map(|v| v.get())),
                opt(c.straggler_gap_ratio.map(|v| v.get())),
                Stat::of(1.0),
            ];
            emit(Stream::Coordination, Dim::Org, ORG_KEY, &stats);
        }
        Event::ErrorFinding(f) => {
            let stats = [Stat::weighted(f.severity.weight(), f64::from(f.count))];
            emit(Stream::Error, Dim::Category, f.category.as_str(), &stats);
            emit(Stream::Error, Dim::Severity, f.severity.as_str(), &stats);
            if let Some(agent) = &f.agent_id {
                // Per-agent error rates for rollout comparisons.
                emit(Stream::Error, Dim::Agent, agent.as_str(), &stats);
            }
        }
        Event::EvolutionOutcome(e) => {
            emit(
                Stream::Evolution,
                Dim::Axis,
                e.axis.as_str(),
                &[flag(e.applied)],
            );
        }
        Event::TelemetryEvent(t) => {
            emit(
                Stream::Telemetry,
                Dim::EventType,
                t.event_type.as_str(),
                &[flag(t.error)],
            );
            if let Some(agent) = &t.agent_id {
                emit(
                    Stream::Telemetry,
                    Dim::Agent,
                    agent.as_str(),
                    &[flag(t.error)],
                );
            }
        }
        Event::BudgetStatus(_)
        | Event::ScalingDecision(_)
        | Event::ScalingOutcome(_)
        | Event::BenchmarkRun(_) => {}
    }
}

/// Encodes a stat vector for storage: 5 little-endian `f64` per signal.
pub fn encode_stats(stats: &[Stat], out: &mut Vec<u8>) {
    out.clear();
    for s in stats {
        for v in [s.n, s.sum, s.sumsq, s.min, s.max] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Decodes what [`encode_stats`] wrote, merging into `into` (which must have one entry per
/// signal). Returns `false` when the bytes do not have the expected length.
pub fn merge_encoded(bytes: &[u8], into: &mut [Stat]) -> bool {
    if bytes.len() != into.len() * 40 {
        return false;
    }
    for (stat, chunk) in into.iter_mut().zip(bytes.chunks_exact(40)) {
        let mut f = [0.0f64; 5];
        for (slot, b) in f.iter_mut().zip(chunk.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            *slot = f64::from_le_bytes(a);
        }
        stat.merge(&Stat::from_parts(f[0], f[1], f[2], f[3], f[4]));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_roundtrip_merges() {
        let stats = [Stat::of(2.0), Stat::EMPTY, Stat::weighted(3.0, 4.0)];
        let mut buf = Vec::new();
        encode_stats(&stats, &mut buf);
        let mut into = [Stat::of(1.0), Stat::EMPTY, Stat::EMPTY];
        assert!(merge_encoded(&buf, &mut into));
        assert_eq!(into[0].n, 2.0);
        assert_eq!(into[0].sum, 3.0);
        assert!(into[1].is_empty());
        assert_eq!(into[2].sum, 12.0);
        assert!(!merge_encoded(&buf[..39], &mut into));
    }

    #[test]
    fn hour_buckets_floor_negative_times() {
        let t = Timestamp::parse("1969-12-31T23:30:00Z").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hour_of(t), -1);
    }
}
