//! The lessons: one send path each, all behind one API, [`SendPath`].
//!
//! | # | module | the idea |
//! | --- | --- | --- |
//! | 01 | [`lesson01_naive`] | each `send` writes to the socket from the caller's thread |
//! | 02 | [`lesson02_locked`] | a `Mutex` around the writes |
//! | 03 | [`lesson03_send_queue`] | the seed's design: queue + pending flag + writer thread |
//! | 04 | [`lesson04_batched_writer`] | the writer drains the whole queue into one `write_vectored` |
//! | 05 | [`lesson05_channel_writer`] | the same writer on `crossbeam-channel` |
//! | 06 | [`lesson06_send_buffers`] | lesson 04's writer, packets serialized into reused per-thread chunks |
//! | 07 | [`lesson09_framing`] | the size header and bad input: limits, truncation, the C# size-0 spin |
//! | 08 | [`lesson10_backpressure`] | queue limits with water marks: block, reject or evict |
//! | 09 | [`lesson11_shutdown`] | close flushes, disconnect aborts, threads joined |
//! | 10 | [`lesson12_room`] | the broadcast room: any lesson's send path, `N` players, `N²` deliveries |
//! | 11 | [`lesson07_direct_path`] | write from the caller while idle, batch under load |
//!
//! Lessons 09–11 are about the session around the send path, not a new
//! send path: they are not [`Lesson`] variants. Their mechanisms live in the
//! plumbing ([`crate::packet`], [`crate::backpressure`], [`crate::session`],
//! [`crate::echo`]); their modules here tell the story and hold the contrast.
//!
//! Each module holds its whole send path and reads top to bottom; what
//! changed from the lesson before is marked `// New:`. Diff two neighbours
//! to see exactly one idea.
//!
//! Lesson 12 is not another send path (it is not a [`Lesson`] variant): it
//! is a broadcast room that runs on top of whichever lesson's send path you
//! choose.

use std::fmt;

use crate::backpressure::Backpressure;
use crate::packet::Packet;
use crate::stats::StatsSnapshot;
use crate::wire::Wire;

pub mod lesson01_naive;
pub mod lesson02_locked;
pub mod lesson03_send_queue;
pub mod lesson04_batched_writer;
pub mod lesson05_channel_writer;
pub mod lesson06_send_buffers;
pub mod lesson09_framing;
pub mod lesson10_backpressure;
pub mod lesson11_shutdown;
pub mod lesson12_room;
pub mod lesson07_direct_path;

// WRONG on purpose: lesson 03 with the stranded-packet bug, kept as teaching
// code for `lessons/03b-stranded-packet.md`. Public only so that its loom test
// and its example can reach it; hidden from the docs and from `Lesson`.
#[doc(hidden)]
pub mod lesson03b_stranded_packet;

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

/// Which send path to use: one variant per lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lesson {
    /// 01: each send writes from the caller's thread, no lock.
    Naive,
    /// 02: a mutex around the writes.
    Locked,
    /// 03: queue + pending flag + writer thread, one buffer per write.
    SendQueue,
    /// 04: the writer drains the whole queue into vectored writes.
    BatchedWriter,
    /// 05: the batched writer on a crossbeam channel.
    ChannelWriter,
    /// 06: the batched writer fed from per-thread send buffers.
    SendBuffers,
    /// 07: direct writes from the caller while idle, the batched writer under load.
    DirectPath,
}

impl Lesson {
    /// Every lesson, in course order.
    pub const ALL: [Lesson; 7] = [
        Lesson::Naive,
        Lesson::Locked,
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
        Lesson::SendBuffers,
        Lesson::DirectPath,
    ];

    /// The lesson's number in the course (1 for lesson 01).
    pub fn number(self) -> u32 {
        match self {
            Lesson::Naive => 1,
            Lesson::Locked => 2,
            Lesson::SendQueue => 3,
            Lesson::BatchedWriter => 4,
            Lesson::ChannelWriter => 5,
            Lesson::SendBuffers => 6,
            Lesson::DirectPath => 7,
        }
    }

    /// The lesson with this number, if there is one.
    pub fn from_number(number: u32) -> Option<Lesson> {
        Lesson::ALL.into_iter().find(|l| l.number() == number)
    }

    /// A short name: the module name without its number.
    pub fn name(self) -> &'static str {
        match self {
            Lesson::Naive => "naive",
            Lesson::Locked => "locked",
            Lesson::SendQueue => "send_queue",
            Lesson::BatchedWriter => "batched_writer",
            Lesson::ChannelWriter => "channel_writer",
            Lesson::SendBuffers => "send_buffers",
            Lesson::DirectPath => "direct_path",
        }
    }

    /// Whether this lesson has a writer thread (and so counts wake-ups and batches).
    pub fn has_writer_thread(self) -> bool {
        self.number() >= 3
    }

    /// Whether this lesson's senders serialize packets through their
    /// thread's [`SendBuffer`](crate::send_buffer::SendBuffer) (lesson 06)
    /// rather than allocating each packet.
    pub fn uses_send_buffer(self) -> bool {
        self == Lesson::SendBuffers
    }

    /// Whether this lesson's writer sends whole batches in vectored writes.
    pub fn is_batched(self) -> bool {
        matches!(
            self,
            Lesson::BatchedWriter
                | Lesson::ChannelWriter
                | Lesson::SendBuffers
                | Lesson::DirectPath
        )
    }

    /// Starts this lesson's send path on `wire` (lessons 03 on spawn their
    /// writer thread), with no queue limit.
    pub fn start(self, wire: Wire) -> Box<dyn SendPath> {
        self.start_with(wire, Backpressure::unlimited())
    }

    /// Starts this lesson's send path with a queue limit (lesson 10). Lessons
    /// 01 and 02 have no queue and ignore it: their callers block in the
    /// kernel when the socket buffer is full.
    pub fn start_with(self, wire: Wire, limit: Backpressure) -> Box<dyn SendPath> {
        use lesson03_send_queue::SendQueue;
        use lesson04_batched_writer::BatchedWriter;
        use lesson05_channel_writer::ChannelWriter;
        match self {
            Lesson::Naive => Box::new(lesson01_naive::NaiveSend::new(wire)),
            Lesson::Locked => Box::new(lesson02_locked::LockedSend::new(wire)),
            Lesson::SendQueue => Box::new(SendQueue::with_limit(wire, limit)),
            Lesson::BatchedWriter => Box::new(BatchedWriter::with_limit(wire, limit)),
            Lesson::ChannelWriter => Box::new(ChannelWriter::with_limit(wire, limit)),
            Lesson::SendBuffers => {
                Box::new(lesson06_send_buffers::SendBuffers::with_limit(wire, limit))
            }
            Lesson::DirectPath => {
                Box::new(lesson07_direct_path::DirectPath::with_limit(wire, limit))
            }
        }
    }

    /// Whether this lesson has a queue, and so honours a queue limit.
    pub fn has_queue(self) -> bool {
        self.has_writer_thread()
    }
}

impl fmt::Display for Lesson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {}", self.number(), self.name())
    }
}
