//! The image registry: what a repository holds (tags and the digests they point at), through one
//! interface with two backends, ECR ([`ecr`], the AWS SDK) and OCI Distribution registries
//! ([`oci`], HTTP).
//!
//! The backends give primitives only ([`Backend`]): read a manifest (by tag or digest, with its
//! media type and digest), read a tag's digest, put a manifest under a tag, delete (an image by
//! digest, a tag alone where the backend can), list tags, read a blob. What is built from them is
//! written once, here, on [`Client`]: retag, the one-writer claim of a tag, promotion's tags, the
//! children of an index, an image's labels, and retention's removals with the rule that an OCI
//! registry cannot delete a tag alone ([`Client::feasible`]).
//!
//! Shape: a private enum of the two backends, not a trait. The set is closed (two backends, both in
//! this crate); the primitives are `async fn`s, which a trait could only put behind `dyn` with
//! boxed futures or a macro crate, where an enum dispatches statically in a `match` a line long;
//! and what differs in kind, not in wire (ECR refuses a second writer of a tag itself, an OCI
//! registry deletes no tag alone), is a method of the enum that the shared code asks. Callers
//! outside `registry/` see [`Client`] only: nothing there can match on the backend
//! (`tests/it/invariants.rs` checks it).

mod backend;
mod ecr;
mod error;
pub mod manifest;
mod oci;
pub mod referrers;
pub mod wire;
mod write;

use std::collections::BTreeMap;

use bollard::auth::DockerCredentials;

use crate::config::{Config, Registry};
use crate::github::Env;
use crate::image::Repository;
use crate::retention::{Decision, Image};
use backend::Backend;
pub(crate) use backend::Id;
pub use ecr::decode_token;
pub use error::{AuthProblem, Exchange, Problem, Quoted, RegistryError, Request, Unreached};
pub use manifest::Manifest;
pub use oci::upload::sha256_digest as digest_of;
pub use oci_spec::image::Descriptor;

/// `repository` in the registry at `host`: a registry that names no usable host is a protocol
/// error, never a bare name (which ECS and Docker would look up on Docker Hub).
pub(crate) fn address(host: &str, repository: &str) -> Result<Repository, RegistryError> {
    Repository::new(host, repository).map_err(|error| {
        RegistryError::protocol(host, Request::ItsAddress, Problem::Address { error })
    })
}

/// What one repository holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoState {
    /// The repository's address (`host/name`), the registry's whether the repository exists or not.
    pub address: Repository,
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

/// Tags grouped by the image they point at, for retention.
fn group_by_digest(state: &RepoState) -> Vec<Image> {
    let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tag, digest) in &state.tags {
        if let Some(d) = digest {
            by_digest.entry(d.clone()).or_default().push(tag.clone());
        }
    }
    by_digest
        .into_iter()
        .map(|(digest, tags)| Image { digest, tags })
        .collect()
}

/// Where and how the engine pushes one repository.
pub struct PushTarget {
    /// `host/name`, the image reference without a tag.
    pub reference: Repository,
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

/// Why expired tags stay on an image when the registry cannot delete a tag alone.
fn untag_refused(tags: &[String], digest: &str) -> String {
    format!(
        "{} on {digest}: an OCI registry cannot remove a single tag; the image stays for its other tags",
        tags.join(", ")
    )
}

/// A connection to the project's registry.
pub struct Client {
    backend: Backend,
}

impl Client {
    /// Connects to the registry that ci.toml names, with credentials from the environment.
    pub async fn connect(config: &Config, env: &Env) -> Result<Client, RegistryError> {
        match &config.project.registry {
            Registry::Ecr => Ok(Client::ecr(&crate::aws::sdk_config().await?)),
            Registry::EcrAt { account, region } => Ok(Client::ecr_at(
                &crate::aws::sdk_config().await?,
                account,
                region,
            )),
            Registry::Oci { host, prefix } => Client::oci(host, prefix.as_deref(), env),
        }
    }

    /// The caller's own ECR registry, in the SDK's region.
    pub fn ecr(sdk: &aws_config::SdkConfig) -> Client {
        Client {
            backend: Backend::Ecr(ecr::Ecr::new(sdk)),
        }
    }

    /// Another account's ECR registry, in its region: every call names the account.
    pub fn ecr_at(sdk: &aws_config::SdkConfig, account: &str, region: &str) -> Client {
        Client {
            backend: Backend::Ecr(ecr::Ecr::at(sdk, account, region)),
        }
    }

    /// The OCI Distribution registry at `host` (under `prefix`), with credentials from `env`.
    pub fn oci(host: &str, prefix: Option<&str>, env: &Env) -> Result<Client, RegistryError> {
        Ok(Client {
            backend: Backend::Oci(oci::Oci::new(host, prefix, env)?),
        })
    }

    /// Where the engine pushes `repository`, and the credentials for it (in memory only). Creates an
    /// ECR repository that does not exist yet.
    pub async fn push_target(
        &self,
        repository: &str,
        config: &Config,
    ) -> Result<PushTarget, RegistryError> {
        self.backend.push_target(repository, &config.project).await
    }

    /// The address of `repository` in this registry (`host/name`): the one place an image's
    /// address is made, for the plan, the push, the report and the task definition. For ECR the
    /// host is the registry's own answer (`GetAuthorizationToken`), asked once.
    pub async fn repository(&self, repository: &str) -> Result<Repository, RegistryError> {
        self.backend.repository(repository).await
    }

    /// The digest `tag` points at in `repository`, or `None`.
    pub async fn digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        self.backend.digest(repository, tag).await
    }

    /// True when the registry itself refuses a second writer of a tag (the ECR repositories
    /// shipit creates: immutable tags), so no other run can have moved one.
    pub fn guards_tags(&self) -> bool {
        self.backend.guards_tags()
    }

    /// Puts the manifest `digest` under `tag` as it is stored: the same bytes, the same image, no
    /// layer pulled or pushed.
    async fn write_tag(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let manifest = self
            .backend
            .manifest(repository, digest)
            .await?
            .ok_or_else(|| self.not_there(repository, digest))?;
        self.backend.put_manifest(repository, tag, &manifest).await
    }

    /// A manifest shipit needs that the registry does not have.
    pub(super) fn not_there(&self, repository: &str, reference: &str) -> RegistryError {
        RegistryError::protocol(
            &self.backend.name(),
            self.backend.manifest_read(),
            Problem::NotInRegistry {
                repository: repository.to_string(),
                reference: reference.to_string(),
            },
        )
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
        self.write_tag(repository, digest, tag).await
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
        let taken = |existing: String| RegistryError::TagExists {
            repository: repository.to_string(),
            tag: tag.to_string(),
            existing,
            wanted: digest.to_string(),
        };
        match self.digest(repository, tag).await? {
            Some(d) if d == digest => return Ok(false),
            Some(d) => return Err(taken(d)),
            None => {}
        }
        let started = std::time::Instant::now();
        self.write_tag(repository, digest, tag).await?;
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
                    return Err(RegistryError::TagVanished {
                        repository: repository.to_string(),
                        tag: tag.to_string(),
                    });
                }
            }
        }
        Ok(true)
    }

    /// Every image of `repository` with all its tags (and, on ECR, the untagged ones), and the
    /// repository's address. A repository that does not exist has none.
    pub async fn images(&self, repository: &str) -> Result<(String, Vec<Image>), RegistryError> {
        self.backend.images(repository).await
    }

    /// The manifests each of `digests` references when it is an image index (a multi-arch image,
    /// attestations): index digest → child digests. Plain images are left out; a manifest that is
    /// not JSON is an error (what it references cannot be known).
    pub async fn children(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, RegistryError> {
        let mut out = BTreeMap::new();
        for m in self.backend.manifests(repository, digests).await? {
            let json = m.json().map_err(|error| {
                RegistryError::protocol(
                    &self.backend.name(),
                    self.backend.manifest_read(),
                    Problem::NotJson {
                        url: format!("{repository}@{}", m.digest),
                        error,
                    },
                )
            })?;
            if let Some(children) = manifest::index_children(&json) {
                out.insert(m.digest, children);
            }
        }
        Ok(out)
    }

    /// The labels of the image `digest` in `repository`, read from the registry (manifest, then
    /// config blob): what the image says it was built from. For an image index, those of its first
    /// image (attestations left out: every image of an index is built from the same inputs, with
    /// the same labels). `None` when there is no config.
    pub async fn labels(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<BTreeMap<String, String>>, RegistryError> {
        let mut json = self.manifest_json(repository, digest).await?;
        if let Some(child) = manifest::first_image(&json) {
            json = self.manifest_json(repository, &child).await?;
        }
        let Some(config) = manifest::config_digest(&json) else {
            return Ok(None);
        };
        let config = self.backend.blob_json(repository, config).await?;
        Ok(manifest::config_labels(&config))
    }

    /// The manifest `digest` as JSON: it must be there.
    async fn manifest_json(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let m = self
            .backend
            .manifest(repository, digest)
            .await?
            .ok_or_else(|| self.not_there(repository, digest))?;
        m.json().map_err(|error| {
            RegistryError::protocol(
                &self.backend.name(),
                self.backend.manifest_read(),
                Problem::NotJson {
                    url: format!("{repository}@{digest}"),
                    error,
                },
            )
        })
    }

    /// The decisions this registry can carry out: where it cannot delete a tag alone (an OCI
    /// registry deletes manifests, never a single tag), an image that keeps other tags keeps its
    /// expired ones too (`Untag` becomes `Keep`, saying why).
    pub fn feasible(&self, decisions: &mut [Decision], images: &[Image]) {
        if self.backend.deletes_tags() {
            return;
        }
        for d in decisions.iter_mut() {
            if let Decision::Untag { digest, tags, .. } = d {
                let why = format!(
                    "{} expired, but an OCI registry cannot remove a single tag",
                    tags.join(", ")
                );
                let all = images
                    .iter()
                    .find(|i| &i.digest == digest)
                    .map(|i| i.tags.clone())
                    .unwrap_or_default();
                *d = Decision::Keep {
                    digest: digest.clone(),
                    tags: all,
                    why,
                };
            }
        }
    }

    /// Carries out retention decisions on one repository; returns what could not be done (an
    /// `Untag` the registry cannot do among them: see [`Client::feasible`]).
    pub async fn remove(
        &self,
        repository: &str,
        decisions: &[Decision],
    ) -> Result<Vec<String>, RegistryError> {
        let mut ids = Vec::new();
        let mut not_done = Vec::new();
        for d in decisions {
            match d {
                Decision::Keep { .. } => {}
                Decision::Untag { digest, tags, .. } if !self.backend.deletes_tags() => {
                    not_done.push(untag_refused(tags, digest))
                }
                Decision::Untag { digest, tags, .. } => {
                    ids.extend(tags.iter().map(|tag| Id::Tag { tag, digest }))
                }
                Decision::Delete { digest, .. } => ids.push(Id::Digest(digest)),
            }
        }
        if !ids.is_empty() {
            not_done.extend(self.backend.delete(repository, &ids).await?);
        }
        Ok(not_done)
    }

    /// The registry's own expiry of untagged images after `days`, where it has one (an ECR
    /// lifecycle policy); nothing on an OCI registry.
    pub async fn expire_untagged(&self, repository: &str, days: u32) -> Result<(), RegistryError> {
        self.backend.expire_untagged(repository, days).await
    }

    /// The tags of `repository`, with digests resolved for the tags `wanted` says yes to (ECR knows
    /// every digest anyway; an OCI registry costs one request per tag resolved).
    pub async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        self.backend.list(repository, wanted).await
    }
}

#[cfg(test)]
mod tests;
