//! The git adapter: everything shipit asks of a repository, through libgit2.
//!
//! Reads never touch blob contents (diffs are tree-to-tree), so partial clones work. Fetches, for a
//! shallow clone that lacks a commit, go through libgit2 too; only where libgit2 cannot (a shallow
//! fetch from a remote on the local file system) is the `git` program asked instead. Nothing here
//! ever writes the user's git configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Delta, DiffOptions, ErrorCode, FetchOptions, Oid, Repository};
use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum GitError {
    #[error("{} is not inside a git repository", path.display())]
    #[diagnostic(
        code(shipit::git::not_a_repository),
        help(
            "run shipit from a clone of your monorepo (in GitHub Actions: add actions/checkout before shipit)"
        )
    )]
    NotARepository { path: PathBuf },

    #[error("{} is a bare repository: shipit needs a working tree", path.display())]
    #[diagnostic(code(shipit::git::bare))]
    Bare { path: PathBuf },

    #[error("git refused to open {}: {message}", path.display())]
    #[diagnostic(
        code(shipit::git::open),
        help(
            "if the repository belongs to another user, mark it safe with `git config --global --add safe.directory {}`",
            path.display()
        )
    )]
    Open { path: PathBuf, message: String },

    #[error("`{rev}` does not name a commit in this repository")]
    #[diagnostic(
        code(shipit::git::unknown_revision),
        help(
            "check the spelling; in a shallow clone, fetch more history (actions/checkout `fetch-depth: 0`)"
        )
    )]
    UnknownRevision { rev: String },

    #[error("the repository has no commits yet")]
    #[diagnostic(code(shipit::git::unborn), help("commit something first"))]
    Unborn,

    #[error("commit {oid} is not in this clone: {why}")]
    #[diagnostic(
        code(shipit::git::missing_object),
        help(
            "fetch more history (actions/checkout `fetch-depth: 0`), or pass --base with a commit that is present"
        )
    )]
    MissingObject { oid: String, why: String },

    #[error("git: {0}")]
    #[diagnostic(code(shipit::git::other))]
    Other(#[from] git2::Error),
}

/// One commit of a range, with the paths it changed.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: Oid,
    pub message: String,
    pub paths: Vec<String>,
}

/// One file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub id: Oid,
    pub mode: u32,
}

/// A repository with a working tree.
pub struct Repo {
    repo: Repository,
    root: PathBuf,
}

/// Accept repositories that use extensions libgit2 does not list by default (a partial clone's
/// `extensions.partialclone`): shipit only reads trees and commits, which such clones have.
fn allow_extensions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: called once, before any repository is opened by this process.
        let _ = unsafe {
            git2::opts::set_extensions(&["partialclone", "preciousobjects", "worktreeconfig"])
        };
    });
}

impl Repo {
    /// The repository that contains `start`.
    pub fn discover(start: &Path) -> Result<Repo, GitError> {
        allow_extensions();
        let repo = Repository::discover(start).map_err(|e| match e.code() {
            ErrorCode::NotFound => GitError::NotARepository {
                path: start.to_path_buf(),
            },
            ErrorCode::Owner => GitError::Open {
                path: start.to_path_buf(),
                message: e.message().to_string(),
            },
            _ => GitError::Open {
                path: start.to_path_buf(),
                message: e.message().to_string(),
            },
        })?;
        let root = match repo.workdir() {
            Some(w) => w.to_path_buf(),
            None => {
                return Err(GitError::Bare {
                    path: repo.path().to_path_buf(),
                });
            }
        };
        let root = root.canonicalize().unwrap_or(root);
        Ok(Repo { repo, root })
    }

    /// The root of the working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// The commit a revision names (`HEAD`, a branch, a tag, a SHA, `main~2`).
    pub fn resolve(&self, rev: &str) -> Result<Oid, GitError> {
        if rev == "HEAD" {
            match self.repo.head() {
                Err(e) if e.code() == ErrorCode::UnbornBranch => return Err(GitError::Unborn),
                _ => {}
            }
        }
        let object = self
            .repo
            .revparse_single(rev)
            .map_err(|_| GitError::UnknownRevision { rev: rev.into() })?;
        object
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|_| GitError::UnknownRevision { rev: rev.into() })
    }

    /// True when the commit itself is present (its tree may still need fetching in odd clones).
    pub fn has_commit(&self, oid: Oid) -> bool {
        self.repo.find_commit(oid).is_ok()
    }

    /// Every path that differs between the trees of two commits: additions, modifications,
    /// deletions, type changes, submodule pointer moves, and both sides of renames (a rename is a
    /// deletion and an addition here, since no rename detection runs: that would read blobs).
    pub fn changed_paths(&self, base: Oid, head: Oid) -> Result<Vec<String>, GitError> {
        let tree = |oid: Oid| -> Result<git2::Tree<'_>, GitError> {
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(|e| GitError::MissingObject {
                    oid: oid.to_string(),
                    why: e.message().to_string(),
                })?;
            commit.tree().map_err(|e| GitError::MissingObject {
                oid: oid.to_string(),
                why: e.message().to_string(),
            })
        };
        let (old, new) = (tree(base)?, tree(head)?);
        let mut opts = DiffOptions::new();
        opts.include_typechange(true)
            .ignore_submodules(false)
            .skip_binary_check(true);
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))?;
        let mut paths = Vec::with_capacity(diff.deltas().len());
        for delta in diff.deltas() {
            let old_path = delta.old_file().path_bytes();
            let new_path = delta.new_file().path_bytes();
            // An added file has no old side and a deleted one no new side; a rename has both.
            let sides = match delta.status() {
                Delta::Added => [new_path, None],
                Delta::Deleted => [old_path, None],
                _ if old_path != new_path => [old_path, new_path],
                _ => [new_path, None],
            };
            paths.extend(
                sides
                    .into_iter()
                    .flatten()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
            );
        }
        Ok(paths)
    }

    /// The commits in `base..head` (reachable from head, not from base), newest first, each with the
    /// paths it changed against its first parent. Merge commits are included, diffed against their
    /// first parent, as are the commits they bring in.
    pub fn commits(&self, base: Option<Oid>, head: Oid) -> Result<Vec<Commit>, GitError> {
        let mut walk = self.repo.revwalk()?;
        walk.push(head)?;
        if let Some(base) = base {
            walk.hide(base)?;
        }
        let mut out = Vec::new();
        for oid in walk {
            let oid = oid?;
            let commit = self.repo.find_commit(oid)?;
            let paths = match commit.parents().next() {
                Some(parent) => self.changed_paths(parent.id(), oid)?,
                None => self
                    .tree_entries(oid)?
                    .into_iter()
                    .map(|e| e.path)
                    .collect(),
            };
            out.push(Commit {
                id: oid,
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
                paths,
            });
        }
        Ok(out)
    }

    /// Every file (and submodule) in a commit's tree, with its object id and mode, sorted by path.
    /// Blobs are named, never read.
    pub fn tree_entries(&self, commit: Oid) -> Result<Vec<TreeEntry>, GitError> {
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| GitError::MissingObject {
                oid: commit.to_string(),
                why: e.message().to_string(),
            })?;
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Tree) {
                let name = String::from_utf8_lossy(entry.name_bytes());
                out.push(TreeEntry {
                    path: format!("{dir}{name}"),
                    id: entry.id(),
                    mode: entry.filemode() as u32,
                });
            }
            git2::TreeWalkResult::Ok
        })?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The contents of a file in a commit, or `None` when the commit has no such file.
    pub fn read_file(&self, commit: Oid, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self.repo.find_commit(commit)?.tree()?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| GitError::MissingObject {
                oid: entry.id().to_string(),
                why: e.message().to_string(),
            })?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The best common ancestor, or `None` when the histories share none that this clone can see.
    pub fn merge_base(&self, a: Oid, b: Oid) -> Result<Option<Oid>, GitError> {
        match self.repo.merge_base(a, b) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// True when `ancestor` is in the history of `of` (or is it).
    pub fn is_ancestor(&self, ancestor: Oid, of: Oid) -> bool {
        ancestor == of || self.repo.graph_descendant_of(of, ancestor).unwrap_or(false)
    }

    /// The checked-out branch's short name; `None` when HEAD is detached or unborn.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        if !head.is_branch() {
            return None;
        }
        head.shorthand().map(str::to_string)
    }

    /// The upstream of the checked-out branch, as its ref name and commit.
    pub fn upstream(&self) -> Option<(String, Oid)> {
        let head = self.repo.head().ok()?;
        let name = head.name()?;
        let upstream = self.repo.branch_upstream_name(name).ok()?;
        let upstream = upstream.as_str()?.to_string();
        let oid = self.repo.refname_to_id(&upstream).ok()?;
        Some((upstream, oid))
    }

    /// The branch that `refs/remotes/<remote>/HEAD` points at, if the clone recorded it.
    pub fn remote_default_branch(&self, remote: &str) -> Option<String> {
        let head = self
            .repo
            .find_reference(&format!("refs/remotes/{remote}/HEAD"))
            .ok()?;
        let target = head.symbolic_target()?;
        target
            .strip_prefix(&format!("refs/remotes/{remote}/"))
            .map(str::to_string)
    }

    /// A branch by name: the remote-tracking one first (what CI has), then the local one.
    pub fn branch(&self, remote: &str, name: &str) -> Option<(String, Oid)> {
        [
            format!("refs/remotes/{remote}/{name}"),
            format!("refs/heads/{name}"),
        ]
        .into_iter()
        .find_map(|r| self.repo.refname_to_id(&r).ok().map(|oid| (r, oid)))
    }

    /// The commit a ref points at now, or `fallback` when there is no such ref.
    pub fn refname_or(&self, name: &str, fallback: Oid) -> Oid {
        self.repo.refname_to_id(name).unwrap_or(fallback)
    }

    /// The remote to fetch from: the one named `origin`, else the only one.
    pub fn default_remote(&self) -> Option<String> {
        let remotes = self.repo.remotes().ok()?;
        let names: Vec<&str> = remotes.iter().flatten().collect();
        if names.contains(&"origin") {
            Some("origin".into())
        } else if names.len() == 1 {
            Some(names[0].to_string())
        } else {
            None
        }
    }

    /// Fetches `refspecs` from `remote`, `depth` commits deep (`None`: all of their history).
    /// Returns an error message when the fetch failed; callers decide what that means.
    pub fn fetch(
        &self,
        remote: &str,
        refspecs: &[String],
        depth: Option<u32>,
    ) -> Result<(), String> {
        let mut r = self
            .repo
            .find_remote(remote)
            .map_err(|e| e.message().to_string())?;
        let url = r.url().unwrap_or("").to_string();
        match self.fetch_libgit2(&mut r, &url, refspecs, depth) {
            Ok(()) => Ok(()),
            // libgit2's local transport has no shallow support; git's does.
            Err(e) if is_local_url(&url) => {
                tracing::debug!("libgit2 could not fetch from {url}: {e}; asking the git program");
                self.fetch_cli(remote, refspecs, depth)
                    .map_err(|cli| format!("{e}; git fetch: {cli}"))
            }
            Err(e) => Err(e),
        }
    }

    fn fetch_libgit2(
        &self,
        remote: &mut git2::Remote<'_>,
        url: &str,
        refspecs: &[String],
        depth: Option<u32>,
    ) -> Result<(), String> {
        let config = self.repo.config().map_err(|e| e.message().to_string())?;
        // actions/checkout hands its token to git as `http.<url>.extraheader`; libgit2 does not read
        // that setting itself, so pass it on.
        let headers: Vec<String> = extra_headers(&config, url);
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut callbacks = git2::RemoteCallbacks::new();
        let mut tried_helper = false;
        callbacks.credentials(move |url, username, allowed| {
            if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) && !tried_helper {
                tried_helper = true;
                if let Ok(c) = git2::Cred::credential_helper(&config, url, username) {
                    return Ok(c);
                }
            }
            if allowed.contains(git2::CredentialType::SSH_KEY)
                && let Some(user) = username
            {
                return git2::Cred::ssh_key_from_agent(user);
            }
            if allowed.contains(git2::CredentialType::DEFAULT) {
                return git2::Cred::default();
            }
            Err(git2::Error::from_str("no credentials for the remote"))
        });
        let mut proxy = git2::ProxyOptions::new();
        proxy.auto();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks)
            .proxy_options(proxy)
            .download_tags(git2::AutotagOption::None)
            .update_fetchhead(false)
            .custom_headers(&header_refs);
        if let Some(d) = depth {
            opts.depth(d.min(i32::MAX as u32) as i32);
        }
        remote
            .fetch(refspecs, Some(&mut opts), None)
            .map_err(|e| e.message().to_string())
    }

    fn fetch_cli(
        &self,
        remote: &str,
        refspecs: &[String],
        depth: Option<u32>,
    ) -> Result<(), String> {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.root).args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
        ]);
        match depth {
            Some(d) => cmd.arg(format!("--depth={d}")),
            None if self.is_shallow() => cmd.arg("--unshallow"),
            None => &mut cmd,
        };
        cmd.arg(remote).args(refspecs);
        let output = cmd
            .output()
            .map_err(|e| format!("could not run git: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

fn is_local_url(url: &str) -> bool {
    url.starts_with("file://") || url.starts_with('/') || url.starts_with('.') || !url.contains(':')
}

/// `http.extraheader` and `http.<url>.extraheader` values that apply to `url`.
fn extra_headers(config: &git2::Config, url: &str) -> Vec<String> {
    let mut headers = Vec::new();
    let Ok(mut entries) = config.entries(Some(r"^http\..*extraheader$")) else {
        return headers;
    };
    while let Some(Ok(entry)) = entries.next() {
        let (Some(name), Some(value)) = (entry.name(), entry.value()) else {
            continue;
        };
        let scope = name
            .strip_prefix("http.")
            .and_then(|n| n.strip_suffix(".extraheader"))
            .unwrap_or("");
        let applies = name.eq_ignore_ascii_case("http.extraheader")
            || (!scope.is_empty() && url.starts_with(scope));
        if applies && !value.is_empty() {
            headers.push(value.to_string());
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls() {
        assert!(is_local_url("file:///tmp/origin"));
        assert!(is_local_url("/tmp/origin"));
        assert!(is_local_url("../origin"));
        assert!(!is_local_url("https://github.com/o/r"));
        assert!(!is_local_url("git@github.com:o/r.git"));
        assert!(!is_local_url("git://127.0.0.1:9418/r"));
    }
}
