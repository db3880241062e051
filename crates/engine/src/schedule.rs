//! When things happen: the pure arithmetic of executors, separate from any clock.
//!
//! Ramping executors follow linear stages (a VU count, or an arrival rate per second). The
//! engine asks questions of the shape "from time t, when does VU number i become active?" or
//! "at what time does the k-th arrival fall?", answered here exactly, so that the worker loop
//! sleeps until the answer instead of polling, and so that schedules are tested without time.

use crate::fine_timer::{FINE_AHEAD, FINE_HORIZON, FineTimer};
use std::time::Duration;

use volley_metrics::segment::Tuple;
use volley_plan::{Executor, Stage};

/// A piecewise-linear function of time: `start` at t = 0, then a linear ramp to each stage's
/// target over the stage's duration. Holds the last value after the last stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    pub start: f64,
    pub stages: Vec<Stage>,
}

impl Ramp {
    pub fn new(start: f64, stages: &[Stage]) -> Self {
        Ramp { start, stages: stages.to_vec() }
    }

    /// A constant value for `duration`.
    pub fn constant(value: f64, duration: Duration) -> Self {
        Ramp { start: value, stages: vec![Stage { duration, target: value }] }
    }

    /// Saturates instead of overflowing: a plan may add up durations no clock can reach.
    pub fn total(&self) -> Duration {
        self.stages.iter().fold(Duration::ZERO, |t, s| t.saturating_add(s.duration))
    }

    /// Segments as (t0, t1, value at t0, value at t1), in seconds.
    fn segments(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        let mut t0 = 0.0;
        let mut v0 = self.start;
        self.stages.iter().map(move |s| {
            let t1 = t0 + s.duration.as_secs_f64();
            let seg = (t0, t1, v0, s.target);
            t0 = t1;
            v0 = s.target;
            seg
        })
    }

    /// The value at `t`.
    pub fn value_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut last = self.start;
        for (t0, t1, a, b) in self.segments() {
            if t < t1 {
                if t1 <= t0 {
                    return b;
                }
                return a + (b - a) * (t - t0) / (t1 - t0);
            }
            last = b;
        }
        last
    }

    /// Active VUs at `t` (the ramp's value rounded down), as k6's ramping-vus.
    pub fn vus_at(&self, t: Duration) -> u64 {
        self.value_at(t).max(0.0).floor() as u64
    }

    /// The earliest time `>= from` and `< total()` at which the value is at least `x`.
    pub fn first_at_least(&self, x: f64, from: Duration) -> Option<Duration> {
        let from_s = from.as_secs_f64();
        for (t0, t1, a, b) in self.segments() {
            if t1 <= from_s || t1 <= t0 {
                continue;
            }
            let lo = t0.max(from_s);
            let v_lo = a + (b - a) * (lo - t0) / (t1 - t0);
            if v_lo >= x {
                return Some(secs(lo));
            }
            if b > a && b >= x {
                let t = t0 + (x - a) / (b - a) * (t1 - t0);
                // Rounding may land a hair before the crossing; never before `lo`.
                let t = t.max(lo);
                if t < t1 {
                    return Some(secs(t).max(from));
                }
            }
        }
        None
    }

    /// The earliest time `>= from` at which the value drops below `x`; `None` if it never does
    /// before the end of the last stage.
    pub fn first_below(&self, x: f64, from: Duration) -> Option<Duration> {
        let from_s = from.as_secs_f64();
        for (t0, t1, a, b) in self.segments() {
            if t1 <= from_s || t1 <= t0 {
                continue;
            }
            let lo = t0.max(from_s);
            let v_lo = a + (b - a) * (lo - t0) / (t1 - t0);
            if v_lo < x {
                return Some(secs(lo));
            }
            if b < a && b < x {
                let t = t0 + (a - x) / (a - b) * (t1 - t0);
                // Strictly below: one microsecond after the crossing.
                let t = secs(t.max(lo)).saturating_add(Duration::from_micros(1));
                if t.as_secs_f64() < t1 {
                    return Some(t.max(from));
                }
                return Some(secs(t1));
            }
        }
        None
    }

    /// Arrivals between 0 and `t` when the value is a rate per second (the integral).
    pub fn arrivals_until(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut n = 0.0;
        for (t0, t1, a, b) in self.segments() {
            if t <= t0 {
                break;
            }
            let end = t.min(t1);
            let s = end - t0;
            let d = t1 - t0;
            if d > 0.0 {
                n += a * s + (b - a) * s * s / (2.0 * d);
            }
        }
        n
    }

    /// Time of the `k`-th arrival (k from 0; arrival k falls when the integral reaches k),
    /// or `None` when it falls at or after the end of the last stage.
    pub fn arrival_time(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        let mut n0 = 0.0;
        for (t0, t1, a, b) in self.segments() {
            let d = t1 - t0;
            if d <= 0.0 {
                continue;
            }
            let seg_n = a * d + (b - a) * d / 2.0;
            if n0 + seg_n > k || (k == 0.0 && n0 == 0.0 && a > 0.0) {
                let need = k - n0;
                if need <= 0.0 {
                    return Some(secs(t0));
                }
                // Solve a·s + c·s²/2 = need for s, in the cancellation-free form.
                let c = (b - a) / d;
                let disc = a * a + 2.0 * c * need;
                if disc < 0.0 {
                    n0 += seg_n;
                    continue;
                }
                let denom = a + disc.sqrt();
                if denom <= 0.0 {
                    n0 += seg_n;
                    continue;
                }
                let s = 2.0 * need / denom;
                if t0 + s < t1 {
                    return Some(secs(t0 + s));
                }
            }
            n0 += seg_n;
        }
        None
    }

    /// How many arrivals fall at or before `t` (at most `total`): the first slot still to
    /// come at `t`. Exact with respect to [`Ramp::arrival_time`], in O(stages): the integral
    /// gives an estimate, a galloping search around it the exact boundary.
    pub fn arrivals_by(&self, t: Duration, total: u64) -> u64 {
        let by = |k: u64| k < total && self.arrival_time(k).is_some_and(|a| a <= t);
        let est = self.arrivals_until(t).floor();
        let est = if est.is_finite() && est >= 0.0 { (est as u64).saturating_add(1) } else { 0 };
        let est = est.min(total);
        // Invariant: every slot below `lo` is due by `t`, slot `hi` (if below total) is not.
        let (mut lo, mut hi);
        if by(est) {
            lo = est + 1;
            let mut d = 1u64;
            loop {
                let h = est.saturating_add(d);
                if h >= total {
                    hi = total;
                    break;
                }
                if !by(h) {
                    hi = h;
                    break;
                }
                lo = h + 1;
                d = d.saturating_mul(2);
            }
        } else {
            hi = est;
            let mut d = 1u64;
            loop {
                if est < d {
                    lo = 0;
                    break;
                }
                let l = est - d;
                if by(l) {
                    lo = l + 1;
                    break;
                }
                hi = l;
                d = d.saturating_mul(2);
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if by(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The arrival slots of one generator: the slots of the whole schedule its execution segment
/// owns (k6's striping, [`Tuple`]), renumbered 0, 1, 2 ... Slot j of the segment is slot
/// `tuple.global(j)` of the unsegmented run and falls at the same time, so the segments'
/// arrivals together are the unsegmented schedule, arrival by arrival.
#[derive(Debug, Clone, Copy)]
pub struct Arrivals<'a> {
    pub ramp: &'a Ramp,
    pub tuple: &'a Tuple,
    /// Slots of the whole (unsegmented) schedule.
    pub total: u64,
}

impl<'a> Arrivals<'a> {
    pub fn new(ramp: &'a Ramp, tuple: &'a Tuple, total: u64) -> Self {
        Arrivals { ramp, tuple, total }
    }

    /// How many slots the segment owns.
    pub fn count(&self) -> u64 {
        self.tuple.scale(self.total)
    }

    /// When the segment's slot `j` falls.
    pub fn time(&self, j: u64) -> Option<Duration> {
        let k = self.tuple.global(j);
        if k >= self.total {
            return None;
        }
        self.ramp.arrival_time(k)
    }

    /// How many of the segment's slots fall at or before `t`.
    pub fn by(&self, t: Duration) -> u64 {
        self.tuple.scale(self.ramp.arrivals_by(t, self.total))
    }
}

/// One generator's share of an executor under its execution segment, as k6 scales it: counts
/// of VUs (and arrival-rate executors' VU pools) scaled by the striping, so the segments' shares
/// add up to the whole; VU number g and arrival slot k of the whole run belong to exactly one
/// segment; shared iterations split by the segments' shares of the VUs (a segment without VUs
/// gets none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Closed model: VUs this generator runs; its VU j is VU `tuple.global(j)` of the whole run
    /// (so it ramps up and down exactly when that VU would).
    pub vus: u64,
    /// shared-iterations: the iterations this generator's VUs share; per-vu-iterations: each
    /// VU's count (unscaled, as in k6).
    pub iterations: u64,
    /// Open model: the VU pool.
    pub pre_allocated_vus: u64,
    pub max_vus: u64,
    /// Open model: slots of the whole schedule (this generator runs `tuple.scale` of them).
    pub arrivals: u64,
}

/// This generator's share of `executor` (the whole of it when `tuple` is the full segment).
pub fn share(executor: &Executor, tuple: &Tuple) -> Share {
    let mut s = Share { vus: 0, iterations: 0, pre_allocated_vus: 0, max_vus: 0, arrivals: 0 };
    match *executor {
        Executor::ConstantVus { .. }
        | Executor::RampingVus { .. }
        | Executor::ExternallyControlled { .. } => {
            s.vus = tuple.scale(executor.max_vus() as u64);
        }
        Executor::PerVuIterations { vus, iterations, .. } => {
            s.vus = tuple.scale(vus as u64);
            s.iterations = iterations;
        }
        Executor::SharedIterations { vus, iterations, .. } => {
            s.iterations = tuple.resegment(vus as u64).map_or(0, |t| t.scale(iterations));
            // Never more VUs than iterations to claim (see `vus_needed`).
            s.vus = tuple.scale(vus as u64).min(s.iterations);
        }
        Executor::ConstantArrivalRate { pre_allocated_vus, .. }
        | Executor::RampingArrivalRate { pre_allocated_vus, .. } => {
            s.pre_allocated_vus = tuple.scale(pre_allocated_vus as u64);
            s.max_vus = tuple.scale(executor.max_vus() as u64);
            s.arrivals = total_arrivals(executor);
        }
    }
    s
}

/// The resolution of tokio's timer wheel, and half of it.
const TICK: Duration = Duration::from_millis(1);
const HALF_TICK: Duration = Duration::from_micros(500);

/// The arrival slots one worker thread takes: `first, first + step, ...` below `total` (thread
/// i of T takes i, i + T, ..., so the union over the threads is exactly the schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub first: u64,
    pub step: u64,
    pub total: u64,
}

impl Slots {
    pub fn new(first: u64, step: u64, total: u64) -> Self {
        Slots { first, step: step.max(1), total }
    }

    /// The first of these slots at or after slot `k` (`total` or more when none is left).
    pub fn next_from(&self, k: u64) -> u64 {
        if k <= self.first {
            return self.first;
        }
        let behind = k - self.first;
        let n = behind.div_ceil(self.step);
        self.first.saturating_add(n.saturating_mul(self.step))
    }

    /// How many of these slots lie in `[from, to)` (and below `total`).
    pub fn count(&self, from: u64, to: u64) -> u64 {
        let to = to.min(self.total);
        let (a, b) = (self.next_from(from), self.next_from(to));
        if a >= to { 0 } else { (b - a) / self.step }
    }
}

/// What the pacer did with one thread's slots. Every slot below `total` is either started or
/// dropped, unless the run was stopped before its time came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paced {
    pub started: u64,
    pub dropped: u64,
}

/// Paces the arrivals of an open-model scenario: offers each slot of `slots` (numbered within
/// this generator's segment) to `start(k, due)` at `origin + arrivals.time(k)`, until `stop`
/// resolves. `start` returns false when no VU
/// is free; the pacer then waits for `freed()` (a VU back in the pool) or the end of the
/// schedule, and every slot that fell due meanwhile is dropped and counted by arithmetic over
/// the schedule, never one by one: the cost of a run does not depend on its rate. Drops are
/// reported to `dropped(n)` as they are found.
///
/// With a [`FineTimer`] the pacer wakes [`FINE_AHEAD`] before a slot is due and starts every
/// slot due within [`FINE_HORIZON`]. Without one, on tokio's timers (which fire on
/// millisecond ticks, rounded up), it aims early by the lateness it has observed plus a tick,
/// and starts every slot due within half a tick, so sends are centred on the schedule rather
/// than always late. At high rates one wake starts several slots (yielding now and then so
/// that the VUs it starts get to run).
#[allow(clippy::too_many_arguments)]
pub async fn pace<S: Future, F: Future>(
    arrivals: &Arrivals<'_>,
    slots: Slots,
    origin: tokio::time::Instant,
    stop: S,
    mut start: impl FnMut(u64, tokio::time::Instant) -> bool,
    mut freed: impl FnMut() -> F,
    mut dropped: impl FnMut(u64),
    mut fine: Option<&FineTimer>,
) -> Paced {
    tokio::pin!(stop);
    let ramp = arrivals.ramp;
    let far = || origin + Duration::from_secs(86_400 * 365 * 30);
    let instant = |d: Duration| origin.checked_add(d).unwrap_or_else(far);
    let end = tokio::time::sleep_until(instant(ramp.total()));
    tokio::pin!(end);
    let mut k = slots.first;
    let mut out = Paced::default();
    let mut overshoot = Duration::ZERO;
    'slots: while k < slots.total {
        let Some(due) = arrivals.time(k) else { break };
        let due_at = instant(due);
        let now = tokio::time::Instant::now();
        let window = if fine.is_some() { FINE_HORIZON } else { HALF_TICK };
        if let Some(timer) = fine
            && due_at > now + window
        {
            let woke = tokio::select! {
                biased;
                _ = &mut stop => break 'slots,
                r = timer.sleep_until(due_at - FINE_AHEAD) => r,
            };
            // The kernel refused to arm it: tokio's timer from now on.
            if woke.is_err() {
                fine = None;
                continue 'slots;
            }
        } else if due_at > now + HALF_TICK {
            // Timers also fire late by a fairly steady amount (the tick rounding plus the
            // poll's own millisecond timeout): learn it and ask for that much earlier.
            // The first of these still in the future (the last always is).
            let wake = [due_at.checked_sub(TICK + overshoot), due_at.checked_sub(TICK)]
                .into_iter()
                .flatten()
                .find(|w| *w > now)
                .unwrap_or(due_at - HALF_TICK);
            tokio::select! {
                biased;
                _ = &mut stop => break 'slots,
                _ = tokio::time::sleep_until(wake) => {}
            }
            let over = tokio::time::Instant::now().saturating_duration_since(wake);
            overshoot = ((overshoot * 7 + over) / 8).min(Duration::from_millis(2));
        }
        let horizon = tokio::time::Instant::now() + window;
        let mut burst = 0u32;
        while k < slots.total {
            let Some(due) = arrivals.time(k) else { break 'slots };
            let due_at = instant(due);
            if due_at > horizon {
                break;
            }
            if start(k, due_at) {
                out.started += 1;
                k = k.saturating_add(slots.step);
                // Behind schedule, this loop could starve the VUs it starts (and the
                // ticker): let them run between bursts.
                burst += 1;
                if burst.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            // No VU free: every slot that falls due before one is back (or the schedule
            // ends, or the run is stopped) is dropped. Slot k may not be due yet (the horizon
            // starts slots a little early): a VU back before its time runs it.
            let stopped = tokio::select! {
                biased;
                _ = &mut stop => true,
                _ = freed() => false,
                _ = &mut end => false,
            };
            let now = tokio::time::Instant::now().saturating_duration_since(origin);
            let next = arrivals.by(now).min(slots.total);
            let n = slots.count(k, next);
            if n > 0 {
                out.dropped += n;
                dropped(n);
                k = slots.next_from(next);
            }
            if stopped {
                break 'slots;
            }
            continue 'slots;
        }
    }
    out
}

/// Seconds as a duration, saturating (at zero below, at `Duration::MAX` above or for NaN).
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// The VU-count or arrival-rate ramp of an executor, and its length.
pub fn ramp_of(executor: &Executor) -> Ramp {
    match executor {
        Executor::ConstantVus { vus, duration } => Ramp::constant(*vus as f64, *duration),
        // Its VU count is set during the run; the schedule only bounds it by max_vus.
        Executor::ExternallyControlled { max_vus, duration, .. } => {
            Ramp::constant(*max_vus as f64, *duration)
        }
        Executor::RampingVus { start_vus, stages, .. } => Ramp::new(*start_vus as f64, stages),
        Executor::PerVuIterations { vus, max_duration, .. }
        | Executor::SharedIterations { vus, max_duration, .. } => {
            Ramp::constant(*vus as f64, *max_duration)
        }
        Executor::ConstantArrivalRate { rate, duration, .. } => Ramp::constant(*rate, *duration),
        Executor::RampingArrivalRate { start_rate, stages, .. } => Ramp::new(*start_rate, stages),
    }
}

/// The most VUs an executor can keep busy at once: never more than it has iterations to run
/// (`-c 1000000 -n 10` needs 10), since a VU with nothing to claim would only cost memory.
pub fn vus_needed(executor: &Executor) -> u64 {
    match *executor {
        Executor::SharedIterations { vus, iterations, .. } => (vus as u64).min(iterations),
        _ => executor.max_vus() as u64,
    }
}

/// How long an executor runs before its graceful stop begins.
pub fn executor_duration(executor: &Executor) -> Duration {
    ramp_of(executor).total()
}

/// Number of arrivals an open-model executor schedules in total.
pub fn total_arrivals(executor: &Executor) -> u64 {
    let ramp = ramp_of(executor);
    let cap = match executor {
        Executor::ConstantArrivalRate { max_iterations: Some(m), .. } => *m,
        _ => u64::MAX,
    };
    // The integral gives the count up to rounding; confirm the last slot exactly.
    let approx = ramp.arrivals_until(ramp.total()).ceil() as u64;
    let mut n = approx.saturating_sub(2);
    while n < approx.saturating_add(2) && ramp.arrival_time(n).is_some() {
        n += 1;
    }
    n.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: u64, target: f64) -> Stage {
        Stage { duration: Duration::from_secs(s), target }
    }
    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn ramp_shape_and_stage_boundaries() {
        // Locust's 200 users spawned at 10/s, then a plateau, then a ramp down.
        let r = Ramp::new(0.0, &[st(20, 200.0), st(10, 200.0), st(10, 0.0)]);
        assert_eq!(r.total(), s(40.0));
        assert_eq!(r.vus_at(s(0.0)), 0);
        assert_eq!(r.vus_at(s(1.0)), 10);
        assert_eq!(r.vus_at(s(10.0)), 100);
        assert_eq!(r.vus_at(s(20.0)), 200);
        assert_eq!(r.vus_at(s(25.0)), 200);
        assert_eq!(r.vus_at(s(35.0)), 100);
        assert_eq!(r.vus_at(s(40.0)), 0);
        assert_eq!(r.vus_at(s(100.0)), 0);
    }

    #[test]
    fn vu_activation_and_deactivation_times() {
        let r = Ramp::new(0.0, &[st(10, 10.0), st(10, 10.0), st(10, 0.0)]);
        // VU number i (0-based) is active while the ramp is at least i + 1.
        let on = r.first_at_least(5.0, Duration::ZERO).unwrap();
        assert!((on.as_secs_f64() - 5.0).abs() < 1e-6, "{on:?}");
        let off = r.first_below(5.0, on).unwrap();
        assert!((off.as_secs_f64() - 25.0).abs() < 1e-3, "{off:?}");
        assert!(r.vus_at(off) < 5);
        // Already active at `from`.
        assert_eq!(r.first_at_least(1.0, s(12.0)), Some(s(12.0)));
        // Never reaches 11.
        assert_eq!(r.first_at_least(11.0, Duration::ZERO), None);
        // A constant ramp never drops before its end.
        assert_eq!(Ramp::constant(3.0, s(5.0)).first_below(3.0, Duration::ZERO), None);
    }

    #[test]
    fn constant_arrivals_fall_on_the_grid() {
        let r = Ramp::constant(100.0, s(2.0));
        assert_eq!(r.arrival_time(0), Some(Duration::ZERO));
        let t = r.arrival_time(50).unwrap();
        assert!((t.as_secs_f64() - 0.5).abs() < 1e-9);
        assert!(r.arrival_time(199).is_some());
        assert_eq!(r.arrival_time(200), None);
        let e = Executor::ConstantArrivalRate {
            rate: 100.0,
            duration: s(2.0),
            pre_allocated_vus: 1,
            max_vus: 1,
            max_iterations: None,
        };
        assert_eq!(total_arrivals(&e), 200);
        let capped = Executor::ConstantArrivalRate {
            rate: 100.0,
            duration: s(2.0),
            pre_allocated_vus: 1,
            max_vus: 1,
            max_iterations: Some(150),
        };
        assert_eq!(total_arrivals(&capped), 150);
    }

    #[test]
    fn ramping_arrivals_match_the_integral() {
        // 0 → 100/s over 10 s: 500 arrivals, denser at the end.
        let r = Ramp::new(0.0, &[st(10, 100.0)]);
        assert!((r.arrivals_until(s(10.0)) - 500.0).abs() < 1e-9);
        let e = Executor::RampingArrivalRate {
            start_rate: 0.0,
            stages: vec![st(10, 100.0)],
            pre_allocated_vus: 1,
            max_vus: 1,
        };
        assert_eq!(total_arrivals(&e), 500);
        // Half the arrivals come after t = sqrt(0.5)·10 ≈ 7.07 s.
        let t = r.arrival_time(250).unwrap().as_secs_f64();
        assert!((t - 50f64.sqrt()).abs() < 1e-6, "{t}");
        // Arrival times are increasing and each is where the integral reaches k.
        let mut last = Duration::ZERO;
        for k in 1..500 {
            let t = r.arrival_time(k).unwrap();
            assert!(t >= last);
            assert!((r.arrivals_until(t) - k as f64).abs() < 1e-6);
            last = t;
        }
        // A ramp down to zero and a second stage.
        let r = Ramp::new(10.0, &[st(2, 0.0), st(1, 10.0)]);
        assert!((r.arrivals_until(r.total()) - 15.0).abs() < 1e-9);
        assert!(r.arrival_time(14).is_some());
        assert!(r.arrival_time(15).is_none());
    }

    /// Arrival slots per second of a paced schedule, under paused time.
    async fn paced(ramp: &Ramp, first: u64, step: u64, total: u64) -> Vec<u64> {
        let origin = tokio::time::Instant::now();
        let mut per_second = vec![0u64; ramp.total().as_secs() as usize + 1];
        let mut late = Duration::ZERO;
        let slots = Slots::new(first, step, total);
        let never = std::future::pending::<()>;
        let full = Tuple::full();
        let p = pace(
            &Arrivals::new(ramp, &full, total),
            slots,
            origin,
            never(),
            |_, due| {
                let now = tokio::time::Instant::now();
                late = late.max(now.saturating_duration_since(due));
                per_second[(due - origin).as_secs() as usize] += 1;
                true
            },
            never,
            |_| panic!("nothing is dropped while VUs are free"),
            None,
        )
        .await;
        assert_eq!(p.dropped, 0);
        assert_eq!(p.started, per_second.iter().sum::<u64>());
        // Never more than a timer tick late, even without a spare core.
        assert!(late <= Duration::from_millis(1), "{late:?}");
        per_second
    }

    #[tokio::test(start_paused = true)]
    async fn paced_constant_rate_is_exact_and_threads_split_the_slots() {
        let r = Ramp::constant(100.0, s(3.0));
        let e = Executor::ConstantArrivalRate {
            rate: 100.0,
            duration: s(3.0),
            pre_allocated_vus: 1,
            max_vus: 1,
            max_iterations: None,
        };
        let total = total_arrivals(&e);
        assert_eq!(paced(&r, 0, 1, total).await, [100, 100, 100, 0]);
        // Two threads taking every other slot: the union is the schedule.
        let a = paced(&r, 0, 2, total).await;
        let b = paced(&r, 1, 2, total).await;
        assert_eq!(a, [50, 50, 50, 0]);
        assert_eq!(b, [50, 50, 50, 0]);
        let t0 = tokio::time::Instant::now();
        paced(&r, 0, 1, total).await;
        // Pacing takes the schedule's time (the last slot is at 2.99 s).
        assert!(t0.elapsed() >= s(2.98) && t0.elapsed() <= s(3.0), "{:?}", t0.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn paced_ramping_rate_follows_the_stages() {
        // 0 → 100/s over 2 s, 100/s for 1 s, down to 0 over 1 s.
        let r = Ramp::new(0.0, &[st(2, 100.0), st(1, 100.0), st(1, 0.0)]);
        let e = Executor::RampingArrivalRate {
            start_rate: 0.0,
            stages: r.stages.clone(),
            pre_allocated_vus: 1,
            max_vus: 1,
        };
        let total = total_arrivals(&e);
        assert_eq!(total, 100 + 100 + 50);
        let per_second = paced(&r, 0, 1, total).await;
        // Integrals of each second: 25, 75, 100, 50 (± the slot that straddles a boundary).
        let want = [25i64, 75, 100, 50, 0];
        for (got, want) in per_second.iter().zip(want) {
            assert!((*got as i64 - want).abs() <= 1, "{per_second:?}");
        }
        assert_eq!(per_second.iter().sum::<u64>(), total);
    }

    /// Real time: the fine timer starts slots on time, and never more than its horizon early.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_fine_timer_starts_slots_on_time_and_never_far_ahead() {
        let timer = FineTimer::new().expect("Linux has timerfd");
        // 5,000/s for 0.4 s: 2,000 slots, a wake per horizon.
        let r = Ramp::constant(5000.0, s(0.4));
        let full = Tuple::full();
        let arrivals = Arrivals::new(&r, &full, 2000);
        let origin = tokio::time::Instant::now() + Duration::from_millis(5);
        let never = std::future::pending::<()>;
        let mut offsets: Vec<i64> = Vec::with_capacity(2000);
        let p = pace(
            &arrivals,
            Slots::new(0, 1, 2000),
            origin,
            never(),
            |_, due| {
                let now = tokio::time::Instant::now();
                offsets.push(if now >= due {
                    (now - due).as_micros() as i64
                } else {
                    -((due - now).as_micros() as i64)
                });
                true
            },
            never,
            |_| panic!("nothing is dropped"),
            Some(&timer),
        )
        .await;
        assert_eq!(p.started, 2000);
        let early = -offsets.iter().copied().min().unwrap();
        assert!(early <= FINE_HORIZON.as_micros() as i64, "a slot started {early} µs early");
        offsets.sort();
        // Woken just before a slot is due, the pacer starts it and the next ones a little
        // early: at least half start on time. The median, so that the few late wakes of a
        // loaded machine (a thread off its CPU for 2 ms) do not fail it; on tokio's timer the
        // median slot started about 0.1 ms late here, and the 90th percentile 0.6 ms.
        let median = offsets[offsets.len() / 2];
        assert!(median <= 0, "median slot {median} µs late");
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_stops_when_asked() {
        let r = Ramp::constant(10.0, s(10.0));
        let origin = tokio::time::Instant::now();
        let stop = tokio::time::sleep(s(1.05));
        let never = std::future::pending::<()>;
        let full = Tuple::full();
        let arrivals = Arrivals::new(&r, &full, 100);
        let p =
            pace(&arrivals, Slots::new(0, 1, 100), origin, stop, |_, _| true, never, |_| {}, None)
                .await;
        assert_eq!(p.started, 11); // slots at 0, 0.1, ..., 1.0
        assert!(origin.elapsed() < s(1.2));
    }

    #[test]
    fn slots_of_a_thread_are_counted_by_arithmetic() {
        let s = Slots::new(1, 3, 20); // 1, 4, 7, 10, 13, 16, 19
        assert_eq!(s.next_from(0), 1);
        assert_eq!(s.next_from(2), 4);
        assert_eq!(s.next_from(4), 4);
        assert_eq!(s.next_from(20), 22);
        assert_eq!(s.count(0, 20), 7);
        assert_eq!(s.count(0, 1000), 7);
        assert_eq!(s.count(2, 10), 2);
        assert_eq!(s.count(5, 5), 0);
        assert_eq!(s.count(10, 4), 0);
        let all = Slots::new(0, 1, u64::MAX);
        assert_eq!(all.count(5, u64::MAX), u64::MAX - 5);
        assert_eq!(Slots::new(3, 4, u64::MAX).next_from(u64::MAX), u64::MAX);
        // The threads' shares add up to the schedule.
        let shares: u64 = (0..7).map(|i| Slots::new(i, 7, 1000).count(0, 1000)).sum();
        assert_eq!(shares, 1000);
    }

    #[test]
    fn arrivals_by_is_exact_at_every_boundary() {
        let ramps = [
            Ramp::constant(100.0, s(2.0)),
            Ramp::new(0.0, &[st(10, 100.0)]),
            Ramp::new(10.0, &[st(2, 0.0), st(1, 10.0)]),
            Ramp::new(3.0, &[st(1, 3.0), st(0, 50.0), st(1, 50.0)]),
        ];
        for r in &ramps {
            let total = r.arrivals_until(r.total()).ceil() as u64 + 1;
            // Brute force: every arrival time compared with t.
            let brute = |t: Duration| {
                (0..total).filter(|&k| r.arrival_time(k).is_some_and(|a| a <= t)).count() as u64
            };
            for k in 0..total {
                let Some(a) = r.arrival_time(k) else { continue };
                for t in [a, a.saturating_sub(Duration::from_nanos(1)), a + Duration::from_nanos(1)]
                {
                    assert_eq!(r.arrivals_by(t, total), brute(t), "{r:?} k={k} t={t:?}");
                }
            }
            assert_eq!(r.arrivals_by(Duration::MAX, total), brute(Duration::MAX));
            assert_eq!(r.arrivals_by(Duration::MAX, 3), 3.min(brute(Duration::MAX)));
        }
        // A rate no machine reaches, answered without visiting its arrivals.
        let r = Ramp::constant(1e9, s(1.0));
        assert_eq!(r.arrivals_by(Duration::MAX, u64::MAX), 1_000_000_000);
        assert_eq!(r.arrivals_by(s(0.5), u64::MAX), 500_000_001);
        assert_eq!(r.arrivals_by(s(0.5), 10), 10);
        assert_eq!(Ramp::constant(0.0, s(1.0)).arrivals_by(s(1.0), 5), 0);
    }

    #[test]
    fn absurd_durations_saturate_instead_of_panicking() {
        let r = Ramp::new(1.0, &[st(u64::MAX, 1.0), st(u64::MAX, 2.0)]);
        assert_eq!(r.total(), Duration::MAX);
        assert!(r.arrival_time(10).is_some());
        let _ = r.vus_at(Duration::MAX);
        let _ = r.first_below(0.5, Duration::MAX);
        let _ = r.first_at_least(3.0, Duration::ZERO);
        assert!(r.arrivals_by(Duration::MAX, u64::MAX) > 0);
        let e = Executor::ConstantArrivalRate {
            rate: 1e9,
            duration: Duration::MAX,
            pre_allocated_vus: 1,
            max_vus: 1,
            max_iterations: None,
        };
        assert_eq!(total_arrivals(&e), u64::MAX);
        assert_eq!(secs(f64::INFINITY), Duration::MAX);
        assert_eq!(secs(-1.0), Duration::ZERO);
    }

    /// VUs that take `busy` each, at most `vus` at once, run as tasks under paused time.
    async fn paced_with_vus(r: &Ramp, total: u64, vus: u32, busy: Duration) -> (Paced, u64) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        let origin = tokio::time::Instant::now();
        let in_use = Arc::new(AtomicU32::new(0));
        let freed = Arc::new(tokio::sync::Notify::new());
        let mut reported = 0;
        let slots = Slots::new(0, 1, total);
        let done = Arc::new(AtomicU64::new(0));
        let full = Tuple::full();
        let p = pace(
            &Arrivals::new(r, &full, total),
            slots,
            origin,
            std::future::pending::<()>(),
            |_, _| {
                if in_use.load(Ordering::Relaxed) >= vus {
                    return false;
                }
                in_use.fetch_add(1, Ordering::Relaxed);
                let (in_use, freed, done) = (in_use.clone(), freed.clone(), done.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(busy).await;
                    in_use.fetch_sub(1, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    freed.notify_one();
                });
                true
            },
            || freed.notified(),
            |n| reported += n,
            None,
        )
        .await;
        assert_eq!(p.dropped, reported);
        (p, done.load(Ordering::Relaxed))
    }

    #[tokio::test(start_paused = true)]
    async fn slots_without_a_free_vu_are_dropped_and_counted_exactly() {
        // 1000/s for 1 s with 2 VUs busy 10 ms each (a little more with the timer's
        // millisecond rounding): up to 200 start, the rest are dropped.
        let r = Ramp::constant(1000.0, s(1.0));
        let (p, _) = paced_with_vus(&r, 1000, 2, Duration::from_millis(10)).await;
        assert_eq!(p.started + p.dropped, 1000);
        assert!((150..=200).contains(&p.started), "{p:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_not_dropped_when_a_vu_is_back_before_it_falls_due() {
        // A slot every 0.5 ms and one VU done at once: each wake starts two slots, the second
        // a little early, and finds the VU given the first still busy. It is back long before
        // the second falls due, so nothing is dropped.
        let r = Ramp::constant(2000.0, s(1.0));
        let (p, _) = paced_with_vus(&r, 2000, 1, Duration::ZERO).await;
        assert_eq!((p.started, p.dropped), (2000, 0), "{p:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_rate_costs_what_the_vus_do_not_what_the_rate_asks() {
        // 10^9 arrivals in one second: counted by arithmetic, never one by one (this test
        // would take minutes otherwise).
        let wall = std::time::Instant::now();
        let r = Ramp::constant(1e9, s(1.0));
        let (p, _) = paced_with_vus(&r, 1_000_000_000, 4, Duration::from_millis(1)).await;
        assert_eq!(p.started + p.dropped, 1_000_000_000);
        assert!(p.started > 1000 && p.started < 100_000, "{p:?}");
        assert!(wall.elapsed() < Duration::from_secs(20), "{:?}", wall.elapsed());
    }

    #[test]
    fn never_more_vus_than_iterations() {
        let shared =
            |vus, iterations| Executor::SharedIterations { vus, iterations, max_duration: s(10.0) };
        assert_eq!(vus_needed(&shared(1_000_000, 10)), 10);
        assert_eq!(vus_needed(&shared(5, 10)), 5);
        let per_vu = Executor::PerVuIterations { vus: 7, iterations: 1, max_duration: s(1.0) };
        assert_eq!(vus_needed(&per_vu), 7);
    }

    fn sequences() -> Vec<volley_metrics::segment::Sequence> {
        use volley_metrics::segment::Sequence;
        let mut v: Vec<Sequence> = (1..=8).map(Sequence::equal).collect();
        for odd in ["0,1/2,3/4,1", "0,0.1,0.35,1", "0,1/3,1/2,1"] {
            v.push(Sequence::parse(odd).unwrap());
        }
        v
    }

    fn tuples(seq: &volley_metrics::segment::Sequence) -> Vec<Tuple> {
        seq.segments().map(|sg| Tuple::new(sg, Some(seq.clone())).unwrap()).collect()
    }

    fn executors() -> Vec<Executor> {
        let d = s(10.0);
        vec![
            Executor::ConstantVus { vus: 13, duration: d },
            Executor::RampingVus {
                start_vus: 2,
                stages: vec![st(4, 17.0), st(2, 17.0), st(4, 0.0), st(2, 5.0)],
                graceful_ramp_down: s(1.0),
            },
            Executor::PerVuIterations { vus: 11, iterations: 7, max_duration: d },
            Executor::SharedIterations { vus: 9, iterations: 101, max_duration: d },
            Executor::SharedIterations { vus: 3, iterations: 1000, max_duration: d },
            Executor::ConstantArrivalRate {
                rate: 37.0,
                duration: s(3.0),
                pre_allocated_vus: 5,
                max_vus: 23,
                max_iterations: None,
            },
            Executor::ConstantArrivalRate {
                rate: 50.0,
                duration: s(3.0),
                pre_allocated_vus: 2,
                max_vus: 2,
                max_iterations: Some(77),
            },
            Executor::RampingArrivalRate {
                start_rate: 3.0,
                stages: vec![st(2, 60.0), st(1, 60.0), st(2, 0.0)],
                pre_allocated_vus: 7,
                max_vus: 31,
            },
        ]
    }

    /// The union of the segments' work is the unsegmented run, item by item, for every
    /// executor and every sequence: VU numbers, VUs active at each instant, iterations, VU
    /// pools, arrival slots and their times.
    #[test]
    fn segments_together_are_the_whole_run() {
        for seq in sequences() {
            let tuples = tuples(&seq);
            for e in executors() {
                let whole = share(&e, &Tuple::full());
                let shares: Vec<Share> = tuples.iter().map(|t| share(&e, t)).collect();
                let sum = |f: fn(&Share) -> u64| shares.iter().map(f).sum::<u64>();
                let ctx = format!("{seq} {e:?}");
                if e.is_open() {
                    assert_eq!(sum(|x| x.pre_allocated_vus), whole.pre_allocated_vus, "{ctx}");
                    assert_eq!(sum(|x| x.max_vus), whole.max_vus, "{ctx}");
                    let ramp = ramp_of(&e);
                    let full = Tuple::full();
                    let all = Arrivals::new(&ramp, &full, whole.arrivals);
                    let mut seen: Vec<(u64, Duration)> = Vec::new();
                    for (t, sh) in tuples.iter().zip(&shares) {
                        let a = Arrivals::new(&ramp, t, sh.arrivals);
                        for j in 0..a.count() {
                            let k = t.global(j);
                            assert_eq!(a.time(j), all.time(k), "{ctx} slot {k}");
                            seen.push((k, a.time(j).unwrap()));
                        }
                        assert_eq!(a.time(a.count()), None, "{ctx}");
                    }
                    seen.sort();
                    let want: Vec<(u64, Duration)> =
                        (0..all.count()).map(|k| (k, all.time(k).unwrap())).collect();
                    assert_eq!(seen, want, "{ctx}");
                    for ms in (0..=5000).step_by(37) {
                        let at = Duration::from_millis(ms);
                        let by: u64 = tuples
                            .iter()
                            .zip(&shares)
                            .map(|(t, sh)| Arrivals::new(&ramp, t, sh.arrivals).by(at))
                            .sum();
                        assert_eq!(by, all.by(at), "{ctx} at {at:?}");
                    }
                    continue;
                }
                // Closed model: VU numbers, each owned by one segment.
                let mut vus: Vec<u64> = tuples
                    .iter()
                    .zip(&shares)
                    .flat_map(|(t, sh)| (0..sh.vus).map(|j| t.global(j)))
                    .collect();
                vus.sort_unstable();
                match e {
                    Executor::SharedIterations { iterations, .. } => {
                        assert_eq!(sum(|x| x.iterations), iterations, "{ctx}");
                        assert!(vus.windows(2).all(|w| w[0] < w[1]), "{ctx}");
                        assert!(vus.len() as u64 <= vus_needed(&e), "{ctx}");
                        for sh in &shares {
                            assert!(sh.vus > 0 || sh.iterations == 0, "{ctx}");
                        }
                    }
                    Executor::PerVuIterations { vus: v, iterations, .. } => {
                        assert_eq!(vus, (0..v as u64).collect::<Vec<_>>(), "{ctx}");
                        let total: u64 = shares.iter().map(|x| x.vus * x.iterations).sum();
                        assert_eq!(total, v as u64 * iterations, "{ctx}");
                    }
                    _ => {
                        assert_eq!(vus, (0..vus_needed(&e)).collect::<Vec<_>>(), "{ctx}");
                        // VU g is active while the ramp is above g: at every instant the
                        // segments' active VUs add up to the whole run's.
                        let ramp = ramp_of(&e);
                        for ms in (0..=13_000).step_by(50) {
                            let at = Duration::from_millis(ms);
                            let active: u64 = tuples
                                .iter()
                                .zip(&shares)
                                .map(|(t, sh)| {
                                    (0..sh.vus).filter(|&j| ramp.vus_at(at) > t.global(j)).count()
                                        as u64
                                })
                                .sum();
                            assert_eq!(active, ramp.vus_at(at), "{ctx} at {at:?}");
                        }
                    }
                }
            }
        }
    }

    /// Paced under paused time, two threads per segment: the segments' arrivals are the
    /// unsegmented run's, at the same instants.
    #[tokio::test(start_paused = true)]
    async fn paced_segments_start_the_whole_schedule() {
        let ramp = Ramp::new(5.0, &[st(1, 80.0), st(1, 20.0)]);
        let e = Executor::RampingArrivalRate {
            start_rate: 5.0,
            stages: ramp.stages.clone(),
            pre_allocated_vus: 1,
            max_vus: 1,
        };
        let total = total_arrivals(&e);
        let run = |t: Tuple| {
            let ramp = ramp.clone();
            async move {
                let origin = tokio::time::Instant::now();
                let a = Arrivals::new(&ramp, &t, total);
                let mut got = Vec::new();
                for thread in 0..2 {
                    let never = std::future::pending::<()>;
                    let slots = Slots::new(thread, 2, a.count());
                    pace(
                        &a,
                        slots,
                        origin,
                        never(),
                        |j, due| {
                            got.push((t.global(j), due - origin));
                            true
                        },
                        never,
                        |_| panic!("nothing is dropped"),
                        None,
                    )
                    .await;
                }
                got
            }
        };
        let mut want = run(Tuple::full()).await;
        want.sort();
        assert_eq!(want.len() as u64, total);
        for n in [2u64, 3, 5, 8] {
            let seq = volley_metrics::segment::Sequence::equal(n);
            let mut got = Vec::new();
            for t in tuples(&seq) {
                got.extend(run(t).await);
            }
            got.sort();
            assert_eq!(got, want, "{n} segments");
        }
    }

    /// The VUs, iterations and pools real k6 v1.1.0 printed in its execution plan for these
    /// executors and segments (`k6 run --execution-segment A:B --execution-segment-sequence`).
    #[test]
    fn shares_match_what_k6_prints() {
        use volley_metrics::segment::Sequence;
        let d = s(1.0);
        let cvus = Executor::ConstantVus { vus: 13, duration: d };
        let shared = Executor::SharedIterations { vus: 9, iterations: 101, max_duration: d };
        let per_vu = Executor::PerVuIterations { vus: 11, iterations: 2, max_duration: d };
        let car = Executor::ConstantArrivalRate {
            rate: 37.0,
            duration: d,
            pre_allocated_vus: 5,
            max_vus: 23,
            max_iterations: None,
        };
        // (constant-vus VUs, shared iterations, shared VUs, per-VU VUs, pool pre-max).
        type Printed = (u64, u64, u64, u64, u64, u64);
        let k6: [(&str, &[Printed]); 2] = [
            ("0,1/3,2/3,1", &[(5, 34, 3, 4, 2, 8), (4, 34, 3, 4, 2, 8), (4, 33, 3, 3, 1, 7)]),
            (
                "0,1/4,2/4,3/4,1",
                &[
                    (4, 34, 3, 3, 2, 6),
                    (3, 23, 2, 3, 1, 6),
                    (3, 22, 2, 3, 1, 6),
                    (3, 22, 2, 2, 1, 5),
                ],
            ),
        ];
        for (seq, want) in k6 {
            let seq = Sequence::parse(seq).unwrap();
            for (t, w) in tuples(&seq).iter().zip(want) {
                let (a, b, c, p) =
                    (share(&cvus, t), share(&shared, t), share(&per_vu, t), share(&car, t));
                let got = (a.vus, b.iterations, b.vus, c.vus, p.pre_allocated_vus, p.max_vus);
                assert_eq!(got, *w, "{seq} {}", t.segment);
            }
        }
    }

    #[test]
    fn a_constant_schedule_lasts_its_duration() {
        let e = Executor::ConstantVus { vus: 5, duration: s(30.0) };
        assert_eq!(executor_duration(&e), s(30.0));
    }
}
