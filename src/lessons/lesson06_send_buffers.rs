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
//! queue and the writer are lesson 04's, unchanged. When the chunk is full
//! and no slice of it is alive, it is reused; while a slow session still
//! holds a slice, that chunk is left alone and a new one is taken. The send
//! path gains [`SendBuffers::packet`], which builds a packet through the
//! calling thread's send buffer.
//!
//! **The cost.** A chunk lives as long as its longest-held slice: one
//! packet stuck on a slow session pins 64 KiB. Serialization must know the
//! packet's size up front (ours always does). And `bytes` does the
//! reference counting, so the recycling is a borrowed guarantee, not code
//! you can read here; `src/send_buffer.rs` explains why.
//!
//! **What the tests show** (`tests/lesson06_send_buffers.rs`): a packet
//! still queued behind a held writer is never overwritten while the same
//! thread serializes thousands of packets more; everything arrives intact
//! and in order; and in steady state a packet costs no allocation at all
//! (counted with a counting global allocator).

use std::io::{self, IoSlice};

use crate::backpressure::{Backpressure, QueueLimit};
use crate::lessons::{SendError, SendPath};
use crate::packet::{Packet, PayloadTooLarge};
// New: the thread's send buffer, where packets are serialized.
use crate::send_buffer::SendBuffer;
use crate::stats::StatsSnapshot;
use crate::sync::{Arc, Condvar, Mutex, THREAD_STACK_SIZE, thread};
use crate::wire::{Wire, WireHandle};

/// Linux's `IOV_MAX`: the most slices one `writev` call takes.
pub const IOV_MAX: usize = 1024;

/// Lesson 06's send path: lesson 04's batched writer, fed with packets
/// serialized into per-thread send buffers.
pub struct SendBuffers {
    /// What `send` and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

// ANCHOR: state
/// What `send` and the writer thread share.
struct Shared {
    /// The queue and its flags. Held only for a few instructions at a time:
    /// never across a socket call.
    state: Mutex<State>,
    /// Signalled when `pending` turns true (work for the writer) or `closed`
    /// turns true. The writer waits on it while it has nothing to do.
    pending_or_closed: Condvar,
    /// The wire's counters (the wire itself belongs to the writer thread).
    counters: WireHandle,
    // New (lesson 10): the queued bytes and what to do when there are too many.
    /// Admits packets under the session's queue limit; has its own lock,
    /// never taken while `state` is held.
    limit: QueueLimit,
}

/// The state under the lock.
struct State {
    // A `Vec`, not a `VecDeque`: the writer takes all of it at once.
    /// Packets accepted by `send`, not yet taken by the writer, oldest first.
    /// Invariant: non-empty implies `pending`.
    queue: Vec<Packet>,
    /// The seed's `_pending`: true from the send that woke the writer until
    /// the writer finds the queue empty after a write. While it is true the
    /// writer owns the socket and will come back for the queue, so `send`
    /// need not wake it. Changed only under the lock.
    pending: bool,
    /// true once `close` or `abort` ran or a write failed: `send` refuses
    /// packets. Never goes back to false.
    closed: bool,
    // New: counted under the lock `send` already holds, instead of an
    // atomic add on a cache line that every sender and the writer share.
    /// Packets accepted by `send`. Only grows.
    sends: u64,
}
// ANCHOR_END: state

impl SendBuffers {
    /// Starts the writer thread on `wire`, with no queue limit.
    pub fn new(wire: Wire) -> SendBuffers {
        SendBuffers::with_limit(wire, Backpressure::unlimited())
    }

    // New (lesson 10): the same, with a queue limit.
    /// Starts the writer thread on `wire`, with a queue limit.
    pub fn with_limit(wire: Wire, limit: Backpressure) -> SendBuffers {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                pending: false,
                closed: false,
                sends: 0,
            }),
            pending_or_closed: Condvar::new(),
            counters: wire.handle(),
            limit: QueueLimit::new(limit, wire.handle()), // New (lesson 10)
        });
        let writer_shared = Arc::clone(&shared);
        let writer = thread::Builder::new()
            .name("writer".into())
            .stack_size(THREAD_STACK_SIZE) // New (lesson 11): 2,000 threads must fit
            .spawn(move || run_writer(&writer_shared, &wire))
            .expect("failed to spawn the writer thread");
        SendBuffers {
            shared,
            writer: Mutex::new(Some(writer)),
        }
    }

    // ANCHOR: packet
    // New: serialize through the calling thread's send buffer.
    /// Builds a packet with a `payload_len`-byte body in the calling
    /// thread's send buffer: `fill` writes the body in place, and the packet
    /// is a shared slice of the thread's chunk (no allocation while chunks
    /// recycle). Send it here or on any other session.
    pub fn packet(
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Packet, PayloadTooLarge> {
        SendBuffer::with(|buffer| buffer.packet(payload_len, fill))
    }
    // ANCHOR_END: packet

    // New: a way to see that every packet was written *and released*.
    /// True when nothing is queued and no write is in flight: every packet
    /// sent so far has been written and dropped by the writer, so no slice
    /// of a send buffer is held here any more.
    pub fn is_idle(&self) -> bool {
        let state = self.shared.state.lock().unwrap();
        !state.pending && state.queue.is_empty()
    }

    /// Marks the queue closed, drops what is queued if `drop_queued`, wakes
    /// the writer so it can finish, and joins it. Returns the packets dropped.
    fn shut(&self, drop_queued: bool) -> usize {
        let mut state = self.shared.state.lock().unwrap();
        state.closed = true;
        let dropped = if drop_queued {
            std::mem::take(&mut state.queue)
        } else {
            Vec::new()
        };
        drop(state);
        let dropped = self.shared.limit.forget(dropped); // New (lesson 10): their bytes leave the count
        self.shared.pending_or_closed.notify_one();
        self.shared.limit.close(); // New (lesson 10): wake senders blocked on the limit
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        dropped
    }
}

impl SendPath for SendBuffers {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // New (lesson 10): room under the queue limit first (may wait,
        // refuse or evict); it never holds the queue lock while it waits.
        let packet = self.shared.limit.admit(packet)?;
        let mut state = self.shared.state.lock().unwrap();
        if state.closed {
            drop(state); // New (lesson 10): the limit's lock is never taken under this one
            self.shared.limit.release(packet.len()); // New (lesson 10): never queued
            return Err(SendError::Closed(packet));
        }
        state.queue.push(packet);
        state.sends += 1; // New: was `counters.stats().count_send()`
        if state.pending {
            // A write is in flight. Like the C# `Send`, skip `RegisterSend`:
            // the writer will find this packet when it comes back for the queue.
            log::trace!(
                "enqueue: pending=true, {} queued: writer busy, no wake-up",
                state.queue.len()
            );
            return Ok(());
        }
        // `RegisterSend`: nobody is writing. Claim the socket for the writer
        // and wake it. The flag is set under the lock, so exactly one sender
        // of a burst does this.
        state.pending = true;
        // Logged before the lock is let go, so it always precedes the writer's "awake".
        log::trace!("enqueue: pending=false -> true: waking the writer");
        drop(state); // notify after unlocking: the woken writer finds the lock free
        self.shared.pending_or_closed.notify_one();
        self.shared.counters.stats().count_wakeup();
        Ok(())
    }
    // ANCHOR_END: send

    fn close(&self) {
        self.shut(false);
    }

    fn abort(&self) -> usize {
        self.shut(true)
    }

    fn stats(&self) -> StatsSnapshot {
        // New: the send count comes from under the lock.
        let sends = self.shared.state.lock().unwrap().sends;
        StatsSnapshot {
            sends,
            ..self.shared.counters.stats().snapshot()
        }
    }
}

impl Drop for SendBuffers {
    /// Dropped without `close`: let the writer flush what is queued and exit
    /// on its own (not joined, so dropping never blocks).
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.pending_or_closed.notify_one();
    }
}

// ANCHOR: writer
/// The writer thread: the C# `OnSendCompleted`, as a loop.
fn run_writer(shared: &Shared, wire: &Wire) {
    // The writer's own batch. It swaps with the queue, so the two `Vec`s
    // trade places every round and neither allocates in steady state.
    let mut batch: Vec<Packet> = Vec::new();
    let mut state = shared.state.lock().unwrap();
    loop {
        // Sleep until a send sets `pending` (or close).
        while !state.pending && !state.closed {
            state = shared.pending_or_closed.wait(state).unwrap();
        }
        log::trace!("writer: awake, {} queued", state.queue.len());
        if state.queue.is_empty() {
            break; // closed, and nothing left to write
        }
        // Take everything queued, not just one packet.
        std::mem::swap(&mut state.queue, &mut batch);
        drop(state); // never hold the queue lock across a socket call

        // The whole batch, in as few write calls as the kernel allows.
        wire.stats().count_batch(batch.len());
        let bytes = batch.iter().map(Packet::len).sum::<usize>();
        log::trace!("write: {} packets, {bytes} bytes", batch.len());
        let written = write_batch(wire, &batch);
        // New: this line now decides whether chunks recycle. Dropping the
        // packets releases their slices; once a chunk has no slice left,
        // the thread that filled it reuses it instead of allocating.
        batch.clear(); // drops the packets, keeps the capacity
        shared.limit.release(bytes); // New (lesson 10): these bytes left the queue

        state = shared.state.lock().unwrap();
        if let Err(error) = written {
            state.closed = true;
            state.pending = false;
            let dropped = std::mem::take(&mut state.queue);
            drop(state);
            let dropped = shared.limit.forget(dropped); // New (lesson 10): their bytes leave the count
            shared.limit.close(); // New (lesson 10): wake senders blocked on the limit
            log::debug!("writer: write failed, {dropped} queued packets dropped");
            wire.fail(error);
            return;
        }
        // The seed's "가정": while we were writing, other threads saw
        // `pending == true`, queued their packets and did NOT wake us.
        // If we cleared `pending` now without looking, their packets would
        // sit in the queue until some later send happened to wake us.
        // So we look, under the same lock they queued under:
        if state.queue.is_empty() {
            state.pending = false; // nobody left behind: the next send wakes us
            log::trace!("writer: queue empty, pending -> false");
        } else {
            log::trace!(
                "writer: {} queued during the write, keeping pending",
                state.queue.len()
            );
        }
    }
    drop(state);
    wire.shutdown_write();
    log::trace!("writer: closed, exiting");
}
// ANCHOR_END: writer

// ANCHOR: write_batch
// The gathering write (the C# `BufferList`), as in lesson 04. Slices of one
// chunk lie back to back in memory, but each is still its own `IoSlice`:
// merging neighbours would save iovecs, not system calls.
/// Writes every packet of `batch`, in order, with `writev` calls of at most
/// [`IOV_MAX`] slices each, resuming after partial writes.
fn write_batch(wire: &Wire, batch: &[Packet]) -> io::Result<()> {
    for group in batch.chunks(IOV_MAX) {
        // One slice per packet, on the stack: no allocation per batch.
        let mut storage = [IoSlice::new(&[]); IOV_MAX];
        for (slice, packet) in storage.iter_mut().zip(group) {
            *slice = IoSlice::new(packet.as_bytes());
        }
        let mut slices = &mut storage[..group.len()];
        while !slices.is_empty() {
            match wire.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                // A partial write: skip what the kernel took, even mid-packet.
                Ok(written) => IoSlice::advance_slices(&mut slices, written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
// ANCHOR_END: write_batch
