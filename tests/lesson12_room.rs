//! Lesson 12: the broadcast room, end to end on loopback.
//!
//! Counts, order and bytes — never timing. Every blocking read has a timeout.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use servercore::bots::{self, BotsConfig, BroadcastVerifier, position_of};
use servercore::lessons::lesson12_room::PositionUpdate;
use servercore::net::{self, SocketOptions};
use servercore::packet::{MAX_PACKET_LEN, RecvBuffer};
use servercore::server::{RoomServer, ServerConfig};
use servercore::{Backpressure, Lesson, Policy};

const TIMEOUT: Duration = Duration::from_secs(20);

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn start(lesson: Lesson) -> RoomServer {
    RoomServer::start(any_port(), &ServerConfig::room(lesson)).unwrap()
}

fn player(server: &RoomServer, options: &SocketOptions) -> TcpStream {
    let stream = net::connect(server.local_addr(), options).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn update(player: u32, seq: u32) -> PositionUpdate {
    let (x, y) = position_of(player, seq);
    PositionUpdate {
        player,
        seq,
        x,
        y,
        sent_at_ns: u64::from(player) << 32 | u64::from(seq),
    }
}

/// Reads exactly `count` whole frames (a read timing out is an error).
fn read_frames(mut stream: &TcpStream, count: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut buffer = RecvBuffer::new(MAX_PACKET_LEN);
    let mut frames = Vec::new();
    while frames.len() < count {
        if buffer.read_from(&mut stream)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("end of stream after {} of {count} frames", frames.len()),
            ));
        }
        while let Some(frame) = buffer.next_frame().map_err(io::Error::other)? {
            frames.push(frame.to_vec());
        }
    }
    assert_eq!(frames.len(), count, "more frames than expected");
    Ok(frames)
}

/// Reads until end of stream; returns the bytes read (a timeout is an error).
fn read_to_end(mut stream: &TcpStream) -> io::Result<usize> {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match io::Read::read(&mut stream, &mut buf)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

#[test]
fn twenty_players_get_every_broadcast_on_every_lesson_with_a_lock_or_a_queue() {
    // Lesson 01 is left out on purpose: its concurrent writes may interleave.
    for lesson in [
        Lesson::Locked,
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
    ] {
        let mut server = start(lesson);
        let mut config = BotsConfig::new(server.local_addr(), 20, 50.0, 0.4);
        config.timeout = TIMEOUT;
        let report = bots::run(&config).unwrap();
        let expected = 20 * 20 * 20; // players × players × updates each
        assert!(report.verified(), "lesson {lesson}: {:?}", report.problem);
        assert_eq!(report.updates_sent, 20 * 20, "lesson {lesson}");
        assert_eq!(report.broadcasts_expected, expected, "lesson {lesson}");
        assert_eq!(report.broadcasts_received, expected, "lesson {lesson}");
        let room = report.room.unwrap();
        assert_eq!(room.lesson as u32, lesson.number());
        assert_eq!(room.updates, 20 * 20, "lesson {lesson}");
        assert_eq!(room.deliveries, expected, "lesson {lesson}");
        assert_eq!(room.refused, 0, "lesson {lesson}");
        assert_eq!(
            report.latency.count(),
            expected,
            "one latency per broadcast"
        );
        if lesson == Lesson::Locked {
            // One write per delivery, plus the STATS reply that opened the run.
            // A wire counts a write after the system call returns, so a
            // player can hold the bytes before the count moves: the last few
            // writes (at most one per broadcasting thread) may be missing.
            assert!(
                room.write_calls <= expected + 1,
                "lesson {lesson}: {room:?}"
            );
            assert!(
                room.write_calls + 20 > expected,
                "lesson {lesson}: {room:?}"
            );
        }
        server.shutdown();
        assert_eq!(server.room().player_count(), 0, "lesson {lesson}");
    }
}

#[test]
fn every_player_gets_the_exact_bytes_in_each_senders_order() {
    let server = start(Lesson::BatchedWriter);
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| player(&server, &SocketOptions::default()))
        .collect();
    assert!(server.room().wait_for_players(3, TIMEOUT));

    // Each player sends 5 updates, interleaved across players.
    let mut sent = Vec::new();
    for seq in 0..5 {
        for (id, mut client) in clients.iter().enumerate() {
            let frame = update(id as u32, seq).to_frame();
            client.write_all(&frame).unwrap();
            sent.push(frame.to_vec());
        }
    }
    for (id, client) in clients.iter().enumerate() {
        let frames = read_frames(client, 15).unwrap();
        // Same bytes as sent, nothing else: compare as sorted multisets.
        let (mut got, mut want) = (frames.clone(), sent.clone());
        got.sort();
        want.sort();
        assert_eq!(got, want, "player {id}");
        // And each sender's updates in the order it sent them.
        let mut verifier = BroadcastVerifier::new(3, 5);
        for frame in &frames {
            let u = PositionUpdate::decode(&frame[2..]).unwrap();
            assert!(verifier.check(&u), "player {id}: {:?}", verifier.problem());
        }
        assert!(verifier.complete());
    }
    let stats = server.room().stats();
    assert_eq!(
        (stats.players, stats.updates, stats.deliveries),
        (3, 15, 45)
    );
}

#[test]
fn a_player_that_leaves_is_removed_and_its_session_freed() {
    let server = start(Lesson::BatchedWriter);
    let mut clients: Vec<TcpStream> = (0..4)
        .map(|_| player(&server, &SocketOptions::default()))
        .collect();
    assert!(server.room().wait_for_players(4, TIMEOUT));

    let leaving: Vec<_> = clients.drain(..2).collect();
    let leaving_addrs: Vec<SocketAddr> = leaving.iter().map(|c| c.local_addr().unwrap()).collect();
    let weak: Vec<Weak<_>> = server
        .room()
        .players()
        .iter()
        .filter(|s| leaving_addrs.contains(&s.peer_addr()))
        .map(Arc::downgrade)
        .collect();
    assert_eq!(weak.len(), 2);
    drop(leaving); // they close their connections
    assert!(server.room().wait_for_players(2, TIMEOUT));
    // The room has let them go; the server keeps an ended session until it
    // joins its reader thread, at its next accept. So a newcomer comes in.
    assert!(server.server().wait_for_ended_count(2, TIMEOUT));
    clients.push(player(&server, &SocketOptions::default()));
    assert!(server.room().wait_for_players(3, TIMEOUT));

    for weak in weak {
        // The reader thread may still hold it (it drops it as it ends): join it.
        if let Some(session) = weak.upgrade() {
            session.join();
            assert!(session.is_disconnected());
            assert_eq!(
                Arc::strong_count(&session),
                1,
                "a departed session is still referenced"
            );
        }
        assert!(weak.upgrade().is_none(), "a departed session leaked");
    }

    // The two who stayed, and the newcomer, hear each other.
    let mut speaker = &clients[0];
    speaker.write_all(&update(0, 0).to_frame()).unwrap();
    for client in &clients {
        let frames = read_frames(client, 1).unwrap();
        assert_eq!(frames[0], update(0, 0).to_frame().to_vec());
    }
    assert_eq!(server.room().stats().deliveries, 3);
}

#[test]
fn a_bad_packet_disconnects_only_its_sender() {
    let server = start(Lesson::BatchedWriter);
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| player(&server, &SocketOptions::default()))
        .collect();
    assert!(server.room().wait_for_players(3, TIMEOUT));

    (&clients[0]).write_all(&[3, 0, 9]).unwrap(); // type 9: not a room packet
    assert_eq!(read_to_end(&clients[0]).unwrap(), 0, "the room closes it");
    assert!(server.room().wait_for_players(2, TIMEOUT));

    (&clients[1]).write_all(&update(1, 0).to_frame()).unwrap();
    for client in &clients[1..] {
        assert_eq!(
            read_frames(client, 1).unwrap()[0],
            update(1, 0).to_frame().to_vec()
        );
    }
}

#[test]
fn with_a_send_queue_a_stuck_player_does_not_hold_up_the_others() {
    // Small buffers on the room's sockets and on the stuck player's, so the
    // stuck player's writer surely blocks long before the run ends.
    let small = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let lesson = Lesson::BatchedWriter;
    let server = RoomServer::start(
        any_port(),
        &ServerConfig {
            socket: small.clone(),
            ..ServerConfig::room(lesson)
        },
    )
    .unwrap();
    let stuck = player(&server, &small); // never reads
    let active: Vec<Arc<TcpStream>> = (0..3)
        .map(|_| Arc::new(player(&server, &SocketOptions::default())))
        .collect();
    assert!(server.room().wait_for_players(4, TIMEOUT));

    const UPDATES: u32 = 2000; // 3 × 2000 × 27 bytes = 162 KB for the stuck player
    let readers: Vec<_> = active
        .iter()
        .map(|client| {
            let client = Arc::clone(client);
            thread::spawn(move || -> Result<(), String> {
                let frames =
                    read_frames(&client, 3 * UPDATES as usize).map_err(|e| e.to_string())?;
                let mut verifier = BroadcastVerifier::new(3, UPDATES);
                for frame in &frames {
                    let u = PositionUpdate::decode(&frame[2..]).ok_or("not an update")?;
                    if !verifier.check(&u) {
                        return Err(verifier.problem().unwrap_or("").to_owned());
                    }
                }
                Ok(())
            })
        })
        .collect();
    for seq in 0..UPDATES {
        for (id, client) in active.iter().enumerate() {
            (&**client)
                .write_all(&update(id as u32, seq).to_frame())
                .unwrap();
        }
    }
    for reader in readers {
        reader.join().unwrap().unwrap(); // every active player got everything
    }
    let stats = server.room().stats();
    assert_eq!(stats.deliveries, 4 * 3 * u64::from(UPDATES));
    assert!(
        stats.bytes_written < stats.deliveries * 27,
        "the stuck player's broadcasts cannot all have been written: {stats:?}"
    );
    assert_eq!(
        server.room().player_count(),
        4,
        "the stuck player is still in the room"
    );
    drop(stuck);
    assert!(server.room().wait_for_players(3, TIMEOUT));
}

/// Polls `probe` until it returns `Some`, or fails after [`TIMEOUT`].
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Reads and throws away everything a player receives, until the room closes it.
fn drain(stream: &TcpStream) -> thread::JoinHandle<()> {
    let stream = stream.try_clone().unwrap();
    thread::spawn(move || {
        let _ = read_to_end(&stream);
    })
}

#[test]
fn a_broadcast_parked_on_a_stuck_player_does_not_hold_the_room_lock() {
    // Lesson 04 behind a small queue limit that blocks: a broadcast to a
    // player that does not read parks inside that player's `send`, as a
    // lesson 02 broadcast would park inside its write.
    let small = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let server = RoomServer::start(
        any_port(),
        &ServerConfig {
            backpressure: Backpressure::new(8 * 1024, Policy::Block),
            socket: small.clone(),
            ..ServerConfig::room(Lesson::BatchedWriter)
        },
    )
    .unwrap();
    // Declared after the server, so that on a failure it is dropped first:
    // its session ends and the parked broadcaster is let go.
    let stuck = player(&server, &small); // never reads; first in the list
    assert!(server.room().wait_for_players(1, TIMEOUT));
    let speaker = player(&server, &SocketOptions::default());
    assert!(server.room().wait_for_players(2, TIMEOUT));
    let _speaker_reads = drain(&speaker);

    // Far more than the stuck player's limit and kernel buffers take.
    let writer = speaker.try_clone().unwrap();
    thread::spawn(move || {
        for seq in 0..20_000 {
            if (&writer).write_all(&update(1, seq).to_frame()).is_err() {
                return; // the room closed the connection
            }
        }
    });
    // The speaker's reader thread broadcasts; it parks in the stuck player's send.
    let stuck_addr = stuck.local_addr().unwrap();
    eventually(
        "a broadcast parked on the stuck player's queue limit",
        || {
            server
                .server()
                .live_stats(stuck_addr) // the server's registry: no room lock taken
                .filter(|s| s.blocked_sends > 0)
        },
    );

    // The room lock is free: a player joins, and the room reports its
    // counters. (On a thread of its own, with a bounded wait: if the
    // broadcaster held the lock, these calls would wait on it forever.)
    let late = player(&server, &SocketOptions::default());
    let _late_reads = drain(&late);
    let room = Arc::clone(server.room());
    let joined = thread::spawn(move || {
        let joined = room.wait_for_players(3, TIMEOUT);
        (joined, room.stats().players)
    });
    eventually("a join and a STATS while a broadcast is parked", || {
        joined.is_finished().then_some(())
    });
    assert_eq!(joined.join().unwrap(), (true, 3), "the late player joined");

    // The stuck player leaves: the parked broadcaster gets its packet back
    // (`Closed`) and the room goes on without it: the speaker's reader
    // thread, which is the broadcaster, takes the next updates again.
    let before = server.room().stats().updates;
    drop(stuck);
    assert!(server.room().wait_for_players(2, TIMEOUT));
    eventually("the broadcaster was let go", || {
        (server.room().stats().updates > before).then_some(())
    });
}
