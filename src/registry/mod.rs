//! The image registry: what a repository holds (tags and the digests they point at), through one
//! small interface with two backends, ECR ([`ecr`]) and OCI Distribution registries ([`oci`]).

pub mod ecr;
pub mod oci;

use std::collections::BTreeMap;

use bollard::auth::DockerCredentials;
use miette::Diagnostic;
use thiserror::Error;

use crate::config::{Config, Registry};
use crate::github::Env;

#[derive(Debug, Error, Diagnostic)]
pub enum RegistryError {
    #[error("cannot reach the registry {registry}: {why}")]
    #[diagnostic(
        code(shipit::registry::unreachable),
        help(
            "check the address in ci.toml (`project.registry`) and the network; for ECR, the AWS region and endpoint"
        )
    )]
    Unreachable { registry: String, why: String },

    #[error("shipit could not send its request to the registry {registry}: {why}")]
    #[diagnostic(
        code(shipit::registry::request),
        help(
            "a header could not be made from what shipit was given: look for a line break or another control character in SHIPIT_REGISTRY_USERNAME and SHIPIT_REGISTRY_PASSWORD"
        )
    )]
    Unsendable { registry: String, why: String },

    #[error("the registry {registry} refused the credentials: {why}")]
    #[diagnostic(code(shipit::registry::auth), help("{help}"))]
    Auth {
        registry: String,
        why: String,
        help: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] crate::aws::AwsError),

    #[error(
        "{reference} already exists and is another image ({existing}, not {wanted}): shipit never pushes over a version"
    )]
    #[diagnostic(
        code(shipit::registry::tag_exists),
        help(
            "a version is immutable: release a new version, or remove the tag by hand if it was pushed by mistake"
        )
    )]
    TagExists {
        reference: String,
        existing: String,
        wanted: String,
    },

    #[error("the registry {registry} answered {what}: {why}")]
    #[diagnostic(code(shipit::registry::protocol))]
    Protocol {
        registry: String,
        what: String,
        why: String,
    },
}

impl RegistryError {
    /// True when the user can fix this (credentials, names, addresses): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RegistryError::Aws(e) => e.is_bad_input(),
            RegistryError::Protocol { .. } | RegistryError::TagExists { .. } => false,
            _ => true,
        }
    }
}

/// What one repository holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoState {
    /// The repository's full address, for people (`host/name`).
    pub address: String,
    /// False when the repository does not exist yet: a normal state before the first push.
    pub exists: bool,
    /// Every tag, with the digest it points at when the backend knows it (see [`Client::list`]).
    pub tags: BTreeMap<String, Option<String>>,
}

impl RepoState {
    pub fn digest(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).and_then(|d| d.as_deref())
    }

    /// Tags that point at `digest`.
    pub fn tags_of<'a>(&'a self, digest: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tags
            .iter()
            .filter(move |(_, d)| d.as_deref() == Some(digest))
            .map(|(t, _)| t.as_str())
    }
}

/// The child digests of a manifest, when it is an image index (`manifests[].digest`).
pub fn index_children(manifest: &serde_json::Value) -> Option<Vec<String>> {
    let list = manifest.get("manifests")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m.get("digest").and_then(|d| d.as_str()))
            .map(str::to_string)
            .collect(),
    )
}

/// Tags grouped by the image they point at, for retention.
fn group_by_digest(state: &RepoState) -> Vec<crate::retention::Image> {
    let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tag, digest) in &state.tags {
        if let Some(d) = digest {
            by_digest.entry(d.clone()).or_default().push(tag.clone());
        }
    }
    by_digest
        .into_iter()
        .map(|(digest, tags)| crate::retention::Image { digest, tags })
        .collect()
}

/// Where and how the engine pushes one repository.
pub struct PushTarget {
    /// `host/name`, the image reference without a tag.
    pub reference: String,
    pub credentials: Option<DockerCredentials>,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(
            f,
            "PushTarget {{ reference: {:?}, credentials: {} }}",
            self.reference,
            if self.credentials.is_some() {
                "****"
            } else {
                "none"
            }
        )
    }
}

/// A connection to the project's registry.
pub enum Client {
    Ecr(ecr::Ecr),
    Oci(oci::Oci),
}

impl Client {
    /// Connects to the registry that ci.toml names, with credentials from the environment.
    pub async fn connect(config: &Config, env: &Env) -> Result<Client, RegistryError> {
        match &config.project.registry {
            Registry::Ecr => Ok(Client::Ecr(ecr::Ecr::new(&crate::aws::sdk_config().await?))),
            Registry::EcrAt { account, region } => Ok(Client::Ecr(ecr::Ecr::at(
                &crate::aws::sdk_config().await?,
                account,
                region,
            ))),
            Registry::Oci { host, prefix } => {
                Ok(Client::Oci(oci::Oci::new(host, prefix.as_deref(), env)?))
            }
        }
    }

    /// Where the engine pushes `repository`, and the credentials for it (in memory only). Creates an
    /// ECR repository that does not exist yet.
    pub async fn push_target(
        &self,
        repository: &str,
        config: &Config,
    ) -> Result<PushTarget, RegistryError> {
        match self {
            Client::Ecr(c) => c.push_target(repository, &config.project).await,
            Client::Oci(c) => Ok(PushTarget {
                reference: c.address(repository),
                credentials: c.credentials().map(|cr| DockerCredentials {
                    username: Some(cr.username.clone()),
                    password: Some(cr.password.clone()),
                    serveraddress: Some(c.host().to_string()),
                    ..Default::default()
                }),
            }),
        }
    }

    /// The digest `tag` points at in `repository`, or `None`.
    pub async fn digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        match self {
            Client::Ecr(c) => c.digest(repository, tag).await,
            Client::Oci(c) => c.digest(repository, tag).await,
        }
    }

    /// Adds `tag` to the image `digest` in `repository`, without pulling or pushing any layer.
    /// A tag already on that digest is done; a tag on another digest is an error, unless `moves`
    /// (`latest`, which follows every production release). A tag that does not move is claimed
    /// ([`Client::claim`]): one writer, read back after the write.
    pub async fn retag(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
        moves: bool,
    ) -> Result<(), RegistryError> {
        if !moves {
            return self.claim(repository, digest, tag).await.map(|_| ());
        }
        if self.digest(repository, tag).await?.as_deref() == Some(digest) {
            return Ok(());
        }
        match self {
            Client::Ecr(c) => c.retag(repository, digest, tag).await,
            Client::Oci(c) => c.retag(repository, digest, tag).await,
        }
    }

    /// Writes `tag` on `digest` only where the tag is absent, then reads it back, twice: the one
    /// writer of a tag is the run that finds it on its own digest afterwards. `Ok(true)` when this
    /// call wrote it, `Ok(false)` when it already named `digest`; [`RegistryError::TagExists`] when
    /// it names another image, before or after the write (another run won the race).
    ///
    /// ECR repositories shipit creates refuse a second writer themselves (immutable tags). An OCI
    /// registry has no conditional write: between the check and the write another run may write
    /// too; the read-back after the write, and again after a pause as long as the write took,
    /// catches every writer whose write lands in that time.
    pub async fn claim(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
    ) -> Result<bool, RegistryError> {
        let reference = || format!("{repository}:{tag}");
        let taken = |existing: String| RegistryError::TagExists {
            reference: reference(),
            existing,
            wanted: digest.to_string(),
        };
        match self.digest(repository, tag).await? {
            Some(d) if d == digest => return Ok(false),
            Some(d) => return Err(taken(d)),
            None => {}
        }
        let started = std::time::Instant::now();
        match self {
            Client::Ecr(c) => c.retag(repository, digest, tag).await?,
            Client::Oci(c) => c.retag(repository, digest, tag).await?,
        }
        let took = started.elapsed();
        for pause in [
            std::time::Duration::ZERO,
            took.min(std::time::Duration::from_secs(2)),
        ] {
            tokio::time::sleep(pause).await;
            match self.digest(repository, tag).await? {
                Some(d) if d == digest => {}
                Some(d) => return Err(taken(d)),
                None => {
                    return Err(RegistryError::Protocol {
                        registry: repository.to_string(),
                        what: format!("no {tag} after writing it"),
                        why: "the tag was removed while it was being written".to_string(),
                    });
                }
            }
        }
        Ok(true)
    }

    /// Every image of `repository` with all its tags (and, on ECR, the untagged ones), and the
    /// repository's address. A repository that does not exist has none.
    pub async fn images(
        &self,
        repository: &str,
    ) -> Result<(String, Vec<crate::retention::Image>), RegistryError> {
        match self {
            Client::Ecr(c) => c.images(repository).await,
            Client::Oci(c) => {
                let state = c.list(repository, &|_| true).await?;
                Ok((state.address.clone(), group_by_digest(&state)))
            }
        }
    }

    /// The manifests each of `digests` references when it is an image index (a multi-arch image,
    /// attestations): index digest → child digests. Plain images are left out.
    pub async fn children(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, RegistryError> {
        match self {
            Client::Ecr(c) => c.children(repository, digests).await,
            Client::Oci(c) => c.children(repository, digests).await,
        }
    }

    /// Carries out retention decisions on one repository; returns what could not be done.
    pub async fn remove(
        &self,
        repository: &str,
        decisions: &[crate::retention::Decision],
    ) -> Result<Vec<String>, RegistryError> {
        match self {
            Client::Ecr(c) => c.remove(repository, decisions).await,
            Client::Oci(c) => c.remove(repository, decisions).await,
        }
    }

    /// The tags of `repository`, with digests resolved for the tags `wanted` says yes to (ECR knows
    /// every digest anyway; an OCI registry costs one request per tag resolved).
    pub async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        match self {
            Client::Ecr(c) => c.list(repository).await,
            Client::Oci(c) => c.list(repository, wanted).await,
        }
    }
}
