//! `shipit init`: a first ci.toml and release workflow for an existing repository, from what is in
//! it ([`detect`]); and `shipit init --from-ecs CLUSTER/SERVICE --service NAME`: the task definition
//! and service definition of a running ECS service, written into the repository ([`ecs`]).
//! Nothing is overwritten without `--force`.

pub mod detect;
pub mod ecs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::config::{Checks, Config};

use detect::{Found, Unit};

/// The release workflow users copy, written by init with the environments' branches.
const WORKFLOW: &str = include_str!("../../examples/workflows/release.yml");
pub const WORKFLOW_PATH: &str = ".github/workflows/release.yml";

/// The environments init writes: (name, branch, latest).
fn environments(default_branch: &str) -> Vec<(&'static str, String, bool)> {
    vec![
        ("prod", default_branch.to_string(), true),
        ("stage", "develop".to_string(), false),
        ("dev", "development".to_string(), false),
    ]
}

/// Writes `ci` (with `#:schema` and the schema next to it) and the release workflow; returns what
/// was found and written, for people.
pub fn init(root: &Path, ci: &Path, default_branch: &str, force: bool) -> Result<String, Error> {
    let schema = ci.parent().unwrap_or(root).join(crate::schema::FILE_NAME);
    let targets: Vec<PathBuf> = vec![ci.to_path_buf(), schema.clone(), root.join(WORKFLOW_PATH)];
    let existing: Vec<String> = targets
        .iter()
        .filter(|p| p.exists())
        .map(|p| relative(root, p))
        .collect();
    if !existing.is_empty() && !force {
        return Err(Error::bad_input(
            format!(
                "nothing written: {} already {}",
                existing.join(", "),
                if existing.len() == 1 {
                    "exists"
                } else {
                    "exist"
                }
            ),
            Some("pass --force to overwrite, or move them away first".to_string()),
        ));
    }
    let envs = environments(default_branch);
    let env_names: Vec<String> = envs.iter().map(|(n, _, _)| n.to_string()).collect();
    let mut found = detect::detect(root, &env_names);
    // The configuration itself is the first trigger, wherever it is.
    if let Some(first) = found.triggers.first_mut() {
        *first = relative(root, ci);
    }
    let text = ci_toml(&found, &envs);
    // What init writes must be valid: checked before anything is written.
    let checks = Checks::Files(crate::ecs::render::check_file);
    let checked = Config::parse(&text, &relative(root, ci), ci, root, checks)?;
    let branches: Vec<String> = envs.iter().map(|(_, b, _)| b.clone()).collect();
    if let Some(dir) = ci.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(ci, &text)?;
    std::fs::write(&schema, crate::schema::json())?;
    let workflow = root.join(WORKFLOW_PATH);
    if let Some(dir) = workflow.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&workflow, workflow_yaml(&branches))?;

    let mut out = String::new();
    let libraries = checked.services.iter().filter(|s| !s.image).count();
    let _ = writeln!(
        out,
        "Found {} ({libraries} {}):",
        match checked.services.len() {
            1 => "1 service".to_string(),
            n => format!("{n} services"),
        },
        if libraries == 1 {
            "library"
        } else {
            "libraries"
        }
    );
    let width = found.units.iter().map(|u| u.name.len()).max().unwrap_or(0);
    for u in &found.units {
        let path = if u.path.is_empty() { "." } else { &u.path };
        let _ = writeln!(out, "  {:width$}  {path}  ({})", u.name, u.found_by);
    }
    for n in &found.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(
        out,
        "Wrote {}, {} and {}.",
        relative(root, ci),
        relative(root, &schema),
        WORKFLOW_PATH
    );
    let _ = writeln!(
        out,
        "Next: read ci.toml (each guess has a comment), list your ECS clusters in `clusters`, then \
         `shipit validate` and `shipit affected --explain`."
    );
    Ok(out)
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// A TOML key: bare when it can be, else quoted (a `.` would split it).
pub fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        quote(s)
    }
}

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The commented ci.toml.
pub fn ci_toml(found: &Found, envs: &[(&str, String, bool)]) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}", crate::schema::DIRECTIVE);
    t.push_str(
        "# shipit's configuration, written by `shipit init` from what is in this repository: read it,
# fix what it guessed wrong, and commit it. Every key is explained in the reference ci.toml of
# shipit's repository; `shipit validate` checks this file, and `shipit affected --explain` shows
# which services a change selects and why. The first line points editors at ci.schema.json.

[project]
# The image repository of each service; `{service}` is the service's name.
repository = \"{service}\"
# Where images go: \"ecr\", the ECR registry of the AWS account and region that the standard AWS
# credential chain gives; or \"oci://HOST[:PORT][/PREFIX]\" for any OCI registry.
registry = \"ecr\"
# Versions kept per repository and environment when old ones are pruned.
retain = 10

# Environments: a push to `branch` releases to it, tagging images `<name>-X.Y.Z`. Other branches
# are only tested. List the ECS clusters to roll out to in `clusters`; with none, a release builds
# and pushes only.
",
    );
    for (name, branch, latest) in envs {
        let _ = writeln!(t, "[environments.{name}]");
        let _ = writeln!(t, "branch = {}", quote(branch));
        if *latest {
            let _ = writeln!(t, "latest = true");
        }
        let _ = writeln!(t, "clusters = []\n");
    }
    let _ = writeln!(t, "[global]");
    let _ = writeln!(
        t,
        "# A change to any of these affects every service: this file and the lockfiles at the root."
    );
    let _ = writeln!(t, "triggers = {}", list(&found.triggers));
    let _ = writeln!(
        t,
        "# Changes to these affect nothing: documentation is in no image. Remove it if yours is."
    );
    let _ = writeln!(t, "ignore = [\"**/*.md\"]");
    if found.units.is_empty() {
        t.push_str(
            "\n# No service found: no folder with a Dockerfile, no workspace member, no Python project.
# Add one per service, e.g.:
# [services.api]
# path = \"services/api\"
# test = \"make test\"
",
        );
    }
    for u in &found.units {
        t.push('\n');
        service(&mut t, u);
    }
    t
}

fn service(t: &mut String, u: &Unit) {
    let path = if u.path.is_empty() { "." } else { &u.path };
    if u.image {
        let _ = writeln!(t, "# Found by its Dockerfile.");
    } else {
        let _ = writeln!(
            t,
            "# A library ({}): tested when affected, never built, pushed or deployed.",
            u.found_by
        );
    }
    let _ = writeln!(t, "[services.{}]", key(&u.name));
    let _ = writeln!(t, "path = {}", quote(path));
    if !u.image {
        let _ = writeln!(t, "image = false");
    }
    match &u.test {
        Some(g) => {
            let _ = writeln!(t, "# Guessed from {}; run with `sh -c` in `path`.", g.from);
            let _ = writeln!(t, "test = {}", quote(&g.value));
        }
        None => {
            let _ = writeln!(t, "# No test command found: add the one that tests it.");
            let _ = writeln!(t, "# test = \"make test\"");
        }
    }
    if !u.depends_on.is_empty() {
        let froms: std::collections::BTreeSet<&str> =
            u.depends_on.iter().map(|d| d.from.as_str()).collect();
        let names: Vec<String> = u.depends_on.iter().map(|d| d.name.clone()).collect();
        let _ = writeln!(
            t,
            "# Its {} depends on these: when one is affected, so is this.",
            froms.into_iter().collect::<Vec<_>>().join(" and ")
        );
        let _ = writeln!(t, "depends_on = {}", list(&names));
    }
    if u.image
        && let Some(v) = &u.version_file
    {
        let _ = writeln!(
            t,
            "# The version in {v} is a floor for the next version (raise it for a new major)."
        );
        let _ = writeln!(t, "version_file = {}", quote(v));
    }
    if let Some(td) = &u.task_definition {
        let _ = writeln!(
            t,
            "# New revisions are rendered from this file (only the image changes)."
        );
        let _ = writeln!(t, "task_definition = {}", quote(td));
    }
    let envs: std::collections::BTreeSet<&String> = u
        .env_dockerfiles
        .keys()
        .chain(u.env_task_definitions.keys())
        .collect();
    for env in envs {
        let _ = writeln!(t, "\n[services.{}.environments.{env}]", key(&u.name));
        if let Some(d) = u.env_dockerfiles.get(env) {
            let _ = writeln!(t, "dockerfile = {}", quote(d));
        }
        if let Some(td) = u.env_task_definitions.get(env) {
            let _ = writeln!(t, "task_definition = {}", quote(td));
        }
    }
}

/// The example release workflow, with the environments' branches.
pub fn workflow_yaml(branches: &[String]) -> String {
    let mut out = String::new();
    let mut in_branches = false;
    for line in WORKFLOW.lines() {
        if line.starts_with("# Release what a push affects: copy this file") {
            out.push_str("# Release what a push affects (written by `shipit init`).\n");
            continue;
        }
        if line.trim() == "branches:" {
            in_branches = true;
            out.push_str(line);
            out.push('\n');
            for b in branches {
                let _ = writeln!(out, "      - {}", yaml_string(b));
            }
            continue;
        }
        if in_branches {
            if line.trim_start().starts_with("- ") {
                continue;
            }
            in_branches = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A branch name as a YAML scalar: plain when safe, else double-quoted.
fn yaml_string(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        && !s.is_empty()
    {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}
