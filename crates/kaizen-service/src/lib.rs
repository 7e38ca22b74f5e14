//! kaizen's service layer: every operation kaizen offers, defined once, and the one gate they
//! run through.
//!
//! * [`op`] and [`catalog`]: each operation is one type (description, input and output types,
//!   body); [`ops::operations`] lists them. REST routes, the OpenAPI document, MCP tools and
//!   `kaizen call` are generated from that list.
//! * [`Kaizen`] ([`gate`]): the runtime that owns the store, the configuration, the clock and
//!   the ports, and the gate — authorise, rate-limit, run, audit — that the CLI, REST, MCP,
//!   the web UI and the background loop all use.
//! * [`error`]: one error model ([`ServiceError`] with an [`ErrorKind`]).
//! * [`Service`]: the pipeline's steps on a locked store; each takes the store, the
//!   configuration and a [`Clock`], so it is deterministic under a manual clock.
//!
//! * [`cycle`]: `run_cycle` (snapshot → rules → strategies → guards → approval queue) and the
//!   scheduler check (`run_due_cycle`).
//! * [`review`]: approve, reject, apply (with a dry run that runs the same checks) and roll back
//!   a proposal.
//!
//! Safety invariants kept here: nothing runs while `self_improvement.enabled` is false; a
//! proposal is applied only after a *human* approved it; every apply is one new org version,
//! made from the version it was checked against, and every rollback is another.

pub mod alerts;
pub mod catalog;
pub mod cycle;
pub mod effective;
pub mod error;
pub mod gate;
pub mod inflection;
pub mod op;
pub mod ops;
pub mod outcomes;
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
pub(crate) use error::store_err;
pub use error::{ErrorKind, ServiceError};
pub use gate::{Kaizen, Principal, Via};
pub use review::{ApplyReport, Approved, RollbackReport};

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
