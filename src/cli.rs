//! Argument parsing and dispatch. Each command reads its inputs, calls the library, and hands the
//! result to [`crate::report`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::base::Request;
use crate::config::{self, Checks, Config};
use crate::git::Repo;
use crate::github::{Env, Event};
use crate::pipeline::{Stage, deploy, preflight, release, retain_command};
use crate::report::{self, Style, affected::Format};
use crate::{Error, Finished, env_vars};

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
    skip: Vec<SkipStage>,
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

/// A stage `--skip` names: the command line's spelling of [`Stage`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SkipStage {
    Test,
    Build,
    Push,
    Retain,
    Rollout,
}

impl From<SkipStage> for Stage {
    fn from(s: SkipStage) -> Stage {
        match s {
            SkipStage::Test => Stage::Test,
            SkipStage::Build => Stage::Build,
            SkipStage::Push => Stage::Push,
            SkipStage::Retain => Stage::Retain,
            SkipStage::Rollout => Stage::Rollout,
        }
    }
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
            branch: preflight::branch(env, repo, self.branch)?,
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

pub fn run(args: Args, env: &Env) -> Result<Finished, Error> {
    report::environment_secrets(env);
    crate::net::configure(env)?;
    // The commands that need no repository.
    match &args.command {
        Command::Schema => return crate::help::schema(),
        Command::Completions(a) => {
            return crate::help::completions(a.shell, <Args as clap::CommandFactory>::command());
        }
        Command::Man => return crate::help::man(<Args as clap::CommandFactory>::command()),
        _ => {}
    }
    let cwd = std::env::current_dir()?;
    let repo = Repo::discover(&cwd)?;
    let file = match &args.config {
        Some(path) => cwd.join(path),
        None => repo.root().join(config::FILE_NAME),
    };
    let finished = match args.command {
        Command::Affected(a) => affected(env, &repo, &file, a),
        Command::Plan(a) => plan(env, &repo, &file, a),
        Command::Release(a) => release(env, &repo, &file, a),
        Command::Retain(a) => retain(env, &repo, &file, a),
        Command::Deploy(a) => deploy(env, &repo, &file, a),
        Command::Validate(a) => validate(env, &repo, &file, a),
        Command::Init(a) => init(&repo, &file, a),
        Command::Schema | Command::Completions(_) | Command::Man => Ok(Finished::Success),
    };
    // The process ends next: libgit2's pack files and caches are left for it to close and free.
    crate::fast::free_at_exit(crate::fast::Tricks::from_env(env), repo);
    finished
}

fn affected(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: AffectedArgs,
) -> Result<Finished, Error> {
    let request = args.range.request();
    let tricks = crate::fast::Tricks::from_env(env);
    let (result, built) = crate::affected::compute_from_file(env, repo, file, &request, tricks)?;
    for w in &result.warnings {
        report::warn(env, w);
    }
    let out = tracing::debug_span!("render").in_scope(|| {
        report::affected::render(&result, args.format, args.explain, Style::for_stdout(env))
    });
    tracing::debug_span!("write").in_scope(|| report::stdout(&out))?;
    if env.in_actions()
        && let Some(path) = env.get(env_vars::GITHUB_OUTPUT)
    {
        report::github::write_outputs(path.as_ref(), &report::github::affected_outputs(&result))?;
    }
    // The process ends next, and frees them whole.
    crate::fast::free_at_exit(tricks, (result, built));
    Ok(Finished::Success)
}

fn plan(env: &Env, repo: &Repo, file: &std::path::Path, args: PlanArgs) -> Result<Finished, Error> {
    let config = Config::load(file, repo.root(), Checks::Load)?;
    preflight::register_build_secrets(env, &config);
    let event = Event::from_env(env)?;
    let request = args.what.request(env, repo)?;
    let plan = preflight::runtime()?.block_on(async {
        let client = match args.offline {
            true => None,
            false => Some(crate::registry::Client::connect(&config, env).await?),
        };
        crate::plan::inputs::plan(repo, &config, event.as_ref(), &request, client.as_ref()).await
    })?;
    for w in &plan.warnings {
        report::warn(env, w);
    }
    // What the release would refuse before anything runs, `plan` refuses too.
    preflight::check(
        env,
        repo,
        &config,
        &plan,
        &std::collections::BTreeSet::new(),
        false,
    )?;
    report::stdout(&report::plan::render(
        &plan,
        args.format,
        Style::for_stdout(env),
    ))?;
    Ok(Finished::Success)
}

fn release(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: ReleaseArgs,
) -> Result<Finished, Error> {
    let options = release::Options {
        branch: args.what.branch,
        range: args.what.range.request(),
        services: args.what.services,
        dry_run: args.dry_run,
        jobs: args.jobs,
        skip: args.skip.into_iter().map(Stage::from).collect(),
        fail_fast: args.fail_fast,
        report: args.report,
        allow_dirty: args.allow_dirty,
        format: args.format,
        junit: args.junit,
    };
    release::run(env, repo, file, options)
}

fn deploy(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: DeployArgs,
) -> Result<Finished, Error> {
    let options = deploy::Options {
        environment: args.environment,
        service: args.service,
        version: args.version,
        force: args.force,
        format: args.format,
        report: args.report,
    };
    deploy::run(env, repo, file, options)
}

fn retain(
    env: &Env,
    repo: &Repo,
    file: &std::path::Path,
    args: RetainArgs,
) -> Result<Finished, Error> {
    let options = retain_command::Options {
        envs: args.envs,
        services: args.services,
        apply: args.apply,
        format: args.format,
        report: args.report,
    };
    retain_command::run(env, repo, file, options)
}

fn init(repo: &Repo, file: &std::path::Path, args: InitArgs) -> Result<Finished, Error> {
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
) -> Result<Finished, Error> {
    if args.format == report::json::Format::Json {
        let name = config::display_name(file);
        let loaded = Config::load(file, repo.root(), Checks::Files)
            .map_err(Error::from)
            .and_then(|config| {
                crate::build_inputs::check_artifacts(&config, repo)?;
                Ok(config)
            });
        let (out, status) = match loaded {
            Ok(config) => (
                report::json::Validate::valid(name, &config),
                Finished::Success,
            ),
            Err(e) => {
                report::print_error(&e, env);
                let refused = match e.is_bad_input() {
                    true => Finished::Refused,
                    false => Finished::StagesFailed,
                };
                (report::json::Validate::invalid(name, &e), refused)
            }
        };
        report::stdout(&report::json::line(&out))?;
        return Ok(status);
    }
    let config = Config::load(file, repo.root(), Checks::Files)?;
    crate::build_inputs::check_artifacts(&config, repo)?;
    let libraries = config.services.iter().filter(|s| !s.image).count();
    report::stdout(&format!(
        "{} is valid: {} {} ({} {}), {} environments ({})\n",
        config::display_name(file),
        config.services.len(),
        if config.services.len() == 1 {
            "service"
        } else {
            "services"
        },
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
    Ok(Finished::Success)
}
