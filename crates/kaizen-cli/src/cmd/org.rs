//! `kaizen org …`: the org document and its versions (see docs/org.md).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use kaizen_core::org::{OrgChange, OrgDocument};
use kaizen_service::catalog::{OrgImportOp, OrgRestoreOp};
use kaizen_service::ops::{OrgImportInput, OrgImported, OrgRestoreInput};
use kaizen_store::Store;
use kaizen_store::org::{OrgStoreError, OrgVersion};
use serde_json::json;

use super::{Ctx, service_error, usage};
use crate::cli::OrgCommand;
use crate::output;

pub fn run(ctx: &Ctx, cmd: OrgCommand) -> Result<u8> {
    let mut store = ctx.open_store()?;
    match cmd {
        OrgCommand::Init { force } => init(ctx, &mut store, force),
        OrgCommand::Import {
            file,
            actor,
            reason,
        } => import(ctx, &file, actor, reason),
        OrgCommand::Export { version, output } => {
            let v = load(&mut store, version)?;
            let yaml =
                serde_saphyr::to_string(&v.document).context("rendering the org document")?;
            match output {
                Some(path) => {
                    std::fs::write(&path, yaml)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote org version {} to {}", v.id, path.display());
                }
                None => print!("{yaml}"),
            }
            Ok(0)
        }
        OrgCommand::Show { version, json } => {
            let v = load(&mut store, version)?;
            if json {
                output::print_json(&show_json(&v))?;
            } else {
                print_show(&v);
            }
            Ok(0)
        }
        OrgCommand::History { limit, json } => {
            let history = store.org_history(limit).map_err(org_error)?;
            if json {
                output::print_json(&history)?;
            } else if history.is_empty() {
                println!("no org versions yet (kaizen org init, or kaizen org import FILE)");
            } else {
                println!(
                    "{:>7}  {:>6}  {:<20}  {:<16}  {:>7}  {:<12}  reason",
                    "version", "parent", "created", "actor", "changes", "proposal"
                );
                for h in history {
                    println!(
                        "{:>7}  {:>6}  {:<20}  {:<16}  {:>7}  {:<12}  {}",
                        h.id,
                        h.parent.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                        h.created_at.format("%Y-%m-%d %H:%M:%S"),
                        h.actor,
                        h.change_count,
                        h.proposal_id.as_deref().unwrap_or("-"),
                        h.reason.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(0)
        }
        OrgCommand::Diff { from, to, json } => {
            let a = load(&mut store, Some(from))?;
            let b = load(&mut store, Some(to))?;
            let changes = OrgDocument::diff(&a.document, &b.document);
            if json {
                output::print_json(&json!({
                    "from": from,
                    "to": to,
                    "changes": changes,
                    "summary": changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))?;
            } else if changes.is_empty() {
                println!("versions {from} and {to} have the same document");
            } else {
                print_changes(&changes);
            }
            Ok(0)
        }
        OrgCommand::Rollback { to, reason, actor } => {
            // Through the gate as `org.restore`: authorised, audited, notifiers told.
            let v = ctx
                .kaizen(None)?
                .call::<OrgRestoreOp>(
                    &ctx.local(actor)?,
                    OrgRestoreInput {
                        id: to,
                        confirm: true,
                        reason,
                    },
                )
                .map_err(service_error)?;
            println!(
                "restored version {to}'s document as org version {} ({} {}):",
                v.id,
                v.changes.len(),
                plural(v.changes.len(), "change")
            );
            print_changes(&v.changes);
            Ok(0)
        }
    }
}

fn init(ctx: &Ctx, store: &mut Store, force: bool) -> Result<u8> {
    if let Some(current) = store.org_current().map_err(org_error)?
        && !force
    {
        return Err(usage(format!(
            "the org document already exists (version {}); `kaizen org init --force` imports the standard org over it as a new version",
            current.id
        )));
    }
    let imported = import_through_gate(
        ctx,
        None,
        OrgDocument::standard(),
        "imported the standard org with `kaizen org init`".to_owned(),
    )?;
    report_import(&imported, "the standard org");
    Ok(0)
}

fn import(ctx: &Ctx, file: &Path, actor: Option<String>, reason: Option<String>) -> Result<u8> {
    let origin = file.display().to_string();
    let text = if origin == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| usage(format!("cannot read {origin}: {e}")))?
    };
    let document = parse_document(&text, &origin)?;
    // Checked here too, to list every problem on its own line (`org.import` checks again).
    if let Err(errors) = document.clone().canonical().validate() {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        return Err(usage(format!(
            "{origin}: invalid org document; nothing imported:\n{}",
            lines.join("\n")
        )));
    }
    let reason = reason.unwrap_or_else(|| format!("imported {origin} with `kaizen org import`"));
    let imported = import_through_gate(ctx, actor, document, reason)?;
    report_import(&imported, &origin);
    Ok(0)
}

/// `org.import` through the gate, as the person at the keyboard: authorised, audited,
/// notifiers told.
fn import_through_gate(
    ctx: &Ctx,
    actor: Option<String>,
    document: OrgDocument,
    reason: String,
) -> Result<OrgImported> {
    ctx.kaizen(None)?
        .call::<OrgImportOp>(
            &ctx.local(actor)?,
            OrgImportInput {
                document,
                confirm: true,
                reason,
            },
        )
        .map_err(service_error)
}

fn report_import(outcome: &OrgImported, what: &str) {
    match (outcome.created, &outcome.version) {
        (true, Some(v)) => println!(
            "imported {what} as org version {} ({} {})",
            v.id,
            v.changes.len(),
            plural(v.changes.len(), "change")
        ),
        (_, Some(v)) => println!(
            "{what} equals the current org document (version {}); no new version",
            v.id
        ),
        (_, None) => println!("{what} is empty and there is no version yet; nothing imported"),
    }
}

/// Parses YAML strictly; errors name the file, line, column and key path.
fn parse_document(text: &str, origin: &str) -> Result<OrgDocument> {
    let mut key_path = None;
    let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, Option<OrgDocument>>(de).map_err(|e| {
            key_path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    match parsed {
        Ok(Some(doc)) => Ok(doc),
        Ok(None) => Err(usage(format!(
            "{origin}: the file holds no document (write `{{}}` to import an empty org)"
        ))),
        Err(err) => {
            let bare = err.without_snippet();
            let mut message = bare.to_string();
            let mut place = origin.to_owned();
            if let Some(loc) = bare.location() {
                let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
                place = format!("{origin}:{}:{}", loc.line(), loc.column());
            }
            Err(
                match key_path.filter(|p| !p.is_empty() && p != "?" && p != ".") {
                    Some(p) => usage(format!("{place}: {p}: {message}; nothing imported")),
                    None => usage(format!("{place}: {message}; nothing imported")),
                },
            )
        }
    }
}

/// The version asked for, or the current one.
fn load(store: &mut Store, version: Option<i64>) -> Result<OrgVersion> {
    match version {
        Some(id) => store.org_version(id).map_err(org_error)?.ok_or_else(|| {
            usage(format!(
                "org version {id} does not exist (see kaizen org history)"
            ))
        }),
        None => store.org_current().map_err(org_error)?.ok_or_else(|| {
            usage("there is no org document yet; run `kaizen org init` or `kaizen org import FILE`")
        }),
    }
}

/// User mistakes exit with 2, database failures with 1.
fn org_error(e: OrgStoreError) -> anyhow::Error {
    if e.is_user_error() {
        usage(e.to_string())
    } else {
        anyhow!(e)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

fn print_changes(changes: &[OrgChange]) {
    for c in changes {
        println!("  {c}");
    }
}

fn show_json(v: &OrgVersion) -> serde_json::Value {
    let d = &v.document;
    json!({
        "version": v.id,
        "parent": v.parent,
        "created_at": v.created_at,
        "actor": v.actor,
        "proposal_id": v.proposal_id,
        "reason": v.reason,
        "counts": {
            "agents": d.agents.len(),
            "departments": d.departments.len(),
            "roles": d.roles.len(),
            "workflows": d.workflows.len(),
            "principles": d.principles.len(),
        },
        "settings": d.settings,
        "principles": d.principles,
    })
}

fn print_show(v: &OrgVersion) {
    let d = &v.document;
    println!(
        "org version {}{} — {} by {}{}",
        v.id,
        v.parent
            .map_or_else(String::new, |p| format!(" (parent {p})")),
        v.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        v.actor,
        v.reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {r}"))
    );
    if let Some(p) = &v.proposal_id {
        println!("proposal {p}");
    }
    println!();
    for (name, n) in [
        ("agents", d.agents.len()),
        ("departments", d.departments.len()),
        ("roles", d.roles.len()),
        ("workflows", d.workflows.len()),
        ("principles", d.principles.len()),
    ] {
        println!("{name:<12} {n:>6}");
    }
    println!();
    println!("settings");
    let leaves = d.settings.leaves();
    let width = leaves.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    if leaves.is_empty() {
        println!("  (none)");
    }
    for (path, value) in leaves {
        println!("  {path:<width$}  {value}");
    }
    println!();
    println!("principles");
    if d.principles.is_empty() {
        println!("  (none)");
    }
    for p in &d.principles {
        println!("  {} [{}, {}]", p.id, p.scope, p.mode);
        println!("    {}", p.text);
    }
}
