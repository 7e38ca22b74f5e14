//! The rollback executor: undoes a rollout's overlay operation by operation, dispatching each
//! rollback operation by its kind (config, architecture, prompt, code) to a mutator.
//!
//! Progress is durable: after each operation the number executed is stored
//! (`rollouts.reverted`), and the effective config of the treatment agents follows it. If an
//! operation fails, the operations already undone are re-applied in reverse order
//! (compensation), the rollout becomes `rollback_failed` and a critical alert is raised; a
//! partial rollback is never reported as a success. An operation whose kind has no mutator is
//! refused when the rollout starts ([`RollbackExecutor::validate`]), not at rollback time.

use std::collections::BTreeMap;
use std::fmt;

use kaizen_core::altitude::Altitude;
use kaizen_core::improve::appliers::altitude_of;
use kaizen_core::org::OrgChange;
use kaizen_store::mutators::{MutatorOutcome, OrgMutator};
use kaizen_store::org::OrgVersion;
use serde::Serialize;

/// The kind of a rollback operation: which mutator executes it.
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
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OperationKind {
    /// A settings value.
    Config,
    /// Agents, departments, roles, workflows.
    Architecture,
    /// Principles (prompt text).
    Prompt,
    /// Code (no org change has this kind yet; code proposals are a later issue).
    Code,
}

impl OperationKind {
    /// The kind of `op`: its altitude ([`altitude_of`]).
    pub fn of(op: &OrgChange) -> OperationKind {
        match altitude_of(op) {
            Altitude::ConfigTuning => OperationKind::Config,
            Altitude::PromptTuning => OperationKind::Prompt,
            Altitude::Architecture => OperationKind::Architecture,
            Altitude::CodeModification => OperationKind::Code,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a mutator is told about the rollout it works for.
#[derive(Debug, Clone, Copy)]
pub struct MutationScope<'a> {
    /// The proposal.
    pub proposal_id: &'a str,
    /// The agents that see the overlay.
    pub agents: &'a [String],
}

/// Makes the runtime stop (or, for compensation, resume) using one operation's change.
///
/// kaizen's own state (the overlay in the store, which effective configs are built from) is
/// updated by the executor after each successful call; a mutator carries the change to where
/// agents run (a config service, a prompt store, a repository).
pub trait RollbackMutator: Send + Sync {
    /// A name for messages.
    fn name(&self) -> &str;
    /// Executes rollback operation `op`.
    fn revert(&self, scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String>;
    /// Undoes [`RollbackMutator::revert`] of `op` (compensation after a later failure).
    fn reapply(&self, scope: &MutationScope<'_>, op: &OrgChange) -> Result<(), String>;
}

/// The default mutator for config, architecture and prompt operations: agent runtimes pull
/// their effective config (with its ETag) from kaizen, so the overlay kaizen stores is the
/// whole change and there is nothing else to push.
#[derive(Debug, Default, Clone, Copy)]
pub struct PullMutator;

impl RollbackMutator for PullMutator {
    fn name(&self) -> &str {
        "effective-config"
    }
    fn revert(&self, _scope: &MutationScope<'_>, _op: &OrgChange) -> Result<(), String> {
        Ok(())
    }
    fn reapply(&self, _scope: &MutationScope<'_>, _op: &OrgChange) -> Result<(), String> {
        Ok(())
    }
}

/// The mutators by operation kind, and the notifiers of org versions made by verdicts.
pub struct RollbackExecutor {
    mutators: BTreeMap<OperationKind, Box<dyn RollbackMutator>>,
    notifiers: Vec<Box<dyn OrgMutator>>,
}

impl fmt::Debug for RollbackExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.mutators.iter().map(|(k, m)| (k, m.name())))
            .finish()
    }
}

impl Default for RollbackExecutor {
    /// [`PullMutator`] for config, architecture and prompt; no code mutator (code proposals
    /// cannot be applied yet, so none can be rolled out).
    fn default() -> Self {
        let mut e = RollbackExecutor::empty();
        e.register(OperationKind::Config, Box::new(PullMutator));
        e.register(OperationKind::Architecture, Box::new(PullMutator));
        e.register(OperationKind::Prompt, Box::new(PullMutator));
        e
    }
}

/// Where a rollback failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackFailure {
    /// 0-based index of the operation that failed.
    pub operation: usize,
    /// Its kind.
    pub kind: OperationKind,
    /// The mutator's error.
    pub error: String,
    /// Whether every operation already undone was re-applied (the change is fully live
    /// again, a consistent state); `false` means a mixed state.
    pub compensated: bool,
    /// Rollback operations still counted as executed after compensation.
    pub reverted: u32,
}

impl RollbackExecutor {
    /// No mutators.
    pub fn empty() -> Self {
        Self {
            mutators: BTreeMap::new(),
            notifiers: Vec::new(),
        }
    }

    /// Adds a notifier told about every org version a rollout's verdict creates.
    pub fn add_notifier(&mut self, notifier: Box<dyn OrgMutator>) {
        self.notifiers.push(notifier);
    }

    /// The notifiers, for operations that take them as a list (a manual rollback).
    pub fn notifiers(&self) -> Vec<&dyn OrgMutator> {
        self.notifiers.iter().map(|n| n.as_ref()).collect()
    }

    /// Tells every notifier about `version`.
    pub fn notify(&self, version: &OrgVersion) -> Vec<MutatorOutcome> {
        self.notifiers.iter().map(|n| n.notify(version)).collect()
    }

    /// Registers (or replaces) the mutator for `kind`.
    pub fn register(&mut self, kind: OperationKind, mutator: Box<dyn RollbackMutator>) {
        self.mutators.insert(kind, mutator);
    }

    /// The mutator for `kind`.
    pub fn mutator(&self, kind: OperationKind) -> Option<&dyn RollbackMutator> {
        self.mutators.get(&kind).map(|m| m.as_ref())
    }

    /// Checks that every operation of `plan` has a mutator. Run when a rollout starts.
    pub fn validate(&self, plan: &[OrgChange]) -> Result<(), String> {
        if plan.is_empty() {
            return Err("the rollback plan is empty".to_owned());
        }
        for (i, op) in plan.iter().enumerate() {
            let kind = OperationKind::of(op);
            if !self.mutators.contains_key(&kind) {
                return Err(format!(
                    "rollback operation {} ({op}) is of kind {kind}, which has no rollback mutator",
                    i + 1
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod wire_name_tests {
    use strum::IntoEnumIterator;

    use super::OperationKind;

    #[test]
    fn operation_kind_names_are_the_serde_names() {
        let names: Vec<&str> = OperationKind::iter().map(OperationKind::as_str).collect();
        assert_eq!(names, ["config", "architecture", "prompt", "code"]);
        for k in OperationKind::iter() {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().to_owned())
            );
            assert_eq!(k.to_string(), k.as_str());
        }
    }
}
