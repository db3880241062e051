//! `--balancer nginx`: `volley scale` and `volley cluster` in front of the demo service with
//! nginx from PATH (nginx-light), configured, supervised and cleaned up by volley; requests
//! tallied per backend from nginx's `X-Served-By: $upstream_addr`, nginx's CPU measured.
//! Skipped with a message when nginx is not installed (`.ci/run` installs it).

use std::time::Duration;

use crate::cluster::{MARK, unique_mark, wait_no_marked};
use crate::support::sweep::scale_demo;
use crate::support::{Spawned, VOLLEY, assert_accounting, volley_command};

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
    let done = scale_demo(
        "scale-nginx",
        &[
            "--instances",
            "1,2",
            "--balancer",
            "nginx",
            "--path",
            "/",
            "-c",
            "4",
            "-n",
            // Enough that nginx's own CPU time reaches a clock tick (10 ms): at 600 requests
            // it often measured 0.
            "4000",
            "--warmup",
            "0s",
            "--generator-threads",
            "1",
        ],
        &[],
        Duration::from_secs(90),
    );
    let (sweep, markdown) = (&done.sweep, &done.markdown);
    assert_eq!(sweep.balancer, "nginx");
    assert_eq!(sweep.sweep.len(), 2);
    for r in &sweep.sweep {
        assert_accounting(&r.result);
        assert_eq!((r.requests, r.failures), (4000, 0), "{:?}", r.result.status_codes);
        // One tally per instance, keyed by nginx's $upstream_addr, adding up to the requests.
        assert_eq!(r.backend_names.len(), r.instances);
        assert!(r.backend_names.iter().all(|b| b.starts_with("127.0.0.1:")), "{r:?}");
        assert_eq!(r.served.iter().sum::<u64>(), 4000, "{:?}", r.result.backends);
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
    assert!(markdown.contains("nginx"), "{markdown}");
    // The findings name nginx as the balancer, not volley.
    let findings = sweep.analysis.findings.join("\n");
    assert!(
        findings.contains("the balancer (nginx)") || findings.contains("The balancer (nginx)"),
        "{findings}"
    );
    assert!(!findings.contains("for the balancer"), "{findings}");
    // Seed 003's comparison, with a column per instance count and the figures of the runs.
    assert!(markdown.contains("| metric | 1 instance | 2 instances |"), "{markdown}");
    // Counts as the report writes them, with thousands separators.
    let grouped = |n: u64| {
        let d = n.to_string();
        let mut out = String::new();
        for (i, c) in d.chars().enumerate() {
            if i > 0 && (d.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let responses: Vec<String> =
        sweep.sweep.iter().map(|r| grouped(r.result.totals.responses)).collect();
    assert!(markdown.contains(&format!("| responses | {} |", responses.join(" | "))), "{markdown}");
    // `volley report` renders the saved sweep: the same Markdown, and the HTML page.
    let json = done.json_path();
    let json = json.to_str().unwrap();
    let again =
        crate::support::volley(&["report", json, "--format", "md"], crate::support::RUN_TIMEOUT);
    again.expect_code(0);
    assert_eq!(&again.stdout, markdown);
    let html = done.dir.path().join("again.html");
    crate::support::volley(
        &["report", json, "-o", html.to_str().unwrap()],
        crate::support::RUN_TIMEOUT,
    )
    .expect_code(0);
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("<h2>Comparison per instance count</h2>"), "{html}");
    assert!(html.contains("id=\"throughput\"") && html.contains("id=\"latency\""), "{html}");
    let csv =
        crate::support::volley(&["report", json, "--format", "csv"], crate::support::RUN_TIMEOUT);
    csv.expect_code(2);
    assert!(csv.stderr.contains("is a sweep: it renders as md, html or json"), "{}", csv.stderr);
    assert!(markdown.contains(&sweep.sweep[1].backend_names[0]), "{markdown}");
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
