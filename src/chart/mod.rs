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
//!
//! The parts: this module holds the figure's types and renders it;
//! `draw` draws one panel; [`figures`] makes the compare and room
//! figures from measured runs.

use std::fs;
use std::path::Path;

use plotters::prelude::*;

mod draw;
pub mod figures;

pub use figures::{compare_figure, read_bots_rows, room_figure, write_svg};

/// Bars of a lesson.
pub(crate) const LESSON: RGBColor = RGBColor(52, 101, 164);
/// The ceiling's bar: the reference, in grey.
pub(crate) const CEILING: RGBColor = RGBColor(140, 140, 140);
/// Whatever was not verified.
pub(crate) const UNVERIFIED: RGBColor = RGBColor(200, 30, 30);
/// Whiskers, labels and axes.
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);

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
                    draw::panel(cell, panel).map_err(|e| e.to_string())?;
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
