// cargo run --release --example lesson12_room
//
// A broadcast room of 200 players, each sending 20 position updates a
// second for 1 second, on lesson 02's locked send path, then lesson 04's
// batched writer, then lesson 05's channel writer. Every player checks
// every broadcast it receives (from whom, in order, the exact bytes). The
// room and its players run in this one process, on loopback. Prints one
// row per lesson (the counts are exact; the rates and the latencies vary
// from run to run):
//
//   room: 200 players × 20 updates/s × 1 s (4,000 updates, 800,000 broadcasts), room and players in this process
//   lesson               delivered  last delivery  delivered/s  writes/broadcast  latency p50 / p99 (ms)  threads  VmSize MiB  VmRSS MiB  verified
//   02 locked               800,000         7.74 s      103,317           1.00000        3375.1 / 6750.2         411        1077         14  yes
//   04 batched_writer       800,000         1.15 s      693,484           0.06065          21.2 / 532.5         611        1083         35  yes
//   05 channel_writer       800,000         1.01 s      795,050           0.06474           2.6 / 12.7          611        1081         57  yes
//
// `-- --players N --rate R --seconds S --lessons 2,4,5` changes the run.
// "threads", "VmSize" and "VmRSS" are the most the process had while the
// players ran (sampled from /proc/self/status every 10 ms): the room's
// threads and the players' together. For the room and the players as two
// processes, see `servercore room` and `servercore bots`.
//
// Log lines (`RUST_LOG=info`) name their thread: the room's `acceptor`,
// `reader …` and `writer`, the players' `bot N receiver` and
// `bots sender N`, the `sampler`, `main`.

mod common;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use servercore::Lesson;
use servercore::bots::{self, BotsConfig, BotsReport};
use servercore::server::{RoomServer, ServerConfig};

/// The run: players, updates per second each, seconds, and the lessons.
struct Run {
    players: usize,
    rate: f64,
    seconds: f64,
    lessons: Vec<Lesson>,
}

fn parse_args() -> Result<Run, String> {
    let mut run = Run {
        players: 200,
        rate: 20.0,
        seconds: 1.0,
        lessons: vec![Lesson::Locked, Lesson::BatchedWriter, Lesson::ChannelWriter],
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag}: a value, please"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--players" => run.players = value.parse().map_err(|e| bad(&e))?,
            "--rate" => run.rate = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => run.seconds = value.parse().map_err(|e| bad(&e))?,
            "--lessons" => {
                run.lessons = value
                    .split(',')
                    .map(|n| {
                        n.parse()
                            .ok()
                            .and_then(Lesson::from_number)
                            .ok_or_else(|| bad(&format!("no send path {n}")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(run)
}

/// The most threads, address space and resident memory the process had.
#[derive(Debug, Default, Clone, Copy)]
struct Peak {
    threads: u64,
    vm_size_kib: u64,
    vm_rss_kib: u64,
}

impl Peak {
    /// Folds in the process's `/proc/self/status` now.
    fn sample(&mut self) {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return;
        };
        for line in status.lines() {
            let mut words = line.split_whitespace();
            let (Some(key), Some(Ok(value))) = (words.next(), words.next().map(str::parse::<u64>))
            else {
                continue;
            };
            match key {
                "Threads:" => self.threads = self.threads.max(value),
                "VmSize:" => self.vm_size_kib = self.vm_size_kib.max(value),
                "VmRSS:" => self.vm_rss_kib = self.vm_rss_kib.max(value),
                _ => {}
            }
        }
    }
}

/// Runs `work` while a `sampler` thread records the process's peak.
fn with_peak<T>(work: impl FnOnce() -> T) -> (T, Peak) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let mut peak = Peak::default();
                while !done.load(Ordering::Relaxed) {
                    peak.sample();
                    thread::sleep(Duration::from_millis(10));
                }
                peak
            })
            .expect("spawn the sampler")
    };
    let result = work();
    done.store(true, Ordering::Relaxed);
    (result, sampler.join().expect("the sampler"))
}

/// `12345678.9` as `"12,345,679"`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// One row of the table.
fn row(lesson: Lesson, report: &BotsReport, peak: Peak) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<20} {:>10} {:>12.2} s {:>12} {:>17.5} {:>13.1} / {:<8.1} {:>8} {:>11} {:>10}  {}",
        lesson.to_string(),
        thousands(report.broadcasts_received as f64),
        report.elapsed,
        thousands(report.delivered_per_sec()),
        report.writes_per_delivery(),
        report.latency.quantile_us(0.50) / 1e3,
        report.latency.quantile_us(0.99) / 1e3,
        peak.threads,
        peak.vm_size_kib / 1024,
        peak.vm_rss_kib / 1024,
        match &report.problem {
            None => "yes".to_string(),
            Some(problem) => format!("NO: {problem}"),
        }
    );
    out
}

fn main() -> ExitCode {
    common::init_logging();
    let run = match parse_args() {
        Ok(run) => run,
        Err(e) => {
            eprintln!("lesson12_room: {e}");
            return ExitCode::FAILURE;
        }
    };
    let updates = (run.rate * run.seconds).round().max(1.0) * run.players as f64;
    println!(
        "room: {} players × {} updates/s × {} s ({} updates, {} broadcasts), room and players in this process",
        run.players,
        run.rate,
        run.seconds,
        thousands(updates),
        thousands(updates * run.players as f64)
    );
    println!(
        "lesson               delivered  last delivery  delivered/s  writes/broadcast  latency p50 / p99 (ms)  threads  VmSize MiB  VmRSS MiB  verified"
    );
    let mut all_verified = true;
    for lesson in run.lessons {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut server = match RoomServer::start(addr, &ServerConfig::room(lesson)) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot start the room: {e}");
                return ExitCode::FAILURE;
            }
        };
        let config = BotsConfig::new(server.local_addr(), run.players, run.rate, run.seconds);
        let (report, peak) = with_peak(|| bots::run(&config));
        match report {
            Ok(report) => {
                println!("{}", row(lesson, &report, peak));
                all_verified &= report.verified();
            }
            Err(e) => {
                eprintln!("lesson {lesson}: {e}");
                all_verified = false;
            }
        }
        server.shutdown();
    }
    if all_verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
