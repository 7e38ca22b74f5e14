//! What the end-to-end test files share: running the real `kaizen` binary in a directory with a
//! clean environment, and asserting on how it exited and what it printed.
// Each test binary uses a different subset.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The binary under test.
pub const KAIZEN: &str = env!("CARGO_BIN_EXE_kaizen");

/// Runs `kaizen ARGS` in `dir` with only PATH, HOME (= `dir`) and `env` set.
pub fn kaizen(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(KAIZEN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running kaizen {args:?}: {e}"));
    Run {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        out,
    }
}

/// Issues a token with `kaizen token create` in `dir` (as `setup`): its id and secret.
pub fn issue_token(dir: &Path, principal: &str, kind: &str, cap: &str) -> (String, String) {
    let v = kaizen(
        dir,
        &[
            "token",
            "create",
            "--principal",
            principal,
            "--kind",
            kind,
            "--cap",
            cap,
            "--as",
            "setup",
            "--json",
        ],
        &[],
    )
    .ok()
    .json();
    (
        v["id"].as_str().expect("an id").to_owned(),
        v["secret"].as_str().expect("a secret").to_owned(),
    )
}

/// One finished run of the binary.
pub struct Run {
    /// The arguments, for messages.
    pub args: Vec<String>,
    /// What the process returned.
    pub out: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn code_is(self, code: i32) -> Self {
        assert_eq!(
            self.out.status.code(),
            Some(code),
            "`kaizen {}`\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn ok(self) -> Self {
        self.code_is(0)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| {
            panic!(
                "`kaizen {}`: not JSON ({e}):\n{}",
                self.args.join(" "),
                self.stdout()
            )
        })
    }

    pub fn stdout_has(self, needles: &[&str]) -> Self {
        let out = self.stdout();
        for n in needles {
            assert!(
                out.contains(n),
                "stdout of `kaizen {}` lacks {n:?}:\n{out}",
                self.args.join(" ")
            );
        }
        self
    }

    pub fn stderr_has(self, needles: &[&str]) -> Self {
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

    /// Exit 2, the message on stderr naming the problem, nothing on stdout.
    pub fn refused(self, needles: &[&str]) -> Self {
        let run = self.code_is(2).stderr_has(needles);
        assert_eq!(
            run.stdout(),
            "",
            "`kaizen {}` printed on stdout although it failed",
            run.args.join(" ")
        );
        run
    }
}

/// A running `kaizen serve --bind 127.0.0.1:0` in `dir` (a free loopback port, read from its
/// start-up line) with only PATH, HOME and `env` set; killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(KAIZEN);
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting kaizen serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("kaizen serve ended before listening")
                .expect("reading stderr");
            if let Some(rest) = line.strip_prefix("kaizen serve: http://") {
                break rest.split('/').next().expect("an address").to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
