//! kaizen's service layer: the operations of the improvement pipeline, defined once.
//!
//! The CLI calls these today; the REST API and the MCP server of later issues will call the
//! same functions and add nothing but translation. Each operation takes the store, the
//! configuration and a [`Clock`], so it is deterministic under a manual clock.
//!
//! * [`cycle`]: `run_cycle` (snapshot → rules → strategies → guards → approval queue) and the
//!   scheduler check (`run_due_cycle`).
//! * [`review`]: approve, reject, apply (with a dry run that runs the same checks) and roll back
//!   a proposal.
//!
//! Safety invariants kept here: nothing runs while `self_improvement.enabled` is false; a
//! proposal is applied only after a *human* approved it; every apply is one new org version,
//! made from the version it was checked against, and every rollback is another.

pub mod cycle;
pub mod effective;
pub mod ops;
pub mod review;
pub mod rollback;
pub mod rollout;
pub mod submit;

use kaizen_core::clock::Clock;
use kaizen_core::config::KaizenConfig;
use kaizen_store::Store;

pub use cycle::{
    ConfidenceAdjuster, CycleOptions, CyclePlan, CycleReport, CycleTrigger, ProposalOutcome,
};
pub use review::{ApplyReport, Approved, RollbackReport};

/// A failed operation.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The meta-loop is switched off.
    #[error(
        "the self-improvement loop is disabled (self_improvement.enabled: false); enable it in kaizen.yaml or with KAIZEN__SELF_IMPROVEMENT__ENABLED=true"
    )]
    Disabled,
    /// There is no org document to improve.
    #[error(
        "there is no org document yet; create one with `kaizen org init` or `kaizen org import FILE`"
    )]
    NoOrg,
    /// The request is wrong (wrong status, missing reason …).
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist (a proposal, a rollout, an agent …).
    #[error("{0}")]
    NotFound(String),
    /// A proposal does not pass its applier's checks against the current org.
    #[error("{0}")]
    Rejected(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(String),
}

impl ServiceError {
    /// Whether the caller made a mistake (as opposed to an internal failure).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, ServiceError::Store(_))
    }
}

/// A result with [`ServiceError`].
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// What every operation needs.
pub struct Service<'a> {
    /// The store.
    pub store: &'a mut Store,
    /// The configuration.
    pub config: &'a KaizenConfig,
    /// The clock.
    pub clock: &'a dyn Clock,
}

pub(crate) fn store_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(e.to_string())
}

impl Service<'_> {
    /// The signal snapshot over `[since, until)`.
    pub fn snapshot(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<kaizen_core::snapshot::OrgSignalSnapshot> {
        if since >= until {
            return Err(ServiceError::Invalid(format!(
                "the window is empty: since {since} is not before until {until}"
            )));
        }
        Ok(
            kaizen_core::signals::SnapshotBuilder::new(self.config.signals.clone()).build(
                self.store.signal_source(),
                since,
                until,
            ),
        )
    }

    /// The default snapshot window ending at `until`: `signals.default_window_days` long.
    pub fn default_since(
        &self,
        until: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        until - chrono::Duration::days(i64::from(self.config.signals.default_window_days))
    }
}
