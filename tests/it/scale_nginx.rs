//! `--balancer nginx`: `volley scale` and `volley cluster` in front of the demo service with
//! nginx from PATH (nginx-light), configured, supervised and cleaned up by volley; requests
//! tallied per backend from nginx's `X-Served-By: $upstream_addr`, nginx's CPU measured.
//! Skipped with a message when nginx is not installed (`.ci/run` installs it).

use std::time::Duration;

use volley_metrics::sweep::Sweep;

use crate::cluster::{MARK, unique_mark, wait_no_marked};
use crate::support::{Spawned, VOLLEY, assert_accounting, temp_dir, volley_command};

pub fn nginx_available() -> bool {
    if volley_harness::nginx::available() {
        return true;
    }
    eprintln!("skipped: nginx is not on PATH (apt-get install -y nginx-light)");
    false
}

#[test]
fn scale_through_nginx_tallies_each_backend() {
    if !nginx_available() {
        return;
    }
    let dir = temp_dir();
    let out = dir.path().join("scale.json");
    let md = dir.path().join("scale.md");
    let mark = unique_mark("scale-nginx");
    let mut cmd = volley_command(&[
        "scale",
        "--instances",
        "1,2",
        "--balancer",
        "nginx",
        "--path",
        "/",
        "-c",
        "4",
        "-n",
        "600",
        "--warmup",
        "0s",
        "--generator-threads",
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
    let run = Spawned::start(cmd).wait(Duration::from_secs(90));
    run.expect_code(0);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "instances left behind");
    let sweep: Sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(sweep.balancer, "nginx");
    assert_eq!(sweep.sweep.len(), 2);
    for r in &sweep.sweep {
        assert_accounting(&r.result);
        assert_eq!((r.requests, r.failures), (600, 0), "{:?}", r.result.status_codes);
        // One tally per instance, keyed by nginx's $upstream_addr, adding up to the requests.
        assert_eq!(r.backend_names.len(), r.instances);
        assert!(r.backend_names.iter().all(|b| b.starts_with("127.0.0.1:")), "{r:?}");
        assert_eq!(r.served.iter().sum::<u64>(), 600, "{:?}", r.result.backends);
        assert_eq!(r.unattributed, 0);
        assert!(r.served.iter().all(|&n| n > 0), "every backend served: {:?}", r.served);
        // nginx's own processes were measured as the balancer.
        let server = r.result.server.as_ref().unwrap();
        let balancer = server.balancer.as_ref().expect("nginx observed");
        assert!(!balancer.pids.is_empty() && balancer.mem_bytes_max > 0, "{balancer:?}");
        assert!(r.balancer_cpu_pct.unwrap() > 0.0);
    }
    // Round-robin: two instances split the requests evenly.
    let two = &sweep.sweep[1].served;
    assert!(two[0].abs_diff(two[1]) <= 60, "{two:?}");
    let report = std::fs::read_to_string(&md).unwrap();
    assert!(report.contains("nginx"), "{report}");
    assert!(report.contains(&sweep.sweep[1].backend_names[0]), "{report}");
}

#[test]
fn cluster_with_nginx_serves_and_stops() {
    if !nginx_available() {
        return;
    }
    let mark = unique_mark("cluster-nginx");
    let mut cmd = volley_command(&[
        "cluster",
        "--instances",
        "2",
        "--balancer",
        "nginx",
        "--",
        VOLLEY,
        "serve-demo",
        "--threads",
        "1",
        "--port",
        "{port}",
    ]);
    cmd.env(MARK, &mark);
    let (child, url) = Spawned::start_listening(cmd, Duration::from_secs(30));
    let out = crate::support::volley(
        &[&url, "-n", "40", "-c", "2", "--backend-header", "X-Served-By", "--json", "-q"],
        crate::support::RUN_TIMEOUT,
    );
    out.expect_code(0);
    let r = crate::support::parse_result(&out.stdout);
    assert_eq!(r.backends.len(), 2, "{:?}", r.backends);
    assert_eq!(r.backends.iter().map(|b| b.requests).sum::<u64>(), 40);
    assert!(r.backends.iter().all(|b| b.requests >= 10), "round-robin: {:?}", r.backends);
    child.signal(libc::SIGTERM);
    let done = child.wait(Duration::from_secs(20));
    done.expect_code(143);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "left behind");
}
