//! The validated test specification: what the engine runs.
//!
//! Both entry points produce it: quick mode (`volley URL -c 50 -n 10000`) builds a one-scenario,
//! one-flow, one-step spec; `volley run PLAN` parses and validates a YAML plan into it. Nothing
//! downstream ever sees raw YAML or CLI strings: every duration is a `Duration`, every URL parsed,
//! every template compiled, every weight checked.

use std::time::Duration;

use crate::template::Template;
use crate::threshold::Threshold;

/// A whole test, ready to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Base URL that relative step paths are joined to (`http://127.0.0.1:3000`).
    pub base_url: Option<url::Url>,
    pub scenarios: Vec<Scenario>,
    pub thresholds: Vec<Threshold>,
    pub http: HttpOptions,
    /// Plan-level variables (after `${ENV}` substitution), visible to every template.
    pub variables: Vec<(String, String)>,
    /// CSV data shared by the scenarios, referenced by index from [`Scenario::feeders`].
    pub feeders: Vec<Feeder>,
    /// The files the plan reads (CSV feeders, body files) as written in it, relative to its
    /// folder unless absolute, each once, in the order read: what must travel with the plan
    /// to another machine (`volley k8s` ships them beside it).
    pub files: Vec<String>,
    /// Path of the plan file, for messages and the result's config.
    pub source: Option<String>,
}

/// Connection-level options shared by every request.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub keepalive: bool,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// Default per-request timeout (a step may override it).
    pub timeout: Duration,
    /// Headers sent with every request (a step's own headers win).
    pub headers: Vec<(String, Template)>,
    /// Tally requests by this response header's value (`--backend-header X-Served-By`).
    pub backend_header: Option<String>,
    /// Statuses that count as success; k6's default is 200–399.
    pub expected_statuses: StatusSet,
    /// HTTP/1.1 pipelining: requests written at once per connection (1: none). Only for
    /// one-step flows whose step has no checks or extractions (see [`HttpOptions::check_pipeline`]).
    pub pipeline: u32,
    /// Send a request again on a fresh connection after a reused connection failed before
    /// any byte of its response, also for non-idempotent methods (POST, PATCH); off by default:
    /// the server may have acted on it.
    pub retry_non_idempotent: bool,
    /// The HTTP version of steps that do not choose one (theirs or their scenario's).
    pub version: HttpVersion,
    /// HTTP/2 streams per connection (oha's `-p`): that many VUs share one connection, each
    /// with one stream in flight at a time. 1 (one connection per VU) by default.
    pub streams: u32,
}

/// The HTTP version a request is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 (the default).
    #[default]
    Http1,
    /// HTTP/2 (`--http2`, plan key `http2: true`): negotiated by ALPN over TLS, HTTP/1.1 when
    /// the server does not pick h2; over plain http, h2c with prior knowledge (as h2load and
    /// oha do: there is nothing to negotiate with).
    Http2,
    /// HTTP/2 without negotiation (`--http2-prior-knowledge`): h2c over plain http; over TLS,
    /// ALPN offers h2 alone and no fallback is made.
    Http2PriorKnowledge,
}

impl HttpVersion {
    /// True for both HTTP/2 modes.
    pub fn is_http2(self) -> bool {
        self != HttpVersion::Http1
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            keepalive: true,
            insecure: false,
            timeout: Duration::from_secs(60),
            headers: Vec::new(),
            backend_header: None,
            expected_statuses: StatusSet::default(),
            version: HttpVersion::Http1,
            streams: 1,
            pipeline: 1,
            retry_non_idempotent: false,
        }
    }
}

/// The most requests `pipeline` may batch per connection.
pub const MAX_PIPELINE: u32 = 1024;

impl HttpOptions {
    /// Pipelining needs requests known without waiting for the previous response: `Err` says
    /// why `scenarios` cannot be pipelined.
    pub fn check_pipeline(&self, scenarios: &[Scenario]) -> Result<(), String> {
        if self.pipeline <= 1 {
            return Ok(());
        }
        if self.pipeline > MAX_PIPELINE {
            return Err(format!("pipeline {} is more than {MAX_PIPELINE}", self.pipeline));
        }
        if !self.keepalive {
            return Err("pipelining needs keep-alive connections".into());
        }
        for sc in scenarios {
            if matches!(
                sc.executor,
                Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }
            ) {
                return Err(format!(
                    "scenario `{}`: pipelining works with closed-model executors only (an \
                     arrival rate starts requests one by one)",
                    sc.name
                ));
            }
            for f in &sc.flows {
                if f.steps.len() != 1 {
                    return Err(format!(
                        "flow `{}` has {} steps; pipelining sends one step's request many times",
                        f.name,
                        f.steps.len()
                    ));
                }
                let st = &f.steps[0];
                if !st.checks.is_empty() || !st.extract.is_empty() || st.think_time.is_some() {
                    return Err(format!(
                        "step `{}`: checks, extractions and think times need one response at a \
                         time (no pipelining)",
                        st.name
                    ));
                }
            }
            if sc.think_time.is_some() {
                return Err(format!("scenario `{}`: a think time rules out pipelining", sc.name));
            }
        }
        Ok(())
    }
}

/// A set of HTTP statuses (one type with the result file's `config.expected_statuses`).
pub use volley_metrics::result::StatusSet;

/// One scenario: an executor (when iterations start and how many VUs run them) and the flows
/// each iteration picks from.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub executor: Executor,
    /// Delay from the start of the test before this scenario begins.
    pub start_time: Duration,
    /// How long running iterations may continue after the scenario's end before they are
    /// interrupted (k6's `gracefulStop`, default 30 s).
    pub graceful_stop: Duration,
    /// Weighted flows (Locust's tasks); at least one, weights sum > 0.
    pub flows: Vec<Flow>,
    /// Pause after each iteration (Locust's `wait_time = between(1, 5)`).
    pub think_time: Option<ThinkTime>,
    /// Indices into [`Spec::feeders`] this scenario draws rows from.
    pub feeders: Vec<usize>,
}

/// k6's executors, with k6's semantics.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `vus` VUs loop for `duration`.
    ConstantVus { vus: u32, duration: Duration },
    /// The number of looping VUs follows linear ramps between stage targets.
    RampingVus { start_vus: u32, stages: Vec<Stage>, graceful_ramp_down: Duration },
    /// Each of `vus` VUs runs exactly `iterations` iterations.
    PerVuIterations { vus: u32, iterations: u64, max_duration: Duration },
    /// `vus` VUs share `iterations` iterations (quick mode's `-n`).
    SharedIterations { vus: u32, iterations: u64, max_duration: Duration },
    /// Iterations start at `rate` per second regardless of responses (open model). An
    /// iteration that finds no free VU is dropped and counted. `max_iterations` caps the count
    /// (quick mode's `--rps R -n N`).
    ConstantArrivalRate {
        rate: f64,
        duration: Duration,
        pre_allocated_vus: u32,
        max_vus: u32,
        max_iterations: Option<u64>,
    },
    /// The arrival rate (per second) follows linear ramps between stage targets.
    RampingArrivalRate { start_rate: f64, stages: Vec<Stage>, pre_allocated_vus: u32, max_vus: u32 },
    /// k6's `externally-controlled`: `vus` looping VUs for `duration`, changed during the run
    /// (up to `max_vus`) through k6's REST API or the dashboard.
    ExternallyControlled { vus: u32, max_vus: u32, duration: Duration },
}

impl Executor {
    /// k6's name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
            Executor::ExternallyControlled { .. } => "externally-controlled",
        }
    }

    /// Largest number of VUs this executor may ever run at once.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => *vus,
            Executor::RampingVus { start_vus, stages, .. } => {
                stages.iter().map(|s| s.target as u32).fold(*start_vus, u32::max)
            }
            Executor::ConstantArrivalRate { max_vus, pre_allocated_vus, .. }
            | Executor::RampingArrivalRate { max_vus, pre_allocated_vus, .. } => {
                (*max_vus).max(*pre_allocated_vus)
            }
            Executor::ExternallyControlled { max_vus, .. } => *max_vus,
        }
    }

    /// True for the open model (arrival-rate executors).
    pub fn is_open(&self) -> bool {
        matches!(self, Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. })
    }
}

/// A linear ramp to `target` (VUs, or iterations per second) over `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// Uniformly random pause in `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

/// A weighted sequence of steps; each iteration runs one flow from first step to last.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<Step>,
}

/// One HTTP request of a flow.
#[derive(Debug, Clone)]
pub struct Step {
    /// Aggregation name (`/item/{{id}}` and `/item/7` share one): the endpoint's name in every
    /// table, and the `name` tag of sub-metrics.
    pub name: String,
    pub method: http::Method,
    /// Absolute URL, or a path joined to the base URL at render time.
    pub url: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub body: Body,
    /// Overrides [`HttpOptions::timeout`].
    pub timeout: Option<Duration>,
    pub checks: Vec<Check>,
    pub extract: Vec<Extract>,
    /// Pause after this step, before the next one.
    pub think_time: Option<ThinkTime>,
    /// The step's HTTP version (its own `http2:` or its scenario's); `None` takes
    /// [`HttpOptions::version`].
    pub version: Option<HttpVersion>,
}

impl Step {
    /// The HTTP version this step is sent with: its own (or its scenario's), else the plan's.
    pub fn version_in(&self, http: &HttpOptions) -> HttpVersion {
        self.version.unwrap_or(http.version)
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// Sent as is (after template rendering).
    Raw(Template),
    /// A JSON document whose string leaves are templates; sent with `Content-Type:
    /// application/json`.
    Json(JsonTemplate),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, Template)>),
    /// File contents read at validation time.
    Bytes(bytes_like::Bytes),
}

/// Avoids a dependency on the `bytes` crate for one field.
pub mod bytes_like {
    pub type Bytes = std::sync::Arc<[u8]>;
}

/// A JSON value whose strings may contain templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// A named assertion on a response. Counted; does not by itself fail the request.
#[derive(Debug, Clone)]
pub struct Check {
    /// Shown as is (`status 200`, or the plan's own name).
    pub name: String,
    pub kind: CheckKind,
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    Status(Vec<u16>),
    BodyContains(String),
    BodyMatches(regex::Regex),
    /// JSON path (`$.a.b[0]`) exists, or equals a value when one is given.
    JsonPath {
        path: String,
        equals: Option<serde_json::Value>,
    },
    Header {
        name: String,
        equals: Option<String>,
    },
    MaxDuration(Duration),
}

/// Takes a value out of a response into a VU variable for later steps.
#[derive(Debug, Clone)]
pub struct Extract {
    pub variable: String,
    pub from: ExtractFrom,
}

#[derive(Debug, Clone)]
pub enum ExtractFrom {
    JsonPath(String),
    /// The first capture group (or the whole match when there is none).
    Regex(regex::Regex),
    Header(String),
}

/// Rows of a CSV file handed to VUs.
#[derive(Debug, Clone)]
pub struct Feeder {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: std::sync::Arc<Vec<Vec<String>>>,
    pub mode: FeederMode,
    /// Next row of a shared feeder, shared by every VU (and every clone of the spec).
    pub cursor: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeederMode {
    /// One cursor shared by all VUs, wrapping around.
    Shared,
    /// Each VU walks the file from its own offset.
    PerVu,
    Random,
}
