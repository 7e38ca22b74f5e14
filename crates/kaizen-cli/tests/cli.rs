//! End-to-end tests of the `kaizen` binary: each test runs the real executable in its own
//! temporary directory with a clean environment (no `KAIZEN_*` variables leak in), so the tests
//! are hermetic and run in parallel.
//!
//! The fixtures under `tests/fixtures/` are hand-written; the expected values below are
//! computed by hand from them (see the comments next to each assertion).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const KAIZEN: &str = env!("CARGO_BIN_EXE_kaizen");

/// The window all hand-computed snapshot values refer to: one week, 2 → 9 March 2026.
const SINCE: &str = "2026-03-02T00:00:00Z";
const UNTIL: &str = "2026-03-09T00:00:00Z";

/// Keeps raw events forever: the fixtures are older than the default 90-day retention, which
/// would otherwise prune them while ingesting.
const KEEP_FOREVER: &str = "storage:\n  raw_retention_days: null\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

/// A finished run of the binary.
struct Run {
    args: Vec<String>,
    out: Output,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Fails (showing both streams) unless the exit code is `code`.
    fn code_is(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "`kaizen {}` exited with {} instead of {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }

    fn ok(self) -> Self {
        self.code_is(0)
    }

    /// Stdout parsed as JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| {
            panic!(
                "`kaizen {}` did not print JSON ({e}):\n{}",
                self.args.join(" "),
                self.stdout()
            )
        })
    }

    /// Fails unless stderr contains every one of `needles`.
    fn stderr_has(self, needles: &[&str]) -> Self {
        let err = self.stderr();
        for n in needles {
            assert!(
                err.contains(n),
                "stderr of `kaizen {}` lacks {n:?}:\n{err}",
                self.args.join(" ")
            );
        }
        self
    }
}

/// A temporary working directory to run `kaizen` in.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// An empty directory: no kaizen.yaml, so the built-in defaults apply.
    fn bare() -> Self {
        Self {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
    }

    /// A directory whose ./kaizen.yaml keeps raw events forever.
    fn new() -> Self {
        let sb = Self::bare();
        sb.write("kaizen.yaml", KEEP_FOREVER);
        sb
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// `kaizen ARGS` in this directory with only PATH and HOME set, plus `env`.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(KAIZEN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .command(args, env)
            .output()
            .unwrap_or_else(|e| panic!("running kaizen {args:?}: {e}"));
        Run {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            out,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with `input` on standard input.
    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning kaizen {args:?}: {e}"));
        let mut stdin = child.stdin.take().expect("child stdin is piped");
        stdin.write_all(input).expect("writing to kaizen's stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("waiting for kaizen");
        Run {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            out,
        }
    }

    /// `kaizen ingest --json FILE…`, expecting `code`; returns the report.
    fn ingest(&self, files: &[&Path], code: i32) -> Value {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let mut args = vec!["ingest", "--json"];
        args.extend(names.iter().map(String::as_str));
        self.run(&args).code_is(code).json()
    }

    /// `kaizen store stats --json`.
    fn stats(&self) -> Value {
        self.run(&["store", "stats", "--json"]).ok().json()
    }

    /// `kaizen snapshot --json` for the fixtures' week.
    fn snapshot(&self) -> Value {
        self.run(&["snapshot", "--since", SINCE, "--until", UNTIL, "--json"])
            .ok()
            .json()
    }
}

/// `events_by_type` of `store stats --json` (a list of `[type, count]` pairs) as a map.
fn by_type(stats: &Value) -> BTreeMap<String, u64> {
    stats["events_by_type"]
        .as_array()
        .expect("events_by_type is an array")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().expect("type name").to_owned(),
                pair[1].as_u64().expect("count"),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Asserts that the number at JSON pointer `at` is `expected` (to 1e-9).
#[track_caller]
fn assert_num(v: &Value, at: &str, expected: f64) {
    let got = v
        .pointer(at)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{at} is not a number in\n{v:#}"));
    assert!(
        (got - expected).abs() < 1e-9,
        "{at}: expected {expected}, got {got}"
    );
}

/// Asserts that the value at JSON pointer `at` is `expected` exactly.
#[track_caller]
fn assert_at(v: &Value, at: &str, expected: Value) {
    assert_eq!(v.pointer(at), Some(&expected), "at {at}");
}

/// The names of the fired rules in a `rules eval --json` (or quickstart) output.
fn fired(eval: &Value) -> Vec<String> {
    let mut names: Vec<String> = eval["matches"]
        .as_array()
        .expect("matches is an array")
        .iter()
        .map(|m| m["rule_name"].as_str().expect("rule_name").to_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// 1. init

#[test]
fn init_writes_config_and_store_and_refuses_to_overwrite() {
    let sb = Sandbox::bare();
    let run = sb.run(&["init"]).ok();
    assert!(
        run.stdout().contains("wrote kaizen.yaml"),
        "{}",
        run.stdout()
    );
    let template = sb.read("kaizen.yaml");
    assert!(template.contains("raw_retention_days: 90"), "{template}");
    assert!(
        sb.path("kaizen.db").is_file(),
        "init did not create the store"
    );
    let stats = sb.stats();
    assert_at(&stats, "/events", json!(0));
    assert_at(
        &stats,
        "/schema_version",
        json!(kaizen_store::schema::MIGRATIONS.len()),
    );

    // A second init refuses and leaves the (edited) file alone.
    sb.write("kaizen.yaml", "# mine\n");
    sb.run(&["init"])
        .code_is(2)
        .stderr_has(&["kaizen.yaml already exists", "--force"]);
    assert_eq!(sb.read("kaizen.yaml"), "# mine\n");

    // --force replaces it with the template.
    sb.run(&["init", "--force"]).ok();
    assert_eq!(sb.read("kaizen.yaml"), template);

    // --path writes elsewhere; the store follows --store.
    sb.run(&["--store", "other.db", "init", "--path", "other.yaml"])
        .ok();
    assert_eq!(sb.read("other.yaml"), template);
    assert!(sb.path("other.db").is_file());
}

// ---------------------------------------------------------------------------------------------
// 2. snapshot and rules on hand-written fixtures

#[test]
fn snapshot_matches_hand_computed_values() {
    let sb = Sandbox::new();
    let report = sb.ingest(&[&fixture("snapshot.ndjson")], 0);
    assert_at(&report, "/accepted", json!(28));
    assert_at(&report, "/rejected", json!(0));
    assert_at(&report, "/duplicates", json!(0));
    let stats = sb.stats();
    assert_at(&stats, "/events", json!(28));
    assert_eq!(
        by_type(&stats),
        counts(&[
            ("benchmark.run", 2),
            ("coordination.measured", 2),
            ("cost.recorded", 4),
            ("error.finding", 3),
            ("evolution.outcome", 3),
            ("scaling.decision", 3),
            ("scaling.outcome", 2),
            ("task.completed", 5),
            ("telemetry.event", 4),
        ])
    );
    // Every agent that completed a task, including a3 outside the window.
    assert_at(&stats, "/agents", json!(3));

    let s = sb.snapshot();
    assert_at(&s, "/window/since", json!(SINCE));
    assert_at(&s, "/window/until", json!(UNTIL));
    assert_at(&s, "/collected_at", json!(UNTIL));
    assert_at(&s, "/failed_domains", json!([]));

    // Performance: a1 (eng) 8, 6 → mean 7, 2/2 ok; a2 (ops) 4 and one unscored failure (its ts
    // is 11:00+01:00 = 10:00Z) → mean 4, 1/2 ok; a3's task is after the window.
    assert_at(&s, "/performance/agent_count", json!(2));
    assert_at(&s, "/performance/task_count", json!(4));
    assert_at(&s, "/performance/scored_task_count", json!(3));
    assert_num(&s, "/performance/avg_quality_score", (7.0 + 4.0) / 2.0);
    assert_num(&s, "/performance/avg_success_rate", (1.0 + 0.5) / 2.0);
    assert_num(&s, "/performance/avg_collaboration_score", 7.0);
    assert_num(
        &s,
        "/performance/department_summaries/eng/avg_quality_score",
        7.0,
    );
    assert_num(
        &s,
        "/performance/department_summaries/ops/avg_success_rate",
        0.5,
    );
    assert_at(
        &s,
        "/performance/department_summaries/ops/task_count",
        json!(2),
    );
    assert_at(
        &s,
        "/performance/department_summaries/ops/avg_collaboration_score",
        Value::Null,
    );
    let metrics = s["performance"]["metrics"].as_array().expect("metrics");
    let success = metrics
        .iter()
        .find(|m| m["name"] == "success_rate")
        .expect("success_rate metric");
    // First half: a1 1/1, a2 1/1 → 1; second half: a1 1/1, a2 0/1 → 0.5.
    assert_eq!(
        (
            &success["first_half"],
            &success["second_half"],
            &success["trend"]
        ),
        (&json!(1.0), &json!(0.5), &json!("declining"))
    );

    // Budget: 6 productive + 3 coordination + 1 system; the 500 USD at 23:59:59 on 1 March is
    // before the window. Tokens: coordination 800 ÷ productive 2000.
    assert_num(&s, "/budget/total_spend", 10.0);
    assert_num(&s, "/budget/productive_ratio", 0.6);
    assert_num(&s, "/budget/coordination_ratio", 0.3);
    assert_num(&s, "/budget/system_ratio", 0.1);
    assert_num(&s, "/budget/orchestration_overhead", 0.4);
    assert_num(&s, "/budget/daily_burn_usd", 10.0 / 7.0);
    assert_at(&s, "/budget/days_with_spend", json!(3));
    assert_at(&s, "/budget/days_until_exhausted", Value::Null);
    assert_at(&s, "/budget/remaining_usd", Value::Null);

    // Coordination: turns sas 10, 20 (mean 15), mas 15, 24 (mean 19.5) → ratio 1.3.
    assert_at(&s, "/coordination/sample_count", json!(2));
    assert_num(&s, "/coordination/coordination_overhead_pct", 30.0);
    assert_num(&s, "/coordination/coordination_efficiency", 0.5 / 1.3);
    assert_num(&s, "/coordination/error_amplification", 0.3 / 0.1);
    assert_num(&s, "/coordination/message_density", 40.0 / 20.0);
    assert_num(&s, "/coordination/redundancy_rate", 0.2);
    assert_num(&s, "/coordination/straggler_gap_ratio", 2.0);

    // Scaling: d1 executed, d2 failed, d3 pending.
    assert_at(&s, "/scaling/total_decisions", json!(3));
    assert_at(&s, "/scaling/decided_decisions", json!(2));
    assert_num(&s, "/scaling/success_rate", 0.5);
    assert_at(&s, "/scaling/most_common_signal", json!("queue_depth"));
    assert_at(&s, "/scaling/recent_decisions/0/decision_id", json!("d3"));
    assert_at(&s, "/scaling/recent_decisions/0/outcome", json!("pending"));

    // Errors: hallucination 3 × high; tool_misuse 2 × low + 1 × medium (avg severity 4/3).
    assert_at(&s, "/errors/total_findings", json!(6));
    assert_at(&s, "/errors/most_severe_category", json!("hallucination"));
    assert_at(
        &s,
        "/errors/severity_histogram",
        json!({"high": 3, "low": 2, "medium": 1}),
    );
    assert_at(&s, "/errors/categories/0/category", json!("hallucination"));
    assert_at(&s, "/errors/categories/0/count", json!(3));
    assert_num(&s, "/errors/categories/0/avg_severity", 3.0);
    assert_at(&s, "/errors/categories/1/category", json!("tool_misuse"));
    assert_num(&s, "/errors/categories/1/avg_severity", 4.0 / 3.0);

    // Evolution: 2 of 3 applied; prompt twice.
    assert_at(&s, "/evolution/total_proposals", json!(3));
    assert_num(&s, "/evolution/approval_rate", 2.0 / 3.0);
    assert_at(&s, "/evolution/most_adapted_axis", json!("prompt"));

    // Telemetry: tool_call × 3 (one error), llm_call × 1.
    assert_at(&s, "/telemetry/event_count", json!(4));
    assert_at(&s, "/telemetry/error_event_count", json!(1));
    assert_at(
        &s,
        "/telemetry/top_event_types",
        json!(["tool_call", "llm_call"]),
    );

    // Benchmark: core 80 then 78. With the default weekly seasonality a run is compared with
    // the same weekday a week earlier: with a day of history it is not judged.
    assert_at(&s, "/benchmark/run_count", json!(2));
    assert_num(&s, "/benchmark/latest_total", 78.0);
    assert_num(&s, "/benchmark/max_total", 80.0);
    assert_at(&s, "/benchmark/delta", Value::Null);
    assert_at(&s, "/benchmark/baseline_at", Value::Null);
    assert_at(&s, "/benchmark/is_regression", json!(false));

    // Every value above stays just on the safe side of its rule's threshold.
    let eval = sb
        .run(&[
            "rules", "eval", "--since", SINCE, "--until", UNTIL, "--json",
        ])
        .ok()
        .json();
    assert_eq!(fired(&eval), Vec::<String>::new());
    assert_at(&eval, "/failures", json!([]));

    // The table rendering shows the same numbers.
    let text = sb
        .run(&["snapshot", "--since", SINCE, "--until", UNTIL])
        .ok()
        .stdout();
    for needle in [
        "(2 agents, 4 tasks, 3 scored)",
        "$10.00",
        "30.0%",
        "(6 findings",
    ] {
        assert!(
            text.contains(needle),
            "snapshot table lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn rules_eval_fires_exactly_budget_overrun_and_error_spike() {
    let sb = Sandbox::new();
    let report = sb.ingest(&[&fixture("rules.ndjson")], 0);
    assert_at(&report, "/accepted", json!(13));

    // 11 findings > 10; burn 70 USD / 7 days = 10/day, remaining 50 − 10 spent after the status
    // → 4 days ≤ 14. Overhead 30%, redundancy 0.3 and straggler gap 2.0 sit at or under their
    // thresholds (the comparisons are strict), quality 9 and success 1.0 are healthy.
    let eval = sb
        .run(&[
            "rules", "eval", "--since", SINCE, "--until", UNTIL, "--json",
        ])
        .ok()
        .json();
    assert_eq!(fired(&eval), ["budget_overrun", "error_spike"]);
    let matches = eval["matches"].as_array().expect("matches");
    let by_name = |name: &str| {
        matches
            .iter()
            .find(|m| m["rule_name"] == name)
            .unwrap_or_else(|| panic!("{name} did not fire"))
            .clone()
    };
    let spike = by_name("error_spike");
    assert_at(&spike, "/signal_context/total_findings", json!(11));
    assert_at(&spike, "/signal_context/threshold", json!(10));
    assert_at(&spike, "/severity", json!("warning"));
    let overrun = by_name("budget_overrun");
    assert_at(&overrun, "/signal_context/days_until_exhausted", json!(4));
    assert_at(&overrun, "/severity", json!("critical"));
    assert_num(&overrun, "/signal_context/total_spend", 70.0);
    assert_at(&overrun, "/matched_at", json!(UNTIL));

    // A day shorter: 10 findings is not a spike, and no budget status precedes the window end.
    let eval = sb
        .run(&[
            "rules",
            "eval",
            "--since",
            SINCE,
            "--until",
            "2026-03-08T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(fired(&eval), Vec::<String>::new());

    // A disabled rule does not fire.
    let eval = sb
        .run_env(
            &[
                "rules", "eval", "--since", SINCE, "--until", UNTIL, "--json",
            ],
            &[("KAIZEN__RULES__DISABLED", "[error_spike]")],
        )
        .ok()
        .json();
    assert_eq!(fired(&eval), ["budget_overrun"]);

    // The table names both rules.
    let text = sb
        .run(&["rules", "eval", "--since", SINCE, "--until", UNTIL])
        .ok()
        .stdout();
    assert!(text.contains("2 rule(s) fired"), "{text}");
    assert!(
        text.contains("budget_overrun") && text.contains("error_spike"),
        "{text}"
    );
}

#[test]
fn rules_list_lists_ten_rules() {
    let sb = Sandbox::bare();
    let list = sb.run(&["rules", "list", "--json"]).ok().json();
    let rules = list["rules"].as_array().expect("rules is an array");
    let names: Vec<&str> = rules
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "quality_declining",
            "success_rate_drop",
            "budget_overrun",
            "coordination_cost_ratio",
            "coordination_overhead",
            "straggler_bottleneck",
            "redundancy",
            "scaling_failure",
            "error_spike",
            "benchmark_regression",
        ]
    );
    assert!(rules.iter().all(|r| r["enabled"] == json!(true)));
    assert_at(&list, "/thresholds/error_spike_findings", json!(10));
    assert_at(&list, "/thresholds/budget_overrun_days", json!(14));

    let list = sb
        .run_env(
            &["rules", "list", "--json"],
            &[("KAIZEN__RULES__DISABLED", "[redundancy]")],
        )
        .ok()
        .json();
    let disabled: Vec<&str> = list["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["enabled"] == json!(false))
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(disabled, ["redundancy"]);

    let text = sb.run(&["rules", "list"]).ok().stdout();
    assert!(text.contains("benchmark_regression"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 3. bad input

/// The rejected lines of `bad.ndjson`: (line, field, part of the message).
const BAD_REJECTIONS: [(u64, Option<&str>, &str); 8] = [
    (2, None, "invalid JSON"),
    (3, Some("success"), "expected a boolean"),
    (4, Some("quality_score"), "between 0 and 10, got 11"),
    (5, Some("cost_usd"), "from 0 to 1e12, got -1"),
    (6, Some("severity"), "unknown variant `catastrophic`"),
    (7, Some("ts"), "with a zone"),
    (9, Some("colour"), "unknown field `colour`"),
    (10, Some("type"), "unknown event type \"task.exploded\""),
];

#[test]
fn ingest_stores_exactly_the_valid_records_and_reports_the_rest() {
    let sb = Sandbox::new();
    let file = fixture("bad.ndjson");
    let run = sb
        .run(&[
            "ingest",
            "--json",
            "--rejects",
            "rejects.ndjson",
            &file.display().to_string(),
        ])
        .code_is(3);
    let report = run.json();
    // 14 lines, one blank → 13 records: 4 stored, 1 duplicate id (line 12 repeats b1), 8 bad.
    assert_at(&report, "/accepted", json!(4));
    assert_at(&report, "/duplicates", json!(1));
    assert_at(&report, "/rejected", json!(8));
    assert_at(&report, "/pruned_raw_events", json!(0));
    let f = &report["files"][0];
    assert_at(f, "/records", json!(13));
    assert_at(
        f,
        "/accepted_by_type",
        json!({"cost.recorded": 1, "error.finding": 1, "task.completed": 1, "telemetry.event": 1}),
    );
    let rejections = f["rejections"].as_array().expect("rejections");
    assert_eq!(rejections.len(), BAD_REJECTIONS.len(), "{rejections:#?}");
    for (r, (line, field, message)) in rejections.iter().zip(BAD_REJECTIONS) {
        assert_eq!(r["line"], json!(line), "{r}");
        assert_eq!(r["field"], json!(field), "{r}");
        let got = r["message"].as_str().expect("message");
        assert!(
            got.contains(message),
            "line {line}: {got:?} lacks {message:?}"
        );
    }
    // Records are numbered without the blank line 8.
    assert_at(&rejections[6], "/record", json!(8));

    let stats = sb.stats();
    assert_at(&stats, "/events", json!(4));
    assert_eq!(
        by_type(&stats),
        counts(&[
            ("cost.recorded", 1),
            ("error.finding", 1),
            ("task.completed", 1),
            ("telemetry.event", 1),
        ])
    );
    // The first b1 won: a1, not the duplicate's a9.
    assert_at(&stats, "/agents", json!(1));

    // The rejects file holds exactly the rejected lines, verbatim, in order.
    let text = fixture_text("bad.ndjson");
    let lines: Vec<&str> = text.lines().collect();
    let expected: String = BAD_REJECTIONS
        .iter()
        .map(|(line, _, _)| format!("{}\n", lines[*line as usize - 1]))
        .collect();
    assert_eq!(sb.read("rejects.ndjson"), expected);

    // Without --json: a summary on stdout and `file:line N: field …` on stderr.
    let sb2 = Sandbox::new();
    let run = sb2
        .run(&["ingest", &file.display().to_string()])
        .code_is(3)
        .stderr_has(&[
            "bad.ndjson:line 4: field `quality_score`",
            "bad.ndjson:line 10: field `type`",
        ]);
    assert!(
        run.stdout()
            .contains("13 records, 4 accepted, 1 duplicates skipped, 8 rejected"),
        "{}",
        run.stdout()
    );
}

#[test]
fn reingesting_stores_nothing_new_and_counts_duplicates() {
    let sb = Sandbox::new();
    let bad = fixture("bad.ndjson");
    sb.ingest(&[&bad], 3);

    // Every valid record has an id, so a second run stores nothing: the 4 stored ids and the
    // in-file duplicate are all duplicates now; the 8 bad lines are still rejected.
    let report = sb.ingest(&[&bad], 3);
    assert_at(&report, "/accepted", json!(0));
    assert_at(&report, "/duplicates", json!(5));
    assert_at(&report, "/rejected", json!(8));
    assert_at(&sb.stats(), "/events", json!(4));

    // Across files: a new file repeating b2 and b4 and adding one new event.
    sb.write(
        "more.ndjson",
        concat!(
            r#"{"type":"cost.recorded","id":"b2","ts":"2026-03-05T11:00:00Z","agent_id":"a1","category":"system","cost_usd":99}"#,
            "\n",
            r#"{"type":"telemetry.event","id":"n1","ts":"2026-03-05T12:00:00Z","event_type":"tool_call"}"#,
            "\r\n",
            r#"{"type":"error.finding","id":"b4","ts":"2026-03-03T13:00:00Z","category":"tool_misuse","severity":"low","count":2}"#,
            "\n",
        ),
    );
    let report = sb.ingest(&[&sb.path("more.ndjson")], 0);
    assert_at(&report, "/accepted", json!(1));
    assert_at(&report, "/duplicates", json!(2));
    assert_at(&report, "/rejected", json!(0));
    let stats = sb.stats();
    assert_at(&stats, "/events", json!(5));
    assert_eq!(by_type(&stats)["telemetry.event"], 2);
    assert_eq!(by_type(&stats)["cost.recorded"], 1);

    // Two files in one call are reported separately and summed.
    let report = sb.ingest(&[&bad, &sb.path("more.ndjson")], 3);
    assert_eq!(report["files"].as_array().map(Vec::len), Some(2));
    assert_at(&report, "/duplicates", json!(8));
    assert_at(&report, "/accepted", json!(0));
}

#[test]
fn json_array_with_one_bad_element_stores_the_others() {
    let sb = Sandbox::new();
    let file = fixture("one_bad.json");
    let report = sb
        .run(&[
            "ingest",
            "--json",
            "--rejects",
            "rejects.txt",
            &file.display().to_string(),
        ])
        .code_is(3)
        .json();
    assert_at(&report, "/accepted", json!(2));
    assert_at(&report, "/rejected", json!(1));
    let r = &report["files"][0]["rejections"][0];
    // The bad element starts on line 3, is the array's second element, and its `error` is a string.
    assert_eq!(
        (&r["line"], &r["record"], &r["field"]),
        (&json!(3), &json!(2), &json!("error"))
    );
    let stats = sb.stats();
    assert_eq!(
        by_type(&stats),
        counts(&[("benchmark.run", 1), ("telemetry.event", 1)])
    );
    // The rejects file holds the bad element.
    let rejected: Value =
        serde_json::from_str(&sb.read("rejects.txt")).expect("the rejects file holds the element");
    assert_at(&rejected, "/id", json!("j2"));
    assert_at(&rejected, "/error", json!("maybe"));
}

#[test]
fn malformed_json_array_stores_nothing() {
    let sb = Sandbox::new();
    let report = sb.ingest(&[&fixture("malformed.json")], 3);
    assert_at(&report, "/accepted", json!(0));
    assert_at(&report, "/rejected", json!(1));
    let r = &report["files"][0]["rejections"][0];
    // The missing comma is noticed at the start of line 4.
    assert_at(r, "/line", json!(4));
    let message = r["message"].as_str().expect("message");
    assert!(message.contains("nothing was stored"), "{message}");
    assert_at(&sb.stats(), "/events", json!(0));
}

#[test]
fn dash_reads_standard_input() {
    let sb = Sandbox::new();
    let input = fixture_text("rules.ndjson");
    let run = sb
        .run_stdin(&["ingest", "--json", "-"], input.as_bytes())
        .ok();
    let report = run.json();
    assert_at(&report, "/accepted", json!(13));
    assert_at(&report, "/files/0/file", json!("-"));
    let stats = sb.stats();
    assert_at(&stats, "/events", json!(13));
    assert_eq!(by_type(&stats)["cost.recorded"], 7);

    // A JSON array on stdin works too (auto-detected), and stdin cannot be named twice.
    let array = format!(
        "[{}]",
        fixture_text("snapshot.ndjson")
            .trim_end()
            .replace('\n', ",\n")
    );
    let report = sb
        .run_stdin(&["ingest", "--json", "-"], array.as_bytes())
        .ok()
        .json();
    assert_at(&report, "/accepted", json!(28));
    assert_at(&sb.stats(), "/events", json!(41));
    sb.run_stdin(&["ingest", "-", "-"], b"")
        .code_is(2)
        .stderr_has(&["only once"]);
}

#[test]
fn ingest_prunes_raw_events_past_the_default_retention() {
    // No kaizen.yaml: the default 90-day retention applies, and these events are from 2000.
    let sb = Sandbox::bare();
    sb.write(
        "old.ndjson",
        concat!(
            r#"{"type":"telemetry.event","id":"o1","ts":"2000-01-03T10:00:00Z","event_type":"tool_call"}"#,
            "\n",
            r#"{"type":"telemetry.event","id":"o2","ts":"2000-01-03T11:00:00Z","event_type":"tool_call","error":true}"#,
            "\n",
        ),
    );
    let report = sb.ingest(&[&sb.path("old.ndjson")], 0);
    assert_at(&report, "/accepted", json!(2));
    assert_at(&report, "/pruned_raw_events", json!(2));
    let stats = sb.stats();
    assert_at(&stats, "/events", json!(0));
    assert!(stats["pruned_before"].is_string(), "{stats:#}");
    // The rollups survive.
    let s = sb
        .run(&[
            "snapshot",
            "--until",
            "2000-01-04T00:00:00Z",
            "--window",
            "1d",
            "--json",
        ])
        .ok()
        .json();
    assert_at(&s, "/telemetry/event_count", json!(2));
    assert_at(&s, "/telemetry/error_event_count", json!(1));
}

// ---------------------------------------------------------------------------------------------
// 4. usage and configuration errors

#[test]
fn configuration_errors_exit_2_naming_the_problem() {
    let sb = Sandbox::bare();
    sb.write("bad.yaml", "storage:\n  pth: x.db\n");
    sb.run(&["--config", "bad.yaml", "config", "show"])
        .code_is(2)
        .stderr_has(&["bad.yaml:2:3", "storage.pth", "unknown field `pth`"]);

    // The same file found as ./kaizen.yaml, and named by $KAIZEN_CONFIG.
    sb.write("kaizen.yaml", "storage:\n  pth: x.db\n");
    sb.run(&["store", "stats"])
        .code_is(2)
        .stderr_has(&["kaizen.yaml:2:3", "unknown field `pth`"]);
    sb.run_env(&["config", "show"], &[("KAIZEN_CONFIG", "missing.yaml")])
        .code_is(2)
        .stderr_has(&["missing.yaml", "$KAIZEN_CONFIG", "does not exist"]);
    sb.run(&["--config", "absent.yaml", "rules", "list"])
        .code_is(2)
        .stderr_has(&["absent.yaml does not exist"]);
    std::fs::remove_file(sb.path("kaizen.yaml")).expect("removing kaizen.yaml");

    // Environment overrides: a bad value, an out-of-range value, an unknown key.
    sb.run_env(
        &["config", "show"],
        &[("KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS", "abc")],
    )
    .code_is(2)
    .stderr_has(&[
        "KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS=\"abc\"",
        "signals.default_window_days",
    ]);
    sb.run_env(
        &["snapshot"],
        &[("KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS", "0")],
    )
    .code_is(2)
    .stderr_has(&["signals.default_window_days: expected an integer >= 1, found 0"]);
    sb.run_env(&["config", "show"], &[("KAIZEN__STORAGE__PTH", "x.db")])
        .code_is(2)
        .stderr_has(&["KAIZEN__STORAGE__PTH: unknown key `pth` under storage"]);
    sb.run_env(
        &["rules", "list"],
        &[("KAIZEN__RULES__DISABLED", "[no_such_rule]")],
    )
    .code_is(2)
    .stderr_has(&["no_such_rule"]);
}

#[test]
fn keys_of_unavailable_features_exit_2_naming_the_key() {
    let sb = Sandbox::bare();
    // The defaults load without a word on stderr, and show those features as off.
    let run = sb.run(&["config", "show", "--json"]).ok();
    assert_eq!(run.stderr(), "");
    let v = run.json();
    for key in [
        "/self_improvement/chief_of_staff_enabled",
        "/self_improvement/code_modification_enabled",
        "/self_improvement/cross_deployment_analytics/enabled",
    ] {
        assert_at(&v, key, json!(false));
    }

    // In a file: every key named, with the file.
    sb.write(
        "on.yaml",
        "self_improvement:\n  chief_of_staff_enabled: true\n",
    );
    sb.run(&["--config", "on.yaml", "config", "show"])
        .code_is(2)
        .stderr_has(&[
            "invalid configuration in on.yaml",
            "self_improvement.chief_of_staff_enabled: the chief of staff is not available yet",
        ]);

    // From the environment, for any command that loads the configuration.
    sb.run_env(
        &["rules", "list"],
        &[(
            "KAIZEN__SELF_IMPROVEMENT__CROSS_DEPLOYMENT_ANALYTICS__ENABLED",
            "true",
        )],
    )
    .code_is(2)
    .stderr_has(&[
        "with overrides from KAIZEN__SELF_IMPROVEMENT__CROSS_DEPLOYMENT_ANALYTICS__ENABLED",
        "self_improvement.cross_deployment_analytics.enabled: cross-deployment analytics is not \
         available yet; remove the key or set it to false",
    ]);
    sb.run_env(
        &["config", "show"],
        &[(
            "KAIZEN__SELF_IMPROVEMENT__CODE_MODIFICATION_ENABLED",
            "true",
        )],
    )
    .code_is(2)
    .stderr_has(&[
        "self_improvement.code_modification_enabled: code-modification proposals are not \
         available yet",
    ]);
}

#[test]
fn window_errors_exit_2_naming_the_problem() {
    let sb = Sandbox::new();
    sb.run(&["snapshot", "--since", UNTIL, "--until", SINCE])
        .code_is(2)
        .stderr_has(&["the window is empty", "--since"]);
    sb.run(&["rules", "eval", "--since", SINCE, "--until", SINCE])
        .code_is(2)
        .stderr_has(&["the window is empty"]);
    for bad in ["7x", "0d", "-3h", "d", "99999999d", "3 fortnights"] {
        sb.run(&["snapshot", &format!("--window={bad}")])
            .code_is(2)
            .stderr_has(&["--window", bad]);
    }
    // Durations are humantime's: weeks and compound spans work too.
    for good in ["1w", "1h 30m", "2days"] {
        sb.run(&["snapshot", &format!("--window={good}")]).ok();
    }
    sb.run(&["snapshot", "--since", SINCE, "--window", "1d"])
        .code_is(2)
        .stderr_has(&["--since or --window, not both"]);
    sb.run(&[
        "snapshot",
        "--since",
        "2026-03-02T00:00:00",
        "--until",
        UNTIL,
    ])
    .code_is(2)
    .stderr_has(&["--since", "with a zone"]);
    sb.run(&["store", "prune", "--before", "yesterday"])
        .code_is(2)
        .stderr_has(&["--before"]);
    // Valid durations are accepted.
    for ok in ["7d", "36h", "90m"] {
        sb.run(&["snapshot", "--until", UNTIL, "--window", ok, "--json"])
            .ok();
    }
}

#[test]
fn bad_faults_missing_files_and_bad_flags_exit_2() {
    let sb = Sandbox::bare();
    sb.run(&["sim", "generate", "--inject", "meteor", "-o", "x.ndjson"])
        .code_is(2)
        .stderr_has(&["--inject \"meteor\"", "unknown fault", "budget-overrun"]);
    assert!(
        !sb.path("x.ndjson").exists(),
        "a failed generate wrote its output"
    );
    sb.run(&["quickstart", "--inject", "meteor", "--dir", "qs"])
        .code_is(2)
        .stderr_has(&["--inject \"meteor\""]);
    assert!(!sb.path("qs/kaizen.db").exists());
    sb.run(&["sim", "generate", "--end", "tomorrow", "-o", "x.ndjson"])
        .code_is(2)
        .stderr_has(&["--end"]);

    sb.run(&["ingest", "nowhere.ndjson"])
        .code_is(2)
        .stderr_has(&["nowhere.ndjson: no such file"]);
    // The input files are checked before the store is opened, so no store is created.
    assert!(!sb.path("kaizen.db").exists());

    // clap's own usage errors.
    sb.run(&[]).code_is(2);
    sb.run(&["ingest"]).code_is(2).stderr_has(&["FILE"]);
    sb.run(&["frobnicate"]).code_is(2);
    sb.run(&["snapshot", "--bogus"])
        .code_is(2)
        .stderr_has(&["--bogus"]);
    sb.run(&["ingest", "--format", "xml", "f"]).code_is(2);
}

#[test]
fn help_works_for_every_command() {
    let sb = Sandbox::bare();
    let top = sb.run(&["--help"]).ok().stdout();
    for cmd in [
        "quickstart",
        "init",
        "ingest",
        "snapshot",
        "rules",
        "sim",
        "store",
        "config",
        "bench",
        "org",
        "cycle",
        "proposals",
        "rollouts",
        "agents",
        "alerts",
    ] {
        assert!(top.contains(cmd), "top-level help lacks {cmd}:\n{top}");
    }
    let commands: [&[&str]; 45] = [
        &["quickstart"],
        &["init"],
        &["ingest"],
        &["snapshot"],
        &["rules"],
        &["rules", "list"],
        &["rules", "eval"],
        &["sim"],
        &["sim", "generate"],
        &["store"],
        &["store", "stats"],
        &["store", "rebuild-rollups"],
        &["store", "prune"],
        &["config"],
        &["config", "show"],
        &["bench"],
        &["bench", "ingest"],
        &["bench", "snapshot"],
        &["bench", "rollouts"],
        &["bench", "effective-config"],
        &["proposals"],
        &["proposals", "list"],
        &["proposals", "show"],
        &["proposals", "approve"],
        &["proposals", "reject"],
        &["proposals", "preview"],
        &["proposals", "rollback"],
        &["rollouts"],
        &["rollouts", "list"],
        &["rollouts", "show"],
        &["rollouts", "start"],
        &["rollouts", "tick"],
        &["rollouts", "decide"],
        &["agents"],
        &["agents", "config"],
        &["alerts"],
        &["alerts", "list"],
        &["alerts", "ack"],
        &["alerts", "deliver"],
        &["alerts", "outbox"],
        &["cycle", "run"],
        &["sim", "run"],
        &["sim", "suite"],
        &["demo"],
        &["mcp"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = sb.run(&args).ok().stdout();
        let usage = format!("Usage: kaizen {}", cmd.join(" "));
        assert!(
            out.contains(&usage),
            "`{}` lacks {usage:?}:\n{out}",
            args.join(" ")
        );
    }
    // `help SUBCOMMAND` and -h too.
    let out = sb.run(&["help", "store", "prune"]).ok().stdout();
    assert!(out.contains("--before"), "{out}");
    sb.run(&["ingest", "-h"]).ok();
    let version = sb.run(&["--version"]).ok().stdout();
    assert!(version.starts_with("kaizen "), "{version}");
    // Help never touches the store.
    assert!(!sb.path("kaizen.db").exists());
}

#[test]
fn alerts_are_empty_on_a_fresh_store_and_unknown_ones_cannot_be_acknowledged() {
    let sb = Sandbox::bare();
    let out = sb.run(&["alerts", "list"]).ok().stdout();
    assert_eq!(out, "no unacknowledged alerts\n");
    let out = sb.run(&["alerts", "list", "--all"]).ok().stdout();
    assert_eq!(out, "no alerts\n");
    assert_eq!(sb.run(&["alerts", "list", "--json"]).ok().json(), json!([]));
    assert_eq!(
        sb.run(&["alerts", "list", "--all", "--json"]).ok().json(),
        json!([])
    );
    sb.run(&["alerts", "ack", "1", "--as", "ana"])
        .code_is(2)
        .stderr_has(&["no unacknowledged alert with id 1"]);
    sb.run(&["alerts", "ack", "x"])
        .code_is(2)
        .stderr_has(&["invalid value 'x'"]);
}

// ---------------------------------------------------------------------------------------------
// 5. simulation and quickstart

#[test]
fn sim_generate_is_deterministic() {
    let sb = Sandbox::bare();
    let gen_args = |seed: &str, out: &str| -> Vec<String> {
        [
            "sim",
            "generate",
            "--agents",
            "4",
            "--days",
            "2",
            "--seed",
            seed,
            "--end",
            "2026-03-09T00:00:00Z",
            "--inject",
            "error-spike",
            "-o",
            out,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let gen_run = |seed: &str, out: &str| {
        let args = gen_args(seed, out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sb.run(&args).ok()
    };
    let run = gen_run("5", "a.ndjson");
    assert!(run.stderr().contains("a.ndjson"), "{}", run.stderr());
    gen_run("5", "b.ndjson");
    gen_run("6", "c.ndjson");
    let a = std::fs::read(sb.path("a.ndjson")).expect("a.ndjson");
    let b = std::fs::read(sb.path("b.ndjson")).expect("b.ndjson");
    let c = std::fs::read(sb.path("c.ndjson")).expect("c.ndjson");
    assert!(!a.is_empty());
    assert!(a == b, "same --seed and --end gave different bytes");
    assert!(a != c, "a different --seed gave the same bytes");

    // `-o -` writes the same bytes to stdout.
    let args = gen_args("5", "-");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sb.run(&args).ok();
    assert!(run.out.stdout == a, "stdout output differs from the file");

    // Every generated event is valid and lies before --end.
    let sbi = Sandbox::new();
    let report = sbi.ingest(&[&sb.path("a.ndjson")], 0);
    let lines = String::from_utf8_lossy(&a).lines().count() as u64;
    assert_at(&report, "/accepted", json!(lines));
    let newest = sbi.stats()["newest_event"]
        .as_str()
        .expect("newest_event")
        .to_owned();
    assert!(newest.as_str() < "2026-03-09T00:00:00Z", "{newest}");
}

#[test]
fn quickstart_prints_snapshot_and_fires_default_faults() {
    let sb = Sandbox::bare();
    let run = sb
        .run(&["quickstart", "--dir", "qs", "--agents", "20", "--days", "8"])
        .ok();
    let out = run.stdout();
    for needle in [
        "Signal snapshot",
        "Performance",
        "Budget",
        "Coordination",
        "rule(s) fired",
        "budget_overrun",
        "coordination_overhead",
    ] {
        assert!(
            out.contains(needle),
            "quickstart output lacks {needle:?}:\n{out}"
        );
    }
    assert!(sb.path("qs/kaizen.db").is_file());
    assert!(sb.path("qs/events.ndjson").is_file());
    // The progress lines go to stderr.
    assert!(run.stderr().contains("[1/3]"), "{}", run.stderr());

    // A second run into the same directory refuses.
    sb.run(&["quickstart", "--dir", "qs", "--agents", "20", "--days", "8"])
        .code_is(2)
        .stderr_has(&["already exists"]);
}

#[test]
fn quickstart_json_parses_and_lists_matches() {
    let sb = Sandbox::bare();
    let run = sb
        .run(&[
            "quickstart",
            "--dir",
            "qs",
            "--agents",
            "20",
            "--days",
            "8",
            "--json",
        ])
        .ok();
    let v = run.json();
    let names = fired(&v);
    assert!(
        names.contains(&"budget_overrun".to_owned())
            && names.contains(&"coordination_overhead".to_owned()),
        "{names:?}"
    );
    assert_at(&v, "/ingest/rejected", json!(0));
    assert!(
        v["snapshot"]["performance"]["agent_count"].as_u64() > Some(0),
        "{v:#}"
    );
    assert_at(&v, "/failures", json!([]));
    // --json prints nothing else on stdout, and no progress on stderr.
    assert!(!run.stderr().contains("[1/3]"), "{}", run.stderr());

    // A healthy org fires neither of the default faults' rules.
    let v = sb
        .run(&[
            "quickstart",
            "--dir",
            "healthy",
            "--agents",
            "20",
            "--days",
            "8",
            "--inject",
            "none",
            "--json",
        ])
        .ok()
        .json();
    let names = fired(&v);
    assert!(
        !names.contains(&"budget_overrun".to_owned())
            && !names.contains(&"coordination_overhead".to_owned()),
        "{names:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. store maintenance

#[test]
fn rebuild_and_prune_keep_the_snapshot_identical() {
    let sb = Sandbox::new();
    sb.ingest(&[&fixture("snapshot.ndjson")], 0);
    let before = sb.snapshot();
    let stats = sb.stats();

    let run = sb.run(&["store", "rebuild-rollups"]).ok();
    assert!(
        run.stdout().contains("rebuilt rollups from 28 raw events"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        sb.snapshot(),
        before,
        "rebuild-rollups changed the snapshot"
    );
    let rebuilt = sb.stats();
    for key in ["events", "rollup_rows", "rollup_keys", "agents"] {
        assert_eq!(
            rebuilt[key], stats[key],
            "{key} changed after rebuild-rollups"
        );
    }

    // 17 of the 28 events are before 6 March (see the fixture).
    let run = sb
        .run(&["store", "prune", "--before", "2026-03-06T00:00:00Z"])
        .ok();
    assert!(
        run.stdout().contains("pruned 17 raw events"),
        "{}",
        run.stdout()
    );
    let pruned = sb.stats();
    assert_at(&pruned, "/events", json!(11));
    assert_at(&pruned, "/pruned_before", json!("2026-03-06T00:00:00Z"));
    assert_eq!(pruned["rollup_rows"], stats["rollup_rows"]);
    assert_eq!(sb.snapshot(), before, "prune changed the snapshot");

    // Rebuilding now would lose the pruned history.
    sb.run(&["store", "rebuild-rollups"])
        .code_is(1)
        .stderr_has(&["pruned", "--force"]);
    assert_eq!(
        sb.snapshot(),
        before,
        "a refused rebuild changed the snapshot"
    );

    // --force rebuilds from what is left: a1's 6 March task and a2's failure remain.
    sb.run(&["store", "rebuild-rollups", "--force"]).ok();
    let after = sb.snapshot();
    assert_num(&after, "/performance/avg_success_rate", 0.5);
    assert_at(&after, "/performance/task_count", json!(2));
    assert_num(&after, "/budget/total_spend", 1.0);

    // Pruning with nothing old enough deletes nothing.
    let run = sb
        .run(&["store", "prune", "--before", "2026-03-01T00:00:00Z"])
        .ok();
    assert!(
        run.stdout().contains("pruned 0 raw events"),
        "{}",
        run.stdout()
    );

    // Without --before, retention null refuses to prune.
    sb.run(&["store", "prune"])
        .code_is(2)
        .stderr_has(&["raw_retention_days", "--before"]);
}

// ---------------------------------------------------------------------------------------------
// 7. config show

#[test]
fn config_show_reflects_env_overrides() {
    let sb = Sandbox::bare();
    let defaults = sb.run(&["config", "show", "--json"]).ok().json();
    assert_at(&defaults, "/signals/default_window_days", json!(7));
    assert_at(&defaults, "/storage/raw_retention_days", json!(90));

    let v = sb
        .run_env(
            &["config", "show", "--json"],
            &[("KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS", "3")],
        )
        .ok()
        .json();
    assert_at(&v, "/signals/default_window_days", json!(3));
    // Nothing else changed.
    let mut expected = defaults.clone();
    expected["signals"]["default_window_days"] = json!(3);
    assert_eq!(v, expected);

    // Lower-case variable names work, the file is read first, and the env wins over it.
    sb.write(
        "kaizen.yaml",
        "signals:\n  default_window_days: 5\n  trend_tolerance: 0.1\n",
    );
    let v = sb.run(&["config", "show", "--json"]).ok().json();
    assert_at(&v, "/signals/default_window_days", json!(5));
    let v = sb
        .run_env(
            &["config", "show", "--json"],
            &[("kaizen__signals__default_window_days", "3")],
        )
        .ok()
        .json();
    assert_at(&v, "/signals/default_window_days", json!(3));
    assert_num(&v, "/signals/trend_tolerance", 0.1);

    // The YAML rendering shows the override as well.
    let text = sb
        .run_env(
            &["config", "show"],
            &[("KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS", "3")],
        )
        .ok()
        .stdout();
    assert!(text.contains("default_window_days: 3"), "{text}");

    // And the default window follows it: 3 days back from --until.
    let s = sb
        .run_env(
            &["snapshot", "--until", UNTIL, "--json"],
            &[("KAIZEN__SIGNALS__DEFAULT_WINDOW_DAYS", "3")],
        )
        .ok()
        .json();
    assert_at(&s, "/window/since", json!("2026-03-06T00:00:00Z"));
}

// ---------------------------------------------------------------------------------------------
// tokens and the audit log

/// Whether `haystack` contains `needle`, byte for byte.
fn bytes_contain(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn token_create_list_revoke_and_the_audit_log() {
    let sb = Sandbox::bare();
    for cmd in [
        &["token"][..],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["audit"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = sb.run(&args).ok().stdout();
        assert!(
            out.contains(&format!("Usage: kaizen {}", cmd.join(" "))),
            "{out}"
        );
    }

    // --json includes the secret; the warning goes to stderr.
    let run = sb
        .run(&[
            "token",
            "create",
            "--principal",
            "ana",
            "--kind",
            "human",
            "--cap",
            "*",
            "--as",
            "root",
            "--json",
        ])
        .ok()
        .stderr_has(&["only time the secret is shown"]);
    let created = run.json();
    let admin_id = created["id"].as_str().unwrap().to_owned();
    let admin_secret = created["secret"].as_str().unwrap().to_owned();
    assert!(admin_id.starts_with("tok_"), "{created}");
    assert!(admin_secret.starts_with("kz_") && admin_secret.len() == 46);
    assert_eq!(created["principal"], "ana");
    assert_eq!(created["kind"], "human");
    assert_eq!(created["capabilities"], json!(["*"]));
    assert_eq!(created["created_by"], "root");
    assert_eq!(created["expires_at"], Value::Null);

    // Plain output: a summary line, then the secret alone on the last line. Patterns are
    // shown canonical; the creator defaults to $USER.
    let out = sb
        .run_env(
            &[
                "token",
                "create",
                "--principal",
                "bot-7",
                "--kind",
                "agent",
                "--cap",
                " *:READ ",
                "--cap",
                "proposals:write",
                "--cap",
                "!org:*",
                "--expires-in",
                "30d",
            ],
            &[("USER", "carol")],
        )
        .ok()
        .stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("created token tok_")
            && lines[0].contains("for bot-7 (agent): *:read, proposals:write, !org:*; expires "),
        "{out}"
    );
    let bot_secret = lines[1].to_owned();
    assert!(
        bot_secret.starts_with("kz_") && bot_secret.len() == 46,
        "{out}"
    );
    let bot_id = lines[0].split_whitespace().nth(2).unwrap().to_owned();

    // Listing: newest first, with state; never a secret or a hash.
    let list = sb.run(&["token", "list", "--json"]).ok();
    let text = list.stdout();
    assert!(!text.contains(&admin_secret) && !text.contains(&bot_secret));
    assert!(!text.contains("hash") && !text.contains("secret"), "{text}");
    let v = list.json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["id"], bot_id.as_str());
    assert_eq!(v[0]["state"], "active");
    assert_eq!(v[0]["created_by"], "carol");
    assert_eq!(
        v[0]["capabilities"],
        json!(["*:read", "proposals:write", "!org:*"])
    );
    assert!(v[0]["expires_at"].is_string());
    assert_eq!(v[1]["id"], admin_id.as_str());
    let table = sb.run(&["token", "list"]).ok().stdout();
    assert!(
        table.contains(&admin_id) && table.contains(&bot_id),
        "{table}"
    );
    assert!(table.contains("never"), "{table}");

    // The last human admin token cannot be revoked, locally either; once another exists it can.
    sb.run(&["token", "revoke", &admin_id, "--as", "bo"])
        .code_is(2)
        .stderr_has(&["last active human token", "Issue a replacement first"]);
    let dan = sb
        .run(&[
            "token",
            "create",
            "--principal",
            "dan",
            "--kind",
            "human",
            "--cap",
            "*",
            "--as",
            "bo",
            "--json",
        ])
        .ok()
        .json();
    let dan_id = dan["id"].as_str().unwrap().to_owned();

    // Revoke, then revoke again (refused), then an unknown id (refused).
    let out = sb
        .run(&["token", "revoke", &admin_id, "--as", "bo"])
        .ok()
        .stdout();
    assert_eq!(out, format!("revoked token {admin_id} as bo\n"));
    sb.run(&["token", "revoke", &admin_id, "--as", "bo"])
        .code_is(2)
        .stderr_has(&[&format!("token {admin_id} was already revoked"), "by bo"]);
    sb.run(&["token", "revoke", "tok_000000000000", "--as", "bo"])
        .code_is(2)
        .stderr_has(&["no token with id \"tok_000000000000\""]);
    // A secret pasted as the id is neither echoed nor audited.
    let run = sb
        .run(&["token", "revoke", &bot_secret, "--as", "bo"])
        .code_is(2);
    assert!(!run.stderr().contains(&bot_secret[3..]), "{}", run.stderr());
    let v = sb.run(&["token", "list", "--json"]).ok().json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let v = sb.run(&["token", "list", "--all", "--json"]).ok().json();
    assert_eq!(v[2]["id"], admin_id.as_str());
    assert_eq!(v[2]["state"], "revoked");
    assert_eq!(v[2]["revoked_by"], "bo");
    let table = sb.run(&["token", "list", "--all"]).ok().stdout();
    assert!(table.contains("revoked by bo"), "{table}");

    // The audit log: every create and revoke, refused attempts too, newest first.
    let log = sb.run(&["audit", "--json"]).ok();
    let text = log.stdout();
    for secret in [&admin_secret, &bot_secret] {
        assert!(
            !text.contains(&secret[3..]),
            "a secret reached the audit log"
        );
    }
    let v = log.json();
    assert_eq!(v["total"], 8);
    let entries = v["entries"].as_array().unwrap();
    let summary: Vec<(String, String, String, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["target"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "tokens.revoke".into(),
                "bo".into(),
                "refused".into(),
                Value::Null
            ),
            (
                "tokens.revoke".into(),
                "bo".into(),
                "refused".into(),
                json!("tok_000000000000")
            ),
            (
                "tokens.revoke".into(),
                "bo".into(),
                "refused".into(),
                json!(admin_id)
            ),
            (
                "tokens.revoke".into(),
                "bo".into(),
                "ok".into(),
                json!(admin_id)
            ),
            (
                "tokens.create".into(),
                "bo".into(),
                "ok".into(),
                json!(dan_id)
            ),
            (
                "tokens.revoke".into(),
                "bo".into(),
                "refused".into(),
                json!(admin_id)
            ),
            (
                "tokens.create".into(),
                "carol".into(),
                "ok".into(),
                json!(bot_id)
            ),
            (
                "tokens.create".into(),
                "root".into(),
                "ok".into(),
                json!(admin_id)
            ),
        ]
    );
    assert!(entries.iter().all(|e| e["actor_kind"] == "human"));
    assert_eq!(entries[3]["before"], "active");
    assert_eq!(entries[3]["after"], "revoked");
    assert!(
        entries[2]["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("already revoked")
    );
    assert_eq!(entries[2]["before"], "revoked");
    assert!(entries.iter().all(|e| e["detail"]["via"] == "cli"));

    // Filters and pagination.
    let count = |args: &[&str]| -> (u64, usize) {
        let mut all = vec!["audit", "--json"];
        all.extend_from_slice(args);
        let v = sb.run(&all).ok().json();
        (
            v["total"].as_u64().unwrap(),
            v["entries"].as_array().unwrap().len(),
        )
    };
    assert_eq!(count(&["--operation", "tokens.create"]), (3, 3));
    assert_eq!(count(&["--operation", "tokens"]), (8, 8));
    assert_eq!(count(&["--operation", "token"]), (0, 0));
    assert_eq!(count(&["--actor", "carol"]), (1, 1));
    assert_eq!(count(&["--target", &admin_id]), (4, 4));
    assert_eq!(count(&["--limit", "2"]), (8, 2));
    assert_eq!(count(&["--limit", "4", "--offset", "6"]), (8, 2));
    assert_eq!(count(&["--since", "2999-01-01T00:00:00Z"]), (0, 0));
    assert_eq!(count(&["--until", "2000-01-01T00:00:00Z"]), (0, 0));
    let table = sb.run(&["audit", "--limit", "2"]).ok().stdout();
    assert!(
        table.contains("tokens.revoke") && table.contains("bo (human)"),
        "{table}"
    );
    assert!(
        table.contains("1–2 of 8; --offset 2 shows the next ones"),
        "{table}"
    );
    let out = sb.run(&["audit", "--actor", "nobody"]).ok().stdout();
    assert_eq!(out, "no audit entries\n");

    // Neither secret is anywhere in the database file.
    let bytes = std::fs::read(sb.path("kaizen.db")).unwrap();
    assert!(bytes_contain(&bytes, admin_id.as_bytes()));
    for secret in [&admin_secret, &bot_secret] {
        assert!(!bytes_contain(&bytes, &secret.as_bytes()[3..]));
    }
}

#[test]
fn bad_token_and_audit_arguments_exit_2_naming_the_problem() {
    let sb = Sandbox::bare();
    for (cap, needle) in [
        ("proposals", "expected domain:action"),
        ("a:b:c", "exactly one `:`"),
        (":read", "domain before `:` is empty"),
        ("x:fly", "unknown action \"fly\""),
        ("!!x:read", "only one `!`"),
        ("prop*:read", "whole side"),
    ] {
        sb.run(&[
            "token",
            "create",
            "--principal",
            "ana",
            "--kind",
            "human",
            "--cap",
            "*:read",
            "--cap",
            cap,
        ])
        .code_is(2)
        .stderr_has(&[&format!("capability pattern {cap:?}"), needle]);
    }
    sb.run(&[
        "token",
        "create",
        "--principal",
        "ana",
        "--kind",
        "human",
        "--cap",
        "",
    ])
    .code_is(2)
    .stderr_has(&["empty capability pattern"]);
    sb.run(&[
        "token",
        "create",
        "--principal",
        "ana",
        "--kind",
        "human",
        "--cap",
        "!org:admin",
    ])
    .code_is(2)
    .stderr_has(&["at least one allow pattern"]);
    sb.run(&["token", "create", "--principal", "ana", "--kind", "human"])
        .code_is(2)
        .stderr_has(&["--cap"]);
    sb.run(&[
        "token",
        "create",
        "--principal",
        "ana",
        "--kind",
        "system",
        "--cap",
        "*",
    ])
    .code_is(2)
    .stderr_has(&["invalid value 'system'"]);
    sb.run(&[
        "token",
        "create",
        "--principal",
        "ana",
        "--kind",
        "human",
        "--cap",
        "*",
        "--expires-in",
        "0d",
    ])
    .code_is(2)
    .stderr_has(&["--expires-in \"0d\""]);
    sb.run(&[
        "token",
        "create",
        "--principal",
        " ",
        "--kind",
        "human",
        "--cap",
        "*",
    ])
    .code_is(2)
    .stderr_has(&["principal must not be blank"]);
    // Agents are never granted approve; the refusal is audited.
    sb.run(&[
        "token",
        "create",
        "--principal",
        "bot",
        "--kind",
        "agent",
        "--cap",
        "proposals:approve",
        "--as",
        "ana",
    ])
    .code_is(2)
    .stderr_has(&["human decision"]);
    assert_eq!(
        sb.run(&["token", "list", "--all", "--json"]).ok().json(),
        json!([])
    );
    let v = sb.run(&["audit", "--json"]).ok().json();
    let outcomes: Vec<(&str, &str)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("tokens.create", "refused"), ("tokens.create", "refused")]
    );
    assert_eq!(
        v["entries"][0]["detail"]["capabilities"],
        json!(["proposals:approve"])
    );

    sb.run(&["audit", "--since", "yesterday"])
        .code_is(2)
        .stderr_has(&["--since \"yesterday\""]);
    sb.run(&[
        "audit",
        "--since",
        "2026-01-02T00:00:00Z",
        "--until",
        "2026-01-01T00:00:00Z",
    ])
    .code_is(2)
    .stderr_has(&["is not before --until"]);
    sb.run(&["audit", "--limit", "-1"]).code_is(2);
    sb.run(&["token", "list", "--bogus"]).code_is(2);
}
