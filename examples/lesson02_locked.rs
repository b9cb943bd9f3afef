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

const LESSON: Lesson = Lesson::Locked;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    // Part one: a little traffic, counted.
    let small_ok = common::small_traffic(LESSON, per_sender)?;
    // Part two: large packets from two threads, a 4 KiB send buffer.
    match common::large_packets_small_buffer(LESSON)? {
        Some(_) => return Err("lesson 02 must never interleave packets".into()),
        None => println!("  => intact: the lock keeps each packet's bytes together."),
    }
    if !small_ok {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
