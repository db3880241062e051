//! The run itself: worker threads, virtual users, executors, and the collector.
//!
//! Each worker thread owns a single-threaded tokio runtime, one [`Recorder`] and one
//! [`Client`]; it runs its share of every scenario's VUs (closed model) or arrival slots
//! (open model: thread i of T takes slots i, i+T, i+2T ..., so the union is exactly the
//! schedule). The calling thread is the collector: it turns the threads' per-second intervals
//! into the time series and progress snapshots, and evaluates `abortOnFail` thresholds.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderName;
use rand::Rng;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use volley_metrics::recorder::{Names, Outcome, TimeSeries};
use volley_metrics::{Recorder, Sample};
use volley_plan::{
    Body, Executor, JsonTemplate, ResponseView, Scenario, Spec, Step, ThinkTime, VuState,
};

use crate::assemble::{self, Facts};
use crate::schedule;
use crate::transport::{self, Client, Conn, ConnGauge, Exchange, Origin, Prepared};
use crate::{EngineError, Progress, RunOptions};

/// What every thread reads: the spec and everything derived from it before the run.
struct Shared {
    spec: Spec,
    names: Names,
    /// Per scenario, per flow, per step: endpoint index, first check index, prepared request
    /// when the step renders the same every time.
    steps: Vec<Vec<Vec<StepInfo>>>,
    /// Global flow index of flow 0 of each scenario.
    flow_base: Vec<usize>,
    /// Global VU number of VU 0 of each scenario.
    vu_base: Vec<u64>,
    /// Iterations claimed so far, per scenario (shared-iterations).
    claimed: Vec<AtomicU64>,
    addrs: HashMap<(String, u16), std::net::SocketAddr>,
    tls: Option<Arc<rustls::ClientConfig>>,
    backend_header: Option<HeaderName>,
    threads: usize,
    seed: u64,
    start: Instant,
    stop: CancellationToken,
    grace: Duration,
    /// Send a recorder snapshot every second (only when some threshold can abort the run).
    snapshots: bool,
}

struct StepInfo {
    endpoint: usize,
    check_base: usize,
    fixed: Option<Prepared>,
    keep_body: bool,
}

/// From the worker threads to the collector (the calling thread). Each thread's ticker sends
/// one interval per second (plus a recorder snapshot when thresholds may abort); when its work
/// is done the thread sends its last, partial interval, then `Done`, and exits. The collector
/// returns once every thread is done (or every sender is gone, should a thread die).
enum Msg {
    /// A thread's interval; `true` for its last, partial one (a tail of a few milliseconds,
    /// kept out of the `vus` gauge's statistics).
    Interval(usize, volley_metrics::Interval, bool),
    Snapshot(usize, Box<Recorder>),
    Done(usize),
}

/// What a worker thread hands back when it is done.
struct ThreadOut {
    recorder: Recorder,
    peak_connections: u64,
    peak_vus: u64,
    peak_active: u64,
}

pub(crate) fn run(spec: &Spec, opts: RunOptions) -> Result<volley_metrics::RunResult, EngineError> {
    if spec.scenarios.is_empty() {
        return Err(EngineError::Empty);
    }
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        opts.threads
    };
    let names = names_of(spec);
    let (steps, origins) = prepare_steps(spec, &names)?;
    let mut addrs = HashMap::new();
    for o in &origins {
        let a = (o.host.as_str(), o.port)
            .to_socket_addrs()
            .map_err(|e| EngineError::Dns { host: o.host.clone(), reason: e.to_string() })?
            .min_by_key(|a| !a.is_ipv4())
            .ok_or_else(|| EngineError::Dns {
                host: o.host.clone(),
                reason: "no address found".into(),
            })?;
        addrs.insert((o.host.clone(), o.port), a);
    }
    let tls = Some(transport::tls_config(spec.http.insecure).map_err(EngineError::Tls)?);
    let backend_header = match &spec.http.backend_header {
        Some(h) => Some(
            HeaderName::from_bytes(h.as_bytes()).map_err(|_| EngineError::BadHeader(h.clone()))?,
        ),
        None => None,
    };
    let mut flow_base = Vec::new();
    let mut vu_base = Vec::new();
    let (mut fb, mut vb) = (0, 0u64);
    for sc in &spec.scenarios {
        flow_base.push(fb);
        vu_base.push(vb);
        fb += sc.flows.len();
        vb += sc.executor.max_vus() as u64;
    }
    let stop = opts.stop.child_token();
    let snapshots = spec.thresholds.iter().any(|t| t.exprs.iter().any(|e| e.abort_on_fail));
    let started_at = SystemTime::now();
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        names: names.clone(),
        steps,
        flow_base,
        vu_base,
        claimed: spec.scenarios.iter().map(|_| AtomicU64::new(0)).collect(),
        addrs,
        tls,
        backend_header,
        threads,
        seed: opts.seed,
        start: Instant::now(),
        stop: stop.clone(),
        grace: opts.grace,
        snapshots,
    });
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut handles = Vec::with_capacity(threads);
    for idx in 0..threads {
        let shared = shared.clone();
        let tx = tx.clone();
        let h = std::thread::Builder::new()
            .name(format!("volley-worker-{idx}"))
            .spawn(move || worker_thread(idx, shared, tx))
            .map_err(|e| EngineError::Threads(e.to_string()))?;
        handles.push(h);
    }
    drop(tx);

    let collected = collect(&shared, rx, &opts);
    let mut outs = Vec::with_capacity(threads);
    for h in handles {
        match h.join() {
            Ok(o) => outs.push(o),
            Err(_) => return Err(EngineError::Threads("a worker thread panicked".into())),
        }
    }
    let ended = Instant::now();
    let ended_at = SystemTime::now();
    let mut merged = Recorder::new(&names);
    let mut peak_connections = 0;
    let mut peak_vus = 0;
    let mut peak_active = 0;
    for o in &outs {
        merged.merge(&o.recorder);
        peak_connections += o.peak_connections;
        peak_vus += o.peak_vus;
        peak_active += o.peak_active;
    }
    // The `vus` gauge is sampled once per second, as k6 does; a run shorter than a second
    // has no sample, and then reports the VUs it ran (per-thread peaks, summed).
    let (vus_last, vus_min, vus_peak) = match collected.vus_seen {
        true => (collected.vus_last, collected.vus_min, collected.vus_peak),
        false => (peak_active, peak_active, peak_active),
    };
    let facts = Facts {
        started_at,
        ended_at,
        duration: ended.duration_since(shared.start),
        interrupted: opts.stop.is_cancelled(),
        aborted_by: collected.aborted_by,
        threads,
        max_connections: peak_connections,
        vus_max: peak_vus,
        vus_last,
        vus_min,
        vus_peak,
    };
    Ok(assemble::result(spec, &names, &merged, collected.series.finish(), opts.config, facts))
}

/// What the collector learned while the run went on.
struct Collected {
    series: TimeSeries,
    aborted_by: Option<String>,
    vus_last: u64,
    vus_min: u64,
    vus_peak: u64,
    /// At least one complete second was seen.
    vus_seen: bool,
}

fn collect(shared: &Shared, rx: mpsc::Receiver<Msg>, opts: &RunOptions) -> Collected {
    let threads = shared.threads;
    let mut series = TimeSeries::new(threads);
    let mut done = vec![false; threads];
    let mut last_second = vec![0u64; threads];
    let mut per_second: HashMap<u64, (usize, volley_metrics::Interval)> = HashMap::new();
    let mut partial: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut snapshots: Vec<Option<Box<Recorder>>> = (0..threads).map(|_| None).collect();
    let mut aborted_by = None;
    let (mut requests, mut failures, mut dropped) = (0u64, 0u64, 0u64);
    let (mut vus_last, mut vus_min, mut vus_peak) = (0u64, u64::MAX, 0u64);
    let empty = Recorder::new(&Names::default());
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
                            let mut e = empty.clone().take_interval(0, 0, 0);
                            e.second = t;
                            batch.push(e);
                        }
                        last_second[j] = s;
                    }
                }
                for iv in batch {
                    let s = iv.second;
                    let entry = per_second.entry(s).or_insert_with(|| {
                        let mut e = empty.clone().take_interval(0, 0, 0);
                        e.second = s;
                        (0, e)
                    });
                    entry.0 += 1;
                    entry.1.requests += iv.requests;
                    entry.1.vus += iv.vus;
                    entry.1.duration.add(&iv.duration).ok();
                    let complete = entry.0 >= threads;
                    series.add(iv);
                    if complete {
                        let (_, sum) = per_second.remove(&s).expect("entry exists");
                        if !partial.contains(&s) {
                            vus_last = sum.vus;
                            vus_min = vus_min.min(sum.vus);
                            vus_peak = vus_peak.max(sum.vus);
                        }
                        if let Some(tx) = &opts.progress {
                            let p95 = if sum.duration.is_empty() {
                                0.0
                            } else {
                                sum.duration.value_at_quantile(0.95) as f64 / 1000.0
                            };
                            let _ = tx.send(Progress {
                                elapsed: Duration::from_secs(s + 1),
                                requests,
                                failures,
                                rps: sum.requests as f64,
                                p95_ms: p95,
                                vus: sum.vus,
                                dropped,
                            });
                        }
                    }
                }
            }
            Msg::Snapshot(idx, rec) => {
                snapshots[idx] = Some(rec);
                if aborted_by.is_none()
                    && snapshots.iter().all(|s| s.is_some())
                    && let Some(why) = abort_check(shared, &snapshots)
                {
                    aborted_by = Some(why);
                    shared.stop.cancel();
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

/// Evaluates the `abortOnFail` thresholds on the merged snapshots; the failing one's text.
fn abort_check(shared: &Shared, snapshots: &[Option<Box<Recorder>>]) -> Option<String> {
    let elapsed = shared.start.elapsed();
    let mut merged = Recorder::new(&shared.names);
    for s in snapshots.iter().flatten() {
        merged.merge(s);
    }
    let secs = elapsed.as_secs_f64();
    for t in &shared.spec.thresholds {
        for e in &t.exprs {
            if !e.abort_on_fail || elapsed < e.delay_abort_eval {
                continue;
            }
            let Some(mut m) = merged.metric(&shared.names, &t.metric, secs) else { continue };
            assemble::add_percentiles(&mut m, &merged, &shared.names, &t.metric, &t.exprs);
            if let Some((_, false)) = e.evaluate(&m.values) {
                return Some(format!("{}: {}", t.metric, e.source));
            }
        }
    }
    None
}

/// Endpoints, scenarios, flows and checks, indexed before the run.
pub(crate) fn names_of(spec: &Spec) -> Names {
    let mut names = Names::default();
    for sc in &spec.scenarios {
        names.scenarios.push(sc.name.clone());
        for f in &sc.flows {
            names.flows.push(f.name.clone());
            for st in &f.steps {
                let key = (st.method.as_str().to_string(), st.name.clone());
                if !names.endpoints.contains(&key) {
                    names.endpoints.push(key);
                }
                for c in &st.checks {
                    names.checks.push((c.name.clone(), st.name.clone()));
                }
            }
        }
    }
    names
}

/// Per scenario, flow and step, and every origin known before the run.
type StepTable = (Vec<Vec<Vec<StepInfo>>>, Vec<Origin>);

fn prepare_steps(spec: &Spec, names: &Names) -> Result<StepTable, EngineError> {
    let mut origins: Vec<Origin> = Vec::new();
    if let Some(b) = &spec.base_url {
        let uri: http::Uri = b
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_url(b.as_str(), e.to_string()))?;
        origins.push(Origin::of(&uri).map_err(|r| bad_url(b.as_str(), r))?);
    }
    let mut check = 0;
    let mut out = Vec::new();
    for sc in &spec.scenarios {
        let mut flows = Vec::new();
        for f in &sc.flows {
            let mut steps = Vec::new();
            for st in &f.steps {
                let key = (st.method.as_str().to_string(), st.name.clone());
                let endpoint = names.endpoints.iter().position(|e| *e == key).unwrap_or(0);
                let fixed = if is_static(st, spec) {
                    let mut vu = VuState::new(0, 0);
                    let r = st.render(spec.base_url.as_ref(), &spec.http, &mut vu);
                    let p = Prepared::new(
                        r.method,
                        &r.url,
                        &r.headers,
                        Bytes::from(r.body),
                        spec.http.keepalive,
                    )
                    .map_err(|reason| bad_url(&r.url, reason))?;
                    if !origins.contains(&p.origin) {
                        origins.push(p.origin.clone());
                    }
                    Some(p)
                } else {
                    None
                };
                steps.push(StepInfo {
                    endpoint,
                    check_base: check,
                    fixed,
                    keep_body: !st.checks.is_empty() || !st.extract.is_empty(),
                });
                check += st.checks.len();
            }
            flows.push(steps);
        }
        out.push(flows);
    }
    Ok((out, origins))
}

fn bad_url(url: &str, reason: String) -> EngineError {
    EngineError::BadUrl { url: url.to_string(), reason }
}

/// True when every part of the step is literal text: it is rendered once, before the run.
fn is_static(st: &Step, spec: &Spec) -> bool {
    fn json_static(j: &JsonTemplate) -> bool {
        match j {
            JsonTemplate::String(t) => t.as_literal().is_some(),
            JsonTemplate::Array(v) => v.iter().all(json_static),
            JsonTemplate::Object(v) => v.iter().all(|(_, j)| json_static(j)),
            _ => true,
        }
    }
    st.url.as_literal().is_some()
        && st.query.iter().all(|(_, t)| t.as_literal().is_some())
        && st.headers.iter().all(|(_, t)| t.as_literal().is_some())
        && spec.http.headers.iter().all(|(_, t)| t.as_literal().is_some())
        && match &st.body {
            Body::None | Body::Bytes(_) => true,
            Body::Raw(t) => t.as_literal().is_some(),
            Body::Json(j) => json_static(j),
            Body::Form(f) => f.iter().all(|(_, t)| t.as_literal().is_some()),
        }
}

/// Per-thread state shared by the thread's tasks.
struct Ctx {
    shared: Arc<Shared>,
    idx: usize,
    recorder: RefCell<Recorder>,
    client: Client,
    /// VUs currently active (closed model) or iterations in flight (open model).
    vus: Cell<u64>,
    /// VUs this thread ever allocated at once.
    allocated: Cell<u64>,
    /// Largest value `vus` reached, over the run and within the current second.
    vus_peak: Cell<u64>,
    vus_second: Cell<u64>,
}

impl Ctx {
    fn vus_add(&self, n: i64) {
        let v = self.vus.get().saturating_add_signed(n);
        self.vus.set(v);
        if v > self.vus_peak.get() {
            self.vus_peak.set(v);
        }
        if v > self.vus_second.get() {
            self.vus_second.set(v);
        }
    }

    /// The `vus` gauge of the second that just ended: the most VUs active during it (a
    /// sample at the boundary itself would miss VUs that stop exactly on it).
    fn take_vus_second(&self) -> u64 {
        self.vus_second.replace(self.vus.get())
    }
}

/// One virtual user: its variables, its connection, its reusable measurement buffer.
struct Vu {
    state: VuState,
    conn: Option<Conn>,
    ex: Exchange,
}

impl Vu {
    fn new(id: u64, seed: u64) -> Self {
        Vu { state: VuState::new(id, seed), conn: None, ex: Exchange::default() }
    }
}

fn worker_thread(idx: usize, shared: Arc<Shared>, tx: mpsc::Sender<Msg>) -> ThreadOut {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => {
            let _ = tx.send(Msg::Done(idx));
            return ThreadOut {
                recorder: Recorder::new(&shared.names),
                peak_connections: 0,
                peak_vus: 0,
                peak_active: 0,
            };
        }
    };
    let local = tokio::task::LocalSet::new();
    let conns = Rc::new(ConnGauge::default());
    let ctx = Rc::new(Ctx {
        recorder: RefCell::new(Recorder::new(&shared.names)),
        client: Client {
            tls: shared.tls.clone(),
            keepalive: shared.spec.http.keepalive,
            addrs: RefCell::new(shared.addrs.clone()),
            conns: conns.clone(),
        },
        shared,
        idx,
        vus: Cell::new(0),
        allocated: Cell::new(0),
        vus_peak: Cell::new(0),
        vus_second: Cell::new(0),
    });
    local.block_on(&rt, async {
        let ticker = tokio::task::spawn_local(ticker(ctx.clone(), tx.clone()));
        let mut scenarios = Vec::new();
        for si in 0..ctx.shared.spec.scenarios.len() {
            scenarios.push(tokio::task::spawn_local(run_scenario(ctx.clone(), si)));
        }
        for s in scenarios {
            let _ = s.await;
        }
        ticker.abort();
        let _ = ticker.await;
    });
    // The last, partial second.
    let next = ctx.shared.start.elapsed().as_secs() + 1;
    let iv = ctx.recorder.borrow_mut().take_interval(next, ctx.take_vus_second(), conns.open.get());
    let _ = tx.send(Msg::Interval(idx, iv, true));
    if ctx.shared.snapshots {
        let _ = tx.send(Msg::Snapshot(idx, Box::new(ctx.recorder.borrow().clone())));
    }
    let _ = tx.send(Msg::Done(idx));
    let out = ThreadOut {
        recorder: ctx.recorder.borrow().clone(),
        peak_connections: conns.peak.get(),
        peak_vus: ctx.allocated.get(),
        peak_active: ctx.vus_peak.get(),
    };
    drop(local);
    out
}

/// Hands over one interval per second, aligned to the run's start.
async fn ticker(ctx: Rc<Ctx>, tx: mpsc::Sender<Msg>) {
    let start = tokio::time::Instant::from_std(ctx.shared.start);
    let mut s = 1u64;
    loop {
        sleep_until(start + Duration::from_secs(s)).await;
        let vus = ctx.take_vus_second();
        let iv = ctx.recorder.borrow_mut().take_interval(s, vus, ctx.client.conns.open.get());
        if tx.send(Msg::Interval(ctx.idx, iv, false)).is_err() {
            return;
        }
        if ctx.shared.snapshots {
            let snap = Box::new(ctx.recorder.borrow().clone());
            let _ = tx.send(Msg::Snapshot(ctx.idx, snap));
        }
        s += 1;
    }
}

/// Resolves when the run is stopped (Ctrl-C, abort) and its grace period has passed.
async fn stop_expired(shared: &Shared) {
    shared.stop.cancelled().await;
    tokio::time::sleep(shared.grace).await;
}

fn at(shared: &Shared, d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(shared.start + d)
}

async fn run_scenario(ctx: Rc<Ctx>, si: usize) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    tokio::select! {
        _ = sleep_until(at(&shared, sc.start_time)) => {}
        _ = shared.stop.cancelled() => return,
    }
    if sc.executor.is_open() {
        open_scenario(ctx, si).await;
    } else {
        let total = sc.executor.max_vus() as u64;
        let t = shared.threads as u64;
        let mut vus = Vec::new();
        let mut g = ctx.idx as u64;
        while g < total {
            vus.push(tokio::task::spawn_local(closed_vu(ctx.clone(), si, g)));
            g += t;
        }
        for v in vus {
            let _ = v.await;
        }
    }
}

/// A VU of a closed-model executor: loops iterations while its executor lets it.
async fn closed_vu(ctx: Rc<Ctx>, si: usize, g: u64) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    let sc_start = shared.start + sc.start_time;
    let ramp = schedule::ramp_of(&sc.executor);
    let end = sc.start_time + ramp.total();
    let hard_end = at(&shared, end + sc.graceful_stop);
    let mut vu = Vu::new(shared.vu_base[si] + g + 1, shared.seed);
    ctx.allocated.set(ctx.allocated.get() + 1);
    let mut active = false;
    let mut done = 0u64;
    // Created once per VU, not per iteration: registering with the shared stop token takes
    // its lock, which would otherwise be paid on every iteration by every thread.
    let stop = stop_expired(&shared);
    tokio::pin!(stop);
    let cutoff = sleep_until(hard_end);
    tokio::pin!(cutoff);
    let mut cutoff_at = hard_end;
    loop {
        let now = Instant::now();
        if shared.stop.is_cancelled() || now >= shared.start + end {
            break;
        }
        let mut deadline = hard_end;
        match &sc.executor {
            Executor::PerVuIterations { iterations, .. } if done >= *iterations => break,
            Executor::SharedIterations { iterations, .. }
                if shared.claimed[si].fetch_add(1, Ordering::Relaxed) >= *iterations =>
            {
                break;
            }
            Executor::RampingVus { graceful_ramp_down, .. } => {
                let t = now.saturating_duration_since(sc_start);
                let need = (g + 1) as f64;
                if ramp.value_at(t) < need {
                    set_active(&ctx, &mut active, false);
                    match ramp.first_at_least(need, t) {
                        Some(on) => {
                            tokio::select! {
                                _ = sleep_until(at(&shared, sc.start_time + on)) => continue,
                                _ = shared.stop.cancelled() => break,
                            }
                        }
                        None => break,
                    }
                }
                if let Some(off) = ramp.first_below(need, t) {
                    deadline = deadline.min(at(&shared, sc.start_time + off + *graceful_ramp_down));
                }
            }
            _ => {}
        }
        set_active(&ctx, &mut active, true);
        let t0 = now;
        if deadline != cutoff_at {
            cutoff.as_mut().reset(deadline);
            cutoff_at = deadline;
        }
        let failed = tokio::select! {
            biased;
            f = iteration(&ctx, si, &mut vu, None) => Some(f),
            _ = &mut cutoff => None,
            _ = &mut stop => None,
        };
        // A completed iteration ended with its last request (step pauses come between
        // steps), so its end needs no clock read of its own.
        let t1 = match failed {
            Some(_) => vu.ex.finished.unwrap_or_else(Instant::now),
            None => Instant::now(),
        };
        let elapsed = micros(t1.saturating_duration_since(t0));
        ctx.recorder.borrow_mut().record_iteration(elapsed, failed.is_none());
        done += 1;
        match failed {
            None => {
                vu.conn = None;
                // Cut off by a ramp-down: the VU may come back when the ramp rises again.
                if matches!(sc.executor, Executor::RampingVus { .. })
                    && !shared.stop.is_cancelled()
                    && Instant::now() < shared.start + end
                {
                    continue;
                }
                break;
            }
            // An iteration that failed at once must still let the ticker and stop run.
            Some(true) => tokio::task::yield_now().await,
            Some(false) => {}
        }
        if let Some(tt) = sc.think_time {
            let pause = think(&mut vu.state, tt);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = sleep_until(at(&shared, end)) => {}
                _ = shared.stop.cancelled() => break,
            }
        }
    }
    set_active(&ctx, &mut active, false);
}

fn set_active(ctx: &Ctx, active: &mut bool, on: bool) {
    if *active != on {
        *active = on;
        ctx.vus_add(if on { 1 } else { -1 });
    }
}

fn think(vu: &mut VuState, tt: ThinkTime) -> Duration {
    let (lo, hi) = (micros(tt.min), micros(tt.max));
    if hi <= lo { tt.min } else { Duration::from_micros(vu.rng.random_range(lo..=hi)) }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// An open-model scenario on this thread: every T-th arrival slot, each given to a free VU or
/// counted as dropped.
async fn open_scenario(ctx: Rc<Ctx>, si: usize) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    let (pre, max) = match &sc.executor {
        Executor::ConstantArrivalRate { pre_allocated_vus, max_vus, .. }
        | Executor::RampingArrivalRate { pre_allocated_vus, max_vus, .. } => {
            (*pre_allocated_vus as u64, (*max_vus).max(*pre_allocated_vus) as u64)
        }
        _ => return,
    };
    // Threads without a VU of their own take no slots, so no slot is dropped for lack of a
    // thread-local VU while another thread has one free.
    let t = (shared.threads as u64).min(max.max(1));
    let me = ctx.idx as u64;
    if me >= t {
        return;
    }
    let share = |n: u64| n / t + u64::from(me < n % t);
    let cap = share(max).max(1);
    let ramp = schedule::ramp_of(&sc.executor);
    let total = schedule::total_arrivals(&sc.executor);
    let end = sc.start_time + ramp.total();
    let pool: Rc<RefCell<Vec<Vu>>> = Rc::new(RefCell::new(Vec::new()));
    let mut next_id = shared.vu_base[si] + me + 1;
    let mut allocated = 0u64;
    for _ in 0..share(pre).min(cap) {
        pool.borrow_mut().push(Vu::new(next_id, shared.seed));
        next_id += t;
        allocated += 1;
    }
    ctx.allocated.set(ctx.allocated.get() + allocated);
    let inflight = Rc::new(Cell::new(0u64));
    let idle = Rc::new(tokio::sync::Notify::new());
    let origin = at(&shared, sc.start_time);
    let hard_end = at(&shared, end + sc.graceful_stop);
    schedule::pace(&ramp, me, t, total, origin, shared.stop.cancelled(), |_, due| {
        let intended = due.into_std();
        let vu = pool.borrow_mut().pop().or_else(|| {
            (allocated < cap).then(|| {
                allocated += 1;
                ctx.allocated.set(ctx.allocated.get() + 1);
                let v = Vu::new(next_id, shared.seed);
                next_id += t;
                v
            })
        });
        let Some(mut vu) = vu else {
            ctx.recorder.borrow_mut().record_dropped(1);
            return;
        };
        inflight.set(inflight.get() + 1);
        ctx.vus_add(1);
        let (ctx2, pool2, inflight2, idle2) =
            (ctx.clone(), pool.clone(), inflight.clone(), idle.clone());
        tokio::task::spawn_local(async move {
            let shared = ctx2.shared.clone();
            let t0 = Instant::now();
            let r = tokio::select! {
                biased;
                _ = iteration(&ctx2, si, &mut vu, Some(intended)) => true,
                _ = sleep_until(hard_end) => false,
                _ = stop_expired(&shared) => false,
            };
            ctx2.recorder.borrow_mut().record_iteration(micros(t0.elapsed()), !r);
            if !r {
                vu.conn = None;
            }
            pool2.borrow_mut().push(vu);
            ctx2.vus_add(-1);
            inflight2.set(inflight2.get() - 1);
            if inflight2.get() == 0 {
                idle2.notify_one();
            }
        });
    })
    .await;
    while inflight.get() > 0 {
        idle.notified().await;
    }
}

/// One iteration: a flow picked by weight, its steps in order. True when a request failed at
/// the transport level (the caller yields so a failing target cannot starve the thread).
async fn iteration(ctx: &Ctx, si: usize, vu: &mut Vu, intended: Option<Instant>) -> bool {
    let shared = &ctx.shared;
    let spec = &shared.spec;
    let sc: &Scenario = &spec.scenarios[si];
    sc.begin_iteration(spec, &mut vu.state);
    let fi = sc.pick_flow(&mut vu.state).min(sc.flows.len().saturating_sub(1));
    let flow = &sc.flows[fi];
    let mut any_failure = false;
    for (i, step) in flow.steps.iter().enumerate() {
        let info = &shared.steps[si][fi][i];
        let rendered;
        let req = match &info.fixed {
            // A fixed request carries no cookies: render when the jar has some.
            Some(p) if vu.state.cookies.is_empty() => Ok(p),
            _ => {
                let r = step.render(spec.base_url.as_ref(), &spec.http, &mut vu.state);
                rendered = Prepared::new(
                    r.method,
                    &r.url,
                    &r.headers,
                    Bytes::from(r.body),
                    spec.http.keepalive,
                );
                rendered.as_ref().map_err(|_| ())
            }
        };
        let timeout = step.timeout.unwrap_or(spec.http.timeout);
        match req {
            Ok(req) => {
                ctx.client
                    .send(
                        &mut vu.conn,
                        req,
                        timeout,
                        info.keep_body,
                        shared.backend_header.as_ref(),
                        &mut vu.ex,
                    )
                    .await;
            }
            Err(()) => {
                vu.ex = Exchange::default();
                vu.ex.failure = Some(volley_metrics::FailureKind::Other);
            }
        }
        let ex = &vu.ex;
        let (start, end) = ex.span();
        let outcome = match ex.failure {
            Some(k) => {
                any_failure = true;
                Outcome::Failure(k)
            }
            None => Outcome::Response {
                status: ex.status,
                expected: spec.http.expected_statuses.contains(ex.status),
            },
        };
        let measured = match outcome {
            Outcome::Response { .. } => ex.sending_us + ex.waiting_us + ex.receiving_us,
            Outcome::Failure(_) => micros(end - start),
        };
        // Open model, first step: measured from when it should have started, so a stalled
        // server shows in the percentiles (no coordinated omission).
        let first_open = if i == 0 { intended } else { None };
        let (duration_us, raw_us, lag_us) = match first_open {
            // A slot started up to half a timer tick early counts from its actual start.
            Some(due) => (
                micros(end.saturating_duration_since(due.min(start))),
                Some(micros(end - start)),
                Some(micros(start.saturating_duration_since(due))),
            ),
            None => (measured, None, None),
        };
        let sample = Sample {
            endpoint: info.endpoint,
            scenario: si,
            flow: shared.flow_base[si] + fi,
            outcome,
            duration_us,
            raw_us,
            lag_us,
            connecting_us: ex.connecting_us,
            tls_us: ex.tls_us,
            sending_us: ex.sending_us,
            waiting_us: ex.waiting_us,
            receiving_us: ex.receiving_us,
            bytes_sent: ex.bytes_sent,
            bytes_received: ex.bytes_received,
            backend: match (&shared.backend_header, ex.has_backend) {
                (None, _) => None,
                (Some(_), true) => Some(ex.backend.as_str()),
                (Some(_), false) => Some("(none)"),
            },
        };
        ctx.recorder.borrow_mut().record(&sample);
        if ex.set_cookie
            && let Ok(req) = req
        {
            vu.state.store_cookies(&req.url, &ex.headers);
        }
        if info.keep_body {
            let view = ResponseView {
                status: ex.status,
                headers: &ex.headers,
                body: &ex.body,
                duration: Duration::from_micros(measured),
            };
            let mut rec = ctx.recorder.borrow_mut();
            for (ci, c) in step.checks.iter().enumerate() {
                rec.record_check(info.check_base + ci, c.evaluate(&view));
            }
            drop(rec);
            for x in &step.extract {
                x.apply(&view, &mut vu.state);
            }
        }
        if let Some(tt) = step.think_time
            && i + 1 < flow.steps.len()
        {
            tokio::time::sleep(think(&mut vu.state, tt)).await;
        }
    }
    vu.state.iteration += 1;
    any_failure
}
