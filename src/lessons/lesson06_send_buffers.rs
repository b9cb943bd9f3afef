//! Lesson 06 — send buffers: serialize into a reused chunk, send slices of it.
//!
//! **The problem.** Lesson 04's writer needs about one system call per
//! thousand packets; at small payloads it waits for its *producers*. Each
//! packet costs its sender an allocation (`Packet::from_payload` makes a
//! `Vec` and a reference-counted header for it), a copy from a scratch
//! buffer into it, and later a free on the writer thread — which is a
//! different thread, so the allocator moves memory between threads all day.
//!
//! **The change.** The course's `SendBuffer`: each thread serializes its
//! packets into one large chunk it keeps
//! ([`SendBuffer`], a thread-local) and
//! hands out each packet as a shared slice of it — still a `Packet`, so the
//! queue and the writer are lesson 04's, unchanged: the catalog runs lesson
//! 06 as [`BatchedWriter`](super::lesson04_batched_writer::BatchedWriter)
//! fed by [`packet`]. When the chunk is full
//! and no slice of it is alive, it is reused; while a slow session still
//! holds a slice, that chunk is left alone and a new one is taken. The lesson
//! adds [`packet`], which builds a packet through the calling thread's
//! send buffer.
//!
//! **The cost.** A chunk lives as long as its longest-held slice: one
//! packet stuck on a slow session pins 64 KiB. Serialization must know the
//! packet's size up front (ours always does). And `bytes` does the
//! reference counting, so the recycling is a borrowed guarantee, not code
//! you can read here; the section below explains why.
//!
//! **What the tests show** (`tests/lesson06_send_buffers.rs`): a packet
//! still queued behind a held writer is never overwritten while the same
//! thread serializes thousands of packets more; everything arrives intact
//! and in order; and in steady state a packet costs no allocation at all
//! (counted with a counting global allocator).

//!
//! ## The send buffer
//!
//! This is the C# course's `SendBuffer` / `SendBufferHelper`. There, each
//! thread keeps a large `byte[]` chunk in a `ThreadLocal`; a packet is
//! serialized with `Open(reserveSize)` → write → `Close(usedSize)`, which
//! returns an `ArraySegment` over the chunk; when the chunk's free space
//! runs short the thread simply takes a fresh chunk and leaves the old one
//! to the garbage collector, which frees it once no segment points into it.
//!
//! Rust has no garbage collector, so "once no segment points into it" must
//! be counted. [`bytes::BytesMut`] does exactly that, and this module is a
//! thin, teachable layer over it:
//!
//! * the chunk is a `BytesMut` with [`CHUNK_SIZE`] bytes of capacity;
//! * [`SendBuffer::packet`] writes the header and lets the caller fill the
//!   body in place (no temporary `Vec`, no second copy), then
//!   `split().freeze()` cuts the written bytes off the front of the chunk
//!   as a [`Bytes`]: a pointer, a length and a shared reference count on
//!   the chunk. Cloning it is a count increment, not a copy;
//! * when the chunk's tail is too short for the next packet, the chunk
//!   retires to a short list, and the buffer looks through that list with
//!   `try_reclaim`, which checks the reference count: a chunk none of whose
//!   slices is alive any more (every packet written and dropped) **rewinds
//!   to its start**: recycled, no allocation. (The chunk just filled is
//!   rarely free at once: its newest packets are still queued. The one
//!   before it usually is.) If every retired chunk still has a slice
//!   queued somewhere, a fresh chunk is allocated; the oldest retired one
//!   is left to its holders and freed when its last slice drops.
//!
//! **Why `BytesMut` and not our own chunk type.** Our own would need
//! `unsafe`: a chunk written through one pointer while other threads read
//! slices of it through others. The argument for it is short (we only ever
//! write past the last byte handed out, and rewind only when the count of
//! live slices is zero, which an `Acquire` load makes visible after every
//! holder's `Release` decrement) — and it is precisely the argument
//! `bytes` already makes and tests, with miri and loom, for every
//! `split`/`freeze`/`try_reclaim`. `Packet` already wraps `Bytes`, so slices of
//! a chunk travel through every lesson's queue unchanged. The lesson is in
//! the *pattern*, which this file spells out; the bookkeeping is borrowed.
//!
//! **What a slice guarantees.** A [`Packet`] made here can never see its
//! bytes change: the chunk only writes into space that no slice covers,
//! and rewinds only when no slice exists. The test
//! `tests/lesson06_send_buffers.rs` holds slices on a slow session (its
//! writer stuck on a [`Gate`](crate::testing::Gate)) while the same thread
//! serializes thousands more packets, then checks every byte that arrives.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, Packet, PayloadTooLarge};

// ANCHOR: make_packet
// New: serialize through the calling thread's send buffer.
/// Builds a packet with a `payload_len`-byte body in the calling thread's
/// send buffer: `fill` writes the body in place, and the packet is a shared
/// slice of the thread's chunk (no allocation while chunks recycle). Send
/// it on any session, through any send path.
pub fn packet(payload_len: usize, fill: impl FnOnce(&mut [u8])) -> Result<Packet, PayloadTooLarge> {
    SendBuffer::with(|buffer| buffer.packet(payload_len, fill))
}
// ANCHOR_END: make_packet

/// Bytes per chunk: 64 KiB, the largest capacity `BytesMut` remembers when
/// it replaces a chunk that is still in use, and room for ~1,900 packets
/// of 32 bytes.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Full chunks a send buffer keeps for reuse. A thread pins at most
/// `MAX_RETIRED + 1` chunks (320 KiB) itself; slices queued elsewhere may
/// keep older chunks alive until they are written.
pub const MAX_RETIRED: usize = 4;

/// One thread's send buffer: a chunk being carved into packets.
#[derive(Debug)]
pub struct SendBuffer {
    // ANCHOR: state
    /// The unwritten rest of the current chunk. Invariant: no `Bytes`
    /// handed out covers any byte of it, so writing here can never change
    /// a packet someone holds.
    chunk: BytesMut,
    /// Chunks allocated so far by this buffer (the first one included).
    chunks_allocated: u64,
    /// Times the buffer rewound to the start of its chunk because no
    /// slice of it was alive: a chunk recycled without allocating.
    chunks_recycled: u64,
    /// Full chunks, oldest first, kept for reuse once their slices are
    /// all dropped. At most [`MAX_RETIRED`]; allocated once, never grows.
    retired: VecDeque<BytesMut>,
    // ANCHOR_END: state
}

thread_local! {
    /// This thread's send buffer (the C# `SendBufferHelper`'s `ThreadLocal`).
    static CURRENT: RefCell<SendBuffer> = RefCell::new(SendBuffer::new());
}

impl Default for SendBuffer {
    fn default() -> SendBuffer {
        SendBuffer::new()
    }
}

impl SendBuffer {
    /// A send buffer with one fresh chunk of [`CHUNK_SIZE`] bytes.
    pub fn new() -> SendBuffer {
        SendBuffer {
            chunk: BytesMut::with_capacity(CHUNK_SIZE),
            chunks_allocated: 1,
            chunks_recycled: 0,
            retired: VecDeque::with_capacity(MAX_RETIRED),
        }
    }

    /// Runs `f` with this thread's send buffer (created on first use).
    ///
    /// ```
    /// use servercore::lessons::lesson06_send_buffers::SendBuffer;
    /// let packet = SendBuffer::with(|b| b.packet(5, |body| body.copy_from_slice(b"hello"))).unwrap();
    /// assert_eq!(packet.payload(), b"hello");
    /// ```
    pub fn with<R>(f: impl FnOnce(&mut SendBuffer) -> R) -> R {
        CURRENT.with(|cell| f(&mut cell.borrow_mut()))
    }

    // ANCHOR: packet
    /// Serializes one packet with a body of `payload_len` bytes into the
    /// chunk: writes the header, lets `fill` write the body in place, and
    /// returns the packet as a shared slice of the chunk.
    ///
    /// Allocates only when the chunk is full *and* a slice of it is still
    /// alive somewhere; otherwise the chunk is reused.
    pub fn packet(
        &mut self,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Packet, PayloadTooLarge> {
        let total = payload_len + HEADER_LEN;
        if total > MAX_PACKET_LEN {
            return Err(PayloadTooLarge { len: payload_len });
        }
        if self.chunk.capacity() < total {
            self.refill(total);
        }
        // The C# `Open`: write into the free space after the last slice.
        self.chunk.put_u16_le(total as u16);
        let body_start = self.chunk.len();
        self.chunk.resize(body_start + payload_len, 0);
        fill(&mut self.chunk[body_start..]);
        // The C# `Close`: cut the written bytes off the front of the chunk.
        // `split` moves the chunk's start past them, so the chunk can never
        // write there again; `freeze` makes them an immutable, shared slice.
        let frame: Bytes = self.chunk.split().freeze();
        Ok(Packet::from_frame(frame).expect("the header was written for exactly this length"))
    }
    // ANCHOR_END: packet

    // ANCHOR: refill
    /// Makes room for `needed` bytes: reuses a full chunk none of whose
    /// slices is alive any more, or else takes a fresh one.
    fn refill(&mut self, needed: usize) {
        let size = needed.max(CHUNK_SIZE);
        // The full chunk retires. Its newest slices were sent a moment
        // ago and are probably still queued, so it is rarely free *now*;
        // but by the time the next chunk is full, the writer has usually
        // written and dropped them all.
        let full = std::mem::take(&mut self.chunk);
        if self.retired.len() == MAX_RETIRED {
            // Forget the oldest: its last slices free it when they drop.
            self.retired.pop_front();
        }
        self.retired.push_back(full);
        // `try_reclaim` succeeds only if no `Bytes` cut from that chunk is
        // alive any more (its reference count is back to 1: just us); then
        // it rewinds to the chunk's start, with no allocation. The count is
        // decremented with `Release` by whoever drops the last slice and
        // read with `Acquire` here, so their reads of the old bytes are
        // over before we write new ones.
        for i in 0..self.retired.len() {
            if self.retired[i].try_reclaim(size) {
                self.chunk = self.retired.remove(i).expect("index in range");
                self.chunks_recycled += 1;
                return;
            }
        }
        // Every retired chunk still has a slice queued somewhere: take a
        // new chunk.
        self.chunk = BytesMut::with_capacity(size);
        self.chunks_allocated += 1;
    }
    // ANCHOR_END: refill

    /// Chunks this buffer allocated (the first included).
    pub fn chunks_allocated(&self) -> u64 {
        self.chunks_allocated
    }

    /// Times a full chunk was reused because no slice of it was alive.
    pub fn chunks_recycled(&self) -> u64 {
        self.chunks_recycled
    }

    /// Whether every retired chunk is free now (no slice of it alive), so
    /// the next refill reuses one without allocating. Rewinds the free ones
    /// (as a refill would). For tests that wait until the writer has
    /// dropped every packet it wrote.
    pub fn retired_all_free(&mut self) -> bool {
        let size = CHUNK_SIZE;
        self.retired.iter_mut().all(|chunk| chunk.try_reclaim(size))
    }

    /// Free bytes left in the current chunk before it must be refilled.
    pub fn remaining(&self) -> usize {
        self.chunk.capacity()
    }
}
