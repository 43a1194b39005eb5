//! Service names: the folder's, valid as a service name and as an image repository name, and the
//! same rule for every clash.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{HOLDERS, Unit};

/// Names: the folder's (the Dockerfile's variant added, `web-worker` for `web/Dockerfile.worker`),
/// made valid. Names that collide are all replaced the same way: the parent folder's name first
/// (`api-users`, `admin-users`), then the whole path.
pub(super) fn name_units(root: &Path, units: &mut [Unit], notes: &mut Vec<String>) {
    let root_name = root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let base = |u: &Unit| -> String {
        let folder = match u.path.rsplit('/').next() {
            Some(f) if !f.is_empty() => f.to_string(),
            _ => root_name.clone(),
        };
        let file = u
            .dockerfile
            .as_deref()
            .map_or("Dockerfile", |d| d.rsplit('/').next().unwrap_or(d));
        let variant = file
            .strip_prefix("Dockerfile.")
            .or_else(|| file.strip_suffix(".Dockerfile"))
            .or_else(|| file.strip_suffix(".dockerfile"));
        match variant {
            Some(v) if u.image => format!("{folder}-{v}"),
            _ => folder,
        }
    };
    let with_parent = |u: &Unit| -> String {
        let mut parts = u.path.rsplit('/');
        let _ = parts.next();
        match parts.find(|p| !HOLDERS.contains(p) && !p.is_empty()) {
            Some(p) => format!("{p}-{}", base(u)),
            None => base(u),
        }
    };
    let mut names: Vec<String> = units.iter().map(|u| sanitize(&base(u))).collect();
    for (step, rename) in [
        (0, &with_parent as &dyn Fn(&Unit) -> String),
        (1, &|u: &Unit| {
            format!("{}-{}", u.path.replace('/', "-"), base(u))
        }),
    ] {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &names {
            *count.entry(n).or_default() += 1;
        }
        let clash: BTreeSet<String> = count
            .into_iter()
            .filter(|(_, c)| *c > 1)
            .map(|(n, _)| n.to_string())
            .collect();
        for (i, u) in units.iter().enumerate() {
            if clash.contains(&names[i]) {
                let new = sanitize(&rename(u));
                if step == 0 {
                    notes.push(format!(
                        "{}: named `{new}`, as another folder is named `{}` too",
                        if u.path.is_empty() { "." } else { &u.path },
                        names[i]
                    ));
                }
                names[i] = new;
            }
        }
    }
    // Whatever still collides gets a number, in path order.
    let mut taken = BTreeSet::new();
    for (u, name) in units.iter_mut().zip(names) {
        let mut candidate = name.clone();
        let mut n = 2;
        while !taken.insert(candidate.clone()) {
            candidate = format!("{name}-{n}");
            n += 1;
        }
        u.name = candidate;
    }
}

/// A valid service name that is also a valid image repository name (OCI Distribution:
/// lowercase letters and digits separated by one `.`, one or two `_`, or `-`s; at most 100
/// characters for a service): other characters become `-`, separators that do not fit become `-`,
/// and none leads or trails.
pub fn sanitize(name: &str) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::new();
    let mut run = String::new();
    for c in mapped.chars() {
        if c.is_ascii_alphanumeric() {
            if !run.is_empty() && !out.is_empty() {
                let fits = matches!(run.as_str(), "." | "_" | "__");
                out.push_str(if fits { &run } else { "-" });
            }
            run.clear();
            out.push(c);
        } else {
            run.push(c);
        }
    }
    out.truncate(100);
    let out = out.trim_end_matches(['-', '_', '.']).to_string();
    if out.is_empty() {
        "app".to_string()
    } else {
        out
    }
}
