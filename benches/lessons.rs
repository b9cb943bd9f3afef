//! Each lesson's throughput through `servercore::compare::run`, the same
//! code path as `servercore compare`: 32-byte payloads from 4 senders, and
//! 4 KiB payloads from 1 sender, on one loopback connection, with the
//! ceiling (a pre-built stream in 64 KiB writes) alongside; and the
//! batched lessons at 4 KiB from 1 sender again, under lesson 10's 1 MiB
//! queue limit (`compare --queue-limit 1048576`), where bounding the queue
//! keeps the memory in cache and more than doubled their rate in `compare`.
//!
//! ```text
//! cargo bench                       # a few minutes: small sample counts
//! cargo bench -- '32B x 4'          # one workload
//! cargo bench --no-run              # build only (CI)
//! ```
//!
//! Every iteration is a whole run (connect, send, verify); criterion's
//! throughput figure is packets per second. A run that is not verified
//! panics: a fast wrong answer is no answer.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use servercore::Lesson;
use servercore::alloc_count::CountingAlloc;
use servercore::compare::{self, Report, RunOptions, Workload};

/// As in the `servercore` binary: a thread-local add per allocation.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The workloads of issue 3: (name, senders, payload, packets per run).
const WORKLOADS: [(&str, usize, usize, u64); 2] = [
    ("32B x 4 senders", 4, 32, 200_000),
    ("4KiB x 1 sender", 1, 4096, 20_000),
];

/// The queue limit of the bounded group: 1 MiB, block policy.
const QUEUE_LIMIT: usize = 1 << 20;

fn checked(report: Report) -> Report {
    assert!(
        report.verified(),
        "{}: not verified: {:?}",
        report.subject,
        report.problem
    );
    report
}

fn lessons(c: &mut Criterion) {
    for (name, senders, payload, messages) in WORKLOADS {
        let workload = Workload {
            senders,
            payload,
            messages,
        };
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(messages));
        group.bench_function(BenchmarkId::new("ceiling", 0), |b| {
            b.iter_custom(|iters| timed(iters, || compare::run_ceiling(&workload)))
        });
        for lesson in Lesson::ALL {
            // Lessons 01–03 make one write call per packet: fewer packets,
            // scaled back up, keep the bench short.
            let per_run = if lesson.is_batched() {
                messages
            } else {
                messages / 4
            };
            let workload = Workload {
                messages: per_run,
                ..workload
            };
            group.throughput(Throughput::Elements(per_run));
            group.bench_function(BenchmarkId::new(lesson.name(), lesson.number()), |b| {
                b.iter_custom(|iters| timed(iters, || compare::run(lesson, &workload)))
            });
        }
        group.finish();
    }
}

/// The batched lessons at 4 KiB × 1 sender with a 1 MiB queue limit.
fn bounded(c: &mut Criterion) {
    let workload = Workload {
        senders: 1,
        payload: 4096,
        messages: 20_000,
    };
    let options = RunOptions {
        queue_limit: Some(QUEUE_LIMIT),
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("4KiB x 1 sender, 1 MiB queue limit");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(workload.messages));
    for lesson in Lesson::ALL.into_iter().filter(|l| l.is_batched()) {
        group.bench_function(BenchmarkId::new(lesson.name(), lesson.number()), |b| {
            b.iter_custom(|iters| timed(iters, || compare::run_with(lesson, &workload, &options)))
        });
    }
    group.finish();
}

/// The time of `iters` runs, each from the senders' release to the last
/// packet's arrival (set-up and verification excluded, as in `compare`).
fn timed(iters: u64, mut run: impl FnMut() -> std::io::Result<Report>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let report = checked(run().expect("the run failed"));
        total += Duration::from_secs_f64(report.seconds);
    }
    total
}

criterion_group!(benches, lessons, bounded);
criterion_main!(benches);
