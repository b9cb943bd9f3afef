//! Where the chapters and the sources are, and reading them.

use std::fs;
use std::path::{Path, PathBuf};

/// The crate root: paths in markers are relative to it.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file in `lessons/`, sorted.
pub(crate) fn chapter_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("lessons"))
        .expect("lessons/ exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();
    files
}

/// A path relative to the crate root, for messages.
pub(crate) fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

pub(crate) fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", shown(path)))
}

pub(crate) fn read_crate_file(relative: &str) -> Option<String> {
    fs::read_to_string(root().join(relative)).ok()
}

/// The module of lesson `number` ("03", "03b"): `src/lessons/lesson{number}_*.rs`
/// (the file, not a directory of submodules beside it, as lesson 08 has).
pub(crate) fn lesson_module(number: &str) -> Option<PathBuf> {
    let prefix = format!("lesson{number}_");
    fs::read_dir(root().join("src/lessons"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.extension().is_some_and(|ext| ext == "rs")
                && path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
}
