//! Dockerfiles no project file names: which are images to ship and which are tools, and the
//! build context each needs — the folder its `COPY`/`ADD` sources resolve in (read by the same
//! parser `affected` uses, [`crate::docker::dockerfile`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Image, LeftOut, join};

/// Is `file` (a file name) a Dockerfile: `Dockerfile`, `Dockerfile.x`, `x.Dockerfile`?
pub(super) fn is_dockerfile(file: &str) -> bool {
    file == "Dockerfile"
        || file.starts_with("Dockerfile.")
        || file.ends_with(".Dockerfile")
        || file.ends_with(".dockerfile")
}

/// Why the Dockerfile at `path` (repository-relative) builds a tool, a test runner or a dev
/// image rather than something to ship; `None` for a deployable.
pub(super) fn not_deployable(path: &str) -> Option<&'static str> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let variant = file
        .strip_prefix("Dockerfile.")
        .or_else(|| file.strip_suffix(".Dockerfile"))
        .or_else(|| file.strip_suffix(".dockerfile"))
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(
        variant.as_str(),
        "dev" | "debug" | "development" | "local" | "test" | "tests" | "ci" | "cypress" | "e2e"
    ) {
        return Some(match variant.as_str() {
            "dev" | "debug" | "development" | "local" => "a development image",
            _ => "a test runner",
        });
    }
    for part in dir.split('/') {
        match part.to_ascii_lowercase().as_str() {
            "genproto" | "protos" | "proto" | "codegen" | "tools" | "hack" => {
                return Some("a tool image (code generation or scripts)");
            }
            "test" | "tests" | "e2e" | "integration-tests" | "cypress" | "testdata"
            | "fixtures" | ".devcontainer" | "devcontainer" => {
                return Some("a test or dev-container image");
            }
            _ => {}
        }
    }
    None
}

/// The Dockerfiles under `dirs` not already named by `images`: deployables become images (their
/// context inferred), the rest are left out with the reason. `Dockerfile.<env>` beside a
/// `Dockerfile` is that service's variant for an environment, not an image of its own.
pub(super) fn read(
    root: &Path,
    dirs: &[String],
    envs: &[String],
    images: &mut Vec<Image>,
    left_out: &mut Vec<LeftOut>,
) {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| is_dockerfile(n))
            .collect();
        files.sort();
        let has_plain = files.iter().any(|f| f == "Dockerfile");
        for file in files {
            if has_plain
                && file
                    .strip_prefix("Dockerfile.")
                    .is_some_and(|v| envs.iter().any(|e| e == v))
            {
                continue;
            }
            let path = join(dir, &file);
            if images.iter().any(|i| i.dockerfile == path) {
                continue;
            }
            if let Some(why) = not_deployable(&path) {
                left_out.push(LeftOut { path, why });
                continue;
            }
            // `Dockerfile` is where a deployable's build is by convention; a variant (`.android`,
            // `.worker`) that no compose file, skaffold.yaml or workflow builds is not assumed one.
            if file != "Dockerfile" {
                left_out.push(LeftOut {
                    path,
                    why: "a variant that no compose file, skaffold.yaml or workflow builds",
                });
                continue;
            }
            let text = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
            let reads = crate::docker::dockerfile::reads(&text, &BTreeMap::new());
            if !reads.warnings.is_empty() && reads.sources.iter().all(|s| s.path.is_none()) {
                left_out.push(LeftOut {
                    path,
                    why: "a template: what it copies is named by build args nothing here sets",
                });
                continue;
            }
            let (context, why) = context(root, dir, &text);
            images.push(Image {
                dockerfile: path,
                context,
                args: BTreeMap::new(),
                args_from_env: false,
                target: None,
                from: why,
            });
        }
    }
}

/// The build context of a Dockerfile in `dir`: of `dir` and its parents, the deepest in which
/// every `COPY`/`ADD` source exists; else the one in which the most do; else `dir`.
pub(super) fn context(root: &Path, dir: &str, text: &str) -> (String, String) {
    let reads = crate::docker::dockerfile::reads(text, &BTreeMap::new());
    let sources: Vec<String> = reads.sources.into_iter().filter_map(|s| s.path).collect();
    if sources.is_empty() {
        return (
            dir.to_string(),
            "its folder (the Dockerfile copies nothing by name, or all of it)".to_string(),
        );
    }
    let mut candidates = vec![dir.to_string()];
    let mut d = dir;
    while !d.is_empty() {
        d = d.rsplit_once('/').map_or("", |(p, _)| p);
        candidates.push(d.to_string());
    }
    let mut best: Option<(usize, &String)> = None;
    for c in &candidates {
        let found = sources.iter().filter(|s| exists(root, c, s)).count();
        if found == sources.len() {
            let why = if c == dir {
                "its folder: every COPY source is there".to_string()
            } else {
                format!(
                    "`{}`: every COPY source is there, not all in the Dockerfile's folder",
                    if c.is_empty() { "." } else { c }
                )
            };
            return (c.clone(), why);
        }
        if found > best.map_or(0, |b| b.0) {
            best = Some((found, c));
        }
    }
    match best {
        Some((n, c)) => (
            c.clone(),
            format!(
                "`{}`: {n} of {} COPY sources are there (check the others)",
                if c.is_empty() { "." } else { c },
                sources.len()
            ),
        ),
        None => (
            dir.to_string(),
            "its folder (no COPY source exists anywhere: check it)".to_string(),
        ),
    }
}

/// Does `source` (maybe with `*`, `?`, `[…]`) name something in the folder `base`?
fn exists(root: &Path, base: &str, source: &str) -> bool {
    let parts: Vec<&str> = source.split('/').filter(|p| !p.is_empty()).collect();
    let Some(glob_at) = parts.iter().position(|p| p.contains(['*', '?', '['])) else {
        return root.join(base).join(source).exists();
    };
    let prefix = root.join(base).join(parts[..glob_at].join("/"));
    let Ok(matcher) = globset::Glob::new(parts[glob_at]).map(|g| g.compile_matcher()) else {
        return prefix.is_dir();
    };
    std::fs::read_dir(&prefix)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| matcher.is_match(e.file_name().to_string_lossy().as_ref()))
}

/// Whether a Dockerfile built from the root copies the root's `file` (`COPY go.mod go.sum ./`,
/// `COPY package*.json ./`, `COPY . .`).
pub(super) fn copies_root_file(dockerfile: &str, file: &str) -> bool {
    dockerfile.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else {
            return false;
        };
        if !first.eq_ignore_ascii_case("COPY") && !first.eq_ignore_ascii_case("ADD") {
            return false;
        }
        let sources: Vec<&str> = rest
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let Some((_, sources)) = sources.split_last() else {
            return false;
        };
        sources.iter().any(|s| {
            let s = s
                .trim_matches(['"', '[', ']', ','])
                .trim_start_matches("./");
            match s.split_once('*') {
                _ if s.is_empty() || s == "." => true,
                Some((pre, post)) => {
                    !s.contains('/')
                        && file.len() >= pre.len() + post.len()
                        && file.starts_with(pre)
                        && file.ends_with(post.trim_start_matches('*'))
                }
                None => s == file,
            }
        })
    })
}
