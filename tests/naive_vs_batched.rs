//! Naive against batched, side by side: the same burst of 100 sends through
//! every send path in the catalog, and what each one costs in write calls
//! and wake-ups.
//!
//! A lesson with a writer thread meets the burst with its writer held on a
//! [`Gate`] inside its first write call (the one for the first packet), so
//! the other 99 are all queued before the writer comes back: every run sees
//! the same interleaving, and the numbers are exact. A lesson without one
//! (01, 02) takes the 100 sends at once, from the test's thread. Predict the
//! two right-hand columns before you run it:
//!
//! | lesson | the 100 sends meet | write calls | wake-ups |
//! | --- | --- | ---: | ---: |
//! | 01 naive | the socket, at once | 100 | 0 |
//! | 02 locked | the lock, at once | 100 | 0 |
//! | 03 send_queue | a writer held in its first write | 100 | 1 |
//! | 04 batched_writer | a writer held in its first write | 2 | 1 |
//! | 05 channel_writer | a writer held in its first write | 2 | 0 or 1 |
//! | 06 send_buffers | a writer held in its first write | 2 | 1 |
//! | 07 direct_path | a caller held in its direct write | 2 | 1 |
//! | 07 direct_path | a full socket: the direct write would block | 3 | 1 |
//! | 08 rings | a writer held in its first write | 2 | 1 |
//!
//! How each number comes about:
//!
//! * **01, 02**: no writer thread, nobody to wake. Each send writes its own
//!   packet from its caller's thread: one write call per send (02 takes a
//!   lock around it, which changes who waits, not how often the kernel is
//!   called).
//! * **03**: the first send finds `pending` false and wakes the writer: the
//!   one wake-up. The other 99 find it true and only queue (the seed's
//!   `if (_pending == false) RegisterSend();`). The writer still pops one
//!   packet per write: 1 + 99 = 100 write calls.
//! * **04, 06**: the same one wake-up; but when the held write returns, the
//!   writer swaps the whole queue out and writes the 99 with one `writev`:
//!   1 + 1 = 2 write calls. 06 is lesson 04's writer fed from send buffers.
//! * **05**: the same two write calls (`recv` takes one packet, `try_iter`
//!   the other 98). The channel wakes its receiver inside
//!   `crossbeam-channel`, where the lesson cannot count it; it counts a send
//!   that finds the writer parked in `recv`. Whether the writer thread had
//!   parked yet when the first send came depends on the scheduler, so the
//!   first send counts 0 or 1. What is certain: the 99 sends behind the
//!   held write count none, and the total is never more than 1.
//! * **07, caller held**: the socket is idle, so the first send writes its
//!   packet directly from its own thread (the seed's `RegisterSend` on the
//!   caller's thread), and the test holds that caller inside its direct
//!   write. The 99 queue behind it. When the direct write returns, the
//!   caller finds them and hands the socket to the writer thread: the one
//!   wake-up; the writer takes the 99 in one `writev`. 1 + 1 = 2.
//! * **07, full socket**: behind the common gate (`GatedSink`) a direct
//!   write always says "would block", as a full socket buffer does. That
//!   try is a system call that moves nothing, and it hands the first
//!   packet to the writer (the wake-up), which is then held. 1 + 1 + 1 = 3.
//!
//! In every queued row the 99 sends behind the held write wake nobody: the
//! test checks that too. And every packet of every row arrives intact and
//! in order *before* `close`, so a writer that strands a packet (the seed's
//! "가정", *assumption*) fails here even though `close` would flush it.
//!
//! `cargo test --test naive_vs_batched -- --nocapture` prints the measured
//! table. Chapter 04 quotes the table above; a test below checks that the
//! table, the rows the test asserts and the chapter's copy are one and the
//! same.

mod common;

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;

use common::*;
use servercore::lessons::lesson06_send_buffers;
use servercore::testing::{Gate, GatedSink};
use servercore::wire::Sink;
use servercore::workload::{fill_payload, make_packet};
use servercore::{Lesson, Packet, SendPath, StatsSnapshot, Wire};

/// Sends in the burst, first packet included.
const BURST: u32 = 100;
/// Payload bytes per packet (34 on the wire).
const PAYLOAD: usize = 32;

/// What the burst meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meets {
    /// No writer thread: the sends go to the socket from the test's thread.
    AtOnce(&'static str),
    /// The writer thread, held at the gate inside its write of the first packet.
    HeldWriter,
    /// Lesson 07: the first send's caller, held inside its direct write.
    HeldCaller,
    /// Lesson 07 behind the common gate: the direct write would block, so the
    /// writer takes the first packet and is held inside that write.
    FullSocket,
}

impl Meets {
    /// The table's words for it.
    fn words(self) -> &'static str {
        match self {
            Meets::AtOnce(what) => what,
            Meets::HeldWriter => "a writer held in its first write",
            Meets::HeldCaller => "a caller held in its direct write",
            Meets::FullSocket => "a full socket: the direct write would block",
        }
    }
}

/// The predicted wake-ups of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wakeups {
    /// Exactly this many.
    Exactly(u64),
    /// 0 or 1: lesson 05's estimate (see the module comment).
    AtMostOne,
}

impl Wakeups {
    fn holds_for(self, measured: u64) -> bool {
        match self {
            Wakeups::Exactly(n) => measured == n,
            Wakeups::AtMostOne => measured <= 1,
        }
    }

    fn words(self) -> String {
        match self {
            Wakeups::Exactly(n) => n.to_string(),
            Wakeups::AtMostOne => "0 or 1".to_owned(),
        }
    }
}

/// One row of the table: a lesson, what its burst meets, and the prediction.
#[derive(Debug, Clone, Copy)]
struct Row {
    lesson: Lesson,
    meets: Meets,
    write_calls: u64,
    wakeups: Wakeups,
    /// Why that many write calls: said when the count is wrong.
    why_calls: &'static str,
    /// Why that many wake-ups: said when the count is wrong.
    why_wakeups: &'static str,
}

/// The rows of `lesson`. The match has no wildcard: a new lesson in the
/// catalog does not compile here until its row is predicted.
fn rows(lesson: Lesson) -> Vec<Row> {
    let row = |meets, write_calls, wakeups, why_calls, why_wakeups| Row {
        lesson,
        meets,
        write_calls,
        wakeups,
        why_calls,
        why_wakeups,
    };
    const NOBODY_TO_WAKE: &str = "there is no writer thread: every send writes from its caller";
    const FIRST_WAKES: &str = "only the first send finds `pending` false and wakes the writer; \
         the 99 behind the held write find it true and only queue \
         (the seed's `if (_pending == false) RegisterSend();`)";
    const SWAP: &str = "the first packet's write (held at the gate), then ONE writev for \
         the 99 queued behind it. More means the writer took less than the \
         whole queue: does it still pop one packet, as lesson 03 does?";
    match lesson {
        Lesson::Naive => vec![row(
            Meets::AtOnce("the socket, at once"),
            100,
            Wakeups::Exactly(0),
            "each send makes its own write call from its caller's thread",
            NOBODY_TO_WAKE,
        )],
        Lesson::Locked => vec![row(
            Meets::AtOnce("the lock, at once"),
            100,
            Wakeups::Exactly(0),
            "each send writes its own packet under the lock: the lock decides \
             who waits, not how often the kernel is called",
            NOBODY_TO_WAKE,
        )],
        Lesson::SendQueue => vec![row(
            Meets::HeldWriter,
            100,
            Wakeups::Exactly(1),
            "the seed's writer pops ONE packet per write: the first, then the \
             99 queued behind it one by one (the problem lesson 04 solves)",
            FIRST_WAKES,
        )],
        Lesson::BatchedWriter => vec![row(
            Meets::HeldWriter,
            2,
            Wakeups::Exactly(1),
            SWAP,
            FIRST_WAKES,
        )],
        Lesson::ChannelWriter => vec![row(
            Meets::HeldWriter,
            2,
            Wakeups::AtMostOne,
            "the first packet's write, then `recv` + `try_iter` take the 99 \
             into ONE writev",
            "a wake-up is counted when a send finds the writer parked in \
             `recv`: the first send may or may not (the writer may not have \
             parked yet); the 99 behind the held write cannot (it is writing)",
        )],
        Lesson::SendBuffers => vec![row(
            Meets::HeldWriter,
            2,
            Wakeups::Exactly(1),
            "lesson 06 sends through lesson 04's writer, unchanged: the first \
             packet's write, then ONE writev for the 99",
            FIRST_WAKES,
        )],
        Lesson::DirectPath => vec![
            row(
                Meets::HeldCaller,
                2,
                Wakeups::Exactly(1),
                "the first send writes directly from its caller (the socket \
                 was idle); the writer thread takes the 99 queued meanwhile \
                 in ONE writev",
                "nobody is woken for the direct write; when it returns, the \
                 caller finds 99 queued and hands the socket to the writer: \
                 that hand-over is the one wake-up",
            ),
            row(
                Meets::FullSocket,
                3,
                Wakeups::Exactly(1),
                "the direct try says would-block (a system call that moves \
                 nothing), the writer writes the first packet (held), then \
                 ONE writev for the 99",
                "the would-block try hands the first packet to the writer: \
                 the one wake-up; the 99 behind it find the writer owning \
                 the socket and only queue",
            ),
        ],
        Lesson::Rings => vec![row(
            Meets::HeldWriter,
            2,
            Wakeups::Exactly(1),
            "the first packet's write (held at the gate), then ONE writev for \
             the 99 the sender framed into its ring meanwhile",
            "the first send finds the atomic `pending` clear and wakes the \
             writer; the 99 behind the held write find it set and only \
             publish (the seed's rule, without the lock)",
        )],
    }
}

/// Every row, in catalog order.
fn all_rows() -> Vec<Row> {
    Lesson::ALL.into_iter().flat_map(rows).collect()
}

/// The table of the module comment, from the rows.
fn table() -> String {
    let mut table = String::from(
        "| lesson | the 100 sends meet | write calls | wake-ups |\n| --- | --- | ---: | ---: |\n",
    );
    for row in all_rows() {
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.lesson,
            row.meets.words(),
            row.write_calls,
            row.wakeups.words()
        ));
    }
    table
}

/// Packet `seq` of the burst, made as the lesson makes its packets
/// (lesson 06: in the sending thread's send buffer).
fn packet(lesson: Lesson, seq: u32) -> Packet {
    if lesson.uses_send_buffer() {
        lesson06_send_buffers::packet(PAYLOAD, |body| fill_payload(body, 0, seq))
            .expect("a 32-byte payload fits")
    } else {
        make_packet(0, seq, PAYLOAD)
    }
}

/// Lesson 07's socket for the "caller held" row: its direct write
/// (`try_write`) waits at the gate, then goes to the real socket, where 34
/// bytes always fit. (The common `GatedSink` does the opposite: its
/// `try_write` always says would-block.) Its other writes wait at the gate
/// too, which is open by the time the writer thread makes them.
struct HeldDirectWrite {
    inner: TcpStream,
    gate: Arc<Gate>,
}

impl Sink for HeldDirectWrite {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.gate.pass();
        Sink::write(&self.inner, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.gate.pass();
        Sink::write_vectored(&self.inner, bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.inner, how)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.gate.pass();
        Sink::try_write(&self.inner, buf)
    }
}

/// What one row measured.
#[derive(Debug)]
struct Measured {
    /// The counters after `close`.
    end: StatsSnapshot,
    /// Wake-ups counted by the 99 sends behind the held write (0 where
    /// nothing is held).
    during_the_burst: u64,
}

/// Sends the burst through `lesson` as `meets` says, waits until every
/// packet has arrived (intact, in order), then closes.
fn run(lesson: Lesson, meets: Meets) -> Measured {
    let (server, client) = pair();
    let gate = Gate::new();
    let wire = match meets {
        Meets::AtOnce(_) => Wire::new(server),
        Meets::HeldWriter | Meets::FullSocket => {
            Wire::new(GatedSink::new(server, Arc::clone(&gate)))
        }
        Meets::HeldCaller => Wire::new(HeldDirectWrite {
            inner: server,
            gate: Arc::clone(&gate),
        }),
    };
    let path = lesson.start(wire).expect("start the send path");
    let path: &dyn SendPath = path.as_ref();
    let all_bytes = u64::from(BURST) * (PAYLOAD as u64 + 2);
    let (receiver, arrived) =
        spawn_receiver_signalling(client, 1, PAYLOAD, u64::from(BURST), all_bytes);
    let send = |seq: u32| {
        path.send(packet(lesson, seq))
            .unwrap_or_else(|e| panic!("{lesson}: send {seq} refused: {e}"))
    };
    let held = "the first packet's write never reached the gate";
    let mut during_the_burst = 0;
    match meets {
        Meets::AtOnce(_) => (0..BURST).for_each(send),
        Meets::HeldWriter | Meets::FullSocket => {
            send(0);
            assert!(gate.wait_for_arrivals(1, TIMEOUT), "{lesson}: {held}");
            let before = path.stats().wakeups;
            (1..BURST).for_each(send);
            during_the_burst = path.stats().wakeups - before;
            gate.open();
        }
        Meets::HeldCaller => {
            let first = packet(lesson, 0);
            thread::scope(|scope| {
                // This send does not return until its direct write does.
                let caller = scope.spawn(|| path.send(first));
                assert!(gate.wait_for_arrivals(1, TIMEOUT), "{lesson}: {held}");
                let before = path.stats().wakeups;
                (1..BURST).for_each(send);
                during_the_burst = path.stats().wakeups - before;
                gate.open();
                caller.join().unwrap().expect("the first send");
            });
        }
    }
    assert!(
        arrived.recv_timeout(TIMEOUT).is_ok(),
        "{lesson}: the burst never all arrived before close: did the writer go \
         to sleep without looking at its queue again (the seed's \"가정\")? {:?}",
        path.stats()
    );
    path.close();
    assert_received(receiver, u64::from(BURST));
    let end = path.stats();
    assert_eq!(end.sends, u64::from(BURST), "{lesson}: sends counted");
    assert_eq!(end.bytes_written, all_bytes, "{lesson}: bytes written");
    Measured {
        end,
        during_the_burst,
    }
}

/// The burst through every row, the measured table printed, each row
/// checked against its prediction.
#[test]
fn a_burst_of_100_side_by_side() {
    println!("a burst of {BURST} sends, {PAYLOAD}-byte payloads, one loopback connection");
    println!(
        "{:<18} {:<44} {:>11} {:>9}",
        "lesson", "the 100 sends meet", "write calls", "wake-ups"
    );
    let mut wrong = Vec::new();
    for row in all_rows() {
        let measured = run(row.lesson, row.meets);
        let (calls, wakeups) = (measured.end.write_calls, measured.end.wakeups);
        println!(
            "{:<18} {:<44} {calls:>11} {wakeups:>9}",
            row.lesson.to_string(),
            row.meets.words()
        );
        let at = format!("{} ({})", row.lesson, row.meets.words());
        if calls != row.write_calls {
            wrong.push(format!(
                "{at}: write calls {calls}, predicted {}: {}",
                row.write_calls, row.why_calls
            ));
        }
        if !row.wakeups.holds_for(wakeups) || measured.during_the_burst != 0 {
            wrong.push(format!(
                "{at}: wake-ups {wakeups}, {} of them during the held write; \
                 predicted {}, none during the held write: {}",
                measured.during_the_burst,
                row.wakeups.words(),
                row.why_wakeups
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}\n", wrong.join("\n\n"));
}

/// The table in the module comment is the one the rows predict, and
/// chapter 04 quotes it unchanged.
#[test]
fn the_table_is_the_one_chapter_04_quotes() {
    let expected = table();
    let doc: String = include_str!("naive_vs_batched.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//! ").or((line == "//!").then_some("")))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        doc.contains(&expected),
        "the module comment's table differs from the rows; it should read:\n\n{expected}"
    );
    let chapter = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lessons/04-batched-writer.md"
    ))
    .expect("lessons/04-batched-writer.md");
    assert!(
        chapter.contains(&expected),
        "lessons/04-batched-writer.md does not quote the table; it should contain:\n\n{expected}"
    );
}
