//! What the service test files share, besides the fixtures of `kaizen_sim::fixture` (agents,
//! event NDJSON, hand-built proposals): ingestion and queueing proposals the way a cycle queues
//! them (with the standard guard chain's verdicts).
// Each test binary uses a different subset.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use kaizen_core::config::KaizenConfig;
use kaizen_core::improve::ImprovementProposal;
use kaizen_core::improve::guards::{GuardChain, GuardContext, proposal_fingerprint};
use kaizen_store::proposals::QueueOutcome;
use kaizen_store::{IngestOptions, Store};

#[allow(unused_imports)] // each test binary uses a different subset
pub use kaizen_sim::fixture::{Behaviour, agents, at, ndjson, org_with, proposal, set};

/// A configuration with the meta-loop enabled (everything else default).
pub fn enabled() -> KaizenConfig {
    let mut c = KaizenConfig::default();
    c.self_improvement.enabled = true;
    c
}

/// Ingests `data`; every record must be accepted.
pub fn ingest(store: &mut Store, data: &[u8], now: DateTime<Utc>) {
    let report = store.ingest(data, IngestOptions::new(now)).expect("ingest");
    assert_eq!(report.rejected, 0, "{report:?}");
}

/// Queues `p` as pending with the verdicts of the standard guard chain against the current
/// org (which must all pass); returns its id.
pub fn queue(store: &mut Store, config: &KaizenConfig, p: &ImprovementProposal) -> String {
    let org = store
        .org_current()
        .expect("read org")
        .expect("an org")
        .document;
    let outcome = GuardChain::standard().evaluate(
        p,
        &GuardContext {
            config: &config.self_improvement,
            org: &org,
            submissions_in_window: 0,
        },
    );
    assert!(outcome.passed, "{outcome:?}");
    match store
        .queue_proposal(p, &outcome.results, &proposal_fingerprint(p), p.created_at)
        .expect("queue")
    {
        QueueOutcome::Queued { id } => id,
        other => panic!("not queued: {other:?}"),
    }
}
