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
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;

// The checkers' parts, by job, in tests/chapters/: where the files are
// (files), excerpts and anchored regions (excerpts), the book's includes
// and table of contents (book), commands, links and headings in the prose
// (text). The tests themselves stay here, under their names.
#[path = "chapters/book.rs"]
mod book;
#[path = "chapters/excerpts.rs"]
mod excerpts;
#[path = "chapters/files.rs"]
mod files;
#[path = "chapters/text.rs"]
mod text;

use book::*;
use excerpts::*;
use files::*;
use text::*;

// ---------------------------------------------------------------------------
// Excerpts in the chapters (the checker: chapters/excerpts.rs)
// ---------------------------------------------------------------------------

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
