//! Grades lab 2 (`labs/src/lab2_batched_writer.rs`, chapter
//! `lessons/04-batched-writer.md`) with the course's own checks: the
//! contract with its partial-write properties, and lesson 04's gate tests.
//!
//! `cargo test -p servercore-labs --test lab2_batched_writer`
#![cfg(not(loom))]

use servercore::grading::{Start, gates};
use servercore_labs::lab2_batched_writer::BatchedWriter;

const LAB: Start = |wire| Ok(Box::new(BatchedWriter::new(wire)?));

servercore::contract_tests!(
    LAB,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);

/// A burst of 100 sends while the writer is held costs one wake-up.
#[test]
fn a_burst_behind_a_busy_writer_costs_one_wakeup() {
    gates::a_burst_behind_a_busy_writer_costs_one_wakeup(LAB);
}

/// Packet #0 held in the first write, 100 queued behind it: 2 write calls.
#[test]
fn a_queue_of_101_costs_exactly_2_write_calls() {
    gates::a_queue_of_101_costs_exactly_2_write_calls(LAB);
}

/// 3,000 queued behind the held write: groups of `IOV_MAX`, 4 write calls.
#[test]
fn more_packets_than_iov_max() {
    gates::more_packets_than_iov_max(LAB);
}

/// The gathering loop is the lab: `Wire::write_packets` is its answer.
#[test]
fn the_gathering_write_is_yours() {
    #[cfg(not(feature = "solutions"))]
    let source = include_str!("../src/lab2_batched_writer.rs");
    #[cfg(feature = "solutions")]
    let source = include_str!("../solutions/lab2_batched_writer.rs");
    assert!(
        !source.contains(".write_packets("),
        "lab 2 calls `.write_packets(`: that is the crate's answer to this lab. Write the \
         loop in `write_batch` yourself (groups of IOV_MAX, `write_vectored`, \
         `IoSlice::advance_slices` after a partial write)"
    );
}
