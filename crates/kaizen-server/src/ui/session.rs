//! Browser sessions: who is logged in, their CSRF token, and a one-shot message for the next
//! page.
//!
//! A session is created when a person logs in with a bearer token. The browser only ever holds
//! the session's random id, in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/ui` (and
//! `Secure` when the request came over https, and always when `server.public_url` is an https
//! URL: [`secure_cookies`]); the token's secret is never kept. Sessions live
//! in memory (a restart logs everyone out) for at most [`SESSION_TTL`], and every request
//! checks again that the token behind the session is still active, so revoking a token ends its
//! sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use cookie::{Cookie, SameSite};
use kaizen_store::auth::Authenticated;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The session cookie.
pub const SESSION_COOKIE: &str = "kz_session";
/// The cookie of the login form's CSRF token (there is no session yet when it is posted).
pub const LOGIN_COOKIE: &str = "kz_login";
/// The most sessions kept at once; the oldest are dropped beyond it.
const MAX_SESSIONS: usize = 10_000;

/// How a message for the person looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something worked.
    Ok,
    /// Worth a look.
    Warn,
    /// Something failed.
    Error,
}

/// A message shown at the top of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How it looks.
    pub tone: Tone,
    /// What it says.
    pub text: String,
}

impl Notice {
    /// A success message.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Ok,
            text: text.into(),
        }
    }

    /// A warning.
    pub fn warn(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Warn,
            text: text.into(),
        }
    }

    /// An error.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Error,
            text: text.into(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    auth: Authenticated,
    csrf: String,
    created: Instant,
    expires: Instant,
    flash: Vec<Notice>,
}

/// The session of the current request.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session id (the cookie's value).
    pub id: String,
    /// The token and principal behind it.
    pub auth: Authenticated,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

/// The sessions of one server.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `auth`; returns its id.
    pub fn create(&self, auth: Authenticated) -> Result<String, ApiError> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, e| e.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                auth,
                csrf,
                created: now,
                expires: now + SESSION_TTL,
                flash: Vec::new(),
            },
        );
        Ok(id)
    }

    /// The live session named by the request's cookie, if any.
    pub fn current(&self, headers: &HeaderMap) -> Option<Current> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut map = self.lock();
        let entry = map.get(id)?;
        if entry.expires <= Instant::now() {
            map.remove(id);
            return None;
        }
        Some(Current {
            id: id.to_owned(),
            auth: entry.auth.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Queues `notice` for the next page session `id` sees.
    pub fn flash(&self, id: &str, notice: Notice) {
        if let Some(e) = self.lock().get_mut(id) {
            e.flash.push(notice);
        }
    }

    /// Takes the queued messages of session `id`.
    pub fn take_flash(&self, id: &str) -> Vec<Notice> {
        self.lock()
            .get_mut(id)
            .map(|e| std::mem::take(&mut e.flash))
            .unwrap_or_default()
    }
}

/// `n` random bytes from the operating system, as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| ApiError::internal(format!("no randomness for a session id: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The value of cookie `name` in the request's `Cookie` headers, if present and not empty.
/// Pairs that do not parse are skipped; values are taken as sent (ours are hex).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
        .filter(|v| !v.is_empty())
}

/// Whether the request reached us over https (directly, or through a proxy that says so).
pub fn is_https(headers: &HeaderMap, uri: &Uri) -> bool {
    uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for `name` under `/ui`: `HttpOnly`, `SameSite=Strict`, `Secure` when
/// `secure`; `max_age` seconds (0 deletes the cookie).
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let max_age = cookie::time::Duration::seconds(i64::try_from(max_age).unwrap_or(i64::MAX));
    let c = Cookie::build((name, value))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(max_age)
        .secure(secure)
        .build();
    HeaderValue::from_str(&c.to_string()).ok()
}

/// Response middleware for a server whose `server.public_url` is https (a TLS proxy in front
/// that may not say so in `X-Forwarded-Proto`): every `Set-Cookie` of `res` gets `Secure`.
/// A cookie that does not parse is dropped rather than sent without it.
pub async fn secure_cookies(mut res: axum::response::Response) -> axum::response::Response {
    let headers = res.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return res;
    }
    headers.remove(header::SET_COOKIE);
    for value in cookies {
        let secured = value
            .to_str()
            .ok()
            .and_then(|v| Cookie::parse(v.to_owned()).ok())
            .and_then(|mut c| {
                c.set_secure(true);
                HeaderValue::from_str(&c.to_string()).ok()
            });
        match secured {
            Some(v) => {
                headers.append(header::SET_COOKIE, v);
            }
            None => tracing::warn!("dropped a Set-Cookie header that does not parse"),
        }
    }
    res
}

/// Compares two secrets in constant time (only their lengths can leak); an empty secret never
/// matches.
pub fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; kz_session=abc ; b=2"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("kz_login=xyz"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);

        // A pair without `=` or an empty value is no cookie; the others are still found.
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("junk; kz_login=; ;kz_session=def"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("def"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn random_ids_are_long_and_distinct() {
        let a = random_hex(32).expect("randomness");
        let b = random_hex(32).expect("randomness");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn cookies_are_http_only_strict_and_scoped() {
        let v = set_cookie(SESSION_COOKIE, "x", 10, false).expect("valid header");
        let s = v.to_str().expect("ascii");
        assert_eq!(
            s,
            "kz_session=x; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=10"
        );
        let v = set_cookie(SESSION_COOKIE, "x", 10, true).expect("valid header");
        assert_eq!(
            v.to_str().expect("ascii"),
            "kz_session=x; HttpOnly; SameSite=Strict; Secure; Path=/ui; Max-Age=10"
        );
        // Deleting: an empty value that expires at once.
        let v = set_cookie(LOGIN_COOKIE, "", 0, false).expect("valid header");
        assert_eq!(
            v.to_str().expect("ascii"),
            "kz_login=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0"
        );
        // A value that cannot be a header is refused, not sent.
        assert_eq!(set_cookie(SESSION_COOKIE, "a\nb", 10, false), None);
    }
}
