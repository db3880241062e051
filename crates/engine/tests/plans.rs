//! Plans through the engine: weighted flows, checks, extraction chains, executors, graceful
//! stop, several scenarios, thresholds. Real local server, bounded in time.

mod support;

use std::time::{Duration, Instant};

use support::{Mode, Server, plan, run};

#[test]
fn login_token_chain_and_checks() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
vus: 2
iterations: 10
steps:
  - post: /login
    name: login
    form: { user: alice }
    extract:
      token: { json: $.token }
    check: { status: 200 }
  - get: /me
    name: me
    headers: { Authorization: "Bearer {{ token }}" }
    check: { status: 200, body_contains: me }
"#,
        s.port,
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests, 20);
    assert_eq!(r.status_codes.get("401"), None, "{:?}", r.status_codes);
    assert_eq!(r.totals.iterations, 10);
    assert!(r.checks.iter().all(|c| c.passes == 10 && c.fails == 0), "{:?}", r.checks);
    let names: Vec<_> = r.endpoints.iter().map(|e| (e.method.as_str(), e.name.as_str())).collect();
    assert_eq!(names, [("POST", "login"), ("GET", "me")]);
}

#[test]
fn failed_checks_are_counted_without_failing_requests() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
vus: 1
iterations: 5
steps:
  - get: /me
    check: { status: 200 }
"#,
        s.port,
    );
    let r = run(&spec, 1);
    r.totals.check().unwrap();
    assert_eq!(r.checks[0].fails, 5);
    assert_eq!(r.status_codes["401"], 5);
    assert_eq!(r.metrics["checks"].values["rate"], 0.0);
}

#[test]
fn weighted_flows_split_iterations() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
vus: 4
iterations: 2000
flows:
  - name: index
    weight: 20
    steps: [ { get: /a, name: a } ]
  - name: predict
    weight: 80
    steps: [ { get: /b, name: b } ]
thresholds:
  "http_reqs{flow:index}": ["count>300"]
  "http_reqs{name:b}": ["count>1500"]
"#,
        s.port,
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    let a = r.endpoints.iter().find(|e| e.name == "a").unwrap().requests as f64;
    let share = a / 2000.0;
    assert!((share - 0.2).abs() < 0.03, "{share}");
    assert!(r.thresholds.iter().all(|t| t.ok), "{:?}", r.thresholds);
    assert_eq!(r.metrics["http_reqs{flow:index}"].values["count"], a);
}

#[test]
fn ramping_vus_follow_the_stages() {
    let s = Server::start(Mode::Ok { delay_ms: 20 });
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  ramp:
    executor: ramping-vus
    start_vus: 0
    stages:
      - { duration: 2s, target: 8 }
      - { duration: 1s, target: 8 }
    graceful_ramp_down: 1s
    flows:
      - name: f
        steps: [ { get: / } ]
"#,
        s.port,
    );
    let t0 = Instant::now();
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let vus: Vec<u64> = r.timeseries.iter().map(|p| p.vus).collect();
    // Max VUs during each second: 4 by t = 1 s, 8 from t = 2 s.
    assert!((3..=5).contains(&vus[0]), "{vus:?}");
    assert_eq!(vus[1], 8, "{vus:?}");
    assert_eq!(vus[2], 8, "{vus:?}");
    assert_eq!(r.metrics["vus_max"].values["value"], 8.0);
    // Fewer requests in the ramp-up second than in the full one.
    assert!(r.timeseries[0].requests * 3 < r.timeseries[2].requests * 2, "{:?}", r.timeseries);
}

#[test]
fn graceful_stop_interrupts_long_iterations() {
    let s = Server::start(Mode::Ok { delay_ms: 1500 });
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  slow:
    executor: constant-vus
    vus: 3
    duration: 1s
    graceful_stop: 200ms
    flows:
      - name: f
        steps: [ { get: /, timeout: 10s } ]
"#,
        s.port,
    );
    let t0 = Instant::now();
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    // Each VU's first request (1.5 s) outlives the scenario (1 s) plus its graceful stop.
    assert!(t0.elapsed() < Duration::from_millis(1800), "{:?}", t0.elapsed());
    assert_eq!(r.totals.interrupted_iterations, 3);
    assert_eq!(r.totals.iterations, 0);
    // Interrupted requests are not counted (as in k6).
    assert_eq!(r.totals.requests, 0);
}

#[test]
fn scenarios_start_at_their_start_time_and_per_vu_iterations_are_exact() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  first:
    executor: per-vu-iterations
    vus: 3
    iterations: 7
    flows:
      - name: one
        steps: [ { get: /one, name: one } ]
  later:
    executor: shared-iterations
    vus: 2
    iterations: 5
    start_time: 1s
    flows:
      - name: two
        steps: [ { get: /two, name: two } ]
thresholds:
  "http_reqs{scenario:later}": ["count==5"]
"#,
        s.port,
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    let one = r.endpoints.iter().find(|e| e.name == "one").unwrap();
    assert_eq!(one.requests, 21);
    assert_eq!(r.totals.requests, 26);
    assert!(r.duration_s >= 1.0, "{}", r.duration_s);
    assert_eq!(r.timeseries.len(), 2, "{:?}", r.timeseries);
    assert_eq!(r.timeseries[1].requests, 5);
    assert!(r.thresholds[0].ok, "{:?}", r.thresholds);
}

#[test]
fn abort_on_fail_stops_the_run() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
vus: 2
duration: 20s
steps:
  - get: /me
thresholds:
  http_req_failed:
    - threshold: "rate<0.5"
      abortOnFail: true
"#,
        s.port,
    );
    let t0 = Instant::now();
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(r.aborted_by.as_deref(), Some("http_req_failed: rate<0.5"));
    assert!(!r.thresholds[0].ok);
    assert_eq!(r.thresholds[0].observed, Some(1.0));
    assert!(!r.interrupted);
}

#[test]
fn backend_header_is_tallied() {
    let s = Server::start(Mode::App);
    let mut spec = plan(
        "base_url: http://127.0.0.1:{port}\nvus: 2\niterations: 20\nsteps: [ { get: / } ]\n",
        s.port,
    );
    spec.http.backend_header = Some("X-Served-By".into());
    let r = run(&spec, 2);
    assert_eq!(r.backends.len(), 1);
    assert_eq!(r.backends[0].backend, "app");
    assert_eq!(r.backends[0].requests, 20);
}

#[test]
fn cookies_set_by_a_response_are_sent_by_later_steps() {
    let s = Server::start(Mode::App);
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  cookies:
    # Per VU, so both VUs iterate (shared iterations may all go to the faster one).
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    steps:
      - get: /whoami
        name: before
      - post: /login
      - get: /whoami
        name: after
        check: { status: 200 }
"#,
        s.port,
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert!(r.checks[0].fails == 0 && r.checks[0].passes == 6, "{:?}", r.checks);
    // Each VU's very first request had no cookie yet; later iterations carry it.
    let before = r.endpoints.iter().find(|e| e.name == "before").unwrap();
    assert_eq!(before.status_codes.get("401"), Some(&2), "{:?}", before.status_codes);
}

#[test]
fn ramping_arrival_rate_starts_the_integral_of_its_stages() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  arrivals:
    executor: ramping-arrival-rate
    start_rate: 0
    pre_allocated_vus: 5
    max_vus: 20
    stages:
      - { duration: 1s, target: 100 }
      - { duration: 1s, target: 100 }
    flows:
      - name: f
        steps: [ { get: / } ]
"#,
        s.port,
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests + r.totals.dropped, 150, "{:?}", r.totals);
    assert_eq!(r.totals.dropped, 0);
    let om = r.open_model.as_ref().unwrap();
    assert!((om.target_rps - 75.0).abs() < 1e-9, "{om:?}");
    // 50 in the ramp second, 100 in the plateau (± one slot on the boundary).
    let per_s: Vec<u64> = r.timeseries.iter().map(|p| p.requests).collect();
    assert!((49..=51).contains(&per_s[0]) && (99..=101).contains(&per_s[1]), "{per_s:?}");
}

#[test]
fn ramp_down_interrupts_after_graceful_ramp_down() {
    let s = Server::start(Mode::Ok { delay_ms: 900 });
    let spec = plan(
        r#"
base_url: http://127.0.0.1:{port}
scenarios:
  ramp:
    executor: ramping-vus
    start_vus: 0
    stages:
      - { duration: 500ms, target: 4 }
      - { duration: 1s, target: 0 }
    graceful_ramp_down: 100ms
    flows:
      - name: f
        steps: [ { get: / } ]
"#,
        s.port,
    );
    let t0 = Instant::now();
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    // VU n (1-based) is active while the ramp is at least n: VU 4 only at the instant
    // t = 0.5 s, so it never runs. VUs 3 and 2 leave at 0.75 s and 1 s, before their first
    // 0.9 s iteration ends, and are cut 0.1 s later. VU 1 completes one iteration (0.125 s to
    // 1.025 s) and its second is cut at 1.35 s. The 30 s graceful stop never applies.
    assert!(t0.elapsed() < Duration::from_millis(2500), "{:?}", t0.elapsed());
    assert_eq!(r.totals.iterations, 1, "{:?}", r.totals);
    assert_eq!(r.totals.interrupted_iterations, 3, "{:?}", r.totals);
    assert_eq!(r.totals.max_connections, 3, "{:?}", r.totals);
    assert!(r.duration_s >= 1.3 && r.duration_s < 1.6, "{}", r.duration_s);
}
