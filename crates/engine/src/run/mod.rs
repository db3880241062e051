//! The run itself: worker threads, their per-thread context and per-second ticker.
//!
//! Each worker thread owns a single-threaded tokio runtime, one [`Recorder`] and one
//! [`Client`]; it runs its share of every scenario's VUs (closed model, [`closed`]) or arrival
//! slots (open model, [`open`]: thread i of T takes slots i, i+T, i+2T ..., so the union is
//! exactly the schedule); each VU runs [`iteration`]s. Everything the threads read is built
//! once by [`setup`]. The calling thread is the [`collector`]: it turns the threads'
//! per-second intervals into the time series and progress snapshots, and evaluates
//! `abortOnFail` thresholds.

mod closed;
mod collector;
mod iteration;
mod open;
mod setup;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use tokio::time::sleep_until;
use volley_metrics::Recorder;
use volley_plan::Spec;

use crate::assemble::{self, Facts};
use crate::clock::Tick;
use crate::rare::Rare;
use crate::transport::{Client, ConnGauge};
use crate::{EngineError, RunOptions};
use collector::{Msg, collect};
use setup::Shared;

/// What a worker thread hands back when it is done.
struct ThreadOut {
    recorder: Recorder,
    peak_connections: u64,
    peak_vus: u64,
    peak_active: u64,
    /// Responses by HTTP/1.1 and by HTTP/2.
    protocols: [u64; 2],
    /// The thread's lifetime, and how much of it its event loop was parked.
    wall: Duration,
    idle: Duration,
}

pub(crate) fn run(spec: &Spec, opts: RunOptions) -> Result<volley_metrics::RunResult, EngineError> {
    // Before any VU moves the spec's counters (feeder cursors, `seq`).
    let plan_fingerprint = fingerprint(spec);
    let shared = Arc::new(setup::shared(spec, &opts)?);
    let started_at = SystemTime::now();
    let (threads, names) = (shared.threads, shared.names.clone());
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
    let mut protocols = [0u64; 2];
    let (mut wall, mut idle) = (Duration::ZERO, Duration::ZERO);
    for o in &outs {
        wall += o.wall;
        idle += o.idle.min(o.wall);
        merged.merge(&o.recorder);
        peak_connections += o.peak_connections;
        peak_vus += o.peak_vus;
        peak_active += o.peak_active;
        protocols[0] += o.protocols[0];
        protocols[1] += o.protocols[1];
    }
    // The `vus` gauge is sampled once per second, as k6 does; a run shorter than a second
    // has no sample, and then reports the VUs it ran (per-thread peaks, summed).
    let (vus_last, vus_min, vus_peak) = match collected.vus_seen {
        true => (collected.vus_last, collected.vus_min, collected.vus_peak),
        false => (peak_active, peak_active, peak_active),
    };
    let facts = Facts {
        started_at,
        start: shared.start,
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
        responses_h1: protocols[0],
        responses_h2: protocols[1],
        generator_busy: if wall.is_zero() {
            0.0
        } else {
            1.0 - idle.as_secs_f64() / wall.as_secs_f64()
        },
        segment: shared.tuple.clone(),
    };
    let mut config = opts.config;
    if !shared.tuple.is_full() {
        config.execution_segment = Some(shared.tuple.segment.to_string());
        config.execution_segment_sequence = shared.tuple.sequence_text();
    }
    config.plan_fingerprint = Some(plan_fingerprint);
    Ok(assemble::result(spec, &names, &merged, collected.series.finish(), config, facts))
}

/// What identifies the test whatever the generator and segment: the validated spec, without
/// the path it was read from, before any VU touched its counters.
fn fingerprint(spec: &Spec) -> String {
    let mut spec = spec.clone();
    spec.source = None;
    volley_metrics::fingerprint(&format!("{spec:?}"))
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
    /// The run's stop token, cached per thread (as mini-redis's `Shutdown` caches its
    /// broadcast): `CancellationToken::is_cancelled` takes the token's mutex, which every VU
    /// of every thread would otherwise take on every iteration. Set by [`watch_stop`].
    stopped: Cell<bool>,
    /// Woken with `stopped`, for the VUs that wait (think time, a hold, a ramp): waiting on
    /// the token itself would take its lock each time, shared by every thread.
    stop_now: tokio::sync::Notify,
}

impl Ctx {
    /// Resolves once the run is stopped (at once if it already is).
    async fn stop_signal(&self) {
        let woken = self.stop_now.notified();
        tokio::pin!(woken);
        // Registered before the flag is read, so that a stop between the two is not missed.
        woken.as_mut().enable();
        if !self.stopped.get() {
            woken.await;
        }
    }

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

/// How long a worker thread's event loop sat idle (parked, waiting for I/O or a timer). The
/// rest of its wall time it was working, or ready to work and waiting for a core: a loop that
/// never parks is a generator at its limit, whatever the server does.
///
/// Read twice per park, which at `-c 1` is twice per request: hence ticks, not `Instant`s.
#[derive(Default)]
struct ParkClock {
    /// Nanoseconds since `origin` when the loop last parked.
    parked_at: AtomicU64,
    parked_ns: AtomicU64,
}

impl ParkClock {
    fn now(origin: Tick) -> u64 {
        Tick::now().nanos_since(origin)
    }
}

fn worker_thread(idx: usize, shared: Arc<Shared>, tx: mpsc::Sender<Msg>) -> ThreadOut {
    let began = Instant::now();
    let origin = Tick::now();
    let clock = Arc::new(ParkClock::default());
    let (on_park, on_unpark) = (clock.clone(), clock.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || on_park.parked_at.store(ParkClock::now(origin), Relaxed))
        .on_thread_unpark(move || {
            let idle = ParkClock::now(origin).saturating_sub(on_unpark.parked_at.load(Relaxed));
            on_unpark.parked_ns.fetch_add(idle, Relaxed);
        })
        .build();
    let rt = match rt {
        Ok(rt) => rt,
        Err(_) => {
            let _ = tx.send(Msg::Done(idx));
            return ThreadOut {
                recorder: Recorder::new(&shared.names),
                peak_connections: 0,
                peak_vus: 0,
                peak_active: 0,
                protocols: [0; 2],
                wall: Duration::ZERO,
                idle: Duration::ZERO,
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
            h2: crate::http2::Pool::new(shared.spec.http.streams),
            retry_non_idempotent: shared.spec.http.retry_non_idempotent,
            clock: crate::clock::Anchor::new(),
        },
        shared,
        idx,
        vus: Cell::new(0),
        allocated: Cell::new(0),
        vus_peak: Cell::new(0),
        vus_second: Cell::new(0),
        stopped: Cell::new(false),
        stop_now: tokio::sync::Notify::new(),
    });
    local.block_on(&rt, async {
        let ticker = tokio::task::spawn_local(ticker(ctx.clone(), tx.clone()));
        let watcher = tokio::task::spawn_local(watch_stop(ctx.clone()));
        let mut scenarios = Vec::new();
        for si in 0..ctx.shared.spec.scenarios.len() {
            scenarios.push(tokio::task::spawn_local(run_scenario(ctx.clone(), si)));
        }
        for s in scenarios {
            let _ = s.await;
        }
        ticker.abort();
        let _ = ticker.await;
        watcher.abort();
        let _ = watcher.await;
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
        protocols: [ctx.client.h2.responses_h1.get(), ctx.client.h2.responses_h2.get()],
        wall: began.elapsed(),
        idle: Duration::from_nanos(clock.parked_ns.load(Relaxed)),
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

/// Sets the thread's cached stop flag once the run is stopped (one registration with the
/// token per thread).
async fn watch_stop(ctx: Rc<Ctx>) {
    ctx.shared.stop.cancelled().await;
    ctx.stopped.set(true);
    ctx.stop_now.notify_waiters();
}

/// Resolves when the run is stopped (Ctrl-C, abort) and its grace period has passed.
async fn stop_expired(shared: &Shared) {
    shared.stop.cancelled().await;
    tokio::time::sleep(shared.grace).await;
}

/// Runs a VU's `work` unless its graceful-stop `cutoff` or the run's expired `stop` comes
/// first (`None`): a biased `select!` of the three, without its per-poll machinery, since
/// it is polled on every wake of every VU. `work` is pinned where the caller made it: taken
/// by value, the iteration's future (kilobytes) was copied on every iteration.
fn unless_cut<'a, W, A, B>(
    mut work: Pin<&'a mut W>,
    cutoff: &'a mut Rare<A>,
    stop: &'a mut Rare<B>,
) -> impl Future<Output = Option<W::Output>> + 'a
where
    W: Future,
    A: Future + Unpin,
    B: Future + Unpin,
{
    poll_fn(move |cx| {
        if let Poll::Ready(r) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if Pin::new(&mut *cutoff).poll(cx).is_ready() || Pin::new(&mut *stop).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
}

/// The instant `d` after the start of the run. A time no clock can represent (a plan's absurd
/// duration) becomes a far future, so that no schedule arithmetic can panic.
fn at(shared: &Shared, d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(instant_after(shared.start, d))
}

/// `t + d`, or a far future (30 years after `t`) when that overflows the clock.
fn instant_after(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

async fn run_scenario(ctx: Rc<Ctx>, si: usize) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    tokio::select! {
        _ = sleep_until(at(&shared, sc.start_time)) => {}
        _ = shared.stop.cancelled() => return,
    }
    if sc.executor.is_open() {
        open::open_scenario(ctx, si).await;
    } else {
        // This generator's VUs (its segment's share), numbered as in the whole run.
        let total = shared.shares[si].vus;
        // Dealt to the threads in blocks of `streams`: the VUs that share an HTTP/2
        // connection (`-p`) are on one thread.
        let t = shared.threads as u64;
        let block = u64::from(shared.spec.http.streams.max(1));
        let mut vus = Vec::new();
        for j in (0..total).filter(|j| (j / block) % t == ctx.idx as u64) {
            let g = shared.tuple.global(j);
            vus.push(tokio::task::spawn_local(closed::closed_vu(ctx.clone(), si, g)));
        }
        for v in vus {
            let _ = v.await;
        }
    }
}
