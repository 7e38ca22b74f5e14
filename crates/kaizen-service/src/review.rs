//! Human review and its consequences: approve (which starts the rollout), reject, preview (the
//! applier's check, writing nothing) and roll back an applied proposal. A proposal becomes an
//! org version only through its rollout's verdict (`rollout.rs`).
//!
//! Approve and rollback are each one unit of work ([`Service::unit`], one SQLite transaction):
//! approving records the approval, moves the proposal to approved and starts its rollout, or
//! changes nothing when any of it fails on storage; rolling back commits the inverse org
//! version and moves the proposal to rolled_back together. Notifications of a new org version
//! run after the commit. Who may make a human decision is
//! [`kaizen_core::lifecycle::may_approve`], nowhere else.

use kaizen_core::improve::appliers::{AppliedPlan, appliers_for_standard};
use kaizen_core::improve::guards::altitude_switch;
use kaizen_core::lifecycle;
use kaizen_core::org::OrgChange;
use kaizen_store::mutators::{MutatorOutcome, OrgMutator};
use kaizen_store::org::OrgVersion;
use kaizen_store::proposals::{Actor, ProposalError, ProposalStatus, StoredProposal};
use kaizen_store::{Store, StoreError};
use schemars::JsonSchema;
use serde::Serialize;

use crate::rollback::RollbackExecutor;
use crate::{Result, Service, ServiceError, store_err};

/// What `apply` did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ApplyReport {
    /// The proposal.
    pub proposal_id: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The org version the changes were checked against.
    pub base_version: i64,
    /// The new org version (`None` for a dry run).
    pub new_version: Option<i64>,
    /// The changes.
    pub changes: Vec<OrgChange>,
    /// The operations that undo them.
    pub rollback: Vec<OrgChange>,
    /// Notifications of the new version.
    pub notifications: Vec<MutatorOutcome>,
}

/// What an approval achieved.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Approved {
    /// Distinct human approvals so far.
    pub approvals: u32,
    /// Approvals the proposal's risk requires.
    pub required: u32,
    /// Whether the proposal is now approved.
    pub approved: bool,
    /// The rollout the approval started (approved proposals roll out at once).
    pub rollout: Option<RolloutStarted>,
    /// Why the rollout could not start (the proposal stays approved; fix the cause and
    /// `kaizen rollouts start ID`).
    pub rollout_error: Option<String>,
}

/// A rollout that just started.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RolloutStarted {
    /// Its strategy.
    pub strategy: String,
    /// Agents that see the change.
    pub treatment: usize,
    /// Agents that do not (canary and A/B).
    pub control: usize,
    /// Observation window, hours.
    pub window_hours: u32,
    /// When the first check is due.
    pub first_check_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the design can test the primary metric with the org's data (the placebo
    /// check on the history before the start).
    pub can_conclude: bool,
    /// What the design can detect within the window, in words.
    pub plan: String,
}

impl RolloutStarted {
    /// Summarises `r`.
    pub fn of(r: &kaizen_store::rollouts::Rollout) -> Self {
        Self {
            strategy: r.strategy.as_str().to_owned(),
            treatment: r.assignment.treatment.len(),
            control: r.assignment.control.len(),
            window_hours: r.window_hours,
            first_check_at: r.next_check_at(),
            can_conclude: r.detector.plan.as_ref().is_some_and(|p| p.can_conclude),
            plan: r
                .detector
                .plan
                .as_ref()
                .map_or_else(String::new, |p| p.summary.clone()),
        }
    }
}

/// What `rollback` did.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RollbackReport {
    /// The proposal.
    pub proposal_id: String,
    /// The new org version that undoes it.
    pub new_version: i64,
    /// The inverse changes applied.
    pub changes: Vec<OrgChange>,
    /// Notifications of the new version.
    pub notifications: Vec<MutatorOutcome>,
}

/// Longest actor name the audit log accepts; checked before anything changes, so that no change
/// happens that could not be audited.
pub const MAX_ACTOR_CHARS: usize = 128;

/// Refuses a blank or overlong actor name, or one with control characters.
pub(crate) fn check_actor(actor: &Actor) -> Result<()> {
    let name = actor.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_ACTOR_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::Invalid(format!(
            "the actor name must be 1 to {MAX_ACTOR_CHARS} characters without control characters (got {} characters)",
            name.chars().count()
        )));
    }
    Ok(())
}

/// Refuses `actor` for the human decision `what` (`approve a proposal`, …) unless it
/// [`lifecycle::may_approve`].
pub(crate) fn require_human(actor: &Actor, what: &'static str) -> Result<()> {
    check_actor(actor)?;
    // forbidden (the lead maps it once ServiceError has a kind for it)
    lifecycle::require_human(actor, what).map_err(|e| ServiceError::Forbidden {
        code: "human_only",
        message: e.to_string(),
    })
}

/// A proposal error as a service error: the caller's (a wrong status, a concurrent change,
/// a refused rule) or storage's.
pub(crate) fn proposal_err(e: ProposalError) -> ServiceError {
    if e.is_user_error() {
        let kind = e.kind();
        ServiceError::store(kind, e)
    } else {
        store_err(e)
    }
}

/// Why a unit of work failed: the operation's own error, or the store's failing to begin or
/// commit the transaction.
enum UnitError {
    Service(ServiceError),
    Store(StoreError),
}

impl From<StoreError> for UnitError {
    fn from(e: StoreError) -> Self {
        UnitError::Store(e)
    }
}

impl Service<'_> {
    /// Runs `f` as one unit of work ([`Store::in_tx`]): every store write it makes commits
    /// together when it returns `Ok`, and none does when it returns `Err`. Inside another unit
    /// it is part of that one.
    pub(crate) fn unit<T>(&mut self, f: impl FnOnce(&mut Service<'_>) -> Result<T>) -> Result<T> {
        let (config, clock) = (self.config, self.clock);
        let out = self.store.in_tx(|store: &mut Store| {
            let mut svc = Service {
                store,
                config,
                clock,
            };
            f(&mut svc).map_err(UnitError::Service)
        });
        out.map_err(|e| match e {
            UnitError::Service(e) => e,
            UnitError::Store(e) => store_err(e),
        })
    }

    /// The stored proposal `id`, or an error naming it.
    pub fn proposal(&self, id: &str) -> Result<StoredProposal> {
        self.store
            .proposal(id)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("no proposal with id {id}")))
    }

    /// A human approves a pending proposal. It becomes approved once the number of distinct
    /// human approvals its risk requires (`self_improvement.guards.approvals`) is reached;
    /// until then the approval is recorded and the proposal stays pending. Once approved, its
    /// rollout starts ([`Service::start_rollout`]); if that is refused (a conflicting
    /// rollout, too few agents, …), the proposal stays approved and the reason is returned.
    /// Nothing becomes an org version here.
    ///
    /// One unit of work: when anything fails on storage (recording the approval, the
    /// transition, starting the rollout), nothing of it is kept, so the same human can retry.
    pub fn approve(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: Option<&str>,
        executor: &RollbackExecutor,
    ) -> Result<Approved> {
        require_human(actor, "approve a proposal")?;
        self.unit(|svc| svc.approve_in_unit(id, actor, reason, executor))
    }

    fn approve_in_unit(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: Option<&str>,
        executor: &RollbackExecutor,
    ) -> Result<Approved> {
        let p = self.proposal(id)?;
        if p.status != ProposalStatus::Pending {
            return Err(ServiceError::Conflict(format!(
                "proposal {id} is {}, only a pending proposal can be approved",
                p.status.as_str()
            )));
        }
        self.recheck_scope(&p)?;
        let now = self.clock.now();
        let approvals = self
            .store
            .record_approval(id, actor, reason, now)
            .map_err(proposal_err)?;
        let required = self
            .config
            .self_improvement
            .guards
            .approvals
            .required(p.risk);
        let given = approvals.len() as u32;
        let approved = given >= required;
        let (mut rollout, mut rollout_error) = (None, None);
        if approved {
            let names: Vec<&str> = approvals.iter().map(|a| a.actor.as_str()).collect();
            let why = match reason {
                Some(r) if !r.trim().is_empty() => format!("approved by {}: {r}", names.join(", ")),
                _ => format!("approved by {}", names.join(", ")),
            };
            self.store
                .transition_proposal(
                    id,
                    ProposalStatus::Pending,
                    ProposalStatus::Approved,
                    actor,
                    Some(&why),
                    None,
                    now,
                )
                .map_err(proposal_err)?;
            // A refusal (a policy reason) leaves the approval standing; a storage failure
            // fails the whole unit.
            match self.start_rollout(id, actor, None, executor) {
                Ok(r) => rollout = Some(RolloutStarted::of(&r)),
                Err(e) if e.is_user_error() => rollout_error = Some(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(Approved {
            approvals: given,
            required,
            approved,
            rollout,
            rollout_error,
        })
    }

    /// The scope guard again, against the configuration of now: the proposal's altitude may
    /// have been switched off since the proposal was queued. The master switch is not part of
    /// the re-check: it stops cycles, not the human review of what is already queued.
    fn recheck_scope(&self, p: &StoredProposal) -> Result<()> {
        let altitude = p.proposal.altitude;
        if self.config.self_improvement.altitude_enabled(altitude) {
            return Ok(());
        }
        Err(ServiceError::Conflict(format!(
            "proposal {} can no longer be approved: altitude {altitude} is not enabled; set {}: \
             true to approve it (the configuration changed since it was queued), or reject it",
            p.proposal.id,
            altitude_switch(altitude)
        )))
    }

    /// A human rejects a pending or approved proposal; the reason is required. With
    /// `never_again` the loop's memory blocks the same change for good (one unit of work with
    /// the rejection).
    pub fn reject(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: &str,
        never_again: bool,
    ) -> Result<()> {
        require_human(actor, "reject a proposal")?;
        if reason.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "a rejection needs a reason (--reason TEXT)".to_owned(),
            ));
        }
        let p = self.proposal(id)?;
        if !matches!(p.status, ProposalStatus::Pending | ProposalStatus::Approved) {
            return Err(ServiceError::Conflict(format!(
                "proposal {id} is {}, only a pending or approved proposal can be rejected",
                p.status.as_str()
            )));
        }
        let now = self.clock.now();
        self.unit(|svc| {
            svc.store
                .transition_proposal(
                    id,
                    p.status,
                    ProposalStatus::Rejected,
                    actor,
                    Some(reason),
                    None,
                    now,
                )
                .map_err(proposal_err)?;
            if never_again {
                svc.store.mark_never_again(id).map_err(proposal_err)?;
            }
            Ok(())
        })
    }

    /// Whether `p` would apply to the current org document now: the applier check that both
    /// a dry run and a real apply run. Writes nothing; any status is accepted.
    pub fn check(&mut self, p: &StoredProposal) -> Result<(i64, AppliedPlan)> {
        let current = self
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        let registry = self
            .config
            .improvement
            .registry()
            .map_err(|e| ServiceError::Invalid(format!("improvement.knobs: {e}")))?;
        let plan = appliers_for_standard(registry)
            .check(&p.proposal, &current.document)
            .map_err(|e| {
                ServiceError::Rejected(format!("proposal {} cannot be applied: {e}", p.proposal.id))
            })?;
        Ok((current.id, plan))
    }

    /// What applying proposal `id` would do to the current org: the applier's check, the exact
    /// changes and their rollback. Writes nothing; any status is accepted. (Approved proposals
    /// take effect through their rollout, [`Service::start_rollout`].)
    pub fn preview(&mut self, id: &str) -> Result<ApplyReport> {
        let p = self.proposal(id)?;
        let (base, plan) = self.check(&p)?;
        Ok(ApplyReport {
            proposal_id: id.to_owned(),
            dry_run: true,
            base_version: base,
            new_version: None,
            changes: plan.changes,
            rollback: plan.rollback,
            notifications: Vec::new(),
        })
    }

    /// Rolls back an applied proposal: applies the inverse of the version it made, as a new
    /// version (history is never rewritten), and moves the proposal to rolled_back, in one
    /// unit of work (both or neither). `mutators` are notified of the new version after the
    /// commit.
    pub fn rollback(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: &str,
        mutators: &[&dyn OrgMutator],
    ) -> Result<RollbackReport> {
        check_actor(actor)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "a rollback needs a reason (--reason TEXT)".to_owned(),
            ));
        }
        let (new, inverse) = self.unit(|svc| svc.rollback_in_unit(id, actor, reason))?;
        let notifications = mutators.iter().map(|m| m.notify(&new)).collect();
        Ok(RollbackReport {
            proposal_id: id.to_owned(),
            new_version: new.id,
            changes: inverse,
            notifications,
        })
    }

    fn rollback_in_unit(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<(OrgVersion, Vec<OrgChange>)> {
        let p = self.proposal(id)?;
        let (ProposalStatus::Applied, Some(applied)) = (p.status, p.applied_version) else {
            return Err(ServiceError::Conflict(format!(
                "proposal {id} is {}; only an applied proposal can be rolled back",
                p.status.as_str()
            )));
        };
        let version = self
            .store
            .org_version(applied)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::Store(format!("org version {applied} is missing")))?;
        let inverse = OrgChange::inverse_all(&version.changes);
        let current = self
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        let now = self.clock.now();
        let new = self
            .store
            .org_commit(
                Some(current.id),
                &inverse,
                &actor.name,
                Some(id),
                Some(&format!("roll back proposal {id}: {reason}")),
                now,
            )
            .map_err(|e| {
                if e.is_user_error() {
                    ServiceError::Rejected(format!(
                        "proposal {id} cannot be rolled back automatically (the org changed since): {e}"
                    ))
                } else {
                    store_err(e)
                }
            })?;
        self.store
            .transition_proposal(
                id,
                ProposalStatus::Applied,
                ProposalStatus::RolledBack,
                actor,
                Some(reason),
                None,
                now,
            )
            .map_err(proposal_err)?;
        Ok((new, inverse))
    }
}
