//! Rendering: tables for people, JSON for scripts, progress bars on stderr.

use anyhow::Result;
use comfy_table::{Cell, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use kaizen_core::config::KaizenConfig;
use kaizen_core::rules::RuleEngine;
use kaizen_core::rules::engine::Evaluation;
use kaizen_core::snapshot::{MetricSummary, OrgSignalSnapshot, TrendDirection};
use kaizen_store::{IngestReport, StoreStats};
use serde::Serialize;

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A byte progress bar on stderr (hidden when `show` is false).
pub fn byte_progress(show: bool, total: Option<u64>, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{prefix} {spinner} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_prefix(label.to_owned());
    bar
}

/// A count progress bar on stderr.
pub fn count_progress(show: bool, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// A table in kaizen's style.
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "no data".to_owned(), |x| format!("{x:.decimals$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".to_owned(), |x| format!("{:.1}%", x * 100.0))
}

fn arrow(t: TrendDirection) -> &'static str {
    match t {
        TrendDirection::Improving => "improving",
        TrendDirection::Declining => "DECLINING",
        TrendDirection::Stable => "stable",
    }
}

fn metric_line(m: &MetricSummary) -> String {
    format!(
        "{:<22} {:>10.3}   {} (first half {}, second half {})",
        m.name,
        m.value,
        arrow(m.trend),
        opt(m.first_half, 3),
        opt(m.second_half, 3)
    )
}

/// The snapshot as sections of key/value lines.
pub fn print_snapshot(s: &OrgSignalSnapshot) {
    let w = &s.window;
    println!(
        "Signal snapshot {} → {} (hourly buckets {} → {})",
        w.since.to_rfc3339(),
        w.until.to_rfc3339(),
        w.effective_since.format("%Y-%m-%d %H:00"),
        w.effective_until.format("%Y-%m-%d %H:00")
    );
    let p = &s.performance;
    println!(
        "\nPerformance  ({} agents, {} tasks, {} scored)",
        p.agent_count, p.task_count, p.scored_task_count
    );
    println!("  avg quality            {}", opt(p.avg_quality_score, 2));
    println!("  avg success rate       {}", pct(p.avg_success_rate));
    println!(
        "  avg collaboration      {}",
        opt(p.avg_collaboration_score, 2)
    );
    for m in &p.metrics {
        println!("  {}", metric_line(m));
    }
    if !p.department_summaries.is_empty() {
        let mut t = table();
        t.set_header(vec![
            "department",
            "agents",
            "tasks",
            "quality",
            "success",
            "collaboration",
        ]);
        for (name, d) in &p.department_summaries {
            t.add_row(vec![
                Cell::new(name),
                Cell::new(d.agent_count),
                Cell::new(d.task_count),
                Cell::new(opt(d.avg_quality_score, 2)),
                Cell::new(pct(d.avg_success_rate)),
                Cell::new(opt(d.avg_collaboration_score, 2)),
            ]);
        }
        println!("{t}");
    }
    let b = &s.budget;
    println!("\nBudget");
    println!("  total spend            ${:.2}", b.total_spend);
    println!(
        "  split                  productive {:.1}% · coordination {:.1}% · system {:.1}%",
        b.productive_ratio * 100.0,
        b.coordination_ratio * 100.0,
        b.system_ratio * 100.0
    );
    println!(
        "  orchestration overhead {:.3} (coordination ÷ productive tokens)",
        b.orchestration_overhead
    );
    println!(
        "  forecast               burn ${}/day, remaining ${}, exhausted in {} (confidence {:.2})",
        opt(b.daily_burn_usd, 2),
        opt(b.remaining_usd, 2),
        b.days_until_exhausted
            .map_or_else(|| "—".to_owned(), |d| format!("{d} days")),
        b.forecast_confidence
    );
    let c = &s.coordination;
    println!("\nCoordination  ({} measurements)", c.sample_count);
    println!(
        "  efficiency Ec          {}",
        opt(c.coordination_efficiency, 3)
    );
    println!(
        "  overhead O%            {}",
        c.coordination_overhead_pct
            .map_or("no data".into(), |v| format!("{v:.1}%"))
    );
    println!("  error amplification Ae {}", opt(c.error_amplification, 2));
    println!("  message density c      {}", opt(c.message_density, 2));
    println!("  redundancy R           {}", opt(c.redundancy_rate, 3));
    println!("  straggler gap ratio    {}", opt(c.straggler_gap_ratio, 2));
    let sc = &s.scaling;
    println!("\nScaling");
    println!(
        "  decisions              {} ({} decided), success rate {}, most common signal {}",
        sc.total_decisions,
        sc.decided_decisions,
        pct(sc.success_rate),
        sc.most_common_signal.as_deref().unwrap_or("—")
    );
    let e = &s.errors;
    println!(
        "\nErrors  ({} findings, {})",
        e.total_findings,
        arrow(e.trend)
    );
    for cat in e.categories.iter().take(8) {
        println!(
            "  {:<22} {:>6}  avg severity {:.2}  {}",
            cat.category,
            cat.count,
            cat.avg_severity,
            arrow(cat.trend)
        );
    }
    if let Some(m) = &e.most_severe_category {
        println!("  most severe: {m}");
    }
    let ev = &s.evolution;
    println!("\nEvolution");
    println!(
        "  outcomes               {}, approval rate {}, most adapted axis {}",
        ev.total_proposals,
        pct(ev.approval_rate),
        ev.most_adapted_axis.as_deref().unwrap_or("—")
    );
    let t = &s.telemetry;
    println!("\nTelemetry");
    println!(
        "  events                 {} ({} errors); top types: {}",
        t.event_count,
        t.error_event_count,
        if t.top_event_types.is_empty() {
            "—".to_owned()
        } else {
            t.top_event_types.join(", ")
        }
    );
    let bm = &s.benchmark;
    println!("\nBenchmark");
    if bm.run_count == 0 {
        println!("  no runs in the window");
    } else {
        println!(
            "  {} runs; suite {}: latest {}, best {}, change {}{}",
            bm.run_count,
            bm.suite.as_deref().unwrap_or("—"),
            opt(bm.latest_total, 1),
            opt(bm.max_total, 1),
            opt(bm.delta, 1),
            if bm.is_regression {
                " (REGRESSION)"
            } else {
                ""
            }
        );
    }
    for f in &s.failed_domains {
        println!(
            "\nwarning: the {} aggregator failed ({}); its summary is empty",
            f.domain.as_str(),
            f.error
        );
    }
}

/// Rules table.
pub fn print_rules(engine: &RuleEngine, _config: &KaizenConfig) {
    let mut t = table();
    t.set_header(vec![
        "rule",
        "severity",
        "enabled",
        "altitudes",
        "fires when",
    ]);
    for r in engine.rules() {
        t.add_row(vec![
            Cell::new(&r.name),
            Cell::new(r.severity.as_str()),
            Cell::new(if r.enabled { "yes" } else { "no" }),
            Cell::new(
                r.altitudes
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Cell::new(&r.description),
        ]);
    }
    println!("{t}");
}

/// Rules as JSON, with the thresholds in force.
pub fn rules_json(engine: &RuleEngine, config: &KaizenConfig) -> serde_json::Value {
    serde_json::json!({
        "rules": engine.rules(),
        "thresholds": config.rules.thresholds,
    })
}

/// Fired rules.
pub fn print_evaluation(s: &OrgSignalSnapshot, e: &Evaluation) {
    if e.matches.is_empty() {
        println!(
            "No rule fired for {} → {}.",
            s.window.since.to_rfc3339(),
            s.window.until.to_rfc3339()
        );
    } else {
        println!("{} rule(s) fired:", e.matches.len());
        let mut t = table();
        t.set_header(vec!["severity", "rule", "finding", "altitudes"]);
        for m in &e.matches {
            t.add_row(vec![
                Cell::new(m.severity.as_str()),
                Cell::new(&m.rule_name),
                Cell::new(&m.description),
                Cell::new(
                    m.suggested_altitudes
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]);
        }
        println!("{t}");
    }
    for f in &e.failures {
        println!(
            "warning: rule {} could not be evaluated: {}",
            f.rule, f.error
        );
    }
}

/// One file's ingestion summary, with its first rejections.
pub fn print_ingest_report(file: &str, r: &IngestReport) {
    println!(
        "{file}: {} records, {} accepted, {} duplicates skipped, {} rejected",
        r.records, r.accepted, r.duplicates, r.rejected
    );
    const SHOWN: usize = 20;
    for rej in r.rejections.iter().take(SHOWN) {
        eprintln!("  {file}:{rej}");
    }
    if r.rejected as usize > SHOWN.min(r.rejections.len()) {
        eprintln!(
            "  … and {} more (use --json or --rejects FILE to see them all)",
            r.rejected as usize - SHOWN.min(r.rejections.len())
        );
    }
}

/// Store statistics.
pub fn print_store_stats(s: &StoreStats) {
    println!("store            {}", s.path);
    println!("schema version   {}", s.schema_version);
    println!(
        "file size        {:.1} MiB",
        s.file_bytes as f64 / 1_048_576.0
    );
    println!("raw events       {}", s.events);
    for (ty, n) in &s.events_by_type {
        println!("  {ty:<22} {n}");
    }
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "—".to_owned(), |t| t.to_rfc3339())
    };
    println!("oldest event     {}", when(s.oldest_event));
    println!("newest event     {}", when(s.newest_event));
    println!("rollup rows      {}", s.rollup_rows);
    println!("rollup keys      {}", s.rollup_keys);
    println!("agents           {}", s.agents);
    if let Some(p) = s.pruned_before {
        println!(
            "pruned before    {} (raw events only; rollups kept)",
            p.to_rfc3339()
        );
    }
}

/// A proposal for a reviewer: evidence, exact changes, rollback plan, guards, history.
/// `apply_check` is `None` for a closed proposal, else the applier check's problem, if any.
pub fn print_proposal(
    p: &kaizen_store::proposals::StoredProposal,
    apply_check: Option<Option<String>>,
) {
    let pr = &p.proposal;
    println!("{}  {}", pr.id, pr.title);
    println!(
        "status {} · altitude {} · risk {} · confidence {:.2} · seen {}×",
        p.status.as_str(),
        pr.altitude.as_str(),
        format!("{:?}", pr.risk).to_lowercase(),
        pr.confidence,
        p.occurrences
    );
    println!("\n{}", pr.description);
    let r = &pr.rationale;
    println!(
        "\nEvidence: rule {} ({}): {}",
        r.rule_name,
        r.severity.as_str(),
        r.description
    );
    for (k, v) in &r.signal_context {
        println!("  {k:<24} {}", serde_json::to_string(v).unwrap_or_default());
    }
    println!("\nChanges to the org document:");
    for c in &pr.changes {
        println!("  {c}");
    }
    println!("\nRollback plan:");
    for c in &pr.rollback.operations {
        println!("  {c}");
    }
    if !pr.alternatives.is_empty() {
        println!("\nAlternatives considered:");
        for a in &pr.alternatives {
            println!("  {a}");
        }
    }
    println!(
        "\nSuggested rollout: {} with a {} h observation window",
        pr.rollout.as_str(),
        pr.observation_window_hours
    );
    println!("\nGuards:");
    for g in &p.guards {
        println!("  {:<14} {:?}: {}", g.guard, g.verdict, g.reason);
    }
    if !p.approvals.is_empty() {
        println!("\nApprovals:");
        for a in &p.approvals {
            println!(
                "  {}  {}{}",
                a.at.format("%Y-%m-%d %H:%M:%S"),
                a.actor,
                a.reason
                    .as_deref()
                    .map_or(String::new(), |r| format!(": {r}"))
            );
        }
    }
    println!("\nHistory:");
    for t in &p.transitions {
        println!(
            "  {}  {} → {}  by {} ({}){}",
            t.at.format("%Y-%m-%d %H:%M:%S"),
            t.from_status.map_or("—", |s| s.as_str()),
            t.to_status.as_str(),
            t.actor,
            t.actor_kind.as_str(),
            t.reason
                .as_deref()
                .map_or(String::new(), |r| format!(": {r}"))
        );
    }
    match apply_check {
        Some(None) => println!("\nIt applies cleanly to the current org document."),
        Some(Some(e)) => println!("\nIt would NOT apply to the current org document: {e}"),
        None => {}
    }
}

/// What `proposals approve` achieved.
pub fn print_approved(id: &str, actor: &str, a: &kaizen_service::Approved) {
    if !a.approved {
        println!(
            "recorded {actor}'s approval of {id} ({} of {} required); it stays pending until {} more human(s) approve",
            a.approvals,
            a.required,
            a.required.saturating_sub(a.approvals)
        );
        return;
    }
    println!("approved {id} as {actor}");
    if let Some(r) = &a.rollout {
        println!(
            "{} rollout started: {} agent(s) in treatment, {} in control, {} h observation window, first check at {}",
            r.strategy,
            r.treatment,
            r.control,
            r.window_hours,
            when(r.first_check_at)
        );
        if !r.plan.is_empty() {
            println!(
                "{}: {}",
                if r.can_conclude { "plan" } else { "WARNING" },
                r.plan
            );
        }
        println!("follow it with `kaizen rollouts show {id}`");
    } else if let Some(e) = &a.rollout_error {
        println!("its rollout did NOT start: {e}");
        println!(
            "the proposal stays approved; fix the cause, then start it with `kaizen rollouts start {id}`"
        );
    }
}

/// A time for people, `—` for none.
pub fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// A ratio estimate with as many decimals as its size needs.
fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// A p-value: three decimals, scientific below 0.001, `—` for none.
fn p_value(p: Option<f64>) -> String {
    match p {
        None => "—".to_owned(),
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => format!("{p:.3}"),
    }
}

/// A check's decision in a few words.
pub fn check_decision(d: &kaizen_core::rollout::check::CheckDecision) -> String {
    use kaizen_core::rollout::check::CheckDecision;
    match d {
        CheckDecision::Continue => "continue".to_owned(),
        CheckDecision::RollBack { layer, metrics, .. } => format!(
            "ROLL BACK ({}: {})",
            format!("{layer:?}").to_lowercase(),
            metrics
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CheckDecision::Apply { improved: true, .. } => "apply (improved)".to_owned(),
        CheckDecision::Apply { .. } => "apply".to_owned(),
        CheckDecision::Inconclusive { .. } => "inconclusive".to_owned(),
        CheckDecision::Hold { .. } => "hold for a human".to_owned(),
    }
}

fn metric_decision(d: kaizen_core::rollout::check::MetricDecision) -> &'static str {
    use kaizen_core::rollout::check::MetricDecision;
    match d {
        MetricDecision::NotReported => "not reported",
        MetricDecision::InsufficientData => "insufficient data",
        MetricDecision::Ok => "ok",
        MetricDecision::Breaching => "breaching",
        MetricDecision::ThresholdRegression => "THRESHOLD REGRESSION",
        MetricDecision::StatisticalRegression => "STATISTICAL REGRESSION",
    }
}

/// Rollouts as a table.
pub fn print_rollouts(rows: &[kaizen_store::rollouts::Rollout]) {
    let mut t = table();
    t.set_header(vec![
        "proposal",
        "strategy",
        "state",
        "treatment",
        "control",
        "checks",
        "next check",
        "verdict",
    ]);
    for r in rows {
        t.add_row(vec![
            Cell::new(&r.proposal_id),
            Cell::new(r.strategy.as_str()),
            Cell::new(r.state.as_str()),
            Cell::new(r.assignment.treatment.len()),
            Cell::new(r.assignment.control.len()),
            Cell::new(format!("{}/{}", r.checks_done, r.total_checks())),
            Cell::new(when(r.next_check_at())),
            Cell::new(r.verdict.as_ref().map_or("—", |v| v.outcome.as_str())),
        ]);
    }
    println!("{t}");
}

/// A rollout in full, with the history of its checks.
pub fn print_rollout(
    r: &kaizen_store::rollouts::Rollout,
    checks: &[kaizen_store::rollouts::StoredCheck],
) {
    let a = &r.assignment;
    println!(
        "rollout of proposal {}: {} · {}",
        r.proposal_id, r.strategy, r.state
    );
    println!(
        "base org version {} · started {} · window {} h, a check every {} h ({} of {} done, next {})",
        r.base_version,
        when(Some(r.started_at)),
        r.window_hours,
        r.interval_hours,
        r.checks_done,
        r.total_checks(),
        when(r.next_check_at())
    );
    println!(
        "groups: {} agent(s) in treatment, {} in control (treatment fraction {:.2})",
        a.treatment.len(),
        a.control.len(),
        a.treatment_fraction
    );
    if let Some(plan) = &r.detector.plan {
        println!(
            "{}: {}",
            if plan.can_conclude { "plan" } else { "WARNING" },
            plan.summary
        );
    }
    for s in &a.strata {
        println!(
            "  {:<24} {:>5} agent(s), {:>5} in treatment",
            s.name, s.agents, s.treatment
        );
    }
    println!("\nOverlay (the proposal's changes):");
    for c in &r.changes {
        println!("  {c}");
    }
    println!(
        "\nRollback operations ({} of {} executed):",
        r.reverted,
        r.rollback.len()
    );
    for c in &r.rollback {
        println!("  {c}");
    }
    match &r.verdict {
        Some(v) => {
            println!(
                "\nVerdict: {} by {} at {} after {} h{}",
                v.outcome,
                v.decided_by,
                when(Some(v.at)),
                v.elapsed_hours,
                v.check_seq
                    .map_or_else(String::new, |s| format!(" (check {s})"))
            );
            println!("  {}", v.reason);
        }
        None => println!("\nVerdict: none yet"),
    }
    if let Some(v) = r.applied_version {
        println!("applied as org version {v}");
    }
    if checks.is_empty() {
        println!("\nChecks: none yet");
        return;
    }
    println!("\nChecks:");
    let mut t = table();
    t.set_header(vec![
        "seq",
        "at",
        "elapsed h",
        "decision",
        "metric",
        "control → treatment (agents; obs.)",
        "effect [interval]",
        "threshold / margin",
        "p harm running / adjusted",
        "metric decision",
    ]);
    for c in checks {
        for (i, m) in c.outcome.metrics.iter().enumerate() {
            let first = i == 0;
            let est = match (m.control, m.treatment) {
                (None, None) => "—".to_owned(),
                (c, t) => format!(
                    "{} → {} ({}; {})",
                    c.map_or_else(|| "—".to_owned(), |e| num(e.ratio)),
                    t.map_or_else(|| "—".to_owned(), |e| num(e.ratio)),
                    match (c, t) {
                        (Some(c), Some(t)) => format!("{} / {}", c.units, t.units),
                        _ => "—".to_owned(),
                    },
                    match (c, t) {
                        (Some(c), Some(t)) => format!("{} / {}", c.observations, t.observations),
                        _ => "—".to_owned(),
                    },
                ),
            };
            let base = m.control.map(|e| e.ratio.abs()).filter(|b| *b > 0.0);
            let rel = |x: f64| base.map_or_else(|| num(x), |b| format!("{:+.1} %", x / b * 100.0));
            let effect = m.difference.map_or_else(
                || "—".to_owned(),
                |d| {
                    format!(
                        "{}{}",
                        rel(d),
                        m.interval.map_or_else(String::new, |(lo, hi)| format!(
                            " [{}, {}]",
                            rel(lo),
                            rel(hi)
                        ))
                    )
                },
            );
            t.add_row(vec![
                Cell::new(if first {
                    c.seq.to_string()
                } else {
                    String::new()
                }),
                Cell::new(if first {
                    c.at.format("%m-%d %H:%M").to_string()
                } else {
                    String::new()
                }),
                Cell::new(if first {
                    c.elapsed_hours.to_string()
                } else {
                    String::new()
                }),
                Cell::new(if first {
                    check_decision(&c.outcome.decision)
                } else {
                    String::new()
                }),
                Cell::new(format!(
                    "{}{}",
                    m.metric.as_str(),
                    if m.primary { " (primary)" } else { "" }
                )),
                Cell::new(est),
                Cell::new(effect),
                Cell::new(format!(
                    "{:.1} % / {}",
                    m.threshold * 100.0,
                    m.margin.map_or_else(|| "—".to_owned(), rel)
                )),
                Cell::new(format!(
                    "{} / {}",
                    p_value(m.p_running.or(m.p_value)),
                    p_value(m.p_adjusted)
                )),
                Cell::new(metric_decision(m.decision)),
            ]);
        }
    }
    println!("{t}");
    for c in checks {
        if let Some(s) = &c.outcome.sample_ratio
            && s.mismatch
        {
            println!(
                "check {}: SAMPLE RATIO MISMATCH: reporting control {} / treatment {}, expected treatment share {:.3} ({}), p = {}",
                c.seq,
                s.observed.0,
                s.observed.1,
                s.expected_treatment_share,
                s.basis,
                p_value(Some(s.p_value))
            );
        }
        if c.ran_at - c.at > chrono::Duration::minutes(5) {
            println!(
                "check {} ran late, at {} (data up to its scheduled time)",
                c.seq,
                when(Some(c.ran_at))
            );
        }
    }
    if let Some(last) = checks.last() {
        let why = match &last.outcome.decision {
            kaizen_core::rollout::check::CheckDecision::Continue => None,
            kaizen_core::rollout::check::CheckDecision::RollBack { reason, .. }
            | kaizen_core::rollout::check::CheckDecision::Apply { reason, .. }
            | kaizen_core::rollout::check::CheckDecision::Inconclusive { reason }
            | kaizen_core::rollout::check::CheckDecision::Hold { reason } => Some(reason),
        };
        if let Some(why) = why {
            println!("check {}: {why}", last.seq);
        }
        println!("check {}, per metric:", last.seq);
        for m in &last.outcome.metrics {
            println!("  {}: {}", m.metric, m.why);
        }
    }
}

/// "Did it work?": where a proposal ended up and, once measured, its effect.
pub fn print_outcome(o: &kaizen_service::outcomes::Outcome) {
    use kaizen_service::outcomes::OutcomeKind;
    let when = o.since.format("%Y-%m-%d %H:%M UTC");
    let what = match o.kind {
        OutcomeKind::Pending => "waiting for a human".to_owned(),
        OutcomeKind::InProgress => format!("in progress since {when}"),
        OutcomeKind::Rejected => format!("rejected by {} on {when}", o.by),
        OutcomeKind::Applied => format!("applied on {when}"),
        OutcomeKind::RolledBack => format!("rolled back by {} on {when}", o.by),
        OutcomeKind::RollbackFailed => format!("rollback failed on {when}"),
        OutcomeKind::Superseded => format!("superseded on {when}"),
    };
    println!("\nOutcome: {what}");
    if !matches!(o.kind, OutcomeKind::Pending | OutcomeKind::Applied)
        && let Some(r) = o.reason.as_deref()
    {
        println!("  reason: {r}");
    }
    if o.never_again {
        println!("  never to be proposed again");
    }
    match (&o.measurement, o.measurement_due_at) {
        (Some(m), _) => println!("  did it work? {}", m.summary),
        (None, Some(due)) => println!(
            "  did it work? measured on {} ({} days after the apply)",
            due.format("%Y-%m-%d %H:%M UTC"),
            (due - o.since).num_days()
        ),
        (None, None) => {}
    }
}
