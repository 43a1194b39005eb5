//! The resolved ci.toml that the rest of shipit reads: the project, its environments and services,
//! and what one service's build for one environment takes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use semver::Version;

use super::values::{is_normal, normalize};

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
    /// `platforms`: empty for one image of the engine's own platform.
    pub platforms: Vec<String>,
    /// How pushed images are signed, unless an environment says otherwise.
    pub sign: Option<super::Signing>,
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
    /// How long a native (blue/green, linear, canary) deployment is waited for.
    pub rollout_wait: super::raw::RolloutWait,
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets: id → where the value comes from (`env:VAR`).
    pub secrets: BTreeMap<String, String>,
    /// `platforms` of this environment, else the project's (empty: one image, the engine's own).
    pub platforms: Vec<String>,
    /// How images released here are signed (the environment's `sign`, else the project's).
    pub sign: Option<super::Signing>,
    /// What is checked before a rollout here; `None`: nothing (`verify = "off"`).
    pub verify: Option<super::Verification>,
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
    /// Relative to `path`: the CycloneDX JSON SBOM the test command writes, attached instead of
    /// the one shipit makes from the lockfiles.
    pub sbom: Option<String>,
    /// Globs relative to `path`: files the test command produces (ignored by git) that the build
    /// context takes from the working tree, on top of the commit's tree.
    pub artifacts: Vec<String>,
    /// Globs relative to `path`: changes there need the tests but no new image.
    pub test_only: Vec<String>,
    /// False for libraries: tested when affected, never built, pushed or deployed.
    pub image: bool,
    /// Relative to `path`.
    pub dockerfile: String,
    /// Relative to `path`.
    pub context: String,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// Relative to `path`: a dotenv file whose values (those an `ARG` names) are build args.
    pub build_args_file: Option<String>,
    /// BuildKit secrets: id → where the value comes from (`env:VAR`).
    pub secrets: BTreeMap<String, String>,
    /// The registry layer cache (inline cache pushed, `cache_from` the likeliest images).
    pub cache: bool,
    /// `platforms` of the service, when it sets them.
    pub platforms: Option<Vec<String>>,
    /// This service's own image repository (`{service}` not yet replaced), instead of the
    /// project's template.
    pub repository: Option<String>,
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
    pub platforms: Option<Vec<String>>,
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
    /// In a plan, also the values of `build_args_file` that the Dockerfile's `ARG`s name (below
    /// these).
    pub build_args: BTreeMap<String, String>,
    /// Repository-relative: the dotenv file of build args.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_args_file: Option<String>,
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
    /// The platforms built, each pushed by digest under one image index; empty: one image, the
    /// engine's own platform (and no index).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

impl Service {
    /// Joins a path relative to the service's directory onto it, repository-relative.
    pub fn join(&self, relative: &str) -> String {
        if relative == "." {
            return self.path.clone(); // normalised when resolved
        }
        let joined = if self.path == "." {
            relative.to_string()
        } else {
            [self.path.as_str(), "/", relative].concat()
        };
        match is_normal(&joined) {
            true => joined,
            false => normalize(&joined),
        }
    }

    /// The clusters this service rolls out to in `env`: its own list for `env`, else the
    /// environment's.
    pub fn clusters_in<'a>(&'a self, env: &'a Environment) -> &'a [String] {
        let over = self.environments.get(&env.name);
        over.and_then(|o| o.clusters.as_deref())
            .unwrap_or(&env.clusters)
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
            build_args_file: self.build_args_file.as_deref().map(|f| self.join(f)),
            secrets,
            cache: self.cache,
            clusters: self.clusters_in(env).to_vec(),
            task_definition: over
                .and_then(|o| o.task_definition.as_deref())
                .or(self.task_definition.as_deref())
                .map(|t| self.join(t)),
            service_definition: over
                .and_then(|o| o.service_definition.as_deref())
                .or(self.service_definition.as_deref())
                .map(|t| self.join(t)),
            platforms: over
                .and_then(|o| o.platforms.clone())
                .or_else(|| self.platforms.clone())
                .unwrap_or_else(|| env.platforms.clone()),
        }
    }

    /// The image repository of this service: its own `repository`, else the project's template.
    pub fn repository(&self, project: &Project) -> String {
        self.repository
            .as_deref()
            .unwrap_or(&project.repository)
            .replace("{service}", &self.name)
    }
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn environment_for_branch(&self, branch: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.branch == branch)
    }
}
