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
//! lesson's, chosen with [`Lesson`](crate::Lesson) (one [`Session`] per player). Every
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
//!   blocks and its queue grows, up to the queue limit the sessions were
//!   started with (lesson 10; `servercore room` evicts the player there),
//!   and everyone else is served at full speed (`tests/lesson12_room.rs`
//!   checks this for lesson 04, `tests/server.rs` the eviction).
//!
//! A dead player (reset connection) fails its write, its session disconnects
//! and leaves the room; the others never notice.
//!
//! ## The room's wire format
//!
//! In [`protocol`]: every packet is a normal framed [`Packet`] whose body
//! starts with a type byte — POSITION (client → room → every player),
//! STATS_REQUEST and its STATS reply (the room's counters, which a client
//! asks for before and after a run and subtracts).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::packet::Packet;
use crate::session::{DisconnectReason, Handler, Session};
use crate::stats::StatsSnapshot;

pub mod protocol;
pub use protocol::{
    Message, POSITION, PositionUpdate, RoomStats, STATS, STATS_REQUEST, decode, stats_request,
};
// std, not `crate::sync`: the room is not part of the loom model of the hand-off.
use std::sync::{Arc, Condvar, Mutex};

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
        let players = self.players.lock().unwrap();
        let (_players, waited) = self
            .players_changed
            .wait_timeout_while(players, timeout, |p| p.list.len() != count)
            .unwrap();
        !waited.timed_out()
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
            sum += session.stats();
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
        players.departed += session.stats();
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn waiting_for_players_times_out() {
        let room = Room::new(4);
        assert!(room.wait_for_players(0, Duration::ZERO));
        assert!(!room.wait_for_players(1, Duration::from_millis(20)));
    }
}
