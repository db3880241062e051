//! Test helpers shared by every theme of the integration tests.
//!
//! - [`process`]: run the `volley` binary as a child ([`volley`] to completion, [`Spawned`] for
//!   a child the test signals), with a timeout, a kill-on-drop guard and captured output;
//!   [`read_result`] / [`parse_result`] for the result file.
//! - [`misbehave`]: raw-TCP servers on 127.0.0.1:0 that delay, stall once, reset, stay silent,
//!   send garbage, truncate, close early, or fail the n-th request; they count requests on the
//!   server side. [`refused_url`] is a port nobody listens on.
//! - [`scripted`]: a raw-TCP server answering every request with the same bytes, possibly
//!   split into small writes, possibly closing after each answer without saying so.
//! - [`tls`]: an https server with a self-signed certificate.
//! - [`demo`]: the real demo service (`volley serve-demo`) in-process on port 0.
//! - [`sweep`]: `volley scale` of the demo service as a child ([`sweep::scale_demo`]).
//! - [`assert_accounting`]: the invariants every result must keep.
//!
//! Everything here is synchronous: servers run on their own threads, so tests are plain
//! `#[test]` functions that may block on a child process.

// Each theme uses a different subset of the helpers.
#![allow(dead_code, unused_imports)]

pub mod capacity_server;
pub mod h2goaway;
pub mod h2server;
pub mod http;
pub mod misbehave;
pub mod process;
pub mod scripted;
pub mod sweep;
pub mod tls;

use std::time::Duration;

pub use h2goaway::GoawayServer;
pub use h2server::{H2Behavior, H2Server};
pub use misbehave::{Action, Behavior, TestServer, refused_url};
pub use process::{Output, Spawned, VOLLEY, parse_result, read_result, volley, volley_command};
pub use scripted::{Script, ScriptedServer};
pub use tls::TlsServer;
pub use volley_metrics::RunResult;

/// A generous bound for one short volley run in a debug build on a busy 2-core machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The demo service in-process on 127.0.0.1:0 with two worker threads. Stops when dropped.
pub fn demo() -> volley_demo::DemoServer {
    demo_with_threads(2)
}

/// The demo service in-process with `threads` worker threads (1 = like one Node process).
pub fn demo_with_threads(threads: usize) -> volley_demo::DemoServer {
    volley_demo::serve(volley_demo::Config { threads, ..volley_demo::Config::default() })
        .expect("start the demo service on port 0")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Runs `volley ARGS... --json -q` and parses the result printed on stdout; panics (showing
/// the output) unless it exits with `code`.
#[track_caller]
pub fn volley_json(args: &[&str], code: i32) -> (RunResult, Output) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "-q"]);
    let out = volley(&all, RUN_TIMEOUT);
    out.expect_code(code);
    let result = parse_result(&out.stdout);
    (result, out)
}

/// The accounting invariants of a result, for the totals and for every endpoint:
/// `requests = responses + transport_failures = succeeded + failed`, status and failure
/// tallies add up to them, the k6 metrics and the time series agree with the totals.
#[track_caller]
pub fn assert_accounting(r: &RunResult) {
    let t = &r.totals;
    if let Err(e) = t.check() {
        panic!("totals: {e}; totals = {t:?}");
    }
    let statuses: u64 = r.status_codes.values().sum();
    let failures: u64 = r.failures.values().sum();
    assert_eq!(statuses, t.responses, "status_codes {:?} vs responses", r.status_codes);
    assert_eq!(failures, t.transport_failures, "failures {:?} vs transport", r.failures);
    assert!(r.failures.values().all(|&n| n > 0), "kinds that never happened must be absent");

    let mut endpoint_requests = 0;
    for e in &r.endpoints {
        let s: u64 = e.status_codes.values().sum();
        let f: u64 = e.failure_kinds.values().sum();
        assert_eq!(
            e.requests,
            s + f,
            "endpoint {} {}: requests != responses + failures",
            e.method,
            e.name
        );
        assert!(
            e.failures >= f && e.failures <= e.requests,
            "endpoint {}: failures {}",
            e.name,
            e.failures
        );
        endpoint_requests += e.requests;
    }
    assert_eq!(endpoint_requests, t.requests, "endpoints add up to the totals");

    let reqs = r.metrics.get("http_reqs").expect("metrics.http_reqs");
    assert_eq!(reqs.values["count"], t.requests as f64, "metrics.http_reqs.values.count");
    let failed = r.metrics.get("http_req_failed").expect("metrics.http_req_failed");
    let rate = failed.values["rate"];
    assert!(
        (rate - t.error_rate()).abs() < 1e-9,
        "http_req_failed rate {rate} vs {}",
        t.error_rate()
    );

    let series: u64 = r.timeseries.iter().map(|p| p.requests).sum();
    assert_eq!(series, t.requests, "time series requests add up to the totals");
    let series_fail: u64 = r.timeseries.iter().map(|p| p.transport_failures).sum();
    assert_eq!(series_fail, t.transport_failures, "time series transport failures");
}
