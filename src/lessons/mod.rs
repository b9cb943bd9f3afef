//! The lessons: one send path each, all behind one API, [`SendPath`].
//!
//! | # | module | the idea |
//! | --- | --- | --- |
//! | 01 | [`lesson01_naive`] | each `send` writes to the socket from the caller's thread |
//! | 02 | [`lesson02_locked`] | a `Mutex` around the writes |
//! | 03 | [`lesson03_send_queue`] | the seed's design: queue + pending flag + writer thread |
//! | 04 | [`lesson04_batched_writer`] | the writer drains the whole queue into one `write_vectored` |
//! | 05 | [`lesson05_channel_writer`] | the same writer on `crossbeam-channel` |
//! | 10 | [`lesson10_room`] | the broadcast room: any lesson's send path, `N` players, `N²` deliveries |
//!
//! Each module holds its whole send path and reads top to bottom; what
//! changed from the lesson before is marked `// New:`. Diff two neighbours
//! to see exactly one idea.
//!
//! Lesson 10 is not another send path (it is not a [`Lesson`] variant): it
//! is a broadcast room that runs on top of whichever lesson's send path you
//! choose.

use std::fmt;

use crate::packet::Packet;
use crate::stats::StatsSnapshot;
use crate::wire::Wire;

pub mod lesson01_naive;
pub mod lesson02_locked;
pub mod lesson03_send_queue;
pub mod lesson04_batched_writer;
pub mod lesson05_channel_writer;
pub mod lesson10_room;

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

/// The packet could not be sent: the caller gets it back.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed, disconnected, or its socket failed.
    Closed(Packet),
}

impl SendError {
    /// The packet that was not sent.
    pub fn into_packet(self) -> Packet {
        match self {
            SendError::Closed(packet) => packet,
        }
    }
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(p) => write!(f, "Closed({} bytes)", p.len()),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("sending on a closed session"),
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
}

impl Lesson {
    /// Every lesson, in course order.
    pub const ALL: [Lesson; 5] = [
        Lesson::Naive,
        Lesson::Locked,
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
    ];

    /// The lesson's number in the course (1 for lesson 01).
    pub fn number(self) -> u32 {
        match self {
            Lesson::Naive => 1,
            Lesson::Locked => 2,
            Lesson::SendQueue => 3,
            Lesson::BatchedWriter => 4,
            Lesson::ChannelWriter => 5,
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
        }
    }

    /// Whether this lesson has a writer thread (and so counts wake-ups and batches).
    pub fn has_writer_thread(self) -> bool {
        self.number() >= 3
    }

    /// Starts this lesson's send path on `wire` (lessons 03 on spawn their writer thread).
    pub fn start(self, wire: Wire) -> Box<dyn SendPath> {
        match self {
            Lesson::Naive => Box::new(lesson01_naive::NaiveSend::new(wire)),
            Lesson::Locked => Box::new(lesson02_locked::LockedSend::new(wire)),
            Lesson::SendQueue => Box::new(lesson03_send_queue::SendQueue::new(wire)),
            Lesson::BatchedWriter => Box::new(lesson04_batched_writer::BatchedWriter::new(wire)),
            Lesson::ChannelWriter => Box::new(lesson05_channel_writer::ChannelWriter::new(wire)),
        }
    }
}

impl fmt::Display for Lesson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {}", self.number(), self.name())
    }
}
