//! Lesson 01 — the naive send: every `send` writes to the socket at once,
//! from the caller's own thread.
//!
//! **The problem it shows.** This is the seed's first `Session.Send`: a new
//! `SocketAsyncEventArgs` and a `SendAsync` per message. In Rust threads: each
//! caller writes to the shared `&TcpStream` itself. Two things go wrong:
//!
//! * *every* send is a system call: 100 sends, 100 kernel transitions;
//! * nothing stops two threads writing at once. A large packet can take
//!   more than one write call (the socket buffer fills, the kernel takes
//!   part of it); another thread's bytes can land in between, and the
//!   receiver's framing is corrupted.
//!
//! **What the tests show** (`tests/lesson01_naive.rs`): write calls equal
//! sends; a short write lets another thread's packet interleave.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::wire::Wire;

/// Lesson 01's send path: the caller writes, no lock.
pub struct NaiveSend {
    /// The socket, written by every caller at the same time. No lock.
    wire: Wire,
    /// true once `close` or `abort` ran or a write failed; never goes back to false.
    closed: AtomicBool,
}

impl NaiveSend {
    /// A send path that writes straight to `wire`.
    pub fn new(wire: Wire) -> NaiveSend {
        NaiveSend {
            wire,
            closed: AtomicBool::new(false),
        }
    }
}

impl SendPath for NaiveSend {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed(packet));
        }
        log::trace!(
            "send: writing {} bytes from the caller's thread",
            packet.len()
        );
        // One system call per send, on whichever thread called `send`.
        // Nothing stops another thread from writing at the same moment.
        match self.wire.write_all(packet.as_bytes()) {
            Ok(()) => {
                self.wire.stats().count_send();
                Ok(())
            }
            Err(error) => {
                self.closed.store(true, Ordering::Release);
                self.wire.fail(error);
                Err(SendError::Closed(packet))
            }
        }
    }
    // ANCHOR_END: send

    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.wire.shutdown_write();
        }
    }

    fn abort(&self) -> usize {
        self.closed.store(true, Ordering::Release);
        0 // nothing is ever queued here
    }

    fn stats(&self) -> StatsSnapshot {
        self.wire.stats().snapshot()
    }
}
