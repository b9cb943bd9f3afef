//! The SVG charts: `servercore compare --chart FILE.svg`, and the room's
//! comparison from `servercore bots --format json` runs (`servercore chart`).
//!
//! One drawing code for both. A [`Figure`] is rows of [`Panel`]s; a panel
//! is one figure of several subjects, one line each, top to bottom:
//!
//! * **rates on a linear axis from 0, as bars** — a bar's length is its
//!   value, so a bar half as long is half as fast. A thin whisker spans the
//!   runs' min–max (drawn when there were several runs), and a label at the
//!   bar's end gives its ratio to the reference row (the ceiling, or the
//!   first lesson of a room size);
//! * **counts per message on a log axis, as dots** — write calls per
//!   message run from 1 down to a few per ten thousand, so only a log axis
//!   shows them all; a dot (never a bar: a bar's length on a log axis means
//!   nothing) with its min–max whisker and its value written beside it.
//!
//! A subject whose run was not verified is drawn hollow, in red, with
//! "NOT VERIFIED" beside it: a fast wrong answer must not look like a
//! result. Tick labels are short numbers (`1M`, `500k`, `0.001`).
//! Drawn with `plotters`' SVG backend (no fonts loaded: the SVG names a
//! font family and the viewer draws the text).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use plotters::prelude::*;

use crate::bots::BotsRow;
use crate::catalog::Lesson;
use crate::compare::{Report, Subject, Summary, describe};
use crate::human::tick;

/// Bars of a lesson.
const LESSON: RGBColor = RGBColor(52, 101, 164);
/// The ceiling's bar: the reference, in grey.
const CEILING: RGBColor = RGBColor(140, 140, 140);
/// Whatever was not verified.
const UNVERIFIED: RGBColor = RGBColor(200, 30, 30);
/// Whiskers, labels and axes.
const INK: RGBColor = RGBColor(40, 40, 40);

/// One subject's line of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// What is measured, as the axis names it (`04 batched_writer`).
    pub label: String,
    /// The median value.
    pub value: f64,
    /// The smallest and largest value over the runs (both `value` for one run).
    pub min: f64,
    /// See `min`.
    pub max: f64,
    /// Whether every run was verified.
    pub verified: bool,
    /// The reference of its panel (the ceiling): drawn in grey.
    pub reference: bool,
    /// Written at the end of the bar or beside the dot (`0.21× ceiling`).
    pub note: String,
}

/// How a panel draws its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Bars on a linear axis from 0.
    LinearBars,
    /// Dots on a log axis.
    LogDots,
}

/// One chart: a title, an axis, one mark per subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// The value axis's description.
    pub axis: String,
    /// Bars on a linear axis, or dots on a log one.
    pub scale: Scale,
    /// The subjects, top to bottom.
    pub marks: Vec<Mark>,
}

/// Rows of panels side by side, each row under its own heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Each row: a heading, and its panels left to right.
    pub rows: Vec<(String, Vec<Panel>)>,
}

/// Pixels of one mark's line.
const LINE: u32 = 28;
/// Pixels of a row's heading, captions and axis.
const ROW_FRAME: u32 = 120;
/// Width of the whole figure.
const WIDTH: u32 = 1200;

impl Figure {
    /// The figure as SVG text.
    pub fn to_svg(&self) -> Result<String, String> {
        if self.rows.is_empty() || self.rows.iter().any(|(_, p)| p.is_empty()) {
            return Err("nothing to chart".into());
        }
        let heights: Vec<u32> = self
            .rows
            .iter()
            .map(|(_, panels)| {
                let lines = panels.iter().map(|p| p.marks.len()).max().unwrap_or(1);
                ROW_FRAME + LINE * lines as u32
            })
            .collect();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, heights.iter().sum()))
                .into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut rest = root.clone();
            for ((heading, panels), height) in self.rows.iter().zip(&heights) {
                let (row, below) = rest.split_vertically(*height);
                rest = below;
                let row = row
                    .titled(heading, ("sans-serif", 17).into_font().color(&INK))
                    .map_err(|e| e.to_string())?;
                let cells = row.split_evenly((1, panels.len()));
                for (cell, panel) in cells.iter().zip(panels) {
                    draw_panel(cell, panel).map_err(|e| e.to_string())?;
                }
            }
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }

    /// Writes the figure to `path` as SVG; the error names the path.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let svg = self.to_svg()?;
        fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The axis of a panel's lines: `n` lines, line `i` centred at `i`, the
/// axis from -0.5 to `n - 0.5`, one key point (a label) per line.
#[derive(Debug, Clone, Copy)]
struct Lines(usize);

impl Ranged for Lines {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.0 as f64;
        let fraction = (value + 0.5) / span;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.0).map(|i| i as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.0 as f64 - 0.5
    }
}

fn draw_panel(area: &Area<'_>, panel: &Panel) -> Result<(), Box<dyn std::error::Error>> {
    let n = panel.marks.len();
    // Line i (from the top) is centred at y = n - 1 - i; the axis runs
    // from -0.5 to n - 0.5, one unit per line.
    let y_of = |i: usize| (n - 1 - i) as f64;
    let label_width = panel
        .marks
        .iter()
        .map(|m| m.label.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 7
        + 14;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, ("sans-serif", 14).into_font().color(&INK))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(36)
        .y_label_area_size(label_width);
    let y_range = Lines(n);
    let name_of = |y: &f64| {
        let i = n as f64 - 1.0 - y.round();
        panel
            .marks
            .get(i as usize)
            .map(|m| m.label.clone())
            .unwrap_or_default()
    };
    match panel.scale {
        Scale::LinearBars => {
            let top = panel
                .marks
                .iter()
                .map(|m| m.max.max(m.value))
                .fold(0.0, f64::max);
            // Room on the right for the labels at the bars' ends.
            let top = if top > 0.0 { top * 1.3 } else { 1.0 };
            let mut chart = builder.build_cartesian_2d(0.0..top, y_range)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_desc(&panel.axis)
                .x_labels(6)
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&name_of)
                .label_style(("sans-serif", 12).into_font().color(&INK))
                .axis_desc_style(("sans-serif", 12).into_font().color(&INK))
                .draw()?;
            for (i, m) in panel.marks.iter().enumerate() {
                let y = y_of(i);
                let (color, filled) = colour(m);
                let bar = [(0.0, y - 0.32), (m.value.max(0.0), y + 0.32)];
                chart.draw_series(std::iter::once(Rectangle::new(
                    bar,
                    if filled {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    },
                )))?;
                draw_whisker(&mut chart, m, y, false)?;
                draw_note(&mut chart, m, (m.max.max(m.value), y))?;
            }
        }
        Scale::LogDots => {
            let positive = panel
                .marks
                .iter()
                .flat_map(|m| [m.min, m.value, m.max])
                .filter(|v| *v > 0.0);
            let (low, high) =
                positive.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (low, high) = if low <= high {
                (low / 3.0, high * 30.0) // room on the right for the values
            } else {
                (1e-4, 1.0)
            };
            let x_range = (low..high).log_scale();
            let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_desc(&panel.axis)
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&name_of)
                .label_style(("sans-serif", 12).into_font().color(&INK))
                .axis_desc_style(("sans-serif", 12).into_font().color(&INK))
                .draw()?;
            for (i, m) in panel.marks.iter().enumerate() {
                let y = y_of(i);
                if m.value <= 0.0 {
                    continue;
                }
                let (color, filled) = colour(m);
                draw_whisker(&mut chart, m, y, true)?;
                let style = if filled {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                chart.draw_series(std::iter::once(Circle::new((m.value, y), 5, style)))?;
                draw_note(&mut chart, m, (m.max.max(m.value), y))?;
            }
        }
    }
    Ok(())
}

/// A mark's colour, and whether it is filled (unverified ones are hollow).
fn colour(m: &Mark) -> (RGBColor, bool) {
    match (m.verified, m.reference) {
        (false, _) => (UNVERIFIED, false),
        (true, true) => (CEILING, true),
        (true, false) => (LESSON, true),
    }
}

/// The min–max whisker of `m` at height `y`, when the runs differ.
fn draw_whisker<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    m: &Mark,
    y: f64,
    panel_is_log: bool,
) -> Result<(), Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if m.max <= m.min || m.min <= 0.0 && panel_is_log {
        return Ok(()); // one run, or nothing a log axis can show
    }
    let style = INK.stroke_width(1);
    let cap = |x: f64| EmptyElement::at((x, y)) + PathElement::new(vec![(0, -6), (0, 6)], style);
    chart.draw_series([PathElement::new(vec![(m.min, y), (m.max, y)], style)])?;
    chart.draw_series([cap(m.min), cap(m.max)])?;
    Ok(())
}

/// The note of `m` just right of `at`.
fn draw_note<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    m: &Mark,
    at: (f64, f64),
) -> Result<(), Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let (text, color) = if m.verified {
        (m.note.clone(), INK)
    } else if m.note.is_empty() {
        ("NOT VERIFIED".to_string(), UNVERIFIED)
    } else {
        (format!("{} · NOT VERIFIED", m.note), UNVERIFIED)
    };
    if text.is_empty() {
        return Ok(());
    }
    let font = ("sans-serif", 12).into_font().color(&color);
    let label = EmptyElement::at(at) + Text::new(text, (8, -7), font);
    chart.draw_series(std::iter::once(label))?;
    Ok(())
}

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
