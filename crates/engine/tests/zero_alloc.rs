//! Nothing allocates per request after warm-up.
//!
//! - The HTTP/1.1 hot path: a thousand keep-alive requests on one VU's connection, each
//!   measured into the VU's one sample and recorded from it, make no heap allocation on the
//!   VU's thread.
//! - Whole runs, closed and open model: a run of many more requests than another, on the same
//!   number of connections and seconds, makes no more allocations on any of the engine's
//!   threads (what a run allocates per VU, per connection and per second is the same in both).
//!
//! A counting global allocator (this test binary only) counts them; the test servers' threads
//! are exempt.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use volley_engine::transport::{Client, ConnGauge, Kept, Prepared};
use volley_metrics::recorder::Names;
use volley_metrics::{Recorder, Sample};

mod support;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// A keep-alive server answering every request head with a chunked response, on as many
/// connections as it is given, each on its own (exempt) thread.
fn server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        counting::exempt();
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            std::thread::spawn(move || serve(sock));
        }
    });
    addr
}

fn serve(mut sock: std::net::TcpStream) {
    counting::exempt();
    let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: b1\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if sock.write_all(resp).is_err() {
                return;
            }
        }
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn keep_alive_requests_do_not_allocate_after_warm_up() {
    // Counted on its own; kept out of a whole run's count running beside it.
    counting::exempt();
    let addr = server();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = Client {
            tls: None,
            keepalive: true,
            addrs: std::cell::RefCell::new(HashMap::from([(
                ("127.0.0.1".into(), addr.port()),
                addr,
            )])),
            conns: Rc::new(ConnGauge::default()),
            h2: volley_engine::http2::Pool::new(1),
            retry_non_idempotent: false,
            clock: volley_engine::clock::Anchor::new(),
        };
        let url = format!("http://{addr}/x");
        let req = Prepared::new(Method::GET, &url, &[], Bytes::new(), true).unwrap();
        let backend = http::HeaderName::from_static("x-backend");
        let mut slot = None;
        let mut ex = Sample::default();
        let mut kept = Kept::default();
        let names = Names {
            endpoints: vec![("GET".into(), "x".into()), ("GET".into(), "y".into())],
            scenarios: vec!["default".into()],
            flows: vec!["default".into()],
            ..Names::default()
        };
        let mut recorder = Recorder::new(&names);
        // Histograms grow with the largest value they have seen, which no test can bound on a
        // loaded machine: the warm-up includes a request of a minute (the default timeout),
        // connecting and TLS included, so that later growth cannot be mistaken for a per-request
        // allocation.
        let minute = 60_000_000;
        let mut slow = Sample {
            status: 200,
            expected: true,
            duration_us: minute,
            connecting_us: minute,
            tls_us: minute,
            sending_us: minute,
            waiting_us: minute,
            receiving_us: minute,
            backend: "b1".into(),
            has_backend: true,
            tally_backend: true,
            ..Sample::default()
        };
        recorder.record(&slow);
        slow.failure = Some(volley_metrics::FailureKind::Timeout);
        recorder.record(&slow);
        let timeout = Duration::from_secs(30);
        let mut one = async |ex: &mut Sample, kept: &mut Kept| {
            client.send(&mut slot, &req, timeout, false, Some(&backend), ex, kept).await;
            // What the engine adds before recording: the request's indices, its verdict.
            ex.expected = ex.status == 200;
            ex.duration_us = ex.sending_us + ex.waiting_us + ex.receiving_us;
            ex.tally_backend = true;
            recorder.record(ex);
        };
        for _ in 0..200 {
            one(&mut ex, &mut kept).await;
            assert_eq!((ex.failure, ex.status), (None, 200));
        }
        let before = counting::count_this_thread(true);
        for _ in 0..1000 {
            one(&mut ex, &mut kept).await;
            assert!(ex.failure.is_none() && ex.status == 200 && ex.backend == "b1");
        }
        let allocations = counting::count_this_thread(false) - before;
        assert_eq!(client.conns.peak.get(), 1, "one connection throughout");
        assert_eq!(allocations, 0, "allocations in 1000 requests");
        assert_eq!(recorder.requests(), 1202);
        assert_eq!(recorder.backend_stats()[0].requests, 1202);
    });
}

/// The allocations of a whole run of `executor` against a fresh server, on every thread but
/// the server's, and its requests.
fn allocations_of(executor: volley_plan::Executor) -> (u64, u64) {
    let addr = server();
    let spec = support::quick_spec(&format!("http://{addr}/x"), executor);
    let opts = volley_engine::RunOptions { threads: 2, ..Default::default() };
    let before = counting::count_all_threads(true);
    let r = volley_engine::run(&spec, opts).unwrap();
    let allocations = counting::count_all_threads(false) - before;
    r.totals.check().unwrap();
    assert_eq!(r.totals.failed, 0, "{:?}", r.failures);
    (allocations, r.totals.requests)
}

/// Allocations per request beyond the first run's, between two runs that differ only in how
/// many requests they make.
fn per_extra_request(small: (u64, u64), large: (u64, u64)) -> f64 {
    assert!(large.1 >= small.1 * 4, "{small:?} {large:?}");
    large.0.saturating_sub(small.0) as f64 / (large.1 - small.1) as f64
}

#[test]
fn runs_do_not_allocate_per_request() {
    use volley_plan::Executor;
    // Closed model: 4 VUs, 1,000 then 8,000 iterations (well under a second each).
    let closed = |iterations| Executor::SharedIterations {
        vus: 4,
        iterations,
        max_duration: Duration::from_secs(60),
    };
    let small = allocations_of(closed(1_000));
    let large = allocations_of(closed(8_000));
    let closed = per_extra_request(small, large);
    // Open model: 3 s at 100/s, then at 1,500/s, on one VU per thread: one connection each
    // in both runs (a larger pool would open more connections in the faster run, its bursts
    // finding more VUs busy). A slot dropped for a busy VU must not allocate either.
    let open = |rate| Executor::ConstantArrivalRate {
        rate,
        duration: Duration::from_secs(3),
        pre_allocated_vus: 2,
        max_vus: 2,
        max_iterations: None,
    };
    let small_open = allocations_of(open(100.0));
    let large_open = allocations_of(open(1_500.0));
    let open = per_extra_request(small_open, large_open);
    eprintln!(
        "closed {small:?} {large:?} {closed:.4}/request; open {small_open:?} {large_open:?} {open:.4}/request"
    );
    // A task or a request head per arrival would be 1 or more. The slack, a few dozen in
    // thousands of requests, is for what grows with a run's largest values rather than its
    // count: a histogram meeting a slower request than any before (on a loaded machine, each
    // of a thread's histograms may grow a few times), a run queue meeting a longer burst.
    assert!(closed < 0.02, "closed model: {closed} allocations per request");
    assert!(open < 0.02, "open model: {open} allocations per request");
}
