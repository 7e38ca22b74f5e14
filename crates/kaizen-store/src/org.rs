//! Versions of the org document ([`kaizen_core::org::OrgDocument`]).
//!
//! Every change to the org document adds an immutable row to `org_versions`: its parent (the
//! version it was made from), when, who, the proposal it implements if any, why, the change
//! list and the resulting document. The current version is the newest. An import is a version
//! whose changes are the diff from the current document; a rollback is a new version whose
//! document equals an older one's. History is never rewritten (triggers refuse updates and
//! deletes).
//!
//! Writes check the current version inside an immediate transaction: a commit names the version
//! it was prepared against (`expected_parent`) and is refused when another commit came first
//! (optimistic concurrency).

use chrono::{DateTime, Utc};
use kaizen_core::error::ErrorKind;
use kaizen_core::event::Name;
use kaizen_core::org::{ApplyError, OrgChange, OrgDocument, OrgError};
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::Serialize;

use crate::{Store, StoreError, micros_to_time};

/// One version of the org document.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OrgVersion {
    /// Version number, from 1, increasing.
    pub id: i64,
    /// The version this one was made from; `None` for the first.
    pub parent: Option<i64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (a person, `meta-loop`, …).
    pub actor: String,
    /// The improvement proposal it implements, if any.
    pub proposal_id: Option<String>,
    /// Why it was made.
    pub reason: Option<String>,
    /// The changes from the parent's document (from the empty document for the first).
    pub changes: Vec<OrgChange>,
    /// The document of this version.
    pub document: OrgDocument,
}

/// A version without its document, for history listings.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OrgVersionSummary {
    /// Version number.
    pub id: i64,
    /// The version this one was made from.
    pub parent: Option<i64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// The improvement proposal it implements, if any.
    pub proposal_id: Option<String>,
    /// Why it was made.
    pub reason: Option<String>,
    /// How many changes it made.
    pub change_count: u64,
}

/// What [`Store::org_import`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrgImport {
    /// A new version was created.
    Created(Box<OrgVersion>),
    /// The document equals the current one (`None`: no version and an empty document); no
    /// version was created.
    Unchanged(Option<i64>),
}

/// Why an org-document operation failed. Nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum OrgStoreError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No version has this number.
    #[error("org version {0} does not exist")]
    UnknownVersion(i64),
    /// Another version was committed since the change was prepared.
    #[error(
        "the org document changed meanwhile: the current version is {}, the changes were prepared against {}",
        describe(*.current), describe(*.expected)
    )]
    StaleParent {
        /// The version the changes were prepared against.
        expected: Option<i64>,
        /// The current version.
        current: Option<i64>,
    },
    /// The changes do not apply to the current document.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An imported document is invalid.
    #[error("invalid org document: {}", join(.0))]
    Invalid(Vec<OrgError>),
    /// A commit with an empty change list.
    #[error("no changes to commit")]
    NoChanges,
    /// A rollback to a version whose document is the current document.
    #[error(
        "the current org document (version {current}) already equals version {target}'s; nothing to roll back"
    )]
    NothingToRollBack {
        /// The version asked for.
        target: i64,
        /// The current version.
        current: i64,
    },
    /// The new document would break a live rollout: its overlay no longer applies on top.
    #[error(
        "this change conflicts with the live rollout of proposal {proposal_id} ({reason}); decide that rollout first (`kaizen rollouts decide {proposal_id} rollback|apply --reason …`)"
    )]
    LiveRollout {
        /// The rollout's proposal.
        proposal_id: String,
        /// Why its overlay no longer applies.
        reason: String,
    },
    /// A bad argument (blank actor, blank reason, …).
    #[error("{0}")]
    BadInput(String),
    /// A stored row could not be read back.
    #[error("stored org version {id} is unreadable: {message}")]
    Corrupt {
        /// The version.
        id: i64,
        /// What failed.
        message: String,
    },
}

impl OrgStoreError {
    /// What kind of failure it is. The document having changed since the changes were
    /// prepared ([`OrgStoreError::StaleParent`], optimistic concurrency), changes that no
    /// longer apply to it, a live rollout in the way and nothing to roll back are conflicts,
    /// distinct from invalid input.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OrgStoreError::Store(e) => e.kind(),
            OrgStoreError::UnknownVersion(_) => ErrorKind::NotFound,
            OrgStoreError::StaleParent { .. }
            | OrgStoreError::Apply(_)
            | OrgStoreError::NothingToRollBack { .. }
            | OrgStoreError::LiveRollout { .. } => ErrorKind::Conflict,
            OrgStoreError::Invalid(_) | OrgStoreError::NoChanges | OrgStoreError::BadInput(_) => {
                ErrorKind::Invalid
            }
            OrgStoreError::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    /// Whether the caller's input (or a concurrent change) is at fault, as opposed to the
    /// database: [`OrgStoreError::kind`] is a caller error.
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }
}

impl From<rusqlite::Error> for OrgStoreError {
    fn from(e: rusqlite::Error) -> Self {
        OrgStoreError::Store(StoreError::Sqlite(e))
    }
}

fn describe(v: Option<i64>) -> String {
    v.map_or_else(
        || "none (no version yet)".to_owned(),
        |id| format!("version {id}"),
    )
}

fn join(errors: &[OrgError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A result with [`OrgStoreError`].
pub type OrgResult<T> = std::result::Result<T, OrgStoreError>;

const COLUMNS: &str = "id, parent, created_at, actor, proposal_id, reason, changes, document";

fn read_version(row: &Row<'_>) -> rusqlite::Result<(OrgVersionSummary, String, String)> {
    Ok((
        OrgVersionSummary {
            id: row.get(0)?,
            parent: row.get(1)?,
            created_at: micros_to_time(row.get(2)?),
            actor: row.get(3)?,
            proposal_id: row.get(4)?,
            reason: row.get(5)?,
            change_count: 0,
        },
        row.get(6)?,
        row.get(7)?,
    ))
}

fn decode(raw: (OrgVersionSummary, String, String)) -> OrgResult<OrgVersion> {
    let (s, changes, document) = raw;
    let corrupt = |what: &str, e: serde_json::Error| OrgStoreError::Corrupt {
        id: s.id,
        message: format!("{what}: {e}"),
    };
    Ok(OrgVersion {
        changes: serde_json::from_str(&changes).map_err(|e| corrupt("changes", e))?,
        document: serde_json::from_str(&document).map_err(|e| corrupt("document", e))?,
        id: s.id,
        parent: s.parent,
        created_at: s.created_at,
        actor: s.actor,
        proposal_id: s.proposal_id,
        reason: s.reason,
    })
}

pub(crate) fn current_in(tx: &Connection) -> OrgResult<Option<OrgVersion>> {
    let raw = tx
        .query_row(
            &format!("SELECT {COLUMNS} FROM org_versions ORDER BY id DESC LIMIT 1"),
            [],
            read_version,
        )
        .optional()?;
    raw.map(decode).transpose()
}

fn version_in(conn: &Connection, id: i64) -> OrgResult<Option<OrgVersion>> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM org_versions WHERE id = ?1"),
            params![id],
            read_version,
        )
        .optional()?;
    raw.map(decode).transpose()
}

fn check_actor(actor: &str) -> OrgResult<()> {
    Name::new(actor)
        .map(|_| ())
        .map_err(|e| OrgStoreError::BadInput(format!("actor: {e}")))
}

fn check_text(what: &str, text: Option<&str>) -> OrgResult<()> {
    match text {
        Some(t) if t.trim().is_empty() => Err(OrgStoreError::BadInput(format!(
            "{what}: expected a non-blank string"
        ))),
        _ => Ok(()),
    }
}

/// A new version's fields besides its changes and document.
struct NewVersion<'a> {
    parent: Option<i64>,
    actor: &'a str,
    proposal_id: Option<&'a str>,
    reason: Option<&'a str>,
    now: DateTime<Utc>,
}

fn insert(
    tx: &Connection,
    v: &NewVersion<'_>,
    changes: Vec<OrgChange>,
    document: OrgDocument,
) -> OrgResult<OrgVersion> {
    let encode = |e: serde_json::Error| {
        OrgStoreError::Store(StoreError::Refused(format!(
            "encoding the org version: {e}"
        )))
    };
    // Every live rollout's overlay must still apply on top of the new document (the rollout
    // being applied by this very version excepted), or its agents could not read a config.
    crate::rollouts::check_live_overlays(tx, &document, v.proposal_id)?;
    let changes_json = serde_json::to_string(&changes).map_err(encode)?;
    let document_json = serde_json::to_string(&document).map_err(encode)?;
    tx.execute(
        "INSERT INTO org_versions (parent, created_at, actor, proposal_id, reason, changes, document)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            v.parent,
            v.now.timestamp_micros(),
            v.actor,
            v.proposal_id,
            v.reason,
            changes_json,
            document_json
        ],
    )?;
    Ok(OrgVersion {
        id: tx.last_insert_rowid(),
        parent: v.parent,
        created_at: micros_to_time(v.now.timestamp_micros()),
        actor: v.actor.to_owned(),
        proposal_id: v.proposal_id.map(str::to_owned),
        reason: v.reason.map(str::to_owned),
        changes,
        document,
    })
}

/// [`Store::org_commit`] inside the caller's transaction.
pub(crate) fn commit_in(
    tx: &Connection,
    expected_parent: Option<i64>,
    changes: &[OrgChange],
    actor: &str,
    proposal_id: Option<&str>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> OrgResult<OrgVersion> {
    check_actor(actor)?;
    check_text("proposal id", proposal_id)?;
    check_text("reason", reason)?;
    if changes.is_empty() {
        return Err(OrgStoreError::NoChanges);
    }
    let current = current_in(tx)?;
    let current_id = current.as_ref().map(|v| v.id);
    if current_id != expected_parent {
        return Err(OrgStoreError::StaleParent {
            expected: expected_parent,
            current: current_id,
        });
    }
    let base = current.map(|v| v.document).unwrap_or_default();
    let document = base.apply(changes)?;
    let new = NewVersion {
        parent: current_id,
        actor,
        proposal_id,
        reason,
        now,
    };
    insert(tx, &new, changes.to_vec(), document)
}

impl Store {
    /// The current (newest) version, or `None` before the first import.
    pub fn org_current(&mut self) -> OrgResult<Option<OrgVersion>> {
        let tx = self.read_tx()?;
        let v = current_in(&tx)?;
        tx.commit()?;
        Ok(v)
    }

    /// Version `id`, or `None` when there is no such version.
    pub fn org_version(&self, id: i64) -> OrgResult<Option<OrgVersion>> {
        version_in(&self.conn, id)
    }

    /// Up to `limit` versions, newest first.
    pub fn org_history(&self, limit: usize) -> OrgResult<Vec<OrgVersionSummary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(
            "SELECT id, parent, created_at, actor, proposal_id, reason, json_array_length(changes)
             FROM org_versions ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], |row| {
            Ok(OrgVersionSummary {
                id: row.get(0)?,
                parent: row.get(1)?,
                created_at: micros_to_time(row.get(2)?),
                actor: row.get(3)?,
                proposal_id: row.get(4)?,
                reason: row.get(5)?,
                change_count: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Applies `changes` to the current document and stores the result as a new version, in
    /// one transaction. Refused (nothing written) when the current version is not
    /// `expected_parent` (`None`: there must be no version yet), when the list is empty, or
    /// when the changes do not apply ([`OrgDocument::apply`]).
    pub fn org_commit(
        &mut self,
        expected_parent: Option<i64>,
        changes: &[OrgChange],
        actor: &str,
        proposal_id: Option<&str>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> OrgResult<OrgVersion> {
        let tx = self.write_tx()?;
        let version = commit_in(
            &tx,
            expected_parent,
            changes,
            actor,
            proposal_id,
            reason,
            now,
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// Makes `document` (validated, then stored in canonical form) the current document: a new
    /// version whose changes are the diff from the current document (or from the empty one).
    /// Importing the current document again creates nothing and says so.
    pub fn org_import(
        &mut self,
        document: OrgDocument,
        actor: &str,
        now: DateTime<Utc>,
    ) -> OrgResult<OrgImport> {
        check_actor(actor)?;
        let document = document.canonical();
        document.validate().map_err(OrgStoreError::Invalid)?;
        let tx = self.write_tx()?;
        let current = current_in(&tx)?;
        let current_id = current.as_ref().map(|v| v.id);
        let base = current.map(|v| v.document).unwrap_or_default();
        let changes = OrgDocument::diff(&base, &document);
        if changes.is_empty() {
            return Ok(OrgImport::Unchanged(current_id));
        }
        let document = base.apply(&changes)?;
        let new = NewVersion {
            parent: current_id,
            actor,
            proposal_id: None,
            reason: Some("import"),
            now,
        };
        let version = insert(&tx, &new, changes, document)?;
        tx.commit()?;
        Ok(OrgImport::Created(Box::new(version)))
    }

    /// Restores version `target`'s document as a new version (reason `rollback to version N:
    /// REASON`); the versions in between stay in the history.
    pub fn org_rollback_to(
        &mut self,
        target: i64,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> OrgResult<OrgVersion> {
        check_actor(actor)?;
        check_text("reason", Some(reason))?;
        let tx = self.write_tx()?;
        let wanted = version_in(&tx, target)?.ok_or(OrgStoreError::UnknownVersion(target))?;
        let current = current_in(&tx)?.ok_or(OrgStoreError::UnknownVersion(target))?;
        let changes = OrgDocument::diff(&current.document, &wanted.document);
        if changes.is_empty() {
            return Err(OrgStoreError::NothingToRollBack {
                target,
                current: current.id,
            });
        }
        let document = current.document.apply(&changes)?;
        let reason = format!("rollback to version {target}: {}", reason.trim());
        let new = NewVersion {
            parent: Some(current.id),
            actor,
            proposal_id: None,
            reason: Some(&reason),
            now,
        };
        let version = insert(&tx, &new, changes, document)?;
        tx.commit()?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use kaizen_core::org::{Agent, SettingValue};

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
    }

    fn tier(from: &str, to: &str) -> OrgChange {
        OrgChange::SetSetting {
            path: "models.default_tier".into(),
            from: Some(from.into()),
            to: Some(to.into()),
        }
    }

    fn count(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM org_versions", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn versions_persist_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaizen.db");
        let standard = OrgDocument::standard();
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.org_current().unwrap(), None);
            assert!(store.org_history(10).unwrap().is_empty());
            let OrgImport::Created(v1) = store.org_import(standard.clone(), "ana", t(0)).unwrap()
            else {
                panic!("the first import creates a version");
            };
            assert_eq!((v1.id, v1.parent), (1, None));
            assert_eq!(v1.document, standard);
            assert_eq!(
                v1.changes,
                OrgDocument::diff(&OrgDocument::default(), &standard)
            );
            assert_eq!(v1.reason.as_deref(), Some("import"));
            // The same document again: nothing new.
            assert_eq!(
                store.org_import(standard.clone(), "ana", t(1)).unwrap(),
                OrgImport::Unchanged(Some(1))
            );
            let v2 = store
                .org_commit(
                    Some(1),
                    &[tier("large", "medium")],
                    "meta-loop",
                    Some("prop-1"),
                    Some("budget overrun"),
                    t(2),
                )
                .unwrap();
            assert_eq!((v2.id, v2.parent), (2, Some(1)));
            assert_eq!(
                v2.document.settings.get("models.default_tier"),
                Some(&SettingValue::from("medium"))
            );
        }
        // Re-open: everything is still there.
        let mut store = Store::open(&path).unwrap();
        let v2 = store.org_current().unwrap().unwrap();
        assert_eq!(v2.id, 2);
        assert_eq!(v2.created_at, t(2));
        assert_eq!(v2.actor, "meta-loop");
        assert_eq!(v2.proposal_id.as_deref(), Some("prop-1"));
        assert_eq!(v2.changes, [tier("large", "medium")]);
        let history = store.org_history(10).unwrap();
        let ids: Vec<i64> = history.iter().map(|h| h.id).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(history[0].change_count, 1);
        // 12 roles, 5 departments, 3 workflows, 1 principle, 4 settings sections (each set whole).
        assert_eq!(history[1].change_count, 12 + 5 + 3 + 1 + 4);
        assert_eq!(store.org_history(1).unwrap().len(), 1);

        let v3 = store
            .org_rollback_to(1, "ana", "tier too small", t(3))
            .unwrap();
        assert_eq!((v3.id, v3.parent), (3, Some(2)));
        assert_eq!(v3.document, standard);
        assert_eq!(v3.changes, [tier("medium", "large")]);
        assert_eq!(
            v3.reason.as_deref(),
            Some("rollback to version 1: tier too small")
        );
        // Every version's document is its parent's with its changes applied.
        for id in 2..=3 {
            let v = store.org_version(id).unwrap().unwrap();
            let parent = store.org_version(v.parent.unwrap()).unwrap().unwrap();
            assert_eq!(parent.document.apply(&v.changes).unwrap(), v.document);
        }
        assert!(matches!(
            store.org_rollback_to(1, "ana", "again", t(4)),
            Err(OrgStoreError::NothingToRollBack {
                target: 1,
                current: 3
            })
        ));
        assert!(matches!(
            store.org_rollback_to(9, "ana", "why", t(4)),
            Err(OrgStoreError::UnknownVersion(9))
        ));
        assert_eq!(store.org_version(9).unwrap(), None);
        assert_eq!(count(&store), 3);
    }

    #[test]
    fn refusals_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
        store
            .org_import(OrgDocument::standard(), "ana", t(0))
            .unwrap();
        store
            .org_commit(Some(1), &[tier("large", "medium")], "ana", None, None, t(1))
            .unwrap();
        // Prepared against version 1, but version 2 came first.
        let err = store
            .org_commit(Some(1), &[tier("medium", "small")], "bob", None, None, t(2))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the org document changed meanwhile: the current version is version 2, the changes were prepared against version 1"
        );
        let err = store
            .org_commit(None, &[tier("medium", "small")], "bob", None, None, t(2))
            .unwrap_err();
        assert!(matches!(
            err,
            OrgStoreError::StaleParent {
                expected: None,
                current: Some(2)
            }
        ));
        // A stale value.
        let err = store
            .org_commit(Some(2), &[tier("large", "small")], "bob", None, None, t(2))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"change 1 (set models.default_tier: "large" → "small"): stale change: models.default_tier is "medium", the change expects "large""#
        );
        assert!(err.is_user_error());
        // A dangling reference.
        let dangling = OrgChange::AddAgent(Agent {
            id: "a1".into(),
            role: "nobody".into(),
            department: "engineering".into(),
        });
        assert!(matches!(
            store.org_commit(Some(2), &[dangling], "bob", None, None, t(2)),
            Err(OrgStoreError::Apply(ApplyError::Invalid { .. }))
        ));
        assert!(matches!(
            store.org_commit(Some(2), &[], "bob", None, None, t(2)),
            Err(OrgStoreError::NoChanges)
        ));
        assert!(matches!(
            store.org_commit(Some(2), &[tier("medium", "small")], " ", None, None, t(2)),
            Err(OrgStoreError::BadInput(_))
        ));
        let mut bad = OrgDocument::standard();
        bad.agents.push(Agent {
            id: "a1".into(),
            role: "nobody".into(),
            department: "engineering".into(),
        });
        let err = store.org_import(bad, "ana", t(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid org document: agents[0].role: unknown role "nobody""#
        );
        assert_eq!(count(&store), 2);
        assert_eq!(store.org_current().unwrap().unwrap().id, 2);
    }

    #[test]
    fn versions_are_immutable() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("kaizen.db")).unwrap();
        store
            .org_import(OrgDocument::standard(), "ana", t(0))
            .unwrap();
        for sql in [
            "UPDATE org_versions SET actor = 'mallory'",
            "DELETE FROM org_versions",
        ] {
            let err = store.conn.execute(sql, []).unwrap_err();
            assert!(
                err.to_string().contains("org versions are immutable"),
                "{err}"
            );
        }
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn standard_org_matches_the_simulator() {
        let doc = OrgDocument::standard();
        for dept in kaizen_sim::DEPARTMENTS {
            assert!(doc.department(dept.name).is_some(), "{}", dept.name);
            for role in dept.roles {
                let r = doc.role(role).unwrap_or_else(|| panic!("role {role}"));
                assert_eq!(r.department.as_deref(), Some(dept.name));
            }
        }
        assert_eq!(doc.departments.len(), kaizen_sim::DEPARTMENTS.len());
        let roles: usize = kaizen_sim::DEPARTMENTS.iter().map(|d| d.roles.len()).sum();
        assert_eq!(doc.roles.len(), roles);
    }
}
