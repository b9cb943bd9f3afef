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
//!
//! **Later lessons add** (marked `// New (lesson 10):` / `// New (lesson 11):`):
//! a queue limit, checked by `admit` at the top of `send` and given back by
//! `release` after each write (lesson 10, `crate::backpressure`), and a
//! small, stated thread stack (lesson 11).

use std::io::{self, IoSlice};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::backpressure::{Backpressure, QueueLimit};
use crate::lessons::{SendError, SendPath};
use crate::packet::Packet;
use crate::stats::StatsSnapshot;
use crate::sync::{Arc, Mutex, THREAD_STACK_SIZE, thread};
use crate::wire::{Wire, WireHandle};

/// Linux's `IOV_MAX`: the most slices one `writev` call takes.
pub const IOV_MAX: usize = 1024;

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
    // New (lesson 10): the queued bytes and what to do when there are too many.
    /// Admits packets under the session's queue limit; shared with the
    /// writer, which releases what it wrote.
    limit: Arc<QueueLimit>,
    /// The wire's counters (the wire itself belongs to the writer thread).
    counters: WireHandle,
    /// The writer thread, until `close` or `abort` joins it. It returns the
    /// number of packets it dropped instead of writing.
    writer: Mutex<Option<thread::JoinHandle<usize>>>,
}

impl ChannelWriter {
    /// Starts the writer thread on `wire`, with no queue limit.
    pub fn new(wire: Wire) -> ChannelWriter {
        ChannelWriter::with_limit(wire, Backpressure::unlimited())
    }

    // New (lesson 10): the same, with a queue limit.
    /// Starts the writer thread on `wire`, with a queue limit.
    pub fn with_limit(wire: Wire, limit: Backpressure) -> ChannelWriter {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let limit = Arc::new(QueueLimit::new(limit, wire.handle())); // New (lesson 10)
        let writer_parked = Arc::new(AtomicBool::new(false));
        let aborted = Arc::new(AtomicBool::new(false));
        let counters = wire.handle();
        let writer = {
            let writer_parked = Arc::clone(&writer_parked);
            let aborted = Arc::clone(&aborted);
            let limit = Arc::clone(&limit);
            thread::Builder::new()
                .name("writer".into())
                .stack_size(THREAD_STACK_SIZE) // New (lesson 11): 2,000 threads must fit
                .spawn(move || run_writer(&receiver, &writer_parked, &aborted, &limit, &wire))
                .expect("failed to spawn the writer thread")
        };
        ChannelWriter {
            sender: RwLock::new(Some(sender)),
            writer_parked,
            aborted,
            limit,
            counters,
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Drops the `Sender` (the channel disconnects once drained) and joins
    /// the writer. Returns the packets the writer dropped.
    fn shut(&self) -> usize {
        self.sender.write().unwrap().take();
        self.limit.close(); // New (lesson 10): wake senders blocked on the limit
        match self.writer.lock().unwrap().take() {
            Some(writer) => writer.join().unwrap_or(0), // a panicking writer has already reported itself
            None => 0,
        }
    }
}

impl SendPath for ChannelWriter {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // New (lesson 10): room under the queue limit first (may wait, refuse
        // or evict), before the channel's lock is taken.
        let packet = self.limit.admit(packet)?;
        // New: no queue lock, no pending flag: the channel does both.
        let sender = self.sender.read().unwrap();
        let Some(sender) = sender.as_ref() else {
            self.limit.release(packet.len()); // New (lesson 10): never queued
            return Err(SendError::Closed(packet));
        };
        // An unbounded channel's send fails only when the receiver is gone
        // (the writer stopped after a write error): the packet comes back.
        sender.send(packet).map_err(|e| {
            self.limit.release(e.0.len()); // New (lesson 10): never queued
            SendError::Closed(e.0)
        })?;
        self.counters.stats().count_send();
        if self.writer_parked.load(Ordering::Relaxed)
            && self.writer_parked.swap(false, Ordering::Relaxed)
        {
            self.counters.stats().count_wakeup();
            log::trace!("enqueue: the writer was parked: this send woke it");
        } else {
            log::trace!("enqueue: writer busy, no wake-up");
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
    limit: &QueueLimit, // New (lesson 10)
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
            // New (lesson 10): their bytes leave the count.
            let dropped = limit.forget(batch.drain(..).chain(receiver.try_iter()));
            log::debug!("writer: aborted, {dropped} queued packets dropped");
            return dropped;
        }
        wire.stats().count_batch(batch.len());
        let bytes = batch.iter().map(Packet::len).sum::<usize>();
        log::trace!("write: {} packets, {bytes} bytes", batch.len());
        let written = write_batch(wire, &batch);
        batch.clear(); // drops the packets, keeps the capacity
        limit.release(bytes); // New (lesson 10): these bytes left the queue
        if let Err(error) = written {
            limit.close(); // New (lesson 10): wake senders blocked on the limit
            // Returning drops the only Receiver: from then on every send
            // fails and gives its packet back.
            let dropped = limit.forget(receiver.try_iter()); // New (lesson 10): their bytes leave the count
            log::debug!("writer: write failed, {dropped} queued packets dropped");
            wire.fail(error);
            return dropped;
        }
    }
    wire.shutdown_write();
    log::trace!("writer: closed, exiting");
    0
}
// ANCHOR_END: writer

/// Writes every packet of `batch`, in order, with `writev` calls of at most
/// [`IOV_MAX`] slices each, resuming after partial writes (as lesson 04).
fn write_batch(wire: &Wire, batch: &[Packet]) -> io::Result<()> {
    for group in batch.chunks(IOV_MAX) {
        let mut storage = [IoSlice::new(&[]); IOV_MAX];
        for (slice, packet) in storage.iter_mut().zip(group) {
            *slice = IoSlice::new(packet.as_bytes());
        }
        let mut slices = &mut storage[..group.len()];
        while !slices.is_empty() {
            match wire.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut slices, written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
