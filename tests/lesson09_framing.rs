//! Lesson 09: framing and bad input. Every hostile client below ends only
//! its own session, with a clear reason, while a well-behaved client on the
//! same server gets every one of its echoes; and the decoder survives any
//! bytes cut any way (proptest).

mod echo_support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use echo_support::*;
use proptest::prelude::*;
use servercore::echo::{Echo, Server};
use servercore::lessons::lesson09_framing::{Frame, csharp_parse};
use servercore::packet::{FrameError, MAX_PACKET_LEN, RecvBuffer};
use servercore::session::{Handler, Session};
use servercore::{Lesson, Packet};
use socket2::SockRef;

/// Sends `bytes`, and returns the reason the server gave for ending the session.
fn hostile(server: &Server, bytes: &[u8], then_close: bool) -> String {
    let stream = raw(server);
    let peer = stream.local_addr().unwrap();
    (&stream).write_all(bytes).unwrap();
    if then_close {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    read_until_closed(&stream);
    ended(server, peer).reason
}

/// A size of 0: the C# loop hands out an empty "packet", adds 0 to its
/// cursor and reads the same header again, forever. Our decoder refuses it.
#[test]
fn the_csharp_parser_spins_on_a_size_of_zero() {
    let parse = csharp_parse(&[0, 0, 5, 0], 10_000);
    assert!(parse.spinning, "{parse:?}");
    assert_eq!(parse.consumed, 0, "the cursor never moves");
    assert_eq!(parse.frames, vec![Frame { at: 0, size: 0 }; 10_000]);
    let mut ours = RecvBuffer::new(MAX_PACKET_LEN);
    ours.push(&[0, 0, 5, 0]);
    assert_eq!(ours.next_frame(), Err(FrameError::TooSmall { size: 0 }));
}

/// A size of 1 does not spin: the C# loop hands out a 1-byte "packet" and
/// moves its cursor by 1, onto the lying header's second byte. From there
/// every size it reads is two bytes from the middle of something else:
/// `[0, 7]` (the lie's high byte and the next header's low byte) is 1,792;
/// it hands out 1,792 bytes that hold 255 real packets and part of a 256th,
/// reads 1,903 from the middle of one, and then waits for 28,524 bytes. Not
/// one real packet is ever handed out as itself. Our decoder refuses the
/// size at once.
#[test]
fn the_csharp_parser_desyncs_on_a_size_of_one() {
    const GOOD: usize = 1000;
    let hello = Packet::from_payload(b"hello").unwrap(); // 7 bytes: [7, 0, h, e, l, l, o]
    let mut stream = vec![1, 0]; // the lie
    for _ in 0..GOOD {
        stream.extend_from_slice(hello.as_bytes());
    }
    let real_starts: Vec<usize> = (0..GOOD).map(|i| 2 + i * hello.len()).collect();

    let parse = csharp_parse(&stream, 10_000);
    assert_eq!(
        parse.frames,
        vec![
            Frame { at: 0, size: 1 }, // the lie, handed out as a packet
            Frame {
                at: 1,
                size: 0x0700
            }, // [0, 7]: 1,792
            Frame {
                at: 1793,
                size: 1903
            }, // [0x6f, 7] = "o", then a header's 7
        ]
    );
    assert!(!parse.spinning);
    assert_eq!(parse.consumed, 1793 + 1903);
    assert!(
        parse.frames.iter().all(|f| !real_starts.contains(&f.at)),
        "no frame starts where a real packet does: {parse:?}"
    );
    // The next size it reads is "lo" from the middle of a packet: 28,524 bytes.
    let next = &stream[parse.consumed..];
    assert_eq!(u16::from_le_bytes([next[0], next[1]]), 28_524);

    let mut ours = RecvBuffer::new(MAX_PACKET_LEN);
    ours.push(&stream);
    let refused = ours.next_frame().unwrap_err();
    assert_eq!(refused, FrameError::TooSmall { size: 1 });
    assert_eq!(
        refused.to_string(),
        "declared packet size 1 is below the 2-byte header"
    );
}

#[test]
fn size_zero_ends_only_that_session() {
    let server = server(&config(Lesson::BatchedWriter));
    let reason = good_client_around(&server, || {
        // A good packet first: it is echoed before the bad header ends the session.
        let stream = raw(&server);
        let peer = stream.local_addr().unwrap();
        let good = Packet::from_payload(b"fine").unwrap();
        (&stream).write_all(good.as_bytes()).unwrap();
        let mut echo = [0; 6];
        (&stream).read_exact(&mut echo).unwrap();
        assert_eq!(echo, good.as_bytes());
        (&stream).write_all(&[0, 0]).unwrap();
        assert_eq!(read_until_closed(&stream), b"");
        ended(&server, peer).reason
    });
    assert_eq!(
        reason,
        "bad packet: declared packet size 0 is below the 2-byte header"
    );
}

#[test]
fn size_one_ends_only_that_session() {
    let server = server(&config(Lesson::SendQueue));
    let reason = good_client_around(&server, || hostile(&server, &[1, 0], false));
    assert_eq!(
        reason,
        "bad packet: declared packet size 1 is below the 2-byte header"
    );
}

#[test]
fn a_size_over_the_limit_ends_only_that_session() {
    let server = server(&config(Lesson::ChannelWriter));
    let reason = good_client_around(&server, || hostile(&server, &1025u16.to_le_bytes(), false));
    assert_eq!(
        reason,
        "bad packet: declared packet size 1025 is over the limit of 1024 bytes"
    );
}

#[test]
fn random_bytes_end_only_that_session() {
    let server = server(&config(Lesson::BatchedWriter));
    let mut x = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let reason = good_client_around(&server, || hostile(&server, &noise, true));
    assert!(
        reason.starts_with("bad packet") || reason.starts_with("truncated packet"),
        "{reason}"
    );
}

#[test]
fn a_header_cut_by_end_of_stream_is_truncated() {
    let server = server(&config(Lesson::BatchedWriter));
    let reasons = good_client_around(&server, || {
        (
            hostile(&server, &[10], true),
            hostile(&server, &[10, 0], true),
        )
    });
    assert_eq!(
        reasons.0,
        "truncated packet: the peer closed the connection inside a size header (1 of its 2 bytes arrived)"
    );
    assert_eq!(
        reasons.1,
        "truncated packet: the peer closed the connection inside a packet of 10 bytes (2 of them arrived)"
    );
}

#[test]
fn a_body_cut_by_end_of_stream_is_truncated() {
    let server = server(&config(Lesson::Locked));
    let reason = good_client_around(&server, || hostile(&server, &[10, 0, 1, 2, 3], true));
    assert_eq!(
        reason,
        "truncated packet: the peer closed the connection inside a packet of 10 bytes (5 of them arrived)"
    );
}

#[test]
fn a_reset_in_the_middle_of_a_batch_ends_only_that_session() {
    let server = server(&config(Lesson::BatchedWriter));
    good_client_around(&server, || {
        let stream = raw(&server);
        let peer = stream.local_addr().unwrap();
        // One echo first, so the session is surely up before the reset.
        let hello = Packet::from_payload(b"hello").unwrap();
        (&stream).write_all(hello.as_bytes()).unwrap();
        let mut echo = [0; 7];
        (&stream).read_exact(&mut echo).unwrap();
        let mut batch = Vec::new();
        for seq in 0..2000u32 {
            batch.extend_from_slice(
                Packet::from_payload(&seq.to_le_bytes().repeat(25))
                    .unwrap()
                    .as_bytes(),
            );
        }
        (&stream).write_all(&batch).unwrap();
        // SO_LINGER 0: close sends a reset, not a FIN, with echoes unread.
        SockRef::from(&stream)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(stream);
        let reason = ended(&server, peer).reason;
        assert!(
            [
                "read failed",
                "write failed",
                "peer closed",
                "truncated packet"
            ]
            .iter()
            .any(|r| reason.starts_with(r)),
            "{reason}"
        );
    });
}

#[test]
fn a_client_that_never_reads_only_stalls_itself() {
    // The default policy, block: the server stops reading from that client.
    let server = server(&config(Lesson::BatchedWriter));
    let limit = config(Lesson::BatchedWriter).backpressure.high_water as u64;
    good_client_around(&server, || {
        let stream = raw(&server);
        let peer = stream.local_addr().unwrap();
        let writer = stream.try_clone().unwrap();
        let flood = std::thread::spawn(move || {
            let packet = Packet::from_payload(&[7; 1000]).unwrap();
            let mut sent = 0u64;
            while (&writer).write_all(packet.as_bytes()).is_ok() {
                sent += 1;
            }
            sent
        });
        let stalled = blocked(&server, peer);
        assert!(stalled.max_queued_bytes <= limit, "{stalled:?}");
        // Meanwhile the good client is served (good_client_around's second round).
        stream.shutdown(Shutdown::Both).unwrap();
        assert!(flood.join().unwrap() > 0);
        drop(stream); // the last descriptor: unread echoes make the close a reset
        let end = ended(&server, peer);
        assert!(end.stats.max_queued_bytes <= limit, "{end:?}");
    });
}

#[test]
fn connection_churn_leaves_the_server_serving() {
    let server = server(&config(Lesson::SendQueue));
    good_client_around(&server, || {
        for i in 0..200u32 {
            let mut stream = raw(&server);
            match i % 4 {
                0 => {}                                                // connect, hang up
                1 => stream.write_all(&[50]).unwrap(),                 // half a header
                2 => stream.write_all(&[9, 0, 1]).unwrap(),            // half a packet
                _ => stream.write_all(&[3, 0, 42, 3, 0, 43]).unwrap(), // two packets, echoes unread
            }
        }
        // Connections are accepted in order: once this probe is echoed, every
        // churned connection has been accepted (or was gone before accept).
        let probe = raw(&server);
        let hello = Packet::from_payload(b"probe").unwrap();
        (&probe).write_all(hello.as_bytes()).unwrap();
        let mut echo = [0; 7];
        (&probe).read_exact(&mut echo).unwrap();
        drop(probe);
        let started = server.counts().0;
        assert!(
            server.wait_for_ended_count(started - 1, TIMEOUT),
            "{:?}",
            server.counts()
        );
        assert_eq!(server.live_sessions(), 1, "only the good client is left");
    });
}

/// Echoes, but panics on the payload `panic`.
struct Fragile;

impl Handler for Fragile {
    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        assert!(
            packet.payload() != b"panic",
            "a handler bug, triggered on purpose"
        );
        Echo.on_packet(session, packet);
    }
}

#[test]
fn a_panicking_handler_ends_only_its_own_session() {
    let server = Server::start(
        localhost(),
        &config(Lesson::BatchedWriter),
        Arc::new(Fragile),
    )
    .unwrap();
    let reason = good_client_around(&server, || {
        let reason = hostile(
            &server,
            Packet::from_payload(b"panic").unwrap().as_bytes(),
            false,
        );
        // Twice: the server is still accepting and handling after the first.
        assert_eq!(
            hostile(
                &server,
                Packet::from_payload(b"panic").unwrap().as_bytes(),
                false
            ),
            reason
        );
        reason
    });
    assert_eq!(
        reason,
        "the packet handler panicked: a handler bug, triggered on purpose"
    );
}

/// A reader that hands out its bytes in the given read sizes, cycling.
struct Chunked<'a> {
    bytes: &'a [u8],
    cuts: &'a [usize],
    next: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.cuts[self.next % self.cuts.len()];
        self.next += 1;
        let n = want.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes, any read sizes, any limit: no panic; frames are exactly
    /// what the stream holds; an error is about a size that really is bad.
    #[test]
    fn any_stream_cut_any_way_never_panics(
        stream in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(1usize..700, 1..20),
        max_packet in 2usize..2000,
    ) {
        let mut buffer = RecvBuffer::new(max_packet);
        let mut source = Chunked { bytes: &stream, cuts: &cuts, next: 0 };
        let mut consumed = 0;
        'reading: while buffer.read_from(&mut source).unwrap() > 0 {
            loop {
                match buffer.next_frame() {
                    Ok(Some(frame)) => {
                        prop_assert_eq!(frame, &stream[consumed..consumed + frame.len()]);
                        prop_assert!((2..=max_packet).contains(&frame.len()));
                        consumed += frame.len();
                    }
                    Ok(None) => break,
                    Err(FrameError::TooSmall { size }) => { prop_assert!(size < 2); break 'reading; }
                    Err(FrameError::TooLarge { size, max }) => {
                        prop_assert!(size > max && max == max_packet);
                        break 'reading;
                    }
                    Err(other) => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
        prop_assert!(consumed + buffer.unread() <= stream.len());
    }

    /// Any valid packets, cut any way: decoded exactly as encoded.
    #[test]
    fn valid_packets_cut_any_way_decode_exactly(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1500), 0..30),
        cuts in proptest::collection::vec(1usize..5000, 1..20),
    ) {
        let packets: Vec<Packet> = payloads.iter().map(|p| Packet::from_payload(p).unwrap()).collect();
        let stream: Vec<u8> = packets.iter().flat_map(|p| p.as_bytes().to_vec()).collect();
        let mut buffer = RecvBuffer::new(MAX_PACKET_LEN);
        let mut source = Chunked { bytes: &stream, cuts: &cuts, next: 0 };
        let mut decoded = Vec::new();
        while buffer.read_from(&mut source).unwrap() > 0 {
            while let Some(packet) = buffer.next_packet().unwrap() {
                decoded.push(packet);
            }
        }
        prop_assert_eq!(buffer.unread(), 0);
        prop_assert_eq!(decoded, packets);
    }
}
