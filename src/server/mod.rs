//! One server for `servercore serve` and `servercore room`: the accept
//! loop, a session cap, spawn failures that refuse one connection, and a
//! graceful shutdown — generic over the session handler.
//!
//! ```text
//! acceptor thread ──▶ at the cap? ──yes──▶ close the connection, count it (one log line a second)
//!                          └──no──▶ Session::start ──fails──▶ log it, close the connection, go on
//!                                        └──▶ reader thread: on_connected → registry
//!                                                            on_packet    → the handler
//!                                                            on_disconnected → registry: ended, to join
//! Server::shutdown: stop accepting → close every session (flush, FIN) → wait for the
//!                   peers to hang up (a grace period) → disconnect the rest → join every thread
//! ```
//!
//! A thread per session runs out somewhere: in memory maps (`vm.max_map_count`:
//! a thread's stack, its guard page and its signal stack), in threads
//! (`kernel.threads-max`, `RLIMIT_NPROC`) or in file descriptors
//! (`RLIMIT_NOFILE`: two per session). Past the first of these, spawning a
//! thread fails — or, for the signal stack `std` maps inside the new thread,
//! aborts the whole process. So the server never gets there: it refuses
//! connections beyond [`default_max_sessions`], which it derives from those
//! limits (Linux: `/proc/sys` and `getrlimit`), and a spawn that fails anyway
//! refuses only its own connection.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::catalog::Lesson;
use crate::lessons::lesson10_backpressure::{Backpressure, Policy};
use crate::net::{Acceptor, SocketOptions};
use crate::packet::Packet;
use crate::session::{DisconnectReason, Handler, Session, SessionConfig};
use crate::stats::StatsSnapshot;
use crate::sync::THREAD_STACK_SIZE;

mod limits;
mod room;

pub use limits::{Limits, default_max_sessions, session_budget};
pub use room::RoomServer;

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

/// The room's default policy: disconnect. A room's broadcaster is every
/// player's reader thread; if it blocked on one stuck player, the whole room
/// would stall behind that player. Evicting the stuck player keeps everyone
/// else served (gorilla/websocket's chat hub makes the same choice).
pub const ROOM_POLICY: Policy = Policy::Disconnect;

/// The room's kernel send buffer per player (`SO_SNDBUF`): 64 KiB, about
/// 2,400 position updates. (Linux's loopback otherwise grows it to 4 MiB.)
pub const ROOM_SEND_BUFFER: usize = 64 * 1024;

/// Threads that close the sessions at shutdown, side by side.
const CLOSERS: usize = 16;

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
    /// The most sessions alive at once; a connection beyond it is closed at
    /// once and counted ([`ShutdownReport::refused`]).
    pub max_sessions: usize,
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
            max_sessions: default_max_sessions(),
            socket: SocketOptions::default(),
            grace: DEFAULT_GRACE,
        }
    }

    /// The defaults of `servercore room` for `lesson`: as [`ServerConfig::new`],
    /// with the policy [`ROOM_POLICY`] (disconnect): a player that stops
    /// reading is evicted rather than allowed to stall the room; and a
    /// kernel send buffer of [`ROOM_SEND_BUFFER`] per player, so that what a
    /// stuck player does not read piles up in its queue, where the limit
    /// sees it, and not in megabytes of kernel buffer.
    pub fn room(lesson: Lesson) -> ServerConfig {
        ServerConfig {
            backpressure: Backpressure::new(DEFAULT_QUEUE_LIMIT, ROOM_POLICY),
            socket: SocketOptions {
                send_buffer: Some(ROOM_SEND_BUFFER),
                ..SocketOptions::default()
            },
            ..ServerConfig::new(lesson)
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
    /// Connections closed at once because the server was at its session
    /// cap, over the server's life.
    pub refused: u64,
    /// Connections closed because their session could not start (a thread
    /// could not be spawned), over the server's life.
    pub failed: u64,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sessions: {} closed cleanly, {} disconnected after the grace period; \
             {} connections refused at the session cap, {} failed to start",
            self.sessions, self.closed_cleanly, self.disconnected, self.refused, self.failed
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
    /// Connections refused at the cap, in all.
    refused: u64,
    /// Connections whose session failed to start, in all.
    failed: u64,
    /// When the acceptor last logged a refusal, and how many it has not
    /// logged since: at most one line a second, however hard the flood.
    refusals_logged: Option<(Instant, u64)>,
}

impl Sessions {
    /// Counts a connection refused at the cap, and logs it — at most one
    /// line a second, naming how many were refused since the last line.
    fn refuse(&mut self, peer: SocketAddr, cap: u64) {
        self.refused += 1;
        let now = Instant::now();
        match &mut self.refusals_logged {
            Some((at, unlogged)) if now.duration_since(*at) < Duration::from_secs(1) => {
                *unlogged += 1;
            }
            logged => {
                let since = logged.map_or(0, |(_, unlogged)| unlogged);
                let more = if since > 0 {
                    format!("; {since} more refused since the last such line")
                } else {
                    String::new()
                };
                log::warn!("{peer}: refused: at the session cap ({cap}, --max-sessions){more}");
                *logged = Some((now, 0));
            }
        }
    }
}

/// Joins the reader threads of sessions that have ended.
fn join_all(finished: Vec<Arc<Session>>) {
    for session in finished {
        session.join();
    }
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
        let max_sessions = config.max_sessions as u64;
        let accept_registry = Arc::clone(&registry);
        let acceptor = Acceptor::start(addr, config.socket.clone(), move |stream, peer| {
            let mut sessions = accept_registry.state.lock().unwrap();
            // Join the reader threads of sessions that ended since the last accept.
            let finished = std::mem::take(&mut sessions.to_join);
            if sessions.started - sessions.ended_count >= max_sessions {
                sessions.refuse(peer, max_sessions);
                drop(sessions);
                drop(stream); // closed at once: the peer reads end-of-stream
                join_all(finished);
                return;
            }
            // Counted before it starts, so `ended_count <= started` always holds.
            sessions.started += 1;
            drop(sessions); // never held across a spawn or a socket call
            join_all(finished);
            if let Err(e) = Session::start(stream, &session_config, Arc::clone(&tracker)) {
                let mut sessions = accept_registry.state.lock().unwrap();
                sessions.started -= 1;
                sessions.failed += 1;
                drop(sessions);
                // The stream is gone with the error: the connection is closed.
                log::error!("{peer}: could not start a session, connection closed: {e}");
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

    /// Connections refused at the session cap so far, and connections whose
    /// session failed to start.
    pub fn refusals(&self) -> (u64, u64) {
        let sessions = self.registry.state.lock().unwrap();
        (sessions.refused, sessions.failed)
    }

    /// Sessions started and sessions ended so far.
    pub fn counts(&self) -> (u64, u64) {
        let sessions = self.registry.state.lock().unwrap();
        (sessions.started, sessions.ended_count)
    }

    /// Waits until the session from `peer` has ended, or `timeout` passes.
    pub fn wait_for_end(&self, peer: SocketAddr, timeout: Duration) -> Option<EndedSession> {
        let sessions = self.registry.state.lock().unwrap();
        let (sessions, _) = self
            .registry
            .session_ended
            .wait_timeout_while(sessions, timeout, |s| {
                !s.ended.iter().any(|e| e.peer == peer)
            })
            .unwrap();
        sessions
            .ended
            .iter()
            .rev()
            .find(|e| e.peer == peer)
            .cloned()
    }

    /// Waits until `count` sessions have ended in all, or `timeout` passes.
    /// Returns whether they did.
    pub fn wait_for_ended_count(&self, count: u64, timeout: Duration) -> bool {
        let sessions = self.registry.state.lock().unwrap();
        let (sessions, _) = self
            .registry
            .session_ended
            .wait_timeout_while(sessions, timeout, |s| s.ended_count < count)
            .unwrap();
        sessions.ended_count >= count
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
        let (refused, failed) = {
            let sessions = self.registry.state.lock().unwrap();
            (sessions.refused, sessions.failed)
        };
        let mut report = ShutdownReport {
            sessions: live.len(),
            refused,
            failed,
            ..ShutdownReport::default()
        };
        let next = AtomicUsize::new(0);
        thread::scope(|scope| {
            // `close` blocks until the queue is flushed, and a peer that does
            // not read would hold it forever: a few closer threads work
            // through the list (no thread per session: at the session cap the
            // process has no threads to spare), and the grace period bounds
            // the wait — after it, the disconnects below unblock every close.
            let next = &next;
            let closer = || {
                while let Some(session) = live.get(next.fetch_add(1, Ordering::Relaxed)) {
                    session.close();
                }
            };
            let spawned = (0..CLOSERS.min(live.len()))
                .filter(|_| {
                    thread::Builder::new()
                        .name("closer".into())
                        .stack_size(THREAD_STACK_SIZE)
                        .spawn_scoped(scope, closer)
                        .is_ok()
                })
                .count();
            if spawned == 0 && !live.is_empty() {
                // No thread to close them with: abort them all.
                for session in &live {
                    session.disconnect();
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
                log::debug!(
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
