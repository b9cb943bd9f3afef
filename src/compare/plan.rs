//! A whole `servercore compare`: which subjects, which workloads, how long,
//! how often; checked before anything runs ([`Plan::check`]), then sized
//! and run round by round ([`Plan::run`]), each workload printed as soon
//! as it is done ([`Plan::print`]).

use std::io;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::output::{Format, Printer};
use super::{RunOptions, Subject, Summary, Workload, attach_ceiling, describe, run_subject};
use crate::catalog::Lesson;
use crate::workload::MIN_STAMPED_PAYLOAD;

/// What a compare run will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What to measure, in order (the ceiling first, when it is measured).
    pub subjects: Vec<Subject>,
    /// The workloads, one table each (their `messages` are replaced by
    /// the sizing unless [`Plan::messages`] is given).
    pub workloads: Vec<Workload>,
    /// Packets per subject and run; `None`: sized to about [`Plan::seconds`].
    pub messages: Option<u64>,
    /// Target seconds per subject and run when `messages` is not given.
    pub seconds: f64,
    /// Runs of each subject.
    pub runs: usize,
    /// Latency mode and the queue limit.
    pub options: RunOptions,
}

impl Plan {
    /// The plan for `lessons` (every lesson when empty), with the ceiling
    /// unless `no_ceiling`, over every pair of `senders` and `payloads`.
    pub fn new(
        lessons: &[Lesson],
        no_ceiling: bool,
        senders: &[usize],
        payloads: &[usize],
        options: RunOptions,
    ) -> Plan {
        let mut subjects = Vec::new();
        if !no_ceiling {
            subjects.push(Subject::Ceiling);
        }
        let lessons = if lessons.is_empty() {
            &Lesson::ALL[..]
        } else {
            lessons
        };
        subjects.extend(lessons.iter().copied().map(Subject::Lesson));
        let workloads = senders
            .iter()
            .flat_map(|&senders| {
                payloads.iter().map(move |&payload| Workload {
                    senders,
                    payload,
                    messages: 1,
                })
            })
            .collect();
        Plan {
            subjects,
            workloads,
            messages: None,
            seconds: 1.0,
            runs: 1,
            options,
        }
    }

    /// Checks what no single flag can: every limit, and that latency mode's
    /// payloads can carry a send stamp. The message names the flags.
    pub fn check(&self) -> Result<(), String> {
        if self.subjects.is_empty() || self.workloads.is_empty() {
            return Err("nothing to run".into());
        }
        if !(self.seconds > 0.0 && self.seconds <= 600.0) {
            return Err("--seconds must be in (0, 600]".into());
        }
        if !(1..=100).contains(&self.runs) {
            return Err("--runs must be 1..=100".into());
        }
        if self.options.queue_limit == Some(0) {
            return Err("--queue-limit must be at least 1 byte, or `unlimited`".into());
        }
        for workload in &self.workloads {
            Workload {
                messages: self.messages.unwrap_or(1),
                ..*workload
            }
            .validate()
            .map_err(|e| format!("--senders/--payload/--messages: {e}"))?;
            if let Some(rate) = self.options.rate {
                if rate == 0 {
                    return Err("--rate must be at least 1".into());
                }
                if workload.payload < MIN_STAMPED_PAYLOAD {
                    return Err(format!(
                        "--rate needs --payload of at least {MIN_STAMPED_PAYLOAD} bytes \
                         (each payload carries a send stamp); {} is too small",
                        workload.payload
                    ));
                }
            }
        }
        Ok(())
    }

    /// Steps of the progress bar: per workload and subject, one sizing and
    /// one step per run.
    pub fn steps(&self) -> u64 {
        (self.workloads.len() * self.subjects.len() * (self.runs + 1)) as u64
    }

    /// Packets for `subject` on `workload`: as given, or paced (latency
    /// mode: rate × seconds per sender), or calibrated to about `seconds`.
    pub fn size(&self, subject: Subject, workload: &Workload) -> io::Result<u64> {
        if let Some(m) = self.messages {
            return Ok(m);
        }
        if let (Some(rate), Subject::Lesson(_)) = (self.options.rate, subject) {
            let per_sender = (rate as f64 * self.seconds).ceil().max(1.0) as u64;
            return Ok(per_sender * workload.senders as u64);
        }
        super::calibrate_subject(
            subject,
            workload.senders,
            workload.payload,
            Duration::from_secs_f64(self.seconds),
            &self.options,
        )
    }

    /// Runs the plan: for each workload, sizes every subject, then runs
    /// them round by round, so that run `i` of every lesson shares its
    /// moment (and its noise) with run `i` of the ceiling; hands each
    /// workload's summaries to `done` as soon as they are complete.
    pub fn run(
        &self,
        progress: &ProgressBar,
        mut done: impl FnMut(&Workload, &[Summary]) -> io::Result<()>,
    ) -> Result<Vec<Vec<Summary>>, String> {
        self.check()?;
        let failed = |subject: Subject| move |e: io::Error| format!("{subject}: {e}");
        let mut groups = Vec::new();
        for probe in &self.workloads {
            let mut sized = Vec::new();
            for &subject in &self.subjects {
                progress.set_message(format!("sizing {subject}"));
                let messages = self.size(subject, probe).map_err(failed(subject))?;
                sized.push((subject, Workload { messages, ..*probe }));
                progress.inc(1);
            }
            let mut runs = vec![Vec::new(); sized.len()];
            for round in 0..self.runs {
                for (i, (subject, workload)) in sized.iter().enumerate() {
                    progress.set_message(format!("{subject}, run {}/{}", round + 1, self.runs));
                    let report =
                        run_subject(*subject, workload, &self.options).map_err(failed(*subject))?;
                    runs[i].push(report);
                    progress.inc(1);
                }
            }
            let mut summaries: Vec<Summary> = runs.into_iter().map(Summary::new).collect();
            attach_ceiling(&mut summaries);
            done(probe, &summaries).map_err(|e| format!("cannot print: {e}"))?;
            groups.push(summaries);
        }
        Ok(groups)
    }

    /// Runs the plan and prints it to `out` in `format`, workload by
    /// workload, with a progress bar on stderr (drawn only when stderr is a
    /// terminal, and never for JSON).
    pub fn print(&self, format: Format, out: impl io::Write) -> Result<Vec<Vec<Summary>>, String> {
        let progress = if format == Format::Json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(self.steps())
        };
        progress.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        if let Some(note) = busy_machine() {
            progress.suspend(|| eprintln!("servercore: {note}"));
        }
        let mut printer = Printer::new(format, out);
        let groups = self.run(&progress, |workload, summaries| {
            let heading = describe(workload, &self.options, self.runs);
            progress.suspend(|| printer.group(&heading, summaries))
        });
        progress.finish_and_clear();
        groups
    }
}

/// A warning when other processes compete for the CPU: the 1-minute load
/// average (Linux `/proc/loadavg`) above the number of cores. Every figure
/// then moves from run to run, the rates most; compare rows of one run.
pub fn busy_machine() -> Option<String> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let load: f64 = loadavg.split_whitespace().next()?.parse().ok()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (load > cores as f64).then(|| {
        format!(
            "this machine is busy (load average {load:.1} on {cores} cores): other processes \
             share the CPU, so rates will move from run to run; compare rows of one run, \
             and use --runs for medians"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Row;

    #[test]
    fn a_plan_runs_the_ceiling_first_and_prints_rows() {
        let mut plan = Plan::new(
            &[Lesson::BatchedWriter],
            false,
            &[2],
            &[32],
            RunOptions::default(),
        );
        plan.messages = Some(500);
        let mut out = Vec::new();
        let groups = plan.print(Format::Json, &mut out).unwrap();
        assert_eq!(groups.len(), 1);
        let rows: Vec<Row> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].lesson, rows[0].name.as_str()), (0, "ceiling"));
        assert_eq!(rows[1].name, "batched_writer");
        assert_eq!(rows[1].messages, 500);
        assert!(rows.iter().all(|r| r.verified), "{rows:?}");
        assert!(rows[1].ceiling_fraction.is_some());
    }

    #[test]
    fn check_names_the_flags() {
        let mut plan = Plan::new(&[], true, &[1], &[8], RunOptions::default());
        assert_eq!(plan.subjects.len(), Lesson::ALL.len());
        assert!(plan.check().is_ok());
        plan.options.rate = Some(100);
        assert!(plan.check().unwrap_err().contains("--payload"));
        plan.options.rate = None;
        plan.runs = 0;
        assert!(plan.check().unwrap_err().contains("--runs"));
    }
}
