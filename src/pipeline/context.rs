//! What a run of the stages is given: how to run ([`Options`]) and what the stages need from
//! outside ([`Context`]). The scheduler, each service's stages and the rollout stage all read them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::events::Stage;
use super::retain;
use super::stop::Stop;
use crate::config::Config;
use crate::docker::Engine;
use crate::registry::Client;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub skip: BTreeSet<Stage>,
    pub fail_fast: bool,
    /// Where the per-service logs go.
    pub log_dir: PathBuf,
    /// Signals: what has not started is cancelled, what runs is abandoned (rollouts excepted).
    pub stop: Arc<Stop>,
    /// Which images of a service with `platforms` this run builds.
    pub legs: Legs,
}

/// Which platforms' images of a service with `platforms` a run builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Legs {
    /// Every platform's, then the index, the tags and the rollout (`release`).
    #[default]
    All,
    /// This platform's only, pushed by digest and recorded; no index, no tag, no rollout
    /// (`release --platform P`, one job of a matrix on native runners).
    One(String),
    /// None: the recorded image of every platform under one index, then the tags and the rollout
    /// (`release --assemble`, after the matrix). Services without `platforms` build as usual.
    Assemble,
}

/// What the stages need from outside.
pub struct Context {
    pub config: Arc<Config>,
    pub engine: Option<Engine>,
    pub registry: Option<Arc<Client>>,
    /// Labels every image gets (`org.opencontainers.image.revision`, `.source`, …).
    pub labels: BTreeMap<String, String>,
    /// Retention after push; `None` for a branch with no environment.
    pub retainer: Option<Arc<retain::Retainer>>,
    /// ECS, when the environment has clusters.
    pub ecs: Option<crate::ecs::Ecs>,
    /// The commit whose tree every build context is taken from; `None` builds from the working
    /// tree (`release --allow-dirty`).
    pub commit: Option<String>,
    /// The environment, read once at the top: build secrets are read from it.
    pub env: crate::github::Env,
    /// What signs each pushed digest (the environment's `sign`).
    pub signer: Option<Arc<crate::sign::Signer>>,
    /// What the images of the rollout are checked against (the environment's `verify`).
    pub trust: Option<Arc<super::verify::Trust>>,
}
