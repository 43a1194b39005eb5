//! Reading ci.toml: the file checked and read, parsed into raw types, then resolved.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::raw::{RawConfig, RawService, S};
use super::resolve::Resolver;
use super::shared::FileKind;
use super::validate::check_file;
use super::{Config, ConfigError, Problem, Problems};

/// The file name shipit looks for at the repository root.
pub const FILE_NAME: &str = "ci.toml";

/// How much checking a load does.
#[derive(Debug, Clone, Copy)]
pub enum Checks {
    /// What every command needs: the file itself and that service paths exist.
    Load,
    /// `shipit validate`: also the files the services point at (Dockerfiles, task definitions,
    /// version files), the task and service definitions read by the check given (ECS's format is
    /// not the config's to know: `validate` gives `ecs::render::check_file`).
    Files(DefinitionCheck),
}

/// Checks the text of a task or service definition file for the container a service names; the
/// problem, if any.
pub type DefinitionCheck = fn(FileKind, &str, &str) -> Result<(), String>;

impl Config {
    /// Reads and validates `file`; paths in it are relative to `root`.
    pub fn load(file: &Path, root: &Path, checks: Checks) -> Result<Config, ConfigError> {
        let text = read(file, root)?;
        Config::parse(&text, &display_name(file), file, root, checks)
    }

    /// [`Config::load`] with the checks that every path a service names stays inside the
    /// repository left for [`Later::finish`]: what only selects services (`shipit affected`) can
    /// go on while they run. A config with other problems is refused here, with all of them.
    pub fn load_checking_later<'a>(
        file: &Path,
        root: &'a Path,
    ) -> Result<(Config, Later<'a>), ConfigError> {
        let text = read(file, root)?;
        let name = display_name(file);
        Config::resolve(&text, &name, file, root, Checks::Load, true)
    }

    /// Parses ci.toml text; `name` is how the file is named in messages.
    pub fn parse(
        text: &str,
        name: &str,
        file: &Path,
        root: &Path,
        checks: Checks,
    ) -> Result<Config, ConfigError> {
        // Nothing is left for later: `Later::finish` would find nothing.
        Config::resolve(text, name, file, root, checks, false).map(|(config, _)| config)
    }

    fn resolve<'a>(
        text: &str,
        name: &str,
        file: &Path,
        root: &'a Path,
        checks: Checks,
        leave_checks: bool,
    ) -> Result<(Config, Later<'a>), ConfigError> {
        let text = Arc::new(text.to_string());
        let invalid =
            |problems| ConfigError::Invalid(Box::new(Problems::new(name, text.clone(), problems)));
        let _span = tracing::debug_span!("load ci.toml", file = name).entered();
        let parsing = tracing::debug_span!("parse").entered();
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let message = super::words::rewrite(e.message(), &text, e.span());
            let span = e.span().unwrap_or(0..0);
            let problem = Problem::new(format!("{name}: {message}"), span, "here");
            invalid(vec![with_key_help(problem)])
        })?;
        drop(parsing);
        let _resolving = tracing::debug_span!("resolve").entered();
        let mut resolver = Resolver {
            root,
            checks,
            problems: Vec::new(),
            real: Default::default(),
            real_root: None,
            listed: Default::default(),
            later: leave_checks.then(Vec::new),
        };
        let (config, services) = resolver.resolve(raw, file, root);
        if !resolver.problems.is_empty() {
            // Whatever was left for later is run now, so that every problem is told at once.
            return Err(invalid(resolver.checks_left(&services, &config)));
        }
        let later = Later {
            resolver,
            services,
            name: name.to_string(),
            text,
        };
        Ok((config, later))
    }
}

/// The checks [`Config::load_checking_later`] left: every path a service names stays inside the
/// repository, symlinks resolved.
pub struct Later<'a> {
    resolver: Resolver<'a>,
    services: BTreeMap<S<String>, RawService>,
    name: String,
    text: Arc<String>,
}

impl Later<'_> {
    /// Runs the checks on the config they were left from; its problems, if any. (Once: a second
    /// call finds nothing left to check.)
    pub fn finish(&mut self, config: &Config) -> Result<(), ConfigError> {
        let _span = tracing::debug_span!("check paths", file = self.name).entered();
        let problems = self.resolver.checks_left(&self.services, config);
        if problems.is_empty() {
            return Ok(());
        }
        let problems = Problems::new(&self.name, self.text.clone(), problems);
        Err(ConfigError::Invalid(Box::new(problems)))
    }
}

/// ci.toml's text: a regular file inside the repository.
fn read(file: &Path, root: &Path) -> Result<String, ConfigError> {
    check_file(file, root)?;
    use crate::limits::{self, ReadError};
    match limits::read_to_string(file, limits::CI_TOML) {
        Ok(text) => Ok(text),
        Err(e) if e.is_not_found() => Err(ConfigError::Missing {
            path: file.to_path_buf(),
        }),
        Err(ReadError::TooLarge { limit }) => Err(ConfigError::TooLarge {
            path: file.to_path_buf(),
            limit: limits::size(limit),
        }),
        Err(ReadError::Io(source)) => Err(ConfigError::Read {
            path: file.to_path_buf(),
            source,
        }),
    }
}

/// Names a file the way a user would type it: relative to the current directory when under it.
pub fn display_name(file: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| file.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| file.to_path_buf())
        .display()
        .to_string()
}

fn with_key_help(problem: Problem) -> Problem {
    if problem.message.contains("unknown key") {
        problem.help("remove the key or fix its spelling; the reference ci.toml lists every key")
    } else {
        problem
    }
}
