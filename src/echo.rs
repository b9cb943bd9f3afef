//! The echo server and client behind `servercore serve` and `servercore client`.
//!
//! The server sends every packet a client sends back to it, on the same
//! session, through the chosen lesson's send path. It is the test bench of
//! lessons 09–11: it must survive hostile clients (bad sizes, truncated
//! packets, resets, clients that never read, panicking handlers) while
//! every well-behaved client gets every echo, and it must shut down cleanly.
//!
//! ```text
//! acceptor thread ──▶ Session::start ──▶ reader thread: on_connected → registry
//!                                                        on_packet    → session.send(packet)
//!                                                        on_disconnected → registry: ended, to join
//! Server::shutdown: stop accepting → close every session (flush, FIN) → wait for the
//!                   peers to hang up (a grace period) → disconnect the rest → join every thread
//! ```
//!
//! [`Client`] speaks the same wire format and verifies every echo. Any
//! client that speaks the format works too; the chapter shows one in Python.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::net::{self, SocketOptions};
use crate::packet::{MAX_PAYLOAD_LEN, Packet, RecvBuffer};
// The server lives in `crate::server`; `serve` starts it with the echo handler.
pub use crate::server::{EndedSession, Server, ServerConfig, ShutdownReport};
use crate::session::{Handler, Session};
use crate::workload::{MIN_PAYLOAD, Verifier, make_packet};

/// The echo handler: every packet goes straight back on its session.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Handler for Echo {
    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        if let Err(error) = session.send(packet) {
            // Closed: the session is going away. Full (policy reject): this
            // echo is dropped. Evicted: the session disconnects itself.
            log::debug!("{}: echo not sent: {error}", session.peer_addr());
        }
    }
}

/// Starts an echo server on `addr` (port 0: the OS picks one).
pub fn serve(addr: SocketAddr, config: &ServerConfig) -> io::Result<Server> {
    Server::start(addr, config, Arc::new(Echo))
}

/// How long the client waits for the next echo before it calls it lost.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes the client has in flight before it reads the echoes: small
/// enough that the server's socket buffers take them even in lessons 01 and
/// 02, which have no queue.
const CLIENT_WINDOW: usize = 32 * 1024;

/// An echo client: sends numbered packets, checks every echo (count, order, content).
#[derive(Debug)]
pub struct Client {
    /// The connection.
    stream: TcpStream,
    /// Echoes received but not yet checked.
    buffer: RecvBuffer,
    /// Checks every echo: our sender id is 0, sequence numbers from 0.
    verifier: Verifier,
    /// Payload bytes per packet.
    payload: usize,
    /// Packets sent so far.
    sent: u32,
}

/// What a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientReport {
    /// Packets sent.
    pub sent: u32,
    /// Echoes received, each one verified.
    pub echoed: u64,
    /// Payload bytes per packet.
    pub payload: usize,
}

impl fmt::Display for ClientReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} packets of {} bytes, received {} echoes, every one verified (count, order, content)",
            self.sent,
            self.payload + 2,
            self.echoed
        )
    }
}

impl Client {
    /// Connects to an echo server; packets will carry `payload` bytes
    /// ([`MIN_PAYLOAD`]..=[`MAX_PAYLOAD_LEN`]).
    pub fn connect(addr: SocketAddr, payload: usize) -> io::Result<Client> {
        if !(MIN_PAYLOAD..=MAX_PAYLOAD_LEN).contains(&payload) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("payload must be {MIN_PAYLOAD}..={MAX_PAYLOAD_LEN} bytes"),
            ));
        }
        let stream = net::connect(addr, &SocketOptions::default())?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(Client {
            stream,
            buffer: RecvBuffer::new(payload + 2),
            verifier: Verifier::new(1, payload),
            payload,
            sent: 0,
        })
    }

    /// This client's local address (the server's `peer`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Sends `packets` more packets and waits for every echo, checking each.
    /// At most 32 KiB are in flight at a time.
    pub fn exchange(&mut self, packets: u32) -> io::Result<()> {
        let per_window = (CLIENT_WINDOW / (self.payload + 2)).max(1) as u32;
        let target = self.sent + packets;
        while self.sent < target {
            let n = per_window.min(target - self.sent);
            let mut bytes = Vec::with_capacity(n as usize * (self.payload + 2));
            for seq in self.sent..self.sent + n {
                bytes.extend_from_slice(make_packet(0, seq, self.payload).as_bytes());
            }
            self.stream.write_all(&bytes)?;
            self.sent += n;
            self.receive_until(u64::from(self.sent))?;
        }
        Ok(())
    }

    /// Reads and checks echoes until `count` have arrived in all.
    fn receive_until(&mut self, count: u64) -> io::Result<()> {
        while self.verifier.received() < count {
            while let Some(frame) = self.buffer.next_frame().map_err(invalid)? {
                if !self.verifier.check(frame) {
                    return Err(invalid(self.verifier.problem().unwrap_or("bad echo")));
                }
            }
            if self.verifier.received() >= count {
                break;
            }
            if self.buffer.read_from(&mut self.stream)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the server closed the connection after {} echoes",
                        self.verifier.received()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// For a server that is shutting down: waits for its end of stream
    /// (every echo must have arrived before it), then hangs up.
    pub fn finish_after_server_closes(self) -> io::Result<ClientReport> {
        self.report_at_end_of_stream("before the server's end of stream")
    }

    /// Says goodbye: shuts the write half, checks that nothing more than
    /// the expected echoes arrives before the server closes, and reports.
    pub fn finish(self) -> io::Result<ClientReport> {
        self.stream.shutdown(Shutdown::Write)?;
        self.report_at_end_of_stream("after the last echo")
    }

    /// Reads to the end of the stream: any byte still arriving (or left
    /// unread) is an error, described as arriving `when`. Then reports.
    fn report_at_end_of_stream(mut self, when: &str) -> io::Result<ClientReport> {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest)?;
        if !rest.is_empty() || self.buffer.unread() > 0 {
            return Err(invalid(format!(
                "{} unexpected bytes {when}",
                rest.len() + self.buffer.unread()
            )));
        }
        Ok(ClientReport {
            sent: self.sent,
            echoed: self.verifier.received(),
            payload: self.payload,
        })
    }
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// `servercore client`: connects, exchanges `packets` packets of `payload`
/// bytes, verifies every echo, says goodbye.
pub fn run_client(addr: SocketAddr, packets: u32, payload: usize) -> io::Result<ClientReport> {
    let mut client = Client::connect(addr, payload)?;
    client.exchange(packets)?;
    client.finish()
}
