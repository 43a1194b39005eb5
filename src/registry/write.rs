//! Content written to the registry by digest, once above the backends: blobs, manifests under
//! their own digest or a tag (any media type: an image, an image index, an artifact), and a blob
//! read back checked against its digest. Both backends write through the Distribution API (ECR's
//! registry host with its token, as the engine pushes), except a manifest under a tag on ECR,
//! which is `PutImage` (ECR's own immutable-tag rule answers there).

use bytes::Bytes;

use super::manifest::Manifest;
use super::oci::upload::{Put, sha256_digest};
use super::{Client, RegistryError};

impl Client {
    /// Puts `bytes` as a blob of `repository` (HEAD first: a blob already there is not sent
    /// again); its digest. On ECR the repository must exist (see [`Client::push_target`]).
    pub async fn put_blob(&self, repository: &str, bytes: Bytes) -> Result<String, RegistryError> {
        self.backend.api().await?.put_blob(repository, bytes).await
    }

    /// The blob `digest` of `repository`, at most [`crate::limits::BLOB`] bytes, checked against
    /// its digest.
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Bytes, RegistryError> {
        self.backend
            .api()
            .await?
            .blob(repository, digest, crate::limits::BLOB)
            .await
    }

    /// The manifest a tag or digest names in `repository`, as stored (bytes, media type,
    /// digest); `None` when there is none.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        self.backend.manifest(repository, reference).await
    }

    /// Puts the manifest `body` (of `media_type`) under its own digest, no tag; its digest. The
    /// blobs it references must be there.
    pub async fn put_manifest_by_digest(
        &self,
        repository: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String, RegistryError> {
        Ok(self
            .put_by_digest(repository, media_type, body)
            .await?
            .digest)
    }

    /// [`Client::put_manifest_by_digest`], with the registry's `OCI-Subject` answer.
    pub(super) async fn put_by_digest(
        &self,
        repository: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<Put, RegistryError> {
        self.backend
            .api()
            .await?
            .put_manifest_by_digest(repository, media_type, body)
            .await
    }

    /// Puts the manifest `body` (of `media_type`: an image, an image index, an artifact) under
    /// `tag`, as given; its digest. No check of who else wrote the tag: to claim a version tag,
    /// put by digest and [`Client::claim`] it.
    pub async fn put_manifest_bytes_under_tag(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String, RegistryError> {
        let manifest = Manifest {
            digest: sha256_digest(body),
            media_type: media_type.to_string(),
            bytes: Bytes::copy_from_slice(body),
        };
        self.backend
            .put_manifest(repository, tag, &manifest)
            .await?;
        Ok(manifest.digest)
    }
}
