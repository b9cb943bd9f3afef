//! The `servercore` command: parses the command line and runs it
//! ([`servercore::cli`] has the flags and what each subcommand does).
//!
//! ```text
//! cargo run --release                      # = servercore compare: every lesson, side by side
//! cargo run --release -- compare --help    # and serve, client, room, bots, chart
//! ```

use std::process::ExitCode;

use clap::Parser;
use servercore::alloc_count::CountingAlloc;
use servercore::cli::Cli;

/// Counts each thread's allocations, so `compare` can show allocations per
/// packet. Its cost: one add to a thread-local counter per allocation (no
/// atomic, no shared cache line).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    Cli::parse().run()
}
