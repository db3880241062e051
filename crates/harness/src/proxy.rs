//! The built-in HTTP/1.1 reverse proxy in front of the instances.
//!
//! Per-request balancing (round-robin as nginx's default upstream, or least connections), a
//! keep-alive pool of backend connections per instance, `X-Served-By: <instance number>` on
//! every response, 502 when no instance is up. A request is retried on another instance only
//! when it was never sent (connect refused, or a pooled connection that had closed): anything
//! else could have had effects on the backend.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::process::Instance;

/// How the proxy picks an instance for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balancing {
    /// Each request to the next instance in turn (nginx's default upstream).
    #[default]
    RoundRobin,
    /// The instance with the fewest requests in flight (ties: round-robin order).
    LeastConn,
}

/// Idle keep-alive connections kept per backend; beyond that they are closed.
const MAX_IDLE: usize = 512;

struct Backend {
    instance: Arc<Instance>,
    served_by: HeaderValue,
    idle: Arc<Mutex<Vec<SendRequest<Incoming>>>>,
}

/// The proxy's shared state.
pub struct Proxy {
    backends: Vec<Backend>,
    next: AtomicUsize,
    balancing: Balancing,
}

type ProxyBody = Either<Tracked, Full<Bytes>>;

impl Proxy {
    pub fn new(instances: Vec<Arc<Instance>>, balancing: Balancing) -> Proxy {
        let backends = instances
            .into_iter()
            .map(|instance| Backend {
                served_by: HeaderValue::from(instance.number as u64),
                instance,
                idle: Arc::new(Mutex::new(Vec::new())),
            })
            .collect();
        Proxy { backends, next: AtomicUsize::new(0), balancing }
    }

    /// Accepts connections until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors and the like: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let proxy = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }

    /// Backends in the order to try them for one request.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.backends.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let first = match self.balancing {
            Balancing::RoundRobin => start,
            Balancing::LeastConn => (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| self.backends[i].instance.up.load(Ordering::Relaxed))
                .min_by_key(|&i| self.backends[i].instance.inflight.load(Ordering::Relaxed))
                .unwrap_or(start),
        };
        (0..n).map(move |k| (first + k) % n)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.version = http::Version::HTTP_11;
        let mut req = Request::from_parts(parts, body);
        for i in self.order().collect::<Vec<_>>() {
            let backend = &self.backends[i];
            if !backend.instance.up.load(Ordering::Relaxed) {
                continue;
            }
            // A pooled connection may have been closed by the backend meanwhile; then the
            // request comes back unsent and the next connection (or a fresh one) gets it.
            loop {
                let (mut sender, fresh) = match backend.checkout() {
                    Some(s) => (s, false),
                    None => match connect(backend).await {
                        Some(s) => (s, true),
                        None => break,
                    },
                };
                backend.instance.inflight.fetch_add(1, Ordering::Relaxed);
                match sender.try_send_request(req).await {
                    Ok(resp) => {
                        backend.checkin_when_ready(sender);
                        return self.respond(i, resp);
                    }
                    Err(mut e) => {
                        backend.instance.inflight.fetch_sub(1, Ordering::Relaxed);
                        match e.take_message() {
                            Some(r) => req = r,
                            None => return bad_gateway("the backend closed the connection"),
                        }
                        if fresh {
                            break;
                        }
                    }
                }
            }
        }
        bad_gateway("no instance is up")
    }

    fn respond(&self, i: usize, resp: Response<Incoming>) -> Response<ProxyBody> {
        let backend = &self.backends[i];
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert("x-served-by", backend.served_by.clone());
        let tracked = Tracked { inner: body, instance: backend.instance.clone() };
        Response::from_parts(parts, Either::Left(tracked))
    }
}

impl Backend {
    fn checkout(&self) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap();
        while let Some(s) = idle.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// The connection can take the next request once this response's body is read; it goes
    /// back to the pool then, or is dropped if the backend closed it.
    fn checkin_when_ready(&self, mut sender: SendRequest<Incoming>) {
        let idle = self.idle.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                let mut idle = idle.lock().unwrap();
                if idle.len() < MAX_IDLE {
                    idle.push(sender);
                }
            }
        });
    }
}

/// A new keep-alive connection to the backend; `None` when it cannot be reached.
async fn connect(backend: &Backend) -> Option<SendRequest<Incoming>> {
    let stream = TcpStream::connect(backend.instance.addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(h: &mut http::HeaderMap) {
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        h.remove(name);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
}

fn bad_gateway(why: &'static str) -> Response<ProxyBody> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::from_static(why.as_bytes()))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A backend's response body, streamed through; counts the request as in flight until the
/// body is finished or dropped.
pub struct Tracked {
    inner: Incoming,
    instance: Arc<Instance>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.instance.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(balancing: Balancing, inflight: &[usize], up: &[bool]) -> Proxy {
        let instances = inflight
            .iter()
            .zip(up)
            .enumerate()
            .map(|(k, (&n, &u))| {
                let i = Instance::new(k + 1, 1);
                i.inflight.store(n, Ordering::Relaxed);
                i.up.store(u, Ordering::Relaxed);
                Arc::new(i)
            })
            .collect();
        Proxy::new(instances, balancing)
    }

    #[test]
    fn round_robin_starts_at_the_next_backend_each_time() {
        let p = proxy(Balancing::RoundRobin, &[0, 0, 0], &[true, true, true]);
        let firsts: Vec<usize> = (0..6).map(|_| p.order().next().unwrap()).collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
        // Every backend is still a candidate, for the retry of an unsent request.
        assert_eq!(p.order().collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn least_conn_picks_the_idlest_live_backend() {
        let p = proxy(Balancing::LeastConn, &[3, 1, 0], &[true, true, false]);
        for _ in 0..4 {
            assert_eq!(p.order().next(), Some(1), "backend 3 is down, backend 2 has fewest");
        }
    }
}
