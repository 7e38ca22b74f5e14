//! The harness of the server tests: a real SQLite file with an org of agents, tokens issued in
//! the store, and `kaizen_server::serve` on a loopback port (its own tokio runtime on a
//! background thread) driven by a manual clock; the client is `ureq`, synchronous, with 4xx
//! and 5xx returned as responses so their bodies can be checked.
// Each test binary uses a different subset.
#![allow(dead_code)]

use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::{DateTime, Duration, Utc};
use kaizen_core::auth::Grant;
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::org::{Agent, OrgChange};
use kaizen_server::AppState;
use kaizen_server::settings::Settings;
use kaizen_service::ops;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_store::auth::{AuditQuery, AuditRecord, IssuedToken, NewToken};
use kaizen_store::proposals::ActorKind;
use kaizen_store::{IngestOptions, Store};
use serde_json::Value;

#[allow(unused_imports)] // each test binary uses a different subset
pub use kaizen_fixtures::{Behaviour, agents, at, enabled, org_with, proposal, set};

/// Where the server's clock starts (on an hour, so rollout data windows are exact).
pub fn t0() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

/// `h` hours.
pub fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

/// NDJSON for `agents` behaving normally over the `hours` whole hours from `from`
/// ([`kaizen_fixtures::ndjson`]).
pub fn ndjson(agents: &[Agent], from: DateTime<Utc>, hours: i64, seed: u64) -> Vec<u8> {
    kaizen_fixtures::ndjson(agents, from, hours, Behaviour::NORMAL, seed)
}

/// One `task.completed` event line (no newline) for `agent` at `ts`.
pub fn task_line(id: &str, agent: &Agent, ts: DateTime<Utc>) -> String {
    format!(
        r#"{{"type":"task.completed","id":"{id}","ts":"{}","agent_id":"{}","department":"{}","role":"{}","task_id":"task-{id}","success":true,"quality_score":7.5}}"#,
        ts.to_rfc3339(),
        agent.id,
        agent.department,
        agent.role
    )
}

/// The bearer secrets of the tokens every server is started with.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Human `admin` with `*`.
    pub admin: String,
    /// Human `reviewer` with `proposals:*`, `rollouts:*`, `*:read`.
    pub reviewer: String,
    /// Agent `rt-00` with `events:write`, `agents:read`, `*:read`.
    pub agent: String,
    /// Human `reader` with `*:read`.
    pub reader: String,
    /// Human `operator` with `*` and `!proposals:approve`.
    pub operator: String,
}

/// What the tests check did not change when a write was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Raw events stored.
    pub events: u64,
    /// Event ids remembered.
    pub event_ids: u64,
    /// Every proposal's id, status and number of approvals.
    pub proposals: Vec<(String, String, usize)>,
    /// Every rollout's proposal, state and checks done.
    pub rollouts: Vec<(String, String, u32)>,
    /// Org versions.
    pub org_versions: usize,
    /// Recorded cycles.
    pub cycles: usize,
    /// The config generation counter.
    pub generation: i64,
    /// Unacknowledged alerts.
    pub alerts: usize,
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {}", self.status, self.body))
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error envelope's `code`.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: status {} body {}", self.status, self.body))
            .to_owned()
    }

    /// The error envelope's `message`.
    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The field of the error envelope's first detail.
    pub fn detail_field(&self) -> Option<String> {
        self.json()["error"]["details"][0]["field"]
            .as_str()
            .map(str::to_owned)
    }

    /// Asserts the status and the error code, with the body in the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
    }
}

/// A running server on a temp store.
pub struct Server {
    /// The server's state (the store behind it: `state.store()`).
    pub state: Arc<AppState>,
    /// The server's clock.
    pub clock: Arc<ManualClock>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The tokens.
    pub tokens: Tokens,
    /// The org's agents.
    pub agents: Vec<Agent>,
    client: Option<ureq::Agent>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// How to set up a server.
pub struct Setup {
    /// The configuration.
    pub config: Settings,
    /// Agents in the org.
    pub agents: usize,
    /// Hours of generated data ending `feed_until` hours after [`t0`], ingested before start.
    pub feed_hours: i64,
    /// See `feed_hours`.
    pub feed_until: i64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            config: enabled().into(),
            agents: 20,
            feed_hours: 0,
            feed_until: 0,
        }
    }
}

fn token(store: &mut Store, principal: &str, kind: ActorKind, patterns: &[&str]) -> String {
    let patterns: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
    let grant = Grant::parse(&patterns).expect("grant");
    store
        .token_create(
            &NewToken {
                principal,
                kind,
                grant: &grant,
                expires_at: None,
                created_by: "test",
            },
            t0(),
        )
        .expect("token")
        .secret
}

impl Server {
    /// A server with the default setup (enabled loop, 20 agents, no data).
    pub fn start() -> Server {
        Server::with(Setup::default())
    }

    /// A server with `config` (20 agents, no data).
    pub fn with_config(config: impl Into<Settings>) -> Server {
        Server::with(Setup {
            config: config.into(),
            ..Setup::default()
        })
    }

    /// A server as `setup` says.
    pub fn with(setup: Setup) -> Server {
        kaizen_server::telemetry::init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path().join("kaizen.db")).expect("open store");
        let agents = agents(setup.agents);
        store
            .org_import(org_with(&agents), "test", t0() - hours(200))
            .expect("import org");
        if setup.feed_hours > 0 {
            let data = ndjson(
                &agents,
                t0() + hours(setup.feed_until - setup.feed_hours),
                setup.feed_hours,
                7,
            );
            let report = store
                .ingest(&data[..], IngestOptions::new(t0()))
                .expect("ingest");
            assert_eq!(report.rejected, 0, "{report:?}");
        }
        // A cycle "ran" just now: the background loop must not run a scheduled cycle at start
        // (it would queue proposals the tests do not expect).
        store
            .meta_set(kaizen_service::cycle::LAST_CYCLE_KEY, &t0().to_rfc3339())
            .expect("meta");
        let tokens = Tokens {
            admin: token(&mut store, "admin", ActorKind::Human, &["*"]),
            reviewer: token(
                &mut store,
                "reviewer",
                ActorKind::Human,
                &["proposals:*", "rollouts:*", "*:read"],
            ),
            agent: token(
                &mut store,
                "rt-00",
                ActorKind::Agent,
                &["events:write", "agents:read", "*:read"],
            ),
            reader: token(&mut store, "reader", ActorKind::Human, &["*:read"]),
            operator: token(
                &mut store,
                "operator",
                ActorKind::Human,
                &["*", "!proposals:approve"],
            ),
        };
        let clock = Arc::new(ManualClock::new(t0()));
        let state = Arc::new(AppState::new(
            store,
            setup.config,
            Arc::clone(&clock) as Arc<dyn Clock>,
            RollbackExecutor::default(),
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let shutdown = async move {
                    let _ = rx.await;
                };
                kaizen_server::serve(st, listener, shutdown)
                    .await
                    .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("the server did not start");
        let client: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Server {
            state,
            clock,
            base: format!("http://{addr}"),
            tokens,
            agents,
            client: Some(client),
            shutdown: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn client(&self) -> &ureq::Agent {
        self.client.as_ref().expect("client")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn read(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|e| panic!("reading the body: {e}"));
        Resp {
            status,
            headers,
            body,
        }
    }

    /// `GET path` with `token` (if any) and extra headers.
    pub fn get_with(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client().get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        conforms(ops::Method::Get, path, Self::read(req.call()))
    }

    /// `GET path` with `token`.
    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.get_with(path, Some(token), &[])
    }

    /// `POST path` with `token` (if any), extra headers and a raw body.
    pub fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = self.client().post(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        conforms(ops::Method::Post, path, Self::read(req.send(body)))
    }

    /// `POST path` with `token` and a JSON body.
    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).expect("encode");
        self.post_raw(
            path,
            Some(token),
            &[("Content-Type", "application/json")],
            &bytes,
        )
    }

    /// `POST path` with `token` and no body.
    pub fn post_empty(&self, path: &str, token: &str) -> Resp {
        self.post_raw(path, Some(token), &[], b"")
    }

    /// `POST /api/v1/events` with `token`, content type `ct` and `body`.
    pub fn events(&self, token: &str, ct: &str, body: &[u8]) -> Resp {
        self.post_raw("/api/v1/events", Some(token), &[("Content-Type", ct)], body)
    }

    /// Queues a config proposal of `changes` as pending, the way a cycle does (with the
    /// standard guard chain's verdicts, which must pass); returns its id.
    pub fn queue(
        &self,
        rule: &str,
        changes: Vec<OrgChange>,
        strategy: RolloutStrategyKind,
    ) -> String {
        let p = proposal(rule, changes, strategy, self.clock.now());
        kaizen_fixtures::queue(&mut self.state.store(), self.state.config(), &p)
    }

    /// What a refused write must leave unchanged.
    pub fn observe(&self) -> Observed {
        let mut store = self.state.store();
        let stats = store.stats().expect("stats");
        let (summaries, _) = store.proposals(None, 500, 0).expect("proposals");
        let proposals = summaries
            .iter()
            .map(|s| {
                let p = store.proposal(&s.id).expect("proposal").expect("stored");
                (
                    s.id.clone(),
                    p.status.as_str().to_owned(),
                    p.approvals.len(),
                )
            })
            .collect();
        let rollouts = store
            .rollouts(None)
            .expect("rollouts")
            .iter()
            .map(|r| {
                (
                    r.proposal_id.clone(),
                    r.state.as_str().to_owned(),
                    r.checks_done,
                )
            })
            .collect();
        let org_versions = store.org_history(10_000).expect("history").len();
        let _ = store.org_current().expect("org");
        Observed {
            events: stats.events,
            event_ids: stats.event_ids,
            proposals,
            rollouts,
            org_versions,
            cycles: store.cycles(10_000).expect("cycles").len(),
            generation: store.config_generation().expect("generation"),
            alerts: store.alerts(false).expect("alerts").len(),
        }
    }

    /// Issues a token in the store now (at the server clock), with an optional expiry.
    pub fn issue(
        &self,
        principal: &str,
        kind: ActorKind,
        patterns: &[&str],
        expires_at: Option<DateTime<Utc>>,
    ) -> IssuedToken {
        let patterns: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        let grant = Grant::parse(&patterns).expect("grant");
        self.state
            .store()
            .token_create(
                &NewToken {
                    principal,
                    kind,
                    grant: &grant,
                    expires_at,
                    created_by: "test",
                },
                self.clock.now(),
            )
            .expect("token")
    }

    /// The newest audit entries (newest first), up to `n`.
    pub fn audit(&self, n: usize) -> Vec<AuditRecord> {
        let store = self.state.store();
        store
            .audit(&AuditQuery {
                limit: n,
                ..AuditQuery::default()
            })
            .expect("audit")
            .0
    }

    /// The newest audit entry.
    pub fn last_audit(&self) -> Option<AuditRecord> {
        self.audit(1).into_iter().next()
    }

    /// How many audit entries there are.
    pub fn audit_len(&self) -> u64 {
        let store = self.state.store();
        store
            .audit(&AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .expect("audit")
            .1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Close the client's pooled connections first, so the graceful shutdown has nothing to
        // wait for.
        self.client.take();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && !std::thread::panicking()
        {
            let _ = t.join();
        }
    }
}

/// The registry operation a request path names (`/api/v1/proposals/p1/approve?x` →
/// `proposals.approve`): literal segments must match, `{…}` segments match anything.
pub fn operation_at(method: ops::Method, path: &str) -> Option<&'static ops::Operation> {
    let path = path.split('?').next()?.strip_prefix("/api/v1")?;
    let segments: Vec<&str> = path.split('/').collect();
    ops::operations().iter().find(|o| {
        let template: Vec<&str> = o.path.split('/').collect();
        o.method == method
            && template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
    })
}

/// The serialisation-contract JSON Schema of `op`'s output, compiled once.
fn output_validator(op: &'static ops::Operation) -> &'static jsonschema::Validator {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<&'static str, &'static jsonschema::Validator>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.entry(op.name).or_insert_with(|| {
        let mut g = schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        let mut root = (op.output)(&mut g).to_value();
        let defs: serde_json::Map<String, Value> = g.take_definitions(true);
        if let Some(obj) = root.as_object_mut() {
            obj.insert("$defs".to_owned(), Value::Object(defs));
        }
        let v = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{}: the output schema does not compile: {e}", op.name));
        Box::leak(Box::new(v))
    })
}

/// Checks that a successful JSON response is what the operation's output schema says (every
/// API test goes through this, so each documented output is held to what is sent).
fn conforms(method: ops::Method, path: &str, r: Resp) -> Resp {
    let json = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    if (200..300).contains(&r.status)
        && json
        && let Some(op) = operation_at(method, path)
    {
        let value: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{} {path}: not JSON ({e}): {}", op.name, r.body));
        let errors: Vec<String> = output_validator(op)
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .take(5)
            .collect();
        assert!(
            errors.is_empty(),
            "{} {path}: the response does not match the output schema: {errors:#?}\n{}",
            op.name,
            r.body
        );
    }
    r
}
