//! End-to-end tests of `kaizen org …` with the real binary: each test runs in its own temporary
//! directory with a clean environment (only PATH and HOME), so the default actor is `cli`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::PathBuf;

use common::{Run, kaizen};

use serde_json::json;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
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

    fn run(&self, args: &[&str]) -> Run {
        kaizen(self.dir.path(), args, &[])
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
}

#[test]
fn init_edit_import_diff_rollback() {
    let sb = Sandbox::new();
    let out = sb.run(&["org", "init"]).ok().stdout();
    assert!(
        out.contains("imported the standard org as org version 1"),
        "{out}"
    );

    let show = sb.run(&["org", "show", "--json"]).ok().json();
    assert_eq!(show["version"], json!(1));
    assert_eq!(show["actor"], json!("cli"));
    assert_eq!(
        show["counts"],
        json!({"agents": 0, "departments": 5, "roles": 12, "workflows": 3, "principles": 1})
    );
    assert_eq!(
        show["settings"],
        json!({
            "budget": {"per_task_limit_usd": 2.0},
            "coordination": {
                "deduplication": false,
                "max_team_size": 5,
                "straggler_timeout_seconds": 900,
                "work_stealing": false
            },
            "models": {"default_tier": "large"},
            "verification": {"centralized": false}
        })
    );
    let text = sb.run(&["org", "show"]).ok().stdout();
    assert!(
        text.contains("models.default_tier                     \"large\""),
        "{text}"
    );
    assert!(text.contains("verify-before-done [all, append]"), "{text}");

    sb.run(&["org", "export", "-o", "org.yaml"]).ok();
    let original = sb.read("org.yaml");
    assert_eq!(sb.run(&["org", "export"]).ok().stdout(), original);
    // Exporting and re-importing is a no-op (floats stay floats, order is canonical).
    let out = sb.run(&["org", "import", "org.yaml"]).ok().stdout();
    assert!(
        out.contains("equals the current org document (version 1)"),
        "{out}"
    );

    let edited = original
        .replace("default_tier: large", "default_tier: medium")
        .replace(
            "agents: []",
            "agents:\n- id: a1\n  role: sre\n  department: engineering",
        );
    assert_ne!(edited, original);
    sb.write("edited.yaml", &edited);
    let out = sb
        .run(&["org", "import", "edited.yaml", "--actor", "ana"])
        .ok()
        .stdout();
    assert!(
        out.contains("imported edited.yaml as org version 2 (2 changes)"),
        "{out}"
    );

    let history = sb.run(&["org", "history", "--json"]).ok().json();
    assert_eq!(history[0]["id"], json!(2));
    assert_eq!(history[0]["parent"], json!(1));
    assert_eq!(history[0]["actor"], json!("ana"));
    assert_eq!(history[0]["change_count"], json!(2));
    assert_eq!(history[1]["id"], json!(1));
    let table = sb.run(&["org", "history"]).ok().stdout();
    assert!(table.lines().count() == 3, "{table}");

    let diff = sb.run(&["org", "diff", "1", "2", "--json"]).ok().json();
    assert_eq!(
        diff["summary"],
        json!([
            "set models.default_tier: \"large\" → \"medium\"",
            "add agent a1 (role sre, department engineering)"
        ])
    );
    assert_eq!(
        diff["changes"][0],
        json!({"set_setting": {"path": "models.default_tier", "from": "large", "to": "medium"}})
    );
    let text = sb.run(&["org", "diff", "1", "2"]).ok().stdout();
    assert_eq!(
        text,
        "  set models.default_tier: \"large\" → \"medium\"\n  add agent a1 (role sre, department engineering)\n"
    );

    let out = sb
        .run(&["org", "rollback", "--to", "1", "--reason", "tier too small"])
        .ok()
        .stdout();
    assert!(
        out.contains("restored version 1's document as org version 3 (2 changes)"),
        "{out}"
    );
    assert_eq!(sb.run(&["org", "export"]).ok().stdout(), original);
    assert_eq!(sb.read("edited.yaml"), edited);
    sb.run(&["org", "export", "--version", "2", "-o", "v2.yaml"])
        .ok();
    assert_eq!(sb.read("v2.yaml"), edited);
    let same = sb.run(&["org", "diff", "1", "3"]).ok().stdout();
    assert_eq!(same, "versions 1 and 3 have the same document\n");
    let history = sb.run(&["org", "history", "--json"]).ok().json();
    assert_eq!(
        history[0]["reason"],
        json!("rollback to version 1: tier too small")
    );
    assert_eq!(sb.version_ids(), [3, 2, 1]);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let sb = Sandbox::new();
    // Nothing yet.
    sb.run(&["org", "show"])
        .code_is(2)
        .stderr_has(&["there is no org document yet", "kaizen org init"]);
    sb.run(&["org", "init"]).ok();
    sb.run(&["org", "init"])
        .code_is(2)
        .stderr_has(&["already exists (version 1)", "--force"]);

    sb.write(
        "dangling.yaml",
        "departments:\n- id: eng\nagents:\n- id: a1\n  role: nobody\n  department: eng\n",
    );
    sb.run(&["org", "import", "dangling.yaml"])
        .code_is(2)
        .stderr_has(&[
            "dangling.yaml: invalid org document; nothing imported",
            "agents[0].role: unknown role \"nobody\"",
        ]);

    sb.write("unknown.yaml", "roles:\n- id: r\n  title: boss\n");
    sb.run(&["org", "import", "unknown.yaml"])
        .code_is(2)
        .stderr_has(&["unknown.yaml:3:3: roles[0].title: unknown field `title`"]);

    sb.write(
        "scope.yaml",
        "principles:\n- id: p\n  scope: team:x\n  text: Be kind to each other.\n",
    );
    sb.run(&["org", "import", "scope.yaml"])
        .code_is(2)
        .stderr_has(&["principles[0].scope", "found \"team:x\""]);

    sb.write(
        "short.yaml",
        "principles:\n- id: p\n  scope: all\n  text: '  too   short '\n",
    );
    sb.run(&["org", "import", "short.yaml"])
        .code_is(2)
        .stderr_has(&["principles[0].text: expected 10 to 4000 characters after normalising whitespace, found 9"]);

    sb.run(&["org", "import", "missing.yaml"])
        .code_is(2)
        .stderr_has(&["cannot read missing.yaml"]);
    sb.run(&["org", "diff", "1", "7"])
        .code_is(2)
        .stderr_has(&["org version 7 does not exist"]);
    sb.run(&["org", "export", "--version", "7"])
        .code_is(2)
        .stderr_has(&["org version 7 does not exist"]);
    sb.run(&["org", "rollback", "--to", "7", "--reason", "x"])
        .code_is(2)
        .stderr_has(&["org version 7 does not exist"]);
    sb.run(&["org", "rollback", "--to", "1", "--reason", "x"])
        .code_is(2)
        .stderr_has(&["already equals version 1's; nothing to roll back"]);
    sb.run(&["org", "rollback", "--to", "1", "--reason", " "])
        .code_is(2)
        .stderr_has(&["reason: this is an admin operation: give a non-blank reason"]);

    assert_eq!(sb.version_ids(), [1]);
    let show = sb.run(&["org", "show", "--json"]).ok().json();
    assert_eq!(show["settings"]["models"]["default_tier"], json!("large"));
}

#[test]
fn agents_config_serves_an_agents_view_and_refuses_unknown_agents() {
    let sb = Sandbox::new();
    // No org document: a clear refusal.
    sb.run(&["agents", "config", "a1"])
        .refused(&["there is no org document yet", "kaizen org init"]);

    sb.run(&["org", "init"]).ok();
    // The standard org has no agents.
    sb.run(&["agents", "config", "a1"])
        .refused(&["no agent with id \"a1\" in org version 1"]);
    sb.run(&["agents", "config", "a1", "--json"])
        .refused(&["no agent with id \"a1\""]);

    sb.run(&["org", "export", "-o", "org.yaml"]).ok();
    let with_agent = sb.read("org.yaml").replace(
        "agents: []",
        "agents:\n- id: a1\n  role: sre\n  department: engineering",
    );
    sb.write("agent.yaml", &with_agent);
    sb.run(&["org", "import", "agent.yaml"]).ok();

    // --json prints the served bytes: compact JSON, fields in their stable order.
    let run = sb.run(&["agents", "config", "a1", "--json"]).ok();
    let text = run.stdout();
    assert!(text.ends_with("}\n") && !text.contains("\n "), "{text}");
    assert!(
        text.starts_with("{\"agent_id\":\"a1\",\"role\":\"sre\""),
        "{text}"
    );
    let served = run.json();
    assert_eq!(served["agent_id"], json!("a1"));
    assert_eq!(served["role"], json!("sre"));
    assert_eq!(served["department"], json!("engineering"));
    assert_eq!(served["org_version"], json!(2));
    assert_eq!(served["overlays"], json!([]));
    assert_eq!(served["settings"]["models"]["default_tier"], json!("large"));
    assert_eq!(served["principles"][0]["id"], json!("verify-before-done"));
    let etag = served["etag"].as_str().expect("an etag").to_owned();
    assert!(etag.starts_with("v2-") && etag.len() == 19, "{etag}");
    // Reading again serves the same bytes.
    assert_eq!(
        sb.run(&["agents", "config", "a1", "--json"]).ok().stdout(),
        text
    );

    let table = sb.run(&["agents", "config", "a1"]).ok().stdout();
    for needle in [
        "agent a1: role sre, department engineering",
        &format!("org version 2 · etag {etag}"),
        "overlays: none",
        "models.default_tier",
        "\"large\"",
        "verify-before-done [all, append]",
    ] {
        assert!(table.contains(needle), "{needle:?} in:\n{table}");
    }
    sb.run(&["agents", "config", "nobody"])
        .refused(&["no agent with id \"nobody\" in org version 2"]);
}
