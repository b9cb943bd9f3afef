//! Loopback pairs whose blocking calls all time out, and send paths
//! started on them (plain or behind a gate).

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use servercore::net::SocketOptions;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::{Lesson, SendPath, Wire};

/// The longest any blocking step of a test may take before the test fails.
/// Generous: it is never reached unless something hangs.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A loopback pair `(server_side, client)` with `options` on both ends.
/// Reads on the client and writes on the server side time out after
/// [`TIMEOUT`], so neither a lost packet nor a stuck writer can hang a test.
pub fn pair_with(options: &SocketOptions) -> (TcpStream, TcpStream) {
    let (server, client) = socket_pair(options).expect("a loopback socket pair");
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    server.set_write_timeout(Some(TIMEOUT)).unwrap();
    (server, client)
}

/// A loopback pair with default options (see [`pair_with`]).
pub fn pair() -> (TcpStream, TcpStream) {
    pair_with(&SocketOptions::default())
}

/// Starts `lesson`'s send path on a clone of `server` (a plain `TcpStream` wire).
pub fn start(lesson: Lesson, server: &TcpStream) -> Box<dyn SendPath> {
    lesson
        .start(Wire::from_stream(server).expect("clone the socket"))
        .expect("start the send path")
}

/// Starts `lesson`'s send path on `server` behind `gate`: every write call
/// waits at the gate until it opens.
pub fn start_gated(lesson: Lesson, server: TcpStream, gate: &Arc<Gate>) -> Box<dyn SendPath> {
    lesson
        .start(Wire::new(GatedSink::new(server, Arc::clone(gate))))
        .expect("start the send path")
}

/// Reads `stream` until end of stream (or reset) and returns the byte
/// count. Fails on a timeout.
pub fn read_to_end_counting(mut stream: &TcpStream) -> io::Result<u64> {
    let mut total = 0u64;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Asserts that the peer's side of `client` is shut: a read returns end of
/// stream (or a reset), not data and not a timeout.
pub fn assert_peer_gone(mut client: &TcpStream) {
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected end of stream, got {other:?}"),
    }
}

/// The small socket buffers of the partial-write tests: `SO_SNDBUF` and
/// `SO_RCVBUF` of 4 KiB on both ends (Linux doubles them: 8 KiB).
pub fn small_buffers() -> SocketOptions {
    SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    }
}
