//! The web UI under `/ui`: server-rendered HTML (maud), inline SVG charts, no JavaScript, no
//! external assets.
//!
//! * [`routes`] serves every page; merge it into the main router.
//! * A person logs in with a bearer token (`/ui/login`); the browser then holds only a session
//!   cookie (`session.rs`). Every page and every action goes through `act`, which does what
//!   the REST adapter's `call` does: check that the session's token is still active, authorise
//!   the operation of the registry (`kaizen_service::ops`) the page or action corresponds to,
//!   count writes against the token's rate limit, run the service call on the blocking pool
//!   and append an audit entry for every write (done, refused or failed). The UI therefore has
//!   exactly the REST API's permissions: an agent can log in and read, but never approve.
//! * Every form that changes something carries the session's CSRF token; a missing or wrong
//!   one is refused with 403 (and audited) before anything runs.
//!
//! Pages: the dashboard (snapshot, firing rules, 14-day charts), proposals (queue, evidence,
//! approve / reject / roll back), rollouts (checks, charts, human decisions), the org document
//! (versions and diffs), cycles and the audit log.

mod chart;
mod dashboard;
mod layout;
mod lists;
mod org;
mod proposals;
mod rollouts;
pub(crate) mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kaizen_service::op::Cx;
use kaizen_service::ops::{self, Operation};
use kaizen_service::{Principal, Service, Via};
use kaizen_store::auth::{AuditEntry, AuditOutcome, Authenticated, TokenState};
use maud::{Markup, html};
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::{AppState, blocking};

use layout::{Nav, Who};
use session::{Current, LOGIN_COOKIE, Notice, SESSION_COOKIE, SESSION_TTL, Sessions};

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The UI's shared state: the server's state and the sessions.
#[derive(Debug)]
struct Ui {
    app: Arc<AppState>,
    sessions: Sessions,
}

type S = State<Arc<Ui>>;

/// The web UI, with `state` applied, so it merges into any router:
/// `router(state.clone()).merge(ui::routes(state))`.
pub fn routes(state: Arc<AppState>) -> Router {
    let timeout = Duration::from_secs(u64::from(state.server().request_timeout_seconds));
    let ui = Arc::new(Ui {
        app: state,
        sessions: Sessions::default(),
    });
    Router::new()
        .route("/ui", get(dashboard::page))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/proposals", get(proposals::list))
        .route("/ui/proposals/{id}", get(proposals::detail))
        .route("/ui/proposals/{id}/approve", post(proposals::approve))
        .route("/ui/proposals/{id}/reject", post(proposals::reject))
        .route("/ui/proposals/{id}/rollback", post(proposals::rollback))
        .route("/ui/rollouts", get(rollouts::list))
        .route("/ui/rollouts/{id}", get(rollouts::detail))
        .route("/ui/rollouts/{id}/decide", post(rollouts::decide))
        .route("/ui/org", get(org::page))
        .route("/ui/cycles", get(lists::cycles))
        .route("/ui/cycles/{id}", get(lists::cycle))
        .route("/ui/audit", get(lists::audit))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(ui)
}

/// No scripts, no frames, no foreign resources, nothing cached.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn op(name: &str) -> Result<&'static Operation, ApiError> {
    ops::operation(name).ok_or_else(|| ApiError::internal(format!("unknown operation {name}")))
}

/// Whether `caller` may run operation `name` (to decide what a page shows).
fn allowed(caller: &Principal, name: &str) -> bool {
    ops::operation(name).is_some_and(|op| kaizen_service::gate::authorize(caller, op).is_ok())
}

/// The caller behind `auth` if its token is still active at `now`, else 401.
fn revalidate(
    store: &kaizen_store::Store,
    auth: Authenticated,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Principal, ApiError> {
    let info = store
        .token(&auth.token_id)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::unauthorized(format!("token {} is unknown", auth.token_id)))?;
    match info.state(now) {
        TokenState::Active => Ok(Principal::new(Arc::new(auth), Via::Ui)),
        state => Err(ApiError::unauthorized(format!(
            "token {} is {}",
            auth.token_id,
            state.as_str()
        ))),
    }
}

/// The audit entry of a write by `caller`.
/// Runs operation `name` for the session `sess` the way the REST adapter does: the session's
/// token must still be active, the operation must be authorised (capability and the
/// human-only rule), a write counts against the token's rate limit, `f` runs on the blocking
/// pool with a service, and every write is audited (done, refused or failed) with the
/// proposal's status before and after where `target` names one.
async fn act<T, F>(
    ui: &Arc<Ui>,
    sess: &Current,
    name: &'static str,
    target: Option<String>,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Cx<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let op = op(name)?;
    let app = Arc::clone(&ui.app);
    let auth = sess.auth.clone();
    blocking(move || {
        let now = app.clock().now();
        let caller = revalidate(&app.store(), auth, now)?;
        crate::error::through_gate(&app.kaizen, &caller, op, target.as_deref(), f)
    })
    .await
}

/// Checks the CSRF token `given` of a form posted for operation `name`. A missing or wrong
/// token is audited as refused and answered with a 403 page; nothing else runs.
async fn check_csrf(
    ui: &Arc<Ui>,
    sess: &Current,
    name: &'static str,
    target: Option<&str>,
    given: Option<&str>,
) -> Result<(), Response> {
    if given.is_some_and(|g| session::same_secret(g, &sess.csrf)) {
        return Ok(());
    }
    let message = "the form's CSRF token is missing or does not match this session; reload the page and try again";
    let app = Arc::clone(&ui.app);
    let auth = sess.auth.clone();
    let target = target.map(str::to_owned);
    let logged = blocking(move || {
        let mut store = app.store();
        kaizen_service::gate::append_audit(
            &mut store,
            &AuditEntry {
                at: app.clock().now(),
                actor: &auth.principal,
                actor_kind: auth.kind,
                operation: name,
                target: target.as_deref(),
                outcome: AuditOutcome::Refused,
                before: None,
                after: None,
                detail: Some(
                    serde_json::json!({"code": "csrf", "status": 403, "message": message, "via": "ui"}),
                ),
            },
            false,
        )
        .map_err(ApiError::from)
    })
    .await;
    if let Err(e) = logged {
        tracing::error!(error = %e.message, "auditing a CSRF refusal failed");
    }
    Err(render(
        ui,
        sess,
        "Refused",
        Nav::None,
        vec![Notice::error(message)],
        Some(StatusCode::FORBIDDEN),
        Ok(html! { p { a href="/ui" { "Back to the dashboard" } } }),
    ))
}

/// 303 to the login page, coming back to `uri` afterwards.
fn to_login(uri: &Uri) -> Response {
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ui");
    Redirect::to(&format!("/ui/login?next={}", layout::enc(next))).into_response()
}

/// 303 to `to`.
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The page of a request: `result` in the shell, with the session's queued messages and
/// `notices`. An error becomes a message on the page with its status (`status` overrides the
/// status of a successful body, e.g. a detail page shown again after a refused action); a 401
/// (the token was revoked or expired) ends the session and goes to the login page.
fn render(
    ui: &Ui,
    sess: &Current,
    title: &str,
    nav: Nav,
    notices: Vec<Notice>,
    status: Option<StatusCode>,
    result: Result<Markup, ApiError>,
) -> Response {
    let mut all = ui.sessions.take_flash(&sess.id);
    all.extend(notices);
    let who = Who {
        principal: &sess.auth.principal,
        kind: sess.auth.kind,
        csrf: &sess.csrf,
    };
    match result {
        Ok(body) => (
            status.unwrap_or(StatusCode::OK),
            layout::page(title, Some(&who), nav, &all, body),
        )
            .into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            ui.sessions.remove(&sess.id);
            see_other("/ui/login?ended=1")
        }
        Err(e) => {
            all.push(Notice::error(e.message));
            (
                e.status,
                layout::page(
                    title,
                    Some(&who),
                    nav,
                    &all,
                    html! { p { a href="/ui" { "Back to the dashboard" } } },
                ),
            )
                .into_response()
        }
    }
}

/// What a GET page is: its title, its section, and the read operation it runs.
#[derive(Debug, Clone)]
struct Spec {
    title: String,
    nav: Nav,
    op: &'static str,
    target: Option<String>,
}

/// A GET page that needs a session: runs `spec.op` (a read) through [`act`] with `f` building
/// the body, and renders it.
async fn view<F>(ui: Arc<Ui>, headers: &HeaderMap, uri: &Uri, spec: Spec, f: F) -> Response
where
    F: FnOnce(&Principal, &mut Service<'_>, &Page) -> Result<Markup, ApiError> + Send + 'static,
{
    let Some(sess) = ui.sessions.current(headers) else {
        return to_login(uri);
    };
    let page = Page {
        csrf: sess.csrf.clone(),
    };
    let result = act(&ui, &sess, spec.op, spec.target, move |cx| {
        f(cx.who, &mut cx.svc, &page)
    })
    .await;
    render(&ui, &sess, &spec.title, spec.nav, Vec::new(), None, result)
}

/// What a page body needs besides the service.
#[derive(Debug, Clone)]
struct Page {
    /// The session's CSRF token, for the page's forms.
    csrf: String,
}

/// A form field's value, trimmed; `None` when blank.
/// The form's reason, or a 400 saying that `what` needs one.
fn required_reason(reason: Option<String>, what: &str) -> Result<String, ApiError> {
    reason.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("{what} needs a reason: say why in the Reason field."),
        )
    })
}

fn field(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn not_found(State(ui): S, headers: HeaderMap, uri: Uri) -> Response {
    let msg = format!("there is no page {}", uri.path());
    match ui.sessions.current(&headers) {
        Some(sess) => render(
            &ui,
            &sess,
            "Not found",
            Nav::None,
            Vec::new(),
            None,
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)),
        ),
        None => (
            StatusCode::NOT_FOUND,
            layout::page(
                "Not found",
                None,
                Nav::None,
                &[Notice::error(msg)],
                html! { p { a href="/ui/login" { "Log in" } } },
            ),
        )
            .into_response(),
    }
}

// ---- login and logout ----

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    ended: Option<String>,
    bye: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// Where to go after login: a `/ui` page, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/ui/login")
                && !n.starts_with("/ui/logout") =>
        {
            n.to_owned()
        }
        _ => "/ui".to_owned(),
    }
}

/// The login page with a fresh login CSRF cookie.
fn login_page(
    headers: &HeaderMap,
    uri: &Uri,
    status: StatusCode,
    notices: &[Notice],
    next: &str,
) -> Response {
    let csrf = match session::random_hex(32) {
        Ok(c) => c,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let body = html! {
        div.login {
            div.card {
                h1 { "Log in to kaizen" }
                p.muted {
                    "Paste an API token (" code { "kz_…" } "). An administrator creates one with "
                    code { "kaizen token create" } "; the first start of " code { "kaizen serve" }
                    " prints an admin token."
                }
                form.action method="post" action="/ui/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="off" autofocus required placeholder="kz_…";
                    div { button #login type="submit" { "Log in" } }
                }
            }
        }
    };
    let mut res = (
        status,
        layout::page("Log in", None, Nav::None, notices, body),
    )
        .into_response();
    if let Some(c) = session::set_cookie(LOGIN_COOKIE, &csrf, 3600, session::is_https(headers, uri))
    {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn login_form(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let next = safe_next(q.next.as_deref());
    if ui.sessions.current(&headers).is_some() {
        return see_other(&next);
    }
    let mut notices = Vec::new();
    if q.ended.is_some() {
        notices.push(Notice::warn(
            "Your session ended: the token behind it was revoked or has expired. Log in again.",
        ));
    }
    if q.bye.is_some() {
        notices.push(Notice::ok("You are logged out."));
    }
    login_page(&headers, &uri, StatusCode::OK, &notices, &next)
}

async fn login(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|axum::Form(f)| f).unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let expected = session::cookie(&headers, LOGIN_COOKIE);
    let csrf_ok = match (expected, form.csrf.as_deref()) {
        (Some(e), Some(g)) => session::same_secret(e, g),
        _ => false,
    };
    if !csrf_ok {
        return login_page(
            &headers,
            &uri,
            StatusCode::FORBIDDEN,
            &[Notice::error(
                "The login form expired or did not come from this page (CSRF check); try again.",
            )],
            &next,
        );
    }
    let Some(secret) = field(form.token.as_ref()) else {
        return login_page(
            &headers,
            &uri,
            StatusCode::BAD_REQUEST,
            &[Notice::error("Enter a token.")],
            &next,
        );
    };
    let app = Arc::clone(&ui.app);
    let result = blocking(move || {
        let now = app.clock().now();
        let mut store = app.store();
        let auth = store
            .token_authenticate(&secret, now)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        if let Err(e) = store.token_touch(&auth.token_id, now) {
            tracing::warn!(error = %e, "recording a token's use failed");
        }
        kaizen_service::gate::append_audit(
            &mut store,
            &AuditEntry {
                at: now,
                actor: &auth.principal,
                actor_kind: auth.kind,
                operation: "ui.login",
                target: Some(&auth.token_id),
                outcome: AuditOutcome::Ok,
                before: None,
                after: None,
                detail: None,
            },
            true,
        )?;
        Ok(auth)
    })
    .await;
    match result {
        Ok(auth) => match ui.sessions.create(auth) {
            Ok(id) => {
                let secure = session::is_https(&headers, &uri);
                let mut res = see_other(&next);
                let h = res.headers_mut();
                if let Some(c) =
                    session::set_cookie(SESSION_COOKIE, &id, SESSION_TTL.as_secs(), secure)
                {
                    h.append(header::SET_COOKIE, c);
                }
                if let Some(c) = session::set_cookie(LOGIN_COOKIE, "", 0, secure) {
                    h.append(header::SET_COOKIE, c);
                }
                res
            }
            Err(e) => login_page(&headers, &uri, e.status, &[Notice::error(e.message)], &next),
        },
        Err(e) if e.status == StatusCode::UNAUTHORIZED => login_page(
            &headers,
            &uri,
            StatusCode::UNAUTHORIZED,
            &[Notice::error(format!(
                "That token does not work: {}.",
                e.message
            ))],
            &next,
        ),
        Err(e) => login_page(&headers, &uri, e.status, &[Notice::error(e.message)], &next),
    }
}

async fn logout(
    State(ui): S,
    headers: HeaderMap,
    uri: Uri,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(sess) = ui.sessions.current(&headers) else {
        return see_other("/ui/login");
    };
    let form = form.map(|axum::Form(f)| f).unwrap_or_default();
    if let Err(res) = check_csrf(&ui, &sess, "ui.logout", None, form.csrf.as_deref()).await {
        return res;
    }
    ui.sessions.remove(&sess.id);
    let app = Arc::clone(&ui.app);
    let auth = sess.auth.clone();
    let logged = blocking(move || {
        let mut store = app.store();
        kaizen_service::gate::append_audit(
            &mut store,
            &AuditEntry {
                at: app.clock().now(),
                actor: &auth.principal,
                actor_kind: auth.kind,
                operation: "ui.logout",
                target: Some(&auth.token_id),
                outcome: AuditOutcome::Ok,
                before: None,
                after: None,
                detail: None,
            },
            false,
        )
        .map_err(ApiError::from)
    })
    .await;
    if let Err(e) = logged {
        tracing::error!(error = %e.message, "auditing a logout failed");
    }
    let mut res = see_other("/ui/login?bye=1");
    if let Some(c) = session::set_cookie(SESSION_COOKIE, "", 0, session::is_https(&headers, &uri)) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_ui() {
        assert_eq!(
            safe_next(Some("/ui/proposals?status=pending")),
            "/ui/proposals?status=pending"
        );
        assert_eq!(safe_next(Some("/ui")), "/ui");
        assert_eq!(safe_next(Some("https://evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("//evil.example")), "/ui");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui");
        assert_eq!(safe_next(Some("/uix")), "/ui");
        assert_eq!(safe_next(Some("/ui/login")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn every_operation_the_ui_uses_exists() {
        for name in [
            "signals.snapshot",
            "rules.evaluate",
            "alerts.list",
            "proposals.list",
            "proposals.get",
            "proposals.preview",
            "proposals.approve",
            "proposals.reject",
            "proposals.rollback",
            "rollouts.list",
            "rollouts.get",
            "rollouts.decide",
            "org.current",
            "org.versions",
            "org.diff",
            "cycles.list",
            "cycles.get",
            "audit.list",
        ] {
            assert!(ops::operation(name).is_some(), "{name}");
        }
    }
}
