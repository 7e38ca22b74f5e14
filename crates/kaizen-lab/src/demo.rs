//! The organisation on a real clock against a real server, talking HTTP like an agent runtime:
//! every step each agent reads its effective configuration (`GET /api/v1/agents/{id}/config`,
//! with `If-None-Match`) and the step's events are posted (`POST /api/v1/events`, NDJSON).
//!
//! * [`run_demo`] (`kaizen demo`): a fresh store, `kaizen serve` in-process with its background
//!   loop (scheduled cycles, rollout checks) on an [`AcceleratedClock`], a warm-up simulated at
//!   once so the dashboard has history, then the organisation live; a person approves in the
//!   web UI, or the simulated reviewer does (`unattended`).
//! * [`run_feed`] (`kaizen sim run --target URL`): the organisation in real time against a
//!   running server, which does the rest.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Timelike, Utc};
use kaizen_core::clock::{AcceleratedClock, Clock, SystemClock};
use kaizen_core::org::EffectiveConfig;
use kaizen_service::cycle::LAST_CYCLE_KEY;
use kaizen_store::proposals::ActorKind;
use kaizen_store::{IngestOptions, Store};
use serde::Serialize;

use crate::client::Client;
use crate::error::LabError;
use crate::kpi::Kpis;
use crate::model::Knobs;
use crate::report::ScenarioReport;
use crate::reviewer::{REVIEWER, Reviewer};
use crate::run::{
    AgentConfigs, LoopRun, RunOptions, counterfactual, cycles_from_store, proposal_reports, report,
};
use crate::scenario::Scenario;
use crate::server::{AGENT_CAPS, LabServer, REVIEWER_CAPS, create_token};
use crate::world::World;

/// The built-in demo scenario (`kaizen demo` without `--scenario`).
pub const DEMO_SCENARIO: &str = include_str!("demo.yaml");

/// The built-in demo scenario, parsed.
pub fn demo_scenario() -> Result<Scenario, LabError> {
    Ok(Scenario::parse(
        DEMO_SCENARIO,
        "the built-in demo scenario",
    )?)
}

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep the store here (a directory without a `kaizen.db`); else a temporary directory.
    pub dir: Option<PathBuf>,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Days simulated at once before the clock starts.
    pub warmup_days: u32,
    /// Where the server listens.
    pub bind: SocketAddr,
    /// The simulated reviewer approves (per the scenario's policy) instead of a person.
    pub unattended: bool,
}

/// What the person needs to know once the server is up.
#[derive(Debug, Clone, Serialize)]
pub struct DemoStarted {
    /// The web UI.
    pub ui: String,
    /// The API.
    pub api: String,
    /// The human `admin` token to log in with.
    pub admin_token: String,
    /// The store.
    pub store: PathBuf,
    /// Simulated time at the start of the live part.
    pub live_from: DateTime<Utc>,
    /// Simulated end.
    pub until: DateTime<Utc>,
}

/// Where a paced run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacedProgress {
    /// Simulated time.
    pub now: DateTime<Utc>,
    /// Steps done.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
    /// Tasks so far.
    pub tasks: u64,
    /// Events sent so far.
    pub events: u64,
}

/// Receives what happens during a paced run (the CLI draws it).
pub trait Observer {
    /// The server is up (demo only).
    fn started(&self, info: &DemoStarted);
    /// A step was simulated.
    fn progress(&self, p: &PacedProgress);
    /// Something worth a line: a rule fired, a proposal was queued, approved, rolled out,
    /// applied or rolled back.
    fn notice(&self, line: &str);
}

/// Reads agents' configurations over HTTP, with ETags, like an agent runtime polling.
struct HttpAgents {
    client: Client,
    cache: HashMap<String, (String, Knobs)>,
}

impl HttpAgents {
    fn read(&mut self, ids: &[String]) -> Result<Vec<Knobs>, LabError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let etag = self.cache.get(id).map(|(e, _)| format!("\"{e}\""));
            let r = self
                .client
                .get(&format!("/api/v1/agents/{id}/config"), etag.as_deref())?;
            match r.status {
                304 => {
                    let k = self.cache.get(id).map(|(_, k)| k.clone()).ok_or_else(|| {
                        LabError::Http(format!("304 for agent {id} without a cached config"))
                    })?;
                    out.push(k);
                }
                200 => {
                    let c: EffectiveConfig = r.json()?;
                    let k = Knobs::from_config(&c.settings, &c.principles).map_err(|message| {
                        LabError::Config {
                            agent: id.clone(),
                            message,
                        }
                    })?;
                    self.cache.insert(id.clone(), (c.etag, k.clone()));
                    out.push(k);
                }
                status => {
                    return Err(LabError::Http(format!(
                        "GET /api/v1/agents/{id}/config: {status} {}",
                        r.message()
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// Lines about what changed in the store since the last look: cycles and their findings,
/// proposals and their status.
#[derive(Default)]
struct Watcher {
    cycles: std::collections::HashSet<String>,
    statuses: BTreeMap<String, String>,
}

impl Watcher {
    fn poll(&mut self, store: &Store, start: DateTime<Utc>) -> Result<Vec<String>, LabError> {
        let when = |t: DateTime<Utc>| {
            let d = (t - start).num_hours().div_euclid(24);
            format!("day {d:>2} {:02}:{:02}", t.hour(), t.minute())
        };
        let mut lines = Vec::new();
        let mut recent = store.cycles(50).map_err(LabError::store)?;
        recent.reverse();
        for summary in recent {
            if summary.dry_run || !self.cycles.insert(summary.id.clone()) {
                continue;
            }
            let Some(record) = store.cycle(&summary.id).map_err(LabError::store)? else {
                continue;
            };
            let c: kaizen_service::CycleReport = serde_json::from_str(&record.report)
                .map_err(|e| LabError::Store(format!("cycle {}: {e}", summary.id)))?;
            let rules: Vec<&str> = c.matches.iter().map(|m| m.rule_name.as_str()).collect();
            lines.push(if rules.is_empty() {
                format!("{}  cycle: no rule fired", when(c.started_at))
            } else {
                format!("{}  cycle: {} fired", when(c.started_at), rules.join(", "))
            });
        }
        let (mut list, _) = store.proposals(None, 10_000, 0).map_err(LabError::store)?;
        list.reverse();
        for p in list {
            let status = p.status.as_str().to_owned();
            if self.statuses.get(&p.id) == Some(&status) {
                continue;
            }
            let line = match status.as_str() {
                "pending" => format!("proposal {} queued ({}): {}", p.id, p.rule_name, p.title),
                "rolled_back" => {
                    let why = store
                        .rollout(&p.id)
                        .ok()
                        .flatten()
                        .and_then(|r| r.verdict)
                        .map_or_else(String::new, |v| format!(": {}", v.reason));
                    format!("proposal {} rolled back{why}", p.id)
                }
                other => format!("proposal {} is {}", p.id, other.replace('_', " ")),
            };
            lines.push(format!("{}  {line}", when(p.updated_at)));
            self.statuses.insert(p.id, status);
        }
        Ok(lines)
    }
}

/// Sleeps until `clock` reads `t` (or `stop` turns true, returning false).
fn wait_until(clock: &dyn Clock, t: DateTime<Utc>, speed: f64, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let ahead = t - clock.now();
        if ahead <= Duration::zero() {
            return true;
        }
        let real = ahead.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6 / speed;
        std::thread::sleep(std::time::Duration::from_secs_f64(real.clamp(0.001, 0.2)));
    }
}

/// The paced loop: steps `first..total` of `world`, each simulated once `clock` has passed its
/// end, configuration read and events sent over HTTP.
#[allow(clippy::too_many_arguments)]
fn paced(
    world: &mut World,
    clock: &dyn Clock,
    speed: f64,
    step: Duration,
    first: u64,
    total: u64,
    agents: &mut HttpAgents,
    mut reviewer: Option<&mut Reviewer>,
    mut watch: Option<(&Store, &mut Watcher)>,
    observer: &dyn Observer,
    stop: &AtomicBool,
) -> Result<(), LabError> {
    let start = world.scenario().start;
    let ids: Vec<String> = world.agents().iter().map(|a| a.id.clone()).collect();
    let mut tasks = 0;
    let mut warned = false;
    for i in first..total {
        let t0 = start + step * i as i32;
        let t1 = t0 + step;
        if !wait_until(clock, t1, speed, stop) {
            return Err(LabError::Stopped);
        }
        if !warned && clock.now() - t1 > step * 3 {
            warned = true;
            observer.notice(
                "the simulated organisation cannot keep up with the clock: its events arrive late and kaizen sees them late; lower --speed",
            );
        }
        let knobs = agents.read(&ids)?;
        tasks += world.step(i, t0, t1, &knobs).tasks;
        let bytes = world.emitter().take()?;
        if !bytes.is_empty() {
            agents.client.send_events(&bytes)?;
        }
        if let Some(r) = reviewer.as_deref_mut() {
            r.act(clock.now())?;
        }
        if let Some((store, w)) = watch.as_mut() {
            for line in w.poll(store, start)? {
                observer.notice(&line);
            }
        }
        observer.progress(&PacedProgress {
            now: t1,
            done: i + 1,
            total,
            tasks,
            events: world.events(),
        });
    }
    Ok(())
}

/// Runs `kaizen demo`. Returns the report of the run (the KPIs compared with the same
/// organisation without kaizen), whether it ran to its end or was stopped.
pub fn run_demo(
    scenario: &Scenario,
    opts: &DemoOptions,
    observer: &dyn Observer,
) -> Result<(ScenarioReport, bool), LabError> {
    if !(opts.speed.is_finite() && opts.speed > 0.0) {
        return Err(LabError::Invalid(format!(
            "the speed must be a positive number, found {}",
            opts.speed
        )));
    }
    let temp;
    let dir = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("kaizen-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let db = dir.join("kaizen.db");
    if db.exists() {
        return Err(LabError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists; the demo wants a fresh store (remove it or pick another --dir)",
                db.display()
            ),
        )));
    }
    let started = std::time::Instant::now();
    let s = scenario;
    let step = crate::run::STEP;
    let total = u64::from(s.days) * 24;
    let warmup = (u64::from(opts.warmup_days.min(s.days.saturating_sub(1)))) * 24;
    let live_from = s.start + step * warmup as i32;

    // Warm-up: simulated at once, straight into the store.
    let mut world = World::new(s, true);
    let mut store = Store::open(&db).map_err(LabError::store)?;
    store
        .org_import(
            world.org_document(),
            "kaizen-demo",
            s.start - Duration::days(1),
        )
        .map_err(LabError::store)?;
    let mut configs = AgentConfigs::new();
    let ids: Vec<String> = world.agents().iter().map(|a| a.id.clone()).collect();
    for i in 0..warmup {
        let t0 = s.start + step * i as i32;
        let knobs = configs.read(&mut store, &ids)?;
        world.step(i, t0, t0 + step, &knobs);
        let bytes = world.emitter().take()?;
        let r = store
            .ingest(&bytes[..], IngestOptions::new(t0 + step))
            .map_err(LabError::store)?;
        if r.rejected > 0 {
            return Err(LabError::Store(format!(
                "the store rejected {} simulated events",
                r.rejected
            )));
        }
    }
    let config = s.loop_config();
    let interval = Duration::hours(i64::from(
        config.self_improvement.schedule.cycle_interval_hours,
    ));
    // The first cycle runs as soon as the server is up.
    store
        .meta_set(LAST_CYCLE_KEY, &(live_from - interval).to_rfc3339())
        .map_err(LabError::store)?;
    let admin = create_token(&mut store, "admin", ActorKind::Human, &["*"], live_from)?;
    let agent_token = create_token(
        &mut store,
        "sim-agents",
        ActorKind::Agent,
        &AGENT_CAPS,
        live_from,
    )?;
    let reviewer_token = if opts.unattended {
        Some(create_token(
            &mut store,
            REVIEWER,
            ActorKind::Human,
            &REVIEWER_CAPS,
            live_from,
        )?)
    } else {
        None
    };
    let mut settings = kaizen_server::settings::Settings {
        kaizen: config,
        ..Default::default()
    };
    settings.server.bind = opts.bind.to_string();
    // The loop must keep up with the accelerated clock: look every real second.
    settings.server.loop_interval_seconds = 1;
    settings.server.writes_per_minute = settings.server.writes_per_minute.max(100_000);

    let clock = Arc::new(AcceleratedClock::new(live_from, opts.speed).map_err(LabError::Invalid)?);
    let server = LabServer::start(
        Store::open(&db).map_err(LabError::store)?,
        settings,
        Arc::clone(&clock) as Arc<dyn Clock>,
        opts.bind,
        true,
    )?;
    let stop = server.ctrl_c_flag();
    observer.started(&DemoStarted {
        ui: format!("{}/ui", server.base),
        api: format!("{}/api/v1/docs", server.base),
        admin_token: admin,
        store: db.clone(),
        live_from,
        until: s.end(),
    });
    let mut agents = HttpAgents {
        client: Client::new(&server.base, &agent_token),
        cache: HashMap::new(),
    };
    let mut reviewer = reviewer_token.map(|t| {
        Reviewer::new(
            Client::new(&server.base, &t),
            s.reviewer.clone(),
            s.settle_hours(),
        )
    });
    let mut watcher = Watcher::default();
    let outcome = paced(
        &mut world,
        clock.as_ref(),
        opts.speed,
        step,
        warmup,
        total,
        &mut agents,
        reviewer.as_mut(),
        Some((&store, &mut watcher)),
        observer,
        &stop,
    );
    let finished = match outcome {
        Ok(()) => true,
        Err(LabError::Stopped) => false,
        Err(e) => return Err(e),
    };
    // Attended: the org has stopped working, the server stays up for the person until Ctrl-C.
    if finished && !opts.unattended {
        observer.notice(
            "the simulated organisation has finished; the server stays up so you can look around — Ctrl-C stops it",
        );
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(200));
            for line in watcher.poll(&store, s.start)? {
                observer.notice(&line);
            }
        }
    }
    server.stop();
    let proposals = proposal_reports(&mut store, &world)?;
    let cycles = cycles_from_store(&store)?;
    let inflections = crate::run::inflections_from_store(&store)?;
    let with = LoopRun {
        world,
        cycles,
        reviewer: reviewer.map(|r| r.log().to_vec()).unwrap_or_default(),
        proposals,
        inflections,
    };
    // The comparison covers the days the organisation actually worked.
    let days_done = with.world.ledger().len().min(s.days as usize).max(1) as u32;
    let mut compared = s.clone();
    compared.days = days_done;
    compared.kpi_window_days = Some(s.kpi_days().min(days_done));
    let without = counterfactual(&compared, &RunOptions::default());
    let mut out = report(&compared, &with, &without);
    out.wall_seconds = started.elapsed().as_secs_f64();
    Ok((out, finished))
}

/// Runs the organisation of `scenario` in real time against the server at `target` with an
/// agent `token`, from the current minute, in steps of `step` (the server's loop, humans and
/// reviewers do the rest). Stops at the scenario's end or at Ctrl-C; returns the ground-truth
/// KPIs of the days worked.
pub fn run_feed(
    scenario: &Scenario,
    target: &str,
    token: &str,
    step: Duration,
    observer: &dyn Observer,
) -> Result<Kpis, LabError> {
    let now = SystemClock.now();
    let mut s = scenario.clone();
    // Start on the current hour, so the organisation's days line up with the server's clock.
    s.start =
        DateTime::<Utc>::from_timestamp(now.timestamp() - now.timestamp() % 3600, 0).unwrap_or(now);
    let mut world = World::new(&s, true);
    let mut agents = HttpAgents {
        client: Client::new(target, token),
        cache: HashMap::new(),
    };
    // Fail early and clearly when the server does not know the organisation's agents.
    if let Some(first) = world.agents().first().map(|a| a.id.clone()) {
        agents.read(std::slice::from_ref(&first)).map_err(|e| {
            LabError::Http(format!(
                "{e}; import the organisation first (kaizen org import) — the simulated agents are agent-0000 … agent-{:04}",
                world.agents().len().saturating_sub(1)
            ))
        })?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let flag = Arc::clone(&stop);
    let watcher = std::thread::spawn(move || {
        runtime.block_on(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    });
    drop(watcher);
    let steps_per_day = (Duration::days(1).num_seconds() / step.num_seconds().max(1)) as u64;
    let total = u64::from(s.days) * steps_per_day;
    let first = ((now - s.start).num_seconds() / step.num_seconds().max(1)) as u64;
    let result = paced(
        &mut world,
        &SystemClock,
        1.0,
        step,
        first,
        total,
        &mut agents,
        None,
        None,
        observer,
        &stop,
    );
    match result {
        Ok(()) | Err(LabError::Stopped) => {}
        Err(e) => return Err(e),
    }
    Ok(world.ledger().kpis(0, world.ledger().len()))
}

/// The org document of `scenario` (to import into a server before `--target`).
pub fn org_document(scenario: &Scenario) -> kaizen_core::org::OrgDocument {
    World::new(scenario, false).org_document()
}
