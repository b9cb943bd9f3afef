//! **WRONG ON PURPOSE** — lesson 03's send queue with the stranded-packet bug.
//!
//! Teaching code for `lessons/03b-stranded-packet.md`; never use it. It is
//! lesson 03 ([`lesson03_send_queue`](super::lesson03_send_queue)) with one
//! change, in the writer: when a write returns (the C# `OnSendCompleted`),
//! it clears `pending` **without looking at the queue again**.
//!
//! **Why that is wrong.** The seed's "가정" (assumption) paragraph: while a
//! write is in flight, `pending` is true, so every `send` only enqueues and
//! skips the wake-up (the C# `RegisterSend`), trusting the writer to come
//! back for the queue. This writer does not: it clears the flag and goes to
//! sleep on the condvar with those packets still queued. Nobody is left to
//! wake it: the packets are *stranded* until some later, unrelated `send`
//! (or `close`) happens to wake the writer — on a quiet connection, never.
//!
//! **Who catches it.**
//! * `tests/loom_lesson03b.rs`: the loom model checker finds the
//!   interleaving and reports it; the test passes because the bug is found.
//! * `examples/lesson03b_stranded_packet.rs`: real threads, a real socket and a gate
//!   reproduce it step by step, next to lesson 03 which delivers.
//!
//! The only difference from lesson 03 is marked `// WRONG:`.

use std::collections::VecDeque;
use std::io;

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::sync::{self, Arc, Condvar, Mutex, thread};
use crate::wire::{Wire, WireHandle};

/// WRONG: lesson 03's send path with a writer that can strand packets.
/// Teaching code only; see the module docs.
pub struct BrokenSendQueue {
    /// What `send` and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

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
    /// Packets accepted by `send`, not yet taken by the writer, oldest first.
    /// Meant to hold: non-empty implies `pending`. The WRONG writer breaks
    /// it: it clears `pending` while packets are still queued.
    queue: VecDeque<Packet>,
    /// The seed's `_pending`: true from the send that woke the writer until
    /// the writer finds the queue empty after a write. While it is true the
    /// writer owns the socket and will come back for the queue, so `send`
    /// need not wake it. Changed only under the lock.
    pending: bool,
    /// true once `close` or `abort` ran or a write failed: `send` refuses
    /// packets. Never goes back to false.
    closed: bool,
}

impl BrokenSendQueue {
    /// Starts the writer thread on `wire`.
    pub fn new(wire: Wire) -> io::Result<BrokenSendQueue> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                pending: false,
                closed: false,
            }),
            pending_or_closed: Condvar::new(),
            counters: wire.handle(),
        });
        let writer_shared = Arc::clone(&shared);
        let writer = sync::spawn("writer", move || run_writer(&writer_shared, &wire))?;
        Ok(BrokenSendQueue {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// `(pending, queued)` as they are now, for the step-by-step example.
    pub fn peek(&self) -> (bool, usize) {
        let state = self.shared.state.lock().unwrap();
        (state.pending, state.queue.len())
    }

    /// Marks the queue closed, drops what is queued if `drop_queued`, wakes
    /// the writer so it can finish, and joins it. Returns the packets dropped.
    fn shut(&self, drop_queued: bool) -> usize {
        let mut state = self.shared.state.lock().unwrap();
        state.closed = true;
        let dropped = if drop_queued {
            std::mem::take(&mut state.queue).len()
        } else {
            0
        };
        drop(state);
        self.shared.pending_or_closed.notify_one();
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        dropped
    }
}

impl SendPath for BrokenSendQueue {
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        let mut state = self.shared.state.lock().unwrap();
        if state.closed {
            return Err(SendError::Closed(packet));
        }
        state.queue.push_back(packet);
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

impl Drop for BrokenSendQueue {
    /// Dropped without `close`: let the writer flush what is queued and exit
    /// on its own (not joined, so dropping never blocks).
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.pending_or_closed.notify_one();
    }
}

// ANCHOR: broken_writer
/// WRONG: the writer thread, with a completion that forgets the queue.
fn run_writer(shared: &Shared, wire: &Wire) {
    let mut state = shared.state.lock().unwrap();
    loop {
        // Sleep until a send sets `pending` (or close).
        while !state.pending && !state.closed {
            state = shared.pending_or_closed.wait(state).unwrap();
            log::trace!("woke after a wait, {} queued", state.queue.len());
        }
        let Some(packet) = state.queue.pop_front() else {
            break; // closed, and nothing left to write
        };
        drop(state); // never hold the queue lock across a socket call

        // One packet, one write call.
        wire.stats().count_batch(1);
        log::trace!("write: 1 packet, {} bytes", packet.len());
        let written = wire.write_all(packet.as_bytes());

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
        // WRONG: the completion just clears the flag, like a C#
        // `OnSendCompleted` that only does `_pending = false;`. Packets that
        // other threads queued during the write (they saw `pending == true`
        // and skipped the wake-up) stay in the queue, and the `while` at the
        // top of the loop puts the writer to sleep on top of them: stranded.
        state.pending = false;
        log::trace!(
            "no re-check: pending -> false with {} queued",
            state.queue.len()
        );
    }
    drop(state);
    wire.shutdown_write();
    log::trace!("closed, exiting");
}
// ANCHOR_END: broken_writer
