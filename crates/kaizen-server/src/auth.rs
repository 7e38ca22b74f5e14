//! Who is calling: bearer tokens and the cache of recent authentications. What they may do is
//! the gate's business (`kaizen_service::gate`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use kaizen_store::Store;
use kaizen_store::auth::Authenticated;

use crate::error::ApiError;

/// The bearer secret of `headers`, or 401. More than one `Authorization` header is refused as
/// ambiguous (which one would be meant depends on who reads the request).
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(|| {
        ApiError::unauthorized("missing bearer token (Authorization: Bearer kz_…)")
    })?;
    if values.next().is_some() {
        return Err(ApiError::unauthorized(
            "more than one Authorization header; send exactly one (Authorization: Bearer kz_…)",
        ));
    }
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

/// Authenticates the bearer token of `headers` against `store` at `now` and remembers it in
/// `cache` with the gate's write count `writes` (the caller asked the cache first).
pub fn authenticate(
    store: &Store,
    cache: &TokenCache,
    writes: u64,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Arc<Authenticated>, ApiError> {
    let secret = bearer(headers)?;
    let auth = Arc::new(
        store
            .token_authenticate(secret, now)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?,
    );
    cache.insert(secret, writes, Arc::clone(&auth));
    Ok(auth)
}

/// Tokens authenticated in the last `ttl`, by the SHA-256 of their secret, so that agent
/// runtimes polling their config skip the token lookup. An entry is used only within `ttl` of
/// its lookup, before the token's expiry (on the server's clock) and while the gate has run no
/// write since (a revocation through the API takes effect at once); a revocation by another
/// process (the CLI) takes effect within `ttl`.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<TokenEntries>,
}

/// SHA-256 of a secret → its authentication, when it was looked up and the gate's write count
/// then.
type TokenEntries = HashMap<[u8; 32], (Arc<Authenticated>, Instant, u64)>;

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
        writes: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Arc<Authenticated>> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = Self::key(secret);
        let entries = self.lock();
        let (auth, at, seen) = entries.get(&key)?;
        if *seen != writes || at.elapsed() >= self.ttl || auth.expires_at.is_some_and(|e| e <= now)
        {
            return None;
        }
        Some(Arc::clone(auth))
    }

    /// Remembers that `secret` authenticated as `auth` just now.
    pub fn insert(&self, secret: &str, writes: u64, auth: Arc<Authenticated>) {
        if self.ttl.is_zero() {
            return;
        }
        let key = Self::key(secret);
        let mut entries = self.lock();
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key, (auth, Instant::now(), writes));
    }
}
