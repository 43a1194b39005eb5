//! `shipit validate`: ci.toml and the files it points at (paths, Dockerfiles, task definitions,
//! cycles), checked and summed up.

use std::path::Path;

use crate::config::{self, Checks, Config};
use crate::git::Repo;
use crate::github::Env;
use crate::report;
use crate::{Error, Finished};

/// What `shipit validate` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    pub format: report::json::Format,
}

pub fn run(env: &Env, repo: &Repo, file: &Path, options: Options) -> Result<Finished, Error> {
    match options.format {
        report::json::Format::Json => json(env, repo, file),
        report::json::Format::Text => {
            let config = load(repo, file)?;
            for w in crate::lint::warnings(&config, repo)? {
                report::warn(env, &w);
            }
            report::stdout(&summary(file, &config))?;
            Ok(Finished::Success)
        }
    }
}

/// ci.toml with every file check, and the artifacts a build copies.
fn load(repo: &Repo, file: &Path) -> Result<Config, Error> {
    let config = Config::load(
        file,
        repo.root(),
        Checks::Files(crate::ecs::render::check_file),
    )?;
    crate::build_inputs::check_artifacts(&config, repo)?;
    Ok(config)
}

/// `--format json`: one object, valid or not; the problems also go to stderr as for text.
fn json(env: &Env, repo: &Repo, file: &Path) -> Result<Finished, Error> {
    let name = config::display_name(file);
    let loaded = load(repo, file).and_then(|config| {
        let warnings = crate::lint::warnings(&config, repo)?;
        Ok((config, warnings))
    });
    let (out, status) = match loaded {
        Ok((config, warnings)) => (
            report::json::Validate::valid(name, &config, warnings),
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
    Ok(status)
}

/// "ci.toml is valid: 3 services (1 library), 2 environments (prod ← main, stage ← develop)".
fn summary(file: &Path, config: &Config) -> String {
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let services = config.services.len();
    let libraries = config.services.iter().filter(|s| !s.image).count();
    let environments: Vec<String> = config
        .environments
        .iter()
        .map(|e| format!("{} ← {}", e.name, e.branch))
        .collect();
    format!(
        "{} is valid: {services} {} ({libraries} {}), {} {} ({})\n",
        config::display_name(file),
        plural(services, "service", "services"),
        plural(libraries, "library", "libraries"),
        config.environments.len(),
        plural(config.environments.len(), "environment", "environments"),
        environments.join(", ")
    )
}
