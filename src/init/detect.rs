//! What `shipit init` finds in a repository: services (folders with a Dockerfile), libraries (the
//! members of Cargo, npm and pnpm workspaces, and Python projects), each one's test command guessed
//! from its files, and `depends_on` from the dependencies its manifest declares on the others.
//!
//! Over 500 lines for the workspace formats it reads (Cargo, npm, pnpm, yarn, Python), each a few
//! dozen lines; the tests are the last sixty.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Folders never searched.
const SKIP: [&str; 12] = [
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
const MAX_DEPTH: usize = 6;
const MAX_DIRS: usize = 20_000;

/// One thing to put in ci.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    /// Repository-relative, `/`-separated.
    pub path: String,
    /// True when the folder has a Dockerfile.
    pub image: bool,
    /// Why it is in: "Dockerfile", "Cargo workspace member", ...
    pub found_by: String,
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

/// What was found, and the root files whose change should affect every service.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub units: Vec<Unit>,
    pub triggers: Vec<String>,
    /// Things worth telling the user (a folder skipped, a name changed).
    pub notes: Vec<String>,
}

/// The package a manifest declares, and the names of the packages it depends on.
#[derive(Debug, Default)]
struct Manifest {
    file: &'static str,
    package: Option<String>,
    deps: BTreeSet<String>,
    test: Option<Guess>,
    version: bool,
}

pub fn detect(root: &Path, envs: &[String]) -> Found {
    let mut found = Found::default();
    let dirs = walk(root, &mut found.notes);
    let workspace = Workspaces::read(root);

    // Services: every folder with a Dockerfile.
    let mut units: Vec<Unit> = Vec::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for dir in &dirs {
        if root.join(dir).join("Dockerfile").is_file() {
            units.push(unit(root, dir, true, "Dockerfile".to_string(), envs));
        }
    }
    // Libraries: workspace members and Python projects without a Dockerfile, not inside a service.
    for dir in &dirs {
        if units.iter().any(|u| u.path == *dir) || dir.is_empty() {
            continue;
        }
        if units
            .iter()
            .any(|u| u.image && (u.path.is_empty() || dir.starts_with(&format!("{}/", u.path))))
        {
            continue;
        }
        let why = if workspace.cargo.contains(dir) {
            Some("a Cargo workspace member")
        } else if workspace.npm.contains(dir) {
            Some(workspace.js_tool_member())
        } else if root.join(dir).join("pyproject.toml").is_file()
            || root.join(dir).join("setup.py").is_file()
        {
            Some("a Python project")
        } else {
            None
        };
        if let Some(why) = why {
            units.push(unit(root, dir, false, why.to_string(), envs));
        }
    }
    units.sort_by(|a, b| a.path.cmp(&b.path));

    // Names: the folder's, made valid, made unique with its parent's.
    for u in &mut units {
        let base = u.path.rsplit('/').next().unwrap_or("");
        let base = if base.is_empty() {
            root.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "app".to_string())
        } else {
            base.to_string()
        };
        let mut name = sanitize(&base);
        if taken.contains(&name) {
            let parent = u.path.rsplit('/').nth(1).unwrap_or("x");
            name = sanitize(&format!("{parent}-{base}"));
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{}-{n}", sanitize(&base));
                n += 1;
            }
            found.notes.push(format!(
                "{}: named `{name}`, as another folder is named `{}` too",
                u.path, base
            ));
        }
        taken.insert(name.clone());
        u.name = name;
    }

    // depends_on: the packages each manifest depends on that another unit declares.
    let manifests: Vec<Vec<Manifest>> = units
        .iter()
        .map(|u| manifests(&root.join(&u.path), root, &workspace))
        .collect();
    let mut by_package: BTreeMap<String, String> = BTreeMap::new();
    for (u, ms) in units.iter().zip(&manifests) {
        for m in ms {
            if let Some(p) = &m.package {
                by_package.insert(normalize(p), u.name.clone());
            }
        }
    }
    for (u, ms) in units.iter_mut().zip(&manifests) {
        let mut deps = BTreeMap::new();
        for m in ms {
            for d in &m.deps {
                if let Some(target) = by_package.get(&normalize(d))
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

    // Root files whose change affects everything: ci.toml itself and the lockfiles.
    found.triggers.push("ci.toml".to_string());
    for lock in [
        "Cargo.lock",
        "package-lock.json",
        "pnpm-lock.yaml",
        "yarn.lock",
        "uv.lock",
        "poetry.lock",
        "go.sum",
    ] {
        if root.join(lock).is_file() {
            // Root-anchored: a lockfile without `/` would be every lockfile at any depth, and one
            // service's dependency bump would rebuild them all.
            found.triggers.push(format!("/{lock}"));
        }
    }
    found.units = units;
    found
}

/// Every folder under the root (repository-relative, the root as ""), skipping hidden ones, build
/// output and dependencies.
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

/// A valid service name: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    out = out
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if out.is_empty() {
        "app".to_string()
    } else {
        out
    }
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
    .find(|f| abs.join(f).is_file())
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

/// The workspace members the root manifests list.
#[derive(Debug, Default)]
struct Workspaces {
    cargo: BTreeSet<String>,
    npm: BTreeSet<String>,
    pnpm: bool,
    yarn: bool,
    /// `[workspace.dependencies]` of the root Cargo.toml: name → package name, for `workspace = true`.
    cargo_workspace_deps: BTreeMap<String, String>,
}

impl Workspaces {
    fn read(root: &Path) -> Workspaces {
        let mut w = Workspaces {
            pnpm: root.join("pnpm-workspace.yaml").is_file()
                || root.join("pnpm-lock.yaml").is_file(),
            yarn: root.join("yarn.lock").is_file(),
            ..Workspaces::default()
        };
        if let Some(cargo) = read_toml(&root.join("Cargo.toml")) {
            let members = strings(cargo.get("workspace").and_then(|w| w.get("members")));
            let excluded = strings(cargo.get("workspace").and_then(|w| w.get("exclude")));
            for dir in expand(root, &members) {
                if !excluded.contains(&dir) && root.join(&dir).join("Cargo.toml").is_file() {
                    w.cargo.insert(dir);
                }
            }
            if let Some(deps) = cargo
                .get("workspace")
                .and_then(|w| w.get("dependencies"))
                .and_then(|d| d.as_table())
            {
                for (key, value) in deps {
                    let package = value.get("package").and_then(|p| p.as_str()).unwrap_or(key);
                    if value.get("path").is_some() {
                        w.cargo_workspace_deps
                            .insert(key.clone(), package.to_string());
                    }
                }
            }
        }
        let mut globs = Vec::new();
        if let Some(pkg) = read_json(&root.join("package.json")) {
            let ws = pkg.get("workspaces");
            let list = ws
                .and_then(|w| w.get("packages"))
                .or(ws)
                .and_then(|l| l.as_array())
                .cloned()
                .unwrap_or_default();
            globs.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        if let Ok(text) = std::fs::read_to_string(root.join("pnpm-workspace.yaml")) {
            globs.extend(pnpm_packages(&text));
        }
        for dir in expand(root, &globs) {
            if root.join(&dir).join("package.json").is_file() {
                w.npm.insert(dir);
            }
        }
        w
    }

    fn js_tool(&self) -> &'static str {
        if self.pnpm {
            "pnpm"
        } else if self.yarn {
            "yarn"
        } else {
            "npm"
        }
    }

    fn js_tool_member(&self) -> &'static str {
        if self.pnpm {
            "a pnpm workspace package"
        } else {
            "an npm workspace package"
        }
    }
}

/// The `packages:` list of a pnpm-workspace.yaml (the one key init needs; no YAML parser).
fn pnpm_packages(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if !line.starts_with([' ', '\t', '-']) && !trimmed.is_empty() {
            inside = trimmed.starts_with("packages:");
            continue;
        }
        if inside && let Some(item) = trimmed.strip_prefix('-') {
            let item = item.trim().trim_matches(['"', '\'']);
            if !item.is_empty() && !item.starts_with('!') {
                out.push(item.to_string());
            }
        }
    }
    out
}

/// Workspace member globs (`crates/*`, `packages/**`, `apps/web`) → existing folders.
fn expand(root: &Path, globs: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for g in globs {
        let g = g.trim_start_matches("./").trim_end_matches('/');
        let parts: Vec<&str> = g.split('/').collect();
        let mut current = vec![String::new()];
        for part in parts {
            let mut next = Vec::new();
            for base in &current {
                let dir = root.join(base);
                if part == "**" {
                    next.push(base.clone());
                    next.extend(descendants(&dir, base, 3));
                } else if part.contains(['*', '?']) {
                    let Ok(matcher) = globset::Glob::new(part).map(|g| g.compile_matcher()) else {
                        continue;
                    };
                    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let name = e.file_name().to_string_lossy().to_string();
                        if e.file_type().is_ok_and(|t| t.is_dir()) && matcher.is_match(&name) {
                            next.push(join(base, &name));
                        }
                    }
                } else if dir.join(part).is_dir() {
                    next.push(join(base, part));
                }
            }
            current = next;
        }
        out.extend(current.into_iter().filter(|d| !d.is_empty()));
    }
    out
}

fn descendants(dir: &Path, base: &str, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    if depth == 0 {
        return out;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.file_type().is_ok_and(|t| t.is_dir())
            && !name.starts_with('.')
            && !SKIP.contains(&name.as_str())
        {
            let rel = join(base, &name);
            out.extend(descendants(&e.path(), &rel, depth - 1));
            out.push(rel);
        }
    }
    out
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn read_toml(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The manifests of one folder: what they are called and what they depend on.
fn manifests(dir: &Path, root: &Path, ws: &Workspaces) -> Vec<Manifest> {
    let mut out = Vec::new();
    if let Some(cargo) = read_toml(&dir.join("Cargo.toml")) {
        let mut m = Manifest {
            file: "Cargo.toml",
            package: cargo
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string),
            test: Some(Guess {
                value: "cargo test".to_string(),
                from: "Cargo.toml".to_string(),
            }),
            version: cargo
                .get("package")
                .and_then(|p| p.get("version"))
                .is_some_and(|v| v.is_str()),
            ..Manifest::default()
        };
        let mut tables: Vec<&toml::Table> = Vec::new();
        for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(t) = cargo.get(key).and_then(|t| t.as_table()) {
                tables.push(t);
            }
        }
        for t in tables {
            for (key, value) in t {
                if value.get("path").is_some() {
                    let package = value.get("package").and_then(|p| p.as_str()).unwrap_or(key);
                    m.deps.insert(package.to_string());
                } else if value.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                    && let Some(package) = ws.cargo_workspace_deps.get(key)
                {
                    m.deps.insert(package.clone());
                }
            }
        }
        out.push(m);
    }
    if let Some(pkg) = read_json(&dir.join("package.json")) {
        let mut m = Manifest {
            file: "package.json",
            package: pkg.get("name").and_then(|n| n.as_str()).map(str::to_string),
            version: pkg.get("version").is_some_and(|v| v.is_string()),
            ..Manifest::default()
        };
        if pkg
            .get("scripts")
            .and_then(|s| s.get("test"))
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.contains("no test specified"))
        {
            m.test = Some(Guess {
                value: format!("{} test", ws.js_tool()),
                from: "package.json".to_string(),
            });
        }
        for key in [
            "dependencies",
            "devDependencies",
            "peerDependencies",
            "optionalDependencies",
        ] {
            if let Some(deps) = pkg.get(key).and_then(|d| d.as_object()) {
                m.deps.extend(deps.keys().cloned());
            }
        }
        out.push(m);
    }
    if let Some(py) = read_toml(&dir.join("pyproject.toml")) {
        let project = py.get("project");
        let poetry = py.get("tool").and_then(|t| t.get("poetry"));
        let mut m = Manifest {
            file: "pyproject.toml",
            package: project
                .or(poetry)
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string),
            version: project
                .or(poetry)
                .and_then(|p| p.get("version"))
                .is_some_and(|v| v.is_str()),
            ..Manifest::default()
        };
        let mut requirements: Vec<String> = strings(project.and_then(|p| p.get("dependencies")));
        if let Some(optional) = project
            .and_then(|p| p.get("optional-dependencies"))
            .and_then(|o| o.as_table())
        {
            for list in optional.values() {
                requirements.extend(strings(Some(list)));
            }
        }
        if let Some(groups) = py.get("dependency-groups").and_then(|g| g.as_table()) {
            for list in groups.values() {
                requirements.extend(strings(Some(list)));
            }
        }
        for r in requirements {
            let name: String = r
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            if !name.is_empty() {
                m.deps.insert(name);
            }
        }
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(t) = poetry.and_then(|p| p.get(key)).and_then(|t| t.as_table()) {
                m.deps.extend(t.keys().filter(|k| *k != "python").cloned());
            }
        }
        let mentions_pytest = std::fs::read_to_string(dir.join("pyproject.toml"))
            .unwrap_or_default()
            .contains("pytest");
        if mentions_pytest || dir.join("tests").is_dir() {
            m.test = Some(Guess {
                value: "python -m pytest".to_string(),
                from: if mentions_pytest {
                    "pyproject.toml".to_string()
                } else {
                    "its tests/ folder".to_string()
                },
            });
        }
        out.push(m);
    }
    let _ = root;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_valid() {
        assert_eq!(sanitize("Billing API"), "billing-api");
        assert_eq!(sanitize("_x"), "x");
        assert_eq!(sanitize("@@"), "app");
    }

    #[test]
    fn package_names_compare_as_python_and_npm_scopes_do() {
        assert_eq!(normalize("My_Lib.core"), "my-lib-core");
        assert_eq!(normalize("@clinic/common"), "common");
    }

    #[test]
    fn npm_workspaces_with_yarn_give_libraries_services_and_yarn_test() {
        let dir = tempfile::tempdir().unwrap();
        let w = |p: &str, text: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        w(
            "package.json",
            r#"{"workspaces": {"packages": ["libs/**"]}}"#,
        );
        w("yarn.lock", "");
        w(
            "libs/js/format/package.json",
            r#"{"name": "@x/format", "scripts": {"test": "jest"}}"#,
        );
        w(
            "libs/js/api/package.json",
            r#"{"name": "api", "dependencies": {"@x/format": "1"}}"#,
        );
        w("libs/js/api/Dockerfile", "FROM scratch\n");
        let found = detect(dir.path(), &["prod".to_string()]);
        let names: Vec<(&str, bool)> = found
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.image))
            .collect();
        assert_eq!(names, [("api", true), ("format", false)]);
        assert_eq!(found.units[1].test.as_ref().unwrap().value, "yarn test");
        assert_eq!(found.units[0].depends_on[0].name, "format");
        assert_eq!(found.triggers, ["ci.toml", "/yarn.lock"]);
    }

    #[test]
    fn pnpm_workspace_packages_are_read() {
        let text =
            "packages:\n  - 'apps/*'\n  - \"libs/**\"\n  - '!**/test/**'\ncatalog:\n  - nope\n";
        assert_eq!(pnpm_packages(text), ["apps/*", "libs/**"]);
    }
}
