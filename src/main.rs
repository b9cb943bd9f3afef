//! The `servercore` command.
//!
//! ```text
//! cargo run --release                      # = servercore compare: every lesson, side by side
//! cargo run --release -- compare --lessons 2,4 --senders 4 --payload 32 --format json
//! cargo run --release -- compare --senders 1,4,16 --payload 32,512,4096 --runs 3 --seconds 0.3
//! cargo run --release -- compare --rate 2000 --senders 4 --payload 32      # latency mode
//! cargo run --release -- compare --chart lessons/images/compare.svg
//! cargo run --release -- serve --addr 127.0.0.1:0 --lesson 4     # prints `listening on IP:PORT`
//! cargo run --release -- client --addr 127.0.0.1:PORT --packets 1000 --payload 32
//! cargo run --release -- room --addr 127.0.0.1:0 --lesson 4   # prints `listening on IP:PORT`, runs until killed
//! cargo run --release -- bots --addr 127.0.0.1:PORT --players 100 --rate 10 --seconds 5 --format json
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use servercore::alloc_count::CountingAlloc;
use servercore::compare::{self, RunOptions, Subject, Summary, Workload};

/// Counts each thread's allocations, so `compare` can show allocations per
/// packet. Its cost: one add to a thread-local counter per allocation (no
/// atomic, no shared cache line).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;
use servercore::bots::{self, BotsConfig};
use servercore::echo;
use servercore::packet::{HEADER_LEN, MAX_PACKET_LEN};
use servercore::server::{self, RoomServer, ServerConfig};
use servercore::{Backpressure, Lesson, Policy};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Teaching send paths, measured: compare the lessons side by side on loopback.
#[derive(Parser, Debug)]
#[command(name = "servercore", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every lesson's send path under the same load and print a table (the default).
    Compare(CompareArgs),
    /// An echo server: every packet comes back on its session, through lesson N's send path.
    /// Prints `listening on IP:PORT` first; runs until Ctrl-C or SIGTERM, then closes every session.
    Serve(ServeArgs),
    /// An echo client: sends numbered packets, verifies every echo, prints what it saw.
    Client(ClientArgs),
    /// Lesson 12: a broadcast room. Every position update a player sends goes
    /// to every player. Prints `listening on IP:PORT` first; runs until killed.
    Room(RoomArgs),
    /// Lesson 12: N players for a room, each sending R updates/s for S seconds
    /// and checking every broadcast it receives.
    Bots(BotsArgs),
}

#[derive(Parser, Debug)]
struct ServeArgs {
    /// Address to listen on; port 0 lets the OS pick one (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7777")]
    addr: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
}

/// What `serve` and `room` share: the send path, the limits, the cap.
#[derive(clap::Args, Debug)]
struct ServerArgs {
    #[arg(long, default_value = "4", value_parser = parse_lesson, help = lesson_help("every session uses"))]
    lesson: Lesson,
    /// Largest packet accepted, header included (2..=65535); a larger declared size closes the session.
    #[arg(long, default_value_t = server::DEFAULT_MAX_PACKET)]
    max_packet: usize,
    /// Per-session send queue limit in bytes (high-water mark; low-water mark at half),
    /// for every lesson with a queue (lessons 01 and 02 have none).
    #[arg(long, default_value_t = server::DEFAULT_QUEUE_LIMIT)]
    queue_limit: usize,
    /// What a full queue does to the sender: wait (`serve`'s default), refuse the packet,
    /// or evict the slow reader (`room`'s default: a blocked broadcaster would stall the room).
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
    #[arg(long, help = max_sessions_help())]
    max_sessions: Option<usize>,
}

/// Output formats of `servercore bots`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BotsFormat {
    /// An aligned table for people.
    Table,
    /// One JSON object.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyArg {
    /// The sender waits until the queue drains to the low-water mark.
    Block,
    /// The send fails and the packet is dropped (for an echo: that echo is lost).
    Reject,
    /// The slow reader's session is disconnected.
    Disconnect,
}

#[derive(Parser, Debug)]
struct ClientArgs {
    /// The echo server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Packets to send.
    #[arg(long, default_value_t = 1000)]
    packets: u32,
    /// Payload bytes per packet (6..=65533; the header adds 2).
    #[arg(long, default_value_t = 32)]
    payload: usize,
}

#[derive(Parser, Debug)]
struct RoomArgs {
    /// Address to listen on; port 0 lets the OS pick (the first line of output says which).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Parser, Debug)]
struct BotsArgs {
    /// The room's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Players to connect.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Position updates each player sends per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Players already in the room that are not ours and send nothing (a stuck player, say).
    #[arg(long, default_value_t = 0)]
    others: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BotsFormat::Table)]
    format: BotsFormat,
}

#[derive(Parser, Debug)]
struct CompareArgs {
    /// Lessons to run, by number, comma-separated (e.g. `1,4`); by default every send path.
    #[arg(long, value_delimiter = ',', value_parser = parse_lesson)]
    lessons: Vec<Lesson>,
    /// Sender threads, all sending on one session; a list makes a matrix (e.g. `1,4,16`).
    #[arg(long, value_delimiter = ',', default_values_t = [4])]
    senders: Vec<usize>,
    /// Payload bytes per packet (6..=65533; the header adds 2); a list makes a matrix.
    #[arg(long, value_delimiter = ',', default_values_t = [32])]
    payload: Vec<usize>,
    /// Packets per lesson; by default each lesson is sized to run about `--seconds`.
    #[arg(long)]
    messages: Option<u64>,
    /// Target seconds per lesson and run when `--messages` is not given.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Runs of each lesson; the tables show the median and the min–max.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Latency mode: packets per second per sender, paced by deadlines; reports p50/p99/p99.9.
    #[arg(long)]
    rate: Option<u64>,
    /// Lesson 10's queue limit in bytes (block policy) for every lesson
    /// with a queue; unlimited when not given.
    #[arg(long, value_name = "BYTES")]
    queue_limit: Option<usize>,
    /// Leave out the ceiling (a pre-built stream in 64 KiB writes).
    #[arg(long)]
    no_ceiling: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also draw bar charts of msgs/s and write calls per message to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
}

impl Default for CompareArgs {
    fn default() -> CompareArgs {
        CompareArgs::parse_from(["compare"])
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Aligned tables for people, one per workload.
    Table,
    /// One JSON object per lesson and workload, one per line.
    Json,
    /// A header line, then one line per lesson and workload.
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or(Command::Compare(CompareArgs::default()));
    // The server says what happens to its sessions (info); the rest only warns.
    let default_level = if matches!(command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    let result = match command {
        Command::Compare(args) => run_compare(&args),
        Command::Serve(args) => run_serve(&args),
        Command::Client(args) => run_client(&args),
        Command::Room(args) => run_room(&args),
        Command::Bots(args) => run_bots(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("servercore: {message}");
            ExitCode::from(2)
        }
    }
}

/// What a compare run will do, checked before anything runs.
struct Plan {
    subjects: Vec<Subject>,
    workloads: Vec<Workload>,
    options: RunOptions,
}

fn plan(args: &CompareArgs) -> Result<Plan, String> {
    let mut subjects = Vec::new();
    if !args.no_ceiling {
        subjects.push(Subject::Ceiling);
    }
    let lessons = if args.lessons.is_empty() {
        Lesson::ALL.to_vec()
    } else {
        args.lessons.clone()
    };
    subjects.extend(lessons.into_iter().map(Subject::Lesson));
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    if !(1..=100).contains(&args.runs) {
        return Err("--runs must be 1..=100".into());
    }
    if args.queue_limit == Some(0) {
        return Err("--queue-limit must be at least 1 byte".into());
    }
    let options = RunOptions {
        rate: args.rate,
        queue_limit: args.queue_limit,
    };
    let mut workloads = Vec::new();
    for &senders in &args.senders {
        for &payload in &args.payload {
            let workload = Workload {
                senders,
                payload,
                messages: args.messages.unwrap_or(1),
            };
            workload.validate()?;
            if let Some(rate) = args.rate {
                if rate == 0 {
                    return Err("--rate must be at least 1".into());
                }
                if payload < servercore::workload::MIN_STAMPED_PAYLOAD {
                    return Err(format!(
                        "--rate needs payloads of at least {} bytes (they carry a send stamp)",
                        servercore::workload::MIN_STAMPED_PAYLOAD
                    ));
                }
            }
            workloads.push(workload);
        }
    }
    Ok(Plan {
        subjects,
        workloads,
        options,
    })
}

/// Packets for `subject` on `workload`: as given, or paced (latency mode),
/// or calibrated to about `--seconds`.
fn size(args: &CompareArgs, subject: Subject, workload: &Workload) -> Result<u64, String> {
    if let Some(m) = args.messages {
        return Ok(m);
    }
    if let (Some(rate), Subject::Lesson(_)) = (args.rate, subject) {
        let per_sender = (rate as f64 * args.seconds).ceil().max(1.0) as u64;
        return Ok(per_sender * workload.senders as u64);
    }
    compare::calibrate_subject(
        subject,
        workload.senders,
        workload.payload,
        Duration::from_secs_f64(args.seconds),
    )
    .map_err(|e| format!("{subject}: {e}"))
}

fn run_compare(args: &CompareArgs) -> Result<ExitCode, String> {
    let plan = plan(args)?;
    let steps = plan.workloads.len() * plan.subjects.len() * (args.runs + 1);
    let progress = if args.format == Format::Json {
        ProgressBar::hidden()
    } else {
        // Drawn on stderr, and only when stderr is a terminal.
        ProgressBar::new(steps as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    if args.format == Format::Csv {
        println!("{}", compare::csv_header());
    }
    let mut groups: Vec<Vec<Summary>> = Vec::new();
    for (w, probe) in plan.workloads.iter().enumerate() {
        // Size every subject first, then run them round by round, so that
        // run i of every lesson shares its moment (and its noise) with run
        // i of the ceiling.
        let mut sized = Vec::new();
        for &subject in &plan.subjects {
            progress.set_message(format!("sizing {subject}"));
            let messages = size(args, subject, probe)?;
            sized.push((subject, Workload { messages, ..*probe }));
            progress.inc(1);
        }
        let mut runs: Vec<Vec<compare::Report>> = vec![Vec::new(); sized.len()];
        for round in 0..args.runs {
            for (i, (subject, workload)) in sized.iter().enumerate() {
                progress.set_message(format!("{subject}, run {}/{}", round + 1, args.runs));
                let report = compare::run_subject(*subject, workload, &plan.options)
                    .map_err(|e| format!("{subject}: {e}"))?;
                runs[i].push(report);
                progress.inc(1);
            }
        }
        let mut summaries: Vec<Summary> = runs.into_iter().map(Summary::new).collect();
        compare::attach_ceiling(&mut summaries);
        match args.format {
            Format::Table => {
                progress.suspend(|| {
                    if w > 0 {
                        println!();
                    }
                    println!(
                        "servercore compare: {}",
                        compare::describe(probe, &plan.options, args.runs)
                    );
                    print!("{}", compare::summary_table(&summaries));
                });
            }
            Format::Json => {
                for s in &summaries {
                    println!("{}", compare::json_summary(s));
                }
            }
            Format::Csv => {
                progress.suspend(|| {
                    for s in &summaries {
                        println!("{}", compare::csv_row(s));
                    }
                });
            }
        }
        groups.push(summaries);
    }
    progress.finish_and_clear();
    if let Some(path) = &args.chart {
        servercore::chart::write_svg(path, &groups)?;
        if args.format != Format::Json {
            eprintln!("servercore: chart written to {}", path.display());
        }
    }
    let verified = groups.iter().flatten().all(Summary::verified);
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let config = args.server.config(ServerConfig::new(args.server.lesson))?;
    run_server("serve", args.addr, &config, |addr, config| {
        let server = echo::serve(addr, config)?;
        let local = server.local_addr();
        Ok((local, Box::new(move || server_shutdown(server))))
    })
}

fn run_room(args: &RoomArgs) -> Result<ExitCode, String> {
    let config = args.server.config(ServerConfig::room(args.server.lesson))?;
    run_server("room", args.addr, &config, |addr, config| {
        let room = RoomServer::start(addr, config)?;
        let local = room.local_addr();
        Ok((local, Box::new(move || room_shutdown(room))))
    })
}

/// Shuts an echo server down and reports.
fn server_shutdown(mut server: echo::Server) -> server::ShutdownReport {
    server.shutdown()
}

/// Shuts a room down and reports.
fn room_shutdown(mut room: RoomServer) -> server::ShutdownReport {
    room.shutdown()
}

/// What starting a server gives back: its address, and how to stop it.
type Started = (SocketAddr, Box<dyn FnOnce() -> server::ShutdownReport>);

/// `serve` and `room` alike: catch SIGINT/SIGTERM first, start, print
/// `listening on IP:PORT`, wait for a signal, shut down, print one summary
/// line, exit 0.
fn run_server(
    command: &str,
    addr: SocketAddr,
    config: &ServerConfig,
    start: impl FnOnce(SocketAddr, &ServerConfig) -> std::io::Result<Started>,
) -> Result<ExitCode, String> {
    // Signals are caught from here on, before anyone can learn our address.
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("cannot catch signals: {e}"))?;
    let (local, shutdown) =
        start(addr, config).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {local}");
        let _ = stdout.flush(); // a script waiting for the port reads it now
    }
    let lesson = config.lesson;
    eprintln!(
        "servercore {command}: lesson {lesson}, at most {} sessions, max packet {} bytes, queue limit {} bytes ({}{}); stop with Ctrl-C or SIGTERM",
        config.max_sessions,
        config.max_packet,
        config.backpressure.high_water,
        config.backpressure.policy,
        if lesson.has_queue() {
            ""
        } else {
            "; this lesson has no queue: senders block in the kernel"
        }
    );
    let signal = signals.forever().next();
    let report = shutdown();
    eprintln!(
        "servercore {command}: shut down{}: {report}",
        signal.map_or(String::new(), |s| format!(" on signal {s}"))
    );
    Ok(ExitCode::SUCCESS)
}

impl ServerArgs {
    /// `defaults` with the flags given applied, checked.
    fn config(&self, defaults: ServerConfig) -> Result<ServerConfig, String> {
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&self.max_packet) {
            return Err(format!(
                "--max-packet must be {HEADER_LEN}..={MAX_PACKET_LEN}"
            ));
        }
        if self.queue_limit == 0 {
            return Err("--queue-limit must be at least 1 byte".into());
        }
        if self.max_sessions == Some(0) {
            return Err("--max-sessions must be at least 1".into());
        }
        let policy = match self.policy {
            None => defaults.backpressure.policy,
            Some(PolicyArg::Block) => Policy::Block,
            Some(PolicyArg::Reject) => Policy::Reject,
            Some(PolicyArg::Disconnect) => Policy::Disconnect,
        };
        Ok(ServerConfig {
            max_packet: self.max_packet,
            backpressure: Backpressure::new(self.queue_limit, policy),
            max_sessions: self.max_sessions.unwrap_or(defaults.max_sessions),
            ..defaults
        })
    }
}

/// The help line of `--max-sessions`, with the default this machine gives.
fn max_sessions_help() -> String {
    format!(
        "The most sessions alive at once; a connection beyond it is closed at once and counted \
         (default: what this process's limits hold — memory maps, threads, open files — now {})",
        server::default_max_sessions()
    )
}

/// A lesson number on the command line, checked against the catalog.
fn parse_lesson(text: &str) -> Result<Lesson, String> {
    let list = || {
        Lesson::ALL
            .iter()
            .map(Lesson::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let number: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a lesson number; the send paths are {}", list()))?;
    Lesson::from_number(number).ok_or_else(|| {
        format!(
            "there is no send path {number}; the send paths are {}",
            list()
        )
    })
}

/// The help line of a `--lesson` flag, listing the catalog's lessons.
fn lesson_help(what: &str) -> String {
    format!(
        "The lesson whose send path {what} ({}; see `servercore compare --help`)",
        Lesson::numbers()
    )
}

fn run_client(args: &ClientArgs) -> Result<ExitCode, String> {
    match echo::run_client(args.addr, args.packets, args.payload) {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("echo check FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_bots(args: &BotsArgs) -> Result<ExitCode, String> {
    let config = BotsConfig {
        others: args.others,
        ..BotsConfig::new(args.addr, args.players, args.rate, args.seconds)
    };
    config.validate()?;
    let report = bots::run(&config).map_err(|e| format!("bots: {e}"))?;
    match args.format {
        BotsFormat::Table => print!("{}", bots::table(&report)),
        BotsFormat::Json => println!("{}", bots::json(&report)),
    }
    Ok(if report.verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON keys issue 2 defined stay, and the ceiling is a row of its own.
    #[test]
    fn json_keeps_its_keys_and_has_a_ceiling_row() {
        let args = CompareArgs::parse_from([
            "compare",
            "--lessons",
            "4",
            "--senders",
            "2",
            "--payload",
            "32",
            "--messages",
            "500",
        ]);
        let plan = plan(&args).unwrap();
        assert_eq!(plan.subjects[0], Subject::Ceiling);
        let workload = Workload {
            messages: 500,
            ..plan.workloads[0]
        };
        let mut summaries: Vec<Summary> = plan
            .subjects
            .iter()
            .map(|&s| {
                Summary::new(vec![
                    compare::run_subject(s, &workload, &plan.options).unwrap(),
                ])
            })
            .collect();
        compare::attach_ceiling(&mut summaries);
        let lines: Vec<String> = summaries.iter().map(compare::json_summary).collect();
        for line in &lines {
            for key in [
                "lesson",
                "name",
                "senders",
                "payload",
                "messages",
                "seconds",
                "msgs_per_sec",
                "bytes_per_sec",
                "write_calls",
                "wakeups",
                "verified",
                "p50_us",
                "p99_us",
                "p999_us",
                "ceiling_fraction",
                "msgs_per_sec_min",
                "msgs_per_sec_max",
            ] {
                assert!(
                    line.contains(&format!("\"{key}\":")),
                    "{key} missing in {line}"
                );
            }
            assert!(line.contains("\"verified\":true"), "{line}");
        }
        assert!(
            lines[0].starts_with("{\"lesson\":0,\"name\":\"ceiling\""),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("\"name\":\"batched_writer\""));
        assert!(lines[1].contains("\"messages\":500"));
        // Counted by the binary's counting allocator: a fresh packet per send.
        assert!(
            !lines[1].contains("\"allocs_per_msg\":null"),
            "{}",
            lines[1]
        );
        let csv = compare::csv_row(&summaries[1]);
        assert_eq!(csv.split(',').count(), compare::keys().len(), "{csv}");
    }
}
