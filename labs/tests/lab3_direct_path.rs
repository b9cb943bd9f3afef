//! Grades lab 3 (`labs/src/lab3_direct_path.rs`, chapter
//! `lessons/07-direct-path.md`) with the course's own checks: the contract
//! with its partial-write properties, and lesson 07's gate tests.
//!
//! `cargo test -p servercore-labs --test lab3_direct_path`
#![cfg(not(loom))]

use servercore::grading::{Start, gates};
use servercore_labs::lab3_direct_path::DirectPath;

const LAB: Start = |wire| Ok(Box::new(DirectPath::new(wire)?));

servercore::contract_tests!(
    LAB,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);

/// Three sends on an idle socket: three direct writes, no wake-up, no batch.
#[test]
fn an_idle_send_is_one_direct_write_and_no_wakeup() {
    gates::an_idle_send_is_one_direct_write_and_no_wakeup(LAB);
}

/// Ten 60 KB sends into a full 4 KiB socket buffer: one hand-over,
/// mid-packet, and every byte arrives once a reader comes.
#[test]
fn a_write_that_would_block_hands_over_mid_packet() {
    gates::a_write_that_would_block_hands_over_mid_packet(LAB);
}

/// Behind a gate the direct write would block, so the writer holds the
/// socket; 100 sends queue behind it at the cost of that one wake-up.
#[test]
fn a_burst_behind_a_busy_writer_costs_one_wakeup() {
    gates::a_burst_behind_a_busy_writer_costs_one_wakeup(LAB);
}
