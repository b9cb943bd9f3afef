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
//! The room's counters reach the bots in-band (the STATS packet of the
//! room's [`protocol`](crate::lessons::lesson12_room::protocol)), so the room process
//! needs no shutdown hook and one room can serve several runs in a row. It
//! assumes the bots are alone in the room during a run.

//!
//! The parts, by job: [`drive`] connects, paces and collects (steps 1–5);
//! [`verify`] checks what one player receives; [`report`] is what a run
//! measured, and its table, JSON and CSV.

use std::net::SocketAddr;
use std::time::Duration;

use crate::net::SocketOptions;

pub mod drive;
pub mod report;
pub mod verify;

pub use drive::run;
pub use report::{BotsFormat, BotsReport, BotsRow, LatencyHistogram, csv, json, keys, table};
pub use verify::BroadcastVerifier;

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
