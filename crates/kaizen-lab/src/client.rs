//! A small synchronous client of kaizen's REST API (`/api/v1`) with a bearer token: what the
//! simulated reviewer and the simulated agent runtimes use to talk to `kaizen serve`.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::LabError;

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The `ETag` header, if any.
    pub etag: Option<String>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, LabError> {
        serde_json::from_str(&self.body).map_err(|e| {
            LabError::Http(format!(
                "unexpected response ({e}): status {} body {}",
                self.status,
                shorten(&self.body)
            ))
        })
    }

    /// The error envelope's message, or the body.
    pub fn message(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| shorten(&self.body))
    }
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A client of one server with one token.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    /// A client of `base` (`http://host:port`) sending `token`.
    pub fn new(base: &str, token: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
        }
    }

    /// The server's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn read(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, LabError> {
        let mut r = r.map_err(|e| LabError::Http(format!("{what} {}: {e}", self.base)))?;
        let status = r.status().as_u16();
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| LabError::Http(format!("{what}: reading the response: {e}")))?;
        Ok(Reply { status, etag, body })
    }

    /// `GET path` (with `If-None-Match` when `etag` is given).
    pub fn get(&self, path: &str, etag: Option<&str>) -> Result<Reply, LabError> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        if let Some(tag) = etag {
            req = req.header("If-None-Match", tag);
        }
        self.read(&format!("GET {path}"), req.call())
    }

    /// `GET path`, which must succeed, as `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LabError> {
        let r = self.get(path, None)?;
        if !r.ok() {
            return Err(LabError::Http(format!(
                "GET {path}: {} {}",
                r.status,
                r.message()
            )));
        }
        r.json()
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &impl Serialize) -> Result<Reply, LabError> {
        let req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        self.read(&format!("POST {path}"), req.send_json(body))
    }

    /// `POST /api/v1/events` with NDJSON; every record must be accepted (or be a duplicate).
    pub fn send_events(&self, ndjson: &[u8]) -> Result<(), LabError> {
        let req = self
            .agent
            .post(format!("{}/api/v1/events", self.base))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/x-ndjson");
        let r = self.read("POST /api/v1/events", req.send(ndjson))?;
        if r.status == 200 {
            return Ok(());
        }
        Err(LabError::Http(format!(
            "POST /api/v1/events: {} {}",
            r.status,
            r.message()
        )))
    }
}
