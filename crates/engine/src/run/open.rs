//! The open model: iterations started on an arrival schedule (constant-arrival-rate,
//! ramping-arrival-rate), each given to a free VU of a per-thread pool or counted as dropped.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use tokio::time::sleep_until;

use super::iteration::{Vu, iteration, micros};
use super::{Ctx, at, stop_expired};
use crate::schedule;

/// An open-model scenario on this thread: every T-th arrival slot, each given to a free VU or
/// counted as dropped.
pub(super) async fn open_scenario(ctx: Rc<Ctx>, si: usize) {
    let shared = ctx.shared.clone();
    let sc = &shared.spec.scenarios[si];
    if !sc.executor.is_open() {
        return;
    }
    // This generator's segment of the pool (a segment whose share rounds to no VU still gets
    // one, so that its arrivals are run rather than all dropped).
    let part = &shared.shares[si];
    let (pre, max) = (part.pre_allocated_vus, part.max_vus.max(part.pre_allocated_vus).max(1));
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
    let arrivals = schedule::Arrivals::new(&ramp, &shared.tuple, part.arrivals);
    let total = arrivals.count();
    let end = sc.start_time.saturating_add(ramp.total());
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
    // Notified each time a VU is back in the pool: the pacer waits on it when none is free,
    // and the end of the scenario waits on it for the last iterations.
    let freed = Rc::new(tokio::sync::Notify::new());
    let origin = at(&shared, sc.start_time);
    let hard_end = at(&shared, end.saturating_add(sc.graceful_stop));
    let slots = schedule::Slots::new(me, t, total);
    let start = |_, due: tokio::time::Instant| {
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
        let Some(mut vu) = vu else { return false };
        inflight.set(inflight.get() + 1);
        ctx.vus_add(1);
        let (ctx2, pool2, inflight2, freed2) =
            (ctx.clone(), pool.clone(), inflight.clone(), freed.clone());
        tokio::task::spawn_local(async move {
            let shared = ctx2.shared.clone();
            let t0 = Instant::now();
            let r = tokio::select! {
                biased;
                _ = iteration(&ctx2, si, &mut vu, Some(intended)) => true,
                _ = sleep_until(hard_end) => false,
                _ = stop_expired(&shared) => false,
            };
            ctx2.recorder.borrow_mut().record_iteration(si, micros(t0.elapsed()), !r);
            if !r {
                vu.conn = None;
            }
            pool2.borrow_mut().push(vu);
            ctx2.vus_add(-1);
            inflight2.set(inflight2.get() - 1);
            freed2.notify_one();
        });
        true
    };
    let stop = shared.stop.cancelled();
    let drop = |n| ctx.recorder.borrow_mut().record_dropped(si, n);
    schedule::pace(&arrivals, slots, origin, stop, start, || freed.notified(), drop).await;
    while inflight.get() > 0 {
        freed.notified().await;
    }
}
