//! Rollouts: who sees a change while it is observed, and how a regression is recognised.
//!
//! * [`assign`]: deterministic, exactly sized, stratified canary and A/B groups.
//! * [`stats`]: Welch's t-test, delta-method ratio variances, the mixture SPRT (always-valid
//!   p-values and confidence sequences), Holm's correction and the χ² sample-ratio test.
//! * [`check`]: one regression check — the threshold circuit breaker, then the statistical
//!   layer — and the verdict at the end of the window.
//! * [`window`]: the hours each check reads.
//! * [`plan`]: the design `auto` stands for, and what a rollout can detect (decided at its start).
//!
//! The state machine that drives checks over time and persists them lives in
//! `kaizen-service` (`rollout.rs`); this module is pure and deterministic.

pub mod assign;
pub mod check;
pub mod plan;
pub mod stats;
pub mod window;
