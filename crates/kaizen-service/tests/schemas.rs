//! The JSON Schemas derived for what the REST API returns describe exactly what `serde_json`
//! writes. Realistic values of every root type — from a real store that went through
//! ingestion, improvement cycles, a human approval, a before/after rollout with twelve checks
//! that was applied and then rolled back, an A/B rollout started by hand and rolled back by a
//! human decision, org versions, alerts, tokens and the audit log, plus detector checks built
//! directly for the cases a short scenario does not reach (an unknown variance, Welch's test, a
//! sample-ratio test, every decision) — are validated against `schemars::schema_for!(T)` and
//! against the schema of the serialize contract (what an output schema is). Then every field of
//! every sample, one at a time, is replaced by a value no field produces: the schema must reject
//! each, so no produced field is undescribed or described as "anything". Optional fields must
//! be seen both with a value and as `null`, so both halves of their schemas are exercised.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use chrono::{DateTime, Duration, Utc};
use common::{agents, at, ndjson, org_with, proposal, queue, set};
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::{KaizenConfig, RegressionMethod, RolloutStrategyKind};
use kaizen_core::org::standard::WORK_STEALING;
use kaizen_core::org::{
    Agent, Department, EffectiveConfig, OrgChange, OrgDocument, Principle, PrincipleMode, Role,
    SettingValue, Workflow,
};
use kaizen_core::rollout::check::{
    AgentSums, CheckDecision, CheckInput, CheckOutcome, Design, Detection, DetectorState, Metric,
    PreShift, SampleRatio, check,
};
use kaizen_core::rules::{Evaluation, RuleEngine};
use kaizen_core::snapshot::OrgSignalSnapshot;
use kaizen_service::cycle::{CycleProposal, ProposalOutcome};
use kaizen_service::effective::EffectiveConfigs;
use kaizen_service::review::RolloutStarted;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::rollout::{Decision, RolloutProgress};
use kaizen_service::{
    ApplyReport, Approved, CycleOptions, CycleReport, CycleTrigger, RollbackReport, Service,
};
use kaizen_sim::{Fault, SimSpec};
use kaizen_store::auth::{AuditEntry, AuditOutcome, AuditQuery, AuditRecord, NewToken};
use kaizen_store::auth::{IssuedToken, TokenInfo};
use kaizen_store::org::{OrgVersion, OrgVersionSummary};
use kaizen_store::proposals::{
    Actor, ActorKind, CycleRecord, CycleSummary, ProposalSummary, StoredProposal,
};
use kaizen_store::rollouts::{Alert, Rollout, RolloutState, StoredCheck};
use kaizen_store::{IngestOptions, IngestReport, Store};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::Value;

/// What no field of any output is: an array of arrays of arrays of strings.
fn sentinel() -> Value {
    serde_json::json!([[["not a value of this field"]]])
}

/// The schemas an output of type `T` is checked against: the default (deserialize) contract of
/// `schema_for!`, and the serialize contract, which is what describes an output exactly (a
/// field with `#[serde(default)]` is always written; one with `skip_serializing_if` may be
/// missing).
fn schemas<T: JsonSchema>() -> [(&'static str, Value); 2] {
    [
        ("schema_for!", schemars::schema_for!(T).to_value()),
        (
            "serialize contract",
            SchemaSettings::draft2020_12()
                .for_serialize()
                .into_generator()
                .into_root_schema_for::<T>()
                .to_value(),
        ),
    ]
}

/// Every node of `v` below the root: its JSON pointer and its pattern (the pointer with array
/// indices replaced by `*`).
fn nodes(v: &Value, pointer: &str, pattern: &str, out: &mut Vec<(String, String)>) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{pointer}/{}", escape(k));
                let q = format!("{pattern}/{}", escape(k));
                out.push((p.clone(), q.clone()));
                nodes(child, &p, &q, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{pointer}/{i}");
                let q = format!("{pattern}/*");
                out.push((p.clone(), q.clone()));
                nodes(child, &p, &q, out);
            }
        }
        _ => {}
    }
}

/// What the samples of all types showed.
#[derive(Default)]
struct Checked {
    /// Samples validated, per type.
    samples: BTreeMap<&'static str, usize>,
    /// Per type and field pattern: (seen `null`, seen a value).
    nullability: BTreeMap<(&'static str, String), (bool, bool)>,
}

impl Checked {
    /// Validates every sample against both schemas of `T`, and checks that replacing any field
    /// by [`sentinel`] is rejected, except below the patterns in `free` (fields that are
    /// `serde_json::Value`, which may hold anything).
    fn check<T: Serialize + JsonSchema + Debug>(
        &mut self,
        name: &'static str,
        samples: &[T],
        free: &[&str],
    ) {
        assert!(!samples.is_empty(), "no sample of {name}");
        let values: Vec<Value> = samples
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_else(|e| panic!("{name}: {e}: {s:?}")))
            .collect();
        for (contract, schema) in schemas::<T>() {
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("the {contract} schema of {name} is invalid: {e}"));
            let mut tampered_patterns = BTreeSet::new();
            for v in &values {
                let errors: Vec<String> = validator
                    .iter_errors(v)
                    .map(|e| {
                        format!(
                            "  at {}: {e} (schema {})",
                            e.instance_path(),
                            e.schema_path()
                        )
                    })
                    .collect();
                assert!(
                    errors.is_empty(),
                    "a {name} does not match its {contract} schema:\n{}\nvalue: {v:#}\nschema: {schema:#}",
                    errors.join("\n")
                );
                let mut all = Vec::new();
                nodes(v, "", "", &mut all);
                for (pointer, pattern) in all {
                    if free.iter().any(|f| pattern.starts_with(f))
                        || !tampered_patterns.insert(pattern.clone())
                    {
                        continue;
                    }
                    let mut bad = v.clone();
                    if let Some(node) = bad.pointer_mut(&pointer) {
                        *node = sentinel();
                    }
                    assert!(
                        !validator.is_valid(&bad),
                        "the {contract} schema of {name} accepts anything at {pointer}: the field is not described\nschema: {schema:#}"
                    );
                }
            }
        }
        for v in &values {
            let mut all = Vec::new();
            nodes(v, "", "", &mut all);
            for (pointer, pattern) in all {
                let seen = self.nullability.entry((name, pattern)).or_default();
                if v.pointer(&pointer).is_some_and(Value::is_null) {
                    seen.0 = true;
                } else {
                    seen.1 = true;
                }
            }
        }
        *self.samples.entry(name).or_default() += samples.len();
    }

    /// Fields that were `null` in every sample of their type: their value's schema was never
    /// exercised.
    fn always_null(&self) -> Vec<String> {
        self.nullability
            .iter()
            .filter(|(_, (null, value))| *null && !*value)
            .map(|((name, pattern), _)| format!("{name}{pattern}"))
            .collect()
    }
}

fn end() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

fn ana() -> Actor {
    Actor::human("ana")
}

fn exec() -> RollbackExecutor {
    RollbackExecutor::default()
}

/// Everything the scenario produced, by type.
#[derive(Default)]
struct Samples {
    ingest: Vec<IngestReport>,
    snapshots: Vec<OrgSignalSnapshot>,
    evaluations: Vec<Evaluation>,
    cycle_reports: Vec<CycleReport>,
    cycle_summaries: Vec<CycleSummary>,
    cycle_records: Vec<CycleRecord>,
    proposal_summaries: Vec<ProposalSummary>,
    proposals: Vec<StoredProposal>,
    previews: Vec<ApplyReport>,
    approvals: Vec<Approved>,
    rollbacks: Vec<RollbackReport>,
    rollouts: Vec<Rollout>,
    checks: Vec<StoredCheck>,
    progress: Vec<RolloutProgress>,
    effective: Vec<EffectiveConfig>,
    org_versions: Vec<OrgVersion>,
    org_history: Vec<OrgVersionSummary>,
    documents: Vec<OrgDocument>,
    diffs: Vec<Vec<OrgChange>>,
    alerts: Vec<Alert>,
    audit: Vec<AuditRecord>,
    tokens: Vec<TokenInfo>,
    issued: Vec<IssuedToken>,
}

/// A store with 9 days of a 30-agent org whose budget runs out and whose errors spike, the
/// standard org with the 20 agents of `common::agents`.
fn setup(dir: &std::path::Path, s: &mut Samples) -> Store {
    let mut spec = SimSpec::new(30, 9, 5, end());
    spec.faults = vec![Fault::BudgetOverrun, Fault::ErrorSpike, Fault::Redundancy];
    let mut data = Vec::new();
    kaizen_sim::generate(&spec, &mut data).expect("generate");
    let mut store = Store::open(dir.join("k.db")).expect("open");
    let report = store
        .ingest(data.as_slice(), IngestOptions::new(end()))
        .expect("ingest");
    assert_eq!(report.rejected, 0);
    s.ingest.push(report);
    // Rejections with and without a field at fault.
    let bad = b"{\"schema\":\"kaizen.event.v1\",\"type\":\"task.completed\"}\nnot json\n";
    let report = store
        .ingest(&bad[..], IngestOptions::new(end()))
        .expect("ingest");
    assert!(report.rejected >= 2, "{report:?}");
    s.ingest.push(report);
    store
        .org_import(org_with(&agents(20)), "test", end())
        .expect("import org");
    store
}

/// The whole scenario; returns every value it produced.
fn scenario() -> Samples {
    let mut s = Samples::default();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = setup(dir.path(), &mut s);
    let mut config = common::enabled();
    // The scenario's first rollout is a before/after one (a second cannot start beside it).
    config.self_improvement.rollout.default_strategy = RolloutStrategyKind::BeforeAfter;
    let clock = ManualClock::new(end());
    let mut service = Service {
        store: &mut store,
        config: &config,
        clock: &clock,
    };

    // Signals and rules.
    let snapshot = service
        .snapshot(end() - Duration::days(7), end())
        .expect("snapshot");
    s.evaluations
        .push(RuleEngine::from_config(&config.rules).evaluate(&snapshot));
    s.snapshots.push(snapshot);
    s.snapshots.push(
        service
            .snapshot(end() + hours(1000), end() + hours(1001))
            .expect("an empty snapshot"),
    );

    // Cycles: queued, then duplicates, then a dry run.
    let run = |service: &mut Service<'_>, dry_run: bool| {
        let r = service
            .run_cycle(CycleOptions {
                trigger: CycleTrigger::Manual,
                dry_run,
            })
            .expect("cycle");
        clock.advance(hours(1));
        r
    };
    let first_cycle = run(&mut service, false);
    let budget = first_cycle
        .queued()
        .find(|p| p.rule_name == "budget_overrun")
        .expect("the budget proposal was queued")
        .id
        .clone();
    s.cycle_reports.push(first_cycle);
    s.cycle_reports.push(run(&mut service, false));
    s.cycle_reports.push(run(&mut service, true));
    s.cycle_summaries = service.store.cycles(10).expect("cycles");
    for c in &s.cycle_summaries {
        s.cycle_records
            .push(service.store.cycle(&c.id).expect("read").expect("a cycle"));
    }
    s.previews.push(service.preview(&budget).expect("preview"));

    // Clean data for the org's agents: the two weeks and a day before the window that a
    // before/after rollout reads, and 96 h after the approval.
    let start = end() + hours(49);
    let org_agents = agents(20);
    let data = ndjson(
        &org_agents,
        start - hours(408),
        504,
        common::Behaviour::NORMAL,
        11,
    );
    let report = service
        .store
        .ingest(data.as_slice(), IngestOptions::new(start))
        .expect("ingest");
    assert_eq!(report.rejected, 0);
    s.ingest.push(report);
    clock.set(start);

    // The approval starts the before/after rollout; a second proposal is approved but cannot
    // start while it observes.
    s.approvals.push(
        service
            .approve(&budget, &ana(), Some("looks right"), &exec())
            .expect("approve"),
    );
    let second = queue(
        service.store,
        &config,
        &proposal(
            "rule_b",
            vec![set(WORK_STEALING, false, true)],
            RolloutStrategyKind::AbTest,
            clock.now(),
        ),
    );
    let waiting = service
        .approve(&second, &ana(), None, &exec())
        .expect("approve");
    assert!(waiting.rollout_error.is_some(), "{waiting:?}");
    s.approvals.push(waiting);
    s.effective
        .push(EffectiveConfigs::compute_uncached(service.store, "rt-00").expect("effective"));
    s.proposals
        .push(service.proposal(&budget).expect("rolling out"));

    // Twelve checks, then applied.
    for _ in 0..12 {
        clock.advance(hours(4));
        s.progress
            .extend(service.tick_rollouts(&exec()).expect("tick"));
    }
    let applied = service.rollout(&budget).expect("rollout");
    assert_eq!(
        applied.state,
        RolloutState::Applied,
        "{:?}",
        applied.verdict
    );
    s.rollouts.push(applied);
    s.checks
        .extend(service.store.rollout_checks(&budget).expect("checks"));

    // The second starts by hand as an A/B test and is rolled back by a human.
    s.rollouts.push(
        service
            .start_rollout(&second, &ana(), Some(RolloutStrategyKind::AbTest), &exec())
            .expect("start"),
    );
    s.effective
        .push(EffectiveConfigs::compute_uncached(service.store, "rt-01").expect("effective"));
    for _ in 0..3 {
        clock.advance(hours(4));
        s.progress
            .extend(service.tick_rollouts(&exec()).expect("tick"));
    }
    s.rollouts.push(
        service
            .decide_rollout(&second, Decision::Rollback, &ana(), "not worth it", &exec())
            .expect("decide"),
    );
    s.checks
        .extend(service.store.rollout_checks(&second).expect("checks"));

    // The applied proposal is rolled back.
    s.rollbacks.push(
        service
            .rollback(&budget, &ana(), "cost is fine after all", &[])
            .expect("rollback"),
    );

    // Proposals, rollouts and org versions as listings and reads show them.
    let (list, _) = service.store.proposals(None, 100, 0).expect("proposals");
    for p in &list {
        s.proposals.push(service.proposal(&p.id).expect("stored"));
    }
    s.proposal_summaries = list;
    s.rollouts
        .extend(service.store.rollouts(None).expect("rollouts"));
    s.org_history = service.store.org_history(100).expect("history");
    for v in &s.org_history {
        s.org_versions.push(
            service
                .store
                .org_version(v.id)
                .expect("read")
                .expect("a version"),
        );
    }
    s.org_versions
        .push(service.store.org_current().expect("read").expect("an org"));
    let first = &s.org_versions[s.org_versions.len() - 2].document;
    for v in &s.org_versions {
        s.diffs.push(OrgDocument::diff(first, &v.document));
        s.documents.push(v.document.clone());
    }

    // Alerts, one acknowledged.
    let now = clock.now();
    let store = &mut *service.store;
    let draft = |kind, severity, proposal_id: Option<&str>, message: &str| {
        kaizen_store::alerts::AlertDraft {
            kind,
            severity,
            proposal_id: proposal_id.map(str::to_owned),
            dedup_key: None,
            message: message.to_owned(),
        }
    };
    use kaizen_core::config::{AlertKind, AlertSeverity};
    let id = store
        .alert_raise(
            &draft(
                AlertKind::RollbackFailed,
                AlertSeverity::Critical,
                Some(&budget),
                "look",
            ),
            &[],
            now,
        )
        .expect("alert")
        .id;
    store
        .alert_raise(
            &draft(
                AlertKind::Budget,
                AlertSeverity::Info,
                None,
                "nothing to do",
            ),
            &[],
            now,
        )
        .expect("alert");
    store.alert_acknowledge(id, "ana", now).expect("ack");
    s.alerts = store.alerts(true).expect("alerts");

    // Tokens, one revoked.
    let grant = kaizen_core::auth::Grant::parse(&["proposals:read".to_owned()]).expect("grant");
    for (principal, expires_at) in [("ana", None), ("bot", Some(now + hours(24)))] {
        s.issued.push(
            store
                .token_create(
                    &NewToken {
                        principal,
                        kind: if principal == "ana" {
                            ActorKind::Human
                        } else {
                            ActorKind::Agent
                        },
                        grant: &grant,
                        expires_at,
                        created_by: "admin",
                    },
                    now,
                )
                .expect("token"),
        );
    }
    store
        .token_revoke(&s.issued[1].id, "admin", now)
        .expect("revoke");
    let touched = store
        .token_authenticate(&s.issued[0].secret, now)
        .expect("authenticate");
    store.token_touch(&touched.token_id, now).expect("touch");
    s.tokens = store.tokens(true).expect("tokens");

    // The audit log, with and without the optional parts.
    for (target, detail) in [
        (
            Some(budget.as_str()),
            Some(serde_json::json!({"reason": "x"})),
        ),
        (None, None),
    ] {
        store
            .audit_append(&AuditEntry {
                at: now,
                actor: "ana",
                actor_kind: ActorKind::Human,
                operation: "proposals.approve",
                target,
                outcome: if target.is_some() {
                    AuditOutcome::Ok
                } else {
                    AuditOutcome::Refused
                },
                before: target.map(|_| "pending"),
                after: target.map(|_| "approved"),
                detail,
            })
            .expect("audit");
    }
    s.audit = store
        .audit(&AuditQuery {
            actor: None,
            operation: None,
            target: None,
            since: None,
            until: None,
            limit: 100,
            offset: 0,
        })
        .expect("audit")
        .0;
    s
}

/// One agent's sums: `tasks` tasks with success rate `success`, mean quality `quality`.
fn sums(id: usize, tasks: f64, success: f64, quality: f64) -> AgentSums {
    // A little per-agent spread, so variances are not zero.
    let wobble = 1.0 + 0.03 * ((id * 7 % 5) as f64 - 2.0);
    AgentSums {
        agent_id: format!("a{id}"),
        tasks,
        successes: (tasks * success * wobble).min(tasks),
        scored: tasks,
        quality_sum: tasks * quality * wobble,
        cost_usd: tasks * 0.05 * wobble,
        errors: tasks * 0.02 * wobble,
    }
}

/// A crafted check: design, method, control and treatment agents, whether the second run is
/// the final check, and the sample-ratio expectation.
type Case<'a> = (
    Design,
    RegressionMethod,
    &'a [AgentSums],
    &'a [AgentSums],
    bool,
    Option<SampleRatio>,
);

/// Detector checks for what the scenario does not reach: an estimate of one agent (unknown
/// variance, written `null`), Welch's test, sample-ratio tests and every decision; each check
/// run twice so the running state is carried.
fn crafted_checks() -> Vec<StoredCheck> {
    use Design::{AbTest, BeforeAfter, Canary};
    use RegressionMethod::{FixedHorizon, Sequential};
    let config = KaizenConfig::default();
    let mut detection = Detection::from_config(
        &config.self_improvement.regression,
        &config.self_improvement.rollout.ab_test,
    );
    detection.min_data_points = 3;
    detection.min_observations_per_group = 3;
    let group = |from: usize, n: usize, success: f64, quality: f64| -> Vec<AgentSums> {
        (from..from + n)
            .map(|i| sums(i, 40.0, success, quality))
            .collect()
    };
    let control = group(0, 8, 0.9, 7.0);
    let worse = group(100, 8, 0.5, 3.0);
    let better = group(100, 8, 0.95, 9.5);
    let same = group(100, 8, 0.9, 7.0);
    let one = group(200, 1, 0.9, 7.0);
    let one_more = group(300, 1, 0.9, 7.0);
    // The day before a before/after start, worse than the weeks before: a shift.
    let worse_recent = group(0, 8, 0.5, 3.0);
    let same_agents = group(0, 8, 0.9, 7.0);
    let share = Some(SampleRatio {
        control_agents: 8,
        treatment_agents: 8,
    });
    // 8 of 60 assigned treatment agents report: a sample-ratio mismatch.
    let skewed = Some(SampleRatio {
        control_agents: 8,
        treatment_agents: 60,
    });
    let cases: [Case<'_>; 8] = [
        (Canary, Sequential, &one, &one_more, true, None),
        (BeforeAfter, Sequential, &control, &same_agents, false, None),
        (
            BeforeAfter,
            FixedHorizon,
            &control,
            &same_agents,
            true,
            None,
        ),
        (Canary, Sequential, &control, &worse, false, share),
        (Canary, FixedHorizon, &control, &worse, true, skewed),
        (AbTest, FixedHorizon, &control, &better, true, share),
        (AbTest, Sequential, &control, &same, true, share),
        (Canary, Sequential, &[], &[], true, None),
    ];
    let mut out = Vec::new();
    for (design, method, c, t, final_check, sample_ratio) in cases {
        detection.method = method;
        let mut state = DetectorState::default();
        for seq in 1..=2u32 {
            let (outcome, next): (CheckOutcome, DetectorState) = check(
                &CheckInput {
                    design,
                    control: c,
                    treatment: t,
                    control_before: &[],
                    treatment_before: &[],
                    prior: if design == BeforeAfter { c } else { &[] },
                    pre_shift: (design == BeforeAfter).then_some(PreShift {
                        recent: &worse_recent,
                        week1: c,
                        week2: c,
                    }),
                    primary: Metric::Quality,
                    final_check: final_check && seq == 2,
                    sample_ratio,
                },
                &detection,
                &state,
            );
            state = next;
            out.push(StoredCheck {
                seq,
                at: end() + hours(4 * i64::from(seq)),
                ran_at: end() + hours(4 * i64::from(seq)) + Duration::minutes(3),
                elapsed_hours: 4 * seq,
                outcome,
            });
        }
    }
    out
}

/// A document and a change list of every kind of change, every kind of setting value and
/// principle scope, and descriptions both present and absent.
fn every_change() -> (OrgDocument, Vec<OrgChange>) {
    let agent = |id: &str| Agent {
        id: id.into(),
        role: "r".into(),
        department: "d".into(),
    };
    let department = Department {
        id: "d2".into(),
        description: Some("new".into()),
    };
    let role = Role {
        id: "r2".into(),
        description: None,
        department: Some("d".into()),
    };
    let workflow = |description: Option<&str>| Workflow {
        id: "w".into(),
        description: description.map(Into::into),
        steps: vec!["r".into()],
    };
    let principle = |scope: &str, mode| Principle {
        id: "p".into(),
        scope: scope.parse().expect("scope"),
        text: "Say what you do.".into(),
        mode,
    };
    let mut doc = org_with(&agents(3));
    doc.settings.0.insert(
        "sample".into(),
        SettingValue::Map(BTreeMap::from([
            ("b".into(), SettingValue::Bool(true)),
            ("i".into(), SettingValue::Integer(-3)),
            ("f".into(), SettingValue::Float(2.0)),
            ("s".into(), SettingValue::String("x".into())),
        ])),
    );
    let changes = vec![
        OrgChange::SetSetting {
            path: "sample.f".into(),
            from: Some(SettingValue::Float(2.0)),
            to: None,
        },
        OrgChange::SetSetting {
            path: "sample.n".into(),
            from: None,
            to: Some(SettingValue::Map(BTreeMap::from([(
                "deep".into(),
                SettingValue::Integer(1),
            )]))),
        },
        OrgChange::AddAgent(agent("x")),
        OrgChange::RemoveAgent(agent("y")),
        OrgChange::MoveAgent {
            id: "x".into(),
            from_role: "r".into(),
            to_role: "r2".into(),
            from_department: "d".into(),
            to_department: "d2".into(),
        },
        OrgChange::AddDepartment(department.clone()),
        OrgChange::RemoveDepartment(department),
        OrgChange::AddRole(role.clone()),
        OrgChange::RemoveRole(role),
        OrgChange::AddWorkflow(workflow(None)),
        OrgChange::RemoveWorkflow(workflow(Some("old"))),
        OrgChange::UpdateWorkflow {
            id: "w".into(),
            from: workflow(None),
            to: workflow(Some("better")),
        },
        OrgChange::AddPrinciple(principle("all", PrincipleMode::Append)),
        OrgChange::RemovePrinciple(principle("role:r", PrincipleMode::Override)),
        OrgChange::UpdatePrinciple {
            id: "p".into(),
            from: principle("department:d", PrincipleMode::Append),
            to: principle("department:d", PrincipleMode::Override),
        },
    ];
    (doc, changes)
}

#[test]
fn output_schemas_describe_exactly_what_is_serialised() {
    let mut s = scenario();

    // What the scenario leaves out, built from its values.
    let crafted = crafted_checks();
    let decisions: BTreeSet<&str> = s
        .checks
        .iter()
        .chain(&crafted)
        .map(|c| match c.outcome.decision {
            CheckDecision::Continue => "continue",
            CheckDecision::RollBack { .. } => "roll_back",
            CheckDecision::Apply {
                improved: false, ..
            } => "apply",
            CheckDecision::Apply { improved: true, .. } => "apply_improved",
            CheckDecision::Inconclusive { .. } => "inconclusive",
            CheckDecision::Hold { .. } => "hold",
        })
        .collect();
    assert_eq!(
        decisions,
        BTreeSet::from([
            "apply",
            "apply_improved",
            "continue",
            "hold",
            "inconclusive",
            "roll_back"
        ])
    );
    let metrics = || {
        s.checks
            .iter()
            .chain(&crafted)
            .flat_map(|c| &c.outcome.metrics)
    };
    assert!(
        metrics().any(|m| m.control.is_some_and(|c| c.variance.is_infinite())),
        "an unknown variance is written as null"
    );
    assert!(
        metrics().any(|m| m.pre_shift.is_some()),
        "a pre-rollout shift was searched"
    );
    assert!(
        metrics().any(|m| m.p_improvement.is_some() && m.harm_upper.is_some()),
        "an improvement was tested"
    );
    assert!(
        s.checks
            .iter()
            .chain(&crafted)
            .any(|c| c.outcome.sample_ratio.is_some()),
        "a sample-ratio test ran"
    );
    s.checks.extend(crafted);

    let template = s.cycle_reports[0].proposals[0].clone();
    let outcomes = [
        ProposalOutcome::Queued,
        ProposalOutcome::WouldQueue,
        ProposalOutcome::Duplicate {
            existing_id: "p1".into(),
        },
        ProposalOutcome::RejectedByGuard {
            guard: "rate_limit".into(),
            reason: "too many".into(),
        },
    ];
    let mut report = s.cycle_reports[0].clone();
    report.proposals = outcomes
        .into_iter()
        .map(|outcome| CycleProposal {
            outcome,
            ..template.clone()
        })
        .collect();
    s.cycle_reports.push(report);

    let started = s
        .approvals
        .iter()
        .find_map(|a| a.rollout.clone())
        .expect("a rollout started");
    s.approvals.push(Approved {
        approvals: 1,
        required: 2,
        approved: false,
        rollout: None,
        rollout_error: None,
    });
    s.approvals.push(Approved {
        rollout: Some(RolloutStarted {
            first_check_at: None,
            ..started
        }),
        ..s.approvals[0].clone()
    });
    s.progress.push(RolloutProgress {
        proposal_id: "p1".into(),
        checks_run: 0,
        state: RolloutState::Observing,
        verdict: None,
        error: Some("the store is locked".into()),
    });

    let (doc, changes) = every_change();
    let mut preview = s.previews[0].clone();
    preview.dry_run = false;
    preview.new_version = Some(preview.base_version + 1);
    preview.changes = changes.clone();
    preview.rollback = OrgChange::inverse_all(&changes);
    preview.notifications = vec![
        kaizen_store::mutators::MutatorOutcome {
            mutator: "file".into(),
            ok: true,
            error: None,
        },
        kaizen_store::mutators::MutatorOutcome {
            mutator: "hook".into(),
            ok: false,
            error: Some("unreachable".into()),
        },
    ];
    s.previews.push(preview);
    s.diffs.push(changes);
    s.documents.push(doc);

    let mut c = Checked::default();
    c.check("IngestReport", &s.ingest, &[]);
    c.check("OrgSignalSnapshot", &s.snapshots, &[]);
    c.check("Evaluation", &s.evaluations, &[]);
    c.check("CycleReport", &s.cycle_reports, &[]);
    c.check("CycleSummary", &s.cycle_summaries, &[]);
    c.check("CycleRecord", &s.cycle_records, &[]);
    c.check("ProposalSummary", &s.proposal_summaries, &[]);
    c.check("StoredProposal", &s.proposals, &[]);
    c.check("ApplyReport", &s.previews, &[]);
    c.check("Approved", &s.approvals, &[]);
    c.check("RollbackReport", &s.rollbacks, &[]);
    c.check("Rollout", &s.rollouts, &[]);
    c.check("StoredCheck", &s.checks, &[]);
    c.check("RolloutProgress", &s.progress, &[]);
    c.check("EffectiveConfig", &s.effective, &[]);
    c.check("OrgVersion", &s.org_versions, &[]);
    c.check("OrgVersionSummary", &s.org_history, &[]);
    c.check("OrgDocument", &s.documents, &[]);
    c.check("Vec<OrgChange>", &s.diffs, &[]);
    c.check("Alert", &s.alerts, &[]);
    c.check("AuditRecord", &s.audit, &["/detail"]);
    c.check("TokenInfo", &s.tokens, &[]);
    c.check("IssuedToken", &s.issued, &[]);

    assert_eq!(
        c.always_null(),
        Vec::<String>::new(),
        "optional fields never seen with a value"
    );

    // Map keys: the detector's state is keyed by metric names only.
    let mut rollout = serde_json::to_value(&s.rollouts[0]).expect("json");
    let metrics = rollout
        .pointer_mut("/detector/metrics")
        .and_then(Value::as_object_mut)
        .expect("detector metrics");
    let (_, state) = metrics.iter().next().expect("a metric");
    let state = state.clone();
    metrics.insert("latency".into(), state);
    for (contract, schema) in schemas::<Rollout>() {
        assert!(
            !jsonschema::is_valid(&schema, &rollout),
            "the {contract} schema of Rollout accepts a detector state for an unknown metric"
        );
    }
    eprintln!("validated: {:?}", c.samples);
}
