//! `servercore compare`: every lesson's send path under the same load, on a
//! real loopback connection, side by side.
//!
//! One run of one lesson ([`run_with`]):
//!
//! 1. a listener on `127.0.0.1:0`, a client connected to it, and a
//!    [`Session`](crate::Session) with the lesson's send path on the
//!    accepted socket;
//! 2. `senders` threads, released together, each building and sending its
//!    share of the packets (a fresh [`Packet`](crate::Packet) each:
//!    allocate, copy, send);
//! 3. when all have sent, `close()` flushes the send path and shuts down
//!    the write half;
//! 4. a receiver thread on the client reads to the end of the stream and
//!    checks every packet ([`workload::Verifier`](crate::workload::Verifier)):
//!    count, per-sender order, content.
//!
//! The clock runs from the senders' release to the arrival of the last
//! packet. The session's counters give write calls and wake-ups per message.
//!
//! Around that one run:
//!
//! * **The ceiling** ([`run_ceiling`]): the whole workload, framed and
//!   verified by the same receiver, but pre-built into one buffer and
//!   written by one thread in 64 KiB writes. No lesson can beat it, so
//!   each lesson's bytes/s is also shown as a fraction of it.
//! * **The queue limit** ([`RunOptions::queue_limit`]): the command runs
//!   every lesson that has a queue under the same bounded queue a server
//!   uses by default (lesson 10's wrapper, 1 MiB, block policy), so a
//!   writer cannot pile up tens of megabytes and change its own speed;
//!   `--queue-limit unlimited` shows the unbounded queues as first taught.
//! * **Latency mode** ([`RunOptions::rate`]): each sender sends `rate`
//!   packets per second, paced by deadlines (the next deadline is the last
//!   one plus the period, so a late packet does not shift the ones after
//!   it), each payload stamped with its send time; the receiver records
//!   send-to-receive latencies and reports p50, p99 and p99.9.
//! * **Repeated runs** ([`Summary`]): the median, min and max of every figure.
//! * **Allocations per packet**: when the program installs
//!   [`CountingAlloc`](crate::alloc_count::CountingAlloc) (the `servercore`
//!   binary does), each sender counts its own allocations while it sends.
//!
//! The parts, by job:
//!
//! * [`run`](mod@run) — one measured run: a lesson ([`run_with`]), the
//!   ceiling ([`run_ceiling`]), and the sizing that picks a message count
//!   ([`calibrate_subject`]);
//! * [`stats`] — repeated runs summarized: [`Summary`], [`Spread`],
//!   [`Latency`], each run beside the ceiling of its round;
//! * [`output`] — the table for people, and [`Row`], the one serializable
//!   row behind `--format json` and `--format csv`;
//! * [`plan`] — a whole command: the workloads and subjects, sized, run
//!   round by round, printed as it goes.

use std::fmt;

use crate::catalog::Lesson;
use crate::packet::MAX_PAYLOAD_LEN;
use crate::stats::StatsSnapshot;
use crate::workload::MIN_PAYLOAD;

pub mod output;
pub mod plan;
pub mod run;
pub mod stats;

pub use output::{
    Format, Row, csv_header, csv_row, describe, json_line, json_summary, keys, summary_table, table,
};
pub use plan::Plan;
pub use run::{
    CEILING_MAX_BYTES, CEILING_WRITE, RECEIVE_TIMEOUT, calibrate, calibrate_subject,
    ceiling_messages, run, run_ceiling, run_subject, run_with,
};
pub use stats::{Latency, Spread, Summary, attach_ceiling};

/// One workload: who sends how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Sender threads, all sending on the one session.
    pub senders: usize,
    /// Payload bytes per packet (the packet adds a 2-byte header).
    pub payload: usize,
    /// Packets in all, split evenly over the senders.
    pub messages: u64,
}

impl Workload {
    /// Checks the workload's limits; returns a message saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.senders == 0 || self.senders > usize::from(u16::MAX) {
            return Err(format!("senders must be 1..={}", u16::MAX));
        }
        if !(MIN_PAYLOAD..=MAX_PAYLOAD_LEN).contains(&self.payload) {
            return Err(format!(
                "payload must be {MIN_PAYLOAD}..={MAX_PAYLOAD_LEN} bytes"
            ));
        }
        if self.messages == 0 {
            return Err("messages must be at least 1".into());
        }
        Ok(())
    }

    /// Packets sender `sender` sends: an even share, the first ones taking the remainder.
    pub(crate) fn share(&self, sender: usize) -> u64 {
        let senders = self.senders as u64;
        self.messages / senders + u64::from((sender as u64) < self.messages % senders)
    }
}

/// How a run is driven, beyond the workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Latency mode: packets per second *per sender*, paced by deadlines,
    /// each stamped with its send time. `None`: send as fast as possible.
    pub rate: Option<u64>,
    /// Lesson 10's queue limit in bytes, with
    /// [`Policy::Block`](crate::Policy::Block): a sender waits once this
    /// much is queued, until the writer drains half of it. `None`:
    /// unlimited, as lessons 03–07 are first taught (the library's
    /// default; lesson 08's rings keep their own capacity); the command's
    /// default is
    /// [`server::DEFAULT_QUEUE_LIMIT`](crate::server::DEFAULT_QUEUE_LIMIT),
    /// what `servercore serve` uses. Lessons 01 and 02 have no queue and
    /// ignore it.
    pub queue_limit: Option<usize>,
}

/// What a run measured: a lesson's send path, or the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// The socket's own limit: a pre-built stream in 64 KiB writes ([`run_ceiling`]).
    Ceiling,
    /// One lesson's send path ([`run_with`]).
    Lesson(Lesson),
}

impl Subject {
    /// The lesson's number; 0 for the ceiling.
    pub fn number(self) -> u32 {
        match self {
            Subject::Ceiling => 0,
            Subject::Lesson(l) => l.number(),
        }
    }

    /// The lesson's short name, or `"ceiling"`.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Ceiling => "ceiling",
            Subject::Lesson(l) => l.name(),
        }
    }

    /// The lesson, if this is one.
    pub fn lesson(self) -> Option<Lesson> {
        match self {
            Subject::Ceiling => None,
            Subject::Lesson(l) => Some(l),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {}", self.number(), self.name())
    }
}

/// What one lesson (or the ceiling) did with one workload.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured.
    pub subject: Subject,
    /// The workload it ran.
    pub workload: Workload,
    /// From the senders' release to the last packet's arrival.
    pub seconds: f64,
    /// The session's counters after close.
    pub stats: StatsSnapshot,
    /// Packets the receiver verified.
    pub received: u64,
    /// Bytes the receiver read.
    pub bytes_received: u64,
    /// Why the run is not verified, if it is not.
    pub problem: Option<String>,
    /// How the run was driven (latency mode or not, the queue limit).
    pub options: RunOptions,
    /// Latency mode: send-to-receive percentiles.
    pub latency: Option<Latency>,
    /// Allocations the sender threads made while sending (building packets
    /// and sending them), or `None` when allocations are not counted
    /// (the program did not install [`CountingAlloc`](crate::alloc_count::CountingAlloc)).
    pub sender_allocs: Option<u64>,
    /// The ceiling's bytes/s in the same round of runs, once known
    /// ([`attach_ceiling`] fills it in); `None` for the ceiling itself.
    pub ceiling_bytes_per_sec: Option<f64>,
}

impl Report {
    /// True when every packet arrived whole, in per-sender order.
    pub fn verified(&self) -> bool {
        self.problem.is_none()
    }

    /// Packets delivered per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.received as f64 / self.seconds
    }

    /// Bytes (headers included) delivered per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes_received as f64 / self.seconds
    }

    /// This run's bytes/s as a fraction of the ceiling's (1 for the
    /// ceiling). `None` in latency mode: a paced run goes as fast as its
    /// rate, not as fast as it can, so the fraction says nothing.
    pub fn ceiling_fraction(&self) -> Option<f64> {
        if self.options.rate.is_some() {
            return None;
        }
        match self.subject {
            Subject::Ceiling => Some(1.0),
            Subject::Lesson(_) => self.ceiling_bytes_per_sec.map(|c| self.bytes_per_sec() / c),
        }
    }

    /// Sender allocations per packet, when counted.
    pub fn allocs_per_msg(&self) -> Option<f64> {
        self.sender_allocs
            .map(|a| a as f64 / self.workload.messages.max(1) as f64)
    }
}
