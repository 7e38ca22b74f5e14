//! The simulated organisation: departments, roles, models and agents.

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// A department of the simulated organisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Department {
    /// Wire name (`engineering`, …).
    pub name: &'static str,
    /// Share of the agents.
    pub share: f64,
    /// Roles, assigned round-robin within the department.
    pub roles: &'static [&'static str],
    /// Index into the model table used by the department's agents.
    pub model: usize,
}

/// The departments, their share of the agents, roles and model.
pub const DEPARTMENTS: [Department; 5] = [
    Department {
        name: "engineering",
        share: 0.35,
        roles: &[
            "backend-engineer",
            "frontend-engineer",
            "qa-engineer",
            "sre",
        ],
        model: 0,
    },
    Department {
        name: "research",
        share: 0.15,
        roles: &["researcher", "data-scientist"],
        model: 0,
    },
    Department {
        name: "support",
        share: 0.25,
        roles: &["support-agent", "support-lead"],
        model: 1,
    },
    Department {
        name: "sales",
        share: 0.15,
        roles: &["account-executive", "sales-ops"],
        model: 1,
    },
    Department {
        name: "operations",
        share: 0.10,
        roles: &["ops-analyst", "project-manager"],
        model: 2,
    },
];

/// A model and its price in USD per million tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Model {
    pub name: &'static str,
    pub provider: &'static str,
    pub usd_per_m_input: f64,
    pub usd_per_m_output: f64,
}

pub(crate) const MODELS: [Model; 3] = [
    Model {
        name: "claude-sonnet-4",
        provider: "anthropic",
        usd_per_m_input: 3.0,
        usd_per_m_output: 15.0,
    },
    Model {
        name: "claude-haiku-4",
        provider: "anthropic",
        usd_per_m_input: 1.0,
        usd_per_m_output: 5.0,
    },
    Model {
        name: "gpt-4.1-mini",
        provider: "openai",
        usd_per_m_input: 0.4,
        usd_per_m_output: 1.6,
    },
];

/// Standard deviation of the per-agent quality offset (centred to mean 0 over the org).
const QUALITY_OFFSET_SD: f64 = 0.5;
/// Standard deviation of the per-agent success-probability offset (centred).
const SUCCESS_OFFSET_SD: f64 = 0.03;
/// Baseline task success probability.
pub(crate) const BASE_SUCCESS: f64 = 0.85;

/// One simulated agent.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// `agent-0042`.
    pub id: String,
    /// Index into [`DEPARTMENTS`].
    pub dept: usize,
    /// The role's name.
    pub role: &'static str,
    /// Index into [`MODELS`].
    pub model: usize,
    /// Added to the baseline quality mean.
    pub quality_offset: f64,
    /// Probability that a task succeeds.
    pub success_p: f64,
    /// Multiplies task durations.
    pub speed: f64,
}

/// Builds the roster. Departments are filled by largest deficit (so even 5 agents cover all
/// five departments) and skill offsets are centred, so the org mean equals the baseline.
pub(crate) fn roster(n: u32, rng: &mut Pcg64) -> Vec<Agent> {
    let n = n as usize;
    let mut counts = [0usize; DEPARTMENTS.len()];
    let mut agents = Vec::with_capacity(n);
    for i in 0..n {
        let mut best = 0;
        let mut best_deficit = f64::NEG_INFINITY;
        for (d, dep) in DEPARTMENTS.iter().enumerate() {
            let deficit = dep.share * (i + 1) as f64 - counts[d] as f64;
            if deficit > best_deficit + 1e-12 {
                best = d;
                best_deficit = deficit;
            }
        }
        let dep = &DEPARTMENTS[best];
        let role = dep.roles[counts[best] % dep.roles.len()];
        counts[best] += 1;
        let zq: f64 = rng.sample(StandardNormal);
        let zs: f64 = rng.sample(StandardNormal);
        let zv: f64 = rng.sample(StandardNormal);
        agents.push(Agent {
            id: format!("agent-{i:04}"),
            dept: best,
            role,
            model: dep.model,
            quality_offset: zq * QUALITY_OFFSET_SD,
            success_p: zs * SUCCESS_OFFSET_SD,
            speed: (0.25 * zv).exp(),
        });
    }
    if n > 1 {
        let mq = agents.iter().map(|a| a.quality_offset).sum::<f64>() / n as f64;
        let ms = agents.iter().map(|a| a.success_p).sum::<f64>() / n as f64;
        for a in &mut agents {
            a.quality_offset -= mq;
            a.success_p -= ms;
        }
    } else if let Some(a) = agents.first_mut() {
        a.quality_offset = 0.0;
        a.success_p = 0.0;
    }
    for a in &mut agents {
        a.success_p = (BASE_SUCCESS + a.success_p).clamp(0.70, 0.98);
    }
    agents
}
