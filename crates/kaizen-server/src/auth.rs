//! Who is calling and what they may do: bearer tokens, capability checks, the human-only rule
//! for decisions, and the per-token write rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use kaizen_core::auth::Action;
use kaizen_service::ops::Operation;
use kaizen_store::Store;
use kaizen_store::auth::Authenticated;
use kaizen_store::proposals::{Actor, ActorKind};

use crate::error::ApiError;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token and its grant.
    pub auth: Arc<Authenticated>,
}

impl Caller {
    /// The actor the service records.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.auth.principal.clone(),
            kind: self.auth.kind,
        }
    }
}

/// The bearer secret of `headers`, or 401.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing bearer token (Authorization: Bearer kz_…)")
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
    let (scheme, secret) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        ));
    }
    Ok(secret.trim())
}

/// Authenticates the caller of `headers` against `store` at `now`, through `cache`.
pub fn authenticate(
    store: &Store,
    cache: &TokenCache,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, ApiError> {
    let secret = bearer(headers)?;
    if let Some(auth) = cache.get(secret, now) {
        return Ok(Caller { auth });
    }
    let auth = Arc::new(
        store
            .token_authenticate(secret, now)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?,
    );
    cache.insert(secret, Arc::clone(&auth));
    Ok(Caller { auth })
}

/// Tokens authenticated in the last `ttl`, by the SHA-256 of their secret, so that agent
/// runtimes polling their config skip the token lookup. An entry is used only within `ttl` of
/// its lookup and before the token's expiry (on the server's clock); this process clears the
/// cache after every write it makes (a revocation through the API takes effect at once), and a
/// revocation by another process (the CLI) takes effect within `ttl`.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<TokenEntries>,
}

/// SHA-256 of a secret → its authentication and when it was looked up.
type TokenEntries = HashMap<[u8; 32], (Arc<Authenticated>, Instant)>;

/// More distinct tokens than this in one `ttl` clears the cache (it never grows unbounded).
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(secret: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(secret.as_bytes()).into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenEntries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached authentication of `secret`, if fresh and not expired at `now`.
    pub fn get(
        &self,
        secret: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Arc<Authenticated>> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = Self::key(secret);
        let entries = self.lock();
        let (auth, at) = entries.get(&key)?;
        if at.elapsed() >= self.ttl || auth.expires_at.is_some_and(|e| e <= now) {
            return None;
        }
        Some(Arc::clone(auth))
    }

    /// Remembers that `secret` authenticated as `auth` just now.
    pub fn insert(&self, secret: &str, auth: Arc<Authenticated>) {
        if self.ttl.is_zero() {
            return;
        }
        let key = Self::key(secret);
        let mut entries = self.lock();
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key, (auth, Instant::now()));
    }

    /// Forgets every token (after a write of this process).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// Whether `caller` may run `op`: the grant allows its capability, and a human-only operation
/// has a human caller (agents never approve, whatever their patterns say).
pub fn authorize(caller: &Caller, op: &Operation) -> Result<(), ApiError> {
    if op.human_only && caller.auth.kind != ActorKind::Human {
        return Err(ApiError::forbidden(
            "human_only",
            format!(
                "{} is a human decision; {} is an {} principal and can never make it (mandatory human approval)",
                op.name,
                caller.auth.principal,
                caller.auth.kind.as_str()
            ),
        ));
    }
    if !caller.auth.allows(&op.needs()) {
        return Err(ApiError::forbidden(
            "forbidden",
            format!(
                "token {} ({}) lacks the capability {} that {} needs",
                caller.auth.token_id,
                caller.auth.principal,
                op.capability(),
                op.name
            ),
        ));
    }
    Ok(())
}

/// Per-token write budget: `per_minute` writes in any fixed one-minute window.
#[derive(Debug)]
pub struct WriteLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WriteLimiter {
    /// A limiter allowing `per_minute` writes per token per minute.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a write of `token`; 429 with the seconds to wait once the budget is spent.
    pub fn check(&self, token: &str, op: &Operation) -> Result<(), ApiError> {
        if op.action == Action::Read {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry(token.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            let wait = Duration::from_secs(60).saturating_sub(now.duration_since(entry.0));
            let mut e = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "token {token} made {} write requests this minute (server.writes_per_minute); retry in {} s",
                    entry.1,
                    wait.as_secs().max(1)
                ),
            );
            e.retry_after = Some(wait.as_secs().max(1));
            return Err(e);
        }
        entry.1 += 1;
        Ok(())
    }
}
