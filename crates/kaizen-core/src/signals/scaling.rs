//! Scaling domain: decisions made in the window and how they ended.
//!
//! `success_rate` = executed ÷ decided, where decided = executed + failed + rejected. Pending
//! decisions (no outcome yet) and deferred ones are neither successes nor failures, so they
//! never trip `scaling_failure` (the original implementation counted pending as failed).

use std::collections::BTreeMap;

use super::{AggregationWindow, ScalingDecisionRecord, SignalSource, SourceError};
use crate::event::{ScalingAction, ScalingOutcome};
use crate::snapshot::{OrgScalingSummary, ScalingDecisionSummary};

/// How many decisions `recent_decisions` keeps.
pub const RECENT: usize = 50;

pub(super) fn aggregate(
    source: &dyn SignalSource,
    w: &AggregationWindow,
) -> Result<OrgScalingSummary, SourceError> {
    Ok(summarize(source.scaling_decisions(w.time_range())?))
}

fn action_name(a: ScalingAction) -> &'static str {
    match a {
        ScalingAction::Hire => "hire",
        ScalingAction::Prune => "prune",
        ScalingAction::Hold => "hold",
    }
}

fn outcome_name(o: Option<ScalingOutcome>) -> &'static str {
    match o {
        None => "pending",
        Some(ScalingOutcome::Executed) => "executed",
        Some(ScalingOutcome::Failed) => "failed",
        Some(ScalingOutcome::Deferred) => "deferred",
        Some(ScalingOutcome::Rejected) => "rejected",
    }
}

/// Summarises decisions. Pure.
pub fn summarize(mut decisions: Vec<ScalingDecisionRecord>) -> OrgScalingSummary {
    if decisions.is_empty() {
        return OrgScalingSummary::default();
    }
    let executed = decisions
        .iter()
        .filter(|d| d.outcome == Some(ScalingOutcome::Executed))
        .count() as u64;
    let decided = decisions
        .iter()
        .filter(|d| {
            matches!(
                d.outcome,
                Some(ScalingOutcome::Executed | ScalingOutcome::Failed | ScalingOutcome::Rejected)
            )
        })
        .count() as u64;
    let mut signals: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &decisions {
        *signals.entry(d.signal.as_str()).or_default() += 1;
    }
    // BTreeMap iterates alphabetically; `max_by` keeps the last maximum, so reverse to make
    // ties go to the alphabetically first signal.
    let most_common_signal = signals
        .iter()
        .rev()
        .max_by_key(|(_, n)| **n)
        .map(|(s, _)| (*s).to_owned());
    let total_decisions = decisions.len() as u64;
    decisions.sort_by(|a, b| {
        b.ts.cmp(&a.ts)
            .then_with(|| a.decision_id.cmp(&b.decision_id))
    });
    let recent_decisions = decisions
        .into_iter()
        .take(RECENT)
        .map(|d| ScalingDecisionSummary {
            action_type: action_name(d.action).to_owned(),
            outcome: outcome_name(d.outcome).to_owned(),
            decision_id: d.decision_id,
            source_strategy: d.source_strategy,
            signal: d.signal,
            rationale: d.rationale,
            created_at: d.ts,
        })
        .collect();
    OrgScalingSummary {
        recent_decisions,
        total_decisions,
        decided_decisions: decided,
        success_rate: (decided > 0).then(|| executed as f64 / decided as f64),
        most_common_signal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn decision(n: i64, signal: &str, outcome: Option<ScalingOutcome>) -> ScalingDecisionRecord {
        ScalingDecisionRecord {
            decision_id: format!("d{n}"),
            ts: Utc
                .timestamp_opt(1_700_000_000, 0)
                .single()
                .unwrap_or_default()
                + Duration::hours(n),
            action: ScalingAction::Hire,
            source_strategy: "queue".into(),
            signal: signal.into(),
            rationale: None,
            outcome,
        }
    }

    #[test]
    fn pending_is_not_failure() {
        use ScalingOutcome::*;
        let s = summarize(vec![
            decision(1, "queue_depth", Some(Executed)),
            decision(2, "queue_depth", Some(Failed)),
            decision(3, "latency", None),
            decision(4, "latency", None),
            decision(5, "cost", Some(Deferred)),
        ]);
        assert_eq!(s.total_decisions, 5);
        assert_eq!(s.decided_decisions, 2);
        assert_eq!(s.success_rate, Some(0.5));
        // Tie between latency and queue_depth (2 each): alphabetical first wins.
        assert_eq!(s.most_common_signal.as_deref(), Some("latency"));
        assert_eq!(s.recent_decisions[0].decision_id, "d5");
        assert_eq!(s.recent_decisions[2].outcome, "pending");
    }

    #[test]
    fn only_pending_has_no_rate() {
        let s = summarize(vec![decision(1, "x", None)]);
        assert_eq!(s.success_rate, None);
        assert_eq!(summarize(vec![]), OrgScalingSummary::default());
    }
}
