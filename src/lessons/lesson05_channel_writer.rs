//! Lesson 05 — the channel writer: lesson 04's writer on `crossbeam-channel`.
//!
//! **The problem.** Lessons 03 and 04 build the queue, the pending flag and
//! the condvar by hand. That is the point of those lessons, but it is also
//! exactly what a channel already is: a queue whose receiver sleeps when it
//! is empty and is woken by the next send.
//!
//! **The change.** The queue is an unbounded `crossbeam-channel`. `send`
//! is `tx.send(packet)`. The writer blocks in `rx.recv()` for the first
//! packet of a batch, then drains whatever else is there with `try_iter()`
//! and writes it all with the same vectored write as lesson 04. The pending
//! flag is gone: the channel only wakes its receiver when the receiver is
//! actually asleep, which is the same saving.
//!
//! **The cost.** Closing needs care. A channel closes when every `Sender`
//! is dropped, but `send(&self)` shares one `Sender` among all callers; so
//! it sits in an `RwLock<Option<Sender>>`: every send takes the read lock
//! (shared, never waiting on another send), and `close` takes the write lock
//! once to drop the `Sender`. The writer then drains what is left in the
//! channel, sees it disconnected, and exits. Wake-ups are no longer visible
//! either: the channel makes them inside. This lesson counts a wake-up when
//! a send finds the writer parked in `recv`, a close estimate.
//!
//! **What the tests show** (`tests/lesson05_channel_writer.rs`): the same
//! guarantees as lesson 04 — 101 packets in exactly 2 write calls when the
//! writer is held on a gate, partial writes and more than 1,024 slices.

use std::io;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::packet::Packet;
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::sync::{self, Arc, Mutex, thread};
use crate::wire::{IOV_MAX, Wire, WireHandle};

/// The most packets one batch takes from the channel, so that producers
/// faster than the socket cannot keep the writer draining forever.
pub const MAX_BATCH: usize = 16 * IOV_MAX;

/// Lesson 05's send path: a channel and a writer thread.
pub struct ChannelWriter {
    // ANCHOR: state
    // New: the queue, its lock and its condvar are one channel.
    /// The channel's sending side, shared by every caller. `None` once
    /// closed: dropping the last `Sender` is what closes a channel.
    sender: RwLock<Option<Sender<Packet>>>,
    /// true while the writer is blocked in `recv` (or about to be): a send
    /// that finds it true counts a wake-up and clears it. Only counts.
    writer_parked: Arc<AtomicBool>,
    /// true once `abort` ran: the writer drops what it drains instead of writing.
    aborted: Arc<AtomicBool>,
    // ANCHOR_END: state
    /// The wire's counters (the wire itself belongs to the writer thread).
    counters: WireHandle,
    /// The writer thread, until `close` or `abort` joins it. It returns the
    /// number of packets it dropped instead of writing.
    writer: Mutex<Option<thread::JoinHandle<usize>>>,
}

impl ChannelWriter {
    /// Starts the writer thread on `wire`. Fails only if the thread cannot
    /// be spawned (the machine is out of threads or memory maps).
    pub fn new(wire: Wire) -> io::Result<ChannelWriter> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let writer_parked = Arc::new(AtomicBool::new(false));
        let aborted = Arc::new(AtomicBool::new(false));
        let counters = wire.handle();
        let writer = {
            let writer_parked = Arc::clone(&writer_parked);
            let aborted = Arc::clone(&aborted);
            sync::spawn("writer", move || {
                run_writer(&receiver, &writer_parked, &aborted, &wire)
            })?
        };
        Ok(ChannelWriter {
            sender: RwLock::new(Some(sender)),
            writer_parked,
            aborted,
            counters,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Drops the `Sender` (the channel disconnects once drained) and joins
    /// the writer. Returns the packets the writer dropped.
    fn shut(&self) -> usize {
        self.sender.write().unwrap().take();
        match self.writer.lock().unwrap().take() {
            Some(writer) => writer.join().unwrap_or(0), // a panicking writer has already reported itself
            None => 0,
        }
    }
}

impl SendPath for ChannelWriter {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // New: no queue lock, no pending flag: the channel does both.
        let sender = self.sender.read().unwrap();
        let Some(sender) = sender.as_ref() else {
            return Err(SendError::Closed(packet));
        };
        // An unbounded channel's send fails only when the receiver is gone
        // (the writer stopped after a write error): the packet comes back.
        sender.send(packet).map_err(|e| SendError::Closed(e.0))?;
        self.counters.stats().count_send();
        if self.writer_parked.load(Ordering::Relaxed)
            && self.writer_parked.swap(false, Ordering::Relaxed)
        {
            self.counters.stats().count_wakeup();
            log::trace!("enqueue: the writer was parked in recv: count a wake-up");
        } else {
            log::trace!("enqueue: the writer was not parked: no wake-up counted");
        }
        Ok(())
    }
    // ANCHOR_END: send

    fn close(&self) {
        self.shut();
    }

    fn abort(&self) -> usize {
        self.aborted.store(true, Ordering::Release);
        self.shut()
    }

    fn stats(&self) -> StatsSnapshot {
        self.counters.stats().snapshot()
    }
}

impl Drop for ChannelWriter {
    /// Dropped without `close`: dropping the `Sender` lets the writer flush
    /// what is queued and exit on its own (not joined: dropping never blocks).
    fn drop(&mut self) {
        if let Ok(mut sender) = self.sender.write() {
            sender.take();
        }
    }
}

// ANCHOR: writer
/// The writer thread: block for one packet, drain the rest, write them all.
/// Returns how many packets it dropped (after `abort` or a failed write).
fn run_writer(
    receiver: &Receiver<Packet>,
    parked: &AtomicBool,
    aborted: &AtomicBool,
    wire: &Wire,
) -> usize {
    let mut batch: Vec<Packet> = Vec::new();
    loop {
        // New: `recv` is the condvar wait; it returns Err once every Sender
        // is gone *and* the channel is empty, so close flushes everything.
        parked.store(true, Ordering::Relaxed);
        let first = receiver.recv();
        parked.store(false, Ordering::Relaxed);
        let Ok(first) = first else { break };
        batch.push(first);
        // New: `try_iter` is the swap: whatever else is queued, without waiting.
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        if aborted.load(Ordering::Acquire) {
            // `abort` dropped the Sender first, so nothing new arrives.
            let dropped = batch.drain(..).chain(receiver.try_iter()).count();
            log::debug!("aborted, {dropped} queued packets dropped");
            return dropped;
        }
        wire.stats().count_batch(batch.len());
        log::trace!(
            "write: {} packets, {} bytes",
            batch.len(),
            batch.iter().map(Packet::len).sum::<usize>()
        );
        let written = wire.write_packets(&batch);
        batch.clear(); // drops the packets, keeps the capacity
        if let Err(error) = written {
            // Returning drops the only Receiver: from then on every send
            // fails and gives its packet back.
            let dropped = receiver.try_iter().count();
            log::debug!("write failed, {dropped} queued packets dropped");
            wire.fail(error);
            return dropped;
        }
    }
    wire.shutdown_write();
    log::trace!("closed, exiting");
    0
}
// ANCHOR_END: writer
