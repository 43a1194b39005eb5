//! What `shipit init` finds in a repository, trusting first what the project already says:
//! the images its compose files ([`compose`]), `skaffold.yaml` ([`skaffold`]) and GitHub
//! workflows ([`workflows`]) build, with their contexts, Dockerfiles, args and targets; then the
//! Dockerfiles nothing names, each with the context its `COPY` sources need ([`dockerfiles`]);
//! libraries (the members of Cargo, npm, pnpm and Go workspaces, Python and .NET projects), each
//! one's test command from its build tool ([`build_tools`]), and `depends_on` from the
//! dependencies its manifest declares on the others. Every guess keeps where it came from.

mod build_tools;
mod compose;
mod dockerfiles;
mod names;
mod skaffold;
mod test_commands;
#[cfg(test)]
mod tests;
mod workflows;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use build_tools::{Manifest, Workspaces, manifests};
use names::name_units;
pub use names::sanitize;

/// Folders never searched.
pub(super) const SKIP: [&str; 12] = [
    "node_modules",
    "target",
    "dist",
    "build",
    "vendor",
    "venv",
    "__pycache__",
    "out",
    "coverage",
    "tmp",
    "site-packages",
    "bower_components",
];
/// Folders that hold a service's Dockerfile or code but are not the service: a Dockerfile in
/// `cart/src` or `worker/docker` is `cart`'s or `worker`'s.
const HOLDERS: [&str; 6] = [
    "src",
    "docker",
    "build",
    "deploy",
    "dockerfiles",
    "container",
];
const MAX_DEPTH: usize = 6;
const MAX_DIRS: usize = 20_000;

/// One thing to put in ci.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    /// Repository-relative, `/`-separated.
    pub path: String,
    /// True when it builds an image.
    pub image: bool,
    /// Why it is in: "compose.yaml (service `ad`)", "a Cargo workspace member", ...
    pub found_by: String,
    /// The Dockerfile relative to `path`, when not `Dockerfile`.
    pub dockerfile: Option<String>,
    /// The build context relative to `path`, when not `.`, and why.
    pub context: Option<Guess>,
    pub build_args: BTreeMap<String, String>,
    /// The build args' values were read through a `.env` file.
    pub args_from_env: bool,
    pub target: Option<String>,
    /// More globs that affect it, and where each came from.
    pub include: Vec<Guess>,
    /// Globs a paths filter watches that are not made `include`s (another unit's folder, a
    /// workflow, a filter not named as the service): told in a comment.
    pub watched: Vec<Guess>,
    pub test: Option<Guess>,
    pub depends_on: Vec<Dependency>,
    pub version_file: Option<String>,
    pub task_definition: Option<String>,
    /// Per environment: a `Dockerfile.<env>`, a `task-definition.<env>.json`.
    pub env_dockerfiles: BTreeMap<String, String>,
    pub env_task_definitions: BTreeMap<String, String>,
}

/// A value and where it came from, for the comment beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub value: String,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    pub name: String,
    /// The manifest that says so.
    pub from: String,
}

/// A Dockerfile that is not made a service, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub path: String,
    pub why: &'static str,
}

/// What was found, and the root files whose change should affect every service.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub units: Vec<Unit>,
    pub triggers: Vec<String>,
    /// Dockerfiles of tools, tests and dev setups.
    pub left_out: Vec<LeftOut>,
    /// Things worth telling the user (a folder skipped, a name changed).
    pub notes: Vec<String>,
    /// Why the default `global.ignore = ["**/*.md"]` is left out: it would hide a file a
    /// Dockerfile copies (`validate`'s warning).
    pub ignore_left_out: Option<String>,
}

/// An image some file says the project builds (repository-relative paths).
#[derive(Debug, Clone)]
struct Image {
    dockerfile: String,
    /// The build context's folder, "" for the root.
    context: String,
    args: BTreeMap<String, String>,
    args_from_env: bool,
    target: Option<String>,
    /// Where it was read, for the comment.
    from: String,
}

pub fn detect(root: &Path, envs: &[String]) -> Found {
    let mut found = Found::default();
    let dirs = walk(root, &mut found.notes);
    let workspace = Workspaces::read(root);

    // Images, in the order of trust: compose, skaffold, the workflows; then the Dockerfiles that
    // none of them names. The first source to name a Dockerfile wins.
    let mut named = Vec::new();
    compose::read(root, &mut named, &mut found.notes);
    skaffold::read(root, &mut named, &mut found.notes);
    let mut filters = Vec::new();
    workflows::read(root, &mut named, &mut filters, &mut found.notes);
    let mut images: Vec<Image> = Vec::new();
    for image in named {
        if images.iter().any(|i| i.dockerfile == image.dockerfile) {
            continue;
        }
        // A workflow that publishes an image (build-push-action) outranks the name of its file.
        let published = image.from.contains("docker/build-push-action");
        if !published && let Some(why) = dockerfiles::not_deployable(&image.dockerfile) {
            if !found.left_out.iter().any(|l| l.path == image.dockerfile) {
                found.left_out.push(LeftOut {
                    path: image.dockerfile.clone(),
                    why,
                });
            }
            continue;
        }
        images.push(image);
    }
    dockerfiles::read(root, &dirs, envs, &mut images, &mut found.left_out);
    found
        .left_out
        .retain(|l| !images.iter().any(|i| i.dockerfile == l.path));
    found.left_out.sort_by(|a, b| a.path.cmp(&b.path));
    found.left_out.dedup();

    // Services: one per image, in the folder that holds it (a Dockerfile in `x/src` is `x`'s).
    let mut units: Vec<Unit> = Vec::new();
    for image in &images {
        let dir = parent(&image.dockerfile);
        let path = match dir.rsplit_once('/') {
            Some((up, holder)) if HOLDERS.contains(&holder) => up.to_string(),
            _ => dir.to_string(),
        };
        let mut u = unit(root, &path, true, image.from.clone(), envs);
        let dockerfile = relative(&image.dockerfile, &path);
        u.dockerfile = (dockerfile != "Dockerfile").then_some(dockerfile);
        let context = relative(&image.context, &path);
        u.context = (context != ".").then(|| Guess {
            value: context,
            from: image.from.clone(),
        });
        u.build_args = image.args.clone();
        u.args_from_env = image.args_from_env;
        u.target = image.target.clone();
        u.env_dockerfiles.clear();
        let plain = image.dockerfile.ends_with("/Dockerfile") || image.dockerfile == "Dockerfile";
        for env in envs {
            let variant = join(dir, &format!("Dockerfile.{env}"));
            if plain && root.join(&variant).is_file() {
                u.env_dockerfiles
                    .insert(env.clone(), relative(&variant, &path));
            }
        }
        units.push(u);
    }
    let services: Vec<String> = units.iter().map(|u| u.path.clone()).collect();
    // Libraries: workspace members, Python and .NET projects without an image, not inside a service.
    for dir in &dirs {
        if dir.is_empty()
            || services
                .iter()
                .any(|s| s == dir || s.is_empty() || dir.starts_with(&format!("{s}/")))
        {
            continue;
        }
        let has = |ext: &str| {
            std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(ext))
        };
        let why = if workspace.cargo.contains(dir) {
            Some("a Cargo workspace member")
        } else if workspace.npm.contains(dir) {
            Some(workspace.js_tool_member())
        } else if workspace.go.contains(dir) {
            Some("a Go workspace module")
        } else if workspace.maven.contains(dir) {
            Some("a Maven or Gradle module")
        } else if root.join(dir).join("pyproject.toml").is_file()
            || root.join(dir).join("setup.py").is_file()
        {
            Some("a Python project")
        } else if has(".csproj") || has(".fsproj") {
            Some("a .NET project")
        } else {
            None
        };
        if let Some(why) = why {
            units.push(unit(root, dir, false, why.to_string(), envs));
        }
    }
    units.sort_by(|a, b| {
        (a.path.as_str(), a.dockerfile.as_deref()).cmp(&(b.path.as_str(), b.dockerfile.as_deref()))
    });
    name_units(root, &mut units, &mut found.notes);

    // `dorny/paths-filter` filters: only a filter named as the service gives it `include`s, and
    // only its globs outside every other unit's folder (another service, another language's SDK)
    // and outside the workflows (a workflow file is in no image). The rest is told in a comment.
    let folders: Vec<(String, String)> = units
        .iter()
        .map(|u| (u.name.clone(), u.path.clone()))
        .collect();
    for u in &mut units {
        let inside = |g: &str, path: &str| path.is_empty() || g.starts_with(&format!("{path}/"));
        for f in &filters {
            let own = f.name == u.name;
            if !own && !f.globs.iter().any(|g| inside(g, &u.path)) {
                continue;
            }
            let from = format!("the `{}` paths filter in {}", f.name, f.from);
            for g in &f.globs {
                let g = g.trim_start_matches("./");
                if g.starts_with('!') || inside(g, &u.path) {
                    continue;
                }
                let elsewhere = folders
                    .iter()
                    .any(|(name, path)| *name != u.name && !path.is_empty() && inside(g, path));
                let guess = Guess {
                    value: g.to_string(),
                    from: from.clone(),
                };
                if own && !elsewhere && !g.starts_with(".github/") {
                    if !u.include.iter().any(|i| i.value == g) {
                        u.include.push(guess);
                    }
                } else if !u.watched.iter().any(|i| i.value == g) {
                    u.watched.push(guess);
                }
            }
        }
    }

    // depends_on: the packages each manifest depends on that another unit declares.
    let manifests: Vec<Vec<Manifest>> = units
        .iter()
        .map(|u| manifests(&root.join(&u.path), root, &workspace))
        .collect();
    // Keyed by the manifest kind too: a Cargo dependency `svix` is the Cargo package `svix`,
    // never a Python project of that name.
    let mut by_package: BTreeMap<(&str, String), String> = BTreeMap::new();
    for (u, ms) in units.iter().zip(&manifests) {
        for m in ms {
            if let Some(p) = &m.package {
                by_package.insert((m.file, normalize(p)), u.name.clone());
            }
        }
    }
    for (u, ms) in units.iter_mut().zip(&manifests) {
        let mut deps = BTreeMap::new();
        for m in ms {
            for d in &m.deps {
                if let Some(target) = by_package.get(&(m.file, normalize(d)))
                    && *target != u.name
                {
                    deps.entry(target.clone())
                        .or_insert_with(|| m.file.to_string());
                }
            }
        }
        u.depends_on = deps
            .into_iter()
            .map(|(name, from)| Dependency { name, from })
            .collect();
        if u.test.is_none() {
            u.test = ms.iter().find_map(|m| m.test.clone());
        }
        if u.version_file.is_none() {
            u.version_file = ms.iter().find(|m| m.version).map(|m| m.file.to_string());
        }
    }

    // Root files whose change affects everything: ci.toml itself, and the root lockfiles of a
    // root workspace or manifest that holds services (a root package.json with only a linter in
    // it is no service's; its lockfile would rebuild them all for nothing).
    found.triggers.push("ci.toml".to_string());
    let service_paths: Vec<&str> = units
        .iter()
        .filter(|u| u.image)
        .map(|u| u.path.as_str())
        .collect();
    let holds = |members: &std::collections::BTreeSet<String>| {
        members.iter().any(|m| {
            service_paths
                .iter()
                .any(|s| s.is_empty() || m == s || m.starts_with(&format!("{s}/")))
        })
    };
    // The Dockerfiles that build from the root, as text: one that names a root manifest builds
    // from it.
    let root_builds: Vec<String> = images
        .iter()
        .filter(|i| i.context.is_empty())
        .filter_map(|i| std::fs::read_to_string(root.join(&i.dockerfile)).ok())
        .collect();
    let read_by_a_root_build = |files: &[&str]| {
        root_builds
            .iter()
            .any(|t| files.iter().any(|f| dockerfiles::copies_root_file(t, f)))
    };
    let root_service = service_paths.iter().any(|s| s.is_empty());
    for (lock, members, manifests) in [
        (
            "Cargo.lock",
            Some(&workspace.cargo),
            &["Cargo.toml", "Cargo.lock"][..],
        ),
        (
            "package-lock.json",
            Some(&workspace.npm),
            &["package.json", "package-lock.json"][..],
        ),
        (
            "pnpm-lock.yaml",
            Some(&workspace.npm),
            &["package.json", "pnpm-lock.yaml"][..],
        ),
        (
            "yarn.lock",
            Some(&workspace.npm),
            &["package.json", "yarn.lock"][..],
        ),
        ("uv.lock", None, &["pyproject.toml", "uv.lock"][..]),
        ("poetry.lock", None, &["pyproject.toml", "poetry.lock"][..]),
        ("go.sum", Some(&workspace.go), &["go.mod", "go.sum"][..]),
    ] {
        if !root.join(lock).is_file() {
            continue;
        }
        if root_service || members.is_some_and(holds) || read_by_a_root_build(manifests) {
            // Root-anchored: a lockfile without `/` would be every lockfile at any depth, and one
            // service's dependency bump would rebuild them all.
            found.triggers.push(format!("/{lock}"));
        } else {
            found.notes.push(format!(
                "/{lock} is not a trigger: the root workspace it locks holds no service"
            ));
        }
    }
    found.units = units;
    found
}

/// `target` relative to `base` (both repository-relative folders or files, "" the root).
pub(super) fn relative(target: &str, base: &str) -> String {
    let t: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    let b: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = vec![".."; b.len() - common];
    parts.extend(&t[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// `rel` (with `./`, `..`) joined to the repository folder `base`; `None` above the root or
/// absolute.
pub(super) fn join_clean(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split(['/', '\\']) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

fn walk(root: &Path, notes: &mut Vec<String>) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut stack = vec![(PathBuf::new(), 0usize)];
    while let Some((rel, depth)) = stack.pop() {
        if depth >= MAX_DEPTH {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || SKIP.contains(&name.as_str()) {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let child = rel.join(&name);
                out.push(slash(&child));
                if out.len() > MAX_DIRS {
                    notes.push(format!(
                        "stopped looking after {MAX_DIRS} folders: add the rest by hand"
                    ));
                    out.sort();
                    return out;
                }
                stack.push((child, depth + 1));
            }
        }
    }
    out.sort();
    out
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Package names compare as Python's do: case-insensitive, runs of `-_.` equal.
fn normalize(name: &str) -> String {
    let name = name.rsplit('/').next().unwrap_or(name); // npm scopes: @org/x ~ x
    let mut out = String::new();
    let mut sep = false;
    for c in name.to_lowercase().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c);
        }
    }
    out
}

fn unit(root: &Path, dir: &str, image: bool, found_by: String, envs: &[String]) -> Unit {
    let abs = root.join(dir);
    let test = ["test.sh", "scripts/test.sh", "scripts/test"]
        .iter()
        .find(|f| abs.join(f).is_file())
        .map(|f| Guess {
            value: format!("sh ./{f}"),
            from: (*f).to_string(),
        })
        .or_else(|| {
            let makefile = std::fs::read_to_string(abs.join("Makefile")).unwrap_or_default();
            makefile
                .lines()
                .any(|l| l.starts_with("test:"))
                .then(|| Guess {
                    value: "make test".to_string(),
                    from: "Makefile".to_string(),
                })
        })
        .or_else(|| test_commands::build_tool_test(root, dir))
        .or_else(|| {
            abs.join("go.mod").is_file().then(|| Guess {
                value: "go test ./...".to_string(),
                from: "go.mod".to_string(),
            })
        });
    let version_file = abs.join("VERSION").is_file().then(|| "VERSION".to_string());
    let task_definition = [
        "deploy/task-definition.json",
        "ecs/task-definition.json",
        "task-definition.json",
    ]
    .iter()
    // One that is not a JSON object is not one shipit could render from: left for the user.
    .find(|f| {
        std::fs::read_to_string(abs.join(f))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v.is_object())
    })
    .map(|f| (*f).to_string());
    let mut env_dockerfiles = BTreeMap::new();
    let mut env_task_definitions = BTreeMap::new();
    for env in envs {
        let file = format!("Dockerfile.{env}");
        if image && abs.join(&file).is_file() {
            env_dockerfiles.insert(env.clone(), file);
        }
        if let Some(td) = &task_definition {
            let per_env = td.replace(
                "task-definition.json",
                &format!("task-definition.{env}.json"),
            );
            if abs.join(&per_env).is_file() {
                env_task_definitions.insert(env.clone(), per_env);
            }
        }
    }
    Unit {
        name: String::new(),
        path: dir.to_string(),
        image,
        found_by,
        dockerfile: None,
        context: None,
        build_args: BTreeMap::new(),
        args_from_env: false,
        target: None,
        include: Vec::new(),
        watched: Vec::new(),
        test,
        depends_on: Vec::new(),
        version_file,
        task_definition: if image { task_definition } else { None },
        env_dockerfiles,
        env_task_definitions: if image {
            env_task_definitions
        } else {
            BTreeMap::new()
        },
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}
