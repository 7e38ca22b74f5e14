//! Appliers: the one validation an [`ImprovementProposal`] passes before it becomes an org
//! version, shared by the dry run and the real apply.
//!
//! A [`ProposalApplier`] handles one altitude. Its only method, [`ProposalApplier::check`],
//! computes the [`AppliedPlan`] of a proposal against an org document: the changes to commit,
//! the resulting document and the rollback operations that undo them. It writes nothing, so a
//! check is atomic by construction. A dry run reports the plan; the real apply commits exactly
//! `plan.changes` as one new org version (`kaizen_store::Store::org_commit` with the version the
//! plan was checked against as the expected parent), so the two can never disagree, and a
//! concurrent change makes the apply fail instead of applying stale changes.
//!
//! Members:
//!
//! * [`ConfigApplier`]: only `set_setting` changes of registered knobs, with a value of the
//!   knob's type within its bounds, from the current value.
//! * [`PromptApplier`]: only principle changes; text normalised, 10–4,000 characters, no
//!   duplicate text, at most one `override` principle per scope.
//! * [`ArchitectureApplier`]: only structural changes (departments, roles, workflows, agents);
//!   a removed department or role must not keep agents, roles, workflow steps or principles.
//!
//! [`Appliers`] dispatches by the proposal's altitude ([`appliers_for_standard`]). See
//! `docs/appliers.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::knobs::{KnobKind, KnobRegistry};
use super::proposal::ImprovementProposal;
use crate::altitude::Altitude;
use crate::org::{
    ApplyError, MAX_PRINCIPLE_CHARS, MIN_PRINCIPLE_CHARS, OrgChange, OrgDocument, Principle,
    PrincipleMode, PrincipleScope, SettingValue, normalize_text,
};

#[cfg(test)]
mod tests;

/// What applying a proposal does, computed without changing anything.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedPlan {
    /// The changes to commit, in order: the proposal's, with principle texts normalised
    /// ([`normalize_text`]); otherwise identical.
    pub changes: Vec<OrgChange>,
    /// The org document after the changes (sorted by id, validated).
    pub result: OrgDocument,
    /// The operations that undo `changes`: applied to `result` they give back the document
    /// the plan was checked against. Each change inverted, in reverse order.
    pub rollback: Vec<OrgChange>,
}

/// One problem of one change of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeProblem {
    /// 0-based position of the change in the proposal (messages count from 1).
    pub index: usize,
    /// The change, as [`OrgChange`]'s `Display` writes it.
    pub change: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ChangeProblem {
    /// `change 2 (set models.default_tier: "large" → "huge"): …`, like
    /// [`ApplyError::Precondition`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "change {} ({}): {}",
            self.index + 1,
            self.change,
            self.reason
        )
    }
}

/// Why a proposal cannot be applied. Nothing was changed when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplierError {
    /// The proposal is for another altitude than the applier's.
    #[error("the {expected} applier cannot apply a {found} proposal")]
    WrongAltitude {
        /// The applier's altitude.
        expected: Altitude,
        /// The proposal's.
        found: Altitude,
    },
    /// A code-modification proposal: no applier exists for that altitude yet.
    #[error("code modification is not implemented yet")]
    CodeModificationNotImplemented,
    /// No applier is registered for the proposal's altitude.
    #[error("no applier is registered for {0} proposals")]
    NoApplier(Altitude),
    /// The proposal has an empty change list.
    #[error("the proposal has no changes")]
    NoChanges,
    /// Some changes break the applier's rules; every problem found, in change order.
    #[error("{}", join(.0))]
    Changes(Vec<ChangeProblem>),
    /// The changes do not apply to the document (a stale or missing item), or the result
    /// would be an invalid org document.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The inverse operations do not give the original document back (the document checked
    /// against was itself invalid, say).
    #[error("the rollback would not restore the current org document: {0}")]
    Rollback(String),
}

fn join(problems: &[ChangeProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Validates proposals of one altitude against an org document.
pub trait ProposalApplier: Send + Sync {
    /// The altitude of the proposals it handles.
    fn altitude(&self) -> Altitude;

    /// The plan of applying `proposal` to `org`, or every reason it cannot be applied. Pure:
    /// the dry run reports this plan, the apply commits exactly `plan.changes`.
    fn check(
        &self,
        proposal: &ImprovementProposal,
        org: &OrgDocument,
    ) -> Result<AppliedPlan, ApplierError>;
}

/// The wire name of a change's kind (`set_setting`, `add_role`, …), for messages.
pub fn change_kind(change: &OrgChange) -> &'static str {
    match change {
        OrgChange::SetSetting { .. } => "set_setting",
        OrgChange::AddAgent(_) => "add_agent",
        OrgChange::RemoveAgent(_) => "remove_agent",
        OrgChange::MoveAgent { .. } => "move_agent",
        OrgChange::AddDepartment(_) => "add_department",
        OrgChange::RemoveDepartment(_) => "remove_department",
        OrgChange::AddRole(_) => "add_role",
        OrgChange::RemoveRole(_) => "remove_role",
        OrgChange::AddWorkflow(_) => "add_workflow",
        OrgChange::RemoveWorkflow(_) => "remove_workflow",
        OrgChange::UpdateWorkflow { .. } => "update_workflow",
        OrgChange::AddPrinciple(_) => "add_principle",
        OrgChange::RemovePrinciple(_) => "remove_principle",
        OrgChange::UpdatePrinciple { .. } => "update_principle",
    }
}

/// The altitude a change belongs to: settings are config tuning, principles prompt tuning,
/// everything else (departments, roles, workflows, agents) architecture.
pub fn altitude_of(change: &OrgChange) -> Altitude {
    match change {
        OrgChange::SetSetting { .. } => Altitude::ConfigTuning,
        OrgChange::AddPrinciple(_)
        | OrgChange::RemovePrinciple(_)
        | OrgChange::UpdatePrinciple { .. } => Altitude::PromptTuning,
        OrgChange::AddAgent(_)
        | OrgChange::RemoveAgent(_)
        | OrgChange::MoveAgent { .. }
        | OrgChange::AddDepartment(_)
        | OrgChange::RemoveDepartment(_)
        | OrgChange::AddRole(_)
        | OrgChange::RemoveRole(_)
        | OrgChange::AddWorkflow(_)
        | OrgChange::RemoveWorkflow(_)
        | OrgChange::UpdateWorkflow { .. } => Altitude::Architecture,
    }
}

/// Collects the problems of a proposal's changes.
#[derive(Default)]
struct Problems(Vec<ChangeProblem>);

impl Problems {
    fn push(&mut self, index: usize, change: &OrgChange, reason: impl Into<String>) {
        self.0.push(ChangeProblem {
            index,
            change: change.to_string(),
            reason: reason.into(),
        });
    }

    /// Refuses, with a problem, every change of another altitude than `altitude`.
    fn foreign_changes(&mut self, altitude: Altitude, changes: &[OrgChange]) {
        for (i, c) in changes.iter().enumerate() {
            let own = altitude_of(c);
            if own != altitude {
                self.push(
                    i,
                    c,
                    format!(
                        "{} is not allowed in {altitude} proposals (it belongs to {own})",
                        change_kind(c)
                    ),
                );
            }
        }
    }
}

/// The checks every applier starts with: the altitude matches and there are changes.
fn preflight(altitude: Altitude, proposal: &ImprovementProposal) -> Result<(), ApplierError> {
    if proposal.altitude != altitude {
        return Err(ApplierError::WrongAltitude {
            expected: altitude,
            found: proposal.altitude,
        });
    }
    if proposal.changes.is_empty() {
        return Err(ApplierError::NoChanges);
    }
    Ok(())
}

/// The checks every applier ends with: no problem was found, the changes apply to `org`
/// ([`OrgDocument::apply`]: preconditions and validation of the result), and their inverses
/// restore `org`.
fn conclude(
    org: &OrgDocument,
    changes: Vec<OrgChange>,
    problems: Problems,
) -> Result<AppliedPlan, ApplierError> {
    if !problems.0.is_empty() {
        return Err(ApplierError::Changes(problems.0));
    }
    let result = org.apply(&changes)?;
    let rollback = OrgChange::inverse_all(&changes);
    let restored = result
        .apply(&rollback)
        .map_err(|e| ApplierError::Rollback(e.to_string()))?;
    // `apply` of nothing: the same document, sorted by id, as `restored` is.
    let before = org
        .apply(&[])
        .map_err(|e| ApplierError::Rollback(e.to_string()))?;
    if restored != before {
        return Err(ApplierError::Rollback(
            "undoing the changes gives a different document".to_owned(),
        ));
    }
    Ok(AppliedPlan {
        changes,
        result,
        rollback,
    })
}

/// Applies config-tuning proposals: `set_setting` changes of the knobs of its registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigApplier {
    registry: KnobRegistry,
}

impl ConfigApplier {
    /// An applier allowing the knobs of `registry`.
    pub fn new(registry: KnobRegistry) -> Self {
        Self { registry }
    }

    /// The knob registry.
    pub fn registry(&self) -> &KnobRegistry {
        &self.registry
    }
}

/// What a knob accepts, for messages: `a number in [0.1, 50.0]`, `one of small, medium, large`.
fn expected_value(kind: &KnobKind) -> String {
    match kind {
        KnobKind::Float { min, max } => format!("a number in [{min:?}, {max:?}]"),
        KnobKind::Int { min, max } => format!("an integer in [{min}, {max}]"),
        KnobKind::Bool => "true or false".to_owned(),
        KnobKind::Choice { values } => format!("one of {}", values.join(", ")),
    }
}

/// Whether `value` has the knob's type and lies within its bounds. A float knob also takes an
/// integer value (it is read as a number).
fn fits(kind: &KnobKind, value: &SettingValue) -> bool {
    #[allow(clippy::cast_precision_loss)]
    match (kind, value) {
        (KnobKind::Float { min, max }, SettingValue::Float(x)) => {
            x.is_finite() && *min <= *x && *x <= *max
        }
        (KnobKind::Float { min, max }, SettingValue::Integer(i)) => {
            let x = *i as f64;
            *min <= x && x <= *max
        }
        (KnobKind::Int { min, max }, SettingValue::Integer(i)) => min <= i && i <= max,
        (KnobKind::Bool, SettingValue::Bool(_)) => true,
        (KnobKind::Choice { values }, SettingValue::String(s)) => values.contains(s),
        _ => false,
    }
}

/// Whether `value` has the knob's type (whatever its bounds).
fn same_type(kind: &KnobKind, value: &SettingValue) -> bool {
    matches!(
        (kind, value),
        (
            KnobKind::Float { .. },
            SettingValue::Float(_) | SettingValue::Integer(_)
        ) | (KnobKind::Int { .. }, SettingValue::Integer(_))
            | (KnobKind::Bool, SettingValue::Bool(_))
            | (KnobKind::Choice { .. }, SettingValue::String(_))
    )
}

fn show_setting(v: Option<&SettingValue>) -> String {
    v.map_or_else(|| "absent".to_owned(), ToString::to_string)
}

impl ProposalApplier for ConfigApplier {
    fn altitude(&self) -> Altitude {
        Altitude::ConfigTuning
    }

    /// Each change is a `set_setting` of a registered knob, at most one per knob; the new
    /// value is present, has the knob's type and lies within its bounds; `from` is the
    /// document's current value.
    fn check(
        &self,
        proposal: &ImprovementProposal,
        org: &OrgDocument,
    ) -> Result<AppliedPlan, ApplierError> {
        preflight(Altitude::ConfigTuning, proposal)?;
        let changes = proposal.changes.clone();
        let mut problems = Problems::default();
        problems.foreign_changes(Altitude::ConfigTuning, &changes);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, c) in changes.iter().enumerate() {
            let OrgChange::SetSetting { path, from, to } = c else {
                continue;
            };
            if let Some(first) = seen.get(path.as_str()) {
                problems.push(
                    i,
                    c,
                    format!(
                        "change {} already sets knob {path}; at most one change per knob",
                        first + 1
                    ),
                );
                continue;
            }
            seen.insert(path, i);
            let knob = match self.registry.require(path) {
                Ok(knob) => knob,
                Err(e) => {
                    problems.push(i, c, e.to_string());
                    continue;
                }
            };
            match to {
                None => problems.push(
                    i,
                    c,
                    format!(
                        "knob {path} cannot be removed; the new value must be {}",
                        expected_value(&knob.kind)
                    ),
                ),
                Some(v) if !fits(&knob.kind, v) => {
                    let found = if same_type(&knob.kind, v) {
                        v.to_string()
                    } else {
                        format!("the {} {v}", v.kind())
                    };
                    problems.push(
                        i,
                        c,
                        format!(
                            "the new value must be {}, found {found}",
                            expected_value(&knob.kind)
                        ),
                    );
                }
                Some(_) => {}
            }
            let current = org.settings.get(path);
            if current != from.as_ref() {
                problems.push(
                    i,
                    c,
                    format!(
                        "stale change: {path} is {}, the change expects {}",
                        show_setting(current),
                        show_setting(from.as_ref())
                    ),
                );
            }
        }
        conclude(org, changes, problems)
    }
}

/// Applies prompt-tuning proposals: additions, removals and updates of principles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptApplier;

impl PromptApplier {
    /// The prompt applier.
    pub fn new() -> Self {
        Self
    }
}

/// The principle a change leaves in the document (an addition's, an update's `to`).
fn new_principle(change: &OrgChange) -> Option<&Principle> {
    match change {
        OrgChange::AddPrinciple(p) | OrgChange::UpdatePrinciple { to: p, .. } => Some(p),
        _ => None,
    }
}

fn text_key(p: &Principle) -> String {
    normalize_text(&p.text).to_lowercase()
}

impl ProposalApplier for PromptApplier {
    fn altitude(&self) -> Altitude {
        Altitude::PromptTuning
    }

    /// Each change adds, removes or updates a principle. The text of an added or updated
    /// principle is normalised ([`normalize_text`]; the plan carries the normalised text) and
    /// has 10–4,000 characters; its scope names an existing role or department; after the
    /// proposal no other principle has the same text (ignoring case), and no scope has two
    /// `override` principles. Each problem names the change that causes it.
    fn check(
        &self,
        proposal: &ImprovementProposal,
        org: &OrgDocument,
    ) -> Result<AppliedPlan, ApplierError> {
        preflight(Altitude::PromptTuning, proposal)?;
        let mut changes = proposal.changes.clone();
        for c in &mut changes {
            if let OrgChange::AddPrinciple(p) | OrgChange::UpdatePrinciple { to: p, .. } = c {
                p.text = normalize_text(&p.text);
            }
        }
        let mut problems = Problems::default();
        problems.foreign_changes(Altitude::PromptTuning, &changes);
        // The principles after the proposal: id → (principle, the change that put it there).
        let mut after: BTreeMap<&str, (&Principle, Option<usize>)> = org
            .principles
            .iter()
            .map(|p| (p.id.as_str(), (p, None)))
            .collect();
        for (i, c) in changes.iter().enumerate() {
            match c {
                OrgChange::AddPrinciple(p) => {
                    after.insert(&p.id, (p, Some(i)));
                }
                OrgChange::RemovePrinciple(p) => {
                    after.remove(p.id.as_str());
                }
                OrgChange::UpdatePrinciple { id, to, .. } => {
                    after.insert(id, (to, Some(i)));
                }
                _ => {}
            }
        }
        for (i, c) in changes.iter().enumerate() {
            let Some(p) = new_principle(c) else { continue };
            let chars = p.text.chars().count();
            if !(MIN_PRINCIPLE_CHARS..=MAX_PRINCIPLE_CHARS).contains(&chars) {
                problems.push(
                    i,
                    c,
                    format!(
                        "the text has {chars} characters after normalising whitespace; expected {MIN_PRINCIPLE_CHARS} to {MAX_PRINCIPLE_CHARS}"
                    ),
                );
            }
            match &p.scope {
                PrincipleScope::All => {}
                PrincipleScope::Role(id) if org.role(id).is_none() => {
                    problems.push(i, c, format!("scope {}: unknown role {id:?}", p.scope));
                }
                PrincipleScope::Department(id) if org.department(id).is_none() => {
                    problems.push(
                        i,
                        c,
                        format!("scope {}: unknown department {id:?}", p.scope),
                    );
                }
                _ => {}
            }
            // Only the principle this change leaves in the final document is compared; a
            // later change that replaces or removes it takes over.
            if after.get(p.id.as_str()).map(|(_, src)| *src) != Some(Some(i)) {
                continue;
            }
            let key = text_key(p);
            for (other, src) in after.values() {
                if other.id == p.id {
                    continue;
                }
                if text_key(other) == key {
                    match src {
                        Some(j) if *j < i => problems.push(
                            i,
                            c,
                            format!("the same text as change {} (ignoring case)", j + 1),
                        ),
                        Some(_) => {}
                        None => problems.push(
                            i,
                            c,
                            format!(
                                "principle {:?} already has this text (ignoring case)",
                                other.id
                            ),
                        ),
                    }
                }
                if p.mode == PrincipleMode::Override
                    && other.mode == PrincipleMode::Override
                    && other.scope == p.scope
                {
                    match src {
                        Some(j) if *j < i => problems.push(
                            i,
                            c,
                            format!(
                                "change {} already makes an override principle for scope {}; at most one per scope",
                                j + 1,
                                p.scope
                            ),
                        ),
                        Some(_) => {}
                        None => problems.push(
                            i,
                            c,
                            format!(
                                "scope {} already has an override principle ({:?}); at most one per scope",
                                p.scope, other.id
                            ),
                        ),
                    }
                }
            }
        }
        conclude(org, changes, problems)
    }
}

/// Applies architecture proposals: departments, roles, workflows and agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchitectureApplier;

impl ArchitectureApplier {
    /// The architecture applier.
    pub fn new() -> Self {
        Self
    }
}

/// The structure of a document after a proposal, computed leniently (preconditions are
/// [`OrgDocument::apply`]'s business): what still refers to a removed department or role.
struct Structure<'a> {
    departments: BTreeSet<&'a str>,
    /// Role id → its department.
    roles: BTreeMap<&'a str, Option<&'a str>>,
    /// Agent id → (role, department).
    agents: BTreeMap<&'a str, (&'a str, &'a str)>,
    /// Workflow id → steps.
    workflows: BTreeMap<&'a str, &'a [String]>,
}

impl<'a> Structure<'a> {
    fn after(org: &'a OrgDocument, changes: &'a [OrgChange]) -> Self {
        let mut s = Structure {
            departments: org.departments.iter().map(|d| d.id.as_str()).collect(),
            roles: org
                .roles
                .iter()
                .map(|r| (r.id.as_str(), r.department.as_deref()))
                .collect(),
            agents: org
                .agents
                .iter()
                .map(|a| (a.id.as_str(), (a.role.as_str(), a.department.as_str())))
                .collect(),
            workflows: org
                .workflows
                .iter()
                .map(|w| (w.id.as_str(), w.steps.as_slice()))
                .collect(),
        };
        for c in changes {
            match c {
                OrgChange::AddDepartment(d) => {
                    s.departments.insert(&d.id);
                }
                OrgChange::RemoveDepartment(d) => {
                    s.departments.remove(d.id.as_str());
                }
                OrgChange::AddRole(r) => {
                    s.roles.insert(&r.id, r.department.as_deref());
                }
                OrgChange::RemoveRole(r) => {
                    s.roles.remove(r.id.as_str());
                }
                OrgChange::AddAgent(a) => {
                    s.agents.insert(&a.id, (&a.role, &a.department));
                }
                OrgChange::RemoveAgent(a) => {
                    s.agents.remove(a.id.as_str());
                }
                OrgChange::MoveAgent {
                    id,
                    to_role,
                    to_department,
                    ..
                } => {
                    s.agents.insert(id, (to_role, to_department));
                }
                OrgChange::AddWorkflow(w) => {
                    s.workflows.insert(&w.id, &w.steps);
                }
                OrgChange::RemoveWorkflow(w) => {
                    s.workflows.remove(w.id.as_str());
                }
                OrgChange::UpdateWorkflow { id, to, .. } => {
                    s.workflows.insert(id, &to.steps);
                }
                OrgChange::SetSetting { .. }
                | OrgChange::AddPrinciple(_)
                | OrgChange::RemovePrinciple(_)
                | OrgChange::UpdatePrinciple { .. } => {}
            }
        }
        s
    }
}

/// Most ids listed in a message before `and N more`.
const MAX_LISTED: usize = 5;

/// `a, b, c` or `a, b, c, d, e and 3 more`.
fn list(ids: &[&str]) -> String {
    if ids.len() <= MAX_LISTED {
        return ids.join(", ");
    }
    format!(
        "{} and {} more",
        ids[..MAX_LISTED].join(", "),
        ids.len() - MAX_LISTED
    )
}

impl ProposalApplier for ArchitectureApplier {
    fn altitude(&self) -> Altitude {
        Altitude::Architecture
    }

    /// Each change is structural (a department, role, workflow or agent). A department or
    /// role the proposal removes (and does not add back) must be left without agents, a
    /// removed department without roles, a removed role without workflow steps, and neither
    /// may be the scope of a principle: the proposal itself must move or remove them. The
    /// rest is [`OrgDocument::apply`]'s validation of the result.
    fn check(
        &self,
        proposal: &ImprovementProposal,
        org: &OrgDocument,
    ) -> Result<AppliedPlan, ApplierError> {
        preflight(Altitude::Architecture, proposal)?;
        let changes = proposal.changes.clone();
        let mut problems = Problems::default();
        problems.foreign_changes(Altitude::Architecture, &changes);
        let after = Structure::after(org, &changes);
        let scoped = |scope: &PrincipleScope| -> Vec<&str> {
            org.principles
                .iter()
                .filter(|p| p.scope == *scope)
                .map(|p| p.id.as_str())
                .collect()
        };
        for (i, c) in changes.iter().enumerate() {
            match c {
                OrgChange::RemoveRole(r) if !after.roles.contains_key(r.id.as_str()) => {
                    let agents: Vec<&str> = after
                        .agents
                        .iter()
                        .filter(|(_, (role, _))| *role == r.id)
                        .map(|(id, _)| *id)
                        .collect();
                    if !agents.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "role {} still has agents ({}); move or remove them in the same proposal",
                                r.id,
                                list(&agents)
                            ),
                        );
                    }
                    let workflows: Vec<&str> = after
                        .workflows
                        .iter()
                        .filter(|(_, steps)| steps.contains(&r.id))
                        .map(|(id, _)| *id)
                        .collect();
                    if !workflows.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "role {} is still a step of workflow(s) {}; update or remove them in the same proposal",
                                r.id,
                                list(&workflows)
                            ),
                        );
                    }
                    let principles = scoped(&PrincipleScope::Role(r.id.clone()));
                    if !principles.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "principle(s) {} are scoped to role {}; remove them with a prompt_tuning proposal first",
                                list(&principles),
                                r.id
                            ),
                        );
                    }
                }
                OrgChange::RemoveDepartment(d) if !after.departments.contains(d.id.as_str()) => {
                    let agents: Vec<&str> = after
                        .agents
                        .iter()
                        .filter(|(_, (_, dep))| *dep == d.id)
                        .map(|(id, _)| *id)
                        .collect();
                    if !agents.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "department {} still has agents ({}); move or remove them in the same proposal",
                                d.id,
                                list(&agents)
                            ),
                        );
                    }
                    let roles: Vec<&str> = after
                        .roles
                        .iter()
                        .filter(|(_, dep)| **dep == Some(d.id.as_str()))
                        .map(|(id, _)| *id)
                        .collect();
                    if !roles.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "department {} still has roles ({}); remove them or move them to another department in the same proposal",
                                d.id,
                                list(&roles)
                            ),
                        );
                    }
                    let principles = scoped(&PrincipleScope::Department(d.id.clone()));
                    if !principles.is_empty() {
                        problems.push(
                            i,
                            c,
                            format!(
                                "principle(s) {} are scoped to department {}; remove them with a prompt_tuning proposal first",
                                list(&principles),
                                d.id
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        conclude(org, changes, problems)
    }
}

/// The appliers, by altitude.
#[derive(Default)]
pub struct Appliers {
    by_altitude: BTreeMap<Altitude, Box<dyn ProposalApplier>>,
}

impl fmt::Debug for Appliers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appliers")
            .field("altitudes", &self.by_altitude.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Appliers {
    /// No appliers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `applier` for its altitude; returns the one it replaces.
    pub fn insert(
        &mut self,
        applier: Box<dyn ProposalApplier>,
    ) -> Option<Box<dyn ProposalApplier>> {
        self.by_altitude.insert(applier.altitude(), applier)
    }

    /// `self` with `applier` registered for its altitude (replacing any other).
    #[must_use]
    pub fn with(mut self, applier: impl ProposalApplier + 'static) -> Self {
        self.insert(Box::new(applier));
        self
    }

    /// The applier of `altitude`.
    pub fn get(&self, altitude: Altitude) -> Option<&dyn ProposalApplier> {
        self.by_altitude.get(&altitude).map(AsRef::as_ref)
    }

    /// The altitudes that have an applier, in [`Altitude`] order.
    pub fn altitudes(&self) -> impl Iterator<Item = Altitude> + '_ {
        self.by_altitude.keys().copied()
    }

    /// [`ProposalApplier::check`] by the applier of the proposal's altitude. A
    /// code-modification proposal without an applier is
    /// [`ApplierError::CodeModificationNotImplemented`]; another altitude without one is
    /// [`ApplierError::NoApplier`].
    pub fn check(
        &self,
        proposal: &ImprovementProposal,
        org: &OrgDocument,
    ) -> Result<AppliedPlan, ApplierError> {
        match self.get(proposal.altitude) {
            Some(applier) => applier.check(proposal, org),
            None if proposal.altitude == Altitude::CodeModification => {
                Err(ApplierError::CodeModificationNotImplemented)
            }
            None => Err(ApplierError::NoApplier(proposal.altitude)),
        }
    }
}

/// The config applier over `registry`, the prompt applier and the architecture applier; code
/// modification has none.
pub fn appliers_for_standard(registry: KnobRegistry) -> Appliers {
    Appliers::new()
        .with(ConfigApplier::new(registry))
        .with(PromptApplier::new())
        .with(ArchitectureApplier::new())
}
