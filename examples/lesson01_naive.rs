//! Lesson 01 — the naive send on a real loopback connection.
//!
//!     cargo run --example lesson01_naive
//!     RUST_LOG=trace cargo run --example lesson01_naive
//!
//! Part one sends a little traffic and counts it: one write call per send.
//! Part two shows the risk: two threads send 60,000-byte packets into a
//! 4 KiB kernel send buffer, so each write waits for room part way through
//! its packet, and the other thread's write can slip its bytes in between.
//! It is a race, so most runs, not all, end corrupted. A corrupted run
//! prints:
//!
//!     lesson 01 naive: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls        15   (1.000 per send)
//!       wake-ups            0   (no writer thread: the caller writes)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//!     lesson 01 naive: 2 sender threads × 32 packets, 60000-byte payloads, SO_SNDBUF 4096
//!       sends               4   of 64: the receiver hung up at the bad packet, so later writes failed
//!       write calls         7   (a write cut short or refused when the receiver hung up counts too)
//!       wake-ups            0   (no writer thread: the caller writes)
//!       receiver: 1 packet intact, then packet #2 is wrong: sender 0 seq 1: foreign bytes inside the packet
//!       => the stream is corrupt after 1 packet: packet #2's bytes were interleaved with another
//!          send's. This is lesson 01's bug; lesson 02's lock fixes it.
//!
//! A run in which the two threads' writes happen not to overlap ends with
//! `receiver: all 64 packets intact` and says so; lesson 02 is intact every
//! time. `tests/lesson01_naive.rs` forces the interleaving on every run.

mod common;

use std::error::Error;

use servercore::Lesson;
use servercore::net::SocketOptions;

const LESSON: Lesson = Lesson::Naive;

/// Part two, the same traffic as lesson 02's (`common::large_packets_small_buffer`).
const LARGE_SENDERS: usize = 2;
const LARGE_PACKETS: u32 = 32;
const LARGE_PAYLOAD: usize = 60_000;
const SMALL_SNDBUF: usize = 4096;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    // Part one: a little traffic, counted.
    let small_ok = common::small_traffic(LESSON, per_sender)?;
    // Part two: large packets from two threads, a 4 KiB send buffer.
    large_packets_small_buffer()?;
    if !small_ok {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}

/// Two threads, 60,000-byte packets, a 4 KiB send buffer; then what the
/// receiver found, in a sentence.
fn large_packets_small_buffer() -> Result<(), Box<dyn Error>> {
    let options = SocketOptions {
        send_buffer: Some(SMALL_SNDBUF),
        ..SocketOptions::default()
    };
    println!(
        "\nlesson {LESSON}: {LARGE_SENDERS} sender threads × {LARGE_PACKETS} packets, \
         {LARGE_PAYLOAD}-byte payloads, SO_SNDBUF {SMALL_SNDBUF}"
    );
    let (stats, received) = common::run(
        LESSON,
        LARGE_SENDERS,
        LARGE_PACKETS,
        LARGE_PAYLOAD,
        &options,
    )?;
    let expected = LARGE_SENDERS as u64 * u64::from(LARGE_PACKETS);
    if stats.sends == expected {
        println!("  sends        {:>8}", stats.sends);
        println!(
            "  write calls  {:>8}   ({:.3} per send)",
            stats.write_calls,
            stats.writes_per_send()
        );
    } else {
        println!(
            "  sends        {:>8}   of {expected}: the receiver hung up at the bad packet, \
             so later writes failed",
            stats.sends
        );
        println!(
            "  write calls  {:>8}   (a write cut short or refused when the receiver hung up counts too)",
            stats.write_calls
        );
    }
    println!(
        "  wake-ups     {:>8}   (no writer thread: the caller writes)",
        stats.wakeups
    );
    let intact = received.packets;
    let Some(problem) = &received.problem else {
        println!("  receiver: all {intact} packets intact");
        println!(
            "  => the two threads' writes happened not to overlap this time: the race is real \
             but not certain.\n     Run the example again, or see \
             `cargo test --test lesson01_naive`, which forces it."
        );
        return Ok(());
    };
    let bad = intact + 1;
    // The verifier's messages start with the packet's number; the
    // decoder's ("framing lost: ...") do not.
    let what = problem
        .strip_prefix(&format!("packet #{bad}: "))
        .unwrap_or(problem);
    println!(
        "  receiver: {} intact, then packet #{bad} is wrong: {what}",
        packets(intact)
    );
    println!(
        "  => the stream is corrupt after {}: packet #{bad}'s bytes were interleaved with another\n     \
         send's. This is lesson 01's bug; lesson 02's lock fixes it.",
        packets(intact)
    );
    Ok(())
}

/// "1 packet", "2 packets".
fn packets(n: u64) -> String {
    if n == 1 {
        "1 packet".to_owned()
    } else {
        format!("{n} packets")
    }
}
