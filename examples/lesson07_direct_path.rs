//! Lesson 07 — the direct path on a real loopback connection.
//!
//!     cargo run --example lesson07_direct_path
//!     RUST_LOG=trace cargo run --example lesson07_direct_path
//!     cargo run --release --example lesson07_direct_path -- 200000   # busy packets per sender
//!
//! It prints (one run; the quiet and held parts are the same every run,
//! the busy part varies from run to run):
//!
//!     lesson 07 direct_path: 4 senders, 32-byte payloads, one loopback connection
//!     quiet: sender 0 sends 3 packets, one after another
//!       sends 3, write calls 3, wake-ups 0, writer batches 0
//!     held: sender 0's direct write waits at a gate while senders 1-3 send
//!       sends 4, write calls 2, wake-ups 1, writer batches 1 (largest so far 3)
//!     busy: 4 senders x 20000 packets at once (not traced)
//!       sends 80000, write calls 2330, wake-ups 2, writer batches 253 (largest so far 25218)
//!       received        80007 packets, 2720238 bytes: every one verified (count, per-sender order, content)
//!
//! **quiet** is one sender on an idle socket: `send` gives the socket back
//! before it returns, so every send is a direct write and nobody is woken.
//! **held** makes the seed's "가정" (*assumption*) case happen every run: a
//! packet queued while somebody else is writing. Sender 0 finds the socket
//! idle and takes it; its direct write waits at a [`Gate`] (as the tests
//! hold a writer). Senders 1 to 3 find the socket owned and only queue.
//! When the gate opens, sender 0 looks at the queue before it lets go, and
//! hands the socket to the writer thread, which writes the three packets
//! with one `writev`. **busy** is four senders at once: counted, not
//! traced (it would log tens of thousands of lines).
//!
//! With `RUST_LOG=trace`, each line names its thread; the held part reads:
//!
//!     sender 0 TRACE owner Idle -> Caller: write directly from this thread
//!     sender 1 TRACE enqueue: owner Caller, 1 queued: no wake-up
//!     sender 2 TRACE enqueue: owner Caller, 2 queued: no wake-up
//!     sender 3 TRACE enqueue: owner Caller, 3 queued: no wake-up
//!     sender 0 TRACE direct write: 34 bytes, all of the packet
//!     sender 0 TRACE owner Caller -> Writer: 3 queued during the write
//!       writer TRACE write: 3 packets, 102 bytes
//!       writer TRACE re-check: empty, owner Writer -> Idle

mod common;

use std::error::Error;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use servercore::lessons::lesson07_direct_path::DirectPath;
use servercore::net::SocketOptions;
use servercore::testing::{Gate, socket_pair};
use servercore::wire::Sink;
use servercore::workload::{self, Verifier, make_packet};
use servercore::{SendError, SendPath, StatsSnapshot, Wire};

use common::PAYLOAD;

/// Sender threads (`sender 0` to `sender 3`).
const SENDERS: usize = 4;
/// Packets in the held part (one per sender) and in the quiet part.
const HELD: u64 = SENDERS as u64;
const QUIET: u32 = 3;
const WAIT: Duration = Duration::from_secs(10);

/// The real socket, except that a direct write (`try_write`, the write that
/// cannot block) first waits at a gate. Every other write goes straight
/// through: only the caller's direct write is held, never the writer's.
struct HeldDirectWrite {
    socket: TcpStream,
    gate: Arc<Gate>,
    /// Whether direct writes wait at the gate (from the held part on).
    hold: Arc<AtomicBool>,
}

impl Sink for HeldDirectWrite {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Sink::write(&self.socket, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Sink::write_vectored(&self.socket, bufs)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Sink::shutdown(&self.socket, how)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if self.hold.load(Ordering::SeqCst) {
            self.gate.pass(); // held here until the gate opens (then open for good)
        }
        Sink::try_write(&self.socket, buf)
    }
}

/// Runs `f` on a thread named `sender N` and waits for it.
fn as_sender<R: Send>(id: usize, f: impl FnOnce() -> R + Send) -> R {
    thread::scope(|scope| {
        thread::Builder::new()
            .name(format!("sender {id}"))
            .spawn_scoped(scope, f)
            .expect("failed to spawn a sender thread")
            .join()
            .expect("a sender thread panicked")
    })
}

/// Prints the counters one part added.
fn print_part(before: &StatsSnapshot, after: &StatsSnapshot) {
    let batches = after.batches - before.batches;
    println!(
        "  sends {}, write calls {}, wake-ups {}, writer batches {batches}{}",
        after.sends - before.sends,
        after.write_calls - before.write_calls,
        after.wakeups - before.wakeups,
        if batches == 0 {
            String::new()
        } else {
            format!(" (largest so far {})", after.max_batch)
        }
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let busy = common::per_sender_arg(20_000)?;
    let (server_side, client) = socket_pair(&SocketOptions::default())?;
    client.set_read_timeout(Some(WAIT))?; // a hang becomes an error
    let (gate, hold) = (Gate::new(), Arc::new(AtomicBool::new(false)));
    let sink = HeldDirectWrite {
        socket: server_side,
        gate: Arc::clone(&gate),
        hold: Arc::clone(&hold),
    };
    let path = DirectPath::new(Wire::new(sink))?;

    // The peer: reads everything to the end of the stream and checks it.
    let expected = u64::from(QUIET) + HELD + SENDERS as u64 * u64::from(busy);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, Verifier::new(SENDERS, PAYLOAD), expected))?;
    // Each sender's next sequence number: its packets arrive in this order.
    let mut next_seq = [0u32; SENDERS];
    println!(
        "lesson 07 direct_path: {SENDERS} senders, {PAYLOAD}-byte payloads, one loopback connection"
    );

    // Quiet: one sender, one packet after another. `send` gives the socket
    // back before it returns, so the next send always finds it idle.
    println!("quiet: sender 0 sends {QUIET} packets, one after another");
    let before = path.stats();
    as_sender(0, || -> Result<(), SendError> {
        for seq in 0..QUIET {
            path.send(make_packet(0, seq, PAYLOAD))?;
        }
        Ok(())
    })?;
    next_seq[0] = QUIET;
    print_part(&before, &path.stats());

    // Held: sender 0's direct write waits at the gate, owning the socket,
    // while senders 1 to 3 send one packet each.
    println!("held: sender 0's direct write waits at a gate while senders 1-3 send");
    let before = path.stats();
    hold.store(true, Ordering::SeqCst);
    thread::scope(|scope| -> Result<(), Box<dyn Error>> {
        let path = &path;
        let first = make_packet(0, next_seq[0], PAYLOAD);
        let holder = thread::Builder::new()
            .name("sender 0".into())
            .spawn_scoped(scope, move || path.send(first))?;
        if !gate.wait_for_arrivals(1, WAIT) {
            return Err("sender 0 never reached its direct write".into());
        }
        for (id, seq) in next_seq.iter().enumerate().skip(1) {
            as_sender(id, || path.send(make_packet(id as u16, *seq, PAYLOAD)))?;
        }
        gate.open(); // for good: every later direct write passes at once
        holder.join().expect("sender 0 panicked")?;
        Ok(())
    })?;
    next_seq.iter_mut().for_each(|seq| *seq += 1);
    // Wait until the writer has written what sender 0 handed it, and give
    // it a moment to log its re-check before tracing stops.
    let total = (u64::from(QUIET) + HELD) * (PAYLOAD as u64 + 2);
    while path.stats().bytes_written < total {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(20));
    print_part(&before, &path.stats());

    // Busy: every sender at once. Not traced (four senders log thousands
    // of lines): the counters tell what happened.
    log::set_max_level(log::max_level().min(log::LevelFilter::Debug));
    println!("busy: {SENDERS} senders x {busy} packets at once (not traced)");
    let before = path.stats();
    thread::scope(|scope| {
        for (id, first) in next_seq.iter().enumerate() {
            let (path, first) = (&path, *first);
            thread::Builder::new()
                .name(format!("sender {id}"))
                .spawn_scoped(scope, move || {
                    for seq in first..first + busy {
                        if path.send(make_packet(id as u16, seq, PAYLOAD)).is_err() {
                            return; // the connection failed: the receiver reports why
                        }
                    }
                })
                .expect("failed to spawn a sender thread");
        }
    });
    path.close(); // flushes what is queued, then shuts the write half
    print_part(&before, &path.stats());

    let received = receiver.join().expect("the receiver thread panicked")?;
    common::print_received(&received);
    if !received.ok() {
        return Err("not everything arrived intact".into());
    }
    Ok(())
}
