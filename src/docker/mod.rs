//! The Docker engine, through its API (bollard): build an image from a context, tag it, push it.
//! `DOCKER_HOST` is honoured; credentials are handed to the engine per push, never written to disk.

pub mod buildkit;
pub mod context;
pub mod dockerfile;
pub mod endpoint;
mod inspect;

pub use endpoint::Endpoint;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{BuildInfo, BuildInfoAux, ImageId};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    #[error("cannot reach the Docker engine: {cause}")]
    #[diagnostic(
        code(shipit::docker::unreachable),
        help(
            "start Docker, or point DOCKER_HOST at a running engine (unix:///var/run/docker.sock, tcp://HOST:2375)"
        )
    )]
    Unreachable { cause: bollard::errors::Error },

    #[error("cannot pack the build context of {service}: {cause}")]
    #[diagnostic(code(shipit::docker::context))]
    Context {
        service: String,
        cause: context::ContextError,
    },

    #[error("building {service} failed: {cause}")]
    #[diagnostic(code(shipit::docker::build))]
    Build {
        service: String,
        cause: BuildFailure,
    },

    #[error("building {service} needs BuildKit: {dockerfile}:{line} uses {what}")]
    #[diagnostic(
        code(shipit::docker::needs_buildkit),
        help(
            "this Docker engine has no BuildKit (it needs Docker 18.09 or later on Linux): upgrade the engine, or build without that line"
        )
    )]
    NeedsBuildKit {
        service: String,
        dockerfile: String,
        line: usize,
        what: String,
    },

    #[error("pushing {reference} failed: {cause}")]
    #[diagnostic(code(shipit::docker::push))]
    Push {
        reference: String,
        cause: PushFailure,
    },
}

/// Why a build failed.
#[derive(Debug, Error)]
pub enum BuildFailure {
    #[error("`secrets` need BuildKit, which this Docker engine does not have")]
    SecretsNeedBuildKit,
    /// shipit's own connection to the engine (a build with secrets).
    #[error("{0}")]
    Session(buildkit::SessionError),
    #[error("{0}")]
    Query(serde_urlencoded::ser::Error),
    /// The engine's message, after the step that failed (its Dockerfile line under BuildKit, the
    /// last `Step N/M` line under the legacy builder) when known.
    #[error("{}", match step { Some(step) => format!("{step}: {error}"), None => error.clone() })]
    Step {
        step: Option<String>,
        /// The engine's words.
        error: String,
    },
    #[error("the engine returned no image")]
    NoImage,
}

/// Why a push failed.
#[derive(Debug, Error)]
pub enum PushFailure {
    #[error("could not tag the image: {0}")]
    Tag(bollard::errors::Error),
    #[error("{0}")]
    Engine(bollard::errors::Error),
    /// The engine's words.
    #[error("{0}")]
    Refused(String),
    #[error(
        "the engine's push did not finish within {}s ({} sets the deadline)",
        within.as_secs(),
        crate::env_vars::SHIPIT_HTTP_TIMEOUT
    )]
    Deadline { within: std::time::Duration },
}

/// An error of a build's stream: the engine's, through bollard or through shipit's own session.
#[derive(Debug, Error)]
enum StreamError {
    #[error("{0}")]
    Engine(bollard::errors::Error),
    #[error("{0}")]
    Session(buildkit::SessionError),
}

impl DockerError {
    /// True when the user can fix this (credentials, names, files): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DockerError::Unreachable { .. }
                | DockerError::Context { .. }
                | DockerError::NeedsBuildKit { .. }
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
    /// BuildKit secrets: id → value, served over the build session, never in the image.
    pub secrets: BTreeMap<String, String>,
    /// Images whose inline cache the build may reuse (`repository:tag`).
    pub cache_from: Vec<String>,
    /// Registry host → login, for pulling `cache_from` images.
    pub credentials: HashMap<String, DockerCredentials>,
}

/// An error from bollard's build stream: the engine's message as it wrote it.
fn stream_error(e: bollard::errors::Error) -> StreamError {
    StreamError::Engine(e)
}

impl StreamError {
    fn into_message(self) -> String {
        match self {
            StreamError::Engine(bollard::errors::Error::DockerStreamError { error }) => error,
            e => e.to_string(),
        }
    }
}

fn short_random() -> String {
    use rand::Rng;
    format!("{:016x}", rand::thread_rng().r#gen::<u64>())
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Where the engine is: the build session connects there too.
    endpoint: Endpoint,
    /// The local names this process gave images and has not removed yet: what a release stopped
    /// by a signal removes ([`Engine::remove_names_left`]).
    names: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Engine {
    /// Connects to the engine the environment names ([`Endpoint::from_env`]: `DOCKER_HOST`, TLS
    /// by `DOCKER_TLS_VERIFY` with the certificates of `DOCKER_CERT_PATH`, as the docker CLI
    /// does) and agrees on an API version; every request but a stream's body has a deadline (see
    /// [`crate::net`]). The build session reaches the engine by the same [`Endpoint`].
    pub async fn connect(env: &crate::github::Env) -> Result<Engine, DockerError> {
        let unreachable = |cause: bollard::errors::Error| DockerError::Unreachable { cause };
        // rustls has two crypto providers compiled in (the AWS SDK's and reqwest's): pick one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let endpoint = Endpoint::from_env(env);
        let docker = endpoint
            .client(crate::net::engine_timeout())
            .map_err(unreachable)?
            .with_timeout(crate::net::engine_timeout());
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine {
            docker,
            endpoint,
            names: Default::default(),
        })
    }

    fn names(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes every local name this process gave an image and did not remove: after a signal
    /// abandoned builds and pushes half way.
    pub async fn remove_names_left(&self) {
        let left = std::mem::take(&mut *self.names());
        for name in left {
            self.untag(&name).await;
        }
    }

    /// Builds an image; `log` receives every line of the build's output. Returns the image id.
    ///
    /// With BuildKit when the engine has it (cache and secret mounts, parallel stages, labels at no
    /// step's cost), else with the legacy builder.
    pub async fn build(
        &self,
        req: &BuildRequest,
        mut log: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let failed = |cause: BuildFailure| DockerError::Build {
            service: req.service.clone(),
            cause,
        };
        // The build names the image `req.tag`: the caller removes that name when done.
        self.names().insert(req.tag.clone());
        let dockerfile_text = std::fs::read_to_string(&req.dockerfile).unwrap_or_default();
        let buildkit = self.has_buildkit().await;
        if !buildkit {
            if let Some((line, what)) = buildkit::needs_buildkit(&dockerfile_text) {
                return Err(DockerError::NeedsBuildKit {
                    service: req.service.clone(),
                    dockerfile: req.dockerfile.display().to_string(),
                    line,
                    what: what.to_string(),
                });
            }
            if !req.secrets.is_empty() {
                return Err(failed(BuildFailure::SecretsNeedBuildKit));
            }
        }
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
                cause: context::ContextError::Stopped(e),
            })?
            .map_err(|cause| DockerError::Context {
                service: req.service.clone(),
                cause,
            })?
        };
        let build_args: HashMap<String, String> = req.build_args.clone().into_iter().collect();
        let labels: HashMap<String, String> = req.labels.clone().into_iter().collect();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&context.dockerfile)
            .t(&req.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&build_args)
            .labels(&labels)
            .target(req.target.as_deref().unwrap_or(""));
        if !req.cache_from.is_empty() {
            options = options.cachefrom(&req.cache_from);
        }
        // Secret values never reach a log line, whatever the build prints.
        let secrets: Vec<String> = req
            .secrets
            .values()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        let mut log = move |line: &str| {
            let mut line = line.to_string();
            for s in &secrets {
                line = line.replace(s.as_str(), "***");
            }
            log(&line);
        };
        let body = Bytes::from(context.tar);
        let api = {
            let v = self.docker.client_version();
            format!("{}.{}", v.major_version, v.minor_version)
        };
        // Keeps the session open until the build ends.
        let mut _session = None;
        let mut stream: futures_util::stream::BoxStream<'_, Result<BuildInfo, StreamError>> =
            if !buildkit {
                self.docker
                    .build_image(options.build(), None, Some(bollard::body_full(body)))
                    .map(|i| i.map_err(stream_error))
                    .boxed()
            } else if req.secrets.is_empty() {
                // bollard's session serves the registry logins (for `cachefrom`).
                let id = format!("shipit-{}", short_random());
                let options = options
                    .version(BuilderVersion::BuilderBuildKit)
                    .session(&id)
                    .build();
                let credentials = (!req.credentials.is_empty()).then(|| req.credentials.clone());
                self.docker
                    .build_image(options, credentials, Some(bollard::body_full(body)))
                    .map(|i| i.map_err(stream_error))
                    .boxed()
            } else {
                let values = req
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect();
                let session =
                    buildkit::open_session(&self.endpoint, &api, values, req.credentials.clone())
                        .await
                        .map_err(|e| failed(BuildFailure::Session(e)))?;
                let options = options
                    .version(BuilderVersion::BuilderBuildKit)
                    .session(&session.id)
                    .build();
                let query = serde_urlencoded::to_string(&options)
                    .map_err(|e| failed(BuildFailure::Query(e)))?;
                _session = Some(session);
                buildkit::build(&self.endpoint, &api, &query, body)
                    .await
                    .map_err(|e| failed(BuildFailure::Session(e)))?
                    .map(|i| i.map_err(StreamError::Session))
                    .boxed()
            };
        let mut image_id = None;
        let mut last_lines: Vec<String> = Vec::new();
        let mut progress = buildkit::Progress::default();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                let error = e.into_message();
                self.explain(
                    &mut log,
                    &progress,
                    &last_lines,
                    &dockerfile_text,
                    error,
                    req,
                )
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
                return Err(self.explain(
                    &mut log,
                    &progress,
                    &last_lines,
                    &dockerfile_text,
                    error,
                    req,
                ));
            }
            match info.aux {
                Some(BuildInfoAux::BuildKit(status)) => {
                    for line in progress.lines(&status) {
                        log(&line);
                    }
                }
                Some(BuildInfoAux::Default(ImageId { id: Some(id) })) => image_id = Some(id),
                _ => {}
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
                    cause: BuildFailure::NoImage,
                }),
        }
    }

    /// A build error with the step that failed: its Dockerfile line under BuildKit, the last
    /// `Step N/M` line under the legacy builder.
    fn explain(
        &self,
        log: &mut impl FnMut(&str),
        progress: &buildkit::Progress,
        last_lines: &[String],
        dockerfile: &str,
        error: String,
        req: &BuildRequest,
    ) -> DockerError {
        log(&error);
        let step = match &progress.failed {
            Some(name) => Some(match buildkit::dockerfile_line(dockerfile, name) {
                Some(line) => format!(
                    "{}:{line}: {}",
                    req.dockerfile
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default(),
                    name.split_once("] ").map_or(name.as_str(), |(_, i)| i)
                ),
                None => name.clone(),
            }),
            None => last_lines
                .iter()
                .rev()
                .find(|l| l.starts_with("Step "))
                .cloned(),
        };
        let (mut step, mut error) = (step, error);
        for s in req.secrets.values().filter(|v| !v.is_empty()) {
            error = error.replace(s.as_str(), "***");
            step = step.map(|step| step.replace(s.as_str(), "***"));
        }
        DockerError::Build {
            service: req.service.clone(),
            cause: BuildFailure::Step { step, error },
        }
    }

    /// True when the engine builds with BuildKit (`version=2`): a Linux engine of API 1.39
    /// (Docker 18.09) or later.
    pub async fn has_buildkit(&self) -> bool {
        let Ok(version) = self.docker.version().await else {
            return false;
        };
        let linux = version.os.as_deref().is_none_or(|os| os == "linux");
        let api = version.api_version.unwrap_or_default();
        let (major, minor) = api.split_once('.').unwrap_or(("0", "0"));
        let api = (
            major.parse::<u32>().unwrap_or(0),
            minor.parse::<u32>().unwrap_or(0),
        );
        linux && api >= (1, 39)
    }

    /// Gives `image` the name `repository:tag`.
    pub async fn tag(&self, image: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
        self.names().insert(format!("{repository}:{tag}"));
        let options = TagImageOptionsBuilder::default()
            .repo(repository)
            .tag(tag)
            .build();
        self.docker
            .tag_image(image, Some(options))
            .await
            .map_err(|e| DockerError::Push {
                reference: format!("{repository}:{tag}"),
                cause: PushFailure::Tag(e),
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
                cause: PushFailure::Engine(e),
            })?;
            if let Some(error) = info
                .error
                .or_else(|| info.error_detail.and_then(|d| d.message))
            {
                return Err(DockerError::Push {
                    reference,
                    cause: PushFailure::Refused(error),
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

    /// Waits until this process is the only shipit process of this machine that uses the local
    /// name `reference` (`repository:tag`), for at most `within`; the name is this process's until
    /// the lock is dropped. Two runs of the same inputs push under the same name: without the
    /// lock, one moves the name to its own image while the other pushes it, and the image the
    /// other pushed is left behind, untagged. `None` when no lock could be had (no temporary
    /// directory, or `within` passed): the caller goes on without it.
    pub async fn lock_name(
        &self,
        reference: &str,
        within: std::time::Duration,
    ) -> Option<NameLock> {
        use sha2::Digest;
        use std::os::fd::AsRawFd;
        let name = hex::encode(sha2::Sha256::digest(reference.as_bytes()));
        let path = std::env::temp_dir().join(format!("shipit-name-{}.lock", &name[..32]));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()?;
        let deadline = std::time::Instant::now() + within;
        loop {
            // SAFETY: flock(2) on a descriptor this function owns; no memory is involved.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Some(NameLock(file));
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Removes the references `repository@digest` that pushes of `repository` gave `image` in the
    /// engine (not the registry's), so that removing the image's last tag removes the image;
    /// failures are ignored.
    pub async fn forget_pushes(&self, image: &str, repository: impl std::fmt::Display) {
        let Ok(inspected) = self.docker.inspect_image(image).await else {
            return;
        };
        let prefix = format!("{repository}@");
        for pushed in inspected.repo_digests.unwrap_or_default() {
            if pushed.starts_with(&prefix) {
                self.untag(&pushed).await;
            }
        }
    }

    /// Removes a local image name (not the registry's); failures are ignored. Its untagged parents
    /// stay: they are the engine's layer cache, and a concurrent build may be using them.
    pub async fn untag(&self, reference: &str) {
        self.names().remove(reference);
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .noprune(true)
            .build();
        let _ = self
            .docker
            .remove_image(reference, Some(options), None)
            .await;
    }
}

/// The lock of [`Engine::lock_name`], released when dropped (the file is closed).
#[derive(Debug)]
pub struct NameLock(#[allow(dead_code)] std::fs::File);
