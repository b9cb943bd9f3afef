//! Lesson 02 — the locked send on a real loopback connection.
//!
//!     cargo run --example lesson02_locked
//!     RUST_LOG=trace cargo run --example lesson02_locked
//!
//! The same two parts as lesson 01: a little traffic, counted; then two
//! threads sending 60,000-byte packets into a 4 KiB kernel send buffer. With
//! the lock, part two arrives intact every time. Part three shows who waits:
//! the peer reads nothing for its first 200 ms, sender 0's large packet
//! fills the socket and its write blocks holding the lock, and sender 1,
//! with 34 bytes to hand over, waits for the lock until the peer reads.
//! One run printed:
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
//!
//!     lesson 02 locked, who waits: SO_SNDBUF and SO_RCVBUF 4096, the receiver reads nothing for 200 ms
//!       sender 0   4 sends of 60002 bytes from 0 ms, each larger than the socket's buffers
//!       sender 1   1 send of 34 bytes at 51 ms: returned at 204 ms, after waiting 153 ms
//!       receiver   reads from 203 ms on: 240042 bytes, then the end of the stream
//!       sender 0   its last send returned at 204 ms
//!       => sender 1's 34 bytes waited until the peer read: under the lock, a caller waits for every other
//!          caller's write, and so for the network. Lesson 03 gives the waiting to one writer thread.

mod common;

use std::error::Error;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::make_packet;
use servercore::{Lesson, Wire};

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
    // Part three: a peer that does not read yet, and a caller with a small packet.
    who_waits()?;
    if !small_ok {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}

/// How long the receiver reads nothing.
const STALL: Duration = Duration::from_millis(200);
/// When sender 1 starts: long after sender 0's first write has blocked.
const HEAD_START: Duration = Duration::from_millis(50);
/// Sender 0's packets: each far larger than the socket's buffers.
const BIG_PACKETS: u32 = 4;
const BIG_PAYLOAD: usize = 60_000;
/// Sender 1's one packet.
const SMALL_PAYLOAD: usize = 32;

/// Sender 0 blocks in `write` on a peer that does not read yet, holding
/// the lock; sender 1 sends one small packet meanwhile. Prints, per thread,
/// when each send started and returned.
fn who_waits() -> Result<(), Box<dyn Error>> {
    let options = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let (server_side, client) = socket_pair(&options)?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let send_path = LESSON.start(Wire::from_stream(&server_side)?)?;
    println!(
        "\nlesson {LESSON}, who waits: SO_SNDBUF and SO_RCVBUF 4096, the receiver reads nothing \
         for {} ms",
        STALL.as_millis()
    );
    let start = Instant::now();
    let ms = move || start.elapsed().as_millis();

    // The peer: nothing for STALL, then everything to the end of the stream.
    let receiver = thread::Builder::new().name("receiver".into()).spawn(
        move || -> io::Result<(u128, u64)> {
            thread::sleep(STALL);
            let began = ms();
            Ok((began, io::copy(&mut &client, &mut io::sink())?))
        },
    )?;

    let (big_done, (small_began, small_done)) = thread::scope(|scope| {
        let path = &send_path;
        let big = thread::Builder::new()
            .name("sender 0".into())
            .spawn_scoped(scope, move || {
                for seq in 0..BIG_PACKETS {
                    let _ = path.send(make_packet(0, seq, BIG_PAYLOAD));
                }
                ms()
            })?;
        thread::sleep(HEAD_START);
        let small = thread::Builder::new()
            .name("sender 1".into())
            .spawn_scoped(scope, move || {
                let began = ms();
                let _ = path.send(make_packet(1, 0, SMALL_PAYLOAD));
                (began, ms())
            })?;
        let big = big.join().expect("sender 0 panicked");
        let small = small.join().expect("sender 1 panicked");
        Ok::<_, io::Error>((big, small))
    })?;
    send_path.close();
    let (read_from, bytes) = receiver.join().expect("the receiver panicked")?;

    println!(
        "  sender 0   {BIG_PACKETS} sends of {} bytes from 0 ms, each larger than the socket's \
         buffers",
        BIG_PAYLOAD + 2
    );
    println!(
        "  sender 1   1 send of {} bytes at {small_began} ms: returned at {small_done} ms, \
         after waiting {} ms",
        SMALL_PAYLOAD + 2,
        small_done - small_began
    );
    println!(
        "  receiver   reads from {read_from} ms on: {bytes} bytes, then the end of the stream"
    );
    println!("  sender 0   its last send returned at {big_done} ms");
    if LESSON == Lesson::Locked {
        println!(
            "  => sender 1's 34 bytes waited until the peer read: under the lock, a caller waits for \
             every other\n     caller's write, and so for the network. Lesson 03 gives the waiting \
             to one writer thread."
        );
    }
    Ok(())
}
