//! One module per command. Each builds its inputs (the config, the registry and ECS clients, the
//! plan request), calls the library, and hands what comes back to [`crate::report`]; the library
//! below never knows which command runs it. [`run`] is the dispatch: it reads what every command
//! needs (the repository, the path of ci.toml) and builds the one async runtime for the commands
//! that talk to services.

pub mod affected;
pub mod completions;
pub mod deploy;
pub mod init;
pub mod man;
pub mod plan;
pub mod release;
pub mod retain;
pub mod schema;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::git::Repo;
use crate::github::Env;
use crate::{Error, Finished, env_vars, report};

/// A command line, parsed: the command with its options, and the ci.toml `--config` names.
#[derive(Debug)]
pub struct Invocation {
    pub config: Option<PathBuf>,
    pub command: Command,
}

/// Every command, with what it was asked to do.
#[derive(Debug)]
pub enum Command {
    Affected(affected::Options),
    Plan(plan::Options),
    Release(release::Options),
    Retain(retain::Options),
    Deploy(deploy::Options),
    Validate(validate::Options),
    Init(init::Options),
    Schema,
    Completions(completions::Options),
    Man(man::Options),
}

/// Runs one command to its end.
pub fn run(invocation: Invocation, env: &Env) -> Result<Finished, Error> {
    report::environment_secrets(env);
    crate::net::configure(env)?;
    // The commands that need no repository.
    let command = match invocation.command {
        Command::Schema => return schema::run(),
        Command::Completions(options) => return completions::run(options),
        Command::Man(options) => return man::run(options),
        command => command,
    };
    let cwd = std::env::current_dir()?;
    let repo = Repo::discover(&cwd)?;
    let file = match &invocation.config {
        Some(path) => cwd.join(path),
        None => repo.root().join(config::FILE_NAME),
    };
    // Only the commands that talk to services build the runtime (`runtime()`: the one place).
    let finished = match command {
        Command::Affected(options) => affected::run(env, &repo, &file, options),
        Command::Validate(options) => validate::run(env, &repo, &file, options),
        Command::Plan(options) => {
            runtime().and_then(|rt| plan::run(env, &repo, &file, options, &rt))
        }
        Command::Release(options) => {
            runtime().and_then(|rt| release::run(env, &repo, &file, options, &rt))
        }
        // Bad input with `--format json`: a JSON error object on stdout too, as `validate` prints.
        Command::Retain(options) => {
            let format = options.format;
            let done = runtime().and_then(|rt| retain::run(env, &repo, &file, options, &rt));
            report::json::on_error("retain", format, done)
        }
        Command::Deploy(options) => {
            let format = options.format;
            let done = runtime().and_then(|rt| deploy::run(env, &repo, &file, options, &rt));
            report::json::on_error("deploy", format, done)
        }
        Command::Init(options) => match options.from_ecs {
            Some(from) => {
                runtime().and_then(|rt| init::from_ecs(&repo, &file, from, options.force, &rt))
            }
            None => init::run(&repo, &file, options.force, options.no_workflow),
        },
        Command::Schema | Command::Completions(_) | Command::Man(_) => Ok(Finished::Success),
    };
    drop(repo);
    finished
}

/// The one tokio runtime, built at the top for the commands that talk to services.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
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
            Error::bad_input(
                "no branch to release: HEAD is detached",
                Some("pass --branch BRANCH".to_string()),
            )
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

/// Registers every build secret ci.toml names with the redaction layer (and the runner's
/// masking), before anything runs: a test that prints one, a service that is promoted or skipped,
/// an error that quotes one, all find it masked.
fn register_build_secrets(env: &Env, config: &Config) {
    for s in crate::pipeline::preflight::build_secrets(env, config) {
        report::secret(env, s.value);
    }
    // The signing keys too: a PEM private key is never to be shown, whole or a line of it.
    let signing = config
        .environments
        .iter()
        .filter_map(|e| e.sign.as_ref())
        .chain(config.project.sign.as_ref());
    for s in signing {
        if let crate::config::Signing::Key { var } = s
            && let Some(value) = env.get(var)
        {
            report::secret(env, value);
        }
    }
}

/// Refuses an output path that cannot be written, naming it, before the run does anything: a file
/// that is a directory, in a folder that does not exist, or in one shipit may not write to.
fn check_writable(path: &Path, flag: &str) -> Result<(), Error> {
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

fn output_error(path: &Path, flag: &str, e: std::io::Error) -> Error {
    Error::bad_input(
        format!("cannot write {flag} {}: {e}", path.display()),
        Some(format!(
            "give {flag} a file in a folder that exists and that shipit may write to"
        )),
    )
}

/// `--report FILE`: the command's JSON object, pretty, through the redaction layer.
fn write_report(path: Option<&Path>, value: &impl serde::Serialize) -> Result<(), Error> {
    let Some(path) = path else { return Ok(()) };
    report::write_file(
        path,
        &serde_json::to_string_pretty(value).unwrap_or_default(),
        false,
    )
    .map_err(|e| output_error(path, "--report", e))
}

/// Writes bytes to stdout as they are (a script, a page, a schema: nothing of the user's, so
/// nothing to redact); a closed stdout (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<Finished, Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(Finished::Success),
    }
}
