// cargo run --release --example lesson10_room
//
// (output: see the end of this comment; filled in from a real run)
//
//! Lesson 10: a broadcast room of 100 players, each sending 10 position
//! updates a second for 2 seconds, on lesson 02's locked send path and then
//! on lesson 04's batched writer. Every player checks every broadcast. The
//! room and the bots run in this one process, on loopback, port 0.
//!
//! For the room and the bots as separate processes (how the chapter's
//! numbers were taken), see `servercore room` and `servercore bots`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use servercore::Lesson;
use servercore::bots::{self, BotsConfig};
use servercore::lessons::lesson10_room::RoomServer;
use servercore::net::SocketOptions;

fn main() -> ExitCode {
    let mut all_verified = true;
    for lesson in [Lesson::Locked, Lesson::BatchedWriter] {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut server = match RoomServer::start(addr, lesson, SocketOptions::default()) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot start the room: {e}");
                return ExitCode::FAILURE;
            }
        };
        let config = BotsConfig::new(server.local_addr(), 100, 10.0, 2.0);
        match bots::run(&config) {
            Ok(report) => {
                print!("{}", bots::table(&report));
                all_verified &= report.verified();
            }
            Err(e) => {
                eprintln!("lesson {lesson}: {e}");
                all_verified = false;
            }
        }
        server.shutdown();
    }
    if all_verified { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
