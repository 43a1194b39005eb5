//! What `shipit validate` warns about: a valid ci.toml whose globs probably do not mean what their
//! author meant, found by matching them against the files of HEAD's tree. A warning stops nothing.
//!
//! - a `global.triggers` pattern that matches files inside a service (`Cargo.lock` is every
//!   `Cargo.lock`; `/Cargo.lock` the root's): a dependency bump of one service rebuilds them all;
//! - a `global.ignore` pattern that hides a file a Dockerfile copies (`**/*.md` and an
//!   `ATTRIBUTION.md` in the image): the build still counts it, the file says otherwise.

use std::collections::BTreeMap;

use crate::build_inputs::BuildInputs;
use crate::config::Config;
use crate::glob::{self, Matcher};

/// How many files a warning names before it says how many more there are.
const EXAMPLES: usize = 3;

/// The warnings for `config` in the repository's HEAD (none before the first commit).
pub fn warnings(config: &Config, repo: &crate::git::Repo) -> Result<Vec<String>, crate::Error> {
    let Ok(head) = repo.resolve("HEAD") else {
        return Ok(Vec::new());
    };
    let entries = repo.tree_entries(head)?;
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let images: Vec<usize> = (0..config.services.len()).collect();
    let build = BuildInputs::new(config, &images, |files| repo.read_files(head, files))?;
    Ok(check(config, &paths, &build))
}

/// The warnings for `config` over the repository files `paths`, with what the builds read.
pub fn check(config: &Config, paths: &[&str], build: &BuildInputs) -> Vec<String> {
    let triggers = Matcher::new(config.global.triggers.iter().cloned().zip(0..)).ok();
    let ignore = Matcher::new(config.global.ignore.iter().cloned().zip(0..)).ok();
    // Per pattern: the files it matches that it should not, with what makes each wrong.
    let mut inside: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    let mut hidden: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    let mut scratch = glob::Scratch::default();
    let mut hits: Vec<usize> = Vec::new();
    for &path in paths {
        hits.clear();
        if let Some(m) = &triggers {
            m.for_each_match(path, &mut scratch, |&i| hits.push(i));
        }
        if !hits.is_empty()
            && let Some(s) = config.services.iter().find(|s| {
                // A service that is the whole repository holds every file: not a sign of a slip.
                s.path != "." && path.starts_with(&s.path) && path[s.path.len()..].starts_with('/')
            })
        {
            for &i in &hits {
                inside
                    .entry(i)
                    .or_default()
                    .push((path.to_string(), format!("service `{}`", s.name)));
            }
        }
        hits.clear();
        if let Some(m) = &ignore {
            m.for_each_match(path, &mut scratch, |&i| hits.push(i));
        }
        if hits.is_empty() {
            continue;
        }
        let mut copier: Option<String> = None;
        build.for_each(path, &mut scratch, |read| {
            if let (None, Some(line)) = (&copier, read.line) {
                copier = Some(format!(
                    "copied by {}:{line} for service `{}`",
                    read.dockerfile, config.services[read.service].name
                ));
            }
        });
        if let Some(copier) = copier {
            for &i in &hits {
                hidden
                    .entry(i)
                    .or_default()
                    .push((path.to_string(), copier.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for (i, files) in inside {
        let pattern = &config.global.triggers[i];
        let fix = match pattern.trim_end_matches('/').contains('/') {
            true => "narrow it to the files every service reads".to_string(),
            false => format!("write `/{pattern}` for the root's alone"),
        };
        out.push(format!(
            "`global.triggers` pattern `{pattern}` matches {} inside a service: a change there selects every service; {fix}",
            examples(&files)
        ));
    }
    for (i, files) in hidden {
        let pattern = &config.global.ignore[i];
        out.push(format!(
            "`global.ignore` pattern `{pattern}` hides {}: the build's own read still selects the service, but ci.toml says the opposite; narrow the pattern",
            examples(&files)
        ));
    }
    out
}

/// `a (why), b (why) and 4 more files`.
fn examples(files: &[(String, String)]) -> String {
    let shown: Vec<String> = files
        .iter()
        .take(EXAMPLES)
        .map(|(f, why)| format!("`{f}` ({why})"))
        .collect();
    let mut out = shown.join(", ");
    if files.len() > EXAMPLES {
        let more = files.len() - EXAMPLES;
        out.push_str(&format!(
            " and {more} more file{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Checks;
    use std::path::Path;

    fn config(toml: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        for p in ["services/web", "services/api"] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let c = Config::parse(
            toml,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .unwrap();
        (dir, c)
    }

    const PATHS: [&str; 6] = [
        "Cargo.lock",
        "ci.toml",
        "services/web/Cargo.lock",
        "services/web/ATTRIBUTION.md",
        "services/web/README.md",
        "services/api/main.rs",
    ];

    fn build(config: &Config) -> BuildInputs {
        let images: Vec<usize> = (0..config.services.len()).collect();
        let read = |files: &[&str]| -> Result<Vec<Option<Vec<u8>>>, ()> {
            Ok(files
                .iter()
                .map(|f| match *f {
                    "services/web/Dockerfile" => {
                        Some(b"FROM scratch\nCOPY ATTRIBUTION.md /\n".to_vec())
                    }
                    _ => None,
                })
                .collect())
        };
        BuildInputs::new(config, &images, read).unwrap()
    }

    #[test]
    fn an_unanchored_lockfile_trigger_and_an_ignore_over_a_copied_file_are_warned_about() {
        let (_d, c) = config(
            "[global]\ntriggers = [\"Cargo.lock\", \"ci.toml\"]\nignore = [\"**/*.md\"]\n\
             [services.web]\npath = \"services/web\"\n[services.api]\npath = \"services/api\"\n",
        );
        let w = check(&c, &PATHS, &build(&c));
        assert_eq!(
            w,
            [
                "`global.triggers` pattern `Cargo.lock` matches `services/web/Cargo.lock` (service `web`) inside a service: a change there selects every service; write `/Cargo.lock` for the root's alone",
                "`global.ignore` pattern `**/*.md` hides `services/web/ATTRIBUTION.md` (copied by services/web/Dockerfile:2 for service `web`): the build's own read still selects the service, but ci.toml says the opposite; narrow the pattern",
            ]
        );
    }

    #[test]
    fn root_anchored_triggers_and_an_ignore_of_what_no_build_reads_are_quiet() {
        let (_d, c) = config(
            "[global]\ntriggers = [\"/Cargo.lock\", \"/ci.toml\"]\nignore = [\"README.md\"]\n\
             [services.web]\npath = \"services/web\"\n[services.api]\npath = \"services/api\"\n",
        );
        assert_eq!(check(&c, &PATHS, &build(&c)), Vec::<String>::new());
    }
}
