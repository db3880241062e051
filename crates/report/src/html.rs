//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched at
//! view time) with the Markdown report's tables and findings plus charts.
//!
//! Every user string goes through minijinja's HTML auto-escaping (templates ending in `.html`);
//! the only values marked safe are the SVG charts, whose text plotters escapes itself.
//!
//! Reusable by other reports: [`environment`] holds the page shell `base.html` (CSS, header,
//! footer; fill `{% block content %}`) and `macros.html` (`table`, `chart`, `findings`,
//! `cards`); add a template that extends the shell with `env.add_template_owned`, render it
//! with a context containing `title` and `volley_version`, and pass charts through [`chart`].

use minijinja::{Environment, Value, context};
use serde::Serialize;
use volley_metrics::RunResult;
use volley_metrics::histogram;

use crate::charts::{self, Series, Unit};
use crate::error::ReportError;
use crate::findings::{self, Finding, Level};
use crate::markdown;
use crate::table::Table;
use crate::{facts, format, glossary, tables};

/// Options of the HTML report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub glossary: bool,
}

/// The template environment with the page shell, the macros and volley's own templates.
/// Auto-escaping is on for every template whose name ends in `.html`.
pub fn environment() -> Result<Environment<'static>, ReportError> {
    let mut env = Environment::new();
    env.set_formatter(crate::escape::html_formatter);
    env.add_template("base.html", include_str!("../templates/base.html"))?;
    env.add_template("macros.html", include_str!("../templates/macros.html"))?;
    env.add_template("report.html", include_str!("../templates/report.html"))?;
    env.add_template("compare.html", include_str!("../templates/compare.html"))?;
    Ok(env)
}

/// A chart for the `chart` macro: its SVG is marked safe (plotters escapes the text inside).
pub fn chart(id: &str, title: &str, svg: String) -> Value {
    context! { id => id, title => title, svg => Value::from_safe_string(svg) }
}

/// A finding for the `findings` macro.
#[derive(Debug, Serialize)]
pub struct FindingView {
    pub level: Level,
    pub tag: &'static str,
    pub text: String,
}

pub fn finding_views(fs: &[Finding]) -> Vec<FindingView> {
    fs.iter()
        .map(|f| FindingView {
            level: f.level,
            tag: match f.level {
                Level::Problem => "Problem:",
                Level::Warning => "Warning:",
                Level::Info => "Note:",
            },
            text: f.text.clone(),
        })
        .collect()
}

/// A figure for the `cards` macro; `tone` is `ok`, `warn`, `bad` or empty.
#[derive(Debug, Serialize)]
pub struct Card {
    pub label: String,
    pub value: String,
    pub tone: &'static str,
}

fn card(label: &str, value: String, tone: &'static str) -> Card {
    Card { label: label.into(), value, tone }
}

fn non_empty(t: Table) -> Option<Table> {
    (!t.is_empty()).then_some(t)
}

/// The charts of one result; charts that cannot be drawn from it (no server samples) are left
/// out, and a histogram that fails to decode becomes a note instead of a chart.
pub fn result_charts(r: &RunResult) -> Result<(Vec<Value>, Vec<String>), ReportError> {
    let mut out = vec![
        chart(
            "chart-rps",
            "Requests per second",
            charts::time_chart("requests/s", Unit::Count, charts::rps_series(r))?,
        ),
        chart(
            "chart-latency",
            "Latency over time (per-second p50, p95, p99)",
            charts::time_chart("latency", Unit::Ms, charts::latency_series(r))?,
        ),
        chart(
            "chart-vus",
            "Active VUs and open connections",
            charts::time_chart("VUs", Unit::Count, charts::vus_series(r))?,
        ),
        chart(
            "chart-failures",
            "Failures per second",
            charts::time_chart("failures/s", Unit::Count, charts::failure_series(r))?,
        ),
    ];
    let mut notes = Vec::new();
    let mut spectrum = Vec::new();
    if let Some(enc) = r.histograms.get("http_req_duration") {
        match histogram::decode(enc) {
            Ok(h) => spectrum.push(Series::new(
                "all requests",
                charts::PALETTE[0],
                charts::spectrum_points(&h),
            )),
            Err(e) => notes.push(format!("Latency spectrum unavailable: {e}.")),
        }
    }
    if r.endpoints.len() > 1 {
        for (i, e) in r.endpoints.iter().enumerate().take(6) {
            let key = format!("http_req_duration{{name:{}}}", e.name);
            if let Some(h) = r.histograms.get(&key).and_then(|enc| histogram::decode(enc).ok()) {
                let color = charts::PALETTE[(i + 1) % charts::PALETTE.len()];
                spectrum.push(Series {
                    dashed: true,
                    ..Series::new(
                        format!("{} {}", e.method, e.name),
                        color,
                        charts::spectrum_points(&h),
                    )
                });
            }
        }
    }
    if !spectrum.is_empty() {
        out.push(chart(
            "chart-spectrum",
            "Latency percentile spectrum",
            charts::spectrum_chart(spectrum)?,
        ));
    }
    let cpu = charts::resource_series(r, true);
    if !cpu.is_empty() {
        out.push(chart(
            "chart-cpu",
            "CPU over time (100% = one core)",
            charts::time_chart("CPU", Unit::Percent, cpu)?,
        ));
    }
    let mem = charts::resource_series(r, false);
    if !mem.is_empty() {
        out.push(chart(
            "chart-memory",
            "Memory over time",
            charts::time_chart("memory", Unit::Bytes, mem)?,
        ));
    }
    Ok((out, notes))
}

/// The headline figures as cards.
pub fn cards(r: &RunResult) -> Vec<Card> {
    let t = &r.totals;
    let l = tables::overall_latency(r);
    let rate = t.error_rate();
    let mut v = vec![
        card("Requests", format::count(t.requests), ""),
        card("Requests/s", format::rate(t.rps), ""),
        card(
            "Failures",
            format::pct(rate),
            if t.failed == 0 {
                "ok"
            } else if rate < 0.01 {
                "warn"
            } else {
                "bad"
            },
        ),
        card("Median", format::ms(l.med), ""),
        card("p95", format::ms(l.p95), ""),
        card("p99", format::ms(l.p99), ""),
        card("Duration", format::seconds(r.duration_s), if r.interrupted { "warn" } else { "" }),
    ];
    if !r.thresholds.is_empty() {
        let crossed = r.thresholds.iter().filter(|t| !t.ok).count();
        v.push(card(
            "Thresholds",
            format!("{} of {} passed", r.thresholds.len() - crossed, r.thresholds.len()),
            if crossed == 0 { "ok" } else { "bad" },
        ));
    }
    v
}

/// The whole HTML report.
pub fn render(r: &RunResult, opts: Options) -> Result<String, ReportError> {
    let env = environment()?;
    let (charts, chart_notes) = result_charts(r)?;
    let heading = r.config.label.clone().unwrap_or_else(|| facts::target(r));
    let subtitle = format!(
        "{} · volley {} · started {} · {}{}",
        facts::load_line(r),
        r.volley_version,
        r.started_at,
        format::seconds(r.duration_s),
        if r.interrupted { " · interrupted" } else { "" }
    );
    let ctx = context! {
        title => format!("volley report: {heading}"),
        volley_version => r.volley_version,
        heading,
        subtitle,
        cards => cards(r),
        findings => finding_views(&findings::analyze(r)),
        charts,
        chart_notes,
        summary => markdown::summary(r),
        thresholds => non_empty(tables::thresholds(r)),
        checks => non_empty(tables::checks(r)),
        endpoints => (!r.endpoints.is_empty()).then(|| tables::endpoints(r)),
        failures => non_empty(tables::failures(r)),
        requests => format::count(r.totals.requests),
        status_codes => non_empty(tables::status_codes(r)),
        latency => tables::latency(r),
        timeline_facts => markdown::timeline_facts(r),
        timeline => non_empty(markdown::timeline_table(r, 12)),
        open_model => markdown::open_model_text(r),
        server => tables::server(r),
        backends => tables::backends(r),
        configuration => markdown::configuration_text(r),
        scenarios => markdown::scenario_lines(r),
        command_line => markdown::command_line(r),
        glossary => opts.glossary.then_some(glossary::TERMS),
    };
    Ok(env.get_template("report.html")?.render(ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Spec};

    #[test]
    fn script_in_a_url_stays_text() {
        let mut r = fixture::plan_run();
        r.config.target = Some("http://127.0.0.1:1/<script>alert(1)</script>".into());
        r.endpoints[0].name = "/<img src=x onerror=alert(2)>".into();
        r.checks[0].name = "\"quoted\" & <b>bold</b>".into();
        let html = render(&r, Options::default()).unwrap();
        assert!(!html.contains("<script>"), "raw script tag in output");
        assert!(!html.contains("<img"), "raw img tag in output");
        assert!(!html.contains("<b>bold"), "raw b tag in output");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    }

    #[test]
    fn self_contained_with_every_chart() {
        let r = Spec { server: Some((vec![70.0, 65.0], 30.0)), ..Spec::default() }.build();
        let html = render(&r, Options { glossary: true }).unwrap();
        for id in [
            "chart-rps",
            "chart-latency",
            "chart-vus",
            "chart-failures",
            "chart-spectrum",
            "chart-cpu",
            "chart-memory",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "missing {id}");
        }
        assert!(!html.contains("<script"), "no scripts at all");
        assert!(!html.contains("src=\"http"), "nothing fetched");
        assert!(!html.contains("href=\"http"), "nothing linked");
        assert!(html.contains("Glossary"));
    }

    #[test]
    fn bad_histogram_is_a_note_not_an_error() {
        let mut r = Spec::default().build();
        r.histograms.insert("http_req_duration".into(), "not base64!".into());
        let html = render(&r, Options::default()).unwrap();
        assert!(html.contains("Latency spectrum unavailable"));
    }
}
