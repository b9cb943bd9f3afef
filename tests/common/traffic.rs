//! Traffic: receiver threads that check every packet, and sending from
//! many threads at once.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;

use servercore::workload::{Received, Verifier, make_packet, receive};
use servercore::{Lesson, SendPath, StatsSnapshot};

use super::{pair, start};

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
