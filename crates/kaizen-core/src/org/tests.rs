//! Tests of the org document: every validation rule and precondition with its exact message,
//! `Display`, serde, and properties of apply / diff / inverse on random documents.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn dept(id: &str) -> Department {
    Department {
        id: id.to_owned(),
        description: None,
    }
}

fn role(id: &str, department: Option<&str>) -> Role {
    Role {
        id: id.to_owned(),
        description: None,
        department: department.map(str::to_owned),
    }
}

fn agent(id: &str, role: &str, department: &str) -> Agent {
    Agent {
        id: id.to_owned(),
        role: role.to_owned(),
        department: department.to_owned(),
    }
}

fn workflow(id: &str, steps: &[&str]) -> Workflow {
    Workflow {
        id: id.to_owned(),
        description: None,
        steps: steps.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn principle(id: &str, scope: PrincipleScope, text: &str, mode: PrincipleMode) -> Principle {
    Principle {
        id: id.to_owned(),
        scope,
        text: text.to_owned(),
        mode,
    }
}

/// A small valid document.
fn small() -> OrgDocument {
    let mut settings = Settings::default();
    settings
        .set("models.default_tier", Some("large".into()))
        .unwrap();
    settings.set("budget.limit", Some(2.0.into())).unwrap();
    OrgDocument {
        agents: vec![agent("a1", "dev", "eng")],
        departments: vec![dept("eng"), dept("ops")],
        roles: vec![role("dev", Some("eng")), role("pm", None)],
        workflows: vec![workflow("ship", &["pm", "dev"])],
        principles: vec![principle(
            "p1",
            PrincipleScope::All,
            "Be precise and brief.",
            PrincipleMode::Append,
        )],
        settings,
    }
}

fn errors(doc: &OrgDocument) -> Vec<String> {
    match doc.validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn precondition(doc: &OrgDocument, change: OrgChange) -> String {
    match doc.apply(&[change]) {
        Err(ApplyError::Precondition { reason, .. }) => reason,
        other => panic!("expected a precondition failure, got {other:?}"),
    }
}

#[test]
fn small_and_standard_are_valid() {
    assert_eq!(errors(&small()), Vec::<String>::new());
    assert_eq!(errors(&OrgDocument::standard()), Vec::<String>::new());
    assert_eq!(errors(&OrgDocument::default()), Vec::<String>::new());
}

#[test]
fn standard_settings_have_their_defaults() {
    let doc = OrgDocument::standard();
    let s = &doc.settings;
    assert_eq!(s.get(standard::DEFAULT_TIER), Some(&"large".into()));
    assert_eq!(s.get(standard::PER_TASK_LIMIT_USD), Some(&2.0.into()));
    assert_eq!(s.get(standard::MAX_TEAM_SIZE), Some(&5i64.into()));
    assert_eq!(s.get(standard::WORK_STEALING), Some(&false.into()));
    assert_eq!(
        s.get(standard::STRAGGLER_TIMEOUT_SECONDS),
        Some(&900i64.into())
    );
    assert_eq!(s.get(standard::DEDUPLICATION), Some(&false.into()));
    assert_eq!(
        s.get(standard::CENTRALIZED_VERIFICATION),
        Some(&false.into())
    );
    assert_eq!(s.leaves().len(), 7);
    let depts: Vec<&str> = doc.departments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        depts,
        ["engineering", "operations", "research", "sales", "support"]
    );
    assert_eq!(doc.roles.len(), 12);
    assert!(doc.agents.is_empty());
}

#[test]
fn ids_must_be_names_and_unique() {
    let mut doc = small();
    doc.departments.push(dept("eng"));
    doc.roles.push(role("  ", None));
    doc.agents.push(agent(&"x".repeat(257), "dev", "eng"));
    doc.agents.push(agent("a1", "dev", "eng"));
    assert_eq!(
        errors(&doc),
        [
            r#"departments[2].id: duplicate department id "eng" (first at departments[0])"#,
            "roles[2].id: expected a non-blank string",
            "agents[1].id: expected at most 256 bytes, got 257",
            r#"agents[2].id: duplicate agent id "a1" (first at agents[0])"#,
        ]
    );
}

#[test]
fn references_must_exist() {
    let mut doc = small();
    doc.roles.push(role("ghost", Some("nowhere")));
    doc.agents.push(agent("a2", "nobody", "nowhere"));
    doc.agents.push(agent("a3", "dev", "ops"));
    doc.workflows.push(workflow("w2", &["dev", "nobody"]));
    doc.workflows.push(workflow("w3", &[]));
    doc.principles.push(principle(
        "p2",
        PrincipleScope::Role("nobody".into()),
        "A principle for nobody at all.",
        PrincipleMode::Append,
    ));
    doc.principles.push(principle(
        "p3",
        PrincipleScope::Department("nowhere".into()),
        "A principle for nowhere at all.",
        PrincipleMode::Append,
    ));
    assert_eq!(
        errors(&doc),
        [
            r#"roles[2].department: unknown department "nowhere""#,
            r#"agents[1].role: unknown role "nobody""#,
            r#"agents[1].department: unknown department "nowhere""#,
            r#"agents[2].department: role "dev" belongs to department "eng", not "ops""#,
            r#"workflows[1].steps[1]: unknown role "nobody""#,
            "workflows[2].steps: a workflow needs at least one step",
            r#"principles[1].scope: unknown role "nobody""#,
            r#"principles[2].scope: unknown department "nowhere""#,
        ]
    );
}

#[test]
fn a_role_without_department_fits_any_department() {
    let mut doc = small();
    doc.agents.push(agent("a2", "pm", "ops"));
    assert_eq!(errors(&doc), Vec::<String>::new());
}

#[test]
fn descriptions_are_non_blank_and_bounded() {
    let mut doc = small();
    doc.departments[0].description = Some(" ".into());
    doc.roles[0].description = Some("é".repeat(2001));
    doc.workflows[0].description = Some("é".repeat(2000));
    assert_eq!(
        errors(&doc),
        [
            "departments[0].description: expected a non-blank string (omit the key for no description)",
            "roles[0].description: expected at most 2000 characters, found 2001",
        ]
    );
}

#[test]
fn principle_text_is_measured_after_normalising() {
    assert_eq!(normalize_text("  a \n\t b  c "), "a b c");
    let mut doc = small();
    // 9 characters once collapsed, though 14 as written.
    doc.principles[0].text = "  abcd    efgh ".into();
    doc.principles.push(principle(
        "p2",
        PrincipleScope::All,
        &"x".repeat(4001),
        PrincipleMode::Append,
    ));
    doc.principles.push(principle(
        "p3",
        PrincipleScope::All,
        &format!(" {} ", "y".repeat(4000)),
        PrincipleMode::Append,
    ));
    doc.principles.push(principle(
        "p4",
        PrincipleScope::All,
        "abcd  efghi",
        PrincipleMode::Append,
    ));
    assert_eq!(
        errors(&doc),
        [
            "principles[0].text: expected 10 to 4000 characters after normalising whitespace, found 9",
            "principles[1].text: expected 10 to 4000 characters after normalising whitespace, found 4001",
        ]
    );
}

#[test]
fn principle_texts_are_unique_ignoring_whitespace_and_case() {
    let mut doc = small();
    doc.principles.push(principle(
        "p2",
        PrincipleScope::Role("dev".into()),
        "  be PRECISE\nand brief. ",
        PrincipleMode::Append,
    ));
    assert_eq!(
        errors(&doc),
        [r#"principles[1].text: the same text as principle "p1""#]
    );
}

#[test]
fn at_most_one_override_per_scope() {
    let mut doc = small();
    let scope = PrincipleScope::Department("eng".into());
    doc.principles.push(principle(
        "p2",
        scope.clone(),
        "Engineering principle one.",
        PrincipleMode::Override,
    ));
    doc.principles.push(principle(
        "p3",
        scope,
        "Engineering principle two.",
        PrincipleMode::Override,
    ));
    doc.principles.push(principle(
        "p4",
        PrincipleScope::All,
        "An org-wide override principle.",
        PrincipleMode::Override,
    ));
    assert_eq!(
        errors(&doc),
        [
            r#"principles[2].mode: scope department:eng already has an override principle ("p2"); at most one per scope"#
        ]
    );
}

#[test]
fn settings_names_sections_and_numbers() {
    let mut doc = small();
    let mut bad = BTreeMap::new();
    bad.insert("a.b".to_owned(), SettingValue::Bool(true));
    bad.insert(String::new(), SettingValue::Bool(true));
    bad.insert(" pad".to_owned(), SettingValue::Bool(true));
    bad.insert("empty".to_owned(), SettingValue::Map(BTreeMap::new()));
    bad.insert("nan".to_owned(), SettingValue::Float(f64::NAN));
    doc.settings
        .0
        .insert("x".to_owned(), SettingValue::Map(bad));
    assert_eq!(
        errors(&doc),
        [
            "settings.x: empty name",
            r#"settings.x: name " pad" has surrounding whitespace"#,
            r#"settings.x: name "a.b" contains `.` (paths are dotted)"#,
            "settings.x.empty: an empty section; give it values or remove it",
            "settings.x.nan: expected a finite number, found NaN",
        ]
    );
}

#[test]
fn setting_paths_are_parsed_strictly() {
    assert_eq!(parse_setting_path("a.b").unwrap(), ["a", "b"]);
    assert_eq!(
        parse_setting_path("").unwrap_err(),
        "expected a dotted settings path such as models.default_tier, found an empty string"
    );
    assert_eq!(
        parse_setting_path("a..b").unwrap_err(),
        r#"settings path "a..b" has an empty segment"#
    );
    assert_eq!(
        parse_setting_path(".a").unwrap_err(),
        r#"settings path ".a" has an empty segment"#
    );
    assert_eq!(
        parse_setting_path("a. b").unwrap_err(),
        r#"settings path "a. b": name " b" has surrounding whitespace"#
    );
}

#[test]
fn settings_set_creates_and_prunes_sections() {
    let mut s = Settings::default();
    s.set("a.b.c", Some(1i64.into())).unwrap();
    assert_eq!(s.get("a.b.c"), Some(&SettingValue::Integer(1)));
    assert_eq!(
        s.set("a.b.c.d", Some(2i64.into())).unwrap_err(),
        "a.b.c is not a section but the integer 1"
    );
    s.set("a.b.c", None).unwrap();
    assert_eq!(s, Settings::default());
    assert_eq!(s.get("a"), None);
}

#[test]
fn set_setting_preconditions() {
    let doc = small();
    assert_eq!(
        precondition(
            &doc,
            OrgChange::SetSetting {
                path: "models.default_tier".into(),
                from: Some("medium".into()),
                to: Some("small".into()),
            }
        ),
        r#"stale change: models.default_tier is "large", the change expects "medium""#
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::SetSetting {
                path: "models.new".into(),
                from: Some(3i64.into()),
                to: None,
            }
        ),
        "stale change: models.new is absent, the change expects 3"
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::SetSetting {
                path: "budget.limit".into(),
                from: Some(2.0.into()),
                to: Some(2.0.into()),
            }
        ),
        "the change changes nothing (budget.limit stays 2.0)"
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::SetSetting {
                path: "budget..limit".into(),
                from: None,
                to: Some(1i64.into()),
            }
        ),
        r#"settings path "budget..limit" has an empty segment"#
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::SetSetting {
                path: "budget.limit.x".into(),
                from: None,
                to: Some(1i64.into()),
            }
        ),
        "budget.limit is not a section but the float 2.0"
    );
}

#[test]
fn item_preconditions() {
    let doc = small();
    assert_eq!(
        precondition(&doc, OrgChange::AddAgent(agent("a1", "dev", "eng"))),
        r#"agent "a1" already exists"#
    );
    assert_eq!(
        precondition(&doc, OrgChange::RemoveRole(role("qa", None))),
        r#"role "qa" does not exist"#
    );
    assert_eq!(
        precondition(&doc, OrgChange::RemoveRole(role("pm", Some("ops")))),
        r#"role "pm" in the document differs from the one this change removes (stale change)"#
    );
    let ship = workflow("ship", &["pm", "dev"]);
    assert_eq!(
        precondition(
            &doc,
            OrgChange::UpdateWorkflow {
                id: "ship".into(),
                from: workflow("ship", &["dev"]),
                to: workflow("ship", &["pm"]),
            }
        ),
        r#"workflow "ship" in the document differs from the one this change updates (stale change)"#
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::UpdateWorkflow {
                id: "ship".into(),
                from: ship.clone(),
                to: ship.clone(),
            }
        ),
        "the change changes nothing"
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::UpdateWorkflow {
                id: "other".into(),
                from: ship.clone(),
                to: workflow("ship", &["pm"]),
            }
        ),
        r#"the ids of `from` ("ship") and `to` ("ship") must both be "other""#
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::MoveAgent {
                id: "a1".into(),
                from_role: "pm".into(),
                to_role: "dev".into(),
                from_department: "ops".into(),
                to_department: "eng".into(),
            }
        ),
        r#"stale change: agent "a1" has role "dev" and department "eng", the change expects role "pm" and department "ops""#
    );
    assert_eq!(
        precondition(
            &doc,
            OrgChange::MoveAgent {
                id: "zz".into(),
                from_role: "dev".into(),
                to_role: "pm".into(),
                from_department: "eng".into(),
                to_department: "eng".into(),
            }
        ),
        r#"agent "zz" does not exist"#
    );
}

#[test]
fn apply_error_messages_name_the_change() {
    let doc = small();
    let changes = [
        OrgChange::SetSetting {
            path: "budget.limit".into(),
            from: Some(2.0.into()),
            to: Some(1.5.into()),
        },
        OrgChange::SetSetting {
            path: "models.default_tier".into(),
            from: Some("medium".into()),
            to: Some("small".into()),
        },
    ];
    let err = doc.apply(&changes).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"change 2 (set models.default_tier: "medium" → "small"): stale change: models.default_tier is "large", the change expects "medium""#
    );
    let err = doc
        .apply(&[OrgChange::RemoveDepartment(dept("eng"))])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"the result would be an invalid org document: roles[0].department: unknown department "eng"; agents[0].department: unknown department "eng""#
    );
}

#[test]
fn apply_may_pass_through_invalid_states() {
    let doc = small();
    let changes = [
        OrgChange::RemoveDepartment(dept("eng")),
        OrgChange::AddDepartment(Department {
            id: "eng".into(),
            description: Some("Engineering.".into()),
        }),
    ];
    let out = doc.apply(&changes).unwrap();
    assert_eq!(
        out.department("eng").unwrap().description.as_deref(),
        Some("Engineering.")
    );
    assert_eq!(OrgDocument::diff(&doc, &out), changes);
}

#[test]
fn display_is_readable() {
    let show = |c: OrgChange| c.to_string();
    assert_eq!(
        show(OrgChange::SetSetting {
            path: "models.default_tier".into(),
            from: Some("large".into()),
            to: Some("medium".into()),
        }),
        r#"set models.default_tier: "large" → "medium""#
    );
    assert_eq!(
        show(OrgChange::SetSetting {
            path: "a.b".into(),
            from: None,
            to: Some(SettingValue::Map(BTreeMap::from([(
                "c".to_owned(),
                SettingValue::Bool(true)
            )]))),
        }),
        "set a.b: absent → {c: true}"
    );
    assert_eq!(
        show(OrgChange::AddAgent(agent("a1", "dev", "eng"))),
        "add agent a1 (role dev, department eng)"
    );
    assert_eq!(
        show(OrgChange::MoveAgent {
            id: "a1".into(),
            from_role: "dev".into(),
            to_role: "pm".into(),
            from_department: "eng".into(),
            to_department: "eng".into(),
        }),
        "move agent a1: role dev → pm"
    );
    assert_eq!(
        show(OrgChange::RemoveRole(role("dev", Some("eng")))),
        "remove role dev (department eng)"
    );
    assert_eq!(
        show(OrgChange::UpdateWorkflow {
            id: "ship".into(),
            from: workflow("ship", &["pm", "dev"]),
            to: workflow("ship", &["dev"]),
        }),
        "update workflow ship: steps pm → dev ⇒ dev"
    );
    assert_eq!(
        show(OrgChange::AddPrinciple(principle(
            "p",
            PrincipleScope::Role("dev".into()),
            "Write tests first.",
            PrincipleMode::Override
        ))),
        r#"add principle p (role:dev, override): "Write tests first.""#
    );
}

#[test]
fn serde_is_strict_and_round_trips() {
    let doc = small();
    let json = serde_json::to_string(&doc).unwrap();
    assert_eq!(serde_json::from_str::<OrgDocument>(&json).unwrap(), doc);
    let unknown = r#"{"agents": [{"id": "a", "role": "r", "department": "d", "team": "x"}]}"#;
    let err = serde_json::from_str::<OrgDocument>(unknown).unwrap_err();
    assert!(err.to_string().contains("unknown field `team`"), "{err}");
    let bad_scope = r#"{"principles": [{"id": "p", "scope": "team:x", "text": "0123456789"}]}"#;
    let err = serde_json::from_str::<OrgDocument>(bad_scope).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"expected `all`, `role:ID` or `department:ID`, found "team:x""#),
        "{err}"
    );
    let values = r#"{"settings": {"a": 1, "b": 1.0, "c": "x", "d": true, "e": {"f": 2}}}"#;
    let doc: OrgDocument = serde_json::from_str(values).unwrap();
    assert_eq!(doc.settings.get("a"), Some(&SettingValue::Integer(1)));
    assert_eq!(doc.settings.get("b"), Some(&SettingValue::Float(1.0)));
    assert_eq!(doc.settings.get("e.f"), Some(&SettingValue::Integer(2)));
    assert!(serde_json::from_str::<OrgDocument>(r#"{"settings": {"a": null}}"#).is_err());
    let change = OrgChange::SetSetting {
        path: "a".into(),
        from: None,
        to: Some(1i64.into()),
    };
    let json = serde_json::to_string(&change).unwrap();
    assert_eq!(json, r#"{"set_setting":{"path":"a","from":null,"to":1}}"#);
    assert_eq!(serde_json::from_str::<OrgChange>(&json).unwrap(), change);
}

#[test]
fn canonical_sorts_and_normalises() {
    let mut doc = small();
    doc.departments.reverse();
    doc.principles[0].text = "  Be precise \n and brief. ".into();
    let c = doc.canonical();
    assert_eq!(c.departments[0].id, "eng");
    assert_eq!(c.principles[0].text, "Be precise and brief.");
}

// ---- properties -------------------------------------------------------------------------

/// A tiny deterministic generator (SplitMix64), so a document is a function of a seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len()))
        }
    }

    fn leaf(&mut self) -> SettingValue {
        match self.below(4) {
            0 => SettingValue::Bool(self.chance(50)),
            1 => SettingValue::Integer(self.below(2000) as i64 - 1000),
            // Quarters are exact in binary and in decimal.
            2 => SettingValue::Float((self.below(400) as f64 - 200.0) / 4.0),
            _ => SettingValue::String(format!("s{}", self.below(5))),
        }
    }
}

fn random_document(seed: u64) -> OrgDocument {
    let mut g = Gen(seed);
    let mut doc = OrgDocument::default();
    for i in 0..g.below(4) {
        doc.departments.push(Department {
            id: format!("d{i}"),
            description: g.chance(50).then(|| format!("department {i}")),
        });
    }
    let dept_ids: Vec<String> = doc.departments.iter().map(|d| d.id.clone()).collect();
    for i in 0..g.below(5) {
        let department = if g.chance(60) {
            g.pick(&dept_ids).cloned()
        } else {
            None
        };
        doc.roles.push(Role {
            id: format!("r{i}"),
            description: g.chance(30).then(|| format!("role {i}")),
            department,
        });
    }
    if !dept_ids.is_empty() {
        for i in 0..g.below(6) {
            let Some(r) = g.pick(&doc.roles).cloned() else {
                break;
            };
            let department = match &r.department {
                Some(d) => d.clone(),
                None => g.pick(&dept_ids).cloned().unwrap_or_default(),
            };
            doc.agents.push(agent(&format!("a{i}"), &r.id, &department));
        }
    }
    let role_ids: Vec<String> = doc.roles.iter().map(|r| r.id.clone()).collect();
    if !role_ids.is_empty() {
        for i in 0..g.below(3) {
            let steps = (0..=g.below(3))
                .filter_map(|_| g.pick(&role_ids).cloned())
                .collect();
            doc.workflows.push(Workflow {
                id: format!("w{i}"),
                description: g.chance(50).then(|| format!("workflow {i}")),
                steps,
            });
        }
    }
    let mut overridden = Vec::new();
    for i in 0..g.below(4) {
        let scope = match g.below(3) {
            1 if !role_ids.is_empty() => {
                PrincipleScope::Role(g.pick(&role_ids).cloned().unwrap_or_default())
            }
            2 if !dept_ids.is_empty() => {
                PrincipleScope::Department(g.pick(&dept_ids).cloned().unwrap_or_default())
            }
            _ => PrincipleScope::All,
        };
        let mode = if g.chance(30) && !overridden.contains(&scope) {
            overridden.push(scope.clone());
            PrincipleMode::Override
        } else {
            PrincipleMode::Append
        };
        doc.principles.push(Principle {
            id: format!("p{i}"),
            scope,
            text: format!("Principle number {i}, variant {}.", g.below(3)),
            mode,
        });
    }
    for key in ["alpha", "beta", "gamma"] {
        if g.chance(60) {
            let value = if g.chance(50) {
                g.leaf()
            } else {
                let mut m = BTreeMap::new();
                for sub in ["x", "y"] {
                    if g.chance(70) || m.is_empty() {
                        m.insert(sub.to_owned(), g.leaf());
                    }
                }
                SettingValue::Map(m)
            };
            doc.settings.0.insert(key.to_owned(), value);
        }
    }
    let doc = doc.canonical();
    assert_eq!(
        doc.validate(),
        Ok(()),
        "the generator made an invalid document"
    );
    doc
}

/// A change that keeps `doc` valid (or `None` when the chosen kind does not fit).
fn random_change(g: &mut Gen, doc: &OrgDocument, fresh: usize) -> Option<OrgChange> {
    let dept_ids: Vec<&String> = doc.departments.iter().map(|d| &d.id).collect();
    let in_use_role = |id: &str| {
        doc.agents.iter().any(|a| a.role == id)
            || doc
                .workflows
                .iter()
                .any(|w| w.steps.iter().any(|s| s == id))
            || doc
                .principles
                .iter()
                .any(|p| p.scope == PrincipleScope::Role(id.into()))
    };
    let in_use_dept = |id: &str| {
        doc.agents.iter().any(|a| a.department == id)
            || doc
                .roles
                .iter()
                .any(|r| r.department.as_deref() == Some(id))
            || doc
                .principles
                .iter()
                .any(|p| p.scope == PrincipleScope::Department(id.into()))
    };
    Some(match g.below(13) {
        0 | 1 => {
            let leaves: Vec<String> = doc.settings.leaves().into_iter().map(|(p, _)| p).collect();
            let path = match g.pick(&leaves) {
                Some(p) if g.chance(70) => p.clone(),
                _ => format!("new{}.k{}", g.below(3), g.below(2)),
            };
            let from = doc.settings.get(&path).cloned();
            if matches!(from, Some(SettingValue::Map(_))) {
                return None;
            }
            let to = if from.is_some() && g.chance(25) {
                None
            } else {
                Some(g.leaf())
            };
            if from == to {
                return None;
            }
            OrgChange::SetSetting { path, from, to }
        }
        2 => OrgChange::AddDepartment(Department {
            id: format!("nd{fresh}"),
            description: None,
        }),
        3 => {
            let d = g.pick(&doc.departments)?;
            if in_use_dept(&d.id) {
                return None;
            }
            OrgChange::RemoveDepartment(d.clone())
        }
        4 => OrgChange::AddRole(Role {
            id: format!("nr{fresh}"),
            description: Some("new".into()),
            department: g.pick(&dept_ids).map(|d| (*d).clone()),
        }),
        5 => {
            let r = g.pick(&doc.roles)?;
            if in_use_role(&r.id) {
                return None;
            }
            OrgChange::RemoveRole(r.clone())
        }
        6 => {
            let r = g.pick(&doc.roles)?;
            let department = match &r.department {
                Some(d) => d.clone(),
                None => (*g.pick(&dept_ids)?).clone(),
            };
            OrgChange::AddAgent(agent(&format!("na{fresh}"), &r.id, &department))
        }
        7 => OrgChange::RemoveAgent(g.pick(&doc.agents)?.clone()),
        8 => {
            let a = g.pick(&doc.agents)?;
            let r = g.pick(&doc.roles)?;
            let department = match &r.department {
                Some(d) => d.clone(),
                None => (*g.pick(&dept_ids)?).clone(),
            };
            if a.role == r.id && a.department == department {
                return None;
            }
            OrgChange::MoveAgent {
                id: a.id.clone(),
                from_role: a.role.clone(),
                to_role: r.id.clone(),
                from_department: a.department.clone(),
                to_department: department,
            }
        }
        9 => {
            let r = g.pick(&doc.roles)?;
            OrgChange::AddWorkflow(workflow(&format!("nw{fresh}"), &[&r.id]))
        }
        10 => {
            let w = g.pick(&doc.workflows)?;
            if g.chance(50) {
                OrgChange::RemoveWorkflow(w.clone())
            } else {
                let mut to = w.clone();
                to.steps.push(g.pick(&doc.roles)?.id.clone());
                OrgChange::UpdateWorkflow {
                    id: w.id.clone(),
                    from: w.clone(),
                    to,
                }
            }
        }
        11 => OrgChange::AddPrinciple(principle(
            &format!("np{fresh}"),
            PrincipleScope::All,
            &format!("A fresh principle {fresh}."),
            PrincipleMode::Append,
        )),
        _ => {
            let p = g.pick(&doc.principles)?;
            if g.chance(50) {
                OrgChange::RemovePrinciple(p.clone())
            } else {
                let mut to = p.clone();
                to.text = format!("{} Revised {fresh}.", p.text);
                OrgChange::UpdatePrinciple {
                    id: p.id.clone(),
                    from: p.clone(),
                    to,
                }
            }
        }
    })
}

/// A list of changes valid against `doc` (each keeps the document valid).
fn random_changes(seed: u64, doc: &OrgDocument, len: usize) -> Vec<OrgChange> {
    let mut g = Gen(seed ^ 0xA5A5_A5A5);
    let mut current = doc.clone();
    let mut changes = Vec::new();
    let mut attempts = 0;
    while changes.len() < len && attempts < len * 20 {
        attempts += 1;
        if let Some(change) = random_change(&mut g, &current, attempts)
            && let Ok(next) = current.apply(std::slice::from_ref(&change))
        {
            current = next;
            changes.push(change);
        }
    }
    changes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_the_diff_gives_the_target(a in any::<u64>(), b in any::<u64>()) {
        let (a, b) = (random_document(a), random_document(b));
        let changes = OrgDocument::diff(&a, &b);
        prop_assert_eq!(a.apply(&changes), Ok(b.clone()));
        prop_assert!(OrgDocument::diff(&b, &b).is_empty());
        // The diff of the inverse direction undoes it too.
        let back = OrgChange::inverse_all(&changes);
        prop_assert_eq!(b.apply(&back), Ok(a));
    }

    #[test]
    fn inverse_changes_restore_the_original(seed in any::<u64>(), len in 1usize..12) {
        let a = random_document(seed);
        let changes = random_changes(seed, &a, len);
        let changed = a.apply(&changes);
        prop_assert!(changed.is_ok(), "{:?}", changed);
        let changed = changed.unwrap_or_default();
        prop_assert_eq!(changed.apply(&OrgChange::inverse_all(&changes)), Ok(a.clone()));
        // Changes and documents survive a JSON round trip.
        let json = serde_json::to_string(&changes).unwrap_or_default();
        let parsed: Vec<OrgChange> = serde_json::from_str(&json).unwrap_or_default();
        prop_assert_eq!(&parsed, &changes);
        let json = serde_json::to_string(&changed).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<OrgDocument>(&json).ok(), Some(changed.clone()));
        // The diff reproduces the effect of the list.
        prop_assert_eq!(a.apply(&OrgDocument::diff(&a, &changed)), Ok(changed));
    }

    #[test]
    fn one_invalid_change_rejects_the_whole_list(
        seed in any::<u64>(),
        len in 0usize..10,
        at in any::<usize>(),
        kind in 0usize..3,
    ) {
        let a = random_document(seed);
        let before = a.clone();
        let mut changes = random_changes(seed, &a, len);
        let bad = match kind {
            0 => OrgChange::RemoveAgent(agent("ghost", "r0", "d0")),
            1 => OrgChange::SetSetting {
                path: "zz.ghost".into(),
                from: Some(SettingValue::Bool(true)),
                to: None,
            },
            _ => OrgChange::AddRole(role("ghost-role", Some("no-such-department"))),
        };
        changes.insert(at % (changes.len() + 1), bad);
        prop_assert!(a.apply(&changes).is_err());
        prop_assert_eq!(a, before);
    }
}
