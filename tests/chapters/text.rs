//! What the prose refers to: example commands, links, heading anchors.

use super::book::summary_links;
use super::excerpts::in_code_block;

/// The NAME of every `cargo run ... --example NAME` in `text`.
pub(crate) fn example_commands(text: &str) -> Vec<String> {
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

/// The targets of Markdown links (`[text](target)`) outside fenced code blocks.
pub(crate) fn markdown_links(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let in_code = in_code_block(&lines);
    lines
        .iter()
        .zip(in_code)
        .filter(|(_, in_code)| !in_code)
        .flat_map(|(line, _)| summary_links(line))
        .collect()
}

/// The anchors GitHub gives a Markdown file's headings: lower case, every
/// character that is not a letter, digit, space, `-` or `_` dropped, spaces
/// turned into hyphens, and `-1`, `-2`… after repeats.
pub(crate) fn heading_anchors(text: &str) -> Vec<String> {
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
