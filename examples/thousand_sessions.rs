// cargo run --release --example thousand_sessions [-- SESSIONS [PACKETS]]
//
// Starts the echo server in-process (lesson 04's send path) and connects
// SESSIONS clients (default 1,000), all at once. Client threads (20, each
// driving its share of the clients in turn) send PACKETS packets per client
// (default 100), in rounds of 10, and verify every echo. Prints the
// server's thread count at the peak, then shuts the server down and prints
// what it did, e.g.:
//
//   1000 sessions connected; threads in the process: 2022 (acceptor + 2 per session + 20 clients + main)
//   100000 echoes verified (100 per session) in 0.3 s
//   shutdown: 73 sessions: 73 closed cleanly, 0 disconnected after the grace period; 0 connections refused at the session cap, 0 failed to start
//
// (Every client has said goodbye by then; the sessions still counted at
// shutdown are those whose goodbye the server had not read yet.)
//
// Peak resident memory: /usr/bin/time -v target/release/examples/thousand_sessions

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use servercore::Lesson;
use servercore::echo::{self, Client, ServerConfig};
use servercore::lessons::lesson11_shutdown::thread_count;
use servercore::sync::THREAD_STACK_SIZE;

const CLIENT_THREADS: usize = 20;
const ROUND: u32 = 10;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let sessions: usize = args
        .next()
        .map_or(1000, |a| a.parse().expect("SESSIONS: a number"));
    let packets: u32 = args
        .next()
        .map_or(100, |a| a.parse().expect("PACKETS: a number"));
    let mut server = echo::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        &ServerConfig::new(Lesson::BatchedWriter),
    )
    .expect("server starts");
    let addr = server.local_addr();
    // Everybody connected (and echoed once) before anyone measures.
    let connected = Arc::new(Barrier::new(CLIENT_THREADS + 1));
    let measured = Arc::new(Barrier::new(CLIENT_THREADS + 1));
    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let (connected, measured) = (Arc::clone(&connected), Arc::clone(&measured));
            let share = sessions / CLIENT_THREADS + usize::from(t < sessions % CLIENT_THREADS);
            thread::Builder::new()
                .stack_size(THREAD_STACK_SIZE)
                .spawn(move || -> std::io::Result<u64> {
                    let mut clients = Vec::with_capacity(share);
                    for _ in 0..share {
                        let mut client = Client::connect(addr, 32)?;
                        client.exchange(1)?;
                        clients.push(client);
                    }
                    connected.wait();
                    measured.wait();
                    let mut sent = 1;
                    while sent < packets {
                        let n = ROUND.min(packets - sent);
                        for client in &mut clients {
                            client.exchange(n)?;
                        }
                        sent += n;
                    }
                    let mut echoed = 0;
                    for client in clients {
                        echoed += client.finish()?.echoed;
                    }
                    Ok(echoed)
                })
                .expect("spawn a client thread")
        })
        .collect();
    connected.wait();
    let live = server.live_sessions();
    println!(
        "{live} sessions connected; threads in the process: {} (acceptor + 2 per session + {CLIENT_THREADS} clients + main)",
        thread_count().unwrap_or(0)
    );
    let start = Instant::now();
    measured.wait();
    let mut echoed = 0;
    let mut failed = false;
    for worker in workers {
        match worker.join().expect("client thread") {
            Ok(n) => echoed += n,
            Err(e) => {
                eprintln!("a client failed: {e}");
                failed = true;
            }
        }
    }
    println!(
        "{echoed} echoes verified ({packets} per session) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    println!("shutdown: {}", server.shutdown());
    if failed || live != sessions || echoed != sessions as u64 * u64::from(packets) {
        println!(
            "FAILED: expected {sessions} sessions and {} echoes",
            sessions as u64 * u64::from(packets)
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
