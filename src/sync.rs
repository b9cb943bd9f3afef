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
