//! The improvement pipeline's pure domain: what may be tuned, how, and the strategies that
//! turn rule matches into concrete, reversible [`ImprovementProposal`]s.
//!
//! * [`knobs`]: the [`KnobRegistry`] of tunable settings (type, bounds, choices).
//! * [`playbooks`]: [`Playbooks`] map a rule to knob [`Adjustment`]s, computed from the
//!   **current** org document and clamped to the knob's bounds.
//! * [`proposal`]: the [`ImprovementProposal`] model, its validated [`RollbackPlan`], stable
//!   ids and the confidence heuristic.
//! * [`strategy`]: the [`ImprovementStrategy`] trait and its members, one file each:
//!   [`config_tuning`], [`architecture`], [`prompt_tuning`]; plus the [`LlmSynthesizer`] port.
//!
//! Architecture invariant: no IO, no clock (time comes in through [`StrategyContext::now`]),
//! deterministic. See `docs/knobs.md`.

pub mod appliers;
pub mod architecture;
pub mod config_tuning;
pub mod guards;
pub mod knobs;
pub mod learning;
pub mod memory;
pub mod playbooks;
pub mod prompt_tuning;
pub mod proposal;
pub mod strategy;

pub use appliers::{
    AppliedPlan, ApplierError, Appliers, ArchitectureApplier, ChangeProblem, ConfigApplier,
    PromptApplier, ProposalApplier, altitude_of, appliers_for_standard, change_kind,
};
pub use architecture::ArchitectureStrategy;
pub use config_tuning::ConfigTuningStrategy;
pub use guards::{
    ApprovalGate, ChainOutcome, GuardChain, GuardContext, GuardResult, GuardVerdict, MemoryGuard,
    ProposalGuard, RateLimitGuard, RollbackPlanGuard, ScopeGuard, fingerprint_of,
    proposal_fingerprint, risk_str,
};
pub use knobs::{Knob, KnobError, KnobKind, KnobRegistry};
pub use memory::{Memory, PastProposal, Recall};
pub use playbooks::{AdjustOp, Adjustment, Computed, Playbook, PlaybookError, Playbooks};
pub use prompt_tuning::PromptTuningStrategy;
pub use proposal::{ImprovementProposal, Rationale, Risk, RollbackPlan};
pub use strategy::{
    ImprovementStrategy, LlmSynthesizer, NoteKind, RolloutDefaults, StrategyContext, StrategyError,
    StrategyNote, StrategyOutput,
};
