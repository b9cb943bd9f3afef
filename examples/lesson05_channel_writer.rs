//! Lesson 05 — the channel writer on a real loopback connection.
//!
//!     cargo run --example lesson05_channel_writer
//!     RUST_LOG=trace cargo run --example lesson05_channel_writer
//!     cargo run --release --example lesson05_channel_writer -- 200000   # packets per sender, part two
//!
//! It prints two parts, as lesson 04's example does. In the first the
//! writer is held on a gate inside its write of the first packet while 4
//! more are sent, then let go: `recv` takes one of the 4, `try_iter` the
//! other 3, and they leave in one vectored write. The lesson counts a
//! wake-up only when a send finds the writer already parked in `recv`; the
//! example pauses before the first send so that the writer is there (take
//! the pause out and the count is sometimes 0). The second part lets three
//! threads send at once:
//!
//!     lesson 05 channel_writer: 1 packet, the writer held in its write, 4 more sent, the writer let go
//!       sends               5
//!       write calls         2   (0.400 per send)
//!       wake-ups            1   (sends that found the writer parked in `recv`)
//!       batches             2   (largest: 4 packets)
//!       received            5 packets, 170 bytes: verified (count, per-sender order, content)
//!
//!     lesson 05 channel_writer: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls         2   (0.133 per send)
//!       wake-ups            2   (sends that found the writer parked in `recv`)
//!       batches             2   (largest: 10 packets)
//!       received           15 packets, 510 bytes: verified (count, per-sender order, content)
//!
//! With `RUST_LOG=trace` each send says whether it found the writer parked
//! in `recv` (`count a wake-up`) or not, and each `write:` line gives the
//! batch.

mod common;

use std::error::Error;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::Lesson;
use servercore::Wire;
use servercore::net::SocketOptions;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::workload::{self, Verifier};

const LESSON: Lesson = Lesson::ChannelWriter;

/// Packets sent while the writer is held, in part one.
const HELD: u32 = 4;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    let held_ok = held_writer()?;
    println!();
    let free_ok = common::small_traffic(LESSON, per_sender)?;
    if !(held_ok && free_ok) {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}

/// Part one: the first packet's write is held at a gate (in front of the
/// real socket) while [`HELD`] more packets are sent; then the gate opens.
/// Returns whether every packet arrived intact.
fn held_writer() -> Result<bool, Box<dyn Error>> {
    println!(
        "lesson {LESSON}: 1 packet, the writer held in its write, {HELD} more sent, the writer let go"
    );
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let gate = Gate::new();
    let send_path = LESSON.start(Wire::new(GatedSink::new(server_side, Arc::clone(&gate))))?;
    let total = 1 + HELD;
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            workload::receive(&client, Verifier::new(1, common::PAYLOAD), total.into())
        })?;
    // Let the writer thread reach its wait first, so the first send has
    // somebody to wake (without this pause it usually does too, not always).
    thread::sleep(Duration::from_millis(50));
    let sent = thread::scope(|scope| {
        thread::Builder::new()
            .name("sender 0".into())
            .spawn_scoped(scope, || -> Result<(), String> {
                let packet = |seq| workload::make_packet(0, seq, common::PAYLOAD);
                send_path.send(packet(0)).map_err(|e| e.to_string())?;
                // The writer is now on its way into the write call for
                // packet 0; wait until it is held at the gate.
                if !gate.wait_for_arrivals(1, Duration::from_secs(10)) {
                    return Err("the writer never reached the gate".into());
                }
                log::trace!("gate: the writer is held inside its write; {HELD} more sends");
                for seq in 1..total {
                    // Queued: the writer is busy, so nobody is woken.
                    send_path.send(packet(seq)).map_err(|e| e.to_string())?;
                }
                log::trace!("gate: open");
                gate.open();
                Ok(())
            })
            .map(|sender| sender.join().expect("the sender thread panicked"))
    })?;
    sent?;
    send_path.close();
    let received = receiver.join().expect("the receiver thread panicked")?;
    common::print_counters(LESSON, &send_path.stats(), &received);
    Ok(received.ok())
}
