//! [`effective_config`]: what one agent runs with — the org version, plus the overlays of the
//! running rollouts whose treatment group includes it, reduced to the agent's role,
//! department, settings and applicable principles, with an etag for cheap polling.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{OrgChange, OrgDocument, Principle, PrincipleMode, PrincipleScope, Settings};
use crate::improve::proposal::fnv1a64;

/// A running rollout's changes, applied on top of the org version for the agents in its
/// treatment group.
#[derive(Debug, Clone, Copy)]
pub struct Overlay<'a> {
    /// The proposal the rollout implements (named in errors and in
    /// [`EffectiveConfig::overlays`]).
    pub proposal_id: &'a str,
    /// The proposal's changes, as prepared against the org version.
    pub changes: &'a [OrgChange],
}

/// What one agent should run with. Serialises to the JSON agent runtimes read (the field order
/// is stable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EffectiveConfig {
    /// The agent.
    pub agent_id: String,
    /// Its role (after the overlays).
    pub role: String,
    /// Its department (after the overlays).
    pub department: String,
    /// The org version the configuration is built on.
    pub org_version: i64,
    /// Proposal ids of the rollouts whose overlay this agent sees, in application order; empty
    /// for most agents.
    pub overlays: Vec<String>,
    /// The whole settings tree of the resulting document (settings are org-wide).
    pub settings: Settings,
    /// The principles that apply to this agent, most general first (all, department, role),
    /// each scope sorted by id.
    pub principles: Vec<Principle>,
    /// Changes whenever any field above changes: `"v{org_version}-{16 hex digits}"`, the hex
    /// digits being [`fnv1a64`] over the compact JSON (`serde_json`) of the fields above (an
    /// object with the keys `agent_id` … `principles`, in this order).
    pub etag: String,
}

/// Why an agent's effective configuration cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EffectiveError {
    /// The agent is not in the document (or an overlay removed it).
    #[error("no agent with id {0:?} in org version {1}")]
    UnknownAgent(String, i64),
    /// An overlay's changes do not apply to the document (stale, or the result is invalid).
    #[error("the overlay of rollout {proposal_id} no longer applies: {reason}")]
    Overlay {
        /// The proposal of the rollout whose overlay failed.
        proposal_id: String,
        /// The [`ApplyError`](super::ApplyError) message.
        reason: String,
    },
}

/// The effective configuration of `agent_id`: `base` (org version `version`) with `overlays`
/// applied in order (each via [`OrgDocument::apply`], so a stale overlay is an
/// [`EffectiveError::Overlay`] naming its proposal), then the agent's view of the result.
/// Callers pass only the overlays whose treatment group includes the agent. Without overlays
/// nothing is cloned but the agent's own view.
///
/// **Principles.** A principle applies when its scope is `all`, the agent's department or the
/// agent's role (as they are after the overlays, which may move the agent). Specificity grows
/// `all` < department < role. When an `override` principle applies at some level, every
/// applicable principle of the broader levels is dropped (the narrowest override wins);
/// principles at that level and the narrower ones stay. The result lists `all`, then
/// department, then role principles, each level sorted by id.
///
/// An agent that is not in the resulting document (absent from `base`, or removed by an
/// overlay) is [`EffectiveError::UnknownAgent`].
pub fn effective_config(
    base: &OrgDocument,
    version: i64,
    agent_id: &str,
    overlays: &[Overlay<'_>],
) -> Result<EffectiveConfig, EffectiveError> {
    // Only overlays need a new document; the common case reads `base` directly.
    let mut overlaid: Option<OrgDocument> = None;
    for overlay in overlays {
        let current = overlaid.as_ref().unwrap_or(base);
        let next = current
            .apply(overlay.changes)
            .map_err(|e| EffectiveError::Overlay {
                proposal_id: overlay.proposal_id.to_owned(),
                reason: e.to_string(),
            })?;
        overlaid = Some(next);
    }
    let doc = overlaid.as_ref().unwrap_or(base);

    let agent = doc
        .agent(agent_id)
        .ok_or_else(|| EffectiveError::UnknownAgent(agent_id.to_owned(), version))?;

    let mut applicable: Vec<(u8, &Principle)> = doc
        .principles
        .iter()
        .filter_map(|p| {
            let level = match &p.scope {
                PrincipleScope::All => 0,
                PrincipleScope::Department(d) if *d == agent.department => 1,
                PrincipleScope::Role(r) if *r == agent.role => 2,
                _ => return None,
            };
            Some((level, p))
        })
        .collect();
    let narrowest_override = applicable
        .iter()
        .filter(|(_, p)| p.mode == PrincipleMode::Override)
        .map(|(level, _)| *level)
        .max()
        .unwrap_or(0);
    applicable.retain(|(level, _)| *level >= narrowest_override);
    applicable.sort_by(|(la, a), (lb, b)| la.cmp(lb).then_with(|| a.id.cmp(&b.id)));

    let mut config = EffectiveConfig {
        agent_id: agent.id.clone(),
        role: agent.role.clone(),
        department: agent.department.clone(),
        org_version: version,
        overlays: overlays.iter().map(|o| o.proposal_id.to_owned()).collect(),
        settings: doc.settings.clone(),
        principles: applicable.into_iter().map(|(_, p)| p.clone()).collect(),
        etag: String::new(),
    };
    config.etag = etag(&config);
    Ok(config)
}

/// Every field of an [`EffectiveConfig`] but the etag, as it serialises.
#[derive(Serialize)]
struct Tagged<'a> {
    agent_id: &'a str,
    role: &'a str,
    department: &'a str,
    org_version: i64,
    overlays: &'a [String],
    settings: &'a Settings,
    principles: &'a [Principle],
}

/// `"v{org_version}-{16 hex digits}"`: [`fnv1a64`] over the compact JSON of every other field.
fn etag(c: &EffectiveConfig) -> String {
    let tagged = Tagged {
        agent_id: &c.agent_id,
        role: &c.role,
        department: &c.department,
        org_version: c.org_version,
        overlays: &c.overlays,
        settings: &c.settings,
        principles: &c.principles,
    };
    // Serialising strings, numbers and string-keyed maps cannot fail; should it ever, the
    // Debug form still changes with every field.
    let bytes = serde_json::to_vec(&tagged).unwrap_or_else(|_| format!("{c:?}").into_bytes());
    format!("v{}-{:016x}", c.org_version, fnv1a64(&bytes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::standard::{DEFAULT_TIER, PER_TASK_LIMIT_USD};
    use super::super::{Agent, Department, PrincipleMode, Role};
    use super::*;

    fn agent(id: &str, role: &str, department: &str) -> Agent {
        Agent {
            id: id.to_owned(),
            role: role.to_owned(),
            department: department.to_owned(),
        }
    }

    fn principle(id: &str, scope: &str, text: &str, mode: PrincipleMode) -> Principle {
        Principle {
            id: id.to_owned(),
            scope: scope.parse().unwrap(),
            text: text.to_owned(),
            mode,
        }
    }

    /// The standard org with three agents: two engineers (one backend, one sre) and a
    /// support agent.
    fn org() -> OrgDocument {
        let mut doc = OrgDocument::standard();
        doc.agents = vec![
            agent("a-backend", "backend-engineer", "engineering"),
            agent("a-sre", "sre", "engineering"),
            agent("a-support", "support-agent", "support"),
        ];
        doc.validate().unwrap();
        doc
    }

    fn ids(c: &EffectiveConfig) -> Vec<&str> {
        c.principles.iter().map(|p| p.id.as_str()).collect()
    }

    /// The etag recomputed from `serde_json`'s bytes of the config without its `etag` field.
    fn reference_etag(c: &EffectiveConfig) -> String {
        let json = serde_json::to_string(c).unwrap();
        let cut = json.rfind(",\"etag\":").unwrap();
        let reference = format!("{}}}", &json[..cut]);
        format!("v{}-{:016x}", c.org_version, fnv1a64(reference.as_bytes()))
    }

    #[test]
    fn control_agent_is_the_same_with_and_without_the_overlay_machinery() {
        let doc = org();
        let a = effective_config(&doc, 7, "a-backend", &[]).unwrap();
        let b = effective_config(&doc, 7, "a-backend", &[]).unwrap();
        assert_eq!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(&b).unwrap()
        );
        assert_eq!(a.agent_id, "a-backend");
        assert_eq!(a.role, "backend-engineer");
        assert_eq!(a.department, "engineering");
        assert_eq!(a.org_version, 7);
        assert!(a.overlays.is_empty());
        assert_eq!(a.settings, doc.settings);
        assert_eq!(ids(&a), ["verify-before-done"]);
        assert!(
            a.etag.starts_with("v7-") && a.etag.len() == 3 + 16,
            "{}",
            a.etag
        );
        assert_eq!(a.etag, reference_etag(&a));
        // Field order of the JSON the runtimes read.
        let json = serde_json::to_string(&a).unwrap();
        let keys = [
            "\"agent_id\"",
            "\"role\"",
            "\"department\"",
            "\"org_version\"",
            "\"overlays\"",
            "\"settings\"",
            "\"principles\"",
            "\"etag\"",
        ];
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        let back: EffectiveConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn treatment_agent_sees_the_overlay_setting() {
        let doc = org();
        let changes = [OrgChange::SetSetting {
            path: DEFAULT_TIER.to_owned(),
            from: Some("large".into()),
            to: Some("medium".into()),
        }];
        let overlay = Overlay {
            proposal_id: "p-tier",
            changes: &changes,
        };
        let control = effective_config(&doc, 3, "a-sre", &[]).unwrap();
        let treated = effective_config(&doc, 3, "a-sre", &[overlay]).unwrap();
        assert_eq!(control.settings.get(DEFAULT_TIER), Some(&"large".into()));
        assert_eq!(treated.settings.get(DEFAULT_TIER), Some(&"medium".into()));
        assert_eq!(treated.overlays, ["p-tier"]);
        assert_ne!(treated.etag, control.etag);
        assert_eq!(treated.etag, reference_etag(&treated));
        // The base document is untouched.
        assert_eq!(doc.settings.get(DEFAULT_TIER), Some(&"large".into()));
    }

    #[test]
    fn overlays_apply_in_order() {
        let doc = org();
        let first = [OrgChange::SetSetting {
            path: PER_TASK_LIMIT_USD.to_owned(),
            from: Some(2.0.into()),
            to: Some(1.5.into()),
        }];
        let second = [OrgChange::SetSetting {
            path: PER_TASK_LIMIT_USD.to_owned(),
            from: Some(1.5.into()),
            to: Some(1.25.into()),
        }];
        let overlays = [
            Overlay {
                proposal_id: "p1",
                changes: &first,
            },
            Overlay {
                proposal_id: "p2",
                changes: &second,
            },
        ];
        let c = effective_config(&doc, 1, "a-sre", &overlays).unwrap();
        assert_eq!(c.settings.get(PER_TASK_LIMIT_USD), Some(&1.25.into()));
        assert_eq!(c.overlays, ["p1", "p2"]);
        // In the other order the second no longer applies.
        let reversed = [overlays[1], overlays[0]];
        let e = effective_config(&doc, 1, "a-sre", &reversed).unwrap_err();
        assert!(matches!(&e, EffectiveError::Overlay { proposal_id, .. } if proposal_id == "p2"));
    }

    #[test]
    fn department_principle_is_seen_only_by_that_department() {
        let doc = org();
        let changes = [OrgChange::AddPrinciple(principle(
            "eng-tests",
            "department:engineering",
            "Add a test for every bug you fix.",
            PrincipleMode::Append,
        ))];
        let overlay = [Overlay {
            proposal_id: "p-tests",
            changes: &changes,
        }];
        let eng = effective_config(&doc, 1, "a-backend", &overlay).unwrap();
        assert_eq!(ids(&eng), ["verify-before-done", "eng-tests"]);
        let support = effective_config(&doc, 1, "a-support", &overlay).unwrap();
        assert_eq!(ids(&support), ["verify-before-done"]);
    }

    /// The standard org plus principles at every level for the backend engineer.
    fn layered(role_override: bool, department_override: bool) -> OrgDocument {
        let mode = |o: bool| {
            if o {
                PrincipleMode::Override
            } else {
                PrincipleMode::Append
            }
        };
        let mut doc = org();
        doc.principles.extend([
            principle(
                "all-2",
                "all",
                "Write down every decision you make.",
                PrincipleMode::Append,
            ),
            principle(
                "eng-b",
                "department:engineering",
                "Keep the build green at all times.",
                PrincipleMode::Append,
            ),
            principle(
                "eng-a",
                "department:engineering",
                "Prefer boring technology over new.",
                mode(department_override),
            ),
            principle(
                "backend-1",
                "role:backend-engineer",
                "Version every public API you ship.",
                mode(role_override),
            ),
            principle(
                "sre-1",
                "role:sre",
                "Page a human for every outage.",
                PrincipleMode::Append,
            ),
            principle(
                "support-1",
                "department:support",
                "Reply to customers within one hour.",
                PrincipleMode::Override,
            ),
        ]);
        let doc = doc.canonical();
        doc.validate().unwrap();
        doc
    }

    #[test]
    fn principles_are_ordered_general_first_and_by_id() {
        let doc = layered(false, false);
        let c = effective_config(&doc, 1, "a-backend", &[]).unwrap();
        assert_eq!(
            ids(&c),
            ["all-2", "verify-before-done", "eng-a", "eng-b", "backend-1"]
        );
        let sre = effective_config(&doc, 1, "a-sre", &[]).unwrap();
        assert_eq!(
            ids(&sre),
            ["all-2", "verify-before-done", "eng-a", "eng-b", "sre-1"]
        );
    }

    #[test]
    fn role_override_drops_all_and_department_principles() {
        let doc = layered(true, true);
        let c = effective_config(&doc, 1, "a-backend", &[]).unwrap();
        assert_eq!(ids(&c), ["backend-1"]);
        // The sre has no role override: the department override wins for it.
        let sre = effective_config(&doc, 1, "a-sre", &[]).unwrap();
        assert_eq!(ids(&sre), ["eng-a", "eng-b", "sre-1"]);
    }

    #[test]
    fn department_override_drops_all() {
        let doc = layered(false, true);
        let c = effective_config(&doc, 1, "a-backend", &[]).unwrap();
        assert_eq!(ids(&c), ["eng-a", "eng-b", "backend-1"]);
        // Another department's override does not matter to engineering; support's own does.
        let support = effective_config(&doc, 1, "a-support", &[]).unwrap();
        assert_eq!(ids(&support), ["support-1"]);
    }

    #[test]
    fn move_agent_overlay_changes_department_and_principles() {
        let doc = layered(false, false);
        let changes = [OrgChange::MoveAgent {
            id: "a-backend".to_owned(),
            from_role: "backend-engineer".to_owned(),
            to_role: "support-lead".to_owned(),
            from_department: "engineering".to_owned(),
            to_department: "support".to_owned(),
        }];
        let overlay = [Overlay {
            proposal_id: "p-move",
            changes: &changes,
        }];
        let before = effective_config(&doc, 1, "a-backend", &[]).unwrap();
        let after = effective_config(&doc, 1, "a-backend", &overlay).unwrap();
        assert_eq!(before.department, "engineering");
        assert_eq!(after.department, "support");
        assert_eq!(after.role, "support-lead");
        // support-1 is a department override: the org-wide principles are dropped.
        assert_eq!(ids(&after), ["support-1"]);
        assert_ne!(before.etag, after.etag);
    }

    #[test]
    fn stale_overlay_names_the_proposal() {
        let doc = org();
        let changes = [OrgChange::SetSetting {
            path: DEFAULT_TIER.to_owned(),
            from: Some("small".into()),
            to: Some("medium".into()),
        }];
        let overlay = [Overlay {
            proposal_id: "p-stale",
            changes: &changes,
        }];
        let e = effective_config(&doc, 4, "a-sre", &overlay).unwrap_err();
        let EffectiveError::Overlay {
            proposal_id,
            reason,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(proposal_id, "p-stale");
        assert!(reason.contains("stale change"), "{reason}");
        assert!(
            e.to_string()
                .starts_with("the overlay of rollout p-stale no longer applies: change 1"),
            "{e}"
        );
    }

    #[test]
    fn unknown_or_removed_agent_is_an_error() {
        let doc = org();
        assert_eq!(
            effective_config(&doc, 2, "nobody", &[]),
            Err(EffectiveError::UnknownAgent("nobody".to_owned(), 2))
        );
        assert_eq!(
            EffectiveError::UnknownAgent("nobody".to_owned(), 2).to_string(),
            "no agent with id \"nobody\" in org version 2"
        );
        let changes = [OrgChange::RemoveAgent(agent("a-sre", "sre", "engineering"))];
        let overlay = [Overlay {
            proposal_id: "p-remove",
            changes: &changes,
        }];
        assert_eq!(
            effective_config(&doc, 2, "a-sre", &overlay),
            Err(EffectiveError::UnknownAgent("a-sre".to_owned(), 2))
        );
    }

    #[test]
    fn etag_is_stable_and_follows_the_version() {
        let doc = org();
        let a = effective_config(&doc, 5, "a-support", &[]).unwrap();
        let b = effective_config(&doc, 5, "a-support", &[]).unwrap();
        assert_eq!(a.etag, b.etag);
        let c = effective_config(&doc, 6, "a-support", &[]).unwrap();
        assert!(c.etag.starts_with("v6-"));
        assert_ne!(a.etag[3..], c.etag[3..]);
        // Another agent with the same view differs by its id.
        let other = effective_config(&doc, 5, "a-backend", &[]).unwrap();
        assert_ne!(a.etag, other.etag);
    }

    #[test]
    fn etag_matches_serde_json_on_awkward_values() {
        let mut doc = OrgDocument {
            agents: vec![agent(
                "ä \"quoted\" \\ \u{1}\u{8}\t\n\u{c}\r\u{7f}/",
                "r",
                "d",
            )],
            departments: vec![Department {
                id: "d".to_owned(),
                description: None,
            }],
            roles: vec![Role {
                id: "r".to_owned(),
                description: None,
                department: None,
            }],
            ..OrgDocument::default()
        };
        let floats = [
            0.0,
            -0.0,
            1.0,
            -2.5,
            0.1,
            1e-5,
            1.5e-5,
            1e-6,
            9.99e-6,
            123456.789,
            1e15,
            1e16,
            1.5e16,
            9_007_199_254_740_993.0,
            1e21,
            1e300,
            -1e-300,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            0.3,
            2.0 / 3.0,
        ];
        for (i, x) in floats.iter().enumerate() {
            doc.settings
                .set(&format!("f.x{i:02}"), Some((*x).into()))
                .unwrap();
        }
        doc.settings.set("s.int", Some(i64::MIN.into())).unwrap();
        doc.settings.set("s.b", Some(true.into())).unwrap();
        doc.settings.set("s.text", Some("é\u{1f}".into())).unwrap();
        doc.principles.push(principle(
            "p",
            "role:r",
            "Say \"why\" \\ twice.",
            PrincipleMode::Override,
        ));
        let id = doc.agents[0].id.clone();
        let c = effective_config(&doc, -3, &id, &[]).unwrap();
        assert_eq!(c.etag, reference_etag(&c));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn etag_string_encoding_matches_serde_json(text in "\\PC{0,40}", raw in prop::collection::vec(0u8..0x80, 0..20)) {
            let mut doc = org();
            let raw = String::from_utf8(raw).unwrap();
            doc.settings.set("z.text", Some(text.as_str().into())).unwrap();
            doc.settings.set("z.raw", Some(raw.as_str().into())).unwrap();
            let c = effective_config(&doc, 1, "a-sre", &[]).unwrap();
            prop_assert_eq!(&c.etag, &reference_etag(&c));
        }
    }
}
