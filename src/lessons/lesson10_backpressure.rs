//! Lesson 10 — backpressure: a queue cannot grow forever.
//!
//! **The problem.** Lessons 03–07 queue whatever `send` is given. A peer
//! that stops reading fills its kernel socket buffers, the writer blocks in
//! `write`, and from then on every packet sent to that peer stays in the
//! queue: memory grows until the process dies. The C# original's
//! `_sendQueue` has the same hole.
//!
//! **The change.** A [`QueueLimit`] counts the bytes accepted by `send` and
//! not yet written, and applies a [`Policy`] when a packet would push them
//! over the **high-water mark**:
//!
//! * [`Policy::Block`]: the sender waits on a condvar named after its
//!   condition (`below_low_water_or_closed`) until the writer has drained
//!   the queue down to the **low-water mark**, then goes on. The peer's
//!   slowness travels back to whoever sends (for an echo server: to the
//!   reader thread, which stops reading, so TCP slows the peer down in turn).
//! * [`Policy::Reject`]: `send` fails at once with [`SendError::Full`],
//!   giving the packet back, until the queue has drained to the low mark.
//! * [`Policy::Disconnect`]: `send` fails with [`SendError::Evicted`] and
//!   the session disconnects the slow reader, as gorilla/websocket's chat
//!   hub drops a client whose buffer is full.
//!
//! The two marks give *hysteresis*: once full, the queue is treated as full
//! until it is well below the limit, so a sender is not woken (or a send
//! accepted) for every single packet the writer takes off.
//!
//! **It wraps, it does not retrofit.** Lessons 03–07 stay exactly as first
//! taught. [`Limited`] is a send path that holds another one: its `send`
//! admits the packet under the limit and then hands it on; the bytes leave
//! the count as the wire reports them written (the limit is the wire's
//! [`WireObserver`]), and a failed wire closes the limit so no sender waits
//! forever. [`start_limited`] puts the two together; the catalog
//! (`Lesson::start_with`) calls it for every lesson that has a queue.
//!
//! Lessons 01 and 02 have no queue, so they have no limit: their callers
//! write themselves, and when the peer stops reading the kernel's socket
//! buffer fills and the caller blocks inside `write`. The socket buffer *is*
//! their limit, and blocking is their only policy.
//!
//! **Invariant**, kept for every policy: the queued bytes never exceed the
//! high mark, except that one packet larger than the high mark is admitted
//! into an otherwise empty queue (or it could never be sent).
//!
//! **The cost.** A second, small lock per send (the limit's) and one per
//! write call, and a policy decision the application must own: blocking
//! spreads the slowness to the sender, rejecting loses packets, evicting
//! loses the client.
//!
//! **What the tests show** (`tests/lesson10_backpressure.rs`): for every
//! lesson with a queue, with a client that stops reading while senders keep
//! sending, the queued bytes never exceed the limit
//! ([`StatsSnapshot::max_queued_bytes`]); block parks the senders and they
//! all finish once the reader reads, every packet in order; reject gives
//! `Full` packets back and delivers exactly the accepted ones; disconnect
//! evicts the slow session while another session on the same echo server
//! gets every echo; after an abort the queued-bytes gauge is back at 0.

use std::fmt;
use std::io;
// std's lock and condvar, not `crate::sync`'s: the limit is not part of the
// writer hand-offs that the loom models check, and keeping it out of the
// model keeps the model small. Its lock is never held across a socket call.
use std::sync::{Arc, Condvar, Mutex};

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::wire::{Wire, WireHandle, WireObserver};

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
    /// No limit: the queue may grow without bound (lessons 03–07 as first taught).
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
/// wait on. One per session, shared by its [`Limited`] and its wire.
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
        // After `close`, `clear` may have zeroed the count before a refused
        // packet's bytes come back: only an open limit must balance exactly.
        debug_assert!(
            level.closed || bytes <= level.queued,
            "released more than was admitted"
        );
        level.queued = level.queued.saturating_sub(bytes);
        self.counters.stats().set_queued_bytes(level.queued);
        if level.full && level.queued <= self.config.low_water {
            level.full = false;
            drop(level); // notify after unlocking: the woken senders find the lock free
            self.below_low_water_or_closed.notify_all();
        }
    }
    // ANCHOR_END: release

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

    /// The send path behind the limit has shut down (closed or aborted,
    /// its writer joined): nothing is queued any more, whatever was
    /// dropped unwritten. Sets the count and the gauge back to 0.
    pub fn clear(&self) {
        let mut level = self.level.lock().unwrap();
        level.closed = true;
        level.queued = 0;
        self.counters.stats().set_queued_bytes(0);
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

// ANCHOR: observer
/// The wire tells the limit what left the queue: every byte a write call
/// took was admitted by `send` before, so it is released here. This is the
/// whole link between the limit and the lesson it wraps.
impl WireObserver for QueueLimit {
    fn written(&self, bytes: usize) {
        self.release(bytes);
    }

    fn failed(&self) {
        // Nothing more will be written: wake every blocked sender.
        self.close();
    }
}
// ANCHOR_END: observer

// ANCHOR: limited
/// Any send path, behind a queue limit.
pub struct Limited {
    /// The lesson's send path, as first taught.
    inner: Box<dyn SendPath>,
    /// The limit; the inner path's wire releases into it.
    limit: Arc<QueueLimit>,
}

impl SendPath for Limited {
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // Room under the limit first. This may wait (block), refuse (reject)
        // or evict (disconnect); it takes only the limit's own lock, so a
        // waiting sender holds no lock of the lesson's.
        let packet = self.limit.admit(packet)?;
        let len = packet.len();
        // Refused behind the limit (closed): those bytes were never queued.
        self.inner
            .send(packet)
            .inspect_err(|_| self.limit.release(len))
    }

    fn close(&self) {
        self.limit.close(); // blocked senders get their packets back
        self.inner.close(); // flushes what was accepted
        self.limit.clear();
    }

    fn abort(&self) -> usize {
        self.limit.close();
        let dropped = self.inner.abort();
        self.limit.clear(); // what the abort dropped is no longer queued
        dropped
    }

    fn stats(&self) -> StatsSnapshot {
        self.inner.stats() // the limit counts into the same counters
    }
}

/// Starts a send path with `start` on `wire`, behind a queue limit of
/// `config`: the limit observes the wire, and [`Limited`] admits in front.
pub fn start_limited(
    wire: Wire,
    config: Backpressure,
    start: impl FnOnce(Wire) -> io::Result<Box<dyn SendPath>>,
) -> io::Result<Box<dyn SendPath>> {
    let limit = Arc::new(QueueLimit::new(config, wire.handle()));
    let inner = start(wire.observed_by(Arc::clone(&limit) as Arc<dyn WireObserver>))?;
    Ok(Box::new(Limited { inner, limit }))
}
// ANCHOR_END: limited
