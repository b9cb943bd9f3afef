//! The contract every send path keeps, as functions of the send path's
//! constructor: the properties `tests/contract.rs` runs against every
//! lesson, and the labs against the student's code.
//!
//! [`contract_tests!`](crate::contract_tests) makes one `#[test]` per
//! property. Everything runs on real loopback sockets (port 0); nothing
//! asserts on timing.

use std::io::Write;
use std::sync::Arc;
use std::thread;

use super::harness::{
    CappedSink, Ended, Event, Receiving, Recorder, assert_counted, assert_peer_gone,
    assert_refused, close, pair, pair_with, send_from_threads, send_seqs, small_buffers, start_on,
    start_on_stream, start_session,
};
use super::{Progress, Start, grade};
use crate::packet::FrameError;
use crate::stats::StatsSnapshot;
use crate::wire::Wire;
use crate::workload::make_packet;

/// One `#[test]` per contract property, for the send path that `$start`
/// (a [`Start`]) builds. The eight properties every
/// send path keeps always; the names after it add the properties that not
/// every send path promises: `eight_threads_in_order` (all but lesson 01),
/// `small_socket_buffers_and_a_late_reader` and
/// `short_writes_resume_mid_packet` (the batched writers).
///
/// ```ignore
/// const LAB: Start = |wire| Ok(Box::new(BatchedWriter::new(wire)?));
/// servercore::contract_tests!(LAB, eight_threads_in_order, short_writes_resume_mid_packet);
/// ```
#[macro_export]
macro_rules! contract_tests {
    ($start:expr $(, $extra:ident)* $(,)?) => {
        #[test]
        fn smoke() {
            $crate::grading::contract::smoke($start);
        }
        #[test]
        fn send_after_close_gives_the_packet_back() {
            $crate::grading::contract::send_after_close_gives_the_packet_back($start);
        }
        #[test]
        fn close_delivers_everything_queued() {
            $crate::grading::contract::close_delivers_everything_queued($start);
        }
        #[test]
        fn peer_disconnect_is_reported_once() {
            $crate::grading::contract::peer_disconnect_is_reported_once($start);
        }
        #[test]
        fn peer_disconnect_during_sends_is_reported_once() {
            $crate::grading::contract::peer_disconnect_during_sends_is_reported_once($start);
        }
        #[test]
        fn local_disconnect_twice_is_reported_once() {
            $crate::grading::contract::local_disconnect_twice_is_reported_once($start);
        }
        #[test]
        fn connected_runs_before_the_first_packet() {
            $crate::grading::contract::connected_runs_before_the_first_packet($start);
        }
        #[test]
        fn bad_header_closes_only_that_session() {
            $crate::grading::contract::bad_header_closes_only_that_session($start);
        }
        $(
            #[test]
            fn $extra() {
                $crate::grading::contract::$extra($start);
            }
        )*
    };
}

/// One packet arrives intact, then the end of the stream; the counters
/// say one send and 34 bytes.
pub fn smoke(start: Start) {
    grade("smoke", move |progress| {
        let (server, client) = pair();
        let path = start_on_stream(start, &server);
        let receiver = Receiving::spawn(client, 1, 32, 1);
        progress.step(
            "the first `send`",
            "`send` pushes the packet under the lock and returns: it never waits for the write",
        );
        if let Err(e) = path.send(make_packet(0, 0, 32)) {
            panic!("the first send was refused ({e}): nothing is closed yet");
        }
        close(progress, &path);
        receiver.assert_all("one send and `close()`");
        assert_counted(&path, 1, 34, "after one 34-byte packet");
    });
}

/// 8 threads × 2,000 packets, all at once: every packet arrives intact and
/// each thread's packets arrive in the order it sent them.
pub fn eight_threads_in_order(start: Start) {
    grade("eight_threads_in_order", move |progress| {
        verified_burst(progress, start, 8, 2_000, 32);
    });
}

/// `threads` × `per_thread` packets of `payload` bytes from all threads at
/// once, then `close`: every packet arrives intact and in its thread's
/// order, exactly the bytes sent were written. Returns the counters.
pub(crate) fn verified_burst(
    progress: &Progress,
    start: Start,
    threads: usize,
    per_thread: u32,
    payload: usize,
) -> StatsSnapshot {
    let total = threads as u64 * u64::from(per_thread);
    let (server, client) = pair();
    let path = start_on_stream(start, &server);
    let receiver = Receiving::spawn(client, threads, payload, total);
    progress.step(
        format!("{threads} threads × {per_thread} sends at once"),
        "a `send` that never returns: is the lock taken twice, or held while waiting?",
    );
    send_from_threads(&path, threads, per_thread, payload);
    close(progress, &path);
    receiver.assert_all(&format!(
        "{total} sends from {threads} threads and `close()`"
    ));
    assert_counted(
        &path,
        total,
        total * (payload as u64 + 2),
        &format!("after {total} sends"),
    );
    path.stats()
}

/// Batched send paths: small `SO_SNDBUF`/`SO_RCVBUF` on both ends, 64 KiB
/// packets from two threads, and a reader that starts only once everything
/// is queued: the writer's vectored writes meet a full socket buffer and
/// block part-way. Every byte arrives intact and in order.
///
/// A blocking Linux socket does not return early from a write when its
/// buffer fills (it waits for room), so the kernel alone may take each
/// group in one call: write calls ≥ batches is all that can be asserted.
/// [`short_writes_resume_mid_packet`] makes the short writes certain.
pub fn small_socket_buffers_and_a_late_reader(start: Start) {
    grade("small_socket_buffers_and_a_late_reader", move |progress| {
        let stats = big_packets_late_reader(progress, start, Wire::new);
        assert!(
            stats.write_calls >= stats.batches,
            "{} write calls for {} batches: every batch costs at least one write call; \
             does the writer count one batch per trip to the socket (`count_batch`)? {stats:?}",
            stats.write_calls,
            stats.batches
        );
    });
}

/// Batched send paths, the same load, with every write call capped at
/// 10,007 bytes by a sink in front of the socket: each call is a short
/// write ending somewhere inside a packet (sometimes inside its header),
/// so the writer must resume mid-slice (`IoSlice::advance_slices`). All
/// bytes intact, and write calls far above batches proves the short
/// writes happened.
pub fn short_writes_resume_mid_packet(start: Start) {
    const CAP: usize = 10_007;
    grade("short_writes_resume_mid_packet", move |progress| {
        let stats = big_packets_late_reader(progress, start, |socket| {
            Wire::new(CappedSink::new(socket, CAP))
        });
        assert!(stats.write_calls > stats.batches, "{stats:?}");
        // Every call moves at most CAP bytes, so at least this many calls:
        let least = stats.bytes_written.div_ceil(CAP as u64);
        assert!(stats.write_calls >= least, "{stats:?}");
    });
}

/// Two threads queue 24 packets of 65,000 bytes each, over a connection
/// with small buffers on both ends, on the wire `make_wire` builds; the
/// reader starts only after every packet is queued. Every byte arrives
/// intact and in order; returns the counters.
fn big_packets_late_reader(
    progress: &Progress,
    start: Start,
    make_wire: impl FnOnce(std::net::TcpStream) -> Wire,
) -> StatsSnapshot {
    const PAYLOAD: usize = 65_000;
    const SENDERS: usize = 2;
    const PER_SENDER: u32 = 24;
    let total = SENDERS as u64 * u64::from(PER_SENDER);
    let (server, client) = pair_with(&small_buffers());
    let path = start_on(start, make_wire(server));
    progress.step(
        "48 sends of 64 KiB while nobody reads",
        "with a writer thread, `send` only queues and returns: it must not wait for the \
         socket, even when the socket is full",
    );
    send_from_threads(&path, SENDERS, PER_SENDER, PAYLOAD);
    let receiver = Receiving::spawn(client, SENDERS, PAYLOAD, total);
    close(progress, &path);
    receiver.assert_all("48 sends of 64 KiB, a late reader and `close()`");
    assert_counted(
        &path,
        total,
        total * (PAYLOAD as u64 + 2),
        "after 48 sends of 64 KiB",
    );
    path.stats()
}

/// After `close`, `send` refuses the packet and hands back the very same
/// one; the same through a session after a local disconnect.
pub fn send_after_close_gives_the_packet_back(start: Start) {
    grade("send_after_close_gives_the_packet_back", move |progress| {
        let (server, client) = pair();
        let path = start_on_stream(start, &server);
        let receiver = Receiving::spawn(client, 1, 16, 1);
        progress.step(
            "the first `send`",
            "`send` pushes under the lock and returns",
        );
        if let Err(e) = path.send(make_packet(0, 0, 16)) {
            panic!("the first send was refused ({e}): nothing is closed yet");
        }
        close(progress, &path);
        progress.step(
            "a second `close()`",
            "`close` is idempotent: a second call finds the writer already joined (take the \
             `JoinHandle` out of its `Option`) and returns",
        );
        path.close();
        progress.step(
            "`send` after `close()`",
            "`send` checks `closed` first and returns at once",
        );
        let packet = make_packet(0, 1, 16);
        assert_refused(path.send(packet.clone()), &packet, "`close()`");
        assert_refused(path.send(packet.clone()), &packet, "`close()`");
        assert_eq!(
            path.stats().sends,
            1,
            "a refused send was counted: count a send only once it is accepted"
        );
        // Nothing after close reached the wire: exactly the one packet, then EOF.
        receiver.assert_all("one send, `close()`, and two refused sends");

        // The same through a session, after a local disconnect.
        let (server, client) = pair();
        let recorder = Recorder::new();
        let session = start_session(start, server, &recorder);
        progress.step(
            "a session's `disconnect()` (your `abort()`)",
            "`abort` sets `closed`, drops what is queued, wakes the writer and joins it",
        );
        session.disconnect();
        assert_refused(session.send(packet.clone()), &packet, "a disconnect");
        recorder.wait_disconnected();
        session.join();
        drop(client);
    });
}

/// Everything accepted before `close` is written before `close` returns,
/// then the peer reads end of stream.
pub fn close_delivers_everything_queued(start: Start) {
    const PACKETS: u32 = 5_000;
    const PAYLOAD: usize = 100;
    grade("close_delivers_everything_queued", move |progress| {
        let (server, client) = pair();
        let path = start_on_stream(start, &server);
        let receiver = Receiving::spawn(client, 1, PAYLOAD, u64::from(PACKETS));
        // With a writer thread, `send` only queues: close is called while
        // (most of) these are still in the queue.
        progress.step("5,000 sends", "`send` pushes under the lock and returns");
        send_seqs(&path, 0, 0..PACKETS, PAYLOAD);
        close(progress, &path);
        // `close` blocks until the queue is flushed: every byte is already written.
        let stats = path.stats();
        let expected = u64::from(PACKETS) * (PAYLOAD as u64 + 2);
        assert!(
            stats.bytes_written == expected,
            "`close()` returned with {} of {expected} bytes written: `close` must not return \
             before the writer has written everything queued (the writer drains the queue, \
             then exits; `close` joins it)",
            stats.bytes_written
        );
        assert_counted(&path, u64::from(PACKETS), expected, "after `close()`");
        receiver.assert_all("5,000 sends and `close()`");
    });
}

/// The peer closes its socket: `on_disconnected` runs exactly once, with
/// `PeerClosed`, and later disconnects change nothing.
pub fn peer_disconnect_is_reported_once(start: Start) {
    grade("peer_disconnect_is_reported_once", move |progress| {
        let (server, client) = pair();
        let recorder = Recorder::new();
        let session = start_session(start, server, &recorder);
        progress.step(
            "the session ending after the peer left (it calls your `abort()`)",
            "`abort` sets `closed`, drops what is queued, wakes the writer and joins it",
        );
        drop(client);
        assert_eq!(recorder.wait_disconnected(), Ended::PeerClosed);
        assert!(session.is_disconnected());
        session.disconnect(); // too late: already disconnected
        session.join(); // the reader thread has finished: no callback can follow
        assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
        let packet = make_packet(0, 0, 8);
        assert_refused(session.send(packet.clone()), &packet, "the peer left");
    });
}

/// The peer goes away while a thread is sending as fast as it can: the
/// write error and the reader's end of stream race to disconnect the
/// session; exactly one wins, and `on_disconnected` runs once.
pub fn peer_disconnect_during_sends_is_reported_once(start: Start) {
    grade(
        "peer_disconnect_during_sends_is_reported_once",
        move |progress| {
            let (server, client) = pair();
            let recorder = Recorder::new();
            let session = start_session(start, server, &recorder);
            let sender = {
                let session = Arc::clone(&session);
                thread::spawn(move || {
                    // Sends until one is refused; the refusal gives the packet back.
                    for seq in 0u32.. {
                        let packet = make_packet(0, seq, 1000);
                        if let Err(e) = session.send(packet.clone()) {
                            assert!(
                                e.into_packet() == packet,
                                "a refused send gave back another packet than the one given"
                            );
                            return seq;
                        }
                    }
                    unreachable!()
                })
            };
            progress.step(
                "a sender that sends until it is refused, while the peer leaves",
                "once the socket is gone, `send` must refuse: a writer whose write fails sets \
             `closed` (and drops the queue, and calls `wire.fail(error)`), and `abort` sets \
             `closed` too",
            );
            drop(client);
            recorder.wait_disconnected();
            let refused_at = sender.join().expect("sender panicked");
            session.join();
            assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
            assert!(session.stats().sends <= u64::from(refused_at));
        },
    );
}

/// `disconnect` called twice (and from two threads at once): reported
/// once, as `Local`, and the peer reads end of stream.
pub fn local_disconnect_twice_is_reported_once(start: Start) {
    grade("local_disconnect_twice_is_reported_once", move |progress| {
        let (server, client) = pair();
        let recorder = Recorder::new();
        let session = start_session(start, server, &recorder);
        progress.step(
            "two `disconnect()`s at once (your `abort()`)",
            "`abort` is idempotent: only one caller joins the writer (take the `JoinHandle` \
             out of its `Option` under its lock); the other returns",
        );
        thread::scope(|scope| {
            scope.spawn(|| session.disconnect());
            scope.spawn(|| session.disconnect());
        });
        session.disconnect();
        assert_eq!(recorder.wait_disconnected(), Ended::Local);
        session.join();
        assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
        assert_peer_gone(&client, "a local disconnect");
    });
}

/// Packets already waiting in the socket when the session starts are
/// delivered after `on_connected`, in order, and `on_disconnected` is last.
pub fn connected_runs_before_the_first_packet(start: Start) {
    grade("connected_runs_before_the_first_packet", move |progress| {
        let (server, mut client) = pair();
        let sent: Vec<_> = (0..3).map(|seq| make_packet(0, seq, 20)).collect();
        for packet in &sent {
            client.write_all(packet.as_bytes()).unwrap();
        }
        let recorder = Recorder::new();
        let session = start_session(start, server, &recorder);
        progress.step(
            "a session receiving three packets, then the peer leaving",
            "the session calls your `abort()` when it ends: it must return",
        );
        recorder.wait_until("three packets", |events| {
            events
                .iter()
                .filter(|e| matches!(e, Event::Packet(_)))
                .count()
                == 3
        });
        drop(client);
        recorder.wait_disconnected();
        session.join();
        let mut expected = vec![Event::Connected];
        expected.extend(sent.into_iter().map(Event::Packet));
        expected.push(Event::Disconnected(Ended::PeerClosed));
        assert_eq!(recorder.events(), expected);
    });
}

/// A peer declares a packet size of 0 (the C# original spins forever on
/// it): that session ends with `BadPacket`, and another session in the
/// same process keeps receiving and sending (it echoes from inside its
/// handler).
pub fn bad_header_closes_only_that_session(start: Start) {
    grade("bad_header_closes_only_that_session", move |progress| {
        let (bad_server, mut bad_client) = pair();
        let (good_server, mut good_client) = pair();
        let bad_recorder = Recorder::echoing();
        let good_recorder = Recorder::echoing();
        let bad = start_session(start, bad_server, &bad_recorder);
        let good = start_session(start, good_server, &good_recorder);
        progress.step(
            "a session that reads a bad header ending (it calls your `abort()`)",
            "`abort` sets `closed`, drops what is queued, wakes the writer and joins it",
        );
        bad_client.write_all(&[0, 0]).unwrap();
        assert_eq!(
            bad_recorder.wait_disconnected(),
            Ended::BadPacket(FrameError::TooSmall { size: 0 })
        );
        bad.join();
        assert_eq!(bad_recorder.disconnects(), 1);
        assert_peer_gone(&bad_client, "a bad header");
        let packet = make_packet(0, 0, 8);
        assert_refused(bad.send(packet.clone()), &packet, "a bad header");

        // The other session still works both ways: it receives the packet
        // and its handler echoes it back from inside `on_packet`.
        progress.step(
            "an echo sent from inside the handler",
            "a `send` from the session's reader thread must be written like any other",
        );
        let packet = make_packet(0, 0, 40);
        good_client.write_all(packet.as_bytes()).unwrap();
        let mut echo = vec![0; packet.len()];
        std::io::Read::read_exact(&mut good_client, &mut echo).expect("the echo");
        assert_eq!(echo, packet.as_bytes());
        assert!(!good.is_disconnected());
        // The handler echoes before it records: wait for the record.
        let events = good_recorder.wait_until("the packet", |events| events.len() == 2);
        assert_eq!(events, vec![Event::Connected, Event::Packet(packet)]);

        drop(good_client);
        assert_eq!(good_recorder.wait_disconnected(), Ended::PeerClosed);
        good.join();
    });
}
