//! Quick mode (`volley URL`) against real servers: exact counts seen by the server, latency
//! figures that match a known delay, connections per VU, the result file on disk and on stdout,
//! Ctrl-C. Every run checks the accounting invariants.

use std::time::Duration;

use crate::support::*;

#[test]
fn exact_n_is_what_the_server_sees() {
    let server = TestServer::start(Behavior::ok());
    let (r, _) = volley_json(&[&server.url("/"), "-n", "1000", "-c", "7"], 0);
    assert_accounting(&r);
    assert_eq!(server.requests(), 1000, "requests the server read");
    assert_eq!(r.totals.requests, 1000);
    assert_eq!(r.totals.responses, 1000);
    assert_eq!(r.totals.succeeded, 1000);
    assert_eq!(r.status_codes.get("200"), Some(&1000));
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.config.concurrency, 7);
    assert_eq!(r.config.requests, Some(1000));
    assert!(!r.interrupted);
}

#[test]
fn each_vu_keeps_one_connection() {
    let server = TestServer::start(Behavior::ok());
    let (r, _) = volley_json(&[&server.url("/"), "-n", "200", "-c", "5"], 0);
    assert_accounting(&r);
    assert_eq!(server.connections(), 5, "keep-alive: one connection per VU");
    assert_eq!(r.totals.max_connections, 5);

    let server = TestServer::start(Behavior::ok());
    let (r, _) = volley_json(&[&server.url("/"), "-n", "60", "-c", "3", "--no-keepalive"], 0);
    assert_accounting(&r);
    assert_eq!(server.connections(), 60, "--no-keepalive: one connection per request");
    assert_eq!(server.requests(), 60);
}

#[test]
fn latency_of_a_known_delay() {
    let demo = demo();
    let url = format!("{}/delay/50", demo.url());
    let (r, _) = volley_json(&[&url, "-n", "100", "-c", "10"], 0);
    assert_accounting(&r);
    assert_eq!(demo.served(), 100);
    let d = &r.metrics["http_req_duration"].values;
    let med = d["med"];
    assert!((50.0..=55.0).contains(&med), "p50 of /delay/50 = {med} ms");
    assert!(d["min"] >= 50.0, "nothing answers faster than the delay: min {}", d["min"]);
    assert!(d["avg"] >= 50.0 && d["max"] >= d["p(99)"] && d["p(99)"] >= med);
    // The closed model: 10 VUs × 10 rounds of ≥ 50 ms.
    assert!(r.duration_s >= 0.5, "duration {}", r.duration_s);
    let waiting = r.metrics["http_req_waiting"].values["med"];
    assert!((49.0..=55.0).contains(&waiting), "time to first byte {waiting}");
}

#[test]
fn statuses_and_failures_per_endpoint() {
    let demo = demo();
    let url = format!("{}/flaky?p=0.3", demo.url());
    let (r, _) = volley_json(&[&url, "-n", "300", "-c", "4"], 0);
    assert_accounting(&r);
    let ok = r.status_codes.get("200").copied().unwrap_or(0);
    let err = r.status_codes.get("500").copied().unwrap_or(0);
    assert_eq!(ok + err, 300);
    assert!(err > 30 && err < 150, "500s with p=0.3 out of 300: {err}");
    assert_eq!(r.totals.failed, err, "a 500 is a failed request");
    assert_eq!(r.totals.succeeded, ok);
    assert_eq!(r.totals.transport_failures, 0);
    assert_eq!(r.endpoints.len(), 1);
    assert_eq!(r.endpoints[0].failures, err);
    let rate = r.metrics["http_req_failed"].values["rate"];
    assert!((rate - err as f64 / 300.0).abs() < 1e-9);
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/submit?x=1");
    let args = [&url, "-n", "3", "-c", "1", "-m", "POST", "-H", "X-Test: yes", "-b", "hello body"];
    let (r, _) = volley_json(&args, 0);
    assert_accounting(&r);
    let req = server.last_request();
    assert!(req.starts_with("POST /submit?x=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.to_ascii_lowercase().contains("x-test: yes\r\n"), "{req}");
    assert!(req.to_ascii_lowercase().contains("content-length: 10\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\nhello body"), "{req}");
    assert_eq!(r.totals.bytes_sent as usize, 3 * req.len(), "bytes sent = 3 requests as read");

    let dir = temp_dir();
    let file = dir.path().join("body.json");
    std::fs::write(&file, "{\"text\":\"from a file\"}").unwrap();
    let args = [&url, "-n", "1", "-m", "PUT", "--body-file", file.to_str().unwrap()];
    volley_json(&args, 0);
    let req = server.last_request();
    assert!(req.starts_with("PUT ") && req.ends_with("{\"text\":\"from a file\"}"), "{req}");
}

#[test]
fn bytes_received_are_counted() {
    let server =
        TestServer::start(Behavior::action(Action::Respond { status: 200, body_len: 1000 }));
    let (r, _) = volley_json(&[&server.url("/"), "-n", "50", "-c", "2"], 0);
    assert_accounting(&r);
    // Each response is a 41-byte head plus 1000 body bytes.
    assert!(r.totals.bytes_received >= 50 * 1000, "{}", r.totals.bytes_received);
    assert!(r.totals.bytes_received <= 50 * 1100, "{}", r.totals.bytes_received);
}

#[test]
fn duration_bounds_the_run() {
    let demo = demo();
    let (r, out) = volley_json(&[&format!("{}/delay/5", demo.url()), "-d", "2s", "-c", "4"], 0);
    assert_accounting(&r);
    assert!(r.duration_s >= 1.9 && r.duration_s < 3.0, "duration_s {}", r.duration_s);
    assert!(out.elapsed < Duration::from_secs(20));
    // Requests cut off at the end (interrupted) may or may not have been answered.
    let (served, t) = (demo.served(), &r.totals);
    assert!(
        served >= t.requests && served <= t.requests + t.interrupted_iterations,
        "served {served} vs {t:?}"
    );
    // ~4 VUs × 2 s / ~5 ms; at least half that on a loaded machine.
    assert!(r.totals.requests > 400, "requests {}", r.totals.requests);
    let rps = r.totals.requests as f64 / r.duration_s;
    assert!((r.totals.rps - rps).abs() / rps < 0.01, "rps {} vs {rps}", r.totals.rps);
    assert!(r.timeseries.len() >= 2 && r.timeseries.len() <= 4, "{} points", r.timeseries.len());
}

#[test]
fn out_file_and_json_stdout_agree() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let path = dir.path().join("result.json");
    let url = server.url("/");
    let out = volley(
        &[&url, "-n", "100", "-c", "2", "-o", path.to_str().unwrap(), "--json"],
        RUN_TIMEOUT,
    );
    out.expect_code(0);
    let from_stdout = parse_result(&out.stdout);
    let from_file = read_result(&path);
    assert_eq!(from_stdout, from_file);
    assert_accounting(&from_file);
    assert_eq!(from_file.config.mode, "quick");
    assert_eq!(from_file.config.target.as_deref(), Some(url.as_str()));
    assert_eq!(from_file.schema_version, volley_metrics::SCHEMA_VERSION);

    // Quiet with a file: nothing on stdout, the file still written.
    let path2 = dir.path().join("quiet.json");
    let out = volley(&[&url, "-n", "10", "-q", "-o", path2.to_str().unwrap()], RUN_TIMEOUT);
    out.expect_code(0);
    assert_eq!(out.stdout, "", "-q prints nothing on stdout");
    assert_eq!(read_result(&path2).totals.requests, 10);

    // The human summary goes to stdout and names the figures seed 000 asks for.
    let out = volley(&[&url, "-n", "10"], RUN_TIMEOUT);
    out.expect_code(0);
    let s = out.stdout.to_lowercase();
    for word in ["p(50)|p50|med", "p(99)|p99", "max", "req"] {
        assert!(word.split('|').any(|w| s.contains(w)), "summary lacks {word}:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains('\u{1b}'), "NO_COLOR: no escape codes");
}

#[test]
fn ctrl_c_saves_a_partial_result() {
    let demo = demo();
    let dir = temp_dir();
    let path = dir.path().join("partial.json");
    let url = format!("{}/delay/20", demo.url());
    let child = Spawned::start(volley_command(&[
        &url,
        "-d",
        "30s",
        "-c",
        "4",
        "-o",
        path.to_str().unwrap(),
    ]));
    std::thread::sleep(Duration::from_secs(2));
    child.signal(libc::SIGINT);
    let out = child.wait(Duration::from_secs(15));
    out.expect_code(130);
    assert!(out.elapsed < Duration::from_secs(8), "stopped promptly: {:?}", out.elapsed);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let r = read_result(&path);
    assert!(r.interrupted, "interrupted: true");
    assert_accounting(&r);
    assert!(r.totals.requests > 50, "about 2 s of 4 VUs at 20 ms: {}", r.totals.requests);
    assert!(r.duration_s > 1.0 && r.duration_s < 6.0, "duration_s {}", r.duration_s);
    // What the server answered is what volley counted (in-flight requests finish in the grace
    // period or are counted as failures; either way they are counted once).
    assert!(
        demo.served() >= r.totals.responses,
        "served {} responses {}",
        demo.served(),
        r.totals.responses
    );
}

#[test]
fn requests_in_flight_at_the_end_are_accounted_for() {
    // 5 VUs, 300 ms per answer, 1 s: the run ends with requests in flight. They may finish
    // (up to the timeout) and are counted, so every request the server read is in the result.
    let server = TestServer::start(Behavior::ok().delay(Duration::from_millis(300)));
    let (r, _) = volley_json(&[&server.url("/"), "-d", "1s", "-c", "5"], 0);
    assert_accounting(&r);
    let t = &r.totals;
    assert_eq!(server.requests(), t.requests, "server read vs {t:?}");
    assert_eq!(t.interrupted_iterations, 0, "{t:?}");
    assert_eq!(t.requests % 5, 0, "each VU finished its last request: {t:?}");
    assert!(r.duration_s < 1.6, "the tail is one answer long: {}", r.duration_s);
}

#[test]
fn serve_demo_prints_its_address_and_stops_on_sigterm() {
    let cmd = volley_command(&["serve-demo", "--port", "0", "--threads", "1"]);
    let (child, url) = Spawned::start_listening(cmd, Duration::from_secs(20));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (r, _) = volley_json(&[&format!("{url}/heavy?n=1000"), "-n", "20", "-c", "2"], 0);
    assert_accounting(&r);
    assert_eq!(r.status_codes.get("200"), Some(&20));
    child.signal(libc::SIGTERM);
    child.wait(Duration::from_secs(10)).expect_code(0);
}

#[test]
fn serve_demo_exit_after_n_responses() {
    let cmd = volley_command(&["serve-demo", "--port", "0", "--exit-after", "5"]);
    let (child, url) = Spawned::start_listening(cmd, Duration::from_secs(20));
    let (r, _) = volley_json(&[&url, "-n", "5", "-c", "1"], 0);
    assert_eq!(r.totals.succeeded, 5);
    let out = child.wait(Duration::from_secs(10));
    out.expect_code(1);
    assert!(out.stderr.contains("--exit-after"), "{}", out.stderr);
}
