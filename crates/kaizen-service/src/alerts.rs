//! Alerts that reach people: raising (de-duplicated, with one outbox row per matching sink in
//! the same transaction), the `stuck_rollout` monitor, and delivery of the outbox to the sinks
//! of `self_improvement.alerts` (`docs/alerts.md`).
//!
//! Delivery ([`Kaizen::deliver_alerts`]) claims due outbox rows with the store locked, POSTs
//! them with the lock released (so the API is not held up by a slow sink), then records each
//! result: delivered on a 2xx; permanently failed on a 4xx other than 408 and 429; otherwise
//! retried after an exponential, fully jittered delay capped at `retry_max_seconds`, and given
//! up (failed) once the alert is older than `give_up_after_hours`. After a failure, the
//! sink's other due deliveries wait, unattempted, for the same retry time. A claimed row is leased for
//! the timeout plus a margin, so a process killed mid-attempt leaves it due again: delivery is
//! at least once, and every body carries the alert's stable `id` for receivers to de-duplicate.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::config::{AlertKind, AlertSeverity, AlertSink, AlertSinkKind, redact_url};
use kaizen_store::alerts::{Alert, Delivery, RaisedAlert, jitter_unit, retry_delay};
use kaizen_store::rollouts::RolloutState;
use schemars::JsonSchema;
use serde::Serialize;

pub use kaizen_store::alerts::AlertDraft;

use crate::{Kaizen, Result, Service, store_err};

/// The `schema` of a webhook body.
pub const ALERT_SCHEMA: &str = "kaizen.alert.v1";

/// Deliveries claimed per batch.
const BATCH: u32 = 50;

/// Batches per [`Kaizen::deliver_alerts`] call at most.
const MAX_BATCHES: u32 = 20;

/// The lease of a claimed delivery beyond the HTTP timeout.
const LEASE_MARGIN_SECONDS: i64 = 5;

/// The body a webhook sink receives: the alert as JSON, schema `kaizen.alert.v1`.
pub fn webhook_body(alert: &Alert) -> serde_json::Value {
    serde_json::json!({
        "schema": ALERT_SCHEMA,
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity,
        "proposal_id": alert.proposal_id,
        "dedup_key": alert.dedup_key,
        "message": alert.message,
        "raised_at": alert.at,
        "last_at": alert.last_at,
        "count": alert.count,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
    })
}

/// The body a Slack-compatible incoming webhook receives: `text` (the fallback every client
/// shows) and one section block with the same text.
pub fn slack_body(alert: &Alert) -> serde_json::Value {
    let subject = alert
        .proposal_id
        .as_deref()
        .map(|p| format!(" (proposal {p})"))
        .unwrap_or_default();
    let repeated = if alert.count > 1 {
        format!(" — raised {} times", alert.count)
    } else {
        String::new()
    };
    let text = format!(
        "[kaizen] {} {}{subject}: {}{repeated} (alert {})",
        alert.severity.to_uppercase(),
        alert.kind,
        alert.message,
        alert.id
    );
    serde_json::json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

/// What one delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct DeliveryReport {
    /// Deliveries attempted.
    pub attempted: u32,
    /// Accepted by their sink.
    pub delivered: u32,
    /// Failed, to be retried.
    pub retrying: u32,
    /// Given up (a permanent refusal, too old, or the sink is no longer configured).
    pub failed: u32,
    /// Not attempted because their sink failed earlier in this run; due when it is retried.
    pub deferred: u32,
    /// When the next pending delivery is due.
    pub next_due: Option<DateTime<Utc>>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
enum Attempt {
    Delivered,
    /// Worth retrying (timeout, connection refused, 5xx, 408, 429, …).
    Transient(String),
    /// Never going to work (a 4xx other than 408 and 429, no such sink).
    Permanent(String),
}

/// POSTs `body` to `url`; the error text never contains the URL.
fn post(url: &str, body: &serde_json::Value, timeout: StdDuration) -> Attempt {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into();
    match agent
        .post(url)
        .header("user-agent", concat!("kaizen/", env!("CARGO_PKG_VERSION")))
        .send_json(body)
    {
        Ok(response) => {
            let status = response.status().as_u16();
            match status {
                200..=299 => Attempt::Delivered,
                408 | 429 => Attempt::Transient(format!("HTTP status {status}")),
                400..=499 => Attempt::Permanent(format!("HTTP status {status} (not retried)")),
                _ => Attempt::Transient(format!("HTTP status {status}")),
            }
        }
        Err(e) => Attempt::Transient(e.to_string().replace(url, &redact_url(url))),
    }
}

/// Sends one claimed delivery to its sink.
fn send(sink: &AlertSink, alert: &Alert, timeout: StdDuration) -> Attempt {
    match (sink.kind, sink.url.as_deref()) {
        (AlertSinkKind::Log, _) => {
            let (kind, severity) = (alert.kind.as_str(), alert.severity.as_str());
            let proposal = alert.proposal_id.as_deref().unwrap_or("");
            match severity {
                "critical" => {
                    tracing::error!(target: "kaizen::alert", id = alert.id, kind, severity, proposal, count = alert.count, "{}", alert.message)
                }
                "warning" => {
                    tracing::warn!(target: "kaizen::alert", id = alert.id, kind, severity, proposal, count = alert.count, "{}", alert.message)
                }
                _ => {
                    tracing::info!(target: "kaizen::alert", id = alert.id, kind, severity, proposal, count = alert.count, "{}", alert.message)
                }
            }
            Attempt::Delivered
        }
        (AlertSinkKind::Webhook, Some(url)) => post(url, &webhook_body(alert), timeout),
        (AlertSinkKind::Slack, Some(url)) => post(url, &slack_body(alert), timeout),
        (kind, None) => Attempt::Permanent(format!("the {} sink has no url", kind.as_str())),
    }
}

impl Service<'_> {
    /// Raises an alert: a new one, with one outbox row per sink of `self_improvement.alerts`
    /// that takes its kind and severity (same transaction); or, when an unacknowledged alert
    /// of the same kind and dedup key exists, that one counted again (no new deliveries).
    /// Every part of kaizen that raises alerts calls this.
    pub fn raise_alert(&mut self, draft: AlertDraft) -> Result<RaisedAlert> {
        let sinks: Vec<&str> = self
            .config
            .self_improvement
            .alerts
            .sinks_for(draft.kind, draft.severity)
            .into_iter()
            .map(|s| s.name.as_str())
            .collect();
        let raised = self
            .store
            .alert_raise(&draft, &sinks, self.clock.now())
            .map_err(store_err)?;
        tracing::info!(
            alert = raised.id,
            kind = draft.kind.as_str(),
            new = raised.new,
            count = raised.count,
            deliveries = raised.deliveries,
            "alert raised"
        );
        Ok(raised)
    }

    /// Raises a `stuck_rollout` alert for every rollout paused for a human longer than
    /// `self_improvement.alerts.stuck_rollout_hours`, once per pause (acknowledging it does not
    /// bring it back; a rollout paused again later alerts again). Returns how many were raised.
    pub fn raise_stuck_rollouts(&mut self) -> Result<u32> {
        let hours = self.config.self_improvement.alerts.stuck_rollout_hours;
        let now = self.clock.now();
        let paused = self
            .store
            .rollouts(Some(RolloutState::Paused))
            .map_err(crate::rollout::rollout_err)?;
        let mut raised = 0;
        for r in paused {
            let waiting = now - r.updated_at;
            if waiting < Duration::hours(i64::from(hours)) {
                continue;
            }
            // One alert per pause: the pause is identified by when it began.
            let key = format!("{}@{}", r.proposal_id, r.updated_at.to_rfc3339());
            if self
                .store
                .alert_seen(AlertKind::StuckRollout, &key)
                .map_err(store_err)?
            {
                continue;
            }
            let why = r
                .verdict
                .as_ref()
                .map(|v| format!(": {}", v.reason))
                .unwrap_or_default();
            self.raise_alert(AlertDraft {
                kind: AlertKind::StuckRollout,
                severity: AlertSeverity::Warning,
                proposal_id: Some(r.proposal_id.clone()),
                dedup_key: Some(key),
                message: format!(
                    "the rollout of proposal {} has waited for a human decision for {} h{why}; decide with `kaizen rollouts decide {} extend|apply|rollback --reason …`",
                    r.proposal_id,
                    waiting.num_hours(),
                    r.proposal_id
                ),
            })?;
            raised += 1;
        }
        Ok(raised)
    }
}

impl Kaizen {
    /// Raises an alert (see [`Service::raise_alert`]).
    pub fn raise_alert(&self, draft: AlertDraft) -> Result<RaisedAlert> {
        let mut store = self.store();
        Service {
            store: &mut store,
            config: self.config(),
            clock: self.clock().as_ref(),
        }
        .raise_alert(draft)
    }

    /// Raises the due `stuck_rollout` alerts (see [`Service::raise_stuck_rollouts`]).
    pub fn raise_stuck_rollouts(&self) -> Result<u32> {
        let mut store = self.store();
        Service {
            store: &mut store,
            config: self.config(),
            clock: self.clock().as_ref(),
        }
        .raise_stuck_rollouts()
    }

    /// Delivers the due rows of the alert outbox to their sinks (the background loop's turn,
    /// and `kaizen alerts deliver`'s). The store is locked only to claim and to record.
    pub fn deliver_alerts(&self) -> Result<DeliveryReport> {
        let cfg = &self.config().self_improvement.alerts;
        let timeout = StdDuration::from_secs(u64::from(cfg.delivery_timeout_seconds));
        let lease =
            Duration::seconds(i64::from(cfg.delivery_timeout_seconds) + LEASE_MARGIN_SECONDS);
        let initial = Duration::seconds(i64::from(cfg.retry_initial_seconds));
        let max = Duration::seconds(i64::from(cfg.retry_max_seconds));
        let give_up = Duration::hours(i64::from(cfg.give_up_after_hours));
        let mut report = DeliveryReport::default();
        // Sinks that failed in this run, with when they are retried: their other deliveries
        // wait for the same time unattempted (one probe per sink, so a sink that times out
        // does not hold the loop for a timeout per alert).
        let mut down: HashMap<String, DateTime<Utc>> = HashMap::new();
        for _ in 0..MAX_BATCHES {
            let claimed: Vec<Delivery> = self
                .store()
                .alert_outbox_claim(self.clock().now(), lease, BATCH)
                .map_err(store_err)?;
            let full = claimed.len() as u32 == BATCH;
            for d in claimed {
                if let Some(next) = down.get(&d.entry.sink) {
                    self.store()
                        .alert_outbox_release(&d, *next)
                        .map_err(store_err)?;
                    report.deferred += 1;
                    continue;
                }
                report.attempted += 1;
                let attempt = match cfg.sink(&d.entry.sink) {
                    Some(sink) => send(sink, &d.alert, timeout),
                    None => Attempt::Permanent(format!(
                        "sink {:?} is no longer configured",
                        d.entry.sink
                    )),
                };
                let now = self.clock().now();
                let mut store = self.store();
                let id = d.entry.id;
                let sink = d.entry.sink.as_str();
                match attempt {
                    Attempt::Delivered => {
                        store.alert_outbox_delivered(id, now).map_err(store_err)?;
                        report.delivered += 1;
                    }
                    Attempt::Permanent(error) => {
                        tracing::warn!(alert = d.alert.id, sink, error = %error, "alert delivery refused; not retried");
                        store
                            .alert_outbox_fail(id, now, &error)
                            .map_err(store_err)?;
                        report.failed += 1;
                    }
                    Attempt::Transient(error) => {
                        let delay = retry_delay(d.entry.attempts, initial, max, jitter_unit())
                            .max(Duration::seconds(1));
                        let next = now + delay;
                        down.insert(d.entry.sink.clone(), next);
                        if next - d.entry.created_at > give_up {
                            let error = format!(
                                "gave up after {} attempts over {} h: {error}",
                                d.entry.attempts,
                                (now - d.entry.created_at).num_hours()
                            );
                            tracing::error!(alert = d.alert.id, sink, error = %error, "alert delivery given up");
                            store
                                .alert_outbox_fail(id, now, &error)
                                .map_err(store_err)?;
                            report.failed += 1;
                        } else {
                            tracing::warn!(alert = d.alert.id, sink, attempt = d.entry.attempts, retry_at = %next, error = %error, "alert delivery failed; will retry");
                            store
                                .alert_outbox_retry(id, next, &error)
                                .map_err(store_err)?;
                            report.retrying += 1;
                        }
                    }
                }
            }
            if !full {
                break;
            }
        }
        report.next_due = self.store().alert_outbox_next_due().map_err(store_err)?;
        Ok(report)
    }
}
