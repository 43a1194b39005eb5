//! Test commands from the build tools: Maven and Gradle wrappers, Nx and Turborepo `test`
//! tasks, the runner of a Python project (uv, poetry, pipenv), the package manager of a
//! JavaScript one; and which `test` scripts test nothing.

use std::path::Path;

use super::Guess;
use super::build_tools::{Workspaces, read_json};

/// A `test` script that tests something: not npm's placeholder, not `exit 0`, not an `echo`
/// that ends in `exit 0`.
pub(super) fn is_a_test(script: &str) -> bool {
    let s = script.trim();
    if s.is_empty() || s.contains("no test specified") {
        return false;
    }
    let last = s.rsplit(['&', ';', '|']).next().unwrap_or(s).trim();
    if matches!(last, "exit 0" | "true" | ":") {
        return false;
    }
    !(s.starts_with("echo ") && !s.contains("&&") && !s.contains(';'))
}

/// The JavaScript package manager of a folder: its own lockfile, else the workspace's.
pub(super) fn js_tool_of(dir: &Path, root: &Path, ws: &Workspaces) -> &'static str {
    if dir.join("pnpm-lock.yaml").is_file() {
        "pnpm"
    } else if dir.join("yarn.lock").is_file() {
        "yarn"
    } else if dir.join("package-lock.json").is_file() {
        "npm"
    } else {
        let _ = root;
        ws.js_tool()
    }
}

/// How a Python project runs its tools: `uv run ` where a uv.lock is (in it or at the root),
/// `poetry run ` with a poetry.lock, `pipenv run ` with a Pipfile, else `python -m `.
pub(super) fn python_runner(dir: &Path, root: &Path, py: &toml::Table) -> &'static str {
    let has = |f: &str| dir.join(f).is_file() || root.join(f).is_file();
    if has("uv.lock") || py.get("tool").and_then(|t| t.get("uv")).is_some() {
        "uv run "
    } else if has("poetry.lock") {
        "poetry run "
    } else if has("Pipfile") {
        "pipenv run "
    } else {
        "python -m "
    }
}

/// The test command a build tool gives a folder: a Maven or Gradle wrapper (here or in a parent
/// up to the root), `mvn`/`gradle` without one, an Nx project's or a Turborepo package's `test`
/// task.
pub(super) fn build_tool_test(root: &Path, dir: &str) -> Option<Guess> {
    let abs = root.join(dir);
    let wrapper = |name: &str| -> Option<String> {
        let mut d = dir.to_string();
        let mut up = String::new();
        loop {
            if root.join(&d).join(name).is_file() {
                return Some(if up.is_empty() {
                    format!("./{name}")
                } else {
                    format!("{up}{name}")
                });
            }
            if d.is_empty() {
                return None;
            }
            d = d
                .rsplit_once('/')
                .map_or(String::new(), |(p, _)| p.to_string());
            up.push_str("../");
        }
    };
    if abs.join("pom.xml").is_file() {
        return Some(match wrapper("mvnw") {
            Some(w) if w == "./mvnw" => Guess {
                value: "./mvnw test".to_string(),
                from: "its Maven wrapper".to_string(),
            },
            Some(w) => Guess {
                value: format!("{w} -f pom.xml test"),
                from: "its pom.xml and the Maven wrapper above it".to_string(),
            },
            None => Guess {
                value: "mvn test".to_string(),
                from: "its pom.xml".to_string(),
            },
        });
    }
    if abs.join("build.gradle").is_file() || abs.join("build.gradle.kts").is_file() {
        return Some(match wrapper("gradlew") {
            Some(w) if w == "./gradlew" => Guess {
                value: "./gradlew test".to_string(),
                from: "its Gradle wrapper".to_string(),
            },
            Some(w) => Guess {
                value: format!("{w} -p . test"),
                from: "its build.gradle and the Gradle wrapper above it".to_string(),
            },
            None => Guess {
                value: "gradle test".to_string(),
                from: "its build.gradle".to_string(),
            },
        });
    }
    if root.join("nx.json").is_file()
        && let Some(project) = read_json(&abs.join("project.json"))
        && project.get("targets").and_then(|t| t.get("test")).is_some()
        && let Some(name) = project.get("name").and_then(|n| n.as_str())
    {
        return Some(Guess {
            value: format!("npx nx run {name}:test"),
            from: "its Nx project's `test` target".to_string(),
        });
    }
    if root.join("turbo.json").is_file()
        && let Some(pkg) = read_json(&abs.join("package.json"))
        && pkg
            .get("scripts")
            .and_then(|s| s.get("test"))
            .and_then(|t| t.as_str())
            .is_some_and(is_a_test)
        && let Some(name) = pkg.get("name").and_then(|n| n.as_str())
    {
        return Some(Guess {
            value: format!("npx turbo run test --filter={name}"),
            from: "its package's `test` script, run by Turborepo".to_string(),
        });
    }
    None
}
