//! `servercore bots`: players for the broadcast room (lesson 12), each one
//! checking every broadcast it gets.
//!
//! One run ([`run`]):
//!
//! 1. **Connect** `N` players to the room (one TCP connection each) and
//!    start a receiver thread per player.
//! 2. **Wait until all are in**: player 0 asks the room for its STATS until
//!    the room counts exactly `N` players. That reply is also the "before"
//!    snapshot of the room's counters.
//! 3. **Send**: every player sends `R × S` position updates, one every
//!    `1/R` seconds, deadline-paced (`next += period`, so a late update is
//!    followed by an early one, and the count is exact). The players' first
//!    deadlines are spread evenly over one period. A few sender threads
//!    ([`SENDER_THREADS`]) share the players; each update carries its send
//!    time on the bots' clock.
//! 4. **Receive and check**: every player expects `N × R × S` broadcasts
//!    (everyone's updates, its own included) and checks each one: a known
//!    sender, the next sequence number from that sender (nothing lost,
//!    per-sender order kept), and the exact position that sender computes
//!    for that sequence number (nothing corrupted). Latency is the time from
//!    the update's send to the read that brought the broadcast.
//! 5. **Ask again**: when every player has all its broadcasts, player 0
//!    asks for STATS once more; the difference is this run's share of the
//!    room's work — in particular its **write calls per delivered
//!    broadcast**. Then every player disconnects.
//!
//! The room's counters reach the bots in-band (the STATS packet of
//! [`crate::lessons::lesson12_room`] module), so the room process
//! needs no shutdown hook and one room can serve several runs in a row. It
//! assumes the bots are alone in the room during a run.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::lessons::lesson12_room::{self, POSITION, PositionUpdate, RoomStats, STATS};
use crate::net::{self, SocketOptions};
use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, RecvBuffer};
use std::sync::Arc;

/// Threads that send the players' updates (each takes every
/// `SENDER_THREADS`-th player). Sending is cheap; receiving is the load.
pub const SENDER_THREADS: usize = 8;

/// Stack size of every thread the bots start (one receiver per player): the
/// one place it is set. A receiver's buffer lives on the heap, so a small
/// stack suffices, and 1,000 players then reserve 256 MiB of address space
/// for stacks instead of 2 GiB with Rust's 2 MiB default.
pub const BOT_STACK_SIZE: usize = 256 * 1024;

/// What a run does.
#[derive(Debug, Clone)]
pub struct BotsConfig {
    /// The room's address.
    pub addr: SocketAddr,
    /// Players to connect.
    pub players: usize,
    /// Updates each player sends per second.
    pub rate: f64,
    /// Seconds of sending.
    pub seconds: f64,
    /// Players already in the room that are not ours (they send nothing;
    /// a stuck player, say): the run starts once the room counts
    /// `players + others`.
    pub others: usize,
    /// Socket options of the players' connections.
    pub options: SocketOptions,
    /// The longest a player waits for the next bytes (or a reply) before the
    /// run fails: a hang becomes an error.
    pub timeout: Duration,
}

impl BotsConfig {
    /// A run of `players` players sending `rate` updates/s for `seconds` s,
    /// with default socket options and a 30 s timeout.
    pub fn new(addr: SocketAddr, players: usize, rate: f64, seconds: f64) -> BotsConfig {
        BotsConfig {
            addr,
            players,
            rate,
            seconds,
            others: 0,
            options: SocketOptions::default(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Updates each player sends: `rate × seconds`, rounded, at least 1.
    pub fn updates_per_player(&self) -> u32 {
        (self.rate * self.seconds).round().max(1.0) as u32
    }

    /// Checks the limits; returns a message saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=60_000).contains(&self.players) {
            return Err("players must be 1..=60000".into());
        }
        if !(self.rate > 0.0 && self.rate <= 10_000.0) {
            return Err("rate must be in (0, 10000] updates/s".into());
        }
        if !(self.seconds > 0.0 && self.seconds <= 3_600.0) {
            return Err("seconds must be in (0, 3600]".into());
        }
        Ok(())
    }
}

/// The position player `player` reports in its update `seq`: both sides
/// compute it, so the receiver can check every byte of it.
pub fn position_of(player: u32, seq: u32) -> (f32, f32) {
    let x = (player % 1024) as f32 + (seq % 4096) as f32 / 8.0;
    let y = -((seq % 65_536) as f32) / 4.0 - (player % 64) as f32;
    (x, y)
}

/// Checks the broadcasts one player receives.
#[derive(Debug, Clone)]
pub struct BroadcastVerifier {
    /// The next sequence number expected from each player.
    next_seq: Vec<u32>,
    /// Updates each player sends.
    per_player: u32,
    /// Broadcasts that passed every check.
    received: u64,
    /// The first thing found wrong, if any.
    problem: Option<String>,
}

impl BroadcastVerifier {
    /// A verifier for a room of `players` players sending `per_player` updates each.
    pub fn new(players: usize, per_player: u32) -> BroadcastVerifier {
        BroadcastVerifier {
            next_seq: vec![0; players],
            per_player,
            received: 0,
            problem: None,
        }
    }

    /// Checks one update. Returns false, and records why, at the first bad
    /// one; after that every update is refused.
    pub fn check(&mut self, update: &PositionUpdate) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let Some(next) = self.next_seq.get_mut(update.player as usize) else {
            self.problem = Some(format!("unknown player {}", update.player));
            return false;
        };
        let problem = if update.seq != *next {
            Some(format!(
                "from player {}: seq {}, expected {} (lost or out of order)",
                update.player, update.seq, next
            ))
        } else if update.seq >= self.per_player {
            Some(format!(
                "from player {}: more than {} updates",
                update.player, self.per_player
            ))
        } else {
            let (x, y) = position_of(update.player, update.seq);
            (x.to_bits() != update.x.to_bits() || y.to_bits() != update.y.to_bits()).then(|| {
                format!(
                    "from player {} seq {}: wrong position",
                    update.player, update.seq
                )
            })
        };
        match problem {
            Some(problem) => {
                self.problem = Some(problem);
                false
            }
            None => {
                *next += 1;
                self.received += 1;
                true
            }
        }
    }

    /// Broadcasts that passed every check.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Broadcasts this player expects in all.
    pub fn expected(&self) -> u64 {
        self.next_seq.len() as u64 * u64::from(self.per_player)
    }

    /// Whether every expected broadcast has arrived.
    pub fn complete(&self) -> bool {
        self.received == self.expected()
    }

    /// The first problem found, if any.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}

/// A latency histogram: exact below 64 µs, then 32 buckets per power of
/// two (within about 3%). Small, mergeable, no allocation per sample.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    /// Samples per bucket.
    counts: Vec<u64>,
    /// Samples in all.
    total: u64,
    /// The largest sample, in microseconds.
    max_us: u64,
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram {
            counts: vec![0; 64 + 58 * 32],
            total: 0,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        LatencyHistogram::default()
    }

    fn index(us: u64) -> usize {
        if us < 64 {
            us as usize
        } else {
            let exp = 63 - us.leading_zeros() as usize; // 6..=63
            let sub = ((us >> (exp - 5)) & 31) as usize;
            64 + (exp - 6) * 32 + sub
        }
    }

    /// The smallest value of bucket `i`, and the bucket's width.
    fn bucket(i: usize) -> (u64, u64) {
        if i < 64 {
            (i as u64, 1)
        } else {
            let exp = (i - 64) / 32 + 6;
            let sub = ((i - 64) % 32) as u64;
            ((1 << exp) | (sub << (exp - 5)), 1 << (exp - 5))
        }
    }

    /// Records one latency, in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        let us = ns / 1_000;
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q`-quantile (0..=1) in microseconds: the middle of its bucket.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, width) = Self::bucket(i);
                return (low as f64 + (width as f64 - 1.0) / 2.0).min(self.max_us as f64);
            }
        }
        self.max_us as f64
    }

    /// The largest sample, in microseconds.
    pub fn max_us(&self) -> f64 {
        self.max_us as f64
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct BotsReport {
    /// The run's settings.
    pub players: usize,
    /// Updates each player sent per second.
    pub rate: f64,
    /// Seconds of sending asked for.
    pub seconds: f64,
    /// Updates the players sent, in all.
    pub updates_sent: u64,
    /// Broadcasts the players should receive: players × updates sent.
    pub broadcasts_expected: u64,
    /// Broadcasts that arrived and passed every check.
    pub broadcasts_received: u64,
    /// From the first update's deadline to the last broadcast's arrival, seconds.
    pub elapsed: f64,
    /// From the first update's deadline to the last update's send, seconds
    /// (more than `seconds` when the room held the players back).
    pub send_elapsed: f64,
    /// Update-to-delivery latency of every broadcast.
    pub latency: LatencyHistogram,
    /// The room's counters for this run (after minus before), if it answered.
    pub room: Option<RoomStats>,
    /// Why the run is not verified, if it is not.
    pub problem: Option<String>,
}

impl BotsReport {
    /// True when every expected broadcast arrived, in per-sender order,
    /// intact, and the room counted exactly as many deliveries.
    pub fn verified(&self) -> bool {
        self.problem.is_none()
    }

    /// Delivered broadcasts per second, over [`elapsed`](BotsReport::elapsed).
    pub fn delivered_per_sec(&self) -> f64 {
        self.broadcasts_received as f64 / self.elapsed.max(1e-9)
    }

    /// The server's write system calls per delivered broadcast (0 if unknown).
    pub fn writes_per_delivery(&self) -> f64 {
        self.room.map_or(0.0, |r| r.writes_per_delivery())
    }
}

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
    writer.write_all(lesson12_room::stats_request().as_bytes())?;
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

/// The report as a short table for people.
pub fn table(r: &BotsReport) -> String {
    let mut out = String::new();
    let lesson = r
        .room
        .map_or("?".to_string(), |room| format!("{:02}", room.lesson));
    let _ = writeln!(
        out,
        "servercore bots: {} players x {} updates/s x {} s, room on lesson {lesson}",
        r.players, r.rate, r.seconds
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "  {k:<34} {v}");
    };
    row("updates sent", thousands(r.updates_sent as f64));
    row(
        "broadcasts expected",
        thousands(r.broadcasts_expected as f64),
    );
    row(
        "broadcasts received",
        thousands(r.broadcasts_received as f64),
    );
    row(
        "seconds: sending / last delivery",
        format!("{:.2} / {:.2}", r.send_elapsed, r.elapsed),
    );
    row("delivered broadcasts/s", thousands(r.delivered_per_sec()));
    row(
        "latency p50 / p99 / max (ms)",
        format!(
            "{:.2} / {:.2} / {:.2}",
            r.latency.quantile_us(0.50) / 1e3,
            r.latency.quantile_us(0.99) / 1e3,
            r.latency.max_us() / 1e3
        ),
    );
    if let Some(room) = r.room {
        row("server write calls", thousands(room.write_calls as f64));
        row(
            "server write calls per broadcast",
            format!("{:.5}", room.writes_per_delivery()),
        );
    }
    row(
        "verified",
        if r.verified() {
            "yes".into()
        } else {
            "NO".into()
        },
    );
    if let Some(p) = &r.problem {
        row("problem", p.clone());
    }
    out
}

/// The report as one JSON object on one line.
pub fn json(r: &BotsReport) -> String {
    let room = r.room.unwrap_or_default();
    let problem = match &r.problem {
        Some(p) => format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")),
        None => "null".into(),
    };
    format!(
        "{{\"lesson\":{},\"players\":{},\"rate\":{},\"seconds\":{},\"updates_sent\":{},\
         \"broadcasts_expected\":{},\"broadcasts_received\":{},\"send_seconds\":{:.3},\
         \"elapsed_seconds\":{:.3},\"delivered_per_sec\":{:.1},\"latency_p50_us\":{:.1},\
         \"latency_p99_us\":{:.1},\"latency_max_us\":{:.1},\"server_deliveries\":{},\
         \"server_write_calls\":{},\"server_bytes_written\":{},\"server_wakeups\":{},\
         \"server_batches\":{},\"writes_per_delivery\":{:.6},\"verified\":{},\"problem\":{}}}",
        room.lesson,
        r.players,
        r.rate,
        r.seconds,
        r.updates_sent,
        r.broadcasts_expected,
        r.broadcasts_received,
        r.send_elapsed,
        r.elapsed,
        r.delivered_per_sec(),
        r.latency.quantile_us(0.50),
        r.latency.quantile_us(0.99),
        r.latency.max_us(),
        room.deliveries,
        room.write_calls,
        room.bytes_written,
        room.wakeups,
        room.batches,
        r.writes_per_delivery(),
        r.verified(),
        problem
    )
}

/// 1234567.8 → "1,234,568".
fn thousands(x: f64) -> String {
    let digits = format!("{x:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn verifier_accepts_interleaved_senders_in_order() {
        let mut v = BroadcastVerifier::new(2, 2);
        for u in [update(0, 0), update(1, 0), update(1, 1), update(0, 1)] {
            assert!(v.check(&u), "{:?}", v.problem());
        }
        assert!(v.complete());
    }

    #[test]
    fn verifier_finds_loss_reordering_corruption_and_extras() {
        let mut lost = BroadcastVerifier::new(1, 3);
        assert!(lost.check(&update(0, 0)));
        assert!(!lost.check(&update(0, 2)));
        assert!(lost.problem().unwrap().contains("expected 1"));

        let mut corrupt = BroadcastVerifier::new(1, 3);
        let mut bad = update(0, 0);
        bad.x += 1.0;
        assert!(!corrupt.check(&bad));

        let mut extra = BroadcastVerifier::new(1, 1);
        assert!(extra.check(&update(0, 0)));
        assert!(!extra.check(&update(0, 1)));

        let mut stranger = BroadcastVerifier::new(1, 1);
        assert!(!stranger.check(&update(5, 0)));
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record_ns(us * 1_000);
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((p50 - 5_000.0).abs() < 5_000.0 * 0.04, "{p50}");
        assert!((p99 - 9_900.0).abs() < 9_900.0 * 0.04, "{p99}");
        assert_eq!(h.max_us(), 10_000.0);
        for i in 0..h.counts.len() {
            let (low, _) = LatencyHistogram::bucket(i);
            assert_eq!(LatencyHistogram::index(low), i);
        }
    }
}
