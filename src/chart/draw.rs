//! One panel: its axes, and a bar or a dot per mark, with whisker and note.

use plotters::prelude::*;

use super::{CEILING, INK, LESSON, Mark, Panel, Scale, UNVERIFIED};
use crate::human::tick;

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

pub(super) fn panel(area: &Area<'_>, panel: &Panel) -> Result<(), Box<dyn std::error::Error>> {
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
            // The verified marks set the axis: an unverified run's rate (a
            // corrupted stream ends early) is no measurement, and must not
            // squash the others. Its bar is cut at the axis's end.
            let extent = |verified_only: bool| {
                panel
                    .marks
                    .iter()
                    .filter(|m| m.verified || !verified_only)
                    .map(|m| m.max.max(m.value))
                    .fold(0.0, f64::max)
            };
            let top = match extent(true) {
                t if t > 0.0 => t,
                _ => extent(false),
            };
            // Room on the right for the labels at the bars' ends.
            let top = if top > 0.0 { top * 1.3 } else { 1.0 };
            let mut chart = builder.build_cartesian_2d(0.0..top, y_range)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(TRANSPARENT)
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
                let end = m.value.clamp(0.0, top / 1.3);
                let bar = [(0.0, y - 0.32), (end, y + 0.32)];
                chart.draw_series(std::iter::once(Rectangle::new(
                    bar,
                    if filled {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    },
                )))?;
                if m.verified {
                    draw_whisker(&mut chart, m, y, false)?;
                }
                let at = if m.verified { m.max.max(m.value) } else { end };
                draw_note(&mut chart, m, (at, y))?;
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
                if m.verified {
                    draw_whisker(&mut chart, m, y, true)?;
                }
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
