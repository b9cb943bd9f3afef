//! Lab 3 — the direct path: write from the caller while the socket is
//! idle, batch only under load.
//!
//! **Read first:** `lessons/07-direct-path.md` (the C# `RegisterSend`
//! starts the send on the caller's own thread; only packets that arrive
//! while a send is in flight wait in the queue).
//!
//! **Graded by:** `cargo test -p servercore-labs --test lab3_direct_path`
//! (the contract with the partial-write properties, plus the gate tests
//! "an idle send is one direct write and no wake-up", "a write that would
//! block hands over mid-packet" and "a burst behind the writer costs one
//! wake-up"); with `RUSTFLAGS="--cfg loom"`, `--test loom_lab3`
//! model-checks every hand-over against a socket whose non-blocking write
//! fits, is partial, or would block.
//!
//! **What you build.** The pending flag becomes an *owner* of the write
//! side ([`Owner`]): `Idle`, `Caller` or `Writer`. A `send` that finds the
//! socket idle takes it (`Idle` → `Caller`) under the lock, lets go of the
//! lock, and writes from its own thread with [`Wire::try_write`], a write
//! that never blocks. Packets that arrive meanwhile are queued. When the
//! direct write is done: nothing queued and nothing left of the packet →
//! `Idle` again, nobody woken; otherwise → `Writer`, and the writer thread
//! is woken to write the rest of the packet first, then the queue.
//!
//! The writer batches with `wire.write_packets(&batch)`: that is lab 2's
//! gathering loop, the crate's copy of it (this lab is about who owns the
//! socket, not about `writev`).
//!
//! **Rules:** lab 1's (no lock across a socket call, `servercore::sync`
//! types, the counters: `count_send()` per accepted packet, `count_wakeup()`
//! per hand-over to the writer, `count_batch(n)` per writer trip), and one
//! more: call [`State::check`] (given) before every unlock that follows a
//! change. It asserts the two invariants, so a broken hand-over fails at
//! the moment it happens, in the grader and under loom.

// The skeleton, as shipped: fields and arguments unused until you write the
// bodies. Delete this line once every `todo!()` is gone.
#![allow(unused)]

use std::io;

use bytes::Bytes;

use servercore::stats::StatsSnapshot;
use servercore::sync::{self, Arc, Condvar, Mutex, thread};
use servercore::wire::Wire;
use servercore::{Packet, SendError, SendPath};

/// Lab 3's send path: direct writes while idle, a batching writer thread
/// under load.
pub struct DirectPath {
    /// What callers and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What callers and the writer thread share.
struct Shared {
    /// The queue and the owner. Never held across a socket call.
    state: Mutex<State>,
    /// Signalled when the writer thread becomes the owner, or when the
    /// session closes while the socket is idle. The writer waits on it.
    writer_owns_or_closed: Condvar,
    /// The socket, shared: callers write too. Written only by the current
    /// owner (see [`Owner`]).
    wire: Wire,
}

/// Who owns the write side of the socket: exactly one, at any moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Nobody is writing and nothing is waiting: the next `send` may write
    /// directly from its own thread.
    Idle,
    /// A caller is in its direct write, outside the lock.
    Caller,
    /// The writer thread owns the socket until it finds nothing left to write.
    Writer,
}

/// The state under the lock.
struct State {
    /// Packets accepted by `send`, not yet taken by the writer, oldest
    /// first. Invariant: non-empty implies `owner != Idle`.
    queue: Vec<Packet>,
    /// The unwritten rest of a packet whose direct write was partial or
    /// would block (`packet.into_bytes().slice(written..)`); the writer
    /// writes it before anything in `queue`.
    /// Invariant: `Some` implies `owner == Writer`.
    unfinished: Option<Bytes>,
    /// Who owns the write side. Changed only under the lock.
    owner: Owner,
    /// true once `close` or `abort` ran or a write failed. Never goes back.
    closed: bool,
}

impl State {
    /// The two invariants above, as code (given). Call it before the lock
    /// is let go after a change.
    fn check(&self) {
        if cfg!(any(debug_assertions, loom)) {
            assert!(
                self.queue.is_empty() || self.owner != Owner::Idle,
                "{} packet(s) queued and nobody owns the socket: stranded (whoever sets \
                 the owner to `Idle` must find the queue empty first, under the lock)",
                self.queue.len()
            );
            assert!(
                self.unfinished.is_none() || self.owner == Owner::Writer,
                "the rest of a partial write is waiting, and the writer does not own the socket"
            );
        }
    }
}

impl DirectPath {
    /// Starts the writer thread on `wire` (given).
    pub fn new(wire: Wire) -> io::Result<DirectPath> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                unfinished: None,
                owner: Owner::Idle,
                closed: false,
            }),
            writer_owns_or_closed: Condvar::new(),
            wire,
        });
        let writer_shared = Arc::clone(&shared);
        // The thread is named "writer": the grader watches that name.
        let writer = sync::spawn("writer", move || run_writer(&writer_shared))?;
        Ok(DirectPath {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }
}

impl SendPath for DirectPath {
    /// Under the lock: refuse if `closed`. If somebody owns the socket,
    /// push, count the send, return (no wake-up: the owner comes back for
    /// the queue). If it is idle: `owner = Caller`, unlock, and
    /// `wire.try_write(packet.as_bytes())`. Lock again and sort the answer
    /// out: all written; partial (keep the rest in `unfinished`); would
    /// block or interrupted (the whole packet goes to `unfinished`); any
    /// other error (closed, owner back to `Idle`, queue dropped, wake the
    /// writer so it can exit, `wire.fail(error)`, give the packet back).
    /// Count the send. Then give the socket back: to the `Writer` if
    /// anything is left (`unfinished` or queued meanwhile) — notify and
    /// count the wake-up — else to `Idle`; and if it went idle while
    /// `closed` was set meanwhile, notify the writer: `close` waits for an
    /// idle socket.
    ///
    /// Chapter 07, "The change".
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        todo!("lab 3: `send` (lessons/07-direct-path.md)")
    }

    /// Graceful close: set `closed` under the lock, wake the writer, join
    /// it. The writer exits once the socket is idle (a caller mid-write
    /// gives it back first) and it has written everything.
    fn close(&self) {
        todo!("lab 3: `close` (lessons/07-direct-path.md)")
    }

    /// Abort: as `close`, and take the queue out under the same lock;
    /// return its length. Keep `unfinished`: half of that packet is already
    /// on the wire, so the writer finishes it rather than tear the frame.
    fn abort(&self) -> usize {
        todo!("lab 3: `abort` (lessons/07-direct-path.md)")
    }

    /// The counters (given).
    fn stats(&self) -> StatsSnapshot {
        self.shared.wire.stats().snapshot()
    }
}

impl Drop for DirectPath {
    /// Dropped without `close` (given): the writer flushes and exits on its own.
    fn drop(&mut self) {
        // Not `unwrap`: after a panic elsewhere (a poisoned lock), a panic
        // here, during unwinding, would abort the whole test run.
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        drop(state);
        self.shared.writer_owns_or_closed.notify_one();
    }
}

/// The writer thread: lab 2's loop, entered only by a hand-over.
///
/// Lock. Loop: wait while the owner is not `Writer` and not (closed and
/// `Idle`); if the owner is `Idle` (closed, nothing left) leave the loop.
/// Take `unfinished` and swap the queue into your `batch`; unlock; count
/// the batch (the unfinished rest counts as a packet); write the rest
/// first (`wire.write_all`), then `wire.write_packets(&batch)`; clear the
/// batch; lock. On an error: closed, owner `Idle`, drop the queue,
/// `wire.fail(error)`, return. Then the "가정", unchanged: queue empty →
/// owner `Idle` (the next send writes directly again); not empty → stay
/// `Writer` and go round. After the loop, unlock and `wire.shutdown_write()`.
///
/// Chapter 07, "The change".
fn run_writer(shared: &Shared) {
    todo!("lab 3: the writer thread, `run_writer` (lessons/07-direct-path.md)")
}
