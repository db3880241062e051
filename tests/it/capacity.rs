//! `volley capacity`: searches against servers of known capacity (a single worker with a
//! sleep-based service time; a server whose error rate jumps above a rate); the answer within
//! 10% of the truth, the bound SLO named, the saved search (every step's full result, counts
//! that add up), the reports, early stop on overload, and the exit code when even the start
//! rate fails.

use std::time::Duration;

use volley_metrics::capacity::{CapacityResult, Conclusion, Reason};

use crate::support::capacity_server::{QueueServer, RateLimitServer};
use crate::support::{assert_accounting, temp_dir, volley};

const TIMEOUT: Duration = Duration::from_secs(120);

fn read(path: &std::path::Path) -> CapacityResult {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_steps(c: &CapacityResult) {
    assert!(!c.steps.is_empty());
    for s in &c.steps {
        assert_accounting(&s.result);
        let t = &s.result.totals;
        assert_eq!(t.requests, t.succeeded + t.failed);
        assert_eq!((s.figures.requests, s.figures.failed), (t.requests, t.failed));
        assert_eq!(s.good, s.reasons.is_empty());
    }
}

#[test]
fn finds_the_capacity_of_a_single_worker_and_names_the_latency_slo() {
    // 20 ms per request, one at a time: 50 requests/s.
    let server = QueueServer::start(Duration::from_millis(20));
    let dir = temp_dir();
    let out = dir.path().join("capacity.json");
    let md = dir.path().join("capacity.md");
    let html = dir.path().join("capacity.html");
    let o = volley(
        &[
            "capacity",
            &server.url(),
            "--slo",
            "http_req_duration: p(95)<100",
            "--slo",
            "http_req_failed: rate<0.01",
            "--start",
            "10",
            "--step",
            "2s",
            "--settle",
            "0s",
            "-o",
            out.to_str().unwrap(),
            "--report",
            md.to_str().unwrap(),
        ],
        TIMEOUT,
    );
    o.expect_code(0);
    let c = read(&out);
    check_steps(&c);
    assert_eq!(c.conclusion, Conclusion::Found, "{}", o.streams());
    let cap = c.capacity_rps.unwrap();
    assert!((45.0..=55.0).contains(&cap), "capacity {cap}, truth 50\n{}", o.stdout);
    let upper = c.upper_rps.unwrap();
    assert!(upper <= cap * 1.05 + 1e-9, "[{cap}, {upper})");
    // Above 50/s the queue grows: the latency SLO (or the shortfall) bounds the capacity.
    assert!(
        c.bound_by
            .iter()
            .any(|r| matches!(r, Reason::Slo { expression, .. } if expression == "p(95)<100")
                || matches!(r, Reason::Behind { .. })),
        "{:?}",
        c.bound_by
    );
    assert!(o.stdout.contains("Capacity:"), "{}", o.stdout);
    let report = std::fs::read_to_string(&md).unwrap();
    assert!(report.contains(&format!("{cap:.2}")), "{report}");
    // The HTML report of the saved search, with its knee charts.
    let o2 = volley(
        &[
            "capacity",
            &server.url(),
            "--max",
            "10",
            "--step",
            "1s",
            "--settle",
            "0s",
            "-q",
            "--report",
            html.to_str().unwrap(),
        ],
        TIMEOUT,
    );
    o2.expect_code(0);
    let h = std::fs::read_to_string(&html).unwrap();
    assert!(h.contains("<svg") && h.contains("at least 10.00"), "{h}");
}

#[test]
fn an_error_rate_jump_bounds_the_capacity_and_overload_stops_steps_early() {
    // 100 per second succeed, the rest get 500.
    let server = RateLimitServer::start(100);
    let dir = temp_dir();
    let out = dir.path().join("capacity.json");
    let o = volley(
        &[
            "capacity",
            &server.url(),
            "--slo",
            "http_req_failed: rate<0.01",
            "--start",
            "20",
            "--factor",
            "4",
            "--step",
            "4s",
            "--settle",
            "0s",
            "-o",
            out.to_str().unwrap(),
            "-q",
        ],
        TIMEOUT,
    );
    o.expect_code(0);
    let c = read(&out);
    check_steps(&c);
    let cap = c.capacity_rps.unwrap();
    assert!((90.0..=110.0).contains(&cap), "capacity {cap}, truth 100: {}", o.stdout);
    assert!(
        c.bound_by
            .iter()
            .any(|r| matches!(r, Reason::Slo { metric, .. } if metric == "http_req_failed")),
        "{:?}",
        c.bound_by
    );
    // 320/s against a limit of 100: two thirds fail, the guard stops that step early.
    let over = c.steps.iter().find(|s| s.figures.offered_rps == 320.0).expect("a 320/s step");
    assert!(
        over.overloaded && over.reasons.iter().any(|r| matches!(r, Reason::Overloaded { .. })),
        "{:?}",
        over.reasons
    );
    assert!(over.result.duration_s < 3.9, "stopped before its 4 s: {}", over.result.duration_s);
    assert!(c.stopped_early);
}

#[test]
fn a_start_rate_that_already_fails_exits_99() {
    let server = QueueServer::start(Duration::from_millis(100));
    let dir = temp_dir();
    let out = dir.path().join("capacity.json");
    let o = volley(
        &[
            "capacity",
            &server.url(),
            "--slo",
            "http_req_duration: p(95)<50",
            "--step",
            "1s",
            "--settle",
            "0s",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ],
        TIMEOUT,
    );
    o.expect_code(99);
    let c = read(&out);
    assert_eq!((c.conclusion, c.capacity_rps, c.steps.len()), (Conclusion::BelowStart, None, 1));
}

#[test]
fn bad_slos_and_flags_are_usage_errors() {
    for args in [
        &["capacity", "http://127.0.0.1:1/", "--slo", "http_req_duraton: p(95)<1"][..],
        &["capacity", "http://127.0.0.1:1/", "--slo", "p(95)<1"],
        &["capacity", "http://127.0.0.1:1/", "--rps", "10"],
        &["capacity", "http://127.0.0.1:1/", "--start", "0"],
        &["capacity", "http://127.0.0.1:1/", "--precision", "lots"],
    ] {
        let o = volley(args, TIMEOUT);
        o.expect_code(2);
        assert!(o.stderr.contains("hint") || o.stderr.contains("error"), "{args:?}: {}", o.stderr);
    }
    let o =
        volley(&["capacity", "http://127.0.0.1:1/", "--slo", "http_req_duraton: p(95)<1"], TIMEOUT);
    assert!(o.stderr.contains("did you mean `http_req_duration`"), "{}", o.stderr);
}

/// Load flags are quick mode's: with `--plan`, a flag the plan run would drop is refused by
/// name (in `capacity` and in `scale`), not ignored; `-c` (the VU cap) and `--backend-header`
/// apply to a plan too.
#[test]
fn load_flags_a_plan_run_would_drop_are_refused_by_name() {
    let dir = temp_dir();
    let plan = dir.path().join("p.yaml");
    std::fs::write(
        &plan,
        "base_url: http://127.0.0.1:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    \
         duration: 1s\n    flows:\n      - steps:\n          - get: /\n",
    )
    .unwrap();
    let plan = plan.to_str().unwrap();
    let slo = "http_req_duration: p(95)<100";
    let o =
        volley(&["capacity", "--plan", plan, "--slo", slo, "-m", "POST", "-H", "a: b"], TIMEOUT);
    o.expect_code(2);
    assert!(o.stderr.contains("-m, -H do not apply with --plan"), "{}", o.streams());
    assert!(o.stderr.contains("hint: set them in the plan"), "{}", o.streams());
    let scale = ["scale", "--instances", "1", "--plan", plan, "-c", "7", "--timeout", "3s"];
    let o = volley(&[&scale[..], &["--backend-header", "x-b", "--", "true"]].concat(), TIMEOUT);
    o.expect_code(2);
    assert!(o.stderr.contains("-c, --timeout do not apply with --plan"), "{}", o.streams());
    assert!(!o.stderr.contains("--backend-header"), "{}", o.streams());
    // A capacity sweep caps each step's VUs with -c: kept (the service `false` then fails).
    let sweep =
        ["scale", "--capacity", "--slo", slo, "--instances", "1", "--plan", plan, "-c", "7"];
    let o = volley(&[&sweep[..], &["--", "false"]].concat(), TIMEOUT);
    assert!(!o.stderr.contains("apply with --plan"), "{}", o.streams());
}
