//! Backpressure: a limit on the bytes a session may have queued (lesson 10).
//!
//! Without a limit, a peer that stops reading lets the send queue grow until
//! the process runs out of memory: the C# original's `_sendQueue` is
//! unbounded. A [`QueueLimit`] counts the bytes accepted by `send` and not
//! yet written, and applies a [`Policy`] when a packet would push them over
//! the **high-water mark**:
//!
//! * [`Policy::Block`]: the sender waits until the writer has drained the
//!   queue down to the **low-water mark**, then goes on. The peer's slowness
//!   travels back to whoever sends (for an echo server: to the reader thread,
//!   which stops reading, so TCP slows the peer down in turn).
//! * [`Policy::Reject`]: `send` fails at once with [`SendError::Full`],
//!   giving the packet back, until the queue has drained to the low mark.
//! * [`Policy::Disconnect`]: `send` fails with [`SendError::Evicted`] and
//!   the session is disconnected: the slow reader is evicted, as
//!   gorilla/websocket's chat hub drops a client whose buffer is full.
//!
//! The two marks give *hysteresis*: once full, the queue is treated as full
//! until it is well below the limit, so a sender is not woken (or a send
//! accepted) for every single packet the writer takes off.
//!
//! The lessons with a queue (03, 04, 05) call a `QueueLimit` at three
//! points, each marked `// New (lesson 10):`:
//!
//! 1. [`admit`](QueueLimit::admit) at the top of `send`, **before** taking
//!    the queue lock: a blocked sender holds no lesson lock, so the writer
//!    can always take the queue and drain it;
//! 2. [`release`](QueueLimit::release) in the writer, right after each
//!    write returns, with the bytes that left the queue;
//! 3. [`close`](QueueLimit::close) wherever the queue closes, so a blocked
//!    sender wakes up and gets its packet back.
//!
//! Lessons 01 and 02 have no queue, so they have no limit: their callers
//! write themselves, and when the peer stops reading the kernel's socket
//! buffer fills and the caller blocks inside `write`. The socket buffer *is*
//! their limit, and blocking is their only policy.
//!
//! Invariant kept for every policy: the queued bytes never exceed the high
//! mark, except that one packet larger than the high mark is admitted into
//! an otherwise empty queue (or it could never be sent).

use std::fmt;

use crate::lessons::SendError;
use crate::packet::Packet;
// std's lock and condvar, not `crate::sync`'s: the limit is not part of the
// writer hand-off that the loom models check, and keeping it out of the model
// keeps the model small. It never blocks unless a limit is set, and it never
// holds its lock across anything the model schedules.
use crate::wire::WireHandle;
use std::sync::{Condvar, Mutex};

/// What `send` does when a packet would take the queue over its high mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Wait until the queue has drained to the low mark.
    Block,
    /// Fail with [`SendError::Full`], giving the packet back.
    Reject,
    /// Fail with [`SendError::Evicted`]; the session disconnects the slow reader.
    Disconnect,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Block => "block",
            Policy::Reject => "reject",
            Policy::Disconnect => "disconnect",
        })
    }
}

// ANCHOR: config
/// A session's queue limit: two marks and a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backpressure {
    /// Queued bytes never exceed this (see the module docs for the one
    /// exception). `usize::MAX` means no limit.
    pub high_water: usize,
    /// After the queue hit the high mark, `Block` and `Reject` go on
    /// refusing until the queued bytes fall to this. At most `high_water`.
    pub low_water: usize,
    /// What happens at the high mark.
    pub policy: Policy,
}
// ANCHOR_END: config

impl Backpressure {
    /// No limit: the queue may grow without bound (lessons 03–06 and 11 as first taught).
    pub const fn unlimited() -> Backpressure {
        Backpressure {
            high_water: usize::MAX,
            low_water: usize::MAX,
            policy: Policy::Block,
        }
    }

    /// A limit of `high_water` bytes with the low mark at half of it.
    pub const fn new(high_water: usize, policy: Policy) -> Backpressure {
        Backpressure {
            high_water,
            low_water: high_water / 2,
            policy,
        }
    }

    /// Whether this is [`Backpressure::unlimited`].
    pub fn is_unlimited(&self) -> bool {
        self.high_water == usize::MAX
    }
}

impl Default for Backpressure {
    /// [`Backpressure::unlimited`].
    fn default() -> Backpressure {
        Backpressure::unlimited()
    }
}

/// The counter of queued bytes, the policy, and the condvar blocked senders
/// wait on. One per send path.
pub struct QueueLimit {
    /// The marks and the policy.
    config: Backpressure,
    /// The queued bytes and the flags. Its own lock, never held together
    /// with a lesson's queue lock, and never across a socket call.
    level: Mutex<Level>,
    /// Signalled when `full` turns false (the queue drained to the low mark)
    /// or `closed` turns true. Blocked senders wait on it.
    below_low_water_or_closed: Condvar,
    /// The session's counters: queued bytes, its high-water mark, waits, refusals.
    counters: WireHandle,
}

/// The state under [`QueueLimit`]'s lock.
struct Level {
    /// Bytes admitted and not yet released: in the queue or in the write
    /// in flight. Invariant: `queued <= high_water`, or one packet alone.
    queued: usize,
    /// true from the moment a packet did not fit until `queued` falls to the
    /// low mark; while true, `Block` waits and `Reject` refuses.
    full: bool,
    /// true once the queue closed (or the session was evicted): `admit`
    /// refuses everything. Never goes back to false.
    closed: bool,
}

impl QueueLimit {
    /// A limit with `config`, counting into `counters`.
    pub fn new(config: Backpressure, counters: WireHandle) -> QueueLimit {
        QueueLimit {
            config: Backpressure {
                low_water: config.low_water.min(config.high_water),
                ..config
            },
            level: Mutex::new(Level {
                queued: 0,
                full: false,
                closed: false,
            }),
            below_low_water_or_closed: Condvar::new(),
            counters,
        }
    }

    /// The marks and the policy.
    pub fn config(&self) -> Backpressure {
        self.config
    }

    // ANCHOR: admit
    /// Makes room for `packet` under the limit, or applies the policy.
    /// Call it before taking the queue lock. On `Ok` the packet's bytes
    /// count as queued until [`release`](QueueLimit::release)d.
    pub fn admit(&self, packet: Packet) -> Result<Packet, SendError> {
        if self.is_unlimited() {
            // No limit, nothing to count: no second lock per send, so a
            // lesson without a limit costs what it cost before lesson 10.
            return Ok(packet);
        }
        let len = packet.len();
        let mut level = self.level.lock().unwrap();
        loop {
            if level.closed {
                return Err(SendError::Closed(packet));
            }
            let fits = level.queued == 0
                || (!level.full && level.queued.saturating_add(len) <= self.config.high_water);
            if fits {
                break;
            }
            level.full = true;
            match self.config.policy {
                Policy::Block => {
                    // Wait for the writer to drain us to the low mark. Only
                    // this lock is held while waiting: never the queue lock.
                    self.counters.stats().count_blocked_send(1);
                    while level.full && !level.closed {
                        level = self.below_low_water_or_closed.wait(level).unwrap();
                    }
                    self.counters.stats().count_blocked_send(-1);
                }
                Policy::Reject => {
                    self.counters.stats().count_refused_send();
                    return Err(SendError::Full(packet));
                }
                Policy::Disconnect => {
                    level.closed = true; // evicted: nothing more goes in
                    drop(level);
                    self.below_low_water_or_closed.notify_all();
                    self.counters.stats().count_refused_send();
                    return Err(SendError::Evicted(packet));
                }
            }
        }
        level.queued += len;
        self.counters.stats().set_queued_bytes(level.queued);
        Ok(packet)
    }
    // ANCHOR_END: admit

    // ANCHOR: release
    /// `bytes` have left the queue (written, or given back): lowers the
    /// count, and wakes blocked senders once it is down to the low mark.
    pub fn release(&self, bytes: usize) {
        if self.is_unlimited() {
            return; // nothing was counted in `admit`
        }
        let mut level = self.level.lock().unwrap();
        debug_assert!(bytes <= level.queued, "released more than was admitted");
        level.queued = level.queued.saturating_sub(bytes);
        self.counters.stats().set_queued_bytes(level.queued);
        if level.full && level.queued <= self.config.low_water {
            level.full = false;
            drop(level); // notify after unlocking: the woken senders find the lock free
            self.below_low_water_or_closed.notify_all();
        }
    }
    // ANCHOR_END: release

    /// Packets taken out of the queue and dropped unwritten (an abort, a
    /// failed write): releases their bytes, so the `queued_bytes` gauge
    /// falls back to what is really still queued. Returns how many there
    /// were. Call it after letting go of the queue lock, as `release`.
    pub fn forget(&self, dropped: impl IntoIterator<Item = Packet>) -> usize {
        let (count, bytes) = dropped.into_iter().fold((0, 0), |(count, bytes), packet| {
            (count + 1, bytes + packet.len())
        });
        self.release(bytes);
        count
    }

    /// The queue closed: from now on `admit` refuses, and every blocked
    /// sender wakes up and gets its packet back. Idempotent.
    pub fn close(&self) {
        self.level.lock().unwrap().closed = true;
        self.below_low_water_or_closed.notify_all();
    }

    /// Whether this is [`Backpressure::unlimited`]: then `admit` and
    /// `release` do nothing (no lock, no count) and the queued-bytes
    /// gauges stay at 0.
    pub fn is_unlimited(&self) -> bool {
        self.config.high_water == usize::MAX
    }

    /// Bytes admitted and not yet released (always 0 without a limit).
    pub fn queued_bytes(&self) -> usize {
        self.level.lock().unwrap().queued
    }
}

impl fmt::Debug for QueueLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueLimit")
            .field("config", &self.config)
            .field("queued", &self.queued_bytes())
            .finish_non_exhaustive()
    }
}
