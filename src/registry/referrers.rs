//! OCI 1.1 referrers: an artifact (provenance, an SBOM, a signature) attached to an image as a
//! manifest whose `subject` is the image, and the list of an image's referrers.
//!
//! An artifact is an OCI image manifest with an `artifactType`, the empty config (`{}`), one layer
//! holding the payload, and the `subject`, put under its own digest. A registry that keeps the
//! referrers itself says so with an `OCI-Subject` answer (ECR); one that does not (the
//! Distribution registry 2.8) gets the referrers tag schema: an image index tagged
//! `sha256-<hex of the subject>` listing the artifacts, read, extended and put back. Reading
//! asks the registry's referrers API (ECR: `ListImageReferrers`; elsewhere
//! `GET /v2/NAME/referrers/DIGEST`), and the tag schema where it answers 404.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use bytes::Bytes;
use oci_spec::image::{
    Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifestBuilder, MediaType,
};

use super::error::{Problem, Request};
use super::manifest::{Manifest, OCI_INDEX, OCI_MANIFEST};
use super::oci::upload::Referrers;
use super::{Client, RegistryError};

/// The empty config of an artifact, and its media type.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// How many times the tag schema's index is read, extended and put back when another writer
/// changed it in between.
const SCHEMA_ATTEMPTS: usize = 4;

/// The referrers tag of `subject` (`sha256:<hex>` → `sha256-<hex>`), the tag schema's name.
pub fn schema_tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// The subject a referrers tag names (`sha256-<64 hex>` → `sha256:<hex>`); `None` for any other
/// tag.
pub fn schema_subject(tag: &str) -> Option<String> {
    let hex = tag.strip_prefix("sha256-")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| format!("sha256:{hex}"))
}

/// A descriptor of `digest` (`media_type`, `size` bytes).
pub fn descriptor(media_type: &str, digest: &str, size: u64) -> Result<Descriptor, RegistryError> {
    let digest = Digest::from_str(digest).map_err(spec_error)?;
    Ok(Descriptor::new(MediaType::from(media_type), size, digest))
}

fn spec_error(error: oci_spec::OciSpecError) -> RegistryError {
    RegistryError::protocol("-", Request::Artifact, Problem::Spec { error })
}

/// The artifact manifest: `artifact_type`, the empty config, one layer (`layer`), `subject`.
fn artifact_manifest(
    subject: &Descriptor,
    artifact_type: &str,
    layer: Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, RegistryError> {
    let empty = descriptor(EMPTY_CONFIG, &super::digest_of(EMPTY), EMPTY.len() as u64)?;
    let mut subject = subject.clone();
    // The subject names the image only: its own annotations and platform are not the artifact's.
    subject.set_annotations(None);
    subject.set_platform(None);
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::from(artifact_type))
        .config(empty)
        .layers(vec![layer])
        .subject(subject)
        .build()
        .map_err(spec_error)?;
    if !annotations.is_empty() {
        manifest.set_annotations(Some(
            annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    }
    serde_json::to_vec(&manifest)
        .map_err(|error| RegistryError::protocol("-", Request::Artifact, Problem::Json { error }))
}

impl Client {
    /// Attaches `payload` (of `blob_media_type`) to the image `subject` in `repository`, as an
    /// artifact of `artifact_type`; the artifact manifest's digest. The same payload attached
    /// twice is one artifact (the manifest is made of the inputs alone).
    pub async fn attach(
        &self,
        repository: &str,
        subject: &Descriptor,
        artifact_type: &str,
        blob_media_type: &str,
        payload: Bytes,
        annotations: &BTreeMap<String, String>,
    ) -> Result<String, RegistryError> {
        self.put_blob(repository, Bytes::from_static(EMPTY)).await?;
        let size = payload.len() as u64;
        let layer = self.put_blob(repository, payload).await?;
        let layer = descriptor(blob_media_type, &layer, size)?;
        let body = artifact_manifest(subject, artifact_type, layer, annotations)?;
        let put = self.put_by_digest(repository, OCI_MANIFEST, &body).await?;
        let subject_digest = subject.digest().to_string();
        if put.subject.as_deref() == Some(subject_digest.as_str()) {
            return Ok(put.digest);
        }
        let mut entry = descriptor(OCI_MANIFEST, &put.digest, body.len() as u64)?;
        entry.set_artifact_type(Some(MediaType::from(artifact_type)));
        if !annotations.is_empty() {
            entry.set_annotations(Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
        }
        self.add_to_schema(repository, &subject_digest, entry)
            .await?;
        Ok(put.digest)
    }

    /// Adds `entry` to the referrers index tagged `sha256-<hex>` of `subject` (made when there
    /// is none), then reads it back: another writer's index put in between is read again and
    /// extended, a few times.
    async fn add_to_schema(
        &self,
        repository: &str,
        subject: &str,
        entry: Descriptor,
    ) -> Result<(), RegistryError> {
        let tag = schema_tag(subject);
        let api = self.backend.api().await?;
        for _ in 0..SCHEMA_ATTEMPTS {
            let mut index = match api.manifest(repository, &tag).await? {
                Some(m) => parse_index(&m, &tag)?,
                None => ImageIndexBuilder::default()
                    .schema_version(2u32)
                    .media_type(MediaType::ImageIndex)
                    .manifests(Vec::new())
                    .build()
                    .map_err(spec_error)?,
            };
            if index
                .manifests()
                .iter()
                .any(|d| d.digest() == entry.digest())
            {
                return Ok(());
            }
            let mut manifests = index.manifests().clone();
            manifests.push(entry.clone());
            index.set_manifests(manifests);
            let bytes = serde_json::to_vec(&index).map_err(|error| {
                RegistryError::protocol("-", Request::Artifact, Problem::Json { error })
            })?;
            let manifest = Manifest {
                digest: super::digest_of(&bytes),
                media_type: OCI_INDEX.to_string(),
                bytes: bytes.into(),
            };
            api.put_manifest(repository, &tag, &manifest).await?;
            if let Some(m) = api.manifest(repository, &tag).await?
                && parse_index(&m, &tag)?
                    .manifests()
                    .iter()
                    .any(|d| d.digest() == entry.digest())
            {
                return Ok(());
            }
        }
        Err(RegistryError::protocol(
            &self.backend.name(),
            Request::ManifestPut,
            Problem::SchemaContended {
                tag,
                attempts: SCHEMA_ATTEMPTS,
            },
        ))
    }

    /// The payload of the artifact `digest` (a referrer [`Client::referrers`] found): its
    /// manifest's one layer, read back checked against its digest.
    pub async fn artifact_payload(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Bytes, RegistryError> {
        let m = self
            .backend
            .manifest(repository, digest)
            .await?
            .ok_or_else(|| self.not_there(repository, digest))?;
        let manifest: oci_spec::image::ImageManifest =
            serde_json::from_slice(&m.bytes).map_err(|error| {
                RegistryError::protocol(
                    &self.backend.name(),
                    Request::Artifact,
                    Problem::NotAnIndex {
                        reference: format!("{repository}@{digest}"),
                        error,
                    },
                )
            })?;
        let layer = manifest.layers().first().ok_or_else(|| {
            RegistryError::protocol(
                &self.backend.name(),
                Request::Artifact,
                Problem::NoLayer {
                    reference: format!("{repository}@{digest}"),
                },
            )
        })?;
        self.blob(repository, layer.digest().as_ref()).await
    }

    /// The artifacts whose subject is `subject` in `repository` (of `artifact_type` only, when
    /// given): the registry's referrers API, or the tag schema where it has none.
    pub async fn referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let all = match self
            .backend
            .listed_referrers(repository, subject, artifact_type)
            .await?
        {
            Some(listed) => listed,
            None => {
                let api = self.backend.api().await?;
                let found = match api.referrers(repository, subject, artifact_type).await? {
                    Referrers::Index(json) => {
                        serde_json::from_value::<ImageIndex>(json).map_err(|error| {
                            RegistryError::protocol(
                                &self.backend.name(),
                                Request::Referrers,
                                Problem::NotAnIndex {
                                    reference: format!("{repository}@{subject} referrers"),
                                    error,
                                },
                            )
                        })?
                    }
                    Referrers::Unsupported => {
                        let tag = schema_tag(subject);
                        match api.manifest(repository, &tag).await? {
                            Some(m) => parse_index(&m, &tag)?,
                            None => return Ok(Vec::new()),
                        }
                    }
                };
                found.manifests().clone()
            }
        };
        Ok(all
            .into_iter()
            .filter(|d| {
                artifact_type.is_none_or(|t| {
                    d.artifact_type()
                        .as_ref()
                        .is_some_and(|a| a.to_string() == t)
                })
            })
            .collect())
    }
}

impl Client {
    /// A descriptor of the manifest `digest` of `repository` (its media type and size, as
    /// stored): the `subject` of an artifact attached to it.
    pub async fn descriptor(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Descriptor, RegistryError> {
        let m = self
            .backend
            .manifest(repository, digest)
            .await?
            .ok_or_else(|| self.not_there(repository, digest))?;
        let media_type = match m.media_type.as_str() {
            "" => OCI_MANIFEST,
            t => t,
        };
        descriptor(media_type, &m.digest, m.bytes.len() as u64)
    }

    /// What refers to each image of `images` (one repository's, as [`Client::images`] lists
    /// them), for retention: the referrers tag schema's indexes (`sha256-<hex>` tags) with the
    /// artifacts they list; on ECR, which lists untagged images, each untagged one whose
    /// manifest names a `subject`; elsewhere, what the registry's referrers API answers for each
    /// image, where it has one.
    pub async fn referrers_by_subject(
        &self,
        repository: &str,
        images: &[crate::retention::Image],
    ) -> Result<BTreeMap<String, crate::retention::referrers::Attached>, RegistryError> {
        use crate::retention::referrers::Attached;
        let mut out: BTreeMap<String, Attached> = BTreeMap::new();
        let mut artifacts: std::collections::BTreeSet<String> = Default::default();
        for image in images {
            let Some(subject) = image.tags.iter().find_map(|t| schema_subject(t)) else {
                continue;
            };
            let m = self
                .backend
                .manifest(repository, &image.digest)
                .await?
                .ok_or_else(|| self.not_there(repository, &image.digest))?;
            let index = parse_index(&m, &schema_tag(&subject))?;
            let entry = out.entry(subject).or_default();
            entry.index = Some((image.digest.clone(), image.tags.clone()));
            for d in index.manifests() {
                artifacts.insert(d.digest().to_string());
                entry.artifacts.push(d.digest().to_string());
            }
        }
        if self.backend.lists_untagged() {
            // ECR lists every image, the artifacts among them (untagged): each names its subject
            // in its own manifest, a fact read from the registry, not asked of a list.
            let untagged: Vec<String> = images
                .iter()
                .filter(|i| i.tags.is_empty() && !artifacts.contains(&i.digest))
                .map(|i| i.digest.clone())
                .collect();
            for m in self.backend.manifests(repository, &untagged).await? {
                let subject = serde_json::from_slice::<serde_json::Value>(&m.bytes)
                    .ok()
                    .and_then(|j| Some(j.get("subject")?.get("digest")?.as_str()?.to_string()));
                if let Some(subject) = subject {
                    let entry = out.entry(subject).or_default();
                    if !entry.artifacts.contains(&m.digest) {
                        entry.artifacts.push(m.digest);
                    }
                }
            }
            return Ok(out);
        }
        // A registry that lists tags only: the artifacts are untagged, so unlisted; its
        // referrers API names them, where it has one.
        let subjects: Vec<&crate::retention::Image> = images
            .iter()
            .filter(|i| {
                !artifacts.contains(&i.digest)
                    && !i.tags.iter().any(|t| schema_subject(t).is_some())
            })
            .collect();
        let api = self.backend.api().await?;
        for (n, image) in subjects.iter().enumerate() {
            let listed = match api.referrers(repository, &image.digest, None).await? {
                Referrers::Index(json) => serde_json::from_value::<ImageIndex>(json)
                    .map(|i| i.manifests().clone())
                    .map_err(|error| {
                        RegistryError::protocol(
                            &self.backend.name(),
                            Request::Referrers,
                            Problem::NotAnIndex {
                                reference: format!("{repository}@{} referrers", image.digest),
                                error,
                            },
                        )
                    })?,
                // No referrers API: the tag schema, read above, is all there is. One answer
                // says it for the registry.
                Referrers::Unsupported if n == 0 => break,
                Referrers::Unsupported => Vec::new(),
            };
            for d in listed {
                let digest = d.digest().to_string();
                let entry = out.entry(image.digest.clone()).or_default();
                if !entry.artifacts.contains(&digest) {
                    entry.artifacts.push(digest);
                }
            }
        }
        Ok(out)
    }
}

/// The referrers index under `tag`, parsed.
fn parse_index(m: &Manifest, tag: &str) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(&m.bytes).map_err(|error| {
        RegistryError::protocol(
            "-",
            Request::Referrers,
            Problem::NotAnIndex {
                reference: tag.to_string(),
                error,
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_tag_names_its_subject_and_nothing_else() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(schema_subject(&schema_tag(&d)), Some(d));
        assert_eq!(schema_subject("sha256-abc"), None);
        assert_eq!(schema_subject(&format!("sha256-{}", "AB".repeat(32))), None);
        assert_eq!(schema_subject("prod-1.0.0"), None);
    }

    #[test]
    fn an_artifact_manifest_has_the_empty_config_one_layer_and_the_subject() {
        let subject = descriptor(OCI_MANIFEST, &format!("sha256:{}", "cd".repeat(32)), 7).unwrap();
        let layer = descriptor(
            "application/vnd.in-toto+json",
            &super::super::digest_of(b"x"),
            1,
        )
        .unwrap();
        let annotations = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let body = artifact_manifest(
            &subject,
            "application/vnd.in-toto+json",
            layer,
            &annotations,
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["mediaType"], OCI_MANIFEST);
        assert_eq!(json["artifactType"], "application/vnd.in-toto+json");
        assert_eq!(json["config"]["mediaType"], EMPTY_CONFIG);
        assert_eq!(
            json["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(json["config"]["size"], 2);
        assert_eq!(json["layers"].as_array().unwrap().len(), 1);
        assert_eq!(json["subject"]["digest"], subject.digest().to_string());
        assert_eq!(json["annotations"]["k"], "v");
    }
}
