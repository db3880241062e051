//! An HTTP/2 server (the `h2` crate's server side) on 127.0.0.1:0, h2c or TLS with a
//! self-signed certificate (ALPN h2), whose misbehaviour the test chooses: answer after a
//! delay, reset every k-th stream (RST_STREAM), shut each connection down (GOAWAY, graceful or
//! with an error code) after k streams, limit its concurrent streams, close each connection
//! without a word after k answers. It counts connections, streams, answers and the most
//! streams in flight at once on the server side. A TLS
//! server that offers only HTTP/1.1 in ALPN ([`H2Server::tls_http1_only`]) checks the
//! fallback of `--http2`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the server does with each stream.
#[derive(Debug, Clone, Default)]
pub struct H2Behavior {
    /// Answer after this long.
    pub delay: Duration,
    /// Reset every k-th stream (counted over the server) with INTERNAL_ERROR; 0 never.
    pub reset_every: u64,
    /// Send a graceful GOAWAY after accepting this many streams on a connection; 0 never.
    pub goaway_after: u64,
    /// With `goaway_after`: a GOAWAY with this error code instead (an abrupt shutdown, which
    /// closes the connection without waiting for the streams in flight).
    pub goaway_error: Option<h2::Reason>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS; h2 refuses the streams above it (REFUSED_STREAM).
    pub max_concurrent_streams: Option<u32>,
    /// Close each connection (TCP, no GOAWAY) once it answered this many streams; 0 never.
    pub close_after: u64,
    pub tls: bool,
}

#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    streams: AtomicU64,
    answered: AtomicU64,
    resets: AtomicU64,
    goaways: AtomicU64,
    /// Streams being answered now, and the most at once.
    active: AtomicU64,
    max_active: AtomicU64,
}

/// The running server; stops when dropped.
pub struct H2Server {
    addr: std::net::SocketAddr,
    tls: bool,
    counts: Arc<Counts>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl H2Server {
    pub fn start(b: H2Behavior) -> H2Server {
        let tls = b.tls;
        Self::spawn(tls, move |sock, counts, acceptor| {
            let b = b.clone();
            async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(sock).await {
                            serve_h2(s, &b, &counts).await
                        }
                    }
                    None => serve_h2(sock, &b, &counts).await,
                }
            }
        })
    }

    /// TLS with `http/1.1` alone in ALPN, answering `200 ok` by HTTP/1.1 (keep-alive).
    pub fn tls_http1_only() -> H2Server {
        Self::spawn_with(true, &[b"http/1.1"], |sock, counts, acceptor| async move {
            if let Some(a) = acceptor
                && let Ok(s) = a.accept(sock).await
            {
                serve_h1(s, &counts).await;
            }
        })
    }

    fn spawn<F, Fut>(tls: bool, conn: F) -> H2Server
    where
        F: Fn(tokio::net::TcpStream, Arc<Counts>, Option<tokio_rustls::TlsAcceptor>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        Self::spawn_with(tls, &[b"h2"], conn)
    }

    fn spawn_with<F, Fut>(tls: bool, alpn: &[&[u8]], conn: F) -> H2Server
    where
        F: Fn(tokio::net::TcpStream, Arc<Counts>, Option<tokio_rustls::TlsAcceptor>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let acceptor = tls.then(|| super::tls::acceptor(alpn));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let c = counts.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => return,
                        a = listener.accept() => {
                            let Ok((sock, _)) = a else { continue };
                            c.connections.fetch_add(1, Ordering::Relaxed);
                            tokio::spawn(conn(sock, c.clone(), acceptor.clone()));
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        H2Server { addr, tls, counts, stop: Some(tx), thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        match self.tls {
            true => format!("https://localhost:{}{path}", self.addr.port()),
            false => format!("http://{}{path}", self.addr),
        }
    }
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::Relaxed)
    }
    /// Streams (or HTTP/1.1 requests) received.
    pub fn streams(&self) -> u64 {
        self.counts.streams.load(Ordering::Relaxed)
    }
    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::Relaxed)
    }
    pub fn resets(&self) -> u64 {
        self.counts.resets.load(Ordering::Relaxed)
    }
    pub fn max_active(&self) -> u64 {
        self.counts.max_active.load(Ordering::Relaxed)
    }
    pub fn goaways(&self) -> u64 {
        self.counts.goaways.load(Ordering::Relaxed)
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_h2<T>(io: T, b: &H2Behavior, counts: &Arc<Counts>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    if let Some(m) = b.max_concurrent_streams {
        builder.max_concurrent_streams(m);
    }
    let Ok(mut conn) = builder.handshake(io).await else { return };
    let mut accepted = 0u64;
    let answered_here = Arc::new(AtomicU64::new(0));
    loop {
        let r = if b.close_after > 0 && answered_here.load(Ordering::Relaxed) >= b.close_after {
            // Dropping the connection closes the socket; no GOAWAY is sent.
            return;
        } else if b.close_after > 0 {
            // Polled in short turns, so that the close follows the answer that reached it.
            match tokio::time::timeout(Duration::from_millis(5), conn.accept()).await {
                Ok(r) => r,
                Err(_) => continue,
            }
        } else {
            conn.accept().await
        };
        let Some(r) = r else { return };
        let Ok((req, mut respond)) = r else { return };
        accepted += 1;
        let n = counts.streams.fetch_add(1, Ordering::Relaxed) + 1;
        let (c, delay) = (counts.clone(), b.delay);
        let reset = b.reset_every > 0 && n.is_multiple_of(b.reset_every);
        let here = answered_here.clone();
        tokio::spawn(async move {
            let counts = c;
            let now = counts.active.fetch_add(1, Ordering::Relaxed) + 1;
            counts.max_active.fetch_max(now, Ordering::Relaxed);
            // The request body, read to its end (flow control released as it arrives).
            let mut body = req.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if reset {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
                counts.resets.fetch_add(1, Ordering::Relaxed);
            } else {
                let resp = http::Response::builder().status(200).body(()).unwrap();
                if let Ok(mut tx) = respond.send_response(resp, false)
                    && tx.send_data(Bytes::from_static(b"ok"), true).is_ok()
                {
                    counts.answered.fetch_add(1, Ordering::Relaxed);
                    here.fetch_add(1, Ordering::Relaxed);
                }
            }
            counts.active.fetch_sub(1, Ordering::Relaxed);
        });
        if b.goaway_after > 0 && accepted == b.goaway_after {
            match b.goaway_error {
                Some(reason) => conn.abrupt_shutdown(reason),
                None => conn.graceful_shutdown(),
            }
            counts.goaways.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Minimal HTTP/1.1 keep-alive: every request (no body) answered `200 ok`.
async fn serve_h1<T: AsyncRead + AsyncWrite + Unpin>(mut io: T, counts: &Counts) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            counts.streams.fetch_add(1, Ordering::Relaxed);
            let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if io.write_all(resp).await.is_err() || io.flush().await.is_err() {
                return;
            }
            counts.answered.fetch_add(1, Ordering::Relaxed);
        }
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
