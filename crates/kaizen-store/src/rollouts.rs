//! Rollouts and their checks: the durable half of the rollout state machine (alerts live in
//! [`crate::alerts`]).
//!
//! A rollout row holds everything needed to resume after a crash: the overlay (the proposal's
//! changes, checked against `base_version`), the rollback operations and how many of them were
//! already executed (`reverted`), the group assignment, the schedule (`started_at`, window,
//! interval, `checks_done`) and the detector's state. Every check is appended to
//! `rollout_checks` in the same transaction that advances `checks_done`, so a check is never
//! run twice and never lost. Every state change of a rollout moves its proposal in the same
//! transaction ([`ProposalStatus`]), with the transition recorded. The states, their allowed
//! moves and which of them keep the overlay live are `kaizen_core::lifecycle`'s
//! ([`RolloutState::allowed_next`], [`RolloutState::overlay_is_live`]); the SQL lists of live
//! states are generated from the latter.
//!
//! A trigger bumps the `config_generation` counter on every org version and every rollout
//! state or overlay change; [`Store::config_generation`] is what effective-config caches
//! compare, so a change made by any process invalidates them.

use chrono::{DateTime, Duration, Utc};
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::error::ErrorKind;
use kaizen_core::lifecycle::{self, LifecycleError};
use kaizen_core::org::OrgChange;
use kaizen_core::rollout::assign::Assignment;
use kaizen_core::rollout::check::{CheckOutcome, DetectorState};
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::org::{OrgStoreError, OrgVersion, commit_in};
use crate::proposals::{Actor, ProposalError, ProposalStatus, transition_in};
use crate::{Store, StoreError, micros_to_time};

pub use crate::alerts::Alert;
pub use kaizen_core::lifecycle::RolloutState;

/// How a rollout ended (or paused), with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutVerdict {
    /// `applied`, `improved`, `rolled_back`, `inconclusive` or `rollback_failed`.
    pub outcome: String,
    /// Why, in words, with the numbers.
    pub reason: String,
    /// Who decided (the engine, or the human who chose).
    pub decided_by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Hours of observation behind it.
    pub elapsed_hours: u32,
    /// The check it is based on, if any.
    pub check_seq: Option<u32>,
}

/// A rollout.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Rollout {
    /// The proposal rolled out.
    pub proposal_id: String,
    /// Its strategy.
    pub strategy: RolloutStrategyKind,
    /// Its state.
    pub state: RolloutState,
    /// The org version the overlay was checked against.
    pub base_version: i64,
    /// The overlay: the proposal's changes.
    pub changes: Vec<OrgChange>,
    /// The operations that undo them, in order.
    pub rollback: Vec<OrgChange>,
    /// How many rollback operations were executed.
    pub reverted: u32,
    /// Who sees the overlay.
    pub assignment: Assignment,
    /// When the overlay went live.
    pub started_at: DateTime<Utc>,
    /// Observation window, hours (extensions add to it).
    pub window_hours: u32,
    /// Length of the before/after baseline (the window at the start; extensions do not
    /// change it).
    pub baseline_hours: u32,
    /// Hours between checks.
    pub interval_hours: u32,
    /// Checks run so far.
    pub checks_done: u32,
    /// The detector's state after the last check.
    pub detector: DetectorState,
    /// The verdict, once there is one.
    pub verdict: Option<RolloutVerdict>,
    /// The org version made when it was applied.
    pub applied_version: Option<i64>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Rollout {
    /// Checks in the whole window: ⌈window / interval⌉ (the last may be shorter).
    pub fn total_checks(&self) -> u32 {
        self.window_hours.div_ceil(self.interval_hours.max(1))
    }

    /// Hours of observation at check `seq` (1-based): `seq × interval`, capped at the window.
    pub fn elapsed_at(&self, seq: u32) -> u32 {
        (seq.saturating_mul(self.interval_hours)).min(self.window_hours)
    }

    /// When check `seq` (1-based) is due.
    pub fn check_due_at(&self, seq: u32) -> DateTime<Utc> {
        self.started_at + Duration::hours(i64::from(self.elapsed_at(seq)))
    }

    /// When the next check is due, while observing.
    pub fn next_check_at(&self) -> Option<DateTime<Utc>> {
        (self.state == RolloutState::Observing && self.checks_done < self.total_checks())
            .then(|| self.check_due_at(self.checks_done + 1))
    }

    /// What the treatment agents see on top of the org version: the changes followed by the
    /// rollback operations already executed. Empty unless the overlay is live.
    /// ([`lifecycle::live_overlay`]).
    pub fn live_overlay(&self) -> Vec<OrgChange> {
        lifecycle::live_overlay(
            self.state,
            &self.changes,
            &self.rollback,
            self.reverted as usize,
        )
    }
}

/// One persisted check.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StoredCheck {
    /// 1-based.
    pub seq: u32,
    /// The instant the check's data ends at (its scheduled time).
    pub at: DateTime<Utc>,
    /// When it actually ran (later than `at` after downtime).
    pub ran_at: DateTime<Utc>,
    /// Hours of observation.
    pub elapsed_hours: u32,
    /// What it found.
    pub outcome: CheckOutcome,
}

/// A new rollout, as the engine prepared it.
#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    /// The approved proposal.
    pub proposal_id: &'a str,
    /// Strategy.
    pub strategy: RolloutStrategyKind,
    /// The org version the changes were checked against.
    pub base_version: i64,
    /// The overlay.
    pub changes: &'a [OrgChange],
    /// Its rollback operations.
    pub rollback: &'a [OrgChange],
    /// Who sees it.
    pub assignment: &'a Assignment,
    /// Window, hours.
    pub window_hours: u32,
    /// Interval, hours.
    pub interval_hours: u32,
    /// The detector's state to start from (its power plan).
    pub detector: &'a DetectorState,
}

/// A rollout state change and the proposal transition that goes with it.
#[derive(Debug, Clone)]
pub struct RolloutMove<'a> {
    /// The state the caller saw.
    pub from: RolloutState,
    /// The new state.
    pub to: RolloutState,
    /// The proposal's transition, if its status changes.
    pub proposal: Option<(ProposalStatus, ProposalStatus)>,
    /// Who.
    pub actor: &'a Actor,
    /// Why (recorded on the proposal transition).
    pub reason: Option<&'a str>,
    /// The verdict to record, if any.
    pub verdict: Option<&'a RolloutVerdict>,
    /// Hours to add to the window (an extension).
    pub extend_hours: u32,
}

/// Why a rollout operation failed. Nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The proposal side refused (status changed meanwhile, illegal transition, …).
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The org side refused (the org changed so that the changes no longer apply, …).
    #[error(transparent)]
    Org(#[from] OrgStoreError),
    /// No rollout for this proposal.
    #[error("no rollout for proposal {0}; `kaizen rollouts list` shows them")]
    Unknown(String),
    /// The rollout is not in the state the caller expected (someone else acted first).
    #[error(
        "rollout {id} is {current}, not {expected}; look at it again (`kaizen rollouts show {id}`)"
    )]
    StaleState {
        /// The rollout.
        id: String,
        /// What the caller saw.
        expected: String,
        /// What it is.
        current: RolloutState,
    },
    /// A stored row could not be read back.
    #[error("stored rollout {id} is unreadable: {message}")]
    Corrupt {
        /// The rollout.
        id: String,
        /// What failed.
        message: String,
    },
    /// The move is not one of [`RolloutState::allowed_next`].
    #[error("rollout {id} cannot go from {from} to {to}: {}", moves(.from))]
    IllegalMove {
        /// The rollout.
        id: String,
        /// The state it would leave.
        from: RolloutState,
        /// The state asked for.
        to: RolloutState,
    },
    /// The request conflicts with the rollout's current state (it already exists, a check
    /// or a rollback step was recorded meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// A bad argument.
    #[error("{0}")]
    BadInput(String),
}

fn moves(from: &RolloutState) -> String {
    let next = from.allowed_next();
    if next.is_empty() {
        format!("{from} is final")
    } else {
        format!(
            "from {from} it can only go to {}",
            next.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl RolloutError {
    /// What kind of failure it is: a rollout in another state than expected, an illegal
    /// move, an existing rollout or an out-of-order step is a conflict; the proposal and org
    /// sides say their own kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RolloutError::Store(e) => e.kind(),
            RolloutError::Proposal(e) => e.kind(),
            RolloutError::Org(e) => e.kind(),
            RolloutError::Unknown(_) => ErrorKind::NotFound,
            RolloutError::StaleState { .. }
            | RolloutError::IllegalMove { .. }
            | RolloutError::Conflict(_) => ErrorKind::Conflict,
            RolloutError::Corrupt { .. } => ErrorKind::Internal,
            RolloutError::BadInput(_) => ErrorKind::Invalid,
        }
    }

    /// Whether the caller's input or a concurrent change is at fault (not the database):
    /// [`RolloutError::kind`] is a caller error.
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }

    fn lifecycle(id: &str, e: LifecycleError) -> Self {
        match e {
            LifecycleError::IllegalRolloutMove { from, to } => RolloutError::IllegalMove {
                id: id.to_owned(),
                from,
                to,
            },
            e => RolloutError::Proposal(ProposalError::lifecycle(id, e)),
        }
    }
}

impl From<rusqlite::Error> for RolloutError {
    fn from(e: rusqlite::Error) -> Self {
        RolloutError::Store(StoreError::Sqlite(e))
    }
}

/// A result with [`RolloutError`].
pub type RolloutResult<T> = std::result::Result<T, RolloutError>;

const COLUMNS: &str = "proposal_id, strategy, state, base_version, changes, rollback, reverted,
     assignment, started_at, window_hours, interval_hours, checks_done, detector, verdict,
     applied_version, updated_at, baseline_hours";

/// A rollouts row as stored (JSON columns still text).
struct RawRollout {
    proposal_id: String,
    strategy: String,
    state: String,
    base_version: i64,
    changes: String,
    rollback: String,
    reverted: i64,
    assignment: String,
    started_at: i64,
    window_hours: i64,
    interval_hours: i64,
    checks_done: i64,
    detector: String,
    verdict: Option<String>,
    applied_version: Option<i64>,
    updated_at: i64,
    baseline_hours: i64,
}

fn read_raw(r: &Row<'_>) -> rusqlite::Result<RawRollout> {
    Ok(RawRollout {
        proposal_id: r.get("proposal_id")?,
        strategy: r.get("strategy")?,
        state: r.get("state")?,
        base_version: r.get("base_version")?,
        changes: r.get("changes")?,
        rollback: r.get("rollback")?,
        reverted: r.get("reverted")?,
        assignment: r.get("assignment")?,
        started_at: r.get("started_at")?,
        window_hours: r.get("window_hours")?,
        interval_hours: r.get("interval_hours")?,
        checks_done: r.get("checks_done")?,
        detector: r.get("detector")?,
        verdict: r.get("verdict")?,
        applied_version: r.get("applied_version")?,
        updated_at: r.get("updated_at")?,
        baseline_hours: r.get("baseline_hours")?,
    })
}

fn corrupt(id: &str, message: impl Into<String>) -> RolloutError {
    RolloutError::Corrupt {
        id: id.to_owned(),
        message: message.into(),
    }
}

fn json<T: for<'de> Deserialize<'de>>(id: &str, what: &str, s: &str) -> RolloutResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(id, format!("{what}: {e}")))
}

fn u32_of(id: &str, what: &str, v: i64) -> RolloutResult<u32> {
    u32::try_from(v).map_err(|_| corrupt(id, format!("{what} out of range: {v}")))
}

fn decode(raw: RawRollout) -> RolloutResult<Rollout> {
    let id = raw.proposal_id.as_str();
    Ok(Rollout {
        strategy: raw
            .strategy
            .parse()
            .map_err(|e: String| corrupt(id, format!("strategy: {e}")))?,
        state: raw
            .state
            .parse()
            .map_err(|e: String| corrupt(id, format!("state: {e}")))?,
        base_version: raw.base_version,
        changes: json(id, "changes", &raw.changes)?,
        rollback: json(id, "rollback", &raw.rollback)?,
        reverted: u32_of(id, "reverted", raw.reverted)?,
        assignment: json(id, "assignment", &raw.assignment)?,
        started_at: micros_to_time(raw.started_at),
        window_hours: u32_of(id, "window_hours", raw.window_hours)?,
        baseline_hours: u32_of(id, "baseline_hours", raw.baseline_hours)?,
        interval_hours: u32_of(id, "interval_hours", raw.interval_hours)?,
        checks_done: u32_of(id, "checks_done", raw.checks_done)?,
        detector: json(id, "detector", &raw.detector)?,
        verdict: raw
            .verdict
            .as_deref()
            .map(|v| json(id, "verdict", v))
            .transpose()?,
        applied_version: raw.applied_version,
        updated_at: micros_to_time(raw.updated_at),
        proposal_id: raw.proposal_id.clone(),
    })
}

fn encode<T: Serialize>(what: &str, v: &T) -> RolloutResult<String> {
    serde_json::to_string(v).map_err(|e| RolloutError::BadInput(format!("encoding {what}: {e}")))
}

const CHECK_COLUMNS: &str = "seq, at, ran_at, elapsed_hours, body";

type RawCheck = (i64, i64, i64, i64, String);

fn read_check(r: &Row<'_>) -> rusqlite::Result<RawCheck> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode_check(id: &str, (seq, at, ran, elapsed, body): RawCheck) -> RolloutResult<StoredCheck> {
    Ok(StoredCheck {
        seq: u32_of(id, "check seq", seq)?,
        at: micros_to_time(at),
        ran_at: micros_to_time(ran),
        elapsed_hours: u32_of(id, "elapsed hours", elapsed)?,
        outcome: json(id, &format!("check {seq}"), &body)?,
    })
}

fn rollout_in(tx: &Connection, id: &str) -> RolloutResult<Option<Rollout>> {
    let raw = tx
        .query_row(
            &format!("SELECT {COLUMNS} FROM rollouts WHERE proposal_id = ?1"),
            params![id],
            read_raw,
        )
        .optional()?;
    raw.map(decode).transpose()
}

fn expect_state(tx: &Connection, id: &str, expected: &[RolloutState]) -> RolloutResult<Rollout> {
    let r = rollout_in(tx, id)?.ok_or_else(|| RolloutError::Unknown(id.to_owned()))?;
    if !expected.contains(&r.state) {
        return Err(RolloutError::StaleState {
            id: id.to_owned(),
            expected: expected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            current: r.state,
        });
    }
    Ok(r)
}

/// The `IN (…)` list of the states whose overlay is live ([`RolloutState::overlay_is_live`]),
/// for SQL.
fn live_states_sql() -> String {
    crate::sql_list(
        &RolloutState::ALL,
        RolloutState::overlay_is_live,
        RolloutState::as_str,
    )
}

/// Refuses `document` as the next org version when the overlay of a live rollout (other than
/// `except`'s) does not apply on top of it.
pub(crate) fn check_live_overlays(
    tx: &Connection,
    document: &kaizen_core::org::OrgDocument,
    except: Option<&str>,
) -> Result<(), OrgStoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT proposal_id, state, changes, rollback, reverted FROM rollouts
         WHERE state IN ({})",
        live_states_sql()
    ))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, state, changes, rollback, reverted) in rows {
        if Some(id.as_str()) == except {
            continue;
        }
        let corrupt = |message: String| {
            OrgStoreError::Store(StoreError::Incompatible(format!(
                "stored rollout {id} is unreadable: {message}"
            )))
        };
        let state: RolloutState = state.parse().map_err(corrupt)?;
        let changes: Vec<OrgChange> =
            serde_json::from_str(&changes).map_err(|e| corrupt(e.to_string()))?;
        let rollback: Vec<OrgChange> =
            serde_json::from_str(&rollback).map_err(|e| corrupt(e.to_string()))?;
        let reverted = usize::try_from(reverted).unwrap_or(0);
        let overlay = lifecycle::live_overlay(state, &changes, &rollback, reverted);
        if let Err(e) = document.apply(&overlay) {
            return Err(OrgStoreError::LiveRollout {
                proposal_id: id,
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}

impl Store {
    /// Starts a rollout: moves the proposal approved → rolling_out (by `actor`) and stores the
    /// rollout as observing from `now`, in one transaction. Refused when the proposal is not
    /// approved, or already has a rollout.
    pub fn rollout_start(
        &mut self,
        new: &NewRollout<'_>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> RolloutResult<Rollout> {
        if new.window_hours == 0 || new.interval_hours == 0 {
            return Err(RolloutError::BadInput(
                "a rollout needs a window and an interval of at least one hour".to_owned(),
            ));
        }
        if new.changes.is_empty() || new.rollback.is_empty() {
            return Err(RolloutError::BadInput(
                "a rollout needs changes and rollback operations".to_owned(),
            ));
        }
        if new.strategy == RolloutStrategyKind::Auto {
            return Err(RolloutError::Conflict(format!(
                "rollout of proposal {}: the strategy `auto` must be resolved to a design before the rollout is stored",
                new.proposal_id
            )));
        }
        let tx = self.write_tx()?;
        if rollout_in(&tx, new.proposal_id)?.is_some() {
            return Err(RolloutError::Conflict(format!(
                "proposal {} already has a rollout",
                new.proposal_id
            )));
        }
        transition_in(
            &tx,
            new.proposal_id,
            ProposalStatus::Approved,
            ProposalStatus::RollingOut,
            actor,
            Some(&format!("{} rollout started", new.strategy)),
            None,
            now,
        )?;
        let at = now.timestamp_micros();
        tx.execute(
            "INSERT INTO rollouts (proposal_id, strategy, state, base_version, changes, rollback,
                 reverted, assignment, started_at, window_hours, interval_hours, checks_done,
                 detector, verdict, applied_version, updated_at, baseline_hours)
             VALUES (?1, ?2, ?11, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9, 0, ?10, NULL, NULL, ?7, ?8)",
            params![
                new.proposal_id,
                new.strategy.as_str(),
                new.base_version,
                encode("changes", &new.changes)?,
                encode("rollback", &new.rollback)?,
                encode("assignment", new.assignment)?,
                at,
                i64::from(new.window_hours),
                i64::from(new.interval_hours),
                encode("detector", new.detector)?,
                RolloutState::START.as_str(),
            ],
        )?;
        let r = rollout_in(&tx, new.proposal_id)?
            .ok_or_else(|| RolloutError::Unknown(new.proposal_id.to_owned()))?;
        tx.commit()?;
        Ok(r)
    }

    /// The rollout of proposal `id`.
    pub fn rollout(&self, id: &str) -> RolloutResult<Option<Rollout>> {
        rollout_in(&self.conn, id)
    }

    /// Rollouts, newest first, optionally only those in `state`.
    pub fn rollouts(&self, state: Option<RolloutState>) -> RolloutResult<Vec<Rollout>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM rollouts WHERE ?1 IS NULL OR state = ?1
             ORDER BY started_at DESC, proposal_id"
        ))?;
        let rows = stmt
            .query_map(params![state.map(RolloutState::as_str)], read_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// How many rollouts are in each state (states with none are absent).
    pub fn rollout_counts(&self) -> RolloutResult<Vec<(RolloutState, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM rollouts GROUP BY state")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(s, n)| {
                let state = s
                    .parse()
                    .map_err(|e: String| corrupt("(count)", format!("state: {e}")))?;
                Ok((state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// Rollouts whose overlay is live, oldest first (the order overlays apply in).
    pub fn live_rollouts(&self) -> RolloutResult<Vec<Rollout>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM rollouts WHERE state IN ({})
             ORDER BY started_at, proposal_id",
            live_states_sql()
        ))?;
        let rows = stmt
            .query_map([], read_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// The checks of rollout `id`, in order.
    pub fn rollout_checks(&self, id: &str) -> RolloutResult<Vec<StoredCheck>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHECK_COLUMNS} FROM rollout_checks WHERE proposal_id = ?1 ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map(params![id], read_check)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|raw| decode_check(id, raw)).collect()
    }

    /// The last check of rollout `id`, if any.
    pub fn rollout_last_check(&self, id: &str) -> RolloutResult<Option<StoredCheck>> {
        let raw = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CHECK_COLUMNS} FROM rollout_checks
                 WHERE proposal_id = ?1 ORDER BY seq DESC LIMIT 1"
            ))?
            .query_row(params![id], read_check)
            .optional()?;
        raw.map(|raw| decode_check(id, raw)).transpose()
    }

    /// Records check `check.seq` of observing rollout `id` and the detector state after it, in
    /// one transaction. Refused unless the rollout is observing with exactly `seq − 1` checks
    /// done: a check is recorded once, in order, even when two processes race.
    pub fn rollout_record_check(
        &mut self,
        id: &str,
        check: &StoredCheck,
        detector: &DetectorState,
    ) -> RolloutResult<()> {
        let tx = self.write_tx()?;
        let r = expect_state(&tx, id, &[RolloutState::Observing])?;
        if r.checks_done + 1 != check.seq {
            return Err(RolloutError::Conflict(format!(
                "rollout {id} has {} checks; check {} cannot be recorded next",
                r.checks_done, check.seq
            )));
        }
        let decision = match &check.outcome.decision {
            kaizen_core::rollout::check::CheckDecision::Continue => "continue",
            kaizen_core::rollout::check::CheckDecision::RollBack { .. } => "roll_back",
            kaizen_core::rollout::check::CheckDecision::Apply { .. } => "apply",
            kaizen_core::rollout::check::CheckDecision::Inconclusive { .. } => "inconclusive",
            kaizen_core::rollout::check::CheckDecision::Hold { .. } => "hold",
        };
        tx.execute(
            "INSERT INTO rollout_checks (proposal_id, seq, at, ran_at, elapsed_hours, decision, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                i64::from(check.seq),
                check.at.timestamp_micros(),
                check.ran_at.timestamp_micros(),
                i64::from(check.elapsed_hours),
                decision,
                encode("check", &check.outcome)?,
            ],
        )?;
        tx.execute(
            "UPDATE rollouts SET checks_done = ?2, detector = ?3, updated_at = ?4
             WHERE proposal_id = ?1",
            params![
                id,
                i64::from(check.seq),
                encode("detector", detector)?,
                check.ran_at.timestamp_micros()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Moves rollout `id` (and its proposal, if `m.proposal` says so) in one transaction.
    /// Refused when the rollout is not in `m.from` or the proposal transition is refused.
    pub fn rollout_move(
        &mut self,
        id: &str,
        m: &RolloutMove<'_>,
        now: DateTime<Utc>,
    ) -> RolloutResult<Rollout> {
        if m.to == RolloutState::Applied {
            return Err(RolloutError::BadInput(
                "use rollout_apply to apply a rollout (it makes the org version)".to_owned(),
            ));
        }
        lifecycle::check_rollout_move(m.from, m.to).map_err(|e| RolloutError::lifecycle(id, e))?;
        let tx = self.write_tx()?;
        expect_state(&tx, id, &[m.from])?;
        if let Some((from, to)) = m.proposal {
            transition_in(&tx, id, from, to, m.actor, m.reason, None, now)?;
        }
        let verdict = m.verdict.map(|v| encode("verdict", v)).transpose()?;
        tx.execute(
            "UPDATE rollouts SET state = ?2, verdict = coalesce(?3, verdict),
                 window_hours = window_hours + ?4, updated_at = ?5
             WHERE proposal_id = ?1",
            params![
                id,
                m.to.as_str(),
                verdict,
                i64::from(m.extend_hours),
                now.timestamp_micros()
            ],
        )?;
        let r = rollout_in(&tx, id)?.ok_or_else(|| RolloutError::Unknown(id.to_owned()))?;
        tx.commit()?;
        Ok(r)
    }

    /// Records that the rollback executor of rollout `id` (rolling back) has executed
    /// `reverted` operations (it was at `expected`).
    pub fn rollout_set_reverted(
        &mut self,
        id: &str,
        expected: u32,
        reverted: u32,
        now: DateTime<Utc>,
    ) -> RolloutResult<()> {
        let tx = self.write_tx()?;
        let r = expect_state(&tx, id, &[RolloutState::RollingBack])?;
        if r.reverted != expected {
            return Err(RolloutError::Conflict(format!(
                "rollout {id} has {} of {} rollback operations done, not {expected}",
                r.reverted,
                r.rollback.len()
            )));
        }
        if reverted as usize > r.rollback.len() {
            return Err(RolloutError::BadInput(format!(
                "rollout {id} has {} of {} rollback operations done, not {expected}",
                r.reverted,
                r.rollback.len()
            )));
        }
        tx.execute(
            "UPDATE rollouts SET reverted = ?2, updated_at = ?3 WHERE proposal_id = ?1",
            params![id, i64::from(reverted), now.timestamp_micros()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Applies rollout `id` (observing or paused): commits its changes as a new org version on
    /// top of `expected_parent`, moves the proposal to applied with that version, and records
    /// the verdict, in one transaction. Refused (nothing written) when the org changed so that
    /// the changes no longer apply.
    pub fn rollout_apply(
        &mut self,
        id: &str,
        expected_parent: i64,
        actor: &Actor,
        verdict: &RolloutVerdict,
        now: DateTime<Utc>,
    ) -> RolloutResult<OrgVersion> {
        let tx = self.write_tx()?;
        let r = expect_state(&tx, id, &[RolloutState::Observing, RolloutState::Paused])?;
        lifecycle::check_rollout_move(r.state, RolloutState::Applied)
            .map_err(|e| RolloutError::lifecycle(id, e))?;
        let version = commit_in(
            &tx,
            Some(expected_parent),
            &r.changes,
            &actor.name,
            Some(id),
            Some(&format!("rollout of proposal {id}: {}", verdict.outcome)),
            now,
        )?;
        let from = if r.state == RolloutState::Paused {
            ProposalStatus::Inconclusive
        } else {
            ProposalStatus::RollingOut
        };
        transition_in(
            &tx,
            id,
            from,
            ProposalStatus::Applied,
            actor,
            Some(&verdict.reason),
            Some(version.id),
            now,
        )?;
        tx.execute(
            "UPDATE rollouts SET state = ?5, verdict = ?2, applied_version = ?3,
                 updated_at = ?4
             WHERE proposal_id = ?1",
            params![
                id,
                encode("verdict", verdict)?,
                version.id,
                now.timestamp_micros(),
                RolloutState::Applied.as_str()
            ],
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// A number that changes whenever an org version is committed or a rollout's state or
    /// overlay changes, by any process: what effective-config caches compare.
    pub fn config_generation(&self) -> crate::Result<i64> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'config_generation'",
        )?;
        Ok(stmt
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0))
    }
}
