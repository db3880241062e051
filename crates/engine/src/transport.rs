//! How a request is sent: hyper's low-level HTTP/1 client over one tokio TCP connection per
//! VU (rustls for https), with every phase timed and every failure classified.
//!
//! The socket is wrapped in [`Metered`], which counts the bytes that cross it and notes when
//! the last write finished: that instant splits k6's `sending` (request written) from
//! `waiting` (time to the response headers) without any hook inside hyper. Keeping the
//! connection owned by the VU (no pool, no lock) is what lets a later transport batch syscalls
//! per connection.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, HOST, HeaderValue};
use http::{HeaderMap, HeaderName, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use volley_metrics::FailureKind;

/// Where a connection goes: scheme, host and port of a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Read buffer per connection. hyper's adaptive default starts at 8 KiB and grows; a fixed
/// 4 KiB holds the headers of typical responses and keeps memory per connection low at
/// -c 10000 (bodies larger than this take more reads, not more memory).
const READ_BUF: usize = 4096;

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
        Ok(Prepared { url: url.to_string(), origin, method, path, headers: map, body })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Byte counts and the time of the last completed write of one connection.
#[derive(Debug, Default)]
struct Meter {
    written: Cell<u64>,
    read: Cell<u64>,
    last_write: Cell<Option<Instant>>,
}

/// A socket that reports to a [`Meter`].
struct Metered<S> {
    inner: S,
    meter: Rc<Meter>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.meter.read.set(self.meter.read.get() + n);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.meter.written.set(self.meter.written.get() + n as u64);
            self.meter.last_write.set(Some(Instant::now()));
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.meter.written.set(self.meter.written.get() + n as u64);
            self.meter.last_write.set(Some(Instant::now()));
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One open HTTP/1 connection, owned by one VU.
pub struct Conn {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    meter: Rc<Meter>,
}

/// Open connections of one worker thread, for the `connections` gauge.
#[derive(Debug, Default)]
pub struct ConnGauge {
    pub open: Cell<u64>,
    pub peak: Cell<u64>,
}

impl ConnGauge {
    fn opened(&self) {
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
}

/// The measurement of one request. Durations in µs; phases that did not happen are 0.
#[derive(Debug, Default)]
pub struct Exchange {
    pub status: u16,
    pub failure: Option<FailureKind>,
    pub connecting_us: u64,
    pub tls_us: u64,
    pub sending_us: u64,
    pub waiting_us: u64,
    pub receiving_us: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Value of the backend header (reused buffer; empty when absent).
    pub backend: String,
    pub has_backend: bool,
    /// The response set cookies: `headers` holds its headers even when not kept otherwise.
    pub set_cookie: bool,
    /// Response headers and body, kept only when asked for (checks, extractors).
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The connection's byte counters when this request started, to count a timed-out one.
    marks: Option<(u64, u64)>,
    /// When the request began and ended (whatever the outcome); one clock read each,
    /// shared with the caller's measurements.
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
}

impl Exchange {
    /// Start and end of the last request (now, for a request that never began).
    pub fn span(&self) -> (Instant, Instant) {
        let end = self.finished.unwrap_or_else(Instant::now);
        (self.started.unwrap_or(end), end)
    }
}

impl Exchange {
    fn reset(&mut self) {
        self.status = 0;
        self.failure = None;
        self.connecting_us = 0;
        self.tls_us = 0;
        self.sending_us = 0;
        self.waiting_us = 0;
        self.receiving_us = 0;
        self.bytes_sent = 0;
        self.bytes_received = 0;
        self.backend.clear();
        self.has_backend = false;
        self.set_cookie = false;
        self.headers.clear();
        self.body.clear();
        self.marks = None;
        self.started = None;
        self.finished = None;
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

impl Client {
    /// Sends `req` on the VU's connection (opening one if needed) and records the outcome in
    /// `out`. Never fails: a failure is `out.failure`. `keep` keeps the headers and body.
    pub async fn send(
        &self,
        slot: &mut Option<Conn>,
        req: &Prepared,
        timeout: Duration,
        keep: bool,
        backend_header: Option<&HeaderName>,
        out: &mut Exchange,
    ) {
        out.reset();
        let start = Instant::now();
        out.started = Some(start);
        let deadline = tokio::time::Instant::from_std(start + timeout);
        let r =
            tokio::time::timeout_at(deadline, self.exchange(slot, req, keep, backend_header, out))
                .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(kind)) => {
                out.finished = Some(Instant::now());
                out.failure = Some(kind);
                *slot = None;
            }
            Err(_) => {
                out.finished = Some(Instant::now());
                out.failure = Some(FailureKind::Timeout);
                if let (Some(c), Some((w0, r0))) = (slot.take(), out.marks) {
                    out.bytes_sent = c.meter.written.get().saturating_sub(w0);
                    out.bytes_received = c.meter.read.get().saturating_sub(r0);
                }
            }
        }
    }

    async fn exchange(
        &self,
        slot: &mut Option<Conn>,
        req: &Prepared,
        keep: bool,
        backend_header: Option<&HeaderName>,
        out: &mut Exchange,
    ) -> Result<(), FailureKind> {
        // Connecting (TCP, TLS, handshake) is boxed: it is rare, and inline its state would
        // make every VU's future several kilobytes larger (memory at 10,000 VUs).
        let reusable = matches!(slot, Some(c) if c.origin == req.origin && !c.sender.is_closed());
        let mut connected = false;
        if !reusable {
            *slot = None;
            *slot = Some(Box::pin(self.connect(&req.origin, out)).await?);
            connected = true;
        }
        let conn = slot.as_mut().expect("connected above");
        if conn.sender.ready().await.is_err() {
            // The server closed the idle connection between two requests: open a new one,
            // as any client would, instead of counting a failure that never reached it.
            *slot = None;
            *slot = Some(Box::pin(self.connect(&req.origin, out)).await?);
            connected = true;
        }
        let conn = slot.as_mut().expect("connected above");
        let meter = conn.meter.clone();
        let (w0, r0) = (meter.written.get(), meter.read.get());
        out.marks = Some((w0, r0));
        // A kept-alive connection is ready at once: no second clock read.
        let ready = match (connected, out.started) {
            (false, Some(t)) => t,
            _ => Instant::now(),
        };
        let sent = conn.sender.send_request(req.request()).await;
        let headers_at = Instant::now();
        let written_at = meter.last_write.get().filter(|t| *t >= ready).unwrap_or(headers_at);
        out.sending_us = micros(written_at - ready);
        out.waiting_us = micros(headers_at.saturating_duration_since(written_at));
        out.bytes_sent = meter.written.get() - w0;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                out.bytes_received = meter.read.get() - r0;
                return Err(classify_hyper(&e));
            }
        };
        out.status = resp.status().as_u16();
        if let Some(h) = backend_header
            && let Some(v) = resp.headers().get(h)
        {
            out.has_backend = true;
            out.backend.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
        let close = !self.keepalive
            || resp
                .headers()
                .get(CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        out.set_cookie = resp.headers().contains_key(http::header::SET_COOKIE);
        let (parts, mut body) = resp.into_parts();
        if keep || out.set_cookie {
            out.headers = parts.headers;
        }
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if keep && let Some(d) = f.data_ref() {
                        out.body.extend_from_slice(d);
                    }
                }
                Err(e) => {
                    out.bytes_received = meter.read.get() - r0;
                    let now = Instant::now();
                    out.receiving_us = micros(now - headers_at);
                    out.finished = Some(now);
                    return Err(classify_hyper(&e));
                }
            }
        }
        let done = Instant::now();
        out.receiving_us = micros(done - headers_at);
        out.finished = Some(done);
        out.bytes_received = meter.read.get() - r0;
        if close {
            *slot = None;
        }
        Ok(())
    }

    async fn connect(&self, origin: &Origin, out: &mut Exchange) -> Result<Conn, FailureKind> {
        let addr = self.addr(origin).await?;
        let t0 = Instant::now();
        let tcp = TcpStream::connect(addr).await.map_err(|e| classify_io(&e))?;
        let _ = tcp.set_nodelay(true);
        out.connecting_us += micros(t0.elapsed());
        let meter = Rc::new(Meter::default());
        let io = Metered { inner: tcp, meter: meter.clone() };
        let sender = if origin.https {
            let t1 = Instant::now();
            let config = self.tls.clone().ok_or(FailureKind::Tls)?;
            let name = ServerName::try_from(origin.host.clone()).map_err(|_| FailureKind::Tls)?;
            let tls =
                tokio_rustls::TlsConnector::from(config).connect(name, io).await.map_err(|e| {
                    match classify_io(&e) {
                        k @ (FailureKind::Reset | FailureKind::Refused) => k,
                        _ => FailureKind::Tls,
                    }
                })?;
            out.tls_us += micros(t1.elapsed());
            self.handshake(TokioIo::new(tls)).await?
        } else {
            self.handshake(TokioIo::new(io)).await?
        };
        Ok(Conn { origin: origin.clone(), sender, meter })
    }

    async fn handshake<I>(&self, io: I) -> Result<SendRequest<Full<Bytes>>, FailureKind>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    {
        // One flat write per request (a small request gains nothing from writev's iovecs).
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .writev(false)
            .read_buf_exact_size(Some(READ_BUF))
            .handshake(io)
            .await
            .map_err(|e| classify_hyper(&e))?;
        let gauge = self.conns.clone();
        gauge.opened();
        tokio::task::spawn_local(async move {
            let _ = conn.await;
            gauge.open.set(gauge.open.get().saturating_sub(1));
        });
        Ok(sender)
    }

    async fn addr(&self, origin: &Origin) -> Result<SocketAddr, FailureKind> {
        let key = (origin.host.clone(), origin.port);
        if let Some(a) = self.addrs.borrow().get(&key) {
            return Ok(*a);
        }
        let a = resolve(&origin.host, origin.port).await.map_err(|_| FailureKind::Dns)?;
        self.addrs.borrow_mut().insert(key, a);
        Ok(a)
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
        _ => match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => FailureKind::Refused,
            Some(libc::ECONNRESET) | Some(libc::EPIPE) => FailureKind::Reset,
            _ => FailureKind::Other,
        },
    }
}

/// The failure kind of a hyper error: I/O causes first, then hyper's own categories.
pub fn classify_hyper(e: &hyper::Error) -> FailureKind {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            let k = classify_io(io);
            if k != FailureKind::Other {
                return k;
            }
        }
        if s.is::<rustls::Error>() {
            return FailureKind::Tls;
        }
        source = s.source();
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        FailureKind::Malformed
    } else if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        FailureKind::Closed
    } else if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Other
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
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
    }
}
