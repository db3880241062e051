//! How a request is sent: volley's own HTTP/1.1 codec ([`crate::http1`]) over one tokio TCP
//! connection per VU (rustls for https), driven by the VU's own task, with every phase timed
//! and every failure classified.
//!
//! A request is serialized once into the bytes written to the socket ([`Prepared::wire`]);
//! the response is parsed in place from the connection's reused read buffer. Phases come from
//! four reads of the [`crate::clock`]: start (or connected), written, head parsed, body
//! complete. Keeping the connection owned by the VU (no pool, no lock, no connection task)
//! is what lets a later transport batch requests per connection (pipelining).

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, HOST, HeaderValue};
use http::{HeaderMap, HeaderName, Method, Uri};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use volley_metrics::{FailureKind, Sample};

use crate::clock::{Anchor, Tick};
use crate::http1::conn::{IoFail, Stream};
use crate::http1::{self, response};

/// Where a connection goes: scheme, host and port of a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute `http`/`https` URI.
    pub fn of(uri: &Uri) -> Result<Origin, String> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(format!("unsupported scheme `{other}` (use http or https)")),
            None => return Err("not an absolute URL (expected http://host/...)".into()),
        };
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }
}

/// Checks that `url` is an absolute http(s) URL the transport can send to; `Err` says why not.
pub fn check_url(url: &str) -> Result<(), String> {
    volley_plan::Target::parse(url).map(|_| ())
}

/// Resolves a host once; the engine does this for every origin it knows before the run.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let mut addrs =
        tokio::net::lookup_host((host, port)).await.map_err(|e| e.to_string())?.collect::<Vec<_>>();
    // Prefer IPv4 like most tools do, so `localhost` hits servers bound to 127.0.0.1.
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs.first().copied().ok_or_else(|| "no address found".to_string())
}

/// A request ready to go, built once per static step or rendered per iteration.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The absolute URL, for the cookie jar.
    pub url: String,
    pub origin: Origin,
    pub method: Method,
    /// Origin-form target (`/path?query`), as HTTP/1 sends it.
    pub path: Uri,
    /// Host and user headers (and `Connection: close` without keep-alive).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The whole request as written to the socket: request line, headers, body.
    pub wire: Bytes,
    /// HTTP/1.1 unless the step asks for HTTP/2 ([`Prepared::with_version`]).
    pub version: volley_plan::HttpVersion,
    /// The HTTP/2 form (absolute URI, headers without the connection-specific ones), made
    /// the first time the request goes out by HTTP/2: a static step's, once for the run.
    pub h2: std::sync::OnceLock<Option<(Uri, HeaderMap)>>,
}

impl Prepared {
    /// Builds a request from an absolute URL and header pairs. `Err` explains what is wrong.
    pub fn new(
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        keepalive: bool,
    ) -> Result<Prepared, String> {
        // The plan crate's parser (WHATWG, as browsers): the same for every URL volley sends to.
        let target =
            volley_plan::Target::parse(url).map_err(|e| format!("invalid URL `{url}`: {e}"))?;
        let origin = Origin { https: target.https, host: target.host.clone(), port: target.port };
        let path: Uri =
            target.path_and_query().parse().map_err(|e| format!("invalid path in `{url}`: {e}"))?;
        let mut map = HeaderMap::with_capacity(headers.len() + 3);
        map.insert(HOST, HeaderValue::from_str(&target.authority).map_err(|e| e.to_string())?);
        // `user:pass@` as curl sends it, unless the user gave an Authorization header.
        if let Some(auth) = &target.basic_auth
            && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            map.insert(AUTHORIZATION, HeaderValue::from_str(auth).map_err(|e| e.to_string())?);
        }
        let url = target.url.as_str();
        for (k, v) in headers {
            // The plan crate let it through only when it equals the body's length; the
            // transport writes the length itself.
            if k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name `{k}`"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header `{k}`"))?;
            if name == HOST {
                map.insert(name, value);
            } else {
                map.append(name, value);
            }
        }
        if !keepalive {
            map.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let path_str = path.path_and_query().map_or("/", |p| p.as_str());
        let mut wire = Vec::with_capacity(64 + path_str.len() + body.len());
        let pairs = map.iter().map(|(k, v)| (k.as_str().as_bytes(), v.as_bytes()));
        http1::request::serialize(&mut wire, &method, path_str, pairs, &body);
        let wire = Bytes::from(wire);
        let version = volley_plan::HttpVersion::Http1;
        Ok(Prepared {
            url: url.to_string(),
            origin,
            method,
            path,
            headers: map,
            body,
            wire,
            version,
            h2: std::sync::OnceLock::new(),
        })
    }

    /// The request sent with `version` (the step's, see `Step::version_in`).
    pub fn with_version(mut self, version: volley_plan::HttpVersion) -> Prepared {
        self.version = version;
        self
    }
}

pub use crate::http1::conn::Conn;

/// Open connections of one worker thread, for the `connections` gauge.
#[derive(Debug, Default)]
pub struct ConnGauge {
    pub open: Cell<u64>,
    pub peak: Cell<u64>,
}

impl ConnGauge {
    pub(crate) fn opened(&self) {
        let n = self.open.get() + 1;
        self.open.set(n);
        if n > self.peak.get() {
            self.peak.set(n);
        }
    }
}

/// What the transport of one thread shares between its VUs.
pub struct Client {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub keepalive: bool,
    /// Resolved before the run; hosts first met during the run are added here.
    pub addrs: std::cell::RefCell<HashMap<(String, u16), SocketAddr>>,
    pub conns: Rc<ConnGauge>,
    /// The thread's HTTP/2 connections, and its responses per protocol.
    pub h2: crate::http2::Pool,
    /// Retry also non-idempotent requests after a dead reused connection (plan key
    /// `retry_non_idempotent`, `--retry-non-idempotent`).
    pub retry_non_idempotent: bool,
    /// Turns the phases' ticks into the sample's start and end.
    pub clock: Anchor,
}

/// What of a response the engine keeps beside its [`Sample`] (which the transport fills with
/// the measurement): the headers and body when checks or extractors read them, and the
/// headers of a response that sets cookies. Reused per VU, like its sample.
#[derive(Debug, Default)]
pub struct Kept {
    /// The response set cookies: `headers` holds its headers even when not kept otherwise.
    pub set_cookie: bool,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Kept {
    /// Empties it for the next response, keeping its buffers.
    pub fn clear(&mut self) {
        self.set_cookie = false;
        // Clearing even an empty map resets its whole index table.
        if !self.headers.is_empty() {
            self.headers.clear();
        }
        self.body.clear();
    }
}

/// Empties a sample and what is kept of its response for the next request.
fn reset(out: &mut Sample, kept: &mut Kept) {
    out.clear();
    kept.clear();
}

/// How one attempt at a request ended, before it becomes the [`Sample`]'s outcome.
enum Attempt {
    /// Answered; when its last byte came.
    Done(Tick),
    /// Failed; `retryable` when it failed on a reused connection before any byte of the
    /// response arrived (the server had closed it: the request never reached anyone).
    Failed { kind: FailureKind, retryable: bool },
}

/// How reading one response failed: the kind, and whether nothing of it had arrived when the
/// connection closed or was reset (on a reused connection: the request may be sent again).
type ReadFail = (FailureKind, bool);

/// Marks every sample of `rest` failed with `kind` (a request of a batch that got no
/// response).
fn fail_all(rest: &mut [(Sample, Kept)], kind: FailureKind, started: Instant) {
    let now = Instant::now();
    for (o, _) in rest {
        o.failure = Some(kind);
        o.started.get_or_insert(started);
        o.finished = Some(now);
    }
}

impl Client {
    /// Whether a request that found its reused connection dead may be sent again: always for
    /// idempotent methods, for the others only when the plan asks (`retry_non_idempotent`).
    pub(crate) fn may_retry(&self, method: &Method) -> bool {
        self.retry_non_idempotent || http1::request::idempotent(method)
    }

    /// The VU's connection slot, with the deadline of a request starting at `start`.
    fn slot(slot: &mut Option<Conn>, start: Instant, timeout: Duration) -> &mut Conn {
        let deadline = tokio::time::Instant::from_std(start.checked_add(timeout).unwrap_or_else(
            // An absurd timeout is no timeout: a year from now.
            || start + Duration::from_secs(365 * 24 * 3600),
        ));
        match slot {
            Some(c) => {
                c.set_deadline(deadline);
                c
            }
            None => slot.insert(Conn::new(deadline)),
        }
    }

    /// Sends `req` on the VU's connection (opening one if needed) and measures it in `out`.
    /// Never fails: a failure is `out.failure`. `keep` keeps the headers and body in `kept`.
    /// Returns when it ended (`out.finished` as a tick).
    ///
    /// A request that fails on a reused connection before any byte of its response arrived
    /// is sent once more on a fresh connection when its method is idempotent (as browsers
    /// and HTTP clients do: the server closed an idle connection as the request left), or
    /// when `retry_non_idempotent` allows it; `out.retried` says so.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        slot: &mut Option<Conn>,
        req: &Prepared,
        timeout: Duration,
        keep: bool,
        backend_header: Option<&HeaderName>,
        out: &mut Sample,
        kept: &mut Kept,
    ) -> Tick {
        reset(out, kept);
        let t0 = Tick::now();
        let start = self.clock.instant(t0);
        out.started = Some(start);
        let conn = Self::slot(slot, start, timeout);
        // HTTP/2 (boxed: rare per VU, and inline it would make every VU's future larger);
        // a server that picks HTTP/1.1 in ALPN leaves its connection in `conn` for the loop.
        if self.h2.wants(req.version, &req.origin) {
            let sent = crate::http2::send(
                self,
                conn,
                req,
                req.version,
                t0,
                keep,
                backend_header,
                out,
                kept,
            );
            if let crate::http2::Sent::Done = Box::pin(sent).await {
                return Tick::now();
            }
        }
        let mut reused = conn.is_open_to(&req.origin);
        loop {
            match self.attempt(conn, reused, t0, req, keep, backend_header, out, kept).await {
                Attempt::Done(at) => {
                    self.h2.responses_h1.set(self.h2.responses_h1.get() + 1);
                    return at;
                }
                Attempt::Failed { retryable: true, .. }
                    if !out.retried && self.may_retry(&req.method) =>
                {
                    conn.close();
                    out.retried = true;
                    reused = false;
                }
                Attempt::Failed { kind, .. } => {
                    conn.close();
                    out.failure = Some(kind);
                    let at = Tick::now();
                    out.finished = Some(self.clock.instant(at));
                    return at;
                }
            }
        }
    }

    /// HTTP/1.1 pipelining: sends `outs.len()` copies of `req` in one write on the VU's
    /// connection and reads the responses as they arrive, one [`Sample`] each (all timed
    /// from that write, as wrk and h2load time pipelined requests). `batch` is the VU's
    /// reused buffer for the written bytes.
    ///
    /// When the connection fails, the requests without a byte of their answer (idempotent,
    /// or `retry_non_idempotent`) are sent again on a fresh connection: as often as it takes
    /// when the pass had answers before the failure (each pass answers one more), else once
    /// per batch and only on a reused connection (as [`Client::send`] does for one request);
    /// a request that got part of its answer, and the rest, fail with its kind. A response that
    /// announces the close (`Connection: close`, nginx's `keepalive_requests`) leaves the
    /// requests after it unprocessed: they are sent again on a new connection and marked
    /// `retried`.
    pub async fn send_pipelined(
        &self,
        slot: &mut Option<Conn>,
        req: &Prepared,
        timeout: Duration,
        backend_header: Option<&HeaderName>,
        outs: &mut [(Sample, Kept)],
        batch: &mut Vec<u8>,
    ) {
        let n = outs.len();
        for (o, k) in outs.iter_mut() {
            reset(o, k);
        }
        let start = Tick::now();
        let conn = Self::slot(slot, self.clock.instant(start), timeout);
        let expect_body = req.method != Method::HEAD;
        let mut reused = conn.is_open_to(&req.origin);
        let mut done = 0;
        let mut resent = false;
        while done < n {
            let t0 = if done == 0 { start } else { Tick::now() };
            let began = self.clock.instant(t0);
            let rest = &mut outs[done..];
            let ready = if reused {
                t0
            } else {
                match Box::pin(self.connect(conn, &req.origin, &mut rest[0].0)).await {
                    Ok(()) => Tick::now(),
                    Err(kind) => {
                        conn.close();
                        fail_all(rest, kind, began);
                        return;
                    }
                }
            };
            batch.clear();
            for _ in 0..rest.len() {
                batch.extend_from_slice(&req.wire);
            }
            // The failure, whether nothing of its response came, and whether this pass had
            // answers before it (the server made progress on this connection).
            let mut failed: Option<(FailureKind, bool, bool)> = None;
            match conn.write_all(batch).await {
                Err(e) => failed = Some((io_fail(&e), true, false)),
                Ok(()) => {
                    let written = Tick::now();
                    for (o, _) in rest.iter_mut() {
                        o.started = Some(began);
                        o.bytes_sent += req.wire.len() as u64;
                        o.sending_us = written.micros_since(ready);
                    }
                    for (i, (o, k)) in rest.iter_mut().enumerate() {
                        let read =
                            read_response(conn, expect_body, false, backend_header, written, o, k);
                        match read.await {
                            Ok((close, at)) => {
                                o.finished = Some(self.clock.instant(at));
                                done += 1;
                                if close {
                                    conn.close();
                                    reused = false;
                                    break;
                                }
                            }
                            Err((kind, nothing)) => {
                                failed = Some((kind, nothing, i > 0));
                                break;
                            }
                        }
                    }
                }
            }
            if let Some((kind, nothing, progress)) = failed {
                conn.close();
                // Requests without a byte of their answer are sent again on a fresh
                // connection (RFC 9112 §9.3.2): after answers of this pass as often as it
                // takes (each pass answers one more at least), else once per batch and only
                // on a reused connection, as for one request.
                let again = progress || (reused && !resent);
                if nothing && again && self.may_retry(&req.method) {
                    resent |= !progress;
                    reused = false;
                    for (o, _) in &mut outs[done..] {
                        o.retried = true;
                    }
                    continue;
                }
                fail_all(&mut outs[done..], kind, began);
                return;
            }
            for (o, _) in &mut outs[done..] {
                o.retried = true;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        conn: &mut Conn,
        reused: bool,
        start: Tick,
        req: &Prepared,
        keep: bool,
        backend_header: Option<&HeaderName>,
        out: &mut Sample,
        kept: &mut Kept,
    ) -> Attempt {
        let ready = if reused {
            start
        } else {
            // Connecting is boxed: it is rare, and inline its state would make every VU's
            // future larger (memory at 10,000 VUs).
            if let Err(kind) = Box::pin(self.connect(conn, &req.origin, out)).await {
                return Attempt::Failed { kind, retryable: false };
            }
            Tick::now()
        };
        if let Err(e) = conn.write_all(&req.wire).await {
            return Attempt::Failed { kind: io_fail(&e), retryable: reused };
        }
        out.bytes_sent += req.wire.len() as u64;
        let written = Tick::now();
        out.sending_us = written.micros_since(ready);
        let expect_body = req.method != Method::HEAD;
        let read = read_response(conn, expect_body, keep, backend_header, written, out, kept);
        match read.await {
            Ok((close, at)) => {
                out.finished = Some(self.clock.instant(at));
                if close || !self.keepalive {
                    conn.close();
                }
                Attempt::Done(at)
            }
            Err((kind, nothing)) => Attempt::Failed { kind, retryable: reused && nothing },
        }
    }
}

/// Reads one response from `conn` into `out` (status, phases from `written`, bytes, the
/// backend header) and `kept` (cookies, and headers and body when `keep`). `Ok` holds whether
/// the connection cannot carry another request after it, and when the response was complete.
async fn read_response(
    conn: &mut Conn,
    expect_body: bool,
    keep: bool,
    backend_header: Option<&HeaderName>,
    written: Tick,
    out: &mut Sample,
    kept: &mut Kept,
) -> Result<(bool, Tick), ReadFail> {
    // The head: parse what has arrived, read more while it is incomplete. A head nobody
    // needs the headers of may be recalled from the connection's memo instead of parsed.
    let memo = !keep && backend_header.is_none();
    let mut received = 0u64;
    // Waiting (k6's time to first byte) ends at the response's first byte, 1xx included.
    conn.await_response(written);
    let head = loop {
        let backend = &mut out.backend;
        let has_backend = &mut out.has_backend;
        let headers = &mut kept.headers;
        let set_cookie = &mut kept.set_cookie;
        let recalled = if memo { conn.memo.recall(conn.pending(), expect_body) } else { None };
        let fresh = recalled.is_none();
        let parsed = if let Some(r) = recalled {
            Ok(r)
        } else if conn.pending().is_empty() {
            // Nothing received yet (the usual case right after the write): read first.
            Ok(response::HeadParse::Partial)
        } else {
            response::parse_head(conn.pending(), expect_body, |name, value| {
                if let Some(h) = backend_header
                    && response::name_is(name, h.as_str().as_bytes())
                {
                    *has_backend = true;
                    backend.push_str(&String::from_utf8_lossy(value));
                }
                let cookie = response::name_is(name, b"set-cookie");
                *set_cookie |= cookie;
                if (keep || cookie)
                    && let (Ok(n), Ok(v)) =
                        (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
                {
                    headers.append(n, v);
                }
            })
        };
        match parsed {
            Ok(response::HeadParse::Final(n, head)) => {
                if memo && fresh {
                    if kept.set_cookie {
                        // Parsed each time: its callbacks fill the cookie jar.
                        conn.memo.forget();
                    } else {
                        conn.remember_head(n, expect_body, head);
                    }
                }
                conn.consume(n);
                received += n as u64;
                break head;
            }
            Ok(response::HeadParse::Interim(n)) => {
                conn.consume(n);
                received += n as u64;
            }
            Ok(response::HeadParse::Partial) => match conn.read_more().await {
                Ok(0) => {
                    let nothing = received == 0 && conn.pending().is_empty();
                    out.bytes_received += received + conn.pending().len() as u64;
                    return Err((FailureKind::Closed, nothing));
                }
                Ok(_) => {}
                Err(e) => {
                    let nothing = received == 0 && conn.pending().is_empty();
                    out.bytes_received += received + conn.pending().len() as u64;
                    let kind = io_fail(&e);
                    return Err((kind, nothing && kind == FailureKind::Reset));
                }
            },
            Err(kind) => {
                out.bytes_received += received + conn.pending().len() as u64;
                return Err((kind, false));
            }
        }
    };
    let first_at = conn.first_at;
    out.status = head.status;
    out.waiting_us = first_at.micros_since(written);
    let mut body = response::Body::new(head.framing);
    let sink = &mut kept.body;
    let body_bytes = &mut out.body_bytes;
    let mut take = |d: &[u8]| {
        *body_bytes += d.len() as u64;
        if keep {
            sink.extend_from_slice(d);
        }
    };
    let fail = |out_bytes: &mut u64, received: u64, kind| {
        *out_bytes += received;
        Err((kind, false))
    };
    while !body.is_done() {
        match body.feed(conn.pending(), &mut take) {
            Ok(n) => {
                conn.consume(n);
                received += n as u64;
            }
            Err(kind) => return fail(&mut out.bytes_received, received, kind),
        }
        if body.is_done() {
            break;
        }
        match conn.read_more().await {
            Ok(0) => {
                if let Err(kind) = body.at_eof() {
                    return fail(&mut out.bytes_received, received, kind);
                }
            }
            Ok(_) => {}
            Err(e) => return fail(&mut out.bytes_received, received, io_fail(&e)),
        }
    }
    // Its last byte came with the last read (the first, for a body that came with its head).
    let done = conn.read_at.max(first_at);
    out.receiving_us = done.micros_since(first_at);
    out.bytes_received += received;
    Ok((head.close, done))
}

impl Client {
    /// Opens a connection to `origin` in `conn` (TCP, then TLS for https), timing each phase.
    async fn connect(
        &self,
        conn: &mut Conn,
        origin: &Origin,
        out: &mut Sample,
    ) -> Result<(), FailureKind> {
        conn.close();
        let addr = self.addr(origin).await?;
        let t0 = Tick::now();
        let tcp = conn
            .guarded(TcpStream::connect(addr))
            .await
            .map_err(|e| io_fail(&e))?
            .map_err(|e| classify_io(&e))?;
        let _ = tcp.set_nodelay(true);
        out.connecting_us += Tick::now().micros_since(t0);
        let stream = if origin.https {
            let t1 = Tick::now();
            let config = self.tls.clone().ok_or(FailureKind::Tls)?;
            let name = ServerName::try_from(origin.host.clone()).map_err(|_| FailureKind::Tls)?;
            let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
            let tls = conn.guarded(handshake).await.map_err(|e| io_fail(&e))?.map_err(|e| {
                match classify_io(&e) {
                    k @ (FailureKind::Reset | FailureKind::Refused) => k,
                    _ => FailureKind::Tls,
                }
            })?;
            out.tls_us += Tick::now().micros_since(t1);
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        conn.attach(stream, origin, &self.conns);
        Ok(())
    }

    pub(crate) async fn addr(&self, origin: &Origin) -> Result<SocketAddr, FailureKind> {
        let key = (origin.host.clone(), origin.port);
        if let Some(a) = self.addrs.borrow().get(&key) {
            return Ok(*a);
        }
        let a = resolve(&origin.host, origin.port).await.map_err(|_| FailureKind::Dns)?;
        self.addrs.borrow_mut().insert(key, a);
        Ok(a)
    }
}

/// The failure kind of a connection step that did not complete.
fn io_fail(e: &IoFail) -> FailureKind {
    match e {
        IoFail::Deadline => FailureKind::Timeout,
        IoFail::Io(e) if e.kind() == io::ErrorKind::InvalidData => FailureKind::Malformed,
        IoFail::Io(e) => classify_io(e),
    }
}

/// The failure kind of an I/O error from connecting, reading or writing.
pub fn classify_io(e: &io::Error) -> FailureKind {
    use io::ErrorKind as K;
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return FailureKind::Tls;
    }
    match e.kind() {
        K::ConnectionRefused => FailureKind::Refused,
        K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted => FailureKind::Reset,
        K::UnexpectedEof => FailureKind::Closed,
        K::TimedOut => FailureKind::Timeout,
        // Out of local ports: the generator's failure, not the server's.
        K::AddrNotAvailable => FailureKind::Local,
        _ => match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => FailureKind::Refused,
            Some(libc::ECONNRESET) | Some(libc::EPIPE) => FailureKind::Reset,
            Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::EADDRNOTAVAIL) => {
                FailureKind::Local
            }
            _ => FailureKind::Other,
        },
    }
}

/// The rustls configuration: webpki roots, or no verification at all for `--insecure`.
pub fn tls_config(insecure: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `--insecure`: accepts any certificate, still checking handshake signatures are well formed.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_prepared_requests() {
        let p = Prepared::new(
            Method::POST,
            "http://127.0.0.1:8080/a/b?x=1",
            &[("X-A".into(), "1".into())],
            Bytes::from_static(b"hi"),
            false,
        )
        .unwrap();
        assert_eq!(p.origin, Origin { https: false, host: "127.0.0.1".into(), port: 8080 });
        assert_eq!(p.path, "/a/b?x=1");
        assert_eq!(p.headers[HOST], "127.0.0.1:8080");
        assert_eq!(p.headers["x-a"], "1");
        assert_eq!(p.headers[CONNECTION], "close");
        let o = Origin::of(&"https://[::1]/".parse().unwrap()).unwrap();
        assert_eq!((o.https, o.host.as_str(), o.port), (true, "::1", 443));
        assert!(Origin::of(&"ftp://x/".parse().unwrap()).unwrap_err().contains("ftp"));
        assert!(
            Prepared::new(
                Method::GET,
                "http://x/",
                &[("a b".into(), "1".into())],
                Bytes::new(),
                true
            )
            .is_err()
        );
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let k = |kind| classify_io(&io::Error::from(kind));
        assert_eq!(k(io::ErrorKind::ConnectionRefused), FailureKind::Refused);
        assert_eq!(k(io::ErrorKind::ConnectionReset), FailureKind::Reset);
        assert_eq!(k(io::ErrorKind::BrokenPipe), FailureKind::Reset);
        assert_eq!(k(io::ErrorKind::UnexpectedEof), FailureKind::Closed);
        assert_eq!(k(io::ErrorKind::PermissionDenied), FailureKind::Other);
        for errno in [libc::EMFILE, libc::ENFILE, libc::EADDRNOTAVAIL] {
            assert_eq!(classify_io(&io::Error::from_raw_os_error(errno)), FailureKind::Local);
        }
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
    }
}
