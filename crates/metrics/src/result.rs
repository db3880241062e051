//! The result file: one versioned JSON document per run.
//!
//! It is the only contract between a run and every later output (terminal summary, reports,
//! compare, scale sweeps). `metrics` and `root_group` have the shape of the data k6 hands to
//! `handleSummary` (`metrics.http_reqs.values.count`, `root_group.checks[]`), so k6 users'
//! tooling carries over; `volley report --format k6` writes k6's other shape, the
//! `--summary-export` file. Everything a report shows must be derivable from this document
//! alone; nothing here may refer to live state.
//!
//! Units: times in `metrics` are milliseconds (k6's convention); elsewhere a field's name says
//! its unit (`_ms`, `_s`, `_bytes`, `_pct`). Timestamps are RFC 3339 UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::catalogue::Contains;

/// Bumped whenever a field changes meaning or disappears (adding optional fields does not).
pub const SCHEMA_VERSION: u32 = 1;

/// One run of volley: quick mode or a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub schema_version: u32,
    pub volley_version: String,
    pub config: RunConfig,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC.
    pub ended_at: String,
    /// Wall time from the first request scheduled to the last one finished, in seconds.
    pub duration_s: f64,
    /// True when the run was cut short by Ctrl-C / SIGTERM.
    pub interrupted: bool,
    /// Set when a threshold with `abortOnFail` stopped the run: the threshold's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_by: Option<String>,
    pub machine: Machine,
    pub totals: Totals,
    /// Metrics in the shape of k6's `handleSummary` data, keyed by metric name, including
    /// `http_req_duration{expected_response:true}` and the sub-metrics thresholds name
    /// (`http_req_duration{name:predict,method:GET}`, keyed as k6 keys them).
    pub metrics: BTreeMap<String, Metric>,
    /// The checks as k6's `handleSummary` data has them (checks of the same name merged).
    #[serde(default)]
    pub root_group: Group,
    /// Transport failures by kind (`refused`, `reset`, `closed`, `timeout`, `tls`, `dns`,
    /// `malformed`, `other`); kinds that never happened are absent.
    pub failures: BTreeMap<String, u64>,
    /// Responses by status code (`"200"`, `"503"`).
    pub status_codes: BTreeMap<String, u64>,
    /// Per-endpoint statistics, one entry per (method, name), in first-seen order.
    pub endpoints: Vec<EndpointStats>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// One entry per second of the run, starting at t = 0.
    pub timeseries: Vec<TimePoint>,
    /// Present for open-model runs (arrival rate): schedule keeping and uncorrected latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_model: Option<OpenModel>,
    /// CPU and memory of the processes under test and of volley itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerObservation>,
    /// Tallies per value of `--backend-header` (which instance served the request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendStats>,
    /// Responses by the HTTP version they came by (`HTTP/1.1`, `HTTP/2`): `--http2` falls back
    /// to HTTP/1.1 when the server does not pick h2. Versions that carried nothing are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocols: BTreeMap<String, u64>,
    /// Serialized HDR histograms (V2 + DEFLATE, base64), in microseconds, keyed by metric name
    /// (`http_req_duration`, `http_req_waiting`, `http_req_duration{name:index}` ...), so that
    /// results can be merged and re-rendered exactly.
    pub histograms: BTreeMap<String, String>,
}

/// What was asked for. Enough to rerun the test and to label it in a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunConfig {
    /// `quick` or `plan`.
    pub mode: String,
    /// Quick mode's URL, or the plan's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Concurrency (quick mode) or the largest number of VUs any scenario may use (plan).
    pub concurrency: u64,
    /// HTTP/2 streams per connection (quick mode's `-p`), when more than 1: `concurrency`
    /// VUs then share `concurrency / streams` connections, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    pub timeout_s: f64,
    /// The statuses that count as a success (`[[200, 399]]` unless the plan says otherwise).
    #[serde(default)]
    pub expected_statuses: StatusSet,
    pub keepalive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Scenario names and their executors (plan mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<ScenarioConfig>,
    /// A free-form label (compare uses it when `--labels` is not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The command line that produced this result.
    #[serde(default)]
    pub command_line: Vec<String>,
    /// The share of the test this run was (`--execution-segment`, k6's syntax: `1/4:1/2`);
    /// absent for a whole run. A merged result has the union of its shards' segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_segment: Option<String>,
    /// The sequence the segment belongs to (`--execution-segment-sequence`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_segment_sequence: Option<String>,
    /// Fingerprint of the test that ran (the validated plan or quick-mode flags, whatever the
    /// segment): `volley merge` refuses results of different tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_fingerprint: Option<String>,
    /// `volley merge`: the segments of the results merged into this one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_segments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ScenarioConfig {
    pub name: String,
    pub executor: String,
    /// One line describing the schedule, as k6 prints it.
    pub description: String,
}

/// The machine that generated the load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Machine {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: u32,
    #[serde(default)]
    pub memory_bytes: u64,
    /// Worker threads volley used.
    pub threads: u32,
}

/// Counters for the whole run.
///
/// Invariants (checked by [`Totals::check`]):
/// `requests = responses + transport_failures` and `requests = succeeded + failed`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Totals {
    /// Requests that were started (sent or attempted).
    pub requests: u64,
    /// Requests that received a complete HTTP response, whatever its status.
    pub responses: u64,
    /// Requests that got no complete response (see `failures` for kinds).
    pub transport_failures: u64,
    /// Responses with an expected status (`config.expected_statuses`; 200–399 by default, as
    /// k6).
    pub succeeded: u64,
    /// Transport failures plus responses with an unexpected status.
    pub failed: u64,
    /// Open model: requests that could not start on time because every VU was busy.
    pub dropped: u64,
    pub iterations: u64,
    /// Iterations cut off at the end of the run (graceful stop expired, Ctrl-C).
    pub interrupted_iterations: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Largest number of connections open at once.
    pub max_connections: u64,
    /// Requests sent a second time on a fresh connection because a reused one closed before
    /// any byte of the response arrived (each counted once in `requests`).
    #[serde(default)]
    pub retries: u64,
}

impl Totals {
    /// The accounting invariants; `Err` names the one that does not hold.
    pub fn check(&self) -> Result<(), String> {
        if Some(self.requests) != self.responses.checked_add(self.transport_failures) {
            return Err(format!(
                "requests {} != responses {} + transport failures {}",
                self.requests, self.responses, self.transport_failures
            ));
        }
        if Some(self.requests) != self.succeeded.checked_add(self.failed) {
            return Err(format!(
                "requests {} != succeeded {} + failed {}",
                self.requests, self.succeeded, self.failed
            ));
        }
        Ok(())
    }

    /// Fraction of requests that failed (k6's `http_req_failed` rate).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failed as f64 / self.requests as f64 }
    }
}

/// One metric in k6's summary shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    /// `counter`, `gauge`, `rate` or `trend`.
    #[serde(rename = "type")]
    pub kind: MetricKind,
    /// `time`, `data` or `default`.
    pub contains: Contains,
    /// Trend: `avg`, `min`, `med`, `max`, `p(90)`, `p(95)`, `p(99)`, `p(99.9)` (ms for time),
    /// `count`, and any other `p(N)` a threshold names. Counter: `count`, `rate` (per
    /// second). Rate: `rate`, `passes`, `fails`. Gauge: `value`, `min`, `max`. Whole numbers
    /// are written as integers (`"count": 807`), as k6 writes them.
    #[serde(serialize_with = "whole_numbers")]
    pub values: BTreeMap<String, f64>,
    /// Threshold expression → outcome, as in k6's summary export.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, ThresholdOutcome>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdOutcome {
    pub ok: bool,
}

/// Writes a whole number as an integer (JSON has one number type; k6, written in Go, prints
/// `807`, and jq users compare with `== 807`).
fn whole_numbers<S: Serializer>(values: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(values.len()))?;
    for (k, v) in values {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            m.serialize_entry(k, &(*v as i64))?;
        } else {
            m.serialize_entry(k, v)?;
        }
    }
    m.end()
}

/// A set of HTTP statuses, as inclusive ranges: which responses count as a success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 399)])
    }
}

impl StatusSet {
    #[inline]
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

/// A k6 group with its checks (`handleSummary`'s shape: lists). volley has one group, the
/// root: k6 puts checks made outside any `group()` there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub path: String,
    /// As k6: the MD5 of `path`, in hex.
    pub id: String,
    pub groups: Vec<Group>,
    pub checks: Vec<GroupCheck>,
}

impl Default for Group {
    fn default() -> Self {
        Group::root(Vec::new())
    }
}

impl Group {
    /// The root group holding these checks, merged by name as k6 merges them.
    pub fn root(checks: Vec<CheckResult>) -> Group {
        let mut merged: Vec<GroupCheck> = Vec::new();
        for c in checks {
            match merged.iter_mut().find(|m| m.name == c.name) {
                Some(m) => {
                    m.passes += c.passes;
                    m.fails += c.fails;
                }
                None => {
                    let path = format!("::{}", c.name);
                    merged.push(GroupCheck {
                        id: md5_hex(&path),
                        path,
                        name: c.name,
                        passes: c.passes,
                        fails: c.fails,
                    })
                }
            }
        }
        Group {
            name: String::new(),
            path: String::new(),
            id: md5_hex(""),
            groups: vec![],
            checks: merged,
        }
    }
}

/// One check in a group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupCheck {
    pub name: String,
    /// `::name` for a check of the root group.
    pub path: String,
    pub id: String,
    pub passes: u64,
    pub fails: u64,
}

/// The fingerprint of a test's canonical text (`config.plan_fingerprint`): MD5, in hex. Not a
/// security measure: it tells results of different tests apart.
pub fn fingerprint(text: &str) -> String {
    md5_hex(text)
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LatencyStats {
    pub count: u64,
    pub avg: f64,
    pub min: f64,
    pub med: f64,
    pub max: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Statistics for one endpoint (Locust's "Name" column: a step's `name`, or the path).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct EndpointStats {
    pub name: String,
    pub method: String,
    pub requests: u64,
    /// Transport failures plus unexpected statuses.
    pub failures: u64,
    /// Everything read: status lines, headers and bodies.
    pub bytes_received: u64,
    /// Response bodies only (Locust's content size).
    #[serde(default)]
    pub body_bytes: u64,
    pub latency: LatencyStats,
    /// `requests / run duration`.
    pub rps: f64,
    pub failures_per_s: f64,
    pub status_codes: BTreeMap<String, u64>,
    #[serde(default)]
    pub failure_kinds: BTreeMap<String, u64>,
    /// When each cause of failure was first and last seen, keyed as `status_codes` (an
    /// unexpected status) and `failure_kinds` (a transport kind) are: Locust's `First Seen` and
    /// `Last Seen`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures_seen: BTreeMap<String, FailureSeen>,
}

/// The first and last time a cause of failure was seen, in seconds from the start of the run
/// (`started_at`), to the millisecond.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct FailureSeen {
    pub first_s: f64,
    pub last_s: f64,
}

/// A named check (`status 200`) and how often it passed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CheckResult {
    pub name: String,
    /// The step (endpoint name) the check belongs to.
    #[serde(default)]
    pub step: String,
    pub passes: u64,
    pub fails: u64,
}

/// One threshold expression on one metric and its outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ThresholdResult {
    /// Metric key, possibly with a tag selector: `http_req_duration{name:predict}`.
    pub metric: String,
    /// As written: `p(95)<500`.
    pub expression: String,
    pub ok: bool,
    /// The aggregate the expression was evaluated on, in the metric's unit (ms for times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    #[serde(default)]
    pub abort_on_fail: bool,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TimePoint {
    /// Seconds since the start of the run (start of this one-second window).
    pub t: u64,
    /// Requests completed in this second (responses + transport failures).
    pub requests: u64,
    /// Of which failed (transport failures + unexpected statuses).
    pub failures: u64,
    /// Of which transport failures.
    pub transport_failures: u64,
    pub dropped: u64,
    pub bytes_received: u64,
    /// Of which response bodies.
    #[serde(default)]
    pub body_bytes: u64,
    pub bytes_sent: u64,
    /// Most VUs active during the second (a sample at the boundary would miss VUs that stop
    /// exactly on it).
    pub vus: u64,
    /// Open connections at the end of the second.
    pub connections: u64,
    /// Latency of the requests completed in this second, ms; absent when none completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyStats>,
    /// Percentiles of every request completed from the start of the run to the end of this
    /// second, ms, keyed `p(50)` … `p(100)` (the ladder of [`crate::summary::LADDER`]); empty
    /// until a request completed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cumulative_percentiles: BTreeMap<std::borrow::Cow<'static, str>, f64>,
    /// Server-side samples taken in this second, one per watched instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<ResourceSample>,
}

/// Open-model (arrival-rate) facts: did volley keep the schedule?
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OpenModel {
    pub target_rps: f64,
    /// Requests started per second of the run.
    pub achieved_rps: f64,
    pub dropped: u64,
    /// Share of the run volley's worker threads were busy (their event loops not idle), 0..=1.
    #[serde(default)]
    pub generator_busy: f64,
    /// The schedule asked for more than this machine could start: arrivals were dropped or
    /// the achieved rate fell short while the worker threads had no idle time left. The
    /// generator, not the server, set the limit.
    #[serde(default)]
    pub generator_limited: bool,
    /// Latency measured from the actual send (what a closed-loop tool would report), ms.
    /// `metrics.http_req_duration` is measured from the intended start and is the truthful one.
    pub raw_latency: LatencyStats,
    /// How late requests started relative to their intended time, ms.
    pub schedule_lag: LatencyStats,
}

/// CPU and memory observed during the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServerObservation {
    /// One entry per watched process, process group or cgroup (an instance under test).
    pub instances: Vec<InstanceUsage>,
    /// volley's own process: when it is saturated the measurements are suspect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<InstanceUsage>,
    /// The built-in balancer of `volley cluster`/`scale`, when it was in the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<InstanceUsage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct InstanceUsage {
    /// `instance 1`, `pid 4242`, a cgroup path ...
    pub label: String,
    #[serde(default)]
    pub pids: Vec<u32>,
    /// 100 = one core fully busy.
    pub cpu_pct_avg: f64,
    pub cpu_pct_max: f64,
    pub mem_bytes_avg: f64,
    pub mem_bytes_max: u64,
    /// Restarts by the supervisor during the run (cluster/scale only).
    #[serde(default)]
    pub restarts: u64,
    pub samples: Vec<ResourceSample>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResourceSample {
    /// Seconds since the start of the run.
    pub t: f64,
    /// Which instance (its `label`), for samples embedded in a [`TimePoint`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub cpu_pct: f64,
    pub mem_bytes: u64,
}

/// Requests tallied by the value of the backend header (which instance answered).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BackendStats {
    /// The header's value; `(none)` for responses without it and for transport failures.
    pub backend: String,
    pub requests: u64,
    pub failures: u64,
    pub latency: LatencyStats,
}
