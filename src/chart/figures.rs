//! The figures made from measured runs: `compare`'s summaries
//! ([`compare_figure`]) and `bots --format json` rows ([`room_figure`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Figure, Mark, Panel, Scale};
use crate::bots::BotsRow;
use crate::catalog::Lesson;
use crate::compare::{Report, Subject, Summary, describe};
use crate::human::tick;

/// `x` as a ratio: "0.21×", "3.4×", "12×".
fn ratio(x: f64) -> String {
    match x {
        x if x >= 10.0 => format!("{x:.0}×"),
        x if x >= 1.0 => format!("{x:.1}×"),
        x => format!("{x:.2}×"),
    }
}

/// A mark for figure `f` of summary `s`.
fn mark_of(s: &Summary, f: fn(&Report) -> Option<f64>, note: String) -> Mark {
    let spread = s.spread(f);
    Mark {
        label: s.subject().to_string(),
        value: spread.map_or(0.0, |x| x.median),
        min: spread.map_or(0.0, |x| x.min),
        max: spread.map_or(0.0, |x| x.max),
        verified: s.verified(),
        reference: s.subject() == Subject::Ceiling,
        note,
    }
}

/// The compare figure: per workload, msgs/s as bars labelled with their
/// ratio to the ceiling, and write calls per message as dots.
pub fn compare_figure(groups: &[Vec<Summary>]) -> Figure {
    let rows = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|summaries| {
            let first = &summaries[0];
            let heading = describe(&first.workload(), &first.runs[0].options, first.runs.len());
            let msgs: fn(&Report) -> Option<f64> = |r| Some(r.msgs_per_sec());
            let ceiling = summaries
                .iter()
                .find(|s| s.subject() == Subject::Ceiling)
                .and_then(|s| s.spread(msgs))
                .map(|x| x.median);
            let rates = summaries
                .iter()
                .map(|s| {
                    let note = match (s.subject(), ceiling, s.spread(msgs)) {
                        (Subject::Lesson(_), Some(c), Some(x)) if c > 0.0 => {
                            format!("{} ceiling", ratio(x.median / c))
                        }
                        _ => String::new(),
                    };
                    mark_of(s, msgs, note)
                })
                .collect();
            let writes = summaries
                .iter()
                .map(|s| {
                    let f: fn(&Report) -> Option<f64> = |r| Some(r.stats.writes_per_send());
                    let note = s.spread(f).map_or(String::new(), |x| tick(x.median));
                    mark_of(s, f, note)
                })
                .collect();
            let panels = vec![
                Panel {
                    title: "messages per second (linear; the label: the fraction of the ceiling)"
                        .into(),
                    axis: "msgs/s".into(),
                    scale: Scale::LinearBars,
                    marks: rates,
                },
                Panel {
                    title: "write calls per message (log scale: dots, not bars)".into(),
                    axis: "write calls per message".into(),
                    scale: Scale::LogDots,
                    marks: writes,
                },
            ];
            (heading, panels)
        })
        .collect();
    Figure { rows }
}

/// Writes the compare charts of `groups` (one group of summaries per
/// workload) to `path` as SVG.
pub fn write_svg(path: &Path, groups: &[Vec<Summary>]) -> Result<(), String> {
    compare_figure(groups).write(path)
}

/// The room figure from `bots --format json` rows: per room size (and
/// rate and length), delivered broadcasts per second as bars labelled with
/// their ratio to the first lesson listed, and the server's write calls
/// per broadcast as dots. Several rows of one size and lesson are runs of
/// it: the median and the min–max.
pub fn room_figure(rows: &[BotsRow]) -> Figure {
    // (players, rate, seconds) → lesson → runs, in order.
    let mut sizes: BTreeMap<(usize, u64, u64), BTreeMap<u8, Vec<&BotsRow>>> = BTreeMap::new();
    for row in rows {
        let key = (row.players, row.rate.to_bits(), row.seconds.to_bits());
        sizes
            .entry(key)
            .or_default()
            .entry(row.lesson)
            .or_default()
            .push(row);
    }
    let figure_rows = sizes
        .into_iter()
        .map(|((players, rate, seconds), lessons)| {
            let (rate, seconds) = (f64::from_bits(rate), f64::from_bits(seconds));
            let runs = lessons.values().map(Vec::len).max().unwrap_or(1);
            let mut heading = format!(
                "{players} players × {rate} updates/s × {seconds} s, every broadcast checked"
            );
            if runs > 1 {
                heading.push_str(&format!(", {runs} runs (median, min–max)"));
            }
            let spread = |runs: &[&BotsRow], f: fn(&BotsRow) -> f64| {
                crate::compare::Spread::of(runs.iter().map(|r| f(r)).collect())
                    .expect("one run at least")
            };
            let label = |lesson: u8| {
                Lesson::from_number(u32::from(lesson))
                    .map_or(format!("{lesson:02} ?"), |l| l.to_string())
            };
            let first = lessons
                .values()
                .next()
                .map(|runs| spread(runs, |r| r.delivered_per_sec).median);
            let mut rates = Vec::new();
            let mut writes = Vec::new();
            for (lesson, runs) in &lessons {
                let verified = runs.iter().all(|r| r.verified);
                let d = spread(runs, |r| r.delivered_per_sec);
                let w = spread(runs, |r| r.writes_per_delivery);
                let note = match first {
                    Some(f) if f > 0.0 => ratio(d.median / f),
                    _ => String::new(),
                };
                rates.push(Mark {
                    label: label(*lesson),
                    value: d.median,
                    min: d.min,
                    max: d.max,
                    verified,
                    reference: false,
                    note,
                });
                writes.push(Mark {
                    label: label(*lesson),
                    value: w.median,
                    min: w.min,
                    max: w.max,
                    verified,
                    reference: false,
                    note: format!("{:.4}", w.median),
                });
            }
            let reference = label(*lessons.keys().next().expect("a lesson"));
            let panels = vec![
                Panel {
                    title: format!(
                        "delivered broadcasts per second (linear; the label: vs {reference})"
                    ),
                    axis: "broadcasts/s".into(),
                    scale: Scale::LinearBars,
                    marks: rates,
                },
                Panel {
                    title: "server write calls per broadcast (log scale: dots)".into(),
                    axis: "write calls per broadcast".into(),
                    scale: Scale::LogDots,
                    marks: writes,
                },
            ];
            (heading, panels)
        })
        .collect();
    Figure { rows: figure_rows }
}

/// Reads `bots --format json` rows from `text`: every line that starts
/// with `{` is one; other lines (a script's notes) are skipped. The error
/// names the line.
pub fn read_bots_rows(text: &str) -> Result<Vec<BotsRow>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with('{'))
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| format!("line {}: not a bots row: {e}", n + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{Figure, Mark, Panel, Scale};
    use crate::compare::{Workload, run, run_ceiling};

    fn svg_of(figure: &Figure) -> String {
        let svg = figure.to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        svg
    }

    #[test]
    fn the_compare_chart_has_bars_ratios_and_dots() {
        let w = Workload {
            senders: 1,
            payload: 32,
            messages: 500,
        };
        let group = vec![
            Summary::new(vec![run_ceiling(&w).unwrap(), run_ceiling(&w).unwrap()]),
            Summary::new(vec![
                run(Lesson::BatchedWriter, &w).unwrap(),
                run(Lesson::BatchedWriter, &w).unwrap(),
            ]),
        ];
        let figure = compare_figure(std::slice::from_ref(&group));
        let svg = svg_of(&figure);
        assert!(svg.contains("1 sender × 32-byte payloads"));
        assert!(svg.contains("04 batched_writer"));
        assert!(svg.contains("× ceiling"), "a ratio label");
        assert!(svg.contains("<circle"), "dots on the log panel");
        let texts: Vec<&str> = svg
            .split('>')
            .filter_map(|t| t.split('<').next())
            .filter(|t| !t.trim().is_empty())
            .collect();
        let exponent = |t: &&&str| {
            let b = t.as_bytes();
            (1..b.len().saturating_sub(1)).any(|i| {
                b[i] == b'e'
                    && b[i - 1].is_ascii_digit()
                    && (b[i + 1].is_ascii_digit() || b[i + 1] == b'-')
            })
        };
        let with_exponent: Vec<&&str> = texts.iter().filter(exponent).collect();
        assert!(
            with_exponent.is_empty(),
            "exponent ticks: {with_exponent:?}"
        );
        let path =
            std::env::temp_dir().join(format!("servercore-chart-{}.svg", std::process::id()));
        write_svg(&path, &[group]).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(write_svg(&path, &[]).is_err());
        let error = write_svg(Path::new("/nonexistent/dir/x.svg"), &[figure_group(&w)]);
        assert!(error.unwrap_err().contains("/nonexistent/dir/x.svg"));
    }

    fn figure_group(w: &Workload) -> Vec<Summary> {
        vec![Summary::new(vec![run_ceiling(w).unwrap()])]
    }

    #[test]
    fn an_unverified_mark_says_so() {
        let panel = Panel {
            title: "t".into(),
            axis: "a".into(),
            scale: Scale::LinearBars,
            marks: vec![Mark {
                label: "01 naive".into(),
                value: 5.0,
                min: 4.0,
                max: 6.0,
                verified: false,
                reference: false,
                note: "0.50× ceiling".into(),
            }],
        };
        let svg = svg_of(&Figure {
            rows: vec![("heading".into(), vec![panel])],
        });
        assert!(svg.contains("NOT VERIFIED"), "{svg}");
    }

    #[test]
    fn the_room_chart_reads_bots_rows() {
        let row = |lesson: u8, delivered: f64| BotsRow {
            lesson,
            players: 100,
            rate: 20.0,
            seconds: 2.0,
            delivered_per_sec: delivered,
            writes_per_delivery: 1.0 / delivered,
            verified: true,
            ..BotsRow::default()
        };
        let text = [row(2, 100.0), row(4, 200.0), row(4, 220.0)]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .chain(["costs: players=100 lesson=4".to_string()])
            .collect::<Vec<_>>()
            .join("\n");
        let rows = read_bots_rows(&text).unwrap();
        assert_eq!(rows.len(), 3);
        let figure = room_figure(&rows);
        assert_eq!(figure.rows.len(), 1);
        let marks = &figure.rows[0].1[0].marks;
        assert_eq!(marks[1].value, 210.0, "the median of two runs");
        assert_eq!((marks[1].min, marks[1].max), (200.0, 220.0));
        assert_eq!(marks[1].note, "2.1×");
        let svg = svg_of(&figure);
        assert!(svg.contains("100 players × 20 updates/s × 2 s"), "{svg}");
        assert!(read_bots_rows("{not json").unwrap_err().contains("line 1"));
    }
}
