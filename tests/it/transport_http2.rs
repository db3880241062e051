//! HTTP/2 (`--http2`, `--http2-prior-knowledge`, `-p`) against servers whose behaviour the
//! test controls: the h2 crate's server in-process (h2c, and TLS with a self-signed
//! certificate and ALPN h2), a TLS server that only speaks HTTP/1.1 (the fallback), and nginx
//! with `http2 on` when it is on PATH. Counts are compared with the server's own.

use std::time::{Duration, Instant};

use crate::support::*;

/// `volley URL ARGS...`; returns the result after the accounting checks.
#[track_caller]
fn run(url: &str, args: &[&str], code: i32) -> (RunResult, Output) {
    let mut all = vec![url];
    all.extend_from_slice(args);
    let (r, out) = volley_json(&all, code);
    assert_accounting(&r);
    (r, out)
}

#[test]
fn h2c_counts_are_exact_and_one_connection_serves_each_vu() {
    let server = H2Server::start(H2Behavior::default());
    let (r, out) = run(&server.url("/"), &["--http2-prior-knowledge", "-n", "300", "-c", "3"], 0);
    assert_eq!((r.totals.requests, r.totals.responses, r.totals.failed), (300, 300, 0));
    assert_eq!(server.streams(), 300, "{}", out.stderr);
    assert_eq!(server.connections(), 3, "one connection per VU");
    assert_eq!(r.protocols.get("HTTP/2"), Some(&300), "{:?}", r.protocols);
    assert_eq!(r.protocols.get("HTTP/1.1"), None);
    // Bytes are counted on the socket: every request sent a HEADERS frame at least.
    assert!(r.totals.bytes_sent > 300 * 9 && r.totals.bytes_received > 300 * 9);
}

#[test]
fn h2_over_tls_is_negotiated_by_alpn() {
    let server = H2Server::start(H2Behavior { tls: true, ..H2Behavior::default() });
    let (r, _) = run(&server.url("/"), &["--http2", "--insecure", "-n", "60", "-c", "2"], 0);
    assert_eq!((r.totals.responses, r.totals.failed), (60, 0));
    assert_eq!(server.streams(), 60);
    assert_eq!(server.connections(), 2);
    assert_eq!(r.protocols.get("HTTP/2"), Some(&60), "{:?}", r.protocols);
    let m = &r.metrics["http_req_tls_handshaking"];
    assert!(m.values["max"] > 0.0, "the TLS handshake is timed: {m:?}");
}

#[test]
fn a_server_that_picks_http1_in_alpn_gets_http1() {
    let server = H2Server::tls_http1_only();
    let (r, out) = run(&server.url("/"), &["--http2", "--insecure", "-n", "40", "-c", "2"], 0);
    assert_eq!((r.totals.responses, r.totals.failed), (40, 0), "{}", out.stderr);
    assert_eq!(server.streams(), 40);
    assert_eq!(r.protocols.get("HTTP/1.1"), Some(&40), "{:?}", r.protocols);
    // The negotiating connection is kept for HTTP/1.1: no connection is opened twice.
    assert_eq!(server.connections(), 2);
}

#[test]
fn streams_are_concurrent_on_one_connection() {
    let delay = Duration::from_millis(700);
    let server = H2Server::start(H2Behavior { delay, ..H2Behavior::default() });
    let t0 = Instant::now();
    let args = ["--http2-prior-knowledge", "-c", "1", "-p", "8", "-n", "16"];
    let (r, _) = run(&server.url("/"), &args, 0);
    let took = t0.elapsed();
    assert_eq!((r.totals.responses, server.streams()), (16, 16));
    assert_eq!(server.connections(), 1, "-c 1: one connection for 8 streams");
    assert_eq!(r.totals.max_connections, 1);
    // 16 requests, 8 at a time: two delays; one at a time would be sixteen.
    assert!(took < delay * 6, "8 streams at once take ~1 delay each round, took {took:?}");
    assert!(r.metrics["http_req_duration"].values["min"] >= 650.0);
}

#[test]
fn stream_resets_are_counted_as_their_own_failure() {
    let server = H2Server::start(H2Behavior { reset_every: 5, ..H2Behavior::default() });
    let (r, _) = run(&server.url("/"), &["--http2-prior-knowledge", "-n", "100", "-c", "2"], 0);
    assert_eq!(r.totals.requests, 100);
    assert_eq!(server.resets(), 20);
    assert_eq!(r.failures.get("stream_reset"), Some(&20), "{:?}", r.failures);
    assert_eq!(r.totals.responses, 80);
    assert_eq!(server.streams(), 100, "a reset stream is not sent again");
}

#[test]
fn goaway_mid_run_reconnects_without_losing_a_request() {
    // Every connection is shut down gracefully after 7 streams, with up to 4 in flight.
    let server = H2Server::start(H2Behavior { goaway_after: 7, ..H2Behavior::default() });
    let args = ["--http2-prior-knowledge", "-n", "120", "-c", "2", "-p", "4"];
    let (r, out) = run(&server.url("/"), &args, 0);
    assert_eq!((r.totals.requests, r.totals.responses), (120, 120), "{:?}", r.failures);
    assert_eq!(r.totals.failed, 0, "{}", out.stderr);
    // A connection accepts up to 7 + 3 streams (those in flight when it said GOAWAY).
    assert!(server.goaways() >= 120 / 10, "goaways {}", server.goaways());
    // Fresh connections carried the rest; the last GOAWAY may end the run with no successor.
    assert!(
        server.connections() >= server.goaways() && server.connections() >= 120 / 10,
        "connections {} goaways {}",
        server.connections(),
        server.goaways()
    );
    assert_eq!(server.answered(), 120, "every request answered exactly once");
}

#[test]
fn a_goaway_with_an_error_code_leaves_no_request_failed_unsent() {
    // Each connection says GOAWAY(ENHANCE_YOUR_CALM) after 20 streams and stays open a while,
    // with 8 VUs on it: the requests that had not left go on a fresh connection; only those
    // the server saw above its last stream fail. (Before: no new connection while it stayed
    // open, and most of the 200 failed without leaving.)
    let server = GoawayServer::start(20);
    let args = ["--http2-prior-knowledge", "-n", "200", "-c", "1", "-p", "8"];
    let (r, out) = run(&server.url(), &args, 0);
    eprintln!(
        "DBG {:?} {:?} conns {} answered {} ignored {}",
        r.totals,
        r.failures,
        server.connections(),
        server.answered(),
        server.ignored()
    );
    assert_eq!(r.totals.requests, 200);
    assert_eq!(r.totals.responses, server.answered(), "{}", out.stderr);
    assert_eq!(
        r.totals.failed,
        server.ignored(),
        "every failure reached the server: {:?}",
        r.failures
    );
    // At most 8 streams above the last one per connection of 20.
    assert!(r.totals.responses >= 140, "{:?} {:?}", r.totals, r.failures);
    assert!(server.connections() >= 200 / 28, "connections {}", server.connections());
}

#[test]
fn a_lower_max_concurrent_streams_than_p_waits_instead_of_being_refused() {
    // The server takes one stream at a time and refuses the others (REFUSED_STREAM); 8 VUs
    // share each connection. Before its SETTINGS arrive and after, volley opens no more.
    let server = H2Server::start(H2Behavior {
        max_concurrent_streams: Some(1),
        delay: Duration::from_millis(2),
        ..H2Behavior::default()
    });
    let args = ["--http2-prior-knowledge", "-n", "120", "-c", "2", "-p", "8"];
    let (r, out) = run(&server.url("/"), &args, 0);
    assert_eq!((r.totals.responses, r.totals.failed), (120, 0), "{:?}", r.failures);
    assert_eq!(r.totals.retries, 0, "no stream was refused: {}", out.stderr);
    assert_eq!(server.connections(), 2);
    assert!(server.max_active() <= 2, "in flight at once: {}", server.max_active());
}

#[test]
fn an_idle_connection_the_server_closed_is_retried_as_on_http1() {
    // Each connection is closed (no GOAWAY) after 20 answers, while idle: the next request
    // finds it gone and is sent again on a fresh one, as HTTP/1.1 does.
    let server = H2Server::start(H2Behavior { close_after: 20, ..H2Behavior::default() });
    let args = ["--http2-prior-knowledge", "-n", "200", "-c", "2", "-p", "1"];
    let (r, out) = run(&server.url("/"), &args, 0);
    assert_eq!((r.totals.responses, r.totals.failed), (200, 0), "{:?} {}", r.failures, out.stderr);
    assert_eq!(server.answered(), 200);
    assert!(server.connections() >= 200 / 20, "connections {}", server.connections());
}

#[test]
fn a_request_http2_forbids_fails_as_other_without_churning_connections() {
    // `TE: gzip` is not allowed in HTTP/2: h2 refuses the request before it leaves. That is
    // neither the connection's fault nor worth sending again (before: `closed`, and every
    // failure retired the connection the other VUs were using).
    let server = H2Server::start(H2Behavior::default());
    let args = ["--http2-prior-knowledge", "-H", "te: gzip", "-n", "40", "-c", "2", "-p", "4"];
    let (r, out) = run(&server.url("/"), &args, 1);
    assert_eq!(r.failures.get("other"), Some(&40), "{:?} {}", r.failures, out.stderr);
    assert_eq!(r.totals.retries, 0);
    assert_eq!(server.streams(), 0);
    // At most one per group of 4 streams (a group may not get to start: the failures are fast).
    assert!(server.connections() <= 2, "connections {}", server.connections());
}

#[test]
fn streams_need_http2_and_plans_take_the_key() {
    let out = volley(&["http://127.0.0.1:1/", "-p", "4"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains("--http2"), "{}", out.stderr);
    let server = H2Server::start(H2Behavior::default());
    let dir = temp_dir();
    let plan = dir.path().join("h2.yaml");
    let yaml = format!(
        "base_url: {}\nscenarios:\n  a:\n    executor: shared-iterations\n    vus: 2\n    iterations: 30\n    http2: true\n    steps:\n      - get: /a\n      - get: /b\n        http2: false\n",
        server.url("")
    );
    std::fs::write(&plan, yaml).unwrap();
    let (r, out) = volley_json(&["run", plan.to_str().unwrap()], 0);
    assert_accounting(&r);
    // `/b` says HTTP/1.1 and the h2 server cannot answer it: only `/a` succeeds.
    assert_eq!(r.protocols.get("HTTP/2"), Some(&30), "{:?} {}", r.protocols, out.stderr);
    assert_eq!(server.streams(), 30);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "base_url: http://127.0.0.1:1\nvus: 1\nhttp2: yes please\nsteps: [ { get: / } ]\n",
    )
    .unwrap();
    let out = volley(&["validate", bad.to_str().unwrap()], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains("http2 must be true or false"), "{}", out.stderr);
    assert!(out.stderr.contains(":3:"), "file:line:col: {}", out.stderr);
}

/// nginx with HTTP/2 over h2c (`listen ... http2`, which old and new nginx both take), counting requests in its access log.
#[test]
fn nginx_h2c_counts_equal_volleys() {
    if !crate::scale_nginx::nginx_available() {
        return;
    }
    let dir = temp_dir();
    let p = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::create_dir_all(p.join("tmp")).unwrap();
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp;\n\
         proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n\
         scgi_temp_path {d}/tmp;\n\
         server {{\n    listen 127.0.0.1:{port} http2;\n\
         location / {{ return 200 \"hello\\n\"; }}\n  }}\n}}\n",
        d = p.display()
    );
    let conf_path = p.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut nginx = std::process::Command::new("nginx");
    nginx.args(["-p", p.to_str().unwrap(), "-c", conf_path.to_str().unwrap()]);
    nginx.args(["-e", p.join("error.log").to_str().unwrap()]);
    let mut child = Spawned::start(nginx);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "nginx did not start");
        assert!(!child.has_exited(), "nginx exited: {}", child.stderr_so_far());
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://127.0.0.1:{port}/");
    let (r, _) = run(&url, &["--http2-prior-knowledge", "-n", "500", "-c", "4", "-p", "4"], 0);
    assert_eq!((r.totals.responses, r.totals.failed), (500, 0));
    assert_eq!(r.protocols.get("HTTP/2"), Some(&500));
    child.signal(libc::SIGQUIT);
    let _ = child.wait(Duration::from_secs(10));
    let log = std::fs::read_to_string(p.join("access.log")).unwrap();
    assert_eq!(log.lines().count(), 500, "nginx's own count");
    assert!(log.lines().all(|l| l.contains("HTTP/2.0\" 200")), "{}", &log[..log.len().min(300)]);
}
