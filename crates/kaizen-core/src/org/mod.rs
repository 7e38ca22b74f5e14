//! The org document: the organisation the meta-loop improves.
//!
//! An [`OrgDocument`] lists agents, departments, roles, workflows and constitutional
//! principles, plus [`Settings`], a tree of tunable values addressed by dotted paths. Every
//! improvement is a list of [`OrgChange`]s: each change carries both the old and the new state,
//! so it can be checked against the document it is applied to (a stale change is refused) and
//! inverted without looking at the document ([`OrgChange::inverse`]).
//!
//! * [`OrgDocument::validate`] checks referential integrity, uniqueness and bounds
//!   (`validate.rs`).
//! * [`OrgDocument::apply`] applies a change list atomically and validates the result;
//!   [`OrgDocument::diff`] computes the change list between two documents (`change.rs`).
//! * [`OrgDocument::standard`] is the org shape kaizen ships (`standard.rs`).
//!
//! Collections are kept sorted by id ([`OrgDocument::canonical`]), so two documents with the
//! same content compare equal whatever order they were written in.
//!
//! Architecture invariant: pure data, no IO. Storage of versions lives in `kaizen-store`.

mod change;
mod effective;
mod settings;
pub mod standard;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use change::{ApplyError, OrgChange};
pub use effective::{EffectiveConfig, EffectiveError, Overlay, effective_config};
pub use settings::{SettingValue, Settings, parse_setting_path};
pub use validate::{
    MAX_DESCRIPTION_CHARS, MAX_PRINCIPLE_CHARS, MIN_PRINCIPLE_CHARS, OrgError, normalize_text,
};

/// The whole org document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDocument {
    /// The agents, each with a role and a department.
    #[serde(default)]
    pub agents: Vec<Agent>,
    /// The departments.
    #[serde(default)]
    pub departments: Vec<Department>,
    /// The roles, optionally tied to a department.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The workflows: ordered steps, each naming a role.
    #[serde(default)]
    pub workflows: Vec<Workflow>,
    /// Constitutional principles injected into the agents' prompts.
    #[serde(default)]
    pub principles: Vec<Principle>,
    /// The tree of tunable values.
    #[serde(default)]
    pub settings: Settings,
}

/// An agent of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Unique agent id.
    pub id: String,
    /// The id of the agent's role.
    pub role: String,
    /// The id of the agent's department.
    pub department: String,
}

/// A department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Unique department id.
    pub id: String,
    /// What the department does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Unique role id.
    pub id: String,
    /// What the role does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The department the role belongs to; `None` for a role used across departments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

/// A workflow: an ordered list of steps, each performed by a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Unique workflow id.
    pub id: String,
    /// What the workflow achieves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Role ids, in order.
    pub steps: Vec<String>,
}

/// A constitutional principle: text injected into the prompts of the agents in its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Principle {
    /// Unique principle id.
    pub id: String,
    /// Which agents it applies to.
    pub scope: PrincipleScope,
    /// The text (see [`normalize_text`]).
    pub text: String,
    /// Whether it adds to the scope's principles or replaces them.
    #[serde(default)]
    pub mode: PrincipleMode,
}

/// Which agents a principle applies to. Written `all`, `role:ID` or `department:ID`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipleScope {
    /// Every agent.
    All,
    /// The agents with this role.
    Role(String),
    /// The agents of this department.
    Department(String),
}

impl fmt::Display for PrincipleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipleScope::All => f.write_str("all"),
            PrincipleScope::Role(id) => write!(f, "role:{id}"),
            PrincipleScope::Department(id) => write!(f, "department:{id}"),
        }
    }
}

impl FromStr for PrincipleScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(PrincipleScope::All);
        }
        let (kind, id) = s
            .split_once(':')
            .ok_or_else(|| format!("expected `all`, `role:ID` or `department:ID`, found {s:?}"))?;
        match kind {
            "role" => Ok(PrincipleScope::Role(id.to_owned())),
            "department" => Ok(PrincipleScope::Department(id.to_owned())),
            _ => Err(format!(
                "expected `all`, `role:ID` or `department:ID`, found {s:?}"
            )),
        }
    }
}

impl Serialize for PrincipleScope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Hand-written because [`Serialize`] is: the scope is one string, `all`, `role:ID` or
/// `department:ID` (the ID is whatever follows the first `:`).
impl JsonSchema for PrincipleScope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PrincipleScope".into()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        concat!(module_path!(), "::PrincipleScope").into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(all$|role:|department:)",
            "description": "Which agents a principle applies to: `all`, `role:ID` (the agents with this role) or `department:ID` (the agents of this department)."
        })
    }
}

impl<'de> Deserialize<'de> for PrincipleScope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How a principle combines with the others of its scope.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PrincipleMode {
    /// Added to the principles that apply (the default).
    #[default]
    Append,
    /// Replaces the broader principles for its scope; at most one per scope.
    Override,
}

impl OrgDocument {
    /// The document with every collection sorted by id and principle texts normalised
    /// ([`normalize_text`]). Imports store this form; [`OrgDocument::apply`] keeps it sorted.
    pub fn canonical(mut self) -> Self {
        for p in &mut self.principles {
            p.text = normalize_text(&p.text);
        }
        self.sort();
        self
    }

    /// Sorts every collection by id (stable: duplicates keep their order).
    fn sort(&mut self) {
        self.agents.sort_by(|a, b| a.id.cmp(&b.id));
        self.departments.sort_by(|a, b| a.id.cmp(&b.id));
        self.roles.sort_by(|a, b| a.id.cmp(&b.id));
        self.workflows.sort_by(|a, b| a.id.cmp(&b.id));
        self.principles.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// The agent with this id.
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The department with this id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The role with this id.
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// The workflow with this id.
    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.id == id)
    }

    /// The principle with this id.
    pub fn principle(&self, id: &str) -> Option<&Principle> {
        self.principles.iter().find(|p| p.id == id)
    }
}
