//! Lesson 04, the batched writer: the whole queue in vectored writes.
//!
//! * `a_queue_of_101_costs_exactly_2_write_calls`: held on a gate;
//! * `more_packets_than_iov_max`: 3,000 queued packets, 1,024 slices per call.
//!
//! The partial-write tests (`small_socket_buffers_and_a_late_reader`,
//! `short_writes_resume_mid_packet`) hold for every batched lesson, so they
//! are in `tests/contract.rs`.

mod common;

use common::*;
use servercore::Lesson;
use servercore::wire::IOV_MAX;

const LESSON: Lesson = Lesson::BatchedWriter;

/// Packet 0 is held inside the writer's first write call; 100 more queue up
/// behind it. After the gate opens: packet 0's call, then one vectored call
/// for the other 100 — exactly 2 write calls for 101 packets.
#[test]
fn a_queue_of_101_costs_exactly_2_write_calls() {
    let stats = gated_burst(LESSON, 100, 32);
    assert_eq!(
        stats.at_gate.wakeups, 1,
        "the first send finds `pending` false and wakes the writer"
    );
    assert_eq!(
        stats.after_burst.wakeups, 1,
        "the 100 behind the held write find `pending` true: they wake nobody"
    );
    let end = stats.after_close;
    assert_eq!(end.sends, 101);
    assert_eq!(
        end.write_calls, 2,
        "packet 0's write, then ONE writev for the 100 queued behind it"
    );
    assert_eq!(end.batches, 2);
    assert_eq!(
        end.max_batch, 100,
        "the writer takes the whole queue at once"
    );
}

/// 3,000 packets queued behind the gate, more than `IOV_MAX` (1,024)
/// slices: after release, packet 0's call, then the batch of 3,000 in
/// groups of at most 1,024 slices: 1 + ceil(3000 / 1024) = 4 write calls.
/// All 3,001 arrive intact and in order.
#[test]
fn more_packets_than_iov_max() {
    const BURST: u32 = 3_000;
    let stats = gated_burst(LESSON, BURST, 8);
    let end = stats.after_close;
    assert_eq!(end.sends, 1 + u64::from(BURST));
    let expected_calls = 1 + (BURST as usize).div_ceil(IOV_MAX) as u64;
    assert_eq!(expected_calls, 4);
    assert_eq!(
        end.write_calls, expected_calls,
        "packet 0, then the 3,000 in writev calls of at most IOV_MAX (1,024) slices"
    );
    assert_eq!(end.batches, 2, "the writer takes the whole queue at once");
    assert_eq!(end.max_batch, u64::from(BURST));
}
