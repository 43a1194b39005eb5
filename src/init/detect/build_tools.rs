//! What the build tools' own files say: workspace members (Cargo, npm, pnpm, yarn, go.work),
//! each folder's package name and the packages it depends on (Cargo.toml, package.json,
//! pyproject.toml, *.csproj `ProjectReference`s), and its test command (Maven and Gradle wrappers,
//! `dotnet test`, `go test`, uv, poetry and pipenv, npm/pnpm/yarn scripts, Nx and Turborepo).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::test_commands::{is_a_test, js_tool_of, python_runner};
use super::{Guess, SKIP, join};

/// The package a manifest declares, and the names of the packages it depends on.
#[derive(Debug, Default)]
pub(super) struct Manifest {
    pub file: &'static str,
    pub package: Option<String>,
    pub deps: BTreeSet<String>,
    pub test: Option<Guess>,
    pub version: bool,
}

/// The workspace members the root manifests list.
#[derive(Debug, Default)]
pub(super) struct Workspaces {
    pub cargo: BTreeSet<String>,
    pub npm: BTreeSet<String>,
    /// The modules a root go.work `use`s.
    pub go: BTreeSet<String>,
    /// The modules of the root pom.xml (and theirs), and the projects settings.gradle includes.
    pub maven: BTreeSet<String>,
    pnpm: bool,
    yarn: bool,
    /// `[workspace.dependencies]` of the root Cargo.toml: name → package name, for `workspace = true`.
    cargo_workspace_deps: BTreeMap<String, String>,
}

impl Workspaces {
    pub(super) fn read(root: &Path) -> Workspaces {
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
        let mut poms = vec![String::new()];
        while let Some(dir) = poms.pop() {
            let text = std::fs::read_to_string(root.join(&dir).join("pom.xml")).unwrap_or_default();
            for module in elements(&text, "module") {
                if let Some(m) = super::join_clean(&dir, &module)
                    && !m.is_empty()
                    && root.join(&m).join("pom.xml").is_file()
                    && w.maven.insert(m.clone())
                    && w.maven.len() < 1000
                {
                    poms.push(m);
                }
            }
        }
        for settings in ["settings.gradle", "settings.gradle.kts"] {
            let text = std::fs::read_to_string(root.join(settings)).unwrap_or_default();
            for line in text.lines() {
                let Some(rest) = line.trim().strip_prefix("include") else {
                    continue;
                };
                for item in rest.split(',') {
                    let item = item.trim().trim_matches(['(', ')', '"', '\'', ' ']);
                    let dir = item.trim_start_matches(':').replace(':', "/");
                    if !dir.is_empty() && root.join(&dir).is_dir() {
                        w.maven.insert(dir);
                    }
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(root.join("go.work")) {
            w.go = go_work_uses(&text)
                .into_iter()
                .filter(|d| !d.is_empty() && root.join(d).join("go.mod").is_file())
                .collect();
        }
        w
    }

    pub(super) fn js_tool(&self) -> &'static str {
        if self.pnpm {
            "pnpm"
        } else if self.yarn {
            "yarn"
        } else {
            "npm"
        }
    }

    pub(super) fn js_tool_member(&self) -> &'static str {
        if self.pnpm {
            "a pnpm workspace package"
        } else {
            "an npm workspace package"
        }
    }
}

/// The `packages:` list of a pnpm-workspace.yaml (the one key init needs; no YAML parser).
pub(super) fn pnpm_packages(text: &str) -> Vec<String> {
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

fn read_toml(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

pub(super) fn read_json(path: &Path) -> Option<serde_json::Value> {
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
pub(super) fn manifests(dir: &Path, root: &Path, ws: &Workspaces) -> Vec<Manifest> {
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
        let script = pkg
            .get("scripts")
            .and_then(|s| s.get("test"))
            .and_then(|t| t.as_str());
        if script.is_some_and(is_a_test) {
            let tool = js_tool_of(dir, root, ws);
            m.test = Some(Guess {
                value: format!("{tool} test"),
                from: "package.json's `test` script".to_string(),
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
                value: format!("{}pytest", python_runner(dir, root, &py)),
                from: if mentions_pytest {
                    "pyproject.toml".to_string()
                } else {
                    "its tests/ folder".to_string()
                },
            });
        }
        out.push(m);
    }
    if let Ok(pom) = std::fs::read_to_string(dir.join("pom.xml")) {
        // The project's own artifactId is the first outside <parent>; its dependencies' are
        // inside <dependencies>.
        let own = match (pom.find("<parent>"), pom.find("</parent>")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &pom[..a], &pom[b..]),
            _ => pom.clone(),
        };
        let mut m = Manifest {
            file: "pom.xml",
            package: elements(&own, "artifactId").into_iter().next(),
            ..Manifest::default()
        };
        for block in own.split("<dependencies>").skip(1) {
            let block = block.split("</dependencies>").next().unwrap_or("");
            m.deps.extend(elements(block, "artifactId"));
        }
        out.push(m);
    }
    if let Some(m) = dotnet(dir, root) {
        out.push(m);
    }
    out
}

/// The `use` directives of a go.work (one per line or in a `use ( … )` block), as folders.
pub(super) fn go_work_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let item = if block {
            if line == ")" {
                block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("use") {
            let rest = rest.trim();
            if rest == "(" {
                block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let item = item
            .trim_matches('"')
            .trim_start_matches("./")
            .trim_end_matches('/');
        if !item.is_empty() || line == "." {
            out.push(if item == "." {
                String::new()
            } else {
                item.to_string()
            });
        }
    }
    out
}

/// The .NET projects of a folder: the `*.csproj`/`*.fsproj` in it, its package name (the
/// project's file name), the projects it references (`ProjectReference`), and `dotnet test` when
/// it is a test project or the folder holds a solution with one.
fn dotnet(dir: &Path, root: &Path) -> Option<Manifest> {
    let _ = root;
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| matches!(x.to_str(), Some("csproj" | "fsproj" | "sln" | "slnx")))
        })
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut m = Manifest {
        file: "its .NET project",
        ..Manifest::default()
    };
    let mut tests = false;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let is_project = f.extension().is_some_and(|x| x != "sln" && x != "slnx");
        if is_project {
            m.package.get_or_insert(stem.clone());
            for reference in text.split("<ProjectReference").skip(1) {
                if let Some(include) = attribute(reference, "Include") {
                    let name = include
                        .rsplit(['/', '\\'])
                        .next()
                        .unwrap_or(&include)
                        .trim_end_matches(".csproj")
                        .trim_end_matches(".fsproj")
                        .to_string();
                    m.deps.insert(name);
                }
            }
        }
        if text.contains("Microsoft.NET.Test.Sdk")
            || text.contains("xunit")
            || text.contains("NUnit")
            || text.contains("MSTest")
            || (!is_project && (text.contains("Test") || dir.join("tests").is_dir()))
        {
            tests = true;
        }
    }
    if tests || dir.join("tests").is_dir() || dir.join("test").is_dir() {
        m.test = Some(Guess {
            value: "dotnet test".to_string(),
            from: "its .NET solution or test project".to_string(),
        });
    }
    Some(m)
}

/// The value of `name="…"` in the start of an XML element.
fn attribute(element: &str, name: &str) -> Option<String> {
    let element = &element[..element.find('>').unwrap_or(element.len())];
    let at = element.find(&format!("{name}="))? + name.len() + 1;
    let rest = &element[at..];
    let quote = rest.chars().next()?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_string())
}

/// The text of every `<tag>…</tag>` in `xml`.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.trim().to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}
