//! Lab 2's hand-off, model-checked with loom (the lessons' loom models,
//! from `servercore::grading::models`).
//!
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release -p servercore-labs --test loom_lab2`
//!
//! In a normal build this file compiles to nothing.
#![cfg(loom)]

use servercore::grading::Start;
use servercore::grading::models::{self, Model};
use servercore_labs::lab2_batched_writer::BatchedWriter;

const LAB: Start = |wire| Ok(Box::new(BatchedWriter::new(wire)?));

/// Two producers, two packets each, no close: all delivered, once, in order.
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

/// Close racing two producers.
#[test]
fn close_delivers_everything_accepted_before_it() {
    models::close_races_producers(LAB, &[2, 1], Model::default());
}

/// Abort racing two producers: every accepted packet delivered or counted
/// in what `abort` returned, exactly one of the two.
#[test]
fn abort_delivers_or_counts_every_accepted_packet() {
    models::abort_races_producers(LAB, &[2, 1], Model::default());
}
