//! The engine against real local servers that behave well and badly: exact counts, latency,
//! every failure kind, the open model, stopping. Loopback only, port 0, bounded in time.

mod support;

use std::time::{Duration, Instant};

use support::{Mode, Server, quick_spec, run};
use volley_metrics::FailureKind;
use volley_plan::{Executor, Stage};

fn shared(vus: u32, n: u64) -> Executor {
    Executor::SharedIterations { vus, iterations: n, max_duration: Duration::from_secs(60) }
}

#[test]
fn sends_exactly_n_requests_and_counts_add_up() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let r = run(&quick_spec(&s.url("/x"), shared(10, 1000)), 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests, 1000);
    assert_eq!(r.totals.responses, 1000);
    assert_eq!(r.totals.succeeded, 1000);
    assert_eq!(r.status_codes["200"], 1000);
    assert_eq!(r.totals.iterations, 1000);
    assert_eq!(s.requests(), 1000);
    assert_eq!(r.metrics["http_reqs"].values["count"], 1000.0);
    assert_eq!(r.metrics["http_req_failed"].values["rate"], 0.0);
    assert_eq!(r.timeseries.iter().map(|p| p.requests).sum::<u64>(), 1000);
    assert_eq!(r.endpoints.len(), 1);
    assert_eq!(r.endpoints[0].requests, 1000);
    // Keep-alive: one connection per VU.
    assert_eq!(s.connections(), 10);
    assert_eq!(r.totals.max_connections, 10);
    // The server's 2-byte body plus headers, and our request line plus headers.
    assert!(r.totals.bytes_received >= 1000 * 40, "{}", r.totals.bytes_received);
    assert!(r.totals.bytes_sent >= 1000 * 30, "{}", r.totals.bytes_sent);
    assert!(r.histograms.contains_key("http_req_duration{name:/x}"));
}

#[test]
fn latency_of_a_fixed_delay() {
    let s = Server::start(Mode::Ok { delay_ms: 50 });
    let r = run(&quick_spec(&s.url("/"), shared(5, 50)), 2);
    r.totals.check().unwrap();
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["med"] >= 50.0 && d["med"] <= 55.0, "{d:?}");
    assert!(d["min"] >= 50.0, "{d:?}");
    let w = &r.metrics["http_req_waiting"].values;
    assert!(w["med"] >= 49.0, "{w:?}");
}

#[test]
fn no_keepalive_opens_a_connection_per_request() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let mut spec = quick_spec(&s.url("/"), shared(4, 100));
    spec.http.keepalive = false;
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.responses, 100);
    assert_eq!(s.connections(), 100);
    assert_eq!(r.metrics["http_req_connecting"].values["count"], 100.0);
}

fn failures_of(mode: Mode, timeout: Duration) -> volley_metrics::RunResult {
    let s = Server::start(mode);
    let mut spec = quick_spec(&s.url("/"), shared(3, 30));
    spec.http.timeout = timeout;
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests, 30);
    r
}

#[test]
fn each_misbehaviour_is_its_own_failure_kind() {
    let cases = [
        (Mode::Reset, FailureKind::Reset),
        (Mode::Garbage, FailureKind::Malformed),
        (Mode::Truncated, FailureKind::Closed),
        (Mode::EarlyClose, FailureKind::Closed),
    ];
    for (mode, kind) in cases {
        let r = failures_of(mode, Duration::from_secs(10));
        assert_eq!(r.totals.transport_failures, 30, "{mode:?}: {:?}", r.failures);
        assert_eq!(r.failures.get(kind.as_str()), Some(&30), "{mode:?}: {:?}", r.failures);
    }
}

#[test]
fn a_silent_server_times_out() {
    let t0 = Instant::now();
    let r = failures_of(Mode::Hang, Duration::from_millis(200));
    assert_eq!(r.failures["timeout"], 30);
    // 10 rounds of 3 parallel timeouts of 0.2 s.
    assert!(t0.elapsed() < Duration::from_secs(5));
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["min"] >= 199.0, "{d:?}");
}

#[test]
fn a_refusing_target_ends_quickly_with_every_failure_counted() {
    let port = support::closed_port();
    let t0 = Instant::now();
    let spec = quick_spec(&format!("http://127.0.0.1:{port}/"), shared(10, 500));
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests, 500);
    assert_eq!(r.failures["refused"], 500);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn dns_failure_is_a_setup_error() {
    let spec = quick_spec("http://no-such-host.invalid/", shared(1, 1));
    let e = volley_engine::run(&spec, Default::default()).unwrap_err();
    assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
}

#[test]
fn open_model_keeps_the_rate_and_counts_dropped() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let e = Executor::ConstantArrivalRate {
        rate: 400.0,
        duration: Duration::from_secs(1),
        pre_allocated_vus: 10,
        max_vus: 50,
        max_iterations: None,
    };
    let r = run(&quick_spec(&s.url("/"), e), 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests, 400);
    assert_eq!(r.totals.dropped, 0);
    let om = r.open_model.as_ref().unwrap();
    assert!((om.achieved_rps - 400.0).abs() < 8.0, "{om:?}");
    assert_eq!(om.target_rps, 400.0);
    assert!(om.schedule_lag.p99 < 20.0, "{om:?}");

    // One VU in flight at most against a 50 ms server: most slots find it busy.
    let slow = Server::start(Mode::Ok { delay_ms: 50 });
    let e = Executor::ConstantArrivalRate {
        rate: 100.0,
        duration: Duration::from_secs(1),
        pre_allocated_vus: 1,
        max_vus: 1,
        max_iterations: None,
    };
    let r = run(&quick_spec(&slow.url("/"), e), 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.requests + r.totals.dropped, 100, "{:?}", r.totals);
    assert!(r.totals.dropped >= 70, "{:?}", r.totals);
    assert_eq!(r.metrics["dropped_iterations"].values["count"], r.totals.dropped as f64);
}

#[test]
fn open_model_shows_a_stall_that_the_closed_model_hides() {
    // Every response in the first 0.5 s is held until t = 0.5 s.
    let s = Server::start(Mode::StallUntil { ms: 500 });
    let e = Executor::ConstantArrivalRate {
        rate: 200.0,
        duration: Duration::from_secs(2),
        pre_allocated_vus: 10,
        max_vus: 200,
        max_iterations: None,
    };
    let r = run(&quick_spec(&s.url("/"), e), 1);
    r.totals.check().unwrap();
    let om = r.open_model.as_ref().unwrap();
    let d = &r.metrics["http_req_duration"].values;
    // About a quarter of the requests were scheduled during the stall and waited for it.
    assert_eq!(om.dropped, 0);
    assert!(d["p(90)"] >= 100.0, "{d:?} {om:?}");
    assert!(d["p(99)"] >= 400.0, "{d:?} {om:?}");
    // Timer granularity (1 ms) must not bias the corrected latency much: pace() starts early
    // enough that the median lag stays well under one tick, even on a busy 2-core CI machine.
    assert!(om.schedule_lag.med < 1.0, "{om:?}");

    // The closed model with 2 VUs: only the first two requests wait; the stall is invisible
    // beyond p(99).
    let s = Server::start(Mode::StallUntil { ms: 500 });
    let r = run(&quick_spec(&s.url("/"), shared(2, 400)), 1);
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["p(99)"] < 100.0, "{d:?}");
    assert!(d["max"] >= 300.0, "{d:?}");
}

#[test]
fn stop_interrupts_a_run_and_still_returns_a_consistent_result() {
    let s = Server::start(Mode::Ok { delay_ms: 10 });
    let spec = quick_spec(
        &s.url("/"),
        Executor::ConstantVus { vus: 4, duration: Duration::from_secs(30) },
    );
    let stop = volley_engine::CancellationToken::new();
    let s2 = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        s2.cancel();
    });
    let t0 = Instant::now();
    let opts = volley_engine::RunOptions {
        threads: 2,
        stop,
        grace: Duration::from_millis(200),
        ..Default::default()
    };
    let r = volley_engine::run(&spec, opts).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(r.interrupted);
    r.totals.check().unwrap();
    assert!(r.totals.requests > 20);
    assert!(r.duration_s < 2.0);
}

#[test]
fn constant_vus_runs_for_its_duration_and_reports_vus() {
    let s = Server::start(Mode::Ok { delay_ms: 5 });
    let spec = quick_spec(
        &s.url("/"),
        Executor::ConstantVus { vus: 3, duration: Duration::from_millis(1500) },
    );
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert!(r.duration_s >= 1.5 && r.duration_s < 2.5, "{}", r.duration_s);
    assert_eq!(r.metrics["vus_max"].values["value"], 3.0);
    assert_eq!(r.metrics["vus"].values["max"], 3.0);
    assert_eq!(r.timeseries.len(), 2, "{:?}", r.timeseries);
    assert_eq!(r.timeseries[0].vus, 3);
}

#[test]
fn https_with_insecure_and_a_verified_failure_without() {
    let s = volley_testkit::tls::TlsServer::start();
    let url = format!("https://localhost:{}/", s.port);
    let mut spec = quick_spec(&url, shared(2, 40));
    spec.http.insecure = true;
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.totals.responses, 40, "{:?}", r.failures);
    // Two keep-alive connections, each with one handshake; every other response has 0, as k6.
    let tls = &r.metrics["http_req_tls_handshaking"].values;
    assert_eq!(tls["count"], 40.0);
    assert!(tls["max"] > 0.0 && tls["p(90)"] == 0.0, "{tls:?}");

    // The self-signed certificate is not trusted without --insecure.
    spec.http.insecure = false;
    let r = run(&spec, 2);
    r.totals.check().unwrap();
    assert_eq!(r.failures.get("tls"), Some(&40), "{:?}", r.failures);
}

/// Durations no clock can reach (`-d 18446744073709551615s` in a plan, or through the API):
/// the run neither panics nor hangs; it goes on until stopped, and says it was interrupted.
#[test]
fn absurd_durations_neither_panic_nor_hang() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let max = Duration::MAX;
    let executors = [
        Executor::ConstantVus { vus: 2, duration: max },
        Executor::RampingVus {
            start_vus: 1,
            stages: vec![
                Stage { duration: max, target: 2.0 },
                Stage { duration: max, target: 0.0 },
            ],
            graceful_ramp_down: max,
        },
        Executor::PerVuIterations { vus: 2, iterations: u64::MAX, max_duration: max },
        Executor::ConstantArrivalRate {
            rate: 50.0,
            duration: max,
            pre_allocated_vus: 1,
            max_vus: 2,
            max_iterations: None,
        },
        Executor::RampingArrivalRate {
            start_rate: 50.0,
            stages: vec![
                Stage { duration: max, target: 50.0 },
                Stage { duration: max, target: 1.0 },
            ],
            pre_allocated_vus: 1,
            max_vus: 2,
        },
    ];
    for ex in executors {
        let mut spec = quick_spec(&s.url("/"), ex.clone());
        spec.scenarios[0].graceful_stop = max;
        spec.http.timeout = max;
        let stop = volley_engine::CancellationToken::new();
        let opts = volley_engine::RunOptions {
            threads: 2,
            stop: stop.clone(),
            grace: Duration::from_millis(100),
            ..Default::default()
        };
        let t0 = Instant::now();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            stop.cancel();
        });
        let r = volley_engine::run(&spec, opts).unwrap();
        stopper.join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(20), "{ex:?}: {:?}", t0.elapsed());
        assert!(r.interrupted, "{ex:?}");
        r.totals.check().unwrap();
        assert!(r.totals.responses > 0, "{ex:?}: {:?}", r.totals);
    }
}

/// A stop reaches VUs in their think time at once (they wait on their thread's stop signal),
/// not when the pause ends.
#[test]
fn a_stop_ends_the_think_time_of_every_vu() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let mut spec = quick_spec(
        &s.url("/"),
        Executor::ConstantVus { vus: 8, duration: Duration::from_secs(60) },
    );
    let pause = Duration::from_secs(30);
    spec.scenarios[0].think_time = Some(volley_plan::ThinkTime { min: pause, max: pause });
    let stop = volley_engine::CancellationToken::new();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            stop.cancel();
        })
    };
    let opts = volley_engine::RunOptions {
        threads: 2,
        stop,
        grace: Duration::from_secs(10),
        ..Default::default()
    };
    let t0 = Instant::now();
    let r = volley_engine::run(&spec, opts).unwrap();
    stopper.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    r.totals.check().unwrap();
    // One request per VU, then the pause the stop cut short (the iteration counts as done).
    assert_eq!(r.totals.requests, 8, "{:?}", r.totals);
    assert_eq!(r.totals.iterations, 8, "{:?}", r.totals);
}

/// `-c 1000000 -n 10`: ten VUs, not a million (each would cost its state and a task).
#[test]
fn never_more_vus_than_iterations() {
    let s = Server::start(Mode::Ok { delay_ms: 0 });
    let t0 = Instant::now();
    let r = run(&quick_spec(&s.url("/"), shared(1_000_000, 10)), 2);
    assert_eq!(r.totals.requests, 10);
    assert_eq!(s.requests(), 10);
    assert!(r.totals.max_connections <= 10, "{}", r.totals.max_connections);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}
