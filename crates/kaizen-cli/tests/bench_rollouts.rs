//! `kaizen bench rollouts`: the study matrix from the real binary, in a few runs per row.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

const KAIZEN: &str = env!("CARGO_BIN_EXE_kaizen");

fn bench(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(KAIZEN)
        .current_dir(dir.path())
        .env_remove("KAIZEN_CONFIG")
        .args(["bench", "rollouts"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_matrix_has_a_row_per_combination_with_intervals() {
    let out = bench(&[
        "--runs",
        "2",
        "--sizes",
        "12,50",
        "--designs",
        "before_after,canary",
        "--departures",
        "none,daily",
        "--effects",
        "null,quality+30",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // 2 designs × 2 departures × (2 sizes for null + 1 small size for quality+30).
    assert_eq!(rows.len(), 12);
    for r in rows {
        assert_eq!(r["report"]["runs"], 2);
        assert!(
            r["report"]["rollback_rate_ci95"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        );
        assert!(r["report"]["applied_rate_ci95"].is_array());
        assert!(r["effect"] != "quality+30" || r["agents"] == 12);
    }
    // The configured detection settings and window.
    assert_eq!(v["spec"]["window_hours"], 48);
    assert_eq!(v["spec"]["interval_hours"], 4);
    assert_eq!(v["detection"]["alpha"], 0.05);
    // Progress on stderr, a line per row.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[12/12]"), "{err}");

    let table = bench(&[
        "--runs",
        "2",
        "--sizes",
        "12",
        "--designs",
        "ab_test",
        "--departures",
        "all",
        "--effects",
        "null",
    ]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    for col in [
        "design",
        "rolled back % [95 % CI]",
        "applied %",
        "hold %",
        "median detection h",
    ] {
        assert!(text.contains(col), "{col}: {text}");
    }
    assert!(text.contains("ab_test") && text.contains("all"), "{text}");
}

#[test]
fn unknown_names_are_refused_with_the_valid_ones() {
    let out = bench(&["--departures", "none,seasonal"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown departure `seasonal`") && err.contains("heavy_tails"),
        "{err}"
    );
    let out = bench(&["--effects", "quality-40"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("quality+30"));
    let out = bench(&[
        "--designs",
        "canary",
        "--sizes",
        "50",
        "--effects",
        "quality+30",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rows"));
}
