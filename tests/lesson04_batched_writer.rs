//! Lesson 04, the batched writer: the whole queue in vectored writes.
//!
//! * `a_queue_of_101_costs_exactly_2_write_calls`: held on a gate;
//! * `more_packets_than_iov_max`: 3,000 queued packets, 1,024 slices per call.
//!
//! The partial-write tests (`small_socket_buffers_and_a_late_reader`,
//! `short_writes_resume_mid_packet`) hold for every batched lesson, so they
//! are in `tests/contract.rs`.
//!
//! Both tests are the shared gate tests of `servercore::grading::gates`
//! (`src/grading/gates.rs`), run here with lesson 04's constructor.

use servercore::Lesson;
use servercore::grading::{Start, gates};

/// Lesson 04's constructor, as the shared gate tests take it
/// (`servercore::grading::gates`, which also grade lab 2).
const LESSON: Start = Lesson::BatchedWriter.entry().start;

/// Packet 0 is held inside the writer's first write call; 100 more queue up
/// behind it, waking nobody. After the gate opens: packet 0's call, then
/// one vectored call for the other 100 — exactly 2 write calls and 2
/// batches for 101 packets, the second of 100.
#[test]
fn a_queue_of_101_costs_exactly_2_write_calls() {
    gates::a_queue_of_101_costs_exactly_2_write_calls(LESSON);
}

/// 3,000 packets queued behind the gate, more than `IOV_MAX` (1,024)
/// slices: after release, packet 0's call, then the batch of 3,000 in
/// groups of at most 1,024 slices: 1 + ceil(3000 / 1024) = 4 write calls,
/// 2 batches. All 3,001 arrive intact and in order.
#[test]
fn more_packets_than_iov_max() {
    gates::more_packets_than_iov_max(LESSON);
}
