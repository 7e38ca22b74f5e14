//! The simulation loop: turns a [`SimSpec`] into time-ordered [`Rec`]ords.
//!
//! Time is walked in slots (one hour, or a fraction of an hour for very large orgs so a slot
//! never holds more than ~50k records). Per slot the task count is Poisson with a rate that
//! follows the daily and weekly rhythm; each task yields its `task.completed`, three
//! `cost.recorded`, a `coordination.measured` when multi-agent, and 1–2 `telemetry.event`.
//! Low-volume, org-level events (budget status, benchmarks, scaling, error findings,
//! evolution) are planned per day into an agenda and merged into the slots. Each slot is
//! sorted by time before it is written, so the output is ordered.

use chrono::{DateTime, Datelike, Timelike, Utc};
use kaizen_core::event::{CostCategory, ScalingAction, ScalingOutcome, Severity};
use rand::{RngExt, SeedableRng};
use rand_distr::{Poisson, StandardNormal};
use rand_pcg::Pcg64;

use crate::emit::{Emitter, Kind, Rec};
use crate::org::{self, Agent, MODELS};
use crate::{FAULT_DAYS, Fault, SimError, SimSpec, SimStats};

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
const MINUTE_MS: i64 = 60_000;

/// Relative task volume per UTC hour (normalised to mean 1 at run time): busy 08–17 UTC.
const HOUR_PROFILE: [f64; 24] = [
    0.30, 0.25, 0.22, 0.22, 0.25, 0.35, 0.55, 0.85, 1.25, 1.60, 1.75, 1.75, 1.55, 1.65, 1.75, 1.70,
    1.50, 1.25, 0.95, 0.75, 0.60, 0.50, 0.42, 0.35,
];
/// Weekday volume factor; with [`WEEKEND`] the weekly mean is 1 (5 × 1.09375 + 2 × 0.765625).
const WEEKDAY: f64 = 7.0 / 6.4;
/// Weekend volume factor: 70 % of a weekday.
const WEEKEND: f64 = 0.7 * WEEKDAY;

/// Share of multi-agent tasks.
const MULTI_AGENT_P: f64 = 0.30;
/// Share of tasks with a quality score.
const SCORED_P: f64 = 0.90;
/// Baseline quality mean before the failure penalty (net mean ≈ 7.2).
const QUALITY_MEAN: f64 = 7.3;
const QUALITY_SD: f64 = 0.9;
/// Quality penalty of a failed task.
const FAILED_QUALITY_PENALTY: f64 = 0.8;
/// Median productive input tokens per task (log-normal, σ = 0.6).
const INPUT_TOKENS_MEDIAN: f64 = 9000.0;
const INPUT_TOKENS_SIGMA: f64 = 0.6;
/// Output tokens are 8–16 % of input tokens (mean 12 %).
const OUTPUT_RATIO_MEAN: f64 = 0.12;
/// Coordination and system spend relative to productive spend (70 / 20 / 10).
const COORDINATION_FACTOR: f64 = 2.0 / 7.0;
const SYSTEM_FACTOR: f64 = 1.0 / 7.0;
/// Multi-agent tasks carry more coordination spend; single-agent tasks less, so the mix stays
/// at 20 % (0.3 × 1.6 + 0.7 × 0.742857 = 1).
const MULTI_COORDINATION: f64 = 1.6;
const SINGLE_COORDINATION: f64 = (1.0 - MULTI_AGENT_P * MULTI_COORDINATION) / (1.0 - MULTI_AGENT_P);
/// Monthly limit = this × 30 days of expected spend.
const BUDGET_HEADROOM: f64 = 3.0;
/// Records per slot the slot length is sized for.
const SLOT_RECORDS: f64 = 50_000.0;
/// Records per task, upper estimate (task, 3 costs, coordination, telemetry).
const RECORDS_PER_TASK: f64 = 7.0;

// Fault intensities (see `Fault` and docs/sim-generate.md).
const FAULT_SUCCESS_P: f64 = 0.12;
const FAULT_QUALITY_MEAN: f64 = 0.35;
const FAULT_QUALITY_SD: f64 = 0.4;
const FAULT_REWORK_P: f64 = 0.5;
const FAULT_COORDINATION_COST: f64 = 10.0;
const FAULT_OVERHEAD_COST: f64 = 1.5;

const BENCHMARK_BASE: [f64; 2] = [780.0, 640.0];
const BENCHMARK_FAULT_DROP: f64 = 12.0;

pub(crate) struct Generator<'a> {
    spec: &'a SimSpec,
    agents: Vec<Agent>,
    rng: Pcg64,
    day_rng: Pcg64,
    start_ms: i64,
    end_ms: i64,
    first_fault_day: u32,
    fault_start_ms: i64,
    faults: Faults,
    hour_profile: [f64; 24],
    tasks_per_hour: f64,
    subslots: i64,
    next_task: u64,
    next_decision: u32,
    agenda: Vec<Rec>,
    agenda_pos: usize,
    emitter: Emitter,
}

#[derive(Default)]
struct Faults {
    budget: bool,
    overhead: bool,
    coordination_cost: bool,
    stragglers: bool,
    redundancy: bool,
    errors: bool,
    quality: [bool; org::DEPARTMENTS.len()],
    success: bool,
    scaling: bool,
    benchmark: bool,
}

impl Faults {
    fn new(list: &[Fault]) -> Self {
        let mut f = Faults::default();
        for fault in list {
            match fault {
                Fault::BudgetOverrun => f.budget = true,
                Fault::CoordinationOverhead => f.overhead = true,
                Fault::CoordinationCost => f.coordination_cost = true,
                Fault::Stragglers => f.stragglers = true,
                Fault::Redundancy => f.redundancy = true,
                Fault::ErrorSpike => f.errors = true,
                Fault::QualityDecline(None) => f.quality = [true; org::DEPARTMENTS.len()],
                Fault::QualityDecline(Some(d)) => {
                    for (i, dep) in org::DEPARTMENTS.iter().enumerate() {
                        if dep.name == d {
                            f.quality[i] = true;
                        }
                    }
                }
                Fault::SuccessDrop => f.success = true,
                Fault::ScalingFailure => f.scaling = true,
                Fault::BenchmarkRegression => f.benchmark = true,
            }
        }
        f
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// A log-normal multiplier with mean 1.
fn jitter(rng: &mut Pcg64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (sigma * z - 0.5 * sigma * sigma).exp()
}

fn normal(rng: &mut Pcg64) -> f64 {
    rng.sample(StandardNormal)
}

fn poisson(rng: &mut Pcg64, lambda: f64) -> Result<u64, SimError> {
    if lambda <= 0.0 {
        return Ok(0);
    }
    let p =
        Poisson::new(lambda).map_err(|e| SimError::Internal(format!("poisson({lambda}): {e}")))?;
    let x: f64 = rng.sample(p);
    Ok(x as u64)
}

fn datetime(ms: i64) -> Result<DateTime<Utc>, SimError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| SimError::Internal(format!("timestamp {ms} ms out of range")))
}

/// Expected baseline spend of one task, averaged over the roster.
fn expected_task_cost(agents: &[Agent]) -> f64 {
    let mean_in = INPUT_TOKENS_MEDIAN * (0.5 * INPUT_TOKENS_SIGMA * INPUT_TOKENS_SIGMA).exp();
    let mean_out = mean_in * OUTPUT_RATIO_MEAN;
    let per_model = |m: usize| {
        (mean_in * MODELS[m].usd_per_m_input + mean_out * MODELS[m].usd_per_m_output) / 1e6
    };
    let productive =
        agents.iter().map(|a| per_model(a.model)).sum::<f64>() / agents.len().max(1) as f64;
    productive * (1.0 + COORDINATION_FACTOR + SYSTEM_FACTOR)
}

/// Rounds up to two significant digits.
fn round_up_2sig(x: f64) -> f64 {
    if x <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powi(x.log10().floor() as i32 - 1);
    (x / mag).ceil() * mag
}

impl<'a> Generator<'a> {
    pub(crate) fn new(spec: &'a SimSpec) -> Result<Self, SimError> {
        let mut rng = Pcg64::seed_from_u64(spec.seed);
        let day_rng = Pcg64::seed_from_u64(spec.seed ^ 0x9e37_79b9_7f4a_7c15);
        let agents = org::roster(spec.agents, &mut rng);
        let end_ms = spec.end.timestamp_millis();
        let start_ms = end_ms - i64::from(spec.days) * DAY_MS;
        let first_fault_day = spec.days.saturating_sub(FAULT_DAYS);
        let fault_start_ms = start_ms + i64::from(first_fault_day) * DAY_MS;

        let mean = HOUR_PROFILE.iter().sum::<f64>() / 24.0;
        let mut hour_profile = HOUR_PROFILE;
        for h in &mut hour_profile {
            *h /= mean;
        }
        let peak = hour_profile.iter().copied().fold(0.0, f64::max);
        let tasks_per_hour = f64::from(spec.agents) * spec.tasks_per_agent_day / 24.0;
        let peak_records = tasks_per_hour * peak * WEEKDAY * 1.5 * RECORDS_PER_TASK;
        let subslots = ((peak_records / SLOT_RECORDS).ceil() as i64).clamp(1, 3600);

        let expected_daily =
            f64::from(spec.agents) * spec.tasks_per_agent_day * expected_task_cost(&agents);
        let monthly_limit = round_up_2sig(BUDGET_HEADROOM * 30.0 * expected_daily);
        let emitter = Emitter::new(spec.seed, &agents, start_ms, expected_daily, monthly_limit)?;

        Ok(Self {
            spec,
            agents,
            rng,
            day_rng,
            start_ms,
            end_ms,
            first_fault_day,
            fault_start_ms,
            faults: Faults::new(&spec.faults),
            hour_profile,
            tasks_per_hour,
            subslots,
            next_task: 0,
            next_decision: 0,
            agenda: Vec::new(),
            agenda_pos: 0,
            emitter,
        })
    }

    pub(crate) fn run(mut self, out: &mut impl std::io::Write) -> Result<SimStats, SimError> {
        let mut buf: Vec<Rec> = Vec::with_capacity(1024);
        let mut order: Vec<(i64, u32)> = Vec::with_capacity(1024);
        for day in 0..self.spec.days {
            let day_start = self.start_ms + i64::from(day) * DAY_MS;
            self.plan_day(day, day_start);
            for hour in 0..24 {
                let hour_start = day_start + hour * HOUR_MS;
                let t = datetime(hour_start)?;
                let week = match t.weekday().num_days_from_monday() {
                    5 | 6 => WEEKEND,
                    _ => WEEKDAY,
                };
                let rate = self.tasks_per_hour * self.hour_profile[t.hour() as usize] * week;
                let len = HOUR_MS / self.subslots;
                for sub in 0..self.subslots {
                    let s0 = hour_start + sub * len;
                    let s1 = if sub + 1 == self.subslots {
                        hour_start + HOUR_MS
                    } else {
                        s0 + len
                    };
                    buf.clear();
                    let lambda = rate * (s1 - s0) as f64 / HOUR_MS as f64;
                    let n = poisson(&mut self.rng, lambda)?;
                    let first_task = self.next_task;
                    for _ in 0..n {
                        self.task(s0, s1, &mut buf);
                    }
                    while let Some(r) = self.agenda.get(self.agenda_pos) {
                        if r.ts >= s1 {
                            break;
                        }
                        buf.push(r.clone());
                        self.agenda_pos += 1;
                    }
                    // Sort (ts, insertion index) keys rather than the records: a stable
                    // order at a fraction of the cost of moving the records.
                    order.clear();
                    order.extend(buf.iter().enumerate().map(|(i, r)| (r.ts, i as u32)));
                    order.sort_unstable();
                    self.number_tasks(&mut buf, &order, first_task);
                    for &(_, i) in &order {
                        self.emitter.write(&buf[i as usize], out)?;
                    }
                }
            }
        }
        self.emitter.finish(out)
    }

    /// Renumbers the slot's tasks in time order (they were numbered in generation order from
    /// `first`), so task ids increase with `ts`. A task's costs and coordination measurement
    /// follow it in the sorted slot.
    fn number_tasks(&self, buf: &mut [Rec], order: &[(i64, u32)], first: u64) {
        let n = (self.next_task - first) as usize;
        if n == 0 {
            return;
        }
        let mut map = vec![0u64; n];
        let mut next = first;
        for &(_, i) in order {
            match &mut buf[i as usize].kind {
                Kind::Task { task, .. } => {
                    map[(*task - first) as usize] = next;
                    *task = next;
                    next += 1;
                }
                Kind::Cost { task, .. } | Kind::Coordination { task, .. } => {
                    *task = map[(*task - first) as usize];
                }
                _ => {}
            }
        }
    }

    fn in_fault(&self, ts: i64) -> bool {
        ts >= self.fault_start_ms
    }

    /// Generates one task (and, under a quality fault, possibly its rework).
    fn task(&mut self, s0: i64, s1: i64, buf: &mut Vec<Rec>) {
        let a = self.rng.random_range(0..self.agents.len());
        let ts = self.rng.random_range(s0..s1);
        self.task_for(a, ts, s0, buf);
        let dept = self.agents[a].dept;
        if self.faults.quality[dept] && self.in_fault(ts) && self.rng.random_bool(FAULT_REWORK_P) {
            let ts = self.rng.random_range(s0..s1);
            self.task_for(a, ts, s0, buf);
        }
    }

    fn task_for(&mut self, a: usize, ts: i64, s0: i64, buf: &mut Vec<Rec>) {
        let fault = self.in_fault(ts);
        let task = self.next_task;
        self.next_task += 1;
        let agent = &self.agents[a];
        let dept = agent.dept;
        let model = agent.model;
        let success_p = if fault && self.faults.success {
            FAULT_SUCCESS_P
        } else {
            agent.success_p
        };
        let quality_offset = agent.quality_offset;
        let speed = agent.speed;
        let rng = &mut self.rng;

        let success = rng.random_bool(success_p);
        let multi = rng.random_bool(MULTI_AGENT_P);
        let duration = round_to(
            (420.0 * speed * (0.8 * normal(rng)).exp() * if multi { 1.4 } else { 1.0 }).max(1.0),
            1,
        );
        let (quality, collab) = if rng.random_bool(SCORED_P) {
            let q = if fault && self.faults.quality[dept] {
                FAULT_QUALITY_MEAN + FAULT_QUALITY_SD * normal(rng)
            } else {
                QUALITY_MEAN + quality_offset + QUALITY_SD * normal(rng)
                    - if success { 0.0 } else { FAILED_QUALITY_PENALTY }
            };
            let c = 6.8 + 0.9 * normal(rng) + if multi { 0.4 } else { 0.0 };
            (
                Some(round_to(q.clamp(0.0, 10.0), 2)),
                Some(round_to(c.clamp(0.0, 10.0), 2)),
            )
        } else {
            (None, None)
        };

        // Telemetry emitted while the task ran (clamped into the slot to keep the order).
        let n_tel = 1 + u32::from(rng.random_bool(0.5));
        let run_start = (ts - (duration * 1000.0) as i64).max(s0);
        for _ in 0..n_tel {
            let t = if run_start < ts {
                rng.random_range(run_start..=ts)
            } else {
                ts
            };
            let u: f64 = rng.random();
            let kind = if u < 0.45 {
                0
            } else if u < 0.80 {
                1
            } else if u < 0.92 {
                2
            } else {
                3
            };
            buf.push(Rec {
                ts: t,
                kind: Kind::Telemetry {
                    kind,
                    error: rng.random_bool(0.02),
                    agent: a as u32,
                },
            });
        }

        let turns: u32;
        let mut coord = None;
        if multi {
            let sas = (9.0 * (0.45 * normal(rng)).exp()).round().max(2.0);
            let ratio = if fault && self.faults.overhead {
                rng.random_range(1.9..2.3)
            } else {
                1.25 * jitter(rng, 0.06)
            };
            let mas = round_to(sas * ratio, 1);
            turns = mas.round().max(1.0) as u32;
            let er_sas = round_to((0.06 * jitter(rng, 0.4)).min(1.0), 4);
            let er_mas = round_to((er_sas * rng.random_range(1.1..1.5)).min(1.0), 4);
            let messages = (mas * rng.random_range(1.5..3.0)).round() as u64;
            let reasoning = (mas * rng.random_range(2.0..3.0)).round() as u64;
            let redundancy = if fault && self.faults.redundancy {
                rng.random_range(0.90..0.98)
            } else {
                rng.random_range(0.10..0.15)
            };
            let straggler = if fault && self.faults.stragglers {
                rng.random_range(4.5..5.5)
            } else {
                rng.random_range(1.3..1.6)
            };
            coord = Some(Kind::Coordination {
                task,
                dept: dept as u8,
                sas,
                mas,
                success,
                er_sas,
                er_mas,
                messages,
                reasoning,
                redundancy: round_to(redundancy, 3),
                straggler: round_to(straggler, 2),
            });
        } else {
            turns = (7.0 * (0.5 * normal(rng)).exp()).round().max(1.0) as u32;
        }

        buf.push(Rec {
            ts,
            kind: Kind::Task {
                task,
                agent: a as u32,
                success,
                quality,
                collab,
                duration,
                turns,
                multi,
            },
        });

        // Spend: productive, coordination and system, with consistent token counts.
        let m = &MODELS[model];
        let prod_in = (INPUT_TOKENS_MEDIAN * (INPUT_TOKENS_SIGMA * normal(rng)).exp()).max(50.0);
        let prod_out = prod_in * rng.random_range(0.08..0.16);
        let mut k_coord = COORDINATION_FACTOR
            * if multi {
                MULTI_COORDINATION
            } else {
                SINGLE_COORDINATION
            }
            * jitter(rng, 0.3);
        if fault && self.faults.coordination_cost {
            k_coord *= FAULT_COORDINATION_COST;
        }
        if fault && multi && self.faults.overhead {
            k_coord *= FAULT_OVERHEAD_COST;
        }
        let k_sys = SYSTEM_FACTOR * jitter(rng, 0.3);
        let coord_agent = if multi && self.agents.len() > 1 {
            let other = rng.random_range(0..self.agents.len() - 1);
            if other >= a { other + 1 } else { other }
        } else {
            a
        };
        for (category, k, who) in [
            (CostCategory::Productive, 1.0, a),
            (CostCategory::Coordination, k_coord, coord_agent),
            (CostCategory::System, k_sys, a),
        ] {
            let input = (prod_in * k).round() as u64;
            let output = (prod_out * k).round() as u64;
            let usd = round_to(
                (input as f64 * m.usd_per_m_input + output as f64 * m.usd_per_m_output) / 1e6,
                6,
            );
            buf.push(Rec {
                ts,
                kind: Kind::Cost {
                    agent: who as u32,
                    task,
                    category,
                    usd,
                    input,
                    output,
                    model: model as u8,
                },
            });
        }
        if let Some(kind) = coord {
            buf.push(Rec { ts, kind });
        }
    }

    /// Plans the org-level events of one day into the agenda.
    fn plan_day(&mut self, day: u32, day_start: i64) {
        // Drop consumed agenda entries, keep the pending ones (e.g. late scaling outcomes).
        self.agenda.drain(..self.agenda_pos);
        self.agenda_pos = 0;

        let fault_day = day >= self.first_fault_day;
        let fault_k = day.saturating_sub(self.first_fault_day);
        let days_left = self.spec.days - 1 - day;
        let end_ms = self.end_ms;
        let n_agents = self.agents.len();
        let rng = &mut self.day_rng;
        let add = |agenda: &mut Vec<Rec>, ts: i64, kind: Kind| {
            if ts < end_ms {
                agenda.push(Rec { ts, kind });
            }
        };
        let any_time = |rng: &mut Pcg64| day_start + rng.random_range(0..DAY_MS);

        // Budget status, once a day, just before the day ends.
        let runway_days =
            (fault_day && self.faults.budget).then(|| 5.0 + 2.0 * f64::from(days_left));
        add(
            &mut self.agenda,
            day_start + DAY_MS - 5 * MINUTE_MS,
            Kind::Budget { runway_days },
        );

        // Benchmarks: each suite once a day with ±2 points of noise and a slow upward drift.
        for (s, base) in BENCHMARK_BASE.iter().enumerate() {
            let mut total = base + 0.1 * f64::from(day) + rng.random_range(-2.0..2.0);
            if s == 0 && fault_day && self.faults.benchmark {
                total -= BENCHMARK_FAULT_DROP * f64::from(fault_k + 1);
            }
            add(
                &mut self.agenda,
                day_start + 2 * HOUR_MS + s as i64 * 7 * MINUTE_MS,
                Kind::Benchmark {
                    suite: s as u8,
                    total: round_to(total.max(0.0), 1),
                },
            );
        }

        // Error findings: a daily classifier run reporting at most one systemic finding.
        if fault_day && self.faults.errors {
            for run in 0..3 {
                let run_ts = day_start + run * 8 * HOUR_MS + rng.random_range(0..8 * HOUR_MS);
                for _ in 0..rng.random_range(2..=4u32) {
                    let u: f64 = rng.random();
                    let category = if u < 0.5 {
                        1
                    } else if u < 0.8 {
                        0
                    } else {
                        5
                    };
                    let v: f64 = rng.random();
                    let severity = if v < 0.5 {
                        Severity::High
                    } else if v < 0.9 {
                        Severity::Medium
                    } else {
                        Severity::Low
                    };
                    let count = rng.random_range(1..=3u32);
                    let agent = Some(rng.random_range(0..n_agents) as u32);
                    add(
                        &mut self.agenda,
                        run_ts,
                        Kind::Error {
                            category,
                            severity,
                            count,
                            agent,
                        },
                    );
                }
            }
        } else if rng.random_bool(0.55) {
            let ts = any_time(rng);
            let category = rng.random_range(0..ERROR_CATEGORIES_LEN as u8);
            let v: f64 = rng.random();
            let severity = if v < 0.6 {
                Severity::Low
            } else if v < 0.9 {
                Severity::Medium
            } else {
                Severity::High
            };
            let agent = rng
                .random_bool(0.7)
                .then(|| rng.random_range(0..n_agents) as u32);
            add(
                &mut self.agenda,
                ts,
                Kind::Error {
                    category,
                    severity,
                    count: 1,
                    agent,
                },
            );
        }

        // Scaling decisions. Baseline: 2–4 a day, at most one left pending (only when there
        // are 3+), at most one not executed, so no day fails more than half of its decided
        // decisions. Fault: 7–9 a day, all failed or rejected within 20 minutes.
        if fault_day && self.faults.scaling {
            for _ in 0..rng.random_range(7..=9u32) {
                let ts = day_start + rng.random_range(0..DAY_MS - HOUR_MS);
                let d = self.next_decision;
                self.next_decision += 1;
                add(&mut self.agenda, ts, decision(rng, d));
                let outcome = if rng.random_bool(0.75) {
                    ScalingOutcome::Failed
                } else {
                    ScalingOutcome::Rejected
                };
                let ots = ts + rng.random_range(MINUTE_MS..20 * MINUTE_MS);
                add(
                    &mut self.agenda,
                    ots,
                    Kind::ScalingOutcome {
                        decision: d,
                        outcome,
                    },
                );
            }
        } else {
            let k = rng.random_range(2..=4usize);
            let pending = if k >= 3 && rng.random_bool(0.5) {
                Some(rng.random_range(0..k))
            } else {
                None
            };
            let not_executed = if rng.random_bool(0.3) {
                Some(rng.random_range(0..k))
            } else {
                None
            };
            for i in 0..k {
                let ts = any_time(rng);
                let d = self.next_decision;
                self.next_decision += 1;
                add(&mut self.agenda, ts, decision(rng, d));
                if pending == Some(i) {
                    continue;
                }
                let outcome = if not_executed == Some(i) {
                    match rng.random_range(0..3u8) {
                        0 => ScalingOutcome::Deferred,
                        1 => ScalingOutcome::Rejected,
                        _ => ScalingOutcome::Failed,
                    }
                } else {
                    ScalingOutcome::Executed
                };
                let ots = ts + rng.random_range(10 * MINUTE_MS..3 * HOUR_MS);
                add(
                    &mut self.agenda,
                    ots,
                    Kind::ScalingOutcome {
                        decision: d,
                        outcome,
                    },
                );
            }
        }

        // Evolution outcomes: 2–5 a day.
        for _ in 0..rng.random_range(2..=5u32) {
            let ts = any_time(rng);
            let agent = rng.random_range(0..n_agents) as u32;
            let axis = rng.random_range(0..EVOLUTION_AXES_LEN as u8);
            let applied = rng.random_bool(0.6);
            let proposed_at = ts - rng.random_range(HOUR_MS..3 * DAY_MS);
            add(
                &mut self.agenda,
                ts,
                Kind::Evolution {
                    agent,
                    axis,
                    applied,
                    proposed_at,
                },
            );
        }

        self.agenda.sort_by_key(|r| r.ts);
    }
}

const ERROR_CATEGORIES_LEN: usize = crate::emit::ERROR_CATEGORIES.len();
const EVOLUTION_AXES_LEN: usize = crate::emit::EVOLUTION_AXES.len();

fn decision(rng: &mut Pcg64, d: u32) -> Kind {
    let signal = rng.random_range(0..crate::emit::SCALING_SIGNALS.len() as u8);
    let u: f64 = rng.random();
    let action = if u < 0.4 {
        ScalingAction::Hire
    } else if u < 0.6 {
        ScalingAction::Prune
    } else {
        ScalingAction::Hold
    };
    Kind::ScalingDecision {
        decision: d,
        action,
        signal,
    }
}
