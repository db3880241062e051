//! The exact merge of shard results (`volley merge`): the results of the execution segments of
//! one test, run by separate generators, become the one result a single generator would have
//! written.
//!
//! Exact where the data allows it: counters add; every trend with a serialized histogram
//! (every metric and sub-metric) is recomputed through [`crate::summary`] from the merged
//! histograms, so percentiles are those of all samples, never averages of percentiles; rates
//! add their passes and fails; checks add; thresholds are judged by the run's own evaluation
//! ([`threshold::evaluate`]) fed the merged measurements (a threshold crossed only in aggregate
//! is caught). The time series is aligned by wall-clock
//! second (each shard's `started_at`); a second's counts add, its VUs add, and its latency keeps
//! count, min, max and mean exactly while its percentiles are the highest shard's (a second's
//! histogram is not kept in the file). Server samples keep their generator's host in the label.
//!
//! Refused ([`MergeError`]): results of different tests (`config.plan_fingerprint`), segments
//! that overlap (the same share run twice would count it twice) and segments with a gap between
//! them (a shard is missing). Contiguous segments short of the whole test merge into their
//! union (merging in stages works).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::histogram::{self, Micros};
use crate::recorder::{GaugeValue, Gauges, Source};
use crate::result::*;
use crate::segment::{Fraction, Segment};
use crate::selector::MetricKey;
use crate::summary;
use crate::threshold::{self, Measurements};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge (hint: give the result files of every shard)")]
    Empty,
    #[error(
        "{a} and {b} are results of different tests (their plan fingerprints differ) \
         (hint: merge the shards of one run of one plan)"
    )]
    DifferentTests { a: String, b: String },
    #[error(
        "{0} has no plan fingerprint (written by an older volley): cannot tell whether it ran \
         the same test"
    )]
    NoFingerprint(String),
    #[error(
        "{a} (segment {sa}) and {b} (segment {sb}) overlap: their share would be counted twice \
         (hint: each shard runs its own --execution-segment)"
    )]
    Overlap { a: String, sa: String, b: String, sb: String },
    #[error(
        "{a} (segment {sa}) and {b} (segment {sb}) leave a gap: segment {missing} is missing \
         (hint: give the result of the shard that ran {missing})"
    )]
    Gap { a: String, sa: String, b: String, sb: String, missing: String },
    #[error("{name}: {what}")]
    Bad { name: String, what: String },
}

/// Whether the segments (as `config.merged_segments` lists them) cover the whole test.
pub fn covers_all(segments: &[String]) -> bool {
    let mut s: Vec<Segment> = segments.iter().filter_map(|x| Segment::parse(x).ok()).collect();
    s.sort_by_key(|x| x.from);
    s.len() == segments.len()
        && s.first().is_some_and(|x| x.from == Fraction::ZERO)
        && s.last().is_some_and(|x| x.to == Fraction::ONE)
        && s.windows(2).all(|w| w[0].to == w[1].from)
}

/// Merges `results` (named for messages, e.g. by their paths) into one.
pub fn merge(results: &[(String, RunResult)]) -> Result<RunResult, MergeError> {
    let (first_name, first) = results.first().ok_or(MergeError::Empty)?;
    let bad = |name: &str, what: String| MergeError::Bad { name: name.to_string(), what };
    let mut segments = Vec::new();
    for (name, r) in results {
        let fp = r.config.plan_fingerprint.as_ref();
        let fp = fp.ok_or_else(|| MergeError::NoFingerprint(name.clone()))?;
        if Some(fp) != first.config.plan_fingerprint.as_ref() {
            return Err(MergeError::DifferentTests { a: first_name.clone(), b: name.clone() });
        }
        let seg = match &r.config.execution_segment {
            Some(s) => Segment::parse(s).map_err(|e| bad(name, e.to_string()))?,
            None => Segment::FULL,
        };
        for (other, s) in &segments {
            let s: &Segment = s;
            if s.overlaps(&seg) {
                return Err(MergeError::Overlap {
                    a: String::clone(other),
                    sa: s.to_string(),
                    b: name.clone(),
                    sb: seg.to_string(),
                });
            }
        }
        segments.push((name.clone(), seg));
    }

    // The segments side by side: a gap would make the union no segment at all (and a
    // threshold on it meaningless), so the missing shard is named.
    segments.sort_by_key(|(_, s)| s.from);
    for w in segments.windows(2) {
        let ((a, sa), (b, sb)) = (&w[0], &w[1]);
        if sa.to != sb.from {
            return Err(MergeError::Gap {
                a: a.clone(),
                sa: sa.to_string(),
                b: b.clone(),
                sb: sb.to_string(),
                missing: Segment { from: sa.to, to: sb.from }.to_string(),
            });
        }
    }

    // The merged run spans every shard: from the first start to the last end.
    let starts: Vec<SystemTime> = results
        .iter()
        .map(|(n, r)| time(&r.started_at).ok_or_else(|| bad(n, "bad `started_at`".into())))
        .collect::<Result<_, _>>()?;
    let mut end = SystemTime::UNIX_EPOCH;
    for (n, r) in results {
        let e = time(&r.ended_at).ok_or_else(|| bad(n, "bad `ended_at`".into()))?;
        end = end.max(e);
    }
    let start = *starts.iter().min().expect("one result at least");
    let duration_s = end.duration_since(start).unwrap_or(Duration::ZERO).as_secs_f64();
    let duration_s = results.iter().map(|(_, r)| r.duration_s).fold(duration_s, f64::max);

    // Histograms: every key any shard has.
    let mut hists: BTreeMap<String, Micros> = BTreeMap::new();
    for (n, r) in results {
        for (k, enc) in &r.histograms {
            let h = histogram::decode(enc).map_err(|e| bad(n, format!("histograms.{k}: {e}")))?;
            match hists.get_mut(k) {
                Some(m) => m.add(&h).map_err(|e| bad(n, format!("histograms.{k}: {e:?}")))?,
                None => {
                    hists.insert(k.clone(), h);
                }
            }
        }
    }

    let mut out = first.clone();
    out.duration_s = duration_s;
    out.started_at = humantime::format_rfc3339_millis(start).to_string();
    out.ended_at = humantime::format_rfc3339_millis(end).to_string();
    out.interrupted = results.iter().any(|(_, r)| r.interrupted);
    out.aborted_by = results.iter().find_map(|(_, r)| r.aborted_by.clone());
    out.histograms = hists.iter().map(|(k, h)| (k.clone(), histogram::encode(h))).collect();

    // Configuration: the union of the segments.
    out.config.merged_segments = segments.iter().map(|(_, s)| s.to_string()).collect();
    let (from, to) = (segments[0].1.from, segments[segments.len() - 1].1.to);
    out.config.execution_segment =
        (from != Fraction::ZERO || to != Fraction::ONE).then(|| Segment { from, to }.to_string());
    out.config.execution_segment_sequence = None;

    // Machine: the generators together.
    let mut hosts: Vec<String> = Vec::new();
    for (_, r) in results {
        if !hosts.contains(&r.machine.hostname) {
            hosts.push(r.machine.hostname.clone());
        }
    }
    out.machine.hostname = hosts.join(",");
    out.machine.cpus = results.iter().map(|(_, r)| r.machine.cpus).sum();
    out.machine.threads = results.iter().map(|(_, r)| r.machine.threads).sum();
    out.machine.memory_bytes = results.iter().map(|(_, r)| r.machine.memory_bytes).sum();

    // Totals.
    let t = &mut out.totals;
    *t = Totals::default();
    for (_, r) in results {
        let o = &r.totals;
        t.requests += o.requests;
        t.responses += o.responses;
        t.transport_failures += o.transport_failures;
        t.succeeded += o.succeeded;
        t.failed += o.failed;
        t.dropped += o.dropped;
        t.iterations += o.iterations;
        t.interrupted_iterations += o.interrupted_iterations;
        t.bytes_sent += o.bytes_sent;
        t.bytes_received += o.bytes_received;
        t.max_connections += o.max_connections;
    }
    t.rps = per_s(t.requests, duration_s);
    out.failures = add_maps(results.iter().map(|(_, r)| &r.failures));
    out.status_codes = add_maps(results.iter().map(|(_, r)| &r.status_codes));

    // Time series, aligned by wall-clock second.
    let mut points: BTreeMap<u64, TimePoint> = BTreeMap::new();
    for ((_, r), s) in results.iter().zip(&starts) {
        let shift = s.duration_since(start).unwrap_or(Duration::ZERO).as_secs_f64().round() as u64;
        let host = &r.machine.hostname;
        for p in &r.timeseries {
            let t = p.t + shift;
            let m = points.entry(t).or_insert_with(|| TimePoint { t, ..TimePoint::default() });
            m.requests += p.requests;
            m.failures += p.failures;
            m.transport_failures += p.transport_failures;
            m.dropped += p.dropped;
            m.bytes_received += p.bytes_received;
            m.body_bytes += p.body_bytes;
            m.bytes_sent += p.bytes_sent;
            m.vus += p.vus;
            m.connections += p.connections;
            m.latency = match (m.latency.take(), &p.latency) {
                (None, l) => l.clone(),
                (l, None) => l,
                (Some(a), Some(b)) => Some(add_second(&a, b)),
            };
            for (k, v) in &p.cumulative_percentiles {
                let e = m.cumulative_percentiles.entry(k.clone()).or_insert(*v);
                *e = e.max(*v);
            }
            for s in &p.server {
                let mut s = s.clone();
                s.t += shift as f64;
                s.label = with_host(host, &s.label, results.len());
                m.server.push(s);
            }
        }
    }
    out.timeseries = points.into_values().collect();

    // Metrics: recomputed from what adds up.
    let vus: Vec<u64> = out.timeseries.iter().map(|p| p.vus).collect();
    let mut metrics: BTreeMap<String, Metric> = BTreeMap::new();
    for (_, r) in results {
        for (k, m) in &r.metrics {
            match metrics.get_mut(k) {
                None => {
                    metrics.insert(k.clone(), m.clone());
                }
                Some(acc) => {
                    for (vk, v) in &m.values {
                        let e = acc.values.entry(vk.clone()).or_insert(0.0);
                        match (acc.kind, vk.as_str()) {
                            (MetricKind::Trend, "min") => *e = e.min(*v),
                            (MetricKind::Trend, "max") => *e = e.max(*v),
                            (MetricKind::Trend, _) => *e = e.max(*v),
                            _ => *e += v,
                        }
                    }
                }
            }
        }
    }
    for (k, m) in metrics.iter_mut() {
        m.thresholds.clear();
        match m.kind {
            MetricKind::Trend => {
                if let Some(h) = hists.get(k) {
                    let extra: Vec<String> = m.values.keys().cloned().collect();
                    let mut fresh = summary::trend(h);
                    for key in &extra {
                        if fresh.values.contains_key(key) {
                            continue;
                        }
                        if let Some(p) = percentile(key) {
                            fresh.values.insert(key.clone(), summary::percentile_ms(h, p));
                        }
                    }
                    m.values = fresh.values;
                }
            }
            MetricKind::Counter => {
                let count = m.values.get("count").copied().unwrap_or(0.0);
                m.values
                    .insert("rate".into(), if duration_s > 0.0 { count / duration_s } else { 0.0 });
            }
            MetricKind::Rate => {
                let p = m.values.get("passes").copied().unwrap_or(0.0);
                let f = m.values.get("fails").copied().unwrap_or(0.0);
                m.values.insert("rate".into(), if p + f > 0.0 { p / (p + f) } else { 0.0 });
            }
            MetricKind::Gauge if k == "vus" && !vus.is_empty() => {
                // The VUs of the shards in the same second add up.
                let g = summary::gauge(
                    *vus.last().unwrap_or(&0) as f64,
                    *vus.iter().min().unwrap_or(&0) as f64,
                    *vus.iter().max().unwrap_or(&0) as f64,
                );
                m.values = g.values;
            }
            MetricKind::Gauge => {}
        }
    }
    out.metrics = metrics;

    // Endpoints by (method, name), backends by value, checks by (name, step).
    let mut endpoints: Vec<EndpointStats> = Vec::new();
    for ((_, r), s) in results.iter().zip(&starts) {
        // Failure times count from the merged run's start.
        let shift = s.duration_since(start).unwrap_or(Duration::ZERO).as_secs_f64();
        for e in &r.endpoints {
            let mut e = e.clone();
            for seen in e.failures_seen.values_mut() {
                seen.first_s = ((seen.first_s + shift) * 1000.0).round() / 1000.0;
                seen.last_s = ((seen.last_s + shift) * 1000.0).round() / 1000.0;
            }
            let e = &e;
            match endpoints.iter_mut().find(|x| x.method == e.method && x.name == e.name) {
                Some(x) => {
                    for (k, seen) in &e.failures_seen {
                        let m = x.failures_seen.entry(k.clone()).or_insert(*seen);
                        m.first_s = m.first_s.min(seen.first_s);
                        m.last_s = m.last_s.max(seen.last_s);
                    }
                    x.requests += e.requests;
                    x.failures += e.failures;
                    x.bytes_received += e.bytes_received;
                    x.body_bytes += e.body_bytes;
                    x.latency = add_second(&x.latency, &e.latency);
                    x.status_codes = add_maps([&x.status_codes, &e.status_codes]);
                    x.failure_kinds = add_maps([&x.failure_kinds, &e.failure_kinds]);
                }
                None => endpoints.push(e.clone()),
            }
        }
    }
    for e in &mut endpoints {
        if let Some(h) = hists.get(&format!("http_req_duration{{name:{}}}", e.name)) {
            // Exact when the name is one endpoint (one method), as it usually is.
            if h.len() == e.requests {
                e.latency = summary::latency(h);
            }
        }
        e.rps = per_s(e.requests, duration_s);
        e.failures_per_s = per_s(e.failures, duration_s);
    }
    out.endpoints = endpoints;
    let mut backends: Vec<BackendStats> = Vec::new();
    for (_, r) in results {
        for b in &r.backends {
            match backends.iter_mut().find(|x| x.backend == b.backend) {
                Some(x) => {
                    x.requests += b.requests;
                    x.failures += b.failures;
                    x.latency = add_second(&x.latency, &b.latency);
                }
                None => backends.push(b.clone()),
            }
        }
    }
    out.backends = backends;
    // Responses by protocol add up like every other count.
    out.protocols = BTreeMap::new();
    for (_, r) in results {
        for (p, n) in &r.protocols {
            *out.protocols.entry(p.clone()).or_insert(0) += n;
        }
    }
    let mut checks: Vec<CheckResult> = Vec::new();
    for (_, r) in results {
        for c in &r.checks {
            match checks.iter_mut().find(|x| x.name == c.name && x.step == c.step) {
                Some(x) => {
                    x.passes += c.passes;
                    x.fails += c.fails;
                }
                None => checks.push(c.clone()),
            }
        }
    }
    out.checks = checks.clone();
    out.root_group = Group::root(checks);

    // Open model.
    let opens: Vec<&OpenModel> =
        results.iter().filter_map(|(_, r)| r.open_model.as_ref()).collect();
    out.open_model = (!opens.is_empty()).then(|| OpenModel {
        // Every shard records its share of the plan's rate: theirs add up to the union's.
        target_rps: opens.iter().map(|o| o.target_rps).sum(),
        achieved_rps: per_s(out.totals.requests, duration_s),
        dropped: opens.iter().map(|o| o.dropped).sum(),
        generator_busy: opens.iter().map(|o| o.generator_busy).fold(0.0, f64::max),
        generator_limited: opens.iter().any(|o| o.generator_limited),
        raw_latency: hists.get("http_req_duration_raw").map(summary::latency).unwrap_or_default(),
        schedule_lag: hists.get("schedule_lag").map(summary::latency).unwrap_or_default(),
    });

    // Server observation: every shard's instances, labelled with its host.
    let servers: Vec<(&str, &ServerObservation)> = results
        .iter()
        .filter_map(|(_, r)| r.server.as_ref().map(|s| (r.machine.hostname.as_str(), s)))
        .collect();
    out.server = (!servers.is_empty()).then(|| {
        let n = results.len();
        let label = |host: &str, u: &InstanceUsage| {
            let mut u = u.clone();
            u.label = with_host(host, &u.label, n);
            u
        };
        ServerObservation {
            instances: servers
                .iter()
                .flat_map(|(h, s)| s.instances.iter().map(|u| label(h, u)))
                .collect(),
            generator: servers.iter().find_map(|(h, s)| s.generator.as_ref().map(|u| label(h, u))),
            balancer: servers.iter().find_map(|(h, s)| s.balancer.as_ref().map(|u| label(h, u))),
        }
    });

    // Thresholds: the run's own evaluation, fed the merged measurements.
    let thresholds = threshold::from_verdicts(&first.thresholds)
        .map_err(|e| bad(first_name, format!("thresholds: {e}")))?;
    let gauges = Gauges {
        vus: gauge_value(out.metrics.get("vus")),
        vus_max: gauge_value(out.metrics.get("vus_max")),
    };
    let view = Merged { metrics: &out.metrics, hists: &hists };
    let verdicts = threshold::evaluate(&thresholds, &view, duration_s, &gauges);
    threshold::annotate(&mut out.metrics, &thresholds, &verdicts);
    out.thresholds = verdicts;
    Ok(out)
}

/// The merged measurements, as thresholds read them: trends from the merged histograms,
/// counters and rates from the added counts, gauges from the merged gauge values.
struct Merged<'a> {
    metrics: &'a BTreeMap<String, Metric>,
    hists: &'a BTreeMap<String, Micros>,
}

impl Measurements for Merged<'_> {
    fn source(&self, key: &MetricKey, g: &Gauges) -> Option<Source<'_>> {
        let name = key.to_string();
        match key.metric.name {
            "vus" => return Some(Source::Gauge(g.vus)),
            "vus_max" => return Some(Source::Gauge(g.vus_max)),
            _ => {}
        }
        let m = self.metrics.get(&name);
        let value = |k: &str| m.and_then(|m| m.values.get(k)).copied();
        // Counts were added as f64 from u64 values: they are whole numbers.
        let count = |k: &str| value(k).map(|v| v as u64);
        Some(match key.metric.kind {
            MetricKind::Trend => Source::Trend(self.hists.get(&name)?),
            MetricKind::Counter => Source::Counter(count("count")?),
            MetricKind::Rate => Source::Rate(count("passes")?, count("fails")?),
            MetricKind::Gauge => Source::Gauge(gauge_value(m)),
        })
    }
}

fn gauge_value(m: Option<&Metric>) -> GaugeValue {
    let v = |k: &str| m.and_then(|m| m.values.get(k)).copied().unwrap_or(0.0);
    GaugeValue { value: v("value"), min: v("min"), max: v("max") }
}

fn time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()
}

fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn percentile(key: &str) -> Option<f64> {
    key.strip_prefix("p(")?.strip_suffix(')')?.parse().ok()
}

fn add_maps<'a>(
    maps: impl IntoIterator<Item = &'a BTreeMap<String, u64>>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in maps {
        for (k, v) in m {
            *out.entry(k.clone()).or_insert(0) += v;
        }
    }
    out
}

/// Two latency summaries together: count, min, max and mean exact; percentiles the higher of
/// the two (used only where no histogram was kept).
fn add_second(a: &LatencyStats, b: &LatencyStats) -> LatencyStats {
    if a.count == 0 {
        return b.clone();
    }
    if b.count == 0 {
        return a.clone();
    }
    let n = a.count + b.count;
    LatencyStats {
        count: n,
        avg: (a.avg * a.count as f64 + b.avg * b.count as f64) / n as f64,
        min: a.min.min(b.min),
        max: a.max.max(b.max),
        med: a.med.max(b.med),
        p90: a.p90.max(b.p90),
        p95: a.p95.max(b.p95),
        p99: a.p99.max(b.p99),
        p999: a.p999.max(b.p999),
    }
}

fn with_host(host: &str, label: &str, shards: usize) -> String {
    if shards > 1 && !host.is_empty() { format!("{host}: {label}") } else { label.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Recorder;

    /// A shard's result as a run writes it: `n` requests of `ms` milliseconds, its
    /// thresholds judged by the one evaluation on its own recorder-like measurements.
    fn shard(segment: &str, n: u64, ms: u64, thresholds: &[(&str, &str)]) -> (String, RunResult) {
        let mut h = histogram::new();
        h.record_n(ms * 1000, n).unwrap();
        let mut metrics = BTreeMap::new();
        metrics
            .insert("http_reqs".to_string(), summary::counter(n, 10.0, crate::Contains::Default));
        metrics.insert("http_req_duration".to_string(), summary::trend(&h));
        metrics.insert("http_req_failed".to_string(), summary::rate(0, n));
        let hists = BTreeMap::from([("http_req_duration".to_string(), h.clone())]);
        let verdicts: Vec<ThresholdResult> = thresholds
            .iter()
            .map(|(m, e)| ThresholdResult {
                metric: m.to_string(),
                expression: e.to_string(),
                ok: true,
                observed: None,
                abort_on_fail: false,
            })
            .collect();
        let ts = threshold::from_verdicts(&verdicts).unwrap();
        let view = Merged { metrics: &metrics, hists: &hists };
        let verdicts = threshold::evaluate(&ts, &view, 10.0, &Gauges::default());
        let r = RunResult {
            schema_version: SCHEMA_VERSION,
            volley_version: "test".into(),
            config: RunConfig {
                execution_segment: Some(segment.into()),
                plan_fingerprint: Some("f".into()),
                ..RunConfig::default()
            },
            started_at: "2026-12-02T04:00:00.000Z".into(),
            ended_at: "2026-12-02T04:00:10.000Z".into(),
            duration_s: 10.0,
            interrupted: false,
            aborted_by: None,
            machine: Machine { hostname: format!("gen{segment}"), ..Machine::default() },
            totals: Totals { requests: n, responses: n, succeeded: n, ..Totals::default() },
            metrics,
            root_group: Group::default(),
            failures: BTreeMap::new(),
            status_codes: BTreeMap::from([("200".to_string(), n)]),
            endpoints: vec![],
            checks: vec![],
            thresholds: verdicts,
            timeseries: vec![],
            open_model: None,
            server: None,
            backends: vec![],
            protocols: Default::default(),
            histograms: hists.iter().map(|(k, h)| (k.clone(), histogram::encode(h))).collect(),
        };
        (format!("{segment}.json"), r)
    }

    #[test]
    fn thresholds_are_judged_on_the_merged_measurements() {
        let th = [("http_reqs", "count<150"), ("http_req_duration", "p(99)<30")];
        let a = shard("0:1/2", 100, 10, &th);
        let b = shard("1/2:1", 100, 50, &th);
        // Each shard alone: 100 requests, p(99) of 10 or 50 ms.
        assert!(a.1.thresholds.iter().all(|t| t.ok));
        let m = merge(&[a, b]).unwrap();
        assert_eq!(m.totals.requests, 200);
        assert_eq!(m.config.execution_segment, None);
        let count = &m.thresholds[0];
        assert_eq!((count.observed, count.ok), (Some(200.0), false));
        let p99 = &m.thresholds[1];
        assert!(!p99.ok && p99.observed.unwrap() >= 50.0, "{p99:?}");
        assert!(!m.metrics["http_reqs"].thresholds["count<150"].ok);
        // The one evaluation, on a recorder-free source, agrees with the merged histogram.
        let h = histogram::decode(&m.histograms["http_req_duration"]).unwrap();
        assert_eq!(h.len(), 200);
        assert_eq!(p99.observed, Some(summary::percentile_ms(&h, 99.0)));
        // An empty recorder judges the same expressions as a run would (a recorder is a source).
        let r = Recorder::new(&Default::default());
        let ts = threshold::from_verdicts(&m.thresholds).unwrap();
        let v = threshold::evaluate(&ts, &r, 1.0, &Gauges::default());
        assert_eq!(v[0].observed, Some(0.0));
    }

    #[test]
    fn failure_times_count_from_the_merged_start() {
        let ep = |first_s, last_s| EndpointStats {
            name: "a".into(),
            method: "GET".into(),
            requests: 1,
            failures: 1,
            status_codes: BTreeMap::from([("503".to_string(), 1)]),
            failures_seen: BTreeMap::from([("503".to_string(), FailureSeen { first_s, last_s })]),
            ..EndpointStats::default()
        };
        let (na, mut a) = shard("0:1/2", 1, 10, &[]);
        let (nb, mut b) = shard("1/2:1", 1, 10, &[]);
        a.endpoints = vec![ep(4.0, 6.5)];
        // The second shard started 2.5 s later: its times shift by that much.
        b.started_at = "2026-12-02T04:00:02.500Z".into();
        b.endpoints = vec![ep(0.5, 5.0)];
        let m = merge(&[(na, a), (nb, b)]).unwrap();
        let seen = m.endpoints[0].failures_seen["503"];
        assert_eq!((seen.first_s, seen.last_s), (3.0, 7.5));
    }

    #[test]
    fn gaps_overlaps_and_other_tests_are_refused() {
        let gap = merge(&[shard("0:1/4", 1, 1, &[]), shard("1/2:1", 1, 1, &[])]).unwrap_err();
        assert!(matches!(&gap, MergeError::Gap { missing, .. } if missing == "1/4:1/2"), "{gap}");
        let over = merge(&[shard("0:1/2", 1, 1, &[]), shard("1/4:1", 1, 1, &[])]).unwrap_err();
        assert!(matches!(over, MergeError::Overlap { .. }), "{over}");
        let mut other = shard("1/2:1", 1, 1, &[]);
        other.1.config.plan_fingerprint = Some("g".into());
        let diff = merge(&[shard("0:1/2", 1, 1, &[]), other]).unwrap_err();
        assert!(matches!(diff, MergeError::DifferentTests { .. }), "{diff}");
        // Contiguous, short of the whole: their union (merging in stages).
        let part = merge(&[shard("1/4:1/2", 1, 1, &[]), shard("0:1/4", 1, 1, &[])]).unwrap();
        assert_eq!(part.config.execution_segment.as_deref(), Some("0:1/2"));
        assert!(!covers_all(&part.config.merged_segments));
        let whole = merge(&[("p".into(), part), shard("1/2:1", 1, 1, &[])]).unwrap();
        assert_eq!(whole.config.execution_segment, None);
        assert_eq!(whole.totals.requests, 3);
    }
}
