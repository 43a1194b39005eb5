//! What a build is asked for: the one request the engine's build takes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::auth::DockerCredentials;

use super::context;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub service: String,
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The local name the image gets (`repository:tag`).
    pub tag: String,
    /// Build from this commit's tree (the release's); `None` builds from the working tree
    /// (`release --allow-dirty`).
    pub committed: Option<context::Committed>,
    /// BuildKit secrets: id → value, served over the build session, never in the image.
    pub secrets: BTreeMap<String, String>,
    /// Images whose inline cache the build may reuse (`repository:tag`).
    pub cache_from: Vec<String>,
    /// Registry host → login, for pulling `cache_from` images.
    pub credentials: HashMap<String, DockerCredentials>,
    /// The platform to build for (`os/arch[/variant]`); `None`: the engine's own.
    pub platform: Option<String>,
}
