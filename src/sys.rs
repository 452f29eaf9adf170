//! The crate's `unsafe` calls, kept here alone (the rest of the crate denies `unsafe_code`, and
//! `tests/architecture.rs` checks that no other module allows it): a memory release after a load,
//! and a prefetch hint on the query path.
//!
//! Loading a zone makes millions of short-lived allocations (tokens, records, the name tree)
//! between the long-lived ones (the nodes, the name arena, the index). Freed, they stay in the
//! allocator's bins, spread over pages that also hold live data, and glibc's `free` only gives
//! back the top of the heap: a 1,000,000-record zone kept 360 MB resident for 125 MB of data.
//! `malloc_trim` walks the bins and returns every whole free page (`MADV_DONTNEED`): 144 MB.

/// Gives memory the allocator holds but nothing uses back to the kernel (glibc on Linux; a
/// no-op elsewhere). Takes a few milliseconds on a large heap, holding the allocator's locks:
/// call it off the query path, after a load.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` has no precondition on its caller: it takes a byte count (0: keep no
    // padding) and works only on glibc's own arenas, under their locks, so it is safe from any
    // thread at any time. Its return value (whether memory was released) is not needed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Asks the CPU to bring the cache line holding `r` closer (x86-64; a no-op elsewhere). A batch of
/// UDP queries knows its clients before it answers any: their GeoIP lookups, each a couple of
/// likely cache misses in megabytes of networks, are started together instead of one after the
/// other. It is a hint: nothing is read, and it changes no result.
#[inline]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch never faults and has no architectural effect (Intel SDM, PREFETCHh:
    // "a hint"); the pointer comes from a reference, so it is valid and aligned anyway. The
    // intrinsic is `unsafe` only because it is a `#[target_feature(enable = "sse")]` function,
    // and SSE is part of the x86-64 baseline every build of this crate targets.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(r).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
