//! The result of a scaling sweep (`volley scale`, `volley demo`): one run per instance count
//! (and repeat), the table seed 003 left empty, and its analysis: speedup, efficiency, a fit of
//! the Universal Scalability Law, and findings written with the numbers that support them.
//!
//! Computed here, from the runs alone, so that every renderer shows the same figures.

use serde::{Deserialize, Serialize};

use crate::result::{Machine, RunResult};

pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// A whole sweep, as saved by `volley scale -o scale.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sweep {
    pub schema_version: u32,
    pub volley_version: String,
    /// The service's command, as given after `--`.
    pub command: Vec<String>,
    /// The path (quick mode) or plan the load came from.
    pub workload: String,
    /// `round-robin` or `least-conn`.
    pub balancer: String,
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
    pub rps: f64,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
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
    /// Responses without the balancer's header (502s from the balancer itself, failures).
    #[serde(default)]
    pub unattributed: u64,
    /// What happened to the instances during the run (exits, restarts), with seconds since
    /// the run started: `12.3 s: instance 2 (pid 4242) exited (exit code 1); restart #1 ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    pub result: RunResult,
}

impl SweepRun {
    /// The summary figures of one run's result.
    pub fn from_result(instances: usize, repeat: usize, result: RunResult) -> SweepRun {
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
        let mut served = vec![0; instances];
        let mut unattributed = 0;
        for b in &result.backends {
            match b.backend.parse::<usize>() {
                Ok(k) if (1..=instances).contains(&k) => served[k - 1] += b.requests,
                _ => unattributed += b.requests,
            }
        }
        SweepRun {
            instances,
            repeat,
            rps: result.totals.rps,
            requests: result.totals.requests,
            failures: result.totals.failed,
            error_rate: result.totals.error_rate(),
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
            unattributed,
            events: Vec::new(),
            result,
        }
    }
}

/// The runs at one instance count, aggregated (means over repeats, with the spread of rps).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SweepRow {
    pub instances: usize,
    pub runs: usize,
    /// Mean over repeats.
    pub rps: f64,
    pub rps_min: f64,
    pub rps_max: f64,
    /// Sample standard deviation over repeats (0 for a single run).
    pub rps_stddev: f64,
    /// Mean requests and failures per run.
    pub requests: f64,
    pub failures: f64,
    pub error_rate: f64,
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
    /// Throughput relative to the smallest instance count.
    pub speedup: f64,
    /// `speedup / (instances / smallest instance count)`.
    pub efficiency: f64,
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
    /// False when there were too few instance counts to fit κ (it is then 0).
    pub kappa_fitted: bool,
}

impl UslFit {
    pub fn predict(&self, n: f64) -> f64 {
        usl(self.lambda, self.sigma, self.kappa, n)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Analysis {
    /// The instance count speedups are relative to.
    pub baseline_instances: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<UslFit>,
    /// Written findings, each with its numbers.
    pub findings: Vec<String>,
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
/// relative to the smallest count.
pub fn rows(runs: &[SweepRun]) -> Vec<SweepRow> {
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
            let per_instance = |f: &dyn Fn(&SweepRun) -> &Vec<f64>| -> Vec<f64> {
                (0..n).map(|k| mean(rs.iter().filter_map(|r| f(r).get(k).copied()))).collect()
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
                requests: mean(rs.iter().map(|r| r.requests as f64)),
                failures: mean(rs.iter().map(|r| r.failures as f64)),
                error_rate: mean(rs.iter().map(|r| r.error_rate)),
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
                speedup: 0.0,
                efficiency: 0.0,
            }
        })
        .collect();
    if let Some(base) = rows.first().cloned() {
        for r in &mut rows {
            r.speedup = if base.rps > 0.0 { r.rps / base.rps } else { 0.0 };
            let scale = r.instances as f64 / base.instances.max(1) as f64;
            r.efficiency = if scale > 0.0 { r.speedup / scale } else { 0.0 };
        }
    }
    rows
}

/// Least-squares fit of the USL to (instances, rps) points. For fixed σ and κ the best λ is
/// linear, so the search is over (σ, κ) only: a coarse grid, then shrinking local refinement.
/// With fewer than three distinct instance counts κ cannot be told apart from σ and is fixed
/// at 0. `None` with fewer than two distinct counts or no throughput.
pub fn fit_usl(points: &[(f64, f64)]) -> Option<UslFit> {
    let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    if ns.len() < 2 || points.iter().all(|p| p.1 <= 0.0) {
        return None;
    }
    let fit_kappa = ns.len() >= 3;
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

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Findings in plain words, each carrying its numbers. `cores` is the machine's core count.
pub fn findings(rows: &[SweepRow], usl: Option<&UslFit>, cores: u32) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return out;
    };
    if rows.len() >= 2 {
        out.push(format!(
            "Going from {} to {} instance(s) changed throughput from {:.1} to {:.1} req/s: {:.2}× \
             for {:.1}× the instances (scaling efficiency {}).",
            first.instances,
            last.instances,
            first.rps,
            last.rps,
            last.speedup,
            last.instances as f64 / first.instances.max(1) as f64,
            pct(last.efficiency)
        ));
    }
    // Where growth stops: the first step that adds under 5%.
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.rps <= 0.0 {
            continue;
        }
        let growth = b.rps / a.rps - 1.0;
        if growth < 0.05 {
            let cpu_note = if b.cpu_pct_per_instance < a.cpu_pct_per_instance * 0.85 {
                format!(
                    " while CPU per instance fell from {:.0}% to {:.0}%: the instances wait on \
                     something else (the bottleneck is elsewhere: a shared resource, the cores, \
                     or the load generator)",
                    a.cpu_pct_per_instance, b.cpu_pct_per_instance
                )
            } else {
                String::new()
            };
            out.push(format!(
                "Beyond {} instance(s) throughput {} ({:.1} → {:.1} req/s at {} instances){}.",
                a.instances,
                if growth < 0.0 {
                    format!("falls by {:.1}%", -growth * 100.0)
                } else {
                    format!("grows only {:.1}%", growth * 100.0)
                },
                a.rps,
                b.rps,
                b.instances,
                cpu_note
            ));
            break;
        }
    }
    // Instances compete for the cores.
    if let Some(r) = rows.iter().find(|r| r.instances as u32 > cores && cores > 0) {
        let total_cpu = r.cpu_pct_per_instance * r.instances as f64;
        out.push(format!(
            "{} instances on {cores} core(s): together they used {:.0}% CPU of the {}% the \
             machine has, so instances beyond {cores} mostly share cores instead of adding them.",
            r.instances,
            total_cpu,
            cores * 100
        ));
    }
    // Each instance saturating one core means a CPU-bound service.
    if first.cpu_pct_per_instance >= 85.0 {
        out.push(format!(
            "With {} instance(s) each instance used {:.0}% of a core: the service is CPU-bound \
             per process, so more processes help as long as there are free cores.",
            first.instances, first.cpu_pct_per_instance
        ));
    }
    // The load generator (and the balancer, in the same process) must not be the limit.
    if let Some(r) = rows.iter().max_by(|a, b| {
        a.generator_cpu_pct.unwrap_or(0.0).total_cmp(&b.generator_cpu_pct.unwrap_or(0.0))
    }) && let Some(g) = r.generator_cpu_pct
    {
        let b = r.balancer_cpu_pct.unwrap_or(0.0);
        if g + b >= 80.0 {
            out.push(format!(
                "volley itself used {g:.0}% CPU for load generation and {b:.0}% for the balancer \
                 at {} instances: on a machine this size the measurement competes with the \
                 service; treat the higher instance counts with caution.",
                r.instances
            ));
        } else {
            out.push(format!(
                "The balancer used at most {:.0}% of a core and load generation {g:.0}%: \
                 neither limited the results.",
                rows.iter().filter_map(|r| r.balancer_cpu_pct).fold(0.0, f64::max)
            ));
        }
    }
    // Other work on the machine takes cores from the instances.
    if let Some(r) = rows
        .iter()
        .filter(|r| r.other_cpu_pct.is_some())
        .max_by(|a, b| a.other_cpu_pct.unwrap_or(0.0).total_cmp(&b.other_cpu_pct.unwrap_or(0.0)))
        && let Some(other) = r.other_cpu_pct
        && other >= 20.0
    {
        out.push(format!(
            "Other processes on this machine used {other:.0}% CPU during the run at {} \
             instance(s) (of {}% in all): the instances did not have the cores to themselves, \
             so throughput is lower and noisier than on a quiet machine.",
            r.instances,
            cores * 100
        ));
    }
    // Latency and errors.
    if rows.len() >= 2 && first.p95_ms > 0.0 {
        out.push(format!(
            "p95 latency went from {:.1} ms at {} instance(s) to {:.1} ms at {} ({:+.0}%).",
            first.p95_ms,
            first.instances,
            last.p95_ms,
            last.instances,
            (last.p95_ms / first.p95_ms - 1.0) * 100.0
        ));
    }
    for r in rows.iter().filter(|r| r.error_rate > 0.0) {
        out.push(format!(
            "{} instance(s): {:.2}% of requests failed ({:.0} of {:.0} per run).",
            r.instances,
            r.error_rate * 100.0,
            r.failures,
            r.requests
        ));
    }
    for r in rows.iter().filter(|r| r.restarts > 0) {
        out.push(format!(
            "{} instance(s): the supervisor restarted instances {} time(s) during the runs.",
            r.instances, r.restarts
        ));
    }
    if let Some(spread) = rows
        .iter()
        .filter(|r| r.runs > 1 && r.rps > 0.0)
        .map(|r| (r, r.rps_stddev / r.rps))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        let verdict = if spread.1 > 0.1 {
            "differences smaller than that between instance counts are noise"
        } else {
            "the runs are consistent"
        };
        out.push(format!(
            "Between repeats throughput varied by up to {:.1}% (relative standard deviation, at \
             {} instance(s)): {verdict}.",
            spread.1 * 100.0,
            spread.0.instances
        ));
    }
    if let Some(u) = usl {
        let mut s = format!(
            "Universal Scalability Law fit: λ = {:.1} req/s per instance, contention σ = {:.3}, \
             coherency κ = {:.4} (R² = {:.2})",
            u.lambda, u.sigma, u.kappa, u.r_squared
        );
        if u.r_squared < 0.5 {
            s.push_str(&format!(
                "; it fits poorly (R² = {:.2}): the figures are noisy or the service does not \
                 behave like a queue that more copies relieve, so read σ and κ with caution{}",
                u.r_squared,
                if rows.iter().all(|r| r.runs == 1) { " (--repeat helps)" } else { "" }
            ));
        }
        match (u.peak_instances, u.kappa_fitted) {
            (Some(n), _) => s.push_str(&format!(
                "; throughput is predicted to peak near {n:.1} instances at {:.0} req/s.",
                u.peak_rps.unwrap_or(0.0)
            )),
            (None, true) => {
                s.push_str("; no coherency cost was found, so no peak is predicted within reach.")
            }
            (None, false) => s.push_str("; κ needs at least three instance counts to be fitted."),
        }
        out.push(s);
    }
    out
}

/// Rows, USL fit and findings from the runs.
pub fn analyze(runs: &[SweepRun], cores: u32) -> (Vec<SweepRow>, Analysis) {
    let rows = rows(runs);
    let points: Vec<(f64, f64)> = runs.iter().map(|r| (r.instances as f64, r.rps)).collect();
    let usl = fit_usl(&points);
    let mut findings = findings(&rows, usl.as_ref(), cores);
    for r in runs.iter().filter(|r| r.unattributed > 0) {
        findings.push(format!(
            "{} instance(s), run {}: {} request(s) got no answer from any instance (the \
             balancer's 502 while none was up, or a transport failure).",
            r.instances, r.repeat, r.unattributed
        ));
    }
    for r in runs.iter().filter(|r| !r.events.is_empty()) {
        let shown: Vec<&str> = r.events.iter().take(3).map(String::as_str).collect();
        let more = r.events.len().saturating_sub(shown.len());
        findings.push(format!(
            "{} instance(s), run {}: {}{}",
            r.instances,
            r.repeat,
            shown.join("; "),
            if more > 0 { format!(" (and {more} more events)") } else { String::new() }
        ));
    }
    let analysis =
        Analysis { baseline_instances: rows.first().map_or(0, |r| r.instances), usl, findings };
    (rows, analysis)
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
    fn two_points_fit_sigma_only() {
        // 1 → 100 rps, 2 → 150 rps: 150 = 200 / (1 + σ) ⇒ σ = 1/3.
        let fit = fit_usl(&[(1.0, 100.0), (2.0, 150.0)]).unwrap();
        assert!(!fit.kappa_fitted);
        assert_eq!(fit.kappa, 0.0);
        assert!((fit.sigma - 1.0 / 3.0).abs() < 0.01, "{fit:?}");
        assert!((fit.lambda - 100.0).abs() < 1.0, "{fit:?}");
        assert!(fit_usl(&[(1.0, 100.0)]).is_none());
    }

    #[test]
    fn repeats_are_aggregated_with_their_spread() {
        let r: RunResult = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "volley_version": "0", "config": {"mode": "quick",
            "concurrency": 1, "timeout_s": 1.0, "keepalive": true},
            "started_at": "1970-01-01T00:00:00Z", "ended_at": "1970-01-01T00:00:01Z",
            "duration_s": 1.0, "interrupted": false,
            "machine": {"hostname": "h", "os": "linux", "arch": "x", "cpus": 2, "threads": 1},
            "totals": {"requests": 100, "responses": 100, "transport_failures": 0,
            "succeeded": 100, "failed": 0, "dropped": 0, "iterations": 100,
            "interrupted_iterations": 0, "bytes_sent": 0, "bytes_received": 0, "rps": 100.0,
            "max_connections": 1},
            "metrics": {}, "failures": {}, "status_codes": {}, "endpoints": [],
            "timeseries": [], "histograms": {}
        }))
        .unwrap();
        let run = |n, rep, rps: f64| {
            let mut x = SweepRun::from_result(n, rep, r.clone());
            x.rps = rps;
            x
        };
        let runs = vec![run(1, 1, 90.0), run(1, 2, 110.0), run(2, 1, 180.0), run(2, 2, 220.0)];
        let rows = rows(&runs);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].runs, rows[0].rps, rows[0].rps_min, rows[0].rps_max),
            (2, 100.0, 90.0, 110.0)
        );
        assert!((rows[0].rps_stddev - 200f64.sqrt()).abs() < 1e-9, "{:?}", rows[0]);
        assert_eq!((rows[1].speedup, rows[1].efficiency), (2.0, 1.0));
    }

    fn row(n: usize, rps: f64, cpu: f64) -> SweepRow {
        SweepRow { instances: n, runs: 1, rps, cpu_pct_per_instance: cpu, ..Default::default() }
    }

    #[test]
    fn findings_name_the_plateau() {
        let mut rows = vec![row(1, 100.0, 99.0), row(2, 190.0, 97.0), row(3, 195.0, 60.0)];
        let base = rows[0].rps;
        for r in &mut rows {
            r.speedup = r.rps / base;
            r.efficiency = r.speedup / r.instances as f64;
        }
        let f = findings(&rows, None, 2);
        let text = f.join("\n");
        assert!(text.contains("1.95×"), "{text}");
        assert!(text.contains("Beyond 2 instance(s) throughput grows only 2.6%"), "{text}");
        assert!(text.contains("fell from 97% to 60%"), "{text}");
        assert!(text.contains("3 instances on 2 core(s)"), "{text}");
    }
}
