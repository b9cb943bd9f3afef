//! Lesson 08's hand-off, model-checked with loom: the rings, the atomic
//! pending flag and its fences, the condvars and the close protocol of
//! `src/lessons/lesson08_rings.rs`, exactly as written, under every
//! interleaving loom explores (preemptions bounded by
//! `LOOM_MAX_PREEMPTIONS`, 3 when unset) and every value the memory model
//! lets a load return, not only the latest.
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test loom_lesson08`
//!
//! The socket is a [`MemorySink`] (or, for partial writes, a sink in front
//! of one that takes at most 3 bytes per call). The rings are 8 bytes: two
//! 4-byte test packets each, so a third send blocks until the writer frees
//! room. Every ring byte access is reported to loom
//! (`servercore::sync::ByteAccess`), so a producer that wrote over bytes
//! the writer was still reading would fail the model as a data race.
//!
//! What is checked:
//!
//! * **no stranded bytes**: right before the writer sleeps, every packet
//!   whose `send` has returned `Ok` is written (a check run before every
//!   condvar wait), and with no close to rescue them, all packets arrive;
//! * **no lost wake-up**, for the writer and for a sender blocked on a full
//!   ring: a lost one leaves every thread waiting, which loom reports;
//! * **close and abort racing the senders**: `Ok` means delivered (or,
//!   after an abort, counted as dropped), a refusal means never delivered;
//! * **partial writes** never let another ring's bytes into a frame;
//! * **the fences matter**: a model of the same hand-off with
//!   `Release`/`Acquire` only, and no fences, strands the packet, and loom
//!   finds it.
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

mod loom_support;

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use loom::sync::Arc;
use loom_support::{
    Model, PACKET_LEN, SleepCheck, Start, abort_races_producers_on,
    assert_delivered_exactly_once_in_order, builder, close_races_producers_on, packet, received,
};
use servercore::lessons::lesson08_rings::RingPath;
use servercore::sync::loom_check::{self, CheckGuard};
use servercore::testing::MemorySink;
use servercore::wire::{Sink, WireHandle};
use servercore::{SendPath, Wire};

/// Ring bytes in every model: two 4-byte packets.
const RING: usize = 8;

const LESSON_08: Start = |wire| Box::new(RingPath::with_capacity(wire, RING).unwrap());

/// The support module's scenarios, without its sleep check (it reads the
/// wire's `sends` counter, which lesson 08 keeps per ring instead): this
/// file installs its own ([`check_writer_never_sleeps_on_returned_sends`]).
const NO_SUPPORT_CHECK: Model = Model {
    try_write: servercore::testing::TryWrite::All,
    sleep_check: SleepCheck::Off,
};

/// "No stranded bytes", as a check loom runs right before any thread of the
/// model blocks on a condvar: if that thread is the writer, every byte of
/// every `send` that has returned `Ok` (counted by the test's senders in
/// `returned`, a `std` atomic) has been written. A sender that published
/// and has not yet returned may be about to wake the writer, so its bytes
/// do not count yet; once it returns, the writer must not sleep on them.
fn check_writer_never_sleeps_on_returned_sends(
    counters: WireHandle,
    returned: std::sync::Arc<AtomicUsize>,
) -> CheckGuard {
    loom_check::before_wait(move || {
        if loom::thread::current().name() != Some("writer") {
            return;
        }
        let written = counters.stats().snapshot().bytes_written as usize;
        let returned = returned.load(SeqCst);
        assert!(
            written >= returned,
            "stranded bytes: the writer is going to sleep with {} byte(s) of returned sends unwritten",
            returned - written
        );
    })
}

/// `packets[p]` senders send their packets on rings of `ring` bytes, the
/// first from the model's main thread, then nothing happens: no close, no further send. The main thread waits until every
/// packet has reached the sink; a stranded packet, or a sender never woken
/// from a full ring, makes that wait endless, and loom reports a deadlock
/// (the check above reports a stranding earlier, by name). Then `close`.
fn senders_then_quiet(
    builder: &loom::model::Builder,
    ring: usize,
    packets: &'static [u8],
    sink_cap: Option<usize>,
) {
    builder.check(move || {
        let sink = MemorySink::new();
        let wire = match sink_cap {
            None => Wire::new(sink.clone()),
            Some(cap) => Wire::new(AtMost {
                inner: sink.clone(),
                cap,
            }),
        };
        let returned = std::sync::Arc::new(AtomicUsize::new(0));
        let _check = check_writer_never_sleeps_on_returned_sends(wire.handle(), returned.clone());
        let path = Arc::new(RingPath::with_capacity(wire, ring).unwrap());

        // Sender 0 is the model's main thread (one thread fewer to
        // interleave); the others are threads of their own.
        let send_all = |path: &RingPath, returned: &AtomicUsize, sender: u8| {
            for seq in 0..packets[sender as usize] {
                path.send(packet(sender, seq)).expect("nothing closed yet");
                returned.fetch_add(PACKET_LEN, SeqCst);
            }
        };
        let others: Vec<_> = (1..packets.len() as u8)
            .map(|sender| {
                let path = Arc::clone(&path);
                let returned = returned.clone();
                loom::thread::spawn(move || send_all(&path, &returned, sender))
            })
            .collect();
        send_all(&path, &returned, 0);
        for sender in others {
            sender.join().unwrap();
        }
        let total: usize = packets.iter().map(|&n| n as usize).sum();
        // Under loom there is no time: this returns only if the packets arrive.
        assert!(sink.wait_for_len(total * PACKET_LEN, Duration::from_secs(10)));
        path.close();
        assert!(sink.is_shut_down(), "close shuts the write half down");
        let sent: Vec<Vec<u8>> = packets.iter().map(|&n| (0..n).collect()).collect();
        assert_delivered_exactly_once_in_order(&received(&sink.bytes()), &sent);
        let stats = path.stats();
        assert_eq!(stats.sends, total as u64);
        assert_eq!(stats.bytes_written, (total * PACKET_LEN) as u64);
    });
}

/// Two senders, one packet each: both delivered, with no close to rescue
/// a stranded one.
#[test]
fn two_senders_nothing_stranded_without_close() {
    senders_then_quiet(&builder(), RING, &[1, 1], None);
}

/// One sender, two packets on a ring that holds one: the second `send`
/// blocks until the writer frees room, and the writer always wakes it.
#[test]
fn a_full_ring_blocks_its_sender_until_the_writer_frees_room() {
    senders_then_quiet(&builder(), PACKET_LEN, &[2], None);
}

/// Two senders on rings that hold one packet each, one of them blocked on
/// its full ring for a while.
#[test]
fn a_blocked_sender_beside_another_is_always_woken() {
    senders_then_quiet(&builder(), PACKET_LEN, &[2, 1], None);
}

/// Every write call takes at most 6 bytes: with both packets gathered, the
/// first call ends inside the second ring's frame, and the next continues
/// that frame (`received` checks every frame).
#[test]
fn partial_writes_never_let_another_ring_into_a_frame() {
    senders_then_quiet(&builder(), RING, &[1, 1], Some(6));
}

/// Close racing a sender of two packets: a send that returned `Ok` is
/// delivered, once and in order, before the write half is shut; a refused
/// one never arrives, and nothing after it is accepted.
#[test]
fn close_delivers_everything_accepted_and_nothing_refused() {
    close_races_producers_on(LESSON_08, &[2], NO_SUPPORT_CHECK);
}

/// Abort racing a sender of two packets: every accepted packet is
/// delivered or counted as dropped, never both, never neither; no frame is
/// torn.
#[test]
fn abort_delivers_or_counts_every_accepted_packet() {
    abort_races_producers_on(LESSON_08, &[2], NO_SUPPORT_CHECK);
}

/// A sink in front of a [`MemorySink`] whose vectored write takes at most
/// `cap` bytes per call: a partial write, as a full socket buffer makes.
struct AtMost {
    inner: MemorySink,
    cap: usize,
}

impl Sink for AtMost {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(&buf[..buf.len().min(self.cap)])
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let gathered: Vec<u8> = bufs
            .iter()
            .flat_map(|b| b.iter().copied())
            .take(self.cap)
            .collect();
        self.inner.write(&gathered)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
}

// ---------------------------------------------------------------------------
// Why the fences: the hand-off alone, with and without them.

/// The hand-off of lesson 08 reduced to its two atomics: one ring's `head`
/// and the `pending` flag. The writer has just written everything and
/// clears `pending`, then looks at `head`; a sender publishes a packet
/// (`head` from 0 to 4), then looks at `pending`. The packet is stranded if
/// the writer sees the ring empty (so it sleeps) *and* the sender sees
/// `pending` still true (so it wakes nobody). With `fenced`, each side has
/// lesson 08's `fence(SeqCst)` between its store and its load; without, only
/// `Release` stores and `Acquire` loads.
fn hand_off(fenced: bool) {
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*, fence};
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(move || {
        let head = Arc::new(AtomicUsize::new(0));
        let pending = Arc::new(AtomicBool::new(true)); // the writer is busy
        let writer = {
            let (head, pending) = (Arc::clone(&head), Arc::clone(&pending));
            loom::thread::spawn(move || {
                pending.store(false, Release); // the "가정" rule: clear first,
                if fenced {
                    fence(SeqCst);
                }
                head.load(Acquire) == 0 // then look: true means "empty: sleep"
            })
        };
        head.store(4, Release); // the sender publishes,
        if fenced {
            fence(SeqCst);
        }
        let sender_saw_pending = pending.load(Acquire); // then looks at the flag
        let writer_sleeps = writer.join().unwrap();
        assert!(
            !(writer_sleeps && sender_saw_pending),
            "stranded packet: the writer saw an empty ring and the sender saw pending true"
        );
    });
}

/// With the fences, no interleaving and no stale value strands the packet.
#[test]
fn with_the_fences_the_hand_off_never_strands() {
    hand_off(true);
}

/// With `Release`/`Acquire` alone, loom finds the execution where both
/// sides read the other's old value: the store-buffer pattern.
#[test]
fn release_acquire_alone_strands_the_packet_and_loom_finds_it() {
    let outcome = panic::catch_unwind(|| hand_off(false));
    let payload = outcome.expect_err("loom found no stranded packet without the fences");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.starts_with("stranded packet"),
        "loom failed on something else: {message}"
    );
}
