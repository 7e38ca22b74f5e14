//! Prometheus metrics at `/metrics`: request counts and latencies by route, events ingested
//! and rejected, cycle durations (counters and histograms through the `metrics` facade), and
//! proposals by status and rollouts by state (read from the store at scrape time, so they are
//! right even when another process changed them).
//!
//! Every label takes a bounded set of values, whatever clients send: `method` is one of the
//! standard methods or `other` ([`method_label`]), `route` is a route template or `unmatched`,
//! and `status` is a status the server itself answered with.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kaizen_store::proposals::ProposalStatus;
use kaizen_store::rollouts::RolloutState;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::{AppState, blocking};

fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics serves store gauges only");
                None
            }
        })
        .as_ref()
}

/// Installs the recorder (idempotent); call once at start-up.
pub fn init() {
    let _ = handle();
}

/// Middleware: counts and times every request by its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("kaizen_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("kaizen_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// The `method` label of a request: the method's name when it is one of the nine standard
/// methods (RFC 9110 and PATCH), else `other`, so that invented methods cannot grow the label
/// set.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Counts an ingestion.
pub fn events(accepted: u64, rejected: u64) {
    metrics::counter!("kaizen_events_ingested_total").increment(accepted);
    metrics::counter!("kaizen_events_rejected_total").increment(rejected);
}

/// Records a cycle's duration.
pub fn cycle(seconds: f64) {
    metrics::histogram!("kaizen_cycle_duration_seconds").record(seconds);
}

/// `GET /metrics` (no token: Prometheus scrapes it; bind to loopback or firewall it).
pub async fn metrics_endpoint(State(state): State<Arc<AppState>>) -> Response {
    let gauges = blocking(move || {
        let store = state.store();
        let internal = |e: &dyn std::fmt::Display| crate::error::ApiError::internal(e.to_string());
        let proposals = store.proposal_counts().map_err(|e| internal(&e))?;
        let rollouts = store.rollout_counts().map_err(|e| internal(&e))?;
        let count = |found: Option<&u64>| found.copied().unwrap_or(0);
        let mut out = String::new();
        out.push_str(
            "# HELP kaizen_proposals Proposals by status.\n# TYPE kaizen_proposals gauge\n",
        );
        for s in ProposalStatus::ALL {
            let n = count(proposals.iter().find(|(k, _)| *k == s).map(|(_, n)| n));
            out.push_str(&format!(
                "kaizen_proposals{{status=\"{}\"}} {n}\n",
                s.as_str()
            ));
        }
        out.push_str("# HELP kaizen_rollouts Rollouts by state.\n# TYPE kaizen_rollouts gauge\n");
        for s in RolloutState::ALL {
            let n = count(rollouts.iter().find(|(k, _)| *k == s).map(|(_, n)| n));
            out.push_str(&format!(
                "kaizen_rollouts{{state=\"{}\"}} {n}\n",
                s.as_str()
            ));
        }
        Ok(out)
    })
    .await;
    match gauges {
        Ok(gauges) => {
            let mut body = handle().map(|h| h.render()).unwrap_or_default();
            body.push_str(&gauges);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                body,
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}
