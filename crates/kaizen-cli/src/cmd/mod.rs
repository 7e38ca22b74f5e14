//! One function per command. Each loads what it needs, calls the store and the core, and
//! hands the result to `output` for rendering.

mod agents;
mod alerts;
mod audit;
mod bench;
mod call;
mod cycle;
mod ingest;
mod lab;
mod mcp;
mod org;
mod proposals;
mod quickstart;
mod rollouts;
mod serve;
mod sim;
mod store;
mod token;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, Utc};
use kaizen_core::clock::{Clock, SystemClock};
use kaizen_core::config::KaizenConfig;
use kaizen_core::rules::RuleEngine;
use kaizen_core::signals::SnapshotBuilder;
use kaizen_core::snapshot::OrgSignalSnapshot;
use kaizen_server::settings::{McpConfig, ServerConfig, Settings};
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{Kaizen, Principal};
use kaizen_store::Store;
use kaizen_store::mutators::FileMutator;
use kaizen_store::proposals::{Actor, ActorKind};

use crate::cli::{Cli, Command, ConfigCommand, Global, RulesCommand, WindowArgs};
use crate::{config_file, output};

/// A mistake in the command line or the configuration (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Maps a service error by its kind, the one place the CLI does: what the caller can fix exits
/// 2, the rest (storage unavailable, internal failures) 1.
pub fn service_error(e: kaizen_service::ServiceError) -> anyhow::Error {
    if e.kind().is_caller_error() {
        usage(e.to_string())
    } else {
        anyhow!(e)
    }
}

/// The human at the keyboard: `--as NAME`, else $USER, else `cli`.
pub fn human_actor(name: Option<String>) -> Actor {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| "cli".to_owned());
    Actor {
        name,
        kind: ActorKind::Human,
    }
}

/// Returns an error with exit code 2.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow!(UsageError(msg.into()))
}

/// What every command gets.
pub struct Ctx {
    /// The meta-loop's configuration.
    pub config: KaizenConfig,
    /// `kaizen serve`'s and `kaizen mcp`'s sections of the file.
    pub server: ServerConfig,
    pub mcp: McpConfig,
    pub store_path: PathBuf,
    pub quiet: bool,
    pub clock: SystemClock,
}

impl Ctx {
    fn new(global: &Global) -> Result<Self> {
        let loaded =
            config_file::load(global.config.as_deref()).map_err(|e| usage(format!("{e:#}")))?;
        let store_path = global
            .store
            .clone()
            .unwrap_or_else(|| PathBuf::from(&loaded.config.kaizen.storage.path));
        let Settings {
            kaizen: config,
            server,
            mcp,
        } = loaded.config;
        Ok(Self {
            config,
            server,
            mcp,
            store_path,
            quiet: global.quiet,
            clock: SystemClock,
        })
    }

    /// The whole configuration file's settings, for the servers.
    pub fn settings(&self) -> Settings {
        Settings {
            kaizen: self.config.clone(),
            server: self.server.clone(),
            mcp: self.mcp.clone(),
        }
    }

    /// Opens (creating if needed) the store.
    pub fn open_store(&self) -> Result<Store> {
        open_store(&self.store_path)
    }

    /// kaizen on the store, with the default rollback executor and, with `notify_dir`, a file
    /// notifier told about every org version made: what operations run through.
    pub fn kaizen(&self, notify_dir: Option<&Path>) -> Result<Kaizen> {
        let mut executor = RollbackExecutor::default();
        if let Some(dir) = notify_dir {
            executor.add_notifier(Box::new(FileMutator::new(dir.to_path_buf())));
        }
        Ok(Kaizen::new(
            self.open_store()?,
            self.config.clone(),
            Arc::new(self.clock),
            executor,
        )
        .show_settings(self.settings().adapter_sections()))
    }

    /// The person at the keyboard as the gate's principal: `--as NAME`, else $USER, else `cli`.
    pub fn local(&self, name: Option<String>) -> Result<Principal> {
        Principal::local_human(human_actor(name).name).map_err(service_error)
    }

    /// Whether to draw progress bars.
    pub fn progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Opens the store at `path`, with a hint when its directory is missing.
pub fn open_store(path: &Path) -> Result<Store> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(usage(format!(
            "the store's directory {} does not exist (create it, or set storage.path / --store)",
            parent.display()
        )));
    }
    Store::open(path).with_context(|| format!("opening the store {}", path.display()))
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    // Commands that need no configuration.
    match &cli.command {
        Command::Init(args) => {
            if args.path.exists() && !args.force {
                return Err(usage(format!(
                    "{} already exists; use --force to overwrite it",
                    args.path.display()
                )));
            }
            config_file::write_template(&args.path, args.force)?;
            println!("wrote {}", args.path.display());
            let ctx = Ctx::new(&Global {
                config: Some(args.path.clone()),
                store: cli.global.store.clone(),
                verbose: cli.global.verbose,
                quiet: cli.global.quiet,
            })?;
            ctx.open_store()?;
            println!("store ready at {}", ctx.store_path.display());
            println!("next: kaizen ingest FILE, then kaizen snapshot / kaizen rules eval");
            return Ok(0);
        }
        Command::Sim(crate::cli::SimCommand::Generate(args)) => {
            return sim::generate(args, cli.global.quiet);
        }
        Command::Sim(crate::cli::SimCommand::Run(args)) => {
            return lab::sim_run(args, cli.global.quiet);
        }
        Command::Sim(crate::cli::SimCommand::Suite(args)) => {
            return lab::sim_suite(args, cli.global.quiet);
        }
        Command::Demo(args) => return lab::demo(args, cli.global.quiet),
        _ => {}
    }
    let ctx = Ctx::new(&cli.global)?;
    match cli.command {
        Command::Quickstart(args) => quickstart::run(&ctx, &args),
        Command::Init(_) | Command::Sim(_) | Command::Demo(_) => Ok(0),
        Command::Ingest(args) => ingest::run(&ctx, &args),
        Command::Snapshot(args) => {
            let store = ctx.open_store()?;
            let snapshot = build_snapshot(&ctx, &store, &args.window)?;
            if args.json {
                output::print_json(&snapshot)?;
            } else {
                output::print_snapshot(&snapshot);
            }
            Ok(0)
        }
        Command::Rules(RulesCommand::List { json }) => {
            let engine = RuleEngine::from_config(&ctx.config.rules);
            if json {
                output::print_json(&output::rules_json(&engine, &ctx.config))?;
            } else {
                output::print_rules(&engine, &ctx.config);
            }
            Ok(0)
        }
        Command::Rules(RulesCommand::Eval { window, json }) => {
            let store = ctx.open_store()?;
            let snapshot = build_snapshot(&ctx, &store, &window)?;
            let evaluation = RuleEngine::from_config(&ctx.config.rules).evaluate(&snapshot);
            if json {
                output::print_json(&serde_json::json!({
                    "window": snapshot.window,
                    "matches": evaluation.matches,
                    "failures": evaluation.failures,
                    "failed_domains": snapshot.failed_domains,
                }))?;
            } else {
                output::print_evaluation(&snapshot, &evaluation);
            }
            Ok(0)
        }
        Command::Store(cmd) => store::run(&ctx, cmd),
        Command::Config(ConfigCommand::Show { json }) => {
            let redacted = ctx.settings().redacted();
            if json {
                output::print_json(&redacted)?;
            } else {
                print!(
                    "{}",
                    serde_saphyr::to_string(&redacted).context("rendering the configuration")?
                );
            }
            Ok(0)
        }
        Command::Bench(cmd) => bench::run(&ctx, cmd),
        Command::Org(cmd) => org::run(&ctx, cmd),
        Command::Cycle(cmd) => cycle::run(&ctx, cmd),
        Command::Proposals(cmd) => proposals::run(&ctx, cmd),
        Command::Rollouts(cmd) => rollouts::run(&ctx, cmd),
        Command::Agents(cmd) => agents::run(&ctx, cmd),
        Command::Alerts(cmd) => alerts::run(&ctx, cmd),
        Command::Token(cmd) => token::run(&ctx, cmd),
        Command::Call(args) => call::run(&ctx, args),
        Command::Audit(args) => audit::run(&ctx, &args),
        Command::Mcp(args) => mcp::run(ctx, &args.token_file).map(|()| 0),
        Command::Serve(args) => serve::run(
            ctx,
            serve::ServeArgs {
                bind: args.bind,
                notify_dir: args.notify_dir,
            },
        )
        .map(|()| 0),
    }
}

/// Parses an RFC 3339 time argument.
pub fn parse_time(what: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| usage(format!("--{what} {s:?}: expected an RFC 3339 time with a zone, e.g. 2026-11-25T00:00:00Z ({e})")))
}

/// Parses a duration with `humantime` (`7d`, `36h`, `90m`, `1h 30m`), positive and at most ten years.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        usage(format!(
            "--window {s:?}: expected a positive duration such as 7d, 36h, 90m or 1h 30m"
        ))
    };
    let d = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
    if d.is_zero() || d > std::time::Duration::from_secs(3650 * 86_400) {
        return Err(bad());
    }
    Duration::from_std(d).map_err(|_| bad())
}

/// Resolves the window arguments against the configuration and the clock.
pub fn resolve_window(ctx: &Ctx, args: &WindowArgs) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let until = match &args.until {
        Some(s) => parse_time("until", s)?,
        None => ctx.now(),
    };
    let since = match (&args.since, &args.window) {
        (Some(_), Some(_)) => return Err(usage("give --since or --window, not both")),
        (Some(s), None) => parse_time("since", s)?,
        (None, Some(w)) => until - parse_duration(w)?,
        (None, None) => until - Duration::days(i64::from(ctx.config.signals.default_window_days)),
    };
    if since >= until {
        return Err(usage(format!(
            "the window is empty: --since {since} is not before --until {until}"
        )));
    }
    Ok((since, until))
}

/// Builds the snapshot for the window arguments.
pub fn build_snapshot(ctx: &Ctx, store: &Store, args: &WindowArgs) -> Result<OrgSignalSnapshot> {
    let (since, until) = resolve_window(ctx, args)?;
    Ok(SnapshotBuilder::new(ctx.config.signals.clone()).build(store.signal_source(), since, until))
}
