//! The loom model checks of the hand-off, as functions of the send path's
//! constructor (only in builds with `RUSTFLAGS="--cfg loom"`, where
//! [`crate::sync`] is loom's).
//!
//! The scenarios are those of the lessons' loom tests
//! (`tests/loom_support/mod.rs`): the send path's own `Mutex`, `Condvar`,
//! `Arc` and threads, run by loom under every interleaving it explores
//! (preemptions bounded by `LOOM_MAX_PREEMPTIONS`, [`DEFAULT_PREEMPTIONS`]
//! when unset); only the socket is replaced, by a
//! [`MemorySink`] that records the bytes.
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release -p servercore-labs --features solutions --test 'loom*'`

use std::time::Duration;

use loom::sync::Arc;

use super::Start;
use crate::Packet;
use crate::send_path::SendPath;
use crate::sync::loom_check::{self, CheckGuard};
use crate::testing::MemorySink;
pub use crate::testing::TryWrite;
use crate::wire::{Wire, WireHandle};

/// Every model packet is 4 bytes: the 2-byte size header, then
/// `[producer, sequence number]`.
pub const PACKET_LEN: usize = 4;

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
pub const DEFAULT_PREEMPTIONS: usize = 3;

/// A loom model builder: `LOOM_MAX_PREEMPTIONS` (and loom's other
/// variables) from the environment, with [`DEFAULT_PREEMPTIONS`] when unset.
pub fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    builder
}

/// Packet `seq` of producer `producer`.
pub fn packet(producer: u8, seq: u8) -> Packet {
    Packet::from_payload(&[producer, seq]).unwrap()
}

/// What a scenario runs against, besides the send path: the sink's answer
/// to a write that cannot block, and whether the sleep check is installed.
#[derive(Clone, Copy, Default)]
pub struct Model {
    /// What the [`MemorySink`]'s `try_write` does (only the direct path calls it).
    pub try_write: TryWrite,
    /// Whether the check "the writer never sleeps on a queued packet" runs.
    pub sleep_check: SleepCheck,
}

/// Whether a scenario checks that the writer never goes to sleep while a
/// packet is queued. On for lessons 03 and 04; off for the direct path,
/// whose writer rightly sleeps while a caller owns the socket.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum SleepCheck {
    /// Installed: a writer that sleeps on a queued packet fails at once.
    #[default]
    On,
    /// Not installed: only loom's own deadlock detection is left.
    Off,
}

/// The direct path's model: the sink's non-blocking write answers
/// `try_write`, and the sleep check is off.
pub fn direct(try_write: TryWrite) -> Model {
    Model {
        try_write,
        sleep_check: SleepCheck::Off,
    }
}

/// Right before a thread named `writer` blocks on a `Condvar` (with the
/// lock held), asserts that every packet `send` accepted has been written:
/// `sends × 4 − bytes_written` is the number still queued.
fn check_writer_never_sleeps_on_queued_packets(counters: WireHandle) -> CheckGuard {
    loom_check::before_wait(move || {
        if loom::thread::current().name() != Some("writer") {
            return;
        }
        let stats = counters.stats().snapshot();
        let accepted = stats.sends as usize * PACKET_LEN;
        let written = stats.bytes_written as usize;
        assert!(
            accepted == written,
            "stranded packet: the writer is going to sleep with {} packet(s) queued \
             ({} accepted by send, {} written). Did the writer look at the queue, under \
             the lock, before clearing `pending` and waiting? (And does `send` count each \
             packet, `count_send()`, under the lock, right after the push?)",
            accepted.saturating_sub(written) / PACKET_LEN,
            stats.sends,
            written / PACKET_LEN,
        );
    })
}

/// Splits what the sink received into `(producer, seq)` pairs, checking
/// that every frame is a whole, well-formed model packet.
fn received(bytes: &[u8]) -> Vec<(u8, u8)> {
    assert!(
        bytes.len() % PACKET_LEN == 0,
        "a torn packet on the wire: {bytes:?}. A packet is written whole, once, by \
         whoever owns the socket"
    );
    bytes
        .chunks(PACKET_LEN)
        .map(|frame| {
            assert_eq!(frame[..2], [PACKET_LEN as u8, 0], "bad header in {bytes:?}");
            (frame[2], frame[3])
        })
        .collect()
}

/// Asserts that `got` holds exactly the packets `sent[p]` of every
/// producer `p` (each once), and in each producer's order.
fn assert_delivered_exactly_once_in_order(got: &[(u8, u8)], sent: &[Vec<u8>]) {
    let total: usize = sent.iter().map(Vec::len).sum();
    assert!(
        got.len() == total,
        "{} packets delivered, {total} accepted: delivered {got:?}, sent {sent:?}",
        got.len()
    );
    for (producer, seqs) in sent.iter().enumerate() {
        let of_producer: Vec<u8> = got
            .iter()
            .filter(|(p, _)| *p as usize == producer)
            .map(|&(_, seq)| seq)
            .collect();
        assert!(
            &of_producer == seqs,
            "producer {producer}'s packets arrived as {of_producer:?}, sent as {seqs:?}: one \
             queue, written in the order `send` pushed it"
        );
    }
}

/// The sink `model` describes, the send path on it, and the sleep check
/// if `model` asks for it. Bound in this order: the guard must outlive the
/// send path (variables drop in reverse).
fn start_model(
    start: Start,
    model: Model,
) -> (Option<CheckGuard>, MemorySink, Arc<Box<dyn SendPath>>) {
    let sink = MemorySink::with_try_write(model.try_write);
    let wire = Wire::new(sink.clone());
    let check = (model.sleep_check == SleepCheck::On)
        .then(|| check_writer_never_sleeps_on_queued_packets(wire.handle()));
    let path = start(wire).expect("start the send path");
    (check, sink, Arc::new(path))
}

/// Scenario 1 — producers, then quiet. `packets[p]` producers send their
/// packets; then, with no further send and no close, the main thread waits
/// until every packet has reached the sink. A stranded packet makes this
/// wait endless, and loom reports a deadlock (every thread blocked); the
/// sleep check reports it earlier, by name. Only then does `close` run.
pub fn producers_then_quiet(start: Start, packets: &'static [u8], model: Model) {
    builder().check(move || {
        let (_check, sink, path) = start_model(start, model);

        let producers: Vec<_> = (0..packets.len() as u8)
            .map(|producer| {
                let path = Arc::clone(&path);
                loom::thread::spawn(move || {
                    for seq in 0..packets[producer as usize] {
                        path.send(packet(producer, seq))
                            .expect("nothing is closed yet: `send` must accept");
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }

        let total: usize = packets.iter().map(|&n| n as usize).sum();
        // Under loom there is no time: this only returns if the packets arrive.
        assert!(sink.wait_for_len(total * PACKET_LEN, Duration::from_secs(10)));
        path.close();

        assert!(
            sink.is_shut_down(),
            "`close` returned and the write half is still open: the writer shuts it down \
             (`wire.shutdown_write()`) on its way out"
        );
        let sent: Vec<Vec<u8>> = packets.iter().map(|&n| (0..n).collect()).collect();
        assert_delivered_exactly_once_in_order(&received(&sink.bytes()), &sent);
        let stats = path.stats();
        assert_eq!(stats.sends, total as u64, "sends counted");
        assert_eq!(
            stats.bytes_written,
            (total * PACKET_LEN) as u64,
            "bytes counted"
        );
    });
}

/// Scenario 2 — close races the producers. A send either returns `Ok`
/// (then its packet is delivered, once and in order, before the write half
/// is shut) or gives the packet back (then it never arrives); once one
/// send of a producer fails, all its later sends fail too.
pub fn close_races_producers(start: Start, packets: &'static [u8], model: Model) {
    builder().check(move || {
        let (_check, sink, path) = start_model(start, model);

        let producers: Vec<_> = (0..packets.len() as u8)
            .map(|producer| {
                let path = Arc::clone(&path);
                loom::thread::spawn(move || {
                    let mut accepted = Vec::new();
                    for seq in 0..packets[producer as usize] {
                        match path.send(packet(producer, seq)) {
                            Ok(()) => accepted.push(seq),
                            Err(refused) => assert!(
                                refused.into_packet() == packet(producer, seq),
                                "a refused send gave back another packet than the one given"
                            ),
                        }
                    }
                    accepted
                })
            })
            .collect();

        path.close(); // returns once the writer has flushed and exited

        let accepted: Vec<Vec<u8>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        for (producer, seqs) in accepted.iter().enumerate() {
            let prefix: Vec<u8> = (0..seqs.len() as u8).collect();
            assert!(
                seqs == &prefix,
                "producer {producer}: a send succeeded after one failed ({seqs:?}): once \
                 `closed` is set it never goes back"
            );
        }
        assert!(
            sink.is_shut_down(),
            "`close` returned and the write half is still open: the writer shuts it down \
             (`wire.shutdown_write()`) on its way out"
        );
        assert_delivered_exactly_once_in_order(&received(&sink.bytes()), &accepted);
    });
}

/// Scenario 3 — abort races the producers. Every accepted packet is either
/// delivered (whole, once, in its producer's order) or counted in what
/// `abort` returned: delivered + dropped = accepted. No frame is torn.
pub fn abort_races_producers(start: Start, packets: &'static [u8], model: Model) {
    builder().check(move || {
        let (_check, sink, path) = start_model(start, model);

        let producers: Vec<_> = (0..packets.len() as u8)
            .map(|producer| {
                let path = Arc::clone(&path);
                loom::thread::spawn(move || {
                    (0..packets[producer as usize])
                        .filter(|&seq| path.send(packet(producer, seq)).is_ok())
                        .count()
                })
            })
            .collect();

        let dropped = path.abort(); // returns once the writer has exited

        let accepted: Vec<usize> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        let got = received(&sink.bytes()); // also asserts that no frame is torn
        for (producer, &count) in accepted.iter().enumerate() {
            let delivered: Vec<u8> = got
                .iter()
                .filter(|(p, _)| *p as usize == producer)
                .map(|&(_, seq)| seq)
                .collect();
            let prefix: Vec<u8> = (0..delivered.len() as u8).collect();
            assert!(
                delivered == prefix,
                "producer {producer}: delivered {delivered:?}, a gap or a reorder"
            );
            assert!(
                delivered.len() <= count,
                "producer {producer}: delivered more than accepted"
            );
        }
        let accepted_total: usize = accepted.iter().sum();
        assert!(
            got.len() + dropped == accepted_total,
            "delivered {} + dropped {dropped} != accepted {accepted_total}: `abort` returns \
             how many queued packets it dropped (the queue's length when it took it), and \
             every packet it did not drop is written",
            got.len()
        );
    });
}

/// The direct path: one sender on a socket with room never wakes the
/// writer, in any interleaving — every send finds the socket idle,
/// because the previous send gave it back before returning.
pub fn one_sender_never_wakes_the_writer(start: Start) {
    builder().check(move || {
        let (_check, sink, path) = start_model(start, direct(TryWrite::All));
        for seq in 0..3 {
            path.send(packet(0, seq)).expect("nothing is closed yet");
        }
        assert!(sink.wait_for_len(3 * PACKET_LEN, Duration::from_secs(10)));
        let stats = path.stats();
        assert!(
            stats.wakeups == 0,
            "an idle send woke the writer: with nothing queued meanwhile, the caller gives \
             the socket back (`Caller` → `Idle`) without a notify"
        );
        assert_eq!(stats.batches, 0, "the writer thread took a batch");
        assert_eq!(stats.write_calls, 3, "one direct write per send");
        path.close();
        assert!(sink.is_shut_down(), "close shuts the write half down");
    });
}
