//! Images that compose files build: `services.*.build` (`context`, `dockerfile`, `args`,
//! `target`), with `${VAR}` read from the `.env` beside the file, as compose does.

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::Yaml;

use super::{Image, join_clean, yaml};

/// The files compose looks for, in its order.
pub(super) const FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

pub(super) fn read(root: &Path, images: &mut Vec<Image>, notes: &mut Vec<String>) {
    let env = dotenv(&root.join(".env"));
    for file in FILES {
        let path = root.join(file);
        if !path.is_file() {
            continue;
        }
        let docs = match yaml::load(&path) {
            Ok(d) => d,
            Err(why) => {
                notes.push(format!("{file}: not read ({why})"));
                continue;
            }
        };
        for doc in &docs {
            let Some(services) = doc["services"].as_hash() else {
                continue;
            };
            for (name, service) in services {
                let Some(name) = yaml::text(name) else {
                    continue;
                };
                let from = format!("{file} (service `{name}`)");
                if let Some(image) = build(root, &service["build"], &env, &from, notes) {
                    images.push(image);
                }
            }
        }
    }
}

fn build(
    root: &Path,
    build: &Yaml,
    env: &BTreeMap<String, String>,
    from: &str,
    notes: &mut Vec<String>,
) -> Option<Image> {
    let (context, dockerfile) = match build {
        Yaml::String(context) => (context.clone(), "Dockerfile".to_string()),
        Yaml::Hash(_) => (
            yaml::text(&build["context"]).unwrap_or_else(|| ".".to_string()),
            yaml::text(&build["dockerfile"]).unwrap_or_else(|| "Dockerfile".to_string()),
        ),
        _ => return None,
    };
    let resolved = |s: &str, what: &str, notes: &mut Vec<String>| match interpolate(s, env) {
        Some(v) => Some(v),
        None => {
            notes.push(format!(
                "{from}: its {what} `{s}` names a variable that .env does not set: left out"
            ));
            None
        }
    };
    let context = resolved(&context, "context", notes)?;
    let dockerfile = resolved(&dockerfile, "dockerfile", notes)?;
    if context.contains("://") || context.starts_with("git@") {
        notes.push(format!(
            "{from}: its context `{context}` is remote: left out"
        ));
        return None;
    }
    let Some(context) = join_clean("", &context) else {
        notes.push(format!(
            "{from}: its context `{context}` is outside the repository: left out"
        ));
        return None;
    };
    let dockerfile = join_clean(&context, &dockerfile).filter(|d| root.join(d).is_file());
    let Some(dockerfile) = dockerfile else {
        notes.push(format!(
            "{from}: its Dockerfile is not in the repository: left out"
        ));
        return None;
    };
    let mut args = BTreeMap::new();
    for (k, v) in yaml::pairs(&build["args"]) {
        match interpolate(&v, env) {
            Some(v) => {
                args.insert(k, v);
            }
            None => notes.push(format!(
                "{from}: build arg {k} = `{v}` names a variable that .env does not set: left out"
            )),
        }
    }
    Some(Image {
        dockerfile,
        context,
        args,
        args_from_env: !env.is_empty(),
        target: yaml::text(&build["target"]),
        from: from.to_string(),
    })
}

/// `KEY=value` lines of a dotenv file (comments and blank lines skipped, quotes removed).
pub(super) fn dotenv(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    out
}

/// Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`;
/// `None` when a variable has neither a value nor a default.
pub(super) fn interpolate(s: &str, env: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            let (name, default) = match inner.find([':', '-', '?', '+']) {
                Some(j) => {
                    let op = inner[j..].trim_start_matches(':');
                    let default = op.strip_prefix('-');
                    (&inner[..j], default)
                }
                None => (inner, None),
            };
            match (env.get(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return None,
            }
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len == 0 {
                out.push('$');
                continue;
            }
            out.push_str(env.get(&rest[..len])?);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    Some(out)
}
