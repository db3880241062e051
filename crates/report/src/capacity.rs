//! Renderers of a capacity search (`volley capacity`): the answer, the table of steps, the knee
//! ("hockey stick") charts (offered vs achieved rate, p50/p95/p99 and error rate per offered
//! rate) and the findings in words, one number per sentence, saying which SLO bound the
//! capacity. Terminal, Markdown and self-contained HTML, all from the same
//! [`CapacityResult`].

use minijinja::context;
use volley_metrics::capacity::{CapacityResult, CapacityStep, Conclusion, Phase, Reason};

use crate::charts::{BAD, Chart, ChartError, OK, PALETTE, Series, Unit, line_chart};
use crate::error::ReportError;
use crate::escape::{self, md_escape};
use crate::format;
use crate::html;
use crate::table::{Align, Table};

fn rate(v: f64) -> String {
    format!("{v:.2}/s")
}

/// The answer in one line.
pub fn answer(c: &CapacityResult) -> String {
    match (c.conclusion, c.capacity_rps, c.upper_rps) {
        (Conclusion::Found, Some(lo), Some(hi)) => format!(
            "Capacity: {lo:.2} req/s within the SLOs (bracketed between {} good and {} bad)",
            rate(lo),
            rate(hi)
        ),
        (Conclusion::AtLeastMax, Some(lo), _) => {
            format!("Capacity: at least {lo:.2} req/s (--max was sustained within the SLOs)")
        }
        (Conclusion::BelowStart, _, Some(hi)) => {
            format!("No capacity found: the first rate, {}, already broke the limits", rate(hi))
        }
        (Conclusion::StepLimit, Some(lo), hi) => format!(
            "Capacity: at least {lo:.2} req/s (the step budget ran out{})",
            hi.map_or(String::new(), |h| format!("; {} was bad", rate(h)))
        ),
        (Conclusion::Interrupted, Some(lo), _) => {
            format!("Interrupted: {lo:.2} req/s was the highest good rate so far")
        }
        _ => "No capacity found: the search ended before any step was good".into(),
    }
}

/// Every finding, each with its number: the answer, what bound it, where the knee is, the
/// latency at capacity, early stops.
pub fn findings(c: &CapacityResult) -> Vec<String> {
    let mut out = vec![format!("{}.", answer(c))];
    if !c.bound_by.is_empty() && c.conclusion != Conclusion::AtLeastMax {
        let at = c.upper_rps.map_or(String::new(), |r| format!(" at {}", rate(r)));
        for r in &c.bound_by {
            out.push(match r {
                Reason::Slo { metric, expression, observed } => format!(
                    "The SLO `{metric}: {expression}` bound the capacity: it was crossed{at}{}.",
                    observed.map_or(String::new(), |v| format!(" (observed {})", obs(metric, v)))
                ),
                Reason::Behind { achieved_rps, .. } => format!(
                    "Throughput bound the capacity: the service completed only {} \
                     successful responses{at}.",
                    rate(*achieved_rps)
                ),
                Reason::Dropped { dropped } => format!(
                    "The service did not keep up{at}: {dropped} arrivals found every VU busy \
                     and were dropped."
                ),
                Reason::NoResponse { requests } => {
                    format!("Nothing answered{at}: all {requests} requests failed.")
                }
                Reason::Overloaded { why } => {
                    format!("The step{at} was stopped early as clearly overloaded: {why}.")
                }
            });
        }
    }
    if let Some(s) = c.capacity_step() {
        out.push(format!("At the capacity the p95 latency was {}.", format::ms(s.figures.p95_ms)));
        out.push(format!(
            "At the capacity {} of requests failed.",
            format::pct(s.figures.error_rate)
        ));
    }
    // The knee: the good step with the highest rate whose p95 is at most twice the lowest
    // step's, against the first step beyond it.
    let mut by_rate: Vec<&CapacityStep> = c.steps.iter().collect();
    by_rate.sort_by(|a, b| a.figures.offered_rps.total_cmp(&b.figures.offered_rps));
    if let (Some(first), Some(bad)) = (by_rate.first(), by_rate.iter().find(|s| !s.good))
        && first.figures.p95_ms > 0.0
        && bad.figures.p95_ms > 2.0 * first.figures.p95_ms
    {
        out.push(format!(
            "Latency rose {:.0}× from the lowest rate to the first bad one ({} → {} p95).",
            bad.figures.p95_ms / first.figures.p95_ms,
            format::ms(first.figures.p95_ms),
            format::ms(bad.figures.p95_ms)
        ));
    }
    let stopped = c.steps.iter().filter(|s| s.overloaded).count();
    if stopped > 0 {
        out.push(format!(
            "{stopped} step(s) found the service clearly overloaded (most requests failing, \
             the throughput halved or the latency exploded); those were kept short."
        ));
    }
    out.push(format!(
        "The search ran {} step(s) of {} each.",
        c.steps.len(),
        format::seconds(c.settings.step_s)
    ));
    out
}

fn obs(metric: &str, v: f64) -> String {
    let base = metric.split('{').next().unwrap_or(metric);
    let time = volley_metrics::catalogue::lookup(base)
        .is_some_and(|m| m.kind == volley_metrics::MetricKind::Trend);
    if time { format::ms(v) } else { format!("{v:.4}") }
}

/// One row per step, in the order they ran.
pub fn table(c: &CapacityResult) -> Table {
    let mut t = Table::new([
        "step",
        "phase",
        "offered",
        "achieved",
        "requests",
        "failed",
        "dropped",
        "error rate",
        "p50",
        "p95",
        "p99",
        "verdict",
    ])
    .align(11, Align::Left);
    for s in &c.steps {
        let f = &s.figures;
        t.row([
            s.index.to_string(),
            match s.phase {
                Phase::Ramp => "ramp".into(),
                Phase::Bisect => "bisect".into(),
            },
            rate(f.offered_rps),
            rate(f.achieved_rps),
            format::count(f.requests),
            format::count(f.failed),
            format::count(f.dropped),
            format::pct(f.error_rate),
            format::ms(f.p50_ms),
            format::ms(f.p95_ms),
            format::ms(f.p99_ms),
            s.verdict(),
        ]);
    }
    t
}

fn heading(c: &CapacityResult) -> String {
    format!("Capacity of {}", c.workload)
}

fn slos_line(c: &CapacityResult) -> String {
    if c.slos.is_empty() {
        "SLOs: none given (throughput and dropped iterations only)".into()
    } else {
        format!("SLOs: {}", c.slos.join(", "))
    }
}

/// The terminal rendering (user strings made safe by [`escape::terminal`]).
pub fn text(c: &CapacityResult) -> String {
    match escape::terminal_safe(c) {
        Some(clean) => draw_text(&clean),
        None => escape::terminal_text(&draw_text(c)),
    }
}

fn draw_text(c: &CapacityResult) -> String {
    let mut out = format!("{}\n  {}\n\n", heading(c), slos_line(c));
    out.push_str(&table(c).to_text("  "));
    out.push_str(&format!("\n{}\n\nFindings\n", answer(c)));
    for f in findings(c).iter().skip(1) {
        out.push_str(&format!("  - {f}\n"));
    }
    out
}

/// GitHub-flavoured Markdown; every user string through [`escape::md_escape`].
pub fn markdown(c: &CapacityResult) -> String {
    let mut out = format!("# {}\n\n", md_escape(&heading(c)));
    out.push_str(&format!("**{}**\n\n", md_escape(&answer(c))));
    out.push_str(&format!(
        "{}. Started {} on {} ({} core(s)).\n\n",
        md_escape(&slos_line(c)),
        md_escape(&c.started_at),
        md_escape(&c.machine.hostname),
        c.machine.cpus
    ));
    out.push_str("## Steps\n\n");
    out.push_str(&table(c).to_markdown());
    out.push_str("\n## Findings\n\n");
    for f in findings(c) {
        out.push_str(&format!("- {}\n", md_escape(&f)));
    }
    out
}

fn sorted(c: &CapacityResult) -> Vec<&CapacityStep> {
    let mut v: Vec<&CapacityStep> = c.steps.iter().collect();
    v.sort_by(|a, b| a.figures.offered_rps.total_cmp(&b.figures.offered_rps));
    v
}

/// The hockey stick: achieved against offered rate, with the diagonal a perfect service would
/// follow.
fn rate_chart(c: &CapacityResult) -> Result<String, ChartError> {
    let steps = sorted(c);
    let pts = |f: &dyn Fn(&CapacityStep) -> f64| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (s.figures.offered_rps, f(s))).collect()
    };
    let ideal = Series {
        dashed: true,
        ..Series::new("offered", PALETTE[6], pts(&|s| s.figures.offered_rps))
    };
    line_chart(&Chart {
        x_label: "offered req/s".into(),
        y_label: "req/s".into(),
        x_unit: Unit::Count,
        y_unit: Unit::Count,
        series: vec![
            ideal,
            Series::new("achieved (successful)", OK, pts(&|s| s.figures.achieved_rps)),
        ],
    })
}

fn latency_chart(c: &CapacityResult) -> Result<String, ChartError> {
    let steps = sorted(c);
    let pts = |f: &dyn Fn(&CapacityStep) -> f64| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (s.figures.offered_rps, f(s))).collect()
    };
    line_chart(&Chart {
        x_label: "offered req/s".into(),
        y_label: "latency".into(),
        x_unit: Unit::Count,
        y_unit: Unit::Ms,
        series: vec![
            Series::new("p50", PALETTE[0], pts(&|s| s.figures.p50_ms)),
            Series::new("p95", PALETTE[1], pts(&|s| s.figures.p95_ms)),
            Series::new("p99", PALETTE[3], pts(&|s| s.figures.p99_ms)),
        ],
    })
}

fn error_chart(c: &CapacityResult) -> Result<String, ChartError> {
    let pts =
        sorted(c).iter().map(|s| (s.figures.offered_rps, s.figures.error_rate * 100.0)).collect();
    line_chart(&Chart {
        x_label: "offered req/s".into(),
        y_label: "failed %".into(),
        x_unit: Unit::Count,
        y_unit: Unit::Percent,
        series: vec![Series::new("error rate", BAD, pts)],
    })
}

const PAGE: &str = r#"{% extends "base.html" %}
{% import "macros.html" as m %}
{% block content %}
<h1>{{ heading }}</h1>
<p class="answer"><strong>{{ answer }}</strong></p>
<p class="sub">{{ slos }}. Started {{ started_at }} on {{ host }} ({{ cpus }} core(s)).</p>
<h2>Findings</h2>
<ul class="findings">{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2>Charts</h2>
<div class="charts">
{% for c in charts %}{{ m.chart(c) }}
{% endfor %}
</div>
<h2>Steps</h2>
{{ m.table(steps, wrap_last=true) }}
{% endblock %}
"#;

/// A self-contained HTML page with the knee charts, escaped by the template engine.
pub fn html(c: &CapacityResult) -> Result<String, ReportError> {
    let mut env = html::environment()?;
    env.add_template("capacity.html", PAGE)?;
    let mut charts = Vec::new();
    if !c.steps.is_empty() {
        charts.push(html::chart("knee", "Achieved vs offered rate", rate_chart(c)?));
        charts.push(html::chart("latency", "Latency per offered rate", latency_chart(c)?));
        charts.push(html::chart("errors", "Error rate per offered rate", error_chart(c)?));
    }
    Ok(env.get_template("capacity.html")?.render(context! {
        title => heading(c),
        volley_version => &c.volley_version,
        heading => heading(c),
        answer => answer(c),
        slos => slos_line(c),
        started_at => &c.started_at,
        host => &c.machine.hostname,
        cpus => c.machine.cpus,
        findings => findings(c),
        charts => charts,
        steps => table(c),
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search of a service of capacity 50/s whose latency SLO breaks above it.
    fn search() -> CapacityResult {
        crate::fixture::capacity_search(50.0)
    }

    #[test]
    fn the_answer_and_the_bound_slo_are_in_every_format() {
        let c = search();
        assert_eq!(c.conclusion, Conclusion::Found);
        let lo = c.capacity_rps.unwrap();
        assert!(lo <= 50.0 && lo > 45.0, "{lo}");
        let f = findings(&c);
        assert!(f[0].starts_with(&format!("Capacity: {lo:.2} req/s")), "{f:?}");
        assert!(f.iter().any(|l| l.contains("`http_req_duration: p(95)<200` bound")), "{f:?}");
        let t = text(&c);
        assert!(t.contains("bisect") && t.contains("Findings"), "{t}");
        let m = markdown(&c);
        assert!(m.contains("| step |") || m.contains("| step"), "{m}");
        assert!(m.contains("\\<x\\>"), "{m}");
        let h = html(&c).unwrap();
        assert!(h.contains("&lt;x&gt;") && !h.contains("<x>"));
        assert_eq!(h.matches("<svg").count(), 3, "three knee charts");
    }
}
