//! `servercore trace`: a picture of a real run.
//!
//! The lessons already narrate themselves: every step of a hand-off is a
//! `log::trace!` line (`enqueue: pending false -> true: wake the writer`,
//! `write: 12 packets, 408 bytes`, `re-check: empty, pending -> false`), and
//! the wire logs the start and end of every write system call. This module
//! records those lines — with the time and the thread that wrote each one —
//! while it drives a short, scripted run of one lesson on a real loopback
//! socket, and draws them as swimlanes: one lane per thread against time,
//! the pending flag as a band, write calls as blocks.
//!
//! Nothing is added to the lessons for it. When no one records, a trace
//! line costs one check of the log level: `compare` runs with the level at
//! `warn`, so its numbers are the lessons' own.
//!
//! **The script** ([`record`]):
//!
//! 1. *quiet*: `sender 0` sends a few packets, one at a time, each after the
//!    last was written — the writer wakes for every one;
//! 2. *burst during a write* (lessons with a writer thread): the next write
//!    is held inside the socket call (the same kind of gate the tests use),
//!    `sender 0` sends one packet, and once the write is held, the other
//!    senders send theirs — they find `pending` set and skip the wake-up.
//!    Then the write is let go, and the writer's re-check finds what they
//!    queued: the seed's "가정" (*assumption*), marked in the picture.
//!    Lessons 01 and 02 send the burst at once instead.
//!
//! The recorded [`Event`]s are checked ([`check`]) as well as drawn: every
//! packet sent is written exactly once, and the writer thread writes only
//! while the pending flag (lesson 07: the owner) says it owns the socket.
//!
//! Recording installs a logger for the whole process: do it in a process
//! of its own (the `trace` subcommand, or a test binary of its own).

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::catalog::Lesson;
use crate::net::SocketOptions;
use crate::send_path::SendPath;
use crate::testing::socket_pair;
use crate::wire::{Sink, Wire};
use crate::workload::{self, Verifier};

mod svg;

pub use svg::svg;

/// One recorded line: when, on which thread, from where, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Time since the recording began.
    pub at: Duration,
    /// The thread's name (`sender 0`, `writer`, …).
    pub thread: String,
    /// What happened, as read from the line.
    pub kind: Kind,
    /// The line itself.
    pub text: String,
}

/// What a recorded line says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A packet was accepted by `send` and queued; `woke` if this send woke
    /// the writer (the C# `RegisterSend`), not if it found the flag set.
    Enqueue {
        /// Whether this send woke the writer.
        woke: bool,
    },
    /// A packet was sent straight from the caller (lesson 07's direct path,
    /// or lessons 01–02, which always write from the caller).
    SendDirect,
    /// The pending flag (lesson 07: the owner) turned on.
    PendingOn,
    /// The pending flag turned off (lesson 07: the owner went back to idle).
    PendingOff,
    /// The writer woke after a real wait.
    WriterWoke,
    /// The writer took a batch of this many queued packets for one write.
    Batch {
        /// Packets in the batch (the rest of a partial direct write not counted).
        packets: usize,
    },
    /// The writer looked at the queue again after a write and found this
    /// many packets queued during it (0: empty).
    Recheck {
        /// Packets queued while the write was in flight.
        during: usize,
    },
    /// A write system call began.
    WriteBegins,
    /// A write system call returned, having taken this many bytes.
    WriteEnds {
        /// Bytes the call took (0 for a failed call).
        bytes: usize,
    },
    /// Any other line.
    Other,
}

/// The first number in `text`, if any.
fn first_number(text: &str) -> Option<usize> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reads what a line from `target` says.
pub fn classify(target: &str, text: &str) -> Kind {
    if target.starts_with("servercore::wire") {
        return if text.contains(" begins") {
            Kind::WriteBegins
        } else if let Some(rest) = text.split(" ends: ").nth(1) {
            Kind::WriteEnds {
                bytes: first_number(rest)
                    .filter(|_| rest.contains("bytes"))
                    .unwrap_or(0),
            }
        } else {
            Kind::Other
        };
    }
    // Lesson 07's direct path, and lessons 01 and 02, where the caller writes.
    if text.contains("Idle -> Caller") || text.starts_with("send:") {
        Kind::SendDirect
    } else if text.starts_with("enqueue") || text.starts_with("publish") {
        // Lesson 08's senders publish into their rings: the same event.
        Kind::Enqueue {
            woke: text.contains("wake the writer") || text.contains("count a wake-up"),
        }
    } else if text.contains("-> Writer") {
        Kind::PendingOn
    } else if text.starts_with("woke after a wait") {
        Kind::WriterWoke
    } else if text.starts_with("write:") {
        // "write: 12 packets, …" or "write: the unfinished 7 bytes, then 12 packets, …"
        let packets = text
            .split(" packet")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Kind::Batch { packets }
    } else if text.contains("queued during the write") && text.starts_with("re-check") {
        Kind::Recheck {
            during: first_number(text).unwrap_or(0),
        }
    } else if text.starts_with("re-check: empty") || text.starts_with("re-check: every ring empty")
    {
        Kind::Recheck { during: 0 }
    } else {
        Kind::Other
    }
}

/// Whether a line turns the pending flag on or off (besides its kind).
fn pending_change(text: &str) -> Option<bool> {
    if text.contains("false -> true")
        || text.contains("-> Writer")
        || text.contains("Idle -> Caller")
    {
        Some(true)
    } else if text.contains("pending -> false") || text.contains("-> Idle") {
        Some(false)
    } else {
        None
    }
}

/// A recorded line: when, which thread, the target, the text.
type Line = (Duration, String, String, String);

/// The process-wide recorder behind [`record`].
struct Recorder {
    /// The lines recorded so far, while a recording runs.
    lines: Mutex<Option<Vec<Line>>>,
    /// When the recording began.
    start: OnceLock<Instant>,
}

static RECORDER: Recorder = Recorder {
    lines: Mutex::new(None),
    start: OnceLock::new(),
};

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("servercore::lessons")
            || metadata.target().starts_with("servercore::wire")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let thread = thread::current().name().unwrap_or("?").to_owned();
        let text = record.args().to_string();
        // The time is taken under the lock, so the lines are in time order,
        // and a line that happened before another is recorded before it.
        if let Some(lines) = self.lines.lock().unwrap().as_mut() {
            let at = self.start.get_or_init(Instant::now).elapsed();
            lines.push((at, thread, record.target().to_owned(), text));
        }
    }

    fn flush(&self) {}
}

/// A write that can be held inside the socket call, as a test's gate holds
/// it: armed, the next write waits until released. While armed, lesson 07's
/// non-blocking write would block, so the caller hands over to the writer.
struct Hold {
    /// `(armed, a writer is waiting)`.
    state: Mutex<(bool, bool)>,
    /// Signalled when a writer arrives or the hold is released.
    arrived_or_released: Condvar,
}

impl Hold {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            state.1 = true;
            self.arrived_or_released.notify_all();
            while state.0 {
                state = self.arrived_or_released.wait(state).unwrap();
            }
        }
    }
}

/// The socket behind the traced wire, with a [`Hold`] in front.
struct HeldSink {
    inner: TcpStream,
    hold: Arc<Hold>,
}

impl Sink for HeldSink {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.hold.pass();
        Sink::write(&self.inner, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.hold.pass();
        Sink::write_vectored(&self.inner, bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.inner, how)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if self.hold.state.lock().unwrap().0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Sink::try_write(&self.inner, buf)
    }
}

/// How [`record`] drives the run.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    /// Sender threads (at least 2: one to start the held write, others to arrive during it).
    pub senders: u16,
    /// Packets `sender 0` sends one at a time in the quiet part.
    pub quiet: u32,
    /// Packets each of the other senders sends during the held write.
    pub burst: u32,
    /// Payload bytes per packet.
    pub payload: usize,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            senders: 3,
            quiet: 3,
            burst: 4,
            payload: 32,
        }
    }
}

const WAIT: Duration = Duration::from_secs(20);

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> io::Result<()> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("trace: {what}"),
            ));
        }
        thread::yield_now();
    }
    Ok(())
}

/// Runs `script` through `lesson` on a real loopback socket and returns
/// every recorded line. Installs the recorder as the process's logger on
/// first use; fails if another logger is installed.
pub fn record(lesson: Lesson, script: &Script) -> io::Result<Vec<Event>> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap();
    if log::set_logger(&RECORDER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    } else if log::max_level() < log::LevelFilter::Trace {
        return Err(io::Error::other(
            "trace: another logger is installed; record in a process of its own",
        ));
    }
    let senders = script.senders.max(2);
    RECORDER.start.get_or_init(Instant::now);
    *RECORDER.lines.lock().unwrap() = Some(Vec::new());
    crate::wire::log_write_calls(true);
    let run = drive(lesson, script, senders);
    crate::wire::log_write_calls(false);
    let lines = RECORDER.lines.lock().unwrap().take().unwrap_or_default();
    run?;
    let base = lines.first().map_or(Duration::ZERO, |l| l.0);
    Ok(lines
        .into_iter()
        .map(|(at, thread, target, text)| Event {
            at: at - base,
            kind: classify(&target, &text),
            thread,
            text,
        })
        .collect())
}

/// The scripted run itself (see the module docs).
fn drive(lesson: Lesson, script: &Script, senders: u16) -> io::Result<()> {
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    let hold = Arc::new(Hold {
        state: Mutex::new((false, false)),
        arrived_or_released: Condvar::new(),
    });
    let sink = HeldSink {
        inner: server_side.try_clone()?,
        hold: Arc::clone(&hold),
    };
    let path: Arc<dyn SendPath> = Arc::from(lesson.start(Wire::new(sink))?);
    let total = u64::from(script.quiet) + 1 + u64::from(senders - 1) * u64::from(script.burst);
    let verifier = Verifier::new(usize::from(senders), script.payload);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, verifier, total))?;
    let frame = (script.payload + 2) as u64;
    let written = |packets: u64| {
        let path = Arc::clone(&path);
        move || path.stats().bytes_written >= packets * frame
    };
    let send_from = |sender: u16, seqs: std::ops::Range<u32>| {
        let path = Arc::clone(&path);
        let payload = script.payload;
        thread::Builder::new()
            .name(format!("sender {sender}"))
            .spawn(move || {
                for seq in seqs {
                    let _ = path.send(workload::make_packet(sender, seq, payload));
                }
            })
    };

    // 1. Quiet: one packet at a time, each written before the next is sent.
    for seq in 0..script.quiet {
        send_from(0, seq..seq + 1)?
            .join()
            .map_err(|_| io::Error::other("sender panicked"))?;
        wait_until(
            "a quiet packet was not written",
            written(u64::from(seq) + 1),
        )?;
    }
    // 2. A burst while a write is in flight.
    let others = |hold_write: bool| -> io::Result<()> {
        let burst: Vec<_> = (1..senders)
            .map(|s| send_from(s, 0..script.burst))
            .collect::<io::Result<_>>()?;
        if hold_write {
            for sender in burst {
                sender
                    .join()
                    .map_err(|_| io::Error::other("sender panicked"))?;
            }
        } else {
            drop(burst); // lessons 01-02: the senders write themselves; the hold is not used
        }
        Ok(())
    };
    if lesson.has_writer_thread() {
        hold.state.lock().unwrap().0 = true; // armed: the next write waits
        let first = send_from(0, script.quiet..script.quiet + 1)?;
        {
            let mut state = hold.state.lock().unwrap();
            let deadline = Instant::now() + WAIT;
            while !state.1 {
                let now = Instant::now();
                if now > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "trace: no write was held",
                    ));
                }
                state = hold
                    .arrived_or_released
                    .wait_timeout(state, deadline - now)
                    .unwrap()
                    .0;
            }
        }
        others(true)?; // they all return: they only queue
        hold.state.lock().unwrap().0 = false;
        hold.arrived_or_released.notify_all();
        first
            .join()
            .map_err(|_| io::Error::other("sender panicked"))?;
    } else {
        send_from(0, script.quiet..script.quiet + 1)?
            .join()
            .map_err(|_| io::Error::other("sender panicked"))?;
        others(false)?;
    }
    wait_until("the burst was not written", written(total))?;
    path.close();
    let received = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    if !received.ok() {
        return Err(io::Error::other(format!(
            "trace: the receiver found a problem: {}",
            received.problem.as_deref().unwrap_or("?")
        )));
    }
    Ok(())
}

/// What [`check`] found wrong in a recording, if anything.
pub fn check(lesson: Lesson, events: &[Event], script: &Script) -> Result<(), String> {
    let senders = u64::from(script.senders.max(2));
    let total = u64::from(script.quiet) + 1 + (senders - 1) * u64::from(script.burst);
    let sent = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Enqueue { .. } | Kind::SendDirect))
        .count() as u64;
    if sent != total {
        return Err(format!("{sent} sends recorded, {total} made"));
    }
    if lesson.has_writer_thread() {
        // Every packet written once: the queued ones in the writer's
        // batches, the direct ones by their callers.
        let batched: usize = events
            .iter()
            .filter_map(|e| match e.kind {
                Kind::Batch { packets } => Some(packets),
                _ => None,
            })
            .sum();
        let queued = events
            .iter()
            .filter(|e| matches!(e.kind, Kind::Enqueue { .. }))
            .count();
        if batched != queued {
            return Err(format!(
                "{queued} packets queued, {batched} written by the writer"
            ));
        }
        // The writer writes only while the flag says the socket is its own
        // (lesson 05 has no flag: the channel hides it).
        let flagged = events.iter().any(|e| pending_change(&e.text).is_some());
        let mut pending = !flagged;
        for e in events {
            if let (true, Some(on)) = (flagged, pending_change(&e.text)) {
                pending = on;
            }
            if e.thread == "writer" && e.kind == Kind::WriteBegins && !pending {
                return Err(format!("the writer wrote with the flag off, at {:?}", e.at));
            }
        }
        // A packet is queued before the write that carries it: at every
        // batch, the writer has taken no more packets than were queued.
        // (Lesson 05 logs its enqueue after the channel took the packet,
        // so its lines cannot show this order.)
        let (mut queued, mut taken) = (0, 0);
        for e in events.iter().filter(|_| flagged) {
            match e.kind {
                Kind::Enqueue { .. } => queued += 1,
                Kind::Batch { packets } => {
                    taken += packets;
                    if taken > queued {
                        return Err(format!(
                            "by {:?} the writer took {taken} packets, {queued} were queued",
                            e.at
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_the_chapters_word_them() {
        let queue = "servercore::lessons::lesson03_send_queue";
        let rings = "servercore::lessons::lesson08_rings";
        let wire = "servercore::wire";
        let cases = [
            (
                queue,
                "enqueue: pending false -> true: wake the writer",
                Kind::Enqueue { woke: true },
            ),
            (
                queue,
                "enqueue: pending is true, 3 queued: no wake-up",
                Kind::Enqueue { woke: false },
            ),
            (
                queue,
                "write: 12 packets, 408 bytes",
                Kind::Batch { packets: 12 },
            ),
            (
                queue,
                "write: 1 packet, 34 bytes",
                Kind::Batch { packets: 1 },
            ),
            (
                queue,
                "write: the unfinished 7 bytes, then 3 packets, 102 bytes",
                Kind::Batch { packets: 3 },
            ),
            (
                queue,
                "re-check: 2 queued during the write, 1 before it: keep pending",
                Kind::Recheck { during: 2 },
            ),
            (
                queue,
                "re-check: empty, pending -> false",
                Kind::Recheck { during: 0 },
            ),
            // Lesson 08's senders publish into their rings.
            (
                rings,
                "publish: pending false -> true: wake the writer",
                Kind::Enqueue { woke: true },
            ),
            (
                rings,
                "publish: 34 bytes, pending is true: no wake-up",
                Kind::Enqueue { woke: false },
            ),
            (
                rings,
                "write: 8 packets from 2 rings, 272 bytes",
                Kind::Batch { packets: 8 },
            ),
            (
                rings,
                "re-check: every ring empty, pending -> false: sleep",
                Kind::Recheck { during: 0 },
            ),
            (wire, "writev begins", Kind::WriteBegins),
            (
                wire,
                "writev ends: 408 bytes",
                Kind::WriteEnds { bytes: 408 },
            ),
        ];
        for (target, text, kind) in cases {
            assert_eq!(classify(target, text), kind, "{target}: {text}");
        }
        assert_eq!(
            pending_change("re-check: empty, owner Writer -> Idle"),
            Some(false)
        );
        assert_eq!(
            pending_change("owner Caller -> Writer: 2 queued during the write"),
            Some(true)
        );
    }
}
