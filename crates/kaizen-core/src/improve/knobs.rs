//! The knob registry: which settings of the org document may be tuned, with their type and
//! bounds (a float or integer range, a boolean, or an ordered list of choices).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::org::parse_setting_path;
use crate::org::standard::{
    CENTRALIZED_VERIFICATION, DEDUPLICATION, DEFAULT_TIER, MAX_TEAM_SIZE, MODEL_TIERS,
    PER_TASK_LIMIT_USD, STRAGGLER_TIMEOUT_SECONDS, WORK_STEALING,
};

/// A tunable setting: a dotted settings path with its type and bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knob {
    /// Dotted settings path, e.g. `models.default_tier`.
    pub path: String,
    /// Type and bounds.
    pub kind: KnobKind,
    /// One line for a person: what the setting does.
    pub description: String,
}

/// A knob's type and bounds. Serialised tagged by `type`: `{type: float, min: 0.1, max: 50}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KnobKind {
    /// A real number in `[min, max]`. An integer setting value is read as a number too.
    Float {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// A whole number in `[min, max]`.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// One of an ordered list of strings, lowest first (`small < medium < large`): stepping
    /// down moves towards the first, stepping up towards the last.
    Choice {
        /// The allowed values, in order.
        values: Vec<String>,
    },
}

impl KnobKind {
    /// `float`, `int`, `bool` or `choice`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            KnobKind::Float { .. } => "float",
            KnobKind::Int { .. } => "int",
            KnobKind::Bool => "bool",
            KnobKind::Choice { .. } => "choice",
        }
    }
}

impl fmt::Display for KnobKind {
    /// `float in [0.1, 50]`, `int in [1, 20]`, `bool`, `one of small < medium < large`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobKind::Float { min, max } => write!(f, "float in [{min:?}, {max:?}]"),
            KnobKind::Int { min, max } => write!(f, "int in [{min}, {max}]"),
            KnobKind::Bool => f.write_str("bool"),
            KnobKind::Choice { values } => write!(f, "one of {}", values.join(" < ")),
        }
    }
}

/// What went wrong with a knob, or with computing an adjustment of one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KnobError {
    /// No knob is registered at this path.
    #[error("unknown knob {path:?} (not in the knob registry)")]
    UnknownKnob {
        /// The path asked for.
        path: String,
    },
    /// Two knobs share a path.
    #[error("knob {path:?} is declared twice")]
    DuplicateKnob {
        /// The path.
        path: String,
    },
    /// The knob's declaration is invalid (bad path, bounds or choices).
    #[error("knob {path:?}: {reason}")]
    InvalidKnob {
        /// The knob's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The org document has no value at the knob's path.
    #[error("setting {path} is missing from the org document")]
    MissingSetting {
        /// The path.
        path: String,
    },
    /// The org document's value does not have the knob's type.
    #[error("setting {path} is the {found}, but knob {path:?} expects {expected}")]
    TypeMismatch {
        /// The path.
        path: String,
        /// The knob's kind, as [`KnobKind`]'s `Display` writes it.
        expected: String,
        /// The value found, with its type (`string "x"`).
        found: String,
    },
    /// The adjustment does not fit the knob (an operation for another kind, a scale factor
    /// that is not positive, a value outside the bounds).
    #[error("adjustment of knob {path:?}: {reason}")]
    InvalidAdjustment {
        /// The knob's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Knob {
    /// A knob; see [`Knob::validate`].
    pub fn new(path: &str, kind: KnobKind, description: &str) -> Self {
        Self {
            path: path.to_owned(),
            kind,
            description: description.to_owned(),
        }
    }

    /// Checks the declaration: the path is a valid dotted settings path, the description is
    /// not blank, float bounds are finite with `min <= max`, int bounds have `min <= max`,
    /// choices are non-empty, non-blank and unique.
    pub fn validate(&self) -> Result<(), KnobError> {
        let invalid = |reason: String| KnobError::InvalidKnob {
            path: self.path.clone(),
            reason,
        };
        parse_setting_path(&self.path).map_err(&invalid)?;
        if self.description.trim().is_empty() {
            return Err(invalid("the description is blank".to_owned()));
        }
        match &self.kind {
            KnobKind::Float { min, max } => {
                if !min.is_finite() || !max.is_finite() {
                    return Err(invalid(format!(
                        "bounds must be finite numbers, found [{min}, {max}]"
                    )));
                }
                if min > max {
                    return Err(invalid(format!("min {min:?} is greater than max {max:?}")));
                }
            }
            KnobKind::Int { min, max } => {
                if min > max {
                    return Err(invalid(format!("min {min} is greater than max {max}")));
                }
            }
            KnobKind::Bool => {}
            KnobKind::Choice { values } => {
                if values.is_empty() {
                    return Err(invalid("a choice knob needs at least one value".to_owned()));
                }
                let mut seen = BTreeSet::new();
                for v in values {
                    if v.trim().is_empty() {
                        return Err(invalid("a choice value is blank".to_owned()));
                    }
                    if !seen.insert(v.as_str()) {
                        return Err(invalid(format!("choice {v:?} is listed twice")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The tunable settings, by path.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KnobRegistry {
    knobs: BTreeMap<String, Knob>,
}

impl KnobRegistry {
    /// A registry of `knobs`; fails on the first duplicate path. Call
    /// [`KnobRegistry::validate`] to check the declarations themselves.
    pub fn new(knobs: impl IntoIterator<Item = Knob>) -> Result<Self, KnobError> {
        let mut registry = Self::default();
        for knob in knobs {
            registry.insert(knob)?;
        }
        Ok(registry)
    }

    /// Adds a knob; fails when its path is already registered.
    pub fn insert(&mut self, knob: Knob) -> Result<(), KnobError> {
        if self.knobs.contains_key(&knob.path) {
            return Err(KnobError::DuplicateKnob { path: knob.path });
        }
        self.knobs.insert(knob.path.clone(), knob);
        Ok(())
    }

    /// The knob at `path`.
    pub fn get(&self, path: &str) -> Option<&Knob> {
        self.knobs.get(path)
    }

    /// The knob at `path`, or [`KnobError::UnknownKnob`].
    pub fn require(&self, path: &str) -> Result<&Knob, KnobError> {
        self.get(path).ok_or_else(|| KnobError::UnknownKnob {
            path: path.to_owned(),
        })
    }

    /// Every knob, by path.
    pub fn iter(&self) -> impl Iterator<Item = &Knob> {
        self.knobs.values()
    }

    /// Number of knobs.
    pub fn len(&self) -> usize {
        self.knobs.len()
    }

    /// Whether there are no knobs.
    pub fn is_empty(&self) -> bool {
        self.knobs.is_empty()
    }

    /// Checks every knob ([`Knob::validate`]) and that each is stored under its own path;
    /// reports every problem, in path order.
    pub fn validate(&self) -> Result<(), Vec<KnobError>> {
        let mut errors = Vec::new();
        for (path, knob) in &self.knobs {
            if *path != knob.path {
                errors.push(KnobError::InvalidKnob {
                    path: path.clone(),
                    reason: format!("registered under {path:?} but declares {:?}", knob.path),
                });
            }
            if let Err(e) = knob.validate() {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The knobs of [`crate::org::OrgDocument::standard`]'s settings:
    ///
    /// | path | kind |
    /// |---|---|
    /// | `models.default_tier` | choice `small < medium < large` |
    /// | `budget.per_task_limit_usd` | float in `[0.1, 50.0]` |
    /// | `coordination.max_team_size` | int in `[1, 20]` |
    /// | `coordination.work_stealing` | bool |
    /// | `coordination.straggler_timeout_seconds` | int in `[60, 7200]` |
    /// | `coordination.deduplication` | bool |
    /// | `verification.centralized` | bool |
    pub fn standard() -> Self {
        let knobs = [
            Knob::new(
                DEFAULT_TIER,
                KnobKind::Choice {
                    values: MODEL_TIERS.iter().map(|s| (*s).to_owned()).collect(),
                },
                "The model tier agents use unless told otherwise (cheapest first).",
            ),
            Knob::new(
                PER_TASK_LIMIT_USD,
                KnobKind::Float {
                    min: 0.1,
                    max: 50.0,
                },
                "The most one task may spend, in USD.",
            ),
            Knob::new(
                MAX_TEAM_SIZE,
                KnobKind::Int { min: 1, max: 20 },
                "The most agents that work on one task together.",
            ),
            Knob::new(
                WORK_STEALING,
                KnobKind::Bool,
                "Idle agents take queued work from busy ones.",
            ),
            Knob::new(
                STRAGGLER_TIMEOUT_SECONDS,
                KnobKind::Int { min: 60, max: 7200 },
                "After how many seconds a lagging sub-task is reassigned.",
            ),
            Knob::new(
                DEDUPLICATION,
                KnobKind::Bool,
                "Detect and merge duplicate work before it is done twice.",
            ),
            Knob::new(
                CENTRALIZED_VERIFICATION,
                KnobKind::Bool,
                "A central verifier checks results before they are reported.",
            ),
        ];
        let mut registry = Self::default();
        for knob in knobs {
            registry.knobs.insert(knob.path.clone(), knob);
        }
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::OrgDocument;

    #[test]
    fn standard_registry_is_valid_and_covers_the_standard_settings() {
        let registry = KnobRegistry::standard();
        assert_eq!(registry.validate(), Ok(()));
        assert_eq!(registry.len(), 7);
        let org = OrgDocument::standard();
        for knob in registry.iter() {
            assert!(
                org.settings.get(&knob.path).is_some(),
                "{} is not a standard setting",
                knob.path
            );
        }
    }

    #[test]
    fn invalid_declarations_are_reported() {
        let bad = [
            Knob::new("a..b", KnobKind::Bool, "x"),
            Knob::new("a.b", KnobKind::Bool, "  "),
            Knob::new("f", KnobKind::Float { min: 2.0, max: 1.0 }, "x"),
            Knob::new(
                "g",
                KnobKind::Float {
                    min: f64::NAN,
                    max: 1.0,
                },
                "x",
            ),
            Knob::new("i", KnobKind::Int { min: 5, max: 4 }, "x"),
            Knob::new("c", KnobKind::Choice { values: vec![] }, "x"),
            Knob::new(
                "d",
                KnobKind::Choice {
                    values: vec!["a".into(), "a".into()],
                },
                "x",
            ),
            Knob::new(
                "e",
                KnobKind::Choice {
                    values: vec![" ".into()],
                },
                "x",
            ),
        ];
        for knob in &bad {
            assert!(
                matches!(knob.validate(), Err(KnobError::InvalidKnob { .. })),
                "{knob:?} passed"
            );
        }
        let registry = KnobRegistry::new(bad);
        let Ok(registry) = registry else {
            panic!("distinct paths");
        };
        assert_eq!(registry.validate().map_err(|e| e.len()), Err(8));
    }

    #[test]
    fn duplicate_paths_are_refused() {
        let k = Knob::new("a.b", KnobKind::Bool, "x");
        assert_eq!(
            KnobRegistry::new([k.clone(), k]),
            Err(KnobError::DuplicateKnob { path: "a.b".into() })
        );
    }

    #[test]
    fn unknown_knob_is_an_error() {
        assert_eq!(
            KnobRegistry::standard().require("nope.x").err(),
            Some(KnobError::UnknownKnob {
                path: "nope.x".into()
            })
        );
    }

    #[test]
    fn kinds_display_for_people() {
        let r = KnobRegistry::standard();
        let show = |p: &str| r.get(p).map(|k| k.kind.to_string());
        assert_eq!(
            show(DEFAULT_TIER).as_deref(),
            Some("one of small < medium < large")
        );
        assert_eq!(
            show(PER_TASK_LIMIT_USD).as_deref(),
            Some("float in [0.1, 50.0]")
        );
        assert_eq!(show(MAX_TEAM_SIZE).as_deref(), Some("int in [1, 20]"));
    }
}
