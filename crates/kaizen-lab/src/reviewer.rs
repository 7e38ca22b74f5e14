//! The simulated reviewer: it stands in for the human who reviews kaizen's proposals. It holds a
//! **human** token and acts only through the normal REST API (`GET /api/v1/proposals`,
//! `POST /api/v1/proposals/{id}/approve|reject`, `POST /api/v1/rollouts/{id}/start|decide`), so
//! mandatory human approval stays a property of the product: the reviewer can do nothing a
//! person with the same token could not.
//!
//! Its policy ([`ReviewerPolicy`]) says what it approves, after how long, and what it does
//! with repeats of rolled-back changes, stale proposals and inconclusive rollouts.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Timelike, Utc};
use kaizen_core::altitude::Altitude;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Reply};
use crate::error::LabError;
use crate::scenario::{ApproveMode, InconclusiveAction, ReviewerPolicy};

/// The reviewer's principal name.
pub const REVIEWER: &str = "sim-reviewer";

/// One thing the reviewer did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewAction {
    /// When (simulated time).
    pub at: DateTime<Utc>,
    /// The proposal.
    pub proposal_id: String,
    /// Its rule.
    pub rule: String,
    /// `approved`, `rejected`, `rollout_started`, `start_refused`, `approve_refused`,
    /// `decided_rollback`, `decided_apply`, `decided_extend`.
    pub action: String,
    /// Why, or what the server said.
    pub detail: String,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
struct Summary {
    id: String,
    rule_name: String,
    altitude: Altitude,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    fingerprint: String,
}

#[derive(Debug, Deserialize)]
struct Evaluation {
    matches: Vec<Match>,
}

#[derive(Debug, Deserialize)]
struct Match {
    rule_name: String,
}

#[derive(Debug, Deserialize)]
struct RolloutRow {
    proposal_id: String,
}

/// The simulated reviewer.
#[derive(Debug)]
pub struct Reviewer {
    client: Client,
    policy: ReviewerPolicy,
    settle_hours: f64,
    /// Fingerprints of rolled-back proposals, by proposal id.
    rolled_back: HashMap<String, String>,
    extended: HashSet<String>,
    refused_starts: HashSet<String>,
    log: Vec<ReviewAction>,
}

impl Reviewer {
    /// A reviewer talking to `client` (a human token with `proposals:*`, `rollouts:*`,
    /// `*:read`), deciding by `policy`; after a fix of a rule was applied it waits
    /// `settle_hours` before deciding on the rule's next proposal.
    pub fn new(client: Client, policy: ReviewerPolicy, settle_hours: f64) -> Self {
        Self {
            client,
            policy,
            settle_hours,
            rolled_back: HashMap::new(),
            extended: HashSet::new(),
            refused_starts: HashSet::new(),
            log: Vec::new(),
        }
    }

    /// Everything it did so far.
    pub fn log(&self) -> &[ReviewAction] {
        &self.log
    }

    fn list(&self, status: &str) -> Result<Vec<Summary>, LabError> {
        let mut items = self
            .client
            .get_json::<Page<Summary>>(&format!("/api/v1/proposals?status={status}&limit=500"))?
            .items;
        items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(items)
    }

    fn record(&mut self, at: DateTime<Utc>, p: &str, rule: &str, action: &str, detail: String) {
        self.log.push(ReviewAction {
            at,
            proposal_id: p.to_owned(),
            rule: rule.to_owned(),
            action: action.to_owned(),
            detail,
        });
    }

    /// A refusal (4xx) is part of the story (a proposal went stale, a rollout cannot start
    /// yet); a server error is not.
    fn check(reply: &Reply, what: &str) -> Result<(), LabError> {
        if reply.status >= 500 {
            return Err(LabError::Http(format!(
                "{what}: {} {}",
                reply.status,
                reply.message()
            )));
        }
        Ok(())
    }

    /// Looks at the queue and the rollouts at simulated time `now` and acts. Returns how many
    /// actions it took.
    pub fn act(&mut self, now: DateTime<Utc>) -> Result<usize, LabError> {
        let (from, to) = self.policy.working_hours;
        if !(from..to).contains(&now.hour()) {
            return Ok(0);
        }
        let before = self.log.len();
        self.review_pending(now)?;
        self.start_approved(now)?;
        self.decide_paused(now)?;
        Ok(self.log.len() - before)
    }

    fn review_pending(&mut self, now: DateTime<Utc>) -> Result<(), LabError> {
        let delay = Duration::milliseconds((self.policy.delay_hours * 3_600_000.0) as i64);
        let due: Vec<Summary> = self
            .list("pending")?
            .into_iter()
            .filter(|p| p.created_at + delay <= now)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        if self.policy.reject_repeats {
            for p in self.list("rolled_back")? {
                if !self.rolled_back.contains_key(&p.id) {
                    let d: Detail = self
                        .client
                        .get_json(&format!("/api/v1/proposals/{}", p.id))?;
                    self.rolled_back.insert(p.id, d.fingerprint);
                }
            }
        }
        // When the last fix of each rule was applied.
        let mut applied: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for p in self.list("applied")? {
            let e = applied.entry(p.rule_name).or_insert(p.updated_at);
            *e = (*e).max(p.updated_at);
        }
        let settle = Duration::milliseconds((self.settle_hours * 3_600_000.0) as i64);
        let mut firing: Option<HashSet<String>> = None;
        for p in due {
            let verdict: Option<String> = if self.policy.reject_rules.contains(&p.rule_name) {
                Some(format!(
                    "the reviewer does not accept changes for rule {}",
                    p.rule_name
                ))
            } else if self.policy.approve == ApproveMode::None {
                Some("the reviewer approves nothing in this scenario".to_owned())
            } else if self.policy.approve == ApproveMode::Altitudes
                && !self.policy.altitudes.contains(&p.altitude)
            {
                Some(format!(
                    "the reviewer does not approve {} proposals",
                    p.altitude.as_str()
                ))
            } else if self.policy.reject_repeats && self.is_repeat(&p.id)? {
                Some("the same change was rolled back before".to_owned())
            } else {
                None
            };
            if let Some(why) = verdict {
                self.reject(now, &p, why)?;
                continue;
            }
            if applied
                .get(&p.rule_name)
                .is_some_and(|at| *at + settle > now)
            {
                // A fix of this rule was applied recently; its signals have not settled yet.
                continue;
            }
            if self.policy.recheck {
                if firing.is_none() {
                    let ev: Evaluation = self.client.get_json("/api/v1/rules/evaluate")?;
                    firing = Some(ev.matches.into_iter().map(|m| m.rule_name).collect());
                }
                if firing.as_ref().is_some_and(|f| !f.contains(&p.rule_name)) {
                    self.reject(now, &p, format!("rule {} no longer fires", p.rule_name))?;
                    continue;
                }
            }
            // Like a person, look at the preview first: a proposal made against an older org
            // may no longer apply.
            let preview = self
                .client
                .get(&format!("/api/v1/proposals/{}/preview", p.id), None)?;
            Self::check(&preview, "preview")?;
            if !preview.ok() {
                self.reject(
                    now,
                    &p,
                    format!("it no longer applies: {}", preview.message()),
                )?;
                continue;
            }
            let r = self.client.post_json(
                &format!("/api/v1/proposals/{}/approve", p.id),
                &json!({ "reason": "simulated reviewer" }),
            )?;
            Self::check(&r, "approve")?;
            if r.ok() {
                let v: serde_json::Value = r.json()?;
                let detail = match v["rollout_error"].as_str() {
                    Some(e) => format!("approved; the rollout waits: {e}"),
                    None => format!(
                        "approved; {} rollout started",
                        v["rollout"]["strategy"].as_str().unwrap_or("a")
                    ),
                };
                self.record(now, &p.id, &p.rule_name, "approved", detail);
            } else {
                self.record(now, &p.id, &p.rule_name, "approve_refused", r.message());
            }
        }
        Ok(())
    }

    /// Whether proposal `id` makes exactly the change of a proposal that was rolled back.
    fn is_repeat(&self, id: &str) -> Result<bool, LabError> {
        let d: Detail = self.client.get_json(&format!("/api/v1/proposals/{id}"))?;
        Ok(self.rolled_back.values().any(|f| *f == d.fingerprint))
    }

    fn reject(&mut self, now: DateTime<Utc>, p: &Summary, why: String) -> Result<(), LabError> {
        let r = self.client.post_json(
            &format!("/api/v1/proposals/{}/reject", p.id),
            &json!({ "reason": format!("simulated reviewer: {why}") }),
        )?;
        Self::check(&r, "reject")?;
        let (action, detail) = if r.ok() {
            ("rejected", why)
        } else {
            ("reject_refused", r.message())
        };
        self.record(now, &p.id, &p.rule_name, action, detail);
        Ok(())
    }

    /// Starts the rollouts of approved proposals whose automatic start was refused (another
    /// rollout was live), as a person would with `kaizen rollouts start`; rejects those that no
    /// longer apply to the current org.
    fn start_approved(&mut self, now: DateTime<Utc>) -> Result<(), LabError> {
        for p in self.list("approved")? {
            let preview = self
                .client
                .get(&format!("/api/v1/proposals/{}/preview", p.id), None)?;
            Self::check(&preview, "preview")?;
            if !preview.ok() {
                self.reject(
                    now,
                    &p,
                    format!("it no longer applies: {}", preview.message()),
                )?;
                continue;
            }
            let r = self
                .client
                .post_json(&format!("/api/v1/rollouts/{}/start", p.id), &json!({}))?;
            Self::check(&r, "start")?;
            if r.ok() {
                self.record(now, &p.id, &p.rule_name, "rollout_started", String::new());
            } else if self.refused_starts.insert(p.id.clone()) {
                self.record(now, &p.id, &p.rule_name, "start_refused", r.message());
            }
        }
        Ok(())
    }

    fn decide_paused(&mut self, now: DateTime<Utc>) -> Result<(), LabError> {
        if self.policy.on_inconclusive == InconclusiveAction::Leave {
            return Ok(());
        }
        let paused: Page<RolloutRow> = self
            .client
            .get_json("/api/v1/rollouts?state=paused&limit=500")?;
        for row in paused.items {
            let id = row.proposal_id;
            let (decision, hours) = match self.policy.on_inconclusive {
                InconclusiveAction::Apply => ("apply", None),
                InconclusiveAction::Extend if self.extended.insert(id.clone()) => {
                    ("extend", Some(24))
                }
                _ => ("rollback", None),
            };
            let mut body = json!({
                "decision": decision,
                "reason": "simulated reviewer: the rollout was inconclusive",
            });
            if let Some(h) = hours {
                body["hours"] = json!(h);
            }
            let r = self
                .client
                .post_json(&format!("/api/v1/rollouts/{id}/decide"), &body)?;
            Self::check(&r, "decide")?;
            let action = if r.ok() {
                format!("decided_{decision}")
            } else {
                "decide_refused".to_owned()
            };
            let detail = if r.ok() { String::new() } else { r.message() };
            self.record(now, &id, "", &action, detail);
        }
        Ok(())
    }
}
