//! The study's matrix (`kaizen bench rollouts`): one [`run_study`] per design × departure ×
//! org size × effect scenario, each row with its runs, rates and Wilson intervals.
//!
//! Rows run one after the other, each spread over the threads ([`StudyConfig::threads`]);
//! every run is seeded with `seed + run index`, so the matrix is deterministic and the rows
//! share their random numbers run by run (a row with an effect differs from the null row of
//! the same design, departure and size by the effect only, up to the draws the effect itself
//! changes).

use kaizen_core::rollout::check::{Design, Detection, Metric};
use serde::{Deserialize, Serialize};

use super::model::{Departure, Effect};
use super::{StudyConfig, StudyReport, design_name, run_study};

/// The effect scenarios of the matrix.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
pub enum EffectScenario {
    /// No effect (false rollbacks).
    #[serde(rename = "null")]
    #[strum(serialize = "null")]
    Null,
    /// Quality −10 % (power).
    #[serde(rename = "quality-10")]
    #[strum(serialize = "quality-10")]
    QualityMinus10,
    /// Cost per task +15 % (power).
    #[serde(rename = "cost+15")]
    #[strum(serialize = "cost+15")]
    CostPlus15,
    /// Three times the runtime errors (power).
    #[serde(rename = "errors3x")]
    #[strum(serialize = "errors3x")]
    Errors3x,
    /// The primary metric (quality) +30 %: should be applied. Run for small orgs only
    /// ([`EffectScenario::max_agents`]).
    #[serde(rename = "quality+30")]
    #[strum(serialize = "quality+30")]
    QualityPlus30,
    /// Quality −20 % (the detectable effect where −10 % is not; not in the default matrix).
    #[serde(rename = "quality-20")]
    #[strum(serialize = "quality-20")]
    QualityMinus20,
    /// Quality −30 % (as `quality-20`).
    #[serde(rename = "quality-30")]
    #[strum(serialize = "quality-30")]
    QualityMinus30,
}

impl EffectScenario {
    /// Every scenario, in report order.
    pub const ALL: [EffectScenario; 7] = [
        EffectScenario::Null,
        EffectScenario::QualityMinus10,
        EffectScenario::CostPlus15,
        EffectScenario::Errors3x,
        EffectScenario::QualityPlus30,
        EffectScenario::QualityMinus20,
        EffectScenario::QualityMinus30,
    ];

    /// The scenarios of the default matrix (the targets).
    pub const DEFAULT: [EffectScenario; 5] = [
        EffectScenario::Null,
        EffectScenario::QualityMinus10,
        EffectScenario::CostPlus15,
        EffectScenario::Errors3x,
        EffectScenario::QualityPlus30,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The effect on the treated agents; quality is the primary metric in every scenario.
    pub fn effect(self) -> Effect {
        let none = Effect {
            primary: Metric::Quality,
            ..Effect::default()
        };
        match self {
            EffectScenario::Null => none,
            EffectScenario::QualityMinus10 => Effect {
                quality: -0.10,
                ..none
            },
            EffectScenario::CostPlus15 => Effect { cost: 0.15, ..none },
            EffectScenario::Errors3x => Effect {
                errors: 3.0,
                ..none
            },
            EffectScenario::QualityPlus30 => Effect {
                quality: 0.30,
                ..none
            },
            EffectScenario::QualityMinus20 => Effect {
                quality: -0.20,
                ..none
            },
            EffectScenario::QualityMinus30 => Effect {
                quality: -0.30,
                ..none
            },
        }
    }

    /// The largest org size the scenario is run for (`quality+30`: 20, the small orgs).
    pub fn max_agents(self) -> Option<u32> {
        match self {
            EffectScenario::QualityPlus30 => Some(20),
            _ => None,
        }
    }
}

/// What the matrix covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSpec {
    /// Runs per row.
    pub runs: u32,
    /// Org sizes (agents).
    pub sizes: Vec<u32>,
    /// Designs.
    pub designs: Vec<Design>,
    /// Departures from the baseline model.
    pub departures: Vec<Departure>,
    /// Effect scenarios.
    pub effects: Vec<EffectScenario>,
    /// Observation window, hours.
    pub window_hours: u32,
    /// Hours between checks.
    pub interval_hours: u32,
    /// Canary/A/B: the pre-rollout hours each group is compared against.
    pub baseline_hours: u32,
    /// Seed of every row.
    pub seed: u64,
    /// Threads per row (0: the available parallelism).
    #[serde(skip)]
    pub threads: usize,
}

impl Default for MatrixSpec {
    /// 500 runs per row; sizes 12, 20, 50, 200; every design, departure and effect; a 48 h
    /// window checked every 4 h against a 48 h baseline; seed 1.
    fn default() -> Self {
        Self {
            runs: 500,
            sizes: vec![12, 20, 50, 200],
            designs: vec![Design::BeforeAfter, Design::Canary, Design::AbTest],
            departures: Departure::ALL.to_vec(),
            effects: EffectScenario::DEFAULT.to_vec(),
            window_hours: 48,
            interval_hours: 4,
            baseline_hours: 48,
            seed: 1,
            threads: 0,
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixRow {
    /// The design's wire name.
    pub design: &'static str,
    /// The departure.
    pub departure: Departure,
    /// Agents.
    pub agents: u32,
    /// The effect scenario.
    pub effect: EffectScenario,
    /// What the study found.
    pub report: StudyReport,
}

impl MatrixSpec {
    /// The rows' settings, in order: design × departure × size × effect (an effect skipped
    /// above its [`EffectScenario::max_agents`]).
    pub fn rows(&self) -> Vec<(Design, Departure, u32, EffectScenario, StudyConfig)> {
        let mut out = Vec::new();
        for &design in &self.designs {
            for &departure in &self.departures {
                for &agents in &self.sizes {
                    for &effect in &self.effects {
                        if effect.max_agents().is_some_and(|max| agents > max) {
                            continue;
                        }
                        out.push((
                            design,
                            departure,
                            agents,
                            effect,
                            StudyConfig {
                                runs: self.runs,
                                agents,
                                window_hours: self.window_hours,
                                interval_hours: self.interval_hours,
                                baseline_hours: self.baseline_hours,
                                design,
                                model: departure.model(),
                                effect: effect.effect(),
                                seed: self.seed,
                                threads: self.threads,
                            },
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Runs the matrix with the detector `detection`; `progress(done, total, row)` after each row.
pub fn run_matrix(
    spec: &MatrixSpec,
    detection: &Detection,
    mut progress: impl FnMut(usize, usize, &MatrixRow),
) -> Vec<MatrixRow> {
    let rows = spec.rows();
    let total = rows.len();
    let mut out = Vec::with_capacity(total);
    for (i, (design, departure, agents, effect, cfg)) in rows.into_iter().enumerate() {
        let row = MatrixRow {
            design: design_name(design),
            departure,
            agents,
            effect,
            report: run_study(&cfg, detection),
        };
        progress(i + 1, total, &row);
        out.push(row);
    }
    out
}

/// Parses a design's wire name, naming the valid ones on failure (for command lines).
pub fn design_arg(s: &str) -> Result<Design, String> {
    super::parse_design(s.trim()).ok_or_else(|| {
        format!("unknown design `{s}`; expected one of: before_after, canary, ab_test")
    })
}

/// Parses a departure's name, naming the valid ones on failure.
pub fn departure_arg(s: &str) -> Result<Departure, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "unknown departure `{s}`; expected one of: {}",
            Departure::ALL.map(Departure::as_str).join(", ")
        )
    })
}

/// Parses an effect scenario's name, naming the valid ones on failure.
pub fn effect_arg(s: &str) -> Result<EffectScenario, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "unknown effect `{s}`; expected one of: {}",
            EffectScenario::ALL.map(EffectScenario::as_str).join(", ")
        )
    })
}
