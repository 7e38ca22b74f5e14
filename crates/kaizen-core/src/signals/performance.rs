//! Performance domain: task outcomes per agent, averaged over agents.
//!
//! The unit is the agent: each agent's mean quality, success rate and collaboration score are
//! computed first, and the org value is the mean over agents that have data, so one prolific
//! agent does not dominate. Agents without scored tasks contribute to `agent_count` but not to
//! the quality averages, which are `None` when no task was scored (never a misleading zero).
//! `daily` holds the same averages per 24-hour block of the window (the baseline of the
//! relative level rules).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::period::Seasonality;
use super::{AggregationWindow, KeyedStats, SignalSource, SourceError, merge_into, sig, trend};
use crate::rollup::{Dim, Stream, task};
use crate::snapshot::{DailyLevel, DepartmentSummary, MetricSummary, OrgPerformanceSummary};
use crate::stats::Stat;

/// Task statistics of one agent over the two halves of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentHalves {
    /// Agent id.
    pub agent_id: String,
    /// Department (from the agent registry; `unknown` when the agent is not registered).
    pub department: String,
    /// Task signals in the first half.
    pub first: Vec<Stat>,
    /// Task signals in the second half.
    pub second: Vec<Stat>,
    /// Task signals in the trend baseline (the second half's hours of an earlier week; empty
    /// without one, see [`AggregationWindow::baseline_half`]).
    pub baseline: Vec<Stat>,
}

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgPerformanceSummary, SourceError> {
    // The halves are the bulk of a snapshot's reads (agents × buckets): read them in parallel.
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| source.rollups(Stream::Task, Dim::Agent, w.first_half()));
        let second = source.rollups(Stream::Task, Dim::Agent, w.second_half());
        let first = first
            .join()
            .unwrap_or_else(|_| Err(SourceError("reading the first half panicked".into())));
        (first, second)
    });
    let (first, second) = (first?, second?);
    if first.is_empty() && second.is_empty() {
        return Ok(OrgPerformanceSummary::default());
    }
    let baseline = match w.baseline_half() {
        Some(hours) => source.rollups(Stream::Task, Dim::Agent, hours)?,
        None => Vec::new(),
    };
    let departments: HashMap<String, String> = source
        .agents()?
        .into_iter()
        .map(|a| (a.agent_id, a.department))
        .collect();
    let width = task::SIGNALS.len();
    let mut by_agent: BTreeMap<String, AgentHalves> = BTreeMap::new();
    for (half, rows) in [(0, first), (1, second), (2, baseline)] {
        for row in rows {
            if half == 2 && !by_agent.contains_key(&row.key) {
                continue; // only agents active in the window are compared
            }
            let entry = by_agent
                .entry(row.key.clone())
                .or_insert_with(|| AgentHalves {
                    department: departments
                        .get(&row.key)
                        .cloned()
                        .unwrap_or_else(|| "unknown".to_owned()),
                    agent_id: row.key,
                    first: vec![Stat::EMPTY; width],
                    second: vec![Stat::EMPTY; width],
                    baseline: vec![Stat::EMPTY; width],
                });
            let slot = match half {
                0 => &mut entry.first,
                1 => &mut entry.second,
                _ => &mut entry.baseline,
            };
            merge_into(slot, &row.stats);
        }
    }
    let agents: Vec<AgentHalves> = by_agent.into_values().collect();
    let mut summary = summarize(&agents, w.days(), w.config.trend_tolerance);
    // Whole 24-hour blocks counted back from the end, oldest first; at most
    // `MAX_DAILY_BLOCKS` of them (one read each: a window of years must not cost thousands).
    let mut end = w.hours.end;
    while end - 24 >= w.hours.start && summary.daily.len() < MAX_DAILY_BLOCKS {
        let rows = source.rollups(Stream::Task, Dim::Agent, (end - 24)..end)?;
        summary
            .daily
            .push(daily_level(&rows, AggregationWindow::time_of(end)));
        end -= 24;
    }
    summary.daily.reverse();
    if w.config.seasonality == Seasonality::Weekly && w.hours.end - 24 >= w.hours.start {
        let week = 7 * 24;
        let hours = (w.hours.end - 24 - week)..(w.hours.end - week);
        let rows = source.rollups(Stream::Task, Dim::Agent, hours)?;
        summary.daily_week_before = Some(daily_level(
            &rows,
            AggregationWindow::time_of(w.hours.end - week),
        ));
    }
    Ok(summary)
}

/// The most daily blocks a snapshot holds (the last four weeks of its window).
pub const MAX_DAILY_BLOCKS: usize = 28;

/// The organisation's level over one block from its per-agent task rows (the same unit as
/// the window's averages: the mean over agents of each agent's mean).
pub fn daily_level(rows: &[KeyedStats], until: DateTime<Utc>) -> DailyLevel {
    let mut quality = Stat::EMPTY;
    let mut success = Stat::EMPTY;
    let mut tasks = 0.0;
    for row in rows {
        let s = sig(&row.stats, task::SUCCESS);
        tasks += s.n;
        if let Some(m) = s.mean() {
            success.add(m);
        }
        if let Some(m) = sig(&row.stats, task::QUALITY).mean() {
            quality.add(m);
        }
    }
    DailyLevel {
        until,
        task_count: tasks as u64,
        avg_quality_score: quality.mean(),
        avg_success_rate: success.mean(),
    }
}

/// Mean over agents of each agent's mean of the stat picked by `pick` (agents without data
/// for it are left out).
fn agent_mean(agents: &[&AgentHalves], pick: impl Fn(&AgentHalves) -> Stat) -> Option<f64> {
    let mut acc = Stat::EMPTY;
    for a in agents {
        if let Some(m) = pick(a).mean() {
            acc.add(m);
        }
    }
    acc.mean()
}

fn whole(a: &AgentHalves, signal: usize) -> Stat {
    let mut s = sig(&a.first, signal);
    s.merge(&sig(&a.second, signal));
    s
}

/// The metrics reported with trends: (name, signal, higher is better).
const TRENDED: [(&str, usize, bool); 5] = [
    ("quality_score", task::QUALITY, true),
    ("success_rate", task::SUCCESS, true),
    ("collaboration_score", task::COLLABORATION, true),
    ("duration_seconds", task::DURATION, false),
    ("turns", task::TURNS, false),
];

/// Summarises per-agent task statistics. Pure; see the module docs for the definitions.
pub fn summarize(
    agents: &[AgentHalves],
    window_days: f64,
    tolerance: f64,
) -> OrgPerformanceSummary {
    let active: Vec<&AgentHalves> = agents
        .iter()
        .filter(|a| !whole(a, task::SUCCESS).is_empty())
        .collect();
    if active.is_empty() {
        return OrgPerformanceSummary::default();
    }
    let mut metrics = Vec::new();
    for (name, signal, higher_is_better) in TRENDED {
        let Some(value) = agent_mean(&active, |a| whole(a, signal)) else {
            continue;
        };
        let first_half = agent_mean(&active, |a| sig(&a.first, signal));
        let second_half = agent_mean(&active, |a| sig(&a.second, signal));
        // Like with like: the same weekdays and hours of an earlier week, when known.
        let baseline = agent_mean(&active, |a| sig(&a.baseline, signal));
        metrics.push(MetricSummary {
            name: name.to_owned(),
            value,
            trend: trend(
                baseline.or(first_half),
                second_half,
                higher_is_better,
                tolerance,
            ),
            first_half,
            second_half,
            window_days,
            baseline,
        });
    }

    let mut by_department: BTreeMap<&str, Vec<&AgentHalves>> = BTreeMap::new();
    for a in &active {
        by_department
            .entry(a.department.as_str())
            .or_default()
            .push(a);
    }
    let department_summaries = by_department
        .into_iter()
        .map(|(dept, members)| {
            let summary = DepartmentSummary {
                agent_count: members.len() as u64,
                task_count: members
                    .iter()
                    .map(|a| whole(a, task::SUCCESS).n as u64)
                    .sum(),
                avg_quality_score: agent_mean(&members, |a| whole(a, task::QUALITY)),
                avg_success_rate: agent_mean(&members, |a| whole(a, task::SUCCESS)),
                avg_collaboration_score: agent_mean(&members, |a| whole(a, task::COLLABORATION)),
            };
            (dept.to_owned(), summary)
        })
        .collect();

    OrgPerformanceSummary {
        avg_quality_score: agent_mean(&active, |a| whole(a, task::QUALITY)),
        avg_success_rate: agent_mean(&active, |a| whole(a, task::SUCCESS)),
        avg_collaboration_score: agent_mean(&active, |a| whole(a, task::COLLABORATION)),
        metrics,
        agent_count: active.len() as u64,
        task_count: active
            .iter()
            .map(|a| whole(a, task::SUCCESS).n as u64)
            .sum(),
        scored_task_count: active
            .iter()
            .map(|a| whole(a, task::QUALITY).n as u64)
            .sum(),
        department_summaries,
        daily: Vec::new(),
        daily_week_before: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::TrendDirection;

    /// Builds task stats from (success, quality) observations.
    fn tasks(obs: &[(bool, Option<f64>)]) -> Vec<Stat> {
        let mut v = vec![Stat::EMPTY; task::SIGNALS.len()];
        for (ok, q) in obs {
            v[task::SUCCESS].add(if *ok { 1.0 } else { 0.0 });
            if let Some(q) = q {
                v[task::QUALITY].add(*q);
            }
        }
        v
    }

    fn agent(id: &str, dept: &str, first: Vec<Stat>, second: Vec<Stat>) -> AgentHalves {
        AgentHalves {
            agent_id: id.into(),
            department: dept.into(),
            first,
            second,
            baseline: tasks(&[]),
        }
    }

    #[test]
    fn a_weekend_in_the_second_half_is_compared_with_last_weekend() {
        // First half: weekdays at quality 8. Second half: a weekend at 6.5. The same hours a
        // week earlier: also 6.5 — the organisation's rhythm, not a decline.
        let weekday = tasks(&[(true, Some(8.0)), (true, Some(8.0))]);
        let weekend = tasks(&[(true, Some(6.5))]);
        let mut a = agent("a1", "eng", weekday.clone(), weekend.clone());
        let halves = summarize(std::slice::from_ref(&a), 7.0, 0.05);
        let q = |s: &OrgPerformanceSummary| {
            s.metrics
                .iter()
                .find(|m| m.name == "quality_score")
                .map(|m| (m.baseline, m.trend))
        };
        assert_eq!(q(&halves), Some((None, TrendDirection::Declining)));
        a.baseline = weekend.clone();
        let seasonal = summarize(std::slice::from_ref(&a), 7.0, 0.05);
        assert_eq!(q(&seasonal), Some((Some(6.5), TrendDirection::Stable)));
        // A real fall against last weekend still shows.
        a.second = tasks(&[(true, Some(5.0))]);
        let worse = summarize(std::slice::from_ref(&a), 7.0, 0.05);
        assert_eq!(q(&worse), Some((Some(6.5), TrendDirection::Declining)));
    }

    #[test]
    fn golden_agent_means() {
        // a1: qualities 8, 6 (mean 7), success 2/2. a2: quality 4, success 1/2.
        // Org quality = (7 + 4) / 2 = 5.5; success = (1.0 + 0.5) / 2 = 0.75.
        let agents = vec![
            agent(
                "a1",
                "eng",
                tasks(&[(true, Some(8.0))]),
                tasks(&[(true, Some(6.0))]),
            ),
            agent(
                "a2",
                "ops",
                tasks(&[(true, Some(4.0))]),
                tasks(&[(false, None)]),
            ),
        ];
        let s = summarize(&agents, 7.0, 0.05);
        assert_eq!(s.avg_quality_score, Some(5.5));
        assert_eq!(s.avg_success_rate, Some(0.75));
        assert_eq!(s.avg_collaboration_score, None);
        assert_eq!(
            (s.agent_count, s.task_count, s.scored_task_count),
            (2, 4, 3)
        );
        let eng = &s.department_summaries["eng"];
        assert_eq!((eng.agent_count, eng.avg_quality_score), (1, Some(7.0)));
        let ops = &s.department_summaries["ops"];
        assert_eq!(ops.avg_success_rate, Some(0.5));
        // Quality: first half (8 + 4) / 2 = 6, second half only a1 scored: 6 → stable.
        let q = s.metrics.iter().find(|m| m.name == "quality_score");
        assert_eq!(
            q.map(|m| (m.first_half, m.second_half, m.trend)),
            Some((Some(6.0), Some(6.0), TrendDirection::Stable))
        );
        // Success: first (1 + 1) / 2 = 1, second (1 + 0) / 2 = 0.5 → declining.
        let r = s.metrics.iter().find(|m| m.name == "success_rate");
        assert_eq!(r.map(|m| m.trend), Some(TrendDirection::Declining));
    }

    #[test]
    fn agents_without_scores_report_no_quality() {
        let agents = vec![agent("a1", "eng", tasks(&[(true, None)]), tasks(&[]))];
        let s = summarize(&agents, 7.0, 0.05);
        assert_eq!(s.agent_count, 1);
        assert_eq!(s.avg_quality_score, None);
        assert_eq!(s.avg_success_rate, Some(1.0));
        assert!(s.metrics.iter().all(|m| m.name != "quality_score"));
    }

    #[test]
    fn empty_input_is_empty_summary() {
        assert_eq!(summarize(&[], 7.0, 0.05), OrgPerformanceSummary::default());
    }
}
