//! Tests of the appliers: what the strategies produce is accepted, every wrong thing refused
//! with an exact message, and apply ∘ rollback is the identity.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::improve::knobs::Knob;
use crate::improve::proposal::{Rationale, Risk, RollbackPlan, proposal_id};
use crate::improve::strategy::tests::{context, rule_match};
use crate::improve::strategy::{ImprovementStrategy, RolloutDefaults, StrategyOutput};
use crate::improve::{ArchitectureStrategy, ConfigTuningStrategy, PromptTuningStrategy};
use crate::org::standard::{
    CENTRALIZED_VERIFICATION, DEDUPLICATION, DEFAULT_TIER, MAX_TEAM_SIZE, PER_TASK_LIMIT_USD,
    STRAGGLER_TIMEOUT_SECONDS, WORK_STEALING,
};
use crate::org::{Agent, Department, Role, Workflow};
use crate::rules::tests::empty_snapshot;
use crate::rules::{ContextValue, RuleMatch, RuleSeverity};
use crate::snapshot::{DepartmentSummary, ErrorCategorySummary, OrgSignalSnapshot, TrendDirection};

/// A hand-built proposal of `altitude` with `changes`.
fn proposal(altitude: Altitude, changes: Vec<OrgChange>) -> ImprovementProposal {
    ImprovementProposal {
        id: proposal_id(altitude, "test_rule", &changes),
        altitude,
        title: "test".into(),
        description: "test".into(),
        rationale: Rationale {
            rule_name: "test_rule".into(),
            severity: RuleSeverity::Warning,
            description: "test".into(),
            signal_context: BTreeMap::new(),
            threshold: None,
        },
        rollback: RollbackPlan::for_changes(&changes),
        changes,
        alternatives: Vec::new(),
        confidence: 0.5,
        risk: Risk::for_altitude(altitude),
        rollout: RolloutDefaults::default().strategy,
        primary_metric: Default::default(),
        observation_window_hours: 24,
        source_cycle: None,
        created_at: empty_snapshot().collected_at,
    }
}

fn set(path: &str, from: SettingValue, to: SettingValue) -> OrgChange {
    OrgChange::SetSetting {
        path: path.into(),
        from: Some(from),
        to: Some(to),
    }
}

fn principle(id: &str, scope: PrincipleScope, text: &str, mode: PrincipleMode) -> Principle {
    Principle {
        id: id.into(),
        scope,
        text: text.into(),
        mode,
    }
}

fn agent(id: &str, role: &str, department: &str) -> Agent {
    Agent {
        id: id.into(),
        role: role.into(),
        department: department.into(),
    }
}

fn role(id: &str, department: Option<&str>) -> Role {
    Role {
        id: id.into(),
        description: None,
        department: department.map(str::to_owned),
    }
}

/// The standard org with a few agents.
fn staffed_org() -> OrgDocument {
    let mut org = OrgDocument::standard();
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

fn plan(applier: &dyn ProposalApplier, p: &ImprovementProposal, org: &OrgDocument) -> AppliedPlan {
    match applier.check(p, org) {
        Ok(plan) => plan,
        Err(e) => panic!("{}: {e}", p.title),
    }
}

fn refusal(applier: &dyn ProposalApplier, altitude: Altitude, changes: Vec<OrgChange>) -> String {
    refusal_in(applier, altitude, changes, &OrgDocument::standard())
}

fn refusal_in(
    applier: &dyn ProposalApplier,
    altitude: Altitude,
    changes: Vec<OrgChange>,
    org: &OrgDocument,
) -> String {
    match applier.check(&proposal(altitude, changes), org) {
        Ok(plan) => panic!("accepted: {:?}", plan.changes),
        Err(e) => e.to_string(),
    }
}

/// Checks what every accepted plan must satisfy against `org`.
fn assert_plan(p: &ImprovementProposal, plan: &AppliedPlan, org: &OrgDocument) {
    assert_eq!(org.apply(&plan.changes).as_ref(), Ok(&plan.result));
    assert_eq!(plan.rollback, OrgChange::inverse_all(&plan.changes));
    assert_eq!(plan.result.apply(&plan.rollback), org.apply(&[]));
    assert_eq!(plan.changes.len(), p.changes.len());
}

fn run_strategy(
    strategy: &dyn ImprovementStrategy,
    org: &OrgDocument,
    snapshot: &OrgSignalSnapshot,
    matches: &[RuleMatch],
) -> StrategyOutput {
    match strategy.propose(&context(snapshot, matches, org)) {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    }
}

fn config() -> ConfigApplier {
    ConfigApplier::new(KnobRegistry::standard())
}

// ---- config ------------------------------------------------------------------------------

#[test]
fn config_accepts_what_the_strategy_proposes() {
    let org = OrgDocument::standard();
    let matches = [
        rule_match(
            "budget_overrun",
            &[Altitude::ConfigTuning],
            &[
                ("days_until_exhausted", ContextValue::Int(7)),
                ("threshold", ContextValue::Int(14)),
            ],
        ),
        rule_match("quality_declining", &[Altitude::ConfigTuning], &[]),
        rule_match("coordination_overhead", &[Altitude::ConfigTuning], &[]),
        rule_match("coordination_cost_ratio", &[Altitude::ConfigTuning], &[]),
        rule_match("straggler_bottleneck", &[Altitude::ConfigTuning], &[]),
    ];
    let out = run_strategy(
        &ConfigTuningStrategy::standard(),
        &org,
        &empty_snapshot(),
        &matches,
    );
    assert!(out.proposals.len() >= 4, "{:?}", out.notes);
    for p in &out.proposals {
        let plan = plan(&config(), p, &org);
        assert_eq!(plan.changes, p.changes);
        assert_eq!(plan.rollback, p.rollback.operations);
        assert_plan(p, &plan, &org);
    }
    let budget = &out.proposals[0];
    assert_eq!(
        budget.changes,
        vec![set(DEFAULT_TIER, "large".into(), "medium".into())]
    );
    // Through the dispatcher, too.
    let appliers = appliers_for_standard(KnobRegistry::standard());
    assert_eq!(
        appliers.check(budget, &org),
        config().check(budget, &org),
        "dispatch"
    );
}

#[test]
fn config_accepts_an_integer_for_a_float_knob() {
    let org = OrgDocument::standard();
    let p = proposal(
        Altitude::ConfigTuning,
        vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 3i64.into())],
    );
    assert_plan(&p, &plan(&config(), &p, &org), &org);
}

#[test]
fn config_refuses_each_wrong_thing_with_an_exact_message() {
    let c = config();
    let cases: Vec<(Vec<OrgChange>, &str)> = vec![
        (
            vec![OrgChange::AddRole(role("x-role", None))],
            "change 1 (add role x-role): add_role is not allowed in config_tuning proposals (it belongs to architecture)",
        ),
        (
            vec![set("models.unknown", "a".into(), "b".into())],
            "change 1 (set models.unknown: \"a\" → \"b\"): unknown knob \"models.unknown\" (not in the knob registry)",
        ),
        (
            vec![set(DEFAULT_TIER, "large".into(), "huge".into())],
            "change 1 (set models.default_tier: \"large\" → \"huge\"): the new value must be one of small, medium, large, found \"huge\"",
        ),
        (
            vec![set(DEFAULT_TIER, "large".into(), 3i64.into())],
            "change 1 (set models.default_tier: \"large\" → 3): the new value must be one of small, medium, large, found the integer 3",
        ),
        (
            vec![set(PER_TASK_LIMIT_USD, 2.0.into(), 60.0.into())],
            "change 1 (set budget.per_task_limit_usd: 2.0 → 60.0): the new value must be a number in [0.1, 50.0], found 60.0",
        ),
        (
            vec![set(MAX_TEAM_SIZE, 5i64.into(), 0i64.into())],
            "change 1 (set coordination.max_team_size: 5 → 0): the new value must be an integer in [1, 20], found 0",
        ),
        (
            vec![set(MAX_TEAM_SIZE, 5i64.into(), 4.5.into())],
            "change 1 (set coordination.max_team_size: 5 → 4.5): the new value must be an integer in [1, 20], found the float 4.5",
        ),
        (
            vec![set(WORK_STEALING, false.into(), "yes".into())],
            "change 1 (set coordination.work_stealing: false → \"yes\"): the new value must be true or false, found the string \"yes\"",
        ),
        (
            vec![OrgChange::SetSetting {
                path: WORK_STEALING.into(),
                from: Some(false.into()),
                to: None,
            }],
            "change 1 (set coordination.work_stealing: false → absent): knob coordination.work_stealing cannot be removed; the new value must be true or false",
        ),
        (
            vec![set(DEFAULT_TIER, "medium".into(), "small".into())],
            "change 1 (set models.default_tier: \"medium\" → \"small\"): stale change: models.default_tier is \"large\", the change expects \"medium\"",
        ),
        (
            vec![
                set(DEFAULT_TIER, "large".into(), "medium".into()),
                set(DEFAULT_TIER, "medium".into(), "small".into()),
            ],
            "change 2 (set models.default_tier: \"medium\" → \"small\"): change 1 already sets knob models.default_tier; at most one change per knob",
        ),
        (
            vec![set(DEFAULT_TIER, "large".into(), "large".into())],
            "change 1 (set models.default_tier: \"large\" → \"large\"): the change changes nothing (models.default_tier stays \"large\")",
        ),
    ];
    for (changes, want) in cases {
        assert_eq!(refusal(&c, Altitude::ConfigTuning, changes), want);
    }
}

#[test]
fn config_reports_every_problem_and_the_common_checks() {
    let c = config();
    let got = refusal(
        &c,
        Altitude::ConfigTuning,
        vec![
            set(DEDUPLICATION, false.into(), true.into()),
            set("nope", 1i64.into(), 2i64.into()),
            set(STRAGGLER_TIMEOUT_SECONDS, 900i64.into(), 10i64.into()),
        ],
    );
    assert_eq!(
        got,
        "change 2 (set nope: 1 → 2): unknown knob \"nope\" (not in the knob registry); change 3 (set coordination.straggler_timeout_seconds: 900 → 10): the new value must be an integer in [60, 7200], found 10"
    );
    assert_eq!(
        refusal(&c, Altitude::ConfigTuning, vec![]),
        "the proposal has no changes"
    );
    assert_eq!(
        refusal(
            &c,
            Altitude::PromptTuning,
            vec![set(DEDUPLICATION, false.into(), true.into())]
        ),
        "the config_tuning applier cannot apply a prompt_tuning proposal"
    );
    // A knob registered for a setting the document lacks: `from` absent is current.
    let registry = KnobRegistry::new([Knob::new("extra.flag", KnobKind::Bool, "A flag.")]);
    let Ok(registry) = registry else {
        panic!("registry");
    };
    let org = OrgDocument::standard();
    let p = proposal(
        Altitude::ConfigTuning,
        vec![OrgChange::SetSetting {
            path: "extra.flag".into(),
            from: None,
            to: Some(true.into()),
        }],
    );
    assert_plan(&p, &plan(&ConfigApplier::new(registry), &p, &org), &org);
}

// ---- prompt ------------------------------------------------------------------------------

fn error_snapshot() -> OrgSignalSnapshot {
    let mut s = empty_snapshot();
    s.errors.total_findings = 23;
    s.errors.categories = vec![ErrorCategorySummary {
        category: "logical_contradiction".into(),
        count: 14,
        avg_severity: 2.0,
        trend: TrendDirection::Declining,
    }];
    s
}

#[test]
fn prompt_accepts_what_the_strategy_proposes() {
    let org = OrgDocument::standard();
    let matches = [
        rule_match(
            "error_spike",
            &[Altitude::PromptTuning],
            &[
                ("total_findings", ContextValue::Int(23)),
                ("threshold", ContextValue::Int(10)),
            ],
        ),
        rule_match("my_rule", &[Altitude::PromptTuning], &[]),
    ];
    let out = run_strategy(
        &PromptTuningStrategy::new(),
        &org,
        &error_snapshot(),
        &matches,
    );
    assert_eq!(out.proposals.len(), 2, "{:?}", out.notes);
    for p in &out.proposals {
        let plan = plan(&PromptApplier::new(), p, &org);
        assert_eq!(plan.changes, p.changes);
        assert_eq!(plan.rollback, p.rollback.operations);
        assert_plan(p, &plan, &org);
    }
    // An update of a principle the strategy put in place earlier.
    let Ok(after) = org.apply(&out.proposals[0].changes) else {
        panic!("apply");
    };
    let mut s = error_snapshot();
    s.errors.total_findings = 40;
    let out = run_strategy(&PromptTuningStrategy::new(), &after, &s, &matches[..1]);
    assert!(
        matches!(
            out.proposals[0].changes[..],
            [OrgChange::UpdatePrinciple { .. }]
        ),
        "{:?}",
        out.proposals
    );
    let plan = plan(&PromptApplier::new(), &out.proposals[0], &after);
    assert_plan(&out.proposals[0], &plan, &after);
}

#[test]
fn prompt_normalises_the_text_it_commits() {
    let org = OrgDocument::standard();
    let raw = "  Cite   the ticket\nnumber in every   reply.\n";
    let p = proposal(
        Altitude::PromptTuning,
        vec![OrgChange::AddPrinciple(principle(
            "cite",
            PrincipleScope::Department("support".into()),
            raw,
            PrincipleMode::Append,
        ))],
    );
    let plan = plan(&PromptApplier::new(), &p, &org);
    let normalised = principle(
        "cite",
        PrincipleScope::Department("support".into()),
        "Cite the ticket number in every reply.",
        PrincipleMode::Append,
    );
    assert_eq!(
        plan.changes,
        vec![OrgChange::AddPrinciple(normalised.clone())]
    );
    assert_eq!(plan.rollback, vec![OrgChange::RemovePrinciple(normalised)]);
    assert_plan(&p, &plan, &org);
}

#[test]
fn prompt_refuses_each_wrong_thing_with_an_exact_message() {
    let a = PromptApplier::new();
    let add = |id: &str, scope: PrincipleScope, text: &str, mode: PrincipleMode| {
        OrgChange::AddPrinciple(principle(id, scope, text, mode))
    };
    let all = || PrincipleScope::All;
    let append = PrincipleMode::Append;
    let over = PrincipleMode::Override;
    let long = "x".repeat(4_001);
    let existing =
        "Check your result before you report a task as done, and say how you checked it.";
    let cases: Vec<(Vec<OrgChange>, String)> = vec![
        (
            vec![set(DEDUPLICATION, false.into(), true.into())],
            "change 1 (set coordination.deduplication: false → true): set_setting is not allowed in prompt_tuning proposals (it belongs to config_tuning)".into(),
        ),
        (
            vec![add("short", all(), "  too   short ", append)],
            "change 1 (add principle short (all, append): \"too short\"): the text has 9 characters after normalising whitespace; expected 10 to 4000".into(),
        ),
        (
            vec![add("long", all(), &long, append)],
            format!(
                "change 1 (add principle long (all, append): {long:?}): the text has 4001 characters after normalising whitespace; expected 10 to 4000"
            ),
        ),
        (
            vec![add(
                "p",
                PrincipleScope::Role("ghost".into()),
                "Always be kind to customers.",
                append,
            )],
            "change 1 (add principle p (role:ghost, append): \"Always be kind to customers.\"): scope role:ghost: unknown role \"ghost\"".into(),
        ),
        (
            vec![add(
                "p",
                PrincipleScope::Department("ghost".into()),
                "Always be kind to customers.",
                append,
            )],
            "change 1 (add principle p (department:ghost, append): \"Always be kind to customers.\"): scope department:ghost: unknown department \"ghost\"".into(),
        ),
        (
            vec![add("dup", all(), &existing.to_uppercase(), append)],
            format!(
                "change 1 (add principle dup (all, append): {:?}): principle \"verify-before-done\" already has this text (ignoring case)",
                existing.to_uppercase()
            ),
        ),
        (
            vec![
                add("one", all(), "Always be kind to customers.", append),
                add(
                    "two",
                    PrincipleScope::Department("support".into()),
                    "always be KIND to customers.",
                    append,
                ),
            ],
            "change 2 (add principle two (department:support, append): \"always be KIND to customers.\"): the same text as change 1 (ignoring case)".into(),
        ),
        (
            vec![
                add("one", all(), "Always be kind to customers.", over),
                add("two", all(), "Never promise a delivery date.", over),
            ],
            "change 2 (add principle two (all, override): \"Never promise a delivery date.\"): change 1 already makes an override principle for scope all; at most one per scope".into(),
        ),
    ];
    for (changes, want) in cases {
        assert_eq!(refusal(&a, Altitude::PromptTuning, changes), want);
    }
    // An override where the scope has one already.
    let mut org = OrgDocument::standard();
    org.principles.push(principle(
        "support-voice",
        PrincipleScope::Department("support".into()),
        "Answer in a calm and friendly voice.",
        over,
    ));
    let org = org.canonical();
    assert_eq!(
        refusal_in(
            &a,
            Altitude::PromptTuning,
            vec![add(
                "support-speed",
                PrincipleScope::Department("support".into()),
                "Answer within one hour of the request.",
                over,
            )],
            &org,
        ),
        "change 1 (add principle support-speed (department:support, override): \"Answer within one hour of the request.\"): scope department:support already has an override principle (\"support-voice\"); at most one per scope"
    );
    // A stale removal is the org document's precondition, still named by index.
    assert_eq!(
        refusal(
            &a,
            Altitude::PromptTuning,
            vec![OrgChange::RemovePrinciple(principle(
                "verify-before-done",
                all(),
                "Something else entirely.",
                append,
            ))],
        ),
        "change 1 (remove principle verify-before-done (all, append): \"Something else entirely.\"): principle \"verify-before-done\" in the document differs from the one this change removes (stale change)"
    );
}

#[test]
fn prompt_allows_moving_a_text_and_replacing_an_override() {
    let a = PromptApplier::new();
    let org = OrgDocument::standard();
    let Some(old) = org.principle("verify-before-done").cloned() else {
        panic!("standard principle");
    };
    // Remove a principle and add its text under a new id and scope: no duplicate.
    let mut moved = old.clone();
    moved.id = "verify-eng".into();
    moved.scope = PrincipleScope::Department("engineering".into());
    let p = proposal(
        Altitude::PromptTuning,
        vec![
            OrgChange::RemovePrinciple(old.clone()),
            OrgChange::AddPrinciple(moved),
        ],
    );
    assert_plan(&p, &plan(&a, &p, &org), &org);
    // Turn the existing principle into an override and add another append one.
    let mut over = old.clone();
    over.mode = PrincipleMode::Override;
    let p = proposal(
        Altitude::PromptTuning,
        vec![
            OrgChange::UpdatePrinciple {
                id: old.id.clone(),
                from: old,
                to: over,
            },
            OrgChange::AddPrinciple(principle(
                "kind",
                PrincipleScope::All,
                "Always be kind to customers.",
                PrincipleMode::Append,
            )),
        ],
    );
    assert_plan(&p, &plan(&a, &p, &org), &org);
}

// ---- architecture ------------------------------------------------------------------------

fn dept(success: f64, quality: f64) -> DepartmentSummary {
    DepartmentSummary {
        agent_count: 1,
        task_count: 10,
        avg_quality_score: Some(quality),
        avg_success_rate: Some(success),
        avg_collaboration_score: None,
    }
}

fn snapshot_with_departments() -> OrgSignalSnapshot {
    let mut s = empty_snapshot();
    let d = &mut s.performance.department_summaries;
    d.insert("engineering".into(), dept(0.9, 8.0));
    d.insert("support".into(), dept(0.5, 7.0));
    d.insert("research".into(), dept(0.8, 4.0));
    s
}

#[test]
fn architecture_accepts_what_the_strategy_proposes() {
    let org = staffed_org();
    let snapshot = snapshot_with_departments();
    let matches = [
        rule_match("coordination_cost_ratio", &[Altitude::Architecture], &[]),
        rule_match("straggler_bottleneck", &[Altitude::Architecture], &[]),
        rule_match("my_custom_rule", &[Altitude::Architecture], &[]),
    ];
    let out = run_strategy(&ArchitectureStrategy::new(), &org, &snapshot, &matches);
    assert_eq!(out.proposals.len(), 3, "{:?}", out.notes);
    for p in &out.proposals {
        let plan = plan(&ArchitectureApplier::new(), p, &org);
        assert_eq!(plan.changes, p.changes);
        assert_eq!(plan.rollback, p.rollback.operations);
        assert_plan(p, &plan, &org);
    }
}

#[test]
fn architecture_refuses_each_wrong_thing_with_an_exact_message() {
    let a = ArchitectureApplier::new();
    let org = staffed_org();
    let Some(sre) = org.role("sre").cloned() else {
        panic!("sre");
    };
    let Some(support) = org.department("support").cloned() else {
        panic!("support");
    };
    let Some(research) = org.department("research").cloned() else {
        panic!("research");
    };
    let case = |changes: Vec<OrgChange>| refusal_in(&a, Altitude::Architecture, changes, &org);
    assert_eq!(
        case(vec![OrgChange::AddPrinciple(principle(
            "kind",
            PrincipleScope::All,
            "Always be kind to customers.",
            PrincipleMode::Append,
        ))]),
        "change 1 (add principle kind (all, append): \"Always be kind to customers.\"): add_principle is not allowed in architecture proposals (it belongs to prompt_tuning)"
    );
    assert_eq!(
        case(vec![OrgChange::RemoveRole(sre.clone())]),
        "change 1 (remove role sre (department engineering)): role sre still has agents (eng-3); move or remove them in the same proposal; change 1 (remove role sre (department engineering)): role sre is still a step of workflow(s) feature-delivery; update or remove them in the same proposal"
    );
    let support_roles: Vec<OrgChange> = org
        .roles
        .iter()
        .filter(|r| r.department.as_deref() == Some("support"))
        .cloned()
        .map(OrgChange::RemoveRole)
        .collect();
    assert_eq!(
        case(vec![OrgChange::RemoveDepartment(support.clone())]),
        "change 1 (remove department support: \"Answers customers and resolves their issues.\"): department support still has agents (sup-1, sup-2); move or remove them in the same proposal; change 1 (remove department support: \"Answers customers and resolves their issues.\"): department support still has roles (support-agent, support-lead); remove them or move them to another department in the same proposal"
    );
    // Removing the roles too is not enough while the agents stay.
    let mut changes = vec![OrgChange::RemoveDepartment(support)];
    changes.extend(support_roles);
    let got = case(changes);
    assert!(
        got.starts_with("change 1 (remove department support: \"Answers customers and resolves their issues.\"): department support still has agents (sup-1, sup-2); move or remove them in the same proposal; change 2 (remove role support-agent (department support)): role support-agent still has agents (sup-1, sup-2)"),
        "{got}"
    );
    // A principle scoped to a removed department.
    let mut scoped = org.clone();
    scoped.principles.push(principle(
        "research-rigour",
        PrincipleScope::Department("research".into()),
        "State the uncertainty of every result.",
        PrincipleMode::Append,
    ));
    let mut changes = vec![
        OrgChange::RemoveAgent(agent("res-1", "researcher", "research")),
        OrgChange::RemoveDepartment(research),
    ];
    changes.extend(
        org.roles
            .iter()
            .filter(|r| r.department.as_deref() == Some("research"))
            .cloned()
            .map(OrgChange::RemoveRole),
    );
    let got = refusal_in(&a, Altitude::Architecture, changes, &scoped);
    assert!(
        got.contains("change 2 (remove department research: \"Investigates questions and models data.\"): principle(s) research-rigour are scoped to department research; remove them with a prompt_tuning proposal first"),
        "{got}"
    );
    // The org document's own validation of the result, for what the applier leaves to it.
    assert_eq!(
        case(vec![OrgChange::AddAgent(agent("x-1", "sre", "support"))]),
        "the result would be an invalid org document: agents[6].department: role \"sre\" belongs to department \"engineering\", not \"support\""
    );
}

#[test]
fn architecture_allows_removing_what_the_proposal_empties() {
    let a = ArchitectureApplier::new();
    let org = staffed_org();
    let Some(sre) = org.role("sre").cloned() else {
        panic!("sre");
    };
    let Some(fd) = org.workflow("feature-delivery").cloned() else {
        panic!("workflow");
    };
    let mut shorter = fd.clone();
    shorter.steps.retain(|s| s != "sre");
    // Move the agent, drop the step, then remove the role.
    let p = proposal(
        Altitude::Architecture,
        vec![
            OrgChange::MoveAgent {
                id: "eng-3".into(),
                from_role: "sre".into(),
                to_role: "backend-engineer".into(),
                from_department: "engineering".into(),
                to_department: "engineering".into(),
            },
            OrgChange::UpdateWorkflow {
                id: fd.id.clone(),
                from: fd,
                to: shorter,
            },
            OrgChange::RemoveRole(sre.clone()),
        ],
    );
    let removed = plan(&a, &p, &org);
    assert_plan(&p, &removed, &org);
    assert!(removed.result.role("sre").is_none());
    // Replacing a role (remove, add back changed) keeps its agents: allowed.
    let mut described = sre.clone();
    described.description = Some("Keeps production running.".into());
    let p = proposal(
        Altitude::Architecture,
        vec![OrgChange::RemoveRole(sre), OrgChange::AddRole(described)],
    );
    assert_plan(&p, &plan(&a, &p, &org), &org);
    // A new department with a role, a workflow and an agent.
    let p = proposal(
        Altitude::Architecture,
        vec![
            OrgChange::AddDepartment(Department {
                id: "legal".into(),
                description: Some("Reviews contracts.".into()),
            }),
            OrgChange::AddRole(role("counsel", Some("legal"))),
            OrgChange::AddAgent(agent("law-1", "counsel", "legal")),
            OrgChange::AddWorkflow(Workflow {
                id: "contract-review".into(),
                description: None,
                steps: vec!["account-executive".into(), "counsel".into()],
            }),
        ],
    );
    assert_plan(&p, &plan(&a, &p, &org), &org);
}

// ---- dispatch ------------------------------------------------------------------------------

#[test]
fn appliers_dispatch_by_altitude() {
    let appliers = appliers_for_standard(KnobRegistry::standard());
    assert_eq!(
        appliers.altitudes().collect::<Vec<_>>(),
        vec![
            Altitude::ConfigTuning,
            Altitude::Architecture,
            Altitude::PromptTuning
        ]
    );
    for alt in [
        Altitude::ConfigTuning,
        Altitude::Architecture,
        Altitude::PromptTuning,
    ] {
        assert_eq!(appliers.get(alt).map(|a| a.altitude()), Some(alt));
    }
    let org = OrgDocument::standard();
    let code = proposal(
        Altitude::CodeModification,
        vec![set(DEDUPLICATION, false.into(), true.into())],
    );
    let Err(e) = appliers.check(&code, &org) else {
        panic!("code modification accepted");
    };
    assert_eq!(e, ApplierError::CodeModificationNotImplemented);
    assert_eq!(e.to_string(), "code modification is not implemented yet");
    // An altitude without an applier.
    let only_config = Appliers::new().with(config());
    let prompt = proposal(
        Altitude::PromptTuning,
        vec![OrgChange::AddPrinciple(principle(
            "kind",
            PrincipleScope::All,
            "Always be kind to customers.",
            PrincipleMode::Append,
        ))],
    );
    assert_eq!(
        only_config
            .check(&prompt, &org)
            .map_err(|e| e.to_string())
            .err()
            .as_deref(),
        Some("no applier is registered for prompt_tuning proposals")
    );
    assert!(appliers.check(&prompt, &org).is_ok());
    // A config change in an architecture proposal goes to the architecture applier, which
    // refuses it.
    let mislabelled = proposal(
        Altitude::Architecture,
        vec![set(CENTRALIZED_VERIFICATION, false.into(), true.into())],
    );
    assert_eq!(
        appliers
            .check(&mislabelled, &org)
            .map_err(|e| e.to_string())
            .err()
            .as_deref(),
        Some(
            "change 1 (set verification.centralized: false → true): set_setting is not allowed in architecture proposals (it belongs to config_tuning)"
        )
    );
}

#[test]
fn check_never_changes_the_document() {
    let org = staffed_org();
    let before = org.clone();
    let appliers = appliers_for_standard(KnobRegistry::standard());
    let p = proposal(
        Altitude::ConfigTuning,
        vec![set(DEFAULT_TIER, "large".into(), "small".into())],
    );
    let first = appliers.check(&p, &org);
    assert!(first.is_ok());
    assert_eq!(org, before);
    // Deterministic: dry run and apply see the same plan.
    assert_eq!(appliers.check(&p, &org), first);
}

#[test]
fn change_altitudes() {
    assert_eq!(
        altitude_of(&set(DEFAULT_TIER, "a".into(), "b".into())),
        Altitude::ConfigTuning
    );
    assert_eq!(
        altitude_of(&OrgChange::AddRole(role("r", None))),
        Altitude::Architecture
    );
    let p = principle("p", PrincipleScope::All, "x", PrincipleMode::Append);
    assert_eq!(
        altitude_of(&OrgChange::RemovePrinciple(p)),
        Altitude::PromptTuning
    );
    assert_eq!(
        change_kind(&OrgChange::AddRole(role("r", None))),
        "add_role"
    );
}

// ---- property: apply ∘ rollback = identity --------------------------------------------------

/// A valid new value for `knob`, different from `current`, chosen by `pick` in [0, 1).
fn new_value(kind: &KnobKind, current: Option<&SettingValue>, pick: f64) -> Option<SettingValue> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let v = match kind {
        KnobKind::Float { min, max } => {
            SettingValue::Float(((min + (max - min) * pick) * 100.0).round() / 100.0)
        }
        KnobKind::Int { min, max } => {
            SettingValue::Integer(min + ((max - min) as f64 * pick).round() as i64)
        }
        KnobKind::Bool => SettingValue::Bool(pick < 0.5),
        KnobKind::Choice { values } => {
            let i = ((values.len() as f64 * pick) as usize).min(values.len() - 1);
            SettingValue::String(values[i].clone())
        }
    };
    (Some(&v) != current).then_some(v)
}

proptest! {
    #[test]
    fn config_check_then_rollback_restores_the_org(
        picks in proptest::collection::vec((any::<bool>(), 0.0f64..1.0), 7),
    ) {
        let org = OrgDocument::standard();
        let registry = KnobRegistry::standard();
        let changes: Vec<OrgChange> = registry
            .iter()
            .zip(&picks)
            .filter(|(_, (use_it, _))| *use_it)
            .filter_map(|(knob, (_, pick))| {
                let current = org.settings.get(&knob.path);
                new_value(&knob.kind, current, *pick).map(|to| OrgChange::SetSetting {
                    path: knob.path.clone(),
                    from: current.cloned(),
                    to: Some(to),
                })
            })
            .collect();
        prop_assume!(!changes.is_empty());
        let p = proposal(Altitude::ConfigTuning, changes);
        let plan = ConfigApplier::new(registry).check(&p, &org);
        prop_assert!(plan.is_ok(), "{:?}", plan);
        let Ok(plan) = plan else { return Ok(()) };
        prop_assert_eq!(&plan.changes, &p.changes);
        prop_assert_eq!(plan.result.apply(&plan.rollback), Ok(org.clone()));
        // The stored rollback plan of the proposal agrees.
        prop_assert_eq!(&plan.rollback, &p.rollback.operations);
    }
}
