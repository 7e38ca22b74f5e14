//! The approval queue and one proposal: evidence, exact changes, rollback plan, guards,
//! history, approvals; approve, reject and roll back for a human who may.

use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use kaizen_core::improve::guards::risk_str;
use kaizen_service::Service;
use kaizen_service::catalog::{ProposalsApprove, ProposalsReject, ProposalsRollback};
use kaizen_service::op::Op;
use kaizen_service::ops::{ApproveInput, ReasonInput, RejectInput};
use kaizen_service::outcomes::EffectVerdict;
use kaizen_store::proposals::{ProposalStatus, StoredProposal};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Nav, badge, context_value, enc, time};
use super::session::{Current, Notice};
use super::{
    Page, S, Spec, Ui, act, allowed, check_csrf, field, render, see_other, to_login, view,
};
use crate::error::ApiError;
use kaizen_service::Principal;

const PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    offset: Option<usize>,
}

pub(super) async fn list(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q);
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: "Proposals".into(),
            nav: Nav::Proposals,
            op: "proposals.list",
            target: None,
        },
        move |_c, svc, _p| {
            let q = q.map_err(|e| ApiError::field("query", e.body_text()))?;
            let status = q
                .status
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<ProposalStatus>()
                        .map_err(|e| ApiError::field("status", e))
                })
                .transpose()?;
            let offset = q.offset.unwrap_or(0);
            let (items, total) = svc
                .store
                .proposals(status, PAGE, offset)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let link = |s: Option<ProposalStatus>, off: usize| {
                let mut href = "/ui/proposals".to_owned();
                let mut sep = '?';
                if let Some(s) = s {
                    href.push_str(&format!("{sep}status={}", s.as_str()));
                    sep = '&';
                }
                if off > 0 {
                    href.push_str(&format!("{sep}offset={off}"));
                }
                href
            };
            Ok(html! {
                h1 { "Proposals" }
                div.filters {
                    a href=(link(None, 0)) class=[status.is_none().then_some("active")] { "all" }
                    @for s in ProposalStatus::ALL {
                        a href=(link(Some(s), 0)) class=[(status == Some(s)).then_some("active")] { (s.as_str()) }
                    }
                }
                @if items.is_empty() {
                    p.empty {
                        @if total == 0 && status.is_none() {
                            "No proposals yet. A cycle (" code { "kaizen cycle run" } ", or the server's schedule) queues them when rules fire."
                        } @else {
                            "No proposals here."
                        }
                    }
                } @else {
                    p.muted { (total) " proposal" @if total != 1 { "s" } ", newest first." }
                    table {
                        thead { tr {
                            th { "proposal" } th { "rule" } th { "altitude" } th { "risk" }
                            th.num { "confidence" } th { "status" } th.num { "seen" } th { "updated" }
                        } }
                        tbody {
                            @for p in &items {
                                tr {
                                    td { a href=(format!("/ui/proposals/{}", enc(&p.id))) { (p.title) } div.mono.muted { (p.id) } }
                                    td.mono { (p.rule_name) }
                                    td { (p.altitude.as_str()) }
                                    td { (risk_str(p.risk)) }
                                    td.num { (format!("{:.2}", p.confidence)) }
                                    td { (badge(p.status.as_str())) }
                                    td.num { (p.occurrences) "×" }
                                    td { (time(p.updated_at)) }
                                }
                            }
                        }
                    }
                    div.pager {
                        @if offset > 0 {
                            a href=(link(status, offset.saturating_sub(PAGE))) { "← newer" }
                        }
                        @if (offset + items.len()) < usize::try_from(total).unwrap_or(usize::MAX) {
                            a href=(link(status, offset + PAGE)) { "older →" }
                        }
                    }
                }
            })
        },
    )
    .await
}

pub(super) async fn detail(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let Some(sess) = ui.sessions.current(&headers) else {
        return to_login(&uri);
    };
    show(&ui, &sess, id, Vec::new(), None).await
}

/// The proposal page, with `notices`, answered with `status` (an action's refusal) or 200.
async fn show(
    ui: &Arc<Ui>,
    sess: &Current,
    id: String,
    notices: Vec<Notice>,
    status: Option<StatusCode>,
) -> Response {
    let page = Page {
        csrf: sess.csrf.clone(),
    };
    let title = format!("Proposal {id}");
    let result = act(ui, sess, "proposals.get", Some(id.clone()), move |cx| {
        body(cx.who, &mut cx.svc, &page, &id)
    })
    .await;
    render(ui, sess, &title, Nav::Proposals, notices, status, result)
}

fn body(
    caller: &Principal,
    svc: &mut Service<'_>,
    page: &Page,
    id: &str,
) -> Result<Markup, ApiError> {
    let sp: StoredProposal = svc.proposal(id)?;
    let rollout = if allowed(caller, "rollouts.get") {
        svc.store
            .rollout(id)
            .map_err(|e| ApiError::internal(e.to_string()))?
    } else {
        None
    };
    let open = matches!(
        sp.status,
        ProposalStatus::Pending | ProposalStatus::Approved
    );
    let preview = (open && allowed(caller, "proposals.preview")).then(|| svc.preview(id));
    let may_decide = allowed(caller, "proposals.approve");
    let may_reject = allowed(caller, "proposals.reject");
    let may_roll_back = allowed(caller, "proposals.rollback");
    let outcome = if allowed(caller, "proposals.outcome") {
        Some(svc.outcome(id)?)
    } else {
        None
    };
    let p = &sp.proposal;
    let r = &p.rationale;
    let path = format!("/ui/proposals/{}", enc(id));
    Ok(html! {
        h1 { (p.title) }
        p { (badge(sp.status.as_str())) " " span.mono.muted { (p.id) } }
        @if let Some(ro) = &rollout {
            div.notice.ok role="status" {
                "Rollout: " a #rollout-link href=(format!("/ui/rollouts/{}", enc(id))) { (ro.strategy.as_str()) ", " (ro.state.as_str()) } "."
            }
        }
        div.grid {
            div.card {
                h3 { "Summary" }
                dl.kv {
                    dt { "altitude" } dd { (p.altitude.as_str()) }
                    dt { "risk" } dd { (risk_str(sp.risk)) }
                    dt { "confidence" } dd { (format!("{:.2}", p.confidence)) }
                    dt { "rollout" } dd { (p.rollout.as_str()) ", " (p.observation_window_hours) " h window" }
                    dt { "created" } dd { (time(sp.created_at)) }
                    dt { "seen" } dd { (sp.occurrences) "× (last " (time(sp.last_seen_at)) ")" }
                    @if let Some(c) = &p.source_cycle {
                        dt { "cycle" } dd { a href=(format!("/ui/cycles/{}", enc(c))) { (c) } }
                    }
                    @if let Some(v) = sp.applied_version {
                        dt { "org version" } dd { (v) }
                    }
                }
            }
            div.card {
                h3 { "Evidence" }
                dl.kv {
                    dt { "rule" } dd.mono { (r.rule_name) }
                    dt { "severity" } dd { (badge(r.severity.as_str())) }
                    dt { "finding" } dd { (r.description) }
                    @if let Some(t) = r.threshold.as_ref().filter(|_| !r.signal_context.contains_key("threshold")) {
                        dt { "threshold" } dd.mono { (context_value(t)) }
                    }
                    @for (k, v) in &r.signal_context {
                        dt.mono { (k) } dd.mono { (context_value(v)) }
                    }
                }
            }
        }
        @if let Some(o) = &outcome {
            @if let Some(m) = &o.measurement {
                div #outcome .notice.(match m.verdict {
                    EffectVerdict::Improved => "ok",
                    EffectVerdict::Worse => "error",
                    _ => "warn",
                }) role="status" {
                    strong { "Did it work? " } (m.summary)
                    @if let Some(f) = &m.rule_finding { " Finding at the horizon: " (f) }
                }
            } @else if let Some(due) = o.measurement_due_at {
                div #outcome .notice.ok role="status" {
                    "Applied. Did it work? Its effect on " (p.primary_metric.as_str()) " is measured on " (time(due)) "."
                }
            } @else if o.never_again {
                div #outcome .notice.warn role="status" { "Rejected as \"never propose this again\"." }
            }
        }
        @if !p.description.is_empty() {
            p { (p.description) }
        }
        h2 { "Changes" }
        ul.changes { @for c in &p.changes { li { (c) } } }
        h2 { "Rollback plan" }
        @if p.rollback.operations.is_empty() {
            p.muted { "none" }
        } @else {
            ul.changes { @for c in &p.rollback.operations { li { (c) } } }
        }
        @if let Some(pv) = &preview {
            @match pv {
                Ok(report) => p.muted { "Applies cleanly to the current org (version " (report.base_version) ")." },
                Err(e) => div.notice.warn role="status" { "It would not apply now: " (e) },
            }
        }
        @if !p.alternatives.is_empty() {
            h3 { "Alternatives considered" }
            ul { @for a in &p.alternatives { li { (a) } } }
        }
        h2 { "Guards" }
        table {
            thead { tr { th { "guard" } th { "verdict" } th { "reason" } } }
            tbody {
                @for g in &sp.guards {
                    tr { td.mono { (g.guard) } td { (badge(g.verdict.as_str())) } td { (g.reason) } }
                }
            }
        }
        h2 { "History" }
        table {
            thead { tr { th { "at" } th { "actor" } th { "from → to" } th { "reason" } } }
            tbody {
                @for t in &sp.transitions {
                    tr {
                        td { (time(t.at)) }
                        td { (t.actor) " " span.muted { "(" (t.actor_kind.as_str()) ")" } }
                        td { (t.from_status.map_or("–", ProposalStatus::as_str)) " → " (badge(t.to_status.as_str())) }
                        td { (t.reason.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        h2 { "Approvals" }
        @if sp.approvals.is_empty() {
            p.muted { "none yet" }
        } @else {
            ul { @for a in &sp.approvals {
                li { (a.actor) ", " (time(a.at)) @if let Some(r) = &a.reason { ": " (r) } }
            } }
        }
        @if sp.status == ProposalStatus::Pending && may_decide {
            h2 { "Decide" }
            div.grid {
                form.action.card #approve-form method="post" action=(format!("{path}/approve")) {
                    input type="hidden" name="csrf" value=(page.csrf);
                    label for="note" { "Note (optional)" }
                    textarea #note name="note" {}
                    div { button #approve type="submit" { "Approve" } }
                }
                @if may_reject {
                    form.action.card #reject-form method="post" action=(format!("{path}/reject")) {
                        input type="hidden" name="csrf" value=(page.csrf);
                        label for="reason" { "Reason (required)" }
                        textarea #reason name="reason" required {}
                        label { input #never-again type="checkbox" name="never_again"; " Never propose this change again" }
                        div { button.danger #reject type="submit" { "Reject" } }
                    }
                }
            }
        } @else if sp.status == ProposalStatus::Approved && may_reject {
            h2 { "Decide" }
            form.action.card #reject-form method="post" action=(format!("{path}/reject")) {
                input type="hidden" name="csrf" value=(page.csrf);
                label for="reason" { "Reason (required)" }
                textarea #reason name="reason" required {}
                label { input #never-again type="checkbox" name="never_again"; " Never propose this change again" }
                div { button.danger #reject type="submit" { "Reject" } }
            }
        } @else if sp.status == ProposalStatus::Applied && may_roll_back {
            h2 { "Roll back" }
            form.action.card #rollback-form method="post" action=(format!("{path}/rollback")) {
                input type="hidden" name="csrf" value=(page.csrf);
                p.muted { "Applies the inverse of the org version this proposal made, as a new version." }
                label for="reason" { "Reason (required)" }
                textarea #reason name="reason" required {}
                div { button.danger #rollback type="submit" { "Roll back" } }
            }
        } @else if open && !may_decide {
            p.muted { "Only a human with the " code { "proposals:approve" } " capability can decide this proposal." }
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecisionForm {
    csrf: Option<String>,
    note: Option<String>,
    reason: Option<String>,
    /// The reject form's "never propose this again" checkbox (`on` when ticked).
    never_again: Option<String>,
}

/// The session and form of a POST, or the response that ends it (no session, no or a wrong
/// CSRF token).
async fn posted(
    ui: &Arc<Ui>,
    headers: &HeaderMap,
    name: &'static str,
    id: &str,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Result<(Current, DecisionForm), Response> {
    let Some(sess) = ui.sessions.current(headers) else {
        return Err(see_other("/ui/login"));
    };
    // An unreadable form has no CSRF token: refused like a forged one.
    let form = form.map(|Form(f)| f).unwrap_or_default();
    check_csrf(ui, &sess, name, Some(id), form.csrf.as_deref()).await?;
    Ok((sess, form))
}

/// After an action: back to the proposal with `ok` queued, or the page again with the error.
async fn after(
    ui: &Arc<Ui>,
    sess: &Current,
    id: String,
    result: Result<Notice, ApiError>,
) -> Response {
    match result {
        Ok(n) => {
            ui.sessions.flash(&sess.id, n);
            see_other(&format!("/ui/proposals/{}", enc(&id)))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            render(ui, sess, "", Nav::None, Vec::new(), None, Err(e))
        }
        Err(e) => {
            let status = e.status;
            show(ui, sess, id, vec![Notice::error(e.message)], Some(status)).await
        }
    }
}

pub(super) async fn approve(
    State(ui): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let (sess, form) = match posted(&ui, &headers, "proposals.approve", &id, form).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let note = field(form.note.as_ref());
    let pid = id.clone();
    let result = act(&ui, &sess, "proposals.approve", Some(id.clone()), move |cx| {
        let a = ProposalsApprove::run(
            cx,
            ApproveInput {
                id: pid,
                reason: note,
            },
        )?;
        Ok(if !a.approved {
            Notice::ok(format!(
                "Your approval is recorded: {} of {} needed.",
                a.approvals, a.required
            ))
        } else if let Some(r) = a.rollout {
            Notice::ok(format!(
                "Approved. The {} rollout started: {} agent(s) see the change{}, observed for {} h{}.",
                r.strategy,
                r.treatment,
                if r.control > 0 {
                    format!(", {} do not", r.control)
                } else {
                    String::new()
                },
                r.window_hours,
                r.first_check_at
                    .map(|t| format!("; first check {}", time(t)))
                    .unwrap_or_default()
            ) + &if r.plan.is_empty() {
                String::new()
            } else {
                format!(" {}{}.", if r.can_conclude { "Plan: " } else { "Warning: " }, r.plan)
            })
        } else {
            Notice::warn(format!(
                "Approved, but the rollout could not start: {}",
                a.rollout_error.unwrap_or_else(|| "no reason given".to_owned())
            ))
        })
    })
    .await;
    after(&ui, &sess, id, result).await
}

pub(super) async fn reject(
    State(ui): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let (sess, form) = match posted(&ui, &headers, "proposals.reject", &id, form).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let reason = field(form.reason.as_ref());
    let never_again = form.never_again.as_deref() == Some("on");
    let pid = id.clone();
    let result = act(
        &ui,
        &sess,
        "proposals.reject",
        Some(id.clone()),
        move |cx| {
            let reason = super::required_reason(reason, "A rejection")?;
            ProposalsReject::run(
                cx,
                RejectInput {
                    id: pid,
                    reason,
                    never_again,
                },
            )?;
            Ok(Notice::ok(if never_again {
                "Rejected; this change will never be proposed again."
            } else {
                "Rejected."
            }))
        },
    )
    .await;
    after(&ui, &sess, id, result).await
}

pub(super) async fn rollback(
    State(ui): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let (sess, form) = match posted(&ui, &headers, "proposals.rollback", &id, form).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let reason = field(form.reason.as_ref());
    let pid = id.clone();
    let result = act(
        &ui,
        &sess,
        "proposals.rollback",
        Some(id.clone()),
        move |cx| {
            let reason = super::required_reason(reason, "A rollback")?;
            let report = ProposalsRollback::run(cx, ReasonInput { id: pid, reason })?;
            Ok(Notice::ok(format!(
                "Rolled back: org version {} undoes it.",
                report.new_version
            )))
        },
    )
    .await;
    after(&ui, &sess, id, result).await
}
