//! The send-path contract: the one API every lesson's send path implements.
//!
//! This module sits below the lessons, as `crossbeam-channel` keeps its
//! errors at the bottom of the crate: the lessons implement [`SendPath`],
//! and the session, the contract tests, `servercore compare`, the servers
//! and the benchmarks use them only through it. It knows no lesson.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::packet::Packet;
use crate::stats::StatsSnapshot;
use crate::wire::Wire;

// ANCHOR: send_path
/// The one send-path API every lesson implements.
///
/// The contract tests, `servercore compare` and the benchmarks use lessons
/// only through this trait, so every lesson is measured the same way.
pub trait SendPath: Send + Sync {
    /// Sends one packet, or queues it for the writer. Packets sent from one
    /// thread reach the peer in the order they were sent (lesson 01 aside:
    /// there, bytes of concurrent sends may interleave).
    ///
    /// After [`close`](SendPath::close) or [`abort`](SendPath::abort), or
    /// once a write has failed, the packet is given back in the error.
    fn send(&self, packet: Packet) -> Result<(), SendError>;

    /// Graceful close: everything accepted before is written, then the write
    /// half is shut down (the peer reads end-of-stream) and the writer
    /// thread, if any, is joined. Idempotent. Blocks until done.
    fn close(&self);

    /// Abort: drops what is queued and stops the writer as soon as its
    /// current write returns. Returns how many queued packets were dropped.
    /// Idempotent. The session shuts the socket down before it aborts, so a
    /// write blocked on a peer that does not read returns at once.
    fn abort(&self) -> usize;

    /// The counters as they are now.
    fn stats(&self) -> StatsSnapshot;

    /// Sends a packet whose `payload_len`-byte payload `fill` writes in
    /// place, with the guarantees of [`send`](SendPath::send). This default
    /// builds a [`Packet`] (one allocation) and sends it; a send path that
    /// can frame the payload straight into its own buffer overrides it and
    /// allocates nothing. A refused packet comes back built, as from `send`.
    ///
    /// # Panics
    ///
    /// If `payload_len` is above
    /// [`MAX_PAYLOAD_LEN`](crate::packet::MAX_PAYLOAD_LEN): no packet can hold it.
    fn send_with(
        &self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), SendError> {
        let mut payload = vec![0; payload_len];
        fill(&mut payload);
        match Packet::from_payload(&payload) {
            Ok(packet) => self.send(packet),
            Err(_) => panic!("a payload of {payload_len} bytes does not fit in a packet"),
        }
    }
}
// ANCHOR_END: send_path

/// The packet could not be sent: the caller gets it back.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed, disconnected, or its socket failed.
    Closed(Packet),
    /// The queue is over its limit and the policy is reject (lesson 10):
    /// nothing was queued; try again once the peer has read.
    Full(Packet),
    /// The queue is over its limit and the policy is disconnect (lesson 10):
    /// the peer reads too slowly and its session is being evicted.
    Evicted(Packet),
}

impl SendError {
    /// The packet that was not sent.
    pub fn into_packet(self) -> Packet {
        match self {
            SendError::Closed(packet) | SendError::Full(packet) | SendError::Evicted(packet) => {
                packet
            }
        }
    }
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(p) => write!(f, "Closed({} bytes)", p.len()),
            SendError::Full(p) => write!(f, "Full({} bytes)", p.len()),
            SendError::Evicted(p) => write!(f, "Evicted({} bytes)", p.len()),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("sending on a closed session"),
            SendError::Full(_) => f.write_str("the send queue is full (policy: reject)"),
            SendError::Evicted(_) => f.write_str(
                "the send queue is full (policy: disconnect): the slow reader is evicted",
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// How a session builds its send path on the wire it is given: a lesson's
/// constructor, maybe wrapped (in a queue limit, for instance). The catalog
/// (`crate::catalog::Lesson::starter`) makes these; the session only calls them.
pub type StartSendPath = Arc<dyn Fn(Wire) -> io::Result<Box<dyn SendPath>> + Send + Sync>;
