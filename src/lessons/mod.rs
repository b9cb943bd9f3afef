//! The lessons, one module each, in reading order.
//!
//! **Part I — the send path.** Each of these is a send path behind the one
//! contract, [`SendPath`](crate::SendPath); the catalog
//! ([`Lesson`](crate::Lesson)) numbers them and `servercore compare` runs
//! them side by side.
//!
//! | # | module | the idea |
//! | --- | --- | --- |
//! | 01 | [`lesson01_naive`] | each `send` writes to the socket from the caller's thread |
//! | 02 | [`lesson02_locked`] | a `Mutex` around the writes |
//! | 03 | [`lesson03_send_queue`] | the seed's design: queue + pending flag + writer thread |
//! | 03b | [`lesson03b_stranded_packet`] | interlude, WRONG on purpose: the writer that forgets to re-check |
//! | 04 | [`lesson04_batched_writer`] | the writer drains the whole queue into one `write_vectored` |
//! | 05 | [`lesson05_channel_writer`] | the same writer on `crossbeam-channel` |
//! | 06 | [`lesson06_send_buffers`] | packets serialized into reused per-thread chunks |
//! | 07 | [`lesson07_direct_path`] | write from the caller while idle, batch under load |
//! | 08 | [`lesson08_rings`] | each sender frames into its own byte ring; one `writev` gathers them all |
//!
//! **Part II — robustness.** The session around a send path:
//!
//! | # | module | the idea |
//! | --- | --- | --- |
//! | 09 | [`lesson09_framing`] | the size header and bad input: what the C# parse loop does with 0 and 1 |
//! | 10 | [`lesson10_backpressure`] | a queue limit that wraps any send path: block, reject or evict |
//! | 11 | [`lesson11_shutdown`] | close flushes, disconnect aborts, threads joined |
//!
//! **Part III — the capstone.**
//!
//! | # | module | the idea |
//! | --- | --- | --- |
//! | 12 | [`lesson12_room`] | the broadcast room: any send path, `N` players, `N²` deliveries |
//!
//! Each send-path module holds its whole send path and reads top to bottom;
//! what changed from the lesson before is marked `// New:`. Diff two
//! neighbours to see exactly one idea. No module carries a line of a later
//! lesson: a later idea wraps an earlier path (lesson 10's queue limit) or
//! replaces it (a new module), it does not retrofit it.
//!
//! Layers: a lesson uses the plumbing ([`crate::packet`], [`crate::wire`],
//! [`crate::stats`], [`crate::sync`], [`crate::session`],
//! [`crate::send_path`]) and nothing above it; no lesson imports another
//! lesson. The catalog and the instruments sit above the lessons.
//!
//! ## Adding a send-path lesson
//!
//! 1. its module here, `lessonNN_name.rs`, copied forward from the lesson
//!    it grows out of, with the changed lines marked `// New:`;
//! 2. one entry in the catalog (`src/catalog.rs`: a variant, its row in
//!    `Lesson::entry`, and its place in `Lesson::ALL`); `compare`, `serve`,
//!    `room`, the contract suite (`tests/contract.rs`) and the help text
//!    pick it up from there;
//! 3. its chapter, `lessons/NN-name.md`, listed in `lessons/SUMMARY.md`;
//! 4. its example, `examples/lessonNN_name.rs`, whose doc comment starts
//!    with its own command;
//! 5. its test file, `tests/lessonNN_name.rs`, proving the lesson's claim.
//!
//! `tests/chapters.rs` checks that every lesson has its chapter, example and
//! tests.

pub mod lesson01_naive;
pub mod lesson02_locked;
pub mod lesson03_send_queue;
// WRONG on purpose: lesson 03 with the stranded-packet bug, the module of
// the interlude `lessons/03b-stranded-packet.md`. Public so that its loom
// test and its example can reach it; not in the catalog.
pub mod lesson03b_stranded_packet;
pub mod lesson04_batched_writer;
pub mod lesson05_channel_writer;
pub mod lesson06_send_buffers;
pub mod lesson07_direct_path;
pub mod lesson08_rings;
pub mod lesson09_framing;
pub mod lesson10_backpressure;
pub mod lesson11_shutdown;
pub mod lesson12_room;
