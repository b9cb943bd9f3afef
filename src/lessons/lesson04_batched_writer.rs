//! Lesson 04 — the batched writer: everything queued, one vectored write.
//!
//! **The problem.** Lesson 03 frees the callers, but its writer still makes
//! one system call per packet: 100 sends, 100 writes. That is where the seed
//! ends ("100번 Send를 호출하면 결국 SendAsync도 100번"), and the next lecture
//! answers with `BufferList`: send everything queued at once.
//!
//! **The change.** When the writer comes for work it takes the *whole*
//! queue (a swap with its own empty `Vec`, under the lock) and writes it
//! with `write_vectored` (`writev(2)`): many packets, one system call. Three
//! details make it correct:
//!
//! * the kernel takes at most `IOV_MAX` (1,024) slices per call, and `std`
//!   silently ignores the rest: we write in groups of at most 1,024;
//! * a write may be partial (the socket buffer fills): `IoSlice::advance_slices`
//!   resumes exactly where the kernel stopped, mid-packet if need be;
//! * `Ok(0)` means the socket takes nothing more (`WriteZero`), and
//!   `Interrupted` is retried.
//!
//! The two `Vec`s swap back and forth, so in steady state no batch allocates.
//!
//! **The cost.** Latency at light load: a lone packet still pays the
//! hand-off to the writer thread. Under load the queue fills while the
//! writer is in the kernel, and one write carries hundreds of packets.
//!
//! **What the tests show** (`tests/lesson04_batched_writer.rs`): held on a
//! gate, 101 packets cost exactly 2 write calls; partial writes (a tiny send
//! buffer, a late reader, 64 KiB packets) and 3,000 queued packets (more than
//! 1,024 slices) arrive intact.
//!
//! The gathering write itself, [`Wire::write_packets`], lives in the wire
//! (`src/wire.rs`): lessons 05 to 07 reuse it unchanged, so it is written
//! once. It is this lesson's idea all the same; chapter 04 shows it.

use std::io;

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::sync::{self, Arc, Condvar, Mutex, thread};
use crate::wire::{Wire, WireHandle};

/// Lesson 04's send path: a queue, a pending flag, and a writer thread that
/// writes the whole queue at once.
pub struct BatchedWriter {
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
}

/// The state under the lock.
struct State {
    // New: a `Vec`, not a `VecDeque`: the writer takes all of it at once.
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
}
// ANCHOR_END: state

impl BatchedWriter {
    /// Starts the writer thread on `wire`. Fails only if the thread cannot
    /// be spawned (the machine is out of threads or memory maps).
    pub fn new(wire: Wire) -> io::Result<BatchedWriter> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                pending: false,
                closed: false,
            }),
            pending_or_closed: Condvar::new(),
            counters: wire.handle(),
        });
        let writer_shared = Arc::clone(&shared);
        let writer = sync::spawn("writer", move || run_writer(&writer_shared, &wire))?;
        Ok(BatchedWriter {
            shared,
            writer: Mutex::new(Some(writer)),
        })
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
        self.shared.pending_or_closed.notify_one();
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        dropped.len()
    }
}

impl SendPath for BatchedWriter {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        let mut state = self.shared.state.lock().unwrap();
        if state.closed {
            return Err(SendError::Closed(packet));
        }
        state.queue.push(packet);
        self.shared.counters.stats().count_send();
        if state.pending {
            // A write is in flight. Like the C# `Send`, skip `RegisterSend`:
            // the writer will find this packet when it comes back for the queue.
            log::trace!(
                "enqueue: pending is true, {} queued: no wake-up",
                state.queue.len()
            );
            return Ok(());
        }
        // `RegisterSend`: nobody is writing. Claim the socket for the writer
        // and wake it. The flag is set under the lock, so exactly one sender
        // of a burst does this.
        state.pending = true;
        // Logged before the lock is let go, so it always precedes the writer's "woke after a wait".
        log::trace!("enqueue: pending false -> true: wake the writer");
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
        self.shared.counters.stats().snapshot()
    }
}

impl Drop for BatchedWriter {
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
    // New: the writer's own batch. It swaps with the queue, so the two
    // `Vec`s trade places every round and neither allocates in steady state.
    let mut batch: Vec<Packet> = Vec::new();
    let mut state = shared.state.lock().unwrap();
    loop {
        // Sleep until a send sets `pending` (or close).
        if !state.pending && !state.closed {
            while !state.pending && !state.closed {
                state = shared.pending_or_closed.wait(state).unwrap();
            }
            log::trace!("woke after a wait, {} queued", state.queue.len());
        }
        if state.queue.is_empty() {
            break; // closed, and nothing left to write
        }
        // New: take everything queued, not just one packet.
        std::mem::swap(&mut state.queue, &mut batch);
        drop(state); // never hold the queue lock across a socket call

        // New: the whole batch, in as few write calls as the kernel allows.
        wire.stats().count_batch(batch.len());
        log::trace!(
            "write: {} packets, {} bytes",
            batch.len(),
            batch.iter().map(Packet::len).sum::<usize>()
        );
        let written = wire.write_packets(&batch);
        batch.clear(); // drops the packets, keeps the capacity

        state = shared.state.lock().unwrap();
        if let Err(error) = written {
            state.closed = true;
            state.pending = false;
            let dropped = std::mem::take(&mut state.queue).len();
            drop(state);
            log::debug!("write failed, {dropped} queued packets dropped");
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
            log::trace!("re-check: empty, pending -> false");
        } else {
            // The queue was empty when the write began: all of these came during it.
            log::trace!(
                "re-check: {} packets queued during the write, keep pending",
                state.queue.len()
            );
        }
    }
    drop(state);
    wire.shutdown_write();
    log::trace!("closed, exiting");
}
// ANCHOR_END: writer
