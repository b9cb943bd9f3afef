//! Lesson 09 — framing and bad input: the size header, and what a liar can do with it.
//!
//! **The problem.** TCP is a byte stream: one `read` may return half a
//! packet, three packets, or two and a half. ServerCore frames packets with
//! a `u16` size header (the packet's total size, header included) and
//! reassembles them in a receive buffer. The C# `PacketSession` trusts that
//! header. A peer that declares a size of 0 makes its parse loop add 0 to
//! its cursor forever: one connection pins a core and never reads again. A
//! size of 1 moves the cursor one byte, onto the lying header's second
//! byte: from then on every "size" the loop reads is two bytes out of the
//! middle of something else, and the session is desynchronized for good.
//! Nor is there a maximum: any size up to 65,535 is waited for.
//!
//! **The change.** The decoder is not in this module: it is
//! [`RecvBuffer`](crate::packet::RecvBuffer) in [`crate::packet`], the
//! plumbing every lesson's session reads with. Its
//! [`next_frame`](crate::packet::RecvBuffer::next_frame) checks every header
//! before waiting for a body: below 2 is
//! [`FrameError::TooSmall`](crate::packet::FrameError::TooSmall), over the
//! session's limit is
//! [`FrameError::TooLarge`](crate::packet::FrameError::TooLarge). The
//! session's read loop (`session.rs`, `read_packets`) ends *that* session
//! with a clear error naming the peer and the size; every other session
//! goes on. End of stream inside a header or a body is reported as a
//! truncated packet
//! ([`DisconnectReason::Truncated`](crate::session::DisconnectReason::Truncated)),
//! not as garbage, and a handler that panics ends only its own session.
//!
//! **This module** holds the contrast: the C# parse loop, retold in Rust
//! ([`csharp_parse`]), with a pass limit so that a test can show the spin
//! without hanging, and a record of every "packet" it hands out so that a
//! test can show the desync.
//!
//! **What the tests show** (`tests/lesson09_framing.rs`): the C# loop spins
//! on a size of 0 and desyncs on a size of 1, where the decoder refuses
//! both; sizes 0 and 1, a size over the limit, random bytes, a truncated
//! header and body, a reset mid-batch, a client that never reads and
//! connection churn each end only their own session while a good client on
//! the same server gets every echo; property tests cut arbitrary streams at
//! arbitrary points and the decoder never panics and never loses or invents
//! a byte; a cargo-fuzz target (`fuzz/`) hammers the same decoder.

use crate::packet::HEADER_LEN;

/// One "packet" the C# loop handed to `OnRecvPacket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Where it starts in the buffer.
    pub at: usize,
    /// The size its header declared: the bytes handed out, header included.
    pub size: usize,
}

/// What the C# parse loop did with one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsharpParse {
    /// Every "packet" handed to `OnRecvPacket`, in order.
    pub frames: Vec<Frame>,
    /// `processLen`, what `OnRecv` returns: the bytes consumed. The session
    /// moves its read cursor by this much, and the next call starts there.
    pub consumed: usize,
    /// True when the pass limit ran out before the loop returned. With a
    /// size of 0 the C# loop never returns.
    pub spinning: bool,
}

/// The C# `PacketSession.OnRecv` loop, retold: while a header fits and the
/// whole packet it declares has arrived, hand the packet out and advance by
/// the declared size. No check on the size. The C# loop is `while (true)`;
/// `max_passes` is here so a test can stop it.
// ANCHOR: csharp_parse
pub fn csharp_parse(buffer: &[u8], max_passes: usize) -> CsharpParse {
    let mut process_len = 0;
    let mut frames = Vec::new();
    let mut passes = 0;
    let spinning = loop {
        if passes == max_passes {
            break true;
        }
        passes += 1;
        let rest = &buffer[process_len..];
        // At least a header?
        if rest.len() < HEADER_LEN {
            break false;
        }
        let data_size = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        // The whole packet?
        if rest.len() < data_size {
            break false;
        }
        // OnRecvPacket(buffer[process_len .. process_len + data_size])
        frames.push(Frame {
            at: process_len,
            size: data_size,
        });
        // A size of 0 adds nothing: the same header again, forever.
        // A size of 1 lands on the lying header's second byte.
        process_len += data_size;
    };
    CsharpParse {
        frames,
        consumed: process_len,
        spinning,
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
            CsharpParse {
                frames: vec![Frame { at: 0, size: 4 }, Frame { at: 4, size: 3 }],
                consumed: 7,
                spinning: false,
            }
        );
    }

    #[test]
    fn a_size_of_zero_spins() {
        let parse = csharp_parse(&[0, 0], 1000);
        assert!(parse.spinning);
        assert_eq!(parse.consumed, 0);
        assert_eq!(parse.frames, vec![Frame { at: 0, size: 0 }; 1000]);
    }

    #[test]
    fn a_size_of_one_moves_one_byte() {
        // [1, 0] then a header [3, 0]: the second size read is [0, 3] = 768.
        let parse = csharp_parse(&[1, 0, 3, 0, b'!'], 1000);
        assert_eq!(parse.frames, vec![Frame { at: 0, size: 1 }]);
        assert_eq!(parse.consumed, 1);
        assert!(!parse.spinning);
    }
}
