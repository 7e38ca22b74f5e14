//! `kaizen sim run`, `kaizen sim suite` and `kaizen demo`: the simulated organisation and the
//! closed-loop evaluation (`kaizen_lab`, `docs/simulator.md`). This only parses, calls the lab
//! and renders.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use comfy_table::Cell;
use indicatif::{ProgressBar, ProgressStyle};
use kaizen_lab::demo::{DemoOptions, DemoStarted, Observer, PacedProgress};
use kaizen_lab::report::ScenarioReport;
use kaizen_lab::run::{Phase, Progress};
use kaizen_lab::scenario::Kpi;
use kaizen_lab::{LabError, RunOptions, Scenario};

use super::usage;
use crate::cli::{DemoArgs, ScenarioOverrides, SimRunArgs, SimSuiteArgs};
use crate::output;

fn lab_error(e: LabError) -> anyhow::Error {
    if e.is_user_error() {
        usage(e.to_string())
    } else {
        anyhow::anyhow!(e)
    }
}

fn load(path: &Path, o: &ScenarioOverrides) -> Result<Scenario> {
    let s = Scenario::load(path).map_err(|e| usage(e.to_string()))?;
    s.with_overrides(o.agents, o.days, o.seed)
        .map_err(|e| usage(format!("{} (after the command-line overrides)", e)))
}

fn bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    )
}

fn on_progress(bar: &ProgressBar) -> impl Fn(&Progress<'_>) + '_ {
    move |p: &Progress<'_>| {
        let phase = match p.phase {
            Phase::Counterfactual => "without loop",
            Phase::Loop => "with loop",
        };
        bar.set_prefix(format!("{} ({phase})", p.scenario));
        bar.set_length(p.total);
        bar.set_position(p.done);
        let day = p.done / 24;
        bar.set_message(match p.phase {
            Phase::Loop => format!("day {day} · {} proposals", p.proposals),
            Phase::Counterfactual => format!("day {day}"),
        });
    }
}

fn show_progress(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

pub fn sim_run(args: &SimRunArgs, quiet: bool) -> Result<u8> {
    let scenario = load(&args.scenario, &args.overrides)?;
    if let Some(path) = &args.write_org {
        let doc = kaizen_lab::demo::org_document(&scenario);
        let yaml = serde_saphyr::to_string(&doc).context("rendering the org document")?;
        std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))?;
        if !quiet {
            eprintln!(
                "wrote the org document of scenario {} ({} agents) to {}",
                scenario.name,
                doc.agents.len(),
                path.display()
            );
        }
        return Ok(0);
    }
    if let Some(target) = &args.target {
        let token = args
            .token
            .as_deref()
            .ok_or_else(|| usage("--target needs --token (or $KAIZEN_TOKEN)"))?;
        return feed(args, &scenario, target, token, quiet);
    }
    let progress = bar(show_progress(quiet));
    let callback = on_progress(&progress);
    let opts = RunOptions {
        progress: Some(&callback),
        keep_dir: args.keep_dir.clone(),
    };
    let report = kaizen_lab::run_scenario(&scenario, &opts).map_err(lab_error)?;
    progress.finish_and_clear();
    if args.json {
        output::print_json(&report)?;
    } else {
        print_report(&report);
        if let Some(dir) = &args.keep_dir {
            println!(
                "\nthe store of the run with the loop: {}",
                dir.join("kaizen.db").display()
            );
        }
    }
    Ok(exit_code(std::slice::from_ref(&report), quiet))
}

fn exit_code(reports: &[ScenarioReport], quiet: bool) -> u8 {
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.scenario.as_str())
        .collect();
    if failed.is_empty() {
        0
    } else {
        if !quiet {
            eprintln!("expectations not met: {}", failed.join(", "));
        }
        1
    }
}

/// The scenario files of `dir`, by name.
fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| usage(format!("reading {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(usage(format!("no *.yaml scenarios in {}", dir.display())));
    }
    Ok(files)
}

pub fn sim_suite(args: &SimSuiteArgs, quiet: bool) -> Result<u8> {
    let files = scenario_files(&args.dir)?;
    // Every file is checked before anything runs: a typo should not surface after an hour.
    let scenarios = files
        .iter()
        .map(|f| load(f, &args.overrides))
        .collect::<Result<Vec<_>>>()?;
    let progress = bar(show_progress(quiet));
    let callback = on_progress(&progress);
    let mut reports = Vec::with_capacity(scenarios.len());
    for s in &scenarios {
        let opts = RunOptions {
            progress: Some(&callback),
            keep_dir: None,
        };
        let report = kaizen_lab::run_scenario(s, &opts)
            .map_err(lab_error)
            .with_context(|| format!("scenario {}", s.name))?;
        if !quiet && !args.json {
            progress.println(format!(
                "{:>22}: {} in {:.1} s",
                report.scenario,
                if report.passed { "passed" } else { "FAILED" },
                report.wall_seconds
            ));
        }
        reports.push(report);
    }
    progress.finish_and_clear();
    if args.json {
        output::print_json(&reports)?;
    } else {
        print_suite(&reports);
    }
    Ok(exit_code(&reports, quiet))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{:+.1} %", v * 100.0))
}

fn num(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "no data".to_owned(), |v| format!("{v:.decimals$}"))
}

fn hours(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |h| format!("{h:.0} h"))
}

fn print_suite(reports: &[ScenarioReport]) {
    let mut t = output::table();
    t.set_header(vec![
        "scenario",
        "faults detected",
        "detection",
        "proposals made / approved / applied / rolled back",
        "harmful rolled back",
        "quality",
        "success",
        "cost/task",
        "errors",
        "passed",
        "time",
    ]);
    for r in reports {
        let detected = r.faults.iter().filter(|f| f.detected_at.is_some()).count();
        let detection: Vec<String> = r.faults.iter().map(|f| hours(f.detection_hours)).collect();
        let c = &r.counts;
        let imp = |k: Kpi| pct(r.with_loop.improvement_over(&r.without_loop, k));
        t.add_row(vec![
            Cell::new(&r.scenario),
            Cell::new(format!("{detected}/{}", r.faults.len())),
            Cell::new(if detection.is_empty() {
                "–".to_owned()
            } else {
                detection.join(", ")
            }),
            Cell::new(format!(
                "{} / {} / {} / {}",
                c.made, c.approved, c.applied, c.rolled_back
            )),
            Cell::new(format!("{}/{}", r.harm.rolled_back, r.harm.harmful)),
            Cell::new(imp(Kpi::Quality)),
            Cell::new(imp(Kpi::SuccessRate)),
            Cell::new(imp(Kpi::CostPerTask)),
            Cell::new(imp(Kpi::ErrorRate)),
            Cell::new(if r.passed { "yes" } else { "NO" }),
            Cell::new(format!("{:.1} s", r.wall_seconds)),
        ]);
    }
    println!("{t}");
    println!(
        "KPI columns: change with kaizen's loop against the same organisation without it, over each scenario's last days (positive = better)."
    );
    let faults: usize = reports.iter().map(|r| r.faults.len()).sum();
    let detected: usize = reports
        .iter()
        .map(|r| r.faults.iter().filter(|f| f.detected_at.is_some()).count())
        .sum();
    let passed = reports.iter().filter(|r| r.passed).count();
    println!(
        "faults detected: {detected}/{faults}; scenarios passed: {passed}/{}",
        reports.len()
    );
    match kaizen_lab::report::calibration(reports) {
        Some(c) => println!(
            "confidence calibration over {} closed proposals: Brier {:.3} (always the kept share: {:.3})",
            c.n, c.brier, c.brier_reference
        ),
        None => println!("confidence calibration: no closed proposals"),
    }
}

fn print_report(r: &ScenarioReport) {
    println!(
        "scenario {} — seed {}, {} agents, {} days from {} ({:.1} s)",
        r.scenario,
        r.seed,
        r.agents,
        r.days,
        r.start.format("%Y-%m-%d"),
        r.wall_seconds
    );
    if !r.description.is_empty() {
        println!("{}", r.description);
    }
    println!(
        "\n{} events, {} tasks, {} cycles",
        r.events, r.tasks, r.cycles
    );

    if !r.faults.is_empty() {
        let mut t = output::table();
        t.set_header(vec![
            "fault", "where", "starts", "rule", "detected", "after",
        ]);
        for f in &r.faults {
            t.add_row(vec![
                f.kind.to_string(),
                f.department.clone().unwrap_or_else(|| "all".to_owned()),
                f.starts_at.format("%m-%d %H:%M").to_string(),
                f.rule.clone(),
                f.detected_at
                    .map_or_else(|| "no".to_owned(), |d| d.format("%m-%d %H:%M").to_string()),
                hours(f.detection_hours),
            ]);
        }
        println!("\nFaults\n{t}");
    }

    if r.rules.is_empty() {
        println!("\nNo rule fired.");
    } else {
        let mut t = output::table();
        t.set_header(vec!["rule", "first fired", "last fired", "cycles"]);
        for f in &r.rules {
            t.add_row(vec![
                f.rule.clone(),
                f.first_at.format("%m-%d %H:%M").to_string(),
                f.last_at.format("%m-%d %H:%M").to_string(),
                f.cycles.to_string(),
            ]);
        }
        println!("\nRules that fired\n{t}");
    }

    if r.proposals.is_empty() {
        println!("\nNo proposals.");
    } else {
        let mut t = output::table();
        t.set_header(vec![
            "proposal",
            "rule",
            "change",
            "queued",
            "status",
            "approval → verdict",
            "model says",
        ]);
        for p in &r.proposals {
            let verdict = p.rollout.as_ref().map(|ro| {
                format!(
                    "{} ({}{})",
                    hours(ro.approval_to_verdict_hours),
                    ro.verdict.as_deref().unwrap_or("observing"),
                    ro.verdict_check
                        .map_or_else(String::new, |c| format!(", check {c}"))
                )
            });
            let oracle = p.oracle.map_or_else(
                || "–".to_owned(),
                |o| {
                    format!(
                        "{}: q {} s {} cost {}",
                        if o.harmful { "HARMFUL" } else { "ok" },
                        pct(o.quality),
                        pct(o.success_rate),
                        pct(o.cost_per_task)
                    )
                },
            );
            t.add_row(vec![
                p.id.clone(),
                p.rule.clone(),
                p.changes.join("; "),
                p.queued_at.format("%m-%d %H:%M").to_string(),
                p.status.clone(),
                verdict.unwrap_or_else(|| "–".to_owned()),
                oracle,
            ]);
        }
        println!("\nProposals\n{t}");
        let c = &r.counts;
        println!(
            "made {}, approved {}, rejected {}, applied {}, rolled back {}, inconclusive {}, still open {}",
            c.made, c.approved, c.rejected, c.applied, c.rolled_back, c.inconclusive, c.open
        );
    }

    let mut t = output::table();
    t.set_header(vec![
        "KPI (last days)",
        "with loop",
        "without loop",
        "change",
    ]);
    for (k, decimals) in [
        (Kpi::Quality, 2),
        (Kpi::SuccessRate, 3),
        (Kpi::CostPerTask, 4),
        (Kpi::ErrorRate, 4),
    ] {
        t.add_row(vec![
            k.as_str().to_owned(),
            num(r.with_loop.get(k), decimals),
            num(r.without_loop.get(k), decimals),
            pct(r.with_loop.improvement_over(&r.without_loop, k)),
        ]);
    }
    println!(
        "\nKPIs over the last {} days (change: positive = better)\n{t}",
        r.kpi_window_days
    );
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or_else(
            || "never".to_owned(),
            |t| t.format("%m-%d %H:%M").to_string(),
        )
    };
    println!(
        "monthly budget {:.0} USD; exhausted with the loop: {}, without: {}",
        r.budget.monthly_limit_usd,
        when(r.budget.exhausted_with_loop),
        when(r.budget.exhausted_without_loop)
    );

    println!("\nChecks");
    for c in &r.checks {
        println!(
            "  {} {} — {}",
            if c.passed { "✓" } else { "✗" },
            c.name,
            c.detail
        );
    }
}

/// Draws a paced run: a progress bar over simulated time and a line per notable change.
struct Terminal {
    bar: ProgressBar,
    quiet: bool,
    start: chrono::DateTime<chrono::Utc>,
}

impl Terminal {
    /// A line above the bar (on stderr as it is when there is no terminal to draw on).
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    fn new(quiet: bool, start: chrono::DateTime<chrono::Utc>) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("[{bar:30}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            )
        };
        Self { bar, quiet, start }
    }
}

impl Observer for Terminal {
    fn started(&self, info: &DemoStarted) {
        self.line(&format!(
            "kaizen demo: the web UI is at {}  (API docs: {})\n\
             log in with the token of the human `admin`:\n\n    {}\n\n\
             store: {}\n\
             simulated time runs from {} to {}; the organisation's agents poll their configuration and send events over HTTP.",
            info.ui,
            info.api,
            info.admin_token,
            info.store.display(),
            info.live_from.format("%Y-%m-%d %H:%M"),
            info.until.format("%Y-%m-%d %H:%M"),
        ));
    }

    fn progress(&self, p: &PacedProgress) {
        self.bar.set_length(p.total);
        self.bar.set_position(p.done);
        let elapsed = p.now - self.start;
        self.bar.set_message(format!(
            "day {} {:02}:00 · {} tasks · {} events",
            elapsed.num_days(),
            elapsed.num_hours() % 24,
            p.tasks,
            p.events
        ));
    }

    fn notice(&self, line: &str) {
        self.line(line);
    }
}

/// `kaizen sim run --target URL`: the organisation against a running server, in real time.
fn feed(
    args: &SimRunArgs,
    scenario: &Scenario,
    target: &str,
    token: &str,
    quiet: bool,
) -> Result<u8> {
    if args.step_minutes == 0 || args.step_minutes > 24 * 60 {
        return Err(usage("--step-minutes: expected 1 to 1440"));
    }
    let term = Terminal::new(quiet, scenario.start);
    if !quiet {
        eprintln!(
            "feeding {} agents of scenario {} to {target} in real time, a step every {} min; Ctrl-C stops",
            scenario.org.agents, scenario.name, args.step_minutes
        );
    }
    let kpis = kaizen_lab::demo::run_feed(
        scenario,
        target,
        token,
        chrono::Duration::minutes(i64::from(args.step_minutes)),
        &term,
    )
    .map_err(lab_error)?;
    term.bar.finish_and_clear();
    if args.json {
        output::print_json(&kpis)?;
    } else {
        println!(
            "{} tasks, spend {:.2} USD; quality {}, success rate {}, cost per task {}, error rate {}",
            kpis.tasks,
            kpis.spend_usd,
            num(kpis.quality, 2),
            num(kpis.success_rate, 3),
            num(kpis.cost_per_task, 4),
            num(kpis.error_rate, 4)
        );
    }
    Ok(0)
}

pub fn demo(args: &DemoArgs, quiet: bool) -> Result<u8> {
    let scenario = match &args.scenario {
        Some(path) => load(path, &args.overrides)?,
        None => kaizen_lab::demo::demo_scenario()
            .map_err(lab_error)?
            .with_overrides(
                args.overrides.agents,
                args.overrides.days,
                args.overrides.seed,
            )
            .map_err(|e| usage(e.to_string()))?,
    };
    let bind: std::net::SocketAddr = args.bind.parse().map_err(|_| {
        usage(format!(
            "--bind: expected an address like 127.0.0.1:7878, found {:?}",
            args.bind
        ))
    })?;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(usage(format!(
            "--speed: expected a positive number, found {}",
            args.speed
        )));
    }
    let opts = DemoOptions {
        dir: args.dir.clone(),
        speed: args.speed,
        warmup_days: args.warmup_days,
        bind,
        unattended: args.unattended,
    };
    let term = Terminal::new(quiet, scenario.start);
    if !quiet {
        eprintln!(
            "kaizen demo: scenario {} ({} agents, {} days); simulating the first {} days at once…",
            scenario.name,
            scenario.org.agents,
            scenario.days,
            args.warmup_days.min(scenario.days.saturating_sub(1))
        );
    }
    let (report, finished) =
        kaizen_lab::demo::run_demo(&scenario, &opts, &term).map_err(lab_error)?;
    term.bar.finish_and_clear();
    if !finished {
        println!("stopped on day {} of {}.", report.days, scenario.days);
    }
    print_report(&report);
    if let Some(dir) = &args.dir {
        println!(
            "\nthe store stays in {}; look at it with kaizen --store {} …",
            dir.display(),
            dir.join("kaizen.db").display()
        );
    }
    Ok(0)
}
