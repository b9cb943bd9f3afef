//! Lesson 09 — framing and bad input: the size header, and what a liar can do with it.
//!
//! **The problem.** TCP is a byte stream: one `read` may return half a
//! packet, three packets, or two and a half. ServerCore frames packets with
//! a `u16` size header (the packet's total size, header included) and
//! reassembles them in a receive buffer. The C# `PacketSession` trusts that
//! header: a peer that declares a size of 0 makes its parse loop add 0 to
//! its cursor forever — one connection pins a core and never reads again.
//! Nor is there a maximum: any size up to 65,535 is waited for.
//!
//! **The change.** The decoder is [`RecvBuffer`] (in [`crate::packet`]): it
//! reads into the free tail, hands out whole frames from the front, and
//! compacts. Its [`next_frame`](RecvBuffer::next_frame) checks every
//! header before waiting for a body: below 2 is
//! [`FrameError::TooSmall`], over the session's limit is
//! [`FrameError::TooLarge`]. The session's read loop
//! (`session.rs`, `read_packets`) ends *that* session with a clear error
//! naming the peer and the size; every other session goes on. End of
//! stream inside a header or a body is reported as a truncated packet
//! ([`DisconnectReason::Truncated`](crate::session::DisconnectReason::Truncated)),
//! not as garbage, and a handler that panics ends only its own session.
//!
//! **This module** holds the contrast: the C# parse loop, retold in Rust
//! ([`csharp_parse`]), with a pass limit so that a test can show the spin
//! without hanging.
//!
//! **What the tests show** (`tests/lesson09_framing.rs`): sizes 0 and 1, a
//! size over the limit, random bytes, a truncated header and body, a reset
//! mid-batch, a client that never reads and connection churn each end only
//! their own session while a good client on the same server gets every
//! echo; property tests cut arbitrary streams at arbitrary points and the
//! decoder never panics and never loses or invents a byte; a cargo-fuzz
//! target (`fuzz/`) hammers the same decoder.

pub use crate::packet::{FrameError, HEADER_LEN, RecvBuffer};

/// What the C# parse loop did with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsharpParse {
    /// It stopped, having consumed this many bytes (whole packets only).
    Consumed {
        /// Bytes consumed.
        bytes: usize,
        /// Packets handed to `OnRecvPacket`.
        packets: usize,
    },
    /// It was still looping after the pass limit without moving its cursor:
    /// in C#, forever.
    Spinning {
        /// Where its cursor was stuck.
        at: usize,
        /// "Packets" of size 0 it had handed out by then.
        packets: usize,
    },
}

// ANCHOR: csharp_parse
/// The C# `PacketSession.OnRecv` loop, retold: while a header fits and the
/// whole packet it declares has arrived, hand the packet out and advance.
/// No check on the size. The real loop has no `max_passes`; it is here so a
/// test can stop it.
pub fn csharp_parse(buffer: &[u8], max_passes: usize) -> CsharpParse {
    let mut processed = 0;
    let mut packets = 0;
    for _ in 0..max_passes {
        // At least a header?
        if buffer.len() - processed < HEADER_LEN {
            return CsharpParse::Consumed {
                bytes: processed,
                packets,
            };
        }
        let data_size = usize::from(u16::from_le_bytes([
            buffer[processed],
            buffer[processed + 1],
        ]));
        // The whole packet?
        if buffer.len() - processed < data_size {
            return CsharpParse::Consumed {
                bytes: processed,
                packets,
            };
        }
        packets += 1; // OnRecvPacket(buffer[processed .. processed + data_size])
        processed += data_size; // a size of 0 adds nothing: the same header again, forever
    }
    CsharpParse::Spinning {
        at: processed,
        packets,
    }
}
// ANCHOR_END: csharp_parse

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_packets_are_consumed() {
        let stream = [4, 0, b'h', b'i', 3, 0, b'!', 9];
        assert_eq!(
            csharp_parse(&stream, 1000),
            CsharpParse::Consumed {
                bytes: 7,
                packets: 2
            }
        );
    }

    #[test]
    fn a_size_of_zero_spins() {
        assert_eq!(
            csharp_parse(&[0, 0], 1000),
            CsharpParse::Spinning {
                at: 0,
                packets: 1000
            }
        );
    }
}
