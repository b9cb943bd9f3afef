//! Lesson 11: shutdown. Close flushes, disconnect aborts and counts what it
//! dropped, both are idempotent, sends after either give the packet back,
//! and the `servercore serve` binary exits 0 on SIGTERM after closing its
//! sessions.

mod echo_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use echo_support::*;
use servercore::echo::{Client, run_client};
use servercore::net::SocketOptions;
use servercore::session::Handler;
use servercore::testing::{Gate, GatedSink, socket_pair};
use servercore::wire::Wire;
use servercore::workload::{Verifier, make_packet, receive};
use servercore::{Backpressure, Lesson, Packet, Policy, SendError, Session};

struct Quiet;
impl Handler for Quiet {
    fn on_packet(&self, _: &Arc<Session>, _: Packet) {}
}

#[test]
fn close_sends_everything_queued_then_end_of_stream() {
    for lesson in Lesson::ALL {
        let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        let session = Session::start(
            server_side,
            &lesson.session_config(Backpressure::unlimited()),
            Arc::new(Quiet),
        )
        .unwrap();
        let reader = thread::spawn(move || receive(client, Verifier::new(1, 64), 5000));
        for seq in 0..5000 {
            session.send(make_packet(0, seq, 64)).unwrap();
        }
        session.close();
        session.close(); // idempotent
        let got = reader.join().unwrap().unwrap();
        assert!(got.ok(), "{lesson}: {got}"); // all 5,000, then end of stream
        let late = make_packet(0, 5000, 64);
        assert_eq!(
            session.send(late.clone()),
            Err(SendError::Closed(late)),
            "{lesson}"
        );
        session.disconnect();
        session.join();
    }
}

/// Every lesson with a queue.
const QUEUED: [Lesson; 5] = [
    Lesson::SendQueue,
    Lesson::BatchedWriter,
    Lesson::ChannelWriter,
    Lesson::SendBuffers,
    Lesson::DirectPath, // behind a gate its direct write would block: it hands over
];

/// The twin of `abort_drops_the_queue_and_says_how_much`: the writer is
/// held inside the write of packet 0 while 99 more queue behind it; close
/// (on another thread) waits for that write, then flushes the queue, so
/// the peer reads every packet, in order, then end of stream.
#[test]
fn close_with_the_writer_held_still_flushes_the_queue() {
    for lesson in QUEUED {
        let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        let gate = Gate::new();
        let wire = Wire::new(GatedSink::new(server_side, Arc::clone(&gate)));
        let path: Arc<dyn servercore::SendPath> = Arc::from(lesson.start(wire).unwrap());
        path.send(make_packet(0, 0, 16)).unwrap();
        assert!(
            gate.wait_for_arrivals(1, TIMEOUT),
            "{lesson}: the writer holds packet 0"
        );
        for seq in 1..100 {
            path.send(make_packet(0, seq, 16)).unwrap();
        }
        let closing = {
            let path = Arc::clone(&path);
            thread::spawn(move || path.close())
        };
        // Until close has closed the queue, a send is queued too: count it.
        let mut sent = 100;
        eventually("close closed the queue", || {
            let refused = path.send(make_packet(0, sent, 16)).err();
            sent += u32::from(refused.is_none());
            refused
        });
        let reader = thread::spawn(move || receive(client, Verifier::new(1, 16), u64::from(sent)));
        gate.open();
        eventually("close returned", || closing.is_finished().then_some(()));
        closing.join().unwrap();
        let got = reader.join().unwrap().unwrap();
        assert!(got.ok(), "{lesson}: {got}"); // all of them, then end of stream
        assert_eq!(got.packets, u64::from(sent), "{lesson}");
    }
}

/// Every lesson with a queue; each starts with a limit high enough never
/// to refuse, so its queued-bytes gauge counts (without a limit it stays 0).
#[test]
fn abort_drops_the_queue_and_says_how_much() {
    for lesson in QUEUED {
        let (server_side, _client) = socket_pair(&SocketOptions::default()).unwrap();
        let gate = Gate::new();
        let wire = Wire::new(GatedSink::new(server_side, Arc::clone(&gate)));
        let path: Arc<dyn servercore::SendPath> = Arc::from(
            lesson
                .start_with(wire, Backpressure::new(1 << 20, Policy::Reject))
                .unwrap(),
        );
        path.send(make_packet(0, 0, 16)).unwrap();
        assert!(
            gate.wait_for_arrivals(1, TIMEOUT),
            "{lesson}: the writer holds packet 0"
        );
        for seq in 1..100 {
            path.send(make_packet(0, seq, 16)).unwrap();
        }
        let aborting = {
            let path = Arc::clone(&path);
            thread::spawn(move || path.abort())
        };
        // Wait until abort has closed the queue (a send is refused; the ones
        // before that were queued too), then let the held write finish.
        let mut queued = 99;
        let refused = make_packet(0, 100, 16);
        eventually("abort closed the queue", || {
            let result = path.send(refused.clone()).err();
            queued += usize::from(result.is_none());
            result
        });
        gate.open();
        assert_eq!(
            aborting.join().unwrap(),
            queued,
            "{lesson}: all queued behind the held write"
        );
        assert_eq!(
            path.stats().queued_bytes,
            0,
            "{lesson}: the dropped packets' bytes left the queued-bytes gauge"
        );
        assert!(
            path.stats().max_queued_bytes >= 99 * 18,
            "{lesson}: it counted"
        );
        assert_eq!(path.abort(), 0, "{lesson}: idempotent");
        path.close(); // and close after abort does nothing
        assert_eq!(path.send(refused.clone()), Err(SendError::Closed(refused)));
    }
}

#[test]
fn session_disconnect_is_idempotent_and_sends_fail_after_it() {
    let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
    let session = Session::start(
        server_side,
        &Lesson::BatchedWriter.session_config(Backpressure::unlimited()),
        Arc::new(Quiet),
    )
    .unwrap();
    session.send(make_packet(0, 0, 8)).unwrap();
    let _first = session.disconnect();
    assert_eq!(session.disconnect(), 0, "the second call drops nothing");
    assert!(session.is_disconnected());
    let p = make_packet(0, 1, 8);
    assert_eq!(session.send(p.clone()), Err(SendError::Closed(p)));
    session.close(); // close after disconnect: nothing to do, returns
    session.join();
    drop(client);
}

#[test]
fn server_shutdown_closes_sessions_cleanly() {
    let mut server = server(&config(Lesson::BatchedWriter));
    let mut clients: Vec<Client> = (0..5)
        .map(|_| Client::connect(server.local_addr(), 32).unwrap())
        .collect();
    for client in &mut clients {
        client.exchange(50).unwrap();
    }
    // Each client hangs up when it reads the server's end of stream.
    let hang_ups: Vec<_> = clients
        .into_iter()
        .map(|client| thread::spawn(move || client.finish_after_server_closes()))
        .collect();
    let report = server.shutdown();
    assert_eq!(
        (report.sessions, report.closed_cleanly, report.disconnected),
        (5, 5, 0)
    );
    for hang_up in hang_ups {
        assert_eq!(hang_up.join().unwrap().unwrap().echoed, 50);
    }
    assert_eq!(server.shutdown(), report, "idempotent");
}

#[test]
fn a_hundred_sessions_each_get_every_echo() {
    let server = server(&config(Lesson::BatchedWriter));
    let addr = server.local_addr();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            thread::Builder::new()
                .stack_size(servercore::sync::THREAD_STACK_SIZE)
                .spawn(move || run_client(addr, 200, 32))
                .unwrap()
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap().unwrap().echoed, 200);
    }
}

/// Kills `pid` with `signal` through the `kill` command.
fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_binary_serves_and_exits_0_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servercore"))
        .args(["serve", "--addr", "127.0.0.1:0", "--lesson", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, first_line) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = lines.send(line);
    });
    let line = first_line
        .recv_timeout(TIMEOUT)
        .expect("the first line within the timeout");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();
    assert_eq!(run_client(addr, 500, 32).unwrap().echoed, 500);
    // One client still connected when the signal comes: it is closed cleanly.
    let mut idle = Client::connect(addr, 16).unwrap();
    idle.exchange(10).unwrap();
    kill(child.id(), "-TERM");
    assert_eq!(idle.finish_after_server_closes().unwrap().echoed, 10);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            kill(child.id(), "-KILL");
            panic!("the server did not exit within {TIMEOUT:?} of SIGTERM");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("1 sessions: 1 closed cleanly, 0 disconnected"),
        "{stderr}"
    );
}
