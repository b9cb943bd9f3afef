//! Lesson 03 — the send queue (the seed's design) on a real loopback connection.
//!
//!     cargo run --example lesson03_send_queue
//!
//! It prints the same lines on every run: the seed's "가정" (assumption)
//! case, a sender arriving while a write is in flight, made to happen by a
//! gate that holds the writer inside its first write call.
//!
//!     lesson 03 send_queue: the 가정 case, with the writer held inside write(#1) by a gate
//!       1. sender 0 sends #1: pending false -> true, the writer wakes (wake-ups: 1)
//!          the writer is inside write(#1), held at the gate
//!       2. sender 1 sends #2 #3, sender 2 sends #4 #5: pending is true, so nobody wakes the writer (wake-ups: 1)
//!       3. gate opened: the writer comes back for the queue by itself; the peer reads #1 #2 #3 #4 #5
//!          then the queue is empty, pending false, the writer asleep (write calls: 5)
//!       4. sender 0 sends #6: pending false -> true, the writer wakes again (wake-ups: 2); the peer reads #6
//!       5. close: the writer wakes, finds nothing to write and exits; the peer reads end-of-stream
//!       sends 6, write calls 6, wake-ups 2: one write call per packet, one wake-up per idle writer
//!
//! With `RUST_LOG=trace` the send path logs every step, each line named by
//! the thread that took it (`sender 1`, `writer`): `enqueue: pending is
//! true, 1 queued: no wake-up` while the write is held, then the writer's
//! `re-check: 4 queued during the write, 0 before it: keep pending`.
//!
//! Between steps the main thread waits until the kernel reports the writer
//! thread asleep (`/proc/self/task/*/stat`, Linux), so the trace is the
//! same on every run too.
//!
//! Without the gate, three senders flat out (counters only, no trace
//! worth reading):
//!
//!     cargo run --release --example lesson03_send_queue -- free 20000   # packets per sender

mod common;

use std::error::Error;
use std::fs;
use std::io::{self, Read};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use servercore::net::SocketOptions;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::workload::{Verifier, make_packet};
use servercore::{Lesson, SendPath, Wire};

const LESSON: Lesson = Lesson::SendQueue;

/// Payload bytes per packet: 34 bytes on the wire with the size header.
const PAYLOAD: usize = 32;

/// How long any one step may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None => held_write_demo(),
        Some("free") => {
            let per_sender = match args.next() {
                Some(n) => n.parse()?,
                None => 5,
            };
            if !common::small_traffic(LESSON, per_sender)? {
                return Err("not everything arrived intact".into());
            }
            Ok(())
        }
        Some(other) => Err(format!("unknown mode {other:?}: no argument, or `free N`").into()),
    }
}

/// The 가정 case, step by step, the same on every run.
fn held_write_demo() -> Result<(), Box<dyn Error>> {
    println!("lesson {LESSON}: the 가정 case, with the writer held inside write(#1) by a gate");
    let (server_side, mut client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(STEP_TIMEOUT))?;
    let gate = Gate::new();
    let path = LESSON.start(Wire::new(GatedSink::new(server_side, gate.clone())))?;
    // The peer's checker: senders 0, 1, 2, each packet in its sender's order.
    let mut peer = Verifier::new(3, PAYLOAD);
    wait_until_asleep("writer")?; // the writer waits for its first packet

    // Packet #n is sequence number `seq` of sender `sender`.
    send_from("sender 0", path.as_ref(), 0, &[0])?;
    if !gate.wait_for_arrivals(1, STEP_TIMEOUT) {
        return Err("the writer never started writing #1".into());
    }
    println!(
        "  1. sender 0 sends #1: pending false -> true, the writer wakes (wake-ups: {})",
        path.stats().wakeups
    );
    println!("     the writer is inside write(#1), held at the gate");

    send_from("sender 1", path.as_ref(), 1, &[0, 1])?;
    send_from("sender 2", path.as_ref(), 2, &[0, 1])?;
    println!(
        "  2. sender 1 sends #2 #3, sender 2 sends #4 #5: pending is true, \
         so nobody wakes the writer (wake-ups: {})",
        path.stats().wakeups
    );

    gate.open();
    read_packets(&mut client, &mut peer, 5)?;
    wait_until_asleep("writer")?;
    println!(
        "  3. gate opened: the writer comes back for the queue by itself; the peer reads #1 #2 #3 #4 #5"
    );
    println!(
        "     then the queue is empty, pending false, the writer asleep (write calls: {})",
        path.stats().write_calls
    );

    send_from("sender 0", path.as_ref(), 0, &[1])?;
    read_packets(&mut client, &mut peer, 1)?;
    wait_until_asleep("writer")?;
    println!(
        "  4. sender 0 sends #6: pending false -> true, the writer wakes again (wake-ups: {}); the peer reads #6",
        path.stats().wakeups
    );

    path.close();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after #6", rest.len()).into());
    }
    println!(
        "  5. close: the writer wakes, finds nothing to write and exits; the peer reads end-of-stream"
    );
    let stats = path.stats();
    println!(
        "  sends {}, write calls {}, wake-ups {}: one write call per packet, one wake-up per idle writer",
        stats.sends, stats.write_calls, stats.wakeups
    );
    Ok(())
}

/// Sends `seqs` as sender `sender`, from a thread named `name`, and waits
/// until it is done (one sender at a time: the trace stays in order).
fn send_from(name: &str, path: &dyn SendPath, sender: u16, seqs: &[u32]) -> io::Result<()> {
    thread::scope(|scope| {
        thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, || {
                for &seq in seqs {
                    if path.send(make_packet(sender, seq, PAYLOAD)).is_err() {
                        return Err(io::Error::other("send refused"));
                    }
                }
                Ok(())
            })?
            .join()
            .expect("a sender thread panicked")
    })
}

/// Reads `count` packets on the peer's side and checks each one.
fn read_packets(client: &mut TcpStream, peer: &mut Verifier, count: usize) -> io::Result<()> {
    let mut frame = [0u8; PAYLOAD + 2];
    for _ in 0..count {
        client.read_exact(&mut frame)?;
        if !peer.check(&frame) {
            return Err(io::Error::other(format!(
                "the peer got a bad packet: {}",
                peer.problem().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Waits until the thread called `name` is asleep (state `S` in
/// `/proc/self/task/<tid>/stat`). In this example the writer sleeps in one
/// place only between steps: on its condvar, waiting for `pending`.
fn wait_until_asleep(name: &str) -> io::Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        for task in fs::read_dir("/proc/self/task")? {
            let task = task?.path();
            // A thread may exit between the listing and the read: skip it.
            let (Ok(comm), Ok(stat)) = (
                fs::read_to_string(task.join("comm")),
                fs::read_to_string(task.join("stat")),
            ) else {
                continue;
            };
            // The state is the first field after the `)` that ends the name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if comm.trim_end() == name && state == Some("S") {
                return Ok(());
            }
        }
        thread::yield_now();
    }
    Err(io::Error::other(format!(
        "the {name} thread never went to sleep"
    )))
}
