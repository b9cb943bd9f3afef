//! Lesson 04's hand-off, model-checked with loom: the queue, the pending
//! flag and the condvar of `src/lessons/lesson04_batched_writer.rs`, exactly as
//! written, under every interleaving loom explores (preemptions bounded by
//! `LOOM_MAX_PREEMPTIONS`, 3 when unset).
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test loom_lesson04`
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

mod loom_support;

use loom_support::{
    Model, Start, abort_races_producers_on, close_races_producers, producers_then_quiet,
};
use servercore::lessons::lesson04_batched_writer::BatchedWriter;

const LESSON_04: Start = |wire| Box::new(BatchedWriter::new(wire).unwrap());

/// Two producers, two packets each: every packet delivered exactly once, in
/// each producer's order, with no close to rescue a stranded one; the writer
/// never sleeps on a queued packet; no deadlock.
#[test]
fn two_producers_two_packets_each_all_delivered_without_close() {
    producers_then_quiet(LESSON_04, &[2, 2]);
}

/// Three producers, one packet each (the most threads loom allows: three
/// producers, the writer and the main thread).
#[test]
fn three_producers_all_delivered_without_close() {
    producers_then_quiet(LESSON_04, &[1, 1, 1]);
}

/// Close racing two producers: whatever `send` accepted before the close is
/// delivered, in order, before the write half is shut; the rest is refused.
#[test]
fn close_delivers_everything_accepted_before_it() {
    close_races_producers(LESSON_04, &[2, 1]);
}

/// Abort racing two producers: every accepted packet is delivered or
/// counted in what `abort` returned, exactly one of the two.
#[test]
fn abort_delivers_or_counts_every_accepted_packet() {
    abort_races_producers_on(LESSON_04, &[2, 1], Model::default());
}
