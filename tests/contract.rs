//! The contract every send path keeps, run against every lesson.
//!
//! One suite, instantiated per lesson by `contract!`: a module per lesson,
//! one `#[test]` per property, so a failure names both (for instance
//! `lesson04_batched_writer::close_delivers_everything_queued`).
//!
//! Lesson 01 runs every property it guarantees. It is left out of
//! `eight_threads_in_order`: with no lock, two threads' bytes *may*
//! interleave (`tests/lesson01_naive.rs` shows it happening), so "intact
//! under contention" is exactly what lesson 01 does not promise.
//!
//! Everything runs on real loopback sockets (port 0); every blocking read
//! has a timeout ([`common::TIMEOUT`]); nothing asserts on timing.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::thread;

use common::*;
use servercore::packet::FrameError;
use servercore::workload::make_packet;
use servercore::{Lesson, SendError, Wire};

/// Generates one module per lesson with one test per contract property.
/// Extra property names after the lesson add tests that not every lesson
/// guarantees.
macro_rules! contract {
    ($module:ident, $lesson:expr $(, $extra:ident)* $(,)?) => {
        mod $module {
            use super::*;

            #[test]
            fn smoke() {
                super::smoke($lesson);
            }
            #[test]
            fn send_after_close_gives_the_packet_back() {
                super::send_after_close_gives_the_packet_back($lesson);
            }
            #[test]
            fn close_delivers_everything_queued() {
                super::close_delivers_everything_queued($lesson);
            }
            #[test]
            fn peer_disconnect_is_reported_once() {
                super::peer_disconnect_is_reported_once($lesson);
            }
            #[test]
            fn peer_disconnect_during_sends_is_reported_once() {
                super::peer_disconnect_during_sends_is_reported_once($lesson);
            }
            #[test]
            fn local_disconnect_twice_is_reported_once() {
                super::local_disconnect_twice_is_reported_once($lesson);
            }
            #[test]
            fn connected_runs_before_the_first_packet() {
                super::connected_runs_before_the_first_packet($lesson);
            }
            #[test]
            fn bad_header_closes_only_that_session() {
                super::bad_header_closes_only_that_session($lesson);
            }
            $(
                #[test]
                fn $extra() {
                    super::$extra($lesson);
                }
            )*
        }
    };
}

contract!(lesson01_naive, Lesson::Naive);
contract!(lesson02_locked, Lesson::Locked, eight_threads_in_order);
contract!(
    lesson03_send_queue,
    Lesson::SendQueue,
    eight_threads_in_order
);
contract!(
    lesson04_batched_writer,
    Lesson::BatchedWriter,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson05_channel_writer,
    Lesson::ChannelWriter,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson06_send_buffers,
    Lesson::SendBuffers,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson07_direct_path,
    Lesson::DirectPath,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
// Lesson 08 skips the two late-reader scenarios: they publish 1.5 MiB per
// sender before anyone reads, and a ring is bounded by design (256 KiB in the
// catalog), so its sender blocks on the full ring, nobody drains the socket,
// and the test socket's write timeout closes the session: `Closed`, not a
// lost packet. tests/lesson08_rings.rs runs the same two
// scenarios (late reader, short writes cut inside a frame) on rings sized to
// hold the burst.
contract!(lesson08_rings, Lesson::Rings, eight_threads_in_order);

/// One packet arrives intact, then the end of the stream.
fn smoke(lesson: Lesson) {
    let (server, client) = pair();
    let path = start(lesson, &server);
    let receiver = spawn_receiver(client, 1, 32, 1);
    path.send(make_packet(0, 0, 32)).unwrap();
    path.close();
    assert_received(receiver, 1);
    let stats = path.stats();
    assert_eq!(stats.sends, 1);
    assert_eq!(stats.bytes_written, 34);
}

/// 8 threads × 2,000 packets, all at once: every packet arrives intact and
/// each thread's packets arrive in the order it sent them.
fn eight_threads_in_order(lesson: Lesson) {
    verified_burst(lesson, 8, 2_000, 32);
}

/// Batched lessons: small `SO_SNDBUF`/`SO_RCVBUF` on both ends, 64 KiB
/// packets from two threads, and a reader that starts only once everything
/// is queued: the writer's vectored writes meet a full socket buffer and
/// block part-way. Every byte arrives intact and in order.
///
/// A blocking Linux socket does not return early from a write when its
/// buffer fills (it waits for room), so the kernel alone may take each
/// group in one call: write calls ≥ batches is all that can be asserted.
/// `short_writes_resume_mid_packet` makes the short writes certain.
fn small_socket_buffers_and_a_late_reader(lesson: Lesson) {
    let stats = big_packets_late_reader(lesson, Wire::new);
    assert!(stats.write_calls >= stats.batches, "{stats:?}");
}

/// Batched lessons, the same load, with every write call capped at 10,007
/// bytes by the sink in front of the socket: each call is a short write
/// ending somewhere inside a packet (sometimes inside its header), so the
/// writer must resume mid-slice with `IoSlice::advance_slices`. All bytes
/// intact, and write calls far above batches proves the short writes
/// happened.
fn short_writes_resume_mid_packet(lesson: Lesson) {
    const CAP: usize = 10_007;
    let stats = big_packets_late_reader(lesson, |socket| Wire::new(CappedSink::new(socket, CAP)));
    assert!(stats.write_calls > stats.batches, "{stats:?}");
    // Every call moves at most CAP bytes, so at least this many calls:
    let least = stats.bytes_written.div_ceil(CAP as u64);
    assert!(stats.write_calls >= least, "{stats:?}");
}

/// After `close`, `send` refuses the packet and hands back the very same one.
fn send_after_close_gives_the_packet_back(lesson: Lesson) {
    let (server, client) = pair();
    let path = start(lesson, &server);
    let receiver = spawn_receiver(client, 1, 16, 1);
    path.send(make_packet(0, 0, 16)).unwrap();
    path.close();
    path.close(); // idempotent

    let packet = make_packet(0, 1, 16);
    match path.send(packet.clone()) {
        Err(SendError::Closed(back)) => assert_eq!(back, packet),
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(()) => panic!("send after close was accepted"),
    }
    assert_eq!(path.send(packet.clone()).unwrap_err().into_packet(), packet);
    assert_eq!(path.stats().sends, 1, "a refused send is not counted");
    // Nothing after close reached the wire: exactly the one packet, then EOF.
    assert_received(receiver, 1);

    // The same through a session, after a local disconnect.
    let (server, client) = pair();
    let recorder = Recorder::new();
    let session = start_session(lesson, server, &recorder);
    session.disconnect();
    match session.send(packet.clone()) {
        Err(SendError::Closed(back)) => assert_eq!(back, packet),
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(()) => panic!("send after disconnect was accepted"),
    }
    recorder.wait_disconnected();
    session.join();
    drop(client);
}

/// Everything accepted before `close` is written before `close` returns,
/// then the peer reads end of stream.
fn close_delivers_everything_queued(lesson: Lesson) {
    const PACKETS: u32 = 5_000;
    const PAYLOAD: usize = 100;
    let (server, client) = pair();
    let path = start(lesson, &server);
    let receiver = spawn_receiver(client, 1, PAYLOAD, u64::from(PACKETS));
    // For lessons with a writer thread, `send` only queues: close is called
    // while (most of) these are still in the queue.
    send_seqs(path.as_ref(), 0, 0..PACKETS, PAYLOAD);
    path.close();
    // `close` blocks until the queue is flushed: every byte is already written.
    let stats = path.stats();
    assert_eq!(stats.sends, u64::from(PACKETS));
    assert_eq!(
        stats.bytes_written,
        u64::from(PACKETS) * (PAYLOAD as u64 + 2)
    );
    assert_received(receiver, u64::from(PACKETS));
}

/// The peer closes its socket: `on_disconnected` runs exactly once, with
/// `PeerClosed`, and later disconnects change nothing.
fn peer_disconnect_is_reported_once(lesson: Lesson) {
    let (server, client) = pair();
    let recorder = Recorder::new();
    let session = start_session(lesson, server, &recorder);
    drop(client);
    assert_eq!(recorder.wait_disconnected(), Ended::PeerClosed);
    assert!(session.is_disconnected());
    session.disconnect(); // too late: already disconnected
    session.join(); // the reader thread has finished: no callback can follow
    assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
    let packet = make_packet(0, 0, 8);
    assert_eq!(
        session.send(packet.clone()).unwrap_err().into_packet(),
        packet
    );
}

/// The peer goes away while a thread is sending as fast as it can: the
/// write error and the reader's end of stream race to disconnect the
/// session; exactly one wins, and `on_disconnected` runs once.
fn peer_disconnect_during_sends_is_reported_once(lesson: Lesson) {
    let (server, client) = pair();
    let recorder = Recorder::new();
    let session = start_session(lesson, server, &recorder);
    let sender = {
        let session = Arc::clone(&session);
        thread::spawn(move || {
            // Sends until one is refused; the refusal gives the packet back.
            for seq in 0u32.. {
                let packet = make_packet(0, seq, 1000);
                if let Err(e) = session.send(packet.clone()) {
                    assert_eq!(e.into_packet(), packet);
                    return seq;
                }
            }
            unreachable!()
        })
    };
    drop(client);
    recorder.wait_disconnected();
    let refused_at = sender.join().expect("sender panicked");
    session.join();
    assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
    assert!(session.stats().sends <= u64::from(refused_at));
}

/// `disconnect` called twice (and from two threads at once): reported once,
/// as `Local`, and the peer reads end of stream.
fn local_disconnect_twice_is_reported_once(lesson: Lesson) {
    let (server, client) = pair();
    let recorder = Recorder::new();
    let session = start_session(lesson, server, &recorder);
    thread::scope(|scope| {
        scope.spawn(|| session.disconnect());
        scope.spawn(|| session.disconnect());
    });
    session.disconnect();
    assert_eq!(recorder.wait_disconnected(), Ended::Local);
    session.join();
    assert_eq!(recorder.disconnects(), 1, "{:?}", recorder.events());
    assert_peer_gone(&client);
}

/// Packets already waiting in the socket when the session starts are
/// delivered after `on_connected`, in order, and `on_disconnected` is last.
fn connected_runs_before_the_first_packet(lesson: Lesson) {
    let (server, mut client) = pair();
    let sent: Vec<_> = (0..3).map(|seq| make_packet(0, seq, 20)).collect();
    for packet in &sent {
        client.write_all(packet.as_bytes()).unwrap();
    }
    let recorder = Recorder::new();
    let session = start_session(lesson, server, &recorder);
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
}

/// A peer declares a packet size of 0 (the C# original spins forever on
/// it): that session ends with `BadPacket`, and another session in the same
/// process keeps receiving and sending.
fn bad_header_closes_only_that_session(lesson: Lesson) {
    let (bad_server, mut bad_client) = pair();
    let (good_server, mut good_client) = pair();
    let bad_recorder = Recorder::echoing();
    let good_recorder = Recorder::echoing();
    let bad = start_session(lesson, bad_server, &bad_recorder);
    let good = start_session(lesson, good_server, &good_recorder);

    bad_client.write_all(&[0, 0]).unwrap();
    assert_eq!(
        bad_recorder.wait_disconnected(),
        Ended::BadPacket(FrameError::TooSmall { size: 0 })
    );
    bad.join();
    assert_eq!(bad_recorder.disconnects(), 1);
    assert_peer_gone(&bad_client);
    let packet = make_packet(0, 0, 8);
    assert_eq!(bad.send(packet.clone()).unwrap_err().into_packet(), packet);

    // The other session still works both ways: it receives the packet and
    // its handler echoes it back from inside `on_packet`.
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
}
