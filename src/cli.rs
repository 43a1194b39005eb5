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
    /// Check ci.toml and the files it points at (paths, Dockerfiles, task definitions, cycles).
    Validate,
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
    /// The branch being released; it picks the environment [default: the current branch, or
    /// GITHUB_REF_NAME under GitHub Actions]
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// Only this service (repeatable)
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
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
}

pub fn run(args: Args) -> Result<ExitStatus, Error> {
    let env = Env::from_process();
    let cwd = std::env::current_dir()?;
    let repo = Repo::discover(&cwd)?;
    let file = match &args.config {
        Some(path) => cwd.join(path),
        None => repo.root().join(config::FILE_NAME),
    };
    match args.command {
        Command::Affected(a) => affected(&env, &repo, &file, a),
        Command::Plan(a) => plan(&env, &repo, &file, a),
        Command::Validate => validate(&repo, &file),
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
    print!("{out}");
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
    let request = crate::plan::inputs::PlanRequest {
        branch: branch(env, repo, args.branch)?,
        range: args.range.request(),
        services: args.services,
    };
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
    print!(
        "{}",
        report::plan::render(&plan, args.format, Style::for_stdout(env))
    );
    Ok(ExitStatus::Success)
}

fn validate(repo: &Repo, file: &std::path::Path) -> Result<ExitStatus, Error> {
    let config = Config::load(file, repo.root(), Checks::Files)?;
    let libraries = config.services.iter().filter(|s| !s.image).count();
    println!(
        "{} is valid: {} services ({} {}), {} environments ({})",
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
    );
    Ok(ExitStatus::Success)
}
