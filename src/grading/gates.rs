//! The gate tests: exact counts of write calls and wake-ups, taken while
//! the writer is held inside a write call at a
//! [`Gate`] in front of the real socket, so that
//! what queues behind it is known to the packet.
//!
//! | property | lesson | lab |
//! |---|---|---|
//! | [`write_calls_equal_sends`] | 03 | 1 |
//! | [`a_burst_behind_a_busy_writer_costs_one_wakeup`] | 03, 04, 07 | 1, 2, 3 |
//! | [`a_queue_of_101_costs_exactly_2_write_calls`] | 04 | 2 |
//! | [`more_packets_than_iov_max`] | 04 | 2 |
//! | [`an_idle_send_is_one_direct_write_and_no_wakeup`] | 07 | 3 |
//! | [`a_write_that_would_block_hands_over_mid_packet`] | 07 | 3 |

use std::sync::Arc;

use super::contract::verified_burst;
use super::harness::{Receiving, close, pair, pair_with, send_seqs, small_buffers, start_on};
use super::{Progress, STALL, Start, grade};
use crate::stats::StatsSnapshot;
use crate::testing::{Gate, GatedSink};
use crate::wire::{IOV_MAX, Wire};
use crate::workload::make_packet;

/// The counters at the three moments of [`gated_burst`].
#[derive(Debug, Clone, Copy)]
pub struct BurstStats {
    /// When the writer has arrived at the gate with packet #0.
    pub at_gate: StatsSnapshot,
    /// After the burst, the writer still held at the gate.
    pub after_burst: StatsSnapshot,
    /// After the gate opened, every packet arrived, and `close` returned.
    pub after_close: StatsSnapshot,
}

/// Sends packet #0, waits until the writer is inside its first write call
/// (held at a [`Gate`]), sends packets #1 to #`burst`, opens the gate,
/// waits until every packet has arrived, and only then closes. Asserts that
/// all `1 + burst` packets arrive intact and in order, then end of stream,
/// and that the whole burst cost exactly one wake-up (the first send's).
///
/// Waiting for the packets *before* `close` matters: `close` wakes the
/// writer by itself, so it would hide a writer that forgot the packets
/// queued during its write (clearing `pending` without re-checking the
/// queue: the seed's "가정" paragraph).
pub fn gated_burst(start: Start, burst: u32, payload: usize) -> BurstStats {
    let (tx, rx) = std::sync::mpsc::channel();
    grade("gated_burst", move |progress| {
        let _ = tx.send(burst_on_a_gate(progress, start, burst, payload));
    });
    rx.recv().expect("the burst's counters")
}

fn burst_on_a_gate(progress: &Progress, start: Start, burst: u32, payload: usize) -> BurstStats {
    let (server, client) = pair();
    let gate = Gate::new();
    let path = start_on(start, Wire::new(GatedSink::new(server, Arc::clone(&gate))));
    let total = 1 + burst;
    let packet_len = payload as u64 + 2;
    let mut receiver = Receiving::spawn(client, 1, payload, u64::from(total));

    progress.step(
        "the first `send`",
        "`send` pushes under the lock and returns",
    );
    if let Err(e) = path.send(make_packet(0, 0, payload)) {
        panic!("the first send was refused ({e}): nothing is closed yet");
    }
    assert!(
        gate.wait_for_arrivals(1, STALL),
        "packet #0 was sent and no write call began within {} s: when `pending` is false, \
         does `send` set it and wake the writer (`notify_one`), and does the woken writer \
         take the packet and write it?",
        STALL.as_secs()
    );
    let at_gate = path.stats();
    assert!(
        at_gate.wakeups == 1,
        "the first send counted {} wake-ups: a send that finds `pending` false wakes the \
         writer once, and counts it (`count_wakeup()`)",
        at_gate.wakeups
    );

    progress.step(
        format!("{burst} sends while the writer is held inside a write"),
        "while `pending` is true, `send` only pushes and returns",
    );
    send_seqs(&path, 0, 1..total, payload);
    let after_burst = path.stats();
    assert!(
        after_burst.sends == u64::from(total),
        "{} sends counted for {total} accepted: does `send` count every packet it accepts \
         (`count_send()`), and only those?",
        after_burst.sends
    );
    assert!(
        after_burst.wakeups == 1,
        "{} wake-ups for one burst: does `send` skip the notify while `pending` is true?",
        after_burst.wakeups
    );

    progress.step(
        "the packets queued behind the held write",
        "the writer comes back for the queue after every write",
    );
    gate.open();
    if !receiver.wait_for_bytes(
        u64::from(total) * packet_len,
        "a burst behind a held write, and the gate opening",
    ) {
        let arrived = receiver.packets_so_far();
        let missing = u64::from(total) - arrived;
        let which = if missing == 1 {
            format!("packet #{arrived} was")
        } else {
            format!(
                "{missing} packets (#{arrived} to #{}) were",
                u64::from(total) - 1
            )
        };
        panic!(
            "{which} queued during a write and never written: did the writer look at the \
             queue before clearing `pending`? (The senders saw `pending` true and woke \
             nobody: only the writer's re-check, under the lock, can find them. {} of {total} \
             packets arrived, then nothing for {} s.)",
            arrived,
            STALL.as_secs()
        );
    }
    close(progress, &path);
    receiver.assert_all(&format!(
        "a burst of {total} behind a held write, and `close()`"
    ));
    let after_close = path.stats();
    assert!(
        after_close.wakeups == 1,
        "{} wake-ups in all for one burst: once the writer is awake, nothing should wake \
         it again until it has found the queue empty",
        after_close.wakeups
    );
    BurstStats {
        at_gate,
        after_burst,
        after_close,
    }
}

/// Lesson 03 (lab 1): 4 threads × 500 sends at once, all intact and in
/// per-thread order, one write call (and one batch) per send.
pub fn write_calls_equal_sends(start: Start) {
    grade("write_calls_equal_sends", move |progress| {
        let stats = verified_burst(progress, start, 4, 500, 32);
        assert!(
            stats.write_calls == stats.sends,
            "{} write calls for {} sends: lesson 03's writer takes one packet off the queue \
             per trip (`pop_front`) and writes it with one `write_all` (taking the whole \
             queue is lab 2)",
            stats.write_calls,
            stats.sends
        );
        assert!(
            stats.batches == stats.sends && stats.max_batch == 1,
            "{} batches (largest {}) for {} sends: the writer counts each trip to the socket \
             with `count_batch(1)`",
            stats.batches,
            stats.max_batch,
            stats.sends
        );
        assert!(
            stats.wakeups >= 1 && stats.wakeups <= stats.sends,
            "{stats:?}"
        );
    });
}

/// Lessons 03, 04, 07: packet #0 wakes the writer, which is then held
/// inside its write call; 100 more sends find the writer busy and only
/// enqueue: exactly 1 wake-up for the burst. After the gate opens the
/// writer picks the queue up by itself. Returns the counters, for the
/// lesson's own write counts.
pub fn a_burst_behind_a_busy_writer_costs_one_wakeup(start: Start) -> BurstStats {
    gated_burst(start, 100, 32)
}

/// Lesson 04 (lab 2): packet #0 is held inside the writer's first write
/// call; 100 more queue up behind it. After the gate opens: packet #0's
/// call, then one vectored call for the other 100 — exactly 2 write calls
/// for 101 packets.
pub fn a_queue_of_101_costs_exactly_2_write_calls(start: Start) {
    let end = gated_burst(start, 100, 32).after_close;
    assert!(
        end.write_calls == 2,
        "101 packets took {} writes: does the writer take the whole queue (swap it for an \
         empty `Vec` under the lock) and write it with one `write_vectored`?",
        end.write_calls
    );
    assert!(
        end.batches == 2 && end.max_batch == 100,
        "{} batches, the largest of {}, where the writer made 2 trips (packet #0, then the \
         100 queued behind it): count each trip once, `count_batch(batch.len())`",
        end.batches,
        end.max_batch
    );
}

/// Lesson 04 (lab 2): 3,000 packets queued behind the gate, more than
/// `IOV_MAX` (1,024) slices: packet #0's call, then the batch in groups of
/// at most 1,024 slices: 1 + ⌈3,000 / 1,024⌉ = 4 write calls. All 3,001
/// arrive intact and in order.
pub fn more_packets_than_iov_max(start: Start) {
    const BURST: u32 = 3_000;
    let end = gated_burst(start, BURST, 8).after_close;
    let expected = 1 + (BURST as usize).div_ceil(IOV_MAX) as u64;
    assert!(
        end.write_calls == expected,
        "3,001 packets took {} write calls, {expected} expected (packet #0, then 3,000 in \
         groups of at most IOV_MAX = 1,024): does each `write_vectored` carry up to 1,024 \
         packets?",
        end.write_calls
    );
    assert!(
        end.batches == 2 && end.max_batch == u64::from(BURST),
        "{} batches, the largest of {}: the writer takes the whole queue at once (one batch \
         of 3,000), however many write calls it then needs",
        end.batches,
        end.max_batch
    );
}

/// Lesson 07 (lab 3): three sends, each after the previous one returned,
/// on an idle socket: one direct write each from the caller's thread, no
/// wake-up, no batch for the writer thread.
pub fn an_idle_send_is_one_direct_write_and_no_wakeup(start: Start) {
    grade(
        "an_idle_send_is_one_direct_write_and_no_wakeup",
        move |progress| {
            let (server, client) = pair();
            let path = start_on(start, Wire::from_stream(&server).expect("clone the socket"));
            let receiver = Receiving::spawn(client, 1, 32, 3);
            for seq in 0..3u32 {
                progress.step(
                    format!("idle send #{seq}"),
                    "on an idle socket `send` writes directly, then gives the socket back",
                );
                if let Err(e) = path.send(make_packet(0, seq, 32)) {
                    panic!("send #{seq} was refused ({e}): nothing is closed yet");
                }
                // `send` gives ownership back before it returns, so every send
                // here finds the socket idle, whatever the receiver is doing.
                let stats = path.stats();
                assert!(
                    stats.wakeups == 0,
                    "idle send #{seq} woke the writer: when `owner` is `Idle`, `send` takes the \
                 socket (`Idle` → `Caller`), writes from its own thread (`wire.try_write`), \
                 and, with nothing queued meanwhile, gives it back (`Caller` → `Idle`) \
                 without waking anyone"
                );
                assert!(
                    stats.write_calls == u64::from(seq) + 1,
                    "{} write calls after {} idle sends: one direct write per idle send",
                    stats.write_calls,
                    seq + 1
                );
                assert!(
                    stats.batches == 0,
                    "the writer thread took {} batch(es) for idle sends: it runs only when a \
                 caller hands the socket over",
                    stats.batches
                );
            }
            close(progress, &path);
            receiver.assert_all("three idle sends and `close()`");
            assert_eq!(path.stats().wakeups, 0, "`close` is not a wake-up to count");
        },
    );
}

/// Lesson 07 (lab 3): 4 KiB socket buffers on both ends, nobody reading,
/// ten 60 KB packets. The first direct write takes only part of the first
/// packet and hands the rest over: exactly one wake-up, fewer bytes than
/// one packet written before anyone reads. Then a late reader checks every
/// byte of all ten.
pub fn a_write_that_would_block_hands_over_mid_packet(start: Start) {
    const PAYLOAD: usize = 60_000;
    const PACKETS: u32 = 10;
    grade(
        "a_write_that_would_block_hands_over_mid_packet",
        move |progress| {
            let (server, client) = pair_with(&small_buffers());
            let path = start_on(start, Wire::from_stream(&server).expect("clone the socket"));
            progress.step(
                "ten 60 KB sends while nobody reads",
                "a direct write must never block: `wire.try_write` takes what fits (or says \
             `WouldBlock`), and the rest goes to the writer thread",
            );
            send_seqs(&path, 0, 0..PACKETS, PAYLOAD);
            let before = path.stats();
            assert!(
                before.wakeups == 1,
                "{} wake-ups for ten sends while nobody reads: the first send's partial direct \
             write hands over to the writer once (`Caller` → `Writer`, one notify); the nine \
             after it find the socket owned and only queue",
                before.wakeups
            );
            assert!(
                before.bytes_written > 0 && (before.bytes_written as usize) < PAYLOAD + 2,
                "{} bytes written before anyone read: the first direct write can take only part \
             of a 60 KB packet into a 4 KiB socket buffer, and then the rest waits for the \
             reader",
                before.bytes_written
            );
            let receiver = Receiving::spawn(client, 1, PAYLOAD, u64::from(PACKETS));
            close(progress, &path);
            receiver.assert_all(
                "ten 60 KB sends into a full socket, a late reader and `close()` (the writer \
             must write the unwritten rest of packet #0 before anything queued)",
            );
            let stats = path.stats();
            let expected = u64::from(PACKETS) * (PAYLOAD as u64 + 2);
            assert!(
                stats.bytes_written == expected,
                "{} bytes counted as written, {expected} sent",
                stats.bytes_written
            );
            assert_eq!(stats.wakeups, 1, "{stats:?}");
        },
    );
}
