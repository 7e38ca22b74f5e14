//! `kaizen call OPERATION [ARGS]`: any operation of the registry, run through the gate as the
//! person at the keyboard. The same names, arguments (JSON, validated against the operation's
//! input type), permissions and audit entries as the REST API and the MCP tools. A failure
//! prints the same error envelope (`{"error": {code, message, details}}`) on standard output
//! and exits 2 for what the caller can fix, 1 otherwise.

use std::io::Read;

use anyhow::{Context, Result};
use comfy_table::Cell;
use kaizen_service::ServiceError;
use kaizen_service::ops::operations;

use super::{Ctx, service_error, usage};
use crate::cli::CallArgs;
use crate::output;

pub fn run(ctx: &Ctx, args: CallArgs) -> Result<u8> {
    if args.list {
        return list(args.json);
    }
    let Some(name) = args.operation else {
        return Err(usage("name an operation, or pass --list"));
    };
    let text = match args.args.as_deref() {
        None => "{}".to_owned(),
        Some("-") => {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .context("reading the arguments from standard input")?;
            buf
        }
        Some(text) => text.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("the arguments are not valid JSON: {e}")))?;
    if kaizen_service::ops::operation(&name).is_none() {
        return Err(usage(format!(
            "no operation called {name:?}; `kaizen call --list` lists them"
        )));
    }
    let who = ctx.local(args.actor)?;
    match ctx
        .kaizen(args.notify_dir.as_deref())?
        .execute(&who, &name, value)
    {
        Ok(out) => {
            output::print_json(&out)?;
            Ok(0)
        }
        Err(e) => {
            // The error envelope of REST and MCP on standard output (for scripts), the message
            // on standard error; the exit code by kind.
            let details: Vec<serde_json::Value> = match &e {
                ServiceError::Field { field, message } => {
                    vec![serde_json::json!({"field": field, "message": message})]
                }
                _ => Vec::new(),
            };
            output::print_json(&serde_json::json!({
                "error": {"code": e.code(), "message": e.to_string(), "details": details}
            }))?;
            Err(service_error(e))
        }
    }
}

fn list(json: bool) -> Result<u8> {
    if json {
        let rows: Vec<serde_json::Value> = operations()
            .iter()
            .map(|op| {
                serde_json::json!({
                    "name": op.name,
                    "capability": op.capability(),
                    "human_only": op.human_only,
                    "method": op.method,
                    "path": format!("/api/v1{}", op.path),
                    "summary": op.summary,
                })
            })
            .collect();
        output::print_json(&rows)?;
        return Ok(0);
    }
    let mut t = output::table();
    t.set_header(vec!["operation", "capability", "REST", "summary"]);
    for op in operations() {
        t.add_row(vec![
            Cell::new(op.name),
            Cell::new(format!(
                "{}{}",
                op.capability(),
                if op.human_only { " (human)" } else { "" }
            )),
            Cell::new(format!(
                "{} /api/v1{}",
                serde_json::to_value(op.method)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                op.path
            )),
            Cell::new(op.summary),
        ]);
    }
    println!("{t}");
    Ok(0)
}
