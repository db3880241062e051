//! The hot path's clock: monotonic nanoseconds in a `u64`.
//!
//! A request's phases are differences of four clock reads. With `std::time::Instant` each
//! difference is a checked `Timespec` subtraction building a `Duration` (about 55
//! instructions), then a `u128` conversion to microseconds; with a [`Tick`] it is one
//! subtraction and one division by a constant. Samples still carry `Instant`s (the recorder
//! and the schedule speak them), made from ticks by an [`Anchor`] only where a sample needs
//! one.
//!
//! On Linux a tick is a read of `CLOCK_MONOTONIC`, the clock `Instant` reads there, so ticks
//! and instants agree to within the few nanoseconds between the anchor's two reads.

use std::time::{Duration, Instant};

/// A point on the monotonic clock, in nanoseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(u64);

impl Tick {
    /// Later than any reading: the identity of `min`.
    pub const NEVER: Tick = Tick(u64::MAX);

    /// Reads the clock.
    #[cfg(target_os = "linux")]
    #[inline]
    pub fn now() -> Tick {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux
        // (it is what `Instant::now` reads, and the vDSO answers it without a system call).
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Tick(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Reads the clock: elsewhere, nanoseconds since the first read of the process.
    #[cfg(not(target_os = "linux"))]
    #[inline]
    pub fn now() -> Tick {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        Tick(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds from `earlier` to `self`; 0 if `earlier` is later.
    #[inline]
    pub fn nanos_since(self, earlier: Tick) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `d` after `self` (saturating).
    pub fn after(self, d: Duration) -> Tick {
        Tick(self.0.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// Nanoseconds since the clock's origin (on Linux, `CLOCK_MONOTONIC`'s).
    pub fn nanos(self) -> u64 {
        self.0
    }

    /// Whole microseconds from `earlier` to `self` (truncated, as `Duration::as_micros`).
    #[inline]
    pub fn micros_since(self, earlier: Tick) -> u64 {
        self.nanos_since(earlier) / 1_000
    }
}

/// One pairing of the two clocks, read once (per worker thread), to turn ticks into
/// `Instant`s.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    instant: Instant,
    tick: Tick,
}

impl Anchor {
    /// Pairs the clocks now. The tick is read first, so an instant made from a tick is never
    /// earlier than the moment the tick was read.
    pub fn new() -> Anchor {
        let tick = Tick::now();
        Anchor { instant: Instant::now(), tick }
    }

    /// The `Instant` of tick `t` (the anchor's own instant for a tick before the anchor).
    #[inline]
    pub fn instant(&self, t: Tick) -> Instant {
        self.instant + Duration::from_nanos(t.nanos_since(self.tick))
    }

    /// The tick of instant `i`, before the anchor or after it (saturating at the clock's
    /// ends): for the few instants a loop then compares ticks with.
    pub fn tick(&self, i: Instant) -> Tick {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match i.checked_duration_since(self.instant) {
            Some(after) => Tick(self.tick.0.saturating_add(nanos(after))),
            None => Tick(self.tick.0.saturating_sub(nanos(self.instant - i))),
        }
    }
}

impl Default for Anchor {
    fn default() -> Anchor {
        Anchor::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_agree_with_instants() {
        let anchor = Anchor::new();
        for _ in 0..1_000 {
            let before = Instant::now();
            let t = Tick::now();
            let after = Instant::now();
            let at = anchor.instant(t);
            // The anchor's two reads are a few nanoseconds apart; a few µs covers a preemption.
            assert!(at + Duration::from_micros(50) >= before, "{at:?} before {before:?}");
            assert!(at <= after + Duration::from_micros(50), "{at:?} after {after:?}");
        }
    }

    #[test]
    fn differences_are_truncated_micros_and_never_negative() {
        let a = Tick(5_000_000_000);
        let b = Tick(5_000_001_999);
        assert_eq!(b.micros_since(a), 1);
        assert_eq!(b.nanos_since(a), 1_999);
        assert_eq!(a.micros_since(b), 0);
        let anchor = Anchor { instant: Instant::now(), tick: b };
        assert_eq!(anchor.instant(a), anchor.instant);
        assert_eq!(anchor.instant(Tick(b.0 + 1_000)) - anchor.instant, Duration::from_micros(1));
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = Tick::now();
        std::thread::sleep(Duration::from_millis(2));
        let b = Tick::now();
        assert!(b.micros_since(a) >= 2_000, "{} µs", b.micros_since(a));
    }
}
