//! Figures derived from a result that several reports show: the timeline (first failure, rps
//! before it, peak throughput, threshold crossings), failure breakdowns, VU counts, threshold
//! expression parsing. Pure functions of [`RunResult`].

use volley_metrics::{
    Contains, LatencyStats, MetricKey, MetricKind, RunResult, TimePoint, threshold,
};

use crate::format;

/// A latency statistic of a per-second point, by k6's name (`avg`, `med`, `p(95)` ...).
pub fn latency_stat(l: &LatencyStats, stat: &str) -> Option<f64> {
    Some(match stat {
        "avg" => l.avg,
        "min" => l.min,
        "med" | "p(50)" => l.med,
        "max" => l.max,
        "p(90)" => l.p90,
        "p(95)" => l.p95,
        "p(99)" => l.p99,
        "p(99.9)" => l.p999,
        _ => return None,
    })
}

/// The time-series points that cover a full second: the last one is dropped when the run
/// ended part-way through it, so per-second rates are not biased low by a partial second.
pub fn full_seconds(r: &RunResult) -> &[TimePoint] {
    let ts = &r.timeseries;
    if ts.len() > 1 && (r.duration_s - ts.len() as f64) < -0.05 { &ts[..ts.len() - 1] } else { ts }
}

/// The first second with a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstFailure {
    pub t: u64,
    pub failures: u64,
    /// Mean requests per second over the seconds before it (none when it came at t = 0).
    pub rps_before: Option<f64>,
}

/// A per-second latency statistic crossing a threshold's bound for the first time.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub metric: String,
    pub expression: String,
    pub stat: String,
    pub t: u64,
    /// The statistic in that second, ms.
    pub value: f64,
}

/// Timeline facts of a run (seed 002: "the first error came at ..., the rps before it ...").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub first_failure: Option<FirstFailure>,
    /// (t, requests that second): the busiest full second.
    pub peak: Option<(u64, u64)>,
    pub crossings: Vec<Crossing>,
}

pub fn timeline(r: &RunResult) -> Timeline {
    let ts = &r.timeseries;
    let first_failure = ts.iter().position(|p| p.failures > 0).map(|i| FirstFailure {
        t: ts[i].t,
        failures: ts[i].failures,
        rps_before: (i > 0)
            .then(|| ts[..i].iter().map(|p| p.requests).sum::<u64>() as f64 / i as f64),
    });
    let peak = full_seconds(r)
        .iter()
        .filter(|p| p.requests > 0)
        .max_by_key(|p| (p.requests, std::cmp::Reverse(p.t)))
        .map(|p| (p.t, p.requests));
    let mut crossings = Vec::new();
    for th in &r.thresholds {
        // Only latency bounds on the whole run's duration can be followed second by second.
        if th.metric != "http_req_duration" {
            continue;
        }
        // Parsed with the one grammar; the verdict itself is the result's (`th.ok`).
        let Ok(b) = threshold::parse_expr(&th.expression, None) else { continue };
        let stat = b.aggregate.key();
        let hit = ts.iter().find_map(|p| {
            let v = latency_stat(p.latency.as_ref()?, &stat)?;
            (!b.holds(v)).then_some((p.t, v))
        });
        if let Some((t, value)) = hit {
            crossings.push(Crossing {
                metric: th.metric.clone(),
                expression: th.expression.clone(),
                stat,
                t,
                value,
            });
        }
    }
    Timeline { first_failure, peak, crossings }
}

/// Why requests failed: unexpected statuses (with reason phrases) and transport kinds, largest
/// first, as (label, count).
pub fn failure_breakdown(r: &RunResult) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = r
        .status_codes
        .iter()
        .filter(|(code, n)| **n > 0 && !is_expected_status(r, code))
        .map(|(code, n)| (format::status_label(code), *n))
        .collect();
    rows.extend(r.failures.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (k.clone(), *n)));
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// Whether a status counted as a success in this run (the plan's `expected_statuses`).
pub fn is_expected_status(r: &RunResult, code: &str) -> bool {
    code.parse::<u16>().is_ok_and(|c| r.config.expected_statuses.contains(c))
}

/// The `vus` gauge as the result has it (value, min, max): the one definition every format
/// shows. Results without it fall back to the time series.
pub fn vus(r: &RunResult) -> (u64, u64, u64) {
    if let Some(m) = r.metrics.get("vus") {
        let v = |k: &str| m.values.get(k).copied().unwrap_or(0.0) as u64;
        return (v("value"), v("min"), v("max"));
    }
    let ts = &r.timeseries;
    match (ts.iter().map(|p| p.vus).min(), ts.iter().map(|p| p.vus).max(), ts.last()) {
        (Some(min), Some(max), Some(last)) => (last.vus, min, max),
        _ => (0, 0, r.config.concurrency),
    }
}

/// The `vus_max` gauge (VUs allocated); the configured concurrency for results without it.
pub fn vus_max(r: &RunResult) -> u64 {
    r.metrics
        .get("vus_max")
        .and_then(|m| m.values.get("value"))
        .map_or(r.config.concurrency, |v| *v as u64)
}

/// A short description of the load model: `closed model, 50 connections`,
/// `closed model, 16 streams on 2 connections` (HTTP/2's `-p`) or
/// `open model at 1,000 req/s (at most 50 in flight)`.
pub fn load_model(r: &RunResult) -> String {
    match r.open_model.as_ref().map(|o| o.target_rps) {
        Some(rate) => format!(
            "open model at {} req/s (at most {} in flight)",
            format::rate(rate),
            format::count(r.config.concurrency)
        ),
        None if r.config.mode == "plan" => {
            format!("plan, up to {} VUs", format::count(r.config.concurrency))
        }
        None => match r.config.streams {
            Some(s) if s > 1 => format!(
                "closed model, {} streams on {} connections",
                format::count(r.config.concurrency),
                format::count(r.config.concurrency.div_ceil(u64::from(s)))
            ),
            _ => format!("closed model, {} connections", format::count(r.config.concurrency)),
        },
    }
}

/// The method and load model: `GET, closed model, 50 connections`; plans, whose steps use
/// several methods, omit the method.
pub fn load_line(r: &RunResult) -> String {
    match (&r.config.method, r.config.mode.as_str()) {
        (Some(m), mode) if mode != "plan" => format!("{m}, {}", load_model(r)),
        _ => load_model(r),
    }
}

/// What the run was aimed at: the target URL, or the plan file.
pub fn target(r: &RunResult) -> String {
    match (&r.config.target, &r.config.plan) {
        (Some(t), Some(p)) => format!("{t} (plan {p})"),
        (Some(t), None) => t.clone(),
        (None, Some(p)) => format!("plan {p}"),
        (None, None) => "(unknown target)".into(),
    }
}

/// A threshold's observed value in its unit: `p(95)=16.3s`, `rate=0.00%`.
pub fn observed(metric: &str, expression: &str, v: f64) -> String {
    let agg = threshold::parse_expr(expression, None).ok().map(|e| e.aggregate);
    let stat = agg.map(|a| a.key()).unwrap_or_else(|| "value".into());
    let def = MetricKey::parse(metric).ok().map(|k| k.metric);
    let kind = def.map(|d| d.kind);
    let shown = if kind == Some(MetricKind::Rate) {
        format::pct(v)
    } else if def.is_some_and(|d| d.contains == Contains::Time) {
        format::ms(v)
    } else if stat == "rate" {
        format!("{}/s", format::rate(v))
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format::count(v as u64)
    } else {
        format::rate(v)
    };
    format!("{stat}={shown}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn timeline_of_plan_run() {
        let r = fixture::plan_run();
        let tl = timeline(&r);
        let ff = tl.first_failure.unwrap();
        assert_eq!(ff.t, 4);
        // seconds 0..4 carry 60, 62, 64, 66 requests
        assert_eq!(ff.rps_before, Some(63.0));
        assert_eq!(tl.peak, Some((11, 82)));
    }

    #[test]
    fn observed_values_in_units() {
        assert_eq!(observed("http_req_duration", "p(95)<20000", 16_300.0), "p(95)=16.3s");
        assert_eq!(observed("http_req_failed", "rate<0.10", 0.0), "rate=0.00%");
        assert_eq!(observed("http_reqs", "count>100", 378.0), "count=378");
    }

    #[test]
    fn failures_largest_first() {
        let mut r = fixture::plan_run();
        r.failures.insert("reset".into(), 1);
        let rows = failure_breakdown(&r);
        assert_eq!(rows[0].0, "500 Internal Server Error");
        assert!(rows.iter().any(|(l, n)| l == "reset" && *n == 1));
        assert!(!rows.iter().any(|(l, _)| l.starts_with("200")));
    }
}
