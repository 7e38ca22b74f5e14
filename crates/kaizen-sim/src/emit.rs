//! Compact simulation records and their serialisation as `kaizen.event.v1` NDJSON.

use std::io::Write;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
#[cfg(test)]
use kaizen_core::event::Event;
use kaizen_core::event::{
    CostCategory, EVENT_TYPES, Fraction, NonNegative, ScalingAction, ScalingOutcome, Score10,
    Severity, Timestamp,
};
use serde_json::ser::{CompactFormatter, Formatter};

use crate::generator::DAY_MS;
use crate::org::{Agent, DEPARTMENTS, MODELS};
use crate::{SimError, SimStats};

/// Error categories of the classifier.
pub(crate) const ERROR_CATEGORIES: [&str; 6] = [
    "hallucination",
    "tool_misuse",
    "context_overflow",
    "instruction_drift",
    "coordination_failure",
    "timeout",
];
/// Evolution axes.
pub(crate) const EVOLUTION_AXES: [&str; 5] = ["prompt", "tools", "memory", "model", "workflow"];
/// Telemetry event types (weights 45 / 35 / 12 / 8 %).
pub(crate) const TELEMETRY_TYPES: [&str; 4] =
    ["llm.request", "tool.call", "memory.lookup", "agent.handoff"];
/// Scaling signals with the strategy that reacts to them and a rationale.
pub(crate) const SCALING_SIGNALS: [(&str, &str, &str); 4] = [
    (
        "queue_depth",
        "queue-depth-autoscaler",
        "queue depth above target for two hours",
    ),
    (
        "utilisation",
        "queue-depth-autoscaler",
        "utilisation outside the target band",
    ),
    (
        "budget_pressure",
        "budget-guard",
        "projected spend above plan",
    ),
    (
        "skill_gap",
        "performance-review",
        "backlog needs skills the roster lacks",
    ),
];
/// Benchmark suites.
pub(crate) const BENCHMARK_SUITES: [&str; 2] = ["org-core", "tool-use"];

/// Flush the internal buffer to the writer once it holds this many bytes.
const FLUSH_BYTES: usize = 64 * 1024;

/// One event to write, in compact form.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Task {
        task: u64,
        agent: u32,
        success: bool,
        quality: Option<f64>,
        collab: Option<f64>,
        duration: f64,
        turns: u32,
        multi: bool,
    },
    Cost {
        agent: u32,
        task: u64,
        category: CostCategory,
        usd: f64,
        input: u64,
        output: u64,
        model: u8,
    },
    Coordination {
        task: u64,
        dept: u8,
        sas: f64,
        mas: f64,
        success: bool,
        er_sas: f64,
        er_mas: f64,
        messages: u64,
        reasoning: u64,
        redundancy: f64,
        straggler: f64,
    },
    Telemetry {
        kind: u8,
        error: bool,
        agent: u32,
    },
    /// `runway_days` set: the limit was cut so that this many days of expected spend remain.
    Budget {
        runway_days: Option<f64>,
    },
    ScalingDecision {
        decision: u32,
        action: ScalingAction,
        signal: u8,
    },
    ScalingOutcome {
        decision: u32,
        outcome: ScalingOutcome,
    },
    Error {
        category: u8,
        severity: Severity,
        count: u32,
        agent: Option<u32>,
    },
    Evolution {
        agent: u32,
        axis: u8,
        applied: bool,
        proposed_at: i64,
    },
    Benchmark {
        suite: u8,
        total: f64,
    },
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Start and end (ms) of the UTC calendar month containing `ms`.
fn month_bounds(ms: i64) -> Result<(i64, i64), SimError> {
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| SimError::Internal(format!("timestamp {ms} ms out of range")))?;
    let (y, m) = (t.year(), t.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let start = NaiveDate::from_ymd_opt(y, m, 1);
    let next = NaiveDate::from_ymd_opt(ny, nm, 1);
    match (start, next) {
        (Some(s), Some(n)) => {
            let to_ms = |d: NaiveDate| {
                d.and_hms_opt(0, 0, 0)
                    .map(|x| x.and_utc().timestamp_millis())
            };
            match (to_ms(s), to_ms(n)) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(SimError::Internal("month bounds out of range".to_owned())),
            }
        }
        _ => Err(SimError::Internal("month bounds out of range".to_owned())),
    }
}

/// Appends `n` in decimal.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
fn push_u64_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    for _ in digits..width {
        buf.push(b'0');
    }
    push_u64(buf, n);
}

/// Appends two decimal digits.
fn push_2(buf: &mut Vec<u8>, n: i64) {
    buf.push(b'0' + (n / 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

/// Appends a finite float exactly as `serde_json` does (same formatter).
fn push_f64(buf: &mut Vec<u8>, x: f64) -> Result<(), SimError> {
    if !x.is_finite() {
        return Err(SimError::Internal(format!("non-finite number {x}")));
    }
    CompactFormatter.write_f64(buf, x)?;
    Ok(())
}

fn push_bool(buf: &mut Vec<u8>, b: bool) {
    buf.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Appends `s` as a JSON string. The generator's names never need escaping; anything that
/// would goes through `serde_json`.
fn push_str(buf: &mut Vec<u8>, s: &str) -> Result<(), SimError> {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, s)?;
    }
    Ok(())
}

/// Appends `,"key":`.
fn key(buf: &mut Vec<u8>, k: &str) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
}

fn push_task_id(buf: &mut Vec<u8>, task: u64) {
    buf.extend_from_slice(b"\"task-");
    push_u64_padded(buf, task, 8);
    buf.push(b'"');
}

fn push_decision_id(buf: &mut Vec<u8>, d: u32) {
    buf.extend_from_slice(b"\"scale-");
    push_u64_padded(buf, u64::from(d), 6);
    buf.push(b'"');
}

fn internal(e: String) -> SimError {
    SimError::Internal(e)
}

fn datetime(ms: i64) -> Result<DateTime<Utc>, SimError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| SimError::Internal(format!("timestamp {ms} ms out of range")))
}

/// Serialises records as NDJSON, numbers them, counts them per type and keeps the running
/// budget accounting that `budget.status` events report.
///
/// Lines are written directly (no intermediate [`Event`]); in unit tests every line is
/// checked byte for byte against `serde_json`'s serialisation of the equivalent [`Event`].
pub(crate) struct Emitter {
    id_prefix: Vec<u8>,
    next_id: u64,
    counts: [u64; 10],
    buf: Vec<u8>,
    agent_ids: Vec<String>,
    agent_depts: Vec<u8>,
    agent_roles: Vec<&'static str>,
    start_ms: i64,
    expected_daily: f64,
    monthly_limit: f64,
    month_start: i64,
    month_end: i64,
    month_spend: f64,
    ts_day: i64,
    ts_fast: bool,
    ts_date: [u8; 10],
}

impl Emitter {
    pub(crate) fn new(
        seed: u64,
        agents: &[Agent],
        start_ms: i64,
        expected_daily: f64,
        monthly_limit: f64,
    ) -> Result<Self, SimError> {
        let (month_start, month_end) = month_bounds(start_ms)?;
        Ok(Self {
            id_prefix: format!("s{seed}-").into_bytes(),
            next_id: 0,
            counts: [0; 10],
            buf: Vec::with_capacity(FLUSH_BYTES + 4096),
            agent_ids: agents.iter().map(|a| a.id.clone()).collect(),
            agent_depts: agents.iter().map(|a| a.dept as u8).collect(),
            agent_roles: agents.iter().map(|a| a.role).collect(),
            start_ms,
            expected_daily,
            monthly_limit,
            month_start,
            month_end,
            month_spend: 0.0,
            ts_day: i64::MIN,
            ts_fast: false,
            ts_date: [0; 10],
        })
    }

    fn roll_month(&mut self, ms: i64) -> Result<(), SimError> {
        if ms >= self.month_end {
            let (s, e) = month_bounds(ms)?;
            self.month_start = s;
            self.month_end = e;
            self.month_spend = 0.0;
        }
        Ok(())
    }

    /// Monthly limit and remaining budget reported by a `budget.status` at `ms`. Spend of the
    /// month before the dataset started is assumed to have been the expected daily spend.
    fn budget(&mut self, ms: i64, runway_days: Option<f64>) -> Result<(f64, f64), SimError> {
        self.roll_month(ms)?;
        let before_start = if self.month_start < self.start_ms {
            self.expected_daily * (self.start_ms - self.month_start) as f64 / DAY_MS as f64
        } else {
            0.0
        };
        let spent = before_start + self.month_spend;
        Ok(match runway_days {
            Some(days) => {
                let remaining = round_cents(self.expected_daily * days);
                (round_cents(spent + remaining).max(remaining), remaining)
            }
            None => {
                let limit = self.monthly_limit;
                (limit, round_cents((limit - spent).max(0.0)).min(limit))
            }
        })
    }

    /// Appends an RFC 3339 timestamp as `Timestamp`'s `Display` renders it (seconds, plus
    /// milliseconds when not zero, `Z`). The date part is cached per day.
    fn push_ts(&mut self, ms: i64) -> Result<(), SimError> {
        let day = ms.div_euclid(DAY_MS);
        if day != self.ts_day {
            let t = datetime(ms)?;
            self.ts_day = day;
            self.ts_fast = (0..=9999).contains(&t.year());
            if self.ts_fast {
                let mut d = Vec::with_capacity(10);
                push_u64_padded(&mut d, t.year() as u64, 4);
                d.push(b'-');
                push_2(&mut d, i64::from(t.month()));
                d.push(b'-');
                push_2(&mut d, i64::from(t.day()));
                self.ts_date.copy_from_slice(&d);
            }
        }
        let buf = &mut self.buf;
        if self.ts_fast {
            let in_day = ms.rem_euclid(DAY_MS);
            let secs = in_day / 1000;
            let frac = in_day % 1000;
            buf.push(b'"');
            buf.extend_from_slice(&self.ts_date);
            buf.push(b'T');
            push_2(buf, secs / 3600);
            buf.push(b':');
            push_2(buf, secs / 60 % 60);
            buf.push(b':');
            push_2(buf, secs % 60);
            if frac != 0 {
                buf.push(b'.');
                buf.push(b'0' + (frac / 100) as u8);
                push_2(buf, frac % 100);
            }
            buf.extend_from_slice(b"Z\"");
        } else {
            let t = Timestamp(datetime(ms)?);
            push_str(buf, &t.to_string())?;
        }
        Ok(())
    }

    /// Serialises `r` as one NDJSON line, flushing to `out` when the buffer is full.
    pub(crate) fn write(&mut self, r: &Rec, out: &mut impl Write) -> Result<(), SimError> {
        let n = self.next_id;
        self.next_id += 1;
        let line_start = self.buf.len();
        let (idx, type_name) = kind_type(&r.kind);
        self.counts[idx] += 1;
        self.buf.extend_from_slice(b"{\"type\":\"");
        self.buf.extend_from_slice(type_name.as_bytes());
        self.buf.extend_from_slice(b"\",\"id\":\"");
        self.buf.extend_from_slice(&self.id_prefix);
        push_u64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\",\"ts\":");
        self.push_ts(r.ts)?;
        #[cfg(test)]
        let mut budget_numbers = None;
        match &r.kind {
            Kind::Task {
                task,
                agent,
                success,
                quality,
                collab,
                duration,
                turns,
                multi,
            } => {
                let a = *agent as usize;
                let buf = &mut self.buf;
                key(buf, "agent_id");
                push_str(buf, &self.agent_ids[a])?;
                key(buf, "department");
                push_str(buf, DEPARTMENTS[self.agent_depts[a] as usize].name)?;
                key(buf, "role");
                push_str(buf, self.agent_roles[a])?;
                key(buf, "task_id");
                push_task_id(buf, *task);
                key(buf, "success");
                push_bool(buf, *success);
                if let Some(q) = quality {
                    key(buf, "quality_score");
                    push_f64(buf, Score10::new(*q).map_err(internal)?.get())?;
                }
                if let Some(c) = collab {
                    key(buf, "collaboration_score");
                    push_f64(buf, Score10::new(*c).map_err(internal)?.get())?;
                }
                key(buf, "duration_seconds");
                push_f64(buf, NonNegative::new(*duration).map_err(internal)?.get())?;
                key(buf, "turns");
                push_u64(buf, u64::from(*turns));
                key(buf, "multi_agent");
                push_bool(buf, *multi);
            }
            Kind::Cost {
                agent,
                task,
                category,
                usd,
                input,
                output,
                model,
            } => {
                self.roll_month(r.ts)?;
                self.month_spend += *usd;
                let m = &MODELS[*model as usize];
                let buf = &mut self.buf;
                key(buf, "agent_id");
                push_str(buf, &self.agent_ids[*agent as usize])?;
                key(buf, "task_id");
                push_task_id(buf, *task);
                key(buf, "category");
                push_str(buf, category.as_str())?;
                key(buf, "cost_usd");
                push_f64(buf, NonNegative::new(*usd).map_err(internal)?.get())?;
                key(buf, "input_tokens");
                push_u64(buf, *input);
                key(buf, "output_tokens");
                push_u64(buf, *output);
                key(buf, "model");
                push_str(buf, m.name)?;
                key(buf, "provider");
                push_str(buf, m.provider)?;
            }
            Kind::Coordination {
                task,
                dept,
                sas,
                mas,
                success,
                er_sas,
                er_mas,
                messages,
                reasoning,
                redundancy,
                straggler,
            } => {
                let buf = &mut self.buf;
                key(buf, "task_id");
                push_task_id(buf, *task);
                key(buf, "department");
                push_str(buf, DEPARTMENTS[*dept as usize].name)?;
                if *sas <= 0.0 {
                    return Err(SimError::Internal("turns_sas must be > 0".to_owned()));
                }
                key(buf, "turns_sas");
                push_f64(buf, NonNegative::new(*sas).map_err(internal)?.get())?;
                key(buf, "turns_mas");
                push_f64(buf, NonNegative::new(*mas).map_err(internal)?.get())?;
                key(buf, "success");
                push_bool(buf, *success);
                key(buf, "error_rate_sas");
                push_f64(buf, Fraction::new(*er_sas).map_err(internal)?.get())?;
                key(buf, "error_rate_mas");
                push_f64(buf, Fraction::new(*er_mas).map_err(internal)?.get())?;
                key(buf, "messages");
                push_u64(buf, *messages);
                key(buf, "reasoning_turns");
                push_u64(buf, *reasoning);
                key(buf, "redundancy");
                push_f64(buf, Fraction::new(*redundancy).map_err(internal)?.get())?;
                key(buf, "straggler_gap_ratio");
                push_f64(buf, NonNegative::new(*straggler).map_err(internal)?.get())?;
            }
            Kind::Telemetry { kind, error, agent } => {
                let buf = &mut self.buf;
                key(buf, "event_type");
                push_str(buf, TELEMETRY_TYPES[*kind as usize])?;
                key(buf, "error");
                push_bool(buf, *error);
                key(buf, "agent_id");
                push_str(buf, &self.agent_ids[*agent as usize])?;
            }
            Kind::Budget { runway_days } => {
                let (limit, remaining) = self.budget(r.ts, *runway_days)?;
                if !(limit > 0.0 && remaining <= limit) {
                    return Err(SimError::Internal(format!(
                        "budget status with limit {limit} and remaining {remaining}"
                    )));
                }
                #[cfg(test)]
                {
                    budget_numbers = Some((limit, remaining));
                }
                let buf = &mut self.buf;
                key(buf, "monthly_limit_usd");
                push_f64(buf, NonNegative::new(limit).map_err(internal)?.get())?;
                key(buf, "remaining_usd");
                push_f64(buf, NonNegative::new(remaining).map_err(internal)?.get())?;
            }
            Kind::ScalingDecision {
                decision,
                action,
                signal,
            } => {
                let (sig, strategy, rationale) = SCALING_SIGNALS[*signal as usize];
                let buf = &mut self.buf;
                key(buf, "decision_id");
                push_decision_id(buf, *decision);
                key(buf, "action");
                push_str(buf, action_str(*action))?;
                key(buf, "source_strategy");
                push_str(buf, strategy)?;
                key(buf, "signal");
                push_str(buf, sig)?;
                key(buf, "rationale");
                push_str(buf, rationale)?;
            }
            Kind::ScalingOutcome { decision, outcome } => {
                let buf = &mut self.buf;
                key(buf, "decision_id");
                push_decision_id(buf, *decision);
                key(buf, "outcome");
                push_str(buf, outcome_str(*outcome))?;
            }
            Kind::Error {
                category,
                severity,
                count,
                agent,
            } => {
                if *count == 0 {
                    return Err(SimError::Internal("finding count must be >= 1".to_owned()));
                }
                let buf = &mut self.buf;
                key(buf, "category");
                push_str(buf, ERROR_CATEGORIES[*category as usize])?;
                key(buf, "severity");
                push_str(buf, severity.as_str())?;
                key(buf, "count");
                push_u64(buf, u64::from(*count));
                if let Some(a) = agent {
                    key(buf, "agent_id");
                    push_str(buf, &self.agent_ids[*a as usize])?;
                }
            }
            Kind::Evolution {
                agent,
                axis,
                applied,
                proposed_at,
            } => {
                let buf = &mut self.buf;
                key(buf, "agent_id");
                push_str(buf, &self.agent_ids[*agent as usize])?;
                key(buf, "axis");
                push_str(buf, EVOLUTION_AXES[*axis as usize])?;
                key(buf, "applied");
                push_bool(buf, *applied);
                key(buf, "proposed_at");
                self.push_ts(*proposed_at)?;
            }
            Kind::Benchmark { suite, total } => {
                let buf = &mut self.buf;
                key(buf, "suite");
                push_str(buf, BENCHMARK_SUITES[*suite as usize])?;
                key(buf, "total_score");
                push_f64(buf, NonNegative::new(*total).map_err(internal)?.get())?;
            }
        }
        self.buf.push(b'}');
        #[cfg(test)]
        {
            let event = self.event(r, n, budget_numbers)?;
            let expected = serde_json::to_vec(&event)?;
            assert_eq!(
                String::from_utf8_lossy(&self.buf[line_start..]),
                String::from_utf8_lossy(&expected),
                "fast serialisation differs from serde_json"
            );
            assert!(event.validate().is_ok(), "{:?}", event.validate());
        }
        let _ = line_start;
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_BYTES {
            out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered and returns the statistics.
    pub(crate) fn finish(mut self, out: &mut impl Write) -> Result<SimStats, SimError> {
        if !self.buf.is_empty() {
            out.write_all(&self.buf)?;
            self.buf.clear();
        }
        let mut stats = SimStats::default();
        for (name, n) in EVENT_TYPES.iter().zip(self.counts) {
            stats.events += n;
            if n > 0 {
                stats.by_type.insert(*name, n);
            }
        }
        Ok(stats)
    }

    /// The [`Event`] equivalent of `r` (the reference the fast path is checked against).
    #[cfg(test)]
    fn event(&self, r: &Rec, n: u64, budget: Option<(f64, f64)>) -> Result<Event, SimError> {
        use kaizen_core::event::*;
        let nm = |s: &str| Name::new(s).map_err(internal);
        let id = Some(nm(&format!(
            "{}{n}",
            String::from_utf8_lossy(&self.id_prefix)
        ))?);
        let ts = Timestamp(datetime(r.ts)?);
        let task_id = |t: u64| nm(&format!("task-{t:08}"));
        let decision_id = |d: u32| nm(&format!("scale-{d:06}"));
        let agent = |a: u32| nm(&self.agent_ids[a as usize]);
        Ok(match &r.kind {
            Kind::Task {
                task,
                agent: a,
                success,
                quality,
                collab,
                duration,
                turns,
                multi,
            } => Event::TaskCompleted(TaskCompleted {
                id,
                ts,
                agent_id: agent(*a)?,
                department: nm(DEPARTMENTS[self.agent_depts[*a as usize] as usize].name)?,
                role: nm(self.agent_roles[*a as usize])?,
                task_id: task_id(*task)?,
                success: *success,
                quality_score: quality.map(Score10::new).transpose().map_err(internal)?,
                collaboration_score: collab.map(Score10::new).transpose().map_err(internal)?,
                duration_seconds: Some(NonNegative::new(*duration).map_err(internal)?),
                turns: Some(*turns),
                multi_agent: *multi,
            }),
            Kind::Cost {
                agent: a,
                task,
                category,
                usd,
                input,
                output,
                model,
            } => Event::CostRecorded(CostRecorded {
                id,
                ts,
                agent_id: agent(*a)?,
                task_id: Some(task_id(*task)?),
                category: *category,
                cost_usd: NonNegative::new(*usd).map_err(internal)?,
                input_tokens: *input,
                output_tokens: *output,
                model: Some(nm(MODELS[*model as usize].name)?),
                provider: Some(nm(MODELS[*model as usize].provider)?),
            }),
            Kind::Coordination {
                task,
                dept,
                sas,
                mas,
                success,
                er_sas,
                er_mas,
                messages,
                reasoning,
                redundancy,
                straggler,
            } => Event::CoordinationMeasured(CoordinationMeasured {
                id,
                ts,
                task_id: task_id(*task)?,
                department: Some(nm(DEPARTMENTS[*dept as usize].name)?),
                turns_sas: Some(NonNegative::new(*sas).map_err(internal)?),
                turns_mas: Some(NonNegative::new(*mas).map_err(internal)?),
                success: Some(*success),
                error_rate_sas: Some(Fraction::new(*er_sas).map_err(internal)?),
                error_rate_mas: Some(Fraction::new(*er_mas).map_err(internal)?),
                messages: Some(*messages),
                reasoning_turns: Some(*reasoning),
                redundancy: Some(Fraction::new(*redundancy).map_err(internal)?),
                straggler_gap_ratio: Some(NonNegative::new(*straggler).map_err(internal)?),
            }),
            Kind::Telemetry {
                kind,
                error,
                agent: a,
            } => Event::TelemetryEvent(TelemetryEvent {
                id,
                ts,
                event_type: nm(TELEMETRY_TYPES[*kind as usize])?,
                error: *error,
                agent_id: Some(agent(*a)?),
            }),
            Kind::Budget { .. } => {
                let (limit, remaining) =
                    budget.ok_or_else(|| internal("budget numbers missing".to_owned()))?;
                Event::BudgetStatus(BudgetStatus {
                    id,
                    ts,
                    monthly_limit_usd: NonNegative::new(limit).map_err(internal)?,
                    remaining_usd: NonNegative::new(remaining).map_err(internal)?,
                })
            }
            Kind::ScalingDecision {
                decision,
                action,
                signal,
            } => {
                let (sig, strategy, rationale) = SCALING_SIGNALS[*signal as usize];
                Event::ScalingDecision(ScalingDecision {
                    id,
                    ts,
                    decision_id: decision_id(*decision)?,
                    action: *action,
                    source_strategy: nm(strategy)?,
                    signal: nm(sig)?,
                    rationale: Some(rationale.to_owned()),
                })
            }
            Kind::ScalingOutcome { decision, outcome } => {
                Event::ScalingOutcome(ScalingOutcomeRecorded {
                    id,
                    ts,
                    decision_id: decision_id(*decision)?,
                    outcome: *outcome,
                })
            }
            Kind::Error {
                category,
                severity,
                count,
                agent: a,
            } => Event::ErrorFinding(ErrorFinding {
                id,
                ts,
                category: nm(ERROR_CATEGORIES[*category as usize])?,
                severity: *severity,
                count: *count,
                agent_id: a.map(agent).transpose()?,
                task_id: None,
            }),
            Kind::Evolution {
                agent: a,
                axis,
                applied,
                proposed_at,
            } => Event::EvolutionOutcome(EvolutionOutcome {
                id,
                ts,
                agent_id: agent(*a)?,
                axis: nm(EVOLUTION_AXES[*axis as usize])?,
                applied: *applied,
                proposed_at: Timestamp(datetime(*proposed_at)?),
            }),
            Kind::Benchmark { suite, total } => Event::BenchmarkRun(BenchmarkRun {
                id,
                ts,
                suite: nm(BENCHMARK_SUITES[*suite as usize])?,
                total_score: NonNegative::new(*total).map_err(internal)?,
            }),
        })
    }
}

fn action_str(a: ScalingAction) -> &'static str {
    match a {
        ScalingAction::Hire => "hire",
        ScalingAction::Prune => "prune",
        ScalingAction::Hold => "hold",
    }
}

fn outcome_str(o: ScalingOutcome) -> &'static str {
    match o {
        ScalingOutcome::Executed => "executed",
        ScalingOutcome::Failed => "failed",
        ScalingOutcome::Deferred => "deferred",
        ScalingOutcome::Rejected => "rejected",
    }
}

/// Index into [`EVENT_TYPES`] and the wire type of a record.
fn kind_type(k: &Kind) -> (usize, &'static str) {
    let i = match k {
        Kind::Task { .. } => 0,
        Kind::Cost { .. } => 1,
        Kind::Budget { .. } => 2,
        Kind::Coordination { .. } => 3,
        Kind::ScalingDecision { .. } => 4,
        Kind::ScalingOutcome { .. } => 5,
        Kind::Error { .. } => 6,
        Kind::Evolution { .. } => 7,
        Kind::Telemetry { .. } => 8,
        Kind::Benchmark { .. } => 9,
    };
    (i, EVENT_TYPES[i])
}
