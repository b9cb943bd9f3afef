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
