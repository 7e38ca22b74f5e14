//! The implementation of every operation of the registry (`kaizen_service::ops`): one typed
//! function each, and [`execute`], which runs an operation from JSON arguments.
//!
//! The REST handlers (`api`) read their typed input from the path, the query string and the
//! body and call these functions; the MCP server (`mcp`) calls [`execute`] with the tool's
//! arguments, which parses the same input types. Both run inside [`crate::api::run_as`], so
//! authorisation, rate limits and the audit log are the same whichever adapter is used.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kaizen_core::auth::{Action, Capability, Grant};
use kaizen_core::rules::{Evaluation, RuleEngine};
use kaizen_service::effective::CachedConfig;
use kaizen_service::ops::{self, Operation, Paged};
use kaizen_service::rollout::Decision;
use kaizen_service::{CycleOptions, CycleTrigger, Service};
use kaizen_store::IngestOptions;
use kaizen_store::auth::{AuditQuery, NewToken};
use kaizen_store::proposals::ActorKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::telemetry;

/// Runs `op` with JSON `args` (an object) for `caller`, who is already authorised. Arguments
/// are validated against the operation's input type: unknown fields, missing fields and
/// wrong types are `invalid` errors naming the field.
pub fn execute(
    state: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    op: &Operation,
    args: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    fn out<T: Serialize>(v: T) -> Result<serde_json::Value, ApiError> {
        serde_json::to_value(v).map_err(|e| ApiError::internal(format!("serialising: {e}")))
    }
    macro_rules! run {
        ($f:ident) => {
            out($f(state, caller, svc, from_value(args)?)?)
        };
    }
    match op.name {
        "events.ingest" => {
            let input: ops::EventsInput = from_value(args)?;
            let mut ndjson = Vec::new();
            for event in &input.events {
                serde_json::to_writer(&mut ndjson, event)
                    .map_err(|e| ApiError::internal(format!("serialising: {e}")))?;
                ndjson.push(b'\n');
            }
            out(events_ingest(svc, &ndjson)?)
        }
        "agents.config" => {
            let input: ops::IdInput = from_value(args)?;
            let cached = agents_config(state, svc, &input.id)?;
            serde_json::from_str(&cached.json)
                .map_err(|e| ApiError::internal(format!("the cached config is not JSON: {e}")))
        }
        "signals.snapshot" => run!(signals_snapshot),
        "rules.evaluate" => run!(rules_evaluate),
        "cycles.list" => run!(cycles_list),
        "cycles.get" => run!(cycles_get),
        "cycles.run" => run!(cycles_run),
        "proposals.list" => run!(proposals_list),
        "proposals.get" => run!(proposals_get),
        "proposals.preview" => run!(proposals_preview),
        "proposals.submit" => run!(proposals_submit),
        "proposals.approve" => run!(proposals_approve),
        "proposals.reject" => run!(proposals_reject),
        "proposals.rollback" => run!(proposals_rollback),
        "rollouts.list" => run!(rollouts_list),
        "rollouts.get" => run!(rollouts_get),
        "rollouts.start" => run!(rollouts_start),
        "rollouts.decide" => run!(rollouts_decide),
        "org.current" => run!(org_current),
        "org.versions" => run!(org_versions),
        "org.version" => run!(org_version),
        "org.diff" => run!(org_diff),
        "alerts.list" => run!(alerts_list),
        "alerts.ack" => run!(alerts_ack),
        "audit.list" => run!(audit_list),
        "tokens.list" => run!(tokens_list),
        "tokens.create" => run!(tokens_create),
        "tokens.revoke" => run!(tokens_revoke),
        other => Err(ApiError::internal(format!(
            "operation {other} has no implementation"
        ))),
    }
}

/// The field a serde message names (`missing field `reason``, `unknown field `x``), if any.
pub(crate) fn named_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Parses `value` into an operation's input, naming the field at fault.
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::field("arguments", "expected a JSON object"));
    }
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    T::deserialize(de).map_err(|e| {
        let message = e.to_string();
        let path = track.path().to_string();
        let field = match (path.as_str(), named_field(&message)) {
            ("." | "", Some(name)) => name.to_owned(),
            ("." | "", None) => "arguments".to_owned(),
            (p, Some(name)) if message.starts_with("missing field") => format!("{p}.{name}"),
            (p, _) => p.to_owned(),
        };
        ApiError::field(field, message)
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

fn not_found(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", what.to_string())
}

/// An admin operation's guardrails: `confirm` must be true and `reason` non-blank.
fn confirmed(confirm: bool, reason: &str) -> Result<(), ApiError> {
    if !confirm {
        return Err(ApiError::field(
            "confirm",
            "this is an admin operation: set confirm to true to confirm it",
        ));
    }
    if reason.trim().is_empty() {
        return Err(ApiError::field(
            "reason",
            "this is an admin operation: give a non-blank reason",
        ));
    }
    Ok(())
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ApiError::field(field, format!("expected an RFC 3339 time with a zone: {e}")))
}

fn window(
    svc: &Service<'_>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let until = match until {
        Some(s) => parse_time("until", s)?,
        None => svc.clock.now(),
    };
    let since = match since {
        Some(s) => parse_time("since", s)?,
        None => svc.default_since(until),
    };
    if since >= until {
        return Err(ApiError::field("since", "must be before until"));
    }
    Ok((since, until))
}

/// The page `page` of `all` (a list read whole, or up to `offset + limit`).
fn page_of<T>(all: Vec<T>, page: &ops::Page) -> Paged<T> {
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(page.offset())
        .take(page.limit())
        .collect();
    paged(items, total, page)
}

fn paged<T>(items: Vec<T>, total: u64, page: &ops::Page) -> Paged<T> {
    Paged {
        items,
        total,
        limit: page.limit(),
        offset: page.offset(),
    }
}

// ---- events and agents ----

/// Ingests NDJSON or a JSON array, with `kaizen ingest`'s per-record semantics.
pub fn events_ingest(
    svc: &mut Service<'_>,
    body: &[u8],
) -> Result<kaizen_store::IngestReport, ApiError> {
    let mut opts = IngestOptions::new(svc.clock.now());
    opts.max_reported_rejections = 1000;
    let report = svc.store.ingest(body, opts).map_err(|e| match e {
        kaizen_store::StoreError::Refused(m) => ApiError::field("body", m),
        other => internal(other),
    })?;
    telemetry::events(report.accepted, report.rejected);
    Ok(report)
}

/// Agent `id`'s effective config, from the cache.
pub fn agents_config(
    state: &AppState,
    svc: &mut Service<'_>,
    id: &str,
) -> Result<Arc<CachedConfig>, ApiError> {
    state.effective().get(svc.store, id).map_err(ApiError::from)
}

// ---- signals and rules ----

fn signals_snapshot(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::SnapshotInput,
) -> Result<kaizen_core::snapshot::OrgSignalSnapshot, ApiError> {
    let (since, until) = window(svc, input.since.as_deref(), input.until.as_deref())?;
    Ok(svc.snapshot(since, until)?)
}

fn rules_evaluate(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::SnapshotInput,
) -> Result<Evaluation, ApiError> {
    let (since, until) = window(svc, input.since.as_deref(), input.until.as_deref())?;
    let snapshot = svc.snapshot(since, until)?;
    Ok(RuleEngine::from_config(&svc.config.rules).evaluate(&snapshot))
}

// ---- cycles ----

fn cycles_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    page: ops::Page,
) -> Result<Paged<kaizen_store::proposals::CycleSummary>, ApiError> {
    let all = svc
        .store
        .cycles(page.offset() + page.limit())
        .map_err(internal)?;
    Ok(page_of(all, &page))
}

fn cycles_get(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::IdInput,
) -> Result<kaizen_service::CycleReport, ApiError> {
    svc.cycle(&input.id)?
        .ok_or_else(|| not_found(format!("no cycle with id {}", input.id)))
}

fn cycles_run(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::RunCycleInput,
) -> Result<kaizen_service::CycleReport, ApiError> {
    Ok(svc.run_cycle(CycleOptions {
        trigger: CycleTrigger::Manual,
        dry_run: input.dry_run,
    })?)
}

// ---- proposals ----

fn proposals_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::ListProposalsInput,
) -> Result<Paged<kaizen_store::proposals::ProposalSummary>, ApiError> {
    let status = input.status;
    let page = ops::Page {
        limit: input.limit,
        offset: input.offset,
    };
    let (items, total) = svc
        .store
        .proposals(status, page.limit(), page.offset())
        .map_err(internal)?;
    Ok(paged(items, total, &page))
}

fn proposals_get(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::IdInput,
) -> Result<kaizen_store::proposals::StoredProposal, ApiError> {
    Ok(svc.proposal(&input.id)?)
}

fn proposals_preview(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::IdInput,
) -> Result<kaizen_service::ApplyReport, ApiError> {
    Ok(svc.preview(&input.id)?)
}

fn proposals_submit(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::SubmitProposalInput,
) -> Result<kaizen_service::cycle::CycleProposal, ApiError> {
    Ok(svc.submit_proposal(input, &caller.actor())?)
}

fn proposals_approve(
    state: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::ApproveInput,
) -> Result<kaizen_service::Approved, ApiError> {
    Ok(svc.approve(
        &input.id,
        &caller.actor(),
        input.reason.as_deref(),
        &state.executor,
    )?)
}

fn proposals_reject(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::ReasonInput,
) -> Result<kaizen_store::proposals::StoredProposal, ApiError> {
    svc.reject(&input.id, &caller.actor(), &input.reason)?;
    Ok(svc.proposal(&input.id)?)
}

fn proposals_rollback(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::ReasonInput,
) -> Result<kaizen_service::RollbackReport, ApiError> {
    Ok(svc.rollback(&input.id, &caller.actor(), &input.reason, &[])?)
}

// ---- rollouts ----

fn rollouts_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::ListRolloutsInput,
) -> Result<Paged<kaizen_store::rollouts::Rollout>, ApiError> {
    let filter = input.state;
    let page = ops::Page {
        limit: input.limit,
        offset: input.offset,
    };
    let all = svc.store.rollouts(filter).map_err(internal)?;
    Ok(page_of(all, &page))
}

fn rollouts_get(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::IdInput,
) -> Result<ops::RolloutDetail, ApiError> {
    let rollout = svc.rollout(&input.id)?;
    let checks = svc.store.rollout_checks(&input.id).map_err(internal)?;
    Ok(ops::RolloutDetail { rollout, checks })
}

fn rollouts_start(
    state: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::StartRolloutInput,
) -> Result<kaizen_store::rollouts::Rollout, ApiError> {
    Ok(svc.start_rollout(&input.id, &caller.actor(), input.strategy, &state.executor)?)
}

fn rollouts_decide(
    state: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::DecideInput,
) -> Result<kaizen_store::rollouts::Rollout, ApiError> {
    let decision = match (input.decision, input.hours) {
        (ops::DecisionKind::Extend, hours) => Decision::Extend {
            hours: hours.unwrap_or(24),
        },
        (ops::DecisionKind::Apply, None) => Decision::Apply,
        (ops::DecisionKind::Rollback, None) => Decision::Rollback,
        (_, Some(_)) => {
            return Err(ApiError::field("hours", "only an extension takes hours"));
        }
    };
    Ok(svc.decide_rollout(
        &input.id,
        decision,
        &caller.actor(),
        &input.reason,
        &state.executor,
    )?)
}

// ---- org ----

fn org_err(e: kaizen_store::org::OrgStoreError) -> ApiError {
    if e.is_user_error() {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    } else {
        internal(e)
    }
}

fn org_get(svc: &Service<'_>, n: i64) -> Result<kaizen_store::org::OrgVersion, ApiError> {
    svc.store
        .org_version(n)
        .map_err(org_err)?
        .ok_or_else(|| not_found(format!("no org version {n}")))
}

fn org_current(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    _: ops::NoInput,
) -> Result<kaizen_store::org::OrgVersion, ApiError> {
    Ok(svc
        .store
        .org_current()
        .map_err(org_err)?
        .ok_or(kaizen_service::ServiceError::NoOrg)?)
}

fn org_versions(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    page: ops::Page,
) -> Result<Paged<kaizen_store::org::OrgVersionSummary>, ApiError> {
    let all = svc
        .store
        .org_history(page.offset() + page.limit())
        .map_err(org_err)?;
    Ok(page_of(all, &page))
}

fn org_version(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::VersionInput,
) -> Result<kaizen_store::org::OrgVersion, ApiError> {
    org_get(svc, input.id)
}

fn org_diff(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::DiffInput,
) -> Result<ops::OrgDiff, ApiError> {
    let from = org_get(svc, input.from)?;
    let to = org_get(svc, input.to)?;
    let changes = kaizen_core::org::OrgDocument::diff(&from.document, &to.document);
    Ok(ops::OrgDiff {
        from: input.from,
        to: input.to,
        summary: changes.iter().map(ToString::to_string).collect(),
        changes,
    })
}

// ---- alerts and audit ----

fn alerts_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::AlertsInput,
) -> Result<Vec<kaizen_store::rollouts::Alert>, ApiError> {
    svc.store.alerts(input.all).map_err(internal)
}

fn alerts_ack(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::AckInput,
) -> Result<ops::Acknowledged, ApiError> {
    let now = svc.clock.now();
    svc.store
        .alert_acknowledge(input.id, &caller.auth.principal, now)
        .map_err(|e| match e {
            kaizen_store::StoreError::Refused(m) => not_found(m),
            other => internal(other),
        })?;
    Ok(ops::Acknowledged {
        acknowledged: input.id,
    })
}

fn audit_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::AuditInput,
) -> Result<Paged<kaizen_store::auth::AuditRecord>, ApiError> {
    let since = input
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let page = ops::Page {
        limit: input.limit,
        offset: input.offset,
    };
    let (items, total) = svc
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
        .map_err(internal)?;
    Ok(paged(items, total, &page))
}

// ---- tokens ----

fn auth_err(e: kaizen_store::auth::AuthError) -> ApiError {
    if e.is_user_error() {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    } else {
        internal(e)
    }
}

fn tokens_list(
    _: &AppState,
    _: &Caller,
    svc: &mut Service<'_>,
    input: ops::TokensListInput,
) -> Result<Vec<kaizen_store::auth::TokenInfo>, ApiError> {
    svc.store.tokens(input.include_revoked).map_err(auth_err)
}

/// Every capability some operation needs that `grant` allows.
fn effective_capabilities(grant: &Grant) -> Vec<Capability> {
    ops::operations()
        .iter()
        .map(Operation::needs)
        .filter(|c| grant.allows(c))
        .collect()
}

fn tokens_create(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::TokenCreateInput,
) -> Result<ops::TokenCreated, ApiError> {
    confirmed(input.confirm, &input.reason)?;
    let grant =
        Grant::parse(&input.capabilities).map_err(|e| ApiError::field("capabilities", e))?;
    // No one hands out more than they hold: every operation the new token could run, the
    // caller can run too.
    if let Some(beyond) = effective_capabilities(&grant)
        .into_iter()
        .find(|c| !caller.auth.allows(c))
    {
        return Err(ApiError::forbidden(
            "forbidden",
            format!(
                "the new token would allow {beyond}, which token {} ({}) does not have",
                caller.auth.token_id, caller.auth.principal
            ),
        ));
    }
    let kind = match input.kind {
        ops::PrincipalKind::Human => ActorKind::Human,
        ops::PrincipalKind::Agent => ActorKind::Agent,
    };
    if kind == ActorKind::Agent && grant.allows(&Capability::new("proposals", Action::Approve)) {
        tracing::info!(
            principal = %input.principal,
            "an agent token names an approve capability; it can never use it"
        );
    }
    let now = svc.clock.now();
    let expires_at = input
        .expires_in_days
        .map(|d| now + chrono::Duration::days(i64::from(d)));
    let issued = svc
        .store
        .token_create(
            &NewToken {
                principal: &input.principal,
                kind,
                grant: &grant,
                expires_at,
                created_by: &caller.auth.principal,
            },
            now,
        )
        .map_err(auth_err)?;
    let info = svc
        .store
        .token(&issued.id)
        .map_err(auth_err)?
        .ok_or_else(|| internal(format!("token {} vanished after its creation", issued.id)))?;
    Ok(ops::TokenCreated {
        secret: issued.secret,
        token: info,
    })
}

fn tokens_revoke(
    _: &AppState,
    caller: &Caller,
    svc: &mut Service<'_>,
    input: ops::TokenRevokeInput,
) -> Result<kaizen_store::auth::TokenInfo, ApiError> {
    confirmed(input.confirm, &input.reason)?;
    let now = svc.clock.now();
    svc.store
        .token_revoke(&input.id, &caller.auth.principal, now)
        .map_err(|e| match e {
            kaizen_store::auth::AuthError::UnknownId(_) => not_found(e),
            e @ kaizen_store::auth::AuthError::AlreadyRevoked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            e => auth_err(e),
        })?;
    svc.store
        .token(&input.id)
        .map_err(auth_err)?
        .ok_or_else(|| not_found(format!("no token {}", input.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_guardrails_need_confirm_and_a_reason() {
        assert_eq!(
            confirmed(false, "x").map_err(|e| e.details[0].field.clone()),
            Err("confirm".to_owned())
        );
        assert_eq!(
            confirmed(true, "  ").map_err(|e| e.details[0].field.clone()),
            Err("reason".to_owned())
        );
        assert!(confirmed(true, "rotate").is_ok());
    }

    #[test]
    fn arguments_are_parsed_with_the_field_named() {
        let e = from_value::<ops::DecideInput>(
            serde_json::json!({"id": "p", "decision": "nope", "reason": "r"}),
        )
        .map_err(|e| e.details[0].field.clone());
        assert_eq!(e.err().as_deref(), Some("decision"));
        let e = from_value::<ops::IdInput>(serde_json::json!({"id": "p", "extra": 1}))
            .map_err(|e| e.details[0].field.clone());
        assert_eq!(e.err().as_deref(), Some("extra"));
        let e = from_value::<ops::IdInput>(serde_json::json!([1]))
            .map_err(|e| e.details[0].field.clone());
        assert_eq!(e.err().as_deref(), Some("arguments"));
    }
}
