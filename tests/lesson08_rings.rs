//! Lesson 08 — per-sender rings: what its tests prove, on real loopback
//! sockets.
//!
//! * With 4 and with 16 sender threads every packet arrives intact and in
//!   its sender's order (the receiver verifies each one); 16 senders hold
//!   16 rings, so the memory is bounded: 16 × the ring's capacity.
//! * `send_with` frames straight into the ring, with the same guarantees.
//! * Partial writes (4 KiB socket buffers, a reader that starts late, and a
//!   sink that cuts every write call short inside a frame) lose nothing and
//!   let no other ring's bytes into a frame.
//! * A full ring blocks its sender until the writer (held on a gate) frees
//!   room; then everything arrives, in order.
//! * Held on a gate, 1 + 99 packets cost exactly 2 write calls and 1
//!   wake-up: the "가정" case, with an atomic flag.
//! * In steady state a send costs its caller no allocation (counted).
//! * abort drops what is published and counts it; a refused `send_with`
//!   gives its packet back.
//!
//! Counts, order and bytes only; nothing here depends on timing.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use common::*;
use servercore::alloc_count::{CountingAlloc, thread_allocs};
use servercore::lessons::lesson08_rings::{RING_CAPACITY, RingPath, WhenFull};
use servercore::lessons::lesson10_backpressure::{Backpressure, Policy};
use servercore::testing::{Gate, GatedSink};
use servercore::workload::{fill_payload, make_packet};
use servercore::{Lesson, SendError, SendPath, Wire};

/// Counts this test binary's allocations per thread.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn four_senders_arrive_intact_and_in_order() {
    verified_burst(Lesson::Rings, 4, 20_000, 32);
}

#[test]
fn sixteen_senders_arrive_intact_and_in_order_in_sixteen_rings() {
    const SENDERS: usize = 16;
    const EACH: u32 = 5_000;
    let total = SENDERS as u64 * u64::from(EACH);
    let (server, client) = pair();
    let path = RingPath::new(Wire::from_stream(&server).unwrap()).unwrap();
    let receiver = spawn_receiver(client, SENDERS, 32, total);
    send_from_threads(&path, SENDERS, EACH, 32);
    // One ring per sender thread: the memory is bounded by senders × capacity.
    assert_eq!(path.rings(), SENDERS);
    assert_eq!(path.ring_capacity(), RING_CAPACITY);
    path.close();
    assert_received(receiver, total);
    assert_eq!(path.stats().sends, total);
}

#[test]
fn send_with_frames_in_place_intact_and_in_order() {
    const SENDERS: usize = 4;
    const EACH: u32 = 20_000;
    const PAYLOAD: usize = 100;
    let total = SENDERS as u64 * u64::from(EACH);
    let (server, client) = pair();
    let path = RingPath::new(Wire::from_stream(&server).unwrap()).unwrap();
    let receiver = spawn_receiver(client, SENDERS, PAYLOAD, total);
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let path = &path;
            scope.spawn(move || {
                for seq in 0..EACH {
                    path.send_with(PAYLOAD, &mut |body| fill_payload(body, sender as u16, seq))
                        .unwrap();
                }
            });
        }
    });
    path.close();
    assert_received(receiver, total);
}

/// Two threads queue 64 KiB packets on rings large enough to hold them all,
/// over 4 KiB socket buffers, on the wire `make_wire` builds; the reader
/// starts only once every packet is published, so the writer meets a full
/// socket buffer. Every byte arrives intact and in order.
fn big_packets_late_reader(make_wire: impl FnOnce(TcpStream) -> Wire) -> servercore::StatsSnapshot {
    const PER_SENDER: u32 = 12; // 12 × 65,002 bytes: fits a 1 MiB ring
    let total = BIG_SENDERS as u64 * u64::from(PER_SENDER);
    let (server, client) = pair_with(&small_buffers());
    let path = RingPath::with_capacity(make_wire(server), 1024 * 1024).unwrap();
    send_from_threads(&path, BIG_SENDERS, PER_SENDER, BIG_PAYLOAD);
    assert_eq!(
        path.stats().sends,
        total,
        "every send returned: all published"
    );
    let receiver = spawn_receiver(client, BIG_SENDERS, BIG_PAYLOAD, total);
    path.close();
    assert_received(receiver, total);
    let stats = path.stats();
    assert_eq!(stats.bytes_written, total * (BIG_PAYLOAD as u64 + 2));
    stats
}

#[test]
fn tiny_socket_buffers_and_a_late_reader_lose_nothing() {
    big_packets_late_reader(Wire::new);
}

#[test]
fn short_writes_resume_inside_the_frame_they_cut() {
    const CAP: usize = 10_007;
    let stats = big_packets_late_reader(|socket| Wire::new(CappedSink::new(socket, CAP)));
    // Every call moves at most CAP bytes: the writer resumed many times,
    // mostly inside a frame, and the receiver found every frame whole.
    assert!(
        stats.write_calls >= stats.bytes_written.div_ceil(CAP as u64),
        "{stats:?}"
    );
    assert!(stats.write_calls > stats.batches, "{stats:?}");
}

#[test]
fn a_full_ring_blocks_its_sender_until_the_writer_frees_room() {
    const RING: usize = 1024;
    const PAYLOAD: usize = 32; // 34 bytes on the wire: 30 fit in the ring
    const AFTER: u32 = 30; // packets 1..=30 behind packet 0: the 30th does not fit
    let (server, client) = pair();
    let gate = Gate::new();
    let path =
        RingPath::with_capacity(Wire::new(GatedSink::new(server, gate.clone())), RING).unwrap();
    let receiver = spawn_receiver(client, 1, PAYLOAD, u64::from(AFTER) + 1);

    thread::scope(|scope| {
        let (path, gate) = (&path, &gate);
        let (done, finished) = mpsc::channel();
        scope.spawn(move || {
            // Packet 0: the writer takes it and is held at the gate, inside
            // its write, so its 34 bytes are not given back.
            path.send(make_packet(0, 0, PAYLOAD)).unwrap();
            assert!(
                gate.wait_for_arrivals(1, TIMEOUT),
                "the writer never reached the gate"
            );
            send_seqs(path, 0, 1..AFTER + 1, PAYLOAD);
            done.send(()).unwrap();
        });
        // The sender fills the ring (29 more packets fit beside packet 0) and
        // blocks on the 30th: the writer, held, frees nothing.
        let deadline = Instant::now() + TIMEOUT;
        while path.stats().blocked_sends == 0 {
            assert!(
                Instant::now() < deadline,
                "the sender never blocked: {:?}",
                path.stats()
            );
            thread::yield_now();
        }
        let stats = path.stats();
        assert_eq!(stats.sends, 30, "packet 0 and the 29 that fit: {stats:?}");
        assert!(finished.try_recv().is_err(), "the blocked send returned");
        assert_eq!(stats.queued_bytes, 30 * 34, "{stats:?}");

        gate.open(); // the writer writes, frees the ring, wakes the sender
        finished
            .recv_timeout(TIMEOUT)
            .expect("the blocked sender was never woken");
    });
    path.close();
    assert_received(receiver, u64::from(AFTER) + 1);
    let stats = path.stats();
    assert_eq!(stats.sends, u64::from(AFTER) + 1);
    assert_eq!(stats.blocked_sends, 0);
}

#[test]
fn under_reject_a_full_ring_gives_the_packet_back_and_loses_nothing_else() {
    const RING: usize = 1024;
    const PAYLOAD: usize = 32; // 34 bytes on the wire: 30 fit in the ring
    let (server, client) = pair();
    let gate = Gate::new();
    let wire = Wire::new(GatedSink::new(server, gate.clone()));
    let path = RingPath::with_config(wire, RING, WhenFull::Reject).unwrap();
    // Packet 0: the writer takes it and is held at the gate, inside its write.
    path.send(make_packet(0, 0, PAYLOAD)).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );
    send_seqs(&path, 0, 1..30, PAYLOAD); // the 29 that fit beside packet 0
    let refused = make_packet(0, 30, PAYLOAD);
    assert_eq!(path.send(refused.clone()), Err(SendError::Full(refused)));
    match path.send_with(PAYLOAD, &mut |body| fill_payload(body, 0, 30)) {
        Err(SendError::Full(packet)) => assert_eq!(packet, make_packet(0, 30, PAYLOAD)),
        other => panic!("expected Full with the packet back, got {other:?}"),
    }
    assert_eq!(path.stats().sends, 30, "{:?}", path.stats());
    let receiver = spawn_receiver(client, 1, PAYLOAD, 30);
    gate.open();
    path.close();
    assert_received(receiver, 30); // exactly the accepted ones, in order
}

#[test]
fn the_catalog_runs_rings_under_their_own_limit() {
    // Under block and reject the ring's capacity is the limit: the largest
    // power of two at most the limit (and at most RING_CAPACITY).
    for (limit, capacity) in [(4096, 4096), (6000, 4096), (1000, 512)] {
        let (server, _client) = pair();
        let wire = Wire::from_stream(&server).unwrap();
        let path = Lesson::Rings
            .start_with(wire, Backpressure::new(limit, Policy::Reject))
            .unwrap();
        // A packet larger than a ring can never be sent: Full at once.
        let too_big = make_packet(0, 0, capacity - 1);
        assert_eq!(
            path.send(too_big.clone()),
            Err(SendError::Full(too_big)),
            "limit {limit}"
        );
        let fits = make_packet(0, 0, capacity - 2);
        assert_eq!(path.send(fits), Ok(()), "limit {limit}");
        path.abort();
    }
    // The server's default limit: rings of RING_CAPACITY, which hold the
    // largest packet the format allows.
    let (server, _client) = pair();
    let wire = Wire::from_stream(&server).unwrap();
    let path = Lesson::Rings
        .start_with(wire, Backpressure::new(1 << 20, Policy::Reject))
        .unwrap();
    const { assert!(RING_CAPACITY > servercore::packet::MAX_PACKET_LEN) };
    let biggest = make_packet(0, 0, servercore::packet::MAX_PAYLOAD_LEN);
    assert_eq!(path.send(biggest), Ok(()));
    path.abort();
}

#[test]
fn held_on_a_gate_a_burst_costs_two_writes_and_one_wakeup() {
    let burst = gated_burst(Lesson::Rings, 99, 32);
    assert_eq!(burst.at_gate.wakeups, 1, "the first send woke the writer");
    assert_eq!(
        burst.after_burst.wakeups, 1,
        "the 99 behind the held write found pending true and woke nobody"
    );
    // Packet 0's write (held), then ONE writev for the 99 published meanwhile.
    assert_eq!(burst.after_close.write_calls, 2, "{:?}", burst.after_close);
    assert_eq!(burst.after_close.sends, 100);
}

#[test]
fn steady_state_sends_cost_no_allocation() {
    const PAYLOAD: usize = 32;
    const WARM_UP: u32 = 20_000; // wraps the 256 KiB ring twice (34-byte frames)
    const COUNTED: u32 = 100_000;
    let (server, client) = pair();
    let path = RingPath::new(Wire::from_stream(&server).unwrap()).unwrap();
    let receiver = spawn_receiver(client, 1, PAYLOAD, u64::from(WARM_UP + COUNTED));
    // Warm-up: the first send registers this thread's ring (allocations),
    // the first frame that wraps round the ring's end allocates its scratch.
    for seq in 0..WARM_UP {
        path.send_with(PAYLOAD, &mut |body| fill_payload(body, 0, seq))
            .unwrap();
    }
    let before = thread_allocs();
    for seq in WARM_UP..WARM_UP + COUNTED {
        path.send_with(PAYLOAD, &mut |body| fill_payload(body, 0, seq))
            .unwrap();
    }
    let allocs = thread_allocs() - before;
    assert_eq!(allocs, 0, "{allocs} allocations for {COUNTED} sends");
    path.close();
    assert_received(receiver, u64::from(WARM_UP + COUNTED));
}

#[test]
fn send_of_a_built_packet_copies_it_and_allocates_nothing() {
    let (server, client) = pair();
    let path = RingPath::new(Wire::from_stream(&server).unwrap()).unwrap();
    let receiver = spawn_receiver(client, 1, 32, 2);
    path.send(make_packet(0, 0, 32)).unwrap(); // registers the ring
    let packet = make_packet(0, 1, 32);
    let before = thread_allocs();
    path.send(packet).unwrap(); // copied into the ring, then dropped
    assert_eq!(thread_allocs() - before, 0);
    path.close();
    assert_received(receiver, 2);
    assert!(
        servercore::alloc_count::is_counting(),
        "the counter is installed"
    );
}

#[test]
fn abort_drops_what_is_published_and_counts_it() {
    let (server, client) = pair();
    let gate = Gate::new();
    let path = Arc::new(RingPath::new(Wire::new(GatedSink::new(server, gate.clone()))).unwrap());
    path.send(make_packet(0, 0, 32)).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );
    send_seqs(path.as_ref(), 0, 1..11, 32); // 10 published behind the held write
    let aborting = {
        let path = Arc::clone(&path);
        thread::spawn(move || path.abort()) // returns once the held write is done
    };
    // Only once the abort is in does the held write return.
    let deadline = Instant::now() + TIMEOUT;
    while !path.is_closed() {
        assert!(Instant::now() < deadline, "abort never closed the path");
        thread::yield_now();
    }
    gate.open();
    let dropped = aborting.join().unwrap();
    // Packet 0 was the write in flight; the 10 published behind it are
    // dropped, and counted.
    assert_eq!(dropped, 10);
    assert_eq!(path.stats().sends, 11);
    assert_eq!(path.abort(), 0, "only the first abort counts");
    let packet = make_packet(0, 11, 32);
    assert_eq!(path.send(packet.clone()), Err(SendError::Closed(packet)));
    assert_eq!(
        read_to_end_counting(&client).unwrap(),
        34,
        "only packet 0 arrives"
    );
}

#[test]
fn a_refused_send_with_gives_its_packet_back() {
    let (server, client) = pair();
    let path = RingPath::new(Wire::from_stream(&server).unwrap()).unwrap();
    path.close();
    match path.send_with(32, &mut |body| fill_payload(body, 0, 7)) {
        Err(SendError::Closed(packet)) => assert_eq!(packet, make_packet(0, 7, 32)),
        other => panic!("expected the packet back, got {other:?}"),
    }
    drop(client);
}
