//! `kaizen token …`: bearer tokens for the API. Create and revoke run through the gate as the
//! `tokens.create` and `tokens.revoke` operations, as the human at the keyboard (who holds every
//! capability, so needs no token: the recovery path when no admin token is left), held to the
//! same rules as over the API and audited alike. Secrets are printed once and never written to
//! the audit log.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use kaizen_core::auth::Grant;
use kaizen_service::catalog::{TokensCreate, TokensList, TokensRevoke, issue_token};
use kaizen_service::op::Op;
use kaizen_service::ops::{TokenCreated, TokenRevokeInput, TokensListInput, operation};
use kaizen_store::auth::{TokenInfo, TokenState};
use kaizen_store::proposals::ActorKind;
use serde::Serialize;

use super::{Ctx, parse_duration, service_error, usage};
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
            let op = operation(TokensCreate::SPEC.name)
                .ok_or_else(|| anyhow!("operation tokens.create is not registered"))?;
            let created = ctx
                .kaizen(None)?
                .run_as(&ctx.local(actor)?, op, None, |cx| {
                    for (key, value) in [
                        ("principal", serde_json::json!(principal)),
                        ("kind", serde_json::json!(kind)),
                        ("capabilities", serde_json::json!(grant.patterns())),
                        ("expires_at", serde_json::json!(expires_at)),
                    ] {
                        cx.audit.insert(key.to_owned(), value);
                    }
                    issue_token(cx, &principal, kind, &grant, expires_at)
                })
                .map_err(service_error)?;
            print_created(ctx, &created, json)
        }
        TokenCommand::List { all, json } => {
            let now = ctx.now();
            let tokens = ctx
                .kaizen(None)?
                .call::<TokensList>(
                    &ctx.local(None)?,
                    TokensListInput {
                        include_revoked: all,
                    },
                )
                .map_err(service_error)?;
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
        TokenCommand::Revoke { id, actor, reason } => {
            let revoked = ctx
                .kaizen(None)?
                .call::<TokensRevoke>(
                    &ctx.local(actor)?,
                    TokenRevokeInput {
                        id,
                        confirm: true,
                        reason: reason
                            .unwrap_or_else(|| "revoked with `kaizen token revoke`".to_owned()),
                    },
                )
                .map_err(service_error)?;
            println!(
                "revoked token {} as {}",
                revoked.id,
                revoked.revoked_by.as_deref().unwrap_or("?")
            );
            Ok(0)
        }
    }
}

fn print_created(ctx: &Ctx, created: &TokenCreated, json: bool) -> Result<u8> {
    let info = &created.token;
    if json {
        output::print_json(&Created {
            id: &info.id,
            secret: &created.secret,
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
            info.id,
            info.principal,
            info.kind,
            info.capabilities.join(", "),
            info.expires_at.map_or_else(
                || "never expires".to_owned(),
                |e| format!("expires {}", output::when(Some(e)))
            )
        );
        println!("{}", created.secret);
    }
    if !ctx.quiet {
        eprintln!(
            "warning: this is the only time the secret is shown; kaizen keeps only its hash. Store it now (a secret manager, not the repository)."
        );
    }
    Ok(0)
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
