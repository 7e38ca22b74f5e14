//! Deterministic synthetic agent-organisation datasets for kaizen.
//!
//! [`generate`] writes a stream of `kaizen.event.v1` events (NDJSON, one
//! [`kaizen_core::event::Event`] per line, in non-decreasing `ts` order) describing a simulated
//! organisation of AI agents: departments and roles, agents with individual skill, tasks with a
//! daily and weekly rhythm, spend, coordination measurements, scaling decisions, error
//! findings, evolution outcomes, runtime telemetry, a daily budget status and daily benchmark
//! runs.
//!
//! The healthy baseline trips none of the built-in rules for a 7-day window ending at
//! [`SimSpec::end`]. Each [`Fault`] degrades one signal during the last three days of the
//! dataset so that the rule it names trips; see `docs/sim-generate.md` for the model, its
//! parameters and the arithmetic behind each fault's intensity.
//!
//! The same [`SimSpec`] always yields byte-identical output.

mod emit;
mod fault;
mod generator;
mod org;
pub mod rng;
pub mod study;
pub mod wire;

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub use fault::Fault;
pub use org::{DEPARTMENTS, Department};

/// Default for [`SimSpec::tasks_per_agent_day`].
pub const DEFAULT_TASKS_PER_AGENT_DAY: f64 = 12.0;
/// Largest accepted [`SimSpec::agents`].
pub const MAX_AGENTS: u32 = 100_000;
/// Largest accepted [`SimSpec::days`].
pub const MAX_DAYS: u32 = 3650;
/// Largest accepted [`SimSpec::tasks_per_agent_day`].
pub const MAX_TASKS_PER_AGENT_DAY: f64 = 10_000.0;
/// Number of days at the end of the dataset during which faults act.
pub const FAULT_DAYS: u32 = 3;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpec {
    /// Number of agents (1..=[`MAX_AGENTS`]).
    pub agents: u32,
    /// Length of the dataset in days (1..=[`MAX_DAYS`]); the data covers
    /// `[end - days * 24h, end)`.
    pub days: u32,
    /// Seed of the pseudo-random generator; also part of every event id.
    pub seed: u64,
    /// Exclusive end of the dataset. The CLI defaults it to the current hour
    /// (see [`current_hour`]). Sub-millisecond precision is ignored.
    pub end: DateTime<Utc>,
    /// Mean number of tasks an agent completes per day, averaged over a week
    /// (default [`DEFAULT_TASKS_PER_AGENT_DAY`]; > 0 and ≤ [`MAX_TASKS_PER_AGENT_DAY`]).
    pub tasks_per_agent_day: f64,
    /// Faults to inject into the last [`FAULT_DAYS`] days.
    pub faults: Vec<Fault>,
}

impl SimSpec {
    /// A healthy spec with the default task rate and no faults.
    pub fn new(agents: u32, days: u32, seed: u64, end: DateTime<Utc>) -> Self {
        Self {
            agents,
            days,
            seed,
            end,
            tasks_per_agent_day: DEFAULT_TASKS_PER_AGENT_DAY,
            faults: Vec::new(),
        }
    }

    /// Checks the bounds of every field. The error message names the field, the accepted
    /// range and the value found.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.agents == 0 || self.agents > MAX_AGENTS {
            return Err(SimError::InvalidSpec(format!(
                "agents must be between 1 and {MAX_AGENTS}, got {}",
                self.agents
            )));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return Err(SimError::InvalidSpec(format!(
                "days must be between 1 and {MAX_DAYS}, got {}",
                self.days
            )));
        }
        let t = self.tasks_per_agent_day;
        if !(t.is_finite() && t > 0.0 && t <= MAX_TASKS_PER_AGENT_DAY) {
            return Err(SimError::InvalidSpec(format!(
                "tasks per agent-day must be > 0 and <= {MAX_TASKS_PER_AGENT_DAY}, got {t}"
            )));
        }
        if self.start().is_err() {
            return Err(SimError::InvalidSpec(format!(
                "end {} minus {} days is out of range",
                self.end, self.days
            )));
        }
        for f in &self.faults {
            f.validate()?;
        }
        Ok(())
    }

    /// Inclusive start of the dataset: `end - days * 24h` (with `end` truncated to the
    /// millisecond, like every timestamp the generator writes).
    pub fn start(&self) -> Result<DateTime<Utc>, SimError> {
        let end_ms = self.end.timestamp_millis();
        i64::from(self.days)
            .checked_mul(86_400_000)
            .and_then(|span| end_ms.checked_sub(span))
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or_else(|| SimError::InvalidSpec("dataset start is out of range".to_owned()))
    }
}

/// `now` truncated to the start of its hour: the CLI's default for [`SimSpec::end`].
pub fn current_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now)
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Events written (= lines).
    pub events: u64,
    /// Events written per event type (`task.completed`, …).
    pub by_type: BTreeMap<&'static str, u64>,
}

/// Why a simulation could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A field of the [`SimSpec`] is out of range.
    #[error("invalid simulation spec: {0}")]
    InvalidSpec(String),
    /// A fault name did not parse.
    #[error("{0}")]
    InvalidFault(String),
    /// Writing the output failed.
    #[error("writing the dataset failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising an event failed.
    #[error("serialising an event failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The generator built a value the event schema rejects (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Writes the dataset described by `spec` to `out` as NDJSON and returns what was written.
///
/// Events are written in non-decreasing `ts` order; each carries a unique id `s{seed}-{n}`
/// (`n` counts from 0 in output order). Output is written in chunks of roughly 64 KiB, so an
/// unbuffered writer is acceptable; the caller flushes.
pub fn generate(spec: &SimSpec, out: &mut impl std::io::Write) -> Result<SimStats, SimError> {
    spec.validate()?;
    generator::Generator::new(spec)?.run(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("bad date"))
    }

    #[test]
    fn validate_rejects_out_of_range_fields() {
        let ok = SimSpec::new(5, 7, 1, end());
        assert!(ok.validate().is_ok());
        let cases: Vec<(SimSpec, &str)> = vec![
            (
                SimSpec {
                    agents: 0,
                    ..ok.clone()
                },
                "agents",
            ),
            (
                SimSpec {
                    agents: MAX_AGENTS + 1,
                    ..ok.clone()
                },
                "agents",
            ),
            (
                SimSpec {
                    days: 0,
                    ..ok.clone()
                },
                "days",
            ),
            (
                SimSpec {
                    days: MAX_DAYS + 1,
                    ..ok.clone()
                },
                "days",
            ),
            (
                SimSpec {
                    tasks_per_agent_day: 0.0,
                    ..ok.clone()
                },
                "tasks per agent-day",
            ),
            (
                SimSpec {
                    tasks_per_agent_day: -1.0,
                    ..ok.clone()
                },
                "tasks per agent-day",
            ),
            (
                SimSpec {
                    tasks_per_agent_day: f64::NAN,
                    ..ok.clone()
                },
                "tasks per agent-day",
            ),
            (
                SimSpec {
                    tasks_per_agent_day: 10_001.0,
                    ..ok.clone()
                },
                "tasks per agent-day",
            ),
            (
                SimSpec {
                    faults: vec![Fault::QualityDecline(Some("marketing".to_owned()))],
                    ..ok.clone()
                },
                "department",
            ),
        ];
        for (spec, needle) in cases {
            let err = spec
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
            let mut sink = Vec::new();
            assert!(generate(&spec, &mut sink).is_err());
            assert!(sink.is_empty());
        }
    }

    /// Every record becomes an `Event` that the one encoder validates before writing it; these
    /// datasets exercise every record kind, every fault and timestamps beyond the year 9999 and
    /// before 1970.
    #[test]
    fn every_record_kind_encodes_and_validates() {
        let faults: Vec<Fault> = Fault::NAMES
            .iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let far = Utc
            .with_ymd_and_hms(10_000, 1, 2, 0, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("bad date"));
        let before_epoch = Utc
            .with_ymd_and_hms(1969, 12, 31, 7, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("bad date"));
        for spec in [
            SimSpec::new(9, 6, 3, end()),
            SimSpec {
                faults: faults.clone(),
                ..SimSpec::new(9, 5, 4, end())
            },
            SimSpec {
                faults,
                ..SimSpec::new(2, 3, 5, far)
            },
            SimSpec::new(2, 2, 6, before_epoch),
        ] {
            let mut out = Vec::new();
            let stats = generate(&spec, &mut out).unwrap_or_else(|e| panic!("{e}"));
            assert!(stats.events > 0);
            assert_eq!(
                out.iter().filter(|b| **b == b'\n').count() as u64,
                stats.events
            );
        }
    }

    #[test]
    fn current_hour_truncates() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 2, 13, 47, 12)
            .single()
            .unwrap_or_else(|| panic!("bad date"));
        assert_eq!(current_hour(t).to_rfc3339(), "2026-03-02T13:00:00+00:00");
    }
}
