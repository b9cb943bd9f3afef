//! # servercore labs: write the send path, and let the course grade it
//!
//! Three labs, each a skeleton of one lesson's send path: the struct, its
//! constructor, the [`SendPath`](servercore::SendPath) impl and the writer
//! thread, with `todo!()` where your code goes. The doc comment on each
//! `todo!()` says what to build and which chapter explains it.
//!
//! | lab | you write | chapter | graded by |
//! |---|---|---|---|
//! | [`lab1_send_queue`] | queue + `pending` flag + writer thread | `lessons/03-send-queue.md` | `cargo test -p servercore-labs --test lab1_send_queue` |
//! | [`lab2_batched_writer`] | take the whole queue, one vectored write, partial writes, `IOV_MAX` | `lessons/04-batched-writer.md` | `cargo test -p servercore-labs --test lab2_batched_writer` |
//! | [`lab3_direct_path`] | write from the caller while idle, hand over under load | `lessons/07-direct-path.md` | `cargo test -p servercore-labs --test lab3_direct_path` |
//!
//! The grader is the course's own: the contract tests every lesson passes,
//! the gate tests with exact counts, and (with `RUSTFLAGS="--cfg loom"`)
//! the loom models ([`servercore::grading`]). `labs/README.md` says how to
//! start.
//!
//! With `--features solutions` the teachers' solutions (in `labs/solutions/`)
//! take the skeletons' place, under the same names.

#[cfg(not(feature = "solutions"))]
pub mod lab1_send_queue;
#[cfg(feature = "solutions")]
#[path = "../solutions/lab1_send_queue.rs"]
pub mod lab1_send_queue;

#[cfg(not(feature = "solutions"))]
pub mod lab2_batched_writer;
#[cfg(feature = "solutions")]
#[path = "../solutions/lab2_batched_writer.rs"]
pub mod lab2_batched_writer;

#[cfg(not(feature = "solutions"))]
pub mod lab3_direct_path;
#[cfg(feature = "solutions")]
#[path = "../solutions/lab3_direct_path.rs"]
pub mod lab3_direct_path;
