//! What the service test files share: the fixtures of `kaizen-fixtures` (agents, event
//! NDJSON, hand-built proposals, ingesting, queueing a proposal the way a cycle does).
// Each test binary uses a different subset.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses a different subset
pub use kaizen_fixtures::{
    Behaviour, agents, at, enabled, ingest, ndjson, ndjson_with, org_with, proposal, queue, set,
};
