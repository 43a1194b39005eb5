//! The build context as the Docker engine receives it: a tar stream of the context directory, less
//! what `.dockerignore` excludes, with Docker's own matching rules:
//!
//! - one pattern a line; `#` starts a comment line; blank lines are skipped;
//! - patterns are relative to the context root (a leading `/` is dropped) and cleaned;
//! - `*` and `?` stay within a path segment, `**` spans any number of segments;
//! - a pattern that matches a directory excludes everything under it;
//! - `!` re-includes; the last pattern that matches a path decides.
//!
//! The Dockerfile and `.dockerignore` are always sent, as the Docker CLI does. A Dockerfile outside
//! the context is added under a name of its own.
//!
//! Long for its tests: Docker's `.dockerignore` rules are checked case by case (about 170 of the
//! lines are the table).

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// Where a Dockerfile from outside the context goes in the tar.
pub const OUTSIDE_DOCKERFILE: &str = ".shipit.Dockerfile";

#[derive(Debug)]
struct Rule {
    pattern: Pattern,
    include: bool,
}

/// A cleaned `.dockerignore` pattern. Most are plain paths (`docs`, `README.md`, `src/gen`):
/// those are compared as text, which costs `affected` nothing on a large monorepo, where each
/// changed file a build reads is checked against its context's `.dockerignore`.
#[derive(Debug)]
enum Pattern {
    /// No wildcard, class, alternative or escape: the path itself or what is under it.
    Plain(String),
    Glob {
        matcher: GlobMatcher,
        /// The same pattern with `/**` appended: it also matches what is under a matched directory.
        under: GlobMatcher,
    },
}

impl Pattern {
    fn is_match(&self, path: &str) -> bool {
        match self {
            Pattern::Plain(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            Pattern::Glob { matcher, under } => matcher.is_match(path) || under.is_match(path),
        }
    }
}

/// The compiled `.dockerignore` of one context.
#[derive(Debug, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

/// Docker's cleaning of a pattern: no leading `/` or `./`, no `.` segments, `..` resolved.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A `.dockerignore` line that is not a pattern.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: `{text}`: {kind}")]
pub struct IgnoreError {
    pub line: usize,
    pub text: String,
    pub kind: globset::ErrorKind,
}

/// Why a build context could not be packed, with the file it was at.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(".dockerignore {0}")]
    Ignore(IgnoreError),
    #[error("cannot read .dockerignore: {cause}")]
    ReadIgnore { cause: std::io::Error },
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// An entry could not be added to the archive.
    #[error("{name}: {cause}")]
    Entry { name: String, cause: std::io::Error },
    #[error("cannot write the context: {cause}")]
    Write { cause: std::io::Error },
    #[error("{0}")]
    Git(crate::git::GitError),
    #[error("{0}")]
    Commit(git2::Error),
    #[error(
        "the {what} `{path}` is not in commit {commit}: commit it (shipit builds from the committed tree)"
    )]
    NotInCommit {
        /// `build context` or `Dockerfile`.
        what: &'static str,
        path: String,
        commit: String,
    },
    #[error("artifacts: {0}")]
    Artifacts(globset::Error),
    #[error(
        "{} is a Git LFS file whose committed content is not checked out: run `git lfs pull` (actions/checkout: `lfs: true`)",
        path.display()
    )]
    LfsNotCheckedOut { path: PathBuf },
    /// The packing task ended before it finished.
    #[error("{0}")]
    Stopped(tokio::task::JoinError),
}

impl ContextError {
    fn entry(name: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ContextError {
        move |cause| ContextError::Entry {
            name: name.to_string(),
            cause,
        }
    }

    fn read(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
        move |cause| ContextError::Read {
            path: path.to_path_buf(),
            cause,
        }
    }
}

fn compile(glob: &str) -> Result<GlobMatcher, globset::ErrorKind> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().clone())
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`; an invalid pattern is an error naming its line.
    pub fn parse(text: &str) -> Result<DockerIgnore, IgnoreError> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let bad = |kind| IgnoreError {
                line: n + 1,
                text: line.to_string(),
                kind,
            };
            let pattern = match pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
                false => Pattern::Plain(pattern),
                true => Pattern::Glob {
                    matcher: compile(&pattern).map_err(bad)?,
                    under: compile(&format!("{pattern}/**")).map_err(bad)?,
                },
            };
            rules.push(Rule { pattern, include });
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            if rule.pattern.is_match(path) {
                excluded = !rule.include;
            }
        }
        excluded
    }

    /// Whether anything under directory `dir` could be re-included by a `!` rule, so that an excluded
    /// directory must still be walked.
    fn may_reinclude_under(&self, dir: &str) -> bool {
        self.rules.iter().any(|r| r.include) && !dir.is_empty()
    }
}

/// A build context as a tar archive in memory.
pub struct Context {
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the tar.
    pub dockerfile: String,
    pub files: usize,
}

/// Packs `context_dir` with `.dockerignore` applied, and makes sure `dockerfile` is in it.
pub fn pack(context_dir: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
    let ignore = match std::fs::read_to_string(context_dir.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text).map_err(ContextError::Ignore)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(cause) => return Err(ContextError::ReadIgnore { cause }),
    };
    let inside = dockerfile
        .strip_prefix(context_dir)
        .ok()
        .map(|p| p.to_string_lossy().replace('\\', "/"));
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut files = 0;
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = context_dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(ContextError::read(&dir))?
            .collect::<Result<_, _>>()
            .map_err(ContextError::read(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let rel_path = rel.join(entry.file_name());
            let name = rel_path.to_string_lossy().replace('\\', "/");
            let file_type = entry.file_type().map_err(ContextError::entry(&name))?;
            let always = name == ".dockerignore" || Some(name.as_str()) == inside.as_deref();
            let excluded = !always && ignore.excludes(&name);
            if file_type.is_dir() {
                if !excluded {
                    builder
                        .append_dir(&rel_path, entry.path())
                        .map_err(ContextError::entry(&name))?;
                }
                if !excluded || ignore.may_reinclude_under(&name) {
                    stack.push(rel_path);
                }
                continue;
            }
            if excluded {
                continue;
            }
            builder
                .append_path_with_name(entry.path(), &rel_path)
                .map_err(ContextError::entry(&name))?;
            files += 1;
        }
    }
    let dockerfile_in_tar = match inside {
        Some(p) => p,
        None => {
            let mut file =
                std::fs::File::open(dockerfile).map_err(ContextError::read(dockerfile))?;
            builder
                .append_file(OUTSIDE_DOCKERFILE, &mut file)
                .map_err(ContextError::entry(dockerfile.display()))?;
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    let tar = builder
        .into_inner()
        .map_err(|cause| ContextError::Write { cause })?;
    Ok(Context {
        tar,
        dockerfile: dockerfile_in_tar,
        files,
    })
}

/// A build context taken from git objects: the commit's tree, never the working tree.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The repository's working tree root (the repository is opened from there).
    pub root: PathBuf,
    pub commit: String,
    /// Repository-relative context directory and Dockerfile.
    pub context: String,
    pub dockerfile: String,
    /// Repository-relative globs (the service's `artifacts`): files the tests produced, taken
    /// from the working tree on top of the commit's tree.
    pub artifacts: Vec<String>,
}

impl Committed {
    /// Reads the commit's tree under the context and packs it.
    pub fn pack(&self) -> Result<Context, ContextError> {
        let repo = crate::git::Repo::discover(&self.root).map_err(ContextError::Git)?;
        let commit = git2::Oid::from_str(&self.commit).map_err(ContextError::Commit)?;
        let mut files = repo
            .files_under(commit, &self.context)
            .map_err(ContextError::Git)?;
        let dir = self.root.join(&self.context);
        for f in files.iter_mut() {
            if let Some(data) = lfs_content(&f.data, &dir.join(&f.path))? {
                f.data = data;
            }
        }
        add_artifacts(&mut files, &self.root, &self.context, &self.artifacts)?;
        if files.is_empty() {
            return Err(ContextError::NotInCommit {
                what: "build context",
                path: self.context.clone(),
                commit: self.commit.clone(),
            });
        }
        let prefix = if self.context == "." {
            String::new()
        } else {
            format!("{}/", self.context)
        };
        let dockerfile = match self.dockerfile.strip_prefix(&prefix) {
            Some(inside) if files.iter().any(|f| f.path == inside) => {
                CommittedDockerfile::Inside(inside.to_string())
            }
            _ => match repo
                .read_file(commit, &self.dockerfile)
                .map_err(ContextError::Git)?
            {
                Some(data) => CommittedDockerfile::Outside(data),
                None => {
                    return Err(ContextError::NotInCommit {
                        what: "Dockerfile",
                        path: self.dockerfile.clone(),
                        commit: self.commit.clone(),
                    });
                }
            },
        };
        let mtime = repo.commit_time(commit).unwrap_or(0);
        pack_committed(&files, &dockerfile, mtime)
    }
}

/// Adds the files of the working tree that match `artifacts` (repository-relative globs) and lie in
/// the context to `files` (paths relative to the context), in place of a committed file of the
/// same path. Symbolic links are left out: an artifact is a file the tests wrote.
fn add_artifacts(
    files: &mut Vec<crate::git::CommittedFile>,
    root: &Path,
    context: &str,
    artifacts: &[String],
) -> Result<(), ContextError> {
    if artifacts.is_empty() {
        return Ok(());
    }
    let patterns = artifacts.iter().map(|a| (format!("/{a}"), ()));
    let matcher = crate::glob::Matcher::new(patterns).map_err(ContextError::Artifacts)?;
    let mut scratch = crate::glob::Scratch::default();
    let prefix = match context {
        "." => String::new(),
        c => format!("{c}/"),
    };
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for a in artifacts {
        // Walk from the literal folder in front of the glob.
        let literal: Vec<&str> = a
            .split('/')
            .take_while(|c| !c.contains(['*', '?', '[', '{', '\\']))
            .collect();
        let mut stack = vec![literal.join("/")];
        while let Some(rel) = stack.pop() {
            let path = root.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                let entries = std::fs::read_dir(&path).map_err(ContextError::read(&path))?;
                for entry in entries {
                    let entry = entry.map_err(ContextError::read(&path))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    stack.push(match rel.as_str() {
                        "" => name,
                        r => format!("{r}/{name}"),
                    });
                }
            } else if meta.is_file() {
                let mut matched = false;
                matcher.for_each_match(&rel, &mut scratch, |_| matched = true);
                if matched && let Some(inside) = rel.strip_prefix(prefix.as_str()) {
                    found.push((inside.to_string(), path));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    for (inside, path) in found {
        let data = std::fs::read(&path).map_err(ContextError::read(&path))?;
        #[cfg(unix)]
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        };
        #[cfg(not(unix))]
        let executable = false;
        let mode = if executable { 0o100755 } else { 0o100644 };
        files.retain(|f| f.path != inside);
        files.push(crate::git::CommittedFile {
            path: inside,
            mode,
            data,
        });
    }
    Ok(())
}

/// A Git LFS pointer's object id (`sha256:…` hex) and size, when `data` is one.
fn lfs_pointer(data: &[u8]) -> Option<(String, u64)> {
    if data.len() > 1024 || !data.starts_with(b"version https://git-lfs.github.com/spec/v1\n") {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    let oid = text.lines().find_map(|l| l.strip_prefix("oid sha256:"))?;
    let size = text
        .lines()
        .find_map(|l| l.strip_prefix("size "))?
        .parse()
        .ok()?;
    Some((oid.to_string(), size))
}

/// The content of a Git LFS file: git holds a pointer, the checkout holds the content. The file on
/// disk is used only when it is exactly the committed content (its SHA-256 is the pointer's).
fn lfs_content(data: &[u8], on_disk: &Path) -> Result<Option<Vec<u8>>, ContextError> {
    use sha2::{Digest, Sha256};
    let Some((oid, size)) = lfs_pointer(data) else {
        return Ok(None);
    };
    let content = std::fs::read(on_disk)
        .ok()
        .filter(|c| c.len() as u64 == size && hex::encode(Sha256::digest(c)) == oid);
    match content {
        Some(c) => Ok(Some(c)),
        None => Err(ContextError::LfsNotCheckedOut {
            path: on_disk.to_path_buf(),
        }),
    }
}

/// Where the Dockerfile of a committed build is.
#[derive(Debug, Clone)]
pub enum CommittedDockerfile {
    /// Its path inside the context.
    Inside(String),
    /// Its contents: it lies outside the context.
    Outside(Vec<u8>),
}

/// Packs a committed tree (files relative to the context root, as [`crate::git::Repo::files_under`]
/// gives them) with the same `.dockerignore` rules as [`pack`]. Every entry gets `mtime`, so the
/// same commit always gives the same archive.
pub fn pack_committed(
    files: &[crate::git::CommittedFile],
    dockerfile: &CommittedDockerfile,
    mtime: u64,
) -> Result<Context, ContextError> {
    let ignore = match files.iter().find(|f| f.path == ".dockerignore") {
        Some(f) => {
            DockerIgnore::parse(&String::from_utf8_lossy(&f.data)).map_err(ContextError::Ignore)?
        }
        None => DockerIgnore::default(),
    };
    let inside = match dockerfile {
        CommittedDockerfile::Inside(p) => Some(p.as_str()),
        CommittedDockerfile::Outside(_) => None,
    };
    let mut builder = tar::Builder::new(Vec::new());
    let mut count = 0;
    let header = |mode: u32, size: u64, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for f in files {
        let always = f.path == ".dockerignore" || Some(f.path.as_str()) == inside;
        if !always && ignore.excludes(&f.path) {
            continue;
        }
        let result = match f.mode {
            0o040000 => {
                let mut h = header(0o755, 0, tar::EntryType::Directory);
                builder.append_data(&mut h, format!("{}/", f.path), std::io::empty())
            }
            0o120000 => {
                let mut h = header(0o777, 0, tar::EntryType::Symlink);
                let target = String::from_utf8_lossy(&f.data).into_owned();
                builder.append_link(&mut h, &f.path, target)
            }
            mode => {
                count += 1;
                let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let mut h = header(perm, f.data.len() as u64, tar::EntryType::Regular);
                builder.append_data(&mut h, &f.path, &f.data[..])
            }
        };
        result.map_err(ContextError::entry(&f.path))?;
    }
    let dockerfile_in_tar = match dockerfile {
        CommittedDockerfile::Inside(p) => p.clone(),
        CommittedDockerfile::Outside(data) => {
            let mut h = header(0o644, data.len() as u64, tar::EntryType::Regular);
            builder
                .append_data(&mut h, OUTSIDE_DOCKERFILE, &data[..])
                .map_err(ContextError::entry(OUTSIDE_DOCKERFILE))?;
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    let tar = builder
        .into_inner()
        .map_err(|cause| ContextError::Write { cause })?;
    Ok(Context {
        tar,
        dockerfile: dockerfile_in_tar,
        files: count,
    })
}

#[cfg(test)]
mod tests;
