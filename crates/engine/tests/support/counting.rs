//! A counting global allocator for the zero-allocation tests (`#[path]`-included by them
//! only: a test binary that declares it counts its own heap allocations).
//!
//! Two ways to count: on the calling thread only ([`count_this_thread`]), for a hot path driven
//! by the test itself; or on every thread but the exempt ones ([`count_all_threads`]), for a
//! whole run whose worker and collector threads the engine starts. Test servers mark their
//! threads [`exempt`], so that their allocations never count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct Counting;

static THIS_THREAD: AtomicU64 = AtomicU64::new(0);
static ALL_THREADS: AtomicU64 = AtomicU64::new(0);
static ALL: AtomicBool = AtomicBool::new(false);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static EXEMPT: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    if COUNTING.with(|c| c.get()) {
        THIS_THREAD.fetch_add(1, Ordering::Relaxed);
    }
    if ALL.load(Ordering::Relaxed) && !EXEMPT.with(|e| e.get()) {
        ALL_THREADS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Counts the calling thread's allocations while `on`; returns the count so far.
pub fn count_this_thread(on: bool) -> u64 {
    COUNTING.with(|c| c.set(on));
    THIS_THREAD.load(Ordering::Relaxed)
}

/// Counts every non-exempt thread's allocations while `on`; returns the count so far.
pub fn count_all_threads(on: bool) -> u64 {
    ALL.store(on, Ordering::SeqCst);
    ALL_THREADS.load(Ordering::SeqCst)
}

/// The calling thread's allocations never count in [`count_all_threads`].
pub fn exempt() {
    EXEMPT.with(|e| e.set(true));
}
