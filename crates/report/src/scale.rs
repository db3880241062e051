//! Renderers of a scaling sweep (`volley scale`, `volley demo`): the terminal table, Markdown
//! and a self-contained HTML page, all from the same [`Sweep`] document.
//!
//! The table is the one seed 003 left empty (traffic, errors, p95 & p99, CPU and memory per
//! instance) with speedup and efficiency added; the findings and the USL fit come from the
//! sweep's own analysis so every format says the same thing.

use minijinja::{Environment, context};
use serde::Serialize;
use volley_metrics::sweep::{Sweep, SweepRow, SweepRun};

use crate::format;
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
            format::pct(r.error_rate),
            format::ms(r.p50_ms),
            format::ms(r.p95_ms),
            format::ms(r.p99_ms),
            per_instance(&r.cpu_pct, cpu),
            per_instance(&r.mem_bytes, format::bytes),
            r.restarts.to_string(),
            format!("{:.2}×", r.speedup),
            format!("{:.0}%", r.efficiency * 100.0),
        ]);
    }
    t
}

/// Who did the work besides the instances, and how the balancer spread the requests.
pub fn overhead_table(s: &Sweep) -> Table {
    let mut t = Table::new(["instances", "run", "balancer CPU", "volley CPU", "requests per instance (X-Served-By)"])
        .align(4, Align::Left);
    for run in &s.sweep {
        t.row([
            run.instances.to_string(),
            run.repeat.to_string(),
            run.balancer_cpu_pct.map_or("-".into(), cpu),
            run.generator_cpu_pct.map_or("-".into(), cpu),
            served(run),
        ]);
    }
    t
}

fn served(run: &SweepRun) -> String {
    let mut parts: Vec<String> =
        run.served.iter().enumerate().map(|(i, n)| format!("#{}: {}", i + 1, format::count(*n))).collect();
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
        line.push_str(&format!(", peak N* = {n:.1} ({} req/s)", format::rate(u.peak_rps.unwrap_or(0.0))));
    }
    Some(line)
}

fn heading(s: &Sweep) -> String {
    format!(
        "Scaling `{}` ({}, {} balancer, {} core(s))",
        s.command.join(" "),
        s.workload,
        s.balancer,
        s.machine.cpus
    )
}

/// The terminal rendering.
pub fn text(s: &Sweep) -> String {
    let mut out = String::new();
    out.push_str(&heading(s).replace('`', ""));
    out.push_str("\n\n");
    out.push_str(&table(s).to_text("  "));
    out.push('\n');
    out.push_str(&overhead_table(s).to_text("  "));
    if let Some(l) = usl_line(s) {
        out.push_str(&format!("\n  {l}\n"));
    }
    if !s.analysis.findings.is_empty() {
        out.push_str("\nFindings\n");
        for f in &s.analysis.findings {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out
}

/// GitHub-flavoured Markdown.
pub fn markdown(s: &Sweep) -> String {
    let mut out = format!("# {}\n\n", heading(s));
    out.push_str(&format!("Started {} on {} ({}).\n\n", s.started_at, s.machine.hostname, s.machine.os));
    out.push_str("## Throughput, latency and resources per instance count\n\n");
    out.push_str(&table(s).to_markdown());
    out.push_str("\n## Balancer, load generator and distribution of requests\n\n");
    out.push_str(&overhead_table(s).to_markdown());
    if let Some(l) = usl_line(s) {
        out.push_str(&format!("\n{l}\n"));
    }
    out.push_str("\n## Findings\n\n");
    for f in &s.analysis.findings {
        out.push_str(&format!("- {f}\n"));
    }
    out
}

#[derive(Serialize)]
struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    label: String,
    value: String,
}

#[derive(Serialize)]
struct Chart {
    width: f64,
    height: f64,
    bars: Vec<Bar>,
    /// USL curve as an SVG polyline `points` attribute.
    curve: String,
    y_max: String,
}

/// Throughput per instance count as bars, with the fitted USL curve over them.
fn chart(s: &Sweep) -> Chart {
    let (width, height, pad) = (640.0, 260.0, 40.0);
    let max_n = s.rows.iter().map(|r| r.instances).max().unwrap_or(1) as f64;
    let mut y_max = s.rows.iter().map(|r| r.rps_max.max(r.rps)).fold(0.0, f64::max);
    if let Some(u) = s.analysis.usl {
        for k in 1..=(max_n as usize) {
            y_max = y_max.max(u.predict(k as f64));
        }
    }
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let plot_w = width - 2.0 * pad;
    let plot_h = height - 2.0 * pad;
    let slot = plot_w / max_n;
    let x_of = |n: f64| pad + (n - 0.5) * slot;
    let y_of = |v: f64| pad + plot_h * (1.0 - v / y_max);
    let bars = s
        .rows
        .iter()
        .map(|r| Bar {
            x: x_of(r.instances as f64) - slot * 0.3,
            y: y_of(r.rps),
            w: slot * 0.6,
            h: plot_h * r.rps / y_max,
            label: r.instances.to_string(),
            value: format::rate(r.rps),
        })
        .collect();
    let curve = match s.analysis.usl {
        Some(u) => (0..=40)
            .map(|i| {
                let n = 1.0 + (max_n - 1.0).max(0.0) * i as f64 / 40.0;
                format!("{:.1},{:.1}", x_of(n), y_of(u.predict(n)))
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    };
    Chart { width, height, bars, curve, y_max: format::rate(y_max) }
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>volley scale: {{ heading }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
td.right, th.right { text-align: right; font-variant-numeric: tabular-nums; }
li { margin: .4rem 0; }
.muted { color: #666; }
svg text { font-size: 12px; fill: #333; }
</style></head><body>
<h1>{{ heading }}</h1>
<p class="muted">Started {{ started_at }} on {{ host }} ({{ os }}, {{ cpus }} core(s)). Load: {{ workload }}.</p>
<h2>Throughput, latency and resources per instance count</h2>
{{ table(main) }}
<h2>Throughput by instance count</h2>
<svg width="{{ chart.width }}" height="{{ chart.height }}" role="img" aria-label="requests per second by instance count">
<line x1="40" y1="{{ chart.height - 40 }}" x2="{{ chart.width - 40 }}" y2="{{ chart.height - 40 }}" stroke="#999"/>
<text x="4" y="36">{{ chart.y_max }} req/s</text>
{% for b in chart.bars %}
<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="#4e79a7"><title>{{ b.label }} instance(s): {{ b.value }} req/s</title></rect>
<text x="{{ b.x + b.w / 2 }}" y="{{ chart.height - 24 }}" text-anchor="middle">{{ b.label }}</text>
<text x="{{ b.x + b.w / 2 }}" y="{{ b.y - 4 }}" text-anchor="middle">{{ b.value }}</text>
{% endfor %}
{% if chart.curve %}<polyline points="{{ chart.curve }}" fill="none" stroke="#e15759" stroke-width="2" stroke-dasharray="5,3"/>{% endif %}
</svg>
{% if usl %}<p>{{ usl }} <span class="muted">(dashed line)</span></p>{% endif %}
<h2>Findings</h2>
<ul>{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2>Balancer, load generator and distribution of requests</h2>
{{ table(overhead) }}
<p class="muted">CPU: 100% = one core. Memory: resident set size, averaged over the run. Command: <code>{{ command }}</code>.</p>
</body></html>
"##;

const TABLE: &str = r#"<table><thead><tr>{% for h in t.headers %}<th class="{{ t.align[loop.index0] }}">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in t.rows %}<tr>{% for c in r %}<td class="{{ t.align[loop.index0] }}">{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>"#;

/// A self-contained HTML page (no external assets), escaped by the template engine.
pub fn html(s: &Sweep) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("table.html", TABLE)?;
    let table_tmpl = env.get_template("table.html")?;
    let main = table_tmpl.render(context! { t => table(s) })?;
    let overhead = table_tmpl.render(context! { t => overhead_table(s) })?;
    // Rendered tables are already escaped; mark them safe for the page.
    let mut env2 = Environment::new();
    env2.add_template("scale.html", PAGE)?;
    let (main, overhead) = (
        minijinja::Value::from_safe_string(main),
        minijinja::Value::from_safe_string(overhead),
    );
    env2.add_function("table", move |which: String| -> minijinja::Value {
        if which == "main" { main.clone() } else { overhead.clone() }
    });
    env2.get_template("scale.html")?.render(context! {
        heading => heading(s).replace('`', ""),
        started_at => &s.started_at,
        host => &s.machine.hostname,
        os => &s.machine.os,
        cpus => s.machine.cpus,
        workload => &s.workload,
        main => "main",
        overhead => "overhead",
        chart => chart(s),
        usl => usl_line(s),
        findings => &s.analysis.findings,
        command => s.command.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, analyze};

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
        let (rows, analysis) = analyze(&runs, 2);
        Sweep {
            schema_version: SWEEP_SCHEMA_VERSION,
            volley_version: "0".into(),
            command: vec!["node".into(), "<app>.js".into()],
            workload: "GET /heavy".into(),
            balancer: "round-robin".into(),
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
        assert!(h.contains("<rect"));
        assert!(h.contains("<td class=\"right\">"));
    }

    #[test]
    fn markdown_has_the_table() {
        let m = markdown(&sweep());
        assert!(m.contains("| instances | req/s |"), "{m}");
    }
}
