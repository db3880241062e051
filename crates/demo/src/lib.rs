//! The built-in system under test (`volley serve-demo`): a small HTTP service whose routes have
//! fixed, controllable costs, for demos, docs, benchmarks and volley's own tests.
//!
//! The server runs on its own tokio runtime (on its own thread), so it can be started from a
//! plain `main`, from a test, or from inside another runtime alike. With one thread it behaves
//! like one Node.js process: CPU-bound routes (`/heavy`, `/predict`) run on the only runtime
//! thread, so requests queue behind them; that is what makes scaling experiments meaningful.
//!
//! Routes:
//! - `GET /`: a tiny text answer.
//! - `GET /heavy?n=5000000`: a CPU loop of `n` steps (seed 004's Express route), `Total: N`.
//! - `POST /predict?wait_ms=10`: an ML-like endpoint: a few ms of CPU over the body plus a wait
//!   (the model call), JSON `{"label": ..., "score": ...}`.
//! - `GET /delay/{ms}`: answers after `ms` milliseconds.
//! - `GET /work/{ms}`: holds the runtime thread for `ms` milliseconds (a blocking call, as a
//!   synchronous driver in a Node or Django process): with `--threads 1` the instance serves
//!   exactly `1000 / ms` requests per second, whatever the machine, so a capacity found
//!   through N instances can be checked against N × that.
//! - `GET /status/{code}`: answers with that status.
//! - `GET /bytes/{n}`: `n` bytes of body.
//! - `GET /flaky?p=0.1`: 500 with probability `p`, else 200.
//! - `GET /health`: `ok`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

/// Largest `n` accepted by `/heavy`: a few seconds of CPU; more is a typo, not a test.
pub const MAX_HEAVY_N: u64 = 2_000_000_000;
/// Largest body `/bytes/{n}` sends (64 MiB).
pub const MAX_BYTES: usize = 64 << 20;
/// Longest wait `/delay/{ms}` and `/predict?wait_ms=` accept (10 minutes).
pub const MAX_DELAY_MS: u64 = 600_000;
/// `/predict`'s default wait, standing for the model call.
pub const DEFAULT_PREDICT_WAIT_MS: u64 = 10;
/// CPU steps `/predict` spends per request (about 2–4 ms on a current core).
const PREDICT_CPU_STEPS: u64 = 3_000_000;
/// How long a shutdown waits for requests in flight before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Runtime worker threads; 0 = one per core. 1 behaves like one Node process.
    pub threads: usize,
    /// Stop after this many responses (simulates a crash for supervisor tests).
    pub exit_after: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config { host: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 0, threads: 0, exit_after: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "cannot listen on {addr}: address already in use (pick another --port, or 0 for a free one)"
    )]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// [`DemoServer::shutdown`] or drop.
    Shutdown,
    /// `exit_after` responses were served.
    ExitAfter(u64),
}

/// A running demo server. Dropping it stops the server (without waiting for it).
pub struct DemoServer {
    local_addr: SocketAddr,
    threads: usize,
    served: Arc<AtomicU64>,
    /// Tells the server to stop. Who sends: `shutdown`/drop. Who receives: the serve loop.
    stop_tx: Option<oneshot::Sender<()>>,
    /// Set once the server thread has finished serving, with the reason.
    done_rx: watch::Receiver<Option<Result<Stopped, String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://HOST:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Runtime worker threads actually used.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Responses served so far (every route, every status).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Waits (async) until the server stops by itself (`exit_after`) or is shut down.
    pub async fn stopped(&mut self) -> Result<Stopped, DemoError> {
        let done = self.done_rx.wait_for(Option::is_some).await;
        match done.as_deref() {
            Ok(Some(Ok(s))) => Ok(*s),
            Ok(Some(Err(e))) => Err(DemoError::Serve(std::io::Error::other(e.clone()))),
            // The server thread vanished without a word: it panicked.
            _ => Err(DemoError::Serve(std::io::Error::other("the server thread died"))),
        }
    }

    /// Stops accepting, lets requests in flight finish (up to one second), and waits for the
    /// server thread. Blocks the calling thread for at most about that second.
    pub fn shutdown(mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        // No join here: a drop may happen inside an async context, which must not block. The
        // server thread stops within the shutdown grace on its own.
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds (synchronously, so a busy port is an error here) and starts serving on a new thread.
pub fn serve(config: Config) -> Result<DemoServer, DemoError> {
    let addr = SocketAddr::new(config.host, config.port);
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            DemoError::AddrInUse { addr }
        } else {
            DemoError::Bind { addr, source: e }
        }
    })?;
    std_listener.set_nonblocking(true).map_err(|e| DemoError::Bind { addr, source: e })?;
    let local_addr = std_listener.local_addr().map_err(|e| DemoError::Bind { addr, source: e })?;

    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    };
    let runtime = if threads == 1 {
        // One thread, one event loop: exactly one Node process's model.
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("demo-worker")
            .enable_all()
            .build()
    }
    .map_err(DemoError::Runtime)?;

    let served = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = watch::channel(None);
    let state = AppState {
        served: served.clone(),
        exit_after: config.exit_after,
        limit_reached: Arc::new(tokio::sync::Notify::new()),
    };

    let thread = std::thread::Builder::new()
        .name("demo-server".into())
        .spawn(move || {
            let outcome = runtime.block_on(run(std_listener, state, stop_rx));
            // Cut off whatever is still running (a client holding a /delay open); only then
            // is the port closed and the server "stopped".
            runtime.shutdown_timeout(Duration::from_millis(100));
            let _ = done_tx.send(Some(outcome.map_err(|e| e.to_string())));
        })
        .map_err(DemoError::Runtime)?;

    Ok(DemoServer {
        local_addr,
        threads,
        served,
        stop_tx: Some(stop_tx),
        done_rx,
        thread: Some(thread),
    })
}

async fn run(
    std_listener: std::net::TcpListener,
    state: AppState,
    stop_rx: oneshot::Receiver<()>,
) -> Result<Stopped, std::io::Error> {
    let listener = tokio::net::TcpListener::from_std(std_listener)?.tap_io(|tcp| {
        // Small answers must leave at once, as any production server configures it.
        let _ = tcp.set_nodelay(true);
    });
    let limit = state.limit_reached.clone();
    let exit_after = state.exit_after;
    let (why_tx, why_rx) = oneshot::channel();
    let signal = async move {
        let why = tokio::select! {
            _ = stop_rx => Stopped::Shutdown,
            _ = limit.notified() => Stopped::ExitAfter(exit_after.unwrap_or(0)),
        };
        let _ = why_tx.send(why);
    };
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(signal);
    let serving = tokio::spawn(server.into_future());
    let why = why_rx.await.unwrap_or(Stopped::Shutdown);
    // Graceful shutdown waits for every open connection; an idle keep-alive client or a long
    // /delay must not hold the process, hence the bound.
    match tokio::time::timeout(SHUTDOWN_GRACE, serving).await {
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(join)) => return Err(std::io::Error::other(join.to_string())),
        _ => {}
    }
    Ok(why)
}

#[derive(Clone)]
struct AppState {
    served: Arc<AtomicU64>,
    exit_after: Option<u64>,
    /// Notified once when `served` reaches `exit_after`.
    limit_reached: Arc<tokio::sync::Notify>,
}

/// The demo's routes, each response counted by the `count` middleware.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/heavy", get(heavy))
        .route("/predict", post(predict))
        .route("/delay/{ms}", get(delay))
        .route("/work/{ms}", get(work))
        .route("/status/{code}", get(status))
        .route("/bytes/{n}", get(bytes))
        .route("/flaky", get(flaky))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let n = state.served.fetch_add(1, Ordering::Relaxed) + 1;
    if state.exit_after == Some(n) {
        // notify_one stores a permit, so the shutdown signal sees it even if it is not yet
        // waiting.
        state.limit_reached.notify_one();
    }
    res
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, msg + "\n").into_response()
}

async fn index() -> &'static str {
    "hello from volley\n"
}

async fn health() -> &'static str {
    "ok\n"
}

#[derive(Deserialize)]
struct HeavyQuery {
    n: Option<u64>,
}

/// Counts to `n` one step at a time; `black_box` keeps the optimizer from folding the loop.
pub fn count_to(n: u64) -> u64 {
    let mut total = 0u64;
    for _ in 0..n {
        total = std::hint::black_box(total + 1);
    }
    total
}

async fn heavy(Query(q): Query<HeavyQuery>) -> Response {
    let n = q.n.unwrap_or(5_000_000);
    if n > MAX_HEAVY_N {
        return bad_request(format!("n={n} is too large (at most {MAX_HEAVY_N})"));
    }
    // Deliberately on the runtime thread, as Node's event loop would run it.
    format!("Total: {}", count_to(n)).into_response()
}

#[derive(Deserialize)]
struct PredictQuery {
    wait_ms: Option<u64>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct Prediction {
    pub label: &'static str,
    pub score: f64,
}

/// The "model": a CPU-bound hash of the input, stretched to a few milliseconds. The same input
/// always gets the same answer.
pub fn classify(input: &[u8]) -> Prediction {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in input {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    for i in 0..PREDICT_CPU_STEPS {
        h = std::hint::black_box(h.rotate_left(5) ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    const LABELS: [&str; 3] = ["positive", "negative", "neutral"];
    let label = LABELS[(h % 3) as usize];
    // A score in [0.5, 1.0), rounded to 4 decimals like a model's softmax output shown to users.
    let score = 0.5 + ((h >> 11) % 5000) as f64 / 10_000.0;
    Prediction { label, score }
}

async fn predict(Query(q): Query<PredictQuery>, body: Bytes) -> Response {
    let wait = q.wait_ms.unwrap_or(DEFAULT_PREDICT_WAIT_MS);
    if wait > MAX_DELAY_MS {
        return bad_request(format!("wait_ms={wait} is too large (at most {MAX_DELAY_MS})"));
    }
    let prediction = classify(&body);
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    axum::Json(prediction).into_response()
}

async fn delay(Path(ms): Path<String>) -> Response {
    let ms = match ms.parse::<u64>() {
        Ok(ms) if ms <= MAX_DELAY_MS => ms,
        _ => return bad_request(format!("delay `{ms}` must be 0..={MAX_DELAY_MS} milliseconds")),
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("delayed {ms} ms\n").into_response()
}

/// Longest `/work/{ms}`: it blocks the instance, so seconds are already a typo.
const MAX_WORK_MS: u64 = 10_000;

async fn work(Path(ms): Path<String>) -> Response {
    let ms = match ms.parse::<u64>() {
        Ok(ms) if ms <= MAX_WORK_MS => ms,
        _ => return bad_request(format!("work `{ms}` must be 0..={MAX_WORK_MS} milliseconds")),
    };
    // Deliberately blocking the runtime thread: the requests behind it queue, as in one
    // single-threaded process.
    std::thread::sleep(Duration::from_millis(ms));
    format!("worked {ms} ms\n").into_response()
}

async fn status(Path(code): Path<String>) -> Response {
    match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
        Some(c) => {
            let status = StatusCode::from_u16(c).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, format!("status {c}\n")).into_response()
        }
        None => bad_request(format!("status `{code}` must be a number in 200..=599")),
    }
}

async fn bytes(Path(n): Path<String>) -> Response {
    match n.parse::<usize>() {
        Ok(n) if n <= MAX_BYTES => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], vec![b'x'; n]).into_response()
        }
        _ => bad_request(format!("size `{n}` must be 0..={MAX_BYTES} bytes")),
    }
}

#[derive(Deserialize)]
struct FlakyQuery {
    p: Option<f64>,
}

async fn flaky(Query(q): Query<FlakyQuery>) -> Response {
    let p = q.p.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&p) {
        return bad_request(format!("p={p} must be a probability in 0..=1"));
    }
    if rand::random::<f64>() < p {
        (StatusCode::INTERNAL_SERVER_ERROR, "flaky failure\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A minimal blocking HTTP/1.1 client: one request per connection, returns (status, body).
    fn fetch(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw[9..12].parse().unwrap();
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    #[test]
    fn routes_answer() {
        let server = serve(Config { threads: 2, ..Config::default() }).unwrap();
        let a = server.local_addr();
        assert_eq!(fetch(a, "GET", "/", ""), (200, "hello from volley\n".into()));
        assert_eq!(fetch(a, "GET", "/health", ""), (200, "ok\n".into()));
        assert_eq!(fetch(a, "GET", "/heavy?n=1234", ""), (200, "Total: 1234".into()));
        assert_eq!(fetch(a, "GET", "/status/503", "").0, 503);
        assert_eq!(fetch(a, "GET", "/status/42", "").0, 400);
        assert_eq!(fetch(a, "GET", "/bytes/100", "").1.len(), 100);
        assert_eq!(fetch(a, "GET", "/flaky?p=1", "").0, 500);
        assert_eq!(fetch(a, "GET", "/flaky?p=0", "").0, 200);
        assert_eq!(fetch(a, "GET", "/flaky?p=2", "").0, 400);
        assert_eq!(fetch(a, "GET", "/delay/abc", "").0, 400);
        assert_eq!(fetch(a, "GET", "/work/1", ""), (200, "worked 1 ms\n".into()));
        assert_eq!(fetch(a, "GET", "/work/99999", "").0, 400);
        let (code, body) = fetch(a, "POST", "/predict?wait_ms=0", "great product");
        assert_eq!(code, 200);
        let p: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(p["label"].is_string() && p["score"].as_f64().unwrap() >= 0.5);
        assert_eq!(server.served(), 13);
        server.shutdown();
    }

    #[test]
    fn delay_waits() {
        let server = serve(Config { threads: 1, ..Config::default() }).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(fetch(server.local_addr(), "GET", "/delay/50", "").0, 200);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_millis(1000),
            "{took:?}"
        );
    }

    #[test]
    fn busy_port_is_a_clear_error() {
        let first = serve(Config::default()).unwrap();
        let err =
            serve(Config { port: first.local_addr().port(), ..Config::default() }).err().unwrap();
        assert!(matches!(err, DemoError::AddrInUse { .. }), "{err}");
        assert!(err.to_string().contains("already in use"));
    }

    #[test]
    fn exit_after_stops_the_server() {
        let mut server =
            serve(Config { threads: 1, exit_after: Some(3), ..Config::default() }).unwrap();
        for _ in 0..3 {
            assert_eq!(fetch(server.local_addr(), "GET", "/", "").0, 200);
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let why = rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(5), server.stopped()).await
            })
            .unwrap()
            .unwrap();
        assert_eq!(why, Stopped::ExitAfter(3));
        assert!(std::net::TcpStream::connect(server.local_addr()).is_err());
    }

    #[test]
    fn one_thread_queues_behind_cpu_work() {
        // Like one Node process: a request arriving while /heavy runs waits for it to finish.
        let server = serve(Config { threads: 1, ..Config::default() }).unwrap();
        let a = server.local_addr();
        let start = std::time::Instant::now();
        let heavy = std::thread::spawn(move || {
            fetch(a, "GET", "/heavy?n=100000000", "");
            std::time::Instant::now()
        });
        std::thread::sleep(Duration::from_millis(30));
        fetch(a, "GET", "/", "");
        let small_done = std::time::Instant::now();
        let heavy_done = heavy.join().unwrap();
        // Otherwise the check below proves nothing.
        assert!(heavy_done - start > Duration::from_millis(60));
        assert!(small_done + Duration::from_millis(20) >= heavy_done);
    }

    #[test]
    fn count_to_is_not_folded() {
        let t = std::time::Instant::now();
        assert_eq!(count_to(50_000_000), 50_000_000);
        // A folded loop would take nanoseconds.
        assert!(t.elapsed() > Duration::from_millis(5));
    }
}
