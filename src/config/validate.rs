//! The file and path checks: ci.toml itself, containment of every path a service names, the files
//! `shipit validate` reads, and cycles in depends_on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::{RawService, S};
use super::resolve::{Kind, Listing, Real, Resolver};
use super::values::normalize;
use super::{ConfigError, Service, cycles, shared};

/// ci.toml must be a regular file inside the repository: a symlink out of it (to a credentials
/// file, say) or a device or a FIFO is refused, without reading it, so none of its content shows.
pub(super) fn check_file(file: &Path, root: &Path) -> Result<(), ConfigError> {
    use super::error::NotAFile;
    let refuse = |why: NotAFile| ConfigError::NotAFile {
        path: file.to_path_buf(),
        why,
    };
    let Ok(link) = std::fs::symlink_metadata(file) else {
        return Ok(()); // missing: `load` says so
    };
    if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(file).map_err(|e| refuse(NotAFile::BrokenLink(e)))?;
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if !target.starts_with(&root) {
            return Err(refuse(NotAFile::LinkOutside(target)));
        }
    }
    match std::fs::metadata(file) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(refuse(NotAFile::NotRegular)),
        Err(_) => Ok(()),
    }
}

impl Resolver<'_> {
    /// A path relative to a service's directory: no absolute paths, no way out of the repository.
    pub(super) fn relative(&mut self, raw: Option<&S<String>>, key: &str) -> Option<String> {
        let raw = raw?;
        let p = raw.get_ref();
        if p.trim().is_empty() || Path::new(p).is_absolute() {
            self.problem_with_help(
                format!("`{key}` must be a relative path, not `{p}`"),
                raw.span(),
                "not relative",
                "paths in a service are relative to its `path`",
            );
            return None;
        }
        Some(normalize(p))
    }

    /// `test_report`: a glob inside the service (the reports are read from there).
    pub(super) fn test_report(&mut self, raw: Option<&S<String>>) -> Option<String> {
        self.inside_glob("test_report", raw?)
    }

    /// A glob inside the service (`test_report`, each of `artifacts`): relative to its `path`.
    pub(super) fn inside_glob(&mut self, key: &str, raw: &S<String>) -> Option<String> {
        let p = raw.get_ref();
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            self.problem_with_help(
                format!("`{key}` must stay inside the service, not `{p}`"),
                raw.span(),
                "outside the service",
                "write the glob relative to the service's `path`, without `..`",
            );
            return None;
        }
        self.globs(std::slice::from_ref(raw)).into_iter().next()
    }

    /// A service's `path`: repository-relative, and a directory of the working tree.
    pub(super) fn service_path(&mut self, raw: &S<String>) -> String {
        let p = raw.get_ref();
        if Path::new(p).is_absolute() || p.split('/').any(|c| c == "..") {
            self.problem_with_help(
                format!("`path` must stay inside the repository, not `{p}`"),
                raw.span(),
                "outside the repository",
                "write the path relative to the repository root, without `..`",
            );
            return normalize(p);
        }
        let normalized = normalize(p);
        // Asked through the cache of real paths: the containment check needs the same answer.
        let real = self.canonical(&normalized);
        if !real.is_some_and(|r| r.is_dir) {
            self.problem_with_help(
                format!("`{p}` does not exist in the repository"),
                raw.span(),
                "no such directory",
                format!(
                    "create it, or fix the path (it is relative to {})",
                    self.root.display()
                ),
            );
        }
        normalized
    }

    /// Every path a service names stays inside the repository, with symlinks resolved: its
    /// `path`, build context, Dockerfiles, task definitions and version file.
    pub(super) fn contained_files(&mut self, key: &str, raw: &RawService, service: &Service) {
        let p = raw.path.get_ref();
        if !Path::new(p).is_absolute() && !p.split('/').any(|c| c == "..") {
            self.contained(key, &raw.path, &service.path, "path");
        }
        // The defaults (context `.`, `Dockerfile`) are checked too, pointing at `path`.
        let mut named: Vec<(&S<String>, &str, &str)> = vec![
            (
                raw.context.as_ref().unwrap_or(&raw.path),
                &service.context,
                "context",
            ),
            (
                raw.dockerfile.as_ref().unwrap_or(&raw.path),
                &service.dockerfile,
                "dockerfile",
            ),
        ];
        for (at, what) in [
            (&raw.task_definition, "task_definition"),
            (&raw.version_file, "version_file"),
        ] {
            if let Some(at) = at {
                named.push((at, at.get_ref(), what));
            }
        }
        if let (Some(at), Some(file)) = (&raw.build_args_file, &service.build_args_file) {
            named.push((at, file, "build_args_file"));
        }
        for over in raw.environments.values() {
            for (at, what) in [
                (&over.dockerfile, "dockerfile"),
                (&over.task_definition, "task_definition"),
            ] {
                if let Some(at) = at {
                    named.push((at, at.get_ref(), what));
                }
            }
        }
        for (at, value, what) in named {
            if Path::new(value).is_absolute() {
                continue; // reported already
            }
            let joined = service.join(value);
            self.contained(key, at, &joined, what);
        }
    }

    /// `rel` (repository-relative, normalised) names something inside the repository, also once
    /// symlinks are followed; a problem otherwise.
    fn contained(&mut self, service: &str, at: &S<String>, rel: &str, key: &str) {
        let help = "everything a service builds from must be in the repository: move it in, or fix the path";
        if rel == ".." || rel.starts_with("../") {
            self.problem_with_help(
                format!("`{key}` of service `{service}` leads outside the repository: `{rel}`"),
                at.span(),
                "outside the repository",
                help,
            );
            return;
        }
        if self.real_root.is_none() && self.canonical(".").is_none() {
            return;
        }
        // The deepest part of the path that exists, with its symlinks resolved.
        let mut probe = rel;
        let real = loop {
            if let Some(real) = self.canonical(probe) {
                break Some(real);
            }
            match probe.rsplit_once('/') {
                Some((parent, _)) => probe = parent,
                None if probe != "." => probe = ".",
                None => break None,
            }
        };
        // A path that no symlink led anywhere is where it is written: inside.
        if let Some(Real {
            resolved: Some(real),
            ..
        }) = real
            && let Some(root) = &self.real_root
            && !inside(&real, root)
        {
            self.problem_with_help(
                format!(
                    "`{key}` of service `{service}` leads outside the repository through a symlink: `{rel}` is {}",
                    real.display()
                ),
                at.span(),
                "a symlink out of the repository",
                help,
            );
        }
    }

    /// Where `rel` (repository-relative and normalised: `.` is the root) really is, and whether it
    /// is a folder, asked of the file system once per path: a path whose last component is a plain
    /// name and not a symlink is its folder's real path joined with that name, so only the name is
    /// looked at (one `lstat`); a symlink is canonicalized whole. A path that no symlink leads
    /// through is kept as written (most of a ci.toml's: nothing is built for them).
    pub(super) fn canonical(&mut self, rel: &str) -> Option<Real> {
        if let Some(known) = self.real.get(rel) {
            return known.clone();
        }
        let whole = |path: &Path| {
            let real = path.canonicalize().ok()?;
            let is_dir = real.is_dir();
            Some(Real {
                resolved: Some(real),
                is_dir,
            })
        };
        let real = if rel == "." {
            self.real_root = self.root.canonicalize().ok();
            self.real_root.as_ref().map(|root| Real {
                resolved: None,
                is_dir: root.is_dir(),
            })
        } else {
            let (parent, name) = rel.rsplit_once('/').unwrap_or((".", rel));
            match self.canonical(parent) {
                None => None,
                Some(folder) => {
                    let listed = match self.listed.get(parent) {
                        Some(Some(listing)) => Some(listing.get(std::ffi::OsStr::new(name))),
                        _ => None,
                    };
                    let joined = || match &folder.resolved {
                        Some(real) => Some(real.join(name)),
                        None => Some(under(self.real_root.as_ref()?, rel)),
                    };
                    let kind = match listed {
                        Some(known) => known.copied(),
                        None => joined()
                            .and_then(|path| std::fs::symlink_metadata(path).ok())
                            .map(|m| kind(&m.file_type())),
                    };
                    match kind {
                        Some(Kind::Symlink) => joined().and_then(|path| whole(&path)),
                        Some(kind) => Some(Real {
                            resolved: folder.resolved.as_ref().map(|real| real.join(name)),
                            is_dir: kind == Kind::Folder,
                        }),
                        None => None,
                    }
                }
            }
        };
        self.real.insert(rel.to_string(), real.clone());
        real
    }

    /// The real path of `rel`, as [`Resolver::canonical`] found it.
    fn real_path(&self, rel: &str, real: Real) -> Option<PathBuf> {
        match real.resolved {
            Some(path) => Some(path),
            None => Some(under(self.real_root.as_ref()?, rel)),
        }
    }

    /// Reads, whole, each folder that holds the paths of at least [`CROWDED`] services: one
    /// listing of `services/` instead of a thousand `lstat`s. A folder that cannot be listed is
    /// asked name by name, as any other.
    pub(super) fn list_crowded_folders(&mut self, services: &BTreeMap<S<String>, RawService>) {
        let mut count: foldhash::HashMap<String, usize> = Default::default();
        for service in services.values() {
            if Path::new(service.path.get_ref()).is_absolute() {
                continue; // refused by `service_path`
            }
            let path = normalize(service.path.get_ref());
            let parent = path.rsplit_once('/').map_or(".", |(parent, _)| parent);
            *count.entry(parent.to_string()).or_default() += 1;
        }
        for (folder, n) in count {
            if n < CROWDED || folder.starts_with("..") {
                continue;
            }
            let listing = self
                .canonical(&folder)
                .and_then(|real| self.real_path(&folder, real))
                .and_then(|path| list(&path));
            self.listed.insert(folder, listing);
        }
    }

    /// `shipit validate`: the files a service points at exist and can be read.
    pub(super) fn check_files(
        &mut self,
        raw: &RawService,
        service: &Service,
        definitions: super::DefinitionCheck,
    ) {
        let dir = self.root.join(&service.path);
        let must_exist = |me: &mut Self, at: &S<String>, value: &str, what: &str, help: &str| {
            if !dir.join(value).exists() {
                me.problem_with_help(
                    format!(
                        "{what} `{}` of service `{}` does not exist",
                        Path::new(&service.path).join(value).display(),
                        service.name
                    ),
                    at.span(),
                    "missing",
                    help.to_string(),
                );
            }
        };
        if service.image {
            must_exist(
                self,
                raw.context.as_ref().unwrap_or(&raw.path),
                &service.context,
                "build context",
                "create it, or set `context`",
            );
            must_exist(
                self,
                raw.dockerfile.as_ref().unwrap_or(&raw.path),
                &service.dockerfile,
                "Dockerfile",
                "create it, set `dockerfile`, or set `image = false` for a library",
            );
            for (env, over) in &raw.environments {
                if let Some(d) = &over.dockerfile {
                    must_exist(
                        self,
                        d,
                        d.get_ref(),
                        &format!("`{}` Dockerfile", env.get_ref()),
                        "create it or fix `dockerfile`",
                    );
                }
            }
        }
        let mut files = Vec::new();
        for (at, kind) in [
            (&raw.task_definition, shared::FileKind::TaskDefinition),
            (&raw.service_definition, shared::FileKind::ServiceDefinition),
        ] {
            files.extend(at.iter().map(|a| (a, kind)));
        }
        for over in raw.environments.values() {
            files.extend(
                over.task_definition
                    .iter()
                    .map(|a| (a, shared::FileKind::TaskDefinition)),
            );
            files.extend(
                over.service_definition
                    .iter()
                    .map(|a| (a, shared::FileKind::ServiceDefinition)),
            );
        }
        for (at, kind) in files {
            let (what, key) = match kind {
                shared::FileKind::TaskDefinition => ("task definition", "task_definition"),
                shared::FileKind::ServiceDefinition => ("service definition", "service_definition"),
            };
            must_exist(
                self,
                at,
                at.get_ref(),
                what,
                &format!("create it or fix `{key}`"),
            );
            let text = crate::limits::read_to_string(
                &dir.join(at.get_ref()),
                crate::limits::DEFINITION_FILE,
            );
            let checked = match &text {
                Ok(text) => definitions(kind, text, &service.container),
                Err(e @ crate::limits::ReadError::TooLarge { .. }) => Err(e.to_string()),
                Err(_) => Ok(()),
            };
            if let Err(e) = checked {
                self.problem(
                    format!("{what} `{}`: {e}", at.get_ref()),
                    at.span(),
                    format!("not a {what} ECS takes"),
                );
            }
        }
        if let (Some(at), Some(file)) = (&raw.build_args_file, &service.build_args_file) {
            must_exist(
                self,
                at,
                file,
                "build args file",
                "create it or fix `build_args_file`",
            );
            let text =
                crate::limits::read_to_string(&dir.join(file), crate::limits::DEFINITION_FILE);
            if let Ok(text) = text
                && let Err(crate::dotenv::DotenvError { line, kind: why }) =
                    crate::dotenv::parse(&text)
            {
                self.problem(
                    format!(
                        "build args file `{}`, line {line}: {why}",
                        service.join(file)
                    ),
                    at.span(),
                    "not a dotenv file",
                );
            }
        }
        if let Some(vf) = &raw.version_file {
            must_exist(
                self,
                vf,
                vf.get_ref(),
                "version file",
                "create it or fix `version_file`",
            );
        }
    }

    /// Cycles in depends_on, each reported once at the edge that closes it.
    pub(super) fn cycles(&mut self, services: &BTreeMap<S<String>, RawService>) {
        let names = services.iter().map(|(name, service)| {
            let deps = service.depends_on.iter().map(|d| d.get_ref().as_str());
            (name.get_ref().as_str(), deps)
        });
        if cycles::acyclic(names) {
            return;
        }
        let edges: BTreeMap<&str, Vec<&S<String>>> = services
            .iter()
            .map(|(name, s)| (name.get_ref().as_str(), s.depends_on.iter().collect()))
            .collect();
        let graph: BTreeMap<&str, Vec<&str>> = edges
            .iter()
            .map(|(n, deps)| {
                (
                    *n,
                    deps.iter()
                        .map(|d| d.get_ref().as_str())
                        .filter(|d| edges.contains_key(d))
                        .collect(),
                )
            })
            .collect();
        for cycle in cycles::cycles(&graph) {
            let from = cycle[cycle.len() - 2];
            let to = cycle[cycle.len() - 1];
            let span = edges[from]
                .iter()
                .find(|d| d.get_ref() == to)
                .map(|d| d.span())
                .unwrap_or(0..0);
            self.problem_with_help(
                format!("depends_on has a cycle: {}", cycle.join(" → ")),
                span,
                "closes the cycle",
                "a service cannot depend on itself, directly or through others; remove one of these edges",
            );
        }
    }
}

/// How many services' paths a folder holds before it is read whole: below that, a few `lstat`s
/// cost less than reading a folder that may hold much else.
const CROWDED: usize = 16;

fn kind(file_type: &std::fs::FileType) -> Kind {
    if file_type.is_symlink() {
        Kind::Symlink
    } else if file_type.is_dir() {
        Kind::Folder
    } else {
        Kind::Other
    }
}

/// The names in `folder` and what each is (from the listing itself where the file system says,
/// else one `lstat`), or None when it cannot be read.
fn list(folder: &Path) -> Option<Listing> {
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(folder).ok()? {
        let entry = entry.ok()?;
        let file_type = entry.file_type().ok()?;
        listing.insert(entry.file_name(), kind(&file_type));
    }
    Some(listing)
}

/// `root/rel` for a normalised relative `rel`, built in one allocation (`Path::join` looks at
/// every component).
fn under(root: &Path, rel: &str) -> PathBuf {
    let mut path = std::ffi::OsString::with_capacity(root.as_os_str().len() + 1 + rel.len());
    path.push(root);
    path.push("/");
    path.push(rel);
    PathBuf::from(path)
}

/// `path.starts_with(root)` for two canonical paths, compared as bytes: no component parsing.
fn inside(path: &Path, root: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (path, root) = (path.as_os_str().as_bytes(), root.as_os_str().as_bytes());
    match path.strip_prefix(root) {
        Some(rest) => rest.is_empty() || rest[0] == b'/' || root.ends_with(b"/"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::inside;
    use std::path::Path;

    #[test]
    fn inside_compares_whole_components() {
        let root = Path::new("/repo/a");
        assert!(inside(Path::new("/repo/a"), root));
        assert!(inside(Path::new("/repo/a/b"), root));
        assert!(!inside(Path::new("/repo/ab"), root));
        assert!(!inside(Path::new("/repo"), root));
        assert!(inside(Path::new("/etc"), Path::new("/")));
    }
}
