//! HTTP/2 (the `h2` crate): `--http2` (ALPN h2 over TLS, HTTP/1.1 when the server does not
//! pick it), `--http2-prior-knowledge` and h2c over plain http, `-p/--streams N`.
//!
//! One connection carries the streams of up to N VUs of a worker thread (a [`Group`]); each VU
//! keeps at most one stream in flight, so `-c C -p N` is C connections with N streams each.
//! The connection is driven by a local task of its thread (h2 multiplexes: no single VU owns
//! it); every VU times its own request with its own timer ([`Conn::guarded`]), so a stream
//! stalled by flow control fails as `timeout`. Bytes are counted on the socket: each request
//! takes the connection's bytes since the previous one took its share, so data sent and
//! received add up to what crossed the wire.
//!
//! Failures: RST_STREAM is `stream_reset` (REFUSED_STREAM, never processed, is sent again
//! once on the same connection); a GOAWAY ends the connection for new streams, sends the
//! requests it left unprocessed again once on a fresh one, and is `goaway` when that fails
//! too or it came with an error code mid-request. A request that never left (its
//! connection was found gone) is sent again once; one whose connection was lost before any
//! of its response arrived is sent again once when its method allows, as on HTTP/1.1. A
//! protocol violation h2 notices (it answers with a GOAWAY of its own) is `malformed`.
//! Until the server's SETTINGS arrive, a connection opens one stream at a time, so `-p`
//! above the server's MAX_CONCURRENT_STREAMS waits instead of being refused.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderName, Request, Uri};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use volley_metrics::{FailureKind, Sample};
use volley_plan::HttpVersion;

use crate::clock::Tick;
use crate::http1::conn::{Conn, IoFail, Stream};
use crate::transport::{Client, Kept, Origin, Prepared, classify_io};

/// The connections of one worker thread's HTTP/2 VUs.
#[derive(Default)]
pub struct Pool {
    /// VUs per connection (`-p`, at least 1).
    streams: usize,
    groups: RefCell<Vec<Rc<Group>>>,
    /// Origins that answered `--http2`'s ALPN with HTTP/1.1: later requests go there by
    /// HTTP/1.1 at once.
    h1_only: RefCell<Vec<Origin>>,
    /// TLS configurations with h2 in ALPN: offering h2 and HTTP/1.1, and h2 alone.
    tls: RefCell<Option<(Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>)>>,
    /// Responses received by HTTP/1.1 and by HTTP/2 on this thread.
    pub responses_h1: Cell<u64>,
    pub responses_h2: Cell<u64>,
}

/// A VU's place in a [`Group`]; leaving the VU frees it.
pub struct Lane {
    group: Rc<Group>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.group.members.set(self.group.members.get().saturating_sub(1));
    }
}

/// Up to `streams` VUs and the connections they share (one per origin).
#[derive(Default)]
struct Group {
    members: Cell<usize>,
    conns: RefCell<Vec<Shared>>,
    /// Origins one member is connecting to; the others wait for `connected`.
    connecting: RefCell<Vec<Origin>>,
    connected: tokio::sync::Notify,
}

/// One live HTTP/2 connection.
#[derive(Clone)]
struct Shared {
    origin: Origin,
    send: SendRequest<Bytes>,
    /// Cleared by the connection task when the connection ends.
    alive: Rc<Cell<bool>>,
    /// Bytes written and read on the socket, and how much of them requests took already.
    io: Rc<Counts>,
    /// Responses received on it.
    answered: Rc<Cell<u64>>,
    /// Its streams in flight, within the server's MAX_CONCURRENT_STREAMS.
    gate: Rc<Gate>,
}

/// The streams of a connection in flight, and the VUs waiting for one to end. h2 would
/// take the streams above the server's limit and hold them unsent; a GOAWAY then fails
/// them as if the server had seen them. Waiting here, every stream opened is on the wire.
#[derive(Default)]
struct Gate {
    open: Cell<usize>,
    freed: tokio::sync::Notify,
}

/// One stream of a connection's [`Gate`], given back when dropped.
struct GateSlot<'a>(&'a Gate);

impl Drop for GateSlot<'_> {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        self.0.freed.notify_one();
    }
}

/// Waits (within the request's deadline) until `shared` may open one more stream.
async fn stream_slot<'a>(conn: &mut Conn, shared: &'a Shared) -> Result<GateSlot<'a>, Fail> {
    let gate = &*shared.gate;
    while gate.open.get() >= shared.send.current_max_send_streams() {
        let freed = gate.freed.notified();
        guarded(conn.guarded(freed).await)?;
    }
    gate.open.set(gate.open.get() + 1);
    // Room for more (the server's SETTINGS raised the limit while VUs waited): wake the next.
    if gate.open.get() < shared.send.current_max_send_streams() {
        gate.freed.notify_one();
    }
    Ok(GateSlot(gate))
}

#[derive(Default)]
struct Counts {
    sent: Cell<u64>,
    received: Cell<u64>,
    sent_taken: Cell<u64>,
    received_taken: Cell<u64>,
}

impl Counts {
    /// The bytes since the last request took its share.
    fn take(&self, out: &mut Sample) {
        out.bytes_sent += self.sent.get() - self.sent_taken.replace(self.sent.get());
        out.bytes_received +=
            self.received.get() - self.received_taken.replace(self.received.get());
    }
}

impl Pool {
    pub fn new(streams: u32) -> Pool {
        Pool { streams: streams.max(1) as usize, ..Pool::default() }
    }

    /// True when requests of `version` to `origin` go by HTTP/2.
    pub fn wants(&self, version: HttpVersion, origin: &Origin) -> bool {
        match version {
            HttpVersion::Http1 => false,
            HttpVersion::Http2PriorKnowledge => true,
            HttpVersion::Http2 => !self.h1_only.borrow().contains(origin),
        }
    }

    /// A place for a new VU: the first group with room, or a new one.
    fn join(&self) -> Lane {
        let mut groups = self.groups.borrow_mut();
        let group = match groups.iter().find(|g| g.members.get() < self.streams) {
            Some(g) => g.clone(),
            None => {
                groups.retain(|g| g.members.get() > 0);
                let g = Rc::new(Group::default());
                groups.push(g.clone());
                g
            }
        };
        group.members.set(group.members.get() + 1);
        Lane { group }
    }

    fn tls(&self, client: &Client, alpn_fallback: bool) -> Option<Arc<rustls::ClientConfig>> {
        let mut cache = self.tls.borrow_mut();
        if cache.is_none() {
            let base = client.tls.as_ref()?;
            let with = |protocols: Vec<Vec<u8>>| {
                let mut c = (**base).clone();
                c.alpn_protocols = protocols;
                Arc::new(c)
            };
            *cache = Some((
                with(vec![b"h2".to_vec(), b"http/1.1".to_vec()]),
                with(vec![b"h2".to_vec()]),
            ));
        }
        cache.as_ref().map(|(both, h2)| if alpn_fallback { both.clone() } else { h2.clone() })
    }
}

/// How a request sent by HTTP/2 ended.
pub enum Sent {
    Done,
    /// The server picked HTTP/1.1 in ALPN: `conn` holds that TLS connection, and the
    /// request is to go by HTTP/1.1 on it.
    FellBack,
}

/// Why an attempt failed, whether it may be sent again, and whether its connection is done.
struct Fail {
    kind: FailureKind,
    /// The server never processed the request (it never left, GOAWAY above the server's last
    /// stream, REFUSED_STREAM): sent again once, whatever its method.
    unprocessed: bool,
    /// The connection was lost before any of the response arrived: sent again once when
    /// its method allows, as HTTP/1.1 does on a reused connection.
    unanswered: bool,
    /// The connection takes no more streams (GOAWAY, lost, a protocol error): the next
    /// request opens a fresh one. A stream's own reset leaves it be.
    conn_gone: bool,
    /// The request's stream was opened (it went on the wire).
    left: bool,
    /// The connection had answered other requests when it failed this one.
    progress: bool,
}

impl Fail {
    fn of(kind: FailureKind) -> Fail {
        Fail {
            kind,
            unprocessed: false,
            unanswered: false,
            conn_gone: false,
            left: false,
            progress: false,
        }
    }
}

/// How far a request's stream got when it failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not opened: the request never left.
    Unsent,
    /// Opened, no response head yet.
    Waiting,
    /// The head arrived; the body was being read.
    Body,
}

/// Sends `req` by HTTP/2 on the connection of `conn`'s group, measuring it in `out` (already
/// reset, with its start and the deadline set on `conn`) and keeping in `kept` what the
/// caller reads of the response.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    client: &Client,
    conn: &mut Conn,
    req: &Prepared,
    version: HttpVersion,
    start: Tick,
    keep: bool,
    backend_header: Option<&HeaderName>,
    out: &mut Sample,
    kept: &mut Kept,
) -> Sent {
    if conn.lane.is_none() {
        conn.lane = Some(client.h2.join());
    }
    let mut retried = false;
    loop {
        let group = conn.lane.as_ref().map(|l| l.group.clone()).unwrap_or_default();
        let r = attempt(client, conn, &group, req, version, start, keep, backend_header, out, kept);
        match r.await {
            Ok(Some(sent)) => return sent,
            Ok(None) => {
                client.h2.responses_h2.set(client.h2.responses_h2.get() + 1);
                return Sent::Done;
            }
            // Never sent, from a connection that answered others before it went: the server
            // makes progress, so this does not use up the one retry.
            Err(f) if f.unprocessed && !f.left && f.progress => {}
            Err(f)
                if !retried
                    && (f.unprocessed || (f.unanswered && client.may_retry(&req.method))) =>
            {
                retried = true;
                // Sent again: not a request that never left the first time.
                out.retried |= f.left;
            }
            Err(f) => {
                out.failure = Some(f.kind);
                out.finished = Some(client.clock.instant(Tick::now()));
                return Sent::Done;
            }
        }
    }
}

/// One try: a connection of the group (opened if needed), a stream, the response.
/// `Ok(Some(FellBack))` when the server chose HTTP/1.1.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    client: &Client,
    conn: &mut Conn,
    group: &Rc<Group>,
    req: &Prepared,
    version: HttpVersion,
    start: Tick,
    keep: bool,
    backend_header: Option<&HeaderName>,
    out: &mut Sample,
    kept: &mut Kept,
) -> Result<Option<Sent>, Fail> {
    let shared = loop {
        let live =
            group.conns.borrow().iter().find(|s| s.origin == req.origin && s.alive.get()).cloned();
        if let Some(s) = live {
            break s;
        }
        if group.connecting.borrow().contains(&req.origin) {
            let wait = group.connected.notified();
            conn.guarded(wait).await.map_err(|_| Fail::of(FailureKind::Timeout))?;
            continue;
        }
        group.connecting.borrow_mut().push(req.origin.clone());
        let opened = Box::pin(connect(client, conn, &req.origin, version, out)).await;
        group.connecting.borrow_mut().retain(|o| *o != req.origin);
        group.connected.notify_waiters();
        match opened? {
            Some(s) => {
                let mut conns = group.conns.borrow_mut();
                conns.retain(|c| c.alive.get());
                conns.push(s.clone());
                break s;
            }
            None => return Ok(Some(Sent::FellBack)),
        }
    };
    let ready_at = Tick::now().max(start);
    // A connection that never answered anything is not retried on when it is lost (as
    // HTTP/1.1 retries only on a reused connection): that server fails for real.
    let reused = shared.answered.get() > 0;
    let mut result = exchange(conn, &shared, req, keep, backend_header, out, kept, ready_at).await;
    shared.io.take(out);
    match &mut result {
        Ok(done) => {
            out.finished = Some(client.clock.instant(*done));
            shared.answered.set(shared.answered.get() + 1);
        }
        Err(f) => {
            f.unanswered &= reused;
            f.progress = shared.answered.get() > 0;
            if f.conn_gone {
                shared.alive.set(false);
            }
        }
    }
    result.map(|_| None)
}

/// The stream of one request on a live connection.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    conn: &mut Conn,
    shared: &Shared,
    req: &Prepared,
    keep: bool,
    backend_header: Option<&HeaderName>,
    out: &mut Sample,
    kept: &mut Kept,
    ready_at: Tick,
) -> Result<Tick, Fail> {
    let before = |e| h2_fail(e, Stage::Unsent);
    let waiting = |e| h2_fail(e, Stage::Waiting);
    let _slot = stream_slot(conn, shared).await?;
    let mut send = guarded(conn.guarded(shared.send.clone().ready()).await)?.map_err(before)?;
    let request = request_of(req)?;
    let end = req.body.is_empty();
    let (response, mut body_tx) = send.send_request(request, end).map_err(|e| {
        if e.is_io() || e.is_go_away() || e.is_reset() {
            before(e)
        } else {
            // h2 refused the request itself (a header HTTP/2 forbids): the connection is
            // fine, and sending it again would fail the same way.
            Fail::of(FailureKind::Other)
        }
    })?;
    if !end {
        body_tx.send_data(req.body.clone(), true).map_err(waiting)?;
    }
    let written = Tick::now();
    out.sending_us = written.micros_since(ready_at);
    let response = guarded(conn.guarded(response).await)?.map_err(waiting)?;
    let head_at = Tick::now();
    out.waiting_us = head_at.micros_since(written);
    let (parts, mut body) = response.into_parts();
    out.status = parts.status.as_u16();
    if let Some(h) = backend_header
        && let Some(v) = parts.headers.get(h)
    {
        out.has_backend = true;
        out.backend.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    kept.set_cookie = parts.headers.contains_key(http::header::SET_COOKIE);
    if keep || kept.set_cookie {
        kept.headers = parts.headers;
    }
    while let Some(chunk) = guarded(conn.guarded(body.data()).await)? {
        let chunk = chunk.map_err(|e| h2_fail(e, Stage::Body))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.body_bytes += chunk.len() as u64;
        if keep {
            kept.body.extend_from_slice(&chunk);
        }
    }
    let done = Tick::now();
    out.receiving_us = done.micros_since(head_at);
    Ok(done)
}

/// The HTTP/2 request of a prepared one; its URI and headers are made once per prepared
/// request ([`h2_parts`]) and cloned for each send.
fn request_of(req: &Prepared) -> Result<Request<()>, Fail> {
    let (uri, headers) = req
        .h2
        .get_or_init(|| h2_parts(req))
        .as_ref()
        .ok_or_else(|| Fail::of(FailureKind::Other))?;
    let mut r = Request::new(());
    *r.method_mut() = req.method.clone();
    *r.uri_mut() = uri.clone();
    *r.headers_mut() = headers.clone();
    Ok(r)
}

/// The URI and headers of the HTTP/2 form of `req`: the same method, URL and headers,
/// without the connection-specific ones HTTP/2 forbids (`Host` becomes `:authority`).
fn h2_parts(req: &Prepared) -> Option<(Uri, http::HeaderMap)> {
    let scheme = if req.origin.https { "https" } else { "http" };
    let authority = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| host_port(&req.origin));
    let path = req.path.path_and_query().map_or("/", |p| p.as_str());
    let uri =
        Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build().ok()?;
    let mut headers = http::HeaderMap::with_capacity(req.headers.len());
    for (k, v) in &req.headers {
        if !matches!(
            k.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "upgrade"
                | "proxy-connection"
        ) {
            headers.append(k, v.clone());
        }
    }
    Some((uri, headers))
}

/// A step that did not complete before the request's deadline is a timeout.
fn guarded<T>(r: Result<T, IoFail>) -> Result<T, Fail> {
    r.map_err(|_| Fail::of(FailureKind::Timeout))
}

fn host_port(o: &Origin) -> String {
    if o.host.contains(':') {
        format!("[{}]:{}", o.host, o.port)
    } else {
        format!("{}:{}", o.host, o.port)
    }
}

/// The failure of an h2 error met at `stage`.
fn h2_fail(e: h2::Error, stage: Stage) -> Fail {
    use h2::Reason;
    let lost = |kind| Fail {
        kind,
        unprocessed: false,
        unanswered: stage != Stage::Body,
        conn_gone: true,
        left: false,
        progress: false,
    };
    let mut f = if let Some(io) = e.get_io() {
        let kind = classify_io(io);
        Fail {
            unanswered: stage != Stage::Body
                && matches!(kind, FailureKind::Closed | FailureKind::Reset),
            ..lost(kind)
        }
    } else if e.is_go_away() && e.is_remote() {
        // A graceful shutdown fails only the streams the server never processed.
        let graceful = e.reason() == Some(Reason::NO_ERROR);
        Fail { unprocessed: graceful, unanswered: false, ..lost(FailureKind::Goaway) }
    } else if e.is_reset() && e.is_remote() {
        let refused = e.reason() == Some(Reason::REFUSED_STREAM);
        Fail { unprocessed: refused, ..Fail::of(FailureKind::StreamReset) }
    } else if e.is_library() || e.is_reset() {
        // h2 noticed a protocol violation of the server's and answered it with a GOAWAY
        // (the connection is done) or a RST_STREAM of its own.
        Fail { conn_gone: e.is_go_away(), ..Fail::of(FailureKind::Malformed) }
    } else {
        // The connection ended (the server closed it).
        lost(FailureKind::Closed)
    };
    // A request that never left was processed by nobody, whatever ended the connection.
    f.left = stage != Stage::Unsent;
    f.unprocessed |= !f.left;
    f
}

/// Opens an HTTP/2 connection to `origin` (TCP, TLS with h2 in ALPN for https), timing each
/// phase in `out`. `Ok(None)` when the server picked HTTP/1.1: the TLS connection is then in
/// `conn` for the HTTP/1.1 path.
async fn connect(
    client: &Client,
    conn: &mut Conn,
    origin: &Origin,
    version: HttpVersion,
    out: &mut Sample,
) -> Result<Option<Shared>, Fail> {
    let addr = client.addr(origin).await.map_err(Fail::of)?;
    let t0 = Tick::now();
    let tcp = conn
        .guarded(TcpStream::connect(addr))
        .await
        .map_err(|_| Fail::of(FailureKind::Timeout))?
        .map_err(|e| Fail::of(classify_io(&e)))?;
    let _ = tcp.set_nodelay(true);
    out.connecting_us += Tick::now().micros_since(t0);
    if !origin.https {
        return handshake(conn, tcp, origin, client).await.map(Some);
    }
    let t1 = Tick::now();
    let fallback = version == HttpVersion::Http2;
    let config = client.h2.tls(client, fallback).ok_or(Fail::of(FailureKind::Tls))?;
    let name = ServerName::try_from(origin.host.clone()).map_err(|_| Fail::of(FailureKind::Tls))?;
    let tls = conn
        .guarded(tokio_rustls::TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| Fail::of(FailureKind::Timeout))?
        .map_err(|e| {
            Fail::of(match classify_io(&e) {
                k @ (FailureKind::Reset | FailureKind::Refused) => k,
                _ => FailureKind::Tls,
            })
        })?;
    out.tls_us += Tick::now().micros_since(t1);
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    if !h2 && fallback {
        client.h2.h1_only.borrow_mut().push(origin.clone());
        conn.attach(Stream::Tls(Box::new(tls)), origin, &client.conns);
        return Ok(None);
    }
    handshake(conn, tls, origin, client).await.map(Some)
}

/// The HTTP/2 preface and settings on `io`, and the local task that drives the connection.
async fn handshake<T>(
    conn: &mut Conn,
    io: T,
    origin: &Origin,
    client: &Client,
) -> Result<Shared, Fail>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let counts = Rc::new(Counts::default());
    let io = Counted { io, counts: counts.clone() };
    let builder = h2::client::Builder::new()
        // One stream until the server's SETTINGS say how many it takes (none said: no
        // limit), so that `-p` above its MAX_CONCURRENT_STREAMS is not refused at the start.
        .initial_max_send_streams(1)
        // Windows as large as nginx's defaults allow, so flow control does not throttle the
        // bodies of a load test (h2load's defaults are 64 KiB... 1 GiB; a stall still times out).
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake::<_, Bytes>(io);
    let (send, connection) = conn
        .guarded(builder)
        .await
        .map_err(|_| Fail::of(FailureKind::Timeout))?
        .map_err(|e| h2_fail(e, Stage::Unsent))?;
    let alive = Rc::new(Cell::new(true));
    let gauge = client.conns.clone();
    gauge.opened();
    let flag = alive.clone();
    tokio::task::spawn_local(async move {
        let _ = connection.await;
        flag.set(false);
        gauge.open.set(gauge.open.get().saturating_sub(1));
    });
    Ok(Shared {
        origin: origin.clone(),
        send,
        alive,
        io: counts,
        answered: Rc::default(),
        gate: Rc::default(),
    })
}

/// A socket that counts the bytes crossing it.
struct Counted<T> {
    io: T,
    counts: Rc<Counts>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.counts.received.set(self.counts.received.get() + n);
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.counts.sent.set(self.counts.sent.get() + n as u64);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.counts.sent.set(self.counts.sent.get() + n as u64);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
