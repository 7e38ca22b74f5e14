//! `kaizen`: the command-line front end. Thin by design: it parses arguments, loads the
//! configuration, calls the store and the core, and renders tables or JSON.
//!
//! Exit codes: 0 success; 1 error; 2 bad usage or configuration; 3 `ingest` finished but
//! rejected some records.

mod cli;
mod cmd;
mod config_file;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for a bad command line or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for an ingestion that rejected records.
pub const EXIT_REJECTED: u8 = 3;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`kaizen … | head`), as command-line tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    init_tracing(args.global.verbose, args.global.quiet);
    match cmd::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = if err.downcast_ref::<cmd::UsageError>().is_some() {
                EXIT_USAGE
            } else {
                1
            };
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAIZEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
