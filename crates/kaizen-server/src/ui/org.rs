//! The org document: the current version (agents, departments, roles, principles, settings),
//! the version history, and the diff between two chosen versions.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use kaizen_core::org::{OrgDocument, SettingValue};
use kaizen_service::ServiceError;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Nav, enc, time};
use super::{S, Spec, allowed, view};
use crate::error::ApiError;

/// Versions listed (and offered for the diff).
const VERSIONS: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub(super) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn org_err(e: kaizen_store::org::OrgStoreError) -> ApiError {
    if e.is_user_error() {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    } else {
        ApiError::internal(e.to_string())
    }
}

/// Every leaf of the settings tree as `dotted.path = value`.
fn flatten(prefix: &str, map: &BTreeMap<String, SettingValue>, out: &mut Vec<(String, String)>) {
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            SettingValue::Map(m) if !m.is_empty() => flatten(&path, m, out),
            other => out.push((path, other.to_string())),
        }
    }
}

fn version_number(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::field(field, format!("expected a version number, found {s:?}"))),
    }
}

fn document(doc: &OrgDocument) -> Markup {
    let mut settings = Vec::new();
    flatten("", &doc.settings.0, &mut settings);
    let per_department = |d: &str| doc.agents.iter().filter(|a| a.department == d).count();
    let per_role = |r: &str| doc.agents.iter().filter(|a| a.role == r).count();
    html! {
        div.grid {
            div.card {
                h3 { "Size" }
                dl.kv {
                    dt { "agents" } dd #agent-count { (doc.agents.len()) }
                    dt { "departments" } dd { (doc.departments.len()) }
                    dt { "roles" } dd { (doc.roles.len()) }
                    dt { "workflows" } dd { (doc.workflows.len()) }
                    dt { "principles" } dd { (doc.principles.len()) }
                    dt { "settings" } dd { (settings.len()) }
                }
            }
            div.card {
                h3 { "Departments" }
                table {
                    thead { tr { th { "department" } th.num { "agents" } } }
                    tbody { @for d in &doc.departments {
                        tr { td { (d.id) @if let Some(desc) = &d.description { div.muted { (desc) } } } td.num { (per_department(&d.id)) } }
                    } }
                }
            }
        }
        h2 { "Roles" }
        table {
            thead { tr { th { "role" } th { "department" } th { "description" } th.num { "agents" } } }
            tbody { @for r in &doc.roles {
                tr {
                    td.mono { (r.id) }
                    td { (r.department.as_deref().unwrap_or("–")) }
                    td { (r.description.as_deref().unwrap_or("")) }
                    td.num { (per_role(&r.id)) }
                }
            } }
        }
        @if !doc.workflows.is_empty() {
            h2 { "Workflows" }
            table {
                thead { tr { th { "workflow" } th { "steps" } } }
                tbody { @for w in &doc.workflows {
                    tr { td.mono { (w.id) } td { (w.steps.join(" → ")) } }
                } }
            }
        }
        h2 { "Principles" }
        @if doc.principles.is_empty() {
            p.muted { "none" }
        } @else {
            table {
                thead { tr { th { "principle" } th { "scope" } th { "mode" } th { "text" } } }
                tbody { @for p in &doc.principles {
                    tr { td.mono { (p.id) } td.mono { (p.scope) } td { (p.mode) } td { (p.text) } }
                } }
            }
        }
        h2 { "Settings" }
        table {
            thead { tr { th { "setting" } th { "value" } } }
            tbody { @for (k, v) in &settings {
                tr { td.mono { (k) } td.mono { (v) } }
            } }
        }
    }
}

pub(super) async fn page(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q);
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: "Org".into(),
            nav: Nav::Org,
            op: "org.current",
            target: None,
        },
        move |caller, svc, _p| {
            let q = q.map_err(|e| ApiError::field("query", e.body_text()))?;
            let Some(current) = svc.store.org_current().map_err(org_err)? else {
                return Ok(html! {
                    h1 { "Org" }
                    p.empty { (ServiceError::NoOrg.to_string()) }
                });
            };
            let history = if allowed(caller, "org.versions") {
                Some(svc.store.org_history(VERSIONS).map_err(org_err)?)
            } else {
                None
            };
            let from = version_number("from", q.from.as_deref())?;
            let to = version_number("to", q.to.as_deref())?;
            let diff = match (from, to) {
                (Some(a), Some(b)) => {
                    if !allowed(caller, "org.diff") {
                        Some(Err("your token may not compare versions (org:read)".to_owned()))
                    } else {
                        let get = |n: i64| {
                            svc.store
                                .org_version(n)
                                .map_err(org_err)?
                                .ok_or_else(|| {
                                    ApiError::new(
                                        StatusCode::NOT_FOUND,
                                        "not_found",
                                        format!("no org version {n}"),
                                    )
                                })
                        };
                        match (get(a), get(b)) {
                            (Ok(x), Ok(y)) => {
                                Some(Ok(OrgDocument::diff(&x.document, &y.document)))
                            }
                            (Err(e), _) | (_, Err(e)) => Some(Err(e.message)),
                        }
                    }
                }
                (None, None) => None,
                _ => Some(Err("choose both versions to compare".to_owned())),
            };
            let default_from = current.parent.unwrap_or(current.id);
            Ok(html! {
                h1 { "Org" }
                p.muted {
                    "Version " strong { (current.id) } " by " (current.actor) ", " (time(current.created_at))
                    @if let Some(r) = &current.reason { " — " (r) }
                }
                (document(&current.document))
                @if let Some(history) = &history {
                    h2 { "Compare versions" }
                    form.row method="get" action="/ui/org" {
                        div {
                            label for="from" { "from" } br;
                            select #from name="from" {
                                @for v in history {
                                    option value=(v.id) selected[from.unwrap_or(default_from) == v.id] { (v.id) }
                                }
                            }
                        }
                        div {
                            label for="to" { "to" } br;
                            select #to name="to" {
                                @for v in history {
                                    option value=(v.id) selected[to.unwrap_or(current.id) == v.id] { (v.id) }
                                }
                            }
                        }
                        div { button type="submit" { "Compare" } }
                    }
                    @if let (Some(diff), Some(a), Some(b)) = (&diff, from, to) {
                        @match diff {
                            Ok(changes) if changes.is_empty() => p.muted #diff { "Versions " (a) " and " (b) " are the same." },
                            Ok(changes) => div #diff {
                                p { (changes.len()) " change" @if changes.len() != 1 { "s" } " from version " (a) " to " (b) ":" }
                                ul.changes { @for c in changes { li { (c) } } }
                            },
                            Err(e) => div.notice.error role="alert" { (e) },
                        }
                    } @else if let Some(Err(e)) = &diff {
                        div.notice.error role="alert" { (e) }
                    }
                    h2 { "History" }
                    table {
                        thead { tr {
                            th.num { "version" } th.num { "parent" } th { "at" } th { "by" }
                            th { "proposal" } th { "reason" } th.num { "changes" }
                        } }
                        tbody { @for v in history {
                            tr {
                                td.num { (v.id) }
                                td.num { (v.parent.map_or("–".to_owned(), |p| p.to_string())) }
                                td { (time(v.created_at)) }
                                td { (v.actor) }
                                td.mono { @if let Some(p) = &v.proposal_id { a href=(format!("/ui/proposals/{}", enc(p))) { (p) } } }
                                td { (v.reason.as_deref().unwrap_or("")) }
                                td.num {
                                    @if let Some(parent) = v.parent {
                                        a href=(format!("/ui/org?from={parent}&to={}", v.id)) { (v.change_count) }
                                    } @else {
                                        (v.change_count)
                                    }
                                }
                            }
                        } }
                    }
                }
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_flatten_to_dotted_paths() {
        let mut inner = BTreeMap::new();
        inner.insert("tier".to_owned(), SettingValue::from("large"));
        let mut top = BTreeMap::new();
        top.insert("models".to_owned(), SettingValue::Map(inner));
        top.insert("on".to_owned(), SettingValue::from(true));
        let mut out = Vec::new();
        flatten("", &top, &mut out);
        assert_eq!(
            out,
            vec![
                ("models.tier".to_owned(), "\"large\"".to_owned()),
                ("on".to_owned(), "true".to_owned())
            ]
        );
    }

    #[test]
    fn version_numbers_are_checked() {
        assert_eq!(version_number("from", Some(" 3 ")).ok(), Some(Some(3)));
        assert_eq!(version_number("from", Some("")).ok(), Some(None));
        assert!(version_number("from", Some("x")).is_err());
    }
}
