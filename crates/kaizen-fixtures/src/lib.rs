//! Test fixtures shared by kaizen's test suites (a dev-only crate: no binary depends on it): an
//! org of agents `rt-00`, `rt-01`, … spread over three departments, a deterministic generator of
//! `kaizen.event.v1` NDJSON for them with adjustable behaviour (written by the one encoder,
//! `kaizen_sim::wire`, with the simulators' one random-number stack, `kaizen_sim::rng`),
//! hand-built config proposals, and the store set-ups the suites share (ingesting, queueing a
//! proposal the way a cycle does). Deterministic on every platform (quality scores rounded to
//! two decimals, costs to five). Fixtures panic on bad input: they are test code.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::event::{
    CostCategory, CostRecorded, ErrorFinding, Event, Name, NonNegative, Score10, Severity,
    TaskCompleted, TelemetryEvent, Timestamp,
};
use kaizen_core::improve::{ImprovementProposal, Rationale, Risk, RollbackPlan};
use kaizen_core::org::{Agent, OrgChange, OrgDocument, SettingValue};
use kaizen_core::rollout::check::Metric;
use kaizen_core::rules::RuleSeverity;

use kaizen_sim::rng::Rng;
use kaizen_sim::wire;

/// An instant from RFC 3339.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
}

/// The departments and roles the test agents are spread over: 10 in engineering (its own
/// stratum at the default `min_stratum_size` of 10), 6 in support and 4 in research (pooled).
const LAYOUT: [(&str, &[&str], usize); 3] = [
    (
        "engineering",
        &[
            "backend-engineer",
            "frontend-engineer",
            "qa-engineer",
            "sre",
        ],
        10,
    ),
    ("support", &["support-agent", "support-lead"], 6),
    ("research", &["researcher", "data-scientist"], 4),
];

/// `n` agents `rt-00`, `rt-01`, … in engineering, support and research (in the proportions of
/// [`LAYOUT`], which is exact for 20), roles round-robin within each department.
pub fn agents(n: usize) -> Vec<Agent> {
    let total: usize = LAYOUT.iter().map(|(_, _, k)| k).sum();
    let mut out = Vec::with_capacity(n);
    let mut given = 0;
    for (i, (dept, roles, share)) in LAYOUT.iter().enumerate() {
        let count = if i + 1 == LAYOUT.len() {
            n - given
        } else {
            (n * share).div_ceil(total).min(n - given)
        };
        for k in 0..count {
            out.push(Agent {
                id: format!("rt-{:02}", given + k),
                role: roles[k % roles.len()].to_owned(),
                department: (*dept).to_owned(),
            });
        }
        given += count;
    }
    out
}

/// The standard org document with `agents`.
pub fn org_with(agents: &[Agent]) -> OrgDocument {
    let mut doc = OrgDocument::standard();
    doc.agents = agents.to_vec();
    doc.canonical()
}

/// How the agents behave during a stretch of hours. Each agent has its own baseline (agents
/// differ a lot in quality, which is what makes the per-agent statistics realistic); the
/// factors scale it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Multiplies each agent's mean quality score.
    pub quality: f64,
    /// Multiplies each agent's success probability.
    pub success: f64,
    /// Multiplies each agent's cost per task.
    pub cost: f64,
    /// Whether tasks are reported at all (cost and errors are reported either way).
    pub tasks: bool,
    /// Multiplies the runtime's error rate (5 % of tasks report an error in `telemetry.event`).
    pub errors: f64,
}

impl Behaviour {
    /// Business as usual.
    pub const NORMAL: Behaviour = Behaviour {
        quality: 1.0,
        success: 1.0,
        cost: 1.0,
        tasks: true,
        errors: 1.0,
    };

    /// Quality scaled by `factor` (0.75 = a 25 % drop).
    pub fn quality(factor: f64) -> Behaviour {
        Behaviour {
            quality: factor,
            ..Behaviour::NORMAL
        }
    }

    /// The runtime's errors scaled by `factor` (3.0 = three times as many).
    pub fn errors(factor: f64) -> Behaviour {
        Behaviour {
            errors: factor,
            ..Behaviour::NORMAL
        }
    }

    /// No tasks reported (an idle or silent org).
    pub const NO_TASKS: Behaviour = Behaviour {
        quality: 1.0,
        success: 1.0,
        cost: 1.0,
        tasks: false,
        errors: 1.0,
    };
}

/// Agent `i`'s mean quality (4.0 … 9.0, spread evenly over the agents), success probability
/// (0.86 … 0.94) and cost per task (USD).
fn baseline(i: usize, n: usize) -> (f64, f64, f64) {
    let spread = if n > 1 {
        i as f64 / (n - 1) as f64
    } else {
        0.5
    };
    // Interleave so that quality does not follow the id (and thus not the department).
    let q = 4.0 + 5.0 * ((spread * 7.0) % 1.0);
    let s = 0.86 + 0.08 * ((spread * 3.0) % 1.0);
    let c = 0.04 + 0.02 * spread;
    (q, s, c)
}

/// NDJSON for `agents` over the `hours` whole hours starting at `from` (which must be on an
/// hour), behaving as `b`. Per agent and hour: 2 or 3 tasks (alternating, 2.5 on average)
/// with noisy quality scores and random success, one `cost.recorded` for the hour, and an
/// `error.finding` in every fifth hour. Deterministic in (agents, from, hours, b, seed); event
/// ids are unique per agent, hour and seed.
pub fn ndjson(
    agents: &[Agent],
    from: DateTime<Utc>,
    hours: i64,
    b: Behaviour,
    seed: u64,
) -> Vec<u8> {
    ndjson_with(agents, from, hours, seed, |_, _| b)
}

/// As [`ndjson`], with each agent's behaviour in each hour given by `b(agent index, hour)`,
/// the hour counted from `from` (0, 1, …): time effects and group-specific changes.
pub fn ndjson_with(
    agents: &[Agent],
    from: DateTime<Utc>,
    hours: i64,
    seed: u64,
    b: impl Fn(usize, i64) -> Behaviour,
) -> Vec<u8> {
    let mut out = Vec::new();
    let n = agents.len();
    let hour0 = from.timestamp() / 3600;
    let name = |s: &str| Name::new(s).unwrap_or_else(|e| panic!("bad fixture name {s:?}: {e}"));
    let mut write = |e: Event| {
        wire::write_line(&mut out, &e).unwrap_or_else(|err| panic!("bad fixture event: {err}"));
    };
    for h in 0..hours {
        let start = from + Duration::hours(h);
        let abs_hour = (hour0 + h) as u64;
        for (i, a) in agents.iter().enumerate() {
            let b = b(i, h);
            let (q, s, c) = baseline(i, n);
            let mut rng = Rng::keyed(seed, &[abs_hour, i as u64]);
            let tasks = 2 + (i as u64 + abs_hour) % 2;
            let tag = format!("{seed}-{}-{abs_hour}", a.id);
            if b.tasks {
                for k in 0..tasks {
                    let ts = start + Duration::minutes(5 + 20 * k as i64);
                    let quality = (q * b.quality + 0.8 * rng.normal()).clamp(0.0, 10.0);
                    let success = rng.unit() < (s * b.success).min(1.0);
                    write(Event::TaskCompleted(TaskCompleted {
                        id: Some(name(&format!("t-{tag}-{k}"))),
                        ts: Timestamp(ts),
                        agent_id: name(&a.id),
                        department: name(&a.department),
                        role: name(&a.role),
                        task_id: name(&format!("task-{tag}-{k}")),
                        success,
                        quality_score: Some(
                            Score10::new(round_to(quality, 2))
                                .unwrap_or_else(|e| panic!("bad fixture quality: {e}")),
                        ),
                        collaboration_score: None,
                        duration_seconds: None,
                        turns: None,
                        multi_agent: false,
                    }));
                    // Its own stream: the tasks' numbers are the same with or without it.
                    let mut telemetry = Rng::keyed(seed ^ 0x7e1e, &[abs_hour, i as u64, k]);
                    write(Event::TelemetryEvent(TelemetryEvent {
                        id: Some(name(&format!("r-{tag}-{k}"))),
                        ts: Timestamp(ts),
                        event_type: name("tool_call"),
                        error: telemetry.unit() < (0.05 * b.errors).min(1.0),
                        agent_id: Some(name(&a.id)),
                    }));
                }
            }
            let cost = tasks as f64 * c * b.cost * (1.0 + 0.05 * rng.normal());
            write(Event::CostRecorded(CostRecorded {
                id: Some(name(&format!("c-{tag}"))),
                ts: Timestamp(start + Duration::minutes(55)),
                agent_id: name(&a.id),
                task_id: None,
                category: CostCategory::Productive,
                cost_usd: NonNegative::new(round_to(cost.max(0.0), 5))
                    .unwrap_or_else(|e| panic!("bad fixture cost: {e}")),
                input_tokens: 0,
                output_tokens: 0,
                model: None,
                provider: None,
            }));
            if (i as u64 + abs_hour).is_multiple_of(5) {
                write(Event::ErrorFinding(ErrorFinding {
                    id: Some(name(&format!("e-{tag}"))),
                    ts: Timestamp(start + Duration::minutes(50)),
                    category: name("tool_misuse"),
                    severity: Severity::Low,
                    count: 1,
                    agent_id: Some(name(&a.id)),
                    task_id: None,
                }));
            }
        }
    }
    out
}

/// `x` rounded to `digits` decimals.
fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A `set_setting` from the value `from` to `to` at `path`.
pub fn set(path: &str, from: impl Into<SettingValue>, to: impl Into<SettingValue>) -> OrgChange {
    OrgChange::SetSetting {
        path: path.to_owned(),
        from: Some(from.into()),
        to: Some(to.into()),
    }
}

/// A config-tuning proposal of `changes` for rule `rule`, rolled out with `strategy` over a
/// 48 h window; id, rollback plan and risk derived as a strategy derives them.
pub fn proposal(
    rule: &str,
    changes: Vec<OrgChange>,
    strategy: RolloutStrategyKind,
    now: DateTime<Utc>,
) -> ImprovementProposal {
    let mut p = ImprovementProposal {
        id: String::new(),
        altitude: Altitude::ConfigTuning,
        title: format!("{rule}: {}", changes[0]),
        description: "a hand-built test proposal".into(),
        rationale: Rationale {
            rule_name: rule.into(),
            severity: RuleSeverity::Warning,
            description: "test evidence".into(),
            signal_context: BTreeMap::new(),
            threshold: None,
        },
        changes,
        rollback: RollbackPlan { operations: vec![] },
        alternatives: vec![],
        confidence: 0.75,
        risk: Risk::Low,
        rollout: strategy,
        primary_metric: Metric::for_rule(rule),
        observation_window_hours: 48,
        source_cycle: None,
        created_at: now,
    };
    p.refresh_derived();
    p
}

/// A configuration with the meta-loop enabled (everything else default).
pub fn enabled() -> kaizen_core::config::KaizenConfig {
    let mut c = kaizen_core::config::KaizenConfig::default();
    c.self_improvement.enabled = true;
    c
}

/// Ingests `data` into `store` at `now`; every record must be accepted.
pub fn ingest(store: &mut kaizen_store::Store, data: &[u8], now: DateTime<Utc>) {
    let report = store
        .ingest(data, kaizen_store::IngestOptions::new(now))
        .unwrap_or_else(|e| panic!("ingest: {e}"));
    assert_eq!(report.rejected, 0, "{report:?}");
}

/// Queues `p` as pending with the verdicts of the standard guard chain against the current org
/// (which must all pass), the way a cycle queues it; returns its id.
pub fn queue(
    store: &mut kaizen_store::Store,
    config: &kaizen_core::config::KaizenConfig,
    p: &ImprovementProposal,
) -> String {
    use kaizen_core::improve::guards::{GuardChain, GuardContext, proposal_fingerprint};
    let org = store
        .org_current()
        .unwrap_or_else(|e| panic!("read org: {e}"))
        .unwrap_or_else(|| panic!("no org"))
        .document;
    let outcome = GuardChain::standard().evaluate(
        p,
        &GuardContext {
            config: &config.self_improvement,
            org: &org,
            submissions_in_window: 0,
            memory: None,
        },
    );
    assert!(outcome.passed, "{outcome:?}");
    match store
        .queue_proposal(p, &outcome.results, &proposal_fingerprint(p), p.created_at)
        .unwrap_or_else(|e| panic!("queue: {e}"))
    {
        kaizen_store::proposals::QueueOutcome::Queued { id } => id,
        other => panic!("not queued: {other:?}"),
    }
}
