//! The approval queue, improvement cycles and scheduler state.
//!
//! * [`Store::queue_proposal`] stores a proposal that passed the guard chain as
//!   [`ProposalStatus::Pending`], with the guards' verdicts, or, when an **open** proposal
//!   (pending, approved, rolling out or inconclusive) has the same fingerprint
//!   ([`kaizen_core::improve::proposal_fingerprint`]), only records on that one that the
//!   condition persists (`occurrences`, `last_seen_at`) and returns
//!   [`QueueOutcome::Duplicate`].
//! * [`Store::transition_proposal`] moves a proposal along the allowed transitions, with an
//!   optimistic check of the current status. The rules (which transitions, who may make each,
//!   when a reason is required) are `kaizen_core::lifecycle`'s
//!   ([`kaizen_core::lifecycle::check_transition`]); the store enforces them by calling it,
//!   as the last line of defence, and keeps no copy (the SQL lists of open statuses are
//!   generated from [`ProposalStatus::is_open`]). Every transition is recorded (actor, kind,
//!   time, reason) in an append-only table.
//! * [`Store::proposals_submitted_since`] is the rate limit's persisted source: it counts
//!   queued proposals by the caller's clock, so the limit survives restarts.
//! * [`Store::record_cycle`], [`Store::cycles`], [`Store::cycle`]: one row per cycle; the report
//!   is the cycle service's JSON, opaque here.
//! * [`Store::meta_get`], [`Store::meta_set`]: small key/value state (the scheduler's last run).
//!
//! What was proposed (the proposal body, the guard verdicts, the fingerprint, …) never
//! changes once queued, and no proposal or transition is ever deleted: triggers refuse it.
//! Writes run in immediate transactions, so two writers cannot interleave a check and its write;
//! inside a unit of work ([`Store::in_tx`]) each is a savepoint of the unit's transaction.

use chrono::{DateTime, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::error::ErrorKind;
use kaizen_core::improve::guards::{GuardResult, risk_str};
use kaizen_core::improve::{ImprovementProposal, PastProposal, Risk};
use kaizen_core::lifecycle::{self, LifecycleError};
use rusqlite::{Connection, OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, micros_to_time};

pub use kaizen_core::lifecycle::{Actor, ActorKind, ProposalStatus};

/// The actor recorded for queueing (the `→ pending` transition).
pub const QUEUE_ACTOR: &str = "meta-loop";

/// One recorded status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Transition {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What kind of principal.
    pub actor_kind: ActorKind,
    /// The status before; `None` for queueing.
    pub from_status: Option<ProposalStatus>,
    /// The status after.
    pub to_status: ProposalStatus,
    /// Why (always present for rejected and rolled_back).
    pub reason: Option<String>,
}

/// A queued proposal with its state and history.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StoredProposal {
    /// The proposal exactly as queued.
    pub proposal: ImprovementProposal,
    /// Its status now.
    pub status: ProposalStatus,
    /// Its risk.
    pub risk: Risk,
    /// The guard verdicts it passed, in chain order.
    pub guards: Vec<GuardResult>,
    /// Its de-duplication key.
    pub fingerprint: String,
    /// How many cycles proposed it (1 + the duplicates absorbed while it was open).
    pub occurrences: u64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// When a cycle last proposed it.
    pub last_seen_at: DateTime<Utc>,
    /// The org version its application created, once applied.
    pub applied_version: Option<i64>,
    /// Its status changes, oldest first (the first is the queueing).
    pub transitions: Vec<Transition>,
    /// Human approvals recorded so far, oldest first.
    pub approvals: Vec<Approval>,
}

/// One human's approval of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Approval {
    /// Who approved.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, if said.
    pub reason: Option<String>,
}

/// A proposal in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProposalSummary {
    /// Proposal id.
    pub id: String,
    /// The cycle that produced it, if any.
    pub cycle_id: Option<String>,
    /// Its altitude.
    pub altitude: Altitude,
    /// The rule behind it.
    pub rule_name: String,
    /// Its one-line title.
    pub title: String,
    /// Its status now.
    pub status: ProposalStatus,
    /// Its risk.
    pub risk: Risk,
    /// Its confidence, 0–1.
    pub confidence: f64,
    /// How many cycles proposed it.
    pub occurrences: u64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// When a cycle last proposed it.
    pub last_seen_at: DateTime<Utc>,
    /// The org version its application created, once applied.
    pub applied_version: Option<i64>,
}

/// An applied proposal waiting for its outcome to be measured: its id, when its rollout began
/// and when it was applied.
pub type Unmeasured = (String, DateTime<Utc>, DateTime<Utc>);

/// A closed proposal and how it ended ([`Store::closed_proposals`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedProposal {
    /// The proposal as queued.
    pub proposal: ImprovementProposal,
    /// Rejected, applied, rolled back or rollback failed.
    pub status: ProposalStatus,
    /// When it got there.
    pub closed_at: DateTime<Utc>,
    /// Its measured outcome (JSON), if measured.
    pub outcome: Option<String>,
}

/// What [`Store::queue_proposal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOutcome {
    /// Stored as pending, under `id` (the proposal's id, or `ID-N` when an earlier, closed
    /// proposal already has it).
    Queued {
        /// The id it was stored under.
        id: String,
    },
    /// An open proposal with the same fingerprint exists; it recorded one more occurrence and
    /// the new proposal was not stored.
    Duplicate {
        /// The open proposal.
        existing_id: String,
    },
}

/// A recorded cycle without its report, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CycleSummary {
    /// Cycle id (unique).
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it completed.
    pub completed_at: DateTime<Utc>,
    /// Why it ran (`manual`, `schedule`, …).
    pub trigger: String,
    /// Whether it queued nothing on purpose.
    pub dry_run: bool,
    /// Start of the snapshot window.
    pub window_since: DateTime<Utc>,
    /// End of the snapshot window.
    pub window_until: DateTime<Utc>,
}

/// One improvement cycle, as recorded: its summary and the cycle service's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CycleRecord {
    /// What listings show.
    #[serde(flatten)]
    pub summary: CycleSummary,
    /// The cycle service's report (JSON), stored verbatim.
    #[schemars(extend("contentMediaType" = "application/json"))]
    pub report: String,
}

/// The columns of a [`CycleSummary`], in the order [`cycle_summary`] reads them.
const CYCLE_COLUMNS: &str =
    "id, started_at, completed_at, trigger, dry_run, window_since, window_until";

fn cycle_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<CycleSummary> {
    Ok(CycleSummary {
        id: r.get(0)?,
        started_at: micros_to_time(r.get(1)?),
        completed_at: micros_to_time(r.get(2)?),
        trigger: r.get(3)?,
        dry_run: r.get(4)?,
        window_since: micros_to_time(r.get(5)?),
        window_until: micros_to_time(r.get(6)?),
    })
}

/// Meta keys the store itself owns; [`Store::meta_set`] refuses them.
pub const RESERVED_META_KEYS: &[&str] = &["pruned_before"];

/// Why an approval-queue operation failed. Nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No proposal has this id.
    #[error("no proposal with id {0}; `kaizen proposals list` shows the queue")]
    Unknown(String),
    /// The transition is not one of [`ProposalStatus::allowed_next`].
    #[error("proposal {id} cannot go from {from} to {to}: {}", lifecycle::allowed(*.from))]
    IllegalTransition {
        /// The proposal.
        id: String,
        /// The status it would leave.
        from: ProposalStatus,
        /// The status asked for.
        to: ProposalStatus,
    },
    /// The proposal's status is not the one the caller saw.
    #[error(
        "proposal {id} is {current}, not {expected}: it changed meanwhile; look at it again (`kaizen proposals show {id}`)"
    )]
    StaleStatus {
        /// The proposal.
        id: String,
        /// The status the caller expected.
        expected: ProposalStatus,
        /// The status it has.
        current: ProposalStatus,
    },
    /// Approving or rejecting by an actor that may not ([`lifecycle::may_approve`]).
    #[error(
        "only a human may {action} a proposal; {actor} is {article} {kind} actor (mandatory human approval)",
        article = if matches!(.kind, ActorKind::Agent) { "an" } else { "a" }
    )]
    NotHuman {
        /// `approve` or `reject`.
        action: &'static str,
        /// The actor's name.
        actor: String,
        /// The actor's kind.
        kind: ActorKind,
    },
    /// A transition that needs a reason got none.
    #[error("a reason is required to mark proposal {id} {to}; give one (--reason TEXT)")]
    ReasonRequired {
        /// The proposal.
        id: String,
        /// The status asked for.
        to: ProposalStatus,
    },
    /// A proposal that a guard rejected.
    #[error(
        "proposal {id} was rejected by guard {guard} ({reason}); only proposals that pass every guard are queued"
    )]
    GuardRejected {
        /// The proposal.
        id: String,
        /// The guard.
        guard: String,
        /// Its reason.
        reason: String,
    },
    /// Approving a proposal that is not pending (only a pending proposal collects approvals).
    #[error("proposal {id} is {status}; only a pending proposal collects approvals")]
    NotPending {
        /// The proposal.
        id: String,
        /// Its status.
        status: ProposalStatus,
    },
    /// The same person approving a proposal twice.
    #[error("{actor} has already approved proposal {id}; another person must approve it")]
    AlreadyApproved {
        /// The proposal.
        id: String,
        /// Who approved it already.
        actor: String,
    },
    /// Another lifecycle rule refused (a blank reason, …).
    #[error(transparent)]
    Lifecycle(LifecycleError),
    /// A bad argument (blank actor, blank fingerprint, …).
    #[error("{0}")]
    BadInput(String),
    /// A stored row could not be read back.
    #[error("stored proposal {id} is unreadable: {message}")]
    Corrupt {
        /// The proposal.
        id: String,
        /// What failed.
        message: String,
    },
}

impl ProposalError {
    /// What kind of failure it is. A wrong or changed status ([`ProposalError::IllegalTransition`],
    /// [`ProposalError::StaleStatus`], [`ProposalError::NotPending`],
    /// [`ProposalError::AlreadyApproved`]) is a conflict, distinct from invalid input; a
    /// non-human decision is forbidden.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProposalError::Store(e) => e.kind(),
            ProposalError::Unknown(_) => ErrorKind::NotFound,
            ProposalError::IllegalTransition { .. }
            | ProposalError::StaleStatus { .. }
            | ProposalError::NotPending { .. }
            | ProposalError::AlreadyApproved { .. } => ErrorKind::Conflict,
            ProposalError::NotHuman { .. } => ErrorKind::Forbidden,
            ProposalError::Lifecycle(e) => e.kind(),
            ProposalError::ReasonRequired { .. }
            | ProposalError::GuardRejected { .. }
            | ProposalError::BadInput(_) => ErrorKind::Invalid,
            ProposalError::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    /// Whether the caller's input (or a concurrent change) is at fault, as opposed to the
    /// database: [`ProposalError::kind`] is a caller error.
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }

    /// `e`, a refusal of a lifecycle rule, about proposal `id`.
    pub fn lifecycle(id: &str, e: LifecycleError) -> Self {
        match e {
            LifecycleError::IllegalTransition { from, to } => ProposalError::IllegalTransition {
                id: id.to_owned(),
                from,
                to,
            },
            LifecycleError::NotHuman {
                action,
                actor,
                kind,
            } => ProposalError::NotHuman {
                action,
                actor,
                kind,
            },
            LifecycleError::ReasonRequired { to } => ProposalError::ReasonRequired {
                id: id.to_owned(),
                to,
            },
            e => ProposalError::Lifecycle(e),
        }
    }
}

impl From<rusqlite::Error> for ProposalError {
    fn from(e: rusqlite::Error) -> Self {
        ProposalError::Store(StoreError::Sqlite(e))
    }
}

/// A result with [`ProposalError`].
pub type ProposalResult<T> = std::result::Result<T, ProposalError>;

fn check_text(what: &str, v: &str) -> ProposalResult<()> {
    if v.trim().is_empty() {
        return Err(ProposalError::BadInput(format!("{what} must not be blank")));
    }
    Ok(())
}

fn parse_risk(s: &str) -> Option<Risk> {
    [Risk::Low, Risk::Medium, Risk::High]
        .into_iter()
        .find(|r| risk_str(*r) == s)
}

fn parse_altitude(s: &str) -> Option<Altitude> {
    Altitude::ALL.into_iter().find(|a| a.as_str() == s)
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn clamp_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(id: &str, message: impl Into<String>) -> ProposalError {
    ProposalError::Corrupt {
        id: id.to_owned(),
        message: message.into(),
    }
}

fn status_of(id: &str, s: &str) -> ProposalResult<ProposalStatus> {
    s.parse()
        .map_err(|e: String| corrupt(id, format!("status: {e}")))
}

/// The transition rules that need no database: the lifecycle's
/// ([`lifecycle::check_transition`]: allowed, made by an actor that may make it, with a reason
/// where one is required), non-blank names, and an applied version exactly when it is an
/// application.
fn check_transition(
    id: &str,
    from: ProposalStatus,
    to: ProposalStatus,
    actor: &Actor,
    reason: Option<&str>,
    applied_version: Option<i64>,
) -> ProposalResult<()> {
    check_text("the proposal id", id)?;
    check_text("the actor name", &actor.name)?;
    lifecycle::check_transition(from, to, actor, reason)
        .map_err(|e| ProposalError::lifecycle(id, e))?;
    match (to, applied_version) {
        (ProposalStatus::Applied, None) => Err(ProposalError::BadInput(format!(
            "marking proposal {id} applied needs the org version the application created"
        ))),
        (ProposalStatus::Applied, Some(_)) | (_, None) => Ok(()),
        (_, Some(v)) => Err(ProposalError::BadInput(format!(
            "an applied version (org version {v}) is only recorded when a proposal is applied, not when it becomes {to}"
        ))),
    }
}

/// [`Store::transition_proposal`] inside the caller's transaction (the rollout engine moves a
/// proposal together with its rollout).
#[allow(clippy::too_many_arguments)]
pub(crate) fn transition_in(
    tx: &Connection,
    id: &str,
    expected_from: ProposalStatus,
    to: ProposalStatus,
    actor: &Actor,
    reason: Option<&str>,
    applied_version: Option<i64>,
    now: DateTime<Utc>,
) -> ProposalResult<()> {
    check_transition(id, expected_from, to, actor, reason, applied_version)?;
    let current: Option<String> = tx
        .query_row(
            "SELECT status FROM proposals WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    let current = current.ok_or_else(|| ProposalError::Unknown(id.to_owned()))?;
    let current = status_of(id, &current)?;
    if current != expected_from {
        return Err(ProposalError::StaleStatus {
            id: id.to_owned(),
            expected: expected_from,
            current,
        });
    }
    tx.execute(
        "UPDATE proposals SET status = ?2, updated_at = ?3,
             applied_version = coalesce(?4, applied_version)
         WHERE id = ?1",
        params![id, to.as_str(), now.timestamp_micros(), applied_version],
    )?;
    let transition = Transition {
        at: now,
        actor: actor.name.trim().to_owned(),
        actor_kind: actor.kind,
        from_status: Some(expected_from),
        to_status: to,
        reason: reason.map(|r| r.trim().to_owned()),
    };
    insert_transition(tx, id, &transition)?;
    Ok(())
}

fn insert_transition(tx: &Connection, id: &str, t: &Transition) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO proposal_transitions (proposal_id, at, actor, actor_kind, from_status, to_status, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            t.at.timestamp_micros(),
            t.actor,
            t.actor_kind.as_str(),
            t.from_status.map(ProposalStatus::as_str),
            t.to_status.as_str(),
            t.reason
        ],
    )?;
    Ok(())
}

const SUMMARY_COLUMNS: &str = "id, cycle_id, altitude, rule_name, json_extract(body, '$.title'),
     status, risk, json_extract(body, '$.confidence'), occurrences, created_at, updated_at,
     last_seen_at, applied_version";

type SummaryRow = (
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<f64>,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
);

fn read_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn decode_summary(row: SummaryRow) -> ProposalResult<ProposalSummary> {
    let (id, cycle_id, altitude, rule_name, title, status, risk, confidence, occ, c, u, l, v) = row;
    Ok(ProposalSummary {
        altitude: parse_altitude(&altitude)
            .ok_or_else(|| corrupt(&id, format!("unknown altitude {altitude:?}")))?,
        status: status_of(&id, &status)?,
        risk: parse_risk(&risk).ok_or_else(|| corrupt(&id, format!("unknown risk {risk:?}")))?,
        title: title.ok_or_else(|| corrupt(&id, "the body has no title"))?,
        confidence: confidence.ok_or_else(|| corrupt(&id, "the body has no confidence"))?,
        cycle_id,
        rule_name,
        occurrences: non_negative(occ),
        created_at: micros_to_time(c),
        updated_at: micros_to_time(u),
        last_seen_at: micros_to_time(l),
        applied_version: v,
        id,
    })
}

/// The `IN (…)` list of the open statuses ([`ProposalStatus::is_open`]), for SQL.
fn open_statuses_sql() -> String {
    crate::sql_list(
        &ProposalStatus::ALL,
        ProposalStatus::is_open,
        ProposalStatus::as_str,
    )
}

/// The oldest open proposal with `fingerprint`.
fn open_with_fingerprint(conn: &Connection, fingerprint: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(&format!(
        "SELECT id FROM proposals WHERE fingerprint = ?1 AND status IN ({})
         ORDER BY created_at, rowid LIMIT 1",
        open_statuses_sql()
    ))?
    .query_row(params![fingerprint], |r| r.get(0))
    .optional()
}

/// A free row id for a proposal whose id is taken by a closed proposal (a re-proposal of a
/// rejected or rolled-back change): `ID-2`, `ID-3`, …
fn free_id(tx: &Connection, id: &str) -> ProposalResult<String> {
    let taken = |candidate: &str| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT 1 FROM proposals WHERE id = ?1",
            params![candidate],
            |_| Ok(()),
        )
        .optional()
        .map(|r| r.is_some())
    };
    if !taken(id)? {
        return Ok(id.to_owned());
    }
    let mut n = 2u64;
    loop {
        let candidate = format!("{id}-{n}");
        if !taken(&candidate)? {
            return Ok(candidate);
        }
        n += 1;
    }
}

impl Store {
    /// Queues `proposal` (which passed every guard, `guards` being their verdicts) as pending,
    /// at `now` (the caller's clock), in one immediate transaction. When an open proposal
    /// (pending, approved, rolling out or inconclusive) has the same `fingerprint`, nothing is stored but that one's
    /// `occurrences` (+1) and `last_seen_at` (= `now`): [`QueueOutcome::Duplicate`].
    ///
    /// The proposal is stored under its own id; when a closed proposal (rejected, rolled
    /// back, …) already has that id, under `ID-2`, `ID-3`, … (the stored body's id is that row
    /// id). Refused: a rejected verdict among `guards`, a blank id or fingerprint.
    pub fn queue_proposal(
        &mut self,
        proposal: &ImprovementProposal,
        guards: &[GuardResult],
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> ProposalResult<QueueOutcome> {
        check_text("the proposal id", &proposal.id)?;
        check_text("the fingerprint", fingerprint)?;
        if let Some(r) = guards.iter().find(|r| !r.passed()) {
            return Err(ProposalError::GuardRejected {
                id: proposal.id.clone(),
                guard: r.guard.clone(),
                reason: r.reason.clone(),
            });
        }
        let guards_json = serde_json::to_string(guards)
            .map_err(|e| ProposalError::BadInput(format!("encoding the guard verdicts: {e}")))?;
        let at = now.timestamp_micros();
        let tx = self.write_tx()?;
        let open = open_with_fingerprint(&tx, fingerprint)?;
        if let Some(existing_id) = open {
            tx.execute(
                "UPDATE proposals SET occurrences = occurrences + 1, last_seen_at = max(last_seen_at, ?2)
                 WHERE id = ?1",
                params![existing_id, at],
            )?;
            tx.commit()?;
            return Ok(QueueOutcome::Duplicate { existing_id });
        }
        let id = free_id(&tx, &proposal.id)?;
        let mut stored = proposal.clone();
        stored.id.clone_from(&id);
        let body = serde_json::to_string(&stored)
            .map_err(|e| ProposalError::BadInput(format!("encoding proposal {id}: {e}")))?;
        tx.execute(
            "INSERT INTO proposals (id, cycle_id, altitude, rule_name, status, fingerprint, risk,
                 created_at, updated_at, occurrences, last_seen_at, applied_version, body, guards)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1, ?8, NULL, ?9, ?10)",
            params![
                id,
                proposal.source_cycle,
                proposal.altitude.as_str(),
                proposal.rationale.rule_name,
                ProposalStatus::Pending.as_str(),
                fingerprint,
                risk_str(proposal.risk),
                at,
                body,
                guards_json
            ],
        )?;
        let reason = proposal
            .source_cycle
            .as_ref()
            .map_or_else(|| "queued".to_owned(), |c| format!("queued by cycle {c}"));
        let queued = Transition {
            at: now,
            actor: QUEUE_ACTOR.to_owned(),
            actor_kind: ActorKind::System,
            from_status: None,
            to_status: ProposalStatus::Pending,
            reason: Some(reason),
        };
        insert_transition(&tx, &id, &queued)?;
        tx.commit()?;
        Ok(QueueOutcome::Queued { id })
    }

    /// The id of the open (pending, approved, rolling out or inconclusive) proposal with this fingerprint, if any.
    pub fn open_proposal_with_fingerprint(
        &self,
        fingerprint: &str,
    ) -> ProposalResult<Option<String>> {
        Ok(open_with_fingerprint(&self.conn, fingerprint)?)
    }

    /// The status of proposal `id`, or `None` when there is none (one indexed lookup; what the
    /// audit's before/after records).
    pub fn proposal_status(&self, id: &str) -> ProposalResult<Option<ProposalStatus>> {
        let status: Option<String> = self
            .conn
            .prepare_cached("SELECT status FROM proposals WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        status.map(|s| status_of(id, &s)).transpose()
    }

    /// How many proposals have each status (statuses with none are absent).
    pub fn proposal_counts(&self) -> ProposalResult<Vec<(ProposalStatus, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, count(*) FROM proposals GROUP BY status")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(s, n)| Ok((status_of("(count)", &s)?, non_negative(n))))
            .collect()
    }

    /// Proposal `id` with its state and transitions, or `None` when there is none.
    pub fn proposal(&self, id: &str) -> ProposalResult<Option<StoredProposal>> {
        type Raw = (
            String,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            String,
        );
        let raw: Option<Raw> = self
            .conn
            .query_row(
                "SELECT status, risk, fingerprint, occurrences, created_at, updated_at, last_seen_at,
                        applied_version, body, guards
                 FROM proposals WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                },
            )
            .optional()?;
        let Some((status, risk, fingerprint, occ, created, updated, seen, applied, body, guards)) =
            raw
        else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT at, actor, actor_kind, from_status, to_status, reason
             FROM proposal_transitions WHERE proposal_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut transitions = Vec::with_capacity(rows.len());
        for (at, actor, kind, from, to, reason) in rows {
            transitions.push(Transition {
                at: micros_to_time(at),
                actor,
                actor_kind: kind
                    .parse()
                    .map_err(|e: String| corrupt(id, format!("transition actor kind: {e}")))?,
                from_status: from.map(|f| status_of(id, &f)).transpose()?,
                to_status: status_of(id, &to)?,
                reason,
            });
        }
        Ok(Some(StoredProposal {
            proposal: serde_json::from_str(&body).map_err(|e| corrupt(id, format!("body: {e}")))?,
            status: status_of(id, &status)?,
            risk: parse_risk(&risk).ok_or_else(|| corrupt(id, format!("unknown risk {risk:?}")))?,
            guards: serde_json::from_str(&guards)
                .map_err(|e| corrupt(id, format!("guard verdicts: {e}")))?,
            fingerprint,
            occurrences: non_negative(occ),
            created_at: micros_to_time(created),
            updated_at: micros_to_time(updated),
            last_seen_at: micros_to_time(seen),
            applied_version: applied,
            transitions,
            approvals: approvals_of(&self.conn, id)?,
        }))
    }

    /// Records `actor`'s approval of pending proposal `id` and returns all its approvals.
    /// Only an actor that [`kaizen_core::lifecycle::may_approve`] approves, and each person
    /// once; the status is not changed here (the service moves it to approved once enough
    /// approvals are in). Refused: [`ProposalError::NotHuman`], [`ProposalError::NotPending`],
    /// [`ProposalError::AlreadyApproved`] (conflicts), an unknown id.
    pub fn record_approval(
        &mut self,
        id: &str,
        actor: &Actor,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> ProposalResult<Vec<Approval>> {
        lifecycle::require_human(actor, "approve").map_err(|e| ProposalError::lifecycle(id, e))?;
        check_text("the actor name", &actor.name)?;
        let tx = self.write_tx()?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM proposals WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(status) = status else {
            return Err(ProposalError::Unknown(id.to_owned()));
        };
        let status = status_of(id, &status)?;
        if status != ProposalStatus::Pending {
            return Err(ProposalError::NotPending {
                id: id.to_owned(),
                status,
            });
        }
        let inserted = tx.execute(
            "INSERT INTO proposal_approvals (proposal_id, actor, at, reason) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![id, actor.name, now.timestamp_micros(), reason],
        )?;
        if inserted == 0 {
            return Err(ProposalError::AlreadyApproved {
                id: id.to_owned(),
                actor: actor.name.clone(),
            });
        }
        let approvals = approvals_of(&tx, id)?;
        tx.commit()?;
        Ok(approvals)
    }

    /// Up to `limit` proposals from `offset`, newest first (by queueing time), optionally only
    /// those with status `filter`; and how many match in total.
    pub fn proposals(
        &self,
        filter: Option<ProposalStatus>,
        limit: usize,
        offset: usize,
    ) -> ProposalResult<(Vec<ProposalSummary>, u64)> {
        let status = filter.map(ProposalStatus::as_str);
        let total: i64 = self.conn.query_row(
            "SELECT count(*) FROM proposals WHERE ?1 IS NULL OR status = ?1",
            params![status],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM proposals WHERE ?1 IS NULL OR status = ?1
             ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let rows = stmt
            .query_map(
                params![status, clamp_i64(limit), clamp_i64(offset)],
                read_summary,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let list = rows
            .into_iter()
            .map(decode_summary)
            .collect::<ProposalResult<Vec<_>>>()?;
        Ok((list, non_negative(total)))
    }

    /// Moves proposal `id` from `expected_from` to `to` at `now`, recording the transition, in
    /// one immediate transaction. Refused (nothing written) when the transition is not allowed
    /// ([`ProposalStatus::allowed_next`]), when approving or rejecting by an actor that may not
    /// ([`kaizen_core::lifecycle::may_approve`]), without a reason where one is required
    /// ([`ProposalStatus::reason_required`]: rejected and rolled_back), with an
    /// `applied_version` for anything but applied (or without one for applied), for an unknown
    /// id, and when the proposal's status is not `expected_from` (someone else acted first).
    #[allow(clippy::too_many_arguments)]
    pub fn transition_proposal(
        &mut self,
        id: &str,
        expected_from: ProposalStatus,
        to: ProposalStatus,
        actor: &Actor,
        reason: Option<&str>,
        applied_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> ProposalResult<()> {
        let tx = self.write_tx()?;
        transition_in(
            &tx,
            id,
            expected_from,
            to,
            actor,
            reason,
            applied_version,
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// What the loop's memory needs ([`kaizen_core::improve::memory`]): every proposal that a
    /// human decided on, that is being rolled out, or that was closed (rejected, applied,
    /// rolled back) at or after `since`, plus every one rejected as "never again", with its
    /// approval and rejection times from its transitions. Pending and superseded proposals
    /// are not memories.
    pub fn past_proposals(&self, since: DateTime<Utc>) -> ProposalResult<Vec<PastProposal>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, fingerprint, status, updated_at, body, never_again FROM proposals
             WHERE status NOT IN ('pending', 'superseded')
               AND (updated_at >= ?1 OR never_again <> 0
                    OR status IN ('approved', 'rolling_out', 'inconclusive'))
             ORDER BY updated_at, id",
        )?;
        let rows = stmt
            .query_map(params![since.timestamp_micros()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut transitions = self.conn.prepare_cached(
            "SELECT at, actor, actor_kind, to_status, reason FROM proposal_transitions
             WHERE proposal_id = ?1 ORDER BY id",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, fingerprint, status, updated, body, never_again) in rows {
            let proposal: ImprovementProposal =
                serde_json::from_str(&body).map_err(|e| corrupt(&id, format!("body: {e}")))?;
            let history = transitions
                .query_map(params![id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (mut approved_at, mut rejected, mut reason) = (None, None, None);
            for (at, actor, kind, to, why) in history {
                let human = kind == ActorKind::Human.as_str();
                match status_of(&id, &to)? {
                    ProposalStatus::Approved if human => {
                        approved_at.get_or_insert(micros_to_time(at));
                    }
                    ProposalStatus::Rejected if human => {
                        rejected = Some((micros_to_time(at), actor));
                    }
                    _ => {}
                }
                reason = why;
            }
            out.push(PastProposal {
                id,
                fingerprint,
                altitude: proposal.altitude,
                rationale: proposal.rationale,
                changes: proposal.changes,
                status: status_of("(memory)", &status)?,
                approved_at,
                rejected,
                since: micros_to_time(updated),
                reason,
                never_again: never_again != 0,
            });
        }
        Ok(out)
    }

    /// Marks rejected proposal `id` "never propose this again" (the memory then blocks its
    /// change for good). Refused for an unknown id or a proposal that is not rejected.
    pub fn mark_never_again(&mut self, id: &str) -> ProposalResult<()> {
        let n = self.conn.execute(
            "UPDATE proposals SET never_again = 1 WHERE id = ?1 AND status = 'rejected'",
            params![id],
        )?;
        if n == 0 {
            return Err(match self.proposal_status(id)? {
                None => ProposalError::Unknown(id.to_owned()),
                Some(status) => ProposalError::BadInput(format!(
                    "proposal {id} is {}, only a rejected proposal can be marked never again",
                    status.as_str()
                )),
            });
        }
        Ok(())
    }

    /// Applied proposals without a measured outcome: `(id, when its rollout began, when it
    /// was applied)` from its transitions, oldest apply first.
    pub fn unmeasured_applied(&self) -> ProposalResult<Vec<Unmeasured>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.id,
                    (SELECT min(t.at) FROM proposal_transitions t
                      WHERE t.proposal_id = p.id AND t.to_status = 'rolling_out'),
                    (SELECT max(t.at) FROM proposal_transitions t
                      WHERE t.proposal_id = p.id AND t.to_status = 'applied')
             FROM proposals p
             WHERE p.status = 'applied'
               AND NOT EXISTS (SELECT 1 FROM proposal_outcomes o WHERE o.proposal_id = p.id)",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out: Vec<_> = rows
            .into_iter()
            .filter_map(|(id, started, applied)| {
                let applied = micros_to_time(applied?);
                Some((id, started.map_or(applied, micros_to_time), applied))
            })
            .collect();
        out.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Records the measured outcome of proposal `id` (a JSON document), once: a second
    /// measurement of the same proposal is refused.
    pub fn record_outcome(
        &mut self,
        id: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> ProposalResult<()> {
        let n = self.conn.execute(
            "INSERT INTO proposal_outcomes (proposal_id, measured_at, body) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![id, now.timestamp_micros(), body],
        )?;
        if n == 0 {
            return Err(ProposalError::BadInput(format!(
                "proposal {id} already has a measured outcome"
            )));
        }
        Ok(())
    }

    /// The measured outcome of proposal `id` (its JSON document), if any.
    pub fn outcome(&self, id: &str) -> ProposalResult<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT body FROM proposal_outcomes WHERE proposal_id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?)
    }

    /// Every closed proposal (rejected, applied, rolled back, rollback failed) with the time
    /// it closed and its measured outcome's JSON, if measured: what confidence learning reads.
    pub fn closed_proposals(&self) -> ProposalResult<Vec<ClosedProposal>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.id, p.status, p.updated_at, p.body, o.body
             FROM proposals p LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id
             WHERE p.status IN ('rejected', 'applied', 'rolled_back', 'rollback_failed')
             ORDER BY p.updated_at, p.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, status, at, body, outcome)| {
                Ok(ClosedProposal {
                    status: status_of(&id, &status)?,
                    proposal: serde_json::from_str(&body)
                        .map_err(|e| corrupt(&id, format!("body: {e}")))?,
                    closed_at: micros_to_time(at),
                    outcome,
                })
            })
            .collect()
    }

    /// Whether proposal `id` was rejected as "never again".
    pub fn never_again(&self, id: &str) -> ProposalResult<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT never_again FROM proposals WHERE id = ?1")?
            .query_row(params![id], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|n| n != 0))
    }

    /// How many proposals were queued at or after `since` (by the `now` given to
    /// [`Store::queue_proposal`]): the rate limit's persisted count. Duplicates absorbed by an
    /// open proposal do not count.
    pub fn proposals_submitted_since(&self, since: DateTime<Utc>) -> ProposalResult<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM proposals WHERE created_at >= ?1",
            params![since.timestamp_micros()],
            |r| r.get(0),
        )?;
        Ok(non_negative(n))
    }

    /// Records a cycle. Refused when a cycle with this id is already recorded, or the id or
    /// trigger is blank.
    pub fn record_cycle(&mut self, cycle: &CycleRecord) -> crate::Result<()> {
        let c = &cycle.summary;
        if c.id.trim().is_empty() || c.trigger.trim().is_empty() {
            return Err(StoreError::Refused(
                "a cycle needs a non-blank id and trigger".to_owned(),
            ));
        }
        let inserted = self.conn.execute(
            &format!(
                "INSERT INTO cycles ({CYCLE_COLUMNS}, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO NOTHING"
            ),
            params![
                c.id,
                c.started_at.timestamp_micros(),
                c.completed_at.timestamp_micros(),
                c.trigger,
                c.dry_run,
                c.window_since.timestamp_micros(),
                c.window_until.timestamp_micros(),
                cycle.report
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Refused(format!(
                "cycle {} is already recorded; cycle ids must be unique",
                c.id
            )));
        }
        Ok(())
    }

    /// Up to `limit` cycles, newest first (by start).
    pub fn cycles(&self, limit: usize) -> crate::Result<Vec<CycleSummary>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {CYCLE_COLUMNS} FROM cycles ORDER BY started_at DESC, rowid DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![clamp_i64(limit)], cycle_summary)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Cycle `id` with its report, or `None`.
    pub fn cycle(&self, id: &str) -> crate::Result<Option<CycleRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CYCLE_COLUMNS}, report FROM cycles WHERE id = ?1"),
                params![id],
                |r| {
                    Ok(CycleRecord {
                        summary: cycle_summary(r)?,
                        report: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    /// The value stored under `key` in the meta table, or `None`.
    pub fn meta_get(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Stores `value` under `key` (replacing any previous value). Refused for a blank key and
    /// for the keys the store itself owns ([`RESERVED_META_KEYS`]).
    pub fn meta_set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        if key.trim().is_empty() {
            return Err(StoreError::Refused(
                "a meta key must not be blank".to_owned(),
            ));
        }
        if RESERVED_META_KEYS.contains(&key) {
            return Err(StoreError::Refused(format!(
                "meta key {key:?} belongs to the store; choose another key"
            )));
        }
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

fn approvals_of(conn: &rusqlite::Connection, id: &str) -> ProposalResult<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(
        "SELECT actor, at, reason FROM proposal_approvals WHERE proposal_id = ?1 ORDER BY at, actor",
    )?;
    let rows = stmt
        .query_map(params![id], |r| {
            Ok(Approval {
                actor: r.get(0)?,
                at: micros_to_time(r.get(1)?),
                reason: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_status_list_is_the_lifecycle_s() {
        assert_eq!(
            open_statuses_sql(),
            "'pending', 'approved', 'rolling_out', 'inconclusive'"
        );
    }

    #[test]
    fn conflicts_are_not_invalid_input() {
        let conflict = [
            ProposalError::NotPending {
                id: "p".into(),
                status: ProposalStatus::Approved,
            },
            ProposalError::AlreadyApproved {
                id: "p".into(),
                actor: "ana".into(),
            },
            ProposalError::StaleStatus {
                id: "p".into(),
                expected: ProposalStatus::Pending,
                current: ProposalStatus::Approved,
            },
            ProposalError::IllegalTransition {
                id: "p".into(),
                from: ProposalStatus::Applied,
                to: ProposalStatus::Approved,
            },
        ];
        for e in conflict {
            assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
            assert!(e.is_user_error());
        }
        assert_eq!(
            ProposalError::BadInput("x".into()).kind(),
            ErrorKind::Invalid
        );
        assert_eq!(
            ProposalError::Unknown("p".into()).kind(),
            ErrorKind::NotFound
        );
        let not_human = ProposalError::NotHuman {
            action: "approve",
            actor: "bot".into(),
            kind: ActorKind::Agent,
        };
        assert_eq!(not_human.kind(), ErrorKind::Forbidden);
        let corrupt = ProposalError::Corrupt {
            id: "p".into(),
            message: "x".into(),
        };
        assert_eq!(corrupt.kind(), ErrorKind::Internal);
        assert!(!corrupt.is_user_error());
    }
}
