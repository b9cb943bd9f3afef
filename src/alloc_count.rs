//! Counting allocations, to put "allocations per packet" in a table.
//!
//! [`CountingAlloc`] wraps the system allocator and counts, per thread,
//! every `alloc`, `alloc_zeroed` and `realloc`. It does nothing unless a
//! program installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: servercore::alloc_count::CountingAlloc = servercore::alloc_count::CountingAlloc;
//! ```
//!
//! The `servercore` binary, the lesson 06 test and the benchmarks do. Then
//! [`thread_allocs`] reads the calling thread's count, and `compare`
//! reports its sender threads' allocations per packet (`allocs/msg`).
//!
//! **Its cost**: one add to a thread-local `u64` per allocation (a few
//! instructions, no atomic, no shared cache line), so the lessons are
//! measured as they are. Frees are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations made by this thread so far. Const-initialized and without
    /// a destructor, so reading it inside the allocator never allocates.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's allocations.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the same arguments; the
// only addition is a thread-local counter that never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations the calling thread has made so far (0 forever when
/// [`CountingAlloc`] is not the global allocator).
pub fn thread_allocs() -> u64 {
    ALLOCS.try_with(Cell::get).unwrap_or(0)
}

/// Whether [`CountingAlloc`] is this program's global allocator (tried by
/// allocating one byte and looking at the count).
pub fn is_counting() -> bool {
    let before = thread_allocs();
    drop(std::hint::black_box(Box::new(0u8)));
    thread_allocs() > before
}
