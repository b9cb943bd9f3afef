//! Helpers for tests and examples: a loopback socket pair, and a gate that
//! holds a writer inside its write call so a test can queue packets behind
//! it and count exactly what happens next.
//!
//! The gate sits *in front of* a real socket ([`GatedSink`]): the lesson
//! code runs unchanged, and every byte still crosses a real TCP connection.

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::net::{self, SocketOptions};
use crate::sync::{Arc, Condvar, Mutex};
use crate::wire::Sink;

/// A connected loopback pair `(server_side, client_side)`, both with
/// `options` applied, on a port the OS picked.
pub fn socket_pair(options: &SocketOptions) -> io::Result<(TcpStream, TcpStream)> {
    let listener = net::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options)?;
    let client = net::connect(listener.local_addr()?, options)?;
    let (server, _) = listener.accept()?;
    options.apply_to_stream(&server)?;
    Ok((server, client))
}

/// A gate writers wait at until it opens. Starts closed; once opened it stays open.
#[derive(Debug, Default)]
pub struct Gate {
    /// Whether the gate is open, and how many writers are waiting at it.
    state: Mutex<GateState>,
    /// Signalled when the gate opens or a writer arrives at it.
    opened_or_arrived: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// true once `open` ran; never goes back.
    open: bool,
    /// Writers that have arrived at the gate so far (waiting or let through).
    arrived: usize,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Opens the gate for good: every waiting and future writer passes.
    pub fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.opened_or_arrived.notify_all();
    }

    /// Blocks until `count` writers have arrived at the gate in all, or
    /// `timeout` passes. Returns whether they did.
    pub fn wait_for_arrivals(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while state.arrived < count {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .opened_or_arrived
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
        true
    }

    /// Called by a writer: counts its arrival, then waits until the gate is open.
    pub fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.arrived += 1;
        self.opened_or_arrived.notify_all();
        while !state.open {
            state = self.opened_or_arrived.wait(state).unwrap();
        }
    }
}

/// A [`Sink`] that makes every write call wait at a [`Gate`] first, then
/// passes it to the real socket behind.
///
/// Its `try_write` keeps the trait's default, `WouldBlock`: a write that
/// cannot block cannot wait at a gate either, so lesson 07 behind a gate
/// always hands its packets to the writer thread, and the gate holds that.
pub struct GatedSink<S: Sink> {
    /// The real sink (a `TcpStream` in the tests).
    inner: S,
    /// Where writes wait.
    gate: Arc<Gate>,
}

impl<S: Sink> GatedSink<S> {
    /// A sink whose writes wait at `gate` before reaching `inner`.
    pub fn new(inner: S, gate: Arc<Gate>) -> GatedSink<S> {
        GatedSink { inner, gate }
    }
}

impl<S: Sink> Sink for GatedSink<S> {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.gate.pass();
        self.inner.write(buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.gate.pass();
        self.inner.write_vectored(bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
}

/// An in-memory [`Sink`] that records every byte written to it, in order.
///
/// It stands in for the socket where a socket cannot go: inside the loom
/// model checks (`tests/loom_*.rs`), where every thread is simulated and a
/// system call would escape the model. Only the socket is replaced; the
/// lesson's queue, lock, flag and condvar run as written. Its lock and
/// condvar come from [`crate::sync`], so loom sees them too. Never the
/// lesson's socket anywhere else: every lesson, example and socket test
/// writes to real TCP.
///
/// Its [`Sink::try_write`] (the write that cannot block, lesson 07) does
/// what [`TryWrite`] says: take everything, take a few bytes, or would block.
///
/// Clones share the same record: keep one, give one to the [`Wire`](crate::Wire).
#[derive(Clone, Default)]
pub struct MemorySink {
    shared: Arc<MemoryShared>,
    /// What `try_write` does; fixed when the sink is made.
    try_write: TryWrite,
}

/// What [`MemorySink`]'s `try_write` does: the three answers a real
/// socket's `send(MSG_DONTWAIT)` can give, one chosen per sink so that a
/// model check explores each hand-over of lesson 07.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TryWrite {
    /// Takes every byte, as a socket with room in its send buffer does.
    #[default]
    All,
    /// Takes at most this many bytes per call (at least one), as a nearly
    /// full send buffer does: a partial write.
    AtMost(usize),
    /// Takes nothing and fails with `WouldBlock`, as a full send buffer does.
    WouldBlock,
}

#[derive(Default)]
struct MemoryShared {
    /// Every byte written so far, in order, and whether the write half was shut down.
    record: Mutex<MemoryRecord>,
    /// Signalled after every write, so a test can wait for bytes to arrive.
    written: Condvar,
}

#[derive(Default)]
struct MemoryRecord {
    /// Bytes written, in order. Only ever grows.
    bytes: Vec<u8>,
    /// Set by `shutdown`; never cleared.
    shut_down: bool,
}

impl MemorySink {
    /// An empty sink whose `try_write` takes everything ([`TryWrite::All`]).
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// An empty sink whose `try_write` does what `try_write` says.
    pub fn with_try_write(try_write: TryWrite) -> MemorySink {
        MemorySink {
            try_write,
            ..MemorySink::default()
        }
    }

    /// A copy of everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.shared.record.lock().unwrap().bytes.clone()
    }

    /// Whether `shutdown` was called (the write half is closed).
    pub fn is_shut_down(&self) -> bool {
        self.shared.record.lock().unwrap().shut_down
    }

    /// Blocks until at least `len` bytes have been written in all, or
    /// `timeout` passes; returns whether they were. (Under loom there is no
    /// time: a wait that nothing ends is reported by loom as a deadlock.)
    pub fn wait_for_len(&self, len: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut record = self.shared.record.lock().unwrap();
        while record.bytes.len() < len {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            record = self
                .shared
                .written
                .wait_timeout(record, deadline - now)
                .unwrap()
                .0;
        }
        true
    }
}

impl Sink for MemorySink {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.shared
            .record
            .lock()
            .unwrap()
            .bytes
            .extend_from_slice(buf);
        self.shared.written.notify_all();
        Ok(buf.len())
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut record = self.shared.record.lock().unwrap();
        let mut total = 0;
        for buf in bufs {
            record.bytes.extend_from_slice(buf);
            total += buf.len();
        }
        drop(record);
        self.shared.written.notify_all();
        Ok(total)
    }
    fn shutdown(&self, _how: Shutdown) -> io::Result<()> {
        self.shared.record.lock().unwrap().shut_down = true;
        Ok(())
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let take = match self.try_write {
            TryWrite::All => buf.len(),
            TryWrite::AtMost(most) => buf.len().min(most.max(1)),
            TryWrite::WouldBlock => return Err(io::ErrorKind::WouldBlock.into()),
        };
        self.write(&buf[..take])
    }
}
