//! The Docker engine, through its API (bollard): build an image from a context, tag it, push it.
//! `DOCKER_HOST` is honoured; credentials are handed to the engine per push, never written to disk.

pub mod context;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    #[error("cannot reach the Docker engine: {why}")]
    #[diagnostic(
        code(shipit::docker::unreachable),
        help(
            "start Docker, or point DOCKER_HOST at a running engine (unix:///var/run/docker.sock, tcp://HOST:2375)"
        )
    )]
    Unreachable { why: String },

    #[error("cannot pack the build context of {service}: {why}")]
    #[diagnostic(code(shipit::docker::context))]
    Context { service: String, why: String },

    #[error("building {service} failed: {why}")]
    #[diagnostic(code(shipit::docker::build))]
    Build { service: String, why: String },

    #[error("pushing {reference} failed: {why}")]
    #[diagnostic(code(shipit::docker::push))]
    Push { reference: String, why: String },
}

impl DockerError {
    /// True when the user can fix this (credentials, names, files): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DockerError::Unreachable { .. } | DockerError::Context { .. }
        )
    }
}

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
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects to the engine at `DOCKER_HOST` (or the default socket) and agrees on an API version.
    pub async fn connect() -> Result<Engine, DockerError> {
        let unreachable =
            |e: bollard::errors::Error| DockerError::Unreachable { why: e.to_string() };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine { docker })
    }

    /// Builds an image; `log` receives every line of the build's output. Returns the image id.
    pub async fn build(
        &self,
        req: &BuildRequest,
        mut log: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let context = {
            let (dir, dockerfile) = (req.context.clone(), req.dockerfile.clone());
            let committed = req.committed.clone();
            tokio::task::spawn_blocking(move || match committed {
                Some(c) => c.pack(),
                None => context::pack(&dir, &dockerfile),
            })
            .await
            .map_err(|e| DockerError::Context {
                service: req.service.clone(),
                why: e.to_string(),
            })?
            .map_err(|why| DockerError::Context {
                service: req.service.clone(),
                why,
            })?
        };
        let build_args: HashMap<String, String> = req.build_args.clone().into_iter().collect();
        let labels: HashMap<String, String> = req.labels.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(&context.dockerfile)
            .t(&req.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&build_args)
            .labels(&labels)
            .target(req.target.as_deref().unwrap_or(""))
            .build();
        let body = bollard::body_full(context.tar.into());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut image_id = None;
        let mut last_lines: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Build {
                service: req.service.clone(),
                why: e.to_string(),
            })?;
            if let Some(text) = &info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    log(line);
                    last_lines.push(line.to_string());
                    if last_lines.len() > 3 {
                        last_lines.remove(0);
                    }
                }
            }
            if let Some(error) = info
                .error
                .or_else(|| info.error_detail.and_then(|d| d.message))
            {
                log(&error);
                // The step that failed is the last `Step N/M` line the engine printed.
                let step = last_lines
                    .iter()
                    .rev()
                    .find(|l| l.starts_with("Step "))
                    .cloned();
                let why = match step {
                    Some(step) => format!("{step}: {error}"),
                    None => error,
                };
                return Err(DockerError::Build {
                    service: req.service.clone(),
                    why,
                });
            }
            if let Some(id) = info.aux.and_then(|a| a.id) {
                image_id = Some(id);
            }
        }
        match image_id {
            Some(id) => Ok(id),
            // Older engines print no aux id: ask for the tag we gave.
            None => self
                .docker
                .inspect_image(&req.tag)
                .await
                .ok()
                .and_then(|i| i.id)
                .ok_or_else(|| DockerError::Build {
                    service: req.service.clone(),
                    why: "the engine returned no image".into(),
                }),
        }
    }

    /// Gives `image` the name `repository:tag`.
    pub async fn tag(&self, image: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
        let options = TagImageOptionsBuilder::default()
            .repo(repository)
            .tag(tag)
            .build();
        self.docker
            .tag_image(image, Some(options))
            .await
            .map_err(|e| DockerError::Push {
                reference: format!("{repository}:{tag}"),
                why: format!("could not tag the image: {e}"),
            })
    }

    /// Pushes `repository:tag` with `credentials` (held in memory only); the digest the registry
    /// stored, as the engine reports it.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: Option<DockerCredentials>,
    ) -> Result<Option<String>, DockerError> {
        let reference = format!("{repository}:{tag}");
        let mut digest = None;
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self
            .docker
            .push_image(repository, Some(options), credentials);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Push {
                reference: reference.clone(),
                why: e.to_string(),
            })?;
            if let Some(error) = info
                .error
                .or_else(|| info.error_detail.and_then(|d| d.message))
            {
                return Err(DockerError::Push {
                    reference,
                    why: error,
                });
            }
            // The engine's last word on a push: "TAG: digest: sha256:… size: N".
            if let Some(d) = info
                .status
                .as_deref()
                .and_then(|s| s.split_once(": digest: "))
                .and_then(|(_, rest)| rest.split_whitespace().next())
            {
                digest = Some(d.to_string());
            }
        }
        Ok(digest)
    }

    /// Removes a local image name (not the registry's); failures are ignored. Its untagged parents
    /// stay: they are the engine's layer cache, and a concurrent build may be using them.
    pub async fn untag(&self, reference: &str) {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .noprune(true)
            .build();
        let _ = self
            .docker
            .remove_image(reference, Some(options), None)
            .await;
    }
}
