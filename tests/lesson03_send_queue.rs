//! Lesson 03, the send queue with its pending flag.
//!
//! * `write_calls_equal_sends`: the writer thread still writes one packet
//!   per write call;
//! * `a_burst_behind_a_busy_writer_costs_one_wakeup`: while the writer is
//!   inside a write, senders only enqueue — the seed's `_pending` flag.

mod common;

use common::*;
use servercore::Lesson;

/// 4 threads × 500 sends at once: all intact and in per-thread order, one
/// write call (and one batch) per send.
#[test]
fn write_calls_equal_sends() {
    let stats = verified_burst(Lesson::SendQueue, 4, 500, 32);
    assert_eq!(stats.write_calls, stats.sends);
    assert_eq!(stats.batches, stats.sends);
    assert_eq!(stats.max_batch, 1);
    assert!(stats.wakeups >= 1 && stats.wakeups <= stats.sends);
}

/// Packet 0 wakes the writer, which is then held inside its write call at a
/// gate. 100 more sends find `pending == true` and only enqueue: still
/// exactly 1 wake-up. After the gate opens, the writer picks the queue up by
/// itself (the re-check before clearing `pending`): all 101 packets arrive,
/// in 101 write calls.
#[test]
fn a_burst_behind_a_busy_writer_costs_one_wakeup() {
    let stats = gated_burst(Lesson::SendQueue, 100, 32);
    assert_eq!(stats.at_gate.wakeups, 1);
    assert_eq!(
        stats.at_gate.write_calls, 0,
        "the first write is still held"
    );
    assert_eq!(stats.after_burst.sends, 101);
    assert_eq!(stats.after_burst.wakeups, 1, "the burst woke nobody");
    assert_eq!(stats.after_close.wakeups, 1);
    assert_eq!(stats.after_close.sends, 101);
    assert_eq!(stats.after_close.write_calls, 101);
    assert_eq!(stats.after_close.batches, 101);
}
