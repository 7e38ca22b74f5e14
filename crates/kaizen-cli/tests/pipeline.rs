//! End-to-end tests of the improvement pipeline with the real binary: `sim generate` → `ingest` →
//! `org init|import` → `cycle run|tick|list|show` → `proposals list|show|preview|approve|reject`
//! → `rollouts list|show|start|tick|decide` → `agents config` → `org history|export`.
//!
//! The tests run on the system clock, so a rollout cannot reach its verdict inside a test (its
//! window is 48 h): they check that approval starts it, what it serves, and a human's rollback.
//! One test moves a rollout's start back in the store to let `rollouts tick` run real checks.
//!
//! Each test runs in its own temporary directory with a clean environment (only PATH and HOME,
//! plus the `KAIZEN__…` overrides it asks for), so the default actor is `cli` and the store is
//! `./kaizen.db`. A cycle's window ends at the wall clock, so the datasets end at the current
//! hour; the numbers that depend on the calendar (the weekday mix of the window) are checked
//! against `kaizen rules eval` and `kaizen snapshot` over the cycle's own window rather than
//! against constants.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::PathBuf;

use common::{Run, kaizen};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde_json::{Value, json};

/// Switches the meta-loop on.
const ENABLED: (&str, &str) = ("KAIZEN__SELF_IMPROVEMENT__ENABLED", "true");

/// The current hour (the wall clock truncated to the hour), as RFC 3339. Waits out the last
/// seconds of an hour so that a test does not straddle the hour boundary (the cycle's window
/// is aligned to hours).
fn current_hour() -> String {
    let mut now = Utc::now();
    if now.minute() == 59 && now.second() >= 45 {
        std::thread::sleep(std::time::Duration::from_secs(u64::from(61 - now.second())));
        now = Utc::now();
    }
    let secs = now.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0)
        .expect("a valid time")
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
        .with_timezone(&Utc)
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
    }

    /// A store holding the dataset (30 agents, 9 days, seed 4, a budget overrun)
    /// ending at the current hour; no org document yet.
    fn with_budget_overrun() -> Self {
        let sb = Self::new();
        let end = current_hour();
        sb.run(&[
            "sim",
            "generate",
            "--agents",
            "30",
            "--days",
            "9",
            "--seed",
            "4",
            "--inject",
            "budget-overrun",
            "--end",
            &end,
            "--output",
            "data.ndjson",
        ])
        .ok();
        let report = sb.run(&["ingest", "--json", "data.ndjson"]).ok().json();
        assert_eq!(report["rejected"], json!(0), "{report:#}");
        assert!(
            report["accepted"].as_u64().is_some_and(|n| n > 1000),
            "{report:#}"
        );
        sb
    }

    /// [`Sandbox::with_budget_overrun`] with the standard org as version 1 (no agents, so no
    /// rollout can start).
    fn with_org() -> Self {
        let sb = Self::with_budget_overrun();
        sb.run(&["org", "init"]).ok().stdout_has(&["org version 1"]);
        sb
    }

    /// [`Sandbox::with_org`] plus the dataset's 30 agents as version 2.
    fn with_agents() -> Self {
        let sb = Self::with_org();
        sb.add_agents();
        sb
    }

    /// Imports the current org document plus the dataset's agents ([`agent_ids`]), spread over
    /// the standard departments, as a new version.
    fn add_agents(&self) {
        const DEPARTMENTS: [(&str, &str); 5] = [
            ("engineering", "sre"),
            ("research", "researcher"),
            ("support", "support-agent"),
            ("sales", "account-executive"),
            ("operations", "ops-analyst"),
        ];
        let (text, _) = exported(self, None);
        let agents: String = agent_ids()
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (dept, role) = DEPARTMENTS[i % DEPARTMENTS.len()];
                format!("- id: {id}\n  role: {role}\n  department: {dept}\n")
            })
            .collect();
        assert!(text.contains("agents: []\n"), "{text}");
        let with_agents = text.replace("agents: []\n", &format!("agents:\n{agents}"));
        std::fs::write(self.path("org-agents.yaml"), with_agents).expect("writing the org");
        self.run(&["org", "import", "org-agents.yaml"])
            .ok()
            .stdout_has(&["(30 changes)"]);
    }

    fn rollouts(&self) -> Value {
        self.run(&["rollouts", "list", "--json"]).ok().json()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        kaizen(self.dir.path(), args, env)
    }

    /// `kaizen ARGS` with the loop disabled (the default).
    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// `kaizen ARGS` with the loop enabled.
    fn run_on(&self, args: &[&str]) -> Run {
        self.run_env(args, &[ENABLED])
    }

    fn version_ids(&self) -> Vec<i64> {
        self.run(&["org", "history", "--json"])
            .ok()
            .json()
            .as_array()
            .expect("history is a list")
            .iter()
            .map(|v| v["id"].as_i64().expect("an id"))
            .collect()
    }

    fn proposal(&self, id: &str) -> Value {
        self.run(&["proposals", "show", id, "--json"]).ok().json()
    }

    fn proposals(&self) -> Value {
        self.run(&["proposals", "list", "--json"]).ok().json()
    }

    fn cycles(&self) -> Vec<Value> {
        self.run(&["cycle", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .expect("cycle list is a list")
            .clone()
    }

    /// `cycle run --json` with the loop enabled; asserts the one proposal of the budget overrun
    /// and returns (report, proposal id).
    fn cycle_with_one_proposal(&self, extra: &[&str], outcome: &str) -> (Value, String) {
        let mut args = vec!["cycle", "run", "--json"];
        args.extend_from_slice(extra);
        let report = self.run_on(&args).ok().json();
        let proposals = report["proposals"].as_array().expect("a list of proposals");
        assert_eq!(proposals.len(), 1, "{report:#}");
        assert_eq!(proposals[0]["outcome"], json!(outcome), "{report:#}");
        let id = proposals[0]["id"]
            .as_str()
            .expect("a proposal id")
            .to_owned();
        (report, id)
    }
}

/// The agents of the dataset (`sim generate --agents 30`), sorted.
fn agent_ids() -> Vec<String> {
    (0..30).map(|i| format!("agent-{i:04}")).collect()
}

/// The change the budget-overrun playbook makes to the standard org.
fn tier_change() -> Value {
    json!({"set_setting": {"path": "models.default_tier", "from": "large", "to": "medium"}})
}

/// Its inverse.
fn tier_rollback() -> Value {
    json!({"set_setting": {"path": "models.default_tier", "from": "medium", "to": "large"}})
}

const GUARDS: [&str; 5] = [
    "scope_check",
    "memory",
    "rollback_plan",
    "rate_limit",
    "approval_gate",
];

fn assert_guards_passed(guards: &Value) {
    let guards = guards.as_array().expect("a list of guard verdicts");
    let names: Vec<&str> = guards
        .iter()
        .map(|g| g["guard"].as_str().expect("a guard name"))
        .collect();
    assert_eq!(names, GUARDS);
    for g in guards {
        assert_eq!(g["verdict"], json!("passed"), "{g:#}");
        assert!(g["reason"].as_str().is_some_and(|r| !r.is_empty()), "{g:#}");
    }
}

/// The transitions of a proposal as (from, to, actor, actor kind, reason).
fn transitions(shown: &Value) -> Vec<(Value, Value, Value, Value, Value)> {
    shown["proposal"]["transitions"]
        .as_array()
        .expect("a list of transitions")
        .iter()
        .map(|t| {
            (
                t["from_status"].clone(),
                t["to_status"].clone(),
                t["actor"].clone(),
                t["actor_kind"].clone(),
                t["reason"].clone(),
            )
        })
        .collect()
}

fn status(sb: &Sandbox, id: &str) -> Value {
    sb.proposal(id)["proposal"]["status"].clone()
}

/// An org version exported as YAML, parsed.
fn exported(sb: &Sandbox, version: Option<&str>) -> (String, Value) {
    let mut args = vec!["org", "export"];
    if let Some(v) = version {
        args.extend(["--version", v]);
    }
    let text = sb.run(&args).ok().stdout();
    let value: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("`kaizen {}`: not YAML: {e}\n{text}", args.join(" ")));
    (text, value)
}

// ---------------------------------------------------------------------------------------------
// 1. The scenario

#[test]
fn budget_overrun_is_proposed_reviewed_rolled_out_and_rolled_back() {
    let sb = Sandbox::with_budget_overrun();
    // This story follows a before/after rollout (the default `auto` would pick an A/B test
    // for 30 agents).
    std::fs::write(
        sb.path("kaizen.yaml"),
        "self_improvement:\n  rollout:\n    default_strategy: before_after\n",
    )
    .expect("writing kaizen.yaml");

    // Without an org document the cycle refuses and says how to make one; nothing is recorded.
    sb.run_on(&["cycle", "run", "--json"])
        .refused(&["no org document", "kaizen org init"]);
    assert_eq!(sb.cycles(), Vec::<Value>::new());

    sb.run(&["org", "init"]).ok().stdout_has(&["org version 1"]);
    sb.add_agents();
    let (cycle, id) = sb.cycle_with_one_proposal(&[], "queued");
    assert_eq!(cycle["trigger"], json!("manual"));
    assert_eq!(cycle["dry_run"], json!(false));
    assert_eq!(cycle["org_version"], json!(2));
    assert_eq!(cycle["agents"], json!(30));
    assert_eq!(cycle["failed_domains"], json!([]));
    assert_eq!(cycle["rule_failures"], json!([]));
    assert_eq!(cycle["strategy_failures"], json!([]));
    // The window is the configured 7 days ending when the cycle started.
    let since = time(&cycle["window"]["since"]);
    let until = time(&cycle["window"]["until"]);
    assert_eq!(until, time(&cycle["started_at"]));
    assert_eq!(until - since, chrono::Duration::days(7));
    assert!(time(&cycle["completed_at"]) >= until);

    // Exactly the budget overrun fired, and the numbers are those of the same window's
    // snapshot and rule evaluation.
    let (s, u) = (
        cycle["window"]["since"].as_str().expect("since"),
        cycle["window"]["until"].as_str().expect("until"),
    );
    let eval = sb
        .run(&["rules", "eval", "--since", s, "--until", u, "--json"])
        .ok()
        .json();
    let snapshot = sb
        .run(&["snapshot", "--since", s, "--until", u, "--json"])
        .ok()
        .json();
    let matches = cycle["matches"].as_array().expect("a list of matches");
    assert_eq!(matches.len(), 1, "{cycle:#}");
    let m = &matches[0];
    assert_eq!(m["rule_name"], json!("budget_overrun"));
    assert_eq!(m["severity"], json!("critical"));
    assert_eq!(m["suggested_altitudes"], json!(["config_tuning"]));
    assert_eq!(m["signal_context"], eval["matches"][0]["signal_context"]);
    let days = snapshot["budget"]["days_until_exhausted"].clone();
    let d = days.as_u64().expect("a forecast");
    assert!(d <= 14, "the overrun must be within the threshold: {d}");
    let mut expected = json!({
        "days_until_exhausted": d,
        "threshold": 14,
        "total_spend": snapshot["budget"]["total_spend"],
    });
    // The evidence names the agent with the largest spend (docs/rules.md).
    let top = &snapshot["budget"]["top_agent"];
    assert!(top.is_object(), "{snapshot:#}");
    expected["top_agent_id"] = top["agent_id"].clone();
    expected["top_agent_share"] = top["share"].clone();
    expected["top_agent_value"] = top["value"].clone();
    expected["agents_contributing"] = top["agent_count"].clone();
    expected["days_until_exhausted_without_top_agent"] =
        m["signal_context"]["days_until_exhausted_without_top_agent"].clone();
    // And the budget period: the overrun comes before the reset (docs/rules.md).
    let b = &snapshot["budget"];
    expected["days_until_reset"] = b["days_until_reset"].clone();
    expected["period_end"] = b["period_end"].clone();
    expected["projected_period_spend_usd"] = b["projected_period_spend_usd"].clone();
    expected["limit_usd"] = b["monthly_limit_usd"].clone();
    let reset = b["days_until_reset"]
        .as_f64()
        .expect("days until the reset");
    assert!((d as f64) < reset, "{d} days vs the reset in {reset}");
    assert!(
        b["projected_period_spend_usd"].as_f64() > b["monthly_limit_usd"].as_f64(),
        "{b:#}"
    );
    assert_eq!(m["signal_context"], expected);
    assert_eq!(cycle["tasks"], snapshot["performance"]["task_count"]);
    let description = m["description"].as_str().expect("a description");
    assert!(
        description.starts_with(&format!("Budget exhaustion in {d} days (threshold: 14)")),
        "{description}"
    );

    let p = &cycle["proposals"][0];
    assert_eq!(p["altitude"], json!("config_tuning"));
    assert_eq!(p["rule_name"], json!("budget_overrun"));
    assert_eq!(
        p["title"],
        json!("Lower models.default_tier: \"large\" → \"medium\"")
    );
    assert_guards_passed(&p["guards"]);

    // `show` explains it: evidence, changes, rollback plan, guards, history.
    let shown = sb.proposal(&id);
    assert_eq!(shown["applies_cleanly"], json!(true));
    assert_eq!(shown["apply_check"], Value::Null);
    let sp = &shown["proposal"];
    assert_eq!(sp["status"], json!("pending"));
    assert_eq!(sp["occurrences"], json!(1));
    assert_eq!(sp["risk"], json!("low"));
    assert_eq!(sp["applied_version"], Value::Null);
    let body = &sp["proposal"];
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["altitude"], json!("config_tuning"));
    assert_eq!(body["source_cycle"], cycle["id"]);
    assert_eq!(body["title"], p["title"]);
    assert_eq!(body["risk"], json!("low"));
    assert_eq!(body["rollout"], json!("before_after"));
    assert_eq!(body["primary_metric"], json!("cost_per_task"));
    assert_eq!(body["observation_window_hours"], json!(48));
    assert!(
        body["confidence"]
            .as_f64()
            .is_some_and(|c| c > 0.0 && c <= 1.0),
        "{body:#}"
    );
    assert_eq!(
        body["rationale"],
        json!({
            "rule_name": "budget_overrun",
            "severity": "critical",
            "description": m["description"],
            "signal_context": m["signal_context"],
            "threshold": 14,
        })
    );
    let description = body["description"].as_str().expect("a description");
    for needle in [
        &format!("Budget exhaustion in {d} days (threshold: 14)"),
        "budget_overrun",
        "models.default_tier",
        "\"large\" to \"medium\"",
    ] {
        assert!(description.contains(needle), "{needle:?} in {description}");
    }
    assert_eq!(body["changes"], json!([tier_change()]));
    assert_eq!(body["rollback"], json!({"operations": [tier_rollback()]}));
    assert_guards_passed(&sp["guards"]);
    assert_eq!(sp["guards"], p["guards"]);
    assert_eq!(
        transitions(&shown),
        vec![(
            Value::Null,
            json!("pending"),
            json!("meta-loop"),
            json!("system"),
            json!(format!("queued by cycle {}", cycle["id"].as_str().unwrap())),
        )]
    );
    // The table form says the same.
    sb.run(&["proposals", "show", &id]).ok().stdout_has(&[
        "status pending",
        "Evidence: rule budget_overrun (critical)",
        "set models.default_tier: \"large\" → \"medium\"",
        "set models.default_tier: \"medium\" → \"large\"",
        "approval_gate",
        "by meta-loop (system)",
        "applies cleanly",
    ]);

    // `apply` is gone: a proposal becomes an org version only through its rollout's verdict.
    sb.run(&["proposals", "apply", &id])
        .refused(&["unrecognized subcommand 'apply'"]);
    // `preview` runs the applier's check and writes nothing, whatever the status.
    let (v2_text, _) = exported(&sb, None);
    let preview = json!({
        "proposal_id": id,
        "dry_run": true,
        "base_version": 2,
        "new_version": null,
        "changes": [tier_change()],
        "rollback": [tier_rollback()],
        "notifications": [],
    });
    assert_eq!(
        sb.run(&["proposals", "preview", &id, "--json"]).ok().json(),
        preview
    );
    sb.run(&["proposals", "preview", &id]).ok().stdout_has(&[
        &format!("preview of {id} against org version 2"),
        "  set models.default_tier: \"large\" → \"medium\"",
        "undone by:",
        "  set models.default_tier: \"medium\" → \"large\"",
    ]);
    // Nothing rolls out before a human approved it.
    sb.run(&["rollouts", "start", &id])
        .refused(&["is pending", "only an approved proposal can be rolled out"]);
    assert_eq!(sb.rollouts(), json!([]));
    assert_eq!(sb.version_ids(), vec![2, 1]);
    assert_eq!(status(&sb, &id), json!("pending"));

    // Approving starts the before/after rollout the proposal suggests: every agent sees the
    // change as an overlay; the org document itself does not change.
    let approved = sb
        .run(&["proposals", "approve", &id, "--as", "ana", "--json"])
        .ok()
        .json();
    let first_check = approved["rollout"]["first_check_at"].clone();
    // Nine days of data: a before/after comparison has the same hours a week earlier but not
    // two weeks earlier, and the start says it is not adjusted for drift.
    let plan = approved["rollout"]["plan"].clone();
    assert!(
        plan.as_str()
            .is_some_and(|p| p.contains("can detect") && p.contains("NOT adjusted for drift")),
        "{plan}"
    );
    assert_eq!(
        approved,
        json!({
            "proposal_id": id,
            "actor": "ana",
            "approvals": 1,
            "required": 1,
            "approved": true,
            "rollout": {
                "strategy": "before_after",
                "treatment": 30,
                "control": 0,
                "window_hours": 48,
                "first_check_at": first_check,
                "can_conclude": true,
                "plan": plan,
            },
            "rollout_error": null,
        })
    );
    assert_eq!(status(&sb, &id), json!("rolling_out"));
    assert_eq!(sb.version_ids(), vec![2, 1]);
    assert_eq!(exported(&sb, None).0, v2_text);
    let shown = sb.proposal(&id);
    let t = transitions(&shown);
    assert_eq!(t.len(), 3, "{shown:#}");
    assert_eq!(
        t[1],
        (
            json!("pending"),
            json!("approved"),
            json!("ana"),
            json!("human"),
            json!("approved by ana")
        )
    );
    assert_eq!(
        t[2],
        (
            json!("approved"),
            json!("rolling_out"),
            json!("ana"),
            json!("human"),
            json!("before_after rollout started")
        )
    );
    sb.run(&["proposals", "show", &id]).ok().stdout_has(&[
        "status rolling_out",
        "Rollout: before_after, observing",
        &format!("kaizen rollouts show {id}"),
    ]);
    sb.run(&["proposals", "list", "--status", "rolling_out"])
        .ok()
        .stdout_has(&[&id, "rolling_out"]);

    // The rollout: observing, 12 checks of 4 h in the 48 h window, none run yet.
    let rollouts = sb.rollouts();
    let list = rollouts.as_array().expect("a list of rollouts");
    assert_eq!(list.len(), 1, "{rollouts:#}");
    let r = &list[0];
    assert_eq!(r["proposal_id"], json!(id));
    assert_eq!(r["strategy"], json!("before_after"));
    assert_eq!(r["state"], json!("observing"));
    assert_eq!(r["base_version"], json!(2));
    assert_eq!(r["changes"], json!([tier_change()]));
    assert_eq!(r["rollback"], json!([tier_rollback()]));
    assert_eq!(r["reverted"], json!(0));
    assert_eq!(r["window_hours"], json!(48));
    assert_eq!(r["interval_hours"], json!(4));
    assert_eq!(r["checks_done"], json!(0));
    assert_eq!(r["verdict"], Value::Null);
    assert_eq!(r["applied_version"], Value::Null);
    assert_eq!(r["assignment"]["treatment"], json!(agent_ids()));
    assert_eq!(r["assignment"]["control"], json!([]));
    assert_eq!(
        time(&first_check),
        time(&r["started_at"]) + chrono::Duration::hours(4)
    );
    assert_eq!(
        sb.run(&["rollouts", "list", "--state", "observing", "--json"])
            .ok()
            .json(),
        rollouts
    );
    assert_eq!(
        sb.run(&["rollouts", "list", "--state", "rolled_back", "--json"])
            .ok()
            .json(),
        json!([])
    );
    sb.run(&["rollouts", "list", "--state", "rolled_back"])
        .ok()
        .stdout_has(&["no rollouts in state rolled_back"]);
    sb.run(&["rollouts", "list", "--state", "bogus"]).refused(&[
        "unknown rollout state \"bogus\"",
        "observing",
        "rollback_failed",
    ]);
    sb.run(&["rollouts", "list"]).ok().stdout_has(&[
        &id,
        "before_after",
        "observing",
        "30",
        "0/12",
    ]);
    let show = sb.run(&["rollouts", "show", &id, "--json"]).ok().json();
    assert_eq!(show, json!({"rollout": r, "checks": []}));
    sb.run(&["rollouts", "show", &id]).ok().stdout_has(&[
        &format!("rollout of proposal {id}: before_after · observing"),
        "base org version 2",
        "window 48 h, a check every 4 h (0 of 12 done",
        "30 agent(s) in treatment, 0 in control",
        "engineering",
        "Overlay (the proposal's changes):\n  set models.default_tier: \"large\" → \"medium\"",
        "Rollback operations (0 of 1 executed):\n  set models.default_tier: \"medium\" → \"large\"",
        "Verdict: none yet",
        "Checks: none yet",
    ]);
    sb.run(&["rollouts", "show", "nope"])
        .refused(&["no rollout for proposal nope"]);
    // No check is due yet.
    assert_eq!(
        sb.run(&["rollouts", "tick", "--json"]).ok().json(),
        json!({"progress": [], "next_check": first_check})
    );
    sb.run(&["rollouts", "tick"])
        .ok()
        .stdout_has(&["no rollout check is due", "next check due at"]);
    // A started rollout cannot start twice.
    sb.run(&["rollouts", "start", &id]).refused(&[
        "is rolling_out",
        "only an approved proposal can be rolled out",
    ]);

    // Every agent is in the treatment group of a before/after rollout: each is served the
    // overlay.
    let served = sb
        .run(&["agents", "config", "agent-0007", "--json"])
        .ok()
        .json();
    assert_eq!(served["overlays"], json!([id]));
    assert_eq!(served["org_version"], json!(2));
    assert_eq!(
        served["settings"]["models"]["default_tier"],
        json!("medium")
    );
    let overlaid_etag = served["etag"].clone();
    sb.run(&["agents", "config", "agent-0029"])
        .ok()
        .stdout_has(&[
            &format!("overlays: {id}"),
            "models.default_tier",
            "\"medium\"",
        ]);

    // Deciding is a human's, with a reason, and only what the state allows.
    sb.run(&["rollouts", "decide", &id, "rollback"])
        .refused(&["--reason"]);
    sb.run(&["rollouts", "decide", &id, "rollback", "--reason", "  "])
        .refused(&["needs a reason"]);
    sb.run(&["rollouts", "decide", &id, "apply", "--reason", "x"])
        .refused(&["is observing", "apply is not possible now"]);
    sb.run(&["rollouts", "decide", &id, "extend", "--reason", "x"])
        .refused(&["is observing", "extend is not possible now"]);
    sb.run(&[
        "rollouts", "decide", &id, "rollback", "--reason", "x", "--hours", "3",
    ])
    .refused(&["--hours goes only with `extend`"]);
    sb.run(&["rollouts", "decide", &id, "pause", "--reason", "x"])
        .refused(&["invalid value 'pause'"]);
    sb.run(&["rollouts", "decide", "nope", "rollback", "--reason", "x"])
        .refused(&["no rollout for proposal nope"]);
    assert_eq!(sb.rollouts(), rollouts);
    assert_eq!(status(&sb, &id), json!("rolling_out"));

    // Rolling it back removes the overlay; the org never had a version with the change.
    let decided = sb
        .run(&[
            "rollouts",
            "decide",
            &id,
            "rollback",
            "--reason",
            "the medium tier hurt quality",
            "--as",
            "bob",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(decided["state"], json!("rolled_back"));
    assert_eq!(decided["reverted"], json!(1));
    assert_eq!(decided["verdict"]["outcome"], json!("rolled_back"));
    assert_eq!(decided["verdict"]["decided_by"], json!("bob"));
    assert_eq!(
        decided["verdict"]["reason"],
        json!("decided by bob: the medium tier hurt quality")
    );
    assert_eq!(decided["applied_version"], Value::Null);
    assert_eq!(
        sb.run(&["rollouts", "show", &id, "--json"]).ok().json()["rollout"],
        decided
    );
    assert_eq!(status(&sb, &id), json!("rolled_back"));
    let last = transitions(&sb.proposal(&id)).pop().expect("a transition");
    assert_eq!(
        (&last.0, &last.1),
        (&json!("rolling_out"), &json!("rolled_back"))
    );
    assert!(
        last.4
            .as_str()
            .is_some_and(|r| r.contains("the medium tier hurt quality")),
        "{last:?}"
    );
    let served = sb
        .run(&["agents", "config", "agent-0007", "--json"])
        .ok()
        .json();
    assert_eq!(served["overlays"], json!([]));
    assert_eq!(served["settings"]["models"]["default_tier"], json!("large"));
    assert_ne!(served["etag"], overlaid_etag);
    sb.run(&["rollouts", "show", &id]).ok().stdout_has(&[
        "before_after · rolled_back",
        "Rollback operations (1 of 1 executed)",
        "Verdict: rolled_back by bob",
        "decided by bob: the medium tier hurt quality",
    ]);
    sb.run(&["rollouts", "list", "--state", "rolled_back"])
        .ok()
        .stdout_has(&[&id, "rolled_back"]);
    assert_eq!(sb.version_ids(), vec![2, 1]);
    assert_eq!(exported(&sb, None).0, v2_text);
    // A human's rollback raises no alert: the only one is the budget alert of the cycle that
    // found the overrun.
    let alerts = sb.run(&["alerts", "list", "--json"]).ok().json();
    let kinds: Vec<&str> = alerts
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["kind"].as_str().expect("a kind"))
        .collect();
    assert_eq!(kinds, ["budget"], "{alerts:#}");

    // Rolled back is final.
    sb.run(&["rollouts", "decide", &id, "rollback", "--reason", "again"])
        .refused(&["is rolled_back"]);
    sb.run(&["proposals", "rollback", &id, "--reason", "again"])
        .refused(&["rolled_back", "only an applied proposal can be rolled back"]);
    sb.run(&["rollouts", "start", &id])
        .refused(&["is rolled_back"]);
    sb.run(&["proposals", "approve", &id, "--as", "carol"])
        .refused(&["is rolled_back", "only a pending proposal can be approved"]);
    assert_eq!(sb.version_ids(), vec![2, 1]);
}

// ---------------------------------------------------------------------------------------------
// 2. Duplicates and persistence

#[test]
fn a_second_cycle_records_a_duplicate_and_cycles_persist() {
    let sb = Sandbox::with_org();
    let (first, id) = sb.cycle_with_one_proposal(&[], "queued");
    let (second, dup) = sb.cycle_with_one_proposal(&[], "duplicate");
    assert_eq!(dup, id);
    assert_eq!(second["proposals"][0]["existing_id"], json!(id));
    assert_ne!(first["id"], second["id"]);

    let listed = sb.proposals();
    assert_eq!(listed["total"], json!(1), "{listed:#}");
    assert_eq!(listed["proposals"][0]["id"], json!(id));
    assert_eq!(listed["proposals"][0]["occurrences"], json!(2));
    let shown = sb.proposal(&id);
    assert_eq!(shown["proposal"]["occurrences"], json!(2));
    assert_eq!(shown["proposal"]["status"], json!("pending"));
    assert_eq!(
        time(&shown["proposal"]["last_seen_at"]).timestamp_micros(),
        time(&second["started_at"]).timestamp_micros()
    );
    assert_eq!(
        shown["proposal"]["proposal"]["source_cycle"], first["id"],
        "the duplicate must not replace the original"
    );
    assert_eq!(transitions(&shown).len(), 1);

    // Both cycles are recorded, newest first, and `show` returns each report unchanged.
    let cycles = sb.cycles();
    let ids: Vec<&Value> = cycles.iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, vec![&second["id"], &first["id"]]);
    for (row, report) in cycles.iter().zip([&second, &first]) {
        assert_eq!(row["trigger"], json!("manual"));
        assert_eq!(row["dry_run"], json!(false));
        // The list keeps the store's microseconds; the report the clock's nanoseconds.
        assert_eq!(
            time(&row["started_at"]).timestamp_micros(),
            time(&report["started_at"]).timestamp_micros()
        );
        let id = report["id"].as_str().expect("a cycle id");
        let shown = sb.run(&["cycle", "show", id, "--json"]).ok().json();
        assert_eq!(&shown, report);
    }
    sb.run(&["cycle", "list"])
        .ok()
        .stdout_has(&[first["id"].as_str().unwrap(), "manual"]);
    sb.run(&["cycle", "show", first["id"].as_str().unwrap()])
        .ok()
        .stdout_has(&["budget_overrun", "queued for review", &id]);
    sb.run(&["cycle", "show", second["id"].as_str().unwrap()])
        .ok()
        .stdout_has(&[&format!("already open as {id}")]);
    sb.run(&["cycle", "show", "c19990101T000000.000Z", "--json"])
        .refused(&["no cycle with id c19990101T000000.000Z"]);

    // Once approved, the fix is under way: a third cycle proposes nothing more for the rule
    // (no second fix stacked on one not yet measured) and says why.
    sb.run(&["proposals", "approve", &id, "--as", "ana"]).ok();
    let third = sb.run_on(&["cycle", "run", "--json"]).ok().json();
    assert_eq!(third["proposals"], json!([]), "{third:#}");
    let notes = third["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n["rule_name"] == json!("budget_overrun")
                && n["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("being rolled out") && m.contains(&id))),
        "{third:#}"
    );
    assert_eq!(sb.proposal(&id)["proposal"]["occurrences"], json!(2));
    assert_eq!(sb.proposals()["total"], json!(1));
}

// ---------------------------------------------------------------------------------------------
// 3. Refusals

#[test]
fn a_disabled_loop_runs_no_cycle_and_says_how_to_enable_it() {
    let sb = Sandbox::with_org();
    for args in [
        &["cycle", "run"][..],
        &["cycle", "run", "--json"],
        &["cycle", "run", "--dry-run"],
    ] {
        sb.run(args).refused(&[
            "self-improvement loop is disabled",
            "self_improvement.enabled",
            "KAIZEN__SELF_IMPROVEMENT__ENABLED=true",
        ]);
    }
    sb.run_env(
        &["cycle", "run"],
        &[("KAIZEN__SELF_IMPROVEMENT__ENABLED", "false")],
    )
    .refused(&["disabled"]);
    // The scheduler respects the switch too, without failing.
    sb.run(&["cycle", "tick"]).ok().stdout_has(&["disabled"]);
    assert_eq!(
        sb.run(&["cycle", "tick", "--json"]).ok().json(),
        json!({"ran": false, "next_due": null})
    );
    assert_eq!(sb.cycles(), Vec::<Value>::new());
    assert_eq!(sb.proposals(), json!({"total": 0, "proposals": []}));
    assert_eq!(sb.version_ids(), vec![1]);
}

#[test]
fn bad_review_requests_exit_2_and_change_nothing() {
    // The standard org has no agents, so an approved proposal cannot roll out.
    let sb = Sandbox::with_org();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    let before = sb.proposal(&id);
    let unchanged = |sb: &Sandbox| {
        assert_eq!(sb.proposal(&id), before);
        assert_eq!(sb.version_ids(), vec![1]);
    };

    // Unknown ids.
    sb.run(&["proposals", "approve", "nope", "--as", "ana"])
        .refused(&["no proposal with id nope"]);
    sb.run(&["proposals", "reject", "nope", "--reason", "x"])
        .refused(&["no proposal with id nope"]);
    sb.run(&["proposals", "preview", "nope"])
        .refused(&["no proposal with id nope"]);
    sb.run(&["proposals", "show", "nope"])
        .refused(&["no proposal with id nope"]);
    sb.run(&["proposals", "rollback", "nope", "--reason", "x"])
        .refused(&["no proposal with id nope"]);
    sb.run(&["rollouts", "start", "nope"])
        .refused(&["no proposal with id nope"]);
    unchanged(&sb);

    // Rejecting needs a reason: clap refuses a missing one, the service an empty one.
    sb.run(&["proposals", "reject", &id]).refused(&["--reason"]);
    sb.run(&["proposals", "reject", &id, "--reason", ""])
        .refused(&["needs a reason"]);
    sb.run(&["proposals", "reject", &id, "--reason", "   "])
        .refused(&["needs a reason"]);
    unchanged(&sb);

    // Rolling back what was never applied.
    sb.run(&["proposals", "rollback", &id, "--reason", "undo"])
        .refused(&["is pending", "only an applied proposal can be rolled back"]);
    sb.run(&["proposals", "rollback", &id])
        .refused(&["--reason"]);
    unchanged(&sb);

    // A bad status filter names the valid ones.
    sb.run(&["proposals", "list", "--status", "bogus"])
        .refused(&["bogus", "pending", "rolling_out", "rolled_back"]);

    // The approval counts, but the rollout cannot start without agents: the proposal stays
    // approved, and the output says why and what to run once the cause is fixed.
    sb.run(&["proposals", "approve", &id, "--as", "ana"])
        .ok()
        .stdout_has(&[
            &format!("approved {id} as ana"),
            "its rollout did NOT start",
            "needs at least 1 agent(s) per group; the org has 0 agent(s)",
            "the proposal stays approved",
            &format!("kaizen rollouts start {id}"),
        ]);
    assert_eq!(status(&sb, &id), json!("approved"));
    assert_eq!(sb.rollouts(), json!([]));
    sb.run(&["rollouts", "list"])
        .ok()
        .stdout_has(&["no rollouts"]);
    sb.run(&["rollouts", "start", &id])
        .refused(&["the org has 0 agent(s)"]);
    sb.run(&["rollouts", "start", &id, "--strategy", "sideways"])
        .refused(&[
            "invalid value 'sideways'",
            "before_after",
            "canary",
            "ab_test",
        ]);
    assert_eq!(status(&sb, &id), json!("approved"));

    // Approved but not applied: still not rollbackable.
    sb.run(&["proposals", "rollback", &id, "--reason", "undo"])
        .refused(&["is approved", "only an applied proposal can be rolled back"]);
    sb.run(&["proposals", "approve", &id, "--as", "bob"])
        .refused(&["is approved", "only a pending proposal can be approved"]);
    assert_eq!(status(&sb, &id), json!("approved"));

    // Rejected (from approved) is final: no approve, rollout, reject or rollback.
    sb.run(&[
        "proposals",
        "reject",
        &id,
        "--reason",
        "not now",
        "--as",
        "bob",
    ])
    .ok()
    .stdout_has(&[&format!("rejected {id} as bob")]);
    let rejected = sb.proposal(&id);
    assert_eq!(rejected["proposal"]["status"], json!("rejected"));
    assert_eq!(
        transitions(&rejected)[2],
        (
            json!("approved"),
            json!("rejected"),
            json!("bob"),
            json!("human"),
            json!("not now")
        )
    );
    sb.run(&["proposals", "approve", &id, "--as", "ana"])
        .refused(&["is rejected", "only a pending proposal can be approved"]);
    sb.run(&["rollouts", "start", &id])
        .refused(&["is rejected"]);
    sb.run(&["proposals", "reject", &id, "--reason", "twice"])
        .refused(&["is rejected"]);
    sb.run(&["proposals", "rollback", &id, "--reason", "undo"])
        .refused(&["is rejected"]);
    assert_eq!(sb.proposal(&id), rejected);
    assert_eq!(sb.version_ids(), vec![1]);
    assert_eq!(sb.rollouts(), json!([]));
    assert_eq!(
        sb.run(&["proposals", "list", "--status", "rejected", "--json"])
            .ok()
            .json()["total"],
        json!(1)
    );
}

/// An approved proposal whose automatic start failed is started by hand, here as a canary: only
/// its treatment group is served the change.
#[test]
fn a_rollout_that_could_not_start_is_started_by_hand_as_a_canary() {
    let sb = Sandbox::with_org();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    let approved = sb
        .run(&["proposals", "approve", &id, "--as", "ana", "--json"])
        .ok()
        .json();
    assert_eq!(approved["approved"], json!(true));
    assert_eq!(approved["rollout"], Value::Null);
    assert!(
        approved["rollout_error"]
            .as_str()
            .is_some_and(|e| e.contains("the org has 0 agent(s)")),
        "{approved:#}"
    );
    assert_eq!(status(&sb, &id), json!("approved"));

    // Fix the cause, then start it by hand.
    sb.add_agents();
    sb.run(&[
        "rollouts",
        "start",
        &id,
        "--strategy",
        "canary",
        "--as",
        "ana",
    ])
    .ok()
    .stdout_has(&[&format!(
        "started the canary rollout of {id} as ana: 6 agent(s) in treatment, 24 in control, 48 h observation window, first check at"
    )]);
    assert_eq!(status(&sb, &id), json!("rolling_out"));
    let last = transitions(&sb.proposal(&id)).pop().expect("a transition");
    assert_eq!(
        last,
        (
            json!("approved"),
            json!("rolling_out"),
            json!("ana"),
            json!("human"),
            json!("canary rollout started")
        )
    );
    let r = sb.rollouts()[0].clone();
    assert_eq!(r["strategy"], json!("canary"));
    assert_eq!(r["base_version"], json!(2));
    let treatment: Vec<String> =
        serde_json::from_value(r["assignment"]["treatment"].clone()).expect("a list of agent ids");
    let control: Vec<String> =
        serde_json::from_value(r["assignment"]["control"].clone()).expect("a list of agent ids");
    assert_eq!((treatment.len(), control.len()), (6, 24));
    let mut everyone = [treatment.clone(), control.clone()].concat();
    everyone.sort();
    assert_eq!(everyone, agent_ids());
    sb.run(&["rollouts", "show", &id]).ok().stdout_has(&[
        "canary · observing",
        "6 agent(s) in treatment, 24 in control (treatment fraction 0.20)",
    ]);

    let tier = |agent: &str| {
        let served = sb.run(&["agents", "config", agent, "--json"]).ok().json();
        (
            served["overlays"].clone(),
            served["settings"]["models"]["default_tier"].clone(),
        )
    };
    assert_eq!(tier(&treatment[0]), (json!([id]), json!("medium")));
    assert_eq!(tier(&control[0]), (json!([]), json!("large")));

    sb.run(&[
        "rollouts",
        "decide",
        &id,
        "rollback",
        "--reason",
        "wrong group",
        "--as",
        "ana",
    ])
    .ok()
    .stdout_has(&[
        &format!("rollout of {id} is now rolled_back (decided by ana)"),
        "verdict rolled_back: decided by ana: wrong group",
    ]);
    assert_eq!(tier(&treatment[0]), (json!([]), json!("large")));
    assert_eq!(status(&sb, &id), json!("rolled_back"));
    assert_eq!(sb.version_ids(), vec![2, 1]);

    // The hand-started rollout is audited with the proposal's status before and after.
    let starts = audited(&audit_log(&sb), "rollouts.start");
    assert_eq!(starts.len(), 1, "{starts:#?}");
    assert_entry(
        &starts[0],
        ("ana", "human"),
        json!(id),
        "ok",
        (json!("approved"), json!("rolling_out")),
    );
    assert_eq!(starts[0]["detail"]["strategy"], json!("canary"));
}

/// With two approvals required, the first one starts nothing.
#[test]
fn a_rollout_starts_only_once_enough_humans_approved() {
    let sb = Sandbox::with_agents();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    let two = ("KAIZEN__SELF_IMPROVEMENT__GUARDS__APPROVALS__LOW", "2");
    sb.run_env(&["proposals", "approve", &id, "--as", "ana"], &[two])
        .ok()
        .stdout_has(&[&format!(
            "recorded ana's approval of {id} (1 of 2 required); it stays pending until 1 more human(s) approve"
        )]);
    assert_eq!(status(&sb, &id), json!("pending"));
    assert_eq!(sb.rollouts(), json!([]));
    let second = sb
        .run_env(
            &["proposals", "approve", &id, "--as", "bob", "--json"],
            &[two],
        )
        .ok()
        .json();
    assert_eq!(second["approvals"], json!(2));
    assert_eq!(second["required"], json!(2));
    assert_eq!(second["approved"], json!(true));
    // `auto`: 30 agents are too few for a canary of 10, enough for an A/B test of 15 + 15.
    assert_eq!(second["rollout"]["strategy"], json!("ab_test"));
    assert_eq!(second["rollout"]["treatment"], json!(15));
    assert_eq!(second["rollout_error"], Value::Null);
    assert_eq!(status(&sb, &id), json!("rolling_out"));
}

/// `rollouts tick` runs the checks that are due, each recorded with its numbers. The system
/// clock cannot be moved, so the rollout's start is moved back in the store instead.
#[test]
fn tick_runs_due_checks_and_show_lists_them() {
    let sb = Sandbox::with_agents();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    sb.run(&["proposals", "approve", &id, "--as", "ana"]).ok();
    {
        let db = rusqlite::Connection::open(sb.path("kaizen.db")).expect("opening the store");
        let moved = db
            .execute(
                "UPDATE rollouts SET started_at = started_at - 9 * 3600 * 1000000
                 WHERE proposal_id = ?1",
                [&id],
            )
            .expect("moving the start back");
        assert_eq!(moved, 1);
    }
    // Checks 1 (at 4 h) and 2 (at 8 h) are due; 3 (at 12 h) is not.
    let tick = sb.run(&["rollouts", "tick", "--json"]).ok().json();
    let progress = tick["progress"].as_array().expect("a list of progress");
    assert_eq!(progress.len(), 1, "{tick:#}");
    let p = &progress[0];
    assert_eq!(p["proposal_id"], json!(id));
    assert_eq!(p["error"], Value::Null, "{tick:#}");
    let run = p["checks_run"].as_u64().expect("a count");
    // The change does nothing to the agents (the data predates it), but the budget overrun's
    // cost may breach a threshold: either way the checks ran in order.
    match p["state"].as_str() {
        Some("observing") => {
            assert_eq!(run, 2, "{tick:#}");
            assert_eq!(p["verdict"], Value::Null);
        }
        Some("rolled_back") => {
            assert!((1..=2).contains(&run), "{tick:#}");
            assert_eq!(p["verdict"]["outcome"], json!("rolled_back"));
        }
        other => panic!("unexpected state {other:?}: {tick:#}"),
    }
    let show = sb.run(&["rollouts", "show", &id, "--json"]).ok().json();
    let checks = show["checks"].as_array().expect("a list of checks");
    assert_eq!(checks.len() as u64, run, "{show:#}");
    assert_eq!(show["rollout"]["checks_done"], json!(run));
    for (i, c) in checks.iter().enumerate() {
        assert_eq!(c["seq"], json!(i + 1));
        assert_eq!(c["elapsed_hours"], json!(4 * (i + 1)));
        assert_eq!(
            time(&c["at"]),
            time(&show["rollout"]["started_at"]) + chrono::Duration::hours(4 * (i as i64 + 1))
        );
        let metrics: Vec<&Value> = c["outcome"]["metrics"]
            .as_array()
            .expect("a list of metrics")
            .iter()
            .map(|m| &m["metric"])
            .collect();
        assert_eq!(
            metrics,
            [
                &json!("quality"),
                &json!("success_rate"),
                &json!("cost_per_task"),
                &json!("error_rate")
            ]
        );
        // 30 agents with data on both sides: quality is estimated on both.
        let q = &c["outcome"]["metrics"][0];
        assert!(q["control"]["ratio"].as_f64().is_some(), "{q:#}");
        assert!(q["treatment"]["ratio"].as_f64().is_some(), "{q:#}");
    }
    let text = sb.run(&["rollouts", "show", &id]).ok().stdout();
    for needle in [
        "seq",
        "elapsed h",
        "control → treatment",
        "effect [interval]",
        "threshold / margin",
        "p harm running / adjusted",
        "plan: over 48 h it can detect",
        "quality",
        "success_rate",
        "cost_per_task",
        "error_rate",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    // Nothing more is due now.
    let again = sb.run(&["rollouts", "tick", "--json"]).ok().json();
    assert_eq!(again["progress"], json!([]), "{again:#}");

    // A verdict is the engine's state change: audited under its name; checks alone are not.
    let verdicts = audited(&audit_log(&sb), "rollouts.verdict");
    if p["verdict"].is_null() {
        assert_eq!(verdicts, Vec::<Value>::new());
    } else {
        assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
        assert_entry(
            &verdicts[0],
            ("rollout-engine", "system"),
            json!(id),
            "ok",
            (Value::Null, p["state"].clone()),
        );
        assert_eq!(verdicts[0]["detail"]["outcome"], p["verdict"]["outcome"]);
        assert_eq!(verdicts[0]["detail"]["checks_run"], json!(run));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Dry-run cycles

#[test]
fn a_dry_run_cycle_queues_nothing() {
    let sb = Sandbox::with_org();
    let (report, id) = sb.cycle_with_one_proposal(&["--dry-run"], "would_queue");
    assert_eq!(report["dry_run"], json!(true));
    assert_eq!(report["proposals"][0]["rule_name"], json!("budget_overrun"));
    assert_guards_passed(&report["proposals"][0]["guards"]);
    assert_eq!(sb.proposals(), json!({"total": 0, "proposals": []}));
    sb.run(&["proposals", "show", &id])
        .refused(&["no proposal with id"]);
    sb.run(&["proposals", "list"])
        .ok()
        .stdout_has(&["no proposals"]);
    assert_eq!(sb.version_ids(), vec![1]);

    // The dry run is recorded as such, and does not count as the scheduler's last run.
    let cycles = sb.cycles();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0]["id"], report["id"]);
    assert_eq!(cycles[0]["dry_run"], json!(true));
    // So the scheduler's first tick runs, and queues the very proposal the dry run showed.
    let tick = sb.run_on(&["cycle", "tick", "--json"]).ok().json();
    assert_eq!(tick["ran"], json!(true), "{tick:#}");
    let tick = &tick["cycle"];
    assert_eq!(tick["trigger"], json!("schedule"), "{tick:#}");
    assert_eq!(tick["proposals"][0]["outcome"], json!("queued"), "{tick:#}");
    assert_eq!(tick["proposals"][0]["id"], json!(id));
    assert_eq!(sb.proposals()["total"], json!(1));
    assert_eq!(status(&sb, &id), json!("pending"));
}

// ---------------------------------------------------------------------------------------------
// 5. The scheduler

#[test]
fn tick_runs_a_cycle_when_due_then_waits_for_the_interval() {
    let sb = Sandbox::with_org();
    let first = sb.run_on(&["cycle", "tick", "--json"]).ok().json();
    assert_eq!(first["ran"], json!(true));
    let first = first["cycle"].clone();
    assert_eq!(first["trigger"], json!("schedule"));
    assert_eq!(first["dry_run"], json!(false));
    assert_eq!(first["proposals"][0]["outcome"], json!("queued"));
    let id = first["proposals"][0]["id"].as_str().expect("a proposal id");
    assert_eq!(status(&sb, id), json!("pending"));

    // Due again only after schedule.cycle_interval_hours (default 168) from the first start.
    let due = time(&first["started_at"]) + chrono::Duration::hours(168);
    let second = sb.run_on(&["cycle", "tick", "--json"]).ok().json();
    assert_eq!(second["ran"], json!(false), "{second:#}");
    assert_eq!(time(&second["next_due"]), due);
    sb.run_on(&["cycle", "tick"])
        .ok()
        .stdout_has(&["no cycle due", "next one is due at"]);
    let cycles = sb.cycles();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0]["trigger"], json!("schedule"));

    // A shorter interval from the configuration applies to the persisted last run.
    let one_hour = (
        "KAIZEN__SELF_IMPROVEMENT__SCHEDULE__CYCLE_INTERVAL_HOURS",
        "1",
    );
    let third = sb
        .run_env(&["cycle", "tick", "--json"], &[ENABLED, one_hour])
        .ok()
        .json();
    assert_eq!(third["ran"], json!(false), "{third:#}");
    assert_eq!(
        time(&third["next_due"]),
        time(&first["started_at"]) + chrono::Duration::hours(1)
    );

    // A manual cycle counts as the last run too.
    let (manual, _) = sb.cycle_with_one_proposal(&[], "duplicate");
    let after = sb.run_on(&["cycle", "tick", "--json"]).ok().json();
    assert_eq!(
        time(&after["next_due"]),
        time(&manual["started_at"]) + chrono::Duration::hours(168)
    );
    assert_eq!(sb.cycles().len(), 2);
}

#[test]
fn tick_without_an_org_refuses() {
    let sb = Sandbox::with_budget_overrun();
    sb.run_on(&["cycle", "tick"])
        .refused(&["no org document", "kaizen org init"]);
    assert_eq!(sb.cycles(), Vec::<Value>::new());
}

// ---------------------------------------------------------------------------------------------
// Regressions of two bugs found by these tests (both fixed).

/// After the open proposal is rejected, the next cycle queues a new one. Its stored id gets a
/// suffix (`ID-2`, `free_id`), but the cycle report still names the rejected one.
#[test]
fn a_requeued_proposal_is_reported_under_its_stored_id() {
    let sb = Sandbox::with_org();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    sb.run(&[
        "proposals",
        "reject",
        &id,
        "--reason",
        "not now",
        "--as",
        "bob",
    ])
    .ok();
    let (report, reported) = sb.cycle_with_one_proposal(&[], "queued");
    let pending = sb
        .run(&["proposals", "list", "--status", "pending", "--json"])
        .ok()
        .json();
    assert_eq!(pending["total"], json!(1), "{pending:#}");
    let stored = pending["proposals"][0]["id"].as_str().expect("an id");
    assert_ne!(stored, id);
    assert_eq!(
        reported, stored,
        "cycle {} reports {reported} as queued, but the store holds it as {stored}",
        report["id"]
    );
}

/// A dry run should say what a real run would do: with the proposal already open, that is a
/// duplicate, not `would_queue`.
#[test]
fn a_dry_run_reports_duplicates_like_a_real_run() {
    let sb = Sandbox::with_org();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    let (report, _) = sb.cycle_with_one_proposal(&["--dry-run"], "duplicate");
    assert_eq!(report["proposals"][0]["existing_id"], json!(id));
    assert_eq!(sb.proposal(&id)["proposal"]["occurrences"], json!(1));
}

// ---------------------------------------------------------------------------------------------
// Operator-declared knobs and playbooks

#[test]
fn a_playbook_with_an_unknown_knob_is_a_configuration_error() {
    let sb = Sandbox::with_org();
    std::fs::write(
        sb.path("kaizen.yaml"),
        "improvement:\n  playbooks:\n    - rule: budget_overrun\n      alternatives:\n        - {knob: models.nope, op: {step_down: 1}}\n",
    )
    .expect("writing kaizen.yaml");
    sb.run_on(&["cycle", "run"])
        .refused(&["improvement.playbooks", "models.nope"]);

    // A valid operator playbook replaces the standard one for its rule.
    std::fs::write(
        sb.path("kaizen.yaml"),
        "improvement:\n  playbooks:\n    - rule: budget_overrun\n      alternatives:\n        - {knob: budget.per_task_limit_usd, op: {scale_by: 0.5}}\n",
    )
    .expect("writing kaizen.yaml");
    assert_eq!(
        sb.cycles(),
        Vec::<Value>::new(),
        "the refused run recorded nothing"
    );
    let report = sb.run_on(&["cycle", "run", "--json"]).ok().json();
    let title = report["proposals"][0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("budget.per_task_limit_usd"), "{report:#}");
}

// ---------------------------------------------------------------------------------------------
// The audit log of the CLI's state changes

/// Every audit entry, oldest first.
fn audit_log(sb: &Sandbox) -> Vec<Value> {
    let log = sb.run(&["audit", "--json", "--limit", "1000"]).ok().json();
    let mut entries = log["entries"]
        .as_array()
        .expect("a list of entries")
        .clone();
    assert_eq!(log["total"], json!(entries.len()), "{log:#}");
    entries.reverse();
    entries
}

/// The entries of one operation, oldest first.
fn audited(log: &[Value], operation: &str) -> Vec<Value> {
    log.iter()
        .filter(|e| e["operation"] == json!(operation))
        .cloned()
        .collect()
}

/// Asserts an entry's actor, target, outcome and before/after.
fn assert_entry(
    e: &Value,
    (actor, kind): (&str, &str),
    target: Value,
    outcome: &str,
    (before, after): (Value, Value),
) {
    assert_eq!(e["actor"], json!(actor), "{e:#}");
    assert_eq!(e["actor_kind"], json!(kind), "{e:#}");
    assert_eq!(e["target"], target, "{e:#}");
    assert_eq!(e["outcome"], json!(outcome), "{e:#}");
    assert_eq!(e["before"], before, "{e:#}");
    assert_eq!(e["after"], after, "{e:#}");
}

#[test]
fn every_cli_state_change_and_refusal_is_audited() {
    let sb = Sandbox::with_agents();
    const CLI: (&str, &str) = ("cli", "human");

    // Ingest, then the two org versions (init and import of the agents).
    let log = audit_log(&sb);
    let ingest = audited(&log, "events.ingest");
    assert_eq!(ingest.len(), 1, "{log:#?}");
    assert_entry(
        &ingest[0],
        CLI,
        Value::Null,
        "ok",
        (Value::Null, Value::Null),
    );
    let d = &ingest[0]["detail"];
    assert_eq!(d["input"], json!("data.ndjson"));
    assert!(d["accepted"].as_u64().is_some_and(|n| n > 1000), "{d:#}");
    assert_eq!(d["duplicates"], json!(0));
    assert_eq!(d["rejected"], json!(0));
    let imports = audited(&log, "org.import");
    assert_eq!(imports.len(), 2, "{log:#?}");
    assert_entry(
        &imports[0],
        CLI,
        json!("1"),
        "ok",
        (Value::Null, json!("1")),
    );
    assert_entry(&imports[1], CLI, json!("2"), "ok", (json!("1"), json!("2")));
    assert_eq!(imports[1]["detail"]["changes"], json!(30));
    assert!(
        imports[1]["detail"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("org-agents.yaml")),
        "{:#}",
        imports[1]
    );
    assert_eq!(imports[1]["detail"]["via"], json!("cli"));

    // A dry run and a real cycle.
    let (dry, _) = sb.cycle_with_one_proposal(&["--dry-run"], "would_queue");
    let (cycle, id) = sb.cycle_with_one_proposal(&[], "queued");

    // A refused approval (no such proposal), the approval, and a refused second approval.
    sb.run(&["proposals", "approve", "nope", "--as", "ana"])
        .refused(&["nope"]);
    sb.run(&["proposals", "approve", &id, "--as", "ana"]).ok();
    let approved = status(&sb, &id);
    assert_eq!(approved, json!("rolling_out"));
    sb.run(&["proposals", "approve", &id, "--as", "ana"])
        .refused(&[&id]);
    // A rejection without a reason is refused by the service; a bad flag never reaches it.
    sb.run(&["proposals", "reject", &id, "--reason", "  ", "--as", "bob"])
        .refused(&["needs a reason"]);
    sb.run(&[
        "rollouts", "decide", &id, "rollback", "--reason", "x", "--hours", "3",
    ])
    .refused(&["--hours"]);
    sb.run(&[
        "rollouts",
        "decide",
        &id,
        "rollback",
        "--reason",
        "the medium tier hurt quality",
        "--as",
        "bob",
    ])
    .ok();
    let rolled_back = status(&sb, &id);
    sb.run(&["alerts", "ack", "99", "--as", "ana"])
        .refused(&["no unacknowledged alert with id 99"]);
    let before_rollback = *sb.version_ids().iter().max().expect("a version");
    sb.run(&["org", "rollback", "--to", "1", "--reason", "start over"])
        .ok();
    let restored = *sb.version_ids().iter().max().expect("a version");
    assert_eq!(restored, before_rollback + 1);

    let log = audit_log(&sb);
    let cycles = audited(&log, "cycles.run");
    assert_eq!(cycles.len(), 2, "{log:#?}");
    assert_entry(
        &cycles[0],
        CLI,
        dry["id"].clone(),
        "ok",
        (Value::Null, Value::Null),
    );
    assert_eq!(cycles[0]["detail"]["dry_run"], json!(true));
    assert_eq!(cycles[0]["detail"]["trigger"], json!("manual"));
    assert_entry(
        &cycles[1],
        CLI,
        cycle["id"].clone(),
        "ok",
        (Value::Null, Value::Null),
    );
    assert_eq!(cycles[1]["detail"]["dry_run"], json!(false));
    assert_eq!(cycles[1]["detail"]["queued"], json!(1));

    let approvals = audited(&log, "proposals.approve");
    assert_eq!(approvals.len(), 3, "{log:#?}");
    let ana = ("ana", "human");
    assert_entry(
        &approvals[0],
        ana,
        json!("nope"),
        "refused",
        (Value::Null, Value::Null),
    );
    assert_eq!(approvals[0]["detail"]["code"], json!("not_found"));
    assert_entry(
        &approvals[1],
        ana,
        json!(id),
        "ok",
        (json!("pending"), approved.clone()),
    );
    assert_entry(
        &approvals[2],
        ana,
        json!(id),
        "refused",
        (approved.clone(), approved.clone()),
    );
    assert_eq!(approvals[2]["detail"]["code"], json!("conflict"));
    assert!(
        approvals[2]["detail"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(id.as_str())),
        "{:#}",
        approvals[2]
    );

    let rejections = audited(&log, "proposals.reject");
    assert_eq!(rejections.len(), 1, "{log:#?}");
    let bob = ("bob", "human");
    assert_entry(
        &rejections[0],
        bob,
        json!(id),
        "refused",
        (approved.clone(), approved.clone()),
    );
    assert!(
        rejections[0]["detail"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs a reason")),
        "{:#}",
        rejections[0]
    );

    // The bad `--hours` flag left no entry; the decision did.
    let decisions = audited(&log, "rollouts.decide");
    assert_eq!(decisions.len(), 1, "{log:#?}");
    assert_entry(
        &decisions[0],
        bob,
        json!(id),
        "ok",
        (approved.clone(), rolled_back),
    );
    assert_eq!(decisions[0]["detail"]["decision"], json!("rollback"));
    assert_eq!(
        decisions[0]["detail"]["reason"],
        json!("the medium tier hurt quality")
    );

    let acks = audited(&log, "alerts.ack");
    assert_eq!(acks.len(), 1, "{log:#?}");
    assert_entry(
        &acks[0],
        ana,
        json!("99"),
        "refused",
        (Value::Null, Value::Null),
    );

    let rollbacks = audited(&log, "org.restore");
    assert_eq!(rollbacks.len(), 1, "{log:#?}");
    let (b, a) = (before_rollback.to_string(), restored.to_string());
    assert_entry(&rollbacks[0], CLI, json!(a), "ok", (json!(b), json!(a)));
    assert_eq!(rollbacks[0]["detail"]["restored"], json!(1));
    assert_eq!(rollbacks[0]["detail"]["reason"], json!("start over"));
    assert!(
        rollbacks[0]["detail"]["changes"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );

    // Nothing else was audited (reads are not).
    let known = [
        "events.ingest",
        "org.import",
        "cycles.run",
        "proposals.approve",
        "proposals.reject",
        "rollouts.decide",
        "alerts.ack",
        "org.restore",
    ];
    for e in &log {
        let op = e["operation"].as_str().unwrap_or_default();
        assert!(known.contains(&op), "unexpected entry {e:#}");
    }
}

#[test]
fn scheduled_cycles_and_refused_ticks_are_audited() {
    let sb = Sandbox::with_budget_overrun();
    sb.run_on(&["cycle", "tick"]).refused(&["no org document"]);
    sb.run(&["org", "init"]).ok();
    let tick = sb.run_on(&["cycle", "tick", "--json"]).ok().json();
    assert_eq!(tick["ran"], json!(true), "{tick:#}");
    // Not due: nothing changes, nothing is audited.
    sb.run_on(&["cycle", "tick"]).ok();

    let log = audit_log(&sb);
    let cycles = audited(&log, "cycles.run");
    assert_eq!(cycles.len(), 2, "{log:#?}");
    assert_entry(
        &cycles[0],
        ("cli", "human"),
        Value::Null,
        "refused",
        (Value::Null, Value::Null),
    );
    assert_eq!(cycles[0]["detail"]["code"], json!("no_org"));
    assert_eq!(cycles[0]["detail"]["trigger"], json!("schedule"));
    assert_entry(
        &cycles[1],
        ("cli", "human"),
        tick["cycle"]["id"].clone(),
        "ok",
        (Value::Null, Value::Null),
    );
    assert_eq!(cycles[1]["detail"]["trigger"], json!("schedule"));
}

/// A change that succeeded but could not be audited exits 1 and says what was done.
#[test]
fn an_actor_name_the_audit_log_cannot_hold_is_refused_before_anything_changes() {
    let sb = Sandbox::with_org();
    let (_, id) = sb.cycle_with_one_proposal(&[], "queued");
    // The audit log holds actor names of up to 128 characters; the service checks that first,
    // so no change happens that could not be audited.
    let long = "x".repeat(200);
    sb.run(&[
        "proposals",
        "reject",
        &id,
        "--reason",
        "nope",
        "--as",
        &long,
    ])
    .code_is(2)
    .stderr_has(&["actor name must be 1 to 128 characters"]);
    assert_eq!(status(&sb, &id), json!("pending"));
}
