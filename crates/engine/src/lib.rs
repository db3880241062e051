//! The load engine: runs a validated [`Spec`] and returns a complete [`RunResult`].
//!
//! One loop, three independent concerns: *when* an iteration starts ([`schedule`], driven by
//! the scenario's executor), *how* a request is sent ([`transport`]: volley's own HTTP/1.1 codec, [`http1`], over
//! tokio TCP, rustls for https) and *where* its measurement goes (one
//! [`volley_metrics::Recorder`] per worker thread). Like wrk, the engine runs one OS thread per
//! core, each with its own single-threaded tokio runtime; virtual users are local tasks spread
//! over the threads, so recording takes no lock. Once per second every thread hands its
//! interval to a collector (time series, live progress, `abortOnFail` thresholds); at the end
//! the recorders merge and [`assemble`] builds the result document.
//!
//! Accounting rule: every request that reaches the transport ends as exactly one recorded
//! sample (a response or a failure of some [`volley_metrics::FailureKind`]), timeouts included.
//! A request still in flight when its iteration is cut off (graceful stop expired, Ctrl-C) is
//! not counted, as in k6; its iteration is counted as interrupted.

pub mod assemble;
pub mod http1;
pub mod limits;
mod run;
pub mod schedule;
pub mod transport;

use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

pub use tokio_util::sync::CancellationToken;
use volley_metrics::segment::Tuple;
use volley_metrics::{RunConfig, RunResult};
use volley_plan::Spec;

/// How to run a spec. Everything about *what* to run is in the [`Spec`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker OS threads; 0 means one per available core.
    pub threads: usize,
    /// Seed of the VUs' random generators (flow choice, think time, templates).
    pub seed: u64,
    /// Cancelled by the caller (Ctrl-C): no new iteration starts, and those in flight get
    /// `grace` to finish before they are interrupted.
    pub stop: CancellationToken,
    pub grace: Duration,
    /// Receives a live snapshot once per second (the progress line, the dashboard).
    pub progress: Option<Sender<Progress>>,
    /// Each snapshot also carries the result so far ([`Progress::result`]): the worker
    /// threads then hand over a copy of their recorder once a second, as for `abortOnFail`.
    pub live_results: bool,
    /// Copied into the result as is; the caller knows the command line and the mode (the
    /// engine adds the execution segment).
    pub config: RunConfig,
    /// The share of the test this generator runs (`--execution-segment`); the whole by default.
    pub segment: Tuple,
    /// Wall-clock time to start at (`--start-at`): the shards of a distributed run wait for it.
    pub start_at: Option<SystemTime>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 0,
            seed: 0x5EED,
            stop: CancellationToken::new(),
            grace: Duration::from_secs(2),
            progress: None,
            live_results: false,
            config: RunConfig::default(),
            segment: Tuple::full(),
            start_at: None,
        }
    }
}

/// A live view of the run, sent once per completed second.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Seconds since the start of the run.
    pub elapsed: Duration,
    /// Requests finished so far.
    pub requests: u64,
    /// Failed requests so far (transport failures and unexpected statuses).
    pub failures: u64,
    /// Requests finished in the last complete second.
    pub rps: f64,
    /// 95th percentile latency of the last complete second, ms (0 when nothing finished).
    pub p95_ms: f64,
    /// Active VUs at the end of the last second.
    pub vus: u64,
    /// Open-model iterations dropped so far.
    pub dropped: u64,
    /// The second's point of the time series (as the result file will have it).
    pub point: Option<volley_metrics::TimePoint>,
    /// With [`RunOptions::live_results`]: the result so far, assembled from every thread's
    /// recorder by the same code as the final one (thresholds evaluated, no time series).
    pub result: Option<std::sync::Arc<RunResult>>,
}

/// Why a run could not start. Failures of single requests are data, never an `EngineError`.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot resolve host `{host}`: {reason}\n  hint: check the host name in the URL (volley resolves it once, before sending)"
    )]
    Dns { host: String, reason: String },
    #[error("unsupported URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("invalid header name `{0}`")]
    BadHeader(String),
    #[error("the spec has no scenario to run")]
    Empty,
    #[error("cannot start worker threads: {0}")]
    Threads(String),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("cannot pipeline: {0}")]
    Pipeline(String),
}

/// Runs `spec` to the end (or until `opts.stop`), blocking the calling thread, and returns the
/// complete result. Spawns and joins its own worker threads.
pub fn run(spec: &Spec, opts: RunOptions) -> Result<RunResult, EngineError> {
    run::run(spec, opts)
}
