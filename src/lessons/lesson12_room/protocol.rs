//! The room's wire format: the packets a player and the room exchange,
//! and their codec. The room ([`super`]) and the bots
//! ([`crate::bots`]) both speak it through this module.
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

use crate::packet::Packet;

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
}
