//! Typed operations: each operation is one type implementing [`Op`] — its description
//! ([`Spec`]: name, capability, human-only rule, REST method and path, text, flags), its input
//! and output types (whose JSON Schemas describe it to REST and MCP clients) and its body.
//! [`crate::ops::operations`] lists them; the REST routes, the OpenAPI document, the MCP tools
//! and the CLI's `kaizen call` are generated from that list, and every call runs through the
//! one gate, [`crate::Kaizen::execute`] / [`crate::Kaizen::call`].

use kaizen_core::auth::Action;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Service;
use crate::gate::{Kaizen, Principal};
use crate::ops::Method;
use crate::{Result, ServiceError};

/// How REST carries an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Inputs from the path (`{id}`), the query string (GET) and a JSON object body (POST).
    Json,
    /// A handler of its own in the server (a raw body, an `ETag`); it still calls the gate.
    Custom,
}

/// The description of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// `domain.action_name`, e.g. `proposals.approve`.
    pub name: &'static str,
    /// The capability domain, e.g. `proposals`.
    pub domain: &'static str,
    /// The capability action: `proposals:approve` is needed for `proposals.approve`.
    pub action: Action,
    /// Only a human principal may run it, whatever the token's capabilities say.
    pub human_only: bool,
    /// REST method.
    pub method: Method,
    /// REST path under `/api/v1`, with `{id}`-style parameters.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// What it does, when to use it and what it returns.
    pub description: &'static str,
    /// It may undo or discard something, or change what agents run with.
    pub destructive: bool,
    /// Running it twice with the same input has the effect of running it once.
    pub idempotent: bool,
    /// How REST carries it.
    pub rest: Rest,
}

/// What an operation's body gets: a service on the locked store, the caller and the runtime
/// (its ports and caches).
pub struct Cx<'a> {
    /// The service on the locked store.
    pub svc: Service<'a>,
    /// Who is calling.
    pub who: &'a Principal,
    /// The runtime.
    pub kaizen: &'a Kaizen,
    /// What the operation adds to its audit entry's detail (from [`Op::audit`]).
    pub audit: serde_json::Map<String, serde_json::Value>,
    /// The audit entry's target: preset from the input ([`Op::target`]); an operation that
    /// makes something (a cycle, a token, an org version) names it here.
    pub target: Option<String>,
    /// The audit entry's state before and after: preset to a proposal's status before the
    /// call; an operation that knows better (an org version's parent and the new version, a
    /// token's state) sets them. `after` unset: the proposal's status after the call.
    pub before: Option<String>,
    /// See [`Cx::before`].
    pub after: Option<String>,
}

/// One operation.
pub trait Op: 'static {
    /// Its input: deserialised from JSON arguments with unknown fields refused.
    type Input: DeserializeOwned + JsonSchema;
    /// Its output.
    type Output: Serialize + JsonSchema;
    /// Its description.
    const SPEC: Spec;
    /// What the audit log names as its target (a proposal id, a token id …).
    fn target(_input: &Self::Input) -> Option<String> {
        None
    }
    /// What its audit entry records of the input besides the target (a reason, a strategy;
    /// never a secret, never a bulk body).
    fn audit(_input: &Self::Input) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
    /// Runs it (already authorised and rate-limited; audited by the gate).
    fn run(cx: &mut Cx<'_>, input: Self::Input) -> Result<Self::Output>;
}

/// Parses JSON arguments into an operation's input, naming the field at fault.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    if !value.is_object() {
        return Err(ServiceError::field_error(
            "arguments",
            "expected a JSON object",
        ));
    }
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    T::deserialize(de).map_err(|e| {
        let message = e.to_string();
        let path = track.path().to_string();
        let field = match (path.as_str(), named_field(&message)) {
            ("." | "", Some(name)) => name.to_owned(),
            ("." | "", None) => "arguments".to_owned(),
            (p, Some(name)) if message.starts_with("missing field") => format!("{p}.{name}"),
            (p, _) => p.to_owned(),
        };
        ServiceError::field_error(field, message)
    })
}

/// The field a serde message names (`missing field `reason``, `unknown field `x``), if any.
pub fn named_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Runs `O` from JSON arguments (the erased form the registry keeps).
pub(crate) fn run_json<O: Op>(
    cx: &mut Cx<'_>,
    args: serde_json::Value,
) -> Result<serde_json::Value> {
    let input: O::Input = from_value(args)?;
    cx.audit = O::audit(&input);
    let output = O::run(cx, input)?;
    serde_json::to_value(output).map_err(|e| {
        ServiceError::Internal(format!("serialising the output of {}: {e}", O::SPEC.name))
    })
}
