//! `kaizen sim generate`.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use kaizen_core::clock::{Clock, SystemClock};
use kaizen_sim::{Fault, SimSpec};

use super::{parse_time, usage};
use crate::cli::SimGenerateArgs;

/// Parses `--inject` values.
pub fn parse_faults(values: &[String]) -> Result<Vec<Fault>> {
    values
        .iter()
        .filter(|v| v.as_str() != "none")
        .map(|v| {
            v.parse::<Fault>()
                .map_err(|e| usage(format!("--inject {v:?}: {e}")))
        })
        .collect()
}

pub fn generate(args: &SimGenerateArgs, quiet: bool) -> Result<u8> {
    let end = match &args.end {
        Some(s) => parse_time("end", s)?,
        None => kaizen_sim::current_hour(SystemClock.now()),
    };
    let mut spec = SimSpec::new(args.agents, args.days, args.seed, end);
    spec.faults = parse_faults(&args.inject)?;
    if let Some(t) = args.tasks_per_agent_day {
        spec.tasks_per_agent_day = t;
    }
    spec.validate().map_err(|e| usage(e.to_string()))?;
    let stats = if args.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        let stats = kaizen_sim::generate(&spec, &mut out)?;
        out.flush()?;
        stats
    } else {
        let file = File::create(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let stats = kaizen_sim::generate(&spec, &mut out)?;
        out.flush()
            .with_context(|| format!("writing {}", args.output.display()))?;
        stats
    };
    if !quiet && args.output.as_os_str() != "-" {
        eprintln!(
            "wrote {} events ({} agents, {} days ending {}) to {}",
            stats.events,
            spec.agents,
            spec.days,
            spec.end.to_rfc3339(),
            args.output.display()
        );
    }
    Ok(0)
}
