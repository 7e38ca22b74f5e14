//! Online backups: a consistent copy of a store while another process (`kaizen serve`) keeps
//! writing to it.
//!
//! [`backup`] opens the store read-only and runs SQLite's `VACUUM INTO` into a temporary file
//! next to the destination. `VACUUM INTO` reads inside one read transaction, so the copy is the
//! store exactly as some committed transaction left it: writers are not blocked (WAL), and a
//! batch of events committed during the copy is either entirely in it or not at all. The copy
//! is checked (`PRAGMA integrity_check`), counted table by table, and only then moved to the
//! destination: an existing file is replaced only when asked (`force`), atomically, and a
//! failed backup leaves no partial file behind.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::{Result, StoreError};

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The store copied.
    pub source: String,
    /// The backup file written.
    pub path: String,
    /// Size of the backup file, bytes.
    pub bytes: u64,
    /// Raw events in the backup.
    pub events: u64,
    /// Every table of the backup with its row count, by name.
    pub tables: Vec<TableRows>,
    /// `PRAGMA integrity_check` of the backup (`ok`).
    pub integrity: String,
}

/// One table and its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
}

/// Copies the store at `source` to `dest` consistently while it may be written (see the module
/// documentation). Refuses when `source` does not exist, and when `dest` exists unless `force`.
pub fn backup(source: &Path, dest: &Path, force: bool) -> Result<BackupReport> {
    if !source.is_file() {
        return Err(StoreError::Refused(format!(
            "no store at {}",
            source.display()
        )));
    }
    if dest.exists() && !force {
        return Err(StoreError::Refused(format!(
            "{} already exists; pass --force to replace it",
            dest.display()
        )));
    }
    if same_file(source, dest) {
        return Err(StoreError::Refused(format!(
            "{} is the store itself",
            dest.display()
        )));
    }
    let tmp = temp_path(dest);
    let _ = std::fs::remove_file(&tmp);
    let written = copy_into(source, &tmp).and_then(|()| inspect(&tmp));
    let report = match written {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if report.1 != "ok" {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Incompatible(format!(
            "the copy of {} failed its integrity check: {}",
            source.display(),
            report.1
        )));
    }
    let placed = if force {
        std::fs::rename(&tmp, dest)
    } else {
        // A hard link never replaces an existing file: a destination created meanwhile wins.
        std::fs::hard_link(&tmp, dest).and_then(|()| std::fs::remove_file(&tmp))
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(StoreError::Refused(format!(
                "{} already exists; pass --force to replace it",
                dest.display()
            )));
        }
        return Err(StoreError::Io(e));
    }
    let (tables, integrity) = report;
    let events = tables
        .iter()
        .find(|t| t.name == "event_segments")
        .map(|_| events_in(dest))
        .transpose()?
        .unwrap_or(0);
    Ok(BackupReport {
        source: source.display().to_string(),
        path: dest.display().to_string(),
        bytes: std::fs::metadata(dest)?.len(),
        events,
        tables,
        integrity,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `DEST.partial` in the destination's directory (so the final rename stays on one file
/// system).
fn temp_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    dest.with_file_name(name)
}

fn read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn copy_into(source: &Path, tmp: &Path) -> Result<()> {
    let conn = read_only(source)?;
    let target = tmp
        .to_str()
        .ok_or_else(|| StoreError::Refused(format!("{} is not a UTF-8 path", tmp.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// The tables of the copy with their rows, and its integrity check.
fn inspect(path: &Path) -> Result<(Vec<TableRows>, String)> {
    let conn = read_only(path)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let rows: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {quoted}"), [], |r| r.get(0))?;
        tables.push(TableRows {
            name,
            rows: u64::try_from(rows).unwrap_or(0),
        });
    }
    Ok((tables, integrity))
}

fn events_in(path: &Path) -> Result<u64> {
    let conn = read_only(path)?;
    let n: i64 = conn.query_row(
        "SELECT coalesce(sum(count), 0) FROM event_segments",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}
