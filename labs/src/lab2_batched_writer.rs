//! Lab 2 — the batched writer: the whole queue, one vectored write.
//!
//! **Read first:** `lessons/04-batched-writer.md` (the seed's next
//! lecture answers "100 sends, 100 writes" with `BufferList`: send
//! everything queued at once).
//!
//! **Graded by:** `cargo test -p servercore-labs --test lab2_batched_writer`
//! (the contract, with two partial-write properties: small socket buffers
//! and a late reader, and every write call capped at 10,007 bytes; plus
//! the gate tests "101 packets = 2 write calls" and "3,001 packets = 4
//! write calls" (`IOV_MAX`)); with `RUSTFLAGS="--cfg loom"`,
//! `--test loom_lab2`.
//!
//! **What you build.** Lab 1's send path with a new writer: when it comes
//! for work it takes the *whole* queue (swap the queue with its own empty
//! `Vec`, under the lock) and writes it with [`Wire::write_vectored`]
//! (`writev(2)`): many packets, one system call. `send`, `close` and
//! `abort` are lab 1's, on a `Vec` (`push` for `push_back`): start by
//! copying yours.
//!
//! **Write the gathering loop yourself** ([`write_batch`]): do not call
//! `Wire::write_packets`, which is this lab's answer, written once for the
//! lessons that come after. The loop is where the lesson is:
//!
//! * `writev` takes at most `IOV_MAX` (1,024) slices per call, and `std`
//!   silently ignores the slices past it (a short write, not an error):
//!   write in groups of at most [`IOV_MAX`];
//! * any write may be partial: the kernel takes what fits in the socket
//!   buffer and says how many bytes. Resume exactly there, mid-packet or
//!   mid-header if need be (`IoSlice::advance_slices`);
//! * `Ok(0)` means the socket takes nothing more (`io::ErrorKind::WriteZero`);
//!   `Interrupted` is retried.
//!
//! The grader makes partial writes certain (a sink in front of the socket
//! that caps every call at 10,007 bytes) and queues 3,000 packets at once,
//! so a loop that assumes "one call writes it all" loses bytes and fails.
//! A test also checks that this file does not call `.write_packets(`.
//!
//! Same rules as lab 1: no lock across a socket call, `servercore::sync`
//! types, and the counters: `count_send()` per accepted packet,
//! `count_wakeup()` per wake-up, `count_batch(batch.len())` per trip the
//! writer makes to the socket.

// The skeleton, as shipped: fields and arguments unused until you write the
// bodies. Delete this line once every `todo!()` is gone.
#![allow(unused)]

use std::io::{self, IoSlice};

use servercore::stats::StatsSnapshot;
use servercore::sync::{self, Arc, Condvar, Mutex, thread};
use servercore::wire::{IOV_MAX, Wire, WireHandle};
use servercore::{Packet, SendError, SendPath};

/// Lab 2's send path: a queue, a pending flag, and a writer thread that
/// writes the whole queue at once.
pub struct BatchedWriter {
    /// What `send` and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What `send` and the writer thread share.
struct Shared {
    /// The queue and its flags. Never held across a socket call.
    state: Mutex<State>,
    /// Signalled when `pending` turns true or `closed` turns true.
    pending_or_closed: Condvar,
    /// The wire's counters (the wire itself belongs to the writer thread).
    counters: WireHandle,
}

/// The state under the lock.
struct State {
    /// Packets accepted by `send`, not yet taken by the writer, oldest
    /// first. A `Vec`, not a `VecDeque`: the writer takes all of it at once.
    /// Invariant: non-empty implies `pending`.
    queue: Vec<Packet>,
    /// true from the send that woke the writer until the writer finds the
    /// queue empty after a write.
    pending: bool,
    /// true once `close` or `abort` ran or a write failed. Never goes back.
    closed: bool,
}

impl BatchedWriter {
    /// Starts the writer thread on `wire` (given).
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
        // The thread is named "writer": the grader watches that name.
        let writer = sync::spawn("writer", move || run_writer(&writer_shared, &wire))?;
        Ok(BatchedWriter {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }
}

impl SendPath for BatchedWriter {
    /// Lab 1's `send`, on a `Vec`.
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        todo!("lab 2: `send`, as in lab 1 (lessons/04-batched-writer.md)")
    }

    /// Lab 1's `close`.
    fn close(&self) {
        todo!("lab 2: `close`, as in lab 1 (lessons/04-batched-writer.md)")
    }

    /// Lab 1's `abort`.
    fn abort(&self) -> usize {
        todo!("lab 2: `abort`, as in lab 1 (lessons/04-batched-writer.md)")
    }

    /// The counters (given).
    fn stats(&self) -> StatsSnapshot {
        self.shared.counters.stats().snapshot()
    }
}

impl Drop for BatchedWriter {
    /// Dropped without `close` (given): the writer flushes and exits on its own.
    fn drop(&mut self) {
        // Not `unwrap`: after a panic elsewhere (a poisoned lock), a panic
        // here, during unwinding, would abort the whole test run.
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        drop(state);
        self.shared.pending_or_closed.notify_one();
    }
}

/// The writer thread: lab 1's loop, one change. Keep a `batch: Vec<Packet>`
/// of your own. Where lab 1 popped one packet, swap the whole queue into
/// `batch` (`std::mem::swap`: the two `Vec`s trade places every round, so
/// in steady state neither allocates); an empty queue after the wait means
/// closed, leave the loop. Unlock, count the batch, [`write_batch`], then
/// `batch.clear()` (drops the packets, keeps the capacity), lock again.
/// The failure path and the "가정" re-check are lab 1's.
///
/// Chapter 04, "The change".
fn run_writer(shared: &Shared, wire: &Wire) {
    todo!("lab 2: the writer thread, `run_writer` (lessons/04-batched-writer.md)")
}

/// Writes every packet of `batch`, in order, in `write_vectored` calls of
/// at most [`IOV_MAX`] slices each, resuming after partial writes.
///
/// For each group of at most `IOV_MAX` packets (`batch.chunks(IOV_MAX)`):
/// fill an array of slices, one per packet (`[IoSlice::new(&[]); IOV_MAX]`
/// on the stack: no allocation per batch), then loop until no slice is
/// left: `wire.write_vectored(slices)`; on `Ok(0)` fail with `WriteZero`;
/// on `Ok(n)` skip the `n` bytes the kernel took
/// (`IoSlice::advance_slices(&mut slices, n)`, which also cuts into a
/// slice); retry `Interrupted`; return any other error.
///
/// Chapter 04, "The change" (the three details that make it correct).
fn write_batch(wire: &Wire, batch: &[Packet]) -> io::Result<()> {
    todo!("lab 2: the gathering write, `write_batch` (lessons/04-batched-writer.md)")
}
