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

/// A module of the import graph: a top-level module of `src/` (`config`, `report`, …), or a
/// submodule of `pipeline` (`pipeline::schedule`); `None` for `lib.rs` and `main.rs`, the crate
/// itself, which declares every module.
fn module_of(path: &Path) -> Option<Vec<String>> {
    let relative = path.strip_prefix("src").ok()?.with_extension("");
    let mut segments: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    match segments.as_slice() {
        [only] if only == "lib" || only == "main" => None,
        _ => Some(segments),
    }
}

/// The paths a `use` tree names, from the text right after `crate::` or `super::`:
/// `config::{self, Checks}` → `[config], [config, Checks]`; `{Error, env_vars}` → two paths.
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(inner) = text.strip_prefix('{') {
        let (mut depth, mut start, mut items) = (0, 0, Vec::new());
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&inner[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return items
            .into_iter()
            .filter(|item| !matches!(item.trim(), "" | "self"))
            .flat_map(use_tree)
            .collect();
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if end == 0 {
        return Vec::new();
    }
    let first = text[..end].to_string();
    let tails = match text[end..].strip_prefix("::") {
        Some(rest) => use_tree(rest),
        None => Vec::new(),
    };
    if tails.is_empty() {
        return vec![vec![first]];
    }
    tails
        .into_iter()
        .map(|tail| std::iter::once(first.clone()).chain(tail).collect())
        .collect()
}

/// The names a module file hands on with `pub use NAME::…`, each with the submodule it comes from.
fn reexports(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (_, line) in code_lines(text) {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        for path in use_tree(rest.trim_end_matches(';')) {
            if let [from, .., name] = path.as_slice() {
                out.insert(name.clone(), from.clone());
            }
        }
    }
    out
}

/// Who imports whom, by `use crate::…`, `crate::…` paths and `super::…` outside test modules:
/// (importer, imported) → the places, as "path:line". Nodes as [`module_of`] makes them.
fn import_graph() -> std::collections::BTreeMap<(String, String), Vec<String>> {
    let files = sources();
    let text_of = |name: &str| {
        files
            .iter()
            .find(|(path, _)| path == Path::new(name))
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("{name} is missing"))
    };
    let (crate_names, pipeline_names) = (
        reexports(text_of("src/lib.rs")),
        reexports(text_of("src/pipeline/mod.rs")),
    );
    let modules: Vec<Vec<String>> = files.iter().filter_map(|(p, _)| module_of(p)).collect();
    let is_top = |name: &str| modules.iter().any(|m| m[0] == name);
    let is_pipeline_sub = |name: &str| {
        modules
            .iter()
            .any(|m| m.len() > 1 && m[0] == "pipeline" && m[1] == name)
    };
    // The node an absolute path (after `crate::`) lands in.
    let node = |path: &[String]| -> Option<String> {
        let first = path.first()?;
        let top = match crate_names.get(first) {
            Some(module) if !is_top(first) => module.clone(),
            _ if is_top(first) => first.clone(),
            _ => return None,
        };
        if top != "pipeline" {
            return Some(top);
        }
        Some(match path.get(1) {
            Some(sub) if is_pipeline_sub(sub) => format!("pipeline::{sub}"),
            Some(name) if pipeline_names.contains_key(name) => {
                format!("pipeline::{}", pipeline_names[name])
            }
            _ => "pipeline".to_string(),
        })
    };
    let mut edges: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for (path, text) in &files {
        // A `tests.rs` is a test module as a whole.
        if path.file_name().is_some_and(|f| f == "tests.rs") {
            continue;
        }
        let Some(me) = module_of(path) else { continue };
        let Some(from) = node(&me) else { continue };
        let lines: Vec<(usize, &str)> = code_lines(text).collect();
        let code: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        for (at, _) in code.match_indices("::") {
            let before = &code[..at];
            let (base, prefix) = if before.ends_with("crate") {
                (Vec::new(), "crate")
            } else if before.ends_with("super") {
                (me[..me.len() - 1].to_vec(), "super")
            } else {
                continue;
            };
            // Only a path that starts there: not `a::super::`, not `my_crate::`.
            let start = &before[..before.len() - prefix.len()];
            if start.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for tail in use_tree(&code[at + 2..]) {
                let mut absolute = base.clone();
                for segment in tail {
                    match segment.as_str() {
                        "super" => {
                            absolute.pop();
                        }
                        "self" => {}
                        _ => absolute.push(segment),
                    }
                }
                let Some(to) = node(&absolute) else { continue };
                if to == from || (to == "pipeline" && from.starts_with("pipeline")) {
                    continue;
                }
                let line = lines[before.matches('\n').count()].0;
                let place = format!("{}:{line}", path.display());
                let places = edges.entry((from.clone(), to)).or_default();
                if !places.contains(&place) {
                    places.push(place);
                }
            }
        }
    }
    edges
}

/// A circle of `edges`, as "a -> b -> a" with the places of each import, or `None`.
fn circle(edges: &std::collections::BTreeMap<(String, String), Vec<String>>) -> Option<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from.as_str()).or_default().push(to.as_str());
    }
    // Depth first; a node met again while still on the path closes a circle.
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|n| *n == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node);
            return Some(circle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(circle) = visit(to, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        if let Some(found) = visit(start, &next, &mut Vec::new(), &mut done) {
            let ties: Vec<String> = found
                .windows(2)
                .map(|pair| {
                    let places = &edges[&(pair[0].to_string(), pair[1].to_string())];
                    format!("  {} -> {}: {}", pair[0], pair[1], places.join(", "))
                })
                .collect();
            return Some(format!("{}\n{}", found.join(" -> "), ties.join("\n")));
        }
    }
    None
}

/// No two modules import each other, however far round: neither the top-level modules of `src/`
/// (`pipeline` as one) nor the submodules of `pipeline`. A circle makes the layers of
/// ARCHITECTURE.md untrue: each of its modules can only be understood, tested and changed with the
/// others.
///
/// Left out for now: imports of `crate::Error`/`crate::error`, the top-level error, which wraps
/// each module's error and is still returned by a few modules below it (`net`, `pipeline`, `plan`,
/// …); they go once every module has an error type of its own (issue 23, item 3).
#[test]
fn no_circle_of_imports() {
    let edges: std::collections::BTreeMap<(String, String), Vec<String>> = import_graph()
        .into_iter()
        .filter(|((_, to), _)| to != "error")
        .collect();
    assert!(
        edges.contains_key(&("pipeline::schedule".into(), "pipeline::service".into()))
            && edges.contains_key(&("report".into(), "pipeline::events".into())),
        "the import graph misses imports that are there: {:?}",
        edges.keys().collect::<Vec<_>>()
    );
    let top = |node: &str| node.split("::").next().unwrap_or(node).to_string();
    let mut top_level: std::collections::BTreeMap<(String, String), Vec<String>> =
        Default::default();
    for ((from, to), places) in &edges {
        if top(from) != top(to) {
            top_level
                .entry((top(from), top(to)))
                .or_default()
                .extend(places.iter().cloned());
        }
    }
    if let Some(found) = circle(&top_level) {
        panic!("a circle of imports between top-level modules: {found}");
    }
    let pipeline: std::collections::BTreeMap<(String, String), Vec<String>> = edges
        .into_iter()
        .filter(|((from, to), _)| from.starts_with("pipeline::") && to.starts_with("pipeline::"))
        .collect();
    if let Some(found) = circle(&pipeline) {
        panic!("a circle of imports inside pipeline: {found}");
    }
}

/// Only the command layer prints: `src/report/` (which redacts), `src/commands/` and `src/lib.rs`
/// (clap's own messages, the error). A `print!` anywhere else is output that bypasses the
/// redaction layer and that no `--format json` reader expects.
#[test]
fn nothing_below_the_commands_prints() {
    let found = breaks(|path, line| {
        let allowed = path.starts_with("src/report")
            || path.starts_with("src/commands")
            || path == Path::new("src/lib.rs")
            || path.file_name().is_some_and(|f| f == "tests.rs");
        let prints = [
            "print!(",
            "println!(",
            "eprint!(",
            "eprintln!(",
            "io::stdout()",
            "io::stderr()",
        ]
        .iter()
        .any(|p| line.contains(p));
        !allowed && prints
    });
    assert!(
        found.is_empty(),
        "printing outside src/report/ and src/commands/ (return the text, or send an event):\n{}",
        found.join("\n")
    );
}

#[test]
fn yaml_is_loaded_only_through_the_guarded_loader() {
    // init reads compose files, skaffold.yaml and workflows it did not write: only
    // src/init/detect/yaml.rs calls the YAML loader, behind its limits on size, aliases and depth.
    let found = breaks(|path, line| {
        line.contains("YamlLoader") && !path.ends_with("src/init/detect/yaml.rs")
    });
    assert!(
        found.is_empty(),
        "YAML loaded outside src/init/detect/yaml.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_init_guess_names_a_made_up_commit() {
    // The workflow init writes pins the action to a real release commit or to forty zeros.
    let found = breaks(|_, line| line.contains("0123456789abcdef0123456789abcdef01234567"));
    assert!(found.is_empty(), "a made-up SHA:\n{}", found.join("\n"));
    // Nor do the example workflows users copy: their pin is forty zeros (which no commit has) until
    // a user puts the release's commit there.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pins = 0;
    for name in ["release.yml", "release-matrix.yml"] {
        let path = root.join("examples/workflows").join(name);
        let text = std::fs::read_to_string(&path).expect("the example workflow");
        for (number, line) in text.lines().enumerate() {
            if let Some((_, pin)) = line.split_once("uses: shipit-dev/shipit@") {
                pins += 1;
                let sha = pin.split_whitespace().next().unwrap_or_default();
                assert_eq!(
                    sha,
                    "0".repeat(40),
                    "{}:{}: the example pins shipit to a commit that looks real",
                    path.display(),
                    number + 1
                );
            }
        }
    }
    assert_eq!(pins, 3, "the example workflows' shipit steps");
}

/// The registry is one interface: outside `src/registry/` no code names a backend (its module, its
/// type, or a variant of the enum that holds them). What differs between ECR and an OCI registry
/// is asked of `registry::Client` (`guards_tags`, `feasible`, `expire_untagged`), never matched on.
#[test]
fn no_code_outside_the_registry_names_a_backend() {
    const TELLS: [&str; 7] = [
        "Backend::",
        "registry::ecr",
        "registry::oci",
        "ecr::Ecr",
        "oci::Oci",
        "Client::Ecr",
        "Client::Oci",
    ];
    let found = breaks(|path, line| {
        !path.starts_with("src/registry") && TELLS.iter().any(|tell| line.contains(tell))
    });
    assert!(
        found.is_empty(),
        "a backend named outside src/registry/:\n{}",
        found.join("\n")
    );
}

/// Registry errors are types that carry what they worked on: no `Result<_, String>` and no
/// free-text `why: String` in `src/registry/`.
#[test]
fn registry_errors_are_typed() {
    let found = breaks(|path, line| {
        path.starts_with("src/registry")
            && (line.contains("why: String")
                || (line.contains("Result<")
                    && line
                        .replace("Map<String, String>", "")
                        .contains(", String>")))
    });
    assert!(
        found.is_empty(),
        "a string error in src/registry/:\n{}",
        found.join("\n")
    );
}

/// The manifest media types shipit accepts are listed once, in `registry/manifest.rs`.
#[test]
fn manifest_media_types_are_listed_once() {
    let found = breaks(|path, line| {
        path != Path::new("src/registry/manifest.rs")
            && (line.contains("\"application/vnd.oci.image.index.v1+json")
                || line.contains("\"application/vnd.docker.distribution.manifest"))
    });
    assert!(
        found.is_empty(),
        "a manifest media type listed outside src/registry/manifest.rs:\n{}",
        found.join("\n")
    );
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
        if test_module(&path) {
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

/// A source file over 600 lines says why at its top, in a line starting `//! Over 600 lines:`
/// (its inline tests moved to a `tests.rs` beside it first).
#[test]
fn every_file_over_600_lines_says_why() {
    let found: Vec<String> = sources()
        .into_iter()
        .filter_map(|(path, text)| {
            let lines = text.lines().count();
            let says_why = text
                .lines()
                .take_while(|line| line.starts_with("//!") || line.trim().is_empty())
                .any(|line| line.starts_with("//! Over 600 lines:"));
            (lines > 600 && !says_why).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "over 600 lines without a `//! Over 600 lines:` line at the top (move its inline tests to \
         a tests.rs beside it, or say why it is long):\n{}",
        found.join("\n")
    );
}

/// The speed tricks live in `src/fast.rs`, which says what each buys: nothing else leaks memory or
/// moves threads between CPUs.
#[test]
fn speed_tricks_live_in_fast_rs() {
    let found = breaks(|path, line| {
        path != Path::new("src/fast.rs")
            && [
                "mem::forget",
                "ManuallyDrop",
                "Box::leak",
                "sched_setaffinity",
            ]
            .iter()
            .any(|trick| line.contains(trick))
    });
    assert!(
        found.is_empty(),
        "a speed trick outside src/fast.rs (put it there, measured):\n{}",
        found.join("\n")
    );
}

/// The fuzz crate (`fuzz/`, its own lock file) builds shipit with the versions shipit's own lock
/// file names: a lock that kept an older SDK once built a shipit whose code called operations that
/// SDK does not have, and `scripts/fuzz` failed to compile in CI.
#[test]
fn the_fuzz_lock_file_names_the_same_versions_as_shipits() {
    fn packages(path: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
        let text = std::fs::read_to_string(path).expect("a lock file");
        let lock: toml::Table = text.parse().expect("a lock file is TOML");
        let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
        for package in lock["package"].as_array().expect("[[package]]") {
            let name = package["name"].as_str().expect("a name").to_string();
            let version = package["version"].as_str().expect("a version").to_string();
            out.entry(name).or_default().push(version);
        }
        out
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipit = packages(&root.join("Cargo.lock"));
    let fuzz = packages(&root.join("fuzz/Cargo.lock"));
    let differ: Vec<String> = shipit
        .iter()
        .filter_map(|(name, versions)| {
            // shipit's dev-dependencies may add versions the fuzz crate has no use for.
            let theirs = fuzz.get(name)?;
            let stale = theirs.iter().any(|v| !versions.contains(v));
            stale.then(|| format!("{name}: {versions:?} here, {theirs:?} in fuzz/"))
        })
        .collect();
    assert!(
        shipit
            .keys()
            .filter(|name| fuzz.contains_key(*name))
            .count()
            > 100,
        "the fuzz lock file shares almost nothing with shipit's"
    );
    assert!(
        differ.is_empty(),
        "fuzz/Cargo.lock differs from Cargo.lock (copy Cargo.lock to fuzz/Cargo.lock, then run \
         `cargo +nightly metadata` in fuzz/ to add the fuzzer's own crates):\n{}",
        differ.join("\n")
    );
}
