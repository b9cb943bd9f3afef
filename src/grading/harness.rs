//! What the graded scenarios are built from: loopback pairs whose blocking
//! calls time out, a receiver that checks every packet and reports its
//! progress, senders on many threads, a sink that caps every write (short
//! writes on purpose), and a session handler that records its callbacks.

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Progress, STALL, Start, TIMEOUT};
use crate::net::SocketOptions;
use crate::packet::{FrameError, MAX_PACKET_LEN, Packet};
use crate::send_path::SendPath;
use crate::session::{DisconnectReason, Handler, Session, SessionConfig};
use crate::testing::socket_pair;
use crate::wire::{Sink, Wire, WireHandle};
use crate::workload::{Received, Verifier, make_packet, receive};

/// A loopback pair `(server_side, client)` with `options` on both ends;
/// reads on the client and writes on either side time out after [`TIMEOUT`].
pub(crate) fn pair_with(options: &SocketOptions) -> (TcpStream, TcpStream) {
    let (server, client) = socket_pair(options).expect("a loopback socket pair");
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    server.set_write_timeout(Some(TIMEOUT)).unwrap();
    (server, client)
}

/// A loopback pair with default options.
pub(crate) fn pair() -> (TcpStream, TcpStream) {
    pair_with(&SocketOptions::default())
}

/// The small socket buffers of the partial-write scenarios: 4 KiB asked
/// on both ends (Linux doubles it).
pub(crate) fn small_buffers() -> SocketOptions {
    SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    }
}

/// The send path being graded, and its wire's handle (for the first write
/// error, when a send is refused that should not have been).
pub(crate) struct Graded {
    path: Arc<dyn SendPath>,
    wire: WireHandle,
}

impl std::ops::Deref for Graded {
    type Target = dyn SendPath;
    fn deref(&self) -> &(dyn SendPath + 'static) {
        &*self.path
    }
}

impl Graded {
    /// Why a send was refused although the grader closed nothing.
    fn refusal(&self, seq: u32, error: &crate::SendError) -> String {
        match self.wire.take_error() {
            Some(write_error) => format!(
                "send #{seq} was refused ({error}): an earlier write failed ({write_error}) \
                 and the send path closed itself. The peer hangs up when it reads bytes that \
                 are not a whole packet: are the bytes written exactly the bytes queued?"
            ),
            None => format!(
                "send #{seq} was refused ({error}) although nothing was closed and no write \
                 failed: `send` refuses only once `closed` is set"
            ),
        }
    }
}

/// Starts the graded send path on `wire`.
pub(crate) fn start_on(start: Start, wire: Wire) -> Graded {
    let handle = wire.handle();
    match start(wire) {
        Ok(path) => Graded {
            path: Arc::from(path),
            wire: handle,
        },
        Err(e) => panic!(
            "the constructor failed: {e} (it fails only if the writer thread cannot be spawned)"
        ),
    }
}

/// Starts the graded send path on a clone of `server`.
pub(crate) fn start_on_stream(start: Start, server: &TcpStream) -> Graded {
    start_on(start, Wire::from_stream(server).expect("clone the socket"))
}

/// A receiver thread that reads the client side to end of stream, checks
/// every packet with a [`Verifier`], and counts the bytes as they come.
pub(crate) struct Receiving {
    thread: Option<thread::JoinHandle<io::Result<Received>>>,
    bytes: Arc<AtomicU64>,
    packets: u64,
    packet_len: u64,
}

/// Counts the bytes read through it.
struct Counting {
    inner: TcpStream,
    bytes: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&self.inner).read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Receiving {
    /// Starts reading `client`: `packets` packets of `payload` bytes from
    /// senders `0..senders`, then end of stream.
    pub(crate) fn spawn(
        client: TcpStream,
        senders: usize,
        payload: usize,
        packets: u64,
    ) -> Receiving {
        let bytes = Arc::new(AtomicU64::new(0));
        let reader = Counting {
            inner: client,
            bytes: Arc::clone(&bytes),
        };
        let thread = thread::Builder::new()
            .name("receiver".into())
            .spawn(move || receive(reader, Verifier::new(senders, payload), packets))
            .expect("spawn the receiver");
        Receiving {
            thread: Some(thread),
            bytes,
            packets,
            packet_len: payload as u64 + 2,
        }
    }

    /// Bytes read so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whole packets read so far.
    pub(crate) fn packets_so_far(&self) -> u64 {
        self.bytes() / self.packet_len
    }

    fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Joins the receiver (which has finished) and fails on any problem it found.
    fn join(&mut self, before: &str) -> Received {
        let thread = self.thread.take().expect("the receiver is joined once");
        let got = match thread.join().expect("the receiver panicked") {
            Ok(got) => got,
            Err(e) => panic!("reading the peer's side failed: {e}"),
        };
        if let Some(problem) = &got.problem {
            panic!(
                "{}",
                explain_receive_problem(problem, &got, self.packets, before)
            );
        }
        got
    }

    /// Waits until at least `bytes` bytes have arrived, without waiting for
    /// the end of the stream. Returns false once nothing has arrived for
    /// [`STALL`]; fails at once if the receiver found a problem first.
    pub(crate) fn wait_for_bytes(&mut self, bytes: u64, before: &str) -> bool {
        let mut last = self.bytes();
        let mut moved = Instant::now();
        loop {
            let now = self.bytes();
            if now >= bytes {
                return true;
            }
            if self.finished() {
                self.join(before);
                return false; // the stream ended cleanly, short of `bytes`
            }
            if now != last {
                (last, moved) = (now, Instant::now());
            } else if moved.elapsed() > STALL {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for the end of the stream and asserts that every packet
    /// arrived, whole, once and in its sender's order, then end of stream.
    /// `before` says what the scenario did last (for the message).
    pub(crate) fn assert_all(mut self, before: &str) {
        let expected_bytes = self.packets * self.packet_len;
        let mut last = self.bytes();
        let mut moved = Instant::now();
        while !self.finished() {
            let now = self.bytes();
            if now != last {
                (last, moved) = (now, Instant::now());
            } else if moved.elapsed() > STALL {
                if now >= expected_bytes {
                    panic!(
                        "every packet arrived after {before}, but the peer never read end of \
                         stream: on its way out, does the writer (or `close`) shut the write \
                         half down with `wire.shutdown_write()`?"
                    );
                }
                panic!(
                    "{} of {} packets arrived after {before}, then nothing for {} s: a packet \
                     accepted by `send` is never written. Does `close` wait (join) for a writer \
                     that drains the queue before it exits? Does the writer look at the queue \
                     again after every write?",
                    now / self.packet_len,
                    self.packets,
                    STALL.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
        let got = self.join(before);
        assert_eq!(got.packets, self.packets, "receiver: {got}");
    }
}

/// Turns what the verifier found into what to look at.
fn explain_receive_problem(problem: &str, got: &Received, expected: u64, before: &str) -> String {
    let hint = if problem.contains("packets arrived,") {
        "the peer read end of stream too early: does `close` let the writer write \
         everything queued before the write half is shut down? Does the writer finish a \
         batch whose write was partial (it must write every byte it was given)?"
    } else if problem.contains("ended inside a packet") {
        "the stream ended in the middle of a packet: a write was partial (the kernel took \
         fewer bytes than it was given) and the rest was never written. Keep writing from \
         where the kernel stopped until every byte is out."
    } else if problem.contains("timed out") {
        "the peer waited for more bytes that never came: a packet accepted by `send` was \
         never written."
    } else {
        "a packet arrived torn, twice, or out of its sender's order. After a partial write, \
         resume exactly where the kernel stopped (`IoSlice::advance_slices`), never from the \
         start of the batch; keep one queue in the order `send` pushed it; write each packet \
         exactly once."
    };
    format!(
        "after {before}, the peer got {} of {expected} packets ({} bytes) and then: {problem}. \
         {hint}",
        got.packets, got.bytes
    )
}

/// Sends `per_thread` packets from each of `threads` threads at once;
/// thread `i` is sender `i` with sequence numbers `0..per_thread`.
pub(crate) fn send_from_threads(path: &Graded, threads: usize, per_thread: u32, payload: usize) {
    let start = Barrier::new(threads);
    thread::scope(|scope| {
        for sender in 0..threads {
            let start = &start;
            scope.spawn(move || {
                start.wait(); // all together, to make them contend
                for seq in 0..per_thread {
                    let packet = make_packet(sender as u16, seq, payload);
                    if let Err(e) = path.send(packet) {
                        panic!("sender {sender}: {}", path.refusal(seq, &e));
                    }
                }
            });
        }
    });
}

/// Sends packets `seqs` of `sender` from this thread.
pub(crate) fn send_seqs(path: &Graded, sender: u16, seqs: std::ops::Range<u32>, payload: usize) {
    for seq in seqs {
        if let Err(e) = path.send(make_packet(sender, seq, payload)) {
            panic!("{}", path.refusal(seq, &e));
        }
    }
}

/// `close()`, as a step that fails with a hint if it never returns.
pub(crate) fn close(progress: &Progress, path: &Graded) {
    progress.step(
        "`close()`",
        "`close` sets `closed` under the lock, wakes the writer (`notify_one`) and joins it; \
         the writer must exit once `closed` is set and the queue is empty (check both in its \
         wait loop)",
    );
    path.close();
    progress.step("after `close()`", "");
}

/// Asserts that the counters say `sends` packets were accepted and every
/// byte of them was written.
pub(crate) fn assert_counted(path: &Graded, sends: u64, bytes: u64, when: &str) {
    let stats = path.stats();
    assert_eq!(
        stats.sends, sends,
        "{when}: `stats().sends` is {}, but {sends} sends were accepted: does `send` count \
         every packet it accepts (`count_send()`), and only those?",
        stats.sends
    );
    assert_eq!(
        stats.bytes_written, bytes,
        "{when}: {} bytes counted as written, {bytes} expected: every byte must go through \
         the `Wire` (never the socket directly), and each once",
        stats.bytes_written
    );
}

/// The assertions of a send after close: refused, and the same packet back.
pub(crate) fn assert_refused(result: Result<(), crate::SendError>, packet: &Packet, after: &str) {
    match result {
        Err(crate::SendError::Closed(back)) => assert!(
            back == *packet,
            "a send after {after} was refused, but with another packet than the one given: \
             give the caller's packet back in `SendError::Closed(packet)`"
        ),
        Err(other) => {
            panic!("a send after {after} failed with {other:?}: expected `SendError::Closed`")
        }
        Ok(()) => panic!(
            "a send after {after} was accepted: `send` must check `closed` under the lock \
             and give the packet back (`Err(SendError::Closed(packet))`)"
        ),
    }
}

/// Asserts that the peer's side of `client` is shut: a read returns end
/// of stream (or a reset), not data and not a timeout.
pub(crate) fn assert_peer_gone(mut client: &TcpStream, after: &str) {
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("after {after}, the peer expected end of stream and got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// A sink that makes short writes happen.

/// A sink in front of the real socket that passes at most `cap` bytes to
/// each write call: every larger write is a short write, ending wherever
/// the cap falls (mid-packet, mid-header).
pub(crate) struct CappedSink {
    inner: TcpStream,
    cap: usize,
}

impl CappedSink {
    pub(crate) fn new(inner: TcpStream, cap: usize) -> CappedSink {
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

// ---------------------------------------------------------------------------
// Sessions: a handler that records what it hears.

/// How a session ended, as the recorder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    PeerClosed,
    Local,
    BadPacket(FrameError),
    Other(String),
}

/// One handler callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Connected,
    Packet(Packet),
    Disconnected(Ended),
}

/// A [`Handler`] that records every callback in order and lets a scenario
/// wait (with a timeout) for what it expects; optionally echoes every packet.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<Event>>,
    event_added: Condvar,
    echo: bool,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub(crate) fn echoing() -> Arc<Recorder> {
        Arc::new(Recorder {
            echo: true,
            ..Recorder::default()
        })
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub(crate) fn disconnects(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::Disconnected(_)))
            .count()
    }

    /// Waits until `done(events)` holds; panics after [`TIMEOUT`], naming `what`.
    pub(crate) fn wait_until(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + TIMEOUT;
        let mut events = self.events.lock().unwrap();
        while !done(&events) {
            let now = Instant::now();
            assert!(now < deadline, "timed out waiting for {what}: {events:?}");
            events = self
                .event_added
                .wait_timeout(events, deadline - now)
                .unwrap()
                .0;
        }
        events.clone()
    }

    /// Waits for the first `on_disconnected` and returns how the session ended.
    pub(crate) fn wait_disconnected(&self) -> Ended {
        let events = self.wait_until("on_disconnected", |events| {
            events.iter().any(|e| matches!(e, Event::Disconnected(_)))
        });
        events
            .into_iter()
            .find_map(|e| match e {
                Event::Disconnected(ended) => Some(ended),
                _ => None,
            })
            .unwrap()
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
        self.event_added.notify_all();
    }
}

impl Handler for Recorder {
    fn on_connected(&self, _session: &Arc<Session>) {
        self.push(Event::Connected);
    }

    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        if self.echo {
            // Sending from inside a callback must work: no lock is held.
            let _ = session.send(packet.clone());
        }
        self.push(Event::Packet(packet));
    }

    fn on_disconnected(&self, _session: &Arc<Session>, reason: &DisconnectReason) {
        let ended = match reason {
            DisconnectReason::PeerClosed => Ended::PeerClosed,
            DisconnectReason::Local => Ended::Local,
            DisconnectReason::BadPacket(e) => Ended::BadPacket(e.clone()),
            other => Ended::Other(format!("{other:?}")),
        };
        self.push(Event::Disconnected(ended));
    }
}

/// Starts a session on `server` whose send path is the graded one,
/// reporting to `recorder`.
pub(crate) fn start_session(
    start: Start,
    server: TcpStream,
    recorder: &Arc<Recorder>,
) -> Arc<Session> {
    let config = SessionConfig {
        start_send_path: Arc::new(start),
        max_packet: MAX_PACKET_LEN,
    };
    let handler: Arc<dyn Handler> = recorder.clone();
    Session::start(server, &config, handler).expect("start the session")
}
