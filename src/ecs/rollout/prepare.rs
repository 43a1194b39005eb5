//! Before the wait: render, register and update (or create) one ECS service, or say why not
//! having changed nothing. A native deployment still under way is never started on top of.

use aws_sdk_ecs::types::Service;
use semver::Version;

use super::super::deployment::{self, Busy};
use super::super::render::{RenderError, Rendered, service_definition};
use super::super::{CreateError, Ecs, EcsError, Target, classify};
use super::{Deploy, short_td};

pub(super) enum Prepared {
    Updated {
        previous: Option<String>,
        ours: String,
        /// The service deployment it started, where ECS has them.
        deployment: Option<String>,
    },
    AlreadyRunning(String),
}

/// The version of `environment` in an image reference's tag, if it has one.
/// The version a running image is: its `ENV-X.Y.Z` tag, or, pinned to a digest, the version the
/// registry's tags give that digest (`known`).
fn running_version(
    image: &str,
    environment: &str,
    known: &std::collections::BTreeMap<String, Version>,
) -> Option<Version> {
    let image = crate::image::parse(image);
    if let Some(v) = image
        .tag
        .as_deref()
        .and_then(|t| crate::version::parse_tag(environment, t))
    {
        return Some(v);
    }
    known.get(image.digest.as_deref()?).cloned()
}

/// What a render started from: a file of the repository, or the live revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RenderedFrom {
    File(String),
    /// The task definition ARN the service runs.
    Live(String),
}

impl std::fmt::Display for RenderedFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderedFrom::File(path) => write!(f, "the task definition {path}"),
            RenderedFrom::Live(arn) => {
                write!(f, "the task definition rendered from {}", short_td(arn))
            }
        }
    }
}

/// Why one service was not rolled out, having changed nothing (or, for `Update` and `Create`,
/// nothing that ECS says went through).
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    #[error("the task definition {path}: {cause}")]
    TaskDefinitionFile { path: String, cause: RenderError },
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("the service {target} has no task definition")]
    NoTaskDefinition { target: Target },
    #[error("{cause}")]
    Describe {
        task_definition: String,
        cause: EcsError,
    },
    #[error(
        "{target} runs {running}, which is higher than {new}: refusing to go back (use `shipit deploy --force` to roll back on purpose)"
    )]
    Downgrade {
        target: Target,
        running: Version,
        new: Version,
    },
    /// A render that cannot take the new image (no such container, …).
    #[error("{cause}")]
    Render { target: Target, cause: RenderError },
    /// RegisterTaskDefinition refused a render: ECS's message, with the file (or the live
    /// revision) and the services of ci.toml.
    #[error("{cause} ({from}, service {})", services.join(", "))]
    Register {
        target: Target,
        from: RenderedFrom,
        services: Vec<String>,
        cause: EcsError,
    },
    #[error("{cause}")]
    Update {
        target: Target,
        task_definition: String,
        cause: EcsError,
    },
    #[error(
        "the service {target} does not exist (DescribeServices reports it MISSING): add `service_definition` (a CreateService request, kept in the repository) to the service in ci.toml, and shipit creates the ECS service `{}` in the cluster `{}` on its first rollout (shipit never creates clusters)",
        target.service, target.cluster
    )]
    NoServiceDefinition { target: Target },
    #[error(
        "the service {target} does not exist, and there is no task definition to create it with: set `task_definition` (a RegisterTaskDefinition request, kept in the repository) beside `service_definition`"
    )]
    NothingToCreateWith { target: Target },
    #[error("the service definition {path}: {cause}")]
    ServiceDefinitionFile { path: String, cause: RenderError },
    #[error(
        "the service definition {path} names the service `{named}`, but ci.toml rolls out `{}`: make them the same (or drop `serviceName`)",
        target.service
    )]
    ServiceNameDiffers {
        path: String,
        named: String,
        target: Target,
    },
    #[error(
        "{cause}: the cluster `{}` does not exist (shipit never creates clusters: that is the infrastructure's job)",
        target.cluster
    )]
    ClusterMissing { target: Target, cause: CreateError },
    #[error("creating {target} from {path}: {cause}")]
    Create {
        target: Target,
        path: String,
        cause: CreateError,
    },
}

/// RegisterTaskDefinition refused a render: of the file, or of the live revision `previous`.
fn register_refused(deploy: &Deploy, previous: &str, cause: EcsError) -> PrepareError {
    PrepareError::Register {
        target: deploy.target.clone(),
        from: match &deploy.file {
            Some(f) => RenderedFrom::File(f.path.clone()),
            None => RenderedFrom::Live(previous.to_string()),
        },
        services: deploy.changes.iter().map(|c| c.service.clone()).collect(),
        cause,
    }
}

impl Ecs {
    /// Renders, registers and updates (or creates) one ECS service; or says why not, having
    /// changed nothing.
    pub(super) async fn prepare(
        &self,
        deploy: &Deploy,
        service: Option<&Service>,
    ) -> Result<Prepared, PrepareError> {
        let target = &deploy.target;
        let file = match &deploy.file {
            Some(f) => Some(Rendered::from_file(&f.text).map_err(|cause| {
                PrepareError::TaskDefinitionFile {
                    path: f.path.clone(),
                    cause,
                }
            })?),
            None => None,
        };
        let Some(service) = service else {
            return self.create(deploy, file).await;
        };
        if let Some(busy) = deployment::busy(target, service) {
            return Err(busy.into());
        }
        let Some(previous) = service.task_definition().map(str::to_string) else {
            return Err(PrepareError::NoTaskDefinition {
                target: target.clone(),
            });
        };
        let render = |cause| PrepareError::Render {
            target: target.clone(),
            cause,
        };
        let live = self
            .describe_task_definition(&previous)
            .await
            .map_err(|cause| PrepareError::Describe {
                task_definition: previous.clone(),
                cause,
            })?;
        for c in &deploy.changes {
            if let (Some(new), Some(running)) = (
                &c.version,
                live.image_of(&c.container)
                    .and_then(|i| running_version(i, &deploy.environment, &c.known)),
            ) && *new < running
                && !deploy.force
            {
                return Err(PrepareError::Downgrade {
                    target: target.clone(),
                    running,
                    new: new.clone(),
                });
            }
        }
        if file.is_none() {
            for c in &deploy.changes {
                live.has_container(&c.container).map_err(render)?;
            }
            if deploy
                .changes
                .iter()
                .all(|c| live.image_of(&c.container) == Some(c.image.to_string().as_str()))
            {
                return Ok(Prepared::AlreadyRunning(previous));
            }
        }
        let mut rendered = file.unwrap_or_else(|| live.clone());
        // Containers of services not rolled out now keep what they run.
        for k in &deploy.keep {
            if let Some(image) = live.image_of(k)
                && rendered.image_of(k).is_some()
            {
                rendered = rendered.keep_image(k, image).map_err(render)?;
            }
        }
        for c in &deploy.changes {
            rendered = rendered.set_image(&c.container, &c.image).map_err(render)?;
        }
        let ours = self
            .register(&rendered)
            .await
            .map_err(|e| register_refused(deploy, &previous, e))?;
        let updated = self
            .client
            .update_service()
            .cluster(&target.cluster)
            .service(&target.service)
            .task_definition(&ours)
            .send()
            .await;
        let deployment = match updated {
            Ok(answer) => answer
                .service()
                .and_then(|s| s.current_service_deployment())
                .map(str::to_string),
            Err(e) => {
                let cause = classify("UpdateService", e);
                // An answer lost on the way (a timeout) may hide an update that went through: look
                // before calling it not started. When ECS does not say either, the update is
                // watched (and rolled back) as if it had gone through.
                if self.runs(target, &ours).await == Some(false) {
                    return Err(PrepareError::Update {
                        target: target.clone(),
                        task_definition: ours,
                        cause,
                    });
                }
                None
            }
        };
        Ok(Prepared::Updated {
            previous: Some(previous),
            ours,
            deployment,
        })
    }

    /// True when the service exists and its task definition is `ours`; `None` when ECS did not
    /// say.
    async fn runs(&self, target: &Target, ours: &str) -> Option<bool> {
        let described = self.describe(std::slice::from_ref(target)).await.ok()?;
        Some(
            described
                .services
                .get(target)
                .is_some_and(|s| s.task_definition() == Some(ours)),
        )
    }

    /// The first rollout of a service that does not exist yet: from its files, or an error that
    /// names the key to add.
    async fn create(
        &self,
        deploy: &Deploy,
        file: Option<Rendered>,
    ) -> Result<Prepared, PrepareError> {
        let target = &deploy.target;
        let Some(definition) = &deploy.service_definition else {
            return Err(PrepareError::NoServiceDefinition {
                target: target.clone(),
            });
        };
        let Some(mut rendered) = file else {
            return Err(PrepareError::NothingToCreateWith {
                target: target.clone(),
            });
        };
        let body = service_definition(&definition.text).map_err(|cause| {
            PrepareError::ServiceDefinitionFile {
                path: definition.path.clone(),
                cause,
            }
        })?;
        if let Some(name) = body.get("serviceName").and_then(|v| v.as_str())
            && name != target.service
        {
            return Err(PrepareError::ServiceNameDiffers {
                path: definition.path.clone(),
                named: name.to_string(),
                target: target.clone(),
            });
        }
        for c in &deploy.changes {
            rendered = rendered
                .set_image(&c.container, &c.image)
                .map_err(|cause| PrepareError::Render {
                    target: target.clone(),
                    cause,
                })?;
        }
        let ours = self
            .register(&rendered)
            .await
            .map_err(|e| register_refused(deploy, "", e))?;
        let created = self
            .create_service(&target.cluster, &target.service, &body, &ours)
            .await;
        let deployment = match created {
            Ok(d) => d,
            Err(_) if self.runs(target, &ours).await != Some(false) => None,
            Err(cause @ CreateError::ClusterMissing { .. }) => {
                return Err(PrepareError::ClusterMissing {
                    target: target.clone(),
                    cause,
                });
            }
            Err(cause) => {
                return Err(PrepareError::Create {
                    target: target.clone(),
                    path: definition.path.clone(),
                    cause,
                });
            }
        };
        Ok(Prepared::Updated {
            previous: None,
            ours,
            deployment,
        })
    }
}
