//! Lesson 06 — send buffers, on a real loopback connection.
//!
//!     cargo run --example lesson06_send_buffers
//!     RUST_LOG=trace cargo run --example lesson06_send_buffers
//!     cargo run --release --example lesson06_send_buffers -- 200000   # packets per sender
//!
//! Three sender threads each serialize their packets into their own
//! thread's send buffer (`lesson06_send_buffers::packet`) and send them through
//! lesson 04's batched writer. It prints the send path's counters, and for
//! each sender how many chunks its send buffer allocated and how many times
//! it reused one, and the allocations its thread made while building
//! packets (counted by a counting global allocator). One run printed:
//!
//!     lesson 06 send_buffers: 3 sender threads × 5 packets, 32-byte payloads, one loopback connection
//!       sends              15
//!       write calls         1   (0.067 per send)
//!       wake-ups            1
//!       batches             1   (largest: 15 packets)
//!       sender 0: 1 chunk allocated, 0 reused; 3 allocations for 5 packets (0.600 per packet)
//!       sender 1: 1 chunk allocated, 0 reused; 3 allocations for 5 packets (0.600 per packet)
//!       sender 2: 1 chunk allocated, 0 reused; 3 allocations for 5 packets (0.600 per packet)
//!       received           15 packets, 510 bytes: every one verified (count, per-sender order, content)
//!
//! The three allocations are the thread's send buffer setting up: its first
//! chunk, its list of retired chunks, and the chunk's shared reference
//! count (made when the first slice is cut). After that, packets cost
//! nothing until the chunk is full. With `-- 200000` one run allocated
//! about 100 chunks per sender and reused 1 to 3 (203 allocations for
//! 200,000 packets): how many chunks are reused depends on how far the
//! writer lags, since a chunk is reused only once all its packets are
//! written and dropped. With `RUST_LOG=trace` you see lesson 04's trace,
//! each line named by its thread (`sender 0`, `writer`).

mod common;

use std::error::Error;
use std::thread;
use std::time::Duration;

use servercore::alloc_count::{CountingAlloc, thread_allocs};
use servercore::lessons::lesson04_batched_writer::BatchedWriter;
use servercore::lessons::lesson06_send_buffers;
use servercore::lessons::lesson06_send_buffers::SendBuffer;
use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{self, Verifier};
use servercore::{SendPath, Wire};

use common::{PAYLOAD, SENDERS};

/// Counts each thread's allocations (one thread-local add per allocation).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let per_sender = common::per_sender_arg(5)?;
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?; // a hang becomes an error
    let send_path = BatchedWriter::new(Wire::from_stream(&server_side)?)?;

    let expected = SENDERS as u64 * u64::from(per_sender);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, Verifier::new(SENDERS, PAYLOAD), expected))?;

    // Each sender serializes into its own thread's send buffer.
    let per_thread: Vec<(u64, u64, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let send_path = &send_path;
                let thread = thread::Builder::new().name(format!("sender {sender}"));
                let handle = thread.spawn_scoped(scope, move || {
                    // Allocations made while *building* packets (sending
                    // may also grow the queue's `Vec` now and then).
                    let mut allocs = 0;
                    for seq in 0..per_sender {
                        let before = thread_allocs();
                        let packet = lesson06_send_buffers::packet(PAYLOAD, |body| {
                            workload::fill_payload(body, sender as u16, seq)
                        })
                        .expect("32 bytes fit a packet");
                        allocs += thread_allocs() - before;
                        if send_path.send(packet).is_err() {
                            break; // the connection failed: the receiver reports it
                        }
                    }
                    let (allocated, reused) =
                        SendBuffer::with(|b| (b.chunks_allocated(), b.chunks_recycled()));
                    (allocated, reused, allocs)
                });
                handle.expect("failed to spawn a sender thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a sender thread panicked"))
            .collect()
    });

    send_path.close();
    let received = receiver.join().expect("the receiver thread panicked")?;
    let stats = send_path.stats();
    println!(
        "lesson 06 send_buffers: {SENDERS} sender threads × {per_sender} packets, \
         {PAYLOAD}-byte payloads, one loopback connection"
    );
    println!("  sends        {:>8}", stats.sends);
    println!(
        "  write calls  {:>8}   ({:.3} per send)",
        stats.write_calls,
        stats.writes_per_send()
    );
    println!("  wake-ups     {:>8}", stats.wakeups);
    println!(
        "  batches      {:>8}   (largest: {} packets)",
        stats.batches, stats.max_batch
    );
    for (sender, (allocated, reused, allocs)) in per_thread.iter().enumerate() {
        println!(
            "  sender {sender}: {allocated} chunk{} allocated, {reused} reused; \
             {allocs} allocations for {per_sender} packets ({:.3} per packet)",
            if *allocated == 1 { "" } else { "s" },
            *allocs as f64 / f64::from(per_sender.max(1))
        );
    }
    common::print_received(&received);
    if !received.ok() {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
