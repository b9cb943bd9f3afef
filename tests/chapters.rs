//! The course text stays true to the code.
//!
//! Code in a chapter (`lessons/*.md`) is never pasted by hand. A chapter
//! shows an excerpt with a marker line directly above a fenced block:
//!
//! ````text
//! <!-- include: src/lessons/lesson03_send_queue.rs:send -->
//! ```rust
//! ...the text between `// ANCHOR: send` and `// ANCHOR_END: send`...
//! ```
//! ````
//!
//! The block must equal the anchored region of the source: anchor lines
//! excluded, nested `ANCHOR` lines stripped, dedented by the common
//! indentation. This renders on GitHub and in mdBook alike, and this test
//! fails the moment the text and the code drift apart.
//!
//! To regenerate every excerpt from the source after changing a lesson:
//!
//! ```text
//! UPDATE_CHAPTERS=1 cargo test --test chapters
//! ```
//!
//! The test also checks that every mdBook `{{#include ...}}` resolves, that
//! `SUMMARY.md` and the chapter files agree, that every
//! `cargo run --example NAME` in the text names an existing example, and
//! that links from the chapters and the README to repository files resolve.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The crate root: paths in markers are relative to it.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file in `lessons/`, sorted.
fn chapter_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("lessons"))
        .expect("lessons/ exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();
    files
}

/// A path relative to the crate root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", shown(path)))
}

// ---------------------------------------------------------------------------
// Anchored regions of the source
// ---------------------------------------------------------------------------

/// Whether `line` is an anchor line (`// ANCHOR: x` or `// ANCHOR_END: x`),
/// and if so, whether it starts or ends a region, and its name.
fn anchor_line(line: &str) -> Option<(bool, &str)> {
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
fn anchored_region(source: &str, anchor: &str) -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// Excerpts in the chapters
// ---------------------------------------------------------------------------

/// One `<!-- include: FILE:ANCHOR -->` marker and the fenced block under it.
#[derive(Debug, PartialEq)]
struct Excerpt {
    /// 1-based line of the marker, for messages.
    marker_line: usize,
    /// The source file, relative to the crate root.
    file: String,
    /// The anchor's name.
    anchor: String,
    /// 0-based index of the first line inside the fence.
    body_start: usize,
    /// 0-based index of the closing fence line.
    body_end: usize,
}

/// For each line, whether it belongs to a fenced code block (fence lines
/// included). A fence closes only with at least as many backticks as opened
/// it, so a ```` ```` ```` block can show ```` ``` ```` lines.
fn in_code_block(lines: &[&str]) -> Vec<bool> {
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

const MARKER: &str = "<!-- include:";

/// Finds every excerpt marker in a chapter. A marker that is not directly
/// followed by a complete ```` ```rust ```` block is an error.
fn find_excerpts(chapter: &str) -> Result<Vec<Excerpt>, String> {
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
fn diff(chapter: &str, source: &str) -> String {
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
struct Checked {
    /// Excerpts that are wrong (missing file or anchor, or drifted text).
    problems: Vec<String>,
    /// With `update`: the chapter's new text, if any excerpt was rewritten.
    new_text: Option<String>,
    /// With `update`: the excerpts that were rewritten.
    rewrites: Vec<String>,
}

/// Checks (or, with `update`, rewrites) every excerpt of one chapter.
fn check_excerpts(
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

fn read_crate_file(relative: &str) -> Option<String> {
    fs::read_to_string(root().join(relative)).ok()
}

#[test]
fn excerpts_match_the_source() {
    let update = std::env::var("UPDATE_CHAPTERS").is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    let mut count = 0;
    for path in chapter_files() {
        let text = read(&path);
        count += find_excerpts(&text).map(|e| e.len()).unwrap_or(0);
        let checked = check_excerpts(&shown(&path), &text, &read_crate_file, update);
        problems.extend(checked.problems);
        for at in &checked.rewrites {
            // Straight to stderr: the test harness captures `println!`, and
            // an author who asked for a rewrite should see what was rewritten.
            let _ = writeln!(std::io::stderr(), "chapters: rewrote {at} from the source");
        }
        if let Some(new_text) = checked.new_text {
            fs::write(&path, new_text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", shown(&path)));
        }
    }
    assert!(
        problems.is_empty(),
        "{} chapter excerpt problem(s):\n\n{}\n\nIf the source changed on purpose, regenerate the \
         excerpts with:\n    UPDATE_CHAPTERS=1 cargo test --test chapters\n",
        problems.len(),
        problems.join("\n\n")
    );
    assert!(
        count >= 5,
        "expected excerpts in the chapters, found {count}"
    );
}

// ---------------------------------------------------------------------------
// mdBook includes
// ---------------------------------------------------------------------------

/// The targets of every `{{#include ...}}` / `{{#rustdoc_include ...}}` in
/// `text`, as (path, optional anchor). Line ranges (`:10:20`) are not anchors.
fn mdbook_includes(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut found = Vec::new();
    for (index, _) in text.match_indices("{{#") {
        let rest = &text[index + 3..];
        let Some(rest) = rest
            .strip_prefix("include ")
            .or_else(|| rest.strip_prefix("rustdoc_include "))
        else {
            continue;
        };
        let Some(end) = rest.find("}}") else {
            return Err(format!(
                "an include is never closed: {{{{#{}",
                &rest[..rest.len().min(40)]
            ));
        };
        let target = rest[..end].trim();
        let (path, anchor) = match target.split_once(':') {
            Some((path, spec)) => {
                let numeric = spec
                    .split(':')
                    .all(|part| part.chars().all(|c| c.is_ascii_digit()));
                (path, (!numeric).then(|| spec.to_owned()))
            }
            None => (target, None),
        };
        found.push((path.to_owned(), anchor));
    }
    Ok(found)
}

#[test]
fn mdbook_includes_resolve() {
    let mut problems = Vec::new();
    for path in chapter_files() {
        let text = read(&path);
        let includes = match mdbook_includes(&text) {
            Ok(includes) => includes,
            Err(e) => {
                problems.push(format!("{}: {e}", shown(&path)));
                continue;
            }
        };
        for (target, anchor) in includes {
            // mdBook resolves include paths relative to the chapter's directory.
            let file = path
                .parent()
                .expect("a chapter has a directory")
                .join(&target);
            let Ok(source) = fs::read_to_string(&file) else {
                problems.push(format!(
                    "{}: {{{{#include {target}}}}}: no such file",
                    shown(&path)
                ));
                continue;
            };
            // (No let-chain here: the crate promises Rust 1.85.)
            if let Some(anchor) = anchor {
                if let Err(e) = anchored_region(&source, &anchor) {
                    problems.push(format!(
                        "{}: {{{{#include {target}:{anchor}}}}}: {e}",
                        shown(&path)
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "unresolved includes:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The book's table of contents
// ---------------------------------------------------------------------------

/// The link targets of `SUMMARY.md` (`[title](target)`), in order.
fn summary_links(summary: &str) -> Vec<String> {
    let mut links = Vec::new();
    for line in summary.lines() {
        let mut rest = line;
        while let Some(open) = rest.find("](") {
            let after = &rest[open + 2..];
            let Some(close) = after.find(')') else { break };
            let link = after[..close].trim();
            if !link.is_empty() {
                // `[08 — coming]()` is a draft chapter: listed, not yet written.
                links.push(link.to_owned());
            }
            rest = &after[close + 1..];
        }
    }
    links
}

/// Whether a file name is a numbered chapter: `NN-name.md`.
fn is_numbered_chapter(name: &str) -> bool {
    // "03-send-queue.md", or an interlude such as "03b-stranded-packet.md"
    let bytes = name.as_bytes();
    let dash = if bytes.get(2).is_some_and(u8::is_ascii_lowercase) { 3 } else { 2 };
    bytes.len() > dash + 4
        && bytes[0].is_ascii_digit()
        && bytes[1].is_ascii_digit()
        && bytes[dash] == b'-'
        && name.ends_with(".md")
}

#[test]
fn summary_lists_every_chapter_and_only_existing_ones() {
    let lessons = root().join("lessons");
    assert!(
        lessons.join("book.toml").is_file(),
        "lessons/book.toml is missing"
    );
    let summary = read(&lessons.join("SUMMARY.md"));
    let links = summary_links(&summary);
    let mut problems = Vec::new();
    for link in &links {
        if !lessons.join(link).is_file() {
            problems.push(format!("SUMMARY.md links to {link}, which does not exist"));
        }
    }
    let listed: BTreeSet<&str> = links.iter().map(String::as_str).collect();
    let mut numbered = 0;
    for path in chapter_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if is_numbered_chapter(&name) {
            numbered += 1;
            if !listed.contains(name.as_str()) {
                problems.push(format!("lessons/{name} is not listed in SUMMARY.md"));
            }
        }
    }
    if !listed.contains("README.md") {
        problems.push("SUMMARY.md does not link the introduction, README.md".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        numbered >= 5,
        "expected the five chapters, found {numbered}"
    );
}

// ---------------------------------------------------------------------------
// Commands in the text
// ---------------------------------------------------------------------------

/// The NAME of every `cargo run ... --example NAME` in `text`.
fn example_commands(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(start) = line.find("cargo run") else {
            continue;
        };
        let mut rest = &line[start..];
        while let Some(at) = rest.find("--example") {
            let after = rest[at + "--example".len()..].trim_start_matches([' ', '=']);
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            names.push(name);
            rest = after;
        }
    }
    names
}

#[test]
fn every_example_command_names_an_existing_example() {
    let mut texts: Vec<PathBuf> = chapter_files();
    texts.push(root().join("README.md"));
    let mut problems = Vec::new();
    let mut count = 0;
    for path in texts {
        for name in example_commands(&read(&path)) {
            count += 1;
            if name.is_empty() || !root().join("examples").join(format!("{name}.rs")).is_file() {
                problems.push(format!(
                    "{}: `cargo run --example {name}`: there is no examples/{name}.rs",
                    shown(&path)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        count >= 5,
        "expected example commands in the text, found {count}"
    );
}

#[test]
fn every_example_starts_with_its_own_command() {
    let mut problems = Vec::new();
    for entry in fs::read_dir(root().join("examples")).expect("examples/ exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = read(&path);
        let header: String = text
            .lines()
            .take_while(|line| line.starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if !example_commands(&header).contains(&name) {
            problems.push(format!(
                "examples/{name}.rs does not open with a comment giving `cargo run --example {name}`"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Links to files of the repository
// ---------------------------------------------------------------------------

/// The targets of Markdown links (`[text](target)`) outside fenced code blocks.
fn markdown_links(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let in_code = in_code_block(&lines);
    lines
        .iter()
        .zip(in_code)
        .filter(|(_, in_code)| !in_code)
        .flat_map(|(line, _)| summary_links(line))
        .collect()
}

#[test]
fn links_to_repository_files_resolve() {
    let mut texts: Vec<PathBuf> = chapter_files();
    texts.push(root().join("README.md"));
    let mut problems = Vec::new();
    for path in texts {
        let base = path.parent().expect("a file has a directory").to_path_buf();
        for link in markdown_links(&read(&path)) {
            if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                path.clone()
            } else {
                base.join(file)
            };
            if !target.exists() {
                problems.push(format!("{}: link to {link}: no such file", shown(&path)));
            } else if !anchor.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !heading_anchors(&read(&target)).iter().any(|a| a == anchor)
            {
                problems.push(format!(
                    "{}: link to {link}: {} has no heading with that anchor",
                    shown(&path),
                    shown(&target)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The anchors GitHub gives a Markdown file's headings: lower case, every
/// character that is not a letter, digit, space, `-` or `_` dropped, spaces
/// turned into hyphens, and `-1`, `-2`… after repeats.
fn heading_anchors(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let in_code = in_code_block(&lines);
    let mut anchors: Vec<String> = Vec::new();
    for (line, in_code) in lines.iter().zip(in_code) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if in_code {
            continue;
        }
        let title = heading.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let repeats = anchors
            .iter()
            .filter(|a| {
                **a == slug
                    || a.strip_prefix(&format!("{slug}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        anchors.push(if repeats == 0 {
            slug
        } else {
            format!("{slug}-{repeats}")
        });
    }
    anchors
}

#[test]
fn heading_anchors_follow_github() {
    let text = "# Lesson 07 — The direct path\n## Two modes at 4 × 32 B\n## Run it\n## Run it\n```text\n# not a heading\n```\n## `send` and C#\n";
    assert_eq!(
        heading_anchors(text),
        [
            "lesson-07--the-direct-path",
            "two-modes-at-4--32-b",
            "run-it",
            "run-it-1",
            "send-and-c"
        ]
    );
}

// ---------------------------------------------------------------------------
// One lesson: one module, one chapter, one example, one test file
// ---------------------------------------------------------------------------

#[test]
fn every_lesson_has_its_chapter_example_and_tests() {
    let mut modules: Vec<String> = fs::read_dir(root().join("src/lessons"))
        .expect("src/lessons/ exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter_map(|path| Some(path.file_stem()?.to_string_lossy().into_owned()))
        .filter(|stem| stem.starts_with("lesson"))
        .collect();
    modules.sort();
    let chapters: Vec<String> = chapter_files()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| is_numbered_chapter(name))
        .collect();
    let mut problems = Vec::new();
    for module in &modules {
        // lesson03_send_queue -> "03" and lessons/03-*.md; lesson03b_… -> "03b"
        let number = module["lesson".len()..]
            .split('_')
            .next()
            .unwrap_or_default();
        if !chapters
            .iter()
            .any(|name| name.starts_with(&format!("{number}-")))
        {
            problems.push(format!(
                "src/lessons/{module}.rs has no chapter lessons/{number}-*.md"
            ));
        }
        for dir in ["examples", "tests"] {
            if !root().join(dir).join(format!("{module}.rs")).is_file() {
                problems.push(format!("src/lessons/{module}.rs has no {dir}/{module}.rs"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        modules.len() >= 5,
        "expected the lesson modules, found {modules:?}"
    );
}

// ---------------------------------------------------------------------------
// The checks themselves can fail
// ---------------------------------------------------------------------------

const SOURCE: &str = "\
fn outer() {
    // ANCHOR: body
    let a = 1;
    // ANCHOR: inner
    if a > 0 {
        a + 1
    }
    // ANCHOR_END: inner
    // ANCHOR_END: body
}
";

#[test]
fn a_region_is_dedented_and_loses_nested_anchor_lines() {
    assert_eq!(
        anchored_region(SOURCE, "body").unwrap(),
        "let a = 1;\nif a > 0 {\n    a + 1\n}"
    );
    assert!(anchored_region(SOURCE, "missing").is_err());
    assert!(anchored_region("// ANCHOR: open\nx\n", "open").is_err());
}

#[test]
fn a_drifted_excerpt_is_reported_and_can_be_rewritten() {
    let good = "Text.\n\n<!-- include: lib.rs:inner -->\n```rust\nif a > 0 {\n    a + 1\n}\n```\n";
    let drifted = good.replace("a + 1", "a + 2");
    let source = |file: &str| (file == "lib.rs").then(|| SOURCE.to_owned());

    let checked = check_excerpts("good.md", good, &source, false);
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert!(checked.new_text.is_none());

    let checked = check_excerpts("drifted.md", &drifted, &source, false);
    assert_eq!(checked.problems.len(), 1);
    let problem = &checked.problems[0];
    assert!(!problem.contains("    - if a > 0 {"), "{problem}"); // common lines are not marked
    assert!(
        problem.contains("    - ") && problem.contains("a + 2"),
        "{problem}"
    );
    assert!(
        problem.contains("    + ") && problem.contains("a + 1"),
        "{problem}"
    );
    assert!(
        checked.new_text.is_none(),
        "nothing is rewritten without update"
    );

    let checked = check_excerpts("drifted.md", &drifted, &source, true);
    assert!(checked.problems.is_empty());
    assert_eq!(checked.new_text.as_deref(), Some(good));
    assert_eq!(checked.rewrites.len(), 1);

    let problems = |text: &str| check_excerpts("m.md", text, &source, false).problems;
    assert!(problems(&good.replace("lib.rs", "nope.rs"))[0].contains("does not exist"));
    assert!(problems(&good.replace(":inner", ":outer"))[0].contains("ANCHOR: outer"));
    assert!(!problems("<!-- include: lib.rs:inner -->\n\nno block\n").is_empty());
    assert!(!problems("<!-- include: lib.rs:inner -->\n```rust\nnever closed\n").is_empty());
    // A marker shown inside a code block is an example, not an excerpt.
    let example = "````text\n<!-- include: nope.rs:x -->\n```rust\n...\n```\n````\n";
    assert_eq!(find_excerpts(example).unwrap(), vec![]);
    assert_eq!(find_excerpts(&format!("{example}{good}")).unwrap().len(), 1);
}

#[test]
fn include_directives_and_commands_are_parsed() {
    let text =
        "{{#include ../src/a.rs:send}} {{#include ../src/b.rs:3:9}} {{#rustdoc_include c.rs}}";
    assert_eq!(
        mdbook_includes(text).unwrap(),
        vec![
            ("../src/a.rs".to_owned(), Some("send".to_owned())),
            ("../src/b.rs".to_owned(), None),
            ("c.rs".to_owned(), None),
        ]
    );
    assert_eq!(
        example_commands("run `RUST_LOG=trace cargo run --example lesson03_send_queue` now"),
        vec!["lesson03_send_queue"]
    );
    assert_eq!(
        summary_links("- [One](01-one.md)\n  - [Two](02-two.md) [x](y.md)"),
        vec!["01-one.md", "02-two.md", "y.md"]
    );
    assert_eq!(
        markdown_links("[a](a.md)\n````text\n```\n[b](b.md)\n````\n[c](../c.rs#x)"),
        vec!["a.md", "../c.rs#x"]
    );
    assert!(is_numbered_chapter("03-send-queue.md"));
    assert!(!is_numbered_chapter("README.md"));
}

/// The module of lesson `number` ("03", "03b"): `src/lessons/lesson{number}_*.rs`.
fn lesson_module(number: &str) -> Option<PathBuf> {
    let prefix = format!("lesson{number}_");
    fs::read_dir(root().join("src/lessons"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
}

#[test]
fn the_diff_table_gives_each_copy_its_size() {
    let readme = read(&root().join("lessons/README.md"));
    let section = readme
        .split("## Diff the lessons")
        .nth(1)
        .expect("lessons/README.md has a 'Diff the lessons' section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut rows = 0;
    let mut problems = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some((from, to)) = cells.first().and_then(|c| c.split_once(" → ")) else {
            continue;
        };
        if !from.starts_with(|c: char| c.is_ascii_digit()) {
            continue; // the header row
        }
        rows += 1;
        let (Some(_), Some(module)) = (lesson_module(from), lesson_module(to)) else {
            problems.push(format!("`{line}`: no module for lesson {from} or {to}"));
            continue;
        };
        let lines = read(&module).lines().count();
        let quoted = cells.last().copied().unwrap_or_default();
        if quoted != lines.to_string() {
            problems.push(format!(
                "`{from} → {to}`: the table says {quoted} lines, {} has {lines}",
                shown(&module)
            ));
        }
    }
    assert!(rows >= 5, "expected the diff table's rows, found {rows}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
