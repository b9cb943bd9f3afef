// cargo run --example lesson11_shutdown
//
// Close against abort on lesson 04's send path, with its writer held inside
// the write of packet 0 (on the gate the tests use) while more packets
// queue behind it; then a session's send after disconnect; then a server
// shutdown with three clients connected. Prints:
//
//   close: packet 0 held in its write, 9 queued behind it; close waited and flushed: the peer read 10 packets, then end of stream
//   abort: packet 0 held in its write, 9 queued behind it; abort dropped 9: the peer read 1 packet (the write in flight), then end of stream
//   session: after disconnect, send gives the packet back: Closed(34 bytes); a second disconnect drops 0
//   server shutdown: 3 sessions: 3 closed cleanly, 0 disconnected after the grace period; 0 connections refused at the session cap, 0 failed to start
//   threads: 1 before, 1 after
//
// (A send that comes before close or abort has closed the queue is queued
// too, and counted: then it says 10 queued, and the peer reads 11, or abort
// drops 10.) With `RUST_LOG=trace` every step of the senders and the
// writer is logged, each line with its thread's name (`main`, `ender`,
// `writer`).

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::echo::{self, Client, ServerConfig};
use servercore::lessons::lesson11_shutdown::thread_count;
use servercore::net::SocketOptions;
use servercore::session::Handler;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::wire::Wire;
use servercore::workload::make_packet;
use servercore::{Backpressure, Lesson, Packet, SendPath, Session};

/// Packets sent in each of the first two parts (34 bytes each on the wire).
const PACKETS: u32 = 10;

struct Quiet;
impl Handler for Quiet {
    fn on_packet(&self, _: &Arc<Session>, _: Packet) {}
}

/// Reads to the end of the stream; returns the whole packets read.
fn packets_read(mut stream: TcpStream) -> usize {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes.len() / 34
}

/// Sends [`PACKETS`] through lesson 04 with its writer held on a gate inside
/// the write of packet 0, ends the path with `end` (close or abort) on a
/// thread of its own, and lets the writer go once the path is closed.
/// Returns the packets queued behind the held write, what `end` returned,
/// and the packets the peer read.
fn end_while_held(end: fn(&dyn SendPath) -> usize) -> (u32, usize, usize) {
    let (server_side, client) = socket_pair(&SocketOptions::default()).expect("loopback pair");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let gate = Gate::new();
    let wire = Wire::new(GatedSink::new(server_side, Arc::clone(&gate)));
    let path: Arc<dyn SendPath> = Arc::from(Lesson::BatchedWriter.start(wire).expect("writer"));
    path.send(make_packet(0, 0, 32)).unwrap();
    assert!(gate.wait_for_arrivals(1, Duration::from_secs(10)));
    for seq in 1..PACKETS {
        path.send(make_packet(0, seq, 32)).unwrap(); // queued behind the held write
    }
    let mut queued = PACKETS - 1;
    let ender = {
        let path = Arc::clone(&path);
        thread::Builder::new()
            .name("ender".into())
            .spawn(move || end(path.as_ref()))
            .expect("spawn")
    };
    // Until the ender has closed the queue, a send is still queued (and
    // counted); the first refused send says it is closed: let the writer go.
    loop {
        thread::sleep(Duration::from_millis(1));
        if path.send(make_packet(0, queued + 1, 32)).is_err() {
            break;
        }
        queued += 1;
    }
    gate.open();
    let ended = ender.join().unwrap();
    (queued, ended, packets_read(client))
}

fn main() {
    common::init_logging();
    let before = thread_count().unwrap_or(0);

    let (queued, _, read) = end_while_held(|path| {
        path.close();
        0
    });
    println!(
        "close: packet 0 held in its write, {queued} queued behind it; close waited and flushed: the peer read {read} packets, then end of stream"
    );
    let (queued, dropped, read) = end_while_held(|path| path.abort());
    println!(
        "abort: packet 0 held in its write, {queued} queued behind it; abort dropped {dropped}: the peer read {read} packet (the write in flight), then end of stream"
    );

    let (server_side, client) = socket_pair(&SocketOptions::default()).expect("pair");
    let session = Session::start(
        server_side,
        &Lesson::BatchedWriter.session_config(Backpressure::unlimited()),
        Arc::new(Quiet),
    )
    .expect("session");
    session.disconnect();
    let refused = session.send(make_packet(0, 0, 32)).unwrap_err();
    println!(
        "session: after disconnect, send gives the packet back: {refused:?}; a second disconnect drops {}",
        session.disconnect()
    );
    session.join();
    drop(client);

    let mut server = echo::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        &ServerConfig::new(Lesson::BatchedWriter),
    )
    .expect("server");
    let clients: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = Client::connect(server.local_addr(), 16).expect("connect");
            c.exchange(10).expect("echo");
            c
        })
        .collect();
    // Each client hangs up when it reads the server's end of stream.
    let hang_ups: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            thread::Builder::new()
                .name(format!("client {i}"))
                .spawn(move || c.finish_after_server_closes())
                .expect("spawn")
        })
        .collect();
    println!("server shutdown: {}", server.shutdown());
    for h in hang_ups {
        h.join().unwrap().expect("every echo, then end of stream");
    }
    println!(
        "threads: {before} before, {} after",
        thread_count().unwrap_or(0)
    );
}
