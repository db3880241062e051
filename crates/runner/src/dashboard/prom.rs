//! `/metrics`: the dashboard's state in the Prometheus text exposition format (0.0.4), so a
//! Prometheus already scraping the service can scrape the load test beside it. Counters end
//! in `_total`; request latency is a histogram whose buckets are counted from the HDR
//! histograms of the result so far (exact counts at the bucket bounds, to HDR's precision);
//! server samples and VUs are gauges.

use std::fmt::Write as _;

use super::board::State;

/// Bucket upper bounds of `volley_http_req_duration_seconds`, in seconds.
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A label value escaped as the format requires (backslash, double quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition text of `state`.
pub fn render(state: &State) -> String {
    let mut out = String::new();
    let r = state.result.as_deref();
    let scenario = r
        .and_then(|r| (r.config.scenarios.len() == 1).then(|| r.config.scenarios[0].name.clone()))
        .unwrap_or_else(|| "default".into());
    let sc = esc(&scenario);

    head(
        &mut out,
        "volley_http_reqs_total",
        "counter",
        "Requests finished (responses by status; transport failures have status \"\").",
    );
    if let Some(r) = r {
        for e in &r.endpoints {
            let (n, m) = (esc(&e.name), esc(&e.method));
            for (status, count) in &e.status_codes {
                let _ = writeln!(
                    out,
                    "volley_http_reqs_total{{name=\"{n}\",method=\"{m}\",status=\"{}\",scenario=\"{sc}\"}} {count}",
                    esc(status)
                );
            }
            let transport: u64 = e.failure_kinds.values().sum();
            let unanswered =
                transport.min(e.requests.saturating_sub(e.status_codes.values().sum()));
            if unanswered > 0 {
                let _ = writeln!(
                    out,
                    "volley_http_reqs_total{{name=\"{n}\",method=\"{m}\",status=\"\",scenario=\"{sc}\"}} {unanswered}"
                );
            }
        }
    }
    head(
        &mut out,
        "volley_http_req_failed_total",
        "counter",
        "Failed requests (transport failures and unexpected statuses).",
    );
    if let Some(r) = r {
        for e in &r.endpoints {
            let _ = writeln!(
                out,
                "volley_http_req_failed_total{{name=\"{}\",method=\"{}\",scenario=\"{sc}\"}} {}",
                esc(&e.name),
                esc(&e.method),
                e.failures
            );
        }
    }
    head(
        &mut out,
        "volley_transport_failures_total",
        "counter",
        "Requests that got no complete HTTP response, by kind.",
    );
    if let Some(r) = r {
        for (kind, n) in &r.failures {
            let _ = writeln!(
                out,
                "volley_transport_failures_total{{kind=\"{}\",scenario=\"{sc}\"}} {n}",
                esc(kind)
            );
        }
    }
    let totals = r.map(|r| r.totals.clone()).unwrap_or_default();
    for (name, help, v) in [
        ("volley_iterations_total", "Iterations completed.", totals.iterations),
        (
            "volley_dropped_iterations_total",
            "Open-model iterations dropped (no free VU).",
            totals.dropped,
        ),
        ("volley_data_sent_bytes_total", "Bytes sent.", totals.bytes_sent),
        ("volley_data_received_bytes_total", "Bytes received.", totals.bytes_received),
    ] {
        head(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name}{{scenario=\"{sc}\"}} {v}");
    }
    head(&mut out, "volley_checks_total", "counter", "Check evaluations, by check and result.");
    if let Some(r) = r {
        for c in &r.checks {
            for (res, n) in [("pass", c.passes), ("fail", c.fails)] {
                let _ = writeln!(
                    out,
                    "volley_checks_total{{check=\"{}\",step=\"{}\",result=\"{res}\",scenario=\"{sc}\"}} {n}",
                    esc(&c.name),
                    esc(&c.step)
                );
            }
        }
    }

    head(
        &mut out,
        "volley_http_req_duration_seconds",
        "histogram",
        "Request duration (k6's http_req_duration), by endpoint name.",
    );
    if let (Some(r), Some(durations)) = (r, &state.durations) {
        for (name, h) in durations.iter() {
            let mut methods =
                r.endpoints.iter().filter(|e| &e.name == name).map(|e| e.method.as_str());
            let method = match (methods.next(), methods.next()) {
                (Some(m), None) => m,
                _ => "",
            };
            let labels =
                format!("name=\"{}\",method=\"{}\",scenario=\"{sc}\"", esc(name), esc(method));
            for le in BUCKETS {
                let count = h.count_between(0, (le * 1e6) as u64);
                let _ = writeln!(
                    out,
                    "volley_http_req_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "volley_http_req_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.len()
            );
            let sum = h.mean() * h.len() as f64 / 1e6;
            let _ = writeln!(out, "volley_http_req_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "volley_http_req_duration_seconds_count{{{labels}}} {}", h.len());
        }
    }

    let last = state.points.last();
    for (name, help, v) in [
        ("volley_vus", "Active virtual users.", state.vus as f64),
        (
            "volley_connections",
            "Open connections at the end of the last second.",
            last.map_or(0.0, |p| p.connections as f64),
        ),
        ("volley_elapsed_seconds", "Seconds since the run started.", state.elapsed_s as f64),
    ] {
        head(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name}{{scenario=\"{sc}\"}} {v}");
    }
    head(
        &mut out,
        "volley_threshold_ok",
        "gauge",
        "1 while a threshold holds on the run so far, 0 once crossed.",
    );
    if let Some(r) = r {
        for t in &r.thresholds {
            let _ = writeln!(
                out,
                "volley_threshold_ok{{metric=\"{}\",expression=\"{}\"}} {}",
                esc(&t.metric),
                esc(&t.expression),
                u8::from(t.ok)
            );
        }
    }
    head(
        &mut out,
        "volley_server_cpu_percent",
        "gauge",
        "CPU of a watched process (100 = one core), last sample.",
    );
    for s in &state.server {
        let _ = writeln!(
            out,
            "volley_server_cpu_percent{{process=\"{}\"}} {}",
            esc(&s.label),
            s.cpu_pct
        );
    }
    head(
        &mut out,
        "volley_server_memory_bytes",
        "gauge",
        "Resident memory of a watched process, last sample.",
    );
    for s in &state.server {
        let _ = writeln!(
            out,
            "volley_server_memory_bytes{{process=\"{}\"}} {}",
            esc(&s.label),
            s.mem_bytes
        );
    }
    if let Some(n) = state.sweep_current {
        head(
            &mut out,
            "volley_sweep_instances",
            "gauge",
            "Instances of the service being measured (scale).",
        );
        let _ = writeln!(out, "volley_sweep_instances {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
