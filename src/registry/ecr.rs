//! Amazon ECR through the AWS SDK: credentials and region from the SDK's standard chain, endpoint
//! overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_ECR`) honoured by the SDK itself.

use std::collections::BTreeMap;

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{RegistryError, RepoState};

/// Attempts per call, with the SDK's adaptive retry mode: its default of 3 gives up on a short
/// burst of throttling.
pub const MAX_ATTEMPTS: u32 = 8;

pub struct Ecr {
    pub client: aws_sdk_ecr::Client,
}

/// Loads the AWS SDK's configuration once, shared by ECR and ECS.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            aws_config::retry::RetryConfig::adaptive()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_max_backoff(std::time::Duration::from_secs(4)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// Turns an SDK error into the registry error a user can act on.
pub fn classify<E, R>(registry: &str, what: &str, e: SdkError<E, R>) -> RegistryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let text = DisplayErrorContext(&e).to_string();
    let lower = text.to_ascii_lowercase();
    let short = innermost(&e);
    let setup =
        lower.contains("credential") || lower.contains("identity") || lower.contains("region");
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or(code).to_string();
            if matches!(
                code,
                "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "AccessDeniedException"
                    | "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
            ) {
                RegistryError::Auth {
                    registry: registry.into(),
                    why: format!("{code}: {message}"),
                    help:
                        "check the AWS credentials and that they may call ECR (ecr:DescribeImages, \
                           ecr:GetAuthorizationToken, …)"
                            .into(),
                }
            } else {
                RegistryError::Protocol {
                    registry: registry.into(),
                    what: format!("{code} to {what}"),
                    why: message,
                }
            }
        }
        SdkError::ConstructionFailure(_) => RegistryError::AwsSetup { why: short },
        SdkError::DispatchFailure(_) if setup => RegistryError::AwsSetup { why: short },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => RegistryError::Unreachable {
            registry: registry.into(),
            why: short,
        },
        _ => RegistryError::Protocol {
            registry: registry.into(),
            what: what.into(),
            why: text,
        },
    }
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

/// The innermost cause of an error: the SDK's outer layers say only "dispatch failure".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
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
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| classify("ECR", "GetAuthorizationToken", e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| RegistryError::Protocol {
                registry: "ECR".into(),
                what: "GetAuthorizationToken".into(),
                why: "no authorization data".into(),
            })?;
        let (username, password) = decode_token(data.authorization_token().unwrap_or(""))
            .ok_or_else(|| RegistryError::Protocol {
                registry: "ECR".into(),
                what: "GetAuthorizationToken".into(),
                why: "the token is not base64 `user:password`".into(),
            })?;
        let endpoint = data.proxy_endpoint().unwrap_or("");
        let host = endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Ok(super::PushTarget {
            reference: format!("{host}/{repository}"),
            credentials: Some(bollard::auth::DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(endpoint.to_string()),
                ..Default::default()
            }),
        })
    }

    async fn ensure_repository(
        &self,
        repository: &str,
        project: &crate::config::Project,
    ) -> Result<(), RegistryError> {
        use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
        let mutability = if project.immutable_tags {
            ImageTagMutability::Immutable
        } else {
            ImageTagMutability::Mutable
        };
        let created = self
            .client
            .create_repository()
            .repository_name(repository)
            .image_tag_mutability(mutability)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(project.scan_on_push)
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("ECR", "CreateRepository", e)),
        }
    }

    pub async fn digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        use aws_sdk_ecr::types::ImageIdentifier;
        let out = self
            .client
            .batch_get_image()
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
            Err(e) => Err(classify("ECR", "BatchGetImage", e)),
        }
    }

    /// `BatchGetImage` by digest, then `PutImage` of the same manifest under the new tag.
    pub async fn retag(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
        moves: bool,
    ) -> Result<(), RegistryError> {
        use aws_sdk_ecr::types::ImageIdentifier;
        if let Some(existing) = self.digest(repository, tag).await? {
            if existing == digest {
                return Ok(());
            }
            if !moves {
                return Err(RegistryError::TagExists {
                    reference: format!("{repository}:{tag}"),
                    existing,
                    wanted: digest.to_string(),
                });
            }
        }
        let out = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .accepted_media_types("application/vnd.oci.image.manifest.v1+json")
            .accepted_media_types("application/vnd.oci.image.index.v1+json")
            .accepted_media_types("application/vnd.docker.distribution.manifest.v2+json")
            .accepted_media_types("application/vnd.docker.distribution.manifest.list.v2+json")
            .send()
            .await
            .map_err(|e| classify("ECR", "BatchGetImage", e))?;
        let image = out
            .images()
            .first()
            .ok_or_else(|| RegistryError::Protocol {
                registry: "ECR".into(),
                what: "BatchGetImage".into(),
                why: format!("{repository}@{digest} is not in the registry"),
            })?;
        let manifest = image.image_manifest().unwrap_or_default();
        let mut put = self
            .client
            .put_image()
            .repository_name(repository)
            .image_manifest(manifest)
            .image_tag(tag);
        if let Some(media_type) = image.image_manifest_media_type() {
            put = put.image_manifest_media_type(media_type);
        }
        match put.send().await {
            Ok(_) => Ok(()),
            // The same manifest under the same tag: already done (a rerun).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("ECR", "PutImage", e)),
        }
    }

    pub async fn connect() -> Result<Ecr, RegistryError> {
        let config = sdk_config().await;
        if config.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
            return Err(RegistryError::AwsSetup {
                why: "no AWS region is configured".into(),
            });
        }
        Ok(Ecr {
            client: aws_sdk_ecr::Client::new(&config),
        })
    }

    /// Every image of a repository, with all its tags and its digest (full pagination).
    pub async fn list(&self, repository: &str) -> Result<RepoState, RegistryError> {
        let mut state = RepoState {
            address: repository.to_string(),
            exists: true,
            tags: BTreeMap::new(),
        };
        match self
            .client
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(uri) = out.repositories().first().and_then(|r| r.repository_uri()) {
                    state.address = uri.to_string();
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                state.exists = false;
                return Ok(state);
            }
            Err(e) => return Err(classify("ECR", "DescribeRepositories", e)),
        }
        let mut pages = self
            .client
            .describe_images()
            .repository_name(repository)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ECR", "DescribeImages", e))?;
            for image in page.image_details() {
                let Some(digest) = image.image_digest() else {
                    continue;
                };
                for tag in image.image_tags() {
                    state.tags.insert(tag.clone(), Some(digest.to_string()));
                }
            }
        }
        Ok(state)
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
