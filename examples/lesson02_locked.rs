//! Lesson 02 — the locked send on a real loopback connection.
//!
//!     cargo run --example lesson02_locked
//!     RUST_LOG=trace cargo run --example lesson02_locked
//!
//! The same two parts as lesson 01: a little traffic, counted; then two
//! threads sending 60,000-byte packets into a 4 KiB kernel send buffer. With
//! the lock, part two arrives intact every time. It prints:
//!
//!     lesson 02 locked: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls        15   (1.000 per send)
//!       wake-ups            0   (no writer thread: the caller writes)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//!     lesson 02 locked: 2 sender threads × 32 packets, 60000-byte payloads, SO_SNDBUF 4096
//!       sends              64
//!       write calls        64   (1.000 per send)
//!       wake-ups            0   (no writer thread: the caller writes)
//!       received           64 packets, 3840128 bytes: verified (count, per-sender order, content)
//!       => intact: the lock keeps each packet's bytes together.

mod common;

use std::error::Error;

use servercore::Lesson;
use servercore::net::SocketOptions;

const LESSON: Lesson = Lesson::Locked;
const SENDERS: usize = 3;
const PAYLOAD: usize = 32;
/// Part two: large packets from two threads into a tiny kernel send buffer,
/// so every write has to wait for room, part way through its packet.
const LARGE_SENDERS: usize = 2;
const LARGE_PACKETS: u32 = 32;
const LARGE_PAYLOAD: usize = 60_000;
const SMALL_SNDBUF: usize = 4096;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;

    // Part one: a little traffic, counted.
    println!(
        "lesson {LESSON}: {SENDERS} sender threads × {per_sender} packets, \
         {PAYLOAD}-byte payloads, one loopback connection"
    );
    let (stats, received) = common::run(
        LESSON,
        SENDERS,
        per_sender,
        PAYLOAD,
        &SocketOptions::default(),
    )?;
    common::print_counters(LESSON, &stats, &received);
    let small_ok = received.ok();

    // Part two: large packets, a small send buffer.
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
    common::print_counters(LESSON, &stats, &received);
    match received.problem {
        Some(_) => return Err("lesson 02 must never interleave packets".into()),
        None => println!("  => intact: the lock keeps each packet's bytes together."),
    }
    if !small_ok {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
