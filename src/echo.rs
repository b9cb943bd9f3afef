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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::catalog::Lesson;
use crate::lessons::lesson10_backpressure::{Backpressure, Policy};
use crate::net::{self, Acceptor, SocketOptions};
use crate::packet::{MAX_PAYLOAD_LEN, Packet, RecvBuffer};
use crate::session::{DisconnectReason, Handler, Session, SessionConfig};
use crate::stats::StatsSnapshot;
use crate::sync::THREAD_STACK_SIZE;
use crate::workload::{MIN_PAYLOAD, Verifier, make_packet};

/// The server's default `--max-packet`: 16 KiB, header included.
///
/// The format allows 65,535, but the course's packets (moves, chat, state
/// updates) are tens to hundreds of bytes. A smaller limit makes a lying
/// size header cheap to detect and keeps what one bad peer can make the
/// server buffer for it small; raise it with `--max-packet` (up to 65,535).
pub const DEFAULT_MAX_PACKET: usize = 16 * 1024;

/// The server's default `--queue-limit`: 1 MiB of queued echoes per session
/// (64 packets of the default maximum size), low-water mark at half.
pub const DEFAULT_QUEUE_LIMIT: usize = 1024 * 1024;

/// The server's default policy: block. The echoing reader thread waits, so
/// it stops reading, and TCP slows the sending peer down in turn.
pub const DEFAULT_POLICY: Policy = Policy::Block;

/// How long shutdown waits for peers to hang up after their sessions were
/// closed before it disconnects the rest.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// How many ended sessions the server remembers (for [`Server::ended`]).
const ENDED_KEPT: usize = 4096;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The send path every session uses.
    pub lesson: Lesson,
    /// Every session's queue limit and policy (lesson 10); lessons 01 and
    /// 02 have no queue and ignore it.
    pub backpressure: Backpressure,
    /// The largest packet a session accepts, header included.
    pub max_packet: usize,
    /// Options for the listener and every accepted socket.
    pub socket: SocketOptions,
    /// How long shutdown waits for peers to hang up before disconnecting them.
    pub grace: Duration,
}

impl ServerConfig {
    /// The defaults for `lesson`: [`DEFAULT_MAX_PACKET`],
    /// [`DEFAULT_QUEUE_LIMIT`], [`DEFAULT_POLICY`], [`DEFAULT_GRACE`].
    pub fn new(lesson: Lesson) -> ServerConfig {
        ServerConfig {
            lesson,
            backpressure: Backpressure::new(DEFAULT_QUEUE_LIMIT, DEFAULT_POLICY),
            max_packet: DEFAULT_MAX_PACKET,
            socket: SocketOptions::default(),
            grace: DEFAULT_GRACE,
        }
    }

    /// The config every session of this server starts with.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            max_packet: self.max_packet,
            ..self.lesson.session_config(self.backpressure)
        }
    }
}

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

/// A session that has ended, as the server saw it.
#[derive(Debug, Clone)]
pub struct EndedSession {
    /// The client's address.
    pub peer: SocketAddr,
    /// Why it ended, in words (the [`DisconnectReason`]'s `Display`).
    pub reason: String,
    /// Its send path's counters at the end.
    pub stats: StatsSnapshot,
}

/// What [`Server::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Sessions alive when shutdown began.
    pub sessions: usize,
    /// Of those, the ones whose peer hung up within the grace period after
    /// its queue was flushed and its write half shut.
    pub closed_cleanly: usize,
    /// The rest: disconnected after the grace period.
    pub disconnected: usize,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sessions: {} closed cleanly, {} disconnected after the grace period",
            self.sessions, self.closed_cleanly, self.disconnected
        )
    }
}

/// The server's record of its sessions: shared by the acceptor, every
/// reader thread (through [`Tracker`]) and `shutdown`.
#[derive(Default)]
struct Registry {
    /// The sessions and counts below.
    state: Mutex<Sessions>,
    /// Signalled every time a session ends (`ended_count` grows).
    session_ended: Condvar,
}

#[derive(Default)]
struct Sessions {
    /// Sessions the acceptor started, in all. Invariant: `ended_count <= started`.
    started: u64,
    /// Sessions whose `on_disconnected` has run, in all.
    ended_count: u64,
    /// Live sessions by peer address: inserted by `on_connected`, removed
    /// by `on_disconnected` (both on the session's reader thread).
    live: HashMap<SocketAddr, Arc<Session>>,
    /// Ended sessions whose reader thread nobody has joined yet; the
    /// acceptor joins them on its next accept, `shutdown` joins the rest.
    to_join: Vec<Arc<Session>>,
    /// The last [`ENDED_KEPT`] ended sessions, oldest first.
    ended: VecDeque<EndedSession>,
    /// true once shutdown began: a session that connects now is disconnected at once.
    stopping: bool,
}

/// Wraps the server's handler: keeps the registry up to date around it.
struct Tracker {
    registry: Arc<Registry>,
    inner: Arc<dyn Handler>,
}

impl Handler for Tracker {
    fn on_connected(&self, session: &Arc<Session>) {
        let mut sessions = self.registry.state.lock().unwrap();
        if sessions.stopping {
            drop(sessions);
            session.disconnect();
            return;
        }
        sessions
            .live
            .insert(session.peer_addr(), Arc::clone(session));
        drop(sessions); // callbacks never run under a lock
        self.inner.on_connected(session);
    }

    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        self.inner.on_packet(session, packet);
    }

    fn on_disconnected(&self, session: &Arc<Session>, reason: &DisconnectReason) {
        self.inner.on_disconnected(session, reason);
        let mut sessions = self.registry.state.lock().unwrap();
        sessions.live.remove(&session.peer_addr());
        sessions.to_join.push(Arc::clone(session));
        if sessions.ended.len() == ENDED_KEPT {
            sessions.ended.pop_front();
        }
        sessions.ended.push_back(EndedSession {
            peer: session.peer_addr(),
            reason: reason.to_string(),
            stats: session.stats(),
        });
        sessions.ended_count += 1;
        drop(sessions);
        self.registry.session_ended.notify_all();
    }
}

/// A running server: an accept thread and a session per client.
/// [`shutdown`](Server::shutdown) (or dropping it) stops it cleanly.
pub struct Server {
    /// Where it listens (the real port when started on port 0).
    local_addr: SocketAddr,
    /// The accept thread; `None` once shutdown began.
    acceptor: Option<Acceptor>,
    /// Every session, live and ended.
    registry: Arc<Registry>,
    /// How long shutdown waits for peers to hang up.
    grace: Duration,
    /// What shutdown did, once it ran.
    report: Option<ShutdownReport>,
}

/// Starts an echo server on `addr` (port 0: the OS picks one).
pub fn serve(addr: SocketAddr, config: &ServerConfig) -> io::Result<Server> {
    Server::start(addr, config, Arc::new(Echo))
}

impl Server {
    /// Starts a server on `addr` whose sessions call `handler`.
    pub fn start(
        addr: SocketAddr,
        config: &ServerConfig,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let registry = Arc::new(Registry::default());
        let tracker: Arc<dyn Handler> = Arc::new(Tracker {
            registry: Arc::clone(&registry),
            inner: handler,
        });
        let session_config = config.session_config();
        let accept_registry = Arc::clone(&registry);
        let acceptor = Acceptor::start(addr, config.socket.clone(), move |stream, peer| {
            // Join the reader threads of sessions that ended since the last accept.
            let finished = std::mem::take(&mut accept_registry.state.lock().unwrap().to_join);
            for session in finished {
                session.join();
            }
            // Counted before it starts, so `ended_count <= started` always holds.
            accept_registry.state.lock().unwrap().started += 1;
            if let Err(e) = Session::start(stream, &session_config, Arc::clone(&tracker)) {
                accept_registry.state.lock().unwrap().started -= 1;
                log::warn!("{peer}: could not start a session: {e}");
            }
        })?;
        Ok(Server {
            local_addr: acceptor.local_addr(),
            acceptor: Some(acceptor),
            registry,
            grace: config.grace,
            report: None,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sessions alive now.
    pub fn live_sessions(&self) -> usize {
        self.registry.state.lock().unwrap().live.len()
    }

    /// The send-path counters of the live session from `peer`, if there is one.
    pub fn live_stats(&self, peer: SocketAddr) -> Option<StatsSnapshot> {
        let session = self.registry.state.lock().unwrap().live.get(&peer).cloned();
        session.map(|s| s.stats()) // read outside the registry lock
    }

    /// The sessions that have ended (the last few thousand), oldest first.
    pub fn ended(&self) -> Vec<EndedSession> {
        self.registry
            .state
            .lock()
            .unwrap()
            .ended
            .iter()
            .cloned()
            .collect()
    }

    /// Sessions started and sessions ended so far.
    pub fn counts(&self) -> (u64, u64) {
        let sessions = self.registry.state.lock().unwrap();
        (sessions.started, sessions.ended_count)
    }

    /// Waits until the session from `peer` has ended, or `timeout` passes.
    pub fn wait_for_end(&self, peer: SocketAddr, timeout: Duration) -> Option<EndedSession> {
        let deadline = Instant::now() + timeout;
        let mut sessions = self.registry.state.lock().unwrap();
        loop {
            if let Some(ended) = sessions.ended.iter().rev().find(|e| e.peer == peer) {
                return Some(ended.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            sessions = self
                .registry
                .session_ended
                .wait_timeout(sessions, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits until `count` sessions have ended in all, or `timeout` passes.
    /// Returns whether they did.
    pub fn wait_for_ended_count(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut sessions = self.registry.state.lock().unwrap();
        while sessions.ended_count < count {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            sessions = self
                .registry
                .session_ended
                .wait_timeout(sessions, deadline - now)
                .unwrap()
                .0;
        }
        true
    }

    // ANCHOR: shutdown
    /// Stops the server: no new connections; every session is closed (its
    /// queued echoes are flushed, then its write half is shut, so the peer
    /// reads end-of-stream); peers get [`ServerConfig::grace`] to hang up;
    /// the rest are disconnected; then every session thread is joined.
    /// Idempotent: a second call returns the first call's report.
    pub fn shutdown(&mut self) -> ShutdownReport {
        if let Some(report) = self.report {
            return report;
        }
        drop(self.acceptor.take()); // stops accepting and joins the accept thread
        let (live, started) = {
            let mut sessions = self.registry.state.lock().unwrap();
            sessions.stopping = true;
            let live: Vec<Arc<Session>> = sessions.live.values().cloned().collect();
            (live, sessions.started)
        };
        let mut report = ShutdownReport {
            sessions: live.len(),
            ..ShutdownReport::default()
        };
        thread::scope(|scope| {
            // `close` blocks until the queue is flushed, and a peer that does
            // not read would hold it forever: close them all at once, each
            // on its own thread, and bound the wait with the grace period.
            for session in &live {
                let spawned = thread::Builder::new()
                    .stack_size(THREAD_STACK_SIZE)
                    .spawn_scoped(scope, move || session.close());
                if spawned.is_err() {
                    session.disconnect(); // no thread to close it with: abort it
                }
            }
            let everyone_ended = self.wait_for_ended_count(started, self.grace);
            let stragglers: Vec<Arc<Session>> = if everyone_ended {
                Vec::new()
            } else {
                self.registry
                    .state
                    .lock()
                    .unwrap()
                    .live
                    .values()
                    .cloned()
                    .collect()
            };
            for session in &stragglers {
                let dropped = session.disconnect();
                log::info!(
                    "{}: disconnected at shutdown, {dropped} queued packets dropped",
                    session.peer_addr()
                );
            }
            report.disconnected = stragglers.len();
            report.closed_cleanly = report.sessions - report.disconnected;
            // The close threads return once their writers are done; the
            // scope joins them here.
        });
        // Disconnected sessions end promptly: their sockets are shut down.
        if !self.wait_for_ended_count(started, Duration::from_secs(30)) {
            log::error!("shutdown: some sessions did not end within 30 s");
        }
        let finished = std::mem::take(&mut self.registry.state.lock().unwrap().to_join);
        for session in finished {
            session.join(); // the reader thread; the writer was joined by close/abort
        }
        self.report = Some(report);
        report
    }
    // ANCHOR_END: shutdown
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("live_sessions", &self.live_sessions())
            .finish_non_exhaustive()
    }
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
