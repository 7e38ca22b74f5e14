//! The SQLite schema, as ordered migrations embedded in the binary.
//!
//! SQL stays portable where it can (plain tables, `INSERT ... ON CONFLICT`), so that the
//! PostgreSQL backend of a later issue can share it; SQLite-only tuning lives in `open`.

/// Migrations, applied in order; the index + 1 is the schema version. Never edit a released
/// migration: add a new one.
pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Raw events exactly as accepted, for audit and re-processing. `event_id` makes ingestion
-- idempotent (NULLs do not collide).
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT UNIQUE,
    type        TEXT NOT NULL,
    ts          INTEGER NOT NULL,          -- microseconds since the Unix epoch, UTC
    body        TEXT NOT NULL,
    ingested_at INTEGER NOT NULL
);
CREATE INDEX events_ts ON events (ts);

-- Interned rollup keys (agent ids, categories, ...), per dimension.
CREATE TABLE rollup_keys (
    id  INTEGER PRIMARY KEY,
    dim INTEGER NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (dim, key)
);

-- Summary statistics per resolution (0 = hour, 1 = day), stream, dimension, bucket and key.
-- `stats` packs (n, sum, sumsq, min, max) as little-endian f64 for each signal of the stream.
CREATE TABLE rollups (
    res    INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    dim    INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    stats  BLOB NOT NULL,
    PRIMARY KEY (res, stream, dim, bucket, key_id)
) WITHOUT ROWID;

-- Low-volume entities, kept as long as rollups.
CREATE TABLE agents (
    agent_id   TEXT PRIMARY KEY,
    department TEXT NOT NULL,
    role       TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);

CREATE TABLE scaling_decisions (
    decision_id     TEXT PRIMARY KEY,
    ts              INTEGER NOT NULL,
    action          TEXT NOT NULL,
    source_strategy TEXT NOT NULL,
    signal          TEXT NOT NULL,
    rationale       TEXT
);
CREATE INDEX scaling_decisions_ts ON scaling_decisions (ts);

CREATE TABLE scaling_outcomes (
    decision_id TEXT PRIMARY KEY,
    ts          INTEGER NOT NULL,
    outcome     TEXT NOT NULL
);

CREATE TABLE budget_status (
    ts                INTEGER NOT NULL,
    monthly_limit_usd REAL NOT NULL,
    remaining_usd     REAL NOT NULL
);
CREATE INDEX budget_status_ts ON budget_status (ts);

CREATE TABLE evolution_outcomes (
    ts          INTEGER NOT NULL,
    agent_id    TEXT NOT NULL,
    axis        TEXT NOT NULL,
    applied     INTEGER NOT NULL,
    proposed_at INTEGER NOT NULL
);
CREATE INDEX evolution_outcomes_ts ON evolution_outcomes (ts);

CREATE TABLE benchmark_runs (
    ts          INTEGER NOT NULL,
    suite       TEXT NOT NULL,
    total_score REAL NOT NULL
);
CREATE INDEX benchmark_runs_ts ON benchmark_runs (ts);
"#];

/// Tables derived from raw events (cleared and refilled by a rollup rebuild).
pub const DERIVED_TABLES: &[&str] = &[
    "rollups",
    "rollup_keys",
    "agents",
    "scaling_decisions",
    "scaling_outcomes",
    "budget_status",
    "evolution_outcomes",
    "benchmark_runs",
];
