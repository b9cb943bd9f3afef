//! Lesson 06 — send buffers: what its tests prove.
//!
//! * A packet still queued on a slow session (its writer held on a gate)
//!   is never overwritten while the same thread serializes many more
//!   packets into its send buffer: its bytes stay as they were, and every
//!   packet arrives intact and in order once the writer goes on.
//! * In steady state (the writer keeps up) a packet costs no allocation:
//!   the chunk is recycled instead. Counted with a counting global allocator.
//!
//! Counts and bytes only; nothing here depends on timing.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use servercore::alloc_count::{CountingAlloc, thread_allocs};
use servercore::lessons::lesson04_batched_writer::BatchedWriter;
use servercore::lessons::lesson06_send_buffers;
use servercore::lessons::lesson06_send_buffers::{CHUNK_SIZE, SendBuffer};
use servercore::net::SocketOptions;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::workload::{self, Received, Verifier};
use servercore::{Packet, SendPath, Wire};

/// Counts this test binary's allocations per thread.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Packet `seq` of sender 0, serialized through this thread's send buffer.
fn packet(seq: u32, payload: usize) -> Packet {
    lesson06_send_buffers::packet(payload, |body| workload::fill_payload(body, 0, seq)).unwrap()
}

/// Reads the client end to the end of the stream on a thread of its own.
fn receiver(client: TcpStream, payload: usize, expected: u64) -> thread::JoinHandle<Received> {
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    thread::spawn(move || workload::receive(&client, Verifier::new(1, payload), expected).unwrap())
}

/// Waits (bounded) until the writer has written and dropped every packet
/// of this thread's retired chunks, so the next refill can reuse one.
fn wait_idle() {
    let deadline = Instant::now() + TIMEOUT;
    while !SendBuffer::with(|b| b.retired_all_free()) {
        assert!(
            Instant::now() < deadline,
            "the writer did not drain its queue"
        );
        thread::yield_now();
    }
}

#[test]
fn a_queued_slice_is_never_overwritten_by_later_packets() {
    const PAYLOAD: usize = 32;
    // Enough packets to fill the chunk several times over.
    const LATER: u32 = 3 * (CHUNK_SIZE / (PAYLOAD + 2)) as u32;

    let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
    let gate = Gate::new();
    let path = BatchedWriter::new(Wire::new(GatedSink::new(server_side, gate.clone()))).unwrap();
    let received = receiver(client, PAYLOAD, u64::from(LATER) + 1);

    // The first packet: the writer takes it and stops at the gate, inside
    // its write call, holding the packet's slice of this thread's chunk.
    let first = packet(0, PAYLOAD);
    let first_bytes = first.as_bytes().to_vec();
    let held = first.clone(); // our own look at the same slice
    path.send(first).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );

    // Many more packets through the same thread's send buffer, queued
    // behind the held writer: the chunk fills and must move on.
    let allocated_before = SendBuffer::with(|b| b.chunks_allocated());
    for seq in 1..=LATER {
        path.send(packet(seq, PAYLOAD)).unwrap();
    }
    let (allocated, recycled) = SendBuffer::with(|b| (b.chunks_allocated(), b.chunks_recycled()));
    assert_eq!(
        held.as_bytes(),
        &first_bytes[..],
        "a held slice was overwritten"
    );
    assert!(
        allocated >= allocated_before + 2,
        "the chunk is still in use, so new chunks are taken ({allocated_before} -> {allocated})"
    );
    assert_eq!(
        recycled, 0,
        "no chunk can be recycled while its slices are queued"
    );

    gate.open();
    path.close();
    let got = received.join().unwrap();
    assert!(got.ok(), "{got}");
    assert_eq!(got.packets, u64::from(LATER) + 1);
    assert_eq!(held.as_bytes(), &first_bytes[..]);
}

#[test]
fn steady_state_costs_no_allocation_per_packet() {
    const PAYLOAD: usize = 32;
    const PER_ROUND: u32 = 200;
    // Warm-up: two chunks get allocated: the
    // first, and a second when the first fills (after ~1,900 packets of 34
    // bytes) while we still hold its first packet (`pin`), so that it
    // cannot be reused at that moment. That makes the warm-up the same
    // every run, however fast the writer is.
    const WARM_UP: u32 = 15;
    const ROUNDS: u32 = 60; // then 45 × 200 × 34 bytes: 4+ chunks' worth, all recycled

    let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
    let path = BatchedWriter::new(Wire::from_stream(&server_side).unwrap()).unwrap();
    let received = receiver(client, PAYLOAD, u64::from(ROUNDS * PER_ROUND));

    let mut seq = 0;
    let mut pin = None;
    // Allocations made while building packets in steady state. (Only the
    // building is counted: `send` pushes onto the queue's `Vec`, which may
    // still double once if a later round queues more than any before.)
    let mut allocs = 0;
    let mut recycled_at_steady_state = 0;
    for round in 0..ROUNDS {
        if round == WARM_UP {
            assert_eq!(SendBuffer::with(|b| b.chunks_allocated()), 2);
            drop(pin.take());
            // From here on: the chunks exist.
            recycled_at_steady_state = SendBuffer::with(|b| b.chunks_recycled());
        }
        for _ in 0..PER_ROUND {
            let before = thread_allocs();
            let p = packet(seq, PAYLOAD);
            if round >= WARM_UP {
                allocs += thread_allocs() - before;
            }
            if seq == 0 {
                pin = Some(p.clone());
            }
            path.send(p).unwrap();
            seq += 1;
        }
        // The writer keeps up: everything written and released. (Not
        // during the warm-up: `pin` holds the first chunk on purpose.)
        if round >= WARM_UP {
            wait_idle();
        }
    }
    let packets = (ROUNDS - WARM_UP) * PER_ROUND;
    let recycled = SendBuffer::with(|b| b.chunks_recycled()) - recycled_at_steady_state;
    let (a, r) = SendBuffer::with(|b| (b.chunks_allocated(), b.chunks_recycled()));
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {packets} packets; chunks allocated {a}, recycled {r}"
    );
    assert!(recycled >= 3, "the chunk was recycled {recycled} times");

    path.close();
    let got = received.join().unwrap();
    assert!(got.ok(), "{got}");
    assert_eq!(got.packets, u64::from(ROUNDS * PER_ROUND));
}

#[test]
fn a_fresh_packet_per_send_allocates_and_the_counter_sees_it() {
    // The control: the counting allocator is installed and counts this
    // thread, and lesson 04's way of building a packet allocates.
    assert!(servercore::alloc_count::is_counting());
    let before = thread_allocs();
    let packets: Vec<Packet> = (0..100)
        .map(|seq| workload::make_packet(0, seq, 32))
        .collect();
    assert!(
        thread_allocs() - before >= 100,
        "one allocation per packet at least"
    );
    drop(packets);
}

#[test]
fn packets_from_several_threads_arrive_intact_and_in_order() {
    const SENDERS: usize = 4;
    const EACH: u32 = 20_000;
    const PAYLOAD: usize = 100;
    let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
    let path = BatchedWriter::new(Wire::from_stream(&server_side).unwrap()).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let expected = SENDERS as u64 * u64::from(EACH);
    let received = thread::spawn(move || {
        workload::receive(&client, Verifier::new(SENDERS, PAYLOAD), expected).unwrap()
    });
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let path = &path;
            scope.spawn(move || {
                for seq in 0..EACH {
                    let p = lesson06_send_buffers::packet(PAYLOAD, |body| {
                        workload::fill_payload(body, sender as u16, seq)
                    })
                    .unwrap();
                    path.send(p).unwrap();
                }
            });
        }
    });
    path.close();
    let got = received.join().unwrap();
    assert!(got.ok(), "{got}");
    assert_eq!(got.packets, expected);
}
