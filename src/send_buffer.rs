//! The send buffer (lesson 06): serialize packets into one large reused
//! chunk per thread, and hand them out as cheap shared slices of it.
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
//! * when the chunk's tail is too short for the next packet, `reserve`
//!   looks at that reference count. If no slice of the chunk is alive any
//!   more (every packet was written and dropped), it **rewinds to the start
//!   of the same allocation**: recycled, no allocation. If some slice is
//!   still queued somewhere, it leaves the old chunk to its holders (freed
//!   when the last slice drops) and allocates a fresh one.
//!
//! **Why `BytesMut` and not our own chunk type.** Our own would need
//! `unsafe`: a chunk written through one pointer while other threads read
//! slices of it through others. The argument for it is short (we only ever
//! write past the last byte handed out, and rewind only when the count of
//! live slices is zero, which an `Acquire` load makes visible after every
//! holder's `Release` decrement) — and it is precisely the argument
//! `bytes` already makes and tests, with miri and loom, for every
//! `split`/`freeze`/`reserve`. `Packet` already wraps `Bytes`, so slices of
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

use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, Packet, PayloadTooLarge};

/// Bytes per chunk: 64 KiB, the largest capacity `BytesMut` remembers when
/// it replaces a chunk that is still in use, and room for ~1,900 packets
/// of 32 bytes.
pub const CHUNK_SIZE: usize = 64 * 1024;

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
    /// Where the current chunk's allocation starts (compared, never read
    /// through): a refill that lands here again has recycled the chunk.
    chunk_start: usize,
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
        let chunk = BytesMut::with_capacity(CHUNK_SIZE);
        SendBuffer {
            chunk_start: chunk.as_ptr() as usize,
            chunk,
            chunks_allocated: 1,
            chunks_recycled: 0,
        }
    }

    /// Runs `f` with this thread's send buffer (created on first use).
    ///
    /// ```
    /// use servercore::send_buffer::SendBuffer;
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
    /// Makes room for `needed` bytes: rewinds to the start of the chunk if
    /// no slice of it is alive, else moves on to a fresh chunk.
    fn refill(&mut self, needed: usize) {
        // `reserve` on a `BytesMut` whose written part was split off:
        // * if no `Bytes` of the allocation is alive (the reference count
        //   is 1: only this `BytesMut`) and the allocation is big enough,
        //   it rewinds to its start: recycling, no allocation;
        // * otherwise it allocates a new buffer of at least the original
        //   capacity and leaves the old one to the slices still holding it.
        self.chunk.reserve(needed.max(CHUNK_SIZE));
        // `bytes` does not say which of the two happened, but the address
        // does: back at the old chunk's start means it was rewound (a new
        // allocation cannot land there: the old one is still alive, held
        // by its slices, whenever a new one is made).
        let start = self.chunk.as_ptr() as usize;
        if start == self.chunk_start {
            self.chunks_recycled += 1;
        } else {
            self.chunks_allocated += 1;
            self.chunk_start = start;
        }
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

    /// Free bytes left in the current chunk before it must be refilled.
    pub fn remaining(&self) -> usize {
        self.chunk.capacity()
    }
}
