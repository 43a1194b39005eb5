//! The rules of ARCHITECTURE.md's "Invariants" that a reading of the source can check. Each rule is
//! one test; each failure names the file and line that breaks it, so that a change that breaks a rule
//! fails CI with the place to look.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to the project root, text).
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    assert!(
        files.len() > 20,
        "found only {} source files under src/",
        files.len()
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (
                path.strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf(),
                text,
            )
        })
        .collect()
}

/// The lines of `text` that are not inside a `#[cfg(test)]` module or a comment, with their numbers
/// (1-based). A test module is taken to run from its `#[cfg(test)]` line to the end of the file, which
/// is where this project keeps them.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| {
            let trimmed = line.trim_start();
            !trimmed.starts_with("//")
        })
        .map(|(index, line)| (index + 1, line))
}

/// Breaks of one rule, as "path:line: text", or an empty list.
fn breaks(rule: impl Fn(&Path, &str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        for (number, line) in code_lines(&text) {
            if rule(&path, line) {
                found.push(format!("{}:{number}: {}", path.display(), line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_debug_macro_is_left_in_the_code() {
    let found = breaks(|_, line| line.contains("dbg!("));
    assert!(found.is_empty(), "dbg! left in:\n{}", found.join("\n"));
}
