//! Lesson 07: an idle session's send is one direct write and no wake-up; a
//! write that would block hands over to the writer mid-packet, bytes intact.

use std::thread;
use std::time::Duration;

use servercore::compare::{self, Workload};
use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{self, Verifier, make_packet};
use servercore::{Lesson, Wire};

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn an_idle_send_is_one_direct_write_and_no_wakeup() {
    let (server, client) = socket_pair(&SocketOptions::default()).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let path = Lesson::DirectPath
        .start(Wire::from_stream(&server).unwrap())
        .unwrap();

    let receiver = thread::spawn(move || workload::receive(&client, Verifier::new(1, 32), 3));
    for seq in 0..3 {
        // `send` returns only after the caller gave ownership back, so every
        // send here finds the socket idle, whatever the receiver is doing.
        path.send(make_packet(0, seq, 32)).unwrap();
        let stats = path.stats();
        assert_eq!(stats.wakeups, 0, "an idle send must not wake the writer");
        assert_eq!(
            stats.write_calls,
            u64::from(seq) + 1,
            "one direct write per idle send"
        );
        assert_eq!(stats.batches, 0, "the writer thread took no batch");
    }
    path.close();
    let got = receiver.join().unwrap().unwrap();
    assert!(got.ok(), "{got}");
    assert_eq!(path.stats().wakeups, 0);
}

#[test]
fn a_write_that_would_block_hands_over_mid_packet_and_keeps_every_byte() {
    // Tiny kernel buffers on both ends, so a 60 KB packet cannot fit.
    let options = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let (server, client) = socket_pair(&options).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let path = Lesson::DirectPath
        .start(Wire::from_stream(&server).unwrap())
        .unwrap();

    let payload = 60_000;
    let packets = 10;
    for seq in 0..packets {
        // Nobody reads yet: the first send writes what fits and hands the
        // rest to the writer; the others are queued behind it.
        path.send(make_packet(0, seq, payload)).unwrap();
    }
    let before_reading = path.stats();
    assert_eq!(
        before_reading.wakeups, 1,
        "exactly one hand-over to the writer"
    );
    assert!(
        before_reading.bytes_written > 0 && (before_reading.bytes_written as usize) < payload + 2,
        "the first packet went out only in part before the hand-over: {} bytes",
        before_reading.bytes_written
    );

    // Now the late reader starts; the writer finishes the first packet's
    // rest, then the queue.
    let receiver = thread::spawn(move || {
        workload::receive(&client, Verifier::new(1, payload), u64::from(packets))
    });
    path.close();
    let got = receiver.join().unwrap().unwrap();
    assert!(got.ok(), "{got}");
    let stats = path.stats();
    assert_eq!(stats.sends, u64::from(packets));
    assert_eq!(
        stats.bytes_written,
        u64::from(packets) * (payload as u64 + 2)
    );
    assert_eq!(stats.wakeups, 1);
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
