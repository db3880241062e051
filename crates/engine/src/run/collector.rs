//! The collector, on the calling thread: turns the worker threads' per-second intervals into
//! the time series and the live progress, and evaluates `abortOnFail` thresholds on their
//! recorder snapshots.

use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use volley_metrics::recorder::{Gauges, TimeSeries};
use volley_metrics::{MetricKind, Recorder, RunResult, threshold};

use super::setup::Shared;
use crate::assemble::{self, Facts};
use crate::{Progress, RunOptions};

/// From the worker threads to the collector (the calling thread). Each thread's ticker sends
/// one interval per second (plus a recorder snapshot when thresholds may abort); when its work
/// is done the thread sends its last, partial interval, then `Done`, and exits. The collector
/// returns once every thread is done (or every sender is gone, should a thread die).
pub(super) enum Msg {
    /// A thread's interval; `true` for its last, partial one (a tail of a few milliseconds,
    /// kept out of the `vus` gauge's statistics).
    Interval(usize, volley_metrics::Interval, bool),
    Snapshot(usize, Box<Recorder>),
    Done(usize),
}

/// What the collector learned while the run went on.
pub(super) struct Collected {
    pub(super) series: TimeSeries,
    pub(super) aborted_by: Option<String>,
    pub(super) vus_last: u64,
    pub(super) vus_min: u64,
    pub(super) vus_peak: u64,
    /// At least one complete second was seen.
    pub(super) vus_seen: bool,
}

pub(super) fn collect(shared: &Shared, rx: mpsc::Receiver<Msg>, opts: &RunOptions) -> Collected {
    let threads = shared.threads;
    let mut series = TimeSeries::new(threads);
    let mut done = vec![false; threads];
    let mut last_second = vec![0u64; threads];
    let mut partial: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut snapshots: Vec<Option<Box<Recorder>>> = (0..threads).map(|_| None).collect();
    let mut aborted_by = None;
    let mut fresh = vec![false; threads];
    let mut pending: Option<Progress> = None;
    let (mut requests, mut failures, mut dropped) = (0u64, 0u64, 0u64);
    let (mut vus_last, mut vus_min, mut vus_peak) = (0u64, u64::MAX, 0u64);
    let mut remaining = threads;
    while remaining > 0 {
        let Ok(msg) = rx.recv() else { break };
        match msg {
            Msg::Interval(from, iv, last) => {
                let s = iv.second;
                last_second[from] = last_second[from].max(s);
                if last {
                    partial.insert(s);
                }
                requests += iv.requests;
                failures += iv.failures;
                dropped += iv.dropped;
                let mut batch = vec![iv];
                // Threads that finished early report nothing more: fill their seconds with
                // empty intervals so every second still closes on time.
                for (j, d) in done.iter().enumerate() {
                    if *d && last_second[j] < s {
                        for t in last_second[j] + 1..=s {
                            batch.push(volley_metrics::Interval::new(t));
                        }
                        last_second[j] = s;
                    }
                }
                for iv in batch {
                    // The time series owns the seconds: a point comes back once every thread
                    // handed in its interval for that second.
                    let Some(point) = series.add(iv) else { continue };
                    let (t, vus) = (point.t, point.vus);
                    if !partial.contains(&t) {
                        vus_last = vus;
                        vus_min = vus_min.min(vus);
                        vus_peak = vus_peak.max(vus);
                    }
                    if opts.progress.is_some() {
                        let p = Progress {
                            elapsed: Duration::from_secs(t + 1),
                            requests,
                            failures,
                            rps: point.requests as f64,
                            p95_ms: point.latency.as_ref().map_or(0.0, |l| l.p95),
                            vus,
                            dropped,
                            point: Some(point.clone()),
                            result: None,
                            durations: None,
                        };
                        // With live results, the second waits for every thread's recorder
                        // copy (sent right after the interval).
                        if opts.live_results {
                            pending = Some(p);
                        } else if let Some(tx) = &opts.progress {
                            let _ = tx.send(p);
                        }
                    }
                }
            }
            Msg::Snapshot(idx, rec) => {
                snapshots[idx] = Some(rec);
                fresh[idx] = true;
                // Once every thread handed over a copy for the same second (finished
                // threads' last copies stay current), the merged state is consistent.
                if snapshots.iter().all(|s| s.is_some())
                    && fresh.iter().zip(&done).all(|(f, d)| *f || *d)
                {
                    fresh.iter_mut().for_each(|f| *f = false);
                    let merged = merge(shared, &snapshots);
                    if aborted_by.is_none()
                        && let Some(why) = abort_check(shared, &merged)
                    {
                        aborted_by = Some(why);
                        shared.stop.cancel();
                    }
                    if let (Some(mut p), Some(tx)) = (pending.take(), &opts.progress) {
                        p.result = Some(Arc::new(provisional(shared, &merged, opts, &p)));
                        p.durations = Some(Arc::new(durations(shared, &merged)));
                        let _ = tx.send(p);
                    }
                }
            }
            Msg::Done(idx) => {
                done[idx] = true;
                remaining -= 1;
            }
        }
    }
    let vus_seen = vus_min != u64::MAX;
    if !vus_seen {
        vus_min = 0;
    }
    Collected { series, aborted_by, vus_last, vus_min, vus_peak, vus_seen }
}

/// Every thread's latest recorder copy, merged: the run's state so far. Starts from a copy
/// of the first (a copy of its histograms, where merging into an empty recorder would grow
/// each of them and then add every bucket).
fn merge(shared: &Shared, snapshots: &[Option<Box<Recorder>>]) -> Recorder {
    let mut all = snapshots.iter().flatten();
    let Some(first) = all.next() else { return Recorder::new(&shared.names) };
    let mut merged = Recorder::clone(first);
    for s in all {
        merged.merge(s);
    }
    merged
}

/// The result so far, assembled as the final one is (thresholds evaluated by the same code),
/// without the time series (live readers keep the points they were sent) and without the
/// serialized histograms (see [`assemble::live`]).
fn provisional(shared: &Shared, merged: &Recorder, opts: &RunOptions, p: &Progress) -> RunResult {
    let elapsed = shared.start.elapsed();
    let now = SystemTime::now();
    let facts = Facts {
        started_at: now.checked_sub(elapsed).unwrap_or(now),
        start: shared.start,
        ended_at: now,
        duration: elapsed,
        interrupted: false,
        aborted_by: None,
        threads: shared.threads,
        max_connections: p.point.as_ref().map_or(0, |pt| pt.connections),
        vus_max: p.vus,
        vus_last: p.vus,
        vus_min: p.vus,
        vus_peak: p.vus,
        responses_h1: 0,
        responses_h2: 0,
        generator_busy: 0.0,
        segment: shared.tuple.clone(),
    };
    assemble::live(&shared.spec, &shared.names, merged, opts.config.clone(), facts)
}

/// Each endpoint name's request durations so far.
fn durations(shared: &Shared, merged: &Recorder) -> crate::Durations {
    let mut out: crate::Durations = Vec::new();
    for (_, name) in &shared.names.endpoints {
        if out.iter().any(|(n, _)| n == name) {
            continue;
        }
        let t = merged.by_name(&shared.names, name);
        if t.requests > 0 {
            out.push((name.clone(), t.duration));
        }
    }
    out
}

/// Evaluates the `abortOnFail` thresholds on the merged snapshots; the failing one's text.
fn abort_check(shared: &Shared, merged: &Recorder) -> Option<String> {
    let elapsed = shared.start.elapsed();
    let secs = elapsed.as_secs_f64();
    for t in &shared.spec.thresholds {
        for e in &t.exprs {
            if !e.abort_on_fail || elapsed < e.delay_abort_eval {
                continue;
            }
            // The VU gauges are only known at the end: they cannot abort a run.
            if t.key.metric.kind == MetricKind::Gauge {
                continue;
            }
            let (_, ok) = threshold::verdict(merged, &t.key, e, secs, &Gauges::default());
            if !ok {
                return Some(format!("{}: {}", t.metric(), e.source));
            }
        }
    }
    None
}
