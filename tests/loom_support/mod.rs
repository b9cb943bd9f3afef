//! What the loom model checks of lessons 03, 04 and 07 (and of the broken
//! hand-off) share: the scenarios, the checks, and the loom configuration.
//!
//! Every scenario runs the lesson's own code (`Mutex`, `Condvar`, `Arc` and
//! threads from `servercore::sync`, which are loom's under `--cfg loom`);
//! only the socket is replaced, by a [`MemorySink`] that records the bytes.
//!
//! Run with:
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test 'loom*'`
#![allow(dead_code)] // each test file uses its own part of this module

use std::time::Duration;

use loom::sync::Arc;
use servercore::sync::loom_check::{self, CheckGuard};
use servercore::testing::{MemorySink, TryWrite};
use servercore::wire::WireHandle;
use servercore::{Packet, SendPath, Wire};

/// How a lesson is started: `|wire| Box::new(Lesson::new(wire))`.
pub type Start = fn(Wire) -> Box<dyn SendPath>;

/// Every test packet is 4 bytes: the 2-byte size header, then
/// `[producer, sequence number]`.
pub const PACKET_LEN: usize = 4;

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
pub const DEFAULT_PREEMPTIONS: usize = 3;

/// A loom model builder: `LOOM_MAX_PREEMPTIONS` (and loom's other
/// variables) from the environment, with [`DEFAULT_PREEMPTIONS`] when unset
/// (loom's own default, unbounded, does not finish).
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

/// The check behind "the writer never waits while the queue is non-empty".
///
/// It runs right before any thread of the model blocks on a lesson's
/// `Condvar` (see `servercore::sync::loom_check`), with the lesson's lock
/// held. For the thread named `writer` it asserts that every packet `send`
/// accepted has been written: `sends` is counted under the queue lock right
/// after the push, and at the top of its loop the writer has written all it
/// popped, so `sends × 4 − bytes_written` is exactly the number of packets
/// still queued. A writer that goes to sleep with a queued packet fails
/// here, with the message the broken-variant test looks for.
pub fn check_writer_never_sleeps_on_queued_packets(counters: WireHandle) -> CheckGuard {
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
             ({} accepted by send, {} written)",
            (accepted - written) / PACKET_LEN,
            stats.sends,
            written / PACKET_LEN,
        );
    })
}

/// Splits what the sink received into `(producer, seq)` pairs, checking
/// that every frame is a whole, well-formed test packet.
pub fn received(bytes: &[u8]) -> Vec<(u8, u8)> {
    assert_eq!(bytes.len() % PACKET_LEN, 0, "a partial packet: {bytes:?}");
    bytes
        .chunks(PACKET_LEN)
        .map(|frame| {
            assert_eq!(frame[..2], [PACKET_LEN as u8, 0], "bad header in {bytes:?}");
            (frame[2], frame[3])
        })
        .collect()
}

/// Asserts that `got` holds exactly the packets `sent[p]` of every producer
/// `p` (each once), and in each producer's order.
pub fn assert_delivered_exactly_once_in_order(got: &[(u8, u8)], sent: &[Vec<u8>]) {
    let total: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(got.len(), total, "delivered {got:?}, sent {sent:?}");
    for (producer, seqs) in sent.iter().enumerate() {
        let of_producer: Vec<u8> = got
            .iter()
            .filter(|(p, _)| *p as usize == producer)
            .map(|&(_, seq)| seq)
            .collect();
        assert_eq!(&of_producer, seqs, "producer {producer}: delivered {got:?}");
    }
}

/// Inside a loom model: the sink `model` describes, `start`'s lesson on it,
/// and the sleep check if `model` asks for it. Bind them in this order:
/// the guard must outlive the lesson (variables drop in reverse).
pub fn start_model(
    start: Start,
    model: Model,
) -> (Option<CheckGuard>, MemorySink, Arc<Box<dyn SendPath>>) {
    let sink = MemorySink::with_try_write(model.try_write);
    let wire = Wire::new(sink.clone());
    let check = (model.sleep_check == SleepCheck::On)
        .then(|| check_writer_never_sleeps_on_queued_packets(wire.handle()));
    (check, sink, Arc::new(start(wire)))
}

/// Scenario 1 — producers, then quiet. `packets[p]` producers send their
/// packets (none fails: nothing closes yet). Then, with no further send and
/// no close, the main thread waits until every packet has reached the sink.
/// A stranded packet makes this wait endless, and loom reports a deadlock
/// (every thread blocked); the check above reports it earlier, by name.
/// Only then does `close` run: it must shut the write half, and nothing
/// more may arrive.
pub fn producers_then_quiet(start: Start, packets: &'static [u8]) {
    producers_then_quiet_on(&builder(), start, packets, Model::default());
}

/// What a scenario runs against, besides the lesson: the sink's answer to
/// a write that cannot block, and whether the sleep check is installed.
#[derive(Clone, Copy, Default)]
pub struct Model {
    /// What the [`MemorySink`]'s `try_write` does (only lesson 07 calls it).
    pub try_write: TryWrite,
    /// Whether [`check_writer_never_sleeps_on_queued_packets`] is installed.
    pub sleep_check: SleepCheck,
}

/// Whether a scenario installs [`check_writer_never_sleeps_on_queued_packets`].
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum SleepCheck {
    /// Installed: a writer that sleeps on a queued packet fails at once.
    #[default]
    On,
    /// Not installed: only loom's own deadlock detection is left.
    Off,
}

/// [`producers_then_quiet`] with a given loom configuration and model.
pub fn producers_then_quiet_on(
    builder: &loom::model::Builder,
    start: Start,
    packets: &'static [u8],
    model: Model,
) {
    builder.check(move || {
        let (_check, sink, path) = start_model(start, model);

        let producers: Vec<_> = (0..packets.len() as u8)
            .map(|producer| {
                let path = Arc::clone(&path);
                loom::thread::spawn(move || {
                    for seq in 0..packets[producer as usize] {
                        path.send(packet(producer, seq))
                            .expect("nothing closed yet");
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

        assert!(sink.is_shut_down(), "close shuts the write half down");
        let sent: Vec<Vec<u8>> = packets.iter().map(|&n| (0..n).collect()).collect();
        assert_delivered_exactly_once_in_order(&received(&sink.bytes()), &sent);
        let stats = path.stats();
        assert_eq!(stats.sends, total as u64);
        assert_eq!(stats.bytes_written, (total * PACKET_LEN) as u64);
    });
}

/// Scenario 2 — close races the producers. `packets[p]` producers send
/// while the main thread closes. A send either returns `Ok` (then its packet
/// must be delivered, exactly once and in order, before the write half is
/// shut) or gives the packet back (then it must never arrive). Once one
/// send of a producer fails, all its later sends fail too.
pub fn close_races_producers(start: Start, packets: &'static [u8]) {
    close_races_producers_on(start, packets, Model::default());
}

/// [`close_races_producers`] against a given model.
pub fn close_races_producers_on(start: Start, packets: &'static [u8], model: Model) {
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
                            Err(refused) => {
                                assert_eq!(refused.into_packet(), packet(producer, seq))
                            }
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
            assert_eq!(
                seqs, &prefix,
                "producer {producer}: a send succeeded after one failed"
            );
        }
        assert!(sink.is_shut_down(), "close shuts the write half down");
        assert_delivered_exactly_once_in_order(&received(&sink.bytes()), &accepted);
    });
}

/// Scenario 3 — abort races the producers. `packets[p]` producers send
/// while the main thread aborts. Every accepted packet is either delivered
/// (whole, once, in its producer's order) or counted in what `abort`
/// returned: per producer, the delivered packets are a prefix of the
/// accepted ones, and delivered + dropped = accepted. No frame is torn.
pub fn abort_races_producers_on(start: Start, packets: &'static [u8], model: Model) {
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
            assert_eq!(delivered, prefix, "producer {producer}: a gap or a reorder");
            assert!(
                delivered.len() <= count,
                "producer {producer}: delivered more than accepted"
            );
        }
        let accepted_total: usize = accepted.iter().sum();
        assert_eq!(
            got.len() + dropped,
            accepted_total,
            "delivered {got:?} + dropped {dropped} != accepted {accepted:?}"
        );
    });
}
