//! Lab 1's hand-off, model-checked with loom: your queue, flag and condvar
//! under every interleaving loom explores (the lessons' loom models, from
//! `servercore::grading::models`).
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release -p servercore-labs --test loom_lab1`
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

use servercore::grading::Start;
use servercore::grading::models::{self, Model};
use servercore_labs::lab1_send_queue::SendQueue;

const LAB: Start = |wire| Ok(Box::new(SendQueue::new(wire)?));

/// Two producers, two packets each, no close to rescue a stranded one:
/// every packet delivered once, in order; the writer never sleeps on a
/// queued packet; no deadlock.
#[test]
fn two_producers_two_packets_each_all_delivered_without_close() {
    models::producers_then_quiet(LAB, &[2, 2], Model::default());
}

/// Three producers, one packet each: the most threads loom allows (three
/// producers, the writer and the main thread). It takes minutes, so it runs
/// only when asked: `-- --ignored`.
#[test]
#[ignore = "minutes at 3 preemptions: run it with `-- --ignored`"]
fn three_producers_all_delivered_without_close() {
    models::producers_then_quiet(LAB, &[1, 1, 1], Model::default());
}

/// Close racing two producers: what `send` accepted is delivered before
/// the write half is shut; the rest is refused.
#[test]
fn close_delivers_everything_accepted_before_it() {
    models::close_races_producers(LAB, &[2, 1], Model::default());
}
