//! Lesson 07: an idle session's send is one direct write and no wake-up; a
//! write that would block hands over to the writer mid-packet, bytes intact.

use servercore::compare::{self, Workload};
use servercore::grading::{Start, gates};
use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::make_packet;
use servercore::{Lesson, Wire};

/// Lesson 07's constructor, as the shared gate tests take it.
const LESSON: Start = Lesson::DirectPath.entry().start;

/// Three sends, each after the previous one returned, on an idle socket:
/// one direct write each, no wake-up, no writer batch (the shared gate
/// test of `servercore::grading::gates`, which also grades lab 3).
#[test]
fn an_idle_send_is_one_direct_write_and_no_wakeup() {
    gates::an_idle_send_is_one_direct_write_and_no_wakeup(LESSON);
}

/// 4 KiB socket buffers on both ends, nobody reading, ten 60 KB packets:
/// the first direct write takes only part of the first packet and hands
/// the rest over (exactly one wake-up, fewer bytes than one packet written
/// before anyone reads); a late reader then checks every byte of all ten.
#[test]
fn a_write_that_would_block_hands_over_mid_packet_and_keeps_every_byte() {
    gates::a_write_that_would_block_hands_over_mid_packet(LESSON);
}

#[test]
fn order_and_integrity_under_contention() {
    let report = compare::run(
        Lesson::DirectPath,
        &Workload {
            senders: 8,
            payload: 48,
            messages: 16_000,
        },
    )
    .unwrap();
    assert!(report.verified(), "{:?}", report.problem);
    assert_eq!(report.received, 16_000);
    assert_eq!(report.stats.sends, 16_000);
    assert!(report.stats.write_calls <= 16_000);
}

#[test]
fn send_after_close_gives_the_packet_back() {
    let (server, _client) = socket_pair(&SocketOptions::default()).unwrap();
    let path = Lesson::DirectPath
        .start(Wire::from_stream(&server).unwrap())
        .unwrap();
    path.close();
    let packet = make_packet(0, 0, 16);
    let err = path.send(packet.clone()).unwrap_err();
    assert_eq!(err.into_packet(), packet);
}
