//! `servercore compare --chart FILE.svg`: the compare tables as bar charts.
//!
//! For each workload, two charts side by side: messages per second (log
//! scale: the lessons span two orders of magnitude) and write calls per
//! message (log scale too: from 1 down to a few per ten thousand), one bar
//! per lesson and one for the ceiling, each titled with its workload.
//! Drawn with `plotters`' SVG backend (no fonts loaded: the SVG names a
//! font family and the viewer draws the text).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::compare::{Report, Subject, Summary, describe};

/// One panel: a figure, its title and its axis label.
struct Panel {
    title: String,
    axis: &'static str,
    figure: fn(&Report) -> Option<f64>,
}

/// Writes the charts of `groups` (one group of summaries per workload) to
/// `path` as SVG.
pub fn write_svg(path: &Path, groups: &[Vec<Summary>]) -> Result<(), String> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err("nothing to chart".into());
    }
    let rows = groups.len();
    let root = SVGBackend::new(path, (1100, 380 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    for (row, summaries) in root.split_evenly((rows, 1)).iter().zip(groups) {
        let first = &summaries[0];
        let title = describe(&first.workload(), &first.runs[0].options, first.runs.len());
        let row = row
            .titled(&title, ("sans-serif", 17))
            .map_err(|e| e.to_string())?;
        let panels = [
            Panel {
                title: "messages per second (log scale)".into(),
                axis: "msgs/s",
                figure: |r| Some(r.msgs_per_sec()),
            },
            Panel {
                title: "write calls per message (log scale)".into(),
                axis: "writes/msg",
                figure: |r| Some(r.stats.writes_per_send()),
            },
        ];
        for (cell, panel) in row.split_evenly((1, 2)).iter().zip(&panels) {
            draw_panel(cell, panel, summaries).map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    summaries: &[Summary],
) -> Result<(), Box<dyn std::error::Error>> {
    let values: Vec<f64> = summaries
        .iter()
        .map(|s| s.spread(panel.figure).map_or(0.0, |x| x.median))
        .collect();
    let floor = 1e-5;
    let top = values.iter().copied().fold(floor, f64::max) * 2.0;
    let bottom = values
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(top, f64::min)
        .max(floor)
        / 3.0;
    // Short labels under the bars, the names in the axis description.
    let labels: Vec<String> = summaries
        .iter()
        .map(|s| match s.subject() {
            Subject::Ceiling => "ceiling".to_string(),
            Subject::Lesson(l) => format!("{:02}", l.number()),
        })
        .collect();
    let key = summaries
        .iter()
        .filter_map(|s| s.subject().lesson())
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(" · ");
    let n = summaries.len() as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 13))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(panel.axis)
        .x_desc(key)
        .x_labels(summaries.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_labels(6) // a log axis over less than a decade would label every step
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 10)) // the key under the bars fits the panel
        .draw()?;
    chart.draw_series(
        summaries
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (s, &v))| {
                let i = i as i32;
                let color = match s.subject() {
                    Subject::Ceiling => RGBColor(150, 150, 150),
                    Subject::Lesson(l) => {
                        let (r, g, b) = Palette99::pick(l.number() as usize).rgb();
                        RGBColor(r, g, b)
                    }
                };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), bottom),
                        (SegmentValue::Exact(i + 1), v.max(bottom)),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 10, 10);
                bar
            }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lesson;
    use crate::compare::{Workload, run, run_ceiling};

    #[test]
    fn writes_an_svg_with_a_bar_per_subject() {
        let w = Workload {
            senders: 1,
            payload: 32,
            messages: 500,
        };
        let group = vec![
            Summary::new(vec![run_ceiling(&w).unwrap()]),
            Summary::new(vec![run(Lesson::BatchedWriter, &w).unwrap()]),
        ];
        let path =
            std::env::temp_dir().join(format!("servercore-chart-{}.svg", std::process::id()));
        write_svg(&path, &[group]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("1 sender × 32-byte payloads"));
        assert!(svg.contains("04 batched_writer"));
        assert!(write_svg(&path, &[]).is_err());
    }
}
