// cargo run --example lesson10_backpressure
//
// For each policy, lesson 04's send path behind a 32 KiB queue limit, on a
// loopback connection with 4 KiB kernel buffers whose client does not read
// at first; a sender sends 5,000 packets of 102 bytes. Then lesson 02
// under the same limit: it has no queue, so the limit does not wrap it.
// Prints one line per case; how many packets the kernel's buffers take
// before the limit is reached varies a little from run to run:
//
//   block:      5000 sent, 0 refused; the sender waited; max queued 32742 of 32768 bytes; client read 5000
//   reject:     321 sent, 4679 refused (Full, packet given back); max queued 32742 of 32768 bytes; client read 321
//   disconnect: evicted after 322 sends; max queued 32742 of 32768 bytes
//   02 locked:  the sender stopped after 105 sends, in write (no queue: the socket buffer is the limit); max queued 0 bytes; client read 5000
//
// Log lines, when you turn them on with `RUST_LOG`, name their thread
// (`sender`, `client`, `writer`, `main`).

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::wire::Wire;
use servercore::workload::{Received, Verifier, make_packet, receive};
use servercore::{Backpressure, Policy};
use servercore::{Lesson, SendError, SendPath};

/// The queue limit (the low-water mark is half of it).
const LIMIT: usize = 32 * 1024;
/// Packets the sender sends.
const PACKETS: u32 = 5000;
/// Payload bytes per packet (102 on the wire).
const PAYLOAD: usize = 100;

/// `lesson`'s send path behind the limit with `policy`, on a loopback pair
/// with 4 KiB kernel buffers, and the client end (not reading yet).
fn stalled(lesson: Lesson, policy: Policy) -> (Arc<dyn SendPath>, TcpStream) {
    let options = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    let (server_side, client) = socket_pair(&options).expect("loopback pair");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let wire = Wire::from_stream(&server_side).expect("wire");
    let path: Arc<dyn SendPath> = Arc::from(
        lesson
            .start_with(wire, Backpressure::new(LIMIT, policy))
            .expect("send path"),
    );
    (path, client)
}

/// A thread named `name` running `f`.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawn a thread")
}

/// The client starts reading: `expected` packets from one sender.
fn client_reads(client: TcpStream, expected: u64) -> thread::JoinHandle<Received> {
    spawn("client", move || {
        receive(client, Verifier::new(1, PAYLOAD), expected).expect("read")
    })
}

/// One sender sends every packet (block never refuses).
fn sender(path: &Arc<dyn SendPath>) -> thread::JoinHandle<()> {
    let path = Arc::clone(path);
    spawn("sender", move || {
        for seq in 0..PACKETS {
            path.send(make_packet(0, seq, PAYLOAD))
                .expect("block never refuses");
        }
    })
}

fn block() {
    let (path, client) = stalled(Lesson::BatchedWriter, Policy::Block);
    let sender = sender(&path);
    // The client starts reading only once the sender waits on the limit.
    while path.stats().blocked_sends == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let reader = client_reads(client, u64::from(PACKETS));
    sender.join().unwrap();
    path.close();
    let got = reader.join().unwrap();
    let s = path.stats();
    println!(
        "block:      {} sent, {} refused; the sender waited; max queued {} of {LIMIT} bytes; client read {}",
        s.sends, s.refused_sends, s.max_queued_bytes, got.packets
    );
}

fn reject() {
    let (path, client) = stalled(Lesson::BatchedWriter, Policy::Reject);
    let mut accepted = 0;
    for seq in 0..PACKETS {
        match path.send(make_packet(0, accepted, PAYLOAD)) {
            Ok(()) => accepted += 1,
            Err(SendError::Full(packet)) => drop(packet), // given back; we drop it
            Err(e) => panic!("seq {seq}: {e}"),
        }
    }
    let reader = client_reads(client, u64::from(accepted));
    path.close();
    let got = reader.join().unwrap();
    let s = path.stats();
    println!(
        "reject:     {} sent, {} refused (Full, packet given back); max queued {} of {LIMIT} bytes; client read {}",
        s.sends, s.refused_sends, s.max_queued_bytes, got.packets
    );
}

fn disconnect() {
    let (path, client) = stalled(Lesson::BatchedWriter, Policy::Disconnect);
    let mut sends = 0;
    while path.send(make_packet(0, sends, PAYLOAD)).is_ok() {
        sends += 1;
    }
    drop(client); // a session would shut the socket; here the peer just goes
    path.abort();
    println!(
        "disconnect: evicted after {} sends; max queued {} of {LIMIT} bytes",
        sends + 1,
        path.stats().max_queued_bytes
    );
}

fn no_queue() {
    let (path, client) = stalled(Lesson::Locked, Policy::Reject);
    let sender = sender(&path);
    // Give the sender time to fill the kernel's buffers and block in `write`.
    thread::sleep(Duration::from_millis(200));
    let stopped_after = path.stats().sends;
    let reader = client_reads(client, u64::from(PACKETS));
    sender.join().unwrap();
    path.close();
    let got = reader.join().unwrap();
    println!(
        "02 locked:  the sender stopped after {stopped_after} sends, in write (no queue: the socket buffer is the limit); max queued {} bytes; client read {}",
        path.stats().max_queued_bytes,
        got.packets
    );
}

fn main() {
    common::init_logging();
    block();
    reject();
    disconnect();
    no_queue();
}
