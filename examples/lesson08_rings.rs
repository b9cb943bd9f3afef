//! Lesson 08 — per-sender rings on a real loopback connection.
//!
//!     cargo run --example lesson08_rings
//!     RUST_LOG=trace cargo run --example lesson08_rings
//!
//! It prints (the same counts every run):
//!
//!     lesson 08 rings: 4 sender threads, 32-byte payloads, rings of 128 bytes, one loopback connection
//!     rings: senders 0-2 send 2 packets each with send_with, framed in their own rings
//!       rings 3, sends 6
//!     held: the writer's write waits at a gate while senders 1-3 publish one packet each
//!       rings 4, sends 4, write calls 2, wake-ups 1, writer batches 2
//!     full: the writer is held again; sender 0 sends 4 packets into its 128-byte ring
//!       sender 0 is blocked: its ring holds 102 of 128 bytes, the 4th packet does not fit
//!       the gate opens, the writer frees room: sends 4, blocked senders now 0
//!       received           14 packets, 476 bytes: every one verified (count, per-sender order, content)
//!
//! Four long-lived sender threads (`sender 0` to `sender 3`) share one
//! session. A ring belongs to a *thread*: each thread's first send
//! registers its ring, and every later send of that thread finds it with no
//! lock. Every packet is framed in place with `send_with`: the payload is
//! written straight into the sender's ring, no `Packet` is built.
//!
//! **rings** shows one ring per thread. **held** makes the seed's "가정"
//! (*assumption*) case happen every run: the writer's write of sender 0's
//! packet waits at a [`Gate`] (as the tests hold a writer), senders 1 to 3
//! publish one packet each, find `pending` set and wake nobody; when the
//! gate opens, the writer gathers the three rings into ONE `writev`.
//! **full** holds the writer again while sender 0 fills its small ring: the
//! send that does not fit blocks until the writer, let go, frees room.
//!
//! With `RUST_LOG=trace`, each line names its thread; the held part reads:
//!
//!     sender 0 TRACE publish: pending false -> true: wake the writer
//!       writer TRACE woke after a wait
//!       writer TRACE write: 1 packets from 1 rings, 34 bytes
//!     sender 1 TRACE publish: 34 bytes, pending is true: no wake-up
//!     sender 2 TRACE publish: 34 bytes, pending is true: no wake-up
//!     sender 3 DEBUG first send on this session: ring 4 registered
//!     sender 3 TRACE publish: 34 bytes, pending is true: no wake-up
//!       writer TRACE write: 3 packets from 3 rings, 102 bytes
//!       writer TRACE re-check: every ring empty, pending -> false: sleep

mod common;

use std::error::Error;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use servercore::lessons::lesson08_rings::RingPath;
use servercore::net::SocketOptions;
use servercore::testing::{Gate, socket_pair};
use servercore::wire::Sink;
use servercore::workload::{self, Verifier, fill_payload};
use servercore::{SendError, SendPath, StatsSnapshot, Wire};

use common::PAYLOAD;

/// Sender threads (`sender 0` to `sender 3`).
const SENDERS: usize = 4;
/// Bytes per ring: three 34-byte frames fit, a fourth does not.
const RING: usize = 128;
const FRAME: u64 = PAYLOAD as u64 + 2;
const WAIT: Duration = Duration::from_secs(10);

/// The real socket, except that once a gate is armed, the next write call
/// waits at it. Each gate holds one write call; the others go straight through.
struct HeldWrites {
    socket: TcpStream,
    next: Arc<Mutex<Option<Arc<Gate>>>>,
}

impl HeldWrites {
    /// If a gate is armed, waits at it (and disarms it: it holds one call).
    fn hold_if_armed(&self) {
        let gate = self.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(gate) = gate {
            gate.pass(); // held here until the gate opens
        }
    }
}

impl Sink for HeldWrites {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.hold_if_armed();
        Sink::write(&self.socket, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.hold_if_armed();
        Sink::write_vectored(&self.socket, bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.socket, how)
    }
}

/// A long-lived sender thread: told how many packets to send, it frames
/// each one into its own ring with `send_with`, numbering them 0, 1, 2…
struct Sender {
    jobs: mpsc::Sender<u32>,
    done: mpsc::Receiver<Result<(), SendError>>,
}

impl Sender {
    /// Tells the thread to send `count` packets (does not wait).
    fn start(&self, count: u32) -> Result<(), Box<dyn Error>> {
        self.jobs
            .send(count)
            .map_err(|_| "a sender thread has gone")?;
        Ok(())
    }
    /// Waits until the thread's last job is done.
    fn wait(&self) -> Result<(), Box<dyn Error>> {
        self.done
            .recv_timeout(WAIT)
            .map_err(|_| "a sender never finished")??;
        Ok(())
    }
    /// Sends `count` packets and waits until they are published.
    fn send(&self, count: u32) -> Result<(), Box<dyn Error>> {
        self.start(count)?;
        self.wait()
    }
}

/// Waits until the writer has written `bytes` bytes in all, then gives it
/// a moment to take its last look and fall asleep.
fn until_written(path: &RingPath, bytes: u64) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + WAIT;
    while path.stats().bytes_written < bytes {
        if Instant::now() > deadline {
            return Err("the writer never wrote everything".into());
        }
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(20));
    Ok(())
}

/// Prints the counters one part added.
fn print_part(path: &RingPath, before: &StatsSnapshot, after: &StatsSnapshot) {
    println!(
        "  rings {}, sends {}, write calls {}, wake-ups {}, writer batches {}",
        path.rings(),
        after.sends - before.sends,
        after.write_calls - before.write_calls,
        after.wakeups - before.wakeups,
        after.batches - before.batches
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(WAIT))?; // a hang becomes an error
    let next = Arc::new(Mutex::new(None));
    let sink = HeldWrites {
        socket: server_side,
        next: Arc::clone(&next),
    };
    let path = RingPath::with_capacity(Wire::new(sink), RING)?;
    let arm = || {
        let gate = Gate::new();
        *next.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&gate));
        gate
    };

    // The peer: reads everything to the end of the stream and checks it.
    let expected = 3 * 2 + 4 + 4;
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, Verifier::new(SENDERS, PAYLOAD), expected))?;
    println!(
        "lesson 08 rings: {SENDERS} sender threads, {PAYLOAD}-byte payloads, \
         rings of {} bytes, one loopback connection",
        path.ring_capacity()
    );

    thread::scope(|scope| -> Result<(), Box<dyn Error>> {
        let path = &path;
        let mut senders = Vec::new();
        for id in 0..SENDERS {
            let (jobs, job) = mpsc::channel::<u32>();
            let (report, done) = mpsc::channel();
            thread::Builder::new()
                .name(format!("sender {id}"))
                .spawn_scoped(scope, move || {
                    let mut seq = 0;
                    for count in job {
                        let mut result = Ok(());
                        for _ in 0..count {
                            // New: the payload is written straight into this thread's ring.
                            let sent = path
                                .send_with(PAYLOAD, &mut |body| fill_payload(body, id as u16, seq));
                            seq += 1;
                            if let Err(e) = sent {
                                result = Err(e);
                                break;
                            }
                        }
                        if report.send(result).is_err() {
                            return;
                        }
                    }
                })?;
            senders.push(Sender { jobs, done });
        }

        // Rings: three threads, two packets each, one thread after another.
        println!(
            "rings: senders 0-2 send 2 packets each with send_with, framed in their own rings"
        );
        for sender in &senders[..3] {
            sender.send(2)?;
        }
        until_written(path, 6 * FRAME)?;
        println!("  rings {}, sends {}", path.rings(), path.stats().sends);

        // Held: the writer's write of sender 0's packet waits at a gate.
        println!(
            "held: the writer's write waits at a gate while senders 1-3 publish one packet each"
        );
        let before = path.stats();
        let gate = arm();
        senders[0].send(1)?;
        if !gate.wait_for_arrivals(1, WAIT) {
            return Err("the writer never reached the gate".into());
        }
        for sender in &senders[1..] {
            sender.send(1)?; // pending is set: no wake-up
        }
        gate.open();
        until_written(path, 10 * FRAME)?;
        print_part(path, &before, &path.stats());

        // Full: the writer is held again; sender 0's ring fills up.
        println!(
            "full: the writer is held again; sender 0 sends 4 packets into its {}-byte ring",
            path.ring_capacity()
        );
        let before = path.stats();
        let gate = arm();
        senders[0].send(1)?;
        if !gate.wait_for_arrivals(1, WAIT) {
            return Err("the writer never reached the gate".into());
        }
        senders[0].start(3)?; // two fit beside the held one; the third blocks
        let deadline = Instant::now() + WAIT;
        while path.stats().blocked_sends == 0 {
            if Instant::now() > deadline {
                return Err("sender 0 never blocked".into());
            }
            thread::yield_now();
        }
        println!(
            "  sender 0 is blocked: its ring holds {} of {} bytes, the 4th packet does not fit",
            path.stats().queued_bytes,
            path.ring_capacity()
        );
        gate.open(); // the writer writes, frees room, wakes sender 0
        senders[0].wait()?;
        until_written(path, 14 * FRAME)?;
        // (How many write calls and wake-ups follow depends on how the
        // writer and sender 0 interleave once the gate opens: not printed.)
        let after = path.stats();
        println!(
            "  the gate opens, the writer frees room: sends {}, blocked senders now {}",
            after.sends - before.sends,
            after.blocked_sends
        );
        drop(senders); // the sender threads' job channels close: they exit
        Ok(())
    })?;

    path.close(); // flushes what is published, then shuts the write half
    let received = receiver.join().expect("the receiver thread panicked")?;
    common::print_received(&received);
    if !received.ok() {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
