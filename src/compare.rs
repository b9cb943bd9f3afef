//! `servercore compare`: every lesson's send path under the same load, on a
//! real loopback connection, side by side.
//!
//! One run of one lesson ([`run`]):
//!
//! 1. a listener on `127.0.0.1:0`, a client connected to it, and a
//!    [`Session`] with the lesson's send path on the accepted socket;
//! 2. `senders` threads, released together, each building and sending its
//!    share of the packets (a fresh [`Packet`] each: allocate, copy, send);
//! 3. when all have sent, `close()` flushes the send path and shuts down
//!    the write half;
//! 4. a receiver thread on the client reads to the end of the stream and
//!    checks every packet ([`workload::Verifier`]): count, per-sender order,
//!    content.
//!
//! The clock runs from the senders' release to the arrival of the last
//! packet. The session's counters give write calls and wake-ups per message.

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::lessons::Lesson;
use crate::net::{self, SocketOptions};
use crate::packet::{MAX_PAYLOAD_LEN, Packet};
use crate::session::{Handler, Session, SessionConfig};
use crate::stats::StatsSnapshot;
use crate::workload::{self, MIN_PAYLOAD, Verifier};

/// How long the receiver waits for the next bytes before it gives up: a
/// hang becomes an error, never a stuck command.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// One workload: who sends how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Sender threads, all sending on the one session.
    pub senders: usize,
    /// Payload bytes per packet (the packet adds a 2-byte header).
    pub payload: usize,
    /// Packets in all, split evenly over the senders.
    pub messages: u64,
}

impl Workload {
    /// Checks the workload's limits; returns a message saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.senders == 0 || self.senders > usize::from(u16::MAX) {
            return Err(format!("senders must be 1..={}", u16::MAX));
        }
        if !(MIN_PAYLOAD..=MAX_PAYLOAD_LEN).contains(&self.payload) {
            return Err(format!(
                "payload must be {MIN_PAYLOAD}..={MAX_PAYLOAD_LEN} bytes"
            ));
        }
        if self.messages == 0 {
            return Err("messages must be at least 1".into());
        }
        Ok(())
    }

    /// Packets sender `sender` sends: an even share, the first ones taking the remainder.
    fn share(&self, sender: usize) -> u64 {
        let senders = self.senders as u64;
        self.messages / senders + u64::from((sender as u64) < self.messages % senders)
    }
}

/// What one lesson did with one workload.
#[derive(Debug, Clone)]
pub struct Report {
    /// The lesson measured.
    pub lesson: Lesson,
    /// The workload it ran.
    pub workload: Workload,
    /// From the senders' release to the last packet's arrival.
    pub seconds: f64,
    /// The session's counters after close.
    pub stats: StatsSnapshot,
    /// Packets the receiver verified.
    pub received: u64,
    /// Bytes the receiver read.
    pub bytes_received: u64,
    /// Why the run is not verified, if it is not.
    pub problem: Option<String>,
}

impl Report {
    /// True when every packet arrived whole, in per-sender order.
    pub fn verified(&self) -> bool {
        self.problem.is_none()
    }

    /// Packets delivered per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.received as f64 / self.seconds
    }

    /// Bytes (headers included) delivered per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes_received as f64 / self.seconds
    }
}

/// A handler for a session that only sends.
struct SendOnly;

impl Handler for SendOnly {
    fn on_packet(&self, _session: &Arc<Session>, _packet: Packet) {}
}

/// Runs `workload` through `lesson`'s send path on loopback and reports.
pub fn run(lesson: Lesson, workload: &Workload) -> io::Result<Report> {
    workload
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let options = SocketOptions::default();
    let listener = net::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &options)?;
    let client = net::connect(listener.local_addr()?, &options)?;
    let (server_side, _) = listener.accept()?;
    options.apply_to_stream(&server_side)?;
    client.set_read_timeout(Some(RECEIVE_TIMEOUT))?;

    let session = Session::start(server_side, &SessionConfig::new(lesson), Arc::new(SendOnly))?;

    let expected = workload.messages;
    let verifier = Verifier::new(workload.senders, workload.payload);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, verifier, expected))?;

    let start = Arc::new(Barrier::new(workload.senders + 1));
    let senders: Vec<_> = (0..workload.senders)
        .map(|sender| {
            let session = Arc::clone(&session);
            let start = Arc::clone(&start);
            let count = workload.share(sender);
            let payload = workload.payload;
            thread::Builder::new()
                .name(format!("sender {sender}"))
                .spawn(move || {
                    let mut buf = vec![0; payload];
                    start.wait();
                    for seq in 0..count {
                        workload::fill_payload(&mut buf, sender as u16, seq as u32);
                        let packet = Packet::from_payload(&buf).expect("payload was validated");
                        if session.send(packet).is_err() {
                            return; // the session failed: the receiver will report it
                        }
                    }
                })
        })
        .collect::<io::Result<_>>()?;

    start.wait();
    let started = Instant::now();
    for sender in senders {
        sender
            .join()
            .map_err(|_| io::Error::other("a sender thread panicked"))?;
    }
    session.close();
    let received = receiver
        .join()
        .map_err(|_| io::Error::other("the receiver thread panicked"))??;
    // The receiver dropped the client socket: the session's reader sees the
    // end of the stream and finishes.
    session.join();

    Ok(Report {
        lesson,
        workload: *workload,
        seconds: received
            .finished
            .duration_since(started)
            .as_secs_f64()
            .max(1e-9),
        stats: session.stats(),
        received: received.packets,
        bytes_received: received.bytes,
        problem: received.problem,
    })
}

/// Picks a message count that keeps `lesson` busy for about `target`:
/// a short calibration run (which also warms up), then scaled.
pub fn calibrate(
    lesson: Lesson,
    senders: usize,
    payload: usize,
    target: Duration,
) -> io::Result<u64> {
    let mut probe = Workload {
        senders,
        payload,
        messages: 10_000,
    };
    // Grow the probe until it runs long enough to measure (a tenth of the
    // target), so start-up costs do not skew the rate.
    loop {
        let report = run(lesson, &probe)?;
        if report.seconds >= target.as_secs_f64() / 10.0 || probe.messages >= 2_000_000 {
            let scaled = (report.msgs_per_sec() * target.as_secs_f64()) as u64;
            return Ok(scaled.clamp(10_000, 50_000_000));
        }
        probe.messages *= 4;
    }
}

/// The reports as an aligned text table.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>9} {:>12} {:>12} {:>10} {:>9}",
        "lesson", "msgs/s", "MB/s", "writes/msg", "wakeups/msg", "mean batch", "verified"
    );
    for r in reports {
        let batch = if r.lesson.has_writer_thread() {
            format!("{:.1}", r.stats.mean_batch())
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{:<20} {:>12} {:>9.1} {:>12.5} {:>12.5} {:>10} {:>9}",
            r.lesson.to_string(),
            thousands(r.msgs_per_sec()),
            r.bytes_per_sec() / 1e6,
            r.stats.writes_per_send(),
            r.stats.wakeups_per_send(),
            batch,
            if r.verified() { "yes" } else { "NO" },
        );
    }
    for r in reports.iter().filter(|r| !r.verified()) {
        let _ = writeln!(
            out,
            "{}: not verified: {}",
            r.lesson,
            r.problem.as_deref().unwrap_or("")
        );
    }
    out
}

/// One report as a line of JSON (keys documented in the README).
pub fn json_line(r: &Report) -> String {
    let problem = match &r.problem {
        Some(p) => format!("\"{}\"", json_escape(p)),
        None => "null".into(),
    };
    format!(
        "{{\"lesson\":{},\"name\":\"{}\",\"senders\":{},\"payload\":{},\"messages\":{},\
         \"seconds\":{:.6},\"msgs_per_sec\":{:.1},\"bytes_per_sec\":{:.1},\"write_calls\":{},\
         \"writes_per_msg\":{:.6},\"wakeups\":{},\"batches\":{},\"max_batch\":{},\
         \"received\":{},\"verified\":{},\"problem\":{}}}",
        r.lesson.number(),
        r.lesson.name(),
        r.workload.senders,
        r.workload.payload,
        r.workload.messages,
        r.seconds,
        r.msgs_per_sec(),
        r.bytes_per_sec(),
        r.stats.write_calls,
        r.stats.writes_per_send(),
        r.stats.wakeups,
        r.stats.batches,
        r.stats.max_batch,
        r.received,
        r.verified(),
        problem,
    )
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// 1234567.8 → "1,234,568".
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
