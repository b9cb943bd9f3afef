//! Repeated runs, summarized: the median, min and max of every figure
//! ([`Summary`], [`Spread`]), latency percentiles ([`Latency`]), and each
//! run beside the ceiling of its own round ([`attach_ceiling`]).

use super::{Report, Subject, Workload};

/// Send-to-receive latency percentiles of one run, in microseconds.
///
/// Exact (nearest rank over every sample): a latency-mode run sends
/// `rate × seconds × senders` packets, a few hundred thousand at most, so
/// keeping every sample costs a few megabytes and no approximation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// The median.
    pub p50_us: f64,
    /// The 99th percentile.
    pub p99_us: f64,
    /// The 99.9th percentile.
    pub p999_us: f64,
    /// The slowest packet.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of `samples_ns` (sorted here); `None` if there are none.
    pub fn from_samples(samples_ns: &mut [u64]) -> Option<Latency> {
        if samples_ns.is_empty() {
            return None;
        }
        samples_ns.sort_unstable();
        let at = |q: f64| {
            // The nearest-rank percentile: the smallest sample with at
            // least a fraction q of all samples at or below it.
            let rank = (q * samples_ns.len() as f64).ceil() as usize;
            samples_ns[rank.clamp(1, samples_ns.len()) - 1] as f64 / 1e3
        };
        Some(Latency {
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: at(1.0),
        })
    }
}

/// The median, smallest and largest value of one figure over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` if there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// One subject's repeated runs of one workload.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The runs, in the order they ran (at least one).
    pub runs: Vec<Report>,
}

impl Summary {
    /// Summarizes `runs` (all of one subject and workload; at least one).
    pub fn new(runs: Vec<Report>) -> Summary {
        assert!(!runs.is_empty(), "a summary needs at least one run");
        Summary { runs }
    }

    /// What was measured.
    pub fn subject(&self) -> Subject {
        self.runs[0].subject
    }

    /// The workload (of the first run).
    pub fn workload(&self) -> Workload {
        self.runs[0].workload
    }

    /// The run whose msgs/s is the median (the lower middle one for an
    /// even count): its raw counters stand for the summary.
    pub fn median_run(&self) -> &Report {
        let mut order: Vec<&Report> = self.runs.iter().collect();
        order.sort_by(|a, b| a.msgs_per_sec().total_cmp(&b.msgs_per_sec()));
        order[(order.len() - 1) / 2]
    }

    /// The spread of `figure` over the runs that have it.
    pub fn spread(&self, figure: impl Fn(&Report) -> Option<f64>) -> Option<Spread> {
        Spread::of(self.runs.iter().filter_map(figure).collect())
    }

    /// True when every run was verified.
    pub fn verified(&self) -> bool {
        self.runs.iter().all(Report::verified)
    }

    /// The first run's problem, if any run had one.
    pub fn problem(&self) -> Option<&str> {
        self.runs.iter().find_map(|r| r.problem.as_deref())
    }
}

/// Gives each lesson run the ceiling's bytes/s from the same round of runs
/// (`summaries` holds one summary per subject, runs in round order).
pub fn attach_ceiling(summaries: &mut [Summary]) {
    let Some(ceiling) = summaries
        .iter()
        .find(|s| s.subject() == Subject::Ceiling)
        .map(|s| s.runs.iter().map(Report::bytes_per_sec).collect::<Vec<_>>())
    else {
        return;
    };
    for summary in summaries.iter_mut() {
        if summary.subject() == Subject::Ceiling {
            continue;
        }
        for (i, run) in summary.runs.iter_mut().enumerate() {
            run.ceiling_bytes_per_sec = ceiling.get(i).or(ceiling.last()).copied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lesson;
    use crate::compare::{run, run_ceiling};

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|us| us * 1000).collect();
        let l = Latency::from_samples(&mut samples).unwrap();
        assert_eq!(
            (l.p50_us, l.p99_us, l.p999_us, l.max_us),
            (500.0, 990.0, 999.0, 1000.0)
        );
        assert!(Latency::from_samples(&mut []).is_none());
    }

    #[test]
    fn spread_has_median_min_and_max() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(vec![4.0, 1.0]).unwrap().median, 2.5);
        assert!(Spread::of(vec![]).is_none());
    }

    #[test]
    fn summaries_compare_each_run_with_the_ceiling_of_its_round() {
        let w = Workload {
            senders: 1,
            payload: 32,
            messages: 1_000,
        };
        let mut summaries = vec![
            Summary::new(vec![run_ceiling(&w).unwrap(), run_ceiling(&w).unwrap()]),
            Summary::new(vec![
                run(Lesson::Locked, &w).unwrap(),
                run(Lesson::Locked, &w).unwrap(),
            ]),
        ];
        attach_ceiling(&mut summaries);
        for (lesson, ceiling) in summaries[1].runs.iter().zip(&summaries[0].runs) {
            assert_eq!(lesson.ceiling_bytes_per_sec, Some(ceiling.bytes_per_sec()));
        }
    }
}
