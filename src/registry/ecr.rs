//! Amazon ECR through the AWS SDK (configured in [`crate::aws`]): the primitives of
//! [`super::Backend`] (read, put and delete images, list tags), plus what only ECR has (tokens,
//! repositories created on the first push, the lifecycle policy). Retag, promotion and removal
//! are written above them, in [`super`].
//!
//! Over 500 lines for ECR's whole surface shipit uses, each call paginated and its errors
//! classified; one SDK client, one file.

mod referrers;

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::ImageIdentifier;

use super::error::{Problem, Request};
use super::manifest::{MANIFEST_TYPES, Manifest};
use super::{Id, RegistryError, RepoState};
use crate::image::Repository;

/// How ECR names itself in messages (its host is known only after a token).
const ECR: &str = "ECR";

pub struct Ecr {
    pub client: aws_sdk_ecr::Client,
    /// A central registry's account: named on every call (ECR's `registryId`).
    pub registry_id: Option<String>,
    /// The registry's host, once `GetAuthorizationToken` named it.
    host: std::sync::OnceLock<String>,
    /// The registry API (`/v2/…`) with the token, once an image's labels were asked for.
    api: std::sync::OnceLock<super::oci::Oci>,
}

/// What `GetAuthorizationToken` gives: the engine's credentials and where the registry is.
struct Login {
    username: String,
    password: String,
    /// `proxyEndpoint` as ECR writes it (`https://HOST`).
    endpoint: String,
    host: String,
}

fn classify<E, R>(what: &str, e: SdkError<E, R>) -> RegistryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    RegistryError::Aws(crate::aws::classify("ecr", what, e))
}

/// The JSON of the backstop lifecycle policy.
pub fn lifecycle_policy(days: u32) -> String {
    serde_json::json!({"rules": [{
        "rulePriority": 1,
        "description": format!("shipit backstop: expire untagged images after {days} days (tagged ones are shipit's retention's)"),
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
        "action": {"type": "expire"}
    }]})
    .to_string()
}

/// An ECR authorization token is base64 of `user:password`.
pub fn decode_token(token: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl Ecr {
    /// The push reference and the engine's credentials, from `GetAuthorizationToken`; the repository
    /// is created when it does not exist.
    pub async fn push_target(
        &self,
        repository: &str,
        project: &crate::config::Project,
    ) -> Result<super::PushTarget, RegistryError> {
        self.ensure_repository(repository, project).await?;
        let login = self.login().await?;
        Ok(super::PushTarget {
            reference: super::address(&login.host, repository)?,
            credentials: Some(bollard::auth::DockerCredentials {
                username: Some(login.username),
                password: Some(login.password),
                serveraddress: Some(login.endpoint),
                ..Default::default()
            }),
        })
    }

    /// The registry's host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`), as `GetAuthorizationToken`'s
    /// `proxyEndpoint` names it: the registry's own answer, whether a repository exists or not.
    /// Asked once per run.
    pub async fn host(&self) -> Result<String, RegistryError> {
        if let Some(host) = self.host.get() {
            return Ok(host.clone());
        }
        Ok(self.login().await?.host)
    }

    /// `host/repository`, the address of `repository` in this registry.
    pub async fn repository(&self, repository: &str) -> Result<Repository, RegistryError> {
        super::address(&self.host().await?, repository)
    }

    /// A blob (an image config) as JSON, through the registry API (`/v2/…`) with the ECR token,
    /// as the engine pulls it: the SDK has no call for blobs.
    pub async fn blob_json(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        self.api().await?.blob_json(repository, digest).await
    }

    /// The registry API (`/v2/…` on the registry's host) with the ECR token: what the engine
    /// pushes and pulls through, and where blobs, manifests by digest and referrers are written
    /// and read (the SDK has no call for blobs or referrers). Made once per run.
    pub async fn api(&self) -> Result<&super::oci::Oci, RegistryError> {
        if let Some(api) = self.api.get() {
            return Ok(api);
        }
        let login = self.login().await?;
        let api = super::oci::Oci::with_credentials(
            &login.host,
            None,
            Some(super::oci::Credentials {
                username: login.username,
                password: login.password,
            }),
        )?;
        Ok(self.api.get_or_init(|| api))
    }

    /// `GetAuthorizationToken`, for this registry (a central registry's account named).
    async fn login(&self) -> Result<Login, RegistryError> {
        let protocol =
            |problem| RegistryError::protocol(ECR, Request::GetAuthorizationToken, problem);
        // `registryIds` no longer changes what the token opens, but it still chooses whose
        // `proxyEndpoint` is answered: the central registry's, not the caller's own.
        #[allow(deprecated)]
        let out = self
            .client
            .get_authorization_token()
            .set_registry_ids(self.registry_id.clone().map(|id| vec![id]))
            .send()
            .await
            .map_err(|e| classify("GetAuthorizationToken", e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| protocol(Problem::NoAuthorizationData))?;
        let (username, password) = decode_token(data.authorization_token().unwrap_or(""))
            .ok_or_else(|| protocol(Problem::TokenNotBase64))?;
        // The token is a credential from here on: no output may show it (nor its base64 form).
        crate::redact::add(&password);
        if let Some(token) = data.authorization_token() {
            crate::redact::add(token);
        }
        let endpoint = data.proxy_endpoint().unwrap_or("").to_string();
        let host = endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        if host.is_empty() {
            return Err(protocol(Problem::NoProxyEndpoint));
        }
        let _ = self.host.set(host.clone());
        Ok(Login {
            username,
            password,
            endpoint,
            host,
        })
    }

    /// The backstop lifecycle policy, when `untagged_expiry_days` is set: untagged images only, so it
    /// can never expire an image that shipit rolled out (those are always tagged, and retention never
    /// untags a running image). Count rules are never used: they know nothing of what ECS runs.
    pub async fn expire_untagged(&self, repository: &str, days: u32) -> Result<(), RegistryError> {
        let policy = lifecycle_policy(days);
        match self
            .client
            .put_lifecycle_policy()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .lifecycle_policy_text(policy)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Nothing pushed yet: the policy goes on with the repository, at the first push.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("PutLifecyclePolicy", e)),
        }
    }

    async fn ensure_repository(
        &self,
        repository: &str,
        project: &crate::config::Project,
    ) -> Result<(), RegistryError> {
        use aws_sdk_ecr::types::{
            ImageScanningConfiguration, ImageTagMutability, ImageTagMutabilityExclusionFilter,
            ImageTagMutabilityExclusionFilterType,
        };
        // Every tag but `latest` is immutable: ECR itself refuses a second writer of a version
        // or fingerprint tag, while `latest` follows each production release. `immutable_tags`
        // makes `latest` immutable too.
        let created = self
            .client
            .create_repository()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository);
        let created = if project.immutable_tags {
            created.image_tag_mutability(ImageTagMutability::Immutable)
        } else {
            created
                .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
                .image_tag_mutability_exclusion_filters(
                    ImageTagMutabilityExclusionFilter::builder()
                        .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                        .filter("latest")
                        .build()
                        .map_err(|error| {
                            RegistryError::protocol(
                                ECR,
                                Request::CreateRepository,
                                Problem::Build { error },
                            )
                        })?,
                )
        };
        let scanning = ImageScanningConfiguration::builder()
            .scan_on_push(project.scan_on_push)
            .build();
        let mut created = created
            .image_scanning_configuration(scanning.clone())
            .send()
            .await;
        // An endpoint that does not know exclusion filters (an older emulator, a partition without
        // them) refuses the parameter: then the repository is mutable, and shipit's own
        // check-write-read-back is the one writer rule, as on an OCI registry.
        if let Err(e) = &created
            && !project.immutable_tags
            && e.as_service_error().is_some_and(|s| {
                s.is_invalid_parameter_exception() || s.meta().code() == Some("ValidationException")
            })
        {
            created = self
                .client
                .create_repository()
                .set_registry_id(self.registry_id.clone())
                .repository_name(repository)
                .image_tag_mutability(ImageTagMutability::Mutable)
                .image_scanning_configuration(scanning)
                .send()
                .await;
        }
        match created {
            Ok(_) => match project.untagged_expiry_days {
                Some(days) => self.expire_untagged(repository, days).await,
                None => Ok(()),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("CreateRepository", e)),
        }
    }

    pub async fn digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let out = self
            .client
            .batch_get_image()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .images()
                .first()
                .and_then(|i| i.image_id())
                .and_then(|id| id.image_digest())
                .map(str::to_string)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("BatchGetImage", e)),
        }
    }

    /// `BatchGetImage` of `ids`, accepting every manifest type shipit knows.
    async fn get_images(
        &self,
        repository: &str,
        ids: Vec<ImageIdentifier>,
    ) -> Result<Vec<Manifest>, RegistryError> {
        let mut call = self
            .client
            .batch_get_image()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .set_image_ids(Some(ids));
        for media_type in MANIFEST_TYPES {
            call = call.accepted_media_types(media_type);
        }
        let out = call
            .send()
            .await
            .map_err(|e| classify("BatchGetImage", e))?;
        Ok(out
            .images()
            .iter()
            .filter_map(|image| {
                Some(Manifest {
                    digest: image.image_id()?.image_digest()?.to_string(),
                    media_type: image
                        .image_manifest_media_type()
                        .unwrap_or_default()
                        .to_string(),
                    bytes: image.image_manifest()?.to_string().into(),
                })
            })
            .collect())
    }

    /// The manifest a tag or digest names (`BatchGetImage`); `None` when there is none.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let id = match super::wire::valid_digest(reference) {
            true => ImageIdentifier::builder().image_digest(reference),
            false => ImageIdentifier::builder().image_tag(reference),
        };
        Ok(self
            .get_images(repository, vec![id.build()])
            .await?
            .into_iter()
            .next())
    }

    /// The manifests of `digests` that are there: `BatchGetImage`, a hundred a call.
    pub async fn manifests(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<Vec<Manifest>, RegistryError> {
        let mut out = Vec::new();
        for chunk in digests.chunks(100) {
            let ids = chunk
                .iter()
                .map(|d| ImageIdentifier::builder().image_digest(d).build())
                .collect();
            out.extend(self.get_images(repository, ids).await?);
        }
        Ok(out)
    }

    /// `PutImage` of `manifest` under `tag`.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        let mut put = self
            .client
            .put_image()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .image_manifest(String::from_utf8_lossy(&manifest.bytes))
            .image_tag(tag);
        if !manifest.media_type.is_empty() {
            put = put.image_manifest_media_type(&manifest.media_type);
        }
        match put.send().await {
            Ok(_) => Ok(()),
            // The same manifest under the same tag: already done (a rerun). An immutable tag that
            // exists: the caller reads it back, and the same digest there counts as done.
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_image_already_exists_exception()
                        || s.is_image_tag_already_exists_exception()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("PutImage", e)),
        }
    }

    pub fn new(config: &aws_config::SdkConfig) -> Ecr {
        Ecr {
            client: aws_sdk_ecr::Client::new(config),
            registry_id: None,
            host: Default::default(),
            api: Default::default(),
        }
    }

    /// Another account's registry, in its region (`ecr://ACCOUNT.dkr.ecr.REGION.amazonaws.com`):
    /// every call names the account, and the token is that registry's.
    pub fn at(config: &aws_config::SdkConfig, account: &str, region: &str) -> Ecr {
        let conf = aws_sdk_ecr::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Ecr {
            client: aws_sdk_ecr::Client::from_conf(conf),
            registry_id: Some(account.to_string()),
            host: Default::default(),
            api: Default::default(),
        }
    }

    /// `BatchDeleteImage`: a tag alone (the image stays while it has other tags), or an image by
    /// digest, a hundred ids a call. Failures are retried once, then reported.
    pub async fn delete(
        &self,
        repository: &str,
        ids: &[Id<'_>],
    ) -> Result<Vec<String>, RegistryError> {
        let ids: Vec<ImageIdentifier> = ids
            .iter()
            .map(|id| match id {
                Id::Tag { tag, .. } => ImageIdentifier::builder().image_tag(*tag).build(),
                Id::Digest(digest) => ImageIdentifier::builder().image_digest(*digest).build(),
            })
            .collect();
        let mut not_done = Vec::new();
        for chunk in ids.chunks(100) {
            let mut pending: Vec<ImageIdentifier> = chunk.to_vec();
            for attempt in 0..2 {
                let out = self
                    .client
                    .batch_delete_image()
                    .set_registry_id(self.registry_id.clone())
                    .repository_name(repository)
                    .set_image_ids(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|e| classify("BatchDeleteImage", e))?;
                let mut retry = Vec::new();
                for f in out.failures() {
                    let code = f
                        .failure_code()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default();
                    // Already gone (a concurrent run, or the digest went with its last tag): done.
                    if code == "ImageNotFound" {
                        continue;
                    }
                    let id = f
                        .image_id()
                        .cloned()
                        .unwrap_or_else(|| ImageIdentifier::builder().build());
                    if attempt == 0 {
                        retry.push(id);
                    } else {
                        let what = id
                            .image_tag()
                            .or(id.image_digest())
                            .unwrap_or("?")
                            .to_string();
                        not_done.push(format!(
                            "{what}: {code} {}",
                            f.failure_reason().unwrap_or("")
                        ));
                    }
                }
                if retry.is_empty() {
                    break;
                }
                pending = retry;
            }
        }
        Ok(not_done)
    }

    /// Every image in a repository (untagged ones too), with full pagination; `None` when the
    /// repository does not exist yet.
    async fn scan(
        &self,
        repository: &str,
    ) -> Result<Option<Vec<crate::retention::Image>>, RegistryError> {
        let mut images = Vec::new();
        let mut pages = self
            .client
            .describe_images()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_repository_not_found_exception()) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(classify("DescribeImages", e)),
            };
            for image in page.image_details() {
                let Some(digest) = image.image_digest() else {
                    continue;
                };
                images.push(crate::retention::Image {
                    digest: digest.to_string(),
                    tags: image.image_tags().to_vec(),
                });
            }
        }
        Ok(Some(images))
    }

    /// Every tag of a repository with the digest it points at; a missing repository is empty, and
    /// its address is the registry's all the same.
    pub async fn list(&self, repository: &str) -> Result<RepoState, RegistryError> {
        let address = self.repository(repository).await?;
        let images = self.scan(repository).await?;
        let exists = images.is_some();
        let tags = images
            .into_iter()
            .flatten()
            .flat_map(|i| i.tags.into_iter().map(move |t| (t, Some(i.digest.clone()))))
            .collect();
        Ok(RepoState {
            address,
            exists,
            tags,
        })
    }

    /// Every image of a repository (untagged ones too) and the repository's address.
    pub async fn images(
        &self,
        repository: &str,
    ) -> Result<(String, Vec<crate::retention::Image>), RegistryError> {
        let address = self.repository(repository).await?;
        let images = self.scan(repository).await?;
        Ok((address.to_string(), images.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_decode_to_user_and_password() {
        assert_eq!(
            super::decode_token("QVdTOnNlY3JldDpwYXJ0"),
            Some(("AWS".into(), "secret:part".into()))
        );
        assert_eq!(super::decode_token("not base64!"), None);
    }
}
