//! Alerts for a human, de-duplicated, and their durable delivery outbox.
//!
//! An alert is identified for de-duplication by its kind and its dedup key (the draft's
//! `dedup_key`, else its proposal id, else empty). Raising one while an unacknowledged alert
//! with the same kind and key exists bumps that alert's `count` and `last_at` (and keeps the
//! newest message and severity) instead of adding a row; it does not notify again.
//!
//! A new alert writes, in the same transaction, one `alert_outbox` row per sink it goes to
//! (the caller says which, by name). Delivery ([`Store::alert_outbox_claim`], then
//! [`Store::alert_outbox_delivered`], [`Store::alert_outbox_retry`] or
//! [`Store::alert_outbox_fail`]) is at least once: a claimed row is leased (its `next_at`
//! moves past the attempt's timeout), so a process killed during an attempt leaves the row due
//! again once the lease ends. Acknowledging an alert does not cancel its deliveries.

use chrono::{DateTime, Duration, Utc};
use kaizen_core::config::{AlertKind, AlertSeverity};
use rusqlite::{OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::Serialize;

use crate::{Store, StoreError, micros_to_time};

/// An alert for a human.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Alert {
    /// Id (stable: the `id` of every delivery of this alert).
    pub id: i64,
    /// When first raised.
    pub at: DateTime<Utc>,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// What kind (`rollback`, `rollback_failed`, `apply_conflict`, `stuck_rollout`,
    /// `inflection`, `budget`).
    pub kind: String,
    /// The proposal concerned.
    pub proposal_id: Option<String>,
    /// What happened and what to do (the newest, when raised more than once).
    pub message: String,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who.
    pub acknowledged_by: Option<String>,
    /// What identifies it, with its kind, for de-duplication.
    pub dedup_key: String,
    /// How many times it was raised while unacknowledged (1 at first).
    pub count: u32,
    /// When last raised.
    pub last_at: DateTime<Utc>,
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDraft {
    /// What kind.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: AlertSeverity,
    /// The proposal concerned.
    pub proposal_id: Option<String>,
    /// What identifies it for de-duplication (default: the proposal id).
    pub dedup_key: Option<String>,
    /// What happened and what to do.
    pub message: String,
}

impl AlertDraft {
    /// The key it is de-duplicated on (with its kind).
    pub fn key(&self) -> &str {
        self.dedup_key
            .as_deref()
            .or(self.proposal_id.as_deref())
            .unwrap_or("")
    }
}

/// What raising an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RaisedAlert {
    /// The alert (new, or the open one it was merged into).
    pub id: i64,
    /// Whether a new alert was created (else an open one's count was bumped).
    pub new: bool,
    /// Its count after this raise.
    pub count: u32,
    /// Outbox rows written (one per sink; none when merged).
    pub deliveries: u32,
}

/// The state of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; attempted again at `next_at`.
    Pending,
    /// The sink accepted it.
    Delivered,
    /// Given up (a permanent refusal, or still failing after the configured age).
    Failed,
}

impl DeliveryState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Self> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown delivery state {other:?}").into(),
            )),
        }
    }
}

/// One row of the outbox: an alert's delivery to one sink.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// The alert.
    pub alert_id: i64,
    /// The sink, by its configured name.
    pub sink: String,
    /// When the alert was raised (the age that `give_up_after_hours` counts from).
    pub created_at: DateTime<Utc>,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (pending rows).
    pub next_at: DateTime<Utc>,
    /// When it was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered or given up.
    pub done_at: Option<DateTime<Utc>>,
}

/// A claimed delivery: the row and its alert as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The outbox row (its `attempts` counts this attempt).
    pub entry: OutboxEntry,
    /// The alert to send.
    pub alert: Alert,
    /// When it was attempted before this claim (for [`Store::alert_outbox_release`]).
    pub previous_attempt_at: Option<DateTime<Utc>>,
}

/// Outbox rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct OutboxCounts {
    /// Not delivered yet.
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up.
    pub failed: u64,
}

/// The delay before retry number `attempt` (1 = the first retry) with full jitter: `unit` (in
/// [0, 1)) times the exponential ceiling `initial × 2^(attempt − 1)` capped at `max`.
pub fn retry_delay(attempt: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let ceiling_ms = initial
        .num_milliseconds()
        .max(0)
        .saturating_mul(1i64 << doublings)
        .min(max.num_milliseconds().max(0));
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Duration::milliseconds((ceiling_ms as f64 * unit) as i64)
}

/// A uniform number in [0, 1) from the operating system's random source (0.5 if it fails:
/// the delay is then half the ceiling, still bounded).
pub fn jitter_unit() -> f64 {
    let mut buf = [0u8; 8];
    match getrandom::fill(&mut buf) {
        Ok(()) => (u64::from_le_bytes(buf) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

const ALERT_COLUMNS: &str = "id, at, severity, kind, proposal_id, message, acknowledged_at, \
     acknowledged_by, dedup_key, count, last_at";

fn alert_row(r: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        at: micros_to_time(r.get(1)?),
        severity: r.get(2)?,
        kind: r.get(3)?,
        proposal_id: r.get(4)?,
        message: r.get(5)?,
        acknowledged_at: r.get::<_, Option<i64>>(6)?.map(micros_to_time),
        acknowledged_by: r.get(7)?,
        dedup_key: r.get(8)?,
        count: r.get(9)?,
        last_at: micros_to_time(r.get(10)?),
    })
}

const OUTBOX_COLUMNS: &str = "id, alert_id, sink, created_at, state, attempts, next_at, \
     last_attempt_at, last_error, done_at";

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        sink: r.get(2)?,
        created_at: micros_to_time(r.get(3)?),
        state: DeliveryState::parse(&r.get::<_, String>(4)?)?,
        attempts: r.get(5)?,
        next_at: micros_to_time(r.get(6)?),
        last_attempt_at: r.get::<_, Option<i64>>(7)?.map(micros_to_time),
        last_error: r.get(8)?,
        done_at: r.get::<_, Option<i64>>(9)?.map(micros_to_time),
    })
}

impl Store {
    /// Raises an alert, or merges it into the open (unacknowledged) alert of the same kind and
    /// dedup key. A new alert gets one outbox row per name in `sinks`, in the same
    /// transaction.
    pub fn alert_raise(
        &mut self,
        draft: &AlertDraft,
        sinks: &[&str],
        now: DateTime<Utc>,
    ) -> crate::Result<RaisedAlert> {
        if draft.message.trim().is_empty() {
            return Err(StoreError::Refused(
                "an alert's message must not be blank".to_owned(),
            ));
        }
        let at = now.timestamp_micros();
        let tx = self.write_tx()?;
        let open: Option<(i64, u32)> = tx
            .query_row(
                "SELECT id, count FROM alerts
                 WHERE kind = ?1 AND dedup_key = ?2 AND acknowledged_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                params![draft.kind.as_str(), draft.key()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let raised = if let Some((id, count)) = open {
            tx.execute(
                "UPDATE alerts SET count = count + 1, last_at = max(last_at, ?2), message = ?3,
                     severity = ?4
                 WHERE id = ?1",
                params![id, at, draft.message, draft.severity.as_str()],
            )?;
            RaisedAlert {
                id,
                new: false,
                count: count.saturating_add(1),
                deliveries: 0,
            }
        } else {
            tx.execute(
                "INSERT INTO alerts (at, severity, kind, proposal_id, message, dedup_key, count,
                     last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?1)",
                params![
                    at,
                    draft.severity.as_str(),
                    draft.kind.as_str(),
                    draft.proposal_id,
                    draft.message,
                    draft.key()
                ],
            )?;
            let id = tx.last_insert_rowid();
            let mut deliveries = 0;
            for sink in sinks {
                deliveries += tx.execute(
                    "INSERT INTO alert_outbox (alert_id, sink, created_at, next_at)
                     VALUES (?1, ?2, ?3, ?3) ON CONFLICT (alert_id, sink) DO NOTHING",
                    params![id, sink, at],
                )? as u32;
            }
            RaisedAlert {
                id,
                new: true,
                count: 1,
                deliveries,
            }
        };
        tx.commit()?;
        Ok(raised)
    }

    /// Whether an alert of `kind` with `dedup_key` was ever raised (acknowledged or not).
    pub fn alert_seen(&self, kind: AlertKind, dedup_key: &str) -> crate::Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM alerts WHERE kind = ?1 AND dedup_key = ?2 LIMIT 1")?;
        Ok(stmt.exists(params![kind.as_str(), dedup_key])?)
    }

    /// Alerts, newest first; only unacknowledged ones unless `all`.
    pub fn alerts(&self, all: bool) -> crate::Result<Vec<Alert>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE ?1 OR acknowledged_at IS NULL ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map(params![all], alert_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Alert `id`.
    pub fn alert(&self, id: i64) -> crate::Result<Option<Alert>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?;
        Ok(stmt.query_row(params![id], alert_row).optional()?)
    }

    /// Acknowledges alert `id`. Refused for an unknown or already acknowledged alert. Its
    /// deliveries go on (it happened).
    pub fn alert_acknowledge(
        &mut self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> crate::Result<()> {
        if actor.trim().is_empty() {
            return Err(StoreError::Refused(
                "the actor must not be blank".to_owned(),
            ));
        }
        let n = self.conn.execute(
            "UPDATE alerts SET acknowledged_at = ?2, acknowledged_by = ?3
             WHERE id = ?1 AND acknowledged_at IS NULL",
            params![id, now.timestamp_micros(), actor],
        )?;
        if n == 0 {
            return Err(StoreError::Refused(format!(
                "no unacknowledged alert with id {id}"
            )));
        }
        Ok(())
    }

    /// Claims up to `limit` pending deliveries due at `now`, oldest due first: each counts an
    /// attempt and is leased until `now + lease` (due again then if the claimer never reports).
    pub fn alert_outbox_claim(
        &mut self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> crate::Result<Vec<Delivery>> {
        let at = now.timestamp_micros();
        let until = (now + lease).timestamp_micros();
        let tx = self.write_tx()?;
        let entries: Vec<OutboxEntry> = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM alert_outbox
                 WHERE state = 'pending' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2"
            ))?;
            stmt.query_map(params![at, limit], outbox_row)?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(entries.len());
        for mut entry in entries {
            tx.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_attempt_at = ?2,
                     next_at = ?3
                 WHERE id = ?1",
                params![entry.id, at, until],
            )?;
            entry.attempts = entry.attempts.saturating_add(1);
            let previous_attempt_at = entry.last_attempt_at.replace(now);
            entry.next_at = micros_to_time(until);
            let alert = tx
                .query_row(
                    &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                    params![entry.alert_id],
                    alert_row,
                )
                .optional()?
                .ok_or_else(|| {
                    StoreError::Refused(format!(
                        "outbox row {} names alert {}, which does not exist",
                        entry.id, entry.alert_id
                    ))
                })?;
            out.push(Delivery {
                entry,
                alert,
                previous_attempt_at,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// Marks delivery `id` delivered. Returns whether it was still pending.
    pub fn alert_outbox_delivered(&mut self, id: i64, now: DateTime<Utc>) -> crate::Result<bool> {
        Ok(self.conn.execute(
            "UPDATE alert_outbox SET state = 'delivered', done_at = ?2, last_error = NULL
             WHERE id = ?1 AND state = 'pending'",
            params![id, now.timestamp_micros()],
        )? == 1)
    }

    /// Records a failed attempt of delivery `id` and when to try again.
    pub fn alert_outbox_retry(
        &mut self,
        id: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> crate::Result<bool> {
        Ok(self.conn.execute(
            "UPDATE alert_outbox SET next_at = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, next_at.timestamp_micros(), error],
        )? == 1)
    }

    /// Hands a claimed delivery back without attempting it (its sink just failed another
    /// delivery): the claim's attempt is not counted, and it is due again at `next_at`.
    pub fn alert_outbox_release(
        &mut self,
        delivery: &Delivery,
        next_at: DateTime<Utc>,
    ) -> crate::Result<bool> {
        Ok(self.conn.execute(
            "UPDATE alert_outbox SET attempts = max(attempts - 1, 0), next_at = ?2,
                 last_attempt_at = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![
                delivery.entry.id,
                next_at.timestamp_micros(),
                delivery.previous_attempt_at.map(|t| t.timestamp_micros())
            ],
        )? == 1)
    }

    /// Gives delivery `id` up: marked failed with `error`.
    pub fn alert_outbox_fail(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
    ) -> crate::Result<bool> {
        Ok(self.conn.execute(
            "UPDATE alert_outbox SET state = 'failed', done_at = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, now.timestamp_micros(), error],
        )? == 1)
    }

    /// Outbox rows, newest first: those in `state`, or all; at most `limit`.
    pub fn alert_outbox(
        &self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> crate::Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM alert_outbox
             WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![state.map(DeliveryState::as_str), limit], outbox_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Outbox rows per state.
    pub fn alert_outbox_counts(&self) -> crate::Result<OutboxCounts> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM alert_outbox GROUP BY state")?;
        let mut counts = OutboxCounts::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = n.max(0) as u64;
            match DeliveryState::parse(&state)? {
                DeliveryState::Pending => counts.pending = n,
                DeliveryState::Delivered => counts.delivered = n,
                DeliveryState::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// When the next pending delivery is due (a claimed one: when its lease ends).
    pub fn alert_outbox_next_due(&self) -> crate::Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = self.conn.query_row(
            "SELECT min(next_at) FROM alert_outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(next.map(micros_to_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("k.db")).unwrap();
        (dir, store)
    }

    fn draft(kind: AlertKind, proposal: &str, message: &str) -> AlertDraft {
        AlertDraft {
            kind,
            severity: AlertSeverity::Warning,
            proposal_id: Some(proposal.to_owned()),
            dedup_key: None,
            message: message.to_owned(),
        }
    }

    #[test]
    fn an_open_alert_is_counted_again_not_duplicated_and_notifies_once() {
        let (_d, mut s) = store();
        let a = s
            .alert_raise(&draft(AlertKind::Rollback, "p1", "first"), &["hook"], t(0))
            .unwrap();
        assert!(a.new && a.count == 1 && a.deliveries == 1);
        let b = s
            .alert_raise(
                &draft(AlertKind::Rollback, "p1", "second"),
                &["hook"],
                t(60),
            )
            .unwrap();
        assert_eq!((b.id, b.new, b.count, b.deliveries), (a.id, false, 2, 0));
        // Another kind or another subject is another alert.
        let c = s
            .alert_raise(&draft(AlertKind::RollbackFailed, "p1", "x"), &[], t(61))
            .unwrap();
        let d = s
            .alert_raise(&draft(AlertKind::Rollback, "p2", "y"), &[], t(62))
            .unwrap();
        assert!(c.new && d.new && c.id != a.id && d.id != a.id);
        let alert = s.alert(a.id).unwrap().unwrap();
        assert_eq!(alert.count, 2);
        assert_eq!(alert.message, "second");
        assert_eq!((alert.at, alert.last_at), (t(0), t(60)));
        assert_eq!(alert.dedup_key, "p1");
        assert_eq!(s.alert_outbox(None, 100).unwrap().len(), 1);
        // Once acknowledged, the same alert is new again.
        s.alert_acknowledge(a.id, "ana", t(70)).unwrap();
        let e = s
            .alert_raise(&draft(AlertKind::Rollback, "p1", "third"), &["hook"], t(80))
            .unwrap();
        assert!(e.new && e.id != a.id && e.deliveries == 1);
        assert!(s.alert_seen(AlertKind::Rollback, "p1").unwrap());
        assert!(!s.alert_seen(AlertKind::StuckRollout, "p1").unwrap());
    }

    #[test]
    fn an_explicit_dedup_key_wins_over_the_proposal() {
        let (_d, mut s) = store();
        let mut one = draft(AlertKind::Budget, "p1", "a");
        one.dedup_key = Some("month-2027-01".to_owned());
        let mut two = draft(AlertKind::Budget, "p2", "b");
        two.dedup_key = Some("month-2027-01".to_owned());
        let a = s.alert_raise(&one, &[], t(0)).unwrap();
        let b = s.alert_raise(&two, &[], t(1)).unwrap();
        assert_eq!((b.id, b.count), (a.id, 2));
        assert!(
            s.alert_raise(&draft(AlertKind::Budget, "p1", " "), &[], t(2))
                .is_err()
        );
    }

    #[test]
    fn outbox_rows_are_claimed_leased_retried_delivered_and_given_up() {
        let (_d, mut s) = store();
        let a = s
            .alert_raise(&draft(AlertKind::Rollback, "p1", "m"), &["a", "b"], t(0))
            .unwrap();
        assert_eq!(a.deliveries, 2);
        let lease = Duration::seconds(30);
        let claimed = s.alert_outbox_claim(t(0), lease, 10).unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(
            claimed
                .iter()
                .all(|d| d.entry.attempts == 1 && d.alert.id == a.id)
        );
        // Leased: nobody else gets them until the lease ends.
        assert!(s.alert_outbox_claim(t(10), lease, 10).unwrap().is_empty());
        let (first, second) = (claimed[0].entry.id, claimed[1].entry.id);
        assert!(s.alert_outbox_delivered(first, t(1)).unwrap());
        assert!(
            s.alert_outbox_retry(second, t(5), "http status 500")
                .unwrap()
        );
        assert!(s.alert_outbox_claim(t(4), lease, 10).unwrap().is_empty());
        let again = s.alert_outbox_claim(t(5), lease, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].entry.id, again[0].entry.attempts), (second, 2));
        assert_eq!(
            again[0].entry.last_error.as_deref(),
            Some("http status 500")
        );
        // Released unattempted: the claim's attempt is not counted.
        assert!(s.alert_outbox_release(&again[0], t(5)).unwrap());
        let again = s.alert_outbox_claim(t(5), lease, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].entry.attempts, 2);
        assert_eq!(again[0].previous_attempt_at, Some(t(0)));
        // A crashed claimer: due again when the lease ends.
        assert!(s.alert_outbox_claim(t(34), lease, 10).unwrap().is_empty());
        assert_eq!(s.alert_outbox_claim(t(35), lease, 10).unwrap().len(), 1);
        assert!(s.alert_outbox_fail(second, t(40), "gave up").unwrap());
        // Finished rows stay finished.
        assert!(!s.alert_outbox_delivered(second, t(41)).unwrap());
        assert!(!s.alert_outbox_retry(first, t(41), "x").unwrap());
        assert_eq!(
            s.alert_outbox_counts().unwrap(),
            OutboxCounts {
                pending: 0,
                delivered: 1,
                failed: 1
            }
        );
        let failed = s.alert_outbox(Some(DeliveryState::Failed), 10).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].attempts, 3);
        assert_eq!(failed[0].done_at, Some(t(40)));
        assert_eq!(s.alert_outbox_next_due().unwrap(), None);
        // Acknowledging does not cancel a delivery.
        let b = s
            .alert_raise(&draft(AlertKind::Rollback, "p9", "m"), &["a"], t(50))
            .unwrap();
        s.alert_acknowledge(b.id, "ana", t(51)).unwrap();
        assert_eq!(s.alert_outbox_claim(t(52), lease, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_raise_that_fails_writes_no_outbox_row() {
        let (_d, mut s) = store();
        let outcome: crate::Result<()> = s.in_tx(|s| {
            s.alert_raise(&draft(AlertKind::Rollback, "p1", "m"), &["a"], t(0))?;
            Err(StoreError::Refused("later step failed".to_owned()))
        });
        assert!(outcome.is_err());
        assert!(s.alerts(true).unwrap().is_empty());
        assert_eq!(s.alert_outbox_counts().unwrap(), OutboxCounts::default());
    }

    #[test]
    fn retry_delays_are_jittered_under_an_exponential_ceiling_with_a_cap() {
        let initial = Duration::seconds(10);
        let max = Duration::seconds(3600);
        for attempt in 1..40 {
            let ceiling = (10i64 << (attempt - 1).min(20)).min(3600);
            assert_eq!(
                retry_delay(attempt, initial, max, 0.999_999),
                Duration::milliseconds((ceiling as f64 * 1000.0 * 0.999_999) as i64)
            );
            assert_eq!(retry_delay(attempt, initial, max, 0.0), Duration::zero());
        }
        assert_eq!(retry_delay(3, initial, max, 0.5), Duration::seconds(20));
        assert!(retry_delay(2, initial, max, f64::NAN) == Duration::zero());
        for _ in 0..1000 {
            let u = jitter_unit();
            assert!((0.0..1.0).contains(&u));
            let d = retry_delay(50, initial, max, u);
            assert!(d >= Duration::zero() && d < max);
        }
    }
}
