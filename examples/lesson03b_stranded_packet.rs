//! The stranded packet, reproduced with real threads on a real socket.
//!
//!     cargo run --release --example lesson03b_stranded_packet
//!
//! It prints the same lines on every run:
//!
//! ```text
//! WRONG hand-off (lesson03b_stranded_packet: the completion clears pending without looking):
//!   1. send(#1): pending was false, so send set it and woke the writer (wake-ups: 1)
//!      the writer took #1 and is inside write(#1), held at the gate
//!   2. send(#2) while the write is in flight: pending is true, so #2 is only queued (wake-ups still: 1)
//!   3. gate opened: write(#1) completes; the peer reads #1
//!   4. completion: pending = false with 1 packet queued: the writer went back to sleep
//!      the peer reads nothing for 300 ms: #2 is STRANDED (write calls so far: 1)
//!   5. send(#3), unrelated: pending is false, so it wakes the writer (wake-ups: 2)
//!      the writer takes the oldest packet: the peer reads #2 at last
//!      and the same completion strands the next one: pending = false with 1 packet queued
//!      the peer reads nothing for 300 ms: #3 is STRANDED (write calls so far: 2)
//!   6. close(): it wakes the writer, which flushes; the peer reads #3, then end-of-stream
//!
//! Lesson 03 (the completion looks at the queue, under the lock, before clearing pending):
//!   1. send(#1): pending was false, so send set it and woke the writer (wake-ups: 1)
//!      the writer took #1 and is inside write(#1), held at the gate
//!   2. send(#2) while the write is in flight: pending is true, so #2 is only queued (wake-ups still: 1)
//!   3. gate opened: write(#1) completes; the peer reads #1
//!   4. completion: the queue holds #2, so pending stays true and the writer writes #2
//!      the peer reads #2: delivered, with no further send (sends: 2, write calls: 2, wake-ups: 1)
//!
//! After the same two sends (#2 sent during write(#1)), then quiet:
//! hand-off     sends  write calls  wake-ups  the peer has  still queued
//! WRONG            2            1         1  #1            #2 (pending false: nobody will write it)
//! lesson 03        2            2         1  #1 #2         nothing
//! ```
//!
//! The seed's "가정" (assumption) scenario, step by step, twice: first on
//! the WRONG hand-off (`servercore::lessons::lesson03b_stranded_packet`,
//! whose writer clears `pending` without looking at the queue), then on
//! lesson 03 (which looks). A gate in front of the loopback socket holds
//! the writer inside its write of packet #1 while packet #2 is sent, so the
//! interleaving is the same on every run: no timing, no luck. The gate is
//! the only thing in between; every byte crosses a real TCP connection.
//!
//! With `RUST_LOG=trace` the send paths log each step too, each line named
//! by its thread: the WRONG writer's `no re-check: pending -> false with 1
//! queued` is the line the seed's notes warn about.

mod common;

use std::fs;
use std::io::{self, Read};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use servercore::lessons::lesson03_send_queue::SendQueue;
use servercore::lessons::lesson03b_stranded_packet::BrokenSendQueue;
use servercore::net::SocketOptions;
use servercore::sync::Arc;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::{Packet, SendPath, StatsSnapshot, Wire};

/// How long any one step may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the peer listens for a packet that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// One line of the closing table: a hand-off after the same two sends.
struct Row {
    /// The counters after #2 was sent during write(#1) and the writer came to rest.
    stats: StatsSnapshot,
    /// What the peer had read by then.
    peer_has: &'static str,
    /// What was still queued by then.
    still_queued: &'static str,
}

fn main() -> ExitCode {
    common::init_logging();
    let broken = stranded_with_broken_handoff();
    println!();
    let fixed = delivered_with_lesson03();
    match (broken, fixed) {
        (Ok(broken), Ok(fixed)) => {
            println!();
            print_table(&[("WRONG", broken), ("lesson 03", fixed)]);
            ExitCode::SUCCESS
        }
        (broken, fixed) => {
            eprintln!(
                "the reproduction did not go as described: broken {:?}, lesson 03 {:?}",
                broken.err(),
                fixed.err()
            );
            ExitCode::FAILURE
        }
    }
}

/// Packet `#n`: a 2-byte body, so 4 bytes on the wire.
fn packet(n: u8) -> Packet {
    Packet::from_payload(&[b'#', b'0' + n]).unwrap()
}

/// A loopback connection whose server side writes through a gate, and the
/// client side with a read timeout (every blocking read has one).
fn connection(gate: &Arc<Gate>) -> io::Result<(Wire, TcpStream)> {
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(STEP_TIMEOUT))?;
    Ok((Wire::new(GatedSink::new(server_side, gate.clone())), client))
}

/// Reads one 4-byte test packet from the peer's side, if one arrives in time.
fn read_packet(client: &mut TcpStream, timeout: Duration) -> io::Result<Option<String>> {
    client.set_read_timeout(Some(timeout))?;
    let mut frame = [0u8; 4];
    match client.read_exact(&mut frame) {
        Ok(()) => Ok(Some(String::from_utf8_lossy(&frame[2..]).into_owned())),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads the packet that must arrive next, and names it.
fn expect_packet(client: &mut TcpStream, which: &str) -> io::Result<String> {
    read_packet(client, STEP_TIMEOUT)?.ok_or_else(|| fail(&format!("{which} never arrived")))
}

fn fail(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

/// Steps 1–3, the same for both hand-offs: #1 held in the write, #2 queued
/// behind it without a wake-up, then the gate opens and the peer reads #1.
fn hold_write_and_queue_behind_it(
    path: &dyn SendPath,
    gate: &Gate,
    client: &mut TcpStream,
) -> io::Result<String> {
    wait_until_asleep("writer")?; // the writer waits for its first packet
    path.send(packet(1)).map_err(|_| fail("send #1 refused"))?;
    if !gate.wait_for_arrivals(1, STEP_TIMEOUT) {
        return Err(fail("the writer never started writing #1"));
    }
    println!(
        "  1. send(#1): pending was false, so send set it and woke the writer (wake-ups: {})",
        path.stats().wakeups
    );
    println!("     the writer took #1 and is inside write(#1), held at the gate");
    path.send(packet(2)).map_err(|_| fail("send #2 refused"))?;
    println!(
        "  2. send(#2) while the write is in flight: pending is true, so #2 is only queued (wake-ups still: {})",
        path.stats().wakeups
    );
    gate.open();
    expect_packet(client, "#1")
}

fn stranded_with_broken_handoff() -> io::Result<Row> {
    println!(
        "WRONG hand-off (lesson03b_stranded_packet: the completion clears pending without looking):"
    );
    let gate = Gate::new();
    let (wire, mut client) = connection(&gate)?;
    let path = BrokenSendQueue::new(wire)?;
    let first = hold_write_and_queue_behind_it(&path, &gate, &mut client)?;
    let queued = wait_until_writer_sleeps(&path)?;
    println!("  3. gate opened: write(#1) completes; the peer reads {first}");
    println!(
        "  4. completion: pending = false with {queued} packet queued: the writer went back to sleep"
    );
    expect_quiet(&mut client, "#2", &path)?;
    let row = Row {
        stats: path.stats(),
        peer_has: "#1",
        still_queued: "#2 (pending false: nobody will write it)",
    };

    path.send(packet(3)).map_err(|_| fail("send #3 refused"))?;
    let second = expect_packet(&mut client, "#2")?;
    let queued = wait_until_writer_sleeps(&path)?;
    println!(
        "  5. send(#3), unrelated: pending is false, so it wakes the writer (wake-ups: {})",
        path.stats().wakeups
    );
    println!("     the writer takes the oldest packet: the peer reads {second} at last");
    println!(
        "     and the same completion strands the next one: pending = false with {queued} packet queued"
    );
    expect_quiet(&mut client, "#3", &path)?;

    path.close();
    let third = expect_packet(&mut client, "#3")?;
    let end = read_packet(&mut client, STEP_TIMEOUT);
    if !matches!(end, Err(ref e) if e.kind() == io::ErrorKind::UnexpectedEof) {
        return Err(fail("expected end-of-stream after close"));
    }
    println!(
        "  6. close(): it wakes the writer, which flushes; the peer reads {third}, then end-of-stream"
    );
    Ok(row)
}

/// Waits (bounded) until the broken writer has cleared `pending` after its
/// write; returns how many packets it left queued. The writer clears the
/// flag and goes to sleep without letting go of the lock in between, so
/// once `peek` sees `pending == false` the writer is asleep, and nothing
/// changes until somebody sends or closes.
fn wait_until_writer_sleeps(path: &BrokenSendQueue) -> io::Result<usize> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        match path.peek() {
            (false, queued) => return Ok(queued),
            (true, _) if Instant::now() >= deadline => {
                return Err(fail("the writer never cleared pending"));
            }
            (true, _) => thread::yield_now(),
        }
    }
}

/// Asserts that nothing arrives at the peer while `which` sits in the queue.
fn expect_quiet(client: &mut TcpStream, which: &str, path: &BrokenSendQueue) -> io::Result<()> {
    match read_packet(client, QUIET)? {
        None => {
            println!(
                "     the peer reads nothing for {} ms: {which} is STRANDED (write calls so far: {})",
                QUIET.as_millis(),
                path.stats().write_calls
            );
            Ok(())
        }
        Some(p) => Err(fail(&format!("{p} arrived: nothing was stranded"))),
    }
}

fn delivered_with_lesson03() -> io::Result<Row> {
    println!(
        "Lesson 03 (the completion looks at the queue, under the lock, before clearing pending):"
    );
    let gate = Gate::new();
    let (wire, mut client) = connection(&gate)?;
    let path = SendQueue::new(wire)?;
    let first = hold_write_and_queue_behind_it(&path, &gate, &mut client)?;
    let second = expect_packet(&mut client, "#2")?;
    // Lesson 03 has no `peek`; the kernel says when its writer is back asleep.
    wait_until_asleep("writer")?;
    println!("  3. gate opened: write(#1) completes; the peer reads {first}");
    println!("  4. completion: the queue holds #2, so pending stays true and the writer writes #2");
    let stats = path.stats();
    println!(
        "     the peer reads {second}: delivered, with no further send (sends: {}, write calls: {}, wake-ups: {})",
        stats.sends, stats.write_calls, stats.wakeups
    );
    path.close();
    Ok(Row {
        stats,
        peer_has: "#1 #2",
        still_queued: "nothing",
    })
}

/// The closing table: both hand-offs after the same two sends.
fn print_table(rows: &[(&str, Row)]) {
    println!("After the same two sends (#2 sent during write(#1)), then quiet:");
    println!("hand-off     sends  write calls  wake-ups  the peer has  still queued");
    for (name, row) in rows {
        println!(
            "{name:<10} {:>7} {:>12} {:>9}  {:<12}  {}",
            row.stats.sends,
            row.stats.write_calls,
            row.stats.wakeups,
            row.peer_has,
            row.still_queued
        );
    }
}

/// Waits until the thread called `name` is asleep (state `S` in
/// `/proc/self/task/<tid>/stat`): here, the writer on its condvar.
fn wait_until_asleep(name: &str) -> io::Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        for task in fs::read_dir("/proc/self/task")? {
            let task = task?.path();
            // A thread may exit between the listing and the read: skip it.
            let (Ok(comm), Ok(stat)) = (
                fs::read_to_string(task.join("comm")),
                fs::read_to_string(task.join("stat")),
            ) else {
                continue;
            };
            // The state is the first field after the `)` that ends the name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if comm.trim_end() == name && state == Some("S") {
                return Ok(());
            }
        }
        thread::yield_now();
    }
    Err(fail(&format!("the {name} thread never went to sleep")))
}
