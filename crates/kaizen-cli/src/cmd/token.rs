//! `kaizen token …`: bearer tokens for the API. Every create and revoke (and every refused
//! attempt that reached the store) is written to the audit log with the human at the keyboard
//! as the actor. Secrets are printed once and never written to the audit log.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use kaizen_core::auth::Grant;
use kaizen_store::Store;
use kaizen_store::auth::{
    AuditEntry, AuditOutcome, AuthError, NewToken, SECRET_PREFIX, TokenInfo, TokenState,
};
use kaizen_store::proposals::{Actor, ActorKind};
use serde::Serialize;

use super::{Ctx, human_actor, parse_duration, usage};
use crate::cli::{TokenCommand, TokenKindArg};
use crate::output;

/// A listed token with its state now.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    info: &'a TokenInfo,
    state: TokenState,
}

/// What `token create --json` prints.
#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    secret: &'a str,
    principal: &'a str,
    kind: ActorKind,
    capabilities: Vec<String>,
    created_at: DateTime<Utc>,
    created_by: &'a str,
    expires_at: Option<DateTime<Utc>>,
}

pub fn run(ctx: &Ctx, cmd: TokenCommand) -> Result<u8> {
    match cmd {
        TokenCommand::Create {
            principal,
            kind,
            caps,
            expires_in,
            actor,
            json,
        } => {
            let grant = Grant::parse(&caps).map_err(usage)?;
            let now = ctx.now();
            let expires_at = match expires_in {
                Some(d) => Some(
                    now + parse_duration(&d).map_err(|_| {
                        usage(format!(
                            "--expires-in {d:?}: expected a positive duration such as 30d, 12h or 90m"
                        ))
                    })?,
                ),
                None => None,
            };
            let kind = match kind {
                TokenKindArg::Human => ActorKind::Human,
                TokenKindArg::Agent => ActorKind::Agent,
            };
            let actor = human_actor(actor);
            let mut store = ctx.open_store()?;
            let new = NewToken {
                principal: &principal,
                kind,
                grant: &grant,
                expires_at,
                created_by: &actor.name,
            };
            create(ctx, &mut store, &actor, &new, now, json)
        }
        TokenCommand::List { all, json } => {
            let store = ctx.open_store()?;
            let now = ctx.now();
            let tokens = store.tokens(all).map_err(auth_error)?;
            if json {
                let listed: Vec<Listed<'_>> = tokens
                    .iter()
                    .map(|info| Listed {
                        info,
                        state: info.state(now),
                    })
                    .collect();
                output::print_json(&listed)?;
            } else if tokens.is_empty() {
                println!("{}", if all { "no tokens" } else { "no active tokens" });
            } else {
                print_tokens(&tokens, now);
            }
            Ok(0)
        }
        TokenCommand::Revoke { id, actor } => {
            let actor = human_actor(actor);
            let mut store = ctx.open_store()?;
            revoke(ctx, &mut store, &actor, &id)
        }
    }
}

fn create(
    ctx: &Ctx,
    store: &mut Store,
    actor: &Actor,
    new: &NewToken<'_>,
    now: DateTime<Utc>,
    json: bool,
) -> Result<u8> {
    let issued = match store.token_create(new, now) {
        Ok(issued) => issued,
        Err(e) => {
            if e.is_user_error() {
                let detail = serde_json::json!({
                    "error": e.to_string(),
                    "principal": new.principal,
                    "kind": new.kind,
                    "capabilities": new.grant.patterns(),
                });
                audit(
                    store,
                    actor,
                    "tokens.create",
                    None,
                    AuditOutcome::Refused,
                    None,
                    None,
                    Some(detail),
                    now,
                )?;
            }
            return Err(auth_error(e));
        }
    };
    let info = store
        .token(&issued.id)
        .map_err(auth_error)?
        .ok_or_else(|| anyhow!("token {} vanished right after its creation", issued.id))?;
    let after = serde_json::to_string(&info)?;
    if let Err(e) = audit(
        store,
        actor,
        "tokens.create",
        Some(&issued.id),
        AuditOutcome::Ok,
        None,
        Some(&after),
        None,
        now,
    ) {
        // An unaudited token must not stay usable; its secret was never shown.
        let undo = store.token_revoke(&issued.id, &actor.name, now);
        return Err(e.context(match undo {
            Ok(()) => format!(
                "recording the creation of token {} in the audit log failed, so it was revoked",
                issued.id
            ),
            Err(u) => format!(
                "recording the creation of token {} in the audit log failed, and revoking it failed too ({u}); revoke it",
                issued.id
            ),
        }));
    }
    if json {
        output::print_json(&Created {
            id: &issued.id,
            secret: &issued.secret,
            principal: &info.principal,
            kind: info.kind,
            capabilities: info.capabilities.clone(),
            created_at: info.created_at,
            created_by: &info.created_by,
            expires_at: info.expires_at,
        })?;
    } else {
        println!(
            "created token {} for {} ({}): {}; {}",
            issued.id,
            info.principal,
            info.kind,
            info.capabilities.join(", "),
            info.expires_at.map_or_else(
                || "never expires".to_owned(),
                |e| format!("expires {}", output::when(Some(e)))
            )
        );
        println!("{}", issued.secret);
    }
    if !ctx.quiet {
        eprintln!(
            "warning: this is the only time the secret is shown; kaizen keeps only its hash. Store it now (a secret manager, not the repository)."
        );
    }
    Ok(0)
}

fn revoke(ctx: &Ctx, store: &mut Store, actor: &Actor, id: &str) -> Result<u8> {
    let now = ctx.now();
    // A secret pasted where the id goes must not reach the audit log.
    let target = (!id.starts_with(SECRET_PREFIX)).then_some(id);
    let before = match store.token(id) {
        Ok(Some(info)) => Some(info.state(now)),
        Ok(None) => None,
        Err(e) => return Err(auth_error(e)),
    };
    match store.token_revoke(id, &actor.name, now) {
        Ok(()) => {
            audit(
                store,
                actor,
                "tokens.revoke",
                target,
                AuditOutcome::Ok,
                before.map(TokenState::as_str),
                Some(TokenState::Revoked.as_str()),
                None,
                now,
            )?;
            println!("revoked token {id} as {}", actor.name);
            Ok(0)
        }
        Err(e) => {
            if e.is_user_error() {
                let detail = serde_json::json!({ "error": e.to_string() });
                audit(
                    store,
                    actor,
                    "tokens.revoke",
                    target,
                    AuditOutcome::Refused,
                    before.map(TokenState::as_str),
                    before.map(TokenState::as_str),
                    Some(detail),
                    now,
                )?;
            }
            Err(auth_error(e))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn audit(
    store: &mut Store,
    actor: &Actor,
    operation: &str,
    target: Option<&str>,
    outcome: AuditOutcome,
    before: Option<&str>,
    after: Option<&str>,
    detail: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    store
        .audit_append(&AuditEntry {
            at,
            actor: &actor.name,
            actor_kind: actor.kind,
            operation,
            target,
            outcome,
            before,
            after,
            detail,
        })
        .map_err(|e| anyhow!(e).context("writing the audit log"))?;
    Ok(())
}

/// The caller's mistakes exit 2, the rest 1.
fn auth_error(e: AuthError) -> anyhow::Error {
    if e.is_user_error() {
        usage(e.to_string())
    } else {
        anyhow!(e)
    }
}

fn print_tokens(tokens: &[TokenInfo], now: DateTime<Utc>) {
    let mut t = output::table();
    t.set_header(vec![
        "id",
        "principal",
        "kind",
        "capabilities",
        "state",
        "created",
        "expires",
        "last used",
    ]);
    for i in tokens {
        let state = match i.state(now) {
            TokenState::Revoked => format!(
                "revoked by {}, {}",
                i.revoked_by.as_deref().unwrap_or("?"),
                output::when(i.revoked_at)
            ),
            s => s.as_str().to_owned(),
        };
        t.add_row(vec![
            Cell::new(&i.id),
            Cell::new(&i.principal),
            Cell::new(i.kind.as_str()),
            Cell::new(i.capabilities.join(", ")),
            Cell::new(state),
            Cell::new(format!(
                "{} by {}",
                output::when(Some(i.created_at)),
                i.created_by
            )),
            Cell::new(
                i.expires_at
                    .map_or_else(|| "never".to_owned(), |e| output::when(Some(e))),
            ),
            Cell::new(output::when(i.last_used_at)),
        ]);
    }
    println!("{t}");
}
