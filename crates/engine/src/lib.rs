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
pub mod clock;
pub mod fine_timer;
pub mod http1;
pub mod http2;
pub mod limits;
pub mod probe;
mod rare;
mod run;
pub mod schedule;
pub mod transport;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
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
    /// Pause and VU changes during the run (k6's REST API, the dashboard).
    pub control: std::sync::Arc<Control>,
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
            control: Default::default(),
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
    /// With [`RunOptions::live_results`]: the request-duration histogram of each endpoint
    /// name so far (the live result carries no serialized histograms), for readers that
    /// export buckets (Prometheus).
    pub durations: Option<std::sync::Arc<Durations>>,
}

/// Request-duration histograms by endpoint name, in the order the plan names them.
pub type Durations = Vec<(String, volley_metrics::histogram::Micros)>;

/// Live control of a run, shared with whoever steers it: pausing (closed-model VUs finish
/// their iteration and wait), and the VU count of an `externally-controlled` scenario (VUs
/// above it wait). The engine resets it from the spec when the run starts. VUs read it with
/// two relaxed atomic loads per iteration: no lock on the hot path.
#[derive(Debug, Default)]
pub struct Control {
    paused: AtomicBool,
    vus: AtomicU64,
    max_vus: AtomicU64,
    external: AtomicBool,
    open: AtomicBool,
}

/// Why a control request was refused (the text is k6's where k6 has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error(
        "an externally-controlled executor needs to be configured for live configuration updates"
    )]
    NotExternallyControlled,
    #[error(
        "the number of active VUs ({vus}) must be less than or equal to the number of maxVUs ({max_vus})"
    )]
    AboveMax { vus: u64, max_vus: u64 },
    #[error("volley allocates maxVUs ({max_vus}) when the run starts: raise max_vus in the plan")]
    MaxFixed { max_vus: u64 },
    #[error("volley pauses VU executors only; this run has an arrival-rate scenario")]
    OpenModel,
}

impl Control {
    /// Reads the spec's executors: the first externally-controlled scenario's VUs.
    pub fn reset(&self, spec: &Spec) {
        let ext = spec.scenarios.iter().find_map(|s| match s.executor {
            volley_plan::Executor::ExternallyControlled { vus, max_vus, .. } => {
                Some((vus, max_vus))
            }
            _ => None,
        });
        self.external.store(ext.is_some(), Relaxed);
        let (vus, max) = ext.unwrap_or((0, 0));
        self.vus.store(u64::from(vus), Relaxed);
        self.max_vus.store(u64::from(max), Relaxed);
        self.open.store(spec.scenarios.iter().any(|s| s.executor.is_open()), Relaxed);
        self.paused.store(false, Relaxed);
    }

    pub fn set_paused(&self, paused: bool) -> Result<(), ControlError> {
        if paused && self.open.load(Relaxed) {
            return Err(ControlError::OpenModel);
        }
        self.paused.store(paused, Relaxed);
        Ok(())
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Relaxed)
    }

    /// k6's `vus` and `vus-max` of a `PATCH /v1/status`.
    pub fn set_vus(&self, vus: Option<u64>, max_vus: Option<u64>) -> Result<(), ControlError> {
        if !self.external.load(Relaxed) {
            return Err(ControlError::NotExternallyControlled);
        }
        let max = self.max_vus.load(Relaxed);
        if let Some(m) = max_vus
            && m != max
        {
            return Err(ControlError::MaxFixed { max_vus: max });
        }
        if let Some(v) = vus {
            if v > max {
                return Err(ControlError::AboveMax { vus: v, max_vus: max });
            }
            self.vus.store(v, Relaxed);
        }
        Ok(())
    }

    /// The externally-controlled VU count and its maximum, when the run has one.
    pub fn external_vus(&self) -> Option<(u64, u64)> {
        self.external.load(Relaxed).then(|| (self.vus.load(Relaxed), self.max_vus.load(Relaxed)))
    }

    /// Whether VU `g` (0-based, within its scenario) of `executor` must wait now.
    pub(crate) fn holds(&self, executor: &volley_plan::Executor, g: u64) -> bool {
        self.paused.load(Relaxed)
            || (matches!(executor, volley_plan::Executor::ExternallyControlled { .. })
                && g >= self.vus.load(Relaxed))
    }
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

/// The protocol `spec`'s requests go out in, as results name it (`HTTP/1.1`, `HTTP/2`, both
/// when its steps differ): what an answer failing as `malformed` did not follow.
pub fn protocol_spoken(spec: &Spec) -> &'static str {
    let steps = spec.scenarios.iter().flat_map(|s| &s.flows).flat_map(|f| &f.steps);
    let (mut h1, mut h2) = (false, false);
    for st in steps {
        if st.version_in(&spec.http).is_http2() {
            h2 = true;
        } else {
            h1 = true;
        }
    }
    match (h1, h2) {
        (true, true) => "HTTP/1.1 or HTTP/2",
        (false, true) => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod control_tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        volley_plan::load_str(text, "p.yaml", std::path::Path::new("."), &Default::default())
            .unwrap()
    }

    #[test]
    fn the_protocol_spoken_follows_every_step() {
        let one = |step: &str| {
            protocol_spoken(&spec(&format!(
                "base_url: http://h\nvus: 1\niterations: 1\nsteps: [ {{ get: /{step} }} ]\n"
            )))
        };
        assert_eq!(one(""), "HTTP/1.1");
        assert_eq!(one(", http2: true"), "HTTP/2");
        let mixed = spec(
            "base_url: http://h\nscenarios:\n  a: { executor: shared-iterations, vus: 1, iterations: 1, steps: [ { get: / } ] }\n  b: { executor: shared-iterations, vus: 1, iterations: 1, http2: true, steps: [ { get: / } ] }\n",
        );
        assert_eq!(protocol_spoken(&mixed), "HTTP/1.1 or HTTP/2");
    }

    #[test]
    fn only_externally_controlled_runs_take_vu_counts() {
        let c = Control::default();
        c.reset(&spec("base_url: http://h\nvus: 2\nduration: 1s\nsteps: [ { get: / } ]\n"));
        assert_eq!(c.set_vus(Some(3), None), Err(ControlError::NotExternallyControlled));
        assert_eq!(c.set_paused(true), Ok(()));
        assert!(c.is_paused());
        c.reset(&spec(
            "base_url: http://h\nscenarios:\n  s: { executor: externally-controlled, vus: 2, max_vus: 4, duration: 5s, steps: [ { get: / } ] }\n",
        ));
        assert!(!c.is_paused(), "a new run starts unpaused");
        assert_eq!(c.external_vus(), Some((2, 4)));
        assert_eq!(c.set_vus(Some(4), None), Ok(()));
        assert_eq!(c.set_vus(Some(5), None), Err(ControlError::AboveMax { vus: 5, max_vus: 4 }));
        assert_eq!(c.set_vus(None, Some(8)), Err(ControlError::MaxFixed { max_vus: 4 }));
        let ex = &spec(
            "base_url: http://h\nscenarios:\n  s: { executor: externally-controlled, vus: 2, max_vus: 4, duration: 5s, steps: [ { get: / } ] }\n",
        )
        .scenarios[0]
            .executor;
        assert!(!c.holds(ex, 3) && c.holds(ex, 4));
        c.reset(&spec(
            "base_url: http://h\nscenarios:\n  s: { executor: constant-arrival-rate, rate: 5, duration: 1s, pre_allocated_vus: 1, steps: [ { get: / } ] }\n",
        ));
        assert_eq!(c.set_paused(true), Err(ControlError::OpenModel));
    }
}
