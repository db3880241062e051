//! The closed model: a fixed or ramping number of VUs, each looping iterations while its
//! executor lets it (constant-vus, ramping-vus, per-vu-iterations, shared-iterations).

use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use tokio::time::sleep_until;
use volley_plan::Executor;

use super::iteration::{Vu, iteration, pipelined, think};
use super::{Ctx, at, instant_after, stop_expired, unless_cut};
use crate::clock::Tick;
use crate::rare::Rare;
use crate::schedule;

/// How often a held VU (paused, or above the externally-controlled count) looks again.
const HOLD_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A VU of a closed-model executor: loops iterations while its executor lets it.
pub(super) async fn closed_vu(ctx: Rc<Ctx>, si: usize, g: u64) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    // Ticks, as the transport's: the loop's clock arithmetic is then integer arithmetic.
    let clock = ctx.client.clock;
    let sc_start = clock.tick(instant_after(shared.start, sc.start_time));
    let ramp = schedule::ramp_of(&sc.executor);
    let end = sc.start_time.saturating_add(ramp.total());
    let hard_end = at(&shared, end.saturating_add(sc.graceful_stop));
    let end_at = clock.tick(instant_after(shared.start, end));
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
    // Both race every iteration and almost never fire: polled only when their waker did.
    let (mut stop, mut cutoff) = (Rare::new(stop), Rare::new(cutoff));
    let mut cutoff_at = hard_end;
    // Pipelining: each pass of the loop runs a batch of this many iterations (one request
    // each) on the VU's connection.
    let pipe = u64::from(shared.spec.http.pipeline.max(1));
    // When the last iteration ended, if the next one follows it at once: that end is this
    // one's start (the bookkeeping between them is counted in), which saves a clock read.
    let mut ended: Option<Tick> = None;
    loop {
        let now = ended.take().unwrap_or_else(Tick::now);
        if ctx.stopped.get() || now >= end_at {
            break;
        }
        // Paused, or above an externally-controlled VU count: wait, idle, and look again.
        if shared.control.holds(&sc.executor, g) {
            set_active(&ctx, &mut active, false);
            tokio::select! {
                _ = tokio::time::sleep(HOLD_POLL) => continue,
                _ = ctx.stop_signal() => break,
            }
        }
        let mut deadline = hard_end;
        let mut n = pipe;
        match &sc.executor {
            Executor::PerVuIterations { iterations, .. } if done >= *iterations => break,
            Executor::PerVuIterations { iterations, .. } => n = n.min(iterations - done),
            Executor::SharedIterations { .. } => {
                let total = shared.shares[si].iterations;
                let before = shared.claimed[si].fetch_add(pipe, Ordering::Relaxed);
                if before >= total {
                    break;
                }
                n = n.min(total - before);
            }
            Executor::RampingVus { graceful_ramp_down, .. } => {
                let t = std::time::Duration::from_nanos(now.nanos_since(sc_start));
                let need = (g + 1) as f64;
                if ramp.value_at(t) < need {
                    set_active(&ctx, &mut active, false);
                    match ramp.first_at_least(need, t) {
                        Some(on) => {
                            tokio::select! {
                                _ = sleep_until(at(&shared, sc.start_time.saturating_add(on))) => continue,
                                _ = ctx.stop_signal() => break,
                            }
                        }
                        None => break,
                    }
                }
                if let Some(off) = ramp.first_below(need, t) {
                    let off = sc.start_time.saturating_add(off).saturating_add(*graceful_ramp_down);
                    deadline = deadline.min(at(&shared, off));
                }
            }
            _ => {}
        }
        set_active(&ctx, &mut active, true);
        let t0 = now;
        if deadline != cutoff_at {
            cutoff.rearm().as_mut().reset(deadline);
            cutoff_at = deadline;
        }
        // Each future is made in its pinned place (a move would copy it, every iteration).
        let failed = if pipe > 1 {
            let work = pin!(pipelined(&ctx, si, &mut vu, n as usize));
            unless_cut(work, &mut cutoff, &mut stop).await
        } else {
            let work = pin!(iteration(&ctx, si, &mut vu, None));
            unless_cut(work, &mut cutoff, &mut stop).await
        };
        // A completed iteration ended with its last request (step pauses come between
        // steps), so its end needs no clock read of its own, unless the scenario's think time
        // follows: that is part of the iteration, as a k6 `sleep()` at the end of the default
        // function is part of `iteration_duration`.
        let mut t1 = match failed {
            Some(_) if pipe == 1 => vu.ended.unwrap_or_else(Tick::now),
            Some(_) => Tick::now(),
            None => Tick::now(),
        };
        let mut stopped = false;
        if failed.is_some()
            && let Some(tt) = sc.think_time
        {
            let pause = think(&mut vu.state, tt);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = sleep_until(at(&shared, end)) => {}
                _ = ctx.stop_signal() => stopped = true,
            }
            t1 = Tick::now();
        }
        let elapsed = t1.micros_since(t0);
        // A batch is n iterations of one request each, all ending with the batch.
        for _ in 0..n {
            ctx.recorder.borrow_mut().record_iteration(si, elapsed, failed.is_none());
        }
        done += n;
        match failed {
            None => {
                vu.conn = None;
                // Cut off by a ramp-down: the VU may come back when the ramp rises again.
                if matches!(sc.executor, Executor::RampingVus { .. })
                    && !ctx.stopped.get()
                    && Tick::now() < end_at
                {
                    continue;
                }
                break;
            }
            _ if stopped => break,
            // An iteration that failed at once must still let the ticker and stop run.
            Some(true) => tokio::task::yield_now().await,
            Some(false) => ended = Some(t1),
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
