//! From the merged recorder to the result document: every field of [`RunResult`] is filled
//! here, thresholds evaluated (by `volley_metrics::threshold`) on the final values,
//! histograms serialized.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use volley_metrics::recorder::{self, GaugeValue, Gauges, Names};
use volley_metrics::result::{
    Group, Machine, Metric, OpenModel, RunConfig, RunResult, SCHEMA_VERSION, ScenarioConfig,
    TimePoint, Totals,
};
use volley_metrics::segment::Tuple;
use volley_metrics::{FailureKind, MetricKey, Recorder, catalogue, histogram, summary, threshold};
use volley_plan::{Executor, Spec};

use crate::schedule;

/// What the worker loop knows beyond the recorder.
#[derive(Debug, Clone)]
pub struct Facts {
    pub started_at: SystemTime,
    /// The run's start on the monotonic clock (what `started_at` is on the wall clock).
    pub start: std::time::Instant,
    pub ended_at: SystemTime,
    pub duration: Duration,
    pub interrupted: bool,
    pub aborted_by: Option<String>,
    pub threads: usize,
    pub max_connections: u64,
    /// VUs allocated (the `vus_max` gauge).
    pub vus_max: u64,
    /// The `vus` gauge: at the last complete second, smallest and largest seen.
    pub vus_last: u64,
    pub vus_min: u64,
    pub vus_peak: u64,
    /// Responses by HTTP/1.1 and by HTTP/2.
    pub responses_h1: u64,
    pub responses_h2: u64,
    /// Share of the worker threads' time their event loops were not idle, 0..=1.
    pub generator_busy: f64,
    /// The segment this generator ran (the whole test unless it is one shard).
    pub segment: Tuple,
}

/// An open-model shortfall with the worker threads this busy is the generator's limit: they
/// had no idle time left to start more arrivals, whatever the server did.
pub const GENERATOR_LIMITED_BUSY: f64 = 0.9;

/// The VU gauges as k6 defines them: `vus` sampled once a second (last, smallest, largest
/// sample), `vus_max` the VUs allocated.
pub(crate) fn gauges(f: &Facts) -> Gauges {
    let peak = f.vus_max.max(f.vus_peak) as f64;
    Gauges {
        vus: GaugeValue { value: f.vus_last as f64, min: f.vus_min as f64, max: f.vus_peak as f64 },
        vus_max: GaugeValue { value: peak, min: peak, max: peak },
    }
}

/// Builds the complete result of a run.
pub fn result(
    spec: &Spec,
    names: &Names,
    r: &Recorder,
    timeseries: Vec<TimePoint>,
    config: RunConfig,
    f: Facts,
) -> RunResult {
    build(spec, names, r, timeseries, config, f, true)
}

/// The result so far, for live readers, once a second: as [`result`] (the same figures and
/// threshold verdicts) but without the serialized histograms, which are for files and
/// `volley merge` and cost most of an assembly (deflate); live readers that need a histogram
/// get it as is (see `Progress::durations`).
pub fn live(spec: &Spec, names: &Names, r: &Recorder, config: RunConfig, f: Facts) -> RunResult {
    build(spec, names, r, Vec::new(), config, f, false)
}

fn build(
    spec: &Spec,
    names: &Names,
    r: &Recorder,
    timeseries: Vec<TimePoint>,
    mut config: RunConfig,
    f: Facts,
    encode: bool,
) -> RunResult {
    let secs = f.duration.as_secs_f64();
    let g = gauges(&f);
    let mut metrics: BTreeMap<String, Metric> = BTreeMap::new();
    for key in recorder::always_present() {
        if let Some(m) = r.metric(&key, secs, &g) {
            metrics.insert(key.to_string(), m);
        }
    }
    // As k6: only when some iteration was dropped (or a threshold names it, below).
    if r.dropped > 0 {
        let key = MetricKey::whole(catalogue::lookup("dropped_iterations").expect("catalogued"));
        if let Some(m) = r.metric(&key, secs, &g) {
            metrics.insert(key.to_string(), m);
        }
    }
    let thresholds = threshold::evaluate(&spec.thresholds, r, secs, &g);
    for t in &spec.thresholds {
        if let Some(m) = r.metric(&t.key, secs, &g) {
            metrics.entry(t.metric()).or_insert(m);
        }
    }
    threshold::annotate(&mut metrics, &spec.thresholds, &thresholds);

    let failures: BTreeMap<String, u64> = FailureKind::ALL
        .iter()
        .filter(|k| r.whole.tagged.failure_kinds[k.index()] > 0)
        .map(|k| (k.as_str().to_string(), r.whole.tagged.failure_kinds[k.index()]))
        .collect();
    let status_codes: BTreeMap<String, u64> =
        r.whole.tagged.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect();

    let requests = r.whole.tagged.requests;
    let totals = Totals {
        requests,
        responses: requests - r.transport_failures,
        transport_failures: r.transport_failures,
        succeeded: requests - r.whole.tagged.failures,
        failed: r.whole.tagged.failures,
        dropped: r.dropped,
        iterations: r.iterations,
        interrupted_iterations: r.interrupted_iterations,
        bytes_sent: r.whole.bytes_sent,
        bytes_received: r.whole.tagged.bytes_received,
        rps: if secs > 0.0 { requests as f64 / secs } else { 0.0 },
        max_connections: f.max_connections,
        retries: r.retries,
    };

    let mut histograms = BTreeMap::new();
    if encode {
        encode_histograms(&mut histograms, names, r, &metrics, &g);
    }

    let open: Vec<_> = spec.scenarios.iter().filter(|s| s.executor.is_open()).collect();
    let open_model = (!open.is_empty()).then(|| {
        if encode {
            histograms.insert("http_req_duration_raw".into(), histogram::encode(&r.raw));
            histograms.insert("schedule_lag".into(), histogram::encode(&r.lag));
        }
        // The rate asked for, exactly (`--rps 500` is 500, not arrivals / rounded window);
        // a shard's is its share of the arrivals (so that keeping its schedule reads as
        // achieved == target, and the shards' targets add up to the test's).
        let target: f64 = open
            .iter()
            .map(|s| {
                let e = &s.executor;
                let all = schedule::total_arrivals(e);
                let mine = f.segment.scale(all) as f64;
                match e {
                    Executor::ConstantArrivalRate { rate, .. } if f.segment.is_full() => *rate,
                    Executor::ConstantArrivalRate { rate, .. } if all > 0 => {
                        *rate * mine / all as f64
                    }
                    Executor::ConstantArrivalRate { .. } => 0.0,
                    e => {
                        let d = schedule::executor_duration(e).as_secs_f64();
                        if d > 0.0 { mine / d } else { 0.0 }
                    }
                }
            })
            .sum();
        // Achieved rate over the scheduled window (not the tail spent waiting for the last
        // responses), so that keeping the schedule reads as achieved == target.
        let window = open
            .iter()
            .map(|s| s.start_time.saturating_add(schedule::executor_duration(&s.executor)))
            .max()
            .unwrap_or_default()
            .as_secs_f64();
        // A run cut short only had part of its window.
        let window =
            if f.interrupted || f.aborted_by.is_some() { window.min(secs) } else { window };
        let started: u64 = open
            .iter()
            .map(|s| {
                let i = names.scenarios.iter().position(|n| *n == s.name).unwrap_or(0);
                r.scenario_requests.get(i).copied().unwrap_or(0)
            })
            .sum();
        let achieved = if window > 0.0 { started as f64 / window } else { 0.0 };
        OpenModel {
            target_rps: target,
            achieved_rps: achieved,
            dropped: r.dropped,
            generator_busy: f.generator_busy,
            generator_limited: (r.dropped > 0 || achieved < 0.95 * target)
                && f.generator_busy >= GENERATOR_LIMITED_BUSY,
            raw_latency: summary::latency(&r.raw),
            schedule_lag: summary::latency(&r.lag),
        }
    });

    config.expected_statuses = spec.http.expected_statuses.clone();
    if config.scenarios.is_empty() {
        config.scenarios = spec
            .scenarios
            .iter()
            .map(|s| ScenarioConfig {
                name: s.name.clone(),
                executor: s.executor.name().to_string(),
                description: s.executor.describe(),
            })
            .collect();
    }

    RunResult {
        schema_version: SCHEMA_VERSION,
        volley_version: env!("CARGO_PKG_VERSION").to_string(),
        config,
        started_at: humantime::format_rfc3339_millis(f.started_at).to_string(),
        ended_at: humantime::format_rfc3339_millis(f.ended_at).to_string(),
        duration_s: secs,
        interrupted: f.interrupted,
        aborted_by: f.aborted_by.clone(),
        machine: machine(f.threads),
        totals,
        metrics,
        root_group: Group::root(r.check_results(names)),
        failures,
        status_codes,
        endpoints: r.endpoint_stats(names, secs, f.start),
        checks: r.check_results(names),
        thresholds,
        timeseries,
        open_model,
        server: None,
        backends: r.backend_stats(),
        protocols: [("HTTP/1.1", f.responses_h1), ("HTTP/2", f.responses_h2)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        histograms,
    }
}

/// The histograms a result file keeps (serialized): the request phases', each endpoint
/// name's, and every other trend the result shows.
fn encode_histograms(
    histograms: &mut BTreeMap<String, String>,
    names: &Names,
    r: &Recorder,
    metrics: &BTreeMap<String, Metric>,
    g: &Gauges,
) {
    let hist = [
        ("http_req_duration", &r.whole.tagged.duration),
        ("http_req_blocked", &r.whole.blocked),
        ("http_req_connecting", &r.whole.connecting),
        ("http_req_tls_handshaking", &r.whole.tls),
        ("http_req_sending", &r.whole.sending),
        ("http_req_waiting", &r.whole.waiting),
        ("http_req_receiving", &r.whole.receiving),
        ("iteration_duration", &r.iteration),
    ];
    for (k, h) in hist {
        histograms.insert(k.to_string(), histogram::encode(h));
    }
    let mut seen = Vec::new();
    for (_, name) in &names.endpoints {
        if seen.contains(name) {
            continue;
        }
        seen.push(name.clone());
        let t = r.by_name(names, name);
        if t.requests > 0 {
            histograms.insert(
                format!("http_req_duration{{name:{name}}}"),
                histogram::encode(&t.duration),
            );
        }
    }

    // Every other trend the result shows (sub-metrics), so that `volley merge` recomputes
    // each from merged histograms.
    for (k, m) in metrics {
        if m.kind != volley_metrics::MetricKind::Trend || histograms.contains_key(k) {
            continue;
        }
        let Ok(key) = MetricKey::parse(k) else { continue };
        if let Some(h) = r.trend_histogram(&key, g) {
            histograms.insert(k.clone(), histogram::encode(h));
        }
    }
}

/// Facts about the load generator's machine.
pub fn machine(threads: usize) -> Machine {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0);
    Machine {
        hostname,
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        memory_bytes,
        threads: threads as u32,
    }
}
