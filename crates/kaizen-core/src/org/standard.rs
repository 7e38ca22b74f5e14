//! [`OrgDocument::standard`]: the org shape kaizen ships, the same departments and roles as the
//! synthetic organisation of `kaizen-sim`, with the settings the default playbooks tune.

use std::collections::BTreeMap;

use super::{
    Department, OrgDocument, Principle, PrincipleMode, PrincipleScope, Role, SettingValue,
    Settings, Workflow,
};

/// `models.default_tier`: the model tier agents use unless told otherwise (string, one of
/// [`MODEL_TIERS`]).
pub const DEFAULT_TIER: &str = "models.default_tier";
/// `budget.per_task_limit_usd`: the most one task may spend, USD (float).
pub const PER_TASK_LIMIT_USD: &str = "budget.per_task_limit_usd";
/// `coordination.max_team_size`: the most agents that work one task together (integer).
pub const MAX_TEAM_SIZE: &str = "coordination.max_team_size";
/// `coordination.work_stealing`: idle agents take queued work from busy ones (boolean).
pub const WORK_STEALING: &str = "coordination.work_stealing";
/// `coordination.straggler_timeout_seconds`: after how long a sub-task is reassigned (integer).
pub const STRAGGLER_TIMEOUT_SECONDS: &str = "coordination.straggler_timeout_seconds";
/// `coordination.deduplication`: detect and merge duplicate work (boolean).
pub const DEDUPLICATION: &str = "coordination.deduplication";
/// `verification.centralized`: a central verifier checks results before they are reported
/// (boolean).
pub const CENTRALIZED_VERIFICATION: &str = "verification.centralized";

/// The model tiers, cheapest first.
pub const MODEL_TIERS: [&str; 3] = ["small", "medium", "large"];

/// The standard departments and their roles (the synthetic organisation's).
pub const STANDARD_DEPARTMENTS: [(&str, &str, &[&str]); 5] = [
    (
        "engineering",
        "Builds and runs the product.",
        &[
            "backend-engineer",
            "frontend-engineer",
            "qa-engineer",
            "sre",
        ],
    ),
    (
        "research",
        "Investigates questions and models data.",
        &["researcher", "data-scientist"],
    ),
    (
        "support",
        "Answers customers and resolves their issues.",
        &["support-agent", "support-lead"],
    ),
    (
        "sales",
        "Finds and closes customers.",
        &["account-executive", "sales-ops"],
    ),
    (
        "operations",
        "Plans work and keeps the organisation running.",
        &["ops-analyst", "project-manager"],
    ),
];

impl OrgDocument {
    /// The standard org kaizen ships: the five departments of the synthetic organisation
    /// (engineering, research, support, sales, operations) with their roles, three workflows,
    /// one org-wide principle, no agents, and the tunable settings with their defaults:
    ///
    /// | path | default |
    /// |---|---|
    /// | `models.default_tier` | `"large"` |
    /// | `budget.per_task_limit_usd` | `2.0` |
    /// | `coordination.max_team_size` | `5` |
    /// | `coordination.work_stealing` | `false` |
    /// | `coordination.straggler_timeout_seconds` | `900` |
    /// | `coordination.deduplication` | `false` |
    /// | `verification.centralized` | `false` |
    pub fn standard() -> OrgDocument {
        let mut departments = Vec::new();
        let mut roles = Vec::new();
        for (dept, description, dept_roles) in STANDARD_DEPARTMENTS {
            departments.push(Department {
                id: dept.to_owned(),
                description: Some(description.to_owned()),
            });
            for role in dept_roles {
                roles.push(Role {
                    id: (*role).to_owned(),
                    description: None,
                    department: Some(dept.to_owned()),
                });
            }
        }
        let workflow = |id: &str, description: &str, steps: &[&str]| Workflow {
            id: id.to_owned(),
            description: Some(description.to_owned()),
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
        };
        let workflows = vec![
            workflow(
                "feature-delivery",
                "From a planned change to production.",
                &[
                    "project-manager",
                    "backend-engineer",
                    "frontend-engineer",
                    "qa-engineer",
                    "sre",
                ],
            ),
            workflow(
                "research-to-production",
                "A research result becomes a shipped model.",
                &["researcher", "data-scientist", "backend-engineer"],
            ),
            workflow(
                "support-escalation",
                "A customer issue the first line cannot resolve.",
                &["support-agent", "support-lead", "backend-engineer"],
            ),
        ];
        let principles = vec![Principle {
            id: "verify-before-done".to_owned(),
            scope: PrincipleScope::All,
            text: "Check your result before you report a task as done, and say how you checked it."
                .to_owned(),
            mode: PrincipleMode::Append,
        }];
        let mut settings = Settings::default();
        let defaults: [(&str, SettingValue); 7] = [
            (DEFAULT_TIER, "large".into()),
            (PER_TASK_LIMIT_USD, 2.0.into()),
            (MAX_TEAM_SIZE, 5i64.into()),
            (WORK_STEALING, false.into()),
            (STRAGGLER_TIMEOUT_SECONDS, 900i64.into()),
            (DEDUPLICATION, false.into()),
            (CENTRALIZED_VERIFICATION, false.into()),
        ];
        let mut tree: BTreeMap<String, SettingValue> = BTreeMap::new();
        for (path, value) in defaults {
            let Some((section, key)) = path.split_once('.') else {
                continue;
            };
            if let SettingValue::Map(m) = tree
                .entry(section.to_owned())
                .or_insert_with(|| SettingValue::Map(BTreeMap::new()))
            {
                m.insert(key.to_owned(), value);
            }
        }
        settings.0 = tree;
        OrgDocument {
            agents: Vec::new(),
            departments,
            roles,
            workflows,
            principles,
            settings,
        }
        .canonical()
    }
}
