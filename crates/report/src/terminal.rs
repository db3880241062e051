//! The terminal summary printed at the end of a run (stdout).
//!
//! Everything loadtest, ab and k6 print at the end of a test, in k6's sectioned layout:
//! thresholds, checks, requests and failures (by status and by kind), latency percentiles,
//! the open model's schedule keeping, execution, network, Locust's per-endpoint table,
//! backends, server resources, and the findings that deserve attention. Readable without
//! colour; colours only when [`Style::color`].

use std::fmt::Write as _;

use volley_metrics::RunResult;

use crate::escape;
use crate::facts;
use crate::findings::{self, Level};
use crate::format;
use crate::tables;

/// How the summary is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours (off when `NO_COLOR` is set or stdout is not a terminal).
    pub color: bool,
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn mark(&self, ok: bool) -> String {
        if ok { self.green("✓") } else { self.red("✗") }
    }
}

/// `name ........ value`, k6's layout.
fn kv(out: &mut String, name: &str, value: &str) {
    if name.is_empty() {
        let _ = writeln!(out, "    {:24}{value}", "");
        return;
    }
    let dots = 22usize.saturating_sub(name.chars().count() + 1).max(2);
    let _ = writeln!(out, "    {name} {}: {value}", ".".repeat(dots));
}

fn heading(out: &mut String, p: &Painter, title: &str) {
    let _ = writeln!(out, "\n  {}\n", p.bold(&format!("█ {title}")));
}

/// The end-of-run summary. It is drawn from a copy of the result whose strings went through
/// [`escape::terminal`], so no name from a plan or a result file reaches the terminal raw.
pub fn render(result: &RunResult, style: Style) -> String {
    match escape::terminal_safe(result) {
        Some(clean) => draw(&clean, style),
        None => escape::terminal_text(&draw(result, Style { color: false })),
    }
}

fn draw(result: &RunResult, style: Style) -> String {
    let r = result;
    let p = Painter { color: style.color };
    let mut out = String::new();
    let t = &r.totals;

    let _ = writeln!(out, "\n  {} {}", p.bold("target:"), facts::target(r));
    let mut run_line = format!("{}, {} total", facts::load_line(r), format::seconds(r.duration_s));
    if r.interrupted {
        run_line.push_str(", INTERRUPTED");
    }
    let _ = writeln!(out, "  {} {run_line}", p.bold("run:   "));
    if let Some(th) = &r.aborted_by {
        let _ = writeln!(out, "  {} aborted by threshold {th}", p.red("abort: "));
    }

    if !r.thresholds.is_empty() {
        heading(&mut out, &p, "THRESHOLDS");
        let mut last_metric = None;
        for th in &r.thresholds {
            if last_metric != Some(&th.metric) {
                if last_metric.is_some() {
                    out.push('\n');
                }
                let _ = writeln!(out, "    {}", th.metric);
                last_metric = Some(&th.metric);
            }
            let obs = th
                .observed
                .map(|v| facts::observed(&th.metric, &th.expression, v))
                .unwrap_or_default();
            let _ = writeln!(out, "    {} '{}' {obs}", p.mark(th.ok), th.expression);
        }
    }

    if !r.checks.is_empty() {
        let passes: u64 = r.checks.iter().map(|c| c.passes).sum();
        let fails: u64 = r.checks.iter().map(|c| c.fails).sum();
        heading(&mut out, &p, "CHECKS");
        kv(&mut out, "checks_total", &format::count(passes + fails));
        kv(
            &mut out,
            "checks_succeeded",
            &format!(
                "{} {} out of {}",
                format::pct_of(passes, passes + fails),
                format::count(passes),
                format::count(passes + fails)
            ),
        );
        kv(
            &mut out,
            "checks_failed",
            &format!(
                "{} {} out of {}",
                format::pct_of(fails, passes + fails),
                format::count(fails),
                format::count(passes + fails)
            ),
        );
        out.push('\n');
        let steps: std::collections::BTreeSet<&str> =
            r.checks.iter().map(|c| c.step.as_str()).collect();
        for c in &r.checks {
            let step = if steps.len() > 1 && !c.step.is_empty() {
                p.dim(&format!("  ({})", c.step))
            } else {
                String::new()
            };
            let _ = writeln!(out, "    {} {}{step}", p.mark(c.fails == 0), c.name);
            if c.fails > 0 {
                let total = c.passes + c.fails;
                let pct = (c.passes as f64 / total as f64 * 100.0).floor();
                let _ = writeln!(
                    out,
                    "      ↳  {pct:.0}% — ✓ {} / ✗ {}",
                    format::count(c.passes),
                    format::count(c.fails)
                );
            }
        }
    }

    heading(&mut out, &p, "REQUESTS");
    kv(
        &mut out,
        "http_reqs",
        &format!(
            "{} in {}  {} req/s",
            format::count(t.requests),
            format::seconds(r.duration_s),
            format::rate(t.rps)
        ),
    );
    kv(
        &mut out,
        "success rate",
        &format!(
            "{} ({} succeeded)",
            format::pct_of(t.succeeded, t.requests),
            format::count(t.succeeded)
        ),
    );
    let failed = format!("{} ({})", format::count(t.failed), format::pct_of(t.failed, t.requests));
    kv(&mut out, "http_req_failed", &if t.failed > 0 { p.red(&failed) } else { failed });
    let breakdown = facts::failure_breakdown(r);
    let width = breakdown.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let count_width = breakdown.iter().map(|(_, n)| format::count(*n).len()).max().unwrap_or(0);
    for (label, n) in &breakdown {
        let pad = width - label.chars().count();
        let what = volley_metrics::FailureKind::ALL
            .iter()
            .find(|k| k.as_str() == label)
            .map(|k| format!("  {}", k.describe()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "      {label}{} {:>count_width$} {}{}",
            " ".repeat(pad),
            format::count(*n),
            p.dim(&format!("({})", format::pct_of(*n, t.requests))),
            p.dim(&what)
        );
    }
    if !r.status_codes.is_empty() {
        let codes: Vec<String> =
            r.status_codes.iter().map(|(c, n)| format!("{c}: {}", format::count(*n))).collect();
        kv(&mut out, "status codes", &codes.join("  "));
    }

    heading(&mut out, &p, "LATENCY");
    let l = tables::overall_latency(r);
    kv(
        &mut out,
        "http_req_duration",
        &format!(
            "avg={} min={} med={} max={}",
            format::ms(l.avg),
            format::ms(l.min),
            format::ms(l.med),
            format::ms(l.max)
        ),
    );
    kv(
        &mut out,
        "",
        &format!(
            "p(90)={} p(95)={} p(99)={} p(99.9)={}",
            format::ms(l.p90),
            format::ms(l.p95),
            format::ms(l.p99),
            format::ms(l.p999)
        ),
    );
    for (name, label) in [
        ("http_req_waiting", "waiting (TTFB)"),
        ("http_req_connecting", "connecting"),
        ("http_req_tls_handshaking", "tls_handshaking"),
    ] {
        if let Some(s) = tables::trend(r, name).filter(|s| s.max > 0.0) {
            kv(
                &mut out,
                label,
                &format!(
                    "avg={} med={} p(95)={} max={}",
                    format::ms(s.avg),
                    format::ms(s.med),
                    format::ms(s.p95),
                    format::ms(s.max)
                ),
            );
        }
    }

    if let Some(om) = &r.open_model {
        heading(&mut out, &p, "OPEN MODEL");
        kv(
            &mut out,
            "arrival rate",
            &format!(
                "target {} req/s, achieved {} req/s",
                format::rate(om.target_rps),
                format::rate(om.achieved_rps)
            ),
        );
        let dropped = format!(
            "{} ({} of the schedule)",
            format::count(om.dropped),
            format::pct_of(om.dropped, t.requests + om.dropped)
        );
        kv(
            &mut out,
            "dropped_iterations",
            &if om.dropped > 0 { p.yellow(&dropped) } else { dropped },
        );
        let s = &om.schedule_lag;
        kv(
            &mut out,
            "schedule lag",
            &format!(
                "avg={} p(99)={} max={}",
                format::ms(s.avg),
                format::ms(s.p99),
                format::ms(s.max)
            ),
        );
        let raw = &om.raw_latency;
        kv(
            &mut out,
            "raw latency",
            &format!(
                "med={} p(99)={} max={}  (from actual send)",
                format::ms(raw.med),
                format::ms(raw.p99),
                format::ms(raw.max)
            ),
        );
        kv(
            &mut out,
            "corrected latency",
            &format!(
                "med={} p(99)={} max={}  (from intended start)",
                format::ms(l.med),
                format::ms(l.p99),
                format::ms(l.max)
            ),
        );
    }

    heading(&mut out, &p, "EXECUTION");
    let secs = r.duration_s.max(1e-9);
    kv(
        &mut out,
        "iterations",
        &format!(
            "{} complete, {} interrupted  {}/s",
            format::count(t.iterations),
            format::count(t.interrupted_iterations),
            format::rate(t.iterations as f64 / secs)
        ),
    );
    let (last, min, max) = facts::vus(r);
    kv(&mut out, "vus", &format!("{last}  min={min} max={max}"));
    kv(&mut out, "vus_max", &format::count(facts::vus_max(r)));
    kv(&mut out, "connections", &format!("{} max open", format::count(t.max_connections)));
    if t.retries > 0 {
        kv(
            &mut out,
            "retries",
            &format!(
                "{} sent again on a fresh connection (a reused one was closed by the server)",
                format::count(t.retries)
            ),
        );
    }

    heading(&mut out, &p, "NETWORK");
    kv(
        &mut out,
        "data_received",
        &format!(
            "{}  {}",
            format::bytes(t.bytes_received as f64),
            format::byte_rate(t.bytes_received as f64 / secs)
        ),
    );
    kv(
        &mut out,
        "data_sent",
        &format!(
            "{}  {}",
            format::bytes(t.bytes_sent as f64),
            format::byte_rate(t.bytes_sent as f64 / secs)
        ),
    );

    if !r.endpoints.is_empty() {
        heading(&mut out, &p, "ENDPOINTS");
        out.push_str(&tables::endpoints(r).to_text("    "));
    }
    if let Some(b) = tables::backends(r) {
        heading(&mut out, &p, "BACKENDS");
        out.push_str(&b.to_text("    "));
    }
    if let Some(s) = tables::server(r) {
        heading(&mut out, &p, "SERVER  (CPU: 100% = one core)");
        out.push_str(&s.to_text("    "));
    }

    let notable: Vec<_> =
        findings::analyze(r).into_iter().filter(|f| f.level > Level::Info).collect();
    if !notable.is_empty() {
        heading(&mut out, &p, "FINDINGS");
        for f in notable {
            let mark = if f.level == Level::Problem { p.red("✗") } else { p.yellow("!") };
            let _ = writeln!(out, "    {mark} {}", f.text);
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Spec};

    #[test]
    fn closed_run_snapshot() {
        insta::assert_snapshot!(render(&Spec::default().build(), Style::default()));
    }

    #[test]
    fn plan_run_snapshot() {
        insta::assert_snapshot!(render(&fixture::plan_run(), Style::default()));
    }

    #[test]
    fn open_model_with_server_snapshot() {
        let mut r = Spec {
            open_model: Some((110.0, 100)),
            server: Some((vec![80.0, 75.0], 30.0)),
            ..Spec::default()
        }
        .build();
        let lat = crate::tables::overall_latency(&r);
        r.backends = vec![
            volley_metrics::BackendStats {
                backend: "127.0.0.1:8001".into(),
                requests: 500,
                failures: 0,
                latency: lat.clone(),
            },
            volley_metrics::BackendStats {
                backend: "127.0.0.1:8002".into(),
                requests: 500,
                failures: 0,
                latency: lat,
            },
        ];
        insta::assert_snapshot!(render(&r, Style::default()));
    }

    #[test]
    fn colour_only_when_asked() {
        let r = fixture::plan_run();
        assert!(!render(&r, Style { color: false }).contains('\x1b'));
        assert!(render(&r, Style { color: true }).contains("\x1b[31m✗\x1b[0m"));
    }

    #[test]
    fn seed_003_check_line() {
        let mut r = Spec::default().build();
        r.checks = vec![volley_metrics::CheckResult {
            name: "update 200".into(),
            step: "update".into(),
            passes: 528,
            fails: 191,
        }];
        let s = render(&r, Style::default());
        assert!(s.contains("✗ update 200\n      ↳  73% — ✓ 528 / ✗ 191"), "{s}");
    }
}
