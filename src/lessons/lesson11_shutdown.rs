//! Lesson 11 — shutdown: close flushes, disconnect aborts, every thread is joined.
//!
//! **The problem.** Ending a session is where the C# original leaks: `Send`
//! after `Disconnect` either throws from `SendAsync` on the disposed socket
//! (when nothing was pending) or silently queues into a dead session (when
//! something was), exceptions leave
//! zombie sessions behind, and nothing says what happened to the packets
//! still queued when a session went away.
//!
//! **The change.** Two ways to end, with different promises:
//!
//! * [`Session::close`](crate::Session::close) — graceful: everything
//!   already accepted is written, then the write half is shut down, so the
//!   peer reads every packet and then end-of-stream. It blocks until the
//!   queue is flushed and the writer thread is joined.
//! * [`Session::disconnect`](crate::Session::disconnect) — abort: the
//!   socket is shut down both ways at once (a write blocked on a peer that
//!   does not read returns), the queue is dropped, and it returns how many
//!   packets it dropped.
//!
//! Both are idempotent; after either, `send` returns
//! [`SendError::Closed`](crate::SendError::Closed) with the packet. The
//! writer thread is joined by whichever of close or abort runs first; the
//! reader thread is joined by [`Session::join`](crate::Session::join) —
//! the echo server ([`crate::echo::Server`]) joins the readers of ended
//! sessions on its next accept and at shutdown. Server shutdown closes every
//! session, gives the peers a grace period to hang up, disconnects the
//! rest, and joins everything.
//!
//! Every thread this crate spawns has a
//! [`THREAD_STACK_SIZE`](crate::sync::THREAD_STACK_SIZE) stack (128 KiB), so
//! a thousand sessions — two thousand threads — fit in a small process.
//!
//! **What the tests show** (`tests/lesson11_shutdown.rs`): close delivers
//! every queued packet before end-of-stream; disconnect on a writer held
//! mid-write reports the exact number of packets it dropped; both are
//! idempotent; sends after either give the packet back; the process's
//! thread count ([`thread_count`]) returns to where it was after many
//! sessions come and go; the `servercore serve` binary exits 0 on SIGTERM.

use std::io;

// ANCHOR: thread_count
/// The number of threads in this process right now, counted the way the
/// kernel sees them: the entries of `/proc/self/task` (Linux only).
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}
// ANCHOR_END: thread_count
