//! The server of `servercore serve` and `servercore room` survives
//! exhaustion: a flood meets the session cap and only the excess is
//! refused; a room evicts a player that stops reading, and everyone else
//! gets every broadcast; both commands end on SIGTERM with exit 0 and one
//! summary line. (An injected spawn failure is in `server_spawn_failure.rs`:
//! it changes the whole process, so it has a test binary of its own.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use servercore::bots::{BroadcastVerifier, position_of};
use servercore::echo::{self, Client};
use servercore::lessons::lesson12_room::PositionUpdate;
use servercore::net::{self, SocketOptions};
use servercore::packet::{MAX_PACKET_LEN, RecvBuffer};
use servercore::server::{RoomServer, ServerConfig};
use servercore::{Backpressure, Lesson, Policy};

const TIMEOUT: Duration = Duration::from_secs(20);

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Reads until the server closes the connection; returns the bytes read.
/// A refused connection is closed at once, so this returns 0 promptly.
fn read_to_close(stream: &mut TcpStream) -> usize {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest.len(),
        // A reset is a close too (the server may close before we read).
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => rest.len(),
        Err(e) => panic!("the server neither answered nor closed the connection: {e}"),
    }
}

#[test]
fn a_flood_meets_the_cap_and_the_first_sessions_keep_their_echoes() {
    const CAP: usize = 64;
    const FLOOD: usize = 200;
    let config = ServerConfig {
        max_sessions: CAP,
        ..ServerConfig::new(Lesson::BatchedWriter)
    };
    let mut server = echo::serve(any_port(), &config).unwrap();
    let addr = server.local_addr();

    // The first CAP connections become sessions (one echo each, so each is
    // surely live before the next one connects) ...
    let mut first: Vec<Client> = (0..CAP)
        .map(|_| {
            let mut client = Client::connect(addr, 32).unwrap();
            client.exchange(1).unwrap();
            client
        })
        .collect();
    assert_eq!(server.live_sessions(), CAP);
    // ... and every later one is closed at once, while they all stay open.
    let mut flood: Vec<TcpStream> = (CAP..FLOOD)
        .map(|_| net::connect(addr, &SocketOptions::default()).unwrap())
        .collect();
    for stream in &mut flood {
        assert_eq!(
            read_to_close(stream),
            0,
            "a refused connection gets no byte"
        );
    }
    assert_eq!(server.refusals(), ((FLOOD - CAP) as u64, 0));
    assert_eq!(server.live_sessions(), CAP, "refusals disturb no session");

    // The first sessions still get every echo.
    for client in &mut first {
        client.exchange(100).unwrap();
    }
    // A session that ends frees its place for a new one.
    let leaving = first.pop().unwrap();
    leaving.finish().unwrap();
    let (_, ended) = server.counts();
    assert!(server.wait_for_ended_count(ended.max(1), TIMEOUT));
    let mut newcomer = Client::connect(addr, 32).unwrap();
    newcomer.exchange(100).unwrap();
    assert_eq!(newcomer.finish().unwrap().echoed, 100);

    drop(flood);
    let report = server.shutdown();
    assert_eq!(report.refused, (FLOOD - CAP) as u64);
    assert_eq!(report.failed, 0);
}

fn update(player: u32, seq: u32) -> PositionUpdate {
    let (x, y) = position_of(player, seq);
    PositionUpdate {
        player,
        seq,
        x,
        y,
        sent_at_ns: 0,
    }
}

#[test]
fn a_room_evicts_the_player_that_stops_reading_and_serves_the_others() {
    const LIMIT: usize = 256 * 1024;
    const GOOD: usize = 3;
    const ROUND: u32 = 500; // updates per player between two waits for the readers
    const ROUNDS: u32 = 20; // each player is sent 3 × 10,000 × 27 bytes = 810 KB in all
    const UPDATES: u32 = ROUND * ROUNDS;
    // Small buffers on the room's sockets and the stuck player's, so that
    // the stuck player's queue, not the kernel, holds what it does not read.
    let small = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let config = ServerConfig {
        socket: small.clone(),
        backpressure: Backpressure::new(LIMIT, Policy::Disconnect),
        ..ServerConfig::room(Lesson::BatchedWriter)
    };
    assert_eq!(
        ServerConfig::room(Lesson::BatchedWriter)
            .backpressure
            .policy,
        Policy::Disconnect,
        "a room evicts by default"
    );
    let mut server = RoomServer::start(any_port(), &config).unwrap();
    let connect = |options: &SocketOptions| {
        let stream = net::connect(server.local_addr(), options).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream
    };
    let stuck = connect(&small); // never reads
    let stuck_addr = stuck.local_addr().unwrap();
    let good: Vec<Arc<TcpStream>> = (0..GOOD)
        .map(|_| Arc::new(connect(&SocketOptions::default())))
        .collect();
    assert!(server.room().wait_for_players(GOOD + 1, TIMEOUT));

    // Each good player reads and checks every broadcast, counting them.
    let progress: Vec<Arc<AtomicU64>> = (0..GOOD).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let readers: Vec<_> = good
        .iter()
        .zip(&progress)
        .map(|(client, progress)| {
            let (client, progress) = (Arc::clone(client), Arc::clone(progress));
            thread::spawn(move || -> Result<(), String> {
                let mut verifier = BroadcastVerifier::new(GOOD, UPDATES);
                let mut buffer = RecvBuffer::new(MAX_PACKET_LEN);
                let mut reader = &*client;
                while !verifier.complete() {
                    while let Some(frame) = buffer.next_frame().map_err(|e| e.to_string())? {
                        let u = PositionUpdate::decode(&frame[2..]).ok_or("not an update")?;
                        if !verifier.check(&u) {
                            return Err(verifier.problem().unwrap_or("").to_owned());
                        }
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    if !verifier.complete()
                        && buffer.read_from(&mut reader).map_err(|e| e.to_string())? == 0
                    {
                        return Err(format!(
                            "end of stream after {} broadcasts",
                            verifier.received()
                        ));
                    }
                }
                Ok(())
            })
        })
        .collect();
    // The good players send in rounds and wait for each other to read the
    // round, so a good player's queue holds at most one round (40 KB,
    // under the limit) however the threads are scheduled; the stuck
    // player's queue grows by a round each time, until it is evicted.
    for round in 0..ROUNDS {
        for seq in round * ROUND..(round + 1) * ROUND {
            for (id, client) in good.iter().enumerate() {
                (&**client)
                    .write_all(&update(id as u32, seq).to_frame())
                    .unwrap();
            }
        }
        let target = u64::from((round + 1) * ROUND) * GOOD as u64;
        let deadline = Instant::now() + TIMEOUT;
        while progress.iter().any(|p| p.load(Ordering::Relaxed) < target) {
            assert!(
                Instant::now() < deadline,
                "the good players stopped receiving"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
    for reader in readers {
        // Every good player got every broadcast, in order per sender.
        reader.join().unwrap().unwrap();
    }

    // The stuck player was evicted, and its queue never passed the limit.
    let ended = server
        .server()
        .wait_for_end(stuck_addr, TIMEOUT)
        .expect("the stuck player was cut off");
    assert!(
        ended.reason.contains("slow reader evicted"),
        "{}",
        ended.reason
    );
    assert!(
        ended.stats.max_queued_bytes <= LIMIT as u64,
        "the stuck player's queue reached {} bytes, over the {LIMIT}-byte limit",
        ended.stats.max_queued_bytes
    );
    assert_eq!(server.room().player_count(), GOOD);
    drop(stuck);
    server.shutdown();
}

/// `servercore <args>` in the background, with its `listening on` address.
fn start_binary(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servercore"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// Sends SIGTERM, waits (bounded) for the exit; returns the exit status and stderr.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {TIMEOUT:?} of SIGTERM"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn serve_and_room_end_on_sigterm_with_exit_0_and_the_same_summary() {
    for command in ["serve", "room"] {
        let (child, addr) = start_binary(&[command, "--addr", "127.0.0.1:0", "--lesson", "4"]);
        // A peer connected at the signal: its session is closed with the rest.
        let peer = net::connect(addr, &SocketOptions::default()).unwrap();
        let (status, stderr) = terminate(child);
        assert!(status.success(), "{command}: {status}\n{stderr}");
        let summary = format!("servercore {command}: shut down on signal 15: ");
        assert!(
            stderr.contains(&summary) && stderr.contains("connections refused at the session cap"),
            "{command}: no summary line in:\n{stderr}"
        );
        drop(peer);
    }
}
