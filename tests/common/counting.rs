//! A global allocator that counts allocations per thread and forwards to the system allocator:
//! `tests/no_alloc.rs` and `benches/query_path.rs` include it (`#[path]`) to show the query path
//! allocates nothing. Each declares it `#[global_allocator]` itself.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator.
pub struct Counting;

thread_local! {
    // per thread: tests run in parallel and must not count each other's allocations
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations made so far on this thread.
pub fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

// `GlobalAlloc` is unsafe by definition; this only counts and forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
