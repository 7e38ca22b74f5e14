//! [`Altitude`]: the level at which an improvement proposal changes the organisation, from a
//! configuration value up to the code itself. Rules suggest altitudes; strategies produce
//! proposals at one altitude each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The level at which a proposal changes the organisation (the design's four altitudes,
/// `docs/design.md`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Altitude {
    /// Tune configuration values (thresholds, limits, model choices).
    ConfigTuning,
    /// Change the organisation's structure (roles, workflows, teams).
    Architecture,
    /// Change prompts and the principles injected into them.
    PromptTuning,
    /// Change the code of the agents or their tools.
    CodeModification,
}

impl Altitude {
    /// All altitudes, in declaration order (lowest risk of change first, code last).
    pub const ALL: [Altitude; 4] = [
        Altitude::ConfigTuning,
        Altitude::Architecture,
        Altitude::PromptTuning,
        Altitude::CodeModification,
    ];

    /// The wire name (`config_tuning`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_and_display() -> Result<(), serde_json::Error> {
        for a in Altitude::ALL {
            assert_eq!(serde_json::to_string(&a)?, format!("\"{}\"", a.as_str()));
            assert_eq!(a.to_string(), a.as_str());
            let back: Altitude = serde_json::from_str(&format!("\"{a}\""))?;
            assert_eq!(back, a);
        }
        let names: Vec<&str> = Altitude::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "config_tuning",
                "architecture",
                "prompt_tuning",
                "code_modification"
            ]
        );
        Ok(())
    }

    #[test]
    fn unknown_wire_name_is_rejected() {
        assert!(serde_json::from_str::<Altitude>("\"tool_creation\"").is_err());
    }
}
