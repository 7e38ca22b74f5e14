//! The synthetic generator's faults, through the real pipeline: generate → ingest into SQLite →
//! snapshot → rules. The healthy org fires nothing; each fault fires its rule.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use chrono::{DateTime, Duration, Utc};
use kaizen_core::rules::{RuleEngine, RulesConfig};
use kaizen_core::signals::{SignalsConfig, SnapshotBuilder};
use kaizen_sim::{Fault, SimSpec};
use kaizen_store::{IngestOptions, Store};

fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn fired(agents: u32, faults: Vec<Fault>) -> Vec<String> {
    let mut spec = SimSpec::new(agents, 9, 11, end());
    spec.faults = faults;
    let mut data = Vec::new();
    kaizen_sim::generate(&spec, &mut data).expect("generate");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("k.db")).expect("open");
    let report = store
        .ingest(data.as_slice(), IngestOptions::new(end()))
        .expect("ingest");
    assert_eq!(report.rejected, 0, "{:?}", report.rejections.first());
    let snapshot = SnapshotBuilder::new(SignalsConfig::default()).build(
        store.signal_source(),
        end() - Duration::days(7),
        end(),
    );
    assert!(snapshot.failed_domains.is_empty());
    let evaluation = RuleEngine::from_config(&RulesConfig::default()).evaluate(&snapshot);
    assert!(evaluation.failures.is_empty());
    evaluation
        .matches
        .into_iter()
        .map(|m| m.rule_name)
        .collect()
}

#[test]
fn healthy_org_fires_no_rule() {
    for agents in [5, 60] {
        assert_eq!(
            fired(agents, vec![]),
            Vec::<String>::new(),
            "{agents} agents"
        );
    }
}

#[test]
fn each_fault_fires_its_rule() {
    for name in Fault::NAMES {
        let fault: Fault = name.parse().expect("fault name");
        let rule = fault.rule();
        let fired = fired(30, vec![fault]);
        assert_eq!(fired, vec![rule.to_owned()], "fault {name}");
    }
}
