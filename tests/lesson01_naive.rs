//! Lesson 01, the naive send: what it costs and what it breaks.
//!
//! * every send is one write call (`write_calls_equal_sends`);
//! * with no lock, a short write lets another thread's packet land in the
//!   middle of this one (`a_short_write_lets_another_thread_interleave`);
//! * nobody waits for anybody: while one caller's write is held, another
//!   caller's write goes straight to the socket
//!   (`a_second_caller_does_not_wait_for_the_first`).
//!
//! The properties lesson 01 does keep (smoke, close, disconnect-once, ...)
//! are in `tests/contract.rs`.

mod common;

use std::thread;

use common::*;
use servercore::Lesson;
use servercore::testing::Gate;
use servercore::workload::make_packet;

/// 4 threads × 500 sends at once: exactly one write call per send.
///
/// Only the byte count is checked at the receiver: lesson 01 does not
/// promise that concurrent packets stay whole.
#[test]
fn write_calls_equal_sends() {
    const THREADS: usize = 4;
    const PER_THREAD: u32 = 500;
    const PAYLOAD: usize = 32;
    let total = THREADS as u64 * u64::from(PER_THREAD);
    let (server, client) = pair();
    let path = start(Lesson::Naive, &server);
    let reader = std::thread::spawn(move || read_to_end_counting(&client));
    send_from_threads(path.as_ref(), THREADS, PER_THREAD, PAYLOAD);
    path.close();
    let bytes = reader.join().unwrap().expect("read to the end");
    assert_eq!(bytes, total * (PAYLOAD as u64 + 2));
    let stats = path.stats();
    assert_eq!(stats.sends, total);
    assert_eq!(stats.write_calls, stats.sends);
    assert_eq!(stats.wakeups, 0, "no writer thread, nobody to wake");
    assert_eq!(stats.batches, 0);
}

/// Thread A's packet goes out in two write calls (a short write, then the
/// rest); thread B sends its packet in between. Lesson 01 has nothing that
/// stops B, so B's bytes land inside A's packet and the receiver's framing
/// is wrong. Deterministic: see `common::split_scenario`.
#[test]
fn a_short_write_lets_another_thread_interleave() {
    // Lesson 01 never blocks B, so A's hold ends the moment B's write
    // returns; the long bound only turns a failure into a failed test.
    let outcome = split_scenario(Lesson::Naive, TIMEOUT);
    assert_eq!(
        outcome.log,
        vec![
            SplitEvent::FirstPart,
            SplitEvent::OtherWrote,
            SplitEvent::Rest { after_other: true }
        ],
        "B's write should have landed between A's two write calls"
    );
    assert!(
        !outcome.received.ok(),
        "the receiver should find the packets corrupted: {}",
        outcome.received
    );
    // A's frame now holds B's header and bytes: the very first packet is bad.
    assert_eq!(outcome.received.packets, 0, "{}", outcome.received);
    assert_eq!(outcome.stats.sends, 2);
    assert_eq!(outcome.stats.write_calls, 3, "A: 2 calls, B: 1 call");
}

/// Thread A's write call is held at a gate, as if the network took nothing;
/// thread B sends meanwhile. Lesson 01 has no lock, so B's write call
/// reaches the socket while A's is still held: nobody waits for anybody,
/// which is why large packets can interleave. (Lesson 02 makes B wait:
/// `a_second_caller_waits_while_the_first_write_is_held`.)
#[test]
fn a_second_caller_does_not_wait_for_the_first() {
    let gate = Gate::new();
    let (server, client) = pair();
    let path = start_gated(Lesson::Naive, server, &gate);
    let receiver = spawn_receiver(client, 2, 32, 2);
    thread::scope(|scope| {
        let path = path.as_ref();
        let a = scope.spawn(move || path.send(make_packet(0, 0, 32)));
        assert!(gate.wait_for_arrivals(1, TIMEOUT), "A never wrote");
        let b = scope.spawn(move || path.send(make_packet(1, 0, 32)));
        assert!(
            gate.wait_for_arrivals(2, TIMEOUT),
            "B should reach the wire while A's write is held"
        );
        gate.open();
        a.join().unwrap().expect("A's send");
        b.join().unwrap().expect("B's send");
    });
    path.close();
    // Small packets are written whole, so both arrive intact, in either order.
    assert_received(receiver, 2);
    assert_eq!(path.stats().write_calls, 2);
}
