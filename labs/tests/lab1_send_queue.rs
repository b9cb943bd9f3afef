//! Grades lab 1 (`labs/src/lab1_send_queue.rs`, chapter
//! `lessons/03-send-queue.md`) with the course's own checks: the contract
//! every lesson keeps, and lesson 03's gate tests.
//!
//! `cargo test -p servercore-labs --test lab1_send_queue`
#![cfg(not(loom))]

use servercore::grading::{Start, gates};
use servercore_labs::lab1_send_queue::SendQueue;

const LAB: Start = |wire| Ok(Box::new(SendQueue::new(wire)?));

servercore::contract_tests!(LAB, eight_threads_in_order);

/// One packet per write call: 4 threads × 500 sends, 2,000 write calls.
#[test]
fn write_calls_equal_sends() {
    gates::write_calls_equal_sends(LAB);
}

/// A burst of 100 sends while the writer is held inside a write costs
/// exactly one wake-up; the writer then finds all 100 by itself (the
/// re-check), in 100 more write calls.
#[test]
fn a_burst_behind_a_busy_writer_costs_one_wakeup() {
    let end = gates::a_burst_behind_a_busy_writer_costs_one_wakeup(LAB).after_close;
    assert!(
        end.write_calls == 101,
        "101 packets took {} write calls: lab 1's writer writes one packet per call",
        end.write_calls
    );
}
