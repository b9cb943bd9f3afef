//! How many sessions this process can hold: the limits a thread per
//! session runs into, read from the kernel (Linux: `/proc/sys` and
//! `getrlimit(2)`), and the cap they give.

/// Threads a session costs: its reader and its writer (lessons 03 on).
const THREADS_PER_SESSION: u64 = 2;

/// Memory maps a thread costs: its stack, the guard page below it, and the
/// signal stack (with its own guard) `std` maps for stack-overflow reports.
const MAPS_PER_THREAD: u64 = 4;

/// File descriptors a session costs: its socket, and the clone its send path writes to.
const FDS_PER_SESSION: u64 = 2;

/// What the rest of the process needs, kept out of every budget: the
/// binary's own maps, the listener, the acceptor, logging, the closers at
/// shutdown.
const RESERVE: u64 = 1024;

/// The most sessions `servercore serve` and `room` accept at once unless
/// told otherwise (`--max-sessions`): the largest number whose threads,
/// memory maps and file descriptors all fit this process's limits, with
/// a reserve of 1,024 of each to spare —
///
/// * `vm.max_map_count` ÷ (2 threads × 4 maps),
/// * `kernel.threads-max` and `RLIMIT_NPROC` ÷ 2 threads,
/// * `RLIMIT_NOFILE` ÷ 2 descriptors,
///
/// read from `/proc/sys` and `getrlimit(2)` (Linux). A limit that cannot be
/// read does not count. At least 1.
pub fn default_max_sessions() -> usize {
    session_budget(&Limits::of_this_process())
}

/// The limits [`default_max_sessions`] reads, `None` where unknown or unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `vm.max_map_count`: memory maps per process.
    pub max_map_count: Option<u64>,
    /// The smaller of `kernel.threads-max` and `RLIMIT_NPROC` (soft).
    pub max_threads: Option<u64>,
    /// `RLIMIT_NOFILE` (soft): open file descriptors.
    pub max_files: Option<u64>,
}

impl Limits {
    /// This process's limits, as the kernel reports them now.
    pub fn of_this_process() -> Limits {
        let proc =
            |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
        let rlimit = |resource| -> Option<u64> {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit only writes the struct we pass it.
            let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
            (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
        };
        let threads = [
            proc("/proc/sys/kernel/threads-max"),
            rlimit(libc::RLIMIT_NPROC),
        ];
        Limits {
            max_map_count: proc("/proc/sys/vm/max_map_count"),
            max_threads: threads.into_iter().flatten().min(),
            max_files: rlimit(libc::RLIMIT_NOFILE),
        }
    }
}

/// The sessions that fit `limits` (see [`default_max_sessions`]).
pub fn session_budget(limits: &Limits) -> usize {
    limits
        .budgets()
        .into_iter()
        .filter_map(|(_, budget)| budget)
        .min()
        .unwrap_or(u64::MAX)
        .clamp(1, usize::MAX as u64) as usize
}

impl Limits {
    /// Sessions each limit allows on its own, named: the smallest is the cap.
    pub fn budgets(&self) -> [(&'static str, Option<u64>); 3] {
        let fit = |limit: Option<u64>, per_session: u64| {
            limit.map(|l| l.saturating_sub(RESERVE) / per_session)
        };
        [
            (
                "vm.max_map_count",
                fit(self.max_map_count, THREADS_PER_SESSION * MAPS_PER_THREAD),
            ),
            (
                "threads (kernel.threads-max, RLIMIT_NPROC)",
                fit(self.max_threads, THREADS_PER_SESSION),
            ),
            (
                "open files (RLIMIT_NOFILE)",
                fit(self.max_files, FDS_PER_SESSION),
            ),
        ]
    }
}
