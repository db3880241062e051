//! Per-worker recording of samples, interval snapshots, and merging.
//!
//! Each worker thread owns one [`Recorder`] and is the only one to touch it, so recording
//! takes no lock. Recording never allocates either, except the first time a new status code or
//! backend value is seen (a handful of times per run). Once per second the worker hands its
//! [`Interval`] to the collector, which builds the time series; at the end the recorders merge.

use std::collections::BTreeMap;

use crate::failure::FailureKind;
use crate::histogram::{self, Micros};
use crate::result::{BackendStats, CheckResult, EndpointStats, LatencyStats, Metric, TimePoint};
use crate::summary;

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

/// One finished request. Durations in microseconds; phases that did not happen are 0.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Index of the endpoint (step name + method) as registered in [`Names::endpoints`].
    pub endpoint: usize,
    pub scenario: usize,
    pub flow: usize,
    pub outcome: Outcome,
    /// Total duration. In the open model, measured from the intended start (no coordinated
    /// omission); otherwise from the moment the request began.
    pub duration_us: u64,
    /// Open model only: measured from the actual start, and how late that start was.
    pub raw_us: Option<u64>,
    pub lag_us: Option<u64>,
    pub connecting_us: u64,
    pub tls_us: u64,
    pub sending_us: u64,
    pub waiting_us: u64,
    pub receiving_us: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Value of the backend header, when one is tallied.
    pub backend: Option<&'a str>,
}

impl Sample<'_> {
    pub fn failed(&self) -> bool {
        !matches!(self.outcome, Outcome::Response { expected: true, .. })
    }

    /// The generator itself failed ([`FailureKind::Local`]): no latency to record.
    pub fn is_local(&self) -> bool {
        matches!(self.outcome, Outcome::Failure(k) if k.is_local())
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
}

/// Requests, failures and latency for one tag value.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub requests: u64,
    pub failures: u64,
    pub bytes_received: u64,
    pub duration: Micros,
    pub statuses: BTreeMap<u16, u64>,
    pub failure_kinds: [u64; FailureKind::COUNT],
}

impl Default for Tagged {
    fn default() -> Self {
        Tagged {
            requests: 0,
            failures: 0,
            bytes_received: 0,
            duration: histogram::new(),
            statuses: BTreeMap::new(),
            failure_kinds: [0; FailureKind::COUNT],
        }
    }
}

impl Tagged {
    #[inline]
    fn record(&mut self, s: &Sample<'_>) {
        self.requests += 1;
        if s.failed() {
            self.failures += 1;
        }
        self.bytes_received += s.bytes_received;
        // A generator-side failure says nothing about the server's latency.
        if !s.is_local() {
            histogram::record(&mut self.duration, s.duration_us);
        }
        match s.outcome {
            // BTreeMap insert allocates only for a status not seen before.
            Outcome::Response { status, .. } => *self.statuses.entry(status).or_insert(0) += 1,
            Outcome::Failure(k) => self.failure_kinds[k.index()] += 1,
        }
    }

    fn merge(&mut self, o: &Tagged) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.bytes_received += o.bytes_received;
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
    pub bytes_sent: u64,
    pub vus: u64,
    pub connections: u64,
    pub duration: Micros,
}

impl Interval {
    fn new(second: u64) -> Self {
        Interval {
            second,
            requests: 0,
            failures: 0,
            transport_failures: 0,
            dropped: 0,
            bytes_received: 0,
            bytes_sent: 0,
            vus: 0,
            connections: 0,
            duration: histogram::new(),
        }
    }

    fn merge(&mut self, o: &Interval) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.transport_failures += o.transport_failures;
        self.dropped += o.dropped;
        self.bytes_received += o.bytes_received;
        self.bytes_sent += o.bytes_sent;
        self.vus += o.vus;
        self.connections += o.connections;
        self.duration.add(&o.duration).expect("auto-resizing histograms always merge");
    }
}

/// Everything one worker measured. See the module docs for the ownership rule.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub all: Tagged,
    pub transport_failures: u64,
    pub bytes_sent: u64,
    pub connecting: Micros,
    pub tls: Micros,
    pub sending: Micros,
    pub waiting: Micros,
    pub receiving: Micros,
    /// Open model: latency from the actual send, and schedule lag.
    pub raw: Micros,
    pub lag: Micros,
    pub iteration: Micros,
    pub iterations: u64,
    pub interrupted_iterations: u64,
    pub dropped: u64,
    pub endpoints: Vec<Tagged>,
    pub scenarios: Vec<Tagged>,
    pub flows: Vec<Tagged>,
    pub backends: Vec<(String, Tagged)>,
    /// Per status code, for `{status:500}` sub-metrics (a new code allocates once).
    pub statuses: Vec<(u16, Tagged)>,
    /// Responses with an expected status, for k6's `{expected_response:true}`, and every other
    /// request (transport failures, unexpected statuses) for `{expected_response:false}`.
    pub expected: Tagged,
    pub unexpected: Tagged,
    /// (passes, fails) per check index.
    pub checks: Vec<(u64, u64)>,
    interval: Interval,
}

impl Recorder {
    /// A recorder with room for every index in `names`.
    pub fn new(names: &Names) -> Self {
        Recorder {
            all: Tagged::default(),
            transport_failures: 0,
            bytes_sent: 0,
            connecting: histogram::new(),
            tls: histogram::new(),
            sending: histogram::new(),
            waiting: histogram::new(),
            receiving: histogram::new(),
            raw: histogram::new(),
            lag: histogram::new(),
            iteration: histogram::new(),
            iterations: 0,
            interrupted_iterations: 0,
            dropped: 0,
            endpoints: vec![Tagged::default(); names.endpoints.len().max(1)],
            scenarios: vec![Tagged::default(); names.scenarios.len().max(1)],
            flows: vec![Tagged::default(); names.flows.len().max(1)],
            backends: Vec::new(),
            statuses: Vec::new(),
            expected: Tagged::default(),
            unexpected: Tagged::default(),
            checks: vec![(0, 0); names.checks.len()],
            interval: Interval::new(0),
        }
    }

    /// Records one finished request (the hot path).
    #[inline]
    pub fn record(&mut self, s: &Sample<'_>) {
        self.all.record(s);
        self.endpoints[s.endpoint].record(s);
        self.scenarios[s.scenario].record(s);
        self.flows[s.flow].record(s);
        self.bytes_sent += s.bytes_sent;
        let failed = s.failed();
        if let Outcome::Failure(_) = s.outcome {
            self.transport_failures += 1;
            self.interval.transport_failures += 1;
        }
        if s.connecting_us > 0 {
            histogram::record(&mut self.connecting, s.connecting_us);
        }
        if s.tls_us > 0 {
            histogram::record(&mut self.tls, s.tls_us);
        }
        if let Outcome::Response { .. } = s.outcome {
            histogram::record(&mut self.sending, s.sending_us);
            histogram::record(&mut self.waiting, s.waiting_us);
            histogram::record(&mut self.receiving, s.receiving_us);
        }
        if let Some(raw) = s.raw_us {
            histogram::record(&mut self.raw, raw);
        }
        if let Some(lag) = s.lag_us {
            histogram::record(&mut self.lag, lag);
        }
        if failed {
            self.unexpected.record(s);
        } else {
            self.expected.record(s);
        }
        if let Outcome::Response { status, .. } = s.outcome {
            match self.statuses.iter_mut().find(|(code, _)| *code == status) {
                Some((_, t)) => t.record(s),
                None => {
                    let mut t = Tagged::default();
                    t.record(s);
                    self.statuses.push((status, t));
                }
            }
        }
        if let Some(b) = s.backend {
            match self.backends.iter_mut().find(|(name, _)| name == b) {
                Some((_, t)) => t.record(s),
                None => {
                    let mut t = Tagged::default();
                    t.record(s);
                    self.backends.push((b.to_string(), t));
                }
            }
        }
        let iv = &mut self.interval;
        iv.requests += 1;
        if failed {
            iv.failures += 1;
        }
        iv.bytes_received += s.bytes_received;
        iv.bytes_sent += s.bytes_sent;
        if !s.is_local() {
            histogram::record(&mut iv.duration, s.duration_us);
        }
    }

    /// An iteration (one pass through a flow) ended.
    pub fn record_iteration(&mut self, duration_us: u64, interrupted: bool) {
        if interrupted {
            self.interrupted_iterations += 1;
        } else {
            self.iterations += 1;
            histogram::record(&mut self.iteration, duration_us);
        }
    }

    /// Open model: `n` iterations could not start because every VU was busy.
    pub fn record_dropped(&mut self, n: u64) {
        self.dropped += n;
        self.interval.dropped += n;
    }

    pub fn record_check(&mut self, check: usize, passed: bool) {
        let c = &mut self.checks[check];
        if passed { c.0 += 1 } else { c.1 += 1 }
    }

    /// Hands over the current second's activity and starts the next one. Called by the
    /// worker's ticker once per second; the gauges are the worker's values at that moment.
    pub fn take_interval(&mut self, next_second: u64, vus: u64, connections: u64) -> Interval {
        let mut iv = std::mem::replace(&mut self.interval, Interval::new(next_second));
        iv.vus = vus;
        iv.connections = connections;
        iv
    }

    pub fn merge(&mut self, o: &Recorder) {
        let add = |a: &mut Micros, b: &Micros| a.add(b).expect("auto-resizing histograms merge");
        self.all.merge(&o.all);
        self.transport_failures += o.transport_failures;
        self.bytes_sent += o.bytes_sent;
        add(&mut self.connecting, &o.connecting);
        add(&mut self.tls, &o.tls);
        add(&mut self.sending, &o.sending);
        add(&mut self.waiting, &o.waiting);
        add(&mut self.receiving, &o.receiving);
        add(&mut self.raw, &o.raw);
        add(&mut self.lag, &o.lag);
        add(&mut self.iteration, &o.iteration);
        self.iterations += o.iterations;
        self.interrupted_iterations += o.interrupted_iterations;
        self.dropped += o.dropped;
        for (a, b) in self.endpoints.iter_mut().zip(&o.endpoints) {
            a.merge(b);
        }
        for (a, b) in self.scenarios.iter_mut().zip(&o.scenarios) {
            a.merge(b);
        }
        for (a, b) in self.flows.iter_mut().zip(&o.flows) {
            a.merge(b);
        }
        for (name, t) in &o.backends {
            match self.backends.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(t),
                None => self.backends.push((name.clone(), t.clone())),
            }
        }
        for (code, t) in &o.statuses {
            match self.statuses.iter_mut().find(|(c, _)| c == code) {
                Some((_, mine)) => mine.merge(t),
                None => self.statuses.push((*code, t.clone())),
            }
        }
        self.expected.merge(&o.expected);
        self.unexpected.merge(&o.unexpected);
        for (a, b) in self.checks.iter_mut().zip(&o.checks) {
            a.0 += b.0;
            a.1 += b.1;
        }
    }

    pub fn requests(&self) -> u64 {
        self.all.requests
    }

    /// Per-endpoint statistics in registration order; endpoints never hit are left out.
    pub fn endpoint_stats(&self, names: &Names, duration_s: f64) -> Vec<EndpointStats> {
        self.endpoints
            .iter()
            .zip(&names.endpoints)
            .filter(|(t, _)| t.requests > 0)
            .map(|(t, (method, name))| EndpointStats {
                name: name.clone(),
                method: method.clone(),
                requests: t.requests,
                failures: t.failures,
                bytes_received: t.bytes_received,
                latency: summary::latency(&t.duration),
                rps: per_s(t.requests, duration_s),
                failures_per_s: per_s(t.failures, duration_s),
                status_codes: status_map(&t.statuses),
                failure_kinds: kind_map(&t.failure_kinds),
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

    /// The requests matching a tag selector such as `name:predict`, `status:500`,
    /// `method:POST`, `scenario:shoppers`, `flow:index`, `instance:2` / `backend:…`.
    /// `None` when the tag is unknown (a plan error caught at validation).
    pub fn tagged(&self, names: &Names, tag: &str, value: &str) -> Option<Tagged> {
        let pick = |tags: &[Tagged], idx: Vec<usize>| {
            let mut out = Tagged::default();
            for i in idx {
                if let Some(t) = tags.get(i) {
                    out.merge(t);
                }
            }
            out
        };
        let positions = |list: &[String]| -> Vec<usize> {
            list.iter().enumerate().filter(|(_, n)| *n == value).map(|(i, _)| i).collect()
        };
        match tag {
            "name" | "url" => Some(pick(
                &self.endpoints,
                names
                    .endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, n))| n == value)
                    .map(|(i, _)| i)
                    .collect(),
            )),
            "method" => Some(pick(
                &self.endpoints,
                names
                    .endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, (m, _))| m.eq_ignore_ascii_case(value))
                    .map(|(i, _)| i)
                    .collect(),
            )),
            "scenario" => Some(pick(&self.scenarios, positions(&names.scenarios))),
            "flow" => Some(pick(&self.flows, positions(&names.flows))),
            "instance" | "backend" => {
                let mut out = Tagged::default();
                for (n, t) in &self.backends {
                    if n == value {
                        out.merge(t);
                    }
                }
                Some(out)
            }
            "status" => {
                let code: u16 = value.parse().ok()?;
                let mut out = Tagged::default();
                if let Some((_, t)) = self.statuses.iter().find(|(c, _)| *c == code) {
                    out.merge(t);
                }
                Some(out)
            }
            "expected_response" => match value {
                "true" => Some(self.expected.clone()),
                "false" => Some(self.unexpected.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// k6-shaped value of a metric (optionally a `metric{tag:value}` sub-metric) in this
    /// recorder. `None` for unknown metrics or tags.
    pub fn metric(&self, names: &Names, key: &str, duration_s: f64) -> Option<Metric> {
        let (base, selector) = match key.split_once('{') {
            Some((b, rest)) => (b.trim(), Some(rest.trim_end_matches('}'))),
            None => (key.trim(), None),
        };
        let tagged;
        let t = match selector {
            None => &self.all,
            Some(sel) => {
                let (tag, value) = sel.split_once(':')?;
                tagged = self.tagged(names, tag.trim(), value.trim())?;
                &tagged
            }
        };
        let whole = selector.is_none();
        Some(match base {
            "http_reqs" => summary::counter(t.requests, duration_s, "default"),
            "http_req_failed" => summary::rate(t.failures, t.requests - t.failures),
            "http_req_duration" => summary::trend(&t.duration),
            "http_req_connecting" if whole => summary::trend(&self.connecting),
            "http_req_tls_handshaking" if whole => summary::trend(&self.tls),
            "http_req_sending" if whole => summary::trend(&self.sending),
            "http_req_waiting" if whole => summary::trend(&self.waiting),
            "http_req_receiving" if whole => summary::trend(&self.receiving),
            "iteration_duration" if whole => summary::trend(&self.iteration),
            "iterations" if whole => summary::counter(self.iterations, duration_s, "default"),
            "dropped_iterations" if whole => summary::counter(self.dropped, duration_s, "default"),
            "data_received" => summary::counter(t.bytes_received, duration_s, "data"),
            "data_sent" if whole => summary::counter(self.bytes_sent, duration_s, "data"),
            "checks" if whole => {
                let (p, f) = self.checks.iter().fold((0, 0), |(p, f), c| (p + c.0, f + c.1));
                summary::rate(p, f)
            }
            _ => return None,
        })
    }
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
/// to a [`TimePoint`] and its histogram dropped, so memory stays flat in run length.
#[derive(Debug)]
pub struct TimeSeries {
    workers: usize,
    open: BTreeMap<u64, (usize, Interval)>,
    done: Vec<TimePoint>,
}

impl TimeSeries {
    pub fn new(workers: usize) -> Self {
        TimeSeries { workers, open: BTreeMap::new(), done: Vec::new() }
    }

    pub fn add(&mut self, iv: Interval) {
        let second = iv.second;
        let entry = self.open.entry(second).or_insert_with(|| (0, Interval::new(second)));
        entry.0 += 1;
        entry.1.merge(&iv);
        if entry.0 >= self.workers {
            let (_, iv) = self.open.remove(&second).expect("entry exists");
            self.done.push(point(&iv));
        }
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
            self.done.push(point(&iv));
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
        bytes_sent: iv.bytes_sent,
        vus: iv.vus,
        connections: iv.connections,
        latency: (iv.requests > 0).then(|| summary::latency(&iv.duration)),
        server: Vec::new(),
    }
}

/// Latency statistics of a whole recorder, for callers that only need the headline numbers.
pub fn headline(r: &Recorder) -> LatencyStats {
    summary::latency(&r.all.duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            endpoints: vec![("GET".into(), "/".into()), ("POST".into(), "predict".into())],
            scenarios: vec!["default".into()],
            flows: vec!["index".into(), "predict".into()],
            checks: vec![("status 200".into(), "predict".into())],
        }
    }

    fn sample(endpoint: usize, outcome: Outcome, ms: u64) -> Sample<'static> {
        Sample {
            endpoint,
            scenario: 0,
            flow: endpoint,
            outcome,
            duration_us: ms * 1000,
            raw_us: None,
            lag_us: None,
            connecting_us: 0,
            tls_us: 0,
            sending_us: 10,
            waiting_us: ms * 900,
            receiving_us: ms * 100,
            bytes_sent: 50,
            bytes_received: 100,
            backend: Some("a"),
        }
    }

    #[test]
    fn counts_add_up_after_merge() {
        let n = names();
        let mut a = Recorder::new(&n);
        let mut b = Recorder::new(&n);
        a.record(&sample(0, Outcome::Response { status: 200, expected: true }, 5));
        a.record(&sample(1, Outcome::Response { status: 500, expected: false }, 7));
        b.record(&sample(1, Outcome::Failure(FailureKind::Reset), 9));
        b.record_check(0, false);
        a.record_check(0, true);
        a.merge(&b);
        assert_eq!(a.requests(), 3);
        assert_eq!(a.all.failures, 2);
        assert_eq!(a.transport_failures, 1);
        let eps = a.endpoint_stats(&n, 1.0);
        assert_eq!(eps[1].requests, 2);
        assert_eq!(eps[1].failures, 2);
        assert_eq!(eps[1].failure_kinds["reset"], 1);
        let m = a.metric(&n, "http_reqs{name:predict}", 2.0).unwrap();
        assert_eq!(m.values["count"], 2.0);
        assert_eq!(m.values["rate"], 1.0);
        let f = a.metric(&n, "http_req_failed", 1.0).unwrap();
        assert!((f.values["rate"] - 2.0 / 3.0).abs() < 1e-9);
        let c = a.metric(&n, "checks", 1.0).unwrap();
        assert_eq!(c.values["rate"], 0.5);
        assert_eq!(a.metric(&n, "http_reqs{status:500}", 1.0).unwrap().values["count"], 1.0);
        let d500 = a.metric(&n, "http_req_duration{status:500}", 1.0).unwrap();
        assert_eq!(d500.values["count"], 1.0);
        assert!((d500.values["max"] - 7.0).abs() < 0.01, "{d500:?}");
        let ok = a.metric(&n, "http_req_duration{expected_response:true}", 1.0).unwrap();
        assert_eq!(ok.values["count"], 1.0);
        assert!((ok.values["max"] - 5.0).abs() < 0.01, "{ok:?}");
        let bad = a.metric(&n, "http_reqs{expected_response:false}", 1.0).unwrap();
        assert_eq!(bad.values["count"], 2.0);
        assert!(a.metric(&n, "nope", 1.0).is_none());
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
    }
}
