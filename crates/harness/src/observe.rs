//! Folding sampled CPU and memory into a run's result: `result.server` (per instance, averages
//! and maxima over the run) and each second's `TimePoint::server`.
//!
//! The sampler starts a moment before the engine's clock; sample times are rebased on the
//! result's `started_at` so that `t` means the same thing in the samples and the time series.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use volley_metrics::{InstanceUsage, ResourceSample, RunResult, ServerObservation};

use crate::sample::{Observed, usage_of};

/// Labels the caller gave to the special watches.
pub const GENERATOR: &str = "volley";
pub const BALANCER: &str = "balancer";
/// The whole machine ([`crate::sample::Target::System`]); not written into the result, whose
/// schema has no place for it: callers take it out of the observation first.
pub const MACHINE: &str = "machine";

/// Writes the observation into the result. Watches labelled [`GENERATOR`] and [`BALANCER`] go
/// to their own fields; every other one is an instance under test.
pub fn attach(result: &mut RunResult, observed: Observed) {
    let offset = offset_of(result, &observed);
    let mut obs = ServerObservation::default();
    for usage in observed.usages {
        let u = rebase(result, offset, &usage);
        match usage.label.as_str() {
            MACHINE => continue,
            GENERATOR => obs.generator = Some(u),
            BALANCER => obs.balancer = Some(u),
            _ => obs.instances.push(u),
        }
    }
    for point in &mut result.timeseries {
        point.server.clear();
    }
    let all = obs.instances.iter().chain(obs.balancer.iter()).chain(obs.generator.iter());
    for u in all {
        for s in &u.samples {
            // A sample taken at t describes (t-1, t]: it belongs to the second it ends in.
            let second = (s.t - 1e-9).floor().max(0.0) as u64;
            if let Some(p) = result.timeseries.iter_mut().find(|p| p.t == second) {
                p.server.push(s.clone());
            }
        }
    }
    result.server = Some(obs);
}

/// The [`MACHINE`] watch over the run's span, if there was one.
pub fn machine_usage(result: &RunResult, observed: &Observed) -> Option<InstanceUsage> {
    let offset = offset_of(result, observed);
    observed.usages.iter().find(|u| u.label == MACHINE).map(|u| rebase(result, offset, u))
}

/// Seconds from the run's start to the sampler's start (negative: the sampler started first).
fn offset_of(result: &RunResult, observed: &Observed) -> f64 {
    parse_rfc3339(&result.started_at)
        .and_then(|start| {
            let s = observed.started.duration_since(UNIX_EPOCH).ok()?;
            Some(s.as_secs_f64() - start.as_secs_f64())
        })
        .unwrap_or(0.0)
}

/// Sample times on the run's clock; only the samples that overlap the run (each covers the
/// second before it), with averages and maxima over those.
fn rebase(result: &RunResult, offset: f64, usage: &InstanceUsage) -> InstanceUsage {
    let end = result.duration_s + 1.0;
    let samples: Vec<ResourceSample> = usage
        .samples
        .iter()
        .map(|s| ResourceSample { t: round3(s.t + offset), ..s.clone() })
        .filter(|s| s.t > 0.0 && s.t <= end)
        .collect();
    let mut u = usage_of(&usage.label, samples);
    u.pids = usage.pids.clone();
    u.restarts = usage.restarts;
    u
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → time since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<Duration> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = format!("0.{}", s.get(start..i)?).parse().ok()?;
    }
    let tz = match s.get(i..)? {
        "Z" | "z" => 0,
        z if z.len() == 6 => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (z.get(1..3)?.parse::<i64>().ok()? * 3600
                + z.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - tz;
    if secs < 0 {
        return None;
    }
    Some(Duration::from_secs(secs as u64) + Duration::from_secs_f64(frac))
}

/// Now as seconds since the epoch (for tests and labels).
pub fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:01.5Z"),
            Some(Duration::from_secs_f64(1_709_208_001.5))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:01+02:00"),
            Some(Duration::from_secs(1_709_208_001))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn samples_are_rebased_and_binned() {
        let started = UNIX_EPOCH + Duration::from_secs(1000);
        let mut result: RunResult = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "volley_version": "0", "config": {"mode": "quick", "concurrency": 1,
            "timeout_s": 1.0, "keepalive": true}, "started_at": "1970-01-01T00:16:40.5Z",
            "ended_at": "1970-01-01T00:16:43.5Z", "duration_s": 3.0, "interrupted": false,
            "machine": {"hostname": "h", "os": "linux", "arch": "x", "cpus": 2, "threads": 1},
            "totals": {"requests": 0, "responses": 0, "transport_failures": 0, "succeeded": 0,
            "failed": 0, "dropped": 0, "iterations": 0, "interrupted_iterations": 0,
            "bytes_sent": 0, "bytes_received": 0, "rps": 0.0, "max_connections": 0},
            "metrics": {}, "failures": {}, "status_codes": {}, "endpoints": [],
            "timeseries": [{"t": 0, "requests": 0, "failures": 0, "transport_failures": 0,
            "dropped": 0, "bytes_received": 0, "bytes_sent": 0, "vus": 0, "connections": 0},
            {"t": 1, "requests": 0, "failures": 0, "transport_failures": 0,
            "dropped": 0, "bytes_received": 0, "bytes_sent": 0, "vus": 0, "connections": 0}],
            "histograms": {}
        }))
        .unwrap();
        let s = |t: f64, cpu: f64| ResourceSample {
            t,
            label: "instance 1".into(),
            cpu_pct: cpu,
            mem_bytes: 10,
        };
        let observed = Observed {
            started,
            usages: vec![
                InstanceUsage {
                    label: "instance 1".into(),
                    samples: vec![s(1.5, 50.0), s(2.5, 100.0), s(9.0, 7.0)],
                    ..Default::default()
                },
                InstanceUsage {
                    label: GENERATOR.into(),
                    samples: vec![s(1.5, 20.0)],
                    ..Default::default()
                },
            ],
        };
        attach(&mut result, observed);
        let server = result.server.unwrap();
        let inst = &server.instances[0];
        // Sampler started 0.5 s before the run: 1.5 → 1.0, 2.5 → 2.0; 9.0 is past the end.
        assert_eq!(inst.samples.iter().map(|s| s.t).collect::<Vec<_>>(), vec![1.0, 2.0]);
        assert_eq!(inst.cpu_pct_avg, 75.0);
        assert_eq!(server.generator.unwrap().cpu_pct_max, 20.0);
        assert_eq!(result.timeseries[0].server.len(), 2);
        assert_eq!(result.timeseries[1].server.len(), 1);
    }
}
