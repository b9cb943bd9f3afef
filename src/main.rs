//! The `servercore` command.
//!
//! ```text
//! cargo run --release                      # = servercore compare: every lesson, side by side
//! cargo run --release -- compare --lessons 2,4 --senders 4 --payload 32 --format json
//! cargo run --release -- serve --addr 127.0.0.1:0 --lesson 4     # prints `listening on IP:PORT`
//! cargo run --release -- client --addr 127.0.0.1:PORT --packets 1000 --payload 32
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use servercore::compare::{self, Report, Workload};
use servercore::echo::{self, ServerConfig};
use servercore::packet::{HEADER_LEN, MAX_PACKET_LEN};
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
}

#[derive(Parser, Debug)]
struct ServeArgs {
    /// Address to listen on; port 0 lets the OS pick one (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7777")]
    addr: SocketAddr,
    /// The lesson whose send path every session uses (1-5).
    #[arg(long, default_value_t = 4)]
    lesson: u32,
    /// Largest packet accepted, header included (2..=65535); a larger declared size closes the session.
    #[arg(long, default_value_t = echo::DEFAULT_MAX_PACKET)]
    max_packet: usize,
    /// Per-session send queue limit in bytes (high-water mark; low-water mark at half). Lessons 3-5.
    #[arg(long, default_value_t = echo::DEFAULT_QUEUE_LIMIT)]
    queue_limit: usize,
    /// What a full queue does to the sender: wait, refuse the packet, or evict the slow reader.
    #[arg(long, value_enum, default_value_t = PolicyArg::Block)]
    policy: PolicyArg,
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
struct CompareArgs {
    /// Lessons to run, by number (e.g. `1,4`).
    #[arg(long, value_delimiter = ',', default_values_t = Lesson::ALL.map(Lesson::number))]
    lessons: Vec<u32>,
    /// Sender threads, all sending on one session.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Payload bytes per packet (6..=65533; the header adds 2).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Packets per lesson; by default each lesson is sized to run about `--seconds`.
    #[arg(long)]
    messages: Option<u64>,
    /// Target seconds per lesson when `--messages` is not given.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl Default for CompareArgs {
    fn default() -> CompareArgs {
        CompareArgs::parse_from(["compare"])
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// An aligned table for people.
    Table,
    /// One JSON object per lesson, one per line.
    Json,
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
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("servercore: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_compare(args: &CompareArgs) -> Result<ExitCode, String> {
    let lessons = args
        .lessons
        .iter()
        .map(|&n| Lesson::from_number(n).ok_or_else(|| format!("there is no lesson {n}")))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    let probe = Workload {
        senders: args.senders,
        payload: args.payload,
        messages: args.messages.unwrap_or(1),
    };
    probe.validate()?;
    if args.format == Format::Table {
        println!(
            "servercore compare: {} senders, {}-byte payloads, one loopback connection{}",
            args.senders,
            args.payload,
            match args.messages {
                Some(m) => format!(", {m} packets per lesson"),
                None => format!(", each lesson sized to about {} s", args.seconds),
            }
        );
    }
    let mut reports: Vec<Report> = Vec::new();
    for lesson in lessons {
        let messages = match args.messages {
            Some(m) => m,
            None => compare::calibrate(
                lesson,
                args.senders,
                args.payload,
                Duration::from_secs_f64(args.seconds),
            )
            .map_err(|e| format!("lesson {lesson}: {e}"))?,
        };
        let workload = Workload { messages, ..probe };
        let report =
            compare::run(lesson, &workload).map_err(|e| format!("lesson {lesson}: {e}"))?;
        if args.format == Format::Json {
            println!("{}", compare::json_line(&report));
        }
        reports.push(report);
    }
    if args.format == Format::Table {
        print!("{}", compare::table(&reports));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let lesson = Lesson::from_number(args.lesson)
        .ok_or_else(|| format!("there is no lesson {}", args.lesson))?;
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&args.max_packet) {
        return Err(format!(
            "--max-packet must be {HEADER_LEN}..={MAX_PACKET_LEN}"
        ));
    }
    if args.queue_limit == 0 {
        return Err("--queue-limit must be at least 1 byte".into());
    }
    let policy = match args.policy {
        PolicyArg::Block => Policy::Block,
        PolicyArg::Reject => Policy::Reject,
        PolicyArg::Disconnect => Policy::Disconnect,
    };
    let mut config = ServerConfig::new(lesson);
    config.session.max_packet = args.max_packet;
    config.session.backpressure = Backpressure::new(args.queue_limit, policy);
    // Signals are caught from here on, before anyone can learn our address.
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("cannot catch signals: {e}"))?;
    let mut server = echo::serve(args.addr, &config)
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", server.local_addr());
        let _ = stdout.flush();
    }
    log::info!(
        "lesson {lesson}, max packet {} bytes, queue limit {} bytes ({policy}{})",
        args.max_packet,
        args.queue_limit,
        if lesson.has_queue() {
            ""
        } else {
            "; this lesson has no queue: senders block in the kernel"
        }
    );
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal}: shutting down");
    }
    let report = server.shutdown();
    log::info!("shut down: {report}");
    Ok(ExitCode::SUCCESS)
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
