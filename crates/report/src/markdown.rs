//! The Markdown report: the summary of seeds 000/001 (concurrency, requests, errors, time,
//! rps, transfer rate, latency percentiles), findings, thresholds and checks, the per-endpoint
//! table, failures by status and kind, latency by phase, the timeline, the open model, server
//! resources, backends and the run's configuration; optionally a glossary.

use std::fmt::Write as _;

use volley_metrics::RunResult;

use crate::facts;
use crate::findings::{self, Finding, Level};
use crate::format;
use crate::glossary;
use crate::table::{Align, Table, md_escape};
use crate::tables;

/// What to include beyond the default sections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Append the glossary of metrics.
    pub glossary: bool,
}

/// The headline figures as (metric, value) rows: what seeds 000 and 001 list first.
pub fn summary(r: &RunResult) -> Table {
    let t = &r.totals;
    let l = tables::overall_latency(r);
    let secs = r.duration_s.max(1e-9);
    let mut s = Table::new(["Metric", "Value"]).align(1, Align::Left);
    s.row(["Target".to_string(), facts::target(r)]);
    s.row(["Load".to_string(), facts::load_line(r)]);
    s.row(["Started".to_string(), r.started_at.clone()]);
    s.row([
        "Total time".to_string(),
        format::seconds(r.duration_s) + if r.interrupted { " (interrupted)" } else { "" },
    ]);
    s.row(["Requests completed".to_string(), format::count(t.requests)]);
    s.row([
        "Failures".to_string(),
        format!("{} ({})", format::count(t.failed), format::pct_of(t.failed, t.requests)),
    ]);
    s.row(["Success rate".to_string(), format::pct_of(t.succeeded, t.requests)]);
    s.row(["Requests per second".to_string(), format::rate(t.rps)]);
    s.row([
        "Transfer rate".to_string(),
        format::byte_rate(t.bytes_received as f64 / secs) + " received",
    ]);
    s.row(["Mean latency".to_string(), format::ms(l.avg)]);
    s.row([
        "Min / max latency".to_string(),
        format!("{} / {}", format::ms(l.min), format::ms(l.max)),
    ]);
    s.row([
        "p50 / p90 / p95 / p99 / p99.9".to_string(),
        [l.med, l.p90, l.p95, l.p99, l.p999].map(format::ms).join(" / "),
    ]);
    if let Some(om) = &r.open_model {
        s.row([
            "Dropped iterations".to_string(),
            format!(
                "{} ({} of the schedule)",
                format::count(om.dropped),
                format::pct_of(om.dropped, t.requests + om.dropped)
            ),
        ]);
    }
    s.row([
        "Iterations".to_string(),
        format!(
            "{} complete, {} interrupted",
            format::count(t.iterations),
            format::count(t.interrupted_iterations)
        ),
    ]);
    let (_, _, vus_max) = facts::vus(r);
    s.row([
        "VUs (max active / allowed)".to_string(),
        format!("{} / {}", format::count(vus_max), format::count(r.config.concurrency)),
    ]);
    s.row([
        "Data received / sent".to_string(),
        format!(
            "{} / {}",
            format::bytes(t.bytes_received as f64),
            format::bytes(t.bytes_sent as f64)
        ),
    ]);
    s
}

/// The time series condensed to at most `rows` rows (one per bucket of seconds).
pub fn timeline_table(r: &RunResult, rows: usize) -> Table {
    let ts = &r.timeseries;
    let mut t = Table::new([
        "Seconds",
        "req/s",
        "Failures",
        "p50 (avg)",
        "p95 (worst second)",
        "p99 (worst second)",
        "VUs",
    ]);
    if ts.is_empty() {
        return t;
    }
    let size = ts.len().div_ceil(rows.max(1));
    for chunk in ts.chunks(size) {
        let n = chunk.len() as f64;
        let reqs: u64 = chunk.iter().map(|p| p.requests).sum();
        let fails: u64 = chunk.iter().map(|p| p.failures).sum();
        let lats: Vec<_> = chunk.iter().filter_map(|p| p.latency.as_ref()).collect();
        let p50 = if lats.is_empty() {
            f64::NAN
        } else {
            lats.iter().map(|l| l.med).sum::<f64>() / lats.len() as f64
        };
        let worst = |f: fn(&volley_metrics::LatencyStats) -> f64| {
            lats.iter().map(|l| f(l)).fold(f64::NAN, f64::max)
        };
        let first = chunk[0].t;
        let last = chunk[chunk.len() - 1].t;
        t.row([
            if first == last { format!("{first}") } else { format!("{first}–{last}") },
            format::rate(reqs as f64 / n),
            format::count(fails),
            format::ms(p50),
            format::ms(worst(|l| l.p95)),
            format::ms(worst(|l| l.p99)),
            format::count(chunk.iter().map(|p| p.vus).max().unwrap_or(0)),
        ]);
    }
    t
}

/// Timeline facts as sentences: first failure and the rps before it, peak throughput, and
/// when a latency threshold was first exceeded.
pub fn timeline_facts(r: &RunResult) -> Vec<String> {
    let tl = facts::timeline(r);
    let mut out = Vec::new();
    match &tl.first_failure {
        Some(ff) => {
            let before = ff
                .rps_before
                .map(|v| format!("; {} req/s on average before it", format::rate(v)))
                .unwrap_or_default();
            out.push(format!(
                "First failure at t = {} s ({} failures that second{before}).",
                ff.t,
                format::count(ff.failures)
            ));
        }
        None => out.push(format!(
            "No failure during the run (0 of {} requests).",
            format::count(r.totals.requests)
        )),
    }
    if let Some((t, n)) = tl.peak {
        out.push(format!("Peak throughput: {} req/s at t = {t} s.", format::count(n)));
    }
    for c in &tl.crossings {
        out.push(format!(
            "{} first exceeded '{}' at t = {} s ({}).",
            c.stat,
            c.expression,
            c.t,
            format::ms(c.value)
        ));
    }
    out
}

/// The open model's schedule keeping and raw vs corrected latency, in one paragraph.
pub fn open_model_text(r: &RunResult) -> Option<String> {
    let om = r.open_model.as_ref()?;
    let l = tables::overall_latency(r);
    Some(format!(
        "Target {} req/s, achieved {} req/s; {} dropped iterations. Latency is measured from each request's intended start (no coordinated omission): p50 {}, p99 {}; measured from the actual send it would read p50 {}, p99 {}. Schedule lag: p50 {}, p99 {}, max {}.",
        format::rate(om.target_rps),
        format::rate(om.achieved_rps),
        format::count(om.dropped),
        format::ms(l.med),
        format::ms(l.p99),
        format::ms(om.raw_latency.med),
        format::ms(om.raw_latency.p99),
        format::ms(om.schedule_lag.med),
        format::ms(om.schedule_lag.p99),
        format::ms(om.schedule_lag.max)
    ))
}

/// The load generator's machine and the connection settings.
pub fn configuration_text(r: &RunResult) -> String {
    let m = &r.machine;
    format!(
        "Load generated from {} ({} {}, {} CPUs, {} threads), timeout {}, keep-alive {}.",
        m.hostname,
        m.os,
        m.arch,
        m.cpus,
        m.threads,
        format::seconds(r.config.timeout_s),
        if r.config.keepalive { "on" } else { "off" }
    )
}

/// One line per scenario of a plan: `name (executor): schedule`.
pub fn scenario_lines(r: &RunResult) -> Vec<String> {
    r.config
        .scenarios
        .iter()
        .map(|s| format!("{} ({}): {}", s.name, s.executor, s.description))
        .collect()
}

/// The command line that produced the result, shell-quoted.
pub fn command_line(r: &RunResult) -> Option<String> {
    if r.config.command_line.is_empty() {
        return None;
    }
    Some(r.config.command_line.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "))
}

fn level_label(l: Level) -> &'static str {
    match l {
        Level::Problem => "Problem",
        Level::Warning => "Warning",
        Level::Info => "Note",
    }
}

fn findings_md(out: &mut String, fs: &[Finding]) {
    for f in fs {
        let _ = writeln!(out, "- **{}:** {}", level_label(f.level), md_escape(&f.text));
    }
}

/// Shell-quotes one argument for display.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The whole Markdown report.
pub fn render(r: &RunResult, opts: Options) -> String {
    let mut out = String::new();
    let title = r.config.label.clone().unwrap_or_else(|| facts::target(r));
    let _ = writeln!(out, "# Load test report: {}\n", md_escape(&title));
    let _ = writeln!(
        out,
        "volley {} · {} · started {} · {}\n",
        md_escape(&r.volley_version),
        md_escape(&r.config.mode),
        md_escape(&r.started_at),
        format::seconds(r.duration_s)
    );
    out.push_str("## Summary\n\n");
    out.push_str(&summary(r).to_markdown());

    let fs = findings::analyze(r);
    out.push_str("\n## Findings\n\n");
    findings_md(&mut out, &fs);

    if !r.thresholds.is_empty() {
        out.push_str("\n## Thresholds\n\n");
        out.push_str(&tables::thresholds(r).to_markdown());
    }
    if !r.checks.is_empty() {
        out.push_str("\n## Checks\n\n");
        out.push_str(&tables::checks(r).to_markdown());
    }
    if !r.endpoints.is_empty() {
        out.push_str("\n## Endpoints\n\n");
        out.push_str(&tables::endpoints(r).to_markdown());
    }
    out.push_str("\n## Failures\n\n");
    let failures = tables::failures(r);
    if failures.is_empty() {
        let _ = writeln!(out, "No request failed (0 of {}).", format::count(r.totals.requests));
    } else {
        out.push_str(&failures.to_markdown());
    }
    if !r.status_codes.is_empty() {
        out.push_str("\n### Status codes\n\n");
        out.push_str(&tables::status_codes(r).to_markdown());
    }
    out.push_str("\n## Latency\n\n");
    out.push_str(&tables::latency(r).to_markdown());

    out.push_str("\n## Timeline\n\n");
    for fact in timeline_facts(r) {
        let _ = writeln!(out, "- {}", md_escape(&fact));
    }
    if !r.timeseries.is_empty() {
        out.push('\n');
        out.push_str(&timeline_table(r, 12).to_markdown());
    }

    if let Some(text) = open_model_text(r) {
        out.push_str("\n## Open model\n\n");
        let _ = writeln!(out, "{}", md_escape(&text));
    }
    if let Some(t) = tables::server(r) {
        out.push_str("\n## Server resources\n\nCPU: 100% is one core fully busy.\n\n");
        out.push_str(&t.to_markdown());
    }
    if let Some(t) = tables::backends(r) {
        out.push_str("\n## Backends\n\n");
        out.push_str(&t.to_markdown());
    }

    out.push_str("\n## Configuration\n\n");
    let _ = writeln!(out, "{}\n", md_escape(&configuration_text(r)));
    if !r.config.scenarios.is_empty() {
        for line in scenario_lines(r) {
            let _ = writeln!(out, "- {}", md_escape(&line));
        }
        out.push('\n');
    }
    if let Some(cmd) = command_line(r) {
        out.push_str(&crate::escape::md_code_block(&cmd));
    }

    if opts.glossary {
        out.push_str("\n## Glossary\n\n");
        for (term, meaning) in glossary::TERMS {
            let _ = writeln!(out, "- **{term}**: {meaning}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Spec};

    #[test]
    fn plan_run_snapshot() {
        insta::assert_snapshot!(render(&fixture::plan_run(), Options { glossary: true }));
    }

    #[test]
    fn open_model_snapshot() {
        let r = Spec {
            open_model: Some((110.0, 100)),
            server: Some((vec![80.0], 30.0)),
            ..Spec::default()
        }
        .build();
        insta::assert_snapshot!(render(&r, Options::default()));
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let mut r = Spec::default().build();
        r.config.target = Some("http://x/<script>alert(1)</script>|".into());
        r.endpoints[0].name = "/a|b".into();
        let md = render(&r, Options::default());
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("\\<script\\>"));
        assert!(md.contains("/a\\|b"));
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
