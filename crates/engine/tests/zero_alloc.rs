//! The HTTP/1.1 hot path does not allocate: after warm-up, a thousand keep-alive requests on
//! one VU's connection, each measured into the VU's one sample and recorded from it, make no
//! heap allocation on the VU's thread. A counting global allocator (this test binary only)
//! counts allocations made while the flag of the calling thread is set, so the server
//! thread's allocations do not count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use volley_engine::transport::{Client, ConnGauge, Kept, Prepared};
use volley_metrics::recorder::Names;
use volley_metrics::{Recorder, Sample};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A keep-alive server answering every request head with a chunked response.
fn server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
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
    });
    addr
}

#[test]
fn keep_alive_requests_do_not_allocate_after_warm_up() {
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
        COUNTING.with(|c| c.set(true));
        for _ in 0..1000 {
            one(&mut ex, &mut kept).await;
            assert!(ex.failure.is_none() && ex.status == 200 && ex.backend == "b1");
        }
        COUNTING.with(|c| c.set(false));
        assert_eq!(client.conns.peak.get(), 1, "one connection throughout");
        assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 0, "allocations in 1000 requests");
        assert_eq!(recorder.requests(), 1202);
        assert_eq!(recorder.backend_stats()[0].requests, 1202);
    });
}
