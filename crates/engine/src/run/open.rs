//! The open model: iterations started on an arrival schedule (constant-arrival-rate,
//! ramping-arrival-rate), each given to a free VU of a per-thread pool or counted as dropped.
//!
//! Each VU of the pool is one task for the whole scenario, parked on its [`Seat`] between
//! iterations; the pacer hands it a slot there. A task per arrival would allocate per arrival
//! (the task, its future) and register every iteration with the run's stop token, whose lock
//! every thread shares.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use tokio::time::sleep_until;

use super::iteration::{Vu, iteration, micros};
use super::{Ctx, at, stop_expired, unless_cut};
use crate::rare::Rare;
use crate::schedule;

/// What the pacer gave an idle VU.
#[derive(Clone, Copy, Default)]
enum Given {
    #[default]
    Nothing,
    /// Run one iteration for the slot due at this instant.
    Slot(Instant),
    /// The scenario is over: end the task.
    Close,
}

/// Where one idle VU of the pool waits for the pacer.
#[derive(Default)]
struct Seat {
    given: Cell<Given>,
    waker: Cell<Option<Waker>>,
}

impl Seat {
    fn give(&self, g: Given) {
        self.given.set(g);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn next(&self) -> Given {
        poll_fn(|cx| match self.given.take() {
            Given::Nothing => {
                let w = self.waker.take().filter(|w| w.will_wake(cx.waker()));
                self.waker.set(Some(w.unwrap_or_else(|| cx.waker().clone())));
                Poll::Pending
            }
            g => Poll::Ready(g),
        })
        .await
    }
}

/// The VUs of one scenario on one thread.
#[derive(Default)]
struct Pool {
    /// Seats of the VUs with no iteration, the most recently freed last (its connection is
    /// the likeliest to be open).
    idle: RefCell<Vec<Rc<Seat>>>,
    inflight: Cell<u64>,
    /// Notified each time an iteration ends: the pacer waits on it when no VU is free, and
    /// the end of the scenario waits on it for the last iterations.
    freed: tokio::sync::Notify,
}

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
    let pool = Rc::new(Pool::default());
    let origin = at(&shared, sc.start_time);
    let hard_end = at(&shared, end.saturating_add(sc.graceful_stop));
    let mut next_id = shared.vu_base[si] + me + 1;
    let mut allocated = 0u64;
    // A new VU of the pool, if it may have one more.
    let mut add_vu = || {
        if allocated >= cap {
            return None;
        }
        allocated += 1;
        ctx.allocated.set(ctx.allocated.get() + 1);
        let seat = Rc::new(Seat::default());
        let vu = Vu::new(next_id, shared.seed);
        next_id += t;
        tokio::task::spawn_local(open_vu(
            ctx.clone(),
            si,
            vu,
            seat.clone(),
            pool.clone(),
            hard_end,
        ));
        Some(seat)
    };
    for _ in 0..share(pre) {
        let Some(seat) = add_vu() else { break };
        pool.idle.borrow_mut().push(seat);
    }
    let slots = schedule::Slots::new(me, t, total);
    let start = |_, due: tokio::time::Instant| {
        let seat = pool.idle.borrow_mut().pop();
        let Some(seat) = seat.or_else(&mut add_vu) else {
            return false;
        };
        pool.inflight.set(pool.inflight.get() + 1);
        ctx.vus_add(1);
        seat.give(Given::Slot(due.into_std()));
        true
    };
    let stop = shared.stop.cancelled();
    let drop = |n| ctx.recorder.borrow_mut().record_dropped(si, n);
    // Arrivals on a microsecond timer where there is one (see `fine_timer`).
    let fine = crate::fine_timer::FineTimer::new();
    let freed = || pool.freed.notified();
    schedule::pace(&arrivals, slots, origin, stop, start, freed, drop, fine.as_ref()).await;
    while pool.inflight.get() > 0 {
        pool.freed.notified().await;
    }
    for seat in pool.idle.borrow_mut().drain(..) {
        seat.give(Given::Close);
    }
}

/// One VU of the pool: runs the slots given to its seat until the scenario closes it, its
/// graceful stop expires, or the run's stop does.
async fn open_vu(
    ctx: Rc<Ctx>,
    si: usize,
    mut vu: Vu,
    seat: Rc<Seat>,
    pool: Rc<Pool>,
    hard_end: tokio::time::Instant,
) {
    let shared = ctx.shared.clone();
    // Made once per VU: both race every iteration and almost never fire.
    let stop = stop_expired(&shared);
    tokio::pin!(stop);
    let cutoff = sleep_until(hard_end);
    tokio::pin!(cutoff);
    let (mut stop, mut cutoff) = (Rare::new(stop), Rare::new(cutoff));
    while let Given::Slot(intended) = seat.next().await {
        let t0 = Instant::now();
        let work = std::pin::pin!(iteration(&ctx, si, &mut vu, Some(intended)));
        let completed = unless_cut(work, &mut cutoff, &mut stop).await.is_some();
        ctx.recorder.borrow_mut().record_iteration(si, micros(t0.elapsed()), !completed);
        ctx.vus_add(-1);
        pool.inflight.set(pool.inflight.get() - 1);
        if completed {
            pool.idle.borrow_mut().push(seat.clone());
        }
        pool.freed.notify_one();
        // Cut off or stopped: the pacer gives no slot after either.
        if !completed {
            return;
        }
    }
}
