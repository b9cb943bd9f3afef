//! Packets and framing: ServerCore's `PacketSession` wire format.
//!
//! Every packet starts with a little-endian `u16` that holds the packet's
//! **total** size, the 2-byte header included, then the body:
//!
//! ```text
//! +--------+--------+---------------------------+
//! | size (u16, LE)  | body: size - 2 bytes      |
//! +--------+--------+---------------------------+
//! ```
//!
//! So a packet is at most 65,535 bytes and a body at most 65,533. A declared
//! size below 2 can never be a packet: the C# original spins forever on a
//! size of 0; here it is [`FrameError::TooSmall`] and the session closes.
//!
//! * [`Packet`] is one framed packet: immutable, cheap to clone (a reference
//!   count, no copy), so one serialized packet can be queued on many sessions.
//! * [`RecvBuffer`] is the reader's side: it reassembles packets that arrive
//!   split across reads (the header split too) and hands out whole frames.

use std::fmt;
use std::io::{self, Read};

use bytes::Bytes;

/// Size of the header: a little-endian `u16` holding the total packet size.
pub const HEADER_LEN: usize = 2;

/// The largest packet the wire format can describe (`u16::MAX`), header included.
pub const MAX_PACKET_LEN: usize = u16::MAX as usize;

/// The largest body a packet can carry: [`MAX_PACKET_LEN`] minus the header.
pub const MAX_PAYLOAD_LEN: usize = MAX_PACKET_LEN - HEADER_LEN;

/// One framed packet: header and body, immutable and cheap to clone.
///
/// Cloning a `Packet` copies a pointer and bumps a reference count; the bytes
/// are shared. This is what lets the broadcast room serialize an update once
/// and queue the same bytes on every session (the C# course's `ArraySegment`
/// over a shared `SendBuffer` chunk).
///
/// ```
/// use servercore::Packet;
/// let p = Packet::from_payload(b"hello").unwrap();
/// assert_eq!(p.len(), 7);                 // 2-byte header + 5-byte body
/// assert_eq!(&p.as_bytes()[..2], &[7, 0]); // little-endian total size
/// assert_eq!(p.payload(), b"hello");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// The whole frame; invariant: starts with a header whose size equals `bytes.len()`.
    bytes: Bytes,
}

impl Packet {
    /// Frames `payload`: allocates `payload.len() + 2` bytes and copies it in.
    ///
    /// Fails when the framed packet would exceed [`MAX_PACKET_LEN`].
    pub fn from_payload(payload: &[u8]) -> Result<Packet, PayloadTooLarge> {
        let total = payload.len() + HEADER_LEN;
        if total > MAX_PACKET_LEN {
            return Err(PayloadTooLarge { len: payload.len() });
        }
        let mut frame = Vec::with_capacity(total);
        frame.extend_from_slice(&(total as u16).to_le_bytes());
        frame.extend_from_slice(payload);
        Ok(Packet {
            bytes: Bytes::from(frame),
        })
    }

    /// Wraps bytes that already hold exactly one frame (for instance a slice
    /// of a larger send buffer), checking that the header matches the length.
    pub fn from_frame(bytes: Bytes) -> Result<Packet, FrameError> {
        match declared_size(&bytes) {
            Some(size) if size < HEADER_LEN => Err(FrameError::TooSmall { size }),
            Some(size) if size == bytes.len() => Ok(Packet { bytes }),
            _ => Err(FrameError::LengthMismatch {
                declared: declared_size(&bytes),
                actual: bytes.len(),
            }),
        }
    }

    /// The whole frame, header included: what goes on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The body, without the 2-byte header.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// Total size on the wire, header included (never less than 2).
    #[allow(clippy::len_without_is_empty)] // a packet always has its header
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The shared bytes behind this packet (cheap: no copy).
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

impl AsRef<[u8]> for Packet {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The size a frame's header declares, or `None` if fewer than 2 bytes are given.
pub fn declared_size(buf: &[u8]) -> Option<usize> {
    match buf {
        [lo, hi, ..] => Some(u16::from_le_bytes([*lo, *hi]) as usize),
        _ => None,
    }
}

/// A payload too large to fit one packet (more than [`MAX_PAYLOAD_LEN`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadTooLarge {
    /// The payload's length.
    pub len: usize,
}

impl fmt::Display for PayloadTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "payload of {} bytes does not fit one packet (at most {MAX_PAYLOAD_LEN})",
            self.len
        )
    }
}

impl std::error::Error for PayloadTooLarge {}

/// Bad input on the wire: the peer declared a size no packet can have.
///
/// A *partial* packet is not an error: [`RecvBuffer::next_frame`] returns
/// `Ok(None)` and waits for more bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The header declares fewer than 2 bytes: not even the header fits.
    /// (ServerCore's C# parser loops forever on a size of 0.)
    TooSmall {
        /// The declared size (0 or 1).
        size: usize,
    },
    /// The header declares more than this receiver accepts.
    TooLarge {
        /// The declared size.
        size: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// [`Packet::from_frame`] was given bytes whose header does not match their length.
    LengthMismatch {
        /// What the header says (`None` if there is no complete header).
        declared: Option<usize>,
        /// How many bytes were given.
        actual: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooSmall { size } => {
                write!(f, "declared packet size {size} is below the 2-byte header")
            }
            FrameError::TooLarge { size, max } => write!(
                f,
                "declared packet size {size} is over the limit of {max} bytes"
            ),
            FrameError::LengthMismatch { declared, actual } => write!(
                f,
                "frame header declares {declared:?} bytes but {actual} were given"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The receive buffer: bytes read from the socket, and a cursor over the
/// packets in them (the C# course's `RecvBuffer`, with its read and write
/// cursors).
///
/// ```text
///  0          read            write                 capacity
///  |  consumed  | unread bytes  |  free: the next read lands here |
/// ```
///
/// [`read_from`](RecvBuffer::read_from) appends at `write`;
/// [`next_frame`](RecvBuffer::next_frame) hands out whole frames from `read`.
/// When the free tail gets short, the unread bytes move to the front
/// (compaction). The buffer always has room for one packet of the largest
/// accepted size, so a packet never needs more space than there is.
#[derive(Debug)]
pub struct RecvBuffer {
    /// Backing storage; its length is the capacity (never reallocated).
    buf: Box<[u8]>,
    /// Start of the unread bytes; invariant: `read <= write`.
    read: usize,
    /// End of the unread bytes; invariant: `write <= buf.len()`.
    write: usize,
    /// Largest declared size accepted; at least 2, at most [`MAX_PACKET_LEN`].
    max_packet: usize,
}

impl RecvBuffer {
    /// A buffer that accepts packets of up to `max_packet` bytes (clamped to
    /// 2..=[`MAX_PACKET_LEN`]); larger declared sizes are [`FrameError::TooLarge`].
    pub fn new(max_packet: usize) -> RecvBuffer {
        let max_packet = max_packet.clamp(HEADER_LEN, MAX_PACKET_LEN);
        // Room for one largest packet plus plenty for many small ones per read.
        let capacity = (2 * max_packet).max(64 * 1024);
        RecvBuffer {
            buf: vec![0; capacity].into_boxed_slice(),
            read: 0,
            write: 0,
            max_packet,
        }
    }

    /// The largest declared size this buffer accepts.
    pub fn max_packet(&self) -> usize {
        self.max_packet
    }

    /// The size the header of the partial packet declares, if its header
    /// has arrived (for reporting a packet truncated by end of stream).
    pub fn declared_size(&self) -> Option<usize> {
        declared_size(&self.buf[self.read..self.write])
    }

    /// Bytes received but not yet handed out: the start of a partial packet.
    /// Non-zero at end of stream means the peer cut a packet short.
    pub fn unread(&self) -> usize {
        self.write - self.read
    }

    /// Reads once from `source` into the free space, compacting first if the
    /// free tail is short. Returns the number of bytes read; `Ok(0)` is end
    /// of stream. `Interrupted` is retried here.
    pub fn read_from<R: Read + ?Sized>(&mut self, source: &mut R) -> io::Result<usize> {
        self.make_room();
        loop {
            match source.read(&mut self.buf[self.write..]) {
                Ok(n) => {
                    self.write += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies bytes in as if they had been read (for tests and the fuzzer).
    /// Returns how many fit.
    pub fn push(&mut self, mut bytes: &[u8]) -> usize {
        self.make_room();
        let n = bytes.len().min(self.buf.len() - self.write);
        bytes = &bytes[..n];
        self.buf[self.write..self.write + n].copy_from_slice(bytes);
        self.write += n;
        n
    }

    // ANCHOR: next_frame
    /// The next whole frame (header included), or `Ok(None)` if the unread
    /// bytes hold only part of one: a partial packet is normal, not an error.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let unread = &self.buf[self.read..self.write];
        let Some(size) = declared_size(unread) else {
            return Ok(None); // not even a whole header yet
        };
        if size < HEADER_LEN {
            return Err(FrameError::TooSmall { size });
        }
        if size > self.max_packet {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_packet,
            });
        }
        if unread.len() < size {
            return Ok(None); // the body is still on its way
        }
        let start = self.read;
        self.read += size;
        Ok(Some(&self.buf[start..start + size]))
    }
    // ANCHOR_END: next_frame

    /// The next whole packet, copied out of the buffer into its own [`Packet`].
    pub fn next_packet(&mut self) -> Result<Option<Packet>, FrameError> {
        Ok(self.next_frame()?.map(|frame| Packet {
            bytes: Bytes::copy_from_slice(frame),
        }))
    }

    /// Makes sure at least one largest packet fits after `write`.
    fn make_room(&mut self) {
        if self.read == self.write {
            // Everything consumed: start over at the front for free.
            self.read = 0;
            self.write = 0;
        } else if self.buf.len() - self.write < self.max_packet {
            // Compaction: move the partial packet to the front.
            self.buf.copy_within(self.read..self.write, 0);
            self.write -= self.read;
            self.read = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(buf: &mut RecvBuffer) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(frame) = buf.next_frame()? {
            out.push(frame.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn header_split_across_reads_is_reassembled() {
        let p = Packet::from_payload(b"abc").unwrap();
        let mut buf = RecvBuffer::new(MAX_PACKET_LEN);
        buf.push(&p.as_bytes()[..1]);
        assert_eq!(frames_of(&mut buf).unwrap().len(), 0);
        buf.push(&p.as_bytes()[1..3]);
        assert_eq!(frames_of(&mut buf).unwrap().len(), 0);
        buf.push(&p.as_bytes()[3..]);
        assert_eq!(frames_of(&mut buf).unwrap(), vec![p.as_bytes().to_vec()]);
        assert_eq!(buf.unread(), 0);
    }

    #[test]
    fn size_zero_and_one_are_errors_not_hangs() {
        for size in [0u16, 1] {
            let mut buf = RecvBuffer::new(MAX_PACKET_LEN);
            buf.push(&size.to_le_bytes());
            assert_eq!(
                buf.next_frame(),
                Err(FrameError::TooSmall {
                    size: size as usize
                })
            );
        }
    }

    #[test]
    fn size_over_the_limit_is_an_error() {
        let mut buf = RecvBuffer::new(100);
        buf.push(&101u16.to_le_bytes());
        assert_eq!(
            buf.next_frame(),
            Err(FrameError::TooLarge {
                size: 101,
                max: 100
            })
        );
    }

    #[test]
    fn largest_packets_survive_compaction() {
        let big = Packet::from_payload(&vec![7; MAX_PAYLOAD_LEN]).unwrap();
        let mut stream = Vec::new();
        for _ in 0..5 {
            stream.extend_from_slice(big.as_bytes());
        }
        let mut buf = RecvBuffer::new(MAX_PACKET_LEN);
        let mut seen = 0;
        for piece in stream.chunks(40_000) {
            let mut rest = piece;
            while !rest.is_empty() {
                let n = buf.push(rest);
                rest = &rest[n..];
                seen += frames_of(&mut buf).unwrap().len();
            }
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn oversized_payload_is_refused() {
        assert!(Packet::from_payload(&vec![0; MAX_PAYLOAD_LEN]).is_ok());
        assert_eq!(
            Packet::from_payload(&vec![0; MAX_PAYLOAD_LEN + 1]),
            Err(PayloadTooLarge {
                len: MAX_PAYLOAD_LEN + 1
            })
        );
    }

    #[test]
    fn from_frame_checks_the_header() {
        let p = Packet::from_payload(b"xy").unwrap();
        assert_eq!(Packet::from_frame(p.clone().into_bytes()), Ok(p));
        assert!(Packet::from_frame(Bytes::from_static(&[5, 0, 1])).is_err());
        assert!(Packet::from_frame(Bytes::from_static(&[0, 0])).is_err());
    }
}
