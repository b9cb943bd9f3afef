//! What `servercore compare` prints: an aligned table for people, or one
//! [`Row`] per lesson and workload as JSON lines or CSV.
//!
//! [`Row`] is the one description of a machine-readable line: `serde`
//! writes it as JSON ([`json_summary`]) and the `csv` crate as a CSV record
//! under a header made from the same fields ([`keys`]), so the two formats
//! and the documented key list cannot drift apart.

use std::fmt::Write as _;
use std::io;

use serde::{Deserialize, Serialize};

use super::{Report, RunOptions, Summary, Workload};
use crate::catalog::Lesson;
use crate::human::{si, thousands};

/// Output formats of `servercore compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables for people, one per workload.
    Table,
    /// One JSON object per lesson and workload, one per line.
    Json,
    /// A header line, then one line per lesson and workload.
    Csv,
}

/// One lesson (or the ceiling) on one workload, summarized over its runs:
/// a line of `--format json`, a record of `--format csv`.
///
/// Figures are medians over the runs; `_min`/`_max` give their spread.
/// Raw counters (`write_calls`, `wakeups`, …) are those of the median run
/// (by msgs/s). A missing figure is `null` in JSON and an empty field in
/// CSV: latency outside latency mode, allocations when they are not
/// counted, the ceiling fraction in latency mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The lesson's number; 0 for the ceiling.
    pub lesson: u32,
    /// The lesson's short name, or `ceiling`.
    pub name: String,
    /// Sender threads.
    pub senders: usize,
    /// Payload bytes per packet.
    pub payload: usize,
    /// Latency mode: packets per second per sender.
    pub rate: Option<u64>,
    /// The queue limit in bytes (block policy); `None`: unbounded.
    pub queue_limit: Option<usize>,
    /// Runs summarized.
    pub runs: usize,
    /// Packets per run.
    pub messages: u64,
    /// Seconds of the median run.
    pub seconds: f64,
    /// Packets delivered per second.
    pub msgs_per_sec: f64,
    /// Bytes (headers included) delivered per second.
    pub bytes_per_sec: f64,
    /// Write system calls of the median run.
    pub write_calls: u64,
    /// Write calls per packet.
    pub writes_per_msg: f64,
    /// Writer wake-ups of the median run.
    pub wakeups: u64,
    /// Wake-ups per packet.
    pub wakeups_per_msg: f64,
    /// Batches the writer took, median run.
    pub batches: u64,
    /// Packets in the largest batch, median run.
    pub max_batch: u64,
    /// The most bytes queued at once, median run (0 when unbounded: not counted).
    pub max_queued_bytes: u64,
    /// Packets the receiver verified, median run.
    pub received: u64,
    /// bytes/s as a fraction of the ceiling's in the same round.
    pub ceiling_fraction: Option<f64>,
    /// Sender allocations per packet.
    pub allocs_per_msg: Option<f64>,
    /// Latency mode: median send-to-receive latency, µs.
    pub p50_us: Option<f64>,
    /// Latency mode: 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// Latency mode: 99.9th percentile, µs.
    pub p999_us: Option<f64>,
    /// Smallest msgs/s of the runs.
    pub msgs_per_sec_min: f64,
    /// Largest msgs/s of the runs.
    pub msgs_per_sec_max: f64,
    /// Smallest bytes/s.
    pub bytes_per_sec_min: f64,
    /// Largest bytes/s.
    pub bytes_per_sec_max: f64,
    /// Smallest write calls per packet.
    pub writes_per_msg_min: f64,
    /// Largest write calls per packet.
    pub writes_per_msg_max: f64,
    /// Smallest wake-ups per packet.
    pub wakeups_per_msg_min: f64,
    /// Largest wake-ups per packet.
    pub wakeups_per_msg_max: f64,
    /// Smallest ceiling fraction.
    pub ceiling_fraction_min: Option<f64>,
    /// Largest ceiling fraction.
    pub ceiling_fraction_max: Option<f64>,
    /// Smallest allocations per packet.
    pub allocs_per_msg_min: Option<f64>,
    /// Largest allocations per packet.
    pub allocs_per_msg_max: Option<f64>,
    /// Smallest p50.
    pub p50_us_min: Option<f64>,
    /// Largest p50.
    pub p50_us_max: Option<f64>,
    /// Smallest p99.
    pub p99_us_min: Option<f64>,
    /// Largest p99.
    pub p99_us_max: Option<f64>,
    /// Smallest p99.9.
    pub p999_us_min: Option<f64>,
    /// Largest p99.9.
    pub p999_us_max: Option<f64>,
    /// Every run arrived whole, in per-sender order.
    pub verified: bool,
    /// Why not, when not verified.
    pub problem: Option<String>,
}

/// One figure of a run (`None` where the run does not have it).
type Figure = fn(&Report) -> Option<f64>;

impl Row {
    /// The row of `s`.
    pub fn of(s: &Summary) -> Row {
        let m = s.median_run();
        let spread = |f: Figure| s.spread(f);
        let (median, min, max) = (
            |f: Figure| spread(f).map(|x| x.median),
            |f: Figure| spread(f).map(|x| x.min),
            |f: Figure| spread(f).map(|x| x.max),
        );
        let msgs: Figure = |r| Some(r.msgs_per_sec());
        let bytes: Figure = |r| Some(r.bytes_per_sec());
        let writes: Figure = |r| Some(r.stats.writes_per_send());
        let wakeups: Figure = |r| Some(r.stats.wakeups_per_send());
        let p50: Figure = |r| r.latency.map(|l| l.p50_us);
        let p99: Figure = |r| r.latency.map(|l| l.p99_us);
        let p999: Figure = |r| r.latency.map(|l| l.p999_us);
        let always = |x: Option<f64>| x.unwrap_or(0.0); // one run at least
        Row {
            lesson: s.subject().number(),
            name: s.subject().name().to_owned(),
            senders: m.workload.senders,
            payload: m.workload.payload,
            rate: m.options.rate,
            queue_limit: m.options.queue_limit,
            runs: s.runs.len(),
            messages: m.workload.messages,
            seconds: m.seconds,
            msgs_per_sec: always(median(msgs)),
            bytes_per_sec: always(median(bytes)),
            write_calls: m.stats.write_calls,
            writes_per_msg: always(median(writes)),
            wakeups: m.stats.wakeups,
            wakeups_per_msg: always(median(wakeups)),
            batches: m.stats.batches,
            max_batch: m.stats.max_batch,
            max_queued_bytes: m.stats.max_queued_bytes,
            received: m.received,
            ceiling_fraction: median(Report::ceiling_fraction),
            allocs_per_msg: median(Report::allocs_per_msg),
            p50_us: median(p50),
            p99_us: median(p99),
            p999_us: median(p999),
            msgs_per_sec_min: always(min(msgs)),
            msgs_per_sec_max: always(max(msgs)),
            bytes_per_sec_min: always(min(bytes)),
            bytes_per_sec_max: always(max(bytes)),
            writes_per_msg_min: always(min(writes)),
            writes_per_msg_max: always(max(writes)),
            wakeups_per_msg_min: always(min(wakeups)),
            wakeups_per_msg_max: always(max(wakeups)),
            ceiling_fraction_min: min(Report::ceiling_fraction),
            ceiling_fraction_max: max(Report::ceiling_fraction),
            allocs_per_msg_min: min(Report::allocs_per_msg),
            allocs_per_msg_max: max(Report::allocs_per_msg),
            p50_us_min: min(p50),
            p50_us_max: max(p50),
            p99_us_min: min(p99),
            p99_us_max: max(p99),
            p999_us_min: min(p999),
            p999_us_max: max(p999),
            verified: s.verified(),
            problem: s.problem().map(str::to_owned),
        }
    }
}

/// The keys of a JSON line and the columns of the CSV header, in order:
/// [`Row`]'s fields, as `serde` names them.
pub fn keys() -> Vec<String> {
    csv_header().split(',').map(str::to_owned).collect()
}

/// One summary as a line of JSON: a [`Row`].
pub fn json_summary(s: &Summary) -> String {
    serde_json::to_string(&Row::of(s)).expect("a row serializes")
}

/// One report as a line of JSON (a summary of one run: [`json_summary`]).
pub fn json_line(r: &Report) -> String {
    json_summary(&Summary::new(vec![r.clone()]))
}

/// The CSV header line (no line end): [`keys`], comma-separated.
pub fn csv_header() -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(Row::default()).expect("a row serializes");
    let bytes = writer.into_inner().expect("a Vec takes every byte");
    let text = String::from_utf8(bytes).expect("field names are UTF-8");
    text.lines().next().unwrap_or_default().to_owned()
}

/// One summary as a CSV record (no line end), in the columns of
/// [`csv_header`], quoted as CSV needs.
pub fn csv_row(s: &Summary) -> String {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.serialize(Row::of(s)).expect("a row serializes");
    let bytes = writer.into_inner().expect("a Vec takes every byte");
    let text = String::from_utf8(bytes).expect("a row is UTF-8");
    text.trim_end_matches(['\r', '\n']).to_owned()
}

/// Writes summaries in one [`Format`], group by group (one group per
/// workload): a table per group, or JSON lines, or one CSV table with one
/// header for all groups.
pub struct Printer<W: io::Write> {
    format: Format,
    out: Sink<W>,
    groups: usize,
}

enum Sink<W: io::Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: io::Write> Printer<W> {
    /// A printer of `format` to `out`.
    pub fn new(format: Format, out: W) -> Printer<W> {
        let out = match format {
            Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
            Format::Table | Format::Json => Sink::Plain(out),
        };
        Printer {
            format,
            out,
            groups: 0,
        }
    }

    /// Prints one workload's summaries; `heading` is the table's title line
    /// ([`describe`]).
    pub fn group(&mut self, heading: &str, summaries: &[Summary]) -> io::Result<()> {
        let first = self.groups == 0;
        self.groups += 1;
        match (&mut self.out, self.format) {
            (Sink::Plain(out), Format::Table) => {
                if !first {
                    writeln!(out)?;
                }
                writeln!(out, "servercore compare: {heading}")?;
                write!(out, "{}", summary_table(summaries))?;
                out.flush()
            }
            (Sink::Plain(out), _) => {
                for s in summaries {
                    serde_json::to_writer(&mut *out, &Row::of(s))?;
                    writeln!(out)?;
                }
                out.flush()
            }
            (Sink::Csv(out), _) => {
                for s in summaries {
                    out.serialize(Row::of(s)).map_err(io::Error::other)?;
                }
                out.flush()
            }
        }
    }
}

/// One line describing a workload and how it was run.
pub fn describe(workload: &Workload, options: &RunOptions, runs: usize) -> String {
    let mut out = format!(
        "{} sender{} × {}-byte payloads, one loopback connection",
        workload.senders,
        if workload.senders == 1 { "" } else { "s" },
        workload.payload
    );
    if let Some(rate) = options.rate {
        let _ = write!(out, ", latency mode: {rate} packets/s per sender");
    }
    match options.queue_limit {
        Some(bytes) => {
            let _ = write!(out, ", queue limit {bytes} bytes (block)");
        }
        None => out.push_str(", unbounded queues"),
    }
    if runs > 1 {
        let _ = write!(out, ", {runs} runs (median, min–max)");
    }
    out
}

/// Single runs as an aligned text table (each a [`Summary`] of one run).
pub fn table(reports: &[Report]) -> String {
    let summaries: Vec<Summary> = reports
        .iter()
        .map(|r| Summary::new(vec![r.clone()]))
        .collect();
    summary_table(&summaries)
}

/// The summaries of one workload as an aligned text table: the median of
/// each figure, and the min–max of msgs/s when there were several runs.
pub fn summary_table(summaries: &[Summary]) -> String {
    let runs = summaries.iter().map(|s| s.runs.len()).max().unwrap_or(1);
    let latency = summaries
        .iter()
        .any(|s| s.runs.iter().any(|r| r.latency.is_some()));
    let allocs = summaries
        .iter()
        .any(|s| s.runs.iter().any(|r| r.sender_allocs.is_some()));
    let mut out = String::new();
    let _ = write!(out, "{:<18} {:>11}", "lesson", "msgs/s");
    if runs > 1 {
        let _ = write!(out, " {:>13}", "(min–max)");
    }
    let _ = write!(
        out,
        " {:>8} {:>8} {:>10} {:>11} {:>7}",
        "MB/s", "ceiling", "writes/msg", "wakeups/msg", "batch"
    );
    if allocs {
        let _ = write!(out, " {:>10}", "allocs/msg");
    }
    if latency {
        let _ = write!(out, " {:>8} {:>8} {:>8}", "p50 µs", "p99 µs", "p99.9 µs");
    }
    let _ = writeln!(out, " {:>8}", "verified");
    for s in summaries {
        let median = |f: Figure| s.spread(f).map(|x| x.median);
        let msgs = s
            .spread(|r| Some(r.msgs_per_sec()))
            .expect("one run at least");
        let _ = write!(
            out,
            "{:<18} {:>11}",
            s.subject().to_string(),
            thousands(msgs.median)
        );
        if runs > 1 {
            let _ = write!(out, " {:>13}", format!("{}–{}", si(msgs.min), si(msgs.max)));
        }
        let has_writer = s.subject().lesson().is_some_and(Lesson::has_writer_thread);
        let writer_figure = |f: Figure, decimals: usize| {
            if has_writer {
                format!("{:.decimals$}", median(f).unwrap_or(0.0))
            } else {
                "-".into()
            }
        };
        let _ = write!(
            out,
            " {:>8.1} {:>8} {:>10.5} {:>11} {:>7}",
            median(|r| Some(r.bytes_per_sec())).unwrap_or(0.0) / 1e6,
            median(Report::ceiling_fraction).map_or("-".into(), |f| format!("{:.1}%", f * 100.0)),
            median(|r| Some(r.stats.writes_per_send())).unwrap_or(0.0),
            writer_figure(|r| Some(r.stats.wakeups_per_send()), 5),
            writer_figure(|r| Some(r.stats.mean_batch()), 1),
        );
        if allocs {
            let _ = write!(
                out,
                " {:>10}",
                median(Report::allocs_per_msg).map_or("-".into(), |a| format!("{a:.4}"))
            );
        }
        if latency {
            for f in [
                (|r: &Report| r.latency.map(|l| l.p50_us)) as Figure,
                |r| r.latency.map(|l| l.p99_us),
                |r| r.latency.map(|l| l.p999_us),
            ] {
                let _ = write!(
                    out,
                    " {:>8}",
                    median(f).map_or("-".into(), |x| format!("{x:.0}"))
                );
            }
        }
        let _ = writeln!(out, " {:>8}", if s.verified() { "yes" } else { "NO" });
    }
    for s in summaries.iter().filter(|s| !s.verified()) {
        let _ = writeln!(
            out,
            "{}: not verified: {}",
            s.subject(),
            s.problem().unwrap_or("")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Subject, run_subject};
    use crate::stats::StatsSnapshot;

    /// A report made up, not run: output code only.
    fn report(subject: Subject, problem: Option<&str>) -> Report {
        Report {
            subject,
            workload: Workload {
                senders: 2,
                payload: 32,
                messages: 100,
            },
            seconds: 0.5,
            stats: StatsSnapshot {
                sends: 100,
                write_calls: 10,
                ..StatsSnapshot::default()
            },
            received: 100,
            bytes_received: 3_400,
            problem: problem.map(str::to_owned),
            options: RunOptions::default(),
            latency: None,
            sender_allocs: None,
            ceiling_bytes_per_sec: None,
        }
    }

    #[test]
    fn keys_are_the_fields_of_a_row_in_order() {
        let keys = keys();
        assert_eq!(keys.first().map(String::as_str), Some("lesson"));
        assert_eq!(keys.last().map(String::as_str), Some("problem"));
        let json: serde_json::Value =
            serde_json::from_str(&json_summary(&Summary::new(vec![report(
                Subject::Ceiling,
                None,
            )])))
            .unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), keys.len());
        assert!(keys.iter().all(|k| object.contains_key(k)));
    }

    #[test]
    fn awkward_problems_survive_json_and_csv() {
        let problem = "a \"quote\", a comma,\na new line and a \\ backslash\u{1}";
        let s = Summary::new(vec![report(Subject::Lesson(Lesson::Naive), Some(problem))]);
        let row: Row = serde_json::from_str(&json_summary(&s)).unwrap();
        assert_eq!(row.problem.as_deref(), Some(problem));
        assert!(!row.verified);
        let text = format!("{}\n{}\n", csv_header(), csv_row(&s));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let back: Row = reader.deserialize().next().unwrap().unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn one_csv_header_for_every_group() {
        let mut printer = Printer::new(Format::Csv, Vec::new());
        let group = [Summary::new(vec![report(Subject::Ceiling, None)])];
        printer.group("first", &group).unwrap();
        printer.group("second", &group).unwrap();
        let Sink::Csv(writer) = printer.out else {
            panic!("a CSV printer")
        };
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("lesson,")).count(), 1);
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn latency_mode_has_no_ceiling_fraction() {
        let options = RunOptions {
            rate: Some(1_000),
            ..RunOptions::default()
        };
        let w = Workload {
            senders: 1,
            payload: 32,
            messages: 50,
        };
        let mut summaries: Vec<Summary> = [Subject::Ceiling, Subject::Lesson(Lesson::Locked)]
            .into_iter()
            .map(|s| Summary::new(vec![run_subject(s, &w, &options).unwrap()]))
            .collect();
        super::super::attach_ceiling(&mut summaries);
        let table = summary_table(&summaries);
        assert!(!table.contains('%'), "{table}");
        assert!(Row::of(&summaries[0]).ceiling_fraction.is_none());
    }
}
