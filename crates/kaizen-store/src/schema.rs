//! The SQLite schema, as ordered migrations embedded in the binary.
//!
//! SQL stays portable where it can (plain tables, `INSERT ... ON CONFLICT`), so that the
//! PostgreSQL backend of a later issue can share it; SQLite-only tuning lives in `open`.

/// Migrations, applied in order; the index + 1 is the schema version. Never edit a released
/// migration: add a new one.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Raw events exactly as accepted, for audit and re-processing, in segments: up to
-- SEGMENT_EVENTS consecutive accepted records of one ingestion, one record per line. Writing
-- one row per segment instead of one per event is what keeps the raw log cheap.
CREATE TABLE event_segments (
    id          INTEGER PRIMARY KEY,
    min_ts      INTEGER NOT NULL,          -- microseconds since the Unix epoch, UTC
    max_ts      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX event_segments_max_ts ON event_segments (max_ts);

-- The id of every accepted event that had one. Kept when retention prunes the raw segments,
-- so a re-sent event is recognised as a duplicate for ever (idempotency).
CREATE TABLE event_ids (
    event_id TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Accepted events per type, all time.
CREATE TABLE event_counts (
    type  TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);

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
"#,
    r#"
-- Versions of the org document (kaizen_core::org). Immutable: a change, an import or a
-- rollback adds a row; none is ever updated or deleted. The current version is the highest id.
CREATE TABLE org_versions (
    id          INTEGER PRIMARY KEY,
    parent      INTEGER NULL REFERENCES org_versions (id),
    created_at  INTEGER NOT NULL,          -- microseconds since the Unix epoch, UTC
    actor       TEXT NOT NULL,
    proposal_id TEXT NULL,
    reason      TEXT NULL,
    changes     TEXT NOT NULL,             -- JSON list of OrgChange, from the parent's document
    document    TEXT NOT NULL              -- JSON OrgDocument, the result
);

CREATE TRIGGER org_versions_no_update BEFORE UPDATE ON org_versions
BEGIN
    SELECT RAISE(ABORT, 'org versions are immutable');
END;

CREATE TRIGGER org_versions_no_delete BEFORE DELETE ON org_versions
BEGIN
    SELECT RAISE(ABORT, 'org versions are immutable');
END;
"#,
    r#"
-- The approval queue (kaizen_store::proposals). One row per queued proposal: what was proposed
-- (`body`, JSON ImprovementProposal) and the guard verdicts (`guards`, JSON list of
-- GuardResult) never change; the status moves along the allowed transitions, each recorded in
-- proposal_transitions. Times are microseconds since the Unix epoch, UTC, from the caller's
-- clock. Rows are never deleted (audit).
CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    cycle_id        TEXT,
    altitude        TEXT NOT NULL,
    rule_name       TEXT NOT NULL,
    status          TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,      -- de-duplication key (proposal_fingerprint)
    risk            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,   -- when it was queued; the rate limit counts these
    updated_at      INTEGER NOT NULL,   -- last status change
    occurrences     INTEGER NOT NULL DEFAULT 1,
    last_seen_at    INTEGER NOT NULL,   -- last time a cycle proposed it (again)
    applied_version INTEGER NULL,       -- the org version its application created
    body            TEXT NOT NULL,
    guards          TEXT NOT NULL
);
CREATE INDEX proposals_status ON proposals (status);
CREATE INDEX proposals_fingerprint ON proposals (fingerprint);
CREATE INDEX proposals_created_at ON proposals (created_at);

CREATE TRIGGER proposals_immutable_columns
BEFORE UPDATE OF id, cycle_id, altitude, rule_name, fingerprint, risk, created_at, body, guards
ON proposals
BEGIN
    SELECT RAISE(ABORT, 'a queued proposal and its guard verdicts are immutable');
END;

CREATE TRIGGER proposals_no_delete BEFORE DELETE ON proposals
BEGIN
    SELECT RAISE(ABORT, 'proposals are kept for audit and cannot be deleted');
END;

-- Every status change of a proposal: who (actor_kind human|agent|system), when, from what,
-- to what and why. Append-only.
CREATE TABLE proposal_transitions (
    id          INTEGER PRIMARY KEY,
    proposal_id TEXT NOT NULL REFERENCES proposals (id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX proposal_transitions_proposal ON proposal_transitions (proposal_id, id);

CREATE TRIGGER proposal_transitions_no_update BEFORE UPDATE ON proposal_transitions
BEGIN
    SELECT RAISE(ABORT, 'proposal transitions are append-only');
END;

CREATE TRIGGER proposal_transitions_no_delete BEFORE DELETE ON proposal_transitions
BEGIN
    SELECT RAISE(ABORT, 'proposal transitions are append-only');
END;

-- One row per improvement cycle; `report` is the cycle service's JSON, opaque to the store.
CREATE TABLE cycles (
    id           TEXT PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER NOT NULL,
    trigger      TEXT NOT NULL,
    dry_run      INTEGER NOT NULL,
    window_since INTEGER NOT NULL,
    window_until INTEGER NOT NULL,
    report       TEXT NOT NULL
);
CREATE INDEX cycles_started_at ON cycles (started_at);
"#,
    // 4: approvals, one per human per proposal (a proposal may need several, by risk).
    r#"
CREATE TABLE proposal_approvals (
    proposal_id TEXT NOT NULL REFERENCES proposals (id),
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT,
    PRIMARY KEY (proposal_id, actor)
) WITHOUT ROWID;
CREATE TRIGGER proposal_approvals_no_update BEFORE UPDATE ON proposal_approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER proposal_approvals_no_delete BEFORE DELETE ON proposal_approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
"#,
    // 5: rollouts (durable state machine per approved proposal), their checks, alerts, and
    // the generation counter that effective-config caches compare.
    r#"
CREATE TABLE rollouts (
    proposal_id     TEXT PRIMARY KEY REFERENCES proposals (id),
    strategy        TEXT NOT NULL,
    state           TEXT NOT NULL,
    base_version    INTEGER NOT NULL REFERENCES org_versions (id),
    changes         TEXT NOT NULL,
    rollback        TEXT NOT NULL,
    reverted        INTEGER NOT NULL DEFAULT 0,
    assignment      TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    window_hours    INTEGER NOT NULL,
    baseline_hours  INTEGER NOT NULL,
    interval_hours  INTEGER NOT NULL,
    checks_done     INTEGER NOT NULL DEFAULT 0,
    detector        TEXT NOT NULL,
    verdict         TEXT,
    applied_version INTEGER REFERENCES org_versions (id),
    updated_at      INTEGER NOT NULL
);
CREATE INDEX rollouts_state ON rollouts (state, started_at);

CREATE TABLE rollout_checks (
    proposal_id   TEXT NOT NULL REFERENCES rollouts (proposal_id),
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    ran_at        INTEGER NOT NULL,
    elapsed_hours INTEGER NOT NULL,
    decision      TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (proposal_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER rollout_checks_no_update BEFORE UPDATE ON rollout_checks
BEGIN SELECT RAISE(ABORT, 'rollout checks are append-only'); END;
CREATE TRIGGER rollout_checks_no_delete BEFORE DELETE ON rollout_checks
BEGIN SELECT RAISE(ABORT, 'rollout checks are append-only'); END;

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    severity        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    proposal_id     TEXT,
    message         TEXT NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT
);

INSERT INTO meta (key, value) VALUES ('config_generation', '0')
    ON CONFLICT (key) DO NOTHING;
CREATE TRIGGER config_generation_org AFTER INSERT ON org_versions
BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'config_generation';
END;
CREATE TRIGGER config_generation_rollout_insert AFTER INSERT ON rollouts
BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'config_generation';
END;
CREATE TRIGGER config_generation_rollout_update AFTER UPDATE OF state, reverted ON rollouts
BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'config_generation';
END;
"#,
    // 6: bearer tokens (kaizen_store::auth) and the append-only audit log.
    r#"
-- Only the SHA-256 of a token's secret is kept; the secret is shown once, at creation.
-- `capabilities` is the JSON list of the grant's canonical patterns. A token is never deleted
-- (the audit log names it) and what it grants never changes; revoking is final.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    kind         TEXT NOT NULL,          -- human | agent
    capabilities TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,       -- microseconds since the Unix epoch, UTC
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    revoked_by   TEXT,
    last_used_at INTEGER
);
CREATE TRIGGER tokens_immutable_columns
BEFORE UPDATE OF id, principal, kind, capabilities, hash, created_at, created_by, expires_at
ON tokens
BEGIN
    SELECT RAISE(ABORT, 'a token''s grant and identity are immutable; revoke it and create another');
END;
CREATE TRIGGER tokens_revocation_is_final
BEFORE UPDATE OF revoked_at, revoked_by ON tokens WHEN OLD.revoked_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a revoked token stays revoked');
END;
CREATE TRIGGER tokens_no_delete BEFORE DELETE ON tokens
BEGIN
    SELECT RAISE(ABORT, 'tokens are kept for audit; revoke instead');
END;

-- Every state change (and every refused attempt) with its actor. Append-only.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    actor_kind TEXT NOT NULL,            -- human | agent | system
    operation  TEXT NOT NULL,            -- e.g. proposals.approve
    target     TEXT,
    outcome    TEXT NOT NULL,            -- ok | refused | error
    before     TEXT,
    after      TEXT,
    detail     TEXT                      -- JSON
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
"#,
    // 7: the loop's memory (never again) and the measured outcomes of applied proposals.
    r#"
-- A human who rejects a proposal may say never to propose the same change again.
ALTER TABLE proposals ADD COLUMN never_again INTEGER NOT NULL DEFAULT 0;
CREATE INDEX proposals_updated ON proposals (updated_at);

-- What an applied proposal achieved, measured at its horizon: one row per proposal, written
-- once (JSON body: kaizen_service::outcomes::Measurement).
CREATE TABLE proposal_outcomes (
    proposal_id TEXT PRIMARY KEY REFERENCES proposals (id),
    measured_at INTEGER NOT NULL,        -- microseconds since the Unix epoch, UTC
    body        TEXT NOT NULL
);
CREATE TRIGGER proposal_outcomes_no_update BEFORE UPDATE ON proposal_outcomes
BEGIN
    SELECT RAISE(ABORT, 'a measured outcome is final');
END;
"#,
    // 8: de-duplicated alerts (kind + dedup key, a count and the last time) and the
    // delivery outbox, one row per alert and sink (kaizen_store::alerts).
    r#"
ALTER TABLE alerts ADD COLUMN dedup_key TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN last_at INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET dedup_key = coalesce(proposal_id, ''), last_at = at;
CREATE INDEX alerts_open ON alerts (kind, dedup_key) WHERE acknowledged_at IS NULL;

-- One delivery per alert and sink (the sink by its configured name). `next_at` is when the
-- next attempt is due (a claimed row's lease end while an attempt runs); `state` is pending,
-- delivered or failed (given up).
CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    sink            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT,
    done_at         INTEGER,
    UNIQUE (alert_id, sink)
);
CREATE INDEX alert_outbox_due ON alert_outbox (state, next_at);
"#,
];

/// Raw records per segment row of `event_segments`.
pub const SEGMENT_EVENTS: usize = 512;

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
