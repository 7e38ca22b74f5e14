//! The simulated organisation: a roster of agents in departments with roles, working tasks on
//! a virtual clock. Each step of simulated time, every agent works the tasks that arrive for it
//! with the [`Knobs`] it read from its effective configuration; the world turns each task into
//! `kaizen.event.v1` events of every domain and records the ground truth in a [`Ledger`].
//!
//! Organisation-level events are planned per simulated day: a `budget.status` at 23:55, two
//! `benchmark.run`s at 02:00, a few `scaling.decision`s with their `scaling.outcome`s and
//! `evolution.outcome`s. An error classifier audits a fixed number of tasks a day and reports
//! the escaped errors it finds as `error.finding`s with the task's agent.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use kaizen_core::org::standard::STANDARD_DEPARTMENTS;
use kaizen_core::org::{Agent, OrgDocument};

use kaizen_core::event::{CostCategory, ScalingAction, ScalingOutcome, Severity};
use kaizen_sim::rng::Rng;

use crate::emit::{Emitter, Event};
use crate::kpi::{Kpis, Ledger};
use crate::model::{AgentTraits, Conditions, ERROR_CATEGORIES, Knobs, TaskOutcome, simulate_task};
use crate::scenario::{FaultKind, Scenario};

/// Purposes of the keyed random streams (so no two uses share numbers).
const ROSTER: u64 = 1;
const TASKS: u64 = 2;
const DAY: u64 = 3;
const CALIBRATION: u64 = 4;
const ORACLE: u64 = 5;
const EVENTS: u64 = 6;

/// Relative task volume by UTC hour (normalised to mean 1 when used): a night trough and a
/// working-day plateau.
const HOURLY: [f64; 24] = [
    0.45, 0.3, 0.25, 0.25, 0.25, 0.3, 0.5, 0.8, 1.2, 1.6, 1.75, 1.8, 1.65, 1.75, 1.8, 1.75, 1.6,
    1.3, 1.0, 0.85, 0.75, 0.65, 0.55, 0.45,
];

const TELEMETRY_TYPES: [&str; 4] = ["llm.request", "tool.call", "memory.lookup", "agent.handoff"];
const TELEMETRY_WEIGHTS: [f64; 4] = [0.45, 0.35, 0.12, 0.08];
const EVOLUTION_AXES: [&str; 5] = ["prompt", "tools", "memory", "model", "workflow"];
const SCALING_SIGNALS: [(&str, &str); 4] = [
    ("queue_depth", "queue-depth-autoscaler"),
    ("utilisation", "queue-depth-autoscaler"),
    ("budget_pressure", "budget-guard"),
    ("skill_gap", "performance-review"),
];
const BENCHMARKS: [(&str, f64); 2] = [("org-core", 780.0), ("tool-use", 640.0)];

/// One simulated agent.
#[derive(Debug, Clone, PartialEq)]
pub struct SimAgent {
    /// Id (`agent-0000`).
    pub id: String,
    /// Department.
    pub department: &'static str,
    /// Role.
    pub role: &'static str,
    /// Skill.
    pub traits: AgentTraits,
}

/// What the initial settings cost and deliver without faults (measured by simulation at start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Mean spend per task, USD.
    pub cost_per_task: f64,
    /// Mean quality of scored tasks.
    pub quality: f64,
    /// Expected tasks per day.
    pub tasks_per_day: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum OrgEvent {
    Budget,
    Benchmark(usize),
    ScalingDecision {
        id: String,
        action: ScalingAction,
        signal: usize,
    },
    ScalingOutcome {
        id: String,
        outcome: ScalingOutcome,
    },
    Evolution {
        agent: usize,
        axis: &'static str,
        applied: bool,
        proposed_at: DateTime<Utc>,
    },
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    /// Tasks worked.
    pub tasks: u64,
    /// Events written.
    pub events: u64,
}

/// The simulated organisation of one run.
#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    agents: Vec<SimAgent>,
    calibration: Calibration,
    monthly_limit: f64,
    hourly: [f64; 24],
    sample_p: f64,
    emitter: Emitter,
    ledger: Ledger,
    month: (i32, u32),
    month_spend: f64,
    exhausted_at: Option<DateTime<Utc>>,
    pending: Vec<(DateTime<Utc>, u64, OrgEvent)>,
    pending_seq: u64,
    next_day_to_plan: i64,
    next_task: u64,
}

impl World {
    /// The organisation of `scenario` (validated). `emit`: write events (the run with the loop)
    /// or only keep the ground truth (the counterfactual).
    pub fn new(scenario: &Scenario, emit: bool) -> World {
        let agents = roster(scenario);
        let mean = HOURLY.iter().sum::<f64>() / 24.0;
        let amplitude = scenario.org.seasonality.daily_amplitude;
        let hourly = HOURLY.map(|h| {
            let h = h / mean;
            // The default leaves the curve exactly as it is (no rounding of today's numbers).
            if amplitude == 1.0 {
                h
            } else {
                1.0 + amplitude * (h - 1.0)
            }
        });
        let mut world = World {
            scenario: scenario.clone(),
            agents,
            calibration: Calibration {
                cost_per_task: 0.0,
                quality: 0.0,
                tasks_per_day: 0.0,
            },
            monthly_limit: 0.0,
            hourly,
            sample_p: 0.0,
            emitter: Emitter::new(format!("lab{}", scenario.seed), emit),
            ledger: Ledger::default(),
            month: (scenario.start.year(), scenario.start.month()),
            month_spend: 0.0,
            exhausted_at: None,
            pending: Vec::new(),
            pending_seq: 0,
            next_day_to_plan: 0,
            next_task: 0,
        };
        let knobs = world.initial_knobs();
        let expected = world.expected_kpis(&knobs, None, 20_000);
        let tasks_per_day = f64::from(scenario.org.agents) * scenario.org.tasks_per_agent_day;
        world.calibration = Calibration {
            cost_per_task: expected.cost_per_task.unwrap_or(0.0),
            quality: expected.quality.unwrap_or(scenario.model.base_quality),
            tasks_per_day,
        };
        let daily_spend = tasks_per_day * world.calibration.cost_per_task;
        world.monthly_limit = scenario
            .budget
            .monthly_limit_usd
            .unwrap_or(scenario.budget.monthly_limit_factor * 30.0 * daily_spend)
            .max(0.01);
        world.sample_p = (scenario.model.classifier_sample_per_day / tasks_per_day).min(1.0);
        // The month started before the simulation: its spend so far at the expected rate.
        let month_start = Utc
            .with_ymd_and_hms(scenario.start.year(), scenario.start.month(), 1, 0, 0, 0)
            .single()
            .unwrap_or(scenario.start);
        let elapsed_days = (scenario.start - month_start).num_seconds() as f64 / 86_400.0;
        world.month_spend = elapsed_days * daily_spend;
        world
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The agents.
    pub fn agents(&self) -> &[SimAgent] {
        &self.agents
    }

    /// The calibration.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// The monthly budget limit, USD.
    pub fn monthly_limit(&self) -> f64 {
        self.monthly_limit
    }

    /// When the month's budget ran out, if it did.
    pub fn exhausted_at(&self) -> Option<DateTime<Utc>> {
        self.exhausted_at
    }

    /// The ground truth so far.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.emitter.events()
    }

    /// The events written and not yet taken.
    pub fn emitter(&mut self) -> &mut Emitter {
        &mut self.emitter
    }

    /// The org document the simulation starts from: the standard org with the scenario's
    /// agents and settings.
    pub fn org_document(&self) -> OrgDocument {
        let mut doc = OrgDocument::standard();
        doc.agents = self
            .agents
            .iter()
            .map(|a| Agent {
                id: a.id.clone(),
                role: a.role.to_owned(),
                department: a.department.to_owned(),
            })
            .collect();
        for (path, value) in &self.scenario.settings {
            // Validated with the scenario.
            let _ = doc.settings.set(path, Some(value.clone()));
        }
        doc.canonical()
    }

    /// The knobs every agent starts with (the initial org document's).
    pub fn initial_knobs(&self) -> Knobs {
        let doc = self.org_document();
        Knobs::from_config(&doc.settings, &doc.principles).unwrap_or_default()
    }

    /// What the active faults do to `department` at `t`.
    pub fn conditions(&self, department: &str, t: DateTime<Utc>) -> Conditions {
        let mut c = Conditions::default();
        let start = self.scenario.start;
        for f in &self.scenario.faults {
            if !f.active(start, t) || f.department.as_deref().is_some_and(|d| d != department) {
                continue;
            }
            let s = f.strength();
            match f.kind {
                FaultKind::QualityDrop => c.quality_delta -= s,
                FaultKind::SpendSurge => c.cost_factor *= s,
                FaultKind::TopologyChange => c.overhead_factor *= s,
                FaultKind::HandoffBloat => c.handoff_factor *= s,
                FaultKind::ErrorFlood => {
                    c.error_factor *= s;
                    c.error_category = f
                        .category
                        .as_deref()
                        .and_then(|cat| ERROR_CATEGORIES.iter().position(|x| *x == cat));
                }
                FaultKind::SilentFailures => c.silent_failure = (c.silent_failure + s).min(1.0),
                FaultKind::Stragglers => {
                    c.straggler_gap = Some(c.straggler_gap.map_or(s, |g: f64| g.max(s)));
                }
                FaultKind::DuplicateWork => {
                    c.redundancy = Some(c.redundancy.map_or(s, |r: f64| r.max(s)));
                }
                FaultKind::ScalingQuota => {}
            }
        }
        c
    }

    fn scaling_failure(&self, t: DateTime<Utc>) -> f64 {
        self.scenario
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::ScalingQuota && f.active(self.scenario.start, t))
            .map(|f| f.strength())
            .fold(self.scenario.model.scaling_failure_base, f64::max)
    }

    /// Task volume at `t` relative to the week's mean (`org.seasonality.weekend_volume`):
    /// weekdays `7 ÷ (5 + 2v)`, Saturdays and Sundays (UTC) `v` times that.
    pub fn weekly_volume(&self, t: DateTime<Utc>) -> f64 {
        let v = self.scenario.org.seasonality.weekend_volume;
        if v == 1.0 {
            return 1.0;
        }
        let weekday = 7.0 / (5.0 + 2.0 * v);
        if is_weekend(t) { v * weekday } else { weekday }
    }

    /// Quality points added at `t` (`org.seasonality.weekend_quality_delta` at weekends).
    pub fn weekend_quality(&self, t: DateTime<Utc>) -> f64 {
        if is_weekend(t) {
            self.scenario.org.seasonality.weekend_quality_delta
        } else {
            0.0
        }
    }

    /// Day index of `t` (0-based from the start).
    pub fn day_of(&self, t: DateTime<Utc>) -> usize {
        ((t - self.scenario.start).num_seconds().max(0) / 86_400) as usize
    }

    /// Simulates `[t0, t1)`: the tasks that arrive in it (step number `index` keys the random
    /// streams, so runs that read the same configuration draw the same numbers) and the
    /// organisation-level events due in it. `knobs[i]` is what agent `i` read.
    pub fn step(
        &mut self,
        index: u64,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        knobs: &[Knobs],
    ) -> StepStats {
        let before = self.emitter.events();
        let month = (t0.year(), t0.month());
        if month != self.month {
            self.month = month;
            self.month_spend = 0.0;
        }
        if self.emitter.enabled() {
            while self.scenario.start + Duration::days(self.next_day_to_plan) <= t0 {
                self.plan_day(self.next_day_to_plan);
                self.next_day_to_plan += 1;
            }
        }
        let step_ms = (t1 - t0).num_milliseconds().max(1);
        let hours = step_ms as f64 / 3_600_000.0;
        let mid = t0 + Duration::milliseconds(step_ms / 2);
        let rate = self.scenario.org.tasks_per_agent_day / 24.0
            * self.hourly[mid.hour() as usize]
            * self.weekly_volume(mid);
        let weekend_quality = self.weekend_quality(mid);
        let conditions: Vec<Conditions> = STANDARD_DEPARTMENTS
            .iter()
            .map(|(d, _, _)| {
                let mut c = self.conditions(d, t0);
                c.quality_delta += weekend_quality;
                c
            })
            .collect();
        let mut tasks = 0;
        for i in 0..self.agents.len() {
            let mut rng = Rng::keyed(self.scenario.seed, &[TASKS, i as u64, index]);
            let n = rng.poisson(rate * hours);
            let dept_idx = STANDARD_DEPARTMENTS
                .iter()
                .position(|(d, _, _)| *d == self.agents[i].department)
                .unwrap_or(0);
            let cond = conditions[dept_idx];
            let k = knobs.get(i).cloned().unwrap_or_default();
            // Each task has its own stream, and the events another: what one task draws never
            // shifts the numbers of the next, whatever the configuration.
            let mut events_rng = Rng::keyed(self.scenario.seed, &[EVENTS, i as u64, index]);
            for j in 0..n {
                let ts = t0 + Duration::milliseconds(rng.below(step_ms as u64) as i64);
                let mut task_rng = Rng::keyed(self.scenario.seed, &[TASKS, i as u64, index, j + 1]);
                let outcome = simulate_task(
                    &self.scenario.model,
                    &k,
                    &cond,
                    &self.agents[i].traits,
                    self.scenario.org.multi_agent_share,
                    &mut task_rng,
                );
                self.record(i, ts, (t0, t1), &k, &outcome, &mut events_rng);
                tasks += 1;
            }
        }
        self.emit_org_events(t1);
        StepStats {
            tasks,
            events: self.emitter.events() - before,
        }
    }

    fn record(
        &mut self,
        agent: usize,
        ts: DateTime<Utc>,
        (t0, t1): (DateTime<Utc>, DateTime<Utc>),
        knobs: &Knobs,
        o: &TaskOutcome,
        rng: &mut Rng,
    ) {
        let day = self.day_of(ts);
        self.ledger.record(day, o);
        self.month_spend += o.cost();
        if self.exhausted_at.is_none() && self.month_spend >= self.monthly_limit {
            self.exhausted_at = Some(ts);
        }
        let task_no = self.next_task;
        self.next_task += 1;
        let sampled = rng.chance(self.sample_p);
        if !self.emitter.enabled() {
            return;
        }
        let a = &self.agents[agent];
        let task_id = format!("task-{task_no:08}");
        let (model, provider, p_in, p_out) = knobs.tier.model();
        let telemetry = 1 + usize::from(rng.chance(0.5));
        for _ in 0..telemetry {
            let back = Duration::milliseconds((rng.unit() * o.duration_s * 1000.0) as i64);
            let at = (ts - back).max(t0);
            let kind = TELEMETRY_TYPES[rng.weighted(&TELEMETRY_WEIGHTS)];
            let error = o.error.is_some() || rng.chance(0.02);
            self.emitter.push(
                at,
                &Event::Telemetry {
                    event_type: kind,
                    error,
                    agent_id: &a.id,
                },
            );
        }
        self.emitter.push(
            ts,
            &Event::Task {
                agent_id: &a.id,
                department: a.department,
                role: a.role,
                task_id: &task_id,
                success: o.success,
                quality_score: o.quality,
                collaboration_score: o.collaboration,
                duration_seconds: o.duration_s,
                turns: o.turns,
                multi_agent: o.team >= 2,
            },
        );
        let tokens = |usd: f64| {
            let input = (usd * 1e6 / (p_in + 0.12 * p_out)).round();
            (input as u64, (input * 0.12).round() as u64)
        };
        // Every dollar of the task is booked to the agent that owns it, coordination too: its
        // configuration (team size, verification, …) produced that spend, and a rollout compares
        // agents by their configuration.
        for (category, usd) in [
            (CostCategory::Productive, o.productive_usd),
            (CostCategory::Coordination, o.coordination_usd),
            (CostCategory::System, o.system_usd),
        ] {
            let (input_tokens, output_tokens) = tokens(usd);
            self.emitter.push(
                ts,
                &Event::Cost {
                    agent_id: &a.id,
                    task_id: &task_id,
                    category,
                    cost_usd: (usd * 1e6).round() / 1e6,
                    input_tokens,
                    output_tokens,
                    model,
                    provider,
                },
            );
        }
        if let Some(c) = &o.coordination {
            self.emitter.push(
                ts,
                &Event::Coordination {
                    task_id: &task_id,
                    department: a.department,
                    turns_sas: c.turns_sas,
                    turns_mas: c.turns_mas,
                    success: o.success,
                    error_rate_sas: c.error_rate_sas,
                    error_rate_mas: c.error_rate_mas,
                    messages: c.messages,
                    reasoning_turns: c.reasoning_turns,
                    redundancy: c.redundancy,
                    straggler_gap_ratio: c.straggler_gap_ratio,
                },
            );
        }
        if let (Some(category), true) = (o.error, sampled) {
            let severity = Severity::ALL[rng.weighted(&[0.5, 0.35, 0.15])];
            let at = (ts + Duration::minutes(5)).min(t1 - Duration::milliseconds(1));
            self.emitter.push(
                at.max(ts),
                &Event::ErrorFinding {
                    category: ERROR_CATEGORIES[category],
                    severity,
                    count: 1,
                    agent_id: Some(&a.id),
                    task_id: Some(&task_id),
                },
            );
        }
    }

    /// Another agent of `agent`'s department (the agent itself when it is alone).
    fn plan(&mut self, at: DateTime<Utc>, e: OrgEvent) {
        self.pending.push((at, self.pending_seq, e));
        self.pending_seq += 1;
    }

    fn plan_day(&mut self, day: i64) {
        let start = self.scenario.start + Duration::days(day);
        let mut rng = Rng::keyed(self.scenario.seed, &[DAY, day as u64]);
        self.plan(start + Duration::minutes(23 * 60 + 55), OrgEvent::Budget);
        self.plan(start + Duration::hours(2), OrgEvent::Benchmark(0));
        self.plan(start + Duration::minutes(127), OrgEvent::Benchmark(1));
        // A healthy day fails at most one scaling action, so a healthy window never has more
        // failed than executed decisions (as in `kaizen sim generate`).
        let mut failed_today = 0;
        for k in 0..2 + rng.below(3) {
            let at = start + Duration::seconds(rng.below(86_400) as i64);
            let id = format!("d-{}-{day:04}-{k}", self.scenario.seed);
            let action = [
                ScalingAction::Hire,
                ScalingAction::Prune,
                ScalingAction::Hold,
            ][rng.weighted(&[0.4, 0.2, 0.4])];
            let signal = rng.below(SCALING_SIGNALS.len() as u64) as usize;
            let quota = self.scaling_failure(at);
            let healthy = quota <= self.scenario.model.scaling_failure_base;
            let fails = rng.chance(quota) && !(healthy && failed_today >= 1);
            failed_today += u32::from(fails);
            let outcome = if fails {
                [
                    ScalingOutcome::Failed,
                    ScalingOutcome::Failed,
                    ScalingOutcome::Rejected,
                ][rng.below(3) as usize]
            } else if rng.chance(0.05) {
                ScalingOutcome::Deferred
            } else {
                ScalingOutcome::Executed
            };
            let later = at + Duration::seconds(rng.uniform(600.0, 10_800.0) as i64);
            self.plan(
                at,
                OrgEvent::ScalingDecision {
                    id: id.clone(),
                    action,
                    signal,
                },
            );
            self.plan(later, OrgEvent::ScalingOutcome { id, outcome });
        }
        for _ in 0..2 + rng.below(4) {
            let at = start + Duration::seconds(rng.below(86_400) as i64);
            let agent = rng.below(self.agents.len() as u64) as usize;
            let axis = EVOLUTION_AXES[rng.below(EVOLUTION_AXES.len() as u64) as usize];
            let applied = rng.chance(0.6);
            let proposed_at = at - Duration::seconds(rng.uniform(3_600.0, 259_200.0) as i64);
            self.plan(
                at,
                OrgEvent::Evolution {
                    agent,
                    axis,
                    applied,
                    proposed_at,
                },
            );
        }
        self.pending
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    }

    /// Writes the planned organisation-level events due before `t1`.
    fn emit_org_events(&mut self, t1: DateTime<Utc>) {
        let due = self.pending.partition_point(|(at, _, _)| *at < t1);
        let events: Vec<(DateTime<Utc>, u64, OrgEvent)> = self.pending.drain(..due).collect();
        for (at, seq, e) in events {
            match e {
                OrgEvent::Budget => {
                    let remaining = (self.monthly_limit - self.month_spend).max(0.0);
                    self.emitter.push(
                        at,
                        &Event::Budget {
                            monthly_limit_usd: round2(self.monthly_limit),
                            remaining_usd: round2(remaining).min(round2(self.monthly_limit)),
                        },
                    );
                }
                OrgEvent::Benchmark(suite) => {
                    let day = self.day_of(at);
                    let previous = day
                        .checked_sub(1)
                        .and_then(|d| self.ledger.kpis(d, d + 1).quality)
                        // Before the start the organisation was the same, with its rhythm.
                        .unwrap_or(
                            self.calibration.quality + self.weekend_quality(at - Duration::days(1)),
                        );
                    let mut rng = Rng::keyed(self.scenario.seed, &[DAY, day as u64, seq, 7]);
                    let (name, base) = BENCHMARKS[suite];
                    let score = base
                        + 0.1 * day as f64
                        + rng.uniform(-1.5, 1.5)
                        + 5.0 * (previous - self.calibration.quality);
                    self.emitter.push(
                        at,
                        &Event::Benchmark {
                            suite: name,
                            total_score: round2(score.max(0.0)),
                        },
                    );
                }
                OrgEvent::ScalingDecision { id, action, signal } => {
                    let (signal, strategy) = SCALING_SIGNALS[signal];
                    self.emitter.push(
                        at,
                        &Event::ScalingDecision {
                            decision_id: &id,
                            action,
                            source_strategy: strategy,
                            signal,
                            rationale: None,
                        },
                    );
                }
                OrgEvent::ScalingOutcome { id, outcome } => {
                    self.emitter.push(
                        at,
                        &Event::ScalingOutcome {
                            decision_id: &id,
                            outcome,
                        },
                    );
                }
                OrgEvent::Evolution {
                    agent,
                    axis,
                    applied,
                    proposed_at,
                } => {
                    let id = self.agents[agent].id.clone();
                    self.emitter.push(
                        at,
                        &Event::Evolution {
                            agent_id: &id,
                            axis,
                            applied,
                            proposed_at,
                        },
                    );
                }
            }
        }
    }

    /// The KPIs the organisation would show with every agent on `knobs`, under the faults
    /// active at `at` (`None`: no faults), estimated from `n` simulated tasks. Two calls with
    /// the same `at` and `n` draw the same random numbers, so their difference is the effect
    /// of the knobs alone (the oracle that judges whether a change is harmful).
    pub fn expected_kpis(&self, knobs: &Knobs, at: Option<DateTime<Utc>>, n: u64) -> Kpis {
        let mut ledger = Ledger::default();
        let agents = self.agents.len().max(1) as u64;
        for j in 0..n {
            let i = (j % agents) as usize;
            let Some(agent) = self.agents.get(i) else {
                break;
            };
            let cond = at.map_or_else(Conditions::default, |t| {
                self.conditions(agent.department, t)
            });
            let mut rng = Rng::keyed(
                self.scenario.seed,
                &[if at.is_some() { ORACLE } else { CALIBRATION }, j],
            );
            let o = simulate_task(
                &self.scenario.model,
                knobs,
                &cond,
                &agent.traits,
                self.scenario.org.multi_agent_share,
                &mut rng,
            );
            ledger.record(0, &o);
        }
        ledger.kpis(0, 1)
    }
}

/// Saturday or Sunday, UTC.
fn is_weekend(t: DateTime<Utc>) -> bool {
    matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The roster: agents assigned to departments by largest deficit (so every share holds to
/// within one agent), roles rotating inside each department, skills drawn per agent and
/// centred so that the organisation's averages are the model's.
fn roster(s: &Scenario) -> Vec<SimAgent> {
    let shares = s.org.shares();
    let n = s.org.agents as usize;
    let mut counts = vec![0usize; shares.len()];
    let mut raw = Vec::with_capacity(n);
    for i in 0..n {
        let pick = (0..shares.len())
            .max_by(|&a, &b| {
                let da = shares[a].1 * (i + 1) as f64 - counts[a] as f64;
                let db = shares[b].1 * (i + 1) as f64 - counts[b] as f64;
                da.total_cmp(&db).then(b.cmp(&a))
            })
            .unwrap_or(0);
        let dept = shares[pick].0;
        let roles = STANDARD_DEPARTMENTS
            .iter()
            .find(|(d, _, _)| *d == dept)
            .map_or(&[][..], |(_, _, r)| *r);
        let role = roles
            .get(counts[pick] % roles.len().max(1))
            .copied()
            .unwrap_or("agent");
        counts[pick] += 1;
        let mut rng = Rng::keyed(s.seed, &[ROSTER, i as u64]);
        let q = rng.normal() * s.model.agent_quality_sd;
        let p = rng.normal() * s.model.agent_success_sd;
        let speed = rng.jitter(0.25);
        raw.push((dept, role, q, p, speed));
    }
    let mean_q = raw.iter().map(|r| r.2).sum::<f64>() / n.max(1) as f64;
    let mean_p = raw.iter().map(|r| r.3).sum::<f64>() / n.max(1) as f64;
    raw.into_iter()
        .enumerate()
        .map(|(i, (department, role, q, p, speed))| SimAgent {
            id: format!("agent-{i:04}"),
            department,
            role,
            traits: AgentTraits {
                quality_offset: q - mean_q,
                success_offset: (p - mean_p).clamp(-0.15, 0.1),
                speed,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn roster_follows_the_shares_and_the_org_document_validates() {
        let s = scenario("name: t\ndays: 3\norg:\n  agents: 40\n");
        let w = World::new(&s, true);
        let count = |d: &str| w.agents().iter().filter(|a| a.department == d).count();
        assert_eq!(count("engineering"), 14);
        assert_eq!(count("support"), 10);
        assert_eq!(count("operations"), 4);
        let doc = w.org_document();
        assert!(doc.validate().is_ok());
        assert_eq!(doc.agents.len(), 40);
        assert!(w.monthly_limit() > 0.0);
    }

    /// Issue 13: a team task's coordination spend was booked to a random colleague of the same
    /// department, so in a canary a change's coordination savings landed mostly on control
    /// agents. Every dollar of a task is now the owner's.
    #[test]
    fn a_team_task_is_paid_by_the_agent_that_owns_it() {
        let s = scenario("name: t\ndays: 3\norg:\n  agents: 30\n  multi_agent_share: 1.0\n");
        let mut w = World::new(&s, true);
        let knobs = vec![w.initial_knobs(); w.agents().len()];
        for h in 0..6 {
            let t0 = s.start + Duration::hours(h);
            w.step(h as u64, t0, t0 + Duration::hours(1), &knobs);
        }
        let text = String::from_utf8(w.emitter().take().unwrap()).unwrap_or_default();
        let mut owner = std::collections::HashMap::new();
        let mut costs = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v["type"].as_str() {
                Some("task.completed") => {
                    owner.insert(v["task_id"].clone(), v["agent_id"].clone());
                }
                Some("cost.recorded") => costs.push(v),
                _ => {}
            }
        }
        let coordination: Vec<&serde_json::Value> = costs
            .iter()
            .filter(|c| c["category"] == "coordination")
            .collect();
        assert!(
            coordination.len() > 20,
            "{} coordination costs",
            coordination.len()
        );
        for c in costs {
            assert_eq!(Some(&c["agent_id"]), owner.get(&c["task_id"]), "{c}");
        }
    }

    #[test]
    fn a_day_of_events_is_accepted_by_the_real_parser() {
        let s = scenario("name: t\ndays: 3\norg:\n  agents: 12\n");
        let mut w = World::new(&s, true);
        let knobs = vec![w.initial_knobs(); w.agents().len()];
        let mut tasks = 0;
        for h in 0..26 {
            let t0 = s.start + Duration::hours(h);
            tasks += w.step(h as u64, t0, t0 + Duration::hours(1), &knobs).tasks;
        }
        let text = String::from_utf8(w.emitter().take().unwrap()).unwrap_or_default();
        let mut types = std::collections::BTreeSet::new();
        for line in text.lines() {
            match kaizen_store::parse::parse_event(line) {
                Ok(e) => {
                    types.insert(e.type_name());
                }
                Err(e) => panic!("{line}: {e:?}"),
            }
        }
        assert!(tasks > 100, "{tasks}");
        for t in [
            "task.completed",
            "cost.recorded",
            "coordination.measured",
            "telemetry.event",
            "budget.status",
            "benchmark.run",
            "scaling.decision",
            "scaling.outcome",
            "evolution.outcome",
        ] {
            assert!(types.contains(t), "no {t} in {types:?}");
        }
        assert_eq!(w.ledger().day(0).tasks + w.ledger().day(1).tasks, tasks);
    }

    #[test]
    fn faults_apply_to_their_department_and_time() {
        let s = scenario(
            "name: t\ndays: 10\nfaults:\n  - kind: quality_drop\n    at_day: 2\n    until_day: 4\n    department: support\n    strength: 3\n",
        );
        let w = World::new(&s, false);
        let at = |d: f64| s.start + crate::scenario::days(d);
        assert_eq!(w.conditions("support", at(1.0)).quality_delta, 0.0);
        assert_eq!(w.conditions("support", at(2.5)).quality_delta, -3.0);
        assert_eq!(w.conditions("sales", at(2.5)).quality_delta, 0.0);
        assert_eq!(w.conditions("support", at(4.0)).quality_delta, 0.0);
    }

    #[test]
    fn a_weekly_rhythm_lowers_weekend_volume_and_quality_and_keeps_the_week_mean() {
        // 2026-03-16 is a Monday: days 0–4 are weekdays, 5–6 the weekend.
        let text = "name: t\nstart: 2026-03-16T00:00:00Z\ndays: 7\norg:\n  agents: 40\n  \
                    seasonality:\n    weekend_volume: 0.4\n    weekend_quality_delta: -1.5\n";
        let s = scenario(text);
        let mut w = World::new(&s, false);
        let mean: f64 = (0..7)
            .map(|d| w.weekly_volume(s.start + Duration::days(d)))
            .sum::<f64>()
            / 7.0;
        assert!((mean - 1.0).abs() < 1e-12, "{mean}");
        assert_eq!(w.weekend_quality(s.start + Duration::days(5)), -1.5);
        assert_eq!(w.weekend_quality(s.start + Duration::days(4)), 0.0);
        let knobs = vec![w.initial_knobs(); w.agents().len()];
        for h in 0..7 * 24 {
            let t0 = s.start + Duration::hours(h);
            w.step(h as u64, t0, t0 + Duration::hours(1), &knobs);
        }
        let weekday = w.ledger().day(2);
        let weekend = w.ledger().day(5);
        let ratio = weekend.tasks as f64 / weekday.tasks as f64;
        assert!((0.3..0.5).contains(&ratio), "weekend/weekday tasks {ratio}");
        let q = |d: usize| w.ledger().kpis(d, d + 1).quality.unwrap_or_default();
        assert!(q(2) - q(5) > 1.0, "weekday {} weekend {}", q(2), q(5));

        // The defaults change nothing: the same draws as an organisation without the key.
        let flat = scenario("name: t\ndays: 2\norg:\n  agents: 10\n");
        let explicit = scenario(
            "name: t\ndays: 2\norg:\n  agents: 10\n  seasonality:\n    weekend_volume: 1\n    daily_amplitude: 1\n",
        );
        let run = |s: &Scenario| {
            let mut w = World::new(s, false);
            let knobs = vec![w.initial_knobs(); w.agents().len()];
            (0..48)
                .map(|h| {
                    let t0 = s.start + Duration::hours(h);
                    w.step(h as u64, t0, t0 + Duration::hours(1), &knobs).tasks
                })
                .collect::<Vec<u64>>()
        };
        assert_eq!(run(&flat), run(&explicit));
    }
}
