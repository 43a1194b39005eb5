//! Amazon ECS through the AWS SDK: what the services run (for retention), and rollouts.

mod alarms;
pub mod deployment;
mod raw;
pub mod render;
pub mod rollout;

pub use raw::CreateError;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::Service;
use miette::Diagnostic;
use thiserror::Error;

use crate::aws::AwsError;

/// DescribeServices takes at most this many services a call.
const DESCRIBE_BATCH: usize = 10;

#[derive(Debug, Error, Diagnostic)]
pub enum EcsError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),

    /// A task definition or service definition file of ci.toml that cannot be read.
    #[error("cannot read the {what} {path}: {cause}")]
    #[diagnostic(
        code(shipit::ecs::file),
        help(
            "check the service's `{key}` in ci.toml (relative to its `path`) and that the file is committed"
        )
    )]
    File {
        /// `task definition` or `service definition`.
        what: &'static str,
        /// The key of ci.toml that names it.
        key: &'static str,
        path: String,
        cause: crate::limits::ReadError,
    },

    /// A service whose deployments CodeDeploy (or another controller) runs: UpdateService cannot
    /// give it a new task definition.
    #[error(
        "nothing was registered or deployed: {target} is deployed by its `{controller}` deployment controller, which shipit does not drive"
    )]
    #[diagnostic(
        code(shipit::ecs::controller),
        help(
            "shipit rolls out services whose deployment controller is ECS (rolling, or ECS's own BLUE_GREEN, LINEAR and CANARY strategies): move the service to the ECS controller with a native strategy, or deploy it through CodeDeploy outside shipit"
        )
    )]
    Controller { target: Target, controller: String },

    /// A deployment alarm of the service is in ALARM before the rollout: ECS would ignore it.
    #[error(
        "nothing was registered or deployed: the deployment alarm{} {} of {target} {} in ALARM already, and ECS ignores an alarm that fires when a deployment starts",
        if alarms.len() == 1 { "" } else { "s" },
        alarms.join(", "),
        if alarms.len() == 1 { "is" } else { "are" }
    )]
    #[diagnostic(
        code(shipit::ecs::alarm),
        help(
            "find out why the alarm fires and let it settle before rolling out; `shipit deploy --force` rolls out anyway"
        )
    )]
    AlarmFiring { target: Target, alarms: Vec<String> },
}

impl EcsError {
    /// True when the user can fix this (credentials, names, files): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        match self {
            EcsError::Aws(e) => e.is_bad_input(),
            EcsError::File { .. } | EcsError::Controller { .. } | EcsError::AlarmFiring { .. } => {
                true
            }
        }
    }
}

pub(crate) fn classify<E, R>(what: &str, e: SdkError<E, R>) -> EcsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    EcsError::Aws(crate::aws::classify("ecs", what, e))
}

/// One ECS service in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub cluster: String,
    pub service: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.cluster, self.service)
    }
}

#[derive(Clone)]
pub struct Ecs {
    pub client: aws_sdk_ecs::Client,
    /// For the alarms a service's deployments are watched by.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// What DescribeServices found: the services, and the names it reported missing.
#[derive(Debug, Default)]
pub struct Described {
    pub services: BTreeMap<Target, Service>,
    pub missing: BTreeSet<Target>,
}

impl Ecs {
    pub fn new(config: &aws_config::SdkConfig) -> Ecs {
        Ecs {
            client: aws_sdk_ecs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }

    /// Describes services, batched per cluster, ten a call. A service ECS does not know, or a
    /// cluster that does not exist, is reported missing, not an error.
    pub async fn describe(&self, targets: &[Target]) -> Result<Described, EcsError> {
        let mut by_cluster: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in targets {
            by_cluster.entry(&t.cluster).or_default().push(&t.service);
        }
        let mut out = Described::default();
        for (cluster, services) in by_cluster {
            for chunk in services.chunks(DESCRIBE_BATCH) {
                let result = self
                    .client
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .send()
                    .await;
                let described = match result {
                    Ok(d) => d,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_cluster_not_found_exception()) =>
                    {
                        out.missing.extend(chunk.iter().map(|s| Target {
                            cluster: cluster.into(),
                            service: s.to_string(),
                        }));
                        continue;
                    }
                    Err(e) => return Err(classify("DescribeServices", e)),
                };
                for failure in described.failures() {
                    if let Some(arn) = failure.arn() {
                        let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
                        out.missing.insert(Target {
                            cluster: cluster.into(),
                            service: name,
                        });
                    }
                }
                for service in described.services() {
                    let name = service.service_name().unwrap_or_default().to_string();
                    // An INACTIVE (deleted) service runs nothing.
                    if service.status() == Some("INACTIVE") {
                        out.missing.insert(Target {
                            cluster: cluster.into(),
                            service: name,
                        });
                        continue;
                    }
                    out.services.insert(
                        Target {
                            cluster: cluster.into(),
                            service: name,
                        },
                        service.clone(),
                    );
                }
            }
        }
        Ok(out)
    }

    /// Every image that the services' PRIMARY and ACTIVE deployments run, with where each runs.
    pub async fn running_images(
        &self,
        targets: &[Target],
    ) -> Result<BTreeMap<String, BTreeSet<String>>, EcsError> {
        let described = self.describe(targets).await?;
        let mut task_definitions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (target, service) in &described.services {
            let arns = service
                .deployments()
                .iter()
                .filter(|d| matches!(d.status(), Some("PRIMARY") | Some("ACTIVE")))
                .filter_map(|d| d.task_definition())
                .chain(service.task_definition());
            for arn in arns {
                task_definitions
                    .entry(arn.to_string())
                    .or_default()
                    .insert(target.to_string());
            }
        }
        let mut images: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (arn, wheres) in task_definitions {
            let td = self
                .client
                .describe_task_definition()
                .task_definition(&arn)
                .send()
                .await
                .map_err(|e| classify("DescribeTaskDefinition", e))?;
            for container in td
                .task_definition()
                .map(|t| t.container_definitions())
                .unwrap_or_default()
            {
                if let Some(image) = container.image() {
                    images
                        .entry(image.to_string())
                        .or_default()
                        .extend(wheres.iter().cloned());
                }
            }
        }
        Ok(images)
    }
}
