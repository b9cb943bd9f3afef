//! `servercore serve` and `servercore room`: one server, two handlers.

use std::io::Write as _;
use std::net::SocketAddr;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::Failure;
use super::parse::{self, Address};
use crate::echo;
use crate::packet::{HEADER_LEN, MAX_PACKET_LEN};
use crate::server::{self, RoomServer, ServerConfig};
use crate::{Backpressure, Lesson, Policy};

/// `servercore serve`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (`HOST:PORT`); port 0 lets the OS pick one (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7777", value_parser = parse::address)]
    pub addr: Address,
    /// The send path, the limits, the cap.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `servercore room`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct RoomArgs {
    /// Address to listen on (`HOST:PORT`); port 0 lets the OS pick (the first line of output says which).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse::address)]
    pub addr: Address,
    /// The send path, the limits, the cap.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What `serve` and `room` share: the send path, the limits, the cap.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The lesson whose send path every session uses.
    #[arg(long, default_value = "4", value_parser = parse::lesson, help = lesson_help())]
    pub lesson: Lesson,
    /// Largest packet accepted, header included; a larger declared size closes the session.
    #[arg(
        long,
        default_value = parse::default_of(server::DEFAULT_MAX_PACKET),
        allow_negative_numbers = true,
        value_parser = parse::whole(HEADER_LEN, MAX_PACKET_LEN),
        help = format!(
            "Largest packet accepted, header included ({HEADER_LEN}..={MAX_PACKET_LEN}); \
             a larger declared size closes the session"
        )
    )]
    pub max_packet: usize,
    /// Per-session send queue limit in bytes (high-water mark; low-water mark at half),
    /// for every lesson with a queue (lessons 01 and 02 have none).
    #[arg(
        long,
        default_value = parse::default_of(server::DEFAULT_QUEUE_LIMIT),
        allow_negative_numbers = true,
        value_parser = parse::whole(1usize, usize::MAX)
    )]
    pub queue_limit: usize,
    /// What a full queue does to the sender: wait (`serve`'s default), refuse the packet,
    /// or evict the slow reader (`room`'s default: a blocked broadcaster would stall the room).
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
    /// The most sessions alive at once.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = parse::whole(1usize, usize::MAX),
        help = max_sessions_help()
    )]
    pub max_sessions: Option<usize>,
}

/// `--policy`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyArg {
    /// The sender waits until the queue drains to the low-water mark.
    Block,
    /// The send fails and the packet is dropped (for an echo: that echo is lost).
    Reject,
    /// The slow reader's session is disconnected.
    Disconnect,
}

impl ServerArgs {
    /// `defaults` with the flags given applied.
    fn config(&self, defaults: ServerConfig) -> ServerConfig {
        let policy = match self.policy {
            None => defaults.backpressure.policy,
            Some(PolicyArg::Block) => Policy::Block,
            Some(PolicyArg::Reject) => Policy::Reject,
            Some(PolicyArg::Disconnect) => Policy::Disconnect,
        };
        ServerConfig {
            max_packet: self.max_packet,
            backpressure: Backpressure::new(self.queue_limit, policy),
            max_sessions: self.max_sessions.unwrap_or(defaults.max_sessions),
            ..defaults
        }
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

/// The help line of a `--lesson` flag, listing the catalog's lessons.
fn lesson_help() -> String {
    format!(
        "The lesson whose send path every session uses ({}; see `servercore compare --help`)",
        Lesson::numbers()
    )
}

/// `servercore serve`.
pub(super) fn serve(args: &ServeArgs) -> Result<(), Failure> {
    let config = args.server.config(ServerConfig::new(args.server.lesson));
    run_server("serve", &args.addr, &config, |addr, config| {
        let mut server = echo::serve(addr, config)?;
        let local = server.local_addr();
        Ok((local, Box::new(move || server.shutdown())))
    })
}

/// `servercore room`.
pub(super) fn room(args: &RoomArgs) -> Result<(), Failure> {
    let config = args.server.config(ServerConfig::room(args.server.lesson));
    run_server("room", &args.addr, &config, |addr, config| {
        let mut room = RoomServer::start(addr, config)?;
        let local = room.local_addr();
        Ok((local, Box::new(move || room.shutdown())))
    })
}

/// What starting a server gives back: its address, and how to stop it.
type Started = (SocketAddr, Box<dyn FnOnce() -> server::ShutdownReport>);

/// `serve` and `room` alike: catch SIGINT/SIGTERM first, start, print
/// `listening on IP:PORT`, wait for a signal, shut down, print one summary
/// line.
fn run_server(
    command: &str,
    addr: &Address,
    config: &ServerConfig,
    start: impl FnOnce(SocketAddr, &ServerConfig) -> std::io::Result<Started>,
) -> Result<(), Failure> {
    // Signals are caught from here on, before anyone can learn our address.
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::Failed(format!("cannot catch signals: {e}")))?;
    let (local, shutdown) = start(addr.first(), config)
        .map_err(|e| Failure::Failed(format!("{command}: cannot listen on {addr}: {e}")))?;
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
    Ok(())
}
