//! Lab 3's hand-over, model-checked with loom, against a socket whose
//! write that cannot block fits, is partial (3 bytes of a 4-byte packet),
//! or would block (the lessons' loom models, from
//! `servercore::grading::models`). The check is the lab's own invariants
//! (`State::check`, at every unlock) plus loom's deadlock detection.
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release -p servercore-labs --test loom_lab3`
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

use servercore::grading::Start;
use servercore::grading::models::{self, TryWrite, direct};
use servercore_labs::lab3_direct_path::DirectPath;

const LAB: Start = |wire| Ok(Box::new(DirectPath::new(wire)?));

/// Everything fits: direct writes, and hand-overs when callers overlap.
#[test]
fn direct_writes_and_hand_overs_deliver_everything_without_close() {
    models::producers_then_quiet(LAB, &[2, 2], direct(TryWrite::All));
}

/// Every direct write is partial: the rest goes first, no frame torn.
#[test]
fn partial_direct_writes_hand_over_mid_packet_without_tearing_a_frame() {
    models::producers_then_quiet(LAB, &[2, 1], direct(TryWrite::AtMost(3)));
}

/// Every direct write would block: the whole packet is handed over.
#[test]
fn would_block_hands_the_whole_packet_over() {
    models::producers_then_quiet(LAB, &[2, 1], direct(TryWrite::WouldBlock));
}

/// Close racing two producers; close waits for a caller mid-write.
#[test]
fn close_delivers_everything_accepted_before_it() {
    models::close_races_producers(LAB, &[2, 1], direct(TryWrite::All));
}

/// Close racing partial direct writes: the rest is still written.
#[test]
fn close_finishes_a_partial_direct_write() {
    models::close_races_producers(LAB, &[1, 1], direct(TryWrite::AtMost(3)));
}

/// Abort racing partial direct writes: never a torn packet.
#[test]
fn abort_never_tears_a_partially_written_packet() {
    models::abort_races_producers(LAB, &[1, 1], direct(TryWrite::AtMost(3)));
}

/// One sender on a socket with room never wakes the writer.
#[test]
fn one_sender_never_wakes_the_writer() {
    models::one_sender_never_wakes_the_writer(LAB);
}
