//! Lesson 08 — per-sender rings: no lock and no allocation on the hot path.
//!
//! **The problem.** Lesson 04's writer needs about one system call per
//! thousand packets; what is left is what each `send` costs its caller.
//! Every send of lessons 03–07 takes the queue's one `Mutex`, which all
//! senders share, and hands over a `Packet` that was allocated for it
//! (lesson 06 takes the allocation away, not the lock). With four busy
//! senders the lock's cache line travels from core to core on every send.
//!
//! **The change.** Each sender *thread* owns a byte ring for the session:
//! a fixed buffer with one producer (that thread) and one consumer (the
//! writer). `send` frames the packet straight into the caller's own ring
//! and publishes it by moving the ring's write index (`head`). No other
//! sender ever touches that ring, so there is nothing to lock. The writer
//! gathers what every ring has published into one `writev` (at most two
//! slices per ring: a ring's bytes may wrap round its end) and gives the
//! bytes back by moving each ring's read index (`tail`) by what the kernel
//! took, partial writes included.
//!
//! The pending flag stays, with the seed's "가정" (*assumption*) rule: the
//! writer clears it and then looks at every ring once more before it
//! sleeps; a sender publishes its bytes and then looks at the flag, and
//! wakes the writer only if it was clear. Without a lock around both, the
//! two "then"s need a `fence(SeqCst)` each (see `RingPath::publish` and
//! `writer::run_writer`): with only `Release`/`Acquire`, both sides may read the
//! other's old value, and a packet is stranded. The `Mutex` and the two
//! condvars are only for sleeping: the writer when every ring is empty, a
//! sender when its ring is full.
//!
//! **The cost.** Memory: a ring per (sender thread, session), of
//! [`RING_CAPACITY`] bytes, allocated at the thread's first send on that
//! session and kept while the session lives. The capacity is the queue
//! limit, built in: a full ring blocks its sender, or refuses the packet
//! with [`SendError::Full`] under [`WhenFull::Reject`]. One `fence(SeqCst)` per send (an
//! `mfence` on x86). And `unsafe`: the ring's bytes are written by one
//! thread and read by another, which the compiler cannot check; the
//! argument is in the `SAFETY` comments, loom checks it.
//!
//! `send` copies a built packet into the ring; [`SendPath::send_with`]
//! frames the payload straight into it, so the caller builds no `Packet`.
//!
//! **What the tests show** (`tests/lesson08_rings.rs`): with 4 and 16
//! senders every packet arrives intact and in its sender's order; partial
//! writes (tiny socket buffers, a late reader) lose nothing; a full ring
//! blocks its sender until the writer (held on a gate) drains it; in steady
//! state a send costs no allocation. `tests/loom_lesson08.rs` model-checks
//! the hand-off (no stranded bytes, no lost wake-up, a blocked sender always
//! woken, no data race on the ring's bytes), and shows that without the
//! fences loom finds the stranded packet.

use std::cell::RefCell;
use std::io;

use bytes::Bytes;

use crate::packet::{HEADER_LEN, MAX_PAYLOAD_LEN, Packet};
use crate::send_path::{SendError, SendPath};
use crate::stats::StatsSnapshot;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{AtomicUsize, fence};
use crate::sync::{self, Arc, Condvar, Mutex, thread};
use crate::wire::{Wire, WireHandle};

mod ring;
mod writer;

use ring::{Padded, Ring};
use writer::run_writer;

/// Bytes in each sender thread's ring, per session: 256 KiB. Four sender
/// threads on one session hold 1 MiB of rings; this is also the most one
/// sender can have queued on a session before its `send` blocks.
pub const RING_CAPACITY: usize = 256 * 1024;

/// The most rings one `writev` gathers (two slices each). With more sender
/// threads on one session the writer makes one `writev` per group of this
/// many rings.
pub const RINGS_PER_WRITE: usize = 32;

/// What a sender does when its ring has no room for its packet: the ring's
/// capacity is this path's queue limit, built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhenFull {
    /// Wait until the writer has written enough of the ring out.
    Block,
    /// Fail at once with [`SendError::Full`], giving the packet back.
    Reject,
}

// The bits of `Shared::flags`.
/// The seed's `_pending`: the writer is awake, or has been woken, and will
/// look at every ring again before it sleeps.
const PENDING: usize = 1;
/// `close`, `abort` or a failed write happened: `send` refuses packets.
const CLOSED: usize = 2;
/// `abort` or a failed write: the writer drops what is left and exits.
const ABORTED: usize = 4;

/// Lesson 08's send path: a ring per sender thread, one writer that
/// gathers them all.
pub struct RingPath {
    /// What senders and the writer thread share.
    shared: Arc<Shared>,
    /// The writer thread, until `close` or `abort` joins it.
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

// ANCHOR: shared
/// What senders and the writer thread share.
struct Shared {
    /// This send path's number, unique in the process: how a sender thread
    /// finds its ring for this session among its rings for all sessions.
    id: u64,
    /// Bytes per ring (a power of two).
    capacity: usize,
    /// What `send` does when the caller's ring is full.
    when_full: WhenFull,
    // New: the pending flag is an atomic, outside any lock.
    /// `PENDING | CLOSED | ABORTED` bits. `PENDING` is set by the sender
    /// that wakes the writer and cleared by the writer before its last look
    /// at the rings; `CLOSED` and `ABORTED` are never cleared.
    flags: Padded<AtomicUsize>,
    /// Senders blocked on a full ring, right now: the writer wakes them
    /// after a write only if there are any.
    blocked_senders: AtomicUsize,
    /// How many rings `control.rings` holds: the writer compares it with
    /// its own copy of the list, and takes the lock only when it grew.
    ring_count: AtomicUsize,
    /// The list of rings, and what the writer leaves when it exits. Taken
    /// on a sender's first send (to register its ring), to sleep, to wake
    /// a sleeper, and to read the counters; never on the hot path.
    control: Mutex<Control>,
    /// Signalled when `PENDING` or `CLOSED` is set. The writer waits on it
    /// while every ring is empty.
    writer_has_work_or_closed: Condvar,
    /// Signalled when the writer frees bytes and a sender is blocked, and
    /// on close. A sender whose ring is full waits on it.
    ring_has_room_or_closed: Condvar,
    /// Signalled once, when the writer has exited. A sender whose packet
    /// raced the close waits on it to learn whether its packet was taken.
    writer_gone: Condvar,
    /// The wire's counters (the wire itself belongs to the writer thread).
    counters: WireHandle,
}

/// The state under `Shared::control`.
struct Control {
    /// Every ring registered on this session, in registration order.
    rings: Vec<Arc<Ring>>,
    /// true once the writer thread has exited; every ring's `final_head`
    /// is set by then. Never goes back to false.
    writer_gone: bool,
    /// Packets the exiting writer dropped (abort, failed write): taken by
    /// the first `abort`.
    dropped: Option<usize>,
}
// ANCHOR_END: shared

// ANCHOR: producer
/// A sender thread's end of one ring. Lives in that thread's cache
/// ([`MY_RINGS`]) and nowhere else: it is what makes this thread the ring's
/// only producer.
struct Producer {
    /// The [`Shared::id`] of the send path this ring belongs to.
    path: u64,
    /// The ring (the send path's list holds it too).
    ring: Arc<Ring>,
    /// `ring.head` as this thread last stored it: it is the only one that does.
    head: usize,
    /// `ring.tail` as this thread last loaded it: the room is at least
    /// `tail + capacity - head`, so the writer's line is read only when that
    /// is not enough.
    tail: usize,
    /// Where `fill` writes a frame that wraps round the end of the ring,
    /// before it is copied in two pieces. Allocated at the first such frame.
    scratch: Vec<u8>,
    /// Packets accepted on this ring so far (`ring.accepted`'s one writer).
    accepted: u64,
}

sync::thread_local! {
    /// The calling thread's rings: one per send path it has sent on. A
    /// thread's first send on a path registers a ring (under the path's
    /// lock); every later send finds it here, with no lock. (Not `const`:
    /// loom's `thread_local!` has no such form.)
    #[allow(clippy::missing_const_for_thread_local)]
    static MY_RINGS: RefCell<Vec<Producer>> = RefCell::new(Vec::new());
}
// ANCHOR_END: producer

/// Why [`RingPath::publish`] did not accept a packet.
enum Refused<F> {
    /// Before anything was written (`fill` was not called).
    Before { fill: F, why: Why },
    /// The frame was published, but too late: the writer had already taken
    /// its last look. The frame stays in the ring at `start`, unwritten.
    After { start: usize, len: usize },
}

/// Why a packet was refused before anything was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The path is closed (or closing).
    Closed,
    /// The frame is larger than a ring: it can never be sent here.
    TooLarge,
    /// The ring is full and the policy is [`WhenFull::Reject`].
    Full,
    /// This thread has no ring yet, and no memory for one.
    NoRing,
}

impl Why {
    /// The error that gives `packet` back for this reason.
    fn error(self, packet: Packet) -> SendError {
        match self {
            Why::Closed | Why::NoRing => SendError::Closed(packet),
            Why::TooLarge | Why::Full => SendError::Full(packet),
        }
    }
}

/// Numbers the send paths of this process ([`Shared::id`]). A plain `std`
/// counter even under loom: it only has to be unique.
static NEXT_PATH_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl RingPath {
    /// Starts the writer thread on `wire`, with rings of [`RING_CAPACITY`]
    /// bytes. Fails only if the thread cannot be spawned.
    pub fn new(wire: Wire) -> io::Result<RingPath> {
        RingPath::with_capacity(wire, RING_CAPACITY)
    }

    /// Starts the writer thread on `wire`, with rings of `capacity` bytes
    /// (rounded up to a power of two, at least 4). A packet larger than a
    /// ring can never be sent on this path: `send` refuses it with
    /// [`SendError::Full`]. Small rings are for tests and demonstrations.
    pub fn with_capacity(wire: Wire, capacity: usize) -> io::Result<RingPath> {
        RingPath::with_config(wire, capacity, WhenFull::Block)
    }

    /// Starts the writer thread on `wire`, with rings of `capacity` bytes
    /// (rounded up to a power of two, at least 4), and `when_full` for a
    /// sender whose ring has no room.
    pub fn with_config(wire: Wire, capacity: usize, when_full: WhenFull) -> io::Result<RingPath> {
        let shared = Arc::new(Shared {
            id: NEXT_PATH_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            capacity: capacity.max(4).next_power_of_two(),
            when_full,
            flags: Padded(AtomicUsize::new(0)),
            blocked_senders: AtomicUsize::new(0),
            ring_count: AtomicUsize::new(0),
            control: Mutex::new(Control {
                rings: Vec::new(),
                writer_gone: false,
                dropped: None,
            }),
            writer_has_work_or_closed: Condvar::new(),
            ring_has_room_or_closed: Condvar::new(),
            writer_gone: Condvar::new(),
            counters: wire.handle(),
        });
        let writer_shared = Arc::clone(&shared);
        let writer = sync::spawn("writer", move || run_writer(&writer_shared, &wire))?;
        Ok(RingPath {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The bytes in each of this path's rings.
    pub fn ring_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Whether `close` or `abort` has begun (or a write failed): from then
    /// on `send` refuses packets.
    pub fn is_closed(&self) -> bool {
        self.shared.flags.load(Relaxed) & CLOSED != 0
    }

    /// How many rings this path has: one per thread that has sent on it.
    pub fn rings(&self) -> usize {
        self.shared.ring_count.load(Relaxed)
    }

    // ANCHOR: publish
    /// The hot path of `send` and `send_with`: frame the packet into the
    /// calling thread's ring, publish it, then look at the flag.
    fn publish<F: FnOnce(&mut [u8])>(&self, payload_len: usize, fill: F) -> Result<(), Refused<F>> {
        let frame_len = payload_len + HEADER_LEN;
        MY_RINGS.with(|rings| {
            let mut rings = rings
                .try_borrow_mut()
                .expect("send_with's fill must not send on a ring path itself");
            // New: the calling thread's own ring, with room for the frame
            // (a full ring is the queue limit: see `ring_with_room`).
            let p = match self.ring_with_room(&mut rings, frame_len) {
                Ok(p) => p,
                Err(why) => return Err(Refused::Before { fill, why }),
            };
            // New: frame the packet straight into the ring. The bytes from
            // `head` on are free: only this thread writes them, nobody reads them.
            let start = p.head;
            let header = (frame_len as u16).to_le_bytes();
            // SAFETY: this thread is the ring's producer (only its cache holds
            // a `Producer`), and `[start, start + frame_len)` is free: `start`
            // is `head`, and `ring_with_room` loaded `tail` with `Acquire`.
            unsafe { p.ring.write(start, &header) };
            // SAFETY: as above; the body follows the header, inside the frame.
            match unsafe { p.ring.free_run(start + HEADER_LEN, payload_len) } {
                Some(body) => fill(body),
                None => {
                    // The body wraps round the ring's end: fill it aside, copy it in two.
                    p.scratch.resize(payload_len, 0);
                    fill(&mut p.scratch);
                    // SAFETY: as above.
                    unsafe { p.ring.write(start + HEADER_LEN, &p.scratch) };
                }
            }
            // New: publish. `Release`: the writer that sees this head sees the bytes.
            p.head = start + frame_len;
            p.ring.head.store(p.head, Release);
            // New: the "가정" rule, the sender's half. The flag is read only
            // after the head is stored *for every thread*: `Release` orders
            // the bytes before the store, not the store before this load.
            fence(SeqCst);
            let flags = self.shared.flags.load(Relaxed);
            if flags & CLOSED != 0 && !self.taken_before_the_writer_left(&p.ring, p.head) {
                return Err(Refused::After {
                    start,
                    len: frame_len,
                });
            }
            p.accepted += 1;
            p.ring.accepted.store(p.accepted, Relaxed);
            if flags & PENDING == 0 {
                self.wake_writer(); // the writer may be asleep: the seed's RegisterSend
            } else {
                log::trace!("publish: {frame_len} bytes, pending is true: no wake-up");
            }
            Ok(())
        })
    }
    // ANCHOR_END: publish

    // ANCHOR: ring_with_room
    /// The calling thread's ring for this path, once it has room for
    /// `frame_len` bytes; or why the packet is refused before anything is
    /// written.
    fn ring_with_room<'r>(
        &self,
        rings: &'r mut Vec<Producer>,
        frame_len: usize,
    ) -> Result<&'r mut Producer, Why> {
        let shared = &*self.shared;
        if frame_len > shared.capacity {
            return Err(Why::TooLarge);
        }
        if shared.flags.load(Acquire) & CLOSED != 0 {
            return Err(Why::Closed);
        }
        // The calling thread's own ring (registered at its first send).
        let me = self.my_ring(rings).ok_or(Why::NoRing)?;
        let p = &mut rings[me];
        let capacity = shared.capacity;
        if p.head + frame_len > p.tail + capacity {
            p.tail = p.ring.tail.load(Acquire); // what has the writer freed?
            if p.head + frame_len > p.tail + capacity {
                // New: the ring is full; its capacity is the queue limit.
                if shared.when_full == WhenFull::Reject {
                    return Err(Why::Full);
                }
                let needed = p.head + frame_len - capacity;
                p.tail = self.wait_for_room(&p.ring, needed).ok_or(Why::Closed)?;
            }
        }
        Ok(p)
    }
    // ANCHOR_END: ring_with_room

    /// The index, in this thread's cache, of its ring for this path: found,
    /// or registered now (the thread's first send on this path).
    /// `None` if the ring's memory cannot be had.
    fn my_ring(&self, rings: &mut Vec<Producer>) -> Option<usize> {
        let id = self.shared.id;
        if let Some(i) = rings.iter().position(|p| p.path == id) {
            return Some(i);
        }
        // Forget the rings of send paths that are gone (nobody else holds them).
        rings.retain(|p| Arc::strong_count(&p.ring) > 1);
        let Some(ring) = Ring::new(self.shared.capacity) else {
            log::warn!(
                "no memory for a {}-byte ring: send refused",
                self.shared.capacity
            );
            return None;
        };
        let ring = Arc::new(ring);
        let mut control = self.shared.control.lock().unwrap();
        control.rings.push(Arc::clone(&ring));
        // `Release`: a writer that sees the count sees the list entry too.
        self.shared.ring_count.store(control.rings.len(), Release);
        let count = control.rings.len();
        drop(control);
        log::debug!("first send on this session: ring {count} registered");
        rings.push(Producer {
            path: id,
            ring,
            head: 0,
            tail: 0,
            scratch: Vec::new(),
            accepted: 0,
        });
        Some(rings.len() - 1)
    }

    // ANCHOR: wake
    /// The seed's `RegisterSend`: turn `PENDING` on and wake the writer,
    /// unless somebody already turned it on.
    fn wake_writer(&self) {
        let shared = &*self.shared;
        // Set under the lock the writer sleeps under, as in lesson 04: once
        // it is set, the writer either sees it before it sleeps, or is
        // already waiting and gets the notify.
        let control = shared.control.lock().unwrap();
        let before = shared.flags.fetch_or(PENDING, Relaxed);
        drop(control);
        if before & PENDING != 0 {
            // Another sender (it notifies) or the writer itself (it is awake).
            log::trace!("publish: pending already true: no wake-up");
            return;
        }
        log::trace!("publish: pending false -> true: wake the writer");
        shared.writer_has_work_or_closed.notify_one();
        shared.counters.stats().count_wakeup();
    }
    // ANCHOR_END: wake

    // ANCHOR: wait_for_room
    /// The ring is full: wait until the writer has freed it up to
    /// `tail_needed`, or the path closes (`None`: nothing was published).
    fn wait_for_room(&self, ring: &Ring, tail_needed: usize) -> Option<usize> {
        let shared = &*self.shared;
        log::trace!("ring full: wait for the writer");
        // New: the same rule the other way round. Say "I wait", fence, then
        // look at `tail`; the writer stores `tail`, fences, then looks at
        // the count. One of the two sees the other.
        shared.blocked_senders.fetch_add(1, Relaxed);
        shared.counters.stats().count_blocked_send(1);
        fence(SeqCst);
        let mut control = shared.control.lock().unwrap();
        let room = loop {
            let tail = ring.tail.load(Acquire);
            if tail >= tail_needed {
                break Some(tail);
            }
            if shared.flags.load(Relaxed) & CLOSED != 0 {
                break None;
            }
            control = shared.ring_has_room_or_closed.wait(control).unwrap();
        };
        drop(control);
        shared.blocked_senders.fetch_sub(1, Relaxed);
        shared.counters.stats().count_blocked_send(-1);
        room
    }
    // ANCHOR_END: wait_for_room

    /// A packet published while the path was closing: wait until the writer
    /// has left, then it was taken if it ends at or below what the writer saw
    /// last (written, or dropped and counted by `abort`).
    fn taken_before_the_writer_left(&self, ring: &Ring, frame_end: usize) -> bool {
        let shared = &*self.shared;
        let mut control = shared.control.lock().unwrap();
        while !control.writer_gone {
            control = shared.writer_gone.wait(control).unwrap();
        }
        frame_end <= ring.final_head.load(Relaxed)
    }

    /// A refused frame, copied back out of this thread's ring.
    fn frame_back(&self, start: usize, len: usize) -> Packet {
        MY_RINGS.with(|rings| {
            let rings = rings.borrow();
            let p = rings
                .iter()
                .find(|p| p.path == self.shared.id)
                .expect("the ring the frame was published on");
            let mut frame = vec![0; len];
            for (i, byte) in frame.iter_mut().enumerate() {
                // SAFETY: this thread is the producer, and the frame is past
                // the writer's last look (it has exited): no one else reads
                // or writes these bytes any more.
                *byte = unsafe { *p.ring.base().add(p.ring.place(start + i).0) };
            }
            Packet::from_frame(Bytes::from(frame)).expect("a whole frame")
        })
    }

    /// Sets `bits`, wakes whoever sleeps, and joins the writer. Returns the
    /// packets it dropped (the first `abort` only).
    fn shut(&self, bits: usize) -> usize {
        let shared = &*self.shared;
        shared.flags.fetch_or(bits, Relaxed);
        // Sleepers look at the flags under this lock before they wait.
        drop(shared.control.lock().unwrap());
        shared.writer_has_work_or_closed.notify_one();
        shared.ring_has_room_or_closed.notify_all();
        if let Some(writer) = self.writer.lock().unwrap().take() {
            let _ = writer.join(); // a panicking writer has already reported itself
        }
        shared.control.lock().unwrap().dropped.take().unwrap_or(0)
    }
}

impl SendPath for RingPath {
    // ANCHOR: send
    fn send(&self, packet: Packet) -> Result<(), SendError> {
        // New: the packet's bytes are copied into the caller's ring; the
        // packet itself is dropped here (or given back).
        let payload = packet.payload();
        match self.publish(payload.len(), |body| body.copy_from_slice(payload)) {
            Ok(()) => Ok(()),
            Err(Refused::Before { why, .. }) => Err(why.error(packet)),
            Err(Refused::After { .. }) => Err(SendError::Closed(packet)),
        }
    }

    /// New: the packet is framed straight into the calling thread's ring:
    /// no `Packet`, no allocation, no lock. A refused packet is given back
    /// built (only then does this path allocate).
    ///
    /// # Panics
    ///
    /// If `payload_len` is above [`MAX_PAYLOAD_LEN`] (no packet can hold it),
    /// or if `fill` itself sends on a ring path.
    fn send_with(
        &self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), SendError> {
        assert!(
            payload_len <= MAX_PAYLOAD_LEN,
            "a payload of {payload_len} bytes does not fit in a packet"
        );
        match self.publish(payload_len, |body| fill(body)) {
            Ok(()) => Ok(()),
            Err(Refused::Before { fill, why }) => {
                let mut body = vec![0; payload_len];
                fill(&mut body);
                let packet = Packet::from_payload(&body).expect("the length was checked");
                Err(why.error(packet))
            }
            Err(Refused::After { start, len }) => {
                Err(SendError::Closed(self.frame_back(start, len)))
            }
        }
    }
    // ANCHOR_END: send

    fn close(&self) {
        self.shut(CLOSED);
    }

    fn abort(&self) -> usize {
        self.shut(CLOSED | ABORTED)
    }

    fn stats(&self) -> StatsSnapshot {
        let mut stats = self.shared.counters.stats().snapshot();
        let control = self.shared.control.lock().unwrap();
        // Each ring counts its own sends and holds its own queue.
        stats.sends = (control.rings.iter())
            .map(|r| r.accepted.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        stats.queued_bytes = control
            .rings
            .iter()
            .map(|r| (r.head.load(Relaxed) - r.tail.load(Relaxed)) as u64)
            .sum();
        stats
    }
}

impl Drop for RingPath {
    /// Dropped without `close`: let the writer flush what is published and
    /// exit on its own (not joined, so dropping never blocks).
    fn drop(&mut self) {
        self.shared.flags.fetch_or(CLOSED, Relaxed);
        drop(self.shared.control.lock().unwrap());
        self.shared.writer_has_work_or_closed.notify_one();
        self.shared.ring_has_room_or_closed.notify_all();
    }
}
