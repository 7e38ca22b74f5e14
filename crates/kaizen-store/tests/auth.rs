//! Tokens and the audit log on real SQLite files: issuing, authenticating, revoking and
//! expiring tokens; that the secret is never stored; hostile secrets; the triggers that keep
//! tokens and the audit log tamper-evident; audit queries, pagination and persistence.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use kaizen_core::auth::{Action, Capability, Grant};
use kaizen_store::auth::{
    AuditEntry, AuditOutcome, AuditQuery, AuthError, NewToken, SECRET_PREFIX, TokenState,
};
use kaizen_store::proposals::ActorKind;
use kaizen_store::{Store, StoreError};
use serde_json::json;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
}

fn grant(patterns: &[&str]) -> Grant {
    Grant::parse(&patterns.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()).unwrap()
}

fn cap(s: &str) -> Capability {
    s.parse().unwrap()
}

fn new_token<'a>(principal: &'a str, kind: ActorKind, grant: &'a Grant) -> NewToken<'a> {
    NewToken {
        principal,
        kind,
        grant,
        expires_at: None,
        created_by: "root",
    }
}

fn store_in(dir: &Path) -> Store {
    Store::open(dir.join("kaizen.db")).unwrap()
}

/// Every byte of the database and its WAL.
fn db_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("kaizen.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("kaizen.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn create_authenticate_touch_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    assert_eq!(store.token_count_active(t(0)).unwrap(), 0);
    let admin = grant(&["*"]);
    let issued = store
        .token_create(&new_token("ana", ActorKind::Human, &admin), t(0))
        .unwrap();
    assert!(
        issued.id.starts_with("tok_") && issued.id.len() == 16,
        "{}",
        issued.id
    );
    assert!(issued.id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(issued.secret.starts_with(SECRET_PREFIX) && issued.secret.len() == 46);
    assert!(!format!("{issued:?}").contains(&issued.secret));

    let who = store.token_authenticate(&issued.secret, t(1)).unwrap();
    assert_eq!(who.token_id, issued.id);
    assert_eq!(who.principal, "ana");
    assert_eq!(who.kind, ActorKind::Human);
    assert_eq!(who.grant, admin);
    assert!(who.allows(&cap("proposals:approve")));
    assert_eq!(store.token_count_active(t(1)).unwrap(), 1);

    // Two tokens never share an id or a secret.
    let other = store
        .token_create(&new_token("ana", ActorKind::Human, &admin), t(0))
        .unwrap();
    assert_ne!(other.id, issued.id);
    assert_ne!(other.secret, issued.secret);

    // Touch records use, only forwards.
    assert!(store.token_touch(&issued.id, t(5)).unwrap());
    assert!(!store.token_touch(&issued.id, t(3)).unwrap());
    assert!(!store.token_touch("tok_nope", t(5)).unwrap());
    let info = store.token(&issued.id).unwrap().unwrap();
    assert_eq!(info.last_used_at, Some(t(5)));
    assert_eq!(info.capabilities, ["*"]);
    assert_eq!(info.created_by, "root");
    assert_eq!(info.state(t(6)), TokenState::Active);

    store.token_revoke(&issued.id, "bo", t(10)).unwrap();
    match store.token_authenticate(&issued.secret, t(11)) {
        Err(AuthError::Revoked { id, at }) => {
            assert_eq!(id, issued.id);
            assert_eq!(at, t(10));
        }
        other => panic!("{other:?}"),
    }
    assert!(!store.token_touch(&issued.id, t(12)).unwrap());
    match store.token_revoke(&issued.id, "bo", t(12)) {
        Err(e @ AuthError::AlreadyRevoked { .. }) => {
            assert!(e.is_user_error());
            assert!(e.to_string().contains("already revoked"), "{e}");
            assert!(e.to_string().contains("by bo"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    match store.token_revoke("tok_000000000000", "bo", t(12)) {
        Err(e @ AuthError::UnknownId(_)) => {
            assert!(e.to_string().contains("tok_000000000000"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.token_revoke(&other.id, "  ", t(12)),
        Err(AuthError::BadInput(_))
    ));
    assert_eq!(store.token_count_active(t(12)).unwrap(), 1);

    // Listing: not revoked by default, all with the flag; newest first; no secret, no hash.
    let active = store.tokens(false).unwrap();
    assert_eq!(
        active.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [other.id.as_str()]
    );
    let all = store.tokens(true).unwrap();
    assert_eq!(all.len(), 2);
    let revoked = all.iter().find(|i| i.id == issued.id).unwrap();
    assert_eq!(revoked.revoked_at, Some(t(10)));
    assert_eq!(revoked.revoked_by.as_deref(), Some("bo"));
    assert_eq!(revoked.state(t(0)), TokenState::Revoked);
    let json = serde_json::to_string(&all).unwrap();
    assert!(
        !json.contains(&issued.secret) && !json.contains("hash"),
        "{json}"
    );
}

#[test]
fn expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let read = grant(&["*:read"]);
    let mut new = new_token("bot-7", ActorKind::Agent, &read);
    new.expires_at = Some(t(100));
    let issued = store.token_create(&new, t(0)).unwrap();
    let who = store.token_authenticate(&issued.secret, t(99)).unwrap();
    assert_eq!(who.kind, ActorKind::Agent);
    assert_eq!(store.token_count_active(t(99)).unwrap(), 1);
    match store.token_authenticate(&issued.secret, t(100)) {
        Err(e @ AuthError::Expired { .. }) => {
            assert!(e.is_unauthenticated());
            assert!(!e.to_string().contains(&issued.secret));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.token_count_active(t(100)).unwrap(), 0);
    // Expired tokens are still listed (they are not revoked) and say so.
    let list = store.tokens(false).unwrap();
    assert_eq!(list[0].state(t(100)), TokenState::Expired);
    // Revoked wins over expired.
    store.token_revoke(&issued.id, "ana", t(200)).unwrap();
    assert!(matches!(
        store.token_authenticate(&issued.secret, t(300)),
        Err(AuthError::Revoked { .. })
    ));
    // An expiry that is not in the future is refused.
    new.expires_at = Some(t(0));
    match store.token_create(&new, t(0)) {
        Err(AuthError::BadInput(m)) => assert!(m.contains("is not after now"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_token_requests_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let all = grant(&["*"]);
    let approve = grant(&["proposals:approve"]);
    let star_approve = grant(&["*:read", "*:approve"]);
    for (new, needle) in [
        (new_token("meta", ActorKind::System, &all), "system"),
        (
            new_token("", ActorKind::Human, &all),
            "principal must not be blank",
        ),
        (
            new_token("  ", ActorKind::Human, &all),
            "principal must not be blank",
        ),
        (
            new_token("a\nb", ActorKind::Human, &all),
            "control characters",
        ),
        (
            new_token(&"x".repeat(129), ActorKind::Human, &all),
            "longer than 128",
        ),
        (
            new_token("bot", ActorKind::Agent, &approve),
            "human decision",
        ),
        (
            new_token("bot", ActorKind::Agent, &star_approve),
            "human decision",
        ),
        (
            NewToken {
                created_by: " ",
                ..new_token("ana", ActorKind::Human, &all)
            },
            "creator must not be blank",
        ),
    ] {
        match store.token_create(&new, t(0)) {
            Err(e @ AuthError::BadInput(_)) => {
                assert!(e.is_user_error());
                assert!(e.to_string().contains(needle), "{e}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
    assert!(store.tokens(true).unwrap().is_empty());
}

#[test]
fn an_agent_token_never_approves_whatever_its_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let everything = grant(&["*"]);
    let issued = store
        .token_create(&new_token("bot", ActorKind::Agent, &everything), t(0))
        .unwrap();
    let bot = store.token_authenticate(&issued.secret, t(1)).unwrap();
    assert!(bot.grant.allows(&cap("proposals:approve")));
    assert!(!bot.allows(&cap("proposals:approve")));
    assert!(!bot.allows(&Capability::new("rollouts", Action::Approve)));
    assert!(bot.allows(&cap("proposals:write")));
    assert!(bot.allows(&cap("org:read")));
    // Deny patterns hold for humans too.
    let limited = grant(&["*", "!tokens:*"]);
    let issued = store
        .token_create(&new_token("ana", ActorKind::Human, &limited), t(0))
        .unwrap();
    let ana = store.token_authenticate(&issued.secret, t(1)).unwrap();
    assert!(ana.allows(&cap("proposals:approve")));
    assert!(!ana.allows(&cap("tokens:admin")));
}

#[test]
fn the_secret_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let g = grant(&["*"]);
    let issued = store
        .token_create(&new_token("ana", ActorKind::Human, &g), t(0))
        .unwrap();
    let body = &issued.secret[SECRET_PREFIX.len()..];
    let bytes = db_bytes(dir.path());
    assert!(
        contains(&bytes, issued.id.as_bytes()),
        "the id should be stored"
    );
    assert!(!contains(&bytes, issued.secret.as_bytes()));
    assert!(!contains(&bytes, body.as_bytes()));
    drop(store);
    // Also after the WAL was checkpointed into the main file.
    let bytes = db_bytes(dir.path());
    assert!(contains(&bytes, issued.id.as_bytes()));
    assert!(!contains(&bytes, body.as_bytes()));
}

#[test]
fn malformed_and_unknown_secrets_are_refused_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let g = grant(&["*"]);
    let issued = store
        .token_create(&new_token("ana", ActorKind::Human, &g), t(0))
        .unwrap();
    let body = &issued.secret[SECRET_PREFIX.len()..];
    let huge = format!("kz_{}", "A".repeat(10_000));
    let non_ascii = format!("kz_{}ü", &body[..41]);
    let wrong_prefix = format!("KZ_{body}");
    let trailing_space = format!("{} ", issued.secret);
    let with_nul = format!("{}\0", &issued.secret[..45]);
    let malformed = [
        "",
        "kz_",
        "Bearer x",
        huge.as_str(),
        non_ascii.as_str(),
        wrong_prefix.as_str(),
        trailing_space.as_str(),
        with_nul.as_str(),
        "kz_ß𝔘💥💥💥💥💥💥💥💥💥💥",
    ];
    for secret in malformed {
        match store.token_authenticate(secret, t(1)) {
            Err(e @ AuthError::Malformed) => {
                assert!(e.is_unauthenticated() && e.is_user_error());
                let msg = e.to_string();
                if secret.len() > 3 {
                    assert!(!msg.contains(&secret[3..]), "{msg}");
                }
            }
            other => panic!("{secret:?}: {other:?}"),
        }
    }
    // Well-formed but never issued.
    let mut unknown = issued.secret.clone().into_bytes();
    unknown[10] = if unknown[10] == b'A' { b'B' } else { b'A' };
    let unknown = String::from_utf8(unknown).unwrap();
    match store.token_authenticate(&unknown, t(1)) {
        Err(e @ AuthError::UnknownToken) => {
            assert!(e.is_unauthenticated());
            assert!(!e.to_string().contains(&unknown[3..]), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A secret pasted where an id goes is not echoed.
    match store.token_revoke(&issued.secret, "ana", t(1)) {
        Err(e @ AuthError::UnknownId(_)) => assert!(!e.to_string().contains(body), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tokens_are_immutable_and_revocation_is_final_at_the_sql_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let g = grant(&["*:read"]);
    let issued = store
        .token_create(&new_token("bot", ActorKind::Agent, &g), t(0))
        .unwrap();
    store.token_revoke(&issued.id, "ana", t(1)).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("kaizen.db")).unwrap();
    for (sql, needle) in [
        (r#"UPDATE tokens SET capabilities = '["*"]'"#, "immutable"),
        ("UPDATE tokens SET kind = 'human'", "immutable"),
        ("UPDATE tokens SET expires_at = NULL", "immutable"),
        ("UPDATE tokens SET revoked_at = NULL", "stays revoked"),
        ("UPDATE tokens SET revoked_by = 'x'", "stays revoked"),
        ("DELETE FROM tokens", "kept for audit"),
    ] {
        let e = conn.execute(sql, []).unwrap_err().to_string();
        assert!(e.contains(needle), "{sql}: {e}");
    }
    assert!(matches!(
        store.token_authenticate(&issued.secret, t(2)),
        Err(AuthError::Revoked { .. })
    ));
}

#[test]
fn corrupt_token_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("kaizen.db")).unwrap();
    conn.execute(
        "INSERT INTO tokens (id, principal, kind, capabilities, hash, created_at, created_by)
         VALUES ('tok_bad', 'x', 'robot', '[\"*\"]', x'00', 0, 'y'),
                ('tok_bad2', 'x', 'human', '[\"x:fly\"]', x'01', 0, 'y')",
        [],
    )
    .unwrap();
    let store = store_in(dir.path());
    match store.tokens(true) {
        Err(e @ AuthError::Corrupt { .. }) => assert!(!e.is_user_error()),
        other => panic!("{other:?}"),
    }
    match store.token("tok_bad2") {
        Err(AuthError::Corrupt { id, message }) => {
            assert_eq!(id, "tok_bad2");
            assert!(message.contains("x:fly"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

fn entry<'a>(
    at: i64,
    actor: &'a str,
    operation: &'a str,
    target: Option<&'a str>,
) -> AuditEntry<'a> {
    AuditEntry {
        at: t(at),
        actor,
        actor_kind: ActorKind::Human,
        operation,
        target,
        outcome: AuditOutcome::Ok,
        before: None,
        after: None,
        detail: None,
    }
}

#[test]
fn audit_entries_round_trip_and_the_log_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let full = AuditEntry {
        at: t(5),
        actor: " bot-7 ",
        actor_kind: ActorKind::Agent,
        operation: "proposals.approve",
        target: Some("p-1"),
        outcome: AuditOutcome::Refused,
        before: Some("pending"),
        after: Some("pending"),
        detail: Some(json!({"reason": "agents never approve", "n": [1, 2]})),
    };
    let id = store.audit_append(&full).unwrap();
    let (records, total) = store.audit(&AuditQuery::default()).unwrap();
    assert_eq!(total, 1);
    let r = &records[0];
    assert_eq!(r.id, id);
    assert_eq!(r.at, t(5));
    assert_eq!(r.actor, "bot-7");
    assert_eq!(r.actor_kind, ActorKind::Agent);
    assert_eq!(r.operation, "proposals.approve");
    assert_eq!(r.target.as_deref(), Some("p-1"));
    assert_eq!(r.outcome, AuditOutcome::Refused);
    assert_eq!(r.before.as_deref(), Some("pending"));
    assert_eq!(r.after.as_deref(), Some("pending"));
    assert_eq!(r.detail, full.detail);
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["outcome"], "refused");
    assert_eq!(json["actor_kind"], "agent");

    let conn = rusqlite::Connection::open(dir.path().join("kaizen.db")).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET outcome = 'ok' WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ] {
        let e = conn.execute(sql, []).unwrap_err().to_string();
        assert!(e.contains("the audit log is append-only"), "{sql}: {e}");
    }
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().1, 1);

    // Bad entries are refused.
    for (e, needle) in [
        (entry(0, "", "x.y", None), "must not be blank"),
        (entry(0, "a\u{7}", "x.y", None), "control characters"),
        (entry(0, "ana", "", None), "dot-separated"),
        (entry(0, "ana", "Proposals.Approve", None), "dot-separated"),
        (entry(0, "ana", "x..y", None), "dot-separated"),
        (entry(0, "ana", "drop table;", None), "dot-separated"),
    ] {
        match store.audit_append(&e) {
            Err(StoreError::Refused(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{needle}: {other:?}"),
        }
    }
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().1, 1);
}

#[test]
fn audit_filters_pagination_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let rows: [(i64, &str, &str, Option<&str>); 7] = [
        (10, "ana", "proposals.approve", Some("p-1")),
        (20, "bo", "proposals.reject", Some("p-2")),
        (30, "ana", "tokens.create", Some("tok_a")),
        (30, "ana", "tokens.revoke", Some("tok_a")),
        (40, "bot", "proposals_archive.read", None),
        (50, "ana", "proposals", Some("p-1")),
        (60, "bo", "org.import", None),
    ];
    let mut ids = Vec::new();
    for (at, actor, op, target) in rows {
        ids.push(store.audit_append(&entry(at, actor, op, target)).unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    drop(store);
    let store = store_in(dir.path());

    let ops = |q: AuditQuery<'_>| -> (Vec<String>, u64) {
        let (records, total) = store.audit(&q).unwrap();
        (records.into_iter().map(|r| r.operation).collect(), total)
    };
    // Newest first; at ties, the later entry first.
    let (all, total) = ops(AuditQuery::default());
    assert_eq!(total, 7);
    assert_eq!(
        all,
        [
            "org.import",
            "proposals",
            "proposals_archive.read",
            "tokens.revoke",
            "tokens.create",
            "proposals.reject",
            "proposals.approve"
        ]
    );
    // Operation prefixes match whole segments.
    for (prefix, expected) in [
        (
            "proposals",
            vec!["proposals", "proposals.reject", "proposals.approve"],
        ),
        (
            "proposals.",
            vec!["proposals", "proposals.reject", "proposals.approve"],
        ),
        ("proposals.approve", vec!["proposals.approve"]),
        ("propos", vec![]),
        ("tokens", vec!["tokens.revoke", "tokens.create"]),
        ("%", vec![]),
        ("_", vec![]),
    ] {
        let q = AuditQuery {
            operation: Some(prefix),
            ..AuditQuery::default()
        };
        assert_eq!(ops(q).0, expected, "{prefix}");
    }
    let q = AuditQuery {
        actor: Some("ana"),
        ..AuditQuery::default()
    };
    assert_eq!(ops(q).1, 4);
    let q = AuditQuery {
        target: Some("p-1"),
        ..AuditQuery::default()
    };
    assert_eq!(ops(q).0, ["proposals", "proposals.approve"]);
    // since inclusive, until exclusive.
    let q = AuditQuery {
        since: Some(t(30)),
        until: Some(t(50)),
        ..AuditQuery::default()
    };
    assert_eq!(
        ops(q).0,
        ["proposals_archive.read", "tokens.revoke", "tokens.create"]
    );
    let q = AuditQuery {
        actor: Some("ana"),
        operation: Some("tokens"),
        since: Some(t(30)),
        ..AuditQuery::default()
    };
    assert_eq!(ops(q).1, 2);
    // Pages: the total is the whole match, whatever the page.
    let page = |offset| {
        ops(AuditQuery {
            limit: 3,
            offset,
            ..AuditQuery::default()
        })
    };
    let (p1, t1) = page(0);
    let (p2, _) = page(3);
    let (p3, t3) = page(6);
    let (p4, t4) = page(9);
    assert_eq!((t1, t3, t4), (7, 7, 7));
    assert_eq!((p1.len(), p2.len(), p3.len(), p4.len()), (3, 3, 1, 0));
    assert_eq!([p1, p2, p3].concat(), all);
    let huge = ops(AuditQuery {
        limit: usize::MAX,
        offset: usize::MAX,
        ..AuditQuery::default()
    });
    assert_eq!(huge, (vec![], 7));
    // Hostile filter values are only values.
    let q = AuditQuery {
        actor: Some("ana' OR '1'='1"),
        ..AuditQuery::default()
    };
    assert_eq!(ops(q).1, 0);
}

#[test]
fn tokens_and_audit_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let g = grant(&["proposals:*", "!proposals:approve", "*:read"]);
    let issued = {
        let mut store = store_in(dir.path());
        let issued = store
            .token_create(&new_token("bot", ActorKind::Agent, &g), t(0))
            .unwrap();
        store
            .audit_append(&entry(0, "root", "tokens.create", Some(&issued.id)))
            .unwrap();
        issued
    };
    let store = store_in(dir.path());
    let who = store.token_authenticate(&issued.secret, t(1)).unwrap();
    assert_eq!(who.grant, g);
    assert_eq!(
        store.tokens(false).unwrap()[0].capabilities,
        ["proposals:*", "*:read", "!proposals:approve"]
    );
    let (records, _) = store
        .audit(&AuditQuery {
            target: Some(&issued.id),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(records.len(), 1);
}
