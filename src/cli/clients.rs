//! `servercore client`, `servercore bots` and `servercore chart`: the
//! programs that talk to a running server, or draw what they measured.
//!
//! `client` and `bots` agree: a usage error exits 2 (clap's), anything
//! that fails against the server exits 1, and the error — on stderr —
//! names the address, with a hint when nothing listens there.

use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::Failure;
use super::parse::{self, Address};
use crate::bots::{self, BotsConfig, BotsFormat};
use crate::chart;
use crate::echo::Client;
use crate::packet::MAX_PAYLOAD_LEN;
use crate::workload::MIN_PAYLOAD;

/// `servercore client`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The echo server's address (`HOST:PORT`, e.g. `localhost:7777`).
    #[arg(long, value_parser = parse::address)]
    pub addr: Address,
    /// Packets to send.
    #[arg(
        long,
        default_value = "1000",
        allow_negative_numbers = true,
        value_parser = parse::whole(1u32, u32::MAX)
    )]
    pub packets: u32,
    /// Payload bytes per packet.
    #[arg(
        long,
        default_value = "32",
        allow_negative_numbers = true,
        value_parser = parse::whole(MIN_PAYLOAD, MAX_PAYLOAD_LEN),
        help = format!("Payload bytes per packet, {MIN_PAYLOAD}..={MAX_PAYLOAD_LEN} (the header adds 2)")
    )]
    pub payload: usize,
}

/// `servercore bots`' flags.
#[derive(clap::Args, Debug, Clone)]
pub struct BotsArgs {
    /// The room's address (`HOST:PORT`).
    #[arg(long, value_parser = parse::address)]
    pub addr: Address,
    /// Players to connect, 1..=60000.
    #[arg(
        long,
        default_value = "100",
        allow_negative_numbers = true,
        value_parser = parse::whole(1usize, 60_000)
    )]
    pub players: usize,
    /// Position updates each player sends per second (at most 10000).
    #[arg(
        long,
        default_value = "10",
        allow_negative_numbers = true,
        value_parser = parse::positive(10_000.0)
    )]
    pub rate: f64,
    /// Players already in the room that are not ours and send nothing (a stuck player, say).
    #[arg(
        long,
        default_value = "0",
        allow_negative_numbers = true,
        value_parser = parse::whole(0usize, 60_000)
    )]
    pub others: usize,
    /// Seconds of sending (at most 3600).
    #[arg(
        long,
        default_value = "5",
        allow_negative_numbers = true,
        value_parser = parse::positive(3_600.0)
    )]
    pub seconds: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: BotsFormat,
}

/// `servercore chart`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ChartArgs {
    /// Files of `servercore bots --format json` lines (`-` for stdin); other
    /// lines in them (a script's notes) are skipped. Rows of the same room
    /// size and lesson are runs of it: drawn as their median and min–max.
    #[arg(long = "room", value_name = "FILE", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// The SVG file to write; checked before anything is read.
    #[arg(long, value_name = "FILE.svg", value_parser = parse::output_file)]
    pub out: PathBuf,
}

/// Whether `error` means nobody is listening at the address.
fn nobody_there(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Tries `connect` on every address `addr` resolved to, in order, while
/// nobody is there; the last error names the address and gives `hint`.
fn first_reachable<T>(
    addr: &Address,
    hint: &str,
    mut connect: impl FnMut(SocketAddr) -> io::Result<T>,
) -> Result<T, Failure> {
    let mut last = None;
    for &a in &addr.addrs {
        match connect(a) {
            Err(e) if nobody_there(&e) => last = Some(e),
            Err(e) => return Err(Failure::Failed(format!("{addr}: {e}"))),
            Ok(t) => return Ok(t),
        }
    }
    let e = last.expect("an address resolves to at least one");
    Err(Failure::Failed(format!(
        "cannot connect to {addr}: {e}; is `{hint}` running there?"
    )))
}

/// `servercore client`.
pub(super) fn client(args: &ClientArgs) -> Result<(), Failure> {
    let hint = format!("servercore serve --addr {}", args.addr);
    let mut client = first_reachable(&args.addr, &hint, |a| Client::connect(a, args.payload))
        .map_err(|f| match f {
            Failure::Failed(m) => Failure::Failed(format!("client: {m}")),
            usage => usage,
        })?;
    let checked = client.exchange(args.packets).and_then(|()| client.finish());
    match checked {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(e) => Err(Failure::Failed(format!(
            "client: echo check FAILED against {}: {e}",
            args.addr
        ))),
    }
}

/// `servercore bots`.
pub(super) fn bots(args: &BotsArgs) -> Result<(), Failure> {
    let hint = format!("servercore room --addr {}", args.addr);
    let report = first_reachable(&args.addr, &hint, |a| {
        let config = BotsConfig {
            others: args.others,
            ..BotsConfig::new(a, args.players, args.rate, args.seconds)
        };
        bots::run(&config)
    })
    .map_err(|f| match f {
        Failure::Failed(m) => Failure::Failed(format!("bots: {m}")),
        usage => usage,
    })?;
    match args.format {
        BotsFormat::Table => print!("{}", bots::table(&report)),
        BotsFormat::Json => println!("{}", bots::json(&report)),
        BotsFormat::Csv => print!(
            "{}",
            bots::csv(&report).map_err(|e| Failure::Failed(e.to_string()))?
        ),
    }
    if report.verified() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "bots: not verified against {}: {}",
            args.addr,
            report.problem.as_deref().unwrap_or("")
        )))
    }
}

/// `servercore chart --room FILE... --out FILE.svg`.
pub(super) fn chart(args: &ChartArgs) -> Result<(), Failure> {
    let mut rows = Vec::new();
    for input in &args.inputs {
        let mut text = String::new();
        let read = if input.as_os_str() == "-" {
            io::stdin().read_to_string(&mut text).map(|_| ())
        } else {
            std::fs::read_to_string(input).map(|t| text = t)
        };
        read.map_err(|e| Failure::Failed(format!("cannot read {}: {e}", input.display())))?;
        let more = chart::read_bots_rows(&text)
            .map_err(|e| Failure::Failed(format!("{}: {e}", input.display())))?;
        rows.extend(more);
    }
    if rows.is_empty() {
        return Err(Failure::Failed(
            "no `servercore bots --format json` lines in the input".into(),
        ));
    }
    chart::room_figure(&rows)
        .write(&args.out)
        .map_err(Failure::Failed)?;
    eprintln!(
        "servercore: chart of {} runs written to {}",
        rows.len(),
        args.out.display()
    );
    Ok(())
}
