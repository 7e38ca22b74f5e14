//! Bounded, proptest-based fuzz targets of the YAML inputs (issue 21), run with the normal
//! suite: `kaizen.yaml` (`Settings`, deserialised from YAML the way the CLI does, then
//! validated) and lab scenarios (`Scenario::parse`). Inputs are mutations of real documents
//! (bytes cut, tokens inserted, numbers replaced by extreme ones, lines repeated) and
//! YAML-ish noise; parsing never panics and every refusal has a message.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use kaizen_lab::scenario::Scenario;
use kaizen_server::settings::Settings;
use proptest::prelude::*;

const CONFIG: &str = include_str!("../../kaizen-cli/src/kaizen.example.yaml");
const SCENARIO: &str = include_str!("../../../scenarios/budget-surge.yaml");
const DEMO: &str = include_str!("../src/demo.yaml");

/// Tokens that YAML parsers and our validators find interesting.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "? ",
    "|",
    ">",
    "'",
    "\"",
    "\n",
    "\n  ",
    "\t",
    "~",
    "null",
    "true",
    "no",
    "1e309",
    "-1e309",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999999",
    "-1",
    "0",
    "-0.0",
    "0x7fffffffffffffff",
    "1_000",
    "<<: *a",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "\u{feff}",
    "\u{0}",
    "é",
    "days: ",
    "seed: ",
    "agents: ",
    "kaizen: ",
    "rules: ",
    "faults: ",
];

#[derive(Debug, Clone)]
enum Edit {
    Cut(usize, usize),
    Insert(usize, &'static str),
    Number(usize, &'static str),
    RepeatLine(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = proptest::sample::select(TOKENS);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Cut(at, len)),
        (any::<usize>(), token.clone()).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), token).prop_map(|(i, t)| Edit::Number(i, t)),
        (any::<usize>(), 1usize..50).prop_map(|(i, n)| Edit::RepeatLine(i, n)),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_owned();
    for e in edits {
        match e {
            Edit::Cut(at, len) => {
                let a = boundary(&s, *at);
                let b = boundary(&s, a + len);
                if b >= a {
                    s.replace_range(a..b, "");
                }
            }
            Edit::Insert(at, t) => {
                let a = boundary(&s, *at);
                s.insert_str(a, t);
            }
            Edit::Number(i, t) => {
                // Replace the i-th number of the text.
                let starts: Vec<usize> = s
                    .char_indices()
                    .filter(|(j, c)| {
                        c.is_ascii_digit()
                            && !s[..*j].ends_with(|p: char| p.is_ascii_alphanumeric() || p == '.')
                    })
                    .map(|(j, _)| j)
                    .collect();
                if let Some(&start) = starts.get(i % starts.len().max(1)) {
                    let end = s[start..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
                        .map_or(s.len(), |n| start + n);
                    s.replace_range(start..end, t);
                }
            }
            Edit::RepeatLine(i, n) => {
                let lines: Vec<&str> = s.lines().collect();
                if let Some(line) = lines.get(i % lines.len().max(1)) {
                    let line = format!("{line}\n").repeat(*n);
                    let at = boundary(&s, s.find(lines[i % lines.len()]).unwrap_or(0));
                    s.insert_str(at, &line);
                }
            }
        }
    }
    s
}

fn noise() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(TOKENS).prop_map(str::to_owned),
            1 => "[a-z_]{1,8}",
            1 => "\\PC{0,8}",
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

fn parse_config(text: &str) -> Result<(), String> {
    let config = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, Option<Settings>>(de).map_err(|e| e.into_inner())
    })
    .map_err(|e| e.to_string())?
    .unwrap_or_default();
    config.validate().map_err(|e| e.to_string())
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Err(message) = parse_config(text) {
        prop_assert!(!message.trim().is_empty(), "empty error for {text:?}");
    }
    Ok(())
}

fn check_scenario(text: &str) -> Result<(), TestCaseError> {
    match Scenario::parse(text, "fuzz.yaml") {
        Ok(s) => {
            // A scenario that parses yields a configuration that validates.
            prop_assert!(s.loop_config().validate().is_ok(), "{text}");
        }
        Err(e) => prop_assert!(!e.message.trim().is_empty(), "empty error for {text:?}"),
    }
    Ok(())
}

#[test]
fn the_seed_documents_parse() {
    assert_eq!(parse_config(CONFIG), Ok(()));
    assert!(Scenario::parse(SCENARIO, "budget-surge.yaml").is_ok());
    assert!(Scenario::parse(DEMO, "demo.yaml").is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn mutated_config_yaml_never_panics(edits in proptest::collection::vec(edit(), 1..6)) {
        check_config(&apply(CONFIG, &edits))?;
    }

    #[test]
    fn config_yaml_noise_never_panics(text in noise()) {
        check_config(&text)?;
    }

    #[test]
    fn mutated_scenario_yaml_never_panics(
        seed in prop_oneof![Just(SCENARIO), Just(DEMO)],
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        check_scenario(&apply(seed, &edits))?;
    }

    #[test]
    fn scenario_yaml_noise_never_panics(text in noise()) {
        check_scenario(&text)?;
    }
}

#[test]
fn deeply_nested_yaml_is_refused_not_a_stack_overflow() {
    for depth in [100, 5_000] {
        let flow = format!("seed: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(parse_config(&flow).is_err());
        assert!(Scenario::parse(&flow, "deep.yaml").is_err());
        let block: String = (0..depth.min(1_000))
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse_config(&block).is_err());
        assert!(Scenario::parse(&block, "deep.yaml").is_err());
    }
}
