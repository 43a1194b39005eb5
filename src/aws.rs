//! What ECR and ECS share: the SDK's configuration (standard credential chain and region, endpoint
//! overrides, adaptive retries, deadlines on every call) and what its errors mean to a user.

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use miette::Diagnostic;
use thiserror::Error;

/// Attempts per call, with the SDK's adaptive retry mode: its default of 3 gives up on a short
/// burst of throttling (ECS answers bursts of RegisterTaskDefinition or DescribeServices that way).
pub const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Error, Diagnostic)]
pub enum AwsError {
    #[error("no AWS credentials or region: {why}")]
    #[diagnostic(
        code(shipit::aws::setup),
        help(
            "configure the AWS SDK's standard chain: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or OIDC \
             (aws-actions/configure-aws-credentials), and AWS_REGION"
        )
    )]
    Setup { why: String },

    #[error("AWS refused the credentials for {service}: {why}")]
    #[diagnostic(
        code(shipit::aws::auth),
        help("check the AWS credentials and that their policy allows {service}:{what}")
    )]
    Auth {
        service: String,
        what: String,
        why: String,
    },

    #[error("cannot reach {service}: {why}")]
    #[diagnostic(
        code(shipit::aws::unreachable),
        help("check AWS_REGION, the network, and AWS_ENDPOINT_URL if you set one")
    )]
    Unreachable { service: String, why: String },

    #[error("{service} answered {code} to {what}: {why}")]
    #[diagnostic(code(shipit::aws::api))]
    Api {
        service: String,
        what: String,
        code: String,
        why: String,
    },
}

impl AwsError {
    /// True when the user can fix this (credentials, region, endpoint): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, AwsError::Api { .. })
    }
}

/// Loads the SDK's configuration: the standard chain for credentials and region, the standard
/// endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_ECS`,
/// `AWS_ENDPOINT_URL_CLOUDWATCH`).
pub async fn sdk_config() -> Result<aws_config::SdkConfig, AwsError> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            aws_config::retry::RetryConfig::adaptive()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_max_backoff(std::time::Duration::from_secs(4)),
        )
        .timeout_config(timeout_config())
        .load()
        .await;
    if config.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
        return Err(AwsError::Setup {
            why: "no AWS region is configured".into(),
        });
    }
    Ok(config)
}

/// Every AWS call's deadlines: the connection, each attempt (a read that never comes) and the
/// whole operation with its retries, all from `SHIPIT_HTTP_TIMEOUT` (see [`crate::net`]).
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(crate::net::connect_timeout())
        .read_timeout(crate::net::timeout())
        .operation_attempt_timeout(crate::net::timeout())
        .operation_timeout(crate::net::operation_timeout())
        .build()
}

/// Turns an SDK error into one a user can act on.
pub fn classify<E, R>(service: &str, what: &str, e: SdkError<E, R>) -> AwsError
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
            let code = se.err().code().unwrap_or("").to_string();
            let why = se.err().message().unwrap_or(&code).to_string();
            let auth = matches!(
                code.as_str(),
                "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "AccessDeniedException"
                    | "AccessDenied"
                    | "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
            );
            if auth {
                AwsError::Auth {
                    service: service.into(),
                    what: what.into(),
                    why: format!("{code}: {why}"),
                }
            } else {
                AwsError::Api {
                    service: service.into(),
                    what: what.into(),
                    code,
                    why,
                }
            }
        }
        SdkError::ConstructionFailure(_) => AwsError::Setup { why: short },
        SdkError::DispatchFailure(_) if setup => AwsError::Setup { why: short },
        SdkError::TimeoutError(_) => AwsError::Unreachable {
            service: service.into(),
            why: format!(
                "no answer to {what} within {}s ({} sets the deadline)",
                crate::net::timeout().as_secs_f64(),
                crate::env_vars::SHIPIT_HTTP_TIMEOUT
            ),
        },
        SdkError::DispatchFailure(_) => AwsError::Unreachable {
            service: service.into(),
            why: short,
        },
        _ => AwsError::Api {
            service: service.into(),
            what: what.into(),
            code: String::new(),
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
