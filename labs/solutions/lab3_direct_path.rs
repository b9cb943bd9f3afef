//! Lab 3 — the direct path: the teachers' solution (lesson 07's own code,
//! `src/lessons/lesson07_direct_path.rs`). Built in place of
//! `labs/src/lab3_direct_path.rs` with `--features solutions`.
//!
//! Chapter: `lessons/07-direct-path.md`.

use std::io;

use bytes::Bytes;

use servercore::stats::StatsSnapshot;
use servercore::sync::{self, Arc, Condvar, Mutex, thread};
use servercore::wire::Wire;
use servercore::{Packet, SendError, SendPath};

/// Lab 3's send path (the teachers' solution: lesson 07's code): direct writes while idle, a batching writer
/// thread under load.
pub struct DirectPath {
    /// What callers and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What callers and the writer thread share.
struct Shared {
    /// The queue and the owner. Held only for a few instructions at a time:
    /// never across a socket call.
    state: Mutex<State>,
    /// Signalled when the writer thread becomes the owner, or when the
    /// session closes while the socket is idle. The writer waits on it.
    writer_owns_or_closed: Condvar,
    // callers write too, so the wire is shared, not the writer's alone.
    /// The socket. Written only by the current owner (see [`Owner`]).
    wire: Wire,
}

// the pending flag becomes an owner with three values.
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
    /// Packets accepted by `send`, not yet taken by the writer, oldest first.
    /// Invariant: non-empty implies `owner != Idle`.
    queue: Vec<Packet>,
    // what a partial direct write left behind.
    /// The unwritten rest of a packet whose direct write was partial or
    /// would block; the writer writes it before anything in `queue`.
    /// Invariant: `Some` implies `owner == Writer`.
    unfinished: Option<Bytes>,
    /// Who owns the write side. Changed only under the lock.
    owner: Owner,
    /// true once `close` or `abort` ran or a write failed: `send` refuses
    /// packets. Never goes back to false.
    closed: bool,
}

impl State {
    /// The two invariants above, as code. Called before the lock is let go
    /// after a change. Checked in debug builds and in the loom model (which
    /// runs in release), so a broken hand-over fails there at the moment it
    /// happens, not later as a packet that never arrives.
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
    /// Starts the writer thread on `wire`. Fails only if the thread cannot
    /// be spawned (the machine is out of threads or memory maps).
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
        let writer = sync::spawn("writer", move || run_writer(&writer_shared))?;
        Ok(DirectPath {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Marks the path closed, drops what is queued if `drop_queued`, wakes
    /// the writer so it can finish, and joins it. Returns the packets dropped.
    fn shut(&self, drop_queued: bool) -> usize {
        let mut state = self.shared.state.lock().unwrap();
        state.closed = true;
        // The rest of a partial direct write is not dropped: half of that
        // packet is already on the wire, so it is the write in flight, and
        // the writer finishes it (as lesson 04's writer finishes its batch)
        // rather than leave the peer a torn frame.
        let queue = if drop_queued {
            std::mem::take(&mut state.queue)
        } else {
            Vec::new()
        };
        state.check();
        drop(state);
        self.shared.writer_owns_or_closed.notify_one();
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        queue.len()
    }
}

impl SendPath for DirectPath {
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        let mut state = self.shared.state.lock().unwrap();
        if state.closed {
            return Err(SendError::Closed(packet));
        }
        if state.owner != Owner::Idle {
            // Somebody owns the socket (a caller mid-write, or the writer):
            // queue, as in lesson 04. The owner comes back for the queue.
            state.queue.push(packet);
            state.check();
            self.shared.wire.stats().count_send();
            log::trace!(
                "enqueue: owner {:?}, {} queued: no wake-up",
                state.owner,
                state.queue.len()
            );
            return Ok(());
        }
        // the socket is idle: take it, and write from this thread.
        log::trace!("owner Idle -> Caller: write directly from this thread");
        state.owner = Owner::Caller;
        state.check();
        drop(state); // never hold the queue lock across a socket call

        // A write that cannot block: it takes what fits, or says WouldBlock.
        let result = self.shared.wire.try_write(packet.as_bytes());

        let mut state = self.shared.state.lock().unwrap();
        match result {
            Ok(written) if written == packet.len() => {
                log::trace!("direct write: {written} bytes, all of the packet");
            }
            Ok(written) => {
                // Partial: the writer must finish this packet before anything else.
                log::trace!("direct write: partial, {written} of {} bytes", packet.len());
                state.unfinished = Some(packet.into_bytes().slice(written..));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                log::trace!("direct write: would block, handing the packet over");
                state.unfinished = Some(packet.into_bytes());
            }
            Err(error) => {
                state.closed = true;
                state.owner = Owner::Idle;
                state.queue.clear(); // dropped: the socket is broken
                state.check();
                drop(state);
                self.shared.writer_owns_or_closed.notify_one(); // let the writer exit
                self.shared.wire.fail(error);
                return Err(SendError::Closed(packet));
            }
        }
        self.shared.wire.stats().count_send();
        // give the socket back. If anything is left to write (packets
        // queued during our write, or the rest of ours), the writer takes
        // over; otherwise it is idle again and nobody was woken.
        if state.unfinished.is_some() || !state.queue.is_empty() {
            state.owner = Owner::Writer;
            state.check();
            log::trace!(
                "owner Caller -> Writer: {} queued during the write",
                state.queue.len()
            );
            drop(state);
            self.shared.writer_owns_or_closed.notify_one();
            self.shared.wire.stats().count_wakeup();
        } else {
            state.owner = Owner::Idle;
            log::trace!("owner Caller -> Idle: nothing queued, nobody woken");
            state.check();
            let closing = state.closed;
            drop(state);
            if closing {
                self.shared.writer_owns_or_closed.notify_one(); // close waits for an idle socket
            }
        }
        Ok(())
    }

    fn close(&self) {
        self.shut(false);
    }

    fn abort(&self) -> usize {
        self.shut(true)
    }

    fn stats(&self) -> StatsSnapshot {
        self.shared.wire.stats().snapshot()
    }
}

impl Drop for DirectPath {
    /// Dropped without `close`: let the writer flush what is queued and exit
    /// on its own (not joined, so dropping never blocks).
    fn drop(&mut self) {
        // Not `unwrap`: after a panic elsewhere (a poisoned lock), a panic
        // here, during unwinding, would abort the whole test run.
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        drop(state);
        self.shared.writer_owns_or_closed.notify_one();
    }
}

/// The writer thread: lesson 04's loop, entered only by a hand-over.
fn run_writer(shared: &Shared) {
    let wire = &shared.wire;
    let mut batch: Vec<Packet> = Vec::new();
    let mut state = shared.state.lock().unwrap();
    loop {
        // sleep until a caller hands the socket over, or until the
        // session is closed *and* no caller is mid-write.
        while state.owner != Owner::Writer && !(state.closed && state.owner == Owner::Idle) {
            state.check();
            state = shared.writer_owns_or_closed.wait(state).unwrap();
        }
        if state.owner == Owner::Idle {
            break; // closed, idle, nothing queued: done
        }
        // the rest of a partial direct write goes first.
        let unfinished = state.unfinished.take();
        std::mem::swap(&mut state.queue, &mut batch);
        drop(state); // never hold the queue lock across a socket call

        wire.stats()
            .count_batch(batch.len() + usize::from(unfinished.is_some()));
        log::trace!(
            "write: {}{} packets, {} bytes",
            unfinished.as_ref().map_or(String::new(), |rest| format!(
                "the unfinished {} bytes, then ",
                rest.len()
            )),
            batch.len(),
            batch.iter().map(Packet::len).sum::<usize>()
        );
        let written = match &unfinished {
            Some(rest) => wire.write_all(rest),
            None => Ok(()),
        }
        .and_then(|()| wire.write_packets(&batch));
        batch.clear(); // drops the packets, keeps the capacity

        state = shared.state.lock().unwrap();
        if let Err(error) = written {
            state.closed = true;
            state.owner = Owner::Idle;
            let dropped = std::mem::take(&mut state.queue).len();
            state.check();
            drop(state);
            log::debug!("write failed, {dropped} queued packets dropped");
            wire.fail(error);
            return;
        }
        // The seed's "가정", unchanged: look before letting go.
        if state.queue.is_empty() {
            state.owner = Owner::Idle; // the next send writes directly again
            log::trace!("re-check: empty, owner Writer -> Idle");
        }
        state.check();
    }
    drop(state);
    wire.shutdown_write();
    log::trace!("closed, exiting");
}
