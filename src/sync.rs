//! The synchronization types the lessons use, in one place.
//!
//! The lessons import `Mutex`, `Condvar`, `Arc` and `thread` from here rather
//! than from `std` directly, so that a model checker can swap in its own
//! versions without touching the lesson code. Today these are plain
//! re-exports of `std`.
//!
//! A poisoned lock means another thread panicked while holding it; the
//! lessons `unwrap()` the lock result on purpose: the state a panicking
//! thread left half-changed cannot be trusted, so the panic spreads.

pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};
pub use std::thread;

/// The stack size of every thread this crate spawns (readers, writers, the
/// acceptor): 128 KiB instead of Rust's default 2 MiB, so that a thousand
/// sessions (two thousand threads) reserve 256 MiB of address space rather
/// than 4 GiB. The deepest frame is a writer's `[IoSlice; 1024]` (16 KiB);
/// the rest is logging and the handler's own calls, with room to spare.
/// Only touched pages count towards resident memory.
pub const THREAD_STACK_SIZE: usize = 128 * 1024;
