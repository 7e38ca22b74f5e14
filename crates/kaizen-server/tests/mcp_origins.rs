//! `mcp.allowed_origins`: which browser origins `/mcp` accepts, and the validation of the list.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_server::settings::{McpConfig, Settings};

fn with(origins: &[&str]) -> McpConfig {
    McpConfig {
        allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
        ..McpConfig::default()
    }
}

#[test]
fn no_origin_is_allowed_by_default() {
    let config = McpConfig::default();
    assert!(config.allowed_origins.is_empty());
    for origin in ["http://localhost:7878", "https://example.com", "null", ""] {
        assert!(!config.allows_origin(origin), "{origin}");
    }
}

#[test]
fn origins_match_by_scheme_host_and_port() {
    let config = with(&[
        "https://app.example.com",
        "http://localhost:*",
        "http://[::1]:8080",
    ]);
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://app.example.com:443", true),
        ("HTTPS://App.Example.com", true),
        ("https://app.example.com:8443", false),
        ("http://app.example.com", false),
        ("https://app.example.com.evil.example", false),
        ("https://evil.example", false),
        ("http://localhost", true),
        ("http://localhost:5173", true),
        ("https://localhost:5173", false),
        ("http://[::1]:8080", true),
        ("http://[::1]:8081", false),
        // The wildcard is for the allow-list only.
        ("http://app.example.com:*", false),
        ("null", false),
        ("https://app.example.com/path", false),
    ] {
        assert_eq!(config.allows_origin(origin), allowed, "{origin}");
    }
}

#[test]
fn an_entry_that_is_not_an_origin_is_a_validation_error_naming_it() {
    let config = Settings {
        mcp: with(&[
            "https://ok.example",
            "app.example.com",
            "https://x.example/path",
            "http://x.example:99999",
            "",
        ]),
        ..Settings::default()
    };
    let err = config.validate().expect_err("invalid origins");
    let text = err.to_string();
    for at in [
        "mcp.allowed_origins[1]",
        "mcp.allowed_origins[2]",
        "mcp.allowed_origins[3]",
        "mcp.allowed_origins[4]",
    ] {
        assert!(err.has_path(at), "{at} missing from {text}");
    }
    assert!(!err.has_path("mcp.allowed_origins[0]"), "{text}");
    assert!(text.contains("app.example.com"), "{text}");
}
