//! Rollouts: the list, and one rollout with its groups, overlay, verdict, every check (a table
//! and a chart per metric), and the human decisions its state allows.

use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use kaizen_core::rollout::check::{CheckDecision, Layer, Metric, MetricCheck};
use kaizen_service::Service;
use kaizen_service::catalog::RolloutsDecide;
use kaizen_service::op::Op;
use kaizen_service::ops::{DecideInput, DecisionKind};
use kaizen_store::rollouts::{Rollout, RolloutState, StoredCheck};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::{Series, line_chart};
use super::layout::{Nav, badge, enc, time};
use super::session::{Current, Notice};
use super::{
    Page, S, Spec, Ui, act, allowed, check_csrf, field, render, see_other, to_login, view,
};
use crate::error::ApiError;
use kaizen_service::Principal;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
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
            title: "Rollouts".into(),
            nav: Nav::Rollouts,
            op: "rollouts.list",
            target: None,
        },
        move |_c, svc, _p| {
            let q = q.map_err(|e| ApiError::field("query", e.body_text()))?;
            let filter = q
                .state
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<RolloutState>().map_err(|e| ApiError::field("state", e)))
                .transpose()?;
            let items = svc
                .store
                .rollouts(filter)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(html! {
                h1 { "Rollouts" }
                div.filters {
                    a href="/ui/rollouts" class=[filter.is_none().then_some("active")] { "all" }
                    @for s in RolloutState::ALL {
                        a href=(format!("/ui/rollouts?state={}", s.as_str())) class=[(filter == Some(s)).then_some("active")] { (s.as_str()) }
                    }
                }
                @if items.is_empty() {
                    p.empty { "No rollouts here. Approving a proposal starts its rollout." }
                } @else {
                    table {
                        thead { tr {
                            th { "proposal" } th { "strategy" } th { "state" } th { "started" }
                            th.num { "checks" } th.num { "treatment / control" } th { "verdict" } th { "next check" }
                        } }
                        tbody {
                            @for r in &items {
                                tr {
                                    td.mono { a href=(format!("/ui/rollouts/{}", enc(&r.proposal_id))) { (r.proposal_id) } }
                                    td { (r.strategy.as_str()) }
                                    td { (badge(r.state.as_str())) }
                                    td { (time(r.started_at)) }
                                    td.num { (r.checks_done) " / " (r.total_checks()) }
                                    td.num { (r.assignment.treatment.len()) " / " (r.assignment.control.len()) }
                                    td { @if let Some(v) = &r.verdict { (badge(&v.outcome)) } }
                                    td { (r.next_check_at().map(time).unwrap_or_default()) }
                                }
                            }
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
    let title = format!("Rollout {id}");
    let result = act(ui, sess, "rollouts.get", Some(id.clone()), move |cx| {
        body(cx.who, &mut cx.svc, &page, &id)
    })
    .await;
    render(ui, sess, &title, Nav::Rollouts, notices, status, result)
}

fn decision_text(d: &CheckDecision) -> (&'static str, String) {
    match d {
        CheckDecision::Continue => ("continue", String::new()),
        CheckDecision::RollBack {
            layer,
            metrics,
            reason,
        } => (
            "roll_back",
            format!(
                "{} regression in {}: {reason}",
                match layer {
                    Layer::Threshold => "threshold",
                    Layer::Statistical => "statistical",
                    Layer::Comparison => "A/B comparison",
                },
                metrics
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        CheckDecision::Apply { improved, reason } => {
            (if *improved { "improved" } else { "apply" }, reason.clone())
        }
        CheckDecision::Inconclusive { reason } => ("inconclusive", reason.clone()),
        CheckDecision::Hold { reason } => ("hold", reason.clone()),
    }
}

fn metric_value(m: Metric, v: f64) -> String {
    match m {
        Metric::Quality => format!("{v:.2}"),
        Metric::SuccessRate => format!("{:.1} %", v * 100.0),
        Metric::CostPerTask => format!("${v:.4}"),
        Metric::ErrorRate => format!("{v:.3}"),
    }
}

fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.0001 => "<0.0001".to_owned(),
        Some(p) => format!("{p:.4}"),
        None => "–".to_owned(),
    }
}

fn metric_row(m: &MetricCheck) -> Markup {
    let est = |e: &Option<kaizen_core::rollout::stats::RatioEstimate>| {
        e.as_ref()
            .map_or("–".to_owned(), |e| metric_value(m.metric, e.ratio))
    };
    html! {
        td.mono.nowrap { (m.metric.as_str()) }
        td.num { (est(&m.control)) " → " (est(&m.treatment)) }
        td.num { (m.worsening.map_or("–".to_owned(), |w| format!("{:+.1} %", w * 100.0))) }
        td.num { (p_value(m.p_running)) " / " (p_value(m.p_adjusted)) }
        td { (badge(&serde_json::to_value(m.decision).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())) }
    }
}

fn checks_table(checks: &[StoredCheck]) -> Markup {
    html! {
        table #checks {
            thead { tr {
                th.num { "#" } th { "at" } th.num { "elapsed" } th { "decision" }
                th { "metric" } th.num { "control → treatment" } th.num { "worsening" }
                th.num { "p running / adjusted" } th { "metric decision" }
            } }
            tbody {
                @for c in checks {
                    @let (label, why) = decision_text(&c.outcome.decision);
                    @let n = c.outcome.metrics.len().max(1);
                    @for (i, m) in c.outcome.metrics.iter().enumerate() {
                        tr {
                            @if i == 0 {
                                td.num rowspan=(n) { (c.seq) }
                                td rowspan=(n) { (time(c.at)) @if c.ran_at != c.at { div.muted { "ran " (time(c.ran_at)) } } }
                                td.num rowspan=(n) { (c.elapsed_hours) " h" }
                                td rowspan=(n) { (badge(label)) @if !why.is_empty() { div { (why) } } }
                            }
                            (metric_row(m))
                        }
                    }
                    @if c.outcome.metrics.is_empty() {
                        tr {
                            td.num { (c.seq) } td { (time(c.at)) } td.num { (c.elapsed_hours) " h" }
                            td { (badge(label)) @if !why.is_empty() { div { (why) } } }
                            td colspan="5" { span.muted { "no metric was reported" } }
                        }
                    }
                    @if let Some(sr) = &c.outcome.sample_ratio {
                        tr {
                            td colspan="4" {}
                            td colspan="5" {
                                span.muted {
                                    "sample ratio (" (sr.basis) "): observed " (format!("{:.0} / {:.0}", sr.observed.0, sr.observed.1))
                                    ", expected treatment share " (format!("{:.2}", sr.expected_treatment_share))
                                    ", p = " (p_value(Some(sr.p_value)))
                                }
                                @if sr.mismatch { " " (badge("mismatch")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn charts(checks: &[StoredCheck]) -> Markup {
    let labels: Vec<String> = checks
        .iter()
        .map(|c| format!("{} h", c.elapsed_hours))
        .collect();
    html! {
        div.charts {
            @for metric in Metric::ALL {
                @let find = |c: &StoredCheck| c.outcome.metrics.iter().find(|m| m.metric == metric).cloned();
                @let control = Series {
                    name: "control".into(),
                    color: "#5b6470",
                    points: checks.iter().map(|c| find(c).and_then(|m| m.control.map(|e| e.ratio))).collect(),
                    dashed: false,
                };
                @let treatment = Series {
                    name: "treatment".into(),
                    color: "#1f6feb",
                    points: checks.iter().map(|c| find(c).and_then(|m| m.treatment.map(|e| e.ratio))).collect(),
                    dashed: false,
                };
                (line_chart(metric.as_str(), &labels, &[control, treatment], match metric {
                    Metric::Quality => |v| format!("{v:.2}"),
                    Metric::SuccessRate => |v| format!("{:.0} %", v * 100.0),
                    Metric::CostPerTask => |v| format!("${v:.4}"),
                    Metric::ErrorRate => |v| format!("{v:.2}"),
                }))
            }
        }
    }
}

fn decide_form(r: &Rollout, page: &Page) -> Markup {
    let action = format!("/ui/rollouts/{}/decide", enc(&r.proposal_id));
    html! {
        @match r.state {
            RolloutState::Paused => {
                h2 { "Decide" }
                p.muted { "The observation window ended without a verdict. Extend it, apply the change org-wide, or roll it back." }
                form.action.card #decide-form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(page.csrf);
                    label for="hours" { "Extend by (hours)" }
                    input #hours type="number" name="hours" min="1" max="8760" value="24";
                    label for="reason" { "Reason (required)" }
                    textarea #reason name="reason" required {}
                    div.row {
                        button #extend type="submit" name="decision" value="extend" { "Extend" } " "
                        button.secondary #apply type="submit" name="decision" value="apply" { "Apply now" } " "
                        button.danger #rollback type="submit" name="decision" value="rollback" { "Roll back" }
                    }
                }
            }
            RolloutState::Observing | RolloutState::RollbackFailed => {
                h2 { @if r.state == RolloutState::RollbackFailed { "Retry the rollback" } @else { "Roll back now" } }
                form.action.card #decide-form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(page.csrf);
                    label for="reason" { "Reason (required)" }
                    textarea #reason name="reason" required {}
                    div { button.danger #rollback type="submit" name="decision" value="rollback" { "Roll back" } }
                }
            }
            _ => {}
        }
    }
}

fn body(
    caller: &Principal,
    svc: &mut Service<'_>,
    page: &Page,
    id: &str,
) -> Result<Markup, ApiError> {
    let r = svc.rollout(id)?;
    let checks = svc
        .store
        .rollout_checks(id)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let title = if allowed(caller, "proposals.get") {
        svc.store
            .proposal(id)
            .ok()
            .flatten()
            .map(|p| p.proposal.title)
    } else {
        None
    };
    let may_decide = allowed(caller, "rollouts.decide");
    let live = r.live_overlay();
    Ok(html! {
        h1 { "Rollout of " (title.as_deref().unwrap_or(id)) }
        p {
            (badge(r.state.as_str())) " "
            a href=(format!("/ui/proposals/{}", enc(id))) { "proposal " span.mono { (id) } }
        }
        @if let Some(v) = &r.verdict {
            div class=(if v.outcome == "applied" || v.outcome == "improved" { "notice ok" } else { "notice warn" }) role="status" {
                strong { "Verdict: " (v.outcome) } " — " (v.reason) " (" (v.decided_by) ", " (time(v.at)) ", after " (v.elapsed_hours) " h)"
            }
        }
        div.grid {
            div.card {
                h3 { "Schedule" }
                dl.kv {
                    dt { "strategy" } dd #strategy { (r.strategy.as_str()) }
                    dt { "state" } dd #state { (r.state.as_str()) }
                    dt { "started" } dd { (time(r.started_at)) }
                    dt { "window" } dd { (r.window_hours) " h, a check every " (r.interval_hours) " h" }
                    dt { "baseline" } dd { (r.baseline_hours) " h" }
                    dt { "checks" } dd { (r.checks_done) " of " (r.total_checks()) }
                    @if let Some(t) = r.next_check_at() { dt { "next check" } dd { (time(t)) } }
                    dt { "org version" } dd { (r.base_version) @if let Some(v) = r.applied_version { " → " (v) } }
                }
            }
            div.card {
                h3 { "Groups" }
                dl.kv {
                    dt { "treatment" } dd { (r.assignment.treatment.len()) " agents (" (format!("{:.0} %", r.assignment.treatment_fraction * 100.0)) ")" }
                    dt { "control" } dd { (r.assignment.control.len()) " agents" }
                }
                @if !r.assignment.strata.is_empty() {
                    table {
                        thead { tr { th { "stratum" } th.num { "agents" } th.num { "treatment" } } }
                        tbody { @for s in &r.assignment.strata {
                            tr { td.nowrap { (s.name) } td.num { (s.agents) } td.num { (s.treatment) } }
                        } }
                    }
                }
            }
        }
        h2 { "Overlay" }
        ul.changes { @for c in &r.changes { li { (c) } } }
        @if r.state.overlay_is_live() && live.len() != r.changes.len() {
            p.muted { "Live now (after " (r.reverted) " rollback operation(s)):" }
            ul.changes { @for c in &live { li { (c) } } }
        }
        h3 { "Rollback operations" }
        ul.changes { @for (i, c) in r.rollback.iter().enumerate() {
            li { (c) @if (i as u32) < r.reverted { " ✓" } }
        } }
        @if may_decide { (decide_form(&r, page)) }
        h2 { "Checks" }
        @if checks.is_empty() {
            p.empty { "No check has run yet." @if let Some(t) = r.next_check_at() { " The first is due " (time(t)) "." } }
        } @else {
            (charts(&checks))
            h3 { "Every check" }
            (checks_table(&checks))
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecideForm {
    csrf: Option<String>,
    decision: Option<String>,
    hours: Option<String>,
    reason: Option<String>,
}

pub(super) async fn decide(
    State(ui): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let Some(sess) = ui.sessions.current(&headers) else {
        return see_other("/ui/login");
    };
    // An unreadable form has no CSRF token: refused like a forged one.
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(res) = check_csrf(
        &ui,
        &sess,
        "rollouts.decide",
        Some(&id),
        form.csrf.as_deref(),
    )
    .await
    {
        return res;
    }
    let decision = field(form.decision.as_ref());
    let hours = field(form.hours.as_ref());
    let reason = field(form.reason.as_ref());
    let pid = id.clone();
    let result = act(&ui, &sess, "rollouts.decide", Some(id.clone()), move |cx| {
        let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m);
        let (decision, hours) = match decision.as_deref() {
            Some("extend") => (
                DecisionKind::Extend,
                Some(match hours.as_deref() {
                    None => 24,
                    Some(h) => h.parse::<u32>().ok().filter(|h| *h >= 1).ok_or_else(|| {
                        bad(format!(
                            "Extend by: expected a whole number of hours ≥ 1, found {h:?}."
                        ))
                    })?,
                }),
            ),
            Some("apply") => (DecisionKind::Apply, None),
            Some("rollback") => (DecisionKind::Rollback, None),
            other => {
                return Err(bad(format!(
                    "Unknown decision {:?}: expected extend, apply or rollback.",
                    other.unwrap_or("")
                )));
            }
        };
        let reason = reason.ok_or_else(|| {
            bad("A rollout decision needs a reason: say why in the Reason field.".to_owned())
        })?;
        let r = RolloutsDecide::run(
            cx,
            DecideInput {
                id: pid,
                decision,
                hours,
                reason,
            },
        )?;
        Ok(Notice::ok(format!(
            "Done: the rollout is now {}.",
            r.state.as_str()
        )))
    })
    .await;
    match result {
        Ok(n) => {
            ui.sessions.flash(&sess.id, n);
            see_other(&format!("/ui/rollouts/{}", enc(&id)))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            render(&ui, &sess, "", Nav::None, Vec::new(), None, Err(e))
        }
        Err(e) => {
            let status = e.status;
            show(&ui, &sess, id, vec![Notice::error(e.message)], Some(status)).await
        }
    }
}
