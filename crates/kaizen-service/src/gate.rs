//! The runtime and its one gate.
//!
//! [`Kaizen`] owns what every operation needs — the store, the configuration, the clock, the
//! ports (the rollback executor and its notifiers, set once at construction), the
//! effective-config cache and the per-token write limiter — and runs every operation through
//! one path, whichever adapter asks (REST, MCP, the web UI, the CLI, the background loop):
//! authorise (the capability and the human-only rule), count a write against the caller's
//! rate limit, run, and append an audit entry for every write — done, refused or failed —
//! with the proposal's status before and after where the target is one.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use kaizen_core::auth::{Action, Grant};
use kaizen_core::clock::Clock;
use kaizen_core::config::KaizenConfig;
#[cfg(test)]
use kaizen_core::error::ErrorKind;
use kaizen_store::Store;
use kaizen_store::auth::{AuditEntry, AuditOutcome, Authenticated, SECRET_PREFIX};
use kaizen_store::proposals::{Actor, ActorKind, ProposalStatus};

use crate::effective::{CachedConfig, EffectiveConfigs};
use crate::op::{Cx, Op};
use crate::ops::{Operation, operation};
use crate::rollback::RollbackExecutor;
use crate::{CycleTrigger, Result, Service, ServiceError};

/// Which adapter a call came through (recorded in the audit detail as `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Via {
    /// The REST API.
    Rest,
    /// An MCP tool call.
    Mcp,
    /// The web UI.
    Ui,
    /// The `kaizen` command line, on the store directly.
    Cli,
    /// The background loop of `kaizen serve` (the scheduler).
    Loop,
}

impl Via {
    /// `rest`, `mcp`, `ui`, `cli`, `loop`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who is calling, and through which adapter.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token (or, for the CLI, the local operator) and what it grants.
    pub auth: Arc<Authenticated>,
    /// The adapter.
    pub via: Via,
}

impl Principal {
    /// An authenticated token's principal, calling through `via`.
    pub fn new(auth: Arc<Authenticated>, via: Via) -> Self {
        Self { auth, via }
    }

    /// The person at the keyboard of the `kaizen` command line: a human with every capability
    /// (whoever can open the store file can change it anyway), audited under `name`.
    pub fn local_human(name: impl Into<String>) -> Result<Self> {
        let all = Grant::parse(&["*".to_owned()])
            .map_err(|e| ServiceError::Internal(format!("the local operator's grant: {e}")))?;
        Ok(Self {
            auth: Arc::new(Authenticated {
                token_id: "local".to_owned(),
                principal: name.into(),
                kind: ActorKind::Human,
                grant: all,
                expires_at: None,
            }),
            via: Via::Cli,
        })
    }

    /// The background loop's scheduler: a system principal, audited under
    /// [`crate::cycle::SCHEDULER`] with `via: loop`. It can never make a human decision.
    pub fn scheduler() -> Result<Self> {
        let all = Grant::parse(&["*".to_owned()])
            .map_err(|e| ServiceError::Internal(format!("the scheduler's grant: {e}")))?;
        Ok(Self {
            auth: Arc::new(Authenticated {
                token_id: crate::cycle::SCHEDULER.to_owned(),
                principal: crate::cycle::SCHEDULER.to_owned(),
                kind: ActorKind::System,
                grant: all,
                expires_at: None,
            }),
            via: Via::Loop,
        })
    }

    /// The actor the service records.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.auth.principal.clone(),
            kind: self.auth.kind,
        }
    }
}

/// Whether `who` may run `op`: a human-only operation needs a principal that may make human
/// decisions (`lifecycle::may_approve`: agents never approve, whatever their patterns say), and
/// the grant must allow the operation's capability (`Authenticated::allows`, which applies the
/// same rule to `…:approve`).
pub fn authorize(who: &Principal, op: &Operation) -> Result<()> {
    if op.human_only && !kaizen_core::lifecycle::may_approve(who.auth.kind) {
        return Err(ServiceError::Forbidden {
            code: "human_only",
            message: format!(
                "{} is a human decision; {} is an {} principal and can never make it (mandatory human approval)",
                op.name,
                who.auth.principal,
                who.auth.kind.as_str()
            ),
        });
    }
    if !who.auth.allows(&op.needs()) {
        return Err(ServiceError::Forbidden {
            code: "forbidden",
            message: format!(
                "token {} ({}) lacks the capability {} that {} needs",
                who.auth.token_id,
                who.auth.principal,
                op.capability(),
                op.name
            ),
        });
    }
    Ok(())
}

/// Per-token write budget: `server.writes_per_minute` writes per token, refilled evenly over
/// the minute (GCRA; a full minute's budget may be spent at once). Idle tokens are forgotten.
struct WriteLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    per_minute: u32,
    checks: AtomicU64,
}

impl WriteLimiter {
    fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            per_minute: n.get(),
            checks: AtomicU64::new(0),
        }
    }

    fn check(&self, token: &str) -> Result<()> {
        // Forget tokens whose budget is full again, now and then, so the map stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&token.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs().max(1);
                Err(ServiceError::RateLimited {
                    message: format!(
                        "token {token} spent its budget of {} write requests a minute (server.writes_per_minute); retry in {secs} s",
                        self.per_minute
                    ),
                    retry_after_secs: secs,
                })
            }
        }
    }
}

/// kaizen at run time: the store and everything an operation needs, and the gate every
/// operation runs through.
pub struct Kaizen {
    store: Mutex<Store>,
    config: KaizenConfig,
    clock: Arc<dyn Clock>,
    executor: RollbackExecutor,
    effective: Mutex<EffectiveConfigs>,
    limiter: Option<WriteLimiter>,
    writes: AtomicU64,
    /// Whether this process has audited the verdicts a crash left unaudited.
    verdicts_reconciled: std::sync::atomic::AtomicBool,
    shown: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Kaizen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kaizen")
            .field("executor", &self.executor)
            .finish_non_exhaustive()
    }
}

impl Kaizen {
    /// kaizen on `store` with its ports: no write limit, and a cached effective config
    /// re-reads the store's config generation on every read (right for short-lived processes;
    /// a server sets [`Kaizen::recheck_every`] and [`Kaizen::write_limit`]).
    pub fn new(
        store: Store,
        config: KaizenConfig,
        clock: Arc<dyn Clock>,
        executor: RollbackExecutor,
    ) -> Self {
        Self {
            store: Mutex::new(store),
            config,
            clock,
            executor,
            effective: Mutex::new(EffectiveConfigs::new()),
            limiter: None,
            writes: AtomicU64::new(0),
            verdicts_reconciled: std::sync::atomic::AtomicBool::new(false),
            shown: serde_json::Map::new(),
        }
    }

    /// Cached effective configs re-read the store's config generation at most every
    /// `interval` (a server passes a second: this process invalidates the cache after its own
    /// writes, other processes' changes show within the interval).
    pub fn recheck_every(mut self, interval: std::time::Duration) -> Self {
        self.effective = Mutex::new(EffectiveConfigs::with_recheck(interval));
        self
    }

    /// At most `per_minute` writes per token a minute (`server.writes_per_minute`; at least 1).
    pub fn write_limit(mut self, per_minute: u32) -> Self {
        self.limiter = Some(WriteLimiter::new(per_minute));
        self
    }

    /// Settings of the adapters (the `server` and `mcp` sections, owned by the server crate)
    /// that `config.show` shows next to the meta-loop's configuration. No secrets.
    pub fn show_settings(mut self, sections: serde_json::Map<String, serde_json::Value>) -> Self {
        self.shown = sections;
        self
    }

    /// The configuration `config.show` shows: the meta-loop's, secrets redacted, with the
    /// adapters' sections.
    pub fn shown_config(&self) -> std::result::Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::to_value(self.config.redacted())?;
        if let serde_json::Value::Object(map) = &mut value {
            for (key, section) in &self.shown {
                map.insert(key.clone(), section.clone());
            }
        }
        Ok(value)
    }

    /// The configuration.
    pub fn config(&self) -> &KaizenConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The rollback executor and notifiers.
    pub fn executor(&self) -> &RollbackExecutor {
        &self.executor
    }

    /// The store, locked. A poisoned lock (a panic while holding it) is recovered: SQLite
    /// transactions either committed or rolled back, so the store itself is consistent.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn effective(&self) -> MutexGuard<'_, EffectiveConfigs> {
        self.effective.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many writes this process has run through the gate; adapters that cache anything
    /// derived from the store (authenticated tokens) drop it when this moves.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Agent `id`'s effective config, from the cache (rebuilt when the store's config
    /// generation moved).
    pub fn effective_config(&self, store: &mut Store, id: &str) -> Result<Arc<CachedConfig>> {
        self.effective().get(store, id)
    }

    /// Agent `id`'s effective config when the cache knows it to be current, without the store.
    pub fn effective_config_fresh(&self, id: &str) -> Option<Arc<CachedConfig>> {
        self.effective().fresh(id)
    }

    /// Runs the operation called `name` from JSON arguments (an object): the path of REST,
    /// MCP and `kaizen call`. Arguments are parsed after authorisation, so a caller who may not
    /// run the operation learns nothing about them.
    pub fn execute(
        &self,
        who: &Principal,
        name: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let op = operation(name)
            .ok_or_else(|| ServiceError::NotFound(format!("no operation called {name:?}")))?;
        // A secret pasted where an id goes never reaches the audit log.
        let target = match args.get("id") {
            Some(serde_json::Value::String(s)) if !s.starts_with(SECRET_PREFIX) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        self.gate(who, op, target.as_deref(), |cx| op.invoke(cx, args))
    }

    /// Runs the typed operation `O`: the path of the web UI and the CLI.
    pub fn call<O: Op>(&self, who: &Principal, input: O::Input) -> Result<O::Output> {
        let op = operation(O::SPEC.name).ok_or_else(|| {
            ServiceError::Internal(format!("operation {} is not registered", O::SPEC.name))
        })?;
        let target = O::target(&input);
        let audit = O::audit(&input);
        self.gate(who, op, target.as_deref(), |cx| {
            cx.audit = audit;
            O::run(cx, input)
        })
    }

    /// Runs `f` as operation `op` for `who` through the gate: for adapters that compose a page
    /// from several reads under one operation's permission (the web UI). `f` must do no more
    /// than `op` allows.
    pub fn run_as<T>(
        &self,
        who: &Principal,
        op: &'static Operation,
        target: Option<&str>,
        f: impl FnOnce(&mut Cx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.gate(who, op, target, f)
    }

    fn gate<T>(
        &self,
        who: &Principal,
        op: &'static Operation,
        target: Option<&str>,
        f: impl FnOnce(&mut Cx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut store = self.store();
        let write = op.action != Action::Read;
        let status = |store: &Store| {
            target
                .filter(|_| write && matches!(op.domain, "proposals" | "rollouts"))
                .and_then(|id| store.proposal_status(id).ok().flatten())
                .map(ProposalStatus::as_str)
        };
        let mut before = status(&store).map(str::to_owned);
        let mut target = target.map(str::to_owned);
        let mut after = None;
        let mut noted = serde_json::Map::new();
        let result = authorize(who, op)
            .and_then(|()| match &self.limiter {
                Some(limiter) if write => limiter.check(&who.auth.token_id),
                _ => Ok(()),
            })
            .and_then(|()| {
                let mut cx = Cx {
                    svc: Service {
                        store: &mut store,
                        config: &self.config,
                        clock: self.clock.as_ref(),
                    },
                    who,
                    kaizen: self,
                    audit: serde_json::Map::new(),
                    target: target.take(),
                    before: before.take(),
                    after: None,
                };
                let result = f(&mut cx);
                noted = std::mem::take(&mut cx.audit);
                target = cx.target.take();
                before = cx.before.take();
                after = cx.after.take();
                result
            });
        if !write {
            return result;
        }
        // Caches derived from the store may be stale now, even after a failure (a rollback
        // that failed part-way keeps its durable progress).
        self.effective().invalidate();
        self.writes.fetch_add(1, Ordering::AcqRel);
        let after = after.or_else(|| status(&store).map(str::to_owned));
        let mut detail = noted;
        detail.insert("via".to_owned(), who.via.as_str().into());
        let outcome = match &result {
            Ok(_) => AuditOutcome::Ok,
            Err(e) => {
                detail.insert("code".to_owned(), e.code().into());
                detail.insert("kind".to_owned(), serde_json::json!(e.kind()));
                if e.kind().is_caller_error() {
                    detail.insert("message".to_owned(), e.to_string().into());
                    AuditOutcome::Refused
                } else {
                    AuditOutcome::Error
                }
            }
        };
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: &who.auth.principal,
            actor_kind: who.auth.kind,
            operation: op.name,
            target: target.as_deref(),
            outcome,
            before: before.as_deref(),
            after: after.as_deref(),
            detail: Some(serde_json::Value::Object(detail)),
        };
        append_audit(&mut store, &entry, result.is_ok())?;
        result
    }

    /// One iteration of the background loop: the scheduled cycle when it is due (and the loop
    /// is enabled), audited under the scheduler's name, then the rollout engine's turn
    /// ([`Kaizen::tick_rollouts`]), then the alerts' turn (stuck rollouts, outbox delivery:
    /// `crate::alerts`). Returns when the next rollout check or alert delivery is due.
    pub fn background_once(&self) -> Option<DateTime<Utc>> {
        if self.config.self_improvement.enabled {
            let start = Instant::now();
            match Principal::scheduler().and_then(|who| self.run_due_cycle(&who)) {
                Ok(Some(report)) => {
                    metrics::histogram!("kaizen_cycle_duration_seconds")
                        .record(start.elapsed().as_secs_f64());
                    tracing::info!(cycle = %report.id, "scheduled cycle ran");
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "scheduled cycle failed"),
            }
            if let Err(e) = Principal::scheduler().and_then(|who| self.run_inflection_check(&who)) {
                tracing::error!(error = %e, "inflection check failed");
            }
        }
        let next_check = match self.tick_rollouts() {
            Ok((_, next)) => next,
            Err(e) => {
                tracing::error!(error = %e, "rollout tick failed");
                None
            }
        };
        // Alerts: rollouts stuck waiting for a human, then the outbox's due deliveries.
        if let Err(e) = self.raise_stuck_rollouts() {
            tracing::error!(error = %e, "checking for stuck rollouts failed");
        }
        let next_delivery = match self.deliver_alerts() {
            Ok(report) => report.next_due,
            Err(e) => {
                tracing::error!(error = %e, "alert delivery failed");
                None
            }
        };
        next_check.into_iter().chain(next_delivery).min()
    }

    /// The scheduled cycle, if one is due, as `cycles.run` for `who` (trigger `schedule`): the
    /// background loop's (as the scheduler) and `kaizen cycle tick`'s. When none is due nothing
    /// runs and nothing is audited (a cron job may tick every minute).
    pub fn run_due_cycle(&self, who: &Principal) -> Result<Option<crate::CycleReport>> {
        let due = {
            let mut store = self.store();
            let service = Service {
                store: &mut store,
                config: &self.config,
                clock: self.clock.as_ref(),
            };
            service.next_cycle_due()?
        };
        if due.is_none_or(|at| at > self.clock.now()) {
            return Ok(None);
        }
        let op = operation(crate::catalog::CyclesRun::SPEC.name).ok_or_else(|| {
            ServiceError::Internal("operation cycles.run is not registered".to_owned())
        })?;
        self.gate(who, op, None, |cx| {
            cx.audit
                .insert("trigger".to_owned(), CycleTrigger::Schedule.as_str().into());
            // Due was checked without the lock held since: run_due_cycle checks again.
            let report = cx.svc.run_due_cycle()?;
            match &report {
                Some(r) => crate::catalog::note_cycle(cx, r),
                None => {
                    cx.audit.insert("ran".to_owned(), false.into());
                }
            }
            Ok(report)
        })
    }

    /// The inflection monitor's turn (`inflection.rs`): the check when due and, when it asks
    /// for one, the inflection cycle, audited as `cycles.run` for `who` with trigger
    /// `inflection` (as [`Kaizen::run_due_cycle`] audits the scheduled one).
    pub fn run_inflection_check(
        &self,
        who: &Principal,
    ) -> Result<Option<crate::inflection::InflectionCheck>> {
        let check = {
            let mut store = self.store();
            let mut service = Service {
                store: &mut store,
                config: &self.config,
                clock: self.clock.as_ref(),
            };
            service.check_inflections_if_due()?
        };
        let Some(check) = check else {
            return Ok(None);
        };
        if !check.cycle_due {
            return Ok(Some(check));
        }
        let op = operation(crate::catalog::CyclesRun::SPEC.name).ok_or_else(|| {
            ServiceError::Internal("operation cycles.run is not registered".to_owned())
        })?;
        self.gate(who, op, None, |cx| {
            cx.audit.insert(
                "trigger".to_owned(),
                CycleTrigger::Inflection.as_str().into(),
            );
            let metrics: Vec<&str> = check
                .inflections
                .iter()
                .map(|i| i.metric.as_str())
                .collect();
            cx.audit.insert("inflections".to_owned(), metrics.into());
            let report = cx.svc.run_inflection_cycle()?;
            crate::catalog::note_cycle(cx, &report);
            Ok(())
        })?;
        Ok(Some(check))
    }

    /// The rollout engine's turn: every due rollout check, each verdict audited under the
    /// engine's name (`rollouts.verdict`, outcome `error` when acting on it failed), then the
    /// measurement of every outcome that is due ([`Service::measure_due_outcomes`]). Returns
    /// what moved and when the next check is due. The background loop and
    /// `kaizen rollouts tick` both run it.
    pub fn tick_rollouts(
        &self,
    ) -> Result<(Vec<crate::rollout::RolloutProgress>, Option<DateTime<Utc>>)> {
        let mut store = self.store();
        if !self.verdicts_reconciled.swap(true, Ordering::AcqRel) {
            reconcile_verdict_audit(&mut store)?;
        }
        let mut service = Service {
            store: &mut store,
            config: &self.config,
            clock: self.clock.as_ref(),
        };
        let progress = service.tick_rollouts(&self.executor)?;
        let next = service.next_rollout_check()?;
        // The outcomes of applied proposals whose horizon passed ("did the fix work?"); a
        // failure here never stops the rollout engine.
        match service.measure_due_outcomes() {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(proposal = %id, "outcome measured");
                }
            }
            Err(e) => tracing::error!(error = %e, "measuring outcomes failed"),
        }
        if !progress.is_empty() {
            self.effective().invalidate();
            self.writes.fetch_add(1, Ordering::AcqRel);
        }
        let now = self.clock.now();
        let mut failure = None;
        for p in progress
            .iter()
            .filter(|p| p.checks_run > 0 || p.verdict.is_some())
        {
            tracing::info!(proposal = %p.proposal_id, checks = p.checks_run, state = %p.state, "rollout progressed");
            let Some(v) = &p.verdict else { continue };
            let mut detail = serde_json::json!({
                "outcome": v.outcome,
                "reason": v.reason,
                "checks_run": p.checks_run,
            });
            if let (Some(e), Some(d)) = (&p.error, detail.as_object_mut()) {
                d.insert("message".to_owned(), e.to_string().into());
            }
            let entry = AuditEntry {
                at: now,
                actor: crate::rollout::ENGINE,
                actor_kind: ActorKind::System,
                operation: "rollouts.verdict",
                target: Some(&p.proposal_id),
                outcome: if p.error.is_some() {
                    AuditOutcome::Error
                } else {
                    AuditOutcome::Ok
                },
                before: None,
                after: Some(p.state.as_str()),
                detail: Some(detail),
            };
            // Keep auditing the other verdicts; report the first failure.
            if let Err(e) = append_audit(&mut store, &entry, true) {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((progress, next)),
        }
    }
}

/// Audits the engine's verdicts that have no `rollouts.verdict` entry: a verdict commits before
/// its audit entry is appended, so a crash in between leaves one out. Run once per process,
/// before its first tick (a crash always means a new process): a read of the rollouts and a
/// count per engine verdict.
fn reconcile_verdict_audit(store: &mut Store) -> Result<()> {
    let rollouts = store
        .rollouts(None)
        .map_err(|e| ServiceError::store(e.kind(), e))?;
    for r in &rollouts {
        let Some(v) = r
            .verdict
            .as_ref()
            .filter(|v| v.decided_by == crate::rollout::ENGINE)
        else {
            continue;
        };
        let (_, audited) = store
            .audit(&kaizen_store::auth::AuditQuery {
                operation: Some("rollouts.verdict"),
                target: Some(&r.proposal_id),
                limit: 1,
                ..Default::default()
            })
            .map_err(crate::error::from_store)?;
        if audited > 0 {
            continue;
        }
        tracing::warn!(proposal = %r.proposal_id, "auditing a verdict a stop left unaudited");
        let entry = AuditEntry {
            at: v.at,
            actor: crate::rollout::ENGINE,
            actor_kind: ActorKind::System,
            operation: "rollouts.verdict",
            target: Some(&r.proposal_id),
            outcome: AuditOutcome::Ok,
            before: None,
            after: Some(r.state.as_str()),
            detail: Some(serde_json::json!({
                "outcome": v.outcome,
                "reason": v.reason,
                "recovered": true,
            })),
        };
        append_audit(store, &entry, true)?;
    }
    Ok(())
}

/// Appends `entry`. When that fails after the change was made, the call fails too, naming
/// what was done; after a refusal it is only logged.
pub fn append_audit(store: &mut Store, entry: &AuditEntry<'_>, change_made: bool) -> Result<()> {
    if let Err(e) = store.audit_append(entry) {
        tracing::error!(operation = entry.operation, error = %e, "audit append failed");
        if change_made {
            return Err(ServiceError::Internal(format!(
                "{} was done but could not be audited: {e}",
                entry.operation
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_names() {
        use strum::IntoEnumIterator;
        let names: Vec<&str> = Via::iter().map(Via::as_str).collect();
        assert_eq!(names, ["rest", "mcp", "ui", "cli", "loop"]);
    }

    #[test]
    fn the_write_limiter_refuses_past_the_budget_and_forgets_idle_tokens() {
        let limiter = WriteLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.check("tok_a").is_ok());
        }
        let refused = limiter
            .check("tok_a")
            .expect_err("the fourth write in a minute");
        assert_eq!(refused.kind(), ErrorKind::RateLimited);
        assert!(matches!(
            refused,
            ServiceError::RateLimited { retry_after_secs, .. } if (1..=20).contains(&retry_after_secs)
        ));
        // Another token has its own budget.
        assert!(limiter.check("tok_b").is_ok());

        // A fast budget (one write per millisecond) refills at once: tokens seen once are
        // forgotten instead of kept for ever.
        let fast = WriteLimiter::new(60_000);
        for i in 0..2000 {
            assert!(fast.check(&format!("tok_{i}")).is_ok());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        fast.limiter.retain_recent();
        assert_eq!(fast.limiter.len(), 0);
    }
}
