//! The catalog: every send-path lesson by number, in one table.
//!
//! The catalog sits above the lessons and below the instruments: `compare`,
//! `serve`, `room`, the contract tests, the benchmarks and the command
//! line's help text all read [`Lesson`], so a lesson's number, name and
//! one-line idea are written once, here.
//!
//! ```
//! use servercore::Lesson;
//! assert_eq!(Lesson::from_number(4), Some(Lesson::BatchedWriter));
//! assert_eq!(Lesson::BatchedWriter.to_string(), "04 batched_writer");
//! assert_eq!(Lesson::numbers(), "1-8");
//! ```
//!
//! Lessons 09–12 (framing, backpressure, shutdown, the room) are about the
//! session around a send path, not send paths themselves, so they are not
//! here. Lesson 10's queue limit wraps any send path that has a queue:
//! [`Lesson::start_with`].

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::lessons::lesson01_naive::NaiveSend;
use crate::lessons::lesson02_locked::LockedSend;
use crate::lessons::lesson03_send_queue::SendQueue;
use crate::lessons::lesson04_batched_writer::BatchedWriter;
use crate::lessons::lesson05_channel_writer::ChannelWriter;
use crate::lessons::lesson07_direct_path::DirectPath;
use crate::lessons::lesson08_rings::{RING_CAPACITY, RingPath, WhenFull};
use crate::lessons::lesson10_backpressure::{self, Backpressure, Policy};
use crate::packet::MAX_PACKET_LEN;
use crate::send_path::{SendPath, StartSendPath};
use crate::session::SessionConfig;
use crate::wire::Wire;

/// A send path of Part I, by lesson: one variant per lesson.
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
    /// 06: lesson 04's writer, packets serialized into per-thread send buffers.
    SendBuffers,
    /// 07: direct writes from the caller while idle, the batched writer under load.
    DirectPath,
    /// 08: a byte ring per sender thread, all gathered into one vectored write.
    Rings,
}

/// One row of the catalog: what the rest of the crate needs to know about a lesson.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The lesson's number: its place in the reading order.
    pub number: u32,
    /// A short name: the module name without its number.
    pub name: &'static str,
    /// The lesson's idea, in one line (the help text and the book use it).
    pub idea: &'static str,
    /// Whether the send path has a writer thread (and so a queue, wake-ups
    /// and batches, and a queue limit can wrap it).
    pub writer_thread: bool,
    /// Whether its writer sends whole batches in vectored writes.
    pub batched: bool,
    /// How its senders build each packet.
    pub builds: Builds,
    /// Starts the send path on a wire (a writer thread, where it has one).
    pub start: fn(Wire) -> io::Result<Box<dyn SendPath>>,
    /// Starts it under a queue limit it keeps itself (lesson 08's rings),
    /// where lesson 10's wrapper is not needed. `None`: the wrapper.
    pub own_limit: Option<StartUnder>,
}

/// Starts a send path on a wire under a queue limit.
pub type StartUnder = fn(Wire, Backpressure) -> io::Result<Box<dyn SendPath>>;

/// How a lesson's senders build each packet (what `compare` and the
/// benchmarks do on its behalf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builds {
    /// A fresh [`Packet`](crate::Packet) per send: one allocation, one copy.
    Allocated,
    /// In the sending thread's send buffer (lesson 06): no allocation.
    InSendBuffer,
    /// Straight into the send path's own buffer, through
    /// [`SendPath::send_with`] (lesson 08): no `Packet` at all.
    InPlace,
}

impl Lesson {
    /// Every lesson, in reading order.
    pub const ALL: [Lesson; 8] = [
        Lesson::Naive,
        Lesson::Locked,
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
        Lesson::SendBuffers,
        Lesson::DirectPath,
        Lesson::Rings,
    ];

    // ANCHOR: table
    /// The lesson's row of the catalog.
    pub const fn entry(self) -> Entry {
        match self {
            Lesson::Naive => Entry {
                number: 1,
                name: "naive",
                idea: "each send writes to the socket from the caller's thread",
                writer_thread: false,
                batched: false,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(NaiveSend::new(wire))),
                own_limit: None,
            },
            Lesson::Locked => Entry {
                number: 2,
                name: "locked",
                idea: "a mutex around the writes",
                writer_thread: false,
                batched: false,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(LockedSend::new(wire))),
                own_limit: None,
            },
            Lesson::SendQueue => Entry {
                number: 3,
                name: "send_queue",
                idea: "queue + pending flag + writer thread, one packet per write (the seed)",
                writer_thread: true,
                batched: false,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(SendQueue::new(wire)?)),
                own_limit: None,
            },
            Lesson::BatchedWriter => Entry {
                number: 4,
                name: "batched_writer",
                idea: "the writer takes the whole queue into one vectored write",
                writer_thread: true,
                batched: true,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(BatchedWriter::new(wire)?)),
                own_limit: None,
            },
            Lesson::ChannelWriter => Entry {
                number: 5,
                name: "channel_writer",
                idea: "the batched writer on a crossbeam channel",
                writer_thread: true,
                batched: true,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(ChannelWriter::new(wire)?)),
                own_limit: None,
            },
            Lesson::SendBuffers => Entry {
                number: 6,
                name: "send_buffers",
                idea: "packets serialized into a reused per-thread chunk, lesson 04's writer",
                writer_thread: true,
                batched: true,
                builds: Builds::InSendBuffer,
                // The writer is lesson 04's, unchanged: lesson 06 changes how
                // a packet is made, not how it is sent.
                start: |wire| Ok(Box::new(BatchedWriter::new(wire)?)),
                own_limit: None,
            },
            Lesson::DirectPath => Entry {
                number: 7,
                name: "direct_path",
                idea: "write from the caller while idle, batch under load",
                writer_thread: true,
                batched: true,
                builds: Builds::Allocated,
                start: |wire| Ok(Box::new(DirectPath::new(wire)?)),
                own_limit: None,
            },
            Lesson::Rings => Entry {
                number: 8,
                name: "rings",
                idea: "each sender frames into its own byte ring; the writer gathers all rings in one writev",
                writer_thread: true,
                batched: true,
                // Senders frame straight into their rings (`send_with`).
                builds: Builds::InPlace,
                start: |wire| Ok(Box::new(RingPath::new(wire)?)),
                own_limit: Some(rings_under),
            },
        }
    }
    // ANCHOR_END: table

    /// The lesson's number in the course (1 for lesson 01).
    pub fn number(self) -> u32 {
        self.entry().number
    }

    /// The lesson with this number, if it is a send path.
    pub fn from_number(number: u32) -> Option<Lesson> {
        Lesson::ALL.into_iter().find(|l| l.number() == number)
    }

    /// The valid numbers, as the command line takes them: `"1-7"` while
    /// they run without a gap, else a comma-separated list.
    pub fn numbers() -> String {
        let numbers: Vec<u32> = Lesson::ALL.iter().map(|l| l.number()).collect();
        let (first, last) = (numbers[0], numbers[numbers.len() - 1]);
        if numbers.len() as u32 == last - first + 1 {
            format!("{first}-{last}")
        } else {
            let listed: Vec<String> = numbers.iter().map(u32::to_string).collect();
            listed.join(",")
        }
    }

    /// A short name: the module name without its number.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The lesson's idea in one line.
    pub fn idea(self) -> &'static str {
        self.entry().idea
    }

    /// Whether this lesson has a writer thread (and so a queue, wake-ups and batches).
    pub fn has_writer_thread(self) -> bool {
        self.entry().writer_thread
    }

    /// Whether this lesson has a queue, and so honours a queue limit.
    pub fn has_queue(self) -> bool {
        self.entry().writer_thread
    }

    /// Whether this lesson's writer sends whole batches in vectored writes.
    pub fn is_batched(self) -> bool {
        self.entry().batched
    }

    /// Whether this lesson's senders serialize packets through their
    /// thread's send buffer (lesson 06) rather than allocating each packet.
    pub fn uses_send_buffer(self) -> bool {
        self.entry().builds == Builds::InSendBuffer
    }

    /// Whether this lesson's senders frame packets straight into the send
    /// path ([`SendPath::send_with`], lesson 08).
    pub fn frames_in_place(self) -> bool {
        self.entry().builds == Builds::InPlace
    }

    /// Starts this lesson's send path on `wire`, as first taught: no queue limit.
    pub fn start(self, wire: Wire) -> io::Result<Box<dyn SendPath>> {
        (self.entry().start)(wire)
    }

    /// Starts this lesson's send path on `wire` under a queue limit
    /// (lesson 10's wrapper, or the lesson's own where it keeps one).
    /// Lessons 01 and 02 have no queue: their callers block in the kernel
    /// when the socket buffer is full, so they run unwrapped, and so does
    /// an unlimited `limit`.
    pub fn start_with(self, wire: Wire, limit: Backpressure) -> io::Result<Box<dyn SendPath>> {
        if !self.has_queue() || limit.is_unlimited() {
            return self.start(wire);
        }
        match self.entry().own_limit {
            Some(start_under) => start_under(wire, limit),
            None => lesson10_backpressure::start_limited(wire, limit, self.entry().start),
        }
    }

    /// How a session starts this lesson's send path under `limit`.
    pub fn starter(self, limit: Backpressure) -> StartSendPath {
        Arc::new(move |wire| self.start_with(wire, limit))
    }

    /// A session config for this lesson under `limit`, accepting packets
    /// up to the format's limit.
    pub fn session_config(self, limit: Backpressure) -> SessionConfig {
        SessionConfig {
            start_send_path: self.starter(limit),
            max_packet: MAX_PACKET_LEN,
        }
    }
}

/// Lesson 08 under a queue limit: the ring's capacity is the limit, built
/// in. Each sender thread's ring holds the largest power of two bytes that
/// is at most the limit and at most [`RING_CAPACITY`]; a session's rings
/// hold at most senders × that. Block and reject are the ring's own; the
/// disconnect policy (a room's) needs lesson 10's wrapper, which can evict.
fn rings_under(wire: Wire, limit: Backpressure) -> io::Result<Box<dyn SendPath>> {
    let bytes = limit.high_water.clamp(4, RING_CAPACITY);
    let capacity = 1 << (usize::BITS - 1 - bytes.leading_zeros()); // a power of two, at most `bytes`
    let when_full = match limit.policy {
        Policy::Block => WhenFull::Block,
        Policy::Reject => WhenFull::Reject,
        Policy::Disconnect => {
            return lesson10_backpressure::start_limited(wire, limit, move |wire| {
                Ok(Box::new(RingPath::with_capacity(wire, capacity)?))
            });
        }
    };
    Ok(Box::new(RingPath::with_config(wire, capacity, when_full)?))
}

impl fmt::Display for Lesson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {}", self.number(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_are_the_reading_order_without_a_gap() {
        for (i, lesson) in Lesson::ALL.iter().enumerate() {
            assert_eq!(lesson.number(), i as u32 + 1, "{lesson:?}");
            assert_eq!(Lesson::from_number(lesson.number()), Some(*lesson));
        }
        assert_eq!(Lesson::numbers(), "1-8");
        assert_eq!(Lesson::from_number(9), None);
    }

    #[test]
    fn names_are_unique_and_match_their_modules() {
        let mut names: Vec<&str> = Lesson::ALL.iter().map(|l| l.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Lesson::ALL.len());
        let modules =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lessons/mod.rs"))
                .unwrap();
        for lesson in Lesson::ALL {
            let module = format!("pub mod lesson{:02}_{};", lesson.number(), lesson.name());
            assert!(
                modules.contains(&module),
                "no `{module}` in src/lessons/mod.rs"
            );
        }
    }
}
