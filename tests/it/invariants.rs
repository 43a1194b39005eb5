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

/// Files other changes are converting now (their errors to types): the string-error rule skips
/// them until those changes land. The lead empties this list when they have.
const PENDING: &[&str] = &[
    "src/registry/",
    "src/ecs/rollout.rs",
    "src/pipeline/rollout.rs",
];

fn pending(path: &Path) -> bool {
    let path = path.to_string_lossy().replace('\\', "/");
    PENDING.iter().any(|p| path.starts_with(p))
}

/// A `tests.rs` beside a module is that module's `#[cfg(test)] mod tests`.
fn test_module(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
}

#[test]
fn the_environment_is_read_in_env_vars_and_github_env_only() {
    let allowed = [Path::new("src/env_vars.rs"), Path::new("src/github.rs")];
    let found = breaks(|path, line| {
        !allowed.contains(&path) && !test_module(path) && line.contains("env::var")
    });
    assert!(
        found.is_empty(),
        "the environment read outside src/env_vars.rs / github::Env (read it into github::Env at \
         the top and pass it down):\n{}",
        found.join("\n")
    );
}

/// The type arguments of every `Result<…>` in `code`, split at their top-level commas.
fn result_arguments(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("Result<") {
        let start = from + at + "Result<".len();
        from = start;
        // `SomeResult<` is another type.
        if code[..start - "Result<".len()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let (mut depth, mut parts, mut part) = (1, Vec::new(), String::new());
        let mut i = start;
        while i < bytes.len() && depth > 0 {
            let c = bytes[i] as char;
            match c {
                '<' | '(' | '[' => depth += 1,
                // `->` inside `impl Fn(A) -> B` is no closing bracket.
                '>' if i > 0 && bytes[i - 1] == b'-' => {}
                '>' | ')' | ']' => depth -= 1,
                _ => {}
            }
            if depth == 1 && c == ',' {
                parts.push(std::mem::take(&mut part));
            } else if depth > 0 {
                part.push(c);
            }
            i += 1;
        }
        parts.push(part);
        out.push(
            parts
                .into_iter()
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| !p.is_empty())
                .collect(),
        );
    }
    out
}

#[test]
fn result_arguments_are_read_whole() {
    assert_eq!(
        result_arguments("fn f() -> Result<BTreeMap<String, String>, StageError> {"),
        [["BTreeMap<String, String>", "StageError"]]
    );
    assert_eq!(
        result_arguments("Result<\n    impl Fn(u8) -> u8,\n    String,\n> x io::Result<()>"),
        vec![vec!["impl Fn(u8) -> u8", "String"], vec!["()"]]
    );
}

#[test]
fn failures_are_typed_not_strings() {
    const AT_MOST: usize = 5;
    let mut found = Vec::new();
    for (path, text) in sources() {
        if pending(&path) || test_module(&path) {
            continue;
        }
        let code: String = code_lines(&text)
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        for arguments in result_arguments(&code) {
            if arguments.len() == 2 && arguments[1] == "String" {
                found.push(format!(
                    "{}: Result<{}, String>",
                    path.display(),
                    arguments[0]
                ));
            }
        }
    }
    assert!(
        found.len() <= AT_MOST,
        "more than {AT_MOST} `Result<_, String>` in src/ (give the module a thiserror enum that \
         carries what it was working on):\n{}",
        found.join("\n")
    );
}
