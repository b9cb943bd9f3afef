//! Lesson 03 — the send queue (the seed's design) on a real loopback connection.
//!
//!     cargo run --example lesson03_send_queue
//!     RUST_LOG=trace cargo run --example lesson03_send_queue
//!     cargo run --example lesson03_send_queue -- 20000     # packets per sender
//!
//! It prints (one run; wake-ups vary from run to run, write calls never do):
//!
//!     lesson 03 send_queue: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls        15   (1.000 per send)
//!       wake-ups            1   (notify_one calls: only when `pending` was false)
//!       batches            15   (largest: 1 packet)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//! With `RUST_LOG=trace` every step is logged with the thread that took it.
//! A sender that finds `pending == false` wakes the writer (the C#
//! `RegisterSend`); a sender that finds `pending == true` only enqueues;
//! after each write the writer looks at the queue again, under the lock,
//! before it clears `pending` (the C# `OnSendCompleted`). An excerpt:
//!
//!     sender 0 TRACE enqueue: pending=false -> true: waking the writer
//!     sender 0 TRACE enqueue: pending=true, 2 queued: writer busy, no wake-up
//!       ...
//!     sender 0 TRACE enqueue: pending=true, 5 queued: writer busy, no wake-up
//!       writer TRACE writer: awake, 5 queued
//!       writer TRACE write: 1 packet, 34 bytes
//!       writer TRACE writer: 4 queued during the write, keeping pending
//!       ...
//!       writer TRACE writer: queue empty, pending -> false
//!     sender 1 TRACE enqueue: pending=false -> true: waking the writer
//!
//! A sender logs "waking the writer" while it still holds the lock, so that
//! line always comes before the writer's own "awake".

mod common;

use std::error::Error;

use servercore::Lesson;

const LESSON: Lesson = Lesson::SendQueue;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    if !common::small_traffic(LESSON, per_sender)? {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
