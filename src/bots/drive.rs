//! One run of the bots, steps 1–5 of the [module doc](super): connect,
//! wait until everyone is in, send deadline-paced updates from a few
//! threads, receive and check on a thread per player, ask the room for its
//! counters before and after.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::report::{BotsReport, LatencyHistogram};
use super::verify::BroadcastVerifier;
use super::{BOT_STACK_SIZE, BotsConfig, SENDER_THREADS, position_of};
use crate::lessons::lesson12_room::protocol::{self, POSITION, PositionUpdate, RoomStats, STATS};
use crate::net;
use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, RecvBuffer};

/// What a receiver tells the controller.
enum Event {
    /// A STATS reply arrived (on player 0's connection).
    Stats(RoomStats),
    /// This player has everything it expects, or has given up (see its result).
    Finished,
}

/// What one receiver thread saw.
struct ReceiverResult {
    verifier: BroadcastVerifier,
    latency: LatencyHistogram,
    /// When the last broadcast arrived, ns on the bots' clock.
    last_delivery_ns: u64,
    problem: Option<String>,
}

/// Runs the bots against the room at `config.addr` and reports.
pub fn run(config: &BotsConfig) -> io::Result<BotsReport> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let players = config.players;
    let per_player = config.updates_per_player();
    let epoch = Instant::now(); // the bots' clock: ns since here

    // 1. Connect, one receiver thread per player.
    let mut streams = Vec::with_capacity(players);
    for _ in 0..players {
        let stream = net::connect(config.addr, &config.options)?;
        stream.set_read_timeout(Some(config.timeout))?;
        streams.push(Arc::new(stream));
    }
    let (events_tx, events) = mpsc::channel();
    let mut receivers = Vec::with_capacity(players);
    for (index, stream) in streams.iter().enumerate() {
        let stream = Arc::clone(stream);
        let events_tx = events_tx.clone();
        let receiver = thread::Builder::new()
            .name(format!("bot {index} receiver"))
            .stack_size(BOT_STACK_SIZE)
            .spawn(move || run_receiver(&stream, players, per_player, epoch, &events_tx));
        match receiver {
            Ok(receiver) => receivers.push(receiver),
            Err(e) => {
                shutdown_all(&streams);
                return Err(e);
            }
        }
    }
    drop(events_tx); // from now on only the receivers hold senders

    let result = drive(config, &streams, &events, epoch, per_player);
    shutdown_all(&streams); // the room sees end of stream and lets each player go
    let mut merged = LatencyHistogram::new();
    let (mut received, mut last_ns) = (0, 0);
    let mut problem = None;
    for (index, receiver) in receivers.into_iter().enumerate() {
        let r = receiver
            .join()
            .map_err(|_| io::Error::other("a receiver thread panicked"))?;
        received += r.verifier.received();
        merged.merge(&r.latency);
        last_ns = last_ns.max(r.last_delivery_ns);
        if problem.is_none() {
            problem = r
                .problem
                .or_else(|| r.verifier.problem().map(str::to_owned))
                .map(|p| format!("player {index}: {p}"));
        }
    }
    let run = match result {
        Ok(run) => run,
        Err(e) => {
            let why = problem.map_or(String::new(), |p| format!(" ({p})"));
            return Err(io::Error::new(e.kind(), format!("{e}{why}")));
        }
    };
    let expected = players as u64 * run.updates_sent;
    let problem = problem.or(run.problem).or_else(|| {
        (received != expected)
            .then(|| format!("{received} broadcasts arrived, {expected} expected"))
    });
    // With others in the room, it also delivers to them (or refuses a
    // stuck one it evicts): ours are a floor, not the count.
    let room_disagrees = |room: &RoomStats| {
        if config.others == 0 {
            room.deliveries != expected || room.refused != 0
        } else {
            room.deliveries < expected
        }
    };
    let problem = problem.or_else(|| match run.room {
        Some(room) if room_disagrees(&room) => Some(format!(
            "the room counted {} deliveries and {} refused, {expected} expected",
            room.deliveries, room.refused
        )),
        Some(_) => None,
        None => Some("the room did not report its counters".into()),
    });
    Ok(BotsReport {
        players,
        others: config.others,
        rate: config.rate,
        seconds: config.seconds,
        updates_sent: run.updates_sent,
        broadcasts_expected: expected,
        broadcasts_received: received,
        elapsed: last_ns.saturating_sub(run.start_ns) as f64 / 1e9,
        send_elapsed: run.last_send_ns.saturating_sub(run.start_ns) as f64 / 1e9,
        latency: merged,
        room: run.room,
        problem,
    })
}

/// What the controller found.
struct Driven {
    start_ns: u64,
    last_send_ns: u64,
    updates_sent: u64,
    room: Option<RoomStats>,
    problem: Option<String>,
}

/// Steps 2–5: wait for everyone, send, wait for every broadcast, ask for stats.
fn drive(
    config: &BotsConfig,
    streams: &[Arc<TcpStream>],
    events: &mpsc::Receiver<Event>,
    epoch: Instant,
    per_player: u32,
) -> io::Result<Driven> {
    let players = streams.len();
    let everyone = players + config.others;
    // 2. Wait until the room counts all our players (and the others we were
    // told of); the last reply is "before".
    let deadline = Instant::now() + config.timeout;
    let before = loop {
        let stats = ask_stats(&streams[0], events, config.timeout)?;
        if stats.players as usize == everyone {
            break stats;
        }
        if stats.players as usize > everyone {
            return Err(io::Error::other(format!(
                "the room has {} players, more than our {players} and {} others: \
                 run the bots alone, or say --others",
                stats.players, config.others
            )));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "only {} of {everyone} players joined the room",
                    stats.players
                ),
            ));
        }
        thread::sleep(Duration::from_millis(10)); // joining takes a thread start per player
    };

    // 3. Send, deadline-paced, from a few threads.
    let start_ns = epoch.elapsed().as_nanos() as u64 + 20_000_000;
    let period_ns = (1e9 / config.rate) as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let last_send = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for first in 0..SENDER_THREADS.min(players) {
        let mine: Vec<(u32, Arc<TcpStream>)> = (first..players)
            .step_by(SENDER_THREADS)
            .map(|p| (p as u32, Arc::clone(&streams[p])))
            .collect();
        let (sent, last_send) = (Arc::clone(&sent), Arc::clone(&last_send));
        let spread_ns = period_ns / players as u64; // first deadlines spread over one period
        senders.push(
            thread::Builder::new()
                .name(format!("bots sender {first}"))
                .stack_size(BOT_STACK_SIZE)
                .spawn(move || -> Result<(), String> {
                    for seq in 0..per_player {
                        for (player, stream) in &mine {
                            let due = start_ns
                                + u64::from(seq) * period_ns
                                + u64::from(*player) * spread_ns;
                            let now = epoch.elapsed().as_nanos() as u64;
                            if due > now {
                                thread::sleep(Duration::from_nanos(due - now));
                            }
                            let (x, y) = position_of(*player, seq);
                            let update = PositionUpdate {
                                player: *player,
                                seq,
                                x,
                                y,
                                sent_at_ns: epoch.elapsed().as_nanos() as u64,
                            };
                            (&**stream)
                                .write_all(&update.to_frame())
                                .map_err(|e| format!("player {player}: send failed: {e}"))?;
                            sent.fetch_add(1, Relaxed);
                        }
                    }
                    last_send.fetch_max(epoch.elapsed().as_nanos() as u64, Relaxed);
                    Ok(())
                })?,
        );
    }
    let mut problem = None;
    for sender in senders {
        match sender.join() {
            Ok(Ok(())) => {}
            Ok(Err(p)) => problem = problem.or(Some(p)),
            Err(_) => problem = problem.or(Some("a sender thread panicked".into())),
        }
    }

    // 4. Wait until every player has everything (or has given up).
    let mut finished = 0;
    while finished < players {
        match events.recv() {
            Ok(Event::Finished) => finished += 1,
            Ok(Event::Stats(_)) => {} // a late reply to a join poll
            Err(_) => break,          // every receiver is gone
        }
    }

    // 5. Ask again: this run's share of the room's counters.
    let room = match ask_stats(&streams[0], events, config.timeout) {
        Ok(after) => Some(after.since(&before)),
        Err(e) => {
            problem = problem.or(Some(format!("no stats from the room: {e}")));
            None
        }
    };
    Ok(Driven {
        start_ns,
        last_send_ns: last_send.load(Relaxed),
        updates_sent: sent.load(Relaxed),
        room,
        problem,
    })
}

/// Sends a STATS_REQUEST on `stream` and waits for the reply.
fn ask_stats(
    stream: &TcpStream,
    events: &mpsc::Receiver<Event>,
    timeout: Duration,
) -> io::Result<RoomStats> {
    let mut writer = stream;
    writer.write_all(protocol::stats_request().as_bytes())?;
    match events.recv_timeout(timeout) {
        Ok(Event::Stats(stats)) => Ok(stats),
        Ok(Event::Finished) => Err(io::Error::other("a player gave up while waiting for stats")),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no STATS reply")),
    }
}

/// Shuts every connection down both ways: the room reads end of stream and
/// ends each session; the receivers read end of stream at once (nothing is
/// expected any more), even if the room never closes its side.
fn shutdown_all(streams: &[Arc<TcpStream>]) {
    for stream in streams {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// One player's receiver thread: reads to end of stream, checks every
/// broadcast, passes STATS replies on.
fn run_receiver(
    stream: &TcpStream,
    players: usize,
    per_player: u32,
    epoch: Instant,
    events: &mpsc::Sender<Event>,
) -> ReceiverResult {
    let mut verifier = BroadcastVerifier::new(players, per_player);
    let mut latency = LatencyHistogram::new();
    let mut buffer = RecvBuffer::new(MAX_PACKET_LEN);
    let mut last_delivery_ns = 0;
    let mut told_finished = false;
    let problem = 'reading: loop {
        match buffer.read_from(&mut &*stream) {
            Ok(0) if verifier.complete() && buffer.unread() == 0 => break None,
            Ok(0) => {
                break Some(format!(
                    "connection closed after {} of {} broadcasts",
                    verifier.received(),
                    verifier.expected()
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if verifier.complete() {
                    continue; // all here: just waiting for the end of the run
                }
                break Some(format!(
                    "nothing for a timeout's length after {} of {} broadcasts",
                    verifier.received(),
                    verifier.expected()
                ));
            }
            Err(e) => break Some(format!("read failed: {e}")),
        }
        // One clock reading per read: every broadcast in it arrived by now.
        let now_ns = epoch.elapsed().as_nanos() as u64;
        loop {
            let frame = match buffer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => break 'reading Some(format!("framing lost: {e}")),
            };
            let body = &frame[HEADER_LEN..];
            match body.first() {
                Some(&POSITION) => match PositionUpdate::decode(body) {
                    Some(update) if verifier.check(&update) => {
                        latency.record_ns(now_ns.saturating_sub(update.sent_at_ns));
                        last_delivery_ns = now_ns;
                    }
                    Some(_) => break 'reading verifier.problem().map(str::to_owned),
                    None => break 'reading Some("a malformed POSITION packet".into()),
                },
                Some(&STATS) => match RoomStats::decode(body) {
                    Some(stats) => {
                        let _ = events.send(Event::Stats(stats));
                    }
                    None => break 'reading Some("a malformed STATS packet".into()),
                },
                _ => break 'reading Some(format!("a packet of unknown type {:?}", body.first())),
            }
        }
        if !told_finished && verifier.complete() {
            told_finished = true;
            let _ = events.send(Event::Finished);
        }
    };
    if !told_finished {
        let _ = events.send(Event::Finished);
    }
    ReceiverResult {
        verifier,
        latency,
        last_delivery_ns,
        problem,
    }
}
