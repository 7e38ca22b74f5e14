//! Shared helpers: generate a dataset in memory and recompute the built-in rules' inputs for a
//! window directly from its events, following `docs/snapshot.md` (agent-mean quality and
//! success, ratio-of-means overhead, burn = window spend ÷ days, executed ÷ decided with
//! pending and deferred decisions excluded, latest benchmark delta per suite).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use kaizen_core::event::Timestamp;
use kaizen_core::rules::BuiltinThresholds;
use kaizen_sim::{Fault, SimSpec, generate};
use serde::Deserialize;

/// A date at midnight UTC.
pub fn day(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad date"))
}

pub fn spec(agents: u32, days: u32, seed: u64, end: DateTime<Utc>, faults: Vec<Fault>) -> SimSpec {
    SimSpec {
        faults,
        ..SimSpec::new(agents, days, seed, end)
    }
}

pub fn run(spec: &SimSpec) -> Vec<u8> {
    let mut out = Vec::new();
    generate(spec, &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// The fields of any event type that the statistics need.
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    ts: String,
    agent_id: Option<String>,
    department: Option<String>,
    success: Option<bool>,
    quality_score: Option<f64>,
    category: Option<String>,
    cost_usd: Option<f64>,
    remaining_usd: Option<f64>,
    turns_sas: Option<f64>,
    turns_mas: Option<f64>,
    redundancy: Option<f64>,
    straggler_gap_ratio: Option<f64>,
    decision_id: Option<String>,
    outcome: Option<String>,
    count: Option<u64>,
    suite: Option<String>,
    total_score: Option<f64>,
}

#[derive(Debug, Default)]
struct AgentAcc {
    tasks: u64,
    successes: u64,
    q_sum: f64,
    q_n: u64,
}

impl AgentAcc {
    fn quality(&self) -> Option<f64> {
        (self.q_n > 0).then(|| self.q_sum / self.q_n as f64)
    }
    fn success(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.successes as f64 / self.tasks as f64)
    }
}

fn mean_over_agents(
    m: &HashMap<String, AgentAcc>,
    f: impl Fn(&AgentAcc) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = m.values().filter_map(f).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The key statistics of one window.
#[derive(Debug, Default, Clone)]
pub struct WindowStats {
    pub agent_count: u64,
    pub avg_quality: Option<f64>,
    pub avg_success: Option<f64>,
    pub quality_halves: (Option<f64>, Option<f64>),
    pub success_halves: (Option<f64>, Option<f64>),
    pub dept_quality: BTreeMap<String, Option<f64>>,
    pub total_spend: f64,
    pub coordination_ratio: f64,
    pub days_until_exhausted: Option<f64>,
    pub overhead_pct_mean: Option<f64>,
    pub overhead_pct_sums: Option<f64>,
    pub overhead_halves: (Option<f64>, Option<f64>),
    pub straggler: Option<f64>,
    pub redundancy: Option<f64>,
    pub coordination_samples: u64,
    pub findings: u64,
    pub findings_halves: (u64, u64),
    pub scaling_decisions: u64,
    pub scaling_decided: u64,
    pub scaling_failure_rate: Option<f64>,
    pub benchmark_runs: u64,
    pub benchmark_worst_delta: Option<f64>,
}

impl WindowStats {
    /// The built-in rules (default thresholds) these statistics trip.
    pub fn tripped(&self) -> BTreeSet<&'static str> {
        let t = BuiltinThresholds::default();
        let mut s = BTreeSet::new();
        if self.agent_count > 0 {
            if self.avg_quality.is_some_and(|q| q < t.quality_declining) {
                s.insert("quality_declining");
            }
            if self.avg_success.is_some_and(|r| r < t.success_rate_drop) {
                s.insert("success_rate_drop");
            }
        }
        if self
            .days_until_exhausted
            .is_some_and(|d| d.floor() <= f64::from(t.budget_overrun_days))
        {
            s.insert("budget_overrun");
        }
        if self.coordination_ratio > t.coordination_cost_ratio {
            s.insert("coordination_cost_ratio");
        }
        let over = |o: Option<f64>| o.is_some_and(|v| v > t.coordination_overhead_pct);
        if over(self.overhead_pct_mean) || over(self.overhead_pct_sums) {
            s.insert("coordination_overhead");
        }
        if self.straggler.is_some_and(|v| v > t.straggler_gap_ratio) {
            s.insert("straggler_bottleneck");
        }
        if self.redundancy.is_some_and(|v| v > t.redundancy_rate) {
            s.insert("redundancy");
        }
        if self.scaling_decided >= t.scaling_min_decisions
            && self
                .scaling_failure_rate
                .is_some_and(|f| f > t.scaling_failure_rate)
        {
            s.insert("scaling_failure");
        }
        if self.findings > t.error_spike_findings {
            s.insert("error_spike");
        }
        if self.benchmark_runs >= t.benchmark_min_runs
            && self.benchmark_worst_delta.is_some_and(|d| d < -5.0)
        {
            s.insert("benchmark_regression");
        }
        s
    }
}

/// Statistics of `[until - days, until)` computed from an NDJSON dataset.
pub fn window_stats(data: &[u8], until: DateTime<Utc>, days: i64) -> WindowStats {
    let since = until - TimeDelta::days(days);
    let mid = since + (until - since) / 2;
    let mut agents: HashMap<String, AgentAcc> = HashMap::new();
    let mut halves: [HashMap<String, AgentAcc>; 2] = [HashMap::new(), HashMap::new()];
    let mut depts: BTreeMap<String, HashMap<String, AgentAcc>> = BTreeMap::new();
    let mut spend: BTreeMap<String, f64> = BTreeMap::new();
    let mut latest_status: Option<(DateTime<Utc>, f64)> = None;
    let (mut o_sum, mut o_n, mut sas_sum, mut mas_sum) = (0.0, 0u64, 0.0, 0.0);
    let mut o_half = [(0.0, 0u64); 2];
    let (mut st_sum, mut st_n, mut r_sum, mut r_n) = (0.0, 0u64, 0.0, 0u64);
    let mut findings = 0u64;
    let mut findings_halves = (0u64, 0u64);
    let mut decisions: Vec<String> = Vec::new();
    let mut outcomes: HashMap<String, String> = HashMap::new();
    let mut runs: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    let mut s = WindowStats::default();

    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let e: Line = serde_json::from_slice(line).unwrap_or_else(|err| panic!("{err}"));
        let ts = Timestamp::parse(&e.ts)
            .unwrap_or_else(|err| panic!("{err}"))
            .0;
        // Outcomes join their decision whenever they were recorded.
        if e.kind == "scaling.outcome" {
            if let (Some(d), Some(o)) = (e.decision_id.clone(), e.outcome.clone()) {
                outcomes.insert(d, o);
            }
            continue;
        }
        if e.kind == "budget.status" && ts <= until {
            if latest_status.is_none_or(|(t, _)| ts >= t) {
                latest_status = e.remaining_usd.map(|r| (ts, r));
            }
            continue;
        }
        if ts < since || ts >= until {
            continue;
        }
        let half = usize::from(ts >= mid);
        match e.kind.as_str() {
            "task.completed" => {
                let a = e.agent_id.clone().unwrap_or_default();
                let dept = e.department.clone().unwrap_or_default();
                let accs = [
                    agents.entry(a.clone()).or_default(),
                    halves[half].entry(a.clone()).or_default(),
                ];
                for acc in accs {
                    acc.tasks += 1;
                    acc.successes += u64::from(e.success == Some(true));
                    if let Some(q) = e.quality_score {
                        acc.q_sum += q;
                        acc.q_n += 1;
                    }
                }
                let acc = depts.entry(dept).or_default().entry(a).or_default();
                if let Some(q) = e.quality_score {
                    acc.q_sum += q;
                    acc.q_n += 1;
                }
            }
            "cost.recorded" => {
                *spend
                    .entry(e.category.clone().unwrap_or_default())
                    .or_default() += e.cost_usd.unwrap_or_default();
            }
            "coordination.measured" => {
                if let (Some(a), Some(b)) = (e.turns_sas, e.turns_mas) {
                    let o = (b - a) / a * 100.0;
                    o_sum += o;
                    o_n += 1;
                    o_half[half].0 += o;
                    o_half[half].1 += 1;
                    sas_sum += a;
                    mas_sum += b;
                }
                if let Some(v) = e.straggler_gap_ratio {
                    st_sum += v;
                    st_n += 1;
                }
                if let Some(v) = e.redundancy {
                    r_sum += v;
                    r_n += 1;
                }
                s.coordination_samples += 1;
            }
            "error.finding" => {
                let c = e.count.unwrap_or(1);
                findings += c;
                if half == 0 {
                    findings_halves.0 += c;
                } else {
                    findings_halves.1 += c;
                }
            }
            "scaling.decision" => decisions.push(e.decision_id.clone().unwrap_or_default()),
            "benchmark.run" => runs
                .entry(e.suite.clone().unwrap_or_default())
                .or_default()
                .push((ts, e.total_score.unwrap_or_default())),
            _ => {}
        }
    }

    s.agent_count = agents.len() as u64;
    s.avg_quality = mean_over_agents(&agents, AgentAcc::quality);
    s.avg_success = mean_over_agents(&agents, AgentAcc::success);
    s.quality_halves = (
        mean_over_agents(&halves[0], AgentAcc::quality),
        mean_over_agents(&halves[1], AgentAcc::quality),
    );
    s.success_halves = (
        mean_over_agents(&halves[0], AgentAcc::success),
        mean_over_agents(&halves[1], AgentAcc::success),
    );
    s.dept_quality = depts
        .iter()
        .map(|(d, m)| (d.clone(), mean_over_agents(m, AgentAcc::quality)))
        .collect();
    s.total_spend = spend.values().sum();
    if s.total_spend > 0.0 {
        s.coordination_ratio =
            spend.get("coordination").copied().unwrap_or_default() / s.total_spend;
        let daily = s.total_spend / days as f64;
        s.days_until_exhausted = latest_status.map(|(_, r)| r / daily);
    }
    if o_n > 0 {
        s.overhead_pct_mean = Some(o_sum / o_n as f64);
        s.overhead_pct_sums = Some((mas_sum - sas_sum) / sas_sum * 100.0);
    }
    let h = |(sum, n): (f64, u64)| (n > 0).then(|| sum / n as f64);
    s.overhead_halves = (h(o_half[0]), h(o_half[1]));
    s.straggler = (st_n > 0).then(|| st_sum / st_n as f64);
    s.redundancy = (r_n > 0).then(|| r_sum / r_n as f64);
    s.findings = findings;
    s.findings_halves = findings_halves;
    s.scaling_decisions = decisions.len() as u64;
    // Pending (no outcome) and deferred decisions are neither successes nor failures.
    let decided: Vec<&String> = decisions
        .iter()
        .filter_map(|d| outcomes.get(d))
        .filter(|o| o.as_str() != "deferred")
        .collect();
    s.scaling_decided = decided.len() as u64;
    if !decided.is_empty() {
        let executed = decided.iter().filter(|o| o.as_str() == "executed").count();
        s.scaling_failure_rate = Some(1.0 - executed as f64 / decided.len() as f64);
    }
    for list in runs.values_mut() {
        s.benchmark_runs += list.len() as u64;
        list.sort_by_key(|(t, _)| *t);
        if list.len() >= 2 {
            let d = list[list.len() - 1].1 - list[list.len() - 2].1;
            s.benchmark_worst_delta = Some(s.benchmark_worst_delta.map_or(d, |w: f64| w.min(d)));
        }
    }
    s
}
