//! Argument parsing: clap's types, and their conversion into a [`commands::Invocation`], the
//! request [`commands::run`] carries out. Nothing here reads a file, the environment or a
//! repository.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::base::Request;
use crate::commands::{self, Invocation};
use crate::pipeline::Stage;
use crate::report::{self, affected::Format};

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
    /// Overwrite files that exist (never the project's own .github/workflows/release.yml: with
    /// one, the workflow is written as shipit.yml)
    #[arg(long)]
    force: bool,
    /// Write no workflow, only ci.toml and its schema
    #[arg(long, conflicts_with = "from_ecs")]
    no_workflow: bool,
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
    #[arg(long, value_name = "X.Y.Z", required_unless_present_any = ["resume", "rollback"])]
    version: Option<String>,
    /// Let a deployment paused at a PAUSE lifecycle hook go on (ContinueServiceDeployment), and
    /// watch it to its end
    #[arg(long = "continue", conflicts_with_all = ["version", "rollback", "force"])]
    resume: bool,
    /// Take a deployment paused at a PAUSE lifecycle hook back to the previous revision
    /// (ContinueServiceDeployment with ROLLBACK), and watch it to its end
    #[arg(long, conflicts_with_all = ["version", "force"])]
    rollback: bool,
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
    /// Build and push only this platform's image of each service with `platforms` (one job of a
    /// matrix on native runners), by digest, recorded for `--assemble`: no tag, no retention, no
    /// rollout
    #[arg(long, value_name = "OS/ARCH", conflicts_with = "assemble")]
    platform: Option<String>,
    /// After the `--platform` jobs: put each service's recorded platform images under one image
    /// index, tag it and roll it out (services without `platforms` are built as usual)
    #[arg(long)]
    assemble: bool,
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

impl From<RangeArgs> for Request {
    fn from(args: RangeArgs) -> Request {
        Request {
            base: args.base,
            head: Some(args.head),
            all: args.all,
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

impl Args {
    /// The command line as a request for [`commands::run`].
    pub fn into_invocation(self) -> Invocation {
        let command = match self.command {
            Command::Affected(a) => commands::Command::Affected(a.into()),
            Command::Plan(a) => commands::Command::Plan(a.into()),
            Command::Release(a) => commands::Command::Release(a.into()),
            Command::Retain(a) => commands::Command::Retain(a.into()),
            Command::Deploy(a) => commands::Command::Deploy(a.into()),
            Command::Validate(a) => {
                commands::Command::Validate(commands::validate::Options { format: a.format })
            }
            Command::Init(a) => commands::Command::Init(a.into()),
            Command::Schema => commands::Command::Schema,
            Command::Completions(a) => {
                commands::Command::Completions(commands::completions::Options {
                    shell: a.shell,
                    command: Args::command(),
                })
            }
            Command::Man => commands::Command::Man(commands::man::Options {
                command: Args::command(),
            }),
        };
        Invocation {
            config: self.config,
            command,
        }
    }
}

impl From<AffectedArgs> for commands::affected::Options {
    fn from(args: AffectedArgs) -> Self {
        commands::affected::Options {
            range: args.range.into(),
            format: args.format,
            explain: args.explain,
        }
    }
}

impl From<PlanArgs> for commands::plan::Options {
    fn from(args: PlanArgs) -> Self {
        commands::plan::Options {
            branch: args.what.branch,
            range: args.what.range.into(),
            services: args.what.services,
            offline: args.offline,
            format: args.format,
        }
    }
}

impl From<ReleaseArgs> for commands::release::Options {
    fn from(args: ReleaseArgs) -> Self {
        commands::release::Options {
            branch: args.what.branch,
            range: args.what.range.into(),
            services: args.what.services,
            dry_run: args.dry_run,
            jobs: args.jobs,
            skip: args.skip.into_iter().map(Stage::from).collect(),
            fail_fast: args.fail_fast,
            report: args.report,
            allow_dirty: args.allow_dirty,
            format: args.format,
            junit: args.junit,
            legs: match (args.platform, args.assemble) {
                (Some(p), _) => crate::pipeline::Legs::One(p),
                (None, true) => crate::pipeline::Legs::Assemble,
                (None, false) => crate::pipeline::Legs::All,
            },
        }
    }
}

impl From<DeployArgs> for commands::deploy::Options {
    fn from(args: DeployArgs) -> Self {
        commands::deploy::Options {
            environment: args.environment,
            service: args.service,
            version: args.version.unwrap_or_default(),
            force: args.force,
            hook: match (args.resume, args.rollback) {
                (true, _) => Some(commands::deploy::Hook::Continue),
                (_, true) => Some(commands::deploy::Hook::Rollback),
                _ => None,
            },
            format: args.format,
            report: args.report,
        }
    }
}

impl From<RetainArgs> for commands::retain::Options {
    fn from(args: RetainArgs) -> Self {
        commands::retain::Options {
            envs: args.envs,
            services: args.services,
            apply: args.apply,
            format: args.format,
            report: args.report,
        }
    }
}

impl From<InitArgs> for commands::init::Options {
    fn from(args: InitArgs) -> Self {
        // clap requires --service with --from-ecs, and the other way round.
        let from_ecs = match (args.from_ecs, args.service) {
            (Some(target), Some(service)) => Some(commands::init::FromEcs { target, service }),
            _ => None,
        };
        commands::init::Options {
            force: args.force,
            no_workflow: args.no_workflow,
            from_ecs,
        }
    }
}
