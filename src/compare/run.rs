//! One measured run: a lesson's send path ([`run_with`]) or the ceiling
//! ([`run_ceiling`]) on a fresh loopback connection, and the sizing run
//! that picks how many packets make a run of about the asked-for length
//! ([`calibrate_subject`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::{Latency, Report, RunOptions, Subject, Workload};
use crate::alloc_count;
use crate::catalog::Lesson;
use crate::lessons::lesson06_send_buffers;
use crate::lessons::lesson10_backpressure::{Backpressure, Policy};
use crate::net::{self, SocketOptions};
use crate::packet::{HEADER_LEN, Packet};
use crate::session::{Handler, Session};
use crate::wire::Wire;
use crate::workload::{self, MIN_STAMPED_PAYLOAD, Verifier};

/// How long the receiver waits for the next bytes before it gives up: a
/// hang becomes an error, never a stuck command.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

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
                        let mut fill = |body: &mut [u8]| {
                            if stamped {
                                let sent_ns = origin.elapsed().as_nanos() as u64;
                                workload::fill_stamped_payload(body, sender, seq, sent_ns);
                            } else {
                                workload::fill_payload(body, sender, seq);
                            }
                        };
                        // Lesson 08 frames the payload straight into the
                        // sender's ring; lesson 06 serializes into the
                        // thread's send buffer; every other lesson builds a
                        // fresh packet: fill a scratch buffer, then
                        // allocate and copy.
                        if lesson.frames_in_place() {
                            if session.send_with(payload, &mut fill).is_err() {
                                break; // the session failed: the receiver will report it
                            }
                            continue;
                        }
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

/// Runs `workload` on `subject`: [`run_ceiling`] or [`run_with`]. The
/// ceiling ignores `options` (it has no queue and is never paced) but its
/// report carries them, so its row is read as the others are (in latency
/// mode no row is a fraction of the ceiling).
pub fn run_subject(
    subject: Subject,
    workload: &Workload,
    options: &RunOptions,
) -> io::Result<Report> {
    match subject {
        Subject::Ceiling => Ok(Report {
            options: *options,
            ..run_ceiling(workload)?
        }),
        Subject::Lesson(lesson) => run_with(lesson, workload, options),
    }
}

/// Picks a message count that keeps `lesson` busy for about `target`,
/// unbounded: [`calibrate_subject`] with the library's default options.
pub fn calibrate(
    lesson: Lesson,
    senders: usize,
    payload: usize,
    target: Duration,
) -> io::Result<u64> {
    calibrate_subject(
        Subject::Lesson(lesson),
        senders,
        payload,
        target,
        &RunOptions::default(),
    )
}

/// Picks a message count that keeps `subject` busy for about `target`
/// under `options` (their queue limit; never paced): a short calibration
/// run (which also warms up), then scaled.
pub fn calibrate_subject(
    subject: Subject,
    senders: usize,
    payload: usize,
    target: Duration,
    options: &RunOptions,
) -> io::Result<u64> {
    let options = RunOptions {
        rate: None,
        ..*options
    };
    let mut probe = Workload {
        senders,
        payload,
        messages: 10_000,
    };
    // Grow the probe until it runs long enough to measure (a tenth of the
    // target), so start-up costs do not skew the rate.
    loop {
        let report = run_subject(subject, &probe, &options)?;
        let cut_short = report.workload.messages < probe.messages; // the ceiling's size cap
        if report.seconds >= target.as_secs_f64() / 10.0 || probe.messages >= 2_000_000 || cut_short
        {
            let scaled = (report.msgs_per_sec() * target.as_secs_f64()) as u64;
            return Ok(scaled.clamp(10_000, 50_000_000));
        }
        probe.messages *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::describe;

    fn workload(senders: usize, payload: usize, messages: u64) -> Workload {
        Workload {
            senders,
            payload,
            messages,
        }
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
        // A paced run is no fraction of the ceiling, and neither is the
        // ceiling's row beside it.
        assert_eq!(r.ceiling_fraction(), None);
        let ceiling = run_subject(Subject::Ceiling, &w, &options).unwrap();
        assert_eq!(ceiling.ceiling_fraction(), None);
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
        assert!(describe(&w, &RunOptions::default(), 1).contains("unbounded queues"));
    }

    #[test]
    fn lesson_06_runs_through_the_send_buffer() {
        let r = run(Lesson::SendBuffers, &workload(2, 64, 5_000)).unwrap();
        assert!(r.verified(), "{:?}", r.problem);
        assert_eq!(r.stats.sends, 5_000);
    }
}
