//! [`ArchitectureStrategy`]: structural changes from templates that read the rule's evidence
//! and the current org document. Three templates, chosen by rule:
//!
//! * `coordination_cost_ratio` → **split the longest workflow** (at least 4 steps; longest
//!   first, then by id): its first half stays, the second half becomes a new workflow
//!   `<id>-stage-2`, so each chain of hand-offs is shorter.
//! * `straggler_bottleneck` → **rebalance agents**: move one agent from the department with
//!   the most agents in the org document (at least 2) to the department with the lowest
//!   success rate in the snapshot, into that department's most staffed role.
//! * any other rule that reaches this altitude (custom rules) → **add a reviewer role** to the
//!   department with the lowest quality score in the snapshot, appended as the last step of
//!   each workflow that ends in that department.
//!
//! When the evidence or the org document lacks what a template needs (no long workflow, no
//! agents to move, no per-department data), the match gets a note instead of a proposal.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::strategy::{
    Draft, ImprovementStrategy, LlmSynthesizer, StrategyContext, StrategyError, StrategyNote,
    StrategyOutput, finish,
};
use crate::altitude::Altitude;
use crate::org::{Agent, OrgChange, OrgDocument, Role, Workflow};
use crate::rules::RuleMatch;
use crate::snapshot::OrgSignalSnapshot;

/// Fewest steps a workflow needs before splitting it is proposed.
pub const MIN_STEPS_TO_SPLIT: usize = 4;

/// The architecture strategy (deterministic templates; an optional synthesizer refines).
#[derive(Clone, Default)]
pub struct ArchitectureStrategy {
    synthesizer: Option<Arc<dyn LlmSynthesizer>>,
}

impl std::fmt::Debug for ArchitectureStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchitectureStrategy")
            .field("synthesizer", &self.synthesizer.is_some())
            .finish()
    }
}

impl ArchitectureStrategy {
    /// The strategy without a synthesizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `synthesizer` refine each proposal.
    #[must_use]
    pub fn with_synthesizer(mut self, synthesizer: Option<Arc<dyn LlmSynthesizer>>) -> Self {
        self.synthesizer = synthesizer;
        self
    }
}

impl ImprovementStrategy for ArchitectureStrategy {
    fn name(&self) -> &'static str {
        "architecture"
    }

    fn altitude(&self) -> Altitude {
        Altitude::Architecture
    }

    fn propose(&self, ctx: &StrategyContext<'_>) -> Result<StrategyOutput, StrategyError> {
        let mut out = StrategyOutput::default();
        for m in ctx.matches_for(Altitude::Architecture) {
            let draft = match m.rule_name.as_str() {
                "coordination_cost_ratio" => split_longest_workflow(m, ctx.org),
                "straggler_bottleneck" => rebalance_agents(m, ctx.org, ctx.snapshot),
                _ => add_reviewer_role(m, ctx.org, ctx.snapshot),
            };
            match draft {
                Ok(draft) => finish(
                    Altitude::Architecture,
                    m,
                    draft,
                    ctx,
                    self.synthesizer.as_ref(),
                    &mut out,
                ),
                Err(reason) => out.notes.push(StrategyNote::skipped(&m.rule_name, reason)),
            }
        }
        Ok(out)
    }
}

/// `base`, or `base-2`, `base-3`, … : the first id `taken` does not hold.
fn free_id(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2u32..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or_else(|| base.to_owned())
}

fn split_longest_workflow(m: &RuleMatch, org: &OrgDocument) -> Result<Draft, String> {
    let longest = org
        .workflows
        .iter()
        .filter(|w| w.steps.len() >= MIN_STEPS_TO_SPLIT)
        .max_by(|a, b| a.steps.len().cmp(&b.steps.len()).then(b.id.cmp(&a.id)))
        .ok_or_else(|| format!("no workflow has {MIN_STEPS_TO_SPLIT} or more steps to split"))?;
    let n = longest.steps.len();
    let cut = n.div_ceil(2);
    let (first, second) = longest.steps.split_at(cut);
    let new_id = free_id(&format!("{}-stage-2", longest.id), |id| {
        org.workflow(id).is_some()
    });
    let updated = Workflow {
        id: longest.id.clone(),
        description: longest.description.clone(),
        steps: first.to_vec(),
    };
    let added = Workflow {
        id: new_id.clone(),
        description: Some(format!(
            "Second stage of workflow {}, split off by kaizen to shorten its chain of hand-offs.",
            longest.id
        )),
        steps: second.to_vec(),
    };
    Ok(Draft {
        title: format!(
            "Split workflow {} ({n} steps) into {} and {new_id}",
            longest.id, longest.id
        ),
        description: format!(
            "{}. Every hand-off in a workflow adds coordination; {} is the longest workflow ({}). Keep its first {cut} steps ({}) and move the remaining {} ({}) into a new workflow {new_id}, so that each stage coordinates fewer roles.",
            m.description.trim_end_matches('.'),
            longest.id,
            longest.steps.join(" → "),
            first.join(" → "),
            n - cut,
            second.join(" → "),
        ),
        changes: vec![
            OrgChange::UpdateWorkflow {
                id: longest.id.clone(),
                from: longest.clone(),
                to: updated,
            },
            OrgChange::AddWorkflow(added),
        ],
        alternatives: Vec::new(),
    })
}

/// Departments of the snapshot that exist in the org, with a value of `metric`, lowest first
/// (ties by name).
fn worst_department<'a>(
    org: &OrgDocument,
    snapshot: &'a OrgSignalSnapshot,
    metric: impl Fn(&crate::snapshot::DepartmentSummary) -> Option<f64>,
) -> Option<(&'a str, f64)> {
    snapshot
        .performance
        .department_summaries
        .iter()
        .filter(|(id, _)| org.department(id).is_some())
        .filter_map(|(id, s)| {
            metric(s)
                .filter(|v| v.is_finite())
                .map(|v| (id.as_str(), v))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)))
}

fn rebalance_agents(
    m: &RuleMatch,
    org: &OrgDocument,
    snapshot: &OrgSignalSnapshot,
) -> Result<Draft, String> {
    let (target, rate) = worst_department(org, snapshot, |s| s.avg_success_rate)
        .ok_or("the snapshot has no per-department success rate to find the slowest department")?;
    let mut per_department: BTreeMap<&str, Vec<&Agent>> = BTreeMap::new();
    for a in &org.agents {
        per_department
            .entry(a.department.as_str())
            .or_default()
            .push(a);
    }
    let (source, agents) = per_department
        .iter()
        .filter(|(d, agents)| **d != target && agents.len() >= 2)
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
        .ok_or_else(|| format!("no other department has two or more agents to lend to {target}"))?;
    // The agent moved: the last by id (agents are kept sorted by id).
    let agent = agents
        .iter()
        .max_by(|a, b| a.id.cmp(&b.id))
        .ok_or("no agent to move")?;
    let role = target_role(org, target, agent)
        .ok_or_else(|| format!("department {target} has no role an agent could take"))?;
    let target_count = per_department.get(target).map_or(0, Vec::len);
    Ok(Draft {
        title: format!(
            "Move agent {} from {source} to {target} as {}",
            agent.id, role.id
        ),
        description: format!(
            "{}. Department {target} has the lowest success rate ({:.1}%) and {target_count} agent(s); {source} has the most agents ({}). Move agent {} (role {}) to {target} with role {} to relieve the bottleneck.",
            m.description.trim_end_matches('.'),
            rate * 100.0,
            agents.len(),
            agent.id,
            agent.role,
            role.id,
        ),
        changes: vec![OrgChange::MoveAgent {
            id: agent.id.clone(),
            from_role: agent.role.clone(),
            to_role: role.id.clone(),
            from_department: agent.department.clone(),
            to_department: target.to_owned(),
        }],
        alternatives: Vec::new(),
    })
}

/// The role the moved agent takes in `target`: the department's role with the most agents
/// (ties by id), or its first role, or the agent's own role when it belongs to no department.
fn target_role<'a>(org: &'a OrgDocument, target: &str, agent: &Agent) -> Option<&'a Role> {
    let count = |role: &str| org.agents.iter().filter(|a| a.role == role).count();
    org.roles
        .iter()
        .filter(|r| r.department.as_deref() == Some(target))
        .max_by(|a, b| count(&a.id).cmp(&count(&b.id)).then(b.id.cmp(&a.id)))
        .or_else(|| org.role(&agent.role).filter(|r| r.department.is_none()))
}

fn add_reviewer_role(
    m: &RuleMatch,
    org: &OrgDocument,
    snapshot: &OrgSignalSnapshot,
) -> Result<Draft, String> {
    let (dept, quality) = worst_department(org, snapshot, |s| s.avg_quality_score)
        .ok_or("the snapshot has no per-department quality score to find where review helps")?;
    let role_id = free_id(&format!("{dept}-reviewer"), |id| org.role(id).is_some());
    let role = Role {
        id: role_id.clone(),
        description: Some(format!(
            "Reviews the {dept} department's results before they are reported (added by kaizen)."
        )),
        department: Some(dept.to_owned()),
    };
    let mut changes = vec![OrgChange::AddRole(role)];
    let mut updated = Vec::new();
    for w in &org.workflows {
        let ends_here = w
            .steps
            .last()
            .and_then(|r| org.role(r))
            .is_some_and(|r| r.department.as_deref() == Some(dept));
        if ends_here {
            let mut to = w.clone();
            to.steps.push(role_id.clone());
            updated.push(w.id.clone());
            changes.push(OrgChange::UpdateWorkflow {
                id: w.id.clone(),
                from: w.clone(),
                to,
            });
        }
    }
    let workflows = if updated.is_empty() {
        "No workflow ends in the department; assign agents to the role to use it.".to_owned()
    } else {
        format!(
            "It becomes the last step of workflow(s) {}.",
            updated.join(", ")
        )
    };
    Ok(Draft {
        title: format!("Add a {role_id} role to department {dept}"),
        description: format!(
            "{}. Department {dept} has the lowest average quality score ({quality:.2}/10). Add a reviewer role that checks its results before they are reported. {workflows}",
            m.description.trim_end_matches('.'),
        ),
        changes,
        alternatives: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::improve::strategy::tests::{check_output, context, rule_match};
    use crate::rules::tests::empty_snapshot;
    use crate::snapshot::DepartmentSummary;

    fn run(org: &OrgDocument, snapshot: &OrgSignalSnapshot, rule: &str) -> StrategyOutput {
        let matches = [rule_match(rule, &[Altitude::Architecture], &[])];
        let ctx = context(snapshot, &matches, org);
        let out = match ArchitectureStrategy::new().propose(&ctx) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        };
        check_output(Altitude::Architecture, &out, org);
        out
    }

    fn dept(success: f64, quality: f64) -> DepartmentSummary {
        DepartmentSummary {
            agent_count: 1,
            task_count: 10,
            avg_quality_score: Some(quality),
            avg_success_rate: Some(success),
            avg_collaboration_score: None,
        }
    }

    fn staffed_org() -> OrgDocument {
        let mut org = OrgDocument::standard();
        let agent = |id: &str, role: &str, dept: &str| Agent {
            id: id.into(),
            role: role.into(),
            department: dept.into(),
        };
        org.agents = vec![
            agent("eng-1", "backend-engineer", "engineering"),
            agent("eng-2", "backend-engineer", "engineering"),
            agent("eng-3", "sre", "engineering"),
            agent("sup-1", "support-agent", "support"),
            agent("sup-2", "support-agent", "support"),
            agent("res-1", "researcher", "research"),
        ];
        org.canonical()
    }

    fn snapshot_with_departments() -> OrgSignalSnapshot {
        let mut s = empty_snapshot();
        let d = &mut s.performance.department_summaries;
        d.insert("engineering".into(), dept(0.9, 8.0));
        d.insert("support".into(), dept(0.5, 7.0));
        d.insert("research".into(), dept(0.8, 4.0));
        d.insert("ghost".into(), dept(0.1, 1.0)); // not in the org: ignored
        s
    }

    #[test]
    fn coordination_cost_splits_the_longest_workflow() {
        let org = OrgDocument::standard();
        let out = run(&org, &empty_snapshot(), "coordination_cost_ratio");
        assert_eq!(out.proposals.len(), 1, "{:?}", out.notes);
        let p = &out.proposals[0];
        assert_eq!(
            p.title,
            "Split workflow feature-delivery (5 steps) into feature-delivery and feature-delivery-stage-2"
        );
        let Ok(after) = org.apply(&p.changes) else {
            panic!("does not apply");
        };
        let steps = |id: &str| after.workflow(id).map(|w| w.steps.join(","));
        assert_eq!(
            steps("feature-delivery").as_deref(),
            Some("project-manager,backend-engineer,frontend-engineer")
        );
        assert_eq!(
            steps("feature-delivery-stage-2").as_deref(),
            Some("qa-engineer,sre")
        );
        // Nothing long enough: a note.
        let mut short = OrgDocument::standard();
        short
            .workflows
            .retain(|w| w.steps.len() < MIN_STEPS_TO_SPLIT);
        let out = run(&short, &empty_snapshot(), "coordination_cost_ratio");
        assert!(out.proposals.is_empty());
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn straggler_moves_an_agent_to_the_weakest_department() {
        let org = staffed_org();
        let out = run(&org, &snapshot_with_departments(), "straggler_bottleneck");
        assert_eq!(out.proposals.len(), 1, "{:?}", out.notes);
        assert_eq!(
            out.proposals[0].changes,
            vec![OrgChange::MoveAgent {
                id: "eng-3".into(),
                from_role: "sre".into(),
                to_role: "support-agent".into(),
                from_department: "engineering".into(),
                to_department: "support".into(),
            }]
        );
        // No agents, or no department data: notes.
        let out = run(
            &OrgDocument::standard(),
            &snapshot_with_departments(),
            "straggler_bottleneck",
        );
        assert!(out.proposals.is_empty() && out.notes.len() == 1);
        let out = run(&org, &empty_snapshot(), "straggler_bottleneck");
        assert!(out.proposals.is_empty() && out.notes.len() == 1);
    }

    #[test]
    fn other_rules_add_a_reviewer_to_the_lowest_quality_department() {
        let org = staffed_org();
        let out = run(&org, &snapshot_with_departments(), "my_custom_rule");
        assert_eq!(out.proposals.len(), 1, "{:?}", out.notes);
        let p = &out.proposals[0];
        assert_eq!(
            p.title,
            "Add a research-reviewer role to department research"
        );
        let Ok(after) = org.apply(&p.changes) else {
            panic!("does not apply");
        };
        assert!(after.role("research-reviewer").is_some());
        // No standard workflow ends in research.
        assert_eq!(p.changes.len(), 1);
        let mut s = snapshot_with_departments();
        s.performance
            .department_summaries
            .insert("engineering".into(), dept(0.9, 1.0));
        let out = run(&org, &s, "my_custom_rule");
        // All three standard workflows end in an engineering role.
        assert_eq!(out.proposals[0].changes.len(), 4);
    }

    #[test]
    fn proposals_are_deterministic() {
        let org = staffed_org();
        let s = snapshot_with_departments();
        for rule in ["coordination_cost_ratio", "straggler_bottleneck", "x"] {
            assert_eq!(run(&org, &s, rule), run(&org, &s, rule));
        }
    }
}
