//! Lesson 03b, the stranded packet: the break kept as a test that asserts
//! the failure, so the chapter's claim can never rot.
//!
//! The same script runs on both hand-offs, on a real loopback socket with a
//! gate in front of it: `#1` wakes the writer, which is held inside
//! `write(#1)`; `#2` is sent while that write is in flight (`pending` is
//! true: no wake-up); then the gate opens.
//!
//! * `the_wrong_writer_strands_the_packet_sent_during_its_write`: the WRONG
//!   writer (`lesson03b_stranded_packet`) clears `pending` with `#2` still
//!   queued and goes to sleep; only a later, unrelated send gets `#2` out,
//!   and that send's packet is stranded in turn;
//! * `lesson03_delivers_the_packet_sent_during_its_write`: lesson 03's
//!   writer re-checks the queue and writes `#2` with no further send.
//!
//! No sleeps: the gate decides the interleaving, and the broken writer's
//! own state (`BrokenSendQueue::peek`) shows the stranded packet.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use common::{TIMEOUT, pair};
use servercore::lessons::lesson03_send_queue::SendQueue;
use servercore::lessons::lesson03b_stranded_packet::BrokenSendQueue;
use servercore::sync::Arc;
use servercore::testing::{Gate, GatedSink};
use servercore::{Packet, SendPath, Wire};

/// Packet `#n`: a 2-byte body, so 4 bytes on the wire.
fn packet(n: u8) -> Packet {
    Packet::from_payload(&[b'#', n]).unwrap()
}

/// Reads the next 4-byte test packet and returns its number.
fn read_packet(client: &mut TcpStream) -> u8 {
    let mut frame = [0u8; 4];
    client
        .read_exact(&mut frame)
        .expect("a packet within the timeout");
    assert_eq!(frame[..3], [4, 0, b'#'], "not a test packet: {frame:?}");
    frame[3]
}

/// A gated wire on a loopback pair, and the peer's end.
fn gated_connection(gate: &Arc<Gate>) -> (Wire, TcpStream) {
    let (server, client) = pair();
    (Wire::new(GatedSink::new(server, Arc::clone(gate))), client)
}

/// Steps 1–3 of the script: `#1` held inside its write, `#2` sent behind
/// it, the gate opened, `#1` read by the peer.
fn hold_write_and_send_behind_it(path: &dyn SendPath, gate: &Gate, client: &mut TcpStream) {
    path.send(packet(1)).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );
    path.send(packet(2)).unwrap();
    assert_eq!(path.stats().wakeups, 1, "#2 found pending true: no wake-up");
    gate.open();
    assert_eq!(read_packet(client), 1);
}

/// Waits (bounded) until the broken writer has cleared `pending`, and
/// returns `(pending, queued)` then. The writer clears the flag and goes to
/// sleep on its condvar without letting go of the lock in between, so when
/// `peek` (which takes that lock) sees `pending == false`, the writer is
/// asleep, and it stays asleep until a send or `close` wakes it.
fn once_pending_is_cleared(path: &BrokenSendQueue) -> (bool, usize) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = path.peek();
        if !now.0 {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never cleared pending"
        );
        thread::yield_now();
    }
}

/// The WRONG writer: after `write(#1)` it clears `pending` with `#2` still
/// queued. From then on no send is coming to wake it (the one that would
/// have, `#2`'s, skipped the wake-up), so `#2` waits for an unrelated send;
/// that send's packet `#3` is stranded the same way, until `close`.
#[test]
fn the_wrong_writer_strands_the_packet_sent_during_its_write() {
    let gate = Gate::new();
    let (wire, mut client) = gated_connection(&gate);
    let path = BrokenSendQueue::new(wire).unwrap();
    hold_write_and_send_behind_it(&path, &gate, &mut client);

    assert_eq!(
        once_pending_is_cleared(&path),
        (false, 1),
        "stranded: #2 queued, pending false, the writer asleep"
    );
    let stats = path.stats();
    assert_eq!((stats.sends, stats.write_calls, stats.wakeups), (2, 1, 1));

    // An unrelated send finds pending false and wakes the writer: #2 gets out...
    path.send(packet(3)).unwrap();
    assert_eq!(path.stats().wakeups, 2);
    assert_eq!(read_packet(&mut client), 2, "#3's wake-up rescues #2");
    // ...and the same completion strands #3 behind it.
    assert_eq!(
        once_pending_is_cleared(&path),
        (false, 1),
        "stranded again: #3 queued, pending false"
    );
    assert_eq!(path.stats().write_calls, 2);

    // close wakes the writer, which flushes: #3, then end-of-stream.
    path.close();
    assert_eq!(read_packet(&mut client), 3);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after #3");
}

/// Lesson 03 on the same script: the writer comes back from `write(#1)`,
/// finds `#2` queued under the lock and keeps `pending`; `#2` arrives with
/// no further send and still one wake-up.
#[test]
fn lesson03_delivers_the_packet_sent_during_its_write() {
    let gate = Gate::new();
    let (wire, mut client) = gated_connection(&gate);
    let path = SendQueue::new(wire).unwrap();
    hold_write_and_send_behind_it(&path, &gate, &mut client);

    assert_eq!(
        read_packet(&mut client),
        2,
        "delivered without another send"
    );
    path.close(); // joins the writer: the counters are final
    let stats = path.stats();
    assert_eq!((stats.sends, stats.write_calls, stats.wakeups), (2, 2, 1));
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after #2");
}
