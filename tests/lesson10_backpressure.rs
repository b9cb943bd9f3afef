//! Lesson 10: backpressure. A client stops reading while senders keep
//! sending; for every lesson with a queue and every policy, the queued
//! bytes never exceed the limit, and the behaviour is the policy's.

mod echo_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;

use echo_support::*;
use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::wire::Wire;
use servercore::workload::{Verifier, make_packet, receive};
use servercore::{Backpressure, Policy};
use servercore::{Lesson, Packet, SendError, SendPath};

/// The queue limit in these tests (the low-water mark is half of it).
const LIMIT: usize = 32 * 1024;
/// Payload bytes per packet (102 on the wire).
const PAYLOAD: usize = 100;
/// Every lesson that owns a queue.
const QUEUED: [Lesson; 5] = [
    Lesson::SendQueue,
    Lesson::BatchedWriter,
    Lesson::ChannelWriter,
    Lesson::SendBuffers,
    Lesson::DirectPath,
];

/// 4 KiB kernel buffers: loopback's defaults (which grow to megabytes)
/// would absorb the whole backlog before the queue limit is ever reached.
fn small_buffers() -> SocketOptions {
    SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    }
}

/// A client socket with small kernel buffers and timeouts.
fn small_client(server: &servercore::echo::Server) -> TcpStream {
    let stream = servercore::net::connect(server.local_addr(), &small_buffers()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A send path over a loopback pair with small kernel buffers, and the
/// client end, which does not read until the test says so.
fn stalled(lesson: Lesson, policy: Policy) -> (Arc<dyn SendPath>, TcpStream) {
    let (server_side, client) = socket_pair(&small_buffers()).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let wire = Wire::from_stream(&server_side).unwrap();
    let path: Arc<dyn SendPath> = Arc::from(
        lesson
            .start_with(wire, Backpressure::new(LIMIT, policy))
            .unwrap(),
    );
    (path, client)
}

/// Joins `thread`, or fails after [`TIMEOUT`]: a sender nobody wakes up
/// makes the test fail with a message instead of hanging.
fn join_within<T>(what: &str, thread: thread::JoinHandle<T>) -> T {
    eventually(what, || thread.is_finished().then_some(()));
    thread.join().unwrap()
}

#[test]
fn block_parks_the_senders_until_the_reader_reads() {
    for lesson in QUEUED {
        let (path, client) = stalled(lesson, Policy::Block);
        const SENDERS: u16 = 2;
        const EACH: u32 = 2000; // 2 × 2,000 × 102 bytes ≫ limit + kernel buffers
        let senders: Vec<_> = (0..SENDERS)
            .map(|id| {
                let path = Arc::clone(&path);
                thread::spawn(move || {
                    for seq in 0..EACH {
                        path.send(make_packet(id, seq, PAYLOAD))
                            .expect("block never refuses");
                    }
                })
            })
            .collect();
        // Nobody reads: the queue fills to the limit and the senders wait.
        let stalled = eventually("senders blocked", || {
            let s = path.stats();
            (s.blocked_sends > 0).then_some(s)
        });
        assert!(
            senders.iter().any(|s| !s.is_finished()),
            "{lesson}: a sender is parked"
        );
        assert!(
            stalled.queued_bytes as usize <= LIMIT,
            "{lesson}: {stalled:?}"
        );
        // The reader reads: the senders resume and finish, every packet arrives in order.
        let reader = thread::spawn(move || {
            receive(client, Verifier::new(SENDERS.into(), PAYLOAD), 2 * 2000)
        });
        for sender in senders {
            join_within("a blocked sender is woken and finishes", sender);
        }
        path.close();
        let got = join_within("the reader", reader).unwrap();
        assert!(got.ok(), "{lesson}: {got}");
        let stats = path.stats();
        assert!(
            stats.max_queued_bytes as usize <= LIMIT,
            "{lesson}: {stats:?}"
        );
        assert!(
            stats.max_queued_bytes as usize > LIMIT / 2,
            "{lesson}: the limit was reached"
        );
        assert_eq!(
            (stats.queued_bytes, stats.blocked_sends, stats.refused_sends),
            (0, 0, 0)
        );
    }
}

#[test]
fn close_wakes_a_blocked_sender_and_gives_its_packet_back() {
    for lesson in QUEUED {
        let (path, client) = stalled(lesson, Policy::Block);
        let sender = {
            let path = Arc::clone(&path);
            thread::spawn(move || {
                for seq in 0.. {
                    match path.send(make_packet(0, seq, PAYLOAD)) {
                        Ok(()) => {}
                        Err(SendError::Closed(packet)) => return (seq, packet),
                        Err(other) => panic!("block never refuses: {other:?}"),
                    }
                }
                unreachable!()
            })
        };
        eventually("the sender blocked", || {
            (path.stats().blocked_sends > 0).then_some(())
        });
        // The client reads to the end, so that close can flush.
        let reader = thread::spawn(move || {
            let mut bytes = Vec::new();
            (&client).read_to_end(&mut bytes).map(|_| bytes.len())
        });
        // Close takes the lesson's lock (to mark its queue closed): the
        // blocked sender holds none, so close cannot wait on it.
        path.close();
        let (seq, packet) = join_within("the blocked sender is woken by close", sender);
        assert_eq!(
            packet,
            make_packet(0, seq, PAYLOAD),
            "{lesson}: its own packet"
        );
        let read = join_within("the reader", reader).unwrap();
        assert_eq!(
            read,
            seq as usize * (PAYLOAD + 2),
            "{lesson}: every accepted packet, then end of stream"
        );
        assert_eq!(path.stats().queued_bytes, 0, "{lesson}");
    }
}

#[test]
fn abort_wakes_a_blocked_sender_and_gives_its_packet_back() {
    for lesson in QUEUED {
        let (path, client) = stalled(lesson, Policy::Block);
        let sender = {
            let path = Arc::clone(&path);
            thread::spawn(move || {
                for seq in 0.. {
                    match path.send(make_packet(0, seq, PAYLOAD)) {
                        Ok(()) => {}
                        Err(SendError::Closed(packet)) => return (seq, packet),
                        Err(other) => panic!("block never refuses: {other:?}"),
                    }
                }
                unreachable!()
            })
        };
        eventually("the sender blocked", || {
            (path.stats().blocked_sends > 0).then_some(())
        });
        // The peer goes (a session would shut the socket down), so the
        // writer's blocked write returns; nothing is written any more, so
        // no released byte wakes the sender: only the limit's close can.
        drop(client);
        path.abort();
        let (seq, packet) = join_within("the blocked sender is woken by abort", sender);
        assert_eq!(
            packet,
            make_packet(0, seq, PAYLOAD),
            "{lesson}: its own packet"
        );
        assert_eq!(path.stats().queued_bytes, 0, "{lesson}");
    }
}

#[test]
fn reject_gives_the_packet_back_and_delivers_exactly_the_accepted() {
    for lesson in QUEUED {
        let (path, client) = stalled(lesson, Policy::Reject);
        let mut accepted = 0u32;
        let refused = loop {
            match path.send(make_packet(0, accepted, PAYLOAD)) {
                Ok(()) => accepted += 1,
                Err(SendError::Full(packet)) => break packet,
                Err(other) => panic!("{lesson}: {other:?}"),
            }
            assert!(accepted < 1_000_000, "{lesson}: never full");
        };
        assert_eq!(
            refused,
            make_packet(0, accepted, PAYLOAD),
            "{lesson}: the refused packet comes back"
        );
        let stats = path.stats();
        assert!(
            stats.max_queued_bytes as usize <= LIMIT,
            "{lesson}: {stats:?}"
        );
        assert!(
            stats.max_queued_bytes as usize + 102 > LIMIT,
            "{lesson}: {stats:?}"
        );
        assert_eq!(stats.refused_sends, 1);
        // The reader reads: exactly the accepted packets arrive, in order.
        let reader =
            thread::spawn(move || receive(client, Verifier::new(1, PAYLOAD), u64::from(accepted)));
        path.close();
        let got = reader.join().unwrap().unwrap();
        assert!(got.ok(), "{lesson}: {got}");
        assert_eq!(got.packets, u64::from(accepted));
    }
}

#[test]
fn disconnect_evicts_and_refuses_from_then_on() {
    for lesson in QUEUED {
        let (path, client) = stalled(lesson, Policy::Disconnect);
        let mut accepted = 0u32;
        let evicted = loop {
            match path.send(make_packet(0, accepted, PAYLOAD)) {
                Ok(()) => accepted += 1,
                Err(SendError::Evicted(packet)) => break packet,
                Err(other) => panic!("{lesson}: {other:?}"),
            }
            assert!(accepted < 1_000_000, "{lesson}: never full");
        };
        assert_eq!(evicted, make_packet(0, accepted, PAYLOAD));
        let next = make_packet(0, accepted + 1, PAYLOAD);
        assert_eq!(
            path.send(next.clone()),
            Err(SendError::Closed(next)),
            "{lesson}"
        );
        assert!(path.stats().max_queued_bytes as usize <= LIMIT, "{lesson}");
        // The owner (a Session) shuts the socket before it aborts, so that a
        // writer blocked on the stalled peer returns: here the peer goes away.
        drop(client);
        path.abort();
    }
}

#[test]
fn lessons_without_a_queue_ignore_the_limit() {
    // 01 and 02 write from the caller: a stalled reader blocks the caller in
    // the kernel, and nothing is ever queued in user space.
    for lesson in [Lesson::Naive, Lesson::Locked] {
        let (path, client) = stalled(lesson, Policy::Reject);
        let reader = thread::spawn(move || receive(client, Verifier::new(1, PAYLOAD), 1000));
        for seq in 0..1000 {
            path.send(make_packet(0, seq, PAYLOAD)).unwrap();
        }
        path.close();
        assert!(reader.join().unwrap().unwrap().ok());
        let stats = path.stats();
        assert_eq!((stats.max_queued_bytes, stats.refused_sends), (0, 0));
    }
}

#[test]
fn the_echo_server_evicts_a_client_that_never_reads() {
    let mut config = config(Lesson::BatchedWriter);
    config.backpressure = Backpressure::new(LIMIT, Policy::Disconnect);
    config.socket = small_buffers(); // so the queue, not the kernel, takes the backlog
    let server = server(&config);
    let end = good_client_around(&server, || {
        let stream = small_client(&server);
        let peer = stream.local_addr().unwrap();
        let packet = Packet::from_payload(&[1; 1000]).unwrap();
        // Send until the server gives up on us; never read.
        while (&stream).write_all(packet.as_bytes()).is_ok() {}
        ended(&server, peer)
    });
    assert!(
        end.reason.starts_with("slow reader evicted"),
        "{}",
        end.reason
    );
    assert!(
        end.stats.max_queued_bytes as usize <= LIMIT,
        "{:?}",
        end.stats
    );
}

#[test]
fn under_reject_the_echo_server_drops_echoes_not_sessions() {
    let mut config = config(Lesson::ChannelWriter);
    config.backpressure = Backpressure::new(LIMIT, Policy::Reject);
    config.socket = small_buffers(); // so the queue, not the kernel, takes the backlog
    let server = server(&config);
    good_client_around(&server, || {
        let stream = small_client(&server);
        let peer = stream.local_addr().unwrap();
        let writer = stream.try_clone().unwrap();
        let flood = thread::spawn(move || {
            let packet = Packet::from_payload(&[1; 1000]).unwrap();
            for _ in 0..2000 {
                (&writer).write_all(packet.as_bytes()).unwrap();
            }
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let refusing = eventually("echoes refused", || {
            server.live_stats(peer).filter(|s| s.refused_sends > 0)
        });
        assert!(refusing.max_queued_bytes as usize <= LIMIT);
        // Now read: what arrives is our packets, whole, but fewer than were
        // sent. (When we hang up the server aborts the session, which may cut
        // the write in flight: a partial last packet is allowed.)
        let mut echoes = Vec::new();
        (&stream).read_to_end(&mut echoes).unwrap();
        flood.join().unwrap();
        let whole = echoes.len() / 1002;
        for echo in echoes.chunks(1002).take(whole) {
            assert_eq!(echo, Packet::from_payload(&[1; 1000]).unwrap().as_bytes());
        }
        assert!(whole < 2000, "some echoes were refused");
        let end = ended(&server, peer);
        assert!(
            end.stats.max_queued_bytes as usize <= LIMIT,
            "{:?}",
            end.stats
        );
    });
}
