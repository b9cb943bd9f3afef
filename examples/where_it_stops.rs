//! cargo build --release && cargo run --release --example where_it_stops [-- CONNECTIONS]
//!
//! Where a thread per session runs out on this machine. Starts
//! `target/release/servercore serve` as a child process (its own limits,
//! its own memory), opens one good session, then floods the server with
//! CONNECTIONS idle connections (default 15,000) and reports how many
//! sessions it held, with its threads and resident memory, which limit set
//! the cap, and that the server lived through it:
//!
//!   limits: vm.max_map_count 65530 → 8063 sessions; threads (kernel.threads-max, RLIMIT_NPROC) 96362 → 47669; open files (RLIMIT_NOFILE) 20000 → 9488
//!   flood: 15000 idle connections opened
//!   the server holds 8063 sessions in 16128 threads, 269 MB resident; the good session still echoes
//!   flood closed; a new client: 1000 echoes verified
//!   servercore serve: shut down on signal 15: 1 sessions: ... 6939 connections refused at the session cap, 0 failed to start
//!
//! Its file-descriptor limit (soft) is raised to the hard limit first, for
//! itself and the server it starts. Linux only (`/proc`, `setrlimit`).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use servercore::echo::Client;
use servercore::net::{self, SocketOptions};
use servercore::server::Limits;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("where_it_stops: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let connections: usize = std::env::args().nth(1).map_or(Ok(15_000), |a| a.parse())?;
    raise_file_limit();
    let limits = Limits::of_this_process();
    let described: Vec<String> = limits
        .budgets()
        .iter()
        .zip([limits.max_map_count, limits.max_threads, limits.max_files])
        .map(|((name, budget), limit)| match (limit, budget) {
            (Some(limit), Some(budget)) => format!("{name} {limit} → {budget} sessions"),
            _ => format!("{name} unlimited"),
        })
        .collect();
    println!("limits: {}", described.join("; "));

    let binary = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("servercore"))
        .filter(|path| path.exists())
        .ok_or("build the server first: cargo build --release")?;
    let mut server = Command::new(binary)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "error")
        .spawn()?;
    let mut line = String::new();
    BufReader::new(server.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or("the server did not say where it listens")?
        .parse()?;

    let mut good = Client::connect(addr, 32)?;
    good.exchange(10)?;
    let mut flood: Vec<TcpStream> = Vec::with_capacity(connections);
    for _ in 0..connections {
        match net::connect(addr, &SocketOptions::default()) {
            Ok(stream) => flood.push(stream),
            Err(e) => {
                println!("flood: connection {} failed here: {e}", flood.len() + 1);
                break;
            }
        }
    }
    println!("flood: {} idle connections opened", flood.len());
    good.exchange(100)?;
    // The acceptor works through the flood on its own thread: wait until
    // the server's thread count stops growing.
    let status_of = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/status"));
    let threads_of = |status: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut last = 0;
    let mut status = status_of(server.id())?;
    for _ in 0..150 {
        std::thread::sleep(Duration::from_millis(200));
        status = status_of(server.id())?;
        let now = threads_of(&status);
        if now == last {
            break;
        }
        last = now;
    }
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or_else(|| "?".into(), |v| v.trim().to_owned())
    };
    let rss_kb: u64 = field("VmRSS:").trim_end_matches(" kB").parse().unwrap_or(0);
    let threads = field("Threads:");
    // Each session is two threads; the acceptor and main are the other two.
    let sessions = threads.parse::<u64>().unwrap_or(2).saturating_sub(2) / 2;
    println!(
        "the server holds {sessions} sessions in {threads} threads, {} MB resident; the good session still echoes",
        rss_kb / 1024
    );

    drop(flood);
    // Wait (bounded) until the flood's sessions have ended and a newcomer
    // is let in: its echoes verify.
    let mut verified = None;
    for _ in 0..100 {
        let mut client = Client::connect(addr, 32)?;
        if client.exchange(1000).is_ok() {
            verified = Some(client.finish()?.echoed);
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // the flood's sessions are still ending
    }
    let echoed = verified.ok_or("no new client got in after the flood")?;
    println!("flood closed; a new client: {echoed} echoes verified");
    good.finish()?;

    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let exit = server.wait()?;
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .ok_or("no stderr")?
        .read_to_string(&mut stderr)?;
    if let Some(summary) = stderr.lines().find(|l| l.contains("shut down")) {
        println!("{summary}");
    }
    if !exit.success() {
        return Err(format!("the server exited with {exit}").into());
    }
    Ok(())
}

/// Raises this process's soft limit on open files to its hard limit; the
/// server started from here inherits it.
fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
