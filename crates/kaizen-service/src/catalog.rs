//! Every operation kaizen offers, one type each (see [`crate::op`]): its description, its input
//! and output types, and its body. The body translates the input into calls on the
//! [`crate::Service`] and the store; authorisation, the human-only rule, the rate limit and the
//! audit log are the gate's ([`crate::Kaizen`]), never an operation's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kaizen_core::auth::{Action, Capability, Grant};
use kaizen_core::rules::RuleEngine;
use kaizen_store::IngestOptions;
use kaizen_store::auth::{AuditQuery, AuthError, Authenticated, NewToken, TokenState};
use kaizen_store::proposals::ActorKind;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

use crate::effective::CachedConfig;
use crate::error::{ErrorKind, store_err};
use crate::op::{Cx, Op, Rest, Spec};
use crate::ops::*;
use crate::rollout::Decision;
use crate::{CycleOptions, CycleTrigger, Result, Service, ServiceError};

/// The body of `events.ingest`: events as JSON values (MCP, `kaizen call`), or the raw NDJSON /
/// JSON-array bytes a REST request carried (parsed by the store's ingest pipeline, per record).
#[derive(Debug, Clone)]
pub enum IngestBody {
    /// `{"events": [...]}`.
    Events(Vec<serde_json::Value>),
    /// NDJSON or a JSON array, as received.
    Ndjson(Vec<u8>),
}

impl<'de> Deserialize<'de> for IngestBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        EventsInput::deserialize(d).map(|i| IngestBody::Events(i.events))
    }
}

impl JsonSchema for IngestBody {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        EventsInput::schema_name()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        EventsInput::json_schema(g)
    }
}

/// The effective configuration, secrets redacted.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct EffectiveSettings(pub serde_json::Value);

impl JsonSchema for EffectiveSettings {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EffectiveSettings".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "The effective configuration (kaizen.yaml after defaults and KAIZEN__ overrides), secrets redacted; docs/configuration.md describes every key."
        })
    }
}

/// An audit note from a JSON object literal.
fn note(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// An admin operation's guardrails: `confirm` must be true and `reason` non-blank.
pub(crate) fn confirmed(confirm: bool, reason: &str) -> Result<()> {
    if !confirm {
        return Err(ServiceError::field_error(
            "confirm",
            "this is an admin operation: set confirm to true to confirm it",
        ));
    }
    if reason.trim().is_empty() {
        return Err(ServiceError::field_error(
            "reason",
            "this is an admin operation: give a non-blank reason",
        ));
    }
    Ok(())
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ServiceError::field_error(field, format!("expected an RFC 3339 time with a zone: {e}"))
        })
}

fn window(
    svc: &Service<'_>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let until = match until {
        Some(s) => parse_time("until", s)?,
        None => svc.clock.now(),
    };
    let since = match since {
        Some(s) => parse_time("since", s)?,
        None => svc.default_since(until),
    };
    if since >= until {
        return Err(ServiceError::field_error("since", "must be before until"));
    }
    Ok((since, until))
}

/// The page `page` of `all` (a list read whole, or up to `offset + limit`).
fn page_of<T>(all: Vec<T>, page: &Page) -> Paged<T> {
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(page.offset())
        .take(page.limit())
        .collect();
    paged(items, total, page)
}

fn paged<T>(items: Vec<T>, total: u64, page: &Page) -> Paged<T> {
    Paged {
        items,
        total,
        limit: page.limit(),
        offset: page.offset(),
    }
}

fn org_get(svc: &Service<'_>, n: i64) -> Result<kaizen_store::org::OrgVersion> {
    svc.store
        .org_version(n)
        .map_err(store_err)?
        .ok_or_else(|| ServiceError::NotFound(format!("no org version {n}")))
}

fn auth_err(e: AuthError) -> ServiceError {
    let kind = e.kind();
    ServiceError::store(kind, e)
}

/// `events.ingest`: Send events (NDJSON or a JSON array, gzip accepted).
pub struct IngestEvents;

impl Op for IngestEvents {
    type Input = IngestBody;
    type Output = kaizen_store::IngestReport;
    const SPEC: Spec = Spec {
        name: "events.ingest",
        domain: "events",
        action: Action::Write,
        human_only: false,
        method: Method::Post,
        path: "/events",
        summary: "Send events (NDJSON or a JSON array, gzip accepted)",
        description: "Stores `kaizen.event.v1` events from agent runtimes. Each record is validated on its own: valid records are stored even when others are rejected, and every rejected record is reported with its line and the field at fault. An event whose `id` was accepted before is skipped. Returns the counts and the rejections.",
        destructive: false,
        idempotent: false,
        rest: Rest::Custom,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let body = match input {
            IngestBody::Ndjson(bytes) => bytes,
            IngestBody::Events(events) => {
                let mut ndjson = Vec::new();
                for event in &events {
                    serde_json::to_writer(&mut ndjson, event).map_err(|e| {
                        ServiceError::Internal(format!("serialising an event: {e}"))
                    })?;
                    ndjson.push(b'\n');
                }
                ndjson
            }
        };
        let mut opts = IngestOptions::new(cx.svc.clock.now());
        opts.max_reported_rejections = 1000;
        let report = cx.svc.store.ingest(&body[..], opts).map_err(|e| match e {
            kaizen_store::StoreError::Refused(m) => ServiceError::field_error("body", m),
            other => crate::error::from_store(other),
        })?;
        metrics::counter!("kaizen_events_ingested_total").increment(report.accepted);
        metrics::counter!("kaizen_events_rejected_total").increment(report.rejected);
        Ok(report)
    }
}

/// `agents.config`: An agent's effective configuration.
pub struct AgentConfig;

impl Op for AgentConfig {
    type Input = IdInput;
    type Output = Arc<CachedConfig>;
    const SPEC: Spec = Spec {
        name: "agents.config",
        domain: "agents",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/agents/{id}/config",
        summary: "An agent's effective configuration",
        description: "What agent `id` should run with now: the current org version's settings and the principles that apply to it, plus the overlay of every live rollout whose treatment group includes it. Carries an `etag` (also the `ETag` header; send `If-None-Match` to get 304 when nothing changed).",
        destructive: false,
        idempotent: true,
        rest: Rest::Custom,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.kaizen.effective_config(cx.svc.store, &input.id)
    }
}

/// `signals.snapshot`: The signal snapshot.
pub struct SignalsSnapshot;

impl Op for SignalsSnapshot {
    type Input = SnapshotInput;
    type Output = kaizen_core::snapshot::OrgSignalSnapshot;
    const SPEC: Spec = Spec {
        name: "signals.snapshot",
        domain: "signals",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/snapshot",
        summary: "The signal snapshot",
        description: "Aggregates the seven signal domains (performance, budget, coordination, scaling, errors, evolution, telemetry) over a window; `null` means no data. Use it to see how the organisation is doing.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let (since, until) = window(&cx.svc, input.since.as_deref(), input.until.as_deref())?;
        cx.svc.snapshot(since, until)
    }
}

/// `rules.evaluate`: The rules that fire now.
pub struct RulesEvaluate;

impl Op for RulesEvaluate {
    type Input = SnapshotInput;
    type Output = kaizen_core::rules::Evaluation;
    const SPEC: Spec = Spec {
        name: "rules.evaluate",
        domain: "rules",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/rules/evaluate",
        summary: "The rules that fire now",
        description: "Builds the snapshot for the window and evaluates the built-in and custom rules on it; returns each rule that fires with its severity, the values behind it and the altitudes it suggests.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let (since, until) = window(&cx.svc, input.since.as_deref(), input.until.as_deref())?;
        let snapshot = cx.svc.snapshot(since, until)?;
        Ok(RuleEngine::from_config(&cx.svc.config.rules).evaluate(&snapshot))
    }
}

/// `cycles.list`: Improvement cycles, newest first.
pub struct CyclesList;

impl Op for CyclesList {
    type Input = Page;
    type Output = Paged<kaizen_store::proposals::CycleSummary>;
    const SPEC: Spec = Spec {
        name: "cycles.list",
        domain: "cycles",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/cycles",
        summary: "Improvement cycles, newest first",
        description: "The recorded improvement cycles with their summaries.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let all = cx
            .svc
            .store
            .cycles(input.offset() + input.limit())
            .map_err(store_err)?;
        Ok(page_of(all, &input))
    }
}

/// `cycles.get`: One improvement cycle.
pub struct CyclesGet;

impl Op for CyclesGet {
    type Input = IdInput;
    type Output = crate::CycleReport;
    const SPEC: Spec = Spec {
        name: "cycles.get",
        domain: "cycles",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/cycles/{id}",
        summary: "One improvement cycle",
        description: "A cycle's full report: the window, the rules that fired, every proposal considered and what became of it (queued, duplicate, rejected by a guard).",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc
            .cycle(&input.id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no cycle with id {}", input.id)))
    }
}

/// Records what a cycle did in its audit entry: the cycle as the target, the org version it
/// read and how many proposals it queued.
pub(crate) fn note_cycle(cx: &mut Cx<'_>, report: &crate::CycleReport) {
    cx.target = Some(report.id.clone());
    cx.audit
        .insert("org_version".to_owned(), report.org_version.into());
    cx.audit
        .insert("queued".to_owned(), report.queued().count().into());
}

/// `cycles.run`: Run an improvement cycle now.
pub struct CyclesRun;

impl Op for CyclesRun {
    type Input = RunCycleInput;
    type Output = crate::CycleReport;
    const SPEC: Spec = Spec {
        name: "cycles.run",
        domain: "cycles",
        action: Action::Write,
        human_only: false,
        method: Method::Post,
        path: "/cycles",
        summary: "Run an improvement cycle now",
        description: "Snapshot → rules → strategies → guard chain → approval queue. Refused while `self_improvement.enabled` is false. Proposals are only queued for human review; nothing is applied.",
        destructive: false,
        idempotent: false,
        rest: Rest::Json,
    };
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(
            serde_json::json!({"trigger": CycleTrigger::Manual.as_str(), "dry_run": input.dry_run}),
        )
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let report = cx.svc.run_cycle(CycleOptions {
            trigger: CycleTrigger::Manual,
            dry_run: input.dry_run,
        })?;
        note_cycle(cx, &report);
        Ok(report)
    }
}

/// `proposals.list`: The approval queue.
pub struct ProposalsList;

impl Op for ProposalsList {
    type Input = ListProposalsInput;
    type Output = Paged<kaizen_store::proposals::ProposalSummary>;
    const SPEC: Spec = Spec {
        name: "proposals.list",
        domain: "proposals",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/proposals",
        summary: "The approval queue",
        description: "Proposals, newest first, optionally by status, paginated.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let status = input.status;
        let page = Page {
            limit: input.limit,
            offset: input.offset,
        };
        let (items, total) = cx
            .svc
            .store
            .proposals(status, page.limit(), page.offset())
            .map_err(store_err)?;
        Ok(paged(items, total, &page))
    }
}

/// `proposals.get`: One proposal with its evidence.
pub struct ProposalsGet;

impl Op for ProposalsGet {
    type Input = IdInput;
    type Output = kaizen_store::proposals::StoredProposal;
    const SPEC: Spec = Spec {
        name: "proposals.get",
        domain: "proposals",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/proposals/{id}",
        summary: "One proposal with its evidence",
        description: "The proposal (rule, signal values and threshold, exact changes, rollback plan, confidence, risk), its guard verdicts, status history and approvals.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc.proposal(&input.id)
    }
}

/// `proposals.outcome`: What became of a proposal ("did the fix work?").
pub struct ProposalsOutcome;

impl Op for ProposalsOutcome {
    type Input = IdInput;
    type Output = crate::outcomes::Outcome;
    const SPEC: Spec = Spec {
        name: "proposals.outcome",
        domain: "proposals",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/proposals/{id}/outcome",
        summary: "What became of a proposal: did the fix work?",
        description: "Where the proposal ended up (rejected with the reason and by whom, rolled back with the verdict, applied, superseded, in progress) and, for an applied one, the measured effect on its metric `self_improvement.memory.outcome_horizon_days` after the apply (before vs after with a 95 % interval) and whether its rule still fires.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc.outcome(&input.id)
    }
}

/// `proposals.preview`: What applying a proposal would change now.
pub struct ProposalsPreview;

impl Op for ProposalsPreview {
    type Input = IdInput;
    type Output = crate::ApplyReport;
    const SPEC: Spec = Spec {
        name: "proposals.preview",
        domain: "proposals",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/proposals/{id}/preview",
        summary: "What applying a proposal would change now",
        description: "Runs the applier's check against the current org version and returns the exact changes and their rollback; writes nothing.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc.preview(&input.id)
    }
}

/// `proposals.submit`: Submit a proposal for human review.
pub struct ProposalsSubmit;

impl Op for ProposalsSubmit {
    type Input = SubmitProposalInput;
    type Output = crate::cycle::CycleProposal;
    const SPEC: Spec = Spec {
        name: "proposals.submit",
        domain: "proposals",
        action: Action::Write,
        human_only: false,
        method: Method::Post,
        path: "/proposals",
        summary: "Submit a proposal for human review",
        description: "Proposes concrete changes to the org document (with the evidence behind them) outside a cycle. The proposal goes through the guard chain (enabled altitude, scope, a validated rollback plan, the submission rate limit) and de-duplication, and when it passes waits in the approval queue for a human; nothing is applied. Refused while `self_improvement.enabled` is false. Returns the proposal's id, the guard verdicts and whether it was queued, a duplicate of an open proposal, or rejected by a guard.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let actor = cx.who.actor();
        cx.svc.submit_proposal(input, &actor)
    }
}

/// `proposals.approve`: A human approves a proposal.
pub struct ProposalsApprove;

impl Op for ProposalsApprove {
    type Input = ApproveInput;
    type Output = crate::Approved;
    const SPEC: Spec = Spec {
        name: "proposals.approve",
        domain: "proposals",
        action: Action::Approve,
        human_only: true,
        method: Method::Post,
        path: "/proposals/{id}/approve",
        summary: "A human approves a proposal",
        description: "Records the caller's approval. When the risk's required number of distinct humans approved, the proposal is approved and its rollout starts. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let actor = cx.who.actor();
        cx.svc.approve(
            &input.id,
            &actor,
            input.reason.as_deref(),
            cx.kaizen.executor(),
        )
    }
}

/// `proposals.reject`: A human rejects a proposal.
pub struct ProposalsReject;

impl Op for ProposalsReject {
    type Input = crate::ops::RejectInput;
    type Output = kaizen_store::proposals::StoredProposal;
    const SPEC: Spec = Spec {
        name: "proposals.reject",
        domain: "proposals",
        action: Action::Approve,
        human_only: true,
        method: Method::Post,
        path: "/proposals/{id}/reject",
        summary: "A human rejects a proposal",
        description: "Rejects a pending or approved proposal; the reason is required. With `never_again` the loop never proposes the same change again (otherwise it may come back after the memory's cooldown, or when the evidence changes materially). Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason, "never_again": input.never_again}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let actor = cx.who.actor();
        cx.svc
            .reject(&input.id, &actor, &input.reason, input.never_again)?;
        cx.svc.proposal(&input.id)
    }
}

/// `proposals.rollback`: A human rolls back an applied proposal.
pub struct ProposalsRollback;

impl Op for ProposalsRollback {
    type Input = ReasonInput;
    type Output = crate::RollbackReport;
    const SPEC: Spec = Spec {
        name: "proposals.rollback",
        domain: "proposals",
        action: Action::Approve,
        human_only: true,
        method: Method::Post,
        path: "/proposals/{id}/rollback",
        summary: "A human rolls back an applied proposal",
        description: "Applies the inverse of the org version an applied proposal made, as a new version; the reason is required. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let actor = cx.who.actor();
        let notifiers = cx.kaizen.executor().notifiers();
        cx.svc
            .rollback(&input.id, &actor, &input.reason, &notifiers)
    }
}

/// `rollouts.list`: Rollouts, newest first.
pub struct RolloutsList;

impl Op for RolloutsList {
    type Input = ListRolloutsInput;
    type Output = Paged<kaizen_store::rollouts::Rollout>;
    const SPEC: Spec = Spec {
        name: "rollouts.list",
        domain: "rollouts",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/rollouts",
        summary: "Rollouts, newest first",
        description: "Every rollout, optionally by state, with its schedule and verdict.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let filter = input.state;
        let page = Page {
            limit: input.limit,
            offset: input.offset,
        };
        let all = cx.svc.store.rollouts(filter).map_err(store_err)?;
        Ok(page_of(all, &page))
    }
}

/// `rollouts.get`: One rollout with every check.
pub struct RolloutsGet;

impl Op for RolloutsGet {
    type Input = IdInput;
    type Output = RolloutDetail;
    const SPEC: Spec = Spec {
        name: "rollouts.get",
        domain: "rollouts",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/rollouts/{id}",
        summary: "One rollout with every check",
        description: "The rollout (strategy, groups, overlay, rollback operations, verdict) and its checks with the numbers behind each decision.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let rollout = cx.svc.rollout(&input.id)?;
        let checks = cx.svc.store.rollout_checks(&input.id).map_err(store_err)?;
        Ok(RolloutDetail { rollout, checks })
    }
}

/// `rollouts.start`: Start the rollout of an approved proposal.
pub struct RolloutsStart;

impl Op for RolloutsStart {
    type Input = StartRolloutInput;
    type Output = kaizen_store::rollouts::Rollout;
    const SPEC: Spec = Spec {
        name: "rollouts.start",
        domain: "rollouts",
        action: Action::Approve,
        human_only: true,
        method: Method::Post,
        path: "/rollouts/{id}/start",
        summary: "Start the rollout of an approved proposal",
        description: "For an approved proposal whose automatic start was refused (a conflicting rollout, too few agents); optionally with another strategy. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"strategy": input.strategy}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let actor = cx.who.actor();
        cx.svc
            .start_rollout(&input.id, &actor, input.strategy, cx.kaizen.executor())
    }
}

/// `rollouts.decide`: A human decides about a rollout.
pub struct RolloutsDecide;

impl Op for RolloutsDecide {
    type Input = DecideInput;
    type Output = kaizen_store::rollouts::Rollout;
    const SPEC: Spec = Spec {
        name: "rollouts.decide",
        domain: "rollouts",
        action: Action::Approve,
        human_only: true,
        method: Method::Post,
        path: "/rollouts/{id}/decide",
        summary: "A human decides about a rollout",
        description: "Extend or apply a paused rollout, roll back a paused or observing one, or retry a failed rollback; the reason is required. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(
            serde_json::json!({"decision": input.decision, "hours": input.hours, "reason": input.reason}),
        )
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let decision = match (input.decision, input.hours) {
            (DecisionKind::Extend, hours) => Decision::Extend {
                hours: hours.unwrap_or(24),
            },
            (DecisionKind::Apply, None) => Decision::Apply,
            (DecisionKind::Rollback, None) => Decision::Rollback,
            (_, Some(_)) => {
                return Err(ServiceError::field_error(
                    "hours",
                    "only an extension takes hours",
                ));
            }
        };
        let actor = cx.who.actor();
        cx.svc.decide_rollout(
            &input.id,
            decision,
            &actor,
            &input.reason,
            cx.kaizen.executor(),
        )
    }
}

/// `org.current`: The current org document.
pub struct OrgCurrent;

impl Op for OrgCurrent {
    type Input = NoInput;
    type Output = kaizen_store::org::OrgVersion;
    const SPEC: Spec = Spec {
        name: "org.current",
        domain: "org",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/org",
        summary: "The current org document",
        description: "The newest org version: the document (agents, departments, roles, workflows, principles, settings) and how it was made.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, _: Self::Input) -> Result<Self::Output> {
        cx.svc
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)
    }
}

/// `org.versions`: Org version history, newest first.
pub struct OrgVersions;

impl Op for OrgVersions {
    type Input = Page;
    type Output = Paged<kaizen_store::org::OrgVersionSummary>;
    const SPEC: Spec = Spec {
        name: "org.versions",
        domain: "org",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/org/versions",
        summary: "Org version history, newest first",
        description: "Every version's number, parent, author, proposal and reason.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let all = cx
            .svc
            .store
            .org_history(input.offset() + input.limit())
            .map_err(store_err)?;
        Ok(page_of(all, &input))
    }
}

/// `org.version`: One org version.
pub struct OrgVersionGet;

impl Op for OrgVersionGet {
    type Input = VersionInput;
    type Output = kaizen_store::org::OrgVersion;
    const SPEC: Spec = Spec {
        name: "org.version",
        domain: "org",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/org/versions/{id}",
        summary: "One org version",
        description: "The version's document and the changes that made it.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.to_string())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        org_get(&cx.svc, input.id)
    }
}

/// `org.diff`: The changes between two org versions.
pub struct OrgDiffOp;

impl Op for OrgDiffOp {
    type Input = DiffInput;
    type Output = OrgDiff;
    const SPEC: Spec = Spec {
        name: "org.diff",
        domain: "org",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/org/diff",
        summary: "The changes between two org versions",
        description: "The list of changes that turns version `from` into version `to`.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let from = org_get(&cx.svc, input.from)?;
        let to = org_get(&cx.svc, input.to)?;
        let changes = kaizen_core::org::OrgDocument::diff(&from.document, &to.document);
        Ok(OrgDiff {
            from: input.from,
            to: input.to,
            summary: changes.iter().map(ToString::to_string).collect(),
            changes,
        })
    }
}

/// Records the version an org write made in its audit entry (the target, the parent before and
/// the new version after), and tells the notifiers about it.
fn org_written(cx: &mut Cx<'_>, version: &kaizen_store::org::OrgVersion) {
    cx.target = Some(version.id.to_string());
    cx.before = version.parent.map(|p| p.to_string());
    cx.after = Some(version.id.to_string());
    cx.audit
        .insert("changes".to_owned(), version.changes.len().into());
    let notified = cx.kaizen.executor().notify(version);
    if !notified.is_empty()
        && let Ok(value) = serde_json::to_value(&notified)
    {
        cx.audit.insert("notified".to_owned(), value);
    }
}

fn org_err(e: kaizen_store::org::OrgStoreError) -> ServiceError {
    ServiceError::store(e.kind(), e)
}

/// `org.import`: Replace the org document (admin).
pub struct OrgImportOp;

impl Op for OrgImportOp {
    type Input = OrgImportInput;
    type Output = OrgImported;
    const SPEC: Spec = Spec {
        name: "org.import",
        domain: "org",
        action: Action::Admin,
        human_only: true,
        method: Method::Post,
        path: "/org",
        summary: "Import an org document (admin)",
        description: "Makes `document` the current org version (agents, departments, roles, workflows, principles, settings): a human admin's own act, outside the approval queue, as `kaizen org import` does. The document is validated whole: when a check fails nothing is stored and every problem is named. A document equal to the current one makes no version. A change that would break a live rollout's overlay is refused (409). Notifiers hear of the new version. An admin operation: `confirm` must be true and `reason` non-blank. Only human principals may call this.",
        destructive: true,
        idempotent: true,
        rest: Rest::Json,
    };
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        confirmed(input.confirm, &input.reason)?;
        let now = cx.svc.clock.now();
        let outcome = cx
            .svc
            .store
            .org_import(input.document, &cx.who.auth.principal, now)
            .map_err(org_err)?;
        match outcome {
            kaizen_store::org::OrgImport::Created(version) => {
                org_written(cx, &version);
                Ok(OrgImported {
                    created: true,
                    version: Some(*version),
                })
            }
            kaizen_store::org::OrgImport::Unchanged(_) => {
                cx.audit.insert("unchanged".to_owned(), true.into());
                Ok(OrgImported {
                    created: false,
                    version: cx.svc.store.org_current().map_err(store_err)?,
                })
            }
        }
    }
}

/// `org.restore`: Restore an earlier org version's document (admin).
pub struct OrgRestoreOp;

impl Op for OrgRestoreOp {
    type Input = OrgRestoreInput;
    type Output = kaizen_store::org::OrgVersion;
    const SPEC: Spec = Spec {
        name: "org.restore",
        domain: "org",
        action: Action::Admin,
        human_only: true,
        method: Method::Post,
        path: "/org/versions/{id}/restore",
        summary: "Restore an earlier org version (admin)",
        description: "Makes version `id`'s document current again as a new version (history is never rewritten), as `kaizen org rollback` does: a human admin's own act, outside the approval queue. Refused when the current document already equals it, or when it would break a live rollout's overlay (409). Notifiers hear of the new version. An admin operation: `confirm` must be true and `reason` non-blank. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.to_string())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        confirmed(input.confirm, &input.reason)?;
        let now = cx.svc.clock.now();
        let version = cx
            .svc
            .store
            .org_rollback_to(input.id, &cx.who.auth.principal, &input.reason, now)
            .map_err(org_err)?;
        cx.audit.insert("restored".to_owned(), input.id.into());
        org_written(cx, &version);
        Ok(version)
    }
}

/// `alerts.list`: Alerts for a human.
pub struct AlertsList;

impl Op for AlertsList {
    type Input = AlertsInput;
    type Output = Vec<kaizen_store::alerts::Alert>;
    const SPEC: Spec = Spec {
        name: "alerts.list",
        domain: "alerts",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/alerts",
        summary: "Alerts for a human",
        description: "Unacknowledged alerts (automatic rollbacks, failed rollbacks, apply conflicts, stuck rollouts, inflections, budget), newest first, or all with `all`. An alert raised again while unacknowledged is counted (`count`, `last_at`), not repeated.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc.store.alerts(input.all).map_err(store_err)
    }
}

/// `alerts.ack`: Acknowledge an alert.
pub struct AlertsAck;

impl Op for AlertsAck {
    type Input = AckInput;
    type Output = Acknowledged;
    const SPEC: Spec = Spec {
        name: "alerts.ack",
        domain: "alerts",
        action: Action::Write,
        human_only: false,
        method: Method::Post,
        path: "/alerts/{id}/ack",
        summary: "Acknowledge an alert",
        description: "Marks the alert as seen by the caller. Its notifications to the configured sinks are still delivered.",
        destructive: false,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        Some(input.id.to_string())
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let now = cx.svc.clock.now();
        cx.svc
            .store
            .alert_acknowledge(input.id, &cx.who.auth.principal, now)
            .map_err(|e| match e {
                kaizen_store::StoreError::Refused(m) => ServiceError::NotFound(m),
                other => ServiceError::store(ErrorKind::Internal, other),
            })?;
        Ok(Acknowledged {
            acknowledged: input.id,
        })
    }
}

/// `tokens.list`: API tokens.
pub struct TokensList;

impl Op for TokensList {
    type Input = TokensListInput;
    type Output = Vec<kaizen_store::auth::TokenInfo>;
    const SPEC: Spec = Spec {
        name: "tokens.list",
        domain: "tokens",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/tokens",
        summary: "API tokens",
        description: "Every token's id, principal, kind, capabilities, expiry and last use (never the secret); revoked ones with `include_revoked`.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        cx.svc
            .store
            .tokens(input.include_revoked)
            .map_err(store_err)
    }
}

/// `tokens.create`: Issue an API token (admin).
pub struct TokensCreate;

impl Op for TokensCreate {
    type Input = TokenCreateInput;
    type Output = TokenCreated;
    const SPEC: Spec = Spec {
        name: "tokens.create",
        domain: "tokens",
        action: Action::Admin,
        human_only: true,
        method: Method::Post,
        path: "/tokens",
        summary: "Issue an API token (admin)",
        description: "Issues a bearer token for a human or an agent with the given capability patterns, never more than the caller holds. The secret is returned this once. An admin operation: `confirm` must be true and `reason` non-blank. Only human principals may call this.",
        destructive: false,
        idempotent: false,
        rest: Rest::Json,
    };
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(
            serde_json::json!({"principal": input.principal, "kind": input.kind, "capabilities": input.capabilities, "expires_in_days": input.expires_in_days, "reason": input.reason}),
        )
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        confirmed(input.confirm, &input.reason)?;
        let grant = Grant::parse(&input.capabilities)
            .map_err(|e| ServiceError::field_error("capabilities", e))?;
        let kind = match input.kind {
            PrincipalKind::Human => ActorKind::Human,
            PrincipalKind::Agent => ActorKind::Agent,
        };
        let expires_at = input
            .expires_in_days
            .map(|d| cx.svc.clock.now() + chrono::Duration::days(i64::from(d)));
        issue_token(cx, &input.principal, kind, &grant, expires_at)
    }
}

/// Issues a token for `principal` with `grant`, never more than the caller holds, noting its id
/// in the audit entry: the body of `tokens.create`, also run by `kaizen token create` (whose
/// expiry is finer than days) under that operation's permission.
pub fn issue_token(
    cx: &mut Cx<'_>,
    principal: &str,
    kind: ActorKind,
    grant: &Grant,
    expires_at: Option<DateTime<Utc>>,
) -> Result<TokenCreated> {
    // No one hands out more than they hold.
    if let Some(beyond) = beyond_holder(&cx.who.auth, grant) {
        return Err(ServiceError::Forbidden {
            code: "forbidden",
            message: format!(
                "the new token would allow {beyond}, which token {} ({}) does not have",
                cx.who.auth.token_id, cx.who.auth.principal
            ),
        });
    }
    let now = cx.svc.clock.now();
    let issued = cx
        .svc
        .store
        .token_create(
            &NewToken {
                principal,
                kind,
                grant,
                expires_at,
                created_by: &cx.who.auth.principal,
            },
            now,
        )
        .map_err(auth_err)?;
    cx.target = Some(issued.id.clone());
    let info = cx
        .svc
        .store
        .token(&issued.id)
        .map_err(auth_err)?
        .ok_or_else(|| {
            ServiceError::Internal(format!("token {} vanished after its creation", issued.id))
        })?;
    Ok(TokenCreated {
        secret: issued.secret,
        token: info,
    })
}

/// The first capability, among those the registry's operations need, that `grant` allows and
/// `holder` may not exercise; `None` when `holder` has at least `grant`'s rights. The one "no
/// escalation" comparison: issuing a token (`tokens.create`) and revoking one
/// (`tokens.revoke`) both need at least that token's rights.
fn beyond_holder(holder: &Authenticated, grant: &Grant) -> Option<Capability> {
    crate::ops::operations()
        .iter()
        .map(Operation::needs)
        .filter(|c| grant.allows(c))
        .find(|c| !holder.allows(c))
}

/// Refuses to revoke `target` (active at `now`, with `grant`) when it is a human token and the
/// last active human token able to exercise one of the `approve` or `admin` capabilities it
/// holds: revoking it would leave no one who can approve, or issue tokens, over the API.
fn keep_last_human_admin(
    store: &kaizen_store::Store,
    target: &kaizen_store::auth::TokenInfo,
    grant: &Grant,
    now: DateTime<Utc>,
) -> Result<()> {
    if target.kind != ActorKind::Human || target.state(now) != TokenState::Active {
        return Ok(());
    }
    let others: Vec<Grant> = store
        .tokens(false)
        .map_err(auth_err)?
        .into_iter()
        .filter(|t| {
            t.id != target.id && t.kind == ActorKind::Human && t.state(now) == TokenState::Active
        })
        .filter_map(|t| Grant::parse(&t.capabilities).ok())
        .collect();
    let orphaned = crate::ops::operations()
        .iter()
        .map(Operation::needs)
        .filter(|c| matches!(c.action, Action::Approve | Action::Admin) && grant.allows(c))
        .find(|c| !others.iter().any(|g| g.allows(c)));
    match orphaned {
        Some(c) => Err(ServiceError::Conflict(format!(
            "token {} ({}) is the last active human token that can {c}; revoking it would leave no one able to. Issue a replacement first (`kaizen token create` on the server's machine needs no token; docs/server.md, recovering admin access)",
            target.id, target.principal
        ))),
        None => Ok(()),
    }
}

/// `tokens.revoke`: Revoke an API token (admin).
pub struct TokensRevoke;

impl Op for TokensRevoke {
    type Input = TokenRevokeInput;
    type Output = kaizen_store::auth::TokenInfo;
    const SPEC: Spec = Spec {
        name: "tokens.revoke",
        domain: "tokens",
        action: Action::Admin,
        human_only: true,
        method: Method::Post,
        path: "/tokens/{id}/revoke",
        summary: "Revoke an API token (admin)",
        description: "Revokes a token at once and for good. The caller needs at least the revoked token's rights (403 naming the capability it lacks), and the last active human token that can exercise an `approve` or `admin` capability cannot be revoked (409 `conflict`): issue a replacement first. An admin operation: `confirm` must be true and `reason` non-blank. Only human principals may call this.",
        destructive: true,
        idempotent: false,
        rest: Rest::Json,
    };
    fn target(input: &Self::Input) -> Option<String> {
        // A secret pasted where the id goes never reaches the audit log.
        (!input.id.starts_with(kaizen_store::auth::SECRET_PREFIX)).then(|| input.id.clone())
    }
    fn audit(input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        note(serde_json::json!({"reason": input.reason}))
    }
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        confirmed(input.confirm, &input.reason)?;
        let now = cx.svc.clock.now();
        let target = cx
            .svc
            .store
            .token(&input.id)
            .map_err(auth_err)?
            .ok_or_else(|| auth_err(AuthError::UnknownId(input.id.clone())))?;
        let state = target.state(now).as_str().to_owned();
        cx.before = Some(state.clone());
        cx.after = Some(state);
        // A revoked token is left to the store's answer (409, already revoked).
        if target.revoked_at.is_none() {
            let grant = Grant::parse(&target.capabilities).map_err(|e| {
                ServiceError::Internal(format!("stored token {} is unreadable: {e}", target.id))
            })?;
            if let Some(beyond) = beyond_holder(&cx.who.auth, &grant) {
                return Err(ServiceError::Forbidden {
                    code: "forbidden",
                    message: format!(
                        "token {} ({}) allows {beyond}, which token {} ({}) does not have: revoking a token needs at least its rights",
                        target.id, target.principal, cx.who.auth.token_id, cx.who.auth.principal
                    ),
                });
            }
            keep_last_human_admin(cx.svc.store, &target, &grant, now)?;
        }
        cx.svc
            .store
            .token_revoke(&input.id, &cx.who.auth.principal, now)
            .map_err(auth_err)?;
        cx.after = Some(TokenState::Revoked.as_str().to_owned());
        cx.svc
            .store
            .token(&input.id)
            .map_err(auth_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("no token {}", input.id)))
    }
}

/// `audit.list`: The audit log, newest first.
pub struct AuditList;

impl Op for AuditList {
    type Input = AuditInput;
    type Output = Paged<kaizen_store::auth::AuditRecord>;
    const SPEC: Spec = Spec {
        name: "audit.list",
        domain: "audit",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/audit",
        summary: "The audit log, newest first",
        description: "Every state change with its actor, operation, target, outcome and before/after summary; filter by actor, operation prefix, target and time.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output> {
        let since = input
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?;
        let page = Page {
            limit: input.limit,
            offset: input.offset,
        };
        let (items, total) = cx
            .svc
            .store
            .audit(&AuditQuery {
                actor: input.actor.as_deref(),
                operation: input.operation.as_deref(),
                target: input.target.as_deref(),
                since,
                until: None,
                limit: page.limit(),
                offset: page.offset(),
            })
            .map_err(store_err)?;
        Ok(paged(items, total, &page))
    }
}

/// `config.show`: the effective configuration.
pub struct ConfigShow;

impl Op for ConfigShow {
    type Input = NoInput;
    type Output = EffectiveSettings;
    const SPEC: Spec = Spec {
        name: "config.show",
        domain: "config",
        action: Action::Read,
        human_only: false,
        method: Method::Get,
        path: "/config",
        summary: "The effective configuration",
        description: "The configuration this kaizen runs with (kaizen.yaml after defaults and KAIZEN__ environment overrides), secrets redacted. Use it to see which altitudes, rollout strategy, thresholds and limits apply.",
        destructive: false,
        idempotent: true,
        rest: Rest::Json,
    };
    fn run(cx: &mut Cx<'_>, _: NoInput) -> Result<EffectiveSettings> {
        cx.kaizen
            .shown_config()
            .map(EffectiveSettings)
            .map_err(|e| ServiceError::Internal(format!("serialising the configuration: {e}")))
    }
}
