//! The result of a scaling sweep (`volley scale`, `volley demo`): one run per instance count
//! (and repeat), the table seed 003 left empty, and its analysis: speedup, efficiency and a fit
//! of the Universal Scalability Law. (The findings in words are the report crate's.)
//!
//! Throughput in a sweep is **successful responses per second**: a balancer answering 502 fast
//! is not throughput. A run whose error rate exceeds [`HIGH_ERROR_RATE`] is flagged and never
//! used for speedup, efficiency or the fit; the fit needs [`USL_MIN_COUNTS`] instance counts.
//! Computed here, from the runs alone, so that every renderer shows the same figures.
//!
//! A sweep has a [`SweepMode`]: `throughput` measures each count at the same load;
//! `capacity` (`volley scale --capacity`) runs a capacity search per count, and then
//! speedup, efficiency and the fit are of the capacities (the highest arrival rate within
//! the SLOs), while the other figures are those of the step at the capacity.

use serde::{Deserialize, Serialize};

use crate::capacity::CapacityResult;
use crate::result::{Machine, RunResult};

/// 2: `rps` counts successful responses only; `speedup`/`efficiency` may be absent.
/// 3: `mode`, `slos`, and per run and row `capacity_rps`/`capacity_upper_rps` (with the whole
/// search per run in `capacity`).
pub const SWEEP_SCHEMA_VERSION: u32 = 3;

/// What a sweep compares across instance counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    /// The same load at every count; the figure is successful responses per second.
    #[default]
    Throughput,
    /// A capacity search at every count; the figure is the capacity.
    Capacity,
}

/// A run with more failed requests than this fraction is flagged and left out of speedup,
/// efficiency and the USL fit.
pub const HIGH_ERROR_RATE: f64 = 0.05;

/// Distinct instance counts (of usable runs) the USL fit needs: with two, any two-parameter
/// curve passes through both points and its R² means nothing.
pub const USL_MIN_COUNTS: usize = 3;

/// The backend value the engine records for a response without the backend header
/// (`engine::run::iteration`).
pub const NO_BACKEND: &str = "(none)";

/// A whole sweep, as saved by `volley scale -o scale.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sweep {
    pub schema_version: u32,
    pub volley_version: String,
    /// The service's command, as given after `--`.
    pub command: Vec<String>,
    /// The path (quick mode) or plan the load came from.
    pub workload: String,
    /// `round-robin`, `least-conn`, `nginx`, or `deployment` (a `--scale-cmd` sweep: the
    /// user's own balancer).
    pub balancer: String,
    /// Absent in schema 2 and older: `throughput`.
    #[serde(default)]
    pub mode: SweepMode,
    /// The SLOs of a capacity sweep, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slos: Vec<String>,
    pub machine: Machine,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// One entry per run, in the order they ran.
    pub sweep: Vec<SweepRun>,
    /// One row per instance count, repeats aggregated.
    pub rows: Vec<SweepRow>,
    pub analysis: Analysis,
}

/// One run at one instance count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepRun {
    pub instances: usize,
    /// 1-based repeat number.
    pub repeat: usize,
    /// Successful responses per second (the sweep's throughput).
    pub rps: f64,
    /// Every request per second, failed ones included (the run's `totals.rps`).
    #[serde(default)]
    pub request_rps: f64,
    pub requests: u64,
    /// Requests answered with an HTTP response of any status (requests minus transport
    /// failures).
    #[serde(default)]
    pub responses: u64,
    pub failures: u64,
    pub error_rate: f64,
    /// `error_rate > HIGH_ERROR_RATE`: not used for speedup, efficiency or the fit.
    #[serde(default)]
    pub high_error_rate: bool,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Average CPU % of each instance (100 = one core), instance 1 first.
    pub cpu_pct: Vec<f64>,
    /// Average resident memory of each instance, bytes.
    pub mem_bytes: Vec<f64>,
    pub restarts: u64,
    /// The balancer's own CPU %, when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer_cpu_pct: Option<f64>,
    /// volley's own CPU % (load generation), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_pct: Option<f64>,
    /// CPU % of everything else on the machine during the run (all busy CPU minus the
    /// instances, the balancer and volley): other work competing with the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_cpu_pct: Option<f64>,
    /// Requests answered by each instance (from `X-Served-By`), instance 1 first.
    #[serde(default)]
    pub served: Vec<u64>,
    /// The `X-Served-By` value of each entry of `served` when it is not the instance's number
    /// (nginx's `$upstream_addr`, a deployment's container address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_names: Vec<String>,
    /// Responses without the balancer's header (502s from the balancer itself, failures).
    #[serde(default)]
    pub unattributed: u64,
    /// What happened to the instances during the run (exits, restarts), with seconds since
    /// the run started: `12.3 s: instance 2 (pid 4242) exited (exit code 1); restart #1 ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Capacity sweeps: the highest rate sustained within the SLOs at this count (absent when
    /// even the start rate broke them), and the lowest bad rate above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_upper_rps: Option<f64>,
    /// Capacity sweeps: the whole search at this count, every step's full result inside.
    /// `result` is then the step at the capacity (or the first step when none was good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Box<CapacityResult>>,
    pub result: RunResult,
}

impl SweepRun {
    /// The summary figures of one run's result, behind the built-in balancer (`X-Served-By` is
    /// the instance's number).
    pub fn from_result(instances: usize, repeat: usize, result: RunResult) -> SweepRun {
        let names: Vec<String> = (1..=instances).map(|k| k.to_string()).collect();
        let mut run = SweepRun::with_backends(instances, repeat, result, Some(&names));
        run.backend_names.clear();
        run
    }

    /// The summary figures of one run's result. `names` are the `X-Served-By` values of the
    /// instances, instance 1 first; `None` for a deployment volley did not start, whose
    /// backends are whatever distinct values answered (sorted by name).
    pub fn with_backends(
        instances: usize,
        repeat: usize,
        result: RunResult,
        names: Option<&[String]>,
    ) -> SweepRun {
        let d = |key: &str| {
            result.metrics.get("http_req_duration").and_then(|m| m.values.get(key)).copied()
        };
        let server = result.server.as_ref();
        let mut cpu_pct = Vec::new();
        let mut mem_bytes = Vec::new();
        let mut restarts = 0;
        for u in server.map(|s| s.instances.as_slice()).unwrap_or_default() {
            cpu_pct.push(u.cpu_pct_avg);
            mem_bytes.push(u.mem_bytes_avg);
            restarts += u.restarts;
        }
        let backend_names: Vec<String> = match names {
            Some(n) => n.to_vec(),
            None => {
                let mut seen: Vec<String> = result
                    .backends
                    .iter()
                    .filter(|b| !b.backend.is_empty() && b.backend != NO_BACKEND)
                    .map(|b| b.backend.clone())
                    .collect();
                seen.sort();
                seen.dedup();
                seen
            }
        };
        let mut served = vec![0; backend_names.len()];
        let mut unattributed = 0;
        for b in &result.backends {
            match backend_names.iter().position(|n| *n == b.backend) {
                Some(k) => served[k] += b.requests,
                None => unattributed += b.requests,
            }
        }
        let t = &result.totals;
        // Successful responses per second; exactly `totals.rps` when nothing failed.
        let rps = if t.failed == 0 || t.requests == 0 {
            if t.requests == 0 { 0.0 } else { t.rps }
        } else {
            t.rps * (t.succeeded as f64 / t.requests as f64)
        };
        SweepRun {
            instances,
            repeat,
            rps,
            request_rps: t.rps,
            requests: t.requests,
            responses: t.responses,
            failures: t.failed,
            error_rate: t.error_rate(),
            high_error_rate: t.error_rate() > HIGH_ERROR_RATE,
            p50_ms: d("med").unwrap_or(0.0),
            p95_ms: d("p(95)").unwrap_or(0.0),
            p99_ms: d("p(99)").unwrap_or(0.0),
            cpu_pct,
            mem_bytes,
            restarts,
            balancer_cpu_pct: server.and_then(|s| s.balancer.as_ref()).map(|b| b.cpu_pct_avg),
            generator_cpu_pct: server.and_then(|s| s.generator.as_ref()).map(|g| g.cpu_pct_avg),
            other_cpu_pct: None,
            served,
            backend_names,
            unattributed,
            events: Vec::new(),
            capacity_rps: None,
            capacity_upper_rps: None,
            capacity: None,
            result,
        }
    }

    /// The run of a capacity search at `instances`: the figures of the step at the capacity
    /// (the last good one), or of the first step when none was good. `None` when the search
    /// ran no step.
    pub fn from_capacity(
        instances: usize,
        repeat: usize,
        search: CapacityResult,
        names: Option<&[String]>,
    ) -> Option<SweepRun> {
        let at = search.capacity_step().or_else(|| search.steps.first())?;
        let mut run = SweepRun::with_backends(instances, repeat, at.result.clone(), names);
        run.capacity_rps = search.capacity_rps;
        run.capacity_upper_rps = search.upper_rps;
        run.capacity = Some(Box::new(search));
        Some(run)
    }

    /// The figure compared across counts in `mode`: successful req/s, or the capacity. 0 when
    /// there is none to compare: no capacity found, or only a lower bound (even `--max` was
    /// sustained), since a ratio of lower bounds would claim a speedup nobody measured.
    pub fn figure(&self, mode: SweepMode) -> f64 {
        match mode {
            SweepMode::Throughput => self.rps,
            SweepMode::Capacity => bracketed(self.capacity_rps, self.capacity_upper_rps),
        }
    }
}

/// The runs at one instance count, aggregated (means over repeats, with the spread of rps).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SweepRow {
    pub instances: usize,
    pub runs: usize,
    /// Successful responses per second, mean over repeats.
    pub rps: f64,
    pub rps_min: f64,
    pub rps_max: f64,
    /// Sample standard deviation over repeats (0 for a single run).
    pub rps_stddev: f64,
    /// Every request per second, failed ones included, mean over repeats (the traffic).
    #[serde(default)]
    pub request_rps: f64,
    /// Mean requests, responses and failures per run.
    pub requests: f64,
    #[serde(default)]
    pub responses: f64,
    pub failures: f64,
    pub error_rate: f64,
    /// Some run at this count had a high error rate ([`HIGH_ERROR_RATE`]): no speedup.
    #[serde(default)]
    pub high_error_rate: bool,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Mean CPU % per instance (averaged over instances and repeats).
    pub cpu_pct_per_instance: f64,
    /// Mean CPU % of each instance, instance 1 first.
    pub cpu_pct: Vec<f64>,
    /// Mean resident memory per instance, bytes.
    pub mem_bytes_per_instance: f64,
    pub mem_bytes: Vec<f64>,
    /// Total restarts over repeats.
    pub restarts: u64,
    pub balancer_cpu_pct: Option<f64>,
    pub generator_cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_cpu_pct: Option<f64>,
    /// Throughput relative to the baseline (the smallest instance count without a high error
    /// rate); absent for a flagged row or when there is no baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// `speedup / (instances / baseline instances)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
    /// Capacity sweeps: mean capacity over the repeats that found one, and the mean lowest
    /// bad rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_upper_rps: Option<f64>,
}

/// Universal Scalability Law: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct UslFit {
    /// Throughput of one instance without contention, requests/s.
    pub lambda: f64,
    /// Contention (serialization), 0..1.
    pub sigma: f64,
    /// Coherency (crosstalk) cost.
    pub kappa: f64,
    /// Instance count of peak throughput, sqrt((1−σ)/κ), when κ > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_instances: Option<f64>,
    /// Predicted throughput at the peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rps: Option<f64>,
    /// Coefficient of determination of the fit on the measured points.
    pub r_squared: f64,
    /// Always true since schema 2 (a fit needs [`USL_MIN_COUNTS`] counts); kept so older
    /// sweeps still read.
    pub kappa_fitted: bool,
}

impl UslFit {
    pub fn predict(&self, n: f64) -> f64 {
        usl(self.lambda, self.sigma, self.kappa, n)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Analysis {
    /// The instance count speedups are relative to (0: none, every count was flagged).
    pub baseline_instances: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<UslFit>,
    /// Written findings, each with its numbers: written by the report crate
    /// (`volley_report::sweep_findings`) when the sweep is saved, for readers of the JSON.
    #[serde(default)]
    pub findings: Vec<String>,
}

/// A capacity with the bad rate above it, else 0 (none, or only a lower bound).
fn bracketed(capacity: Option<f64>, upper: Option<f64>) -> f64 {
    match (capacity, upper) {
        (Some(c), Some(_)) => c,
        _ => 0.0,
    }
}

fn usl(lambda: f64, sigma: f64, kappa: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.into_iter().collect();
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

fn mean_opt(xs: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = xs.into_iter().flatten().collect();
    (!v.is_empty()).then(|| mean(v))
}

/// Aggregates runs into one row per instance count (ascending), with speedup and efficiency
/// of `mode`'s figure relative to the smallest count that has one.
pub fn rows(runs: &[SweepRun], mode: SweepMode) -> Vec<SweepRow> {
    let mut counts: Vec<usize> = runs.iter().map(|r| r.instances).collect();
    counts.sort_unstable();
    counts.dedup();
    let mut rows: Vec<SweepRow> = counts
        .iter()
        .map(|&n| {
            let rs: Vec<&SweepRun> = runs.iter().filter(|r| r.instances == n).collect();
            let rps: Vec<f64> = rs.iter().map(|r| r.rps).collect();
            let m = mean(rps.iter().copied());
            let stddev = if rps.len() > 1 {
                (rps.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (rps.len() - 1) as f64).sqrt()
            } else {
                0.0
            };
            // As many entries as the runs measured: a deployment's watched processes need not
            // number exactly `n` (and an unwatched one has none).
            let per_instance = |f: &dyn Fn(&SweepRun) -> &Vec<f64>| -> Vec<f64> {
                let len = rs.iter().map(|r| f(r).len()).max().unwrap_or(0);
                (0..len).map(|k| mean(rs.iter().filter_map(|r| f(r).get(k).copied()))).collect()
            };
            let cpu_pct = per_instance(&|r| &r.cpu_pct);
            let mem_bytes = per_instance(&|r| &r.mem_bytes);
            SweepRow {
                instances: n,
                runs: rs.len(),
                rps: m,
                rps_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
                rps_max: rps.iter().copied().fold(0.0, f64::max),
                rps_stddev: stddev,
                request_rps: mean(rs.iter().map(|r| r.request_rps)),
                requests: mean(rs.iter().map(|r| r.requests as f64)),
                responses: mean(rs.iter().map(|r| r.responses as f64)),
                failures: mean(rs.iter().map(|r| r.failures as f64)),
                error_rate: mean(rs.iter().map(|r| r.error_rate)),
                high_error_rate: rs.iter().any(|r| r.high_error_rate),
                p50_ms: mean(rs.iter().map(|r| r.p50_ms)),
                p95_ms: mean(rs.iter().map(|r| r.p95_ms)),
                p99_ms: mean(rs.iter().map(|r| r.p99_ms)),
                cpu_pct_per_instance: mean(cpu_pct.iter().copied()),
                cpu_pct,
                mem_bytes_per_instance: mean(mem_bytes.iter().copied()),
                mem_bytes,
                restarts: rs.iter().map(|r| r.restarts).sum(),
                balancer_cpu_pct: mean_opt(rs.iter().map(|r| r.balancer_cpu_pct)),
                generator_cpu_pct: mean_opt(rs.iter().map(|r| r.generator_cpu_pct)),
                other_cpu_pct: mean_opt(rs.iter().map(|r| r.other_cpu_pct)),
                speedup: None,
                efficiency: None,
                capacity_rps: mean_opt(rs.iter().map(|r| r.capacity_rps)),
                capacity_upper_rps: mean_opt(rs.iter().map(|r| r.capacity_upper_rps)),
            }
        })
        .collect();
    let figure = |r: &SweepRow| match mode {
        SweepMode::Throughput => r.rps,
        SweepMode::Capacity => bracketed(r.capacity_rps, r.capacity_upper_rps),
    };
    if let Some(base) = rows.iter().find(|r| !r.high_error_rate && figure(r) > 0.0).cloned() {
        for r in rows.iter_mut().filter(|r| !r.high_error_rate && figure(r) > 0.0) {
            let speedup = figure(r) / figure(&base);
            r.speedup = Some(speedup);
            r.efficiency = Some(speedup / (r.instances as f64 / base.instances.max(1) as f64));
        }
    }
    rows
}

/// Least-squares fit of the USL to (instances, rps) points. For fixed σ and κ the best λ is
/// linear, so the search is over (σ, κ) only: a coarse grid, then shrinking local refinement.
/// `None` with fewer than [`USL_MIN_COUNTS`] distinct instance counts (two points are passed
/// through by some curve whatever they are) or no throughput.
pub fn fit_usl(points: &[(f64, f64)]) -> Option<UslFit> {
    let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    if ns.len() < USL_MIN_COUNTS || points.iter().all(|p| p.1 <= 0.0) {
        return None;
    }
    let fit_kappa = true;
    // Best λ and the residual sum of squares for given σ, κ.
    let sse = |sigma: f64, kappa: f64| -> (f64, f64) {
        let f: Vec<f64> = points.iter().map(|&(n, _)| usl(1.0, sigma, kappa, n)).collect();
        let num: f64 = points.iter().zip(&f).map(|(p, fi)| p.1 * fi).sum();
        let den: f64 = f.iter().map(|fi| fi * fi).sum();
        let lambda = if den > 0.0 { num / den } else { 0.0 };
        let e = points.iter().zip(&f).map(|(p, fi)| (p.1 - lambda * fi).powi(2)).sum();
        (lambda, e)
    };
    let kappas: Vec<f64> = if fit_kappa {
        std::iter::once(0.0).chain((0..=60).map(|k| 10f64.powf(-6.0 + k as f64 * 0.1))).collect()
    } else {
        vec![0.0]
    };
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for s in 0..=100 {
        let sigma = s as f64 / 100.0;
        for &kappa in &kappas {
            let (_, e) = sse(sigma, kappa);
            if e < best.0 {
                best = (e, sigma, kappa);
            }
        }
    }
    let (mut e, mut sigma, mut kappa) = best;
    let mut step_s = 0.01;
    let mut step_k = if kappa > 0.0 { kappa * 0.25 } else { 1e-6 };
    for _ in 0..200 {
        let mut improved = false;
        for (ds, dk) in [(step_s, 0.0), (-step_s, 0.0), (0.0, step_k), (0.0, -step_k)] {
            let (s2, k2) = ((sigma + ds).clamp(0.0, 1.0), (kappa + dk).max(0.0));
            if !fit_kappa && k2 != 0.0 {
                continue;
            }
            let (_, e2) = sse(s2, k2);
            if e2 < e {
                (e, sigma, kappa) = (e2, s2, k2);
                improved = true;
            }
        }
        if !improved {
            step_s /= 2.0;
            step_k /= 2.0;
        }
    }
    let (lambda, _) = sse(sigma, kappa);
    let ybar = mean(points.iter().map(|p| p.1));
    let sst: f64 = points.iter().map(|p| (p.1 - ybar).powi(2)).sum();
    let r_squared = if sst > 0.0 { 1.0 - e / sst } else { 1.0 };
    let peak_instances = (kappa > 1e-12).then(|| ((1.0 - sigma) / kappa).sqrt());
    Some(UslFit {
        lambda,
        sigma,
        kappa,
        peak_instances,
        peak_rps: peak_instances.map(|n| usl(lambda, sigma, kappa, n)),
        r_squared,
        kappa_fitted: fit_kappa,
    })
}

/// Rows and the USL fit of `mode`'s figure from the runs; the fit uses only runs without a
/// high error rate (and, for capacities, runs that found one). The findings are left empty
/// (the report crate words them).
pub fn analyze(runs: &[SweepRun], mode: SweepMode) -> (Vec<SweepRow>, Analysis) {
    let rows = rows(runs, mode);
    let points: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| !r.high_error_rate && r.figure(mode) > 0.0)
        .map(|r| (r.instances as f64, r.figure(mode)))
        .collect();
    let usl = fit_usl(&points);
    let baseline_instances = rows.iter().find(|r| r.speedup.is_some()).map_or(0, |r| r.instances);
    (rows, Analysis { baseline_instances, usl, findings: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usl_recovers_known_parameters() {
        let (l, s, k) = (1000.0, 0.05, 0.002);
        let pts: Vec<(f64, f64)> = (1..=8).map(|n| (n as f64, usl(l, s, k, n as f64))).collect();
        let fit = fit_usl(&pts).unwrap();
        assert!((fit.lambda - l).abs() / l < 0.01, "{fit:?}");
        assert!((fit.sigma - s).abs() < 0.005, "{fit:?}");
        assert!((fit.kappa - k).abs() < 0.0005, "{fit:?}");
        let expected_peak = ((1.0 - s) / k).sqrt();
        assert!((fit.peak_instances.unwrap() - expected_peak).abs() < 1.5, "{fit:?}");
        assert!(fit.r_squared > 0.999);
    }

    #[test]
    fn two_counts_are_not_fitted() {
        assert!(fit_usl(&[(1.0, 100.0), (2.0, 150.0)]).is_none());
        assert!(fit_usl(&[(1.0, 100.0), (1.0, 90.0), (2.0, 150.0), (2.0, 160.0)]).is_none());
        assert!(fit_usl(&[(1.0, 100.0)]).is_none());
        assert!(fit_usl(&[(1.0, 100.0), (2.0, 150.0), (3.0, 180.0)]).is_some());
    }

    #[test]
    fn repeats_are_aggregated_with_their_spread() {
        let r = result(100, 0);
        let run = |n, rep, rps: f64| {
            let mut x = SweepRun::from_result(n, rep, r.clone());
            x.rps = rps;
            x
        };
        let runs = vec![run(1, 1, 90.0), run(1, 2, 110.0), run(2, 1, 180.0), run(2, 2, 220.0)];
        let rows = rows(&runs, SweepMode::Throughput);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].runs, rows[0].rps, rows[0].rps_min, rows[0].rps_max),
            (2, 100.0, 90.0, 110.0)
        );
        assert!((rows[0].rps_stddev - 200f64.sqrt()).abs() < 1e-9, "{:?}", rows[0]);
        assert_eq!((rows[1].speedup, rows[1].efficiency), (Some(2.0), Some(1.0)));
    }

    /// Speedup of capacity needs both capacities bracketed: one that only reached `--max` is a
    /// lower bound, and a ratio of lower bounds is no speedup.
    #[test]
    fn capacities_that_only_reached_max_give_no_speedup() {
        let run = |n, cap: f64, upper: Option<f64>| {
            let mut x = SweepRun::from_result(n, 1, result(100, 0));
            (x.capacity_rps, x.capacity_upper_rps) = (Some(cap), upper);
            x
        };
        let runs = vec![run(1, 50.0, Some(55.0)), run(2, 98.0, Some(103.0)), run(3, 120.0, None)];
        let (rows, analysis) = analyze(&runs, SweepMode::Capacity);
        assert_eq!(rows[1].speedup, Some(98.0 / 50.0));
        assert_eq!(rows[1].efficiency, Some(98.0 / 50.0 / 2.0));
        assert_eq!(rows[2].speedup, None, "a lower bound");
        assert_eq!(rows[2].capacity_rps, Some(120.0));
        assert!(analysis.usl.is_none(), "two bracketed counts are not fitted");
        let all_max = vec![run(1, 80.0, None), run(2, 80.0, None)];
        let (rows, analysis) = analyze(&all_max, SweepMode::Capacity);
        assert!(rows.iter().all(|r| r.speedup.is_none()) && analysis.baseline_instances == 0);
    }

    /// A result of `requests` requests in 1 s of which `failed` got the balancer's 502.
    fn result(requests: u64, failed: u64) -> RunResult {
        let mut r = base();
        let t = &mut r.totals;
        (t.requests, t.responses, t.succeeded, t.failed) =
            (requests, requests, requests - failed, failed);
        t.rps = requests as f64;
        r
    }

    fn base() -> RunResult {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "volley_version": "0", "config": {"mode": "quick",
            "concurrency": 1, "timeout_s": 1.0, "keepalive": true},
            "started_at": "1970-01-01T00:00:00Z", "ended_at": "1970-01-01T00:00:01Z",
            "duration_s": 1.0, "interrupted": false,
            "machine": {"hostname": "h", "os": "linux", "arch": "x", "cpus": 2, "threads": 1},
            "totals": {"requests": 0, "responses": 0, "transport_failures": 0,
            "succeeded": 0, "failed": 0, "dropped": 0, "iterations": 0,
            "interrupted_iterations": 0, "bytes_sent": 0, "bytes_received": 0, "rps": 0.0,
            "max_connections": 1},
            "metrics": {}, "failures": {}, "status_codes": {}, "endpoints": [],
            "timeseries": [], "histograms": {}
        }))
        .unwrap()
    }

    /// Issue 9 item 13: 96% of 85,754 req/s were the balancer's 502s.
    #[test]
    fn throughput_counts_successes_and_flagged_runs_give_no_speedup() {
        let runs = vec![
            SweepRun::from_result(1, 1, result(1_000, 0)),
            SweepRun::from_result(2, 1, result(85_754, 82_324)),
            SweepRun::from_result(3, 1, result(2_900, 10)),
        ];
        assert_eq!(runs[0].rps, 1_000.0);
        assert_eq!(runs[1].request_rps, 85_754.0);
        assert!((runs[1].rps - 3_430.0).abs() < 1e-6, "{}", runs[1].rps);
        assert!(runs[1].high_error_rate && !runs[2].high_error_rate);
        assert!((runs[2].rps - 2_890.0).abs() < 1e-6);
        let (rows, analysis) = analyze(&runs, SweepMode::Throughput);
        assert_eq!(analysis.baseline_instances, 1);
        assert_eq!(rows[0].speedup, Some(1.0));
        assert_eq!((rows[1].speedup, rows[1].efficiency), (None, None));
        assert!(rows[1].high_error_rate);
        assert!((rows[2].speedup.unwrap() - 2.89).abs() < 1e-9);
        assert!((rows[2].efficiency.unwrap() - 2.89 / 3.0).abs() < 1e-9);
        // Only two usable counts are left: no fit.
        assert!(analysis.usl.is_none());
    }

    #[test]
    fn a_flagged_smallest_count_moves_the_baseline() {
        let runs = vec![
            SweepRun::from_result(1, 1, result(1_000, 900)),
            SweepRun::from_result(2, 1, result(1_000, 0)),
            SweepRun::from_result(4, 1, result(1_800, 0)),
        ];
        let (rows, analysis) = analyze(&runs, SweepMode::Throughput);
        assert_eq!(analysis.baseline_instances, 2);
        assert_eq!(rows[0].speedup, None);
        assert_eq!((rows[2].speedup, rows[2].efficiency), (Some(1.8), Some(0.9)));
        let all_bad = vec![SweepRun::from_result(1, 1, result(10, 10))];
        let (rows, analysis) = analyze(&all_bad, SweepMode::Throughput);
        assert_eq!((rows[0].speedup, analysis.baseline_instances), (None, 0));
    }
}
