//! The live dashboard (`--dashboard[=ADDR]`): one small HTTP server beside the run that
//! serves the page (the project's own HTML/JS/CSS, embedded), a server-sent event stream of
//! the [`board`] once a second, Prometheus at `/metrics` ([`prom`]), k6's REST API at
//! `/v1/status` and `/v1/metrics` ([`k6`]), a stop button, and at the end the run's HTML
//! report. A sweep (`scale`) and a capacity search (`capacity`) feed it their runs one after
//! the other, plus their own progress: the instance counts or the steps so far.
//!
//! Security: loopback by default; any other address needs a token, which every request must
//! carry (`Authorization: Bearer T`, `X-Volley-Token: T` or `?token=T`). Without a token the
//! `Host` header must name an IP address or localhost (no DNS rebinding). Control endpoints
//! (stop, `PATCH /v1/status`) refuse requests whose `Origin` is not the dashboard itself.

pub mod board;
pub mod k6;
pub mod prom;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use volley_metrics::RunResult;

use crate::capacity::CapacityEvent;
use crate::sweep::SweepEvent;
use crate::{Live, Stop};
use board::{Board, CapacityRow, SweepRow};

/// k6's dashboard port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5665";
/// How long [`Dashboard::finish`] waits for open pages to receive the last event.
const LAST_EVENT_WAIT: Duration = Duration::from_secs(2);

const PAGE: &str = include_str!("assets/page.html");
const SCRIPT: &str = include_str!("assets/page.js");
const STYLE: &str = include_str!("assets/page.css");

/// Why the dashboard could not start (usage errors: the address or the token).
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(
        "--dashboard `{0}`: not an address (hint: --dashboard=127.0.0.1:5665, or port 0 for a free one)"
    )]
    BadAddr(String),
    #[error("--dashboard {addr}: cannot listen there: {reason} (hint: pick another port, or 0)")]
    Bind { addr: String, reason: String },
    #[error("--dashboard-token must not be empty")]
    EmptyToken,
}

struct App {
    board: Arc<Board>,
    stop: Stop,
    token: Option<String>,
    /// Event streams open, and how many of them sent the last event.
    streams: AtomicUsize,
    delivered: AtomicUsize,
    stopped: AtomicBool,
    /// The runs' control, once attached to their live stream.
    control: std::sync::OnceLock<Arc<volley_engine::Control>>,
}

/// A running dashboard server. Dropping it (or [`Dashboard::finish`]) stops the server.
pub struct Dashboard {
    app: Arc<App>,
    addr: SocketAddr,
    generated_token: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `ADDR` as written: `IP:PORT`, `localhost:PORT`, `[::1]:PORT`.
pub fn parse_addr(s: &str) -> Result<SocketAddr, DashboardError> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Some(port) = s.strip_prefix("localhost:")
        && let Ok(p) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    Err(DashboardError::BadAddr(s.to_string()))
}

/// A random token (128 bits, hex) for a non-loopback dashboard started without one.
fn generate_token() -> String {
    let mut bytes = [0u8; 16];
    let got = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if got.is_err() {
        // Never reached on Linux; the clock is then the best source left.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = n.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Dashboard {
    /// Starts serving on `addr`. `stop` is what the page's stop button and k6's `stop`
    /// trigger. A non-loopback address without `token` gets a generated one.
    pub fn start(
        addr: &str,
        token: Option<String>,
        stop: Stop,
    ) -> Result<Dashboard, DashboardError> {
        let addr = parse_addr(addr)?;
        if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(DashboardError::EmptyToken);
        }
        let generated_token = token.is_none() && !addr.ip().is_loopback();
        let token = if generated_token { Some(generate_token()) } else { token };
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| DashboardError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
        let bound = listener
            .local_addr()
            .map_err(|e| DashboardError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
        let app = Arc::new(App {
            board: Board::new(),
            stop,
            token,
            streams: AtomicUsize::new(0),
            delivered: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            control: std::sync::OnceLock::new(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = routes(app.clone());
        let thread = std::thread::Builder::new()
            .name("volley-dashboard".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| DashboardError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
        Ok(Dashboard {
            app,
            addr: bound,
            generated_token,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, with the token when there is one.
    pub fn url(&self) -> String {
        match &self.app.token {
            Some(t) => format!("http://{}/?token={t}", self.addr),
            None => format!("http://{}/", self.addr),
        }
    }

    /// The token, when volley generated it (the caller should show it).
    pub fn generated_token(&self) -> Option<&str> {
        self.generated_token.then_some(self.app.token.as_deref()).flatten()
    }

    pub fn board(&self) -> &Arc<Board> {
        &self.app.board
    }

    /// Feeds the dashboard from `live` (and asks the engine for the result so far).
    pub fn attach(&self, live: &Live) {
        live.want_results();
        let _ = self.app.control.set(live.control());
        let board = self.app.board.clone();
        live.subscribe(move |s| board.snapshot(s));
    }

    /// A sweep's progress (`scale`): the instance count measured and the runs so far.
    pub fn sweep_event(&self, e: &SweepEvent<'_>) {
        self.app.board.update(|s| {
            match e {
                SweepEvent::Starting { instances, .. } | SweepEvent::Scaling { instances, .. } => {
                    s.sweep_current = Some(*instances);
                    // A capacity sweep's panel shows the search of the count now measured.
                    s.capacity_rows.clear();
                    s.capacity_note = None;
                }
                SweepEvent::Measured(run) => s.sweep_rows.push(SweepRow {
                    instances: run.instances,
                    repeat: run.repeat,
                    rps: run.rps,
                    p95_ms: run.p95_ms,
                    failures: run.failures,
                    capacity_rps: run.capacity.as_ref().and(run.capacity_rps),
                }),
                _ => {}
            }
            s.sweep_note = Some(e.to_string());
        });
    }

    /// A capacity search's progress: the step running, then each finished step's figures
    /// and verdict.
    pub fn capacity_event(&self, e: &CapacityEvent<'_>) {
        self.app.board.update(|s| {
            if let CapacityEvent::Done(step) = e {
                let f = &step.figures;
                s.capacity_rows.push(CapacityRow {
                    index: step.index,
                    phase: step.phase.name(),
                    offered_rps: f.offered_rps,
                    achieved_rps: f.achieved_rps,
                    p95_ms: f.p95_ms,
                    error_rate: f.error_rate,
                    verdict: step.verdict(),
                });
            }
            s.capacity_note = Some(e.to_string());
        });
    }

    /// The search is over: the capacity found, the search's HTML report, then
    /// [`Dashboard::finish`].
    pub fn finish_capacity(self, c: &volley_metrics::capacity::CapacityResult) {
        self.app.board.update(|s| {
            s.capacity_rps = c.capacity_rps;
            s.capacity_upper_rps = c.upper_rps;
        });
        self.finish(None, volley_report::capacity::html(c).ok());
    }

    /// The run is over: its final figures and its HTML report (rendered by
    /// `volley_report::html` from the final result), then [`Dashboard::finish`].
    pub fn finish_run(self, result: &RunResult) {
        let html =
            volley_report::html::render(result, volley_report::html::Options::default()).ok();
        self.finish(Some(result), html);
    }

    /// The sweep is over: its HTML report, then [`Dashboard::finish`].
    pub fn finish_sweep(self, sweep: &volley_metrics::sweep::Sweep) {
        self.finish(None, volley_report::scale::html(sweep).ok());
    }

    /// The run is over: shows the final figures and offers `report` (the run's HTML
    /// report), waits briefly for open pages to receive it, and stops the server.
    pub fn finish(mut self, result: Option<&RunResult>, report: Option<String>) {
        let interrupted = self.app.stop.is_stopped();
        self.app.board.finish(result.cloned(), report, interrupted);
        let t0 = Instant::now();
        while self.app.delivered.load(Ordering::SeqCst) < self.app.streams.load(Ordering::SeqCst)
            && t0.elapsed() < LAST_EVENT_WAIT
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the last bytes leave the socket.
        std::thread::sleep(Duration::from_millis(100));
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            // Open event streams end with the runtime.
            let _ = t.join();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Not joined: an event stream may keep the server's graceful shutdown waiting, and
        // the thread dies with the process anyway.
        drop(self.thread.take());
    }
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/events", get(events))
        .route("/report", get(report))
        .route("/metrics", get(metrics))
        .route("/api/stop", post(stop_run))
        .route("/v1/status", get(get_status).patch(patch_status))
        .route("/v1/metrics", get(v1_metrics))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn plain(code: StatusCode, msg: &str) -> Response {
    (code, msg.to_string()).into_response()
}

/// The token, the `Host` and, for control endpoints, the `Origin`.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    match &app.token {
        Some(t) => {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "));
            let header_token = headers.get("x-volley-token").and_then(|h| h.to_str().ok());
            let query_token = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
            let given = bearer.or(header_token).or(query_token);
            if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), t.as_bytes())) {
                return plain(
                    StatusCode::UNAUTHORIZED,
                    "volley dashboard: a valid token is required (?token=, or Authorization: Bearer)\n",
                );
            }
        }
        None => {
            if !host_is_literal(host) {
                return plain(StatusCode::FORBIDDEN, "volley dashboard: unexpected Host header\n");
            }
        }
    }
    let control =
        req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD;
    if control && !same_origin(headers, host) {
        return plain(
            StatusCode::FORBIDDEN,
            "volley dashboard: cross-origin control request refused\n",
        );
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Host` names an IP address or localhost (with or without a port).
fn host_is_literal(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// No `Origin` (a command-line client) or the dashboard's own.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(o) => o == format!("http://{host}"),
    }
}

async fn page() -> Response {
    let mut r = asset(PAGE, "text/html; charset=utf-8");
    // Nothing outside this origin: the page is the project's own, charts drawn by it.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; frame-src blob:; object-src 'none'; base-uri 'none'",
        ),
    );
    r
}

/// Ends the stream after the event that carried the end of the run.
struct StreamGuard(Arc<App>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn events(State(app): State<Arc<App>>) -> Response {
    app.streams.fetch_add(1, Ordering::SeqCst);
    let guard = StreamGuard(app.clone());
    let rx = app.board.subscribe();
    // (receiver, points sent, run they belong to, done, first)
    let init = (rx, 0usize, 0u32, false, true, guard);
    let stream =
        futures_util::stream::unfold(init, |(mut rx, sent, run, done, first, guard)| async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let app = guard.0.clone();
            let (json, points, now_run, over) = app.board.read(|s| {
                let from = if s.run == run { sent } else { 0 };
                let over = matches!(s.phase, board::Phase::Ended | board::Phase::Interrupted);
                let mut json = s.event(from);
                // The last event carries the report itself: the page keeps it after volley exits.
                if over && let Some(html) = &s.report {
                    json["report_html"] = serde_json::Value::String(html.as_str().to_owned());
                }
                (json, s.points.len(), s.run, over)
            });
            if over {
                app.delivered.fetch_add(1, Ordering::SeqCst);
            }
            let ev = Event::default().event("update").data(json.to_string());
            Some((Ok::<_, Infallible>(ev), (rx, points, now_run, over, false, guard)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(5))).into_response()
}

async fn report(State(app): State<Arc<App>>) -> Response {
    match app.board.read(|s| s.report.clone()) {
        Some(html) => {
            let mut r = Response::new(Body::from(html.as_str().to_owned()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        None => plain(StatusCode::NOT_FOUND, "the report is ready when the run ends\n"),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.board.read(prom::render);
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn stop_run(State(app): State<Arc<App>>) -> Response {
    app.stopped.store(true, Ordering::SeqCst);
    app.stop.stop();
    plain(StatusCode::ACCEPTED, "stopping\n")
}

fn json_response(code: u16, v: serde_json::Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (code, v.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn status_now(app: &App) -> serde_json::Value {
    let stopped = app.stop.is_stopped();
    let control = app.control.get();
    let paused = control.is_some_and(|c| c.is_paused());
    let mut v = app.board.read(|s| k6::status(s, stopped, paused));
    // An externally-controlled run reports the VUs it was asked for at once, as k6 does.
    if let Some((vus, max)) = control.and_then(|c| c.external_vus()) {
        v["data"]["attributes"]["vus"] = vus.into();
        v["data"]["attributes"]["vus-max"] = max.into();
    }
    v
}

async fn get_status(State(app): State<Arc<App>>) -> Response {
    json_response(200, status_now(&app))
}

async fn patch_status(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let patch = match k6::parse_patch(&body) {
        Ok(p) => p,
        Err((code, v)) => return json_response(code, v),
    };
    if patch.stopped {
        app.stopped.store(true, Ordering::SeqCst);
        app.stop.stop();
    } else {
        let Some(control) = app.control.get() else {
            let (code, v) = k6::error(500, "Execution config error", "no run is attached");
            return json_response(code, v);
        };
        if let Some(p) = patch.paused
            && let Err(e) = control.set_paused(p)
        {
            let (code, v) = k6::error(500, "Pause error", &e.to_string());
            return json_response(code, v);
        }
        if patch.vus.is_some() || patch.vus_max.is_some() {
            // As k6: only an externally-controlled executor takes new VU counts.
            if let Err(e) = control.set_vus(patch.vus, patch.vus_max) {
                let (code, title) = match e {
                    volley_engine::ControlError::NotExternallyControlled => {
                        (500, "Execution config error")
                    }
                    _ => (400, "Config update error"),
                };
                let (code, v) = k6::error(code, title, &e.to_string());
                return json_response(code, v);
            }
        }
    }
    json_response(200, status_now(&app))
}

async fn v1_metrics(State(app): State<Arc<App>>) -> Response {
    json_response(200, app.board.read(k6::metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_hosts() {
        assert_eq!(parse_addr("127.0.0.1:0").unwrap().port(), 0);
        assert!(parse_addr("localhost:5665").unwrap().ip().is_loopback());
        assert!(parse_addr("nonsense").is_err());
        assert!(host_is_literal("127.0.0.1:5665") && host_is_literal("localhost:1"));
        assert!(host_is_literal("[::1]:80"));
        assert!(!host_is_literal("evil.example:5665"));
    }

    #[test]
    fn non_loopback_without_a_token_gets_one() {
        let d = Dashboard::start("0.0.0.0:0", None, Stop::new()).unwrap();
        let t = d.generated_token().unwrap().to_string();
        assert_eq!(t.len(), 32);
        assert!(d.url().ends_with(&format!("?token={t}")));
        let d = Dashboard::start("127.0.0.1:0", None, Stop::new()).unwrap();
        assert!(d.generated_token().is_none() && !d.url().contains("token"));
    }
}
