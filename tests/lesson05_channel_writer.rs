//! Lesson 05, the channel writer: lesson 04's guarantees on
//! `crossbeam-channel`, plus its own batch cap.
//!
//! * `a_queue_of_101_costs_exactly_2_write_calls`: held on a gate;
//! * `more_packets_than_iov_max`: 3,000 queued packets;
//! * `batches_stop_at_max_batch`: 20,000 queued packets, batches of at most
//!   `MAX_BATCH` (16,384).
//!
//! The partial-write tests are in `tests/contract.rs`, for every batched
//! lesson.

mod common;

use common::*;
use servercore::Lesson;
use servercore::lessons::lesson05_channel_writer::MAX_BATCH;
use servercore::wire::IOV_MAX;

const LESSON: Lesson = Lesson::ChannelWriter;

/// Packet 0 is held inside the writer's first write call; 100 more queue up
/// in the channel. After the gate opens: packet 0's call, then `recv` plus
/// `try_iter` take the other 100 into one vectored call — exactly 2.
#[test]
fn a_queue_of_101_costs_exactly_2_write_calls() {
    let stats = gated_burst(LESSON, 100, 32);
    // Whether packet 0 counts a wake-up depends on whether the writer had
    // parked in `recv` yet; the burst certainly wakes nobody: the writer
    // is held in its write call, not parked.
    assert!(stats.at_gate.wakeups <= 1, "{:?}", stats.at_gate);
    assert_eq!(
        stats.after_burst.wakeups, stats.at_gate.wakeups,
        "a send behind the held write found `writer_parked` set: it must be \
         true only around `recv`"
    );
    let end = stats.after_close;
    assert_eq!(end.sends, 101);
    assert_eq!(
        end.write_calls, 2,
        "packet 0's write, then `recv` + `try_iter` take the 100 into ONE writev"
    );
    assert_eq!(end.batches, 2);
    assert_eq!(end.max_batch, 100);
}

/// 3,000 packets queued behind the gate: fewer than `MAX_BATCH`, so one
/// batch of 3,000 in groups of at most 1,024 slices:
/// 1 + ceil(3000 / 1024) = 4 write calls. All 3,001 intact and in order.
#[test]
fn more_packets_than_iov_max() {
    const BURST: u32 = 3_000;
    let stats = gated_burst(LESSON, BURST, 8);
    let end = stats.after_close;
    assert_eq!(end.sends, 1 + u64::from(BURST));
    assert!((BURST as usize) < MAX_BATCH);
    let expected_calls = 1 + (BURST as usize).div_ceil(IOV_MAX) as u64;
    assert_eq!(expected_calls, 4);
    assert_eq!(end.write_calls, expected_calls);
    assert_eq!(end.batches, 2);
    assert_eq!(end.max_batch, u64::from(BURST));
}

/// 20,000 packets queued behind the gate, more than `MAX_BATCH`: the writer
/// takes 16,384 (`recv` + 16,383 from `try_iter`), writes them in 16 calls,
/// then the remaining 3,616 in 4 calls. With packet 0's call:
/// 1 + 16 + 4 = 21 write calls and 3 batches (lesson 04 would take all
/// 20,000 in one batch).
#[test]
fn batches_stop_at_max_batch() {
    const BURST: u32 = 20_000;
    let stats = gated_burst(LESSON, BURST, 6);
    let end = stats.after_close;
    let rest = BURST as usize - MAX_BATCH;
    let expected_calls = 1 + MAX_BATCH.div_ceil(IOV_MAX) + rest.div_ceil(IOV_MAX);
    assert_eq!(expected_calls, 21);
    assert_eq!(end.sends, 1 + u64::from(BURST));
    assert_eq!(end.write_calls, expected_calls as u64);
    assert_eq!(
        end.batches, 3,
        "MAX_BATCH, then the rest: `try_iter` stops at the cap"
    );
    assert_eq!(end.max_batch, MAX_BATCH as u64);
}
