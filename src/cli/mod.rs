//! The `servercore` command: its flags ([`Cli`]) and what each subcommand
//! runs. `src/main.rs` only parses and calls [`Cli::run`].
//!
//! ```text
//! cargo run --release                      # = servercore compare: every lesson, side by side
//! cargo run --release -- compare --lessons 2,4 --senders 4 --payload 32 --format json
//! cargo run --release -- compare --senders 1,4,16 --payload 32,512,4096 --runs 3 --seconds 0.3
//! cargo run --release -- compare --rate 2000 --senders 4 --payload 32      # latency mode
//! cargo run --release -- compare --queue-limit unlimited                  # the unbounded queues
//! cargo run --release -- compare --chart lessons/images/compare.svg
//! cargo run --release -- serve --addr 127.0.0.1:0 --lesson 4     # prints `listening on IP:PORT`
//! cargo run --release -- client --addr localhost:PORT --packets 1000 --payload 32
//! cargo run --release -- room --addr 127.0.0.1:0 --lesson 4   # prints `listening on IP:PORT`, runs until killed
//! cargo run --release -- bots --addr 127.0.0.1:PORT --players 100 --rate 10 --seconds 5 --format json
//! cargo run --release -- chart --room runs.jsonl --out lessons/images/room.svg
//! ```
//!
//! Exit codes, the same for every subcommand: 0 when everything ran and
//! was verified; 1 when a check failed or the run could not be done (no
//! server at the address, a run that was not verified); 2 for a usage
//! error (a bad flag or value, reported by `clap` with the flag's name).
//! Every error goes to stderr.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::Lesson;
use crate::compare::{Format, Plan, RunOptions, Summary};
use crate::packet::MAX_PAYLOAD_LEN;
use crate::server::DEFAULT_QUEUE_LIMIT;
use crate::workload::MIN_PAYLOAD;

mod clients;
pub mod parse;
mod servers;
mod trace;

pub use clients::{BotsArgs, ChartArgs, ClientArgs};
pub use servers::{RoomArgs, ServeArgs, ServerArgs};

use parse::QueueLimit;

/// Teaching send paths, measured: compare the lessons side by side on loopback.
#[derive(Parser, Debug)]
#[command(
    name = "servercore",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand, servercore runs `compare` with the flags given: \
                  `servercore --lessons 2,4` is `servercore compare --lessons 2,4`."
)]
pub struct Cli {
    /// What to run; `compare` when none is named.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `compare`'s flags, given without the subcommand.
    #[command(flatten)]
    pub compare: CompareArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Draw the room's comparison from `servercore bots --format json` lines.
    Chart(ChartArgs),
    /// Record a short, scripted run of one lesson on loopback and draw it as
    /// swimlanes (SVG): one lane per thread, the pending flag as a band, write
    /// calls as blocks, packets queued during a write marked.
    Trace(trace::TraceArgs),
}

/// `servercore compare`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// Lessons to run, by number, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse::lesson,
        default_value = parse::all_lessons(),
        help = lessons_help()
    )]
    pub lessons: Vec<Lesson>,
    /// Sender threads, all sending on one session; a list makes a matrix (e.g. `1,4,16`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "4",
        allow_negative_numbers = true,
        value_parser = parse::whole(1usize, usize::from(u16::MAX))
    )]
    pub senders: Vec<usize>,
    /// Payload bytes per packet; a list makes a matrix.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "32",
        allow_negative_numbers = true,
        value_parser = parse::whole(MIN_PAYLOAD, MAX_PAYLOAD_LEN),
        help = format!(
            "Payload bytes per packet, {MIN_PAYLOAD}..={MAX_PAYLOAD_LEN} (the header adds 2); \
             a list makes a matrix"
        )
    )]
    pub payload: Vec<usize>,
    /// Packets per lesson; by default each lesson is sized to run about `--seconds`.
    #[arg(long, allow_negative_numbers = true, value_parser = parse::whole(1u64, 1_000_000_000))]
    pub messages: Option<u64>,
    /// Target seconds per lesson and run when `--messages` is not given (at most 600).
    #[arg(
        long,
        default_value = "1",
        allow_negative_numbers = true,
        value_parser = parse::positive(600.0)
    )]
    pub seconds: f64,
    /// Runs of each lesson, 1..=100, round by round; the tables show the
    /// median and the min–max (3 by default: one 1-second run is at the
    /// mercy of what the scheduler did in that second).
    #[arg(
        long,
        default_value = "3",
        allow_negative_numbers = true,
        value_parser = parse::whole(1usize, 100)
    )]
    pub runs: usize,
    /// Latency mode: packets per second per sender, paced by deadlines; reports p50/p99/p99.9.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = parse::whole(1u64, 10_000_000)
    )]
    pub rate: Option<u64>,
    /// Lesson 10's queue limit for every lesson with a queue, in bytes
    /// (block policy): by default what `servercore serve` uses, so the
    /// numbers are a server's. `unlimited` (or `0`) runs the unbounded
    /// queues the lessons are first taught with.
    #[arg(
        long,
        value_name = "BYTES|unlimited",
        default_value = parse::default_of(DEFAULT_QUEUE_LIMIT),
        allow_negative_numbers = true,
        value_parser = parse::queue_limit
    )]
    pub queue_limit: QueueLimit,
    /// Leave out the ceiling (a pre-built stream in 64 KiB writes).
    #[arg(long)]
    pub no_ceiling: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also draw the charts (msgs/s, write calls per message) to this SVG
    /// file; checked before anything runs.
    #[arg(long, value_name = "FILE.svg", value_parser = parse::output_file)]
    pub chart: Option<std::path::PathBuf>,
}

impl Default for CompareArgs {
    fn default() -> CompareArgs {
        Cli::parse_from(["servercore"]).compare
    }
}

fn lessons_help() -> String {
    format!(
        "Lessons to run, by number, comma-separated ({}: {})",
        Lesson::numbers(),
        Lesson::ALL
            .iter()
            .map(Lesson::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A usage error `clap` did not catch (a combination of flags): exit 2.
    Usage(clap::Error),
    /// A check failed, or the run could not be done: exit 1. The message
    /// goes to stderr (it may be empty when the output already said it).
    Failed(String),
}

impl Failure {
    /// A usage error of subcommand `name`, formatted as `clap` formats its own.
    pub fn usage(name: &str, message: impl std::fmt::Display) -> Failure {
        let mut command = Cli::command();
        command.build(); // gives the subcommands their full names
        let kind = clap::error::ErrorKind::ValueValidation;
        let error = match command.find_subcommand_mut(name) {
            Some(sub) => sub.error(kind, message),
            None => command.error(kind, message),
        };
        Failure::Usage(error)
    }
}

impl Cli {
    /// Runs what the command line asks for, reports on stderr, and gives
    /// the exit code.
    pub fn run(self) -> ExitCode {
        let command = self.command.unwrap_or(Command::Compare(self.compare));
        // The server says what happens to its sessions (info); the rest only warns.
        let level = if matches!(command, Command::Serve(_)) {
            "info"
        } else {
            "warn"
        };
        // `trace` installs its own logger: it records the lessons' lines.
        if !matches!(command, Command::Trace(_)) {
            let _ =
                env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
                    .try_init();
        }
        let result = match command {
            Command::Compare(args) => run_compare(&args),
            Command::Serve(args) => servers::serve(&args),
            Command::Room(args) => servers::room(&args),
            Command::Client(args) => clients::client(&args),
            Command::Bots(args) => clients::bots(&args),
            Command::Chart(args) => clients::chart(&args),
            Command::Trace(args) => trace::run(&args),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(error)) => {
                let _ = error.print();
                ExitCode::from(2)
            }
            Err(Failure::Failed(message)) => {
                if !message.is_empty() {
                    eprintln!("servercore: {message}");
                }
                ExitCode::FAILURE
            }
        }
    }
}

/// The plan the flags describe.
pub fn plan(args: &CompareArgs) -> Plan {
    let options = RunOptions {
        rate: args.rate,
        queue_limit: args.queue_limit.bytes(),
    };
    let mut plan = Plan::new(
        &args.lessons,
        args.no_ceiling,
        &args.senders,
        &args.payload,
        options,
    );
    plan.messages = args.messages;
    plan.seconds = args.seconds;
    plan.runs = args.runs;
    plan
}

fn run_compare(args: &CompareArgs) -> Result<(), Failure> {
    let plan = plan(args);
    plan.check().map_err(|e| Failure::usage("compare", e))?;
    let groups = plan
        .print(args.format, std::io::stdout().lock())
        .map_err(Failure::Failed)?;
    if let Some(path) = &args.chart {
        crate::chart::write_svg(path, &groups).map_err(Failure::Failed)?;
        if args.format != Format::Json {
            eprintln!("servercore: chart written to {}", path.display());
        }
    }
    if groups.iter().flatten().all(Summary::verified) {
        Ok(())
    } else {
        Err(Failure::Failed(String::new())) // the table says which and why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("servercore").chain(args.iter().copied()))
    }

    fn compare_args(args: &[&str]) -> CompareArgs {
        match parse(args).unwrap() {
            Cli {
                command: Some(Command::Compare(c)),
                ..
            } => c,
            Cli {
                command: None,
                compare,
            } => compare,
            other => panic!("not compare: {other:?}"),
        }
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_every_lesson_bounded_as_a_server() {
        let args = CompareArgs::default();
        assert_eq!(args.lessons, Lesson::ALL);
        assert_eq!(args.queue_limit, QueueLimit::Bytes(DEFAULT_QUEUE_LIMIT));
        let plan = plan(&args);
        assert_eq!(plan.options.queue_limit, Some(DEFAULT_QUEUE_LIMIT));
        assert_eq!(
            plan.subjects.len(),
            Lesson::ALL.len() + 1,
            "the ceiling too"
        );
        let unlimited = compare_args(&["compare", "--queue-limit", "unlimited"]);
        assert_eq!(plan_of(&unlimited).options.queue_limit, None);
    }

    fn plan_of(args: &CompareArgs) -> Plan {
        plan(args)
    }

    #[test]
    fn compare_flags_work_without_the_subcommand() {
        let args = compare_args(&["--lessons", "2,4", "--senders", "1"]);
        assert_eq!(args.lessons, [Lesson::Locked, Lesson::BatchedWriter]);
        assert_eq!(args.senders, [1]);
        let error = parse(&["--lessons", "2", "serve"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict, "{error}");
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        for (args, flag, value) in [
            (&["compare", "--payload", "0"][..], "--payload", "0"),
            (&["compare", "--seconds", "-1"], "--seconds", "-1"),
            (&["compare", "--runs", "0"], "--runs", "0"),
            (&["compare", "--senders", "many"], "--senders", "many"),
            (&["compare", "--lessons", "99"], "--lessons", "99"),
            (
                &["client", "--addr", "nowhere", "--payload", "32"],
                "--addr",
                "nowhere",
            ),
            (
                &["client", "--addr", "127.0.0.1:1", "--payload", "0"],
                "--payload",
                "0",
            ),
            (
                &["bots", "--addr", "127.0.0.1:1", "--players", "-3"],
                "--players",
                "-3",
            ),
        ] {
            let error = parse(args).unwrap_err();
            let text = error.to_string();
            assert_eq!(error.kind(), ErrorKind::ValueValidation, "{args:?}: {text}");
            assert!(
                text.contains(flag) && text.contains(&format!("'{value}'")),
                "{args:?}: {text}"
            );
        }
        let text = parse(&["compare", "--lessons", "99"])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("01 naive") && text.contains("02 locked"),
            "{text}"
        );
    }

    #[test]
    fn help_shows_defaults_as_they_are_typed() {
        let help = Cli::command()
            .find_subcommand_mut("compare")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains(&format!("[default: {}]", parse::all_lessons())),
            "{help}"
        );
        assert!(
            help.contains(&format!("[default: {DEFAULT_QUEUE_LIMIT}]")),
            "{help}"
        );
        assert!(help.contains(&Lesson::numbers()), "{help}");
        // Every default shown parses back.
        let args = compare_args(&[
            "compare",
            "--lessons",
            parse::all_lessons(),
            "--queue-limit",
            &DEFAULT_QUEUE_LIMIT.to_string(),
        ]);
        assert_eq!(args.lessons, CompareArgs::default().lessons);
        let top = Cli::command().render_help().to_string();
        assert!(top.contains("servercore compare"), "{top}");
    }

    #[test]
    fn a_rate_too_fast_for_a_stamp_is_a_usage_error() {
        let args = compare_args(&["compare", "--rate", "100", "--payload", "8"]);
        let Err(Failure::Usage(error)) = run_compare(&args) else {
            panic!("a usage error")
        };
        assert!(error.to_string().contains("--payload"), "{error}");
    }
}
