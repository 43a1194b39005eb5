//! Which commits to compare: the base and head of a change, from the arguments, the GitHub event, or
//! the branch's upstream and the default branch. Shallow clones get the missing commits fetched.
//!
//! Never silently nothing: when no base can be had, every service is selected, with a warning.

use git2::Oid;

use crate::config::Config;
use crate::git::{GitError, Repo};
use crate::github::Event;

/// The commits to compare, and how they were chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// `None` when every service is selected for want of a base.
    pub base: Option<Oid>,
    pub head: Oid,
    /// How the base was chosen, for people.
    pub why: String,
    /// Select every service, for this reason.
    pub all: Option<String>,
    pub warnings: Vec<String>,
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub base: Option<String>,
    pub head: Option<String>,
    pub all: bool,
}

const ZEROS: &str = "0000000000000000000000000000000000000000";
/// Depths tried, in turn, to find a merge-base in a shallow clone; `None` fetches all history.
const DEEPEN: [Option<u32>; 3] = [Some(64), Some(1024), None];

/// `config` is asked for only when the default branch is needed (it may still be loading; `None`
/// when it failed to load, and then the caller reports that).
pub fn detect<'c>(
    repo: &Repo,
    config: &dyn Fn() -> Option<&'c Config>,
    request: &Request,
    event: Option<&Event>,
) -> Result<Range, GitError> {
    let head = repo.resolve(request.head.as_deref().unwrap_or("HEAD"))?;
    let finder = Finder {
        repo,
        config,
        event,
        head,
        warnings: Vec::new(),
    };
    finder.run(request)
}

struct Finder<'a, 'c> {
    repo: &'a Repo,
    config: &'a dyn Fn() -> Option<&'c Config>,
    event: Option<&'a Event>,
    head: Oid,
    warnings: Vec<String>,
}

impl Finder<'_, '_> {
    fn run(mut self, request: &Request) -> Result<Range, GitError> {
        if request.all {
            return Ok(self.all("--all was given", false));
        }
        if let Some(rev) = &request.base {
            let base = self.resolve_or_fetch(rev)?;
            return Ok(self.range(base, format!("--base {rev}")));
        }
        if let Some(event) = self.event {
            return self.for_event(event);
        }
        if let Some((name, upstream)) = self.repo.upstream()
            && let Some(base) = self.merge_base(upstream, &name)
        {
            return Ok(self.range(
                base,
                format!("merge-base with the upstream {}", short_ref(&name)),
            ));
        }
        self.default_branch_base("")
    }

    fn for_event(mut self, event: &Event) -> Result<Range, GitError> {
        match event.name.as_str() {
            "push" => {
                let Some(before) = event.str("/before") else {
                    return self.default_branch_base("push event without `before`: ");
                };
                if before == ZEROS {
                    return self.default_branch_base("first push of the branch: ");
                }
                if event.bool("/forced") {
                    let why = format!(
                        "forced push: the previous tip {} may not be in the branch's history",
                        short(before)
                    );
                    return Ok(self.all(&why, true));
                }
                match self.commit_or_fetch(before) {
                    Some(base)
                        if self.repo.is_shallow() || self.repo.is_ancestor(base, self.head) =>
                    {
                        Ok(self.range(
                            base,
                            "push event: the previous tip of the branch (`before`)".into(),
                        ))
                    }
                    Some(_) => {
                        let why = format!(
                            "the push's previous tip {} is not in the history of HEAD",
                            short(before)
                        );
                        Ok(self.all(&why, true))
                    }
                    None => {
                        let why = format!(
                            "the push's previous tip {} could not be found or fetched",
                            short(before)
                        );
                        Ok(self.all(&why, true))
                    }
                }
            }
            "pull_request" | "pull_request_target" => {
                let Some(base_sha) = event.str("/pull_request/base/sha") else {
                    return self.default_branch_base("pull request event without a base: ");
                };
                let Some(base_commit) = self.commit_or_fetch(base_sha) else {
                    let why = format!(
                        "the pull request's base {} could not be found or fetched",
                        short(base_sha)
                    );
                    return Ok(self.all(&why, true));
                };
                let label = event.str("/pull_request/base/ref").unwrap_or("base");
                match self.merge_base(base_commit, &format!("refs/heads/{label}")) {
                    Some(base) => Ok(self.range(
                        base,
                        format!("pull request: merge-base with {label} (three-dot)"),
                    )),
                    None => {
                        let why = format!(
                            "no merge-base of the pull request and {label}, even after fetching history"
                        );
                        Ok(self.all(&why, true))
                    }
                }
            }
            "merge_group" => match event
                .str("/merge_group/base_sha")
                .and_then(|b| self.commit_or_fetch(b))
            {
                Some(base) => Ok(self.range(base, "merge group: its base commit".into())),
                None => self.default_branch_base("merge group without a usable base: "),
            },
            other => {
                let prefix = format!("{other} event: ");
                self.default_branch_base(&prefix)
            }
        }
    }

    /// The merge-base with the default branch, else every service with a warning.
    fn default_branch_base(mut self, prefix: &str) -> Result<Range, GitError> {
        let name = self.default_branch_name();
        let remote = self.repo.default_remote();
        let mut tip = self
            .repo
            .branch(remote.as_deref().unwrap_or("origin"), &name);
        if tip.is_none()
            && let Some(remote) = &remote
        {
            let refspec = format!("+refs/heads/{name}:refs/remotes/{remote}/{name}");
            let depth = self.repo.is_shallow().then_some(DEEPEN[0].unwrap_or(64));
            match self.repo.fetch(remote, &[refspec], depth) {
                Ok(()) => tip = self.repo.branch(remote, &name),
                Err(e) => tracing::debug!("fetching {name}: {e}"),
            }
        }
        let Some((refname, tip)) = tip else {
            let why = format!(
                "{prefix}the default branch `{name}` is not in this clone and could not be fetched"
            );
            return Ok(self.all(&why, true));
        };
        match self.merge_base(tip, &refname) {
            Some(base) => Ok(self.range(
                base,
                format!("{prefix}merge-base with {}", short_ref(&refname)),
            )),
            None => {
                let why = format!(
                    "{prefix}no merge-base with {}, even after fetching history",
                    short_ref(&refname)
                );
                Ok(self.all(&why, true))
            }
        }
    }

    fn default_branch_name(&self) -> String {
        let config = (self.config)();
        if let Some(b) = config.and_then(|c| c.project.default_branch.clone()) {
            return b;
        }
        if let Some(b) = self.event.and_then(Event::default_branch) {
            return b.to_string();
        }
        if let Some(b) = self
            .repo
            .default_remote()
            .and_then(|r| self.repo.remote_default_branch(&r))
        {
            return b;
        }
        config
            .and_then(|c| c.environments.iter().find(|e| e.latest))
            .map(|e| e.branch.clone())
            .unwrap_or_else(|| "main".into())
    }

    /// A merge-base of `other` and head, deepening a shallow clone until one shows up. `other_ref`
    /// names the ref `other` came from; a remote-tracking ref is fetched again, deeper, with head.
    fn merge_base(&mut self, other: Oid, other_ref: &str) -> Option<Oid> {
        if let Ok(Some(base)) = self.repo.merge_base(other, self.head) {
            return Some(base);
        }
        if !self.repo.is_shallow() {
            return None;
        }
        let remote = self.repo.default_remote()?;
        let tracking = other_ref
            .strip_prefix("refs/remotes/")
            .and_then(|r| r.split_once('/'))
            .map(|(_, n)| n);
        let refspecs = match tracking {
            Some(name) => vec![
                self.head.to_string(),
                format!("+refs/heads/{name}:{other_ref}"),
            ],
            None => vec![self.head.to_string(), other.to_string()],
        };
        for depth in DEEPEN {
            tracing::debug!("deepening the clone to {depth:?} to find a merge-base");
            if let Err(e) = self.repo.fetch(&remote, &refspecs, depth) {
                tracing::debug!("deepening failed: {e}");
                continue;
            }
            let other = if tracking.is_some() {
                self.repo.refname_or(other_ref, other)
            } else {
                other
            };
            if let Ok(Some(base)) = self.repo.merge_base(other, self.head) {
                return Some(base);
            }
        }
        None
    }

    /// A commit by SHA, fetched alone when the clone lacks it.
    fn commit_or_fetch(&mut self, sha: &str) -> Option<Oid> {
        let oid = Oid::from_str(sha).ok()?;
        if self.repo.has_commit(oid) {
            return Some(oid);
        }
        let remote = self.repo.default_remote()?;
        match self.repo.fetch(&remote, &[sha.to_string()], Some(1)) {
            Ok(()) if self.repo.has_commit(oid) => Some(oid),
            Ok(()) => None,
            Err(e) => {
                tracing::debug!("fetching {sha}: {e}");
                None
            }
        }
    }

    /// `--base REV`: a revision, or a SHA that may need fetching.
    fn resolve_or_fetch(&mut self, rev: &str) -> Result<Oid, GitError> {
        match self.repo.resolve(rev) {
            Ok(oid) => Ok(oid),
            Err(e) => {
                let full_sha = rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit());
                match full_sha.then(|| self.commit_or_fetch(rev)).flatten() {
                    Some(oid) => Ok(oid),
                    None => Err(e),
                }
            }
        }
    }

    fn range(self, base: Oid, why: String) -> Range {
        Range {
            base: Some(base),
            head: self.head,
            why,
            all: None,
            warnings: self.warnings,
        }
    }

    fn all(mut self, why: &str, warn: bool) -> Range {
        if warn {
            self.warnings
                .push(format!("{why}: selecting every service"));
        }
        Range {
            base: None,
            head: self.head,
            why: why.to_string(),
            all: Some(why.to_string()),
            warnings: self.warnings,
        }
    }
}

fn short(sha: &str) -> &str {
    // Twelve characters, not bytes: `before` comes from an event payload and may be anything.
    sha.char_indices().nth(12).map_or(sha, |(i, _)| &sha[..i])
}

fn short_ref(name: &str) -> &str {
    name.strip_prefix("refs/remotes/")
        .or_else(|| name.strip_prefix("refs/heads/"))
        .unwrap_or(name)
}

/// Makes the history between `base` and `head` walkable in a shallow clone, deepening it as needed,
/// so that every commit message of the range is seen. False when it could not be had.
pub fn ensure_history(repo: &Repo, base: Oid, head: Oid) -> bool {
    if !repo.is_shallow() || repo.is_ancestor(base, head) {
        return true;
    }
    let Some(remote) = repo.default_remote() else {
        return false;
    };
    for depth in DEEPEN {
        if let Err(e) = repo.fetch(&remote, &[head.to_string()], depth) {
            tracing::debug!("deepening for the commits of the range: {e}");
            continue;
        }
        if repo.is_ancestor(base, head) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// `before` comes from an event payload: any string is shortened without a panic.
        #[test]
        fn any_before_is_shortened_without_panic(before in "\\PC*") {
            let s = super::short(&before);
            prop_assert!(s.chars().count() <= 12);
            prop_assert!(before.starts_with(s));
        }
    }
}
