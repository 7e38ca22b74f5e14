//! The web UI end to end: a real server on a real SQLite store (synthetic data from
//! `kaizen_sim`, a real cycle that queues a real proposal), driven
//!
//! * over plain HTTP (ureq, cookies by hand): login errors, redirects without a session, CSRF,
//!   an agent session that can read but never approve, a rejection without a reason;
//! * in headless Chromium through chromedriver (fantoccini): log in, the dashboard with its
//!   charts, the proposal, approve, the rollout (observing). Screenshots of every page go to
//!   `target/browser-artifacts/`.
//!
//! The browser test needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`); without them it fails, saying so, unless `KAIZEN_SKIP_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kaizen_core::auth::Grant;
use kaizen_core::clock::{Clock, ManualClock};
use kaizen_core::config::KaizenConfig;
use kaizen_core::org::{Agent, OrgDocument};
use kaizen_server::AppState;
use kaizen_service::rollback::RollbackExecutor;
use kaizen_service::{CycleOptions, CycleTrigger, Service};
use kaizen_sim::{Fault, SimSpec};
use kaizen_store::auth::{AuditQuery, NewToken};
use kaizen_store::proposals::{Actor, ActorKind, ProposalStatus};
use kaizen_store::rollouts::RolloutState;
use kaizen_store::{IngestOptions, Store};

/// The end of the synthetic data and the server's (manual) clock.
fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time: {e}"))
}

/// 20 agents over three departments of the standard org.
fn agents() -> Vec<Agent> {
    let layout: [(&str, &[&str], usize); 3] = [
        (
            "engineering",
            &[
                "backend-engineer",
                "frontend-engineer",
                "qa-engineer",
                "sre",
            ],
            10,
        ),
        ("support", &["support-agent", "support-lead"], 6),
        ("research", &["researcher", "data-scientist"], 4),
    ];
    let mut out = Vec::new();
    for (dept, roles, n) in layout {
        for k in 0..n {
            out.push(Agent {
                id: format!("rt-{:02}", out.len()),
                role: roles[k % roles.len()].to_owned(),
                department: dept.to_owned(),
            });
        }
    }
    out
}

/// NDJSON for the org's agents over the `hours` hours from `from`: per agent and hour two
/// scored tasks, one cost record, and an error finding every fifth hour; deterministic noise.
fn org_events(from: DateTime<Utc>, hours: i64) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d ^ (from.timestamp() as u64);
    let mut unit = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for h in 0..hours {
        let hour = from + chrono::Duration::hours(h);
        for (i, a) in agents().iter().enumerate() {
            let tag = format!("{}-{}-{}", a.id, hour.timestamp(), hours);
            for k in 0..2 {
                let ts = hour + chrono::Duration::minutes(10 + 20 * k);
                let quality = (4.0 + (i % 6) as f64 + 1.5 * (unit() - 0.5)).clamp(0.0, 10.0);
                let success = unit() < 0.9;
                let _ = writeln!(
                    out,
                    r#"{{"type":"task.completed","id":"t-{tag}-{k}","ts":"{}","agent_id":"{}","department":"{}","role":"{}","task_id":"task-{tag}-{k}","success":{success},"quality_score":{quality:.2}}}"#,
                    ts.to_rfc3339(),
                    a.id,
                    a.department,
                    a.role
                );
            }
            let _ = writeln!(
                out,
                r#"{{"type":"cost.recorded","id":"c-{tag}","ts":"{}","agent_id":"{}","category":"productive","cost_usd":{:.4}}}"#,
                (hour + chrono::Duration::minutes(55)).to_rfc3339(),
                a.id,
                0.05 + 0.02 * unit()
            );
            if (i as i64 + h) % 5 == 0 {
                let _ = writeln!(
                    out,
                    r#"{{"type":"error.finding","id":"e-{tag}","ts":"{}","agent_id":"{}","category":"tool_misuse","severity":"low"}}"#,
                    (hour + chrono::Duration::minutes(50)).to_rfc3339(),
                    a.id
                );
            }
        }
    }
    out.into_bytes()
}

/// Ingests `data` at `now`; every record must be accepted.
fn ingest(store: &mut Store, data: &[u8], now: DateTime<Utc>) {
    let report = store.ingest(data, IngestOptions::new(now)).expect("ingest");
    assert_eq!(report.rejected, 0, "{report:?}");
}

/// A running server on a temp store: 14 days of a synthetic org whose budget runs out, the
/// standard org with 20 agents, one pending proposal from a real cycle, and tokens.
struct Fixture {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    state: Arc<AppState>,
    clock: Arc<ManualClock>,
    base: String,
    proposal: String,
    admin: String,
    agent: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = SimSpec::new(20, 14, 5, end());
        spec.faults = vec![Fault::BudgetOverrun];
        let mut data = Vec::new();
        kaizen_sim::generate(&spec, &mut data).expect("generate");
        let mut store = Store::open(dir.path().join("k.db")).expect("open store");
        ingest(&mut store, &data, end());
        // The org's own agents for the two days before: the rollout's baseline.
        ingest(
            &mut store,
            &org_events(end() - chrono::Duration::hours(48), 48),
            end(),
        );
        let mut doc = OrgDocument::standard();
        doc.agents = agents();
        store
            .org_import(doc.canonical(), "test", end())
            .expect("import org");
        let mut config = KaizenConfig::default();
        config.self_improvement.enabled = true;
        let clock = Arc::new(ManualClock::new(end()));
        let proposal = {
            let mut svc = Service {
                store: &mut store,
                config: &config,
                clock: clock.as_ref(),
            };
            let report = svc
                .run_cycle(CycleOptions {
                    trigger: CycleTrigger::Manual,
                    dry_run: false,
                })
                .expect("cycle");
            report
                .queued()
                .find(|p| p.rule_name == "budget_overrun")
                .unwrap_or_else(|| panic!("no budget_overrun proposal: {:?}", report.proposals))
                .id
                .clone()
        };
        let mut token = |principal: &str, kind: ActorKind| {
            let grant = Grant::parse(&["*".to_owned()]).expect("grant");
            store
                .token_create(
                    &NewToken {
                        principal,
                        kind,
                        grant: &grant,
                        expires_at: None,
                        created_by: "test",
                    },
                    end(),
                )
                .expect("token")
                .secret
        };
        let admin = token("ana", ActorKind::Human);
        let agent = token("bot-7", ActorKind::Agent);
        let state = Arc::new(AppState::new(
            store,
            config.into(),
            Arc::clone(&clock) as Arc<dyn Clock>,
            RollbackExecutor::default(),
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // The router serves the API and the web UI.
        let app = kaizen_server::router(Arc::clone(&state));
        rt.spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Fixture {
            _dir: dir,
            rt,
            state,
            clock,
            base: format!("http://{addr}"),
            proposal,
            admin,
            agent,
        }
    }

    fn status(&self) -> ProposalStatus {
        self.state
            .store()
            .proposal(&self.proposal)
            .expect("read")
            .expect("exists")
            .status
    }

    /// Audit entries of `operation` on the proposal.
    fn audit(&self, operation: &str) -> Vec<kaizen_store::auth::AuditRecord> {
        self.state
            .store()
            .audit(&AuditQuery {
                operation: Some(operation),
                target: Some(&self.proposal),
                ..AuditQuery::default()
            })
            .expect("audit")
            .0
    }
}

// ---- plain HTTP ----

/// A tiny browser: follows no redirects, keeps cookies.
struct Http {
    agent: ureq::Agent,
    base: String,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Http {
    fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build()
            .into();
        Http {
            agent,
            base: base.to_owned(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, mut res: ureq::http::Response<ureq::Body>) -> Page {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().expect("ascii cookie");
            let pair = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !val.is_empty() && !v.contains("Max-Age=0") {
                    self.cookies.push((k.to_owned(), val.to_owned()));
                }
            }
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().expect("ascii location").to_owned());
        let body = res.body_mut().read_to_string().expect("body");
        Page {
            status,
            location,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Page {
        let res = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .call()
            .expect("GET");
        self.keep(res)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send_form(form.iter().copied())
            .expect("POST");
        self.keep(res)
    }

    /// Logs in with `token`; returns the page after the redirect.
    fn login(&mut self, token: &str) -> Page {
        let form = self.get("/ui/login");
        assert_eq!(form.status, 200);
        let csrf = hidden(&form.body, "csrf");
        let res = self.post(
            "/ui/login",
            &[("csrf", &csrf), ("token", token), ("next", "/ui/proposals")],
        );
        assert_eq!(res.status, 303, "{}", res.body);
        let to = res.location.expect("redirect after login");
        self.get(&to)
    }
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden field {name} in {html}"))
        + marker.len();
    let len = html[start..].find('"').expect("closing quote");
    html[start..start + len].to_owned()
}

#[test]
fn login_with_a_bad_token_shows_an_error() {
    let fx = Fixture::new();
    let mut http = Http::new(&fx.base);
    let form = http.get("/ui/login");
    let csrf = hidden(&form.body, "csrf");
    let res = http.post(
        "/ui/login",
        &[("csrf", &csrf), ("token", "kz_not-a-real-token")],
    );
    assert_eq!(res.status, 401);
    assert!(
        res.body.contains("That token does not work"),
        "{}",
        res.body
    );
    assert!(
        !res.body.contains("kz_not-a-real-token"),
        "the secret is echoed"
    );
    assert!(!http.cookies.iter().any(|(k, _)| k == "kz_session"));
    // Without the login form's cookie the login is refused (login CSRF).
    let mut other = Http::new(&fx.base);
    let res = other.post("/ui/login", &[("csrf", &csrf), ("token", &fx.admin)]);
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(!other.cookies.iter().any(|(k, _)| k == "kz_session"));
}

#[test]
fn pages_need_a_session_and_logout_ends_it() {
    let fx = Fixture::new();
    let mut http = Http::new(&fx.base);
    for path in [
        "/ui",
        "/ui/proposals",
        &format!("/ui/proposals/{}", fx.proposal),
        "/ui/rollouts",
        "/ui/org",
        "/ui/cycles",
        "/ui/audit",
    ] {
        let res = http.get(path);
        assert_eq!(res.status, 303, "{path}");
        let to = res.location.expect("location");
        assert!(to.starts_with("/ui/login?next="), "{path} → {to}");
    }
    // A POST without a session changes nothing.
    let res = http.post(
        &format!("/ui/proposals/{}/approve", fx.proposal),
        &[("csrf", "x")],
    );
    assert_eq!(res.status, 303);
    assert_eq!(fx.status(), ProposalStatus::Pending);

    let page = http.login(&fx.admin);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&fx.proposal), "{}", page.body);
    let cookie = http
        .cookies
        .iter()
        .find(|(k, _)| k == "kz_session")
        .expect("session cookie")
        .1
        .clone();
    assert_eq!(cookie.len(), 64);
    for path in ["/ui", "/ui/rollouts", "/ui/org", "/ui/cycles", "/ui/audit"] {
        let res = http.get(path);
        assert_eq!(res.status, 200, "{path}: {}", res.body);
    }
    let dashboard = http.get("/ui");
    assert!(dashboard.body.contains("<svg"), "{}", dashboard.body);
    assert!(
        dashboard.body.contains("budget_overrun"),
        "{}",
        dashboard.body
    );
    // The spend chart carries the forecast burn rate as a dashed line into the next days.
    assert!(
        dashboard.body.contains("forecast ($") && dashboard.body.contains("stroke-dasharray"),
        "{}",
        dashboard.body
    );

    let csrf = hidden(&dashboard.body, "csrf");
    let res = http.post("/ui/logout", &[("csrf", &csrf)]);
    assert_eq!(res.status, 303);
    // The old cookie no longer opens anything.
    http.cookies = vec![("kz_session".to_owned(), cookie)];
    assert_eq!(http.get("/ui").status, 303);
}

#[test]
fn csrf_missing_or_wrong_is_refused_and_changes_nothing() {
    let fx = Fixture::new();
    let mut http = Http::new(&fx.base);
    http.login(&fx.admin);
    let path = format!("/ui/proposals/{}/approve", fx.proposal);
    let missing = http.post(&path, &[("note", "lgtm")]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(missing.body.contains("CSRF"), "{}", missing.body);
    let wrong = http.post(&path, &[("csrf", "0123"), ("note", "lgtm")]);
    assert_eq!(wrong.status, 403);
    let reject = http.post(
        &format!("/ui/proposals/{}/reject", fx.proposal),
        &[("reason", "no")],
    );
    assert_eq!(reject.status, 403);
    assert_eq!(fx.status(), ProposalStatus::Pending);
    let refused = fx.audit("proposals.approve");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|e| e.outcome.as_str() == "refused"));
}

#[test]
fn an_agent_session_reads_but_cannot_approve() {
    let fx = Fixture::new();
    let mut http = Http::new(&fx.base);
    http.login(&fx.agent);
    let page = http.get(&format!("/ui/proposals/{}", fx.proposal));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("budget_overrun"), "{}", page.body);
    assert!(
        !page.body.contains("id=\"approve\""),
        "approve is shown to an agent"
    );
    assert!(
        !page.body.contains("id=\"reject\""),
        "reject is shown to an agent"
    );
    // A forged POST with the session's own CSRF token is refused by the human-only rule.
    let csrf = hidden(&page.body, "csrf");
    let res = http.post(
        &format!("/ui/proposals/{}/approve", fx.proposal),
        &[("csrf", &csrf), ("note", "sure")],
    );
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.body.contains("human decision"), "{}", res.body);
    assert_eq!(fx.status(), ProposalStatus::Pending);
    let audit = fx.audit("proposals.approve");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].actor, "bot-7");
    assert_eq!(audit[0].outcome.as_str(), "refused");
}

#[test]
fn a_rejection_without_a_reason_shows_the_error() {
    let fx = Fixture::new();
    let mut http = Http::new(&fx.base);
    http.login(&fx.admin);
    let page = http.get(&format!("/ui/proposals/{}", fx.proposal));
    assert!(page.body.contains("id=\"approve\""), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    let res = http.post(
        &format!("/ui/proposals/{}/reject", fx.proposal),
        &[("csrf", &csrf), ("reason", "   ")],
    );
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("needs a reason"), "{}", res.body);
    assert!(
        res.body.contains("id=\"reject\""),
        "the form is shown again"
    );
    assert_eq!(fx.status(), ProposalStatus::Pending);
    assert!(page.body.contains("name=\"never_again\""), "{}", page.body);
    // With a reason it works, and the page says so; "never again" is kept with it.
    let res = http.post(
        &format!("/ui/proposals/{}/reject", fx.proposal),
        &[
            ("csrf", &csrf),
            ("reason", "not now"),
            ("never_again", "on"),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    let page = http.get(&res.location.expect("location"));
    assert!(
        page.body
            .contains("Rejected; this change will never be proposed again."),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("id=\"outcome\"") && page.body.contains("never propose this again"),
        "{}",
        page.body
    );
    assert_eq!(fx.status(), ProposalStatus::Rejected);
    let audit = fx.audit("proposals.reject");
    assert_eq!(audit.len(), 2, "{audit:?}");
}

#[test]
fn a_paused_rollout_is_decided_with_a_reason() {
    let fx = Fixture::new();
    let app = Arc::clone(&fx.state);
    app.with_service(|svc| {
        svc.approve(&fx.proposal, &Actor::human("ana"), None, app.executor())?;
        Ok(())
    })
    .expect("approve");
    // No data after the start: the window ends inconclusive and the rollout pauses.
    fx.clock.advance(chrono::Duration::hours(49));
    app.with_service(|svc| Ok(svc.tick_rollouts(app.executor())?))
        .expect("tick");
    let state = || {
        app.store()
            .rollout(&fx.proposal)
            .expect("read")
            .expect("rollout")
            .state
    };
    assert_eq!(state(), RolloutState::Paused);

    let mut http = Http::new(&fx.base);
    http.login(&fx.admin);
    let path = format!("/ui/rollouts/{}", fx.proposal);
    let page = http.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    for button in ["extend", "apply", "rollback"] {
        assert!(
            page.body.contains(&format!("id=\"{button}\"")),
            "{button}: {}",
            page.body
        );
    }
    assert!(page.body.contains("id=\"checks\""), "{}", page.body);
    // The dashboard says the rule that still fires has a fix under way.
    let dashboard = http.get("/ui");
    assert!(
        dashboard
            .body
            .contains("Fix under way: a fix for this rule is being rolled out"),
        "{}",
        dashboard.body
    );
    let csrf = hidden(&page.body, "csrf");
    let decide = format!("{path}/decide");
    let blank = http.post(
        &decide,
        &[
            ("csrf", &csrf),
            ("decision", "extend"),
            ("hours", "12"),
            ("reason", " "),
        ],
    );
    assert_eq!(blank.status, 400, "{}", blank.body);
    assert!(blank.body.contains("needs a reason"), "{}", blank.body);
    let hours = http.post(
        &decide,
        &[
            ("csrf", &csrf),
            ("decision", "extend"),
            ("hours", "soon"),
            ("reason", "x"),
        ],
    );
    assert_eq!(hours.status, 400, "{}", hours.body);
    assert!(
        hours.body.contains("whole number of hours"),
        "{}",
        hours.body
    );
    let forged = http.post(&decide, &[("decision", "apply"), ("reason", "x")]);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(state(), RolloutState::Paused);

    let ok = http.post(
        &decide,
        &[
            ("csrf", &csrf),
            ("decision", "extend"),
            ("hours", "12"),
            ("reason", "more data"),
        ],
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    let page = http.get(&ok.location.expect("location"));
    assert!(
        page.body.contains("the rollout is now observing"),
        "{}",
        page.body
    );
    assert_eq!(state(), RolloutState::Observing);
}

// ---- headless Chromium ----

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    for c in candidates {
        let p = PathBuf::from(c);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p);
            }
        } else if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let full = dir.join(&p);
                if full.is_file() {
                    return Some(full);
                }
            }
        }
    }
    None
}

fn start_driver(bin: &Path) -> Driver {
    let port = StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port} within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/browser-artifacts");
    dir
}

async fn shot(c: &fantoccini::Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// The page fits 1280 px: no horizontal scrolling.
async fn fits(c: &fantoccini::Client, what: &str) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("measure");
    let w = |i: usize| v.get(i).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    assert!(w(0) <= w(1), "{what} scrolls horizontally: {v}");
}

#[test]
fn browser_login_dashboard_approve_rollout() {
    if std::env::var("KAIZEN_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("KAIZEN_SKIP_BROWSER=1: the browser test is skipped");
        return;
    }
    let Some(driver_bin) = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])
    else {
        panic!(
            "chromedriver not found ($CHROMEDRIVER, /usr/bin/chromedriver, PATH). Install the Debian \
             packages `chromium` and `chromium-driver`, or set KAIZEN_SKIP_BROWSER=1 to skip this test."
        );
    };
    let Some(chrome_bin) = find_binary(
        "CHROME_BIN",
        &[
            "/usr/bin/chromium",
            "chromium",
            "google-chrome",
            "chromium-browser",
        ],
    ) else {
        panic!(
            "chromium not found ($CHROME_BIN, /usr/bin/chromium, PATH). Install the Debian package \
             `chromium`, or set KAIZEN_SKIP_BROWSER=1 to skip this test."
        );
    };
    let fx = Fixture::new();
    let driver = start_driver(&driver_bin);
    let webdriver = format!("http://127.0.0.1:{}", driver.port);
    let run = Run {
        base: fx.base.clone(),
        proposal: fx.proposal.clone(),
        admin: fx.admin.clone(),
        dir: artifacts(),
        state: Arc::clone(&fx.state),
        clock: Arc::clone(&fx.clock),
    };
    fx.rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chrome_bin.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1600",
                         "--hide-scrollbars"],
            }),
        );
        let c = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("a WebDriver session");
        let task = tokio::spawn(steps(c.clone(), run));
        let outcome = tokio::time::timeout(Duration::from_secs(90), task).await;
        let _ = c.close().await;
        match outcome {
            Err(_) => panic!("the browser flow took more than 90 s"),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("the browser flow failed: {e}"),
            Ok(Ok(())) => {}
        }
    });
    drop(driver);
    assert_ne!(fx.status(), ProposalStatus::Pending);
}

/// What the browser does: log in, the dashboard, the proposal, approve, the rollout, and the
/// other pages, with a screenshot of each in `dir`.
/// Waits up to 15 s.
fn wait(c: &fantoccini::Client) -> fantoccini::wait::Wait<'_> {
    c.wait().at_most(Duration::from_secs(15))
}

/// What the browser flow needs.
struct Run {
    base: String,
    proposal: String,
    admin: String,
    dir: PathBuf,
    state: Arc<AppState>,
    clock: Arc<ManualClock>,
}

async fn steps(c: fantoccini::Client, run: Run) {
    use fantoccini::Locator;
    let Run {
        base,
        proposal,
        admin,
        dir,
        state: app,
        clock,
    } = run;

    // Login.
    c.goto(&format!("{base}/ui/login"))
        .await
        .expect("login page");
    fits(&c, "login").await;
    shot(&c, &dir, "01-login").await;
    c.find(Locator::Id("token"))
        .await
        .expect("token field")
        .send_keys(&admin)
        .await
        .expect("type the token");
    c.find(Locator::Id("login"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");

    // Dashboard, with charts.
    wait(&c)
        .for_element(Locator::Css("div.charts svg"))
        .await
        .expect("a chart");
    assert_eq!(c.current_url().await.expect("url").path(), "/ui");
    let charts = c.find_all(Locator::Css("svg")).await.expect("svgs");
    assert!(charts.len() >= 3, "{} charts", charts.len());
    fits(&c, "dashboard").await;
    shot(&c, &dir, "02-dashboard").await;

    // The queue and the proposal.
    c.goto(&format!("{base}/ui/proposals"))
        .await
        .expect("proposals");
    fits(&c, "proposals").await;
    shot(&c, &dir, "03-proposals").await;
    c.goto(&format!("{base}/ui/proposals/{proposal}"))
        .await
        .expect("proposal");
    let text = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(text.contains("budget_overrun"), "{text}");
    fits(&c, "proposal").await;
    shot(&c, &dir, "04-proposal").await;

    // Approve: the rollout starts.
    c.find(Locator::Id("note"))
        .await
        .expect("note")
        .send_keys("looks right")
        .await
        .expect("note");
    c.find(Locator::Id("approve"))
        .await
        .expect("approve")
        .click()
        .await
        .expect("approve");
    let link = wait(&c)
        .for_element(Locator::Id("rollout-link"))
        .await
        .expect("rollout link");
    let text = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(text.contains("rollout started"), "{text}");
    shot(&c, &dir, "05-approved").await;
    link.click().await.expect("open the rollout");

    // The rollout, observing.
    let state = wait(&c)
        .for_element(Locator::Id("state"))
        .await
        .expect("rollout state");
    assert_eq!(state.text().await.expect("state"), "observing");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/ui/rollouts/")
    );
    assert!(
        c.find(Locator::Id("rollback")).await.is_ok(),
        "no rollback form"
    );
    fits(&c, "rollout").await;
    shot(&c, &dir, "06-rollout").await;

    // Two days later, with data, the checks have run: the table and the charts.
    tokio::task::spawn_blocking(move || {
        clock.advance(chrono::Duration::hours(49));
        let data = org_events(end(), 48);
        ingest(&mut app.store(), &data, clock.now());
        app.with_service(|svc| Ok(svc.tick_rollouts(app.executor())?))
            .expect("tick");
    })
    .await
    .expect("advance and tick");
    c.refresh().await.expect("reload");
    wait(&c)
        .for_element(Locator::Id("checks"))
        .await
        .expect("the checks table");
    let charts = c
        .find_all(Locator::Css("div.charts svg"))
        .await
        .expect("charts");
    assert_eq!(charts.len(), 4, "one chart per metric");
    let state = c
        .find(Locator::Id("state"))
        .await
        .expect("state")
        .text()
        .await
        .expect("state");
    assert_ne!(state, "observing", "the window ended");
    fits(&c, "rollout with checks").await;
    shot(&c, &dir, "07-rollout-checks").await;

    // The other pages render and fit.
    for (path, name) in [
        ("/ui", "08-dashboard-after"),
        ("/ui/rollouts", "09-rollouts"),
        ("/ui/org", "10-org"),
        ("/ui/cycles", "11-cycles"),
        ("/ui/audit", "12-audit"),
    ] {
        c.goto(&format!("{base}{path}")).await.expect("page");
        let main = c
            .find(Locator::Css("main"))
            .await
            .expect("main")
            .text()
            .await
            .expect("text");
        assert!(!main.contains("internal error"), "{path}: {main}");
        fits(&c, path).await;
        shot(&c, &dir, name).await;
    }
    let audit = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(audit.contains("proposals.approve"), "{audit}");
}
