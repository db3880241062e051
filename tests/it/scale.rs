//! `volley scale`: a sweep of the demo service over 1 and 2 instances on its CPU-bound route,
//! the saved sweep (one entry per run with the full result), per-instance observation, and bad
//! input.

use std::time::Duration;

use volley_metrics::sweep::Sweep;

use crate::cluster::{MARK, unique_mark, wait_no_marked};
use crate::support::{RUN_TIMEOUT, Spawned, VOLLEY, temp_dir, volley, volley_command};

/// Steps of `/heavy` per request: a few milliseconds of CPU in a debug build.
pub const HEAVY: &str = "/heavy?n=300000";

#[test]
fn two_instances_beat_one_on_a_cpu_bound_route() {
    let dir = temp_dir();
    let out = dir.path().join("scale.json");
    let md = dir.path().join("scale.md");
    let mark = unique_mark("scale");
    let mut cmd = volley_command(&[
        "scale",
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
        "-o",
        out.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
        "--",
        VOLLEY,
        "serve-demo",
        "--threads",
        "1",
        "--port",
        "{port}",
    ]);
    cmd.env(MARK, &mark);
    let run = Spawned::start(cmd).wait(Duration::from_secs(120));
    run.expect_code(0);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "instances left behind");

    let sweep: Sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
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
            // A single-threaded CPU-bound service under load works about one core.
            assert!(inst.cpu_pct_avg > 40.0, "{inst:?}");
            assert!(inst.mem_bytes_max > 0);
        }
        assert!(server.balancer.is_some() && server.generator.is_some());
        // Every request was answered by an instance, and tallied by it.
        assert_eq!(run.served.iter().sum::<u64>(), run.requests, "{:?}", run.result.backends);
        assert_eq!(run.unattributed, 0);
    }
    assert!(two.served.iter().all(|&n| n > 0), "both instances served: {:?}", two.served);
    let speedup = two.rps / one.rps;
    assert!(speedup > 1.3, "2 instances should be clearly faster on 2 cores: {speedup:.2}×");
    assert!((sweep.rows[1].speedup - speedup).abs() < 1e-9);
    assert!(sweep.analysis.usl.is_some());
    assert!(!sweep.analysis.findings.is_empty());

    // The terminal table and the Markdown report show the same rows.
    assert!(run.stdout.contains("CPU per instance"), "{}", run.streams());
    assert!(run.stdout.contains(&format!("{:.2}×", sweep.rows[1].speedup)), "{}", run.streams());
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("| instances | req/s |"), "{text}");
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
