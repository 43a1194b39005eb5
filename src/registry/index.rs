//! Images of several platforms (`platforms` in ci.toml): each platform's image (a *leg*) pushed by
//! digest, with no tag of its own, and one image index (a Docker manifest list) over them, which
//! the fingerprint and version tags name. Written once over the primitives of `registry/write.rs`.
//!
//! A leg built by one job of a matrix (`release --platform P`) is *recorded* until the index is
//! assembled: a small manifest of its own (the leg's config and layers, an annotation naming the
//! leg's digest and platform) under the tag `{fingerprint tag}.leg.{os}-{arch}[-{variant}]`. Each
//! platform has its own record tag, so two legs running at once never write the same tag; the
//! record is a manifest apart from the leg, so deleting it (by its digest: an OCI Distribution
//! registry deletes no tag alone) takes its tag and leaves the leg. Once the index is written the
//! records are deleted: nothing lasts per platform but the index's children.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use super::backend::Id;
use super::error::{Problem, RegistryError};
use super::{Client, manifest};

/// One platform's image, pushed by digest: what an index names it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// `os/arch[/variant]`.
    pub platform: String,
    pub digest: String,
    /// The manifest's length in bytes.
    pub size: usize,
}

/// The tag that records the leg of `platform` of the image `tag` names once assembled.
pub fn record_tag(tag: &str, platform: &str) -> String {
    format!("{tag}.leg.{}", platform.replace('/', "-"))
}

impl Client {
    /// Uploads an image's config and gzipped layers as blobs and puts its Docker schema-2
    /// manifest by digest (no tag): one platform's image of an index.
    pub async fn push_leg(
        &self,
        repository: &str,
        platform: &str,
        config: Bytes,
        layers: &[Bytes],
    ) -> Result<Leg, RegistryError> {
        let config_size = config.len();
        let config_digest = self.put_blob(repository, config).await?;
        let mut descriptors = Vec::with_capacity(layers.len());
        for layer in layers {
            let size = layer.len();
            descriptors.push((self.put_blob(repository, layer.clone()).await?, size));
        }
        let body = manifest::image(&(config_digest, config_size), &descriptors);
        let digest = self
            .put_manifest_by_digest(repository, manifest::DOCKER_MANIFEST, &body)
            .await?;
        Ok(Leg {
            platform: platform.to_string(),
            digest,
            size: body.len(),
        })
    }

    /// Records `leg` as built for the image `tag` will name (see the module's comment). A record
    /// already there for the same leg is done; one for another leg of the same inputs (a second
    /// run of this platform) is left as it is, and its leg is the one the index takes.
    pub async fn record_leg(
        &self,
        repository: &str,
        tag: &str,
        leg: &Leg,
    ) -> Result<(), RegistryError> {
        let record_tag = record_tag(tag, &leg.platform);
        let leg_manifest = self.manifest_json(repository, &leg.digest).await?;
        let body = manifest::leg_record(&leg_manifest, &leg.digest, &leg.platform, leg.size);
        let written = self
            .put_manifest_bytes_under_tag(repository, &record_tag, manifest::OCI_MANIFEST, &body)
            .await;
        match written {
            Ok(_) => Ok(()),
            // An immutable tag written by another run of this leg: its record stands.
            Err(e) => match self.digest(repository, &record_tag).await? {
                Some(_) => Ok(()),
                None => Err(e),
            },
        }
    }

    /// The recorded legs for the image `tag` will name, by platform, among `platforms`: those
    /// recorded and whose leg is in the registry.
    pub async fn legs(
        &self,
        repository: &str,
        tag: &str,
        platforms: &[String],
    ) -> Result<BTreeMap<String, Leg>, RegistryError> {
        let mut out = BTreeMap::new();
        for platform in platforms {
            let Some(record) = self.digest(repository, &record_tag(tag, platform)).await? else {
                continue;
            };
            let json = self.manifest_json(repository, &record).await?;
            let Some(digest) = manifest::recorded_leg(&json) else {
                continue;
            };
            let Some(leg) = self.backend.manifest(repository, &digest).await? else {
                continue;
            };
            out.insert(
                platform.clone(),
                Leg {
                    platform: platform.clone(),
                    digest,
                    size: leg.bytes.len(),
                },
            );
        }
        Ok(out)
    }

    /// Deletes the records of `platforms` for the image `tag` names (each record by its digest:
    /// its tag goes with it, the leg stays). What could not be deleted is returned.
    pub async fn forget_legs(
        &self,
        repository: &str,
        tag: &str,
        platforms: &[String],
    ) -> Result<Vec<String>, RegistryError> {
        let mut records = Vec::new();
        for platform in platforms {
            if let Some(d) = self.digest(repository, &record_tag(tag, platform)).await? {
                records.push(d);
            }
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Id<'_>> = records.iter().map(|d| Id::Digest(d)).collect();
        self.backend.delete(repository, &ids).await
    }

    /// Puts the image index (a Docker manifest list) over `legs`, in their order, by digest.
    pub async fn put_index(&self, repository: &str, legs: &[Leg]) -> Result<String, RegistryError> {
        let children: Vec<(&str, usize, &str)> = legs
            .iter()
            .map(|l| (l.digest.as_str(), l.size, l.platform.as_str()))
            .collect();
        let body = manifest::list(&children);
        self.put_manifest_by_digest(repository, manifest::DOCKER_LIST, &body)
            .await
    }

    /// The platforms the image `digest` runs on (`os/arch[/variant]`): an index's children
    /// (attestations left out), or a single image's config `os`/`architecture`.
    pub async fn platforms(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let json = self.manifest_json(repository, digest).await?;
        if let Some(platforms) = manifest::index_platforms(&json) {
            return Ok(platforms);
        }
        let Some(config) = manifest::config_digest(&json) else {
            return Err(RegistryError::protocol(
                &self.backend.name(),
                self.backend.manifest_read(),
                Problem::NotInRegistry {
                    repository: repository.to_string(),
                    reference: format!("{digest} (its config)"),
                },
            ));
        };
        let config = self.backend.blob_json(repository, config).await?;
        Ok(manifest::config_platform(&config).into_iter().collect())
    }
}
