//! The grader: the course's contract tests, gate tests and loom models as
//! library functions, so that the lessons' own test suite and the labs
//! (`labs/`, package `servercore-labs`) run the very same checks.
//!
//! Every function takes the send path to grade as a constructor, a
//! [`Start`] (`fn(Wire) -> io::Result<Box<dyn SendPath>>`): a lesson's
//! (`Lesson::SendQueue.entry().start`) or a student's
//! (`|wire| Ok(Box::new(SendQueue::new(wire)?))`). A check that fails
//! panics with a message that says what was seen and which line of the
//! design to look at, for instance:
//!
//! ```text
//! 3 wake-ups for one burst: does `send` skip the notify while `pending` is true?
//! ```
//!
//! * [`contract`] — what every send path keeps (one packet, close flushes,
//!   send after close gives the packet back, disconnects reported once,
//!   order under contention, partial writes); [`contract_tests!`](crate::contract_tests)
//!   turns it into one `#[test]` per property;
//! * [`gates`] — the exact counts, with the writer held at a
//!   [`Gate`](crate::testing::Gate): one wake-up per burst, 101 packets in
//!   2 writes, `IOV_MAX`, the direct path's idle send;
//! * `models` (only under `RUSTFLAGS="--cfg loom"`) — the loom model
//!   checks of the hand-off, run against the grader's in-memory socket.
//!
//! Everything but the loom models runs on real loopback sockets. No check
//! can hang: each scenario runs on a thread of its own, and a step that
//! makes no progress for [`STALL`] (or, for `send`/`close` calls, for
//! [`TIMEOUT`]) fails with the step's name and a hint. A writer thread
//! that panics (a `todo!()` left in it, say) fails the scenario at once.

// Under loom only the models are built: the socket checks' runner is unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(loom))]
pub mod contract;
#[cfg(not(loom))]
pub mod gates;
#[cfg(not(loom))]
mod harness;
#[cfg(loom)]
pub mod models;

use std::any::Any;
use std::io;
use std::panic;
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use crate::send_path::SendPath;
use crate::wire::Wire;

/// How the grader starts the send path it grades: a lesson's constructor
/// (`Lesson::BatchedWriter.entry().start`) or a lab's
/// (`|wire| Ok(Box::new(BatchedWriter::new(wire)?))`).
pub type Start = fn(Wire) -> io::Result<Box<dyn SendPath>>;

/// The longest a call the grader makes (`send`, `close`, `abort`, a
/// session's `join`) may block before the check fails. Generous: a correct
/// send path never comes near it.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How long the grader waits for bytes that should be on their way before
/// it decides they never will be: a correct writer moves them in
/// microseconds, so 5 seconds without a single byte means nobody is
/// writing them.
pub const STALL: Duration = Duration::from_secs(5);

/// Where a scenario is, for the message when it gets stuck.
pub(crate) struct Progress {
    step: Mutex<Step>,
}

struct Step {
    /// What the scenario is doing, e.g. "`close()`".
    what: String,
    /// What to look at if it never finishes.
    hint: &'static str,
    /// When it started.
    since: Instant,
}

impl Progress {
    /// The scenario starts `what`; if it does not finish within
    /// [`TIMEOUT`], the check fails with `hint`.
    pub(crate) fn step(&self, what: impl Into<String>, hint: &'static str) {
        *self.step.lock().unwrap() = Step {
            what: what.into(),
            hint,
            since: Instant::now(),
        };
    }

    fn stuck(&self) -> Option<String> {
        let step = self.step.lock().unwrap();
        (step.since.elapsed() > TIMEOUT).then(|| {
            format!(
                "stuck for {} s in {}: {}",
                TIMEOUT.as_secs(),
                step.what,
                step.hint
            )
        })
    }
}

/// Runs one graded scenario on a thread of its own and fails the calling
/// test if it panics, if a thread named `writer` panics meanwhile, or if
/// one of its steps never finishes.
pub(crate) fn grade(name: &str, scenario: impl FnOnce(&Progress) + Send + 'static) {
    watch_writer_panics();
    let seen = writer_panics_so_far();
    let progress = Arc::new(Progress {
        step: Mutex::new(Step {
            what: "starting the send path".into(),
            hint: "the constructor (`new`) should return as soon as the writer thread is spawned",
            since: Instant::now(),
        }),
    });
    let worker = {
        let progress = Arc::clone(&progress);
        thread::Builder::new()
            .name(format!("grader: {name}"))
            .spawn(move || scenario(&progress))
            .expect("spawn the grader's thread")
    };
    loop {
        if worker.is_finished() {
            match worker.join() {
                Ok(()) => return,
                Err(payload) => fail_with(payload),
            }
        }
        if let Some(message) = writer_panic_since(seen) {
            panic!(
                "the writer thread panicked: {message}{}",
                todo_hint(&message)
            );
        }
        if let Some(message) = progress.stuck() {
            panic!("{message}");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Fails the test with the scenario's own panic, plus a hint when it is a
/// `todo!()` still waiting to be written.
fn fail_with(payload: Box<dyn Any + Send>) -> ! {
    let message = panic_message(payload.as_ref());
    if message.contains("not yet implemented") {
        panic!("{message}{}", todo_hint(&message));
    }
    panic::resume_unwind(payload)
}

fn todo_hint(message: &str) -> &'static str {
    if message.contains("not yet implemented") {
        "\n  (a `todo!()` is still in the send path: the panic above names its file and \
         line; write that function, the doc comment above it says what it does \
         and which chapter explains it)"
    } else {
        ""
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else {
        "<a panic without a message>".to_owned()
    }
}

/// Panics seen on threads named `writer`, in order, with where they happened.
static WRITER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs, once per process, a panic hook that records panics on
/// threads named `writer` (then runs the hook that was there before, so
/// the panic is still printed).
fn watch_writer_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some("writer") {
                let place = info.location().map_or(String::new(), |l| {
                    format!(" (at {}:{})", l.file(), l.line())
                });
                let message = panic_message(info.payload());
                if let Ok(mut panics) = WRITER_PANICS.lock() {
                    panics.push(format!("{message}{place}"));
                }
            }
            previous(info);
        }));
    });
}

fn writer_panics_so_far() -> usize {
    WRITER_PANICS.lock().map_or(0, |panics| panics.len())
}

fn writer_panic_since(seen: usize) -> Option<String> {
    WRITER_PANICS
        .lock()
        .ok()
        .and_then(|panics| panics.get(seen).cloned())
}
