//! Lesson 05 — the channel writer on a real loopback connection.
//!
//!     cargo run --example lesson05_channel_writer
//!     RUST_LOG=trace cargo run --example lesson05_channel_writer
//!     cargo run --release --example lesson05_channel_writer -- 200000   # packets per sender
//!
//! It prints (one run; how packets fall into batches varies from run to run):
//!
//!     lesson 05 channel_writer: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls         2   (0.133 per send)
//!       wake-ups            2   (sends that found the writer parked in `recv`)
//!       batches             2   (largest: 10 packets)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//! Wake-ups here are an estimate: the channel wakes its receiver inside
//! `crossbeam-channel`; the lesson counts a send that found the writer
//! parked in `recv`. With `RUST_LOG=trace` each send says whether it woke
//! the writer, and each `write:` line gives the batch. With 200,000 packets
//! per sender one run made 586 write calls for 600,000 sends (0.001 per send).

mod common;

use std::error::Error;

use servercore::Lesson;

const LESSON: Lesson = Lesson::ChannelWriter;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    if !common::small_traffic(LESSON, per_sender)? {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
