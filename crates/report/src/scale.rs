//! Renderers of a scaling sweep (`volley scale`, `volley demo`): the terminal table, Markdown
//! and a self-contained HTML page, all from the same [`Sweep`] document.
//!
//! Markdown and HTML open with the comparison seed 003 left empty, in its layout (one row per
//! figure, one column per instance count: traffic, errors, responses, p95 & p99, CPU and memory
//! per instance) with throughput, speedup, efficiency and capacity added ([`comparison`]);
//! the detailed table ([`table`], the terminal's) follows. The findings and the USL fit come
//! from the sweep's own analysis so every format says the same thing.

use minijinja::context;
use volley_metrics::sweep::{Sweep, SweepMode, SweepRow, SweepRun};

use crate::charts::{
    Chart, ChartError, PALETTE, Series, Unit, line_chart, resource_series, time_chart,
};
use crate::error::ReportError;
use crate::escape::{self, md_escape};
use crate::format;
use crate::html;
use crate::sweep_findings;
use crate::table::{Align, Table};

fn per_instance(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    if values.is_empty() {
        return "-".into();
    }
    if values.len() <= 4 {
        return values.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(", ");
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let avg = values.iter().sum::<f64>() / values.len() as f64;
    format!("avg {} ({}–{})", fmt(avg), fmt(min), fmt(max))
}

fn cpu(v: f64) -> String {
    format!("{v:.0}%")
}

fn rps_cell(r: &SweepRow) -> String {
    if r.runs > 1 {
        format!(
            "{} ± {} ({}–{})",
            format::rate(r.rps),
            format::rate(r.rps_stddev),
            format::rate(r.rps_min),
            format::rate(r.rps_max)
        )
    } else {
        format::rate(r.rps)
    }
}

/// An absent figure (a capacity the sweep did not search, a speedup of a flagged count): a
/// dash, never a 0 that would read as measured.
const ABSENT: &str = "—";

fn instances_header(n: usize) -> String {
    if n == 1 { "1 instance".into() } else { format!("{n} instances") }
}

fn per_run(v: f64) -> String {
    format::count(v.round() as u64)
}

/// The comparison seed 003 left empty, in its layout: one row per figure, one column per
/// instance count. Counts are per run (means over repeats); `capacity` is the highest arrival
/// rate within the SLOs, when the sweep searched it.
pub fn comparison(s: &Sweep) -> Table {
    let headers = std::iter::once("metric".to_string())
        .chain(s.rows.iter().map(|r| instances_header(r.instances)));
    let mut t = Table::new(headers);
    let mut line = |label: &str, cell: &dyn Fn(&SweepRow) -> String| {
        t.row(std::iter::once(label.to_string()).chain(s.rows.iter().map(cell)));
    };
    line("traffic (requests/s)", &|r| format::rate(r.request_rps));
    line("errors (failed requests)", &|r| {
        let flag = if r.high_error_rate { ", high: not used" } else { "" };
        format!("{} ({}{flag})", per_run(r.failures), format::pct(r.error_rate))
    });
    line("responses", &|r| per_run(r.responses));
    line("latency p95 / p99", &|r| format!("{} / {}", format::ms(r.p95_ms), format::ms(r.p99_ms)));
    line("CPU per instance", &|r| per_instance(&r.cpu_pct, cpu));
    line("memory per instance", &|r| per_instance(&r.mem_bytes, format::bytes));
    line("throughput (successful/s)", &|r| rps_cell(r));
    let of = match s.mode {
        SweepMode::Throughput => "",
        SweepMode::Capacity => " (of capacity)",
    };
    line(&format!("speedup{of}"), &|r| r.speedup.map_or(ABSENT.into(), |v| format!("{v:.2}×")));
    line(&format!("efficiency{of}"), &|r| {
        r.efficiency.map_or(ABSENT.into(), |v| format!("{:.0}%", v * 100.0))
    });
    line("capacity (req/s within the SLOs)", &capacity_cell);
    t
}

/// The capacity and the bad rate above it: `48.1 (< 50.5)`; a dash when not searched or
/// not found.
fn capacity_cell(r: &SweepRow) -> String {
    match (r.capacity_rps, r.capacity_upper_rps) {
        (Some(c), Some(u)) => format!("{} (< {})", format::rate(c), format::rate(u)),
        (Some(c), None) => format!("≥ {}", format::rate(c)),
        (None, _) => ABSENT.into(),
    }
}

/// Said under the comparison of a capacity sweep instead of [`COMPARISON_NOTE`].
const CAPACITY_NOTE: &str = "Capacity is the highest arrival rate sustained within the SLOs \
at each instance count (in brackets the lowest rate that was not); speedup and efficiency are of \
capacity. The other figures are those of the step at the capacity. CPU: 100% = one core; \
memory: resident set size, averaged over that step. —: no figure (no rate within the SLOs, or a \
count with a high error rate).";

fn comparison_note(s: &Sweep) -> &'static str {
    match s.mode {
        SweepMode::Throughput => COMPARISON_NOTE,
        SweepMode::Capacity => CAPACITY_NOTE,
    }
}

/// Every step of each count's capacity search: offered and achieved rate, latency, errors and
/// the verdict (empty for a throughput sweep).
pub fn search_table(s: &Sweep) -> Table {
    let mut t = Table::new([
        "instances",
        "step",
        "phase",
        "offered req/s",
        "achieved req/s",
        "p95",
        "p99",
        "errors",
        "verdict",
    ])
    .align(8, Align::Left);
    for run in &s.sweep {
        let Some(c) = &run.capacity else { continue };
        for step in &c.steps {
            let f = &step.figures;
            t.row([
                run.instances.to_string(),
                step.index.to_string(),
                step.phase.name().to_string(),
                format::rate(f.offered_rps),
                format::rate(f.achieved_rps),
                format::ms(f.p95_ms),
                format::ms(f.p99_ms),
                format::pct(f.error_rate),
                step.verdict(),
            ]);
        }
    }
    t
}

/// Said under the comparison in Markdown and HTML.
const COMPARISON_NOTE: &str = "Traffic counts every request per second, failed ones included; \
throughput only the successful responses, and speedup and efficiency are of throughput. \
Errors and responses are per run (means over repeats). CPU: 100% = one core; memory: \
resident set size, averaged over the run. —: no figure (speedup and efficiency of a count \
with a high error rate; capacity when the sweep did not search it with --capacity).";

/// Said under the main table in every format.
const THROUGHPUT_NOTE: &str = "req/s counts successful responses only; a count whose error rate is high is not used for speedup, efficiency or the fit.";

/// One row per instance count: the comparison table.
pub fn table(s: &Sweep) -> Table {
    let mut t = Table::new([
        "instances",
        "req/s",
        "requests",
        "failures",
        "error rate",
        "p50",
        "p95",
        "p99",
        "CPU per instance",
        "memory per instance",
        "restarts",
        "speedup",
        "efficiency",
    ])
    .align(8, Align::Left)
    .align(9, Align::Left);
    for r in &s.rows {
        t.row([
            r.instances.to_string(),
            rps_cell(r),
            format::count(r.requests.round() as u64),
            format::count(r.failures.round() as u64),
            if r.high_error_rate {
                format!("{} (high: not used)", format::pct(r.error_rate))
            } else {
                format::pct(r.error_rate)
            },
            format::ms(r.p50_ms),
            format::ms(r.p95_ms),
            format::ms(r.p99_ms),
            per_instance(&r.cpu_pct, cpu),
            per_instance(&r.mem_bytes, format::bytes),
            r.restarts.to_string(),
            r.speedup.map_or("-".into(), |v| format!("{v:.2}×")),
            r.efficiency.map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
        ]);
    }
    t
}

/// Who did the work besides the instances, and how the balancer spread the requests.
pub fn overhead_table(s: &Sweep) -> Table {
    let mut t = Table::new([
        "instances",
        "run",
        "balancer CPU",
        "volley CPU",
        "other processes CPU",
        "requests per instance (X-Served-By)",
    ])
    .align(5, Align::Left);
    for run in &s.sweep {
        t.row([
            run.instances.to_string(),
            run.repeat.to_string(),
            run.balancer_cpu_pct.map_or("-".into(), cpu),
            run.generator_cpu_pct.map_or("-".into(), cpu),
            run.other_cpu_pct.map_or("-".into(), cpu),
            served(run),
        ]);
    }
    t
}

fn served(run: &SweepRun) -> String {
    let mut parts: Vec<String> = run
        .served
        .iter()
        .enumerate()
        .map(|(i, n)| match run.backend_names.get(i) {
            Some(name) => format!("{}: {}", escape::visible(name), format::count(*n)),
            None => format!("#{}: {}", i + 1, format::count(*n)),
        })
        .collect();
    if run.unattributed > 0 {
        parts.push(format!("none: {}", format::count(run.unattributed)));
    }
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

fn usl_line(s: &Sweep) -> Option<String> {
    let u = s.analysis.usl?;
    let mut line = format!(
        "USL fit: λ = {} req/s, σ = {:.3}, κ = {:.4}, R² = {:.2}",
        format::rate(u.lambda),
        u.sigma,
        u.kappa,
        u.r_squared
    );
    if let Some(n) = u.peak_instances {
        line.push_str(&format!(
            ", peak N* = {n:.1} ({} req/s)",
            format::rate(u.peak_rps.unwrap_or(0.0))
        ));
    }
    Some(line)
}

/// The sweep's title as plain text: the command, the workload, the balancer, the cores.
fn heading(s: &Sweep) -> String {
    format!(
        "{} {} ({}, {}, {} core(s))",
        title_word(s),
        s.command.join(" "),
        s.workload,
        balancer_words(s),
        s.machine.cpus
    )
}

fn title_word(s: &Sweep) -> &'static str {
    match s.mode {
        SweepMode::Throughput => "Scaling",
        SweepMode::Capacity => "Capacity per instance count of",
    }
}

/// `nginx balancer`, or the deployment's own for a `--scale-cmd` sweep.
fn balancer_words(s: &Sweep) -> String {
    if s.balancer == "deployment" {
        "a deployment scaled by its own command".into()
    } else {
        format!("{} balancer", s.balancer)
    }
}

/// The terminal rendering, drawn from a copy of the sweep whose strings went through
/// [`escape::terminal`].
pub fn text(s: &Sweep) -> String {
    match escape::terminal_safe(s) {
        Some(clean) => draw_text(&clean),
        None => escape::terminal_text(&draw_text(s)),
    }
}

fn draw_text(s: &Sweep) -> String {
    let mut out = String::new();
    out.push_str(&heading(s));
    out.push_str("\n\n");
    out.push_str(&table(s).to_text("  "));
    out.push_str(&format!("  {THROUGHPUT_NOTE}\n\n"));
    if s.mode == SweepMode::Capacity {
        out.push_str("Capacity (req/s within the SLOs");
        if !s.slos.is_empty() {
            out.push_str(&format!(": {}", s.slos.join(", ")));
        }
        out.push_str(")\n");
        for r in &s.rows {
            let speedup = r.speedup.map_or(String::new(), |v| format!(", speedup {v:.2}×"));
            out.push_str(&format!(
                "  {}: {}{speedup}\n",
                instances_header(r.instances),
                capacity_cell(r)
            ));
        }
        out.push('\n');
    }
    out.push_str(&overhead_table(s).to_text("  "));
    if let Some(l) = usl_line(s) {
        out.push_str(&format!("\n  {l}\n"));
    }
    let findings = sweep_findings::sweep(s);
    if !findings.is_empty() {
        out.push_str("\nFindings\n");
        for f in &findings {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out
}

/// GitHub-flavoured Markdown. Every user string goes through [`escape::md_escape`], the
/// command through [`escape::md_code_span`].
pub fn markdown(s: &Sweep) -> String {
    let mut out = format!(
        "# {} {} ({}, {}, {} core(s))\n\n",
        title_word(s),
        escape::md_code_span(&s.command.join(" ")),
        md_escape(&s.workload),
        md_escape(&balancer_words(s)),
        s.machine.cpus
    );
    if !s.slos.is_empty() {
        let slos: Vec<String> = s.slos.iter().map(|x| escape::md_code_span(x)).collect();
        out.push_str(&format!("SLOs: {}.\n\n", slos.join(", ")));
    }
    out.push_str(&format!(
        "Started {} on {} ({}).\n\n",
        md_escape(&s.started_at),
        md_escape(&s.machine.hostname),
        md_escape(&s.machine.os)
    ));
    out.push_str("## Comparison per instance count\n\n");
    out.push_str(&comparison(s).to_markdown());
    out.push_str(&format!("\n{}\n", md_escape(comparison_note(s))));
    if s.mode == SweepMode::Capacity {
        out.push_str("\n## Capacity search per instance count\n\n");
        out.push_str(&search_table(s).to_markdown());
    }
    out.push_str("\n## Throughput, latency and resources per instance count\n\n");
    out.push_str(&table(s).to_markdown());
    out.push_str(&format!("\n{}\n", md_escape(THROUGHPUT_NOTE)));
    out.push_str("\n## Balancer, load generator and distribution of requests\n\n");
    out.push_str(&overhead_table(s).to_markdown());
    if let Some(l) = usl_line(s) {
        out.push_str(&format!("\n{}\n", md_escape(&l)));
    }
    out.push_str("\n## Findings\n\n");
    for f in sweep_findings::sweep(s) {
        out.push_str(&format!("- {}\n", md_escape(&f)));
    }
    out
}

/// Throughput per instance count (every run), with the fitted USL curve dashed over it.
fn throughput_chart(s: &Sweep) -> Result<String, ChartError> {
    let point = |r: &SweepRun| (r.instances as f64, r.figure(s.mode));
    let measured: Vec<(f64, f64)> =
        s.sweep.iter().filter(|r| !r.high_error_rate).map(point).collect();
    let label = match s.mode {
        SweepMode::Throughput => "successful req/s",
        SweepMode::Capacity => "capacity (req/s within the SLOs)",
    };
    let mut series = vec![dots(Series::new(label, PALETTE[0], measured))];
    let flagged: Vec<(f64, f64)> =
        s.sweep.iter().filter(|r| r.high_error_rate).map(point).collect();
    if !flagged.is_empty() {
        series.push(dots(Series::new("high error rate (not used)", PALETTE[3], flagged)));
    }
    if let Some(u) = s.analysis.usl {
        let max_n = s.rows.iter().map(|r| r.instances).max().unwrap_or(1) as f64;
        // Up to the predicted peak when it is near, so the curve shows where it bends.
        let to = u.peak_instances.map_or(max_n, |p| p.clamp(max_n, max_n * 2.0)).max(max_n);
        let curve = (0..=60).map(|i| 1.0 + (to - 1.0) * i as f64 / 60.0).map(|n| (n, u.predict(n)));
        series.push(Series { dashed: true, ..Series::new("USL fit", PALETTE[1], curve.collect()) });
    }
    line_chart(&Chart {
        x_label: "instances".into(),
        y_label: "requests/s".into(),
        x_unit: Unit::Count,
        y_unit: Unit::Count,
        series,
    })
}

fn dots(s: Series) -> Series {
    Series { markers: true, ..s }
}

/// p50, p95 and p99 per instance count (means over repeats).
fn latency_chart(s: &Sweep) -> Result<String, ChartError> {
    let pts = |f: fn(&SweepRow) -> f64| -> Vec<(f64, f64)> {
        s.rows.iter().map(|r| (r.instances as f64, f(r))).collect()
    };
    line_chart(&Chart {
        x_label: "instances".into(),
        y_label: "latency".into(),
        x_unit: Unit::Count,
        y_unit: Unit::Ms,
        series: vec![
            dots(Series::new("p50", PALETTE[0], pts(|r| r.p50_ms))),
            dots(Series::new("p95", PALETTE[1], pts(|r| r.p95_ms))),
            dots(Series::new("p99", PALETTE[3], pts(|r| r.p99_ms))),
        ],
    })
}

/// Requests per second over time, one line per run.
fn rps_over_time(s: &Sweep) -> Result<String, ChartError> {
    let series = s
        .sweep
        .iter()
        .enumerate()
        .map(|(i, run)| {
            // Full seconds only: the run's last, partial second would read as a collapse.
            let pts = crate::facts::full_seconds(&run.result)
                .iter()
                .map(|p| (p.t as f64, p.requests as f64))
                .collect();
            Series::new(run_label(run), PALETTE[i % PALETTE.len()], pts)
        })
        .collect();
    time_chart("requests/s", Unit::Count, series)
}

fn run_label(run: &SweepRun) -> String {
    if run.repeat > 1 {
        format!("{} instance(s), run {}", run.instances, run.repeat)
    } else {
        format!("{} instance(s)", run.instances)
    }
}

const PAGE: &str = r#"{% extends "base.html" %}
{% import "macros.html" as m %}
{% block content %}
<h1>{{ heading }}</h1>
<p class="sub">Started {{ started_at }} on {{ host }} ({{ os }}, {{ cpus }} core(s)). Load: {{ workload }}.
Set-up: {{ balancer }}. Command: <code>{{ command }}</code></p>
<h2>Findings</h2>
<ul class="findings">{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2>Comparison per instance count</h2>
{{ m.table(comparison) }}
<p class="sub">{{ comparison_note }}</p>
{% if slos %}<p class="sub">SLOs: {% for x in slos %}<code>{{ x }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}
{% if search %}<h2>Capacity search per instance count</h2>
{{ m.table(search, wrap_last=true) }}{% endif %}
<h2>Throughput, latency and resources per instance count</h2>
{{ m.table(main) }}
<p class="sub">{{ throughput_note }}</p>
{% if usl %}<p class="sub">{{ usl }}</p>{% endif %}
<h2>Charts</h2>
<div class="charts">
{% for c in charts %}{{ m.chart(c) }}
{% endfor %}
</div>
<h2>Balancer, load generator and distribution of requests</h2>
{{ m.table(overhead, wrap_last=true) }}
<p class="sub">CPU: 100% = one core. Memory: resident set size, averaged over the run.
"Other processes" is the machine's busy CPU minus the instances, the balancer and volley.</p>
{% endblock %}
"#;

/// A self-contained HTML page in the report crate's shell, escaped by the template engine.
pub fn html(s: &Sweep) -> Result<String, ReportError> {
    let mut env = html::environment()?;
    env.add_template("scale.html", PAGE)?;
    let mut charts = vec![
        html::chart(
            "throughput",
            match s.mode {
                SweepMode::Throughput => "Throughput by instance count",
                SweepMode::Capacity => "Capacity by instance count",
            },
            throughput_chart(s)?,
        ),
        html::chart("latency", "Latency by instance count (p50, p95, p99)", latency_chart(s)?),
    ];
    if s.sweep.iter().any(|r| !r.result.timeseries.is_empty()) {
        charts.push(html::chart("rps", "Requests per second during each run", rps_over_time(s)?));
    }
    // CPU of each instance (and the balancer and volley) over time, for the first run of each
    // instance count.
    for run in s.sweep.iter().filter(|r| r.repeat == 1) {
        let series = resource_series(&run.result, true);
        if !series.is_empty() {
            let title = format!("CPU over time, {}", run_label(run));
            let id = format!("cpu-{}", run.instances);
            charts.push(html::chart(&id, &title, time_chart("CPU %", Unit::Percent, series)?));
        }
    }
    Ok(env.get_template("scale.html")?.render(context! {
        title => heading(s),
        volley_version => &s.volley_version,
        heading => heading(s),
        started_at => &s.started_at,
        host => &s.machine.hostname,
        os => &s.machine.os,
        cpus => s.machine.cpus,
        workload => &s.workload,
        balancer => balancer_words(s),
        command => s.command.join(" "),
        comparison => comparison(s),
        comparison_note => comparison_note(s),
        slos => &s.slos,
        search => (s.mode == SweepMode::Capacity).then(|| search_table(s)),
        main => table(s),
        throughput_note => THROUGHPUT_NOTE,
        overhead => overhead_table(s),
        usl => usl_line(s),
        charts => charts,
        findings => sweep_findings::sweep(s),
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, SweepMode, analyze};

    fn sweep() -> Sweep {
        let mk = |n: usize, rps: f64| {
            let mut result = crate::fixture::Spec::steady(3, rps as u64, 10.0, 10).build();
            result.totals.rps = rps;
            let mut run = SweepRun::from_result(n, 1, result);
            run.cpu_pct = vec![95.0; n];
            run.mem_bytes = vec![30e6; n];
            run
        };
        let runs = vec![mk(1, 100.0), mk(2, 190.0)];
        let (rows, analysis) = analyze(&runs, SweepMode::Throughput);
        Sweep {
            schema_version: SWEEP_SCHEMA_VERSION,
            volley_version: "0".into(),
            command: vec!["node".into(), "<app>.js".into()],
            workload: "GET /heavy".into(),
            balancer: "round-robin".into(),
            mode: SweepMode::Throughput,
            slos: Vec::new(),
            machine: Default::default(),
            started_at: "2026-01-01T00:00:00Z".into(),
            sweep: runs,
            rows,
            analysis,
        }
    }

    #[test]
    fn text_has_one_row_per_instance_count() {
        let t = text(&sweep());
        assert!(t.contains("1.90×"), "{t}");
        assert!(t.contains("95%, 95%"), "{t}");
        assert!(t.contains("Findings"), "{t}");
    }

    #[test]
    fn html_escapes_user_text() {
        let h = html(&sweep()).unwrap();
        assert!(h.contains("&lt;app&gt;.js"), "command must be escaped");
        assert!(!h.contains("<app>"));
        assert!(h.contains("<svg"), "charts are inline");
        assert!(h.contains("<td class=\"right\">"));
    }

    #[test]
    fn markdown_command_cannot_close_its_code_span() {
        let mut s = sweep();
        s.command =
            vec!["sh".into(), "-c".into(), "x` <img src=x onerror=alert(1)> `\u{1b}[2J".into()];
        s.machine.hostname = "<b>host</b>".into();
        let m = markdown(&s);
        let first = m.lines().next().unwrap();
        assert_eq!(
            first,
            "# Scaling ``sh -c x` <img src=x onerror=alert(1)> `␛[2J`` (GET /heavy, round-robin balancer, 0 core(s))"
        );
        assert!(m.contains("on \\<b\\>host\\</b\\>"), "{m}");
        let t = text(&s);
        assert!(!t.contains('\u{1b}') && t.contains("`␛[2J"), "{t}");
    }

    #[test]
    fn markdown_has_the_table() {
        let m = markdown(&sweep());
        assert!(m.contains("| instances | req/s |"), "{m}");
    }

    /// Seed 003's rows, in its order, for every instance count, with figures taken from the
    /// runs' own totals.
    #[test]
    fn the_comparison_has_seed_003s_rows_for_every_count() {
        let s = crate::fixture::sweep();
        let t = comparison(&s);
        assert_eq!(t.headers, ["metric", "2 instances", "3 instances", "4 instances"]);
        let labels: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            labels,
            [
                "traffic (requests/s)",
                "errors (failed requests)",
                "responses",
                "latency p95 / p99",
                "CPU per instance",
                "memory per instance",
                "throughput (successful/s)",
                "speedup",
                "efficiency",
                "capacity (req/s within the SLOs)",
            ]
        );
        let cell = |label: &str, col: usize| {
            t.rows.iter().find(|r| r[0] == label).map(|r| r[col + 1].clone()).unwrap()
        };
        for (k, run) in s.sweep.iter().enumerate() {
            let tot = &run.result.totals;
            let d = &run.result.metrics["http_req_duration"].values;
            assert_eq!(cell("traffic (requests/s)", k), format::rate(tot.rps));
            assert_eq!(
                cell("errors (failed requests)", k),
                format!("{} ({})", tot.failed, format::pct_of(tot.failed, tot.requests))
            );
            assert_eq!(cell("responses", k), format::count(tot.responses));
            assert_eq!(
                cell("latency p95 / p99", k),
                format!("{} / {}", format::ms(d["p(95)"]), format::ms(d["p(99)"]))
            );
            let server = run.result.server.as_ref().unwrap();
            assert_eq!(server.instances.len(), run.instances);
            let cpus: Vec<String> =
                server.instances.iter().map(|u| format!("{:.0}%", u.cpu_pct_avg)).collect();
            assert_eq!(cell("CPU per instance", k), cpus.join(", "));
            let mems: Vec<String> =
                server.instances.iter().map(|u| format::bytes(u.mem_bytes_avg)).collect();
            assert_eq!(cell("memory per instance", k), mems.join(", "));
            assert_eq!(cell("capacity (req/s within the SLOs)", k), "—", "not searched: a dash");
        }
        // The fixture's 4-instance run lost 2 requests a second, some of them to timeouts: its
        // responses are fewer than its requests and its failures add up.
        let four = &s.sweep[2].result.totals;
        assert!(four.failed == 8 && four.responses < four.requests, "{four:?}");
        assert_eq!(s.sweep[2].served.iter().sum::<u64>(), four.responses);
        assert_eq!(s.sweep[2].unattributed, four.transport_failures);
        assert_eq!(cell("speedup", 0), "1.00×");
        assert_eq!(cell("speedup", 1), format!("{:.2}×", s.sweep[1].rps / s.sweep[0].rps));
        assert_eq!(
            cell("efficiency", 2),
            format!("{:.0}%", s.sweep[2].rps / s.sweep[0].rps / 2.0 * 100.0)
        );
    }

    /// A capacity sweep: the capacity row filled, speedup and efficiency of capacity, every
    /// step of every search, the capacity chart.
    #[test]
    fn a_capacity_sweep_compares_capacities() {
        let s = crate::fixture::capacity_sweep();
        let t = comparison(&s);
        let row = |label: &str| t.rows.iter().find(|r| r[0] == label).unwrap().clone();
        let caps = row("capacity (req/s within the SLOs)");
        for (k, run) in s.sweep.iter().enumerate() {
            let (c, u) = (run.capacity_rps.unwrap(), run.capacity_upper_rps.unwrap());
            assert_eq!(caps[k + 1], format!("{} (< {})", format::rate(c), format::rate(u)));
        }
        let speedup = row("speedup (of capacity)");
        let expected = s.sweep[1].capacity_rps.unwrap() / s.sweep[0].capacity_rps.unwrap();
        assert_eq!(speedup[2], format!("{expected:.2}×"));
        let m = markdown(&s);
        assert!(m.starts_with("# Capacity per instance count of `app --port {port}`"), "{m}");
        assert!(m.contains("SLOs: `http_req_duration: p(95)<200`."), "{m}");
        let steps: usize = s.sweep.iter().map(|r| r.capacity.as_ref().unwrap().steps.len()).sum();
        assert_eq!(search_table(&s).rows.len(), steps);
        assert!(m.contains("## Capacity search per instance count"), "{m}");
        let text = text(&s);
        assert!(
            text.contains("Capacity (req/s within the SLOs: http_req_duration: p(95)<200)"),
            "{text}"
        );
        let f = s.analysis.findings.join("\n");
        assert!(f.contains("changed capacity (within the SLOs) from"), "{f}");
        assert!(f.contains("1 instance(s): capacity"), "{f}");
        let h = html(&s).unwrap();
        assert!(
            h.contains("Capacity by instance count")
                && h.contains("<h2>Capacity search per instance count</h2>")
        );
        insta::assert_snapshot!(m);
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown(&crate::fixture::sweep()));
    }

    /// The HTML's comparison table, and the charts of throughput and latency per count, drawn.
    #[test]
    fn html_comparison_and_charts() {
        let h = html(&crate::fixture::sweep()).unwrap();
        let start = h.find("<h2>Comparison per instance count</h2>").expect("the comparison");
        let end = start + h[start..].find("<h2>Throughput").unwrap();
        insta::assert_snapshot!(&h[start..end]);
        for id in ["throughput", "latency", "rps", "cpu-2", "cpu-3", "cpu-4"] {
            assert!(h.contains(&format!("<figure class=\"chart\" id=\"{id}\">")), "chart {id}");
        }
        // One dot per instance count on each of the per-count series: throughput (3), p50,
        // p95 and p99 (3 each).
        let latency = &h[h.find("id=\"latency\"").unwrap()..];
        let latency = &latency[..latency.find("</figure>").unwrap()];
        assert_eq!(latency.matches("<circle").count(), 9, "{latency}");
    }
}
