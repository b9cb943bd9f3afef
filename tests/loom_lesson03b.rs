//! The broken hand-off (`servercore::lessons::lesson03b_stranded_packet`, WRONG on
//! purpose), model-checked with loom: the test passes because loom FINDS the
//! stranded packet.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom_lesson03b`
//!
//! The model is lesson 03's scenario 1 (two producers, then quiet), run on
//! the broken writer. loom explores schedules in a fixed, depth-first order,
//! and this test fixes the preemption bound itself (it ignores
//! `LOOM_MAX_PREEMPTIONS`), so the failing schedule it reports is the same
//! on every run.
#![cfg(loom)]

mod loom_support;

use std::panic;

use loom_support::{Model, SleepCheck, Start, producers_then_quiet_on};
use servercore::lessons::lesson03b_stranded_packet::BrokenSendQueue;

const BROKEN: Start = |wire| Box::new(BrokenSendQueue::new(wire).unwrap());

/// With the sleeping-writer check installed, loom fails the model the
/// moment the writer goes to sleep with a packet queued.
#[test]
fn loom_finds_the_stranded_packet() {
    // A fixed bound, whatever LOOM_MAX_PREEMPTIONS says: the bug needs one
    // preemption (with none, every thread runs until it blocks, and loom
    // finds nothing); two leave a margin.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let outcome = panic::catch_unwind(|| {
        producers_then_quiet_on(&builder, BROKEN, &[1, 1], checked(SleepCheck::On))
    });
    let message =
        panic_message(outcome.expect_err("loom explored the broken hand-off and found nothing"));
    assert!(
        message
            .starts_with("stranded packet: the writer is going to sleep with 1 packet(s) queued"),
        "loom failed the model, but not on the stranded packet: {message}"
    );
}

/// Without the check, the same model still fails: all producers are done,
/// the main thread waits for the last packet, the writer sleeps on it, and
/// loom reports that no thread can run ("deadlock"). loom then tears the
/// stuck threads down outside the model and the process aborts, so this
/// test runs the model in a child process (this same test binary) and reads
/// what it printed.
#[test]
fn loom_finds_the_stranded_packet_as_a_deadlock_without_the_check() {
    const CHILD: &str = "SERVERCORE_LOOM_DEADLOCK_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        producers_then_quiet_on(&builder, BROKEN, &[1, 1], checked(SleepCheck::Off));
        return; // not reached: loom finds the deadlock
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "loom_finds_the_stranded_packet_as_a_deadlock_without_the_check",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the model passed: loom found no deadlock"
    );
    assert!(
        stderr.contains("deadlock; threads = ["),
        "the model failed, but not with a deadlock:\n{stderr}"
    );
}

/// The default model, with the sleep check on or off.
fn checked(sleep_check: SleepCheck) -> Model {
    Model {
        sleep_check,
        ..Model::default()
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = payload.downcast_ref::<&str>() {
        message.to_string()
    } else {
        "<not a string>".to_string()
    }
}
