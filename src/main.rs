//! The `servercore` command.
//!
//! ```text
//! cargo run --release                      # = servercore compare: every lesson, side by side
//! cargo run --release -- compare --lessons 2,4 --senders 4 --payload 32 --format json
//! cargo run --release -- room --addr 127.0.0.1:0 --lesson 4   # prints `listening on IP:PORT`, runs until killed
//! cargo run --release -- bots --addr 127.0.0.1:PORT --players 100 --rate 10 --seconds 5 --format json
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use servercore::Lesson;
use servercore::bots::{self, BotsConfig};
use servercore::compare::{self, Report, Workload};
use servercore::lessons::lesson10_room::RoomServer;
use servercore::net::SocketOptions;

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
    /// Lesson 10: a broadcast room. Every position update a player sends goes
    /// to every player. Prints `listening on IP:PORT` first; runs until killed.
    Room(RoomArgs),
    /// Lesson 10: N players for a room, each sending R updates/s for S seconds
    /// and checking every broadcast it receives.
    Bots(BotsArgs),
}

#[derive(Parser, Debug)]
struct RoomArgs {
    /// Address to listen on; port 0 lets the OS pick (the first line of output says which).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The lesson whose send path every player's session uses (1-5).
    #[arg(long, default_value_t = 4)]
    lesson: u32,
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
    /// Seconds of sending.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli
        .command
        .unwrap_or(Command::Compare(CompareArgs::default()))
    {
        Command::Compare(args) => run_compare(&args),
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

fn run_room(args: &RoomArgs) -> Result<ExitCode, String> {
    let lesson = Lesson::from_number(args.lesson)
        .ok_or_else(|| format!("there is no lesson {}", args.lesson))?;
    let server = RoomServer::start(args.addr, lesson, SocketOptions::default())
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", server.local_addr());
    let _ = stdout.flush(); // a script waiting for the port reads it now
    eprintln!("room: lesson {lesson}; stop it with Ctrl-C or kill");
    // The room lives on the accept and session threads; this thread has
    // nothing left to do. Until killed (not until stdin closes: a room
    // started in the background of a script gets /dev/null as stdin).
    loop {
        std::thread::park();
    }
}

fn run_bots(args: &BotsArgs) -> Result<ExitCode, String> {
    let config = BotsConfig::new(args.addr, args.players, args.rate, args.seconds);
    config.validate()?;
    let report = bots::run(&config).map_err(|e| format!("bots: {e}"))?;
    match args.format {
        Format::Table => print!("{}", bots::table(&report)),
        Format::Json => println!("{}", bots::json(&report)),
    }
    Ok(if report.verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
