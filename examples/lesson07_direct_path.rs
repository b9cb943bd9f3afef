//! Lesson 07 — the direct path: write from the caller while idle, batch under load.
//!
//! Run:
//!
//! ```text
//! cargo run --example lesson07_direct_path
//! RUST_LOG=trace cargo run --example lesson07_direct_path   # every hand-over, step by step
//! ```
//!
//! It prints (counts are exact for the quiet part; the busy part varies):
//!
//! ```text
//! quiet: 5 sends one at a time, each after the last arrived
//!   sends 5, write calls 5, wake-ups 0, writer batches 0: every send was a direct write
//! busy: 4 threads x 20000 sends at once
//!   sends 80005, write calls 3668, wake-ups 5, writer batches 687, largest batch 19727
//!   all 80005 packets arrived intact and in per-thread order
//! ```

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::socket_pair;
use servercore::workload::{Verifier, fill_payload, make_packet};
use servercore::{Lesson, Packet, Wire, packet::RecvBuffer};

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (server, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(Duration::from_secs(20)))?;
    let path: Arc<dyn servercore::SendPath> =
        Arc::from(Lesson::DirectPath.start(Wire::from_stream(&server)?)?);

    // Part 1, quiet: one packet at a time, and we wait for each to arrive
    // before the next, so every send finds the socket idle.
    println!("quiet: 5 sends one at a time, each after the last arrived");
    let mut buffer = RecvBuffer::new(servercore::packet::MAX_PACKET_LEN);
    let mut verifier = Verifier::new(5, 32);
    for seq in 0..5 {
        path.send(make_packet(seq, 0, 32)).expect("session open");
        // Read until that one packet is here.
        loop {
            if let Some(frame) = buffer.next_frame().expect("well-formed") {
                assert!(verifier.check(frame), "{:?}", verifier.problem());
                break;
            }
            if buffer.read_from(&mut &client)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
    let s = path.stats();
    println!(
        "  sends {}, write calls {}, wake-ups {}, writer batches {}: every send was a direct write",
        s.sends, s.write_calls, s.wakeups, s.batches
    );

    // Part 2, busy: four threads at once. Whoever finds the socket busy
    // queues; the writer thread takes over and batches.
    let (threads, each) = (4u16, 20_000u32);
    println!("busy: {threads} threads x {each} sends at once");
    let receiver = thread::spawn(move || {
        // The first sender ids 0..5 were used above with seq 0; the busy
        // senders are ids 0..4 again, continuing at seq 1.
        let mut verifier = verifier;
        let expected = u64::from(threads) * u64::from(each);
        let mut got = 0;
        while got < expected {
            match buffer.next_frame() {
                Ok(Some(frame)) => {
                    if !verifier.check(frame) {
                        return Err(verifier.problem().unwrap_or_default().to_owned());
                    }
                    got += 1;
                }
                Ok(None) => match buffer.read_from(&mut &client) {
                    Ok(0) => return Err(format!("stream ended after {got} packets")),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                },
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(verifier.received())
    });
    let senders: Vec<_> = (0..threads)
        .map(|id| {
            let path = Arc::clone(&path);
            thread::spawn(move || {
                let mut payload = [0u8; 32];
                for seq in 1..=each {
                    fill_payload(&mut payload, id, seq);
                    let packet = Packet::from_payload(&payload[..32]).expect("small");
                    path.send(packet).expect("session open");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("sender panicked");
    }
    path.close();
    let s = path.stats();
    println!(
        "  sends {}, write calls {}, wake-ups {}, writer batches {}, largest batch {}",
        s.sends, s.write_calls, s.wakeups, s.batches, s.max_batch
    );
    match receiver.join().expect("receiver panicked") {
        Ok(n) => println!("  all {n} packets arrived intact and in per-thread order"),
        Err(problem) => println!("  NOT verified: {problem}"),
    }
    Ok(())
}
