//! The picture of a recording: swimlanes in plain SVG (rectangles, circles
//! and text on a compressed time axis; a plotting library's axes would add
//! nothing here).

use std::fmt::Write as _;

use super::{Event, Kind, pending_change};
use crate::catalog::Lesson;

/// Draws a recording as an SVG of swimlanes (see the module docs).
pub fn svg(lesson: Lesson, events: &[Event]) -> String {
    // Lanes in the order threads first appear, the writer last.
    let mut lanes: Vec<String> = Vec::new();
    for e in events {
        if !lanes.contains(&e.thread) && e.thread != "writer" {
            lanes.push(e.thread.clone());
        }
    }
    if events.iter().any(|e| e.thread == "writer") {
        lanes.push("writer".into());
    }
    // Time is compressed: a gap longer than CUT µs is drawn as CUT and marked.
    const CUT_US: f64 = 30.0;
    const PX_PER_US: f64 = 4.0;
    const LEFT: f64 = 90.0;
    let mut xs = Vec::with_capacity(events.len());
    let mut cuts = Vec::new();
    let mut x = LEFT + 10.0;
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            let gap = (e.at - events[i - 1].at).as_secs_f64() * 1e6;
            if gap > CUT_US {
                cuts.push(x + CUT_US * PX_PER_US / 2.0);
            }
            x += gap.min(CUT_US) * PX_PER_US + 2.0;
        }
        xs.push(x);
    }
    let width = x + 40.0;
    let lane_y = |i: usize| 70.0 + i as f64 * 50.0;
    let height = lane_y(lanes.len()) + 70.0;
    let lane_of = |thread: &str| lanes.iter().position(|l| l == thread).unwrap_or(0);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="14">servercore trace: lesson {lesson} — one lane per thread, time →</text>
"##
    );
    // The pending band.
    let band_y = 34.0;
    let _ = writeln!(
        out,
        r##"<text x="10" y="{:.0}">pending</text>"##,
        band_y + 12.0
    );
    let mut on_since: Option<f64> = None;
    for (i, e) in events.iter().enumerate() {
        match pending_change(&e.text) {
            Some(true) if on_since.is_none() => on_since = Some(xs[i]),
            Some(false) => {
                if let Some(from) = on_since.take() {
                    let _ = writeln!(
                        out,
                        r##"<rect x="{from:.1}" y="{band_y}" width="{:.1}" height="16" fill="#f4c542"/>"##,
                        (xs[i] - from).max(2.0)
                    );
                }
            }
            _ => {}
        }
    }
    if let Some(from) = on_since {
        let _ = writeln!(
            out,
            r##"<rect x="{from:.1}" y="{band_y}" width="{:.1}" height="16" fill="#f4c542"/>"##,
            (x - from).max(2.0)
        );
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y = lane_y(i);
        let _ = writeln!(
            out,
            r##"<text x="10" y="{:.0}">{lane}</text><line x1="{LEFT}" y1="{y}" x2="{:.0}" y2="{y}" stroke="#ccc"/>"##,
            y + 4.0,
            width - 20.0
        );
    }
    for cut in &cuts {
        let _ = writeln!(
            out,
            r##"<text x="{cut:.1}" y="{:.0}" fill="#999" text-anchor="middle">≈</text>"##,
            height - 40.0
        );
    }
    // Write calls as blocks, from their start to their end, on their thread's lane.
    let mut open: Vec<(String, f64)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let y = lane_y(lane_of(&e.thread));
        match &e.kind {
            Kind::WriteBegins => open.push((e.thread.clone(), xs[i])),
            Kind::WriteEnds { bytes } => {
                if let Some(k) = open.iter().position(|(t, _)| *t == e.thread) {
                    let (_, from) = open.remove(k);
                    let _ = writeln!(
                        out,
                        r##"<rect x="{from:.1}" y="{:.0}" width="{:.1}" height="16" fill="#3b7dd8"><title>write call: {bytes} bytes</title></rect><text x="{from:.1}" y="{:.0}" fill="#3b7dd8">{bytes} B</text>"##,
                        y - 8.0,
                        (xs[i] - from).max(3.0),
                        y + 20.0
                    );
                }
            }
            Kind::Enqueue { woke } => {
                let fill = if *woke { "#d9412b" } else { "white" };
                let _ = writeln!(
                    out,
                    r##"<circle cx="{:.1}" cy="{y}" r="4" fill="{fill}" stroke="#d9412b"><title>{}</title></circle>"##,
                    xs[i],
                    escape(&e.text)
                );
            }
            Kind::SendDirect => {
                let _ = writeln!(
                    out,
                    r##"<rect x="{:.1}" y="{:.0}" width="6" height="6" fill="#2a9d4b"><title>{}</title></rect>"##,
                    xs[i] - 3.0,
                    y - 3.0,
                    escape(&e.text)
                );
            }
            Kind::WriterWoke => {
                let _ = writeln!(
                    out,
                    r##"<path d="M{:.1},{:.0} l5,8 l-10,0 z" fill="#555"><title>{}</title></path>"##,
                    xs[i],
                    y - 16.0,
                    escape(&e.text)
                );
            }
            Kind::Batch { packets } => {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.0}" fill="#333">{packets} pkt</text>"##,
                    xs[i],
                    y - 12.0
                );
            }
            Kind::Recheck { during } if *during > 0 => {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.0}" fill="#d9412b" font-weight="bold">★ 가정: {during} queued during the write</text>"##,
                    xs[i],
                    y + 32.0
                );
            }
            _ => {}
        }
    }
    let legend_y = height - 18.0;
    let _ = write!(
        out,
        r##"<g transform="translate(10,{legend_y:.0})"><circle cx="5" cy="-4" r="4" fill="#d9412b"/><text x="14" y="0">enqueue, woke the writer</text><circle cx="175" cy="-4" r="4" fill="white" stroke="#d9412b"/><text x="184" y="0">enqueue, no wake-up (pending set)</text><rect x="395" y="-9" width="6" height="6" fill="#2a9d4b"/><text x="406" y="0">sent from the caller</text><rect x="540" y="-12" width="14" height="10" fill="#3b7dd8"/><text x="560" y="0">write call</text><rect x="640" y="-12" width="14" height="10" fill="#f4c542"/><text x="660" y="0">pending (owner) set</text><path d="M785,-10 l5,8 l-10,0 z" fill="#555"/><text x="795" y="0">writer woke</text><text x="880" y="0" fill="#999">≈ a pause cut short</text></g>
</svg>
"##
    );
    out
}

/// Escapes text for an SVG attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
