//! Mutators: external targets notified of each new org version.
//!
//! The original design had one mutator protocol per altitude (config, architecture, prompt,
//! code; `docs/design.md`). Here
//! every applied proposal, import and rollback is an org version ([`OrgVersion`]), so they are
//! one notification interface, [`OrgMutator`]; a mutator that cares about some altitudes only
//! says so with [`OrgMutator::altitudes`] and is called for the versions that touch them.
//!
//! Notification happens **after** the version is committed, and a failing mutator never undoes
//! it: [`notify_all`] calls every interested mutator, catches errors and panics, and returns one
//! [`MutatorOutcome`] per mutator for the caller to record and report.
//!
//! [`FileMutator`] writes each version's document as JSON into a directory
//! (`org-v{N}.json`) and keeps `current.json` equal to the newest one, both atomically
//! (write to a temporary file in the same directory, then rename).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kaizen_core::altitude::Altitude;
use kaizen_core::improve::altitude_of;
use schemars::JsonSchema;
use serde::Serialize;

use crate::org::OrgVersion;

/// Why a mutator could not take a version in.
#[derive(Debug, thiserror::Error)]
pub enum MutatorError {
    /// A file operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done (`writing`, `renaming into`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The version could not be encoded.
    #[error("encoding org version {version}: {source}")]
    Encode {
        /// The version.
        version: i64,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// Anything else (for mutators outside this crate: a webhook's HTTP status, …).
    #[error("{0}")]
    Failed(String),
}

/// An external target told about every new org version (a file, a webhook to the agent
/// runtime, …).
pub trait OrgMutator: Send + Sync {
    /// A short name for outcomes and logs (`file:/etc/kaizen`, `webhook:runtime`).
    fn name(&self) -> &str;

    /// The altitudes whose changes this mutator wants; it is only called for versions with at
    /// least one change of these ([`version_altitudes`]). All of them by default.
    fn altitudes(&self) -> &[Altitude] {
        &Altitude::ALL
    }

    /// Takes `version` in. Called after the version was committed; an error is reported, it
    /// never undoes the version.
    fn on_version(&self, version: &OrgVersion) -> Result<(), MutatorError>;

    /// Whether `version` has a change of one of [`OrgMutator::altitudes`].
    fn wants(&self, version: &OrgVersion) -> bool {
        let touched = version_altitudes(version);
        self.altitudes().iter().any(|a| touched.contains(a))
    }

    /// Calls [`OrgMutator::on_version`] and turns its result, error or panic into an
    /// outcome (whatever [`OrgMutator::wants`] says; [`notify_all`] asks it first).
    fn notify(&self, version: &OrgVersion) -> MutatorOutcome {
        let result = catch_unwind(AssertUnwindSafe(|| self.on_version(version)));
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(format!("panicked: {}", panic_message(panic.as_ref()))),
        };
        if let Some(e) = &error {
            tracing::warn!(mutator = self.name(), version = version.id, error = %e, "org mutator failed");
        }
        MutatorOutcome {
            mutator: self.name().to_owned(),
            ok: error.is_none(),
            error,
        }
    }
}

/// What notifying one mutator of one version gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MutatorOutcome {
    /// The mutator's [`OrgMutator::name`].
    pub mutator: String,
    /// Whether it took the version in.
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// The altitudes of a version's changes ([`altitude_of`]); an import or rollback may touch
/// several.
pub fn version_altitudes(version: &OrgVersion) -> BTreeSet<Altitude> {
    version.changes.iter().map(altitude_of).collect()
}

/// Tells every mutator that [`OrgMutator::wants`] `version` about it, in order
/// ([`OrgMutator::notify`]), and returns one outcome per mutator called. A mutator's error or
/// panic is its outcome; the others are still called. Mutators that want none of the
/// version's altitudes are not called and have no outcome. Takes `&dyn OrgMutator`s,
/// `Arc`s or `Box`es.
pub fn notify_all<'m, M>(mutators: &[M], version: &OrgVersion) -> Vec<MutatorOutcome>
where
    M: Deref<Target = dyn OrgMutator + 'm>,
{
    mutators
        .iter()
        .filter(|m| m.wants(version))
        .map(|m| m.notify(version))
        .collect()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Writes each version's document to `dir` as pretty JSON: `org-v{N}.json`, and
/// `current.json` for the newest version written so far. The directory is created when
/// missing. Writes are atomic (temporary file, then rename), so a reader never sees half a
/// document. A version older than the newest `org-v*.json` in the directory leaves
/// `current.json` alone, so notifications arriving out of order never make it go back.
#[derive(Debug)]
pub struct FileMutator {
    dir: PathBuf,
    name: String,
    /// Serialises writes of this mutator (the check of the newest version and the rename of
    /// `current.json` go together).
    lock: Mutex<()>,
}

/// The name of the file holding the newest version's document.
pub const CURRENT_FILE: &str = "current.json";

/// `org-v{N}.json`.
pub fn version_file_name(version: i64) -> String {
    format!("org-v{version}.json")
}

/// The version number of an `org-v{N}.json` file name.
fn parse_version_file_name(name: &str) -> Option<i64> {
    name.strip_prefix("org-v")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

impl FileMutator {
    /// A mutator writing into `dir` (named `file:<dir>`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            name: format!("file:{}", dir.display()),
            dir,
            lock: Mutex::new(()),
        }
    }

    /// The directory it writes into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The highest `N` of the `org-v{N}.json` files in the directory.
    fn newest_written(&self) -> Result<Option<i64>, MutatorError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| MutatorError::Io {
            action: "listing",
            path: self.dir.clone(),
            source,
        })?;
        let mut newest = None;
        for entry in entries {
            let entry = entry.map_err(|source| MutatorError::Io {
                action: "listing",
                path: self.dir.clone(),
                source,
            })?;
            if let Some(n) = entry.file_name().to_str().and_then(parse_version_file_name) {
                newest = newest.max(Some(n));
            }
        }
        Ok(newest)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. The temporary file is removed when a step fails.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MutatorError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| MutatorError::Io {
            action,
            path,
            source,
        }
    };
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(bytes).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("flushing", &tmp))?;
        fs::rename(&tmp, path).map_err(io("renaming into", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl OrgMutator for FileMutator {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_version(&self, version: &OrgVersion) -> Result<(), MutatorError> {
        let mut json = serde_json::to_vec_pretty(&version.document).map_err(|source| {
            MutatorError::Encode {
                version: version.id,
                source,
            }
        })?;
        json.push(b'\n');
        // A poisoned lock only means another write panicked; the files are still whole.
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fs::create_dir_all(&self.dir).map_err(|source| MutatorError::Io {
            action: "creating",
            path: self.dir.clone(),
            source,
        })?;
        let newest = self.newest_written()?;
        write_atomically(&self.dir.join(version_file_name(version.id)), &json)?;
        if newest.is_none_or(|n| n <= version.id) {
            write_atomically(&self.dir.join(CURRENT_FILE), &json)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use chrono::DateTime;
    use kaizen_core::org::{OrgChange, OrgDocument, SettingValue};

    fn version(id: i64, tier: &str) -> OrgVersion {
        let mut document = OrgDocument::standard();
        let change = OrgChange::SetSetting {
            path: "models.default_tier".into(),
            from: Some(SettingValue::String("large".into())),
            to: Some(SettingValue::String(tier.into())),
        };
        if tier != "large" {
            match document.apply(std::slice::from_ref(&change)) {
                Ok(d) => document = d,
                Err(e) => panic!("{e}"),
            }
        }
        OrgVersion {
            id,
            parent: (id > 1).then_some(id - 1),
            created_at: DateTime::UNIX_EPOCH,
            actor: "meta-loop".into(),
            proposal_id: None,
            reason: None,
            changes: vec![change],
            document,
        }
    }

    fn read(path: &Path) -> OrgDocument {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        match serde_json::from_str(&text) {
            Ok(d) => d,
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }

    #[test]
    fn file_mutator_writes_each_version_and_current() {
        let Ok(tmp) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let dir = tmp.path().join("org");
        let m = FileMutator::new(&dir);
        assert_eq!(m.name(), format!("file:{}", dir.display()));
        let v1 = version(1, "large");
        let v2 = version(2, "medium");
        assert!(m.on_version(&v1).is_ok());
        assert!(m.on_version(&v2).is_ok());
        assert_eq!(read(&dir.join("org-v1.json")), v1.document);
        assert_eq!(read(&dir.join("org-v2.json")), v2.document);
        assert_eq!(read(&dir.join(CURRENT_FILE)), v2.document);
        // Out of order: an older version does not move current back.
        assert!(m.on_version(&v1).is_ok());
        assert_eq!(read(&dir.join(CURRENT_FILE)), v2.document);
        // No temporary file is left behind.
        let Ok(entries) = fs::read_dir(&dir) else {
            panic!("read_dir");
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["current.json", "org-v1.json", "org-v2.json"]);
    }

    #[test]
    fn a_failing_mutator_is_reported_and_does_not_stop_the_others() {
        let Ok(tmp) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        // A file where the directory should be: writing fails.
        let blocked = tmp.path().join("blocked");
        assert!(fs::write(&blocked, "x").is_ok());
        struct Panics;
        impl OrgMutator for Panics {
            fn name(&self) -> &str {
                "panics"
            }
            fn on_version(&self, _: &OrgVersion) -> Result<(), MutatorError> {
                panic!("boom")
            }
        }
        struct PromptsOnly;
        impl OrgMutator for PromptsOnly {
            fn name(&self) -> &str {
                "prompts-only"
            }
            fn altitudes(&self) -> &[Altitude] {
                &[Altitude::PromptTuning]
            }
            fn on_version(&self, _: &OrgVersion) -> Result<(), MutatorError> {
                Err(MutatorError::Failed("must not be called".into()))
            }
        }
        let good = tmp.path().join("good");
        let mutators: Vec<Arc<dyn OrgMutator>> = vec![
            Arc::new(FileMutator::new(&blocked)),
            Arc::new(Panics),
            Arc::new(PromptsOnly),
            Arc::new(FileMutator::new(&good)),
        ];
        let v = version(1, "medium");
        let outcomes = notify_all(&mutators, &v);
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        assert!(!outcomes[0].ok);
        let error = outcomes[0].error.clone().unwrap_or_default();
        assert!(
            error.starts_with(&format!("creating {}: ", blocked.display())),
            "{error}"
        );
        assert_eq!(
            outcomes[1],
            MutatorOutcome {
                mutator: "panics".into(),
                ok: false,
                error: Some("panicked: boom".into()),
            }
        );
        assert_eq!(
            outcomes[2],
            MutatorOutcome {
                mutator: format!("file:{}", good.display()),
                ok: true,
                error: None,
            }
        );
        assert_eq!(read(&good.join("org-v1.json")), v.document);
        assert_eq!(
            version_altitudes(&v).into_iter().collect::<Vec<_>>(),
            [Altitude::ConfigTuning]
        );
    }

    /// The whole path: check against the current version, commit exactly the plan's changes
    /// with that version as the expected parent, notify; a plan checked against an older
    /// version is refused instead of applied stale.
    #[test]
    fn check_commit_notify_and_a_stale_plan_is_refused() {
        use kaizen_core::improve::{KnobRegistry, appliers_for_standard};
        use kaizen_core::org::standard::{DEFAULT_TIER, MAX_TEAM_SIZE};

        use crate::Store;
        use crate::org::{OrgImport, OrgStoreError};

        let Ok(tmp) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let Ok(mut store) = Store::open(tmp.path().join("kaizen.db")) else {
            panic!("open");
        };
        let now = DateTime::UNIX_EPOCH;
        let Ok(OrgImport::Created(v1)) = store.org_import(OrgDocument::standard(), "alice", now)
        else {
            panic!("import");
        };
        let appliers = appliers_for_standard(KnobRegistry::standard());
        let proposal = |path: &str, from: SettingValue, to: SettingValue| {
            let changes = vec![OrgChange::SetSetting {
                path: path.into(),
                from: Some(from),
                to: Some(to),
            }];
            let json = serde_json::json!({
                "id": "p1",
                "altitude": "config_tuning",
                "title": "t",
                "description": "d",
                "rationale": {
                    "rule_name": "budget_overrun",
                    "severity": "warning",
                    "description": "d",
                    "signal_context": {},
                    "threshold": null
                },
                "changes": changes,
                "rollback": { "operations": OrgChange::inverse_all(&changes) },
                "alternatives": [],
                "confidence": 0.5,
                "risk": "low",
                "rollout": "before_after",
                "observation_window_hours": 24,
                "source_cycle": null,
                "created_at": "1970-01-01T00:00:00Z"
            });
            match serde_json::from_value::<kaizen_core::improve::ImprovementProposal>(json) {
                Ok(p) => p,
                Err(e) => panic!("{e}"),
            }
        };
        let tier = proposal(DEFAULT_TIER, "large".into(), "medium".into());
        let team = proposal(MAX_TEAM_SIZE, 5i64.into(), 4i64.into());
        // Both planned against version 1.
        let (Ok(tier_plan), Ok(team_plan)) = (
            appliers.check(&tier, &v1.document),
            appliers.check(&team, &v1.document),
        ) else {
            panic!("check");
        };
        let committed = store.org_commit(
            Some(v1.id),
            &tier_plan.changes,
            "meta-loop",
            Some(&tier.id),
            Some("approved"),
            now,
        );
        let Ok(v2) = committed else {
            panic!("commit: {committed:?}");
        };
        assert_eq!(v2.document, tier_plan.result);
        // The second plan was checked against version 1: refused, nothing written.
        let stale = store.org_commit(
            Some(v1.id),
            &team_plan.changes,
            "meta-loop",
            Some(&team.id),
            None,
            now,
        );
        assert!(
            matches!(
                stale,
                Err(OrgStoreError::StaleParent {
                    expected: Some(1),
                    current: Some(2)
                })
            ),
            "{stale:?}"
        );
        // Notify: the file mutator mirrors version 2.
        let dir = tmp.path().join("org");
        let mutators: Vec<Arc<dyn OrgMutator>> = vec![Arc::new(FileMutator::new(&dir))];
        let outcomes = notify_all(&mutators, &v2);
        assert!(outcomes.iter().all(|o| o.ok), "{outcomes:?}");
        // Borrowed mutators work too.
        let file = FileMutator::new(&dir);
        let borrowed: [&dyn OrgMutator; 1] = [&file];
        assert_eq!(notify_all(&borrowed, &v2), outcomes);
        assert_eq!(file.notify(&v2), outcomes[0]);
        assert_eq!(read(&dir.join(CURRENT_FILE)), v2.document);
        // Rolling back with the plan's inverse restores version 1's document.
        let Ok(v3) = store.org_commit(
            Some(v2.id),
            &tier_plan.rollback,
            "meta-loop",
            Some(&tier.id),
            Some("rollback"),
            now,
        ) else {
            panic!("rollback");
        };
        assert_eq!(v3.document, v1.document);
    }

    #[test]
    fn version_file_names_round_trip() {
        assert_eq!(version_file_name(12), "org-v12.json");
        assert_eq!(parse_version_file_name("org-v12.json"), Some(12));
        assert_eq!(parse_version_file_name("org-vx.json"), None);
        assert_eq!(parse_version_file_name("current.json"), None);
    }
}
