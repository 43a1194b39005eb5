//! `shipit plan`: what a release of a branch would do, without doing it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::base::Request;
use crate::config::{Checks, Config};
use crate::git::Repo;
use crate::github::{Env, Event};
use crate::plan::inputs::PlanRequest;
use crate::report::{self, Style};
use crate::{Error, Finished};

/// What `shipit plan` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    /// `--branch`, if given
    pub branch: Option<String>,
    pub range: Request,
    pub services: Vec<String>,
    /// Plan without asking the registry: versions and actions are unknown
    pub offline: bool,
    pub format: report::plan::Format,
}

pub fn run(
    env: &Env,
    repo: &Repo,
    file: &Path,
    options: Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
    super::register_build_secrets(env, &config);
    let event = Event::from_env(env)?;
    let request = PlanRequest {
        branch: super::branch(env, repo, options.branch)?,
        range: options.range,
        services: options.services,
        allow_dirty: false,
    };
    let plan = runtime.block_on(async {
        let client = match options.offline {
            true => None,
            false => Some(crate::registry::Client::connect(&config, env).await?),
        };
        crate::plan::inputs::plan(repo, &config, event.as_ref(), &request, client.as_ref()).await
    })?;
    for w in &plan.warnings {
        report::warn(env, w);
    }
    // What the release would refuse before anything runs, `plan` refuses too.
    crate::pipeline::preflight::check(env, repo, &config, &plan, &BTreeSet::new(), false, &|w| {
        report::warn(env, w)
    })?;
    report::stdout(&report::plan::render(
        &plan,
        options.format,
        Style::for_stdout(env),
    ))?;
    Ok(Finished::Success)
}
