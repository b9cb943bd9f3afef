//! The writer thread of lesson 08: it gathers every ring into one
//! `writev`, gives the bytes back as the kernel takes them, and keeps the
//! writer's half of the "가정" rule before it sleeps.

use std::io::{self, IoSlice};

use super::ring::Ring;
use super::{ABORTED, CLOSED, PENDING, RINGS_PER_WRITE, Shared};
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::fence;
use crate::sync::{Arc, thread};
use crate::wire::Wire;

// ANCHOR: writer
/// The writer's end of one ring.
struct Reader {
    /// The ring (the send path's list holds it too).
    ring: Arc<Ring>,
    /// `ring.tail` as the writer last stored it: it is the only one that does.
    tail: usize,
}

/// The writer thread: gathers every ring into `writev`s until the path is
/// closed and every ring is empty (or until an abort).
pub(super) fn run_writer(shared: &Shared, wire: &Wire) {
    let mut rings: Vec<Reader> = Vec::new(); // the writer's copy of the list
    let leaving = loop {
        refresh(shared, &mut rings);
        let mut wrote = false;
        for group in rings.chunks_mut(RINGS_PER_WRITE) {
            match write_group(shared, wire, group) {
                Ok(any) => wrote |= any,
                Err(error) => {
                    shared.flags.fetch_or(CLOSED | ABORTED, Relaxed);
                    log::debug!("write failed: {error}");
                    leave(shared, &mut rings, Leaving::Failed);
                    wire.fail(error);
                    return;
                }
            }
        }
        if shared.flags.load(Relaxed) & ABORTED != 0 {
            break Leaving::Aborted; // the write in flight is done: drop the rest
        }
        if wrote {
            // New: give the core away once before the next look. With fewer
            // cores than threads, the senders then publish more, and the
            // next gather is that much larger: fewer, bigger writes. When
            // nobody else is runnable, this returns at once.
            thread::yield_now();
            continue; // more may have been published meanwhile: look again
        }
        // New: nothing published. The seed's "가정" on an atomic flag: clear
        // `pending` first, fence, and only then look at every ring again. A
        // sender that published after our last look either sees the flag
        // clear (and wakes us), or its bytes are seen by this look.
        let before = shared.flags.fetch_and(!PENDING, Relaxed);
        fence(SeqCst);
        refresh(shared, &mut rings);
        if let Some(i) = rings
            .iter()
            .position(|r| r.ring.head.load(Relaxed) != r.tail)
        {
            log::trace!("re-check: ring {} has bytes: pending -> true again", i + 1);
            shared.flags.fetch_or(PENDING, Relaxed);
            continue;
        }
        if before & CLOSED != 0 {
            break Leaving::Closed; // closed, and every ring is empty: done
        }
        log::trace!("re-check: every ring empty, pending -> false: sleep");
        let mut control = shared.control.lock().unwrap();
        while shared.flags.load(Relaxed) & (PENDING | CLOSED) == 0 {
            control = shared.writer_has_work_or_closed.wait(control).unwrap();
        }
        drop(control);
        log::trace!("woke after a wait");
    };
    leave(shared, &mut rings, leaving);
    wire.shutdown_write();
    log::trace!("closed, exiting");
}
// ANCHOR_END: writer

// ANCHOR: write_group
/// Writes everything the rings of `group` have published: one `writev`,
/// two slices per ring at most, more calls only if the kernel takes less.
/// Returns whether there was anything to write.
fn write_group(shared: &Shared, wire: &Wire, group: &mut [Reader]) -> io::Result<bool> {
    let mut storage = [IoSlice::new(&[]); 2 * RINGS_PER_WRITE];
    let mut taken = [0usize; RINGS_PER_WRITE]; // bytes gathered from each ring
    let (mut slices, mut packets, mut bytes) = (0, 0, 0);
    for (i, r) in group.iter().enumerate() {
        let head = r.ring.head.load(Acquire); // `Acquire`: the bytes before it are in
        if head == r.tail {
            continue;
        }
        // SAFETY: this is the writer, `r.tail` is the ring's tail, and `head`
        // was loaded with `Acquire`. The slices are dropped before this
        // function returns, and each byte's tail is stored only after the
        // write call that took it.
        let (first, second) = unsafe { r.ring.published(r.tail, head) };
        // SAFETY: as above; a gather starts at a frame boundary (the
        // previous one was written to its end).
        packets += unsafe { r.ring.frames(r.tail, head) };
        for part in [first, second].into_iter().filter(|part| !part.is_empty()) {
            storage[slices] = IoSlice::new(part);
            slices += 1;
        }
        taken[i] = head - r.tail;
        bytes += head - r.tail;
    }
    if slices == 0 {
        return Ok(false);
    }
    wire.stats().count_batch(packets);
    log::trace!(
        "write: {packets} packets from {} rings, {bytes} bytes",
        taken.iter().filter(|&&t| t > 0).count()
    );
    // The writer's tails, moved as the kernel takes bytes; copied back below.
    let mut tails = [0usize; RINGS_PER_WRITE];
    for (tail, r) in tails.iter_mut().zip(group.iter()) {
        *tail = r.tail;
    }
    let mut left = &mut storage[..slices];
    let mut next = 0; // the first ring with gathered bytes not yet written
    let result = loop {
        if left.is_empty() {
            break Ok(true);
        }
        match wire.write_vectored(left) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                // A partial write ends anywhere, even inside a frame: the
                // next call starts with the rest of these same slices, so no
                // other ring's bytes can come between.
                IoSlice::advance_slices(&mut left, written);
                // New: give the bytes back, ring by ring, as the kernel took them.
                let mut rest = written;
                while rest > 0 {
                    while taken[next] == 0 {
                        next += 1;
                    }
                    let step = rest.min(taken[next]);
                    let ring = &group[next].ring;
                    ring.access.read(tails[next], step);
                    tails[next] += step;
                    ring.tail.store(tails[next], Release); // `Release`: done reading them
                    taken[next] -= step;
                    rest -= step;
                }
                wake_blocked_senders(shared);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    for (r, tail) in group.iter_mut().zip(tails) {
        r.tail = tail;
    }
    result
}
// ANCHOR_END: write_group

/// After freeing bytes: wake the senders blocked on a full ring, if any.
/// The writer's half of [`RingPath::wait_for_room`]'s rule: `tail` stored,
/// fence, then the count.
fn wake_blocked_senders(shared: &Shared) {
    fence(SeqCst);
    if shared.blocked_senders.load(Relaxed) > 0 {
        drop(shared.control.lock().unwrap()); // a blocked sender looks at `tail` under it
        shared.ring_has_room_or_closed.notify_all();
    }
}

/// Brings the writer's copy of the ring list up to date (a lock only when
/// a ring was registered since the last look).
fn refresh(shared: &Shared, rings: &mut Vec<Reader>) {
    if shared.ring_count.load(Acquire) != rings.len() {
        let control = shared.control.lock().unwrap();
        let known = rings.len();
        rings.extend(control.rings[known..].iter().map(|ring| Reader {
            ring: Arc::clone(ring),
            tail: 0,
        }));
    }
}

/// Why the writer leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Closed, and every ring written out.
    Closed,
    /// Aborted: what is published and not written is dropped, and counted.
    Aborted,
    /// A write failed: what is left is lost (and, as in lesson 04, not
    /// counted: the session is failing anyway).
    Failed,
}

/// The writer's last act. It records in every ring the `head` it saw last
/// (`final_head`), so a sender whose packet raced the close can tell
/// whether it was taken; counts what an abort drops; and says it is gone.
fn leave(shared: &Shared, rings: &mut Vec<Reader>, leaving: Leaving) {
    let mut dropped = 0;
    if leaving == Leaving::Closed {
        // The last look (before the loop broke) saw every head equal to its
        // tail, and everything up to it is written.
        for r in rings.iter() {
            r.ring.final_head.store(r.tail, Relaxed);
        }
    } else {
        // A last look, as before sleeping: clear, fence, then the heads. A
        // sender whose bytes this look misses sees CLOSED, and is refused.
        shared.flags.fetch_and(!PENDING, Relaxed);
        fence(SeqCst);
        refresh(shared, rings);
        for r in rings.iter() {
            let head = r.ring.head.load(Acquire);
            if leaving == Leaving::Aborted {
                // SAFETY: the writer reads published bytes; after an abort
                // `r.tail` is a frame boundary (the last gather was written whole).
                dropped += unsafe { r.ring.frames(r.tail, head) };
            }
            r.ring.final_head.store(head, Relaxed);
        }
        log::debug!("{leaving:?}: {dropped} packets dropped");
    }
    let mut control = shared.control.lock().unwrap();
    control.writer_gone = true;
    control.dropped = Some(dropped);
    drop(control);
    shared.writer_gone.notify_all();
    shared.ring_has_room_or_closed.notify_all();
}
