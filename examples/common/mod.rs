//! What the lesson examples 01–06 share: one loopback run of a lesson's send
//! path, its counters printed, the two parts of traffic they run, and
//! thread-named logging. Each example keeps only what is its own: the
//! lesson and what it points out.
#![allow(dead_code)] // each example uses its own part of this module

use std::error::Error;
use std::io::Write as _;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{self, Received, Verifier};
use servercore::{Lesson, StatsSnapshot, Wire};

/// Logs to stderr as `thread LEVEL message`, filtered by `RUST_LOG` (quiet by default).
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|out, record| {
            let thread = thread::current();
            let name = thread.name().unwrap_or("?");
            writeln!(out, "{name:>8} {:<5} {}", record.level(), record.args())
        })
        .init();
}

/// Packets per sender: the first command-line argument, or `default`.
pub fn per_sender_arg(default: u32) -> Result<u32, Box<dyn Error>> {
    Ok(match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => default,
    })
}

/// `senders` threads send `per_sender` numbered packets each through
/// `lesson`'s send path on a real loopback connection; a receiver thread
/// reads to the end of the stream and checks every packet.
pub fn run(
    lesson: Lesson,
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
    let send_path = lesson.start(Wire::from_stream(&server_side)?)?;

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

    // Close flushes what is queued (lessons 03 on), then shuts down the
    // write half: the receiver reads end-of-stream after the last packet.
    send_path.close();
    let received = receiver.join().expect("the receiver thread panicked")?;
    Ok((send_path.stats(), received))
}

/// Sender threads in the examples' first part.
pub const SENDERS: usize = 3;
/// Payload bytes per packet in the examples' first part.
pub const PAYLOAD: usize = 32;

/// The first part of every example 01–05: [`SENDERS`] threads ×
/// `per_sender` packets of [`PAYLOAD`] bytes through `lesson`, on default
/// socket options. Prints a heading and the counters; returns whether every
/// packet arrived intact.
pub fn small_traffic(lesson: Lesson, per_sender: u32) -> Result<bool, Box<dyn Error>> {
    println!(
        "lesson {lesson}: {SENDERS} sender threads × {per_sender} packets, \
         {PAYLOAD}-byte payloads, one loopback connection"
    );
    let (stats, received) = run(
        lesson,
        SENDERS,
        per_sender,
        PAYLOAD,
        &SocketOptions::default(),
    )?;
    print_counters(lesson, &stats, &received);
    Ok(received.ok())
}

/// Part two of examples 01 and 02: large packets from two threads into a
/// tiny kernel send buffer, so every write has to wait for room part way
/// through its packet. Prints a heading and the counters; returns what the
/// receiver found wrong, if anything.
pub fn large_packets_small_buffer(lesson: Lesson) -> Result<Option<String>, Box<dyn Error>> {
    const LARGE_SENDERS: usize = 2;
    const LARGE_PACKETS: u32 = 32;
    const LARGE_PAYLOAD: usize = 60_000;
    const SMALL_SNDBUF: usize = 4096;
    let options = SocketOptions {
        send_buffer: Some(SMALL_SNDBUF),
        ..SocketOptions::default()
    };
    println!(
        "\nlesson {lesson}: {LARGE_SENDERS} sender threads × {LARGE_PACKETS} packets, \
         {LARGE_PAYLOAD}-byte payloads, SO_SNDBUF {SMALL_SNDBUF}"
    );
    let (stats, received) = run(
        lesson,
        LARGE_SENDERS,
        LARGE_PACKETS,
        LARGE_PAYLOAD,
        &options,
    )?;
    print_counters(lesson, &stats, &received);
    Ok(received.problem)
}

/// Prints the counters of one run, and what the receiver found.
pub fn print_counters(lesson: Lesson, stats: &StatsSnapshot, received: &Received) {
    let wakeups = match lesson {
        Lesson::Naive | Lesson::Locked => "no writer thread: the caller writes",
        Lesson::ChannelWriter => "sends that found the writer parked in `recv`",
        _ => "notify_one calls: only when `pending` was false",
    };
    println!("  sends        {:>8}", stats.sends);
    println!(
        "  write calls  {:>8}   ({:.3} per send)",
        stats.write_calls,
        stats.writes_per_send()
    );
    println!("  wake-ups     {:>8}   ({wakeups})", stats.wakeups);
    if lesson.has_writer_thread() {
        println!(
            "  batches      {:>8}   (largest: {} packet{})",
            stats.batches,
            stats.max_batch,
            if stats.max_batch == 1 { "" } else { "s" }
        );
    }
    print_received(received);
}

/// Prints what the receiver found: how much arrived, and whether it verified.
pub fn print_received(received: &Received) {
    let packets = match received.packets {
        1 => "packet".to_owned(),
        _ => "packets".to_owned(),
    };
    match &received.problem {
        None => println!(
            "  received     {:>8} {packets}, {} bytes: every one verified (count, per-sender order, content)",
            received.packets, received.bytes
        ),
        Some(problem) => println!(
            "  received     {:>8} {packets} intact, {} bytes; then the stream went wrong: {problem}",
            received.packets, received.bytes
        ),
    }
}
