//! kaizen's storage adapter: SQLite (one file, WAL) holding the raw event log, hourly and
//! daily rollups and a few low-volume entity tables.
//!
//! * [`Store::open`] creates or migrates the file (migrations are embedded, see [`schema`]).
//! * [`Store::ingest`] turns NDJSON or a JSON array into stored events and rollups; see
//!   [`ingest`] for the accept/reject semantics.
//! * [`Store::signal_source`] is the read side: a [`kaizen_core::signals::SignalSource`] the
//!   snapshot builder runs its aggregators on, concurrently, over pooled read connections.
//! * [`backup::backup`] writes a consistent copy of a store while another process writes to it.
//! * [`Store::in_tx`] is the unit of work: the store operations called inside it are one
//!   transaction (each one a savepoint in it), committed when it returns `Ok` and rolled back
//!   entirely when it returns `Err`.
//!
//! Architecture invariant: this crate knows SQL and the event wire format, but no rules,
//! no CLI and no HTTP. The arithmetic of snapshots lives in `kaizen-core`.

pub mod alerts;
pub mod auth;
pub mod backup;
pub mod baseline;
pub mod ingest;
pub mod mutators;
pub mod org;
pub mod parse;
pub mod proposals;
pub mod rollouts;
pub mod schema;
mod source;

use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use kaizen_core::error::ErrorKind;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Savepoint, Transaction, TransactionBehavior, params,
};

pub use ingest::{IngestOptions, IngestReport, InputFormat, Rejected};
pub use source::StoreReader;

/// Settings of the writing connection: WAL, fsync at checkpoints only, a 64 MiB page cache.
pub(crate) const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = NORMAL;
     PRAGMA busy_timeout = 5000;
     PRAGMA temp_store = MEMORY;
     PRAGMA cache_size = -65536;
     PRAGMA wal_autocheckpoint = 16384;";

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (one that means the store cannot be written — a full
    /// disk, a read-only or unopenable file, an I/O failure — says so first).
    #[error("{}", sqlite_message(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// Reading the input failed.
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a kaizen store, or is newer than this binary.
    #[error("{0}")]
    Incompatible(String),
    /// An operation was refused, with the reason.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// What kind of failure it is: a busy or locked database, and one that cannot be written
    /// (full disk, read-only or unopenable file, I/O failure), is [`ErrorKind::Unavailable`]
    /// (retry later), any other database or IO failure and an incompatible or unreadable file
    /// [`ErrorKind::Internal`], a refused operation [`ErrorKind::Invalid`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Sqlite(e) => sqlite_kind(e),
            StoreError::Io(_) | StoreError::Incompatible(_) => ErrorKind::Internal,
            StoreError::Refused(_) => ErrorKind::Invalid,
        }
    }

    /// Whether the caller's input is at fault ([`StoreError::kind`] is a caller error).
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }
}

/// The kind of an SQLite failure: busy or locked, and the failures that mean the store cannot
/// be written now ([`unwritable`]), are [`ErrorKind::Unavailable`]; anything else (including a
/// constraint a trigger raised: the store checks its rules before writing, so a trigger firing
/// is a bug or an outside change) [`ErrorKind::Internal`].
pub(crate) fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            ErrorKind::Unavailable
        }
        _ if unwritable(e).is_some() => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// Why the store cannot be written, when `e` says so: SQLite's `SQLITE_FULL` (the disk, a quota
/// or a file size limit is full), `SQLITE_READONLY`, `SQLITE_CANTOPEN` and `SQLITE_IOERR` (the
/// operating system refused a read, write or sync).
pub fn unwritable(e: &rusqlite::Error) -> Option<&'static str> {
    match e.sqlite_error_code()? {
        rusqlite::ErrorCode::DiskFull => Some("the disk or the file size limit is full"),
        rusqlite::ErrorCode::ReadOnly => Some("the database is read-only"),
        rusqlite::ErrorCode::CannotOpen => Some("a database file cannot be opened"),
        rusqlite::ErrorCode::SystemIoFailure => Some("the operating system refused the I/O"),
        _ => None,
    }
}

/// The message of an SQLite failure: one that means the store cannot be written says so.
fn sqlite_message(e: &rusqlite::Error) -> String {
    match unwritable(e) {
        Some(why) => format!("the store cannot be written ({why}): {e}"),
        None => format!("database error: {e}"),
    }
}

/// A result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The transaction of one store operation: its own when no unit of work is open, else a
/// savepoint inside the caller's unit of work ([`Store::in_tx`]), so that a refused operation
/// undoes its own writes and nothing else. Dropped without [`WriteTx::commit`], it rolls back.
pub(crate) enum WriteTx<'a> {
    /// A transaction of its own.
    Own(Transaction<'a>),
    /// A savepoint in the unit of work.
    Nested(Savepoint<'a>),
}

impl Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::Nested(sp) => sp,
        }
    }
}

impl WriteTx<'_> {
    /// Commits the transaction (releases the savepoint: the unit of work commits it).
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Own(tx) => tx.commit(),
            WriteTx::Nested(sp) => sp.commit(),
        }
    }
}

/// The savepoint a nested [`Store::in_tx`] opens.
const UNIT_SAVEPOINT: &str = "kaizen_unit";

/// The kaizen store.
pub struct Store {
    path: PathBuf,
    conn: Connection,
    reader: StoreReader,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What `kaizen store stats` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoreStats {
    /// The database file.
    pub path: String,
    /// Schema version.
    pub schema_version: i64,
    /// Size of the database file (without WAL), bytes.
    pub file_bytes: u64,
    /// Raw events retained (not yet pruned by retention).
    pub events: u64,
    /// Events accepted per type, all time (pruning does not lower these).
    pub events_by_type: Vec<(String, u64)>,
    /// Raw event segments retained.
    pub segments: u64,
    /// Distinct event ids remembered for idempotency.
    pub event_ids: u64,
    /// Oldest stored raw event.
    pub oldest_event: Option<DateTime<Utc>>,
    /// Newest stored raw event.
    pub newest_event: Option<DateTime<Utc>>,
    /// Rollup rows (hourly + daily).
    pub rollup_rows: u64,
    /// Interned rollup keys.
    pub rollup_keys: u64,
    /// Agents known.
    pub agents: u64,
    /// Raw events before this instant were pruned by retention.
    pub pruned_before: Option<DateTime<Utc>>,
}

/// The wire names of the items of `all` that `keep` selects, quoted and comma-separated for an
/// SQL `IN (…)` list: how the store turns a lifecycle rule into a query without a second copy
/// of it. (Wire names are fixed identifiers, never input.)
pub(crate) fn sql_list<T: Copy>(
    all: &[T],
    keep: impl Fn(T) -> bool,
    name: impl Fn(T) -> &'static str,
) -> String {
    all.iter()
        .copied()
        .filter(|t| keep(*t))
        .map(|t| format!("'{}'", name(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn micros_to_time(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

impl Store {
    /// Opens the store at `path`, creating and migrating it as needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        conn.execute_batch(WRITER_PRAGMAS)?;
        let mut store = Store {
            reader: StoreReader {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
            },
            path,
            conn,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An immediate write transaction of one operation (a savepoint inside a unit of work).
    pub(crate) fn write_tx(&mut self) -> rusqlite::Result<WriteTx<'_>> {
        self.tx_with(TransactionBehavior::Immediate)
    }

    /// A deferred transaction for a consistent read (a savepoint inside a unit of work).
    pub(crate) fn read_tx(&mut self) -> rusqlite::Result<WriteTx<'_>> {
        self.tx_with(TransactionBehavior::Deferred)
    }

    fn tx_with(&mut self, behavior: TransactionBehavior) -> rusqlite::Result<WriteTx<'_>> {
        if self.conn.is_autocommit() {
            Ok(WriteTx::Own(self.conn.transaction_with_behavior(behavior)?))
        } else {
            Ok(WriteTx::Nested(self.conn.savepoint()?))
        }
    }

    /// Runs `f` as one unit of work: every store operation it calls on the store it is given
    /// is part of one immediate transaction, committed when `f` returns `Ok` and rolled back
    /// entirely (every operation's writes) when it returns `Err` or panics. An operation that
    /// `f` calls and that fails undoes only its own writes (each runs in a savepoint), so `f`
    /// may treat a refusal as an outcome and go on. Called inside another unit of work, it is
    /// a savepoint of that one. Read connections of [`Store::signal_source`] do not see its
    /// writes before the commit. Ingestion ([`Store::ingest`]) and pruning commit in
    /// transactions of their own and are refused by SQLite inside a unit.
    pub fn in_tx<T, E>(&mut self, f: impl FnOnce(&mut Store) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let outermost = self.conn.is_autocommit();
        let begin = if outermost {
            "BEGIN IMMEDIATE".to_owned()
        } else {
            format!("SAVEPOINT {UNIT_SAVEPOINT}")
        };
        self.conn
            .execute_batch(&begin)
            .map_err(|e| E::from(StoreError::Sqlite(e)))?;
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(Ok(value)) => {
                let commit = if outermost {
                    "COMMIT".to_owned()
                } else {
                    format!("RELEASE {UNIT_SAVEPOINT}")
                };
                if let Err(e) = self.conn.execute_batch(&commit) {
                    self.abandon_unit(outermost);
                    return Err(E::from(StoreError::Sqlite(e)));
                }
                Ok(value)
            }
            Ok(Err(e)) => {
                self.abandon_unit(outermost);
                Err(e)
            }
            Err(panic) => {
                self.abandon_unit(outermost);
                resume_unwind(panic)
            }
        }
    }

    /// Rolls back the unit of work [`Store::in_tx`] opened (unless SQLite already did).
    fn abandon_unit(&mut self, outermost: bool) {
        if self.conn.is_autocommit() {
            return;
        }
        let rollback = if outermost {
            "ROLLBACK".to_owned()
        } else {
            format!("ROLLBACK TO {UNIT_SAVEPOINT}; RELEASE {UNIT_SAVEPOINT}")
        };
        if let Err(e) = self.conn.execute_batch(&rollback) {
            tracing::error!(error = %e, "rolling back a unit of work failed");
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let latest = schema::MIGRATIONS.len() as i64;
        if version > latest {
            return Err(StoreError::Incompatible(format!(
                "{} has schema version {version}, newer than this kaizen understands ({latest}); upgrade kaizen",
                self.path.display()
            )));
        }
        if version == 0 {
            let tables: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(StoreError::Incompatible(format!(
                    "{} is an SQLite database but not a kaizen store",
                    self.path.display()
                )));
            }
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The read side, for snapshots. Cheap to create; uses pooled read-only connections.
    pub fn signal_source(&self) -> &StoreReader {
        &self.reader
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<StoreStats> {
        let c = &self.conn;
        let count =
            |sql: &str| -> Result<u64> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        let mut by_type = Vec::new();
        let mut stmt = c.prepare("SELECT type, count FROM event_counts ORDER BY type")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            by_type.push(row?);
        }
        let (oldest, newest): (Option<i64>, Option<i64>) = c.query_row(
            "SELECT min(min_ts), max(max_ts) FROM event_segments",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(StoreStats {
            path: self.path.display().to_string(),
            schema_version: c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
            file_bytes: std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
            events: count("SELECT coalesce(sum(count), 0) FROM event_segments")?,
            segments: count("SELECT count(*) FROM event_segments")?,
            event_ids: count("SELECT count(*) FROM event_ids")?,
            events_by_type: by_type,
            oldest_event: oldest.map(micros_to_time),
            newest_event: newest.map(micros_to_time),
            rollup_rows: count("SELECT count(*) FROM rollups")?,
            rollup_keys: count("SELECT count(*) FROM rollup_keys")?,
            agents: count("SELECT count(*) FROM agents")?,
            pruned_before: self.pruned_before()?,
        })
    }

    pub(crate) fn pruned_before(&self) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'pruned_before'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|s| s.parse::<i64>().ok()).map(micros_to_time))
    }

    /// Deletes the raw events older than `before`: whole segments where every event is older,
    /// and the older lines of segments that straddle `before`. Rollups, entities and the ids
    /// kept for idempotency stay. Returns how many raw events were deleted.
    pub fn prune_raw_events(&mut self, before: DateTime<Utc>) -> Result<u64> {
        let cutoff = before.timestamp_micros();
        let tx = self.conn.transaction()?;
        let whole: i64 = tx.query_row(
            "SELECT coalesce(sum(count), 0) FROM event_segments WHERE max_ts < ?1",
            params![cutoff],
            |r| r.get(0),
        )?;
        tx.execute(
            "DELETE FROM event_segments WHERE max_ts < ?1",
            params![cutoff],
        )?;
        let straddling: Vec<(i64, String)> = tx
            .prepare("SELECT id, body FROM event_segments WHERE min_ts < ?1")?
            .query_map(params![cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut partial = 0u64;
        for (id, body) in straddling {
            let mut kept = Vec::new();
            let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
            for line in body.lines() {
                let ts = parse::record_ts(line).ok_or_else(|| {
                    StoreError::Incompatible(format!(
                        "a stored event of segment {id} has no readable ts"
                    ))
                })?;
                if ts < cutoff {
                    partial += 1;
                } else {
                    kept.push(line);
                    min_ts = min_ts.min(ts);
                    max_ts = max_ts.max(ts);
                }
            }
            tx.execute(
                "UPDATE event_segments SET body = ?2, count = ?3, min_ts = ?4, max_ts = ?5 WHERE id = ?1",
                params![id, kept.join("\n"), kept.len() as i64, min_ts, max_ts],
            )?;
        }
        let deleted = whole as u64 + partial;
        if deleted > 0 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('pruned_before', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                params![cutoff.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(deleted)
    }
}

pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.execute_batch(
        "PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -32768;
         PRAGMA mmap_size = 268435456;",
    )?;
    Ok(conn)
}
