//! Synthetic, internally consistent results for tests, snapshots and render benchmarks.
//!
//! A [`Spec`] describes a run second by second (requests, failures, median latency, VUs); the
//! builder derives everything else the way the engine would (histograms, per-second latency,
//! endpoint and status tallies, k6-shaped metrics), so that a report rendered from it shows
//! figures that add up. Deterministic: the same spec always gives the same result.

use std::collections::BTreeMap;

use volley_metrics::histogram::{self, Micros};
use volley_metrics::{
    BackendStats, CheckResult, EndpointStats, InstanceUsage, LatencyStats, Machine, OpenModel,
    ResourceSample, RunConfig, RunResult, SCHEMA_VERSION, ServerObservation, ThresholdResult,
    TimePoint, Totals,
};
use volley_metrics::{Contains, summary};

/// One second of a synthetic run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    pub requests: u64,
    /// Of which failed (60% as 500, 30% as 502, the rest transport timeouts).
    pub failures: u64,
    /// Median latency this second, ms; the distribution around it has a fixed shape.
    pub p50_ms: f64,
    pub vus: u64,
}

/// How a synthetic run looks.
#[derive(Debug, Clone)]
pub struct Spec {
    pub target: String,
    pub concurrency: u64,
    pub seconds: Vec<Second>,
    /// (method, name, share of requests); failures all land on the last endpoint.
    pub endpoints: Vec<(String, String, u64)>,
    /// Open model at this arrival rate, with this many dropped iterations.
    pub open_model: Option<(f64, u64)>,
    /// Instances under test with this average CPU (%) each, plus volley's own CPU (%).
    pub server: Option<(Vec<f64>, f64)>,
    pub label: Option<String>,
    /// Bytes received per response.
    pub response_bytes: u64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            target: "http://127.0.0.1:8080/".into(),
            concurrency: 10,
            seconds: vec![Second { requests: 100, failures: 0, p50_ms: 10.0, vus: 10 }; 10],
            endpoints: vec![("GET".into(), "/".into(), 3), ("POST".into(), "/predict".into(), 7)],
            open_model: None,
            server: None,
            label: None,
            response_bytes: 450,
        }
    }
}

/// The shape of every second's latency distribution: (multiple of the median, share in ‰).
const SHAPE: [(f64, u64); 8] =
    [(0.5, 100), (0.8, 200), (1.0, 210), (1.2, 200), (1.6, 150), (2.5, 90), (3.0, 45), (6.0, 5)];

/// Spreads `n` samples over the shape around `p50_ms` into `h`.
fn record_second(h: &mut Micros, n: u64, p50_ms: f64) {
    let mut counts: Vec<u64> = SHAPE.iter().map(|(_, share)| n * share / 1000).collect();
    // Rounding leftovers go to the median bucket, so small counts keep the shape's centre.
    counts[2] += n - counts.iter().sum::<u64>();
    for ((mult, _), k) in SHAPE.iter().zip(counts) {
        if k > 0 {
            let us = (p50_ms * mult * 1000.0).round().max(1.0) as u64;
            h.record_n(us, k).expect("auto-resizing histogram accepts any value");
        }
    }
}

/// `count` split by integer weights, the remainder going to the first entries.
fn split(count: u64, weights: &[u64]) -> Vec<u64> {
    let total: u64 = weights.iter().sum::<u64>().max(1);
    let mut parts: Vec<u64> = weights.iter().map(|w| count * w / total).collect();
    let mut rest = count - parts.iter().sum::<u64>();
    let mut i = 0;
    while rest > 0 {
        let n = parts.len();
        parts[i % n] += 1;
        rest -= 1;
        i += 1;
    }
    parts
}

/// Failures of one second as (status 500, status 502, timeouts).
fn failure_mix(f: u64) -> (u64, u64, u64) {
    let s500 = f * 6 / 10;
    let s502 = f * 3 / 10;
    (s500, s502, f - s500 - s502)
}

impl Spec {
    /// `n` seconds of `rps` requests each, median `p50_ms`, `vus` VUs, no failures.
    pub fn steady(n: usize, rps: u64, p50_ms: f64, vus: u64) -> Spec {
        Spec {
            concurrency: vus,
            seconds: vec![Second { requests: rps, failures: 0, p50_ms, vus }; n],
            ..Spec::default()
        }
    }

    pub fn build(&self) -> RunResult {
        /// The status line and headers of a synthetic response take this much of it.
        fn body_bytes(response_bytes: u64) -> u64 {
            response_bytes.saturating_sub(120)
        }
        let n_ep = self.endpoints.len().max(1);
        let weights: Vec<u64> = self.endpoints.iter().map(|e| e.2).collect();
        let mut all = histogram::new();
        let mut per_ep: Vec<Micros> = (0..n_ep).map(|_| histogram::new()).collect();
        let mut ep_req = vec![0u64; n_ep];
        let mut ep_fail = vec![0u64; n_ep];
        let mut ep_status: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); n_ep];
        let mut ep_kinds: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); n_ep];
        let mut status_codes: BTreeMap<String, u64> = BTreeMap::new();
        let mut failures: BTreeMap<String, u64> = BTreeMap::new();
        let mut timeseries = Vec::with_capacity(self.seconds.len());
        let (mut requests, mut failed, mut transport) = (0u64, 0u64, 0u64);
        let dropped_total = self.open_model.map(|o| o.1).unwrap_or(0);
        let dropped_each = split(dropped_total, &vec![1; self.seconds.len().max(1)]);
        let mut sec_h = histogram::new();

        for (t, s) in self.seconds.iter().enumerate() {
            sec_h.reset();
            record_second(&mut sec_h, s.requests, s.p50_ms);
            all.add(&sec_h).expect("histograms merge");
            let f = s.failures.min(s.requests);
            let (s500, s502, timeouts) = failure_mix(f);
            let parts = split(s.requests, &weights);
            for (i, &k) in parts.iter().enumerate() {
                ep_req[i] += k;
                let mut h = histogram::new();
                record_second(&mut h, k, s.p50_ms);
                per_ep[i].add(&h).expect("histograms merge");
            }
            let last = n_ep - 1;
            ep_fail[last] += f;
            let ok = s.requests - f;
            for (code, k) in [("500", s500), ("502", s502)] {
                if k > 0 {
                    *ep_status[last].entry(code.into()).or_default() += k;
                    *status_codes.entry(code.into()).or_default() += k;
                }
            }
            if timeouts > 0 {
                *ep_kinds[last].entry("timeout".into()).or_default() += timeouts;
                *failures.entry("timeout".into()).or_default() += timeouts;
            }
            if ok > 0 {
                *status_codes.entry("200".into()).or_default() += ok;
            }
            requests += s.requests;
            failed += f;
            transport += timeouts;
            let server = match &self.server {
                Some((cpus, _)) => cpus
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ResourceSample {
                        t: t as f64,
                        label: format!("instance {}", i + 1),
                        cpu_pct: c * (0.9 + 0.2 * ((t % 5) as f64 / 4.0)),
                        mem_bytes: 60_000_000 + (i as u64) * 1_000_000 + t as u64 * 10_000,
                    })
                    .collect(),
                None => Vec::new(),
            };
            timeseries.push(TimePoint {
                t: t as u64,
                requests: s.requests,
                failures: f,
                transport_failures: timeouts,
                dropped: if self.open_model.is_some() { dropped_each[t] } else { 0 },
                bytes_received: ok * self.response_bytes,
                body_bytes: ok * body_bytes(self.response_bytes),
                bytes_sent: s.requests * 120,
                vus: s.vus,
                connections: s.vus,
                latency: (s.requests > 0).then(|| summary::latency(&sec_h)),
                cumulative_percentiles: summary::ladder(&all),
                server,
            });
        }
        // Keep the endpoint 200 tallies consistent with their request counts.
        for i in 0..n_ep {
            let ok = ep_req[i] - ep_fail[i];
            if ok > 0 {
                ep_status[i].insert("200".into(), ok);
            } else {
                ep_status[i].remove("200");
            }
        }

        let duration_s = self.seconds.len() as f64;
        let bytes_received: u64 = timeseries.iter().map(|p| p.bytes_received).sum();
        let bytes_sent: u64 = timeseries.iter().map(|p| p.bytes_sent).sum();
        let vus_max = self.seconds.iter().map(|s| s.vus).max().unwrap_or(0);
        let endpoints: Vec<EndpointStats> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, (method, name, _))| EndpointStats {
                name: name.clone(),
                method: method.clone(),
                requests: ep_req[i],
                failures: ep_fail[i],
                bytes_received: (ep_req[i] - ep_fail[i]) * self.response_bytes,
                body_bytes: (ep_req[i] - ep_fail[i]) * body_bytes(self.response_bytes),
                latency: summary::latency(&per_ep[i]),
                rps: ep_req[i] as f64 / duration_s.max(1e-9),
                failures_per_s: ep_fail[i] as f64 / duration_s.max(1e-9),
                status_codes: ep_status[i].clone(),
                failure_kinds: ep_kinds[i].clone(),
                // As a result written before volley recorded failure times.
                failures_seen: BTreeMap::new(),
            })
            .collect();

        let mut metrics = BTreeMap::new();
        metrics.insert(
            "http_reqs".to_string(),
            summary::counter(requests, duration_s, Contains::Default),
        );
        metrics.insert("http_req_failed".to_string(), summary::rate(failed, requests - failed));
        metrics.insert("http_req_duration".to_string(), summary::trend(&all));
        metrics.insert(
            "data_received".to_string(),
            summary::counter(bytes_received, duration_s, Contains::Data),
        );
        metrics.insert(
            "data_sent".to_string(),
            summary::counter(bytes_sent, duration_s, Contains::Data),
        );
        metrics.insert(
            "iterations".to_string(),
            summary::counter(requests, duration_s, Contains::Default),
        );
        let mut histograms = BTreeMap::new();
        histograms.insert("http_req_duration".to_string(), histogram::encode(&all));
        for (i, (_, name, _)) in self.endpoints.iter().enumerate() {
            histograms
                .insert(format!("http_req_duration{{name:{name}}}"), histogram::encode(&per_ep[i]));
        }

        let open_model = self.open_model.map(|(target, dropped)| {
            let lat = summary::latency(&all);
            let scale = |l: &LatencyStats, k: f64| LatencyStats {
                count: l.count,
                avg: l.avg * k,
                min: l.min * k,
                med: l.med * k,
                max: l.max * k,
                p90: l.p90 * k,
                p95: l.p95 * k,
                p99: l.p99 * k,
                p999: l.p999 * k,
            };
            OpenModel {
                target_rps: target,
                achieved_rps: requests as f64 / duration_s.max(1e-9),
                dropped,
                generator_busy: 0.5,
                generator_limited: false,
                raw_latency: scale(&lat, 0.8),
                schedule_lag: scale(&lat, 0.05),
            }
        });
        if let Some((_, dropped)) = self.open_model {
            metrics.insert(
                "dropped_iterations".to_string(),
                summary::counter(dropped, duration_s, Contains::Default),
            );
        }

        let server = self.server.as_ref().map(|(cpus, generator)| {
            let usage = |label: String, series: Vec<ResourceSample>| {
                let n = series.len().max(1) as f64;
                InstanceUsage {
                    label,
                    pids: vec![],
                    cpu_pct_avg: series.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
                    cpu_pct_max: series.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
                    mem_bytes_avg: series.iter().map(|s| s.mem_bytes as f64).sum::<f64>() / n,
                    mem_bytes_max: series.iter().map(|s| s.mem_bytes).max().unwrap_or(0),
                    restarts: 0,
                    samples: series,
                }
            };
            let instances = (0..cpus.len())
                .map(|i| {
                    let label = format!("instance {}", i + 1);
                    let series = timeseries
                        .iter()
                        .flat_map(|p| p.server.iter().filter(|s| s.label == label).cloned())
                        .map(|mut s| {
                            s.label.clear();
                            s
                        })
                        .collect();
                    usage(label, series)
                })
                .collect();
            let gen_series = (0..self.seconds.len())
                .map(|t| ResourceSample {
                    t: t as f64,
                    label: String::new(),
                    cpu_pct: *generator,
                    mem_bytes: 20_000_000,
                })
                .collect();
            ServerObservation {
                instances,
                generator: Some(usage("volley".into(), gen_series)),
                balancer: None,
            }
        });

        let totals = Totals {
            requests,
            responses: requests - transport,
            transport_failures: transport,
            succeeded: requests - failed,
            failed,
            dropped: dropped_total,
            iterations: requests,
            interrupted_iterations: 0,
            bytes_sent,
            bytes_received,
            rps: requests as f64 / duration_s.max(1e-9),
            max_connections: vus_max,
            retries: 0,
        };
        RunResult {
            schema_version: SCHEMA_VERSION,
            volley_version: "0.1.0".into(),
            config: RunConfig {
                mode: "quick".into(),
                target: Some(self.target.clone()),
                method: Some("GET".into()),
                concurrency: self.concurrency.max(vus_max),
                requests: None,
                duration_s: Some(duration_s),
                timeout_s: 60.0,
                keepalive: true,
                expected_statuses: Default::default(),
                plan: None,
                scenarios: vec![],
                label: self.label.clone(),
                command_line: vec!["volley".into(), self.target.clone()],
                ..RunConfig::default()
            },
            started_at: "2026-01-02T03:04:05Z".into(),
            ended_at: "2026-01-02T03:04:15Z".into(),
            duration_s,
            interrupted: false,
            aborted_by: None,
            machine: Machine {
                hostname: "loadgen".into(),
                os: "linux".into(),
                arch: "x86_64".into(),
                cpus: 2,
                memory_bytes: 8_000_000_000,
                threads: 2,
            },
            totals,
            metrics,
            failures,
            status_codes,
            endpoints,
            checks: vec![],
            root_group: Default::default(),
            thresholds: vec![],
            timeseries,
            open_model,
            server,
            backends: vec![],
            protocols: Default::default(),
            histograms,
        }
    }
}

/// A plan-like run with thresholds (one crossed) and checks (one failing), failures from t = 4.
pub fn plan_run() -> RunResult {
    let mut seconds = Vec::new();
    for t in 0..12u64 {
        let failures = if t >= 4 { 3 + t } else { 0 };
        seconds.push(Second {
            requests: 60 + t * 2,
            failures,
            p50_ms: 40.0 + 5.0 * t as f64,
            vus: 5 + t,
        });
    }
    let mut r = Spec { concurrency: 20, seconds, ..Spec::default() }.build();
    r.config.mode = "plan".into();
    r.config.plan = Some("shop.yaml".into());
    r.config.target = Some("http://127.0.0.1:3000".into());
    let p95 = r.metrics["http_req_duration"].values["p(95)"];
    let rate = r.totals.error_rate();
    r.thresholds = vec![
        ThresholdResult {
            metric: "http_req_duration".into(),
            expression: "p(95)<200".into(),
            ok: p95 < 200.0,
            observed: Some(p95),
            abort_on_fail: false,
        },
        ThresholdResult {
            metric: "http_req_failed".into(),
            expression: "rate<0.01".into(),
            ok: rate < 0.01,
            observed: Some(rate),
            abort_on_fail: false,
        },
    ];
    let predict = r.endpoints.iter().find(|e| e.name == "/predict").cloned().unwrap_or_default();
    let index = r.endpoints.iter().find(|e| e.name == "/").cloned().unwrap_or_default();
    r.checks = vec![
        CheckResult {
            name: "status 200".into(),
            step: "/".into(),
            passes: index.requests,
            fails: 0,
        },
        CheckResult {
            name: "status 200".into(),
            step: "/predict".into(),
            passes: predict.requests - predict.failures,
            fails: predict.failures,
        },
    ];
    r.root_group = volley_metrics::Group::root(r.checks.clone());
    r.totals.iterations = r.totals.requests / 2;
    r.totals.interrupted_iterations = 3;
    r
}

/// A sweep like seed 003's (nginx in front of 2, 3 and 4 instances of a service on a 2-core
/// machine), analysed the way `volley scale` does: throughput grows to 3 instances and then
/// flattens, latency falls then rises, the 4-instance run has 1% failures (500s, 502s and
/// timeouts), every instance and the balancer observed.
pub fn sweep() -> volley_metrics::sweep::Sweep {
    use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, Sweep, SweepMode, SweepRun, analyze};
    // (instances, requests per second, failures per second, median ms, CPU % per instance)
    let shape = [(2, 120, 0, 40.0, 93.0), (3, 170, 0, 30.0, 64.0), (4, 180, 2, 45.0, 48.0)];
    let runs: Vec<SweepRun> = shape
        .iter()
        .map(|&(n, rps, fail, p50, cpu)| {
            let seconds = vec![Second { requests: rps, failures: fail, p50_ms: p50, vus: 50 }; 4];
            let spec = Spec {
                concurrency: 50,
                seconds,
                endpoints: vec![("GET".into(), "/stock".into(), 1)],
                server: Some((vec![cpu; n], 35.0)),
                ..Spec::default()
            };
            let mut result = spec.build();
            if let Some(s) = result.server.as_mut() {
                let mut balancer = s.instances[0].clone();
                balancer.label = "balancer".into();
                balancer.cpu_pct_avg = 12.0;
                s.balancer = Some(balancer);
            }
            // nginx names each backend by its address, as docker compose's network gives them;
            // requests without an answer carry no name.
            let names: Vec<String> = (0..n).map(|k| format!("172.18.0.{}:8000", k + 3)).collect();
            let t = result.totals.clone();
            let latency = result.endpoints[0].latency.clone();
            let http_failed = t.failed - t.transport_failures;
            result.backends = names
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let share =
                        |total: u64| total / n as u64 + u64::from((k as u64) < total % n as u64);
                    BackendStats {
                        backend: name.clone(),
                        requests: share(t.responses),
                        failures: share(http_failed),
                        latency: latency.clone(),
                    }
                })
                .collect();
            if t.transport_failures > 0 {
                result.backends.push(BackendStats {
                    backend: volley_metrics::sweep::NO_BACKEND.into(),
                    requests: t.transport_failures,
                    failures: t.transport_failures,
                    latency: LatencyStats::default(),
                });
            }
            let mut run = SweepRun::with_backends(n, 1, result, Some(&names));
            run.other_cpu_pct = Some(4.0);
            run
        })
        .collect();
    let (rows, analysis) = analyze(&runs, SweepMode::Throughput);
    let mut s = Sweep {
        schema_version: SWEEP_SCHEMA_VERSION,
        volley_version: "0.1.0".into(),
        command: vec!["docker".into(), "compose".into(), "up".into()],
        workload: "GET /stock".into(),
        balancer: "nginx".into(),
        mode: SweepMode::Throughput,
        slos: Vec::new(),
        machine: Machine {
            hostname: "lab".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
            memory_bytes: 8 << 30,
            threads: 2,
        },
        started_at: "2025-06-29T20:42:32Z".into(),
        sweep: runs,
        rows,
        analysis,
    };
    s.analysis.findings = crate::sweep_findings::sweep(&s);
    s
}

/// A capacity search of a service that holds `capacity` req/s: its latency SLO
/// (`http_req_duration: p(95)<200`) breaks above it.
pub fn capacity_search(capacity: f64) -> volley_metrics::capacity::CapacityResult {
    use volley_metrics::capacity::{CapacityHead, CapacityResult, CapacityStep, Search, Settings};
    let mut s = Search::new(Settings { step_s: 2.0, ..Settings::default() }).unwrap();
    let mut steps = Vec::new();
    while let Some(rate) = s.next() {
        let over = rate > capacity;
        let mut result = Spec::steady(2, rate as u64, if over { 400.0 } else { 20.0 }, 10).build();
        result.thresholds = vec![volley_metrics::ThresholdResult {
            metric: "http_req_duration".into(),
            expression: "p(95)<200".into(),
            ok: !over,
            observed: Some(if over { 400.0 } else { 20.0 }),
            abort_on_fail: false,
        }];
        let step = CapacityStep::new(steps.len() + 1, s.phase(), rate, 2.0, None, result);
        s.record(rate, &step.reasons);
        steps.push(step);
    }
    CapacityResult::assemble(
        &s,
        steps,
        CapacityHead {
            volley_version: "0".into(),
            workload: "GET http://127.0.0.1/<x>".into(),
            slos: vec!["http_req_duration: p(95)<200".into()],
            machine: Default::default(),
            started_at: "2026-01-01T00:00:00Z".into(),
        },
    )
}

/// A capacity sweep (`volley scale --capacity`) over 1, 2 and 3 instances of a service that
/// holds 50 req/s per instance up to 2 and gains little from the third.
pub fn capacity_sweep() -> volley_metrics::sweep::Sweep {
    use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, Sweep, SweepMode, SweepRun, analyze};
    let runs: Vec<SweepRun> = [(1, 50.0), (2, 100.0), (3, 110.0)]
        .iter()
        .map(|&(n, cap)| {
            let names: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
            SweepRun::from_capacity(n, 1, capacity_search(cap), Some(&names)).unwrap()
        })
        .collect();
    let (rows, analysis) = analyze(&runs, SweepMode::Capacity);
    let mut s = Sweep {
        schema_version: SWEEP_SCHEMA_VERSION,
        volley_version: "0.1.0".into(),
        command: vec!["app".into(), "--port".into(), "{port}".into()],
        workload: "GET /work/20, a capacity search per count".into(),
        balancer: "round-robin".into(),
        mode: SweepMode::Capacity,
        slos: vec!["http_req_duration: p(95)<200".into()],
        machine: Default::default(),
        started_at: "2026-01-01T00:00:00Z".into(),
        sweep: runs,
        rows,
        analysis,
    };
    s.analysis.findings = crate::sweep_findings::sweep(&s);
    s
}
