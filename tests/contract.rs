//! The contract every send path keeps, run against every lesson.
//!
//! One suite, instantiated per lesson by `contract!`: a module per lesson,
//! one `#[test]` per property, so a failure names both (for instance
//! `lesson04_batched_writer::close_delivers_everything_queued`).
//!
//! The properties themselves are library code, `servercore::grading::contract`
//! (`src/grading/contract.rs`), because the labs (`labs/`) grade a student's
//! send path with the very same functions: each takes a send path's
//! constructor, here the lesson's own (`Lesson::entry().start`).
//!
//! Lesson 01 runs every property it guarantees. It is left out of
//! `eight_threads_in_order`: with no lock, two threads' bytes *may*
//! interleave (`tests/lesson01_naive.rs` shows it happening), so "intact
//! under contention" is exactly what lesson 01 does not promise.
//!
//! Everything runs on real loopback sockets (port 0); every blocking step
//! has a timeout (`servercore::grading::TIMEOUT`); nothing asserts on timing.

use servercore::Lesson;
use servercore::grading::{Start, contract};

/// Generates one module per lesson with one test per contract property.
/// Extra property names after the lesson add tests that not every lesson
/// guarantees (functions of this file, taking the lesson).
macro_rules! contract {
    ($module:ident, $lesson:expr $(, $extra:ident)* $(,)?) => {
        mod $module {
            use super::*;

            /// The lesson's constructor: what the grading functions take.
            const START: Start = $lesson.entry().start;

            // The eight properties every send path keeps.
            servercore::contract_tests!(START);

            $(
                #[test]
                fn $extra() {
                    super::$extra($lesson);
                }
            )*
        }
    };
}

contract!(lesson01_naive, Lesson::Naive);
contract!(lesson02_locked, Lesson::Locked, eight_threads_in_order);
contract!(
    lesson03_send_queue,
    Lesson::SendQueue,
    eight_threads_in_order
);
contract!(
    lesson04_batched_writer,
    Lesson::BatchedWriter,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson05_channel_writer,
    Lesson::ChannelWriter,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson06_send_buffers,
    Lesson::SendBuffers,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);
contract!(
    lesson07_direct_path,
    Lesson::DirectPath,
    eight_threads_in_order,
    small_socket_buffers_and_a_late_reader,
    short_writes_resume_mid_packet
);

/// 8 threads × 2,000 packets, all at once: every packet arrives intact and
/// each thread's packets arrive in the order it sent them.
fn eight_threads_in_order(lesson: Lesson) {
    contract::eight_threads_in_order(lesson.entry().start);
}

/// Batched lessons: small socket buffers on both ends, 64 KiB packets from
/// two threads, a reader that starts only once everything is queued: every
/// byte arrives intact and in order.
fn small_socket_buffers_and_a_late_reader(lesson: Lesson) {
    contract::small_socket_buffers_and_a_late_reader(lesson.entry().start);
}

/// Batched lessons, the same load, every write call capped at 10,007 bytes:
/// the writer resumes mid-packet after each short write.
fn short_writes_resume_mid_packet(lesson: Lesson) {
    contract::short_writes_resume_mid_packet(lesson.entry().start);
}
