//! Cycles (the list and one cycle's report) and the audit log.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use kaizen_service::ProposalOutcome;
use kaizen_store::auth::AuditQuery;
use maud::html;
use serde::Deserialize;

use super::layout::{Nav, badge, context_value, enc, time};
use super::{S, Spec, view};
use crate::error::ApiError;

/// Cycles listed.
const CYCLES: usize = 100;
/// Audit entries per page.
const AUDIT_PAGE: usize = 100;

pub(super) async fn cycles(State(ui): S, headers: HeaderMap, uri: Uri) -> Response {
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: "Cycles".into(),
            nav: Nav::Cycles,
            op: "cycles.list",
            target: None,
        },
        move |_c, svc, _p| {
            let items = svc
                .store
                .cycles(CYCLES)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(html! {
                h1 { "Cycles" }
                @if items.is_empty() {
                    p.empty {
                        "No cycle has run yet. Cycles run on the server's schedule when "
                        code { "self_improvement.enabled" } " is on, or with " code { "kaizen cycle run" } "."
                    }
                } @else {
                    p.muted { "The " (items.len()) " most recent cycles, newest first." }
                    table {
                        thead { tr { th { "cycle" } th { "started" } th { "completed" } th { "trigger" } th { "snapshot window" } } }
                        tbody { @for c in &items {
                            tr {
                                td.mono { a href=(format!("/ui/cycles/{}", enc(&c.id))) { (c.id) } @if c.dry_run { " " (badge("dry run")) } }
                                td { (time(c.started_at)) }
                                td { (time(c.completed_at)) }
                                td { (c.trigger) }
                                td { (time(c.window_since)) " – " (time(c.window_until)) }
                            }
                        } }
                    }
                }
            })
        },
    )
    .await
}

pub(super) async fn cycle(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: format!("Cycle {id}"),
            nav: Nav::Cycles,
            op: "cycles.get",
            target: Some(id.clone()),
        },
        move |_c, svc, _p| {
            let c = svc.cycle(&id)?.ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no cycle with id {id}"))
            })?;
            Ok(html! {
                h1 { "Cycle " span.mono { (c.id) } }
                p.muted {
                    (c.trigger.as_str()) @if c.dry_run { " (dry run)" } ", " (time(c.started_at)) " – " (time(c.completed_at))
                    ", org version " (c.org_version) ", " (c.agents) " agents, " (c.tasks) " tasks"
                }
                @for f in &c.failed_domains {
                    div.notice.error { (f.domain.as_str()) ": " (f.error) }
                }
                h2 { "Rules that fired" }
                @if c.matches.is_empty() {
                    p.muted { "none" }
                } @else {
                    table {
                        thead { tr { th { "rule" } th { "severity" } th { "finding" } th { "values" } } }
                        tbody { @for m in &c.matches {
                            tr {
                                td.mono { (m.rule_name) }
                                td { (badge(m.severity.as_str())) }
                                td { (m.description) }
                                td.mono { @for (k, v) in &m.signal_context { div { (k) " = " (context_value(v)) } } }
                            }
                        } }
                    }
                }
                h2 { "Proposals" }
                @if c.proposals.is_empty() {
                    p.muted { "none" }
                } @else {
                    table {
                        thead { tr { th { "proposal" } th { "rule" } th { "outcome" } } }
                        tbody { @for p in &c.proposals {
                            tr {
                                td { a href=(format!("/ui/proposals/{}", enc(&p.id))) { (p.title) } div.mono.muted { (p.id) } }
                                td.mono { (p.rule_name) }
                                td {
                                    @match &p.outcome {
                                        ProposalOutcome::Queued => (badge("queued")),
                                        ProposalOutcome::WouldQueue => (badge("would_queue")),
                                        ProposalOutcome::Duplicate { existing_id } => {
                                            (badge("duplicate")) " of " a href=(format!("/ui/proposals/{}", enc(existing_id))) { (existing_id) }
                                        }
                                        ProposalOutcome::RejectedByGuard { guard, reason } => {
                                            (badge("rejected")) " by " code { (guard) } ": " (reason)
                                        }
                                    }
                                }
                            }
                        } }
                    }
                }
                @if !c.notes.is_empty() {
                    h2 { "Notes" }
                    ul { @for n in &c.notes { li { code { (n.rule_name) } ": " (n.message) } } }
                }
                @for f in &c.strategy_failures {
                    div.notice.error { "strategy " (f.strategy) " failed: " (f.error) }
                }
                @for f in &c.rule_failures {
                    div.notice.error { (f) }
                }
            })
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditFilter {
    actor: Option<String>,
    operation: Option<String>,
    target: Option<String>,
    offset: Option<usize>,
}

pub(super) async fn audit(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<AuditFilter>, QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q);
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: "Audit".into(),
            nav: Nav::Audit,
            op: "audit.list",
            target: None,
        },
        move |_c, svc, _p| {
            let q = q.map_err(|e| ApiError::field("query", e.body_text()))?;
            let clean = |v: &Option<String>| {
                v.as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let (actor, operation, target) = (clean(&q.actor), clean(&q.operation), clean(&q.target));
            let offset = q.offset.unwrap_or(0);
            let (items, total) = svc
                .store
                .audit(&AuditQuery {
                    actor: actor.as_deref(),
                    operation: operation.as_deref(),
                    target: target.as_deref(),
                    since: None,
                    until: None,
                    limit: AUDIT_PAGE,
                    offset,
                })
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let page_link = |off: usize| {
                let mut href = format!("/ui/audit?offset={off}");
                for (k, v) in [("actor", &actor), ("operation", &operation), ("target", &target)] {
                    if let Some(v) = v {
                        href.push_str(&format!("&{k}={}", enc(v)));
                    }
                }
                href
            };
            Ok(html! {
                h1 { "Audit log" }
                form.row method="get" action="/ui/audit" {
                    div { label for="actor" { "actor" } br; input #actor type="text" name="actor" value=(actor.as_deref().unwrap_or("")); }
                    div { label for="operation" { "operation" } br; input #operation type="text" name="operation" placeholder="proposals" value=(operation.as_deref().unwrap_or("")); }
                    div { label for="target" { "target" } br; input #target type="text" name="target" value=(target.as_deref().unwrap_or("")); }
                    div { button type="submit" { "Filter" } }
                }
                @if items.is_empty() {
                    p.empty { "No audit entries match." }
                } @else {
                    p.muted { (total) " entr" @if total == 1 { "y" } @else { "ies" } ", newest first." }
                    table {
                        thead { tr { th.num { "#" } th { "at" } th { "actor" } th { "operation" } th { "target" } th { "outcome" } th { "status" } th { "detail" } } }
                        tbody { @for e in &items {
                            tr {
                                td.num { (e.id) }
                                td { (time(e.at)) }
                                td { (e.actor) " " span.muted { "(" (e.actor_kind.as_str()) ")" } }
                                td.mono { (e.operation) }
                                td.mono { (e.target.as_deref().unwrap_or("")) }
                                td { (badge(e.outcome.as_str())) }
                                td { @if e.before.is_some() || e.after.is_some() {
                                    (e.before.as_deref().unwrap_or("–")) " → " (e.after.as_deref().unwrap_or("–"))
                                } }
                                td.mono { @if let Some(d) = &e.detail {
                                    @let s = d.to_string();
                                    @if s.chars().count() > 240 { (s.chars().take(240).collect::<String>()) "…" } @else { (s) }
                                } }
                            }
                        } }
                    }
                    div.pager {
                        @if offset > 0 { a href=(page_link(offset.saturating_sub(AUDIT_PAGE))) { "← newer" } }
                        @if (offset + items.len()) < usize::try_from(total).unwrap_or(usize::MAX) {
                            a href=(page_link(offset + AUDIT_PAGE)) { "older →" }
                        }
                    }
                }
            })
        },
    )
    .await
}
