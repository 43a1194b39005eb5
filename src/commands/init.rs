//! `shipit init`: a first ci.toml and release workflow from what is in the repository, or with
//! `--from-ecs` the task and service definitions of a running ECS service.

use std::path::Path;

use crate::git::Repo;
use crate::report;
use crate::{Error, Finished};

/// What `shipit init` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    /// Overwrite files that exist
    pub force: bool,
    /// Write no workflow
    pub no_workflow: bool,
    pub from_ecs: Option<FromEcs>,
}

/// `--from-ecs CLUSTER/SERVICE --service NAME`.
#[derive(Debug)]
pub struct FromEcs {
    /// `CLUSTER/SERVICE`, as given
    pub target: String,
    /// The service in ci.toml the ECS service belongs to
    pub service: String,
}

/// A first ci.toml, its schema and the release workflow.
pub fn run(repo: &Repo, file: &Path, force: bool, no_workflow: bool) -> Result<Finished, Error> {
    // prod releases the default branch: origin's, else master in a repository that has it checked
    // out, else main.
    let default_branch = repo
        .default_remote()
        .and_then(|r| repo.remote_default_branch(&r))
        .or_else(|| repo.current_branch().filter(|b| b == "master"))
        .unwrap_or_else(|| "main".to_string());
    let written = crate::init::init(repo.root(), file, &default_branch, force, no_workflow)?;
    report::stdout(&written)?;
    Ok(Finished::Success)
}

/// `--from-ecs`: the running service's definitions, written into the repository.
pub fn from_ecs(
    repo: &Repo,
    file: &Path,
    from: FromEcs,
    force: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    let written = crate::init::ecs::from_ecs(
        repo.root(),
        file,
        &from.target,
        &from.service,
        force,
        runtime,
    )?;
    report::stdout(&written)?;
    Ok(Finished::Success)
}
