//! The book: mdBook's `{{#include}}` directives and `SUMMARY.md`'s links.

/// The targets of every `{{#include ...}}` / `{{#rustdoc_include ...}}` in
/// `text`, as (path, optional anchor). Line ranges (`:10:20`) are not anchors.
pub(crate) fn mdbook_includes(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
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

/// The link targets of `SUMMARY.md` (`[title](target)`), in order.
pub(crate) fn summary_links(summary: &str) -> Vec<String> {
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
pub(crate) fn is_numbered_chapter(name: &str) -> bool {
    // "03-send-queue.md", or an interlude such as "03b-stranded-packet.md"
    let bytes = name.as_bytes();
    let dash = if bytes.get(2).is_some_and(u8::is_ascii_lowercase) {
        3
    } else {
        2
    };
    bytes.len() > dash + 4
        && bytes[0].is_ascii_digit()
        && bytes[1].is_ascii_digit()
        && bytes[dash] == b'-'
        && name.ends_with(".md")
}
