//! `shipit retain`: applies the retention rules to the registry outside a release.

use std::path::{Path, PathBuf};

use super::{ecs_client, write_report};
use crate::config::{Checks, Config};
use crate::git::Repo;
use crate::github::Env;
use crate::report::{self, Style};
use crate::{Error, Finished};

/// What `shipit retain` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    pub envs: Vec<String>,
    pub services: Vec<String>,
    pub apply: bool,
    pub format: report::json::Format,
    pub report: Option<PathBuf>,
}

pub fn run(
    env: &Env,
    repo: &Repo,
    file: &Path,
    args: Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    let config = std::sync::Arc::new(Config::load(file, repo.root(), Checks::Load)?);
    let results = runtime.block_on(async {
        let registry = crate::registry::Client::connect(&config, env).await?;
        let ecs = ecs_client(&config).await?;
        crate::pipeline::retain::retain(
            config.clone(),
            &registry,
            ecs,
            &args.envs,
            &args.services,
            args.apply,
        )
        .await
    })?;
    let out = report::json::Retain::new(&results, args.apply);
    match args.format {
        report::json::Format::Text => report::stdout(&report::retain::render(
            &results,
            args.apply,
            Style::for_stdout(env),
        ))?,
        report::json::Format::Json => report::stdout(&report::json::line(&out))?,
    }
    write_report(args.report.as_deref(), &out)?;
    Ok(Finished::failed_if(!out.success))
}
