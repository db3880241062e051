//! Per-worker recording of samples, interval snapshots, and merging.
//!
//! Each worker thread owns one [`Recorder`] and is the only one to touch it, so recording
//! takes no lock. Recording never allocates either, except the first time a new status code or
//! backend value is seen (a handful of times per run). Once per second the worker hands its
//! [`Interval`] to the collector, which builds the time series; at the end the recorders merge.
//! A second's figures are not recorded apart: they are the difference between the run's figures
//! at its end and at its start ([`Recorder::take_interval`]), so each request is counted once.
//!
//! Recording is the per-request cost of the whole measurement, so it records each value once
//! where it can: the zero phases of a reused connection (blocked, connecting, TLS) and the zero
//! receiving of a response that came with its head are counted and added in bulk when the recorder is settled (by [`Recorder::take_interval`] and
//! [`Recorder::merge`], before anything reads it), the only endpoint of a run reads the run's
//! own figures, and per scenario only the request count is kept (all that is read of it).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::catalogue::{self, MetricDef};
use crate::failure::FailureKind;
use crate::histogram::{self, Micros};
use crate::result::{
    BackendStats, CheckResult, EndpointStats, FailureSeen, LatencyStats, Metric, MetricKind,
    TimePoint,
};
use crate::selector::{Matcher, MetricKey, Selector};
use crate::summary;
use crate::threshold::Aggregate;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response; `expected` says whether its status counts as a success.
    Response {
        status: u16,
        expected: bool,
    },
    Failure(FailureKind),
}

/// One request as measured, the one type of the whole pipeline: the transport fills it (status
/// or failure, phases, bytes, the backend header, when it began and ended), the engine adds
/// what only it knows (indices, whether the status was expected, the duration as the model
/// measures it), and the recorder records it, all in place. A VU reuses one (one per request of
/// a pipelined batch), so neither filling nor recording it allocates. Durations in
/// microseconds; phases that did not happen are 0.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The status of the response's head; set even when the request then failed (a body cut
    /// short), so that checks still read it. 0 when no head arrived.
    pub status: u16,
    /// Set when no complete response arrived: the request failed at the transport level.
    pub failure: Option<FailureKind>,
    /// 0 on a reused connection. No DNS phase: the engine resolves hosts before the run.
    pub connecting_us: u64,
    pub tls_us: u64,
    pub sending_us: u64,
    pub waiting_us: u64,
    pub receiving_us: u64,
    pub bytes_sent: u64,
    /// Everything read for this request (status line, headers, body).
    pub bytes_received: u64,
    /// Of which the response body (Locust's content size), without heads or chunk framing.
    pub body_bytes: u64,
    /// The value of the backend header (a reused buffer; see [`Sample::backend`]).
    pub backend: String,
    /// The response carried the backend header.
    pub has_backend: bool,
    /// The request was sent again on a fresh connection (a reused one had closed).
    pub retried: bool,
    /// When the request began and ended (whatever the outcome); one clock read each.
    pub started: Option<Instant>,
    pub finished: Option<Instant>,

    /// Index of the endpoint (step name + method) as registered in [`Names::endpoints`].
    pub endpoint: usize,
    pub scenario: usize,
    pub flow: usize,
    /// The status counts as a success (the plan's expected statuses).
    pub expected: bool,
    /// Total duration. In the open model, measured from the intended start (no coordinated
    /// omission); otherwise from the moment the request began.
    pub duration_us: u64,
    /// Open model only: measured from the actual start, and how late that start was.
    pub raw_us: Option<u64>,
    pub lag_us: Option<u64>,
    /// Backends are tallied (`--backend-header`): a response without the header counts as
    /// `(none)`.
    pub tally_backend: bool,
}

impl Sample {
    /// Empties the sample for the next request, keeping its buffer.
    pub fn clear(&mut self) {
        let mut backend = std::mem::take(&mut self.backend);
        backend.clear();
        *self = Sample { backend, ..Sample::default() };
    }

    /// What happened to the request.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        match self.failure {
            Some(k) => Outcome::Failure(k),
            None => Outcome::Response { status: self.status, expected: self.expected },
        }
    }

    /// Start and end of the request (now, for a request that never began).
    #[inline]
    pub fn span(&self) -> (Instant, Instant) {
        let end = self.finished.unwrap_or_else(Instant::now);
        (self.started.unwrap_or(end), end)
    }

    pub fn failed(&self) -> bool {
        !matches!(self.outcome(), Outcome::Response { expected: true, .. })
    }

    /// The generator itself failed ([`FailureKind::Local`]): no latency to record.
    pub fn is_local(&self) -> bool {
        self.failure.is_some_and(|k| k.is_local())
    }

    /// Before the request could be sent: connecting and TLS on a new connection, 0 on a
    /// reused one (k6's `http_req_blocked`).
    pub fn blocked_us(&self) -> u64 {
        self.connecting_us + self.tls_us
    }

    /// The backend that served the request, when backends are tallied.
    pub fn backend(&self) -> Option<&str> {
        match (self.tally_backend, self.has_backend) {
            (false, _) => None,
            (true, true) => Some(&self.backend),
            (true, false) => Some("(none)"),
        }
    }

    /// Sent on a reused connection: nothing to wait for before sending.
    fn reused_connection(&self) -> bool {
        self.connecting_us == 0 && self.tls_us == 0
    }
}

/// Display names of the indices used in samples, fixed before the run starts.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// (method, name) per endpoint index.
    pub endpoints: Vec<(String, String)>,
    pub scenarios: Vec<String>,
    pub flows: Vec<String>,
    /// (check name, step name) per check index.
    pub checks: Vec<(String, String)>,
    /// Flow index per check index (empty: unknown).
    pub check_flows: Vec<usize>,
    /// Scenario index per flow index (empty: unknown).
    pub flow_scenarios: Vec<usize>,
    /// The sub-metric selectors to record exactly (those thresholds name), beyond
    /// `{expected_response:true}` which is always recorded.
    pub watched: Vec<Selector>,
}

impl Names {
    /// Adds the selector of `key` to the watched ones (once per selection).
    pub fn watch(&mut self, key: &MetricKey) {
        if let Some(sel) = &key.selector
            && !self.watched.iter().any(|w| w.same_selection(sel))
        {
            self.watched.push(sel.clone());
        }
    }
}

/// The selector always recorded, as k6 always shows `http_req_duration{expected_response:true}`.
pub fn expected_response_true() -> MetricKey {
    MetricKey::parse("http_req_duration{expected_response:true}").expect("a valid key")
}

/// The values of the VU gauges, which only the engine knows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    pub vus: GaugeValue,
    pub vus_max: GaugeValue,
}

/// A k6 gauge: its last value and the smallest and largest seen.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GaugeValue {
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

/// What every request adds to, the same way for the whole run and for a watched sub-metric:
/// outcomes and latency, the phases, bytes sent.
#[derive(Debug, Clone)]
pub struct Requests {
    pub tagged: Tagged,
    pub blocked: Micros,
    pub connecting: Micros,
    pub tls: Micros,
    pub sending: Micros,
    pub waiting: Micros,
    pub receiving: Micros,
    pub bytes_sent: u64,
    /// Responses on a reused connection whose zero blocked, connecting and TLS phases are
    /// not in those histograms yet (see [`Requests::settle`]).
    reused: u64,
    /// Responses received in the read of their head (receiving 0, nearly every small one),
    /// not in `receiving` yet.
    received_at_once: u64,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            tagged: Tagged::default(),
            blocked: histogram::new(),
            connecting: histogram::new(),
            tls: histogram::new(),
            sending: histogram::new(),
            waiting: histogram::new(),
            receiving: histogram::new(),
            bytes_sent: 0,
            reused: 0,
            received_at_once: 0,
        }
    }
}

impl Requests {
    /// Records `s`, whose outcome, failure and connection reuse the caller worked out once.
    #[inline]
    fn record(&mut self, s: &Sample, outcome: Outcome, failed: bool, reused: bool) {
        self.tagged.record(s, outcome, failed);
        self.bytes_sent += s.bytes_sent;
        if let Outcome::Response { .. } = outcome {
            // Every response has every phase, 0 when it did not happen (a reused
            // connection), as k6 records them; those zeros are added in bulk.
            if reused {
                self.reused += 1;
            } else {
                histogram::record(&mut self.blocked, s.blocked_us());
                histogram::record(&mut self.connecting, s.connecting_us);
                histogram::record(&mut self.tls, s.tls_us);
            }
            histogram::record(&mut self.sending, s.sending_us);
            histogram::record(&mut self.waiting, s.waiting_us);
            if s.receiving_us == 0 {
                self.received_at_once += 1;
            } else {
                histogram::record(&mut self.receiving, s.receiving_us);
            }
        }
    }

    fn merge(&mut self, o: &Requests) {
        let add = |a: &mut Micros, b: &Micros| a.add(b).expect("auto-resizing histograms merge");
        self.tagged.merge(&o.tagged);
        add(&mut self.blocked, &o.blocked);
        add(&mut self.connecting, &o.connecting);
        add(&mut self.tls, &o.tls);
        add(&mut self.sending, &o.sending);
        add(&mut self.waiting, &o.waiting);
        add(&mut self.receiving, &o.receiving);
        self.bytes_sent += o.bytes_sent;
        self.reused += o.reused;
        self.received_at_once += o.received_at_once;
    }

    /// Adds the zero phases counted since the last time (a reused connection's blocked,
    /// connecting and TLS; a response complete with its head's receiving): after it, every
    /// response has each of its phases in the histograms.
    fn settle(&mut self) {
        let n = std::mem::take(&mut self.reused);
        for h in [&mut self.blocked, &mut self.connecting, &mut self.tls] {
            histogram::record_zeros(h, n);
        }
        histogram::record_zeros(&mut self.receiving, std::mem::take(&mut self.received_at_once));
    }

    fn settled(&self) -> bool {
        self.reused == 0 && self.received_at_once == 0
    }
}

/// A sub-metric recorded exactly: every sample whose tags match its selector.
#[derive(Debug, Clone)]
pub struct Sub {
    pub selector: Selector,
    matcher: Matcher,
    /// Its requests' figures; while `mirror`, the whole run's stand for them.
    requests: Requests,
    pub iterations: u64,
    pub iteration: Micros,
    pub dropped: u64,
    pub checks: (u64, u64),
    /// Every request so far matched: the request figures are the whole run's, and nothing is
    /// recorded in this sub's copy (`{expected_response:true}` of a run without failures
    /// costs no histogram record). Cleared, after copying the whole, by the first request that
    /// does not match ([`Sub::materialize`]).
    mirror: bool,
}

impl Sub {
    fn new(selector: &Selector, names: &Names) -> Sub {
        Sub {
            selector: selector.clone(),
            matcher: Matcher::new(selector, names),
            requests: Requests::default(),
            iterations: 0,
            iteration: histogram::new(),
            dropped: 0,
            checks: (0, 0),
            mirror: true,
        }
    }

    /// Stops mirroring: the request figures so far become this sub's own (a copy of the
    /// whole's, which allocates once per sub and worker).
    fn materialize(&mut self, whole: &Requests) {
        if self.mirror {
            self.mirror = false;
            self.requests = whole.clone();
        }
    }

    /// Its request figures: its own, or the whole's while it mirrors.
    fn requests<'a>(&'a self, whole: &'a Requests) -> &'a Requests {
        if self.mirror { whole } else { &self.requests }
    }

    /// Merges another worker's sub; `mine` and `theirs` are the two workers' wholes, before
    /// they are merged, for whichever side mirrors.
    fn merge(&mut self, o: &Sub, mine: &Requests, theirs: &Requests) {
        if !(self.mirror && o.mirror) {
            self.materialize(mine);
            self.requests.merge(o.requests(theirs));
        }
        self.iterations += o.iterations;
        self.iteration.add(&o.iteration).expect("auto-resizing histograms merge");
        self.dropped += o.dropped;
        self.checks.0 += o.checks.0;
        self.checks.1 += o.checks.1;
    }
}

/// What the metrics of one selection (the whole run, or a watched sub-metric) are read from:
/// one name → measurement mapping for both, so a total and its sub-metrics cannot disagree on
/// what a metric means.
struct Measured<'a> {
    requests: &'a Requests,
    iteration: &'a Micros,
    iterations: u64,
    dropped: u64,
    checks: (u64, u64),
}

impl<'a> Measured<'a> {
    fn source(&self, name: &str) -> Option<Source<'a>> {
        let r = self.requests;
        let t = &r.tagged;
        Some(match name {
            "http_reqs" => Source::Counter(t.requests),
            "http_req_failed" => Source::Rate(t.failures, t.requests - t.failures),
            "http_req_duration" => Source::Trend(&t.duration),
            "http_req_blocked" => Source::Trend(&r.blocked),
            "http_req_connecting" => Source::Trend(&r.connecting),
            "http_req_tls_handshaking" => Source::Trend(&r.tls),
            "http_req_sending" => Source::Trend(&r.sending),
            "http_req_waiting" => Source::Trend(&r.waiting),
            "http_req_receiving" => Source::Trend(&r.receiving),
            "iteration_duration" => Source::Trend(self.iteration),
            "iterations" => Source::Counter(self.iterations),
            "dropped_iterations" => Source::Counter(self.dropped),
            "data_sent" => Source::Counter(r.bytes_sent),
            "data_received" => Source::Counter(t.bytes_received),
            "checks" => Source::Rate(self.checks.0, self.checks.1),
            _ => return None,
        })
    }
}

/// What a metric's value is computed from: the recorder's own measurements in a run, the
/// merged measurements of its shards in `volley merge` ([`crate::merge`]). Metric values and
/// threshold aggregates are computed from a source, and only here.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Trend(&'a Micros),
    Counter(u64),
    /// Passes and fails.
    Rate(u64, u64),
    Gauge(GaugeValue),
}

impl Source<'_> {
    /// The k6-shaped value of the metric (`contains` as the catalogue says).
    pub fn metric(&self, duration_s: f64, contains: catalogue::Contains) -> Metric {
        match *self {
            Source::Trend(h) => summary::trend(h),
            Source::Counter(n) => summary::counter(n, duration_s, contains),
            Source::Rate(p, f) => summary::rate(p, f),
            Source::Gauge(v) => summary::gauge(v.value, v.min, v.max),
        }
    }

    /// The value a threshold aggregate reads (`p(97.5)` included). `None` when the metric has
    /// no such aggregate, and for a rate with no samples (k6 does not evaluate those).
    pub fn aggregate(&self, agg: Aggregate, duration_s: f64) -> Option<f64> {
        match (*self, agg) {
            (Source::Trend(h), _) => summary::trend_aggregate(h, agg),
            (Source::Counter(n), Aggregate::Count) => Some(n as f64),
            (Source::Counter(n), Aggregate::Rate) => Some(per_s(n, duration_s)),
            (Source::Rate(p, f), Aggregate::Rate) if p + f > 0 => Some(p as f64 / (p + f) as f64),
            (Source::Gauge(v), Aggregate::Value) => Some(v.value),
            _ => None,
        }
    }
}

/// Requests, failures and latency for one tag value.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub requests: u64,
    pub failures: u64,
    pub bytes_received: u64,
    pub body_bytes: u64,
    pub duration: Micros,
    pub statuses: BTreeMap<u16, u64>,
    pub failure_kinds: [u64; FailureKind::COUNT],
    /// When each cause of failure was first and last seen (Locust's `First Seen` and `Last
    /// Seen`): on the failure path only, a short list (one entry per cause).
    pub failures_seen: Vec<(Cause, Instant, Instant)>,
}

/// Why a request failed: an unexpected status or a transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    Status(u16),
    Kind(FailureKind),
}

impl Cause {
    /// As the result keys it: the status (`"503"`) or the kind (`"reset"`), the keys of
    /// `status_codes` and `failure_kinds`.
    pub fn key(&self) -> String {
        match self {
            Cause::Status(s) => s.to_string(),
            Cause::Kind(k) => k.as_str().to_string(),
        }
    }
}

impl Default for Tagged {
    fn default() -> Self {
        Tagged {
            requests: 0,
            failures: 0,
            bytes_received: 0,
            body_bytes: 0,
            duration: histogram::new(),
            statuses: BTreeMap::new(),
            failure_kinds: [0; FailureKind::COUNT],
            failures_seen: Vec::new(),
        }
    }
}

impl Tagged {
    /// Records `s`, whose outcome the caller worked out once.
    #[inline]
    fn record(&mut self, s: &Sample, outcome: Outcome, failed: bool) {
        self.requests += 1;
        if failed {
            self.failures += 1;
        }
        self.bytes_received += s.bytes_received;
        self.body_bytes += s.body_bytes;
        match outcome {
            // BTreeMap insert allocates only for a status not seen before.
            Outcome::Response { status, .. } => {
                histogram::record(&mut self.duration, s.duration_us);
                *self.statuses.entry(status).or_insert(0) += 1
            }
            Outcome::Failure(k) => {
                // A generator-side failure says nothing about the server's latency.
                if !k.is_local() {
                    histogram::record(&mut self.duration, s.duration_us);
                }
                self.failure_kinds[k.index()] += 1
            }
        }
        if failed {
            let cause = match outcome {
                Outcome::Response { status, .. } => Cause::Status(status),
                Outcome::Failure(k) => Cause::Kind(k),
            };
            let at = s.span().1;
            self.seen(cause, at, at);
        }
    }

    /// Widens the first/last-seen times of `cause` to include `first..=last`.
    fn seen(&mut self, cause: Cause, first: Instant, last: Instant) {
        match self.failures_seen.iter_mut().find(|(c, _, _)| *c == cause) {
            Some((_, f, l)) => {
                *f = (*f).min(first);
                *l = (*l).max(last);
            }
            None => self.failures_seen.push((cause, first, last)),
        }
    }

    fn merge(&mut self, o: &Tagged) {
        for (c, f, l) in &o.failures_seen {
            self.seen(*c, *f, *l);
        }
        self.requests += o.requests;
        self.failures += o.failures;
        self.bytes_received += o.bytes_received;
        self.body_bytes += o.body_bytes;
        self.duration.add(&o.duration).expect("auto-resizing histograms always merge");
        for (k, v) in &o.statuses {
            *self.statuses.entry(*k).or_insert(0) += v;
        }
        for (a, b) in self.failure_kinds.iter_mut().zip(o.failure_kinds) {
            *a += b;
        }
    }
}

/// One second of one worker's activity, handed to the time-series collector.
#[derive(Debug, Clone)]
pub struct Interval {
    pub second: u64,
    pub requests: u64,
    pub failures: u64,
    pub transport_failures: u64,
    pub dropped: u64,
    pub bytes_received: u64,
    pub body_bytes: u64,
    pub bytes_sent: u64,
    pub vus: u64,
    pub connections: u64,
    pub duration: Micros,
}

impl Interval {
    /// An empty second, its histogram sized up front for durations up to a minute (the
    /// default timeout): merging the workers' seconds into it does not grow it step by step.
    pub fn new(second: u64) -> Self {
        Interval::with(second, histogram::sized(60_000_000))
    }

    fn with(second: u64, duration: Micros) -> Self {
        Interval {
            second,
            requests: 0,
            failures: 0,
            transport_failures: 0,
            dropped: 0,
            bytes_received: 0,
            body_bytes: 0,
            bytes_sent: 0,
            vus: 0,
            connections: 0,
            duration,
        }
    }

    fn merge(&mut self, o: &Interval) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.transport_failures += o.transport_failures;
        self.dropped += o.dropped;
        self.bytes_received += o.bytes_received;
        self.body_bytes += o.body_bytes;
        self.bytes_sent += o.bytes_sent;
        self.vus += o.vus;
        self.connections += o.connections;
        self.duration.add(&o.duration).expect("auto-resizing histograms always merge");
    }
}

/// Everything one worker measured. See the module docs for the ownership rule.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Every request's figures (what the watched sub-metrics have for theirs).
    pub whole: Requests,
    pub transport_failures: u64,
    /// Requests sent a second time on a fresh connection.
    pub retries: u64,
    /// Open model: latency from the actual send, and schedule lag.
    pub raw: Micros,
    pub lag: Micros,
    pub iteration: Micros,
    pub iterations: u64,
    pub interrupted_iterations: u64,
    pub dropped: u64,
    /// Per endpoint index; with one endpoint, unused: its figures are the whole's (read them
    /// through [`Recorder::endpoint`]).
    endpoints: Vec<Tagged>,
    /// Requests per scenario index (the open model's achieved rate).
    pub scenario_requests: Vec<u64>,
    pub backends: Vec<(String, Tagged)>,
    /// The watched sub-metrics, `{expected_response:true}` first.
    subs: Vec<Sub>,
    /// (passes, fails) per check index.
    pub checks: Vec<(u64, u64)>,
    /// The run's figures when the current second began.
    tick: Interval,
}

impl Recorder {
    /// A recorder with room for every index in `names`.
    pub fn new(names: &Names) -> Self {
        Recorder {
            whole: Requests::default(),
            transport_failures: 0,
            retries: 0,
            raw: histogram::new(),
            lag: histogram::new(),
            iteration: histogram::new(),
            iterations: 0,
            interrupted_iterations: 0,
            dropped: 0,
            endpoints: vec![Tagged::default(); names.endpoints.len().max(1)],
            scenario_requests: vec![0; names.scenarios.len().max(1)],
            backends: Vec::new(),
            subs: std::iter::once(expected_response_true().selector.expect("a selector"))
                .chain(names.watched.iter().cloned())
                .fold(Vec::<Selector>::new(), |mut v, s| {
                    if !v.iter().any(|w| w.same_selection(&s)) {
                        v.push(s);
                    }
                    v
                })
                .iter()
                .map(|s| Sub::new(s, names))
                .collect(),
            checks: vec![(0, 0); names.checks.len()],
            tick: Interval::with(0, histogram::new()),
        }
    }

    /// With one endpoint every request is its request: the whole holds its figures.
    fn single_endpoint(&self) -> bool {
        self.endpoints.len() == 1
    }

    /// The figures of endpoint `i`.
    pub fn endpoint(&self, i: usize) -> &Tagged {
        if self.single_endpoint() { &self.whole.tagged } else { &self.endpoints[i] }
    }

    /// Adds the zero phases of reused-connection responses (see [`Requests::settle`]).
    fn settle(&mut self) {
        self.whole.settle();
        for sub in &mut self.subs {
            sub.requests.settle();
        }
    }

    /// Whether every value recorded is in the histograms (what a reader needs).
    fn settled(&self) -> bool {
        self.whole.settled() && self.subs.iter().all(|s| s.requests.settled())
    }

    /// Records one finished request (the hot path).
    #[inline]
    pub fn record(&mut self, s: &Sample) {
        let outcome = s.outcome();
        let failed = !matches!(outcome, Outcome::Response { expected: true, .. });
        let reused = s.reused_connection();
        let status = match outcome {
            Outcome::Response { status, .. } => Some(status),
            Outcome::Failure(_) => None,
        };
        let backend = s.backend();
        // Before the whole records `s`: a sub that stops mirroring copies the whole without it.
        for sub in &mut self.subs {
            let matched =
                sub.matcher.request(s.endpoint, s.scenario, s.flow, status, !failed, backend);
            if sub.mirror {
                if matched {
                    continue;
                }
                sub.materialize(&self.whole);
            }
            if matched {
                sub.requests.record(s, outcome, failed, reused);
            }
        }
        self.whole.record(s, outcome, failed, reused);
        if !self.single_endpoint() {
            self.endpoints[s.endpoint].record(s, outcome, failed);
        }
        self.scenario_requests[s.scenario] += 1;
        self.retries += u64::from(s.retried);
        if status.is_none() {
            self.transport_failures += 1;
        }
        if let Some(raw) = s.raw_us {
            histogram::record(&mut self.raw, raw);
        }
        if let Some(lag) = s.lag_us {
            histogram::record(&mut self.lag, lag);
        }
        if let Some(b) = backend {
            match self.backends.iter_mut().find(|(name, _)| name == b) {
                Some((_, t)) => t.record(s, outcome, failed),
                None => {
                    let mut t = Tagged::default();
                    t.record(s, outcome, failed);
                    self.backends.push((b.to_string(), t));
                }
            }
        }
    }

    /// An iteration (one pass through a flow, think time included) of a scenario ended.
    pub fn record_iteration(&mut self, scenario: usize, duration_us: u64, interrupted: bool) {
        if interrupted {
            self.interrupted_iterations += 1;
            return;
        }
        self.iterations += 1;
        histogram::record(&mut self.iteration, duration_us);
        for sub in &mut self.subs {
            if sub.matcher.iteration(scenario) {
                sub.iterations += 1;
                histogram::record(&mut sub.iteration, duration_us);
            }
        }
    }

    /// Open model: `n` iterations of a scenario could not start because every VU was busy.
    pub fn record_dropped(&mut self, scenario: usize, n: u64) {
        self.dropped += n;
        for sub in &mut self.subs {
            if sub.matcher.iteration(scenario) {
                sub.dropped += n;
            }
        }
    }

    pub fn record_check(&mut self, check: usize, passed: bool) {
        let c = &mut self.checks[check];
        if passed {
            c.0 += 1
        } else {
            c.1 += 1
        }
        for sub in &mut self.subs {
            if sub.matcher.check(check) {
                if passed { sub.checks.0 += 1 } else { sub.checks.1 += 1 }
            }
        }
    }

    /// Hands over the current second's activity and starts the next one. Called by the
    /// worker's ticker once per second; the gauges are the worker's values at that moment.
    pub fn take_interval(&mut self, next_second: u64, vus: u64, connections: u64) -> Interval {
        self.settle();
        let w = &self.whole.tagged;
        let now = Interval {
            second: next_second,
            requests: w.requests,
            failures: w.failures,
            transport_failures: self.transport_failures,
            dropped: self.dropped,
            bytes_received: w.bytes_received,
            body_bytes: w.body_bytes,
            bytes_sent: self.whole.bytes_sent,
            vus: 0,
            connections: 0,
            duration: w.duration.clone(),
        };
        let t = std::mem::replace(&mut self.tick, now);
        let w = &self.tick;
        let mut duration = w.duration.clone();
        // The run's histogram only ever gains values, so the one at the second's start is
        // contained in it.
        duration.subtract(&t.duration).expect("a recorder's histograms only grow");
        Interval {
            second: t.second,
            requests: w.requests - t.requests,
            failures: w.failures - t.failures,
            transport_failures: w.transport_failures - t.transport_failures,
            dropped: w.dropped - t.dropped,
            bytes_received: w.bytes_received - t.bytes_received,
            body_bytes: w.body_bytes - t.body_bytes,
            bytes_sent: w.bytes_sent - t.bytes_sent,
            vus,
            connections,
            duration,
        }
    }

    pub fn merge(&mut self, o: &Recorder) {
        let add = |a: &mut Micros, b: &Micros| a.add(b).expect("auto-resizing histograms merge");
        // Subs first: a mirroring one stands for its worker's whole before the wholes merge.
        // Recorders built from the same names watch the same selectors in the same order.
        for (a, b) in self.subs.iter_mut().zip(&o.subs) {
            a.merge(b, &self.whole, &o.whole);
        }
        self.whole.merge(&o.whole);
        self.transport_failures += o.transport_failures;
        self.retries += o.retries;
        add(&mut self.raw, &o.raw);
        add(&mut self.lag, &o.lag);
        add(&mut self.iteration, &o.iteration);
        self.iterations += o.iterations;
        self.interrupted_iterations += o.interrupted_iterations;
        self.dropped += o.dropped;
        if !self.single_endpoint() {
            for (a, b) in self.endpoints.iter_mut().zip(&o.endpoints) {
                a.merge(b);
            }
        }
        for (a, b) in self.scenario_requests.iter_mut().zip(&o.scenario_requests) {
            *a += b;
        }
        for (name, t) in &o.backends {
            match self.backends.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(t),
                None => self.backends.push((name.clone(), t.clone())),
            }
        }
        for (a, b) in self.checks.iter_mut().zip(&o.checks) {
            a.0 += b.0;
            a.1 += b.1;
        }
        // The merged figures at the second's start, so that a merged recorder's next interval
        // is the merged second.
        self.tick.merge(&o.tick);
        self.settle();
    }

    pub fn requests(&self) -> u64 {
        self.whole.tagged.requests
    }

    /// Per-endpoint statistics in registration order; endpoints never hit are left out.
    /// `start` is the run's start, which failure times are counted from.
    pub fn endpoint_stats(
        &self,
        names: &Names,
        duration_s: f64,
        start: Instant,
    ) -> Vec<EndpointStats> {
        (0..self.endpoints.len())
            .map(|i| self.endpoint(i))
            .zip(&names.endpoints)
            .filter(|(t, _)| t.requests > 0)
            .map(|(t, (method, name))| EndpointStats {
                name: name.clone(),
                method: method.clone(),
                requests: t.requests,
                failures: t.failures,
                bytes_received: t.bytes_received,
                body_bytes: t.body_bytes,
                latency: summary::latency(&t.duration),
                rps: per_s(t.requests, duration_s),
                failures_per_s: per_s(t.failures, duration_s),
                status_codes: status_map(&t.statuses),
                failure_kinds: kind_map(&t.failure_kinds),
                failures_seen: t
                    .failures_seen
                    .iter()
                    .map(|(c, f, l)| {
                        let s = |i: &Instant| {
                            (i.saturating_duration_since(start).as_secs_f64() * 1000.0).round()
                                / 1000.0
                        };
                        (c.key(), FailureSeen { first_s: s(f), last_s: s(l) })
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn backend_stats(&self) -> Vec<BackendStats> {
        let mut v: Vec<BackendStats> = self
            .backends
            .iter()
            .map(|(name, t)| BackendStats {
                backend: name.clone(),
                requests: t.requests,
                failures: t.failures,
                latency: summary::latency(&t.duration),
            })
            .collect();
        v.sort_by(|a, b| a.backend.cmp(&b.backend));
        v
    }

    pub fn check_results(&self, names: &Names) -> Vec<CheckResult> {
        self.checks
            .iter()
            .zip(&names.checks)
            .map(|((p, f), (name, step))| CheckResult {
                name: name.clone(),
                step: step.clone(),
                passes: *p,
                fails: *f,
            })
            .collect()
    }

    /// Every request of the endpoints called `name` (whatever their method).
    pub fn by_name(&self, names: &Names, name: &str) -> Tagged {
        let mut out = Tagged::default();
        for (t, (_, n)) in (0..self.endpoints.len()).map(|i| self.endpoint(i)).zip(&names.endpoints)
        {
            if n == name {
                out.merge(t);
            }
        }
        out
    }

    /// The recorded sub-metric of a selector, when it was watched.
    pub fn sub(&self, sel: &Selector) -> Option<&Sub> {
        self.subs.iter().find(|s| s.selector.same_selection(sel))
    }

    /// The measurement behind a metric key; `None` for a sub-metric that was not watched.
    pub fn source<'a>(&'a self, key: &MetricKey, g: &Gauges) -> Option<Source<'a>> {
        debug_assert!(self.settled(), "a recorder is read after `merge` or `take_interval`");
        let name = key.metric.name;
        if name == "vus" {
            return Some(Source::Gauge(g.vus));
        }
        if name == "vus_max" {
            return Some(Source::Gauge(g.vus_max));
        }
        let Some(sel) = &key.selector else {
            let checks = self
                .checks
                .iter()
                .fold((0u64, 0u64), |(p, f), c| (p.saturating_add(c.0), f.saturating_add(c.1)));
            return Measured {
                requests: &self.whole,
                iteration: &self.iteration,
                iterations: self.iterations,
                dropped: self.dropped,
                checks,
            }
            .source(name);
        };
        // A tag the metric's samples do not carry selects nothing (as in k6).
        if sel.pairs.iter().any(|(t, _)| !key.metric.carries(*t)) {
            return Some(empty(key.metric));
        }
        let sub = self.sub(sel)?;
        Measured {
            requests: sub.requests(&self.whole),
            iteration: &sub.iteration,
            iterations: sub.iterations,
            dropped: sub.dropped,
            checks: sub.checks,
        }
        .source(name)
    }

    /// k6-shaped value of a metric or a watched sub-metric. `None` for a sub-metric that was
    /// not watched.
    pub fn metric(&self, key: &MetricKey, duration_s: f64, g: &Gauges) -> Option<Metric> {
        Some(self.source(key, g)?.metric(duration_s, key.metric.contains))
    }

    /// The histogram behind a trend metric or watched trend sub-metric (what the result
    /// serializes so that shards merge exactly).
    pub fn trend_histogram(&self, key: &MetricKey, g: &Gauges) -> Option<&Micros> {
        match self.source(key, g)? {
            Source::Trend(h) => Some(h),
            _ => None,
        }
    }

    /// The value a threshold aggregate reads ([`Source::aggregate`]); `None` also for a
    /// sub-metric that was not watched.
    pub fn aggregate(
        &self,
        key: &MetricKey,
        agg: Aggregate,
        duration_s: f64,
        g: &Gauges,
    ) -> Option<f64> {
        self.source(key, g)?.aggregate(agg, duration_s)
    }
}

impl crate::threshold::Measurements for Recorder {
    fn source(&self, key: &MetricKey, g: &Gauges) -> Option<Source<'_>> {
        Recorder::source(self, key, g)
    }
}

fn empty(m: &MetricDef) -> Source<'static> {
    static EMPTY: std::sync::OnceLock<Micros> = std::sync::OnceLock::new();
    match m.kind {
        MetricKind::Trend => Source::Trend(EMPTY.get_or_init(histogram::new)),
        MetricKind::Counter => Source::Counter(0),
        MetricKind::Rate => Source::Rate(0, 0),
        MetricKind::Gauge => Source::Gauge(GaugeValue::default()),
    }
}

/// Every metric of the catalogue that a result always carries, and the watched sub-metrics
/// of the metrics thresholds name.
pub fn always_present() -> impl Iterator<Item = MetricKey> {
    catalogue::CATALOGUE
        .iter()
        .filter(|m| m.always)
        .map(MetricKey::whole)
        .chain(std::iter::once(expected_response_true()))
}

fn per_s(n: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 { n as f64 / duration_s } else { 0.0 }
}

pub(crate) fn status_map(m: &BTreeMap<u16, u64>) -> BTreeMap<String, u64> {
    m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

pub(crate) fn kind_map(k: &[u64; FailureKind::COUNT]) -> BTreeMap<String, u64> {
    FailureKind::ALL
        .iter()
        .filter(|f| k[f.index()] > 0)
        .map(|f| (f.as_str().to_string(), k[f.index()]))
        .collect()
}

/// Builds the per-second time series from the workers' intervals.
///
/// A second is complete when every worker has handed in its interval for it; it is then reduced
/// to a [`TimePoint`] and its histogram dropped, so memory stays flat in run length. One running
/// histogram of every second closed so far gives each point its cumulative percentiles (the
/// running statistics Locust writes in `_stats_history.csv`); workers hand in their seconds in
/// order, so seconds close in time order.
#[derive(Debug)]
pub struct TimeSeries {
    workers: usize,
    open: BTreeMap<u64, (usize, Interval)>,
    done: Vec<TimePoint>,
    cumulative: Micros,
}

impl TimeSeries {
    pub fn new(workers: usize) -> Self {
        TimeSeries {
            workers,
            open: BTreeMap::new(),
            done: Vec::new(),
            cumulative: histogram::new(),
        }
    }

    fn close(&mut self, iv: &Interval) {
        self.cumulative.add(&iv.duration).expect("auto-resizing histograms always merge");
        let mut p = point(iv);
        p.cumulative_percentiles = summary::ladder(&self.cumulative);
        self.done.push(p);
    }

    /// Adds one worker's interval; when that completes its second (every worker handed one
    /// in), returns the second's point, for the live progress.
    pub fn add(&mut self, iv: Interval) -> Option<&TimePoint> {
        let second = iv.second;
        let entry = self.open.entry(second).or_insert_with(|| (0, Interval::new(second)));
        entry.0 += 1;
        entry.1.merge(&iv);
        if entry.0 >= self.workers {
            let (_, iv) = self.open.remove(&second).expect("entry exists");
            self.close(&iv);
            return self.done.last();
        }
        None
    }

    /// The points so far (complete seconds only), in time order.
    pub fn points(&self) -> &[TimePoint] {
        &self.done
    }

    /// Closes the remaining seconds and returns the series, one point per second from 0 with
    /// no gaps (a second in which nothing finished is a point with zero requests).
    pub fn finish(mut self) -> Vec<TimePoint> {
        let rest = std::mem::take(&mut self.open);
        for (_, (_, iv)) in rest {
            self.close(&iv);
        }
        self.done.sort_by_key(|p| p.t);
        let mut out: Vec<TimePoint> = Vec::with_capacity(self.done.len());
        for p in self.done {
            while let Some(last) = out.last() {
                if last.t + 1 >= p.t {
                    break;
                }
                let t = last.t + 1;
                out.push(TimePoint {
                    t,
                    vus: last.vus,
                    connections: last.connections,
                    cumulative_percentiles: last.cumulative_percentiles.clone(),
                    ..Default::default()
                });
            }
            out.push(p);
        }
        out
    }
}

fn point(iv: &Interval) -> TimePoint {
    TimePoint {
        t: iv.second,
        requests: iv.requests,
        failures: iv.failures,
        transport_failures: iv.transport_failures,
        dropped: iv.dropped,
        bytes_received: iv.bytes_received,
        body_bytes: iv.body_bytes,
        bytes_sent: iv.bytes_sent,
        vus: iv.vus,
        connections: iv.connections,
        latency: (iv.requests > 0).then(|| summary::latency(&iv.duration)),
        cumulative_percentiles: BTreeMap::new(),
        server: Vec::new(),
    }
}

/// Latency statistics of a whole recorder, for callers that only need the headline numbers.
pub fn headline(r: &Recorder) -> LatencyStats {
    summary::latency(&r.whole.tagged.duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names {
            endpoints: vec![
                ("GET".into(), "/".into()),
                ("POST".into(), "predict".into()),
                ("GET".into(), "predict".into()),
            ],
            scenarios: vec!["default".into()],
            flows: vec!["index".into(), "predict".into(), "predict".into()],
            checks: vec![("status 200".into(), "predict".into())],
            check_flows: vec![1],
            flow_scenarios: vec![0, 0, 0],
            watched: Vec::new(),
        };
        for k in [
            "http_reqs{name:predict}",
            "http_reqs{status:500}",
            "http_req_duration{status:500}",
            "http_reqs{expected_response:false}",
            "http_req_duration{name:predict,method:GET}",
            "http_reqs{ method:POST , name:predict }",
            "checks{check:status 200}",
            "iterations{scenario:default}",
        ] {
            n.watch(&key(k));
        }
        n
    }

    fn key(s: &str) -> MetricKey {
        MetricKey::parse(s).unwrap()
    }

    fn sample(endpoint: usize, outcome: Outcome, ms: u64) -> Sample {
        let (status, failure, expected) = match outcome {
            Outcome::Response { status, expected } => (status, None, expected),
            Outcome::Failure(k) => (0, Some(k), false),
        };
        Sample {
            status,
            failure,
            expected,
            endpoint,
            scenario: 0,
            flow: endpoint,
            duration_us: ms * 1000,
            sending_us: 10,
            waiting_us: ms * 900,
            receiving_us: ms * 100,
            bytes_sent: 50,
            bytes_received: 100,
            body_bytes: 60,
            backend: "a".into(),
            has_backend: true,
            tally_backend: true,
            ..Sample::default()
        }
    }

    #[test]
    fn a_sample_reads_its_outcome_and_backend_and_clears_for_the_next_request() {
        let mut s = sample(0, Outcome::Response { status: 200, expected: true }, 5);
        assert_eq!(s.outcome(), Outcome::Response { status: 200, expected: true });
        assert!(!s.failed() && s.backend() == Some("a"));
        // A body cut short after the head: a failure that keeps the head's status.
        s.failure = Some(FailureKind::Closed);
        assert_eq!((s.outcome(), s.status), (Outcome::Failure(FailureKind::Closed), 200));
        assert!(s.failed() && !s.is_local());
        s.has_backend = false;
        assert_eq!(s.backend(), Some("(none)"));
        s.tally_backend = false;
        assert_eq!(s.backend(), None);
        (s.connecting_us, s.tls_us) = (300, 400);
        assert_eq!(s.blocked_us(), 700);
        let buffer = s.backend.as_ptr();
        s.clear();
        assert_eq!((s.status, s.failure, s.blocked_us(), s.duration_us), (0, None, 0, 0));
        assert!(s.backend.is_empty() && s.backend.capacity() > 0 && s.backend.as_ptr() == buffer);
        assert_eq!(s.started, None);
    }

    #[test]
    fn counts_add_up_after_merge() {
        let n = names();
        let g = Gauges::default();
        let mut a = Recorder::new(&n);
        let mut b = Recorder::new(&n);
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 5));
        a.record(&sample(1, Outcome::Response { status: 500, expected: false }, 7));
        a.record(&sample(2, Outcome::Response { status: 200, expected: true }, 3));
        b.record(&sample(1, Outcome::Failure(FailureKind::Reset), 9));
        b.record_check(0, false);
        a.record_check(0, true);
        a.record_iteration(0, 1000, false);
        a.merge(&b);
        assert_eq!(a.requests(), 4);
        assert_eq!(a.whole.tagged.failures, 2);
        assert_eq!(a.transport_failures, 1);
        let eps = a.endpoint_stats(&n, 1.0, Instant::now());
        assert_eq!(eps[1].requests, 2);
        assert_eq!(eps[1].failures, 2);
        assert_eq!(eps[1].failure_kinds["reset"], 1);
        let count = |k: &str| a.metric(&key(k), 2.0, &g).unwrap().values["count"];
        assert_eq!(count("http_reqs{name:predict}"), 3.0);
        assert_eq!(a.metric(&key("http_reqs{name:predict}"), 2.0, &g).unwrap().values["rate"], 1.5);
        // Several tags: only the requests carrying all of them.
        assert_eq!(count("http_reqs{method:POST,name:predict}"), 2.0);
        let get =
            a.metric(&key("http_req_duration{ method:GET , name:predict }"), 1.0, &g).unwrap();
        assert_eq!(get.values["count"], 1.0);
        assert!((get.values["max"] - 3.0).abs() < 0.01, "{get:?}");
        let f = a.metric(&key("http_req_failed"), 1.0, &g).unwrap();
        assert!((f.values["rate"] - 0.5).abs() < 1e-9);
        let c = a.metric(&key("checks"), 1.0, &g).unwrap();
        assert_eq!(c.values["rate"], 0.5);
        assert_eq!(
            a.metric(&key("checks{check:status 200}"), 1.0, &g).unwrap().values["passes"],
            1.0
        );
        assert_eq!(count("http_reqs{status:500}"), 1.0);
        let d500 = a.metric(&key("http_req_duration{status:500}"), 1.0, &g).unwrap();
        assert_eq!(d500.values["count"], 1.0);
        assert!((d500.values["max"] - 7.0).abs() < 0.01, "{d500:?}");
        let ok = a.metric(&expected_response_true(), 1.0, &g).unwrap();
        assert_eq!(ok.values["count"], 2.0);
        assert!((ok.values["max"] - 5.0).abs() < 0.01, "{ok:?}");
        assert_eq!(count("http_reqs{expected_response:false}"), 2.0);
        assert_eq!(count("iterations{scenario:default}"), 1.0);
        // Not watched: no value rather than a wrong one.
        assert!(a.metric(&key("http_reqs{name:/}"), 1.0, &g).is_none());
        // A tag the metric does not carry: empty, as k6.
        assert_eq!(count("data_received{name:predict}"), 0.0);
        // Every response has a connecting time, 0 on a reused connection.
        assert_eq!(a.whole.connecting.len(), 3);
        let agg = |k: &str, ag| a.aggregate(&key(k), ag, 1.0, &g);
        assert_eq!(agg("http_req_connecting", Aggregate::Percentile(95.0)), Some(0.0));
        assert!(
            (agg("http_req_duration", Aggregate::Percentile(97.5)).unwrap() - 9.0).abs() < 0.01
        );
        assert_eq!(agg("http_reqs", Aggregate::Avg), None);
        let empty = Recorder::new(&n);
        // k6 does not evaluate a rate without samples.
        assert_eq!(empty.aggregate(&key("checks"), Aggregate::Rate, 1.0, &g), None);
        assert_eq!(
            empty.aggregate(&key("http_reqs{status:500}"), Aggregate::Count, 1.0, &g),
            Some(0.0)
        );
    }

    /// Locust's First Seen / Last Seen: per endpoint and cause, from the run's start, kept
    /// across merged workers; successes leave no entry.
    #[test]
    fn failure_causes_keep_when_they_were_first_and_last_seen() {
        let n = names();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let with_end = |mut s: Sample, ms: u64| {
            s.finished = Some(at(ms));
            s
        };
        let bad =
            |ms| with_end(sample(1, Outcome::Response { status: 503, expected: false }, 1), ms);
        let reset = |ms| with_end(sample(1, Outcome::Failure(FailureKind::Reset), 1), ms);
        let (mut a, mut b) = (Recorder::new(&n), Recorder::new(&n));
        a.record(&with_end(sample(1, Outcome::Response { status: 200, expected: true }, 1), 100));
        a.record(&bad(1500));
        a.record(&bad(2250));
        b.record(&bad(700));
        b.record(&reset(3000));
        b.record(&bad(1800));
        a.merge(&b);
        let eps = a.endpoint_stats(&n, 4.0, t0);
        let seen = &eps.iter().find(|e| e.method == "POST").unwrap().failures_seen;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!((seen["503"].first_s, seen["503"].last_s), (0.7, 2.25));
        assert_eq!((seen["reset"].first_s, seen["reset"].last_s), (3.0, 3.0));
        assert!(eps.iter().filter(|e| e.method != "POST").all(|e| e.failures_seen.is_empty()));
    }

    /// A sub-metric equals the whole of a recorder that saw only its requests, whether it
    /// mirrored the whole, stopped mirroring part way, or was merged from workers in either
    /// state.
    #[test]
    fn a_mirroring_sub_metric_reads_as_if_recorded_one_by_one() {
        let n = names();
        let g = Gauges::default();
        let ok = |e| sample(e, Outcome::Response { status: 200, expected: true }, 5);
        let mut fresh = ok(2);
        (fresh.connecting_us, fresh.tls_us) = (300, 400);
        let bad = sample(1, Outcome::Response { status: 500, expected: false }, 7);
        let reset = sample(0, Outcome::Failure(FailureKind::Reset), 9);
        let slow = sample(2, Outcome::Response { status: 200, expected: true }, 40);
        // Workers: all expected (mirrors to the end), expected then not, not from the start.
        let workers: [Vec<Sample>; 3] = [
            vec![fresh.clone(), ok(0), ok(2), slow.clone()],
            vec![ok(2), ok(0), fresh, bad.clone(), ok(0), reset.clone(), slow],
            vec![bad, reset, ok(2)],
        ];
        let metrics = [
            "http_reqs",
            "http_req_failed",
            "http_req_duration",
            "http_req_blocked",
            "http_req_connecting",
            "http_req_tls_handshaking",
            "http_req_sending",
            "http_req_waiting",
            "http_req_receiving",
        ];
        let check = |rec: &Recorder, sel: &str, keep: &dyn Fn(&Sample) -> bool, order: &[usize]| {
            let mut only = Recorder::new(&n);
            for s in order.iter().flat_map(|&w| &workers[w]).filter(|s| keep(s)) {
                only.record(s);
            }
            only.settle();
            for m in metrics {
                let got = rec.metric(&key(&format!("{m}{{{sel}}}")), 1.0, &g).unwrap();
                let want = only.metric(&key(m), 1.0, &g).unwrap();
                assert_eq!(got.values, want.values, "{m}{{{sel}}} over workers {order:?}");
            }
        };
        let expected = |s: &Sample| !s.failed();
        let predict = |s: &Sample| s.endpoint != 0;
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1]] {
            let mut rs: Vec<Recorder> = order
                .iter()
                .map(|&w| {
                    let mut r = Recorder::new(&n);
                    for s in &workers[w] {
                        r.record(s);
                    }
                    r.settle();
                    r
                })
                .collect();
            let first = rs.remove(0);
            // Each worker on its own, then merged.
            check(&first, "expected_response:true", &expected, &order[..1]);
            let mut merged = first;
            for r in &rs {
                merged.merge(r);
            }
            check(&merged, "expected_response:true", &expected, &order);
            check(&merged, "name:predict", &predict, &order);
        }
        // A run without a failure never copies the whole: its sub still mirrors.
        let mut r = Recorder::new(&n);
        for s in &workers[0] {
            r.record(s);
        }
        assert!(r.subs[0].mirror && r.subs[0].requests.tagged.requests == 0);
    }

    #[test]
    fn reused_connection_zeros_count_in_every_phase_as_if_recorded_one_by_one() {
        let n = names();
        let g = Gauges::default();
        let ok = Outcome::Response { status: 200, expected: true };
        let mut a = Recorder::new(&n);
        let mut fresh = sample(0, ok, 5);
        (fresh.connecting_us, fresh.tls_us) = (300, 400);
        a.record(&fresh);
        for _ in 0..9 {
            a.record(&sample(0, ok, 5));
        }
        let mut b = Recorder::new(&n);
        b.record(&sample(1, Outcome::Response { status: 500, expected: false }, 7));
        // A failure has no phases at all.
        b.record(&sample(1, Outcome::Failure(FailureKind::Reset), 9));
        let one_by_one = |fresh_us: u64, zeros: usize| {
            let mut h = histogram::new();
            histogram::record(&mut h, fresh_us);
            for _ in 0..zeros {
                histogram::record(&mut h, 0);
            }
            summary::trend(&h)
        };
        let mut merged = Recorder::new(&n);
        merged.merge(&a);
        merged.merge(&b);
        for (metric, fresh_us) in [
            ("http_req_blocked", 700),
            ("http_req_connecting", 300),
            ("http_req_tls_handshaking", 400),
        ] {
            // Whole run: 11 responses, one on a new connection.
            let m = merged.metric(&key(metric), 1.0, &g).unwrap();
            assert_eq!(m, one_by_one(fresh_us, 10), "{metric}");
            assert_eq!(m.values["count"], 11.0);
            assert_eq!(m.values["p(90)"], 0.0);
            // `{expected_response:true}`: the 10 responses with an expected status.
            let sub = format!("{metric}{{expected_response:true}}");
            let m = merged.metric(&key(&sub), 1.0, &g).unwrap();
            assert_eq!(m, one_by_one(fresh_us, 9), "{sub}");
        }
        // A worker's own recorder is settled by its interval, the collector's reads by merge.
        let mut c = Recorder::new(&n);
        c.record(&sample(0, ok, 5));
        c.take_interval(1, 1, 1);
        assert_eq!(c.metric(&key("http_req_connecting"), 1.0, &g).unwrap().values["count"], 1.0);
    }

    #[test]
    fn responses_received_with_their_head_count_zero_receiving_as_if_recorded() {
        let n = names();
        let g = Gauges::default();
        let ok = Outcome::Response { status: 200, expected: true };
        let mut a = Recorder::new(&n);
        let mut one_by_one = histogram::new();
        for i in 0..20u64 {
            let mut s = sample(0, ok, 5);
            // Every third response took more reads after its head.
            s.receiving_us = if i % 3 == 0 { 40 + i } else { 0 };
            histogram::record(&mut one_by_one, s.receiving_us);
            a.record(&s);
        }
        // A failure has no receiving phase.
        let mut failed = sample(0, Outcome::Failure(FailureKind::Timeout), 5);
        failed.receiving_us = 0;
        a.record(&failed);
        let expected = summary::trend(&one_by_one);
        // Read after a merge (the collector) and after an interval (a worker).
        let mut merged = Recorder::new(&n);
        merged.merge(&a);
        let m = merged.metric(&key("http_req_receiving"), 1.0, &g).unwrap();
        assert_eq!(m, expected);
        assert_eq!(m.values["count"], 20.0);
        assert_eq!(m.values["min"], 0.0);
        let sub = merged.metric(&key("http_req_receiving{expected_response:true}"), 1.0, &g);
        assert_eq!(sub.unwrap(), expected);
        let iv = a.take_interval(1, 1, 1);
        assert_eq!(a.metric(&key("http_req_receiving"), 1.0, &g).unwrap(), expected);
        assert_eq!(iv.requests, 21);
    }

    #[test]
    fn the_only_endpoint_reads_the_runs_figures() {
        let n = Names {
            endpoints: vec![("GET".into(), "/".into())],
            scenarios: vec!["default".into()],
            flows: vec!["default".into()],
            ..Names::default()
        };
        let (mut a, b) = (Recorder::new(&n), {
            let mut b = Recorder::new(&n);
            b.record(&sample(0, Outcome::Failure(FailureKind::Reset), 9));
            b
        });
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 5));
        a.record(&sample(0, Outcome::Response { status: 503, expected: false }, 7));
        let mut m = Recorder::new(&n);
        m.merge(&a);
        m.merge(&b);
        let eps = m.endpoint_stats(&n, 1.0, Instant::now());
        assert_eq!(eps.len(), 1);
        let e = &eps[0];
        assert_eq!((e.requests, e.failures, e.bytes_received, e.body_bytes), (3, 2, 300, 180));
        assert_eq!(e.status_codes, BTreeMap::from([("200".into(), 1), ("503".into(), 1)]));
        assert_eq!(e.failure_kinds, BTreeMap::from([("reset".into(), 1)]));
        assert_eq!(e.latency, summary::latency(&m.whole.tagged.duration));
        assert_eq!(e.latency.count, 3);
        assert_eq!(m.by_name(&n, "/").requests, 3);
        assert_eq!(m.scenario_requests, vec![3]);
    }

    #[test]
    fn each_interval_is_its_second_and_the_intervals_add_up_to_the_run() {
        let n = names();
        let mut r = Recorder::new(&n);
        let ok = Outcome::Response { status: 200, expected: true };
        // Second 0: two responses (5 and 7 ms), a reset (9 ms), a generator-side failure (no
        // latency), 3 dropped iterations. Second 1: nothing. Second 2: one slow response.
        r.record(&sample(0, ok, 5));
        r.record(&sample(1, ok, 7));
        r.record(&sample(0, Outcome::Failure(FailureKind::Reset), 9));
        r.record(&sample(0, Outcome::Failure(FailureKind::Local), 0));
        r.record_dropped(0, 3);
        let s0 = r.take_interval(1, 4, 2);
        let s1 = r.take_interval(2, 4, 2);
        r.record(&sample(1, ok, 900));
        let s2 = r.take_interval(3, 1, 1);
        let counts = |iv: &Interval| {
            (iv.second, iv.requests, iv.failures, iv.transport_failures, iv.dropped)
        };
        assert_eq!(counts(&s0), (0, 4, 2, 2, 3));
        assert_eq!((s0.bytes_received, s0.body_bytes, s0.bytes_sent), (400, 240, 200));
        assert_eq!((s0.vus, s0.connections), (4, 2));
        // The local failure has no latency: three durations, 5 to 9 ms.
        assert_eq!(s0.duration.len(), 3);
        assert_eq!((s0.duration.min(), s0.duration.max() / 1000), (5000, 9));
        assert_eq!(counts(&s1), (1, 0, 0, 0, 0));
        assert!(s1.duration.is_empty());
        assert_eq!(counts(&s2), (2, 1, 0, 0, 0));
        assert_eq!((s2.duration.len(), s2.duration.min() / 1000), (1, 899));
        assert_eq!(r.requests(), 5);
        assert_eq!(r.whole.tagged.duration.len(), 4);
    }

    #[test]
    fn time_series_closes_seconds_when_all_workers_reported() {
        let n = names();
        let mut ts = TimeSeries::new(2);
        let mut a = Recorder::new(&n);
        let mut b = Recorder::new(&n);
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 5));
        ts.add(a.take_interval(1, 3, 3));
        assert!(ts.points().is_empty());
        ts.add(b.take_interval(1, 2, 2));
        assert_eq!(ts.points().len(), 1);
        assert_eq!(ts.points()[0].vus, 5);
        // second 1 skipped entirely by both workers, second 2 only by one
        let mut late = b.take_interval(3, 0, 0);
        late.second = 2;
        ts.add(late);
        let s = ts.finish();
        assert_eq!(s.iter().map(|p| p.t).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(s[0].requests, 1);
        assert_eq!(s[0].body_bytes, 60);
    }

    #[test]
    fn cumulative_percentiles_run_over_every_closed_second() {
        let n = names();
        let mut ts = TimeSeries::new(1);
        let mut a = Recorder::new(&n);
        ts.add(a.take_interval(1, 1, 1)); // second 0: nothing yet
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 10));
        ts.add(a.take_interval(2, 1, 1));
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 30));
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 40));
        ts.add(a.take_interval(4, 1, 1));
        let mut late = a.take_interval(5, 1, 1);
        late.second = 4; // second 3 never reported: a gap keeps the running figures
        ts.add(late);
        let s = ts.finish();
        assert!(s[0].cumulative_percentiles.is_empty());
        assert!((s[1].cumulative_percentiles["p(100)"] - 10.0).abs() < 0.05, "{s:?}");
        assert!((s[2].cumulative_percentiles["p(50)"] - 30.0).abs() < 0.05, "{s:?}");
        assert!((s[2].cumulative_percentiles["p(100)"] - 40.0).abs() < 0.05, "{s:?}");
        assert_eq!(s[3].cumulative_percentiles, s[2].cumulative_percentiles);
        assert_eq!(s[3].requests, 0);
        assert_eq!(s[4].cumulative_percentiles, s[2].cumulative_percentiles);
    }
}
