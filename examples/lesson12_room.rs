// cargo run --release --example lesson12_room
//
// prints (one run on a busy 2-core machine; the counts are exact, the rates vary):
//
//   servercore bots: 200 players x 20 updates/s x 1 s, room on lesson 02
//     updates sent                       4,000
//     broadcasts expected                800,000
//     broadcasts received                800,000
//     seconds: sending / last delivery   1.00 / 7.14
//     delivered broadcasts/s             112,022
//     latency p50 / p99 / max (ms)       2588.67 / 6094.85 / 6201.09
//     server write calls                 800,001
//     server write calls per broadcast   1.00000
//     verified                           yes
//   servercore bots: 200 players x 20 updates/s x 1 s, room on lesson 04
//     updates sent                       4,000
//     broadcasts expected                800,000
//     broadcasts received                800,000
//     seconds: sending / last delivery   1.25 / 1.30
//     delivered broadcasts/s             615,389
//     latency p50 / p99 / max (ms)       9.34 / 194.56 / 291.19
//     server write calls                 98,999
//     server write calls per broadcast   0.12375
//     verified                           yes
//
//! Lesson 12: a broadcast room of 200 players, each sending 20 position
//! updates a second for 1 second, on lesson 02's locked send path and then
//! on lesson 04's batched writer. Every player checks every broadcast. The
//! room and the bots run in this one process, on loopback, port 0.
//!
//! For the room and the bots as separate processes (how the chapter's
//! numbers were taken), see `servercore room` and `servercore bots`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use servercore::Lesson;
use servercore::bots::{self, BotsConfig};
use servercore::server::{RoomServer, ServerConfig};

fn main() -> ExitCode {
    let mut all_verified = true;
    for lesson in [Lesson::Locked, Lesson::BatchedWriter] {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut server = match RoomServer::start(addr, &ServerConfig::room(lesson)) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot start the room: {e}");
                return ExitCode::FAILURE;
            }
        };
        let config = BotsConfig::new(server.local_addr(), 200, 20.0, 1.0);
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
    if all_verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
