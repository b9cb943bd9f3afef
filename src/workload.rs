//! The test traffic: packets that say who sent them and in what order, and
//! the receiver that checks every one.
//!
//! A payload starts with the sender's id (`u16`, little-endian) and its
//! sequence number (`u32`), then filler bytes that all hold one value
//! derived from both. So the receiver can check, for every packet, that it
//! is whole, that nothing from that sender was lost or reordered, and that
//! no other packet's bytes landed inside it.

use std::fmt;
use std::io::{self, Read};
use std::time::Instant;

use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, Packet, RecvBuffer};

/// The shortest payload that can carry a sender id and a sequence number.
pub const MIN_PAYLOAD: usize = 6;

/// The filler byte of packet `seq` from `sender`.
fn filler(sender: u16, seq: u32) -> u8 {
    (seq.wrapping_mul(31) ^ u32::from(sender).wrapping_mul(7)) as u8
}

/// Writes the payload of packet `seq` from `sender` into `buf` (its whole
/// length is used; at least [`MIN_PAYLOAD`] bytes).
pub fn fill_payload(buf: &mut [u8], sender: u16, seq: u32) {
    assert!(
        buf.len() >= MIN_PAYLOAD,
        "payload shorter than {MIN_PAYLOAD} bytes"
    );
    buf[..2].copy_from_slice(&sender.to_le_bytes());
    buf[2..6].copy_from_slice(&seq.to_le_bytes());
    buf[6..].fill(filler(sender, seq));
}

/// Packet `seq` from `sender` with a payload of `payload` bytes.
pub fn make_packet(sender: u16, seq: u32, payload: usize) -> Packet {
    let mut buf = vec![0; payload];
    fill_payload(&mut buf, sender, seq);
    Packet::from_payload(&buf).expect("payload within the packet limit")
}

/// Checks a stream of test packets from `senders` senders, `payload` bytes each.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Expected payload length of every packet.
    payload: usize,
    /// The next sequence number expected from each sender.
    next_seq: Vec<u32>,
    /// Packets that passed every check.
    received: u64,
    /// The first thing found wrong, if any.
    problem: Option<String>,
}

impl Verifier {
    /// A verifier expecting packets from senders `0..senders`.
    pub fn new(senders: usize, payload: usize) -> Verifier {
        Verifier {
            payload,
            next_seq: vec![0; senders],
            received: 0,
            problem: None,
        }
    }

    /// Checks one whole frame (header included). Returns false, and records
    /// why, at the first bad packet; after that every frame is refused.
    pub fn check(&mut self, frame: &[u8]) -> bool {
        if self.problem.is_some() {
            return false;
        }
        match self.diagnose(frame) {
            None => {
                self.received += 1;
                true
            }
            Some(problem) => {
                self.problem = Some(format!("packet #{}: {problem}", self.received + 1));
                false
            }
        }
    }

    fn diagnose(&mut self, frame: &[u8]) -> Option<String> {
        let body = &frame[HEADER_LEN..];
        if body.len() != self.payload {
            return Some(format!(
                "{} byte payload, expected {}",
                body.len(),
                self.payload
            ));
        }
        let sender = u16::from_le_bytes([body[0], body[1]]);
        let seq = u32::from_le_bytes([body[2], body[3], body[4], body[5]]);
        let Some(next) = self.next_seq.get_mut(usize::from(sender)) else {
            return Some(format!("unknown sender {sender}"));
        };
        if seq != *next {
            return Some(format!("sender {sender}: seq {seq}, expected {next}"));
        }
        let fill = filler(sender, seq);
        if body[MIN_PAYLOAD..].iter().any(|&b| b != fill) {
            return Some(format!(
                "sender {sender} seq {seq}: foreign bytes inside the packet"
            ));
        }
        *next += 1;
        None
    }

    /// Packets that passed every check.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The first problem found, if any.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// How many packets each sender got through, in order.
    pub fn per_sender(&self) -> &[u32] {
        &self.next_seq
    }
}

/// What a receiver saw, start to end of stream.
#[derive(Debug, Clone)]
pub struct Received {
    /// Packets that passed every check, in order.
    pub packets: u64,
    /// Bytes read from the socket.
    pub bytes: u64,
    /// When the last good packet arrived (or the stream ended).
    pub finished: Instant,
    /// Why the stream is not a clean sequence of good packets, if it is not.
    pub problem: Option<String>,
}

impl Received {
    /// True when every packet checked out and nothing was left over.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} packets, {} bytes", self.packets, self.bytes)?;
        if let Some(problem) = &self.problem {
            write!(f, ", NOT verified: {problem}")?;
        }
        Ok(())
    }
}

/// Reads `source` to its end (set a read timeout on sockets so a hang is an
/// error), checking every packet with `verifier`. Stops early at the first
/// bad frame; `expected` packets mark the finish time.
pub fn receive<R: Read>(
    mut source: R,
    mut verifier: Verifier,
    expected: u64,
) -> io::Result<Received> {
    let mut buffer = RecvBuffer::new(MAX_PACKET_LEN);
    let mut bytes = 0u64;
    let mut finished = None;
    let problem = 'reading: loop {
        let n = match buffer.read_from(&mut source) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break Some(format!("timed out after {} packets", verifier.received()));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break if buffer.unread() > 0 {
                Some(format!(
                    "stream ended inside a packet ({} bytes left)",
                    buffer.unread()
                ))
            } else {
                None
            };
        }
        bytes += n as u64;
        loop {
            match buffer.next_frame() {
                Ok(Some(frame)) => {
                    if !verifier.check(frame) {
                        break 'reading verifier.problem().map(str::to_owned);
                    }
                    if verifier.received() == expected {
                        finished = Some(Instant::now());
                    }
                }
                Ok(None) => break,
                Err(e) => break 'reading Some(format!("framing lost: {e}")),
            }
        }
    };
    let problem = problem.or_else(|| {
        (verifier.received() != expected).then(|| {
            format!(
                "{} packets arrived, {expected} expected",
                verifier.received()
            )
        })
    });
    Ok(Received {
        packets: verifier.received(),
        bytes,
        finished: finished.unwrap_or_else(Instant::now),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_accepts_in_order_and_refuses_reordering() {
        let mut v = Verifier::new(2, 32);
        assert!(v.check(make_packet(0, 0, 32).as_bytes()));
        assert!(v.check(make_packet(1, 0, 32).as_bytes()));
        assert!(v.check(make_packet(0, 1, 32).as_bytes()));
        assert!(!v.check(make_packet(1, 2, 32).as_bytes()));
        assert_eq!(v.received(), 3);
        assert!(v.problem().unwrap().contains("expected 1"));
    }

    #[test]
    fn verifier_finds_foreign_bytes() {
        let p = make_packet(0, 0, 64);
        let mut frame = p.as_bytes().to_vec();
        frame[40] ^= 1;
        let mut v = Verifier::new(1, 64);
        assert!(!v.check(&frame));
    }

    #[test]
    fn receive_reports_a_short_stream() {
        let mut stream = Vec::new();
        for seq in 0..3 {
            stream.extend_from_slice(make_packet(0, seq, 8).as_bytes());
        }
        let got = receive(&stream[..], Verifier::new(1, 8), 3).unwrap();
        assert!(got.ok(), "{got}");
        let got = receive(&stream[..stream.len() - 1], Verifier::new(1, 8), 3).unwrap();
        assert!(!got.ok());
        assert_eq!(got.packets, 2);
    }
}
