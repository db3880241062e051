//! Findings about a scaling sweep in plain words, each carrying its numbers: speedup and
//! efficiency, where growth stops and why (cores, CPU, the load generator, other processes),
//! latency, errors (runs with a high error rate are named and left out of speedup and the fit),
//! restarts, the spread between repeats and the Universal Scalability Law fit.
//!
//! The figures come from `volley_metrics::sweep`; this module only words them, so every format
//! of the sweep (terminal, Markdown, HTML, the saved JSON) says the same thing.

use volley_metrics::capacity::Conclusion;
use volley_metrics::sweep::{HIGH_ERROR_RATE, Sweep, SweepMode, SweepRow, USL_MIN_COUNTS, UslFit};

/// Every finding about a sweep: its rows and fit, then per-run facts (what bound each
/// capacity, requests no instance answered, exits and restarts).
pub fn sweep(s: &Sweep) -> Vec<String> {
    let mut findings = match s.mode {
        SweepMode::Throughput => {
            rows_findings(&s.rows, s.analysis.usl.as_ref(), s.machine.cpus, &s.balancer)
        }
        SweepMode::Capacity => {
            // The same reading of the figures, with the capacity as the figure.
            // Only bracketed capacities are compared: one that reached --max is a lower bound.
            let rows: Vec<SweepRow> = s
                .rows
                .iter()
                .filter_map(|r| match (r.capacity_rps, r.capacity_upper_rps) {
                    (Some(c), Some(_)) => Some(SweepRow { rps: c, ..r.clone() }),
                    _ => None,
                })
                .collect();
            // None bracketed: the per-count findings below say why.
            let mut f = if rows.is_empty() {
                Vec::new()
            } else {
                rows_findings(&rows, s.analysis.usl.as_ref(), s.machine.cpus, &s.balancer)
            };
            for line in &mut f {
                *line = line
                    .replace("throughput (successful responses)", "capacity (within the SLOs)")
                    .replace("throughput", "capacity");
            }
            f
        }
    };
    for r in &s.sweep {
        let Some(c) = &r.capacity else { continue };
        let bound: Vec<String> = c.bound_by.iter().map(|b| b.short()).collect();
        let bound = if bound.is_empty() {
            String::new()
        } else {
            format!(", bound by {}", bound.join("; "))
        };
        findings.push(match (c.conclusion, c.capacity_rps) {
            (Conclusion::BelowStart, _) | (_, None) => format!(
                "{} instance(s): even the start rate ({:.1} req/s) broke the SLOs{bound}, so no \
                 capacity was found there.",
                r.instances, c.settings.start_rps
            ),
            (Conclusion::AtLeastMax, Some(cap)) => format!(
                "{} instance(s): sustained even --max ({cap:.1} req/s) within the SLOs: the \
                 capacity is at least that, a lower bound not used for speedup or the fit \
                 (raise --max to bracket it).",
                r.instances
            ),
            (_, Some(cap)) => format!(
                "{} instance(s): capacity {cap:.1} req/s within the SLOs (the next rate tried, \
                 {}, was not sustained{bound}; {} steps).",
                r.instances,
                c.upper_rps.map_or("none".to_string(), |u| format!("{u:.1} req/s")),
                c.steps.len()
            ),
        });
    }
    for r in s.sweep.iter().filter(|r| r.unattributed > 0) {
        // Of the requests no instance is credited with, those that succeeded were answered,
        // only without the header that names the instance.
        let answered: u64 = (r.result.backends.iter())
            .filter(|b| !r.backend_names.contains(&b.backend))
            .map(|b| b.requests.saturating_sub(b.failures))
            .sum::<u64>()
            .min(r.unattributed);
        let lost = r.unattributed - answered;
        if lost > 0 {
            findings.push(format!(
                "{} instance(s), run {}: {lost} request(s) got no answer from any instance (the \
                 balancer's 502 while none was up, or a transport failure).",
                r.instances, r.repeat
            ));
        }
        if answered > 0 {
            findings.push(format!(
                "{} instance(s), run {}: {answered} successful response(s) carried no backend \
                 header, so no instance is credited with them: the service does not send the \
                 header named by --backend-header (or the plan's http.backend_header).",
                r.instances, r.repeat
            ));
        }
    }
    for r in s.sweep.iter().filter(|r| !r.events.is_empty()) {
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
    findings
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The rows whose error rate makes their throughput meaningless, named first.
fn flagged(rows: &[SweepRow], out: &mut Vec<String>) {
    for r in rows.iter().filter(|r| r.high_error_rate) {
        out.push(format!(
            "{} instance(s): {:.1}% of requests failed ({:.0} of {:.0} per run), above the {}% a \
             sweep accepts: its throughput ({:.1} successful responses/s) is not used for \
             speedup, efficiency or the scalability fit.",
            r.instances,
            r.error_rate * 100.0,
            r.failures,
            r.requests,
            HIGH_ERROR_RATE * 100.0,
            r.rps
        ));
    }
}

fn errors_and_restarts(rows: &[SweepRow], out: &mut Vec<String>) {
    for r in rows.iter().filter(|r| r.error_rate > 0.0 && !r.high_error_rate) {
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
}

/// The balancer names of volley's own proxy ([`Sweep::balancer`] as `volley_harness`'s
/// `Balancer::name` spells them): it runs inside volley, beside the load generator.
const BUILTIN_BALANCERS: [&str; 2] = ["round-robin", "least-conn"];

/// Who used the generator's and the balancer's CPU, in words: volley for both behind its own
/// balancer, volley and nginx (or whatever balanced) otherwise.
fn generator_and_balancer(g: f64, b: Option<f64>, balancer: &str) -> String {
    match b {
        Some(b) if BUILTIN_BALANCERS.contains(&balancer) => {
            format!(
                "volley itself used {g:.0}% CPU for load generation and {b:.0}% for the balancer"
            )
        }
        Some(b) => format!(
            "volley used {g:.0}% CPU for load generation and the balancer ({balancer}) {b:.0}%"
        ),
        None => {
            format!("volley used {g:.0}% CPU for load generation (the balancer was not measured)")
        }
    }
}

/// The findings about rows and a fit; `cores` is the machine's core count, `balancer` the
/// sweep's balancer ([`Sweep::balancer`]). Speedup, the plateau and the latency trend use only
/// the rows without a high error rate.
pub fn rows_findings(
    rows: &[SweepRow],
    usl: Option<&UslFit>,
    cores: u32,
    balancer: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    flagged(rows, &mut out);
    let all = rows;
    let usable: Vec<SweepRow> = rows.iter().filter(|r| !r.high_error_rate).cloned().collect();
    let rows = usable.as_slice();
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        out.push(
            "No instance count ran without a high error rate, so no throughput, speedup or \
             scalability fit can be given."
                .into(),
        );
        errors_and_restarts(all, &mut out);
        return out;
    };
    if rows.len() >= 2 {
        out.push(format!(
            "Going from {} to {} instance(s) changed throughput (successful responses) from {:.1} \
             to {:.1} req/s: {:.2}× \
             for {:.1}× the instances (scaling efficiency {}).",
            first.instances,
            last.instances,
            first.rps,
            last.rps,
            last.speedup.unwrap_or(0.0),
            last.instances as f64 / first.instances.max(1) as f64,
            pct(last.efficiency.unwrap_or(0.0))
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
    // The load generator and the balancer (in volley's process, or nginx beside it) must not
    // be the limit.
    if let Some(r) = rows.iter().max_by(|a, b| {
        a.generator_cpu_pct.unwrap_or(0.0).total_cmp(&b.generator_cpu_pct.unwrap_or(0.0))
    }) && let Some(g) = r.generator_cpu_pct
    {
        let b = r.balancer_cpu_pct.unwrap_or(0.0);
        if g + b >= 80.0 {
            out.push(format!(
                "{} at {} instances: on a machine this size the measurement competes with the \
                 service; treat the higher instance counts with caution.",
                generator_and_balancer(g, r.balancer_cpu_pct, balancer),
                r.instances
            ));
        } else if rows.iter().any(|r| r.balancer_cpu_pct.is_some()) {
            out.push(format!(
                "The balancer ({balancer}) used at most {:.0}% of a core and load generation \
                 {g:.0}%: neither limited the results.",
                rows.iter().filter_map(|r| r.balancer_cpu_pct).fold(0.0, f64::max)
            ));
        } else {
            out.push(format!(
                "Load generation used at most {g:.0}% of a core: it did not limit the results."
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
    errors_and_restarts(all, &mut out);
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
            (None, false) => s.push('.'),
        }
        out.push(s);
    } else {
        let counts = {
            let mut n: Vec<usize> = rows.iter().map(|r| r.instances).collect();
            n.dedup();
            n.len()
        };
        if (2..USL_MIN_COUNTS).contains(&counts) {
            out.push(format!(
                "No Universal Scalability Law fit: it needs at least {USL_MIN_COUNTS} instance \
                 counts without a high error rate, and there were {counts}."
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, rps: f64, cpu: f64) -> SweepRow {
        SweepRow { instances: n, runs: 1, rps, cpu_pct_per_instance: cpu, ..Default::default() }
    }

    fn with_speedups(mut rows: Vec<SweepRow>) -> Vec<SweepRow> {
        let base = rows.iter().find(|r| !r.high_error_rate).map(|r| (r.rps, r.instances));
        for r in rows.iter_mut().filter(|r| !r.high_error_rate) {
            let (b, n) = base.unwrap();
            r.speedup = Some(r.rps / b);
            r.efficiency = Some(r.rps / b / (r.instances as f64 / n as f64));
        }
        rows
    }

    /// Requests no instance is credited with are told apart: failures got no answer, but
    /// successful responses were answered without the backend header.
    #[test]
    fn unattributed_responses_are_told_from_failures() {
        let mut s = crate::fixture::sweep();
        let run = &mut s.sweep[2];
        let none = volley_metrics::sweep::NO_BACKEND;
        let lost = run.unattributed;
        assert!(lost > 0 && run.result.backends.iter().any(|b| b.backend == none));
        let text = sweep(&s).join("\n");
        assert!(text.contains(&format!("{lost} request(s) got no answer")), "{text}");
        assert!(!text.contains("carried no backend header"), "{text}");
        // 30 more responses, successful, arrived without the header.
        let run = &mut s.sweep[2];
        let b = run.result.backends.iter_mut().find(|b| b.backend == none).unwrap();
        b.requests += 30;
        run.unattributed += 30;
        let text = sweep(&s).join("\n");
        assert!(text.contains(&format!("{lost} request(s) got no answer")), "{text}");
        assert!(text.contains("30 successful response(s) carried no backend header"), "{text}");
    }

    #[test]
    fn findings_name_the_plateau() {
        let rows =
            with_speedups(vec![row(1, 100.0, 99.0), row(2, 190.0, 97.0), row(3, 195.0, 60.0)]);
        let text = rows_findings(&rows, None, 2, "round-robin").join("\n");
        assert!(text.contains("1.95×"), "{text}");
        assert!(text.contains("Beyond 2 instance(s) throughput grows only 2.6%"), "{text}");
        assert!(text.contains("fell from 97% to 60%"), "{text}");
        assert!(text.contains("3 instances on 2 core(s)"), "{text}");
        let text = rows_findings(&rows[..2], None, 2, "round-robin").join("\n");
        assert!(text.contains("needs at least 3 instance counts"), "no fit given: {text}");
        assert!(!text.contains("R²"), "{text}");
    }

    #[test]
    fn flagged_rows_are_named_and_skipped() {
        let mut bad = row(2, 3_430.0, 50.0);
        (bad.high_error_rate, bad.error_rate, bad.failures, bad.requests) =
            (true, 0.96, 82_324.0, 85_754.0);
        let rows = with_speedups(vec![row(1, 1_000.0, 95.0), bad]);
        let text = rows_findings(&rows, None, 2, "round-robin").join("\n");
        assert!(
            text.starts_with("2 instance(s): 96.0% of requests failed (82324 of 85754 per run)"),
            "{text}"
        );
        assert!(text.contains("is not used for speedup"), "{text}");
        assert!(!text.contains("Going from"), "no speedup from a flagged row: {text}");
        assert!(!text.contains("R²"), "{text}");
        let mut only = rows[1].clone();
        only.instances = 1;
        let text = rows_findings(&[only], None, 2, "round-robin").join("\n");
        assert!(text.contains("No instance count ran without a high error rate"), "{text}");
    }

    /// The finding names the balancer that ran: volley's own, or nginx beside it.
    #[test]
    fn the_generator_finding_names_the_real_balancer() {
        let mut busy = row(2, 190.0, 50.0);
        (busy.generator_cpu_pct, busy.balancer_cpu_pct) = (Some(70.0), Some(25.0));
        let rows = with_speedups(vec![row(1, 100.0, 50.0), busy]);
        let builtin = rows_findings(&rows, None, 2, "round-robin").join("\n");
        assert!(
            builtin.contains(
                "volley itself used 70% CPU for load generation and 25% for the balancer at 2 \
                 instances"
            ),
            "{builtin}"
        );
        let nginx = rows_findings(&rows, None, 2, "nginx").join("\n");
        assert!(
            nginx.contains(
                "volley used 70% CPU for load generation and the balancer (nginx) 25% at 2 \
                 instances"
            ),
            "{nginx}"
        );
        assert!(!nginx.contains("volley itself") && !nginx.contains("for the balancer"), "{nginx}");
        let mut quiet = rows.clone();
        (quiet[1].generator_cpu_pct, quiet[1].balancer_cpu_pct) = (Some(20.0), Some(9.0));
        let nginx = rows_findings(&quiet, None, 2, "nginx").join("\n");
        assert!(
            nginx
                .contains("The balancer (nginx) used at most 9% of a core and load generation 20%"),
            "{nginx}"
        );
        quiet[1].balancer_cpu_pct = None;
        let deployed = rows_findings(&quiet, None, 2, "external").join("\n");
        assert!(deployed.contains("Load generation used at most 20% of a core"), "{deployed}");
    }
}
