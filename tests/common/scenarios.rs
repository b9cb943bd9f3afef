//! Scenarios shared by more than one lesson's test file.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use servercore::testing::Gate;
use servercore::workload::{Received, make_packet};
use servercore::{Lesson, StatsSnapshot, Wire};

use super::{
    SplitEvent, SplittingSink, TIMEOUT, assert_received, pair, pair_with, send_from_threads,
    send_seqs, small_buffers, spawn_receiver, spawn_receiver_signalling, start_gated,
};

/// What [`split_scenario`] saw.
#[derive(Debug)]
pub struct SplitOutcome {
    /// What the receiver made of the two packets.
    pub received: Received,
    /// What the sink saw, in order.
    pub log: Vec<SplitEvent>,
    /// The send path's counters after close.
    pub stats: StatsSnapshot,
}

/// Two threads each send one 66-byte packet through `lesson`, on a
/// [`SplittingSink`] that makes thread A's first write call a short write
/// (12 bytes) and then holds A — for at most `hold` — until a write call
/// from another thread has completed. Thread B starts sending only after
/// A's short write has returned.
///
/// Why the outcome is deterministic:
///
/// * B is started only once A's first 12 bytes are on the wire
///   ([`SplitShared::wait_first_part`]), so A always writes first.
/// * A's second write call (the other 54 bytes) goes to the socket only
///   once B's write call has *returned*, or once `hold` has passed. So if
///   the send path lets B write while A is in the middle of its packet,
///   B's bytes land between A's two parts — every time, not by luck.
/// * If the send path makes B wait until A's packet is complete (a lock
///   held across the whole `write_all`), B cannot write during the hold
///   whatever the scheduler does; the hold runs out, A finishes, then B
///   writes. The log records which of the two orders happened.
pub fn split_scenario(lesson: Lesson, hold: Duration) -> SplitOutcome {
    const PAYLOAD: usize = 64;
    let (server, client) = pair();
    let (sink, split) = SplittingSink::new(server, 12, hold);
    let path = lesson.start(Wire::new(sink)).expect("start the send path");
    let receiver = spawn_receiver(client, 2, PAYLOAD, 2);
    thread::scope(|scope| {
        let path = path.as_ref();
        let a = scope.spawn(move || path.send(make_packet(0, 0, PAYLOAD)));
        assert!(split.wait_first_part(), "thread A never wrote");
        let b = scope.spawn(move || path.send(make_packet(1, 0, PAYLOAD)));
        a.join().unwrap().expect("A's send");
        b.join().unwrap().expect("B's send");
    });
    path.close();
    let received = receiver
        .join()
        .expect("receiver panicked")
        .expect("receive failed");
    SplitOutcome {
        received,
        log: split.log(),
        stats: path.stats(),
    }
}

/// The counters at the three moments of [`gated_burst`].
#[derive(Debug)]
pub struct BurstStats {
    /// When the writer has arrived at the gate with packet 0.
    pub at_gate: StatsSnapshot,
    /// After the burst, the writer still held at the gate.
    pub after_burst: StatsSnapshot,
    /// After the gate opened and `close` returned.
    pub after_close: StatsSnapshot,
}

/// Sends packet 0, waits until the writer is inside its first write call
/// (held at a [`Gate`]), sends `burst` more packets, opens the gate, waits
/// until every packet has arrived, and only then closes. Asserts that all
/// `1 + burst` packets arrive intact and in order, then end of stream.
///
/// Waiting for the packets *before* `close` matters: `close` wakes the
/// writer by itself, so it would hide a writer that forgot the packets
/// queued during its write (lessons 03/04: clearing `pending` without
/// re-checking the queue — the seed's "가정" paragraph).
pub fn gated_burst(lesson: Lesson, burst: u32, payload: usize) -> BurstStats {
    let (server, client) = pair();
    let gate = Gate::new();
    let path = start_gated(lesson, server, &gate);
    let total = 1 + burst;
    let total_bytes = u64::from(total) * (payload as u64 + 2);
    let (receiver, arrived) =
        spawn_receiver_signalling(client, 1, payload, u64::from(total), total_bytes);
    path.send(make_packet(0, 0, payload)).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );
    let at_gate = path.stats();
    send_seqs(path.as_ref(), 0, 1..total, payload);
    let after_burst = path.stats();
    gate.open();
    assert!(
        arrived.recv_timeout(TIMEOUT).is_ok(),
        "the packets queued behind the held write never arrived before close: \
         did the writer go to sleep without re-checking its queue? {:?}",
        path.stats()
    );
    path.close();
    assert_received(receiver, u64::from(total));
    BurstStats {
        at_gate,
        after_burst,
        after_close: path.stats(),
    }
}

/// Packets of the partial-write tests: 65,000-byte payloads (65,002 on the
/// wire, about 64 KiB), from [`BIG_SENDERS`] threads.
pub const BIG_PAYLOAD: usize = 65_000;
/// Sender threads of the partial-write tests.
pub const BIG_SENDERS: usize = 2;
/// Packets per sender thread in the partial-write tests.
pub const BIG_PER_SENDER: u32 = 24;

/// Two threads queue [`BIG_PER_SENDER`] 64 KiB packets each on `lesson`
/// (a batched lesson: `send` only queues), over a connection with
/// [`small_buffers`] on both ends, on the wire `make_wire` builds from the
/// server-side socket. The reader starts only after every packet is queued,
/// so the writer meets a full socket buffer. Asserts every byte arrives
/// intact and in order; returns the counters.
pub fn big_packets_late_reader(
    lesson: Lesson,
    make_wire: impl FnOnce(TcpStream) -> Wire,
) -> StatsSnapshot {
    let total = BIG_SENDERS as u64 * u64::from(BIG_PER_SENDER);
    let (server, client) = pair_with(&small_buffers());
    let path = lesson
        .start(make_wire(server))
        .expect("start the send path");
    // `send` returns at once for lessons 04/05: when this returns, all the
    // packets are queued (or already in the writer's hands), nobody reads yet.
    send_from_threads(path.as_ref(), BIG_SENDERS, BIG_PER_SENDER, BIG_PAYLOAD);
    assert_eq!(path.stats().sends, total);
    let receiver = spawn_receiver(client, BIG_SENDERS, BIG_PAYLOAD, total);
    path.close();
    assert_received(receiver, total);
    let stats = path.stats();
    assert_eq!(stats.bytes_written, total * (BIG_PAYLOAD as u64 + 2));
    stats
}
