//! What the dashboard knows: the current run's per-second points (bounded: one per second,
//! never raw samples), the latest result so far (assembled by the engine, thresholds
//! evaluated by metrics' one evaluation), server samples, a sweep's or a capacity search's
//! progress, and at the end
//! the final result and its HTML report. Every reader (event stream, Prometheus, k6's API)
//! reads this one state.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use volley_metrics::{ResourceSample, RunResult, TimePoint};

use crate::live::Snapshot;

/// Where a run stands, as k6's API and the page say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Starting,
    Running,
    Ended,
    Interrupted,
}

/// A finished step of a capacity search, as the page lists it.
#[derive(Debug, Clone)]
pub struct CapacityRow {
    pub index: usize,
    pub phase: &'static str,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub p95_ms: f64,
    pub error_rate: f64,
    /// `good`, or why the step was bad (the SLOs it crossed, the shortfall).
    pub verdict: String,
}

/// A measured run of a sweep, as the page lists it.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub instances: usize,
    pub repeat: usize,
    pub rps: f64,
    pub p95_ms: f64,
    pub failures: u64,
    /// `scale --capacity`: the capacity found at this count (absent: none within the SLOs).
    pub capacity_rps: Option<f64>,
}

#[derive(Debug, Default)]
pub struct State {
    /// Changes whenever anything does; event streams wait on it.
    pub seq: u64,
    /// Runs seen so far (a sweep has several); the points are the current run's.
    pub run: u32,
    pub phase: Phase,
    pub points: Vec<Point>,
    pub elapsed_s: u64,
    pub vus: u64,
    pub requests: u64,
    pub failures: u64,
    pub dropped: u64,
    /// The result so far (live) or the final one.
    pub result: Option<Arc<RunResult>>,
    /// Each endpoint name's request-duration histogram so far (live: from the engine; at the
    /// end: decoded once from the final result), for Prometheus' buckets.
    pub durations: Option<Arc<volley_engine::Durations>>,
    pub server: Vec<ResourceSample>,
    /// `scale`: the instance count being measured, what is happening, and the runs measured.
    pub sweep_current: Option<usize>,
    pub sweep_note: Option<String>,
    pub sweep_rows: Vec<SweepRow>,
    /// `capacity`: what the search is doing, its finished steps, and (at the end) the capacity
    /// found with the rate that bounded it.
    pub capacity_note: Option<String>,
    pub capacity_rows: Vec<CapacityRow>,
    pub capacity_rps: Option<f64>,
    pub capacity_upper_rps: Option<f64>,
    /// The final HTML report (set once the run is over).
    pub report: Option<Arc<String>>,
    /// VUs a `k6 scale` asked for (not applied: see the k6 API).
    pub max_vus: u64,
}

/// The shared state, with a wake-up for event streams.
#[derive(Debug)]
pub struct Board {
    state: Mutex<State>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Board {
    pub fn new() -> Arc<Board> {
        Arc::new(Board {
            state: Mutex::new(State::default()),
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the state and wakes the readers.
    pub fn update(&self, f: impl FnOnce(&mut State)) {
        let seq = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s);
            s.seq += 1;
            s.seq
        };
        self.changed.send_replace(seq);
    }

    /// One live snapshot. A snapshot earlier than the last one starts a new run (a sweep's
    /// next instance count): its points replace the previous run's.
    pub fn snapshot(&self, snap: &Snapshot) {
        self.update(|s| {
            let elapsed = snap.elapsed.as_secs();
            if s.phase != Phase::Running || elapsed < s.elapsed_s {
                s.run += 1;
                s.points.clear();
            }
            s.phase = Phase::Running;
            s.elapsed_s = elapsed;
            s.vus = snap.vus;
            s.requests = snap.requests;
            s.failures = snap.failures;
            s.dropped = snap.dropped;
            if let Some(p) = &snap.point {
                s.points.push(Point::of(p));
            }
            if let Some(r) = &snap.result {
                s.max_vus = s.max_vus.max(r.config.concurrency);
                s.result = Some(r.clone());
            }
            if let Some(d) = &snap.durations {
                s.durations = Some(d.clone());
            }
            s.server = snap.server.clone();
        });
    }

    /// The run (or the sweep) is over: the final result and its report.
    pub fn finish(&self, result: Option<RunResult>, report: Option<String>, interrupted: bool) {
        self.update(|s| {
            s.phase = if interrupted { Phase::Interrupted } else { Phase::Ended };
            if let Some(r) = result {
                s.requests = r.totals.requests;
                s.failures = r.totals.failed;
                s.dropped = r.totals.dropped;
                s.durations = Some(Arc::new(durations(&r)));
                s.result = Some(Arc::new(r));
            }
            s.report = report.map(Arc::new);
        });
    }
}

/// The final result's request-duration histogram per endpoint name (`http_req_duration{name:N}`).
fn durations(r: &RunResult) -> volley_engine::Durations {
    r.histograms
        .iter()
        .filter_map(|(key, encoded)| {
            let name = key.strip_prefix("http_req_duration{name:")?.strip_suffix('}')?;
            Some((name.to_string(), volley_metrics::histogram::decode(encoded).ok()?))
        })
        .collect()
}

/// What the page plots of a second, and all the dashboard keeps of it: a run's full
/// [`TimePoint`]s are the engine's (for the result file); a copy of each here would double
/// what a long run's memory grows by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: u64,
    pub requests: u64,
    pub failures: u64,
    /// Latencies in ms; `None` when nothing finished in that second.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub vus: u64,
    pub connections: u64,
}

impl Point {
    fn of(p: &TimePoint) -> Point {
        let l = p.latency.as_ref();
        Point {
            t: p.t,
            requests: p.requests,
            failures: p.failures,
            p50: l.map(|l| l.med),
            p95: l.map(|l| l.p95),
            p99: l.map(|l| l.p99),
            vus: p.vus,
            connections: p.connections,
        }
    }

    /// As the page reads it: `[t, requests, failures, p50, p95, p99, vus, connections]`.
    fn json(&self) -> Value {
        json!([
            self.t,
            self.requests,
            self.failures,
            self.p50,
            self.p95,
            self.p99,
            self.vus,
            self.connections
        ])
    }
}

impl State {
    /// One event of the stream: the points from `from` on, and everything else in full.
    pub fn event(&self, from: usize) -> Value {
        let from = from.min(self.points.len());
        let r = self.result.as_deref();
        let endpoints: Vec<Value> = r
            .map(|r| {
                r.endpoints
                    .iter()
                    .map(|e| {
                        json!({
                            "method": e.method,
                            "name": e.name,
                            "requests": e.requests,
                            "failures": e.failures,
                            "med": e.latency.med,
                            "p95": e.latency.p95,
                            "p99": e.latency.p99,
                            "avg": e.latency.avg,
                            "min": e.latency.min,
                            "max": e.latency.max,
                            "avg_size": e.bytes_received.checked_div(e.requests).unwrap_or(0),
                            "rps": e.rps,
                            "fps": e.failures_per_s,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let thresholds: Vec<Value> = r
            .map(|r| {
                r.thresholds
                    .iter()
                    .map(|t| {
                        json!({"metric": t.metric, "expression": t.expression, "ok": t.ok,
                               "observed": t.observed})
                    })
                    .collect()
            })
            .unwrap_or_default();
        let checks: Vec<Value> = r
            .map(|r| {
                r.checks
                    .iter()
                    .map(|c| json!({"name": c.name, "step": c.step, "passes": c.passes, "fails": c.fails}))
                    .collect()
            })
            .unwrap_or_default();
        let last = self.points.last();
        json!({
            "seq": self.seq,
            "run": self.run,
            "phase": match self.phase {
                Phase::Starting => "starting",
                Phase::Running => "running",
                Phase::Ended => "ended",
                Phase::Interrupted => "interrupted",
            },
            "elapsed": self.elapsed_s,
            "requests": self.requests,
            "failures": self.failures,
            "dropped": self.dropped,
            "vus": self.vus,
            "connections": last.map_or(0, |p| p.connections),
            "from": from,
            "points": self.points[from..].iter().map(Point::json).collect::<Vec<_>>(),
            "endpoints": endpoints,
            "failure_kinds": r.map(|r| json!(r.failures)).unwrap_or(json!({})),
            "statuses": r.map(|r| json!(r.status_codes)).unwrap_or(json!({})),
            "checks": checks,
            "thresholds": thresholds,
            "server": self.server.iter().map(|s| json!({"label": s.label, "cpu_pct": s.cpu_pct, "mem_bytes": s.mem_bytes})).collect::<Vec<_>>(),
            "sweep": (self.sweep_current.is_some() || !self.sweep_rows.is_empty()).then(|| json!({
                "current": self.sweep_current,
                "note": self.sweep_note,
                "runs": self.sweep_rows.iter().map(|r| json!({"instances": r.instances, "repeat": r.repeat,
                    "rps": r.rps, "p95_ms": r.p95_ms, "failures": r.failures,
                    "capacity_rps": r.capacity_rps})).collect::<Vec<_>>(),
            })),
            "capacity": (self.capacity_note.is_some() || !self.capacity_rows.is_empty()).then(|| json!({
                "note": self.capacity_note,
                "capacity_rps": self.capacity_rps,
                "upper_rps": self.capacity_upper_rps,
                "steps": self.capacity_rows.iter().map(|r| json!({"index": r.index, "phase": r.phase,
                    "offered_rps": r.offered_rps, "achieved_rps": r.achieved_rps, "p95_ms": r.p95_ms,
                    "error_rate": r.error_rate, "verdict": r.verdict})).collect::<Vec<_>>(),
            })),
            "report": self.report.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_engine::Progress;

    fn snap(t: u64, requests: u64) -> Snapshot {
        Snapshot {
            engine: Progress {
                elapsed: std::time::Duration::from_secs(t + 1),
                requests,
                point: Some(TimePoint { t, requests: 10, ..TimePoint::default() }),
                ..Progress::default()
            },
            server: Vec::new(),
        }
    }

    #[test]
    fn points_accumulate_per_run_and_events_send_only_new_ones() {
        let b = Board::new();
        b.snapshot(&snap(0, 10));
        b.snapshot(&snap(1, 20));
        let e = b.read(|s| s.event(1));
        assert_eq!(e["points"].as_array().unwrap().len(), 1);
        assert_eq!(e["points"][0][0], 1);
        assert_eq!(e["requests"], 20);
        assert_eq!(e["run"], 1);
        // A sweep's next run starts again at second 0.
        b.snapshot(&snap(0, 5));
        let e = b.read(|s| s.event(0));
        assert_eq!((e["run"].as_u64(), e["points"].as_array().unwrap().len()), (Some(2), 1));
        b.finish(None, Some("<html>".into()), false);
        assert_eq!(b.read(|s| s.event(0))["phase"], "ended");
    }
}
