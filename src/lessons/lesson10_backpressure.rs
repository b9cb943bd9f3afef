//! Lesson 10 — backpressure and slow readers: a queue cannot grow forever.
//!
//! **The problem.** Lessons 03–06 and 11 queue whatever `send` is given. A peer
//! that stops reading fills its kernel socket buffers, the writer blocks in
//! `write`, and from then on every packet sent to that peer stays in the
//! queue: memory grows until the process dies. The C# original's
//! `_sendQueue` has the same hole.
//!
//! **The change.** A per-session [`QueueLimit`] (in
//! [`crate::backpressure`]) counts the bytes accepted and not yet written.
//! A packet that would take them over the high-water mark meets the
//! session's [`Policy`]:
//!
//! * [`Policy::Block`]: the sender waits on a condvar named after its
//!   condition (`below_low_water_or_closed`) until the writer has drained
//!   the queue to the low-water mark;
//! * [`Policy::Reject`]: `send` returns
//!   [`SendError::Full`](crate::SendError::Full) with the packet;
//! * [`Policy::Disconnect`]: `send` returns
//!   [`SendError::Evicted`](crate::SendError::Evicted) and the session
//!   disconnects the slow reader
//!   ([`DisconnectReason::SlowReader`](crate::session::DisconnectReason::SlowReader)).
//!
//! The lessons with a queue gain four calls, each marked
//! `// New (lesson 10):` in lessons 03–06 — `admit` at the top of `send`
//! (before the queue lock: a blocked sender never holds it), `release`
//! after each write, `forget` for packets dropped unwritten (abort, a
//! failed write), `close` where the queue closes. Lessons 01 and 02 have no queue: the
//! caller writes, and when the peer stops reading the caller blocks inside
//! `write` — the kernel's socket buffer is their limit.
//!
//! **The cost.** A second, small lock per send (the limit's), and a policy
//! decision the application must own: blocking spreads the slowness to the
//! sender, rejecting loses packets, evicting loses the client. (It also
//! buys speed with large packets: `compare --queue-limit`, chapter 10.)
//!
//! **What the tests show** (`tests/lesson10_backpressure.rs`): for every
//! lesson with a queue (03–06 and 11), with a client that stops reading while senders keep
//! sending, the queued bytes never exceed the limit
//! ([`StatsSnapshot::max_queued_bytes`](crate::StatsSnapshot::max_queued_bytes));
//! block parks the senders and they all finish once the reader reads, every
//! packet in order; reject gives `Full` packets back and delivers exactly
//! the accepted ones; disconnect evicts the slow session while another
//! session on the same echo server gets every echo.

pub use crate::backpressure::{Backpressure, Policy, QueueLimit};
