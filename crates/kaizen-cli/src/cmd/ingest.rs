//! `kaizen ingest`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};

use anyhow::{Context, Result, anyhow};
use chrono::Duration;
use kaizen_service::ServiceError;
use kaizen_service::catalog::IngestEvents;
use kaizen_service::op::Op;
use kaizen_service::ops::operation;
use kaizen_store::{IngestOptions, IngestReport, InputFormat, StoreError};
use serde::Serialize;

use super::{Ctx, service_error, usage};
use crate::cli::{FormatArg, IngestArgs};
use crate::{EXIT_REJECTED, output};

#[derive(Serialize)]
struct FileReport {
    file: String,
    #[serde(flatten)]
    report: IngestReport,
}

/// This process's peak resident set size (VmHWM), in MiB, where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

pub fn run(ctx: &Ctx, args: &IngestArgs) -> Result<u8> {
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(usage("standard input (`-`) can be given only once"));
    }
    for f in &args.files {
        if f.as_os_str() != "-" && !f.is_file() {
            return Err(usage(format!("{}: no such file", f.display())));
        }
    }
    // Each file is one `events.ingest` through the gate, as the person at the keyboard:
    // authorised and audited like `POST /events`, streamed from the file.
    let kaizen = ctx.kaizen(None)?;
    let who = ctx.local(None)?;
    let op = operation(IngestEvents::SPEC.name)
        .ok_or_else(|| anyhow!("operation events.ingest is not registered"))?;
    let mut rejects = match &args.rejects {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| {
            format!("creating the rejects file {}", path.display())
        })?)),
        None => None,
    };
    let mut reports = Vec::new();
    for file in &args.files {
        let name = file.display().to_string();
        let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if file.as_os_str() == "-" {
            (Box::new(std::io::stdin()), None)
        } else {
            let f = File::open(file).with_context(|| format!("opening {name}"))?;
            let size = f.metadata().ok().map(|m| m.len());
            (Box::new(f), size)
        };
        let bar = output::byte_progress(ctx.progress(), size, &name);
        let progress = |bytes: u64| bar.set_position(bytes);
        let mut opts = IngestOptions::new(ctx.now());
        opts.format = match args.format {
            FormatArg::Auto => InputFormat::Auto,
            FormatArg::Ndjson => InputFormat::Ndjson,
            FormatArg::Json => InputFormat::JsonArray,
        };
        opts.batch_size = args.batch_size;
        opts.progress = Some(&progress);
        opts.rejects = rejects.as_mut().map(|w| w as &mut dyn Write);
        let result = kaizen.run_as(&who, op, None, |cx| {
            cx.audit.insert("input".to_owned(), name.clone().into());
            let report = cx.svc.store.ingest(reader, opts).map_err(|e| match e {
                StoreError::Refused(m) => ServiceError::Invalid(format!("{name}: {m}")),
                other => kaizen_service::error::from_store(other),
            })?;
            for (key, n) in [
                ("accepted", report.accepted),
                ("duplicates", report.duplicates),
                ("rejected", report.rejected),
            ] {
                cx.audit.insert(key.to_owned(), n.into());
            }
            Ok(report)
        });
        bar.finish_and_clear();
        let report = result
            .map_err(service_error)
            .with_context(|| format!("ingesting {name}"))?;
        reports.push(FileReport { file: name, report });
    }
    if let Some(w) = rejects.as_mut() {
        w.flush().context("writing the rejects file")?;
    }
    let pruned = match ctx.config.storage.raw_retention_days {
        Some(days) => kaizen
            .store()
            .prune_raw_events(ctx.now() - Duration::days(i64::from(days)))?,
        None => 0,
    };
    let rejected: u64 = reports.iter().map(|r| r.report.rejected).sum();
    if args.json {
        output::print_json(&serde_json::json!({
            "files": reports,
            "accepted": reports.iter().map(|r| r.report.accepted).sum::<u64>(),
            "duplicates": reports.iter().map(|r| r.report.duplicates).sum::<u64>(),
            "rejected": rejected,
            "pruned_raw_events": pruned,
            "peak_rss_mib": peak_rss_mib(),
        }))?;
    } else {
        for r in &reports {
            output::print_ingest_report(&r.file, &r.report);
        }
        if pruned > 0 {
            println!(
                "retention: pruned {pruned} raw events older than {} days (rollups kept)",
                ctx.config.storage.raw_retention_days.unwrap_or(0)
            );
        }
        if let (Some(path), true) = (&args.rejects, rejected > 0) {
            println!("rejected records were written to {}", path.display());
        }
    }
    Ok(if rejected > 0 { EXIT_REJECTED } else { 0 })
}
