//! Lesson 02 — the locked send: a `Mutex` around the writes.
//!
//! **The problem.** Lesson 01 lets two threads write at once, so a packet
//! written in more than one call can be split by another thread's bytes.
//!
//! **The change.** The socket lives behind a `Mutex`; a sender holds the
//! lock for its whole write, so one packet's bytes always go out together.
//!
//! **The cost.** Still one system call per send. And now every caller
//! *waits*: while one thread is in the kernel, the others queue up on the
//! lock, doing nothing. Here the lock is held across the socket call — that
//! is the point of the lock, and the very thing lesson 03 undoes.
//!
//! **What the tests show** (`tests/lesson02_locked.rs`): no interleaving
//! under the same short-write scenario that breaks lesson 01; write calls
//! still equal sends.

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::sync::Mutex;
use crate::wire::{Wire, WireHandle};

/// Lesson 02's send path: the caller writes, under a lock.
pub struct LockedSend {
    // New: the socket lives behind a lock, held for the whole of each write.
    /// The socket and the closed flag; a sender holds this lock from the
    /// first byte of its packet to the last.
    socket: Mutex<Socket>,
    /// Counters, readable without waiting for the lock.
    handle: WireHandle,
}

/// What the lock guards.
struct Socket {
    /// The socket.
    wire: Wire,
    /// true once `close` or `abort` ran or a write failed; never goes back to false.
    closed: bool,
}

impl LockedSend {
    /// A send path that writes to `wire` under a lock.
    pub fn new(wire: Wire) -> LockedSend {
        LockedSend {
            handle: wire.handle(),
            socket: Mutex::new(Socket {
                wire,
                closed: false,
            }),
        }
    }
}

impl SendPath for LockedSend {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // New: one sender at a time. Everybody else waits here, even though
        // all they want is to hand over a few bytes.
        let mut socket = self.socket.lock().unwrap();
        if socket.closed {
            return Err(SendError::Closed(packet));
        }
        log::trace!("send: writing {} bytes under the lock", packet.len());
        // The lock is held across the system call: that is what keeps the
        // packet whole, and what makes every other sender wait.
        match socket.wire.write_all(packet.as_bytes()) {
            Ok(()) => {
                socket.wire.stats().count_send();
                Ok(())
            }
            Err(error) => {
                socket.closed = true;
                socket.wire.fail(error);
                Err(SendError::Closed(packet))
            }
        }
    }
    // ANCHOR_END: send

    fn close(&self) {
        let mut socket = self.socket.lock().unwrap();
        if !socket.closed {
            socket.closed = true;
            socket.wire.shutdown_write();
        }
    }

    fn abort(&self) -> usize {
        self.socket.lock().unwrap().closed = true;
        0 // nothing is ever queued here
    }

    fn stats(&self) -> StatsSnapshot {
        self.handle.stats().snapshot()
    }
}
