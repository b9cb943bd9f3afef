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

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::lessons::{Lesson, SendError, SendPath};
use crate::packet::{FrameError, MAX_PACKET_LEN, Packet, RecvBuffer};
use crate::stats::StatsSnapshot;
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
    },
    /// The peer sent a size no packet can have.
    BadPacket(FrameError),
    /// Reading from the socket failed (for instance a reset).
    ReadFailed(io::Error),
    /// Writing to the socket failed.
    WriteFailed(io::Error),
    /// [`Session::disconnect`] was called here.
    Local,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::PeerClosed => f.write_str("peer closed the connection"),
            DisconnectReason::Truncated { unread } => write!(
                f,
                "peer closed the connection in the middle of a packet ({unread} bytes of it arrived)"
            ),
            DisconnectReason::BadPacket(e) => write!(f, "bad packet: {e}"),
            DisconnectReason::ReadFailed(e) => write!(f, "read failed: {e}"),
            DisconnectReason::WriteFailed(e) => write!(f, "write failed: {e}"),
            DisconnectReason::Local => f.write_str("disconnected locally"),
        }
    }
}

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Which lesson's send path the session uses.
    pub lesson: Lesson,
    /// The largest packet the reader accepts (header included); larger
    /// declared sizes are bad input. At most 65,535, the format's limit.
    pub max_packet: usize,
}

impl SessionConfig {
    /// A config for `lesson` accepting packets up to the format's limit.
    pub fn new(lesson: Lesson) -> SessionConfig {
        SessionConfig {
            lesson,
            max_packet: MAX_PACKET_LEN,
        }
    }
}

/// One connection: a reader thread and a send path.
pub struct Session {
    /// The remote address, for logs and errors.
    peer: SocketAddr,
    /// The socket; the reader thread reads it, `disconnect` shuts it down.
    socket: TcpStream,
    /// The lesson's send path, which owns a clone of the socket for writing.
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
    /// Starts a session on a connected socket: builds the lesson's send path
    /// on a clone of the socket and spawns the reader thread.
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
            send_path: config.lesson.start(wire),
            wire: wire_handle,
            disconnected: AtomicBool::new(false),
            reason: Mutex::new(None),
            reader: Mutex::new(None),
        });
        let reader_session = Arc::clone(&session);
        let max_packet = config.max_packet;
        let reader = thread::Builder::new()
            .name(format!("reader {peer}"))
            .spawn(move || run_reader(&reader_session, handler.as_ref(), max_packet));
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

    /// Sends a packet through the lesson's send path. After a disconnect
    /// (or a close), the packet comes back in the error.
    pub fn send(&self, packet: Packet) -> Result<(), SendError> {
        if self.disconnected.load(Ordering::Acquire) {
            return Err(SendError::Closed(packet));
        }
        self.send_path.send(packet)
    }

    /// Graceful close of the sending side: everything already sent is
    /// written, then the write half is shut down. The reader thread goes on
    /// until the peer closes its side. Blocks until the queue is flushed.
    pub fn close(&self) {
        self.send_path.close();
    }

    /// Disconnects now: drops what is queued, shuts the socket down both
    /// ways; the reader thread then reports [`DisconnectReason::Local`].
    /// Idempotent; only the first call (or the first failure) counts.
    pub fn disconnect(&self) {
        self.disconnect_with(DisconnectReason::Local);
    }

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

    /// The one way a session ends: first caller wins (`swap`), records its
    /// reason, shuts the socket so a blocked read or write returns, and
    /// aborts the send path (which joins the writer thread).
    fn disconnect_with(&self, reason: DisconnectReason) {
        if self.disconnected.swap(true, Ordering::AcqRel) {
            return; // somebody else got here first
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
    }
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
    handler.on_connected(session);
    let mut buffer = RecvBuffer::new(max_packet);
    let ended = 'reading: loop {
        match buffer.read_from(&mut &session.socket) {
            Ok(0) if buffer.unread() > 0 => {
                break DisconnectReason::Truncated {
                    unread: buffer.unread(),
                };
            }
            Ok(0) => break DisconnectReason::PeerClosed,
            Ok(_) => loop {
                match buffer.next_packet() {
                    Ok(Some(packet)) => handler.on_packet(session, packet),
                    Ok(None) => break, // a partial packet: read more
                    Err(error) => break 'reading DisconnectReason::BadPacket(error),
                }
            },
            Err(error) => break DisconnectReason::ReadFailed(error),
        }
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
        _ => log::info!("{}: session ended: {reason}", session.peer),
    }
    handler.on_disconnected(session, &reason);
}
