//! `volley scale`: a sweep of the demo service over 1 and 2 instances on its CPU-bound route,
//! the saved sweep (one entry per run with the full result), per-instance observation, and bad
//! input.

use std::time::Duration;

use crate::cluster::{CPU_HEAVY, MARK, unique_mark, wait_no_marked};
use crate::support::sweep::{DemoSweep, scale_demo};
use crate::support::{RUN_TIMEOUT, Spawned, volley, volley_command};

/// Steps of `/heavy` per request: a few milliseconds of CPU in a debug build.
pub const HEAVY: &str = "/heavy?n=300000";

#[test]
fn two_instances_beat_one_on_a_cpu_bound_route() {
    let _cpu = CPU_HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let DemoSweep { run, sweep, markdown, .. } = scale_demo(
        "scale",
        &[
            "--instances",
            "1,2",
            "--path",
            HEAVY,
            "-c",
            "6",
            "-d",
            "4s",
            "--warmup",
            "1s",
            "--generator-threads",
            "1",
            "--balancer-threads",
            "1",
        ],
        &[],
        Duration::from_secs(120),
    );
    assert_eq!(sweep.sweep.len(), 2);
    assert_eq!(sweep.rows.iter().map(|r| r.instances).collect::<Vec<_>>(), vec![1, 2]);
    let (one, two) = (&sweep.sweep[0], &sweep.sweep[1]);
    for run in [one, two] {
        assert_eq!(run.failures, 0, "{:?}", run.result.status_codes);
        assert!(run.requests > 20, "enough requests to compare: {}", run.requests);
        assert_eq!(run.rps, run.result.totals.rps);
        let server = run.result.server.as_ref().expect("server observation");
        assert_eq!(server.instances.len(), run.instances);
        for inst in &server.instances {
            assert!(!inst.samples.is_empty(), "{inst:?}");
            assert!(inst.cpu_pct_avg > 0.0 && inst.mem_bytes_max > 0, "{inst:?}");
        }
        assert!(server.balancer.is_some() && server.generator.is_some());
        assert!(run.other_cpu_pct.is_some(), "the machine's load is measured");
        // Every request was answered by an instance, and tallied by it.
        assert_eq!(run.served.iter().sum::<u64>(), run.requests, "{:?}", run.result.backends);
        assert_eq!(run.unattributed, 0);
    }
    assert!(two.served.iter().all(|&n| n > 0), "both instances served: {:?}", two.served);
    // The service's cost per request does not depend on how many copies run: requests per
    // CPU-second of the instances agree between the runs (the sampling is right).
    let per_cpu =
        |r: &volley_metrics::sweep::SweepRun| r.rps / (r.cpu_pct.iter().sum::<f64>() / 100.0);
    let (a, b) = (per_cpu(one), per_cpu(two));
    assert!((a / b - 1.0).abs() < 0.35, "requests per CPU-second: {a:.0} vs {b:.0}");
    let speedup = two.rps / one.rps;
    let busy = one.other_cpu_pct.unwrap_or(0.0).max(two.other_cpu_pct.unwrap_or(0.0));
    if busy < 40.0 {
        // With the two cores (nearly) to ourselves, a second single-threaded copy of a
        // CPU-bound service must show.
        assert!(speedup > 1.3, "2 instances should be clearly faster on 2 cores: {speedup:.2}×");
        assert!(
            one.cpu_pct[0] > 60.0,
            "one instance under load works most of a core: {one:?}",
            one = one.cpu_pct
        );
    } else {
        // Other work took the cores: the finding must say so instead.
        let text = sweep.analysis.findings.join("\n");
        assert!(text.contains("Other processes on this machine used"), "{text}");
        eprintln!(
            "scale test: machine busy ({busy:.0}% CPU of other processes): speedup {speedup:.2}× not asserted"
        );
    }
    assert!((sweep.rows[1].speedup.unwrap() - speedup).abs() < 1e-9);
    assert!(sweep.analysis.usl.is_none(), "two instance counts are not fitted");
    assert!(!sweep.analysis.findings.is_empty());

    // The terminal table and the Markdown report show the same rows.
    assert!(run.stdout.contains("CPU per instance"), "{}", run.streams());
    assert!(
        run.stdout.contains(&format!("{:.2}×", sweep.rows[1].speedup.unwrap())),
        "{}",
        run.streams()
    );
    assert!(markdown.contains("| instances | req/s |"), "{markdown}");
}

#[test]
fn bad_instance_list_is_a_usage_error() {
    let out = volley(&["scale", "--instances", "1,0", "--", "true"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains("at least 1"), "{}", out.streams());
}

#[test]
fn a_service_that_cannot_start_fails_once_with_its_output() {
    let mark = unique_mark("scale-crash");
    let mut cmd = volley_command(&[
        "scale",
        "--instances",
        "1,2",
        "-d",
        "1s",
        "--",
        "sh",
        "-c",
        "echo no config >&2; exit 2",
    ]);
    cmd.env(MARK, &mark);
    let out = Spawned::start(cmd).wait(RUN_TIMEOUT);
    out.expect_code(1);
    assert!(out.stderr.contains("with 1 instance(s)"), "{}", out.streams());
    assert!(out.stderr.contains("no config"), "{}", out.streams());
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty());
}

#[test]
fn restarts_during_a_run_are_counted_and_reported() {
    let DemoSweep { sweep, .. } = scale_demo(
        "scale-restart",
        &["--instances", "1", "-n", "200", "--rps", "100", "--warmup", "0s"],
        &["--exit-after", "40"],
        Duration::from_secs(90),
    );
    let r = &sweep.sweep[0];
    // 200 requests over 2 s, an exit every 40 responses: restarted at least twice (each
    // restart waits longer: 100 ms, 200 ms, ...; requests meanwhile get the balancer's 502).
    assert_eq!(r.requests, 200);
    assert!(r.restarts >= 2, "{:?}", (r.restarts, &r.events));
    assert!(r.events.len() as u64 >= r.restarts);
    assert_eq!(sweep.rows[0].restarts, r.restarts);
    assert!(
        r.events.iter().any(|e| e.contains("instance 1") && e.contains("exited")),
        "{:?}",
        r.events
    );
    // Whatever failed while the instance was down is counted, never lost: 502s from the
    // balancer carry no X-Served-By.
    let t = &r.result.totals;
    assert_eq!(t.requests, t.succeeded + t.failed);
    let bad_gateway = r.result.status_codes.get("502").copied().unwrap_or(0);
    assert_eq!(r.served.iter().sum::<u64>() + r.unattributed, t.requests);
    assert!(r.unattributed >= bad_gateway, "{:?}", r.result.status_codes);
    let text = sweep.analysis.findings.join("\n");
    assert!(text.contains("restarted instances"), "{text}");
}
