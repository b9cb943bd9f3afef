//! Helpers shared by the test files of lessons 09–11.
#![allow(dead_code)] // each test file uses some of them

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use servercore::echo::{self, Client, EndedSession, Server, ServerConfig};
use servercore::{Lesson, StatsSnapshot};

/// Every blocking wait in these tests ends here at the latest.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// `127.0.0.1:0`.
pub fn localhost() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// An echo server on loopback with `config`.
pub fn server(config: &ServerConfig) -> Server {
    echo::serve(localhost(), config).expect("server starts")
}

/// The default config for `lesson`, with a 1,024-byte packet limit.
pub fn config(lesson: Lesson) -> ServerConfig {
    let mut config = ServerConfig::new(lesson);
    config.max_packet = 1024;
    config
}

/// A raw client socket with read and write timeouts.
pub fn raw(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.local_addr()).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Reads until the server closes the connection (end of stream or reset);
/// returns the bytes that came before. Fails on a timeout.
pub fn read_until_closed(mut stream: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("waiting for the server to close: {e}"),
        }
    }
}

/// Waits for the server to report the end of the session from `peer`.
pub fn ended(server: &Server, peer: SocketAddr) -> EndedSession {
    server
        .wait_for_end(peer, TIMEOUT)
        .unwrap_or_else(|| panic!("session {peer} did not end within {TIMEOUT:?}"))
}

/// Polls `probe` until it returns `Some`, or fails after [`TIMEOUT`]. For
/// conditions that have no event to wait on (a counter of another thread).
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the live session from `peer` has a sender blocked on its queue limit.
pub fn blocked(server: &Server, peer: SocketAddr) -> StatsSnapshot {
    eventually("a sender blocked on the queue limit", || {
        server.live_stats(peer).filter(|s| s.blocked_sends > 0)
    })
}

/// A well-behaved client: `rounds` of `per_round` packets, each echo
/// verified; `between` runs after the first round, while it is connected.
pub fn good_client_around<T>(server: &Server, between: impl FnOnce() -> T) -> T {
    let mut good = Client::connect(server.local_addr(), 40).expect("good client connects");
    good.exchange(300).expect("echoes before");
    let result = between();
    good.exchange(300).expect("echoes after");
    let report = good.finish().expect("good client finishes cleanly");
    assert_eq!((report.sent, report.echoed), (600, 600));
    result
}
