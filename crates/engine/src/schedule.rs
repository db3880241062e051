//! When things happen: the pure arithmetic of executors, separate from any clock.
//!
//! Ramping executors follow linear stages (a VU count, or an arrival rate per second). The
//! engine asks questions of the shape "from time t, when does VU number i become active?" or
//! "at what time does the k-th arrival fall?", answered here exactly, so that the worker loop
//! sleeps until the answer instead of polling, and so that schedules are tested without time.

use std::time::Duration;

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

    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
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
                let t = secs(t.max(lo)) + Duration::from_micros(1);
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
}

/// The resolution of tokio's timer wheel, and half of it.
const TICK: Duration = Duration::from_millis(1);
const HALF_TICK: Duration = Duration::from_micros(500);

/// Paces the arrivals of an open-model scenario: calls `start(k, due)` for the slots
/// `k = first, first + step, ...` below `total`, each at `origin + ramp.arrival_time(k)`, until
/// `stop` resolves. Returns how many slots were started.
///
/// tokio's timers fire on millisecond ticks, rounded up: the pacer aims early by the lateness
/// it has observed plus a tick, and starts every slot due within half a tick, so sends
/// are centred on the schedule rather than always late; at high rates one wake starts several
/// slots.
pub async fn pace<S: Future>(
    ramp: &Ramp,
    first: u64,
    step: u64,
    total: u64,
    origin: tokio::time::Instant,
    stop: S,
    mut start: impl FnMut(u64, tokio::time::Instant),
) -> u64 {
    tokio::pin!(stop);
    let step = step.max(1);
    let mut k = first;
    let mut started = 0;
    let mut overshoot = Duration::ZERO;
    'slots: while k < total {
        let Some(due) = ramp.arrival_time(k) else { break };
        let due_at = origin + due;
        let now = tokio::time::Instant::now();
        if due_at > now + HALF_TICK {
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
        let horizon = tokio::time::Instant::now() + HALF_TICK;
        while k < total {
            let Some(due) = ramp.arrival_time(k) else { break 'slots };
            let due_at = origin + due;
            if due_at > horizon {
                break;
            }
            start(k, due_at);
            k += step;
            started += 1;
        }
    }
    started
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The VU-count or arrival-rate ramp of an executor, and its length.
pub fn ramp_of(executor: &Executor) -> Ramp {
    match executor {
        Executor::ConstantVus { vus, duration } => Ramp::constant(*vus as f64, *duration),
        Executor::RampingVus { start_vus, stages, .. } => Ramp::new(*start_vus as f64, stages),
        Executor::PerVuIterations { vus, max_duration, .. }
        | Executor::SharedIterations { vus, max_duration, .. } => {
            Ramp::constant(*vus as f64, *max_duration)
        }
        Executor::ConstantArrivalRate { rate, duration, .. } => Ramp::constant(*rate, *duration),
        Executor::RampingArrivalRate { start_rate, stages, .. } => Ramp::new(*start_rate, stages),
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
    while n < approx + 2 && ramp.arrival_time(n).is_some() {
        n += 1;
    }
    n.min(cap)
}

/// k6's one-line description of a scenario's schedule.
pub fn describe(executor: &Executor) -> String {
    let d = |x: &Duration| humantime::format_duration(*x).to_string();
    match executor {
        Executor::ConstantVus { vus, duration } => {
            format!("{vus} looping VUs for {}", d(duration))
        }
        Executor::RampingVus { start_vus, stages, graceful_ramp_down } => {
            let max = stages.iter().map(|s| s.target as u64).fold(*start_vus as u64, u64::max);
            let total: Duration = stages.iter().map(|s| s.duration).sum();
            format!(
                "up to {max} looping VUs for {} over {} stages (gracefulRampDown: {})",
                d(&total),
                stages.len(),
                d(graceful_ramp_down)
            )
        }
        Executor::PerVuIterations { vus, iterations, max_duration } => format!(
            "{iterations} iterations for each of {vus} VUs (maxDuration: {})",
            d(max_duration)
        ),
        Executor::SharedIterations { vus, iterations, max_duration } => format!(
            "{iterations} iterations shared among {vus} VUs (maxDuration: {})",
            d(max_duration)
        ),
        Executor::ConstantArrivalRate { rate, duration, max_vus, pre_allocated_vus, .. } => {
            format!(
                "{rate} iterations/s for {} (maxVUs: {pre_allocated_vus}-{max_vus})",
                d(duration)
            )
        }
        Executor::RampingArrivalRate { start_rate, stages, pre_allocated_vus, max_vus } => {
            let max = stages.iter().map(|s| s.target).fold(*start_rate, f64::max);
            let total: Duration = stages.iter().map(|s| s.duration).sum();
            format!(
                "up to {max} iterations/s for {} over {} stages (maxVUs: {pre_allocated_vus}-{max_vus})",
                d(&total),
                stages.len()
            )
        }
    }
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
        pace(ramp, first, step, total, origin, std::future::pending::<()>(), |_, due| {
            let now = tokio::time::Instant::now();
            late = late.max(now.saturating_duration_since(due));
            per_second[(due - origin).as_secs() as usize] += 1;
        })
        .await;
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

    #[tokio::test(start_paused = true)]
    async fn pacing_stops_when_asked() {
        let r = Ramp::constant(10.0, s(10.0));
        let origin = tokio::time::Instant::now();
        let stop = tokio::time::sleep(s(1.05));
        let n = pace(&r, 0, 1, 100, origin, stop, |_, _| {}).await;
        assert_eq!(n, 11); // slots at 0, 0.1, ..., 1.0
        assert!(origin.elapsed() < s(1.2));
    }

    #[test]
    fn descriptions_name_the_schedule() {
        let e = Executor::ConstantVus { vus: 5, duration: s(30.0) };
        assert_eq!(describe(&e), "5 looping VUs for 30s");
        assert_eq!(executor_duration(&e), s(30.0));
    }
}
