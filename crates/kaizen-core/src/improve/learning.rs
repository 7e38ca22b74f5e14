//! Confidence learning: a proposal's confidence adjusted by the outcomes of earlier, similar
//! proposals (same rule, altitude and playbook step — the setting the change turns), and the
//! calibration measures that say whether confidences mean what they say.
//!
//! An earlier proposal counts once it is closed: **kept** (applied, and, once its outcome was
//! measured, not worse and its rule no longer firing) is 1; rejected, rolled back or applied
//! without effect is 0. Two adjusters (`self_improvement.learning.adjuster`):
//!
//! * `ema`: an exponential moving average of the outcomes in time order, started at the new
//!   proposal's heuristic confidence, weight `ema_alpha` for the newest;
//! * `bayesian` (default): the mean of a Beta posterior whose prior is the heuristic confidence
//!   worth `prior_strength` outcomes: `(k·c + kept) / (k + n)`.
//!
//! Either is used only once `min_outcomes` similar proposals are known; the exact playbook
//! step is used when it has enough, else the rule and altitude as a whole. The result stays
//! within [0.01, [`MAX_CONFIDENCE`]].
//!
//! Architecture invariant: pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::proposal::MAX_CONFIDENCE;
use crate::altitude::Altitude;
use crate::config::{AdjusterKind, LearningConfig};
use crate::org::OrgChange;

/// The setting a proposal's playbook step turns (its first `set_setting` change), if any.
pub fn knob_of(changes: &[OrgChange]) -> Option<String> {
    changes.iter().find_map(|c| match c {
        OrgChange::SetSetting { path, .. } => Some(path.clone()),
        _ => None,
    })
}

/// One closed proposal, as learning needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Its rule.
    pub rule: String,
    /// Its altitude.
    pub altitude: Altitude,
    /// The setting it turned ([`knob_of`]).
    pub knob: Option<String>,
    /// When it closed.
    pub at: DateTime<Utc>,
    /// Whether it was kept (1) or not (0).
    pub kept: bool,
}

/// A confidence after learning, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    /// The new confidence.
    pub confidence: f64,
    /// Similar proposals it learned from.
    pub outcomes: usize,
    /// Of which kept.
    pub kept: usize,
    /// For a person.
    pub why: String,
}

/// The outcomes of past proposals, grouped for adjusting new ones.
#[derive(Debug, Clone)]
pub struct Learner {
    config: LearningConfig,
    /// (rule, altitude, knob) → outcomes, oldest first; `None` knob = the rule and altitude as
    /// a whole.
    groups: BTreeMap<GroupKey, Vec<(DateTime<Utc>, bool)>>,
}

/// (rule, altitude, knob); `None` knob: the rule and altitude as a whole.
type GroupKey = (String, Altitude, Option<String>);

impl Learner {
    /// A learner over `observations`.
    pub fn new(observations: &[Observation], config: LearningConfig) -> Self {
        let mut groups: BTreeMap<_, Vec<(DateTime<Utc>, bool)>> = BTreeMap::new();
        for o in observations {
            let whole = (o.rule.clone(), o.altitude, None);
            groups.entry(whole).or_default().push((o.at, o.kept));
            if o.knob.is_some() {
                let step = (o.rule.clone(), o.altitude, o.knob.clone());
                groups.entry(step).or_default().push((o.at, o.kept));
            }
        }
        for v in groups.values_mut() {
            v.sort_by_key(|(at, _)| *at);
        }
        Self { config, groups }
    }

    /// The confidence of a new proposal for `rule` at `altitude` turning `knob`, whose
    /// heuristic confidence is `prior`; `None` when the adjuster is off or too few similar
    /// outcomes are known.
    pub fn adjust(
        &self,
        rule: &str,
        altitude: Altitude,
        knob: Option<&str>,
        prior: f64,
    ) -> Option<Adjusted> {
        let min = usize::try_from(self.config.min_outcomes).unwrap_or(usize::MAX);
        let step = knob.and_then(|k| {
            self.groups
                .get(&(rule.to_owned(), altitude, Some(k.to_owned())))
                .filter(|v| v.len() >= min)
                .map(|v| (v, format!("{rule} at {altitude} turning {k}")))
        });
        let (history, scope) = step.or_else(|| {
            self.groups
                .get(&(rule.to_owned(), altitude, None))
                .filter(|v| v.len() >= min)
                .map(|v| (v, format!("{rule} at {altitude}")))
        })?;
        let n = history.len();
        let kept = history.iter().filter(|(_, k)| *k).count();
        let prior = prior.clamp(0.0, 1.0);
        let (value, method) = match self.config.adjuster {
            AdjusterKind::None => return None,
            AdjusterKind::Ema => {
                let a = self.config.ema_alpha;
                let v = history.iter().fold(prior, |acc, (_, k)| {
                    a * if *k { 1.0 } else { 0.0 } + (1.0 - a) * acc
                });
                (v, format!("EMA, α {a}"))
            }
            AdjusterKind::Bayesian => {
                let k = self.config.prior_strength;
                (
                    (k * prior + kept as f64) / (k + n as f64),
                    format!("Beta prior worth {k} outcomes"),
                )
            }
        };
        let confidence = (value.clamp(0.01, MAX_CONFIDENCE) * 1000.0).round() / 1000.0;
        Some(Adjusted {
            confidence,
            outcomes: n,
            kept,
            why: format!(
                "confidence {prior:.3} → {confidence:.3}: {kept} of {n} earlier proposals for \
                 {scope} were kept ({method})"
            ),
        })
    }
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the confidence bin.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Proposals in it.
    pub n: usize,
    /// Their mean confidence.
    pub mean_confidence: f64,
    /// The share of them kept.
    pub kept_share: f64,
}

/// Calibration of confidences against outcomes: the Brier score (mean squared difference,
/// 0 is perfect, 0.25 is a coin at 0.5) and a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Closed proposals measured.
    pub n: usize,
    /// Mean of (confidence − kept)².
    pub brier: f64,
    /// The Brier score of always predicting the overall kept share (the reference).
    pub brier_reference: f64,
    /// By confidence, `bins` equal-width bins over [0, 1], empty ones left out.
    pub reliability: Vec<ReliabilityBin>,
}

/// [`Calibration`] of `(confidence, kept)` pairs; `None` when there are none.
pub fn calibration(pairs: &[(f64, bool)], bins: usize) -> Option<Calibration> {
    if pairs.is_empty() || bins == 0 {
        return None;
    }
    let y = |k: bool| if k { 1.0 } else { 0.0 };
    let n = pairs.len() as f64;
    let brier = pairs.iter().map(|(c, k)| (c - y(*k)).powi(2)).sum::<f64>() / n;
    let base = pairs.iter().filter(|(_, k)| *k).count() as f64 / n;
    let brier_reference = pairs
        .iter()
        .map(|(_, k)| (base - y(*k)).powi(2))
        .sum::<f64>()
        / n;
    let mut table = Vec::new();
    for b in 0..bins {
        let (from, to) = (b as f64 / bins as f64, (b + 1) as f64 / bins as f64);
        let inside: Vec<&(f64, bool)> = pairs
            .iter()
            .filter(|(c, _)| *c >= from && (*c < to || (b + 1 == bins && *c <= to)))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let m = inside.len() as f64;
        table.push(ReliabilityBin {
            from,
            to,
            n: inside.len(),
            mean_confidence: inside.iter().map(|(c, _)| c).sum::<f64>() / m,
            kept_share: inside.iter().filter(|(_, k)| *k).count() as f64 / m,
        });
    }
    Some(Calibration {
        n: pairs.len(),
        brier,
        brier_reference,
        reliability: table,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn obs(knob: Option<&str>, day: i64, kept: bool) -> Observation {
        Observation {
            rule: "budget_overrun".into(),
            altitude: Altitude::ConfigTuning,
            knob: knob.map(str::to_owned),
            at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::days(day),
            kept,
        }
    }

    fn config(adjuster: AdjusterKind) -> LearningConfig {
        LearningConfig {
            adjuster,
            ..LearningConfig::default()
        }
    }

    #[test]
    fn bayesian_shrinks_towards_the_prior_and_follows_the_outcomes() {
        let tier = Some("models.default_tier");
        let history = [
            obs(tier, 1, false),
            obs(tier, 2, false),
            obs(tier, 3, false),
        ];
        let l = Learner::new(&history, config(AdjusterKind::Bayesian));
        let a = l
            .adjust("budget_overrun", Altitude::ConfigTuning, tier, 0.8)
            .unwrap();
        // (4 · 0.8 + 0) / (4 + 3)
        assert!((a.confidence - 0.457).abs() < 1e-9, "{a:?}");
        assert_eq!((a.outcomes, a.kept), (3, 0));
        assert!(
            a.why.contains("0 of 3") && a.why.contains("models.default_tier"),
            "{}",
            a.why
        );
        // Too few outcomes: no adjustment.
        let few = Learner::new(&history[..2], config(AdjusterKind::Bayesian));
        assert_eq!(
            few.adjust("budget_overrun", Altitude::ConfigTuning, tier, 0.8),
            None
        );
        // Another rule: nothing learned.
        assert_eq!(
            l.adjust("error_spike", Altitude::ConfigTuning, tier, 0.8),
            None
        );
        // Off.
        let off = Learner::new(&history, config(AdjusterKind::None));
        assert_eq!(
            off.adjust("budget_overrun", Altitude::ConfigTuning, tier, 0.8),
            None
        );
    }

    #[test]
    fn the_playbook_step_wins_when_it_has_enough_else_the_rule_as_a_whole() {
        let history = [
            obs(Some("a"), 1, true),
            obs(Some("a"), 2, true),
            obs(Some("a"), 3, true),
            obs(Some("b"), 4, false),
        ];
        let l = Learner::new(&history, config(AdjusterKind::Bayesian));
        let a = l
            .adjust("budget_overrun", Altitude::ConfigTuning, Some("a"), 0.5)
            .unwrap();
        assert_eq!((a.outcomes, a.kept), (3, 3));
        let b = l
            .adjust("budget_overrun", Altitude::ConfigTuning, Some("b"), 0.5)
            .unwrap();
        assert_eq!(
            (b.outcomes, b.kept),
            (4, 3),
            "falls back to the rule: {b:?}"
        );
    }

    #[test]
    fn ema_weights_the_newest_outcome_most() {
        let k = Some("k");
        let l = Learner::new(
            &[obs(k, 3, true), obs(k, 1, false), obs(k, 2, false)],
            config(AdjusterKind::Ema),
        );
        // In time order 0, 0, 1 from 0.6 with α 0.5: 0.3, 0.15, 0.575.
        let a = l
            .adjust("budget_overrun", Altitude::ConfigTuning, k, 0.6)
            .unwrap();
        assert!((a.confidence - 0.575).abs() < 1e-9, "{a:?}");
    }

    #[test]
    fn calibration_scores_and_bins() {
        let perfect = [(1.0, true), (0.0, false)];
        let c = calibration(&perfect, 10).unwrap();
        assert_eq!(c.brier, 0.0);
        assert_eq!(c.brier_reference, 0.25);
        assert_eq!(c.reliability.len(), 2);
        let coin = [(0.5, true), (0.5, false), (0.5, true), (0.5, false)];
        let c = calibration(&coin, 4).unwrap();
        assert!((c.brier - 0.25).abs() < 1e-12);
        assert_eq!(c.reliability.len(), 1);
        assert_eq!(c.reliability[0].n, 4);
        assert!((c.reliability[0].kept_share - 0.5).abs() < 1e-12);
        assert_eq!(calibration(&[], 10), None);
    }
}
