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
//!
//! Around that one run:
//!
//! * **The ceiling** ([`run_ceiling`]): the whole workload, framed and
//!   verified by the same receiver, but pre-built into one buffer and
//!   written by one thread in 64 KiB writes. No lesson can beat it, so
//!   each lesson's bytes/s is also shown as a fraction of it.
//! * **Latency mode** ([`RunOptions::rate`]): each sender sends `rate`
//!   packets per second, paced by deadlines (the next deadline is the last
//!   one plus the period, so a late packet does not shift the ones after
//!   it), each payload stamped with its send time; the receiver records
//!   send-to-receive latencies and reports p50, p99 and p99.9.
//! * **Repeated runs** ([`Summary`]): the median, min and max of every figure.
//! * **Allocations per packet**: when the program installs
//!   [`CountingAlloc`](crate::alloc_count::CountingAlloc) (the `servercore`
//!   binary does), each sender counts its own allocations while it sends.

use std::fmt::{self, Write as _};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::alloc_count;
use crate::catalog::Lesson;
use crate::lessons::lesson06_send_buffers;
use crate::lessons::lesson10_backpressure::{Backpressure, Policy};
use crate::net::{self, SocketOptions};
use crate::packet::{HEADER_LEN, MAX_PAYLOAD_LEN, Packet};
use crate::session::{Handler, Session};
use crate::stats::StatsSnapshot;
use crate::wire::Wire;
use crate::workload::{self, MIN_PAYLOAD, MIN_STAMPED_PAYLOAD, Verifier};

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

/// How a run is driven, beyond the workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Latency mode: packets per second *per sender*, paced by deadlines,
    /// each stamped with its send time. `None`: send as fast as possible.
    pub rate: Option<u64>,
    /// Lesson 10's queue limit in bytes, with [`Policy::Block`]: a sender
    /// waits once this much is queued, until the writer drains half of it.
    /// `None`: unlimited, as lessons 03–06 and 11 are first taught. Lessons
    /// 01 and 02 have no queue and ignore it.
    pub queue_limit: Option<usize>,
}

/// What a run measured: a lesson's send path, or the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// The socket's own limit: a pre-built stream in 64 KiB writes ([`run_ceiling`]).
    Ceiling,
    /// One lesson's send path ([`run`]).
    Lesson(Lesson),
}

impl Subject {
    /// The lesson's number; 0 for the ceiling.
    pub fn number(self) -> u32 {
        match self {
            Subject::Ceiling => 0,
            Subject::Lesson(l) => l.number(),
        }
    }

    /// The lesson's short name, or `"ceiling"`.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Ceiling => "ceiling",
            Subject::Lesson(l) => l.name(),
        }
    }

    /// The lesson, if this is one.
    pub fn lesson(self) -> Option<Lesson> {
        match self {
            Subject::Ceiling => None,
            Subject::Lesson(l) => Some(l),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {}", self.number(), self.name())
    }
}

/// Send-to-receive latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// The median.
    pub p50_us: f64,
    /// The 99th percentile.
    pub p99_us: f64,
    /// The 99.9th percentile.
    pub p999_us: f64,
    /// The slowest packet.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of `samples_ns` (sorted here); `None` if there are none.
    pub fn from_samples(samples_ns: &mut [u64]) -> Option<Latency> {
        if samples_ns.is_empty() {
            return None;
        }
        samples_ns.sort_unstable();
        let at = |q: f64| {
            // The nearest-rank percentile: the smallest sample with at
            // least a fraction q of all samples at or below it.
            let rank = (q * samples_ns.len() as f64).ceil() as usize;
            samples_ns[rank.clamp(1, samples_ns.len()) - 1] as f64 / 1e3
        };
        Some(Latency {
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: at(1.0),
        })
    }
}

/// What one lesson (or the ceiling) did with one workload.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured.
    pub subject: Subject,
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
    /// How the run was driven (latency mode or not).
    pub options: RunOptions,
    /// Latency mode: send-to-receive percentiles.
    pub latency: Option<Latency>,
    /// Allocations the sender threads made while sending (building packets
    /// and sending them), or `None` when allocations are not counted
    /// (the program did not install [`CountingAlloc`](crate::alloc_count::CountingAlloc)).
    pub sender_allocs: Option<u64>,
    /// The ceiling's bytes/s in the same round of runs, once known
    /// ([`Summary`] fills it in); `None` for the ceiling itself.
    pub ceiling_bytes_per_sec: Option<f64>,
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

    /// This run's bytes/s as a fraction of the ceiling's (1 for the ceiling).
    pub fn ceiling_fraction(&self) -> Option<f64> {
        match self.subject {
            Subject::Ceiling => Some(1.0),
            Subject::Lesson(_) => self.ceiling_bytes_per_sec.map(|c| self.bytes_per_sec() / c),
        }
    }

    /// Sender allocations per packet, when counted.
    pub fn allocs_per_msg(&self) -> Option<f64> {
        self.sender_allocs
            .map(|a| a as f64 / self.workload.messages.max(1) as f64)
    }
}

/// A handler for a session that only sends.
struct SendOnly;

impl Handler for SendOnly {
    fn on_packet(&self, _session: &Arc<Session>, _packet: Packet) {}
}

/// The most bytes the ceiling pre-builds; a longer workload is cut to fit.
pub const CEILING_MAX_BYTES: usize = 256 << 20;

/// The ceiling writes its pre-built stream in pieces of this size.
pub const CEILING_WRITE: usize = 64 * 1024;

/// Runs `workload` through `lesson`'s send path on loopback, as fast as
/// the senders can go, and reports.
pub fn run(lesson: Lesson, workload: &Workload) -> io::Result<Report> {
    run_with(lesson, workload, &RunOptions::default())
}

/// The client and server ends of one loopback connection, with the
/// receiver's read timeout set.
fn connection() -> io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let options = SocketOptions::default();
    let listener = net::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &options)?;
    let client = net::connect(listener.local_addr()?, &options)?;
    let (server_side, _) = listener.accept()?;
    options.apply_to_stream(&server_side)?;
    client.set_read_timeout(Some(RECEIVE_TIMEOUT))?;
    Ok((server_side, client))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

// ANCHOR: run
/// Runs `workload` through `lesson`'s send path on loopback, driven as
/// `options` says, and reports.
pub fn run_with(lesson: Lesson, workload: &Workload, options: &RunOptions) -> io::Result<Report> {
    workload.validate().map_err(invalid)?;
    if options.rate.is_some() && workload.payload < MIN_STAMPED_PAYLOAD {
        return Err(invalid(format!(
            "latency mode needs payloads of at least {MIN_STAMPED_PAYLOAD} bytes (a send stamp)"
        )));
    }
    if options.rate == Some(0) {
        return Err(invalid("--rate must be at least 1".into()));
    }
    let (server_side, client) = connection()?;
    let limit = options
        .queue_limit
        .map_or(Backpressure::unlimited(), |bytes| {
            Backpressure::new(bytes, Policy::Block)
        });
    let config = lesson.session_config(limit);
    let session = Session::start(server_side, &config, Arc::new(SendOnly))?;

    // Latency mode: senders stamp nanoseconds since `origin`, the receiver
    // subtracts them from the arrival time. One process, one clock.
    let origin = Instant::now();
    let stamped = options.rate.is_some();
    let expected = workload.messages;
    let mut verifier = Verifier::new(workload.senders, workload.payload);
    if stamped {
        verifier = verifier.with_latency(origin, expected);
    }
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, verifier, expected))?;

    let period = options
        .rate
        .map(|rate| Duration::from_secs_f64(1.0 / rate as f64));
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
                    let allocs_before = alloc_count::thread_allocs();
                    let mut deadline = Instant::now();
                    for seq in 0..count {
                        if let Some(period) = period {
                            // Paced by deadlines: each one is the last plus
                            // the period, whenever the last packet went out.
                            deadline += period;
                            let now = Instant::now();
                            if deadline > now {
                                thread::sleep(deadline - now);
                            }
                        }
                        let (sender, seq) = (sender as u16, seq as u32);
                        let fill = |body: &mut [u8]| {
                            if stamped {
                                let sent_ns = origin.elapsed().as_nanos() as u64;
                                workload::fill_stamped_payload(body, sender, seq, sent_ns);
                            } else {
                                workload::fill_payload(body, sender, seq);
                            }
                        };
                        // Lesson 06 serializes into the thread's send buffer;
                        // every other lesson builds a fresh packet: fill a
                        // scratch buffer, then allocate and copy.
                        let packet = if lesson.uses_send_buffer() {
                            lesson06_send_buffers::packet(payload, fill)
                        } else {
                            fill(&mut buf);
                            Packet::from_payload(&buf)
                        };
                        let packet = packet.expect("payload was validated");
                        if session.send(packet).is_err() {
                            break; // the session failed: the receiver will report it
                        }
                    }
                    alloc_count::thread_allocs() - allocs_before
                })
        })
        .collect::<io::Result<_>>()?;

    start.wait();
    let started = Instant::now();
    let mut sender_allocs = 0;
    for sender in senders {
        sender_allocs += sender
            .join()
            .map_err(|_| io::Error::other("a sender thread panicked"))?;
    }
    session.close();
    let mut received = receiver
        .join()
        .map_err(|_| io::Error::other("the receiver thread panicked"))??;
    // The receiver dropped the client socket: the session's reader sees the
    // end of the stream and finishes.
    session.join();

    Ok(Report {
        subject: Subject::Lesson(lesson),
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
        options: *options,
        latency: Latency::from_samples(&mut received.latencies_ns),
        sender_allocs: alloc_count::is_counting().then_some(sender_allocs),
        ceiling_bytes_per_sec: None,
    })
}
// ANCHOR_END: run

/// Messages the ceiling actually sends for `workload`: all of them, or as
/// many as fit [`CEILING_MAX_BYTES`].
pub fn ceiling_messages(workload: &Workload) -> u64 {
    let frame = (workload.payload + HEADER_LEN) as u64;
    workload
        .messages
        .min(CEILING_MAX_BYTES as u64 / frame)
        .max(1)
}

// ANCHOR: ceiling
/// The ceiling: what the socket itself can take with this workload.
///
/// Every packet the senders would send is framed in advance, into one
/// buffer, in an order the verifier accepts (round robin over the
/// senders). Then one thread writes it in [`CEILING_WRITE`] pieces while
/// the same receiver as in [`run`] reads and checks every packet. No
/// locks, no queue, no allocation, the fewest system calls: no send path
/// can move these bytes faster. Long workloads are cut to
/// [`CEILING_MAX_BYTES`] (see [`ceiling_messages`]).
pub fn run_ceiling(workload: &Workload) -> io::Result<Report> {
    workload.validate().map_err(invalid)?;
    let workload = Workload {
        messages: ceiling_messages(workload),
        ..*workload
    };
    let frame_len = workload.payload + HEADER_LEN;
    let mut stream = vec![0u8; workload.messages as usize * frame_len];
    for (i, frame) in stream.chunks_exact_mut(frame_len).enumerate() {
        let (sender, seq) = (i % workload.senders, i / workload.senders);
        frame[..HEADER_LEN].copy_from_slice(&(frame_len as u16).to_le_bytes());
        workload::fill_payload(&mut frame[HEADER_LEN..], sender as u16, seq as u32);
    }

    let (server_side, client) = connection()?;
    let wire = Wire::from_stream(&server_side)?;
    let expected = workload.messages;
    let verifier = Verifier::new(workload.senders, workload.payload);
    let receiver = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || workload::receive(&client, verifier, expected))?;

    let started = Instant::now();
    let mut written = Ok(());
    for piece in stream.chunks(CEILING_WRITE) {
        written = wire.write_all(piece);
        if written.is_err() {
            break;
        }
    }
    wire.shutdown_write();
    let received = receiver
        .join()
        .map_err(|_| io::Error::other("the receiver thread panicked"))??;
    written?;
    let mut stats = wire.stats().snapshot();
    stats.sends = workload.messages;
    Ok(Report {
        subject: Subject::Ceiling,
        workload,
        seconds: received
            .finished
            .duration_since(started)
            .as_secs_f64()
            .max(1e-9),
        stats,
        received: received.packets,
        bytes_received: received.bytes,
        problem: received.problem,
        options: RunOptions::default(),
        latency: None,
        sender_allocs: None,
        ceiling_bytes_per_sec: None,
    })
}
// ANCHOR_END: ceiling

/// Runs `workload` on `subject`: [`run_ceiling`] or [`run_with`].
pub fn run_subject(
    subject: Subject,
    workload: &Workload,
    options: &RunOptions,
) -> io::Result<Report> {
    match subject {
        Subject::Ceiling => run_ceiling(workload),
        Subject::Lesson(lesson) => run_with(lesson, workload, options),
    }
}

/// Picks a message count that keeps `lesson` busy for about `target`:
/// a short calibration run (which also warms up), then scaled.
pub fn calibrate(
    lesson: Lesson,
    senders: usize,
    payload: usize,
    target: Duration,
) -> io::Result<u64> {
    calibrate_subject(Subject::Lesson(lesson), senders, payload, target)
}

/// [`calibrate`] for a lesson or the ceiling.
pub fn calibrate_subject(
    subject: Subject,
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
        let report = run_subject(subject, &probe, &RunOptions::default())?;
        let cut_short = report.workload.messages < probe.messages; // the ceiling's size cap
        if report.seconds >= target.as_secs_f64() / 10.0 || probe.messages >= 2_000_000 || cut_short
        {
            let scaled = (report.msgs_per_sec() * target.as_secs_f64()) as u64;
            return Ok(scaled.clamp(10_000, 50_000_000));
        }
        probe.messages *= 4;
    }
}

/// The median, smallest and largest value of one figure over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` if there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// One subject's repeated runs of one workload.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The runs, in the order they ran (at least one).
    pub runs: Vec<Report>,
}

impl Summary {
    /// Summarizes `runs` (all of one subject and workload; at least one).
    pub fn new(runs: Vec<Report>) -> Summary {
        assert!(!runs.is_empty(), "a summary needs at least one run");
        Summary { runs }
    }

    /// What was measured.
    pub fn subject(&self) -> Subject {
        self.runs[0].subject
    }

    /// The workload (of the first run).
    pub fn workload(&self) -> Workload {
        self.runs[0].workload
    }

    /// The run whose msgs/s is the median (the lower middle one for an
    /// even count): its raw counters stand for the summary.
    pub fn median_run(&self) -> &Report {
        let mut order: Vec<&Report> = self.runs.iter().collect();
        order.sort_by(|a, b| a.msgs_per_sec().total_cmp(&b.msgs_per_sec()));
        order[(order.len() - 1) / 2]
    }

    /// The spread of `figure` over the runs that have it.
    pub fn spread(&self, figure: impl Fn(&Report) -> Option<f64>) -> Option<Spread> {
        Spread::of(self.runs.iter().filter_map(figure).collect())
    }

    /// True when every run was verified.
    pub fn verified(&self) -> bool {
        self.runs.iter().all(Report::verified)
    }

    /// The first run's problem, if any run had one.
    pub fn problem(&self) -> Option<&str> {
        self.runs.iter().find_map(|r| r.problem.as_deref())
    }
}

/// One figure of a run (`None` where the run does not have it).
type Figure = fn(&Report) -> Option<f64>;

/// The figures of a summary, by name, as they appear in JSON and CSV.
fn figures() -> [(&'static str, Figure); 8] {
    [
        ("msgs_per_sec", |r| Some(r.msgs_per_sec())),
        ("bytes_per_sec", |r| Some(r.bytes_per_sec())),
        ("writes_per_msg", |r| Some(r.stats.writes_per_send())),
        ("wakeups_per_msg", |r| Some(r.stats.wakeups_per_send())),
        ("ceiling_fraction", Report::ceiling_fraction),
        ("allocs_per_msg", Report::allocs_per_msg),
        ("p50_us", |r| r.latency.map(|l| l.p50_us)),
        ("p99_us", |r| r.latency.map(|l| l.p99_us)),
    ]
}

/// Gives each lesson run the ceiling's bytes/s from the same round of runs
/// (`summaries` holds one summary per subject, runs in round order).
pub fn attach_ceiling(summaries: &mut [Summary]) {
    let Some(ceiling) = summaries
        .iter()
        .find(|s| s.subject() == Subject::Ceiling)
        .map(|s| s.runs.iter().map(Report::bytes_per_sec).collect::<Vec<_>>())
    else {
        return;
    };
    for summary in summaries.iter_mut() {
        if summary.subject() == Subject::Ceiling {
            continue;
        }
        for (i, run) in summary.runs.iter_mut().enumerate() {
            run.ceiling_bytes_per_sec = ceiling.get(i).or(ceiling.last()).copied();
        }
    }
}

/// One line describing a workload and how it was run.
pub fn describe(workload: &Workload, options: &RunOptions, runs: usize) -> String {
    let mut out = format!(
        "{} sender{} × {}-byte payloads, one loopback connection",
        workload.senders,
        if workload.senders == 1 { "" } else { "s" },
        workload.payload
    );
    if let Some(rate) = options.rate {
        let _ = write!(out, ", latency mode: {rate} packets/s per sender");
    }
    if let Some(bytes) = options.queue_limit {
        let _ = write!(out, ", queue limit {bytes} bytes (block)");
    }
    if runs > 1 {
        let _ = write!(out, ", {runs} runs (median, min–max)");
    }
    out
}

/// The summaries of one workload as an aligned text table.
pub fn table(reports: &[Report]) -> String {
    let summaries: Vec<Summary> = reports
        .iter()
        .map(|r| Summary::new(vec![r.clone()]))
        .collect();
    summary_table(&summaries)
}

/// The summaries of one workload as an aligned text table: the median of
/// each figure, and the min–max of msgs/s when there were several runs.
pub fn summary_table(summaries: &[Summary]) -> String {
    let runs = summaries.iter().map(|s| s.runs.len()).max().unwrap_or(1);
    let latency = summaries
        .iter()
        .any(|s| s.runs.iter().any(|r| r.latency.is_some()));
    let allocs = summaries
        .iter()
        .any(|s| s.runs.iter().any(|r| r.sender_allocs.is_some()));
    let mut out = String::new();
    let _ = write!(out, "{:<18} {:>11}", "lesson", "msgs/s");
    if runs > 1 {
        let _ = write!(out, " {:>13}", "(min–max)");
    }
    let _ = write!(
        out,
        " {:>8} {:>8} {:>10} {:>11} {:>7}",
        "MB/s", "ceiling", "writes/msg", "wakeups/msg", "batch"
    );
    if allocs {
        let _ = write!(out, " {:>10}", "allocs/msg");
    }
    if latency {
        let _ = write!(out, " {:>8} {:>8} {:>8}", "p50 µs", "p99 µs", "p99.9 µs");
    }
    let _ = writeln!(out, " {:>8}", "verified");
    for s in summaries {
        let median = |f: fn(&Report) -> Option<f64>| s.spread(f).map(|x| x.median);
        let msgs = s
            .spread(|r| Some(r.msgs_per_sec()))
            .expect("one run at least");
        let _ = write!(
            out,
            "{:<18} {:>11}",
            s.subject().to_string(),
            thousands(msgs.median)
        );
        if runs > 1 {
            let _ = write!(out, " {:>13}", format!("{}–{}", si(msgs.min), si(msgs.max)));
        }
        let has_writer = s.subject().lesson().is_some_and(Lesson::has_writer_thread);
        let _ = write!(
            out,
            " {:>8.1} {:>8} {:>10.5} {:>11} {:>7}",
            median(|r| Some(r.bytes_per_sec())).unwrap_or(0.0) / 1e6,
            median(Report::ceiling_fraction).map_or("-".into(), |f| format!("{:.1}%", f * 100.0)),
            median(|r| Some(r.stats.writes_per_send())).unwrap_or(0.0),
            if has_writer {
                format!(
                    "{:.5}",
                    median(|r| Some(r.stats.wakeups_per_send())).unwrap_or(0.0)
                )
            } else {
                "-".into()
            },
            if has_writer {
                format!(
                    "{:.1}",
                    median(|r| Some(r.stats.mean_batch())).unwrap_or(0.0)
                )
            } else {
                "-".into()
            },
        );
        if allocs {
            let _ = write!(
                out,
                " {:>10}",
                median(Report::allocs_per_msg).map_or("-".into(), |a| format!("{a:.4}"))
            );
        }
        if latency {
            for f in [
                (|r: &Report| r.latency.map(|l| l.p50_us)) as fn(&Report) -> Option<f64>,
                |r| r.latency.map(|l| l.p99_us),
                |r| r.latency.map(|l| l.p999_us),
            ] {
                let _ = write!(
                    out,
                    " {:>8}",
                    median(f).map_or("-".into(), |x| format!("{x:.0}"))
                );
            }
        }
        let _ = writeln!(out, " {:>8}", if s.verified() { "yes" } else { "NO" });
    }
    for s in summaries.iter().filter(|s| !s.verified()) {
        let _ = writeln!(
            out,
            "{}: not verified: {}",
            s.subject(),
            s.problem().unwrap_or("")
        );
    }
    out
}

/// The keys of [`json_summary`] and the columns of [`csv_row`], in order.
pub fn keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "lesson",
        "name",
        "senders",
        "payload",
        "rate",
        "runs",
        "messages",
        "seconds",
        "msgs_per_sec",
        "bytes_per_sec",
        "write_calls",
        "writes_per_msg",
        "wakeups",
        "wakeups_per_msg",
        "batches",
        "max_batch",
        "received",
        "ceiling_fraction",
        "allocs_per_msg",
        "p50_us",
        "p99_us",
        "p999_us",
    ]
    .map(String::from)
    .to_vec();
    for (name, _) in figures() {
        keys.push(format!("{name}_min"));
        keys.push(format!("{name}_max"));
    }
    keys.push("p999_us_min".into());
    keys.push("p999_us_max".into());
    keys.push("verified".into());
    keys.push("problem".into());
    keys
}

/// A summary's values, in the order of [`keys`]; `None` is a missing value
/// (JSON `null`, an empty CSV field). Strings come back quoted for JSON.
fn values(s: &Summary) -> Vec<Option<String>> {
    let m = s.median_run();
    let num = |x: f64| Some(format!("{x:.6}"));
    let spread = |f: fn(&Report) -> Option<f64>| s.spread(f);
    let median = |f: fn(&Report) -> Option<f64>| spread(f).and_then(|x| num(x.median));
    let p999: fn(&Report) -> Option<f64> = |r| r.latency.map(|l| l.p999_us);
    let mut v = vec![
        Some(s.subject().number().to_string()),
        Some(format!("\"{}\"", s.subject().name())),
        Some(m.workload.senders.to_string()),
        Some(m.workload.payload.to_string()),
        m.options.rate.map(|r| r.to_string()),
        Some(s.runs.len().to_string()),
        Some(m.workload.messages.to_string()),
        num(m.seconds),
        median(|r| Some(r.msgs_per_sec())),
        median(|r| Some(r.bytes_per_sec())),
        Some(m.stats.write_calls.to_string()),
        median(|r| Some(r.stats.writes_per_send())),
        Some(m.stats.wakeups.to_string()),
        median(|r| Some(r.stats.wakeups_per_send())),
        Some(m.stats.batches.to_string()),
        Some(m.stats.max_batch.to_string()),
        Some(m.received.to_string()),
        median(Report::ceiling_fraction),
        median(Report::allocs_per_msg),
        median(|r| r.latency.map(|l| l.p50_us)),
        median(|r| r.latency.map(|l| l.p99_us)),
        median(p999),
    ];
    for (_, f) in figures() {
        let x = spread(f);
        v.push(x.and_then(|x| num(x.min)));
        v.push(x.and_then(|x| num(x.max)));
    }
    let x = spread(p999);
    v.push(x.and_then(|x| num(x.min)));
    v.push(x.and_then(|x| num(x.max)));
    v.push(Some(s.verified().to_string()));
    v.push(s.problem().map(|p| format!("\"{}\"", json_escape(p))));
    v
}

/// One summary as a line of JSON: the keys of [`keys`], figures as
/// medians over the runs, `_min`/`_max` keys for their spread; missing
/// figures (latency outside latency mode, allocations when not counted)
/// are `null`.
pub fn json_summary(s: &Summary) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in keys().iter().zip(values(s)).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{key}\":{}", value.as_deref().unwrap_or("null"));
    }
    out.push('}');
    out
}

/// One report as a line of JSON (a summary of one run: [`json_summary`]).
pub fn json_line(r: &Report) -> String {
    json_summary(&Summary::new(vec![r.clone()]))
}

/// The CSV header line: [`keys`], comma-separated.
pub fn csv_header() -> String {
    keys().join(",")
}

/// One summary as a CSV line, in the columns of [`csv_header`].
pub fn csv_row(s: &Summary) -> String {
    values(s)
        .into_iter()
        .map(|v| match v {
            // JSON-quoted strings become CSV-quoted ones.
            Some(v) if v.starts_with('"') => {
                format!("\"{}\"", v[1..v.len() - 1].replace("\\\"", "\"\""))
            }
            Some(v) => v,
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join(",")
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

/// 1234567.8 → "1.23M", 81234.0 → "81.2k".
fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2}G", x / 1e9),
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x if x >= 1e3 => format!("{:.1}k", x / 1e3),
        x => format!("{x:.0}"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(senders: usize, payload: usize, messages: u64) -> Workload {
        Workload {
            senders,
            payload,
            messages,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|us| us * 1000).collect();
        let l = Latency::from_samples(&mut samples).unwrap();
        assert_eq!(
            (l.p50_us, l.p99_us, l.p999_us, l.max_us),
            (500.0, 990.0, 999.0, 1000.0)
        );
        assert!(Latency::from_samples(&mut []).is_none());
    }

    #[test]
    fn spread_has_median_min_and_max() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(vec![4.0, 1.0]).unwrap().median, 2.5);
        assert!(Spread::of(vec![]).is_none());
    }

    #[test]
    fn the_ceiling_is_verified_and_counts_its_writes() {
        let w = workload(3, 100, 2_000); // 204,000 bytes: 4 writes of up to 64 KiB
        let r = run_ceiling(&w).unwrap();
        assert!(r.verified(), "{:?}", r.problem);
        assert_eq!(r.received, 2_000);
        assert_eq!(r.bytes_received, 204_000);
        assert_eq!(r.stats.write_calls, 4);
        assert_eq!(r.subject.number(), 0);
        assert_eq!(r.ceiling_fraction(), Some(1.0));
    }

    #[test]
    fn latency_mode_stamps_every_packet() {
        let w = workload(2, 32, 200);
        let options = RunOptions {
            rate: Some(100_000),
            ..RunOptions::default()
        };
        let r = run_with(Lesson::BatchedWriter, &w, &options).unwrap();
        assert!(r.verified(), "{:?}", r.problem);
        let l = r.latency.expect("latency mode reports percentiles");
        assert!(l.p50_us <= l.p99_us && l.p99_us <= l.p999_us && l.p999_us <= l.max_us);
        // Too short a payload for the stamp is refused, not truncated.
        assert!(run_with(Lesson::BatchedWriter, &workload(1, 8, 10), &options).is_err());
    }

    #[test]
    fn a_queue_limit_bounds_what_is_queued() {
        let w = workload(1, 4096, 2_000); // 8 MB through one session
        let limit = 64 * 1024;
        let options = RunOptions {
            queue_limit: Some(limit),
            ..RunOptions::default()
        };
        for lesson in [Lesson::BatchedWriter, Lesson::SendBuffers] {
            let r = run_with(lesson, &w, &options).unwrap();
            assert!(r.verified(), "{lesson}: {:?}", r.problem);
            assert_eq!(r.received, 2_000, "{lesson}");
            let most = r.stats.max_queued_bytes as usize;
            // The limit admits a packet while the count is under the mark.
            assert!(
                most > 0 && most <= limit,
                "{lesson}: at most {most} bytes queued under a {limit}-byte limit"
            );
        }
        // Without a limit nothing is counted (no lock per send).
        let r = run(Lesson::BatchedWriter, &w).unwrap();
        assert_eq!(r.stats.max_queued_bytes, 0);
        assert!(
            describe(&w, &options, 1).contains("queue limit 65536 bytes (block)"),
            "the table says the queue was limited"
        );
    }

    #[test]
    fn lesson_06_runs_through_the_send_buffer() {
        let r = run(Lesson::SendBuffers, &workload(2, 64, 5_000)).unwrap();
        assert!(r.verified(), "{:?}", r.problem);
        assert_eq!(r.stats.sends, 5_000);
    }

    #[test]
    fn summaries_compare_each_run_with_the_ceiling_of_its_round() {
        let w = workload(1, 32, 1_000);
        let mut summaries = vec![
            Summary::new(vec![run_ceiling(&w).unwrap(), run_ceiling(&w).unwrap()]),
            Summary::new(vec![
                run(Lesson::Locked, &w).unwrap(),
                run(Lesson::Locked, &w).unwrap(),
            ]),
        ];
        attach_ceiling(&mut summaries);
        for (lesson, ceiling) in summaries[1].runs.iter().zip(&summaries[0].runs) {
            assert_eq!(lesson.ceiling_bytes_per_sec, Some(ceiling.bytes_per_sec()));
        }
        let json = json_summary(&summaries[1]);
        assert!(
            json.contains("\"runs\":2") && json.contains("\"p50_us\":null"),
            "{json}"
        );
        assert_eq!(csv_header().split(',').count(), keys().len());
        let table = summary_table(&summaries);
        assert!(
            table.contains("00 ceiling") && table.contains("(min–max)"),
            "{table}"
        );
    }
}
