//! `--pipeline N` (HTTP/1.1 pipelining): N requests written at once on each connection, the
//! responses read as they arrive, each request timed from the write and counted on its own.
//! Against servers under the test's control: responses cut at every byte offset, a server
//! closing mid-batch, exact `-n` counts, nginx's own request count, a slow and a stalled
//! server (timing from the write, coordinated omission unchanged), and retries after a close.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// `volley URL ARGS --json -q`, with the accounting checks; exits `code`.
#[track_caller]
fn run(url: &str, args: &[&str], code: i32) -> RunResult {
    let mut all = vec![url];
    all.extend_from_slice(args);
    let (r, _) = volley_json(&all, code);
    assert_accounting(&r);
    r
}

#[test]
fn pipelined_responses_cut_at_every_byte_offset_are_read_whole() {
    // 4 answers of 40 bytes per batch, cut after byte 1, 2, ... 159 of the batch in turn.
    let server = ScriptedServer::start(Script::new(OK).split_batches());
    let n = 4 * 160;
    let r = run(&server.url("/"), &["-n", &n.to_string(), "-c", "1", "--pipeline", "4"], 0);
    assert_eq!((r.totals.requests, r.totals.responses, r.totals.failed), (n, n, 0));
    assert_eq!(server.requests(), n);
    assert_eq!(server.connections(), 1, "one connection carried every batch");
    assert_eq!(r.totals.retries, 0);
    assert_eq!(r.totals.bytes_received, n * OK.len() as u64);
}

#[test]
fn a_close_mid_batch_sends_the_unanswered_requests_again() {
    // 3 answers per connection, then a close without `Connection: close`: the requests of a
    // batch without a byte of their answer go again on a fresh connection (RFC 9112 §9.3.2),
    // as one request on a reused connection would. (Before: 2 of each batch of 5 failed.)
    let server = ScriptedServer::start(Script::new(OK).close_after_answers(3));
    let r = run(&server.url("/"), &["-n", "50", "-c", "1", "--pipeline", "5"], 0);
    assert_eq!((r.totals.requests, r.totals.responses, r.totals.failed), (50, 50, 0));
    assert_eq!(server.requests(), 50, "each request answered once");
    // Every connection answers 3, the last the 2 left.
    assert_eq!(server.connections(), 17);
    assert!(r.totals.retries > 0 && r.totals.retries < 50, "retries {}", r.totals.retries);
}

#[test]
fn exact_counts_whatever_the_batch_size() {
    // 1003 is not a multiple of 3 connections × 16: the last batches are shorter.
    let server = TestServer::start(Behavior::ok());
    let r = run(&server.url("/"), &["-n", "1003", "-c", "3", "--pipeline", "16"], 0);
    assert_eq!((r.totals.requests, r.totals.responses, r.totals.failed), (1003, 1003, 0));
    assert_eq!(server.requests(), 1003);
    assert_eq!(server.connections(), 3);
    assert_eq!(r.totals.iterations, 1003);
}

#[test]
fn each_request_is_timed_from_the_write_of_its_batch() {
    // The server answers one request after the other, 20 ms each: the k-th response of a batch
    // of 8 arrives k × 20 ms after the write, and that is its duration (not 20 ms each).
    let server = TestServer::start(Behavior::ok().delay(Duration::from_millis(20)));
    let r = run(&server.url("/"), &["-n", "32", "-c", "1", "--pipeline", "8"], 0);
    assert_eq!((r.totals.responses, server.requests()), (32, 32));
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["min"] >= 15.0, "{d:?}");
    assert!(d["max"] >= 150.0, "the 8th of a batch waited for 7 before it: {d:?}");
    assert!(d["avg"] >= 70.0, "mean position 4.5 × 20 ms: {d:?}");
}

#[test]
fn a_stall_still_hides_in_the_closed_model_when_pipelining() {
    // As `open_model::the_same_stall_hides_in_the_closed_model`: the batches in flight during
    // the stall show it (max), a few of thousands of requests do not move p(99).
    let server = TestServer::start(
        Behavior::ok()
            .delay(Duration::from_millis(1))
            .stall(Duration::from_secs(1), Duration::from_secs(1)),
    );
    let r = run(&server.url("/"), &["-c", "2", "-d", "4s", "--pipeline", "4"], 0);
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["max"] >= 900.0, "{d:?}");
    assert!(d["p(99)"] < 200.0, "closed model p99 {d:?}");
    assert!(r.totals.requests > 500, "{}", r.totals.requests);
    assert_eq!(server.requests(), r.totals.requests);
}

#[test]
fn pipelining_is_refused_where_it_cannot_apply() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    for (args, says) in [
        (vec!["--pipeline", "4", "--rps", "10", "-d", "1s"], "--rps"),
        (vec!["--pipeline", "4", "--no-keepalive", "-n", "4"], "keep-alive"),
        (vec!["--pipeline", "0", "-n", "4"], "at least 1"),
    ] {
        let mut all = vec![url.as_str()];
        all.extend(args);
        let out = volley(&all, RUN_TIMEOUT);
        out.expect_code(2);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn retries_after_a_close_are_counted_and_post_is_not_retried() {
    // The server closes every connection after one answer without saying so: each later GET
    // goes out on a dead connection and is sent again on a fresh one, once.
    let server = ScriptedServer::start(Script::new(OK).close_after());
    let r = run(&server.url("/"), &["-n", "12", "-c", "1"], 0);
    assert_eq!((r.totals.responses, r.totals.failed), (12, 0), "{:?}", r.failures);
    assert_eq!(server.requests(), 12, "each request reached the server exactly once");
    assert_eq!(r.totals.retries, 11, "every request but the first found its connection dead");
    let text = volley(&[&server.url("/"), "-n", "3", "-c", "1"], RUN_TIMEOUT);
    text.expect_code(0);
    assert!(text.streams().contains("retries"), "summary shows them:\n{}", text.streams());

    // POST: not sent twice by default (the server may have acted on it): every other POST
    // finds the connection dead and fails; the one after it opens a fresh connection ...
    let post = ScriptedServer::start(Script::new(OK).close_after());
    let r = run(&post.url("/"), &["-n", "6", "-c", "1", "-m", "POST"], 0);
    assert_eq!(r.totals.retries, 0);
    assert_eq!((r.totals.responses, r.totals.transport_failures), (3, 3), "{:?}", r.failures);
    assert_eq!(post.requests(), 3);
    // ... unless asked.
    let post = ScriptedServer::start(Script::new(OK).close_after());
    let r = run(&post.url("/"), &["-n", "6", "-c", "1", "-m", "POST", "--retry-non-idempotent"], 0);
    assert_eq!((r.totals.responses, r.totals.retries), (6, 5), "{:?}", r.failures);
    assert_eq!(post.requests(), 6);
}

/// nginx (from PATH) serving a 12-byte answer on `/` and `stub_status` on `/status`, in the
/// foreground with every file in a temporary prefix; killed when dropped.
struct StaticNginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl StaticNginx {
    fn start() -> StaticNginx {
        let dir = temp_dir();
        let p = dir.path().display();
        // A port bound and released at once (nginx cannot report a port 0 of its own).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {p}/cb;\n proxy_temp_path {p}/px;\n\
             fastcgi_temp_path {p}/fc;\n uwsgi_temp_path {p}/uw;\n scgi_temp_path {p}/sc;\n\
             server {{\n  listen {addr};\n  location = /status {{ stub_status; }}\n\
             location / {{ return 200 \"hello world\\n\"; }}\n }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &p.to_string(), "-c", path.to_str().unwrap()])
            .args(["-e", dir.path().join("error.log").to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let me = StaticNginx { child, addr, _dir: dir };
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "nginx did not start on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    /// The requests nginx has served (stub_status's third counter; this query included).
    fn served(&self) -> u64 {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let counters = text.lines().find(|l| l.trim_start().starts_with(char::is_numeric));
        let fields: Vec<u64> = counters
            .unwrap_or_else(|| panic!("no counters in {text}"))
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        fields[2]
    }
}

impl Drop for StaticNginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_counts_what_volley_counts_when_pipelining() {
    if !crate::scale_nginx::nginx_available() {
        return;
    }
    let nginx = StaticNginx::start();
    let before = nginx.served();
    // 2 connections × 2500 requests pass nginx's keepalive_requests (1000): nginx closes each
    // connection in the middle of a batch with `Connection: close`, and the requests after
    // that answer go out again on a new connection.
    let url = format!("http://{}/", nginx.addr);
    let r = run(&url, &["-n", "5000", "-c", "2", "--pipeline", "16"], 0);
    let after = nginx.served();
    assert_eq!((r.totals.requests, r.totals.responses, r.totals.failed), (5000, 5000, 0));
    assert_eq!(after - before - 1, 5000, "nginx served exactly what volley counted");
    assert!(r.totals.retries > 0, "keepalive_requests closed connections mid-batch");
}
