// cargo run --example lesson10_backpressure
//
// For each policy, lesson 04's send path with a 32 KiB queue limit on a
// loopback connection whose client does not read at first; a sender sends
// 5,000 packets of 102 bytes. Prints, per policy, what happened to the
// sender and the most bytes ever queued (never above the limit), e.g.:
//
//   block:      5000 sent, 0 refused; the sender waited; max queued 32742 of 32768 bytes; client read 5000
//   reject:     386 sent, 4614 refused (Full, packet given back); max queued 32742 of 32768 bytes; client read 320
//   disconnect: evicted after 322 sends; max queued 32742 of 32768 bytes

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::wire::Wire;
use servercore::workload::{Verifier, make_packet, receive};
use servercore::{Backpressure, Policy};
use servercore::{Lesson, SendError, SendPath};

const LIMIT: usize = 32 * 1024;

fn main() {
    for policy in [Policy::Block, Policy::Reject, Policy::Disconnect] {
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
            Lesson::BatchedWriter
                .start_with(wire, Backpressure::new(LIMIT, policy))
                .expect("send path"),
        );
        match policy {
            Policy::Block => {
                let sender = {
                    let path = Arc::clone(&path);
                    thread::spawn(move || {
                        (0..5000).for_each(|seq| path.send(make_packet(0, seq, 100)).unwrap())
                    })
                };
                // The client starts reading only once the sender is stuck.
                while path.stats().blocked_sends == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
                let reader = thread::spawn(move || receive(client, Verifier::new(1, 100), 5000));
                sender.join().unwrap();
                path.close();
                let got = reader.join().unwrap().expect("read");
                let s = path.stats();
                println!(
                    "block:      {} sent, {} refused; the sender waited; max queued {} of {LIMIT} bytes; client read {}",
                    s.sends, s.refused_sends, s.max_queued_bytes, got.packets
                );
            }
            Policy::Reject => {
                let mut accepted = 0;
                for seq in 0..5000 {
                    match path.send(make_packet(0, accepted, 100)) {
                        Ok(()) => accepted += 1,
                        Err(SendError::Full(packet)) => drop(packet), // given back; we drop it
                        Err(e) => panic!("seq {seq}: {e}"),
                    }
                }
                let reader = thread::spawn(move || {
                    receive(client, Verifier::new(1, 100), u64::from(accepted))
                });
                path.close();
                let got = reader.join().unwrap().expect("read");
                let s = path.stats();
                println!(
                    "reject:     {} sent, {} refused (Full, packet given back); max queued {} of {LIMIT} bytes; client read {}",
                    s.sends, s.refused_sends, s.max_queued_bytes, got.packets
                );
            }
            Policy::Disconnect => {
                let mut sends = 0;
                while path.send(make_packet(0, sends, 100)).is_ok() {
                    sends += 1;
                }
                drop(client); // the session would shut the socket; here the peer just goes
                path.abort();
                let s = path.stats();
                println!(
                    "disconnect: evicted after {} sends; max queued {} of {LIMIT} bytes",
                    sends + 1,
                    s.max_queued_bytes
                );
            }
        }
    }
}
