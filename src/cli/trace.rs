//! `servercore trace`: record a short, scripted run of one lesson and draw
//! it ([`crate::trace`]).

use std::path::PathBuf;

use super::{Failure, parse};
use crate::Lesson;
use crate::trace::{self, Kind, Script};

/// `servercore trace`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct TraceArgs {
    /// The lesson to record.
    #[arg(long, default_value = "3", value_parser = parse::lesson)]
    pub lesson: Lesson,
    /// Where to write the picture (SVG): one lane per thread, the pending flag as a band.
    #[arg(long)]
    pub svg: PathBuf,
    /// Sender threads (2..=8): sender 0 starts the held write, the others arrive during it.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=8))]
    pub senders: u16,
    /// Packets each of the other senders sends while the write is held (1..=50).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub burst: u32,
}

/// Records, checks, draws, and says what it recorded.
pub(super) fn run(args: &TraceArgs) -> Result<(), Failure> {
    // Fail on a bad path before the run, not after it.
    std::fs::write(&args.svg, "")
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", args.svg.display())))?;
    let script = Script {
        senders: args.senders,
        burst: args.burst,
        ..Script::default()
    };
    let events = trace::record(args.lesson, &script).map_err(|e| Failure::Failed(e.to_string()))?;
    let count = |f: fn(&Kind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    let writes = count(|k| *k == Kind::WriteBegins);
    let skipped = count(|k| *k == Kind::Enqueue { woke: false });
    let during: usize = events
        .iter()
        .filter_map(|e| match e.kind {
            Kind::Recheck { during } => Some(during),
            _ => None,
        })
        .sum();
    std::fs::write(&args.svg, trace::svg(args.lesson, &events))
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", args.svg.display())))?;
    println!(
        "lesson {}: {} lines recorded, {writes} write calls, {skipped} sends that found pending set, \
         {during} packets the re-check found queued during a write; picture in {}",
        args.lesson,
        events.len(),
        args.svg.display()
    );
    trace::check(args.lesson, &events, &script)
        .map_err(|problem| Failure::Failed(format!("the recording breaks an invariant: {problem}")))
}
