//! The loop's memory of its past proposals: what a cycle must not propose again, and why.
//!
//! Built by the service from the store's recent proposals ([`PastProposal`]) and consulted by
//! the cycle, the config-tuning strategy and the `memory` guard
//! ([`super::guards::MemoryGuard`]). What it remembers (`self_improvement.memory`,
//! `docs/pipeline.md`):
//!
//! * **Cooldowns** ([`Memory::recall`]): a change rejected by a human or rolled back is not
//!   proposed again (same fingerprint) for `cooldown_days`, unless the rule's evidence changed
//!   materially since (the value it compares with its threshold got worse by `material_change`
//!   or more, relative, or the severity rose); the proposal then says what changed. A rejection marked "never again"
//!   blocks the change for good.
//! * **Settling** ([`Memory::settling`]): while a fix for a rule is being rolled out, and for the
//!   signal window after it was applied (the snapshot still holds data from before the fix),
//!   the rule gets no new proposal: stacking a second fix on one not yet measured is how
//!   playbooks overshoot.
//! * **Failed fixes** ([`Memory::failed_fix`]): a fix applied longer ago than the signal window
//!   whose rule still fires did not work; within the cooldown its knobs are not turned again for
//!   that rule ("more of the same"), so the playbook's next alternative is proposed.
//! * **Undo** ([`Memory::undoes`]): a change that would undo one applied within the cooldown
//!   (set a setting back to the value an applied proposal moved it from, move a number back the
//!   other way, remove what it added) is refused, naming that proposal.
//! * **Paused altitudes** ([`Memory::altitude_paused`]): after `rejections_to_pause_altitude`
//!   consecutive human rejections at an altitude (no approval in between, all within the
//!   cooldown), proposals at that altitude pause until the last rejection's cooldown ends.
//!
//! Architecture invariant: pure. Time comes in as `now`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use super::guards::fingerprint_of;
use super::proposal::{Rationale, number, primary_value};
use crate::altitude::Altitude;
use crate::config::MemoryConfig;
use crate::lifecycle::ProposalStatus;
use crate::org::{OrgChange, SettingValue};

/// A past proposal, as the memory needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PastProposal {
    /// Its id.
    pub id: String,
    /// Its de-duplication key ([`super::guards::proposal_fingerprint`]).
    pub fingerprint: String,
    /// Its altitude.
    pub altitude: Altitude,
    /// The rule match it answered, with the evidence at the time.
    pub rationale: Rationale,
    /// Its changes.
    pub changes: Vec<OrgChange>,
    /// Its status now.
    pub status: ProposalStatus,
    /// When a human approved it (the move to approved), if one did.
    pub approved_at: Option<DateTime<Utc>>,
    /// When a human rejected it, and who, if one did.
    pub rejected: Option<(DateTime<Utc>, String)>,
    /// When it reached its status now (applied, rolled back, …).
    pub since: DateTime<Utc>,
    /// The reason recorded with that status (a rejection's reason, a rollback's verdict).
    pub reason: Option<String>,
    /// A human said, when rejecting it, never to propose this change again.
    pub never_again: bool,
}

impl PastProposal {
    /// `P (rejected by alice on 2026-03-04: "too risky")`, for messages.
    fn describe(&self) -> String {
        let mut s = self.id.clone();
        let day = self.since.format("%Y-%m-%d");
        let _ = match (&self.status, &self.rejected) {
            (ProposalStatus::Rejected, Some((_, who))) => write!(s, " (rejected by {who} on {day}"),
            (ProposalStatus::RolledBack | ProposalStatus::RollbackFailed, _) => {
                write!(s, " (rolled back on {day}")
            }
            (ProposalStatus::Applied, _) => write!(s, " (applied on {day}"),
            (other, _) => write!(s, " ({} since {day}", other.as_str()),
        };
        if let Some(r) = self.reason.as_deref().filter(|r| !r.trim().is_empty()) {
            let r: String = r.chars().take(160).collect();
            let _ = write!(s, ": {r:?}");
        }
        s.push(')');
        s
    }
}

/// What the memory says about proposing a change again.
#[derive(Debug, Clone, PartialEq)]
pub enum Recall {
    /// Nothing against it.
    Fresh,
    /// Not now: why, naming the past proposal and when the cooldown ends.
    Blocked(String),
    /// Proposed before and turned down, but the evidence changed materially: what changed.
    Changed(String),
}

/// The memory of one cycle (or one submission).
#[derive(Debug, Clone)]
pub struct Memory {
    past: Vec<PastProposal>,
    now: DateTime<Utc>,
    config: MemoryConfig,
    settle: Duration,
}

impl Memory {
    /// A memory of `past` at `now`; `settle` is how long after an apply the snapshot still
    /// holds data from before it (the signal window).
    pub fn new(
        past: Vec<PastProposal>,
        now: DateTime<Utc>,
        config: MemoryConfig,
        settle: Duration,
    ) -> Self {
        Self {
            past,
            now,
            config,
            settle,
        }
    }

    /// A memory that remembers nothing (what a disabled memory is).
    pub fn empty(now: DateTime<Utc>) -> Self {
        Self::new(Vec::new(), now, MemoryConfig::default(), Duration::zero())
    }

    /// Whether it has anything to say.
    pub fn is_empty(&self) -> bool {
        self.past.is_empty() || !self.config.enabled
    }

    fn cooldown(&self) -> Duration {
        Duration::days(i64::from(self.config.cooldown_days))
    }

    fn recent(&self) -> impl Iterator<Item = &PastProposal> {
        let from = self.now - self.cooldown();
        self.past
            .iter()
            .filter(move |p| self.config.enabled && p.since >= from)
    }

    /// Whether proposing `changes` at `altitude` for the rule of `evidence` repeats a change
    /// that was turned down (rejected by a human, rolled back) within the cooldown, or
    /// marked "never again".
    pub fn recall(
        &self,
        altitude: Altitude,
        evidence: &Rationale,
        changes: &[OrgChange],
    ) -> Recall {
        if !self.config.enabled {
            return Recall::Fresh;
        }
        let fingerprint = fingerprint_of(altitude, &evidence.rule_name, changes);
        let mut changed = None;
        // Newest first: the latest verdict on this change is the one that counts.
        let mut same: Vec<&PastProposal> = self
            .past
            .iter()
            .filter(|p| p.fingerprint == fingerprint)
            .collect();
        same.sort_by_key(|p| std::cmp::Reverse(p.since));
        for p in same {
            if p.never_again {
                return Recall::Blocked(format!(
                    "the same change was rejected as \"never propose this again\": {}",
                    p.describe()
                ));
            }
            let turned_down = matches!(
                p.status,
                ProposalStatus::Rejected
                    | ProposalStatus::RolledBack
                    | ProposalStatus::RollbackFailed
            );
            if !turned_down || p.since < self.now - self.cooldown() {
                continue;
            }
            match material_change(&p.rationale, evidence, self.config.material_change) {
                Some(what) => {
                    changed.get_or_insert(format!(
                        "proposed again although {} turned the same change down, because the \
                         evidence changed materially: {what}",
                        p.describe()
                    ));
                }
                None => {
                    return Recall::Blocked(format!(
                        "the same change was turned down within the cooldown: {}; not proposed \
                         again before {} unless the evidence changes materially (by {} or more)",
                        p.describe(),
                        (p.since + self.cooldown()).format("%Y-%m-%d %H:%M UTC"),
                        pct(self.config.material_change),
                    ));
                }
            }
        }
        changed.map_or(Recall::Fresh, Recall::Changed)
    }

    /// Why `rule` gets no new proposal now: a fix for it is being rolled out or was applied
    /// less than the signal window ago.
    pub fn settling(&self, rule: &str) -> Option<String> {
        if !self.config.enabled {
            return None;
        }
        self.past
            .iter()
            .filter(|p| p.rationale.rule_name == rule)
            .find_map(|p| match p.status {
                ProposalStatus::Approved
                | ProposalStatus::RollingOut
                | ProposalStatus::Inconclusive => Some(format!(
                    "a fix for this rule is being rolled out ({}); its effect is measured \
                     before another one is proposed",
                    p.describe()
                )),
                ProposalStatus::Applied if p.since + self.settle > self.now => Some(format!(
                    "a fix for this rule was applied less than the signal window ago ({}); the \
                     snapshot still holds data from before it, so no further fix is proposed \
                     before {}",
                    p.describe(),
                    (p.since + self.settle).format("%Y-%m-%d %H:%M UTC"),
                )),
                _ => None,
            })
    }

    /// Why turning `knob` for `rule` would be more of a fix that did not work: a proposal for
    /// `rule` changed `knob`, was applied longer ago than the signal window and within the
    /// cooldown, and the rule (the caller knows) still fires.
    pub fn failed_fix(&self, rule: &str, knob: &str) -> Option<String> {
        self.recent()
            .filter(|p| {
                p.status == ProposalStatus::Applied
                    && p.rationale.rule_name == rule
                    && p.since + self.settle <= self.now
            })
            .find(|p| {
                p.changes
                    .iter()
                    .any(|c| matches!(c, OrgChange::SetSetting { path, .. } if path == knob))
            })
            .map(|p| {
                format!(
                    "{knob} was already changed for this rule by {}, and the rule still fires \
                     a full signal window later: that fix did not work, so it is not repeated",
                    p.describe()
                )
            })
    }

    /// Why `changes` would undo a change applied within the cooldown, naming the proposal.
    pub fn undoes(&self, changes: &[OrgChange]) -> Option<String> {
        for p in self
            .recent()
            .filter(|p| p.status == ProposalStatus::Applied)
        {
            for applied in &p.changes {
                for c in changes {
                    if let Some(what) = undo(c, applied) {
                        return Some(format!(
                            "it would undo {} for the `{}` rule: {what}; changes applied within \
                             the cooldown ({} days) are not reversed by another proposal (roll \
                             that one back instead if it was wrong)",
                            p.describe(),
                            p.rationale.rule_name,
                            self.config.cooldown_days
                        ));
                    }
                }
            }
        }
        None
    }

    /// Why proposals at `altitude` are paused: the last `rejections_to_pause_altitude` human
    /// decisions at it were rejections, all within the cooldown.
    pub fn altitude_paused(&self, altitude: Altitude) -> Option<String> {
        let n = usize::try_from(self.config.rejections_to_pause_altitude).ok()?;
        // Human decisions at this altitude, newest first: (when, rejected?).
        let mut decisions: Vec<(DateTime<Utc>, bool)> = self
            .recent()
            .filter(|p| p.altitude == altitude)
            .flat_map(|p| {
                let approved = p.approved_at.map(|t| (t, false));
                let rejected = p.rejected.as_ref().map(|(t, _)| (*t, true));
                approved.into_iter().chain(rejected)
            })
            .collect();
        decisions.sort_by_key(|d| std::cmp::Reverse(d.0));
        if decisions.len() < n || !decisions.iter().take(n).all(|(_, rejected)| *rejected) {
            return None;
        }
        let last = decisions.first()?.0;
        let until = last + self.cooldown();
        (until > self.now).then(|| {
            format!(
                "the last {n} proposals at altitude {} were all rejected by a human; proposals \
                 at this altitude pause until {} (an approval of one already queued ends the \
                 pause; `self_improvement.memory.rejections_to_pause_altitude` sets how many)",
                altitude.as_str(),
                until.format("%Y-%m-%d %H:%M UTC")
            )
        })
    }
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// What changed materially between the evidence `before` and `now`, if anything: a higher
/// severity, or the value the rule compares with its threshold
/// ([`super::proposal::primary_value`]) worse by `share` or more, relative. For a rule whose
/// value is not known, any number of the evidence (other than the threshold) that moved by
/// `share` or more.
fn material_change(before: &Rationale, now: &Rationale, share: f64) -> Option<String> {
    // `rank` puts the most urgent first: a lower rank is a higher severity.
    if now.severity.rank() < before.severity.rank() {
        return Some(format!(
            "the severity rose from {} to {}",
            before.severity, now.severity
        ));
    }
    let moved = |a: f64, b: f64| {
        let scale = a.abs().max(b.abs());
        scale > 0.0 && (b - a).abs() / a.abs().max(f64::MIN_POSITIVE) >= share
    };
    let old = primary_value(&before.rule_name, &before.signal_context);
    let new = primary_value(&now.rule_name, &now.signal_context);
    if let (Some((key, a, higher_worse)), Some((_, b, _))) = (old, new) {
        let worse = if higher_worse { b > a } else { b < a };
        return (worse && moved(a, b)).then(|| format!("{key} {} → {}", short(a), short(b)));
    }
    let old: BTreeMap<&str, f64> = before
        .signal_context
        .iter()
        .filter(|(k, _)| !k.starts_with("threshold"))
        .filter_map(|(k, v)| number(Some(v)).map(|x| (k.as_str(), x)))
        .collect();
    let mut changed = Vec::new();
    for (k, v) in &now.signal_context {
        let (Some(a), Some(b)) = (old.get(k.as_str()), number(Some(v))) else {
            continue;
        };
        if moved(*a, b) {
            changed.push(format!("{k} {} → {}", short(*a), short(b)));
        }
    }
    (!changed.is_empty()).then(|| changed.join(", "))
}

fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// How `candidate` undoes `applied`, if it does.
fn undo(candidate: &OrgChange, applied: &OrgChange) -> Option<String> {
    match (candidate, applied) {
        (
            OrgChange::SetSetting {
                path,
                from: cf,
                to: ct,
            },
            OrgChange::SetSetting {
                path: ap,
                from: af,
                to: at,
            },
        ) if path == ap => {
            let show = |v: &Option<SettingValue>| {
                v.as_ref()
                    .map_or_else(|| "absent".to_owned(), ToString::to_string)
            };
            if ct == af && ct != at {
                return Some(format!(
                    "{path} was changed from {} to {}; this sets it back to {}",
                    show(af),
                    show(at),
                    show(ct)
                ));
            }
            let num = |v: &Option<SettingValue>| match v {
                Some(SettingValue::Integer(i)) => Some(*i as f64),
                Some(SettingValue::Float(x)) => Some(*x),
                _ => None,
            };
            if let (Some(cf), Some(ct), Some(af), Some(at)) = (num(cf), num(ct), num(af), num(at))
                && (ct - cf) * (at - af) < 0.0
            {
                return Some(format!(
                    "{path} was moved from {} to {}; this moves it back the other way ({} → {})",
                    short(af),
                    short(at),
                    short(cf),
                    short(ct)
                ));
            }
            None
        }
        (OrgChange::SetSetting { .. }, _) | (_, OrgChange::SetSetting { .. }) => None,
        _ if *candidate == applied.inverse() => Some(format!("this reverses {applied}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::org::standard::{DEFAULT_TIER, MAX_TEAM_SIZE};
    use crate::rules::{ContextValue, RuleSeverity};

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }

    fn rationale(rule: &str, severity: RuleSeverity, value: f64) -> Rationale {
        Rationale {
            rule_name: rule.into(),
            severity,
            description: String::new(),
            signal_context: [
                ("value".to_owned(), ContextValue::Number(value)),
                ("threshold".to_owned(), ContextValue::Number(1.0)),
            ]
            .into(),
            threshold: Some(ContextValue::Number(1.0)),
        }
    }

    fn set(path: &str, from: SettingValue, to: SettingValue) -> OrgChange {
        OrgChange::SetSetting {
            path: path.into(),
            from: Some(from),
            to: Some(to),
        }
    }

    fn s(x: &str) -> SettingValue {
        SettingValue::String(x.into())
    }

    fn past(
        id: &str,
        rule: &str,
        changes: Vec<OrgChange>,
        status: ProposalStatus,
        since: DateTime<Utc>,
    ) -> PastProposal {
        PastProposal {
            id: id.into(),
            fingerprint: fingerprint_of(Altitude::ConfigTuning, rule, &changes),
            altitude: Altitude::ConfigTuning,
            rationale: rationale(rule, RuleSeverity::Warning, 2.0),
            changes,
            status,
            approved_at: (status != ProposalStatus::Rejected).then_some(since),
            rejected: (status == ProposalStatus::Rejected).then(|| (since, "alice".to_owned())),
            since,
            reason: Some("no".into()),
            never_again: false,
        }
    }

    fn memory(past: Vec<PastProposal>, now: DateTime<Utc>) -> Memory {
        Memory::new(past, now, MemoryConfig::default(), Duration::days(7))
    }

    #[test]
    fn a_rejected_change_cools_down_unless_the_evidence_moves() {
        let change = vec![set(DEFAULT_TIER, s("large"), s("medium"))];
        let m = memory(
            vec![past(
                "p1",
                "budget_overrun",
                change.clone(),
                ProposalStatus::Rejected,
                t(1),
            )],
            t(5),
        );
        let same = rationale("budget_overrun", RuleSeverity::Warning, 2.5);
        let Recall::Blocked(why) = m.recall(Altitude::ConfigTuning, &same, &change) else {
            panic!("a rejected change must cool down");
        };
        assert!(why.contains("p1 (rejected by alice on 2026-03-01"), "{why}");
        assert!(why.contains("2026-03-15"), "{why}");
        // +100 %: material.
        let moved = rationale("budget_overrun", RuleSeverity::Warning, 4.0);
        let Recall::Changed(what) = m.recall(Altitude::ConfigTuning, &moved, &change) else {
            panic!("a material change lets it through");
        };
        assert!(what.contains("value 2 → 4"), "{what}");
        let worse = rationale("budget_overrun", RuleSeverity::Critical, 2.0);
        assert!(matches!(
            m.recall(Altitude::ConfigTuning, &worse, &change),
            Recall::Changed(w) if w.contains("severity rose")
        ));
        // The rule's own value, worse by half: material; better: not.
        let primary = |days: i64| Rationale {
            signal_context: [
                ("days_until_exhausted".to_owned(), ContextValue::Int(days)),
                (
                    "top_agent_share".to_owned(),
                    ContextValue::Number(0.1 * days as f64),
                ),
                ("threshold".to_owned(), ContextValue::Int(14)),
            ]
            .into(),
            ..rationale("budget_overrun", RuleSeverity::Warning, 0.0)
        };
        let m10 = Memory::new(
            vec![PastProposal {
                rationale: primary(10),
                ..m.past[0].clone()
            }],
            t(5),
            MemoryConfig::default(),
            Duration::days(7),
        );
        assert!(matches!(
            m10.recall(Altitude::ConfigTuning, &primary(4), &change),
            Recall::Changed(w) if w.contains("days_until_exhausted 10 → 4")
        ));
        // Fewer days is worse for this rule; more days, or a secondary number moving, is not
        // material.
        assert!(matches!(
            m10.recall(Altitude::ConfigTuning, &primary(13), &change),
            Recall::Blocked(_)
        ));
        assert!(matches!(
            m10.recall(Altitude::ConfigTuning, &primary(9), &change),
            Recall::Blocked(_)
        ));
        // Another change, another rule: fresh.
        let other = vec![set(DEFAULT_TIER, s("large"), s("small"))];
        assert_eq!(
            m.recall(Altitude::ConfigTuning, &same, &other),
            Recall::Fresh
        );
        // After the cooldown: fresh.
        let later = memory(m.past.clone(), t(16));
        assert_eq!(
            later.recall(Altitude::ConfigTuning, &same, &change),
            Recall::Fresh
        );
    }

    #[test]
    fn never_again_outlives_the_cooldown_and_any_evidence() {
        let change = vec![set(DEFAULT_TIER, s("large"), s("medium"))];
        let mut p = past(
            "p1",
            "budget_overrun",
            change.clone(),
            ProposalStatus::Rejected,
            t(1),
        );
        p.never_again = true;
        let m = Memory::new(
            vec![p],
            t(1) + Duration::days(400),
            MemoryConfig::default(),
            Duration::days(7),
        );
        let worse = rationale("budget_overrun", RuleSeverity::Critical, 100.0);
        assert!(matches!(
            m.recall(Altitude::ConfigTuning, &worse, &change),
            Recall::Blocked(w) if w.contains("never propose this again")
        ));
    }

    #[test]
    fn a_rolled_back_change_cools_down_and_an_applied_one_does_not() {
        let change = vec![set(
            MAX_TEAM_SIZE,
            SettingValue::Integer(3),
            SettingValue::Integer(2),
        )];
        let ev = rationale("coordination_overhead", RuleSeverity::Warning, 2.0);
        let rolled = memory(
            vec![past(
                "p1",
                "coordination_overhead",
                change.clone(),
                ProposalStatus::RolledBack,
                t(2),
            )],
            t(3),
        );
        assert!(matches!(
            rolled.recall(Altitude::ConfigTuning, &ev, &change),
            Recall::Blocked(w) if w.contains("rolled back on 2026-03-02")
        ));
        let applied = memory(
            vec![past(
                "p1",
                "coordination_overhead",
                change.clone(),
                ProposalStatus::Applied,
                t(2),
            )],
            t(3),
        );
        assert_eq!(
            applied.recall(Altitude::ConfigTuning, &ev, &change),
            Recall::Fresh
        );
    }

    #[test]
    fn a_fix_settles_for_the_signal_window_then_counts_as_failed_while_its_rule_fires() {
        let change = vec![set(DEFAULT_TIER, s("large"), s("medium"))];
        let p = past(
            "p1",
            "budget_overrun",
            change,
            ProposalStatus::Applied,
            t(1),
        );
        let early = memory(vec![p.clone()], t(5));
        assert!(
            early
                .settling("budget_overrun")
                .unwrap()
                .contains("2026-03-08 12:00")
        );
        assert_eq!(early.settling("error_spike"), None);
        assert_eq!(early.failed_fix("budget_overrun", DEFAULT_TIER), None);
        let late = memory(vec![p.clone()], t(9));
        assert_eq!(late.settling("budget_overrun"), None);
        assert!(
            late.failed_fix("budget_overrun", DEFAULT_TIER)
                .unwrap()
                .contains("did not work")
        );
        assert_eq!(
            late.failed_fix("budget_overrun", "budget.per_task_limit_usd"),
            None
        );
        assert_eq!(late.failed_fix("success_rate_drop", DEFAULT_TIER), None);
        // A rollout in progress settles the rule too.
        let mut live = p;
        live.status = ProposalStatus::RollingOut;
        assert!(
            memory(vec![live], t(20))
                .settling("budget_overrun")
                .unwrap()
                .contains("being rolled out")
        );
    }

    #[test]
    fn undoing_an_applied_change_is_named() {
        let applied = past(
            "p1",
            "budget_overrun",
            vec![set(DEFAULT_TIER, s("large"), s("medium"))],
            ProposalStatus::Applied,
            t(1),
        );
        let team = past(
            "p2",
            "redundancy",
            vec![set(
                MAX_TEAM_SIZE,
                SettingValue::Integer(5),
                SettingValue::Integer(4),
            )],
            ProposalStatus::Applied,
            t(1),
        );
        let m = memory(vec![applied, team], t(3));
        let back = [set(DEFAULT_TIER, s("medium"), s("large"))];
        let why = m.undoes(&back).unwrap();
        assert!(
            why.contains("p1 (applied on 2026-03-01") && why.contains("budget_overrun"),
            "{why}"
        );
        // Further in the same direction: not an undo.
        assert_eq!(
            m.undoes(&[set(DEFAULT_TIER, s("medium"), s("small"))]),
            None
        );
        // A number moved back the other way (not to the exact old value).
        let up = [set(
            MAX_TEAM_SIZE,
            SettingValue::Integer(4),
            SettingValue::Integer(6),
        )];
        assert!(m.undoes(&up).unwrap().contains("back the other way"));
        let down = [set(
            MAX_TEAM_SIZE,
            SettingValue::Integer(4),
            SettingValue::Integer(3),
        )];
        assert_eq!(m.undoes(&down), None);
        // Outside the cooldown: allowed.
        assert_eq!(memory(m.past.clone(), t(20)).undoes(&back), None);
    }

    #[test]
    fn consecutive_rejections_pause_an_altitude_and_an_approval_resets_the_count() {
        let mk = |id: &str, day: u32, status| {
            past(
                id,
                "r",
                vec![set(DEFAULT_TIER, s(id), s("x"))],
                status,
                t(day),
            )
        };
        let three = vec![
            mk("a", 1, ProposalStatus::Rejected),
            mk("b", 2, ProposalStatus::Rejected),
            mk("c", 3, ProposalStatus::Rejected),
        ];
        let m = memory(three.clone(), t(4));
        assert!(
            m.altitude_paused(Altitude::ConfigTuning)
                .unwrap()
                .contains("2026-03-17")
        );
        assert_eq!(m.altitude_paused(Altitude::PromptTuning), None);
        let mut with_approval = three;
        with_approval.push(mk("d", 3, ProposalStatus::Applied));
        with_approval[3].approved_at = Some(t(3) + Duration::hours(1));
        assert_eq!(
            memory(with_approval, t(4)).altitude_paused(Altitude::ConfigTuning),
            None
        );
        let two = vec![
            mk("a", 1, ProposalStatus::Rejected),
            mk("b", 2, ProposalStatus::Rejected),
        ];
        assert_eq!(
            memory(two, t(4)).altitude_paused(Altitude::ConfigTuning),
            None
        );
    }

    #[test]
    fn a_disabled_memory_remembers_nothing() {
        let change = vec![set(DEFAULT_TIER, s("large"), s("medium"))];
        let mut p = past(
            "p1",
            "budget_overrun",
            change.clone(),
            ProposalStatus::Rejected,
            t(1),
        );
        p.never_again = true;
        let config = MemoryConfig {
            enabled: false,
            ..MemoryConfig::default()
        };
        let m = Memory::new(vec![p], t(2), config, Duration::days(7));
        let ev = rationale("budget_overrun", RuleSeverity::Warning, 2.0);
        assert_eq!(
            m.recall(Altitude::ConfigTuning, &ev, &change),
            Recall::Fresh
        );
        assert_eq!(m.settling("budget_overrun"), None);
        assert_eq!(
            m.undoes(&[set(DEFAULT_TIER, s("medium"), s("large"))]),
            None
        );
        assert_eq!(m.altitude_paused(Altitude::ConfigTuning), None);
    }
}
