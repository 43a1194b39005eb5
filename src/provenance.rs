//! What a release ships is the reviewed commit: before anything is built or pushed for an
//! environment, the commit being released must be the tip of the environment's branch (or, under
//! GitHub Actions, the commit of the event that started the run, on that branch).
//!
//! The build contexts are then taken from that commit's tree (see
//! [`crate::docker::context::Committed`]), so nothing uncommitted reaches an image unless
//! `release --allow-dirty` asks for it.

use git2::Oid;

use crate::git::Repo;
use crate::github::Env;
use crate::{Error, env_vars};

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

/// The tests run in the working tree, the images are built from `head`: they must be one commit.
pub fn check_checkout(checkout: Oid, head: Oid) -> Result<(), Error> {
    if checkout == head {
        return Ok(());
    }
    Err(Error::bad_input(
        format!(
            "refusing to release {}: the tests would run on the checkout, {}, not on what ships",
            short(&head.to_string()),
            short(&checkout.to_string())
        ),
        Some("check out the commit to release and drop --head".to_string()),
    ))
}

/// Checks that `head` (the commit about to be released) is what `branch` names here.
pub fn check_branch(env: &Env, repo: &Repo, branch: &str, head: Oid) -> Result<(), Error> {
    let head_s = head.to_string();
    if env.in_actions() {
        if let Some(ref_name) = env.get(env_vars::GITHUB_REF_NAME)
            && ref_name != branch
        {
            return Err(Error::bad_input(
                format!(
                    "refusing to release `{branch}`: this workflow run is for `{ref_name}` (GITHUB_REF_NAME), so its commit was never pushed to `{branch}`"
                ),
                Some(format!(
                    "release the run's own branch (drop --branch, or pass --branch {ref_name}); to ship this commit to `{branch}`, merge it there"
                )),
            ));
        }
        if let Some(sha) = env.get(env_vars::GITHUB_SHA) {
            if sha != head_s {
                return Err(Error::bad_input(
                    format!(
                        "refusing to release `{branch}`: the checked-out commit {} is not the commit of this workflow run's event, {} (GITHUB_SHA)",
                        short(&head_s),
                        short(sha)
                    ),
                    Some(
                        "check out the event's commit (actions/checkout with no `ref`), and do not commit in the job before releasing"
                            .to_string(),
                    ),
                ));
            }
            return Ok(());
        }
    }
    let tips = repo.branch_tips(branch);
    if tips.iter().any(|(_, oid)| *oid == head) {
        return Ok(());
    }
    let released = checked_out(repo, head);
    if tips.is_empty() {
        return Err(Error::bad_input(
            format!(
                "refusing to release `{branch}`: there is no branch `{branch}` in this clone, so {released} cannot be its tip"
            ),
            Some(format!(
                "check out `{branch}` (or fetch it: `git fetch origin {branch}`) and release from there"
            )),
        ));
    }
    let names: Vec<String> = tips
        .iter()
        .map(|(r, oid)| format!("{} is {}", r, short(&oid.to_string())))
        .collect();
    Err(Error::bad_input(
        format!(
            "refusing to release `{branch}`: {released} is not the tip of `{branch}` ({})",
            names.join(", ")
        ),
        Some(format!(
            "check out `{branch}` at its tip (`git switch {branch} && git pull`), or push this commit to `{branch}` first"
        )),
    ))
}

/// What is being released, in the words of `git status`: the checkout, the branch `feature` at
/// 1a2b3c4d5e6f, or a detached HEAD at one commit (or, when `head` is not the checkout, the commit).
fn checked_out(repo: &Repo, head: Oid) -> String {
    let head_s = head.to_string();
    if repo.resolve("HEAD").ok() != Some(head) {
        return format!("the commit being released, {},", short(&head_s));
    }
    match repo.current_branch() {
        Some(current) => format!(
            "the checkout, the branch `{current}` at {},",
            short(&head_s)
        ),
        None => format!("the checkout, a detached HEAD at {},", short(&head_s)),
    }
}

/// The warning for uncommitted files in the build contexts, which the images leave out.
pub fn uncommitted_warning(files: &[String]) -> Option<String> {
    let first = files.first()?;
    let more = match files.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "{first}{more}: not committed, so not in the images (they are built from the commit); commit, or pass --allow-dirty for a local experiment"
    ))
}
