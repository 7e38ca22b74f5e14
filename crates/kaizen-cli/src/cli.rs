//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kaizen: a self-improvement meta-loop for organisations of AI agents.
///
/// kaizen ingests signals from seven domains of an agent organisation, builds a snapshot, runs
/// auditable rules on it, turns what they find into proposals for the org document and queues
/// them for mandatory human review. Start with `kaizen quickstart`.
#[derive(Debug, Parser)]
#[command(
    name = "kaizen",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (default: $KAIZEN_CONFIG, else ./kaizen.yaml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite store to use, overriding `storage.path`.
    #[arg(long, global = true, value_name = "PATH", env = "KAIZEN_STORE")]
    pub store: Option<PathBuf>,
    /// More log output (-v info, -vv debug). KAIZEN_LOG takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic org, ingest it into a fresh store, print the snapshot and the rules that fire.
    Quickstart(QuickstartArgs),
    /// A simulated organisation on an accelerated clock against a real `kaizen serve` with the
    /// loop enabled: watch kaizen find its faults, approve the fixes in the web UI, see them
    /// rolled out and judged (`--unattended`: a simulated reviewer approves).
    Demo(DemoArgs),
    /// Write a commented starter kaizen.yaml and create the store.
    Init(InitArgs),
    /// Ingest events (NDJSON or a JSON array) from files or stdin.
    Ingest(IngestArgs),
    /// Build the signal snapshot for a window.
    Snapshot(SnapshotArgs),
    /// List or evaluate the rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Synthetic data.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Inspect and maintain the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run any operation by name, as the person at the keyboard: the operations, arguments,
    /// permissions and audit entries of the REST API and the MCP tools (`--list` lists them).
    Call(CallArgs),
    /// Measure ingestion, snapshot, cycle and effective-config performance, and the rollout
    /// detector's error rates (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The org document: import, export, show, history, diff and rollback of its versions.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Run improvement cycles and inspect them (snapshot → rules → strategies → guards → queue).
    #[command(subcommand)]
    Cycle(CycleCommand),
    /// Review the approval queue: list, show, approve (starts the rollout), reject, preview,
    /// roll back.
    #[command(subcommand)]
    Proposals(ProposalsCommand),
    /// Staged rollouts of approved proposals: list, show, start, run due checks, decide.
    #[command(subcommand)]
    Rollouts(RolloutsCommand),
    /// What agents run with.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Alerts for a human (automatic and failed rollbacks, apply conflicts, stuck rollouts, …):
    /// list, acknowledge, deliver to the configured sinks, show the delivery outbox.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Bearer tokens for the API: create (the secret is shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The append-only audit log of state changes and refused attempts, newest first.
    Audit(AuditArgs),
    /// Run the server: REST API (/api/v1), web UI (/ui), metrics, the scheduler and the rollout
    /// engine. Creates and prints an admin token on the first start.
    Serve(ServeArgs),
    /// Serve MCP over stdio for a local client (Claude Desktop, an IDE, an agent framework):
    /// every operation as a tool, scoped by the token's capabilities. `kaizen serve` also
    /// serves MCP over streamable HTTP at /mcp.
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// File holding the bearer token (`kz_…`) the client acts with; its capabilities decide
    /// which tools the client sees.
    #[arg(long, env = "KAIZEN_TOKEN_FILE")]
    pub token_file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.bind`, default 127.0.0.1:7878).
    #[arg(long)]
    pub bind: Option<String>,
    /// Write each org version a rollout verdict creates to this directory as JSON.
    #[arg(long)]
    pub notify_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Agents in the synthetic org.
    #[arg(long, default_value_t = 60)]
    pub agents: u32,
    /// Days of history.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Faults to inject (repeatable); default: budget-overrun and coordination-overhead.
    /// Use `--inject none` for a healthy org.
    #[arg(long = "inject", value_name = "FAULT")]
    pub inject: Vec<String>,
    /// Keep the data here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print JSON (snapshot and rule evaluation) instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the configuration.
    #[arg(long, default_value = "kaizen.yaml", value_name = "FILE")]
    pub path: PathBuf,
    /// Overwrite an existing configuration file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Detect: a JSON array if the input starts with `[`, NDJSON otherwise.
    Auto,
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects.
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Input files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Input framing.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Write rejected records here, verbatim, one per line (to fix and re-ingest).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Records per transaction.
    #[arg(long, default_value_t = 100_000, hide = true)]
    pub batch_size: usize,
}

/// A snapshot window.
#[derive(Debug, Args, Clone)]
pub struct WindowArgs {
    /// Window start (RFC 3339); default: until − window.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Window end, exclusive (RFC 3339); default: now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Window length such as 7d, 36h, 90m; default: signals.default_window_days.
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules with their thresholds and whether they are enabled.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the snapshot and evaluate the rules on it.
    Eval {
        #[command(flatten)]
        window: WindowArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Write a deterministic synthetic NDJSON dataset.
    Generate(SimGenerateArgs),
    /// Run a scenario with kaizen's loop and without it, and compare (docs/simulator.md).
    Run(SimRunArgs),
    /// Run every scenario (*.yaml) of a directory and print a table.
    Suite(SimSuiteArgs),
}

/// What `sim run`, `sim suite` and `demo` may override in a scenario.
#[derive(Debug, Args, Clone, Default)]
pub struct ScenarioOverrides {
    /// Agents in the organisation (overrides the scenario's org.agents).
    #[arg(long)]
    pub agents: Option<u32>,
    /// Simulated days (overrides the scenario's days; faults after the end are dropped).
    #[arg(long)]
    pub days: Option<u32>,
    /// Seed (overrides the scenario's seed).
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SimRunArgs {
    /// The scenario file (scenarios/*.yaml).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// Keep the store of the run with the loop in this (new) directory.
    #[arg(long, value_name = "DIR")]
    pub keep_dir: Option<PathBuf>,
    /// Instead of the deterministic comparison, feed the organisation to a running
    /// `kaizen serve` at this URL in real time (events and config reads over HTTP).
    #[arg(long, value_name = "URL", requires = "token")]
    pub target: Option<String>,
    /// The bearer token for --target (an agent token with events:write and agents:read).
    #[arg(long, env = "KAIZEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With --target: simulated minutes per step (tasks of a step are sent at its end).
    #[arg(long, default_value_t = 5, value_name = "MINUTES")]
    pub step_minutes: u32,
    /// Write the scenario's org document (YAML) to FILE and exit: `kaizen org import FILE` on
    /// the server before `--target`.
    #[arg(long, value_name = "FILE", conflicts_with = "target")]
    pub write_org: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimSuiteArgs {
    /// Directory of scenario files.
    #[arg(value_name = "DIR", default_value = "scenarios")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the store in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The scenario to play (default: a built-in one with two faults). Its `kaizen:` section is
    /// the configuration; the global --config and --store do not apply.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// Simulated seconds per real second (3600: one simulated hour per second).
    #[arg(long, default_value_t = 3600.0)]
    pub speed: f64,
    /// Days simulated at once before the clock starts, so the dashboard has history.
    #[arg(long, default_value_t = 7)]
    pub warmup_days: u32,
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub bind: String,
    /// Let the simulated reviewer approve (per the scenario's policy) and print a summary at the
    /// end, instead of waiting for a person in the web UI.
    #[arg(long)]
    pub unattended: bool,
}

#[derive(Debug, Args)]
pub struct SimGenerateArgs {
    /// Agents.
    #[arg(long, default_value_t = 50)]
    pub agents: u32,
    /// Days of history.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Random seed; the same arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault to inject in the last days (repeatable): budget-overrun, coordination-overhead,
    /// coordination-cost, stragglers, redundancy, error-spike, quality-decline[:DEPT],
    /// success-drop, scaling-failure, benchmark-regression.
    #[arg(long = "inject", value_name = "FAULT")]
    pub inject: Vec<String>,
    /// Exclusive end of the data (RFC 3339); default: the current hour.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Mean tasks per agent per day.
    #[arg(long)]
    pub tasks_per_agent_day: Option<f64>,
    /// Output file; `-` for stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Counts and sizes.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild rollups and entity tables from the raw events.
    RebuildRollups {
        /// Rebuild even though retention pruned raw events (their rollups are lost).
        #[arg(long)]
        force: bool,
    },
    /// Delete raw events older than the retention (storage.raw_retention_days) or --before.
    Prune {
        /// Delete raw events before this time (RFC 3339) instead.
        #[arg(long, value_name = "TIME")]
        before: Option<String>,
    },
    /// Write a consistent copy of the store to FILE, also while `kaizen serve` writes to it
    /// (SQLite's VACUUM INTO); prints its size, tables and events. Restore: stop the server and
    /// copy the file back (docs/operations.md).
    Backup {
        /// The backup file to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted).
    Show {
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// `kaizen ingest` of an NDJSON file into a fresh store vs a bare SQLite insert loop of the same rows.
    Ingest {
        /// Events in the file.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Alternating runs of each side.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Working directory (default: a temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Full improvement cycle time on a large store (an org with three faults).
    Cycle {
        /// Agents.
        #[arg(long, default_value_t = 1000)]
        agents: u32,
        /// Approximate events in the store.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Cycles to time.
        #[arg(long, default_value_t = 30)]
        iterations: u32,
        /// Working directory; a store built there earlier with the same parameters is reused.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Snapshot build time on a large store.
    Snapshot {
        /// Agents.
        #[arg(long, default_value_t = 1000)]
        agents: u32,
        /// Approximate events in the store.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Days of data (the snapshot window is the last 7 days).
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Snapshot builds to time.
        #[arg(long, default_value_t = 30)]
        iterations: u32,
        /// Working directory; a store built there earlier with the same parameters is reused.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Monte-Carlo study of the rollout regression detector with the configured detection
    /// settings, window and check interval: for every design × departure × org size × effect,
    /// simulated rollouts fed to the detector as the rollout engine feeds it, and how often
    /// they were rolled back (with a Wilson 95 % interval), applied, held or inconclusive.
    /// The data model and the departures are documented in `kaizen_sim::study`.
    Rollouts {
        /// Simulated rollouts per row.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// Org sizes (agents), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "12,20,50,200", value_parser = clap::value_parser!(u32).range(2..))]
        sizes: Vec<u32>,
        /// Designs, comma-separated: before_after (every agent, against the same hours one
        /// and two weeks earlier), canary (20 % treated), ab_test (50 %).
        #[arg(long, value_delimiter = ',', default_value = "before_after,canary,ab_test", value_parser = kaizen_sim::study::matrix::design_arg)]
        designs: Vec<kaizen_core::rollout::check::Design>,
        /// Departures from the baseline data model, comma-separated: none, heavy_tails,
        /// autocorrelation, daily, daily_fixed, weekly, drift_fixed, drift_random,
        /// intermittent, low_volume, all.
        #[arg(long, value_delimiter = ',', default_value = "none,heavy_tails,autocorrelation,daily,daily_fixed,weekly,drift_fixed,drift_random,intermittent,low_volume,all", value_parser = kaizen_sim::study::matrix::departure_arg)]
        departures: Vec<kaizen_sim::study::Departure>,
        /// Effects of the change, comma-separated: null (none), quality-10, cost+15, errors3x,
        /// quality+30 (the primary metric improved; run for orgs of at most 20 agents); also
        /// quality-20 and quality-30 (the detectable effect where -10 % is not).
        #[arg(long, value_delimiter = ',', default_value = "null,quality-10,cost+15,errors3x,quality+30", value_parser = kaizen_sim::study::matrix::effect_arg)]
        effects: Vec<kaizen_sim::study::matrix::EffectScenario>,
        /// Seed; run k of every row uses seed + k.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Soak: a real `kaizen serve` (this binary) under steady mixed reads and writes for N
    /// minutes; per minute: latency percentiles of reads and writes, errors, the server's RSS
    /// and open file descriptors.
    Soak {
        /// Minutes to run.
        #[arg(long, default_value_t = 10)]
        minutes: u32,
        /// Agents in the org (config reads go round-robin over them).
        #[arg(long, default_value_t = 200)]
        agents: u32,
        /// Read requests per second (config reads, with and without an ETag, lists, metrics).
        #[arg(long, default_value_t = 200)]
        reads_per_second: u32,
        /// Event batches (100 events each) posted per second.
        #[arg(long, default_value_t = 10)]
        batches_per_second: u32,
        /// Working directory (default: a temporary one, removed afterwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Effective-config reads (what agent runtimes poll) on a temporary store with a live
    /// canary rollout: cached and uncached reads per second, cached read latency.
    EffectiveConfig {
        /// Agents in the org (in 10 departments).
        #[arg(long, default_value_t = 1000)]
        agents: u32,
        /// Cached reads to time (round-robin over the agents).
        #[arg(long, default_value_t = 1_000_000)]
        reads: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Import the standard org shape (docs/org.md) as the first version.
    Init {
        /// Import it even though a version exists (as a new version; history is kept).
        #[arg(long)]
        force: bool,
    },
    /// Make a YAML org document the current version (validated; nothing changes on error).
    Import {
        /// The YAML file; `-` reads standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Who makes the change (default: $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
        /// Why (audited; default: "imported FILE with `kaizen org import`").
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Write a version of the org document as YAML.
    #[command(disable_version_flag = true)]
    Export {
        /// The version (default: the current one).
        #[arg(long, value_name = "N")]
        version: Option<i64>,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Summarise a version: counts, settings, principles.
    #[command(disable_version_flag = true)]
    Show {
        /// The version (default: the current one).
        #[arg(long, value_name = "N")]
        version: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the versions, newest first.
    History {
        /// At most this many versions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The changes that turn version V1's document into version V2's.
    Diff {
        /// The older version.
        #[arg(value_name = "V1")]
        from: i64,
        /// The newer version.
        #[arg(value_name = "V2")]
        to: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore an earlier version's document as a new version.
    Rollback {
        /// The version to restore.
        #[arg(long, value_name = "V")]
        to: i64,
        /// Why (recorded in the history).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Who rolls back (default: $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CycleCommand {
    /// Run one cycle now. Needs `self_improvement.enabled: true` and an org document.
    Run {
        /// Run the whole cycle but queue nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a cycle only if the schedule (schedule.cycle_interval_hours) says one is due.
    Tick {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recorded cycles, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One recorded cycle in full.
    Show {
        /// Cycle id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProposalsCommand {
    /// The queue, newest first.
    List {
        /// Only this status: pending, approved, rejected, rolling_out, inconclusive, applied,
        /// rolled_back, rollback_failed, superseded.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A proposal with its evidence, exact changes, rollback plan, guards and history.
    Show {
        /// Proposal id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending proposal (you are recorded as the reviewer). Once it has the
    /// approvals its risk requires, its rollout starts.
    Approve {
        /// Proposal id.
        id: String,
        /// Why (optional).
        #[arg(long)]
        reason: Option<String>,
        /// Reviewer name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        reviewer: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending or approved proposal.
    Reject {
        /// Proposal id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Never propose this change again (otherwise it may come back after
        /// `self_improvement.memory.cooldown_days`, or sooner if the evidence changes
        /// materially).
        #[arg(long)]
        never_again: bool,
        /// Reviewer name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        reviewer: Option<String>,
    },
    /// What the proposal would change in the current org document, and how it is undone
    /// (the applier's check; writes nothing). Proposals take effect through their rollout.
    Preview {
        /// Proposal id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Undo an applied proposal with a new org version.
    Rollback {
        /// Proposal id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Also write the new org version as JSON into this directory.
        #[arg(long, value_name = "DIR")]
        notify_dir: Option<PathBuf>,
        /// Operator name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        reviewer: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// The design the org's size can conclude with: canary, else A/B, else before/after.
    #[value(name = "auto")]
    Auto,
    /// Everyone gets the change; compare with the same hours one and two weeks earlier
    /// (confounded with anything else that changed meanwhile).
    #[value(name = "before_after")]
    BeforeAfter,
    /// A stratified fraction of the agents (self_improvement.rollout.canary_fraction).
    #[value(name = "canary")]
    Canary,
    /// Treatment against a concurrent control group (rollout.ab_test).
    #[value(name = "ab_test")]
    AbTest,
}

/// What a human decides about a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    /// Observe a paused rollout for --hours more.
    Extend,
    /// Apply a paused rollout org-wide now (a new org version).
    Apply,
    /// Roll back an observing or paused rollout, or retry a failed rollback.
    Rollback,
}

#[derive(Debug, Subcommand)]
pub enum RolloutsCommand {
    /// Rollouts, newest first.
    List {
        /// Only this state: observing, paused, rolling_back, applied, rolled_back,
        /// rollback_failed.
        #[arg(long)]
        state: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A rollout: strategy, groups, overlay, verdict and the history of its checks.
    Show {
        /// Proposal id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start the rollout of an approved proposal whose automatic start failed.
    Start {
        /// Proposal id.
        id: String,
        /// Strategy (default: the proposal's).
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Operator name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Run the regression checks that are due now (the server will do this on its own).
    /// Exits 1 if any rollout's progress failed (the others still progress).
    Tick {
        /// Also write each org version a verdict creates as JSON into this directory.
        #[arg(long, value_name = "DIR")]
        notify_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A human decision about a rollout: extend or apply a paused one, roll back.
    Decide {
        /// Proposal id.
        id: String,
        /// What to do.
        #[arg(value_enum)]
        decision: DecisionArg,
        /// Why (required; recorded in the history).
        #[arg(long)]
        reason: String,
        /// Hours to extend by (extend only).
        #[arg(long, value_name = "N")]
        hours: Option<u32>,
        /// Also write the org version an apply creates as JSON into this directory.
        #[arg(long, value_name = "DIR")]
        notify_dir: Option<PathBuf>,
        /// Your name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// An agent's effective configuration: the current org version plus the overlays of the
    /// rollouts it is in the treatment group of (what its runtime would be served).
    Config {
        /// The agent's id.
        agent_id: String,
        /// Print the served JSON, byte for byte.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Unacknowledged alerts, newest first.
    List {
        /// Include acknowledged ones.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert.
    Ack {
        /// Alert id.
        id: i64,
        /// Your name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Deliver the due notifications of the alert outbox to the configured sinks (and raise
    /// the due stuck-rollout alerts): what `kaizen serve`'s background loop does, for cron.
    Deliver {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The alert outbox: one delivery per alert and sink, newest first.
    Outbox {
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        state: Option<DeliveryStateArg>,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A state of an alert delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveryStateArg {
    /// Not delivered yet.
    Pending,
    /// Accepted by its sink.
    Delivered,
    /// Given up.
    Failed,
}

/// Who a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenKindArg {
    /// A person (may be granted `approve`).
    Human,
    /// An AI agent (never approves).
    Agent,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token. Its secret is printed once; kaizen keeps only a hash of it.
    Create {
        /// Who the token is for (a login, an agent id).
        #[arg(long, value_name = "NAME")]
        principal: String,
        /// Human or agent.
        #[arg(long, value_enum)]
        kind: TokenKindArg,
        /// A capability pattern (repeatable): domain:action, either side `*` (`*:read`,
        /// `proposals:*`, `*` for everything); a leading `!` denies (`!org:admin`). Actions:
        /// read, write, approve, admin.
        #[arg(long = "cap", value_name = "PATTERN", required = true)]
        caps: Vec<String>,
        /// Expire after this long, e.g. 30d, 12h, 90m (default: never).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Who issues it (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Print JSON (including the secret).
        #[arg(long)]
        json: bool,
    },
    /// Tokens that are not revoked (expired ones included), newest first.
    List {
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token for good.
    Revoke {
        /// Token id (tok_…).
        id: String,
        /// Your name (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Why (audited; default: "revoked with `kaizen token revoke`").
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this actor.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only this operation or those under it (`proposals` matches `proposals.approve`).
    #[arg(long, value_name = "OP")]
    pub operation: Option<String>,
    /// Only this target (a proposal id, a token id, …).
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// How many.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Skip this many of the newest matching entries.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The operation, e.g. `proposals.list` or `proposals.approve` (see `--list`).
    #[arg(required_unless_present = "list")]
    pub operation: Option<String>,
    /// Its arguments as a JSON object, e.g. '{"id": "p-1", "reason": "fixes the budget"}'
    /// (default `{}`); `-` reads them from standard input.
    pub args: Option<String>,
    /// Who you are in the audit log (default: $USER, else `cli`).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    /// Tell a file notifier in this directory about every org version the call makes.
    #[arg(long, value_name = "DIR")]
    pub notify_dir: Option<PathBuf>,
    /// List the operations (name, capability, REST route, summary) instead.
    #[arg(long, conflicts_with_all = ["operation", "args"])]
    pub list: bool,
    /// With --list: print JSON.
    #[arg(long)]
    pub json: bool,
}
