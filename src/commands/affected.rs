//! `shipit affected`: the services a change affects, and why.

use std::path::Path;

use crate::base::Request;
use crate::git::Repo;
use crate::github::Env;
use crate::report::{self, Style};
use crate::{Error, Finished, env_vars};

/// What `shipit affected` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    pub range: Request,
    pub format: report::affected::Format,
    /// `--explain`: which file and which rule put each service in
    pub explain: bool,
}

pub fn run(env: &Env, repo: &Repo, file: &Path, options: Options) -> Result<Finished, Error> {
    let tricks = crate::fast::Tricks::from_env(env);
    let (result, built) =
        crate::affected::compute_from_file(env, repo, file, &options.range, tricks)?;
    for w in &result.warnings {
        report::warn(env, w);
    }
    let out = tracing::debug_span!("render").in_scope(|| {
        report::affected::render(
            &result,
            options.format,
            options.explain,
            Style::for_stdout(env),
        )
    });
    tracing::debug_span!("write").in_scope(|| report::stdout(&out))?;
    if env.in_actions()
        && let Some(path) = env.get(env_vars::GITHUB_OUTPUT)
    {
        report::github::write_outputs(path.as_ref(), &report::github::affected_outputs(&result))?;
    }
    drop((result, built));
    Ok(Finished::Success)
}
