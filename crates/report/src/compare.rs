//! Comparison of several runs (`volley compare`): a side-by-side table with deltas against
//! the first run and the better value marked, a written analysis in the manner of seed 000
//! ("with 2 instances the service completed 31% more requests per second; p95 fell from
//! 223 ms to 152 ms"), and overlaid charts for the HTML version.
//!
//! Method (also printed in every comparison, see [`METHOD`]): throughput is compared with
//! Welch's t-test on the runs' per-second request counts (full seconds only); latency with
//! Welch's t-test on per-second mean latency, together with the Kolmogorov–Smirnov distance
//! between the two runs' latency histograms; error rates with a two-proportion z-test. A
//! difference is called meaningful when p < 0.05 (and, for latency, when at least 5% of
//! requests moved: KS distance ≥ 0.05); otherwise the analysis says it is too small to mean
//! anything. Runs shorter than 3 full seconds are too short to judge.

use minijinja::context;
use volley_metrics::RunResult;
use volley_metrics::histogram;

use crate::charts::{self, Series, Unit};
use crate::error::ReportError;
use crate::table::{Align, Table, md_escape};
use crate::{facts, format, html, stats, tables};

/// Significance level of every test.
pub const ALPHA: f64 = 0.05;
/// Smallest Kolmogorov–Smirnov distance called a real change in latency.
pub const KS_MIN: f64 = 0.05;

/// How the analysis decides what is meaningful, in words.
pub const METHOD: &str = "Each second of a run is one observation. Throughput: Welch's t-test on the requests completed per second (full seconds only). Latency: Welch's t-test on the per-second mean latency, plus the Kolmogorov–Smirnov distance D between the runs' full latency histograms (the largest gap between their cumulative distributions: D = 0.10 means that below some latency lie 10% more of one run's requests than of the other's). Errors: two-proportion z-test on the error rates. A difference is called meaningful when p < 0.05, and for latency also D ≥ 0.05; smaller differences are within the runs' own second-to-second variation. Runs shorter than 3 full seconds are too short to judge.";

/// One run and its label.
#[derive(Debug, Clone)]
pub struct Run {
    pub label: String,
    pub result: RunResult,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    Neither,
}

fn per_instance(
    r: &RunResult,
    f: impl Fn(&volley_metrics::InstanceUsage) -> String,
) -> Option<String> {
    let s = r.server.as_ref()?;
    if s.instances.is_empty() {
        return None;
    }
    Some(s.instances.iter().map(f).collect::<Vec<_>>().join(", "))
}

/// The side-by-side table: one column per run, a Δ column per run after the first (relative
/// to the first), and ✓ after the better value where "better" has a direction.
pub fn table(runs: &[Run]) -> Table {
    let mut headers = vec!["Metric".to_string()];
    for (i, run) in runs.iter().enumerate() {
        headers.push(run.label.clone());
        if i > 0 {
            headers.push(format!("Δ vs {}", runs[0].label));
        }
    }
    let mut t = Table::new(headers);
    type Row = (&'static str, Better, fn(&RunResult) -> f64, fn(f64) -> String);
    let rows: [Row; 11] = [
        ("Requests per second", Better::Higher, |r| r.totals.rps, format::rate),
        ("Requests", Better::Neither, |r| r.totals.requests as f64, |v| format::count(v as u64)),
        ("Failures", Better::Lower, |r| r.totals.failed as f64, |v| format::count(v as u64)),
        ("Error rate", Better::Lower, |r| r.totals.error_rate(), format::pct),
        ("Mean latency", Better::Lower, |r| tables::overall_latency(r).avg, format::ms),
        ("p50", Better::Lower, |r| tables::overall_latency(r).med, format::ms),
        ("p95", Better::Lower, |r| tables::overall_latency(r).p95, format::ms),
        ("p99", Better::Lower, |r| tables::overall_latency(r).p99, format::ms),
        ("Max latency", Better::Lower, |r| tables::overall_latency(r).max, format::ms),
        ("Data received", Better::Neither, |r| r.totals.bytes_received as f64, format::bytes),
        ("Total time", Better::Neither, |r| r.duration_s, format::seconds),
    ];
    for (name, better, get, fmt) in rows {
        let vals: Vec<f64> = runs.iter().map(|r| get(&r.result)).collect();
        let best = match better {
            Better::Higher => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Better::Lower => vals.iter().copied().fold(f64::INFINITY, f64::min),
            Better::Neither => f64::NAN,
        };
        let all_equal = vals.iter().all(|v| *v == vals[0]);
        let mut cells = vec![name.to_string()];
        for (i, v) in vals.iter().enumerate() {
            let mark =
                if better != Better::Neither && !all_equal && *v == best { " ✓" } else { "" };
            cells.push(format!("{}{mark}", fmt(*v)));
            if i > 0 {
                cells.push(format::delta_pct(vals[0], *v));
            }
        }
        t.row(cells);
    }
    let mut extra = |name: &str, f: &dyn Fn(&RunResult) -> Option<String>| {
        let vals: Vec<Option<String>> = runs.iter().map(|r| f(&r.result)).collect();
        if vals.iter().any(Option::is_some) {
            let mut cells = vec![name.to_string()];
            for (i, v) in vals.into_iter().enumerate() {
                cells.push(v.unwrap_or_else(|| "-".into()));
                if i > 0 {
                    cells.push(String::new());
                }
            }
            t.row(cells);
        }
    };
    extra("Concurrency", &|r| Some(format::count(r.config.concurrency)));
    extra("Dropped iterations", &|r| r.open_model.as_ref().map(|o| format::count(o.dropped)));
    extra("Server CPU per instance (avg)", &|r| per_instance(r, |u| format::cpu(u.cpu_pct_avg)));
    extra("Server memory per instance (avg)", &|r| {
        per_instance(r, |u| format::bytes(u.mem_bytes_avg))
    });
    extra("volley CPU (avg)", &|r| {
        r.server.as_ref().and_then(|s| s.generator.as_ref()).map(|g| format::cpu(g.cpu_pct_avg))
    });
    t.align(0, Align::Left)
}

fn rps_per_second(r: &RunResult) -> Vec<f64> {
    facts::full_seconds(r).iter().map(|p| p.requests as f64).collect()
}

fn latency_per_second(r: &RunResult) -> Vec<f64> {
    facts::full_seconds(r).iter().filter_map(|p| p.latency.as_ref().map(|l| l.avg)).collect()
}

fn more_or_fewer(a: f64, b: f64, more: &str, fewer: &str) -> String {
    let d = format::delta_pct(a, b);
    let d = d.trim_start_matches(['+', '-']);
    if b >= a { format!("{d} {more}") } else { format!("{d} {fewer}") }
}

fn verdict(p: Option<f64>, extra_ok: bool) -> Option<String> {
    match p {
        None => Some(
            "the runs are too short (under 3 full seconds) to tell whether this is real".into(),
        ),
        Some(p) if p < ALPHA && extra_ok => None,
        Some(p) => Some(format!(
            "this is within the runs' own second-to-second variation (p = {}), too small to mean anything",
            p_text(p)
        )),
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 { "< 0.001".into() } else { format!("{p:.2}") }
}

/// The written analysis: for every run after the first, how it differs from the first, and
/// whether each difference is meaningful by the method of [`METHOD`].
pub fn analysis(runs: &[Run]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(base) = runs.first() else { return out };
    let a = &base.result;
    for run in &runs[1..] {
        let b = &run.result;
        let mut s = Vec::new();

        // Throughput.
        let enough = rps_per_second(a).len() >= 3 && rps_per_second(b).len() >= 3;
        let p = if enough {
            stats::welch(&rps_per_second(a), &rps_per_second(b)).map(|w| w.2)
        } else {
            None
        };
        let mut thr = format!(
            "With {} the service completed {} requests per second than with {} ({} vs {} req/s)",
            run.label,
            more_or_fewer(a.totals.rps, b.totals.rps, "more", "fewer"),
            base.label,
            format::rate(b.totals.rps),
            format::rate(a.totals.rps)
        );
        if let Some(v) = verdict(p, true) {
            thr.push_str(&format!(", but {v}"));
        }
        s.push(thr + ".");

        // Latency.
        let la = tables::overall_latency(a);
        let lb = tables::overall_latency(b);
        let change = |x: f64, y: f64| {
            let (fx, fy) = (format::ms(x), format::ms(y));
            if fx == fy {
                format!("stayed at {fx}")
            } else if y < x {
                format!("fell from {fx} to {fy}")
            } else {
                format!("rose from {fx} to {fy}")
            }
        };
        let mut lat = format!(
            "The p95 latency {}, p99 {}, and the median {}",
            change(la.p95, lb.p95),
            change(la.p99, lb.p99),
            change(la.med, lb.med)
        );
        let ks =
            match (a.histograms.get("http_req_duration"), b.histograms.get("http_req_duration")) {
                (Some(x), Some(y)) => match (histogram::decode(x), histogram::decode(y)) {
                    (Ok(x), Ok(y)) => Some(stats::ks_distance(&x, &y)),
                    _ => None,
                },
                _ => None,
            };
        if let Some(d) = ks.filter(|d| d.is_finite()) {
            lat.push_str(&format!(" (distributions differ by D = {d:.2})"));
        }
        let (xa, xb) = (latency_per_second(a), latency_per_second(b));
        let p =
            if xa.len() >= 3 && xb.len() >= 3 { stats::welch(&xa, &xb).map(|w| w.2) } else { None };
        if let Some(v) = verdict(p, ks.is_none_or(|d| d >= KS_MIN)) {
            lat.push_str(&format!("; {v}"));
        }
        s.push(lat + ".");

        // Failures.
        let (fa, fb) = (a.totals.failed, b.totals.failed);
        if fa > 0 || fb > 0 {
            let mut fail = format!(
                "Failures {} from {} to {} (error rate {} → {})",
                if fb < fa {
                    "fell"
                } else if fb > fa {
                    "rose"
                } else {
                    "stayed"
                },
                format::count(fa),
                format::count(fb),
                format::pct(a.totals.error_rate()),
                format::pct(b.totals.error_rate())
            );
            let p = stats::two_proportions(fa, a.totals.requests, fb, b.totals.requests);
            if let Some(p) = p.filter(|p| *p >= ALPHA) {
                fail.push_str(&format!(
                    "; the error rates do not differ meaningfully (p = {})",
                    p_text(p)
                ));
            }
            s.push(fail + ".");
        } else {
            s.push(format!(
                "Neither run had a failure ({} and {} requests).",
                format::count(a.totals.requests),
                format::count(b.totals.requests)
            ));
        }

        // Server resources.
        let cpu = |r: &RunResult| {
            r.server.as_ref().filter(|s| !s.instances.is_empty()).map(|s| {
                (s.instances.len(), s.instances.iter().map(|u| u.cpu_pct_avg).sum::<f64>())
            })
        };
        if let (Some((na, ca)), Some((nb, cb))) = (cpu(a), cpu(b)) {
            s.push(format!(
                "Server CPU went from {ca:.0}% over {} to {cb:.0}% over {} (100% = one core).",
                instances(na),
                instances(nb)
            ));
        }
        if a.config.concurrency != b.config.concurrency {
            s.push(format!(
                "Note that the load differed: {} vs {} concurrent users, so not only the service changed.",
                format::count(a.config.concurrency),
                format::count(b.config.concurrency)
            ));
        }
        out.push(s.join(" "));
    }
    out
}

fn instances(n: usize) -> String {
    if n == 1 { "1 instance".into() } else { format!("{n} instances") }
}

fn run_line(run: &Run) -> String {
    let r = &run.result;
    format!(
        "{}: {}, {}, started {}, {}",
        run.label,
        facts::target(r),
        facts::load_model(r),
        r.started_at,
        format::seconds(r.duration_s)
    )
}

/// The comparison as Markdown.
pub fn markdown(runs: &[Run]) -> String {
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let mut out =
        format!("# Comparison: {}\n\n## Side by side\n\n", md_escape(&labels.join(" vs ")));
    out.push_str(&table(runs).to_markdown());
    if let Some(first) = runs.first() {
        out.push_str(&format!(
            "\n✓ marks the better value of each row; Δ is relative to {}.\n",
            md_escape(&first.label)
        ));
    }
    out.push_str("\n## Analysis\n\n");
    for a in analysis(runs) {
        out.push_str(&format!("- {}\n", md_escape(&a)));
    }
    out.push_str(&format!("\n## Method\n\n{METHOD}\n\n## Runs\n\n"));
    for run in runs {
        out.push_str(&format!("- {}\n", md_escape(&run_line(run))));
    }
    out
}

/// The comparison as a self-contained HTML page with the runs' charts overlaid.
pub fn html(runs: &[Run]) -> Result<String, ReportError> {
    let env = html::environment()?;
    let color = |i: usize| charts::PALETTE[i % charts::PALETTE.len()];
    let overlay = |f: &dyn Fn(&RunResult) -> Vec<(f64, f64)>| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| Series::new(r.label.clone(), color(i), f(&r.result)))
            .collect()
    };
    let ts =
        |r: &RunResult, g: &dyn Fn(&volley_metrics::TimePoint) -> Option<f64>| -> Vec<(f64, f64)> {
            facts::full_seconds(r).iter().filter_map(|p| g(p).map(|v| (p.t as f64, v))).collect()
        };
    let mut list = vec![
        html::chart(
            "chart-rps",
            "Requests per second",
            charts::time_chart(
                "requests/s",
                Unit::Count,
                overlay(&|r| ts(r, &|p| Some(p.requests as f64))),
            )?,
        ),
        html::chart(
            "chart-p95",
            "Latency p95 per second",
            charts::time_chart(
                "latency",
                Unit::Ms,
                overlay(&|r| ts(r, &|p| p.latency.as_ref().map(|l| l.p95))),
            )?,
        ),
        html::chart(
            "chart-failures",
            "Failures per second",
            charts::time_chart(
                "failures/s",
                Unit::Count,
                overlay(&|r| ts(r, &|p| Some(p.failures as f64))),
            )?,
        ),
    ];
    let spectrum: Vec<Series> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let h = histogram::decode(r.result.histograms.get("http_req_duration")?).ok()?;
            Some(Series::new(r.label.clone(), color(i), charts::spectrum_points(&h)))
        })
        .collect();
    if !spectrum.is_empty() {
        list.push(html::chart(
            "chart-spectrum",
            "Latency percentile spectrum",
            charts::spectrum_chart(spectrum)?,
        ));
    }
    let has_instances = |r: &RunResult| {
        r.server.as_ref().is_some_and(|s| s.instances.iter().any(|u| !u.samples.is_empty()))
    };
    if runs.iter().any(|r| has_instances(&r.result)) {
        let cpu = overlay(&|r| {
            // Total CPU of the instances under test at each sampled second.
            let mut by_t: std::collections::BTreeMap<u64, f64> = std::collections::BTreeMap::new();
            for u in r.server.iter().flat_map(|s| s.instances.iter()) {
                for x in &u.samples {
                    *by_t.entry(x.t.round() as u64).or_default() += x.cpu_pct;
                }
            }
            by_t.into_iter().map(|(t, v)| (t as f64, v)).collect()
        });
        list.push(html::chart(
            "chart-cpu",
            "Server CPU, all instances (100% = one core)",
            charts::time_chart("CPU", Unit::Percent, cpu)?,
        ));
    }
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let heading = labels.join(" vs ");
    let ctx = context! {
        title => format!("volley comparison: {heading}"),
        volley_version => env!("CARGO_PKG_VERSION"),
        heading,
        subtitle => format!("{} runs compared; deltas are relative to {}.", runs.len(), labels.first().copied().unwrap_or("")),
        analysis => analysis(runs),
        table => table(runs),
        legend => "✓ marks the better value of each row.",
        charts => list,
        method => METHOD,
        runs => runs.iter().map(run_line).collect::<Vec<_>>(),
    };
    Ok(env.get_template("compare.html")?.render(ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{Second, Spec};

    /// Seed 000's two runs, roughly: without and with clustering.
    fn seed_runs() -> Vec<Run> {
        let wobble = |base: u64, t: usize| base + (t as u64 * 37) % 60;
        let a = Spec {
            concurrency: 482,
            seconds: (0..10)
                .map(|t| Second {
                    requests: wobble(2080, t),
                    failures: 800,
                    p50_ms: 140.0,
                    vus: 482,
                })
                .collect(),
            server: Some((vec![99.0], 20.0)),
            ..Spec::default()
        }
        .build();
        let b = Spec {
            concurrency: 482,
            seconds: (0..10)
                .map(|t| Second {
                    requests: wobble(2730, t),
                    failures: 240,
                    p50_ms: 72.0,
                    vus: 482,
                })
                .collect(),
            server: Some((vec![70.0, 68.0], 25.0)),
            ..Spec::default()
        }
        .build();
        vec![
            Run { label: "1 instance".into(), result: a },
            Run { label: "2 instances".into(), result: b },
        ]
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown(&seed_runs()));
    }

    #[test]
    fn real_difference_is_called_real() {
        let text = analysis(&seed_runs()).join(" ");
        assert!(
            text.contains("With 2 instances the service completed 31% more requests per second"),
            "{text}"
        );
        assert!(text.contains("The p95 latency fell from 350ms to 180ms"), "{text}");
        assert!(!text.contains("too small"), "{text}");
    }

    #[test]
    fn noise_is_called_noise() {
        let wobble = |base: u64, t: usize| base + (t as u64 * 37) % 100;
        let mk = |shift: usize| {
            Spec {
                seconds: (0..10)
                    .map(|t| Second {
                        requests: wobble(1000, t + shift),
                        failures: 0,
                        p50_ms: 10.0,
                        vus: 10,
                    })
                    .collect(),
                ..Spec::default()
            }
            .build()
        };
        let runs = vec![
            Run { label: "a".into(), result: mk(0) },
            Run { label: "b".into(), result: mk(3) },
        ];
        let text = analysis(&runs).join(" ");
        assert!(text.contains("too small to mean anything"), "{text}");
        let short = vec![
            Run { label: "a".into(), result: Spec::steady(2, 100, 10.0, 5).build() },
            Run { label: "b".into(), result: Spec::steady(2, 120, 10.0, 5).build() },
        ];
        assert!(analysis(&short).join(" ").contains("too short"));
    }

    #[test]
    fn better_values_are_marked() {
        let t = table(&seed_runs());
        let rps = &t.rows[0];
        assert!(rps[2].ends_with('✓') && !rps[1].ends_with('✓'), "{rps:?}");
        assert_eq!(rps[3], "+31%");
        let p95 = t.rows.iter().find(|r| r[0] == "p95").unwrap();
        assert!(p95[2].ends_with('✓'), "{p95:?}");
        assert!(t.rows.iter().any(|r| r[0] == "Server CPU per instance (avg)"));
    }

    #[test]
    fn html_escapes_labels_and_overlays() {
        let mut runs = seed_runs();
        runs[1].label = "<script>alert(1)</script>".into();
        let page = html(&runs).unwrap();
        assert!(!page.contains("<script>"));
        assert!(page.contains("chart-spectrum") && page.contains("chart-cpu"));
    }
}
