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
