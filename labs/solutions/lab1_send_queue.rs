//! Lab 1 — the send queue: the teachers' solution (lesson 03's own code,
//! `src/lessons/lesson03_send_queue.rs`). Built in place of
//! `labs/src/lab1_send_queue.rs` with `--features solutions`.
//!
//! Chapter: `lessons/03-send-queue.md`.

use std::collections::VecDeque;

use std::io;

use servercore::stats::StatsSnapshot;
use servercore::sync::{self, Arc, Condvar, Mutex, thread};
use servercore::wire::{Wire, WireHandle};
use servercore::{Packet, SendError, SendPath};

/// Lab 1's send path (the teachers' solution: lesson 03's code): a queue, a pending flag and a writer thread.
pub struct SendQueue {
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
    /// Invariant: non-empty implies `pending`.
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

impl SendQueue {
    /// Starts the writer thread on `wire`. Fails only if the thread cannot
    /// be spawned (the machine is out of threads or memory maps).
    pub fn new(wire: Wire) -> io::Result<SendQueue> {
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
        Ok(SendQueue {
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
            VecDeque::new()
        };
        drop(state);
        self.shared.pending_or_closed.notify_one();
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        dropped.len()
    }
}

impl SendPath for SendQueue {
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

impl Drop for SendQueue {
    /// Dropped without `close`: let the writer flush what is queued and exit
    /// on its own (not joined, so dropping never blocks).
    fn drop(&mut self) {
        // Not `unwrap`: after a panic elsewhere (a poisoned lock), a panic
        // here, during unwinding, would abort the whole test run.
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        drop(state);
        self.shared.pending_or_closed.notify_one();
    }
}

/// The writer thread: the C# `OnSendCompleted`, as a loop.
fn run_writer(shared: &Shared, wire: &Wire) {
    let mut state = shared.state.lock().unwrap();
    loop {
        // Sleep until a send sets `pending` (or close).
        if !state.pending && !state.closed {
            while !state.pending && !state.closed {
                state = shared.pending_or_closed.wait(state).unwrap();
            }
            log::trace!("woke after a wait, {} queued", state.queue.len());
        }
        let Some(packet) = state.queue.pop_front() else {
            break; // closed, and nothing left to write
        };
        let left = state.queue.len(); // queued before this write began
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
        // The seed's "가정": while we were writing, other threads saw
        // `pending == true`, queued their packets and did NOT wake us.
        // If we cleared `pending` now without looking, their packets would
        // sit in the queue until some later send happened to wake us.
        // So we look, under the same lock they queued under:
        if state.queue.is_empty() {
            state.pending = false; // nobody left behind: the next send wakes us
            log::trace!("re-check: empty, pending -> false");
        } else {
            log::trace!(
                "re-check: {} queued during the write, {} before it: keep pending",
                state.queue.len() - left,
                left
            );
        }
    }
    drop(state);
    wire.shutdown_write();
    log::trace!("closed, exiting");
}
