//! What a run of the bots measured ([`BotsReport`]), and how it is
//! printed: a short table for people, or one [`BotsRow`] as a JSON line or
//! a CSV record (the same row type, so the formats cannot drift apart).
//!
//! Latency goes into an HDR histogram ([`LatencyHistogram`], the
//! `hdrhistogram` crate), not a list of samples: a run delivers
//! `players² × rate × seconds` broadcasts — 40 million at 1,000 players ×
//! 20/s × 2 s — so exact percentiles would need 8 bytes per broadcast
//! (320 MB), while a histogram per player is a few tens of kilobytes
//! whatever the count, merges by adding, and is within 1 % (two
//! significant digits), far finer than the milliseconds to seconds it
//! reports.

use std::fmt::Write as _;
use std::io;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::human::thousands;
use crate::lessons::lesson12_room::protocol::RoomStats;

/// Output formats of `servercore bots`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BotsFormat {
    /// An aligned table for people.
    Table,
    /// One JSON object on one line: a [`BotsRow`].
    Json,
    /// A header line and one record: a [`BotsRow`].
    Csv,
}

/// Update-to-delivery latencies, in microseconds, in an HDR histogram
/// (two significant digits: each value within 1 %). Mergeable, and of a
/// size that does not grow with the count.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram {
            histogram: Histogram::new(2).expect("2 significant digits are valid"),
        }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        LatencyHistogram::default()
    }

    /// Records one latency, in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        // Auto-resizing: the histogram grows to any value recorded.
        if self.histogram.record(ns / 1_000).is_err() {
            self.histogram.saturating_record(ns / 1_000);
        }
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.histogram
            .add(&other.histogram)
            .expect("auto-resizing histograms of the same precision add");
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q`-quantile (0..=1) in microseconds (0 when empty).
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(q) as f64
    }

    /// The largest sample, in microseconds (within the histogram's precision).
    pub fn max_us(&self) -> f64 {
        self.histogram.max() as f64
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct BotsReport {
    /// Players the bots connected.
    pub players: usize,
    /// Players in the room that were not the bots' (they send nothing).
    pub others: usize,
    /// Updates each player sent per second.
    pub rate: f64,
    /// Seconds of sending asked for.
    pub seconds: f64,
    /// Updates the players sent, in all.
    pub updates_sent: u64,
    /// Broadcasts the players should receive: players × updates sent.
    pub broadcasts_expected: u64,
    /// Broadcasts that arrived and passed every check.
    pub broadcasts_received: u64,
    /// From the first update's deadline to the last broadcast's arrival, seconds.
    pub elapsed: f64,
    /// From the first update's deadline to the last update's send, seconds
    /// (more than `seconds` when the room held the players back).
    pub send_elapsed: f64,
    /// Update-to-delivery latency of every broadcast.
    pub latency: LatencyHistogram,
    /// The room's counters for this run (after minus before), if it answered.
    pub room: Option<RoomStats>,
    /// Why the run is not verified, if it is not.
    pub problem: Option<String>,
}

impl BotsReport {
    /// True when every expected broadcast arrived, in per-sender order,
    /// intact, and the room counted exactly as many deliveries.
    pub fn verified(&self) -> bool {
        self.problem.is_none()
    }

    /// Delivered broadcasts per second, over [`elapsed`](BotsReport::elapsed).
    pub fn delivered_per_sec(&self) -> f64 {
        self.broadcasts_received as f64 / self.elapsed.max(1e-9)
    }

    /// The server's write system calls per delivered broadcast (0 if unknown).
    pub fn writes_per_delivery(&self) -> f64 {
        self.room.map_or(0.0, |r| r.writes_per_delivery())
    }

    /// The report as a [`BotsRow`].
    pub fn row(&self) -> BotsRow {
        let room = self.room.unwrap_or_default();
        BotsRow {
            lesson: room.lesson,
            players: self.players,
            others: self.others,
            rate: self.rate,
            seconds: self.seconds,
            updates_sent: self.updates_sent,
            broadcasts_expected: self.broadcasts_expected,
            broadcasts_received: self.broadcasts_received,
            send_seconds: self.send_elapsed,
            elapsed_seconds: self.elapsed,
            delivered_per_sec: self.delivered_per_sec(),
            latency_p50_us: self.latency.quantile_us(0.50),
            latency_p99_us: self.latency.quantile_us(0.99),
            latency_max_us: self.latency.max_us(),
            server_deliveries: room.deliveries,
            server_write_calls: room.write_calls,
            server_bytes_written: room.bytes_written,
            server_wakeups: room.wakeups,
            server_batches: room.batches,
            writes_per_delivery: self.writes_per_delivery(),
            verified: self.verified(),
            problem: self.problem.clone(),
        }
    }
}

/// One run of the bots as a line of `--format json` or a record of
/// `--format csv`. `servercore chart --room` reads these lines back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotsRow {
    /// The lesson whose send path the room's sessions use (0: the room did not say).
    pub lesson: u8,
    /// Players the bots connected.
    pub players: usize,
    /// Players in the room that were not the bots'.
    pub others: usize,
    /// Updates each player sent per second.
    pub rate: f64,
    /// Seconds of sending asked for.
    pub seconds: f64,
    /// Updates the players sent, in all.
    pub updates_sent: u64,
    /// Broadcasts expected: players × updates sent.
    pub broadcasts_expected: u64,
    /// Broadcasts that arrived and passed every check.
    pub broadcasts_received: u64,
    /// Seconds from the first update's deadline to the last update's send.
    pub send_seconds: f64,
    /// Seconds from the first update's deadline to the last broadcast's arrival.
    pub elapsed_seconds: f64,
    /// Broadcasts received by all players together, per second of `elapsed_seconds`.
    pub delivered_per_sec: f64,
    /// Median update-to-delivery latency, µs.
    pub latency_p50_us: f64,
    /// 99th percentile latency, µs.
    pub latency_p99_us: f64,
    /// The slowest broadcast, µs.
    pub latency_max_us: f64,
    /// Broadcast sends the room's sessions accepted during the run.
    pub server_deliveries: u64,
    /// The room's write system calls during the run (all sessions).
    pub server_write_calls: u64,
    /// Bytes those calls wrote.
    pub server_bytes_written: u64,
    /// The room's writer wake-ups during the run.
    pub server_wakeups: u64,
    /// The room's writer batches during the run.
    pub server_batches: u64,
    /// Server write calls per delivered broadcast.
    pub writes_per_delivery: f64,
    /// Every broadcast arrived, in per-sender order, intact, and the room
    /// counted as many deliveries.
    pub verified: bool,
    /// Why not, when not verified.
    pub problem: Option<String>,
}

/// The report as a short table for people.
pub fn table(r: &BotsReport) -> String {
    let mut out = String::new();
    let lesson = r
        .room
        .map_or("?".to_string(), |room| format!("{:02}", room.lesson));
    let _ = writeln!(
        out,
        "servercore bots: {} players x {} updates/s x {} s, room on lesson {lesson}",
        r.players, r.rate, r.seconds
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "  {k:<34} {v}");
    };
    row("updates sent", thousands(r.updates_sent as f64));
    row(
        "broadcasts expected",
        thousands(r.broadcasts_expected as f64),
    );
    row(
        "broadcasts received",
        thousands(r.broadcasts_received as f64),
    );
    row(
        "seconds: sending / last delivery",
        format!("{:.2} / {:.2}", r.send_elapsed, r.elapsed),
    );
    row("delivered broadcasts/s", thousands(r.delivered_per_sec()));
    row(
        "latency p50 / p99 / max (ms)",
        format!(
            "{:.2} / {:.2} / {:.2}",
            r.latency.quantile_us(0.50) / 1e3,
            r.latency.quantile_us(0.99) / 1e3,
            r.latency.max_us() / 1e3
        ),
    );
    if let Some(room) = r.room {
        row("server write calls", thousands(room.write_calls as f64));
        row(
            "server write calls per broadcast",
            format!("{:.5}", room.writes_per_delivery()),
        );
    }
    row(
        "verified",
        if r.verified() {
            "yes".into()
        } else {
            "NO".into()
        },
    );
    if let Some(p) = &r.problem {
        row("problem", p.clone());
    }
    out
}

/// The report as one JSON object on one line (no line end): its [`BotsRow`].
pub fn json(r: &BotsReport) -> String {
    serde_json::to_string(&r.row()).expect("a row serializes")
}

/// The keys of a JSON line and the columns of the CSV header, in order:
/// [`BotsRow`]'s fields, as `serde` names them.
pub fn keys() -> Vec<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer
        .serialize(BotsRow::default())
        .expect("a row serializes");
    let bytes = writer.into_inner().expect("a Vec takes every byte");
    let text = String::from_utf8(bytes).expect("field names are UTF-8");
    let header = text.lines().next().unwrap_or_default();
    header.split(',').map(str::to_owned).collect()
}

/// The report as CSV: a header line and one record, each ending in a line end.
pub fn csv(r: &BotsReport) -> io::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.serialize(r.row()).map_err(io::Error::other)?;
    let bytes = writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    String::from_utf8(bytes).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record_ns(us * 1_000);
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((p50 - 5_000.0).abs() < 5_000.0 * 0.01, "{p50}");
        assert!((p99 - 9_900.0).abs() < 9_900.0 * 0.01, "{p99}");
        assert!((h.max_us() - 10_000.0).abs() < 100.0, "{}", h.max_us());
        let mut sum = LatencyHistogram::new();
        sum.merge(&h);
        sum.merge(&h);
        assert_eq!(sum.count(), 20_000);
        assert_eq!(LatencyHistogram::new().quantile_us(0.5), 0.0);
    }

    #[test]
    fn json_and_csv_carry_the_same_row() {
        let report = BotsReport {
            players: 3,
            others: 0,
            rate: 10.0,
            seconds: 1.0,
            updates_sent: 30,
            broadcasts_expected: 90,
            broadcasts_received: 89,
            elapsed: 1.5,
            send_elapsed: 1.0,
            latency: LatencyHistogram::new(),
            room: Some(RoomStats {
                lesson: 4,
                ..RoomStats::default()
            }),
            problem: Some("player 1: a \"quote\", a comma\nand a line".into()),
        };
        let row: BotsRow = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(row, report.row());
        assert_eq!(row.lesson, 4);
        let text = csv(&report).unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let back: BotsRow = reader.deserialize().next().unwrap().unwrap();
        assert_eq!(back, row);
        assert!(table(&report).contains("NO"));
    }
}
