//! What the repository's own GitHub workflows build and watch: `docker/build-push-action` steps
//! (`context`, `file`, `build-args`, `target`; `${{ matrix.… }}` expanded from the job's matrix),
//! `docker build` lines in `run:` scripts, and `dorny/paths-filter` filters.

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::Yaml;

use super::{Image, join_clean, yaml};

pub(super) const DIR: &str = ".github/workflows";

/// A `dorny/paths-filter` filter: its name and globs.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    pub name: String,
    pub globs: Vec<String>,
    pub from: String,
}

pub(super) fn read(
    root: &Path,
    images: &mut Vec<Image>,
    filters: &mut Vec<Filter>,
    notes: &mut Vec<String>,
) {
    let Ok(entries) = std::fs::read_dir(root.join(DIR)) else {
        return;
    };
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    files.sort();
    for name in files {
        let file = format!("{DIR}/{name}");
        let docs = match yaml::load(&root.join(&file)) {
            Ok(d) => d,
            Err(why) => {
                notes.push(format!("{file}: not read ({why})"));
                continue;
            }
        };
        for doc in &docs {
            let Some(jobs) = doc["jobs"].as_hash() else {
                continue;
            };
            for (job_name, job) in jobs {
                let job_name = yaml::text(job_name).unwrap_or_default();
                let from = format!("{file} (job `{job_name}`)");
                let rows = matrix_rows(&job["strategy"]["matrix"]);
                for step in job["steps"].as_vec().into_iter().flatten() {
                    let uses = yaml::text(&step["uses"]).unwrap_or_default();
                    if uses.starts_with("docker/build-push-action") {
                        build_push(root, &step["with"], &rows, &from, images);
                    } else if uses.starts_with("dorny/paths-filter") {
                        let text = yaml::text(&step["with"]["filters"]).unwrap_or_default();
                        for d in yaml::parse(&text).unwrap_or_default() {
                            for (k, v) in d.as_hash().into_iter().flatten() {
                                if let Some(k) = yaml::text(k) {
                                    filters.push(Filter {
                                        name: k,
                                        globs: yaml::strings(v),
                                        from: from.clone(),
                                    });
                                }
                            }
                        }
                    }
                    if let Some(run) = yaml::text(&step["run"]) {
                        for line in run.lines() {
                            if let Some(image) = docker_build(root, line, &from) {
                                images.push(image);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The rows of a job's matrix as `matrix.KEY[.FIELD]` → value: one per `include` entry, and one
/// per item of each list (a product of several lists is not expanded).
fn matrix_rows(matrix: &Yaml) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    for (key, value) in matrix.as_hash().into_iter().flatten() {
        let Some(key) = yaml::text(key) else { continue };
        for item in value.as_vec().into_iter().flatten() {
            let mut row = BTreeMap::new();
            match item {
                Yaml::Hash(h) => {
                    for (k, v) in h {
                        if let (Some(k), Some(v)) = (yaml::text(k), yaml::text(v)) {
                            if key == "include" {
                                row.insert(format!("matrix.{k}"), v);
                            } else {
                                row.insert(format!("matrix.{key}.{k}"), v);
                            }
                        }
                    }
                }
                other => {
                    if let Some(v) = yaml::text(other) {
                        row.insert(format!("matrix.{key}"), v);
                    }
                }
            }
            rows.push(row);
        }
    }
    rows
}

/// `s` with each `${{ matrix.… }}` replaced from `row`; `None` if any expression is left.
fn expand(s: &str, row: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("}}")? + i;
        let expr = rest[i + 3..end].trim();
        out.push_str(row.get(expr)?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn build_push(
    root: &Path,
    with: &Yaml,
    rows: &[BTreeMap<String, String>],
    from: &str,
    images: &mut Vec<Image>,
) {
    let context = yaml::text(&with["context"]).unwrap_or_else(|| ".".to_string());
    let file = yaml::text(&with["file"]);
    let empty = BTreeMap::new();
    let rows: Vec<&BTreeMap<String, String>> = if rows.is_empty() {
        vec![&empty]
    } else {
        rows.iter().collect()
    };
    for row in rows {
        let Some(context) = expand(&context, row) else {
            continue;
        };
        let file = match &file {
            Some(f) => match expand(f, row) {
                Some(f) => f,
                None => continue,
            },
            None => format!("{}/Dockerfile", context.trim_end_matches('/')),
        };
        let Some(context) = join_clean("", &context) else {
            continue;
        };
        // `file` is relative to the workspace, not to the context.
        let Some(dockerfile) = join_clean("", &file).filter(|d| root.join(d).is_file()) else {
            continue;
        };
        let mut args = BTreeMap::new();
        for line in yaml::text(&with["build-args"]).unwrap_or_default().lines() {
            if let Some((k, v)) = line.trim().split_once('=')
                && let Some(v) = expand(v, row)
            {
                args.insert(k.to_string(), v);
            }
        }
        images.push(Image {
            dockerfile,
            context,
            args,
            args_from_env: false,
            target: yaml::text(&with["target"]).and_then(|t| expand(&t, row)),
            from: format!("{from}, docker/build-push-action"),
        });
    }
}

/// A `docker build [OPTIONS] CONTEXT` (or `docker buildx build`) command line.
fn docker_build(root: &Path, line: &str, from: &str) -> Option<Image> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .windows(2)
        .position(|w| w[0] == "docker" && (w[1] == "build" || w[1] == "buildx"))?;
    let mut rest = words[at + 2..].iter().copied();
    if words[at + 1] == "buildx" && rest.next() != Some("build") {
        return None;
    }
    let mut file = None;
    let mut target = None;
    let mut context = None;
    let mut args = BTreeMap::new();
    // Options that take a value as the next word.
    const VALUED: [&str; 16] = [
        "-t",
        "--tag",
        "--build-arg",
        "--platform",
        "--label",
        "--cache-from",
        "--cache-to",
        "--secret",
        "--ssh",
        "--output",
        "-o",
        "--progress",
        "--network",
        "--build-context",
        "--iidfile",
        "--metadata-file",
    ];
    while let Some(w) = rest.next() {
        if matches!(w, "&&" | "||" | ";" | "|" | "\\") {
            break;
        }
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (w, None),
        };
        let mut value = || inline.clone().or_else(|| rest.next().map(str::to_string));
        match flag {
            "-f" | "--file" => file = value(),
            "--target" => target = value(),
            "--build-arg" => {
                if let Some((k, v)) = value().as_deref().and_then(|a| a.split_once('=')) {
                    args.insert(k.to_string(), v.to_string());
                }
            }
            f if VALUED.contains(&f) => {
                value();
            }
            f if f.starts_with('-') => {}
            _ => context = Some(w.to_string()),
        }
    }
    let context = context?;
    if context.contains(['$', '`']) || file.as_deref().is_some_and(|f| f.contains('$')) {
        return None;
    }
    let context = join_clean("", &context)?;
    let dockerfile = match file {
        Some(f) => join_clean("", &f)?,
        None => join_clean(&context, "Dockerfile")?,
    };
    root.join(&dockerfile).is_file().then(|| Image {
        dockerfile,
        context,
        args,
        args_from_env: false,
        target,
        from: format!("{from}, `docker build`"),
    })
}
