//! The `wasm-predict` binary's global allocator: the system allocator, counting the bytes
//! allocated and their peak only while a measurement runs. Outside one it adds a single relaxed
//! load per call, so the collector's ingest does not pay for it; `realloc` and `alloc_zeroed` keep
//! the system's own (growth in place, zeroed pages from the kernel).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static COUNTING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting while [`measure_peak`] runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

fn grow(bytes: isize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to `System` unchanged; the counters only read sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` has too.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            grow(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            grow(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() && COUNTING.load(Ordering::Relaxed) {
            grow(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// Runs `work` and returns what it returned with the most bytes allocated at once during it, above
/// what was allocated when it started (every thread's allocations count), or `None` for the bytes
/// when this process's global allocator is not [`CountingAlloc`]. One measurement at a time.
pub fn measure_peak<T>(work: impl FnOnce() -> T) -> (T, Option<u64>) {
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let probe = std::hint::black_box(vec![0u8; 64]);
    let counted = PEAK.load(Ordering::Relaxed) >= 64;
    drop(probe);
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    let result = work();
    COUNTING.store(false, Ordering::SeqCst);
    let peak = PEAK.load(Ordering::Relaxed).max(0) as u64;
    (result, counted.then_some(peak))
}
