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
//!       writer TRACE writer: awake, 1 queued
//!       writer TRACE write: 1 packet, 34 bytes
//!     sender 0 TRACE enqueue: pending=true, 1 queued: writer busy, no wake-up
//!     sender 0 TRACE enqueue: pending=true, 2 queued: writer busy, no wake-up
//!       writer TRACE writer: 2 queued during the write, keeping pending
//!       writer TRACE writer: awake, 2 queued
//!       writer TRACE write: 1 packet, 34 bytes
//!       ...
//!       writer TRACE writer: queue empty, pending -> false
//!     sender 1 TRACE enqueue: pending=false -> true: woke the writer
//!
//! A sender logs "woke the writer" after it has released the lock and
//! notified, so that line can appear just after the writer's own "awake".

use std::error::Error;
use std::io::Write as _;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{self, Received, Verifier};
use servercore::{Lesson, StatsSnapshot, Wire};

const LESSON: Lesson = Lesson::SendQueue;
const SENDERS: usize = 3;
const PAYLOAD: usize = 32;

fn main() -> Result<(), Box<dyn Error>> {
    init_logging();
    let per_sender: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };

    // A real TCP connection on loopback: we send on one end, a receiver
    // thread reads the other.
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?; // a hang becomes an error

    // The lesson's send path, writing through a counted wire to the socket.
    let send_path = LESSON.start(Wire::from_stream(&server_side)?);

    // The peer: reads to the end of the stream and checks every packet.
    let expected = SENDERS as u64 * u64::from(per_sender);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, Verifier::new(SENDERS, PAYLOAD), expected))?;

    // A few threads send at once, each its own numbered packets.
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let send_path = &send_path;
            thread::Builder::new()
                .name(format!("sender {sender}"))
                .spawn_scoped(scope, move || {
                    for seq in 0..per_sender {
                        let packet = workload::make_packet(sender as u16, seq, PAYLOAD);
                        if send_path.send(packet).is_err() {
                            return; // the connection failed: the receiver reports it
                        }
                    }
                })
                .expect("failed to spawn a sender thread");
        }
    });

    // Close flushes the queue, then shuts down the write half: the receiver
    // reads end-of-stream after the last packet.
    send_path.close();
    let received = receiver.join().expect("the receiver thread panicked")?;

    println!(
        "lesson {LESSON}: {SENDERS} sender threads × {per_sender} packets, \
         {PAYLOAD}-byte payloads, one loopback connection"
    );
    print_counters(&send_path.stats(), &received);
    if !received.ok() {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}

/// Logs to stderr as `thread LEVEL message`, filtered by `RUST_LOG` (quiet by default).
fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|out, record| {
            let thread = thread::current();
            let name = thread.name().unwrap_or("?");
            writeln!(out, "{name:>8} {:<5} {}", record.level(), record.args())
        })
        .init();
}

fn print_counters(stats: &StatsSnapshot, received: &Received) {
    println!("  sends        {:>8}", stats.sends);
    println!(
        "  write calls  {:>8}   ({:.3} per send)",
        stats.write_calls,
        stats.writes_per_send()
    );
    println!(
        "  wake-ups     {:>8}   (notify_one calls: only when `pending` was false)",
        stats.wakeups
    );
    if LESSON.has_writer_thread() {
        println!(
            "  batches      {:>8}   (largest: {} packet{})",
            stats.batches,
            stats.max_batch,
            if stats.max_batch == 1 { "" } else { "s" }
        );
    }
    match &received.problem {
        None => println!(
            "  received     {:>8} packets, {} bytes: verified (count, per-sender order, content)",
            received.packets, received.bytes
        ),
        Some(problem) => println!(
            "  received     {:>8} packets, {} bytes: NOT verified: {problem}",
            received.packets, received.bytes
        ),
    }
}
