//! Lesson 02, the locked send: the lock keeps packets whole, and every
//! send is still its own write call.
//!
//! * `write_calls_equal_sends`: one write call per send, all intact;
//! * `a_short_write_cannot_interleave`: the scenario that corrupts
//!   lesson 01 (`tests/lesson01_naive.rs`) leaves lesson 02 intact;
//! * `a_second_caller_waits_while_the_first_write_is_held`: who waits. While
//!   one caller's write is held (a network that takes nothing), another
//!   caller's send waits on the lock and never reaches the socket.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::*;
use servercore::Lesson;
use servercore::testing::Gate;
use servercore::workload::make_packet;

/// 4 threads × 500 sends at once: all intact and in per-thread order, and
/// exactly one write call per send.
#[test]
fn write_calls_equal_sends() {
    let stats = verified_burst(Lesson::Locked, 4, 500, 32);
    assert_eq!(stats.write_calls, stats.sends);
    assert_eq!(stats.wakeups, 0, "no writer thread, nobody to wake");
}

/// Thread A's packet goes out in two write calls with a hold in between,
/// and thread B sends meanwhile — the scenario that corrupts lesson 01.
/// Here A holds the lock across its whole `write_all`, so B cannot write
/// until A's packet is complete: the hold runs out with B still waiting on
/// the lock, A finishes, then B writes. Both packets arrive intact.
///
/// The hold is bounded (it must be: B can never end it), and the result
/// does not depend on its length — it only gives B the chance to cut in.
#[test]
fn a_short_write_cannot_interleave() {
    let outcome = split_scenario(Lesson::Locked, Duration::from_millis(200));
    assert_eq!(
        outcome.log,
        vec![
            SplitEvent::FirstPart,
            SplitEvent::Rest { after_other: false },
            SplitEvent::OtherWrote
        ],
        "B must write only after A's packet is complete"
    );
    assert!(outcome.received.ok(), "receiver: {}", outcome.received);
    assert_eq!(outcome.received.packets, 2);
    assert_eq!(outcome.stats.sends, 2);
    assert_eq!(outcome.stats.write_calls, 3, "A: 2 calls, B: 1 call");
}

/// Who waits. Thread A's write call is held at a gate, as if the network
/// took nothing; thread B sends meanwhile. Under the lock, B's send waits
/// for A's write: B never reaches the wire and its send does not return
/// until the gate opens. (In lesson 01, B reaches the wire at once:
/// `a_second_caller_does_not_wait_for_the_first` in `tests/lesson01_naive.rs`.)
///
/// The 200 ms only bounds how long B is given to get past the lock; with
/// the lock it never does, however long it is given.
#[test]
fn a_second_caller_waits_while_the_first_write_is_held() {
    let gate = Gate::new();
    let (server, client) = pair();
    let path = start_gated(Lesson::Locked, server, &gate);
    let receiver = spawn_receiver(client, 2, 32, 2);
    let b_returned = AtomicBool::new(false);
    thread::scope(|scope| {
        let path = path.as_ref();
        let a = scope.spawn(move || path.send(make_packet(0, 0, 32)));
        assert!(gate.wait_for_arrivals(1, TIMEOUT), "A never wrote");
        let b_returned = &b_returned;
        let b = scope.spawn(move || {
            let sent = path.send(make_packet(1, 0, 32));
            b_returned.store(true, Ordering::Release);
            sent
        });
        assert!(
            !gate.wait_for_arrivals(2, Duration::from_millis(200)),
            "B reached the wire while A's write was held"
        );
        assert!(
            !b_returned.load(Ordering::Acquire),
            "B's send returned while A's write was held"
        );
        gate.open();
        a.join().unwrap().expect("A's send");
        b.join().unwrap().expect("B's send");
    });
    assert!(gate.wait_for_arrivals(2, TIMEOUT), "B wrote after A");
    path.close();
    assert_received(receiver, 2);
    assert_eq!(path.stats().write_calls, 2);
}
