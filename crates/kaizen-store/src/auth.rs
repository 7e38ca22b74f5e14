//! Bearer tokens and the audit log.
//!
//! * [`Store::token_create`] issues a token for a person or an agent with a
//!   [`Grant`](kaizen_core::auth::Grant): a random id (`tok_` + 12 hex) and a secret (`kz_` +
//!   43 URL-safe base64 characters of 32 random bytes from the operating system), shown once.
//!   Only the SHA-256 of the secret is stored.
//! * [`Store::token_authenticate`] turns a presented secret into an [`Authenticated`]
//!   principal, or says why not ([`AuthError::Malformed`], [`AuthError::UnknownToken`],
//!   [`AuthError::Revoked`], [`AuthError::Expired`]); no error ever echoes the secret.
//! * [`Store::token_revoke`] ends a token for good; [`Store::tokens`] lists them (never with
//!   hashes or secrets); [`Store::token_touch`] records use; [`Store::token_count_active`]
//!   tells whether anyone can still log in.
//! * [`Store::audit_append`] and [`Store::audit`]: the append-only audit log of state changes
//!   and refused attempts, each with its actor. Triggers refuse updates and deletes.
//!
//! Tokens are never deleted (the audit log names them), what a token grants never changes,
//! and revoking is final: triggers enforce all three.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kaizen_core::auth::{Capability, Grant};
use kaizen_core::error::ErrorKind;
use kaizen_core::lifecycle;
use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::proposals::ActorKind;
use crate::{Store, StoreError, micros_to_time};

/// What every token secret starts with (it makes leaked tokens easy to recognise and scan for).
pub const SECRET_PREFIX: &str = "kz_";
/// What every token id starts with.
pub const ID_PREFIX: &str = "tok_";
/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;
/// Length of a secret: the prefix and 43 base64 characters (32 bytes, no padding).
const SECRET_LEN: usize = SECRET_PREFIX.len() + 43;
/// Random bytes in a token id (12 hex characters).
const ID_BYTES: usize = 6;
/// The longest principal, creator or actor name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// The longest audit operation name accepted, in bytes.
pub const MAX_OPERATION_LEN: usize = 100;

/// A token to issue.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// Who the token is for (a login, an agent id).
    pub principal: &'a str,
    /// [`ActorKind::Human`] or [`ActorKind::Agent`]; [`ActorKind::System`] is refused.
    pub kind: ActorKind,
    /// What it may do.
    pub grant: &'a Grant,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who issues it.
    pub created_by: &'a str,
}

/// A token just issued. The secret exists nowhere else: show it once and drop it.
#[derive(Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct IssuedToken {
    /// The token's id (`tok_…`), for listing and revoking.
    pub id: String,
    /// The bearer secret (`kz_…`).
    pub secret: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether a token works.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TokenState {
    /// Not revoked and not expired.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked (final).
    Revoked,
}

impl TokenState {
    /// The wire name (`active`, `expired`, `revoked`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A stored token as listings show it: never its hash or secret.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TokenInfo {
    /// Token id (`tok_…`).
    pub id: String,
    /// Who it is for.
    pub principal: String,
    /// Human or agent.
    pub kind: ActorKind,
    /// Its grant, as canonical patterns.
    pub capabilities: Vec<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Who issued it.
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// When it was last used (recorded by [`Store::token_touch`], which callers may
    /// rate-limit, so this can lag).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// Whether the token works at `now`. Revoked beats expired.
    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// The principal behind a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The token used.
    pub token_id: String,
    /// Who it is for.
    pub principal: String,
    /// Human or agent.
    pub kind: ActorKind,
    /// What the token grants.
    pub grant: Grant,
    /// When the token stops working, if ever (callers that cache an authentication check it).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Authenticated {
    /// Whether this principal may do what `needed` names: the grant allows it and the
    /// principal's kind may exercise the action at all ([`lifecycle::may_exercise`]: an
    /// [`kaizen_core::auth::Action::Approve`] only if it [`lifecycle::may_approve`]). Approving is a human
    /// decision whatever a token's patterns say (an agent's `*` does not reach it).
    pub fn allows(&self, needed: &Capability) -> bool {
        self.grant.allows(needed) && lifecycle::may_exercise(self.kind, needed.action)
    }

    /// Whether the principal is a person.
    pub fn is_human(&self) -> bool {
        self.kind == ActorKind::Human
    }
}

/// Why a token operation failed. Nothing was written when one is returned, and no message
/// contains a presented secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The presented secret is not shaped like a kaizen token.
    #[error("malformed token: a kaizen token is `kz_` followed by 43 URL-safe base64 characters")]
    Malformed,
    /// No token has this secret.
    #[error("unknown token")]
    UnknownToken,
    /// The token was revoked.
    #[error("token {id} was revoked at {at}")]
    Revoked {
        /// The token.
        id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The token expired.
    #[error("token {id} expired at {at}")]
    Expired {
        /// The token.
        id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// No token has this id (revoking).
    #[error("{}", unknown_id(.0))]
    UnknownId(String),
    /// Revoking a token that is already revoked.
    #[error("token {id} was already revoked at {at} by {by}")]
    AlreadyRevoked {
        /// The token.
        id: String,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: String,
    },
    /// A bad argument (blank principal, a system token, an expiry in the past, …).
    #[error("{0}")]
    BadInput(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Entropy(String),
    /// A stored token could not be read back.
    #[error("stored token {id} is unreadable: {message}")]
    Corrupt {
        /// The token.
        id: String,
        /// What failed.
        message: String,
    },
}

impl AuthError {
    /// What kind of failure it is: a refused credential is [`ErrorKind::Unauthenticated`], an
    /// unknown token id [`ErrorKind::NotFound`], revoking a revoked token a conflict.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Store(e) => e.kind(),
            AuthError::Malformed
            | AuthError::UnknownToken
            | AuthError::Revoked { .. }
            | AuthError::Expired { .. } => ErrorKind::Unauthenticated,
            AuthError::UnknownId(_) => ErrorKind::NotFound,
            AuthError::AlreadyRevoked { .. } => ErrorKind::Conflict,
            AuthError::BadInput(_) => ErrorKind::Invalid,
            AuthError::Entropy(_) | AuthError::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    /// Whether the caller's input is at fault (as opposed to the database or the system):
    /// [`AuthError::kind`] is a caller error.
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }

    /// Whether this is a refused credential (malformed, unknown, revoked or expired): what a
    /// server answers 401 to.
    pub fn is_unauthenticated(&self) -> bool {
        self.kind() == ErrorKind::Unauthenticated
    }
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Store(StoreError::Sqlite(e))
    }
}

fn unknown_id(id: &str) -> String {
    if id.starts_with(SECRET_PREFIX) {
        // Someone pasted a secret where an id goes: do not print it back.
        return "that is a token's secret, not its id; ids start with `tok_` (`kaizen token list` shows them)".to_owned();
    }
    let shown: String = id.chars().take(40).collect();
    format!("no token with id {shown:?}; `kaizen token list --all` shows them")
}

/// The result of an outcome recorded in the audit log.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    serde::Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_audit_outcome)]
pub enum AuditOutcome {
    /// It happened.
    Ok,
    /// It was refused (not allowed, bad input, a conflict).
    Refused,
    /// It failed.
    Error,
}

impl AuditOutcome {
    /// Every outcome.
    pub const ALL: [AuditOutcome; 3] =
        [AuditOutcome::Ok, AuditOutcome::Refused, AuditOutcome::Error];

    /// The wire name (`ok`, `refused`, `error`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The parse error of [`AuditOutcome`]: names the valid values.
fn unknown_audit_outcome(s: &str) -> String {
    format!("unknown audit outcome {s:?}; expected ok, refused or error")
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry<'a> {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: &'a str,
    /// What kind of principal.
    pub actor_kind: ActorKind,
    /// What was done: dot-separated lower-case names, e.g. `proposals.approve`,
    /// `tokens.create`.
    pub operation: &'a str,
    /// What it was done to (a proposal id, a token id, …).
    pub target: Option<&'a str>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The state before (free text or JSON, the operation's choice).
    pub before: Option<&'a str>,
    /// The state after.
    pub after: Option<&'a str>,
    /// Anything else (a reason, the refusal's message, the request).
    pub detail: Option<serde_json::Value>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditRecord {
    /// Its position in the log (increasing).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: String,
    /// What kind of principal.
    pub actor_kind: ActorKind,
    /// What was done.
    pub operation: String,
    /// What it was done to.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The state before.
    pub before: Option<String>,
    /// The state after.
    pub after: Option<String>,
    /// Anything else.
    pub detail: Option<serde_json::Value>,
}

/// Which audit entries [`Store::audit`] returns. Every filter is optional; they combine with
/// "and".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery<'a> {
    /// Only this actor (exact).
    pub actor: Option<&'a str>,
    /// Only this operation or the operations under it: `proposals` matches `proposals` and
    /// `proposals.approve`, not `proposals_archive.read` (whole dot-separated segments).
    pub operation: Option<&'a str>,
    /// Only this target (exact).
    pub target: Option<&'a str>,
    /// Only entries at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    pub until: Option<DateTime<Utc>>,
    /// At most this many entries (default 100).
    pub limit: usize,
    /// Skip this many of the newest matching entries first.
    pub offset: usize,
}

impl Default for AuditQuery<'_> {
    fn default() -> Self {
        Self {
            actor: None,
            operation: None,
            target: None,
            since: None,
            until: None,
            limit: 100,
            offset: 0,
        }
    }
}

fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Entropy(e.to_string()))?;
    Ok(buf)
}

/// The SHA-256 of a well-formed secret, or [`AuthError::Malformed`]. A fast hash is right
/// here: secrets are 256 random bits, so there is nothing to brute-force that a slow password
/// hash would protect.
fn secret_hash(secret: &str) -> Result<[u8; 32], AuthError> {
    let body = secret
        .strip_prefix(SECRET_PREFIX)
        .filter(|_| secret.len() == SECRET_LEN)
        .ok_or(AuthError::Malformed)?;
    match URL_SAFE_NO_PAD.decode(body) {
        Ok(bytes) if bytes.len() == SECRET_BYTES => Ok(Sha256::digest(secret.as_bytes()).into()),
        _ => Err(AuthError::Malformed),
    }
}

/// A person's or agent's name: trimmed, not blank, not too long, no control characters.
fn check_name(what: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("{what} must not be blank"));
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{what} is longer than {MAX_NAME_CHARS} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(v.to_owned())
}

fn check_operation(op: &str) -> Result<(), String> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if op.len() > MAX_OPERATION_LEN || !op.split('.').all(segment_ok) {
        let shown: String = op.chars().take(40).collect();
        return Err(format!(
            "audit operation {shown:?} must be dot-separated names of a-z, 0-9, _ and - (e.g. proposals.approve), at most {MAX_OPERATION_LEN} bytes"
        ));
    }
    Ok(())
}

fn corrupt(id: &str, message: impl Into<String>) -> AuthError {
    AuthError::Corrupt {
        id: id.to_owned(),
        message: message.into(),
    }
}

fn kind_of(id: &str, s: &str) -> Result<ActorKind, AuthError> {
    match s.parse::<ActorKind>() {
        Ok(k @ (ActorKind::Human | ActorKind::Agent)) => Ok(k),
        Ok(ActorKind::System) => Err(corrupt(id, "a token of kind system")),
        Err(e) => Err(corrupt(id, format!("kind: {e}"))),
    }
}

fn capabilities_of(id: &str, json: &str) -> Result<Grant, AuthError> {
    let patterns: Vec<String> =
        serde_json::from_str(json).map_err(|e| corrupt(id, format!("capabilities: {e}")))?;
    Grant::parse(&patterns).map_err(|e| corrupt(id, format!("capabilities: {e}")))
}

const INFO_COLUMNS: &str = "id, principal, kind, capabilities, created_at, created_by, expires_at,
     revoked_at, revoked_by, last_used_at";

type InfoRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn read_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<InfoRow> {
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
}

fn decode_info(row: InfoRow) -> Result<TokenInfo, AuthError> {
    let (id, principal, kind, caps, created, created_by, expires, revoked, revoked_by, used) = row;
    Ok(TokenInfo {
        kind: kind_of(&id, &kind)?,
        capabilities: capabilities_of(&id, &caps)?.patterns(),
        principal,
        created_at: micros_to_time(created),
        created_by,
        expires_at: expires.map(micros_to_time),
        revoked_at: revoked.map(micros_to_time),
        revoked_by,
        last_used_at: used.map(micros_to_time),
        id,
    })
}

fn clamp_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn audit_corrupt(id: i64, message: String) -> StoreError {
    StoreError::Incompatible(format!("audit entry {id} is unreadable: {message}"))
}

impl Store {
    /// Issues a token at `now` and returns its id and secret (the only time the secret is
    /// seen; only its SHA-256 is stored). Refused: a blank principal or creator, a
    /// [`ActorKind::System`] token, an agent token whose grant names `approve` (approving is
    /// a human decision), an expiry not after `now`.
    pub fn token_create(
        &mut self,
        new: &NewToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let principal = check_name("the principal", new.principal).map_err(AuthError::BadInput)?;
        let created_by = check_name("the creator", new.created_by).map_err(AuthError::BadInput)?;
        if new.kind == ActorKind::System {
            return Err(AuthError::BadInput(
                "tokens are for humans and agents; kaizen itself (system) needs none".to_owned(),
            ));
        }
        if new.grant.names_approve() && !lifecycle::may_approve(new.kind) {
            return Err(AuthError::BadInput(format!(
                "an {} token cannot be granted approve ({}): approving is a human decision; agents propose and read",
                new.kind, new.grant
            )));
        }
        if let Some(e) = new.expires_at
            && e <= now
        {
            return Err(AuthError::BadInput(format!(
                "the expiry {e} is not after now ({now})"
            )));
        }
        let capabilities = serde_json::to_string(&new.grant.patterns())
            .map_err(|e| AuthError::BadInput(format!("encoding the capabilities: {e}")))?;
        let tx = self.write_tx()?;
        // 48 random bits: a clash is all but impossible, but cheap to rule out.
        let mut id = String::new();
        for _ in 0..8 {
            let candidate = format!(
                "{ID_PREFIX}{}",
                random::<ID_BYTES>()?
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let taken = tx
                .query_row(
                    "SELECT 1 FROM tokens WHERE id = ?1",
                    params![candidate],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !taken {
                id = candidate;
                break;
            }
        }
        if id.is_empty() {
            return Err(AuthError::Entropy(
                "eight random token ids in a row were taken".to_owned(),
            ));
        }
        let secret = format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random::<SECRET_BYTES>()?)
        );
        let hash = secret_hash(&secret)?;
        tx.execute(
            "INSERT INTO tokens (id, principal, kind, capabilities, hash, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                principal,
                new.kind.as_str(),
                capabilities,
                hash.as_slice(),
                now.timestamp_micros(),
                created_by,
                new.expires_at.map(|e| e.timestamp_micros())
            ],
        )?;
        tx.commit()?;
        Ok(IssuedToken { id, secret })
    }

    /// The principal behind `secret` at `now`. The secret is looked up by its hash (an index
    /// lookup in SQLite, no comparison of secrets here). Refused, with distinct errors that
    /// never contain the secret: [`AuthError::Malformed`] (not shaped like a kaizen token),
    /// [`AuthError::UnknownToken`], [`AuthError::Revoked`], [`AuthError::Expired`] (revoked
    /// wins when both apply). Does not record the use: call [`Store::token_touch`].
    pub fn token_authenticate(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Authenticated, AuthError> {
        let hash = secret_hash(secret)?;
        type Row = (String, String, String, String, Option<i64>, Option<i64>);
        // Cached: agent runtimes authenticate on every request.
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT id, principal, kind, capabilities, expires_at, revoked_at
                 FROM tokens WHERE hash = ?1",
            )?
            .query_row(params![hash.as_slice()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        let (id, principal, kind, caps, expires, revoked) = row.ok_or(AuthError::UnknownToken)?;
        if let Some(at) = revoked {
            return Err(AuthError::Revoked {
                id,
                at: micros_to_time(at),
            });
        }
        if let Some(at) = expires
            && at <= now.timestamp_micros()
        {
            return Err(AuthError::Expired {
                id,
                at: micros_to_time(at),
            });
        }
        Ok(Authenticated {
            kind: kind_of(&id, &kind)?,
            grant: capabilities_of(&id, &caps)?,
            principal,
            token_id: id,
            expires_at: expires.map(micros_to_time),
        })
    }

    /// Records that token `id` was used at `now` (only moves forward; revoked tokens are left
    /// alone). Best effort: returns whether anything changed, and an unknown id is not an
    /// error. Callers on a hot path may call it at most once a minute per token.
    pub fn token_touch(&mut self, id: &str, now: DateTime<Utc>) -> crate::Result<bool> {
        let changed = self.conn.execute(
            "UPDATE tokens SET last_used_at = ?2
             WHERE id = ?1 AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at < ?2)",
            params![id, now.timestamp_micros()],
        )?;
        Ok(changed > 0)
    }

    /// Token `id`, or `None`.
    pub fn token(&self, id: &str) -> Result<Option<TokenInfo>, AuthError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {INFO_COLUMNS} FROM tokens WHERE id = ?1"),
                params![id],
                read_info,
            )
            .optional()?;
        row.map(decode_info).transpose()
    }

    /// The tokens, newest first: those not revoked (expired ones included), or all.
    pub fn tokens(&self, include_revoked: bool) -> Result<Vec<TokenInfo>, AuthError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {INFO_COLUMNS} FROM tokens WHERE ?1 OR revoked_at IS NULL
             ORDER BY created_at DESC, rowid DESC"
        ))?;
        let rows = stmt
            .query_map(params![include_revoked], read_info)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode_info).collect()
    }

    /// Revokes token `id` at `now`, recording `by`. Final. Refused: an unknown id, a token
    /// already revoked, a blank `by`.
    pub fn token_revoke(
        &mut self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let by = check_name("the revoker", by).map_err(AuthError::BadInput)?;
        let tx = self.write_tx()?;
        let row: Option<(Option<i64>, Option<String>)> = tx
            .query_row(
                "SELECT revoked_at, revoked_by FROM tokens WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => return Err(AuthError::UnknownId(id.to_owned())),
            Some((Some(at), who)) => {
                return Err(AuthError::AlreadyRevoked {
                    id: id.to_owned(),
                    at: micros_to_time(at),
                    by: who.unwrap_or_default(),
                });
            }
            Some((None, _)) => {}
        }
        tx.execute(
            "UPDATE tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1",
            params![id, now.timestamp_micros(), by],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// How many tokens work at `now` (neither revoked nor expired). Zero means nobody can log
    /// in, which is when a server creates its first admin token.
    pub fn token_count_active(&self, now: DateTime<Utc>) -> crate::Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM tokens
             WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)",
            params![now.timestamp_micros()],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Appends `e` to the audit log; returns its id. Refused: a blank or overlong actor, an
    /// operation that is not dot-separated `[a-z0-9_-]+` names.
    pub fn audit_append(&mut self, e: &AuditEntry<'_>) -> crate::Result<i64> {
        let actor = check_name("the audit actor", e.actor).map_err(StoreError::Refused)?;
        check_operation(e.operation).map_err(StoreError::Refused)?;
        let detail = e
            .detail
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| StoreError::Refused(format!("encoding the audit detail: {err}")))?;
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, actor_kind, operation, target, outcome, before, after, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                e.at.timestamp_micros(),
                actor,
                e.actor_kind.as_str(),
                e.operation,
                e.target,
                e.outcome.as_str(),
                e.before,
                e.after,
                detail
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The audit entries matching `q`, newest first (by time, then by id), from `q.offset`,
    /// at most `q.limit`; and how many match in total.
    pub fn audit(&self, q: &AuditQuery<'_>) -> crate::Result<(Vec<AuditRecord>, u64)> {
        const FILTER: &str = "(?1 IS NULL OR actor = ?1)
             AND (?2 IS NULL OR operation = ?2 OR substr(operation, 1, length(?2) + 1) = ?2 || '.')
             AND (?3 IS NULL OR target = ?3)
             AND (?4 IS NULL OR at >= ?4)
             AND (?5 IS NULL OR at < ?5)";
        let operation = q.operation.map(|o| o.trim().trim_end_matches('.'));
        let since = q.since.map(|t| t.timestamp_micros());
        let until = q.until.map(|t| t.timestamp_micros());
        let total: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM audit_log WHERE {FILTER}"),
            params![q.actor, operation, q.target, since, until],
            |r| r.get(0),
        )?;
        type Row = (
            i64,
            i64,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, at, actor, actor_kind, operation, target, outcome, before, after, detail
             FROM audit_log WHERE {FILTER} ORDER BY at DESC, id DESC LIMIT ?6 OFFSET ?7"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    q.actor,
                    operation,
                    q.target,
                    since,
                    until,
                    clamp_i64(q.limit),
                    clamp_i64(q.offset)
                ],
                |r| -> rusqlite::Result<Row> {
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
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut records = Vec::with_capacity(rows.len());
        for (id, at, actor, kind, operation, target, outcome, before, after, detail) in rows {
            records.push(AuditRecord {
                id,
                at: micros_to_time(at),
                actor,
                actor_kind: kind
                    .parse()
                    .map_err(|e: String| audit_corrupt(id, format!("actor kind: {e}")))?,
                operation,
                target,
                outcome: outcome
                    .parse()
                    .map_err(|e: String| audit_corrupt(id, format!("outcome: {e}")))?,
                before,
                after,
                detail: detail
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .map_err(|e| audit_corrupt(id, format!("detail: {e}")))?,
            });
        }
        Ok((records, u64::try_from(total).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serde_names() {
        use strum::IntoEnumIterator;
        let names: Vec<&str> = TokenState::iter().map(TokenState::as_str).collect();
        assert_eq!(names, ["active", "expired", "revoked"]);
        for s in TokenState::iter() {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().to_owned())
            );
        }
        let names: Vec<&str> = AuditOutcome::iter().map(AuditOutcome::as_str).collect();
        assert_eq!(names, ["ok", "refused", "error"]);
        assert_eq!(
            AuditOutcome::ALL.to_vec(),
            AuditOutcome::iter().collect::<Vec<_>>()
        );
        for o in AuditOutcome::iter() {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<AuditOutcome>(&json).unwrap(), o);
            assert_eq!(o.to_string(), o.as_str());
            assert_eq!(o.as_str().parse::<AuditOutcome>(), Ok(o));
        }
        assert_eq!(
            "fine".parse::<AuditOutcome>(),
            Err(r#"unknown audit outcome "fine"; expected ok, refused or error"#.to_owned())
        );
    }

    #[test]
    fn secrets_are_checked_for_shape_before_any_lookup() {
        let good = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(good.len(), SECRET_LEN);
        assert!(secret_hash(&good).is_ok());
        let wrong_prefix = format!("kx_{}", &good[3..]);
        let padded = format!("{good}=");
        let short = &good[..SECRET_LEN - 1];
        // The last character carries 4 bits of padding that must be zero.
        let non_canonical = format!("{}B", &good[..SECRET_LEN - 1]);
        let non_ascii = format!("{}é", &good[..SECRET_LEN - 2]);
        let std_alphabet = format!("{}+", &good[..SECRET_LEN - 1]);
        for bad in [
            "",
            "kz_",
            wrong_prefix.as_str(),
            padded.as_str(),
            short,
            non_canonical.as_str(),
            non_ascii.as_str(),
            std_alphabet.as_str(),
            &"kz_".repeat(5000),
        ] {
            assert!(
                matches!(secret_hash(bad), Err(AuthError::Malformed)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_never_echo_a_secret_given_as_an_id() {
        let e = AuthError::UnknownId("kz_abcdef".into()).to_string();
        assert!(!e.contains("abcdef"), "{e}");
        let e = AuthError::UnknownId("tok_123".into()).to_string();
        assert!(e.contains("tok_123"), "{e}");
    }

    #[test]
    fn operation_names() {
        for ok in ["proposals.approve", "tokens.create", "org", "a-b.c_d.e2"] {
            assert!(check_operation(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "x.", "a..b", "Proposals.approve", "a b", "x.*"] {
            assert!(check_operation(bad).is_err(), "{bad:?}");
        }
        assert!(check_operation(&"a".repeat(101)).is_err());
    }

    #[test]
    fn issued_token_debug_hides_the_secret() {
        let t = IssuedToken {
            id: "tok_0".into(),
            secret: "kz_secret".into(),
        };
        assert!(!format!("{t:?}").contains("kz_secret"));
    }
}
