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
//! Arrows point down only: the command line and the instruments use the
//! catalog; the catalog uses the lessons; the lessons use the plumbing.
//!
//! **The lessons** (read them in order; the course text is in `lessons/`):
//!
//! * [`lessons`] — one module per lesson, in reading order: Part I, the
//!   send paths 01–08; Part II, framing
//!   (09), backpressure (10) and shutdown (11); Part III, the broadcast
//!   room (12).
//!
//! **Above the lessons:**
//!
//! * [`catalog`] — [`Lesson`]: every send path by number, name, idea and
//!   constructor; the one table the CLI, `compare`, the servers and the
//!   tests read;
//! * [`cli`] — the `servercore` command: its flags, checked by `clap`, and
//!   what each subcommand runs;
//! * [`compare`] — the measuring run behind `servercore compare`, and its ceiling;
//! * [`chart`] — the SVG charts of `servercore compare --chart` and `servercore chart`;
//! * [`human`] — numbers for people (`1,234,567`, `1.23M`), for every table and chart;
//! * [`server`] — one server for `serve` and `room`: accept, session cap, spawn failures, shutdown;
//! * [`echo`] — the echo handler and client behind `servercore serve` / `client`;
//! * [`bots`] — the room's load generator and checker behind `servercore bots`;
//! * [`workload`] — test traffic that says who sent it, and its verifier;
//! * [`alloc_count`] — a counting global allocator, for allocations per packet;
//! * [`testing`] — loopback socket pairs and a gate that holds a writer still;
//! * [`trace`] — `servercore trace`: a recorded run drawn as swimlanes;
//! * [`grading`] — the contract, gate and loom checks as functions of a send
//!   path's constructor: the lessons' tests and the labs (`labs/`) share them.
//!
//! **The plumbing** (knows no lesson; read when a lesson points to it):
//!
//! * [`send_path`] — the contract: [`SendPath`] and [`SendError`];
//! * [`packet`] — [`Packet`], the wire format (a `u16` size header) and the
//!   receive buffer that reassembles packets split across reads;
//! * [`wire`] — [`Wire`], the counted socket: one method, one system call,
//!   and the gathering write every batched lesson uses;
//! * [`stats`] — the counters: sends, write calls, bytes, wake-ups, batches;
//! * [`session`] — [`Session`]: reader thread, handler callbacks, disconnect-once;
//! * [`net`] — listening, connecting, socket options (`socket2`);
//! * [`sync`] — the `Mutex`/`Condvar`/`Arc`/`thread` the lessons use (std's,
//!   or loom's under `--cfg loom`), and the one thread-spawning helper.
//!
//! ## Platform
//!
//! Linux. The Linux-only parts are named: [`wire`]'s non-blocking
//! `try_write` (`MSG_DONTWAIT`, lesson 07), `IOV_MAX` = 1,024 in [`wire`],
//! `/proc/self` in [`lessons::lesson11_shutdown`] (thread counts and
//! memory), and the signal handling of `servercore serve` and `room`.
//!
//! ## A session in ten lines
//!
//! ```
//! use std::sync::Arc;
//! use servercore::{Backpressure, Lesson, Packet, Session, session::Handler};
//! use servercore::{net::SocketOptions, testing::socket_pair};
//!
//! struct Quiet;
//! impl Handler for Quiet {
//!     fn on_packet(&self, _: &Arc<Session>, _: Packet) {}
//! }
//! let (server_side, client) = socket_pair(&SocketOptions::default()).unwrap();
//! let config = Lesson::BatchedWriter.session_config(Backpressure::unlimited());
//! let session = Session::start(server_side, &config, Arc::new(Quiet)).unwrap();
//! session.send(Packet::from_payload(b"hello").unwrap()).unwrap();
//! session.close(); // flushes, then shuts down the write half
//! # drop(client);
//! # session.join();
//! ```

#![warn(missing_docs)]

pub mod alloc_count;
pub mod bots;
pub mod catalog;
pub mod chart;
pub mod cli;
pub mod compare;
pub mod echo;
pub mod grading;
pub mod human;
pub mod lessons;
pub mod net;
pub mod packet;
pub mod send_path;
pub mod server;
pub mod session;
pub mod stats;
pub mod sync;
pub mod testing;
pub mod trace;
pub mod wire;
pub mod workload;

pub use catalog::Lesson;
pub use lessons::lesson10_backpressure::{Backpressure, Policy};
pub use packet::Packet;
pub use send_path::{SendError, SendPath};
pub use session::{Session, SessionConfig};
pub use stats::StatsSnapshot;
pub use wire::Wire;
