//! The operation registry: every operation kaizen offers, described once.
//!
//! Each [`Operation`] names the operation (`proposals.approve`), the capability it needs
//! (`proposals:approve`), whether only a human may run it, how REST exposes it (method and path
//! under `/api/v1`), what it does (written for people and for LLMs), and the JSON Schemas of its
//! input and output. The REST router's OpenAPI document and the MCP tool list (a later issue)
//! are both generated from this table, so they cannot drift apart.
//!
//! Inputs are the structs below: the REST adapter fills them from the path, the query string and
//! the JSON body; an MCP adapter from the tool arguments. Unknown fields are errors.

use kaizen_core::auth::{Action, Capability};
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::org::OrgChange;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// How REST exposes an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`: reads; inputs from the path and the query string.
    Get,
    /// `POST`: changes; inputs from the path and the JSON body.
    Post,
}

/// One operation.
#[derive(Clone, Copy)]
pub struct Operation {
    /// `domain.action_name`, e.g. `proposals.approve`.
    pub name: &'static str,
    /// The capability domain, e.g. `proposals`.
    pub domain: &'static str,
    /// The capability action: `proposals:approve` is needed for `proposals.approve`.
    pub action: Action,
    /// Only a human principal may run it (approvals and rollout decisions), whatever the
    /// token's capabilities say.
    pub human_only: bool,
    /// REST method.
    pub method: Method,
    /// REST path under `/api/v1`, with `{id}`-style parameters.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// What it does, when to use it and what it returns.
    pub description: &'static str,
    /// It changes nothing.
    pub read_only: bool,
    /// It may undo or discard something (rollbacks, rejections, revocations).
    pub destructive: bool,
    /// Running it twice with the same input has the effect of running it once.
    pub idempotent: bool,
    /// The input's JSON Schema (an object; `{}` properties when it takes nothing).
    pub input: fn(&mut SchemaGenerator) -> Schema,
    /// The output's JSON Schema.
    pub output: fn(&mut SchemaGenerator) -> Schema,
    /// How REST carries it.
    pub rest: crate::op::Rest,
    /// Runs it from JSON arguments (called by the gate, [`crate::Kaizen::execute`]).
    pub(crate) run:
        fn(&mut crate::op::Cx<'_>, serde_json::Value) -> crate::Result<serde_json::Value>,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("name", &self.name)
            .field("capability", &self.capability())
            .finish_non_exhaustive()
    }
}

impl Operation {
    /// The registry entry of the typed operation `O`.
    pub const fn of<O: crate::op::Op>() -> Self {
        let s = O::SPEC;
        Self {
            name: s.name,
            domain: s.domain,
            action: s.action,
            human_only: s.human_only,
            method: s.method,
            path: s.path,
            summary: s.summary,
            description: s.description,
            read_only: matches!(s.action, Action::Read),
            destructive: s.destructive,
            idempotent: s.idempotent,
            input: schema::<O::Input>,
            output: schema::<O::Output>,
            rest: s.rest,
            run: crate::op::run_json::<O>,
        }
    }

    /// Runs it from JSON arguments with `cx` — for an adapter that runs it inside
    /// [`crate::Kaizen::run_as`] with a check of its own first (the MCP server's toolsets).
    pub fn invoke(
        &self,
        cx: &mut crate::op::Cx<'_>,
        args: serde_json::Value,
    ) -> crate::Result<serde_json::Value> {
        (self.run)(cx, args)
    }

    /// `domain:action`.
    pub fn capability(&self) -> String {
        format!("{}:{}", self.domain, self.action)
    }

    /// The capability, as the grant checks it.
    pub fn needs(&self) -> Capability {
        Capability::new(self.domain, self.action)
    }
}

/// No input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// A proposal, rollout, cycle or agent id in the path.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdInput {
    /// The id.
    pub id: String,
}

/// A page of a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many items (1–500, default 50).
    pub limit: Option<u32>,
    /// Skip this many (default 0).
    pub offset: Option<u32>,
}

impl Page {
    /// The limit, clamped to 1–500.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
    /// The offset.
    pub fn offset(&self) -> usize {
        self.offset.unwrap_or(0) as usize
    }
}

/// Proposals, optionally by status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProposalsInput {
    /// Only this status (`pending`, `approved`, `rolling_out`, `inconclusive`, `applied`,
    /// `rolled_back`, `rollback_failed`, `rejected`, `superseded`).
    pub status: Option<String>,
    /// At most this many (1–500, default 50).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// A human approves a proposal.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    /// The proposal.
    pub id: String,
    /// Why (optional).
    pub reason: Option<String>,
}

/// A human rejects a proposal, or rolls back an applied one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    /// The proposal.
    pub id: String,
    /// Why (required, non-blank).
    pub reason: String,
}

/// Start the rollout of an approved proposal whose automatic start was refused.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRolloutInput {
    /// The proposal.
    pub id: String,
    /// The strategy; default: the proposal's.
    pub strategy: Option<RolloutStrategyKind>,
}

/// What a human decides about a paused (or observing, or failed) rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Observe longer (`hours`).
    Extend,
    /// Apply org-wide now.
    Apply,
    /// Roll back.
    Rollback,
}

/// A human's rollout decision.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// The proposal whose rollout it is.
    pub id: String,
    /// The decision.
    pub decision: DecisionKind,
    /// For `extend`: hours to add (default 24).
    pub hours: Option<u32>,
    /// Why (required, non-blank).
    pub reason: String,
}

/// Rollouts, optionally by state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRolloutsInput {
    /// Only this state (`observing`, `paused`, `rolling_back`, `applied`, `rolled_back`,
    /// `rollback_failed`).
    pub state: Option<String>,
    /// At most this many (1–500, default 50).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// A proposal submitted by an agent or a person, outside a cycle: the service's own
/// [`crate::submit::Submission`].
pub type SubmitProposalInput = crate::submit::Submission;

/// Tokens, optionally with revoked ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokensListInput {
    /// Include revoked tokens.
    #[serde(default)]
    pub include_revoked: bool,
}

/// Whether a principal is a person or an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person: may approve and decide when granted `…:approve`.
    Human,
    /// An agent: never approves, whatever its capabilities say.
    Agent,
}

/// Issue a token (an admin operation: `confirm` and `reason` are required).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateInput {
    /// Who the token is for (a login or an agent id).
    pub principal: String,
    /// `human` or `agent`.
    pub kind: PrincipalKind,
    /// Capability patterns `domain:action` (`*`, `proposals:*`, `*:read`, `!audit:read`);
    /// at most what the caller itself holds.
    pub capabilities: Vec<String>,
    /// Days until it expires; never when absent.
    pub expires_in_days: Option<u32>,
    /// Must be `true`: confirms the admin operation.
    pub confirm: bool,
    /// Why (non-blank; audited).
    pub reason: String,
}

/// Revoke a token (an admin operation: `confirm` and `reason` are required).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevokeInput {
    /// The token id (`tok_…`).
    pub id: String,
    /// Must be `true`: confirms the admin operation.
    pub confirm: bool,
    /// Why (non-blank; audited).
    pub reason: String,
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many there are in all (for lists read up to `offset + limit`, at most that).
    pub total: u64,
    /// The page size used.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

/// A rollout with every check.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RolloutDetail {
    /// The rollout.
    pub rollout: kaizen_store::rollouts::Rollout,
    /// Its checks, oldest first, each with the numbers behind its decision.
    pub checks: Vec<kaizen_store::rollouts::StoredCheck>,
}

/// The changes from one org version to another.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrgDiff {
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
    /// The changes that turn `from` into `to`.
    pub changes: Vec<OrgChange>,
    /// Each change in one line.
    pub summary: Vec<String>,
}

/// An acknowledged alert.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Acknowledged {
    /// The alert id.
    pub acknowledged: i64,
}

/// A token just issued.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenCreated {
    /// The bearer secret: shown this once; kaizen keeps only its hash.
    pub secret: String,
    /// The token.
    pub token: kaizen_store::auth::TokenInfo,
}

/// Run an improvement cycle now.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCycleInput {
    /// Run everything but queue nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A snapshot window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotInput {
    /// Window start (RFC 3339); default: `until` − `signals.default_window_days`.
    pub since: Option<String>,
    /// Window end (RFC 3339); default: now.
    pub until: Option<String>,
}

/// Two org versions to compare.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
}

/// An org version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    /// The version number.
    pub id: i64,
}

/// Audit log entries, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditInput {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only operations starting with this (e.g. `proposals.`).
    pub operation: Option<String>,
    /// Only this target (a proposal id, a token id, …).
    pub target: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    pub since: Option<String>,
    /// At most this many (1–500, default 50).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// Alerts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsInput {
    /// Include acknowledged alerts.
    #[serde(default)]
    pub all: bool,
}

/// Acknowledge an alert.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckInput {
    /// The alert id.
    pub id: i64,
}

/// The body of `POST /events`: NDJSON or a JSON array of `kaizen.event.v1` events (not a JSON
/// object); described here for the documentation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct EventsInput {
    /// The events.
    pub events: Vec<serde_json::Value>,
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// Every operation, in documentation order: adding an operation is one type implementing
/// [`crate::op::Op`] (in `catalog`) and one line here.
pub fn operations() -> &'static [Operation] {
    use crate::catalog::*;
    static OPS: &[Operation] = &[
        Operation::of::<IngestEvents>(),
        Operation::of::<AgentConfig>(),
        Operation::of::<SignalsSnapshot>(),
        Operation::of::<RulesEvaluate>(),
        Operation::of::<CyclesList>(),
        Operation::of::<CyclesGet>(),
        Operation::of::<CyclesRun>(),
        Operation::of::<ProposalsList>(),
        Operation::of::<ProposalsGet>(),
        Operation::of::<ProposalsPreview>(),
        Operation::of::<ProposalsSubmit>(),
        Operation::of::<ProposalsApprove>(),
        Operation::of::<ProposalsReject>(),
        Operation::of::<ProposalsRollback>(),
        Operation::of::<RolloutsList>(),
        Operation::of::<RolloutsGet>(),
        Operation::of::<RolloutsStart>(),
        Operation::of::<RolloutsDecide>(),
        Operation::of::<OrgCurrent>(),
        Operation::of::<OrgVersions>(),
        Operation::of::<OrgVersionGet>(),
        Operation::of::<OrgDiffOp>(),
        Operation::of::<AlertsList>(),
        Operation::of::<AlertsAck>(),
        Operation::of::<TokensList>(),
        Operation::of::<TokensCreate>(),
        Operation::of::<TokensRevoke>(),
        Operation::of::<AuditList>(),
        Operation::of::<ConfigShow>(),
    ];
    OPS
}

/// The operation called `name`.
pub fn operation(name: &str) -> Option<&'static Operation> {
    operations().iter().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_capabilities_are_unique_and_well_formed() {
        let ops = operations();
        let mut names = std::collections::BTreeSet::new();
        let mut routes = std::collections::BTreeSet::new();
        for o in ops {
            assert!(names.insert(o.name), "duplicate {}", o.name);
            assert!(
                routes.insert((o.path, o.method == Method::Get)),
                "duplicate route {} {}",
                o.path,
                o.name
            );
            assert!(o.name.starts_with(&format!("{}.", o.domain)), "{}", o.name);
            assert!(o.path.starts_with('/'));
            assert_eq!(o.read_only, o.method == Method::Get, "{}", o.name);
            assert_eq!(o.read_only, o.action == Action::Read, "{}", o.name);
            if o.human_only {
                assert!(
                    matches!(o.action, Action::Approve | Action::Admin),
                    "{}",
                    o.name
                );
            }
            let mut g = SchemaGenerator::default();
            let input = (o.input)(&mut g);
            assert!(input.as_value().is_object(), "{}", o.name);
            if o.action == Action::Admin {
                assert!(o.human_only, "{}", o.name);
                let name = input
                    .as_value()
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                let def = g.definitions().get(&name).cloned().unwrap_or_default();
                let required: Vec<&str> = def["required"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                assert!(
                    required.contains(&"confirm") && required.contains(&"reason"),
                    "{}: {def}",
                    o.name
                );
            }
            assert!(!o.description.is_empty() && !o.summary.is_empty());
        }
        for o in ops {
            assert!(
                kaizen_core::config::MCP_TOOLSETS.contains(&o.domain),
                "{}: its domain is no MCP toolset",
                o.name
            );
        }
        assert!(operation("proposals.approve").is_some_and(|o| o.human_only));
        assert_eq!(
            operation("proposals.approve").map(Operation::capability),
            Some("proposals:approve".to_owned())
        );
    }
}
