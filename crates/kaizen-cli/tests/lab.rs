//! `kaizen sim run` and `kaizen sim suite` end to end: the real binary runs a scenario with and
//! without the loop and reports; bad scenario files exit 2 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::PathBuf;

use common::kaizen;

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_short_control_run_reports_both_runs_and_makes_no_proposal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args = [
        "sim",
        "run",
        "--scenario",
        &scenario("control.yaml"),
        "--agents",
        "20",
        "--days",
        "7",
        "--json",
        "-q",
    ];
    let run = || {
        let mut report = kaizen(dir.path(), &args, &[]).ok().json();
        // The only field that may differ between two runs.
        assert!(report["wall_seconds"].as_f64().is_some_and(|s| s > 0.0));
        report.as_object_mut().map(|o| o.remove("wall_seconds"));
        report
    };
    let first = run();
    assert_eq!(first["scenario"], "control", "{first:#}");
    assert_eq!(
        (first["agents"].as_u64(), first["days"].as_u64()),
        (Some(20), Some(7))
    );
    assert_eq!(first["counts"]["made"], 0, "{first:#}");
    assert!(
        first["tasks"].as_u64().is_some_and(|t| t > 500),
        "{first:#}"
    );
    // Both runs' KPIs, and every expectation checked and holding.
    for run in ["with_loop", "without_loop"] {
        assert!(first[run].is_object(), "{run}: {first:#}");
    }
    let checks = first["checks"].as_array().expect("checks");
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:#?}");
    // Deterministic for a seed: the same run gives the same report.
    assert_eq!(first, run());
}

#[test]
fn bad_scenarios_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("writing a scenario");
        name.to_owned()
    };
    let unknown = write(
        "unknown.yaml",
        "name: x\ndescription: y\nseed: 1\ndays: 7\norg:\n  agents: 10\n  agentz: 3\n",
    );
    kaizen(dir.path(), &["sim", "run", "--scenario", &unknown], &[])
        .code_is(2)
        .stderr_has(&["agentz"]);
    let bad_fault = write(
        "fault.yaml",
        "name: x\ndescription: y\nseed: 1\ndays: 7\norg:\n  agents: 10\nfaults:\n  - kind: meteor\n    at_day: 2\n",
    );
    kaizen(dir.path(), &["sim", "run", "--scenario", &bad_fault], &[])
        .code_is(2)
        .stderr_has(&["meteor"]);
    kaizen(
        dir.path(),
        &["sim", "run", "--scenario", "missing.yaml"],
        &[],
    )
    .code_is(2)
    .stderr_has(&["missing.yaml"]);
    kaizen(dir.path(), &["sim", "suite", "no-such-dir"], &[])
        .code_is(2)
        .stderr_has(&["no-such-dir"]);
}
