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

use std::error::Error;
use std::io::Write as _;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{self, Received, Verifier};
use servercore::{Lesson, StatsSnapshot, Wire};

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
    init_logging();
    let per_sender: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };

    // Part one: a little traffic, counted.
    println!(
        "lesson {LESSON}: {SENDERS} sender threads × {per_sender} packets, \
         {PAYLOAD}-byte payloads, one loopback connection"
    );
    let (stats, received) = run(SENDERS, per_sender, PAYLOAD, &SocketOptions::default())?;
    print_counters(&stats, &received);
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
    let (stats, received) = run(LARGE_SENDERS, LARGE_PACKETS, LARGE_PAYLOAD, &options)?;
    print_counters(&stats, &received);
    match received.problem {
        Some(_) => return Err("lesson 02 must never interleave packets".into()),
        None => println!("  => intact: the lock keeps each packet's bytes together."),
    }
    if !small_ok {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}

/// Sends `per_sender` packets from each of `senders` threads through the
/// lesson's send path on a fresh loopback connection; returns the send
/// path's counters and what the receiver saw.
fn run(
    senders: usize,
    per_sender: u32,
    payload: usize,
    options: &SocketOptions,
) -> Result<(StatsSnapshot, Received), Box<dyn Error>> {
    // A real TCP connection on loopback: we send on one end, a receiver
    // thread reads the other.
    let (server_side, client) = socket_pair(options)?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?; // a hang becomes an error

    // The lesson's send path, writing through a counted wire to the socket.
    let send_path = LESSON.start(Wire::from_stream(&server_side)?);

    // The peer: reads to the end of the stream and checks every packet.
    // It stops at the first bad packet and hangs up, so a sender blocked
    // on a full socket gets an error instead of waiting forever.
    let expected = senders as u64 * u64::from(per_sender);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, Verifier::new(senders, payload), expected))?;

    // The threads send at once, each its own numbered packets.
    thread::scope(|scope| {
        for sender in 0..senders {
            let send_path = &send_path;
            thread::Builder::new()
                .name(format!("sender {sender}"))
                .spawn_scoped(scope, move || {
                    for seq in 0..per_sender {
                        let packet = workload::make_packet(sender as u16, seq, payload);
                        if send_path.send(packet).is_err() {
                            return; // the connection failed: the receiver reports why
                        }
                    }
                })
                .expect("failed to spawn a sender thread");
        }
    });

    // Close shuts down the write half: the receiver reads end-of-stream.
    send_path.close();
    let received = receiver.join().expect("the receiver thread panicked")?;
    Ok((send_path.stats(), received))
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
        "  wake-ups     {:>8}   (no writer thread: the caller writes)",
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
