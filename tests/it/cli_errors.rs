//! Bad input gets one clear message on stderr naming the value, exit 2 for usage errors and 1
//! for run failures, never a panic or a backtrace, and never a hang.

use std::time::Duration;

use crate::support::*;

/// Runs volley, expects `code`, a message naming `needle`, and no panic.
#[track_caller]
fn rejects(args: &[&str], code: i32, needle: &str) -> Output {
    let out = volley(args, Duration::from_secs(30));
    out.expect_code(code);
    assert!(out.stderr.contains(needle), "stderr should name `{needle}`:\n{}", out.streams());
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!out.stderr.contains(bad), "{}", out.streams());
    }
    assert_eq!(out.stdout, "", "errors go to stderr only");
    assert!(out.stderr.lines().count() <= 6, "one clear message, not a wall:\n{}", out.stderr);
    out
}

#[test]
fn invalid_url() {
    rejects(&["not a url"], 2, "not a url");
    rejects(&["http://"], 2, "http://");
}

#[test]
fn unsupported_scheme() {
    rejects(&["ftp://127.0.0.1/file"], 2, "ftp://127.0.0.1/file");
}

#[test]
fn zero_requests() {
    rejects(&["http://127.0.0.1:9/", "-n", "0"], 2, "-n 0");
}

#[test]
fn zero_or_negative_rate() {
    rejects(&["http://127.0.0.1:9/", "--rps", "0"], 2, "--rps 0");
    rejects(&["http://127.0.0.1:9/", "--rps=-5"], 2, "-5");
    rejects(&["http://127.0.0.1:9/", "--rps", "abc"], 2, "abc");
}

#[test]
fn zero_concurrency() {
    rejects(&["http://127.0.0.1:9/", "-c", "0"], 2, "-c 0");
}

#[test]
fn bad_duration_and_timeout() {
    rejects(&["http://127.0.0.1:9/", "-d", "forever"], 2, "forever");
    rejects(&["http://127.0.0.1:9/", "--timeout", "soon"], 2, "soon");
}

#[test]
fn bad_header() {
    rejects(&["http://127.0.0.1:9/", "-H", "bad"], 2, "bad");
}

#[test]
fn missing_body_file() {
    rejects(
        &["http://127.0.0.1:9/", "--body-file", "/nonexistent/body.json"],
        2,
        "/nonexistent/body.json",
    );
}

#[test]
fn dns_failure() {
    let out = rejects(&["http://nonexistent.invalid/", "-n", "10"], 1, "nonexistent.invalid");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
}

#[test]
fn serve_demo_on_a_busy_port() {
    let demo = demo();
    let port = demo.local_addr().port().to_string();
    rejects(&["serve-demo", "--port", &port], 1, &port);
}
