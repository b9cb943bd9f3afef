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
//! assert_eq!(Lesson::numbers(), "1-7");
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
use crate::lessons::lesson10_backpressure::{self, Backpressure};
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
    /// Whether its senders serialize packets into their thread's send
    /// buffer (lesson 06) rather than allocating each packet.
    pub send_buffer: bool,
    /// Starts the send path on a wire (a writer thread, where it has one).
    pub start: fn(Wire) -> io::Result<Box<dyn SendPath>>,
}

impl Lesson {
    /// Every lesson, in reading order.
    pub const ALL: [Lesson; 7] = [
        Lesson::Naive,
        Lesson::Locked,
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
        Lesson::SendBuffers,
        Lesson::DirectPath,
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
                send_buffer: false,
                start: |wire| Ok(Box::new(NaiveSend::new(wire))),
            },
            Lesson::Locked => Entry {
                number: 2,
                name: "locked",
                idea: "a mutex around the writes",
                writer_thread: false,
                batched: false,
                send_buffer: false,
                start: |wire| Ok(Box::new(LockedSend::new(wire))),
            },
            Lesson::SendQueue => Entry {
                number: 3,
                name: "send_queue",
                idea: "queue + pending flag + writer thread, one packet per write (the seed)",
                writer_thread: true,
                batched: false,
                send_buffer: false,
                start: |wire| Ok(Box::new(SendQueue::new(wire)?)),
            },
            Lesson::BatchedWriter => Entry {
                number: 4,
                name: "batched_writer",
                idea: "the writer takes the whole queue into one vectored write",
                writer_thread: true,
                batched: true,
                send_buffer: false,
                start: |wire| Ok(Box::new(BatchedWriter::new(wire)?)),
            },
            Lesson::ChannelWriter => Entry {
                number: 5,
                name: "channel_writer",
                idea: "the batched writer on a crossbeam channel",
                writer_thread: true,
                batched: true,
                send_buffer: false,
                start: |wire| Ok(Box::new(ChannelWriter::new(wire)?)),
            },
            Lesson::SendBuffers => Entry {
                number: 6,
                name: "send_buffers",
                idea: "packets serialized into a reused per-thread chunk, lesson 04's writer",
                writer_thread: true,
                batched: true,
                send_buffer: true,
                // The writer is lesson 04's, unchanged: lesson 06 changes how
                // a packet is made, not how it is sent.
                start: |wire| Ok(Box::new(BatchedWriter::new(wire)?)),
            },
            Lesson::DirectPath => Entry {
                number: 7,
                name: "direct_path",
                idea: "write from the caller while idle, batch under load",
                writer_thread: true,
                batched: true,
                send_buffer: false,
                start: |wire| Ok(Box::new(DirectPath::new(wire)?)),
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
        self.entry().send_buffer
    }

    /// Starts this lesson's send path on `wire`, as first taught: no queue limit.
    pub fn start(self, wire: Wire) -> io::Result<Box<dyn SendPath>> {
        (self.entry().start)(wire)
    }

    /// Starts this lesson's send path on `wire` under a queue limit
    /// (lesson 10's wrapper). Lessons 01 and 02 have no queue: their callers
    /// block in the kernel when the socket buffer is full, so they run
    /// unwrapped, and so does an unlimited `limit`.
    pub fn start_with(self, wire: Wire, limit: Backpressure) -> io::Result<Box<dyn SendPath>> {
        if !self.has_queue() || limit.is_unlimited() {
            return self.start(wire);
        }
        lesson10_backpressure::start_limited(wire, limit, self.entry().start)
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
        assert_eq!(Lesson::numbers(), "1-7");
        assert_eq!(Lesson::from_number(8), None);
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
