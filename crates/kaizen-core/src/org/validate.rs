//! [`OrgDocument::validate`]: referential integrity, uniqueness and bounds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use super::settings::check_key;
use super::{OrgDocument, PrincipleMode, PrincipleScope, SettingValue};
use crate::event::Name;

/// Fewest characters of a principle's normalised text.
pub const MIN_PRINCIPLE_CHARS: usize = 10;
/// Most characters of a principle's normalised text.
pub const MAX_PRINCIPLE_CHARS: usize = 4_000;
/// Most characters of a description.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// One problem of an org document, at a path such as `agents[3].role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgError {
    /// Where: `agents[3].role`, `principles[0].text`, `settings.models`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl OrgError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for OrgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A principle's text as it is compared and measured: trimmed, every run of whitespace
/// collapsed into one space.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl OrgDocument {
    /// Checks the whole document and reports every problem, in document order:
    ///
    /// * ids are names (non-blank, at most 256 bytes, no control characters) and unique per
    ///   kind;
    /// * an agent's role and department exist, and when its role belongs to a department the
    ///   agent is in that department; a role's department exists; a workflow has steps and
    ///   each names a role; a principle's scope names an existing role or department;
    /// * descriptions, when present, are non-blank and at most 2,000 characters;
    /// * a principle's normalised text ([`normalize_text`]) has 10–4,000 characters, no two
    ///   principles share a normalised text (ignoring case), and a scope has at most one
    ///   `override` principle;
    /// * settings names are non-empty, without `.` or surrounding whitespace; sections are not
    ///   empty; numbers are finite.
    pub fn validate(&self) -> Result<(), Vec<OrgError>> {
        let mut errors = Vec::new();
        let department_ids = unique_ids(
            "departments",
            "department",
            self.departments.iter().map(|d| d.id.as_str()),
            &mut errors,
        );
        for (i, d) in self.departments.iter().enumerate() {
            check_description(
                &format!("departments[{i}].description"),
                d.description.as_deref(),
                &mut errors,
            );
        }
        let role_ids = unique_ids(
            "roles",
            "role",
            self.roles.iter().map(|r| r.id.as_str()),
            &mut errors,
        );
        for (i, r) in self.roles.iter().enumerate() {
            check_description(
                &format!("roles[{i}].description"),
                r.description.as_deref(),
                &mut errors,
            );
            if let Some(dep) = &r.department
                && !department_ids.contains_key(dep.as_str())
            {
                errors.push(OrgError::new(
                    format!("roles[{i}].department"),
                    format!("unknown department {dep:?}"),
                ));
            }
        }
        unique_ids(
            "agents",
            "agent",
            self.agents.iter().map(|a| a.id.as_str()),
            &mut errors,
        );
        for (i, a) in self.agents.iter().enumerate() {
            let role = role_ids.get(a.role.as_str()).map(|&j| &self.roles[j]);
            if role.is_none() {
                errors.push(OrgError::new(
                    format!("agents[{i}].role"),
                    format!("unknown role {:?}", a.role),
                ));
            }
            if !department_ids.contains_key(a.department.as_str()) {
                errors.push(OrgError::new(
                    format!("agents[{i}].department"),
                    format!("unknown department {:?}", a.department),
                ));
            } else if let Some(dep) = role.and_then(|r| r.department.as_ref())
                && *dep != a.department
            {
                errors.push(OrgError::new(
                    format!("agents[{i}].department"),
                    format!(
                        "role {:?} belongs to department {dep:?}, not {:?}",
                        a.role, a.department
                    ),
                ));
            }
        }
        unique_ids(
            "workflows",
            "workflow",
            self.workflows.iter().map(|w| w.id.as_str()),
            &mut errors,
        );
        for (i, w) in self.workflows.iter().enumerate() {
            check_description(
                &format!("workflows[{i}].description"),
                w.description.as_deref(),
                &mut errors,
            );
            if w.steps.is_empty() {
                errors.push(OrgError::new(
                    format!("workflows[{i}].steps"),
                    "a workflow needs at least one step",
                ));
            }
            for (j, step) in w.steps.iter().enumerate() {
                if !role_ids.contains_key(step.as_str()) {
                    errors.push(OrgError::new(
                        format!("workflows[{i}].steps[{j}]"),
                        format!("unknown role {step:?}"),
                    ));
                }
            }
        }
        unique_ids(
            "principles",
            "principle",
            self.principles.iter().map(|p| p.id.as_str()),
            &mut errors,
        );
        let mut texts: HashMap<String, &str> = HashMap::new();
        let mut overrides: HashMap<&PrincipleScope, &str> = HashMap::new();
        for (i, p) in self.principles.iter().enumerate() {
            match &p.scope {
                PrincipleScope::All => {}
                PrincipleScope::Role(id) if !role_ids.contains_key(id.as_str()) => {
                    errors.push(OrgError::new(
                        format!("principles[{i}].scope"),
                        format!("unknown role {id:?}"),
                    ));
                }
                PrincipleScope::Department(id) if !department_ids.contains_key(id.as_str()) => {
                    errors.push(OrgError::new(
                        format!("principles[{i}].scope"),
                        format!("unknown department {id:?}"),
                    ));
                }
                _ => {}
            }
            let text = normalize_text(&p.text);
            let chars = text.chars().count();
            if !(MIN_PRINCIPLE_CHARS..=MAX_PRINCIPLE_CHARS).contains(&chars) {
                errors.push(OrgError::new(
                    format!("principles[{i}].text"),
                    format!(
                        "expected {MIN_PRINCIPLE_CHARS} to {MAX_PRINCIPLE_CHARS} characters after normalising whitespace, found {chars}"
                    ),
                ));
            }
            match texts.get(&text.to_lowercase()) {
                Some(first) => errors.push(OrgError::new(
                    format!("principles[{i}].text"),
                    format!("the same text as principle {first:?}"),
                )),
                None => {
                    texts.insert(text.to_lowercase(), &p.id);
                }
            }
            if p.mode == PrincipleMode::Override {
                match overrides.get(&p.scope) {
                    Some(first) => errors.push(OrgError::new(
                        format!("principles[{i}].mode"),
                        format!(
                            "scope {} already has an override principle ({first:?}); at most one per scope",
                            p.scope
                        ),
                    )),
                    None => {
                        overrides.insert(&p.scope, &p.id);
                    }
                }
            }
        }
        check_settings("settings", &self.settings.0, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Checks that every id is a name and unique; returns id → first index.
fn unique_ids<'a>(
    list: &str,
    kind: &str,
    ids: impl Iterator<Item = &'a str>,
    errors: &mut Vec<OrgError>,
) -> HashMap<&'a str, usize> {
    let mut seen = HashMap::new();
    for (i, id) in ids.enumerate() {
        if let Err(e) = Name::new(id) {
            errors.push(OrgError::new(format!("{list}[{i}].id"), e));
            continue;
        }
        if let Some(first) = seen.get(id) {
            errors.push(OrgError::new(
                format!("{list}[{i}].id"),
                format!("duplicate {kind} id {id:?} (first at {list}[{first}])"),
            ));
        } else {
            seen.insert(id, i);
        }
    }
    seen
}

fn check_description(path: &str, description: Option<&str>, errors: &mut Vec<OrgError>) {
    let Some(d) = description else { return };
    let chars = d.chars().count();
    if d.trim().is_empty() {
        errors.push(OrgError::new(
            path,
            "expected a non-blank string (omit the key for no description)",
        ));
    } else if chars > MAX_DESCRIPTION_CHARS {
        errors.push(OrgError::new(
            path,
            format!("expected at most {MAX_DESCRIPTION_CHARS} characters, found {chars}"),
        ));
    }
}

fn check_settings(path: &str, map: &BTreeMap<String, SettingValue>, errors: &mut Vec<OrgError>) {
    for (key, value) in map {
        if let Err(e) = check_key(key) {
            errors.push(OrgError::new(path, e));
            continue;
        }
        let child = format!("{path}.{key}");
        match value {
            SettingValue::Map(m) if m.is_empty() => {
                errors.push(OrgError::new(
                    child,
                    "an empty section; give it values or remove it",
                ));
            }
            SettingValue::Map(m) => check_settings(&child, m, errors),
            SettingValue::Float(x) if !x.is_finite() => {
                errors.push(OrgError::new(
                    child,
                    format!("expected a finite number, found {x}"),
                ));
            }
            _ => {}
        }
    }
}
