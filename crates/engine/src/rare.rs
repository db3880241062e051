//! A future that is seldom ready, polled only when its own waker fired.
//!
//! A closed-model VU races every iteration against two events that almost never happen: the
//! graceful-stop cutoff (a `Sleep`) and the stop signal (a `Notified`, then the grace `Sleep`);
//! and every read or write of its connection against the request's deadline (a `Sleep`).
//! `select!` polls each of them every time the VU's task wakes, which is once or twice per
//! request, and tokio's timer and notify polls cost about 5% of a request's instructions. A future only
//! needs polling after its waker was woken, so [`Rare`] hands the inner future a waker of its
//! own that raises a flag before waking the task, and polls it only when the flag is up (or
//! the task's waker changed, or the caller re-armed it). Between wake-ups a poll is one atomic
//! load and a pointer compare.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The waker handed to the inner future: raises `woken`, then wakes the task.
struct Flag {
    woken: AtomicBool,
    task: Mutex<Waker>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.lock().unwrap_or_else(|e| e.into_inner()).wake_by_ref();
    }
}

/// `fut`, polled only when it may have progressed.
pub(crate) struct Rare<F> {
    fut: F,
    /// The flag and the waker built on it, made at the first poll.
    waker: Option<(Arc<Flag>, Waker)>,
    /// The task waker the flag wakes (kept to notice a task that moved).
    task: Option<Waker>,
}

impl<F: Future + Unpin> Rare<F> {
    pub(crate) fn new(fut: F) -> Rare<F> {
        Rare { fut, waker: None, task: None }
    }

    /// The inner future, to re-arm it; the next poll polls it whether or not it was woken.
    pub(crate) fn rearm(&mut self) -> &mut F {
        if let Some((flag, _)) = &self.waker {
            flag.woken.store(true, Ordering::Relaxed);
        }
        &mut self.fut
    }
}

impl<F: Future + Unpin> Future for Rare<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let (flag, waker) = this.waker.get_or_insert_with(|| {
            let flag = Arc::new(Flag {
                // The first poll polls the inner future (and registers its waker).
                woken: AtomicBool::new(true),
                task: Mutex::new(cx.waker().clone()),
            });
            (flag.clone(), Waker::from(flag))
        });
        if !this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            *flag.task.lock().unwrap_or_else(|e| e.into_inner()) = cx.waker().clone();
            this.task = Some(cx.waker().clone());
            flag.woken.store(true, Ordering::Relaxed);
        }
        // A load before the swap: the flag is almost always down, and a swap is a locked
        // instruction, paid by three `Rare`s on every wake of a VU.
        if !flag.woken.load(Ordering::Relaxed) || !flag.woken.swap(false, Ordering::Acquire) {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.fut).poll(&mut Context::from_waker(waker));
        if polled.is_ready() {
            // A finished future may answer again without waking anyone (an elapsed `Sleep`
            // stays ready): the next poll polls it, as a plain `select!` would.
            flag.woken.store(true, Ordering::Relaxed);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Counts its polls; ready once `ready` is set, waking through the waker it was given.
    struct Probe {
        polls: Arc<std::sync::atomic::AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.ready.load(Ordering::Relaxed) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn the_inner_future_is_polled_only_after_its_own_wake() {
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let inner = Arc::new(Mutex::new(None));
        let mut rare =
            Rare::new(Probe { polls: polls.clone(), ready: ready.clone(), waker: inner.clone() });
        let task_woken = Arc::new(AtomicBool::new(false));
        struct Task(Arc<AtomicBool>);
        impl Wake for Task {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let task = Waker::from(Arc::new(Task(task_woken.clone())));
        let mut cx = Context::from_waker(&task);
        assert!(Pin::new(&mut rare).poll(&mut cx).is_pending());
        // Woken by something else (the VU's socket): the inner future is left alone.
        for _ in 0..10 {
            assert!(Pin::new(&mut rare).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Its own wake reaches the task and lets the next poll through.
        ready.store(true, Ordering::Relaxed);
        inner.lock().unwrap().take().unwrap().wake();
        assert!(task_woken.load(Ordering::Relaxed));
        assert!(Pin::new(&mut rare).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        // Once ready, the next poll polls it again, woken or not (an elapsed timer answers
        // again without waking anyone).
        assert!(Pin::new(&mut rare).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 3);
        // Re-armed: polled once more even without a wake.
        ready.store(false, Ordering::Relaxed);
        rare.rearm();
        assert!(Pin::new(&mut rare).poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_timer_and_a_stop_signal_still_end_the_race() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sleep = Box::pin(tokio::time::sleep(Duration::from_millis(30)));
            let mut cutoff = Rare::new(sleep);
            let started = std::time::Instant::now();
            let busy = async {
                // A task woken often by other work, as a VU is by its socket.
                loop {
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                biased;
                _ = busy => unreachable!(),
                _ = &mut cutoff => {}
            }
            assert!(started.elapsed() >= Duration::from_millis(30));
            // Elapsed and not re-armed, it is still ready (a connection's deadline timer is
            // looked at again by the next request after a timeout).
            tokio::select! {
                biased;
                _ = async { loop { tokio::task::yield_now().await; } } => unreachable!(),
                _ = &mut cutoff => {}
            }
            // Re-armed to a later deadline, it fires again.
            cutoff.rearm().as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(20));
            (&mut cutoff).await;
            let token = tokio_util::sync::CancellationToken::new();
            let t2 = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                t2.cancel();
            });
            let mut stop = Rare::new(Box::pin(token.cancelled()));
            tokio::select! {
                _ = async { loop { tokio::task::yield_now().await; } } => unreachable!(),
                _ = &mut stop => {}
            }
            assert!(token.is_cancelled());
        });
    }
}
