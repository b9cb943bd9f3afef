//! Helpers shared by the socket tests.
//!
//! * loopback pairs whose blocking calls all have a timeout, so a hang
//!   fails the test instead of stalling CI;
//! * a receiver thread that checks every packet ([`Verifier`]);
//! * sending from many threads at once;
//! * [`Recorder`], a session [`Handler`] that records its callbacks in order;
//! * two sinks in front of the real socket that make *short writes* happen
//!   on purpose, so a test can rely on them instead of hoping the kernel
//!   produces one: [`SplittingSink`] (lessons 01/02) and [`CappedSink`]
//!   (lessons 04/05).
//!
//! Every byte still crosses a real TCP connection on 127.0.0.1.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use servercore::Backpressure;
use servercore::packet::FrameError;
use servercore::session::{DisconnectReason, Handler};
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::wire::Sink;
use servercore::workload::{Received, Verifier, make_packet, receive};
use servercore::{Lesson, Packet, SendPath, Session, StatsSnapshot, Wire};

pub use servercore::net::SocketOptions;

/// The longest any blocking step of a test may take before the test fails.
/// Generous: it is never reached unless something hangs.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A loopback pair `(server_side, client)` with `options` on both ends.
/// Reads on the client and writes on the server side time out after
/// [`TIMEOUT`], so neither a lost packet nor a stuck writer can hang a test.
pub fn pair_with(options: &SocketOptions) -> (TcpStream, TcpStream) {
    let (server, client) = socket_pair(options).expect("a loopback socket pair");
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    server.set_write_timeout(Some(TIMEOUT)).unwrap();
    (server, client)
}

/// A loopback pair with default options (see [`pair_with`]).
pub fn pair() -> (TcpStream, TcpStream) {
    pair_with(&SocketOptions::default())
}

/// Starts `lesson`'s send path on a clone of `server` (a plain `TcpStream` wire).
pub fn start(lesson: Lesson, server: &TcpStream) -> Box<dyn SendPath> {
    lesson
        .start(Wire::from_stream(server).expect("clone the socket"))
        .expect("start the send path")
}

/// Starts `lesson`'s send path on `server` behind `gate`: every write call
/// waits at the gate until it opens.
pub fn start_gated(lesson: Lesson, server: TcpStream, gate: &Arc<Gate>) -> Box<dyn SendPath> {
    lesson
        .start(Wire::new(GatedSink::new(server, Arc::clone(gate))))
        .expect("start the send path")
}

/// A thread that reads `client` to the end of the stream and checks every
/// packet: `senders` senders, `payload`-byte payloads, `expected` packets.
pub fn spawn_receiver(
    client: TcpStream,
    senders: usize,
    payload: usize,
    expected: u64,
) -> thread::JoinHandle<io::Result<Received>> {
    thread::Builder::new()
        .name("receiver".into())
        .spawn(move || receive(&client, Verifier::new(senders, payload), expected))
        .expect("spawn the receiver")
}

/// Like [`spawn_receiver`], and also signals on the returned channel once
/// `signal_at` bytes have been read: a test can wait (with a timeout) for
/// the packets to arrive *without* closing the send path first.
pub fn spawn_receiver_signalling(
    client: TcpStream,
    senders: usize,
    payload: usize,
    expected: u64,
    signal_at: u64,
) -> (thread::JoinHandle<io::Result<Received>>, mpsc::Receiver<()>) {
    let (arrived, signal) = mpsc::channel();
    let reader = ProgressReader {
        inner: client,
        read: 0,
        signal_at,
        arrived: Some(arrived),
    };
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || receive(reader, Verifier::new(senders, payload), expected))
        .expect("spawn the receiver");
    (receiver, signal)
}

/// A reader that sends one message on `arrived` when `signal_at` bytes
/// have gone through it.
struct ProgressReader {
    inner: TcpStream,
    read: u64,
    signal_at: u64,
    arrived: Option<mpsc::Sender<()>>,
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&self.inner).read(buf)?;
        self.read += n as u64;
        if self.read >= self.signal_at {
            if let Some(arrived) = self.arrived.take() {
                let _ = arrived.send(());
            }
        }
        Ok(n)
    }
}

/// Joins a receiver and asserts that exactly `expected` packets arrived,
/// all intact and in per-sender order, followed by the end of the stream.
pub fn assert_received(receiver: thread::JoinHandle<io::Result<Received>>, expected: u64) {
    let got = receiver
        .join()
        .expect("receiver thread panicked")
        .expect("receive failed");
    // `ok()` means: every packet checked out, the count is `expected`, and
    // the stream ended cleanly between packets (a timeout is a problem too).
    assert!(got.ok(), "receiver: {got}");
    assert_eq!(got.packets, expected, "receiver: {got}");
}

/// Sends `per_thread` packets from each of `threads` threads at once;
/// thread `i` is sender `i` and sends sequence numbers `0..per_thread`.
pub fn send_from_threads(path: &dyn SendPath, threads: usize, per_thread: u32, payload: usize) {
    let start = std::sync::Barrier::new(threads);
    thread::scope(|scope| {
        for sender in 0..threads {
            let start = &start;
            scope.spawn(move || {
                start.wait(); // all together, to make them contend
                for seq in 0..per_thread {
                    let packet = make_packet(sender as u16, seq, payload);
                    if let Err(e) = path.send(packet) {
                        panic!("sender {sender}: send {seq} refused: {e}");
                    }
                }
            });
        }
    });
}

/// `threads` × `per_thread` packets of `payload` bytes through `lesson`,
/// all threads at once, then `close`: asserts that every packet arrived
/// intact and in its thread's order, and that exactly the bytes sent were
/// written; returns the counters.
pub fn verified_burst(
    lesson: Lesson,
    threads: usize,
    per_thread: u32,
    payload: usize,
) -> StatsSnapshot {
    let total = threads as u64 * u64::from(per_thread);
    let (server, client) = pair();
    let path = start(lesson, &server);
    let receiver = spawn_receiver(client, threads, payload, total);
    send_from_threads(path.as_ref(), threads, per_thread, payload);
    path.close();
    // The verifier checks, per packet: whole, right length, no foreign
    // bytes, and the next sequence number of its sender.
    assert_received(receiver, total);
    let stats = path.stats();
    assert_eq!(stats.sends, total);
    assert_eq!(stats.bytes_written, total * (payload as u64 + 2));
    stats
}

/// Sends packets `seqs` of sender `sender` from this thread.
pub fn send_seqs(path: &dyn SendPath, sender: u16, seqs: std::ops::Range<u32>, payload: usize) {
    for seq in seqs {
        path.send(make_packet(sender, seq, payload))
            .unwrap_or_else(|e| panic!("send {seq} refused: {e}"));
    }
}

/// Reads `stream` until end of stream (or reset) and returns the byte
/// count. Fails on a timeout.
pub fn read_to_end_counting(mut stream: &TcpStream) -> io::Result<u64> {
    let mut total = 0u64;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Asserts that the peer's side of `client` is shut: a read returns end of
/// stream (or a reset), not data and not a timeout.
pub fn assert_peer_gone(mut client: &TcpStream) {
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected end of stream, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Sessions: a handler that records what it hears.

/// How a session ended, as the recorder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// [`DisconnectReason::PeerClosed`].
    PeerClosed,
    /// [`DisconnectReason::Local`].
    Local,
    /// [`DisconnectReason::BadPacket`].
    BadPacket(FrameError),
    /// Any other reason, as its `Debug` text.
    Other(String),
}

/// One handler callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `on_connected`.
    Connected,
    /// `on_packet`.
    Packet(Packet),
    /// `on_disconnected`.
    Disconnected(Ended),
}

/// A [`Handler`] that records every callback in order and lets a test wait
/// (with a timeout) for what it expects. Optionally echoes every packet back
/// through the session, from inside the callback.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every callback so far, in the order they ran.
    events: Mutex<Vec<Event>>,
    /// Signalled after every new event.
    event_added: Condvar,
    /// Whether `on_packet` sends the packet back.
    echo: bool,
}

impl Recorder {
    /// A recorder that only records.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// A recorder that also echoes every packet back to the peer.
    pub fn echoing() -> Arc<Recorder> {
        Arc::new(Recorder {
            echo: true,
            ..Recorder::default()
        })
    }

    /// The callbacks so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// How many `on_disconnected` callbacks ran.
    pub fn disconnects(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::Disconnected(_)))
            .count()
    }

    /// Waits until `done(events)` holds; panics after [`TIMEOUT`], naming `what`.
    pub fn wait_until(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
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
    pub fn wait_disconnected(&self) -> Ended {
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

/// Starts a session running `lesson` on `server`, reporting to `recorder`.
pub fn start_session(lesson: Lesson, server: TcpStream, recorder: &Arc<Recorder>) -> Arc<Session> {
    let handler: Arc<dyn Handler> = recorder.clone();
    Session::start(
        server,
        &lesson.session_config(Backpressure::unlimited()),
        handler,
    )
    .expect("start the session")
}

// ---------------------------------------------------------------------------
// Short writes on purpose.

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
        let deadline = Instant::now() + TIMEOUT;
        let mut state = self.state.lock().unwrap();
        while !state.log.contains(&SplitEvent::FirstPart) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        true
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
                let deadline = Instant::now() + self.hold;
                while !state.log.contains(&SplitEvent::OtherWrote) {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    state = self
                        .shared
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap()
                        .0;
                }
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

// ---------------------------------------------------------------------------
// Scenarios shared by more than one lesson's test file.

/// What [`split_scenario`] saw.
#[derive(Debug)]
pub struct SplitOutcome {
    /// What the receiver made of the two packets.
    pub received: Received,
    /// What the sink saw, in order.
    pub log: Vec<SplitEvent>,
    /// The send path's counters after close.
    pub stats: StatsSnapshot,
}

/// Two threads each send one 66-byte packet through `lesson`, on a
/// [`SplittingSink`] that makes thread A's first write call a short write
/// (12 bytes) and then holds A — for at most `hold` — until a write call
/// from another thread has completed. Thread B starts sending only after
/// A's short write has returned.
///
/// Why the outcome is deterministic:
///
/// * B is started only once A's first 12 bytes are on the wire
///   ([`SplitShared::wait_first_part`]), so A always writes first.
/// * A's second write call (the other 54 bytes) goes to the socket only
///   once B's write call has *returned*, or once `hold` has passed. So if
///   the send path lets B write while A is in the middle of its packet,
///   B's bytes land between A's two parts — every time, not by luck.
/// * If the send path makes B wait until A's packet is complete (a lock
///   held across the whole `write_all`), B cannot write during the hold
///   whatever the scheduler does; the hold runs out, A finishes, then B
///   writes. The log records which of the two orders happened.
pub fn split_scenario(lesson: Lesson, hold: Duration) -> SplitOutcome {
    const PAYLOAD: usize = 64;
    let (server, client) = pair();
    let (sink, split) = SplittingSink::new(server, 12, hold);
    let path = lesson.start(Wire::new(sink)).expect("start the send path");
    let receiver = spawn_receiver(client, 2, PAYLOAD, 2);
    thread::scope(|scope| {
        let path = path.as_ref();
        let a = scope.spawn(move || path.send(make_packet(0, 0, PAYLOAD)));
        assert!(split.wait_first_part(), "thread A never wrote");
        let b = scope.spawn(move || path.send(make_packet(1, 0, PAYLOAD)));
        a.join().unwrap().expect("A's send");
        b.join().unwrap().expect("B's send");
    });
    path.close();
    let received = receiver
        .join()
        .expect("receiver panicked")
        .expect("receive failed");
    SplitOutcome {
        received,
        log: split.log(),
        stats: path.stats(),
    }
}

/// The counters at the three moments of [`gated_burst`].
#[derive(Debug)]
pub struct BurstStats {
    /// When the writer has arrived at the gate with packet 0.
    pub at_gate: StatsSnapshot,
    /// After the burst, the writer still held at the gate.
    pub after_burst: StatsSnapshot,
    /// After the gate opened and `close` returned.
    pub after_close: StatsSnapshot,
}

/// Sends packet 0, waits until the writer is inside its first write call
/// (held at a [`Gate`]), sends `burst` more packets, opens the gate, waits
/// until every packet has arrived, and only then closes. Asserts that all
/// `1 + burst` packets arrive intact and in order, then end of stream.
///
/// Waiting for the packets *before* `close` matters: `close` wakes the
/// writer by itself, so it would hide a writer that forgot the packets
/// queued during its write (lessons 03/04: clearing `pending` without
/// re-checking the queue — the seed's "가정" paragraph).
pub fn gated_burst(lesson: Lesson, burst: u32, payload: usize) -> BurstStats {
    let (server, client) = pair();
    let gate = Gate::new();
    let path = start_gated(lesson, server, &gate);
    let total = 1 + burst;
    let total_bytes = u64::from(total) * (payload as u64 + 2);
    let (receiver, arrived) =
        spawn_receiver_signalling(client, 1, payload, u64::from(total), total_bytes);
    path.send(make_packet(0, 0, payload)).unwrap();
    assert!(
        gate.wait_for_arrivals(1, TIMEOUT),
        "the writer never reached the gate"
    );
    let at_gate = path.stats();
    send_seqs(path.as_ref(), 0, 1..total, payload);
    let after_burst = path.stats();
    gate.open();
    assert!(
        arrived.recv_timeout(TIMEOUT).is_ok(),
        "the packets queued behind the held write never arrived before close: \
         did the writer go to sleep without re-checking its queue? {:?}",
        path.stats()
    );
    path.close();
    assert_received(receiver, u64::from(total));
    BurstStats {
        at_gate,
        after_burst,
        after_close: path.stats(),
    }
}

/// The small socket buffers of the partial-write tests: `SO_SNDBUF` and
/// `SO_RCVBUF` of 4 KiB on both ends (Linux doubles them: 8 KiB).
pub fn small_buffers() -> SocketOptions {
    SocketOptions {
        send_buffer: Some(4096),
        recv_buffer: Some(4096),
        ..SocketOptions::default()
    }
}

/// Packets of the partial-write tests: 65,000-byte payloads (65,002 on the
/// wire, about 64 KiB), from [`BIG_SENDERS`] threads.
pub const BIG_PAYLOAD: usize = 65_000;
/// Sender threads of the partial-write tests.
pub const BIG_SENDERS: usize = 2;
/// Packets per sender thread in the partial-write tests.
pub const BIG_PER_SENDER: u32 = 24;

/// Two threads queue [`BIG_PER_SENDER`] 64 KiB packets each on `lesson`
/// (a batched lesson: `send` only queues), over a connection with
/// [`small_buffers`] on both ends, on the wire `make_wire` builds from the
/// server-side socket. The reader starts only after every packet is queued,
/// so the writer meets a full socket buffer. Asserts every byte arrives
/// intact and in order; returns the counters.
pub fn big_packets_late_reader(
    lesson: Lesson,
    make_wire: impl FnOnce(TcpStream) -> Wire,
) -> StatsSnapshot {
    let total = BIG_SENDERS as u64 * u64::from(BIG_PER_SENDER);
    let (server, client) = pair_with(&small_buffers());
    let path = lesson
        .start(make_wire(server))
        .expect("start the send path");
    // `send` returns at once for lessons 04/05: when this returns, all the
    // packets are queued (or already in the writer's hands), nobody reads yet.
    send_from_threads(path.as_ref(), BIG_SENDERS, BIG_PER_SENDER, BIG_PAYLOAD);
    assert_eq!(path.stats().sends, total);
    let receiver = spawn_receiver(client, BIG_SENDERS, BIG_PAYLOAD, total);
    path.close();
    assert_received(receiver, total);
    let stats = path.stats();
    assert_eq!(stats.bytes_written, total * (BIG_PAYLOAD as u64 + 2));
    stats
}
