//! The git adapter: everything shipit asks of a repository, through libgit2.
//!
//! Reads never touch blob contents (diffs are tree-to-tree), so partial clones work. The one thing
//! not done through libgit2 is fetching, which only a shallow clone that lacks a commit needs: the
//! `git` program does it (see [`Repo::fetch`]). Nothing here ever writes the user's git
//! configuration.
//!
//! Over 600 lines: the one adapter to git; every read shipit makes goes through `Repo`, so that
//! no other module touches libgit2 (tree walks, merge bases, tree entries for build contexts, the
//! bounded `git fetch`).

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{ErrorCode, Oid, Repository};

mod tree_diff;
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

    #[error("commit {oid} is not in this clone: {}", cause.message())]
    #[diagnostic(
        code(shipit::git::missing_object),
        help(
            "fetch more history (actions/checkout `fetch-depth: 0`), or pass --base with a commit that is present"
        )
    )]
    MissingObject { oid: String, cause: git2::Error },

    #[error("git: {0}")]
    #[diagnostic(code(shipit::git::other))]
    Other(#[from] git2::Error),
}

/// Why a `git fetch` failed: callers decide what that means (they go on without the history).
#[derive(Debug, Error)]
pub enum FetchError {
    /// git's own message.
    #[error("{message}")]
    Refused { message: String },
    #[error("{}", .0.message())]
    Reopen(git2::Error),
    #[error("could not run git: {0}")]
    Spawn(std::io::Error),
    #[error("waiting for git: {0}")]
    Wait(std::io::Error),
    #[error(
        "git fetch did not finish within {}s ({} sets the deadline)",
        within.as_secs(),
        crate::env_vars::SHIPIT_HTTP_TIMEOUT
    )]
    Deadline { within: std::time::Duration },
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

/// A file (or directory, mode 040000, no data) of a committed tree.
#[derive(Debug, Clone)]
pub struct CommittedFile {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// The trees of one commit that a diff read, raw, by folder: see
/// [`Repo::changed_paths_and_trees`].
#[derive(Debug, Default)]
pub struct HeadTrees {
    /// The commit's root tree.
    root: Option<Oid>,
    raw: tree_diff::Kept,
}

/// A folder of a commit, for [`Repo::read_files_with`]: a tree a diff read, by entry name, or one
/// read now.
enum Folder<'k, 'r> {
    Raw(tree_diff::Listing<'k>),
    Read(git2::Tree<'r>),
}

impl Folder<'_, '_> {
    /// The entry `name`: its id and what it names.
    fn get(&self, name: &str) -> Option<(Oid, Option<git2::ObjectType>)> {
        match self {
            Folder::Raw(entries) => entries
                .get(name.as_bytes())
                .map(|(id, mode)| (id, Some(tree_diff::kind(mode)))),
            Folder::Read(tree) => tree.get_name(name).map(|e| (e.id(), e.kind())),
        }
    }
}

/// A repository with a working tree.
pub struct Repo {
    /// Reopened after a fetch: libgit2 reads `.git/shallow` once, when it opens a repository, and
    /// the `git` program's fetch changes it.
    cell: std::cell::RefCell<Repository>,
    root: PathBuf,
}

/// Accept repositories that use extensions libgit2 does not list by default (a partial clone's
/// `extensions.partialclone`): shipit only reads trees and commits, which such clones have. And
/// read objects as git does, without hashing each one again.
fn allow_extensions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: called once, before any repository is opened by this process.
        let _ = unsafe {
            git2::opts::set_extensions(&["partialclone", "preciousobjects", "worktreeconfig"])
        };
        // Objects read from the local object store are not hashed again on every read: git itself
        // does not, and on a large diff the SHA-1 of each tree read was a tenth of the work.
        // (Packs are checked by git when they arrive; `git fsck` checks the rest.)
        git2::opts::strict_hash_verification(false);
        // Trees are not kept once read: a diff reads each once, and keeping thousands of them
        // cost more in fresh memory than reading one twice would. Commits are still kept.
        // SAFETY: as above.
        let _ = unsafe { git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0) };
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
        Ok(Repo {
            cell: repo.into(),
            root,
        })
    }

    fn repo(&self) -> std::cell::Ref<'_, Repository> {
        self.cell.borrow()
    }

    /// The root of the working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn is_shallow(&self) -> bool {
        let repo = self.repo();
        repo.is_shallow()
    }

    /// The commit a revision names (`HEAD`, a branch, a tag, a SHA, `main~2`).
    pub fn resolve(&self, rev: &str) -> Result<Oid, GitError> {
        let repo = self.repo();
        if rev == "HEAD" {
            match repo.head() {
                Err(e) if e.code() == ErrorCode::UnbornBranch => return Err(GitError::Unborn),
                _ => {}
            }
        }
        let object = repo
            .revparse_single(rev)
            .map_err(|_| GitError::UnknownRevision { rev: rev.into() })?;
        object
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|_| GitError::UnknownRevision { rev: rev.into() })
    }

    /// True when the commit itself is present (its tree may still need fetching in odd clones).
    pub fn has_commit(&self, oid: Oid) -> bool {
        let repo = self.repo();
        repo.find_commit(oid).is_ok()
    }

    /// Every path that differs between the trees of two commits: additions, modifications,
    /// deletions, type changes, submodule pointer moves, and both sides of renames (a rename is a
    /// deletion and an addition here, since no rename detection runs: that would read blobs).
    pub fn changed_paths(&self, base: Oid, head: Oid) -> Result<Vec<String>, GitError> {
        self.diff(base, head, false).map(|(paths, _)| paths)
    }

    /// [`Repo::changed_paths`], and the trees of `head` that the diff read on its way, for
    /// [`Repo::read_files_with`] not to read them again: the folders of the changed files, where
    /// the Dockerfiles of the services a change reaches mostly are.
    pub fn changed_paths_and_trees(
        &self,
        base: Oid,
        head: Oid,
    ) -> Result<(Vec<String>, HeadTrees), GitError> {
        self.diff(base, head, true)
    }

    /// The changed paths, sorted, and (with `keep`) the trees of `head` the diff read.
    fn diff(&self, base: Oid, head: Oid, keep: bool) -> Result<(Vec<String>, HeadTrees), GitError> {
        let repo = self.repo();
        let tree = |oid: Oid| -> Result<Oid, GitError> {
            let missing = |e: git2::Error| GitError::MissingObject {
                oid: oid.to_string(),
                cause: e,
            };
            Ok(repo.find_commit(oid).map_err(missing)?.tree_id())
        };
        let (old, new) = (tree(base)?, tree(head)?);
        let (mut paths, raw) = tree_diff::changed_paths(&repo.odb()?, old, new, keep)?;
        paths.sort_unstable();
        Ok((
            paths,
            HeadTrees {
                root: Some(new),
                raw,
            },
        ))
    }

    /// The commits in `base..head` (reachable from head, not from base), newest first, each with the
    /// paths it changed against its first parent. Merge commits are included, diffed against their
    /// first parent, as are the commits they bring in.
    pub fn commits(&self, base: Option<Oid>, head: Oid) -> Result<Vec<Commit>, GitError> {
        let repo = self.repo();
        let mut walk = repo.revwalk()?;
        walk.push(head)?;
        if let Some(base) = base {
            walk.hide(base)?;
        }
        let mut out = Vec::new();
        for oid in walk {
            let oid = oid?;
            let commit = repo.find_commit(oid)?;
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
        let repo = self.repo();
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| GitError::MissingObject {
                oid: commit.to_string(),
                cause: e,
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
        let repo = self.repo();
        let tree = repo.find_commit(commit)?.tree()?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let blob = repo
            .find_blob(entry.id())
            .map_err(|e| GitError::MissingObject {
                oid: entry.id().to_string(),
                cause: e,
            })?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The contents of several files of a commit (`None` where it has no such file), each folder's
    /// tree read once: a thousand Dockerfiles under one `services/` folder read that folder once.
    pub fn read_files(
        &self,
        commit: Oid,
        paths: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        self.read_files_with(commit, paths, &HeadTrees::default())
    }

    /// [`Repo::read_files`], taking the trees a diff already read from `known` (when they are
    /// `commit`'s).
    pub fn read_files_with(
        &self,
        commit: Oid,
        paths: &[&str],
        known: &HeadTrees,
    ) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        let repo = self.repo();
        let root = repo.find_commit(commit)?.tree_id();
        let known = (known.root == Some(root)).then_some(&known.raw);
        let folder = |path: &str, id: Oid| -> Result<Folder<'_, '_>, GitError> {
            match known.and_then(|k| k.get(path)) {
                Some(raw) => Ok(Folder::Raw(tree_diff::Listing::new(raw)?)),
                None => Ok(Folder::Read(repo.find_tree(id)?)),
            }
        };
        use foldhash::{HashMap, HashMapExt};
        let mut trees: HashMap<&str, Option<Folder<'_, '_>>> = HashMap::new();
        trees.insert("", Some(folder("", root)?));
        // Many files hold the same text (one `.dockerignore` copied into every service): each blob
        // is read once.
        let mut blobs: HashMap<Oid, Vec<u8>> = HashMap::new();
        let mut out = Vec::with_capacity(paths.len());
        for &path in paths {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            // Each folder from its parent's tree, each tree read once (libgit2 keeps no trees).
            let mut at = 0;
            while at < dir.len() {
                let end = dir[at..].find('/').map_or(dir.len(), |i| at + i);
                let folder_path = &dir[..end];
                if !trees.contains_key(folder_path) {
                    let (parent, name) = folder_path.rsplit_once('/').unwrap_or(("", folder_path));
                    let id = trees
                        .get(parent)
                        .and_then(|t| match t.as_ref()?.get(name)? {
                            (id, Some(git2::ObjectType::Tree)) => Some(id),
                            _ => None,
                        });
                    let tree = match id {
                        Some(id) => Some(folder(folder_path, id)?),
                        None => None,
                    };
                    trees.insert(folder_path, tree);
                }
                at = end + 1;
            }
            let entry = trees
                .get(dir)
                .and_then(Option::as_ref)
                .and_then(|t| t.get(name));
            let data = match entry {
                Some((id, Some(git2::ObjectType::Blob))) => Some(match blobs.get(&id) {
                    Some(data) => data.clone(),
                    None => {
                        let blob = repo.find_blob(id).map_err(|e| GitError::MissingObject {
                            oid: id.to_string(),
                            cause: e,
                        })?;
                        blobs.entry(id).or_insert(blob.content().to_vec()).clone()
                    }
                }),
                _ => None,
            };
            out.push(data);
        }
        Ok(out)
    }

    /// Whether a commit's tree has a file or folder at `path`.
    pub fn has_path(&self, commit: Oid, path: &str) -> Result<bool, GitError> {
        let repo = self.repo();
        let tree = repo.find_commit(commit)?.tree()?;
        match tree.get_path(Path::new(path)) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `.gitignore` (or the repository's excludes) ignores a repository-relative path.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.repo().is_path_ignored(path).unwrap_or(false)
    }

    /// The best common ancestor, or `None` when the histories share none that this clone can see.
    pub fn merge_base(&self, a: Oid, b: Oid) -> Result<Option<Oid>, GitError> {
        let repo = self.repo();
        match repo.merge_base(a, b) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// True when `ancestor` is in the history of `of` (or is it).
    pub fn is_ancestor(&self, ancestor: Oid, of: Oid) -> bool {
        let repo = self.repo();
        ancestor == of || repo.graph_descendant_of(of, ancestor).unwrap_or(false)
    }

    /// The checked-out branch's short name; `None` when HEAD is detached or unborn.
    pub fn current_branch(&self) -> Option<String> {
        let repo = self.repo();
        let head = repo.head().ok()?;
        if !head.is_branch() {
            return None;
        }
        head.shorthand().map(str::to_string)
    }

    /// The upstream of the checked-out branch, as its ref name and commit.
    pub fn upstream(&self) -> Option<(String, Oid)> {
        let repo = self.repo();
        let head = repo.head().ok()?;
        let name = head.name()?;
        let upstream = repo.branch_upstream_name(name).ok()?;
        let upstream = upstream.as_str()?.to_string();
        let oid = repo.refname_to_id(&upstream).ok()?;
        Some((upstream, oid))
    }

    /// The branch that `refs/remotes/<remote>/HEAD` points at, if the clone recorded it.
    pub fn remote_default_branch(&self, remote: &str) -> Option<String> {
        let repo = self.repo();
        let head = repo
            .find_reference(&format!("refs/remotes/{remote}/HEAD"))
            .ok()?;
        let target = head.symbolic_target()?;
        target
            .strip_prefix(&format!("refs/remotes/{remote}/"))
            .map(str::to_string)
    }

    /// A branch by name: the remote-tracking one first (what CI has), then the local one.
    pub fn branch(&self, remote: &str, name: &str) -> Option<(String, Oid)> {
        let repo = self.repo();
        [
            format!("refs/remotes/{remote}/{name}"),
            format!("refs/heads/{name}"),
        ]
        .into_iter()
        .find_map(|r| repo.refname_to_id(&r).ok().map(|oid| (r, oid)))
    }

    /// Every ref in this clone that names branch `name`: the local branch, its upstream, and the
    /// remote-tracking branch of each remote; with the commit each points at.
    pub fn branch_tips(&self, name: &str) -> Vec<(String, Oid)> {
        let repo = self.repo();
        let local = format!("refs/heads/{name}");
        let mut refs = vec![local.clone()];
        if let Ok(up) = repo.branch_upstream_name(&local)
            && let Some(up) = up.as_str()
        {
            refs.push(up.to_string());
        }
        if let Ok(remotes) = repo.remotes() {
            for remote in remotes.iter().flatten() {
                refs.push(format!("refs/remotes/{remote}/{name}"));
            }
        }
        refs.dedup();
        refs.into_iter()
            .filter_map(|r| repo.refname_to_id(&r).ok().map(|oid| (r, oid)))
            .collect()
    }

    /// The files of a commit under `dir` (repository-relative, `.` for the root), as paths relative
    /// to `dir` with their mode and contents: the build context as committed. Submodules are
    /// skipped (their commits are not in this repository's objects).
    pub fn files_under(&self, commit: Oid, dir: &str) -> Result<Vec<CommittedFile>, GitError> {
        let repo = self.repo();
        let root = repo.find_commit(commit)?.tree()?;
        let tree = if dir == "." || dir.is_empty() {
            root
        } else {
            let entry = match root.get_path(Path::new(dir)) {
                Ok(e) => e,
                Err(e) if e.code() == ErrorCode::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            repo.find_tree(entry.id())?
        };
        let mut wanted = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |prefix, entry| {
            if matches!(
                entry.kind(),
                Some(git2::ObjectType::Blob) | Some(git2::ObjectType::Tree)
            ) {
                let name = String::from_utf8_lossy(entry.name_bytes());
                wanted.push((
                    format!("{prefix}{name}"),
                    entry.filemode() as u32,
                    entry.id(),
                ));
            }
            git2::TreeWalkResult::Ok
        })?;
        let mut out = Vec::with_capacity(wanted.len());
        for (path, mode, id) in wanted {
            let data = if mode == 0o040000 {
                Vec::new()
            } else {
                repo.find_blob(id)
                    .map_err(|e| GitError::MissingObject {
                        oid: id.to_string(),
                        cause: e,
                    })?
                    .content()
                    .to_vec()
            };
            out.push(CommittedFile { path, mode, data });
        }
        Ok(out)
    }

    /// Files under `dirs` (repository-relative) that differ from HEAD in the working tree:
    /// modified, added, deleted or untracked (not ignored). Empty when git cannot say.
    pub fn uncommitted(&self, dirs: &[String]) -> Vec<String> {
        let repo = self.repo();
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        for d in dirs {
            if d != "." {
                opts.pathspec(d);
            }
        }
        let Ok(statuses) = repo.statuses(Some(&mut opts)) else {
            return Vec::new();
        };
        statuses
            .iter()
            .filter(|e| e.status() != git2::Status::CURRENT)
            .filter_map(|e| e.path().map(str::to_string))
            .collect()
    }

    /// The committer time of a commit, in seconds since the epoch (`None` before 1970).
    pub fn commit_time(&self, commit: Oid) -> Option<u64> {
        let repo = self.repo();
        let c = repo.find_commit(commit).ok()?;
        u64::try_from(c.time().seconds()).ok()
    }

    /// The commit a ref points at now, or `fallback` when there is no such ref.
    pub fn refname_or(&self, name: &str, fallback: Oid) -> Oid {
        let repo = self.repo();
        repo.refname_to_id(name).unwrap_or(fallback)
    }

    /// The URL of the default remote, if there is one.
    pub fn remote_url(&self) -> Option<String> {
        let name = self.default_remote()?;
        let repo = self.repo();
        let remote = repo.find_remote(&name).ok()?;
        remote.url().map(str::to_string)
    }

    /// The remote to fetch from: the one named `origin`, else the only one.
    pub fn default_remote(&self) -> Option<String> {
        let repo = self.repo();
        let remotes = repo.remotes().ok()?;
        let names: Vec<&str> = remotes.iter().flatten().collect();
        if names.contains(&"origin") {
            Some("origin".into())
        } else if names.len() == 1 {
            Some(names[0].to_string())
        } else {
            None
        }
    }

    /// Fetches `refspecs` from `remote`, `depth` commits deep (`None`: all of their history), with
    /// the `git` program: it brings the transports and credentials the checkout was made with
    /// (actions/checkout's token in `http.extraheader`, credential helpers, SSH), and shallow
    /// fetches over every transport. Returns git's message when the fetch failed; callers decide
    /// what that means.
    pub fn fetch(
        &self,
        remote: &str,
        refspecs: &[String],
        depth: Option<u32>,
    ) -> Result<(), FetchError> {
        self.fetch_cli(remote, refspecs, depth)?;
        let reopened = Repository::open(self.repo().path()).map_err(FetchError::Reopen)?;
        *self.cell.borrow_mut() = reopened;
        Ok(())
    }

    fn fetch_cli(
        &self,
        remote: &str,
        refspecs: &[String],
        depth: Option<u32>,
    ) -> Result<(), FetchError> {
        let mut cmd = Command::new("git");
        // A fetch has deadlines too: an HTTP transfer slower than 1 KB/s for the answer deadline
        // is abandoned, the whole fetch is bounded below, and git never waits for a password.
        let stall = crate::net::timeout().as_secs().max(1);
        cmd.arg("-C")
            .arg(&self.root)
            .args(["-c", "http.lowSpeedLimit=1000"])
            .arg("-c")
            .arg(format!("http.lowSpeedTime={stall}"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -o BatchMode=yes -o ConnectTimeout={stall} -o ServerAliveInterval={stall}"
                ),
            )
            .stdin(std::process::Stdio::null())
            .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]);
        match depth {
            Some(d) => cmd.arg(format!("--depth={d}")),
            None if self.is_shallow() => cmd.arg("--unshallow"),
            None => &mut cmd,
        };
        cmd.arg(remote).args(refspecs);
        let output = output_within(cmd, crate::net::fetch_timeout())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(FetchError::Refused {
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }
}

/// Runs `cmd` to its end, or kills it once `limit` has passed.
fn output_within(
    mut cmd: Command,
    limit: std::time::Duration,
) -> Result<std::process::Output, FetchError> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    // Its own process group: git runs helpers (git-remote-https, ssh) that a kill must reach too.
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(FetchError::Spawn)?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut text);
        }
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(None) => {
                // SAFETY: kill(2) on the process group of the child just started; no memory.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                return Err(FetchError::Deadline { within: limit });
            }
            Err(e) => return Err(FetchError::Wait(e)),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().unwrap_or_default(),
    })
}
