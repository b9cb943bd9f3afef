//! Lesson 03's hand-off, model-checked with loom: the queue, the pending
//! flag and the condvar of `src/lessons/lesson03_send_queue.rs`, exactly as
//! written, under every interleaving loom explores (preemptions bounded by
//! `LOOM_MAX_PREEMPTIONS`, 3 when unset).
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test loom_lesson03`
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

mod loom_support;

use loom_support::{Start, close_races_producers, producers_then_quiet};
use servercore::lessons::lesson03_send_queue::SendQueue;

const LESSON_03: Start = |wire| Box::new(SendQueue::new(wire).unwrap());

/// Two producers, two packets each: every packet delivered exactly once, in
/// each producer's order, with no close to rescue a stranded one; the writer
/// never sleeps on a queued packet; no deadlock.
#[test]
fn two_producers_two_packets_each_all_delivered_without_close() {
    producers_then_quiet(LESSON_03, &[2, 2]);
}

/// Three producers, one packet each (the most threads loom allows: three
/// producers, the writer and the main thread).
#[test]
fn three_producers_all_delivered_without_close() {
    producers_then_quiet(LESSON_03, &[1, 1, 1]);
}

/// Close racing two producers: whatever `send` accepted before the close is
/// delivered, in order, before the write half is shut; the rest is refused.
#[test]
fn close_delivers_everything_accepted_before_it() {
    close_races_producers(LESSON_03, &[2, 1]);
}
