//! ci.toml as written: serde types that deny unknown keys and keep the span of every value that a
//! later check may need to point at. Nothing here is validated beyond its TOML type.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub project: RawProject,
    pub environments: Option<BTreeMap<S<String>, RawEnvironment>>,
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub services: BTreeMap<S<String>, RawService>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub repository: Option<S<String>>,
    pub registry: Option<S<String>>,
    pub retain: Option<S<i64>>,
    pub default_branch: Option<S<String>>,
    pub initial_version: Option<S<String>>,
    pub scan_on_push: Option<bool>,
    pub immutable_tags: Option<bool>,
    pub untagged_expiry_days: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    pub branch: S<String>,
    pub latest: Option<S<bool>>,
    #[serde(default)]
    pub clusters: Vec<S<String>>,
    pub canary: Option<S<String>>,
    pub rollout_timeout: Option<S<String>>,
    pub poll_interval: Option<S<String>>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets: id → `env:VAR`.
    #[serde(default)]
    pub secrets: BTreeMap<String, S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    #[serde(default)]
    pub triggers: Vec<S<String>>,
    #[serde(default)]
    pub ignore: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub path: S<String>,
    #[serde(default)]
    pub include: Vec<S<String>>,
    #[serde(default)]
    pub exclude: Vec<S<String>>,
    #[serde(default)]
    pub depends_on: Vec<S<String>>,
    pub test: Option<String>,
    pub test_timeout: Option<S<String>>,
    #[serde(default = "yes")]
    pub image: bool,
    pub dockerfile: Option<S<String>>,
    pub context: Option<S<String>>,
    pub target: Option<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// BuildKit secrets: id → `env:VAR`.
    #[serde(default)]
    pub secrets: BTreeMap<String, S<String>>,
    /// False: no registry layer cache (no inline cache pushed, no `cache_from`).
    pub cache: Option<bool>,
    pub ecs_service: Option<String>,
    pub container: Option<String>,
    pub task_definition: Option<S<String>>,
    pub service_definition: Option<S<String>>,
    pub version_file: Option<S<String>>,
    pub initial_version: Option<S<String>>,
    #[serde(default)]
    pub environments: BTreeMap<S<String>, RawServiceEnvironment>,
}

/// `[services.NAME.environments.ENV]`: what one service does differently in one environment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceEnvironment {
    pub dockerfile: Option<S<String>>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, S<String>>,
    pub target: Option<String>,
    pub clusters: Option<Vec<S<String>>>,
    pub task_definition: Option<S<String>>,
    pub service_definition: Option<S<String>>,
}

fn yes() -> bool {
    true
}
