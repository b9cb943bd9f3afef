//! # servercore — how a network session's send path is built
//!
//! A course in runnable Rust. It retells the `Session` of a well-known C#
//! game-server course ("ServerCore") with blocking OS threads, explicit
//! `Mutex`/`Condvar` code and real TCP sockets, and grows its send path one
//! idea at a time: from a write per message, through a send queue guarded by
//! a pending flag, to a writer that sends everything queued in one vectored
//! write. Every lesson runs, is tested, and is measured against the others
//! by `servercore compare` (`cargo run --release`).
//!
//! ## The map
//!
//! The lessons (read them in order; the course text is in `lessons/`):
//!
//! * [`lessons`] — one module per lesson, all behind the [`SendPath`] trait:
//!   - [`lessons::lesson01_naive`]: each `send` writes from the caller's thread;
//!   - [`lessons::lesson02_locked`]: a `Mutex` around the writes;
//!   - [`lessons::lesson03_send_queue`]: queue + pending flag + writer thread;
//!   - [`lessons::lesson04_batched_writer`]: the whole queue in one `write_vectored`;
//!   - [`lessons::lesson05_channel_writer`]: the same on `crossbeam-channel`;
//!   - [`lessons::lesson06_send_buffers`]: packets serialized into reused per-thread chunks;
//!   - [`lessons::lesson09_framing`]: the size header and bad input;
//!   - [`lessons::lesson10_backpressure`]: queue limits for slow readers;
//!   - [`lessons::lesson11_shutdown`]: close flushes, disconnect aborts, threads joined;
//!   - [`lessons::lesson12_room`]: the broadcast room, on any lesson's send path;
//!   - [`lessons::lesson07_direct_path`]: write from the caller while idle, batch under load.
//!
//! The plumbing the lessons share (read when a lesson points to it):
//!
//! * [`packet`] — [`Packet`], the wire format (a `u16` size header) and the
//!   receive buffer that reassembles packets split across reads;
//! * [`wire`] — [`Wire`], the counted socket: one method, one system call;
//! * [`stats`] — the counters: sends, write calls, bytes, wake-ups, batches;
//! * [`session`] — [`Session`]: reader thread, handler callbacks, disconnect-once;
//! * [`net`] — listening, connecting, socket options (`socket2`);
//! * [`backpressure`] — the queue limit: water marks, block / reject / evict (lesson 10);
//! * [`echo`] — the echo server and client behind `servercore serve` / `client`;
//! * [`sync`] — the `Mutex`/`Condvar`/`Arc`/`thread` the lessons use;
//! * [`workload`] — test traffic that says who sent it, and its verifier;
//! * [`send_buffer`] — lesson 06's per-thread chunks, handed out as shared slices;
//! * [`compare`] — the measuring run behind `servercore compare`, and its ceiling;
//! * [`chart`] — the SVG bar charts of `servercore compare --chart`;
//! * [`alloc_count`] — a counting global allocator, for allocations per packet;
//! * [`bots`] — the room's load generator and checker behind `servercore bots`;
//! * [`testing`] — loopback socket pairs and a gate that holds a writer still.
//!
//! ## A session in ten lines
//!
//! ```
//! use std::sync::Arc;
//! use servercore::{Lesson, Packet, Session, SessionConfig, session::Handler};
//! use servercore::{net::SocketOptions, testing::socket_pair};
//!
//! struct Quiet;
//! impl Handler for Quiet {
//!     fn on_packet(&self, _: &Arc<Session>, _: Packet) {}
//! }
//! let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
//! let session = Session::start(server_side, &SessionConfig::new(Lesson::BatchedWriter), Arc::new(Quiet)).unwrap();
//! session.send(Packet::from_payload(b"hello").unwrap()).unwrap();
//! session.close(); // flushes, then shuts down the write half
//! # drop(client);
//! # session.join();
//! ```

#![warn(missing_docs)]

pub mod alloc_count;
pub mod backpressure;
pub mod bots;
pub mod chart;
pub mod compare;
pub mod echo;
pub mod lessons;
pub mod net;
pub mod packet;
pub mod send_buffer;
pub mod session;
pub mod stats;
pub mod sync;
pub mod testing;
pub mod wire;
pub mod workload;

pub use backpressure::{Backpressure, Policy};
pub use lessons::{Lesson, SendError, SendPath};
pub use packet::Packet;
pub use session::{Session, SessionConfig};
pub use stats::StatsSnapshot;
pub use wire::Wire;
