//! Lesson 04 — the batched writer on a real loopback connection.
//!
//!     cargo run --example lesson04_batched_writer
//!     RUST_LOG=trace cargo run --example lesson04_batched_writer
//!     cargo run --release --example lesson04_batched_writer -- 200000   # packets per sender
//!
//! It prints (one run; how packets fall into batches varies from run to run):
//!
//!     lesson 04 batched_writer: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls         1   (0.067 per send)
//!       wake-ups            1   (notify_one calls: only when `pending` was false)
//!       batches             1   (largest: 15 packets)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//! With `RUST_LOG=trace` you see the same hand-off as lesson 03, but each
//! `write:` line now carries every packet queued since the last write
//! (`write: 6 packets, 204 bytes`). With 200,000 packets per sender one run
//! made 589 write calls for 600,000 sends (0.001 per send).

mod common;

use std::error::Error;

use servercore::Lesson;

const LESSON: Lesson = Lesson::BatchedWriter;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    if !common::small_traffic(LESSON, per_sender)? {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
