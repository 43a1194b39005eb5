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
    #[error("no AWS credentials or region: {cause}")]
    #[diagnostic(
        code(shipit::aws::setup),
        help(
            "configure the AWS SDK's standard chain: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or OIDC \
             (aws-actions/configure-aws-credentials), and AWS_REGION"
        )
    )]
    Setup { cause: SetupCause },

    #[error("AWS refused the credentials for {service}: {code}: {message}")]
    #[diagnostic(
        code(shipit::aws::auth),
        help("check the AWS credentials and that their policy allows {service}:{what}")
    )]
    Auth {
        service: String,
        what: String,
        code: String,
        /// AWS's words.
        message: String,
    },

    #[error("cannot reach {service}: {cause}")]
    #[diagnostic(
        code(shipit::aws::unreachable),
        help("check AWS_REGION, the network, and AWS_ENDPOINT_URL if you set one")
    )]
    Unreachable {
        service: String,
        cause: UnreachableCause,
    },

    #[error("{service} answered {code} to {what}: {message}")]
    #[diagnostic(code(shipit::aws::api))]
    Api {
        service: String,
        what: String,
        code: String,
        /// AWS's words (or the SDK's account of an answer it could not read).
        message: String,
    },
}

/// Why the SDK has no credentials or region.
#[derive(Debug, Error)]
pub enum SetupCause {
    #[error("no AWS region is configured")]
    NoRegion,
    #[error("{0}")]
    Sdk(SdkCause),
}

/// Why an AWS service did not answer.
#[derive(Debug, Error)]
pub enum UnreachableCause {
    #[error(
        "no answer to {what} within {}s ({} sets the deadline)",
        within.as_secs_f64(),
        crate::env_vars::SHIPIT_HTTP_TIMEOUT
    )]
    Deadline {
        what: String,
        within: std::time::Duration,
    },
    #[error("{0}")]
    Sdk(SdkCause),
}

/// An error of the SDK, kept whole, shown by its innermost cause: the SDK's outer layers say only
/// "dispatch failure".
#[derive(Debug)]
pub struct SdkCause(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SdkCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&innermost(&*self.0))
    }
}

impl std::error::Error for SdkCause {}

impl SdkCause {
    /// What the SDK error wraps (its innermost cause is the SDK error's).
    fn of<E, R>(e: SdkError<E, R>) -> SdkCause
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        SdkCause(
            e.into_source()
                .unwrap_or_else(|e| DisplayErrorContext(&e).to_string().into()),
        )
    }
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
            cause: SetupCause::NoRegion,
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
    let setup =
        lower.contains("credential") || lower.contains("identity") || lower.contains("region");
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("").to_string();
            let message = se.err().message().unwrap_or(&code).to_string();
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
                    code,
                    message,
                }
            } else {
                AwsError::Api {
                    service: service.into(),
                    what: what.into(),
                    code,
                    message,
                }
            }
        }
        SdkError::ConstructionFailure(_) => AwsError::Setup {
            cause: SetupCause::Sdk(SdkCause::of(e)),
        },
        SdkError::DispatchFailure(_) if setup => AwsError::Setup {
            cause: SetupCause::Sdk(SdkCause::of(e)),
        },
        SdkError::TimeoutError(_) => AwsError::Unreachable {
            service: service.into(),
            cause: UnreachableCause::Deadline {
                what: what.into(),
                within: crate::net::timeout(),
            },
        },
        SdkError::DispatchFailure(_) => AwsError::Unreachable {
            service: service.into(),
            cause: UnreachableCause::Sdk(SdkCause::of(e)),
        },
        _ => AwsError::Api {
            service: service.into(),
            what: what.into(),
            code: String::new(),
            message: text,
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
