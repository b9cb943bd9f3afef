//! One sender thread's byte ring on one session, and the `unsafe` that
//! lets two threads share its bytes without a lock.
//!
//! The ring is the buffer; who writes it (the sender's [`Producer`]) and
//! who reads it (the writer) are in the parent module and in
//! [`writer`](super::writer). Every access to the bytes goes through the
//! four `unsafe fn`s here, each with the promise its caller keeps.
//!
//! [`Producer`]: super::Producer

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::ops::Deref;
use std::ptr;

use crate::packet::HEADER_LEN;
use crate::sync::ByteAccess;
use crate::sync::atomic::AtomicUsize;

// ANCHOR: ring
/// One sender thread's ring on one session: a byte buffer with exactly one
/// producer (the thread that registered it) and one consumer (the writer).
///
/// `head` and `tail` count bytes since the ring was made; they only grow,
/// and byte `i` lives at `bytes[i % capacity]`. Invariant:
/// `tail <= head <= tail + capacity`.
///
/// * `[tail, head)` is published: whole frames, the writer's to read;
/// * `[head, tail + capacity)` is free: the producer's to write.
pub(super) struct Ring {
    /// Bytes published so far. Stored only by the producer, with `Release`
    /// once the frame's bytes are in; loaded by the writer with `Acquire`
    /// before it reads them. Always at a frame boundary.
    pub(super) head: Padded<AtomicUsize>,
    /// Bytes written out so far. Stored only by the writer, with `Release`
    /// once the kernel has taken them; loaded by the producer with `Acquire`
    /// before it writes over them.
    pub(super) tail: Padded<AtomicUsize>,
    /// The buffer. Each byte is written by the producer or read by the
    /// writer, never both at once: see the invariant above.
    pub(super) bytes: Box<[UnsafeCell<u8>]>,
    /// Packets accepted on this ring (sends that returned `Ok`). Stored
    /// only by the producer; one counter per ring, so senders never write
    /// a shared cache line to be counted. A statistic, ordering nothing:
    /// `std`'s even under loom, like the wire's counters.
    pub(super) accepted: std::sync::atomic::AtomicU64,
    /// The `head` the writer saw last before it exited, set once: a packet
    /// whose frame ends at or below it was taken (written, or dropped and
    /// counted by abort); one above it was refused. 0 until then.
    pub(super) final_head: AtomicUsize,
    /// Tells loom about every read and write of `bytes` (nothing otherwise).
    pub(super) access: ByteAccess,
}
// ANCHOR_END: ring

// SAFETY: a `Ring` is shared between its producer (the one sender thread
// that registered it: only that thread's cache, `MY_RINGS`, ever writes
// through it) and the writer thread (which only reads its bytes). The
// producer writes only bytes in `[head, tail + capacity)`, the writer reads
// only bytes in `[tail, head)`, and these never overlap. Each side moves
// only its own index, with `Release`, after its last access to the bytes
// it hands over; the other side loads that index with `Acquire` before its
// first access. So every access to a byte happens after the other side's
// last access to it: no data race. Everything else in `Ring` is atomic.
unsafe impl Sync for Ring {}

/// A value on a cache line (two, for the adjacent-line prefetcher) of its
/// own, so that the producer's `head` and the writer's `tail` do not share
/// one and bounce between their cores on every store.
#[repr(align(128))]
pub(super) struct Padded<T>(pub(super) T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Ring {
    /// An empty ring of `capacity` bytes (a power of two).
    /// An empty ring of `capacity` bytes (a power of two), or `None` if
    /// the memory cannot be had: a server out of memory (or of memory
    /// maps: a ring this large is one `mmap`) refuses the send, it does
    /// not abort the process.
    pub(super) fn new(capacity: usize) -> Option<Ring> {
        debug_assert!(capacity.is_power_of_two());
        let layout = Layout::array::<UnsafeCell<u8>>(capacity).ok()?;
        if layout.size() == 0 {
            return None;
        }
        // Zeroed memory from the allocator (`calloc`: for large rings the
        // pages are mapped lazily, so an idle ring costs little resident
        // memory), asked for directly so that a failure comes back as null
        // instead of aborting, as `vec!` would.
        // SAFETY: the layout's size is not zero.
        let base = unsafe { alloc::alloc_zeroed(layout) }.cast::<UnsafeCell<u8>>();
        if base.is_null() {
            return None;
        }
        // SAFETY: `base` was allocated by the global allocator with the
        // layout of `[UnsafeCell<u8>; capacity]`, and zeroed bytes are valid
        // `UnsafeCell<u8>`s: the box owns it and frees it with that layout.
        let bytes = unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, capacity)) };
        Some(Ring {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            bytes,
            accepted: std::sync::atomic::AtomicU64::new(0),
            final_head: AtomicUsize::new(0),
            access: ByteAccess::new(capacity),
        })
    }

    pub(super) fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Where byte `index` lives in the buffer, and how many bytes from there
    /// run on without wrapping.
    pub(super) fn place(&self, index: usize) -> (usize, usize) {
        let at = index & (self.capacity() - 1);
        (at, self.capacity() - at)
    }

    /// A pointer to the buffer's first byte, valid for all of it.
    pub(super) fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.bytes.as_ptr())
    }

    /// Copies `src` into the ring from byte `index` on, wrapping at the end.
    ///
    /// # Safety
    ///
    /// Only the ring's producer calls it, and only on free bytes:
    /// `index >= head` and `index + src.len() <= tail + capacity` for a
    /// `tail` it loaded with `Acquire`.
    pub(super) unsafe fn write(&self, index: usize, src: &[u8]) {
        self.access.write(index, src.len());
        let (at, run) = self.place(index);
        let first = src.len().min(run);
        // SAFETY: `at + first <= capacity` and `src.len() - first <= at`
        // (`src.len() <= capacity`), so both copies stay in the buffer; the
        // bytes are free, so nobody else reads or writes them (caller's promise).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base().add(at), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), self.base(), src.len() - first);
        }
    }

    /// The free bytes `[index, index + len)` as one slice, if they do not
    /// wrap round the end of the buffer.
    ///
    /// # Safety
    ///
    /// As for [`Ring::write`]; and the producer makes no other reference to
    /// these bytes while the slice lives.
    #[allow(clippy::mut_from_ref)] // the `UnsafeCell`s make it sound; see above
    pub(super) unsafe fn free_run(&self, index: usize, len: usize) -> Option<&mut [u8]> {
        let (at, run) = self.place(index);
        if len > run {
            return None;
        }
        self.access.write(index, len);
        // SAFETY: `at + len <= capacity`; the bytes are free (caller's promise).
        Some(unsafe { std::slice::from_raw_parts_mut(self.base().add(at), len) })
    }

    /// The published bytes `[from, to)` as at most two slices (the second
    /// is empty unless they wrap round the end of the buffer).
    ///
    /// # Safety
    ///
    /// Only the writer calls it, with `from == tail` and `to <= head` for a
    /// `head` it loaded with `Acquire`; it stops using the slices before it
    /// stores a `tail` past them.
    pub(super) unsafe fn published(&self, from: usize, to: usize) -> (&[u8], &[u8]) {
        self.access.read(from, to - from);
        let (at, run) = self.place(from);
        let first = (to - from).min(run);
        // SAFETY: both slices are inside the buffer, and published: the
        // producer does not write them until `tail` passes them.
        unsafe {
            (
                std::slice::from_raw_parts(self.base().add(at), first),
                std::slice::from_raw_parts(self.base(), to - from - first),
            )
        }
    }

    /// How many whole frames the published bytes `[from, to)` hold, read
    /// from their size headers.
    ///
    /// # Safety
    ///
    /// As for [`Ring::published`]; `from` is a frame boundary.
    pub(super) unsafe fn frames(&self, from: usize, to: usize) -> usize {
        let mut frames = 0;
        let mut at = from;
        while at < to {
            let mut header = [0u8; HEADER_LEN];
            for (i, byte) in header.iter_mut().enumerate() {
                // SAFETY: a published byte (caller's promise).
                *byte = unsafe { *self.base().add(self.place(at + i).0) };
            }
            at += usize::from(u16::from_le_bytes(header));
            frames += 1;
        }
        debug_assert_eq!(at, to, "a frame runs past head");
        frames
    }
}
