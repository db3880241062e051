//! The exact merge of shard results (`volley merge`): the results of the execution segments of
//! one test, run by separate generators, become the one result a single generator would have
//! written.
//!
//! Exact where the data allows it: counters add; every trend with a serialized histogram
//! (every metric and sub-metric) is recomputed through [`crate::summary`] from the merged
//! histograms, so percentiles are those of all samples, never averages of percentiles; rates
//! add their passes and fails; checks add; thresholds are evaluated again on the merged values
//! (a threshold crossed only in aggregate is caught). The time series is aligned by wall-clock
//! second (each shard's `started_at`); a second's counts add, its VUs add, and its latency keeps
//! count, min, max and mean exactly while its percentiles are the highest shard's (a second's
//! histogram is not kept in the file). Server samples keep their generator's host in the label.
//!
//! Refused ([`MergeError`]): results of different tests (`config.plan_fingerprint`), and
//! segments that overlap (the same share run twice would count it twice).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::histogram::{self, Micros};
use crate::result::*;
use crate::segment::{Fraction, Segment};
use crate::threshold::{Aggregate, parse_expr};
use crate::{catalogue, summary};

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
    segments.sort_by_key(|(_, s)| s.from);
    out.config.merged_segments = segments.iter().map(|(_, s)| s.to_string()).collect();
    let contiguous = segments.windows(2).all(|w| w[0].1.to == w[1].1.from);
    let (from, to) = (segments[0].1.from, segments[segments.len() - 1].1.to);
    out.config.execution_segment = match contiguous {
        true if from == Fraction::ZERO && to == Fraction::ONE => None,
        true => Some(Segment { from, to }.to_string()),
        false => None,
    };
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
    for (_, r) in results {
        for e in &r.endpoints {
            match endpoints.iter_mut().find(|x| x.method == e.method && x.name == e.name) {
                Some(x) => {
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

    // Thresholds, evaluated again on the merged values.
    let mut thresholds = first.thresholds.clone();
    for t in &mut thresholds {
        let (observed, ok) = verdict(&out.metrics, &hists, &t.metric, &t.expression);
        t.observed = observed;
        t.ok = ok;
        if let Some(m) = out.metrics.get_mut(&t.metric) {
            m.thresholds.insert(t.expression.clone(), ThresholdOutcome { ok });
        }
    }
    out.thresholds = thresholds;
    Ok(out)
}

/// A threshold's verdict on merged values: the aggregate it names, read from the merged
/// metric (percentiles from the merged histogram), compared as the run compares it.
fn verdict(
    metrics: &BTreeMap<String, Metric>,
    hists: &BTreeMap<String, Micros>,
    metric: &str,
    expression: &str,
) -> (Option<f64>, bool) {
    let base = metric.split('{').next().unwrap_or(metric);
    let Ok(e) = parse_expr(expression, catalogue::lookup(base)) else { return (None, false) };
    let Some(m) = metrics.get(metric) else { return (None, false) };
    let observed = match (m.kind, e.aggregate, hists.get(metric)) {
        (MetricKind::Trend, agg, Some(h)) => summary::trend_aggregate(h, agg),
        (MetricKind::Rate, Aggregate::Rate, _) => {
            let n = m.values.get("passes").copied().unwrap_or(0.0)
                + m.values.get("fails").copied().unwrap_or(0.0);
            if n > 0.0 { m.values.get("rate").copied() } else { None }
        }
        (_, agg, _) => m.values.get(&agg.key()).copied(),
    };
    match observed {
        Some(v) => (Some(v), e.holds(v)),
        // As a run: a rate with no samples is not evaluated (k6 passes it).
        None => (None, m.kind == MetricKind::Rate),
    }
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
