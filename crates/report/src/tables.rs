//! The tables every report shows, built once from a result and rendered by the terminal,
//! Markdown and HTML reports alike: endpoints (Locust's layout), failures, latency phases,
//! server resources, backends, thresholds and checks.

use volley_metrics::{InstanceUsage, LatencyStats, RunResult};

use crate::facts;
use crate::format;
use crate::table::{Align, Table};

/// The whole run's `http_req_duration` as [`LatencyStats`] (ms), from the k6-shaped metric.
pub fn overall_latency(r: &RunResult) -> LatencyStats {
    trend(r, "http_req_duration").unwrap_or_default()
}

/// A trend metric's values as [`LatencyStats`], when the result has it.
pub fn trend(r: &RunResult, name: &str) -> Option<LatencyStats> {
    let m = r.metrics.get(name)?;
    let v = |k: &str| m.values.get(k).copied().unwrap_or(0.0);
    Some(LatencyStats {
        count: v("count") as u64,
        avg: v("avg"),
        min: v("min"),
        med: v("med"),
        max: v("max"),
        p90: v("p(90)"),
        p95: v("p(95)"),
        p99: v("p(99)"),
        p999: v("p(99.9)"),
    })
}

fn fails_cell(fails: u64, reqs: u64) -> String {
    format!("{} ({})", format::count(fails), format::pct_of(fails, reqs))
}

/// Locust's statistics table: Type, Name, # reqs, # fails, Avg, Min, Max, Med, p95, p99,
/// req/s, failures/s, with the Aggregated row.
pub fn endpoints(r: &RunResult) -> Table {
    let mut t = Table::new([
        "Type",
        "Name",
        "# reqs",
        "# fails",
        "Avg",
        "Min",
        "Max",
        "Med",
        "p95",
        "p99",
        "req/s",
        "failures/s",
    ])
    .align(1, Align::Left);
    for e in &r.endpoints {
        let l = &e.latency;
        t.row([
            e.method.clone(),
            e.name.clone(),
            format::count(e.requests),
            fails_cell(e.failures, e.requests),
            format::ms(l.avg),
            format::ms(l.min),
            format::ms(l.max),
            format::ms(l.med),
            format::ms(l.p95),
            format::ms(l.p99),
            format::rate(e.rps),
            format::rate(e.failures_per_s),
        ]);
    }
    let l = overall_latency(r);
    let secs = r.duration_s.max(1e-9);
    t.footer([
        String::new(),
        "Aggregated".into(),
        format::count(r.totals.requests),
        fails_cell(r.totals.failed, r.totals.requests),
        format::ms(l.avg),
        format::ms(l.min),
        format::ms(l.max),
        format::ms(l.med),
        format::ms(l.p95),
        format::ms(l.p99),
        format::rate(r.totals.rps),
        format::rate(r.totals.failed as f64 / secs),
    ]);
    t
}

/// Failures by status (with reason phrase) and transport kind, with their share of requests.
pub fn failures(r: &RunResult) -> Table {
    let mut t =
        Table::new(["Cause", "Count", "% of requests", "What it means"]).align(3, Align::Left);
    for (label, n) in facts::failure_breakdown(r) {
        let code = label.split(' ').next().unwrap_or_default();
        let meaning = volley_metrics::FailureKind::ALL
            .iter()
            .find(|k| k.as_str() == label)
            .map(|k| k.describe().to_string())
            .unwrap_or_else(|| format::status_meaning(code).to_string());
        t.row([label, format::count(n), format::pct_of(n, r.totals.requests), meaning]);
    }
    t
}

/// Responses by status code.
pub fn status_codes(r: &RunResult) -> Table {
    let mut t = Table::new(["Status", "Responses", "% of requests"]);
    for (code, n) in &r.status_codes {
        t.row([
            format::status_label(code),
            format::count(*n),
            format::pct_of(*n, r.totals.requests),
        ]);
    }
    t
}

/// Latency statistics of every trend metric present (duration, waiting, connecting ...).
pub fn latency(r: &RunResult) -> Table {
    let mut t =
        Table::new(["Metric", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"]);
    let names = [
        "http_req_duration",
        "http_req_waiting",
        "http_req_connecting",
        "http_req_tls_handshaking",
        "http_req_sending",
        "http_req_receiving",
        "iteration_duration",
    ];
    let mut row = |name: &str, l: &LatencyStats| {
        t.row([
            name.to_string(),
            format::ms(l.avg),
            format::ms(l.min),
            format::ms(l.med),
            format::ms(l.max),
            format::ms(l.p90),
            format::ms(l.p95),
            format::ms(l.p99),
            format::ms(l.p999),
        ]);
    };
    for name in names {
        // Phases that never took time (TLS on plain HTTP) would be a row of zeros.
        if let Some(l) = trend(r, name).filter(|l| name == "http_req_duration" || l.max > 0.0) {
            row(name, &l);
        }
    }
    if let Some(om) = &r.open_model {
        row("raw (from actual send)", &om.raw_latency);
        row("schedule lag", &om.schedule_lag);
    }
    t
}

fn usage_row(t: &mut Table, role: &str, u: &InstanceUsage) {
    // A run shorter than one sample's window has none: not measured, rather than 0% and 0 B.
    let measured = !u.samples.is_empty();
    let or_na = |v: String| if measured { v } else { "n/a".into() };
    t.row([
        u.label.clone(),
        role.to_string(),
        or_na(format::cpu(u.cpu_pct_avg)),
        or_na(format::cpu(u.cpu_pct_max)),
        or_na(format::bytes(u.mem_bytes_avg)),
        or_na(format::bytes(u.mem_bytes_max as f64)),
        format::count(u.restarts),
    ]);
}

/// CPU (100% = one core) and memory per instance under test, the balancer and volley itself;
/// `None` when the result has no server observation.
pub fn server(r: &RunResult) -> Option<Table> {
    let s = r.server.as_ref()?;
    let mut t = Table::new([
        "Process",
        "Role",
        "CPU avg",
        "CPU max",
        "Memory avg",
        "Memory max",
        "Restarts",
    ])
    .align(1, Align::Left);
    for u in &s.instances {
        usage_row(&mut t, "under test", u);
    }
    if let Some(b) = &s.balancer {
        usage_row(&mut t, "balancer", b);
    }
    if let Some(g) = &s.generator {
        usage_row(&mut t, "load generator", g);
    }
    Some(t)
}

/// Requests per value of the backend header; `None` when not tallied.
pub fn backends(r: &RunResult) -> Option<Table> {
    if r.backends.is_empty() {
        return None;
    }
    let mut t =
        Table::new(["Backend", "Requests", "Share", "Failures", "Avg", "Med", "p95", "p99"]);
    for b in &r.backends {
        t.row([
            b.backend.clone(),
            format::count(b.requests),
            format::pct_of(b.requests, r.totals.requests),
            fails_cell(b.failures, b.requests),
            format::ms(b.latency.avg),
            format::ms(b.latency.med),
            format::ms(b.latency.p95),
            format::ms(b.latency.p99),
        ]);
    }
    Some(t)
}

/// Thresholds with ✓/✗ and the observed value.
pub fn thresholds(r: &RunResult) -> Table {
    let mut t = Table::new(["", "Metric", "Threshold", "Observed"])
        .align(1, Align::Left)
        .align(2, Align::Left);
    for th in &r.thresholds {
        t.row([
            if th.ok { "✓" } else { "✗" }.to_string(),
            th.metric.clone(),
            th.expression.clone(),
            th.observed
                .map(|v| facts::observed(&th.metric, &th.expression, v))
                .unwrap_or_else(|| "n/a".into()),
        ]);
    }
    t
}

/// Checks with pass rate, passes and fails.
pub fn checks(r: &RunResult) -> Table {
    let mut t = Table::new(["", "Check", "Step", "Pass rate", "✓ passes", "✗ fails"])
        .align(1, Align::Left)
        .align(2, Align::Left);
    for c in &r.checks {
        t.row([
            if c.fails == 0 { "✓" } else { "✗" }.to_string(),
            c.name.clone(),
            c.step.clone(),
            format::pct_of(c.passes, c.passes + c.fails),
            format::count(c.passes),
            format::count(c.fails),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn endpoint_rows_add_up_to_the_aggregate() {
        let r = fixture::plan_run();
        let t = endpoints(&r);
        let sum: u64 = r.endpoints.iter().map(|e| e.requests).sum();
        assert_eq!(sum, r.totals.requests);
        assert_eq!(t.footer.as_ref().unwrap()[2], format::count(r.totals.requests));
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn a_process_without_samples_reads_not_measured_not_zero() {
        let spec =
            fixture::Spec { server: Some((vec![40.0; 2], 30.0)), ..fixture::Spec::default() };
        let mut r = spec.build();
        let server = r.server.as_mut().expect("the fixture observes its server");
        let g = server.generator.as_mut().expect("and volley itself");
        g.samples.clear();
        (g.cpu_pct_avg, g.cpu_pct_max, g.mem_bytes_avg, g.mem_bytes_max) = (0.0, 0.0, 0.0, 0);
        let t = super::server(&r).unwrap();
        let row = t.rows.iter().find(|row| row[1] == "load generator").unwrap();
        assert_eq!(row[2..6], ["n/a", "n/a", "n/a", "n/a"], "{row:?}");
        let measured = t.rows.iter().find(|row| row[1] == "under test").unwrap();
        assert_ne!(measured[2], "n/a", "{measured:?}");
    }
}
