//! `kaizen audit`: the append-only audit log, newest first.

use anyhow::Result;
use comfy_table::Cell;
use kaizen_store::auth::{AuditQuery, AuditRecord};

use super::{Ctx, parse_time, usage};
use crate::cli::AuditArgs;
use crate::output;

pub fn run(ctx: &Ctx, args: &AuditArgs) -> Result<u8> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(usage(format!(
            "--since {s} is not before --until {u}: nothing can match"
        )));
    }
    let store = ctx.open_store()?;
    let query = AuditQuery {
        actor: args.actor.as_deref(),
        operation: args.operation.as_deref(),
        target: args.target.as_deref(),
        since,
        until,
        limit: args.limit,
        offset: args.offset,
    };
    let (records, total) = store.audit(&query)?;
    if args.json {
        output::print_json(&serde_json::json!({
            "total": total,
            "offset": args.offset,
            "entries": records,
        }))?;
    } else if records.is_empty() {
        println!(
            "{}",
            if total == 0 {
                "no audit entries".to_owned()
            } else {
                format!("no audit entries past the first {total}")
            }
        );
    } else {
        print_records(&records);
        let shown = records.len() as u64;
        if shown < total {
            println!(
                "{}–{} of {total}; --offset {} shows the next ones",
                args.offset + 1,
                args.offset as u64 + shown,
                args.offset as u64 + shown
            );
        }
    }
    Ok(0)
}

fn print_records(records: &[AuditRecord]) {
    let mut t = output::table();
    t.set_header(vec![
        "id",
        "at",
        "actor",
        "operation",
        "target",
        "outcome",
        "change",
        "detail",
    ]);
    for r in records {
        let change = match (&r.before, &r.after) {
            (None, None) => "—".to_owned(),
            (b, a) => format!(
                "{} → {}",
                b.as_deref().unwrap_or("—"),
                a.as_deref().unwrap_or("—")
            ),
        };
        t.add_row(vec![
            Cell::new(r.id),
            Cell::new(output::when(Some(r.at))),
            Cell::new(format!("{} ({})", r.actor, r.actor_kind)),
            Cell::new(&r.operation),
            Cell::new(r.target.as_deref().unwrap_or("—")),
            Cell::new(r.outcome.as_str()),
            Cell::new(clip(&change)),
            Cell::new(
                r.detail
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), |d| clip(&d.to_string())),
            ),
        ]);
    }
    println!("{t}");
}

/// At most 60 characters of `s` (`--json` shows everything).
fn clip(s: &str) -> String {
    const KEEP: usize = 60;
    if s.chars().count() <= KEEP {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(KEEP - 1).collect();
        out.push('…');
        out
    }
}
