//! The guard chain: the checks every [`ImprovementProposal`] passes before it may wait in the
//! approval queue, and the de-duplication key ([`proposal_fingerprint`]).
//!
//! [`GuardChain::standard`] runs, in this order (the design's guard chain, `docs/design.md`):
//!
//! 1. [`ScopeGuard`] (`scope_check`): the loop and the proposal's altitude are switched on.
//! 2. [`MemoryGuard`] (`memory`): the proposal does not repeat a change a human rejected or a
//!    rollout rolled back within the cooldown (unless the evidence changed materially, which
//!    its pass reason then says), nor one marked "never again", and does not undo a change
//!    applied within the cooldown ([`super::memory`]).
//! 3. [`RollbackPlanGuard`] (`rollback_plan`): the rollback plan is non-empty, the changes apply
//!    to the **current** org document and the plan restores it exactly.
//! 4. [`RateLimitGuard`] (`rate_limit`): fewer than `guards.proposal_rate_limit` proposals were
//!    queued in the window. The count comes from the caller ([`GuardContext::submissions_in_window`]),
//!    which reads it from the store with its own clock: the limit is persisted, survives
//!    restarts and is deterministic in tests (the original implementation's limiter lived in
//!    memory and read the wall clock, so it forgot its count on a restart).
//! 5. [`ApprovalGate`] (`approval_gate`): marks the proposal for human approval. It never applies
//!    anything and never writes anything; queueing is the caller's job (the store).
//!
//! The first rejection stops the chain; every result carries a reason, passes included, so the
//! stored verdicts say what was checked.
//!
//! Risk has one definition, [`Risk::for_altitude`] (the original implementation had two tables
//! of risk per altitude that disagreed); the approval gate refuses a proposal that claims
//! another.
//!
//! Architecture invariant: pure. No IO, no clock.

use std::fmt;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::altitude::Altitude;
use crate::config::SelfImprovementConfig;
use crate::org::{OrgChange, OrgDocument};

use super::memory::{Memory, Recall};
use super::proposal::{ImprovementProposal, Risk, fnv1a64};

/// Whether a guard let a proposal through.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GuardVerdict {
    /// The check passed.
    Passed,
    /// The check failed: the proposal is not queued.
    Rejected,
}

impl GuardVerdict {
    /// The wire name (`passed`, `rejected`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One guard's verdict on one proposal, stored with the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardResult {
    /// The guard's name ([`ProposalGuard::name`]).
    pub guard: String,
    /// Its verdict.
    pub verdict: GuardVerdict,
    /// Why: for a rejection, what failed and what to do; for a pass, what was checked.
    pub reason: String,
}

impl GuardResult {
    /// A pass by `guard`.
    pub fn pass(guard: &str, reason: impl Into<String>) -> Self {
        Self {
            guard: guard.to_owned(),
            verdict: GuardVerdict::Passed,
            reason: reason.into(),
        }
    }

    /// A rejection by `guard`.
    pub fn reject(guard: &str, reason: impl Into<String>) -> Self {
        Self {
            guard: guard.to_owned(),
            verdict: GuardVerdict::Rejected,
            reason: reason.into(),
        }
    }

    /// Whether the verdict is [`GuardVerdict::Passed`].
    pub fn passed(&self) -> bool {
        self.verdict == GuardVerdict::Passed
    }
}

/// What the guards need besides the proposal.
#[derive(Debug, Clone, Copy)]
pub struct GuardContext<'a> {
    /// The `self_improvement` configuration.
    pub config: &'a SelfImprovementConfig,
    /// The current org document (the proposal's changes must apply to it).
    pub org: &'a OrgDocument,
    /// Proposals queued within the last `guards.rate_limit_window_hours`, by the caller's
    /// clock, including the ones queued earlier in the same cycle (the store's
    /// `proposals_submitted_since` gives the persisted part).
    pub submissions_in_window: u64,
    /// What the loop remembers of past proposals; `None` skips the memory guard's checks
    /// (a caller without a store).
    pub memory: Option<&'a Memory>,
}

/// One check of the chain.
pub trait ProposalGuard: Send + Sync {
    /// The guard's stable name (`scope_check`, …), stored with its results.
    fn name(&self) -> &str;

    /// The verdict on `proposal`; never panics, never does IO.
    fn evaluate(&self, proposal: &ImprovementProposal, ctx: &GuardContext<'_>) -> GuardResult;
}

/// The loop and the proposal's altitude must be switched on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeGuard;

/// The configuration key that switches `altitude` on, for messages.
pub fn altitude_switch(altitude: crate::altitude::Altitude) -> &'static str {
    use crate::altitude::Altitude;
    match altitude {
        Altitude::ConfigTuning => "self_improvement.config_tuning_enabled",
        Altitude::Architecture => "self_improvement.architecture_proposals_enabled",
        Altitude::PromptTuning => "self_improvement.prompt_tuning_enabled",
        Altitude::CodeModification => "self_improvement.code_modification_enabled",
    }
}

impl ProposalGuard for ScopeGuard {
    fn name(&self) -> &str {
        "scope_check"
    }

    fn evaluate(&self, p: &ImprovementProposal, ctx: &GuardContext<'_>) -> GuardResult {
        if !ctx.config.enabled {
            return GuardResult::reject(
                self.name(),
                "the self-improvement loop is disabled; set self_improvement.enabled: true to queue proposals",
            );
        }
        if !ctx.config.altitude_enabled(p.altitude) {
            return GuardResult::reject(
                self.name(),
                format!(
                    "altitude {} is not enabled; set {}: true to queue its proposals",
                    p.altitude,
                    altitude_switch(p.altitude)
                ),
            );
        }
        GuardResult::pass(
            self.name(),
            format!("the loop is enabled and altitude {} is enabled", p.altitude),
        )
    }
}

/// The rollback plan must be non-empty, the changes must apply to the current org document
/// and the plan must restore it exactly ([`super::RollbackPlan::validate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RollbackPlanGuard;

impl ProposalGuard for RollbackPlanGuard {
    fn name(&self) -> &str {
        "rollback_plan"
    }

    fn evaluate(&self, p: &ImprovementProposal, ctx: &GuardContext<'_>) -> GuardResult {
        if p.rollback.operations.is_empty() {
            return GuardResult::reject(
                self.name(),
                "the rollback plan has no operations; a proposal must say how to undo it",
            );
        }
        match p.rollback.validate(ctx.org, &p.changes) {
            Ok(()) => GuardResult::pass(
                self.name(),
                format!(
                    "the {} change(s) apply to the current org document and the {} rollback operation(s) restore it",
                    p.changes.len(),
                    p.rollback.operations.len()
                ),
            ),
            Err(e) => GuardResult::reject(
                self.name(),
                format!(
                    "invalid against the current org document: {e}; the proposal is stale or wrong, let the next cycle propose it again"
                ),
            ),
        }
    }
}

/// At most `guards.proposal_rate_limit` proposals per `guards.rate_limit_window_hours`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimitGuard;

impl ProposalGuard for RateLimitGuard {
    fn name(&self) -> &str {
        "rate_limit"
    }

    fn evaluate(&self, _p: &ImprovementProposal, ctx: &GuardContext<'_>) -> GuardResult {
        let max = u64::from(ctx.config.guards.proposal_rate_limit);
        let hours = ctx.config.guards.rate_limit_window_hours;
        let n = ctx.submissions_in_window;
        if n >= max {
            return GuardResult::reject(
                self.name(),
                format!(
                    "rate limit reached: {n} proposal(s) queued in the last {hours}h (max {max}); wait for the window to pass or raise self_improvement.guards.proposal_rate_limit"
                ),
            );
        }
        GuardResult::pass(
            self.name(),
            format!("{n} of at most {max} proposal(s) queued in the last {hours}h"),
        )
    }
}

/// The mandatory-human-approval point: the proposal waits for a person. It never applies
/// anything (and writes nothing: queueing is the store's). Refuses a proposal whose risk is
/// not its altitude's ([`Risk::for_altitude`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApprovalGate;

/// The wire name of a risk (`low`, `medium`, `high`).
pub fn risk_str(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

impl ProposalGuard for ApprovalGate {
    fn name(&self) -> &str {
        "approval_gate"
    }

    fn evaluate(&self, p: &ImprovementProposal, _ctx: &GuardContext<'_>) -> GuardResult {
        let expected = Risk::for_altitude(p.altitude);
        if p.risk != expected {
            return GuardResult::reject(
                self.name(),
                format!(
                    "the proposal claims risk {} but altitude {} has risk {}; risk derives from the altitude (ImprovementProposal::refresh_derived)",
                    risk_str(p.risk),
                    p.altitude,
                    risk_str(expected)
                ),
            );
        }
        GuardResult::pass(
            self.name(),
            format!("queued for human approval (risk {})", risk_str(expected)),
        )
    }
}

/// What the chain said about one proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainOutcome {
    /// The results of the guards that ran, in order; the chain stops at the first rejection,
    /// so a rejection is always last and the guards after it did not run.
    pub results: Vec<GuardResult>,
    /// Whether every guard passed (the proposal may be queued).
    pub passed: bool,
}

impl ChainOutcome {
    /// The rejection, when there is one.
    pub fn rejection(&self) -> Option<&GuardResult> {
        self.results.iter().find(|r| !r.passed())
    }
}

/// An ordered list of guards.
pub struct GuardChain {
    guards: Vec<Box<dyn ProposalGuard>>,
}

impl fmt::Debug for GuardChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardChain")
            .field("guards", &self.names())
            .finish()
    }
}

impl GuardChain {
    /// A chain of `guards`, run in this order.
    pub fn new(guards: Vec<Box<dyn ProposalGuard>>) -> Self {
        Self { guards }
    }

    /// scope_check → memory → rollback_plan → rate_limit → approval_gate.
    pub fn standard() -> Self {
        Self::new(vec![
            Box::new(ScopeGuard),
            Box::new(MemoryGuard),
            Box::new(RollbackPlanGuard),
            Box::new(RateLimitGuard),
            Box::new(ApprovalGate),
        ])
    }

    /// The guards' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.guards.iter().map(|g| g.name()).collect()
    }

    /// Runs the guards in order, stopping at the first rejection. An empty chain passes.
    pub fn evaluate(&self, proposal: &ImprovementProposal, ctx: &GuardContext<'_>) -> ChainOutcome {
        let mut results = Vec::with_capacity(self.guards.len());
        for guard in &self.guards {
            let r = guard.evaluate(proposal, ctx);
            let rejected = !r.passed();
            results.push(r);
            if rejected {
                return ChainOutcome {
                    results,
                    passed: false,
                };
            }
        }
        ChainOutcome {
            results,
            passed: true,
        }
    }
}

/// The proposal neither repeats a change turned down within the cooldown (or marked "never
/// again") nor undoes a change applied within it ([`Memory::recall`], [`Memory::undoes`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryGuard;

impl ProposalGuard for MemoryGuard {
    fn name(&self) -> &str {
        "memory"
    }

    fn evaluate(&self, proposal: &ImprovementProposal, ctx: &GuardContext<'_>) -> GuardResult {
        let Some(memory) = ctx.memory.filter(|m| !m.is_empty()) else {
            return GuardResult::pass(self.name(), "no past proposal to compare with");
        };
        if let Some(why) = memory.undoes(&proposal.changes) {
            return GuardResult::reject(self.name(), why);
        }
        match memory.recall(proposal.altitude, &proposal.rationale, &proposal.changes) {
            Recall::Blocked(why) => GuardResult::reject(self.name(), why),
            Recall::Changed(what) => GuardResult::pass(self.name(), what),
            Recall::Fresh => GuardResult::pass(
                self.name(),
                "not turned down before within the cooldown, and undoes no recently applied \
                 change",
            ),
        }
    }
}

/// What a change targets and what it leaves there, without what was there before.
fn change_key(c: &OrgChange) -> String {
    match c {
        OrgChange::SetSetting { path, to, .. } => format!("set_setting {path} = {to:?}"),
        OrgChange::AddAgent(a) => format!("add_agent {a:?}"),
        OrgChange::RemoveAgent(a) => format!("remove_agent {}", a.id),
        OrgChange::MoveAgent {
            id,
            to_role,
            to_department,
            ..
        } => format!("move_agent {id} = {to_role:?} {to_department:?}"),
        OrgChange::AddDepartment(d) => format!("add_department {d:?}"),
        OrgChange::RemoveDepartment(d) => format!("remove_department {}", d.id),
        OrgChange::AddRole(r) => format!("add_role {r:?}"),
        OrgChange::RemoveRole(r) => format!("remove_role {}", r.id),
        OrgChange::AddWorkflow(w) => format!("add_workflow {w:?}"),
        OrgChange::RemoveWorkflow(w) => format!("remove_workflow {}", w.id),
        OrgChange::UpdateWorkflow { id, to, .. } => format!("update_workflow {id} = {to:?}"),
        OrgChange::AddPrinciple(p) => format!("add_principle {p:?}"),
        OrgChange::RemovePrinciple(p) => format!("remove_principle {}", p.id),
        OrgChange::UpdatePrinciple { id, to, .. } => format!("update_principle {id} = {to:?}"),
    }
}

/// The de-duplication key: two proposals with the same fingerprint are the same proposal
/// (same rule, same target changes), so the second is not queued while the first is open.
///
/// 16 lowercase hex digits of [`fnv1a64`] over, separated by NUL bytes:
///
/// * the altitude's wire name;
/// * the rule name (`rationale.rule_name`);
/// * for each change, its kind, its target and the state it leaves, **sorted** (so the order
///   of the list does not matter):
///   * `set_setting`: the path and the new value (`to`, `None` for a removal);
///   * `add_agent` / `add_department` / `add_role` / `add_workflow` / `add_principle`: the
///     whole item added;
///   * `remove_*`: the id removed (not the item's contents);
///   * `move_agent`: the agent id, the new role and the new department;
///   * `update_workflow` / `update_principle`: the id and the whole new item (`to`).
///
/// Not included: every old value (`from`, `from_role`, …, the contents of a removed item), so
/// a re-proposal of the same target after the current value drifted still matches; the
/// title, description, evidence numbers, confidence, rollback plan, rollout suggestion,
/// source cycle and creation time.
pub fn proposal_fingerprint(p: &ImprovementProposal) -> String {
    fingerprint_of(p.altitude, &p.rationale.rule_name, &p.changes)
}

/// [`proposal_fingerprint`] of a proposal at `altitude` for `rule` with `changes`.
pub fn fingerprint_of(altitude: Altitude, rule: &str, changes: &[OrgChange]) -> String {
    let mut keys: Vec<String> = changes.iter().map(change_key).collect();
    keys.sort();
    let mut canonical = String::new();
    canonical.push_str(altitude.as_str());
    canonical.push('\0');
    canonical.push_str(rule);
    for k in keys {
        canonical.push('\0');
        canonical.push_str(&k);
    }
    let mut out = String::with_capacity(16);
    // Writing to a String cannot fail.
    let _ = write!(out, "{:016x}", fnv1a64(canonical.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::altitude::Altitude;
    use crate::config::RolloutStrategyKind;
    use crate::improve::proposal::{Rationale, RollbackPlan};
    use crate::org::standard::{DEFAULT_TIER, PER_TASK_LIMIT_USD};
    use crate::org::{Agent, SettingValue};
    use crate::rules::RuleSeverity;

    fn tier(from: &str, to: &str) -> OrgChange {
        OrgChange::SetSetting {
            path: DEFAULT_TIER.into(),
            from: Some(SettingValue::String(from.into())),
            to: Some(SettingValue::String(to.into())),
        }
    }

    fn proposal(altitude: Altitude, rule: &str, changes: Vec<OrgChange>) -> ImprovementProposal {
        let mut p = ImprovementProposal {
            id: String::new(),
            altitude,
            title: "Lower the default model tier".into(),
            description: "d".into(),
            rationale: Rationale {
                rule_name: rule.into(),
                severity: RuleSeverity::Warning,
                description: "budget runs out in 7 days".into(),
                signal_context: BTreeMap::new(),
                threshold: None,
            },
            changes,
            rollback: RollbackPlan { operations: vec![] },
            alternatives: vec![],
            confidence: 0.75,
            risk: Risk::High,
            rollout: RolloutStrategyKind::BeforeAfter,
            primary_metric: Default::default(),
            observation_window_hours: 48,
            source_cycle: None,
            created_at: chrono::Utc.timestamp_opt(1_780_000_000, 0).unwrap(),
        };
        p.refresh_derived();
        p
    }

    fn enabled() -> SelfImprovementConfig {
        SelfImprovementConfig {
            enabled: true,
            ..SelfImprovementConfig::default()
        }
    }

    fn ctx<'a>(
        config: &'a SelfImprovementConfig,
        org: &'a OrgDocument,
        n: u64,
    ) -> GuardContext<'a> {
        GuardContext {
            config,
            org,
            submissions_in_window: n,
            memory: None,
        }
    }

    #[test]
    fn scope_guard() {
        let org = OrgDocument::standard();
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        let on = enabled();
        assert_eq!(
            ScopeGuard.evaluate(&p, &ctx(&on, &org, 0)),
            GuardResult::pass(
                "scope_check",
                "the loop is enabled and altitude config_tuning is enabled"
            )
        );
        let off = SelfImprovementConfig::default();
        assert_eq!(
            ScopeGuard.evaluate(&p, &ctx(&off, &org, 0)),
            GuardResult::reject(
                "scope_check",
                "the self-improvement loop is disabled; set self_improvement.enabled: true to queue proposals"
            )
        );
        let arch = proposal(Altitude::Architecture, "x", vec![tier("large", "medium")]);
        assert_eq!(
            ScopeGuard.evaluate(&arch, &ctx(&on, &org, 0)).reason,
            "altitude architecture is not enabled; set self_improvement.architecture_proposals_enabled: true to queue its proposals"
        );
        let mut arch_on = enabled();
        arch_on.architecture_proposals_enabled = true;
        assert!(ScopeGuard.evaluate(&arch, &ctx(&arch_on, &org, 0)).passed());
    }

    #[test]
    fn rollback_plan_guard() {
        let org = OrgDocument::standard();
        let on = enabled();
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        assert_eq!(
            RollbackPlanGuard.evaluate(&p, &ctx(&on, &org, 0)),
            GuardResult::pass(
                "rollback_plan",
                "the 1 change(s) apply to the current org document and the 1 rollback operation(s) restore it"
            )
        );
        let mut empty = p.clone();
        empty.rollback.operations.clear();
        assert_eq!(
            RollbackPlanGuard.evaluate(&empty, &ctx(&on, &org, 0)),
            GuardResult::reject(
                "rollback_plan",
                "the rollback plan has no operations; a proposal must say how to undo it"
            )
        );
        // Stale: the document's tier is "large", not "small".
        let stale = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("small", "medium")],
        );
        assert_eq!(
            RollbackPlanGuard
                .evaluate(&stale, &ctx(&on, &org, 0))
                .reason,
            r#"invalid against the current org document: the changes do not apply: change 1 (set models.default_tier: "small" → "medium"): stale change: models.default_tier is "large", the change expects "small"; the proposal is stale or wrong, let the next cycle propose it again"#
        );
        // A plan that does not undo the change.
        let mut wrong = p.clone();
        wrong.rollback.operations = vec![tier("medium", "small")];
        let r = RollbackPlanGuard.evaluate(&wrong, &ctx(&on, &org, 0));
        assert_eq!(r.verdict, GuardVerdict::Rejected);
        assert!(
            r.reason.contains("does not restore the document"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn rate_limit_guard() {
        let org = OrgDocument::standard();
        let on = enabled();
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        assert_eq!(
            RateLimitGuard.evaluate(&p, &ctx(&on, &org, 9)),
            GuardResult::pass(
                "rate_limit",
                "9 of at most 10 proposal(s) queued in the last 24h"
            )
        );
        assert_eq!(
            RateLimitGuard.evaluate(&p, &ctx(&on, &org, 10)),
            GuardResult::reject(
                "rate_limit",
                "rate limit reached: 10 proposal(s) queued in the last 24h (max 10); wait for the window to pass or raise self_improvement.guards.proposal_rate_limit"
            )
        );
        let mut one = enabled();
        one.guards.proposal_rate_limit = 1;
        one.guards.rate_limit_window_hours = 6;
        assert!(RateLimitGuard.evaluate(&p, &ctx(&one, &org, 0)).passed());
        assert_eq!(
            RateLimitGuard.evaluate(&p, &ctx(&one, &org, 1)).verdict,
            GuardVerdict::Rejected
        );
    }

    #[test]
    fn approval_gate() {
        let org = OrgDocument::standard();
        let on = enabled();
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        assert_eq!(
            ApprovalGate.evaluate(&p, &ctx(&on, &org, 0)),
            GuardResult::pass("approval_gate", "queued for human approval (risk low)")
        );
        let arch = proposal(Altitude::Architecture, "x", vec![tier("large", "medium")]);
        assert_eq!(
            ApprovalGate.evaluate(&arch, &ctx(&on, &org, 0)).reason,
            "queued for human approval (risk medium)"
        );
        let mut lying = p.clone();
        lying.risk = Risk::Medium;
        assert_eq!(
            ApprovalGate.evaluate(&lying, &ctx(&on, &org, 0)),
            GuardResult::reject(
                "approval_gate",
                "the proposal claims risk medium but altitude config_tuning has risk low; risk derives from the altitude (ImprovementProposal::refresh_derived)"
            )
        );
    }

    #[test]
    fn the_memory_guard_refuses_an_undo_and_a_cooled_down_repeat() {
        use crate::config::MemoryConfig;
        use crate::improve::memory::{Memory, PastProposal};
        use crate::lifecycle::ProposalStatus;
        let org = OrgDocument::standard();
        let on = enabled();
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let budget_fix = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        let past = |status, rejected: bool| PastProposal {
            id: "p1".into(),
            fingerprint: proposal_fingerprint(&budget_fix),
            altitude: Altitude::ConfigTuning,
            rationale: budget_fix.rationale.clone(),
            changes: budget_fix.changes.clone(),
            status,
            approved_at: (!rejected).then_some(at),
            rejected: rejected.then(|| (at, "ana".to_owned())),
            since: at,
            reason: None,
            never_again: false,
        };
        let now = at + chrono::Duration::days(2);
        let applied = Memory::new(
            vec![past(ProposalStatus::Applied, false)],
            now,
            MemoryConfig::default(),
            chrono::Duration::days(7),
        );
        // success_rate_drop wants the tier back up: an undo of the budget fix.
        let undo = proposal(
            Altitude::ConfigTuning,
            "success_rate_drop",
            vec![tier("medium", "large")],
        );
        let mut c = ctx(&on, &org, 0);
        c.memory = Some(&applied);
        let out = GuardChain::standard().evaluate(&undo, &c);
        let rejection = out.rejection().expect("refused");
        assert_eq!(rejection.guard, "memory");
        assert!(
            rejection.reason.contains("would undo p1"),
            "{}",
            rejection.reason
        );
        let rejected = Memory::new(
            vec![past(ProposalStatus::Rejected, true)],
            now,
            MemoryConfig::default(),
            chrono::Duration::days(7),
        );
        c.memory = Some(&rejected);
        let out = GuardChain::standard().evaluate(&budget_fix, &c);
        assert_eq!(out.rejection().map(|r| r.guard.as_str()), Some("memory"));
        // No memory: passes.
        c.memory = None;
        assert!(GuardChain::standard().evaluate(&budget_fix, &c).passed);
    }

    #[test]
    fn chain_runs_in_order_and_stops_at_the_first_rejection() {
        let org = OrgDocument::standard();
        let chain = GuardChain::standard();
        assert_eq!(
            chain.names(),
            [
                "scope_check",
                "memory",
                "rollback_plan",
                "rate_limit",
                "approval_gate"
            ]
        );
        let on = enabled();
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        let ok = chain.evaluate(&p, &ctx(&on, &org, 0));
        assert!(ok.passed);
        assert_eq!(ok.results.len(), 5);
        assert!(ok.results.iter().all(GuardResult::passed));
        assert_eq!(ok.rejection(), None);

        // Rate limit rejects: the approval gate does not run.
        let limited = chain.evaluate(&p, &ctx(&on, &org, 10));
        assert!(!limited.passed);
        let names: Vec<&str> = limited.results.iter().map(|r| r.guard.as_str()).collect();
        assert_eq!(
            names,
            ["scope_check", "memory", "rollback_plan", "rate_limit"]
        );
        assert_eq!(
            limited.rejection().map(|r| r.guard.as_str()),
            Some("rate_limit")
        );

        // Scope rejects first, even though the plan is also stale and the limit reached.
        let off = SelfImprovementConfig::default();
        let stale = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("small", "medium")],
        );
        let out = chain.evaluate(&stale, &ctx(&off, &org, 99));
        assert_eq!(out.results.len(), 1);
        assert_eq!(out.results[0].guard, "scope_check");
        assert!(!out.passed);

        assert!(
            GuardChain::new(vec![])
                .evaluate(&p, &ctx(&on, &org, 0))
                .passed
        );
    }

    #[test]
    fn guard_results_serialize_with_wire_names() {
        let r = GuardResult::pass("rate_limit", "ok");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"guard":"rate_limit","verdict":"passed","reason":"ok"}"#
        );
        assert_eq!(serde_json::from_str::<GuardResult>(&json).unwrap(), r);
        assert_eq!(GuardVerdict::Rejected.to_string(), "rejected");
    }

    #[test]
    fn fingerprint_is_stable_and_ignores_old_values_and_prose() {
        let p = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        let fp = proposal_fingerprint(&p);
        assert_eq!(fp.len(), 16);
        // Pinned: a change here breaks de-duplication against stored proposals.
        assert_eq!(fp, "df9739e6913f59e0");
        // The same target after the old value drifted: same fingerprint (but another id).
        let drifted = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("small", "medium")],
        );
        assert_ne!(drifted.id, p.id);
        assert_eq!(proposal_fingerprint(&drifted), fp);
        // Prose, evidence, confidence, time and cycle do not count.
        let mut reworded = p.clone();
        reworded.title = "other".into();
        reworded.description = "other".into();
        reworded.rationale.description = "other".into();
        reworded.confidence = 0.1;
        reworded.source_cycle = Some("c1".into());
        reworded.created_at = chrono::Utc.timestamp_opt(0, 0).unwrap();
        assert_eq!(proposal_fingerprint(&reworded), fp);
        // The order of the changes does not count.
        let limit = OrgChange::SetSetting {
            path: PER_TASK_LIMIT_USD.into(),
            from: Some(SettingValue::Float(2.0)),
            to: Some(SettingValue::Float(1.6)),
        };
        let ab = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium"), limit.clone()],
        );
        let ba = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![limit.clone(), tier("large", "medium")],
        );
        assert_eq!(proposal_fingerprint(&ab), proposal_fingerprint(&ba));
    }

    #[test]
    fn fingerprint_depends_on_altitude_rule_targets_and_new_values() {
        let base = proposal(
            Altitude::ConfigTuning,
            "budget_overrun",
            vec![tier("large", "medium")],
        );
        let fp = proposal_fingerprint(&base);
        let others = [
            proposal(
                Altitude::PromptTuning,
                "budget_overrun",
                vec![tier("large", "medium")],
            ),
            proposal(
                Altitude::ConfigTuning,
                "error_spike",
                vec![tier("large", "medium")],
            ),
            proposal(
                Altitude::ConfigTuning,
                "budget_overrun",
                vec![tier("large", "small")],
            ),
            proposal(
                Altitude::ConfigTuning,
                "budget_overrun",
                vec![OrgChange::SetSetting {
                    path: "models.other".into(),
                    from: Some("large".into()),
                    to: Some("medium".into()),
                }],
            ),
            proposal(
                Altitude::ConfigTuning,
                "budget_overrun",
                vec![OrgChange::SetSetting {
                    path: DEFAULT_TIER.into(),
                    from: Some("large".into()),
                    to: None,
                }],
            ),
            proposal(Altitude::ConfigTuning, "budget_overrun", vec![]),
        ];
        for o in &others {
            assert_ne!(proposal_fingerprint(o), fp, "{o:?}");
        }
        // Moves: the target agent and where it goes count, where it came from does not.
        let mv = |from: &str, to: &str| OrgChange::MoveAgent {
            id: "a1".into(),
            from_role: from.into(),
            to_role: to.into(),
            from_department: "engineering".into(),
            to_department: "engineering".into(),
        };
        let m1 = proposal(Altitude::Architecture, "r", vec![mv("dev", "qa")]);
        let m2 = proposal(Altitude::Architecture, "r", vec![mv("lead", "qa")]);
        let m3 = proposal(Altitude::Architecture, "r", vec![mv("dev", "lead")]);
        assert_eq!(proposal_fingerprint(&m1), proposal_fingerprint(&m2));
        assert_ne!(proposal_fingerprint(&m1), proposal_fingerprint(&m3));
        // Removals: the id counts, not the removed item's contents.
        let rm = |role: &str| {
            OrgChange::RemoveAgent(Agent {
                id: "a1".into(),
                role: role.into(),
                department: "engineering".into(),
            })
        };
        assert_eq!(
            proposal_fingerprint(&proposal(Altitude::Architecture, "r", vec![rm("dev")])),
            proposal_fingerprint(&proposal(Altitude::Architecture, "r", vec![rm("qa")]))
        );
    }
}
