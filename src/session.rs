//! A session: one connection, its reader thread, its send path, and the
//! handler that hears what happens to it.
//!
//! ```text
//!              ┌──────────── Session ─────────────┐
//!  socket ───▶ │ reader thread: RecvBuffer → on_packet
//!              │ send(packet) ─▶ the lesson's SendPath ─▶ Wire ─▶ socket
//!              └──────────────────────────────────┘
//! ```
//!
//! Rules this module keeps, each a hole in the C# original:
//!
//! * **Callbacks run on the reader thread only**, with no lock held:
//!   [`Handler::on_connected`] first, then every packet in order, then
//!   [`Handler::on_disconnected`] exactly once, last. A packet can never be
//!   delivered before "connected".
//! * **Disconnect happens once**: an `AtomicBool::swap` picks the first
//!   caller; it records the reason, shuts the socket down (which wakes the
//!   reader thread) and aborts the send path.
//! * **Send after disconnect fails** and gives the packet back.
//! * **Bad input closes only this session**: a declared size below 2 (or
//!   over the limit) ends the reader with [`DisconnectReason::BadPacket`].
//! * **A panicking handler closes only this session**: the reader thread
//!   catches the panic and ends with [`DisconnectReason::HandlerPanicked`]
//!   (the C# original logs exceptions and leaves a zombie session).
//! * **A slow reader cannot eat memory** when the send path is started
//!   behind a queue limit (lesson 10): under the disconnect policy the
//!   send path answers [`SendError::Evicted`], and the session ends with
//!   [`DisconnectReason::SlowReader`].
//! * **Close flushes, disconnect aborts** (lesson 11): [`Session::close`]
//!   sends what is queued, then shuts the write half; [`Session::disconnect`]
//!   drops what is queued and says how many packets it dropped. Both are
//!   idempotent, and after either `send` gives the packet back.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::packet::{FrameError, Packet, RecvBuffer};
use crate::send_path::{SendError, SendPath, StartSendPath};
use crate::stats::StatsSnapshot;
use crate::sync;
use crate::wire::{Wire, WireHandle};

/// What a session tells its owner. Every method runs on the session's
/// reader thread, never while the session holds a lock, so a handler may
/// call [`Session::send`] or [`Session::disconnect`] from inside one.
pub trait Handler: Send + Sync + 'static {
    /// The session is up; runs before any packet is delivered.
    fn on_connected(&self, _session: &Arc<Session>) {}
    /// One whole packet arrived (header included in [`Packet::as_bytes`]).
    fn on_packet(&self, session: &Arc<Session>, packet: Packet);
    /// The session is over; runs exactly once, after the last packet.
    fn on_disconnected(&self, _session: &Arc<Session>, _reason: &DisconnectReason) {}
}

/// Why a session ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed its side cleanly, between packets.
    PeerClosed,
    /// The peer closed its side in the middle of a packet.
    Truncated {
        /// Bytes of the unfinished packet that did arrive.
        unread: usize,
        /// The size its header declared, or `None` if the header itself was cut.
        declared: Option<usize>,
    },
    /// The peer sent a size no packet can have.
    BadPacket(FrameError),
    /// Reading from the socket failed (for instance a reset).
    ReadFailed(io::Error),
    /// Writing to the socket failed.
    WriteFailed(io::Error),
    /// [`Session::disconnect`] was called here.
    Local,
    /// A handler callback panicked; the panic was caught on the reader
    /// thread and only this session ended. Holds the panic message.
    HandlerPanicked(String),
    /// The peer read too slowly: its send queue reached the limit and the
    /// policy is [`Policy::Disconnect`](crate::Policy::Disconnect).
    SlowReader {
        /// Bytes queued when the session was evicted.
        queued_bytes: u64,
    },
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::PeerClosed => f.write_str("peer closed the connection"),
            DisconnectReason::Truncated {
                unread,
                declared: None,
            } => write!(
                f,
                "truncated packet: the peer closed the connection inside a size header ({unread} of its 2 bytes arrived)"
            ),
            DisconnectReason::Truncated {
                unread,
                declared: Some(size),
            } => write!(
                f,
                "truncated packet: the peer closed the connection inside a packet of {size} bytes ({unread} of them arrived)"
            ),
            DisconnectReason::BadPacket(e) => write!(f, "bad packet: {e}"),
            DisconnectReason::ReadFailed(e) => write!(f, "read failed: {e}"),
            DisconnectReason::WriteFailed(e) => write!(f, "write failed: {e}"),
            DisconnectReason::Local => f.write_str("disconnected locally"),
            DisconnectReason::HandlerPanicked(message) => {
                write!(f, "the packet handler panicked: {message}")
            }
            DisconnectReason::SlowReader { queued_bytes } => write!(
                f,
                "slow reader evicted: its send queue was full ({queued_bytes} bytes queued)"
            ),
        }
    }
}

/// How a session is set up.
#[derive(Clone)]
pub struct SessionConfig {
    /// Builds the session's send path on its wire. The catalog makes these
    /// (`Lesson::starter`), wrapping a lesson in a queue limit where asked.
    pub start_send_path: StartSendPath,
    /// The largest packet the reader accepts (header included); larger
    /// declared sizes are bad input. At most 65,535, the format's limit.
    pub max_packet: usize,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("max_packet", &self.max_packet)
            .finish_non_exhaustive()
    }
}

/// One connection: a reader thread and a send path.
pub struct Session {
    /// The remote address, for logs and errors.
    peer: SocketAddr,
    /// The socket; the reader thread reads it, `disconnect` shuts it down.
    socket: TcpStream,
    /// The send path, which owns a clone of the socket for writing.
    send_path: Box<dyn SendPath>,
    /// Counters and the first write error of the send path's wire.
    wire: WireHandle,
    /// true once the session is disconnecting; set once, by `swap`.
    disconnected: AtomicBool,
    /// The reason recorded by the first disconnect; taken by the reader
    /// thread for `on_disconnected`.
    reason: Mutex<Option<DisconnectReason>>,
    /// The reader thread, until someone joins it.
    reader: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Session {
    /// Starts a session on a connected socket: builds the send path on a
    /// clone of the socket and spawns the reader thread. Fails, closing the
    /// socket, when a thread cannot be spawned (out of threads or memory
    /// maps): the caller refuses this one connection and goes on.
    pub fn start(
        socket: TcpStream,
        config: &SessionConfig,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Arc<Session>> {
        let peer = socket.peer_addr()?;
        let wire = Wire::from_stream(&socket)?;
        let wire_handle = wire.handle();
        let session = Arc::new(Session {
            peer,
            socket,
            send_path: (config.start_send_path)(wire)?,
            wire: wire_handle,
            disconnected: AtomicBool::new(false),
            reason: Mutex::new(None),
            reader: Mutex::new(None),
        });
        let reader_session = Arc::clone(&session);
        let max_packet = config.max_packet;
        let reader = sync::spawn_os(format!("reader {peer}"), move || {
            run_reader(&reader_session, handler.as_ref(), max_packet)
        });
        match reader {
            Ok(reader) => *session.reader.lock().unwrap() = Some(reader),
            Err(e) => {
                session.disconnect_with(DisconnectReason::Local);
                return Err(e);
            }
        }
        Ok(session)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sends a packet through the session's send path. After a disconnect
    /// (or a close), the packet comes back in the error. Under a queue
    /// limit it may wait (block), fail with [`SendError::Full`] (reject) or
    /// evict this session and fail with [`SendError::Evicted`] (disconnect).
    pub fn send(&self, packet: Packet) -> Result<(), SendError> {
        if self.disconnected.load(Ordering::Acquire) {
            return Err(SendError::Closed(packet));
        }
        self.evict_if_told(self.send_path.send(packet))
    }

    /// Sends a packet whose `payload_len`-byte payload `fill` writes in
    /// place ([`SendPath::send_with`]): the same as [`send`](Session::send),
    /// without building a [`Packet`] where the send path frames in place.
    ///
    /// # Panics
    ///
    /// If `payload_len` is above [`MAX_PAYLOAD_LEN`](crate::packet::MAX_PAYLOAD_LEN).
    pub fn send_with(
        &self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), SendError> {
        if self.disconnected.load(Ordering::Acquire) {
            let mut payload = vec![0; payload_len];
            fill(&mut payload);
            return match Packet::from_payload(&payload) {
                Ok(packet) => Err(SendError::Closed(packet)),
                Err(_) => panic!("a payload of {payload_len} bytes does not fit in a packet"),
            };
        }
        self.evict_if_told(self.send_path.send_with(payload_len, fill))
    }

    /// A send the queue limit answered with `Evicted`: disconnect this
    /// session as a slow reader. Returns the result as it was.
    fn evict_if_told(&self, result: Result<(), SendError>) -> Result<(), SendError> {
        if let Err(SendError::Evicted(_)) = &result {
            let stats = self.send_path.stats();
            self.disconnect_with(DisconnectReason::SlowReader {
                queued_bytes: stats.queued_bytes,
            });
        }
        result
    }

    // ANCHOR: close
    /// Graceful close of the sending side: everything already sent is
    /// written, then the write half is shut down (the peer reads
    /// end-of-stream after the last packet). Later sends fail with
    /// [`SendError::Closed`]. The reader thread goes on until the peer
    /// closes its side. Blocks until the queue is flushed. Idempotent.
    pub fn close(&self) {
        self.send_path.close();
    }

    /// Disconnects now: drops what is queued, shuts the socket down both
    /// ways; the reader thread then reports [`DisconnectReason::Local`].
    /// Returns how many queued packets were dropped (0 when the session was
    /// already disconnecting: only the first call, or the first failure,
    /// counts). Later sends fail with [`SendError::Closed`].
    pub fn disconnect(&self) -> usize {
        self.disconnect_with(DisconnectReason::Local).unwrap_or(0)
    }
    // ANCHOR_END: close

    /// Whether the session has started disconnecting.
    pub fn is_disconnected(&self) -> bool {
        self.disconnected.load(Ordering::Acquire)
    }

    /// The send path's counters as they are now.
    pub fn stats(&self) -> StatsSnapshot {
        self.send_path.stats()
    }

    /// Waits for the reader thread to finish (after `on_disconnected`).
    /// Does nothing when called from the reader thread itself, or twice.
    pub fn join(&self) {
        let reader = self.reader.lock().unwrap().take();
        if let Some(reader) = reader {
            if reader.thread().id() == thread::current().id() {
                *self.reader.lock().unwrap() = Some(reader); // cannot join ourselves
                return;
            }
            let _ = reader.join();
        }
    }

    // ANCHOR: disconnect_with
    /// The one way a session ends: first caller wins (`swap`), records its
    /// reason, shuts the socket so a blocked read or write returns, and
    /// aborts the send path (which joins the writer thread). Returns the
    /// packets dropped, or `None` if somebody else got here first.
    fn disconnect_with(&self, reason: DisconnectReason) -> Option<usize> {
        if self.disconnected.swap(true, Ordering::AcqRel) {
            return None; // somebody else got here first
        }
        *self.reason.lock().unwrap() = Some(reason);
        let _ = self.socket.shutdown(Shutdown::Both);
        let dropped = self.send_path.abort();
        if dropped > 0 {
            log::debug!(
                "{}: {dropped} queued packets dropped on disconnect",
                self.peer
            );
        }
        Some(dropped)
    }
    // ANCHOR_END: disconnect_with
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("disconnected", &self.is_disconnected())
            .finish_non_exhaustive()
    }
}

/// The reader thread: the C# `RegisterRecv` / `OnRecvCompleted` loop.
fn run_reader(session: &Arc<Session>, handler: &dyn Handler, max_packet: usize) {
    let ended = match catch_panic(|| handler.on_connected(session)) {
        Ok(()) => read_packets(session, handler, max_packet),
        Err(panicked) => panicked,
    };
    // A failed write shuts the socket down, which is usually what ended the
    // read: report the write error, the real cause.
    let ended = match session.wire.take_error() {
        Some(error) => DisconnectReason::WriteFailed(error),
        None => ended,
    };
    session.disconnect_with(ended);
    let reason = session
        .reason
        .lock()
        .unwrap()
        .take()
        .unwrap_or(DisconnectReason::Local);
    match &reason {
        DisconnectReason::PeerClosed | DisconnectReason::Local => {
            log::debug!("{}: session ended: {reason}", session.peer)
        }
        DisconnectReason::BadPacket(_)
        | DisconnectReason::HandlerPanicked(_)
        | DisconnectReason::SlowReader { .. } => {
            log::warn!("{}: session ended: {reason}", session.peer)
        }
        _ => log::info!("{}: session ended: {reason}", session.peer),
    }
    if catch_panic(|| handler.on_disconnected(session, &reason)).is_err() {
        log::warn!(
            "{}: on_disconnected panicked; the session is over anyway",
            session.peer
        );
    }
}

// ANCHOR: read_packets
/// The read loop: read, then hand out every whole packet; stop at end of
/// stream, at bad input, at a read error, or when the handler panics.
fn read_packets(
    session: &Arc<Session>,
    handler: &dyn Handler,
    max_packet: usize,
) -> DisconnectReason {
    let mut buffer = RecvBuffer::new(max_packet);
    loop {
        match buffer.read_from(&mut &session.socket) {
            // End of stream inside a packet: truncated, not garbage.
            Ok(0) if buffer.unread() > 0 => {
                return DisconnectReason::Truncated {
                    unread: buffer.unread(),
                    declared: buffer.declared_size(),
                };
            }
            Ok(0) => return DisconnectReason::PeerClosed,
            Ok(_) => loop {
                match buffer.next_packet() {
                    Ok(Some(packet)) => {
                        if let Err(panicked) = catch_panic(|| handler.on_packet(session, packet)) {
                            return panicked;
                        }
                    }
                    Ok(None) => break, // a partial packet: read more
                    // A size below 2 or over the limit: this session ends.
                    Err(error) => return DisconnectReason::BadPacket(error),
                }
            },
            Err(error) => return DisconnectReason::ReadFailed(error),
        }
    }
}
// ANCHOR_END: read_packets

/// Runs a handler callback, turning a panic into
/// [`DisconnectReason::HandlerPanicked`]: one bad handler call ends its own
/// session, never the reader thread's process.
fn catch_panic(callback: impl FnOnce()) -> Result<(), DisconnectReason> {
    // AssertUnwindSafe: after a panic the session is torn down, so no state
    // the callback left half-changed is used again by this session.
    panic::catch_unwind(AssertUnwindSafe(callback)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
        DisconnectReason::HandlerPanicked(message)
    })
}
