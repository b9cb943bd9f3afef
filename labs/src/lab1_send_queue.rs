//! Lab 1 — the send queue: a queue, a `pending` flag and a writer thread.
//!
//! **Read first:** `lessons/03-send-queue.md` (the seed's `Send`,
//! `RegisterSend` and `OnSendCompleted`, and its "가정" (assumption)
//! paragraph), then `lessons/03b-stranded-packet.md` for the one bug this
//! lab is most likely to have.
//!
//! **Graded by:** `cargo test -p servercore-labs --test lab1_send_queue`
//! (the contract every lesson keeps, plus the gate tests "one write call
//! per send" and "a burst of 100 sends behind a held write costs exactly
//! one wake-up"); with `RUSTFLAGS="--cfg loom"`, `--test loom_lab1`
//! model-checks your hand-off.
//!
//! **What you build.** Callers never touch the socket. [`SendPath::send`]
//! pushes the packet on the queue under a short lock and returns. One
//! writer thread ([`run_writer`]) takes packets off the queue, one per
//! write call. The `pending` flag says "the writer owns the socket and will
//! come back for the queue": `send` wakes the writer only when `pending`
//! is false, and sets it; while it is true, `send` only pushes. After each
//! write the writer looks at the queue again *under the lock* before it
//! clears `pending`.
//!
//! **Rules the grader holds you to:**
//!
//! * never hold the lock across a socket call (the writer unlocks, writes,
//!   locks again);
//! * use `servercore::sync`'s `Mutex`, `Condvar`, `Arc` and `thread`, not
//!   `std`'s: under `--cfg loom` they become loom's, and that is how the
//!   model checker sees your code;
//! * the counters are part of the contract (the grader reads them through
//!   [`SendPath::stats`]): call `count_send()` for every packet `send`
//!   accepts, `count_wakeup()` for every wake-up `send` makes, and
//!   `count_batch(1)` for every packet the writer takes. The [`Wire`]
//!   counts write calls and bytes by itself.
//!
//! Work in this order: `send`, `run_writer`, `close`, `abort`. Run the
//! grader after each; read the first failure message, it names what to
//! look at. The teachers' solution is behind `--features solutions`.

// The skeleton, as shipped: fields and arguments unused until you write the
// bodies. Delete this line once every `todo!()` is gone.
#![allow(unused)]

use std::collections::VecDeque;
use std::io;

use servercore::stats::StatsSnapshot;
use servercore::sync::{self, Arc, Condvar, Mutex, thread};
use servercore::wire::{Wire, WireHandle};
use servercore::{Packet, SendError, SendPath};

/// Lab 1's send path: a queue, a pending flag and a writer thread.
pub struct SendQueue {
    /// What `send` and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it (take it out of
    /// the `Option`, so that only the first caller joins).
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What `send` and the writer thread share.
struct Shared {
    /// The queue and its flags. Held only for a few instructions at a time:
    /// never across a socket call.
    state: Mutex<State>,
    /// Signalled when `pending` turns true (work for the writer) or
    /// `closed` turns true. The writer waits on it while it has nothing to do.
    pending_or_closed: Condvar,
    /// The wire's counters (the wire itself belongs to the writer thread):
    /// `counters.stats().count_send()` and friends.
    counters: WireHandle,
}

/// The state under the lock.
struct State {
    /// Packets accepted by `send`, not yet taken by the writer, oldest first.
    /// Invariant: non-empty implies `pending`.
    queue: VecDeque<Packet>,
    /// The seed's `_pending`: true from the send that woke the writer until
    /// the writer finds the queue empty after a write.
    pending: bool,
    /// true once `close` or `abort` ran or a write failed: `send` refuses
    /// packets. Never goes back to false.
    closed: bool,
}

impl SendQueue {
    /// Starts the writer thread on `wire` (given: nothing to write here).
    /// Fails only if the thread cannot be spawned.
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
        // The thread is named "writer": the grader watches that name.
        let writer = sync::spawn("writer", move || run_writer(&writer_shared, &wire))?;
        Ok(SendQueue {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }
}

impl SendPath for SendQueue {
    /// The C# `Send`: under the lock, refuse if `closed` (give the packet
    /// back: `Err(SendError::Closed(packet))`); else push it and count it.
    /// If `pending` is already true, the writer will find the packet:
    /// return. Otherwise this is `RegisterSend`: set `pending`, let go of
    /// the lock, wake the writer (`notify_one`) and count the wake-up.
    ///
    /// Chapter 03, "The change".
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        todo!("lab 1: `send` (lessons/03-send-queue.md)")
    }

    /// Graceful close: set `closed` under the lock, wake the writer, and
    /// join it (the writer drains the queue and shuts the write half down
    /// before it exits). Idempotent: a second call finds no `JoinHandle`.
    fn close(&self) {
        todo!("lab 1: `close` (lessons/03-send-queue.md)")
    }

    /// Abort: like `close`, but take the queue out first (under the same
    /// lock as `closed = true`) and return how many packets it held.
    fn abort(&self) -> usize {
        todo!("lab 1: `abort` (lessons/03-send-queue.md)")
    }

    /// The counters (given).
    fn stats(&self) -> StatsSnapshot {
        self.shared.counters.stats().snapshot()
    }
}

impl Drop for SendQueue {
    /// Dropped without `close` (given): let the writer flush what is queued
    /// and exit on its own, not joined, so dropping never blocks.
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
///
/// Lock the state. Loop: wait on the condvar while neither `pending` nor
/// `closed` is true; pop the oldest packet (none left: you were woken by
/// `close`, so leave the loop); unlock; count the batch and write the
/// packet with `wire.write_all`; lock again. If the write failed: set
/// `closed`, clear `pending`, drop the queue, unlock and call
/// `wire.fail(error)`, then return. Otherwise the "가정": if the queue is
/// empty, clear `pending`; if not, packets came in during the write from
/// senders that saw `pending` true and woke nobody: keep `pending` and go
/// round again. After the loop, unlock and shut the write half down
/// (`wire.shutdown_write()`).
///
/// Chapter 03, "The change" and "가정"; chapter 03b shows what goes wrong
/// when the re-check is outside the lock.
fn run_writer(shared: &Shared, wire: &Wire) {
    todo!("lab 1: the writer thread, `run_writer` (lessons/03-send-queue.md)")
}
