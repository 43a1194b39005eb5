//! The second phase: raw values in, resolved values out, problems collected on the way.
//!
//! Over 600 lines: the resolver is one pass over the raw config whose rules (defaults,
//! per-environment overrides, globs, names, cross-references) share its problem list and spans;
//! split, each part would take and return the same state.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use semver::Version;

use super::raw::{self, RawConfig, RawEnvironment, RawService, RawServiceEnvironment, S};
use super::values::{
    REPOSITORY_RULE, closest, normalize, parse_duration, parse_registry, repository_problem,
    valid_repository, valid_service_name, valid_tag_prefix,
};
use super::{
    Checks, Config, Environment, Global, Problem, Project, Registry, Service, ServiceEnvironment,
};

/// The second phase: raw values in, resolved values out, problems collected on the way.
pub(super) struct Resolver<'a> {
    pub(super) root: &'a Path,
    pub(super) checks: Checks,
    pub(super) problems: Vec<Problem>,
    /// Paths with symlinks resolved, by what was asked: a service's path, context and Dockerfile
    /// share most of theirs, and every check shares the root's.
    /// By repository-relative path.
    pub(super) real: foldhash::HashMap<String, Option<Real>>,
    /// The repository's root with its symlinks resolved, once asked (`.` in `real`).
    pub(super) real_root: Option<PathBuf>,
    /// Folders that hold the paths of many services (`services/`), by repository-relative path:
    /// each is read once, whole, instead of asked one `lstat` per service.
    pub(super) listed: foldhash::HashMap<String, Option<Listing>>,
    /// When the containment checks are left for later ([`super::Later`]): for each service, the
    /// number of problems found when its checks would have run, so that they take that place.
    pub(super) later: Option<Vec<usize>>,
}

/// The names in a folder and what each is, without following symlinks.
pub(super) type Listing = foldhash::HashMap<std::ffi::OsString, Kind>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Folder,
    Symlink,
    Other,
}

/// Where a path of the repository really is, and whether it is a folder.
#[derive(Debug, Clone)]
pub(super) struct Real {
    /// The canonical path, once a symlink led somewhere; None for a path that no symlink leads
    /// through: it is where it is written, under the repository's real root.
    pub(super) resolved: Option<PathBuf>,
    pub(super) is_dir: bool,
}

impl Resolver<'_> {
    pub(super) fn problem(
        &mut self,
        message: impl Into<String>,
        span: Range<usize>,
        label: impl Into<String>,
    ) {
        self.problems.push(Problem::new(message, span, label));
    }

    pub(super) fn problem_with_help(
        &mut self,
        message: impl Into<String>,
        span: Range<usize>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(message, span, label).help(help));
    }

    /// The config, and its services as written (for the checks left for later).
    pub(super) fn resolve(
        &mut self,
        raw: RawConfig,
        file: &Path,
        root: &Path,
    ) -> (Config, BTreeMap<S<String>, RawService>) {
        let repository_span = raw.project.repository.as_ref().map(|r| r.span());
        let project = self.project(raw.project);
        let mut environments = self.environments(raw.environments, project.sign.as_ref());
        for env in environments.iter_mut().filter(|e| e.platforms.is_empty()) {
            env.platforms = project.platforms.clone();
        }
        let global = Global {
            triggers: self.globs(&raw.global.triggers),
            ignore: self.globs(&raw.global.ignore),
        };
        let env_names: BTreeSet<&str> = environments.iter().map(|e| e.name.as_str()).collect();
        let service_names: BTreeSet<&str> =
            raw.services.keys().map(|k| k.get_ref().as_str()).collect();
        self.list_crowded_folders(&raw.services);
        let mut services = Vec::new();
        for (name, service) in &raw.services {
            services.push(self.service(name, service, &project, &env_names, &service_names));
        }
        self.cycles(&raw.services);
        self.repositories(&raw.services, &services, &project);
        // Services with their own `repository` do not use the template.
        let images = services
            .iter()
            .filter(|s| s.image && s.repository.is_none())
            .count();
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
        let config = Config {
            file: file.to_path_buf(),
            root: root.to_path_buf(),
            project,
            environments,
            global,
            services,
        };
        (config, raw.services)
    }

    /// The repository each image service pushes to (the template applied, after the registry's
    /// prefix) is a name the registry takes: said at the service's key, before anything runs,
    /// rather than by the push after the tests. (A template or prefix that is wrong for every
    /// service is said at the template or the registry.)
    fn repositories(
        &mut self,
        raw: &BTreeMap<S<String>, RawService>,
        services: &[Service],
        project: &Project,
    ) {
        if !valid_repository(&project.repository.replace("{service}", "service")) {
            return;
        }
        let prefix = match &project.registry {
            Registry::Oci {
                prefix: Some(p), ..
            } if valid_repository(p) => Some(p.as_str()),
            _ => None,
        };
        let mut taken: BTreeMap<String, (&str, bool)> = BTreeMap::new();
        for (name, service) in raw.keys().zip(services) {
            if !service.image || !valid_service_name(name.get_ref()) {
                continue;
            }
            let repository = service.repository(project);
            // Two images in one repository would share their `<env>-X.Y.Z` tags.
            match taken.get(&repository) {
                // (Two on the template alone are said at the template.)
                Some((first, own)) if *own || service.repository.is_some() => {
                    let first = first.to_string();
                    self.problem_with_help(
                        format!(
                            "services `{first}` and `{}` would both push to the image repository `{repository}`",
                            name.get_ref()
                        ),
                        name.span(),
                        "repository used twice",
                        "give each service with an image its own `repository`",
                    );
                }
                _ => {
                    taken.insert(
                        repository.clone(),
                        (name.get_ref(), service.repository.is_some()),
                    );
                }
            }
            let full = match prefix {
                Some(p) => format!("{p}/{repository}"),
                None => repository.clone(),
            };
            if let Some(why) = repository_problem(&full) {
                self.problem_with_help(
                    format!(
                        "service `{}` would push to the image repository `{full}`, which is not a valid repository name: {why}",
                        name.get_ref()
                    ),
                    name.span(),
                    "not a repository name",
                    format!(
                        "rename the service ({REPOSITORY_RULE}), or set `image = false` for a library"
                    ),
                );
            }
        }
    }

    fn project(&mut self, raw: raw::RawProject) -> Project {
        let repository = match raw.repository {
            Some(r) => {
                let rendered = r.get_ref().replace("{service}", "service");
                if let Some(why) = repository_problem(&rendered) {
                    self.problem_with_help(
                        format!(
                            "`{}` is not a valid image repository template: {why}",
                            r.get_ref()
                        ),
                        r.span(),
                        "invalid repository",
                        format!(
                            "{REPOSITORY_RULE}; put `{{service}}` where the service's name goes"
                        ),
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
            platforms: self.platforms(raw.platforms.as_ref()).unwrap_or_default(),
            sign: self.sign(raw.sign.as_ref()),
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
        project_sign: Option<&super::Signing>,
    ) -> Vec<Environment> {
        let Some(raw) = raw else {
            let mut defaults = default_environments();
            for e in &mut defaults {
                e.sign = project_sign.cloned();
            }
            return defaults;
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
            let sign = match &env.sign {
                Some(own) => self.sign(Some(own)),
                None => project_sign.cloned(),
            };
            let verify = self.verify(
                name.get_ref(),
                env.verify,
                env.verify_key.as_ref(),
                env.verify_identity.as_ref(),
                sign.as_ref(),
                name.span(),
            );
            out.push(Environment {
                name: name.into_inner(),
                branch,
                latest: is_latest,
                clusters,
                canary,
                rollout_timeout,
                poll_interval,
                rollout_wait: env.rollout_wait.unwrap_or_default(),
                build_args: env.build_args,
                secrets: self.secrets(&env.secrets),
                platforms: self.platforms(env.platforms.as_ref()).unwrap_or_default(),
                sign,
                verify,
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

    pub(super) fn globs(&mut self, raw: &[S<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for g in raw {
            if g.get_ref().starts_with('!') {
                // .gitignore would re-include with it; matched as written it would name nothing,
                // and dropped it would silently mean the opposite of what it says.
                self.problem_with_help(
                    format!(
                        "`{}`: a pattern starting with `!` is not supported",
                        g.get_ref()
                    ),
                    g.span(),
                    "`!` is not supported",
                    "write a narrower pattern instead (e.g. `docs/**/*.md` rather than `**/*.md` with a `!` exception); a Dockerfile's own sources count whatever `ignore` says",
                );
                continue;
            }
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
        let context = match raw.context.as_ref() {
            // `/…`: from the repository root, as `../..` counted from `path` would say.
            Some(c) if c.get_ref().starts_with('/') => Some(from_root(&path, c.get_ref())),
            other => self.relative(other, "context"),
        }
        .unwrap_or_else(|| ".".into());
        let build_args_file = match raw.build_args_file.as_ref() {
            Some(f) if f.get_ref().trim_start_matches('/').is_empty() => {
                self.problem("`build_args_file` names no file", f.span(), "not a file");
                None
            }
            Some(f) if f.get_ref().starts_with('/') => Some(from_root(&path, f.get_ref())),
            other => self.relative(other, "build_args_file"),
        };
        let repository = raw.repository.as_ref().map(|r| {
            let rendered = r.get_ref().replace("{service}", key);
            if let Some(why) = repository_problem(&rendered) {
                self.problem_with_help(
                    format!(
                        "`repository = \"{}\"` of service `{key}` is not a valid image repository: {why}",
                        r.get_ref()
                    ),
                    r.span(),
                    "invalid repository",
                    REPOSITORY_RULE,
                );
            }
            r.get_ref().clone()
        });
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
            sbom: raw.sbom.as_ref().and_then(|p| self.inside_glob("sbom", p)),
            artifacts: raw
                .artifacts
                .iter()
                .filter_map(|a| self.inside_glob("artifacts", a))
                .collect(),
            test_only: raw
                .test_only
                .iter()
                .filter_map(|a| self.inside_glob("test_only", a))
                .collect(),
            image: raw.image,
            dockerfile,
            context,
            target: raw.target.clone(),
            build_args: raw.build_args.clone(),
            build_args_file,
            secrets: self.secrets(&raw.secrets),
            cache: raw.cache.unwrap_or(true),
            platforms: self.platforms(raw.platforms.as_ref()),
            repository,
            ecs_service: raw.ecs_service.clone().unwrap_or_else(|| key.clone()),
            container: raw.container.clone().unwrap_or_else(|| key.clone()),
            task_definition,
            service_definition,
            version_file,
            initial_version,
            environments,
        };
        match &mut self.later {
            Some(at) => at.push(self.problems.len()),
            None => self.contained_files(key, raw, &service),
        }
        // A missing path is reported already; the files under it would only repeat that.
        if let Checks::Files(definitions) = self.checks
            && self.root.join(&service.path).is_dir()
        {
            self.check_files(raw, &service, definitions);
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
            platforms: self.platforms(raw.platforms.as_ref()),
        }
    }

    /// `platforms = ["os/arch[/variant]", ...]`: each one a platform, none twice, not empty.
    fn platforms(&mut self, raw: Option<&S<Vec<S<String>>>>) -> Option<Vec<String>> {
        let raw = raw?;
        if raw.get_ref().is_empty() {
            self.problem_with_help(
                "`platforms` is empty",
                raw.span(),
                "no platform",
                "name at least one platform, such as \"linux/amd64\", or leave the key out",
            );
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        for p in raw.get_ref() {
            if !super::values::is_platform(p.get_ref()) {
                self.problem_with_help(
                    format!("`{}` is not a platform", p.get_ref()),
                    p.span(),
                    "not os/arch[/variant]",
                    "write os/arch or os/arch/variant in lowercase, such as \"linux/amd64\" or \"linux/arm64\"",
                );
            } else if out.contains(p.get_ref()) {
                self.problem_with_help(
                    format!("platform `{}` is listed twice", p.get_ref()),
                    p.span(),
                    "repeated",
                    "list each platform once",
                );
            } else {
                out.push(p.get_ref().clone());
            }
        }
        Some(out)
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
}

impl Resolver<'_> {
    /// Runs the containment checks left for later, and returns every problem in the order an
    /// immediate load finds them: each service's containment problems after its other ones.
    pub(super) fn checks_left(
        &mut self,
        raw: &BTreeMap<S<String>, RawService>,
        config: &Config,
    ) -> Vec<Problem> {
        let places = self.later.take().unwrap_or_default();
        let mut found = std::mem::take(&mut self.problems).into_iter();
        let mut out = Vec::new();
        let mut taken = 0;
        for (((name, raw), service), &at) in raw.iter().zip(&config.services).zip(&places) {
            out.extend(found.by_ref().take(at - taken));
            taken = at;
            self.contained_files(name.get_ref(), raw, service);
            out.append(&mut self.problems);
        }
        out.extend(found);
        out
    }
}

/// A path written from the repository root (`/`, `/proto`) as one relative to the service's
/// `path` (`../..`, `../../proto`): what the rest of shipit reads. Normalised.
fn from_root(path: &str, rooted: &str) -> String {
    let rest = rooted.trim_start_matches('/');
    let ups = match path {
        "." => 0,
        p => p.split('/').count(),
    };
    let mut out = vec![".."; ups].join("/");
    if !rest.is_empty() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(rest);
    }
    match out.is_empty() {
        true => ".".to_string(),
        false => normalize(&out),
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
        rollout_wait: Default::default(),
        build_args: BTreeMap::new(),
        secrets: BTreeMap::new(),
        platforms: Vec::new(),
        sign: None,
        verify: None,
    };
    vec![
        env("dev", "development", false),
        env("prod", "main", true),
        env("stage", "develop", false),
    ]
}
