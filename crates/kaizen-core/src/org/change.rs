//! [`OrgChange`]: the unit every proposal, applier and rollback is made of; applying a change
//! list ([`OrgDocument::apply`]) and computing one ([`OrgDocument::diff`]).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::settings::parse_setting_path;
use super::{Agent, Department, OrgDocument, OrgError, Principle, Role, SettingValue, Workflow};

/// One change to an org document. Every variant carries the state before and after (or the
/// whole item added or removed), so that it can be checked against the document it is applied
/// to and inverted without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OrgChange {
    /// Sets, adds (`from: None`) or removes (`to: None`) the settings value at a dotted path.
    SetSetting {
        /// Dotted path, e.g. `models.default_tier`.
        path: String,
        /// The value the document must have now; `None` = absent.
        from: Option<SettingValue>,
        /// The new value; `None` = remove it.
        to: Option<SettingValue>,
    },
    /// Adds an agent.
    AddAgent(Agent),
    /// Removes an agent (which must equal the one in the document).
    RemoveAgent(Agent),
    /// Gives an agent a new role and/or department.
    MoveAgent {
        /// The agent.
        id: String,
        /// Its role now.
        from_role: String,
        /// Its new role.
        to_role: String,
        /// Its department now.
        from_department: String,
        /// Its new department.
        to_department: String,
    },
    /// Adds a department.
    AddDepartment(Department),
    /// Removes a department (which must equal the one in the document).
    RemoveDepartment(Department),
    /// Adds a role.
    AddRole(Role),
    /// Removes a role (which must equal the one in the document).
    RemoveRole(Role),
    /// Adds a workflow.
    AddWorkflow(Workflow),
    /// Removes a workflow (which must equal the one in the document).
    RemoveWorkflow(Workflow),
    /// Replaces a workflow's description and steps.
    UpdateWorkflow {
        /// The workflow; `from` and `to` carry the same id.
        id: String,
        /// The workflow now.
        from: Workflow,
        /// The workflow after the change.
        to: Workflow,
    },
    /// Adds a principle.
    AddPrinciple(Principle),
    /// Removes a principle (which must equal the one in the document).
    RemovePrinciple(Principle),
    /// Replaces a principle's scope, text or mode.
    UpdatePrinciple {
        /// The principle; `from` and `to` carry the same id.
        id: String,
        /// The principle now.
        from: Principle,
        /// The principle after the change.
        to: Principle,
    },
}

/// Why a change list does not apply. Nothing is changed when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// A change does not fit the document as it is at that point of the list (a stale
    /// change, a missing or duplicate item, a change that changes nothing).
    #[error("change {} ({change}): {reason}", .index + 1)]
    Precondition {
        /// 0-based position in the list.
        index: usize,
        /// The change, as [`OrgChange`]'s `Display` writes it.
        change: String,
        /// What does not fit.
        reason: String,
    },
    /// Every change fits, but the resulting document is invalid.
    #[error("the result would be an invalid org document: {}", join_errors(.errors))]
    Invalid {
        /// The problems of the resulting document.
        errors: Vec<OrgError>,
    },
}

fn join_errors(errors: &[OrgError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl OrgChange {
    /// The change that undoes this one.
    pub fn inverse(&self) -> OrgChange {
        match self.clone() {
            OrgChange::SetSetting { path, from, to } => OrgChange::SetSetting {
                path,
                from: to,
                to: from,
            },
            OrgChange::AddAgent(a) => OrgChange::RemoveAgent(a),
            OrgChange::RemoveAgent(a) => OrgChange::AddAgent(a),
            OrgChange::MoveAgent {
                id,
                from_role,
                to_role,
                from_department,
                to_department,
            } => OrgChange::MoveAgent {
                id,
                from_role: to_role,
                to_role: from_role,
                from_department: to_department,
                to_department: from_department,
            },
            OrgChange::AddDepartment(d) => OrgChange::RemoveDepartment(d),
            OrgChange::RemoveDepartment(d) => OrgChange::AddDepartment(d),
            OrgChange::AddRole(r) => OrgChange::RemoveRole(r),
            OrgChange::RemoveRole(r) => OrgChange::AddRole(r),
            OrgChange::AddWorkflow(w) => OrgChange::RemoveWorkflow(w),
            OrgChange::RemoveWorkflow(w) => OrgChange::AddWorkflow(w),
            OrgChange::UpdateWorkflow { id, from, to } => OrgChange::UpdateWorkflow {
                id,
                from: to,
                to: from,
            },
            OrgChange::AddPrinciple(p) => OrgChange::RemovePrinciple(p),
            OrgChange::RemovePrinciple(p) => OrgChange::AddPrinciple(p),
            OrgChange::UpdatePrinciple { id, from, to } => OrgChange::UpdatePrinciple {
                id,
                from: to,
                to: from,
            },
        }
    }

    /// The changes that undo `changes`: each inverted, in reverse order.
    pub fn inverse_all(changes: &[OrgChange]) -> Vec<OrgChange> {
        changes.iter().rev().map(OrgChange::inverse).collect()
    }
}

fn show_setting(v: Option<&SettingValue>) -> String {
    v.map_or_else(|| "absent".to_owned(), ToString::to_string)
}

fn show_opt(v: Option<&str>) -> String {
    v.map_or_else(|| "none".to_owned(), |s| format!("{s:?}"))
}

impl fmt::Display for OrgChange {
    /// One line for a person: `set models.default_tier: "large" → "medium"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgChange::SetSetting { path, from, to } => write!(
                f,
                "set {path}: {} → {}",
                show_setting(from.as_ref()),
                show_setting(to.as_ref())
            ),
            OrgChange::AddAgent(a) => write!(
                f,
                "add agent {} (role {}, department {})",
                a.id, a.role, a.department
            ),
            OrgChange::RemoveAgent(a) => write!(
                f,
                "remove agent {} (role {}, department {})",
                a.id, a.role, a.department
            ),
            OrgChange::MoveAgent {
                id,
                from_role,
                to_role,
                from_department,
                to_department,
            } => {
                let mut parts = Vec::new();
                if from_role != to_role {
                    parts.push(format!("role {from_role} → {to_role}"));
                }
                if from_department != to_department {
                    parts.push(format!("department {from_department} → {to_department}"));
                }
                if parts.is_empty() {
                    parts.push(format!("role {from_role}, department {from_department}"));
                }
                write!(f, "move agent {id}: {}", parts.join(", "))
            }
            OrgChange::AddDepartment(d) => write_department(f, "add", d),
            OrgChange::RemoveDepartment(d) => write_department(f, "remove", d),
            OrgChange::AddRole(r) => write_role(f, "add", r),
            OrgChange::RemoveRole(r) => write_role(f, "remove", r),
            OrgChange::AddWorkflow(w) => {
                write!(f, "add workflow {}: {}", w.id, w.steps.join(" → "))
            }
            OrgChange::RemoveWorkflow(w) => {
                write!(f, "remove workflow {}: {}", w.id, w.steps.join(" → "))
            }
            OrgChange::UpdateWorkflow { id, from, to } => {
                let mut parts = Vec::new();
                if from.steps != to.steps {
                    parts.push(format!(
                        "steps {} ⇒ {}",
                        from.steps.join(" → "),
                        to.steps.join(" → ")
                    ));
                }
                if from.description != to.description {
                    parts.push(format!(
                        "description {} → {}",
                        show_opt(from.description.as_deref()),
                        show_opt(to.description.as_deref())
                    ));
                }
                if parts.is_empty() {
                    parts.push("no difference".to_owned());
                }
                write!(f, "update workflow {id}: {}", parts.join("; "))
            }
            OrgChange::AddPrinciple(p) => write!(
                f,
                "add principle {} ({}, {}): {:?}",
                p.id, p.scope, p.mode, p.text
            ),
            OrgChange::RemovePrinciple(p) => write!(
                f,
                "remove principle {} ({}, {}): {:?}",
                p.id, p.scope, p.mode, p.text
            ),
            OrgChange::UpdatePrinciple { id, from, to } => {
                let mut parts = Vec::new();
                if from.scope != to.scope {
                    parts.push(format!("scope {} → {}", from.scope, to.scope));
                }
                if from.mode != to.mode {
                    parts.push(format!("mode {} → {}", from.mode, to.mode));
                }
                if from.text != to.text {
                    parts.push(format!("text {:?} → {:?}", from.text, to.text));
                }
                if parts.is_empty() {
                    parts.push("no difference".to_owned());
                }
                write!(f, "update principle {id}: {}", parts.join("; "))
            }
        }
    }
}

fn write_department(f: &mut fmt::Formatter<'_>, verb: &str, d: &Department) -> fmt::Result {
    write!(f, "{verb} department {}", d.id)?;
    if let Some(desc) = &d.description {
        write!(f, ": {desc:?}")?;
    }
    Ok(())
}

fn write_role(f: &mut fmt::Formatter<'_>, verb: &str, r: &Role) -> fmt::Result {
    write!(f, "{verb} role {}", r.id)?;
    if let Some(dep) = &r.department {
        write!(f, " (department {dep})")?;
    }
    if let Some(desc) = &r.description {
        write!(f, ": {desc:?}")?;
    }
    Ok(())
}

/// An item of one of the document's collections.
trait Keyed: Clone + PartialEq {
    /// `agent`, `role`, … for messages.
    const KIND: &'static str;
    fn id(&self) -> &str;
}

macro_rules! keyed {
    ($t:ty, $kind:literal) => {
        impl Keyed for $t {
            const KIND: &'static str = $kind;
            fn id(&self) -> &str {
                &self.id
            }
        }
    };
}

keyed!(Agent, "agent");
keyed!(Department, "department");
keyed!(Role, "role");
keyed!(Workflow, "workflow");
keyed!(Principle, "principle");

fn add<T: Keyed>(list: &mut Vec<T>, item: &T) -> Result<(), String> {
    if list.iter().any(|x| x.id() == item.id()) {
        return Err(format!("{} {:?} already exists", T::KIND, item.id()));
    }
    list.push(item.clone());
    Ok(())
}

fn position<T: Keyed>(list: &[T], id: &str) -> Result<usize, String> {
    list.iter()
        .position(|x| x.id() == id)
        .ok_or_else(|| format!("{} {id:?} does not exist", T::KIND))
}

fn remove<T: Keyed>(list: &mut Vec<T>, item: &T) -> Result<(), String> {
    let pos = position(list, item.id())?;
    if list[pos] != *item {
        return Err(format!(
            "{} {:?} in the document differs from the one this change removes (stale change)",
            T::KIND,
            item.id()
        ));
    }
    list.remove(pos);
    Ok(())
}

fn update<T: Keyed>(list: &mut [T], id: &str, from: &T, to: &T) -> Result<(), String> {
    if from.id() != id || to.id() != id {
        return Err(format!(
            "the ids of `from` ({:?}) and `to` ({:?}) must both be {id:?}",
            from.id(),
            to.id()
        ));
    }
    if from == to {
        return Err("the change changes nothing".to_owned());
    }
    let pos = position(list, id)?;
    if list[pos] != *from {
        return Err(format!(
            "{} {id:?} in the document differs from the one this change updates (stale change)",
            T::KIND
        ));
    }
    list[pos] = to.clone();
    Ok(())
}

impl OrgDocument {
    /// Applies `changes` in order and returns the new document, sorted by id and validated;
    /// `self` is never modified. Each change's precondition is checked against the document as
    /// the earlier changes left it (a `SetSetting` whose `from` is not the current value is
    /// stale and refused); only the final document must be valid, so a change list may pass
    /// through intermediate states (remove a role, then re-add it changed).
    pub fn apply(&self, changes: &[OrgChange]) -> Result<OrgDocument, ApplyError> {
        let mut doc = self.clone();
        for (index, change) in changes.iter().enumerate() {
            doc.apply_one(change)
                .map_err(|reason| ApplyError::Precondition {
                    index,
                    change: change.to_string(),
                    reason,
                })?;
        }
        doc.sort();
        doc.validate()
            .map_err(|errors| ApplyError::Invalid { errors })?;
        Ok(doc)
    }

    fn apply_one(&mut self, change: &OrgChange) -> Result<(), String> {
        match change {
            OrgChange::SetSetting { path, from, to } => {
                parse_setting_path(path)?;
                if from == to {
                    return Err(format!(
                        "the change changes nothing ({path} stays {})",
                        show_setting(from.as_ref())
                    ));
                }
                let current = self.settings.get(path);
                if current != from.as_ref() {
                    return Err(format!(
                        "stale change: {path} is {}, the change expects {}",
                        show_setting(current),
                        show_setting(from.as_ref())
                    ));
                }
                self.settings.set(path, to.clone())
            }
            OrgChange::AddAgent(a) => add(&mut self.agents, a),
            OrgChange::RemoveAgent(a) => remove(&mut self.agents, a),
            OrgChange::MoveAgent {
                id,
                from_role,
                to_role,
                from_department,
                to_department,
            } => {
                if from_role == to_role && from_department == to_department {
                    return Err("the change changes nothing".to_owned());
                }
                let pos = position(&self.agents, id)?;
                let agent = &mut self.agents[pos];
                if agent.role != *from_role || agent.department != *from_department {
                    return Err(format!(
                        "stale change: agent {id:?} has role {:?} and department {:?}, the change expects role {from_role:?} and department {from_department:?}",
                        agent.role, agent.department
                    ));
                }
                agent.role.clone_from(to_role);
                agent.department.clone_from(to_department);
                Ok(())
            }
            OrgChange::AddDepartment(d) => add(&mut self.departments, d),
            OrgChange::RemoveDepartment(d) => remove(&mut self.departments, d),
            OrgChange::AddRole(r) => add(&mut self.roles, r),
            OrgChange::RemoveRole(r) => remove(&mut self.roles, r),
            OrgChange::AddWorkflow(w) => add(&mut self.workflows, w),
            OrgChange::RemoveWorkflow(w) => remove(&mut self.workflows, w),
            OrgChange::UpdateWorkflow { id, from, to } => update(&mut self.workflows, id, from, to),
            OrgChange::AddPrinciple(p) => add(&mut self.principles, p),
            OrgChange::RemovePrinciple(p) => remove(&mut self.principles, p),
            OrgChange::UpdatePrinciple { id, from, to } => {
                update(&mut self.principles, id, from, to)
            }
        }
    }

    /// The changes that turn `a` into `b` (both valid documents), in a deterministic order:
    /// settings by path, then departments, roles, agents, workflows and principles; within a
    /// kind, removals, then additions, then updates, each by id. A changed department or role
    /// is a removal and an addition; a changed agent is a [`OrgChange::MoveAgent`].
    /// `a.apply(&OrgDocument::diff(a, b))` equals `b` sorted by id.
    pub fn diff(a: &OrgDocument, b: &OrgDocument) -> Vec<OrgChange> {
        let mut out = Vec::new();
        diff_settings("", &a.settings.0, &b.settings.0, &mut out);
        diff_keyed(
            &a.departments,
            &b.departments,
            &mut out,
            OrgChange::RemoveDepartment,
            OrgChange::AddDepartment,
            |_, _| Changed::Replace,
        );
        diff_keyed(
            &a.roles,
            &b.roles,
            &mut out,
            OrgChange::RemoveRole,
            OrgChange::AddRole,
            |_, _| Changed::Replace,
        );
        diff_keyed(
            &a.agents,
            &b.agents,
            &mut out,
            OrgChange::RemoveAgent,
            OrgChange::AddAgent,
            |from, to| {
                Changed::Update(OrgChange::MoveAgent {
                    id: to.id.clone(),
                    from_role: from.role.clone(),
                    to_role: to.role.clone(),
                    from_department: from.department.clone(),
                    to_department: to.department.clone(),
                })
            },
        );
        diff_keyed(
            &a.workflows,
            &b.workflows,
            &mut out,
            OrgChange::RemoveWorkflow,
            OrgChange::AddWorkflow,
            |from, to| {
                Changed::Update(OrgChange::UpdateWorkflow {
                    id: to.id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                })
            },
        );
        diff_keyed(
            &a.principles,
            &b.principles,
            &mut out,
            OrgChange::RemovePrinciple,
            OrgChange::AddPrinciple,
            |from, to| {
                Changed::Update(OrgChange::UpdatePrinciple {
                    id: to.id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                })
            },
        );
        out
    }
}

fn diff_settings(
    prefix: &str,
    a: &BTreeMap<String, SettingValue>,
    b: &BTreeMap<String, SettingValue>,
    out: &mut Vec<OrgChange>,
) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (a.get(key), b.get(key)) {
            (Some(SettingValue::Map(x)), Some(SettingValue::Map(y))) => {
                diff_settings(&path, x, y, out);
            }
            (x, y) if x != y => out.push(OrgChange::SetSetting {
                path,
                from: x.cloned(),
                to: y.cloned(),
            }),
            _ => {}
        }
    }
}

/// How [`diff_keyed`] expresses an item present on both sides with different content.
enum Changed {
    /// A removal of the old item and an addition of the new one.
    Replace,
    /// This update change.
    Update(OrgChange),
}

fn diff_keyed<T: Keyed>(
    a: &[T],
    b: &[T],
    out: &mut Vec<OrgChange>,
    removed: impl Fn(T) -> OrgChange,
    added: impl Fn(T) -> OrgChange,
    changed: impl Fn(&T, &T) -> Changed,
) {
    let a: BTreeMap<&str, &T> = a.iter().map(|x| (x.id(), x)).collect();
    let b: BTreeMap<&str, &T> = b.iter().map(|x| (x.id(), x)).collect();
    let mut updates = Vec::new();
    let mut additions = Vec::new();
    for (id, x) in &a {
        match b.get(id) {
            None => out.push(removed((*x).clone())),
            Some(y) if x != y => match changed(x, y) {
                // A replacement's removal goes with the removals, its addition after them.
                Changed::Replace => {
                    out.push(removed((*x).clone()));
                    additions.push(added((*y).clone()));
                }
                Changed::Update(change) => updates.push(change),
            },
            Some(_) => {}
        }
    }
    for (id, y) in &b {
        if !a.contains_key(id) {
            additions.push(added((*y).clone()));
        }
    }
    additions.sort_by(|x, y| change_id(x).cmp(change_id(y)));
    out.extend(additions);
    out.extend(updates);
}

/// The id of the item an add change adds (for ordering).
fn change_id(change: &OrgChange) -> &str {
    match change {
        OrgChange::AddDepartment(d) => &d.id,
        OrgChange::AddRole(r) => &r.id,
        OrgChange::AddAgent(a) => &a.id,
        OrgChange::AddWorkflow(w) => &w.id,
        OrgChange::AddPrinciple(p) => &p.id,
        _ => "",
    }
}
