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
//!
//! Every constraint the service checks on an input is stated in the input's JSON Schema and
//! enforced when the input is deserialised, so a bad value is refused with its field named and
//! never silently adjusted: a page size ([`Limit`]) is 1–500, statuses and states are enums,
//! reasons and the texts of a submission are non-blank and bounded ([`text`]), an admin
//! operation's `confirm` must be `true`, numbers of hours and days have ranges.

use kaizen_core::auth::{Action, Capability};
use kaizen_core::config::RolloutStrategyKind;
use kaizen_core::org::OrgChange;
use kaizen_store::proposals::ProposalStatus;
use kaizen_store::rollouts::RolloutState;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
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

/// One operation of the registry: its [`Spec`](crate::op::Spec) (reached through `Deref`:
/// `op.name`, `op.path` …) and what the registry derives from its type.
#[derive(Clone, Copy)]
pub struct Operation {
    spec: crate::op::Spec,
    /// It changes nothing (its action is `read`).
    pub read_only: bool,
    /// The input's JSON Schema (an object; `{}` properties when it takes nothing).
    pub input: fn(&mut SchemaGenerator) -> Schema,
    /// The output's JSON Schema.
    pub output: fn(&mut SchemaGenerator) -> Schema,
    /// Runs it from JSON arguments (called by the gate, [`crate::Kaizen::execute`]).
    run: fn(&mut crate::op::Cx<'_>, serde_json::Value) -> crate::Result<serde_json::Value>,
}

impl std::ops::Deref for Operation {
    type Target = crate::op::Spec;
    fn deref(&self) -> &crate::op::Spec {
        &self.spec
    }
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
        Self {
            spec: O::SPEC,
            read_only: matches!(O::SPEC.action, Action::Read),
            input: schema::<O::Input>,
            output: schema::<O::Output>,
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

/// The largest page size.
pub const MAX_LIMIT: u32 = 500;
/// The page size when none is given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Longest accepted reason, in characters.
pub const MAX_REASON_CHARS: usize = 10_000;
/// Longest accepted observation window or extension, in hours (90 days).
pub const MAX_HOURS: u32 = 24 * 90;
/// Longest accepted token lifetime, in days (10 years).
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// A page size: an integer from 1 to [`MAX_LIMIT`]. Deserialising anything else fails with an
/// error naming `limit`; nothing is clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Limit(u32);

impl Limit {
    /// `n`, when it is from 1 to [`MAX_LIMIT`].
    pub fn new(n: u32) -> Result<Limit, String> {
        Limit::try_from(i128::from(n))
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit(DEFAULT_LIMIT)
    }
}

impl TryFrom<i128> for Limit {
    type Error = String;

    fn try_from(n: i128) -> Result<Limit, String> {
        match u32::try_from(n) {
            Ok(v) if (1..=MAX_LIMIT).contains(&v) => Ok(Limit(v)),
            _ => Err(format!("`limit` must be from 1 to {MAX_LIMIT}; found {n}")),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an integer from 1 to {MAX_LIMIT}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                Limit::try_from(i128::from(v)).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
                Limit::try_from(i128::from(v)).map_err(E::custom)
            }
        }
        // `i64` so that a query string's `-1` reaches the range check (and its message).
        d.deserialize_i64(V)
    }
}

impl JsonSchema for Limit {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": DEFAULT_LIMIT,
        })
    }
}

/// The characters Rust's `str::trim` removes (Unicode `White_Space`), as a regular-expression
/// class body: a text matching `[^WHITESPACE]` somewhere is not blank.
pub const WHITESPACE: &str =
    "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// The JSON Schema of a non-blank text of at most `max` characters (what [`text`] accepts).
pub fn text_schema(max: usize) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": format!("[^{WHITESPACE}]"),
    })
}

/// Deserialises a text that is not blank (after trimming) and at most `MAX` characters long;
/// for `#[serde(deserialize_with = "text::<MAX, _>")]`. The text is kept as sent.
pub fn text<'de, const MAX: usize, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_text::<MAX>(&v).map_err(de::Error::custom)?;
    Ok(v)
}

/// [`text`] for an optional field (`null` or absent is `None`).
pub fn optional_text<'de, const MAX: usize, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(t) = &v {
        check_text::<MAX>(t).map_err(de::Error::custom)?;
    }
    Ok(v)
}

/// [`text`] for every item of a list.
pub fn texts<'de, const MAX: usize, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for (i, t) in v.iter().enumerate() {
        check_text::<MAX>(t).map_err(|e| de::Error::custom(format!("item {i}: {e}")))?;
    }
    Ok(v)
}

/// Deserialises a text of at most `MAX` characters (it may be blank).
pub fn bounded<'de, const MAX: usize, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(t) = &v
        && t.chars().count() > MAX
    {
        return Err(de::Error::custom(format!("longer than {MAX} characters")));
    }
    Ok(v)
}

fn check_text<const MAX: usize>(v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err("must not be blank".to_owned());
    }
    let n = v.chars().count();
    if n > MAX {
        return Err(format!("must be at most {MAX} characters long; found {n}"));
    }
    Ok(())
}

/// Deserialises a number of hours from 1 to [`MAX_HOURS`] (absent or `null` is `None`).
pub fn hours<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range(d, 1, MAX_HOURS)
}

/// Deserialises a number of days from 1 to [`MAX_TOKEN_DAYS`] (absent or `null` is `None`).
pub fn token_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range(d, 1, MAX_TOKEN_DAYS)
}

fn in_range<'de, D: Deserializer<'de>>(d: D, min: u32, max: u32) -> Result<Option<u32>, D::Error> {
    let v = Option::<i64>::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(n) => match u32::try_from(n) {
            Ok(h) if (min..=max).contains(&h) => Ok(Some(h)),
            _ => Err(de::Error::custom(format!(
                "must be from {min} to {max}; found {n}"
            ))),
        },
    }
}

/// Deserialises a probability: a finite number from 0 to 1.
pub fn probability<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
        return Err(de::Error::custom(format!(
            "must be a number from 0 to 1; found {v}"
        )));
    }
    Ok(v)
}

/// Deserialises an admin operation's `confirm`, which must be `true`.
pub fn confirmed<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    if bool::deserialize(d)? {
        Ok(true)
    } else {
        Err(de::Error::custom(
            "this is an admin operation: set confirm to true to confirm it",
        ))
    }
}

/// Deserialises a proposal-status filter, naming `status` in the error.
pub fn status_filter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ProposalStatus>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| s.parse::<ProposalStatus>())
        .transpose()
        .map_err(|e| de::Error::custom(format!("`status`: {e}")))
}

/// Deserialises a rollout-state filter, naming `state` in the error.
pub fn state_filter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RolloutState>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| s.parse::<RolloutState>())
        .transpose()
        .map_err(|e| de::Error::custom(format!("`state`: {e}")))
}

fn reason_schema(_: &mut SchemaGenerator) -> Schema {
    text_schema(MAX_REASON_CHARS)
}

fn optional_reason_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "null"], "maxLength": MAX_REASON_CHARS})
}

fn confirm_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "boolean", "const": true})
}

/// Longest accepted principal name, in characters (`kaizen_store::auth::MAX_NAME_CHARS`).
pub const MAX_PRINCIPAL_CHARS: usize = kaizen_store::auth::MAX_NAME_CHARS;

/// Control characters (`char::is_control`), as a regular-expression class body.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// Whitespace that is not a control character, as a regular-expression class body.
const SPACE: &str = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

fn principal_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PRINCIPAL_CHARS,
        "pattern": format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"),
    })
}

/// Deserialises a principal name: not blank, at most [`MAX_PRINCIPAL_CHARS`] characters, no
/// control characters.
pub fn principal<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_text::<MAX_PRINCIPAL_CHARS>(&v).map_err(de::Error::custom)?;
    if v.chars().any(char::is_control) {
        return Err(de::Error::custom("must not contain control characters"));
    }
    Ok(v)
}

/// Longest accepted capability pattern, in characters (`kaizen_core::auth::MAX_PATTERN_LEN`).
pub const MAX_PATTERN_CHARS: usize = kaizen_core::auth::MAX_PATTERN_LEN;

/// A capability pattern as [`kaizen_core::auth::Grant::parse`] accepts it: `*`, or
/// `domain:action` with `*` for either side, optionally led by `!`; trimmed and case-blind.
fn capability_pattern() -> String {
    let ci = |w: &str| -> String {
        w.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c))
            .collect()
    };
    let actions = ["read", "write", "approve", "admin"].map(ci).join("|");
    format!("^[{WHITESPACE}]*!?(\\*|(\\*|[A-Za-z0-9_-]+):(\\*|{actions}))[{WHITESPACE}]*$")
}

fn capabilities_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "string",
            "maxLength": MAX_PATTERN_CHARS,
            "pattern": capability_pattern(),
        },
        "minItems": 1,
        "contains": {"type": "string", "pattern": format!("^[{WHITESPACE}]*[^!{WHITESPACE}]")},
    })
}

/// Deserialises capability patterns: each at most [`MAX_PATTERN_CHARS`] characters (the
/// grammar is checked by `Grant::parse`, which names the pattern at fault).
pub fn capability_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for (i, p) in v.iter().enumerate() {
        if p.chars().count() > MAX_PATTERN_CHARS {
            return Err(de::Error::custom(format!(
                "item {i}: longer than {MAX_PATTERN_CHARS} characters"
            )));
        }
    }
    Ok(v)
}

/// A page of a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many items (1–500, default 50).
    pub limit: Option<Limit>,
    /// Skip this many (default 0).
    pub offset: Option<u32>,
}

impl Page {
    /// The limit (default 50).
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or_default().get() as usize
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
    /// Only this status.
    #[serde(default, deserialize_with = "status_filter")]
    pub status: Option<ProposalStatus>,
    /// At most this many (1–500, default 50).
    pub limit: Option<Limit>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// A human approves a proposal.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    /// The proposal.
    pub id: String,
    /// Why (optional; at most 10 000 characters).
    #[serde(default, deserialize_with = "bounded::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "optional_reason_schema")]
    pub reason: Option<String>,
}

/// A human rejects a proposal, or rolls back an applied one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    /// The proposal.
    pub id: String,
    /// Why (required, non-blank, at most 10 000 characters).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
}

/// A human rejects a proposal.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// The proposal.
    pub id: String,
    /// Why (required, non-blank, at most 10 000 characters).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
    /// Never propose this change again (the loop's memory otherwise lets it come back after
    /// `self_improvement.memory.cooldown_days`, or sooner when the evidence changes
    /// materially).
    #[serde(default)]
    pub never_again: bool,
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
    /// For `extend` only: hours to add (1–2160, default 24).
    #[serde(default, deserialize_with = "hours")]
    #[schemars(range(min = 1, max = MAX_HOURS))]
    pub hours: Option<u32>,
    /// Why (required, non-blank, at most 10 000 characters).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
}

/// Rollouts, optionally by state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRolloutsInput {
    /// Only this state.
    #[serde(default, deserialize_with = "state_filter")]
    pub state: Option<RolloutState>,
    /// At most this many (1–500, default 50).
    pub limit: Option<Limit>,
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
    /// Who the token is for (a login or an agent id): non-blank, at most 128 characters, no
    /// control characters.
    #[serde(deserialize_with = "principal")]
    #[schemars(schema_with = "principal_schema")]
    pub principal: String,
    /// `human` or `agent`.
    pub kind: PrincipalKind,
    /// Capability patterns `domain:action` (`*`, `proposals:*`, `*:read`, `!audit:read`);
    /// at most what the caller itself holds. At least one allow (not `!`) pattern.
    #[serde(deserialize_with = "capability_patterns")]
    #[schemars(schema_with = "capabilities_schema")]
    pub capabilities: Vec<String>,
    /// Days until it expires (1–3650); never when absent.
    #[serde(default, deserialize_with = "token_days")]
    #[schemars(range(min = 1, max = MAX_TOKEN_DAYS))]
    pub expires_in_days: Option<u32>,
    /// Must be `true`: confirms the admin operation.
    #[serde(deserialize_with = "confirmed")]
    #[schemars(schema_with = "confirm_schema")]
    pub confirm: bool,
    /// Why (non-blank, at most 10 000 characters; audited).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
}

/// Revoke a token (an admin operation: `confirm` and `reason` are required).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevokeInput {
    /// The token id (`tok_…`).
    pub id: String,
    /// Must be `true`: confirms the admin operation.
    #[serde(deserialize_with = "confirmed")]
    #[schemars(schema_with = "confirm_schema")]
    pub confirm: bool,
    /// Why (non-blank, at most 10 000 characters; audited).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
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
    /// Window start (RFC 3339, before `until`); default: `until` −
    /// `signals.default_window_days`.
    #[schemars(extend("format" = "date-time"))]
    pub since: Option<String>,
    /// Window end (RFC 3339); default: now.
    #[schemars(extend("format" = "date-time"))]
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

/// Make an org document the current version (an admin's own act, outside the approval queue).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgImportInput {
    /// The whole org document: agents, departments, roles, workflows, principles, settings.
    pub document: kaizen_core::org::OrgDocument,
    /// Must be `true`: confirms the admin operation.
    #[serde(deserialize_with = "confirmed")]
    #[schemars(schema_with = "confirm_schema")]
    pub confirm: bool,
    /// Why (non-blank, at most 10 000 characters; audited).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
}

/// Make an earlier org version's document current again, as a new version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgRestoreInput {
    /// The version whose document to restore.
    pub id: i64,
    /// Must be `true`: confirms the admin operation.
    #[serde(deserialize_with = "confirmed")]
    #[schemars(schema_with = "confirm_schema")]
    pub confirm: bool,
    /// Why (non-blank, at most 10 000 characters; recorded with the version and audited).
    #[serde(deserialize_with = "text::<MAX_REASON_CHARS, _>")]
    #[schemars(schema_with = "reason_schema")]
    pub reason: String,
}

/// What an org import did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrgImported {
    /// Whether a new version was made (`false`: the document equals the current one).
    pub created: bool,
    /// The current version afterwards: the new one when `created`; `null` when there is no
    /// version and the document was empty.
    pub version: Option<kaizen_store::org::OrgVersion>,
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
    #[schemars(extend("format" = "date-time"))]
    pub since: Option<String>,
    /// At most this many (1–500, default 50).
    pub limit: Option<Limit>,
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

/// The capability domains of the operations (`proposals`, `config`, …), each once, in
/// documentation order: MCP's toolsets.
pub fn domains() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for o in operations() {
        if !out.contains(&o.domain) {
            out.push(o.domain);
        }
    }
    out
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
        Operation::of::<ProposalsOutcome>(),
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
        Operation::of::<OrgImportOp>(),
        Operation::of::<OrgRestoreOp>(),
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
        let domains = domains();
        assert!(domains.contains(&"proposals") && domains.contains(&"config"));
        assert_eq!(
            domains.len(),
            domains
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            "each domain once"
        );
        assert!(operation("proposals.approve").is_some_and(|o| o.human_only));
        assert_eq!(
            operation("proposals.approve").map(Operation::capability),
            Some("proposals:approve".to_owned())
        );
    }
}
