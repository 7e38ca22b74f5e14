//! Compact simulation records, turned into [`Event`]s and written as `kaizen.event.v1` NDJSON by
//! the one encoder, [`crate::wire::write_line`].

use std::io::Write;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kaizen_core::event::{
    BenchmarkRun, BudgetStatus, CoordinationMeasured, CostCategory, CostRecorded, EVENT_TYPES,
    ErrorFinding, Event, EvolutionOutcome, Fraction, Name, NonNegative, ScalingAction,
    ScalingDecision, ScalingOutcome, ScalingOutcomeRecorded, Score10, Severity, TaskCompleted,
    TelemetryEvent, Timestamp,
};

use crate::generator::DAY_MS;
use crate::org::{Agent, DEPARTMENTS, MODELS};
use crate::{SimError, SimStats, wire};

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

fn internal(e: String) -> SimError {
    SimError::Internal(e)
}

fn datetime(ms: i64) -> Result<DateTime<Utc>, SimError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| SimError::Internal(format!("timestamp {ms} ms out of range")))
}

/// Turns records into [`Event`]s and writes them with the one encoder
/// ([`crate::wire::write_line`]), numbers them, counts them per type and keeps the running
/// budget accounting that `budget.status` events report.
pub(crate) struct Emitter {
    id_prefix: String,
    next_id: u64,
    counts: [u64; 10],
    buf: Vec<u8>,
    agent_ids: Vec<Name>,
    agent_depts: Vec<u8>,
    agent_roles: Vec<&'static str>,
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
                .map(|a| {
                    Name::new(a.id.clone())
                        .map_err(|e| internal(format!("agent id {:?}: {e}", a.id)))
                })
                .collect::<Result<_, _>>()?,
            agent_depts: agents.iter().map(|a| a.dept as u8).collect(),
            agent_roles: agents.iter().map(|a| a.role).collect(),
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

    /// Serialises `r` as one NDJSON line, flushing to `out` when the buffer is full.
    pub(crate) fn write(&mut self, r: &Rec, out: &mut impl Write) -> Result<(), SimError> {
        let n = self.next_id;
        self.next_id += 1;
        self.counts[kind_index(&r.kind)] += 1;
        let budget = match &r.kind {
            Kind::Cost { usd, .. } => {
                self.roll_month(r.ts)?;
                self.month_spend += *usd;
                None
            }
            Kind::Budget { runway_days } => Some(self.budget(r.ts, *runway_days)?),
            _ => None,
        };
        let event = self.event(r, n, budget)?;
        wire::write_line(&mut self.buf, &event).map_err(|e| SimError::Internal(e.to_string()))?;
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

    /// The [`Event`] of record `r`, the `n`-th written; `budget` is the limit and remaining
    /// amount of a `budget.status`.
    fn event(&self, r: &Rec, n: u64, budget: Option<(f64, f64)>) -> Result<Event, SimError> {
        let nm = |s: &str| Name::new(s).map_err(internal);
        let id = Some(nm(&format!("{}{n}", self.id_prefix))?);
        let ts = Timestamp(datetime(r.ts)?);
        let task_id = |t: u64| nm(&format!("task-{t:08}"));
        let decision_id = |d: u32| nm(&format!("scale-{d:06}"));
        let agent = |a: u32| {
            self.agent_ids
                .get(a as usize)
                .cloned()
                .ok_or_else(|| internal(format!("agent index {a} out of range")))
        };
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

/// Index into [`EVENT_TYPES`] of a record's type.
fn kind_index(k: &Kind) -> usize {
    match k {
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
    }
}
