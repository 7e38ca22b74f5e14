//! Quick manual driver: `cargo run --release -p kaizen-sim --example simgen -- AGENTS DAYS [FAULT...] > out.ndjson`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example, not product code

use std::io::Write;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use kaizen_sim::{Fault, SimSpec, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let agents = args.first().map_or(Ok(100), |s| s.parse())?;
    let days = args.get(1).map_or(Ok(7), |s| s.parse())?;
    let faults = args
        .iter()
        .skip(2)
        .map(|s| s.parse::<Fault>())
        .collect::<Result<Vec<_>, _>>()?;
    let end = Utc
        .with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .ok_or("bad end")?;
    let spec = SimSpec {
        faults,
        ..SimSpec::new(agents, days, 42, end)
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let t0 = Instant::now();
    let stats = generate(&spec, &mut out)?;
    out.flush()?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "{} events in {:.3}s = {:.0} events/s; {:?}",
        stats.events,
        secs,
        stats.events as f64 / secs,
        stats.by_type
    );
    Ok(())
}
