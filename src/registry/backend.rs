//! The two backends behind [`super::Client`], and the primitives each gives: one `match` a line
//! long per primitive, so that what is built from them is written once, in [`super`]. Private to
//! `registry/`: nothing else can tell the backends apart.

use super::error::Request;
use super::manifest::Manifest;
use super::{PushTarget, RegistryError, RepoState, ecr, oci};
use crate::image::Repository;
use crate::retention::Image;

pub(super) enum Backend {
    Ecr(ecr::Ecr),
    Oci(oci::Oci),
}

/// What a delete names: a tag alone (where the backend can; the image stays for its other tags),
/// or an image by digest.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Id<'a> {
    Tag { tag: &'a str, digest: &'a str },
    Digest(&'a str),
}

impl Backend {
    /// How messages name the registry.
    pub(super) fn name(&self) -> String {
        match self {
            Backend::Ecr(_) => "ECR".to_string(),
            Backend::Oci(c) => c.host().to_string(),
        }
    }

    /// The call that reads a manifest, as messages name it.
    pub(super) fn manifest_read(&self) -> Request {
        match self {
            Backend::Ecr(_) => Request::BatchGetImage,
            Backend::Oci(_) => Request::ManifestGet,
        }
    }

    /// True when a tag can be deleted alone. The Distribution API deletes manifests by digest
    /// only; ECR's `BatchDeleteImage` takes a tag.
    pub(super) fn deletes_tags(&self) -> bool {
        matches!(self, Backend::Ecr(_))
    }

    /// True when the registry lists untagged images too (ECR's `DescribeImages`); an OCI
    /// registry lists tags only.
    pub(super) fn lists_untagged(&self) -> bool {
        matches!(self, Backend::Ecr(_))
    }

    /// True when the registry refuses a second writer of a tag itself (the ECR repositories
    /// shipit creates have immutable tags).
    pub(super) fn guards_tags(&self) -> bool {
        matches!(self, Backend::Ecr(_))
    }

    pub(super) async fn push_target(
        &self,
        repository: &str,
        project: &crate::config::Project,
    ) -> Result<PushTarget, RegistryError> {
        match self {
            Backend::Ecr(c) => c.push_target(repository, project).await,
            Backend::Oci(c) => c.push_target(repository),
        }
    }

    pub(super) async fn repository(&self, repository: &str) -> Result<Repository, RegistryError> {
        match self {
            Backend::Ecr(c) => c.repository(repository).await,
            Backend::Oci(c) => c.repository(repository),
        }
    }

    /// The digest a tag names, or `None`.
    pub(super) async fn digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        match self {
            Backend::Ecr(c) => c.digest(repository, tag).await,
            Backend::Oci(c) => c.digest(repository, tag).await,
        }
    }

    /// The manifest a tag or digest names, as stored, or `None`.
    pub(super) async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        match self {
            Backend::Ecr(c) => c.manifest(repository, reference).await,
            Backend::Oci(c) => c.manifest(repository, reference).await,
        }
    }

    /// The manifests of many digests (ECR: a hundred a call; OCI: concurrently, one deadline).
    pub(super) async fn manifests(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<Vec<Manifest>, RegistryError> {
        match self {
            Backend::Ecr(c) => c.manifests(repository, digests).await,
            Backend::Oci(c) => c.manifests(repository, digests).await,
        }
    }

    pub(super) async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        match self {
            Backend::Ecr(c) => c.put_manifest(repository, tag, manifest).await,
            Backend::Oci(c) => c.put_manifest(repository, tag, manifest).await,
        }
    }

    pub(super) async fn blob_json(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        match self {
            Backend::Ecr(c) => c.blob_json(repository, digest).await,
            Backend::Oci(c) => c.blob_json(repository, digest).await,
        }
    }

    /// The registry's Distribution API (`/v2/…`), where content is written and read by digest:
    /// the registry itself, or ECR's registry host with the ECR token (as the engine pushes).
    pub(super) async fn api(&self) -> Result<&oci::Oci, RegistryError> {
        match self {
            Backend::Ecr(c) => c.api().await,
            Backend::Oci(c) => Ok(c),
        }
    }

    /// The referrers of `subject` where the backend has its own call for them (ECR's
    /// `ListImageReferrers`); `None` where the Distribution API is asked.
    pub(super) async fn listed_referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<oci_spec::image::Descriptor>>, RegistryError> {
        match self {
            Backend::Ecr(c) => c
                .referrers(repository, subject, artifact_type)
                .await
                .map(Some),
            Backend::Oci(_) => Ok(None),
        }
    }

    /// Deletes `ids`; returns what could not be done.
    pub(super) async fn delete(
        &self,
        repository: &str,
        ids: &[Id<'_>],
    ) -> Result<Vec<String>, RegistryError> {
        match self {
            Backend::Ecr(c) => c.delete(repository, ids).await,
            Backend::Oci(c) => c.delete(repository, ids).await,
        }
    }

    pub(super) async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        match self {
            Backend::Ecr(c) => c.list(repository).await,
            Backend::Oci(c) => c.list(repository, wanted).await,
        }
    }

    /// Every image with its tags (ECR lists untagged ones too; an OCI registry lists tags only).
    pub(super) async fn images(
        &self,
        repository: &str,
    ) -> Result<(String, Vec<Image>), RegistryError> {
        match self {
            Backend::Ecr(c) => c.images(repository).await,
            Backend::Oci(c) => {
                let state = c.list(repository, &|_| true).await?;
                Ok((state.address.to_string(), super::group_by_digest(&state)))
            }
        }
    }

    pub(super) async fn expire_untagged(
        &self,
        repository: &str,
        days: u32,
    ) -> Result<(), RegistryError> {
        match self {
            Backend::Ecr(c) => c.expire_untagged(repository, days).await,
            Backend::Oci(_) => Ok(()),
        }
    }
}
