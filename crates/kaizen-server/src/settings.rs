//! `kaizen.yaml` as `kaizen serve` and `kaizen mcp` read it: the meta-loop's model
//! ([`KaizenConfig`], owned by `kaizen-core`) plus the sections this crate uses, `server`
//! ([`ServerConfig`]) and `mcp` ([`McpConfig`]).
//!
//! [`Settings`] is the whole file. It stays as strict as each section: an unknown top-level key
//! is an error naming the keys that exist, an empty or `null` section is its defaults, and
//! [`Settings::validate`] reports every problem of every section at once.

use std::fmt;

use kaizen_core::config::{ConfigErrors, KaizenConfig, Validator};
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The whole of `kaizen.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Settings {
    /// The meta-loop: switches, schedule, rollout, regression, guards, storage, signals, rules,
    /// knobs and playbooks.
    #[serde(flatten)]
    pub kaizen: KaizenConfig,
    /// `kaizen serve`: address, limits, background loop.
    pub server: ServerConfig,
    /// The MCP server (`kaizen mcp`, and `/mcp` in `kaizen serve`).
    pub mcp: McpConfig,
}

/// Every top-level key of the file.
const TOP_LEVEL: &[&str] = &[
    "self_improvement",
    "storage",
    "signals",
    "rules",
    "improvement",
    "server",
    "mcp",
];

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct File;
        impl<'de> Visitor<'de> for File {
            type Value = Settings;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of kaizen.yaml sections")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Settings, A::Error> {
                let mut out = Settings::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(A::Error::custom(format!("duplicate key `{key}`")));
                    }
                    match key.as_str() {
                        "server" => out.server = map.next_value::<Option<_>>()?.unwrap_or_default(),
                        "mcp" => out.mcp = map.next_value::<Option<_>>()?.unwrap_or_default(),
                        other => {
                            if !out.kaizen.read_section(other, &mut map)? {
                                return Err(A::Error::unknown_field(other, TOP_LEVEL));
                            }
                        }
                    }
                    seen.push(key);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(File)
    }
}

impl From<KaizenConfig> for Settings {
    /// The meta-loop's `config` with the default `server` and `mcp` sections.
    fn from(config: KaizenConfig) -> Self {
        Settings {
            kaizen: config,
            ..Settings::default()
        }
    }
}

impl Settings {
    /// Checks ranges and cross-key rules of every section, collecting every problem.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut v = Validator::default();
        self.kaizen.validate_into(&mut v);
        self.server.validate(&mut v, "server");
        self.mcp.validate(&mut v, "mcp");
        v.finish()
    }

    /// A copy with every secret replaced (see [`KaizenConfig::redacted`]).
    pub fn redacted(&self) -> Settings {
        Settings {
            kaizen: self.kaizen.redacted(),
            ..self.clone()
        }
    }

    /// The sections this crate owns as JSON, for the `config.show` operation (which knows only
    /// the meta-loop's model). They hold no secret.
    pub fn adapter_sections(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (key, value) in [
            ("server", serde_json::to_value(&self.server)),
            ("mcp", serde_json::to_value(&self.mcp)),
        ] {
            // Plain structs of strings and numbers: serialising them cannot fail.
            if let Ok(value) = value {
                out.insert(key.to_owned(), value);
            }
        }
        out
    }
}

/// The `mcp` section: which tools the MCP server offers. Tool lists cost a client's context,
/// so an operator can offer fewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Serve MCP over streamable HTTP at `/mcp` in `kaizen serve`.
    pub http: bool,
    /// The toolsets (the registry's capability domains, [`kaizen_service::ops::domains`])
    /// offered; all when absent.
    pub toolsets: Option<Vec<String>>,
    /// Offer read-only tools only.
    pub read_only: bool,
    /// Also offer the nine legacy signal tools (`kaizen_signals_get_performance`, …).
    pub legacy_tools: bool,
    /// `Host` header values `/mcp` accepts (DNS-rebinding protection); add the server's public
    /// name when it is reached by one. Loopback names by default.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`scheme://host[:port]`, port `*` for any) whose requests `/mcp`
    /// accepts. A request with an `Origin` header not in the list is refused; requests without
    /// one (non-browser clients) pass. Empty by default: no browser page may call `/mcp`.
    pub allowed_origins: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            http: true,
            toolsets: None,
            read_only: false,
            legacy_tools: true,
            allowed_hosts: vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ],
            allowed_origins: Vec::new(),
        }
    }
}

impl McpConfig {
    /// Whether tools of `domain` are offered.
    pub fn offers(&self, domain: &str) -> bool {
        self.toolsets
            .as_ref()
            .is_none_or(|t| t.iter().any(|d| d == domain))
    }

    /// Checks the section at key path `at` into `v`.
    pub fn validate(&self, v: &mut Validator, at: &str) {
        let domains = kaizen_service::ops::domains();
        for (i, t) in self.toolsets.iter().flatten().enumerate() {
            if !domains.contains(&t.as_str()) {
                v.push(
                    format!("{at}.toolsets[{i}]"),
                    format!(
                        "unknown toolset {t:?}; expected one of {}",
                        domains.join(", ")
                    ),
                );
            }
        }
        if self.allowed_hosts.iter().any(|h| h.trim().is_empty()) {
            v.push(
                format!("{at}.allowed_hosts"),
                "a host name is blank".to_owned(),
            );
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if Self::parse_origin(o, true).is_none() {
                v.push(
                    format!("{at}.allowed_origins[{i}]"),
                    format!(
                        "expected an origin `scheme://host` or `scheme://host:port` (port `*` \
                         for any), found {o:?}"
                    ),
                );
            }
        }
    }

    /// Whether a request with the header `Origin: origin` may use `/mcp`: the origin is one of
    /// [`McpConfig::allowed_origins`]. Scheme and host compare case-insensitively, a missing
    /// port is the scheme's default (80 for `http`, 443 for `https`), and an entry's port `*`
    /// matches any port.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some(o) = Self::parse_origin(origin, false) else {
            return false;
        };
        self.allowed_origins
            .iter()
            .filter_map(|a| Self::parse_origin(a, true))
            .any(|a| a.0 == o.0 && a.1 == o.1 && (a.2.is_none() || a.2 == o.2))
    }

    /// `scheme://host[:port]` as (scheme, host, port), lower-cased, the port defaulted by the
    /// scheme (`Some(0)` when it has no default and none is given); `None` port for `:*` when
    /// `wildcard` allows it. `None` when `s` is not such an origin.
    fn parse_origin(s: &str, wildcard: bool) -> Option<(String, String, Option<u16>)> {
        let (scheme, rest) = s.trim().split_once("://")?;
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        // The host ends at a `:` (port), except inside an IPv6 literal `[…]`.
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (inner, after) = v6.split_once(']')?;
            (format!("[{inner}]"), after)
        } else {
            match rest.find(':') {
                Some(i) => (rest[..i].to_owned(), &rest[i..]),
                None => (rest.to_owned(), ""),
            }
        };
        let host_ok = !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) && host != "[]";
        if !host_ok {
            return None;
        }
        let port = match port {
            "" => Some(match scheme.as_str() {
                "http" | "ws" => 80,
                "https" | "wss" => 443,
                _ => 0,
            }),
            ":*" if wildcard => None,
            p => Some(
                p.strip_prefix(':')?
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)?,
            ),
        };
        Some((scheme, host.to_ascii_lowercase(), port))
    }
}

/// The `server` section (`kaizen serve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default: exposing kaizen is a deliberate choice.
    pub bind: String,
    /// Largest request body accepted, bytes (after gzip decompression for event batches).
    pub max_body_bytes: u64,
    /// Write requests allowed per token per minute (≥ 1).
    pub writes_per_minute: u32,
    /// Seconds before a request is abandoned with 408 (≥ 1).
    pub request_timeout_seconds: u32,
    /// Seconds between runs of the background loop (scheduled cycles, due rollout checks),
    /// at most; it wakes earlier when a rollout check is due sooner (≥ 1).
    pub loop_interval_seconds: u32,
    /// The URL people reach the server at (`https://kaizen.example.com`), when it differs
    /// from `bind` (a TLS proxy in front). An `https` URL makes the web UI's cookies `Secure`.
    /// `None`: unknown (cookies are `Secure` only for requests that arrived over https).
    pub public_url: Option<String>,
    /// Seconds a connection has to deliver a complete request head: from its accept for the
    /// first request, from the first byte of each later one (≥ 1).
    pub header_read_timeout_seconds: u32,
    /// Seconds an idle keep-alive connection (no request in flight, no byte of the next one)
    /// stays open (≥ 1).
    pub keep_alive_idle_seconds: u32,
    /// Open connections at most; further ones wait in the listen backlog (1–1000000).
    pub max_connections: u32,
    /// Open connections from one peer IP address at most; further ones are closed at once
    /// (≥ 1).
    pub max_connections_per_ip: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:7878".to_owned(),
            max_body_bytes: 16 * 1024 * 1024,
            writes_per_minute: 600,
            request_timeout_seconds: 30,
            loop_interval_seconds: 60,
            public_url: None,
            header_read_timeout_seconds: 10,
            keep_alive_idle_seconds: 60,
            max_connections: 1024,
            max_connections_per_ip: 256,
        }
    }
}

impl ServerConfig {
    /// Checks the section at key path `at` into `v`.
    pub fn validate(&self, v: &mut Validator, at: &str) {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            v.push(
                format!("{at}.bind"),
                format!(
                    "expected an address like 127.0.0.1:7878, found {:?}",
                    self.bind
                ),
            );
        }
        if self.max_body_bytes < 1024 {
            v.push(
                format!("{at}.max_body_bytes"),
                format!("expected at least 1024, found {}", self.max_body_bytes),
            );
        }
        v.at_least(at, "writes_per_minute", self.writes_per_minute, 1);
        v.at_least(
            at,
            "request_timeout_seconds",
            self.request_timeout_seconds,
            1,
        );
        v.at_least(at, "loop_interval_seconds", self.loop_interval_seconds, 1);
        v.at_least(
            at,
            "header_read_timeout_seconds",
            self.header_read_timeout_seconds,
            1,
        );
        v.at_least(
            at,
            "keep_alive_idle_seconds",
            self.keep_alive_idle_seconds,
            1,
        );
        v.at_least(at, "max_connections", self.max_connections, 1);
        if self.max_connections > 1_000_000 {
            v.push(
                format!("{at}.max_connections"),
                format!("expected at most 1000000, found {}", self.max_connections),
            );
        }
        v.at_least(at, "max_connections_per_ip", self.max_connections_per_ip, 1);
        if let Some(url) = &self.public_url
            && !is_http_url(url)
        {
            v.push(
                format!("{at}.public_url"),
                format!(
                    "expected an http or https URL like https://kaizen.example.com, found {:?}",
                    url.chars().take(200).collect::<String>()
                ),
            );
        }
    }

    /// Whether [`ServerConfig::public_url`] is an `https` URL (the UI's cookies are then
    /// `Secure`).
    pub fn public_https(&self) -> bool {
        self.public_url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
    }
}

/// `http://host[:port][/path]` or the same with `https`: its origin part must be an origin as
/// `mcp.allowed_origins` reads them (a host without user info or spaces, a port 1–65535), of
/// either scheme, and the whole URL free of whitespace and control characters.
fn is_http_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    McpConfig::parse_origin(&format!("{scheme}://{authority}"), false)
        .is_some_and(|(scheme, _, _)| scheme == "http" || scheme == "https")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Settings, String> {
        serde_saphyr::from_str::<Option<Settings>>(yaml)
            .map(Option::unwrap_or_default)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_top_level_keys_are_the_loops_sections_and_this_crates() {
        let mut expected = KaizenConfig::SECTIONS.to_vec();
        expected.extend(["server", "mcp"]);
        assert_eq!(TOP_LEVEL, expected.as_slice());
    }

    #[test]
    fn sections_of_both_crates_are_read_and_empty_ones_are_defaults() -> Result<(), String> {
        let s = parse(
            "self_improvement:\n  enabled: true\nserver:\n  writes_per_minute: 7\nmcp:\n  read_only: true\nstorage:\n",
        )?;
        assert!(s.kaizen.self_improvement.enabled);
        assert_eq!(s.server.writes_per_minute, 7);
        assert!(s.mcp.read_only);
        assert_eq!(s.kaizen.storage, KaizenConfig::default().storage);
        assert_eq!(parse("")?, Settings::default());
        assert_eq!(parse("server:\nmcp: null\n")?, Settings::default());
        Ok(())
    }

    #[test]
    fn unknown_and_duplicate_keys_are_refused_at_every_level() {
        let top = parse("servre:\n  bind: 127.0.0.1:1\n")
            .map(|_| ())
            .unwrap_err();
        assert!(top.contains("servre") && top.contains("server"), "{top}");
        let inner = parse("server:\n  bnd: x\n").map(|_| ()).unwrap_err();
        assert!(inner.contains("bnd"), "{inner}");
        let loop_inner = parse("self_improvement:\n  enabeld: true\n")
            .map(|_| ())
            .unwrap_err();
        assert!(loop_inner.contains("enabeld"), "{loop_inner}");
        assert!(parse("mcp: {}\nmcp: {}\n").is_err());
    }

    #[test]
    fn validation_covers_every_section_at_once() {
        let mut s = Settings::default();
        s.kaizen.storage.path = " ".to_owned();
        s.server.writes_per_minute = 0;
        s.mcp.toolsets = Some(vec!["proposals".to_owned(), "nope".to_owned()]);
        let err = s.validate().unwrap_err();
        for path in [
            "storage.path",
            "server.writes_per_minute",
            "mcp.toolsets[1]",
        ] {
            assert!(err.has_path(path), "{path} missing from {err}");
        }
        assert!(!err.has_path("mcp.toolsets[0]"), "{err}");
    }

    #[test]
    fn the_adapter_sections_are_what_config_show_adds() {
        let sections = Settings::default().adapter_sections();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections["server"]["bind"], "127.0.0.1:7878");
        assert_eq!(sections["mcp"]["http"], true);
    }
}
