//! Compact simulation records and their serialisation as `kaizen.event.v1` NDJSON.

use std::io::Write;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kaizen_core::event::{
    BenchmarkRun, BudgetStatus, CoordinationMeasured, CostCategory, CostRecorded, ErrorFinding,
    Event, EvolutionOutcome, Fraction, Name, NonNegative, ScalingAction, ScalingDecision,
    ScalingOutcome, ScalingOutcomeRecorded, Score10, Severity, TaskCompleted, TelemetryEvent,
    Timestamp,
};

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
    ("budget_pressure", "budget-guard", "projected spend above plan"),
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

fn name(s: impl Into<String>) -> Result<Name, SimError> {
    Name::new(s).map_err(SimError::Internal)
}

fn names(list: &[&str]) -> Result<Vec<Name>, SimError> {
    list.iter().map(|s| name(*s)).collect()
}

fn ts(ms: i64) -> Result<Timestamp, SimError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(Timestamp)
        .ok_or_else(|| SimError::Internal(format!("timestamp {ms} ms out of range")))
}

fn score(x: f64) -> Result<Score10, SimError> {
    Score10::new(x).map_err(SimError::Internal)
}

fn fraction(x: f64) -> Result<Fraction, SimError> {
    Fraction::new(x).map_err(SimError::Internal)
}

fn nonneg(x: f64) -> Result<NonNegative, SimError> {
    NonNegative::new(x).map_err(SimError::Internal)
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

/// Serialises records, numbers them and keeps the running budget accounting.
pub(crate) struct Emitter {
    id_prefix: String,
    next_id: u64,
    counts: [u64; 10],
    buf: Vec<u8>,
    agent_ids: Vec<Name>,
    agent_depts: Vec<u8>,
    agent_roles: Vec<Name>,
    departments: Vec<Name>,
    models: Vec<Name>,
    providers: Vec<Name>,
    categories: Vec<Name>,
    axes: Vec<Name>,
    telemetry_types: Vec<Name>,
    signals: Vec<Name>,
    strategies: Vec<Name>,
    suites: Vec<Name>,
    start_ms: i64,
    expected_daily: f64,
    monthly_limit: f64,
    month_start: i64,
    month_end: i64,
    month_spend: f64,
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
            id_prefix: format!("s{seed}-"),
            next_id: 0,
            counts: [0; 10],
            buf: Vec::with_capacity(FLUSH_BYTES + 4096),
            agent_ids: agents
                .iter()
                .map(|a| name(a.id.as_str()))
                .collect::<Result<_, _>>()?,
            agent_depts: agents.iter().map(|a| a.dept as u8).collect(),
            agent_roles: agents
                .iter()
                .map(|a| name(a.role))
                .collect::<Result<_, _>>()?,
            departments: DEPARTMENTS
                .iter()
                .map(|d| name(d.name))
                .collect::<Result<_, _>>()?,
            models: MODELS
                .iter()
                .map(|m| name(m.name))
                .collect::<Result<_, _>>()?,
            providers: MODELS
                .iter()
                .map(|m| name(m.provider))
                .collect::<Result<_, _>>()?,
            categories: names(&ERROR_CATEGORIES)?,
            axes: names(&EVOLUTION_AXES)?,
            telemetry_types: names(&TELEMETRY_TYPES)?,
            signals: SCALING_SIGNALS
                .iter()
                .map(|s| name(s.0))
                .collect::<Result<_, _>>()?,
            strategies: SCALING_SIGNALS
                .iter()
                .map(|s| name(s.1))
                .collect::<Result<_, _>>()?,
            suites: names(&BENCHMARK_SUITES)?,
            start_ms,
            expected_daily,
            monthly_limit,
            month_start,
            month_end,
            month_spend: 0.0,
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

    fn agent(&self, i: u32) -> Name {
        self.agent_ids[i as usize].clone()
    }

    fn task_id(task: u64) -> Result<Name, SimError> {
        name(format!("task-{task:08}"))
    }

    fn decision_id(d: u32) -> Result<Name, SimError> {
        name(format!("scale-{d:06}"))
    }

    /// Builds the event for `r` (numbering it) without writing it.
    fn event(&mut self, r: &Rec) -> Result<Event, SimError> {
        let id = Some(name(format!("{}{}", self.id_prefix, self.next_id))?);
        self.next_id += 1;
        let ts = ts(r.ts)?;
        Ok(match &r.kind {
            Kind::Task {
                task,
                agent,
                success,
                quality,
                collab,
                duration,
                turns,
                multi,
            } => Event::TaskCompleted(TaskCompleted {
                id,
                ts,
                agent_id: self.agent(*agent),
                department: self.departments[self.agent_depts[*agent as usize] as usize].clone(),
                role: self.agent_roles[*agent as usize].clone(),
                task_id: Self::task_id(*task)?,
                success: *success,
                quality_score: quality.map(score).transpose()?,
                collaboration_score: collab.map(score).transpose()?,
                duration_seconds: Some(nonneg(*duration)?),
                turns: Some(*turns),
                multi_agent: *multi,
            }),
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
                Event::CostRecorded(CostRecorded {
                    id,
                    ts,
                    agent_id: self.agent(*agent),
                    task_id: Some(Self::task_id(*task)?),
                    category: *category,
                    cost_usd: nonneg(*usd)?,
                    input_tokens: *input,
                    output_tokens: *output,
                    model: Some(self.models[*model as usize].clone()),
                    provider: Some(self.providers[*model as usize].clone()),
                })
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
            } => Event::CoordinationMeasured(CoordinationMeasured {
                id,
                ts,
                task_id: Self::task_id(*task)?,
                department: Some(self.departments[*dept as usize].clone()),
                turns_sas: Some(nonneg(*sas)?),
                turns_mas: Some(nonneg(*mas)?),
                success: Some(*success),
                error_rate_sas: Some(fraction(*er_sas)?),
                error_rate_mas: Some(fraction(*er_mas)?),
                messages: Some(*messages),
                reasoning_turns: Some(*reasoning),
                redundancy: Some(fraction(*redundancy)?),
                straggler_gap_ratio: Some(nonneg(*straggler)?),
            }),
            Kind::Telemetry { kind, error, agent } => Event::TelemetryEvent(TelemetryEvent {
                id,
                ts,
                event_type: self.telemetry_types[*kind as usize].clone(),
                error: *error,
                agent_id: Some(self.agent(*agent)),
            }),
            Kind::Budget { runway_days } => {
                self.roll_month(r.ts)?;
                let before_start = if self.month_start < self.start_ms {
                    self.expected_daily * (self.start_ms - self.month_start) as f64 / DAY_MS as f64
                } else {
                    0.0
                };
                let spent = before_start + self.month_spend;
                let (limit, remaining) = match runway_days {
                    Some(days) => {
                        let remaining = round_cents(self.expected_daily * days);
                        (round_cents(spent + remaining).max(remaining), remaining)
                    }
                    None => {
                        let limit = self.monthly_limit;
                        (limit, round_cents((limit - spent).max(0.0)).min(limit))
                    }
                };
                Event::BudgetStatus(BudgetStatus {
                    id,
                    ts,
                    monthly_limit_usd: nonneg(limit)?,
                    remaining_usd: nonneg(remaining)?,
                })
            }
            Kind::ScalingDecision {
                decision,
                action,
                signal,
            } => Event::ScalingDecision(ScalingDecision {
                id,
                ts,
                decision_id: Self::decision_id(*decision)?,
                action: *action,
                source_strategy: self.strategies[*signal as usize].clone(),
                signal: self.signals[*signal as usize].clone(),
                rationale: Some(SCALING_SIGNALS[*signal as usize].2.to_owned()),
            }),
            Kind::ScalingOutcome { decision, outcome } => {
                Event::ScalingOutcome(ScalingOutcomeRecorded {
                    id,
                    ts,
                    decision_id: Self::decision_id(*decision)?,
                    outcome: *outcome,
                })
            }
            Kind::Error {
                category,
                severity,
                count,
                agent,
            } => Event::ErrorFinding(ErrorFinding {
                id,
                ts,
                category: self.categories[*category as usize].clone(),
                severity: *severity,
                count: *count,
                agent_id: agent.map(|a| self.agent(a)),
                task_id: None,
            }),
            Kind::Evolution {
                agent,
                axis,
                applied,
                proposed_at,
            } => Event::EvolutionOutcome(EvolutionOutcome {
                id,
                ts,
                agent_id: self.agent(*agent),
                axis: self.axes[*axis as usize].clone(),
                applied: *applied,
                proposed_at: self::ts(*proposed_at)?,
            }),
            Kind::Benchmark { suite, total } => Event::BenchmarkRun(BenchmarkRun {
                id,
                ts,
                suite: self.suites[*suite as usize].clone(),
                total_score: nonneg(*total)?,
            }),
        })
    }

    /// Serialises `r` as one NDJSON line, flushing to `out` when the buffer is full.
    pub(crate) fn write(&mut self, r: &Rec, out: &mut impl Write) -> Result<(), SimError> {
        let event = self.event(r)?;
        let idx = type_index(&event);
        self.counts[idx] += 1;
        serde_json::to_writer(&mut self.buf, &event)?;
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
        for (name, n) in kaizen_core::event::EVENT_TYPES.iter().zip(self.counts) {
            stats.events += n;
            if n > 0 {
                stats.by_type.insert(*name, n);
            }
        }
        Ok(stats)
    }
}

fn type_index(e: &Event) -> usize {
    match e {
        Event::TaskCompleted(_) => 0,
        Event::CostRecorded(_) => 1,
        Event::BudgetStatus(_) => 2,
        Event::CoordinationMeasured(_) => 3,
        Event::ScalingDecision(_) => 4,
        Event::ScalingOutcome(_) => 5,
        Event::ErrorFinding(_) => 6,
        Event::EvolutionOutcome(_) => 7,
        Event::TelemetryEvent(_) => 8,
        Event::BenchmarkRun(_) => 9,
    }
}
