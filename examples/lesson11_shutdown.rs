// cargo run --example lesson11_shutdown
//
// Close versus disconnect on a session whose peer is not reading yet, then
// a server shutdown with three clients connected. Prints, e.g.:
//
//   close:      20000 sent, the peer read 20000 packets and then end of stream
//   disconnect: 20000 sent, 19705 dropped from the queue, the peer read 240 packets before the reset
//   (the rest of the 20,000 were in the write the reset cut short)
//   send after either: Closed(34 bytes)
//   server shutdown: 3 sessions: 3 closed cleanly, 0 disconnected after the grace period
//   threads: 1 before, 1 after

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::Backpressure;
use servercore::echo::{self, Client, ServerConfig};
use servercore::lessons::lesson11_shutdown::thread_count;
use servercore::net::SocketOptions;
use servercore::session::Handler;
use servercore::testing::socket_pair;
use servercore::workload::make_packet;
use servercore::{Lesson, Packet, Session};

struct Quiet;
impl Handler for Quiet {
    fn on_packet(&self, _: &Arc<Session>, _: Packet) {}
}

fn count_packets(mut stream: std::net::TcpStream) -> usize {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes); // a reset ends it early: that is the point
    bytes.len() / 34
}

fn main() {
    let before = thread_count().unwrap_or(0);
    // Small kernel buffers, so that most packets wait in the session's queue.
    let options = SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    };
    for abort in [false, true] {
        let (server_side, client) = socket_pair(&options).expect("pair");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let session = Session::start(
            server_side,
            &Lesson::BatchedWriter.session_config(Backpressure::unlimited()),
            Arc::new(Quiet),
        )
        .unwrap();
        for seq in 0..20_000 {
            session.send(make_packet(0, seq, 32)).unwrap();
        }
        if abort {
            let dropped = session.disconnect();
            let read = count_packets(client);
            println!(
                "disconnect: 20000 sent, {dropped} dropped from the queue, the peer read {read} packets before the reset"
            );
            println!(
                "send after either: {:?}",
                session.send(make_packet(0, 0, 32)).unwrap_err()
            );
        } else {
            let reader = thread::spawn(move || count_packets(client));
            session.close();
            println!(
                "close:      20000 sent, the peer read {} packets and then end of stream",
                reader.join().unwrap()
            );
            session.disconnect();
        }
        session.join();
    }
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
    let hang_ups: Vec<_> = clients
        .into_iter()
        .map(|c| thread::spawn(move || c.finish_after_server_closes()))
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
