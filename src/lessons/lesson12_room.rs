//! Lesson 12 — the broadcast room: the seed's 1,000 players.
//!
//! **The problem.** The seed's motivating scenario: in an MMO, every player
//! sends its position several times a second, and the server must send every
//! update to every player. With `N` players each sending `R` updates a
//! second, the room receives `N·R` packets a second but must *deliver*
//! `N²·R`: 100 players at 10 updates/s is 100,000 deliveries a second, 1,000
//! players is 10 million. The send path, not the game logic, is the load.
//!
//! **The room.** This module is not a new send path: it runs on top of any
//! lesson's, chosen with [`Lesson`] (one [`Session`] per player). Every
//! position update a player sends is sent to every player in the room, the
//! sender included. Three decisions:
//!
//! * **Serialize once.** The update is checked ([`decode`]) and then the
//!   *same* [`Packet`] is queued on every session: `packet.clone()` bumps a
//!   reference count on shared `bytes::Bytes`, it copies nothing. One update,
//!   `N` deliveries, zero copies on the server (the reader already made the
//!   one copy out of its receive buffer). Building a fresh packet per
//!   receiver would cost `N²·R` allocations and copies a second.
//! * **A locked, copy-on-write player list, not a job queue.** The course's
//!   C# room pushes join, leave and broadcast as jobs onto a queue that one
//!   thread at a time flushes (the pending-flag pattern again). Its point is
//!   to run game logic on one thread at a time. This room has no game logic:
//!   its only shared state is the list of players. So the list is an
//!   `Arc<Vec<Arc<Session>>>` behind a `Mutex`; join and leave build a new
//!   `Vec` under the lock, and a broadcast takes the lock only to clone the
//!   `Arc` (one reference count), then sends with **no lock held**. The
//!   reader threads of all players broadcast in parallel, and — which is
//!   what matters with lessons 01/02, whose `send` *is* a blocking write — a
//!   broadcaster stuck in the kernel never holds the room lock, so joins,
//!   leaves and the other broadcasters go on. A job queue would funnel every
//!   broadcast through one thread at a time: with lesson 02 that one thread
//!   would do every write system call of the whole room.
//! * **Leaving.** [`Handler::on_disconnected`] removes the session from the
//!   list. Nothing points back from a session to the room: the room holds
//!   the sessions, each session's reader thread holds its session and the
//!   handler (the room). When a player leaves, its reader thread ends and
//!   the last references go with it: no cycle, no leaked session. A
//!   broadcast that still holds an old snapshot of the list gets
//!   [`SendError::Closed`](crate::SendError::Closed) from the departed
//!   session and counts it as refused.
//!
//! **Slow and dead players.** What one player that stops reading does to the
//! others is exactly what the chosen send path implies:
//!
//! * lessons 01/02: `send` writes from the broadcaster's thread. Once the
//!   stuck player's socket buffers are full, every broadcaster blocks in the
//!   kernel on *that* socket (in lesson 02 also on its lock), so every
//!   player's reader thread stops, and the whole room stalls until the
//!   stuck player reads, or its connection fails;
//! * lessons 03 and later: `send` only queues. The stuck player's writer
//!   blocks, its queue grows (unbounded — backpressure is lesson 10's
//!   topic), and everyone else is served at full speed
//!   (`tests/lesson12_room.rs` checks this for lesson 04).
//!
//! A dead player (reset connection) fails its write, its session disconnects
//! and leaves the room; the others never notice.
//!
//! ## The room's wire format
//!
//! Every packet is a normal framed [`Packet`] (a `u16` total size first); its
//! body starts with a type byte. All integers and floats are little-endian.
//!
//! ```text
//! type 1, POSITION       (client → room → every player; 27 bytes on the wire)
//!   0  u8   type = 1
//!   1  u32  player      the sender's id, chosen by the client
//!   5  u32  seq         per-player sequence number, from 0
//!   9  f32  x
//!  13  f32  y
//!  17  u64  sent_at_ns  the sender's clock when it sent the update
//!
//! type 2, STATS_REQUEST  (client → room; body is just the type byte)
//!
//! type 3, STATS          (room → the requesting player only; 64 bytes on the wire)
//!   0  u8   type = 3
//!   1  u8   lesson        the send path's lesson number
//!   2  u32  players       players in the room now
//!   6  u64  updates       POSITION packets received and broadcast
//!  14  u64  deliveries    broadcast sends accepted by a session (≈ updates × players)
//!  22  u64  refused       broadcast sends refused (the player had left)
//!  30  u64  write_calls   write system calls of every session, present and past
//!  38  u64  bytes_written bytes those calls wrote
//!  46  u64  wakeups       writer wake-ups (lessons 03 on)
//!  54  u64  batches       writer batches (lessons 03 on)
//! ```
//!
//! Every counter only grows, from the room's start; a client measures a run
//! by asking before and after and subtracting. Any other type byte, or a
//! wrong length, is bad input: the room disconnects that player.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::packet::Packet;
use crate::session::{DisconnectReason, Handler, Session};
use crate::stats::StatsSnapshot;
// std, not `crate::sync`: the room is not part of the loom model of the hand-off.
use std::sync::{Arc, Condvar, Mutex};

/// Type byte of a [`PositionUpdate`].
pub const POSITION: u8 = 1;
/// Type byte of a stats request (no body beyond the type).
pub const STATS_REQUEST: u8 = 2;
/// Type byte of a [`RoomStats`] reply.
pub const STATS: u8 = 3;

/// One player's position at one moment: the packet the room broadcasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionUpdate {
    /// The sender's id (chosen by the client; the room does not check it).
    pub player: u32,
    /// The sender's sequence number for its updates, from 0.
    pub seq: u32,
    /// Position, x.
    pub x: f32,
    /// Position, y.
    pub y: f32,
    /// When the sender sent it, in nanoseconds on the sender's clock.
    pub sent_at_ns: u64,
}

impl PositionUpdate {
    /// Body bytes of a POSITION packet, type byte included.
    pub const BODY_LEN: usize = 25;
    /// Bytes on the wire: header plus body.
    pub const PACKET_LEN: usize = 2 + Self::BODY_LEN;

    /// The whole framed packet, written into a fixed array (no allocation):
    /// what a client writes to its socket.
    pub fn to_frame(&self) -> [u8; Self::PACKET_LEN] {
        let mut frame = [0u8; Self::PACKET_LEN];
        frame[0..2].copy_from_slice(&(Self::PACKET_LEN as u16).to_le_bytes());
        frame[2] = POSITION;
        frame[3..7].copy_from_slice(&self.player.to_le_bytes());
        frame[7..11].copy_from_slice(&self.seq.to_le_bytes());
        frame[11..15].copy_from_slice(&self.x.to_le_bytes());
        frame[15..19].copy_from_slice(&self.y.to_le_bytes());
        frame[19..27].copy_from_slice(&self.sent_at_ns.to_le_bytes());
        frame
    }

    /// The update as a [`Packet`]: one allocation, one copy.
    pub fn encode(&self) -> Packet {
        Packet::from_payload(&self.to_frame()[2..]).expect("27 bytes fit a packet")
    }

    /// Reads a POSITION body (type byte included); `None` if it is not one.
    pub fn decode(body: &[u8]) -> Option<PositionUpdate> {
        if body.len() != Self::BODY_LEN || body[0] != POSITION {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        Some(PositionUpdate {
            player: u32_at(1),
            seq: u32_at(5),
            x: f32::from_bits(u32_at(9)),
            y: f32::from_bits(u32_at(13)),
            sent_at_ns: u64::from_le_bytes(body[17..25].try_into().expect("8 bytes")),
        })
    }
}

/// The room's counters, as the STATS reply carries them. Every count only
/// grows from the room's start (`players` aside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// The lesson whose send path the room's sessions use.
    pub lesson: u8,
    /// Players in the room now.
    pub players: u32,
    /// POSITION packets received (each broadcast once).
    pub updates: u64,
    /// Broadcast sends a session accepted.
    pub deliveries: u64,
    /// Broadcast sends refused because the player had left.
    pub refused: u64,
    /// Write system calls of every session, present and departed.
    pub write_calls: u64,
    /// Bytes those write calls wrote.
    pub bytes_written: u64,
    /// Writer wake-ups (lessons with a writer thread).
    pub wakeups: u64,
    /// Writer batches (lessons with a writer thread).
    pub batches: u64,
}

impl RoomStats {
    /// Body bytes of a STATS packet, type byte included.
    pub const BODY_LEN: usize = 62;

    /// The STATS reply packet.
    pub fn encode(&self) -> Packet {
        let mut body = Vec::with_capacity(Self::BODY_LEN);
        body.push(STATS);
        body.push(self.lesson);
        body.extend_from_slice(&self.players.to_le_bytes());
        for count in [
            self.updates,
            self.deliveries,
            self.refused,
            self.write_calls,
            self.bytes_written,
            self.wakeups,
            self.batches,
        ] {
            body.extend_from_slice(&count.to_le_bytes());
        }
        Packet::from_payload(&body).expect("62 bytes fit a packet")
    }

    /// Reads a STATS body (type byte included); `None` if it is not one.
    pub fn decode(body: &[u8]) -> Option<RoomStats> {
        if body.len() != Self::BODY_LEN || body[0] != STATS {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        Some(RoomStats {
            lesson: body[1],
            players: u32::from_le_bytes(body[2..6].try_into().expect("4 bytes")),
            updates: u64_at(6),
            deliveries: u64_at(14),
            refused: u64_at(22),
            write_calls: u64_at(30),
            bytes_written: u64_at(38),
            wakeups: u64_at(46),
            batches: u64_at(54),
        })
    }

    /// What happened between `earlier` and `self` (counts subtracted;
    /// `lesson` and `players` are `self`'s).
    pub fn since(&self, earlier: &RoomStats) -> RoomStats {
        RoomStats {
            lesson: self.lesson,
            players: self.players,
            updates: self.updates.saturating_sub(earlier.updates),
            deliveries: self.deliveries.saturating_sub(earlier.deliveries),
            refused: self.refused.saturating_sub(earlier.refused),
            write_calls: self.write_calls.saturating_sub(earlier.write_calls),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            wakeups: self.wakeups.saturating_sub(earlier.wakeups),
            batches: self.batches.saturating_sub(earlier.batches),
        }
    }

    /// Write system calls per delivered broadcast (0 if nothing was delivered).
    pub fn writes_per_delivery(&self) -> f64 {
        if self.deliveries == 0 {
            0.0
        } else {
            self.write_calls as f64 / self.deliveries as f64
        }
    }
}

/// The STATS_REQUEST packet (3 bytes on the wire).
pub fn stats_request() -> Packet {
    Packet::from_payload(&[STATS_REQUEST]).expect("1 byte fits a packet")
}

/// A packet of the room's protocol, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Message {
    /// A position update, to broadcast.
    Position(PositionUpdate),
    /// A request for the room's counters.
    StatsRequest,
    /// The room's counters.
    Stats(RoomStats),
}

/// Decodes one packet of the room's protocol; `None` for an unknown type
/// or a wrong length.
pub fn decode(packet: &Packet) -> Option<Message> {
    let body = packet.payload();
    match body.first() {
        Some(&POSITION) => PositionUpdate::decode(body).map(Message::Position),
        Some(&STATS_REQUEST) if body.len() == 1 => Some(Message::StatsRequest),
        Some(&STATS) => RoomStats::decode(body).map(Message::Stats),
        _ => None,
    }
}

// ANCHOR: room
/// The room: who is in it, and counters. Shared by every session's reader
/// thread (it is their [`Handler`]).
pub struct Room {
    /// The number of the lesson whose send path every session uses
    /// (reported in STATS).
    lesson: u8,
    /// The players. Held only to clone or replace the list: never across a
    /// send (with lessons 01/02 a send is a blocking write).
    players: Mutex<Players>,
    /// Signalled whenever a player joins or leaves.
    players_changed: Condvar,
    /// POSITION packets received and broadcast. Only grows.
    updates: AtomicU64,
    /// Broadcast sends tried: players in the list, summed over broadcasts.
    /// Only grows; deliveries are `attempts - refused`.
    attempts: AtomicU64,
    /// Broadcast sends refused (the player had left). Only grows.
    refused: AtomicU64,
}

/// What the room lock guards.
struct Players {
    /// Every player in the room, from its `on_connected` to its
    /// `on_disconnected`. Copy-on-write: a `Vec` once shared is never
    /// changed; joining and leaving build a new one. So a broadcast can
    /// hold a snapshot without holding the lock.
    list: Arc<Vec<Arc<Session>>>,
    /// The counters of every session that has left, summed (they keep
    /// counting in STATS after the session is gone).
    departed: StatsSnapshot,
    /// true once the room is shutting down: a late joiner is disconnected
    /// instead of added. Never goes back to false.
    closed: bool,
}
// ANCHOR_END: room

impl Room {
    /// An empty room whose players use lesson `lesson`'s send path (the
    /// number is only reported in STATS; the sessions' config chooses).
    pub fn new(lesson: u8) -> Arc<Room> {
        Arc::new(Room {
            lesson,
            players: Mutex::new(Players {
                list: Arc::new(Vec::new()),
                departed: StatsSnapshot::default(),
                closed: false,
            }),
            players_changed: Condvar::new(),
            updates: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// The number of the lesson the room's sessions use.
    pub fn lesson(&self) -> u8 {
        self.lesson
    }

    /// How many players are in the room now.
    pub fn player_count(&self) -> usize {
        self.players.lock().unwrap().list.len()
    }

    /// A snapshot of the players in the room now.
    pub fn players(&self) -> Vec<Arc<Session>> {
        self.players.lock().unwrap().list.to_vec()
    }

    /// Blocks until exactly `count` players are in the room, or `timeout`
    /// passes. Returns whether they are.
    pub fn wait_for_players(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut players = self.players.lock().unwrap();
        while players.list.len() != count {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            players = self
                .players_changed
                .wait_timeout(players, deadline - now)
                .unwrap()
                .0;
        }
        true
    }

    /// The room's counters now: its own, plus the send-path counters of
    /// every session, present and departed.
    pub fn stats(&self) -> RoomStats {
        let (list, departed) = {
            let players = self.players.lock().unwrap();
            (Arc::clone(&players.list), players.departed)
        };
        let refused = self.refused.load(Relaxed);
        let attempts = self.attempts.load(Relaxed).max(refused);
        let mut sum = departed;
        for session in list.iter() {
            add_stats(&mut sum, &session.stats());
        }
        RoomStats {
            lesson: self.lesson,
            players: list.len() as u32,
            updates: self.updates.load(Relaxed),
            deliveries: attempts - refused,
            refused,
            write_calls: sum.write_calls,
            bytes_written: sum.bytes_written,
            wakeups: sum.wakeups,
            batches: sum.batches,
        }
    }

    // ANCHOR: join_leave
    /// A player joins: a new list with the session added (copy-on-write).
    fn join(&self, session: &Arc<Session>) {
        let mut players = self.players.lock().unwrap();
        if players.closed {
            drop(players);
            session.disconnect(); // the room is shutting down
            return;
        }
        let mut list = Vec::with_capacity(players.list.len() + 1);
        list.extend(players.list.iter().cloned());
        list.push(Arc::clone(session));
        players.list = Arc::new(list);
        drop(players);
        self.players_changed.notify_all();
    }

    /// A player leaves: a new list without it; its counters go to `departed`.
    fn leave(&self, session: &Arc<Session>) {
        let mut players = self.players.lock().unwrap();
        if !players.list.iter().any(|p| Arc::ptr_eq(p, session)) {
            return; // never joined (the room was closing)
        }
        let list: Vec<_> = players
            .list
            .iter()
            .filter(|p| !Arc::ptr_eq(p, session))
            .cloned()
            .collect();
        players.list = Arc::new(list);
        // Its send path is finished (disconnect joined the writer): final counts.
        add_stats(&mut players.departed, &session.stats());
        drop(players);
        self.players_changed.notify_all();
    }
    // ANCHOR_END: join_leave

    // ANCHOR: broadcast
    /// Sends `packet` to every player in the room, the sender included.
    fn broadcast(&self, packet: &Packet) {
        // Under the room lock: one reference-count bump, nothing else.
        let players = Arc::clone(&self.players.lock().unwrap().list);
        // Counted before the sends: once a player holds the last broadcast
        // and asks for STATS, the count must already include it.
        self.attempts.fetch_add(players.len() as u64, Relaxed);
        // No lock held from here on: with lessons 01/02 each `send` below is
        // a blocking write system call.
        for player in players.iter() {
            // Serialize once: `clone` shares the same bytes, it copies nothing.
            if player.send(packet.clone()).is_err() {
                // It left; its on_disconnected removes it from the list.
                self.refused.fetch_add(1, Relaxed);
            }
        }
    }
    // ANCHOR_END: broadcast

    /// Disconnects every player and refuses new ones; waits for every
    /// player's reader thread to finish.
    pub fn close(&self) {
        let list = {
            let mut players = self.players.lock().unwrap();
            players.closed = true;
            Arc::clone(&players.list)
        };
        for session in list.iter() {
            session.disconnect();
        }
        for session in list.iter() {
            session.join(); // its on_disconnected has removed it
        }
    }
}

// ANCHOR: handler
impl Handler for Room {
    fn on_connected(&self, session: &Arc<Session>) {
        self.join(session);
    }

    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        match decode(&packet) {
            Some(Message::Position(_)) => {
                self.updates.fetch_add(1, Relaxed);
                // The bytes that arrived are the bytes every player gets.
                self.broadcast(&packet);
            }
            Some(Message::StatsRequest) => {
                let _ = session.send(self.stats().encode());
            }
            Some(Message::Stats(_)) | None => {
                log::info!("{}: not a room packet: disconnecting", session.peer_addr());
                session.disconnect();
            }
        }
    }

    fn on_disconnected(&self, session: &Arc<Session>, _reason: &DisconnectReason) {
        self.leave(session);
    }
}
// ANCHOR_END: handler

/// Adds `more` to `sum`, counter by counter (`max_batch` takes the larger).
fn add_stats(sum: &mut StatsSnapshot, more: &StatsSnapshot) {
    sum.sends += more.sends;
    sum.write_calls += more.write_calls;
    sum.bytes_written += more.bytes_written;
    sum.wakeups += more.wakeups;
    sum.batches += more.batches;
    sum.max_batch = sum.max_batch.max(more.max_batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_round_trips_and_is_27_bytes() {
        let update = PositionUpdate {
            player: 7,
            seq: 42,
            x: 1.5,
            y: -2.25,
            sent_at_ns: 123_456_789,
        };
        let packet = update.encode();
        assert_eq!(packet.len(), 27);
        assert_eq!(packet.as_bytes(), &update.to_frame()[..]);
        assert_eq!(decode(&packet), Some(Message::Position(update)));
    }

    #[test]
    fn stats_round_trip_and_request() {
        let stats = RoomStats {
            lesson: 4,
            players: 3,
            updates: 1,
            deliveries: 2,
            refused: 3,
            write_calls: 4,
            bytes_written: 5,
            wakeups: 6,
            batches: 7,
        };
        assert_eq!(stats.encode().len(), 64);
        assert_eq!(decode(&stats.encode()), Some(Message::Stats(stats)));
        assert_eq!(decode(&stats_request()), Some(Message::StatsRequest));
    }

    #[test]
    fn unknown_type_and_wrong_length_are_refused() {
        assert_eq!(decode(&Packet::from_payload(&[9]).unwrap()), None);
        assert_eq!(
            decode(&Packet::from_payload(&[POSITION, 0, 0]).unwrap()),
            None
        );
        assert_eq!(
            decode(&Packet::from_payload(&[STATS_REQUEST, 0]).unwrap()),
            None
        );
        assert_eq!(decode(&Packet::from_payload(&[]).unwrap()), None);
    }

    #[test]
    fn a_cloned_packet_shares_its_bytes() {
        // What "serialize once" rests on: a clone is the same memory.
        let packet = PositionUpdate {
            player: 1,
            seq: 2,
            x: 0.0,
            y: 0.0,
            sent_at_ns: 3,
        }
        .encode();
        let copies: Vec<Packet> = (0..1000).map(|_| packet.clone()).collect();
        assert!(
            copies
                .iter()
                .all(|c| c.as_bytes().as_ptr() == packet.as_bytes().as_ptr())
        );
    }
}
