//! Argument parsing and dispatch. Each command reads its inputs, calls the library, and hands the
//! result to [`crate::report`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::base::Request;
use crate::config::{self, Checks, Config};
use crate::git::Repo;
use crate::github::{Env, Event};
use crate::report::{self, Style, affected::Format};
use crate::{Error, ExitStatus, env_vars};

/// CI/CD for monorepos: find the services a push affects, then test, build, push and roll them out.
#[derive(Debug, Parser)]
#[command(name = "shipit", version, about, max_term_width = 100)]
pub struct Args {
    /// The ci.toml to read [default: ci.toml at the repository root]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the services that a change affects, and why.
    Affected(AffectedArgs),
    /// Show what a release of a branch would do: versions, tags, build/promote/skip, clusters.
    Plan(PlanArgs),
    /// Release a branch: test, build, push, prune and roll out every affected service (a branch with
    /// no environment: test only).
    Release(ReleaseArgs),
    /// Prune old images: keep the newest versions per environment, never what runs (a dry run
    /// unless --apply).
    Retain(RetainArgs),
    /// Roll out (or back to) a version already in the registry, on every cluster of the
    /// environment.
    Deploy(DeployArgs),
    /// Check ci.toml and the files it points at (paths, Dockerfiles, task definitions, cycles).
    Validate(ValidateArgs),
    /// Write a first ci.toml and release workflow from what is in the repository (services with a
    /// Dockerfile, workspace members, Python projects), or with --from-ecs the task and service
    /// definitions of a running ECS service.
    Init(InitArgs),
    /// Print ci.toml's JSON Schema, for editors (`#:schema ./ci.schema.json` as its first line).
    Schema,
    /// Print a completion script for a shell.
    Completions(CompletionsArgs),
    /// Print shipit's man page (roff), e.g. `shipit man > shipit.1`.
    Man,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Overwrite files that exist
    #[arg(long)]
    force: bool,
    /// Write the task definition and service definition of this running ECS service into the
    /// repository, and point `--service` at them in ci.toml
    #[arg(long, value_name = "CLUSTER/SERVICE", requires = "service")]
    from_ecs: Option<String>,
    /// The service in ci.toml the ECS service belongs to (with --from-ecs)
    #[arg(long, value_name = "NAME", requires = "from_ecs")]
    service: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// The shell, e.g. `shipit completions bash > /etc/bash_completion.d/shipit`
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// How to print the result
    #[arg(long, value_enum, default_value_t = report::json::Format::Text)]
    format: report::json::Format,
}

#[derive(Debug, clap::Args)]
struct DeployArgs {
    /// The environment to roll out in
    #[arg(long = "env", value_name = "ENV")]
    environment: String,
    /// The service to roll out
    #[arg(long, value_name = "NAME")]
    service: String,
    /// The version, as in the `<env>-X.Y.Z` tag
    #[arg(long, value_name = "X.Y.Z")]
    version: String,
    /// Roll out even a version lower than the one running (a rollback on purpose)
    #[arg(long)]
    force: bool,
    /// How to print the result
    #[arg(long, value_enum, default_value_t = report::json::Format::Text)]
    format: report::json::Format,
    /// Write the result to this file as JSON (the object `--format json` prints)
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RetainArgs {
    /// Only this environment (repeatable) [default: every environment]
    #[arg(long = "env", value_name = "ENV")]
    envs: Vec<String>,
    /// Only this service (repeatable)
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
    /// Remove what retention gives up; without it, only say what would go
    #[arg(long)]
    apply: bool,
    /// How to print the result
    #[arg(long, value_enum, default_value_t = report::json::Format::Text)]
    format: report::json::Format,
    /// Write the result to this file as JSON (the object `--format json` prints)
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReleaseArgs {
    #[command(flatten)]
    what: WhatArgs,
    /// Print the plan and do nothing
    #[arg(long)]
    dry_run: bool,
    /// Services released at once [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Leave out a stage (repeatable)
    #[arg(long, value_enum, value_name = "STAGE")]
    skip: Vec<crate::pipeline::Stage>,
    /// Stop everything at the first failure
    #[arg(long)]
    fail_fast: bool,
    /// Write the whole run (plan and results) to this file as JSON (the object `--format json`
    /// prints)
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Build from the working tree, uncommitted changes included (for local experiments): such
    /// images get their own fingerprint and the label dev.shipit.dirty
    #[arg(long)]
    allow_dirty: bool,
    /// How to print the result: a summary for people, or one JSON object (progress stays on
    /// stderr)
    #[arg(long, value_enum, default_value_t = report::json::Format::Text)]
    format: report::json::Format,
    /// Merge the JUnit XML reports of every tested service (`test_report` in ci.toml) into this
    /// file, each suite prefixed with its service
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

/// What `plan` and `release` are about: a branch, a range, maybe a few services.
#[derive(Debug, clap::Args)]
struct WhatArgs {
    /// The branch being released; it picks the environment [default: the current branch, or
    /// GITHUB_REF_NAME under GitHub Actions]
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// Only this service (repeatable)
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
}

impl WhatArgs {
    fn request(self, env: &Env, repo: &Repo) -> Result<crate::plan::inputs::PlanRequest, Error> {
        Ok(crate::plan::inputs::PlanRequest {
            branch: branch(env, repo, self.branch)?,
            range: self.range.request(),
            services: self.services,
            allow_dirty: false,
        })
    }
}

/// Which commits to compare, as for `shipit affected`.
#[derive(Debug, clap::Args)]
struct RangeArgs {
    /// The commit to compare with [default: from the GitHub event, else the merge-base with the
    /// branch's upstream or the default branch]
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// The commit to look at
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    head: String,
    /// Select every service, without comparing anything
    #[arg(long, conflicts_with = "base")]
    all: bool,
}

impl RangeArgs {
    fn request(self) -> Request {
        Request {
            base: self.base,
            head: Some(self.head),
            all: self.all,
        }
    }
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    what: WhatArgs,
    /// Plan without asking the registry: versions and actions are unknown
    #[arg(long)]
    offline: bool,
    /// How to print the plan
    #[arg(long, value_enum, default_value_t = report::plan::Format::Text)]
    format: report::plan::Format,
}

#[derive(Debug, clap::Args)]
struct AffectedArgs {
    #[command(flatten)]
    range: RangeArgs,
    /// How to print the result
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Show which file and which rule put each service in (text format)
    #[arg(long)]
    explain: bool,
}

impl Args {
    pub fn try_parse_args() -> Result<Self, clap::Error> {
        Args::try_parse()
    }

    /// The whole command line as clap sees it (for completions and the man page).
    pub fn command() -> clap::Command {
        <Args as clap::CommandFactory>::command()
    }
}

pub fn run(args: Args, env: &Env) -> Result<ExitStatus, Error> {
    report::environment_secrets(env);
    crate::net::configure(env)?;
    // The commands that need no repository.
    match &args.command {
        Command::Schema => return crate::help::schema(),
        Command::Completions(a) => return crate::help::completions(a.shell),
        Command::Man => return crate::help::man(),
        _ => {}
    }
    let cwd = std::env::current_dir()?;
    let repo = Repo::discover(&cwd)?;
    let file = match &args.config {
        Some(path) => cwd.join(path),
        None => repo.root().join(config::FILE_NAME),
    };
    match args.command {
        Command::Affected(a) => affected(env, &repo, &file, a),
        Command::Plan(a) => plan(env, &repo, &file, a),
        Command::Release(a) => release(env, &repo, &file, a),
        Command::Retain(a) => retain(env, &repo, &file, a),
        Command::Deploy(a) => deploy(env, &repo, &file, a),
        Command::Validate(a) => validate(env, &repo, &file, a),
        Command::Init(a) => init(&repo, &file, a),
        Command::Schema | Command::Completions(_) | Command::Man => Ok(ExitStatus::Success),
    }
}

fn affected(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: AffectedArgs,
) -> Result<ExitStatus, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
    let event = Event::from_env(env)?;
    let request = args.range.request();
    let result = crate::affected::compute(repo, &config, &request, event.as_ref())?;
    for w in &result.warnings {
        report::warn(env, w);
    }
    let out = report::affected::render(&result, args.format, args.explain, Style::for_stdout(env));
    report::stdout(&out)?;
    if env.in_actions()
        && let Some(path) = env.get(env_vars::GITHUB_OUTPUT)
    {
        report::github::write_outputs(path.as_ref(), &report::github::affected_outputs(&result))?;
    }
    Ok(ExitStatus::Success)
}

/// The branch a command is about: `--branch`, else GitHub's ref name, else the checked-out branch.
fn branch(env: &Env, repo: &Repo, given: Option<String>) -> Result<String, Error> {
    given
        .or_else(|| {
            env.in_actions()
                .then(|| env.get(env_vars::GITHUB_REF_NAME).map(str::to_string))
                .flatten()
        })
        .or_else(|| repo.current_branch())
        .ok_or_else(|| {
            Error::usage(
                "no branch to release: HEAD is detached",
                Some("pass --branch BRANCH".to_string()),
            )
        })
}

/// The one tokio runtime, built at the top for the commands that talk to services.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn plan(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: PlanArgs,
) -> Result<ExitStatus, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
    let event = Event::from_env(env)?;
    let request = args.what.request(env, repo)?;
    let plan = runtime()?.block_on(async {
        let client = match args.offline {
            true => None,
            false => Some(crate::registry::Client::connect(&config, env).await?),
        };
        crate::plan::inputs::plan(repo, &config, event.as_ref(), &request, client.as_ref()).await
    })?;
    for w in &plan.warnings {
        report::warn(env, w);
    }
    report::stdout(&report::plan::render(
        &plan,
        args.format,
        Style::for_stdout(env),
    ))?;
    Ok(ExitStatus::Success)
}

fn release(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: ReleaseArgs,
) -> Result<ExitStatus, Error> {
    use crate::pipeline::{self, Stage};
    let config = std::sync::Arc::new(Config::load(file, repo.root(), Checks::Load)?);
    let event = Event::from_env(env)?;
    let mut request = args.what.request(env, repo)?;
    request.allow_dirty = args.allow_dirty;
    let branch = request.branch.clone();
    if config.environment_for_branch(&branch).is_some() {
        let head = repo.resolve(request.range.head.as_deref().unwrap_or("HEAD"))?;
        crate::provenance::check_checkout(repo.resolve("HEAD")?, head)?;
        crate::provenance::check_branch(env, repo, &branch, head)?;
    }
    let skip: std::collections::BTreeSet<Stage> = args.skip.into_iter().collect();
    // Output files that cannot be written are refused before anything is pushed.
    if let Some(path) = &args.report {
        check_writable(path, "--report")?;
    }
    if let Some(path) = &args.junit {
        check_writable(path, "--junit")?;
    }
    if env.in_actions() {
        for name in [env_vars::GITHUB_OUTPUT, env_vars::GITHUB_STEP_SUMMARY] {
            if let Some(path) = env.get(name) {
                check_writable(path.as_ref(), name)?;
            }
        }
    }
    let rt = runtime()?;
    rt.block_on(async {
        pipeline::test::kill_on_signals();
        let needs_registry = config.environment_for_branch(&branch).is_some();
        let registry = match needs_registry {
            true => Some(std::sync::Arc::new(
                crate::registry::Client::connect(&config, env).await?,
            )),
            false => None,
        };
        let plan =
            crate::plan::inputs::plan(repo, &config, event.as_ref(), &request, registry.as_deref())
                .await?;
        for w in &plan.warnings {
            report::warn(env, w);
        }
        if args.dry_run {
            let format = match args.format {
                report::json::Format::Text => report::plan::Format::Text,
                report::json::Format::Json => report::plan::Format::Json,
            };
            report::stdout(&report::plan::render(&plan, format, Style::for_stdout(env)))?;
            return Ok(ExitStatus::Success);
        }
        let builds = plan
            .services
            .iter()
            .any(|s| s.action == crate::plan::Action::Build)
            && !skip.contains(&Stage::Build);
        if builds {
            let committed = match args.allow_dirty {
                true => None,
                false => Some(repo.tree_entries(
                    git2::Oid::from_str(&plan.head).map_err(|e| Error::Git(e.into()))?,
                )?),
            };
            preflight(&config, &plan, committed.as_deref())?;
            if !args.allow_dirty {
                let contexts: Vec<String> = plan
                    .services
                    .iter()
                    .filter(|s| s.action == crate::plan::Action::Build)
                    .filter_map(|s| s.build.as_ref().map(|b| b.context.clone()))
                    .collect();
                if let Some(w) =
                    crate::provenance::uncommitted_warning(&repo.uncommitted(&contexts))
                {
                    report::warn(env, &w);
                }
            }
        }
        if builds
            && matches!(config.project.registry, config::Registry::Ecr)
            && let Some(host) = crate::net::plain_remote_engine(env)
        {
            return Err(Error::usage(
                format!("nothing was built or pushed: the ECR token would travel in clear to the Docker engine at {host}"),
                Some(format!(
                    "reach that engine over TLS ({}=1 and {} with its certificates), or use a local engine",
                    env_vars::DOCKER_TLS_VERIFY,
                    env_vars::DOCKER_CERT_PATH
                )),
            ));
        }
        rollout_preflight(&config, &plan, &skip)?;
        let engine = match builds {
            true => Some(crate::docker::Engine::connect().await?),
            false => None,
        };
        // ECS is asked only by the stages after push; without them no AWS setup is needed.
        let ecs = match skip.contains(&Stage::Retain) && skip.contains(&Stage::Rollout) {
            true => None,
            false => ecs_client(&config).await?,
        };
        let retainer = plan.environment.as_ref().map(|_| {
            std::sync::Arc::new(pipeline::retain::Retainer::new(config.clone(), ecs.clone()))
        });
        let ctx = std::sync::Arc::new(pipeline::Context {
            retainer,
            ecs,
            config: config.clone(),
            engine,
            registry,
            labels: labels(env, repo, &plan, args.allow_dirty),
            commit: (!args.allow_dirty).then(|| plan.head.clone()),
        });
        let options = pipeline::Options {
            jobs: args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            skip,
            fail_fast: args.fail_fast,
            log_dir: std::env::temp_dir().join(format!(
                "shipit-{}-{}",
                &plan.head[..12],
                std::process::id()
            )),
        };
        let started = std::time::SystemTime::now();
        let progress = std::sync::Arc::new(report::release::Progress::new(env, &plan));
        let sink = progress.clone();
        let results = pipeline::execute(
            &plan,
            ctx,
            &options,
            std::sync::Arc::new(move |e| sink.event(e)),
        )
        .await;
        progress.done();
        let failed = results.iter().any(|r| r.outcome.is_failure());
        let tests =
            report::junit::after_release(env, &config, &results, started, args.junit.as_deref())?;
        let run = report::json::Release::new(&plan, &results, &tests, !failed);
        match args.format {
            report::json::Format::Text => report::stdout(&format!(
                "{}{}",
                report::release::summary(&plan, &results, Style::for_stdout(env)),
                report::junit::text(&tests)
            ))?,
            report::json::Format::Json => report::stdout(&report::json::line(&run))?,
        }
        if let Some(path) = &args.report {
            report::write_file(
                path,
                &serde_json::to_string_pretty(&run).unwrap_or_default(),
                false,
            )
            .map_err(|e| output_error(path, "--report", e))?;
        }
        if env.in_actions() {
            if let Some(path) = env.get(env_vars::GITHUB_OUTPUT) {
                let released =
                    serde_json::to_string(&report::release::released(&results)).unwrap_or_default();
                let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
                let affected = serde_json::to_string(&names).unwrap_or_default();
                report::github::write_outputs(
                    path.as_ref(),
                    &[("released", released), ("affected", affected)],
                )?;
            }
            if let Some(path) = env.get(env_vars::GITHUB_STEP_SUMMARY) {
                report::write_file(
                    path.as_ref(),
                    &format!(
                        "{}{}",
                        report::release::markdown(&plan, &results),
                        report::junit::markdown(&tests)
                    ),
                    true,
                )?;
            }
        }
        Ok(if failed {
            ExitStatus::StageFailed
        } else {
            ExitStatus::Success
        })
    })
}

/// An ECS client when any environment has clusters (shipit then needs to know what runs there).
async fn ecs_client(config: &Config) -> Result<Option<crate::ecs::Ecs>, Error> {
    let clusters = config.environments.iter().any(|e| {
        !e.clusters.is_empty()
            || config.services.iter().any(|s| {
                s.environments
                    .get(&e.name)
                    .is_some_and(|o| o.clusters.as_ref().is_some_and(|c| !c.is_empty()))
            })
    });
    if !clusters {
        return Ok(None);
    }
    let sdk = crate::aws::sdk_config()
        .await
        .map_err(crate::registry::RegistryError::from)?;
    Ok(Some(crate::ecs::Ecs::new(&sdk)))
}

fn deploy(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: DeployArgs,
) -> Result<ExitStatus, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
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
            Error::usage(
                format!("`{}` is not an environment", args.environment),
                Some(format!("the environments are: {}", known.join(", "))),
            )
        })?;
    let service = config
        .service(&args.service)
        .filter(|s| s.image)
        .ok_or_else(|| {
            Error::usage(
                format!("`{}` is not a service with an image", args.service),
                None,
            )
        })?;
    let version = semver::Version::parse(&args.version).map_err(|e| {
        Error::usage(
            format!("`{}` is not a version: {e}", args.version),
            Some("write it as X.Y.Z".to_string()),
        )
    })?;
    if service.build(environment).clusters.is_empty() {
        return Err(Error::usage(
            format!("{} has no clusters in {}", service.name, environment.name),
            Some("list them in `clusters` of the environment (or of the service's environment settings)".to_string()),
        ));
    }
    let problems =
        crate::pipeline::rollout::check_files(&config, environment, [service.name.as_str()]);
    if !problems.is_empty() {
        return Err(Error::usage(
            format!("nothing was deployed: {}", problems.join("; ")),
            Some("fix the file (a RegisterTaskDefinition / CreateService request as JSON), or the service's `container`, `task_definition` or `service_definition` in ci.toml".to_string()),
        ));
    }
    let tag = crate::version::tag(&environment.name, &version);
    let mut image = String::new();
    let results = runtime()?.block_on(async {
        let registry = crate::registry::Client::connect(&config, env).await?;
        let repository = service.repository(&config.project);
        let state = registry.list(&repository, &|t| t == tag).await?;
        if state.digest(&tag).is_none() {
            return Err(Error::usage(
                format!("{}:{tag} is not in the registry", state.address),
                Some("deploy a version that was released to this environment (`shipit plan` shows the last one)".to_string()),
            ));
        }
        let ecs = ecs_client(&config).await?.expect("an environment with clusters has ECS");
        image = format!("{}:{tag}", state.address);
        let request = crate::pipeline::rollout::Request {
            service: service.name.clone(),
            image: image.clone(),
            version: Some(version.clone()),
            force: args.force,
        };
        // One line per poll per cluster, while it runs.
        let progress = |p: crate::ecs::rollout::Progress| {
            report::stderr(&format!("{}\n", p.line().replace(['\n', '\r'], " ")))
        };
        crate::pipeline::rollout::run(&ecs, &config, environment, &[request], &progress).await.map_err(Error::from)
    })?;
    let ended = results.get(&service.name).cloned().unwrap_or_default();
    let out = report::json::Deploy::new(&environment.name, &service.name, &version, &image, &ended);
    match args.format {
        report::json::Format::Text => {
            report::stdout(&format!("{}\n", crate::pipeline::rollout::describe(&ended)))?
        }
        report::json::Format::Json => report::stdout(&report::json::line(&out))?,
    }
    if let Some(path) = &args.report {
        report::write_file(
            path,
            &serde_json::to_string_pretty(&out).unwrap_or_default(),
            false,
        )
        .map_err(|e| output_error(path, "--report", e))?;
    }
    let ok = out.success;
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::StageFailed
    })
}

fn retain(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: RetainArgs,
) -> Result<ExitStatus, Error> {
    let config = std::sync::Arc::new(Config::load(file, repo.root(), Checks::Load)?);
    let results = runtime()?.block_on(async {
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
    if let Some(path) = &args.report {
        report::write_file(
            path,
            &serde_json::to_string_pretty(&out).unwrap_or_default(),
            false,
        )
        .map_err(|e| output_error(path, "--report", e))?;
    }
    let failed = !out.success;
    Ok(if failed {
        ExitStatus::StageFailed
    } else {
        ExitStatus::Success
    })
}

/// Everything a build needs is on disk, for every service to build: checked before anything runs,
/// so that a missing Dockerfile fails the release before anything is built or pushed.
/// Builds take their contexts from the commit (`committed`: its tree) unless --allow-dirty.
fn preflight(
    config: &Config,
    plan: &crate::plan::Plan,
    committed: Option<&[crate::git::TreeEntry]>,
) -> Result<(), Error> {
    let mut missing = Vec::new();
    for s in plan
        .services
        .iter()
        .filter(|s| s.action == crate::plan::Action::Build)
    {
        let Some(build) = &s.build else { continue };
        let (context, dockerfile) = match committed {
            None => (
                config.root.join(&build.context).is_dir(),
                config.root.join(&build.dockerfile).is_file(),
            ),
            Some(entries) => {
                let prefix = format!("{}/", build.context);
                (
                    build.context == "." || entries.iter().any(|e| e.path.starts_with(&prefix)),
                    entries.iter().any(|e| e.path == build.dockerfile),
                )
            }
        };
        let in_commit = if committed.is_some() {
            " in the commit"
        } else {
            ""
        };
        if !context {
            missing.push(format!(
                "the build context {} of {}{in_commit}",
                build.context, s.name
            ));
        }
        if !dockerfile {
            missing.push(format!(
                "the Dockerfile {} of {}{in_commit}",
                build.dockerfile, s.name
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!("nothing was built or pushed: {} missing", missing.join(", ")),
        Some("create and commit it, fix `dockerfile` / `context` in ci.toml, or set `image = false` for a library".to_string()),
    ))
}

/// A broken task definition or service definition file stops the release before anything is
/// built or pushed.
fn rollout_preflight(
    config: &Config,
    plan: &crate::plan::Plan,
    skip: &std::collections::BTreeSet<crate::pipeline::Stage>,
) -> Result<(), Error> {
    let Some(env) = plan
        .environment
        .as_ref()
        .and_then(|e| config.environments.iter().find(|x| &x.name == e))
    else {
        return Ok(());
    };
    if skip.contains(&crate::pipeline::Stage::Rollout) {
        return Ok(());
    }
    let problems = crate::pipeline::rollout::check_files(
        config,
        env,
        plan.services.iter().map(|s| s.name.as_str()),
    );
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!("nothing was built or pushed: {}", problems.join("; ")),
        Some("fix the file (a RegisterTaskDefinition / CreateService request as JSON), or the service's `container`, `task_definition` or `service_definition` in ci.toml".to_string()),
    ))
}

/// The OCI labels every image of this run gets.
fn labels(
    env: &Env,
    repo: &Repo,
    plan: &crate::plan::Plan,
    dirty: bool,
) -> std::collections::BTreeMap<String, String> {
    let mut labels = std::collections::BTreeMap::new();
    if dirty {
        // Built from the working tree: never to be taken for the commit's image.
        labels.insert("dev.shipit.dirty".to_string(), "true".to_string());
    }
    labels.insert(
        "org.opencontainers.image.revision".to_string(),
        plan.head.clone(),
    );
    // The commit's time, not the clock's: one commit, one image config (SOURCE_DATE_EPOCH too).
    let created = git2::Oid::from_str(&plan.head)
        .ok()
        .and_then(|oid| repo.commit_time(oid))
        .and_then(|t| i64::try_from(t).ok())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    if let Some(created) = created {
        labels.insert("org.opencontainers.image.created".to_string(), created);
    }
    let source = match (
        env.get(env_vars::GITHUB_SERVER_URL),
        env.get(env_vars::GITHUB_REPOSITORY),
    ) {
        (Some(server), Some(repository)) => Some(format!("{server}/{repository}")),
        _ => repo.remote_url().map(|u| strip_credentials(&u)),
    };
    if let Some(source) = source {
        labels.insert("org.opencontainers.image.source".to_string(), source);
    }
    labels
}

/// `https://user:token@host/x` → `https://host/x`: a label is public. The URL is parsed, not
/// searched; what is not a URL (`git@host:o/r`, scp-like) carries no password and stays.
fn strip_credentials(url: &str) -> String {
    crate::redact::strip_url(url).unwrap_or_else(|| url.to_string())
}

/// Refuses an output path that cannot be written, naming it, before the run does anything: a file
/// that is a directory, in a folder that does not exist, or in one shipit may not write to.
fn check_writable(path: &std::path::Path, flag: &str) -> Result<(), Error> {
    let existed = path.exists();
    let opened = if path.is_dir() {
        Err(std::io::Error::other("it is a directory"))
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
    };
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    opened.map_err(|e| output_error(path, flag, e))
}

fn output_error(path: &std::path::Path, flag: &str, e: std::io::Error) -> Error {
    Error::usage(
        format!("cannot write {flag} {}: {e}", path.display()),
        Some(format!(
            "give {flag} a file in a folder that exists and that shipit may write to"
        )),
    )
}

fn init(repo: &Repo, file: &std::path::Path, args: InitArgs) -> Result<ExitStatus, Error> {
    match (args.from_ecs, args.service) {
        (Some(target), Some(service)) => {
            crate::init::ecs::from_ecs(repo.root(), file, &target, &service, args.force)
        }
        _ => {
            // prod releases the default branch: origin's, else master in a repository that has
            // it checked out, else main.
            let default_branch = repo
                .default_remote()
                .and_then(|r| repo.remote_default_branch(&r))
                .or_else(|| repo.current_branch().filter(|b| b == "master"))
                .unwrap_or_else(|| "main".to_string());
            crate::init::init(repo.root(), file, &default_branch, args.force)
        }
    }
}

fn validate(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: ValidateArgs,
) -> Result<ExitStatus, Error> {
    if args.format == report::json::Format::Json {
        let name = config::display_name(file);
        let (out, status) = match Config::load(file, repo.root(), Checks::Files) {
            Ok(config) => (
                report::json::Validate::valid(name, &config),
                ExitStatus::Success,
            ),
            Err(e) => {
                let e = Error::from(e);
                report::print_error(&e, env);
                (report::json::Validate::invalid(name, &e), e.exit_status())
            }
        };
        report::stdout(&report::json::line(&out))?;
        return Ok(status);
    }
    let config = Config::load(file, repo.root(), Checks::Files)?;
    let libraries = config.services.iter().filter(|s| !s.image).count();
    report::stdout(&format!(
        "{} is valid: {} services ({} {}), {} environments ({})\n",
        config::display_name(file),
        config.services.len(),
        libraries,
        if libraries == 1 {
            "library"
        } else {
            "libraries"
        },
        config.environments.len(),
        config
            .environments
            .iter()
            .map(|e| format!("{} ← {}", e.name, e.branch))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::strip_credentials;

    #[test]
    fn labels_carry_no_credentials() {
        assert_eq!(
            strip_credentials("https://user:token-EEE@example.com"),
            "https://example.com/"
        );
        assert_eq!(
            strip_credentials("https://token-FFF@example.com/o/r.git"),
            "https://example.com/o/r.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }
}
