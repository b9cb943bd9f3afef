//! The socket side of a send path: where bytes leave the process.
//!
//! A lesson never calls the socket directly: it calls its [`Wire`], which
//! makes exactly one system call per [`Wire::write`] or
//! [`Wire::write_vectored`] and counts it in the session's
//! [`SendStats`]. That is how "write calls per message" becomes a number.
//!
//! Behind the wire is a [`Sink`]: a `TcpStream` in every lesson, example and
//! socket test. Counting tests may put a gate in front of the socket
//! ([`testing::GatedSink`](crate::testing::GatedSink)) to hold the writer
//! still while they queue packets.

use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};

// The wire's own bookkeeping (counters, first error) uses `std` even under
// loom: it is not part of the hand-off the model checks, its lock is never
// held across anything that blocks, and a test can read it from a check
// that must not touch loom objects (`sync::loom_check::before_wait`).
use std::sync::{Arc, Mutex};

use crate::packet::Packet;
use crate::stats::SendStats;

/// Linux's `IOV_MAX`: the most slices one `writev` call takes. `std`'s
/// `write_vectored` silently ignores the slices past it (a short write).
pub const IOV_MAX: usize = 1024;

/// Told what a wire moves: the bytes each write call took, and that the
/// wire failed. Lesson 10's queue limit listens here, so that it can wrap
/// any send path without a line in the lesson: the bytes a lesson writes
/// are the bytes that leave its queue.
pub trait WireObserver: Send + Sync {
    /// A write call took `bytes` bytes (more than 0). Called on the writing
    /// thread right after the system call returns, with no lesson lock
    /// held (lessons never hold a lock across a socket call).
    fn written(&self, bytes: usize);
    /// The wire failed ([`Wire::fail`]): nothing more will be written.
    fn failed(&self);
}

/// Where a send path's bytes go: one method per system call.
///
/// Implemented for `TcpStream` (through `&TcpStream`, so many threads may
/// write at once, as lesson 01 does).
pub trait Sink: Send + Sync + 'static {
    /// One `write(2)`: may accept fewer bytes than given.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    /// One `writev(2)`: may accept fewer bytes than given, and the OS ignores
    /// slices past `IOV_MAX` (1,024 on Linux).
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Shuts down one or both halves of the connection.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// One `write(2)` that never blocks: takes what fits in the socket
    /// buffer now, or fails with `WouldBlock`. A sink that cannot do that
    /// keeps this default, which always says `WouldBlock`, so a caller
    /// falls back to a blocking path (lesson 07 hands over to its writer).
    fn try_write(&self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Sink for TcpStream {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(&mut &*self, bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    /// `send(2)` with `MSG_DONTWAIT` on this one call: the socket itself
    /// stays blocking, because the session's reader thread shares it.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }
}

/// Whether every wire logs the start and end of each write call (at trace
/// level, target `servercore::wire`). Off unless [`log_write_calls`] turns it on.
static LOG_WRITE_CALLS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns on (or off) a trace line at the start and at the end of every
/// write call of every wire in the process: the write blocks of
/// `servercore trace`'s pictures. Off by default, so the examples' traces
/// show only the lessons' own lines.
pub fn log_write_calls(on: bool) {
    LOG_WRITE_CALLS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// What the wire shares with the session that owns it.
#[derive(Debug, Default)]
struct WireShared {
    /// The send path's counters.
    stats: SendStats,
    /// The first write error, kept for the session's disconnect reason;
    /// set once by [`Wire::fail`], taken once by [`WireHandle::take_error`].
    first_error: Mutex<Option<io::Error>>,
}

/// A counted socket: every write call is one system call and one count.
pub struct Wire {
    /// Where the bytes go.
    sink: Box<dyn Sink>,
    /// The counters and the first error, shared with the session's handle.
    shared: Arc<WireShared>,
    /// Told about every write that moved bytes, and about failure; set
    /// before the send path starts ([`Wire::observed_by`]), never after.
    observer: Option<Arc<dyn WireObserver>>,
}

/// The session's handle on a [`Wire`] it gave away: its counters and its
/// first write error.
#[derive(Debug, Clone)]
pub struct WireHandle {
    shared: Arc<WireShared>,
}

impl Wire {
    /// A wire over `sink` with fresh counters.
    pub fn new(sink: impl Sink) -> Wire {
        Wire {
            sink: Box::new(sink),
            shared: Arc::new(WireShared::default()),
            observer: None,
        }
    }

    /// This wire, with `observer` told about every write and a failure.
    pub fn observed_by(self, observer: Arc<dyn WireObserver>) -> Wire {
        Wire {
            observer: Some(observer),
            ..self
        }
    }

    /// Makes one write call (`call` names it), counts its result and tells
    /// the observer. While [`log_write_calls`] is on (`servercore trace`
    /// records these lines) it logs the call's start and end; otherwise that
    /// costs one relaxed load of a flag.
    fn counted(&self, call: &str, write: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
        let result = if LOG_WRITE_CALLS.load(std::sync::atomic::Ordering::Relaxed) {
            log::trace!("{call} begins");
            let result = write();
            match &result {
                Ok(bytes) => log::trace!("{call} ends: {bytes} bytes"),
                Err(e) => log::trace!("{call} ends: {e}"),
            }
            result
        } else {
            write()
        };
        let bytes = *result.as_ref().unwrap_or(&0);
        self.shared.stats.count_write(bytes);
        if let (Some(observer), true) = (&self.observer, bytes > 0) {
            observer.written(bytes);
        }
        result
    }

    /// A wire over a clone of `stream` (the session keeps the original for reading).
    pub fn from_stream(stream: &TcpStream) -> io::Result<Wire> {
        Ok(Wire::new(stream.try_clone()?))
    }

    /// A handle to this wire's counters and errors, for the session.
    pub fn handle(&self) -> WireHandle {
        WireHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The counters this wire and its lesson update.
    pub fn stats(&self) -> &SendStats {
        &self.shared.stats
    }

    /// One write system call. Counted whether or not it succeeds.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.counted("write", || self.sink.write(buf))
    }

    /// One vectored write system call (`writev`). Counted whether or not it succeeds.
    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.counted("writev", || self.sink.write_vectored(bufs))
    }

    /// One write system call that never blocks ([`Sink::try_write`]):
    /// `WouldBlock` when the socket buffer is full. Counted like any write.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.counted("send (MSG_DONTWAIT)", || self.sink.try_write(buf))
    }

    /// Writes all of `buf`, one [`write`](Wire::write) call at a time:
    /// retries `Interrupted`, turns `Ok(0)` into `WriteZero`. On a blocking
    /// socket the kernel takes the whole buffer in one call, so this is
    /// almost always exactly one system call.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    // ANCHOR: write_packets
    /// Writes every packet of `batch`, in order, with `writev` calls of at
    /// most [`IOV_MAX`] slices each, resuming after partial writes: the
    /// gathering write of lesson 04 (the C# `BufferList`), which lessons 05
    /// to 07 reuse unchanged.
    pub fn write_packets(&self, batch: &[Packet]) -> io::Result<()> {
        for group in batch.chunks(IOV_MAX) {
            // One slice per packet, on the stack: no allocation per batch.
            let mut storage = [IoSlice::new(&[]); IOV_MAX];
            for (slice, packet) in storage.iter_mut().zip(group) {
                *slice = IoSlice::new(packet.as_bytes());
            }
            let mut slices = &mut storage[..group.len()];
            while !slices.is_empty() {
                match self.write_vectored(slices) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    // A partial write: skip what the kernel took, even mid-packet.
                    Ok(written) => IoSlice::advance_slices(&mut slices, written),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: write_packets

    /// Shuts down the write half: the peer reads end-of-stream after the
    /// last byte written. Errors are ignored (the peer may be gone already).
    pub fn shutdown_write(&self) {
        let _ = self.sink.shutdown(Shutdown::Write);
    }

    /// Records a write error (the first one wins) and shuts the connection
    /// down both ways, so the session's reader thread wakes up and reports it.
    pub fn fail(&self, error: io::Error) {
        log::debug!("write failed: {error}");
        let mut first = self.shared.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(error);
        }
        drop(first); // never hold a lock across a socket call
        let _ = self.sink.shutdown(Shutdown::Both);
        if let Some(observer) = &self.observer {
            observer.failed();
        }
    }
}

impl WireHandle {
    /// The counters of the wire and its lesson.
    pub fn stats(&self) -> &SendStats {
        &self.shared.stats
    }

    /// Takes the first write error, if there was one.
    pub fn take_error(&self) -> Option<io::Error> {
        self.shared.first_error.lock().unwrap().take()
    }
}
