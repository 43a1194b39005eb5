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
/// The most files of the working tree read to check the default `global.ignore`.
const MAX_FILES: usize = 200_000;
const WORKFLOW: &str = include_str!("../../examples/workflows/release.yml");
pub const WORKFLOW_PATH: &str = ".github/workflows/release.yml";
/// The mark of a workflow init wrote (which a later `init --force` may overwrite).
const WRITTEN_BY_INIT: &str = "written by `shipit init`";
/// Where the workflow goes when the project has a release.yml of its own.
pub const OWN_WORKFLOW_PATH: &str = ".github/workflows/shipit.yml";

/// The environments init writes: (name, branch, latest).
fn environments(default_branch: &str) -> Vec<(&'static str, String, bool)> {
    vec![
        ("prod", default_branch.to_string(), true),
        ("stage", "develop".to_string(), false),
        ("dev", "development".to_string(), false),
    ]
}

/// Writes `ci` (with `#:schema` and the schema next to it) and the release workflow: `release.yml`,
/// or `shipit.yml` when the project has a `release.yml` of its own; none with `no_workflow`. Returns
/// what was found and written, for people.
pub fn init(
    root: &Path,
    ci: &Path,
    default_branch: &str,
    force: bool,
    no_workflow: bool,
) -> Result<String, Error> {
    let schema = ci.parent().unwrap_or(root).join(crate::schema::FILE_NAME);
    // The project's own release.yml is never ours to overwrite, even with --force.
    let ours = std::fs::read_to_string(root.join(WORKFLOW_PATH))
        .is_ok_and(|t| t.contains(WRITTEN_BY_INIT));
    let workflow_path = if root.join(WORKFLOW_PATH).exists() && !ours {
        OWN_WORKFLOW_PATH
    } else {
        WORKFLOW_PATH
    };
    let workflow = (!no_workflow).then(|| root.join(workflow_path));
    let mut targets: Vec<PathBuf> = vec![ci.to_path_buf(), schema.clone()];
    targets.extend(workflow.clone());
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
    // The configuration itself is the first trigger, wherever it is, anchored at the root: a
    // bare `ci.toml` would also be any file of that name in any folder.
    if let Some(first) = found.triggers.first_mut() {
        *first = format!("/{}", relative(root, ci));
    }
    let summary = summary(&found);
    if !found.units.iter().any(|u| u.image) {
        return Err(Error::bad_input(
            format!(
                "nothing written: no service to build here (no Dockerfile that builds a \
                 deployable image)\n{summary}"
            ),
            Some(
                "add a Dockerfile to each service's folder, or write ci.toml by hand from the \
                 reference ci.toml in shipit's README"
                    .to_string(),
            ),
        ));
    }
    let mut text = ci_toml(&found, &envs);
    // What init writes must be valid: checked before anything is written. The text was never
    // written, so its error is told without a snippet of it.
    let checks = Checks::Files(crate::ecs::render::check_file_text);
    let parse = |text: &str| Config::parse(text, &relative(root, ci), ci, root, checks);
    // And clean: `**/*.md` is left out when a build copies a file it would hide (validate would
    // warn on init's own output).
    if let Ok(config) = parse(&text)
        && let Some(hidden) = hidden_by_ignore(&config, root)
    {
        found.ignore_left_out = Some(hidden);
        text = ci_toml(&found, &envs);
    }
    let checked = match parse(&text) {
        Ok(c) => c,
        Err(e) => {
            let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
            return Err(Error::bad_input(
                format!(
                    "nothing written: the ci.toml init would write is not valid: {e}\n{summary}"
                ),
                help,
            ));
        }
    };
    let branches: Vec<String> = envs.iter().map(|(_, b, _)| b.clone()).collect();
    if let Some(dir) = ci.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(ci, &text)?;
    std::fs::write(&schema, crate::schema::json())?;
    if let Some(workflow) = &workflow {
        if let Some(dir) = workflow.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(workflow, workflow_yaml(&branches))?;
    }

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
    out.push_str(&summary);
    let written = match &workflow {
        Some(_) => format!(
            "Wrote {}, {} and {workflow_path}.",
            relative(root, ci),
            relative(root, &schema)
        ),
        None => format!(
            "Wrote {} and {} (no workflow: --no-workflow).",
            relative(root, ci),
            relative(root, &schema)
        ),
    };
    let _ = writeln!(out, "{written}");
    if workflow_path == OWN_WORKFLOW_PATH && workflow.is_some() {
        let _ = writeln!(
            out,
            "{WORKFLOW_PATH} is the project's own and was left as it is: shipit's workflow is \
             {OWN_WORKFLOW_PATH}."
        );
    }
    let _ = writeln!(
        out,
        "Next: read ci.toml (each guess has a comment), list your ECS clusters in `clusters`, then \
         `shipit validate` and `shipit affected --explain`."
    );
    Ok(out)
}

/// `validate`'s warning about `global.ignore` on `config`, over the working tree's files (what
/// init read) rather than HEAD's, which may not hold them yet.
fn hidden_by_ignore(config: &Config, root: &Path) -> Option<String> {
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name == ".git" || detect::SKIP.contains(&name.as_str()) {
                continue;
            }
            let child = rel.join(&name);
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(child);
            } else if files.len() < MAX_FILES {
                files.push(
                    child
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().to_string())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    let paths: Vec<&str> = files.iter().map(String::as_str).collect();
    let images: Vec<usize> = (0..config.services.len()).collect();
    let read = |wanted: &[&str]| -> Result<Vec<Option<Vec<u8>>>, std::convert::Infallible> {
        Ok(wanted
            .iter()
            .map(|p| std::fs::read(root.join(p)).ok())
            .collect())
    };
    let build = crate::build_inputs::BuildInputs::new(config, &images, read).ok()?;
    crate::lint::check(config, &paths, &build)
        .into_iter()
        .find(|w| w.starts_with("`global.ignore`"))
}

/// What was found, a line each: services and libraries, the Dockerfiles left out, the notes.
fn summary(found: &Found) -> String {
    let mut out = String::new();
    let width = found.units.iter().map(|u| u.name.len()).max().unwrap_or(0);
    for u in &found.units {
        let path = if u.path.is_empty() { "." } else { &u.path };
        let _ = writeln!(out, "  {:width$}  {path}  ({})", u.name, u.found_by);
    }
    for l in &found.left_out {
        let _ = writeln!(out, "  left out: {} ({})", l.path, l.why);
    }
    for n in &found.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
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
    match &found.ignore_left_out {
        None => {
            let _ = writeln!(
                t,
                "# Changes to these affect nothing: documentation is in no image. Remove it if yours is."
            );
            let _ = writeln!(t, "ignore = [\"**/*.md\"]");
        }
        Some(why) => {
            let _ = writeln!(
                t,
                "# Not `[\"**/*.md\"]`: a Dockerfile copies documentation. {}",
                why.replace('\n', " ")
            );
            let _ = writeln!(t, "ignore = []");
        }
    }
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
    if !found.left_out.is_empty() {
        t.push_str("\n# Dockerfiles left out, not deployables (add one as a service if it is):\n");
        for l in &found.left_out {
            let _ = writeln!(t, "#   {} ({})", l.path, l.why);
        }
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
        let _ = writeln!(t, "# Found in {}.", u.found_by);
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
    if let Some(d) = &u.dockerfile {
        let _ = writeln!(t, "dockerfile = {}", quote(d));
    }
    if let Some(c) = &u.context {
        if c.value.split('/').all(|p| p == "..") {
            let _ = writeln!(
                t,
                "# The build context is the repository root (from {}), written as the way up to it.",
                c.from
            );
        } else {
            let _ = writeln!(t, "# The build context, from {}.", c.from);
        }
        let _ = writeln!(t, "context = {}", quote(&c.value));
    }
    if let Some(target) = &u.target {
        let _ = writeln!(t, "target = {}", quote(target));
    }
    if !u.build_args.is_empty() {
        if u.args_from_env {
            let _ = writeln!(
                t,
                "# Build args as compose passes them, values read from .env today: keep them in step."
            );
        }
        let _ = writeln!(
            t,
            "build_args = {{ {} }}",
            u.build_args
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !u.include.is_empty() {
        let froms: std::collections::BTreeSet<&str> =
            u.include.iter().map(|i| i.from.as_str()).collect();
        for f in froms {
            let _ = writeln!(t, "# Also affected by what {f} watches.");
        }
        let globs: Vec<String> = u.include.iter().map(|i| i.value.clone()).collect();
        let _ = writeln!(t, "include = {}", list(&globs));
    }
    if !u.watched.is_empty() {
        let froms: std::collections::BTreeSet<&str> =
            u.watched.iter().map(|i| i.from.as_str()).collect();
        for f in froms {
            let globs: Vec<String> = u
                .watched
                .iter()
                .filter(|i| i.from == f)
                .map(|i| i.value.clone())
                .collect();
            let _ = writeln!(
                t,
                "# Not included, though {f} watches them (another unit's folder, a workflow, or a \
                 filter of another name): {}",
                list(&globs)
            );
        }
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
            let _ = writeln!(out, "# Release what a push affects ({WRITTEN_BY_INIT}).");
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
        if let Some((indent, _)) = line.split_once("uses: shipit-dev/shipit@") {
            out.push_str(&pin_line(indent, crate::env_vars::SHIPIT_RELEASE_COMMIT));
            continue;
        }
        if line.contains("replace the zeros below (no commit has them)") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The action's `uses:` line: this binary's own release commit when its build knew it, else 40
/// zeros, which no commit has, and a comment saying to replace them; never a made-up SHA.
fn pin_line(indent: &str, release_commit: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match release_commit.filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(commit) => format!("{indent}uses: shipit-dev/shipit@{commit} # v{version}\n"),
        None => format!(
            "{indent}# REPLACE the zeros below with the commit of the shipit release tag you use: this\n\
             {indent}# shipit was not built from a release, so init does not know one.\n\
             {indent}uses: shipit-dev/shipit@{} # vX.Y.Z\n",
            "0".repeat(40)
        ),
    }
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
