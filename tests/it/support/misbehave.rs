//! HTTP servers that misbehave on purpose, written on raw TCP so that every byte they send
//! (or do not send) is under the test's control: delays, a one-off stall, resets, silence,
//! garbage, truncated bodies, early closes, a chosen request failing.
//!
//! Each [`TestServer`] listens on 127.0.0.1:0 and runs on its own thread and runtime, so tests
//! can be plain `#[test]` functions that block on a child process. It counts, on the server's
//! side, the connections accepted and the requests read, which is what tests compare volley's
//! figures with. Dropping it stops it and closes every connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does once it has read a complete request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A well-formed response with this status and a body of `body_len` bytes (`x`s).
    Respond { status: u16, body_len: usize },
    /// Close with SO_LINGER 0: the client sees a TCP reset.
    Reset,
    /// Never answer; keep the connection open (the client's timeout fires).
    Silent,
    /// Answer with bytes that are not HTTP, then close.
    Garbage,
    /// Headers announcing a 100-byte body, 10 bytes of it, then close.
    Truncated,
    /// Close without writing anything.
    EarlyClose,
    /// As soon as a connection is accepted, before reading anything: write bytes that are
    /// neither HTTP nor TLS, then close. An https client sees a failed TLS handshake.
    GarbageOnConnect,
}

/// A hold of every response, once: responses due in `[first request + after, + hold)` are
/// sent at the end of that window, as a server in a GC pause or a stop-the-world would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    pub after: Duration,
    pub hold: Duration,
}

/// The server's behaviour: an action for every request, optionally a different one for the
/// n-th request, a fixed delay before acting, and a one-off stall.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub action: Action,
    pub delay: Duration,
    pub stall: Option<Stall>,
    /// `(n, action)`: the n-th request (1-based, over the server's life) gets `action`.
    pub nth: Option<(u64, Action)>,
}

impl Behavior {
    /// `200 OK` with a 2-byte body, at once.
    pub fn ok() -> Self {
        Self::action(Action::Respond { status: 200, body_len: 2 })
    }
    /// Always this status (2-byte body).
    pub fn status(status: u16) -> Self {
        Self::action(Action::Respond { status, body_len: 2 })
    }
    pub fn action(action: Action) -> Self {
        Behavior { action, delay: Duration::ZERO, stall: None, nth: None }
    }
    /// Waits `d` before acting on each request.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    /// Holds every response for `hold`, once, starting `after` the first request arrived.
    pub fn stall(mut self, after: Duration, hold: Duration) -> Self {
        self.stall = Some(Stall { after, hold });
        self
    }
    /// The n-th request (1-based) gets `action` instead.
    pub fn fail_nth(mut self, n: u64, action: Action) -> Self {
        self.nth = Some((n, action));
        self
    }
}

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    first_request: OnceLock<Instant>,
    last_request: std::sync::Mutex<Vec<u8>>,
}

/// A running misbehaving server. See the module doc.
pub struct TestServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(behavior: Behavior) -> TestServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let behavior = Arc::new(behavior);
        let thread_stats = stats.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else { continue };
                        let _ = sock.set_nodelay(true);
                        thread_stats.connections.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(serve_connection(
                            sock,
                            behavior.clone(),
                            thread_stats.clone(),
                        ));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
            // Dropping the runtime cancels every connection task, closing their sockets.
            rt.shutdown_background();
        });
        TestServer { addr, stats, stop: Some(stop), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` plus `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Complete requests read so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    /// The bytes of the last complete request read (head and body).
    pub fn last_request(&self) -> String {
        String::from_utf8_lossy(&self.stats.last_request.lock().unwrap()).into_owned()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A URL on which nothing listens: a port bound and released at once. (Another process could
/// take the port in between; the kernel does not hand out a just-freed ephemeral port again
/// soon, so in practice the connection is refused.)
pub fn refused_url(path: &str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}{path}")
}

/// A parsed request head: how many body bytes follow, and whether the client asked to close.
struct Head {
    len: usize,
    content_length: usize,
    close: bool,
}

fn parse_head(buf: &[u8]) -> Option<Head> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut content_length = 0;
    // HTTP/1.0 closes after each response unless asked otherwise; volley speaks 1.1.
    let mut close = text.split("\r\n").next().is_some_and(|l| l.ends_with("HTTP/1.0"));
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Some(Head { len: end, content_length, close })
}

async fn serve_connection(mut sock: TcpStream, behavior: Arc<Behavior>, stats: Arc<Stats>) {
    if behavior.action == Action::GarbageOnConnect {
        let _ = sock.write_all(b"\x00\x01 neither HTTP nor TLS \xff\xfe\r\n\r\n").await;
        let _ = sock.shutdown().await;
        return;
    }
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one full request (head and body).
        let head = loop {
            if let Some(h) = parse_head(&buf)
                && buf.len() >= h.len + h.content_length
            {
                break h;
            }
            if buf.len() > 1 << 20 {
                return;
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let request: Vec<u8> = buf.drain(..head.len + head.content_length).collect();
        *stats.last_request.lock().unwrap() = request;
        let n = stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let first = *stats.first_request.get_or_init(Instant::now);

        let action = match &behavior.nth {
            Some((nth, a)) if *nth == n => a.clone(),
            _ => behavior.action.clone(),
        };
        if !behavior.delay.is_zero() {
            tokio::time::sleep(behavior.delay).await;
        }
        if let Some(s) = behavior.stall {
            let (from, to) = (first + s.after, first + s.after + s.hold);
            let now = Instant::now();
            if now >= from && now < to {
                tokio::time::sleep_until(to.into()).await;
            }
        }
        match action {
            Action::Respond { status, body_len } => {
                let reason = if status == 200 { "OK" } else { "Status" };
                let conn = if head.close { "Connection: close\r\n" } else { "" };
                let mut out = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Length: {body_len}\r\n{conn}\r\n"
                )
                .into_bytes();
                out.resize(out.len() + body_len, b'x');
                if sock.write_all(&out).await.is_err() || head.close {
                    return;
                }
            }
            Action::Reset => {
                let _ = sock.set_zero_linger();
                return;
            }
            Action::Silent => std::future::pending::<()>().await,
            Action::Garbage => {
                let _ = sock.write_all(b"\x00\x01 this is not HTTP \xff\xfe\r\n\r\n").await;
                let _ = sock.shutdown().await;
                return;
            }
            Action::Truncated => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    .await;
                let _ = sock.shutdown().await;
                return;
            }
            Action::EarlyClose | Action::GarbageOnConnect => {
                let _ = sock.shutdown().await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn behaviours_do_what_they_say() {
        let ok = TestServer::start(Behavior::ok().fail_nth(2, Action::EarlyClose));
        assert!(get(ok.addr()).unwrap().starts_with("HTTP/1.1 200 OK"));
        assert_eq!(get(ok.addr()).unwrap(), "");
        assert!(get(ok.addr()).unwrap().ends_with("\r\n\r\nxx"));
        assert_eq!((ok.requests(), ok.connections()), (3, 3));

        let reset = TestServer::start(Behavior::action(Action::Reset));
        let e = get(reset.addr()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");

        let silent = TestServer::start(Behavior::action(Action::Silent));
        let e = get(silent.addr()).unwrap_err();
        assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));

        let trunc = TestServer::start(Behavior::action(Action::Truncated));
        assert!(get(trunc.addr()).unwrap().ends_with("0123456789"));

        let garbage = TestServer::start(Behavior::action(Action::Garbage));
        assert!(get(garbage.addr()).unwrap().contains("not HTTP"));

        let refused = refused_url("/");
        let addr: SocketAddr =
            refused.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        assert_eq!(get(addr).unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn stall_holds_responses_once() {
        let s = TestServer::start(
            Behavior::ok().stall(Duration::from_millis(100), Duration::from_millis(300)),
        );
        let t = Instant::now();
        get(s.addr()).unwrap();
        assert!(t.elapsed() < Duration::from_millis(90));
        std::thread::sleep(Duration::from_millis(120));
        let t = Instant::now();
        get(s.addr()).unwrap();
        let held = t.elapsed();
        assert!(
            held >= Duration::from_millis(200) && held < Duration::from_millis(400),
            "{held:?}"
        );
        let t = Instant::now();
        get(s.addr()).unwrap();
        assert!(t.elapsed() < Duration::from_millis(90));
    }
}
