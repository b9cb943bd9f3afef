//! Short writes on purpose: sinks in front of the real socket that make
//! them happen, so a test can rely on them instead of hoping the kernel
//! produces one.

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use servercore::wire::Sink;

use super::TIMEOUT;

/// What [`SplittingSink`] saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitEvent {
    /// Thread A's first write call: only the first `split` bytes were passed on.
    FirstPart,
    /// Another thread's write call completed.
    OtherWrote,
    /// Thread A wrote the rest of its packet; `after_other` says whether it
    /// had waited until another thread's write completed (or gave up waiting).
    Rest {
        /// true when another thread's write completed while A waited.
        after_other: bool,
    },
}

/// The state [`SplittingSink`] shares with the test.
#[derive(Debug, Default)]
pub struct SplitShared {
    /// What happened, and whose thread "A" is.
    state: Mutex<SplitState>,
    /// Signalled after every event.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct SplitState {
    /// The thread of the very first write call ("A"); `None` until it comes.
    first_writer: Option<ThreadId>,
    /// true once A has been held once; later A calls pass straight through.
    held: bool,
    /// The events so far.
    log: Vec<SplitEvent>,
}

impl SplitShared {
    /// Waits until A's first, short write has returned; false on timeout.
    pub fn wait_first_part(&self) -> bool {
        let state = self.state.lock().unwrap();
        let (_state, waited) = self
            .changed
            .wait_timeout_while(state, TIMEOUT, |s| !s.log.contains(&SplitEvent::FirstPart))
            .unwrap();
        !waited.timed_out()
    }

    /// The events so far.
    pub fn log(&self) -> Vec<SplitEvent> {
        self.state.lock().unwrap().log.clone()
    }

    fn record(&self, event: SplitEvent) {
        self.state.lock().unwrap().log.push(event);
        self.changed.notify_all();
    }
}

/// A sink in front of the real socket that produces one *short write* and
/// then holds its writer, to let another thread write in between if the
/// send path allows it.
///
/// * The first write call (from thread "A") passes only `split` bytes to the
///   socket and returns that count: a short write, which `write` is always
///   allowed to make (the kernel does it when the socket buffer fills).
/// * A's next write call (the rest of its packet) waits until a write call
///   from another thread has completed, or until `hold` passes.
/// * Write calls from other threads go straight to the socket.
pub struct SplittingSink {
    inner: TcpStream,
    split: usize,
    hold: Duration,
    shared: Arc<SplitShared>,
}

impl SplittingSink {
    /// A splitting sink on `inner`; returns it and the state the test watches.
    pub fn new(
        inner: TcpStream,
        split: usize,
        hold: Duration,
    ) -> (SplittingSink, Arc<SplitShared>) {
        let shared = Arc::new(SplitShared::default());
        let sink = SplittingSink {
            inner,
            split,
            hold,
            shared: Arc::clone(&shared),
        };
        (sink, shared)
    }
}

impl Sink for SplittingSink {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let me = thread::current().id();
        let mut state = self.shared.state.lock().unwrap();
        match state.first_writer {
            None => {
                // A's first call: a short write.
                state.first_writer = Some(me);
                drop(state);
                let written = Sink::write(&self.inner, &buf[..self.split.min(buf.len())]);
                self.shared.record(SplitEvent::FirstPart);
                written
            }
            Some(a) if a == me && !state.held => {
                // A comes back for the rest: wait for another writer, bounded.
                state.held = true;
                let (state, _) = self
                    .shared
                    .changed
                    .wait_timeout_while(state, self.hold, |s| {
                        !s.log.contains(&SplitEvent::OtherWrote)
                    })
                    .unwrap();
                let after_other = state.log.contains(&SplitEvent::OtherWrote);
                drop(state);
                let written = Sink::write(&self.inner, buf);
                self.shared.record(SplitEvent::Rest { after_other });
                written
            }
            Some(a) if a == me => {
                drop(state);
                Sink::write(&self.inner, buf)
            }
            Some(_) => {
                drop(state);
                let written = Sink::write(&self.inner, buf);
                self.shared.record(SplitEvent::OtherWrote);
                written
            }
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Sink::write_vectored(&self.inner, bufs)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.inner, how)
    }
}

/// A sink in front of the real socket that passes at most `cap` bytes to
/// each write call: every larger write is a short write, ending wherever
/// the cap falls (mid-packet, mid-header). The socket itself is unchanged.
pub struct CappedSink {
    inner: TcpStream,
    cap: usize,
}

impl CappedSink {
    /// A sink that passes at most `cap` bytes per call to `inner`.
    pub fn new(inner: TcpStream, cap: usize) -> CappedSink {
        assert!(cap > 0);
        CappedSink { inner, cap }
    }
}

impl Sink for CappedSink {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Sink::write(&self.inner, &buf[..buf.len().min(self.cap)])
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut left = self.cap;
        let mut capped = Vec::new();
        for buf in bufs {
            if left == 0 {
                break;
            }
            let n = buf.len().min(left);
            capped.push(IoSlice::new(&buf[..n]));
            left -= n;
        }
        Sink::write_vectored(&self.inner, &capped)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.inner, how)
    }
}
