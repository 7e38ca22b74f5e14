//! Proposals submitted from outside a cycle — by an agent through MCP or REST, or by a person —
//! go through exactly the checks a cycle's proposals go through: the guard chain (altitude
//! switches, scope, a validated rollback plan, the rate limit, the approval gate) and
//! de-duplication, and land in the same human approval queue. Nothing is applied.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kaizen_core::altitude::Altitude;
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::improve::appliers::altitude_of;
use kaizen_core::improve::guards::{GuardChain, GuardContext, proposal_fingerprint};
use kaizen_core::improve::{ImprovementProposal, Rationale, Risk, RollbackPlan, RolloutDefaults};
use kaizen_core::org::OrgChange;
use kaizen_core::rollout::check::Metric;
use kaizen_core::rules::RuleSeverity;
use kaizen_store::proposals::{Actor, QueueOutcome};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::cycle::{CycleProposal, ProposalOutcome};
use crate::ops;
use crate::{Result, Service, ServiceError, store_err};

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest accepted description or evidence, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Most changes in one submitted proposal.
pub const MAX_CHANGES: usize = 100;

/// A proposal as a caller submits it (the input of `proposals.submit`); the service derives
/// its id, rollback plan and risk.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The altitude of the changes: `config_tuning`, `architecture`, `prompt_tuning` or
    /// `code_modification`; every change must be of it.
    pub altitude: Altitude,
    /// One line for the reviewer (non-blank, at most 200 characters).
    #[serde(deserialize_with = "ops::text::<MAX_TITLE_CHARS, _>")]
    #[schemars(schema_with = "title_schema")]
    pub title: String,
    /// What changes and why (non-blank, at most 10 000 characters).
    #[serde(deserialize_with = "ops::text::<MAX_TEXT_CHARS, _>")]
    #[schemars(schema_with = "long_text_schema")]
    pub description: String,
    /// What was observed, with the numbers: the evidence the reviewer weighs (non-blank, at
    /// most 10 000 characters).
    #[serde(deserialize_with = "ops::text::<MAX_TEXT_CHARS, _>")]
    #[schemars(schema_with = "long_text_schema")]
    pub evidence: String,
    /// The rule or observation behind it (non-blank, at most 100 characters; default
    /// `submitted`).
    #[serde(
        default,
        deserialize_with = "ops::optional_text::<MAX_RULE_NAME_CHARS, _>"
    )]
    #[schemars(schema_with = "rule_name_schema")]
    pub rule_name: Option<String>,
    /// The changes to the org document (1–100), applied atomically in order (docs/org.md lists
    /// the operations); every change must be of the proposal's altitude. The rollback plan is
    /// derived from them and validated.
    #[schemars(length(min = 1, max = MAX_CHANGES))]
    pub changes: Vec<OrgChange>,
    /// How likely it is to help, from 0 to 1.
    #[serde(deserialize_with = "ops::probability")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    /// Other answers considered, and why not them (each non-blank, at most 10 000 characters).
    #[serde(default, deserialize_with = "ops::texts::<MAX_TEXT_CHARS, _>")]
    #[schemars(schema_with = "alternatives_schema")]
    pub alternatives: Vec<String>,
    /// Rollout strategy; default: the configured one.
    pub rollout: Option<RolloutStrategyKind>,
    /// The metric the change is meant to improve (its rollout wins on it; the others are
    /// guardrails); default: quality.
    #[serde(default)]
    pub primary_metric: Option<Metric>,
    /// Observation window in hours (1–2160); default: the configured one.
    #[serde(default, deserialize_with = "ops::hours")]
    #[schemars(range(min = 1, max = ops::MAX_HOURS))]
    pub observation_window_hours: Option<u32>,
}

/// Longest accepted rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 100;

fn title_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    ops::text_schema(MAX_TITLE_CHARS)
}

fn long_text_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    ops::text_schema(MAX_TEXT_CHARS)
}

fn rule_name_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = ops::text_schema(MAX_RULE_NAME_CHARS);
    s.insert("type".to_owned(), serde_json::json!(["string", "null"]));
    s
}

fn alternatives_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": ops::text_schema(MAX_TEXT_CHARS),
    })
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("{field}: {message}"))
}

fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be blank"));
    }
    if v.chars().count() > max {
        return Err(invalid(field, format!("longer than {max} characters")));
    }
    Ok(v.to_owned())
}

impl Submission {
    /// The proposal this submission becomes at `now`, after checking its fields.
    pub fn into_proposal(
        self,
        now: DateTime<Utc>,
        defaults: RolloutDefaults,
    ) -> Result<ImprovementProposal> {
        let title = text("title", &self.title, MAX_TITLE_CHARS)?;
        let description = text("description", &self.description, MAX_TEXT_CHARS)?;
        let evidence = text("evidence", &self.evidence, MAX_TEXT_CHARS)?;
        let rule_name = match &self.rule_name {
            Some(r) => text("rule_name", r, 100)?,
            None => "submitted".to_owned(),
        };
        if self.changes.is_empty() {
            return Err(invalid("changes", "at least one change is needed"));
        }
        if self.changes.len() > MAX_CHANGES {
            return Err(invalid(
                "changes",
                format!("at most {MAX_CHANGES} changes in one proposal"),
            ));
        }
        for (i, change) in self.changes.iter().enumerate() {
            let a = altitude_of(change);
            if a != self.altitude {
                return Err(invalid(
                    &format!("changes[{i}]"),
                    format!(
                        "is a {} change but the proposal's altitude is {}",
                        a.as_str(),
                        self.altitude.as_str()
                    ),
                ));
            }
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err(invalid("confidence", "must be a number from 0 to 1"));
        }
        if let Some(h) = self.observation_window_hours
            && !(1..=24 * 90).contains(&h)
        {
            return Err(invalid(
                "observation_window_hours",
                "must be from 1 to 2160 (90 days)",
            ));
        }
        let alternatives = self
            .alternatives
            .iter()
            .enumerate()
            .map(|(i, a)| text(&format!("alternatives[{i}]"), a, MAX_TEXT_CHARS))
            .collect::<Result<Vec<_>>>()?;
        let mut proposal = ImprovementProposal {
            id: String::new(),
            altitude: self.altitude,
            title,
            description,
            rationale: Rationale {
                rule_name,
                severity: RuleSeverity::Info,
                description: evidence,
                signal_context: BTreeMap::new(),
                threshold: None,
            },
            changes: self.changes,
            rollback: RollbackPlan {
                operations: Vec::new(),
            },
            alternatives,
            confidence: self.confidence,
            risk: Risk::for_altitude(self.altitude),
            rollout: self.rollout.unwrap_or(defaults.strategy),
            primary_metric: self.primary_metric.unwrap_or_default(),
            observation_window_hours: self
                .observation_window_hours
                .unwrap_or(defaults.observation_window_hours),
            source_cycle: None,
            created_at: now,
        };
        proposal.refresh_derived();
        Ok(proposal)
    }
}

impl Service<'_> {
    /// Runs `submission` through the guard chain and, when every guard passes and no open
    /// proposal makes the same changes, queues it for human review. Refused while
    /// `self_improvement.enabled` is false. `actor` is who submitted it (kept in the proposal's
    /// history through the audit log of the adapter that called this).
    pub fn submit_proposal(
        &mut self,
        submission: Submission,
        actor: &Actor,
    ) -> Result<CycleProposal> {
        if !self.config.self_improvement.enabled {
            return Err(ServiceError::Disabled);
        }
        crate::review::check_actor(actor)?;
        let org = self
            .store
            .org_current()
            .map_err(store_err)?
            .ok_or(ServiceError::NoOrg)?;
        let now = self.clock.now();
        let now = DateTime::<Utc>::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let defaults = RolloutDefaults::from(&self.config.self_improvement.rollout);
        let proposal = submission.into_proposal(now, defaults)?;
        let window_hours = i64::from(self.config.self_improvement.guards.rate_limit_window_hours);
        let submitted = self
            .store
            .proposals_submitted_since(now - chrono::Duration::hours(window_hours))
            .map_err(store_err)?;
        let memory = self.memory(now)?;
        let ctx = GuardContext {
            config: &self.config.self_improvement,
            org: &org.document,
            submissions_in_window: submitted,
            memory: Some(&memory),
        };
        let verdict = GuardChain::standard().evaluate(&proposal, &ctx);
        let mut id = proposal.id.clone();
        let outcome = if let Some(rejection) = verdict.results.iter().find(|r| !r.passed()) {
            ProposalOutcome::RejectedByGuard {
                guard: rejection.guard.clone(),
                reason: rejection.reason.clone(),
            }
        } else {
            match self
                .store
                .queue_proposal(
                    &proposal,
                    &verdict.results,
                    &proposal_fingerprint(&proposal),
                    now,
                )
                .map_err(store_err)?
            {
                QueueOutcome::Queued { id: stored } => {
                    id = stored;
                    ProposalOutcome::Queued
                }
                QueueOutcome::Duplicate { existing_id } => {
                    ProposalOutcome::Duplicate { existing_id }
                }
            }
        };
        tracing::info!(proposal = %id, actor = %actor.name, ?outcome, "proposal submitted");
        Ok(CycleProposal {
            id,
            altitude: proposal.altitude,
            title: proposal.title,
            rule_name: proposal.rationale.rule_name,
            guards: verdict.results,
            outcome,
        })
    }
}
