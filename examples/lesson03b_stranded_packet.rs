//! The stranded packet, reproduced with real threads on a real socket.
//!
//! ```text
//! $ cargo run --release --example lesson03b_stranded_packet
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
//! ```
//!
//! The seed's "가정" scenario, step by step, twice: first on the WRONG
//! hand-off (`servercore::lessons::lesson03b_stranded_packet`, whose writer clears
//! `pending` without looking at the queue), then on lesson 03 (which looks).
//! A gate in front of the loopback socket holds the writer inside its write
//! of packet #1 while packet #2 is sent, so the interleaving is the same on
//! every run: no timing, no luck. The gate is the only thing in between;
//! every byte crosses a real TCP connection.

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
use servercore::{Packet, SendPath, Wire};

/// How long any one step may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the peer listens for a packet that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    let broken = stranded_with_broken_handoff();
    println!();
    let fixed = delivered_with_lesson03();
    match (broken, fixed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (broken, fixed) => {
            eprintln!(
                "the reproduction did not go as described: broken {broken:?}, lesson 03 {fixed:?}"
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

fn fail(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

/// Steps 1–3, the same for both hand-offs: #1 held in the write, #2 queued
/// behind it without a wake-up, then the write of #1 completes.
fn hold_write_and_queue_behind_it(
    path: &dyn SendPath,
    gate: &Gate,
    client: &mut TcpStream,
) -> io::Result<()> {
    path.send(packet(1)).map_err(|_| fail("send #1 refused"))?;
    println!(
        "  1. send(#1): pending was false, so send set it and woke the writer (wake-ups: {})",
        path.stats().wakeups
    );
    if !gate.wait_for_arrivals(1, STEP_TIMEOUT) {
        return Err(fail("the writer never started writing #1"));
    }
    println!("     the writer took #1 and is inside write(#1), held at the gate");
    path.send(packet(2)).map_err(|_| fail("send #2 refused"))?;
    println!(
        "  2. send(#2) while the write is in flight: pending is true, so #2 is only queued (wake-ups still: {})",
        path.stats().wakeups
    );
    gate.open();
    let first = read_packet(client, STEP_TIMEOUT)?.ok_or_else(|| fail("#1 never arrived"))?;
    println!("  3. gate opened: write(#1) completes; the peer reads {first}");
    Ok(())
}

fn stranded_with_broken_handoff() -> io::Result<()> {
    println!(
        "WRONG hand-off (lesson03b_stranded_packet: the completion clears pending without looking):"
    );
    let gate = Gate::new();
    let (wire, mut client) = connection(&gate)?;
    let path = BrokenSendQueue::new(wire)?;
    hold_write_and_queue_behind_it(&path, &gate, &mut client)?;

    let queued = wait_until_writer_sleeps(&path)?;
    println!(
        "  4. completion: pending = false with {queued} packet queued: the writer went back to sleep"
    );
    expect_quiet(&mut client, "#2", &path)?;

    path.send(packet(3)).map_err(|_| fail("send #3 refused"))?;
    println!(
        "  5. send(#3), unrelated: pending is false, so it wakes the writer (wake-ups: {})",
        path.stats().wakeups
    );
    let second = read_packet(&mut client, STEP_TIMEOUT)?.ok_or_else(|| fail("#2 never arrived"))?;
    println!("     the writer takes the oldest packet: the peer reads {second} at last");
    let queued = wait_until_writer_sleeps(&path)?;
    println!(
        "     and the same completion strands the next one: pending = false with {queued} packet queued"
    );
    expect_quiet(&mut client, "#3", &path)?;

    path.close();
    let third = read_packet(&mut client, STEP_TIMEOUT)?.ok_or_else(|| fail("#3 never arrived"))?;
    let end = read_packet(&mut client, STEP_TIMEOUT);
    if !matches!(end, Err(ref e) if e.kind() == io::ErrorKind::UnexpectedEof) {
        return Err(fail("expected end-of-stream after close"));
    }
    println!(
        "  6. close(): it wakes the writer, which flushes; the peer reads {third}, then end-of-stream"
    );
    Ok(())
}

/// Waits (bounded) until the broken writer has cleared `pending` after its
/// write; returns how many packets it left queued. From then on nothing
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

fn delivered_with_lesson03() -> io::Result<()> {
    println!(
        "Lesson 03 (the completion looks at the queue, under the lock, before clearing pending):"
    );
    let gate = Gate::new();
    let (wire, mut client) = connection(&gate)?;
    let path = SendQueue::new(wire)?;
    hold_write_and_queue_behind_it(&path, &gate, &mut client)?;

    if !gate.wait_for_arrivals(2, STEP_TIMEOUT) {
        return Err(fail("the writer did not come back for #2"));
    }
    println!("  4. completion: the queue holds #2, so pending stays true and the writer writes #2");
    let second = read_packet(&mut client, STEP_TIMEOUT)?.ok_or_else(|| fail("#2 never arrived"))?;
    let stats = path.stats();
    println!(
        "     the peer reads {second}: delivered, with no further send (sends: {}, write calls: {}, wake-ups: {})",
        stats.sends, stats.write_calls, stats.wakeups
    );
    path.close();
    Ok(())
}
