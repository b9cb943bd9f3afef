//! A thread that cannot be spawned refuses its own connection, never the
//! server: the next spawn is made to fail (`sync::fail_next_spawns`), as on
//! a machine out of threads or memory maps, and the sessions before and
//! after it go on. In a test binary of its own: the injection is process-wide.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use servercore::Lesson;
use servercore::echo::{self, Client};
use servercore::net::{self, SocketOptions};
use servercore::server::ServerConfig;
use servercore::sync;

#[test]
fn a_failed_spawn_closes_that_connection_and_the_server_goes_on() {
    for lesson in [Lesson::Locked, Lesson::BatchedWriter] {
        let mut server = echo::serve(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            &ServerConfig::new(lesson),
        )
        .unwrap();
        let addr = server.local_addr();
        let mut before = Client::connect(addr, 32).unwrap();
        before.exchange(10).unwrap();

        // The next spawn fails: the writer's (lesson 04) or the reader's (lesson 02).
        sync::fail_next_spawns(1);
        let mut refused = net::connect(addr, &SocketOptions::default()).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut rest = Vec::new();
        let closed = match refused.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(
            closed,
            "{lesson}: the connection whose spawn failed is closed"
        );
        // The acceptor counts the failure right after the connection closed.
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.refusals() != (0, 1) {
            assert!(
                Instant::now() < deadline,
                "{lesson}: counted as failed to start: {:?}",
                server.refusals()
            );
            thread::yield_now();
        }

        // The session before it and a session after it both get every echo.
        before.exchange(100).unwrap();
        let mut after = Client::connect(addr, 32).unwrap();
        after.exchange(100).unwrap();
        assert_eq!(after.finish().unwrap().echoed, 100);
        assert_eq!(before.finish().unwrap().echoed, 110);
        assert_eq!(server.shutdown().failed, 1);
    }
}
