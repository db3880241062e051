//! A timer finer than tokio's, for the open model's pacer.
//!
//! tokio's timers fire on millisecond ticks (and the runtime parks with a millisecond
//! timeout), so a pacer on them starts its arrivals up to a millisecond late, in bursts: at
//! 50,000 arrivals a second the schedule lag's p90 was a millisecond. A `timerfd` armed at an
//! absolute time on `CLOCK_MONOTONIC` wakes the runtime's epoll at that microsecond instead,
//! and costs two system calls per wake (arm, read), which the pacer pays at most once per
//! window of arrivals, not per arrival.
//!
//! Linux only; elsewhere (or if the kernel refuses a timerfd) [`FineTimer::new`] gives `None`
//! and the pacer stays on tokio's timer.

use std::time::Duration;

use crate::clock::Tick;

/// A one-shot timer, re-armed for each wait.
pub struct FineTimer {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl FineTimer {
    /// A timer registered with the current runtime's I/O driver; `None` where there is none.
    #[cfg(target_os = "linux")]
    pub fn new() -> Option<FineTimer> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain system call; a non-negative result is a descriptor this process owns
        // and nothing else refers to, so `OwnedFd` may take it.
        let raw = unsafe {
            libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if raw < 0 {
            return None;
        }
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: an `OwnedFd` stays open and is the same descriptor for as long as the
        // `AsyncFd` that owns it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .ok()?;
        Some(FineTimer { fd })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new() -> Option<FineTimer> {
        None
    }

    /// Waits until `at` (at once if it has passed). An error (the kernel refused to arm the
    /// timer) leaves the caller to fall back on tokio's timer.
    #[cfg(target_os = "linux")]
    pub async fn sleep_until(&self, at: tokio::time::Instant) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let left = at.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        // Ticks read CLOCK_MONOTONIC on Linux, the clock the timer is armed on.
        let due = Tick::now().after(left).nanos();
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: (due / 1_000_000_000) as libc::time_t,
                tv_nsec: (due % 1_000_000_000) as libc::c_long,
            },
        };
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: `fd` is this timer's open timerfd; `spec` is a valid itimerspec and the old
        // value is not asked for.
        let r = unsafe {
            libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        loop {
            let mut ready = self.fd.readable().await?;
            let read = ready.try_io(|inner| {
                let mut expirations = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer from an open descriptor.
                let n = unsafe {
                    libc::read(inner.get_ref().as_raw_fd(), expirations.as_mut_ptr().cast(), 8)
                };
                if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
            });
            match read {
                Ok(r) => return r,
                // Readiness was stale (an earlier arming's expiry already read): wait again.
                Err(_would_block) => continue,
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub async fn sleep_until(&self, _at: tokio::time::Instant) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// How early the pacer asks to be woken before a slot is due with a [`FineTimer`] (the
/// kernel's default timer slack for a thread is 50 µs, which lands the wake-up around the
/// slot's time), and how far ahead of now it starts slots at each wake, as it does on
/// tokio's timer: waking more often would cost more than the timer (each wake-up of an idle
/// thread, and the responses it no longer reads in batches).
pub const FINE_AHEAD: Duration = Duration::from_micros(50);
pub const FINE_HORIZON: Duration = Duration::from_micros(500);

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_after_the_time_asked_and_well_within_a_millisecond_of_it() {
        let timer = FineTimer::new().expect("Linux has timerfd");
        let mut late = Vec::new();
        for _ in 0..50 {
            let at = tokio::time::Instant::now() + Duration::from_micros(300);
            timer.sleep_until(at).await.unwrap();
            let now = tokio::time::Instant::now();
            assert!(now >= at, "woke {:?} early", at - now);
            late.push(now - at);
        }
        late.sort();
        // tokio's own timer is up to a millisecond late; a loaded CI machine may delay a few
        // wakes, so the median is what is asserted.
        assert!(late[25] < Duration::from_micros(500), "median lateness {:?}", late[25]);
        // A time already passed returns at once; re-arming after a read works.
        timer.sleep_until(tokio::time::Instant::now()).await.unwrap();
        let at = tokio::time::Instant::now() + Duration::from_micros(100);
        timer.sleep_until(at).await.unwrap();
        assert!(tokio::time::Instant::now() >= at);
    }
}
