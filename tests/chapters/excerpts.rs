//! Anchored regions of the source, the excerpts in the chapters, and
//! checking (or rewriting) one against the other.

use std::fmt::Write as _;

/// Whether `line` is an anchor line (`// ANCHOR: x` or `// ANCHOR_END: x`),
/// and if so, whether it starts or ends a region, and its name.
pub(crate) fn anchor_line(line: &str) -> Option<(bool, &str)> {
    let rest = line.trim().strip_prefix("//")?.trim_start();
    if let Some(name) = rest.strip_prefix("ANCHOR_END:") {
        Some((false, name.trim()))
    } else {
        rest.strip_prefix("ANCHOR:").map(|name| (true, name.trim()))
    }
}

/// The text of region `anchor` in `source`: the lines between its
/// `ANCHOR` and `ANCHOR_END` lines, nested anchor lines removed, dedented
/// by their common indentation.
pub(crate) fn anchored_region(source: &str, anchor: &str) -> Result<String, String> {
    let mut lines = source.lines();
    if !lines
        .by_ref()
        .any(|line| anchor_line(line) == Some((true, anchor)))
    {
        return Err(format!("no `// ANCHOR: {anchor}` line"));
    }
    let mut region = Vec::new();
    let mut ended = false;
    for line in lines {
        match anchor_line(line) {
            Some((false, name)) if name == anchor => {
                ended = true;
                break;
            }
            Some(_) => {} // a nested anchor: not part of the text
            None => region.push(line),
        }
    }
    if !ended {
        return Err(format!(
            "`// ANCHOR: {anchor}` has no `// ANCHOR_END: {anchor}`"
        ));
    }
    let indent = region
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = region
        .iter()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect();
    Ok(dedented.join("\n"))
}

/// One `<!-- include: FILE:ANCHOR -->` marker and the fenced block under it.
#[derive(Debug, PartialEq)]
pub(crate) struct Excerpt {
    /// 1-based line of the marker, for messages.
    pub(crate) marker_line: usize,
    /// The source file, relative to the crate root.
    pub(crate) file: String,
    /// The anchor's name.
    pub(crate) anchor: String,
    /// 0-based index of the first line inside the fence.
    pub(crate) body_start: usize,
    /// 0-based index of the closing fence line.
    pub(crate) body_end: usize,
}

/// For each line, whether it belongs to a fenced code block (fence lines
/// included). A fence closes only with at least as many backticks as opened
/// it, so a ```` ```` ```` block can show ```` ``` ```` lines.
pub(crate) fn in_code_block(lines: &[&str]) -> Vec<bool> {
    let mut open_fence: Option<usize> = None;
    lines
        .iter()
        .map(|line| {
            let line = line.trim();
            let ticks = line.len() - line.trim_start_matches('`').len();
            if ticks < 3 {
                return open_fence.is_some();
            }
            match open_fence {
                None => open_fence = Some(ticks),
                Some(open) if ticks >= open && line.trim_start_matches('`').is_empty() => {
                    open_fence = None;
                }
                Some(_) => {}
            }
            true
        })
        .collect()
}

pub(crate) const MARKER: &str = "<!-- include:";

/// Finds every excerpt marker in a chapter. A marker that is not directly
/// followed by a complete ```` ```rust ```` block is an error.
pub(crate) fn find_excerpts(chapter: &str) -> Result<Vec<Excerpt>, String> {
    let lines: Vec<&str> = chapter.lines().collect();
    let mut excerpts = Vec::new();
    // A marker shown *inside* a code block (as in lessons/README.md) is an
    // example, not an excerpt.
    let in_code = in_code_block(&lines);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let Some(rest) = line.strip_prefix(MARKER).filter(|_| !in_code[i]) else {
            i += 1;
            continue;
        };
        let marker_line = i + 1;
        let Some(target) = rest.strip_suffix("-->").map(str::trim) else {
            return Err(format!(
                "line {marker_line}: marker does not end with `-->`"
            ));
        };
        let Some((file, anchor)) = target.rsplit_once(':') else {
            return Err(format!(
                "line {marker_line}: marker `{target}` is not FILE:ANCHOR"
            ));
        };
        if !lines
            .get(i + 1)
            .is_some_and(|fence| fence.trim_end().starts_with("```rust"))
        {
            return Err(format!(
                "line {marker_line}: marker must be directly followed by a ```rust block"
            ));
        }
        let body_start = i + 2;
        let Some(body_end) = (body_start..lines.len()).find(|&j| lines[j].trim_end() == "```")
        else {
            return Err(format!(
                "line {marker_line}: the ```rust block is never closed"
            ));
        };
        excerpts.push(Excerpt {
            marker_line,
            file: file.trim().to_owned(),
            anchor: anchor.trim().to_owned(),
            body_start,
            body_end,
        });
        i = body_end + 1;
    }
    Ok(excerpts)
}

/// A short line diff (longest common subsequence), `-` for the chapter's
/// lines, `+` for the source's.
pub(crate) fn diff(chapter: &str, source: &str) -> String {
    let a: Vec<&str> = chapter.lines().collect();
    let b: Vec<&str> = source.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Walk the table: ' ' common, '-' only in the chapter, '+' only in the source.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    // Show the changes with two lines of context around each.
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("    ...\n");
                skipped = false;
            }
            let _ = writeln!(out, "    {op} {line}");
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str("    ...\n");
    }
    out
}

/// What checking one chapter's excerpts found.
pub(crate) struct Checked {
    /// Excerpts that are wrong (missing file or anchor, or drifted text).
    pub(crate) problems: Vec<String>,
    /// With `update`: the chapter's new text, if any excerpt was rewritten.
    pub(crate) new_text: Option<String>,
    /// With `update`: the excerpts that were rewritten.
    pub(crate) rewrites: Vec<String>,
}

/// Checks (or, with `update`, rewrites) every excerpt of one chapter.
pub(crate) fn check_excerpts(
    chapter_name: &str,
    text: &str,
    read_source: &dyn Fn(&str) -> Option<String>,
    update: bool,
) -> Checked {
    let mut problems = Vec::new();
    let mut rewrites = Vec::new();
    let excerpts = match find_excerpts(text) {
        Ok(excerpts) => excerpts,
        Err(e) => {
            return Checked {
                problems: vec![format!("{chapter_name}: {e}")],
                new_text: None,
                rewrites,
            };
        }
    };
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Back to front, so rewriting one block leaves earlier line numbers valid.
    for excerpt in excerpts.iter().rev() {
        let at = format!(
            "{chapter_name}:{} (include: {}:{})",
            excerpt.marker_line, excerpt.file, excerpt.anchor
        );
        let Some(source) = read_source(&excerpt.file) else {
            problems.push(format!("{at}: the file {} does not exist", excerpt.file));
            continue;
        };
        let expected = match anchored_region(&source, &excerpt.anchor) {
            Ok(region) => region,
            Err(e) => {
                problems.push(format!("{at}: {} has {e}", excerpt.file));
                continue;
            }
        };
        if expected
            .lines()
            .any(|line| line.trim_start().starts_with("```"))
        {
            problems.push(format!(
                "{at}: the region contains a ``` line; it cannot be fenced"
            ));
            continue;
        }
        let found = lines[excerpt.body_start..excerpt.body_end].join("\n");
        if found == expected {
            continue;
        }
        if update {
            lines.splice(
                excerpt.body_start..excerpt.body_end,
                expected.lines().map(str::to_owned),
            );
            rewrites.push(at);
        } else {
            problems.push(format!(
                "{at}: the excerpt differs from the source \
                 (- chapter, + source):\n{}",
                diff(&found, &expected)
            ));
        }
    }
    // Found back to front; report front to back.
    problems.reverse();
    rewrites.reverse();
    let new_text = (!rewrites.is_empty()).then(|| {
        let mut joined = lines.join("\n");
        if text.ends_with('\n') {
            joined.push('\n');
        }
        joined
    });
    Checked {
        problems,
        new_text,
        rewrites,
    }
}
