//! ci.toml in two phases: [`raw`] types as written (unknown keys denied, spans kept), then the
//! validated, resolved [`Config`] that the rest of shipit reads. Every problem found on the way names
//! file:line:col; all of them are reported at once.

mod cycles;
mod error;
pub(crate) mod raw;
pub mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ConfigError, Problem, Problems};
use raw::{RawConfig, RawEnvironment, RawService, RawServiceEnvironment, S};
use semver::Version;

/// The file name shipit looks for at the repository root.
pub const FILE_NAME: &str = "ci.toml";

#[derive(Debug, Clone)]
pub struct Config {
    /// The ci.toml that was read.
    pub file: PathBuf,
    /// The repository root that every path in the file is relative to.
    pub root: PathBuf,
    pub project: Project,
    /// Sorted by name.
    pub environments: Vec<Environment>,
    pub global: Global,
    /// Sorted by name.
    pub services: Vec<Service>,
}

#[derive(Debug, Clone)]
pub struct Project {
    /// Image repository template; `{service}` stands for the service's name.
    pub repository: String,
    pub registry: Registry,
    pub retain: u32,
    pub default_branch: Option<String>,
    pub initial_version: Version,
    /// ECR: repositories shipit creates scan images on push.
    pub scan_on_push: bool,
    /// ECR: repositories shipit creates refuse to move a tag (then `latest` cannot be used).
    pub immutable_tags: bool,
    /// ECR: a lifecycle policy that expires untagged images this many days old, as a backstop.
    pub untagged_expiry_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// The account's ECR registry, found through the AWS SDK.
    Ecr,
    /// Another account's (or region's) ECR registry: `ecr://ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    EcrAt { account: String, region: String },
    /// An OCI Distribution registry: `oci://HOST[:PORT][/PREFIX]`.
    Oci {
        host: String,
        prefix: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Environment {
    /// The key in `[environments]`, which is also the tag prefix.
    pub name: String,
    pub branch: String,
    pub latest: bool,
    pub clusters: Vec<String>,
    /// A cluster rolled out first, alone; the others follow only when it succeeded.
    pub canary: Option<String>,
    pub rollout_timeout: Duration,
    pub poll_interval: Duration,
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets: id → where the value comes from (`env:VAR`).
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Global {
    pub triggers: Vec<String>,
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Repository-relative directory, without a trailing slash; `.` for the whole repository.
    pub path: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub depends_on: Vec<String>,
    pub test: Option<String>,
    /// How long the test command may run.
    pub test_timeout: Duration,
    /// A glob relative to `path`: the JUnit XML files the test command writes.
    pub test_report: Option<String>,
    /// False for libraries: tested when affected, never built, pushed or deployed.
    pub image: bool,
    /// Relative to `path`.
    pub dockerfile: String,
    /// Relative to `path`.
    pub context: String,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets: id → where the value comes from (`env:VAR`).
    pub secrets: BTreeMap<String, String>,
    /// The registry layer cache (inline cache pushed, `cache_from` the likeliest images).
    pub cache: bool,
    pub ecs_service: String,
    pub container: String,
    /// Relative to `path`.
    pub task_definition: Option<String>,
    /// Relative to `path`: the CreateService request for a first rollout.
    pub service_definition: Option<String>,
    /// Relative to `path`.
    pub version_file: Option<String>,
    pub initial_version: Version,
    /// Per-environment overrides, by environment name.
    pub environments: BTreeMap<String, ServiceEnvironment>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceEnvironment {
    pub dockerfile: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub target: Option<String>,
    pub clusters: Option<Vec<String>>,
    pub task_definition: Option<String>,
    pub service_definition: Option<String>,
}

/// What building one service for one environment takes, with the overrides resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Build {
    /// Repository-relative.
    pub dockerfile: String,
    /// Repository-relative.
    pub context: String,
    pub target: Option<String>,
    /// The environment's, then the service's, then the service's for this environment: later wins.
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets, id → `env:VAR`, merged like `build_args`; values are read at build time.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// False when the service opted out of the registry layer cache.
    pub cache: bool,
    pub clusters: Vec<String>,
    /// Repository-relative.
    pub task_definition: Option<String>,
    /// Repository-relative.
    pub service_definition: Option<String>,
}

impl Service {
    /// Joins a path relative to the service's directory onto it, repository-relative.
    pub fn join(&self, relative: &str) -> String {
        let joined = if self.path == "." {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.path)
        };
        normalize(&joined)
    }

    /// The build of this service for `env`, with the environment's and the service's overrides.
    pub fn build(&self, env: &Environment) -> Build {
        let over = self.environments.get(&env.name);
        let mut build_args = env.build_args.clone();
        build_args.extend(self.build_args.clone());
        let mut secrets = env.secrets.clone();
        secrets.extend(self.secrets.clone());
        if let Some(o) = over {
            build_args.extend(o.build_args.clone());
            secrets.extend(o.secrets.clone());
        }
        Build {
            dockerfile: self.join(
                over.and_then(|o| o.dockerfile.as_deref())
                    .unwrap_or(&self.dockerfile),
            ),
            context: self.join(&self.context),
            target: over
                .and_then(|o| o.target.clone())
                .or_else(|| self.target.clone()),
            build_args,
            secrets,
            cache: self.cache,
            clusters: over
                .and_then(|o| o.clusters.clone())
                .unwrap_or_else(|| env.clusters.clone()),
            task_definition: over
                .and_then(|o| o.task_definition.as_deref())
                .or(self.task_definition.as_deref())
                .map(|t| self.join(t)),
            service_definition: over
                .and_then(|o| o.service_definition.as_deref())
                .or(self.service_definition.as_deref())
                .map(|t| self.join(t)),
        }
    }

    /// The image repository of this service, from the project's template.
    pub fn repository(&self, project: &Project) -> String {
        project.repository.replace("{service}", &self.name)
    }
}

/// How much checking a load does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// What every command needs: the file itself and that service paths exist.
    Load,
    /// `shipit validate`: also the files the services point at (Dockerfiles, task definitions, version files).
    Files,
}

impl Config {
    /// Reads and validates `file`; paths in it are relative to `root`.
    pub fn load(file: &Path, root: &Path, checks: Checks) -> Result<Config, ConfigError> {
        check_file(file, root)?;
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing {
                    path: file.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: file.to_path_buf(),
                    source,
                });
            }
        };
        Config::parse(&text, &display_name(file), file, root, checks)
    }

    /// Parses ci.toml text; `name` is how the file is named in messages.
    pub fn parse(
        text: &str,
        name: &str,
        file: &Path,
        root: &Path,
        checks: Checks,
    ) -> Result<Config, ConfigError> {
        let text = Arc::new(text.to_string());
        let invalid =
            |problems| ConfigError::Invalid(Box::new(Problems::new(name, text.clone(), problems)));
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end_matches('\n').to_string();
            let message = message.replace("unknown field", "unknown key");
            let problem = Problem::new(format!("{name}: {message}"), span, "here");
            invalid(vec![with_key_help(problem)])
        })?;
        let mut resolver = Resolver {
            root,
            checks,
            problems: Vec::new(),
            real: BTreeMap::new(),
        };
        let config = resolver.resolve(raw, file, root);
        if resolver.problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(resolver.problems))
        }
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn environment_for_branch(&self, branch: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.branch == branch)
    }
}

/// ci.toml must be a regular file inside the repository: a symlink out of it (to a credentials
/// file, say) or a device or a FIFO is refused, without reading it, so none of its content shows.
fn check_file(file: &Path, root: &Path) -> Result<(), ConfigError> {
    let refuse = |why: String| ConfigError::NotAFile {
        path: file.to_path_buf(),
        why,
    };
    let Ok(link) = std::fs::symlink_metadata(file) else {
        return Ok(()); // missing: `load` says so
    };
    if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(file)
            .map_err(|e| refuse(format!("it is a symlink that cannot be followed ({e})")))?;
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if !target.starts_with(&root) {
            return Err(refuse(format!(
                "it is a symlink to {}, outside the repository",
                target.display()
            )));
        }
    }
    match std::fs::metadata(file) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(refuse("it is not a regular file".into())),
        Err(_) => Ok(()),
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

/// The second phase: raw values in, resolved values out, problems collected on the way.
struct Resolver<'a> {
    root: &'a Path,
    checks: Checks,
    problems: Vec<Problem>,
    /// Paths with symlinks resolved, by what was asked: a service's path, context and Dockerfile
    /// share most of theirs, and every check shares the root's.
    real: BTreeMap<PathBuf, Option<PathBuf>>,
}

impl Resolver<'_> {
    fn problem(
        &mut self,
        message: impl Into<String>,
        span: Range<usize>,
        label: impl Into<String>,
    ) {
        self.problems.push(Problem::new(message, span, label));
    }

    fn problem_with_help(
        &mut self,
        message: impl Into<String>,
        span: Range<usize>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(message, span, label).help(help));
    }

    fn resolve(&mut self, raw: RawConfig, file: &Path, root: &Path) -> Config {
        let repository_span = raw.project.repository.as_ref().map(|r| r.span());
        let project = self.project(raw.project);
        let environments = self.environments(raw.environments);
        let global = Global {
            triggers: self.globs(&raw.global.triggers),
            ignore: self.globs(&raw.global.ignore),
        };
        let env_names: BTreeSet<&str> = environments.iter().map(|e| e.name.as_str()).collect();
        let service_names: BTreeSet<&str> =
            raw.services.keys().map(|k| k.get_ref().as_str()).collect();
        let mut services = Vec::new();
        for (name, service) in &raw.services {
            services.push(self.service(name, service, &project, &env_names, &service_names));
        }
        self.cycles(&raw.services);
        let images = services.iter().filter(|s| s.image).count();
        if let Some(span) = repository_span
            && images > 1
            && !project.repository.contains("{service}")
        {
            self.problem_with_help(
                format!(
                    "`repository = \"{}\"` has no `{{service}}`: the {images} services with an image would all push to one repository",
                    project.repository
                ),
                span,
                "no {service}",
                "put `{service}` in the template (e.g. \"team/{service}\"), so that each service gets its own repository",
            );
        }
        self.shared_containers(&raw.services, &services, &environments);
        Config {
            file: file.to_path_buf(),
            root: root.to_path_buf(),
            project,
            environments,
            global,
            services,
        }
    }

    fn project(&mut self, raw: raw::RawProject) -> Project {
        let repository = match raw.repository {
            Some(r) => {
                let rendered = r.get_ref().replace("{service}", "service");
                if !valid_repository(&rendered) {
                    self.problem_with_help(
                        format!("`{}` is not a valid image repository template", r.get_ref()),
                        r.span(),
                        "invalid repository",
                        "use lowercase letters, digits, `.`, `_`, `-` and `/`, with `{service}` for the service's name",
                    );
                }
                r.into_inner()
            }
            None => "{service}".to_string(),
        };
        let registry = match raw.registry {
            None => Registry::Ecr,
            Some(r) => match parse_registry(r.get_ref()) {
                Ok(reg) => reg,
                Err(why) => {
                    // Credentials in the address are hidden from every output from here on, the
                    // snippet of ci.toml included; the message names the address without them.
                    let shown = crate::redact::strip_url(r.get_ref())
                        .unwrap_or_else(|| r.get_ref().to_string());
                    self.problem_with_help(
                        format!("registry `{shown}` is not valid: {why}"),
                        r.span(),
                        "invalid registry",
                        "use \"ecr\" or \"oci://HOST[:PORT][/PREFIX]\"",
                    );
                    Registry::Ecr
                }
            },
        };
        let retain = match raw.retain {
            None => 10,
            Some(r) if (1..=10_000).contains(r.get_ref()) => *r.get_ref() as u32,
            Some(r) => {
                self.problem(
                    "`retain` must be between 1 and 10000",
                    r.span(),
                    "out of range",
                );
                10
            }
        };
        let default_branch = raw.default_branch.and_then(|b| {
            if b.get_ref().trim().is_empty() {
                self.problem("`default_branch` is empty", b.span(), "empty");
                None
            } else {
                Some(b.into_inner())
            }
        });
        let initial_version = self
            .version(raw.initial_version.as_ref())
            .unwrap_or(Version::new(0, 1, 0));
        let untagged_expiry_days = match &raw.untagged_expiry_days {
            None => None,
            Some(d) if (1..=3650).contains(d.get_ref()) => Some(*d.get_ref() as u32),
            Some(d) => {
                self.problem(
                    "`untagged_expiry_days` must be between 1 and 3650",
                    d.span(),
                    "out of range",
                );
                None
            }
        };
        Project {
            repository,
            registry,
            retain,
            default_branch,
            initial_version,
            scan_on_push: raw.scan_on_push.unwrap_or(true),
            immutable_tags: raw.immutable_tags.unwrap_or(false),
            untagged_expiry_days,
        }
    }

    fn version(&mut self, raw: Option<&S<String>>) -> Option<Version> {
        let raw = raw?;
        match Version::parse(raw.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem_with_help(
                    format!("`{}` is not a version: {e}", raw.get_ref()),
                    raw.span(),
                    "not X.Y.Z",
                    "write a semantic version such as \"0.1.0\"",
                );
                None
            }
        }
    }

    fn environments(
        &mut self,
        raw: Option<BTreeMap<S<String>, RawEnvironment>>,
    ) -> Vec<Environment> {
        let Some(raw) = raw else {
            return default_environments();
        };
        let mut branches: BTreeMap<String, Range<usize>> = BTreeMap::new();
        let mut latest: Option<String> = None;
        let mut out = Vec::new();
        for (name, env) in raw {
            if !valid_tag_prefix(name.get_ref()) {
                self.problem_with_help(
                    format!("environment `{}` cannot be a tag prefix", name.get_ref()),
                    name.span(),
                    "invalid name",
                    "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                );
            }
            let branch = env.branch.get_ref().clone();
            if branch.trim().is_empty() {
                self.problem("`branch` is empty", env.branch.span(), "empty");
            } else if let Some(first) = branches.get(&branch) {
                let first = first.clone();
                self.problems.push(
                    Problem::new(
                        format!("two environments use the branch `{branch}`"),
                        env.branch.span(),
                        "used again here",
                    )
                    .also(first, "first used here")
                    .help("a branch maps to one environment: give each environment its own branch"),
                );
            } else {
                branches.insert(branch.clone(), env.branch.span());
            }
            let is_latest = env.latest.as_ref().is_some_and(|l| *l.get_ref());
            if is_latest {
                if let Some(other) = &latest {
                    let span = env.latest.as_ref().map(|l| l.span()).unwrap_or(0..0);
                    self.problem(
                        format!("`latest` is set on both `{other}` and `{}`", name.get_ref()),
                        span,
                        "only one environment may push `latest`",
                    );
                }
                latest = Some(name.get_ref().clone());
            }
            let rollout_timeout =
                self.duration(env.rollout_timeout.as_ref(), Duration::from_secs(15 * 60));
            let poll_interval = self.duration(env.poll_interval.as_ref(), Duration::from_secs(10));
            let clusters = self.names(&env.clusters, "cluster");
            let canary = env.canary.as_ref().and_then(|c| {
                if clusters.contains(c.get_ref()) {
                    Some(c.get_ref().clone())
                } else {
                    self.problem_with_help(
                        format!(
                            "the canary `{}` is not one of the environment's clusters",
                            c.get_ref()
                        ),
                        c.span(),
                        "unknown cluster",
                        "name one of `clusters`",
                    );
                    None
                }
            });
            out.push(Environment {
                name: name.into_inner(),
                branch,
                latest: is_latest,
                clusters,
                canary,
                rollout_timeout,
                poll_interval,
                build_args: env.build_args,
                secrets: self.secrets(&env.secrets),
            });
        }
        out
    }

    fn duration(&mut self, raw: Option<&S<String>>, default: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        match parse_duration(raw.get_ref()) {
            Some(d) if !d.is_zero() => d,
            _ => {
                self.problem_with_help(
                    format!("`{}` is not a duration", raw.get_ref()),
                    raw.span(),
                    "not a duration",
                    "write a number with a unit: \"500ms\", \"10s\", \"15m\", \"1h\", \"1m30s\"",
                );
                default
            }
        }
    }

    /// Cluster names and the like: non-empty and not repeated.
    fn names(&mut self, raw: &[S<String>], what: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for n in raw {
            if n.get_ref().trim().is_empty() {
                self.problem(format!("empty {what} name"), n.span(), "empty");
            } else if !seen.insert(n.get_ref().clone()) {
                self.problem(
                    format!("{what} `{}` is listed twice", n.get_ref()),
                    n.span(),
                    "repeated",
                );
            } else {
                out.push(n.get_ref().clone());
            }
        }
        out
    }

    fn globs(&mut self, raw: &[S<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for g in raw {
            match crate::glob::check(g.get_ref()) {
                Ok(()) => out.push(g.get_ref().clone()),
                Err(why) => self.problem_with_help(
                    format!("`{}` is not a valid glob: {why}", g.get_ref()),
                    g.span(),
                    "invalid glob",
                    "globs follow .gitignore: `*` and `?` stay within a folder, `**` crosses folders",
                ),
            }
        }
        out
    }

    fn service(
        &mut self,
        name: &S<String>,
        raw: &RawService,
        project: &Project,
        env_names: &BTreeSet<&str>,
        service_names: &BTreeSet<&str>,
    ) -> Service {
        let key = name.get_ref();
        if !valid_service_name(key) {
            self.problem_with_help(
                format!("service name `{key}` cannot name an image"),
                name.span(),
                "invalid name",
                "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
            );
        }
        let path = self.service_path(&raw.path);
        let mut depends_on = Vec::new();
        for dep in &raw.depends_on {
            let d = dep.get_ref();
            if d == key {
                self.problem(
                    format!("service `{key}` depends on itself"),
                    dep.span(),
                    "itself",
                );
            } else if !service_names.contains(d.as_str()) {
                let help = match closest(d, service_names) {
                    Some(c) => {
                        format!("did you mean `{c}`? Services are the keys of [services.NAME]")
                    }
                    None => "services are the keys of [services.NAME]".to_string(),
                };
                self.problem_with_help(
                    format!("`{d}` in depends_on is not a service"),
                    dep.span(),
                    "unknown service",
                    help,
                );
            } else if depends_on.contains(d) {
                self.problem(
                    format!("`{d}` is listed twice in depends_on"),
                    dep.span(),
                    "repeated",
                );
            } else {
                depends_on.push(d.clone());
            }
        }
        let dockerfile = self
            .relative(raw.dockerfile.as_ref(), "dockerfile")
            .unwrap_or_else(|| "Dockerfile".into());
        let context = self
            .relative(raw.context.as_ref(), "context")
            .unwrap_or_else(|| ".".into());
        let task_definition = self.relative(raw.task_definition.as_ref(), "task_definition");
        let service_definition =
            self.relative(raw.service_definition.as_ref(), "service_definition");
        let version_file = self.relative(raw.version_file.as_ref(), "version_file");
        if let Some(vf) = &raw.version_file {
            let file_name = Path::new(vf.get_ref())
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            if !matches!(
                file_name,
                "Cargo.toml" | "package.json" | "pyproject.toml" | "VERSION"
            ) {
                self.problem_with_help(
                    format!("shipit cannot read a version from `{}`", vf.get_ref()),
                    vf.span(),
                    "unknown kind of version file",
                    "name a Cargo.toml, package.json, pyproject.toml or VERSION file",
                );
            }
        }
        let initial_version = self
            .version(raw.initial_version.as_ref())
            .unwrap_or(project.initial_version.clone());
        let mut environments = BTreeMap::new();
        for (env, over) in &raw.environments {
            if !env_names.contains(env.get_ref().as_str()) {
                let known = env_names
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.problem_with_help(
                    format!(
                        "service `{key}` has settings for `{}`, which is not an environment",
                        env.get_ref()
                    ),
                    env.span(),
                    "unknown environment",
                    format!("the environments are {known}"),
                );
            }
            environments.insert(env.get_ref().clone(), self.service_environment(over));
        }
        let service = Service {
            name: key.clone(),
            path,
            include: self.globs(&raw.include),
            exclude: self.globs(&raw.exclude),
            depends_on,
            test: raw.test.clone(),
            test_timeout: self.duration(raw.test_timeout.as_ref(), Duration::from_secs(30 * 60)),
            test_report: self.test_report(raw.test_report.as_ref()),
            image: raw.image,
            dockerfile,
            context,
            target: raw.target.clone(),
            build_args: raw.build_args.clone(),
            secrets: self.secrets(&raw.secrets),
            cache: raw.cache.unwrap_or(true),
            ecs_service: raw.ecs_service.clone().unwrap_or_else(|| key.clone()),
            container: raw.container.clone().unwrap_or_else(|| key.clone()),
            task_definition,
            service_definition,
            version_file,
            initial_version,
            environments,
        };
        self.contained_files(key, raw, &service);
        // A missing path is reported already; the files under it would only repeat that.
        if self.checks == Checks::Files && self.root.join(&service.path).is_dir() {
            self.check_files(raw, &service);
        }
        service
    }

    fn service_environment(&mut self, raw: &RawServiceEnvironment) -> ServiceEnvironment {
        ServiceEnvironment {
            dockerfile: self.relative(raw.dockerfile.as_ref(), "dockerfile"),
            build_args: raw.build_args.clone(),
            secrets: self.secrets(&raw.secrets),
            target: raw.target.clone(),
            clusters: raw.clusters.as_ref().map(|c| self.names(c, "cluster")),
            task_definition: self.relative(raw.task_definition.as_ref(), "task_definition"),
            service_definition: self
                .relative(raw.service_definition.as_ref(), "service_definition"),
        }
    }

    /// `secrets = { ID = "env:VAR" }`: an id BuildKit accepts, and a value naming where it comes from.
    fn secrets(&mut self, raw: &BTreeMap<String, S<String>>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (id, source) in raw {
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            let var = source.get_ref().strip_prefix("env:").unwrap_or("");
            let var_ok = !var.is_empty() && !var.contains('=') && !var.contains('\0');
            if !id_ok {
                self.problem_with_help(
                    format!("`{id}` is not a secret id"),
                    source.span(),
                    "bad secret id",
                    "use letters, digits, `_`, `-` and `.`: the id `RUN --mount=type=secret,id=ID` names",
                );
            } else if !var_ok {
                self.problem_with_help(
                    format!("secret `{id}`: `{}` is not a source", source.get_ref()),
                    source.span(),
                    "not `env:VAR`",
                    "write `env:VAR`: the value is read from the environment variable VAR at build time",
                );
            } else {
                out.insert(id.clone(), source.get_ref().clone());
            }
        }
        out
    }

    /// A path relative to a service's directory: no absolute paths, no way out of the repository.
    fn relative(&mut self, raw: Option<&S<String>>, key: &str) -> Option<String> {
        let raw = raw?;
        let p = raw.get_ref();
        if p.trim().is_empty() || Path::new(p).is_absolute() {
            self.problem_with_help(
                format!("`{key}` must be a relative path, not `{p}`"),
                raw.span(),
                "not relative",
                "paths in a service are relative to its `path`",
            );
            return None;
        }
        Some(normalize(p))
    }

    /// `test_report`: a glob inside the service (the reports are read from there).
    fn test_report(&mut self, raw: Option<&S<String>>) -> Option<String> {
        let raw = raw?;
        let p = raw.get_ref();
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            self.problem_with_help(
                format!("`test_report` must stay inside the service, not `{p}`"),
                raw.span(),
                "outside the service",
                "write the glob relative to the service's `path`, without `..`",
            );
            return None;
        }
        self.globs(std::slice::from_ref(raw)).into_iter().next()
    }

    /// A service's `path`: repository-relative, and a directory of the working tree.
    fn service_path(&mut self, raw: &S<String>) -> String {
        let p = raw.get_ref();
        if Path::new(p).is_absolute() || p.split('/').any(|c| c == "..") {
            self.problem_with_help(
                format!("`path` must stay inside the repository, not `{p}`"),
                raw.span(),
                "outside the repository",
                "write the path relative to the repository root, without `..`",
            );
            return normalize(p);
        }
        let normalized = normalize(p);
        if !self.root.join(&normalized).is_dir() {
            self.problem_with_help(
                format!("`{p}` does not exist in the repository"),
                raw.span(),
                "no such directory",
                format!(
                    "create it, or fix the path (it is relative to {})",
                    self.root.display()
                ),
            );
        }
        normalized
    }

    /// Every path a service names stays inside the repository, with symlinks resolved: its
    /// `path`, build context, Dockerfiles, task definitions and version file.
    fn contained_files(&mut self, key: &str, raw: &RawService, service: &Service) {
        let p = raw.path.get_ref();
        if !Path::new(p).is_absolute() && !p.split('/').any(|c| c == "..") {
            self.contained(key, &raw.path, &service.path, "path");
        }
        // The defaults (context `.`, `Dockerfile`) are checked too, pointing at `path`.
        let mut named: Vec<(&S<String>, &str, &str)> = vec![
            (
                raw.context.as_ref().unwrap_or(&raw.path),
                &service.context,
                "context",
            ),
            (
                raw.dockerfile.as_ref().unwrap_or(&raw.path),
                &service.dockerfile,
                "dockerfile",
            ),
        ];
        for (at, what) in [
            (&raw.task_definition, "task_definition"),
            (&raw.version_file, "version_file"),
        ] {
            if let Some(at) = at {
                named.push((at, at.get_ref(), what));
            }
        }
        for over in raw.environments.values() {
            for (at, what) in [
                (&over.dockerfile, "dockerfile"),
                (&over.task_definition, "task_definition"),
            ] {
                if let Some(at) = at {
                    named.push((at, at.get_ref(), what));
                }
            }
        }
        for (at, value, what) in named {
            if Path::new(value).is_absolute() {
                continue; // reported already
            }
            let joined = service.join(value);
            self.contained(key, at, &joined, what);
        }
    }

    /// `rel` (repository-relative, normalised) names something inside the repository, also once
    /// symlinks are followed; a problem otherwise.
    fn contained(&mut self, service: &str, at: &S<String>, rel: &str, key: &str) {
        let help = "everything a service builds from must be in the repository: move it in, or fix the path";
        if rel == ".." || rel.starts_with("../") {
            self.problem_with_help(
                format!("`{key}` of service `{service}` leads outside the repository: `{rel}`"),
                at.span(),
                "outside the repository",
                help,
            );
            return;
        }
        let Some(root) = self.canonical(self.root.to_path_buf()) else {
            return;
        };
        // The deepest part of the path that exists, with its symlinks resolved.
        let mut probe = self.root.join(rel);
        let real = loop {
            if let Some(real) = self.canonical(probe.clone()) {
                break Some(real);
            }
            if !probe.pop() {
                break None;
            }
        };
        if let Some(real) = real
            && !real.starts_with(&root)
        {
            self.problem_with_help(
                format!(
                    "`{key}` of service `{service}` leads outside the repository through a symlink: `{rel}` is {}",
                    real.display()
                ),
                at.span(),
                "a symlink out of the repository",
                help,
            );
        }
    }

    /// `path.canonicalize()`, asked of the file system once per path: a path whose last component
    /// is a plain name and not a symlink is its folder's real path joined with that name, so only
    /// the name is looked at (one `lstat`); anything else is canonicalized whole.
    fn canonical(&mut self, path: PathBuf) -> Option<PathBuf> {
        if let Some(known) = self.real.get(&path) {
            return known.clone();
        }
        let real = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                let name = name.to_os_string();
                match self.canonical(parent.to_path_buf()) {
                    None => None,
                    Some(folder) => {
                        let joined = folder.join(name);
                        match std::fs::symlink_metadata(&joined) {
                            Ok(m) if m.file_type().is_symlink() => joined.canonicalize().ok(),
                            Ok(_) => Some(joined),
                            Err(_) => None,
                        }
                    }
                }
            }
            _ => path.canonicalize().ok(),
        };
        self.real.insert(path, real.clone());
        real
    }

    /// `shipit validate`: the files a service points at exist and can be read.
    fn check_files(&mut self, raw: &RawService, service: &Service) {
        let dir = self.root.join(&service.path);
        let must_exist = |me: &mut Self, at: &S<String>, value: &str, what: &str, help: &str| {
            if !dir.join(value).exists() {
                me.problem_with_help(
                    format!(
                        "{what} `{}` of service `{}` does not exist",
                        Path::new(&service.path).join(value).display(),
                        service.name
                    ),
                    at.span(),
                    "missing",
                    help.to_string(),
                );
            }
        };
        if service.image {
            must_exist(
                self,
                raw.context.as_ref().unwrap_or(&raw.path),
                &service.context,
                "build context",
                "create it, or set `context`",
            );
            must_exist(
                self,
                raw.dockerfile.as_ref().unwrap_or(&raw.path),
                &service.dockerfile,
                "Dockerfile",
                "create it, set `dockerfile`, or set `image = false` for a library",
            );
            for (env, over) in &raw.environments {
                if let Some(d) = &over.dockerfile {
                    must_exist(
                        self,
                        d,
                        d.get_ref(),
                        &format!("`{}` Dockerfile", env.get_ref()),
                        "create it or fix `dockerfile`",
                    );
                }
            }
        }
        let mut files = Vec::new();
        for (at, kind) in [
            (&raw.task_definition, shared::FileKind::TaskDefinition),
            (&raw.service_definition, shared::FileKind::ServiceDefinition),
        ] {
            files.extend(at.iter().map(|a| (a, kind)));
        }
        for over in raw.environments.values() {
            files.extend(
                over.task_definition
                    .iter()
                    .map(|a| (a, shared::FileKind::TaskDefinition)),
            );
            files.extend(
                over.service_definition
                    .iter()
                    .map(|a| (a, shared::FileKind::ServiceDefinition)),
            );
        }
        for (at, kind) in files {
            let (what, key) = match kind {
                shared::FileKind::TaskDefinition => ("task definition", "task_definition"),
                shared::FileKind::ServiceDefinition => ("service definition", "service_definition"),
            };
            must_exist(
                self,
                at,
                at.get_ref(),
                what,
                &format!("create it or fix `{key}`"),
            );
            if let Ok(text) = std::fs::read_to_string(dir.join(at.get_ref()))
                && let Err(e) = shared::check_file(kind, &text, &service.container)
            {
                self.problem(
                    format!("{what} `{}`: {e}", at.get_ref()),
                    at.span(),
                    format!("not a {what} ECS takes"),
                );
            }
        }
        if let Some(vf) = &raw.version_file {
            must_exist(
                self,
                vf,
                vf.get_ref(),
                "version file",
                "create it or fix `version_file`",
            );
        }
    }

    /// Cycles in depends_on, each reported once at the edge that closes it.
    fn cycles(&mut self, services: &BTreeMap<S<String>, RawService>) {
        let edges: BTreeMap<&str, Vec<&S<String>>> = services
            .iter()
            .map(|(name, s)| (name.get_ref().as_str(), s.depends_on.iter().collect()))
            .collect();
        let graph: BTreeMap<&str, Vec<&str>> = edges
            .iter()
            .map(|(n, deps)| {
                (
                    *n,
                    deps.iter()
                        .map(|d| d.get_ref().as_str())
                        .filter(|d| edges.contains_key(d))
                        .collect(),
                )
            })
            .collect();
        for cycle in cycles::cycles(&graph) {
            let from = cycle[cycle.len() - 2];
            let to = cycle[cycle.len() - 1];
            let span = edges[from]
                .iter()
                .find(|d| d.get_ref() == to)
                .map(|d| d.span())
                .unwrap_or(0..0);
            self.problem_with_help(
                format!("depends_on has a cycle: {}", cycle.join(" → ")),
                span,
                "closes the cycle",
                "a service cannot depend on itself, directly or through others; remove one of these edges",
            );
        }
    }
}

fn default_environments() -> Vec<Environment> {
    let env = |name: &str, branch: &str, latest| Environment {
        name: name.into(),
        branch: branch.into(),
        latest,
        clusters: Vec::new(),
        canary: None,
        rollout_timeout: Duration::from_secs(15 * 60),
        poll_interval: Duration::from_secs(10),
        build_args: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    vec![
        env("dev", "development", false),
        env("prod", "main", true),
        env("stage", "develop", false),
    ]
}

/// `./a/b/` → `a/b`; `.` and `./` → `.`.
fn normalize(p: &str) -> String {
    // `a/../b` is `b`; a `..` with nothing left to undo stays, and marks a path that leaves the
    // repository (see `Resolver::contained`).
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/').filter(|c| !c.is_empty() && *c != ".") {
        match (c, parts.last()) {
            ("..", Some(&last)) if last != ".." => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && name.len() <= 100
}

fn valid_tag_prefix(name: &str) -> bool {
    valid_service_name(name) && name.len() <= 64
}

fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
        })
}

fn parse_registry(s: &str) -> Result<Registry, String> {
    if s == "ecr" {
        return Ok(Registry::Ecr);
    }
    if let Some(host) = s.strip_prefix("ecr://") {
        return shared::parse_ecr_host(host);
    }
    let Some(rest) = s.strip_prefix("oci://") else {
        return Err("it is neither \"ecr\", an ecr:// nor an oci:// address".into());
    };
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p.trim_end_matches('/'))),
        None => (rest, None),
    };
    if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
        return Err(
            "the host is missing or malformed (credentials go in the environment, not the address)"
                .into(),
        );
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{port}` is not a port"));
    }
    let prefix = prefix.filter(|p| !p.is_empty());
    if let Some(p) = prefix
        && !valid_repository(p)
    {
        return Err(format!("`{p}` is not a valid repository prefix"));
    }
    Ok(Registry::Oci {
        host: host.to_string(),
        prefix: prefix.map(str::to_string),
    })
}

/// `500ms`, `10s`, `15m`, `1h`, `1m30s`, in humantime's grammar (which also reads `1h 30m`, `2days`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// The known name closest to `name`, when it is close enough to be a likely typo.
fn closest<'a>(name: &str, known: &BTreeSet<&'a str>) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;
    use test_case::test_case;

    /// Parses `toml` in a temporary tree where every service path exists.
    fn parse(toml: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a", "b", "libs/c"] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        Config::parse(
            toml,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .map_err(|e| match e {
            ConfigError::Invalid(p) => p.problems.iter().map(|p| p.message.clone()).collect(),
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn defaults() {
        let c = parse("[services.a]\npath = \"a\"\n").unwrap();
        assert_eq!(c.project.repository, "{service}");
        assert_eq!(c.project.registry, Registry::Ecr);
        assert_eq!(c.project.retain, 10);
        assert_eq!(c.project.initial_version, Version::new(0, 1, 0));
        let envs: Vec<_> = c
            .environments
            .iter()
            .map(|e| (e.name.as_str(), e.branch.as_str(), e.latest))
            .collect();
        assert_eq!(
            envs,
            [
                ("dev", "development", false),
                ("prod", "main", true),
                ("stage", "develop", false)
            ]
        );
        let a = &c.services[0];
        assert_eq!(
            (a.dockerfile.as_str(), a.context.as_str()),
            ("Dockerfile", ".")
        );
        assert_eq!((a.ecs_service.as_str(), a.container.as_str()), ("a", "a"));
        assert!(a.image);
    }

    #[test]
    fn secrets_merge_like_build_args_and_cache_is_on_by_default() {
        let c = parse(indoc! {r#"
            [environments.prod]
            branch = "main"
            secrets = { A = "env:ENV_A", B = "env:ENV_B" }

            [services.a]
            path = "a"
            secrets = { B = "env:SERVICE_B" }
            environments.prod.secrets = { C = "env:PROD_C" }

            [services.b]
            path = "b"
            cache = false
        "#})
        .unwrap();
        let build = c.services[0].build(&c.environments[0]);
        assert_eq!(
            build.secrets.into_iter().collect::<Vec<_>>(),
            [
                ("A".to_string(), "env:ENV_A".to_string()),
                ("B".into(), "env:SERVICE_B".into()),
                ("C".into(), "env:PROD_C".into())
            ]
        );
        assert!(build.cache);
        assert!(!c.services[1].build(&c.environments[0]).cache);
    }

    #[test]
    fn everything_resolves() {
        let c = parse(indoc! {r#"
            [project]
            repository = "clinic/{service}"
            registry = "oci://127.0.0.1:5000/team"
            retain = 3
            initial_version = "1.0.0"

            [environments.prod]
            branch = "main"
            latest = true
            clusters = ["x", "y"]
            rollout_timeout = "1m30s"
            poll_interval = "500ms"

            [services.a]
            path = "./a/"
            depends_on = ["c"]
            version_file = "VERSION"

            [services.a.environments.prod]
            dockerfile = "Dockerfile.prod"
            build_args = { URL = "https://example.com" }
            clusters = ["x"]

            [services.c]
            path = "libs/c"
            image = false
        "#})
        .unwrap();
        assert_eq!(
            c.project.registry,
            Registry::Oci {
                host: "127.0.0.1:5000".into(),
                prefix: Some("team".into())
            }
        );
        assert_eq!(c.environments[0].rollout_timeout, Duration::from_secs(90));
        assert_eq!(c.environments[0].poll_interval, Duration::from_millis(500));
        let a = c.service("a").unwrap();
        assert_eq!(a.path, "a");
        assert_eq!(a.initial_version, Version::new(1, 0, 0));
        assert_eq!(
            a.environments["prod"].clusters.as_deref(),
            Some(&["x".to_string()][..])
        );
        assert_eq!(c.environment_for_branch("main").unwrap().name, "prod");
        assert!(c.environment_for_branch("feature").is_none());
    }

    #[test_case("[services.a]\npath = \"a\"\nimage = \"yes\"\n", "invalid type"; "wrong type")]
    #[test_case("[services.a]\n", "missing field `path`"; "missing path")]
    #[test_case("[project]\nrepository = \"Clinic/{service}\"\n", "not a valid image repository template"; "uppercase repository")]
    #[test_case("[project]\nregistry = \"oci://host:port\"\n", "`port` is not a port"; "bad port")]
    #[test_case("[project]\nregistry = \"oci://user:pw@host\"\n", "credentials go in the environment"; "credentials in the address")]
    #[test_case("[project]\ninitial_version = \"1.0\"\n", "is not a version"; "short version")]
    #[test_case("[environments.Prod]\nbranch = \"main\"\n", "cannot be a tag prefix"; "uppercase environment")]
    #[test_case("[environments.a]\nbranch = \"main\"\nlatest = true\n[environments.b]\nbranch = \"dev\"\nlatest = true\n", "`latest` is set on both"; "two latest")]
    #[test_case("[environments.a]\nbranch = \"main\"\nclusters = [\"x\", \"x\"]\n", "listed twice"; "repeated cluster")]
    #[test_case("[environments.a]\nbranch = \"main\"\npoll_interval = \"0s\"\n", "is not a duration"; "zero duration")]
    #[test_case("[services.A]\npath = \"a\"\n", "cannot name an image"; "uppercase service")]
    #[test_case("[services.a]\npath = \"../a\"\n", "must stay inside the repository"; "path outside")]
    #[test_case("[services.a]\npath = \"a\"\ndepends_on = [\"a\"]\n", "depends on itself"; "self dependency")]
    #[test_case("[services.a]\npath = \"a\"\nversion_file = \"setup.py\"\n", "cannot read a version"; "unknown version file")]
    #[test_case("[services.a]\npath = \"a\"\ndockerfile = \"/etc/Dockerfile\"\n", "must be a relative path"; "absolute dockerfile")]
    #[test_case("[services.a]\npath = \"a\"\ndepends_on = [\"b\"]\n[services.b]\npath = \"b\"\ndepends_on = [\"a\"]\n", "cycle: a → b → a"; "cycle")]
    #[test_case("[services.a]\npath = \"a\"\nsecrets = { NPM = \"NPM_TOKEN\" }\n", "is not a source"; "secret without env prefix")]
    #[test_case("[services.a]\npath = \"a\"\nsecrets = { \"a b\" = \"env:X\" }\n", "is not a secret id"; "bad secret id")]
    fn problems(toml: &str, expected: &str) {
        let problems = parse(toml).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }

    #[test_case("[services.a]\npath = \"a\"\ncontext = \"../../..\"\n", "`context` of service `a` leads outside the repository"; "context outside")]
    #[test_case("[services.a]\npath = \"a\"\ndockerfile = \"../../Dockerfile\"\n", "`dockerfile` of service `a` leads outside"; "dockerfile outside")]
    #[test_case("[services.a]\npath = \"a\"\ntask_definition = \"x/../../../td.json\"\n", "`task_definition` of service `a` leads outside"; "task definition outside")]
    #[test_case("[services.a]\npath = \"a\"\n[services.a.environments.prod]\ndockerfile = \"../../D\"\n", "`dockerfile` of service `a` leads outside"; "environment dockerfile outside")]
    fn paths_stay_inside_the_repository(toml: &str, expected: &str) {
        let toml = format!("[environments.prod]\nbranch = \"main\"\n{toml}");
        let problems = parse(&toml).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }

    #[test]
    fn a_context_one_level_up_inside_the_repository_is_fine() {
        let c = parse("[services.a]\npath = \"libs/c\"\ncontext = \"..\"\n").unwrap();
        assert_eq!(c.services[0].context, "..");
        assert_eq!(c.services[0].join(&c.services[0].context), "libs");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_repository_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("Dockerfile"), "FROM scratch").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("Dockerfile"),
            dir.path().join("a/Dockerfile"),
        )
        .unwrap();
        // Inside links are fine.
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("alias")).unwrap();
        let load = |toml: &str| {
            Config::parse(
                toml,
                "ci.toml",
                Path::new("ci.toml"),
                dir.path(),
                Checks::Load,
            )
            .map_err(|e| format!("{e:?}"))
        };
        let err = load("[services.x]\npath = \"escape\"\n").unwrap_err();
        assert!(
            err.contains("`path` of service `x` leads outside the repository through a symlink"),
            "{err}"
        );
        let err = load("[services.x]\npath = \"a\"\n").unwrap_err();
        assert!(
            err.contains("`dockerfile` of service `x` leads outside"),
            "{err}"
        );
        let err =
            load("[services.x]\npath = \"alias\"\ncontext = \"../escape/sub\"\n").unwrap_err();
        assert!(
            err.contains("`context` of service `x` leads outside"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("a/Dockerfile")).unwrap();
        assert!(load("[services.x]\npath = \"alias\"\n").is_ok());
    }

    #[test_case("10s", Some(10_000); "seconds")]
    #[test_case("15m", Some(900_000); "minutes")]
    #[test_case("1h", Some(3_600_000); "hours")]
    #[test_case("1m30s", Some(90_000); "compound")]
    #[test_case("250ms", Some(250); "milliseconds")]
    #[test_case("10", None; "no unit")]
    #[test_case("s", None; "no number")]
    #[test_case("1x", None; "unknown unit")]
    #[test_case("1d", Some(86_400_000); "days")]
    #[test_case("1h 30m", Some(5_400_000); "spaced")]
    #[test_case("", None; "empty")]
    fn durations(text: &str, millis: Option<u64>) {
        assert_eq!(parse_duration(text).map(|d| d.as_millis() as u64), millis);
    }

    #[test]
    fn a_typo_gets_a_suggestion_and_a_stranger_does_not() {
        let known: BTreeSet<&str> = ["common", "visits"].into();
        assert_eq!(closest("comon", &known), Some("common"));
        assert_eq!(closest("payments", &known), None);
    }
}
