//! The dashboard: the current snapshot by domain, the rules that fire on it, and the key
//! signals of the last 14 days, one snapshot per UTC day.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use kaizen_core::rules::RuleEngine;
use kaizen_core::snapshot::OrgSignalSnapshot;
use kaizen_service::Service;
use kaizen_store::proposals::ProposalStatus;
use maud::{Markup, html};

use super::chart::{Series, line_chart};
use super::layout::{self, Nav, badge, context_value, num, pct, time, trend, usd};
use super::{Page, S, Spec, allowed, view};
use crate::error::ApiError;
use kaizen_service::Principal;

/// Days in the charts.
const DAYS: i64 = 14;

pub(super) async fn page(State(ui): S, headers: HeaderMap, uri: Uri) -> Response {
    view(
        Arc::clone(&ui),
        &headers,
        &uri,
        Spec {
            title: "Dashboard".into(),
            nav: Nav::Dashboard,
            op: "signals.snapshot",
            target: None,
        },
        body,
    )
    .await
}

/// One snapshot per UTC day of the last [`DAYS`] days, with its label: the days up to today
/// (up to now), or up to yesterday when now is exactly midnight.
fn daily(
    svc: &Service<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, OrgSignalSnapshot)>, ApiError> {
    let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    let last = if midnight == now {
        midnight - Duration::days(1)
    } else {
        midnight
    };
    let mut out = Vec::with_capacity(DAYS as usize);
    for k in (0..DAYS).rev() {
        let since = last - Duration::days(k);
        let until = (since + Duration::days(1)).min(now);
        out.push((
            since.format("%b %d").to_string(),
            svc.snapshot(since, until)?,
        ));
    }
    Ok(out)
}

/// Days the spend chart looks ahead.
const FORECAST_DAYS: i64 = 7;

/// The spend chart's labels and lines: the daily spend, then the snapshot's forecast burn rate
/// (dashed, from the last day with data over the next [`FORECAST_DAYS`] days) and, when a
/// monthly limit is known, the budget per day (dashed).
fn spend_with_forecast(
    labels: &[String],
    spend: Series,
    snap: &OrgSignalSnapshot,
    days: &[(String, OrgSignalSnapshot)],
) -> (Vec<String>, Vec<Series>) {
    let n = labels.len();
    let Some(burn) = snap.budget.daily_burn_usd.filter(|b| b.is_finite()) else {
        return (labels.to_vec(), vec![spend]);
    };
    let last = days
        .last()
        .map_or(snap.window.until, |(_, s)| s.window.since);
    let mut all = labels.to_vec();
    all.extend((1..=FORECAST_DAYS).map(|k| (last + Duration::days(k)).format("%b %d").to_string()));
    let future = FORECAST_DAYS as usize;
    let mut points = spend.points;
    points.resize(n + future, None);
    let anchor = points[..n].iter().rposition(Option::is_some);
    let mut forecast = vec![None; n + future];
    if let Some(a) = anchor {
        forecast[a] = points[a];
    }
    for p in forecast.iter_mut().skip(n) {
        *p = Some(burn);
    }
    let mut lines = vec![
        Series { points, ..spend },
        Series {
            name: format!("forecast (${burn:.0}/day)"),
            color: "#8250df",
            points: forecast,
            dashed: true,
        },
    ];
    if let Some(limit) = snap
        .budget
        .monthly_limit_usd
        .filter(|l| l.is_finite() && *l > 0.0)
    {
        lines.push(Series {
            name: "budget per day".to_owned(),
            color: "#b3261e",
            points: vec![Some(limit / 30.0); n + future],
            dashed: true,
        });
    }
    (all, lines)
}

/// A count axis label: whole numbers without decimals.
fn count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn has_data(s: &OrgSignalSnapshot) -> bool {
    s.performance.task_count > 0
        || s.budget.total_spend > 0.0
        || s.errors.total_findings > 0
        || s.coordination.sample_count > 0
        || s.telemetry.event_count > 0
}

fn body(caller: &Principal, svc: &mut Service<'_>, _page: &Page) -> Result<Markup, ApiError> {
    let now = svc.clock.now();
    let since = svc.default_since(now);
    let snap = svc.snapshot(since, now)?;
    let evaluation = allowed(caller, "rules.evaluate")
        .then(|| RuleEngine::from_config(&svc.config.rules).evaluate(&snap));
    // A rule that still fires while its fix is rolled out or settling says so.
    let fires = evaluation.as_ref().is_some_and(|ev| !ev.matches.is_empty());
    let memory = if fires && allowed(caller, "proposals.list") {
        Some(svc.memory(now)?)
    } else {
        None
    };
    let days = daily(svc, now)?;
    let alerts = if allowed(caller, "alerts.list") {
        Some(
            svc.store
                .alerts(false)
                .map_err(|e| ApiError::internal(e.to_string()))?,
        )
    } else {
        None
    };
    let pending = if allowed(caller, "proposals.list") {
        Some(
            svc.store
                .proposals(Some(ProposalStatus::Pending), 1, 0)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .1,
        )
    } else {
        None
    };
    let live_rollouts = if allowed(caller, "rollouts.list") {
        Some(
            svc.store
                .live_rollouts()
                .map_err(|e| ApiError::internal(e.to_string()))?
                .len(),
        )
    } else {
        None
    };
    let empty = !has_data(&snap);
    let labels: Vec<String> = days.iter().map(|(l, _)| l.clone()).collect();
    let series =
        |name: &str, color: &'static str, f: fn(&OrgSignalSnapshot) -> Option<f64>| Series {
            name: name.to_owned(),
            color,
            points: days
                .iter()
                .map(|(_, s)| if has_data(s) { f(s) } else { None })
                .collect(),
            dashed: false,
        };
    let quality = series("quality", "#1f6feb", |s| s.performance.avg_quality_score);
    let success = series("success rate", "#137333", |s| {
        s.performance.avg_success_rate
    });
    let spend = series("spend", "#8250df", |s| Some(s.budget.total_spend));
    let (spend_labels, spend_chart) = spend_with_forecast(&labels, spend, &snap, &days);
    let overhead = series("coordination overhead", "#bf8700", |s| {
        s.coordination.coordination_overhead_pct
    });
    let errors = series("error findings", "#b3261e", |s| {
        Some(s.errors.total_findings as f64)
    });
    let p = &snap.performance;
    let b = &snap.budget;
    let c = &snap.coordination;
    let e = &snap.errors;
    Ok(html! {
        h1 { "Dashboard" }
        p.muted {
            "Snapshot of the last " (svc.config.signals.default_window_days) " days: "
            (time(snap.window.since)) " – " (time(snap.window.until)) "."
        }
        @if empty {
            div.notice.warn role="status" {
                "No data yet — send events (" code { "POST /api/v1/events" } ") or run "
                code { "kaizen sim generate" } " and ingest its output."
            }
        }
        @for f in &snap.failed_domains {
            div.notice.error role="alert" { "The " (f.domain.as_str()) " signals could not be read: " (f.error) }
        }
        div.grid {
            div.card {
                h3 { "Review queue" }
                @match pending {
                    Some(n) => p { a href="/ui/proposals?status=pending" { strong { (n) } " pending proposal" @if n != 1 { "s" } } },
                    None => p.muted { "your token may not list proposals" },
                }
                @if let Some(n) = live_rollouts {
                    p { a href="/ui/rollouts" { strong { (n) } " live rollout" @if n != 1 { "s" } } }
                }
            }
            div.card {
                h3 { "Rules firing now" }
                @match &evaluation {
                    Some(ev) => p { strong { (ev.matches.len()) } @if ev.matches.len() == 1 { " rule fires" } @else { " rules fire" } " on this snapshot" },
                    None => p.muted { "your token may not evaluate rules" },
                }
            }
            div.card {
                h3 { "Alerts" }
                @match &alerts {
                    Some(a) if a.is_empty() => p.muted { "no open alerts" },
                    Some(a) => ul {
                        @for al in a.iter().take(5) {
                            li { (badge(&al.severity)) " " (al.message) " " span.muted { (time(al.at)) } }
                        }
                    },
                    None => p.muted { "your token may not list alerts" },
                }
            }
        }

        h2 { "Rules that fire now" }
        @match &evaluation {
            None => p.muted { "Your token lacks rules:read." },
            Some(ev) if ev.matches.is_empty() && ev.failures.is_empty() => p.muted { "No rule fires on the current snapshot." },
            Some(ev) => {
                @if !ev.matches.is_empty() {
                    table {
                        thead { tr { th { "rule" } th { "severity" } th { "finding" } th { "values" } } }
                        tbody {
                            @for m in &ev.matches {
                                tr {
                                    td.mono { (m.rule_name) }
                                    td { (badge(m.severity.as_str())) }
                                    td {
                                        (m.description)
                                        @if let Some(fix) = memory.as_ref().and_then(|mem| mem.settling(&m.rule_name)) {
                                            div.muted { "Fix under way: " (fix) }
                                        }
                                    }
                                    td.mono {
                                        @for (k, v) in &m.signal_context {
                                            div { (k) " = " (context_value(v)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @for f in &ev.failures {
                    div.notice.error { "rule " code { (f.rule) } " failed: " (f.error) }
                }
            }
        }

        h2 { "Last " (DAYS) " days" }
        div.charts {
            (line_chart("Quality (0–10)", &labels, &[quality], |v| format!("{v:.1}")))
            (line_chart("Success rate", &labels, &[success], |v| format!("{:.0} %", v * 100.0)))
            (line_chart("Spend per day (USD), with the forecast", &spend_labels, &spend_chart, |v| format!("${v:.0}")))
            (line_chart("Coordination overhead (%)", &labels, &[overhead], |v| format!("{v:.0}")))
            (line_chart("Error findings per day", &labels, &[errors], count))
        }

        h2 { "Snapshot by domain" }
        div.grid {
            div.card {
                h3 { "Performance" }
                dl.kv {
                    dt { "agents" } dd { (p.agent_count) }
                    dt { "tasks" } dd { (p.task_count) " (" (p.scored_task_count) " scored)" }
                    dt { "quality" } dd { (num(p.avg_quality_score, 2)) }
                    dt { "success rate" } dd { (pct(p.avg_success_rate)) }
                    dt { "collaboration" } dd { (num(p.avg_collaboration_score, 2)) }
                    @for m in &p.metrics {
                        dt { (m.name) } dd { (num(Some(m.value), 3)) " " (trend(m.trend)) }
                    }
                }
            }
            div.card {
                h3 { "Budget" }
                dl.kv {
                    dt { "spend" } dd { (usd(Some(b.total_spend))) }
                    dt { "daily burn" } dd { (usd(b.daily_burn_usd)) }
                    dt { "remaining" } dd { (usd(b.remaining_usd)) }
                    dt { "monthly limit" } dd { (usd(b.monthly_limit_usd)) }
                    dt { "days left" } dd { (b.days_until_exhausted.map_or("–".to_owned(), |d| d.to_string())) }
                    dt { "productive / coord. / system" } dd { (pct(Some(b.productive_ratio))) " / " (pct(Some(b.coordination_ratio))) " / " (pct(Some(b.system_ratio))) }
                    dt { "orchestration overhead" } dd { (num(Some(b.orchestration_overhead), 3)) }
                }
            }
            div.card {
                h3 { "Coordination" }
                dl.kv {
                    dt { "efficiency" } dd { (num(c.coordination_efficiency, 3)) }
                    dt { "overhead" } dd { (num(c.coordination_overhead_pct, 1)) " %" }
                    dt { "error amplification" } dd { (num(c.error_amplification, 2)) }
                    dt { "message density" } dd { (num(c.message_density, 2)) }
                    dt { "redundancy" } dd { (pct(c.redundancy_rate)) }
                    dt { "straggler gap" } dd { (num(c.straggler_gap_ratio, 2)) }
                    dt { "samples" } dd { (c.sample_count) }
                }
            }
            div.card {
                h3 { "Errors" }
                dl.kv {
                    dt { "findings" } dd { (e.total_findings) " " (trend(e.trend)) }
                    dt { "most severe" } dd { (e.most_severe_category.as_deref().unwrap_or("–")) }
                    @for cat in e.categories.iter().take(6) {
                        dt { (cat.category) } dd { (cat.count) " (severity " (num(Some(cat.avg_severity), 1)) ") " (trend(cat.trend)) }
                    }
                }
            }
            div.card {
                h3 { "Scaling" }
                dl.kv {
                    dt { "decisions" } dd { (snap.scaling.total_decisions) " (" (snap.scaling.decided_decisions) " decided)" }
                    dt { "success rate" } dd { (pct(snap.scaling.success_rate)) }
                    dt { "most common signal" } dd { (snap.scaling.most_common_signal.as_deref().unwrap_or("–")) }
                }
            }
            div.card {
                h3 { "Evolution" }
                dl.kv {
                    dt { "proposals" } dd { (snap.evolution.total_proposals) }
                    dt { "approval rate" } dd { (pct(snap.evolution.approval_rate)) }
                    dt { "most adapted axis" } dd { (snap.evolution.most_adapted_axis.as_deref().unwrap_or("–")) }
                }
            }
            div.card {
                h3 { "Telemetry" }
                dl.kv {
                    dt { "events" } dd { (snap.telemetry.event_count) }
                    dt { "error events" } dd { (snap.telemetry.error_event_count) }
                    dt { "top types" } dd { (snap.telemetry.top_event_types.join(", ")) }
                }
            }
            div.card {
                h3 { "Benchmark" }
                dl.kv {
                    dt { "runs" } dd { (snap.benchmark.run_count) }
                    dt { "suite" } dd { (snap.benchmark.suite.as_deref().unwrap_or("–")) }
                    dt { "latest / best" } dd { (num(snap.benchmark.latest_total, 2)) " / " (num(snap.benchmark.max_total, 2)) }
                    dt { "delta" } dd { (num(snap.benchmark.delta, 2)) @if snap.benchmark.has_regression { " " (badge("regression")) } }
                }
            }
        }
        @if !p.department_summaries.is_empty() {
            h2 { "Departments" }
            table {
                thead { tr { th { "department" } th.num { "agents" } th.num { "tasks" } th.num { "quality" } th.num { "success rate" } th.num { "collaboration" } } }
                tbody {
                    @for (name, d) in &p.department_summaries {
                        tr {
                            td { (name) }
                            td.num { (d.agent_count) }
                            td.num { (d.task_count) }
                            td.num { (num(d.avg_quality_score, 2)) }
                            td.num { (pct(d.avg_success_rate)) }
                            td.num { (num(d.avg_collaboration_score, 2)) }
                        }
                    }
                }
            }
        }
        p.muted { "Rendered " (layout::time(now)) "." }
    })
}
