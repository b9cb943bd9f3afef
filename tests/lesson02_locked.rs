//! Lesson 02, the locked send: the lock keeps packets whole, and every
//! send is still its own write call.
//!
//! * `write_calls_equal_sends`: one write call per send, all intact;
//! * `a_short_write_cannot_interleave`: the scenario that corrupts
//!   lesson 01 (`tests/lesson01_naive.rs`) leaves lesson 02 intact.

mod common;

use std::time::Duration;

use common::*;
use servercore::Lesson;

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
