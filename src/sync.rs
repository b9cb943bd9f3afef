//! The synchronization types the lessons use, in one place.
//!
//! The lessons import `Mutex`, `Condvar`, `Arc` and `thread` from here rather
//! than from `std` directly, so that a model checker can swap in its own
//! versions without touching the lesson code:
//!
//! * in a normal build these are plain re-exports of `std`;
//! * in a build with `RUSTFLAGS="--cfg loom"` (the `tests/loom_*.rs` model
//!   checks) they are [loom](https://docs.rs/loom)'s mock types, which let
//!   loom run the lessons' hand-off under every interleaving of its threads
//!   (up to a bound on preemptions) and report a deadlock or a failed
//!   assertion together with the schedule that caused it.
//!
//! Under loom, `Condvar` is a thin wrapper around loom's that runs a check
//! installed by the test (`loom_check::before_wait`) right before a thread
//! blocks. The loom tests use it to assert that the writer never goes to
//! sleep while packets are still queued: the stranded packet of
//! `lessons/03b-stranded-packet.md`.
//!
//! A poisoned lock means another thread panicked while holding it; the
//! lessons `unwrap()` the lock result on purpose: the state a panicking
//! thread left half-changed cannot be trusted, so the panic spreads.

#[cfg(not(loom))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::thread;

#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::thread;
#[cfg(loom)]
pub use loom_check::Condvar;

/// Atomics and fences: `std`'s in a normal build, loom's under
/// `--cfg loom`, so that the model checker sees every load, store and
/// fence of lesson 08's rings and pending flag (and may give a load any
/// value the memory model allows, not only the latest).
pub mod atomic {
    #[cfg(not(loom))]
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
}

#[cfg(loom)]
pub use loom::thread_local;
/// `thread_local!`: `std`'s, or loom's under `--cfg loom`. loom runs every
/// thread of a model on one OS thread, so a `std` thread-local would be
/// shared by all of them; loom's gives each model thread its own (lesson
/// 08 keeps each sender thread's rings in one).
#[cfg(not(loom))]
pub use std::thread_local;

/// Lets loom check a byte buffer that lives in a `std` `UnsafeCell` (lesson
/// 08's rings, whose bytes must be one contiguous slice for `writev`).
///
/// The buffer's owner reports every write and read of a byte range, and in
/// a loom build each byte has a loom cell that records the access: loom
/// then fails the model if a write of a byte is not ordered after the last
/// read or write of it by another thread (a data race), and reports the
/// schedule. In a normal build it holds nothing and its calls compile to
/// nothing.
#[derive(Debug)]
pub struct ByteAccess {
    /// One loom cell per byte of the buffer.
    #[cfg(loom)]
    cells: Box<[loom::cell::UnsafeCell<()>]>,
}

impl ByteAccess {
    /// Access tracking for a buffer of `len` bytes.
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub fn new(len: usize) -> ByteAccess {
        ByteAccess {
            #[cfg(loom)]
            cells: (0..len).map(|_| loom::cell::UnsafeCell::new(())).collect(),
        }
    }

    /// Reports a write of `len` bytes from `start` (wrapping at the buffer's end).
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub fn write(&self, start: usize, len: usize) {
        #[cfg(loom)]
        for i in start..start + len {
            self.cells[i % self.cells.len()].with_mut(|_| ());
        }
    }

    /// Reports a read of `len` bytes from `start` (wrapping at the buffer's end).
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub fn read(&self, start: usize, len: usize) {
        #[cfg(loom)]
        for i in start..start + len {
            self.cells[i % self.cells.len()].with(|_| ());
        }
    }
}

/// Under loom only: the hook that runs right before a thread blocks on a
/// [`Condvar`], and the `Condvar` that calls it.
#[cfg(loom)]
pub mod loom_check {
    use std::cell::RefCell;
    use std::sync::LockResult;
    use std::time::Duration;

    use super::MutexGuard;

    /// A check run before every `Condvar` wait in the model.
    type Check = Box<dyn Fn()>;

    std::thread_local! {
        /// The check of the model running on this OS thread. loom runs all
        /// the threads of a model as coroutines on the test's own OS thread,
        /// so this one slot is seen by every thread of the model, and tests
        /// running in parallel (each on its own OS thread) do not share it.
        static BEFORE_WAIT: RefCell<Option<Check>> = const { RefCell::new(None) };
    }

    /// Installs `check` to run right before any thread of the model blocks
    /// on a [`Condvar`] (with the mutex still held, so the check sees the
    /// state the waiter saw). A panic in `check` fails the model, and loom
    /// reports the interleaving that led there.
    ///
    /// The check stays installed until the returned guard is dropped. It
    /// must not touch loom objects (it may outlive a failed model): give it
    /// `std` types only, such as a [`WireHandle`](crate::wire::WireHandle).
    #[must_use = "the check is removed when the guard is dropped"]
    pub fn before_wait(check: impl Fn() + 'static) -> CheckGuard {
        BEFORE_WAIT.with(|slot| *slot.borrow_mut() = Some(Box::new(check)));
        CheckGuard { _private: () }
    }

    /// Removes the check installed by [`before_wait`] when dropped.
    #[derive(Debug)]
    pub struct CheckGuard {
        _private: (),
    }

    impl Drop for CheckGuard {
        fn drop(&mut self) {
            let _ = BEFORE_WAIT.try_with(|slot| slot.borrow_mut().take());
        }
    }

    fn run_check() {
        BEFORE_WAIT.with(|slot| {
            if let Some(check) = slot.borrow().as_ref() {
                check();
            }
        });
    }

    /// loom's `Condvar`, with the installed check run before each wait.
    #[derive(Debug, Default)]
    pub struct Condvar {
        inner: loom::sync::Condvar,
    }

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Condvar {
            Condvar {
                inner: loom::sync::Condvar::new(),
            }
        }

        /// Runs the check, then blocks until notified.
        #[track_caller]
        pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
            run_check();
            self.inner.wait(guard)
        }

        /// Runs the check, then blocks until notified (loom never times out:
        /// a wait nobody ends is reported as a deadlock).
        #[track_caller]
        pub fn wait_timeout<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            timeout: Duration,
        ) -> LockResult<(MutexGuard<'a, T>, loom::sync::WaitTimeoutResult)> {
            run_check();
            self.inner.wait_timeout(guard, timeout)
        }

        /// Wakes one waiting thread.
        #[track_caller]
        pub fn notify_one(&self) {
            self.inner.notify_one();
        }

        /// Wakes every waiting thread.
        #[track_caller]
        pub fn notify_all(&self) {
            self.inner.notify_all();
        }
    }
}

/// The stack size of every thread this crate spawns (readers, writers, the
/// acceptor): 128 KiB instead of Rust's default 2 MiB, so that a thousand
/// sessions (two thousand threads) reserve 256 MiB of address space rather
/// than 4 GiB. The deepest frame is a writer's `[IoSlice; 1024]` (16 KiB);
/// the rest is logging and the handler's own calls, with room to spare.
/// Only touched pages count towards resident memory (lesson 11).
pub const THREAD_STACK_SIZE: usize = 128 * 1024;

/// Starts a thread named `name` with the crate's small stack
/// ([`THREAD_STACK_SIZE`]): the one way this crate starts a thread, so no
/// lesson has to know the stack size. It fails, rather than panics, when
/// the machine runs out of threads or memory maps: a server refuses that
/// one connection and goes on.
pub fn spawn<F, T>(name: impl Into<String>, f: F) -> std::io::Result<thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    injected_failure()?;
    thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK_SIZE)
        .spawn(f)
}

/// [`spawn`] for threads that are never part of a loom model (the
/// session's reader, the servers' acceptors and closers): always an OS
/// thread from `std`, with the same small stack, failing rather than
/// panicking.
pub fn spawn_os<F, T>(name: impl Into<String>, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    injected_failure()?;
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK_SIZE)
        .spawn(f)
}

/// Spawns still to fail on purpose (see [`fail_next_spawns`]).
static SPAWNS_TO_FAIL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Makes the next `count` calls of [`spawn`] and [`spawn_os`] in this
/// process fail, as they would on a machine out of threads or memory maps,
/// so that a test can watch a server refuse that one connection and go on.
/// Process-wide: a test that uses it belongs in a test binary of its own.
pub fn fail_next_spawns(count: usize) {
    SPAWNS_TO_FAIL.store(count, std::sync::atomic::Ordering::SeqCst);
}

/// The error of a spawn that [`fail_next_spawns`] made fail, if this is one.
fn injected_failure() -> std::io::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    let failing = SPAWNS_TO_FAIL
        .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1))
        .is_ok();
    if failing {
        return Err(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            "thread spawn failed (injected by sync::fail_next_spawns)",
        ));
    }
    Ok(())
}
