//! Lesson 07's hand-over, model-checked with loom: the owner (`Idle` /
//! `Caller` / `Writer`), the queue, the unfinished rest of a partial write
//! and the condvar of `src/lessons/lesson07_direct_path.rs`, exactly as
//! written, under every interleaving loom explores (preemptions bounded by
//! `LOOM_MAX_PREEMPTIONS`, 3 when unset).
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test loom_lesson07`
//!
//! The socket is a [`MemorySink`](servercore::testing::MemorySink) whose
//! write that cannot block gives one of a real socket's three answers, one
//! per test: everything fits ([`TryWrite::All`]), a partial write
//! ([`TryWrite::AtMost`]`(3)` of a 4-byte packet), or would block
//! ([`TryWrite::WouldBlock`]). So each way the caller hands the socket over
//! is explored against every interleaving of the other threads.
//!
//! Lessons 03 and 04 are checked with "the writer never sleeps while a
//! packet is queued". That is not true of lesson 07, on purpose: while a
//! caller owns the socket, packets queue behind its direct write and the
//! writer sleeps; the caller hands them over when its write is done. So
//! the check here is the lesson's own invariants (`State::check`: a queued
//! packet always has an owner; the rest of a partial write belongs to the
//! writer), asserted at every unlock, plus loom's deadlock detection when
//! the main thread waits for a packet that nobody will write.
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

mod loom_support;

use std::time::Duration;

use loom::sync::Arc;
use loom_support::{
    Model, PACKET_LEN, SleepCheck, Start, abort_races_producers_on, builder,
    close_races_producers_on, packet, producers_then_quiet_on,
};
use servercore::lessons::lesson07_direct_path::DirectPath;
use servercore::testing::{MemorySink, TryWrite};
use servercore::{SendPath, Wire};

const LESSON_11: Start = |wire| Box::new(DirectPath::new(wire).unwrap());

/// Lesson 07 against a sink whose non-blocking write answers `try_write`.
/// The sleep check is off (see the top of this file): the lesson's own
/// invariant checks and loom's deadlock detection stand in for it.
fn model(try_write: TryWrite) -> Model {
    Model {
        try_write,
        sleep_check: SleepCheck::Off,
    }
}

/// Everything fits: callers write directly while the socket is idle, and
/// queue (then hand over) while another caller is mid-write. Two producers,
/// two packets each: every packet delivered once, in each producer's order,
/// with no close to rescue a stranded one.
#[test]
fn direct_writes_and_hand_overs_deliver_everything_without_close() {
    producers_then_quiet_on(&builder(), LESSON_11, &[2, 2], model(TryWrite::All));
}

/// Three producers, one packet each, everything fits: two can queue behind
/// the third's direct write.
#[test]
fn three_producers_all_delivered_without_close() {
    producers_then_quiet_on(&builder(), LESSON_11, &[1, 1, 1], model(TryWrite::All));
}

/// Every direct write is partial (3 bytes of 4): the writer must write the
/// rest of that packet before anything queued, so no frame is torn.
#[test]
fn partial_direct_writes_hand_over_mid_packet_without_tearing_a_frame() {
    producers_then_quiet_on(&builder(), LESSON_11, &[2, 1], model(TryWrite::AtMost(3)));
}

/// Every direct write would block: each packet that finds the socket idle
/// is handed over whole, and the writer takes it before the queue.
#[test]
fn would_block_hands_the_whole_packet_over() {
    producers_then_quiet_on(&builder(), LESSON_11, &[2, 1], model(TryWrite::WouldBlock));
}

/// Close racing two producers whose direct writes fit: what `send`
/// accepted is delivered before the write half is shut; close waits for a
/// caller that is mid-write.
#[test]
fn close_delivers_everything_accepted_before_it() {
    close_races_producers_on(LESSON_11, &[2, 1], model(TryWrite::All));
}

/// Close racing two producers whose direct writes are partial: the rest of
/// a half-written packet is still written before the write half is shut.
#[test]
fn close_finishes_a_partial_direct_write() {
    close_races_producers_on(LESSON_11, &[1, 1], model(TryWrite::AtMost(3)));
}

/// Abort racing two producers whose direct writes fit: every accepted
/// packet is delivered or counted as dropped, never both, never neither.
#[test]
fn abort_delivers_or_counts_every_accepted_packet() {
    abort_races_producers_on(LESSON_11, &[2, 1], model(TryWrite::All));
}

/// Abort racing two producers whose direct writes are partial: the rest of
/// a half-written packet is the write in flight, finished, never torn.
#[test]
fn abort_never_tears_a_partially_written_packet() {
    abort_races_producers_on(LESSON_11, &[1, 1], model(TryWrite::AtMost(3)));
}

/// One sender on a socket with room never wakes the writer, in any
/// interleaving: every send finds the socket idle, because the previous
/// send gave it back before returning.
#[test]
fn one_sender_never_wakes_the_writer() {
    builder().check(|| {
        let sink = MemorySink::with_try_write(TryWrite::All);
        let path = Arc::new(DirectPath::new(Wire::new(sink.clone())).unwrap());
        for seq in 0..3 {
            path.send(packet(0, seq)).expect("nothing closed yet");
        }
        assert!(sink.wait_for_len(3 * PACKET_LEN, Duration::from_secs(10)));
        let stats = path.stats();
        assert_eq!(stats.wakeups, 0, "an idle send woke the writer");
        assert_eq!(stats.batches, 0, "the writer thread took a batch");
        assert_eq!(stats.write_calls, 3, "one direct write per send");
        path.close();
        assert!(sink.is_shut_down(), "close shuts the write half down");
    });
}
