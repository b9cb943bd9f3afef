//! Counters that turn "writes per send" into a number.
//!
//! Every send path owns one [`SendStats`]; the [`Wire`](crate::wire::Wire)
//! counts each write call and its bytes, the lessons count sends, wake-ups
//! and batches. All counters are `AtomicU64` with `Relaxed` ordering: they are
//! statistics, read after the fact, and order nothing else. Read them with
//! [`SendStats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters of one session's send path. Every field only ever grows,
/// except the two gauges `queued_bytes` and `blocked_sends` (lesson 10).
#[derive(Debug, Default)]
pub struct SendStats {
    /// Packets accepted by `send` (a send that returned `Ok`).
    sends: AtomicU64,
    /// Calls of `write` or `write_vectored` on the socket, each one a system call.
    write_calls: AtomicU64,
    /// Bytes the socket accepted, summed over all write calls.
    bytes_written: AtomicU64,
    /// Times `send` woke the writer thread (`notify_one`, or a channel send
    /// that found the writer parked). Zero for lessons without a writer.
    wakeups: AtomicU64,
    /// Batches the writer took: one per trip from the queue to the socket.
    batches: AtomicU64,
    /// Packets in the largest batch so far.
    max_batch: AtomicU64,
    /// Gauge: bytes admitted by the queue limit and not yet written (lesson
    /// 08). Stored under the limit's lock, so it moves in the limit's order.
    queued_bytes: AtomicU64,
    /// The largest value `queued_bytes` ever had.
    max_queued_bytes: AtomicU64,
    /// Gauge: senders waiting right now for the queue to drain (policy block).
    blocked_sends: AtomicU64,
    /// Sends refused by the queue limit (policies reject and disconnect).
    refused_sends: AtomicU64,
}

impl SendStats {
    /// New counters, all zero.
    pub fn new() -> SendStats {
        SendStats::default()
    }

    /// Counts one accepted send.
    pub fn count_send(&self) {
        self.sends.fetch_add(1, Relaxed);
    }

    /// Counts one write call that moved `bytes` bytes (0 for a failed call).
    pub fn count_write(&self, bytes: usize) {
        self.write_calls.fetch_add(1, Relaxed);
        self.bytes_written.fetch_add(bytes as u64, Relaxed);
    }

    /// Counts one wake-up of the writer thread.
    pub fn count_wakeup(&self) {
        self.wakeups.fetch_add(1, Relaxed);
    }

    /// Counts one batch of `packets` packets taken by the writer.
    pub fn count_batch(&self, packets: usize) {
        self.batches.fetch_add(1, Relaxed);
        self.max_batch.fetch_max(packets as u64, Relaxed);
    }

    /// Sets the queued-bytes gauge (and raises its high-water mark).
    pub fn set_queued_bytes(&self, bytes: usize) {
        self.queued_bytes.store(bytes as u64, Relaxed);
        self.max_queued_bytes.fetch_max(bytes as u64, Relaxed);
    }

    /// One more (`1`) or one fewer (`-1`) sender waiting for the queue to drain.
    pub fn count_blocked_send(&self, delta: i8) {
        if delta >= 0 {
            self.blocked_sends.fetch_add(1, Relaxed);
        } else {
            self.blocked_sends.fetch_sub(1, Relaxed);
        }
    }

    /// Counts one send refused by the queue limit.
    pub fn count_refused_send(&self) {
        self.refused_sends.fetch_add(1, Relaxed);
    }

    /// A copy of the counters as they are now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sends: self.sends.load(Relaxed),
            write_calls: self.write_calls.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            wakeups: self.wakeups.load(Relaxed),
            batches: self.batches.load(Relaxed),
            max_batch: self.max_batch.load(Relaxed),
            queued_bytes: self.queued_bytes.load(Relaxed),
            max_queued_bytes: self.max_queued_bytes.load(Relaxed),
            blocked_sends: self.blocked_sends.load(Relaxed),
            refused_sends: self.refused_sends.load(Relaxed),
        }
    }
}

/// The counters of a [`SendStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Packets accepted by `send`.
    pub sends: u64,
    /// Write calls on the socket (system calls).
    pub write_calls: u64,
    /// Bytes the socket accepted.
    pub bytes_written: u64,
    /// Wake-ups of the writer thread caused by `send`.
    pub wakeups: u64,
    /// Batches the writer took from the queue.
    pub batches: u64,
    /// Packets in the largest batch.
    pub max_batch: u64,
    /// Bytes queued and not yet written, now (lessons 03–05; 0 for 01–02).
    pub queued_bytes: u64,
    /// The most bytes ever queued at once: never above the queue limit.
    pub max_queued_bytes: u64,
    /// Senders waiting for the queue to drain, now (policy block).
    pub blocked_sends: u64,
    /// Sends refused by the queue limit (policies reject and disconnect).
    pub refused_sends: u64,
}

impl StatsSnapshot {
    /// Write calls per accepted send (0 when nothing was sent).
    pub fn writes_per_send(&self) -> f64 {
        ratio(self.write_calls, self.sends)
    }

    /// Wake-ups per accepted send (0 when nothing was sent).
    pub fn wakeups_per_send(&self) -> f64 {
        ratio(self.wakeups, self.sends)
    }

    /// Mean packets per batch, for lessons with a writer thread (0 otherwise).
    pub fn mean_batch(&self) -> f64 {
        ratio(self.sends, self.batches)
    }
}

/// Adds another send path's counters: counts add up, the two high-water
/// marks (`max_batch`, `max_queued_bytes`) take the larger. What a room
/// sums over its sessions.
impl std::ops::AddAssign for StatsSnapshot {
    fn add_assign(&mut self, more: StatsSnapshot) {
        // Destructured, so a new counter cannot be left out unnoticed.
        let StatsSnapshot {
            sends,
            write_calls,
            bytes_written,
            wakeups,
            batches,
            max_batch,
            queued_bytes,
            max_queued_bytes,
            blocked_sends,
            refused_sends,
        } = more;
        self.sends += sends;
        self.write_calls += write_calls;
        self.bytes_written += bytes_written;
        self.wakeups += wakeups;
        self.batches += batches;
        self.max_batch = self.max_batch.max(max_batch);
        self.queued_bytes += queued_bytes;
        self.max_queued_bytes = self.max_queued_bytes.max(max_queued_bytes);
        self.blocked_sends += blocked_sends;
        self.refused_sends += refused_sends;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
