//! `shipit deploy`: rolls one released version of one service out in one environment, outside a
//! release.

use std::path::{Path, PathBuf};

use super::{ecs_client, write_report};
use crate::config::{Checks, Config, Environment, Service};
use crate::git::Repo;
use crate::github::Env;
use crate::report;
use crate::{Error, Finished};

/// What `shipit deploy` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    pub environment: String,
    pub service: String,
    pub version: String,
    pub force: bool,
    /// `--continue` or `--rollback`: act on a deployment paused at a PAUSE hook instead.
    pub hook: Option<Hook>,
    pub format: report::json::Format,
    pub report: Option<PathBuf>,
}

/// What `--continue` and `--rollback` do to a deployment paused at a PAUSE hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Continue,
    Rollback,
}

pub fn run(
    env: &Env,
    repo: &Repo,
    file: &Path,
    args: Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
    super::register_build_secrets(env, &config);
    if let Some(hook) = args.hook {
        return resume(&config, &args, hook, runtime);
    }
    let target = Target::check(&config, &args)?;
    let (environment, service, version) = (target.environment, target.service, &target.version);
    let tag = crate::version::tag(&environment.name, version);
    let mut image = String::new();
    let results = runtime.block_on(async {
        let registry = crate::registry::Client::connect(&config, env).await?;
        let (wanted, digest) = released_image(&registry, &config, service, &tag).await?;
        // Before anything is registered: the task definition's CPU architecture is one the
        // image was built for.
        let platforms = match service.build(environment).task_definition {
            Some(_) => {
                registry
                    .platforms(&service.repository(&config.project), &digest)
                    .await?
            }
            None => Vec::new(),
        };
        let wrong = crate::pipeline::architecture::check(
            &config,
            environment,
            &[(service.name.as_str(), platforms.as_slice())],
        );
        if !wrong.is_empty() {
            return Err(Error::bad_input(
                format!("nothing was registered: {}", wrong.join("; ")),
                Some(crate::pipeline::architecture::HELP.to_string()),
            ));
        }
        let Some(ecs) = ecs_client(&config).await? else {
            return Err(Error::bad_input(
                format!("{} has no clusters to deploy to", service.name),
                Some("list them in `clusters` of the environment".to_string()),
            ));
        };
        let mut requests = [crate::pipeline::rollout::Request {
            service: service.name.clone(),
            image: wanted,
            version: Some(version.clone()),
            force: args.force,
            known: Default::default(),
        }];
        // `verify`: the image must be signed (and its provenance name this repository and the
        // commit it was built from, from its labels) before anything is registered.
        let source = crate::pipeline::preflight::source(env, repo).unwrap_or_default();
        if let Some(trust) =
            crate::pipeline::verify::trust(&config, environment, None, env, &source).await?
        {
            crate::pipeline::verify::gate(
                &registry,
                &registry,
                &config,
                &trust,
                &mut requests,
                &Default::default(),
                &crate::pipeline::verify::read_facts,
            )
            .await?;
        }
        image = requests[0].image.to_string();
        // One line per poll per cluster, while it runs.
        let progress = |p: crate::ecs::rollout::Progress| {
            report::stderr(&format!("{}\n", p.line().replace(['\n', '\r'], " ")))
        };
        crate::pipeline::rollout::run(&ecs, &config, environment, &requests, &progress)
            .await
            .map_err(Error::from)
    })?;
    let ended = results.get(&service.name).cloned().unwrap_or_default();
    let out = report::json::Deploy::new(&environment.name, &service.name, version, &image, &ended);
    match args.format {
        report::json::Format::Text => {
            report::stdout(&format!("{}\n", crate::pipeline::rollout::describe(&ended)))?
        }
        report::json::Format::Json => report::stdout(&report::json::line(&out))?,
    }
    write_report(args.report.as_deref(), &out)?;
    Ok(Finished::failed_if(!out.success))
}

/// What to deploy where, checked against ci.toml and the files it names before anything is asked.
struct Target<'a> {
    environment: &'a Environment,
    service: &'a Service,
    version: semver::Version,
}

impl<'a> Target<'a> {
    fn check(config: &'a Config, args: &Options) -> Result<Target<'a>, Error> {
        let environment = config
            .environments
            .iter()
            .find(|e| e.name == args.environment)
            .ok_or_else(|| {
                let known: Vec<&str> = config
                    .environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                Error::bad_input(
                    format!("`{}` is not an environment", args.environment),
                    Some(format!("the environments are: {}", known.join(", "))),
                )
            })?;
        let service = config
            .service(&args.service)
            .filter(|s| s.image)
            .ok_or_else(|| {
                Error::bad_input(
                    format!("`{}` is not a service with an image", args.service),
                    None,
                )
            })?;
        let version = semver::Version::parse(&args.version).map_err(|e| {
            Error::bad_input(
                format!("`{}` is not a version: {e}", args.version),
                Some("write it as X.Y.Z".to_string()),
            )
        })?;
        if service.build(environment).clusters.is_empty() {
            return Err(Error::bad_input(
                format!("{} has no clusters in {}", service.name, environment.name),
                Some("list them in `clusters` of the environment (or of the service's environment settings)".to_string()),
            ));
        }
        let problems =
            crate::pipeline::rollout::check_files(config, environment, [service.name.as_str()]);
        if !problems.is_empty() {
            return Err(Error::bad_input(
                format!("nothing was deployed: {}", problems.join("; ")),
                Some("fix the file (a RegisterTaskDefinition / CreateService request as JSON), or the service's `container`, `task_definition` or `service_definition` in ci.toml".to_string()),
            ));
        }
        Ok(Target {
            environment,
            service,
            version,
        })
    }
}

/// The image `tag` names in the service's repository, and its digest; one that is not there is bad input.
async fn released_image(
    registry: &crate::registry::Client,
    config: &Config,
    service: &Service,
    tag: &str,
) -> Result<(crate::image::ImageRef, String), Error> {
    let repository = service.repository(&config.project);
    let state = registry.list(&repository, &|t| t == tag).await?;
    let wanted = state.address.tagged(tag);
    let Some(digest) = state.digest(tag).map(str::to_string) else {
        return Err(Error::bad_input(
            format!("{wanted} is not in the registry"),
            Some("deploy a version that was released to this environment (`shipit plan` shows the last one)".to_string()),
        ));
    };
    Ok((wanted, digest))
}

/// `shipit deploy --continue` / `--rollback`: in every cluster of the service, the deployment paused
/// at a PAUSE hook goes on (or back), watched to its end.
fn resume(
    config: &Config,
    args: &Options,
    hook: Hook,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
    let environment = config
        .environments
        .iter()
        .find(|e| e.name == args.environment)
        .ok_or_else(|| {
            Error::bad_input(
                format!("`{}` is not an environment", args.environment),
                None,
            )
        })?;
    let service = config
        .service(&args.service)
        .filter(|s| s.image)
        .ok_or_else(|| {
            Error::bad_input(
                format!("`{}` is not a service with an image", args.service),
                None,
            )
        })?;
    let clusters = service.build(environment).clusters;
    let action = match hook {
        Hook::Continue => Action::Continue,
        Hook::Rollback => Action::Rollback,
    };
    let settings = crate::pipeline::rollout::settings(environment);
    let progress = |p: crate::ecs::rollout::Progress| {
        report::stderr(&format!("{}\n", p.line().replace(['\n', '\r'], " ")))
    };
    let ended = runtime.block_on(async {
        let Some(ecs) = ecs_client(config).await? else {
            return Err(Error::bad_input(
                format!("{} has no clusters in {}", service.name, environment.name),
                Some("list them in `clusters` of the environment".to_string()),
            ));
        };
        let mut ended = Vec::new();
        for cluster in &clusters {
            let target = crate::ecs::Target {
                cluster: cluster.clone(),
                service: service.ecs_service.clone(),
            };
            // Once one cluster's deployment was acted on, every cluster is reported.
            let e = match ecs
                .resume_hook(&target, action.clone(), settings, &progress)
                .await
            {
                Ok(e) => e,
                Err(e) if ended.is_empty() => return Err(e.into()),
                Err(e) => crate::ecs::rollout::Ended::Failed {
                    why: e.to_string(),
                    events: Vec::new(),
                    rollback: crate::ecs::rollout::Rollback::NotNeeded,
                },
            };
            ended.push((cluster.clone(), e));
        }
        Ok(ended)
    })?;
    let out = report::json::Deploy::resumed(&environment.name, &service.name, &ended);
    match args.format {
        report::json::Format::Text => {
            report::stdout(&format!("{}\n", crate::pipeline::rollout::describe(&ended)))?
        }
        report::json::Format::Json => report::stdout(&report::json::line(&out))?,
    }
    write_report(args.report.as_deref(), &out)?;
    Ok(Finished::failed_if(!out.success))
}
